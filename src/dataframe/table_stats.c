/* Table-level operations and their partial/combine/final forms (see
 * table_stats.h). */
#include "dataframe/table_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "dataframe/csv_conv.h"
#include "dataframe/keys.h"
#include "dataframe/table_ops.h"

/* ------------------------------------------------------------ helpers */

/* Is row i of c null in pandas' sense (absent, or a float NaN)? */
static inline bool cell_null(const wf_column *c, size_t i)
{
    return !wf_col_present(c, i) ||
           (c->type == WF_COL_F64 && isnan(c->v.f64[i]));
}

/* Turn the NaNs of a float64 column into nulls. */
static weft_err nan_to_null(wf_column *c)
{
    if (c->type != WF_COL_F64)
        return WEFT_OK;
    for (size_t i = 0; i < c->len; i++) {
        if (!isnan(c->v.f64[i]))
            continue;
        weft_err e = wf_col_make_nullable(c);
        if (e)
            return e;
        c->valid[i] = 0;
        c->v.f64[i] = 0;
    }
    return WEFT_OK;
}

/* *out = the rows idx[0..n) of every column of t. */
static weft_err take_table(const wf_table *t, const size_t *idx, size_t n,
                           wf_table *out)
{
    wf_table_init(out);
    for (size_t j = 0; j < t->ncols; j++) {
        wf_column c;
        weft_err e = wf_col_take(&t->cols[j], idx, n, &c);
        if (!e && (e = wf_table_add(out, t->names[j], &c)))
            wf_col_free(&c);
        if (e) {
            wf_table_free(out);
            return e;
        }
    }
    out->nrows = n;
    return WEFT_OK;
}

static size_t *alloc_idx(size_t n)
{
    return malloc((n ? n : 1) * sizeof(size_t));
}

/* *out = rows [from, from + n) of t. */
static weft_err slice(const wf_table *t, size_t from, size_t n, wf_table *out)
{
    size_t *idx = alloc_idx(n);
    if (!idx)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = from + i;
    weft_err e = take_table(t, idx, n, out);
    free(idx);
    return e;
}

/* ------------------------------------------------------------ tail */

weft_err wf_table_tail(const wf_table *t, size_t n, wf_table *out)
{
    if (n > t->nrows)
        n = t->nrows;
    return slice(t, t->nrows - n, n, out);
}

/* ------------------------------------------------------------ dropna */

weft_err wf_table_dropna(const wf_table *t, const char *const *subset,
                         size_t nsubset, wf_dropna_how how, wf_table *out,
                         char *err, size_t errlen)
{
    wf_table_init(out);
    size_t nc = subset ? nsubset : t->ncols;
    const wf_column **cols = malloc((nc ? nc : 1) * sizeof *cols);
    size_t *idx = alloc_idx(t->nrows);
    weft_err e = cols && idx ? WEFT_OK : WEFT_ENOMEM;
    for (size_t k = 0; !e && k < nc; k++) {
        long j = subset ? wf_table_find(t, subset[k]) : (long)k;
        if (j < 0)
            e = wf_table_no_column(t, "dropna", subset[k], err, errlen);
        else
            cols[k] = &t->cols[j];
    }
    if (!e) {
        size_t n = 0;
        for (size_t i = 0; i < t->nrows; i++) {
            size_t nulls = 0;
            for (size_t k = 0; k < nc; k++)
                nulls += cell_null(cols[k], i);
            bool drop =
                how == WF_DROPNA_ALL ? nc > 0 && nulls == nc : nulls > 0;
            if (!drop)
                idx[n++] = i;
        }
        e = take_table(t, idx, n, out);
    }
    free(cols);
    free(idx);
    return e;
}

/* ------------------------------------------------------------ fillna */

static const char *scalar_type_name(const wf_scalar *v)
{
    return wf_coltype_name(v->type);
}

/* The value v converted to type t in *out; false if it does not fit. */
static bool fit_scalar(const wf_scalar *v, wf_coltype t, wf_scalar *out)
{
    *out = *v;
    out->type = t;
    if (v->type == t)
        return true;
    if (t == WF_COL_F64 && v->type == WF_COL_I64) {
        out->v.f64 = (double)v->v.i64;
        return true;
    }
    if (t == WF_COL_I64 && v->type == WF_COL_F64) {
        double d = v->v.f64;
        if (!(d == floor(d) && d >= -9223372036854775808.0 &&
              d < 9223372036854775808.0))
            return false;
        out->v.i64 = (int64_t)d;
        return true;
    }
    if (t == WF_COL_TS && v->type == WF_COL_DATE) {
        if (v->v.i64 > INT64_MAX / 86400000000ll ||
            v->v.i64 < INT64_MIN / 86400000000ll)
            return false;
        out->v.i64 = v->v.i64 * 86400000000ll;
        return true;
    }
    return false;
}

