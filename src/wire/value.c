#include "wire/value.h"

#include <string.h>

#include "base/err.h"

/* Lengths come off the wire as 64 bits; on a 32-bit host not all fit. */
static bool wf_fits_size(uint64_t n)
{
#if SIZE_MAX < UINT64_MAX
    return n <= SIZE_MAX;
#else
    (void)n;
    return true;
#endif
}

/* Bytes of an array whose dims are known to be >= 0, false on overflow. A
 * zero dim makes the array empty, but the other dims must still multiply
 * without overflow, so code computing strides from the shape is safe too. */
static bool wf_shape_bytes(size_t elsize, uint32_t ndim, const int64_t *shape,
                           uint64_t *out)
{
    uint64_t n = elsize;
    bool empty = false;
    for (uint32_t i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d == 0)
            empty = true;
        else if (__builtin_mul_overflow(n, d, &n))
            return false;
    }
    if (n > INT64_MAX || !wf_fits_size(n))
        return false;
    *out = empty ? 0 : n;
    return true;
}

/* Index of the first byte that is not 0 or 1, or n if there is none. */
static size_t wf_first_bad_bool(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] > 1)
            return i;
    return n;
}

static bool wf_has_data(weft_type t)
{
    return t == WEFT_T_STR || t == WEFT_T_BYTES || t == WEFT_T_ARRAY;
}

/* ------------------------------------------------------------ encode */

static weft_err wf_array_nbytes(const weft_value *v, uint64_t *n)
{
    size_t es = weft_dtype_size(v->u.arr.dtype);
    uint32_t ndim = v->u.arr.ndim;
    if (es == 0)
        return wf_err(WEFT_EINVAL, "wire: unknown array dtype %d",
                      (int)v->u.arr.dtype);
    if (ndim > WEFT_MAX_NDIM)
        return wf_err(WEFT_EINVAL, "wire: array ndim %u > %d", ndim,
                      WEFT_MAX_NDIM);
    if (ndim > 0 && !v->u.arr.shape)
        return wf_err(WEFT_EINVAL, "wire: array of ndim %u has no shape", ndim);
    for (uint32_t i = 0; i < ndim; i++)
        if (v->u.arr.shape[i] < 0)
            return wf_err(WEFT_EINVAL, "wire: negative array shape[%u] %lld", i,
                          (long long)v->u.arr.shape[i]);
    if (!wf_shape_bytes(es, ndim, v->u.arr.shape, n))
        return wf_err(WEFT_EINVAL, "wire: array size overflows");
    return 0;
}

weft_err wf_wire_value_nbytes(const weft_value *v, uint64_t *n)
{
    *n = 0;
    switch (v->type) {
    case WEFT_T_NONE:
    case WEFT_T_I64:
    case WEFT_T_F64:
    case WEFT_T_BOOL:
    case WEFT_T_REF:
        return 0;
    case WEFT_T_STR:
    case WEFT_T_BYTES:
        *n = v->u.buf.len;
        return 0;
    case WEFT_T_ARRAY:
        return wf_array_nbytes(v, n);
    }
    return wf_err(WEFT_EINVAL, "wire: unknown value type %d", (int)v->type);
}

/* Inline data must be there, and a BOOL array hold only 0 and 1, so that
 * the encoder never writes what the decoder would refuse. */
static weft_err wf_check_inline(const weft_value *v, uint64_t n)
{
    const void *data = v->type == WEFT_T_ARRAY ? v->u.arr.data : v->u.buf.data;
    if (n > 0 && !data)
        return wf_err(WEFT_EINVAL, "wire: %llu bytes of data at NULL",
                      (unsigned long long)n);
    if (v->type == WEFT_T_ARRAY && v->u.arr.dtype == WEFT_DT_BOOL &&
        wf_first_bad_bool(data, (size_t)n) != n)
        return wf_err(WEFT_EINVAL, "wire: bool array element not 0 or 1");
    return 0;
}

