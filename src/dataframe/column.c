/* Columns and tables: growth, append, filter and take (see column.h). */
#include "dataframe/column.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    [WF_COL_I64] = "int64", [WF_COL_F64] = "float64",
    [WF_COL_BOOL] = "bool", [WF_COL_STR] = "string",
    [WF_COL_DATE] = "date", [WF_COL_TS] = "timestamp",
};

weft_err wf_errf(weft_err code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *wf_coltype_name(wf_coltype t)
{
    if (t < WF_COL_I64 || t > WF_COL_TS)
        return "?";
    return type_names[t];
}

wf_coltype wf_coltype_parse(const char *s)
{
    for (int t = WF_COL_I64; t <= WF_COL_TS; t++)
        if (strcmp(s, type_names[t]) == 0)
            return (wf_coltype)t;
    return (wf_coltype)0;
}

static size_t elem_size(wf_coltype t)
{
    switch (t) {
    case WF_COL_F64:
        return sizeof(double);
    case WF_COL_BOOL:
        return 1;
    case WF_COL_STR:
        return 0;
    default:
        return sizeof(int64_t);
    }
}

weft_err wf_col_init(wf_column *c, wf_coltype t, size_t cap)
{
    memset(c, 0, sizeof *c);
    if (t < WF_COL_I64 || t > WF_COL_TS)
        return WEFT_EINVAL;
    c->type = t;
    return wf_col_reserve(c, cap < 16 ? 16 : cap, 0);
}

void wf_col_free(wf_column *c)
{
    if (c == NULL)
        return;
    if (c->borrowed) {
        memset(c, 0, sizeof *c);
        return;
    }
    free(c->v.i64);
    free(c->offs);
    free(c->chars);
    free(c->valid);
    memset(c, 0, sizeof *c);
}

static void *dup_bytes(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

weft_err wf_col_own(wf_column *c)
{
    if (!c->borrowed)
        return WEFT_OK;
    wf_column o = *c;
    o.borrowed = false;
    o.cap = c->len;
    o.v.i64 = NULL;
    o.offs = NULL;
    o.chars = NULL;
    o.valid = NULL;
    bool ok = true;
    if (c->type == WF_COL_STR) {
        size_t nchars = (size_t)c->offs[c->len];
        ok = (o.offs = dup_bytes(c->offs, (c->len + 1) * sizeof *c->offs)) &&
             (o.chars = dup_bytes(c->chars, nchars));
        o.chars_cap = nchars ? nchars : 1;
    } else {
        ok = (o.v.i64 = dup_bytes(c->v.i64, c->len * elem_size(c->type)));
    }
    if (ok && c->valid)
        ok = (o.valid = dup_bytes(c->valid, c->len));
    if (!ok) {
        free(o.v.i64);
        free(o.offs);
        free(o.chars);
        free(o.valid);
        return WEFT_ENOMEM;
    }
    *c = o;
    return WEFT_OK;
}

weft_err wf_col_reserve(wf_column *c, size_t n, size_t nchars)
{
    if (c->borrowed) {
        weft_err e = wf_col_own(c);
        if (e)
            return e;
    }
    if (n > c->cap) {
        size_t cap = c->cap ? c->cap : 16;
        while (cap < n)
            cap *= 2;
        if (c->type == WF_COL_STR) {
            int64_t *o = realloc(c->offs, (cap + 1) * sizeof *o);
            if (o == NULL)
                return WEFT_ENOMEM;
            if (c->offs == NULL)
                o[0] = 0;
            c->offs = o;
        } else {
            void *p = realloc(c->v.i64, cap * elem_size(c->type));
            if (p == NULL)
                return WEFT_ENOMEM;
            c->v.i64 = p;
        }
        if (c->valid != NULL) {
            uint8_t *v = realloc(c->valid, cap);
            if (v == NULL)
                return WEFT_ENOMEM;
            c->valid = v;
        }
        c->cap = cap;
    }
    if (c->type == WF_COL_STR) {
        size_t used = c->offs ? (size_t)c->offs[c->len] : 0;
        if (used + nchars > c->chars_cap || c->chars == NULL) {
            size_t cap = c->chars_cap ? c->chars_cap : 64;
            while (cap < used + nchars)
                cap *= 2;
            char *p = realloc(c->chars, cap);
            if (p == NULL)
                return WEFT_ENOMEM;
            c->chars = p;
            c->chars_cap = cap;
        }
    }
    return WEFT_OK;
}

static weft_err grow1(wf_column *c)
{
    if (c->len < c->cap)
        return WEFT_OK;
    return wf_col_reserve(c, c->len + 1, 0);
}

static void mark_present(wf_column *c)
{
    if (c->valid != NULL)
        c->valid[c->len] = 1;
}

weft_err wf_col_push_i64(wf_column *c, int64_t v)
{
    weft_err e = grow1(c);
    if (e)
        return e;
    mark_present(c);
    c->v.i64[c->len++] = v;
    return WEFT_OK;
}

weft_err wf_col_push_f64(wf_column *c, double v)
{
    weft_err e = grow1(c);
    if (e)
        return e;
    mark_present(c);
    c->v.f64[c->len++] = v;
    return WEFT_OK;
}

weft_err wf_col_push_bool(wf_column *c, bool v)
{
    weft_err e = grow1(c);
    if (e)
        return e;
    mark_present(c);
    c->v.b[c->len++] = v ? 1 : 0;
    return WEFT_OK;
}

weft_err wf_col_push_str(wf_column *c, const char *s, size_t n)
{
    weft_err e = wf_col_reserve(c, c->len + 1, n);
    if (e)
        return e;
    mark_present(c);
    int64_t at = c->offs[c->len];
    if (n > 0)
        memcpy(c->chars + at, s, n);
    c->offs[++c->len] = at + (int64_t)n;
    return WEFT_OK;
}

weft_err wf_col_make_nullable(wf_column *c)
{
    if (c->valid != NULL)
        return WEFT_OK;
    if (c->borrowed) {
        weft_err e = wf_col_own(c);
        if (e)
            return e;
    }
    uint8_t *v = malloc(c->cap ? c->cap : 1);
    if (v == NULL)
        return WEFT_ENOMEM;
    memset(v, 1, c->cap);
    c->valid = v;
    return WEFT_OK;
}

weft_err wf_col_push_null(wf_column *c)
{
    weft_err e = wf_col_make_nullable(c);
    if (e == WEFT_OK)
        e = c->type == WF_COL_STR    ? wf_col_push_str(c, "", 0)
            : c->type == WF_COL_F64  ? wf_col_push_f64(c, 0)
            : c->type == WF_COL_BOOL ? wf_col_push_bool(c, false)
                                     : wf_col_push_i64(c, 0);
    if (e == WEFT_OK)
        c->valid[c->len - 1] = 0;
    return e;
}

size_t wf_col_null_count(const wf_column *c)
{
    if (c->valid == NULL)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < c->len; i++)
        n += !c->valid[i];
    return n;
}

weft_err wf_col_filter(const wf_column *src, const uint8_t *keep,
                       wf_column *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < src->len; i++)
        n += keep[i] != 0;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (idx == NULL)
        return WEFT_ENOMEM;
    for (size_t i = 0, j = 0; i < src->len; i++)
        if (keep[i])
            idx[j++] = i;
    weft_err e = wf_col_take(src, idx, n, dst);
    free(idx);
    return e;
}

