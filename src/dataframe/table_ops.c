/* Whole-table operations and output (see table_ops.h). */
#include "dataframe/table_ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static weft_err copy_rows(const wf_column *c, size_t n, wf_column *out)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    weft_err e = wf_col_take(c, idx, n, out);
    free(idx);
    return e;
}

weft_err wf_table_select(const wf_table *t, const char *const *names, size_t n,
                         wf_table *out, char *err, size_t errlen)
{
    wf_table_init(out);
    for (size_t k = 0; k < n; k++) {
        long j = wf_table_find(t, names[k]);
        if (j < 0) {
            wf_table_free(out);
            return wf_table_no_column(t, NULL, names[k], err, errlen);
        }
        wf_column c;
        weft_err e = copy_rows(&t->cols[j], t->nrows, &c);
        if (e || (e = wf_table_add(out, names[k], &c))) {
            wf_table_free(out);
            return e;
        }
    }
    return 0;
}

weft_err wf_table_head(const wf_table *t, size_t n, wf_table *out)
{
    wf_table_init(out);
    if (n > t->nrows)
        n = t->nrows;
    for (size_t j = 0; j < t->ncols; j++) {
        wf_column c;
        weft_err e = copy_rows(&t->cols[j], n, &c);
        if (e || (e = wf_table_add(out, t->names[j], &c))) {
            wf_table_free(out);
            return e;
        }
    }
    return 0;
}

weft_err wf_table_append(wf_table *dst, const wf_table *src, char *err,
                         size_t errlen)
{
    if (dst->ncols == 0) {
        for (size_t j = 0; j < src->ncols; j++) {
            wf_column c;
            weft_err e = copy_rows(&src->cols[j], src->nrows, &c);
            if (e || (e = wf_table_add(dst, src->names[j], &c)))
                return e;
        }
        return 0;
    }
    if (dst->ncols != src->ncols)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "tables with %zu and %zu columns", dst->ncols,
                       src->ncols);
    for (size_t j = 0; j < src->ncols; j++)
        if (strcmp(dst->names[j], src->names[j]) != 0 ||
            dst->cols[j].type != src->cols[j].type)
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "column %zu: '%s' (%s) vs '%s' (%s)", j + 1,
                           dst->names[j], wf_coltype_name(dst->cols[j].type),
                           src->names[j], wf_coltype_name(src->cols[j].type));
    for (size_t j = 0; j < src->ncols; j++) {
        weft_err e = wf_col_append(&dst->cols[j], &src->cols[j]);
        if (e)
            return e;
    }
    dst->nrows += src->nrows;
    return 0;
}

/* ------------------------------------------------------------ sort */

typedef struct sort_ctx {
    const wf_column **cols;
    const bool *desc;
    size_t n;
} sort_ctx;

static int cell_cmp(const wf_column *c, size_t i, size_t j)
{
    switch (c->type) {
    case WF_COL_STR: {
        size_t n1, n2;
        const char *a = wf_col_str(c, i, &n1), *b = wf_col_str(c, j, &n2);
        int r = memcmp(a, b, n1 < n2 ? n1 : n2);
        return r ? r : (n1 > n2) - (n1 < n2);
    }
    case WF_COL_F64: {
        double a = c->v.f64[i], b = c->v.f64[j];
        if (isnan(a) || isnan(b)) /* NaN with the nulls */
            return isnan(a) - isnan(b);
        return (a > b) - (a < b);
    }
    case WF_COL_BOOL:
        return (c->v.b[i] > c->v.b[j]) - (c->v.b[i] < c->v.b[j]);
    default:
        return (c->v.i64[i] > c->v.i64[j]) - (c->v.i64[i] < c->v.i64[j]);
    }
}

static bool sort_null(const wf_column *c, size_t i)
{
    return !wf_col_present(c, i) ||
           (c->type == WF_COL_F64 && isnan(c->v.f64[i]));
}

static int row_cmp(const void *x, const void *y, void *arg)
{
    const sort_ctx *s = arg;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    for (size_t k = 0; k < s->n; k++) {
        const wf_column *c = s->cols[k];
        bool ni = sort_null(c, i), nj = sort_null(c, j);
        if (ni || nj) { /* nulls last, either way */
            if (ni != nj)
                return ni ? 1 : -1;
            continue;
        }
        int r = cell_cmp(c, i, j);
        if (r)
            return s->desc[k] ? -r : r;
    }
    return (i > j) - (i < j); /* stable */
}

