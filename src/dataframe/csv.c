/* CSV planner: expands paths and globs, reads and checks headers, infers
 * column types from a sample, cuts files into partitions at row
 * boundaries, and serialises plans; also wf_csv_read, the sequential
 * read of a whole plan (see csv.h). */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataframe/csv_conv.h"
#include "dataframe/csv_int.h"

#define WINDOW (256u << 10) /* bytes read around a cut or a sample block */
#define MAX_WINDOW (64u << 20)
#define SAMPLE_BLOCKS 10
#define SAMPLE_REGION (64u << 20) /* the sample spreads over these bytes */
#define CHECK_ROWS 8 /* rows that must tokenise to accept a FAST cut */

void wf_csv_options_defaults(wf_csv_options *o)
{
    memset(o, 0, sizeof *o);
    o->delimiter = ',';
    o->quote = '"';
    o->header = true;
    o->sample_rows = 1000;
    o->partition_bytes = 64u << 20;
}

/* ------------------------------------------------------------ windows */

/* Bytes [off, off + len) of a file, NUL and CSV_PAD zeros after. */
typedef struct window {
    char *b;
    size_t len, cap;
    bool eof; /* the window reaches the end of the file */
} window;

static weft_err window_read(window *w, int fd, uint64_t fsize, uint64_t off,
                            size_t want, const char *path, char *err,
                            size_t errlen)
{
    if (off > fsize)
        off = fsize;
    if (want > fsize - off)
        want = (size_t)(fsize - off);
    if (want + 1 + CSV_PAD > w->cap) {
        char *b = realloc(w->b, want + 1 + CSV_PAD);
        if (b == NULL) {
            csv_errf(err, errlen, "%s: out of memory", path);
            return WEFT_ENOMEM;
        }
        w->b = b;
        w->cap = want + 1 + CSV_PAD;
    }
    long long got = csv_pread_full(fd, w->b, want, off);
    if (got < 0) {
        csv_errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return WEFT_EIO;
    }
    w->len = (size_t)got;
    w->eof = off + w->len >= fsize;
    memset(w->b + w->len, 0, 1 + CSV_PAD);
    return WEFT_OK;
}

/* ------------------------------------------------------------- headers */

typedef struct header {
    size_t n;
    char **names;        /* raw header fields (or NULL without a header) */
    uint64_t data_start; /* first byte after BOM (and header) */
} header;

static void header_free(header *h)
{
    for (size_t i = 0; h->names && i < h->n; i++)
        free(h->names[i]);
    free(h->names);
    memset(h, 0, sizeof *h);
}

/* Forget the names but keep the field count. */
static void drop_names(header *h)
{
    size_t n = h->n;
    header_free(h);
    h->n = n;
}

/* Read the first row of the file (after a BOM and blank lines). With
 * want_names the fields are kept as the header. *empty: no row at all. */
static weft_err read_first_row(int fd, uint64_t fsize, const char *path,
                               const wf_csv_options *o, header *h, bool *empty,
                               char *err, size_t errlen)
{
    window w = {0};
    csv_tok t = {0};
    weft_err e = WEFT_OK;
    size_t want = 64u << 10;
    *empty = false;
    for (;;) {
        if ((e = window_read(&w, fd, fsize, 0, want, path, err, errlen)))
            goto out;
        const char *p = w.b, *end = w.b + w.len, *next;
        if (w.len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3;
        int rs;
        while ((rs = csv_tokenize(&t, p, end, w.eof, o->delimiter, o->quote,
                                  &next)) == CSV_ROW_BLANK &&
               p < end)
            p = next;
        if (rs == CSV_ROW_MORE && !w.eof && want < MAX_WINDOW) {
            want *= 4;
            continue;
        }
        if (rs == CSV_ROW_BLANK || p == end) {
            *empty = true;
            h->data_start = (uint64_t)(p - w.b);
            goto out;
        }
        if (rs == CSV_ROW_UNTERMINATED || rs == CSV_ROW_MORE) {
            csv_errf(err, errlen, "%s:1: %s in the first row", path,
                     rs == CSV_ROW_MORE ? "a row longer than 64 MiB"
                                        : "unterminated quoted field");
            e = WEFT_EINVAL;
            goto out;
        }
        if (rs == CSV_ROW_NOMEM) {
            e = WEFT_ENOMEM;
            csv_errf(err, errlen, "%s: out of memory", path);
            goto out;
        }
        h->n = t.nf;
        h->data_start = (uint64_t)((o->header ? next : p) - w.b);
        h->names = calloc(t.nf, sizeof *h->names);
        if (h->names == NULL) {
            e = WEFT_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < t.nf; i++) {
            h->names[i] = strndup(t.buf + t.f[i].off, t.f[i].len);
            if (h->names[i] == NULL) {
                e = WEFT_ENOMEM;
                csv_errf(err, errlen, "%s: out of memory", path);
                goto out;
            }
        }
        goto out;
    }
out:
    free(w.b);
    csv_tok_free(&t);
    return e;
}

/* Names for the plan's fields: header names made unique and non-empty as
 * pandas does ("Unnamed: i", "a.1"), or column_i without a header. */
static weft_err make_names(wf_csv_plan *pl, const header *h,
                           const wf_csv_options *o)
{
    pl->field_names = calloc(pl->nfields, sizeof *pl->field_names);
    if (pl->field_names == NULL)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < pl->nfields; i++) {
        char tmp[64];
        const char *nm = NULL;
        if (o->header)
            nm = h->names[i];
        else if (i < o->nschema && o->schema[i].name != NULL)
            nm = o->schema[i].name;
        if (nm == NULL || nm[0] == 0) {
            snprintf(tmp, sizeof tmp, o->header ? "Unnamed: %zu" : "column_%zu",
                     o->header ? i : i + 1);
            nm = tmp;
        }
        size_t len = strlen(nm);
        char *name = malloc(len + 24);
        if (name == NULL)
            return WEFT_ENOMEM;
        memcpy(name, nm, len + 1);
        for (unsigned k = 1;; k++) {
            size_t j = 0;
            while (j < i && strcmp(pl->field_names[j], name) != 0)
                j++;
            if (j == i)
                break;
            snprintf(name + len, 24, ".%u", k);
        }
        pl->field_names[i] = name;
    }
    return WEFT_OK;
}

