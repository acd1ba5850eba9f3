/* Counter-based random arrays (nd.h: wf_nd_random).
 *
 * Every element is a pure function of (seed, its flat C-order index f in
 * the global array), so any chunking, order or worker gives the same
 * array. The seed is the Philox4x32-10 key (low word, high word); a
 * counter c is the block (low word of c, high word of c, 0, 0), giving
 * the words r0..r3.
 *
 * Uniform: counter f / 2 (one block serves two neighbours: half the cost);
 * even f takes (hi, lo) = (r1, r0), odd f (r3, r2); u = (hi * 2^21 +
 * (lo >> 11)) / 2^53, 53 bits in [0, 1), and the value is a + u * (b - a).
 * Normal: counter f; u from (r1, r0) and v from (r3, r2) as above, and the
 * value is a + b * z with z = sqrt(-2 log(1 - u)) cos(2 pi v) (1 - u > 0:
 * no log(0)); log and cos are our own few-ulp polynomials, so the SIMD
 * and portable kernels agree bit for bit.
 *
 * The hot loop is along the chunk's contiguous last axis. On x86-64 it runs
 * eight (AVX-512) or four (AVX2) counters at a time in 64-bit lanes
 * (vpmuludq gives the 32x32->64 products; only the low 32 bits of a lane
 * matter, so the high halves need no masking), chosen at run time; a plain
 * loop gives bit-identical results elsewhere (the integer steps and the
 * conversion to [0, 1) are exact, and the last steps are the same two IEEE
 * operations in the same order). */
#include <math.h>
#include <string.h>

/* The portable and SIMD kernels must round alike: no fused multiply-adds
 * (gcc in ISO C mode does not contract; clang would where FMA exists). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include "array/nd.h"
#include "array/nd_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RNG_HAVE_AVX2 1
#include <immintrin.h>
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define PHILOX_ROUNDS 10

static int rng_simd_limit = WF_RNG_SIMD_BEST;

void wf_rng_simd_limit(int level)
{
    rng_simd_limit = level;
}

static inline void philox_block(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
        uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = (uint32_t)p1;
        c[2] = n2;
        c[3] = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

void wf_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                      uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    philox_block(c, key[0], key[1]);
    memcpy(out, c, sizeof c);
}

/* 53 random bits from (hi, lo) as a double in [0, 1); exact. */
static inline double unit53(uint32_t hi, uint32_t lo)
{
    return (double)(((uint64_t)hi << 21) | (lo >> 11)) * 0x1p-53;
}

/* The normal's math, written out so the SIMD kernel can do the very same
 * IEEE operations in the same order (libm's log and cos could differ from
 * any vector version): log on [2^-53, 1] and cos(2 pi v) for v in [0, 1)
 * a multiple of 2^-53, each within a few ulp. */
#define LN2_HI 6.93147180369123816490e-01 /* ln 2 with 21 trailing zeros */
#define LN2_LO 1.90821492927058770002e-10 /* ln 2 - LN2_HI */
#define SQRT2_BITS 0x3FF6A09E667F3BCDull  /* sqrt(2) */
#define TWO_PI 6.28318530717958647692

/* log(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m-1)/(m+1):
 * the series' coefficients from 1/3 (LOG_C[0]) to 1/21. */
#define LOG_TERMS 10
static const double LOG_C[LOG_TERMS] = {
    1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
    1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21,
};
/* sin t = t + t^3 S(t^2), cos t = 1 - t^2/2 + t^4 C(t^2) on |t| <= pi/4:
 * Taylor to t^17 and t^16 (the next terms are below 2^-57). */
#define TRIG_TERMS 8
static const double SIN_C[TRIG_TERMS] = {
    -1.0 / 6,
    1.0 / 120,
    -1.0 / 5040,
    1.0 / 362880,
    -1.0 / 39916800,
    1.0 / 6227020800,
    -1.0 / 1307674368000,
    1.0 / 355687428096000,
};
static const double COS_C[TRIG_TERMS] = {
    1.0 / 24,
    -1.0 / 720,
    1.0 / 40320,
    -1.0 / 3628800,
    1.0 / 479001600,
    -1.0 / 87178291200,
    1.0 / 20922789888000,
    -1.0 / 6402373705728000,
};

