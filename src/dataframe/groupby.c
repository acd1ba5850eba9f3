/* Group by and aggregate (see groupby.h): rows are numbered by group with
 * one open-addressing hash table over the key columns (XXH3 for text),
 * then each aggregate is one pass over (group number, value). */
#include "dataframe/groupby.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/keys.h"

static const char *const fn_names[] = {"sum", "mean", "count", "min",
                                       "max", "std",  "var",   "size"};
#define NFNS (sizeof fn_names / sizeof fn_names[0])

void wf_aggs_free(wf_agg *aggs, size_t n)
{
    for (size_t i = 0; aggs && i < n; i++)
        free(aggs[i].col);
    free(aggs);
}

weft_err wf_aggs_parse(const char *spec, wf_agg **aggs, size_t *n, char *err,
                       size_t errlen)
{
    *aggs = NULL;
    *n = 0;
    wf_agg *out = NULL;
    size_t count = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *open = strchr(p, '('),
                   *close = open ? strchr(open, ')') : NULL;
        size_t at = (size_t)(p - spec) + 1;
        if (!open || !close) {
            wf_aggs_free(out, count);
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "aggregates \"%s\": expected FUNC(COLUMN) at column "
                           "%zu",
                           spec, at);
        }
        size_t fl = (size_t)(open - p);
        while (fl && p[fl - 1] == ' ')
            fl--;
        unsigned f = 0;
        while (f < NFNS &&
               !(strlen(fn_names[f]) == fl && memcmp(fn_names[f], p, fl) == 0))
            f++;
        if (f == NFNS) {
            wf_aggs_free(out, count);
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "aggregates \"%s\": unknown function '%.*s' at "
                           "column %zu (there are sum, mean, count, min, max, "
                           "std, var, size)",
                           spec, (int)fl, p, at);
        }
        const char *c = open + 1, *ce = close;
        while (c < ce && *c == ' ')
            c++;
        while (ce > c && ce[-1] == ' ')
            ce--;
        if ((f == WF_AGG_SIZE) != (c == ce)) {
            wf_aggs_free(out, count);
            return wf_errf(WEFT_EINVAL, err, errlen,
                           f == WF_AGG_SIZE
                               ? "aggregates \"%s\": size() takes no column "
                                 "(column %zu)"
                               : "aggregates \"%s\": a column is missing at "
                                 "column %zu",
                           spec, (size_t)(open - spec) + 2);
        }
        wf_agg *m = realloc(out, (count + 1) * sizeof *m);
        if (!m) {
            wf_aggs_free(out, count);
            return WEFT_ENOMEM;
        }
        out = m;
        out[count].fn = (wf_agg_fn)f;
        out[count].col = c == ce ? NULL : strndup(c, (size_t)(ce - c));
        if (c != ce && !out[count].col) {
            wf_aggs_free(out, count);
            return WEFT_ENOMEM;
        }
        count++;
        p = close + 1;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p) {
            wf_aggs_free(out, count);
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "aggregates \"%s\": expected ',' at column %zu",
                           spec, (size_t)(p - spec) + 1);
        }
    }
    if (!count)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "aggregates \"%s\": none given", spec);
    *aggs = out;
    *n = count;
    return WEFT_OK;
}

/* ------------------------------------------------------------ grouping */

typedef struct grouping {
    int32_t *gid; /* per row; -1: a null key, dropped */
    size_t *rep;  /* per group: its first row */
    size_t ngroups;
} grouping;

/* The open-addressing table both grouping loops use: slots name groups;
 * per group its hash (to place it again when the table grows), its first
 * row (g->rep) and, for one text key, its key's words (tk). */
typedef struct gtable {
    int32_t *slots;
    size_t cap;
    uint64_t *gh;
    wf_tkey *tk; /* NULL unless grouping by one text key */
    size_t repcap;
} gtable;

static size_t slot_of(uint64_t h, size_t cap)
{
    return (size_t)(h ^ h >> 29) & (cap - 1);
}

