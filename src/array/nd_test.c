/* Tests of the elementwise, creation and layout kernels (nd.h): random
 * shapes (ndim 0-4, size-1 axes for broadcasting) and dtypes through every
 * binary and unary op, compared with a naive element-by-element loop
 * written here with its own index arithmetic and its own promotion table;
 * slices with negative steps, transposes with random permutations,
 * concat/stack/copy_block against index-by-index copies; matmul against a
 * triple loop; error messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array/nd.h"

#include "testutil.h"

#include "array/nd_testutil.h"

/* ------------------------------------------------------------ reference */

static int rank_of(weft_dtype dt)
{
    static const weft_dtype order[] = {WEFT_DT_BOOL, WEFT_DT_U8,  WEFT_DT_I32,
                                       WEFT_DT_I64,  WEFT_DT_F32, WEFT_DT_F64};
    for (int i = 0; i < 6; i++)
        if (order[i] == dt)
            return i;
    return -1;
}

static weft_dtype ref_promote(weft_dtype a, weft_dtype b)
{
    if (rank_of(a) < rank_of(b)) {
        weft_dtype t = a;
        a = b;
        b = t;
    }
    if (a == WEFT_DT_F32 && (b == WEFT_DT_I32 || b == WEFT_DT_I64))
        return WEFT_DT_F64;
    return a;
}

static bool is_cmp(wf_binop op)
{
    return op >= WF_EQ && op <= WF_GE;
}

/* The compute dtype of a binary op, and its result dtype. */
static weft_dtype ref_ct(wf_binop op, weft_dtype a, weft_dtype b)
{
    weft_dtype p = ref_promote(a, b);
    if (op >= WF_AND)
        return WEFT_DT_BOOL;
    if (op == WF_DIV)
        return p == WEFT_DT_F32 ? WEFT_DT_F32 : WEFT_DT_F64;
    if (p == WEFT_DT_BOOL &&
        (op == WF_FLOORDIV || op == WF_MOD || op == WF_POW))
        return WEFT_DT_I64;
    return p;
}

static int64_t wrap(weft_dtype ct, int64_t v)
{
    switch (ct) {
    case WEFT_DT_I32:
        return (int32_t)(uint32_t)(uint64_t)v;
    case WEFT_DT_U8:
        return (uint8_t)(uint64_t)v;
    default:
        return v;
    }
}

typedef struct num {
    double d;
    int64_t i;
} num;

static num ref_float(wf_binop op, bool f32, double x, double y)
{
    num r = {0, 0};
    if (f32) {
        x = (float)x;
        y = (float)y;
    }
    double v = 0;
    switch (op) {
    case WF_ADD:
        v = f32 ? (double)((float)x + (float)y) : x + y;
        break;
    case WF_SUB:
        v = f32 ? (double)((float)x - (float)y) : x - y;
        break;
    case WF_MUL:
        v = f32 ? (double)((float)x * (float)y) : x * y;
        break;
    case WF_DIV:
        v = f32 ? (double)((float)x / (float)y) : x / y;
        break;
    case WF_FLOORDIV:
        v = y == 0 ? x / y : floor(x / y);
        break;
    case WF_MOD:
        v = y == 0 ? NAN : x - floor(x / y) * y;
        break;
    case WF_POW:
        v = f32 ? (double)powf((float)x, (float)y) : pow(x, y);
        break;
    case WF_MINIMUM:
        v = isnan(x) || isnan(y) ? NAN : fmin(x, y);
        break;
    case WF_MAXIMUM:
        v = isnan(x) || isnan(y) ? NAN : fmax(x, y);
        break;
    case WF_EQ:
        r.i = x == y;
        return r;
    case WF_NE:
        r.i = x != y;
        return r;
    case WF_LT:
        r.i = x < y;
        return r;
    case WF_LE:
        r.i = x <= y;
        return r;
    case WF_GT:
        r.i = x > y;
        return r;
    case WF_GE:
        r.i = x >= y;
        return r;
    default:
        break;
    }
    r.d = v;
    return r;
}

static num ref_int(wf_binop op, weft_dtype ct, int64_t x, int64_t y)
{
    num r = {0, 0};
    int64_t v = 0;
    bool b = ct == WEFT_DT_BOOL;
    switch (op) {
    case WF_ADD:
        v = b ? (x || y) : x + y;
        break;
    case WF_SUB:
        v = x - y;
        break;
    case WF_MUL:
        v = b ? (x && y) : x * y;
        break;
    case WF_FLOORDIV:
        v = y == 0 ? 0 : (int64_t)floor((double)x / (double)y);
        break;
    case WF_MOD:
        v = y == 0 ? 0 : x - (int64_t)floor((double)x / (double)y) * y;
        break;
    case WF_POW: {
        uint64_t p = 1;
        for (int64_t k = 0; k < y; k++)
            p *= (uint64_t)x;
        v = (int64_t)p;
        break;
    }
    case WF_MINIMUM:
        v = x < y ? x : y;
        break;
    case WF_MAXIMUM:
        v = x > y ? x : y;
        break;
    case WF_EQ:
        v = x == y;
        break;
    case WF_NE:
        v = x != y;
        break;
    case WF_LT:
        v = x < y;
        break;
    case WF_LE:
        v = x <= y;
        break;
    case WF_GT:
        v = x > y;
        break;
    case WF_GE:
        v = x >= y;
        break;
    case WF_AND:
        v = (x != 0) && (y != 0);
        break;
    case WF_OR:
        v = (x != 0) || (y != 0);
        break;
    case WF_XOR:
        v = (x != 0) != (y != 0);
        break;
    default:
        break;
    }
    r.i = is_cmp(op) || op >= WF_AND ? v : wrap(ct, v);
    return r;
}

/* A random output shape and k operand shapes that broadcast to it:
 * suffixes of it with some axes set to 1. */
static void rnd_bcast_k(uint64_t *rng, int k, uint32_t *nds,
                        int64_t (*shapes)[WEFT_MAX_NDIM])
{
    int64_t out[WEFT_MAX_NDIM];
    uint32_t n = rnd_shape(rng, 0, 4, 6, out);
    for (int j = 0; j < k; j++) {
        uint32_t m = (uint32_t)xorshift_below(rng, n + 1);
        if (xorshift_below(rng, 2))
            m = n;
        nds[j] = m;
        for (uint32_t d = 0; d < m; d++)
            shapes[j][d] = xorshift_below(rng, 3) == 0 ? 1 : out[n - m + d];
    }
}

