/* Tree reductions over chunks: partial states, their combination and the
 * final result (see nd.h), and cumulative sums with a carry.
 *
 * A partial works on a canonical form of the input: size-1 axes dropped
 * and neighbouring axes of the same kind (reduced or kept) merged, then
 * rows along the last axis: a reduced last axis folds each contiguous row
 * into one output (multi-accumulator loops); a kept last axis folds the
 * row elementwise into a contiguous row of outputs (vectorised). Ints sum
 * and multiply in int64 (exact, wrapping as numpy); everything else works
 * in float64. */
#include "array/nd_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t wf_red_width(wf_redop op)
{
    switch (op) {
    case WF_R_MEAN:
    case WF_R_ARGMIN:
    case WF_R_ARGMAX:
        return 2;
    case WF_R_VAR:
    case WF_R_STD:
        return 3;
    default:
        return 1;
    }
}

static const char *redop_name(wf_redop op)
{
    static const char *const names[] = {"sum",    "prod", "mean", "var",
                                        "std",    "min",  "max",  "argmin",
                                        "argmax", "any",  "all"};
    return (unsigned)op < sizeof names / sizeof *names ? names[op] : "?";
}

/* ------------------------------------------------------------ row kernels */

/* Sum of n doubles: 32 lanes, each the sum of every 32nd element,
 * updated elementwise from each 32-element block so the compiler
 * vectorises them with no dependency chain between lanes; pairwise above
 * 4096 elements for accuracy. */
WF_ND_HOT static double sum_f64(const double *x, int64_t n)
{
    if (n > 4096) {
        int64_t h = (n / 2) & ~(int64_t)31;
        return sum_f64(x, h) + sum_f64(x + h, n - h);
    }
    double s[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const double *xb = x + i;
        for (int k = 0; k < 32; k++)
            s[k] += xb[k];
    }
    for (int w = 16; w > 0; w /= 2) /* fold the lanes pairwise */
        for (int k = 0; k < w; k++)
            s[k] += s[k + w];
    double t = 0;
    for (; i < n; i++)
        t += x[i];
    return s[0] + t;
}

/* Sum of (x - mu)^2, the same way. */
WF_ND_HOT static double sqdev_f64(const double *x, int64_t n, double mu)
{
    if (n > 4096) {
        int64_t h = (n / 2) & ~(int64_t)31;
        return sqdev_f64(x, h, mu) + sqdev_f64(x + h, n - h, mu);
    }
    double s[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const double *xb = x + i;
        for (int k = 0; k < 32; k++) {
            double d = xb[k] - mu;
            s[k] += d * d;
        }
    }
    for (int w = 16; w > 0; w /= 2)
        for (int k = 0; k < w; k++)
            s[k] += s[k + w];
    double t = 0;
    for (; i < n; i++)
        t += (x[i] - mu) * (x[i] - mu);
    return s[0] + t;
}

WF_ND_HOT static int64_t sum_i64(const int64_t *x, int64_t n)
{
    uint64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (uint64_t)x[i];
    return (int64_t)s;
}

static inline double nmin(double a, double b)
{
    return (b < a || b != b) ? b : a;
}
static inline double nmax(double a, double b)
{
    return (b > a || b != b) ? b : a;
}

/* Max (or min) of x[0..n), n >= 1, NaN skipped, and whether a NaN was
 * seen: 32 lanes of compare-and-select and of a NaN flag, updated
 * elementwise from each 32-element block so the compiler vectorises them
 * (maxpd/minpd), then folded. */
#define ROW_EXTREME(NAME, OP)                                                  \
    WF_ND_HOT static double NAME(const double *x, int64_t n, bool *nan)        \
    {                                                                          \
        double m[32];                                                          \
        uint64_t fl[32];                                                       \
        for (int k = 0; k < 32; k++) {                                         \
            m[k] = x[0];                                                       \
            fl[k] = 0;                                                         \
        }                                                                      \
        int64_t i = 0;                                                         \
        for (; i + 32 <= n; i += 32) {                                         \
            const double *xb = x + i;                                          \
            for (int k = 0; k < 32; k++) {                                     \
                double v = xb[k];                                              \
                m[k] = v OP m[k] ? v : m[k];                                   \
                fl[k] |= v != v;                                               \
            }                                                                  \
        }                                                                      \
        uint64_t f = 0;                                                        \
        double r = m[0];                                                       \
        for (int k = 0; k < 32; k++) {                                         \
            r = m[k] OP r ? m[k] : r;                                          \
            f |= fl[k];                                                        \
        }                                                                      \
        for (; i < n; i++) {                                                   \
            r = x[i] OP r ? x[i] : r;                                          \
            f |= x[i] != x[i];                                                 \
        }                                                                      \
        *nan = f != 0 || r != r;                                               \
        return r;                                                              \
    }
