/* wb_k_pipe: one partition's whole blockwise chain in one kernel call.
 * Records come from the input partition or straight from a block of a
 * file, pass one at a time through the map / flat_map / filter / flatten
 * stages (each stage emits into its own small buffer, reused for every
 * record), and end in a sink: collected, counted, counted by text,
 * deduplicated, folded, split by key for groupby, or written as lines.
 * No stage's output for the whole partition is ever built.
 *
 * Parameters: [u32 term][u32 termlen][u32 srclen][u32 nops][u32 opslen],
 * then the terminal's bytes, the source's (empty: the input partition;
 * else wb_block_params and a path), and the ops, each [u32 len][fnparams]. */
#include "bag/bag_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct stage {
    wb_fnparams fp;
    void *fn;
    wb_splitter split; /* a built-in splitter used as a flat map */
    wb_out out;
} stage;

#define WB_BATCH 32 /* keys hashed and prefetched before they are counted */

typedef struct chain {
    wg_call *c;
    stage *st;
    uint32_t nops, term;
    size_t k; /* records read from the source */
    wb_buf out;
    int64_t count;
    wb_table t;
    wb_arena keys;
    uint64_t bh[WB_BATCH]; /* frequencies: a batch of keys */
    size_t boff[WB_BATCH + 1], nb;
    wb_buf bk;
    wb_folder fold;
    wb_fnparams kfp; /* split */
    wb_map_fn kfn;
    uint32_t np;
    wb_buf *piece;
    wb_out ko;
    FILE *f; /* write */
    char path[4097];
    wb_buf js;
} chain;

/* ------------------------------------------------------------ sinks */

static weft_err sink_split(chain *p, const wb_rec *r)
{
    p->ko.buf.len = 0;
    p->ko.emitted = 0;
    weft_err fe = p->kfn(r, &p->ko, p->kfp.arg, p->kfp.arglen);
    if (fe || p->ko.failed || p->ko.nomem)
        return wb_fn_failed(p->c, &p->kfp, &p->ko, fe ? fe : WEFT_ETASK,
                            p->k - 1);
    if (p->ko.emitted != 1)
        return wg_fail(p->c, "key function '%.*s' emitted %zu records for one",
                       (int)p->kfp.namelen, p->kfp.name, p->ko.emitted);
    wb_rec key;
    size_t z = 0;
    wb_next(p->ko.buf.p, p->ko.buf.len, &z, &key);
    wb_buf *b = &p->piece[wb_rec_hash(&key) % p->np];
    if (!wb_buf_put(b, p->ko.buf.p, p->ko.buf.len) ||
        !wb_put_rec(b, r->kind, r->data, r->len, r->n))
        return wb_nomem(p->c);
    return 0;
}

/* Count the batch of keys in the table. */
static weft_err count_batch(chain *p)
{
    bool isnew;
    for (size_t i = 0; i < p->nb; i++) {
        wb_rec key = wb_text((const char *)p->bk.p + p->boff[i],
                             p->boff[i + 1] - p->boff[i]);
        wb_entry *en = wb_table_get_h(&p->t, &key, p->bh[i], &isnew);
        if (!en)
            return wb_nomem(p->c);
        en->val++;
    }
    p->nb = 0;
    return 0;
}

static weft_err sink(chain *p, const wb_rec *r)
{
    bool isnew;
    wb_entry *en;
    switch (p->term) {
    case WB_T_COLLECT:
        return wb_put_rec(&p->out, r->kind, r->data, r->len, r->n)
                   ? 0
                   : wb_nomem(p->c);
    case WB_T_COUNT:
        p->count++;
        return 0;
    case WB_T_FREQ: { /* by text only; in batches, to overlap misses */
        wb_rec key = wb_text(r->data, r->len);
        uint64_t h = wb_rec_hash(&key);
        wb_table_prefetch(&p->t, h);
        if (p->nb == 0)
            p->bk.len = 0;
        if (!wb_buf_put(&p->bk, r->data, r->len))
            return wb_nomem(p->c);
        p->bh[p->nb++] = h;
        p->boff[p->nb] = p->bk.len;
        return p->nb == WB_BATCH ? count_batch(p) : 0;
    }
    case WB_T_DISTINCT:
        if (!(en = wb_table_get(&p->t, r, &isnew)))
            return wb_nomem(p->c);
        if (isnew && !wb_put_rec(&p->out, r->kind, r->data, r->len, r->n))
            return wb_nomem(p->c);
        return 0;
    case WB_T_FOLD:
        return wb_folder_add(&p->fold, p->c, r);
    case WB_T_SPLIT:
        return sink_split(p, r);
    default: { /* WB_T_WRITE */
        const char *s = r->data;
        size_t len = r->len;
        if (r->kind == WB_COUNT) {
            p->js.len = 0;
            if (!wb_json_append(&p->js, r))
                return wb_nomem(p->c);
            s = (const char *)p->js.p;
            len = p->js.len;
        }
        if (fwrite(s, 1, len, p->f) != len || fputc('\n', p->f) == EOF)
            return wg_fail(p->c, "%s: %s", p->path, strerror(errno));
        p->count++;
        return 0;
    }
    }
}

