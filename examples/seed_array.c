/* Dask's array example (seed 002) with weft arrays:
 *
 *     x = da.random.random((10000, 10000), chunks=(1000, 1000))
 *     y = (x + x.T) - x.mean(axis=0)
 *     y.sum().compute()
 *
 * and the task graph written to SVG (when Graphviz's dot is installed).
 *
 *     seed_array [N CHUNK [GRAPH.svg]]    (default 2000 500, the SVG beside
 *                                          the program)
 *
 * x is never stored: each task recomputes the random chunks it reads, and
 * the sum's per-chunk step runs in the task that makes the y chunk. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/array.h>
#include <weft/weft.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 2 ? atoll(argv[1]) : 2000;
    int64_t c = argc > 2 ? atoll(argv[2]) : 500;
    if (n <= 0 || c <= 0) {
        fprintf(stderr, "usage: %s [N CHUNK [GRAPH.svg]]\n", argv[0]);
        return 2;
    }
    char svg[4096];
    if (argc > 3) {
        snprintf(svg, sizeof svg, "%s", argv[3]);
    } else {
        char self[4096];
        snprintf(self, sizeof self, "%s", argv[0]);
        snprintf(svg, sizeof svg, "%s/seed_array.svg", dirname(self));
    }

    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));
    wa_ctx *ctx = wa_ctx_new(rt);

    double t0 = now();
    int64_t shape[2] = {n, n}, chunks[2] = {c, c};
    wa_array *x = wa_random_uniform(ctx, 42, 0.0, 1.0, 2, shape, chunks);
    wa_array *y =
        wa_sub(wa_add(x, wa_transpose(x, NULL)), wa_mean(x, 1u << 0, false));
    wa_array *total = wa_sum(y, 0, false);
    if (!total) {
        fprintf(stderr, "seed_array: %s\n", wa_error(ctx));
        return 1;
    }
    wa_stats st;
    WEFT_CHECK(wa_get_stats(total, &st));

    wa_buffer out;
    weft_err e = wa_compute(total, &out);
    double t1 = now();
    if (e) {
        fprintf(stderr, "seed_array: %s\n", wa_error(ctx));
        return 1;
    }
    double sum = ((const double *)out.data)[0];
    wa_buffer_free(&out);
    /* E[y] = E[x] + E[x.T] - E[mean] = 0.5 per element */
    double expect = 0.5 * (double)n * (double)n;
    printf("seed_array: x random %lldx%lld in %lldx%lld chunks\n", (long long)n,
           (long long)n, (long long)c, (long long)c);
    printf("  y = (x + x.T) - x.mean(axis=0); y.sum() = %.6f "
           "(expected about %.0f)\n",
           sum, expect);
    printf("  %.3f s; %zu chunk operations -> %zu graph nodes -> %zu tasks\n",
           t1 - t0, st.chunk_ops, st.graph_nodes, st.tasks);

    e = wa_visualize(total, svg);
    if (e == 0)
        printf("  task graph: %s\n", svg);
    else
        printf("  no task graph: %s\n", wa_error(ctx));

    wa_ctx_free(ctx);
    weft_shutdown(rt);
    double rel = (sum - expect) / expect;
    return rel > -0.01 && rel < 0.01 ? 0 : 1;
}
