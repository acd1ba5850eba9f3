/* The weft side of bench/vs-dask: the workloads of the Dask peer suite
 * (/work/shared/peers/dask/bench_tasks.py) plus a tree reduction, on the
 * embedded runtime's thread executor.
 *
 *   vs_dask_weft [TINY [CHAIN [TREE_LEAVES [MAP [REPS]]]]]
 *
 *   tiny:  TINY `inc` tasks (x+1 for x in 0..TINY-1), results summed here
 *          (Dask: 100k delayed(lambda x: x+1) + delayed(sum), threaded)
 *   chain: CHAIN dependent `inc` tasks (Dask: 5000-task chain, threaded)
 *   tree:  TREE_LEAVES `inc` leaves reduced by a binary tree of `add`
 *   map:   the tiny workload with MAP tasks, on the thread executor and
 *          on the worker-process executor (Dask: client.map(inc, 20000)
 *          + gather on a 2-worker LocalCluster)
 * Defaults: 100000 5000 65536 20000 5 (the median of REPS runs is printed).
 * With no arguments it runs the defaults, as scripts/run-bench does. Times
 * go from the first submit to the last result; the runtime is started
 * before (Dask's thread pool and cluster also exist before the timing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_INC_ADD /* the inc and add tasks */
#include "bench.h"

static long arg_or(int argc, char **argv, int i, long dflt)
{
    if (argc <= i)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v < 1) {
        fprintf(stderr, "usage: vs_dask_weft [TINY [CHAIN [TREE_LEAVES [MAP "
                        "[REPS]]]]] (positive integers)\n");
        exit(2);
    }
    return v;
}

/* Submit n inc tasks (opts may be NULL), get and sum them. */
static double run_tiny(weft_runtime *rt, weft_ref *refs, long n,
                       const weft_task_opts *opts)
{
    double t0 = bench_now();
    bench_submit_inc(rt, refs, 0, n, opts);
    int64_t sum = bench_get_sum(rt, refs, 0, n);
    double dt = bench_now() - t0;
    bench_check_eq("vs_dask_weft", "tiny sum", sum,
                   (int64_t)n * (n - 1) / 2 + n);
    return dt;
}

static double run_chain(weft_runtime *rt, long n)
{
    double t0 = bench_now();
    weft_ref last = bench_submit_chain(rt, n, weft_i64(0), "inc");
    int64_t v;
    BENCH_CHECK(weft_get_i64(rt, last, &v, WEFT_FOREVER));
    double dt = bench_now() - t0;
    weft_release(rt, last);
    bench_check_eq("vs_dask_weft", "chain result", v, n);
    return dt;
}

static double run_tree(weft_runtime *rt, weft_ref *level, long leaves)
{
    double t0 = bench_now();
    int64_t sum = bench_tree_reduce(rt, level, leaves);
    double dt = bench_now() - t0;
    weft_release(rt, level[0]);
    bench_check_eq("vs_dask_weft", "tree sum", sum,
                   (int64_t)leaves * (leaves + 1) / 2);
    return dt;
}

static void report(const char *name, const double *t, int reps, long ntasks)
{
    char buf[128];
    double med = bench_median(t, reps);
    snprintf(buf, sizeof buf, "vs_dask_weft.%s.time", name);
    bench_runs(buf, t, reps, 1, "s");
    bench_emit(buf, med, "s");
    snprintf(buf, sizeof buf, "vs_dask_weft.%s.rate", name);
    bench_emit(buf, ntasks / med, "tasks/s");
}

int main(int argc, char **argv)
{
    /* First thing: in a worker process this call serves tasks and never
     * returns (see "Executors" in docs/guide.md). */
    weft_runtime *rt;
    BENCH_CHECK(weft_init(&rt, NULL));
    bench_note_load("vs_dask_weft");

    long tiny = arg_or(argc, argv, 1, 100000);
    long chain = arg_or(argc, argv, 2, 5000);
    long leaves = arg_or(argc, argv, 3, 65536);
    long map = arg_or(argc, argv, 4, 20000);
    int reps = (int)arg_or(argc, argv, 5, 5);
    if (reps > 64)
        reps = 64;

    long most = tiny > leaves ? tiny : leaves;
    most = most > map ? most : map;
    weft_ref *refs = malloc((size_t)most * sizeof *refs);
    if (!refs)
        return 1;
    weft_stats st;
    weft_get_stats(rt, &st);
    bench_note("vs_dask_weft: tiny=%ld chain=%ld tree_leaves=%ld map=%ld "
               "reps=%d; thread executor, %u threads",
               tiny, chain, leaves, map, reps, st.threads);

    double t[64];
    for (int r = 0; r < reps; r++)
        t[r] = run_tiny(rt, refs, tiny, NULL);
    report("tiny_tasks", t, reps, tiny);
    for (int r = 0; r < reps; r++)
        t[r] = run_chain(rt, chain);
    report("chain", t, reps, chain);
    for (int r = 0; r < reps; r++)
        t[r] = run_tree(rt, refs, leaves);
    report("tree_reduce", t, reps, 2 * leaves - 1);
    for (int r = 0; r < reps; r++)
        t[r] = run_tiny(rt, refs, map, NULL);
    report("map_tasks", t, reps, map);

    /* The map workload on worker processes (one per core), the like of
     * Dask's 2-process LocalCluster. A warm-up starts the processes first,
     * as Dask's cluster exists (and has run a warm-up map) before its
     * timing. */
    weft_task_opts po;
    weft_task_opts_init(&po);
    po.executor = WEFT_EXEC_PROCESS;
    double w0 = bench_now();
    (void)run_tiny(rt, refs, 10, &po);
    double warm = bench_now() - w0;
    for (int r = 0; r < reps; r++)
        t[r] = run_tiny(rt, refs, map, &po);
    weft_get_stats(rt, &st);
    bench_note("map_tasks_procs: %ld inc tasks on the worker-process executor "
               "(%u processes; the first 10 tasks, which started them, took "
               "%.1f ms)",
               map, st.procs, 1e3 * warm);
    report("map_tasks_procs", t, reps, map);

    weft_shutdown(rt);
    free(refs);
    return 0;
}
