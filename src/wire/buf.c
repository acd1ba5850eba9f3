#include "wire/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

/* A double is sent as the 64 bits of its IEEE-754 form; a host whose double
 * is something else could not speak the protocol at all. */
_Static_assert(sizeof(double) == sizeof(uint64_t), "double must be 64 bits");

#define WF_WBUF_MIN_CAP 256

void wf_wbuf_init(wf_wbuf *w)
{
    memset(w, 0, sizeof *w);
}

void wf_wbuf_free(wf_wbuf *w)
{
    wf_free(w->data);
    wf_wbuf_init(w);
}

void wf_wbuf_reset(wf_wbuf *w)
{
    w->len = 0;
    w->oom = false;
}

weft_err wf_wbuf_status(const wf_wbuf *w)
{
    if (w->oom)
        return wf_err(WEFT_ENOMEM, "wire: out of memory building a message");
    return 0;
}

/* Make room for n more bytes and claim them: returns where to write them,
 * or NULL (and sets the sticky flag) when they cannot be had. */
static uint8_t *wf_wbuf_claim(wf_wbuf *w, size_t n)
{
    if (w->oom)
        return NULL;
    if (n > w->cap - w->len) {
        if (n > SIZE_MAX - w->len)
            goto fail;
        size_t need = w->len + n;
        size_t cap = w->cap ? w->cap : WF_WBUF_MIN_CAP;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        uint8_t *p = wf_realloc(w->data, cap);
        if (!p)
            goto fail;
        w->data = p;
        w->cap = cap;
    }
    uint8_t *at = w->data + w->len;
    w->len += n;
    return at;
fail:
    w->oom = true;
    return NULL;
}

uint8_t *wf_wbuf_put_space(wf_wbuf *w, size_t n)
{
    return wf_wbuf_claim(w, n);
}

bool wf_wbuf_reserve(wf_wbuf *w, size_t n)
{
    uint8_t *p = wf_wbuf_claim(w, n);
    if (p)
        w->len -= n;
    return p != NULL;
}

void wf_wbuf_put_u8(wf_wbuf *w, uint8_t v)
{
    uint8_t *p = wf_wbuf_claim(w, 1);
    if (p)
        p[0] = v;
}

void wf_wbuf_put_u16(wf_wbuf *w, uint16_t v)
{
    uint8_t *p = wf_wbuf_claim(w, 2);
    if (p)
        wf_store_le16(p, v);
}

void wf_wbuf_put_u32(wf_wbuf *w, uint32_t v)
{
    uint8_t *p = wf_wbuf_claim(w, 4);
    if (p)
        wf_store_le32(p, v);
}

void wf_wbuf_put_u64(wf_wbuf *w, uint64_t v)
{
    uint8_t *p = wf_wbuf_claim(w, 8);
    if (p)
        wf_store_le64(p, v);
}

void wf_wbuf_put_i32(wf_wbuf *w, int32_t v)
{
    wf_wbuf_put_u32(w, (uint32_t)v);
}

void wf_wbuf_put_i64(wf_wbuf *w, int64_t v)
{
    wf_wbuf_put_u64(w, (uint64_t)v);
}

void wf_wbuf_put_f64(wf_wbuf *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    wf_wbuf_put_u64(w, bits);
}

void wf_wbuf_put_bytes(wf_wbuf *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *d = wf_wbuf_claim(w, n);
    if (d)
        memcpy(d, p, n);
}

void wf_wbuf_put_str(wf_wbuf *w, const void *s, size_t n)
{
    if (n > UINT32_MAX) {
        w->oom = true;
        return;
    }
    wf_wbuf_put_u32(w, (uint32_t)n);
    wf_wbuf_put_bytes(w, s, n);
}

void wf_wbuf_patch_u32(wf_wbuf *w, size_t at, uint32_t v)
{
    if (w->oom || at > w->len || w->len - at < 4)
        return;
    wf_store_le32(w->data + at, v);
}

/* ------------------------------------------------------------ reader */

void wf_rbuf_init(wf_rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->base = 0;
}

size_t wf_rbuf_left(const wf_rbuf *r)
{
    return r->len - r->off;
}

