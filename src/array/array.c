/* The array collection: contexts, arrays and their chunk grids, writing a
 * chunk's recipe as a program (blockwise fusion and inlining), creation,
 * and computing (see include/weft/array.h and array_int.h). */
#include "array/array_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ context */

WA_EXPORT wa_ctx *wa_ctx_new(weft_runtime *rt)
{
    if (!rt)
        return NULL;
    wa_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rt = rt;
    c->g = wg_new(rt);
    if (!c->g) {
        free(c);
        return NULL;
    }
    return c;
}

static void arr_free(wa_array *a)
{
    for (uint32_t d = 0; d < WA_MAXD; d++) {
        free(a->bounds[d]);
        free(a->sl_chunk[d]);
        free(a->sl_start[d]);
    }
    if (a->src)
        for (size_t b = 0; b < a->nblocks; b++)
            if (a->src[b].is_ref)
                weft_release(a->ctx->rt, a->src[b].ref);
    free(a->src);
    free(a->path);
    free(a->cat_arr);
    free(a->cat_chunk);
    free(a->carry);
    free(a);
}

WA_EXPORT void wa_ctx_free(wa_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->narrays; i++)
        arr_free(ctx->arrays[i]);
    free(ctx->arrays);
    wg_free(ctx->g);
    free(ctx->info);
    free(ctx->node_in);
    free(ctx);
}

WA_EXPORT const char *wa_error(const wa_ctx *ctx)
{
    return ctx ? ctx->err : "no context";
}

wa_array *wa_fail(wa_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return NULL;
}

void shape_str(char *buf, size_t n, uint32_t ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, n, "(");
    for (uint32_t d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", d ? ", " : "",
                               (long long)shape[d]);
    if (at < n)
        snprintf(buf + at, n - at, ndim == 1 ? ",)" : ")");
}

/* ------------------------------------------------------------ arrays */

static bool dtype_ok(weft_dtype dt)
{
    return dt == WEFT_DT_F64 || dt == WEFT_DT_F32 || dt == WEFT_DT_I64 ||
           dt == WEFT_DT_I32 || dt == WEFT_DT_BOOL;
}

static wa_array *arr_alloc(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                           const int64_t *shape, wa_kind kind)
{
    if (ctx->narrays == ctx->caparrays) {
        size_t cap = ctx->caparrays ? ctx->caparrays * 2 : 64;
        wa_array **m = realloc(ctx->arrays, cap * sizeof *m);
        if (!m)
            return wa_fail(ctx, "out of memory");
        ctx->arrays = m;
        ctx->caparrays = cap;
    }
    wa_array *a = calloc(1, sizeof *a);
    if (!a)
        return wa_fail(ctx, "out of memory");
    a->ctx = ctx;
    a->dtype = dt;
    a->ndim = ndim;
    if (ndim)
        memcpy(a->shape, shape, ndim * sizeof *shape);
    a->kind = kind;
    a->name = "array";
    a->nblocks = 1;
    ctx->arrays[ctx->narrays++] = a;
    return a;
}

wa_array *arr_new_bounds(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                         const int64_t *shape, const size_t *nb,
                         int64_t *const *bounds, wa_kind kind)
{
    wa_array *a = arr_alloc(ctx, dt, ndim, shape, kind);
    if (!a)
        return NULL;
    for (uint32_t d = 0; d < ndim; d++) {
        a->nb[d] = nb[d];
        a->bounds[d] = malloc((nb[d] + 1) * sizeof(int64_t));
        if (!a->bounds[d])
            return wa_fail(ctx, "out of memory");
        memcpy(a->bounds[d], bounds[d], (nb[d] + 1) * sizeof(int64_t));
        a->nblocks *= nb[d];
    }
    return a;
}

wa_array *arr_new(wa_ctx *ctx, const char *what, weft_dtype dt, uint32_t ndim,
                  const int64_t *shape, const int64_t *chunks, wa_kind kind)
{
    if (!dtype_ok(dt))
        return wa_fail(ctx,
                       "%s: dtype %d is not float64, float32, int64, "
                       "int32 or bool",
                       what, (int)dt);
    if (ndim > WA_MAXD)
        return wa_fail(ctx, "%s: %u axes (at most %d)", what, ndim, WA_MAXD);
    if (ndim && !shape)
        return wa_fail(ctx, "%s: no shape", what);
    int64_t total = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return wa_fail(ctx, "%s: axis %u has length %lld", what, d,
                           (long long)shape[d]);
        if (shape[d] && total > INT64_MAX / shape[d])
            return wa_fail(ctx, "%s: too many elements", what);
        total *= shape[d];
    }
    size_t nb[WA_MAXD];
    int64_t *bounds[WA_MAXD] = {0};
    size_t blocks = 1;
    wa_array *a = NULL;
    for (uint32_t d = 0; d < ndim; d++) {
        int64_t c = chunks && chunks[d] > 0 ? chunks[d] : shape[d];
        if (c == 0)
            c = 1;
        nb[d] = shape[d] ? (size_t)((shape[d] + c - 1) / c) : 1;
        blocks *= nb[d];
        if (blocks > (size_t)1 << 26) {
            wa_fail(ctx, "%s: more than 2^26 chunks", what);
            goto out;
        }
        bounds[d] = malloc((nb[d] + 1) * sizeof(int64_t));
        if (!bounds[d]) {
            wa_fail(ctx, "out of memory");
            goto out;
        }
        for (size_t i = 0; i <= nb[d]; i++)
            bounds[d][i] =
                (int64_t)i * c < shape[d] ? (int64_t)i * c : shape[d];
    }
    a = arr_new_bounds(ctx, dt, ndim, shape, nb, bounds, kind);