static weft_err push_scalar(wf_column *c, const wf_scalar *v)
{
    switch (c->type) {
    case WF_COL_F64:
        return wf_col_push_f64(c, v->v.f64);
    case WF_COL_BOOL:
        return wf_col_push_bool(c, v->v.b);
    case WF_COL_STR:
        return wf_col_push_str(c, v->v.str.s, v->v.str.n);
    default:
        return wf_col_push_i64(c, v->v.i64);
    }
}

static weft_err push_cell(wf_column *c, const wf_column *src, size_t i)
{
    if (!wf_col_present(src, i))
        return wf_col_push_null(c);
    switch (src->type) {
    case WF_COL_F64:
        return wf_col_push_f64(c, src->v.f64[i]);
    case WF_COL_BOOL:
        return wf_col_push_bool(c, src->v.b[i]);
    case WF_COL_STR: {
        size_t n;
        const char *s = wf_col_str(src, i, &n);
        return wf_col_push_str(c, s, n);
    }
    default:
        return wf_col_push_i64(c, src->v.i64[i]);
    }
}

weft_err wf_table_fillna(const wf_table *t, const char *col,
                         const wf_scalar *value, wf_table *out, char *err,
                         size_t errlen)
{
    wf_table_init(out);
    long jc = wf_table_find(t, col);
    if (jc < 0)
        return wf_table_no_column(t, "fillna", col, err, errlen);
    const wf_column *src = &t->cols[jc];
    wf_scalar v;
    if (!fit_scalar(value, src->type, &v))
        return wf_errf(WEFT_ETYPE, err, errlen,
                       "fillna: a %s value does not fit column '%s' (%s)",
                       scalar_type_name(value), col,
                       wf_coltype_name(src->type));
    for (size_t j = 0; j < t->ncols; j++) {
        wf_column c;
        weft_err e;
        if ((long)j != jc) {
            size_t *idx = alloc_idx(t->nrows);
            if (!idx) {
                wf_table_free(out);
                return WEFT_ENOMEM;
            }
            for (size_t i = 0; i < t->nrows; i++)
                idx[i] = i;
            e = wf_col_take(&t->cols[j], idx, t->nrows, &c);
            free(idx);
        } else {
            e = wf_col_init(&c, src->type, t->nrows);
            for (size_t i = 0; !e && i < t->nrows; i++)
                e = cell_null(src, i) ? push_scalar(&c, &v)
                                      : push_cell(&c, src, i);
            if (e)
                wf_col_free(&c);
        }
        if (!e && (e = wf_table_add(out, t->names[j], &c)))
            wf_col_free(&c);
        if (e) {
            wf_table_free(out);
            return e;
        }
    }
    return WEFT_OK;
}

weft_err wf_table_fillna_text(const wf_table *t, const char *col,
                              const char *value, wf_table *out, char *err,
                              size_t errlen)
{
    wf_table_init(out);
    long jc = wf_table_find(t, col);
    if (jc < 0)
        return wf_table_no_column(t, "fillna", col, err, errlen);
    wf_coltype type = t->cols[jc].type;
    size_t n = strlen(value);
    char *buf = calloc(n + CSV_PAD + 1, 1); /* the parsers read ahead */
    if (!buf)
        return WEFT_ENOMEM;
    memcpy(buf, value, n);
    wf_scalar v = {.type = type};
    int st = CSV_OK;
    switch (type) {
    case WF_COL_I64:
        st = csv_parse_i64(buf, n, &v.v.i64);
        break;
    case WF_COL_F64:
        st = csv_parse_f64(buf, n, &v.v.f64);
        break;
    case WF_COL_BOOL: {
        uint8_t b = 0;
        st = csv_parse_bool(buf, n, &b) ? CSV_OK : CSV_BAD;
        v.v.b = b;
        break;
    }
    case WF_COL_DATE:
        st = csv_parse_date(buf, n, &v.v.i64);
        break;
    case WF_COL_TS:
        st = csv_parse_ts(buf, n, &v.v.i64);
        break;
    default:
        v.v.str.s = value;
        v.v.str.n = n;
    }
    free(buf);
    if (n == 0 && type != WF_COL_STR)
        st = CSV_BAD;
    if (st != CSV_OK)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "fillna: '%s' is not a%s %s value for column '%s'%s",
                       value, type == WF_COL_I64 ? "n" : "",
                       wf_coltype_name(type), col,
                       st == CSV_RANGE ? " (outside int64)" : "");
    return wf_table_fillna(t, col, &v, out, err, errlen);
}

/* ------------------------------------------------------------ concat */

