/* Tests of the tree reductions and cumsum (nd.h): every op over random
 * shapes, dtypes and axis masks against a naive loop over every element;
 * partials of random splits combined in random groupings equal the whole
 * reduction; cumsum pieces chained with carries equal the whole cumsum;
 * errors. */
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

static bool int_like(weft_dtype dt)
{
    return !is_float(dt);
}

/* Flat index in the keepdims output of input index idx. */
static int64_t out_flat(const wf_nd *a, uint32_t mask, const int64_t *idx)
{
    int64_t f = 0;
    for (uint32_t d = 0; d < a->ndim; d++)
        if (!(mask >> d & 1))
            f = f * a->shape[d] + idx[d];
    return f;
}

/* Naive reduce of a over mask into want[] (as doubles; int sums and
 * products in wanti[] exactly). */
static void naive_reduce(wf_redop op, const wf_nd *a, uint32_t mask, int ddof,
                         double *want, int64_t *wanti, int64_t nout)
{
    int64_t n = wf_nd_size(a), idx[WEFT_MAX_NDIM];
    int64_t *cnt = calloc((size_t)nout, sizeof *cnt);
    double *mean = calloc((size_t)nout, sizeof *mean);
    bool *seen = calloc((size_t)nout, sizeof *seen);
    for (int64_t o = 0; o < nout; o++) {
        want[o] = op == WF_R_PROD || op == WF_R_ALL ? 1 : 0;
        wanti[o] = op == WF_R_PROD ? 1 : 0;
    }
    bool integer = int_like(a->dtype) &&
                   (op == WF_R_SUM || op == WF_R_PROD || op == WF_R_MEAN);
    for (int64_t f = 0; f < n; f++) {
        unravel(f, a->ndim, a->shape, idx);
        int64_t o = out_flat(a, mask, idx);
        double x = getd(a, f);
        int64_t along = 0; /* argmin/argmax: index along one axis or flat */
        if (__builtin_popcount(mask) == 1 && mask != (1u << a->ndim) - 1)
            along = idx[__builtin_ctz(mask)];
        else
            along = f;
        switch (op) {
        case WF_R_SUM:
        case WF_R_MEAN:
        case WF_R_VAR:
        case WF_R_STD:
            if (integer)
                wanti[o] = (int64_t)((uint64_t)wanti[o] + (uint64_t)geti(a, f));
            want[o] += x;
            break;
        case WF_R_PROD:
            wanti[o] = (int64_t)((uint64_t)wanti[o] * (uint64_t)geti(a, f));
            want[o] *= x;
            break;
        case WF_R_MIN:
        case WF_R_MAX:
        case WF_R_ARGMIN:
        case WF_R_ARGMAX: {
            bool mx = op == WF_R_MAX || op == WF_R_ARGMAX;
            double v = want[o];
            bool better =
                !seen[o] || (!isnan(v) && (isnan(x) || (mx ? x > v : x < v)));
            if (better) {
                want[o] = x;
                wanti[o] = along;
            }
            break;
        }
        case WF_R_ANY:
            want[o] = want[o] != 0 || x != 0;
            break;
        case WF_R_ALL:
            want[o] = want[o] != 0 && x != 0;
            break;
        }
        seen[o] = true;
        cnt[o]++;
    }
    if (op == WF_R_MEAN)
        for (int64_t o = 0; o < nout; o++)
            want[o] = (integer ? (double)wanti[o] : want[o]) / (double)cnt[o];
    if (op == WF_R_VAR || op == WF_R_STD) {
        for (int64_t o = 0; o < nout; o++) {
            mean[o] = want[o] / (double)cnt[o];
            want[o] = 0;
        }
        for (int64_t f = 0; f < n; f++) {
            unravel(f, a->ndim, a->shape, idx);
            int64_t o = out_flat(a, mask, idx);
            double d = getd(a, f) - mean[o];
            want[o] += d * d;
        }
        for (int64_t o = 0; o < nout; o++) {
            double dof = (double)(cnt[o] - ddof);
            want[o] /= dof > 0 ? dof : 0;
            if (op == WF_R_STD)
                want[o] = sqrt(want[o]);
        }
    }
    free(cnt);
    free(mean);
    free(seen);
}

static weft_dtype want_dtype(wf_redop op, weft_dtype in)
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