static void rnd_bcast(uint64_t *rng, uint32_t *na, int64_t *sa, uint32_t *nb,
                      int64_t *sb)
{
    uint32_t nds[2];
    int64_t shapes[2][WEFT_MAX_NDIM];
    rnd_bcast_k(rng, 2, nds, shapes);
    *na = nds[0];
    *nb = nds[1];
    memcpy(sa, shapes[0], sizeof shapes[0]);
    memcpy(sb, shapes[1], sizeof shapes[1]);
}

/* ------------------------------------------------------------ binary */

static void check_binary(uint64_t *rng, wf_binop op, weft_dtype da,
                         weft_dtype db)
{
    uint32_t na, nb;
    int64_t sa[WEFT_MAX_NDIM], sb[WEFT_MAX_NDIM];
    rnd_bcast(rng, &na, sa, &nb, sb);
    bool specials = op != WF_FLOORDIV && op != WF_MOD;
    wf_nd a = rnd_array(rng, da, na, sa, specials);
    wf_nd b = rnd_array(rng, db, nb, sb, specials);
    weft_dtype ct = ref_ct(op, da, db);
    if (op == WF_POW && !is_float(ct)) /* exponents 0..7 */
        for (int64_t i = 0; i < wf_nd_size(&b); i++)
            setd(&b, i, (double)(llabs(geti(&b, i)) % 8));
    wf_nd c;
    weft_err e = wf_nd_binary(op, &a, &b, &c);
    if (op == WF_SUB && ct == WEFT_DT_BOOL) {
        nd_assert_err(e, WEFT_EINVAL, "not supported for bool and bool");
        goto out;
    }
    NDOK(e);
    weft_dtype rt = is_cmp(op) || op >= WF_AND ? WEFT_DT_BOOL : ct;
    if (c.dtype != rt)
        fail_msg("op %d %s,%s: dtype %s, want %s", op, wf_dtype_name(da),
                 wf_dtype_name(db), wf_dtype_name(c.dtype), wf_dtype_name(rt));
    uint32_t n = na > nb ? na : nb;
    assert_int_equal(c.ndim, n);
    for (uint32_t d = 0; d < n; d++) {
        int64_t x = d + na >= n ? sa[d + na - n] : 1;
        int64_t y = d + nb >= n ? sb[d + nb - n] : 1;
        assert_int_equal(c.shape[d], x == 1 ? y : x);
    }
    int64_t idx[WEFT_MAX_NDIM];
    for (int64_t f = 0; f < wf_nd_size(&c); f++) {
        unravel(f, c.ndim, c.shape, idx);
        int64_t ia = bcast_flat(&a, c.ndim, idx),
                ib = bcast_flat(&b, c.ndim, idx);
        num want;
        if (op >= WF_AND)
            want = ref_int(op, ct, getd(&a, ia) != 0, getd(&b, ib) != 0);
        else if (is_float(ct))
            want = ref_float(op, ct == WEFT_DT_F32, getd(&a, ia), getd(&b, ib));
        else
            want = ref_int(op, ct, geti(&a, ia), geti(&b, ib));
        bool ok =
            is_float(rt) ? same_d(getd(&c, f), want.d) : geti(&c, f) == want.i;
        if (!ok)
            fail_msg("op %d %s(%g) %s(%g) at %lld: got %g, want %g / %lld", op,
                     wf_dtype_name(da), getd(&a, ia), wf_dtype_name(db),
                     getd(&b, ib), (long long)f, getd(&c, f), want.d,
                     (long long)want.i);
    }
    wf_nd_free(&c);
out:
    wf_nd_free(&a);
    wf_nd_free(&b);
}

static void test_binary_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0001;
    int iters = scaled(40);
    for (int op = WF_ADD; op <= WF_XOR; op++)
        for (int i = 0; i < iters; i++)
            check_binary(&rng, (wf_binop)op, rnd_dtype(&rng), rnd_dtype(&rng));
}

