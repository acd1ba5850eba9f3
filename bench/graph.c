/* Lazy graph benchmarks (src/graph): the cost of building and optimising
 * a graph, and of running tiny fused tasks.
 *
 *   graph.build_optimise_ns_per_node   100,000 chunks, 3 chained blockwise
 *                                      ops each (fusible) and a tree sum:
 *                                      wg_add of every node, then the plan
 *                                      (cull + fuse), timed through
 *                                      wg_write_dot to /dev/null
 *   graph.compute_tasks_per_s          the same graph computed on the
 *                                      embedded runtime (tiny i64 chunks):
 *                                      fused tasks per second
 *   graph.compute_nodes_per_s          nodes evaluated per second */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "graph/graph.h"

static weft_err g_leaf(wg_call *c)
{
    weft_value v = weft_i64(wg_in(c, 0)->u.i64);
    return wg_out(c, &v);
}
WG_KERNEL(g_leaf)

static weft_err g_inc(wg_call *c)
{
    weft_value v = weft_i64(wg_in(c, 0)->u.i64 + 1);
    return wg_out(c, &v);
}
WG_KERNEL(g_inc)

static weft_err g_sum(wg_call *c)
{
    int64_t s = 0;
    for (size_t i = 0; i < wg_nin(c); i++)
        s += wg_in(c, i)->u.i64;
    weft_value v = weft_i64(s);
    return wg_out(c, &v);
}
WG_KERNEL(g_sum)

#define CHUNKS 100000
#define FANIN 8

/* chunks x (leaf -> inc -> inc -> inc), then a FANIN-ary tree of sums. */
static wg_graph *build(weft_runtime *rt, wg_node *root)
{
    wg_graph *g = wg_new(rt);
    wg_node *level = malloc(CHUNKS * sizeof *level);
    char key[48];
    for (int i = 0; i < CHUNKS; i++) {
        wg_input in = wg_value_in(weft_i64(i));
        snprintf(key, sizeof key, "x-%d", i);
        wg_node n = wg_add(g, "g_leaf", NULL, 0, &in, 1, key, true);
        for (int k = 0; k < 3; k++) {
            in = wg_node_in(n);
            snprintf(key, sizeof key, "inc%d-%d", k, i);
            n = wg_add(g, "g_inc", NULL, 0, &in, 1, key, true);
        }
        level[i] = n;
    }
    size_t width = CHUNKS;
    while (width > 1) {
        size_t next = 0;
        for (size_t i = 0; i < width; i += FANIN) {
            wg_input in[FANIN];
            size_t m = width - i < FANIN ? width - i : FANIN;
            for (size_t k = 0; k < m; k++)
                in[k] = wg_node_in(level[i + k]);
            snprintf(key, sizeof key, "sum-%zu-%zu", width, i);
            level[next++] = wg_add(g, "g_sum", NULL, 0, in, m, key, false);
        }
        width = next;
    }
    *root = level[0];
    free(level);
    return g;
}

int main(void)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));
    double best = 1e9;
    size_t nn = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        wg_node root;
        wg_graph *g = build(rt, &root);
        FILE *null = fopen("/dev/null", "w");
        WEFT_CHECK(wg_write_dot(g, &root, 1, false, null));
        fclose(null);
        double dt = bench_now() - t0;
        wg_stats st;
        weft_ref ref;
        if (r == 4) { /* and run it once */
            double c0 = bench_now();
            WEFT_CHECK(wg_compute(g, &root, 1, &ref, NULL, &st));
            int64_t v;
            WEFT_CHECK(weft_get_i64(rt, ref, &v, WEFT_FOREVER));
            double ct = bench_now() - c0;
            weft_release(rt, ref);
            int64_t want = (int64_t)CHUNKS * (CHUNKS - 1) / 2 + 3 * CHUNKS;
            bench_note("graph: %zu nodes, %zu tasks after fusion; sum %lld "
                       "(%s)",
                       st.nodes, st.tasks, (long long)v,
                       v == want ? "right" : "WRONG");
            bench_emit("graph.compute_tasks_per_s", (double)st.tasks / ct,
                       "tasks/s");
            bench_emit("graph.compute_nodes_per_s", (double)st.nodes / ct,
                       "nodes/s");
            nn = st.nodes;
        }
        best = dt < best ? dt : best;
        wg_free(g);
    }
    bench_note("graph: build + plan (cull, fuse, write DOT to /dev/null) of "
               "%zu nodes, best of 5",
               nn);
    bench_emit("graph.build_optimise_ns_per_node", best * 1e9 / (double)nn,
               "ns");
    weft_shutdown(rt);
    return 0;
}