out:
    for (uint32_t d = 0; d < ndim; d++)
        free(bounds[d]);
    return a;
}

void arr_coords(const wa_array *a, size_t b, size_t *co)
{
    for (uint32_t d = a->ndim; d-- > 0;) {
        co[d] = b % a->nb[d];
        b /= a->nb[d];
    }
}

size_t arr_linear(const wa_array *a, const size_t *co)
{
    size_t b = 0;
    for (uint32_t d = 0; d < a->ndim; d++)
        b = b * a->nb[d] + co[d];
    return b;
}

void arr_block(const wa_array *a, size_t b, int64_t *origin, int64_t *shape)
{
    size_t co[WA_MAXD];
    arr_coords(a, b, co);
    for (uint32_t d = 0; d < a->ndim; d++) {
        origin[d] = a->bounds[d][co[d]];
        shape[d] = a->bounds[d][co[d] + 1] - origin[d];
    }
}

WA_EXPORT weft_dtype wa_dtype(const wa_array *a)
{
    return a->dtype;
}

WA_EXPORT uint32_t wa_ndim(const wa_array *a)
{
    return a->ndim;
}

WA_EXPORT const int64_t *wa_shape(const wa_array *a)
{
    return a->shape;
}

WA_EXPORT int64_t wa_size(const wa_array *a)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < a->ndim; d++)
        n *= a->shape[d];
    return n;
}

WA_EXPORT size_t wa_nchunks(const wa_array *a, uint32_t axis)
{
    return axis < a->ndim ? a->nb[axis] : 0;
}

WA_EXPORT int64_t wa_chunk_len(const wa_array *a, uint32_t axis, size_t i)
{
    if (axis >= a->ndim || i >= a->nb[axis])
        return -1;
    return a->bounds[axis][i + 1] - a->bounds[axis][i];
}

/* ------------------------------------------------------------ nodes */

static bool note_node(wa_ctx *ctx, wg_node n, const wa_prog *p)
{
    if (n >= ctx->capinfo) {
        size_t cap = ctx->capinfo ? ctx->capinfo : 1024;
        while (cap <= n)
            cap *= 2;
        wa_nodeinfo *m = realloc(ctx->info, cap * sizeof *m);
        if (!m)
            return false;
        ctx->info = m;
        ctx->capinfo = cap;
    }
    if (ctx->nnode_in + p->nin > ctx->capnode_in) {
        size_t cap = ctx->capnode_in ? ctx->capnode_in : 1024;
        while (cap < ctx->nnode_in + p->nin)
            cap *= 2;
        wg_node *m = realloc(ctx->node_in, cap * sizeof *m);
        if (!m)
            return false;
        ctx->node_in = m;
        ctx->capnode_in = cap;
    }
    wa_nodeinfo *x = &ctx->info[n];
    x->ops = p->nops;
    x->in_first = (uint32_t)ctx->nnode_in;
    x->nin = 0;
    for (size_t i = 0; i < p->nin; i++)
        if (p->in[i].kind == WG_IN_NODE) {
            ctx->node_in[ctx->nnode_in++] = p->in[i].node;
            x->nin++;
        }
    if (n >= ctx->ninfo)
        ctx->ninfo = n + 1;
    return true;
}