static void wf_put_data(wf_wbuf *w, const void *data, uint64_t n,
                        const wf_wire_place *place)
{
    if (place && place->remote) {
        wf_wbuf_put_u8(w, WF_WIRE_REMOTE);
        wf_wbuf_put_u64(w, place->remote_id);
        wf_wbuf_put_u64(w, n);
        wf_wbuf_put_str(w, place->holder, strlen(place->holder));
        return;
    }
    if (place && place->in_fd) {
        wf_wbuf_put_u8(w, WF_WIRE_FD);
        wf_wbuf_put_u32(w, place->fd_index);
        wf_wbuf_put_u64(w, place->offset);
        wf_wbuf_put_u64(w, n);
        return;
    }
    wf_wbuf_put_u8(w, WF_WIRE_INLINE);
    wf_wbuf_put_u64(w, n);
    wf_wbuf_put_bytes(w, data, (size_t)n);
}

static void wf_put_array(wf_wbuf *w, const weft_value *v, uint64_t n,
                         const wf_wire_place *place)
{
    wf_wbuf_put_u8(w, (uint8_t)v->u.arr.dtype);
    wf_wbuf_put_u8(w, (uint8_t)v->u.arr.ndim);
    for (uint32_t i = 0; i < v->u.arr.ndim; i++)
        wf_wbuf_put_i64(w, v->u.arr.shape[i]);
    wf_put_data(w, v->u.arr.data, n, place);
}

weft_err wf_wire_put_value_at(wf_wbuf *w, const weft_value *v,
                              const wf_wire_place *place)
{
    uint64_t n;
    weft_err e = wf_wire_value_nbytes(v, &n);
    if (e)
        return e;
    if (!wf_has_data(v->type) || !place || (!place->in_fd && !place->remote))
        place = NULL;
    if (!place && (e = wf_check_inline(v, n)))
        return e;
    if (place && place->remote) {
        size_t hl =
            place->holder ? strlen(place->holder) : WF_WIRE_HOLDER_MAX + 1;
        if (place->remote_id == 0 || hl > WF_WIRE_HOLDER_MAX)
            return wf_err(WEFT_EINVAL, "wire: bad remote placement");
        for (size_t i = 0; i < hl; i++)
            if ((unsigned char)place->holder[i] < 0x21 ||
                (unsigned char)place->holder[i] > 0x7e)
                return wf_err(WEFT_EINVAL, "wire: bad remote holder");
    } else if (place && n > UINT64_MAX - place->offset) {
        return wf_err(WEFT_EINVAL, "wire: fd data span overflows");
    }
    wf_wbuf_put_u8(w, (uint8_t)v->type);
    switch (v->type) {
    case WEFT_T_NONE:
        break;
    case WEFT_T_I64:
        wf_wbuf_put_i64(w, v->u.i64);
        break;
    case WEFT_T_F64:
        wf_wbuf_put_f64(w, v->u.f64);
        break;
    case WEFT_T_BOOL:
        wf_wbuf_put_u8(w, v->u.b ? 1 : 0);
        break;
    case WEFT_T_REF:
        wf_wbuf_put_u64(w, v->u.ref.id);
        break;
    case WEFT_T_STR:
    case WEFT_T_BYTES:
        wf_put_data(w, v->u.buf.data, n, place);
        break;
    case WEFT_T_ARRAY:
        wf_put_array(w, v, n, place);
        break;
    }
    return wf_wbuf_status(w);
}

weft_err wf_wire_put_value(wf_wbuf *w, const weft_value *v)
{
    return wf_wire_put_value_at(w, v, NULL);
}

weft_err wf_wire_put_value_fd(wf_wbuf *w, const weft_value *v,
                              uint32_t fd_index, uint64_t offset)
{
    wf_wire_place place = {
        .in_fd = true, .fd_index = fd_index, .offset = offset};
    return wf_wire_put_value_at(w, v, &place);
}

/* ------------------------------------------------------------ decode */

/* The data of a STR, BYTES or ARRAY: inline (a span of r) or a reference
 * into an fd, recorded in out; *data is NULL for the latter. */
