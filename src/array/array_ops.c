/* Blockwise operations (elementwise with broadcasting, astype, where,
 * transpose) and layout (slicing, concatenate/stack, rechunk, reshape):
 * each builds an array whose chunks are recipes over other arrays' chunks
 * (array_int.h). */
#include "array/array_int.h"

#include <stdlib.h>
#include <string.h>

_Static_assert((int)WA_XOR == (int)WF_XOR && (int)WA_GE == (int)WF_GE,
               "wa_binop mirrors wf_binop");
_Static_assert((int)WA_ISFINITE == (int)WF_ISFINITE &&
                   (int)WA_NOT == (int)WF_NOT,
               "wa_unop mirrors wf_unop");

static bool is_float(weft_dtype d)
{
    return d == WEFT_DT_F64 || d == WEFT_DT_F32;
}

static bool is_int(weft_dtype d)
{
    return d == WEFT_DT_I64 || d == WEFT_DT_I32;
}

static const char *binop_name(wa_binop op)
{
    static const char *const n[] = {
        "add",         "subtract",   "multiply",   "divide",  "floor_divide",
        "mod",         "power",      "minimum",    "maximum", "equal",
        "not_equal",   "less",       "less_equal", "greater", "greater_equal",
        "logical_and", "logical_or", "logical_xor"};
    return (unsigned)op < sizeof n / sizeof *n ? n[op] : "binary";
}

static const char *unop_name(wa_unop op)
{
    static const char *const n[] = {
        "negative", "absolute", "square",  "sqrt",  "exp",  "log",
        "log10",    "log1p",    "expm1",   "sin",   "cos",  "tan",
        "arcsin",   "arccos",   "arctan",  "sinh",  "cosh", "tanh",
        "floor",    "ceil",     "round",   "trunc", "sign", "logical_not",
        "isnan",    "isinf",    "isfinite"};
    return (unsigned)op < sizeof n / sizeof *n ? n[op] : "unary";
}

/* The union of two sorted bound lists (common chunks, as Dask's
 * unify_chunks). */
static int64_t *merge_bounds(const int64_t *x, size_t nx, const int64_t *y,
                             size_t ny, size_t *nout)
{
    int64_t *m = malloc((nx + ny + 2) * sizeof *m);
    if (!m)
        return NULL;
    size_t i = 0, j = 0, k = 0;
    while (i <= nx || j <= ny) {
        int64_t v;
        if (j > ny || (i <= nx && x[i] <= y[j]))
            v = x[i++];
        else
            v = y[j++];
        if (k == 0 || m[k - 1] != v)
            m[k++] = v;
    }
    *nout = k - 1;
    if (k == 1) { /* an empty axis: one chunk of 0 */
        m[1] = m[0];
        *nout = 1;
    }
    return m;
}

static bool same_bounds(const wa_array *a, uint32_t d, size_t nb,
                        const int64_t *b)
{
    return a->nb[d] == nb && memcmp(a->bounds[d], b, (nb + 1) * sizeof *b) == 0;
}

wa_array *arr_rechunk_bounds(wa_array *a, const size_t *nb,
                             int64_t *const *bounds)
{
    bool same = true;
    for (uint32_t d = 0; d < a->ndim && same; d++)
        same = same_bounds(a, d, nb[d], bounds[d]);
    if (same)
        return a;
    if (a->kind == K_CREATE) {
        /* creation in other chunks: each chunk is made where it lies (a
         * random value depends only on its index) */
        wa_array *c = arr_new_bounds(a->ctx, a->dtype, a->ndim, a->shape, nb,
                                     bounds, K_CREATE);
        if (!c)
            return NULL;
        c->cop = a->cop;
        c->c = a->c;
        c->name = a->name;
        if (a->path && !(c->path = strdup(a->path)))
            return wa_fail(a->ctx, "out of memory");
        return c;
    }
    wa_array *r = arr_new_bounds(a->ctx, a->dtype, a->ndim, a->shape, nb,
                                 bounds, K_RECHUNK);
    if (!r)
        return NULL;
    r->in[0] = a;
    r->nin = 1;
    r->name = "rechunk";
    /* an input chunk read by one output chunk only can be inlined */
    bool split = false;
    for (uint32_t d = 0; d < a->ndim && !split; d++)
        for (size_t i = 1; i < nb[d] && !split; i++) {
            bool found = false;
            for (size_t k = 0; k <= a->nb[d] && !found; k++)
                found = a->bounds[d][k] == bounds[d][i];
            split = !found;
        }
    a->uses += split ? 2 : 1;
    return r;
}

