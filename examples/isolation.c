/* Worker processes isolate crashes: tasks run in processes of this same
 * executable, one of them dies of a segfault every time it runs, and the
 * program carries on with the others and a clear error for that one. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <weft/weft.h>

/* Squares x, except that x == 3 crashes its process. */
static weft_err fragile_square(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    if (x == 3)
        raise(SIGSEGV);
    return weft_return_i64(t, x * x);
}
WEFT_REGISTER_SIG(fragile_square, "i");

int main(void)
{
    weft_options opts;
    weft_options_init(&opts);
    opts.executor = WEFT_EXEC_PROCESS; /* every task in a worker process */
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, &opts)); /* workers start here and never return */

    weft_task_opts topts;
    weft_task_opts_init(&topts);
    topts.max_retries = 1; /* one more try after a crash */
    weft_ref r[5];
    for (int i = 0; i < 5; i++)
        WEFT_CHECK(weft_submit(rt, "fragile_square", WEFT_ARGS(weft_i64(i)),
                               &topts, &r[i]));
    for (int i = 0; i < 5; i++) {
        int64_t v;
        weft_err e = weft_get_i64(rt, r[i], &v, WEFT_FOREVER);
        if (e == 0)
            printf("square(%d) = %lld\n", i, (long long)v);
        else
            printf("square(%d) failed: %s\n", i, weft_err_name(e));
        weft_release(rt, r[i]);
    }
    weft_stats st;
    weft_get_stats(rt, &st);
    printf("worker crashes: %llu, retries: %llu, program still running\n",
           (unsigned long long)st.worker_crashes,
           (unsigned long long)st.tasks_retried);
    weft_shutdown(rt);
    return 0;
}
