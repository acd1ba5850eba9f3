/* Tables as bytes and columnar files (see table_io.h). */
#include "dataframe/table_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "table_io.c writes arrays as they are in memory: little-endian only"
#endif

static const char table_magic[8] = {'W', 'E', 'F', 'T', 'T', 'B', 'L', '1'};
static const char file_magic[8] = {'W', 'E', 'F', 'T', 'F', 'I', 'L', '1'};
static const char end_magic[8] = {'W', 'E', 'F', 'T', 'E', 'N', 'D', '1'};

#define TABLE_VERSION 1u
#define FLAG_VALID 1u

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t value_bytes(const wf_column *c, size_t nrows)
{
    switch (c->type) {
    case WF_COL_BOOL:
        return pad8(nrows);
    case WF_COL_STR:
        return (nrows + 1) * 8 + pad8((size_t)c->offs[nrows]);
    default:
        return nrows * 8;
    }
}

size_t wf_table_encoded_size(const wf_table *t)
{
    size_t n = 24;
    for (size_t i = 0; i < t->ncols; i++) {
        const wf_column *c = &t->cols[i];
        n += 16 + pad8(strlen(t->names[i]));
        if (c->valid)
            n += pad8(t->nrows);
        n += value_bytes(c, t->nrows);
    }
    return n;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
    return p + 8;
}

/* Copy n bytes, then zeroes up to the next multiple of 8. */
static uint8_t *put_padded(uint8_t *p, const void *src, size_t n)
{
    if (n)
        memcpy(p, src, n);
    memset(p + n, 0, pad8(n) - n);
    return p + pad8(n);
}

weft_err wf_table_encode_into(const wf_table *t, uint8_t *buf, size_t len)
{
    if (len < wf_table_encoded_size(t))
        return WEFT_ERANGE;
    uint8_t *p = buf;
    memcpy(p, table_magic, 8);
    p = put32(p + 8, TABLE_VERSION);
    p = put32(p, (uint32_t)t->ncols);
    p = put64(p, t->nrows);
    for (size_t i = 0; i < t->ncols; i++) {
        const wf_column *c = &t->cols[i];
        size_t nl = strlen(t->names[i]);
        p = put32(p, (uint32_t)c->type);
        p = put32(p, c->valid ? FLAG_VALID : 0);
        p = put32(p, (uint32_t)nl);
        p = put32(p, 0);
        p = put_padded(p, t->names[i], nl);
        if (c->valid)
            p = put_padded(p, c->valid, t->nrows);
        if (c->type == WF_COL_STR) {
            memcpy(p, c->offs, (t->nrows + 1) * 8);
            p += (t->nrows + 1) * 8;
            p = put_padded(p, c->chars, (size_t)c->offs[t->nrows]);
        } else if (c->type == WF_COL_BOOL) {
            p = put_padded(p, c->v.b, t->nrows);
        } else if (t->nrows) {
            memcpy(p, c->v.i64, t->nrows * 8);
            p += t->nrows * 8;
        }
    }
    return WEFT_OK;
}

weft_err wf_table_encode(const wf_table *t, uint8_t **buf, size_t *len)
{
    size_t n = wf_table_encoded_size(t);
    uint8_t *b = malloc(n);
    if (!b)
        return WEFT_ENOMEM;
    wf_table_encode_into(t, b, n);
    *buf = b;
    *len = n;
    return WEFT_OK;
}

/* ------------------------------------------------------------ decoding */

typedef struct reader {
    const uint8_t *buf;
    size_t len, off;
    char *err;
    size_t errlen;
} reader;