/* arrays[0..n) broadcast and with common chunks: the output's shape and
 * bounds, and each input rechunked where needed (replaced in ins). */
static wa_array *broadcast_map(wa_ctx *ctx, const char *what, wa_array **ins,
                               uint32_t n, weft_dtype dt, wa_opcode op,
                               int32_t code)
{
    uint32_t ndim = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!ins[i])
            return wa_fail(ctx,
                           "%s: an operand is NULL (an earlier call "
                           "failed?)",
                           what);
        if (ins[i]->ctx != ctx)
            return wa_fail(ctx, "%s: operands of different contexts", what);
        if (ins[i]->ndim > ndim)
            ndim = ins[i]->ndim;
    }
    int64_t shape[WA_MAXD];
    for (uint32_t d = 0; d < ndim; d++) {
        shape[d] = 1;
        for (uint32_t i = 0; i < n; i++) {
            int64_t off = (int64_t)d - (int64_t)(ndim - ins[i]->ndim);
            if (off < 0)
                continue;
            int64_t s = ins[i]->shape[off];
            if (s == shape[d] || s == 1)
                continue;
            if (shape[d] != 1) {
                char sa[128], sb[128];
                shape_str(sa, sizeof sa, ins[0]->ndim, ins[0]->shape);
                shape_str(sb, sizeof sb, ins[i]->ndim, ins[i]->shape);
                return wa_fail(ctx,
                               "%s: shapes %s and %s do not broadcast "
                               "(axis %u: %lld vs %lld)",
                               what, sa, sb, d, (long long)shape[d],
                               (long long)s);
            }
            shape[d] = s;
        }
    }
    /* common chunks along each axis over the inputs that span it */
    size_t nb[WA_MAXD];
    int64_t *bounds[WA_MAXD] = {0};
    wa_array *r = NULL;
    for (uint32_t d = 0; d < ndim; d++) {
        for (uint32_t i = 0; i < n; i++) {
            int64_t off = (int64_t)d - (int64_t)(ndim - ins[i]->ndim);
            if (off < 0 || ins[i]->shape[off] != shape[d])
                continue;
            if (!bounds[d]) {
                nb[d] = ins[i]->nb[off];
                bounds[d] = malloc((nb[d] + 1) * sizeof(int64_t));
                if (bounds[d])
                    memcpy(bounds[d], ins[i]->bounds[off],
                           (nb[d] + 1) * sizeof(int64_t));
            } else {
                int64_t *m = merge_bounds(bounds[d], nb[d], ins[i]->bounds[off],
                                          ins[i]->nb[off], &nb[d]);
                free(bounds[d]);
                bounds[d] = m;
            }
            if (!bounds[d]) {
                wa_fail(ctx, "out of memory");
                goto out;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        wa_array *x = ins[i];
        size_t xnb[WA_MAXD];
        int64_t *xb[WA_MAXD];
        uint32_t lead = ndim - x->ndim;
        for (uint32_t j = 0; j < x->ndim; j++) {
            bool spans = x->shape[j] == shape[lead + j];
            xnb[j] = spans ? nb[lead + j] : x->nb[j];
            xb[j] = spans ? bounds[lead + j] : x->bounds[j];
        }
        ins[i] = arr_rechunk_bounds(x, xnb, xb);
        if (!ins[i])
            goto out;
    }
    r = arr_new_bounds(ctx, dt, ndim, shape, nb, bounds, K_MAP);
    if (!r)
        goto out;
    r->op = op;
    r->p.code.code = code;
    r->nin = n;
    r->name = what;
    for (uint32_t i = 0; i < n; i++) {
        wa_array *x = ins[i];
        uint32_t lead = ndim - x->ndim;
        bool bcast = false;
        for (uint32_t j = 0; j < x->ndim; j++) {
            bool spans = x->shape[j] == shape[lead + j];
            r->axis_map[i][j] = spans ? (int8_t)(lead + j) : -1;
            bcast |= !spans && nb[lead + j] > 1;
        }
        for (uint32_t d = 0; d < lead; d++)
            bcast |= nb[d] > 1;
        r->in[i] = x;
        x->uses += bcast ? 2 : 1;
    }
out:
    for (uint32_t d = 0; d < ndim; d++)
        free(bounds[d]);
    return r;
}

/* A weak scalar s used with an array of dtype other: the dtype it takes
 * (numpy 2's rules for Python numbers). */
static weft_dtype weak_dtype(const wa_array *s, weft_dtype other)
{
    bool integral = s->scalar == (double)(int64_t)s->scalar;
    if (is_float(other) || (is_int(other) && integral))
        return other;
    if (other == WEFT_DT_BOOL && integral)
        return WEFT_DT_I64;
    return WEFT_DT_F64;
}

/* Replace weak scalars among x[0..n) by 0-d arrays of the dtype they take
 * next to the strong operands. */
static bool resolve_weak(wa_array **x, uint32_t n)
{
    weft_dtype strong = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!x[i]->weak)
            strong =
                strong ? wf_dtype_promote(strong, x[i]->dtype) : x[i]->dtype;
    if (!strong)
        return true;
    for (uint32_t i = 0; i < n; i++) {
        if (!x[i]->weak)
            continue;
        weft_dtype dt = weak_dtype(x[i], strong);
        if (dt == x[i]->dtype)
            continue;
        wa_array *s = wa_full(x[i]->ctx, dt, 0, NULL, NULL, x[i]->scalar);
        if (!s)
            return false;
        s->name = "scalar";
        x[i] = s;
    }
    return true;
}

