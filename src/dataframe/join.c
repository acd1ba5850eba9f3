/* Hash join (see join.h): right's rows are bucketed by key in an
 * open-addressing table (each distinct key: its rows, in order); each left
 * row probes it and the matching (left, right) row pairs are gathered,
 * then every output column is one take. */
#include "dataframe/join.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/keys.h"

/* right's rows by distinct key: slots -> key number; rows of key k are
 * order[start[k] .. start[k + 1]). */
typedef struct buckets {
    int64_t *slots;
    size_t cap, nkeys;
    size_t *rep;   /* a row of each key */
    size_t *start; /* nkeys + 1 */
    size_t *order;
    uint64_t *h; /* right's row hashes */
    wf_tkey *tk; /* one text key: each distinct key's words (keys.h) */
} buckets;

static void buckets_free(buckets *b)
{
    free(b->slots);
    free(b->rep);
    free(b->start);
    free(b->order);
    free(b->h);
    free(b->tk);
}

/* Joining on one text key (matched by its words, keys.h). */
static bool text1(const wf_column *const *k, size_t nk)
{
    return nk == 1 && k[0]->type == WF_COL_STR;
}

static weft_err build(const wf_column *const *rk, size_t nk, size_t n,
                      buckets *b)
{
    memset(b, 0, sizeof *b);
    b->cap = 16;
    while (b->cap < 2 * n)
        b->cap *= 2;
    b->slots = malloc(b->cap * sizeof *b->slots);
    b->rep = malloc((n ? n : 1) * sizeof *b->rep);
    b->h = malloc((n ? n : 1) * sizeof *b->h);
    int64_t *kid = malloc((n ? n : 1) * sizeof *kid);
    b->order = malloc((n ? n : 1) * sizeof *b->order);
    if (!b->slots || !b->rep || !b->h || !kid || !b->order) {
        free(kid);
        buckets_free(b);
        return WEFT_ENOMEM;
    }
    memset(b->slots, 0xff, b->cap * sizeof *b->slots);
    bool t1 = text1(rk, nk);
    if (t1 && !(b->tk = malloc((n ? n : 1) * sizeof *b->tk))) {
        free(kid);
        buckets_free(b);
        return WEFT_ENOMEM;
    }
    if (!t1)
        wf_keys_hash(rk, nk, n, b->h);
    for (size_t i = 0; i < n; i++) {
        bool null = false;
        for (size_t k = 0; k < nk && !null; k++)
            null = wf_key_null(rk[k], i);
        kid[i] = -1;
        if (null)
            continue;
        wf_tkey tk;
        if (t1)
            b->h[i] = wf_text_key(rk[0], i, &tk);
        size_t s = (size_t)b->h[i] & (b->cap - 1);
        for (;; s = (s + 1) & (b->cap - 1)) {
            int64_t id = b->slots[s];
            if (id < 0) {
                b->rep[b->nkeys] = i;
                if (t1)
                    b->tk[b->nkeys] = tk;
                b->slots[s] = (int64_t)b->nkeys;
                kid[i] = (int64_t)b->nkeys++;
                break;
            }
            size_t r = b->rep[id];
            bool same = b->h[r] == b->h[i];
            for (size_t k = 0; k < nk && same; k++)
                same = wf_key_equal(rk[k], i, rk[k], r);
            if (same) {
                kid[i] = id;
                break;
            }
        }
    }
    /* counting sort of the rows by key, keeping their order */
    b->start = calloc(b->nkeys + 2, sizeof *b->start);
    if (!b->start) {
        free(kid);
        buckets_free(b);
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (kid[i] >= 0)
            b->start[kid[i] + 2]++;
    for (size_t k = 2; k < b->nkeys + 2; k++)
        b->start[k] += b->start[k - 1];
    for (size_t i = 0; i < n; i++)
        if (kid[i] >= 0)
            b->order[b->start[kid[i] + 1]++] = i;
    free(kid);
    return 0;
}

/* The key number of left row i, or -1. */
static int64_t probe(const buckets *b, const wf_column *const *lk,
                     const wf_column *const *rk, size_t nk, size_t i,
                     uint64_t h)
{
    for (size_t k = 0; k < nk; k++)
        if (wf_key_null(lk[k], i))
            return -1;
    if (b->tk) { /* one text key: matched by its words */
        wf_tkey tk;
        h = wf_text_key(lk[0], i, &tk);
        for (size_t s = (size_t)h & (b->cap - 1);; s = (s + 1) & (b->cap - 1)) {
            int64_t id = b->slots[s];
            if (id < 0)
                return -1;
            if (wf_tkey_equal(&b->tk[id], rk[0], b->rep[id], &tk, lk[0], i))
                return id;
        }
    }
    for (size_t s = (size_t)h & (b->cap - 1);; s = (s + 1) & (b->cap - 1)) {
        int64_t id = b->slots[s];
        if (id < 0)
            return -1;
        size_t r = b->rep[id];
        bool same = b->h[r] == h;
        for (size_t k = 0; k < nk && same; k++)
            same = wf_key_equal(lk[k], i, rk[k], r);
        if (same)
            return id;
    }
}

/* The matched rows. While pair k is left row k (each left row matched
 * once, in order: a many-to-one join), l is not written (ident). */
typedef struct pairs {
    size_t *l, *r; /* r: SIZE_MAX for no match (left join) */
    size_t n, cap;
    bool ident;
} pairs;

static bool push(pairs *p, size_t l, size_t r)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        size_t *a = realloc(p->l, cap * sizeof *a);
        if (!a)
            return false;
        p->l = a;
        size_t *b = realloc(p->r, cap * sizeof *b);
        if (!b)
            return false;
        p->r = b;
        p->cap = cap;
    }
    if (p->ident && l != p->n) { /* no longer the identity: write it out */
        for (size_t k = 0; k < p->n; k++)
            p->l[k] = k;
        p->ident = false;
    }
    if (!p->ident)
        p->l[p->n] = l;
    p->r[p->n++] = r;
    return true;
}

