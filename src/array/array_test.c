/* Tests of the array collection (include/weft/array.h) on real runtimes:
 * random array expressions over random shapes and chunkings (broadcasting,
 * slicing with steps, transpose, concatenate/stack, rechunk, reshape,
 * cumsum, reductions over random axes, matmul, where) computed on 1 and
 * several threads and in worker processes, compared element by element
 * with plain loops here; random arrays equal for every chunking; .npy
 * written chunk by chunk read back by numpy and numpy's files read by
 * chunks; errors at build time; fusion and inlining counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/array.h>

#include "testutil.h"

/* ------------------------------------------------------------ reference */

/* A plain n-d float64 array. */
typedef struct ref {
    uint32_t ndim;
    int64_t shape[WEFT_MAX_NDIM];
    double *d;
} ref;

static int64_t rsize(const ref *r)
{
    int64_t n = 1;
    for (uint32_t k = 0; k < r->ndim; k++)
        n *= r->shape[k];
    return n;
}

static ref rnew(uint32_t ndim, const int64_t *shape)
{
    ref r = {.ndim = ndim};
    if (ndim)
        memcpy(r.shape, shape, ndim * sizeof *shape);
    int64_t n = rsize(&r);
    r.d = calloc((size_t)(n ? n : 1), sizeof(double));
    return r;
}

/* Flat index of multi-index ix (ndim entries) in r, with broadcasting of
 * length-1 axes and right alignment when r has fewer axes. */
static int64_t ref_at(const ref *r, uint32_t ndim, const int64_t *ix)
{
    int64_t f = 0;
    for (uint32_t k = 0; k < r->ndim; k++) {
        int64_t i = ix[ndim - r->ndim + k];
        f = f * r->shape[k] + (r->shape[k] == 1 ? 0 : i);
    }
    return f;
}

static bool next_index(uint32_t ndim, const int64_t *shape, int64_t *ix)
{
    for (uint32_t k = ndim; k-- > 0;) {
        if (++ix[k] < shape[k])
            return true;
        ix[k] = 0;
    }
    return false;
}

static double apply_bin(wa_binop op, double x, double y)
{
    switch (op) {
    case WA_ADD:
        return x + y;
    case WA_SUB:
        return x - y;
    case WA_MUL:
        return x * y;
    case WA_DIV:
        return x / y;
    case WA_MINIMUM:
        return x < y ? x : y;
    case WA_MAXIMUM:
        return x > y ? x : y;
    case WA_LT:
        return x < y;
    default:
        return NAN;
    }
}

static ref rbinary(wa_binop op, const ref *a, const ref *b)
{
    uint32_t nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[WEFT_MAX_NDIM];
    for (uint32_t k = 0; k < nd; k++) {
        int64_t sa = k + a->ndim >= nd ? a->shape[k + a->ndim - nd] : 1;
        int64_t sb = k + b->ndim >= nd ? b->shape[k + b->ndim - nd] : 1;
        shape[k] = sa == 1 ? sb : sa;
    }
    ref r = rnew(nd, shape);
    int64_t ix[WEFT_MAX_NDIM] = {0}, f = 0;
    if (rsize(&r))
        do {
            r.d[f++] =
                apply_bin(op, a->d[ref_at(a, nd, ix)], b->d[ref_at(b, nd, ix)]);
        } while (next_index(nd, shape, ix));
    return r;
}

static double apply_un(wa_unop op, double x)
{
    switch (op) {
    case WA_NEG:
        return -x;
    case WA_ABS:
        return fabs(x);
    case WA_SQUARE:
        return x * x;
    case WA_SIN:
        return sin(x);
    case WA_TANH:
        return tanh(x);
    default:
        return NAN;
    }
}

static ref runary(wa_unop op, const ref *a)
{
    ref r = rnew(a->ndim, a->shape);
    for (int64_t i = 0; i < rsize(a); i++)
        r.d[i] = apply_un(op, a->d[i]);
    return r;
}

static ref rtranspose(const ref *a, const uint32_t *perm)
{
    int64_t shape[WEFT_MAX_NDIM], ix[WEFT_MAX_NDIM] = {0}, src[WEFT_MAX_NDIM];
    for (uint32_t k = 0; k < a->ndim; k++)
        shape[k] = a->shape[perm[k]];
    ref r = rnew(a->ndim, shape);
    int64_t f = 0;
    if (rsize(&r))
        do {
            for (uint32_t k = 0; k < a->ndim; k++)
                src[perm[k]] = ix[k];
            r.d[f++] = a->d[ref_at(a, a->ndim, src)];
        } while (next_index(a->ndim, shape, ix));
    return r;
}

/* Python's slice.indices, written out plainly. */
static void py_slice(int64_t n, int64_t start, int64_t stop, int64_t step,
                     int64_t *first, int64_t *count)
{
    if (step > 0) {
        int64_t s = start == WA_NONE ? 0 : start,
                e = stop == WA_NONE ? n : stop;
        if (s < 0)
            s += n;
        if (e < 0)
            e += n;
        s = s < 0 ? 0 : s > n ? n : s;
        e = e < 0 ? 0 : e > n ? n : e;
        *first = s;
        *count = 0;
        for (int64_t i = s; i < e; i += step)
            (*count)++;
    } else {
        int64_t s = start == WA_NONE ? n - 1 : start,
                e = stop == WA_NONE ? -1 : stop;
        if (start != WA_NONE && s < 0)
            s += n;
        if (stop != WA_NONE && e < 0)
            e += n;
        s = s < -1 ? -1 : s > n - 1 ? n - 1 : s;
        e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
        *first = s;
        *count = 0;
        for (int64_t i = s; i > e; i += step)
            (*count)++;
    }
}