static inline double rng_log(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int64_t e = (int64_t)(bits >> 52) - 1023;
    uint64_t mb = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    if (mb > SQRT2_BITS) { /* m in (sqrt 2, 2): halve it */
        mb -= 0x0010000000000000ull;
        e += 1;
    }
    double m;
    memcpy(&m, &mb, sizeof m);
    double num = m - 1.0, den = m + 1.0;
    double s = num / den;
    double z = s * s;
    double p = LOG_C[LOG_TERMS - 1];
    for (int i = LOG_TERMS - 2; i >= 0; i--) {
        p = p * z;
        p = p + LOG_C[i];
    }
    double s2 = s + s;
    double zp = z * p;
    double tail = s2 * zp;
    double lm = s2 + tail;
    double de = (double)e;
    double hi = de * LN2_HI, lo = de * LN2_LO;
    double low = lm + lo;
    return hi + low;
}

static inline double rng_cos2pi(double v)
{
    double t = v * 4.0;
    double big = t + 0x1p52; /* rounds 4v to the nearest integer k */
    double kd = big - 0x1p52;
    double quarter = kd * 0.25;
    double r = v - quarter; /* exact: |r| <= 1/8 */
    double th = r * TWO_PI;
    double z = th * th;
    double sp = SIN_C[TRIG_TERMS - 1], cp = COS_C[TRIG_TERMS - 1];
    for (int i = TRIG_TERMS - 2; i >= 0; i--) {
        sp = sp * z;
        sp = sp + SIN_C[i];
        cp = cp * z;
        cp = cp + COS_C[i];
    }
    double zs = z * sp;
    double ts = th * zs;
    double sn = th + ts;
    double hz = 0.5 * z, zz = z * z;
    double c1 = 1.0 - hz;
    double c2 = zz * cp;
    double cs = c1 + c2;
    /* cos(th + k pi/2) is cos, -sin, -cos, sin for k mod 4 = 0 .. 3. */
    unsigned q = (unsigned)kd & 3;
    double res = q & 1 ? sn : cs;
    return (q + 1) & 2 ? -res : res;
}

/* mean + sd * z, z = sqrt(-2 log(1 - u)) cos(2 pi v). */
static inline double normal_of(const uint32_t c[4], double mean, double sd)
{
    double u = unit53(c[1], c[0]), v = unit53(c[3], c[2]);
    double x = 1.0 - u;
    double l2 = -2.0 * rng_log(x);
    double rad = sqrt(l2);
    double z = rad * rng_cos2pi(v);
    double t = sd * z;
    return mean + t;
}

/* The block of counter idx under key (k0, k1). */
static inline void philox_at(uint64_t idx, uint32_t k0, uint32_t k1,
                             uint32_t c[4])
{
    c[0] = (uint32_t)idx;
    c[1] = (uint32_t)(idx >> 32);
    c[2] = 0;
    c[3] = 0;
    philox_block(c, k0, k1);
}

/* One uniform: a + u(f) * w (w = b - a). */
static inline double uniform_one(uint64_t f, uint32_t k0, uint32_t k1, double a,
                                 double w)
{
    uint32_t c[4];
    philox_at(f >> 1, k0, k1, c);
    double t = (f & 1 ? unit53(c[3], c[2]) : unit53(c[1], c[0])) * w;
    return t + a;
}

/* out[0 .. 2 * npairs) from the blocks first, first + 1, ... */
static void pairs_portable(double *out, uint64_t first, size_t npairs,
                           uint32_t k0, uint32_t k1, double a, double w)
{
    for (size_t i = 0; i < npairs; i++) {
        uint32_t c[4];
        philox_at(first + i, k0, k1, c);
        double t0 = unit53(c[1], c[0]) * w;
        double t1 = unit53(c[3], c[2]) * w;
        out[2 * i] = t0 + a;
        out[2 * i + 1] = t1 + a;
    }
}

#ifdef RNG_HAVE_AVX2

typedef struct philox_x4 {
    __m256i c0, c1, c2, c3;
} philox_x4;

/* Philox4x32-10 on the four counters idx (64-bit lanes). The words come
 * back in the low halves of the lanes; the high halves are garbage. */
