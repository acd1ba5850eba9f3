/* Lazy task graphs: building, culling, fusion, the generic task that runs
 * a fused group, and Graphviz output (see graph.h). */
#include "graph/graph.h"

#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WG_NAME_MAX 63
#define WG_NONE UINT32_MAX

/* ------------------------------------------------------------ registry */

typedef struct kentry {
    char name[WG_NAME_MAX + 1];
    wg_kernel_fn fn;
} kentry;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static kentry *reg;
static size_t nreg, capreg;

weft_err wg_kernel_register(const char *name, wg_kernel_fn fn)
{
    if (!name || !fn || !*name || strlen(name) > WG_NAME_MAX)
        return WEFT_EINVAL;
    weft_err e = WEFT_OK;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nreg; i++)
        if (strcmp(reg[i].name, name) == 0) {
            e = reg[i].fn == fn ? WEFT_OK : WEFT_EEXIST;
            goto out;
        }
    if (nreg == capreg) {
        size_t cap = capreg ? capreg * 2 : 64;
        kentry *k = realloc(reg, cap * sizeof *k);
        if (!k) {
            e = WEFT_ENOMEM;
            goto out;
        }
        reg = k;
        capreg = cap;
    }
    strcpy(reg[nreg].name, name);
    reg[nreg++].fn = fn;
out:
    pthread_mutex_unlock(&reg_lock);
    return e;
}

static wg_kernel_fn find_kernel(const char *name, size_t len)
{
    wg_kernel_fn fn = NULL;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nreg && !fn; i++)
        if (strlen(reg[i].name) == len && memcmp(reg[i].name, name, len) == 0)
            fn = reg[i].fn;
    pthread_mutex_unlock(&reg_lock);
    return fn;
}

/* ------------------------------------------------------------ calls */

typedef struct owned {
    weft_value v;
    void *buf; /* owned bytes behind v */
    int64_t shape[WEFT_MAX_NDIM];
} owned;

struct wg_call {
    const char *kernel, *key;
    size_t klen, keylen;
    const weft_value *const *in;
    size_t nin;
    const void *params;
    size_t plen;
    owned out;
    bool has_out;
    char err[512];
    bool failed;
    /* the program's last step writes its output straight into the task's
     * result in the store (no copy) */
    weft_task *task;
    bool last, returned;
};

size_t wg_nin(const wg_call *c)
{
    return c->nin;
}

const weft_value *wg_in(const wg_call *c, size_t i)
{
    return i < c->nin ? c->in[i] : NULL;
}

const void *wg_params(const wg_call *c, size_t *len)
{
    *len = c->plen;
    return c->params;
}

static size_t value_bytes(const weft_value *v)
{
    if (v->type == WEFT_T_STR || v->type == WEFT_T_BYTES)
        return v->u.buf.len;
    if (v->type != WEFT_T_ARRAY)
        return 0;
    size_t n = weft_dtype_size(v->u.arr.dtype);
    for (uint32_t d = 0; d < v->u.arr.ndim; d++)
        n *= (size_t)v->u.arr.shape[d];
    return n;
}

/* dst = a copy of v that owns its bytes. */
static weft_err own_copy(owned *dst, const weft_value *v)
{
    memset(dst, 0, sizeof *dst);
    dst->v = *v;
    if (v->type != WEFT_T_STR && v->type != WEFT_T_BYTES &&
        v->type != WEFT_T_ARRAY)
        return 0;
    if (v->type == WEFT_T_ARRAY && v->u.arr.ndim > WEFT_MAX_NDIM)
        return WEFT_EINVAL;
    size_t n = value_bytes(v);
    dst->buf = malloc(n + 1);
    if (!dst->buf)
        return WEFT_ENOMEM;
    if (n)
        memcpy(dst->buf,
               v->type == WEFT_T_ARRAY ? v->u.arr.data : v->u.buf.data, n);
    ((char *)dst->buf)[n] = '\0';
    if (v->type == WEFT_T_ARRAY) {
        memcpy(dst->shape, v->u.arr.shape, v->u.arr.ndim * sizeof(int64_t));
        dst->v.u.arr.shape = dst->shape;
        dst->v.u.arr.data = dst->buf;
    } else {
        dst->v.u.buf.data = dst->buf;
    }
    return 0;
}

weft_err wg_out(wg_call *c, const weft_value *v)
{
    if (c->has_out)
        return wg_fail(c, "the output was set twice");
    if (c->last) { /* copied once, into the store */
        weft_err e = weft_return(c->task, 0, v);
        c->has_out = c->returned = e == 0;
        return e;
    }
    weft_err e = own_copy(&c->out, v);
    c->has_out = e == 0;
    return e;
}