weft_err wf_col_take(const wf_column *src, const size_t *idx, size_t n,
                     wf_column *dst)
{
    weft_err e = wf_col_init(dst, src->type, n);
    if (e)
        return e;
    if (src->valid != NULL && (e = wf_col_make_nullable(dst)) != WEFT_OK)
        goto fail;
    if (src->type == WF_COL_STR) {
        size_t nchars = 0;
        for (size_t i = 0; i < n; i++)
            nchars += (size_t)(src->offs[idx[i] + 1] - src->offs[idx[i]]);
        if ((e = wf_col_reserve(dst, n, nchars)) != WEFT_OK)
            goto fail;
        int64_t at = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *s = wf_col_str(src, idx[i], &len);
            memcpy(dst->chars + at, s, len);
            at += (int64_t)len;
            dst->offs[i + 1] = at;
        }
    } else {
        size_t w = elem_size(src->type);
        const uint8_t *from = (const uint8_t *)src->v.i64;
        uint8_t *to = (uint8_t *)dst->v.i64;
        if (w == 8) {
            const int64_t *f = src->v.i64;
            for (size_t i = 0; i < n; i++)
                dst->v.i64[i] = f[idx[i]];
        } else {
            for (size_t i = 0; i < n; i++)
                to[i] = from[idx[i]];
        }
    }
    if (dst->valid != NULL)
        for (size_t i = 0; i < n; i++)
            dst->valid[i] = src->valid[idx[i]];
    dst->len = n;
    return WEFT_OK;
