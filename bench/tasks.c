/* Task benchmarks on the embedded runtime (thread executor unless said):
 *   (f) memory per pending task (run first, on a fresh process heap)
 *   (a) tiny tasks: 1,000,000 `inc` submitted then gotten; batches of 10,000
 *       pipelined; one-at-a-time round trip
 *   (b) a chain of 100,000 dependent tasks
 *   (c) a 2-column x 1,000-step stencil of ~2 us tasks: parallel efficiency
 *   (d) tree reduction of 2^16 leaves
 *   (g) nested: 1,000 tasks that each submit and get 100 children
 *   (h) tiny tasks on the worker-process executor (100,000)
 *   (e) runtime init + shutdown
 * Every runtime uses the defaults (one thread and one worker process per
 * core; processes start with the first process task). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_INC_ADD /* the inc and add tasks */
#include "bench.h"

#define REPS 5

/* ------------------------------------------------------------ task bodies */

/* Waits on a weft_create'd object (bytes): returns its first byte. */
static weft_err first_byte(weft_task *t)
{
    size_t n;
    const unsigned char *p = weft_arg_bytes(t, 0, &n);
    return weft_return_i64(t, p && n ? p[0] : -1);
}
WEFT_REGISTER_SIG(first_byte, "y");

/* Pure arithmetic, a dependent chain the compiler cannot shorten. */
static double spin(int64_t iters, double x)
{
    for (int64_t i = 0; i < iters; i++)
        x = x * 0.999999 + 0.5;
    return x;
}

/* A number argument, or 1.0 for the bytes of a gate object. */
static double num_arg(weft_task *t, size_t i)
{
    weft_type ty = weft_arg_type(t, i);
    return ty == WEFT_T_F64 || ty == WEFT_T_I64 ? weft_arg_f64(t, i) : 1.0;
}

/* stencil(left, right, iters): ~2 us of arithmetic on the mean of the two
 * inputs of the previous step (step 0: numbers or a gate object). */
static weft_err stencil(weft_task *t)
{
    double a = num_arg(t, 0), b = num_arg(t, 1);
    return weft_return_f64(t, spin(weft_arg_i64(t, 2), (a + b) * 0.5));
}
WEFT_REGISTER_SIG(stencil, "**i");

/* parent(n): submit n inc children, get and sum them. */
static weft_err parent(weft_task *t)
{
    int64_t n = weft_arg_i64(t, 0);
    weft_runtime *rt = weft_task_runtime(t);
    weft_ref kids[128];
    if (n > 128)
        return weft_fail(t, "at most 128 children");
    for (int64_t i = 0; i < n; i++) {
        weft_err e =
            weft_submit(rt, "inc", WEFT_ARGS(weft_i64(i)), NULL, &kids[i]);
        if (e) {
            weft_release_many(rt, kids, (size_t)i);
            return e;
        }
    }
    int64_t sum = 0;
    weft_err first = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        weft_err e = weft_get_i64(rt, kids[i], &v, WEFT_FOREVER);
        if (e && !first)
            first = e;
        sum += v;
        weft_release(rt, kids[i]);
    }
    return first ? first : weft_return_i64(t, sum);
}
WEFT_REGISTER_SIG(parent, "i");

/* ------------------------------------------------ (f) memory per pending */

static void bench_pending_memory(void)
{
    enum { N = 1000000 };
    weft_ref *refs = malloc(N * sizeof *refs);
    if (!refs)
        exit(1);
    memset(refs, 0, N * sizeof *refs); /* touched before the baseline */
    weft_runtime *rt;
    BENCH_CHECK(weft_init(&rt, NULL));
    void *data;
    weft_ref gate;
    BENCH_CHECK(weft_create(rt, 8, &data, &gate));

    uint64_t rss0 = bench_rss();
    double t0 = bench_now();
    for (int i = 0; i < N; i++)
        BENCH_CHECK(weft_submit(rt, "first_byte", WEFT_ARGS(weft_refv(gate)),
                                NULL, &refs[i]));
    double t1 = bench_now();
    uint64_t rss1 = bench_rss();
    weft_stats st;
    weft_get_stats(rt, &st);
    if (st.tasks_finished != 0) {
        fprintf(stderr, "tasks: pending tasks ran before the seal\n");
        exit(1);
    }

    memset(data, 42, 8);
    double t2 = bench_now();
    BENCH_CHECK(weft_seal(rt, gate));
    int64_t sum = bench_get_sum(rt, refs, 0, N);
    double t3 = bench_now();
    bench_check_eq("tasks", "pending tasks' sum", sum, (int64_t)N * 42);
    uint64_t rss2 = bench_rss();
    weft_release(rt, gate);
    weft_shutdown(rt);
    free(refs);

    bench_note("(f) %d tasks pending on one unsealed weft_create'd object; "
               "VmRSS %.1f -> %.1f MiB (after the drain: %.1f MiB)",
               N, rss0 / 1048576.0, rss1 / 1048576.0, rss2 / 1048576.0);
    bench_emit("tasks.memory.pending_task_bytes", (double)(rss1 - rss0) / N,
               "bytes/task");
    bench_emit("tasks.memory.pending_submit_rate", N / (t1 - t0), "tasks/s");
    bench_emit("tasks.memory.drain_after_seal_rate", N / (t3 - t2), "tasks/s");
}