ROW_EXTREME(row_max, >)
ROW_EXTREME(row_min, <)

/* Index of the first x[i] == m (or the first NaN when nan), known to be
 * in x[0..n): 32-element blocks tested whole (vectorised), then a scan
 * inside the block that has it. */
WF_ND_HOT static int64_t find_first(const double *x, int64_t n, double m,
                                    bool nan)
{
    int64_t b = 0;
    for (; b + 32 <= n; b += 32) {
        int hit = 0;
        for (int k = 0; k < 32; k++)
            hit |= nan ? x[b + k] != x[b + k] : x[b + k] == m;
        if (hit)
            break;
    }
    while (nan ? x[b] == x[b] : x[b] != m)
        b++;
    return b;
}

/* Index of the first max (or min) of x[0..n), n >= 1, the first NaN if
 * any (numpy's argmax), and its value in *val. */
static int64_t row_arg(bool mx, const double *x, int64_t n, double *val)
{
    bool nan;
    double m = mx ? row_max(x, n, &nan) : row_min(x, n, &nan);
    int64_t i = find_first(x, n, m, nan);
    *val = x[i];
    return i;
}

/* The kinds of fold the traversal does; VAR needs two (sum, then squared
 * deviations from each output's mean). */
typedef enum fold {
    F_SUM,
    F_PROD,
    F_MIN,
    F_MAX,
    F_ANY,
    F_ALL,
    F_SQDEV,
    F_ISUM,
    F_IPROD,
} fold;

/* acc[o] op= fold of x[0..n) (one output). */
static void fold_row(fold f, const void *xp, int64_t n, void *accp,
                     const double *mu)
{
    const double *x = xp;
    double *acc = accp;
    switch (f) {
    case F_SUM:
        *acc += sum_f64(x, n);
        return;
    case F_SQDEV:
        *acc += sqdev_f64(x, n, *mu);
        return;
    case F_PROD: {
        double p = *acc;
        for (int64_t i = 0; i < n; i++)
            p *= x[i];
        *acc = p;
        return;
    }
    case F_MIN:
    case F_MAX: {
        if (n <= 0)
            return;
        bool nan;
        double m = f == F_MAX ? row_max(x, n, &nan) : row_min(x, n, &nan);
        if (nan)
            m = NAN;
        *acc = f == F_MAX ? nmax(*acc, m) : nmin(*acc, m);
        return;
    }
    case F_ANY: {
        int any = 0;
        for (int64_t i = 0; i < n; i++)
            any |= x[i] != 0;
        *acc = *acc != 0 || any;
        return;
    }
    case F_ALL: {
        int all = 1;
        for (int64_t i = 0; i < n; i++)
            all &= x[i] != 0;
        *acc = *acc != 0 && all;
        return;
    }
    case F_ISUM:
        *(int64_t *)accp =
            (int64_t)((uint64_t) * (int64_t *)accp + (uint64_t)sum_i64(xp, n));
        return;
    case F_IPROD: {
        const int64_t *xi = xp;
        uint64_t p = (uint64_t) * (int64_t *)accp;
        for (int64_t i = 0; i < n; i++)
            p *= (uint64_t)xi[i];
        *(int64_t *)accp = (int64_t)p;
        return;
    }
    }
}