weft_err wg_out_alloc(wg_call *c, weft_type type, weft_dtype dtype,
                      uint32_t ndim, const int64_t *shape, size_t n,
                      void **data)
{
    if (c->has_out)
        return wg_fail(c, "the output was set twice");
    owned *o = &c->out;
    memset(o, 0, sizeof *o);
    if (c->last && (type == WEFT_T_ARRAY || type == WEFT_T_BYTES)) {
        weft_err e =
            type == WEFT_T_ARRAY
                ? weft_return_alloc_array(c->task, 0, dtype, ndim, shape, data)
                : weft_return_alloc(c->task, 0, n, data);
        if (!e && type == WEFT_T_ARRAY) { /* n must match the shape */
            size_t want = weft_dtype_size(dtype);
            for (uint32_t d = 0; d < ndim; d++)
                want *= (size_t)shape[d];
            if (want != n)
                return wg_fail(c, "output of %zu bytes for a shape of %zu", n,
                               want);
        }
        c->has_out = c->returned = e == 0;
        return e;
    }
    if (type == WEFT_T_ARRAY) {
        size_t want = weft_dtype_size(dtype);
        if (ndim > WEFT_MAX_NDIM || !want)
            return wg_fail(c, "bad output array");
        for (uint32_t d = 0; d < ndim; d++) {
            if (shape[d] < 0)
                return wg_fail(c, "bad output shape");
            want *= (size_t)shape[d];
            o->shape[d] = shape[d];
        }
        if (want != n)
            return wg_fail(c, "output of %zu bytes for a shape of %zu", n,
                           want);
    } else if (type != WEFT_T_BYTES && type != WEFT_T_STR) {
        return wg_fail(c, "wg_out_alloc makes bytes, text or arrays");
    }
    o->buf = malloc(n + 1);
    if (!o->buf)
        return WEFT_ENOMEM;
    ((char *)o->buf)[n] = '\0';
    o->v.type = type;
    if (type == WEFT_T_ARRAY) {
        o->v.u.arr.data = o->buf;
        o->v.u.arr.shape = o->shape;
        o->v.u.arr.ndim = ndim;
        o->v.u.arr.dtype = dtype;
    } else {
        o->v.u.buf.data = o->buf;
        o->v.u.buf.len = n;
    }
    c->has_out = true;
    *data = o->buf;
    return 0;
}

weft_err wg_fail(wg_call *c, const char *fmt, ...)
{
    if (!c->failed) {
        int n = snprintf(c->err, sizeof c->err, "%.*s ('%.*s'): ", (int)c->klen,
                         c->kernel, (int)c->keylen, c->key);
        if (n >= 0 && (size_t)n < sizeof c->err) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
            va_end(ap);
        }
        c->failed = true;
    }
    return WEFT_ETASK;
}

/* ------------------------------------------------------------ programs */

/* A group's program, as the task's first argument:
 *   u32 nsteps; per step: u16 name length, name, u16 key length, key,
 *   u32 params length, params, u32 nin, nin x (u8 from: 0 task argument,
 *   1 earlier step; u32 index). The last step's output is the result. */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool fail;
} wbuf;