static bool unify(wf_coltype a, wf_coltype b, wf_coltype *u)
{
    if (a == b) {
        *u = a;
        return true;
    }
    if ((a == WF_COL_I64 && b == WF_COL_F64) ||
        (a == WF_COL_F64 && b == WF_COL_I64)) {
        *u = WF_COL_F64;
        return true;
    }
    if ((a == WF_COL_DATE && b == WF_COL_TS) ||
        (a == WF_COL_TS && b == WF_COL_DATE)) {
        *u = WF_COL_TS;
        return true;
    }
    return false;
}

/* Append src to dst, converting int64 -> float64 and date -> timestamp. */
static weft_err append_conv(wf_column *dst, const wf_column *src,
                            const char *name, size_t k, char *err,
                            size_t errlen)
{
    if (dst->type == src->type)
        return wf_col_append(dst, src);
    weft_err e = wf_col_reserve(dst, dst->len + src->len, 0);
    for (size_t i = 0; !e && i < src->len; i++) {
        int64_t x = src->v.i64[i];
        if (!wf_col_present(src, i))
            e = wf_col_push_null(dst);
        else if (dst->type == WF_COL_F64)
            e = wf_col_push_f64(dst, (double)x);
        else if (x > INT64_MAX / 86400000000ll || x < INT64_MIN / 86400000000ll)
            e = wf_errf(WEFT_ERANGE, err, errlen,
                        "concat: column '%s' of table %zu, row %zu: the date "
                        "is outside the timestamp range",
                        name, k, i);
        else
            e = wf_col_push_i64(dst, x * 86400000000ll);
    }
    return e;
}

weft_err wf_table_concat(const wf_table *tables, size_t n, wf_table *out,
                         char *err, size_t errlen)
{
    wf_table_init(out);
    if (n == 0)
        return WEFT_OK;
    const wf_table *t0 = &tables[0];
    size_t nc = t0->ncols;
    long *map = malloc((n * nc > 0 ? n * nc : 1) * sizeof *map);
    if (!map)
        return WEFT_ENOMEM;
    weft_err e = WEFT_OK;
    for (size_t j = 0; !e && j < nc; j++)
        if (wf_table_find(t0, t0->names[j]) != (long)j)
            e = wf_errf(WEFT_EINVAL, err, errlen,
                        "concat: table 0 has two columns called '%s'",
                        t0->names[j]);
    for (size_t k = 0; !e && k < n; k++) {
        const wf_table *tk = &tables[k];
        for (size_t j = 0; !e && j < nc; j++) {
            map[k * nc + j] = wf_table_find(tk, t0->names[j]);
            if (map[k * nc + j] < 0)
                e = wf_errf(WEFT_EINVAL, err, errlen,
                            "concat: table %zu has no column '%s' (table 0 "
                            "has it)",
                            k, t0->names[j]);
        }
        for (size_t j = 0; !e && j < tk->ncols; j++)
            if (wf_table_find(t0, tk->names[j]) < 0)
                e = wf_errf(WEFT_EINVAL, err, errlen,
                            "concat: table %zu has a column '%s' that table 0 "
                            "does not have",
                            k, tk->names[j]);
        if (!e && tk->ncols != nc) /* a name given twice */
            e = wf_errf(WEFT_EINVAL, err, errlen,
                        "concat: table %zu has %zu columns, table 0 has %zu", k,
                        tk->ncols, nc);
    }
    for (size_t j = 0; !e && j < nc; j++) {
        wf_coltype u = t0->cols[j].type;
        for (size_t k = 1; !e && k < n; k++) {
            wf_coltype tk = tables[k].cols[map[k * nc + j]].type;
            if (!unify(u, tk, &u))
                e = wf_errf(WEFT_ETYPE, err, errlen,
                            "concat: column '%s' is %s in table 0 and %s in "
                            "table %zu",
                            t0->names[j], wf_coltype_name(t0->cols[j].type),
                            wf_coltype_name(tk), k);
        }
        size_t rows = 0;
        for (size_t k = 0; k < n; k++)
            rows += tables[k].nrows;
        wf_column c;
        if (!e)
            e = wf_col_init(&c, u, rows);
        if (e)
            break;
        for (size_t k = 0; !e && k < n; k++)
            e = append_conv(&c, &tables[k].cols[map[k * nc + j]], t0->names[j],
                            k, err, errlen);
        if (!e)
            e = wf_table_add(out, t0->names[j], &c);
        if (e)
            wf_col_free(&c);
    }
    free(map);
    if (e)
        wf_table_free(out);
    return e;
}

/* ------------------------------------------------------------ grouping */

/* Rows grouped by equal keys (null equal to null): gid[i] is row i's group
 * (-1 when skipped), first[g] the first row of group g; groups are
 * numbered in order of first appearance. */
typedef struct grouping {
    int64_t *gid;
    size_t *first;
    size_t ng;
} grouping;

