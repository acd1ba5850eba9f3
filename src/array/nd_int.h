/* Internals shared by the array chunk kernels (src/array), not part of the
 * nd.h contract. */
#ifndef WF_ARRAY_ND_INT_H
#define WF_ARRAY_ND_INT_H

#include <stdbool.h>
#include <stdint.h>

/* Set this thread's message for wf_nd_error() (printf format). */
void wf_nd_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One Philox4x32-10 block: out = philox(ctr, key) (Random123's
 * philox4x32_R(10, ...)). */
void wf_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                      uint32_t out[4]);

/* Tests and benchmarks: the widest SIMD the random kernels may use from now
 * on (they use the best the CPU has up to it). Not thread-safe. */
enum {
    WF_RNG_SIMD_NONE = 0, /* the portable loops */
    WF_RNG_SIMD_AVX2 = 1,
    WF_RNG_SIMD_AVX512 = 2,
    WF_RNG_SIMD_BEST = WF_RNG_SIMD_AVX512,
};
void wf_rng_simd_limit(int level);

#endif