/* ----------------------------------------------------------- inference */

typedef struct infer {
    bool i64, f64, b, date, dt; /* every value so far fits */
    size_t nonnull;
    size_t bytes; /* total value length (string width estimate) */
} infer;

static void infer_value(infer *in, const char *s, size_t n)
{
    int64_t iv;
    double dv;
    uint8_t bv;
    in->nonnull++;
    in->bytes += n;
    if (in->i64 && csv_parse_i64(s, n, &iv) != CSV_OK)
        in->i64 = false;
    if (in->f64 && csv_parse_f64(s, n, &dv) != CSV_OK)
        in->f64 = false;
    if (in->b && !csv_parse_bool(s, n, &bv))
        in->b = false;
    bool date = csv_parse_date(s, n, &iv) == CSV_OK;
    if (!date)
        in->date = false;
    if (in->dt && !date && csv_parse_ts(s, n, &iv) != CSV_OK)
        in->dt = false;
}

static wf_coltype infer_type(const infer *in)
{
    if (in->nonnull == 0)
        return WF_COL_STR;
    if (in->i64)
        return WF_COL_I64;
    if (in->f64)
        return WF_COL_F64;
    if (in->b)
        return WF_COL_BOOL;
    if (in->date)
        return WF_COL_DATE;
    if (in->dt)
        return WF_COL_TS;
    return WF_COL_STR;
}

/* Tokenise up to max rows from p in w; feed each good row to in (when not
 * NULL). Returns rows with nfields fields; *bad counts other rows; *stop
 * is where it stopped; *more: stopped because the window ended. */
static size_t scan_rows(csv_tok *t, const window *w, const char *p, size_t max,
                        size_t nfields, const wf_csv_options *o,
                        const char *marker, infer *in, size_t *bad,
                        const char **stop, bool *more)
{
    const char *end = w->b + w->len, *next;
    size_t good = 0;
    *bad = 0;
    *more = false;
    while (good + *bad < max && p < end) {
        int rs = csv_tokenize(t, p, end, w->eof, o->delimiter, o->quote, &next);
        if (rs == CSV_ROW_BLANK) {
            p = next;
            continue;
        }
        if (rs != CSV_ROW_OK) {
            *more = rs == CSV_ROW_MORE;
            *bad += rs != CSV_ROW_MORE;
            break;
        }
        p = next;
        if (t->nf != nfields) {
            (*bad)++;
            continue;
        }
        good++;
        for (size_t f = 0; in != NULL && f < nfields; f++) {
            const char *s = t->buf + t->f[f].off;
            size_t n = t->f[f].len;
            bool null = n == 0 || (!t->f[f].quoted && marker != NULL &&
                                   strcmp(s, marker) == 0);
            if (!null)
                infer_value(&in[f], s, n);
        }
    }
    *stop = p;
    return good;
}

/* A row start near off: the first line start at or after off from which
 * the next rows tokenise with nfields fields (a guess, checked later by
 * the parser). 0 if none in the window after off. */
