/* Tests of the lazy graph layer (graph.h) on the real runtime: random
 * DAGs of small kernels computed with and without fusion, on threads and
 * in worker processes, checked against a plain evaluation here; culling
 * and fusion counts; a failure deep in a fused chain names its node;
 * persisted results reused as inputs; DOT and SVG output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/graph.h"

#include "testutil.h"

#define P 1000003

static int64_t in_i64(const wg_call *c, size_t i)
{
    const weft_value *v = wg_in(c, i);
    if (v->type == WEFT_T_ARRAY) /* a one-element i64 array */
        return ((const int64_t *)v->u.arr.data)[0];
    return v->u.i64;
}

/* t_add: the sum of the inputs plus the i64 in params, mod P, as a
 * one-element array (so outputs own buffers). */
static weft_err t_add(wg_call *c)
{
    size_t pl;
    const int64_t *k = wg_params(c, &pl);
    int64_t s = pl == 8 ? *k : 0;
    for (size_t i = 0; i < wg_nin(c); i++)
        s = (s + in_i64(c, i)) % P;
    int64_t shape[1] = {1};
    void *d;
    weft_err e = wg_out_alloc(c, WEFT_T_ARRAY, WEFT_DT_I64, 1, shape, 8, &d);
    if (!e)
        memcpy(d, &s, 8);
    return e;
}
WG_KERNEL(t_add)

/* t_mul: the product of the inputs, mod P, as an i64 scalar. */
static weft_err t_mul(wg_call *c)
{
    int64_t s = 1;
    for (size_t i = 0; i < wg_nin(c); i++)
        s = s * (in_i64(c, i) % P) % P;
    weft_value v = weft_i64(s);
    return wg_out(c, &v);
}
WG_KERNEL(t_mul)

/* t_fail: fails when its input is 13, else passes it on. */
static weft_err t_fail(wg_call *c)
{
    if (in_i64(c, 0) == 13)
        return wg_fail(c, "input was 13");
    weft_value v = weft_i64(in_i64(c, 0));
    return wg_out(c, &v);
}
WG_KERNEL(t_fail)

typedef struct spec {
    int kind; /* 0 add, 1 mul */
    int nin;
    int from[3]; /* node index, or -1 - literal index */
    int64_t lit[3];
    int64_t param;
    bool fusible;
} spec;

static int64_t get_result(weft_runtime *rt, weft_ref r)
{
    weft_value v;
    OK(weft_get(rt, r, &v, 30000));
    int64_t x =
        v.type == WEFT_T_ARRAY ? ((const int64_t *)v.u.arr.data)[0] : v.u.i64;
    weft_release(rt, r);
    return x;
}