static void put(wbuf *w, const void *p, size_t n)
{
    if (w->fail)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *q = realloc(w->p, cap);
        if (!q) {
            w->fail = true;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
    if (n)
        memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void put16(wbuf *w, uint16_t v)
{
    put(w, &v, 2);
}

static void put32(wbuf *w, uint32_t v)
{
    put(w, &v, 4);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t len, off;
} rbuf;

static const void *take(rbuf *r, size_t n)
{
    if (n > r->len - r->off)
        return NULL;
    const void *p = r->p + r->off;
    r->off += n;
    return p;
}

static bool get16(rbuf *r, uint16_t *v)
{
    const void *p = take(r, 2);
    if (p)
        memcpy(v, p, 2);
    return p != NULL;
}

static bool get32(rbuf *r, uint32_t *v)
{
    const void *p = take(r, 4);
    if (p)
        memcpy(v, p, 4);
    return p != NULL;
}

/* The task every fused group runs: weft.graph.run(program, inputs...). */
static weft_err wg_run(weft_task *t)
{
    size_t plen;
    const uint8_t *prog = weft_arg_bytes(t, 0, &plen);
    size_t nargs = weft_nargs(t);
    rbuf r = {prog, plen, 0};
    uint32_t nsteps;
    if (!prog || !get32(&r, &nsteps) || nsteps == 0 || nsteps > (1u << 24))
        return weft_fail(t, "weft.graph.run: bad program");
    owned *outs = calloc(nsteps, sizeof *outs);
    const weft_value **in = NULL;
    size_t incap = 0;
    weft_err e = outs ? 0 : WEFT_ENOMEM;
    for (uint32_t s = 0; s < nsteps && !e; s++) {
        uint16_t nl, kl;
        uint32_t pl, nin;
        const char *name, *key;
        const void *params;
        if (!get16(&r, &nl) || !(name = take(&r, nl)) || !get16(&r, &kl) ||
            !(key = take(&r, kl)) || !get32(&r, &pl) ||
            !(params = take(&r, pl)) || !get32(&r, &nin) || nin > 65536) {
            e = weft_fail(t, "weft.graph.run: bad program at step %u", s);
            break;
        }
        if (nin > incap) {
            const weft_value **m = realloc(in, nin * sizeof *m);
            if (!m) {
                e = WEFT_ENOMEM;
                break;
            }
            in = m;
            incap = nin;
        }
        for (uint32_t i = 0; i < nin && !e; i++) {
            const uint8_t *from = take(&r, 1);
            uint32_t idx;
            if (!from || !get32(&r, &idx) ||
                (*from == 0 ? (size_t)idx + 1 >= nargs : idx >= s))
                e = weft_fail(t, "weft.graph.run: bad input %u of step %u", i,
                              s);
            else
                in[i] = *from == 0 ? weft_arg(t, idx + 1) : &outs[idx].v;
        }
        if (e)
            break;
        void *aligned = NULL; /* params as kernels may read them */
        if (((uintptr_t)params & 7) && pl) {
            if (!(aligned = malloc(pl))) {
                e = WEFT_ENOMEM;
                break;
            }
            memcpy(aligned, params, pl);
            params = aligned;
        }
        wg_kernel_fn fn = find_kernel(name, nl);
        if (!fn) {
            free(aligned);
            e = weft_fail(t, "no kernel '%.*s' in this program (node '%.*s')",
                          (int)nl, name, (int)kl, key);
            break;
        }
        wg_call c = {.kernel = name,
                     .klen = nl,
                     .key = key,
                     .keylen = kl,
                     .in = in,
                     .nin = nin,
                     .params = params,
                     .plen = pl,
                     .task = t,
                     .last = s + 1 == nsteps};
        weft_err ke = fn(&c);
        free(aligned);
        if (!ke && !c.has_out)
            ke = wg_fail(&c, "the kernel set no output");
        if (ke) {
            free(c.out.buf);
            e = weft_fail(t, "%s", c.failed ? c.err : weft_strerror(ke));
            break;
        }
        outs[s] = c.out;
        if (outs[s].v.type == WEFT_T_ARRAY)
            outs[s].v.u.arr.shape = outs[s].shape;
        if (c.returned)
            outs[s].v.type = WEFT_T_NONE; /* already the task's result */
    }
    if (!e && outs[nsteps - 1].v.type != WEFT_T_NONE)
        e = weft_return(t, 0, &outs[nsteps - 1].v);
    for (uint32_t s = 0; outs && s < nsteps; s++)
        free(outs[s].buf);
    free(outs);
    free(in);
    return e;
}

__attribute__((constructor)) static void wg_register_runner(void)
{
    (void)weft_register("weft.graph.run", wg_run, NULL);
}

/* ------------------------------------------------------------ graphs */

typedef struct node {
    uint32_t kernel_off, kernel_len; /* in the pool */
    uint32_t key_off, key_len;
    uint32_t params_off, params_len;
    uint32_t in_first, nin; /* in g->ins */
    bool fusible;
    bool inl;       /* wg_set_inline */
    bool persisted; /* wg_persist: pref holds the output */
    weft_ref pref;
} node;

/* An input as kept: 8 bytes, as most inputs are nodes (a graph of
 * 100,000 chunks holds hundreds of thousands); literals and references
 * are kept beside, in vals. */
typedef struct stored_in {
    wg_input_kind kind;
    uint32_t node; /* WG_IN_NODE: the node; else the index in vals */
} stored_in;

typedef struct stored_val {
    weft_value value; /* a reference (WEFT_T_REF), or a literal whose
                         buffers are offsets into the pool, fixed up at use */
    uint32_t buf_off, shape_off;
} stored_val;

struct wg_graph {
    weft_runtime *rt;
    node *nodes;
    size_t nnodes, capnodes;
    stored_in *ins;
    size_t nins, capins;
    stored_val *vals;
    size_t nvals, capvals;
    uint8_t *pool;
    size_t npool, cappool;
    char err[256];
};

wg_graph *wg_new(weft_runtime *rt)
{
    wg_graph *g = calloc(1, sizeof *g);
    if (g)
        g->rt = rt;
    return g;
}

#define BIG_ARRAY ((size_t)2 << 20) /* a huge page */

void *wg_huge_alloc(size_t n)
{
    size_t round = (n + BIG_ARRAY - 1) & ~(BIG_ARRAY - 1);
    void *p = aligned_alloc(BIG_ARRAY, round);
#if defined(MADV_HUGEPAGE)
    if (p)
        (void)madvise(p, round, MADV_HUGEPAGE); /* only advice */
#endif
    return p;
}

/* The graph's three growing arrays (nodes, inputs, the pool) hold tens of
 * MB for a graph of 100,000 chunks, and faulting them in 4 KiB at a time
 * was half the time of building one. From 2 MiB on, an array has a
 * mapping of its own on transparent huge pages (where the kernel gives
 * them) and grows with mremap, which moves pages instead of copying them.
 * big_grow: old and cap in bytes (old 0 when p is NULL); NULL when out of
 * memory (p is then unchanged). */

static void *big_grow(void *p, size_t old, size_t cap)
{
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
    if (cap >= BIG_ARRAY) {
        void *q = old >= BIG_ARRAY ? mremap(p, old, cap, MREMAP_MAYMOVE)
                                   : mmap(NULL, cap, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED)
            return NULL;
        (void)madvise(q, cap, MADV_HUGEPAGE); /* only advice */
        if (old < BIG_ARRAY) {
            if (old)
                memcpy(q, p, old);
            free(p);
        }
        return q;
    }
#else
    (void)old;
#endif
    return realloc(p, cap);
}

static void big_free(void *p, size_t cap)
{
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
    if (cap >= BIG_ARRAY) {
        munmap(p, cap);
        return;
    }
#endif
    (void)cap;
    free(p);
}

void wg_free(wg_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nvals; i++)
        if (g->vals[i].value.type == WEFT_T_REF)
            weft_release(g->rt, g->vals[i].value.u.ref);
    for (size_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].persisted)
            weft_release(g->rt, g->nodes[i].pref);
    big_free(g->nodes, g->capnodes * sizeof *g->nodes);
    big_free(g->ins, g->capins * sizeof *g->ins);
    big_free(g->vals, g->capvals * sizeof *g->vals);
    big_free(g->pool, g->cappool);
    free(g);
}

