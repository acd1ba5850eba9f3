/* Basics of the chunk kernels: the error buffer, dtypes, promotion,
 * broadcasting, allocation and views, conversion between dtypes. */
#include "array/nd_int.h"
#include "graph/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char nd_errbuf[512];

weft_err wf_nd_fail(weft_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nd_errbuf, sizeof nd_errbuf, fmt, ap);
    va_end(ap);
    return code;
}

weft_err wf_nd_fail_prefix(weft_err code, const char *fmt, ...)
{
    char old[sizeof nd_errbuf], pre[256];
    memcpy(old, nd_errbuf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(nd_errbuf, sizeof nd_errbuf, "%s: %s", pre, old);
    return code;
}

const char *wf_nd_error(void)
{
    return nd_errbuf;
}

const char *wf_dtype_name(weft_dtype dt)
{
    switch (dt) {
    case WEFT_DT_F64:
        return "float64";
    case WEFT_DT_F32:
        return "float32";
    case WEFT_DT_I64:
        return "int64";
    case WEFT_DT_I32:
        return "int32";
    case WEFT_DT_U8:
        return "uint8";
    case WEFT_DT_BOOL:
        return "bool";
    }
    return "?";
}

bool wf_nd_dtype_ok(weft_dtype dt)
{
    return weft_dtype_size(dt) != 0;
}

char *wf_nd_shape_str(char *buf, size_t n, uint32_t ndim, const int64_t *shape)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, n, "(");
    for (uint32_t d = 0; d < ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? "," : "",
                                 (long long)shape[d]);
    if (used < n)
        snprintf(buf + used, n - used, ")");
    return buf;
}

int64_t wf_nd_size(const wf_nd *a)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < a->ndim; d++)
        n *= a->shape[d];
    return n;
}

size_t wf_nd_bytes(const wf_nd *a)
{
    return (size_t)wf_nd_size(a) * weft_dtype_size(a->dtype);
}

/* Shape checks shared by alloc and wf_nd_check: ndim in range, dims >= 0,
 * and a byte count that fits. */
static weft_err check_shape(const char *who, uint32_t ndim,
                            const int64_t *shape, size_t elsize)
{
    if (ndim > WEFT_MAX_NDIM)
        return wf_nd_fail(WEFT_EINVAL, "%s: ndim %u exceeds %d", who, ndim,
                          WEFT_MAX_NDIM);
    if (ndim && !shape)
        return wf_nd_fail(WEFT_EINVAL, "%s: NULL shape", who);
    int64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return wf_nd_fail(WEFT_EINVAL, "%s: negative dimension %lld", who,
                              (long long)shape[d]);
        if (shape[d] && n > (INT64_MAX / 16) / shape[d])
            return wf_nd_fail(WEFT_EINVAL, "%s: shape too large", who);
        n *= shape[d];
    }
    if (elsize && (uint64_t)n > SIZE_MAX / elsize)
        return wf_nd_fail(WEFT_EINVAL, "%s: shape too large", who);
    return 0;
}

weft_err wf_nd_check(const wf_nd *a, const char *who, const char *what)
{
    if (!a)
        return wf_nd_fail(WEFT_EINVAL, "%s: %s is NULL", who, what);
    if (!wf_nd_dtype_ok(a->dtype))
        return wf_nd_fail(WEFT_EINVAL, "%s: %s has unknown dtype %d", who, what,
                          (int)a->dtype);
    weft_err e = check_shape(who, a->ndim, a->shape, 1);
    if (e)
        return e;
    if (!a->data && wf_nd_size(a) > 0)
        return wf_nd_fail(WEFT_EINVAL, "%s: %s has no data", who, what);
    return 0;
}

/* Array memory: 64-byte aligned (whole cache lines, aligned vector
 * loads). Large arrays are 2 MiB aligned and advised to use transparent
 * huge pages, as numpy does: first touch then faults 2 MiB at a time
 * instead of 4 KiB (on a loaded machine a 4 KiB fault can cost tens of
 * microseconds, more than computing the page's elements). */
#define HUGE_FROM ((size_t)4 << 20)
static void *alloc_data(size_t bytes, bool zero)
{
    void *p = bytes >= HUGE_FROM
                  ? wg_huge_alloc(bytes)
                  : aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (p && zero)
        memset(p, 0, bytes);
    return p;
}

weft_err wf_nd_alloc(wf_nd *out, weft_dtype dt, uint32_t ndim,
                     const int64_t *shape, bool zero)
{
    *out = (wf_nd){0};
    size_t el = weft_dtype_size(dt);
    if (!el)
        return wf_nd_fail(WEFT_EINVAL, "alloc: unknown dtype %d", (int)dt);
    weft_err e = check_shape("alloc", ndim, shape, el);
    if (e)
        return e;
    wf_nd a = {.dtype = dt, .ndim = ndim};
    for (uint32_t d = 0; d < ndim; d++)
        a.shape[d] = shape[d];
    size_t bytes = wf_nd_bytes(&a);
    if (bytes) {
        a.data = alloc_data(bytes, zero);
        if (!a.data)
            return wf_nd_fail(WEFT_ENOMEM, "alloc: %zu bytes", bytes);
        a.owned = true;
    }
    *out = a;
    return 0;
}