static void random_dags(weft_runtime *rt, uint64_t seed, int rounds)
{
    uint64_t rng = seed;
    for (int round = 0; round < rounds; round++) {
        int n = 1 + (int)xorshift_below(&rng, 60);
        spec *s = calloc((size_t)n, sizeof *s);
        int64_t *val = calloc((size_t)n, sizeof *val);
        wg_graph *g = wg_new(rt);
        for (int i = 0; i < n; i++) {
            s[i].kind = (int)xorshift_below(&rng, 2);
            s[i].nin = 1 + (int)xorshift_below(&rng, 3);
            s[i].param = (int64_t)xorshift_below(&rng, 100);
            s[i].fusible = xorshift_below(&rng, 4) != 0;
            wg_input in[3];
            int64_t acc = s[i].kind == 0 ? s[i].param : 1;
            for (int k = 0; k < s[i].nin; k++) {
                if (i > 0 && xorshift_below(&rng, 4) != 0) {
                    /* mostly the node just before: chains to fuse */
                    int from = xorshift_below(&rng, 2)
                                   ? i - 1
                                   : (int)xorshift_below(&rng, (uint64_t)i);
                    s[i].from[k] = from;
                    in[k] = wg_node_in((wg_node)from);
                } else {
                    s[i].from[k] = -1;
                    s[i].lit[k] = (int64_t)xorshift_below(&rng, 1000);
                    in[k] = wg_value_in(weft_i64(s[i].lit[k]));
                }
                int64_t x = s[i].from[k] >= 0 ? val[s[i].from[k]] : s[i].lit[k];
                acc = s[i].kind == 0 ? (acc + x) % P : acc * (x % P) % P;
            }
            val[i] = acc;
            char key[32];
            snprintf(key, sizeof key, "%s-%d", s[i].kind ? "mul" : "add", i);
            wg_node id =
                wg_add(g, s[i].kind ? "t_mul" : "t_add",
                       s[i].kind ? NULL : &s[i].param, s[i].kind ? 0 : 8, in,
                       (size_t)s[i].nin, key, s[i].fusible);
            assert_int_equal(id, (wg_node)i);
            if (xorshift_below(&rng, 4) == 0)
                wg_set_inline(g, id); /* copied into its consumers */
        }
        /* ask for 1..3 nodes; count what they need */
        int nout = 1 + (int)xorshift_below(&rng, 3);
        wg_node outs[3];
        bool *need = calloc((size_t)n, 1);
        for (int k = 0; k < nout; k++) {
            outs[k] = (wg_node)xorshift_below(&rng, (uint64_t)n);
            need[outs[k]] = true;
        }
        size_t needed = 0;
        for (int i = n - 1; i >= 0; i--) {
            if (!need[i])
                continue;
            needed++;
            for (int k = 0; k < s[i].nin; k++)
                if (s[i].from[k] >= 0)
                    need[s[i].from[k]] = true;
        }
        for (int fuse = 0; fuse < 4; fuse++) {
            /* 0 no fusion, 1 fusion, 2 waiting with progress, 3 after
             * persisting some nodes */
            if (fuse == 3) {
                wg_node keep[4];
                size_t nk = 1 + xorshift_below(&rng, 4);
                for (size_t k = 0; k < nk; k++)
                    keep[k] = (wg_node)xorshift_below(&rng, (uint64_t)n);
                OK(wg_persist(g, keep, nk, NULL, NULL));
                for (size_t k = 0; k < nk; k++)
                    assert_true(wg_persisted(g, keep[k]));
            }
            wg_opts o = {.no_fusion = fuse == 0, .progress = fuse == 2};
            weft_ref refs[3];
            wg_stats st;
            OK(wg_compute(g, outs, (size_t)nout, refs, &o, &st));
            assert_int_equal(st.nodes, (size_t)n);
            if (fuse == 3) { /* nothing above a persisted node is needed */
                memset(need, 0, (size_t)n);
                for (int k = 0; k < nout; k++)
                    need[outs[k]] = true;
                needed = 0;
                size_t kept = 0;
                for (int i = n - 1; i >= 0; i--) {
                    if (!need[i])
                        continue;
                    needed++;
                    if (wg_persisted(g, (wg_node)i)) {
                        kept++;
                        continue;
                    }
                    for (int k = 0; k < s[i].nin; k++)
                        if (s[i].from[k] >= 0)
                            need[s[i].from[k]] = true;
                }
                assert_int_equal(st.persisted, kept);
            }
            assert_int_equal(st.needed, needed);
            if (fuse == 0)
                assert_int_equal(st.tasks, needed);
            else if (fuse < 3)
                assert_true(st.tasks >= 1 && st.tasks <= needed);
            for (int k = 0; k < nout; k++)
                assert_int_equal(get_result(rt, refs[k]), val[outs[k]]);
        }
        wg_free(g);
        free(need);
        free(s);
        free(val);
    }
}

/* A graph past 2 MiB in each of its arrays (nodes, inputs, the pool of
 * params and keys), which then live in mappings of their own that grow
 * with mremap: every param, key and input survives the moves. 50,000
 * leaves, 50 sums of 1,000 of them, and their sum. */