const char *wg_error(const wg_graph *g)
{
    return g->err;
}

void wg_set_inline(wg_graph *g, wg_node n)
{
    if (n < g->nnodes)
        g->nodes[n].inl = true;
}

bool wg_persisted(const wg_graph *g, wg_node n)
{
    return n < g->nnodes && g->nodes[n].persisted;
}

/* Copy n bytes into the pool (8-aligned); UINT32_MAX when full. */
static uint32_t pool_put(wg_graph *g, const void *p, size_t n)
{
    size_t at = (g->npool + 7) & ~(size_t)7;
    if (at + n > UINT32_MAX - 1)
        return UINT32_MAX;
    if (at + n > g->cappool) {
        size_t cap = g->cappool ? g->cappool : 4096;
        while (cap < at + n)
            cap *= 2;
        uint8_t *q = big_grow(g->pool, g->cappool, cap);
        if (!q)
            return UINT32_MAX;
        g->pool = q;
        g->cappool = cap;
    }
    if (n)
        memcpy(g->pool + at, p, n);
    g->npool = at + n;
    return (uint32_t)at;
}

static wg_node add_fail(wg_graph *g, const char *what)
{
    snprintf(g->err, sizeof g->err, "wg_add: %s", what);
    return WG_NONE;
}

wg_node wg_add(wg_graph *g, const char *kernel, const void *params, size_t plen,
               const wg_input *in, size_t nin, const char *key, bool fusible)
{
    g->err[0] = '\0';
    size_t kl = kernel ? strlen(kernel) : 0;
    if (!kl || kl > WG_NAME_MAX)
        return add_fail(g, "a kernel name of 1 to 63 bytes");
    if (nin > 65536 || plen > UINT32_MAX / 2)
        return add_fail(g, "too many inputs or too large params");
    if (g->nnodes == g->capnodes) {
        size_t cap = g->capnodes ? g->capnodes * 2 : 1024;
        node *m = big_grow(g->nodes, g->capnodes * sizeof *m, cap * sizeof *m);
        if (!m)
            return add_fail(g, "out of memory");
        g->nodes = m;
        g->capnodes = cap;
    }
    if (g->nins + nin > g->capins) {
        size_t cap = g->capins ? g->capins : 1024;
        while (cap < g->nins + nin)
            cap *= 2;
        stored_in *m = big_grow(g->ins, g->capins * sizeof *m, cap * sizeof *m);
        if (!m)
            return add_fail(g, "out of memory");
        g->ins = m;
        g->capins = cap;
    }
    node n = {0};
    const char *k = key ? key : kernel;
    size_t keyl = strlen(k) > 1000 ? 1000 : strlen(k);
    /* graphs use few kernels: their names are kept once */
    if (g->nnodes > 0 && g->nodes[g->nnodes - 1].kernel_len == kl &&
        memcmp(g->pool + g->nodes[g->nnodes - 1].kernel_off, kernel, kl) == 0)
        n.kernel_off = g->nodes[g->nnodes - 1].kernel_off;
    else
        n.kernel_off = pool_put(g, kernel, kl);
    n.kernel_len = (uint32_t)kl;
    n.key_off = pool_put(g, k, keyl);
    n.key_len = (uint32_t)keyl;
    n.params_off = pool_put(g, params, plen);
    n.params_len = (uint32_t)plen;
    n.in_first = (uint32_t)g->nins;
    n.nin = (uint32_t)nin;
    n.fusible = fusible;
    if (n.kernel_off == WG_NONE || n.key_off == WG_NONE ||
        n.params_off == WG_NONE)
        return add_fail(g, "out of memory");
    size_t first = g->nins; /* vals made before a failure stay: wg_free
                               releases their references */
    for (size_t i = 0; i < nin; i++) {
        stored_in s = {.kind = in[i].kind, .node = in[i].node};
        if (in[i].kind == WG_IN_NODE) {
            if (in[i].node >= g->nnodes) {
                g->nins = first;
                return add_fail(g, "input names a node not added yet");
            }
            g->ins[g->nins++] = s;
            continue;
        }
        if (g->nvals == g->capvals) {
            size_t cap = g->capvals ? g->capvals * 2 : 64;
            stored_val *m =
                big_grow(g->vals, g->capvals * sizeof *m, cap * sizeof *m);
            if (!m) {
                g->nins = first;
                return add_fail(g, "out of memory");
            }
            g->vals = m;
            g->capvals = cap;
        }
        stored_val sv = {.buf_off = WG_NONE};
        s.node = (uint32_t)g->nvals;
        if (in[i].kind == WG_IN_REF) {
            if (weft_retain(g->rt, in[i].ref)) {
                g->nins = first;
                return add_fail(g, "input names a released reference");
            }
            sv.value = weft_refv(in[i].ref);
        } else {
            const weft_value *v = &in[i].value;
            sv.value = *v;
            if (v->type == WEFT_T_STR || v->type == WEFT_T_BYTES ||
                v->type == WEFT_T_ARRAY) {
                if (v->type == WEFT_T_ARRAY &&
                    (v->u.arr.ndim > WEFT_MAX_NDIM ||
                     !weft_dtype_size(v->u.arr.dtype))) {
                    g->nins = first;
                    return add_fail(g, "a bad array value");
                }
                size_t nb = value_bytes(v);
                sv.buf_off = pool_put(
                    g, v->type == WEFT_T_ARRAY ? v->u.arr.data : v->u.buf.data,
                    nb);
                if (v->type == WEFT_T_ARRAY)
                    sv.shape_off = pool_put(g, v->u.arr.shape,
                                            v->u.arr.ndim * sizeof(int64_t));
                if (sv.buf_off == WG_NONE || sv.shape_off == WG_NONE) {
                    g->nins = first;
                    return add_fail(g, "out of memory");
                }
            } else if (v->type == WEFT_T_REF || v->type == WEFT_T_NONE) {
                g->nins = first;
                return add_fail(g, "a literal must be a plain value");
            }
        }
        g->vals[g->nvals++] = sv;
        g->ins[g->nins++] = s;
    }
    g->nodes[g->nnodes] = n;
    return (wg_node)g->nnodes++;
}