static ref rslice(const ref *a, const int64_t *start, const int64_t *stop,
                  const int64_t *step)
{
    int64_t first[WEFT_MAX_NDIM], count[WEFT_MAX_NDIM];
    for (uint32_t k = 0; k < a->ndim; k++)
        py_slice(a->shape[k], start[k], stop[k], step[k], &first[k], &count[k]);
    ref r = rnew(a->ndim, count);
    int64_t ix[WEFT_MAX_NDIM] = {0}, src[WEFT_MAX_NDIM], f = 0;
    if (rsize(&r))
        do {
            for (uint32_t k = 0; k < a->ndim; k++)
                src[k] = first[k] + ix[k] * step[k];
            r.d[f++] = a->d[ref_at(a, a->ndim, src)];
        } while (next_index(a->ndim, count, ix));
    return r;
}

static ref rconcat(const ref *a, const ref *b, uint32_t axis)
{
    int64_t shape[WEFT_MAX_NDIM], ix[WEFT_MAX_NDIM] = {0}, src[WEFT_MAX_NDIM];
    memcpy(shape, a->shape, sizeof shape);
    shape[axis] += b->shape[axis];
    ref r = rnew(a->ndim, shape);
    int64_t f = 0;
    if (rsize(&r))
        do {
            memcpy(src, ix, sizeof src);
            const ref *from = a;
            if (ix[axis] >= a->shape[axis]) {
                from = b;
                src[axis] -= a->shape[axis];
            }
            r.d[f++] = from->d[ref_at(from, a->ndim, src)];
        } while (next_index(a->ndim, shape, ix));
    return r;
}

static ref rcumsum(const ref *a, uint32_t axis)
{
    ref r = rnew(a->ndim, a->shape);
    int64_t ix[WEFT_MAX_NDIM] = {0}, f = 0;
    int64_t stride = 1;
    for (uint32_t k = axis + 1; k < a->ndim; k++)
        stride *= a->shape[k];
    if (rsize(a))
        do {
            r.d[f] = a->d[f] + (ix[axis] > 0 ? r.d[f - stride] : 0);
            f++;
        } while (next_index(a->ndim, a->shape, ix));
    return r;
}

/* Reduce a over axes (mask; 0 = all). */
static ref rreduce(wa_redop op, const ref *a, uint32_t axes, bool keepdims,
                   int ddof)
{
    if (axes == 0)
        axes = (1u << a->ndim) - 1;
    int64_t oshape[WEFT_MAX_NDIM], kshape[WEFT_MAX_NDIM];
    uint32_t ond = 0;
    for (uint32_t k = 0; k < a->ndim; k++) {
        bool red = axes >> k & 1;
        kshape[k] = red ? 1 : a->shape[k];
        if (!red || keepdims)
            oshape[ond++] = red ? 1 : a->shape[k];
    }
    ref r = rnew(ond, oshape);
    ref kept = rnew(a->ndim, kshape);
    int64_t n = rsize(&kept);
    double *s1 = calloc((size_t)n, sizeof *s1), *s2 = calloc((size_t)n, 8),
           *cnt = calloc((size_t)n, 8), *best = calloc((size_t)n, 8);
    int64_t ix[WEFT_MAX_NDIM] = {0}, f = 0;
    for (int64_t i = 0; i < n; i++)
        best[i] = NAN;
    /* the mean first, then squares about it (two passes); an empty array
     * has no element to visit */
    for (int pass = 0; pass < 2 && rsize(a) > 0; pass++) {
        memset(ix, 0, sizeof ix);
        f = 0;
        do {
            int64_t o = ref_at(&kept, a->ndim, ix);
            double x = a->d[f];
            int64_t along = 0; /* index for argmin/argmax */
            if (axes == (1u << a->ndim) - 1)
                along = f;
            else
                for (uint32_t k = 0; k < a->ndim; k++)
                    if (axes >> k & 1)
                        along = ix[k];
            if (pass == 0) {
                s1[o] += x;
                cnt[o] += 1;
                bool better = op == WA_R_MIN || op == WA_R_ARGMIN ? x < best[o]
                                                                  : x > best[o];
                if (isnan(best[o]) || better) {
                    best[o] = x;
                    if (op == WA_R_ARGMIN || op == WA_R_ARGMAX)
                        kept.d[o] = (double)along;
                }
            } else {
                double m = s1[o] / cnt[o];
                s2[o] += (x - m) * (x - m);
            }
            f++;
        } while (next_index(a->ndim, a->shape, ix));
    }
    for (int64_t o = 0; o < n; o++) {
        switch (op) {
        case WA_R_SUM:
            r.d[o] = s1[o];
            break;
        case WA_R_MEAN:
            r.d[o] = s1[o] / cnt[o];
            break;
        case WA_R_VAR:
            r.d[o] = s2[o] / (cnt[o] - ddof);
            break;
        case WA_R_STD:
            r.d[o] = sqrt(s2[o] / (cnt[o] - ddof));
            break;
        case WA_R_MIN:
        case WA_R_MAX:
            r.d[o] = best[o];
            break;
        default:
            r.d[o] = kept.d[o];
        }
    }
    free(s1);
    free(s2);
    free(cnt);
    free(best);
    free(kept.d);
    return r;
}

static ref rmatmul(const ref *a, const ref *b)
{
    int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
    int64_t shape[2] = {m, n};
    ref r = rnew(2, shape);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t t = 0; t < k; t++)
                s += a->d[i * k + t] * b->d[t * n + j];
            r.d[i * n + j] = s;
        }
    return r;
}

/* ------------------------------------------------------------ checking */

static double elem(const wa_buffer *b, int64_t i)
{
    switch (b->dtype) {
    case WEFT_DT_F64:
        return ((const double *)b->data)[i];
    case WEFT_DT_F32:
        return ((const float *)b->data)[i];
    case WEFT_DT_I64:
        return (double)((const int64_t *)b->data)[i];
    case WEFT_DT_I32:
        return ((const int32_t *)b->data)[i];
    default:
        return ((const uint8_t *)b->data)[i];
    }
}

static ref to_ref(const wa_buffer *b)
{
    ref r = rnew(b->ndim, b->shape);
    for (int64_t i = 0; i < rsize(&r); i++)
        r.d[i] = elem(b, i);
    return r;
}

static bool close_to(double x, double y)
{
    if (isnan(x) || isnan(y))
        return isnan(x) && isnan(y);
    return fabs(x - y) <= 1e-9 * (1 + fabs(x) + fabs(y));
}