static void test_large_graph(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    wg_graph *g = wg_new(rt);
    enum { LEAVES = 50000, GROUP = 1000 };
    int64_t *param = malloc(LEAVES * sizeof *param);
    wg_input *in = malloc(GROUP * sizeof *in);
    wg_node mids[LEAVES / GROUP];
    int64_t total = 0;
    for (int m = 0; m < LEAVES / GROUP; m++) {
        int64_t sum = 0;
        for (int k = 0; k < GROUP; k++) {
            int i = m * GROUP + k;
            param[i] = (int64_t)i * 7919 % P;
            int64_t lit = i % 1000;
            wg_input li = wg_value_in(weft_i64(lit));
            char key[96];
            snprintf(key, sizeof key,
                     "leaf %d of a graph large enough to need its own mapping",
                     i);
            wg_node id = wg_add(g, "t_add", &param[i], 8, &li, 1, key, true);
            assert_int_equal(id, (wg_node)(m * (GROUP + 1) + k));
            in[k] = wg_node_in(id);
            sum = (sum + param[i] + lit) % P;
        }
        mids[m] = wg_add(g, "t_add", NULL, 0, in, GROUP, "mid", true);
        assert_int_not_equal(mids[m], UINT32_MAX);
        total = (total + sum) % P;
    }
    wg_input top[LEAVES / GROUP];
    for (int m = 0; m < LEAVES / GROUP; m++)
        top[m] = wg_node_in(mids[m]);
    wg_node root =
        wg_add(g, "t_add", NULL, 0, top, LEAVES / GROUP, "top", true);
    weft_ref r;
    wg_stats st;
    OK(wg_compute(g, &root, 1, &r, NULL, &st));
    assert_int_equal(st.nodes, LEAVES + LEAVES / GROUP + 1);
    assert_int_equal(get_result(rt, r), total);
    FILE *f = tmpfile();
    assert_non_null(f);
    OK(wg_write_dot(g, &root, 1, true, f));
    rewind(f);
    char line[512];
    bool last = false;
    while (fgets(line, sizeof line, f))
        last |= strstr(line, "leaf 49999 of a graph large enough") != NULL;
    fclose(f);
    assert_true(last);
    wg_free(g);

    /* a chain of 50 nodes with 100 literal inputs each: fused whole it
     * would be a task of 5,000 arguments; it runs as several */
    g = wg_new(rt);
    wg_node prev = UINT32_MAX;
    int64_t want = 0;
    for (int i = 0; i < 50; i++) {
        int nl = 0;
        if (prev != UINT32_MAX)
            in[nl++] = wg_node_in(prev);
        for (int k = 0; k < 100; k++, nl++) {
            in[nl] = wg_value_in(weft_i64(i * 100 + k));
            want = (want + i * 100 + k) % P;
        }
        prev = wg_add(g, "t_add", NULL, 0, in, (size_t)nl, "link", true);
    }
    OK(wg_compute(g, &prev, 1, &r, NULL, &st));
    assert_true(st.tasks >= 2 && st.tasks < 50);
    assert_int_equal(get_result(rt, r), want);
    wg_free(g);
    free(param);
    free(in);
    weft_shutdown(rt);
}