/* acc[j] op= x[j] for j < n (a row of outputs). */
WF_ND_HOT static void fold_cols(fold f, const void *xp, int64_t n, void *accp,
                                const double *mu)
{
    const double *restrict x = xp;
    double *restrict acc = accp;
    switch (f) {
    case F_SUM:
        for (int64_t j = 0; j < n; j++)
            acc[j] += x[j];
        return;
    case F_SQDEV:
        for (int64_t j = 0; j < n; j++)
            acc[j] += (x[j] - mu[j]) * (x[j] - mu[j]);
        return;
    case F_PROD:
        for (int64_t j = 0; j < n; j++)
            acc[j] *= x[j];
        return;
    case F_MIN:
        for (int64_t j = 0; j < n; j++)
            acc[j] = nmin(acc[j], x[j]);
        return;
    case F_MAX:
        for (int64_t j = 0; j < n; j++)
            acc[j] = nmax(acc[j], x[j]);
        return;
    case F_ANY:
        for (int64_t j = 0; j < n; j++)
            acc[j] = (acc[j] != 0) | (x[j] != 0);
        return;
    case F_ALL:
        for (int64_t j = 0; j < n; j++)
            acc[j] = (acc[j] != 0) & (x[j] != 0);
        return;
    case F_ISUM: {
        const uint64_t *restrict xi = xp;
        uint64_t *restrict ai = accp;
        for (int64_t j = 0; j < n; j++)
            ai[j] += xi[j];
        return;
    }
    case F_IPROD: {
        const uint64_t *restrict xi = xp;
        uint64_t *restrict ai = accp;
        for (int64_t j = 0; j < n; j++)
            ai[j] *= xi[j];
        return;
    }
    }
}

/* The canonical form of a reduction: groups of merged axes, each reduced
 * or kept, with the output stride of each (0 when reduced). */
typedef struct rplan {
    uint32_t n;
    int64_t ext[WEFT_MAX_NDIM];
    int64_t ost[WEFT_MAX_NDIM];
    bool red[WEFT_MAX_NDIM];
    int64_t total, nout;
} rplan;

static void rplan_init(rplan *p, const wf_nd *a, uint32_t mask)
{
    memset(p, 0, sizeof *p);
    p->total = wf_nd_size(a);
    p->nout = 1;
    for (uint32_t d = 0; d < a->ndim; d++) {
        bool r = mask >> d & 1;
        if (!r)
            p->nout *= a->shape[d];
        if (a->shape[d] == 1)
            continue;
        if (p->n > 0 && p->red[p->n - 1] == r) {
            p->ext[p->n - 1] *= a->shape[d];
            continue;
        }
        p->ext[p->n] = a->shape[d];
        p->red[p->n++] = r;
    }
    int64_t s = 1;
    for (uint32_t g = p->n; g-- > 0;) {
        p->ost[g] = p->red[g] ? 0 : s;
        if (!p->red[g])
            s *= p->ext[g];
    }
}

/* Elements converted at a time when the input is not in the work dtype. */
#define CONV_BLOCK 1024

/* Fold the row x[0..len) (dtype xdt, work dtype wdt) into acc: into one
 * output when red, else elementwise into acc[0..len). */
static void fold_any(fold f, bool red, const char *x, weft_dtype xdt,
                     weft_dtype wdt, int64_t len, char *acc, const double *mu)
{
    if (xdt == wdt) {
        if (red)
            fold_row(f, x, len, acc, mu);
        else
            fold_cols(f, x, len, acc, mu);
        return;
    }
    uint64_t buf[CONV_BLOCK];
    size_t xel = weft_dtype_size(xdt);
    for (int64_t c0 = 0; c0 < len; c0 += CONV_BLOCK) {
        int64_t m = len - c0 < CONV_BLOCK ? len - c0 : CONV_BLOCK;
        wf_nd_convert(buf, wdt, x + c0 * (int64_t)xel, xdt, m);
        if (red)
            fold_row(f, buf, m, acc, mu);
        else
            fold_cols(f, buf, m, acc + c0 * 8, mu ? mu + c0 : NULL);
    }
}

/* Fold all of x (dtype xdt) into acc (8-byte elements of the work dtype
 * wdt) per plan. */
static void rplan_fold(const rplan *p, fold f, const void *x, weft_dtype xdt,
                       weft_dtype wdt, void *acc, const double *mu)
{
    if (p->total == 0)
        return;
    if (p->n == 0) { /* one element */
        fold_any(f, true, x, xdt, wdt, 1, acc, mu);
        return;
    }
    uint32_t l = p->n - 1;
    int64_t len = p->ext[l], rows = p->total / len;
    int64_t idx[WEFT_MAX_NDIM] = {0}, o = 0;
    size_t xel = weft_dtype_size(xdt);
    const char *xr = x;
    char *ac = acc;
    for (int64_t r = 0; r < rows; r++) {
        fold_any(f, p->red[l], xr, xdt, wdt, len, ac + o * 8,
                 mu ? mu + o : NULL);
        xr += len * (int64_t)xel;
        for (uint32_t d = l; d-- > 0;) {
            if (++idx[d] < p->ext[d]) {
                o += p->ost[d];
                break;
            }
            idx[d] = 0;
            o -= p->ost[d] * (p->ext[d] - 1);
        }
    }
}