/* The literal or reference s as a value pointing into the pool. */
static weft_value literal(const wg_graph *g, const stored_val *s)
{
    weft_value v = s->value;
    if (s->buf_off == WG_NONE)
        return v;
    if (v.type == WEFT_T_ARRAY) {
        v.u.arr.data = g->pool + s->buf_off;
        v.u.arr.shape = (const int64_t *)(g->pool + s->shape_off);
    } else {
        v.u.buf.data = g->pool + s->buf_off;
    }
    return v;
}

/* ------------------------------------------------------------ plans */

/* Roots that are not tasks: a persisted node (its object is used) and an
 * inline node (copied into each consumer's task). */
#define WG_PERSIST (UINT32_MAX - 1)
#define WG_INLINE (UINT32_MAX - 2)

/* Culling and fusion: root[i] is the node whose task runs node i
 * (WG_NONE: not needed); next[i] chains a group's nodes in order. */
typedef struct plan {
    uint32_t *root, *first, *next, *last;
    size_t needed, tasks, persisted;
    /* a group's steps: its own nodes with copies of the inline nodes
     * they use placed before their first use */
    uint32_t *order, *stepof, *stamp, gen;
    size_t norder;
} plan;

static void plan_free(plan *p)
{
    free(p->root);
    free(p->first);
    free(p->next);
    free(p->last);
    free(p->order);
    free(p->stepof);
    free(p->stamp);
}

/* A group's nodes' inputs, at most (weft_submit takes 4096 arguments,
 * one of them the program). */
#define WG_GROUP_ARGS 4000

