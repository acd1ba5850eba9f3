/* Tests of the counter-based random arrays (nd.h: wf_nd_random): Philox
 * against Random123's published answers; every element against a naive
 * evaluation from its flat index; random chunkings and origins of a global
 * array against the whole array; the SIMD and portable kernels bit for
 * bit; the moments of a million samples; seeds; bad arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "array/nd.h"
#include "array/nd_int.h"

#include "testutil.h"

/* Fail the test with wf_nd_error() unless call returns 0. */
#define ND_OK(call)                                                            \
    do {                                                                       \
        if ((call) != 0)                                                       \
            fail_msg("%s: %s", #call, wf_nd_error());                          \
    } while (0)

static void test_philox_known_answers(void **state)
{
    (void)state;
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0},
         {0, 0},
         {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        wf_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++)
            assert_int_equal(out[j], kat[i].out[j]);
    }
}

/* The value of flat index idx, straight from the definition in rng.c. */
static double naive_value(wf_rng_dist dist, uint64_t seed, double a, double b,
                          uint64_t idx)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t r[4];
    if (dist == WF_RNG_UNIFORM) {
        /* Block idx / 2; its first half for even idx, its second for odd. */
        uint32_t ctr[4] = {(uint32_t)(idx >> 1), (uint32_t)(idx >> 33), 0, 0};
        wf_philox4x32_10(ctr, key, r);
        int h = (int)(idx & 1) * 2;
        uint64_t x = ((uint64_t)r[h + 1] << 32 | r[h]) >> 11;
        double t = (double)x / 9007199254740992.0 * (b - a);
        return t + a;
    }
    uint32_t ctr[4] = {(uint32_t)idx, (uint32_t)(idx >> 32), 0, 0};
    wf_philox4x32_10(ctr, key, r);
    uint64_t x = ((uint64_t)r[1] << 32 | r[0]) >> 11;
    double u = (double)x / 9007199254740992.0;
    uint64_t y = ((uint64_t)r[3] << 32 | r[2]) >> 11;
    double v = (double)y / 9007199254740992.0;
    double z = sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
    double t = b * z;
    return a + t;
}

static void random_shape(uint64_t *rng, uint32_t *ndim, int64_t *shape)
{
    *ndim = (uint32_t)xorshift_below(rng, 5);
    for (uint32_t d = 0; d < *ndim; d++)
        shape[d] = (int64_t)xorshift_below(rng, *ndim > 2    ? 9
                                                : *ndim == 2 ? 40
                                                             : 300);
}

