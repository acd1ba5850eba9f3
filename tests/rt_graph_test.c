/* Black-box test of task graphs and objects: a property test running
 * thousands of random DAGs against a sequential evaluation of the same
 * graph; nested parallelism; weft_wait; get timeouts; put/get round trips
 * for every value type; zero-copy; num_returns; reference counting.
 *
 * The random graphs use a seeded PRNG: set WEFT_TEST_SEED=<n> to replay a
 * run (the seed is printed on failure). WEFT_TEST_SCALE=sanitize runs ~10x
 * fewer graphs. Only the public API (include/weft/weft.h) is used. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "testutil.h"

#define P 1000003 /* node results are sums modulo this prime */

/* ============================================================ values
 * Every value in a random graph is encode(s, type) for some s in [0, P):
 * the task and the checker compute the same digest of any value. */

enum { VT_I64, VT_F64, VT_BOOL, VT_STR, VT_BYTES, VT_ARR, VT_COUNT };

typedef struct enc {
    weft_value v;
    int64_t shape[2];
    union {
        double f64[8];
        float f32[8];
        int64_t i64[8];
        int32_t i32[8];
        uint8_t u8[64];
    } data;
    char buf[64];
} enc;

static void encode(int64_t s, int type, enc *e)
{
    memset(e, 0, sizeof *e);
    switch (type) {
    case VT_I64:
        e->v = weft_i64(s);
        break;
    case VT_F64:
        e->v = weft_f64((double)s * 0.25);
        break;
    case VT_BOOL:
        e->v = weft_bool(s & 1);
        break;
    case VT_STR: {
        size_t n = (size_t)(s % 13);
        for (size_t k = 0; k < n; k++)
            e->buf[k] = (char)('a' + (s + (int64_t)k) % 26);
        e->buf[n] = '\0';
        e->v = weft_str(e->buf);
        break;
    }
    case VT_BYTES: {
        size_t n = (size_t)(s % 24);
        for (size_t k = 0; k < n; k++)
            e->buf[k] = (char)((s * 31 + (int64_t)k * 7) & 0xff);
        e->v = weft_bytes(n ? e->buf : NULL, n);
        break;
    }
    case VT_ARR: {
        static const weft_dtype dts[] = {WEFT_DT_F64, WEFT_DT_F32,
                                         WEFT_DT_I64, WEFT_DT_I32,
                                         WEFT_DT_U8,  WEFT_DT_BOOL};
        weft_dtype dt = dts[s % 6];
        uint32_t ndim = (uint32_t)((s / 6) % 3); /* 0 (scalar), 1 or 2 */
        size_t n = 1;
        if (ndim == 1) {
            e->shape[0] = (s / 18) % 7; /* may be 0 */
            n = (size_t)e->shape[0];
        } else if (ndim == 2) {
            e->shape[0] = 1 + (s / 18) % 2;
            e->shape[1] = (s / 36) % 5;
            n = (size_t)(e->shape[0] * e->shape[1]);
        }
        for (size_t k = 0; k < n; k++) {
            int64_t x = (s + 3 * (int64_t)k) % 251;
            switch (dt) {
            case WEFT_DT_F64:
                e->data.f64[k] = (double)x;
                break;
            case WEFT_DT_F32:
                e->data.f32[k] = (float)x;
                break;
            case WEFT_DT_I64:
                e->data.i64[k] = x - 100;
                break;
            case WEFT_DT_I32:
                e->data.i32[k] = (int32_t)(x - 100);
                break;
            case WEFT_DT_U8:
                e->data.u8[k] = (uint8_t)x;
                break;
            case WEFT_DT_BOOL:
                e->data.u8[k] = (uint8_t)(x & 1);
                break;
            }
        }
        e->v = weft_array(dt, ndim, ndim ? e->shape : NULL, &e->data);
        break;
    }
    }
}

static int64_t array_elem(const weft_value *v, size_t k)
{
    const void *d = v->u.arr.data;
    switch (v->u.arr.dtype) {
    case WEFT_DT_F64:
        return (int64_t)((const double *)d)[k];
    case WEFT_DT_F32:
        return (int64_t)((const float *)d)[k];
    case WEFT_DT_I64:
        return ((const int64_t *)d)[k];
    case WEFT_DT_I32:
        return ((const int32_t *)d)[k];
    case WEFT_DT_U8:
    case WEFT_DT_BOOL:
        return ((const uint8_t *)d)[k];
    }
    return -1000000; /* unknown dtype: make the digest wrong */
}

static int64_t mod_p(int64_t x)
{
    x %= P;
    return x < 0 ? x + P : x;
}

/* A digest in [0, P) of any value; -1 for a value that cannot occur. */
static int64_t digest(const weft_value *v)
{
    switch (v->type) {
    case WEFT_T_I64:
        return mod_p(v->u.i64);
    case WEFT_T_F64:
        return mod_p((int64_t)(v->u.f64 * 4));
    case WEFT_T_BOOL:
        return v->u.b ? 7 : 3;
    case WEFT_T_STR:
    case WEFT_T_BYTES: {
        int64_t h = (int64_t)v->u.buf.len * 131 + (v->type == WEFT_T_STR) * 17;
        const unsigned char *p = v->u.buf.data;
        if (v->u.buf.len && !p)
            return -1;
        for (size_t k = 0; k < v->u.buf.len; k++)
            h += (int64_t)(k + 1) * p[k];
        if (v->type == WEFT_T_STR && p && p[v->u.buf.len] != '\0')
            return -1; /* strings are NUL-terminated in the store */
        return mod_p(h);
    }
    case WEFT_T_ARRAY: {
        if (v->u.arr.ndim > 2)
            return -1;
        int64_t h = (int64_t)v->u.arr.dtype * 1000 + v->u.arr.ndim * 100;
        size_t n = 1;
        for (uint32_t i = 0; i < v->u.arr.ndim; i++) {
            h += v->u.arr.shape[i] * (int64_t)(i + 7);
            n *= (size_t)v->u.arr.shape[i];
        }
        if (n && !v->u.arr.data)
            return -1;
        for (size_t k = 0; k < n; k++)
            h += (int64_t)(k + 1) * array_elem(v, k);
        return mod_p(h);
    }
    default:
        return -1;
    }
}

