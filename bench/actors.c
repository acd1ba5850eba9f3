/* Actor benchmarks on the embedded runtime (thread actors):
 *   one actor: 1,000,000 calls of a trivial `add` method, submitted in a
 *   row, then (a) only the last result gotten, (b) every result gotten;
 *   many actors: 64 actors, 1,000,000 calls spread round-robin, all gotten;
 *   round trip: one call at a time (call, get, release).
 * Target: >= 1,000,000 calls/s. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

#define REPS 5
#define NCALLS 1000000
#define NACTORS 64

typedef struct counter {
    int64_t total;
} counter;

static weft_err counter_init(weft_task *t)
{
    counter *c = calloc(1, sizeof *c);
    if (!c)
        return weft_fail(t, "out of memory");
    weft_actor_set_state(t, c);
    return 0;
}

static void counter_destroy(void *state)
{
    free(state);
}

/* add(x): total += x; returns the new total. */
static weft_err counter_add(weft_task *t)
{
    counter *c = weft_actor_state(t);
    c->total += weft_arg_i64(t, 0);
    return weft_return_i64(t, c->total);
}

static const weft_method counter_methods[] = {
    {"add", counter_add, "i"},
};
WEFT_REGISTER_ACTOR(Counter, counter_init, counter_destroy, counter_methods);

/* One fresh actor per repetition, so every run starts from total 0. */
static void bench_one_actor(weft_runtime *rt, weft_ref *refs)
{
    const int64_t want = (int64_t)NCALLS * (NCALLS - 1) / 2;
    double last[REPS], all[REPS], sub[REPS];
    for (int r = 0; r < REPS; r++) {
        weft_actor a;
        BENCH_CHECK(weft_actor_create(rt, "Counter", WEFT_NOARGS, NULL, &a));

        /* (a) submit all, get the last. */
        double t0 = bench_now();
        for (int i = 0; i < NCALLS; i++)
            BENCH_CHECK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(i)),
                                        NULL, &refs[i]));
        double t1 = bench_now();
        int64_t v;
        BENCH_CHECK(weft_get_i64(rt, refs[NCALLS - 1], &v, WEFT_FOREVER));
        last[r] = bench_now() - t0;
        sub[r] = t1 - t0;
        bench_check_eq("actors", "one actor, last result", v, want);
        weft_release_many(rt, refs, NCALLS); /* untimed */

        /* (b) submit all, get and release every result. */
        t0 = bench_now();
        for (int i = 0; i < NCALLS; i++)
            BENCH_CHECK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(i)),
                                        NULL, &refs[i]));
        int64_t prev = want;
        for (int i = 0; i < NCALLS; i++) {
            BENCH_CHECK(weft_get_i64(rt, refs[i], &v, WEFT_FOREVER));
            bench_check_eq("actors", "one actor, running total", v, prev + i);
            prev = v;
            weft_release(rt, refs[i]);
        }
        all[r] = bench_now() - t0;
        BENCH_CHECK(weft_actor_kill(rt, a));
    }
    bench_note("one actor, %d calls of add(i): submit all, then get the last "
               "(release untimed) / get+release all; median of %d",
               NCALLS, REPS);
    bench_runs("actors.one.get_last", last, REPS, 1, "s");
    bench_runs("actors.one.get_all", all, REPS, 1, "s");
    bench_emit("actors.one.calls_per_s_get_last",
               NCALLS / bench_median(last, REPS), "calls/s");
    bench_emit("actors.one.calls_per_s_get_all",
               NCALLS / bench_median(all, REPS), "calls/s");
    bench_emit("actors.one.call_submit_rate", NCALLS / bench_median(sub, REPS),
               "calls/s");
}

static void bench_many_actors(weft_runtime *rt, weft_ref *refs)
{
    double all[REPS];
    for (int r = 0; r < REPS; r++) {
        weft_actor a[NACTORS];
        for (int k = 0; k < NACTORS; k++)
            BENCH_CHECK(
                weft_actor_create(rt, "Counter", WEFT_NOARGS, NULL, &a[k]));
        double t0 = bench_now();
        for (int i = 0; i < NCALLS; i++)
            BENCH_CHECK(weft_actor_call(rt, a[i % NACTORS], "add",
                                        WEFT_ARGS(weft_i64(i)), NULL,
                                        &refs[i]));
        int64_t sum_last = 0;
        for (int i = 0; i < NCALLS; i++) {
            int64_t v;
            BENCH_CHECK(weft_get_i64(rt, refs[i], &v, WEFT_FOREVER));
            if (i >= NCALLS - NACTORS)
                sum_last += v; /* each actor's final total */
            weft_release(rt, refs[i]);
        }
        all[r] = bench_now() - t0;
        bench_check_eq("actors", "many actors, sum of totals", sum_last,
                       (int64_t)NCALLS * (NCALLS - 1) / 2);
        for (int k = 0; k < NACTORS; k++)
            BENCH_CHECK(weft_actor_kill(rt, a[k]));
    }
    bench_note("%d actors, %d calls round-robin: submit all, get+release all; "
               "median of %d",
               NACTORS, NCALLS, REPS);
    bench_runs("actors.many.get_all", all, REPS, 1, "s");
    bench_emit("actors.many.calls_per_s", NCALLS / bench_median(all, REPS),
               "calls/s");
}

static void bench_roundtrip(weft_runtime *rt)
{
    enum { N = 20000 };
    weft_actor a;
    BENCH_CHECK(weft_actor_create(rt, "Counter", WEFT_NOARGS, NULL, &a));
    double lat[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        for (int i = 0; i < N; i++) {
            weft_ref x;
            int64_t v;
            BENCH_CHECK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(1)),
                                        NULL, &x));
            BENCH_CHECK(weft_get_i64(rt, x, &v, WEFT_FOREVER));
            weft_release(rt, x);
        }
        lat[r] = (bench_now() - t0) / N;
    }
    BENCH_CHECK(weft_actor_kill(rt, a));
    bench_note("one actor, %d x (call, get, release) one at a time", N);
    bench_emit("actors.roundtrip_latency", 1e6 * bench_median(lat, REPS), "us");
}

int main(void)
{
    weft_runtime *rt;
    BENCH_CHECK(weft_init(&rt, NULL));
    bench_note_load("actors");
    weft_stats st;
    weft_get_stats(rt, &st);
    bench_note("actors: embedded runtime, default options: %u worker threads, "
               "%ld cpus online; target >= 1000000 calls/s",
               st.threads, sysconf(_SC_NPROCESSORS_ONLN));
    weft_ref *refs = malloc(NCALLS * sizeof *refs);
    if (!refs)
        return 1;
    bench_one_actor(rt, refs);
    bench_many_actors(rt, refs);
    bench_roundtrip(rt);
    free(refs);
    weft_get_stats(rt, &st);
    bench_note("actor calls counted by the runtime: %llu",
               (unsigned long long)st.actor_calls);
    weft_shutdown(rt);
    return 0;
}