/* argmin/argmax: first index of the extreme, NaN the most extreme. */
static inline bool arg_better(bool mx, double x, double v)
{
    if (v != v)
        return false;
    return x != x || (mx ? x > v : x < v);
}

/* Partial of argmin/argmax into val/ix (nout entries). */
static void arg_partial(bool mx, const wf_nd *a, uint32_t mask,
                        const int64_t *origin, const int64_t *gshape,
                        double *val, double *ix, int64_t nout)
{
    const double *x = a->data;
    uint32_t n = a->ndim;
    bool all = mask == (n ? (1u << n) - 1 : 0);
    for (int64_t o = 0; o < nout; o++) {
        val[o] = mx ? -INFINITY : INFINITY;
        ix[o] = -1;
    }
    int64_t total = wf_nd_size(a);
    if (total == 0)
        return;
    if (all) {
        /* rows of the last axis; global flat index of each element */
        int64_t gst[WEFT_MAX_NDIM];
        wf_nd_strides(n, gshape, gst);
        int64_t len = n ? a->shape[n - 1] : 1, rows = total / len;
        int64_t idx[WEFT_MAX_NDIM] = {0};
        int64_t g0 = 0;
        for (uint32_t d = 0; d < n; d++)
            g0 += origin[d] * gst[d];
        double bv = val[0], bi = -1;
        for (int64_t r = 0; r < rows; r++) {
            double rv;
            int64_t j = row_arg(mx, x + r * len, len, &rv);
            if (bi < 0 || arg_better(mx, rv, bv)) {
                bv = rv;
                bi = (double)(g0 + j);
            }
            for (uint32_t d = n > 0 ? n - 1 : 0; d-- > 0;) {
                if (++idx[d] < a->shape[d]) {
                    g0 += gst[d];
                    break;
                }
                idx[d] = 0;
                g0 -= gst[d] * (a->shape[d] - 1);
            }
        }
        val[0] = bv;
        ix[0] = bi;
        return;
    }
    uint32_t ax = (uint32_t)__builtin_ctz(mask);
    int64_t outer = 1, inner = 1, len = a->shape[ax];
    for (uint32_t d = 0; d < ax; d++)
        outer *= a->shape[d];
    for (uint32_t d = ax + 1; d < n; d++)
        inner *= a->shape[d];
    if (inner == 1 && len > 0) { /* the last axis: contiguous rows */
        for (int64_t q = 0; q < outer; q++)
            ix[q] =
                (double)(origin[ax] + row_arg(mx, x + q * len, len, &val[q]));
        return;
    }
    for (int64_t q = 0; q < outer; q++) {
        double *v = val + q * inner, *w = ix + q * inner;
        for (int64_t k = 0; k < len; k++) {
            const double *row = x + (q * len + k) * inner;
            double at = (double)(origin[ax] + k);
            for (int64_t j = 0; j < inner; j++)
                if (k == 0 || arg_better(mx, row[j], v[j])) {
                    v[j] = row[j];
                    w[j] = at;
                }
        }
    }
}

/* Check op and axes; *mask is the set of reduced axes. */
static weft_err check_red(const char *who, wf_redop op, const wf_nd *a,
                          uint32_t axes, uint32_t *mask)
{
    weft_err e;
    if ((unsigned)op > WF_R_ALL)
        return wf_nd_fail(WEFT_EINVAL, "%s: unknown op %d", who, (int)op);
    if ((e = wf_nd_check(a, who, "a")))
        return e;
    uint32_t full = a->ndim ? (uint32_t)((1ull << a->ndim) - 1) : 0;
    if (axes & ~full)
        return wf_nd_fail(WEFT_EINVAL,
                          "%s %s: axes mask 0x%x names axes beyond the %u of "
                          "a",
                          who, redop_name(op), axes, a->ndim);
    *mask = axes ? axes : full;
    if ((op == WF_R_ARGMIN || op == WF_R_ARGMAX) && *mask != full &&
        __builtin_popcount(*mask) != 1)
        return wf_nd_fail(WEFT_EINVAL,
                          "%s %s: one axis or all, not the mask 0x%x", who,
                          redop_name(op), axes);
    if (a->ndim + 1 > WEFT_MAX_NDIM)
        return wf_nd_fail(WEFT_EINVAL,
                          "%s %s: a has %u axes; the state needs one more", who,
                          redop_name(op), a->ndim);
    return 0;
}