/* Deep equality of a value read back with the one that was encoded. */
static bool value_equal(const weft_value *a, const weft_value *b, char *why,
                        size_t n)
{
    if (a->type != b->type) {
        snprintf(why, n, "type %d, want %d", (int)a->type, (int)b->type);
        return false;
    }
    switch (a->type) {
    case WEFT_T_NONE:
        return true;
    case WEFT_T_I64:
        if (a->u.i64 != b->u.i64)
            snprintf(why, n, "i64 %" PRId64 ", want %" PRId64, a->u.i64,
                     b->u.i64);
        return a->u.i64 == b->u.i64;
    case WEFT_T_F64:
        if (memcmp(&a->u.f64, &b->u.f64, sizeof(double)) != 0) {
            snprintf(why, n, "f64 %.17g, want %.17g", a->u.f64, b->u.f64);
            return false;
        }
        return true;
    case WEFT_T_BOOL:
        if (a->u.b != b->u.b)
            snprintf(why, n, "bool %d, want %d", a->u.b, b->u.b);
        return a->u.b == b->u.b;
    case WEFT_T_STR:
    case WEFT_T_BYTES:
        if (a->u.buf.len != b->u.buf.len) {
            snprintf(why, n, "len %zu, want %zu", a->u.buf.len, b->u.buf.len);
            return false;
        }
        if (a->u.buf.len &&
            memcmp(a->u.buf.data, b->u.buf.data, a->u.buf.len)) {
            snprintf(why, n, "buffer contents differ");
            return false;
        }
        if (a->type == WEFT_T_STR &&
            ((const char *)a->u.buf.data)[a->u.buf.len] != '\0') {
            snprintf(why, n, "string not NUL-terminated");
            return false;
        }
        return true;
    case WEFT_T_ARRAY: {
        if (a->u.arr.dtype != b->u.arr.dtype ||
            a->u.arr.ndim != b->u.arr.ndim) {
            snprintf(why, n, "dtype/ndim %d/%u, want %d/%u",
                     (int)a->u.arr.dtype, a->u.arr.ndim, (int)b->u.arr.dtype,
                     b->u.arr.ndim);
            return false;
        }
        size_t cnt = weft_dtype_size(a->u.arr.dtype);
        for (uint32_t i = 0; i < a->u.arr.ndim; i++) {
            if (a->u.arr.shape[i] != b->u.arr.shape[i]) {
                snprintf(why, n, "shape[%u] %" PRId64 ", want %" PRId64, i,
                         a->u.arr.shape[i], b->u.arr.shape[i]);
                return false;
            }
            cnt *= (size_t)a->u.arr.shape[i];
        }
        if (cnt && memcmp(a->u.arr.data, b->u.arr.data, cnt)) {
            snprintf(why, n, "array data differs");
            return false;
        }
        return true;
    }
    default:
        snprintf(why, n, "unexpected type %d", (int)a->type);
        return false;
    }
}

/* ======================================================= graph task
 * rt_graph_op(c, spec, x...): s = c + sum_i (i+1) * digest(x_i) mod P;
 * result j is encode(s + j*7919 mod P, type_j). spec: bits 0-1 num
 * results, 3 bits per result type from bit 2, bit 14: bytes results are
 * written in place with weft_return_alloc. */

#define SPEC_ALLOC (1 << 14)

static int64_t op_sum(int64_t c, const int64_t *dig, size_t n)
{
    int64_t s = mod_p(c);
    for (size_t i = 0; i < n; i++)
        s = (s + (int64_t)(i + 1) * dig[i]) % P;
    return s;
}

static int64_t out_s(int64_t s, int j)
{
    return (s + (int64_t)j * 7919) % P;
}

static weft_err rt_graph_op(weft_task *t)
{
    int64_t c = weft_arg_i64(t, 0);
    int64_t spec = weft_arg_i64(t, 1);
    size_t n = weft_nargs(t);
    int64_t dig[8];
    if (n < 2 || n - 2 > 8)
        return weft_fail(t, "bad nargs %zu", n);
    for (size_t i = 2; i < n; i++) {
        dig[i - 2] = digest(weft_arg(t, i));
        if (dig[i - 2] < 0)
            return weft_fail(t, "argument %zu has an impossible value", i);
    }
    int64_t s = op_sum(c, dig, n - 2);
    int nret = (int)(spec & 3);
    for (int j = 0; j < nret; j++) {
        int type = (int)((spec >> (2 + 3 * j)) & 7);
        enc e;
        encode(out_s(s, j), type, &e);
        weft_err err;
        if (type == VT_BYTES && (spec & SPEC_ALLOC)) {
            void *data = NULL;
            err = weft_return_alloc(t, (size_t)j, e.v.u.buf.len, &data);
            if (!err && e.v.u.buf.len)
                memcpy(data, e.v.u.buf.data, e.v.u.buf.len);
        } else {
            err = weft_return(t, (size_t)j, &e.v);
        }
        if (err)
            return err;
    }
    return 0;
}
WEFT_REGISTER_SIG(rt_graph_op, "ii.");

/* ==================================================== random graphs */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

#define MAX_NODES 200
#define MAX_IN 4
#define MAX_INLINE 2

typedef struct gnode {
    int kind; /* 0: weft_put source, 1: weft_create source, 2: task */
    int nout;
    int out_type[3];
    int64_t c;
    int64_t spec;
    int nargs; /* inputs, refs and inline values, in argument order */
    struct {
        int node, out; /* node >= 0: a reference to that node's result */
        int64_t s;     /* node < 0: inline encode(s, type) */
        int type;
    } arg[MAX_IN + MAX_INLINE];
    int64_t s; /* expected sum */
    weft_ref ref[3];
    int uses_left[3]; /* consumers not yet submitted */
    bool keep[3];     /* checked at the end */
    bool released[3];
    bool sealed; /* created sources */
    bool release_on_seal;
} gnode;

typedef struct graph_ctx {
    weft_runtime *rt;
    uint64_t seed; /* whole run */
    int index;     /* graph number */
    uint64_t rng;
    gnode node[MAX_NODES];
    int n;
    weft_ref deferred[MAX_NODES * 8];
    int ndeferred;
    int unsealed[MAX_NODES];
    int nunsealed;
} graph_ctx;

#define GFAIL(g, ...)                                                          \
    do {                                                                       \
        print_error("random graph failure: WEFT_TEST_SEED=%" PRIu64            \
                    " graph %d\n",                                             \
                    (g)->seed, (g)->index);                                    \
        fail_msg(__VA_ARGS__);                                                 \
    } while (0)

static void gcheck(graph_ctx *g, weft_err e, const char *what)
{
    if (e)
        GFAIL(g, "%s: %s (%s)", what, weft_err_name(e), weft_last_error());
}