wg_node arr_add_node(wa_ctx *ctx, wa_prog *p, bool fusible, const char *what,
                     const size_t *co, uint32_t ndim)
{
    wg_node n = UINT32_MAX;
    if (p->fail || p->nops == 0) {
        if (!ctx->err[0])
            wa_fail(ctx, "out of memory");
        goto out;
    }
    /* "what: ops (i,j)", written by hand: formatting it with snprintf
     * was a fifth of the time of building a large graph */
    char key[sizeof p->key + 64 + WA_MAXD * 21];
    size_t wl = strnlen(what, 60), at = 0;
    memcpy(key, what, wl);
    at = wl;
    key[at++] = ':';
    key[at++] = ' ';
    memcpy(key + at, p->key, p->keylen);
    at += p->keylen;
    key[at++] = ' ';
    key[at++] = '(';
    for (uint32_t d = 0; d < ndim; d++) {
        char digits[21];
        size_t nd = 0, v = co[d];
        do
            digits[nd++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        if (d)
            key[at++] = ',';
        while (nd)
            key[at++] = digits[--nd];
    }
    key[at++] = ')';
    key[at] = '\0';
    /* A node reading several other nodes stays its own task: fusing its
     * producers into it would run them one after the other. */
    size_t from_nodes = 0;
    for (size_t i = 0; i < p->nin; i++)
        from_nodes += p->in[i].kind == WG_IN_NODE;
    fusible = fusible && from_nodes <= 1;
    n = wg_add(ctx->g, "wa_blk", p->buf, p->len, p->in, p->nin, key, fusible);
    if (n == UINT32_MAX)
        wa_fail(ctx, "%s", wg_error(ctx->g));
    else if (!note_node(ctx, n, p)) {
        wa_fail(ctx, "out of memory");
        n = UINT32_MAX;
    } else {
        ctx->info[n].fusible = fusible;
    }
out:
    prog_free(p);
    return n;
}

/* ------------------------------------------------------------ emitting */

/* Cheap to recompute in every consumer (Dask inlines these). */
static bool cheap(const wa_array *a)
{
    if (a->kind == K_CREATE)
        return a->cop != OP_NPY_READ;
    if ((a->kind == K_MAP && a->op == OP_TRANSPOSE) || a->kind == K_SLICE)
        return cheap(a->in[0]);
    return false;
}

static wg_input src_input(const wa_src *s)
{
    return s->is_ref ? wg_ref_in(s->ref) : wg_node_in(s->node);
}

static uint32_t emit_body(wa_prog *p, wa_array *a, size_t b);

weft_err arr_sources(wa_array *a)
{
    if (a->src)
        return 0;
    wa_src *src = calloc(a->nblocks, sizeof *src);
    if (!src) {
        wa_fail(a->ctx, "out of memory");
        return WEFT_ENOMEM;
    }
    for (size_t b = 0; b < a->nblocks; b++) {
        wa_prog p;
        prog_init(&p);
        uint32_t slot = emit_body(&p, a, b);
        if (!p.fail && (slot & SLOT_IN) && p.nops == 0) {
            /* the chunk is another array's source as it is */
            wg_input in = p.in[slot & ~SLOT_IN];
            src[b].is_ref = in.kind == WG_IN_REF;
            src[b].node = in.node;
            src[b].ref = in.ref;
            if (src[b].is_ref && weft_retain(a->ctx->rt, in.ref))
                p.fail = true;
            prog_free(&p);
            if (!p.fail)
                continue;
        }
        size_t co[WA_MAXD];
        arr_coords(a, b, co);
        src[b].node =
            p.fail ? UINT32_MAX
                   : arr_add_node(a->ctx, &p, true, a->name, co, a->ndim);
        if (src[b].node == UINT32_MAX) {
            prog_free(&p);
            for (size_t k = 0; k < b; k++)
                if (src[k].is_ref)
                    weft_release(a->ctx->rt, src[k].ref);
            free(src);
            if (!a->ctx->err[0])
                wa_fail(a->ctx, "out of memory");
            return WEFT_ENOMEM;
        }
    }
    a->src = src;
    return 0;
}

uint32_t arr_emit(wa_prog *p, wa_array *a, size_t b)
{
    for (size_t i = 0; i < p->nmemo; i++)
        if (p->memo[i].a == a && p->memo[i].b == b) {
            p->hits += !(p->memo[i].slot & SLOT_IN);
            return p->memo[i].slot;
        }
    if (!a->src && a->uses > 1 && !cheap(a) && arr_sources(a)) {
        p->fail = true;
        return 0;
    }
    uint32_t slot =
        a->src ? prog_input(p, src_input(&a->src[b])) : emit_body(p, a, b);
    if (p->nmemo == p->capmemo) {
        size_t cap = p->capmemo ? p->capmemo * 2 : 8;
        struct memo *m = realloc(p->memo, cap * sizeof *m);
        if (!m) {
            p->fail = true;
            return slot;
        }
        p->memo = m;
        p->capmemo = cap;
    }
    p->memo[p->nmemo].a = a;
    p->memo[p->nmemo].b = b;
    p->memo[p->nmemo++].slot = slot;
    return slot;
}

static uint32_t emit_create(wa_prog *p, wa_array *a, size_t b)
{
    int64_t origin[WA_MAXD] = {0}, shape[WA_MAXD] = {0};
    arr_block(a, b, origin, shape);
    switch (a->cop) {
    case OP_FULL: {
        op_full f = a->c.full;
        memcpy(f.shape, shape, sizeof shape);
        return prog_op(p, OP_FULL, &f, sizeof f, NULL, 0, NULL, 0);
    }
    case OP_ARANGE: {
        op_arange f = a->c.arange;
        f.offset = origin[0];
        f.n = shape[0];
        return prog_op(p, OP_ARANGE, &f, sizeof f, NULL, 0, NULL, 0);
    }
    case OP_LINSPACE: {
        op_linspace f = a->c.lin;
        f.offset = origin[0];
        f.n = shape[0];
        return prog_op(p, OP_LINSPACE, &f, sizeof f, NULL, 0, NULL, 0);
    }
    case OP_RANDOM: {
        op_random f = a->c.rnd;
        memcpy(f.origin, origin, sizeof origin);
        memcpy(f.chunk, shape, sizeof shape);
        return prog_op(p, OP_RANDOM, &f, sizeof f, NULL, 0, NULL, 0);
    }
    case OP_NPY_READ: {
        op_npy f = a->c.npy;
        memcpy(f.origin, origin, sizeof origin);
        memcpy(f.shape, shape, sizeof shape);
        return prog_op(p, OP_NPY_READ, &f, sizeof f, a->path, f.pathlen, NULL,
                       0);
    }
    default:
        p->fail = true;
        return 0;
    }
}

static uint32_t emit_body(wa_prog *p, wa_array *a, size_t b)
{
    size_t co[WA_MAXD] = {0}, ci[WA_MAXD] = {0};
    int64_t origin[WA_MAXD] = {0}, shape[WA_MAXD] = {0};
    arr_coords(a, b, co);
    arr_block(a, b, origin, shape);
    switch (a->kind) {
    case K_SOURCE:
        return prog_input(p, src_input(&a->src[b]));
    case K_CREATE:
        return emit_create(p, a, b);
    case K_MAP: {
        uint32_t in[3];
        for (uint32_t i = 0; i < a->nin; i++) {
            const wa_array *x = a->in[i];
            for (uint32_t j = 0; j < x->ndim; j++)
                ci[j] = a->axis_map[i][j] < 0 ? 0 : co[a->axis_map[i][j]];
            in[i] = arr_emit(p, a->in[i], arr_linear(x, ci));
        }
        if (a->op == OP_WHERE)
            return prog_op(p, OP_WHERE, NULL, 0, NULL, 0, in, 3);
        if (a->op == OP_TRANSPOSE)
            return prog_op(p, a->op, &a->p.axes, sizeof a->p.axes, NULL, 0, in,
                           1);
        return prog_op(p, a->op, &a->p.code, sizeof a->p.code, NULL, 0, in,
                       a->nin);
    }
    case K_SLICE: {
        op_slice f = {.ndim = (int32_t)a->ndim};
        for (uint32_t d = 0; d < a->ndim; d++) {
            ci[d] = a->sl_chunk[d][co[d]];
            f.start[d] = a->sl_start[d][co[d]];
            f.step[d] = a->sl_step[d];
            f.count[d] = shape[d];
        }
        uint32_t in = arr_emit(p, a->in[0], arr_linear(a->in[0], ci));
        return prog_op(p, OP_SLICE, &f, sizeof f, NULL, 0, &in, 1);
    }
    case K_CONCAT: {
        uint32_t ax = a->cat_axis, k = 0;
        wa_array *x = a->in[a->cat_arr[co[ax]]];
        for (uint32_t d = 0; d < a->ndim; d++) {
            if (d == ax && a->stack)
                continue;
            ci[k++] = d == ax ? a->cat_chunk[co[ax]] : co[d];
        }
        uint32_t in = arr_emit(p, x, arr_linear(x, ci));
        if (!a->stack)
            return in;
        op_axes f = {.ndim = (int32_t)a->ndim};
        memcpy(f.v, shape, sizeof shape);
        return prog_op(p, OP_RESHAPE, &f, sizeof f, NULL, 0, &in, 1);
    }
    case K_RECHUNK: {
        wa_array *x = a->in[0];
        size_t lo[WA_MAXD] = {0}, hi[WA_MAXD] = {0}, n = 1;
        for (uint32_t d = 0; d < a->ndim; d++) {
            const int64_t *xb = x->bounds[d];
            int64_t s = origin[d], e = origin[d] + shape[d];
            size_t i = 0;
            while (i + 1 < x->nb[d] && xb[i + 1] <= s)
                i++;
            lo[d] = i;
            while (i + 1 < x->nb[d] && xb[i + 1] < e)
                i++;
            hi[d] = i + 1;
            n *= hi[d] - lo[d];
        }
        uint32_t *in = malloc(n * sizeof *in);
        op_box *box = malloc(n * sizeof *box);
        if (!in || !box) {
            free(in);
            free(box);
            p->fail = true;
            return 0;
        }
        size_t cur[WA_MAXD];
        memcpy(cur, lo, sizeof cur);
        for (size_t k = 0; k < n; k++) {
            memset(&box[k], 0, sizeof box[k]);
            for (uint32_t d = 0; d < a->ndim; d++) {
                int64_t xs = x->bounds[d][cur[d]],
                        xe = x->bounds[d][cur[d] + 1];
                int64_t s = xs > origin[d] ? xs : origin[d];
                int64_t e =
                    xe < origin[d] + shape[d] ? xe : origin[d] + shape[d];
                box[k].src[d] = s - xs;
                box[k].dst[d] = s - origin[d];
                box[k].shape[d] = e > s ? e - s : 0;
            }
            in[k] = arr_emit(p, x, arr_linear(x, cur));
            for (uint32_t d = a->ndim; d-- > 0;) {
                if (++cur[d] < hi[d])
                    break;
                cur[d] = lo[d];
            }
        }
        op_assemble f = {.dt = (int32_t)a->dtype, .ndim = (int32_t)a->ndim};
        memcpy(f.shape, shape, sizeof shape);
        uint32_t r = prog_op(p, OP_ASSEMBLE, &f, sizeof f, box, n * sizeof *box,
                             in, (uint32_t)n);
        free(in);
        free(box);
        return r;
    }
    case K_RESHAPE: {
        uint32_t in = arr_emit(p, a->in[0], b);
        op_axes f = {.ndim = (int32_t)a->ndim};
        memcpy(f.v, shape, sizeof shape);
        return prog_op(p, OP_RESHAPE, &f, sizeof f, NULL, 0, &in, 1);
    }
    case K_CUMSUM: {
        uint32_t in[2];
        in[0] = arr_emit(p, a->in[0], b);
        op_cumsum f = {.axis = (int32_t)a->cum_axis};
        if (a->carry[b] != UINT32_MAX) {
            in[1] = prog_input(p, wg_node_in(a->carry[b]));
            f.carry = 1;
        }
        return prog_op(p, OP_CUMSUM, &f, sizeof f, NULL, 0, in,
                       1u + (uint32_t)f.carry);
    }
    }
    p->fail = true;
    return 0;
}

/* ------------------------------------------------------------ creation */

static wa_array *create(wa_ctx *ctx, const char *what, weft_dtype dt,
                        uint32_t ndim, const int64_t *shape,
                        const int64_t *chunks, wa_opcode op)
{
    if (!ctx)
        return NULL;
    ctx->err[0] = '\0';
    wa_array *a = arr_new(ctx, what, dt, ndim, shape, chunks, K_CREATE);
    if (a) {
        a->cop = op;
        a->name = what;
    }
    return a;
}

WA_EXPORT wa_array *wa_full(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                            const int64_t *shape, const int64_t *chunks,
                            double value)
{
    wa_array *a = create(ctx, "full", dt, ndim, shape, chunks, OP_FULL);
    if (a) {
        a->c.full.dt = (int32_t)dt;
        a->c.full.ndim = (int32_t)ndim;
        a->c.full.value = value;
    }
    return a;
}

WA_EXPORT wa_array *wa_zeros(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                             const int64_t *shape, const int64_t *chunks)
{
    wa_array *a = wa_full(ctx, dt, ndim, shape, chunks, 0.0);
    if (a)
        a->name = "zeros";
    return a;
}

WA_EXPORT wa_array *wa_ones(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                            const int64_t *shape, const int64_t *chunks)
{
    wa_array *a = wa_full(ctx, dt, ndim, shape, chunks, 1.0);
    if (a)
        a->name = "ones";
    return a;
}

WA_EXPORT wa_array *wa_scalar(wa_ctx *ctx, double value)
{
    wa_array *a = wa_full(ctx, WEFT_DT_F64, 0, NULL, NULL, value);
    if (a) {
        a->weak = true;
        a->scalar = value;
        a->name = "scalar";
    }
    return a;
}

WA_EXPORT wa_array *wa_arange(wa_ctx *ctx, double start, double stop,
                              double step, weft_dtype dt, int64_t chunk)
{
    if (!ctx)
        return NULL;
    if (step == 0 || step != step || start != start || stop != stop)
        return wa_fail(ctx, "arange: step must be a nonzero number");
    double n = ceil((stop - start) / step);
    if (n > 1e15)
        return wa_fail(ctx, "arange: too many elements");
    int64_t len = n > 0 ? (int64_t)n : 0;
    wa_array *a = create(ctx, "arange", dt, 1, &len, &chunk, OP_ARANGE);
    if (a) {
        a->c.arange.start = start;
        a->c.arange.step = step;
        a->c.arange.dt = (int32_t)dt;
    }
    return a;
}

WA_EXPORT wa_array *wa_linspace(wa_ctx *ctx, double start, double stop,
                                int64_t num, bool endpoint, int64_t chunk)
{
    if (!ctx)
        return NULL;
    if (num < 0)
        return wa_fail(ctx, "linspace: num %lld is negative", (long long)num);
    wa_array *a =
        create(ctx, "linspace", WEFT_DT_F64, 1, &num, &chunk, OP_LINSPACE);
    if (a) {
        a->c.lin.start = start;
        a->c.lin.stop = stop;
        a->c.lin.num = num;
        a->c.lin.endpoint = endpoint;
    }
    return a;
}

static wa_array *random_arr(wa_ctx *ctx, wf_rng_dist dist, uint64_t seed,
                            double x, double y, uint32_t ndim,
                            const int64_t *shape, const int64_t *chunks)
{
    const char *what =
        dist == WF_RNG_UNIFORM ? "random_uniform" : "random_normal";
    wa_array *a =
        create(ctx, what, WEFT_DT_F64, ndim, shape, chunks, OP_RANDOM);
    if (a) {
        a->c.rnd.dist = (int32_t)dist;
        a->c.rnd.ndim = (int32_t)ndim;
        a->c.rnd.seed = seed;
        a->c.rnd.a = x;
        a->c.rnd.b = y;
        if (ndim)
            memcpy(a->c.rnd.gshape, shape, ndim * sizeof *shape);
        a->name = "random";
    }
    return a;
}

WA_EXPORT wa_array *wa_random_uniform(wa_ctx *ctx, uint64_t seed, double low,
                                      double high, uint32_t ndim,
                                      const int64_t *shape,
                                      const int64_t *chunks)
{
    if (ctx && !(low <= high))
        return wa_fail(ctx, "random_uniform: low %g > high %g", low, high);
    return random_arr(ctx, WF_RNG_UNIFORM, seed, low, high, ndim, shape,
                      chunks);
}

WA_EXPORT wa_array *wa_random_normal(wa_ctx *ctx, uint64_t seed, double mean,
                                     double std, uint32_t ndim,
                                     const int64_t *shape,
                                     const int64_t *chunks)
{
    if (ctx && !(std >= 0))
        return wa_fail(ctx, "random_normal: std %g is negative", std);
    return random_arr(ctx, WF_RNG_NORMAL, seed, mean, std, ndim, shape, chunks);
}

WA_EXPORT wa_array *wa_from_buffer(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                                   const int64_t *shape, const void *data,
                                   const int64_t *chunks)
{
    if (!ctx)
        return NULL;
    ctx->err[0] = '\0';
    wa_array *a =
        arr_new(ctx, "from_buffer", dt, ndim, shape, chunks, K_SOURCE);
    if (!a)
        return NULL;
    a->name = "from_buffer";
    if (!data && wa_size(a) > 0)
        return wa_fail(ctx, "from_buffer: no data");
    a->src = calloc(a->nblocks, sizeof *a->src);
    if (!a->src)
        return wa_fail(ctx, "out of memory");
    wf_nd whole = wf_nd_view(dt, ndim, shape, data);
    for (size_t b = 0; b < a->nblocks; b++) {
        int64_t origin[WA_MAXD] = {0}, bs[WA_MAXD] = {0}, zero[WA_MAXD] = {0};
        arr_block(a, b, origin, bs);
        wf_nd blk;
        weft_err e = wf_nd_alloc(&blk, dt, ndim, bs, false);
        if (!e && ndim == 0 && wf_nd_bytes(&blk))
            memcpy(blk.data, data, wf_nd_bytes(&blk));
        else if (!e && wf_nd_size(&blk))
            e = wf_nd_copy_block(&whole, origin, &blk, zero, bs);
        if (!e) {
            weft_value v = wf_nd_value(&blk);
            e = weft_put(ctx->rt, &v, &a->src[b].ref);
            a->src[b].is_ref = e == 0;
        }
        wf_nd_free(&blk);
        if (e)
            return wa_fail(ctx, "from_buffer: chunk %zu: %s", b,
                           weft_strerror(e));
    }
    return a;
}

WA_EXPORT wa_array *wa_from_npy(wa_ctx *ctx, const char *path,
                                const int64_t *chunks)
{
    if (!ctx)
        return NULL;
    ctx->err[0] = '\0';
    wf_npy_header h;
    if (!path || strlen(path) > 4096)
        return wa_fail(ctx, "from_npy: no path or a path too long");
    if (wf_npy_read_header(path, &h))
        return wa_fail(ctx, "from_npy: %s", wf_nd_error());
    if (h.fortran_order)
        return wa_fail(ctx,
                       "from_npy: %s is in Fortran order (only C order "
                       "files are read by chunks)",
                       path);
    if (h.dtype == WEFT_DT_U8)
        return wa_fail(ctx, "from_npy: %s holds uint8 (not an array dtype)",
                       path);
    wa_array *a =
        create(ctx, "from_npy", h.dtype, h.ndim, h.shape, chunks, OP_NPY_READ);
    if (!a)
        return NULL;
    a->c.npy.h = h;
    a->c.npy.pathlen = (uint32_t)strlen(path);
    a->path = strdup(path);
    if (!a->path)
        return wa_fail(ctx, "out of memory");
    a->name = "npy";
    return a;
}

/* ------------------------------------------------------------ computing */

static weft_err compute_err(wa_ctx *ctx, weft_err e, const char *what)
{
    if (!ctx->err[0])
        snprintf(ctx->err, sizeof ctx->err, "%s: %s", what, weft_strerror(e));
    return e;
}

/* Start every chunk of arrays[0..n): *refs (sum of nblocks, in order) are
 * the chunks' objects, each yours to release. */
static weft_err start_all(wa_array *const *arrays, size_t n, weft_ref **refs)
{
    wa_ctx *ctx = arrays[0]->ctx;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (arrays[i]->ctx != ctx) {
            wa_fail(ctx, "compute: arrays of different contexts");
            return WEFT_EINVAL;
        }
        weft_err e = arr_sources(arrays[i]);
        if (e)
            return e;
        total += arrays[i]->nblocks;
    }
    weft_ref *r = calloc(total + 1, sizeof *r);
    wg_node *nodes = malloc((total + 1) * sizeof *nodes);
    size_t *at = malloc((total + 1) * sizeof *at);
    weft_ref *got = malloc((total + 1) * sizeof *got);
    weft_err e = r && nodes && at && got ? 0 : WEFT_ENOMEM;
    size_t nn = 0, k = 0;
    for (size_t i = 0; i < n && !e; i++)
        for (size_t b = 0; b < arrays[i]->nblocks && !e; b++, k++) {
            const wa_src *s = &arrays[i]->src[b];
            if (s->is_ref) {
                r[k] = s->ref;
                e = weft_retain(ctx->rt, s->ref);
            } else {
                at[nn] = k;
                nodes[nn++] = s->node;
            }
        }
    if (!e && nn)
        e = wg_compute(ctx->g, nodes, nn, got, NULL, NULL);
    if (!e)
        for (size_t j = 0; j < nn; j++)
            r[at[j]] = got[j];
    if (e) {
        for (size_t j = 0; r && j < total; j++)
            if (r[j].id)
                weft_release(ctx->rt, r[j]);
        free(r);
        r = NULL;
        compute_err(ctx, e, "compute");
    }
    free(nodes);
    free(at);
    free(got);
    *refs = r;
    return e;
}