static weft_err guess_row_start(int fd, uint64_t fsize, uint64_t off,
                                size_t nfields, const wf_csv_options *o,
                                const char *path, window *w, csv_tok *t,
                                uint64_t *out, char *err, size_t errlen)
{
    weft_err e = window_read(w, fd, fsize, off - 1, WINDOW, path, err, errlen);
    *out = 0;
    if (e)
        return e;
    const char *end = w->b + w->len;
    for (const char *nl = w->b; nl < end;) {
        nl = memchr(nl, '\n', (size_t)(end - nl));
        if (nl == NULL)
            break;
        const char *c = ++nl, *stop;
        if (c == end) {
            if (w->eof)
                *out = off - 1 + (uint64_t)(c - w->b);
            break;
        }
        size_t bad;
        bool more;
        size_t good = scan_rows(t, w, c, CHECK_ROWS, nfields, o, NULL, NULL,
                                &bad, &stop, &more);
        if (bad == 0 && (good == CHECK_ROWS || (good > 0 && more) ||
                         (stop == end && w->eof))) {
            *out = off - 1 + (uint64_t)(c - w->b);
            break;
        }
    }
    return WEFT_OK;
}

/* Infer the types of fields not fixed by the schema (fixed[f] true) from a
 * sample of the first partition of the first file; also the average row
 * length and field widths. */
static weft_err infer_schema(wf_csv_plan *pl, const wf_csv_options *o,
                             const bool *fixed, int fd, uint64_t fsize,
                             uint64_t region_end, char *err, size_t errlen)
{
    const char *path = pl->files[0];
    window w = {0};
    csv_tok t = {0};
    weft_err e = WEFT_OK;
    infer *in = calloc(pl->nfields, sizeof *in);
    if (in == NULL)
        return WEFT_ENOMEM;
    for (size_t f = 0; f < pl->nfields; f++)
        in[f] = (infer){true, true, true, true, true, 0, 0};
    uint64_t ds = pl->data_start[0];
    uint64_t region = region_end > ds ? region_end - ds : 0;
    size_t nblocks =
        region > (uint64_t)SAMPLE_BLOCKS * WINDOW ? SAMPLE_BLOCKS : 1;
    size_t per = (o->sample_rows + nblocks - 1) / nblocks;
    size_t total_rows = 0;
    for (size_t k = 0; k < nblocks && per > 0; k++) {
        uint64_t at = ds;
        if (k > 0) {
            if ((e = guess_row_start(fd, fsize, ds + region / nblocks * k,
                                     pl->nfields, o, path, &w, &t, &at, err,
                                     errlen)))
                goto out;
            if (at == 0)
                continue;
        }
        size_t want =
            nblocks == 1 ? (size_t)(region < (64u << 20) ? region : (64u << 20))
                         : WINDOW;
        for (;;) {
            if ((e = window_read(&w, fd, fsize, at, want, path, err, errlen)))
                goto out;
            const char *stop;
            size_t bad;
            bool more;
            /* a first pass without inference finds out whether a row
             * fits in the window */
            size_t good = scan_rows(&t, &w, w.b, per, pl->nfields, o,
                                    pl->null_marker, NULL, &bad, &stop, &more);
            if (good == 0 && more && want < MAX_WINDOW && !w.eof) {
                want *= 4;
                continue;
            }
            good = scan_rows(&t, &w, w.b, per, pl->nfields, o, pl->null_marker,
                             in, &bad, &stop, &more);
            if (k == 0 && good > 0)
                pl->row_bytes = (double)(stop - w.b) / (double)(good + bad);
            total_rows += good;
            break;
        }
    }
    for (size_t f = 0; f < pl->nfields; f++) {
        if (!fixed[f])
            pl->field_types[f] = infer_type(&in[f]);
        pl->field_width[f] =
            in[f].nonnull ? (float)in[f].bytes / (float)in[f].nonnull : 8;
    }
    (void)total_rows;
out:
    free(in);
    free(w.b);
    csv_tok_free(&t);
    return e;
}

/* --------------------------------------------------------------- cuts */

/* Row starts at or after each target (sorted), found by tracking quotes
 * from `from`; cut[k] = 0 when there is none before the end of the file. */
static weft_err exact_cuts(int fd, uint64_t fsize, uint64_t from,
                           const uint64_t *target, uint64_t *cut, size_t n,
                           const wf_csv_options *o, const char *path, char *err,
                           size_t errlen)
{
    window w = {0};
    weft_err e = WEFT_OK;
    bool inq = false, closed = false, fstart = true;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        cut[i] = 0;
    for (uint64_t at = from; at < fsize && k < n; at += w.len) {
        if ((e = window_read(&w, fd, fsize, at, 1u << 20, path, err, errlen)))
            break;
        if (w.len == 0)
            break;
        for (size_t i = 0; i < w.len && k < n; i++) {
            char c = w.b[i];
            if (inq) {
                if (c == o->quote) {
                    inq = false;
                    closed = true;
                }
                continue;
            }
            if (closed && c == o->quote) { /* a doubled quote */
                inq = true;
                closed = false;
                continue;
            }
            closed = false;
            if (o->quote && c == o->quote && fstart) {
                inq = true;
                fstart = false;
            } else if (c == o->delimiter) {
                fstart = true;
            } else if (c == '\n') {
                fstart = true;
                uint64_t rs = at + i + 1;
                while (k < n && target[k] <= rs)
                    cut[k++] = rs;
            } else {
                fstart = false;
            }
        }
    }
    free(w.b);
    return e;
}