WA_EXPORT wa_array *wa_binary(wa_binop op, wa_array *a, wa_array *b)
{
    wa_ctx *ctx = a ? a->ctx : b ? b->ctx : NULL;
    if (!ctx)
        return NULL;
    ctx->err[0] = '\0';
    const char *what = binop_name(op);
    if ((unsigned)op > WA_XOR)
        return wa_fail(ctx, "binary: unknown op %d", (int)op);
    if (!a || !b)
        return wa_fail(ctx,
                       "%s: an operand is NULL (an earlier call "
                       "failed?)",
                       what);
    wa_array *x[2] = {a, b};
    if (!resolve_weak(x, 2))
        return NULL;
    weft_dtype da = x[0]->dtype, db = x[1]->dtype, dt;
    if (op >= WA_EQ)
        dt = WEFT_DT_BOOL;
    else if (op == WA_DIV)
        dt = da == WEFT_DT_F32 && db == WEFT_DT_F32 ? WEFT_DT_F32 : WEFT_DT_F64;
    else
        dt = wf_dtype_promote(da, db);
    if (op == WA_SUB && da == WEFT_DT_BOOL && db == WEFT_DT_BOOL)
        return wa_fail(ctx, "subtract: numpy does not subtract booleans "
                            "(use logical_xor)");
    return broadcast_map(ctx, what, x, 2, dt, OP_BINARY, (int32_t)op);
}

WA_EXPORT wa_array *wa_unary(wa_unop op, wa_array *a)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    if ((unsigned)op > WA_ISFINITE)
        return wa_fail(ctx, "unary: unknown op %d", (int)op);
    weft_dtype dt = a->dtype;
    if (op >= WA_NOT)
        dt = WEFT_DT_BOOL;
    else if (op >= WA_SQRT && op <= WA_TANH && !is_float(dt))
        dt = WEFT_DT_F64;
    wa_array *x[1] = {a};
    return broadcast_map(ctx, unop_name(op), x, 1, dt, OP_UNARY, (int32_t)op);
}

WA_EXPORT wa_array *wa_astype(wa_array *a, weft_dtype dt)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    if (!(dt == WEFT_DT_F64 || dt == WEFT_DT_F32 || dt == WEFT_DT_I64 ||
          dt == WEFT_DT_I32 || dt == WEFT_DT_BOOL))
        return wa_fail(ctx, "astype: dtype %d is not an array dtype", (int)dt);
    if (dt == a->dtype)
        return a;
    wa_array *x[1] = {a};
    return broadcast_map(ctx, "astype", x, 1, dt, OP_ASTYPE, (int32_t)dt);
}

WA_EXPORT wa_array *wa_where(wa_array *cond, wa_array *a, wa_array *b)
{
    wa_ctx *ctx = cond ? cond->ctx : a ? a->ctx : b ? b->ctx : NULL;
    if (!ctx)
        return NULL;
    ctx->err[0] = '\0';
    if (!cond || !a || !b)
        return wa_fail(ctx, "where: an operand is NULL (an earlier call "
                            "failed?)");
    wa_array *x[3] = {cond, a, b};
    if (!resolve_weak(x + 1, 2))
        return NULL;
    if (x[0]->weak)
        x[0] = wa_astype(x[0], WEFT_DT_BOOL);
    if (!x[0])
        return NULL;
    weft_dtype dt = wf_dtype_promote(x[1]->dtype, x[2]->dtype);
    return broadcast_map(ctx, "where", x, 3, dt, OP_WHERE, 0);
}