/* Wait for chunk ref r of a and view it; checks its dtype and shape. */
static weft_err get_chunk(wa_array *a, size_t b, weft_ref r, wf_nd *view)
{
    wa_ctx *ctx = a->ctx;
    weft_value v;
    weft_err e = weft_get(ctx->rt, r, &v, WEFT_FOREVER);
    if (e) {
        const char *m = weft_error_message(ctx->rt, r);
        snprintf(ctx->err, sizeof ctx->err, "%s", m ? m : weft_strerror(e));
        return e;
    }
    int64_t origin[WA_MAXD] = {0}, shape[WA_MAXD] = {0};
    arr_block(a, b, origin, shape);
    bool ok = wf_nd_from_value(&v, view) && view->ndim == a->ndim;
    for (uint32_t d = 0; ok && d < a->ndim; d++)
        ok = view->shape[d] == shape[d];
    if (!ok) {
        char want[128];
        shape_str(want, sizeof want, a->ndim, shape);
        snprintf(ctx->err, sizeof ctx->err,
                 "compute: chunk %zu of '%s' came back with another shape "
                 "than %s",
                 b, a->name, want);
        return WEFT_EPROTO;
    }
    return 0;
}

/* Wait for a's chunk refs, copy each into out (a's dtype and shape) and
 * release them all, also after a failure. */