static bool int_like(weft_dtype dt)
{
    return dt != WEFT_DT_F64 && dt != WEFT_DT_F32;
}

weft_err wf_nd_reduce_partial(wf_redop op, const wf_nd *a, uint32_t axes,
                              const int64_t *origin, const int64_t *gshape,
                              wf_nd *state)
{
    *state = (wf_nd){0};
    uint32_t mask = 0;
    weft_err e = check_red("reduce_partial", op, a, axes, &mask);
    if (e)
        return e;
    size_t w = wf_red_width(op);
    int64_t sshape[WEFT_MAX_NDIM];
    for (uint32_t d = 0; d < a->ndim; d++)
        sshape[d] = mask >> d & 1 ? 1 : a->shape[d];
    sshape[a->ndim] = (int64_t)w;
    if ((e = wf_nd_alloc(state, WEFT_DT_F64, a->ndim + 1, sshape, false)))
        return wf_nd_fail_prefix(e, "reduce_partial");
    bool isum = (op == WF_R_SUM || op == WF_R_PROD || op == WF_R_MEAN) &&
                int_like(a->dtype);
    weft_dtype wdt = isum ? WEFT_DT_I64 : WEFT_DT_F64;
    bool arg = op == WF_R_ARGMIN || op == WF_R_ARGMAX;
    wf_nd tmp = {0};
    const wf_nd *x = arg ? wf_nd_as(a, wdt, &tmp) : a;
    rplan p;
    rplan_init(&p, a, mask);
    int64_t nout = p.nout;
    double *acc = malloc((size_t)(nout ? nout : 1) * 2 * sizeof(double));
    if (!x || !acc) {
        e = wf_nd_fail(WEFT_ENOMEM, "reduce_partial: working memory");
        wf_nd_free(state);
        goto done;
    }
    double *st = state->data;
    double cnt = nout ? (double)(p.total / nout) : 0;
    if (arg) {
        int64_t zero[WEFT_MAX_NDIM] = {0};
        arg_partial(op == WF_R_ARGMAX, x, mask, origin ? origin : zero,
                    gshape ? gshape : a->shape, acc, acc + nout, nout);
        for (int64_t o = 0; o < nout; o++) {
            st[2 * o] = acc[o];
            st[2 * o + 1] = acc[nout + o];
        }
        goto done;
    }
    if (isum) {
        int64_t *ia = (int64_t *)acc;
        for (int64_t o = 0; o < nout; o++)
            ia[o] = op == WF_R_PROD ? 1 : 0;
        rplan_fold(&p, op == WF_R_PROD ? F_IPROD : F_ISUM, a->data, a->dtype,
                   wdt, ia, NULL);
        for (int64_t o = 0; o < nout; o++)
            acc[o] = (double)ia[o];
    } else {
        static const double init[] = {
            [WF_R_SUM] = 0,         [WF_R_PROD] = 1, [WF_R_MEAN] = 0,
            [WF_R_VAR] = 0,         [WF_R_STD] = 0,  [WF_R_MIN] = INFINITY,
            [WF_R_MAX] = -INFINITY, [WF_R_ANY] = 0,  [WF_R_ALL] = 1};
        static const fold folds[] = {
            [WF_R_SUM] = F_SUM, [WF_R_PROD] = F_PROD, [WF_R_MEAN] = F_SUM,
            [WF_R_VAR] = F_SUM, [WF_R_STD] = F_SUM,   [WF_R_MIN] = F_MIN,
            [WF_R_MAX] = F_MAX, [WF_R_ANY] = F_ANY,   [WF_R_ALL] = F_ALL};
        for (int64_t o = 0; o < nout; o++)
            acc[o] = init[op];
        rplan_fold(&p, folds[op], a->data, a->dtype, wdt, acc, NULL);
    }
    if (op == WF_R_VAR || op == WF_R_STD) {
        double *mu = acc, *m2 = acc + nout;
        for (int64_t o = 0; o < nout; o++) {
            mu[o] = cnt ? mu[o] / cnt : 0;
            m2[o] = 0;
        }
        rplan_fold(&p, F_SQDEV, a->data, a->dtype, wdt, m2, mu);
        for (int64_t o = 0; o < nout; o++) {
            st[3 * o] = cnt;
            st[3 * o + 1] = mu[o];
            st[3 * o + 2] = m2[o];
        }
    } else if (op == WF_R_MEAN) {
        for (int64_t o = 0; o < nout; o++) {
            st[2 * o] = acc[o];
            st[2 * o + 1] = cnt;
        }
    } else if (nout > 0) {
        memcpy(st, acc, (size_t)nout * sizeof(double));
    }
done:
    free(acc);
    wf_nd_free(&tmp);
    return e;
}