/* Every dtype pair for every op once, on small shapes. */
static void test_binary_all_pairs(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0002;
    for (int op = WF_ADD; op <= WF_XOR; op++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                check_binary(&rng, (wf_binop)op, all_dtypes[i], all_dtypes[j]);
}

/* Large contiguous operands take the vectorised paths: check them too,
 * including a row-broadcast and a column-broadcast. */
static void test_binary_large(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0003;
    int64_t s[2] = {257, 1031}, row[1] = {1031}, col[2] = {257, 1};
    /* int32 left operands are converted block by block on the way */
    for (int t0 = 0; t0 < 2; t0++) {
        weft_dtype dt = t0 ? WEFT_DT_I32 : WEFT_DT_F64;
        wf_nd a = rnd_array(&rng, dt, 2, s, false);
        wf_nd b = rnd_array(&rng, WEFT_DT_F64, 2, s, false);
        wf_nd r = rnd_array(&rng, WEFT_DT_F64, 1, row, false);
        wf_nd k = rnd_array(&rng, WEFT_DT_F64, 2, col, false);
        const wf_nd *rhs[3] = {&b, &r, &k};
        for (int op = WF_ADD; op <= WF_GE; op++)
            for (int t = 0; t < 3; t++)
                for (int swap = 0; swap < 2; swap++) {
                    const wf_nd *x = swap ? rhs[t] : &a,
                                *y = swap ? &a : rhs[t];
                    wf_nd c;
                    NDOK(wf_nd_binary((wf_binop)op, x, y, &c));
                    int64_t idx[2];
                    for (int64_t f = 0; f < wf_nd_size(&c); f++) {
                        unravel(f, 2, c.shape, idx);
                        num w = ref_float((wf_binop)op, false,
                                          getd(x, bcast_flat(x, 2, idx)),
                                          getd(y, bcast_flat(y, 2, idx)));
                        bool ok = is_cmp((wf_binop)op)
                                      ? geti(&c, f) == w.i
                                      : same_d(getd(&c, f), w.d);
                        if (!ok)
                            fail_msg("op %d %s case %d swap %d at %lld", op,
                                     wf_dtype_name(dt), t, swap, (long long)f);
                    }
                    wf_nd_free(&c);
                }
        wf_nd_free(&a);
        wf_nd_free(&b);
        wf_nd_free(&r);
        wf_nd_free(&k);
    }
}

static void test_binary_int_edges(void **state)
{
    (void)state;
    int64_t x[] = {INT64_MIN, 7, -7, 7, -7, 5, INT64_MAX};
    int64_t y[] = {-1, 2, 2, -2, -2, 0, 1};
    int64_t shape[1] = {7};
    wf_nd a = wf_nd_view(WEFT_DT_I64, 1, shape, x);
    wf_nd b = wf_nd_view(WEFT_DT_I64, 1, shape, y);
    wf_nd c;
    NDOK(wf_nd_binary(WF_FLOORDIV, &a, &b, &c));
    int64_t fd[] = {INT64_MIN, 3, -4, -4, 3, 0, INT64_MAX};
    assert_memory_equal(c.data, fd, sizeof fd);
    wf_nd_free(&c);
    NDOK(wf_nd_binary(WF_MOD, &a, &b, &c));
    int64_t md[] = {0, 1, 1, -1, -1, 0, 0};
    assert_memory_equal(c.data, md, sizeof md);
    wf_nd_free(&c);
    NDOK(wf_nd_binary(WF_ADD, &a, &b, &c)); /* wraps, no UB */
    assert_int_equal(((int64_t *)c.data)[6], INT64_MIN);
    wf_nd_free(&c);
    nd_assert_err(wf_nd_binary(WF_POW, &a, &b, &c), WEFT_EINVAL,
                  "negative integer powers");
    assert_null(c.data);
}

static void test_binary_errors(void **state)
{
    (void)state;
    int64_t s1[2] = {3, 4}, s2[1] = {5};
    wf_nd a, b, c;
    NDOK(wf_nd_full(WEFT_DT_F64, 2, s1, 1, &a));
    NDOK(wf_nd_full(WEFT_DT_F64, 1, s2, 1, &b));
    nd_assert_err(wf_nd_binary(WF_ADD, &a, &b, &c), WEFT_EINVAL,
                  "binary add: shapes (3,4) and (5) do not broadcast");
    assert_null(c.data);
    assert_int_equal(c.ndim, 0);
    nd_assert_err(wf_nd_where(&a, &a, &b, &c), WEFT_EINVAL, "do not broadcast");
    wf_nd bad = a;
    bad.dtype = (weft_dtype)99;
    nd_assert_err(wf_nd_binary(WF_ADD, &bad, &a, &c), WEFT_EINVAL,
                  "unknown dtype");
    nd_assert_err(wf_nd_unary(WF_NEG, &bad, &c), WEFT_EINVAL, "unknown dtype");
    bad = a;
    bad.shape[0] = -1;
    nd_assert_err(wf_nd_binary(WF_ADD, &bad, &a, &c), WEFT_EINVAL,
                  "negative dimension");
    nd_assert_err(wf_nd_binary((wf_binop)100, &a, &a, &c), WEFT_EINVAL,
                  "unknown op");
    wf_nd_free(&a);
    wf_nd_free(&b);
}

/* ------------------------------------------------------------ unary */

static double ref_unf(wf_unop op, double x)
{
    switch (op) {
    case WF_NEG:
        return -x;
    case WF_ABS:
        return fabs(x);
    case WF_SQUARE:
        return x * x;
    case WF_SQRT:
        return sqrt(x);
    case WF_EXP:
        return exp(x);
    case WF_LOG:
        return log(x);
    case WF_LOG10:
        return log10(x);
    case WF_LOG1P:
        return log1p(x);
    case WF_EXPM1:
        return expm1(x);
    case WF_SIN:
        return sin(x);
    case WF_COS:
        return cos(x);
    case WF_TAN:
        return tan(x);
    case WF_ARCSIN:
        return asin(x);
    case WF_ARCCOS:
        return acos(x);
    case WF_ARCTAN:
        return atan(x);
    case WF_SINH:
        return sinh(x);
    case WF_COSH:
        return cosh(x);
    case WF_TANH:
        return tanh(x);
    case WF_FLOOR:
        return floor(x);
    case WF_CEIL:
        return ceil(x);
    case WF_ROUND: { /* half to even, by hand */
        double f = floor(x), d = x - f;
        if (d > 0.5 || (d == 0.5 && fmod(f, 2) != 0))
            f += 1;
        return isfinite(x) ? (f == 0 ? copysign(0, x) : f) : x;
    }
    case WF_TRUNC:
        return trunc(x);
    case WF_SIGN:
        return isnan(x) ? x : x > 0 ? 1 : x < 0 ? -1 : 0;
    case WF_NOT:
        return x == 0;
    case WF_ISNAN:
        return isnan(x);
    case WF_ISINF:
        return isinf(x) != 0;
    case WF_ISFINITE:
        return isfinite(x) != 0;
    }
    return 0;
}

static void test_unary_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0004;
    int iters = scaled(12);
    for (int op = WF_NEG; op <= WF_ISFINITE; op++)
        for (int i = 0; i < iters; i++) {
            weft_dtype dt = all_dtypes[i % 6];
            int64_t shape[WEFT_MAX_NDIM];
            uint32_t nd = rnd_shape(&rng, 0, 4, 6, shape);
            wf_nd a = rnd_array(&rng, dt, nd, shape, true), c;
            weft_err e = wf_nd_unary((wf_unop)op, &a, &c);
            if (op == WF_NEG && dt == WEFT_DT_BOOL) {
                nd_assert_err(e, WEFT_EINVAL, "not supported for bool");
                wf_nd_free(&a);
                continue;
            }
            NDOK(e);
            bool floatfn = op >= WF_SQRT && op <= WF_TANH;
            weft_dtype rt = op >= WF_NOT                   ? WEFT_DT_BOOL
                            : floatfn && dt != WEFT_DT_F32 ? WEFT_DT_F64
                                                           : dt;
            assert_int_equal(c.dtype, rt);
            assert_int_equal(c.ndim, nd);
            for (int64_t f = 0; f < wf_nd_size(&a); f++) {
                double x = getd(&a, f), got = getd(&c, f), want;
                if (is_float(dt) || floatfn || op >= WF_NOT) {
                    want = ref_unf((wf_unop)op, x);
                    if (dt == WEFT_DT_F32 && rt == WEFT_DT_F32)
                        want = (float)want;
                } else {
                    int64_t v = geti(&a, f), w = v;
                    if (op == WF_NEG)
                        w = -v;
                    else if (op == WF_ABS)
                        w = llabs(v);
                    else if (op == WF_SQUARE)
                        w = v * v;
                    else if (op == WF_SIGN)
                        w = (v > 0) - (v < 0);
                    want = (double)(dt == WEFT_DT_BOOL ? w != 0 : wrap(dt, w));
                }
                /* f32 libm vs double rounded to float: 1 ulp apart at most */
                double tol = dt == WEFT_DT_F32 && floatfn ? 3e-7 : 1e-15;
                if (!close_d(got, want, tol))
                    fail_msg("unary %d on %s(%g) at %lld: got %.17g, want "
                             "%.17g",
                             op, wf_dtype_name(dt), x, (long long)f, got, want);
            }
            wf_nd_free(&a);
            wf_nd_free(&c);
        }
}