/* A random axes mask for op on an n-d array (argmin/argmax: one or all). */
static uint32_t rnd_mask(uint64_t *rng, wf_redop op, uint32_t n)
{
    if (n == 0 || xorshift_below(rng, 4) == 0)
        return 0;
    if (op == WF_R_ARGMIN || op == WF_R_ARGMAX)
        return xorshift_below(rng, 3) == 0 ? (1u << n) - 1
                                           : 1u << xorshift_below(rng, n);
    uint32_t m = (uint32_t)xorshift_below(rng, 1u << n);
    return m ? m : 1;
}

static void compare_result(wf_redop op, const wf_nd *a, uint32_t axes, int ddof,
                           const wf_nd *got, const char *what)
{
    uint32_t mask = axes ? axes : (a->ndim ? (1u << a->ndim) - 1 : 0);
    int64_t nout = 1;
    for (uint32_t d = 0; d < a->ndim; d++)
        if (!(mask >> d & 1))
            nout *= a->shape[d];
    assert_int_equal(got->dtype, want_dtype(op, a->dtype));
    assert_int_equal(got->ndim, a->ndim);
    for (uint32_t d = 0; d < a->ndim; d++)
        assert_int_equal(got->shape[d], mask >> d & 1 ? 1 : a->shape[d]);
    double *want = malloc((size_t)nout * sizeof *want);
    int64_t *wanti = malloc((size_t)nout * sizeof *wanti);
    naive_reduce(op, a, mask, ddof, want, wanti, nout);
    for (int64_t o = 0; o < nout; o++) {
        bool ok;
        double g = getd(got, o), w = want[o];
        if (op == WF_R_ARGMIN || op == WF_R_ARGMAX)
            ok = geti(got, o) == wanti[o];
        else if ((op == WF_R_SUM || op == WF_R_PROD) && int_like(a->dtype))
            ok = geti(got, o) == wanti[o];
        else if (got->dtype == WEFT_DT_F32)
            ok = close_d(g, (float)w, 1e-6) ||
                 (op == WF_R_VAR && fabs(g - w) < 1e-5);
        else if (got->dtype == WEFT_DT_F64)
            ok = close_d(g, w, 1e-9) || ((op == WF_R_VAR || op == WF_R_STD ||
                                          op == WF_R_SUM || op == WF_R_MEAN) &&
                                         fabs(g - w) < 1e-9);
        else if (got->dtype == WEFT_DT_BOOL)
            ok = g == (w != 0);
        else
            ok = same_d(g, w) || (isnan(w) && g == getd(got, o));
        if (!ok)
            fail_msg("%s: op %d on %s %u-d mask 0x%x ddof %d at %lld: got "
                     "%.17g / %lld, want %.17g / %lld",
                     what, op, wf_dtype_name(a->dtype), a->ndim, axes, ddof,
                     (long long)o, g, (long long)geti(got, o), w,
                     (long long)wanti[o]);
    }
    free(want);
    free(wanti);
}

/* min/max of ints: the state is f64, the result keeps the dtype; the
 * naive side compares as doubles, which is exact for the small values. */
static void test_reduce_random(void **state)
{
    (void)state;
    uint64_t rng = 0x2ed00001;
    int iters = scaled(60);
    for (int op = WF_R_SUM; op <= WF_R_ALL; op++)
        for (int it = 0; it < iters; it++) {
            int64_t shape[WEFT_MAX_NDIM];
            uint32_t nd = rnd_shape(&rng, 0, 4, 6, shape);
            weft_dtype dt = all_dtypes[it % 6];
            if (it % 5 == 0 && nd > 0) { /* long rows for the kernels */
                shape[nd - 1] = 3000 + (int64_t)xorshift_below(&rng, 9000);
                dt = all_dtypes[(it / 5) % 6];
            }
            bool specials = xorshift_below(&rng, 4) == 0 && op != WF_R_PROD;
            wf_nd a = rnd_array(&rng, dt, nd, shape, specials), r;
            if (op == WF_R_PROD) /* exact in the f64 state: small factors */
                for (int64_t i = 0; i < wf_nd_size(&a); i++)
                    setd(&a, i,
                         xorshift_below(&rng, 8) ? 1 - 2.0 * (i % 2)
                                                 : (double)(i % 3));
            uint32_t axes = rnd_mask(&rng, (wf_redop)op, nd);
            int ddof = (int)xorshift_below(&rng, 2);
            NDOK(wf_nd_reduce((wf_redop)op, &a, axes, ddof, &r));
            compare_result((wf_redop)op, &a, axes, ddof, &r, "whole");
            wf_nd_free(&r);
            wf_nd_free(&a);
        }
}

/* Split a along one or two reduced axes at random points, reduce each
 * piece, combine the states in a random grouping, finalize: the same as
 * the whole reduction. */