static void check_equal(const char *what, const wa_buffer *got, const ref *want)
{
    if (got->ndim != want->ndim)
        fail_msg("%s: %u axes, want %u", what, got->ndim, want->ndim);
    for (uint32_t k = 0; k < want->ndim; k++)
        if (got->shape[k] != want->shape[k])
            fail_msg("%s: axis %u has %lld, want %lld", what, k,
                     (long long)got->shape[k], (long long)want->shape[k]);
    for (int64_t i = 0; i < rsize(want); i++)
        if (!close_to(elem(got, i), want->d[i]))
            fail_msg("%s: element %lld is %.17g, want %.17g", what,
                     (long long)i, elem(got, i), want->d[i]);
}

static void compute_ok(wa_ctx *ctx, wa_array *a, wa_buffer *out)
{
    if (!a)
        fail_msg("build failed: %s", wa_error(ctx));
    weft_err e = wa_compute(a, out);
    if (e)
        fail_msg("compute: %s: %s", weft_err_name(e), wa_error(ctx));
}

/* ------------------------------------------------------------ random trees */

typedef struct val {
    wa_array *a;
    ref r;
} val;

static int64_t rnd_chunk(uint64_t *rng, int64_t n)
{
    if (n <= 1 || xorshift_below(rng, 5) == 0)
        return 0; /* whole axis */
    return 1 + (int64_t)xorshift_below(rng, (uint64_t)n);
}

/* A leaf: random values of shape in random chunks (computed once to get
 * the reference values). */
static val leaf(wa_ctx *ctx, uint64_t *rng, uint32_t ndim, const int64_t *shape)
{
    int64_t chunks[WEFT_MAX_NDIM];
    for (uint32_t k = 0; k < ndim; k++)
        chunks[k] = rnd_chunk(rng, shape[k]);
    val v;
    if (xorshift_below(rng, 3) == 0) {
        int64_t n = 1;
        for (uint32_t k = 0; k < ndim; k++)
            n *= shape[k];
        double *d = calloc((size_t)(n ? n : 1), sizeof *d);
        for (int64_t i = 0; i < n; i++)
            d[i] = (double)(int64_t)xorshift_below(rng, 2001) / 100.0 - 10;
        v.a = wa_from_buffer(ctx, WEFT_DT_F64, ndim, shape, d, chunks);
        v.r = rnew(ndim, shape);
        memcpy(v.r.d, d, (size_t)n * sizeof *d);
        free(d);
        assert_non_null(v.a);
        return v;
    }
    v.a = wa_random_normal(ctx, xorshift_next(rng), 0, 2, ndim, shape, chunks);
    wa_buffer b;
    compute_ok(ctx, v.a, &b);
    v.r = to_ref(&b);
    wa_buffer_free(&b);
    return v;
}

static val random_expr(wa_ctx *ctx, uint64_t *rng, val x, int depth,
                       char *trace, size_t tn);