static weft_err assemble(wa_array *a, const weft_ref *refs, wf_nd *out,
                         weft_err e)
{
    for (size_t b = 0; b < a->nblocks; b++) {
        wf_nd view;
        if (!e)
            e = get_chunk(a, b, refs[b], &view);
        if (!e && a->ndim == 0) {
            wf_nd conv;
            e = wf_nd_astype(&view, a->dtype, &conv);
            if (!e)
                memcpy(out->data, conv.data, wf_nd_bytes(out));
            wf_nd_free(&conv);
        }
        if (!e && a->ndim > 0 && wf_nd_size(&view)) {
            int64_t origin[WA_MAXD] = {0}, shape[WA_MAXD] = {0},
                    zero[WA_MAXD] = {0};
            arr_block(a, b, origin, shape);
            e = wf_nd_copy_block(&view, zero, out, origin, shape);
        }
        weft_release(a->ctx->rt, refs[b]);
    }
    return e;
}

WA_EXPORT weft_err wa_compute_many(wa_array *const *arrays, size_t n,
                                   wa_buffer *outs)
{
    if (!arrays || !n || !arrays[0] || !outs)
        return WEFT_EINVAL;
    for (size_t i = 0; i < n; i++)
        memset(&outs[i], 0, sizeof outs[i]);
    wa_ctx *ctx = arrays[0]->ctx;
    ctx->err[0] = '\0';
    weft_ref *refs;
    weft_err e = start_all(arrays, n, &refs);
    if (e)
        return e;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        wa_array *a = arrays[i];
        wf_nd out = {0};
        if (!e)
            e = wf_nd_alloc(&out, a->dtype, a->ndim, a->shape, false);
        e = assemble(a, refs + k, &out, e);
        k += a->nblocks;
        outs[i].dtype = out.dtype;
        outs[i].ndim = out.ndim;
        memcpy(outs[i].shape, out.shape, sizeof out.shape);
        outs[i].data = out.data;
    }
    free(refs);
    if (e) {
        for (size_t i = 0; i < n; i++)
            wa_buffer_free(&outs[i]);
        compute_err(ctx, e, "compute");
    }
    return e;
}

