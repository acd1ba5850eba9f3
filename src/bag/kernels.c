/* The graph kernels behind bags: each works on partitions (bag_int.h) and
 * is registered by name in every process (WG_KERNEL), so a bag's tasks
 * carry only names, parameters and partitions. */
#include "bag/bag_int.h"

#include <jansson.h>
#include <stdlib.h>

/* ------------------------------------------------------------ helpers */

weft_err wb_part_in(wg_call *c, size_t i, const uint8_t **p, size_t *n)
{
    const weft_value *v = wg_in(c, i);
    if (!v || (v->type != WEFT_T_BYTES && v->type != WEFT_T_STR))
        return wg_fail(c, "input %zu is not a partition", i);
    *p = v->u.buf.data;
    *n = v->u.buf.len;
    return 0;
}

weft_err wb_corrupt(wg_call *c, size_t i)
{
    return wg_fail(c, "input %zu is not a partition of records", i);
}

weft_err wb_out_part(wg_call *c, const wb_buf *b)
{
    weft_value v = weft_bytes(b->p ? (const void *)b->p : "", b->len);
    return wg_out(c, &v);
}

weft_err wb_nomem(wg_call *c)
{
    return wg_fail(c, "out of memory");
}

weft_err wb_fn_failed(wg_call *c, const wb_fnparams *fp, const wb_out *o,
                      weft_err e, size_t k)
{
    if (o->nomem)
        return wb_nomem(c);
    return wg_fail(c, "%.*s failed on record %zu of the partition: %s",
                   (int)fp->namelen, fp->name, k,
                   o->failed ? o->err : weft_strerror(e));
}

/* Every record of every input partition, in order, to fn with its
 * encoded bytes; stops at fn's first error. The loop the merging kernels
 * (frequencies, distinct, fold) share. */
typedef weft_err (*rec_fn)(void *st, wg_call *c, const wb_rec *r,
                           const uint8_t *raw, size_t rawlen);

static weft_err each_record(wg_call *c, rec_fn fn, void *st)
{
    weft_err e = 0;
    for (size_t i = 0; i < wg_nin(c) && !e; i++) {
        const uint8_t *p = NULL;
        size_t n = 0, off = 0, at = 0;
        if ((e = wb_part_in(c, i, &p, &n)))
            break;
        wb_rec r;
        int got = 0;
        while (!e && (got = wb_next(p, n, &off, &r)) > 0) {
            e = fn(st, c, &r, p + at, off - at);
            at = off;
        }
        if (got < 0 && !e)
            e = wb_corrupt(c, i);
    }
    return e;
}

/* ------------------------------------------------------------ literal */

/* wb_k_lit(partition): the partition itself (a from_sequence part). */
static weft_err wb_k_lit(wg_call *c)
{
    const weft_value *v = wg_in(c, 0);
    if (!v)
        return wg_fail(c, "no input");
    return wg_out(c, v);
}
WG_KERNEL(wb_k_lit)

/* ------------------------------------------------------------ frequencies */

static int cmp_freq(const void *a, const void *b)
{
    const wb_entry *x = a, *y = b;
    if (x->val != y->val)
        return x->val > y->val ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int d = memcmp(wb_entry_key(x), wb_entry_key(y), m);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

weft_err wb_freq_out(wg_call *c, const wb_table *t, bool sort)
{
    wb_entry *all = malloc((t->n + 1) * sizeof *all);
    wb_buf out = {0};
    if (!all)
        return wb_nomem(c);
    size_t k = 0, bytes = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].tag) {
            all[k++] = t->e[i];
            bytes += WB_HDR + 9 + t->e[i].len;
        }
    if (sort)
        qsort(all, k, sizeof *all, cmp_freq);
    weft_err e = wb_buf_reserve(&out, bytes + 1) ? 0 : wb_nomem(c);
    for (size_t i = 0; i < k && !e; i++)
        wb_put_rec(&out, WB_COUNT, wb_entry_key(&all[i]), all[i].len,
                   all[i].val);
    if (!e)
        e = wb_out_part(c, &out);
    free(out.p);
    free(all);
    return e;
}

static weft_err freq_add(void *st, wg_call *c, const wb_rec *r,
                         const uint8_t *raw, size_t rawlen)
{
    (void)raw;
    (void)rawlen;
    wb_rec key = wb_text(r->data, r->len);
    bool isnew;
    wb_entry *en = wb_table_get(st, &key, &isnew);
    if (!en)
        return wb_nomem(c);
    en->val += r->kind == WB_COUNT ? r->n : 1;
    return 0;
}

/* wb_k_freq(partitions...): partial (key, count) records added up; params
 * (u32): sort the result by count, then key. */