/* Append the partitions of file fi ([ds, fsize) cut near every
 * partition_bytes). */
static weft_err plan_parts(wf_csv_plan *pl, size_t fi, int fd, uint64_t fsize,
                           const wf_csv_options *o, size_t *pcap, char *err,
                           size_t errlen)
{
    uint64_t ds = pl->data_start[fi];
    if (fsize <= ds)
        return WEFT_OK;
    uint64_t span = fsize - ds, pb = o->partition_bytes;
    size_t n = (size_t)((span + pb - 1) / pb);
    uint64_t *target = malloc(n * sizeof *target);
    uint64_t *cut = malloc(n * sizeof *cut);
    window w = {0};
    csv_tok t = {0};
    weft_err e = WEFT_OK;
    if (target == NULL || cut == NULL) {
        e = WEFT_ENOMEM;
        goto out;
    }
    for (size_t k = 1; k < n; k++)
        target[k - 1] = ds + span / n * k;
    if (o->split == WF_CSV_SPLIT_EXACT) {
        e = exact_cuts(fd, fsize, ds, target, cut, n - 1, o, pl->files[fi], err,
                       errlen);
    } else {
        for (size_t k = 0; k + 1 < n && e == WEFT_OK; k++)
            e = guess_row_start(fd, fsize, target[k], pl->nfields, o,
                                pl->files[fi], &w, &t, &cut[k], err, errlen);
    }
    if (e)
        goto out;
    uint64_t start = ds;
    for (size_t k = 0; k < n; k++) {
        uint64_t end = k + 1 < n ? cut[k] : fsize;
        if (end <= start || end > fsize)
            continue; /* no cut found: this partition merges on */
        if (pl->nparts == *pcap) {
            size_t cap = *pcap ? *pcap * 2 : 16;
            wf_csv_part *p = realloc(pl->parts, cap * sizeof *p);
            if (p == NULL) {
                e = WEFT_ENOMEM;
                goto out;
            }
            pl->parts = p;
            *pcap = cap;
        }
        pl->parts[pl->nparts++] = (wf_csv_part){fi, start, end};
        start = end;
    }
out:
    if (e == WEFT_ENOMEM)
        csv_errf(err, errlen, "%s: out of memory", pl->files[fi]);
    free(target);
    free(cut);
    free(w.b);
    csv_tok_free(&t);
    return e;
}

/* --------------------------------------------------------------- paths */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static weft_err add_file(wf_csv_plan *pl, size_t *cap, const char *path)
{
    if (pl->nfiles == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **f = realloc(pl->files, c * sizeof *f);
        if (f == NULL)
            return WEFT_ENOMEM;
        pl->files = f;
        *cap = c;
    }
    if ((pl->files[pl->nfiles] = strdup(path)) == NULL)
        return WEFT_ENOMEM;
    pl->nfiles++;
    return WEFT_OK;
}

/* Why glob gave up (GLOB_ERR): the directory it could not read. */
static _Thread_local char glob_failed[320];

static int glob_error(const char *path, int eno)
{
    snprintf(glob_failed, sizeof glob_failed, "cannot read %s: %s", path,
             strerror(eno));
    return 1;
}

static weft_err expand_paths(wf_csv_plan *pl, const char *const *paths,
                             size_t npaths, char *err, size_t errlen)
{
    size_t cap = 0;
    for (size_t i = 0; i < npaths; i++) {
        const char *pat = paths[i];
        if (pat == NULL || pat[0] == 0) {
            csv_errf(err, errlen, "csv: path %zu is empty", i + 1);
            return WEFT_EINVAL;
        }
        if (strpbrk(pat, "*?[") == NULL) {
            if (add_file(pl, &cap, pat) != WEFT_OK)
                return WEFT_ENOMEM;
            continue;
        }
        glob_t g;
        glob_failed[0] = '\0';
        int r = glob(pat, GLOB_ERR, glob_error, &g);
        if (r == GLOB_NOMATCH || (r == 0 && g.gl_pathc == 0)) {
            if (r == 0)
                globfree(&g);
            csv_errf(err, errlen, "csv: no file matches %s", pat);
            return WEFT_EINVAL;
        }
        if (r != 0) {
            csv_errf(err, errlen, "csv: cannot expand %s: %s", pat,
                     r == GLOB_NOSPACE ? "out of memory"
                     : glob_failed[0]  ? glob_failed
                                       : "read error");
            return r == GLOB_NOSPACE ? WEFT_ENOMEM : WEFT_EIO;
        }
        qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
        for (size_t j = 0; j < g.gl_pathc; j++)
            if (add_file(pl, &cap, g.gl_pathv[j]) != WEFT_OK) {
                globfree(&g);
                return WEFT_ENOMEM;
            }
        globfree(&g);
    }
    if (pl->nfiles == 0) {
        csv_errf(err, errlen, "csv: no files given");
        return WEFT_EINVAL;
    }
    return WEFT_OK;
}