static void generate(graph_ctx *g)
{
    uint64_t *r = &g->rng;
    g->n = 1 + (int)rng_below(r, MAX_NODES);
    for (int i = 0; i < g->n; i++) {
        gnode *nd = &g->node[i];
        memset(nd, 0, sizeof *nd);
        uint64_t k = rng_below(r, 100);
        if (i == 0 || k < 12) {
            nd->kind = 0;
            nd->nout = 1;
            nd->out_type[0] = (int)rng_below(r, VT_COUNT);
            nd->s = (int64_t)rng_below(r, P);
            continue;
        }
        if (k < 16) {
            nd->kind = 1;
            nd->nout = 1;
            nd->out_type[0] = VT_BYTES;
            nd->s = (int64_t)rng_below(r, P);
            continue;
        }
        nd->kind = 2;
        nd->nout = rng_below(r, 4) == 0 ? 2 + (int)rng_below(r, 2) : 1;
        nd->c = (int64_t)rng_below(r, 2 * P) - P / 2;
        nd->spec = nd->nout | (rng_below(r, 2) ? SPEC_ALLOC : 0);
        for (int j = 0; j < nd->nout; j++) {
            nd->out_type[j] = (int)rng_below(r, VT_COUNT);
            nd->spec |= (int64_t)nd->out_type[j] << (2 + 3 * j);
        }
        int nin = (int)rng_below(r, MAX_IN + 1);
        int ninl = (int)rng_below(r, 4) == 0 ? (int)rng_below(r, 3) : 0;
        nd->nargs = nin + ninl;
        /* Inputs from the recent past mostly, so chains get deep. */
        for (int a = 0; a < nd->nargs; a++) {
            bool is_ref = nin && (ninl == 0 || rng_below(r, 2));
            if (is_ref) {
                nin--;
                int lo = rng_below(r, 3) == 0 ? 0 : (i > 12 ? i - 12 : 0);
                int src = lo + (int)rng_below(r, (uint64_t)(i - lo));
                nd->arg[a].node = src;
                nd->arg[a].out = (int)rng_below(r, (uint64_t)g->node[src].nout);
            } else {
                ninl--;
                nd->arg[a].node = -1;
                nd->arg[a].s = (int64_t)rng_below(r, P);
                nd->arg[a].type = (int)rng_below(r, VT_COUNT);
            }
        }
    }
    /* Sequential evaluation, in node order (inputs come first). */
    for (int i = 0; i < g->n; i++) {
        gnode *nd = &g->node[i];
        if (nd->kind != 2)
            continue;
        int64_t dig[MAX_IN + MAX_INLINE];
        for (int a = 0; a < nd->nargs; a++) {
            enc e;
            if (nd->arg[a].node >= 0) {
                gnode *src = &g->node[nd->arg[a].node];
                int j = nd->arg[a].out;
                encode(src->kind == 2 ? out_s(src->s, j) : src->s,
                       src->out_type[j], &e);
            } else {
                encode(nd->arg[a].s, nd->arg[a].type, &e);
            }
            dig[a] = digest(&e.v);
        }
        nd->s = op_sum(nd->c, dig, (size_t)nd->nargs);
    }
    /* Who uses what, and what is checked at the end. */
    for (int i = 0; i < g->n; i++)
        for (int a = 0; a < g->node[i].nargs; a++)
            if (g->node[i].arg[a].node >= 0)
                g->node[g->node[i].arg[a].node]
                    .uses_left[g->node[i].arg[a].out]++;
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->node[i].nout; j++)
            g->node[i].keep[j] = i == g->n - 1 || rng_below(r, 100) < 25;
}

static void expected_value(const gnode *nd, int j, enc *e)
{
    encode(nd->kind == 2 ? out_s(nd->s, j) : nd->s, nd->out_type[j], e);
}

/* Drop our handle on a result now, or a little later. A created object
 * not sealed yet is dropped right after it is sealed (we need the handle
 * to seal it). */
static void drop(graph_ctx *g, gnode *nd, int j)
{
    weft_ref r = nd->ref[j];
    if (nd->kind == 1 && !nd->sealed) {
        nd->release_on_seal = true;
    } else if (rng_below(&g->rng, 2)) {
        gcheck(g, weft_release(g->rt, r), "weft_release");
    } else {
        g->deferred[g->ndeferred++] = r;
    }
}

static void maybe_release_some(graph_ctx *g)
{
    while (g->ndeferred && rng_below(&g->rng, 3) == 0) {
        int k = (int)rng_below(&g->rng, (uint64_t)g->ndeferred);
        gcheck(g, weft_release(g->rt, g->deferred[k]), "weft_release (later)");
        g->deferred[k] = g->deferred[--g->ndeferred];
    }
}

static void seal_one(graph_ctx *g, int k)
{
    gnode *nd = &g->node[g->unsealed[k]];
    gcheck(g, weft_seal(g->rt, nd->ref[0]), "weft_seal");
    nd->sealed = true;
    g->unsealed[k] = g->unsealed[--g->nunsealed];
    if (nd->release_on_seal)
        gcheck(g, weft_release(g->rt, nd->ref[0]), "weft_release (sealed)");
}

static void submit_graph(graph_ctx *g)
{
    weft_runtime *rt = g->rt;
    for (int i = 0; i < g->n; i++) {
        gnode *nd = &g->node[i];
        if (nd->kind == 0) {
            enc e;
            encode(nd->s, nd->out_type[0], &e);
            gcheck(g, weft_put(rt, &e.v, &nd->ref[0]), "weft_put");
        } else if (nd->kind == 1) {
            enc e;
            encode(nd->s, VT_BYTES, &e);
            void *data = NULL;
            gcheck(g, weft_create(rt, e.v.u.buf.len, &data, &nd->ref[0]),
                   "weft_create");
            if (!data)
                GFAIL(g, "weft_create gave a NULL data pointer");
            if (e.v.u.buf.len)
                memcpy(data, e.v.u.buf.data, e.v.u.buf.len);
            /* Seal now, or after consumers are submitted. */
            if (rng_below(&g->rng, 2)) {
                gcheck(g, weft_seal(rt, nd->ref[0]), "weft_seal");
                nd->sealed = true;
            } else {
                g->unsealed[g->nunsealed++] = i;
            }
        } else {
            weft_value args[2 + MAX_IN + MAX_INLINE];
            enc inl[MAX_IN + MAX_INLINE];
            args[0] = weft_i64(nd->c);
            args[1] = weft_i64(nd->spec);
            for (int a = 0; a < nd->nargs; a++) {
                if (nd->arg[a].node >= 0) {
                    gnode *src = &g->node[nd->arg[a].node];
                    args[2 + a] = weft_refv(src->ref[nd->arg[a].out]);
                } else {
                    encode(nd->arg[a].s, nd->arg[a].type, &inl[a]);
                    args[2 + a] = inl[a].v;
                }
            }
            weft_task_opts o;
            weft_task_opts_init(&o);
            o.num_returns = (uint32_t)nd->nout;
            gcheck(g,
                   weft_submit(rt, "rt_graph_op", args, (size_t)(2 + nd->nargs),
                               &o, nd->ref),
                   "weft_submit");
            /* Inputs whose last consumer this was are dropped right away
             * (or a little later): pending tasks keep them alive. */
            for (int a = 0; a < nd->nargs; a++) {
                if (nd->arg[a].node < 0)
                    continue;
                gnode *src = &g->node[nd->arg[a].node];
                int j = nd->arg[a].out;
                if (--src->uses_left[j] == 0 && !src->keep[j] &&
                    !src->released[j]) {
                    src->released[j] = true;
                    drop(g, src, j);
                }
            }
        }
        /* Results nobody uses and nobody checks: fire and forget. Also,
         * now and then, an extra handle taken and given back later. */
        for (int j = 0; j < nd->nout; j++) {
            if (nd->uses_left[j] == 0 && !nd->keep[j]) {
                nd->released[j] = true;
                drop(g, nd, j);
            } else if (rng_below(&g->rng, 16) == 0) {
                gcheck(g, weft_retain(rt, nd->ref[j]), "weft_retain");
                g->deferred[g->ndeferred++] = nd->ref[j];
            }
        }
        maybe_release_some(g);
        if (g->nunsealed && rng_below(&g->rng, 8) == 0)
            seal_one(g, (int)rng_below(&g->rng, (uint64_t)g->nunsealed));
    }
    while (g->nunsealed)
        seal_one(g, g->nunsealed - 1);
}