/* ------------------------------------------------------ (a) tiny tasks */

static void bench_tiny(weft_runtime *rt)
{
    enum { N = 1000000, BATCH = 10000, NRT = 20000 };
    weft_ref *refs = malloc(N * sizeof *refs);
    if (!refs)
        exit(1);
    int64_t want = (int64_t)N * (N + 1) / 2;

    /* Submit all, then get (and release) all. */
    double total[REPS], sub[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        bench_submit_inc(rt, refs, 0, N, NULL);
        double t1 = bench_now();
        int64_t sum = bench_get_sum(rt, refs, 0, N);
        double t2 = bench_now();
        bench_check_eq("tasks", "tiny sum", sum, want);
        total[r] = t2 - t0;
        sub[r] = t1 - t0;
    }
    bench_note("(a) %d x inc: submit all, then get+release all; median of %d",
               N, REPS);
    bench_runs("tasks.thread.tiny", total, REPS, 1, "s");
    bench_emit("tasks.thread.tiny_throughput", N / bench_median(total, REPS),
               "tasks/s");
    bench_emit("tasks.thread.tiny_submit_rate", N / bench_median(sub, REPS),
               "tasks/s");

    /* Pipelined: submit batch k, then get batch k-1, so the workers run one
     * batch while this thread submits the next. */
    double piped[REPS];
    for (int r = 0; r < REPS; r++) {
        int64_t sum = 0;
        double t0 = bench_now();
        for (int b = 0; b <= N / BATCH; b++) {
            if (b < N / BATCH)
                bench_submit_inc(rt, refs, b * BATCH, (b + 1) * BATCH, NULL);
            if (b > 0)
                sum += bench_get_sum(rt, refs, (b - 1) * BATCH, b * BATCH);
        }
        piped[r] = bench_now() - t0;
        bench_check_eq("tasks", "batched sum", sum, want);
    }
    bench_note("(a) the same in batches of %d, one batch in flight while the "
               "next is submitted",
               BATCH);
    bench_runs("tasks.thread.tiny_batched", piped, REPS, 1, "s");
    bench_emit("tasks.thread.tiny_batched_throughput",
               N / bench_median(piped, REPS), "tasks/s");

    /* One at a time: submit, get, release. */
    double rt_lat[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        for (int i = 0; i < NRT; i++) {
            weft_ref x;
            int64_t v;
            BENCH_CHECK(
                weft_submit(rt, "inc", WEFT_ARGS(weft_i64(i)), NULL, &x));
            BENCH_CHECK(weft_get_i64(rt, x, &v, WEFT_FOREVER));
            weft_release(rt, x);
        }
        rt_lat[r] = (bench_now() - t0) / NRT;
    }
    bench_note("(a) %d x (submit, get, release) one at a time", NRT);
    bench_emit("tasks.thread.roundtrip_latency",
               1e6 * bench_median(rt_lat, REPS), "us");
    free(refs);
}

/* ----------------------------------------------------------- (b) chain */