__attribute__((target("avx2"))) static inline philox_x4
philox_avx2(__m256i idx, const __m256i *k0, const __m256i *k1)
{
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi64x(PHILOX_M1);
    /* Round 1 with c2 = c3 = 0: the M1 product is 0. */
    __m256i p0 = _mm256_mul_epu32(idx, m0);
    philox_x4 s;
    s.c0 = _mm256_xor_si256(_mm256_srli_epi64(idx, 32), k0[0]);
    s.c1 = _mm256_setzero_si256();
    s.c2 = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), k1[0]);
    s.c3 = p0;
    for (int r = 1; r < PHILOX_ROUNDS; r++) {
        __m256i q0 = _mm256_mul_epu32(s.c0, m0);
        __m256i q1 = _mm256_mul_epu32(s.c2, m1);
        s.c0 = _mm256_xor_si256(
            _mm256_xor_si256(_mm256_srli_epi64(q1, 32), s.c1), k0[r]);
        s.c2 = _mm256_xor_si256(
            _mm256_xor_si256(_mm256_srli_epi64(q0, 32), s.c3), k1[r]);
        s.c1 = q1;
        s.c3 = q0;
    }
    return s;
}

/* (hi * 2^21 + (lo >> 11)) / 2^53 per lane, exactly: hi / 2^32 is
 * 2^20 + hi / 2^32 minus 2^20 (hi as the mantissa of 2^20), and
 * (lo >> 11) / 2^53 likewise from 0.5; the sum of the two is exact. */
__attribute__((target("avx2"))) static inline __m256d unit53_avx2(__m256i hi,
                                                                  __m256i lo)
{
    const __m256i e20 = _mm256_set1_epi64x(0x4130000000000000ll);
    const __m256i ehalf = _mm256_set1_epi64x(0x3FE0000000000000ll);
    __m256d h =
        _mm256_sub_pd(_mm256_castsi256_pd(_mm256_blend_epi32(hi, e20, 0xAA)),
                      _mm256_set1_pd(0x1p20));
    __m256d l = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_blend_epi32(
                                  _mm256_srli_epi32(lo, 11), ehalf, 0xAA)),
                              _mm256_set1_pd(0.5));
    return _mm256_add_pd(h, l);
}

__attribute__((target("avx2"))) static void
round_keys_avx2(uint32_t k0, uint32_t k1, __m256i *rk0, __m256i *rk1)
{
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        rk0[r] = _mm256_set1_epi64x(k0);
        rk1[r] = _mm256_set1_epi64x(k1);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

__attribute__((target("avx2"))) static void
pairs_avx2(double *out, uint64_t first, size_t npairs, uint32_t k0, uint32_t k1,
           double a, double w)
{
    __m256i rk0[PHILOX_ROUNDS], rk1[PHILOX_ROUNDS];
    round_keys_avx2(k0, k1, rk0, rk1);
    const __m256d va = _mm256_set1_pd(a), vw = _mm256_set1_pd(w);
    __m256i idx = _mm256_add_epi64(_mm256_set1_epi64x((long long)first),
                                   _mm256_setr_epi64x(0, 1, 2, 3));
    size_t i = 0;
    for (; i + 4 <= npairs; i += 4) {
        philox_x4 s = philox_avx2(idx, rk0, rk1);
        __m256d e =
            _mm256_add_pd(_mm256_mul_pd(unit53_avx2(s.c1, s.c0), vw), va);
        __m256d o =
            _mm256_add_pd(_mm256_mul_pd(unit53_avx2(s.c3, s.c2), vw), va);
        /* Interleave: e0 o0 e1 o1 | e2 o2 e3 o3. */
        __m256d lo = _mm256_unpacklo_pd(e, o), hi = _mm256_unpackhi_pd(e, o);
        _mm256_storeu_pd(out + 2 * i, _mm256_permute2f128_pd(lo, hi, 0x20));
        _mm256_storeu_pd(out + 2 * i + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
        idx = _mm256_add_epi64(idx, _mm256_set1_epi64x(4));
    }
    pairs_portable(out + 2 * i, first + i, npairs - i, k0, k1, a, w);
}

__attribute__((target("avx2"))) static inline __m256d log_avx2(__m256d x)
{
    __m256i bits = _mm256_castpd_si256(x);
    __m256i e =
        _mm256_sub_epi64(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(1023));
    __m256i mb = _mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll)),
        _mm256_set1_epi64x(0x3FF0000000000000ll));
    /* All ones where m > sqrt 2 (both positive: a signed compare works). */
    __m256i big =
        _mm256_cmpgt_epi64(mb, _mm256_set1_epi64x((long long)SQRT2_BITS));
    mb = _mm256_sub_epi64(
        mb, _mm256_and_si256(big, _mm256_set1_epi64x(0x0010000000000000ll)));
    e = _mm256_sub_epi64(e, big);
    __m256d m = _mm256_castsi256_pd(mb);
    const __m256d done = _mm256_set1_pd(1.0);
    __m256d s = _mm256_div_pd(_mm256_sub_pd(m, done), _mm256_add_pd(m, done));
    __m256d z = _mm256_mul_pd(s, s);
    __m256d p = _mm256_set1_pd(LOG_C[LOG_TERMS - 1]);
    for (int i = LOG_TERMS - 2; i >= 0; i--)
        p = _mm256_add_pd(_mm256_mul_pd(p, z), _mm256_set1_pd(LOG_C[i]));
    __m256d s2 = _mm256_add_pd(s, s);
    __m256d lm = _mm256_add_pd(s2, _mm256_mul_pd(s2, _mm256_mul_pd(z, p)));
    __m256d de =
        _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(
                          e, _mm256_set1_epi64x(0x4330000000000000ll + 1024))),
                      _mm256_set1_pd(0x1p52 + 1024));
    __m256d hi = _mm256_mul_pd(de, _mm256_set1_pd(LN2_HI));
    __m256d lo = _mm256_mul_pd(de, _mm256_set1_pd(LN2_LO));
    return _mm256_add_pd(hi, _mm256_add_pd(lm, lo));
}