static void grouping_free(grouping *g)
{
    free(g->gid);
    free(g->first);
    memset(g, 0, sizeof *g);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint64_t row_hash(const wf_column *const *keys, size_t nk, size_t i)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t k = 0; k < nk; k++) {
        const wf_column *c = keys[k];
        uint64_t v;
        if (cell_null(c, i)) {
            v = 0x6e756c6cull;
        } else if (c->type == WF_COL_STR) {
            size_t n;
            const char *s = wf_col_str(c, i, &n);
            v = XXH3_64bits(s, n);
        } else if (c->type == WF_COL_F64) {
            double d = c->v.f64[i] == 0 ? 0.0 : c->v.f64[i]; /* -0 == 0 */
            memcpy(&v, &d, 8);
        } else if (c->type == WF_COL_BOOL) {
            v = c->v.b[i];
        } else {
            v = (uint64_t)c->v.i64[i];
        }
        h = mix(h ^ mix(v)) + k;
    }
    return h;
}

static bool row_eq(const wf_column *const *keys, size_t nk, size_t i, size_t j)
{
    for (size_t k = 0; k < nk; k++) {
        bool ni = cell_null(keys[k], i), nj = cell_null(keys[k], j);
        if (ni != nj || (!ni && !wf_key_equal(keys[k], i, keys[k], j)))
            return false;
    }
    return true;
}

/* A slot of the open-addressed group table: the group's hash and first
 * row beside its number (g < 0: empty), so a probe touches one line. */
typedef struct gslot {
    uint64_t h;
    int64_t g;
    size_t row;
} gslot;

static weft_err group_rows(const wf_column *const *keys, size_t nk,
                           size_t nrows, bool dropna, grouping *g)
{
    memset(g, 0, sizeof *g);
    size_t cap = 1024; /* grows with the groups, not the rows */
    gslot *slot = malloc(cap * sizeof *slot);
    g->gid = malloc((nrows ? nrows : 1) * sizeof *g->gid);
    g->first = alloc_idx(nrows);
    if (!slot || !g->gid || !g->first) {
        free(slot);
        grouping_free(g);
        return WEFT_ENOMEM;
    }
    for (size_t s = 0; s < cap; s++)
        slot[s].g = -1;
    for (size_t i = 0; i < nrows; i++) {
        bool skip = false;
        for (size_t k = 0; dropna && k < nk && !skip; k++)
            skip = cell_null(keys[k], i);
        if (skip) {
            g->gid[i] = -1;
            continue;
        }
        uint64_t h = row_hash(keys, nk, i);
        size_t s = (size_t)h & (cap - 1);
        while (slot[s].g >= 0 &&
               !(slot[s].h == h && row_eq(keys, nk, slot[s].row, i)))
            s = (s + 1) & (cap - 1);
        if (slot[s].g >= 0) {
            g->gid[i] = slot[s].g;
            continue;
        }
        int64_t q = (int64_t)g->ng;
        g->first[g->ng++] = i;
        g->gid[i] = q;
        slot[s] = (gslot){h, q, i};
        if (2 * g->ng > cap) { /* at most half full */
            gslot *bigger = malloc(2 * cap * sizeof *bigger);
            if (!bigger) {
                free(slot);
                grouping_free(g);
                return WEFT_ENOMEM;
            }
            size_t ncap = 2 * cap;
            for (size_t r = 0; r < ncap; r++)
                bigger[r].g = -1;
            for (size_t r = 0; r < cap; r++) {
                if (slot[r].g < 0)
                    continue;
                size_t t = (size_t)slot[r].h & (ncap - 1);
                while (bigger[t].g >= 0)
                    t = (t + 1) & (ncap - 1);
                bigger[t] = slot[r];
            }
            free(slot);
            slot = bigger;
            cap = ncap;
        }
    }
    free(slot);
    return WEFT_OK;
}

/* ------------------------------------------------------------ value_counts */

/* Keys out of t's key columns keys[0..nk) at g's first rows (NaN -> null)
 * plus "count" = counts[0..ng). Takes counts' column. */
static weft_err vc_table(const wf_table *t, const size_t *kidx, size_t nk,
                         const grouping *g, wf_column *counts, wf_table *out)
{
    wf_table_init(out);
    weft_err e = WEFT_OK;
    for (size_t k = 0; !e && k < nk; k++) {
        wf_column c;
        e = wf_col_take(&t->cols[kidx[k]], g->first, g->ng, &c);
        if (!e && ((e = nan_to_null(&c)) ||
                   (e = wf_table_add(out, t->names[kidx[k]], &c))))
            wf_col_free(&c);
    }
    if (!e)
        e = wf_table_add(out, "count", counts);
    if (e) {
        wf_col_free(counts);
        wf_table_free(out);
    }
    return e;
}

