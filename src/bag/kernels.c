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

static weft_err nomem(wg_call *c)
{
    return wg_fail(c, "out of memory");
}

/* The failure of user function name on record k. */
static weft_err fn_failed(wg_call *c, const wb_fnparams *fp, const wb_out *o,
                          weft_err e, size_t k)
{
    if (o->nomem)
        return nomem(c);
    return wg_fail(c, "%.*s failed on record %zu of the partition: %s",
                   (int)fp->namelen, fp->name, k,
                   o->failed ? o->err : weft_strerror(e));
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

/* ------------------------------------------------------------ apply */

/* Elements of a JSON array record, strings as text records. */
static weft_err flatten_one(wg_call *c, const wb_rec *r, wb_buf *out, size_t k)
{
    json_t *j = NULL;
    if (r->kind == WB_JSON)
        j = json_loadb(r->data, r->len, JSON_DECODE_ANY, NULL);
    if (!json_is_array(j)) {
        json_decref(j);
        return wg_fail(c,
                       "flatten: record %zu of the partition is not a "
                       "JSON array",
                       k);
    }
    weft_err e = 0;
    for (size_t i = 0; i < json_array_size(j) && !e; i++) {
        json_t *x = json_array_get(j, i);
        wb_out o = {.buf = *out};
        if (json_is_string(x))
            e = wb_emit_text(&o, json_string_value(x), json_string_length(x));
        else
            e = wb_emit_json(&o, x);
        *out = o.buf;
    }
    json_decref(j);
    return e ? nomem(c) : 0;
}

/* wb_k_apply(partition): map, flat_map, filter or flatten, by params. */
static weft_err wb_k_apply(wg_call *c)
{
    size_t plen, n = 0;
    const void *params = wg_params(c, &plen);
    wb_fnparams fp;
    const uint8_t *p = NULL;
    if (!wb_fnparams_get(params, plen, &fp))
        return wg_fail(c, "bad parameters");
    weft_err e = wb_part_in(c, 0, &p, &n);
    if (e)
        return e;
    void *fn = NULL;
    if (fp.op != WB_OP_FLATTEN) {
        fn = wb_fn_find(fp.name, fp.namelen,
                        fp.op == WB_OP_FILTER ? WB_FN_FILTER : WB_FN_MAP);
        if (!fn)
            return wg_fail(c, "no %s function '%.*s' in this program",
                           fp.op == WB_OP_FILTER ? "filter" : "map",
                           (int)fp.namelen, fp.name);
    }
    wb_out o = {0};
    if (!wb_buf_reserve(&o.buf, n + 64))
        return nomem(c);
    size_t off = 0, k = 0;
    wb_rec r;
    int got = 0;
    while (!e && (got = wb_next(p, n, &off, &r)) != 0) {
        if (got < 0) {
            e = wb_corrupt(c, 0);
            break;
        }
        if (fp.op == WB_OP_FILTER) {
            size_t sz = wb_rec_size(&r);
            if (((wb_filter_fn)fn)(&r, fp.arg, fp.arglen) &&
                !wb_buf_put(&o.buf, p + off - sz, sz))
                e = nomem(c);
        } else if (fp.op == WB_OP_FLATTEN) {
            e = flatten_one(c, &r, &o.buf, k);
        } else {
            size_t before = o.emitted;
            weft_err fe = ((wb_map_fn)fn)(&r, &o, fp.arg, fp.arglen);
            if (fe || o.failed || o.nomem)
                e = fn_failed(c, &fp, &o, fe ? fe : WEFT_ETASK, k);
            else if (fp.op == WB_OP_MAP && o.emitted != before + 1)
                e = wg_fail(c,
                            "map function '%.*s' emitted %zu records for one "
                            "(wb_flat_map allows any number)",
                            (int)fp.namelen, fp.name, o.emitted - before);
        }
        k++;
    }
    if (!e)
        e = wb_out_part(c, &o.buf);
    free(o.buf.p);
    return e;
}
WG_KERNEL(wb_k_apply)

/* ------------------------------------------------------------ count */

/* wb_k_count(partition): its number of records, an i64. */
static weft_err wb_k_count(wg_call *c)
{
    const uint8_t *p = NULL;
    size_t n = 0, off = 0;
    weft_err e = wb_part_in(c, 0, &p, &n);
    if (e)
        return e;
    int64_t k = 0;
    wb_rec r;
    int got = 0;
    while ((got = wb_next(p, n, &off, &r)) > 0)
        k++;
    if (got < 0)
        return wb_corrupt(c, 0);
    weft_value v = weft_i64(k);
    return wg_out(c, &v);
}
WG_KERNEL(wb_k_count)

/* ------------------------------------------------------------ frequencies */

typedef struct freq_params {
    uint32_t merge; /* inputs are (key, count) records to add up */
    uint32_t sort;  /* the final result: sorted by count, then key */
} freq_params;

static int cmp_freq(const void *a, const void *b)
{
    const wb_entry *x = a, *y = b;
    if (x->val != y->val)
        return x->val > y->val ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->data, y->data, m);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* wb_k_freq(partitions...): (key, count) of every record's text. */
static weft_err wb_k_freq(wg_call *c)
{
    size_t plen;
    const freq_params *fp = wg_params(c, &plen);
    if (plen != sizeof *fp)
        return wg_fail(c, "bad parameters");
    wb_table t = {0};
    weft_err e = 0;
    for (size_t i = 0; i < wg_nin(c) && !e; i++) {
        const uint8_t *p = NULL;
        size_t n = 0, off = 0;
        if ((e = wb_part_in(c, i, &p, &n)))
            break;
        wb_rec r;
        int got = 0;
        while ((got = wb_next(p, n, &off, &r)) > 0) {
            int64_t add = fp->merge && r.kind == WB_COUNT ? r.n : 1;
            wb_rec key = wb_text(r.data, r.len); /* by text only */
            bool isnew;
            wb_entry *en = wb_table_get(&t, &key, &isnew);
            if (!en) {
                e = nomem(c);
                break;
            }
            en->val += add;
        }
        if (got < 0 && !e)
            e = wb_corrupt(c, i);
    }
    wb_entry *all = NULL;
    wb_buf out = {0};
    if (!e && !(all = malloc((t.n + 1) * sizeof *all)))
        e = nomem(c);
    if (!e) {
        size_t k = 0, bytes = 0;
        for (size_t i = 0; i < t.cap; i++)
            if (t.e[i].used) {
                all[k++] = t.e[i];
                bytes += WB_HDR + 9 + t.e[i].len;
            }
        if (fp->sort)
            qsort(all, k, sizeof *all, cmp_freq);
        if (!wb_buf_reserve(&out, bytes + 1))
            e = nomem(c);
        for (size_t i = 0; i < k && !e; i++)
            wb_put_rec(&out, WB_COUNT, all[i].data, all[i].len, all[i].val);
    }
    if (!e)
        e = wb_out_part(c, &out);
    free(out.p);
    free(all);
    wb_table_free(&t);
    return e;
}
WG_KERNEL(wb_k_freq)

/* ------------------------------------------------------------ distinct */

/* wb_k_distinct(partitions...): first occurrences, in input order. */
static weft_err wb_k_distinct(wg_call *c)
{
    wb_table t = {0};
    wb_buf out = {0};
    weft_err e = 0;
    for (size_t i = 0; i < wg_nin(c) && !e; i++) {
        const uint8_t *p = NULL;
        size_t n = 0, off = 0;
        if ((e = wb_part_in(c, i, &p, &n)))
            break;
        wb_rec r;
        int got = 0;
        while ((got = wb_next(p, n, &off, &r)) > 0) {
            bool isnew;
            if (!wb_table_get(&t, &r, &isnew)) {
                e = nomem(c);
                break;
            }
            size_t sz = wb_rec_size(&r);
            if (isnew && !wb_buf_put(&out, p + off - sz, sz)) {
                e = nomem(c);
                break;
            }
        }
        if (got < 0 && !e)
            e = wb_corrupt(c, i);
    }
    if (!e)
        e = wb_out_part(c, &out);
    free(out.p);
    wb_table_free(&t);
    return e;
}
WG_KERNEL(wb_k_distinct)

/* ------------------------------------------------------------ fold */

/* wb_k_fold(partitions...): the fold function in params over every record
 * of the inputs in order, from the initial record in params' extra
 * ([u32 has_initial][record]) or else from the first record. */
static weft_err wb_k_fold(wg_call *c)
{
    size_t plen;
    const void *params = wg_params(c, &plen);
    wb_fnparams fp;
    uint32_t has_init = 0;
    if (!wb_fnparams_get(params, plen, &fp) || fp.extralen < 4)
        return wg_fail(c, "bad parameters");
    memcpy(&has_init, fp.extra, 4);
    wb_fold_fn fn = wb_fn_find(fp.name, fp.namelen, WB_FN_FOLD);
    if (!fn)
        return wg_fail(c, "no fold function '%.*s' in this program",
                       (int)fp.namelen, fp.name);
    wb_out o[2];
    memset(o, 0, sizeof o);
    int cur = 0; /* o[cur] holds acc when it was computed */
    wb_rec acc;
    bool have = false;
    weft_err e = 0;
    if (has_init) {
        size_t off = 0;
        if (wb_next((const uint8_t *)fp.extra + 4, fp.extralen - 4, &off,
                    &acc) != 1)
            return wg_fail(c, "bad initial record");
        have = true;
    }
    size_t k = 0;
    for (size_t i = 0; i < wg_nin(c) && !e; i++) {
        const uint8_t *p = NULL;
        size_t n = 0, off = 0;
        if ((e = wb_part_in(c, i, &p, &n)))
            break;
        wb_rec r;
        int got = 0;
        while (!e && (got = wb_next(p, n, &off, &r)) > 0) {
            k++;
            if (!have) {
                acc = r;
                have = true;
                continue;
            }
            wb_out *nx = &o[1 - cur];
            nx->buf.len = 0;
            nx->emitted = 0;
            weft_err fe = fn(&acc, &r, nx, fp.arg, fp.arglen);
            if (fe || nx->failed || nx->nomem)
                e = fn_failed(c, &fp, nx, fe ? fe : WEFT_ETASK, k - 1);
            else if (nx->emitted != 1)
                e = wg_fail(c,
                            "fold function '%.*s' emitted %zu records "
                            "(one expected)",
                            (int)fp.namelen, fp.name, nx->emitted);
            else {
                size_t z = 0;
                wb_next(nx->buf.p, nx->buf.len, &z, &acc);
                cur = 1 - cur;
            }
        }
        if (got < 0 && !e)
            e = wb_corrupt(c, i);
    }
    wb_buf out = {0};
    if (!e && have && !wb_put_rec(&out, acc.kind, acc.data, acc.len, acc.n))
        e = nomem(c);
    if (!e)
        e = wb_out_part(c, &out);
    free(out.p);
    free(o[0].buf.p);
    free(o[1].buf.p);
    return e;
}
WG_KERNEL(wb_k_fold)

/* ------------------------------------------------------------ groupby */

/* wb_k_split(partition): records hashed by key into npart pieces (params'
 * extra: u32 npart), as [u32 npart][u64 sizes[npart]] then the pieces,
 * each a run of (key record, record) pairs. */
static weft_err wb_k_split(wg_call *c)
{
    size_t plen, n = 0;
    const void *params = wg_params(c, &plen);
    wb_fnparams fp;
    uint32_t np;
    const uint8_t *p = NULL;
    if (!wb_fnparams_get(params, plen, &fp) || fp.extralen != 4)
        return wg_fail(c, "bad parameters");
    memcpy(&np, fp.extra, 4);
    if (np == 0)
        return wg_fail(c, "bad parameters");
    weft_err e = wb_part_in(c, 0, &p, &n);
    if (e)
        return e;
    wb_map_fn fn = wb_fn_find(fp.name, fp.namelen, WB_FN_MAP);
    if (!fn)
        return wg_fail(c, "no map function '%.*s' in this program",
                       (int)fp.namelen, fp.name);
    wb_buf *piece = calloc(np, sizeof *piece);
    wb_out ko = {0};
    if (!piece)
        return nomem(c);
    size_t off = 0, k = 0;
    wb_rec r;
    int got = 0;
    while (!e && (got = wb_next(p, n, &off, &r)) > 0) {
        ko.buf.len = 0;
        ko.emitted = 0;
        weft_err fe = fn(&r, &ko, fp.arg, fp.arglen);
        if (fe || ko.failed || ko.nomem) {
            e = fn_failed(c, &fp, &ko, fe ? fe : WEFT_ETASK, k);
            break;
        }
        if (ko.emitted != 1) {
            e = wg_fail(c, "key function '%.*s' emitted %zu records for one",
                        (int)fp.namelen, fp.name, ko.emitted);
            break;
        }
        wb_rec key;
        size_t z = 0;
        wb_next(ko.buf.p, ko.buf.len, &z, &key);
        uint32_t j = (uint32_t)(wb_rec_hash(&key) % np);
        size_t sz = wb_rec_size(&r);
        if (!wb_buf_put(&piece[j], ko.buf.p, ko.buf.len) ||
            !wb_buf_put(&piece[j], p + off - sz, sz))
            e = nomem(c);
        k++;
    }
    if (got < 0 && !e)
        e = wb_corrupt(c, 0);
    size_t total = 4 + 8 * (size_t)np;
    for (uint32_t j = 0; j < np; j++)
        total += piece[j].len;
    uint8_t *d = NULL;
    if (!e)
        e = wg_out_alloc(c, WEFT_T_BYTES, 0, 0, NULL, total, (void **)&d);
    if (!e) {
        memcpy(d, &np, 4);
        uint8_t *q = d + 4 + 8 * (size_t)np;
        for (uint32_t j = 0; j < np; j++) {
            uint64_t len = piece[j].len;
            memcpy(d + 4 + 8 * (size_t)j, &len, 8);
            if (len)
                memcpy(q, piece[j].p, len);
            q += len;
        }
    }
    for (uint32_t j = 0; j < np; j++)
        free(piece[j].p);
    free(piece);
    free(ko.buf.p);
    return e;
}
WG_KERNEL(wb_k_split)

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
                e = nomem(c);
                break;
            }
            if (isnew) {
                if (nkeys == capkeys) {
                    capkeys = capkeys ? capkeys * 2 : 256;
                    wb_rec *m = realloc(keys, capkeys * sizeof *m);
                    if (!m) {
                        e = nomem(c);
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
                    e = nomem(c);
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
        e = nomem(c);
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
            e = nomem(c);
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