weft_err wf_table_sort(const wf_table *t, const char *const *keys,
                       const bool *desc, size_t n, wf_table *out, char *err,
                       size_t errlen)
{
    wf_table_init(out);
    const wf_column **cols = malloc((n ? n : 1) * sizeof *cols);
    size_t *idx = malloc((t->nrows ? t->nrows : 1) * sizeof *idx);
    weft_err e = cols && idx ? 0 : WEFT_ENOMEM;
    for (size_t k = 0; !e && k < n; k++) {
        long j = wf_table_find(t, keys[k]);
        if (j < 0)
            e = wf_table_no_column(t, NULL, keys[k], err, errlen);
        else
            cols[k] = &t->cols[j];
    }
    if (!e) {
        for (size_t i = 0; i < t->nrows; i++)
            idx[i] = i;
        sort_ctx s = {cols, desc, n};
        qsort_r(idx, t->nrows, sizeof *idx, row_cmp, &s);
        for (size_t j = 0; !e && j < t->ncols; j++) {
            wf_column c;
            if (!(e = wf_col_take(&t->cols[j], idx, t->nrows, &c)) &&
                (e = wf_table_add(out, t->names[j], &c)))
                wf_col_free(&c);
        }
    }
    free(cols);
    free(idx);
    if (e)
        wf_table_free(out);
    return e;
}

/* ------------------------------------------------------------ text */

