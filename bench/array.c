/* The array collection's figures, beside Dask's (bench/array_dask.py runs
 * the same workloads with dask.array):
 *
 *   array.seed002_sum_10000_s     Dask's seed example: x random 10000^2 in
 *                                 1000^2 chunks, y = (x + x.T) -
 *                                 x.mean(axis=0), y.sum() (median of 3)
 *   array.seed002_peak_rss_mib    this process's peak RSS after it (x alone
 *                                 would be 800 MB)
 *   array.matmul_4000_s           a @ b, random 4000^2 float64 persisted in
 *                                 1000^2 chunks, assembled into one buffer
 *                                 reused (wa_compute_into), as dgemm's C
 *   array.matmul_4000_new_buffer_s  the same through wa_compute: a new
 *                                 128 MB buffer each time
 *   array.dgemm_4000_1thread_s    one cblas_dgemm on the whole matrices,
 *   array.dgemm_4000_2threads_s   OpenBLAS with 1 and with 2 threads
 *   array.graph_build_optimise_ns_per_task   building y.sum() over a
 *                                 100,000-chunk x and planning it (cull,
 *                                 fuse), per task of the plan
 *
 *   build/bench/array [N CHUNK]     (default 10000 1000)
 */
#include <cblas.h>
#include <sys/resource.h>

#include <weft/array.h>

#include "bench.h"

void openblas_set_num_threads(int n);

static wa_array *seed_expr(wa_ctx *ctx, int64_t n, int64_t c)
{
    int64_t shape[2] = {n, n}, chunks[2] = {c, c};
    wa_array *x = wa_random_uniform(ctx, 42, 0.0, 1.0, 2, shape, chunks);
    wa_array *y =
        wa_sub(wa_add(x, wa_transpose(x, NULL)), wa_mean(x, 1, false));
    return wa_sum(y, 0, false);
}

static double now_compute(wa_array *a, wa_buffer *out)
{
    double t0 = bench_now();
    BENCH_CHECK(wa_compute(a, out));
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 2 ? atoll(argv[1]) : 10000;
    int64_t c = argc > 2 ? atoll(argv[2]) : 1000;
    weft_runtime *rt;
    BENCH_CHECK(weft_init(&rt, NULL));
    bench_note_load("array");

    /* the seed example: a fresh context per run (nothing cached) */
    double runs[3];
    double sum = 0;
    for (int r = 0; r < 3; r++) {
        wa_ctx *ctx = wa_ctx_new(rt);
        double t0 = bench_now();
        wa_array *s = seed_expr(ctx, n, c);
        if (!s) {
            fprintf(stderr, "array: %s\n", wa_error(ctx));
            return 1;
        }
        wa_buffer out;
        BENCH_CHECK(wa_compute(s, &out));
        runs[r] = bench_now() - t0;
        sum = ((double *)out.data)[0];
        wa_buffer_free(&out);
        wa_ctx_free(ctx);
    }
    char name[128];
    snprintf(name, sizeof name, "array.seed002_sum_%lld_s", (long long)n);
    bench_runs(name, runs, 3, 1, "s");
    bench_note("y.sum() = %.3f", sum);
    bench_emit(name, bench_median(runs, 3), "s");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    bench_emit("array.seed002_peak_rss_mib", (double)ru.ru_maxrss / 1024,
               "MiB");

    /* blocked matmul against one dgemm */
    const int64_t m = 4000;
    {
        wa_ctx *ctx = wa_ctx_new(rt);
        int64_t shape[2] = {m, m}, chunks[2] = {1000, 1000};
        wa_array *a =
            wa_persist(wa_random_uniform(ctx, 1, 0, 1, 2, shape, chunks));
        wa_array *b =
            wa_persist(wa_random_uniform(ctx, 2, 0, 1, 2, shape, chunks));
        wa_buffer ab, bb, out;
        BENCH_CHECK(wa_compute(a, &ab));
        BENCH_CHECK(wa_compute(b, &bb));
        /* into one buffer reused and already touched, as the dgemm below
         * writes its C */
        size_t bytes = (size_t)(m * m) * sizeof(double);
        double *into = malloc(bytes);
        memset(into, 0, bytes);
        for (int r = 0; r < 3; r++) {
            double t0 = bench_now();
            BENCH_CHECK(wa_compute_into(wa_matmul(a, b), into, bytes));
            runs[r] = bench_now() - t0;
        }
        bench_runs("array.matmul_4000_s", runs, 3, 1, "s");
        bench_emit("array.matmul_4000_s", bench_median(runs, 3), "s");
        free(into);
        /* wa_compute: a new 128 MB result each time */
        for (int r = 0; r < 3; r++) {
            runs[r] = now_compute(wa_matmul(a, b), &out);
            wa_buffer_free(&out);
        }
        bench_runs("array.matmul_4000_new_buffer_s", runs, 3, 1, "s");
        bench_emit("array.matmul_4000_new_buffer_s", bench_median(runs, 3),
                   "s");
        double *cm = malloc((size_t)(m * m) * sizeof *cm);
        for (int threads = 1; threads <= 2; threads++) {
            openblas_set_num_threads(threads);
            for (int r = 0; r < 3; r++) {
                double t0 = bench_now();
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m,
                            (int)m, (int)m, 1.0, ab.data, (int)m, bb.data,
                            (int)m, 0.0, cm, (int)m);
                runs[r] = bench_now() - t0;
            }
            snprintf(name, sizeof name, "array.dgemm_4000_%dthread%s_s",
                     threads, threads > 1 ? "s" : "");
            bench_runs(name, runs, 3, 1, "s");
            bench_emit(name, bench_median(runs, 3), "s");
        }
        openblas_set_num_threads(1);
        free(cm);
        wa_buffer_free(&ab);
        wa_buffer_free(&bb);
        wa_ctx_free(ctx);
    }

    /* graph building and planning for a 100,000-chunk array */
    {
        wa_ctx *ctx = wa_ctx_new(rt);
        double t0 = bench_now();
        wa_array *s = seed_expr(ctx, 316 * 100, 100); /* 316^2 chunks */
        wa_stats st;
        BENCH_CHECK(wa_get_stats(s, &st));
        double dt = bench_now() - t0;
        bench_note("100k-chunk y.sum(): %zu chunk ops, %zu graph nodes, %zu "
                   "tasks, %.3f s",
                   st.chunk_ops, st.graph_nodes, st.tasks, dt);
        bench_emit("array.graph_build_optimise_ns_per_task",
                   dt * 1e9 / (double)st.tasks, "ns");
        wa_ctx_free(ctx);
    }
    weft_shutdown(rt);
    return 0;
}