WA_EXPORT weft_err wa_compute(wa_array *a, wa_buffer *out)
{
    if (!a)
        return WEFT_EINVAL;
    return wa_compute_many(&a, 1, out);
}

WA_EXPORT weft_err wa_compute_into(wa_array *a, void *data, size_t bytes)
{
    if (!a)
        return WEFT_EINVAL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    wf_nd out = wf_nd_view(a->dtype, a->ndim, a->shape, data);
    size_t need = wf_nd_bytes(&out);
    if (bytes != need || (!data && need)) {
        wa_fail(ctx, "compute_into: '%s' takes %zu bytes, the buffer has %zu%s",
                a->name, need, bytes, data ? "" : " (NULL)");
        return WEFT_EINVAL;
    }
    weft_ref *refs;
    weft_err e = start_all(&a, 1, &refs);
    if (e)
        return e;
    e = assemble(a, refs, &out, 0);
    free(refs);
    if (e)
        compute_err(ctx, e, "compute_into");
    return e;
}

WA_EXPORT void wa_buffer_free(wa_buffer *out)
{
    if (!out)
        return;
    free(out->data);
    memset(out, 0, sizeof *out);
}

WA_EXPORT wa_array *wa_persist(wa_array *a)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    weft_ref *refs;
    if (start_all(&a, 1, &refs))
        return NULL;
    weft_err e = 0;
    for (size_t b = 0; b < a->nblocks && !e; b++) {
        wf_nd view;
        e = get_chunk(a, b, refs[b], &view);
    }
    wa_array *p = NULL;
    if (!e) {
        p = arr_new_bounds(ctx, a->dtype, a->ndim, a->shape, a->nb, a->bounds,
                           K_SOURCE);
        if (p && !(p->src = calloc(a->nblocks, sizeof *p->src)))
            p = wa_fail(ctx, "out of memory");
    }
    for (size_t b = 0; b < a->nblocks; b++) {
        if (p) {
            p->src[b].is_ref = true;
            p->src[b].ref = refs[b];
        } else {
            weft_release(ctx->rt, refs[b]);
        }
    }
    free(refs);
    if (p)
        p->name = "persisted";
    return p;
}