__attribute__((target("avx2"))) static inline __m256d cos2pi_avx2(__m256d v)
{
    const __m256d magic = _mm256_set1_pd(0x1p52);
    __m256d big = _mm256_add_pd(_mm256_mul_pd(v, _mm256_set1_pd(4.0)), magic);
    __m256d kd = _mm256_sub_pd(big, magic);
    __m256d r = _mm256_sub_pd(v, _mm256_mul_pd(kd, _mm256_set1_pd(0.25)));
    __m256d th = _mm256_mul_pd(r, _mm256_set1_pd(TWO_PI));
    __m256d z = _mm256_mul_pd(th, th);
    __m256d sp = _mm256_set1_pd(SIN_C[TRIG_TERMS - 1]);
    __m256d cp = _mm256_set1_pd(COS_C[TRIG_TERMS - 1]);
    for (int i = TRIG_TERMS - 2; i >= 0; i--) {
        sp = _mm256_add_pd(_mm256_mul_pd(sp, z), _mm256_set1_pd(SIN_C[i]));
        cp = _mm256_add_pd(_mm256_mul_pd(cp, z), _mm256_set1_pd(COS_C[i]));
    }
    __m256d sn = _mm256_add_pd(th, _mm256_mul_pd(th, _mm256_mul_pd(z, sp)));
    __m256d cs =
        _mm256_add_pd(_mm256_sub_pd(_mm256_set1_pd(1.0),
                                    _mm256_mul_pd(_mm256_set1_pd(0.5), z)),
                      _mm256_mul_pd(_mm256_mul_pd(z, z), cp));
    __m256i q =
        _mm256_and_si256(_mm256_castpd_si256(big), _mm256_set1_epi64x(3));
    const __m256i one = _mm256_set1_epi64x(1), two = _mm256_set1_epi64x(2);
    __m256i use_sin = _mm256_cmpeq_epi64(_mm256_and_si256(q, one), one);
    __m256i neg = _mm256_cmpeq_epi64(
        _mm256_and_si256(_mm256_add_epi64(q, one), two), two);
    __m256d res = _mm256_blendv_pd(cs, sn, _mm256_castsi256_pd(use_sin));
    __m256i sign =
        _mm256_and_si256(neg, _mm256_set1_epi64x((long long)(1ull << 63)));
    return _mm256_castsi256_pd(
        _mm256_xor_si256(_mm256_castpd_si256(res), sign));
}