/* s op= t for one output's fields. */
static void combine_one(wf_redop op, double *s, const double *t)
{
    switch (op) {
    case WF_R_SUM:
        s[0] += t[0];
        return;
    case WF_R_PROD:
        s[0] *= t[0];
        return;
    case WF_R_MEAN:
        s[0] += t[0];
        s[1] += t[1];
        return;
    case WF_R_VAR:
    case WF_R_STD: { /* Chan et al.: count, mean, M2 */
        double na = s[0], nb = t[0], n = na + nb;
        if (nb == 0)
            return;
        if (na == 0) {
            memcpy(s, t, 3 * sizeof *s);
            return;
        }
        double delta = t[1] - s[1];
        s[1] += delta * (nb / n);
        s[2] += t[2] + delta * delta * (na * nb / n);
        s[0] = n;
        return;
    }
    case WF_R_MIN:
        s[0] = nmin(s[0], t[0]);
        return;
    case WF_R_MAX:
        s[0] = nmax(s[0], t[0]);
        return;
    case WF_R_ARGMIN:
    case WF_R_ARGMAX: {
        bool mx = op == WF_R_ARGMAX;
        if (t[1] < 0)
            return;
        bool take = s[1] < 0 || arg_better(mx, t[0], s[0]) ||
                    (t[1] < s[1] && !arg_better(mx, s[0], t[0]));
        if (take) {
            s[0] = t[0];
            s[1] = t[1];
        }
        return;
    }
    case WF_R_ANY:
        s[0] = s[0] != 0 || t[0] != 0;
        return;
    case WF_R_ALL:
        s[0] = s[0] != 0 && t[0] != 0;
        return;
    }
}

/* A state of op: f64, trailing axis of its width. */
static weft_err check_state(const char *who, wf_redop op, const wf_nd *s,
                            size_t i)
{
    weft_err e = wf_nd_check(s, who, "a state");
    if (e)
        return e;
    if (s->dtype != WEFT_DT_F64 || s->ndim < 1 ||
        s->shape[s->ndim - 1] != (int64_t)wf_red_width(op)) {
        char x[160];
        return wf_nd_fail(WEFT_EINVAL,
                          "%s %s: state %zu is %s %s, not a float64 state "
                          "with a trailing axis of %zu",
                          who, redop_name(op), i, wf_dtype_name(s->dtype),
                          wf_nd_shape_str(x, sizeof x, s->ndim, s->shape),
                          wf_red_width(op));
    }
    return 0;
}