/* One random step applied to x. */
static val step(wa_ctx *ctx, uint64_t *rng, val x, char *trace, size_t tn)
{
    val y = {0};
    size_t tl = strlen(trace);
    uint32_t nd = x.r.ndim;
    int kind = (int)xorshift_below(rng, 11);
    if (nd == 0 && kind >= 2)
        kind = (int)xorshift_below(rng, 2);
    switch (kind) {
    case 0: { /* binary with a broadcast operand in other chunks */
        int64_t shape[WEFT_MAX_NDIM];
        uint32_t drop = nd ? (uint32_t)xorshift_below(rng, nd + 1) : 0;
        for (uint32_t k = drop; k < nd; k++)
            shape[k - drop] = xorshift_below(rng, 3) == 0 ? 1 : x.r.shape[k];
        val o = leaf(ctx, rng, nd - drop, shape);
        static const wa_binop ops[] = {WA_ADD, WA_SUB, WA_MUL, WA_MINIMUM,
                                       WA_MAXIMUM};
        wa_binop op = ops[xorshift_below(rng, 5)];
        bool swap = xorshift_below(rng, 2);
        y.a = swap ? wa_binary(op, o.a, x.a) : wa_binary(op, x.a, o.a);
        y.r = swap ? rbinary(op, &o.r, &x.r) : rbinary(op, &x.r, &o.r);
        snprintf(trace + tl, tn - tl, " bin%d(drop %u)", (int)op, drop);
        free(o.r.d);
        break;
    }
    case 1: { /* unary or a scalar */
        if (xorshift_below(rng, 2)) {
            static const wa_unop ops[] = {WA_NEG, WA_ABS, WA_SQUARE, WA_SIN,
                                          WA_TANH};
            wa_unop op = ops[xorshift_below(rng, 5)];
            y.a = wa_unary(op, x.a);
            y.r = runary(op, &x.r);
            snprintf(trace + tl, tn - tl, " un%d", (int)op);
        } else {
            double s = (double)xorshift_below(rng, 7) - 3;
            y.a = wa_mul(x.a, wa_scalar(ctx, s));
            ref sr = rnew(0, NULL);
            sr.d[0] = s;
            y.r = rbinary(WA_MUL, &x.r, &sr);
            free(sr.d);
            snprintf(trace + tl, tn - tl, " *%g", s);
        }
        break;
    }
    case 2: { /* transpose */
        uint32_t perm[WEFT_MAX_NDIM];
        for (uint32_t k = 0; k < nd; k++)
            perm[k] = k;
        for (uint32_t k = nd; k > 1; k--) {
            uint32_t j = (uint32_t)xorshift_below(rng, k), t = perm[k - 1];
            perm[k - 1] = perm[j];
            perm[j] = t;
        }
        y.a = wa_transpose(x.a, perm);
        y.r = rtranspose(&x.r, perm);
        snprintf(trace + tl, tn - tl, " T");
        break;
    }
    case 3: { /* slice with steps, negative too */
        int64_t st[WEFT_MAX_NDIM], sp[WEFT_MAX_NDIM], sd[WEFT_MAX_NDIM];
        for (uint32_t k = 0; k < nd; k++) {
            int64_t n = x.r.shape[k];
            st[k] = xorshift_below(rng, 3) == 0
                        ? WA_NONE
                        : (int64_t)xorshift_below(rng, (uint64_t)(2 * n + 3)) -
                              n - 1;
            sp[k] = xorshift_below(rng, 3) == 0
                        ? WA_NONE
                        : (int64_t)xorshift_below(rng, (uint64_t)(2 * n + 3)) -
                              n - 1;
            sd[k] = (int64_t)xorshift_below(rng, 4) + 1;
            if (xorshift_below(rng, 3) == 0)
                sd[k] = -sd[k];
        }
        y.a = wa_slice(x.a, st, sp, sd);
        y.r = rslice(&x.r, st, sp, sd);
        snprintf(trace + tl, tn - tl, " slice");
        break;
    }
    case 4: { /* concatenate with another array */
        uint32_t axis = (uint32_t)xorshift_below(rng, nd);
        int64_t shape[WEFT_MAX_NDIM];
        memcpy(shape, x.r.shape, sizeof shape);
        shape[axis] = (int64_t)xorshift_below(rng, 5);
        val o = leaf(ctx, rng, nd, shape);
        wa_array *two[2] = {x.a, o.a};
        y.a = wa_concat(two, 2, axis);
        y.r = rconcat(&x.r, &o.r, axis);
        free(o.r.d);
        snprintf(trace + tl, tn - tl, " concat%u", axis);
        break;
    }
    case 5: { /* rechunk */
        int64_t chunks[WEFT_MAX_NDIM];
        for (uint32_t k = 0; k < nd; k++)
            chunks[k] = rnd_chunk(rng, x.r.shape[k]);
        y.a = wa_rechunk(x.a, chunks);
        y.r = rnew(nd, x.r.shape);
        memcpy(y.r.d, x.r.d, (size_t)rsize(&x.r) * sizeof(double));
        snprintf(trace + tl, tn - tl, " rechunk");
        break;
    }
    case 6: { /* reshape: flatten, or the reversed shape */
        int64_t shape[WEFT_MAX_NDIM];
        uint32_t ond = 1;
        if (xorshift_below(rng, 2)) {
            shape[0] = -1;
        } else {
            ond = nd;
            for (uint32_t k = 0; k < nd; k++)
                shape[k] = x.r.shape[nd - 1 - k];
        }
        y.a = wa_reshape(x.a, ond, shape);
        if (shape[0] == -1)
            shape[0] = rsize(&x.r);
        y.r = rnew(ond, shape);
        memcpy(y.r.d, x.r.d, (size_t)rsize(&x.r) * sizeof(double));
        snprintf(trace + tl, tn - tl, " reshape");
        break;
    }
    case 7: { /* cumsum */
        uint32_t axis = (uint32_t)xorshift_below(rng, nd);
        y.a = wa_cumsum(x.a, axis);
        y.r = rcumsum(&x.r, axis);
        snprintf(trace + tl, tn - tl, " cumsum%u", axis);
        break;
    }
    case 8: { /* a reduction over random axes */
        static const wa_redop ops[] = {WA_R_SUM,    WA_R_MEAN,  WA_R_VAR,
                                       WA_R_STD,    WA_R_MIN,   WA_R_MAX,
                                       WA_R_ARGMIN, WA_R_ARGMAX};
        wa_redop op = ops[xorshift_below(rng, 8)];
        uint32_t axes = (uint32_t)xorshift_below(rng, 1u << nd);
        bool keep = xorshift_below(rng, 2);
        if (op == WA_R_ARGMIN || op == WA_R_ARGMAX) {
            int axis = (int)xorshift_below(rng, nd + 1) - 1;
            axes = axis < 0 ? 0 : 1u << axis;
            keep = false;
            y.a =
                op == WA_R_ARGMIN ? wa_argmin(x.a, axis) : wa_argmax(x.a, axis);
        } else {
            y.a = wa_reduce(op, x.a, axes, keep, op >= WA_R_VAR ? 1 : 0);
        }
        bool empty = rsize(&x.r) == 0;
        if (empty && op != WA_R_SUM) { /* not defined: expect an error */
            if (op == WA_R_MIN || op == WA_R_MAX || op == WA_R_ARGMIN ||
                op == WA_R_ARGMAX)
                assert_null(y.a);
            y.a = NULL;
            return x;
        }
        y.r = rreduce(op, &x.r, axes, keep, op >= WA_R_VAR ? 1 : 0);
        snprintf(trace + tl, tn - tl, " red%d(0x%x%s)", (int)op, axes,
                 keep ? ",keep" : "");
        break;
    }
    case 9: { /* where(x < other, x, other) */
        val o = leaf(ctx, rng, nd, x.r.shape);
        y.a = wa_where(wa_binary(WA_LT, x.a, o.a), x.a, o.a);
        y.r = rbinary(WA_MINIMUM, &x.r, &o.r);
        free(o.r.d);
        snprintf(trace + tl, tn - tl, " where");
        break;
    }
    default: { /* matmul with a random right operand (2-d) */
        if (nd != 2)
            return step(ctx, rng, x, trace, tn);
        int64_t shape[2] = {x.r.shape[1], 1 + (int64_t)xorshift_below(rng, 9)};
        val o = leaf(ctx, rng, 2, shape);
        y.a = wa_matmul(x.a, o.a);
        y.r = rmatmul(&x.r, &o.r);
        free(o.r.d);
        snprintf(trace + tl, tn - tl, " matmul");
        break;
    }
    }
    if (!y.a)
        fail_msg("build failed after%s: %s", trace, wa_error(ctx));
    free(x.r.d);
    return y;
}

static val random_expr(wa_ctx *ctx, uint64_t *rng, val x, int depth,
                       char *trace, size_t tn)
{
    for (int i = 0; i < depth; i++)
        x = step(ctx, rng, x, trace, tn);
    return x;
}