/* Group t by kidx[0..nk), summing weights (NULL: 1 per row). */
static weft_err vc_count(const wf_table *t, const size_t *kidx, size_t nk,
                         bool dropna, const int64_t *weights, wf_table *out)
{
    wf_table_init(out);
    const wf_column **keys = malloc((nk ? nk : 1) * sizeof *keys);
    if (!keys)
        return WEFT_ENOMEM;
    for (size_t k = 0; k < nk; k++)
        keys[k] = &t->cols[kidx[k]];
    grouping g;
    weft_err e = group_rows(keys, nk, t->nrows, dropna, &g);
    free(keys);
    if (e)
        return e;
    wf_column counts;
    if ((e = wf_col_init(&counts, WF_COL_I64, g.ng))) {
        grouping_free(&g);
        return e;
    }
    memset(counts.v.i64, 0, g.ng * sizeof(int64_t));
    counts.len = g.ng;
    for (size_t i = 0; i < t->nrows; i++)
        if (g.gid[i] >= 0)
            counts.v.i64[g.gid[i]] += weights ? weights[i] : 1;
    e = vc_table(t, kidx, nk, &g, &counts, out);
    grouping_free(&g);
    return e;
}

weft_err wf_value_counts_partial(const wf_table *t, const char *const *cols,
                                 size_t ncols, bool dropna, wf_table *out,
                                 char *err, size_t errlen)
{
    wf_table_init(out);
    if (ncols == 0)
        return wf_errf(WEFT_EINVAL, err, errlen, "value_counts: no columns");
    size_t *kidx = alloc_idx(ncols);
    if (!kidx)
        return WEFT_ENOMEM;
    weft_err e = WEFT_OK;
    for (size_t k = 0; !e && k < ncols; k++) {
        long j = wf_table_find(t, cols[k]);
        if (j < 0)
            e = wf_table_no_column(t, "value_counts", cols[k], err, errlen);
        else if (strcmp(cols[k], "count") == 0)
            e = wf_errf(WEFT_EINVAL, err, errlen,
                        "value_counts: a key column may not be called "
                        "'count' (the result's count column)");
        for (size_t q = 0; !e && q < k; q++)
            if (strcmp(cols[q], cols[k]) == 0)
                e = wf_errf(WEFT_EINVAL, err, errlen,
                            "value_counts: column '%s' given twice", cols[k]);
        if (!e)
            kidx[k] = (size_t)j;
    }
    if (!e)
        e = vc_count(t, kidx, ncols, dropna, NULL, out);
    free(kidx);
    return e;
}

/* A value_counts partial: keys, then "count" int64, no other "count". */
static weft_err vc_check(const wf_table *p, const char *what, size_t k,
                         char *err, size_t errlen)
{
    if (p->ncols < 2 || strcmp(p->names[p->ncols - 1], "count") != 0 ||
        p->cols[p->ncols - 1].type != WF_COL_I64 ||
        wf_table_find(p, "count") != (long)p->ncols - 1)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "value_counts %s: %s %zu is not a partial table (key "
                       "columns, then 'count' int64)",
                       what, what[0] == 'c' ? "part" : "table", k);
    return WEFT_OK;
}

weft_err wf_value_counts_combine(const wf_table *parts, size_t n, wf_table *out,
                                 char *err, size_t errlen)
{
    wf_table_init(out);
    if (n == 0)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "value_counts combine: no parts");
    for (size_t k = 0; k < n; k++) {
        weft_err e = vc_check(&parts[k], "combine", k, err, errlen);
        if (e)
            return e;
    }
    wf_table all;
    weft_err e = wf_table_concat(parts, n, &all, err, errlen);
    if (e)
        return e;
    size_t nk = all.ncols - 1;
    size_t *kidx = alloc_idx(nk);
    if (!kidx) {
        wf_table_free(&all);
        return WEFT_ENOMEM;
    }
    for (size_t k = 0; k < nk; k++)
        kidx[k] = k;
    e = vc_count(&all, kidx, nk, false, all.cols[nk].v.i64, out);
    free(kidx);
    wf_table_free(&all);
    return e;
}

weft_err wf_value_counts_final(const wf_table *partial, wf_table *out,
                               char *err, size_t errlen)
{
    wf_table_init(out);
    weft_err e = vc_check(partial, "final", 0, err, errlen);
    if (e)
        return e;
    size_t nk = partial->ncols - 1;
    const char **keys = malloc((nk + 1) * sizeof *keys);
    bool *desc = malloc((nk + 1) * sizeof *desc);
    if (!keys || !desc) {
        free(keys);
        free(desc);
        return WEFT_ENOMEM;
    }
    keys[0] = "count";
    desc[0] = true;
    for (size_t k = 0; k < nk; k++) {
        keys[k + 1] = partial->names[k];
        desc[k + 1] = false;
    }
    /* partial keys are distinct, so the order is total and the sort's
     * stability does not matter */
    e = wf_table_sort(partial, (const char *const *)keys, desc, nk + 1, out,
                      err, errlen);
    free(keys);
    free(desc);
    return e;
}