static weft_err wf_get_data(wf_rbuf *r, wf_wire_value *out, const void **data,
                            uint64_t *len)
{
    size_t at = r->off;
    uint8_t place;
    weft_err e = wf_rbuf_get_u8(r, &place, "data placement");
    if (e)
        return e;
    if (place == WF_WIRE_INLINE) {
        if ((e = wf_rbuf_get_u64(r, len, "data length")))
            return e;
        return wf_rbuf_get_span(r, *len, data, "data bytes");
    }
    if (place == WF_WIRE_REMOTE) {
        at = r->off;
        if ((e = wf_rbuf_get_u64(r, &out->remote_id, "remote object id")))
            return e;
        if (out->remote_id == 0)
            return wf_rbuf_bad(r, at, "remote object id 0");
        at = r->off;
        if ((e = wf_rbuf_get_u64(r, &out->fd_len, "remote data length")))
            return e;
        if (!wf_fits_size(out->fd_len))
            return wf_rbuf_bad(r, at, "remote data length %llu too large",
                               (unsigned long long)out->fd_len);
        at = r->off;
        if ((e = wf_rbuf_get_str(r, WF_WIRE_HOLDER_MAX, &out->holder,
                                 &out->holder_len, "remote holder")))
            return e;
        for (size_t i = 0; i < out->holder_len; i++)
            if ((unsigned char)out->holder[i] < 0x21 ||
                (unsigned char)out->holder[i] > 0x7e)
                return wf_rbuf_bad(r, at, "bad remote holder");
        out->remote = true;
        *data = NULL;
        *len = out->fd_len;
        return 0;
    }
    if (place != WF_WIRE_FD)
        return wf_rbuf_bad(r, at, "unknown data placement %u", place);
    if ((e = wf_rbuf_get_u32(r, &out->fd_index, "fd index")) ||
        (e = wf_rbuf_get_u64(r, &out->fd_offset, "fd offset")))
        return e;
    at = r->off;
    if ((e = wf_rbuf_get_u64(r, &out->fd_len, "fd data length")))
        return e;
    if (out->fd_len > UINT64_MAX - out->fd_offset)
        return wf_rbuf_bad(r, at, "fd data span %llu+%llu overflows",
                           (unsigned long long)out->fd_offset,
                           (unsigned long long)out->fd_len);
    if (!wf_fits_size(out->fd_len))
        return wf_rbuf_bad(r, at, "fd data length %llu too large",
                           (unsigned long long)out->fd_len);
    out->in_fd = true;
    *data = NULL;
    *len = out->fd_len;
    return 0;
}

static weft_err wf_get_bool(wf_rbuf *r, wf_wire_value *out)
{
    size_t at = r->off;
    uint8_t b;
    weft_err e = wf_rbuf_get_u8(r, &b, "bool value");
    if (e)
        return e;
    if (b > 1)
        return wf_rbuf_bad(r, at, "bool value %u is not 0 or 1", b);
    out->v.u.b = b;
    return 0;
}

static weft_err wf_get_buf(wf_rbuf *r, wf_wire_value *out)
{
    const void *data;
    uint64_t len;
    weft_err e = wf_get_data(r, out, &data, &len);
    if (e)
        return e;
    out->v.u.buf.data = data;
    out->v.u.buf.len = (size_t)len;
    return 0;
}

static weft_err wf_get_shape(wf_rbuf *r, wf_wire_value *out, uint8_t ndim)
{
    for (uint8_t i = 0; i < ndim; i++) {
        size_t at = r->off;
        weft_err e = wf_rbuf_get_i64(r, &out->shape[i], "array shape");
        if (e)
            return e;
        if (out->shape[i] < 0)
            return wf_rbuf_bad(r, at, "negative array shape[%u] %lld", i,
                               (long long)out->shape[i]);
    }
    return 0;
}