static int64_t count(uint32_t ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

/* Whole arrays against the naive evaluation with libm (uniforms exactly,
 * normals within a few ulp: rng.c has its own log and cos), and every
 * SIMD level bit for bit against the portable loop. */
static void test_whole_matches_naive(void **state)
{
    (void)state;
    uint64_t rng = 0x1234;
    for (int iter = 0; iter < scaled(200); iter++) {
        uint32_t ndim;
        int64_t g[WEFT_MAX_NDIM], o[WEFT_MAX_NDIM] = {0};
        random_shape(&rng, &ndim, g);
        wf_rng_dist dist = iter % 2 ? WF_RNG_NORMAL : WF_RNG_UNIFORM;
        uint64_t seed = xorshift_next(&rng);
        double a = -3.5, b = iter % 4 == 0 ? 0.25 : 10.0;
        wf_nd base;
        wf_rng_simd_limit(WF_RNG_SIMD_NONE);
        ND_OK(wf_nd_random(dist, seed, a, b, ndim, g, o, g, &base));
        assert_int_equal(base.dtype, WEFT_DT_F64);
        assert_int_equal(base.ndim, ndim);
        int64_t n = count(ndim, g);
        const double *v = base.data;
        for (int64_t i = 0; i < n; i++) {
            double want = naive_value(dist, seed, a, b, (uint64_t)i);
            bool ok = dist == WF_RNG_UNIFORM
                          ? memcmp(&v[i], &want, sizeof want) == 0
                          : fabs(v[i] - want) <= 1e-14 * (fabs(want) + b);
            if (!ok)
                fail_msg("dist %d element %lld: %.17g vs %.17g", dist,
                         (long long)i, v[i], want);
            if (dist == WF_RNG_UNIFORM)
                assert_true(v[i] >= a && v[i] < b);
        }
        for (int simd = 1; simd <= WF_RNG_SIMD_BEST; simd++) {
            wf_rng_simd_limit(simd);
            wf_nd x;
            ND_OK(wf_nd_random(dist, seed, a, b, ndim, g, o, g, &x));
            if (n)
                assert_memory_equal(x.data, base.data,
                                    (size_t)n * sizeof(double));
            wf_nd_free(&x);
        }
        wf_nd_free(&base);
    }
    wf_rng_simd_limit(WF_RNG_SIMD_BEST);
}

/* The normal at the extremes of its two uniforms: u = 0 (log 1), u as
 * near 1 as 53 bits go (the largest |z|), and v at each quarter turn,
 * through the naive libm evaluation's neighbours. */
static void test_normal_tails(void **state)
{
    (void)state;
    /* Many elements: among 2^20 some have u below 2^-20 and some above
     * 1 - 2^-20; all agree with libm. */
    int64_t g[1] = {scaled(1 << 20)}, o[1] = {0};
    wf_nd x;
    ND_OK(wf_nd_random(WF_RNG_NORMAL, 3, 0, 1, 1, g, o, g, &x));
    const double *v = x.data;
    double maxabs = 0;
    for (int64_t i = 0; i < g[0]; i++) {
        double want = naive_value(WF_RNG_NORMAL, 3, 0, 1, (uint64_t)i);
        if (!(fabs(v[i] - want) <= 1e-14 * (fabs(want) + 1)))
            fail_msg("element %lld: %.17g vs %.17g", (long long)i, v[i], want);
        if (fabs(v[i]) > maxabs)
            maxabs = fabs(v[i]);
    }
    assert_true(maxabs < 8.6); /* sqrt(-2 ln 2^-53) = 8.57 */
    wf_nd_free(&x);
}

/* Random blocks at random origins equal the same box of the whole array. */
static void test_blocks_match_whole(void **state)
{
    (void)state;
    uint64_t rng = 0x9876;
    for (int iter = 0; iter < scaled(300); iter++) {
        uint32_t ndim;
        int64_t g[WEFT_MAX_NDIM], zero[WEFT_MAX_NDIM] = {0};
        random_shape(&rng, &ndim, g);
        wf_rng_dist dist = iter % 3 ? WF_RNG_UNIFORM : WF_RNG_NORMAL;
        uint64_t seed = xorshift_next(&rng);
        wf_nd whole;
        ND_OK(wf_nd_random(dist, seed, 1, 2, ndim, g, zero, g, &whole));
        for (int k = 0; k < 5; k++) {
            int64_t o[WEFT_MAX_NDIM], c[WEFT_MAX_NDIM];
            for (uint32_t d = 0; d < ndim; d++) {
                o[d] = (int64_t)xorshift_below(&rng, (uint64_t)g[d] + 1);
                c[d] =
                    (int64_t)xorshift_below(&rng, (uint64_t)(g[d] - o[d]) + 1);
            }
            wf_rng_simd_limit((int)xorshift_below(&rng, 3));
            wf_nd blk;
            ND_OK(wf_nd_random(dist, seed, 1, 2, ndim, g, o, c, &blk));
            int64_t n = count(ndim, c), idx[WEFT_MAX_NDIM] = {0};
            const double *bv = blk.data, *wv = whole.data;
            for (int64_t i = 0; i < n; i++) {
                int64_t flat = 0;
                for (uint32_t d = 0; d < ndim; d++)
                    flat = flat * g[d] + o[d] + idx[d];
                assert_memory_equal(&bv[i], &wv[flat], sizeof(double));
                for (uint32_t d = ndim; d-- > 0;) {
                    if (++idx[d] < c[d])
                        break;
                    idx[d] = 0;
                }
            }
            wf_nd_free(&blk);
        }
        wf_nd_free(&whole);
    }
    wf_rng_simd_limit(WF_RNG_SIMD_BEST);
}

/* A chunk whose flat indexes cross 2^32 (the counter's high word). */
static void test_high_counters(void **state)
{
    (void)state;
    int64_t g[2] = {4, (int64_t)1 << 31}, o[2] = {1, ((int64_t)1 << 31) - 37},
            c[2] = {2, 37};
    for (int dist = 0; dist < 2; dist++) {
        wf_nd x;
        ND_OK(wf_nd_random((wf_rng_dist)dist, 77, 0, 1, 2, g, o, c, &x));
        const double *v = x.data;
        for (int64_t r = 0; r < 2; r++)
            for (int64_t j = 0; j < 37; j++) {
                uint64_t flat = (uint64_t)(o[0] + r) * (uint64_t)g[1] +
                                (uint64_t)(o[1] + j);
                double want = naive_value((wf_rng_dist)dist, 77, 0, 1, flat);
                if (dist == WF_RNG_UNIFORM)
                    assert_memory_equal(&v[r * 37 + j], &want, sizeof want);
                else
                    assert_true(fabs(v[r * 37 + j] - want) <=
                                1e-14 * (fabs(want) + 1));
            }
        wf_nd_free(&x);
    }
}

static void moments(const double *v, int64_t n, double *mean, double *var,
                    double *kurt)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    double m = s / (double)n, m2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = v[i] - m;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    *mean = m;
    *var = m2 / (double)n;
    *kurt = (m4 / (double)n) / (*var * *var);
}