/* ------------------------------------------------------------ layout */

WA_EXPORT wa_array *wa_transpose(wa_array *a, const uint32_t *perm)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    uint32_t p[WA_MAXD];
    bool seen[WA_MAXD] = {0}, ident = true;
    for (uint32_t d = 0; d < a->ndim; d++) {
        p[d] = perm ? perm[d] : a->ndim - 1 - d;
        if (p[d] >= a->ndim || seen[p[d]])
            return wa_fail(ctx,
                           "transpose: axes are not a permutation of "
                           "0..%u",
                           a->ndim ? a->ndim - 1 : 0);
        seen[p[d]] = true;
        ident &= p[d] == d;
    }
    if (ident)
        return a;
    int64_t shape[WA_MAXD];
    size_t nb[WA_MAXD];
    int64_t *bounds[WA_MAXD];
    for (uint32_t d = 0; d < a->ndim; d++) {
        shape[d] = a->shape[p[d]];
        nb[d] = a->nb[p[d]];
        bounds[d] = a->bounds[p[d]];
    }
    wa_array *r =
        arr_new_bounds(ctx, a->dtype, a->ndim, shape, nb, bounds, K_MAP);
    if (!r)
        return NULL;
    r->op = OP_TRANSPOSE;
    r->p.axes.ndim = (int32_t)a->ndim;
    for (uint32_t d = 0; d < a->ndim; d++) {
        r->p.axes.v[d] = p[d];
        r->axis_map[0][p[d]] = (int8_t)d;
    }
    r->in[0] = a;
    r->nin = 1;
    r->name = "transpose";
    a->uses++;
    return r;
}

/* Python's slice.indices: first index, step and count along an axis of
 * length n. */
static bool slice_axis(int64_t n, int64_t start, int64_t stop, int64_t step,
                       int64_t *first, int64_t *count)
{
    if (step == WA_NONE)
        step = 1;
    if (step == 0)
        return false;
    if (step > 0) {
        start = start == WA_NONE ? 0 : start < 0 ? start + n : start;
        stop = stop == WA_NONE ? n : stop < 0 ? stop + n : stop;
        start = start < 0 ? 0 : start > n ? n : start;
        stop = stop < 0 ? 0 : stop > n ? n : stop;
        *count = stop > start ? (stop - start + step - 1) / step : 0;
    } else {
        start = start == WA_NONE ? n - 1 : start < 0 ? start + n : start;
        stop = stop == WA_NONE ? -1 : stop < 0 ? stop + n : stop;
        start = start < -1 ? -1 : start > n - 1 ? n - 1 : start;
        stop = stop < -1 ? -1 : stop > n - 1 ? n - 1 : stop;
        *count = start > stop ? (start - stop + (-step) - 1) / (-step) : 0;
    }
    *first = start;
    return true;
}

static int64_t ceil_div(int64_t a, int64_t b) /* b > 0 */
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

