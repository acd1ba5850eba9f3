/* One blood pressure test per patient, all in parallel; each task returns
 * its report as a string (seed: Ray's perform_blood_pressure_test). */
#include <stdio.h>

#include <weft/weft.h>

static weft_err perform_blood_pressure_test(weft_task *t)
{
    int64_t patient_id = weft_arg_i64(t, 0);
    int64_t systolic = weft_arg_i64(t, 1);
    int64_t diastolic = weft_arg_i64(t, 2);
    const char *status = systolic + diastolic > 200 ? "High" : "Low";

    char report[160];
    snprintf(report, sizeof report,
             "{'Patient': %lld, 'Test': 'Blood Pressure', "
             "'Systolic BP': %lld, 'Diastolic BP': %lld, 'Status': '%s'}",
             (long long)patient_id, (long long)systolic, (long long)diastolic,
             status);
    return weft_return_str(t, report); /* copied into the store */
}
WEFT_REGISTER_SIG(perform_blood_pressure_test, "iii");

int main(void)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));

    static const struct {
        int id, systolic, diastolic;
    } patients[] = {
        {1, 120, 80}, {2, 140, 90}, {3, 160, 100}, {4, 180, 110}, {5, 200, 120},
    };
    enum { N = sizeof patients / sizeof patients[0] };

    weft_ref refs[N];
    for (int i = 0; i < N; i++)
        WEFT_CHECK(weft_submit(rt, "perform_blood_pressure_test",
                               WEFT_ARGS(weft_i64(patients[i].id),
                                         weft_i64(patients[i].systolic),
                                         weft_i64(patients[i].diastolic)),
                               NULL, &refs[i]));

    /* Views into the store: valid while we hold the references. */
    weft_value results[N];
    WEFT_CHECK(weft_get_many(rt, refs, N, results, WEFT_FOREVER));
    for (int i = 0; i < N; i++)
        printf("%s\n", (const char *)results[i].u.buf.data);

    weft_release_many(rt, refs, N);
    weft_shutdown(rt);
    return 0;
}