void wf_nd_free(wf_nd *a)
{
    if (!a)
        return;
    if (a->owned)
        free(a->data);
    *a = (wf_nd){0};
}

wf_nd wf_nd_view(weft_dtype dt, uint32_t ndim, const int64_t *shape,
                 const void *data)
{
    wf_nd a = {.dtype = dt, .ndim = ndim};
    if (ndim > WEFT_MAX_NDIM || (ndim && !shape)) {
        /* no room for the shape: an array every kernel refuses */
        a.dtype = (weft_dtype)0;
        a.ndim = 0;
    }
    for (uint32_t d = 0; d < a.ndim; d++)
        a.shape[d] = shape[d];
    a.data = (void *)data;
    return a;
}

bool wf_nd_from_value(const weft_value *v, wf_nd *view)
{
    if (!v || v->type != WEFT_T_ARRAY || v->u.arr.ndim > WEFT_MAX_NDIM ||
        (v->u.arr.ndim && !v->u.arr.shape))
        return false;
    *view = wf_nd_view(v->u.arr.dtype, v->u.arr.ndim, v->u.arr.shape,
                       v->u.arr.data);
    return true;
}

weft_value wf_nd_value(const wf_nd *a)
{
    return weft_array(a->dtype, a->ndim, a->shape, a->data);
}

/* Rank of a dtype in the promotion order bool < u8 < i32 < i64 < f32 <
 * f64. */
static int dtype_rank(weft_dtype dt)
{
    switch (dt) {
    case WEFT_DT_BOOL:
        return 0;
    case WEFT_DT_U8:
        return 1;
    case WEFT_DT_I32:
        return 2;
    case WEFT_DT_I64:
        return 3;
    case WEFT_DT_F32:
        return 4;
    case WEFT_DT_F64:
        return 5;
    }
    return -1;
}

weft_dtype wf_dtype_promote(weft_dtype a, weft_dtype b)
{
    if ((a == WEFT_DT_F32 && (b == WEFT_DT_I32 || b == WEFT_DT_I64)) ||
        (b == WEFT_DT_F32 && (a == WEFT_DT_I32 || a == WEFT_DT_I64)))
        return WEFT_DT_F64;
    return dtype_rank(a) >= dtype_rank(b) ? a : b;
}

weft_err wf_broadcast_shapes(uint32_t na, const int64_t *sa, uint32_t nb,
                             const int64_t *sb, uint32_t *nout, int64_t *sout)
{
    uint32_t n = na > nb ? na : nb;
    if (n > WEFT_MAX_NDIM)
        return wf_nd_fail(WEFT_EINVAL, "broadcast: ndim %u exceeds %d", n,
                          WEFT_MAX_NDIM);
    int64_t tmp[WEFT_MAX_NDIM];
    for (uint32_t i = 0; i < n; i++) {
        /* right-aligned: axis i of the result is axis i - (n - na) of a */
        int64_t da = i + na >= n ? sa[i + na - n] : 1;
        int64_t db = i + nb >= n ? sb[i + nb - n] : 1;
        if (da != db && da != 1 && db != 1) {
            char x[160], y[160];
            return wf_nd_fail(WEFT_EINVAL, "shapes %s and %s do not broadcast",
                              wf_nd_shape_str(x, sizeof x, na, sa),
                              wf_nd_shape_str(y, sizeof y, nb, sb));
        }
        tmp[i] = da == 1 ? db : da;
    }
    for (uint32_t i = 0; i < n; i++)
        sout[i] = tmp[i];
    *nout = n;
    return 0;
}

void wf_nd_strides(uint32_t ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (uint32_t d = ndim; d-- > 0;) {
        strides[d] = s;
        s *= shape[d];
    }
}

/* ------------------------------------------------------------ conversion */

/* Float to int as numpy on x86: truncation toward zero; NaN and values
 * out of range give the most negative value (and never undefined
 * behaviour). */
static inline int64_t f2i64(double x)
{
    return x > -9223372036854775808.0 && x < 9223372036854775808.0 ? (int64_t)x
                                                                   : INT64_MIN;
}
static inline int32_t f2i32(double x)
{
    return x > -2147483649.0 && x < 2147483648.0 ? (int32_t)x : INT32_MIN;
}
static inline uint8_t f2u8(double x)
{
    return (uint8_t)f2i64(x);
}

#define CONV_LOOP(DT, ST, EXPR)                                                \
    do {                                                                       \
        DT *d_ = dst;                                                          \
        const ST *s_ = src;                                                    \
        for (int64_t i = 0; i < n; i++) {                                      \
            ST v = s_[i];                                                      \
            d_[i] = (DT)(EXPR);                                                \
        }                                                                      \
    } while (0)

/* One source type to every destination: ints and floats by cast, floats
 * to ints guarded, anything to bool as != 0. */
