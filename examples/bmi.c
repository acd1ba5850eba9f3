/* Two BMI calculations submitted in parallel (seed: Ray's calculate_bmi). */
#include <stdio.h>

#include <weft/weft.h>

static weft_err calculate_bmi(weft_task *t)
{
    double weight_kg = weft_arg_f64(t, 0);
    double height_m = weft_arg_f64(t, 1);
    return weft_return_f64(t, weight_kg / (height_m * height_m));
}
WEFT_REGISTER_SIG(calculate_bmi, "ff");

int main(void)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));

    /* Both submits return at once; the tasks run in parallel. */
    weft_ref result1, result2;
    WEFT_CHECK(weft_submit(rt, "calculate_bmi",
                           WEFT_ARGS(weft_f64(70), weft_f64(1.75)), NULL,
                           &result1));
    WEFT_CHECK(weft_submit(rt, "calculate_bmi",
                           WEFT_ARGS(weft_f64(90), weft_f64(1.80)), NULL,
                           &result2));

    double bmi1, bmi2;
    WEFT_CHECK(weft_get_f64(rt, result1, &bmi1, WEFT_FOREVER));
    WEFT_CHECK(weft_get_f64(rt, result2, &bmi2, WEFT_FOREVER));
    printf("Patient 1 BMI: %.2f\n", bmi1);
    printf("Patient 2 BMI: %.2f\n", bmi2);

    weft_release(rt, result1);
    weft_release(rt, result2);
    weft_shutdown(rt);
    return 0;
}