/* ------------------------------------------------------------ unique */

static weft_err unique_of(const wf_table *t, size_t j, wf_table *out)
{
    wf_table_init(out);
    const wf_column *key = &t->cols[j];
    grouping g;
    weft_err e = group_rows(&key, 1, t->nrows, false, &g);
    if (e)
        return e;
    wf_column c;
    e = wf_col_take(key, g.first, g.ng, &c);
    grouping_free(&g);
    if (!e &&
        ((e = nan_to_null(&c)) || (e = wf_table_add(out, t->names[j], &c))))
        wf_col_free(&c);
    return e;
}

weft_err wf_unique_partial(const wf_table *t, const char *col, wf_table *out,
                           char *err, size_t errlen)
{
    wf_table_init(out);
    long j = wf_table_find(t, col);
    if (j < 0)
        return wf_table_no_column(t, "unique", col, err, errlen);
    return unique_of(t, (size_t)j, out);
}

weft_err wf_unique_combine(const wf_table *parts, size_t n, wf_table *out,
                           char *err, size_t errlen)
{
    wf_table_init(out);
    if (n == 0)
        return wf_errf(WEFT_EINVAL, err, errlen, "unique combine: no parts");
    for (size_t k = 0; k < n; k++)
        if (parts[k].ncols != 1)
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "unique combine: part %zu has %zu columns, not 1", k,
                           parts[k].ncols);
    wf_table all;
    weft_err e = wf_table_concat(parts, n, &all, err, errlen);
    if (e)
        return e;
    e = unique_of(&all, 0, out);
    wf_table_free(&all);
    return e;
}

weft_err wf_unique_final(const wf_table *partial, wf_table *out, char *err,
                         size_t errlen)
{
    wf_table_init(out);
    if (partial->ncols != 1)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "unique final: the partial table has %zu columns, "
                       "not 1",
                       partial->ncols);
    return slice(partial, 0, partial->nrows, out);
}

/* ------------------------------------------------------------ describe */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The bits of d as an unsigned number in the order of the doubles. */
static uint64_t dkey(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u >> 63 ? ~u : u | (1ull << 63);
}