static weft_err wb_k_freq(wg_call *c)
{
    size_t plen;
    const uint32_t *sort = wg_params(c, &plen);
    if (plen != 4)
        return wg_fail(c, "bad parameters");
    wb_table t = {0};
    weft_err e = each_record(c, freq_add, &t);
    if (!e)
        e = wb_freq_out(c, &t, *sort != 0);
    wb_table_free(&t);
    return e;
}
WG_KERNEL(wb_k_freq)

/* ------------------------------------------------------------ distinct */

typedef struct distinct {
    wb_table seen;
    wb_buf out;
} distinct;

static weft_err distinct_add(void *st, wg_call *c, const wb_rec *r,
                             const uint8_t *raw, size_t rawlen)
{
    distinct *d = st;
    bool isnew;
    if (!wb_table_get(&d->seen, r, &isnew) ||
        (isnew && !wb_buf_put(&d->out, raw, rawlen)))
        return wb_nomem(c);
    return 0;
}

/* wb_k_distinct(partitions...): first occurrences, in input order. */
static weft_err wb_k_distinct(wg_call *c)
{
    distinct d = {{0}, {0}};
    weft_err e = each_record(c, distinct_add, &d);
    if (!e)
        e = wb_out_part(c, &d.out);
    free(d.out.p);
    wb_table_free(&d.seen);
    return e;
}
WG_KERNEL(wb_k_distinct)

/* ------------------------------------------------------------ fold */

weft_err wb_folder_init(wb_folder *f, wg_call *c, const void *params,
                        size_t plen)
{
    memset(f, 0, sizeof *f);
    uint32_t has_init = 0;
    if (!wb_fnparams_get(params, plen, &f->fp) || f->fp.extralen < 4)
        return wg_fail(c, "bad parameters");
    memcpy(&has_init, f->fp.extra, 4);
    f->fn = wb_fn_find(f->fp.name, f->fp.namelen, WB_FN_FOLD);
    if (!f->fn)
        return wg_fail(c, "no fold function '%.*s' in this program",
                       (int)f->fp.namelen, f->fp.name);
    if (has_init) {
        size_t off = 0;
        wb_rec init;
        if (wb_next((const uint8_t *)f->fp.extra + 4, f->fp.extralen - 4, &off,
                    &init) != 1)
            return wg_fail(c, "bad initial record");
        if (wb_emit(&f->o[0], &init))
            return wb_nomem(c);
        f->have = true;
    }
    return 0;
}

weft_err wb_folder_add(wb_folder *f, wg_call *c, const wb_rec *r)
{
    f->k++;
    if (!f->have) { /* the first record starts the fold */
        f->have = true;
        return wb_emit(&f->o[f->cur], r) ? wb_nomem(c) : 0;
    }
    wb_rec acc;
    size_t z = 0;
    wb_next(f->o[f->cur].buf.p, f->o[f->cur].buf.len, &z, &acc);
    wb_out *nx = &f->o[1 - f->cur];
    nx->buf.len = 0;
    nx->emitted = 0;
    weft_err fe = f->fn(&acc, r, nx, f->fp.arg, f->fp.arglen);
    if (fe || nx->failed || nx->nomem)
        return wb_fn_failed(c, &f->fp, nx, fe ? fe : WEFT_ETASK, f->k - 1);
    if (nx->emitted != 1)
        return wg_fail(c,
                       "fold function '%.*s' emitted %zu records (one "
                       "expected)",
                       (int)f->fp.namelen, f->fp.name, nx->emitted);
    f->cur = 1 - f->cur;
    return 0;
}

weft_err wb_folder_out(wb_folder *f, wg_call *c)
{
    wb_buf none = {0};
    return wb_out_part(c, f->have ? &f->o[f->cur].buf : &none);
}

void wb_folder_free(wb_folder *f)
{
    free(f->o[0].buf.p);
    free(f->o[1].buf.p);
}

static weft_err fold_add(void *st, wg_call *c, const wb_rec *r,
                         const uint8_t *raw, size_t rawlen)
{
    (void)raw;
    (void)rawlen;
    return wb_folder_add(st, c, r);
}

/* wb_k_fold(partitions...): the fold in params over every record of the
 * inputs in order (see wb_folder). */
static weft_err wb_k_fold(wg_call *c)
{
    size_t plen;
    const void *params = wg_params(c, &plen);
    wb_folder f;
    weft_err e = wb_folder_init(&f, c, params, plen);
    if (!e)
        e = each_record(c, fold_add, &f);
    if (!e)
        e = wb_folder_out(&f, c);
    wb_folder_free(&f);
    return e;
}
WG_KERNEL(wb_k_fold)

/* ------------------------------------------------------------ groupby */