/* ------------------------------------------------------------ stages */

static weft_err push(chain *p, uint32_t s, const wb_rec *r);

/* Push the records stage x emitted (from its buffer) to stage s + 1. */
static weft_err push_emitted(chain *p, uint32_t s, stage *x)
{
    size_t off = 0;
    wb_rec y;
    weft_err e = 0;
    while (!e && wb_next(x->out.buf.p, x->out.buf.len, &off, &y) > 0)
        e = push(p, s + 1, &y);
    x->out.buf.len = 0;
    return e;
}

static weft_err flatten(chain *p, uint32_t s, stage *x, const wb_rec *r)
{
    json_t *j = NULL;
    if (r->kind == WB_JSON)
        j = json_loadb(r->data, r->len, JSON_DECODE_ANY, NULL);
    if (!json_is_array(j)) {
        json_decref(j);
        return wg_fail(p->c,
                       "flatten: record %zu of the partition is not a JSON "
                       "array",
                       p->k - 1);
    }
    weft_err e = 0;
    for (size_t i = 0; i < json_array_size(j) && !e; i++) {
        json_t *v = json_array_get(j, i);
        e = json_is_string(v) ? wb_emit_text(&x->out, json_string_value(v),
                                             json_string_length(v))
                              : wb_emit_json(&x->out, v);
        e = e ? wb_nomem(p->c) : push_emitted(p, s, x);
    }
    json_decref(j);
    return e;
}

typedef struct piece_ctx {
    chain *p;
    uint32_t s;
} piece_ctx;

/* A piece from a built-in splitter at stage s, on to stage s + 1. */
static weft_err push_piece(void *ctx, const char *w, size_t n)
{
    piece_ctx *pc = ctx;
    wb_rec r = wb_text(w, n);
    return push(pc->p, pc->s + 1, &r);
}

static weft_err push(chain *p, uint32_t s, const wb_rec *r)
{
    if (s == p->nops)
        return sink(p, r);
    stage *x = &p->st[s];
    if (x->split) {
        piece_ctx pc = {p, s};
        weft_err e = x->split(r, &x->out.buf, push_piece, &pc);
        return e == WEFT_ENOMEM ? wb_nomem(p->c) : e;
    }
    switch (x->fp.op) {
    case WB_OP_FILTER:
        return ((wb_filter_fn)x->fn)(r, x->fp.arg, x->fp.arglen)
                   ? push(p, s + 1, r)
                   : 0;
    case WB_OP_FLATTEN:
        return flatten(p, s, x, r);
    default: {
        x->out.buf.len = 0;
        x->out.emitted = 0;
        weft_err fe = ((wb_map_fn)x->fn)(r, &x->out, x->fp.arg, x->fp.arglen);
        if (fe || x->out.failed || x->out.nomem)
            return wb_fn_failed(p->c, &x->fp, &x->out, fe ? fe : WEFT_ETASK,
                                p->k - 1);
        if (x->fp.op == WB_OP_MAP && x->out.emitted != 1)
            return wg_fail(p->c,
                           "map function '%.*s' emitted %zu records for one "
                           "(wb_flat_map allows any number)",
                           (int)x->fp.namelen, x->fp.name, x->out.emitted);
        return push_emitted(p, s, x);
    }
    }
}

/* ------------------------------------------------------------ sources */