WA_EXPORT wa_array *wa_slice(wa_array *a, const int64_t *start,
                             const int64_t *stop, const int64_t *step)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    int64_t first[WA_MAXD], count[WA_MAXD], st[WA_MAXD];
    bool ident = true, empty = false;
    for (uint32_t d = 0; d < a->ndim; d++) {
        st[d] = step && step[d] != WA_NONE ? step[d] : 1;
        if (!slice_axis(a->shape[d], start ? start[d] : WA_NONE,
                        stop ? stop[d] : WA_NONE, st[d], &first[d], &count[d]))
            return wa_fail(ctx, "slice: step 0 on axis %u", d);
        ident &= st[d] == 1 && first[d] == 0 && count[d] == a->shape[d];
        empty |= count[d] == 0;
    }
    if (ident)
        return a;
    if (empty) {
        wa_array *z = wa_zeros(ctx, a->dtype, a->ndim, count, NULL);
        if (z)
            z->name = "slice";
        return z;
    }
    /* per axis: the output chunks, one per input chunk holding elements */
    size_t nb[WA_MAXD];
    int64_t *bounds[WA_MAXD] = {0};
    size_t *chunk[WA_MAXD] = {0};
    int64_t *lstart[WA_MAXD] = {0};
    wa_array *r = NULL;
    for (uint32_t d = 0; d < a->ndim; d++) {
        size_t m = a->nb[d];
        bounds[d] = malloc((m + 1) * sizeof(int64_t));
        chunk[d] = malloc(m * sizeof(size_t));
        lstart[d] = malloc(m * sizeof(int64_t));
        if (!bounds[d] || !chunk[d] || !lstart[d]) {
            wa_fail(ctx, "out of memory");
            goto out;
        }
        int64_t s = st[d], f = first[d], n = count[d];
        size_t k = 0;
        bounds[d][0] = 0;
        for (size_t j = 0; j < m; j++) {
            size_t c = s > 0 ? j : m - 1 - j;
            int64_t lo = a->bounds[d][c], hi = a->bounds[d][c + 1];
            int64_t i0, i1;
            if (s > 0) {
                i0 = ceil_div(lo - f, s);
                i1 = ceil_div(hi - f, s);
            } else {
                i0 = ceil_div(f - (hi - 1), -s);
                i1 = (f - lo) >= 0 ? (f - lo) / (-s) + 1 : 0;
            }
            i0 = i0 < 0 ? 0 : i0;
            i1 = i1 > n ? n : i1;
            if (i1 <= i0)
                continue;
            chunk[d][k] = c;
            lstart[d][k] = f + i0 * s - lo;
            bounds[d][k + 1] = bounds[d][k] + (i1 - i0);
            k++;
        }
        nb[d] = k;
    }
    r = arr_new_bounds(ctx, a->dtype, a->ndim, count, nb, bounds, K_SLICE);
    if (!r)
        goto out;
    for (uint32_t d = 0; d < a->ndim; d++) {
        r->sl_chunk[d] = chunk[d];
        r->sl_start[d] = lstart[d];
        r->sl_step[d] = st[d];
        chunk[d] = NULL;
        lstart[d] = NULL;
    }
    r->in[0] = a;
    r->nin = 1;
    r->name = "slice";
    a->uses++;
out:
    for (uint32_t d = 0; d < a->ndim; d++) {
        free(bounds[d]);
        free(chunk[d]);
        free(lstart[d]);
    }
    return r;
}