static void random_expressions(weft_runtime *rt, uint64_t seed, int rounds)
{
    uint64_t rng = seed;
    for (int round = 0; round < rounds; round++) {
        wa_ctx *ctx = wa_ctx_new(rt);
        assert_non_null(ctx);
        uint32_t nd = 1 + (uint32_t)xorshift_below(&rng, 3);
        int64_t shape[WEFT_MAX_NDIM];
        for (uint32_t k = 0; k < nd; k++)
            shape[k] = 1 + (int64_t)xorshift_below(&rng, 9);
        char trace[1024];
        snprintf(trace, sizeof trace, "round %d:", round);
        val x = leaf(ctx, &rng, nd, shape);
        x = random_expr(ctx, &rng, x, 1 + (int)xorshift_below(&rng, 4), trace,
                        sizeof trace);
        wa_buffer out;
        weft_err e;
        if (round % 2) { /* into a buffer of garbage: every byte written */
            out = (wa_buffer){.dtype = wa_dtype(x.a), .ndim = wa_ndim(x.a)};
            memcpy(out.shape, wa_shape(x.a), out.ndim * sizeof *out.shape);
            size_t bytes =
                (size_t)wa_size(x.a) * weft_dtype_size(wa_dtype(x.a));
            out.data = malloc(bytes ? bytes : 1);
            memset(out.data, 0xa5, bytes);
            e = wa_compute_into(x.a, out.data, bytes);
        } else {
            e = wa_compute(x.a, &out);
        }
        if (e)
            fail_msg("%s: compute: %s: %s", trace, weft_err_name(e),
                     wa_error(ctx));
        check_equal(trace, &out, &x.r);
        if (getenv("WA_TEST_TRACE"))
            fprintf(stderr, "%s -> %u axes %lld elements\n", trace, out.ndim,
                    (long long)rsize(&x.r));
        wa_buffer_free(&out);
        free(x.r.d);
        wa_ctx_free(ctx);
    }
}

static void test_random_expressions_1thread(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(1);
    random_expressions(rt, 0x1234, scaled(150));
    weft_shutdown(rt);
}

/* With tiny tiles: chunk programs run tile by tile (array_kern.c). */
static void test_random_expressions_threads(void **state)
{
    (void)state;
    setenv("WEFT_ARRAY_TILE", "5", 1);
    weft_runtime *rt = start_runtime(3);
    random_expressions(rt, 0xa77a, scaled(300));
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
    unsetenv("WEFT_ARRAY_TILE");
}

static void test_random_expressions_processes(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    setenv("WEFT_ARRAY_TILE", "11", 1);
    weft_runtime *rt = start_runtime_opts(&o);
    random_expressions(rt, 0x9e3779, scaled_by(30, 5));
    weft_shutdown(rt);
    unsetenv("WEFT_ARRAY_TILE");
}

/* ------------------------------------------------------------ specifics */

/* The same values for any chunking, and for any tile size inside the chunk
 * programs (WEFT_ARRAY_TILE; the first run is untiled: 210 elements). */
static void test_random_same_for_any_chunking(void **state)
{
    (void)state;
    static const char *const tiles[] = {NULL, "3", "16"};
    int64_t shape[3] = {7, 5, 6};
    int64_t ch[4][3] = {{0, 0, 0}, {1, 1, 1}, {3, 2, 4}, {7, 5, 5}};
    wa_buffer first[2] = {{0}};
    for (int t = 0; t < 3; t++) {
        if (tiles[t])
            setenv("WEFT_ARRAY_TILE", tiles[t], 1);
        weft_runtime *rt = start_runtime(2);
        wa_ctx *ctx = wa_ctx_new(rt);
        for (int dist = 0; dist < 2; dist++)
            for (int c = 0; c < 4; c++) {
                wa_array *a =
                    dist ? wa_random_normal(ctx, 42, 1, 3, 3, shape, ch[c])
                         : wa_random_uniform(ctx, 42, -1, 1, 3, shape, ch[c]);
                /* through an elementwise chain and a transpose too */
                if (c == 3)
                    a = wa_transpose(
                        wa_add(wa_transpose(a, NULL), wa_scalar(ctx, 0)), NULL);
                wa_buffer b;
                compute_ok(ctx, a, &b);
                if (t == 0 && c == 0) {
                    first[dist] = b;
                    double lo = 1e9, hi = -1e9;
                    for (int i = 0; i < 210; i++) {
                        double v = ((double *)b.data)[i];
                        lo = v < lo ? v : lo;
                        hi = v > hi ? v : hi;
                    }
                    if (!dist)
                        assert_true(lo >= -1 && hi < 1 && hi - lo > 1);
                    continue;
                }
                assert_memory_equal(first[dist].data, b.data,
                                    210 * sizeof(double));
                wa_buffer_free(&b);
            }
        /* another seed differs */
        wa_buffer other;
        compute_ok(ctx, wa_random_normal(ctx, 43, 1, 3, 3, shape, NULL),
                   &other);
        assert_true(memcmp(first[1].data, other.data, 210 * sizeof(double)) !=
                    0);
        wa_buffer_free(&other);
        wa_ctx_free(ctx);
        weft_shutdown(rt);
        unsetenv("WEFT_ARRAY_TILE");
    }
    wa_buffer_free(&first[0]);
    wa_buffer_free(&first[1]);
}