static double dval(uint64_t k)
{
    uint64_t u = k >> 63 ? k & ~(1ull << 63) : ~k;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Sort x[0..n) ascending (no NaN): LSD radix sort over 11-bit digits,
 * skipping digits all values share; qsort for short arrays. */
static weft_err sort_doubles(double *x, size_t n)
{
    enum { BITS = 11, NB = 1 << BITS, PASSES = (64 + BITS - 1) / BITS };
    if (n < 512) {
        qsort(x, n, sizeof *x, cmp_double);
        return WEFT_OK;
    }
    /* the keys replace the values in x's memory: one more buffer only */
    uint64_t *a = (uint64_t *)(void *)x, *b = malloc(n * sizeof *b);
    size_t(*hist)[NB] = calloc(PASSES, sizeof *hist);
    if (!b || !hist) {
        free(b);
        free(hist);
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        double d;
        memcpy(&d, &a[i], sizeof d);
        a[i] = dkey(d);
        for (int p = 0; p < PASSES; p++)
            hist[p][(a[i] >> (p * BITS)) & (NB - 1)]++;
    }
    uint64_t *from = a, *to = b;
    for (int p = 0; p < PASSES; p++) {
        size_t *h = hist[p], sum = 0;
        if (h[(from[0] >> (p * BITS)) & (NB - 1)] == n)
            continue; /* every value has this digit */
        for (size_t d = 0; d < NB; d++) {
            size_t c = h[d];
            h[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[h[(from[i] >> (p * BITS)) & (NB - 1)]++] = from[i];
        uint64_t *t = from;
        from = to;
        to = t;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k = from[i];
        x[i] = dval(k);
    }
    free(b);
    free(hist);
    return WEFT_OK;
}

/* A describe partial column's layout around its n sorted values (at rows
 * 3..3+n): count, mean and M2 in rows 0-2, nulls after the values up to
 * rows. */
static void describe_header(wf_column *o, size_t n, double mean, double m2,
                            size_t rows)
{
    o->v.f64[0] = (double)n;
    o->v.f64[1] = mean;
    o->v.f64[2] = m2;
    memset(o->valid, 1, 3 + n);
    for (size_t i = 3 + n; i < rows; i++) {
        o->valid[i] = 0;
        o->v.f64[i] = 0;
    }
    o->len = rows;
}

/* A described column's state: n values x[0..n) ascending, mean, m2. */
typedef struct dstate {
    size_t n;
    double mean, m2;
    double *x;
} dstate;

weft_err wf_describe_partial(const wf_table *t, wf_table *out, char *err,
                             size_t errlen)
{
    wf_table_init(out);
    size_t nc = 0, most = 0;
    for (size_t j = 0; j < t->ncols; j++) {
        const wf_column *c = &t->cols[j];
        if (c->type != WF_COL_I64 && c->type != WF_COL_F64)
            continue;
        nc++;
        size_t n = 0;
        for (size_t i = 0; i < t->nrows; i++)
            n += !cell_null(c, i);
        most = n > most ? n : most;
    }
    if (nc == 0)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "describe: no int64 or float64 column");
    size_t rows = 3 + most;
    weft_err e = WEFT_OK;
    for (size_t j = 0; !e && j < t->ncols; j++) {
        const wf_column *c = &t->cols[j];
        if (c->type != WF_COL_I64 && c->type != WF_COL_F64)
            continue;
        wf_column o; /* values go straight into the partial column */
        if ((e = wf_col_init(&o, WF_COL_F64, rows)) ||
            (e = wf_col_make_nullable(&o))) {
            wf_col_free(&o);
            break;
        }
        double *x = o.v.f64 + 3, mean = 0, m2 = 0;
        size_t n = 0;
        for (size_t i = 0; i < t->nrows; i++) { /* Welford */
            if (cell_null(c, i))
                continue;
            double v =
                c->type == WF_COL_F64 ? c->v.f64[i] : (double)c->v.i64[i];
            x[n++] = v;
            double d = v - mean;
            mean += d / (double)n;
            m2 += d * (v - mean);
        }
        if ((e = sort_doubles(x, n))) {
            wf_col_free(&o);
            break;
        }
        describe_header(&o, n, mean, m2, rows);
        if ((e = wf_table_add(out, t->names[j], &o)))
            wf_col_free(&o);
    }
    if (e)
        wf_table_free(out);
    return e;
}

/* Read column j of partial p into *s (x points into the column). */
static weft_err dstate_read(const wf_table *p, size_t j, dstate *s,
                            const char *what, size_t k, char *err,
                            size_t errlen)
{
    const wf_column *c = &p->cols[j];
    bool ok = c->type == WF_COL_F64 && p->nrows >= 3;
    for (size_t i = 0; ok && i < 3; i++)
        ok = wf_col_present(c, i);
    double n = ok ? c->v.f64[0] : 0;
    ok = ok && n >= 0 && n == floor(n) && n <= (double)(p->nrows - 3);
    for (size_t i = 3; ok && i < 3 + (size_t)n; i++)
        ok = wf_col_present(c, i) && !isnan(c->v.f64[i]) &&
             (i == 3 || c->v.f64[i - 1] <= c->v.f64[i]);
    if (!ok)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "describe %s: column '%s' of %s %zu is not a partial "
                       "column (float64: count, mean, M2, sorted values)",
                       what, p->names[j], what[0] == 'c' ? "part" : "table", k);
    s->n = (size_t)n;
    s->mean = c->v.f64[1];
    s->m2 = c->v.f64[2];
    s->x = c->v.f64 + 3;
    return WEFT_OK;
}

weft_err wf_describe_combine(const wf_table *parts, size_t n, wf_table *out,
                             char *err, size_t errlen)
{
    wf_table_init(out);
    if (n == 0)
        return wf_errf(WEFT_EINVAL, err, errlen, "describe combine: no parts");
    const wf_table *p0 = &parts[0];
    size_t nc = p0->ncols;
    for (size_t k = 1; k < n; k++) {
        bool same = parts[k].ncols == nc;
        for (size_t j = 0; same && j < nc; j++)
            same = strcmp(parts[k].names[j], p0->names[j]) == 0;
        if (!same)
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "describe combine: part %zu's columns differ from "
                           "part 0's",
                           k);
    }
    size_t *total = calloc(nc ? nc : 1, sizeof *total), most = 0;
    size_t *bound = malloc((n + 1) * sizeof *bound);
    weft_err e = total && bound ? WEFT_OK : WEFT_ENOMEM;
    for (size_t j = 0; !e && j < nc; j++) { /* check all, count values */
        for (size_t k = 0; !e && k < n; k++) {
            dstate b = {0};
            if (!(e = dstate_read(&parts[k], j, &b, "combine", k, err, errlen)))
                total[j] += b.n;
        }
        most = total[j] > most ? total[j] : most;
    }
    size_t rows = 3 + most;
    for (size_t j = 0; !e && j < nc; j++) {
        wf_column o; /* the merged values go straight into it */
        double *y = malloc((total[j] ? total[j] : 1) * sizeof(double));
        if (!y || (e = wf_col_init(&o, WF_COL_F64, rows)) ||
            (e = wf_col_make_nullable(&o))) {
            free(y);
            wf_col_free(&o);
            e = WEFT_ENOMEM;
            break;
        }
        double *x = o.v.f64 + 3, mean = 0, m2 = 0;
        size_t cnt = 0;
        /* the moments (Chan et al.), and the sorted runs side by side */
        bound[0] = 0;
        for (size_t k = 0; k < n; k++) {
            dstate b = {0};
            dstate_read(&parts[k], j, &b, "combine", k, NULL, 0);
            bound[k + 1] = bound[k] + b.n;
            if (b.n == 0)
                continue;
            memcpy(x + bound[k], b.x, b.n * sizeof(double));
            size_t nn = cnt + b.n;
            double d = b.mean - mean;
            mean += d * (double)b.n / (double)nn;
            m2 += b.m2 + d * d * (double)cnt * (double)b.n / (double)nn;
            cnt = nn;
        }
        /* merge neighbouring runs, halving their number each round */
        for (size_t runs = n; runs > 1;) {
            size_t r = 0;
            for (; r + 1 < runs; r += 2) {
                size_t i = bound[r], mid = bound[r + 1], end = bound[r + 2];
                size_t q = mid, w = i;
                while (i < mid && q < end)
                    y[w++] = x[i] <= x[q] ? x[i++] : x[q++];
                while (i < mid)
                    y[w++] = x[i++];
                while (q < end)
                    y[w++] = x[q++];
            }
            if (r < runs) /* an odd run out */
                memcpy(y + bound[r], x + bound[r],
                       (bound[r + 1] - bound[r]) * sizeof(double));
            size_t m = 0;
            for (size_t q = 0; q <= runs; q += 2)
                bound[m++] = bound[q];
            if (runs % 2) /* the odd run's end */
                bound[m++] = bound[runs];
            runs = m - 1;
            double *t = x;
            x = y;
            y = t;
        }
        if (x != o.v.f64 + 3) { /* the last round wrote the buffer */
            memcpy(o.v.f64 + 3, x, cnt * sizeof(double));
            y = x;
        }
        free(y);
        describe_header(&o, cnt, mean, m2, rows);
        if ((e = wf_table_add(out, p0->names[j], &o)))
            wf_col_free(&o);
    }
    free(total);
    free(bound);
    if (e)
        wf_table_free(out);
    return e;
}