__attribute__((target("avx2"))) static void
normal_avx2(double *out, uint64_t first, size_t n, uint32_t k0, uint32_t k1,
            double mean, double sd)
{
    __m256i rk0[PHILOX_ROUNDS], rk1[PHILOX_ROUNDS];
    round_keys_avx2(k0, k1, rk0, rk1);
    const __m256d vm = _mm256_set1_pd(mean), vs = _mm256_set1_pd(sd);
    __m256i idx = _mm256_add_epi64(_mm256_set1_epi64x((long long)first),
                                   _mm256_setr_epi64x(0, 1, 2, 3));
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        philox_x4 s = philox_avx2(idx, rk0, rk1);
        __m256d u = unit53_avx2(s.c1, s.c0), v = unit53_avx2(s.c3, s.c2);
        __m256d x = _mm256_sub_pd(_mm256_set1_pd(1.0), u);
        __m256d rad =
            _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), log_avx2(x)));
        __m256d z = _mm256_mul_pd(rad, cos2pi_avx2(v));
        _mm256_storeu_pd(out + i, _mm256_add_pd(vm, _mm256_mul_pd(vs, z)));
        idx = _mm256_add_epi64(idx, _mm256_set1_epi64x(4));
    }
    for (; i < n; i++) {
        uint32_t c[4];
        philox_at(first + i, k0, k1, c);
        out[i] = normal_of(c, mean, sd);
    }
}

/* The same on eight counters with AVX-512 (vpternlogq does the two xors
 * of a round in one step). */
typedef struct philox_x8 {
    __m512i c0, c1, c2, c3;
} philox_x8;

#define XOR3 0x96 /* vpternlogq truth table of a ^ b ^ c */

__attribute__((target("avx512f"))) static inline philox_x8
philox_avx512(__m512i idx, const uint32_t *k0, const uint32_t *k1)
{
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi64(PHILOX_M1);
    __m512i p0 = _mm512_mul_epu32(idx, m0);
    philox_x8 s;
    s.c0 =
        _mm512_xor_si512(_mm512_srli_epi64(idx, 32), _mm512_set1_epi64(k0[0]));
    s.c1 = _mm512_setzero_si512();
    s.c2 =
        _mm512_xor_si512(_mm512_srli_epi64(p0, 32), _mm512_set1_epi64(k1[0]));
    s.c3 = p0;
    for (int r = 1; r < PHILOX_ROUNDS; r++) {
        __m512i q0 = _mm512_mul_epu32(s.c0, m0);
        __m512i q1 = _mm512_mul_epu32(s.c2, m1);
        s.c0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(q1, 32), s.c1,
                                         _mm512_set1_epi64(k0[r]), XOR3);
        s.c2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(q0, 32), s.c3,
                                         _mm512_set1_epi64(k1[r]), XOR3);
        s.c1 = q1;
        s.c3 = q0;
    }
    return s;
}

__attribute__((target("avx512f"))) static inline __m512d
unit53_avx512(__m512i hi, __m512i lo)
{
    const __m512i e20 = _mm512_set1_epi64(0x4130000000000000ll);
    const __m512i ehalf = _mm512_set1_epi64(0x3FE0000000000000ll);
    __m512d h = _mm512_sub_pd(
        _mm512_castsi512_pd(_mm512_mask_blend_epi32(0xAAAA, hi, e20)),
        _mm512_set1_pd(0x1p20));
    __m512d l = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_mask_blend_epi32(
                                  0xAAAA, _mm512_srli_epi32(lo, 11), ehalf)),
                              _mm512_set1_pd(0.5));
    return _mm512_add_pd(h, l);
}