static bool blank(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Push the lines starting in the file block bp names. */
static weft_err from_block(chain *p, const void *src, size_t srclen)
{
    wg_call *c = p->c;
    wb_block_params bp;
    if (srclen < sizeof bp)
        return wg_fail(c, "bad parameters");
    memcpy(&bp, src, sizeof bp);
    if (srclen != sizeof bp + bp.pathlen || bp.pathlen > 4096 || bp.off < 0 ||
        bp.len < 0)
        return wg_fail(c, "bad parameters");
    char path[4097];
    memcpy(path, (const char *)src + sizeof bp, bp.pathlen);
    path[bp.pathlen] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wg_fail(c, "%s: %s", path, strerror(errno));
    int64_t a = bp.off > 0 ? bp.off - 1 : 0, end = bp.off + bp.len;
    wb_buf d = {0}, js = {0};
    weft_err e = wb_read_block(c, fd, path, a, end, &d);
    size_t s = 0, lim = (size_t)(end - a), nl_before = 0;
    if (!e && bp.off > 0) { /* the line under way belongs to the block before */
        const uint8_t *nl = memchr(d.p, '\n', d.len);
        s = nl ? (size_t)(nl - d.p) + 1 : d.len;
        nl_before = nl != NULL;
    }
    while (!e && s < lim && s < d.len) {
        const uint8_t *nl = memchr(d.p + s, '\n', d.len - s);
        size_t eol = nl ? (size_t)(nl - d.p) : d.len, n = eol - s;
        if (n && d.p[s + n - 1] == '\r')
            n--;
        d.p[s + n] = '\0'; /* records end in a NUL (a spare byte at the end) */
        wb_rec r = wb_text((const char *)d.p + s, n);
        if (!bp.json) {
            p->k++;
            e = push(p, 0, &r);
        } else if (!blank(d.p + s, n)) {
            json_error_t je;
            json_t *j =
                json_loadb((const char *)d.p + s, n, JSON_DECODE_ANY, &je);
            if (!j) {
                int64_t line = wb_lines_before(fd, a) + (int64_t)nl_before + 1;
                e = wg_fail(c, "%s:%lld: not JSON: %s (column %d)", path,
                            (long long)line, je.text, je.column);
                break;
            }
            js.len = 0;
            size_t z = 0;
            e = wb_put_json(&js, j) ? wb_nomem(c) : 0;
            json_decref(j);
            if (!e && wb_next(js.p, js.len, &z, &r) == 1) {
                p->k++;
                e = push(p, 0, &r);
            }
        }
        s = eol + 1;
        nl_before++;
    }
    close(fd);
    free(d.p);
    free(js.p);
    return e;
}

static weft_err from_input(chain *p)
{
    const uint8_t *q = NULL;
    size_t n = 0, off = 0;
    weft_err e = wb_part_in(p->c, 0, &q, &n);
    wb_rec r;
    int got = 0;
    while (!e && (got = wb_next(q, n, &off, &r)) > 0) {
        p->k++;
        e = push(p, 0, &r);
    }
    if (!e && got < 0)
        e = wb_corrupt(p->c, 0);
    return e;
}

/* ------------------------------------------------------------ the kernel */

/* Set up the sink for term (its bytes t[0..tlen)). */
static weft_err sink_init(chain *p, const void *t, size_t tlen)
{
    wg_call *c = p->c;
    switch (p->term) {
    case WB_T_COLLECT:
    case WB_T_COUNT:
    case WB_T_FREQ:
    case WB_T_DISTINCT:
        return 0;
    case WB_T_FOLD:
        return wb_folder_init(&p->fold, c, t, tlen);
    case WB_T_SPLIT:
        if (!wb_fnparams_get(t, tlen, &p->kfp) || p->kfp.extralen != 4)
            return wg_fail(c, "bad parameters");
        memcpy(&p->np, p->kfp.extra, 4);
        p->kfn = wb_fn_find(p->kfp.name, p->kfp.namelen, WB_FN_MAP);
        if (!p->kfn)
            return wg_fail(c, "no map function '%.*s' in this program",
                           (int)p->kfp.namelen, p->kfp.name);
        if (p->np == 0 || !(p->piece = calloc(p->np, sizeof *p->piece)))
            return p->np ? wb_nomem(c) : wg_fail(c, "bad parameters");
        return 0;
    case WB_T_WRITE:
        if (tlen == 0 || tlen > 4096)
            return wg_fail(c, "bad parameters");
        memcpy(p->path, t, tlen);
        p->path[tlen] = '\0';
        if (!(p->f = fopen(p->path, "we")))
            return wg_fail(c, "%s: %s", p->path, strerror(errno));
        return 0;
    default:
        return wg_fail(c, "bad parameters");
    }
}

static weft_err split_out(chain *p)
{
    size_t total = 4 + 8 * (size_t)p->np;
    for (uint32_t j = 0; j < p->np; j++)
        total += p->piece[j].len;
    uint8_t *d = NULL;
    weft_err e =
        wg_out_alloc(p->c, WEFT_T_BYTES, 0, 0, NULL, total, (void **)&d);
    if (e)
        return e;
    memcpy(d, &p->np, 4);
    uint8_t *q = d + 4 + 8 * (size_t)p->np;
    for (uint32_t j = 0; j < p->np; j++) {
        uint64_t len = p->piece[j].len;
        memcpy(d + 4 + 8 * (size_t)j, &len, 8);
        if (len)
            memcpy(q, p->piece[j].p, len);
        q += len;
    }
    return 0;
}

static weft_err sink_out(chain *p)
{
    weft_value v;
    switch (p->term) {
    case WB_T_COLLECT:
    case WB_T_DISTINCT:
        return wb_out_part(p->c, &p->out);
    case WB_T_FREQ: {
        weft_err e = count_batch(p);
        return e ? e : wb_freq_out(p->c, &p->t, false);
    }
    case WB_T_FOLD:
        return wb_folder_out(&p->fold, p->c);
    case WB_T_SPLIT:
        return split_out(p);
    case WB_T_WRITE: {
        FILE *f = p->f;
        p->f = NULL;
        if (fclose(f) != 0)
            return wg_fail(p->c, "%s: %s", p->path, strerror(errno));
    }
        /* fall through */
    default:
        v = weft_i64(p->count);
        return wg_out(p->c, &v);
    }
}

static void chain_free(chain *p)
{
    for (uint32_t s = 0; p->st && s < p->nops; s++)
        free(p->st[s].out.buf.p);
    free(p->st);
    free(p->out.p);
    wb_table_free(&p->t);
    wb_arena_free(&p->keys);
    if (p->term == WB_T_FOLD)
        wb_folder_free(&p->fold);
    for (uint32_t j = 0; p->piece && j < p->np; j++)
        free(p->piece[j].p);
    free(p->piece);
    free(p->ko.buf.p);
    if (p->f)
        fclose(p->f);
    free(p->js.p);
    free(p->bk.p);
}

static weft_err wb_k_pipe(wg_call *c)
{
    size_t plen;
    const uint8_t *prm = wg_params(c, &plen);
    uint32_t h[5];
    if (!prm || plen < sizeof h)
        return wg_fail(c, "bad parameters");
    memcpy(h, prm, sizeof h);
    if ((uint64_t)h[1] + h[2] + h[4] != plen - sizeof h || h[3] > 4096)
        return wg_fail(c, "bad parameters");
    const uint8_t *term = prm + sizeof h, *src = term + h[1], *ops = src + h[2];
    chain p = {.c = c, .term = h[0], .nops = h[3]};
    p.t.keys = &p.keys; /* records in the chain do not outlive a step */
    weft_err e = 0;
    if (p.nops && !(p.st = calloc(p.nops, sizeof *p.st)))
        return wb_nomem(c);
    size_t at = 0;
    for (uint32_t s = 0; s < p.nops && !e; s++) {
        uint32_t len;
        stage *x = &p.st[s];
        if (h[4] - at < 4 || (memcpy(&len, ops + at, 4), len > h[4] - at - 4) ||
            !wb_fnparams_get(ops + at + 4, len, &x->fp)) {
            e = wg_fail(c, "bad parameters");
            break;
        }
        at += 4 + len;
        if (x->fp.op == WB_OP_FLATTEN)
            continue;
        x->fn = wb_fn_find(x->fp.name, x->fp.namelen,
                           x->fp.op == WB_OP_FILTER ? WB_FN_FILTER : WB_FN_MAP);
        if (x->fp.op == WB_OP_FLATMAP)
            x->split = wb_splitter_of(x->fn);
        if (!x->fn)
            e = wg_fail(c, "no %s function '%.*s' in this program",
                        x->fp.op == WB_OP_FILTER ? "filter" : "map",
                        (int)x->fp.namelen, x->fp.name);
    }
    if (!e)
        e = sink_init(&p, term, h[1]);
    if (!e)
        e = h[2] ? from_block(&p, src, h[2]) : from_input(&p);
    if (!e)
        e = sink_out(&p);
    chain_free(&p);
    return e;
}
WG_KERNEL(wb_k_pipe)

void wb_pipe_link(void)
{
}
