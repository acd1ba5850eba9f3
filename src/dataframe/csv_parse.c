/* CSV partition parser: reads one partition's bytes in large chunks and
 * turns its rows into typed columns.
 *
 * The hot loop parses each row optimistically: field by field in file
 * order, a typed parser reads the value straight from the buffer (digits,
 * a date, or a string copied 16 bytes at a time while SSE2 looks for the
 * delimiter, newline, CR or quote) and checks that the byte after it ends
 * the field. Anything unusual (a quote, a lone CR, a bad value, a null
 * marker, the end of the buffer) sends just that row to the general path:
 * csv_tokenize splits it per RFC 4180 and each field is converted from its
 * span, with a precise error when it does not fit. A row is committed only
 * when all its fields are stored (values are written at row index r and r
 * advances at the end), so abandoning a row half way costs nothing.
 *
 * The buffer holds [base, base + len) of the file followed by a NUL and
 * CSV_PAD zero bytes, so the fast parsers need no bounds checks: the NUL
 * stops every one of them and sends the row to the general path, which
 * knows whether the file goes on (read more, keeping the partial row) or
 * has ended.
 *
 * Measured on the 400 MB patient set (bench/csv.c): pread in 1 MiB chunks
 * (256 KiB to 4 MiB are within noise) keeps the input in L2; reading with
 * mmap would save the copy (~5%) but needs the file's last bytes copied
 * anyway for the sentinel. The output columns are about twice the input's
 * size and are written once, so the large ones (and the read buffer) are
 * allocated on 2 MiB boundaries, whole, on huge pages: with 4 KiB faults
 * the parse ran at a third of the speed on this project's VMs, and even the
 * unaligned ends of advised buffers cost a third of the rest. Eight-byte SWAR
 * digit parsing was tried and was slower than the byte loops, whose exits the
 * branch predictor speculates past. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataframe/csv_conv.h"
#include "dataframe/csv_int.h"
#include "graph/graph.h"

#define CSV_CHUNK (1u << 20) /* bytes read at a time */

/* ------------------------------------------------------------ helpers */

void csv_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void csv_quote_text(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0, max = outlen > 48 ? 40 : outlen / 2;
    if (outlen < 8) {
        if (outlen)
            out[0] = 0;
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c == '\n' || c == '\r' || c < 32 ? '?' : (char)c;
    }
    if (n > max) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = 0;
}

double csv_strtod(const char *s, size_t n)
{
    char small[128];
    char *b = n < sizeof small ? small : malloc(n + 1);
    if (b == NULL)
        return 0; /* cannot happen for real fields: they are short */
    memcpy(b, s, n);
    b[n] = 0;
    double v = strtod(b, NULL);
    if (b != small)
        free(b);
    return v;
}