static void test_distributions(void **state)
{
    (void)state;
    int64_t n = scaled(1000000);
    int64_t g[2] = {n / 1000, 1000}, o[2] = {0, 0};
    double fn = (double)g[0] * 1000;
    double mean, var, kurt;

    wf_nd x;
    ND_OK(wf_nd_random(WF_RNG_UNIFORM, 5, 0, 1, 2, g, o, g, &x));
    moments(x.data, g[0] * 1000, &mean, &var, &kurt);
    /* Uniform: mean 1/2 (sd of the mean sqrt(1/12/n)), variance 1/12
     * (sd sqrt(1/180/n)), kurtosis 9/5. */
    assert_true(fabs(mean - 0.5) < 6 * sqrt(1.0 / 12 / fn));
    assert_true(fabs(var - 1.0 / 12) < 6 * sqrt(1.0 / 180 / fn));
    assert_true(fabs(kurt - 1.8) < 0.05);
    /* Ten equal bins each hold a tenth, within 6 sd. */
    int64_t bins[10] = {0};
    const double *v = x.data;
    for (int64_t i = 0; i < g[0] * 1000; i++)
        bins[(int)(v[i] * 10)]++;
    for (int k = 0; k < 10; k++)
        assert_true(fabs((double)bins[k] - fn / 10) < 6 * sqrt(fn * 0.09));
    wf_nd_free(&x);

    ND_OK(wf_nd_random(WF_RNG_NORMAL, 5, 0, 1, 2, g, o, g, &x));
    moments(x.data, g[0] * 1000, &mean, &var, &kurt);
    /* Normal: sd of the mean sqrt(1/n), of the variance sqrt(2/n), of the
     * fourth moment sqrt(96/n). */
    assert_true(fabs(mean) < 6 * sqrt(1.0 / fn));
    assert_true(fabs(var - 1) < 6 * sqrt(2.0 / fn));
    assert_true(fabs(kurt - 3) < 6 * sqrt(96.0 / fn));
    /* The fraction within one sd is 0.6827. */
    v = x.data;
    int64_t inside = 0;
    for (int64_t i = 0; i < g[0] * 1000; i++)
        inside += fabs(v[i]) < 1;
    assert_true(fabs((double)inside / fn - 0.682689) < 6 * sqrt(0.2166 / fn));
    wf_nd_free(&x);

    /* Location and scale. */
    ND_OK(wf_nd_random(WF_RNG_NORMAL, 6, 10, 3, 2, g, o, g, &x));
    moments(x.data, g[0] * 1000, &mean, &var, &kurt);
    assert_true(fabs(mean - 10) < 6 * 3 * sqrt(1.0 / fn));
    assert_true(fabs(var - 9) < 6 * 9 * sqrt(2.0 / fn));
    wf_nd_free(&x);
}