/* Piece j of a split output, or false when it is malformed. */
static bool split_piece(const uint8_t *p, size_t n, uint32_t j,
                        const uint8_t **q, size_t *len)
{
    uint32_t np;
    if (n < 4)
        return false;
    memcpy(&np, p, 4);
    if (j >= np || n < 4 + 8 * (size_t)np)
        return false;
    size_t at = 4 + 8 * (size_t)np;
    for (uint32_t i = 0; i <= j; i++) {
        uint64_t l;
        memcpy(&l, p + 4 + 8 * (size_t)i, 8);
        if (l > n - at)
            return false;
        if (i == j) {
            *q = p + at;
            *len = (size_t)l;
        }
        at += (size_t)l;
    }
    return true;
}

typedef struct gitem {
    uint32_t group;
    wb_rec rec;
} gitem;

/* wb_k_group(splits...): piece j (params: u32) of every split output,
 * grouped by key in order of first occurrence: JSON [key, [records]]. */
static weft_err wb_k_group(wg_call *c)
{
    size_t plen;
    const uint32_t *jp = wg_params(c, &plen);
    if (plen != 4)
        return wg_fail(c, "bad parameters");
    wb_table t = {0};
    gitem *items = NULL;
    wb_rec *keys = NULL;
    size_t nitems = 0, capitems = 0, nkeys = 0, capkeys = 0;
    weft_err e = 0;
    for (size_t i = 0; i < wg_nin(c) && !e; i++) {
        const uint8_t *p = NULL, *q = NULL;
        size_t n = 0, len = 0, off = 0;
        if ((e = wb_part_in(c, i, &p, &n)))
            break;
        if (!split_piece(p, n, *jp, &q, &len)) {
            e = wb_corrupt(c, i);
            break;
        }
        wb_rec key, r;
        int got = 0;
        while ((got = wb_next(q, len, &off, &key)) > 0) {
            if (wb_next(q, len, &off, &r) != 1) {
                got = -1;
                break;
            }
            bool isnew;
            wb_entry *en = wb_table_get(&t, &key, &isnew);
            if (!en) {
                e = wb_nomem(c);
                break;
            }
            if (isnew) {
                if (nkeys == capkeys) {
                    capkeys = capkeys ? capkeys * 2 : 256;
                    wb_rec *m = realloc(keys, capkeys * sizeof *m);
                    if (!m) {
                        e = wb_nomem(c);
                        break;
                    }
                    keys = m;
                }
                en->val = (int64_t)nkeys;
                keys[nkeys++] = key;
            }
            if (nitems == capitems) {
                capitems = capitems ? capitems * 2 : 1024;
                gitem *m = realloc(items, capitems * sizeof *m);
                if (!m) {
                    e = wb_nomem(c);
                    break;
                }
                items = m;
            }
            items[nitems++] = (gitem){(uint32_t)en->val, r};
        }
        if (got < 0 && !e)
            e = wb_corrupt(c, i);
    }
    /* order the items by group, stably: counting sort */
    size_t *start = e ? NULL : calloc(nkeys + 1, sizeof *start);
    wb_rec *sorted = e ? NULL : malloc((nitems + 1) * sizeof *sorted);
    if (!e && (!start || !sorted))
        e = wb_nomem(c);
    wb_buf out = {0}, js = {0};
    if (!e) {
        for (size_t i = 0; i < nitems; i++)
            start[items[i].group + 1]++;
        for (size_t g = 0; g < nkeys; g++)
            start[g + 1] += start[g];
        for (size_t i = 0; i < nitems; i++)
            sorted[start[items[i].group]++] = items[i].rec;
        for (size_t g = nkeys; g > 0; g--) /* back to each group's start */
            start[g] = start[g - 1];
        start[0] = 0;
    }
    for (size_t g = 0; g < nkeys && !e; g++) {
        js.len = 0;
        bool ok = wb_buf_put(&js, "[", 1) && wb_json_append(&js, &keys[g]) &&
                  wb_buf_put(&js, ",[", 2);
        size_t end = g + 1 < nkeys ? start[g + 1] : nitems;
        for (size_t i = start[g]; i < end && ok; i++)
            ok = (i == start[g] || wb_buf_put(&js, ",", 1)) &&
                 wb_json_append(&js, &sorted[i]);
        ok = ok && wb_buf_put(&js, "]]", 2) &&
             wb_put_rec(&out, WB_JSON, js.p, js.len, 0);
        if (!ok)
            e = wb_nomem(c);
    }
    if (!e)
        e = wb_out_part(c, &out);
    free(out.p);
    free(js.p);
    free(start);
    free(sorted);
    free(items);
    free(keys);
    wb_table_free(&t);
    return e;
}
WG_KERNEL(wb_k_group)

void wb_kernels_link(void)
{
}