weft_err csv_open(const char *path, int *fd, uint64_t *size, char *err,
                  size_t errlen)
{
    int f = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (f < 0) {
        csv_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return WEFT_EIO;
    }
    if (fstat(f, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        csv_errf(err, errlen, "cannot read %s: %s", path,
                 S_ISDIR(sb.st_mode) ? "is a directory" : strerror(errno));
        close(f);
        return WEFT_EIO;
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return WEFT_OK;
}

long long csv_pread_full(int fd, char *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

uint64_t csv_line_of(int fd, uint64_t off)
{
    char *b = malloc(CSV_CHUNK);
    uint64_t line = 1, at = 0;
    if (b == NULL)
        return 0;
    while (at < off) {
        size_t want = off - at < CSV_CHUNK ? (size_t)(off - at) : CSV_CHUNK;
        long long r = csv_pread_full(fd, b, want, at);
        if (r <= 0) {
            line = r < 0 ? 0 : line;
            break;
        }
        for (const char *p = b, *e = b + r;
             (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
            line++;
        at += (uint64_t)r;
    }
    free(b);
    return line;
}

/* --------------------------------------------------------- span parsers */

int csv_parse_i64(const char *s, size_t n, int64_t *out)
{
    int st;
    const char *q = csv_i64_prefix(s, out, &st);
    return st == CSV_RANGE && q == s + n ? CSV_RANGE
           : st == CSV_OK && q == s + n  ? CSV_OK
                                         : CSV_BAD;
}

/* inf, infinity, nan (any case, optional sign) as the whole of s[0..n). */
static bool parse_special(const char *s, size_t n, double *out)
{
    bool neg = n > 0 && s[0] == '-';
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    if ((n == 3 && strncasecmp(s, "inf", 3) == 0) ||
        (n == 8 && strncasecmp(s, "infinity", 8) == 0)) {
        *out = neg ? -__builtin_inf() : __builtin_inf();
        return true;
    }
    if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
        *out = __builtin_nan("");
        return true;
    }
    return false;
}

int csv_parse_f64(const char *s, size_t n, double *out)
{
    int st;
    bool slow;
    const char *q = csv_f64_prefix(s, out, &st, &slow);
    if (st != CSV_OK || q != s + n)
        return parse_special(s, n, out) ? CSV_OK : CSV_BAD;
    if (slow)
        *out = csv_strtod(s, n);
    return CSV_OK;
}

int csv_parse_date(const char *s, size_t n, int64_t *out)
{
    const char *q = n >= 10 ? csv_date_prefix(s, out) : NULL;
    return q == s + n && q != NULL ? CSV_OK : CSV_BAD;
}

int csv_parse_ts(const char *s, size_t n, int64_t *out)
{
    const char *q = n >= 10 ? csv_ts_prefix(s, out) : NULL;
    return q == s + n && q != NULL ? CSV_OK : CSV_BAD;
}

/* ------------------------------------------------------------ tokeniser */

void csv_tok_free(csv_tok *t)
{
    free(t->f);
    free(t->buf);
    memset(t, 0, sizeof *t);
}

static bool tok_room(csv_tok *t, size_t n)
{
    if (t->blen + n + 1 + CSV_PAD <= t->bcap)
        return true;
    size_t cap = t->bcap ? t->bcap : 256;
    while (cap < t->blen + n + 1 + CSV_PAD)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (b == NULL)
        return false;
    memset(b + t->bcap, 0, cap - t->bcap);
    t->buf = b;
    t->bcap = cap;
    return true;
}

static bool tok_append(csv_tok *t, const char *s, size_t n)
{
    if (!tok_room(t, n))
        return false;
    memcpy(t->buf + t->blen, s, n);
    t->blen += n;
    return true;
}

static bool tok_begin(csv_tok *t)
{
    if (t->nf == t->fcap) {
        size_t cap = t->fcap ? t->fcap * 2 : 16;
        csv_span *f = realloc(t->f, cap * sizeof *f);
        if (f == NULL)
            return false;
        t->f = f;
        t->fcap = cap;
    }
    t->f[t->nf].off = t->blen;
    t->f[t->nf].quoted = false;
    return true;
}

static bool tok_finish(csv_tok *t)
{
    if (!tok_room(t, 0))
        return false;
    csv_span *f = &t->f[t->nf++];
    f->len = t->blen - f->off;
    t->buf[t->blen++] = 0;
    return true;
}

int csv_tokenize(csv_tok *t, const char *p, const char *end, bool eof,
                 char delim, char quote, const char **next)
{
    const char *s = p;
    t->nf = 0;
    t->blen = 0;
    if (s == end) {
        if (!eof)
            return CSV_ROW_MORE;
        *next = end;
        return CSV_ROW_BLANK;
    }
    if (*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n')) {
        *next = s + (*s == '\r' ? 2 : 1);
        return CSV_ROW_BLANK;
    }
    if (*s == '\r' && s + 1 == end) {
        if (!eof)
            return CSV_ROW_MORE;
        *next = end;
        return CSV_ROW_BLANK;
    }
    for (;;) {
        if (!tok_begin(t))
            return CSV_ROW_NOMEM;
        if (quote && s < end && *s == quote) {
            t->f[t->nf].quoted = true;
            s++;
            for (;;) {
                const char *q = memchr(s, quote, (size_t)(end - s));
                if (q == NULL) {
                    t->quote_field = t->nf;
                    return eof ? CSV_ROW_UNTERMINATED : CSV_ROW_MORE;
                }
                if (!tok_append(t, s, (size_t)(q - s)))
                    return CSV_ROW_NOMEM;
                if (q + 1 == end && !eof)
                    return CSV_ROW_MORE;
                if (q + 1 < end && q[1] == quote) {
                    if (!tok_append(t, q, 1))
                        return CSV_ROW_NOMEM;
                    s = q + 2;
                    continue;
                }
                s = q + 1;
                break;
            }
        }
        /* unquoted text, or what follows a closing quote */
        for (;;) {
            const char *q = csv_find4(s, end, delim, '\n', '\r', '\r');
            if (!tok_append(t, s, (size_t)(q - s)))
                return CSV_ROW_NOMEM;
            s = q;
            if (s == end) {
                if (!eof)
                    return CSV_ROW_MORE;
                if (!tok_finish(t))
                    return CSV_ROW_NOMEM;
                *next = end;
                return CSV_ROW_OK;
            }
            if (*s == delim)
                break;
            if (*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n') ||
                (*s == '\r' && s + 1 == end && eof)) {
                if (!tok_finish(t))
                    return CSV_ROW_NOMEM;
                *next = s + (*s == '\n' ? 1 : s + 1 == end ? 1 : 2);
                return CSV_ROW_OK;
            }
            if (s + 1 == end)
                return CSV_ROW_MORE;  /* a CR that may start a CRLF */
            if (!tok_append(t, s, 1)) /* a lone CR is data */
                return CSV_ROW_NOMEM;
            s++;
        }
        if (!tok_finish(t))
            return CSV_ROW_NOMEM;
        s++; /* the delimiter */
    }
}

/* ---------------------------------------------------- partition parser */

enum { K_SKIP, K_I64, K_F64, K_BOOL, K_STR, K_DATE, K_TS };

typedef struct parser {
    const wf_csv_plan *pl;
    const char *path;
    int fd;
    uint64_t fsize;
    char *buf; /* bufcap bytes + 1 + CSV_PAD */
    size_t bufcap, len;
    uint64_t base; /* file offset of buf[0] */
    bool eof;      /* base + len == fsize */
    uint8_t *kind; /* per field */
    size_t *colof; /* per field: output column (kind != K_SKIP) */
    wf_column *cols;
    size_t ncols, nrows, cap;
    char delim, quote, qc; /* qc: the quote, or delim when quoting is off */
    const char *marker;
    size_t mlen;
    csv_tok tok;
    wf_csv_stats st;
    char *err;
    size_t errlen;
} parser;

static const char stop_byte[CSV_PAD + 1]; /* "not a terminator" */

static weft_err grow_rows(parser *ps)
{
    size_t ncap = ps->cap * 2;
    for (size_t j = 0; j < ps->ncols; j++) {
        wf_column *c = &ps->cols[j];
        size_t old = c->cap;
        c->len = ps->nrows;
        if (wf_col_reserve(c, ncap, 0) != WEFT_OK)
            return WEFT_ENOMEM;
        if (c->valid != NULL)
            memset(c->valid + old, 1, c->cap - old);
    }
    ps->cap = ncap;
    return WEFT_OK;
}

/* Mark row r of c null, giving c its validity bytes on its first null
 * (all present up to cap). false: out of memory. */
static __attribute__((noinline)) bool set_null(wf_column *c, size_t r)
{
    if (c->valid == NULL && wf_col_make_nullable(c) != WEFT_OK)
        return false;
    c->valid[r] = 0;
    return true;
}

/* Room in c->chars for `need` more bytes after `at`. */
static __attribute__((noinline)) bool grow_chars(wf_column *c, size_t at,
                                                 size_t need)
{
    size_t cap = c->chars_cap ? c->chars_cap : 256;
    while (cap < at + need)
        cap *= 2;
    char *p = realloc(c->chars, cap);
    if (p == NULL)
        return false;
    c->chars = p;
    c->chars_cap = cap;
    return true;
}

/* Copy the string field at p into row r of c; returns its end (the byte
 * that ended it) or stop_byte. */
static inline __attribute__((always_inline)) const char *
fast_str(parser *ps, wf_column *c, size_t r, const char *p, const char *end)
{
    size_t at = (size_t)c->offs[r];
    const char *s = p;
#if defined(__SSE2__)
    const __m128i vd = _mm_set1_epi8(ps->delim), vn = _mm_set1_epi8('\n'),
                  vr = _mm_set1_epi8('\r'), vq = _mm_set1_epi8(ps->qc);
    size_t n = 0;
    for (;;) {
        if (at + n + 16 > c->chars_cap && !grow_chars(c, at, n + 16))
            return stop_byte;
        __m128i x = _mm_loadu_si128((const __m128i *)s);
        _mm_storeu_si128((__m128i *)(c->chars + at + n), x);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, vd), _mm_cmpeq_epi8(x, vn)),
            _mm_or_si128(_mm_cmpeq_epi8(x, vr), _mm_cmpeq_epi8(x, vq)));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask) {
            unsigned k = (unsigned)__builtin_ctz(mask);
            s += k;
            n += k;
            break;
        }
        s += 16;
        n += 16;
        if (s >= end)
            return stop_byte;
    }
#else
    const char *q = csv_find4(s, end, ps->delim, '\n', '\r', ps->qc);
    size_t n = (size_t)(q - s);
    if (q == end)
        return stop_byte;
    if (at + n > c->chars_cap && !grow_chars(c, at, n))
        return stop_byte;
    memcpy(c->chars + at, s, n);
    s = q;
#endif
    if (*s == ps->quote && ps->quote)
        return stop_byte;
    if (n == 0 || (ps->mlen == n && memcmp(p, ps->marker, n) == 0)) {
        if (!set_null(c, r))
            return stop_byte;
        n = 0;
    }
    c->offs[r + 1] = (int64_t)(at + n);
    return s;
}