static void test_round_half_even(void **state)
{
    (void)state;
    double x[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 3.5000001};
    double want[] = {0, 2, 2, -0.0, -2, -2, 2, 4};
    int64_t n = 8;
    wf_nd a = wf_nd_view(WEFT_DT_F64, 1, &n, x), c;
    NDOK(wf_nd_unary(WF_ROUND, &a, &c));
    for (int i = 0; i < 8; i++)
        assert_true(((double *)c.data)[i] == want[i]);
    wf_nd_free(&c);
}

/* ------------------------------------------------------------ astype, where */

static void test_astype_all_pairs(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0005;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            int64_t shape[WEFT_MAX_NDIM];
            uint32_t nd = rnd_shape(&rng, 0, 3, 5, shape);
            wf_nd a = rnd_array(&rng, all_dtypes[i], nd, shape, false), c;
            NDOK(wf_nd_astype(&a, all_dtypes[j], &c));
            assert_int_equal(c.dtype, all_dtypes[j]);
            for (int64_t f = 0; f < wf_nd_size(&a); f++) {
                double x = getd(&a, f), want;
                switch (all_dtypes[j]) {
                case WEFT_DT_BOOL:
                    want = x != 0;
                    break;
                case WEFT_DT_U8:
                    want = (double)(uint8_t)(int64_t)trunc(x);
                    break;
                case WEFT_DT_I64:
                case WEFT_DT_I32:
                    want = trunc(x);
                    break;
                default:
                    want = x;
                }
                if (!same_d(getd(&c, f), want))
                    fail_msg("astype %s -> %s: %g gave %g",
                             wf_dtype_name(all_dtypes[i]),
                             wf_dtype_name(all_dtypes[j]), x, getd(&c, f));
            }
            wf_nd_free(&a);
            wf_nd_free(&c);
        }
    /* NaN and out-of-range floats to int: numpy's x86 answer, no UB */
    double sp[3] = {NAN, 1e300, -1e300};
    int64_t n = 3;
    wf_nd s = wf_nd_view(WEFT_DT_F64, 1, &n, sp), c;
    NDOK(wf_nd_astype(&s, WEFT_DT_I64, &c));
    for (int i = 0; i < 3; i++)
        assert_true(((int64_t *)c.data)[i] == INT64_MIN);
    wf_nd_free(&c);
}

/* out = cond ? a : b against the naive loop, element by element. */
static void check_where(const wf_nd *c, const wf_nd *a, const wf_nd *b)
{
    wf_nd o;
    NDOK(wf_nd_where(c, a, b, &o));
    assert_int_equal(o.dtype, ref_promote(a->dtype, b->dtype));
    int64_t idx[WEFT_MAX_NDIM];
    for (int64_t f = 0; f < wf_nd_size(&o); f++) {
        unravel(f, o.ndim, o.shape, idx);
        double want = getd(c, bcast_flat(c, o.ndim, idx)) != 0
                          ? getd(a, bcast_flat(a, o.ndim, idx))
                          : getd(b, bcast_flat(b, o.ndim, idx));
        if (o.dtype == WEFT_DT_BOOL)
            want = want != 0;
        if (o.dtype == WEFT_DT_F32)
            want = (float)want;
        if (!same_d(getd(&o, f), want))
            fail_msg("where at %lld: got %g want %g", (long long)f, getd(&o, f),
                     want);
    }
    wf_nd_free(&o);
}

static void test_where_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0006;
    for (int it = 0; it < scaled(200); it++) {
        uint32_t nds[3];
        int64_t sh[3][WEFT_MAX_NDIM];
        rnd_bcast_k(&rng, 3, nds, sh);
        wf_nd c = rnd_array(&rng, rnd_dtype(&rng), nds[0], sh[0], false);
        wf_nd a = rnd_array(&rng, rnd_dtype(&rng), nds[1], sh[1], false);
        wf_nd b = rnd_array(&rng, rnd_dtype(&rng), nds[2], sh[2], false);
        check_where(&c, &a, &b);
        wf_nd_free(&a);
        wf_nd_free(&b);
        wf_nd_free(&c);
    }
    /* long rows: block-wise conversion of each operand */
    int64_t s[2] = {67, 2500}, row[1] = {2500}, col[2] = {67, 1};
    for (int k = 0; k < 4; k++) {
        wf_nd c =
            rnd_array(&rng, k % 2 ? WEFT_DT_F64 : WEFT_DT_BOOL, 2, s, false);
        wf_nd a =
            rnd_array(&rng, k < 2 ? WEFT_DT_I32 : WEFT_DT_F64, 1, row, false);
        wf_nd b = rnd_array(&rng, WEFT_DT_F32, 2, k % 3 ? col : s, false);
        check_where(&c, &a, &b);
        check_where(&c, &c, &b);
        wf_nd_free(&a);
        wf_nd_free(&b);
        wf_nd_free(&c);
    }
}