static void test_creation_and_dtypes(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    wa_ctx *ctx = wa_ctx_new(rt);
    wa_buffer b;
    compute_ok(ctx, wa_arange(ctx, 3, 40, 3, WEFT_DT_I64, 4), &b);
    assert_int_equal(b.dtype, WEFT_DT_I64);
    assert_int_equal(b.shape[0], 13);
    for (int i = 0; i < 13; i++)
        assert_int_equal(((int64_t *)b.data)[i], 3 + 3 * i);
    wa_buffer_free(&b);
    compute_ok(ctx, wa_linspace(ctx, 0, 1, 11, true, 3), &b);
    for (int i = 0; i < 11; i++)
        assert_true(fabs(((double *)b.data)[i] - i / 10.0) < 1e-15);
    wa_buffer_free(&b);
    /* int32 + Python int stays int32; f32 * 2.5 stays f32; ints / is f64 */
    int64_t shape[2] = {3, 4}, ch[2] = {2, 3};
    wa_array *i32 = wa_full(ctx, WEFT_DT_I32, 2, shape, ch, 7);
    wa_array *s = wa_add(i32, wa_scalar(ctx, 2));
    assert_int_equal(wa_dtype(s), WEFT_DT_I32);
    compute_ok(ctx, s, &b);
    assert_int_equal(b.dtype, WEFT_DT_I32);
    assert_int_equal(((int32_t *)b.data)[11], 9);
    wa_buffer_free(&b);
    wa_array *f32 = wa_ones(ctx, WEFT_DT_F32, 2, shape, ch);
    assert_int_equal(wa_dtype(wa_mul(f32, wa_scalar(ctx, 2.5))), WEFT_DT_F32);
    assert_int_equal(wa_dtype(wa_div(i32, i32)), WEFT_DT_F64);
    assert_int_equal(wa_dtype(wa_add(i32, wa_scalar(ctx, 0.5))), WEFT_DT_F64);
    /* integer sums are exact i64; any/all of comparisons */
    compute_ok(ctx, wa_sum(i32, 0, false), &b);
    assert_int_equal(b.dtype, WEFT_DT_I64);
    assert_int_equal(((int64_t *)b.data)[0], 84);
    wa_buffer_free(&b);
    wa_array *gt = wa_binary(WA_GT, wa_arange(ctx, 0, 12, 1, WEFT_DT_I64, 5),
                             wa_scalar(ctx, 10));
    compute_ok(ctx, wa_any(gt, 0, false), &b);
    assert_int_equal(b.dtype, WEFT_DT_BOOL);
    assert_int_equal(((uint8_t *)b.data)[0], 1);
    wa_buffer_free(&b);
    compute_ok(ctx, wa_all(gt, 0, false), &b);
    assert_int_equal(((uint8_t *)b.data)[0], 0);
    wa_buffer_free(&b);
    /* stack along a new middle axis */
    wa_array *parts[3] = {wa_full(ctx, WEFT_DT_F64, 2, shape, ch, 1),
                          wa_full(ctx, WEFT_DT_F64, 2, shape, ch, 2),
                          wa_full(ctx, WEFT_DT_F64, 2, shape, NULL, 3)};
    compute_ok(ctx, wa_stack(parts, 3, 1), &b);
    assert_int_equal(b.ndim, 3);
    assert_int_equal(b.shape[1], 3);
    for (int i = 0; i < 36; i++)
        assert_true(((double *)b.data)[i] == (double)((i / 4) % 3 + 1));
    wa_buffer_free(&b);
    /* more arrays than one join takes at once: nested joins */
    wa_array *many[10];
    for (int i = 0; i < 10; i++) {
        int64_t len = 1 + i % 3;
        many[i] = wa_full(ctx, WEFT_DT_I32, 1, &len, NULL, i);
    }
    compute_ok(ctx, wa_concat(many, 10, 0), &b);
    assert_int_equal(b.shape[0], 19);
    for (int i = 0, at = 0; i < 10; i++)
        for (int k = 0; k < 1 + i % 3; k++)
            assert_int_equal(((int32_t *)b.data)[at++], i);
    wa_buffer_free(&b);
    int64_t one = 1;
    for (int i = 0; i < 9; i++)
        many[i] = wa_full(ctx, WEFT_DT_F64, 1, &one, NULL, i);
    compute_ok(ctx, wa_stack(many, 9, 1), &b);
    assert_int_equal(b.ndim, 2);
    assert_int_equal(b.shape[0], 1);
    assert_int_equal(b.shape[1], 9);
    for (int i = 0; i < 9; i++)
        assert_true(((double *)b.data)[i] == i);
    wa_buffer_free(&b);
    /* int64 cumsum and matmul stay exact integers */
    wa_array *ar = wa_arange(ctx, 0, 10, 1, WEFT_DT_I64, 3);
    compute_ok(ctx, wa_cumsum(ar, 0), &b);
    assert_int_equal(b.dtype, WEFT_DT_I64);
    for (int i = 0; i < 10; i++)
        assert_int_equal(((int64_t *)b.data)[i], i * (i + 1) / 2);
    wa_buffer_free(&b);
    int64_t m34[2] = {3, 4}, c22[2] = {2, 2}, n12[1] = {12};
    wa_array *m = wa_reshape(wa_arange(ctx, 0, 12, 1, WEFT_DT_I64, 5), 2, m34);
    compute_ok(ctx, wa_matmul(m, wa_transpose(wa_rechunk(m, c22), NULL)), &b);
    assert_int_equal(b.dtype, WEFT_DT_I64);
    assert_int_equal(((int64_t *)b.data)[0], 0 + 1 + 4 + 9);
    assert_int_equal(((int64_t *)b.data)[8], 64 + 81 + 100 + 121);
    wa_buffer_free(&b);
    assert_int_equal(wa_ndim(wa_reshape(m, 1, n12)), 1);
    wa_ctx_free(ctx);
    weft_shutdown(rt);
}

static void test_build_errors(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(1);
    wa_ctx *ctx = wa_ctx_new(rt);
    int64_t s1[2] = {3, 4}, s2[2] = {5, 4};
    wa_array *a = wa_zeros(ctx, WEFT_DT_F64, 2, s1, NULL);
    wa_array *b = wa_zeros(ctx, WEFT_DT_F64, 2, s2, NULL);
    assert_null(wa_add(a, b));
    assert_non_null(strstr(wa_error(ctx), "do not broadcast"));
    assert_non_null(strstr(wa_error(ctx), "(3, 4)"));
    assert_null(wa_matmul(a, b));
    assert_non_null(strstr(wa_error(ctx), "do not align"));
    assert_null(wa_sum(a, 4, false));
    assert_non_null(strstr(wa_error(ctx), "axis"));
    int64_t bad[1] = {7};
    assert_null(wa_reshape(a, 1, bad));
    assert_non_null(strstr(wa_error(ctx), "cannot reshape"));
    uint32_t perm[2] = {0, 0};
    assert_null(wa_transpose(a, perm));
    int64_t zero[2] = {1, 0};
    assert_null(wa_slice(a, NULL, NULL, zero));
    assert_non_null(strstr(wa_error(ctx), "step 0"));
    wa_array *two[2] = {a, b};
    assert_null(wa_concat(two, 2, 1));
    assert_non_null(strstr(wa_error(ctx), "must match"));
    assert_null(wa_from_npy(ctx, "/nonexistent/x.npy", NULL));
    assert_true(strlen(wa_error(ctx)) > 0);
    assert_null(wa_add(NULL, a));
    wa_ctx_free(ctx);
    weft_shutdown(rt);
}