weft_err wf_rbuf_bad(const wf_rbuf *r, size_t at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return wf_err(WEFT_EPROTO, "wire: %s at byte %zu", msg, r->base + at);
}

/* Claim the next n bytes for reading, or fail naming the field. */
static weft_err wf_rbuf_take(wf_rbuf *r, uint64_t n, const uint8_t **p,
                             const char *what)
{
    size_t left = wf_rbuf_left(r);
    *p = NULL;
    if (n > left)
        return wf_rbuf_bad(r, r->off,
                           "truncated %s (needs %llu bytes, %zu left)", what,
                           (unsigned long long)n, left);
    /* An empty reader may have no buffer at all: no arithmetic on NULL. */
    *p = r->p ? r->p + r->off : NULL;
    r->off += (size_t)n;
    return 0;
}

weft_err wf_rbuf_get_u8(wf_rbuf *r, uint8_t *v, const char *what)
{
    const uint8_t *p;
    weft_err e = wf_rbuf_take(r, 1, &p, what);
    if (e == 0)
        *v = p[0];
    return e;
}

weft_err wf_rbuf_get_u16(wf_rbuf *r, uint16_t *v, const char *what)
{
    const uint8_t *p;
    weft_err e = wf_rbuf_take(r, 2, &p, what);
    if (e == 0)
        *v = wf_load_le16(p);
    return e;
}

weft_err wf_rbuf_get_u32(wf_rbuf *r, uint32_t *v, const char *what)
{
    const uint8_t *p;
    weft_err e = wf_rbuf_take(r, 4, &p, what);
    if (e == 0)
        *v = wf_load_le32(p);
    return e;
}

weft_err wf_rbuf_get_u64(wf_rbuf *r, uint64_t *v, const char *what)
{
    const uint8_t *p;
    weft_err e = wf_rbuf_take(r, 8, &p, what);
    if (e == 0)
        *v = wf_load_le64(p);
    return e;
}

/* Two's complement back from unsigned without relying on the
 * implementation-defined conversion of out-of-range values. */
static int64_t wf_u64_to_i64(uint64_t u)
{
    if (u <= INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(UINT64_MAX - u) - 1;
}

weft_err wf_rbuf_get_i32(wf_rbuf *r, int32_t *v, const char *what)
{
    uint32_t u;
    weft_err e = wf_rbuf_get_u32(r, &u, what);
    if (e == 0)
        *v = u <= INT32_MAX ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
    return e;
}

weft_err wf_rbuf_get_i64(wf_rbuf *r, int64_t *v, const char *what)
{
    uint64_t u;
    weft_err e = wf_rbuf_get_u64(r, &u, what);
    if (e == 0)
        *v = wf_u64_to_i64(u);
    return e;
}

weft_err wf_rbuf_get_f64(wf_rbuf *r, double *v, const char *what)
{
    uint64_t u;
    weft_err e = wf_rbuf_get_u64(r, &u, what);
    if (e == 0)
        memcpy(v, &u, sizeof *v);
    return e;
}

weft_err wf_rbuf_get_span(wf_rbuf *r, uint64_t n, const void **p,
                          const char *what)
{
    const uint8_t *q;
    weft_err e = wf_rbuf_take(r, n, &q, what);
    if (e == 0)
        *p = q;
    return e;
}

weft_err wf_rbuf_get_str(wf_rbuf *r, uint32_t max, const char **s, size_t *n,
                         const char *what)
{
    size_t at = r->off;
    uint32_t len;
    weft_err e = wf_rbuf_get_u32(r, &len, what);
    if (e)
        return e;
    if (len > max) {
        r->off = at;
        return wf_rbuf_bad(r, at, "%s of %u bytes is longer than %u", what, len,
                           max);
    }
    const void *p;
    e = wf_rbuf_get_span(r, len, &p, what);
    if (e) {
        r->off = at;
        return e;
    }
    *s = p;
    *n = len;
    return 0;
}

weft_err wf_rbuf_end(const wf_rbuf *r, const char *what)
{
    if (r->off == r->len)
        return 0;
    return wf_rbuf_bad(r, r->off, "%zu trailing bytes after %s",
                       wf_rbuf_left(r), what);
}