static void civil(int64_t days, int *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* The shortest %.Ng that reads back as v. */
static size_t shortest(double v, char *buf, size_t cap)
{
    for (int p = 15; p <= 17; p++) {
        int n = snprintf(buf, cap, "%.*g", p, v);
        if (p == 17 || strtod(buf, NULL) == v)
            return n < 0 ? 0 : (size_t)n;
    }
    return 0;
}

size_t wf_cell_text(const wf_column *c, size_t i, char *buf, size_t cap)
{
    if (!wf_col_present(c, i) || cap == 0)
        return 0;
    int n = 0;
    switch (c->type) {
    case WF_COL_F64:
        return shortest(c->v.f64[i], buf, cap);
    case WF_COL_BOOL:
        n = snprintf(buf, cap, "%s", c->v.b[i] ? "True" : "False");
        break;
    case WF_COL_STR: {
        size_t len;
        const char *s = wf_col_str(c, i, &len);
        n = snprintf(buf, cap, "%.*s", (int)len, s);
        break;
    }
    case WF_COL_DATE: {
        int y, m, d;
        civil(c->v.i64[i], &y, &m, &d);
        n = snprintf(buf, cap, "%04d-%02d-%02d", y, m, d);
        break;
    }
    case WF_COL_TS: {
        int64_t us = c->v.i64[i];
        int64_t days = us >= 0 ? us / 86400000000ll
                               : -((-us + 86399999999ll) / 86400000000ll);
        int64_t rest = us - days * 86400000000ll;
        int y, m, d;
        civil(days, &y, &m, &d);
        int64_t secs = rest / 1000000, frac = rest % 1000000;
        n = snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d", y, m, d,
                     (int)(secs / 3600), (int)(secs / 60 % 60),
                     (int)(secs % 60));
        if (frac && n > 0 && (size_t)n < cap)
            n += snprintf(buf + n, cap - (size_t)n, ".%06lld", (long long)frac);
        break;
    }
    default:
        n = snprintf(buf, cap, "%lld", (long long)c->v.i64[i]);
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

weft_err wf_table_write_csv(FILE *f, const wf_table *t, bool header)
{
    char buf[512];
    for (size_t j = 0; header && j < t->ncols; j++) {
        const char *s = t->names[j];
        bool q = strpbrk(s, ",\"\r\n") != NULL;
        if (j)
            fputc(',', f);
        if (!q) {
            fputs(s, f);
            continue;
        }
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
    if (header)
        fputc('\n', f);
    for (size_t i = 0; i < t->nrows; i++) {
        for (size_t j = 0; j < t->ncols; j++) {
            const wf_column *c = &t->cols[j];
            if (j)
                fputc(',', f);
            if (c->type == WF_COL_STR && wf_col_present(c, i)) {
                size_t n;
                const char *s = wf_col_str(c, i, &n);
                bool q = n == 0; /* "" is the empty text, not a null */
                for (size_t k = 0; k < n && !q; k++)
                    q = s[k] == ',' || s[k] == '"' || s[k] == '\n' ||
                        s[k] == '\r';
                if (!q) {
                    fwrite(s, 1, n, f);
                    continue;
                }
                fputc('"', f);
                for (size_t k = 0; k < n; k++) {
                    if (s[k] == '"')
                        fputc('"', f);
                    fputc(s[k], f);
                }
                fputc('"', f);
                continue;
            }
            size_t n = wf_cell_text(c, i, buf, sizeof buf);
            fwrite(buf, 1, n, f);
        }
        fputc('\n', f);
    }
    return ferror(f) || fflush(f) != 0 ? WEFT_EIO : 0;
}

/* ------------------------------------------------------------ printing */

/* Cell text as pandas shows it; decimals: the float column's. */
static size_t show(const wf_column *c, size_t i, int decimals, char *buf,
                   size_t cap)
{
    if (!wf_col_present(c, i))
        return (size_t)snprintf(buf, cap, "%s",
                                c->type == WF_COL_STR    ? "None"
                                : c->type == WF_COL_DATE ? "NaT"
                                : c->type == WF_COL_TS   ? "NaT"
                                                         : "NaN");
    if (c->type == WF_COL_F64) {
        double v = c->v.f64[i];
        if (isnan(v))
            return (size_t)snprintf(buf, cap, "NaN");
        if (isinf(v))
            return (size_t)snprintf(buf, cap, v > 0 ? "inf" : "-inf");
        if (fabs(v) >= 1e16 || (v != 0 && fabs(v) < 1e-4))
            return (size_t)snprintf(buf, cap, "%.6e", v);
        return (size_t)snprintf(buf, cap, "%.*f", decimals, v);
    }
    return wf_cell_text(c, i, buf, cap);
}

/* Decimals for a float column: up to 6, as few as the rows need. */
static int float_decimals(const wf_column *c, const size_t *rows, size_t n)
{
    int best = 1;
    for (size_t k = 0; k < n && best < 6; k++) {
        size_t i = rows[k];
        if (!wf_col_present(c, i) || !isfinite(c->v.f64[i]))
            continue;
        char buf[64];
        snprintf(buf, sizeof buf, "%.6f", c->v.f64[i]);
        size_t len = strlen(buf);
        int d = 6;
        while (d > 1 && buf[len - 1] == '0') {
            len--;
            d--;
        }
        best = d > best ? d : best;
    }
    return best;
}

void wf_table_print(FILE *f, const wf_table *t, size_t max_rows)
{
    size_t n = t->nrows;
    bool cut = max_rows > 0 && n > max_rows;
    size_t shown = cut ? 10 : n;
    size_t *rows = malloc((shown ? shown : 1) * sizeof *rows);
    if (!rows)
        return;
    for (size_t k = 0; k < shown; k++)
        rows[k] = cut && k >= 5 ? n - 10 + k : k;
    size_t ncols = t->ncols;
    size_t *width = calloc(ncols + 1, sizeof *width);
    int *dec = calloc(ncols + 1, sizeof *dec);
    if (!width || !dec) {
        free(rows);
        free(width);
        free(dec);
        return;
    }
    char buf[512];
    /* index column */
    for (size_t k = 0; k < shown; k++) {
        size_t w = (size_t)snprintf(buf, sizeof buf, "%zu", rows[k]);
        width[0] = w > width[0] ? w : width[0];
    }
    if (cut && width[0] < 3)
        width[0] = 3;
    for (size_t j = 0; j < ncols; j++) {
        const wf_column *c = &t->cols[j];
        if (c->type == WF_COL_F64)
            dec[j] = float_decimals(c, rows, shown);
        size_t w = strlen(t->names[j]);
        if (cut && w < 3)
            w = 3;
        for (size_t k = 0; k < shown; k++) {
            size_t l = show(c, rows[k], dec[j], buf, sizeof buf);
            w = l > w ? l : w;
        }
        width[j + 1] = w;
    }
    fprintf(f, "%*s", (int)width[0], "");
    for (size_t j = 0; j < ncols; j++)
        fprintf(f, "  %*s", (int)width[j + 1], t->names[j]);
    fputc('\n', f);
    for (size_t k = 0; k < shown; k++) {
        if (cut && k == 5) {
            fprintf(f, "%-*s", (int)width[0], "...");
            for (size_t j = 0; j < ncols; j++)
                fprintf(f, "  %*s", (int)width[j + 1], "...");
            fputc('\n', f);
        }
        fprintf(f, "%-*zu", (int)width[0], rows[k]);
        for (size_t j = 0; j < ncols; j++) {
            show(&t->cols[j], rows[k], dec[j], buf, sizeof buf);
            fprintf(f, "  %*s", (int)width[j + 1], buf);
        }
        fputc('\n', f);
    }
    if (cut)
        fprintf(f, "\n[%zu rows x %zu columns]\n", n, ncols);
    free(rows);
    free(width);
    free(dec);
}