/* Join or stack: arrays unified to common chunks on the shared axes. */
static wa_array *join(wa_array *const *arrays, size_t n, uint32_t axis,
                      bool stack)
{
    const char *what = stack ? "stack" : "concatenate";
    if (!arrays || n == 0 || !arrays[0])
        return NULL;
    wa_ctx *ctx = arrays[0]->ctx;
    ctx->err[0] = '\0';
    wa_array *x0 = arrays[0];
    uint32_t ndim = x0->ndim + (stack ? 1 : 0);
    if (n > 65536)
        return wa_fail(ctx, "%s: too many arrays", what);
    if (axis >= ndim || ndim > WA_MAXD)
        return wa_fail(ctx, "%s: axis %u is out of range for %u axes", what,
                       axis, ndim);
    if (!stack && x0->ndim == 0)
        return wa_fail(ctx,
                       "%s: zero-dimensional arrays cannot be "
                       "concatenated",
                       what);
    if (n > 8) { /* inputs beyond the 8 slots go through nested joins */
        size_t half = n / 2;
        wa_array *parts[2];
        parts[0] = join(arrays, half, axis, stack);
        parts[1] = parts[0] ? join(arrays + half, n - half, axis, stack) : NULL;
        return parts[1] ? join(parts, 2, axis, false) : NULL;
    }
    wa_array **x = calloc(n, sizeof *x);
    if (!x)
        return wa_fail(ctx, "out of memory");
    weft_dtype dt = x0->dtype;
    for (size_t i = 0; i < n; i++) {
        if (!arrays[i] || arrays[i]->ctx != ctx) {
            free(x);
            return wa_fail(ctx,
                           "%s: array %zu is NULL or of another "
                           "context",
                           what, i);
        }
        if (arrays[i]->ndim != x0->ndim) {
            free(x);
            return wa_fail(ctx, "%s: array %zu has %u axes, array 0 has %u",
                           what, i, arrays[i]->ndim, x0->ndim);
        }
        for (uint32_t d = 0; d < x0->ndim; d++)
            if ((stack || d != axis) && arrays[i]->shape[d] != x0->shape[d]) {
                char sa[128], sb[128];
                shape_str(sa, sizeof sa, x0->ndim, x0->shape);
                shape_str(sb, sizeof sb, x0->ndim, arrays[i]->shape);
                free(x);
                return wa_fail(ctx,
                               "%s: array %zu has shape %s, array 0 has %s "
                               "(they must match except along axis %u)",
                               what, i, sb, sa, axis);
            }
        dt = wf_dtype_promote(dt, arrays[i]->dtype);
    }
    /* common dtype and chunks on the shared axes */
    size_t nb[WA_MAXD];
    int64_t *bounds[WA_MAXD] = {0};
    wa_array *r = NULL;
    for (uint32_t d = 0; d < x0->ndim; d++) {
        if (!stack && d == axis)
            continue;
        nb[d] = x0->nb[d];
        bounds[d] = malloc((nb[d] + 1) * sizeof(int64_t));
        if (!bounds[d])
            goto oom;
        memcpy(bounds[d], x0->bounds[d], (nb[d] + 1) * sizeof(int64_t));
        for (size_t i = 1; i < n; i++) {
            int64_t *m = merge_bounds(bounds[d], nb[d], arrays[i]->bounds[d],
                                      arrays[i]->nb[d], &nb[d]);
            free(bounds[d]);
            bounds[d] = m;
            if (!m)
                goto oom;
        }
    }
    size_t total_chunks = 0;
    for (size_t i = 0; i < n; i++) {
        wa_array *y = arrays[i];
        if (y->dtype != dt && !(y = wa_astype(y, dt)))
            goto out;
        size_t ynb[WA_MAXD];
        int64_t *yb[WA_MAXD];
        for (uint32_t d = 0; d < y->ndim; d++) {
            bool own = !stack && d == axis;
            ynb[d] = own ? y->nb[d] : nb[d];
            yb[d] = own ? y->bounds[d] : bounds[d];
        }
        if (!(x[i] = arr_rechunk_bounds(y, ynb, yb)))
            goto out;
        total_chunks += stack ? 1 : x[i]->nb[axis];
    }
    /* the output's chunks: the shared axes', and along axis the inputs' */
    size_t onb[WA_MAXD];
    int64_t *ob[WA_MAXD] = {0}, shape[WA_MAXD];
    int64_t *cat = malloc((total_chunks + 1) * sizeof *cat);
    if (!cat)
        goto oom;
    cat[0] = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = stack ? 1 : x[i]->nb[axis];
        for (size_t c = 0; c < m; c++, k++)
            cat[k + 1] =
                cat[k] +
                (stack ? 1 : x[i]->bounds[axis][c + 1] - x[i]->bounds[axis][c]);
    }
    for (uint32_t d = 0, s = 0; d < ndim; d++) {
        if (d == axis) {
            onb[d] = total_chunks;
            ob[d] = cat;
            shape[d] = cat[total_chunks];
            if (!stack)
                s++;
            continue;
        }
        onb[d] = nb[s];
        ob[d] = bounds[s];
        shape[d] = x0->shape[s];
        s++;
    }
    r = arr_new_bounds(ctx, dt, ndim, shape, onb, ob, K_CONCAT);
    free(cat);
    if (!r)
        goto out;
    r->cat_arr = malloc(total_chunks * sizeof *r->cat_arr);
    r->cat_chunk = malloc(total_chunks * sizeof *r->cat_chunk);
    if (!r->cat_arr || !r->cat_chunk)
        goto oom;
    k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = stack ? 1 : x[i]->nb[axis];
        for (size_t c = 0; c < m; c++, k++) {
            r->cat_arr[k] = (uint32_t)i;
            r->cat_chunk[k] = stack ? 0 : c;
        }
        r->in[i] = x[i];
        x[i]->uses++;
    }
    r->nin = (uint32_t)n;
    r->cat_axis = axis;
    r->stack = stack;
    r->name = what;
    goto out;
oom:
    r = wa_fail(ctx, "out of memory");
out:
    for (uint32_t d = 0; d < WA_MAXD; d++)
        free(bounds[d]);
    free(x);
    return r;
}

WA_EXPORT wa_array *wa_concat(wa_array *const *arrays, size_t n, uint32_t axis)
{
    if (n == 1 && arrays && arrays[0] && axis < arrays[0]->ndim)
        return arrays[0];
    return join(arrays, n, axis, false);
}