static void check_graph(graph_ctx *g)
{
    weft_runtime *rt = g->rt;
    for (int i = g->n - 1; i >= 0; i--) {
        gnode *nd = &g->node[i];
        for (int j = 0; j < nd->nout; j++) {
            if (!nd->keep[j])
                continue;
            weft_value got;
            weft_err e = weft_get(rt, nd->ref[j], &got, WEFT_FOREVER);
            if (e)
                GFAIL(g, "node %d result %d: weft_get %s: %s", i, j,
                      weft_err_name(e),
                      weft_error_message(rt, nd->ref[j])
                          ? weft_error_message(rt, nd->ref[j])
                          : weft_last_error());
            enc want;
            expected_value(nd, j, &want);
            char why[128] = "";
            if (!value_equal(&got, &want.v, why, sizeof why))
                GFAIL(g, "node %d (kind %d) result %d: %s", i, nd->kind, j,
                      why);
            gcheck(g, weft_release(rt, nd->ref[j]), "weft_release (checked)");
        }
    }
    while (g->ndeferred)
        gcheck(g, weft_release(rt, g->deferred[--g->ndeferred]),
               "weft_release (deferred)");
}

static uint64_t run_seed(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
}

static void test_random_graphs(void **state)
{
    (void)state;
    uint64_t seed = run_seed();
    int total = scaled(2000);
    static const int threads[] = {0, 1, 2, 4};
    graph_ctx *g = calloc(1, sizeof *g);
    assert_non_null(g);
    g->seed = seed;
    int gi = 0;
    for (size_t c = 0; c < sizeof threads / sizeof *threads; c++) {
        weft_runtime *rt = start_runtime(threads[c]);
        for (int k = 0; k < total / 4; k++, gi++) {
            g->rt = rt;
            g->index = gi;
            g->rng = seed ^ ((uint64_t)gi * 0x2545f4914f6cdd1dull);
            g->ndeferred = 0;
            g->nunsealed = 0;
            generate(g);
            submit_graph(g);
            check_graph(g);
        }
        /* Once every object is gone, every task has finished (fire and
         * forget ones too: they hold their results until they are done). */
        uint64_t left = objects_settled(rt);
        if (left)
            GFAIL(g,
                  "%" PRIu64 " objects alive after every handle was "
                  "released (threads=%d)",
                  left, threads[c]);
        weft_stats st;
        weft_get_stats(rt, &st);
        if (st.tasks_failed != 0 ||
            st.tasks_submitted != st.tasks_finished + st.tasks_failed)
            GFAIL(g,
                  "stats: submitted %" PRIu64 " finished %" PRIu64
                  " failed %" PRIu64,
                  st.tasks_submitted, st.tasks_finished, st.tasks_failed);
        assert_int_equal(st.store_bytes, 0);
        weft_shutdown(rt);
    }
    free(g);
}

/* ================================================= nested parallelism */

static weft_err rt_graph_fib(weft_task *t)
{
    int64_t n = weft_arg_i64(t, 0);
    if (n < 2)
        return weft_return_i64(t, n);
    weft_runtime *rt = weft_task_runtime(t);
    weft_ref r[2];
    weft_err e = weft_submit(rt, "rt_graph_fib", WEFT_ARGS(weft_i64(n - 1)),
                             NULL, &r[0]);
    if (e)
        return e;
    e = weft_submit(rt, "rt_graph_fib", WEFT_ARGS(weft_i64(n - 2)), NULL,
                    &r[1]);
    if (e) {
        weft_release(rt, r[0]);
        return e;
    }
    int64_t a = 0, b = 0;
    e = weft_get_i64(rt, r[0], &a, WEFT_FOREVER);
    if (!e)
        e = weft_get_i64(rt, r[1], &b, WEFT_FOREVER);
    weft_release_many(rt, r, 2);
    return e ? e : weft_return_i64(t, a + b);
}
WEFT_REGISTER_SIG(rt_graph_fib, "i");

/* Sum of lo..hi-1, split four ways, children gotten with get_many. */
static weft_err rt_graph_tree_sum(weft_task *t)
{
    int64_t lo = weft_arg_i64(t, 0), hi = weft_arg_i64(t, 1);
    if (hi - lo <= 64) {
        int64_t s = 0;
        for (int64_t x = lo; x < hi; x++)
            s += x;
        return weft_return_i64(t, s);
    }
    weft_runtime *rt = weft_task_runtime(t);
    weft_ref r[4];
    int64_t step = (hi - lo + 3) / 4;
    size_t n = 0;
    for (int64_t a = lo; a < hi; a += step, n++) {
        int64_t b = a + step < hi ? a + step : hi;
        weft_err e =
            weft_submit(rt, "rt_graph_tree_sum",
                        WEFT_ARGS(weft_i64(a), weft_i64(b)), NULL, &r[n]);
        if (e) {
            weft_release_many(rt, r, n);
            return e;
        }
    }
    weft_value v[4];
    weft_err e = weft_get_many(rt, r, n, v, WEFT_FOREVER);
    int64_t s = 0;
    for (size_t i = 0; !e && i < n; i++)
        s += v[i].u.i64;
    weft_release_many(rt, r, n);
    return e ? e : weft_return_i64(t, s);
}
WEFT_REGISTER_SIG(rt_graph_tree_sum, "ii");

static void test_nested_parallelism(void **state)
{
    (void)state;
    static const int threads[] = {1, 2};
    const int64_t fibs[] = {0,   1,   1,   2,    3,    5,    8,
                            13,  21,  34,  55,   89,   144,  233,
                            377, 610, 987, 1597, 2584, 4181, 6765};
    for (size_t c = 0; c < 2; c++) {
        weft_runtime *rt = start_runtime(threads[c]);
        int n = sanitize_scale() ? 17 : 20;
        weft_ref r, s;
        OK(weft_submit(rt, "rt_graph_fib", WEFT_ARGS(weft_i64(n)), NULL, &r));
        int64_t hi = sanitize_scale() ? 20000 : 200000;
        OK(weft_submit(rt, "rt_graph_tree_sum",
                       WEFT_ARGS(weft_i64(0), weft_i64(hi)), NULL, &s));
        int64_t v = 0;
        /* A deadlock shows up as a timeout rather than a hang. */
        weft_err e = weft_get_i64(rt, r, &v, 300 * 1000);
        if (e)
            fail_msg("fib(%d) on %d thread(s): %s (%s)", n, threads[c],
                     weft_err_name(e), weft_last_error());
        assert_int_equal(v, fibs[n]);
        e = weft_get_i64(rt, s, &v, 300 * 1000);
        if (e)
            fail_msg("tree sum on %d thread(s): %s", threads[c],
                     weft_err_name(e));
        assert_int_equal(v, hi * (hi - 1) / 2);
        weft_release(rt, r);
        weft_release(rt, s);
        weft_stats st;
        weft_get_stats(rt, &st);
        assert_int_equal(st.tasks_failed, 0);
        assert_int_equal(objects_settled(rt), 0);
        weft_shutdown(rt);
    }
}

/* ====================================================== weft_wait */

static weft_err rt_graph_inc(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + 1);
}
WEFT_REGISTER(rt_graph_inc);

/* A task whose argument is a weft_create'd object: it cannot run before
 * the test seals that object, so the test decides when it finishes. */
static weft_err rt_graph_len(weft_task *t)
{
    size_t len = 0;
    const void *p = weft_arg_bytes(t, 0, &len);
    if (!p)
        return WEFT_ETYPE;
    return weft_return_i64(t, (int64_t)len);
}
WEFT_REGISTER_SIG(rt_graph_len, "y");

