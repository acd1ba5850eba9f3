/* Helpers shared by the chunk-kernel tests: random shapes and arrays,
 * element access by flat index as double or int64, and index arithmetic
 * by hand (the naive side of every property test). Include after
 * testutil.h. */
#ifndef WF_ARRAY_ND_TESTUTIL_H
#define WF_ARRAY_ND_TESTUTIL_H

#include <math.h>

#include "array/nd.h"

static const weft_dtype all_dtypes[] = {WEFT_DT_F64, WEFT_DT_F32, WEFT_DT_I64,
                                        WEFT_DT_I32, WEFT_DT_U8,  WEFT_DT_BOOL};

static inline weft_dtype rnd_dtype(uint64_t *rng)
{
    return all_dtypes[xorshift_below(rng, 6)];
}

static inline bool is_float(weft_dtype dt)
{
    return dt == WEFT_DT_F64 || dt == WEFT_DT_F32;
}

/* Fail with the kernel's message when a call fails. */
static inline void nd_check_ok(weft_err e, const char *what)
{
    if (e)
        fail_msg("%s: %s (%s)", what, weft_err_name(e), wf_nd_error());
}
#define NDOK(call) nd_check_ok((call), #call)

/* Fail unless got == want and wf_nd_error() contains needle. */
static inline void nd_assert_err(weft_err got, weft_err want,
                                 const char *needle)
{
    if (got != want || (needle && !strstr(wf_nd_error(), needle)))
        fail_msg("got %d (%s), want %d with '%s'", got, wf_nd_error(), want,
                 needle ? needle : "");
}

/* ndim in [lo, hi], dims in [1, maxdim]. */
static inline uint32_t rnd_shape(uint64_t *rng, uint32_t lo, uint32_t hi,
                                 int64_t maxdim, int64_t *shape)
{
    uint32_t n = lo + (uint32_t)xorshift_below(rng, hi - lo + 1);
    for (uint32_t d = 0; d < n; d++)
        shape[d] = 1 + (int64_t)xorshift_below(rng, (uint64_t)maxdim);
    return n;
}

/* Set element i of a from a double (converted as C casts for the small
 * values the tests use). */
static inline void setd(wf_nd *a, int64_t i, double v)
{
    switch (a->dtype) {
    case WEFT_DT_F64:
        ((double *)a->data)[i] = v;
        break;
    case WEFT_DT_F32:
        ((float *)a->data)[i] = (float)v;
        break;
    case WEFT_DT_I64:
        ((int64_t *)a->data)[i] = (int64_t)v;
        break;
    case WEFT_DT_I32:
        ((int32_t *)a->data)[i] = (int32_t)v;
        break;
    case WEFT_DT_U8:
        ((uint8_t *)a->data)[i] = (uint8_t)(int64_t)v;
        break;
    case WEFT_DT_BOOL:
        ((uint8_t *)a->data)[i] = v != 0;
        break;
    }
}

static inline double getd(const wf_nd *a, int64_t i)
{
    switch (a->dtype) {
    case WEFT_DT_F64:
        return ((const double *)a->data)[i];
    case WEFT_DT_F32:
        return ((const float *)a->data)[i];
    case WEFT_DT_I64:
        return (double)((const int64_t *)a->data)[i];
    case WEFT_DT_I32:
        return ((const int32_t *)a->data)[i];
    case WEFT_DT_U8:
    case WEFT_DT_BOOL:
        return ((const uint8_t *)a->data)[i];
    }
    return 0;
}

static inline int64_t geti(const wf_nd *a, int64_t i)
{
    switch (a->dtype) {
    case WEFT_DT_I64:
        return ((const int64_t *)a->data)[i];
    case WEFT_DT_I32:
        return ((const int32_t *)a->data)[i];
    case WEFT_DT_U8:
    case WEFT_DT_BOOL:
        return ((const uint8_t *)a->data)[i];
    default:
        return (int64_t)getd(a, i);
    }
}

/* Small values: floats multiples of 1/4 in [-10, 10] (with NaN, inf and
 * -0 when specials), ints in [-20, 20], u8 in [0, 40], bools. */
static inline void rnd_fill(uint64_t *rng, wf_nd *a, bool specials)
{
    int64_t n = wf_nd_size(a);
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (a->dtype) {
        case WEFT_DT_F64:
        case WEFT_DT_F32:
            v = ((double)xorshift_below(rng, 81) - 40) / 4;
            if (specials) {
                uint64_t k = xorshift_below(rng, 40);
                v = k == 0   ? NAN
                    : k == 1 ? INFINITY
                    : k == 2 ? -INFINITY
                    : k == 3 ? -0.0
                             : v;
            }
            break;
        case WEFT_DT_I64:
        case WEFT_DT_I32:
            v = (double)xorshift_below(rng, 41) - 20;
            break;
        case WEFT_DT_U8:
            v = (double)xorshift_below(rng, 41);
            break;
        default:
            v = (double)xorshift_below(rng, 2);
        }
        setd(a, i, v);
    }
}

static inline wf_nd rnd_array(uint64_t *rng, weft_dtype dt, uint32_t ndim,
                              const int64_t *shape, bool specials)
{
    wf_nd a;
    NDOK(wf_nd_alloc(&a, dt, ndim, shape, false));
    rnd_fill(rng, &a, specials);
    return a;
}

static inline void unravel(int64_t flat, uint32_t ndim, const int64_t *shape,
                           int64_t *idx)
{
    for (uint32_t d = ndim; d-- > 0;) {
        idx[d] = shape[d] ? flat % shape[d] : 0;
        flat = shape[d] ? flat / shape[d] : 0;
    }
}

/* Flat index in a of the output index idx (ondim axes) under numpy
 * broadcasting: a's axes are right-aligned, size-1 axes repeat. */
static inline int64_t bcast_flat(const wf_nd *a, uint32_t ondim,
                                 const int64_t *idx)
{
    int64_t f = 0;
    for (uint32_t d = 0; d < a->ndim; d++) {
        int64_t i = a->shape[d] == 1 ? 0 : idx[ondim - a->ndim + d];
        f = f * a->shape[d] + i;
    }
    return f;
}

/* Bitwise-or-NaN equality of doubles (-0 == 0). */
static inline bool same_d(double x, double y)
{
    return x == y || (x != x && y != y);
}

static inline bool close_d(double x, double y, double rel)
{
    if (same_d(x, y))
        return true;
    return fabs(x - y) <= rel * fmax(fabs(x), fabs(y));
}

#endif