/* ---------------------------------------------------------------- plan */

void wf_csv_plan_free(wf_csv_plan *pl)
{
    if (pl == NULL)
        return;
    for (size_t i = 0; pl->files && i < pl->nfiles; i++)
        free(pl->files[i]);
    for (size_t i = 0; pl->field_names && i < pl->nfields; i++)
        free(pl->field_names[i]);
    free(pl->files);
    free(pl->data_start);
    free(pl->field_names);
    free(pl->field_types);
    free(pl->field_width);
    free(pl->cols);
    free(pl->parts);
    free(pl->null_marker);
    free(pl);
}

static weft_err check_options(const wf_csv_options *o, char *err, size_t errlen)
{
    char d = o->delimiter, q = o->quote;
    if (d == 0 || d == '\n' || d == '\r' || d == q) {
        csv_errf(err, errlen,
                 "csv: bad delimiter (must be one byte, not NUL, a newline "
                 "or the quote)");
        return WEFT_EINVAL;
    }
    if (q == '\n' || q == '\r') {
        csv_errf(err, errlen, "csv: bad quote character (a newline)");
        return WEFT_EINVAL;
    }
    if (o->partition_bytes == 0) {
        csv_errf(err, errlen, "csv: partition_bytes must be > 0");
        return WEFT_EINVAL;
    }
    if (o->nschema > 0 && o->schema == NULL) {
        csv_errf(err, errlen, "csv: nschema > 0 but schema is NULL");
        return WEFT_EINVAL;
    }
    for (size_t i = 0; i < o->nschema; i++) {
        wf_coltype t = o->schema[i].type;
        if (t < WF_COL_I64 || t > WF_COL_TS) {
            csv_errf(err, errlen,
                     "csv: schema entry %zu (%s) has no valid "
                     "type",
                     i + 1, o->schema[i].name ? o->schema[i].name : "?");
            return WEFT_EINVAL;
        }
        if (o->header && o->schema[i].name == NULL) {
            csv_errf(err, errlen,
                     "csv: schema entry %zu has no name (with a "
                     "header, entries name their column)",
                     i + 1);
            return WEFT_EINVAL;
        }
    }
    if (o->ncolumns > 0 && o->columns == NULL) {
        csv_errf(err, errlen, "csv: ncolumns > 0 but columns is NULL");
        return WEFT_EINVAL;
    }
    return WEFT_OK;
}

/* Types from the schema; fixed[f] says which. */
static weft_err apply_schema(wf_csv_plan *pl, const wf_csv_options *o,
                             bool *fixed, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->nschema; i++) {
        size_t f = i;
        if (o->header) {
            for (f = 0; f < pl->nfields; f++)
                if (strcmp(pl->field_names[f], o->schema[i].name) == 0)
                    break;
        }
        if (f >= pl->nfields) {
            if (o->header)
                csv_errf(err, errlen,
                         "%s: schema names column \"%s\", which "
                         "the header does not have",
                         pl->files[0], o->schema[i].name);
            else
                csv_errf(err, errlen,
                         "%s: the schema has %zu entries but "
                         "rows have %zu fields",
                         pl->files[0], o->nschema, pl->nfields);
            return WEFT_EINVAL;
        }
        pl->field_types[f] = o->schema[i].type;
        fixed[f] = true;
    }
    return WEFT_OK;
}

static weft_err apply_projection(wf_csv_plan *pl, const wf_csv_options *o,
                                 char *err, size_t errlen)
{
    pl->ncols = o->ncolumns ? o->ncolumns : pl->nfields;
    pl->cols = calloc(pl->ncols, sizeof *pl->cols);
    if (pl->cols == NULL)
        return WEFT_ENOMEM;
    for (size_t j = 0; j < pl->ncols; j++) {
        if (o->ncolumns == 0) {
            pl->cols[j] = j;
            continue;
        }
        const char *nm = o->columns[j];
        size_t f = 0;
        while (nm != NULL && f < pl->nfields &&
               strcmp(pl->field_names[f], nm) != 0)
            f++;
        if (nm == NULL || f == pl->nfields) {
            csv_errf(err, errlen,
                     "%s: no column \"%s\" to select (columns: ", pl->files[0],
                     nm ? nm : "(null)");
            for (size_t k = 0; k < pl->nfields && err; k++) {
                size_t l = strlen(err);
                snprintf(err + l, errlen > l ? errlen - l : 0, "%s%s",
                         k ? ", " : "", pl->field_names[k]);
            }
            size_t l = err ? strlen(err) : 0;
            if (err && errlen > l)
                snprintf(err + l, errlen - l, ")");
            return WEFT_EINVAL;
        }
        for (size_t k = 0; k < j; k++)
            if (pl->cols[k] == f) {
                csv_errf(err, errlen, "csv: column \"%s\" selected twice", nm);
                return WEFT_EINVAL;
            }
        pl->cols[j] = f;
    }
    return WEFT_OK;
}