static weft_err make_plan(const wg_graph *g, const wg_node *outs, size_t n,
                          bool no_fusion, plan *p)
{
    size_t nn = g->nnodes;
    memset(p, 0, sizeof *p);
    uint32_t *cons = calloc(nn + 1, sizeof *cons);
    uint32_t *user = malloc((nn + 1) * sizeof *user);
    uint8_t *want = calloc(nn + 1, 1);           /* 1 needed, 2 requested */
    uint32_t *gin = calloc(nn + 1, sizeof *gin); /* inputs of a group */
    uint32_t *nodein = calloc(nn + 1, sizeof *nodein); /* non-inline node
                                                          inputs of a node */
    p->root = malloc((nn + 1) * sizeof *p->root);
    p->first = malloc((nn + 1) * sizeof *p->first);
    p->next = malloc((nn + 1) * sizeof *p->next);
    p->last = malloc((nn + 1) * sizeof *p->last);
    p->order = malloc((nn + 1) * sizeof *p->order);
    p->stepof = malloc((nn + 1) * sizeof *p->stepof);
    p->stamp = calloc(nn + 1, sizeof *p->stamp);
    weft_err e = 0;
    if (!cons || !user || !want || !gin || !nodein || !p->root || !p->first ||
        !p->next || !p->last || !p->order || !p->stepof || !p->stamp) {
        e = WEFT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (outs[i] >= nn) {
            e = WEFT_EINVAL;
            goto out;
        }
        want[outs[i]] = 2;
    }
    /* needed: reverse order works, inputs come before their users; what
     * only a persisted node used is culled */
    for (size_t i = nn; i-- > 0;) {
        if (!want[i])
            continue;
        p->needed++;
        const node *x = &g->nodes[i];
        if (x->persisted) {
            p->persisted++;
            continue;
        }
        for (uint32_t k = 0; k < x->nin; k++) {
            const stored_in *s = &g->ins[x->in_first + k];
            if (s->kind != WG_IN_NODE)
                continue;
            if (!want[s->node])
                want[s->node] = 1;
            cons[s->node]++;
            user[s->node] = (uint32_t)i;
            nodein[i] += !g->nodes[s->node].inl;
        }
    }
    for (size_t i = nn; i-- > 0;) {
        p->root[i] = p->first[i] = p->next[i] = p->last[i] = WG_NONE;
        if (!want[i])
            continue;
        const node *x = &g->nodes[i];
        if (x->persisted) {
            p->root[i] = WG_PERSIST;
            continue;
        }
        if (x->inl && !no_fusion && want[i] != 2) {
            p->root[i] = WG_INLINE;
            continue;
        }
        /* chains fuse; a node reading several nodes keeps its own task,
         * or its producers would run one after the other in it (and a
         * wide fan-in would become one serial task) */
        const node *u = &g->nodes[user[i]];
        bool own = no_fusion || want[i] == 2 || !x->fusible || cons[i] != 1 ||
                   !u->fusible || p->root[user[i]] == WG_INLINE ||
                   nodein[user[i]] > 1 ||
                   gin[p->root[user[i]]] + x->nin > WG_GROUP_ARGS;
        p->root[i] = own ? (uint32_t)i : p->root[user[i]];
        gin[p->root[i]] += x->nin; /* a task takes at most 4096 arguments */
    }
    for (size_t i = 0; i < nn; i++) { /* groups, their nodes in order */
        uint32_t r = p->root[i];
        if (r >= WG_INLINE)
            continue;
        if (p->first[r] == WG_NONE) {
            p->first[r] = (uint32_t)i;
            p->tasks++;
        } else {
            p->next[p->last[r]] = (uint32_t)i;
        }
        p->last[r] = (uint32_t)i;
    }
out:
    free(cons);
    free(user);
    free(want);
    free(gin);
    free(nodein);
    if (e)
        plan_free(p);
    return e;
}

/* Append node i to the current group's steps after the inline nodes it
 * uses that the group does not run yet. */
static void group_add(const wg_graph *g, plan *p, uint32_t i)
{
    const node *x = &g->nodes[i];
    for (uint32_t k = 0; k < x->nin; k++) {
        const stored_in *s = &g->ins[x->in_first + k];
        if (s->kind == WG_IN_NODE && p->root[s->node] == WG_INLINE &&
            p->stamp[s->node] != p->gen)
            group_add(g, p, s->node);
    }
    p->stamp[i] = p->gen;
    p->stepof[i] = (uint32_t)p->norder;
    p->order[p->norder++] = i;
}

/* Lay out group r's steps in p->order[0..norder). */
static void group_steps(const wg_graph *g, plan *p, uint32_t r)
{
    p->gen++;
    p->norder = 0;
    for (uint32_t i = p->first[r]; i != WG_NONE; i = p->next[i])
        group_add(g, p, i);
}

/* Whether node i's output is made inside the group laid out last. */
static bool in_group(const plan *p, uint32_t i)
{
    return p->stamp[i] == p->gen;
}

/* ------------------------------------------------------------ compute */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress_line(size_t done, size_t total, double t0, bool last)
{
    double dt = now_s() - t0;
    fprintf(stderr, "\r[weft] %zu/%zu tasks  %.0f tasks/s  %.1f s%s", done,
            total, dt > 0 ? (double)done / dt : 0.0, dt, last ? "\n" : "");
    fflush(stderr);
}

/* Wait for the n tasks, showing progress, releasing each as it finishes
 * (the tasks that still need it hold it). */