weft_err wf_nd_reduce_combine(wf_redop op, const wf_nd *const *states, size_t n,
                              wf_nd *state)
{
    *state = (wf_nd){0};
    weft_err e;
    if ((unsigned)op > WF_R_ALL)
        return wf_nd_fail(WEFT_EINVAL, "reduce_combine: unknown op %d",
                          (int)op);
    if (!states || n == 0)
        return wf_nd_fail(WEFT_EINVAL, "reduce_combine: no states");
    for (size_t i = 0; i < n; i++) {
        if ((e = check_state("reduce_combine", op, states[i], i)))
            return e;
        bool same = states[i]->ndim == states[0]->ndim;
        for (uint32_t d = 0; same && d < states[0]->ndim; d++)
            same = states[i]->shape[d] == states[0]->shape[d];
        if (!same) {
            char x[160], y[160];
            return wf_nd_fail(
                WEFT_EINVAL,
                "reduce_combine %s: state %zu has shape %s, state 0 %s",
                redop_name(op), i,
                wf_nd_shape_str(x, sizeof x, states[i]->ndim, states[i]->shape),
                wf_nd_shape_str(y, sizeof y, states[0]->ndim,
                                states[0]->shape));
        }
    }
    const wf_nd *s0 = states[0];
    if ((e = wf_nd_alloc(state, WEFT_DT_F64, s0->ndim, s0->shape, false)))
        return wf_nd_fail_prefix(e, "reduce_combine");
    size_t w = wf_red_width(op);
    int64_t nout = wf_nd_size(s0) / (int64_t)w;
    double *s = state->data;
    if (nout > 0)
        memcpy(s, s0->data, wf_nd_bytes(s0));
    for (size_t i = 1; i < n; i++) {
        const double *t = states[i]->data;
        if (op == WF_R_SUM) {
            for (int64_t o = 0; o < nout; o++)
                s[o] += t[o];
            continue;
        }
        for (int64_t o = 0; o < nout; o++)
            combine_one(op, s + o * (int64_t)w, t + o * (int64_t)w);
    }
    return 0;
}

/* The result dtype of op on in_dt. */
static weft_dtype result_dtype(wf_redop op, weft_dtype in)
{
    switch (op) {
    case WF_R_SUM:
    case WF_R_PROD:
        return int_like(in) ? WEFT_DT_I64 : in;
    case WF_R_MEAN:
    case WF_R_VAR:
    case WF_R_STD:
        return in == WEFT_DT_F32 ? WEFT_DT_F32 : WEFT_DT_F64;
    case WF_R_MIN:
    case WF_R_MAX:
        return in;
    case WF_R_ARGMIN:
    case WF_R_ARGMAX:
        return WEFT_DT_I64;
    default:
        return WEFT_DT_BOOL;
    }
}

weft_err wf_nd_reduce_finalize(wf_redop op, const wf_nd *state,
                               weft_dtype in_dt, int ddof, wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((unsigned)op > WF_R_ALL)
        return wf_nd_fail(WEFT_EINVAL, "reduce_finalize: unknown op %d",
                          (int)op);
    if ((e = check_state("reduce_finalize", op, state, 0)))
        return e;
    if (!wf_nd_dtype_ok(in_dt))
        return wf_nd_fail(WEFT_EINVAL, "reduce_finalize: unknown dtype %d",
                          (int)in_dt);
    size_t w = wf_red_width(op);
    int64_t nout = wf_nd_size(state) / (int64_t)w;
    const double *s = state->data;
    weft_dtype rt = result_dtype(op, in_dt);
    if ((e = wf_nd_alloc(out, rt, state->ndim - 1, state->shape, false)))
        return wf_nd_fail_prefix(e, "reduce_finalize");
    double *v = malloc((size_t)(nout ? nout : 1) * sizeof *v);
    if (!v) {
        wf_nd_free(out);
        return wf_nd_fail(WEFT_ENOMEM, "reduce_finalize: working memory");
    }
    for (int64_t o = 0; o < nout; o++) {
        const double *f = s + o * (int64_t)w;
        switch (op) {
        case WF_R_MEAN:
            v[o] = f[0] / f[1];
            break;
        case WF_R_VAR:
        case WF_R_STD: {
            double dof = f[0] - ddof;
            v[o] = f[2] / (dof > 0 ? dof : 0);
            if (op == WF_R_STD)
                v[o] = sqrt(v[o]);
            break;
        }
        case WF_R_ARGMIN:
        case WF_R_ARGMAX:
            if (f[1] < 0) {
                free(v);
                wf_nd_free(out);
                return wf_nd_fail(WEFT_EINVAL,
                                  "reduce_finalize %s: an empty sequence "
                                  "has no extreme",
                                  redop_name(op));
            }
            v[o] = f[1];
            break;
        default:
            v[o] = f[0];
        }
    }
    wf_nd_convert(out->data, rt, v, WEFT_DT_F64, nout);
    free(v);
    return 0;
}