/* The seed example's shape: y = (x + x.T) - x.mean(axis=0); y.sum(). The
 * random chunks are recomputed in their consumers and the sum's partial
 * joins y's chain: one task per y chunk. */
static void test_seed_expression_fuses(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    wa_ctx *ctx = wa_ctx_new(rt);
    int64_t shape[2] = {40, 40}, ch[2] = {10, 10};
    wa_array *x = wa_random_uniform(ctx, 7, 0, 1, 2, shape, ch);
    wa_array *y =
        wa_sub(wa_add(x, wa_transpose(x, NULL)), wa_mean(x, 1, false));
    wa_array *s = wa_sum(y, 0, false);
    assert_non_null(s);
    wa_stats st;
    OK(wa_get_stats(s, &st));
    /* 16 mean partials, 4 mean finals, 10 y-sum partials (the 4 diagonal
     * chunks alone, the other 12 in transposed pairs sharing their random
     * chunks), 2 combines and the final sum */
    assert_int_equal(st.graph_nodes, 16 + 4 + 10 + 3);
    assert_true(st.chunk_ops > st.graph_nodes * 2);
    assert_int_equal(st.tasks, st.graph_nodes);
    wa_buffer xb, sb;
    compute_ok(ctx, x, &xb);
    compute_ok(ctx, s, &sb);
    ref xr = to_ref(&xb), xt, m, yr, tot;
    uint32_t perm[2] = {1, 0};
    xt = rtranspose(&xr, perm);
    m = rreduce(WA_R_MEAN, &xr, 1, false, 0);
    ref sum1 = rbinary(WA_ADD, &xr, &xt);
    yr = rbinary(WA_SUB, &sum1, &m);
    tot = rreduce(WA_R_SUM, &yr, 0, false, 0);
    check_equal("seed sum", &sb, &tot);
    char dot[] = "/tmp/weft_arr_XXXXXX.dot";
    close(mkstemps(dot, 4));
    OK(wa_visualize(s, dot));
    FILE *f = fopen(dot, "r");
    char line[512];
    int boxes = 0;
    while (fgets(line, sizeof line, f))
        boxes += strstr(line, "[label=") != NULL;
    fclose(f);
    unlink(dot);
    assert_int_equal(boxes, (int)st.tasks);
    free(xr.d);
    free(xt.d);
    free(m.d);
    free(sum1.d);
    free(yr.d);
    free(tot.d);
    wa_buffer_free(&xb);
    wa_buffer_free(&sb);
    wa_ctx_free(ctx);
    weft_shutdown(rt);
}

/* A reduction over all axes of x + x + x.T pairs chunk (i, j) with (j, i)
 * in one task that makes the random tiles both read once (visiting the
 * twin's tiles in transposed order); x alone has nothing to share and
 * stays a task per chunk. Every reduction, uneven edge chunks, whole and
 * tiled chunk programs, against the loop reference. */
static void test_transposed_pairs(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    static const wa_redop ops[] = {WA_R_SUM,    WA_R_MEAN,  WA_R_VAR,
                                   WA_R_STD,    WA_R_MIN,   WA_R_MAX,
                                   WA_R_ARGMIN, WA_R_ARGMAX};
    const char *tiles[] = {NULL, "7", "40"};
    for (size_t t = 0; t < 3; t++) {
        if (tiles[t])
            setenv("WEFT_ARRAY_TILE", tiles[t], 1);
        wa_ctx *ctx = wa_ctx_new(rt);
        int64_t shape[2] = {30, 30}, ch[2] = {12, 12}; /* 12, 12, 6 */
        wa_array *x = wa_random_normal(ctx, 11, 0, 1, 2, shape, ch);
        /* x's values from a context of its own: computing x here would
         * store its chunks, and stored chunks are read, not remade */
        wa_ctx *cx = wa_ctx_new(rt);
        wa_buffer xb;
        compute_ok(cx, wa_random_normal(cx, 11, 0, 1, 2, shape, ch), &xb);
        wa_ctx_free(cx);
        ref xr = to_ref(&xb);
        uint32_t perm[2] = {1, 0};
        ref xt = rtranspose(&xr, perm), x2 = rbinary(WA_ADD, &xr, &xr);
        ref yr = rbinary(WA_ADD, &x2, &xt);
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
            int ddof = ops[k] == WA_R_VAR || ops[k] == WA_R_STD ? 1 : 0;
            /* a y per reduction: a y read by several would be stored */
            wa_array *y = wa_add(wa_add(x, x), wa_transpose(x, NULL));
            wa_array *r = wa_reduce(ops[k], y, 0, false, ddof);
            wa_stats st;
            assert_non_null(r);
            OK(wa_get_stats(r, &st));
            /* 3 diagonal chunks, 3 pairs, the final combine */
            assert_int_equal(st.graph_nodes, 3 + 3 + 1);
            wa_buffer got;
            compute_ok(ctx, r, &got);
            ref want = rreduce(ops[k], &yr, 0, false, ddof);
            char what[64];
            snprintf(what, sizeof what, "pairs op %d tile %s", (int)ops[k],
                     tiles[t] ? tiles[t] : "default");
            check_equal(what, &got, &want);
            wa_buffer_free(&got);
            free(want.d);
        }
        wa_array *sx = wa_sum(x, 0, false);
        wa_stats st;
        OK(wa_get_stats(sx, &st));
        assert_int_equal(st.graph_nodes, 9 + 2 + 1); /* no pairs */
        wa_buffer got;
        compute_ok(ctx, sx, &got);
        ref want = rreduce(WA_R_SUM, &xr, 0, false, 0);
        check_equal("sum of x", &got, &want);
        wa_buffer_free(&got);
        free(want.d);
        free(xr.d);
        free(xt.d);
        free(x2.d);
        free(yr.d);
        wa_buffer_free(&xb);
        wa_ctx_free(ctx);
        unsetenv("WEFT_ARRAY_TILE");
    }
    weft_shutdown(rt);
}

