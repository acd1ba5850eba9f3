/* Internals shared by the chunk kernels (nd*.c, rng.c, npy.c): the
 * thread's error buffer, dtype conversion of contiguous runs, and a
 * broadcasting iterator. Not part of the contract in nd.h. */
#ifndef WF_ARRAY_ND_INT_H
#define WF_ARRAY_ND_INT_H

#include "array/nd.h"

/* Hot loops are compiled twice, for AVX2 and for the baseline, and the
 * loader picks one for the machine (GCC/clang target_clones on x86-64).
 * Results are the same bit for bit: neither clone reassociates floating
 * point or contracts to FMA. Sanitizer builds keep the baseline only, so
 * the test suite runs both: the AVX2 clone in normal builds on an AVX2
 * machine, the baseline under the sanitizers. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WF_ND_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WF_ND_SANITIZED 1
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&        \
    !defined(WF_ND_SANITIZED)
#define WF_ND_HOT __attribute__((target_clones("avx2", "default")))
#else
#define WF_ND_HOT
#endif

/* Record "fmt..." as this thread's wf_nd_error() and return code. */
weft_err wf_nd_fail(weft_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Put "prefix: " before this thread's wf_nd_error(); returns code. */
weft_err wf_nd_fail_prefix(weft_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "(3,4)" into buf (always NUL-terminated); returns buf. */
char *wf_nd_shape_str(char *buf, size_t n, uint32_t ndim, const int64_t *shape);

/* True for the six dtypes of weft_dtype. */
bool wf_nd_dtype_ok(weft_dtype dt);

/* Check a's dtype, ndim and shape (non-negative, data set when non-empty);
 * on failure the error names who and the argument what. */
weft_err wf_nd_check(const wf_nd *a, const char *who, const char *what);

/* dst[i] = src[i] converted as astype, for n contiguous elements. */
void wf_nd_convert(void *dst, weft_dtype ddt, const void *src, weft_dtype sdt,
                   int64_t n);

/* a itself if it has dtype dt (tmp untouched), else a converted copy in
 * *tmp (free it with wf_nd_free). NULL when out of memory. */
const wf_nd *wf_nd_as(const wf_nd *a, weft_dtype dt, wf_nd *tmp);

/* Element strides (C order) of a shape. */
void wf_nd_strides(uint32_t ndim, const int64_t *shape, int64_t *strides);

/* Broadcast iteration of up to 3 operands over an output shape: the
 * shape with size-1 axes dropped and contiguous axes merged; the last
 * axis is iterated by the caller (inner stride of each operand 0 or 1). */
#define WF_ITER_MAXOP 3
typedef struct wf_nd_iter {
    uint32_t ndim; /* >= 1 after wf_nd_iter_init */
    int nop;
    int64_t shape[WEFT_MAX_NDIM];
    int64_t st[WF_ITER_MAXOP][WEFT_MAX_NDIM];
    int64_t idx[WEFT_MAX_NDIM];
    int64_t off[WF_ITER_MAXOP];
    int64_t rows; /* rows left, each of shape[ndim-1] elements */
} wf_nd_iter;

/* Operands ops[k] (already known to broadcast to oshape). */
void wf_nd_iter_init(wf_nd_iter *it, uint32_t ondim, const int64_t *oshape,
                     int nop, const wf_nd *const *ops);

/* Next row: false when done; else off[k] holds each operand's element
 * offset of the row start. */
bool wf_nd_iter_next(wf_nd_iter *it, int64_t *off);

/* ---- from h-rng's nd_int.h (rng.c, npy.c) ---- */

/* Set this thread's message for wf_nd_error() (printf format); defined in
 * array_compat.c over wf_nd_fail until the two branches agree. */
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