/* numpy's linear quantile of x[0..n) ascending (n > 0). */
static double quantile(const double *x, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo >= n - 1)
        return x[n - 1];
    double t = pos - (double)lo, a = x[lo], b = x[lo + 1], diff = b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

weft_err wf_describe_final(const wf_table *partial, wf_table *out, char *err,
                           size_t errlen)
{
    static const char *const stats[] = {"count", "mean", "std", "min",
                                        "25%",   "50%",  "75%", "max"};
    wf_table_init(out);
    if (partial->ncols == 0)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "describe final: the partial table has no columns");
    wf_column sc;
    weft_err e = wf_col_init(&sc, WF_COL_STR, 8);
    for (size_t r = 0; !e && r < 8; r++)
        e = wf_col_push_str(&sc, stats[r], strlen(stats[r]));
    if (!e && (e = wf_table_add(out, "stat", &sc)))
        wf_col_free(&sc);
    for (size_t j = 0; !e && j < partial->ncols; j++) {
        dstate s = {0};
        if ((e = dstate_read(partial, j, &s, "final", 0, err, errlen)))
            break;
        wf_column c;
        if ((e = wf_col_init(&c, WF_COL_F64, 8)))
            break;
        double v[8] = {(double)s.n};
        bool have[8] = {true};
        if (s.n > 0) {
            v[1] = s.mean;
            v[3] = s.x[0];
            v[4] = quantile(s.x, s.n, 0.25);
            v[5] = quantile(s.x, s.n, 0.5);
            v[6] = quantile(s.x, s.n, 0.75);
            v[7] = s.x[s.n - 1];
            have[1] = have[3] = have[4] = have[5] = have[6] = have[7] = true;
        }
        if (s.n > 1) {
            v[2] = sqrt(s.m2 / (double)(s.n - 1));
            have[2] = true;
        }
        for (size_t r = 0; !e && r < 8; r++)
            e = have[r] ? wf_col_push_f64(&c, v[r]) : wf_col_push_null(&c);
        if (!e)
            e = wf_table_add(out, partial->names[j], &c);
        if (e)
            wf_col_free(&c);
    }
    if (e)
        wf_table_free(out);
    return e;
}