/* Check that file fi's header (h) matches the plan's first header (h0). */
static weft_err check_header(const wf_csv_plan *pl, size_t fi, const header *h0,
                             const header *h, char *err, size_t errlen)
{
    if (h->n != h0->n) {
        csv_errf(err, errlen, "%s:1: %s has %zu fields, but %s has %zu",
                 pl->files[fi], h0->names ? "the header" : "the first row",
                 h->n, pl->files[0], h0->n);
        return WEFT_EINVAL;
    }
    for (size_t i = 0; h0->names && i < h->n; i++)
        if (strcmp(h->names[i], h0->names[i]) != 0) {
            csv_errf(err, errlen,
                     "%s:1: column %zu of the header is \"%s\", but in %s "
                     "it is \"%s\"",
                     pl->files[fi], i + 1, h->names[i], pl->files[0],
                     h0->names[i]);
            return WEFT_EINVAL;
        }
    return WEFT_OK;
}

weft_err wf_csv_plan_open(const char *const *paths, size_t npaths,
                          const wf_csv_options *opts, wf_csv_plan **out,
                          char *err, size_t errlen)
{
    wf_csv_options defaults;
    const wf_csv_options *o = opts;
    header h0 = {0}, h = {0};
    bool *fixed = NULL;
    int fd = -1;
    weft_err e;
    size_t pcap = 0;
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    if (o == NULL) {
        wf_csv_options_defaults(&defaults);
        o = &defaults;
    }
    if ((e = check_options(o, err, errlen)) != WEFT_OK)
        return e;
    if (paths == NULL || npaths == 0) {
        csv_errf(err, errlen, "csv: no paths given");
        return WEFT_EINVAL;
    }
    wf_csv_plan *pl = calloc(1, sizeof *pl);
    if (pl == NULL)
        return WEFT_ENOMEM;
    pl->delimiter = o->delimiter;
    pl->quote = o->quote;
    pl->skip_bad_lines = o->skip_bad_lines;
    if (o->null_marker != NULL && o->null_marker[0] != 0 &&
        (pl->null_marker = strdup(o->null_marker)) == NULL)
        goto nomem;
    if ((e = expand_paths(pl, paths, npaths, err, errlen)) != WEFT_OK)
        goto fail;
    if ((pl->data_start = calloc(pl->nfiles, sizeof *pl->data_start)) == NULL)
        goto nomem;
    for (size_t fi = 0; fi < pl->nfiles; fi++) {
        uint64_t fsize;
        bool empty;
        header *hh = fi == 0 ? &h0 : &h;
        if ((e = csv_open(pl->files[fi], &fd, &fsize, err, errlen)))
            goto fail;
        if ((e = read_first_row(fd, fsize, pl->files[fi], o, hh, &empty, err,
                                errlen)))
            goto fail;
        if (empty && (o->header || fi == 0)) {
            csv_errf(err, errlen, "%s: empty file (no %s)", pl->files[fi],
                     o->header ? "header" : "rows");
            e = WEFT_EINVAL;
            goto fail;
        }
        pl->data_start[fi] = hh->data_start;
        if (fi == 0) {
            pl->nfields = h0.n;
            pl->field_types = calloc(pl->nfields, sizeof *pl->field_types);
            pl->field_width = calloc(pl->nfields, sizeof *pl->field_width);
            fixed = calloc(pl->nfields, sizeof *fixed);
            if (pl->field_types == NULL || pl->field_width == NULL ||
                fixed == NULL || make_names(pl, &h0, o) != WEFT_OK)
                goto nomem;
            if ((e = apply_schema(pl, o, fixed, err, errlen)) ||
                (e = apply_projection(pl, o, err, errlen)))
                goto fail;
        } else if (!empty && (e = check_header(pl, fi, &h0, &h, err, errlen))) {
            goto fail;
        }
        if (!o->header)
            drop_names(hh); /* a first row of data, not names */
        if ((e = plan_parts(pl, fi, fd, fsize, o, &pcap, err, errlen)))
            goto fail;
        if (fi == 0) {
            /* the sampled region does not depend on partition_bytes, so
             * every partitioning of a file infers the same types */
            uint64_t region_end = pl->data_start[0] + SAMPLE_REGION;
            if ((e = infer_schema(pl, o, fixed, fd, fsize,
                                  region_end < fsize ? region_end : fsize, err,
                                  errlen)))
                goto fail;
        }
        close(fd);
        fd = -1;
        if (fi > 0)
            header_free(&h);
    }
    header_free(&h0);
    free(fixed);
    *out = pl;
    return WEFT_OK;
nomem:
    e = WEFT_ENOMEM;
    csv_errf(err, errlen, "csv: out of memory");
fail:
    if (fd >= 0)
        close(fd);
    header_free(&h0);
    header_free(&h);
    free(fixed);
    wf_csv_plan_free(pl);
    return e;
}

/* ---------------------------------------------------------------- read */