static void test_seeds(void **state)
{
    (void)state;
    int64_t g[1] = {1000}, o[1] = {0};
    uint64_t seeds[4] = {0, 1, (uint64_t)1 << 32, ~(uint64_t)0};
    wf_nd x[4];
    for (int s = 0; s < 4; s++)
        ND_OK(wf_nd_random(WF_RNG_UNIFORM, seeds[s], 0, 1, 1, g, o, g, &x[s]));
    for (int s = 0; s < 4; s++)
        for (int t = s + 1; t < 4; t++) {
            const double *p = x[s].data, *q = x[t].data;
            int same = 0;
            for (int i = 0; i < 1000; i++)
                same += p[i] == q[i];
            assert_true(same < 3);
        }
    /* The same seed again gives the same array. */
    wf_nd y;
    ND_OK(wf_nd_random(WF_RNG_UNIFORM, 1, 0, 1, 1, g, o, g, &y));
    assert_memory_equal(y.data, x[1].data, 1000 * sizeof(double));
    wf_nd_free(&y);
    for (int s = 0; s < 4; s++)
        wf_nd_free(&x[s]);

    /* 0-d: one element, flat index 0. */
    ND_OK(wf_nd_random(WF_RNG_UNIFORM, 9, 0, 1, 0, NULL, NULL, NULL, &y));
    assert_int_equal(y.ndim, 0);
    double want = naive_value(WF_RNG_UNIFORM, 9, 0, 1, 0);
    assert_memory_equal(y.data, &want, sizeof want);
    wf_nd_free(&y);
}

static void expect_bad(wf_rng_dist dist, double a, double b, uint32_t ndim,
                       const int64_t *g, const int64_t *o, const int64_t *c,
                       const char *needle)
{
    wf_nd x = {.ndim = 3};
    assert_int_equal(wf_nd_random(dist, 1, a, b, ndim, g, o, c, &x),
                     WEFT_EINVAL);
    assert_null(x.data);
    assert_int_equal(x.ndim, 0);
    if (strstr(wf_nd_error(), needle) == NULL)
        fail_msg("error '%s' lacks '%s'", wf_nd_error(), needle);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    int64_t g[2] = {10, 20}, o[2] = {0, 0}, c[2] = {10, 20};
    int64_t o2[2] = {5, 0}, c2[2] = {6, 20}, neg[2] = {-1, 20};
    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    int64_t g9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_bad(WF_RNG_UNIFORM, 0, 1, 2, g, o2, c2, "outside");
    expect_bad(WF_RNG_UNIFORM, 0, 1, 2, g, neg, c, "outside");
    expect_bad(WF_RNG_UNIFORM, 0, 1, 2, g, o, neg, "outside");
    expect_bad(WF_RNG_UNIFORM, 0, 1, 2, neg, o, c, "< 0");
    expect_bad(WF_RNG_UNIFORM, 0, 1, 2, huge, o, c, "2^63");
    expect_bad(WF_RNG_UNIFORM, 0, 1, 9, g9, g9, g9, "axes");
    expect_bad(WF_RNG_UNIFORM, 0, 1, 2, NULL, o, c, "NULL");
    expect_bad(WF_RNG_UNIFORM, 0, NAN, 2, g, o, c, "finite");
    expect_bad(WF_RNG_UNIFORM, -1e308, 1e308, 2, g, o, c, "too wide");
    expect_bad(WF_RNG_NORMAL, 0, -1, 2, g, o, c, "standard deviation");
    expect_bad((wf_rng_dist)7, 0, 1, 2, g, o, c, "distribution");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_whole_matches_naive),
        cmocka_unit_test(test_normal_tails),
        cmocka_unit_test(test_blocks_match_whole),
        cmocka_unit_test(test_high_counters),
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