fail:
    wf_col_free(dst);
    return e;
}

weft_err wf_col_append(wf_column *dst, const wf_column *src)
{
    if (dst->type != src->type)
        return WEFT_ETYPE;
    size_t nchars = src->type == WF_COL_STR ? (size_t)src->offs[src->len] : 0;
    weft_err e = wf_col_reserve(dst, dst->len + src->len, nchars);
    if (e)
        return e;
    if (src->valid != NULL && (e = wf_col_make_nullable(dst)) != WEFT_OK)
        return e;
    if (dst->valid != NULL) {
        if (src->valid != NULL)
            memcpy(dst->valid + dst->len, src->valid, src->len);
        else
            memset(dst->valid + dst->len, 1, src->len);
    }
    if (src->type == WF_COL_STR) {
        int64_t base = dst->offs[dst->len];
        memcpy(dst->chars + base, src->chars, nchars);
        for (size_t i = 1; i <= src->len; i++)
            dst->offs[dst->len + i] = base + src->offs[i];
    } else if (src->len > 0) {
        size_t w = elem_size(src->type);
        memcpy((uint8_t *)dst->v.i64 + dst->len * w, src->v.i64, src->len * w);
    }
    dst->len += src->len;
    return WEFT_OK;
}

void wf_table_init(wf_table *t)
{
    memset(t, 0, sizeof *t);
}

weft_err wf_table_add(wf_table *t, const char *name, wf_column *col)
{
    if (t->ncols > 0 && col->len != t->nrows)
        return WEFT_EINVAL;
    char **names = realloc(t->names, (t->ncols + 1) * sizeof *names);
    if (names == NULL)
        return WEFT_ENOMEM;
    t->names = names;
    wf_column *cols = realloc(t->cols, (t->ncols + 1) * sizeof *cols);
    if (cols == NULL)
        return WEFT_ENOMEM;
    t->cols = cols;
    char *copy = strdup(name);
    if (copy == NULL)
        return WEFT_ENOMEM;
    t->names[t->ncols] = copy;
    t->cols[t->ncols] = *col;
    memset(col, 0, sizeof *col);
    t->nrows = t->cols[t->ncols].len;
    t->ncols++;
    return WEFT_OK;
}

void wf_table_free(wf_table *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->names[i]);
        wf_col_free(&t->cols[i]);
    }
    free(t->names);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

long wf_table_find(const wf_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->names[i], name) == 0)
            return (long)i;
    return -1;
}

weft_err wf_table_no_column(const wf_table *t, const char *fn, const char *name,
                            char *err, size_t errlen)
{
    char have[400] = "";
    size_t used = 0;
    for (size_t i = 0; i < t->ncols && used + 4 < sizeof have; i++) {
        int w = snprintf(have + used, sizeof have - used, "%s%s", i ? ", " : "",
                         t->names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return wf_errf(WEFT_EINVAL, err, errlen,
                   "%s%sno column '%s' (the columns are: %s)", fn ? fn : "",
                   fn ? ": " : "", name, have);
}