/* ------------------------------------------------------------ creation */

static void test_creation(void **state)
{
    (void)state;
    int64_t shape[3] = {2, 3, 4};
    wf_nd a;
    NDOK(wf_nd_full(WEFT_DT_I32, 3, shape, -7.9, &a));
    for (int64_t i = 0; i < 24; i++)
        assert_int_equal(geti(&a, i), -7);
    wf_nd_free(&a);
    NDOK(wf_nd_full(WEFT_DT_F64, 0, NULL, 2.5, &a));
    assert_int_equal(wf_nd_size(&a), 1);
    assert_true(getd(&a, 0) == 2.5);
    wf_nd_free(&a);
    NDOK(wf_nd_arange(1.5, 0.5, 10, 5, WEFT_DT_F64, &a));
    for (int64_t i = 0; i < 5; i++)
        assert_true(getd(&a, i) == 1.5 + (double)(10 + i) * 0.5);
    wf_nd_free(&a);
    NDOK(wf_nd_arange(0, 3, 0, 2000, WEFT_DT_I64, &a));
    for (int64_t i = 0; i < 2000; i++)
        assert_int_equal(geti(&a, i), 3 * i);
    wf_nd_free(&a);
    /* linspace blocks put together are the whole, endpoint exact */
    wf_nd whole, part;
    NDOK(wf_nd_linspace(-1, 2, 37, true, 0, 37, &whole));
    assert_true(getd(&whole, 36) == 2);
    assert_true(getd(&whole, 0) == -1);
    for (int64_t off = 0; off < 37; off += 10) {
        int64_t n = off + 10 <= 37 ? 10 : 37 - off;
        NDOK(wf_nd_linspace(-1, 2, 37, true, off, n, &part));
        assert_memory_equal(part.data, (double *)whole.data + off,
                            (size_t)n * 8);
        wf_nd_free(&part);
    }
    wf_nd_free(&whole);
    nd_assert_err(wf_nd_linspace(0, 1, 5, true, 3, 3, &part), WEFT_EINVAL,
                  "outside [0, 5)");
    nd_assert_err(wf_nd_arange(0, 1, 0, -1, WEFT_DT_F64, &part), WEFT_EINVAL,
                  "negative");
}

/* ------------------------------------------------------------ layout */

static void test_slice_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0007;
    for (int it = 0; it < scaled(300); it++) {
        int64_t shape[WEFT_MAX_NDIM], start[WEFT_MAX_NDIM], step[WEFT_MAX_NDIM],
            count[WEFT_MAX_NDIM];
        uint32_t nd = rnd_shape(&rng, 0, 4, 7, shape);
        wf_nd a = rnd_array(&rng, rnd_dtype(&rng), nd, shape, false), o;
        for (uint32_t d = 0; d < nd; d++) {
            step[d] = (int64_t)xorshift_below(&rng, 7) - 3;
            if (step[d] == 0)
                step[d] = 1;
            start[d] = (int64_t)xorshift_below(&rng, (uint64_t)shape[d]);
            /* as many as fit from start in the step's direction */
            int64_t room = step[d] > 0 ? (shape[d] - 1 - start[d]) / step[d]
                                       : start[d] / -step[d];
            count[d] = (int64_t)xorshift_below(&rng, (uint64_t)room + 2);
        }
        NDOK(wf_nd_slice(&a, start, step, count, &o));
        assert_int_equal(o.ndim, nd);
        int64_t idx[WEFT_MAX_NDIM];
        for (int64_t f = 0; f < wf_nd_size(&o); f++) {
            unravel(f, nd, count, idx);
            int64_t src = 0;
            for (uint32_t d = 0; d < nd; d++)
                src = src * shape[d] + start[d] + idx[d] * step[d];
            assert_true(same_d(getd(&o, f), getd(&a, src)));
        }
        wf_nd_free(&o);
        /* step 0 and out-of-range slices are errors */
        if (nd > 0) {
            int64_t s0 = step[0];
            step[0] = 0;
            nd_assert_err(wf_nd_slice(&a, start, step, count, &o), WEFT_EINVAL,
                          "step 0 on axis 0");
            step[0] = s0;
            int64_t c0 = count[0];
            count[0] = shape[0] + 1;
            nd_assert_err(wf_nd_slice(&a, start, step, count, &o), WEFT_EINVAL,
                          "leaves [0,");
            count[0] = c0;
        }
        wf_nd_free(&a);
    }
}

static void test_transpose_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0008;
    for (int it = 0; it < scaled(300); it++) {
        int64_t shape[WEFT_MAX_NDIM];
        uint32_t nd = rnd_shape(&rng, 0, 5, it % 3 ? 6 : 70, shape);
        if (nd >= 4)
            for (uint32_t d = 0; d < nd; d++)
                shape[d] = shape[d] % 5 + 1;
        uint32_t perm[WEFT_MAX_NDIM];
        for (uint32_t d = 0; d < nd; d++)
            perm[d] = d;
        for (uint32_t d = nd; d > 1; d--) {
            uint32_t j = (uint32_t)xorshift_below(&rng, d), t = perm[d - 1];
            perm[d - 1] = perm[j];
            perm[j] = t;
        }
        bool rev = xorshift_below(&rng, 4) == 0;
        if (rev)
            for (uint32_t d = 0; d < nd; d++)
                perm[d] = nd - 1 - d;
        wf_nd a = rnd_array(&rng, rnd_dtype(&rng), nd, shape, false), o;
        NDOK(wf_nd_transpose(&a, rev ? NULL : perm, &o));
        int64_t idx[WEFT_MAX_NDIM], sidx[WEFT_MAX_NDIM];
        for (uint32_t d = 0; d < nd; d++)
            assert_int_equal(o.shape[d], shape[perm[d]]);
        for (int64_t f = 0; f < wf_nd_size(&o); f++) {
            unravel(f, nd, o.shape, idx);
            for (uint32_t d = 0; d < nd; d++)
                sidx[perm[d]] = idx[d];
            int64_t src = 0;
            for (uint32_t d = 0; d < nd; d++)
                src = src * shape[d] + sidx[d];
            assert_true(same_d(getd(&o, f), getd(&a, src)));
        }
        wf_nd_free(&o);
        if (nd >= 2) {
            perm[1] = perm[0];
            nd_assert_err(wf_nd_transpose(&a, perm, &o), WEFT_EINVAL,
                          "repeated");
        }
        wf_nd_free(&a);
    }
}

