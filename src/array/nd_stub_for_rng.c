/* TEMPORARY: the few nd.h basics rng.c and npy.c need, so the h-rng branch
 * builds and tests on its own. Dropped at merge with the real nd.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "array/nd.h"
#include "array/nd_int.h"
#include "base/alloc.h"

static _Thread_local char nd_err[512];

const char *wf_nd_error(void)
{
    return nd_err;
}

void wf_nd_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nd_err, sizeof nd_err, fmt, ap);
    va_end(ap);
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

weft_err wf_nd_alloc(wf_nd *out, weft_dtype dt, uint32_t ndim,
                     const int64_t *shape, bool zero)
{
    memset(out, 0, sizeof *out);
    if (ndim > WEFT_MAX_NDIM || weft_dtype_size(dt) == 0) {
        wf_nd_seterr("alloc: bad dtype or ndim");
        return WEFT_EINVAL;
    }
    wf_nd a = {.dtype = dt, .ndim = ndim, .owned = true};
    uint64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            wf_nd_seterr("alloc: negative dimension");
            return WEFT_EINVAL;
        }
        a.shape[d] = shape[d];
        if (shape[d] && n > (UINT64_MAX >> 4) / (uint64_t)shape[d]) {
            wf_nd_seterr("alloc: too large");
            return WEFT_ENOMEM;
        }
        n *= (uint64_t)shape[d];
    }
    size_t bytes = (size_t)n * weft_dtype_size(dt);
    if (bytes) {
        a.data = zero ? wf_calloc(1, bytes) : wf_alloc(bytes);
        if (a.data == NULL) {
            wf_nd_seterr("alloc: out of memory (%zu bytes)", bytes);
            return WEFT_ENOMEM;
        }
    }
    *out = a;
    return 0;
}

void wf_nd_free(wf_nd *a)
{
    if (a->owned)
        wf_free(a->data);
    memset(a, 0, sizeof *a);
}