static void round_keys(uint32_t k0, uint32_t k1, uint32_t *rk0, uint32_t *rk1)
{
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        rk0[r] = k0;
        rk1[r] = k1;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

__attribute__((target("avx512f"))) static void
pairs_avx512(double *out, uint64_t first, size_t npairs, uint32_t k0,
             uint32_t k1, double a, double w)
{
    uint32_t rk0[PHILOX_ROUNDS], rk1[PHILOX_ROUNDS];
    round_keys(k0, k1, rk0, rk1);
    const __m512d va = _mm512_set1_pd(a), vw = _mm512_set1_pd(w);
    const __m512i step = _mm512_set1_epi64(16);
    /* Where each output of the interleave comes from (8+ is the odd). */
    const __m512i ilo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i ihi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    __m512i i0 = _mm512_add_epi64(_mm512_set1_epi64((long long)first),
                                  _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    __m512i i1 = _mm512_add_epi64(i0, _mm512_set1_epi64(8));
    size_t i = 0;
    /* Two independent groups per pass keep the multipliers busy. */
    for (; i + 16 <= npairs; i += 16) {
        philox_x8 s = philox_avx512(i0, rk0, rk1);
        philox_x8 t = philox_avx512(i1, rk0, rk1);
        philox_x8 g[2] = {s, t};
        for (int k = 0; k < 2; k++) {
            __m512d e = _mm512_add_pd(
                _mm512_mul_pd(unit53_avx512(g[k].c1, g[k].c0), vw), va);
            __m512d o = _mm512_add_pd(
                _mm512_mul_pd(unit53_avx512(g[k].c3, g[k].c2), vw), va);
            double *p = out + 2 * i + 16 * k;
            _mm512_storeu_pd(p, _mm512_permutex2var_pd(e, ilo, o));
            _mm512_storeu_pd(p + 8, _mm512_permutex2var_pd(e, ihi, o));
        }
        i0 = _mm512_add_epi64(i0, step);
        i1 = _mm512_add_epi64(i1, step);
    }
    pairs_avx2(out + 2 * i, first + i, npairs - i, k0, k1, a, w);
}

__attribute__((target("avx512f"))) static inline __m512d log_avx512(__m512d x)
{
    const __m512i one = _mm512_set1_epi64(1);
    __m512i bits = _mm512_castpd_si512(x);
    __m512i e =
        _mm512_sub_epi64(_mm512_srli_epi64(bits, 52), _mm512_set1_epi64(1023));
    __m512i mb = _mm512_or_si512(
        _mm512_and_si512(bits, _mm512_set1_epi64(0x000FFFFFFFFFFFFFll)),
        _mm512_set1_epi64(0x3FF0000000000000ll));
    __mmask8 big =
        _mm512_cmpgt_epu64_mask(mb, _mm512_set1_epi64((long long)SQRT2_BITS));
    mb = _mm512_mask_sub_epi64(mb, big, mb,
                               _mm512_set1_epi64(0x0010000000000000ll));
    e = _mm512_mask_add_epi64(e, big, e, one);
    __m512d m = _mm512_castsi512_pd(mb);
    const __m512d done = _mm512_set1_pd(1.0);
    __m512d s = _mm512_div_pd(_mm512_sub_pd(m, done), _mm512_add_pd(m, done));
    __m512d z = _mm512_mul_pd(s, s);
    __m512d p = _mm512_set1_pd(LOG_C[LOG_TERMS - 1]);
    for (int i = LOG_TERMS - 2; i >= 0; i--)
        p = _mm512_add_pd(_mm512_mul_pd(p, z), _mm512_set1_pd(LOG_C[i]));
    __m512d s2 = _mm512_add_pd(s, s);
    __m512d lm = _mm512_add_pd(s2, _mm512_mul_pd(s2, _mm512_mul_pd(z, p)));
    /* e (-53 .. 0) as a double, exactly: 2^52 + (e + 1024) less the same. */
    __m512d de =
        _mm512_sub_pd(_mm512_castsi512_pd(_mm512_add_epi64(
                          e, _mm512_set1_epi64(0x4330000000000000ll + 1024))),
                      _mm512_set1_pd(0x1p52 + 1024));
    __m512d hi = _mm512_mul_pd(de, _mm512_set1_pd(LN2_HI));
    __m512d lo = _mm512_mul_pd(de, _mm512_set1_pd(LN2_LO));
    return _mm512_add_pd(hi, _mm512_add_pd(lm, lo));
}

__attribute__((target("avx512f"))) static inline __m512d
cos2pi_avx512(__m512d v)
{
    const __m512d magic = _mm512_set1_pd(0x1p52);
    __m512d big = _mm512_add_pd(_mm512_mul_pd(v, _mm512_set1_pd(4.0)), magic);
    __m512d kd = _mm512_sub_pd(big, magic);
    __m512d r = _mm512_sub_pd(v, _mm512_mul_pd(kd, _mm512_set1_pd(0.25)));
    __m512d th = _mm512_mul_pd(r, _mm512_set1_pd(TWO_PI));
    __m512d z = _mm512_mul_pd(th, th);
    __m512d sp = _mm512_set1_pd(SIN_C[TRIG_TERMS - 1]);
    __m512d cp = _mm512_set1_pd(COS_C[TRIG_TERMS - 1]);
    for (int i = TRIG_TERMS - 2; i >= 0; i--) {
        sp = _mm512_add_pd(_mm512_mul_pd(sp, z), _mm512_set1_pd(SIN_C[i]));
        cp = _mm512_add_pd(_mm512_mul_pd(cp, z), _mm512_set1_pd(COS_C[i]));
    }
    __m512d sn = _mm512_add_pd(th, _mm512_mul_pd(th, _mm512_mul_pd(z, sp)));
    __m512d cs =
        _mm512_add_pd(_mm512_sub_pd(_mm512_set1_pd(1.0),
                                    _mm512_mul_pd(_mm512_set1_pd(0.5), z)),
                      _mm512_mul_pd(_mm512_mul_pd(z, z), cp));
    /* k mod 4 sits in the low bits of big's mantissa. */
    __m512i q =
        _mm512_and_si512(_mm512_castpd_si512(big), _mm512_set1_epi64(3));
    __mmask8 use_sin = _mm512_test_epi64_mask(q, _mm512_set1_epi64(1));
    __mmask8 neg = _mm512_test_epi64_mask(
        _mm512_add_epi64(q, _mm512_set1_epi64(1)), _mm512_set1_epi64(2));
    __m512i res = _mm512_castpd_si512(_mm512_mask_blend_pd(use_sin, cs, sn));
    res = _mm512_mask_xor_epi64(res, neg, res,
                                _mm512_set1_epi64((long long)(1ull << 63)));
    return _mm512_castsi512_pd(res);
}

__attribute__((target("avx512f"))) static void
normal_avx512(double *out, uint64_t first, size_t n, uint32_t k0, uint32_t k1,
              double mean, double sd)
{
    uint32_t rk0[PHILOX_ROUNDS], rk1[PHILOX_ROUNDS];
    round_keys(k0, k1, rk0, rk1);
    const __m512d vm = _mm512_set1_pd(mean), vs = _mm512_set1_pd(sd);
    __m512i idx = _mm512_add_epi64(_mm512_set1_epi64((long long)first),
                                   _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        philox_x8 s = philox_avx512(idx, rk0, rk1);
        __m512d u = unit53_avx512(s.c1, s.c0), v = unit53_avx512(s.c3, s.c2);
        __m512d x = _mm512_sub_pd(_mm512_set1_pd(1.0), u);
        __m512d rad =
            _mm512_sqrt_pd(_mm512_mul_pd(_mm512_set1_pd(-2.0), log_avx512(x)));
        __m512d z = _mm512_mul_pd(rad, cos2pi_avx512(v));
        _mm512_storeu_pd(out + i, _mm512_add_pd(vm, _mm512_mul_pd(vs, z)));
        idx = _mm512_add_epi64(idx, _mm512_set1_epi64(8));
    }
    for (; i < n; i++) {
        uint32_t c[4];
        philox_at(first + i, k0, k1, c);
        out[i] = normal_of(c, mean, sd);
    }
}

static bool use_avx512(void)
{
    return rng_simd_limit >= WF_RNG_SIMD_AVX512 &&
           __builtin_cpu_supports("avx512f");
}

static bool use_avx2(void)
{
    return rng_simd_limit >= WF_RNG_SIMD_AVX2 && __builtin_cpu_supports("avx2");
}

#else

static bool use_avx2(void)
{
    return false;
}

#endif

/* out[i] = the uniform of flat index first + i, for i < n. */
static void fill_uniform(double *out, uint64_t first, size_t n, uint32_t k0,
                         uint32_t k1, double a, double w)
{
    if (n > 0 && first & 1) {
        *out++ = uniform_one(first++, k0, k1, a, w);
        n--;
    }
    size_t npairs = n / 2;
#ifdef RNG_HAVE_AVX2
    if (use_avx512())
        pairs_avx512(out, first / 2, npairs, k0, k1, a, w);
    else if (use_avx2())
        pairs_avx2(out, first / 2, npairs, k0, k1, a, w);
    else
#endif
        pairs_portable(out, first / 2, npairs, k0, k1, a, w);
    if (n & 1)
        out[n - 1] = uniform_one(first + n - 1, k0, k1, a, w);
}

static void fill_normal(double *out, uint64_t first, size_t n, uint32_t k0,
                        uint32_t k1, double mean, double sd)
{
#ifdef RNG_HAVE_AVX2
    if (use_avx512()) {
        normal_avx512(out, first, n, k0, k1, mean, sd);
        return;
    }
    if (use_avx2()) {
        normal_avx2(out, first, n, k0, k1, mean, sd);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        uint32_t c[4];
        philox_at(first + i, k0, k1, c);
        out[i] = normal_of(c, mean, sd);
    }
}

static const char *dist_name(wf_rng_dist dist)
{
    return dist == WF_RNG_NORMAL ? "normal" : "uniform";
}

/* Check the arguments (the global array has at most 2^63 elements). */
static weft_err random_check(wf_rng_dist dist, double a, double b,
                             uint32_t ndim, const int64_t *gshape,
                             const int64_t *origin, const int64_t *chunk)
{
    const char *who = dist_name(dist);
    if (dist != WF_RNG_UNIFORM && dist != WF_RNG_NORMAL) {
        wf_nd_seterr("random: unknown distribution %d", (int)dist);
        return WEFT_EINVAL;
    }
    if (ndim > WEFT_MAX_NDIM) {
        wf_nd_seterr("random %s: %u axes, at most %d", who, ndim,
                     WEFT_MAX_NDIM);
        return WEFT_EINVAL;
    }
    if (ndim > 0 && (gshape == NULL || origin == NULL || chunk == NULL)) {
        wf_nd_seterr("random %s: NULL shape, origin or chunk", who);
        return WEFT_EINVAL;
    }
    if (!isfinite(a) || !isfinite(b)) {
        wf_nd_seterr("random %s: parameters %g and %g must be finite", who, a,
                     b);
        return WEFT_EINVAL;
    }
    if (dist == WF_RNG_UNIFORM && !isfinite(b - a)) {
        wf_nd_seterr("random uniform: range [%g, %g) is too wide", a, b);
        return WEFT_EINVAL;
    }
    if (dist == WF_RNG_NORMAL && b < 0) {
        wf_nd_seterr("random normal: standard deviation %g < 0", b);
        return WEFT_EINVAL;
    }
    uint64_t total = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (gshape[d] < 0) {
            wf_nd_seterr("random %s: global shape axis %u is %lld < 0", who, d,
                         (long long)gshape[d]);
            return WEFT_EINVAL;
        }
        if (chunk[d] < 0 || origin[d] < 0 || origin[d] > gshape[d] ||
            chunk[d] > gshape[d] - origin[d]) {
            wf_nd_seterr("random %s: block of %lld at %lld on axis %u lies "
                         "outside the global length %lld",
                         who, (long long)chunk[d], (long long)origin[d], d,
                         (long long)gshape[d]);
            return WEFT_EINVAL;
        }
        if (gshape[d] > 0 &&
            total > (uint64_t)INT64_MAX / (uint64_t)gshape[d]) {
            wf_nd_seterr("random %s: the global array has more than 2^63 "
                         "elements",
                         who);
            return WEFT_EINVAL;
        }
        total *= (uint64_t)gshape[d];
    }
    return 0;
}

weft_err wf_nd_random(wf_rng_dist dist, uint64_t seed, double a, double b,
                      uint32_t ndim, const int64_t *gshape,
                      const int64_t *origin, const int64_t *chunk, wf_nd *out)
{
    memset(out, 0, sizeof *out);
    weft_err e = random_check(dist, a, b, ndim, gshape, origin, chunk);
    if (e)
        return e;
    e = wf_nd_alloc(out, WEFT_DT_F64, ndim, chunk, false);
    if (e)
        return e;
    int64_t n = wf_nd_size(out);
    if (n == 0)
        return 0;

    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    /* Global strides (elements) and the row odometer over axes < last. */
    uint64_t gstride[WEFT_MAX_NDIM];
    uint64_t s = 1;
    for (uint32_t d = ndim; d-- > 0;) {
        gstride[d] = s;
        s *= (uint64_t)gshape[d];
    }
    size_t row = ndim ? (size_t)chunk[ndim - 1] : 1;
    int64_t idx[WEFT_MAX_NDIM] = {0};
    double *dst = out->data;
    for (int64_t done = 0; done < n; done += (int64_t)row) {
        uint64_t flat = 0;
        for (uint32_t d = 0; d < ndim; d++)
            flat += (uint64_t)(origin[d] + idx[d]) * gstride[d];
        if (dist == WF_RNG_UNIFORM)
            fill_uniform(dst + done, flat, row, k0, k1, a, b - a);
        else
            fill_normal(dst + done, flat, row, k0, k1, a, b);
        for (uint32_t d = ndim > 1 ? ndim - 1 : 0; d-- > 0;) {
            if (++idx[d] < chunk[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}