static void test_reshape(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed0009;
    int64_t s[3] = {4, 3, 2}, t[2] = {6, 4}, bad[2] = {5, 5};
    wf_nd a = rnd_array(&rng, WEFT_DT_I32, 3, s, false), o;
    NDOK(wf_nd_reshape(&a, 2, t, &o));
    assert_int_equal(o.shape[0], 6);
    assert_memory_equal(o.data, a.data, 24 * 4);
    wf_nd_free(&o);
    nd_assert_err(wf_nd_reshape(&a, 2, bad, &o), WEFT_EINVAL,
                  "cannot reshape (4,3,2) into (5,5)");
    assert_null(o.data);
    wf_nd_free(&a);
}

static void test_concat_stack_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed000a;
    for (int it = 0; it < scaled(150); it++) {
        int64_t shape[WEFT_MAX_NDIM];
        uint32_t nd = rnd_shape(&rng, 1, 4, 5, shape);
        uint32_t axis = (uint32_t)xorshift_below(&rng, nd);
        size_t n = 1 + xorshift_below(&rng, 4);
        wf_nd parts[4];
        const wf_nd *pp[4];
        int64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t s[WEFT_MAX_NDIM];
            memcpy(s, shape, sizeof s);
            s[axis] = (int64_t)xorshift_below(&rng, 4);
            total += s[axis];
            parts[i] = rnd_array(&rng, rnd_dtype(&rng), nd, s, false);
            pp[i] = &parts[i];
        }
        wf_nd o;
        NDOK(wf_nd_concat(pp, n, axis, &o));
        assert_int_equal(o.shape[axis], total);
        weft_dtype dt = parts[0].dtype;
        for (size_t i = 1; i < n; i++)
            dt = ref_promote(dt, parts[i].dtype);
        assert_int_equal(o.dtype, dt);
        int64_t idx[WEFT_MAX_NDIM];
        for (int64_t f = 0; f < wf_nd_size(&o); f++) {
            unravel(f, nd, o.shape, idx);
            size_t p = 0;
            while (idx[axis] >= parts[p].shape[axis])
                idx[axis] -= parts[p++].shape[axis];
            int64_t src = 0;
            for (uint32_t d = 0; d < nd; d++)
                src = src * parts[p].shape[d] + idx[d];
            double want = getd(&parts[p], src);
            if (dt == WEFT_DT_BOOL)
                want = want != 0;
            assert_true(same_d(getd(&o, f), want));
        }
        wf_nd_free(&o);
        /* stack: same-shaped parts along a new axis */
        for (size_t i = 0; i < n; i++) {
            wf_nd_free(&parts[i]);
            parts[i] = rnd_array(&rng, WEFT_DT_F64, nd, shape, false);
        }
        uint32_t sax = (uint32_t)xorshift_below(&rng, nd + 1);
        NDOK(wf_nd_stack(pp, n, sax, &o));
        assert_int_equal(o.ndim, nd + 1);
        assert_int_equal(o.shape[sax], (int64_t)n);
        for (int64_t f = 0; f < wf_nd_size(&o); f++) {
            unravel(f, nd + 1, o.shape, idx);
            int64_t src = 0;
            for (uint32_t d = 0, s = 0; d <= nd; d++)
                if (d != sax)
                    src = src * shape[s++] + idx[d];
            assert_true(getd(&o, f) == getd(&parts[idx[sax]], src));
        }
        wf_nd_free(&o);
        for (size_t i = 0; i < n; i++)
            wf_nd_free(&parts[i]);
    }
    int64_t s1[2] = {2, 3}, s2[2] = {3, 3};
    wf_nd a, b, o;
    NDOK(wf_nd_full(WEFT_DT_F64, 2, s1, 1, &a));
    NDOK(wf_nd_full(WEFT_DT_F64, 2, s2, 1, &b));
    const wf_nd *ab[2] = {&a, &b};
    nd_assert_err(wf_nd_concat(ab, 2, 1, &o), WEFT_EINVAL,
                  "part 1 has shape (3,3)");
    nd_assert_err(wf_nd_concat(ab, 2, 2, &o), WEFT_EINVAL,
                  "axis 2 out of "
                  "range");
    nd_assert_err(wf_nd_stack(ab, 2, 0, &o), WEFT_EINVAL, "part 1 has shape");
    NDOK(wf_nd_concat(ab, 2, 0, &o));
    assert_int_equal(o.shape[0], 5);
    wf_nd_free(&o);
    wf_nd_free(&a);
    wf_nd_free(&b);
}

static void test_copy_block_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed000b;
    for (int it = 0; it < scaled(300); it++) {
        int64_t ss[WEFT_MAX_NDIM], ds[WEFT_MAX_NDIM], box[WEFT_MAX_NDIM],
            so[WEFT_MAX_NDIM], dof[WEFT_MAX_NDIM];
        uint32_t nd = rnd_shape(&rng, 0, 4, 6, ss);
        for (uint32_t d = 0; d < nd; d++) {
            ds[d] = 1 + (int64_t)xorshift_below(&rng, 6);
            int64_t m = ss[d] < ds[d] ? ss[d] : ds[d];
            box[d] = xorshift_below(&rng, 3)
                         ? m
                         : (int64_t)xorshift_below(&rng, (uint64_t)m + 1);
            so[d] =
                (int64_t)xorshift_below(&rng, (uint64_t)(ss[d] - box[d] + 1));
            dof[d] =
                (int64_t)xorshift_below(&rng, (uint64_t)(ds[d] - box[d] + 1));
        }
        wf_nd src = rnd_array(&rng, rnd_dtype(&rng), nd, ss, false);
        wf_nd dst = rnd_array(&rng, rnd_dtype(&rng), nd, ds, false), before;
        NDOK(wf_nd_astype(&dst, dst.dtype, &before));
        NDOK(wf_nd_copy_block(&src, so, &dst, dof, box));
        int64_t idx[WEFT_MAX_NDIM];
        for (int64_t f = 0; f < wf_nd_size(&dst); f++) {
            unravel(f, nd, ds, idx);
            bool in = true;
            int64_t s = 0;
            for (uint32_t d = 0; d < nd; d++) {
                in = in && idx[d] >= dof[d] && idx[d] < dof[d] + box[d];
                s = s * ss[d] + idx[d] - dof[d] + so[d];
            }
            double want = in ? getd(&src, s) : getd(&before, f);
            if (in && dst.dtype == WEFT_DT_BOOL)
                want = want != 0;
            else if (in && !is_float(dst.dtype) && dst.dtype != WEFT_DT_U8)
                want = trunc(want);
            else if (in && dst.dtype == WEFT_DT_U8)
                want = (double)(uint8_t)(int64_t)want;
            assert_true(same_d(getd(&dst, f), want));
        }
        if (nd > 0) {
            so[0] = ss[0] - box[0] + 1;
            nd_assert_err(wf_nd_copy_block(&src, so, &dst, dof, box),
                          WEFT_EINVAL, "out of bounds");
        }
        wf_nd_free(&src);
        wf_nd_free(&dst);
        wf_nd_free(&before);
    }
}

