/* Stateful actors: one PatientRecord per patient, updated in parallel
 * (seed: Ray's PatientRecord actor class). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

typedef struct patient {
    int64_t id;
    char *status; /* owned */
} patient;

/* PatientRecord(patient_id, initial_status). Arguments are only valid
 * during the call, so the status string is copied into the state. */
static weft_err patient_init(weft_task *t)
{
    int64_t id = weft_arg_i64(t, 0);
    const char *status = weft_arg_str(t, 1);
    if (!status)
        return WEFT_ETYPE; /* the runtime names the bad argument */

    patient *p = malloc(sizeof *p);
    if (!p || !(p->status = strdup(status))) {
        free(p);
        return weft_fail(t, "out of memory");
    }
    p->id = id;
    weft_actor_set_state(t, p);
    return 0;
}

static void patient_destroy(void *state)
{
    patient *p = state;
    free(p->status);
    free(p);
}

static weft_err update_health_status(weft_task *t)
{
    patient *p = weft_actor_state(t);
    char *status = strdup(weft_arg_str(t, 0));
    if (!status)
        return weft_fail(t, "out of memory");
    free(p->status);
    p->status = status;
    return weft_return_str(t, p->status);
}

static weft_err get_health_status(weft_task *t)
{
    patient *p = weft_actor_state(t);
    return weft_return_str(t, p->status);
}

static const weft_method patient_methods[] = {
    {"update_health_status", update_health_status, "s"},
    {"get_health_status", get_health_status, ""},
};
WEFT_REGISTER_ACTOR(PatientRecord, patient_init, patient_destroy,
                    patient_methods);

int main(void)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));

    /* Five actors; the first is also registered under a name. */
    enum { N = 5 };
    weft_actor patients[N];
    for (int i = 0; i < N; i++) {
        weft_actor_opts opts;
        weft_actor_opts_init(&opts);
        opts.name = i == 0 ? "patient-1" : NULL;
        WEFT_CHECK(weft_actor_create(
            rt, "PatientRecord", WEFT_ARGS(weft_i64(i + 1), weft_str("Stable")),
            &opts, &patients[i]));
    }

    /* Each actor runs its own calls in order; different actors in parallel. */
    const char *new_statuses[N] = {"Critical", "Serious", "Stable", "Improved",
                                   "Critical"};
    weft_ref refs[N];
    for (int i = 0; i < N; i++)
        WEFT_CHECK(weft_actor_call(rt, patients[i], "update_health_status",
                                   WEFT_ARGS(weft_str(new_statuses[i])), NULL,
                                   &refs[i]));

    weft_value statuses[N];
    WEFT_CHECK(weft_get_many(rt, refs, N, statuses, WEFT_FOREVER));
    for (int i = 0; i < N; i++)
        printf("Patient %d: Health Status - %s\n", i + 1,
               (const char *)statuses[i].u.buf.data);
    weft_release_many(rt, refs, N);

    /* A named actor can be found from anywhere in the program. */
    weft_actor found;
    WEFT_CHECK(weft_actor_lookup(rt, "patient-1", &found));
    weft_ref ref;
    const char *status;
    WEFT_CHECK(weft_actor_call(rt, found, "get_health_status", WEFT_NOARGS,
                               NULL, &ref));
    WEFT_CHECK(weft_get_str(rt, ref, &status, WEFT_FOREVER));
    printf("Named actor patient-1: Health Status - %s\n", status);
    weft_release(rt, ref);

    for (int i = 0; i < N; i++)
        WEFT_CHECK(weft_actor_kill(rt, patients[i]));
    weft_shutdown(rt);
    return 0;
}