weft_err wf_csv_read(const char *const *paths, size_t npaths,
                     const wf_csv_options *opts, wf_table *out,
                     wf_csv_stats *stats, char *err, size_t errlen)
{
    wf_csv_options o;
    if (opts != NULL)
        o = *opts;
    else
        wf_csv_options_defaults(&o);
    wf_table_init(out);
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    for (int attempt = 0;; attempt++) {
        wf_csv_plan *pl;
        weft_err e = wf_csv_plan_open(paths, npaths, &o, &pl, err, errlen);
        if (e)
            return e;
        wf_csv_stats sum = {0};
        bool retry = false;
        for (size_t i = 0; i < pl->nparts && e == WEFT_OK; i++) {
            wf_table t;
            wf_csv_stats st;
            e = wf_csv_parse_part(pl, i, &t, &st, err, errlen);
            if (e) {
                retry = st.misaligned && o.split != WF_CSV_SPLIT_EXACT;
                break;
            }
            sum.rows += st.rows;
            sum.bad_lines += st.bad_lines;
            sum.bytes += st.bytes;
            if (i == 0) {
                *out = t;
                continue;
            }
            for (size_t j = 0; j < t.ncols && e == WEFT_OK; j++)
                e = wf_col_append(&out->cols[j], &t.cols[j]);
            out->nrows += t.nrows;
            wf_table_free(&t);
            if (e)
                csv_errf(err, errlen, "csv: out of memory");
        }
        if (e == WEFT_OK && pl->nparts == 0) {
            /* no rows: an empty table with the plan's columns */
            for (size_t j = 0; j < pl->ncols && e == WEFT_OK; j++) {
                wf_column c;
                size_t f = pl->cols[j];
                e = wf_col_init(&c, pl->field_types[f], 0);
                if (e == WEFT_OK &&
                    (e = wf_table_add(out, pl->field_names[f], &c)) != 0)
                    wf_col_free(&c);
            }
        }
        wf_csv_plan_free(pl);
        if (e == WEFT_OK) {
            if (stats != NULL)
                *stats = sum;
            return WEFT_OK;
        }
        wf_table_free(out);
        if (!retry || attempt > 0)
            return e;
        o.split = WF_CSV_SPLIT_EXACT;
    }
}

/* -------------------------------------------------------- serialising */

typedef struct wbuf {
    uint8_t *b;
    size_t len, cap;
    bool fail;
} wbuf;

static void put(wbuf *w, const void *p, size_t n)
{
    if (w->fail)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->b, cap);
        if (b == NULL) {
            w->fail = true;
            return;
        }
        w->b = b;
        w->cap = cap;
    }
    if (n) /* p may be NULL for nothing */
        memcpy(w->b + w->len, p, n);
    w->len += n;
}

static void put_u64(wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 8);
}

static void put_str(wbuf *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u64(w, s ? n : UINT64_MAX);
    put(w, s, n);
}

static const char plan_magic[8] = "WFCSVP1";

weft_err wf_csv_plan_encode(const wf_csv_plan *pl, uint8_t **buf, size_t *len)
{
    wbuf w = {0};
    put(&w, plan_magic, 8);
    put_u64(&w, (uint8_t)pl->delimiter | (uint64_t)(uint8_t)pl->quote << 8 |
                    (uint64_t)pl->skip_bad_lines << 16);
    put_str(&w, pl->null_marker);
    uint64_t rb;
    memcpy(&rb, &pl->row_bytes, 8);
    put_u64(&w, rb);
    put_u64(&w, pl->nfiles);
    for (size_t i = 0; i < pl->nfiles; i++) {
        put_str(&w, pl->files[i]);
        put_u64(&w, pl->data_start[i]);
    }
    put_u64(&w, pl->nfields);
    for (size_t f = 0; f < pl->nfields; f++) {
        uint32_t fw;
        memcpy(&fw, &pl->field_width[f], 4);
        put_str(&w, pl->field_names[f]);
        put_u64(&w, (uint64_t)pl->field_types[f] | (uint64_t)fw << 32);
    }
    put_u64(&w, pl->ncols);
    for (size_t j = 0; j < pl->ncols; j++)
        put_u64(&w, pl->cols[j]);
    put_u64(&w, pl->nparts);
    for (size_t i = 0; i < pl->nparts; i++) {
        put_u64(&w, pl->parts[i].file);
        put_u64(&w, pl->parts[i].start);
        put_u64(&w, pl->parts[i].end);
    }
    if (w.fail) {
        free(w.b);
        return WEFT_ENOMEM;
    }
    *buf = w.b;
    *len = w.len;
    return WEFT_OK;
}

typedef struct rbuf {
    const uint8_t *b;
    size_t len, at;
    bool bad;
} rbuf;

static uint64_t get_u64(rbuf *r)
{
    uint64_t v = 0;
    if (r->bad || r->len - r->at < 8) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->b[r->at + (size_t)i] << (8 * i);
    r->at += 8;
    return v;
}