static void test_random_dags_threads(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    random_dags(rt, 0x9ab, scaled(200));
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

static void test_random_dags_processes(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    weft_runtime *rt = start_runtime_opts(&o);
    random_dags(rt, 0x51, scaled(20));
    weft_shutdown(rt);
}

static void test_fusion_failure_persist_and_dot(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    wg_graph *g = wg_new(rt);
    /* a chain: 10 -> +1 -> +1 -> fail if 13 -> +0 ; 5 fusible nodes */
    wg_input in = wg_value_in(weft_i64(10));
    int64_t one = 1, zero = 0;
    wg_node a = wg_add(g, "t_add", &one, 8, &in, 1, "add-0", true);
    in = wg_node_in(a);
    wg_node b = wg_add(g, "t_add", &one, 8, &in, 1, "add-1", true);
    in = wg_node_in(b);
    wg_node c = wg_add(g, "t_add", &one, 8, &in, 1, "add-2", true);
    in = wg_node_in(c);
    wg_node d = wg_add(g, "t_fail", NULL, 0, &in, 1, "bad-3", true);
    in = wg_node_in(d);
    wg_node e = wg_add(g, "t_add", &zero, 8, &in, 1, "add-4", true);
    wg_stats st;
    weft_ref r;
    OK(wg_compute(g, &e, 1, &r, NULL, &st));
    assert_int_equal(st.tasks, 1); /* the whole chain is one task */
    weft_value v;
    weft_err err = weft_get(rt, r, &v, 30000);
    assert_int_equal(err, WEFT_ETASK);
    const char *why = weft_error_message(rt, r);
    assert_non_null(why);
    assert_non_null(strstr(why, "t_fail ('bad-3'): input was 13"));
    weft_release(rt, r);

    /* DOT: one box fused, five boxes and four edges without fusion */
    char path[] = "/tmp/weft_dot_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w+");
    OK(wg_write_dot(g, &e, 1, false, f));
    OK(wg_write_dot(g, &e, 1, true, f));
    rewind(f);
    char line[256];
    int boxes = 0, edges = 0, graphs = 0;
    while (fgets(line, sizeof line, f)) {
        graphs += strncmp(line, "digraph", 7) == 0;
        boxes += strstr(line, "[label=") != NULL;
        edges += strstr(line, "->") != NULL;
    }
    fclose(f);
    unlink(path);
    assert_int_equal(graphs, 2);
    assert_int_equal(boxes, 1 + 5);
    assert_int_equal(edges, 4);
    if (system("command -v dot >/dev/null 2>&1") == 0) {
        char svg[] = "/tmp/weft_svg_XXXXXX";
        close(mkstemp(svg));
        OK(wg_write_svg(g, &e, 1, false, svg));
        f = fopen(svg, "r");
        size_t got = fread(line, 1, sizeof line - 1, f);
        line[got] = '\0';
        fclose(f);
        unlink(svg);
        assert_non_null(strstr(line, "<svg") ? strstr(line, "<svg")
                                             : strstr(line, "<?xml"));
    } else {
        fprintf(stderr, "graph_test: no Graphviz dot; SVG not checked\n");
    }
    wg_free(g);

    /* persist: compute b, then use its ref in a new graph */
    g = wg_new(rt);
    in = wg_value_in(weft_i64(40));
    a = wg_add(g, "t_add", &one, 8, &in, 1, "a", true);
    weft_ref kept;
    OK(wg_compute(g, &a, 1, &kept, NULL, NULL));
    wg_free(g);
    g = wg_new(rt);
    wg_input two[2] = {wg_ref_in(kept), wg_value_in(weft_i64(2))};
    wg_node m = wg_add(g, "t_mul", NULL, 0, two, 2, "m", true);
    weft_release(rt, kept); /* the graph holds its own handle */
    OK(wg_compute(g, &m, 1, &r, NULL, NULL));
    assert_int_equal(get_result(rt, r), 82);
    wg_free(g);

    /* bad additions are refused with a reason */
    g = wg_new(rt);
    in = wg_node_in(7);
    assert_int_equal(wg_add(g, "t_add", NULL, 0, &in, 1, "x", true),
                     UINT32_MAX);
    assert_non_null(strstr(wg_error(g), "not added yet"));
    wg_free(g);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* An inline node runs inside each of its consumers' tasks; persisted
 * nodes cut the graph above them and show in DOT as objects. */
static void test_inline_and_persist(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    wg_graph *g = wg_new(rt);
    int64_t k = 5;
    wg_input in = wg_value_in(weft_i64(1));
    wg_node src = wg_add(g, "t_add", &k, 8, &in, 1, "src", true); /* 6 */
    wg_set_inline(g, src);
    wg_node outs[3];
    for (int i = 0; i < 3; i++) {
        int64_t p = i;
        in = wg_node_in(src);
        outs[i] = wg_add(g, "t_add", &p, 8, &in, 1, "use", false);
    }
    weft_ref refs[3];
    wg_stats st;
    OK(wg_compute(g, outs, 3, refs, NULL, &st));
    assert_int_equal(st.tasks, 3);
    assert_int_equal(st.inlined, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get_result(rt, refs[i]), 6 + i);
    /* asked for itself, an inline node is a task of its own */
    OK(wg_compute(g, &src, 1, refs, NULL, &st));
    assert_int_equal(st.tasks, 1);
    assert_int_equal(st.inlined, 0);
    assert_int_equal(get_result(rt, refs[0]), 6);

    /* persist the consumers; a sum of them runs alone */
    OK(wg_persist(g, outs, 3, NULL, &st));
    wg_input three[3] = {wg_node_in(outs[0]), wg_node_in(outs[1]),
                         wg_node_in(outs[2])};
    wg_node sum = wg_add(g, "t_add", NULL, 0, three, 3, "sum", true);
    OK(wg_compute(g, &sum, 1, refs, NULL, &st));
    assert_int_equal(st.tasks, 1);
    assert_int_equal(st.persisted, 3);
    assert_int_equal(st.needed, 4); /* src culled */
    assert_int_equal(st.inlined, 0);
    assert_int_equal(get_result(rt, refs[0]), 6 + 7 + 8);
    /* a persisted node asked for again is its object, no task */
    OK(wg_compute(g, &outs[1], 1, refs, NULL, &st));
    assert_int_equal(st.tasks, 0);
    assert_int_equal(get_result(rt, refs[0]), 7);

    char path[] = "/tmp/weft_dot_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w+");
    OK(wg_write_dot(g, &sum, 1, false, f));
    rewind(f);
    char line[256];
    int objects = 0, edges = 0;
    while (fgets(line, sizeof line, f)) {
        objects += strstr(line, "(persisted)") != NULL;
        edges += strstr(line, "-> t") != NULL;
    }
    fclose(f);
    unlink(path);
    assert_int_equal(objects, 3);
    assert_int_equal(edges, 3);
    wg_free(g);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_graph),
        cmocka_unit_test(test_random_dags_threads),
        cmocka_unit_test(test_random_dags_processes),
        cmocka_unit_test(test_fusion_failure_persist_and_dot),
        cmocka_unit_test(test_inline_and_persist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