WA_EXPORT wa_array *wa_stack(wa_array *const *arrays, size_t n, uint32_t axis)
{
    return join(arrays, n, axis, true);
}

/* Regular bounds for chunk length c along an axis of length n. */
static int64_t *regular(int64_t n, int64_t c, size_t *nb)
{
    if (c <= 0 || c > n)
        c = n > 0 ? n : 1;
    *nb = n ? (size_t)((n + c - 1) / c) : 1;
    int64_t *b = malloc((*nb + 1) * sizeof *b);
    for (size_t i = 0; b && i <= *nb; i++)
        b[i] = (int64_t)i * c < n ? (int64_t)i * c : n;
    return b;
}

WA_EXPORT wa_array *wa_rechunk(wa_array *a, const int64_t *chunks)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    size_t nb[WA_MAXD];
    int64_t *bounds[WA_MAXD] = {0};
    wa_array *r = NULL;
    for (uint32_t d = 0; d < a->ndim; d++)
        if (!(bounds[d] =
                  regular(a->shape[d], chunks ? chunks[d] : 0, &nb[d]))) {
            wa_fail(ctx, "out of memory");
            goto out;
        }
    r = arr_rechunk_bounds(a, nb, bounds);
out:
    for (uint32_t d = 0; d < a->ndim; d++)
        free(bounds[d]);
    return r;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

WA_EXPORT wa_array *wa_reshape(wa_array *a, uint32_t ndim, const int64_t *shape)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    if (ndim > WA_MAXD || (ndim && !shape))
        return wa_fail(ctx, "reshape: bad number of axes %u", ndim);
    int64_t size = wa_size(a), known = 1, out[WA_MAXD];
    int unknown = -1;
    for (uint32_t d = 0; d < ndim; d++) {
        out[d] = shape[d];
        if (shape[d] == -1 && unknown < 0) {
            unknown = (int)d;
            continue;
        }
        if (shape[d] < 0)
            return wa_fail(ctx, "reshape: bad length %lld on axis %u",
                           (long long)shape[d], d);
        known *= shape[d];
    }
    if (unknown >= 0)
        out[unknown] = known ? size / known : 0;
    int64_t osize = 1;
    for (uint32_t d = 0; d < ndim; d++)
        osize *= out[d];
    if (osize != size) {
        char sa[128], sb[128];
        shape_str(sa, sizeof sa, a->ndim, a->shape);
        shape_str(sb, sizeof sb, ndim, out);
        return wa_fail(ctx,
                       "reshape: cannot reshape %s (%lld elements) "
                       "into %s",
                       sa, (long long)size, sb);
    }
    if (ndim == a->ndim && memcmp(out, a->shape, ndim * sizeof *out) == 0)
        return a;
    if (size == 0) {
        wa_array *z = wa_zeros(ctx, a->dtype, ndim, out, NULL);
        if (z)
            z->name = "reshape";
        return z;
    }
    /* Blocks of F elements in C order, F a multiple of both inner sizes:
     * rows of the input and rows of the output then match one to one. */
    int64_t in_inner = a->ndim ? size / a->shape[0] : 1;
    int64_t out_inner = ndim ? size / out[0] : 1;
    int64_t l = in_inner / gcd64(in_inner, out_inner) * out_inner;
    int64_t target = 1;
    for (uint32_t d = 0; d < a->ndim; d++)
        target *= a->bounds[d][1] - a->bounds[d][0];
    int64_t f = l * (target / l > 1 ? target / l : 1);
    if (f > size || a->ndim == 0 || ndim == 0)
        f = size;
    int64_t ic[WA_MAXD] = {0}, oc[WA_MAXD] = {0};
    if (a->ndim)
        ic[0] = f / in_inner;
    if (ndim)
        oc[0] = f / out_inner;
    wa_array *x = wa_rechunk(a, ic);
    if (!x)
        return NULL;
    wa_array *r = arr_new(ctx, "reshape", a->dtype, ndim, out, oc, K_RESHAPE);
    if (!r)
        return NULL;
    if (r->nblocks != x->nblocks)
        return wa_fail(ctx, "reshape: internal chunk mismatch (%zu vs %zu)",
                       r->nblocks, x->nblocks);
    r->in[0] = x;
    r->nin = 1;
    r->name = "reshape";
    x->uses++;
    return r;
}