static weft_err rt_graph_fail(weft_task *t)
{
    return weft_fail(t, "failing on purpose");
}
WEFT_REGISTER_SIG(rt_graph_fail, "");

static void test_wait_first_k(void **state)
{
    (void)state;
    enum { N = 8 };
    weft_runtime *rt = start_runtime(2);
    weft_ref gate[N], task[N];
    void *data[N];
    for (int i = 0; i < N; i++) {
        OK(weft_create(rt, (size_t)i + 1, &data[i], &gate[i]));
        memset(data[i], 'x', (size_t)i + 1);
        OK(weft_submit(rt, "rt_graph_len", WEFT_ARGS(weft_refv(gate[i])), NULL,
                       &task[i]));
    }
    bool ready[N];
    size_t nready = 99;

    /* Nothing can be ready: a 0 ms wait times out at once. */
    assert_int_equal(weft_wait(rt, task, N, 1, 0, ready, &nready),
                     WEFT_ETIMEDOUT);
    assert_int_equal(nready, 0);
    for (int i = 0; i < N; i++)
        assert_false(ready[i]);
    assert_int_equal(weft_wait(rt, gate, N, 1, 20, NULL, &nready),
                     WEFT_ETIMEDOUT);
    assert_int_equal(nready, 0);
    /* k = 0 is satisfied at once. */
    assert_int_equal(weft_wait(rt, task, N, 0, 0, NULL, &nready), 0);

    /* Open gates 5 and 2, in that order; wait for the first 1, then 2. */
    static const int order[] = {5, 2, 7, 0};
    for (int step = 0; step < 4; step++) {
        OK(weft_seal(rt, gate[order[step]]));
        size_t k = (size_t)step + 1;
        memset(ready, 0, sizeof ready);
        OK(weft_wait(rt, task, N, k, WEFT_FOREVER, ready, &nready));
        assert_true(nready >= k);
        assert_true(nready <= k); /* only opened gates can finish */
        size_t count = 0;
        for (int i = 0; i < N; i++) {
            bool opened = false;
            for (int s = 0; s <= step; s++)
                opened |= order[s] == i;
            assert_int_equal(ready[i], opened);
            assert_int_equal(weft_ready(rt, task[i]), ready[i]);
            count += ready[i];
        }
        assert_int_equal(count, nready);
        /* More than are ready: times out, reporting what is. */
        assert_int_equal(weft_wait(rt, task, N, k + 1, 0, ready, &nready),
                         WEFT_ETIMEDOUT);
        assert_int_equal(nready, k);
    }
    for (int i = 0; i < 4; i++) {
        int64_t len = 0;
        OK(weft_get_i64(rt, task[order[i]], &len, 0));
        assert_int_equal(len, order[i] + 1);
    }
    /* A failed task counts as ready. */
    weft_ref bad, mixed[2];
    OK(weft_submit(rt, "rt_graph_fail", WEFT_NOARGS, NULL, &bad));
    mixed[0] = task[1];
    mixed[1] = bad;
    OK(weft_wait(rt, mixed, 2, 1, WEFT_FOREVER, ready, &nready));
    assert_false(ready[0]);
    assert_true(ready[1]);
    assert_true(weft_ready(rt, bad));
    weft_value bv;
    assert_int_equal(weft_get(rt, bad, &bv, 0), WEFT_ETASK);
    weft_release(rt, bad);

    /* A waiter sleeping in weft_wait wakes when the rest finish. */
    for (int i = 0; i < N; i++)
        if (!weft_ready(rt, gate[i]))
            OK(weft_seal(rt, gate[i]));
    OK(weft_wait(rt, task, N, N, WEFT_FOREVER, ready, &nready));
    assert_int_equal(nready, N);
    weft_release_many(rt, gate, N);
    weft_release_many(rt, task, N);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* A thread that waits forever on an object and reports what it read. */
typedef struct waiter_arg {
    weft_runtime *rt;
    weft_ref r;
    weft_err e;
    weft_value v;
} waiter_arg;

static void *waiter_main(void *p)
{
    waiter_arg *w = p;
    w->e = weft_get(w->rt, w->r, &w->v, WEFT_FOREVER);
    return NULL;
}

static void test_get_timeout_then_seal(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    void *data = NULL;
    weft_ref r, t;
    OK(weft_create(rt, 16, &data, &r));
    OK(weft_submit(rt, "rt_graph_len", WEFT_ARGS(weft_refv(r)), NULL, &t));
    weft_value v;
    assert_false(weft_ready(rt, r));
    assert_int_equal(weft_get(rt, r, &v, 0), WEFT_ETIMEDOUT);
    assert_int_equal(weft_get(rt, r, &v, 30), WEFT_ETIMEDOUT);
    assert_int_equal(weft_get(rt, t, &v, 10), WEFT_ETIMEDOUT);
    assert_non_null(strstr(weft_last_error(), "weft_get"));
    weft_value many[2];
    weft_ref both[2] = {r, t};
    assert_int_equal(weft_get_many(rt, both, 2, many, 10), WEFT_ETIMEDOUT);
    int64_t len;
    assert_int_equal(weft_get_i64(rt, t, &len, 0), WEFT_ETIMEDOUT);
    /* Someone else waits forever meanwhile. */
    waiter_arg w = {rt, r, -1, {0}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
    memcpy(data, "sealed later....", 16);
    OK(weft_seal(rt, r));
    assert_int_equal(weft_seal(rt, r), WEFT_EINVAL); /* once only */
    pthread_join(th, NULL);
    OK(w.e);
    assert_int_equal(w.v.type, WEFT_T_BYTES);
    assert_int_equal(w.v.u.buf.len, 16);
    assert_memory_equal(w.v.u.buf.data, "sealed later....", 16);
    OK(weft_get(rt, r, &v, 0));
    assert_true(v.u.buf.data == data);
    OK(weft_get_i64(rt, t, &len, WEFT_FOREVER));
    assert_int_equal(len, 16);
    /* Sealing something weft_put made is refused. */
    weft_ref p;
    weft_value x = weft_i64(3);
    OK(weft_put(rt, &x, &p));
    assert_int_equal(weft_seal(rt, p), WEFT_EINVAL);
    weft_release(rt, p);
    weft_release(rt, r);
    weft_release(rt, t);
    weft_shutdown(rt);
}

/* ================================================== round trips */

static weft_err rt_graph_echo(weft_task *t)
{
    return weft_return(t, 0, weft_arg(t, 0));
}
WEFT_REGISTER_SIG(rt_graph_echo, "*");

static void roundtrip(weft_runtime *rt, const weft_value *v, const char *what)
{
    weft_ref r, e1, e2;
    weft_value got;
    char why[128] = "";
    OK(weft_put(rt, v, &r));
    OK(weft_get(rt, r, &got, 0));
    if (!value_equal(&got, v, why, sizeof why))
        fail_msg("%s: put/get: %s", what, why);
    /* Through a task, as an inline argument and as a reference. */
    OK(weft_submit(rt, "rt_graph_echo", v, 1, NULL, &e1));
    weft_value rv = weft_refv(r);
    OK(weft_submit(rt, "rt_graph_echo", &rv, 1, NULL, &e2));
    OK(weft_get(rt, e1, &got, WEFT_FOREVER));
    if (!value_equal(&got, v, why, sizeof why))
        fail_msg("%s: echoed inline: %s", what, why);
    OK(weft_get(rt, e2, &got, WEFT_FOREVER));
    if (!value_equal(&got, v, why, sizeof why))
        fail_msg("%s: echoed by reference: %s", what, why);
    weft_release(rt, r);
    weft_release(rt, e1);
    weft_release(rt, e2);
}

static void test_put_get_roundtrips(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    char name[64];

    weft_value none = {WEFT_T_NONE, {.i64 = 0}};
    roundtrip(rt, &none, "none");
    const int64_t ints[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1234567890123};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        weft_value v = weft_i64(ints[i]);
        roundtrip(rt, &v, "i64");
    }
    const double dbls[] = {0.0,    -0.0,     1.5,       -1e300,
                           5e-324, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof dbls / sizeof *dbls; i++) {
        weft_value v = weft_f64(dbls[i]);
        roundtrip(rt, &v, "f64");
    }
    weft_value bt = weft_bool(true), bf = weft_bool(false);
    roundtrip(rt, &bt, "bool true");
    roundtrip(rt, &bf, "bool false");
    const char *strs[] = {"", "a", "hello, world", "h\xc3\xa9llo \xe2\x9c\x93"};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        weft_value v = weft_str(strs[i]);
        roundtrip(rt, &v, "str");
    }
    /* A long string (stored in shared memory). */
    size_t biglen = 200 * 1024;
    char *bigs = malloc(biglen + 1);
    assert_non_null(bigs);
    for (size_t i = 0; i < biglen; i++)
        bigs[i] = (char)('A' + i % 26);
    bigs[biglen] = '\0';
    weft_value vs = weft_str(bigs);
    roundtrip(rt, &vs, "long str");

    weft_value b0 = weft_bytes(NULL, 0), b0p = weft_bytes("x", 0);
    roundtrip(rt, &b0, "zero-length bytes (NULL)");
    roundtrip(rt, &b0p, "zero-length bytes");
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    weft_value b1 = weft_bytes(bytes, 1), b256 = weft_bytes(bytes, 256);
    roundtrip(rt, &b1, "1 byte");
    roundtrip(rt, &b256, "256 bytes with NULs");
    weft_value bbig = weft_bytes(bigs, biglen);
    roundtrip(rt, &bbig, "200 KiB bytes");

    /* Arrays of every dtype, several shapes. */
    static const weft_dtype dts[] = {WEFT_DT_F64, WEFT_DT_F32, WEFT_DT_I64,
                                     WEFT_DT_I32, WEFT_DT_U8,  WEFT_DT_BOOL};
    static const size_t dsz[] = {8, 4, 8, 4, 1, 1};
    static const struct {
        uint32_t ndim;
        int64_t shape[WEFT_MAX_NDIM];
    } shapes[] = {
        {0, {0}},
        {1, {0}},
        {1, {5}},
        {2, {3, 4}},
        {3, {2, 0, 3}},
        {3, {2, 3, 4}},
        {WEFT_MAX_NDIM, {1, 2, 1, 2, 1, 1, 2, 3}},
        {1, {20000}}, /* large: shared memory */
    };
    unsigned char *buf = malloc(20000 * 8);
    assert_non_null(buf);
    for (size_t d = 0; d < 6; d++) {
        assert_int_equal(weft_dtype_size(dts[d]), dsz[d]);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            size_t n = 1;
            for (uint32_t i = 0; i < shapes[s].ndim; i++)
                n *= (size_t)shapes[s].shape[i];
            for (size_t k = 0; k < n * dsz[d]; k++)
                buf[k] = dts[d] == WEFT_DT_BOOL ? (unsigned char)(k % 3 == 0)
                                                : (unsigned char)(k * 7 + d);
            weft_value v =
                weft_array(dts[d], shapes[s].ndim,
                           shapes[s].ndim ? shapes[s].shape : NULL, buf);
            snprintf(name, sizeof name, "array dtype %d shape #%zu",
                     (int)dts[d], s);
            roundtrip(rt, &v, name);
        }
    }
    assert_int_equal(weft_dtype_size((weft_dtype)0), 0);
    assert_int_equal(weft_dtype_size((weft_dtype)77), 0);

    /* Typed gets. */
    weft_ref r;
    weft_value v = weft_i64(-42);
    OK(weft_put(rt, &v, &r));
    int64_t i64;
    double f64;
    OK(weft_get_i64(rt, r, &i64, 0));
    assert_int_equal(i64, -42);
    OK(weft_get_f64(rt, r, &f64, 0)); /* an i64 reads as f64 */
    assert_true(f64 == -42.0);
    weft_release(rt, r);
    v = weft_str("");
    OK(weft_put(rt, &v, &r));
    const char *s = NULL;
    OK(weft_get_str(rt, r, &s, 0));
    assert_non_null(s);
    assert_string_equal(s, "");
    weft_release(rt, r);
    v = weft_bool(true);
    OK(weft_put(rt, &v, &r));
    bool b = false;
    OK(weft_get_bool(rt, r, &b, 0));
    assert_true(b);
    weft_release(rt, r);

    free(buf);
    free(bigs);
    assert_int_equal(objects_settled(rt), 0);
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.store_bytes, 0);
    weft_shutdown(rt);
}