static void gtable_free(gtable *t)
{
    free(t->slots);
    free(t->gh);
    free(t->tk);
}

/* Row i starts a group at empty slot s: returns its id, or -1 when out of
 * memory. The table doubles once half full. */
static int32_t new_group(gtable *t, grouping *g, size_t s, size_t i, uint64_t h,
                         const wf_tkey *tk)
{
    if (g->ngroups == t->repcap) {
        size_t n = t->repcap * 2;
        size_t *r = realloc(g->rep, n * sizeof *r);
        if (r)
            g->rep = r;
        uint64_t *rh = r ? realloc(t->gh, n * sizeof *rh) : NULL;
        if (rh)
            t->gh = rh;
        wf_tkey *rk = rh && t->tk ? realloc(t->tk, n * sizeof *rk) : NULL;
        if (rk)
            t->tk = rk;
        if (!rh || (t->tk && !rk))
            return -1;
        t->repcap = n;
    }
    int32_t id = (int32_t)g->ngroups++;
    g->rep[id] = i;
    t->gh[id] = h;
    if (tk)
        t->tk[id] = *tk;
    t->slots[s] = id;
    if (g->ngroups * 2 > t->cap) { /* grow: place the groups again */
        size_t ncap = t->cap * 2;
        int32_t *ns = malloc(ncap * sizeof *ns);
        if (!ns)
            return -1;
        memset(ns, 0xff, ncap * sizeof *ns);
        for (size_t q = 0; q < g->ngroups; q++) {
            size_t x = slot_of(t->gh[q], ncap);
            while (ns[x] >= 0)
                x = (x + 1) & (ncap - 1);
            ns[x] = (int32_t)q;
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    return id;
}

/* One text key (the common case: group by a name): each group keeps its
 * key's two words and length (keys.h), so a row is hashed and matched
 * from one 16-byte load, with no call and no trip to the group's first
 * row; keys over 16 bytes are hashed with XXH3 and compared in full. */
static weft_err group_text(const wf_column *c, size_t nrows, grouping *g,
                           gtable *t)
{
    for (size_t i = 0; i < nrows; i++) {
        if (!wf_col_present(c, i)) {
            g->gid[i] = -1;
            continue;
        }
        wf_tkey k;
        uint64_t h = wf_text_key(c, i, &k);
        for (size_t s = slot_of(h, t->cap);; s = (s + 1) & (t->cap - 1)) {
            int32_t id = t->slots[s];
            if (id < 0) {
                if ((g->gid[i] = new_group(t, g, s, i, h, &k)) < 0)
                    return WEFT_ENOMEM;
                break;
            }
            if (wf_tkey_equal(&t->tk[id], c, g->rep[id], &k, c, i)) {
                g->gid[i] = id;
                break;
            }
        }
    }
    return WEFT_OK;
}

/* Any keys: rows are hashed a block at a time (the hashes stay in cache,
 * and no per-row hash array is allocated: fresh pages are costly). */
static weft_err group_any(const wf_column *const *keys, size_t nkeys,
                          size_t nrows, grouping *g, gtable *t)
{
    uint64_t h[WF_HASH_BLOCK];
    for (size_t b0 = 0; b0 < nrows; b0 += WF_HASH_BLOCK) {
        size_t bn = nrows - b0 < WF_HASH_BLOCK ? nrows - b0 : WF_HASH_BLOCK;
        wf_keys_hash_at(keys, nkeys, b0, bn, h);
        for (size_t j = 0; j < bn; j++) {
            size_t i = b0 + j;
            bool null = false;
            for (size_t k = 0; k < nkeys && !null; k++)
                null = wf_key_null(keys[k], i);
            if (null) {
                g->gid[i] = -1;
                continue;
            }
            for (size_t s = slot_of(h[j], t->cap);;
                 s = (s + 1) & (t->cap - 1)) {
                int32_t id = t->slots[s];
                if (id < 0) {
                    if ((g->gid[i] = new_group(t, g, s, i, h[j], NULL)) < 0)
                        return WEFT_ENOMEM;
                    break;
                }
                size_t r = g->rep[id];
                bool same = t->gh[id] == h[j];
                for (size_t k = 0; k < nkeys && same; k++)
                    same = wf_key_equal(keys[k], i, keys[k], r);
                if (same) {
                    g->gid[i] = id;
                    break;
                }
            }
        }
    }
    return WEFT_OK;
}

static weft_err group_rows(const wf_column *const *keys, size_t nkeys,
                           size_t nrows, grouping *g)
{
    memset(g, 0, sizeof *g);
    if (nrows > INT32_MAX)
        return WEFT_ERANGE;
    bool text = nkeys == 1 && keys[0]->type == WF_COL_STR;
    gtable t = {.cap = 64, .repcap = 16};
    g->gid = malloc((nrows ? nrows : 1) * sizeof *g->gid);
    g->rep = malloc(t.repcap * sizeof *g->rep);
    t.slots = malloc(t.cap * sizeof *t.slots);
    t.gh = malloc(t.repcap * sizeof *t.gh);
    t.tk = text ? malloc(t.repcap * sizeof *t.tk) : NULL;
    weft_err e = 0;
    if (!g->gid || !g->rep || !t.slots || !t.gh || (text && !t.tk)) {
        e = WEFT_ENOMEM;
    } else if (nkeys == 0) { /* aggregates over all rows: one group */
        for (size_t i = 0; i < nrows; i++)
            g->gid[i] = 0;
        g->rep[0] = 0;
        g->ngroups = 1;
    } else {
        memset(t.slots, 0xff, t.cap * sizeof *t.slots);
        e = text ? group_text(keys[0], nrows, g, &t)
                 : group_any(keys, nkeys, nrows, g, &t);
    }
    gtable_free(&t);
    if (e) {
        free(g->gid);
        free(g->rep);
        memset(g, 0, sizeof *g);
    }
    return e;
}

static void grouping_free(grouping *g)
{
    free(g->gid);
    free(g->rep);
}

/* ------------------------------------------------------------ states */

/* Columns of state each aggregate keeps in a partial table. */
static size_t nstate(wf_agg_fn f)
{
    return f == WF_AGG_MEAN ? 2 : f == WF_AGG_STD || f == WF_AGG_VAR ? 3 : 1;
}

static weft_err add_col(wf_table *t, const char *name, wf_column *c)
{
    weft_err e = wf_table_add(t, name, c);
    if (e)
        wf_col_free(c);
    return e;
}

static weft_err zero_col(wf_column *c, wf_coltype type, size_t n)
{
    weft_err e = wf_col_init(c, type, n);
    if (e)
        return e;
    if (type == WF_COL_BOOL)
        memset(c->v.b, 0, n);
    else
        memset(c->v.i64, 0, n * 8);
    c->len = n;
    return 0;
}

static bool is_num(wf_coltype t)
{
    return t == WF_COL_I64 || t == WF_COL_F64 || t == WF_COL_BOOL;
}

static double num_at(const wf_column *c, size_t i)
{
    return c->type == WF_COL_F64    ? c->v.f64[i]
           : c->type == WF_COL_BOOL ? c->v.b[i]
                                    : (double)c->v.i64[i];
}

/* Is the value at row i of c below (less) or above the one at j of d? */
static int val_cmp(const wf_column *c, size_t i, const wf_column *d, size_t j)
{
    if (c->type == WF_COL_STR) {
        size_t n1, n2;
        const char *a = wf_col_str(c, i, &n1), *b = wf_col_str(d, j, &n2);
        int r = memcmp(a, b, n1 < n2 ? n1 : n2);
        return r ? r : (n1 > n2) - (n1 < n2);
    }
    if (c->type == WF_COL_F64) {
        double a = c->v.f64[i], b = d->v.f64[j];
        return (a > b) - (a < b);
    }
    if (c->type == WF_COL_BOOL)
        return (c->v.b[i] > d->v.b[j]) - (c->v.b[i] < d->v.b[j]);
    return (c->v.i64[i] > d->v.i64[j]) - (c->v.i64[i] < d->v.i64[j]);
}

/* min/max of src per group into a column of src's type (null: none). */
static weft_err minmax(const wf_column *src, const grouping *g, bool max,
                       wf_column *out)
{
    size_t ng = g->ngroups;
    int64_t *best = malloc((ng ? ng : 1) * sizeof *best); /* row or -1 */
    if (!best)
        return WEFT_ENOMEM;
    for (size_t q = 0; q < ng; q++)
        best[q] = -1;
    size_t n = src->len;
    for (size_t i = 0; i < n; i++) {
        int64_t q = g->gid[i];
        if (q < 0 || !wf_col_present(src, i) ||
            (src->type == WF_COL_F64 && isnan(src->v.f64[i])))
            continue;
        int64_t b = best[q];
        if (b < 0 || (max ? val_cmp(src, i, src, (size_t)b) > 0
                          : val_cmp(src, i, src, (size_t)b) < 0))
            best[q] = (int64_t)i;
    }
    size_t *idx = calloc(ng ? ng : 1, sizeof *idx);
    if (!idx) {
        free(best);
        return WEFT_ENOMEM;
    }
    for (size_t q = 0; q < ng; q++)
        idx[q] = best[q] < 0 ? 0 : (size_t)best[q];
    weft_err e;
    if (n == 0) { /* nothing to take from: all null */
        e = wf_col_init(out, src->type, ng);
        for (size_t q = 0; !e && q < ng; q++)
            e = wf_col_push_null(out);
    } else {
        e = wf_col_take(src, idx, ng, out);
        for (size_t q = 0; !e && q < ng; q++)
            if (best[q] < 0) {
                if ((e = wf_col_make_nullable(out)))
                    break;
                out->valid[q] = 0;
            }
    }
    free(idx);
    free(best);
    return e;
}

/* The state columns of one aggregate over raw values (partial) or over
 * state columns (combine: st points at this aggregate's first state). */
static weft_err agg_states(const wf_agg *a, const wf_column *src,
                           const wf_column *st, const grouping *g, size_t nrows,
                           wf_table *out, size_t index)
{
    size_t ng = g->ngroups;
    char name[64];
    wf_column c1, c2, c3;
    weft_err e;
    const int32_t *gid = g->gid;
    switch (a->fn) {
    case WF_AGG_SIZE:
    case WF_AGG_COUNT: {
        if ((e = zero_col(&c1, WF_COL_I64, ng)))
            return e;
        int64_t *n = c1.v.i64;
        for (size_t i = 0; i < nrows; i++) {
            if (gid[i] < 0)
                continue;
            if (st)
                n[gid[i]] += st->v.i64[i];
            else
                n[gid[i]] += a->fn == WF_AGG_SIZE || wf_col_present(src, i);
        }
        snprintf(name, sizeof name, "#%zu.n", index);
        return add_col(out, name, &c1);
    }
    case WF_AGG_SUM: {
        wf_coltype t = st                        ? st->type
                       : src->type == WF_COL_F64 ? WF_COL_F64
                                                 : WF_COL_I64;
        if ((e = zero_col(&c1, t, ng)))
            return e;
        const wf_column *v = st ? st : src;
        if (t == WF_COL_F64) {
            for (size_t i = 0; i < nrows; i++)
                if (gid[i] >= 0 && wf_col_present(v, i) && !isnan(v->v.f64[i]))
                    c1.v.f64[gid[i]] += v->v.f64[i];
        } else {
            for (size_t i = 0; i < nrows; i++)
                if (gid[i] >= 0 && wf_col_present(v, i))
                    c1.v.i64[gid[i]] =
                        (int64_t)((uint64_t)c1.v.i64[gid[i]] +
                                  (uint64_t)(v->type == WF_COL_BOOL
                                                 ? v->v.b[i]
                                                 : v->v.i64[i]));
        }
        snprintf(name, sizeof name, "#%zu.sum", index);
        return add_col(out, name, &c1);
    }
    case WF_AGG_MEAN: {
        if ((e = zero_col(&c1, WF_COL_F64, ng)))
            return e;
        if ((e = zero_col(&c2, WF_COL_I64, ng))) {
            wf_col_free(&c1);
            return e;
        }
        double *s = c1.v.f64;
        int64_t *n = c2.v.i64;
        if (st) {
            for (size_t i = 0; i < nrows; i++)
                if (gid[i] >= 0) {
                    s[gid[i]] += st[0].v.f64[i];
                    n[gid[i]] += st[1].v.i64[i];
                }
        } else if (src->type == WF_COL_I64 && !src->valid) {
            const int64_t *v = src->v.i64;
            for (size_t i = 0; i < nrows; i++)
                if (gid[i] >= 0) {
                    s[gid[i]] += (double)v[i];
                    n[gid[i]]++;
                }
        } else {
            for (size_t i = 0; i < nrows; i++)
                if (gid[i] >= 0 && wf_col_present(src, i)) {
                    double d = num_at(src, i);
                    if (isnan(d))
                        continue;
                    s[gid[i]] += d;
                    n[gid[i]]++;
                }
        }
        snprintf(name, sizeof name, "#%zu.sum", index);
        if ((e = add_col(out, name, &c1))) {
            wf_col_free(&c2);
            return e;
        }
        snprintf(name, sizeof name, "#%zu.n", index);
        return add_col(out, name, &c2);
    }
    case WF_AGG_STD:
    case WF_AGG_VAR: {
        if ((e = zero_col(&c1, WF_COL_I64, ng)))
            return e;
        if ((e = zero_col(&c2, WF_COL_F64, ng))) {
            wf_col_free(&c1);
            return e;
        }
        if ((e = zero_col(&c3, WF_COL_F64, ng))) {
            wf_col_free(&c1);
            wf_col_free(&c2);
            return e;
        }
        int64_t *n = c1.v.i64;
        double *mean = c2.v.f64, *m2 = c3.v.f64;
        for (size_t i = 0; i < nrows; i++) {
            int64_t q = gid[i];
            if (q < 0)
                continue;
            if (st) { /* Chan et al.: merge (n, mean, m2) */
                int64_t nb = st[0].v.i64[i];
                if (nb == 0)
                    continue;
                double mb = st[1].v.f64[i], m2b = st[2].v.f64[i];
                int64_t na = n[q], nn = na + nb;
                double d = mb - mean[q];
                mean[q] += d * (double)nb / (double)nn;
                m2[q] += m2b + d * d * (double)na * (double)nb / (double)nn;
                n[q] = nn;
            } else { /* Welford */
                if (!wf_col_present(src, i))
                    continue;
                double x = num_at(src, i);
                if (isnan(x))
                    continue;
                n[q]++;
                double d = x - mean[q];
                mean[q] += d / (double)n[q];
                m2[q] += d * (x - mean[q]);
            }
        }
        snprintf(name, sizeof name, "#%zu.n", index);
        if ((e = add_col(out, name, &c1))) {
            wf_col_free(&c2);
            wf_col_free(&c3);
            return e;
        }
        snprintf(name, sizeof name, "#%zu.mean", index);
        if ((e = add_col(out, name, &c2))) {
            wf_col_free(&c3);
            return e;
        }
        snprintf(name, sizeof name, "#%zu.m2", index);
        return add_col(out, name, &c3);
    }
    default: /* min, max */
        if ((e = minmax(st ? st : src, g, a->fn == WF_AGG_MAX, &c1)))
            return e;
        snprintf(name, sizeof name, "#%zu.v", index);
        return add_col(out, name, &c1);
    }
}

/* The key columns of the groups (their first rows). */
static weft_err add_keys(const wf_column *const *keys, char *const *names,
                         size_t nkeys, const grouping *g, wf_table *out)
{
    for (size_t k = 0; k < nkeys; k++) {
        wf_column c;
        weft_err e = wf_col_take(keys[k], g->rep, g->ngroups, &c);
        if (e || (e = add_col(out, names[k], &c)))
            return e;
    }
    return 0;
}

weft_err wf_groupby_partial(const wf_table *t, const char *const *keys,
                            size_t nkeys, const wf_agg *aggs, size_t naggs,
                            wf_table *out, char *err, size_t errlen)
{
    wf_table_init(out);
    if (nkeys > 64)
        return wf_errf(WEFT_EINVAL, err, errlen,
                       "groupby: 0 to 64 key columns, not %zu", nkeys);
    const wf_column *kc[64];
    char *kn[64];
    for (size_t k = 0; k < nkeys; k++) {
        long j = wf_table_find(t, keys[k]);
        if (j < 0)
            return wf_errf(WEFT_EINVAL, err, errlen, "groupby: no column '%s'",
                           keys[k]);
        kc[k] = &t->cols[j];
        kn[k] = t->names[j];
    }
    const wf_column **src = calloc(naggs + 1, sizeof *src);
    if (!src)
        return WEFT_ENOMEM;
    for (size_t a = 0; a < naggs; a++) {
        if (aggs[a].fn == WF_AGG_SIZE)
            continue;
        long j = wf_table_find(t, aggs[a].col);
        if (j < 0) {
            free(src);
            return wf_errf(WEFT_EINVAL, err, errlen, "%s(%s): no column '%s'",
                           fn_names[aggs[a].fn], aggs[a].col, aggs[a].col);
        }
        src[a] = &t->cols[j];
        bool need_num = aggs[a].fn == WF_AGG_SUM || aggs[a].fn == WF_AGG_MEAN ||
                        aggs[a].fn == WF_AGG_STD || aggs[a].fn == WF_AGG_VAR;
        if (need_num && !is_num(src[a]->type)) {
            const char *tn = wf_coltype_name(src[a]->type);
            free(src);
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "%s(%s): '%s' is a %s column, not a number",
                           fn_names[aggs[a].fn], aggs[a].col, aggs[a].col, tn);
        }
    }
    grouping g;
    weft_err e = group_rows(kc, nkeys, t->nrows, &g);
    if (!e)
        e = add_keys(kc, kn, nkeys, &g, out);
    for (size_t a = 0; !e && a < naggs; a++)
        e = agg_states(&aggs[a], src[a], NULL, &g, t->nrows, out, a);
    if (!e)
        out->nrows = g.ngroups;
    grouping_free(&g);
    free(src);
    if (e)
        wf_table_free(out);
    return e;
}

static weft_err check_layout(const wf_table *p, size_t nkeys,
                             const wf_agg *aggs, size_t naggs, char *err,
                             size_t errlen)
{
    size_t want = nkeys;
    for (size_t a = 0; a < naggs; a++)
        want += nstate(aggs[a].fn);
    if (p->ncols != want)
        return wf_errf(
            WEFT_EINVAL, err, errlen,
            "groupby: a partial table with %zu columns, expected %zu", p->ncols,
            want);
    return 0;
}

weft_err wf_groupby_combine(const wf_table *parts, size_t n, size_t nkeys,
                            const wf_agg *aggs, size_t naggs, wf_table *out,
                            char *err, size_t errlen)
{
    wf_table_init(out);
    if (n == 0 || nkeys > 64)
        return wf_errf(WEFT_EINVAL, err, errlen, "groupby: nothing to combine");
    wf_table all;
    wf_table_init(&all);
    weft_err e = 0;
    for (size_t i = 0; !e && i < n; i++)
        e = check_layout(&parts[i], nkeys, aggs, naggs, err, errlen);
    for (size_t j = 0; !e && j < parts[0].ncols; j++) {
        wf_column c;
        if ((e = wf_col_init(&c, parts[0].cols[j].type, 0)))
            break;
        for (size_t i = 0; !e && i < n; i++)
            e = parts[i].cols[j].type == c.type
                    ? wf_col_append(&c, &parts[i].cols[j])
                    : wf_errf(WEFT_EINVAL, err, errlen,
                              "groupby: partial tables differ in "
                              "column %zu",
                              j + 1);
        if (e || (e = wf_table_add(&all, parts[0].names[j], &c)))
            wf_col_free(&c);
    }
    if (e) {
        wf_table_free(&all);
        return e;
    }
    const wf_column *kc[64];
    for (size_t k = 0; k < nkeys; k++)
        kc[k] = &all.cols[k];
    grouping g;
    e = group_rows(kc, nkeys, all.nrows, &g);
    if (!e)
        e = add_keys(kc, all.names, nkeys, &g, out);
    size_t col = nkeys;
    for (size_t a = 0; !e && a < naggs; a++) {
        e = agg_states(&aggs[a], NULL, &all.cols[col], &g, all.nrows, out, a);
        col += nstate(aggs[a].fn);
    }
    if (!e)
        out->nrows = g.ngroups;
    grouping_free(&g);
    wf_table_free(&all);
    if (e)
        wf_table_free(out);
    return e;
}

static int cmp_groups(const void *x, const void *y, void *arg)
{
    const wf_table *p = ((const void **)arg)[0];
    size_t nkeys = *(const size_t *)((const void **)arg)[1];
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    for (size_t k = 0; k < nkeys; k++) {
        int c = val_cmp(&p->cols[k], i, &p->cols[k], j);
        if (c)
            return c;
    }
    return (i > j) - (i < j);
}

weft_err wf_groupby_final(const wf_table *partial, size_t nkeys,
                          const wf_agg *aggs, size_t naggs, wf_table *out,
                          char *err, size_t errlen)
{
    wf_table_init(out);
    weft_err e = check_layout(partial, nkeys, aggs, naggs, err, errlen);
    if (e)
        return e;
    size_t ng = partial->nrows;
    size_t *order = malloc((ng ? ng : 1) * sizeof *order);
    if (!order)
        return WEFT_ENOMEM;
    for (size_t q = 0; q < ng; q++)
        order[q] = q;
    const void *ctx[2] = {partial, &nkeys};
    qsort_r(order, ng, sizeof *order, cmp_groups, ctx);
    for (size_t k = 0; !e && k < nkeys; k++) {
        wf_column c;
        if (!(e = wf_col_take(&partial->cols[k], order, ng, &c)))
            e = add_col(out, partial->names[k], &c);
    }
    size_t col = nkeys;
    for (size_t a = 0; !e && a < naggs; a++) {
        const wf_column *s = &partial->cols[col];
        col += nstate(aggs[a].fn);
        char name[300];
        snprintf(name, sizeof name, "%s(%s)", fn_names[aggs[a].fn],
                 aggs[a].col ? aggs[a].col : "");
        wf_column c;
        wf_agg_fn f = aggs[a].fn;
        if (f == WF_AGG_MIN || f == WF_AGG_MAX || f == WF_AGG_SUM ||
            f == WF_AGG_COUNT || f == WF_AGG_SIZE) {
            if (!(e = wf_col_take(s, order, ng, &c)))
                e = add_col(out, name, &c);
            continue;
        }
        if ((e = wf_col_init(&c, WF_COL_F64, ng)))
            break;
        for (size_t q = 0; !e && q < ng; q++) {
            size_t r = order[q];
            double v;
            bool null;
            if (f == WF_AGG_MEAN) {
                int64_t n = s[1].v.i64[r];
                null = n == 0;
                v = null ? 0 : s[0].v.f64[r] / (double)n;
            } else {
                int64_t n = s[0].v.i64[r];
                null = n < 2;
                v = null ? 0 : s[2].v.f64[r] / (double)(n - 1);
                if (f == WF_AGG_STD)
                    v = sqrt(v);
            }
            e = null ? wf_col_push_null(&c) : wf_col_push_f64(&c, v);
        }
        if (e || (e = add_col(out, name, &c)))
            break;
    }
    free(order);
    if (!e)
        out->nrows = ng;
    else
        wf_table_free(out);
    return e;
}