WA_EXPORT weft_err wa_to_npy(wa_array *a, const char *path)
{
    if (!a || !path)
        return WEFT_EINVAL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    if (strlen(path) > 4096) {
        wa_fail(ctx, "to_npy: path too long");
        return WEFT_EINVAL;
    }
    op_npy f = {0};
    weft_err e = wf_npy_create(path, a->dtype, a->ndim, a->shape, &f.h);
    if (e) {
        wa_fail(ctx, "to_npy: %s", wf_nd_error());
        return e;
    }
    f.pathlen = (uint32_t)strlen(path);
    wg_node *nodes = malloc(a->nblocks * sizeof *nodes);
    weft_ref *refs = calloc(a->nblocks, sizeof *refs);
    if (!nodes || !refs)
        e = WEFT_ENOMEM;
    for (size_t b = 0; b < a->nblocks && !e; b++) {
        int64_t shape[WA_MAXD];
        arr_block(a, b, f.origin, shape);
        wa_prog p;
        prog_init(&p);
        uint32_t in = arr_emit(&p, a, b);
        prog_op(&p, OP_NPY_WRITE, &f, sizeof f, path, f.pathlen, &in, 1);
        size_t co[WA_MAXD];
        arr_coords(a, b, co);
        nodes[b] = arr_add_node(ctx, &p, true, "to_npy", co, a->ndim);
        if (nodes[b] == UINT32_MAX)
            e = WEFT_ENOMEM;
    }
    if (!e)
        e = wg_compute(ctx->g, nodes, a->nblocks, refs, NULL, NULL);
    for (size_t b = 0; refs && b < a->nblocks; b++) {
        if (!refs[b].id)
            continue;
        weft_value v;
        weft_err ge = weft_get(ctx->rt, refs[b], &v, WEFT_FOREVER);
        if (ge && !e) {
            const char *m = weft_error_message(ctx->rt, refs[b]);
            snprintf(ctx->err, sizeof ctx->err, "%s",
                     m ? m : weft_strerror(ge));
            e = ge;
        }
        weft_release(ctx->rt, refs[b]);
    }
    free(nodes);
    free(refs);
    return e ? compute_err(ctx, e, "to_npy") : 0;
}