/* ====================================================== zero copy */

/* Returns the address it sees for argument 0, after checking the data. */
static weft_err rt_graph_addr(weft_task *t)
{
    const weft_value *v = weft_arg(t, 0);
    size_t len = 0;
    const void *p = weft_arg_bytes(t, 0, &len);
    if (v->type != WEFT_T_BYTES || p != v->u.buf.data || len != v->u.buf.len)
        return weft_fail(t, "argument views disagree");
    const unsigned char *c = p;
    if (len >= 2 && (c[0] != 0xA5 || c[len - 1] != (unsigned char)(len & 0xff)))
        return weft_fail(t, "unexpected contents");
    return weft_return_i64(t, (int64_t)(uintptr_t)p);
}
WEFT_REGISTER_SIG(rt_graph_addr, "y");

static weft_err rt_graph_arr_addr(weft_task *t)
{
    const weft_value *v = weft_arg(t, 0);
    if (v->type != WEFT_T_ARRAY)
        return weft_fail(t, "not an array");
    return weft_return_i64(t, (int64_t)(uintptr_t)v->u.arr.data);
}
WEFT_REGISTER_SIG(rt_graph_arr_addr, "a");

static void test_zero_copy(void **state)
{
    (void)state;
    size_t n = (size_t)64 << 20;
    weft_runtime *rt = start_runtime(2);
    void *data = NULL;
    weft_ref r;
    OK(weft_create(rt, n, &data, &r));
    assert_non_null(data);
    unsigned char *c = data;
    memset(c, 0x5A, n);
    c[0] = 0xA5;
    c[n - 1] = (unsigned char)(n & 0xff);
    OK(weft_seal(rt, r));
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_true(st.store_bytes >= n);

    weft_value a, b;
    OK(weft_get(rt, r, &a, 0));
    OK(weft_get(rt, r, &b, 0));
    assert_int_equal(a.type, WEFT_T_BYTES);
    assert_int_equal(a.u.buf.len, n);
    assert_ptr_equal(a.u.buf.data, data);
    assert_ptr_equal(b.u.buf.data, data);

    enum { T = 8 };
    weft_ref tr[T];
    for (int i = 0; i < T; i++) {
        weft_task_opts o;
        weft_task_opts_init(&o);
        o.executor = WEFT_EXEC_THREAD;
        OK(weft_submit(rt, "rt_graph_addr", WEFT_ARGS(weft_refv(r)), &o,
                       &tr[i]));
    }
    for (int i = 0; i < T; i++) {
        int64_t addr = 0;
        OK(weft_get_i64(rt, tr[i], &addr, WEFT_FOREVER));
        assert_ptr_equal((const void *)(uintptr_t)addr, data);
    }
    weft_release_many(rt, tr, T);

    /* A large put is copied once; every task reads that one copy. */
    int64_t shape[1] = {1 << 17};
    double *arr = calloc((size_t)shape[0], sizeof(double));
    assert_non_null(arr);
    weft_value av = weft_array(WEFT_DT_F64, 1, shape, arr);
    weft_ref ar;
    OK(weft_put(rt, &av, &ar));
    free(arr);
    weft_value ag;
    OK(weft_get(rt, ar, &ag, 0));
    for (int i = 0; i < T; i++)
        OK(weft_submit(rt, "rt_graph_arr_addr", WEFT_ARGS(weft_refv(ar)), NULL,
                       &tr[i]));
    for (int i = 0; i < T; i++) {
        int64_t addr = 0;
        OK(weft_get_i64(rt, tr[i], &addr, WEFT_FOREVER));
        assert_ptr_equal((const void *)(uintptr_t)addr, ag.u.arr.data);
    }
    weft_release_many(rt, tr, T);
    weft_release(rt, ar);

    /* A zero-byte created object. */
    weft_ref z;
    void *zd = NULL;
    OK(weft_create(rt, 0, &zd, &z));
    OK(weft_seal(rt, z));
    OK(weft_get(rt, z, &a, 0));
    assert_int_equal(a.type, WEFT_T_BYTES);
    assert_int_equal(a.u.buf.len, 0);
    weft_release(rt, z);

    weft_release(rt, r);
    assert_int_equal(objects_settled(rt), 0);
    weft_get_stats(rt, &st);
    assert_int_equal(st.store_bytes, 0);
    weft_shutdown(rt);
}