/* A count of items of at least `each` bytes that can still follow. */
static size_t get_count(rbuf *r, size_t each)
{
    uint64_t n = get_u64(r);
    if (r->bad || n > (r->len - r->at) / each) {
        r->bad = true;
        return 0;
    }
    return (size_t)n;
}

/* A string (NULL if absent); *ok false on malformed or no memory. */
static char *get_str(rbuf *r, bool *ok)
{
    uint64_t n = get_u64(r);
    if (r->bad)
        return NULL;
    if (n == UINT64_MAX)
        return NULL;
    if (n > r->len - r->at) {
        r->bad = true;
        return NULL;
    }
    char *s = strndup((const char *)r->b + r->at, (size_t)n);
    if (s == NULL || strlen(s) != n) {
        r->bad = true;
        *ok = s != NULL;
        free(s);
        return NULL;
    }
    r->at += (size_t)n;
    return s;
}

weft_err wf_csv_plan_decode(const uint8_t *buf, size_t len, wf_csv_plan **out)
{
    rbuf r = {buf, len, 0, false};
    bool ok = true;
    *out = NULL;
    if (len < 8 || memcmp(buf, plan_magic, 8) != 0)
        return WEFT_EINVAL;
    r.at = 8;
    wf_csv_plan *pl = calloc(1, sizeof *pl);
    if (pl == NULL)
        return WEFT_ENOMEM;
    uint64_t flags = get_u64(&r);
    pl->delimiter = (char)(flags & 0xff);
    pl->quote = (char)((flags >> 8) & 0xff);
    pl->skip_bad_lines = (flags >> 16) & 1;
    pl->null_marker = get_str(&r, &ok);
    uint64_t rb = get_u64(&r);
    memcpy(&pl->row_bytes, &rb, 8);
    size_t nfiles = get_count(&r, 16);
    if (!r.bad && nfiles > 0) {
        pl->files = calloc(nfiles, sizeof *pl->files);
        pl->data_start = calloc(nfiles, sizeof *pl->data_start);
        if (pl->files == NULL || pl->data_start == NULL)
            goto nomem;
        for (size_t i = 0; i < nfiles && !r.bad; i++) {
            pl->files[i] = get_str(&r, &ok);
            pl->nfiles = i + 1;
            pl->data_start[i] = get_u64(&r);
            if (pl->files[i] == NULL)
                r.bad = true;
        }
    }
    size_t nfields = get_count(&r, 16);
    if (!r.bad && nfields > 0) {
        pl->field_names = calloc(nfields, sizeof *pl->field_names);
        pl->field_types = calloc(nfields, sizeof *pl->field_types);
        pl->field_width = calloc(nfields, sizeof *pl->field_width);
        if (!pl->field_names || !pl->field_types || !pl->field_width)
            goto nomem;
        for (size_t f = 0; f < nfields && !r.bad; f++) {
            pl->field_names[f] = get_str(&r, &ok);
            pl->nfields = f + 1;
            uint64_t v = get_u64(&r);
            uint32_t fw = (uint32_t)(v >> 32);
            pl->field_types[f] = (wf_coltype)(v & 0xffffffff);
            memcpy(&pl->field_width[f], &fw, 4);
            if (pl->field_names[f] == NULL || pl->field_types[f] < WF_COL_I64 ||
                pl->field_types[f] > WF_COL_TS)
                r.bad = true;
        }
    }
    size_t ncols = get_count(&r, 8);
    if (!r.bad && ncols > 0) {
        if ((pl->cols = calloc(ncols, sizeof *pl->cols)) == NULL)
            goto nomem;
        pl->ncols = ncols;
        for (size_t j = 0; j < ncols && !r.bad; j++) {
            uint64_t f = get_u64(&r);
            pl->cols[j] = (size_t)f;
            if (f >= pl->nfields)
                r.bad = true;
        }
    }
    size_t nparts = get_count(&r, 24);
    if (!r.bad && nparts > 0) {
        if ((pl->parts = calloc(nparts, sizeof *pl->parts)) == NULL)
            goto nomem;
        pl->nparts = nparts;
        for (size_t i = 0; i < nparts && !r.bad; i++) {
            pl->parts[i].file = (size_t)get_u64(&r);
            pl->parts[i].start = get_u64(&r);
            pl->parts[i].end = get_u64(&r);
            if (pl->parts[i].file >= pl->nfiles ||
                pl->parts[i].start > pl->parts[i].end)
                r.bad = true;
        }
    }
    if (!ok)
        goto nomem;
    if (r.bad || r.at != len || pl->nfields == 0 || pl->ncols == 0 ||
        pl->delimiter == 0 || pl->delimiter == pl->quote) {
        wf_csv_plan_free(pl);
        return WEFT_EINVAL;
    }
    *out = pl;
    return WEFT_OK;
nomem:
    wf_csv_plan_free(pl);
    return WEFT_ENOMEM;
}