/* ------------------------------------------------------------ matmul */

static void check_matmul(uint64_t *rng, weft_dtype da, weft_dtype db,
                         uint32_t na, uint32_t nb, int64_t m, int64_t k,
                         int64_t n)
{
    int64_t sa[2], sb[2];
    if (na == 2) {
        sa[0] = m;
        sa[1] = k;
    } else {
        sa[0] = k;
    }
    if (nb == 2) {
        sb[0] = k;
        sb[1] = n;
    } else {
        sb[0] = k;
    }
    wf_nd a = rnd_array(rng, da, na, sa, false);
    wf_nd b = rnd_array(rng, db, nb, sb, false), c;
    NDOK(wf_nd_matmul(&a, &b, &c));
    weft_dtype p = ref_promote(da, db);
    weft_dtype rt = is_float(p) ? p : WEFT_DT_I64;
    assert_int_equal(c.dtype, rt);
    int64_t mm = na == 2 ? m : 1, nn = nb == 2 ? n : 1;
    assert_int_equal(c.ndim, (na == 2) + (nb == 2));
    for (int64_t i = 0; i < mm; i++)
        for (int64_t j = 0; j < nn; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++)
                s += getd(&a, i * k + q) * getd(&b, q * nn + j);
            /* small dyadic values: every sum is exact */
            double got = getd(&c, i * nn + j);
            if (got != s)
                fail_msg("matmul %s@%s %u-d@%u-d (%lld,%lld,%lld) at %lld,%lld:"
                         " got %g want %g",
                         wf_dtype_name(da), wf_dtype_name(db), na, nb,
                         (long long)m, (long long)k, (long long)n, (long long)i,
                         (long long)j, got, s);
        }
    wf_nd_free(&a);
    wf_nd_free(&b);
    wf_nd_free(&c);
}

static void test_matmul_random(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed000c;
    for (int it = 0; it < scaled(200); it++) {
        weft_dtype da = all_dtypes[xorshift_below(&rng, 4)];
        weft_dtype db =
            xorshift_below(&rng, 2) ? da : all_dtypes[xorshift_below(&rng, 6)];
        uint32_t na = 1 + (uint32_t)xorshift_below(&rng, 2);
        uint32_t nb = 1 + (uint32_t)xorshift_below(&rng, 2);
        int64_t m = 1 + (int64_t)xorshift_below(&rng, 40);
        int64_t k = (int64_t)xorshift_below(&rng, 40);
        int64_t n = 1 + (int64_t)xorshift_below(&rng, 40);
        check_matmul(&rng, da, db, na, nb, m, k, n);
    }
    check_matmul(&rng, WEFT_DT_F64, WEFT_DT_F64, 2, 2, 130, 70, 90);
    check_matmul(&rng, WEFT_DT_F32, WEFT_DT_F32, 2, 2, 65, 33, 17);
    check_matmul(&rng, WEFT_DT_I64, WEFT_DT_I64, 2, 2, 31, 29, 37);
}

static void test_matmul_acc_and_errors(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed000d;
    int64_t sa[2] = {5, 7}, sb[2] = {7, 3}, sc[2] = {5, 3};
    wf_nd a = rnd_array(&rng, WEFT_DT_F64, 2, sa, false);
    wf_nd b = rnd_array(&rng, WEFT_DT_F64, 2, sb, false);
    wf_nd acc = rnd_array(&rng, WEFT_DT_F64, 2, sc, false), before, prod;
    NDOK(wf_nd_astype(&acc, WEFT_DT_F64, &before));
    NDOK(wf_nd_matmul_acc(&a, &b, &acc, false));
    NDOK(wf_nd_matmul(&a, &b, &prod));
    for (int64_t i = 0; i < 15; i++)
        assert_true(getd(&acc, i) == getd(&before, i) + getd(&prod, i));
    /* overwrite: the old contents (even NaN) are not read */
    for (int64_t i = 0; i < 15; i++)
        ((double *)acc.data)[i] = NAN;
    NDOK(wf_nd_matmul_acc(&a, &b, &acc, true));
    for (int64_t i = 0; i < 15; i++)
        assert_true(getd(&acc, i) == getd(&prod, i));
    wf_nd c;
    nd_assert_err(wf_nd_matmul(&a, &a, &c), WEFT_EINVAL,
                  "matmul: shapes (5,7) and (5,7) do not match");
    nd_assert_err(wf_nd_matmul_acc(&a, &a, &acc, false), WEFT_EINVAL,
                  "do not match");
    nd_assert_err(wf_nd_matmul_acc(&a, &b, &a, false), WEFT_EINVAL, "acc");
    int64_t s3[3] = {2, 2, 2};
    wf_nd t;
    NDOK(wf_nd_full(WEFT_DT_F64, 3, s3, 1, &t));
    nd_assert_err(wf_nd_matmul(&t, &t, &c), WEFT_EINVAL, "1-d or 2-d");
    wf_nd_free(&t);
    wf_nd_free(&a);
    wf_nd_free(&b);
    wf_nd_free(&acc);
    wf_nd_free(&before);
    wf_nd_free(&prod);
}