/* A typed value did not parse at p: when the field is empty (p ends it),
 * row r of c is null (value zero) and p is returned; anything else, such
 * as the sentinel at the end of the buffer or a value the general path
 * must judge, returns stop_byte without touching c, so a column with no
 * nulls never gets validity bytes. */
static inline const char *empty_field(parser *ps, wf_column *c, size_t r,
                                      const char *p)
{
    if (*p != ps->delim && *p != '\n' && *p != '\r')
        return stop_byte;
    if (c->type == WF_COL_BOOL)
        c->v.b[r] = 0;
    else if (c->type == WF_COL_F64)
        c->v.f64[r] = 0;
    else
        c->v.i64[r] = 0;
    return set_null(c, r) ? p : stop_byte;
}

/* Parse the field at p of kind into row r of c; returns the byte after the
 * value (the caller checks it ends the field) or stop_byte. An empty field
 * is stored as null and returns p. */
static inline __attribute__((always_inline)) const char *
fast_field(parser *ps, unsigned kind, wf_column *c, size_t r, const char *p,
           const char *end)
{
    int st;
    switch (kind) {
    case K_I64: {
        int64_t v;
        const char *q = csv_i64_prefix(p, &v, &st);
        if (__builtin_expect(st == CSV_OK, 1)) {
            c->v.i64[r] = v;
            return q;
        }
        return st == CSV_BAD ? empty_field(ps, c, r, p) : stop_byte;
    }
    case K_F64: {
        double v;
        bool slow;
        const char *q = csv_f64_prefix(p, &v, &st, &slow);
        if (__builtin_expect(st == CSV_OK, 1)) {
            if (__builtin_expect(slow, 0))
                v = csv_strtod(p, (size_t)(q - p));
            c->v.f64[r] = v;
            return q;
        }
        return empty_field(ps, c, r, p);
    }
    case K_DATE:
    case K_TS: {
        int64_t v;
        const char *q =
            kind == K_DATE ? csv_date_prefix(p, &v) : csv_ts_prefix(p, &v);
        if (__builtin_expect(q != NULL, 1)) {
            c->v.i64[r] = v;
            return q;
        }
        return empty_field(ps, c, r, p);
    }
    case K_BOOL: {
        const char *q = csv_find4(p, end, ps->delim, '\n', '\r', ps->qc);
        uint8_t b = 0;
        if (csv_parse_bool(p, (size_t)(q - p), &b)) {
            c->v.b[r] = b;
            return q;
        }
        return empty_field(ps, c, r, p);
    }
    case K_STR:
        return fast_str(ps, c, r, p, end);
    default: { /* K_SKIP */
        const char *q = csv_find4(p, end, ps->delim, '\n', '\r', ps->qc);
        return q == end || (*q == ps->quote && ps->quote) ? stop_byte : q;
    }
    }
}

