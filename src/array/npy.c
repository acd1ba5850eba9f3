/* .npy files (nd.h: wf_npy_*): numpy's format, versions 1.0 to 3.0.
 *
 * A file is the magic "\x93NUMPY", a major and minor version byte, the
 * header's length (2 bytes little-endian in 1.0, 4 in 2.0 and 3.0), the
 * header - a Python dict literal {'descr': '<f8', 'fortran_order': False,
 * 'shape': (3, 4), } padded with spaces and a newline so the data starts
 * at a multiple of 64 - and then the data. We read any such header (keys
 * in any order, either quote, trailing commas, Python 2's 3L) and write
 * the bytes numpy writes, so our files and numpy's are the same.
 *
 * Blocks move with one pread/pwrite per contiguous run of the file: a box
 * spanning whole trailing axes is one run per index of the leading axes
 * (the whole box when it spans all but the first). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array/nd.h"
#include "array/nd_int.h"
#include "base/alloc.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
/* numpy pads a header for the first axis to grow to this many digits. */
#define NPY_GROWTH_DIGITS 21
/* Headers longer than this are refused (numpy's own limit is 10000). */
#define NPY_MAX_HEADER (1u << 20)
/* Elements converted per pass when a written block changes dtype. */
#define NPY_CONVERT_BATCH 8192