/* ==================================================== num_returns */

static weft_err rt_graph_three(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    weft_value a = weft_i64(x * 2);
    char s[32];
    snprintf(s, sizeof s, "x=%" PRId64, x);
    weft_value b = weft_str(s);
    int64_t shape[1] = {3};
    double d[3] = {(double)x, (double)x + 0.5, (double)x + 1};
    weft_value c = weft_array(WEFT_DT_F64, 1, shape, d);
    weft_err e = weft_return(t, 0, &a);
    if (!e)
        e = weft_return(t, 1, &b);
    if (!e)
        e = weft_return(t, 2, &c);
    return e;
}
WEFT_REGISTER_SIG(rt_graph_three, "i");

static weft_err rt_graph_minmax(weft_task *t)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < weft_nargs(t); i++) {
        int64_t v = weft_arg_i64(t, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    weft_value a = weft_i64(lo), b = weft_i64(hi);
    weft_return(t, 0, &a);
    return weft_return(t, 1, &b);
}
WEFT_REGISTER_SIG(rt_graph_minmax, "i.");

static weft_err rt_graph_too_many(weft_task *t)
{
    weft_value v = weft_i64(1);
    return weft_return(t, 2, &v); /* only 2 results */
}
WEFT_REGISTER(rt_graph_too_many);

static atomic_int rt_graph_side_effects;

static weft_err rt_graph_side_effect(weft_task *t)
{
    atomic_fetch_add(&rt_graph_side_effects, (int)weft_arg_i64(t, 0));
    return 0;
}
WEFT_REGISTER_SIG(rt_graph_side_effect, "i");

static void test_num_returns(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_task_opts o;
    weft_task_opts_init(&o);
    assert_int_equal(o.num_returns, 1);
    o.num_returns = 3;
    weft_ref r[3];
    OK(weft_submit(rt, "rt_graph_three", WEFT_ARGS(weft_i64(7)), &o, r));
    assert_true(r[0].id != r[1].id && r[1].id != r[2].id && r[0].id != r[2].id);
    /* Each result feeds a different consumer. */
    weft_task_opts o2;
    weft_task_opts_init(&o2);
    o2.num_returns = 2;
    weft_ref mm[2], inc, echo_s, echo_a;
    OK(weft_submit(rt, "rt_graph_minmax",
                   WEFT_ARGS(weft_refv(r[0]), weft_i64(3), weft_i64(99)), &o2,
                   mm));
    OK(weft_submit(rt, "rt_graph_inc", WEFT_ARGS(weft_refv(mm[1])), NULL,
                   &inc));
    OK(weft_submit(rt, "rt_graph_echo", WEFT_ARGS(weft_refv(r[1])), NULL,
                   &echo_s));
    OK(weft_submit(rt, "rt_graph_echo", WEFT_ARGS(weft_refv(r[2])), NULL,
                   &echo_a));
    weft_release(rt, r[1]);
    weft_release(rt, r[2]);
    weft_release(rt, mm[1]);
    int64_t x;
    OK(weft_get_i64(rt, r[0], &x, WEFT_FOREVER));
    assert_int_equal(x, 14);
    OK(weft_get_i64(rt, mm[0], &x, WEFT_FOREVER));
    assert_int_equal(x, 3);
    OK(weft_get_i64(rt, inc, &x, WEFT_FOREVER));
    assert_int_equal(x, 100);
    const char *s;
    OK(weft_get_str(rt, echo_s, &s, WEFT_FOREVER));
    assert_string_equal(s, "x=7");
    weft_value av;
    OK(weft_get(rt, echo_a, &av, WEFT_FOREVER));
    assert_int_equal(av.type, WEFT_T_ARRAY);
    assert_int_equal(av.u.arr.ndim, 1);
    assert_int_equal(av.u.arr.shape[0], 3);
    assert_true(((const double *)av.u.arr.data)[1] == 7.5);
    weft_release(rt, r[0]);
    weft_release(rt, mm[0]);
    weft_release(rt, inc);
    weft_release(rt, echo_s);
    weft_release(rt, echo_a);

    /* Setting a result past num_returns fails the task, every result. */
    OK(weft_submit(rt, "rt_graph_too_many", WEFT_NOARGS, &o2, mm));
    weft_err e0 = weft_get(rt, mm[0], &av, WEFT_FOREVER);
    weft_err e1 = weft_get(rt, mm[1], &av, WEFT_FOREVER);
    assert_true(e0 == WEFT_ETASK || e0 == WEFT_EINVAL);
    assert_int_equal(e1, e0);
    assert_non_null(weft_error_message(rt, mm[1]));
    assert_non_null(strstr(weft_error_message(rt, mm[1]), "num_returns"));
    weft_release_many(rt, mm, 2);

    /* num_returns = 0: fire and forget; shutdown waits for them. */
    weft_task_opts o0;
    weft_task_opts_init(&o0);
    o0.num_returns = 0;
    atomic_store(&rt_graph_side_effects, 0);
    for (int i = 1; i <= 100; i++)
        OK(weft_submit(rt, "rt_graph_side_effect", WEFT_ARGS(weft_i64(i)), &o0,
                       NULL));
    weft_shutdown(rt);
    assert_int_equal(atomic_load(&rt_graph_side_effects), 5050);
}

/* ================================================ reference counting */

/* Digest of a bytes argument after a gate argument. */
static weft_err rt_graph_sum_bytes(weft_task *t)
{
    size_t len = 0;
    const unsigned char *p = weft_arg_bytes(t, 1, &len);
    if (!p)
        return WEFT_ETYPE;
    int64_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += p[i];
    return weft_return_i64(t, s + (int64_t)len);
}
WEFT_REGISTER_SIG(rt_graph_sum_bytes, "*y");

static void test_retain_release(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_value v = weft_i64(5), got;
    weft_ref r;
    OK(weft_put(rt, &v, &r));
    for (int i = 0; i < 3; i++)
        OK(weft_retain(rt, r));
    for (int i = 0; i < 3; i++) {
        OK(weft_release(rt, r));
        OK(weft_get(rt, r, &got, 0));
        assert_int_equal(got.u.i64, 5);
    }
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.objects, 1);
    OK(weft_release(rt, r)); /* the last handle */
    assert_int_equal(weft_get(rt, r, &got, 0), WEFT_EBADREF);
    assert_int_equal(weft_retain(rt, r), WEFT_EBADREF);
    assert_int_equal(weft_release(rt, r), WEFT_EBADREF);
    assert_false(weft_ready(rt, r));
    weft_get_stats(rt, &st);
    assert_int_equal(st.objects, 0);
    /* The slot is reused, but the old reference stays dead. */
    weft_ref r2;
    v = weft_i64(6);
    OK(weft_put(rt, &v, &r2));
    assert_true(r2.id != r.id);
    assert_int_equal(weft_get(rt, r, &got, 0), WEFT_EBADREF);
    OK(weft_get(rt, r2, &got, 0));
    assert_int_equal(got.u.i64, 6);
    weft_release(rt, r2);

    /* A released input still needed by a pending task stays alive until
     * that task has run, even while lots of other objects come and go. */
    enum { LEN = 100 * 1024, SMALL = 100 };
    unsigned char *buf = malloc(LEN);
    assert_non_null(buf);
    int64_t want_big = LEN, want_small = SMALL;
    for (int i = 0; i < LEN; i++) {
        buf[i] = (unsigned char)(i * 13);
        want_big += buf[i];
        if (i < SMALL)
            want_small += buf[i];
    }
    void *gd;
    weft_ref gate, big, small, tb, ts;
    OK(weft_create(rt, 1, &gd, &gate));
    weft_value bv = weft_bytes(buf, LEN), sv = weft_bytes(buf, SMALL);
    OK(weft_put(rt, &bv, &big));
    OK(weft_put(rt, &sv, &small));
    OK(weft_submit(rt, "rt_graph_sum_bytes",
                   WEFT_ARGS(weft_refv(gate), weft_refv(big)), NULL, &tb));
    OK(weft_submit(rt, "rt_graph_sum_bytes",
                   WEFT_ARGS(weft_refv(gate), weft_refv(small)), NULL, &ts));
    OK(weft_release(rt, big));
    OK(weft_release(rt, small));
    memset(buf, 0xEE, LEN);
    for (int i = 0; i < 1000; i++) {
        weft_ref x;
        weft_value xv = weft_bytes(buf, (size_t)(i % 2 ? SMALL : LEN));
        OK(weft_put(rt, &xv, &x));
        OK(weft_release(rt, x));
    }
    OK(weft_seal(rt, gate));
    int64_t s = 0;
    OK(weft_get_i64(rt, tb, &s, WEFT_FOREVER));
    assert_int_equal(s, want_big);
    OK(weft_get_i64(rt, ts, &s, WEFT_FOREVER));
    assert_int_equal(s, want_small);
    weft_release(rt, tb);
    weft_release(rt, ts);

    /* Results released before their task ran: nothing leaks. */
    void *gd2;
    weft_ref gate2, lost[10];
    OK(weft_create(rt, 1, &gd2, &gate2));
    for (int i = 0; i < 10; i++) {
        OK(weft_submit(rt, "rt_graph_len", WEFT_ARGS(weft_refv(gate2)), NULL,
                       &lost[i]));
        OK(weft_release(rt, lost[i]));
    }
    OK(weft_seal(rt, gate2));
    OK(weft_release(rt, gate2));
    OK(weft_release(rt, gate));
    free(buf);
    assert_int_equal(objects_settled(rt), 0);
    weft_get_stats(rt, &st);
    assert_int_equal(st.store_bytes, 0);
    assert_int_equal(st.tasks_submitted, st.tasks_finished);
    weft_shutdown(rt);
}