static weft_err wf_get_array(wf_rbuf *r, wf_wire_value *out)
{
    size_t at = r->off;
    uint8_t dt, ndim;
    weft_err e = wf_rbuf_get_u8(r, &dt, "array dtype");
    if (e)
        return e;
    size_t es = weft_dtype_size((weft_dtype)dt);
    if (es == 0)
        return wf_rbuf_bad(r, at, "unknown array dtype %u", dt);
    at = r->off;
    if ((e = wf_rbuf_get_u8(r, &ndim, "array ndim")))
        return e;
    if (ndim > WEFT_MAX_NDIM)
        return wf_rbuf_bad(r, at, "array ndim %u > %d", ndim, WEFT_MAX_NDIM);
    at = r->off;
    if ((e = wf_get_shape(r, out, ndim)))
        return e;
    uint64_t nbytes;
    if (!wf_shape_bytes(es, ndim, out->shape, &nbytes))
        return wf_rbuf_bad(r, at, "array shape product overflows");
    const void *data;
    uint64_t len;
    at = r->off;
    if ((e = wf_get_data(r, out, &data, &len)))
        return e;
    if (len != nbytes)
        return wf_rbuf_bad(r, at,
                           "array data of %llu bytes where shape and dtype "
                           "make %llu",
                           (unsigned long long)len, (unsigned long long)nbytes);
    if (data && dt == WEFT_DT_BOOL) {
        size_t bad = wf_first_bad_bool(data, (size_t)len);
        if (bad != len)
            return wf_rbuf_bad(r, r->off - (size_t)len + bad,
                               "bool array element not 0 or 1");
    }
    out->v.u.arr.data = data;
    out->v.u.arr.shape = out->shape;
    out->v.u.arr.ndim = ndim;
    out->v.u.arr.dtype = (weft_dtype)dt;
    return 0;
}

weft_err wf_wire_get_value(wf_rbuf *r, wf_wire_value *out)
{
    memset(out, 0, sizeof *out);
    size_t at = r->off;
    uint8_t tag;
    weft_err e = wf_rbuf_get_u8(r, &tag, "value type");
    if (e)
        return e;
    out->v.type = (weft_type)tag;
    switch (tag) {
    case WEFT_T_NONE:
        return 0;
    case WEFT_T_I64:
        return wf_rbuf_get_i64(r, &out->v.u.i64, "i64 value");
    case WEFT_T_F64:
        return wf_rbuf_get_f64(r, &out->v.u.f64, "f64 value");
    case WEFT_T_BOOL:
        return wf_get_bool(r, out);
    case WEFT_T_REF:
        return wf_rbuf_get_u64(r, &out->v.u.ref.id, "reference id");
    case WEFT_T_STR:
    case WEFT_T_BYTES:
        return wf_get_buf(r, out);
    case WEFT_T_ARRAY:
        return wf_get_array(r, out);
    }
    out->v.type = WEFT_T_NONE;
    return wf_rbuf_bad(r, at, "unknown value type %u", tag);
}

weft_err wf_wire_value_bind(wf_wire_value *wv, const void *map,
                            uint64_t map_len)
{
    if (!wv->in_fd || !wf_has_data(wv->v.type))
        return wf_err(WEFT_EINVAL, "wire: value is not placed in an fd");
    if (!map && map_len > 0)
        return wf_err(WEFT_EINVAL, "wire: NULL map of %llu bytes",
                      (unsigned long long)map_len);
    if (wv->fd_offset > map_len || wv->fd_len > map_len - wv->fd_offset)
        return wf_err(WEFT_EPROTO,
                      "wire: fd data at %llu+%llu lies outside the fd's "
                      "%llu bytes",
                      (unsigned long long)wv->fd_offset,
                      (unsigned long long)wv->fd_len,
                      (unsigned long long)map_len);
    const uint8_t *p = map ? (const uint8_t *)map + wv->fd_offset : NULL;
    if (wv->v.type != WEFT_T_ARRAY) {
        wv->v.u.buf.data = p;
        return 0;
    }
    if (wv->v.u.arr.dtype == WEFT_DT_BOOL) {
        size_t bad = wf_first_bad_bool(p, (size_t)wv->fd_len);
        if (bad != wv->fd_len)
            return wf_err(WEFT_EPROTO,
                          "wire: bool array element not 0 or 1 at fd byte "
                          "%llu",
                          (unsigned long long)(wv->fd_offset + bad));
    }
    wv->v.u.arr.data = p;
    return 0;
}