/* Left column c at the pairs' rows. */
static weft_err take_left(const wf_column *c, const pairs *p, wf_column *out)
{
    if (!p->ident)
        return wf_col_take(c, p->l, p->n, out);
    weft_err e = wf_col_init(out, c->type, c->len); /* every row, in order */
    if (!e && (e = wf_col_append(out, c)))
        wf_col_free(out);
    return e;
}

/* Column c at rows idx (SIZE_MAX: a null row). */
static weft_err take_or_null(const wf_column *c, const size_t *idx, size_t n,
                             wf_column *out)
{
    bool any_null = false;
    for (size_t i = 0; i < n && !any_null; i++)
        any_null = idx[i] == SIZE_MAX;
    if (!any_null && c->len)
        return wf_col_take(c, idx, n, out);
    size_t *safe = malloc((n ? n : 1) * sizeof *safe);
    if (!safe)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        any_null |= idx[i] == SIZE_MAX;
        safe[i] = idx[i] == SIZE_MAX || c->len == 0 ? 0 : idx[i];
    }
    weft_err e;
    if (c->len == 0) { /* nothing to take from: all null */
        e = wf_col_init(out, c->type, n);
        for (size_t i = 0; !e && i < n; i++)
            e = wf_col_push_null(out);
    } else {
        e = wf_col_take(c, safe, n, out);
        if (!e && any_null && !(e = wf_col_make_nullable(out)))
            for (size_t i = 0; i < n; i++)
                if (idx[i] == SIZE_MAX)
                    out->valid[i] = 0;
    }
    free(safe);
    return e;
}

static bool named_key(const char *name, const char *const *lkeys,
                      const char *const *rkeys, size_t nk)
{
    for (size_t k = 0; k < nk; k++)
        if (!strcmp(lkeys[k], rkeys[k]) && !strcmp(lkeys[k], name))
            return true;
    return false;
}

weft_err wf_join(const wf_table *left, const wf_table *right,
                 const char *const *lkeys, const char *const *rkeys,
                 size_t nkeys, wf_join_how how, wf_table *out, char *err,
                 size_t errlen)
{
    return wf_join_cols(left, right, lkeys, rkeys, nkeys, how, NULL, 0, out,
                        err, errlen);
}

static bool kept(const char *name, const char *const *keep, size_t nkeep)
{
    if (!keep)
        return true;
    for (size_t i = 0; i < nkeep; i++)
        if (strcmp(keep[i], name) == 0)
            return true;
    return false;
}