static void bench_chain(weft_runtime *rt)
{
    enum { N = 100000 };
    double total[REPS], sub[REPS], gated[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        weft_ref last = bench_submit_chain(rt, N, weft_i64(0), "inc");
        double t1 = bench_now();
        int64_t v;
        BENCH_CHECK(weft_get_i64(rt, last, &v, WEFT_FOREVER));
        double t2 = bench_now();
        weft_release(rt, last);
        bench_check_eq("tasks", "chain result", v, N);
        total[r] = t2 - t0;
        sub[r] = t1 - t0;
    }
    /* The same chain built behind an unsealed object, then released: only
     * the dependent dispatch is timed (as Dask's chain, whose graph is
     * built before the timing). */
    for (int r = 0; r < REPS; r++) {
        void *data;
        weft_ref gate;
        BENCH_CHECK(weft_create(rt, 1, &data, &gate));
        *(unsigned char *)data = 0;
        weft_ref last =
            bench_submit_chain(rt, N, weft_refv(gate), "first_byte");
        double t0 = bench_now();
        BENCH_CHECK(weft_seal(rt, gate));
        int64_t v;
        BENCH_CHECK(weft_get_i64(rt, last, &v, WEFT_FOREVER));
        gated[r] = bench_now() - t0;
        weft_release(rt, last);
        weft_release(rt, gate);
        bench_check_eq("tasks", "gated chain result", v, N - 1);
    }
    bench_note("(b) chain of %d inc tasks, each taking the previous result "
               "(weft_refv); submit all, get the last; median of %d",
               N, REPS);
    bench_runs("tasks.thread.chain", total, REPS, 1, "s");
    bench_emit("tasks.thread.chain_step", 1e6 * bench_median(total, REPS) / N,
               "us");
    bench_emit("tasks.thread.chain_submit_step",
               1e6 * bench_median(sub, REPS) / N, "us");
    bench_note("(b) the same chain submitted behind an unsealed object; timed "
               "from the seal to the last result");
    bench_runs("tasks.thread.chain_prebuilt", gated, REPS, 1, "s");
    bench_emit("tasks.thread.chain_step_prebuilt",
               1e6 * bench_median(gated, REPS) / N, "us");
}

/* --------------------------------------------------------- (c) stencil */

static volatile double sink;

/* Iterations of spin() that take target_ns, from the best of a few runs. */
static int64_t calibrate_spin(double target_ns)
{
    const int64_t probe = 2000000;
    double best = 1e9;
    for (int r = 0; r < 7; r++) {
        double t0 = bench_now();
        sink = spin(probe, 1.0 + r);
        double dt = bench_now() - t0;
        if (dt < best)
            best = dt;
    }
    double ns_per_iter = best * 1e9 / probe;
    int64_t iters = (int64_t)(target_ns / ns_per_iter + 0.5);
    bench_note("(c) calibration: spin() %.3f ns/iteration -> %lld iterations "
               "for %.0f ns",
               ns_per_iter, (long long)iters, target_ns);
    return iters < 1 ? 1 : iters;
}

/* Submit the stencil graph; step 0 takes the gate object when gate is not
 * NULL. last[] gets the two results of the last step. */
static void submit_stencil(weft_runtime *rt, int steps, int64_t iters,
                           const weft_ref *gate, weft_ref *last)
{
    weft_ref prev[2], cur[2];
    for (int c = 0; c < 2; c++) {
        weft_value a = gate ? weft_refv(*gate) : weft_f64(c);
        weft_value b = gate ? weft_refv(*gate) : weft_f64(c + 1);
        BENCH_CHECK(weft_submit(rt, "stencil", WEFT_ARGS(a, b, weft_i64(iters)),
                                NULL, &prev[c]));
    }
    for (int s = 1; s < steps; s++) {
        for (int c = 0; c < 2; c++)
            BENCH_CHECK(
                weft_submit(rt, "stencil",
                            WEFT_ARGS(weft_refv(prev[c]),
                                      weft_refv(prev[1 - c]), weft_i64(iters)),
                            NULL, &cur[c]));
        weft_release_many(rt, prev, 2);
        memcpy(prev, cur, sizeof prev);
    }
    memcpy(last, prev, sizeof prev);
}

