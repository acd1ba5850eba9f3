/* One weft_value as bytes. The layout (all integers little-endian):
 *
 *   u8 type (weft_type)
 *   NONE:        nothing more
 *   I64:         i64
 *   F64:         u64 IEEE-754 bits
 *   BOOL:        u8, 0 or 1
 *   REF:         u64 object id
 *   STR, BYTES:  data
 *   ARRAY:       u8 dtype, u8 ndim (<= WEFT_MAX_NDIM), ndim x i64 shape
 *                (each >= 0), data (length == product(shape) * dtype size)
 *
 *   data = u8 placement, then
 *          0 (inline): u64 len, len bytes
 *          1 (fd):     u32 fd_index, u64 offset, u64 len — the bytes live in
 *                      the fd_index-th descriptor sent with the message
 *          2 (remote): u64 object id (>= 1), u64 len, str holder (<= 80
 *                      printable bytes, "HOST:PORT" or empty) — the bytes
 *                      are object id in the store of the node whose task
 *                      address is holder (empty: the node that sent or
 *                      receives this message; see cluster/proto.h)
 *
 * The sender decides per buffer whether it travels inline or in an fd
 * (memfd over a unix socket: no copy through the socket for big arrays).
 * The encoding is canonical: a decoded value encodes to the same bytes. */
#ifndef WF_WIRE_VALUE_H
#define WF_WIRE_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include <weft/weft.h>

#include "wire/buf.h"

/* data placement byte */
enum { WF_WIRE_INLINE = 0, WF_WIRE_FD = 1, WF_WIRE_REMOTE = 2 };
#define WF_WIRE_HOLDER_MAX 80 /* bytes of a remote value's holder */

/* A decoded value and the storage it points into. v.u.arr.shape points at
 * this struct's own shape[], so decode into the place you will use it and
 * do not copy the struct by value (the copy's shape would point back here).
 * Inline STR/BYTES/ARRAY data point into the decoded buffer (zero-copy):
 * they are valid while it is, and STR data is not NUL-terminated. */
typedef struct wf_wire_value {
    weft_value v;
    int64_t shape[WEFT_MAX_NDIM];
    /* Placed in an fd: v's data pointer is NULL until wf_wire_value_bind()
     * points it into the mapped fd. */
    bool in_fd;
    uint32_t fd_index; /* which of the message's fds; check it against the
                          number received */
    uint64_t fd_offset;
    uint64_t fd_len; /* equals v.u.buf.len, or the array's byte size (also
                        for remote values) */
    /* Placed remote: v's data pointer is NULL; the bytes are elsewhere. */
    bool remote;
    uint64_t remote_id;
    const char *holder; /* points into the decoded buffer, no NUL */
    size_t holder_len;
} wf_wire_value;

/* Where the encoder places one value's data: inline (in_fd and remote
 * false, or no place at all), in fd number fd_index of the message at
 * offset, or remote: object remote_id held at holder (NUL-terminated;
 * "" for the peer itself). */
typedef struct wf_wire_place {
    bool in_fd;
    uint32_t fd_index;
    uint64_t offset;
    bool remote;
    uint64_t remote_id;
    const char *holder;
} wf_wire_place;

/* Bytes of data v carries: STR/BYTES length or the array's byte size after
 * checking dtype, ndim, shape and overflow (WEFT_EINVAL if bad); 0 for the
 * other types. Lets a sender decide inline or fd before encoding. */
weft_err wf_wire_value_nbytes(const weft_value *v, uint64_t *n);

/* Append v with its data inline. WEFT_EINVAL (w unchanged) for a value that
 * cannot be encoded: unknown type or dtype, ndim > WEFT_MAX_NDIM, negative
 * shape, size overflow, NULL data with a length, a BOOL array element other
 * than 0/1. WEFT_ENOMEM if w's sticky flag is set. */
weft_err wf_wire_put_value(wf_wbuf *w, const weft_value *v);

/* As wf_wire_put_value, but a STR, BYTES or ARRAY's data is placed at
 * offset in the message's fd number fd_index (the caller has written it
 * there; v's data pointer is not read and may be NULL). Other types are
 * encoded as themselves. */
weft_err wf_wire_put_value_fd(wf_wbuf *w, const weft_value *v,
                              uint32_t fd_index, uint64_t offset);

/* wf_wire_put_value or wf_wire_put_value_fd as place says; place may be
 * NULL (inline). */
weft_err wf_wire_put_value_at(wf_wbuf *w, const weft_value *v,
                              const wf_wire_place *place);

/* Read one value from r into *out, checking everything listed at the top
 * of this file. WEFT_EPROTO with a detail naming the field and its byte
 * offset for anything malformed; r's offset is then unspecified. */
weft_err wf_wire_get_value(wf_rbuf *r, wf_wire_value *out);

/* For a value placed in an fd: given the fd mapped at map (map_len bytes),
 * check that [fd_offset, fd_offset + fd_len) lies inside it (and that a
 * BOOL array's bytes are 0 or 1) and point v's data there. WEFT_EPROTO
 * otherwise; WEFT_EINVAL if the value is not placed in an fd. */
weft_err wf_wire_value_bind(wf_wire_value *wv, const void *map,
                            uint64_t map_len);

#endif