/* "path: what" as this thread's wf_nd_error(); returns code. */
static weft_err npy_fail(weft_err code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static weft_err npy_fail(weft_err code, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wf_nd_seterr("%s: %s", path, msg);
    return code;
}

static weft_err npy_sys(const char *path, const char *what)
{
    return npy_fail(WEFT_ESYS, path, "%s: %s", what, strerror(errno));
}

/* "(3, 4)", "(5,)", "()" into buf (Python's repr of the tuple). */
static const char *shape_str(char *buf, size_t cap, uint32_t ndim,
                             const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (uint32_t d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "",
                              (long long)shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
    return buf;
}

static const char *npy_descr(weft_dtype dt)
{
    switch (dt) {
    case WEFT_DT_F64:
        return "<f8";
    case WEFT_DT_F32:
        return "<f4";
    case WEFT_DT_I64:
        return "<i8";
    case WEFT_DT_I32:
        return "<i4";
    case WEFT_DT_U8:
        return "|u1";
    case WEFT_DT_BOOL:
        return "|b1";
    }
    return NULL;
}

/* Bytes of the data of dt and shape into *bytes; false on overflow. */
static bool data_bytes(weft_dtype dt, uint32_t ndim, const int64_t *shape,
                       uint64_t *bytes)
{
    uint64_t n = weft_dtype_size(dt);
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return false;
        if (shape[d] && n > (uint64_t)INT64_MAX / (uint64_t)shape[d])
            return false;
        n *= (uint64_t)shape[d];
    }
    *bytes = n;
    return true;
}

/* ------------------------------------------------------------ header text */

typedef struct hparse {
    const char *path;
    const char *s;
    size_t n, pos;
} hparse;

static weft_err hfail(hparse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static weft_err hfail(hparse *p, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return npy_fail(WEFT_EINVAL, p->path, "bad .npy header at byte %zu: %s",
                    p->pos, msg);
}

static void skip_space(hparse *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static bool peek(hparse *p, char c)
{
    skip_space(p);
    return p->pos < p->n && p->s[p->pos] == c;
}

static weft_err expect(hparse *p, char c, const char *where)
{
    if (!peek(p, c))
        return hfail(p, "expected '%c' %s", c, where);
    p->pos++;
    return 0;
}

/* A quoted string ('...' or "...", no escapes) into out. */
static weft_err parse_string(hparse *p, char *out, size_t cap)
{
    skip_space(p);
    if (p->pos >= p->n || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
        return hfail(p, "expected a quoted string");
    char q = p->s[p->pos++];
    size_t len = 0;
    while (p->pos < p->n && p->s[p->pos] != q) {
        char c = p->s[p->pos];
        if (c == '\\' || c == '\n' || c == '\0')
            return hfail(p, "unexpected character 0x%02x in a string",
                         (unsigned char)c);
        if (len + 1 >= cap)
            return hfail(p, "string longer than %zu bytes", cap - 1);
        out[len++] = c;
        p->pos++;
    }
    if (p->pos >= p->n)
        return hfail(p, "unterminated string");
    p->pos++;
    out[len] = '\0';
    return 0;
}

static bool match_word(hparse *p, const char *w)
{
    size_t n = strlen(w);
    skip_space(p);
    if (p->n - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
        return false;
    p->pos += n;
    return true;
}

/* The dtype of a descr string: little-endian f8 f4 i8 i4 u1 b1. */
static weft_err parse_descr(hparse *p, const char *d, weft_dtype *dt)
{
    char order = d[0];
    const char *t = d;
    if (order == '<' || order == '>' || order == '|' || order == '=')
        t++;
    else
        order = 0;
    static const struct {
        const char *code;
        weft_dtype dt;
    } known[] = {{"f8", WEFT_DT_F64}, {"f4", WEFT_DT_F32},
                 {"i8", WEFT_DT_I64}, {"i4", WEFT_DT_I32},
                 {"u1", WEFT_DT_U8},  {"b1", WEFT_DT_BOOL}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(t, known[i].code) != 0)
            continue;
        bool one_byte = weft_dtype_size(known[i].dt) == 1;
        if (order == '>' && !one_byte)
            return hfail(p,
                         "dtype '%s' is big-endian; weft reads little-endian "
                         "data only",
                         d);
        if (order == '|' && !one_byte)
            return hfail(p, "dtype '%s' needs a byte order", d);
        *dt = known[i].dt;
        return 0;
    }
    if (t[0] == 'O')
        return hfail(p,
                     "dtype '%s' is an object array (Python objects); "
                     "weft reads numbers only",
                     d);
    return hfail(p,
                 "dtype '%s' is not supported (weft reads <f8 <f4 <i8 <i4 "
                 "|u1 |b1)",
                 d);
}

static weft_err parse_shape(hparse *p, wf_npy_header *h)
{
    weft_err e = expect(p, '(', "to open the shape");
    if (e)
        return e;
    h->ndim = 0;
    for (;;) {
        if (peek(p, ')'))
            break;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return hfail(p, "shape: expected a dimension (an integer >= 0)");
        int64_t v = 0;
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            int dig = p->s[p->pos++] - '0';
            if (v > (INT64_MAX - dig) / 10)
                return hfail(p, "shape: dimension too large");
            v = v * 10 + dig;
        }
        if (p->pos < p->n && p->s[p->pos] == 'L') /* Python 2's long */
            p->pos++;
        if (h->ndim == WEFT_MAX_NDIM)
            return hfail(p, "shape has more than %d axes", WEFT_MAX_NDIM);
        h->shape[h->ndim++] = v;
        if (peek(p, ','))
            p->pos++;
        else if (!peek(p, ')'))
            return hfail(p, "shape: expected ',' or ')'");
    }
    p->pos++;
    return 0;
}

/* Parse the dict of text[0..n) into h (not data_offset). */
static weft_err parse_header(const char *path, const char *text, size_t n,
                             wf_npy_header *h)
{
    hparse p = {.path = path, .s = text, .n = n};
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    weft_err e = expect(&p, '{', "at the start of the header");
    if (e)
        return e;
    while (!peek(&p, '}')) {
        char key[32], val[64];
        if ((e = parse_string(&p, key, sizeof key)) != 0 ||
            (e = expect(&p, ':', "after a key")) != 0)
            return e;
        if (strcmp(key, "descr") == 0) {
            if (seen_descr)
                return hfail(&p, "key 'descr' appears twice");
            seen_descr = true;
            if (peek(&p, '['))
                return hfail(&p, "structured dtype (a list of fields) is not "
                                 "supported");
            if ((e = parse_string(&p, val, sizeof val)) != 0 ||
                (e = parse_descr(&p, val, &h->dtype)) != 0)
                return e;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran)
                return hfail(&p, "key 'fortran_order' appears twice");
            seen_fortran = true;
            if (match_word(&p, "True"))
                h->fortran_order = true;
            else if (match_word(&p, "False"))
                h->fortran_order = false;
            else
                return hfail(&p, "fortran_order must be True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape)
                return hfail(&p, "key 'shape' appears twice");
            seen_shape = true;
            if ((e = parse_shape(&p, h)) != 0)
                return e;
        } else {
            return hfail(&p, "unexpected key '%s'", key);
        }
        if (peek(&p, ','))
            p.pos++;
        else if (!peek(&p, '}'))
            return hfail(&p, "expected ',' or '}' after a value");
    }
    p.pos++;
    skip_space(&p);
    if (p.pos != p.n)
        return hfail(&p, "unexpected text after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return hfail(&p, "the dict lacks '%s'",
                     !seen_descr     ? "descr"
                     : !seen_fortran ? "fortran_order"
                                     : "shape");
    return 0;
}

/* ------------------------------------------------------------ file I/O */

static weft_err pread_full(int fd, const char *path, void *buf, size_t n,
                           uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return npy_sys(path, "read");
        if (r == 0)
            return npy_fail(WEFT_EINVAL, path,
                            "file ends at byte %llu, before the data the "
                            "header describes (truncated?)",
                            (unsigned long long)off);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static weft_err pwrite_full(int fd, const char *path, const void *buf, size_t n,
                            uint64_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return npy_sys(path, "write");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Read and parse the header of the open file fd. */
static weft_err read_header_fd(int fd, const char *path, wf_npy_header *h)
{
    memset(h, 0, sizeof *h);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return npy_sys(path, "stat");
    if (!S_ISREG(st.st_mode))
        return npy_fail(WEFT_EINVAL, path, "not a regular file");
    unsigned char pre[12];
    uint64_t size = (uint64_t)st.st_size;
    if (size < 10)
        return npy_fail(WEFT_EINVAL, path,
                        "not a .npy file (%llu bytes, shorter than the "
                        "magic and header length)",
                        (unsigned long long)size);
    weft_err e = pread_full(fd, path, pre, size >= 12 ? 12 : 10, 0);
    if (e)
        return e;
    if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return npy_fail(WEFT_EINVAL, path,
                        "not a .npy file (no \\x93NUMPY magic)");
    unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return npy_fail(WEFT_EINVAL, path,
                        ".npy format version %u.%u is not supported (1.0, "
                        "2.0, 3.0)",
                        major, minor);
    uint64_t prefix = major == 1 ? 10 : 12, hlen;
    if (major == 1)
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    else if (size < 12)
        return npy_fail(WEFT_EINVAL, path, "file ends inside the header");
    else
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 |
               (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return npy_fail(WEFT_EINVAL, path,
                        "header length %llu is over weft's limit of %u bytes",
                        (unsigned long long)hlen, NPY_MAX_HEADER);
    if (prefix + hlen > size)
        return npy_fail(WEFT_EINVAL, path,
                        "header of %llu bytes runs past the end of the file "
                        "(%llu bytes)",
                        (unsigned long long)hlen, (unsigned long long)size);
    char *text = wf_alloc(hlen ? (size_t)hlen : 1);
    if (text == NULL)
        return npy_fail(WEFT_ENOMEM, path, "out of memory for the header");
    e = pread_full(fd, path, text, (size_t)hlen, prefix);
    if (e == 0)
        e = parse_header(path, text, (size_t)hlen, h);
    wf_free(text);
    if (e)
        return e;
    h->data_offset = prefix + hlen;
    uint64_t need;
    char sh[200];
    if (!data_bytes(h->dtype, h->ndim, h->shape, &need))
        return npy_fail(WEFT_EINVAL, path,
                        "shape %s of %s is too large (over 2^63 bytes)",
                        shape_str(sh, sizeof sh, h->ndim, h->shape),
                        wf_dtype_name(h->dtype));
    if (size - h->data_offset < need)
        return npy_fail(WEFT_EINVAL, path,
                        "data section is %llu bytes but shape %s of %s "
                        "needs %llu (truncated?)",
                        (unsigned long long)(size - h->data_offset),
                        shape_str(sh, sizeof sh, h->ndim, h->shape),
                        wf_dtype_name(h->dtype), (unsigned long long)need);
    return 0;
}

static weft_err open_file(const char *path, int flags, int *fd)
{
    if (path == NULL) {
        wf_nd_seterr("npy: NULL path");
        return WEFT_EINVAL;
    }
    *fd = open(path, flags | O_CLOEXEC, 0644);
    if (*fd < 0)
        return npy_sys(path, "cannot open");
    return 0;
}

weft_err wf_npy_read_header(const char *path, wf_npy_header *h)
{
    int fd;
    weft_err e = open_file(path, O_RDONLY, &fd);
    if (e) {
        memset(h, 0, sizeof *h);
        return e;
    }
    e = read_header_fd(fd, path, h);
    close(fd);
    return e;
}

/* numpy's header for dt and shape into buf (room for 512 bytes); returns
 * its whole length (prefix, dict, padding, newline). */
static size_t build_header(char *buf, weft_dtype dt, uint32_t ndim,
                           const int64_t *shape)
{
    char sh[200], dict[400];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       npy_descr(dt), shape_str(sh, sizeof sh, ndim, shape));
    if (ndim > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++)
            dict[len++] = ' ';
    }
    /* Version 1.0 unless the header needs 4 length bytes (never with at
     * most 8 axes, but that is numpy's rule). */
    size_t prefix = 10, hlen = (size_t)len + 1;
    size_t total = (prefix + hlen + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    int major = 1;
    if (total - prefix > 65535) {
        prefix = 12;
        total = (prefix + hlen + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
        major = 2;
    }
    size_t field = total - prefix;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = (char)major;
    buf[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++)
        buf[8 + i] = (char)(field >> (8 * i));
    memcpy(buf + prefix, dict, (size_t)len);
    memset(buf + prefix + len, ' ', total - prefix - (size_t)len - 1);
    buf[total - 1] = '\n';
    return total;
}

/* Check dt and shape for writing; the data's size into *bytes. */
static weft_err check_new(const char *path, weft_dtype dt, uint32_t ndim,
                          const int64_t *shape, uint64_t *bytes)
{
    if (path == NULL) {
        wf_nd_seterr("npy: NULL path");
        return WEFT_EINVAL;
    }
    if (npy_descr(dt) == NULL)
        return npy_fail(WEFT_EINVAL, path, "unknown dtype %d", (int)dt);
    if (ndim > WEFT_MAX_NDIM)
        return npy_fail(WEFT_EINVAL, path, "%u axes, at most %d", ndim,
                        WEFT_MAX_NDIM);
    if (ndim > 0 && shape == NULL)
        return npy_fail(WEFT_EINVAL, path, "NULL shape");
    if (!data_bytes(dt, ndim, shape, bytes)) {
        char sh[200];
        return npy_fail(WEFT_EINVAL, path, "shape %s is negative or too large",
                        shape_str(sh, sizeof sh, ndim, shape));
    }
    return 0;
}

weft_err wf_npy_create(const char *path, weft_dtype dt, uint32_t ndim,
                       const int64_t *shape, wf_npy_header *h)
{
    memset(h, 0, sizeof *h);
    uint64_t bytes;
    weft_err e = check_new(path, dt, ndim, shape, &bytes);
    if (e)
        return e;
    char head[512];
    size_t hl = build_header(head, dt, ndim, shape);
    int fd;
    if ((e = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, &fd)) != 0)
        return e;
    e = pwrite_full(fd, path, head, hl, 0);
    if (e == 0 && ftruncate(fd, (off_t)(hl + bytes)) != 0)
        e = npy_sys(path, "ftruncate");
    if (close(fd) != 0 && e == 0)
        e = npy_sys(path, "close");
    if (e)
        return e;
    h->dtype = dt;
    h->ndim = ndim;
    for (uint32_t d = 0; d < ndim; d++)
        h->shape[d] = shape[d];
    h->fortran_order = false;
    h->data_offset = hl;
    return 0;
}

/* ------------------------------------------------------------ blocks */

/* The box (origin, shape) of h's array as runs contiguous in the file:
 * axes >= axis are in each run, the odometer walks the axes before it. */
typedef struct npy_runs {
    uint32_t ndim, axis;
    int64_t stride[WEFT_MAX_NDIM]; /* file strides in elements */
    int64_t idx[WEFT_MAX_NDIM];    /* position of the current run */
    int64_t run;                   /* elements per run */
} npy_runs;

static weft_err check_box(const char *path, const char *who,
                          const wf_npy_header *h, const int64_t *origin,
                          const int64_t *shape)
{
    if (npy_descr(h->dtype) == NULL || h->ndim > WEFT_MAX_NDIM)
        return npy_fail(WEFT_EINVAL, path,
                        "%s: bad header (dtype %d, %u "
                        "axes)",
                        who, (int)h->dtype, h->ndim);
    if (h->fortran_order && h->ndim > 1) /* 0-d and 1-d: the same bytes */
        return npy_fail(WEFT_EINVAL, path,
                        "%s: the file is in Fortran order; blocks need C "
                        "order (load it whole with wf_npy_load)",
                        who);
    if (h->ndim > 0 && (origin == NULL || shape == NULL))
        return npy_fail(WEFT_EINVAL, path, "%s: NULL origin or shape", who);
    for (uint32_t d = 0; d < h->ndim; d++)
        if (origin[d] < 0 || shape[d] < 0 || origin[d] > h->shape[d] ||
            shape[d] > h->shape[d] - origin[d])
            return npy_fail(WEFT_EINVAL, path,
                            "%s: box of %lld at %lld on axis %u lies outside "
                            "the file's length %lld",
                            who, (long long)shape[d], (long long)origin[d], d,
                            (long long)h->shape[d]);
    return 0;
}

static void runs_init(npy_runs *r, const wf_npy_header *h, const int64_t *shape)
{
    memset(r, 0, sizeof *r);
    r->ndim = h->ndim;
    int64_t s = 1;
    for (uint32_t d = h->ndim; d-- > 0;) {
        r->stride[d] = s;
        s *= h->shape[d];
    }
    uint32_t t = h->ndim ? h->ndim - 1 : 0;
    while (t > 0 && shape[t] == h->shape[t])
        t--;
    r->axis = t;
    r->run = 1;
    for (uint32_t d = t; d < h->ndim; d++)
        r->run *= shape[d];
}

/* Byte offset of the current run in the file. */
static uint64_t runs_offset(const npy_runs *r, const wf_npy_header *h,
                            const int64_t *origin)
{
    uint64_t flat = 0;
    for (uint32_t d = 0; d < r->ndim; d++)
        flat += (uint64_t)((origin[d] + r->idx[d]) * r->stride[d]);
    return h->data_offset + flat * weft_dtype_size(h->dtype);
}

static void runs_next(npy_runs *r, const int64_t *shape)
{
    for (uint32_t d = r->axis; d-- > 0;) {
        if (++r->idx[d] < shape[d])
            return;
        r->idx[d] = 0;
    }
}

static int64_t box_size(uint32_t ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

/* Bool bytes other than 0 and 1 (a damaged or foreign file) become 1. */
static void fix_bools(wf_nd *a)
{
    if (a->dtype != WEFT_DT_BOOL)
        return;
    uint8_t *p = a->data;
    size_t n = wf_nd_bytes(a);
    for (size_t i = 0; i < n; i++)
        p[i] = p[i] != 0;
}

weft_err wf_npy_read_block(const char *path, const wf_npy_header *h,
                           const int64_t *origin, const int64_t *shape,
                           wf_nd *out)
{
    memset(out, 0, sizeof *out);
    if (path == NULL || h == NULL) {
        wf_nd_seterr("npy read_block: NULL path or header");
        return WEFT_EINVAL;
    }
    weft_err e = check_box(path, "read_block", h, origin, shape);
    if (e)
        return e;
    if ((e = wf_nd_alloc(out, h->dtype, h->ndim, shape, false)) != 0)
        return e;
    int64_t n = box_size(h->ndim, shape);
    if (n == 0)
        return 0;
    int fd;
    if ((e = open_file(path, O_RDONLY, &fd)) != 0)
        goto fail;
    npy_runs r;
    runs_init(&r, h, shape);
    size_t isz = weft_dtype_size(h->dtype), run_bytes = (size_t)r.run * isz;
    char *dst = out->data;
    for (int64_t done = 0; done < n && e == 0; done += r.run) {
        e = pread_full(fd, path, dst + (size_t)done * isz, run_bytes,
                       runs_offset(&r, h, origin));
        runs_next(&r, shape);
    }
    close(fd);
    if (e)
        goto fail;
    fix_bools(out);
    return 0;
fail:
    wf_nd_free(out);
    return e;
}

static bool is_float(weft_dtype dt)
{
    return dt == WEFT_DT_F64 || dt == WEFT_DT_F32;
}

static double load_f(const void *p, weft_dtype dt, size_t i)
{
    return dt == WEFT_DT_F64 ? ((const double *)p)[i]
                             : (double)((const float *)p)[i];
}

static int64_t load_i(const void *p, weft_dtype dt, size_t i)
{
    switch (dt) {
    case WEFT_DT_I64:
        return ((const int64_t *)p)[i];
    case WEFT_DT_I32:
        return ((const int32_t *)p)[i];
    case WEFT_DT_BOOL:
        return ((const uint8_t *)p)[i] != 0;
    default:
        return ((const uint8_t *)p)[i];
    }
}

/* Float to integer as numpy's astype on x86: truncate toward zero; NaN
 * and values out of the type's range give its minimum. */
static int64_t f_to_i64(double x)
{
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)x;
}

static int32_t f_to_i32(double x)
{
    if (!(x > -2147483649.0 && x < 2147483648.0))
        return INT32_MIN;
    return (int32_t)x;
}

/* dst[i] = src[i] converted as wf_nd_astype, for i < n. */
static void convert(void *dst, weft_dtype dd, const void *src, weft_dtype sd,
                    size_t n)
{
    bool sf = is_float(sd);
    for (size_t i = 0; i < n; i++) {
        double f = sf ? load_f(src, sd, i) : 0;
        int64_t v = sf ? 0 : load_i(src, sd, i);
        switch (dd) {
        case WEFT_DT_F64:
            ((double *)dst)[i] = sf ? f : (double)v;
            break;
        case WEFT_DT_F32:
            ((float *)dst)[i] = sf ? (float)f : (float)v;
            break;
        case WEFT_DT_I64:
            ((int64_t *)dst)[i] = sf ? f_to_i64(f) : v;
            break;
        case WEFT_DT_I32:
            ((int32_t *)dst)[i] = sf ? f_to_i32(f) : (int32_t)(uint32_t)v;
            break;
        case WEFT_DT_U8:
            ((uint8_t *)dst)[i] =
                (uint8_t)(sf ? (uint64_t)f_to_i64(f) : (uint64_t)v);
            break;
        case WEFT_DT_BOOL:
            ((uint8_t *)dst)[i] = sf ? f != 0 : v != 0;
            break;
        }
    }
}

weft_err wf_npy_write_block(const char *path, const wf_npy_header *h,
                            const int64_t *origin, const wf_nd *block)
{
    if (path == NULL || h == NULL || block == NULL) {
        wf_nd_seterr("npy write_block: NULL path, header or block");
        return WEFT_EINVAL;
    }
    if (block->ndim != h->ndim)
        return npy_fail(WEFT_EINVAL, path,
                        "write_block: block has %u axes, the file %u",
                        block->ndim, h->ndim);
    weft_err e = check_box(path, "write_block", h, origin, block->shape);
    if (e)
        return e;
    if (npy_descr(block->dtype) == NULL)
        return npy_fail(WEFT_EINVAL, path, "write_block: unknown dtype %d",
                        (int)block->dtype);
    int64_t n = box_size(h->ndim, block->shape);
    if (n == 0)
        return 0;
    if (block->data == NULL)
        return npy_fail(WEFT_EINVAL, path, "write_block: block has no data");
    int fd;
    if ((e = open_file(path, O_WRONLY, &fd)) != 0)
        return e;
    npy_runs r;
    runs_init(&r, h, block->shape);
    size_t isz = weft_dtype_size(h->dtype);
    size_t bsz = weft_dtype_size(block->dtype);
    bool same = block->dtype == h->dtype;
    char *tmp = NULL;
    if (!same && (tmp = wf_alloc(NPY_CONVERT_BATCH * 8)) == NULL) {
        close(fd);
        return npy_fail(WEFT_ENOMEM, path, "write_block: out of memory");
    }
    const char *src = block->data;
    for (int64_t done = 0; done < n && e == 0; done += r.run) {
        uint64_t off = runs_offset(&r, h, origin);
        const char *from = src + (size_t)done * bsz;
        if (same) {
            e = pwrite_full(fd, path, from, (size_t)r.run * isz, off);
        } else {
            for (int64_t k = 0; k < r.run && e == 0; k += NPY_CONVERT_BATCH) {
                size_t m =
                    (size_t)(r.run - k < NPY_CONVERT_BATCH ? r.run - k
                                                           : NPY_CONVERT_BATCH);
                convert(tmp, h->dtype, from + (size_t)k * bsz, block->dtype, m);
                e = pwrite_full(fd, path, tmp, m * isz,
                                off + (uint64_t)k * isz);
            }
        }
        runs_next(&r, block->shape);
    }
    wf_free(tmp);
    if (close(fd) != 0 && e == 0)
        e = npy_sys(path, "close");
    return e;
}

/* ------------------------------------------------------------ whole files */

/* out (C order) = the Fortran-order data src of out's shape. */
static void from_fortran(wf_nd *out, const char *src)
{
    uint32_t nd = out->ndim;
    size_t isz = weft_dtype_size(out->dtype);
    int64_t fstride[WEFT_MAX_NDIM], idx[WEFT_MAX_NDIM] = {0};
    int64_t s = 1;
    for (uint32_t d = 0; d < nd; d++) {
        fstride[d] = s;
        s *= out->shape[d];
    }
    int64_t n = wf_nd_size(out);
    char *dst = out->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (uint32_t d = 0; d < nd; d++)
            off += idx[d] * fstride[d];
        memcpy(dst + (size_t)i * isz, src + (size_t)off * isz, isz);
        for (uint32_t d = nd; d-- > 0;) {
            if (++idx[d] < out->shape[d])
                break;
            idx[d] = 0;
        }
    }
}

weft_err wf_npy_load(const char *path, wf_nd *out)
{
    memset(out, 0, sizeof *out);
    int fd;
    weft_err e = open_file(path, O_RDONLY, &fd);
    if (e)
        return e;
    wf_npy_header h;
    char *tmp = NULL;
    if ((e = read_header_fd(fd, path, &h)) != 0 ||
        (e = wf_nd_alloc(out, h.dtype, h.ndim, h.shape, false)) != 0)
        goto done;
    size_t bytes = wf_nd_bytes(out);
    if (bytes == 0)
        goto done;
    if (!h.fortran_order || h.ndim < 2) {
        e = pread_full(fd, path, out->data, bytes, h.data_offset);
    } else if ((tmp = wf_alloc(bytes)) == NULL) {
        e = npy_fail(WEFT_ENOMEM, path, "out of memory (%zu bytes)", bytes);
    } else if ((e = pread_full(fd, path, tmp, bytes, h.data_offset)) == 0) {
        from_fortran(out, tmp);
    }
    if (e == 0)
        fix_bools(out);
done:
    close(fd);
    wf_free(tmp);
    if (e)
        wf_nd_free(out);
    return e;
}

weft_err wf_npy_save(const char *path, const wf_nd *a)
{
    if (a == NULL) {
        wf_nd_seterr("npy save: NULL array");
        return WEFT_EINVAL;
    }
    uint64_t bytes;
    weft_err e = check_new(path, a->dtype, a->ndim, a->shape, &bytes);
    if (e)
        return e;
    if (bytes > 0 && a->data == NULL)
        return npy_fail(WEFT_EINVAL, path, "save: array has no data");
    char head[512];
    size_t hl = build_header(head, a->dtype, a->ndim, a->shape);
    int fd;
    if ((e = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, &fd)) != 0)
        return e;
    e = pwrite_full(fd, path, head, hl, 0);
    if (e == 0 && bytes > 0)
        e = pwrite_full(fd, path, a->data, (size_t)bytes, hl);
    if (close(fd) != 0 && e == 0)
        e = npy_sys(path, "close");
    return e;
}