static void test_partial_combine_random(void **state)
{
    (void)state;
    uint64_t rng = 0x2ed00002;
    int iters = scaled(40);
    for (int op = WF_R_SUM; op <= WF_R_ALL; op++)
        for (int it = 0; it < iters; it++) {
            int64_t shape[WEFT_MAX_NDIM];
            bool prod = op == WF_R_PROD;
            /* products of ints stay exact in the f64 state below 2^53:
             * few small factors */
            uint32_t nd = rnd_shape(&rng, 1, prod ? 3 : 4, prod ? 3 : 7, shape);
            weft_dtype dt = all_dtypes[xorshift_below(&rng, 6)];
            wf_nd a = rnd_array(&rng, dt, nd, shape,
                                !prod && xorshift_below(&rng, 3) == 0);
            if (prod)
                for (int64_t i = 0; i < wf_nd_size(&a); i++)
                    setd(&a, i, (double)xorshift_below(&rng, 4) - 1);
            uint32_t axes = rnd_mask(&rng, (wf_redop)op, nd);
            uint32_t mask = axes ? axes : (1u << nd) - 1;
            int ddof = (int)xorshift_below(&rng, 2);
            /* cut points along up to two reduced axes */
            uint32_t cut[2];
            int ncut = 0;
            for (uint32_t d = 0; d < nd && ncut < 2; d++)
                if (mask >> d & 1 && shape[d] > 1 && xorshift_below(&rng, 3))
                    cut[ncut++] = d;
            int64_t pts[2][8];
            int np[2] = {1, 1};
            for (int c = 0; c < ncut; c++) {
                int64_t ext = shape[cut[c]];
                pts[c][0] = 0;
                np[c] = 1;
                for (int64_t x = 1; x < ext; x++)
                    if (np[c] < 6 && xorshift_below(&rng, 2))
                        pts[c][np[c]++] = x;
                pts[c][np[c]] = ext;
            }
            for (int c = ncut; c < 2; c++) {
                pts[c][0] = 0;
                pts[c][1] = 1;
                np[c] = 1;
            }
            wf_nd states[64];
            int ns = 0;
            for (int i = 0; i < np[0]; i++)
                for (int j = 0; j < np[1]; j++) {
                    int64_t start[WEFT_MAX_NDIM] = {0}, step[WEFT_MAX_NDIM],
                            count[WEFT_MAX_NDIM];
                    for (uint32_t d = 0; d < nd; d++) {
                        step[d] = 1;
                        count[d] = shape[d];
                    }
                    if (ncut > 0) {
                        start[cut[0]] = pts[0][i];
                        count[cut[0]] = pts[0][i + 1] - pts[0][i];
                    }
                    if (ncut > 1) {
                        start[cut[1]] = pts[1][j];
                        count[cut[1]] = pts[1][j + 1] - pts[1][j];
                    }
                    wf_nd piece;
                    NDOK(wf_nd_slice(&a, start, step, count, &piece));
                    NDOK(wf_nd_reduce_partial((wf_redop)op, &piece, axes, start,
                                              shape, &states[ns++]));
                    wf_nd_free(&piece);
                }
            /* combine random groups until one state is left */
            while (ns > 1) {
                int k = 2 + (int)xorshift_below(&rng, (uint64_t)(ns - 1));
                int at = (int)xorshift_below(&rng, (uint64_t)(ns - k + 1));
                const wf_nd *grp[64];
                for (int g = 0; g < k; g++)
                    grp[g] = &states[at + k - 1 - g]; /* reversed order */
                wf_nd merged;
                NDOK(wf_nd_reduce_combine((wf_redop)op, grp, (size_t)k,
                                          &merged));
                for (int g = 0; g < k; g++)
                    wf_nd_free(&states[at + g]);
                states[at] = merged;
                memmove(&states[at + 1], &states[at + k],
                        (size_t)(ns - at - k) * sizeof *states);
                ns -= k - 1;
            }
            wf_nd r;
            NDOK(wf_nd_reduce_finalize((wf_redop)op, &states[0], dt, ddof, &r));
            compare_result((wf_redop)op, &a, axes, ddof, &r, "combined");
            wf_nd_free(&r);
            wf_nd_free(&states[0]);
            wf_nd_free(&a);
        }
}