/* ------------------------------------------------------------ basics */

static void test_basics(void **state)
{
    (void)state;
    assert_string_equal(wf_dtype_name(WEFT_DT_F64), "float64");
    assert_string_equal(wf_dtype_name(WEFT_DT_BOOL), "bool");
    assert_string_equal(wf_dtype_name((weft_dtype)42), "?");
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            assert_int_equal(wf_dtype_promote(all_dtypes[i], all_dtypes[j]),
                             ref_promote(all_dtypes[i], all_dtypes[j]));
    int64_t s[2] = {0, 3};
    wf_nd a;
    int64_t s7[1] = {7};
    for (int z = 0; z < 2; z++) { /* whole cache lines, zeroed or not */
        NDOK(wf_nd_alloc(&a, WEFT_DT_U8, 1, s7, z));
        assert_int_equal((uintptr_t)a.data % 64, 0);
        if (z)
            for (int i = 0; i < 7; i++)
                assert_int_equal(((uint8_t *)a.data)[i], 0);
        wf_nd_free(&a);
    }
    NDOK(wf_nd_alloc(&a, WEFT_DT_F32, 2, s, true));
    assert_int_equal(wf_nd_size(&a), 0);
    assert_int_equal(wf_nd_bytes(&a), 0);
    wf_nd_free(&a);
    wf_nd_free(&a);
    int64_t big[2] = {INT64_MAX / 2, 4};
    nd_assert_err(wf_nd_alloc(&a, WEFT_DT_F64, 2, big, false), WEFT_EINVAL,
                  "too large");
    /* value round trip */
    int64_t s3[3] = {2, 1, 3};
    NDOK(wf_nd_full(WEFT_DT_I64, 3, s3, 4, &a));
    weft_value v = wf_nd_value(&a);
    wf_nd b;
    assert_true(wf_nd_from_value(&v, &b));
    assert_int_equal(b.ndim, 3);
    assert_int_equal(b.shape[2], 3);
    assert_ptr_equal(b.data, a.data);
    assert_false(b.owned);
    wf_nd nine = wf_nd_view(WEFT_DT_F64, 9, s3, a.data), o9;
    nd_assert_err(wf_nd_unary(WF_NEG, &nine, &o9), WEFT_EINVAL,
                  "unknown dtype");
    weft_value iv = weft_i64(3);
    assert_false(wf_nd_from_value(&iv, &b));
    wf_nd_free(&a);
    uint32_t n;
    int64_t x[2] = {3, 1}, y[3] = {2, 1, 4}, out[4];
    NDOK(wf_broadcast_shapes(2, x, 3, y, &n, out));
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 4);
}

/* Malformed arrays (unknown dtypes, too many axes, negative dimensions,
 * no data) through every kernel: an error with a message, never a crash
 * (the sanitizer build checks the "never"). */
static void test_malformed_inputs(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed000e;
    double good_data[4] = {1, 2, 3, 4};
    int64_t gs[2] = {2, 2};
    wf_nd good = wf_nd_view(WEFT_DT_F64, 2, gs, good_data);
    for (int it = 0; it < scaled(300); it++) {
        wf_nd bad = good;
        switch (xorshift_below(&rng, 4)) {
        case 0:
            bad.dtype = (weft_dtype)(xorshift_below(&rng, 2) ? 0 : 7 + it);
            break;
        case 1:
            bad.ndim = WEFT_MAX_NDIM + 1 + (uint32_t)xorshift_below(&rng, 5);
            break;
        case 2:
            bad.shape[xorshift_below(&rng, 2)] = -1 - (int64_t)it;
            break;
        default:
            bad.data = NULL;
        }
        wf_nd o = {0}, o2 = {0};
        const wf_nd *pair[2] = {&good, &bad};
        int64_t z[2] = {0, 0}, one[2] = {1, 1};
        uint32_t perm[2] = {1, 0};
        weft_err e[16] = {
            wf_nd_binary(WF_ADD, &good, &bad, &o),
            wf_nd_unary(WF_EXP, &bad, &o),
            wf_nd_astype(&bad, WEFT_DT_I32, &o),
            wf_nd_where(&bad, &good, &good, &o),
            wf_nd_slice(&bad, z, one, one, &o),
            wf_nd_transpose(&bad, perm, &o),
            wf_nd_reshape(&bad, 2, gs, &o),
            wf_nd_concat(pair, 2, 0, &o),
            wf_nd_stack(pair, 2, 0, &o),
            wf_nd_copy_block(&good, z, &bad, z, one),
            wf_nd_reduce(WF_R_SUM, &bad, 0, 0, &o),
            wf_nd_reduce_partial(WF_R_VAR, &bad, 1, NULL, NULL, &o),
            wf_nd_reduce_combine(WF_R_SUM, pair, 2, &o),
            wf_nd_cumsum(&bad, 0, NULL, &o),
            wf_nd_matmul(&good, &bad, &o),
            wf_nd_reduce_finalize(WF_R_SUM, &bad, WEFT_DT_F64, 0, &o2),
        };
        for (int k = 0; k < 16; k++) {
            if (e[k] != WEFT_EINVAL || wf_nd_error()[0] == '\0')
                fail_msg("kernel %d took a malformed array (case %d): %d", k,
                         it, e[k]);
        }
        assert_null(o.data);
        assert_null(o2.data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_binary_random),
        cmocka_unit_test(test_binary_all_pairs),
        cmocka_unit_test(test_binary_large),
        cmocka_unit_test(test_binary_int_edges),
        cmocka_unit_test(test_binary_errors),
        cmocka_unit_test(test_unary_random),
        cmocka_unit_test(test_round_half_even),
        cmocka_unit_test(test_astype_all_pairs),
        cmocka_unit_test(test_where_random),
        cmocka_unit_test(test_creation),
        cmocka_unit_test(test_slice_random),
        cmocka_unit_test(test_transpose_random),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_concat_stack_random),
        cmocka_unit_test(test_copy_block_random),
        cmocka_unit_test(test_matmul_random),
        cmocka_unit_test(test_matmul_acc_and_errors),
        cmocka_unit_test(test_malformed_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