weft_err wf_join_cols(const wf_table *left, const wf_table *right,
                      const char *const *lkeys, const char *const *rkeys,
                      size_t nkeys, wf_join_how how, const char *const *keep,
                      size_t nkeep, wf_table *out, char *err, size_t errlen)
{
    wf_table_init(out);
    if (nkeys == 0 || nkeys > 64)
        return wf_errf(WEFT_EINVAL, err, errlen, "join: 1 to 64 keys, not %zu",
                       nkeys);
    const wf_column *lk[64], *rk[64];
    for (size_t k = 0; k < nkeys; k++) {
        long a = wf_table_find(left, lkeys[k]),
             b = wf_table_find(right, rkeys[k]);
        if (a < 0 || b < 0)
            return wf_errf(
                WEFT_EINVAL, err, errlen, "join: no column '%s' on the %s",
                a < 0 ? lkeys[k] : rkeys[k], a < 0 ? "left" : "right");
        lk[k] = &left->cols[a];
        rk[k] = &right->cols[b];
        if (lk[k]->type != rk[k]->type)
            return wf_errf(WEFT_EINVAL, err, errlen,
                           "join: key '%s' is a %s on the left, '%s' a %s on "
                           "the right",
                           lkeys[k], wf_coltype_name(lk[k]->type), rkeys[k],
                           wf_coltype_name(rk[k]->type));
    }
    buckets b;
    weft_err e = build(rk, nkeys, right->nrows, &b);
    if (e)
        return e;
    uint64_t lh[WF_HASH_BLOCK];
    pairs p = {.ident = true};
    /* room for one match a row (grown if there are more): untouched
     * pages of l cost nothing while the join is many-to-one */
    p.cap = left->nrows ? left->nrows : 1;
    p.l = malloc(p.cap * sizeof *p.l);
    p.r = malloc(p.cap * sizeof *p.r);
    if (!p.l || !p.r)
        e = WEFT_ENOMEM;
    for (size_t i = 0; i < left->nrows && !e; i++) {
        if (i % WF_HASH_BLOCK == 0 && !b.tk) /* the next block's hashes */
            wf_keys_hash_at(lk, nkeys, i,
                            left->nrows - i < WF_HASH_BLOCK ? left->nrows - i
                                                            : WF_HASH_BLOCK,
                            lh);
        int64_t id =
            probe(&b, lk, rk, nkeys, i, b.tk ? 0 : lh[i % WF_HASH_BLOCK]);
        if (id < 0) {
            if (how == WF_JOIN_LEFT && !push(&p, i, SIZE_MAX))
                e = WEFT_ENOMEM;
            continue;
        }
        for (size_t q = b.start[id]; q < b.start[id + 1] && !e; q++)
            if (!push(&p, i, b.order[q]))
                e = WEFT_ENOMEM;
    }
    buckets_free(&b);
    if (!e && p.ident && p.n != left->nrows) { /* a prefix: write it out */
        for (size_t k = 0; k < p.n; k++)
            p.l[k] = k;
        p.ident = false;
    }
    for (size_t j = 0; !e && j < left->ncols; j++) {
        const char *name = left->names[j];
        char buf[600];
        if (wf_table_find(right, name) >= 0 &&
            !named_key(name, lkeys, rkeys, nkeys)) {
            snprintf(buf, sizeof buf, "%s_x", name);
            name = buf;
        }
        if (!kept(name, keep, nkeep))
            continue;
        wf_column c;
        if (!(e = take_left(&left->cols[j], &p, &c)) &&
            (e = wf_table_add(out, name, &c)))
            wf_col_free(&c);
    }
    for (size_t j = 0; !e && j < right->ncols; j++) {
        const char *name = right->names[j];
        if (named_key(name, lkeys, rkeys, nkeys))
            continue;
        char buf[600];
        if (wf_table_find(left, name) >= 0) {
            snprintf(buf, sizeof buf, "%s_y", name);
            name = buf;
        }
        if (!kept(name, keep, nkeep))
            continue;
        wf_column c;
        if (!(e = take_or_null(&right->cols[j], p.r, p.n, &c)) &&
            (e = wf_table_add(out, name, &c)))
            wf_col_free(&c);
    }
    free(p.l);
    free(p.r);
    if (e)
        wf_table_free(out);
    else
        out->nrows = p.n;
    return e;
}