static void test_reduce_known(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4, NAN, 4, 0.5};
    int64_t n = 4, n7 = 7;
    wf_nd a = wf_nd_view(WEFT_DT_F64, 1, &n, x), r;
    NDOK(wf_nd_reduce(WF_R_VAR, &a, 0, 1, &r));
    assert_true(fabs(getd(&r, 0) - 5.0 / 3) < 1e-15);
    assert_int_equal(r.ndim, 1);
    assert_int_equal(r.shape[0], 1);
    wf_nd_free(&r);
    wf_nd b = wf_nd_view(WEFT_DT_F64, 1, &n7, x);
    NDOK(wf_nd_reduce(WF_R_ARGMAX, &b, 0, 0, &r));
    assert_int_equal(geti(&r, 0), 4); /* the NaN */
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_MAX, &b, 0, 0, &r));
    assert_true(isnan(getd(&r, 0)));
    wf_nd_free(&r);
    uint8_t bools[5] = {1, 1, 0, 1, 1};
    int64_t n5 = 5;
    wf_nd c = wf_nd_view(WEFT_DT_BOOL, 1, &n5, bools);
    NDOK(wf_nd_reduce(WF_R_SUM, &c, 0, 0, &r));
    assert_int_equal(r.dtype, WEFT_DT_I64);
    assert_int_equal(geti(&r, 0), 4);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_ALL, &c, 0, 0, &r));
    assert_int_equal(r.dtype, WEFT_DT_BOOL);
    assert_int_equal(geti(&r, 0), 0);
    wf_nd_free(&r);
    /* a long f64 sum against a long double loop: checks the unrolled,
     * pairwise kernel (compilers have miscompiled such loops) */
    uint64_t rng = 0x2ed00003;
    int64_t big = 1000003;
    wf_nd d;
    NDOK(wf_nd_alloc(&d, WEFT_DT_F64, 1, &big, false));
    long double ref = 0;
    for (int64_t i = 0; i < big; i++) {
        double v =
            (double)(xorshift_next(&rng) >> 11) / 9007199254740992.0 - 0.25;
        ((double *)d.data)[i] = v;
        ref += v;
    }
    NDOK(wf_nd_reduce(WF_R_SUM, &d, 0, 0, &r));
    assert_true(fabsl((long double)getd(&r, 0) - ref) <= 1e-12L * fabsl(ref));
    wf_nd_free(&r);
    wf_nd_free(&d);
    /* sum of a large int64 array stays exact */
    int64_t big2 = 100001;
    NDOK(wf_nd_arange(1e9, 1, 0, big2, WEFT_DT_I64, &d));
    NDOK(wf_nd_reduce(WF_R_SUM, &d, 0, 0, &r));
    assert_int_equal(geti(&r, 0), big2 * 1000000000 + big2 * (big2 - 1) / 2);
    wf_nd_free(&r);
    wf_nd_free(&d);
}

static void test_reduce_errors(void **state)
{
    (void)state;
    int64_t s[2] = {3, 4}, z[2] = {0, 4};
    wf_nd a, r, st;
    NDOK(wf_nd_full(WEFT_DT_F64, 2, s, 1, &a));
    nd_assert_err(wf_nd_reduce(WF_R_SUM, &a, 4, 0, &r), WEFT_EINVAL,
                  "axes mask 0x4 names axes beyond the 2 of a");
    nd_assert_err(wf_nd_reduce(WF_R_ARGMIN, &a, 0, 0, &r), 0, NULL);
    wf_nd_free(&r);
    wf_nd b;
    int64_t s3[3] = {2, 3, 4};
    NDOK(wf_nd_full(WEFT_DT_F64, 3, s3, 1, &b));
    nd_assert_err(wf_nd_reduce(WF_R_ARGMAX, &b, 3, 0, &r), WEFT_EINVAL,
                  "one axis or all");
    nd_assert_err(wf_nd_reduce((wf_redop)77, &b, 0, 0, &r), WEFT_EINVAL,
                  "unknown op");
    wf_nd e;
    NDOK(wf_nd_full(WEFT_DT_F64, 2, z, 1, &e));
    nd_assert_err(wf_nd_reduce(WF_R_MIN, &e, 1, 0, &r), WEFT_EINVAL,
                  "zero-size reduction has no identity");
    NDOK(wf_nd_reduce(WF_R_SUM, &e, 2, 0, &r)); /* (0,1): nothing to do */
    assert_int_equal(wf_nd_size(&r), 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_SUM, &e, 1, 0, &r)); /* (1,4) empty sums */
    assert_int_equal(wf_nd_size(&r), 4);
    assert_true(getd(&r, 3) == 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_SUM, &e, 0, 0, &r)); /* empty sum is 0 */
    assert_true(getd(&r, 0) == 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce_partial(WF_R_SUM, &a, 1, NULL, NULL, &st));
    wf_nd st2;
    NDOK(wf_nd_reduce_partial(WF_R_SUM, &a, 2, NULL, NULL, &st2));
    const wf_nd *two[2] = {&st, &st2};
    nd_assert_err(wf_nd_reduce_combine(WF_R_SUM, two, 2, &r), WEFT_EINVAL,
                  "state 1 has shape (3,1,1), state 0 (1,4,1)");
    nd_assert_err(wf_nd_reduce_finalize(WF_R_MEAN, &st, WEFT_DT_F64, 0, &r),
                  WEFT_EINVAL, "trailing axis of 2");
    nd_assert_err(wf_nd_cumsum(&a, 2, NULL, &r), WEFT_EINVAL,
                  "axis 2 out of range");
    nd_assert_err(wf_nd_cumsum(&a, 0, &a, &r), WEFT_EINVAL,
                  "carry has shape (3,4)");
    wf_nd_free(&st);
    wf_nd_free(&st2);
    wf_nd_free(&a);
    wf_nd_free(&b);
    wf_nd_free(&e);
}