static void bench_stencil(weft_runtime *rt)
{
    enum { STEPS = 1000, COLS = 2, NREP = 7 };
    int64_t iters = calibrate_spin(2000);

    /* The same compute alone: STEPS*COLS calls in a row on this thread. */
    double alone[NREP];
    for (int r = 0; r < NREP; r++) {
        double x = 1.0;
        double t0 = bench_now();
        for (int i = 0; i < STEPS * COLS; i++)
            x = spin(iters, x);
        alone[r] = bench_now() - t0;
        sink = x;
    }
    double compute = bench_median(alone, NREP);
    bench_emit("tasks.stencil.task_compute", 1e6 * compute / (STEPS * COLS),
               "us");

    double total[NREP], gated[NREP];
    for (int r = 0; r < NREP; r++) {
        double t0 = bench_now();
        weft_ref last[COLS];
        submit_stencil(rt, STEPS, iters, NULL, last);
        for (int c = 0; c < COLS; c++) {
            double v;
            BENCH_CHECK(weft_get_f64(rt, last[c], &v, WEFT_FOREVER));
        }
        total[r] = bench_now() - t0;
        weft_release_many(rt, last, COLS);
    }
    /* Built behind an unsealed object, timed from the seal: the scheduling
     * overhead without this thread submitting at the same time. */
    for (int r = 0; r < NREP; r++) {
        void *data;
        weft_ref gate, last[COLS];
        BENCH_CHECK(weft_create(rt, 1, &data, &gate));
        *(unsigned char *)data = 0;
        submit_stencil(rt, STEPS, iters, &gate, last);
        double t0 = bench_now();
        BENCH_CHECK(weft_seal(rt, gate));
        for (int c = 0; c < COLS; c++) {
            double v;
            BENCH_CHECK(weft_get_f64(rt, last[c], &v, WEFT_FOREVER));
        }
        gated[r] = bench_now() - t0;
        weft_release_many(rt, last, COLS);
        weft_release(rt, gate);
    }
    double measured = bench_median(total, NREP);
    double pre = bench_median(gated, NREP);
    bench_note("(c) stencil %d columns x %d steps, task (s,c) needs (s-1,c) "
               "and (s-1,other); submit all, get the last two; median of %d",
               COLS, STEPS, NREP);
    bench_runs("tasks.stencil.total", total, NREP, 1e3, "ms");
    bench_emit("tasks.stencil.total", 1e3 * measured, "ms");
    bench_emit("tasks.stencil.compute_alone", 1e3 * compute, "ms");
    bench_emit("tasks.stencil.compute_alone_split2", 1e3 * compute / 2, "ms");
    bench_emit("tasks.stencil.overhead_per_step",
               1e6 * (measured - compute / 2) / STEPS, "us");
    bench_emit("tasks.stencil.efficiency", 100 * (compute / 2) / measured, "%");
    bench_note("(c) efficiency = (compute alone / 2) / total; target >= 50%%");
    bench_note("(c) the same graph submitted behind an unsealed object; timed "
               "from the seal to the last result");
    bench_runs("tasks.stencil.total_prebuilt", gated, NREP, 1e3, "ms");
    bench_emit("tasks.stencil.total_prebuilt", 1e3 * pre, "ms");
    bench_emit("tasks.stencil.efficiency_prebuilt", 100 * (compute / 2) / pre,
               "%");
}

/* ---------------------------------------------------- (d) tree reduction */

static void bench_tree(weft_runtime *rt)
{
    enum { LEAVES = 1 << 16 };
    weft_ref *level = malloc(LEAVES * sizeof *level);
    if (!level)
        exit(1);
    double total[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        int64_t sum = bench_tree_reduce(rt, level, LEAVES);
        total[r] = bench_now() - t0;
        weft_release(rt, level[0]);
        bench_check_eq("tasks", "tree sum", sum,
                       (int64_t)LEAVES * (LEAVES + 1) / 2);
    }
    double ntasks = 2.0 * LEAVES - 1;
    bench_note("(d) tree reduction: %d inc leaves + %d adds; median of %d",
               LEAVES, LEAVES - 1, REPS);
    bench_runs("tasks.thread.tree_reduce", total, REPS, 1, "s");
    bench_emit("tasks.thread.tree_reduce_time", 1e3 * bench_median(total, REPS),
               "ms");
    bench_emit("tasks.thread.tree_reduce_throughput",
               ntasks / bench_median(total, REPS), "tasks/s");
    free(level);
}

/* ---------------------------------------------------------- (g) nested */