/* The nodes computing a's chunks (refs are left out). */
static weft_err out_nodes(wa_array *a, wg_node **nodes, size_t *n)
{
    weft_err e = arr_sources(a);
    if (e)
        return e;
    *nodes = malloc((a->nblocks + 1) * sizeof **nodes);
    if (!*nodes)
        return WEFT_ENOMEM;
    *n = 0;
    for (size_t b = 0; b < a->nblocks; b++)
        if (!a->src[b].is_ref)
            (*nodes)[(*n)++] = a->src[b].node;
    return 0;
}

WA_EXPORT weft_err wa_visualize(wa_array *a, const char *path)
{
    if (!a || !path)
        return WEFT_EINVAL;
    wg_node *nodes;
    size_t n;
    weft_err e = out_nodes(a, &nodes, &n);
    if (e)
        return e;
    size_t pl = strlen(path);
    if (pl > 4 && strcmp(path + pl - 4, ".dot") == 0) {
        FILE *f = fopen(path, "w");
        if (!f) {
            e = WEFT_ESYS;
        } else {
            e = wg_write_dot(a->ctx->g, nodes, n, false, f);
            if (fclose(f) && !e)
                e = WEFT_EIO;
        }
    } else {
        e = wg_write_svg(a->ctx->g, nodes, n, false, path);
    }
    if (e)
        wa_fail(a->ctx, "visualize: cannot write %s (%s)%s", path,
                weft_strerror(e),
                e == WEFT_ESYS ? ": is Graphviz's dot installed?" : "");
    free(nodes);
    return e;
}

WA_EXPORT weft_err wa_get_stats(wa_array *a, wa_stats *st)
{
    if (!a || !st)
        return WEFT_EINVAL;
    memset(st, 0, sizeof *st);
    wa_ctx *ctx = a->ctx;
    wg_node *nodes;
    size_t n;
    weft_err e = out_nodes(a, &nodes, &n);
    if (e)
        return e;
    uint8_t *seen = calloc(ctx->ninfo + 1, 1);
    wg_node *stack = malloc((ctx->ninfo + 1) * sizeof *stack);
    if (!seen || !stack)
        e = WEFT_ENOMEM;
    size_t top = 0;
    for (size_t i = 0; i < n && !e; i++)
        if (!seen[nodes[i]]) {
            seen[nodes[i]] = 1;
            stack[top++] = nodes[i];
        }
    while (top && !e) {
        wg_node x = stack[--top];
        const wa_nodeinfo *inf = &ctx->info[x];
        st->graph_nodes++;
        st->chunk_ops += inf->ops;
        for (uint32_t k = 0; k < inf->nin; k++) {
            wg_node y = ctx->node_in[inf->in_first + k];
            if (!seen[y]) {
                seen[y] = 1;
                stack[top++] = y;
            }
        }
    }
    /* tasks: the graph's fusion rule (graph.c) on the needed nodes: a node
     * runs in its consumer's task when both are fusible, it has exactly one
     * consumer and it was not asked for */
    uint32_t *cons = e ? NULL : calloc(ctx->ninfo + 1, sizeof *cons);
    wg_node *user = e ? NULL : malloc((ctx->ninfo + 1) * sizeof *user);
    if (!e && (!cons || !user))
        e = WEFT_ENOMEM;
    for (size_t x = 0; !e && x < ctx->ninfo; x++) {
        if (!seen[x])
            continue;
        const wa_nodeinfo *inf = &ctx->info[x];
        for (uint32_t k = 0; k < inf->nin; k++) {
            wg_node y = ctx->node_in[inf->in_first + k];
            cons[y]++;
            user[y] = (wg_node)x;
        }
    }
    for (size_t i = 0; !e && i < n; i++)
        seen[nodes[i]] = 2;
    for (size_t x = 0; !e && x < ctx->ninfo; x++)
        if (seen[x])
            st->tasks += seen[x] == 2 || !ctx->info[x].fusible ||
                         cons[x] != 1 || !ctx->info[user[x]].fusible;
    free(cons);
    free(user);
    free(seen);
    free(stack);
    free(nodes);
    return e;
}