/* Message for a row error at row start `row` (buffer pointer); field f
 * (0-based, or SIZE_MAX for the whole row). */
static weft_err row_error(parser *ps, weft_err code, const char *row, size_t f,
                          const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static weft_err row_error(parser *ps, weft_err code, const char *row, size_t f,
                          const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    uint64_t line = csv_line_of(ps->fd, ps->base + (uint64_t)(row - ps->buf));
    if (f == SIZE_MAX)
        csv_errf(ps->err, ps->errlen, "%s:%llu: %s", ps->path,
                 (unsigned long long)line, what);
    else
        csv_errf(ps->err, ps->errlen, "%s:%llu: column %zu (%s): %s", ps->path,
                 (unsigned long long)line, f + 1, ps->pl->field_names[f], what);
    return code;
}

enum { SLOW_ROW, SLOW_SKIP, SLOW_MORE, SLOW_ERR };

static void reset_valid(parser *ps, size_t r)
{
    for (size_t j = 0; j < ps->ncols; j++)
        if (ps->cols[j].valid != NULL)
            ps->cols[j].valid[r] = 1;
}

/* The general path for the row at *pp (row index r): tokenise, check the
 * field count, convert every kept field. SLOW_ROW: stored (commit r);
 * SLOW_SKIP: blank or skipped bad row; SLOW_MORE: need more bytes;
 * SLOW_ERR: *e and the message are set. *pp moves past the row unless
 * MORE or ERR. */
static int row_slow(parser *ps, const char **pp, size_t r, weft_err *e)
{
    const wf_csv_plan *pl = ps->pl;
    const char *row = *pp, *next;
    const char *end = ps->buf + ps->len;
    csv_tok *t = &ps->tok;
    reset_valid(ps, r);
    int rs = csv_tokenize(t, row, end, ps->eof, ps->delim, ps->quote, &next);
    switch (rs) {
    case CSV_ROW_MORE:
        return SLOW_MORE;
    case CSV_ROW_NOMEM:
        *e = WEFT_ENOMEM;
        csv_errf(ps->err, ps->errlen, "%s: out of memory", ps->path);
        return SLOW_ERR;
    case CSV_ROW_BLANK:
        *pp = next;
        return SLOW_SKIP;
    case CSV_ROW_UNTERMINATED:
        if (pl->skip_bad_lines) {
            ps->st.bad_lines++;
            *pp = end;
            return SLOW_SKIP;
        }
        *e = row_error(ps, WEFT_EINVAL, row,
                       t->quote_field < pl->nfields ? t->quote_field : SIZE_MAX,
                       "unterminated quoted field at end of file");
        return SLOW_ERR;
    default:
        break;
    }
    if (t->nf != pl->nfields) {
        if (pl->skip_bad_lines) {
            ps->st.bad_lines++;
            *pp = next;
            return SLOW_SKIP;
        }
        *e = row_error(ps, WEFT_EINVAL, row, SIZE_MAX,
                       "expected %zu fields, found %zu", pl->nfields, t->nf);
        return SLOW_ERR;
    }
    for (size_t f = 0; f < t->nf; f++) {
        unsigned kind = ps->kind[f];
        if (kind == K_SKIP)
            continue;
        wf_column *c = &ps->cols[ps->colof[f]];
        const csv_span *sp = &t->f[f];
        const char *s = t->buf + sp->off;
        size_t n = sp->len;
        bool null = sp->quoted
                        ? n == 0 && kind != K_STR
                        : n == 0 || (ps->marker != NULL && n == ps->mlen &&
                                     memcmp(s, ps->marker, n) == 0);
        int st = CSV_OK;
        if (kind == K_STR) {
            size_t at = (size_t)c->offs[r];
            if (null)
                n = 0;
            if (at + n + 16 > c->chars_cap && !grow_chars(c, at, n + 16)) {
                *e = WEFT_ENOMEM;
                csv_errf(ps->err, ps->errlen, "%s: out of memory", ps->path);
                return SLOW_ERR;
            }
            memcpy(c->chars + at, s, n);
            c->offs[r + 1] = (int64_t)(at + n);
        } else if (null) {
            if (kind == K_BOOL)
                c->v.b[r] = 0;
            else if (kind == K_F64)
                c->v.f64[r] = 0;
            else
                c->v.i64[r] = 0;
        } else if (kind == K_I64) {
            st = csv_parse_i64(s, n, &c->v.i64[r]);
        } else if (kind == K_F64) {
            st = csv_parse_f64(s, n, &c->v.f64[r]);
        } else if (kind == K_BOOL) {
            st = csv_parse_bool(s, n, &c->v.b[r]) ? CSV_OK : CSV_BAD;
        } else if (kind == K_DATE) {
            st = csv_parse_date(s, n, &c->v.i64[r]);
        } else {
            st = csv_parse_ts(s, n, &c->v.i64[r]);
        }
        if (null && !set_null(c, r)) {
            *e = WEFT_ENOMEM;
            csv_errf(ps->err, ps->errlen, "%s: out of memory", ps->path);
            return SLOW_ERR;
        }
        if (st != CSV_OK) {
            if (pl->skip_bad_lines) {
                reset_valid(ps, r);
                ps->st.bad_lines++;
                *pp = next;
                return SLOW_SKIP;
            }
            char txt[64];
            csv_quote_text(s, n, txt, sizeof txt);
            if (st == CSV_RANGE)
                *e = row_error(ps, WEFT_ERANGE, row, f,
                               "number %s is out of range for int64", txt);
            else
                *e = row_error(ps, WEFT_EINVAL, row, f,
                               "cannot parse %s as %s (if the type is wrong, "
                               "give an explicit schema, or a bigger "
                               "sample_rows to infer it)",
                               txt, wf_coltype_name(pl->field_types[f]));
            return SLOW_ERR;
        }
    }
    *pp = next;
    return SLOW_ROW;
}

/* Parse rows starting before lim (a buffer pointer) from *pp. Returns
 * SLOW_MORE when the buffer ran out first, SLOW_SKIP when the next row
 * starts at or after lim, SLOW_ERR on an error. */
static int parse_rows(parser *ps, const char **pp, const char *lim, weft_err *e)
{
    const char *p = *pp;
    const char *end = ps->buf + ps->len;
    const size_t nf = ps->pl->nfields;
    const uint8_t *kind = ps->kind;
    const size_t *colof = ps->colof;
    wf_column *cols = ps->cols;
    const char delim = ps->delim;
    size_t r = ps->nrows;
    int res = SLOW_SKIP;
    while (p < lim) {
        if (__builtin_expect(r == ps->cap, 0)) {
            ps->nrows = r;
            if ((*e = grow_rows(ps)) != WEFT_OK) {
                csv_errf(ps->err, ps->errlen, "%s: out of memory", ps->path);
                res = SLOW_ERR;
                break;
            }
        }
        const char *row = p, *q;
        size_t f = 0;
        for (; f + 1 < nf; f++) {
            unsigned k = kind[f];
            q = fast_field(ps, k, &cols[colof[f]], r, p, end);
            if (*q != delim)
                goto slow;
            p = q + 1;
        }
        q = fast_field(ps, kind[f], &cols[colof[f]], r, p, end);
        if (q == row) /* a blank line (one column): skipped */
            goto slow;
        if (*q == '\n')
            p = q + 1;
        else if (*q == '\r' && q[1] == '\n')
            p = q + 2;
        else
            goto slow;
        r++;
        continue;
    slow:
        p = row;
        int s = row_slow(ps, &p, r, e);
        if (s == SLOW_ROW) {
            r++;
        } else if (s != SLOW_SKIP) {
            res = s;
            break;
        }
    }
    if (res == SLOW_SKIP && p >= end && !(ps->eof && p == end))
        res = SLOW_MORE;
    ps->nrows = r;
    *pp = p;
    return res;
}

/* Keep buf[keep_from..len) and read more after it (growing the buffer if
 * the kept part is over half of it). */
static weft_err refill(parser *ps, size_t keep_from)
{
    size_t keep = ps->len - keep_from;
    if (keep_from > 0)
        memmove(ps->buf, ps->buf + keep_from, keep);
    ps->base += keep_from;
    if (keep > ps->bufcap / 2) {
        size_t ncap = ps->bufcap * 2;
        char *b = realloc(ps->buf, ncap + 1 + CSV_PAD);
        if (b == NULL) {
            csv_errf(ps->err, ps->errlen, "%s: out of memory", ps->path);
            return WEFT_ENOMEM;
        }
        ps->buf = b;
        ps->bufcap = ncap;
    }
    uint64_t at = ps->base + keep;
    size_t want = ps->bufcap - keep;
    if (at + want > ps->fsize)
        want = (size_t)(ps->fsize - at);
    long long got = csv_pread_full(ps->fd, ps->buf + keep, want, at);
    if (got < 0) {
        csv_errf(ps->err, ps->errlen, "cannot read %s: %s", ps->path,
                 strerror(errno));
        return WEFT_EIO;
    }
    ps->len = keep + (size_t)got;
    ps->eof = ps->base + ps->len >= ps->fsize || (size_t)got < want;
    memset(ps->buf + ps->len, 0, 1 + CSV_PAD);
    return WEFT_OK;
}

/* A partition's columns are written once front to back, and faulting
 * them in 4 KiB pages costs more than parsing (on this project's VMs, 2.5x
 * the whole parse). A buffer of 2 MiB or more is therefore allocated on
 * 2 MiB boundaries and rounded up to whole 2 MiB pages, all advised onto
 * transparent huge pages: no part of it is left to 4 KiB faults. Smaller
 * ones come from malloc. Either kind is freed with free() and may be
 * realloc()ed. NULL when out of memory. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *huge_alloc(size_t n)
{
    return n < HUGE_PAGE ? malloc(n) : wg_huge_alloc(n);
}

/* Replace *p (n bytes, contents not needed) with a huge_alloc'd buffer. */
static bool huge_swap(void **p, size_t n)
{
    if (n < HUGE_PAGE)
        return true;
    void *q = huge_alloc(n);
    if (!q)
        return false;
    free(*p);
    *p = q;
    return true;
}

static weft_err setup_columns(parser *ps, size_t est_rows)
{
    const wf_csv_plan *pl = ps->pl;
    ps->ncols = pl->ncols;
    ps->cols = calloc(pl->ncols ? pl->ncols : 1, sizeof *ps->cols);
    ps->kind = calloc(pl->nfields, sizeof *ps->kind);
    ps->colof = calloc(pl->nfields, sizeof *ps->colof);
    if (ps->cols == NULL || ps->kind == NULL || ps->colof == NULL)
        return WEFT_ENOMEM;
    static const uint8_t kind_of[] = {
        [WF_COL_I64] = K_I64, [WF_COL_F64] = K_F64,   [WF_COL_BOOL] = K_BOOL,
        [WF_COL_STR] = K_STR, [WF_COL_DATE] = K_DATE, [WF_COL_TS] = K_TS,
    };
    ps->cap = est_rows < 64 ? 64 : est_rows;
    for (size_t j = 0; j < pl->ncols; j++) {
        size_t f = pl->cols[j];
        wf_coltype t = pl->field_types[f];
        ps->kind[f] = kind_of[t];
        ps->colof[f] = j;
        if (wf_col_init(&ps->cols[j], t, ps->cap) != WEFT_OK)
            return WEFT_ENOMEM;
        double width = pl->field_width ? pl->field_width[f] : 8;
        if (t == WF_COL_STR &&
            !grow_chars(&ps->cols[j], 0,
                        (size_t)((double)ps->cap * (width + 0.5)) + 64))
            return WEFT_ENOMEM;
        wf_column *c = &ps->cols[j];
        bool ok = true;
        if (t == WF_COL_STR) {
            void *o = c->offs, *ch = c->chars;
            ok = huge_swap(&o, (c->cap + 1) * sizeof *c->offs) &&
                 huge_swap(&ch, c->chars_cap);
            c->offs = o;
            c->chars = ch;
            c->offs[0] = 0;
        } else {
            void *v = c->v.i64;
            ok = huge_swap(&v, c->cap * (t == WF_COL_BOOL ? 1 : 8));
            c->v.i64 = v;
        }
        if (!ok)
            return WEFT_ENOMEM;
    }
    return WEFT_OK;
}

static void parser_free(parser *ps)
{
    if (ps->cols != NULL)
        for (size_t j = 0; j < ps->ncols; j++)
            wf_col_free(&ps->cols[j]);
    free(ps->cols);
    free(ps->kind);
    free(ps->colof);
    free(ps->buf);
    csv_tok_free(&ps->tok);
    if (ps->fd >= 0)
        close(ps->fd);
}

/* Move the parsed columns into *out. */
static weft_err make_table(parser *ps, wf_table *out)
{
    for (size_t j = 0; j < ps->ncols; j++) {
        wf_column *c = &ps->cols[j];
        c->len = ps->nrows;
        if (c->valid != NULL && memchr(c->valid, 0, ps->nrows) == NULL) {
            free(c->valid);
            c->valid = NULL;
        }
    }
    for (size_t j = 0; j < ps->ncols; j++)
        if (wf_table_add(out, ps->pl->field_names[ps->pl->cols[j]],
                         &ps->cols[j]) != WEFT_OK)
            return WEFT_ENOMEM;
    return WEFT_OK;
}

weft_err wf_csv_parse_part(const wf_csv_plan *pl, size_t part, wf_table *out,
                           wf_csv_stats *stats, char *err, size_t errlen)
{
    parser ps;
    weft_err e = WEFT_OK;
    memset(&ps, 0, sizeof ps);
    ps.fd = -1;
    wf_table_init(out);
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    if (pl == NULL || part >= pl->nparts) {
        csv_errf(err, errlen, "csv: no partition %zu (the plan has %zu)", part,
                 pl ? pl->nparts : 0);
        return WEFT_EINVAL;
    }
    const wf_csv_part *pt = &pl->parts[part];
    ps.pl = pl;
    ps.path = pl->files[pt->file];
    ps.err = err;
    ps.errlen = errlen;
    ps.delim = pl->delimiter;
    ps.quote = pl->quote;
    ps.qc = pl->quote ? pl->quote : pl->delimiter;
    ps.marker = pl->null_marker;
    ps.mlen = ps.marker ? strlen(ps.marker) : 0;
    if (ps.mlen == 0)
        ps.mlen = SIZE_MAX; /* never matches in fast_str */
    uint64_t span = pt->end - pt->start;
    double est = pl->row_bytes > 0 ? (double)span / pl->row_bytes : 0;
    if ((e = setup_columns(&ps, (size_t)(est * 1.05) + 16)) != WEFT_OK) {
        csv_errf(err, errlen, "%s: out of memory", ps.path);
        goto fail;
    }
    if ((e = csv_open(ps.path, &ps.fd, &ps.fsize, err, errlen)) != WEFT_OK)
        goto fail;
    if (ps.fsize < pt->end) {
        csv_errf(err, errlen, "%s: file shrank to %llu bytes since planning",
                 ps.path, (unsigned long long)ps.fsize);
        e = WEFT_EIO;
        goto fail;
    }
    ps.bufcap = span + 4096 < CSV_CHUNK ? (size_t)span + 4096 : CSV_CHUNK;
    /* a full-size read buffer is made once per partition: one huge page */
    ps.buf = huge_alloc(ps.bufcap == CSV_CHUNK ? HUGE_PAGE
                                               : ps.bufcap + 1 + CSV_PAD);
    if (ps.buf == NULL) {
        e = WEFT_ENOMEM;
        csv_errf(err, errlen, "%s: out of memory", ps.path);
        goto fail;
    }
    ps.base = pt->start;
    ps.len = 0;
    if ((e = refill(&ps, 0)) != WEFT_OK)
        goto fail;
    const char *p = ps.buf;
    for (;;) {
        uint64_t lim_off = pt->end - ps.base;
        const char *lim = lim_off < ps.len ? ps.buf + lim_off : ps.buf + ps.len;
        int s = parse_rows(&ps, &p, lim, &e);
        if (s == SLOW_ERR)
            goto fail;
        if (s == SLOW_MORE && !(ps.eof && p == ps.buf + ps.len)) {
            if (ps.eof) { /* cannot happen: at eof every row completes */
                e = row_error(&ps, WEFT_EINVAL, p, SIZE_MAX,
                              "internal error: row incomplete at eof");
                goto fail;
            }
            if ((e = refill(&ps, (size_t)(p - ps.buf))) != WEFT_OK)
                goto fail;
            p = ps.buf;
            continue;
        }
        break;
    }
    uint64_t stop = ps.base + (uint64_t)(p - ps.buf);
    if (stop != pt->end && !(pt->end == ps.fsize && stop >= ps.fsize)) {
        ps.st.misaligned = true;
        csv_errf(err, errlen,
                 "%s: partition cut at byte %llu falls inside a quoted field "
                 "(the row before it ends at byte %llu); plan again with "
                 "split = WF_CSV_SPLIT_EXACT",
                 ps.path, (unsigned long long)pt->end,
                 (unsigned long long)stop);
        e = WEFT_EINVAL;
        goto fail;
    }
    ps.st.rows = ps.nrows;
    ps.st.bytes = stop - pt->start;
    if ((e = make_table(&ps, out)) != WEFT_OK) {
        csv_errf(err, errlen, "%s: out of memory", ps.path);
        goto fail;
    }
    if (stats != NULL)
        *stats = ps.st;
    parser_free(&ps);
    return WEFT_OK;
fail:
    if (stats != NULL)
        *stats = ps.st;
    parser_free(&ps);
    wf_table_free(out);
    return e;
}
