/* Byte buffers for the wire format: a growable writer whose failures are
 * sticky, so an encoder checks once at the end instead of after every put,
 * and a bounded reader whose every get is checked against the end, because
 * what it reads comes from another process or machine.
 *
 * Integers are little-endian and written byte by byte, so the format does
 * not depend on the host's byte order, alignment or struct layout. */
#ifndef WF_WIRE_BUF_H
#define WF_WIRE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/errors.h>

/* ------------------------------------------------------------ writer */

typedef struct wf_wbuf {
    uint8_t *data; /* wf_alloc'ed, owned by the wbuf; NULL while empty */
    size_t len;    /* bytes written so far */
    size_t cap;    /* bytes allocated */
    bool oom;      /* a put failed (allocation failed or a length did not
                      fit its field); later puts do nothing until reset */
} wf_wbuf;

/* An empty writer; allocates nothing until the first put. */
void wf_wbuf_init(wf_wbuf *w);

/* Free the bytes; w is empty and usable again. */
void wf_wbuf_free(wf_wbuf *w);

/* Forget the bytes and the oom flag but keep the memory for reuse. */
void wf_wbuf_reset(wf_wbuf *w);

/* 0, or WEFT_ENOMEM (with a detail) if any put since init/reset failed. */
weft_err wf_wbuf_status(const wf_wbuf *w);

void wf_wbuf_put_u8(wf_wbuf *w, uint8_t v);
void wf_wbuf_put_u16(wf_wbuf *w, uint16_t v);
void wf_wbuf_put_u32(wf_wbuf *w, uint32_t v);
void wf_wbuf_put_u64(wf_wbuf *w, uint64_t v);
void wf_wbuf_put_i32(wf_wbuf *w, int32_t v);
void wf_wbuf_put_i64(wf_wbuf *w, int64_t v);
void wf_wbuf_put_f64(wf_wbuf *w, double v); /* the IEEE-754 bits, as u64 */

/* n raw bytes; p may be NULL when n == 0. */
void wf_wbuf_put_bytes(wf_wbuf *w, const void *p, size_t n);
/* Append n bytes the caller writes through the returned pointer (valid
 * until the next put); NULL, with the sticky flag set, on failure. */
uint8_t *wf_wbuf_put_space(wf_wbuf *w, size_t n);
/* Make room for n more bytes without appending any; false (flag set) if
 * they cannot be had. */
bool wf_wbuf_reserve(wf_wbuf *w, size_t n);

/* u32 n, then n bytes (no NUL). n > UINT32_MAX sets the oom flag, so
 * encoders check lengths they promise a reader before putting them. */
void wf_wbuf_put_str(wf_wbuf *w, const void *s, size_t n);

/* Overwrite 4 bytes written earlier at offset at (a length known only once
 * what follows it is written). at + 4 must be <= w->len. */
void wf_wbuf_patch_u32(wf_wbuf *w, size_t at, uint32_t v);

/* ------------------------------------------------------------ reader */

typedef struct wf_rbuf {
    const uint8_t *p; /* the bytes; not owned */
    size_t len;
    size_t off;  /* next byte to read */
    size_t base; /* offset of p[0] in the enclosing message: error details
                    name offsets in the message, not in this view */
} wf_rbuf;

/* A reader over p[0..len), base 0. p may be NULL when len == 0. */
void wf_rbuf_init(wf_rbuf *r, const void *p, size_t len);

/* Bytes not yet read. */
size_t wf_rbuf_left(const wf_rbuf *r);

/* Each get reads one field named what (for the error detail) and returns 0,
 * or WEFT_EPROTO "wire: truncated <what> at byte N ..." when too few bytes
 * are left; then *v and the offset are unchanged. */
weft_err wf_rbuf_get_u8(wf_rbuf *r, uint8_t *v, const char *what);
weft_err wf_rbuf_get_u16(wf_rbuf *r, uint16_t *v, const char *what);
weft_err wf_rbuf_get_u32(wf_rbuf *r, uint32_t *v, const char *what);
weft_err wf_rbuf_get_u64(wf_rbuf *r, uint64_t *v, const char *what);
weft_err wf_rbuf_get_i32(wf_rbuf *r, int32_t *v, const char *what);
weft_err wf_rbuf_get_i64(wf_rbuf *r, int64_t *v, const char *what);
weft_err wf_rbuf_get_f64(wf_rbuf *r, double *v, const char *what);

/* Zero-copy: *p points at the next n bytes inside the reader's buffer
 * (valid as long as that buffer is). n is 64-bit because it usually comes
 * straight off the wire. */
weft_err wf_rbuf_get_span(wf_rbuf *r, uint64_t n, const void **p,
                          const char *what);

/* A u32-length string of at most max bytes, zero-copy: *s points into the
 * buffer and is not NUL-terminated. Longer strings are WEFT_EPROTO. */
weft_err wf_rbuf_get_str(wf_rbuf *r, uint32_t max, const char **s, size_t *n,
                         const char *what);

/* 0 if every byte was read, else WEFT_EPROTO: trailing bytes after what. */
weft_err wf_rbuf_end(const wf_rbuf *r, const char *what);

/* Record "wire: <fmt...> at byte N" (N = base + at, at an offset in r,
 * usually where the bad field starts) and return WEFT_EPROTO. */
weft_err wf_rbuf_bad(const wf_rbuf *r, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------- little-endian helpers */

static inline uint16_t wf_load_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t wf_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t wf_load_le64(const uint8_t *p)
{
    return (uint64_t)wf_load_le32(p) | (uint64_t)wf_load_le32(p + 4) << 32;
}

static inline void wf_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void wf_store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void wf_store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