/* ------------------------------------------------------------ cumsum */

static void test_cumsum_random(void **state)
{
    (void)state;
    uint64_t rng = 0x2ed00004;
    for (int it = 0; it < scaled(300); it++) {
        int64_t shape[WEFT_MAX_NDIM];
        uint32_t nd = rnd_shape(&rng, 1, 4, 7, shape);
        weft_dtype dt = rnd_dtype(&rng);
        wf_nd a = rnd_array(&rng, dt, nd, shape, false), whole;
        uint32_t axis = (uint32_t)xorshift_below(&rng, nd);
        NDOK(wf_nd_cumsum(&a, axis, NULL, &whole));
        assert_int_equal(whole.dtype, want_dtype(WF_R_SUM, dt));
        /* naive: running sums along axis */
        int64_t idx[WEFT_MAX_NDIM];
        for (int64_t f = 0; f < wf_nd_size(&a); f++) {
            unravel(f, nd, shape, idx);
            int64_t k = idx[axis];
            double s = 0;
            float sf = 0;
            int64_t si = 0;
            for (int64_t j = 0; j <= k; j++) {
                idx[axis] = j;
                int64_t g = 0;
                for (uint32_t d = 0; d < nd; d++)
                    g = g * shape[d] + idx[d];
                s += getd(&a, g);
                sf += (float)getd(&a, g);
                si += geti(&a, g);
            }
            double want = dt == WEFT_DT_F32 ? sf
                          : int_like(dt)    ? (double)si
                                            : s;
            if (!same_d(getd(&whole, f), want))
                fail_msg("cumsum %s axis %u at %lld: got %g want %g",
                         wf_dtype_name(dt), axis, (long long)f, getd(&whole, f),
                         want);
        }
        /* pieces along axis with the carry of the ones before */
        wf_nd assembled;
        NDOK(wf_nd_alloc(&assembled, whole.dtype, nd, shape, true));
        wf_nd carry = {0};
        int64_t at = 0;
        while (at < shape[axis]) {
            int64_t len =
                1 + (int64_t)xorshift_below(&rng, (uint64_t)(shape[axis] - at));
            int64_t start[WEFT_MAX_NDIM] = {0}, step[WEFT_MAX_NDIM],
                    count[WEFT_MAX_NDIM], zero[WEFT_MAX_NDIM] = {0};
            for (uint32_t d = 0; d < nd; d++) {
                step[d] = 1;
                count[d] = shape[d];
            }
            start[axis] = at;
            count[axis] = len;
            wf_nd piece, cs;
            NDOK(wf_nd_slice(&a, start, step, count, &piece));
            NDOK(wf_nd_cumsum(&piece, axis, carry.data ? &carry : NULL, &cs));
            NDOK(wf_nd_copy_block(&cs, zero, &assembled, start, count));
            wf_nd_free(&carry);
            start[axis] = len - 1; /* last slice of this piece: next carry */
            count[axis] = 1;
            NDOK(wf_nd_slice(&cs, start, step, count, &carry));
            wf_nd_free(&piece);
            wf_nd_free(&cs);
            at += len;
        }
        assert_memory_equal(assembled.data, whole.data, wf_nd_bytes(&whole));
        wf_nd_free(&carry);
        wf_nd_free(&assembled);
        wf_nd_free(&whole);
        wf_nd_free(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_random),
        cmocka_unit_test(test_partial_combine_random),
        cmocka_unit_test(test_reduce_known),
        cmocka_unit_test(test_reduce_errors),
        cmocka_unit_test(test_cumsum_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