#define CONV_FROM(ST, ISFLOAT)                                                 \
    switch (ddt) {                                                             \
    case WEFT_DT_F64:                                                          \
        CONV_LOOP(double, ST, v);                                              \
        return;                                                                \
    case WEFT_DT_F32:                                                          \
        CONV_LOOP(float, ST, v);                                               \
        return;                                                                \
    case WEFT_DT_I64:                                                          \
        CONV_LOOP(int64_t, ST, ISFLOAT ? f2i64((double)v) : (int64_t)v);       \
        return;                                                                \
    case WEFT_DT_I32:                                                          \
        CONV_LOOP(int32_t, ST, ISFLOAT ? f2i32((double)v) : (int32_t)v);       \
        return;                                                                \
    case WEFT_DT_U8:                                                           \
        CONV_LOOP(uint8_t, ST, ISFLOAT ? f2u8((double)v) : (uint8_t)v);        \
        return;                                                                \
    case WEFT_DT_BOOL:                                                         \
        CONV_LOOP(uint8_t, ST, v != 0);                                        \
        return;                                                                \
    }

/* (Cloned for AVX2 as a static function: clang 14 cannot resolve a
 * cloned function with external linkage from other files.) */
WF_ND_HOT static void convert(void *dst, weft_dtype ddt, const void *src,
                              weft_dtype sdt, int64_t n)
{
    if (n <= 0)
        return;
    if (ddt == sdt) {
        memcpy(dst, src, (size_t)n * weft_dtype_size(sdt));
        return;
    }
    switch (sdt) {
    case WEFT_DT_F64:
        CONV_FROM(double, 1);
        return;
    case WEFT_DT_F32:
        CONV_FROM(float, 1);
        return;
    case WEFT_DT_I64:
        CONV_FROM(int64_t, 0);
        return;
    case WEFT_DT_I32:
        CONV_FROM(int32_t, 0);
        return;
    case WEFT_DT_U8:
    case WEFT_DT_BOOL:
        CONV_FROM(uint8_t, 0);
        return;
    }
}

void wf_nd_convert(void *dst, weft_dtype ddt, const void *src, weft_dtype sdt,
                   int64_t n)
{
    convert(dst, ddt, src, sdt, n);
}

const wf_nd *wf_nd_as(const wf_nd *a, weft_dtype dt, wf_nd *tmp)
{
    if (a->dtype == dt)
        return a;
    if (wf_nd_alloc(tmp, dt, a->ndim, a->shape, false))
        return NULL;
    wf_nd_convert(tmp->data, dt, a->data, a->dtype, wf_nd_size(a));
    return tmp;
}

/* ------------------------------------------------------------ iteration */

void wf_nd_iter_init(wf_nd_iter *it, uint32_t ondim, const int64_t *oshape,
                     int nop, const wf_nd *const *ops)
{
    memset(it, 0, sizeof *it);
    it->nop = nop;
    /* Per-operand element strides in the output's axes (0 where the
     * operand broadcasts), size-1 output axes dropped. */
    int64_t shape[WEFT_MAX_NDIM], st[WF_ITER_MAXOP][WEFT_MAX_NDIM];
    uint32_t n = 0;
    int64_t total = 1;
    for (uint32_t d = 0; d < ondim; d++)
        total *= oshape[d];
    for (uint32_t d = 0; d < ondim; d++) {
        if (oshape[d] == 1)
            continue;
        shape[n] = oshape[d];
        for (int k = 0; k < nop; k++) {
            const wf_nd *a = ops[k];
            uint32_t off = ondim - a->ndim;
            int64_t s = 0;
            if (d >= off && a->shape[d - off] != 1) {
                s = 1;
                for (uint32_t e = d - off + 1; e < a->ndim; e++)
                    s *= a->shape[e];
            }
            st[k][n] = s;
        }
        n++;
    }
    /* Merge axis d into d+1 when every operand steps through both as one. */
    uint32_t m = 0;
    for (uint32_t d = 0; d < n; d++) {
        if (m > 0) {
            bool merge = true;
            for (int k = 0; k < nop && merge; k++)
                merge = it->st[k][m - 1] == st[k][d] * shape[d];
            if (merge) {
                it->shape[m - 1] *= shape[d];
                for (int k = 0; k < nop; k++)
                    it->st[k][m - 1] = st[k][d];
                continue;
            }
        }
        it->shape[m] = shape[d];
        for (int k = 0; k < nop; k++)
            it->st[k][m] = st[k][d];
        m++;
    }
    if (m == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nop; k++)
            it->st[k][0] = 0;
        m = 1;
    }
    it->ndim = m;
    it->rows = total == 0 ? 0 : total / it->shape[m - 1];
}

bool wf_nd_iter_next(wf_nd_iter *it, int64_t *off)
{
    if (it->rows <= 0)
        return false;
    for (int k = 0; k < it->nop; k++)
        off[k] = it->off[k];
    it->rows--;
    for (uint32_t d = it->ndim - 1; d-- > 0;) {
        if (++it->idx[d] < it->shape[d]) {
            for (int k = 0; k < it->nop; k++)
                it->off[k] += it->st[k][d];
            return true;
        }
        it->idx[d] = 0;
        for (int k = 0; k < it->nop; k++)
            it->off[k] -= it->st[k][d] * (it->shape[d] - 1);
    }
    return true;
}