static void bench_nested(weft_runtime *rt)
{
    enum { PARENTS = 1000, KIDS = 100 };
    weft_ref refs[PARENTS];
    double total[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        for (int i = 0; i < PARENTS; i++)
            BENCH_CHECK(weft_submit(rt, "parent", WEFT_ARGS(weft_i64(KIDS)),
                                    NULL, &refs[i]));
        for (int i = 0; i < PARENTS; i++) {
            int64_t v;
            BENCH_CHECK(weft_get_i64(rt, refs[i], &v, WEFT_FOREVER));
            bench_check_eq("tasks", "nested sum", v,
                           (int64_t)KIDS * (KIDS + 1) / 2);
            weft_release(rt, refs[i]);
        }
        total[r] = bench_now() - t0;
    }
    weft_stats st;
    weft_get_stats(rt, &st);
    bench_note("(g) nested: %d tasks each submitting and getting %d inc "
               "children; median of %d; pool threads now %u",
               PARENTS, KIDS, REPS, st.threads);
    bench_runs("tasks.thread.nested", total, REPS, 1, "s");
    bench_emit("tasks.thread.nested_time", 1e3 * bench_median(total, REPS),
               "ms");
    bench_emit("tasks.thread.nested_throughput",
               PARENTS * (KIDS + 1.0) / bench_median(total, REPS), "tasks/s");
}

/* ------------------------------------- (h) tiny tasks, worker processes */

static void bench_tiny_procs(weft_runtime *rt)
{
    enum { N = 100000 };
    weft_ref *refs = malloc(N * sizeof *refs);
    if (!refs)
        exit(1);
    weft_task_opts po;
    weft_task_opts_init(&po);
    po.executor = WEFT_EXEC_PROCESS;
    /* Warm-up: the first process task starts the worker processes. */
    double w0 = bench_now();
    weft_ref x;
    int64_t v;
    BENCH_CHECK(weft_submit(rt, "inc", WEFT_ARGS(weft_i64(1)), &po, &x));
    BENCH_CHECK(weft_get_i64(rt, x, &v, WEFT_FOREVER));
    weft_release(rt, x);
    double warm = bench_now() - w0;
    double total[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        bench_submit_inc(rt, refs, 0, N, &po);
        int64_t sum = bench_get_sum(rt, refs, 0, N);
        total[r] = bench_now() - t0;
        bench_check_eq("tasks", "process tiny sum", sum,
                       (int64_t)N * (N + 1) / 2);
    }
    weft_stats st;
    weft_get_stats(rt, &st);
    bench_note("(h) %d x inc on the worker-process executor (%u processes; "
               "the first task, which started them, took %.1f ms); median "
               "of %d",
               N, st.procs, 1e3 * warm, REPS);
    bench_runs("tasks.process.tiny", total, REPS, 1, "s");
    bench_emit("tasks.process.tiny_throughput", N / bench_median(total, REPS),
               "tasks/s");
    free(refs);
}

/* ----------------------------------------------- (e) init and shutdown */

static void bench_init_shutdown(void)
{
    enum { N = 20 };
    double t[N];
    for (int i = 0; i < N; i++) {
        weft_runtime *rt;
        double t0 = bench_now();
        BENCH_CHECK(weft_init(&rt, NULL));
        weft_shutdown(rt);
        t[i] = bench_now() - t0;
    }
    double mx = t[0];
    for (int i = 1; i < N; i++)
        mx = t[i] > mx ? t[i] : mx;
    bench_note("(e) weft_init(NULL) + weft_shutdown, embedded; median of %d "
               "(min %.3f ms, max %.3f ms)",
               N, 1e3 * bench_min(t, N), 1e3 * mx);
    bench_emit("tasks.runtime.init_shutdown", 1e3 * bench_median(t, N), "ms");
}

int main(void)
{
    /* First thing: in a worker process (section (h)) this call serves tasks
     * and never returns; see "Executors" in docs/guide.md. */
    weft_runtime *rt;
    BENCH_CHECK(weft_init(&rt, NULL));
    bench_note_load("tasks");
    weft_stats st;
    weft_get_stats(rt, &st);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    weft_shutdown(rt);
    bench_note("tasks: embedded runtime, default options: %u worker threads, "
               "%ld cpus online",
               st.threads, ncpu);

    bench_pending_memory(); /* first: before any other run grows the heap */

    BENCH_CHECK(weft_init(&rt, NULL));
    bench_tiny(rt);
    bench_chain(rt);
    bench_stencil(rt);
    bench_tree(rt);
    bench_nested(rt);
    bench_tiny_procs(rt);
    weft_shutdown(rt);

    bench_init_shutdown();
    return 0;
}