/* "Using a released reference gives WEFT_EBADREF" (guide) also when a
 * pending task still needs the object: the task's hold is not the user's
 * handle. A second release of the same handle must not free the object
 * under the pending task. */
static void test_released_handle_while_task_pending(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    unsigned char bytes[64];
    int64_t want = 64;
    for (int i = 0; i < 64; i++) {
        bytes[i] = (unsigned char)(i + 1);
        want += bytes[i];
    }
    void *gd;
    weft_ref gate, x, t;
    OK(weft_create(rt, 1, &gd, &gate));
    weft_value xv = weft_bytes(bytes, sizeof bytes);
    OK(weft_put(rt, &xv, &x));
    OK(weft_submit(rt, "rt_graph_sum_bytes",
                   WEFT_ARGS(weft_refv(gate), weft_refv(x)), NULL, &t));
    OK(weft_release(rt, x)); /* our only handle */
    weft_value got;
    weft_err e_get = weft_get(rt, x, &got, 0);
    weft_err e_rel = weft_release(rt, x); /* a double release */
    /* Reuse freed slots, in case the object was freed. */
    weft_ref junk[4];
    for (int i = 0; i < 4; i++) {
        weft_value jv = weft_i64(i);
        OK(weft_put(rt, &jv, &junk[i]));
    }
    OK(weft_seal(rt, gate));
    int64_t s = 0;
    weft_err e_task = weft_get_i64(rt, t, &s, WEFT_FOREVER);
    weft_release_many(rt, junk, 4);
    weft_release(rt, t);
    weft_release(rt, gate);
    weft_shutdown(rt);
    if (e_task || s != want)
        fail_msg("the pending task lost its input after a double release: "
                 "%s, sum %" PRId64 " (want %" PRId64 ")",
                 weft_err_name(e_task), s, want);
    if (e_get != WEFT_EBADREF)
        fail_msg("weft_get on a released handle gave %s, want WEFT_EBADREF",
                 weft_err_name(e_get));
    if (e_rel != WEFT_EBADREF)
        fail_msg("a second weft_release of a released handle gave %s, want "
                 "WEFT_EBADREF",
                 weft_err_name(e_rel));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_graphs),
        cmocka_unit_test(test_nested_parallelism),
        cmocka_unit_test(test_wait_first_k),
        cmocka_unit_test(test_get_timeout_then_seal),
        cmocka_unit_test(test_put_get_roundtrips),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_num_returns),
        cmocka_unit_test(test_retain_release),
        cmocka_unit_test(test_released_handle_while_task_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