/* Wait for the n tasks in t, drawing progress on a terminal; with
 * release, each is released as it finishes (the tasks that still need it
 * hold it). t is reordered. */
static void wait_progress(weft_runtime *rt, weft_ref *t, size_t n, bool release)
{
    bool tty = isatty(STDERR_FILENO);
    double t0 = now_s(), shown = 0;
    size_t left = n;
    while (left) {
        size_t k = 0;
        for (size_t i = 0; i < left; i++) {
            if (!weft_ready(rt, t[i])) {
                weft_ref r = t[i];
                t[i] = t[k];
                t[k++] = r;
            } else if (release) {
                weft_release(rt, t[i]);
            }
        }
        left = k;
        if (tty && (!left || now_s() - shown >= 0.1)) {
            progress_line(n - left, n, t0, !left);
            shown = now_s();
        }
        if (left)
            (void)weft_wait(rt, t, left, left, 100, NULL, NULL);
    }
}

weft_err wg_wait_progress(weft_runtime *rt, const weft_ref *refs, size_t n)
{
    weft_ref *t = malloc((n ? n : 1) * sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    memcpy(t, refs, n * sizeof *t);
    wait_progress(rt, t, n, false);
    free(t);
    return 0;
}

weft_err wg_compute(wg_graph *g, const wg_node *outs, size_t n, weft_ref *refs,
                    const wg_opts *o, wg_stats *st)
{
    plan p;
    weft_err e = make_plan(g, outs, n, o && o->no_fusion, &p);
    if (e)
        return e;
    size_t nn = g->nnodes, inlined = 0;
    weft_ref *task = calloc(nn + 1, sizeof *task); /* by root */
    weft_value *args = NULL;
    size_t capargs = 0;
    if (!task)
        e = WEFT_ENOMEM;
    for (size_t r = 0; r < nn && !e; r++) {
        if (p.root[r] != r)
            continue;
        group_steps(g, &p, (uint32_t)r);
        wbuf w = {0};
        uint32_t nargs = 1;
        put32(&w, (uint32_t)p.norder);
        for (size_t si = 0; si < p.norder && !e; si++) {
            uint32_t i = p.order[si];
            const node *x = &g->nodes[i];
            inlined += p.root[i] == WG_INLINE;
            put16(&w, (uint16_t)x->kernel_len);
            put(&w, g->pool + x->kernel_off, x->kernel_len);
            put16(&w, (uint16_t)x->key_len);
            put(&w, g->pool + x->key_off, x->key_len);
            put32(&w, x->params_len);
            put(&w, g->pool + x->params_off, x->params_len);
            put32(&w, x->nin);
            for (uint32_t k = 0; k < x->nin; k++) {
                const stored_in *s = &g->ins[x->in_first + k];
                uint8_t from = 0;
                uint32_t idx;
                if (s->kind == WG_IN_NODE && in_group(&p, s->node)) {
                    from = 1;
                    idx = p.stepof[s->node];
                } else {
                    if (nargs + 1 > capargs) {
                        size_t cap = capargs ? capargs * 2 : 64;
                        weft_value *m = realloc(args, cap * sizeof *m);
                        if (!m) {
                            e = WEFT_ENOMEM;
                            break;
                        }
                        args = m;
                        capargs = cap;
                    }
                    if (s->kind == WG_IN_NODE)
                        args[nargs] = weft_refv(g->nodes[s->node].persisted
                                                    ? g->nodes[s->node].pref
                                                    : task[p.root[s->node]]);
                    else
                        args[nargs] = literal(g, &g->vals[s->node]);
                    idx = nargs++ - 1;
                }
                put(&w, &from, 1);
                put32(&w, idx);
            }
        }
        if (!e && w.fail)
            e = WEFT_ENOMEM;
        if (!e) {
            if (!args && !(args = malloc(sizeof *args)))
                e = WEFT_ENOMEM;
            else
                args[0] = weft_bytes(w.p, w.len);
        }
        if (!e)
            e = weft_submit(g->rt, "weft.graph.run", args, nargs,
                            o ? o->task : NULL, &task[r]);
        free(w.p);
    }
    if (!e)
        for (size_t i = 0; i < n && !e; i++) {
            const node *x = &g->nodes[outs[i]];
            refs[i] = x->persisted ? x->pref : task[outs[i]];
            bool again = x->persisted; /* the graph keeps its own */
            for (size_t j = 0; j < i && !again; j++)
                again = outs[j] == outs[i]; /* asked twice: a handle each */
            if (again)
                e = weft_retain(g->rt, refs[i]);
        }
    /* The tasks still to run hold their inputs: let go of the rest. */
    for (size_t r = 0; task && r < nn; r++) {
        bool asked = false;
        for (size_t i = 0; i < n && !e && !asked; i++)
            asked = outs[i] == r;
        if (task[r].id && asked)
            task[r].id = 0;
    }
    if (!e && o && o->progress) {
        size_t k = 0; /* every task, the requested ones held for the wait */
        for (size_t r = 0; r < nn; r++)
            if (task[r].id)
                task[k++] = task[r];
        for (size_t i = 0; i < n; i++)
            if (!g->nodes[outs[i]].persisted &&
                weft_retain(g->rt, refs[i]) == 0)
                task[k++] = refs[i];
        wait_progress(g->rt, task, k, true);
    } else {
        for (size_t r = 0; task && r < nn; r++)
            if (task[r].id)
                weft_release(g->rt, task[r]);
    }
    if (st) {
        st->nodes = nn;
        st->needed = p.needed;
        st->tasks = p.tasks;
        st->inlined = inlined;
        st->persisted = p.persisted;
    }
    free(task);
    free(args);
    plan_free(&p);
    return e;
}

weft_err wg_persist(wg_graph *g, const wg_node *outs, size_t n,
                    const wg_opts *o, wg_stats *st)
{
    weft_ref *refs = calloc(n ? n : 1, sizeof *refs);
    if (!refs)
        return WEFT_ENOMEM;
    weft_err e = wg_compute(g, outs, n, refs, o, st);
    for (size_t i = 0; i < n && !e; i++) {
        node *x = &g->nodes[outs[i]];
        if (x->persisted) {
            weft_release(g->rt, refs[i]); /* already kept, or twice */
        } else {
            x->persisted = true;
            x->pref = refs[i];
        }
    }
    free(refs);
    return e;
}

/* ------------------------------------------------------------ graphviz */

static void dot_key(const wg_graph *g, uint32_t i, FILE *f)
{
    const node *x = &g->nodes[i];
    for (uint32_t c = 0; c < x->key_len; c++) {
        char ch = (char)g->pool[x->key_off + c];
        if (ch == '"' || ch == '\\')
            fputc('\\', f);
        fputc(ch == '\n' ? ' ' : ch, f);
    }
}

weft_err wg_write_dot(wg_graph *g, const wg_node *outs, size_t n,
                      bool no_fusion, FILE *f)
{
    plan p;
    weft_err e = make_plan(g, outs, n, no_fusion, &p);
    if (e)
        return e;
    fprintf(f, "digraph weft {\n  rankdir=BT;\n  node [shape=box, "
               "fontname=\"monospace\"];\n");
    for (size_t i = 0; i < g->nnodes; i++)
        if (p.root[i] == WG_PERSIST) {
            fprintf(f, "  p%zu [shape=ellipse, label=\"", i);
            dot_key(g, (uint32_t)i, f);
            fprintf(f, "\\n(persisted)\"];\n");
        }
    for (size_t r = 0; r < g->nnodes; r++) {
        if (p.root[r] != r)
            continue;
        group_steps(g, &p, (uint32_t)r);
        fprintf(f, "  t%zu [label=\"", r);
        for (size_t si = 0; si < p.norder; si++) {
            dot_key(g, p.order[si], f);
            fprintf(f, "%s", si + 1 < p.norder ? "\\n" : "");
        }
        fprintf(f, "\"];\n");
        /* one edge per value passed in from another task or object */
        for (size_t si = 0; si < p.norder; si++) {
            const node *x = &g->nodes[p.order[si]];
            for (uint32_t k = 0; k < x->nin; k++) {
                const stored_in *s = &g->ins[x->in_first + k];
                if (s->kind != WG_IN_NODE || in_group(&p, s->node))
                    continue;
                if (p.root[s->node] == WG_PERSIST)
                    fprintf(f, "  p%u -> t%zu;\n", s->node, r);
                else
                    fprintf(f, "  t%u -> t%zu;\n", p.root[s->node], r);
            }
        }
    }
    fprintf(f, "}\n");
    plan_free(&p);
    return ferror(f) ? WEFT_EIO : 0;
}

extern char **environ;

weft_err wg_write_svg(wg_graph *g, const wg_node *outs, size_t n,
                      bool no_fusion, const char *path)
{
    char dot[] = "/tmp/weft_graph_XXXXXX";
    int fd = mkstemp(dot);
    if (fd < 0)
        return WEFT_ESYS;
    FILE *f = fdopen(fd, "w");
    weft_err e = f ? wg_write_dot(g, outs, n, no_fusion, f) : WEFT_ESYS;
    if (f && fclose(f) != 0 && !e)
        e = WEFT_EIO;
    if (!e) {
        char *argv[] = {"dot", "-Tsvg", "-o", (char *)path, dot, NULL};
        pid_t pid;
        int ws;
        if (posix_spawnp(&pid, "dot", NULL, NULL, argv, environ) != 0)
            e = WEFT_ESYS; /* Graphviz is not installed */
        else if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) ||
                 WEXITSTATUS(ws) != 0)
            e = WEFT_EIO;
    }
    unlink(dot);
    return e;
}