weft_err wf_nd_reduce(wf_redop op, const wf_nd *a, uint32_t axes, int ddof,
                      wf_nd *out)
{
    *out = (wf_nd){0};
    uint32_t mask = 0;
    weft_err e = check_red("reduce", op, a, axes, &mask);
    if (e)
        return e;
    bool ident = op != WF_R_MIN && op != WF_R_MAX && op != WF_R_ARGMIN &&
                 op != WF_R_ARGMAX;
    int64_t nred = 1, nout = 1;
    for (uint32_t d = 0; d < a->ndim; d++)
        *(mask >> d & 1 ? &nred : &nout) *= a->shape[d];
    if (!ident && nred == 0 && nout > 0)
        return wf_nd_fail(WEFT_EINVAL,
                          "reduce %s: zero-size reduction has no identity",
                          redop_name(op));
    wf_nd st;
    if ((e = wf_nd_reduce_partial(op, a, axes, NULL, NULL, &st)))
        return e;
    e = wf_nd_reduce_finalize(op, &st, a->dtype, ddof, out);
    wf_nd_free(&st);
    return e;
}

/* ------------------------------------------------------------ cumsum */

#define CUMSUM(T, ADD)                                                         \
    do {                                                                       \
        const T *x = xa->data;                                                 \
        const T *c = xc ? xc->data : NULL;                                     \
        T *y = out->data;                                                      \
        for (int64_t q = 0; q < outer; q++) {                                  \
            const T *xq = x + q * len * inner;                                 \
            T *yq = y + q * len * inner;                                       \
            if (len == 0)                                                      \
                continue;                                                      \
            for (int64_t j = 0; j < inner; j++)                                \
                yq[j] = c ? ADD(c[q * inner + j], xq[j]) : xq[j];              \
            for (int64_t k = 1; k < len; k++) {                                \
                T *restrict yk = yq + k * inner;                               \
                const T *restrict yp = yk - inner;                             \
                const T *restrict xk = xq + k * inner;                         \
                for (int64_t j = 0; j < inner; j++)                            \
                    yk[j] = ADD(yp[j], xk[j]);                                 \
            }                                                                  \
        }                                                                      \
    } while (0)
#define FADD(a, b) ((a) + (b))
#define IADD(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))

weft_err wf_nd_cumsum(const wf_nd *a, uint32_t axis, const wf_nd *carry,
                      wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((e = wf_nd_check(a, "cumsum", "a")))
        return e;
    if (axis >= a->ndim)
        return wf_nd_fail(WEFT_EINVAL,
                          "cumsum: axis %u out of range for a "
                          "%u-d array",
                          axis, a->ndim);
    if (carry) {
        if ((e = wf_nd_check(carry, "cumsum", "carry")))
            return e;
        bool ok = carry->ndim == a->ndim;
        for (uint32_t d = 0; ok && d < a->ndim; d++)
            ok = carry->shape[d] == (d == axis ? 1 : a->shape[d]);
        if (!ok) {
            char x[160], y[160];
            return wf_nd_fail(
                WEFT_EINVAL,
                "cumsum: carry has shape %s; a %s with axis %u needs 1 there",
                wf_nd_shape_str(x, sizeof x, carry->ndim, carry->shape),
                wf_nd_shape_str(y, sizeof y, a->ndim, a->shape), axis);
        }
    }
    weft_dtype rt = result_dtype(WF_R_SUM, a->dtype);
    if ((e = wf_nd_alloc(out, rt, a->ndim, a->shape, false)))
        return wf_nd_fail_prefix(e, "cumsum");
    int64_t outer = 1, inner = 1, len = a->shape[axis];
    for (uint32_t d = 0; d < axis; d++)
        outer *= a->shape[d];
    for (uint32_t d = axis + 1; d < a->ndim; d++)
        inner *= a->shape[d];
    wf_nd ta = {0}, tc = {0};
    const wf_nd *xa = wf_nd_as(a, rt, &ta);
    const wf_nd *xc = carry ? wf_nd_as(carry, rt, &tc) : NULL;
    if (!xa || (carry && !xc)) {
        wf_nd_free(out);
        e = wf_nd_fail(WEFT_ENOMEM, "cumsum: converting");
        goto done;
    }
    if (wf_nd_size(a) == 0)
        goto done;
    if (rt == WEFT_DT_F64)
        CUMSUM(double, FADD);
    else if (rt == WEFT_DT_F32)
        CUMSUM(float, FADD);
    else
        CUMSUM(int64_t, IADD);
done:
    wf_nd_free(&ta);
    wf_nd_free(&tc);
    return e;
}