__attribute__((format(printf, 2, 3))) static weft_err bad(reader *r,
                                                          const char *fmt, ...)
{
    if (r->err && r->errlen) {
        int n =
            snprintf(r->err, r->errlen, "table encoding, byte %zu: ", r->off);
        if (n >= 0 && (size_t)n < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return WEFT_EINVAL;
}

/* The next n bytes (then padded to 8), or NULL when the buffer ends. */
static const uint8_t *take(reader *r, size_t n, bool padded)
{
    size_t step = padded ? pad8(n) : n;
    if (step < n || step > r->len - r->off)
        return NULL;
    const uint8_t *p = r->buf + r->off;
    r->off += step;
    return p;
}

static bool get32(reader *r, uint32_t *v)
{
    const uint8_t *p = take(r, 4, false);
    if (p)
        memcpy(v, p, 4);
    return p != NULL;
}

static bool get64(reader *r, uint64_t *v)
{
    const uint8_t *p = take(r, 8, false);
    if (p)
        memcpy(v, p, 8);
    return p != NULL;
}

static weft_err decode_column(reader *r, uint64_t nrows, wf_table *t,
                              bool borrow)
{
    uint32_t type, flags, nl, zero;
    size_t at = r->off;
    if (!get32(r, &type) || !get32(r, &flags) || !get32(r, &nl) ||
        !get32(r, &zero))
        return bad(r, "column %zu: header cut short", t->ncols + 1);
    if (wf_coltype_name((wf_coltype)type)[0] == '?' || flags > FLAG_VALID ||
        zero != 0 || nl == 0 || nl > WF_TABLE_NAME_MAX) {
        r->off = at;
        return bad(r,
                   "column %zu: bad header (type %u, flags %u, name of %u "
                   "bytes)",
                   t->ncols + 1, type, flags, nl);
    }
    const uint8_t *name = take(r, nl, true);
    if (!name)
        return bad(r, "column %zu: name cut short", t->ncols + 1);
    if (memchr(name, 0, nl))
        return bad(r, "column %zu: name holds a NUL byte", t->ncols + 1);
    char nbuf[WF_TABLE_NAME_MAX + 1];
    memcpy(nbuf, name, nl);
    nbuf[nl] = '\0';
    if (wf_table_find(t, nbuf) >= 0)
        return bad(r, "column %zu: name '%s' given twice", t->ncols + 1, nbuf);

    wf_column c;
    memset(&c, 0, sizeof c);
    c.type = (wf_coltype)type;
    const uint8_t *valid = NULL;
    if (flags & FLAG_VALID) {
        at = r->off;
        if (!(valid = take(r, (size_t)nrows, true)))
            return bad(r, "column '%s': validity cut short", nbuf);
        for (uint64_t i = 0; i < nrows; i++)
            if (valid[i] > 1) {
                r->off = at + (size_t)i;
                return bad(r, "column '%s': validity byte %u", nbuf, valid[i]);
            }
    }
    const uint8_t *offs = NULL, *chars = NULL, *vals = NULL;
    uint64_t nchars = 0;
    if (c.type == WF_COL_STR) {
        at = r->off;
        if (nrows > (SIZE_MAX - 8) / 8 ||
            !(offs = take(r, (size_t)(nrows + 1) * 8, false)))
            return bad(r, "column '%s': offsets cut short", nbuf);
        uint64_t prev = 0;
        for (uint64_t i = 0; i <= nrows; i++) {
            uint64_t o;
            memcpy(&o, offs + i * 8, 8);
            if ((i == 0 && o != 0) || o < prev || o > INT64_MAX) {
                r->off = at + (size_t)i * 8;
                return bad(r,
                           "column '%s': offset %llu of row %llu out of "
                           "order",
                           nbuf, (unsigned long long)o, (unsigned long long)i);
            }
            prev = o;
        }
        nchars = prev;
        if (nchars > r->len || !(chars = take(r, (size_t)nchars, true)))
            return bad(r, "column '%s': %llu bytes of text cut short", nbuf,
                       (unsigned long long)nchars);
    } else {
        size_t w = c.type == WF_COL_BOOL ? 1 : 8;
        at = r->off;
        if (nrows > SIZE_MAX / 8 ||
            !(vals = take(r, (size_t)nrows * w, w == 1)))
            return bad(r, "column '%s': values cut short", nbuf);
        if (w == 1)
            for (uint64_t i = 0; i < nrows; i++)
                if (vals[i] > 1) {
                    r->off = at + (size_t)i;
                    return bad(r, "column '%s': bool byte %u", nbuf, vals[i]);
                }
    }
    /* All checked: build the column, as a view or a copy. */
    if (borrow) {
        c.len = c.cap = (size_t)nrows;
        c.borrowed = true;
        c.valid = (uint8_t *)valid;
        if (c.type == WF_COL_STR) {
            c.offs = (int64_t *)offs;
            c.chars = (char *)chars;
            c.chars_cap = (size_t)nchars;
        } else {
            c.v.i64 = (int64_t *)vals;
        }
        weft_err e = wf_table_add(t, nbuf, &c);
        return e;
    }
    weft_err e = wf_col_init(&c, c.type, (size_t)nrows);
    if (!e && c.type == WF_COL_STR)
        e = wf_col_reserve(&c, (size_t)nrows, (size_t)nchars);
    if (!e && valid)
        e = wf_col_make_nullable(&c);
    if (e) {
        wf_col_free(&c);
        return e;
    }
    if (valid && nrows)
        memcpy(c.valid, valid, (size_t)nrows);
    if (c.type == WF_COL_STR) {
        memcpy(c.offs, offs, (size_t)(nrows + 1) * 8);
        if (nchars)
            memcpy(c.chars, chars, (size_t)nchars);
    } else if (nrows) {
        memcpy(c.v.i64, vals, (size_t)nrows * (c.type == WF_COL_BOOL ? 1 : 8));
    }
    c.len = (size_t)nrows;
    e = wf_table_add(t, nbuf, &c);
    if (e)
        wf_col_free(&c);
    return e;
}

static weft_err decode(const uint8_t *buf, size_t len, wf_table *out, char *err,
                       size_t errlen, bool borrow)
{
    wf_table_init(out);
    reader r = {buf, len, 0, err, errlen};
    const uint8_t *m = take(&r, 8, false);
    if (!m || memcmp(m, table_magic, 8) != 0) {
        r.off = 0;
        return bad(&r, "not a weft table (magic)");
    }
    uint32_t version, ncols;
    uint64_t nrows;
    if (!get32(&r, &version) || !get32(&r, &ncols) || !get64(&r, &nrows))
        return bad(&r, "header cut short");
    if (version != TABLE_VERSION)
        return bad(&r, "version %u, this build reads %u", version,
                   TABLE_VERSION);
    if (ncols > WF_TABLE_COLS_MAX || (ncols > 0 && nrows > len))
        return bad(&r, "%u columns of %llu rows cannot fit %zu bytes", ncols,
                   (unsigned long long)nrows, len);
    for (uint32_t i = 0; i < ncols; i++) {
        weft_err e = decode_column(&r, nrows, out, borrow);
        if (e) {
            wf_table_free(out);
            return e;
        }
    }
    out->nrows = (size_t)nrows;
    if (r.off != len) {
        wf_table_free(out);
        return bad(&r, "%zu bytes after the last column", len - r.off);
    }
    return WEFT_OK;
}

weft_err wf_table_decode(const uint8_t *buf, size_t len, wf_table *out,
                         char *err, size_t errlen)
{
    return decode(buf, len, out, err, errlen, false);
}

weft_err wf_table_decode_view(const uint8_t *buf, size_t len, wf_table *out,
                              char *err, size_t errlen)
{
    /* columns are read in place: 8-byte values need an aligned buffer */
    return decode(buf, len, out, err, errlen, ((uintptr_t)buf & 7) == 0);
}

/* ------------------------------------------------------------ files */

struct wf_tfile {
    int fd;
    char *path;
    size_t ngroups;
    uint64_t *offs, *lens;
};

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

static bool same_schema(const wf_table *a, const wf_table *b)
{
    if (a->ncols != b->ncols)
        return false;
    for (size_t i = 0; i < a->ncols; i++)
        if (a->cols[i].type != b->cols[i].type ||
            strcmp(a->names[i], b->names[i]) != 0)
            return false;
    return true;
}

weft_err wf_tfile_write(const char *path, const wf_table *groups, size_t n,
                        char *err, size_t errlen)
{
    for (size_t g = 1; g < n; g++)
        if (!same_schema(&groups[0], &groups[g]))
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "%s: row group %zu has other columns than group 1",
                           path, g + 1);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    uint64_t *index = malloc((2 * n + 1) * 8);
    if (!tmp || !index) {
        free(tmp);
        free(index);
        return WEFT_ENOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    weft_err e = WEFT_OK;
    if (fd < 0) {
        e = wf_errf(WEFT_EIO, err, errlen, "%s: cannot create: %s", tmp,
                    strerror(errno));
        goto out;
    }
    uint64_t at = 8;
    bool ok = write_all(fd, file_magic, 8);
    index[0] = n;
    for (size_t g = 0; g < n && ok; g++) {
        uint8_t *buf;
        size_t len;
        if ((e = wf_table_encode(&groups[g], &buf, &len)) != WEFT_OK)
            break;
        ok = write_all(fd, buf, len);
        free(buf);
        index[1 + 2 * g] = at;
        index[2 + 2 * g] = len;
        at += len;
    }
    if (!e && ok)
        ok = write_all(fd, index, (2 * n + 1) * 8) && write_all(fd, &at, 8) &&
             write_all(fd, end_magic, 8) && fsync(fd) == 0;
    if (!e && !ok)
        e = wf_errf(WEFT_EIO, err, errlen, "%s: cannot write: %s", tmp,
                    strerror(errno));
    if (close(fd) != 0 && !e)
        e = wf_errf(WEFT_EIO, err, errlen, "%s: cannot write: %s", tmp,
                    strerror(errno));
    if (!e && rename(tmp, path) != 0)
        e = wf_errf(WEFT_EIO, err, errlen, "%s: cannot rename to %s: %s", tmp,
                    path, strerror(errno));
    if (e)
        unlink(tmp);
out:
    free(tmp);
    free(index);
    return e;
}

static bool pread_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;
    while (n) {
        ssize_t k = pread(fd, b, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        b += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return true;
}

weft_err wf_tfile_open(const char *path, wf_tfile **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wf_errf(WEFT_EIO, err, errlen, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat st;
    uint8_t head[8], tail[16];
    uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (size < 32 || !pread_all(fd, head, 8, 0) ||
        !pread_all(fd, tail, 16, size - 16) ||
        memcmp(head, file_magic, 8) != 0 ||
        memcmp(tail + 8, end_magic, 8) != 0) {
        close(fd);
        return wf_errf(WEFT_EIO, err, errlen, "%s: not a weft columnar file",
                       path);
    }
    uint64_t index_at, ngroups = 0;
    memcpy(&index_at, tail, 8);
    if (index_at < 8 || index_at > size - 24 ||
        !pread_all(fd, &ngroups, 8, index_at) ||
        ngroups > (size - 24 - index_at) / 16) {
        close(fd);
        return wf_errf(WEFT_EIO, err, errlen, "%s: damaged index", path);
    }
    wf_tfile *f = calloc(1, sizeof *f);
    if (f) {
        f->fd = -1;
        f->offs = malloc((ngroups + 1) * 8);
        f->lens = malloc((ngroups + 1) * 8);
        f->path = strdup(path);
    }
    if (!f || !f->offs || !f->lens || !f->path) {
        close(fd);
        wf_tfile_close(f);
        return WEFT_ENOMEM;
    }
    f->fd = fd;
    f->ngroups = (size_t)ngroups;
    for (uint64_t g = 0; g < ngroups; g++) {
        uint64_t pair[2];
        if (!pread_all(fd, pair, 16, index_at + 8 + g * 16) || pair[0] < 8 ||
            pair[0] > index_at || pair[1] > index_at - pair[0]) {
            wf_tfile_close(f);
            return wf_errf(WEFT_EIO, err, errlen,
                           "%s: damaged index (group %llu)", path,
                           (unsigned long long)g + 1);
        }
        f->offs[g] = pair[0];
        f->lens[g] = pair[1];
    }
    *out = f;
    return WEFT_OK;
}

size_t wf_tfile_ngroups(const wf_tfile *f)
{
    return f->ngroups;
}

weft_err wf_tfile_read(wf_tfile *f, size_t g, wf_table *out, char *err,
                       size_t errlen)
{
    wf_table_init(out);
    if (g >= f->ngroups)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "%s: no row group %zu (it has %zu)", f->path, g + 1,
                       f->ngroups);
    uint8_t *buf = malloc(f->lens[g] ? (size_t)f->lens[g] : 1);
    if (!buf)
        return WEFT_ENOMEM;
    weft_err e;
    errno = 0;
    if (!pread_all(f->fd, buf, (size_t)f->lens[g], f->offs[g])) {
        e = wf_errf(WEFT_EIO, err, errlen, "%s: cannot read row group %zu: %s",
                    f->path, g + 1, errno ? strerror(errno) : "file cut short");
    } else {
        char why[256];
        e = wf_table_decode(buf, (size_t)f->lens[g], out, why, sizeof why);
        if (e == WEFT_EINVAL && err && errlen)
            snprintf(err, errlen, "%s: row group %zu: %s", f->path, g + 1, why);
    }
    free(buf);
    return e;
}

void wf_tfile_close(wf_tfile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->offs);
    free(f->lens);
    free(f->path);
    free(f);
}
