/* Five 2-second tasks that finish in about 2 seconds: each asks for 0.4 of
 * a cpu, so all five run at once even on two cores (seed: Ray's square). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include <weft/weft.h>

static weft_err square(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    nanosleep(&(struct timespec){.tv_sec = 2}, NULL);
    return weft_return_i64(t, x * x);
}
WEFT_REGISTER_SIG(square, "i");

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));

    weft_task_opts opts;
    weft_task_opts_init(&opts);
    opts.cpus = 0.4;

    double start = now();
    weft_ref futures[5];
    for (int i = 0; i < 5; i++)
        WEFT_CHECK(weft_submit(rt, "square", WEFT_ARGS(weft_i64(i)), &opts,
                               &futures[i]));

    weft_value results[5];
    WEFT_CHECK(weft_get_many(rt, futures, 5, results, WEFT_FOREVER));
    double end = now();

    printf("Results: [");
    for (int i = 0; i < 5; i++)
        printf("%s%lld", i ? ", " : "", (long long)results[i].u.i64);
    printf("]\n");
    printf("Total time taken %.2f secs\n", end - start);

    weft_release_many(rt, futures, 5);
    weft_shutdown(rt);
    return 0;
}