static int run_python(const char *code)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c '%s'", code);
    return system(cmd);
}

static void test_npy_round_trips(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        run_python("import numpy") != 0) {
        fprintf(stderr, "array_test: no numpy; .npy not checked\n");
        skip();
    }
    weft_runtime *rt = start_runtime(2);
    wa_ctx *ctx = wa_ctx_new(rt);
    char dir[] = "/tmp/weft_npy_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char npy[256], raw[256], code[2048];
    snprintf(npy, sizeof npy, "%s/a.npy", dir);
    snprintf(raw, sizeof raw, "%s/a.raw", dir);
    /* write chunk by chunk: an expression never assembled */
    int64_t shape[3] = {9, 7, 5}, ch[3] = {4, 3, 2};
    for (int dt = 0; dt < 3; dt++) {
        wa_array *x = wa_random_normal(ctx, 5, 0, 1, 3, shape, ch);
        wa_array *y = wa_add(wa_transpose(wa_mul(x, wa_scalar(ctx, 3)), NULL),
                             wa_scalar(ctx, 1));
        weft_dtype want = dt == 0   ? WEFT_DT_F64
                          : dt == 1 ? WEFT_DT_F32
                                    : WEFT_DT_I32;
        y = wa_astype(y, want);
        OK(wa_to_npy(y, npy));
        wa_buffer b;
        compute_ok(ctx, y, &b);
        FILE *f = fopen(raw, "wb");
        fwrite(b.data, 1, (size_t)wa_size(y) * (want == WEFT_DT_F64 ? 8 : 4),
               f);
        fclose(f);
        wa_buffer_free(&b);
        const char *np = want == WEFT_DT_F64   ? "float64"
                         : want == WEFT_DT_F32 ? "float32"
                                               : "int32";
        snprintf(code, sizeof code,
                 "import numpy as np, sys\n"
                 "a = np.load(\"%s\")\n"
                 "r = np.fromfile(\"%s\", dtype=np.%s).reshape(5, 7, 9)\n"
                 "sys.exit(0 if a.dtype == r.dtype and a.shape == (5, 7, 9) "
                 "and np.array_equal(a, r) else 1)\n",
                 npy, raw, np);
        assert_int_equal(run_python(code), 0);
    }
    /* numpy's file read by chunks */
    snprintf(code, sizeof code,
             "import numpy as np\n"
             "np.save(\"%s\", np.arange(120, dtype=np.int64).reshape(6, 20))\n",
             npy);
    assert_int_equal(run_python(code), 0);
    int64_t c2[2] = {4, 7};
    wa_array *a = wa_from_npy(ctx, npy, c2);
    assert_non_null(a);
    assert_int_equal(wa_dtype(a), WEFT_DT_I64);
    assert_int_equal(wa_nchunks(a, 1), 3);
    wa_buffer b;
    compute_ok(ctx, wa_sum(a, 2, false), &b);
    for (int i = 0; i < 6; i++)
        assert_int_equal(((int64_t *)b.data)[i], 20 * 20 * i + 190);
    wa_buffer_free(&b);
    unlink(npy);
    unlink(raw);
    rmdir(dir);
    wa_ctx_free(ctx);
    weft_shutdown(rt);
}

static void test_persist_and_failures(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    wa_ctx *ctx = wa_ctx_new(rt);
    int64_t shape[2] = {6, 8}, ch[2] = {4, 3};
    wa_array *x = wa_random_uniform(ctx, 1, 0, 1, 2, shape, ch);
    wa_array *e = wa_unary(WA_EXP, x);
    wa_array *p = wa_persist(e);
    assert_non_null(p);
    wa_buffer b1, b2;
    compute_ok(ctx, e, &b1);
    compute_ok(ctx, wa_sum(p, 1, true), &b2);
    for (int i = 0; i < 8; i++) {
        double s = 0;
        for (int r = 0; r < 6; r++)
            s += ((double *)b1.data)[r * 8 + i];
        assert_true(close_to(((double *)b2.data)[i], s));
    }
    wa_buffer_free(&b1);
    wa_buffer_free(&b2);
    /* a chunk failing at run time: an error naming the kernel */
    int64_t s1[1] = {5};
    wa_array *bad = wa_binary(WA_POW, wa_arange(ctx, 0, 5, 1, WEFT_DT_I64, 2),
                              wa_full(ctx, WEFT_DT_I64, 1, s1, NULL, -1));
    assert_non_null(bad);
    wa_buffer out;
    weft_err err = wa_compute(bad, &out);
    assert_int_not_equal(err, 0);
    assert_non_null(strstr(wa_error(ctx), "wa_blk"));
    int64_t into[5];
    assert_int_equal(wa_compute_into(bad, into, sizeof into), err);
    assert_non_null(strstr(wa_error(ctx), "wa_blk"));
    /* into a buffer of the wrong size: refused before anything runs */
    assert_int_equal(wa_compute_into(e, into, sizeof into), WEFT_EINVAL);
    assert_non_null(
        strstr(wa_error(ctx), "takes 384 bytes, the buffer has 40"));
    assert_int_equal(wa_compute_into(e, NULL, 384), WEFT_EINVAL);
    wa_ctx_free(ctx);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_creation_and_dtypes),
        cmocka_unit_test(test_random_same_for_any_chunking),
        cmocka_unit_test(test_seed_expression_fuses),
        cmocka_unit_test(test_transposed_pairs),
        cmocka_unit_test(test_persist_and_failures),
        cmocka_unit_test(test_npy_round_trips),
        cmocka_unit_test(test_random_expressions_1thread),
        cmocka_unit_test(test_random_expressions_threads),
        cmocka_unit_test(test_random_expressions_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
