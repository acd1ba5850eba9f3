/* Bags as lazy graphs (see include/weft/bag.h). A bag is, per partition,
 * a base (a graph node, or a block of a file read by the partition's own
 * task) and the chain of map / flat_map / filter / flatten steps applied
 * since. The chain is not a node per step: whatever consumes a partition
 * (compute, count, a frequencies or groupby stage, a fold, a writer) adds
 * ONE node, wb_k_pipe, that streams the records from the base through the
 * steps into that consumer. Bags derived from one another share a graph;
 * actions compute what they need. */
#include "bag/bag_int.h"

#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define WB_DEFAULT_BLOCK (16u << 20)

typedef struct wb_graph {
    weft_runtime *rt;
    wg_graph *g;
    size_t refs;
} wb_graph;

struct wb_bag {
    wb_graph *G;
    size_t np;
    wg_node *parts;  /* bases; UINT32_MAX where the base is a file block */
    uint8_t *srcbuf; /* file blocks: partition i's is [srcoff[i], [i+1]) */
    size_t *srcoff;
    wb_buf ops; /* the chain: nops x [u32 len][fnparams] */
    uint32_t nops;
    char what[64];    /* the last step's name, for node keys */
    wg_node *made[2]; /* collect and count nodes already added, reused */
    bool narrow;      /* partition i depends on source partition i only */
};

/* ------------------------------------------------------------ handles */

static wb_bag *bag_new(wb_graph *G, size_t np, bool narrow)
{
    wb_bag *b = calloc(1, sizeof *b);
    if (b) {
        b->parts = calloc(np ? np : 1, sizeof *b->parts);
        b->srcoff = calloc(np + 1, sizeof *b->srcoff);
    }
    if (!b || !b->parts || !b->srcoff) {
        if (b) {
            free(b->parts);
            free(b->srcoff);
        }
        free(b);
        weft_set_error(WEFT_ENOMEM, "wb: out of memory");
        return NULL;
    }
    b->G = G;
    b->np = np;
    b->narrow = narrow;
    G->refs++;
    return b;
}

static wb_graph *graph_new(weft_runtime *rt)
{
    wb_kernels_link();
    wb_pipe_link();
    wb_builtins_link();
    wb_graph *G = calloc(1, sizeof *G);
    if (G && !(G->g = wg_new(rt))) {
        free(G);
        G = NULL;
    }
    if (G)
        G->rt = rt;
    else
        weft_set_error(WEFT_ENOMEM, "wb: out of memory");
    return G;
}

WB_EXPORT void wb_free(wb_bag *b)
{
    if (!b)
        return;
    if (--b->G->refs == 0) {
        wg_free(b->G->g);
        free(b->G);
    }
    free(b->parts);
    free(b->srcbuf);
    free(b->srcoff);
    free(b->ops.p);
    free(b->made[0]);
    free(b->made[1]);
    free(b);
}

WB_EXPORT size_t wb_npartitions(const wb_bag *b)
{
    return b ? b->np : 0;
}

/* Add a node to b's graph; false with the reason as the last error. */
static bool add(wb_bag *b, size_t i, const char *kernel, const void *params,
                size_t plen, const wg_input *in, size_t nin, const char *what,
                bool fusible)
{
    char key[128];
    snprintf(key, sizeof key, "%.90s-%zu", what, i);
    wg_node n = wg_add(b->G->g, kernel, params, plen, in, nin, key, fusible);
    if (n == UINT32_MAX) {
        weft_set_error(WEFT_EINVAL, "wb: %s", wg_error(b->G->g));
        return false;
    }
    b->parts[i] = n;
    return true;
}

/* The node that streams partition i of b (base, chain) into the sink
 * term (with its bytes t[0..tlen)): *node, or false with the last error
 * set. A partition collected without a chain is its base itself. */
static bool pipe_node(wb_bag *b, size_t i, uint32_t term, const void *t,
                      size_t tlen, const char *what, wg_node *node)
{
    size_t srclen = b->srcoff[i + 1] - b->srcoff[i];
    if (term == WB_T_COLLECT && b->nops == 0 && srclen == 0) {
        *node = b->parts[i];
        return true;
    }
    /* actions repeated on one bag reuse their nodes (the graph stays small) */
    int slot = term == WB_T_COLLECT ? 0 : term == WB_T_COUNT ? 1 : -1;
    if (slot >= 0 && !b->made[slot]) {
        b->made[slot] = malloc((b->np + 1) * sizeof *b->made[slot]);
        for (size_t k = 0; b->made[slot] && k < b->np; k++)
            b->made[slot][k] = UINT32_MAX;
    }
    if (slot >= 0 && b->made[slot] && b->made[slot][i] != UINT32_MAX) {
        *node = b->made[slot][i];
        return true;
    }
    uint32_t h[5] = {term, (uint32_t)tlen, (uint32_t)srclen, b->nops,
                     (uint32_t)b->ops.len};
    wb_buf prm = {0};
    if (!wb_buf_put(&prm, h, sizeof h) || !wb_buf_put(&prm, t, tlen) ||
        (srclen && !wb_buf_put(&prm, b->srcbuf + b->srcoff[i], srclen)) ||
        !wb_buf_put(&prm, b->ops.p, b->ops.len)) {
        free(prm.p);
        weft_set_error(WEFT_ENOMEM, "wb: out of memory");
        return false;
    }
    char key[160];
    snprintf(key, sizeof key, "%s%s%.60s-%zu", b->what, *b->what ? "|" : "",
             what, i);
    wg_input in = wg_node_in(b->parts[i]);
    wg_node n = wg_add(b->G->g, "wb_k_pipe", prm.p, prm.len, &in,
                       srclen ? 0 : 1, key, true);
    free(prm.p);
    if (n == UINT32_MAX) {
        weft_set_error(WEFT_EINVAL, "wb: %s", wg_error(b->G->g));
        return false;
    }
    *node = n;
    if (slot >= 0 && b->made[slot])
        b->made[slot][i] = n;
    return true;
}

/* ------------------------------------------------------------ sources */

static weft_err check_out(weft_runtime *rt, wb_bag **out, const char *fn)
{
    if (!rt || !out)
        return weft_set_error(WEFT_EINVAL, "%s: NULL runtime or out", fn);
    *out = NULL;
    return 0;
}

WB_EXPORT weft_err wb_from_records(weft_runtime *rt, const wb_rec *recs,
                                   size_t n, size_t npart, wb_bag **out)
{
    weft_err e = check_out(rt, out, "wb_from_records");
    if (e)
        return e;
    if (n && !recs)
        return weft_set_error(WEFT_EINVAL, "wb_from_records: NULL records");
    for (size_t i = 0; i < n; i++) {
        const wb_rec *r = &recs[i];
        if ((unsigned)r->kind > WB_COUNT || (!r->data && r->len))
            return weft_set_error(WEFT_EINVAL,
                                  "wb_from_records: record %zu is bad", i);
        if (r->kind == WB_JSON) {
            json_error_t je;
            json_t *j = json_loadb(r->data, r->len, JSON_DECODE_ANY, &je);
            if (!j)
                return weft_set_error(
                    WEFT_EINVAL, "wb_from_records: record %zu is not JSON: %s",
                    i, je.text);
            json_decref(j);
        }
    }
    if (npart == 0)
        npart = n / 1000 + 1 > 64 ? 64 : n / 1000 + 1;
    if (npart > n)
        npart = n ? n : 1;
    wb_graph *G = graph_new(rt);
    wb_bag *b = G ? bag_new(G, npart, true) : NULL;
    if (!b) {
        if (G) {
            wg_free(G->g);
            free(G);
        }
        return WEFT_ENOMEM;
    }
    wb_buf buf = {0};
    for (size_t p = 0; p < npart && !e; p++) {
        buf.len = 0;
        for (size_t i = p * n / npart; i < (p + 1) * n / npart && !e; i++)
            if (!wb_put_rec(&buf, recs[i].kind, recs[i].data, recs[i].len,
                            recs[i].n))
                e = weft_set_error(WEFT_ENOMEM,
                                   "wb_from_records: out of memory");
        wg_input in =
            wg_value_in(weft_bytes(buf.p ? (void *)buf.p : "", buf.len));
        if (!e &&
            !add(b, p, "wb_k_lit", NULL, 0, &in, 1, "from_sequence", true))
            e = WEFT_EINVAL;
    }
    free(buf.p);
    if (e) {
        wb_free(b);
        return e;
    }
    *out = b;
    return 0;
}

WB_EXPORT weft_err wb_from_sequence(weft_runtime *rt, const char *const *items,
                                    size_t n, size_t npart, wb_bag **out)
{
    if (n && !items)
        return weft_set_error(WEFT_EINVAL, "wb_from_sequence: NULL items");
    wb_rec *recs = malloc((n + 1) * sizeof *recs);
    if (!recs)
        return weft_set_error(WEFT_ENOMEM, "wb_from_sequence: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!items[i]) {
            free(recs);
            return weft_set_error(WEFT_EINVAL,
                                  "wb_from_sequence: item %zu is NULL", i);
        }
        recs[i] = wb_text(items[i], strlen(items[i]));
    }
    weft_err e = wb_from_records(rt, recs, n, npart, out);
    free(recs);
    return e;
}

WB_EXPORT void wb_read_opts_init(wb_read_opts *o)
{
    memset(o, 0, sizeof *o);
}

static weft_err read_files(weft_runtime *rt, const char *pattern,
                           const wb_read_opts *o, bool json, wb_bag **out)
{
    const char *fn = json ? "wb_read_json" : "wb_read_text";
    weft_err e = check_out(rt, out, fn);
    if (e)
        return e;
    if (!pattern || !*pattern)
        return weft_set_error(WEFT_EINVAL, "%s: no file pattern", fn);
    size_t bs = o && o->block_size ? o->block_size : WB_DEFAULT_BLOCK;
    glob_t gl;
    int rc = glob(pattern, 0, NULL, &gl);
    if (rc == GLOB_NOMATCH)
        return weft_set_error(WEFT_EIO, "%s: no file matches '%s'", fn,
                              pattern);
    if (rc != 0)
        return weft_set_error(WEFT_EIO, "%s: cannot expand '%s'", fn, pattern);
    /* the blocks: a file of size s gives max(1, ceil(s / bs)) */
    size_t np = 0;
    int64_t *sizes = calloc(gl.gl_pathc, sizeof *sizes);
    if (!sizes)
        e = weft_set_error(WEFT_ENOMEM, "%s: out of memory", fn);
    for (size_t i = 0; i < gl.gl_pathc && !e; i++) {
        struct stat st;
        const char *path = gl.gl_pathv[i];
        if (stat(path, &st) != 0)
            e = weft_set_error(WEFT_EIO, "%s: %s: %s", fn, path,
                               strerror(errno));
        else if (!S_ISREG(st.st_mode))
            e = weft_set_error(WEFT_EIO, "%s: %s: not a regular file", fn,
                               path);
        else if (strlen(path) > 4096)
            e = weft_set_error(WEFT_EINVAL, "%s: path too long: %.60s...", fn,
                               path);
        else {
            sizes[i] = st.st_size;
            np += st.st_size ? ((size_t)st.st_size + bs - 1) / bs : 1;
        }
    }
    wb_graph *G = e ? NULL : graph_new(rt);
    wb_bag *b = G ? bag_new(G, np, true) : NULL;
    if (!e && !b) {
        e = WEFT_ENOMEM;
        if (G) {
            wg_free(G->g);
            free(G);
        }
    }
    wb_buf src = {0};
    size_t p = 0;
    for (size_t i = 0; i < gl.gl_pathc && !e; i++) {
        const char *path = gl.gl_pathv[i];
        int64_t off = 0;
        do {
            wb_block_params bp = {off, 0, json, (uint32_t)strlen(path)};
            bp.len =
                sizes[i] - off < (int64_t)bs ? sizes[i] - off : (int64_t)bs;
            if (!wb_buf_put(&src, &bp, sizeof bp) ||
                !wb_buf_put(&src, path, bp.pathlen))
                e = weft_set_error(WEFT_ENOMEM, "%s: out of memory", fn);
            b->parts[p] = UINT32_MAX;
            b->srcoff[++p] = src.len;
            off += bp.len;
        } while (!e && off < sizes[i]);
    }
    if (!e) {
        b->srcbuf = src.p;
        src.p = NULL;
        snprintf(b->what, sizeof b->what, "%s",
                 json ? "read_json" : "read_text");
    }
    free(src.p);
    free(sizes);
    globfree(&gl);
    if (e) {
        wb_free(b);
        return e;
    }
    *out = b;
    return 0;
}

WB_EXPORT weft_err wb_read_text(weft_runtime *rt, const char *glob,
                                const wb_read_opts *o, wb_bag **out)
{
    return read_files(rt, glob, o, false, out);
}

WB_EXPORT weft_err wb_read_json(weft_runtime *rt, const char *glob,
                                const wb_read_opts *o, wb_bag **out)
{
    return read_files(rt, glob, o, true, out);
}

/* ------------------------------------------------------ transformations */

static const char *op_name(uint32_t op)
{
    switch (op) {
    case WB_OP_MAP:
        return "map";
    case WB_OP_FLATMAP:
        return "flat_map";
    case WB_OP_FILTER:
        return "filter";
    default:
        return "flatten";
    }
}

/* Check that fn names a function of that kind in this program. */
static bool known_fn(const char *who, const char *fn, wb_fn_kind kind)
{
    static const char *const kinds[] = {"map", "filter", "fold"};
    static const char *const macros[] = {"WB_MAP", "WB_FILTER", "WB_FOLD"};
    if (!fn || !wb_fn_find(fn, strlen(fn), kind)) {
        weft_set_error(WEFT_ENOFUNC,
                       "%s: no %s function '%s' (register it with %s)", who,
                       kinds[kind], fn ? fn : "(null)", macros[kind]);
        return false;
    }
    return true;
}

/* A copy of b's partitions and chain, on the same graph. */
static wb_bag *derive(const wb_bag *b)
{
    wb_bag *nb = bag_new(b->G, b->np, b->narrow);
    if (!nb)
        return NULL;
    memcpy(nb->parts, b->parts, b->np * sizeof *b->parts);
    memcpy(nb->srcoff, b->srcoff, (b->np + 1) * sizeof *b->srcoff);
    size_t n = b->srcoff[b->np];
    if ((n && !(nb->srcbuf = malloc(n))) ||
        !wb_buf_put(&nb->ops, b->ops.p, b->ops.len)) {
        wb_free(nb);
        weft_set_error(WEFT_ENOMEM, "wb: out of memory");
        return NULL;
    }
    if (n)
        memcpy(nb->srcbuf, b->srcbuf, n);
    nb->nops = b->nops;
    memcpy(nb->what, b->what, sizeof nb->what);
    return nb;
}

/* b with op appended to its chain (no node is added: see pipe_node). */
static wb_bag *apply(wb_bag *b, uint32_t op, const char *fn, const void *arg,
                     size_t arglen)
{
    const char *who = op_name(op);
    if (!b)
        return NULL;
    if (op != WB_OP_FLATTEN &&
        !known_fn(who, fn, op == WB_OP_FILTER ? WB_FN_FILTER : WB_FN_MAP))
        return NULL;
    if (arglen && !arg) {
        weft_set_error(WEFT_EINVAL, "wb_%s: NULL arg of %zu bytes", who,
                       arglen);
        return NULL;
    }
    if (b->nops >= 4096) {
        weft_set_error(WEFT_EINVAL, "wb_%s: a chain of more than 4096 steps",
                       who);
        return NULL;
    }
    wb_buf prm = {0};
    wb_bag *nb = NULL;
    if (!wb_fnparams_put(&prm, op, fn, arg, arglen, NULL, 0))
        weft_set_error(WEFT_ENOMEM, "wb_%s: out of memory", who);
    else if ((nb = derive(b))) {
        uint32_t len = (uint32_t)prm.len;
        if (!wb_buf_put(&nb->ops, &len, 4) ||
            !wb_buf_put(&nb->ops, prm.p, prm.len)) {
            weft_set_error(WEFT_ENOMEM, "wb_%s: out of memory", who);
            wb_free(nb);
            nb = NULL;
        } else {
            nb->nops++;
            snprintf(nb->what, sizeof nb->what, "%s(%.40s)", who, fn ? fn : "");
        }
    }
    free(prm.p);
    return nb;
}

WB_EXPORT wb_bag *wb_map(wb_bag *b, const char *fn, const void *arg,
                         size_t arglen)
{
    return apply(b, WB_OP_MAP, fn, arg, arglen);
}

WB_EXPORT wb_bag *wb_flat_map(wb_bag *b, const char *fn, const void *arg,
                              size_t arglen)
{
    return apply(b, WB_OP_FLATMAP, fn, arg, arglen);
}

WB_EXPORT wb_bag *wb_filter(wb_bag *b, const char *fn, const void *arg,
                            size_t arglen)
{
    return apply(b, WB_OP_FILTER, fn, arg, arglen);
}

WB_EXPORT wb_bag *wb_flatten(wb_bag *b)
{
    return apply(b, WB_OP_FLATTEN, NULL, NULL, 0);
}

/* A bag of one partition: each partition of b streamed into the sink
 * term (bytes t), then kernel (with params last on the final node, mid
 * below it) over groups of WB_FANIN results until one is left (at least
 * once). Nodes of several inputs are not fusible, so the partitions run
 * in parallel. */
static wb_bag *tree(wb_bag *b, uint32_t term, const void *t, size_t tlen,
                    const char *kernel, const void *mid, size_t nmid,
                    const void *last, size_t nlast, const char *what)
{
    if (!b)
        return NULL;
    wb_bag *tb = bag_new(b->G, b->np, false);
    wb_bag *nb = bag_new(b->G, 1, false);
    wg_input *in = malloc(WB_FANIN * sizeof *in);
    bool ok = tb && nb && in;
    if (!ok)
        weft_set_error(WEFT_ENOMEM, "wb_%s: out of memory", what);
    for (size_t i = 0; ok && i < b->np; i++)
        ok = pipe_node(b, i, term, t, tlen, what, &tb->parts[i]);
    size_t n = b->np, level = 0;
    while (ok && (n > 1 || level == 0)) {
        size_t m = (n + WB_FANIN - 1) / WB_FANIN;
        for (size_t g = 0; ok && g < m; g++) {
            size_t k = 0;
            for (size_t i = g * WB_FANIN; i < n && k < WB_FANIN; i++)
                in[k++] = wg_node_in(tb->parts[i]);
            char w[64];
            snprintf(w, sizeof w, "%s-combine%zu", what, level);
            ok = add(tb, g, kernel, m == 1 ? last : mid, m == 1 ? nlast : nmid,
                     in, k, w, false);
        }
        n = m;
        level++;
    }
    if (ok)
        nb->parts[0] = tb->parts[0];
    free(in);
    wb_free(tb);
    if (!ok) {
        wb_free(nb);
        return NULL;
    }
    return nb;
}

WB_EXPORT wb_bag *wb_frequencies(wb_bag *b)
{
    uint32_t mid = 0, last = 1;
    return tree(b, WB_T_FREQ, NULL, 0, "wb_k_freq", &mid, 4, &last, 4,
                "frequencies");
}

WB_EXPORT wb_bag *wb_distinct(wb_bag *b)
{
    return tree(b, WB_T_DISTINCT, NULL, 0, "wb_k_distinct", NULL, 0, NULL, 0,
                "distinct");
}
WB_EXPORT wb_bag *wb_fold(wb_bag *b, const char *binop, const char *combine,
                          const void *arg, size_t arglen, const wb_rec *initial)
{
    if (!b)
        return NULL;
    if (!combine)
        combine = binop;
    if (!known_fn("wb_fold", binop, WB_FN_FOLD) ||
        !known_fn("wb_fold", combine, WB_FN_FOLD))
        return NULL;
    if ((arglen && !arg) || (initial && ((unsigned)initial->kind > WB_COUNT ||
                                         (!initial->data && initial->len)))) {
        weft_set_error(WEFT_EINVAL, "wb_fold: bad arg or initial record");
        return NULL;
    }
    wb_buf extra = {0}, p1 = {0}, p2 = {0};
    uint32_t has = initial != NULL;
    bool ok = wb_buf_put(&extra, &has, 4) &&
              (!initial || wb_put_rec(&extra, initial->kind, initial->data,
                                      initial->len, initial->n)) &&
              wb_fnparams_put(&p1, 0, binop, arg, arglen, extra.p, extra.len) &&
              wb_fnparams_put(&p2, 0, combine, arg, arglen, extra.p, extra.len);
    wb_bag *nb = NULL;
    if (!ok)
        weft_set_error(WEFT_ENOMEM, "wb_fold: out of memory");
    else
        nb = tree(b, WB_T_FOLD, p1.p, p1.len, "wb_k_fold", p2.p, p2.len, p2.p,
                  p2.len, "fold");
    free(extra.p);
    free(p1.p);
    free(p2.p);
    return nb;
}

WB_EXPORT wb_bag *wb_groupby(wb_bag *b, const char *keyfn, const void *arg,
                             size_t arglen, size_t npart)
{
    if (!b)
        return NULL;
    if (!known_fn("wb_groupby", keyfn, WB_FN_MAP))
        return NULL;
    if (npart == 0)
        npart = b->np;
    if (npart > 65536 || b->np > 65536 || (arglen && !arg)) {
        weft_set_error(WEFT_EINVAL,
                       "wb_groupby: more than 65536 partitions or a "
                       "NULL arg");
        return NULL;
    }
    uint32_t np32 = (uint32_t)npart;
    wb_buf prm = {0};
    if (!wb_fnparams_put(&prm, 0, keyfn, arg, arglen, &np32, 4)) {
        weft_set_error(WEFT_ENOMEM, "wb_groupby: out of memory");
        return NULL;
    }
    wb_bag *s = bag_new(b->G, b->np, false);
    wb_bag *nb = bag_new(b->G, npart, false);
    wg_input *in = malloc(b->np * sizeof *in);
    bool ok = s && nb && in;
    if (!ok)
        weft_set_error(WEFT_ENOMEM, "wb_groupby: out of memory");
    for (size_t i = 0; ok && i < b->np; i++) {
        ok = pipe_node(b, i, WB_T_SPLIT, prm.p, prm.len, "groupby-split",
                       &s->parts[i]);
        in[i] = wg_node_in(s->parts[i]);
    }
    for (uint32_t j = 0; ok && j < npart; j++)
        ok = add(nb, j, "wb_k_group", &j, 4, in, b->np, "groupby", false);
    free(prm.p);
    free(in);
    wb_free(s);
    if (!ok) {
        wb_free(nb);
        return NULL;
    }
    return nb;
}

/* ------------------------------------------------------------- actions */

/* Compute nodes outs[0..n) and wait for them: vals[i] (views valid while
 * refs[i] is held; the caller releases every ref). The first failure's
 * message becomes the last error. */
static weft_err run(wb_bag *b, const wg_node *outs, size_t n, weft_ref *refs,
                    weft_value *vals)
{
    weft_runtime *rt = b->G->rt;
    memset(refs, 0, n * sizeof *refs);
    weft_err e = wg_compute(b->G->g, outs, n, refs, NULL, NULL);
    if (e)
        return weft_set_error(e, "wb: the graph could not be run: %s",
                              weft_strerror(e));
    for (size_t i = 0; i < n; i++) {
        weft_err ge = weft_get(rt, refs[i], &vals[i], WEFT_FOREVER);
        if (ge && !e) {
            const char *msg = weft_error_message(rt, refs[i]);
            e = weft_set_error(ge, "%s", msg ? msg : weft_strerror(ge));
        }
    }
    return e;
}

static weft_err check_bag(const wb_bag *b, const void *out, const char *fn)
{
    if (!b || !out)
        return weft_set_error(WEFT_EINVAL, "%s: NULL bag or out", fn);
    return 0;
}

/* Records of the partition values vals[0..n) into one allocation, at
 * most max of them. */
static weft_err collect(const weft_value *vals, size_t n, size_t max,
                        wb_records **out)
{
    size_t bytes = 0, nrec = 0;
    for (size_t i = 0; i < n && nrec < max; i++) {
        const uint8_t *p = vals[i].u.buf.data;
        size_t len = vals[i].u.buf.len, off = 0;
        wb_rec r;
        int got;
        if (vals[i].type != WEFT_T_BYTES)
            return weft_set_error(WEFT_ETYPE,
                                  "wb: partition %zu is not records", i);
        while (nrec < max && (got = wb_next(p, len, &off, &r)) > 0)
            nrec++;
        if (got < 0)
            return weft_set_error(WEFT_EPROTO, "wb: partition %zu is corrupt",
                                  i);
        bytes += off;
    }
    size_t head = sizeof(wb_records) + nrec * sizeof(wb_rec);
    wb_records *res = malloc(head + bytes + 1);
    if (!res)
        return weft_set_error(WEFT_ENOMEM, "wb: out of memory for the records");
    res->recs = (wb_rec *)(res + 1);
    res->n = 0;
    uint8_t *d = (uint8_t *)res + head;
    for (size_t i = 0; i < n && res->n < nrec; i++) {
        const uint8_t *p = vals[i].u.buf.data;
        size_t len = vals[i].u.buf.len, off = 0;
        wb_rec r;
        while (res->n < nrec && wb_next(p, len, &off, &r) > 0) {
            memcpy(d, p + off - wb_rec_size(&r), wb_rec_size(&r));
            r.data = (const char *)d + WB_HDR + (r.kind == WB_COUNT ? 8 : 0);
            d += wb_rec_size(&r);
            res->recs[res->n++] = r;
        }
    }
    *out = res;
    return 0;
}

WB_EXPORT void wb_records_free(wb_records *r)
{
    free(r);
}

/* Compute partitions [first, first + n) of b; collect at most max
 * records into *out. */
static weft_err compute_range(wb_bag *b, size_t first, size_t n, size_t max,
                              wb_records **out)
{
    weft_ref *refs = calloc(n + 1, sizeof *refs);
    weft_value *vals = calloc(n + 1, sizeof *vals);
    wg_node *nodes = calloc(n + 1, sizeof *nodes);
    weft_err e = refs && vals && nodes
                     ? 0
                     : weft_set_error(WEFT_ENOMEM, "wb: out of memory");
    for (size_t i = 0; i < n && !e; i++)
        if (!pipe_node(b, first + i, WB_T_COLLECT, NULL, 0, "collect",
                       &nodes[i]))
            e = WEFT_ENOMEM;
    if (!e)
        e = run(b, nodes, n, refs, vals);
    if (!e)
        e = collect(vals, n, max, out);
    if (refs)
        weft_release_many(b->G->rt, refs, n);
    free(refs);
    free(vals);
    free(nodes);
    return e;
}

WB_EXPORT weft_err wb_compute(wb_bag *b, wb_records **out)
{
    weft_err e = check_bag(b, out, "wb_compute");
    return e ? e : compute_range(b, 0, b->np, SIZE_MAX, out);
}

WB_EXPORT weft_err wb_take(wb_bag *b, size_t n, wb_records **out)
{
    weft_err e = check_bag(b, out, "wb_take");
    if (e)
        return e;
    /* narrow bags: the first partition, then twice as many each round */
    wb_records *acc = NULL;
    size_t done = 0, batch = b->narrow ? 1 : b->np;
    while (!e) {
        size_t k = batch < b->np - done ? batch : b->np - done;
        wb_records *got = NULL;
        e = compute_range(b, done, k, n - (acc ? acc->n : 0), &got);
        if (e)
            break;
        if (acc) { /* join the two: collect again from their records */
            size_t total = acc->n + got->n, bytes = 0;
            for (size_t i = 0; i < acc->n; i++)
                bytes += wb_rec_size(&acc->recs[i]);
            for (size_t i = 0; i < got->n; i++)
                bytes += wb_rec_size(&got->recs[i]);
            wb_buf all = {0};
            bool ok = wb_buf_reserve(&all, bytes + 1);
            for (size_t i = 0; ok && i < total; i++) {
                const wb_rec *r =
                    i < acc->n ? &acc->recs[i] : &got->recs[i - acc->n];
                ok = wb_put_rec(&all, r->kind, r->data, r->len, r->n);
            }
            wb_records_free(acc);
            wb_records_free(got);
            acc = NULL;
            weft_value v = weft_bytes(all.p ? (void *)all.p : "", all.len);
            e = ok ? collect(&v, 1, SIZE_MAX, &acc)
                   : weft_set_error(WEFT_ENOMEM, "wb_take: out of memory");
            free(all.p);
        } else {
            acc = got;
        }
        done += k;
        if (e || acc->n >= n || done >= b->np)
            break;
        batch *= 2;
    }
    if (e) {
        wb_records_free(acc);
        return e;
    }
    *out = acc;
    return 0;
}

/* A node per partition of b streaming it into the sink term, whose bytes
 * for partition i are t[i][0..tlen[i]) (t NULL: none). */
static wb_bag *per_part(wb_bag *b, uint32_t term, const void *const *t,
                        const size_t *tlen, const char *what)
{
    wb_bag *nb = bag_new(b->G, b->np, b->narrow);
    for (size_t i = 0; nb && i < b->np; i++)
        if (!pipe_node(b, i, term, t ? t[i] : NULL, t ? tlen[i] : 0, what,
                       &nb->parts[i])) {
            wb_free(nb);
            nb = NULL;
        }
    return nb;
}

/* Compute one i64 per partition of nb and sum them. */
static weft_err sum_parts(wb_bag *nb, int64_t *sum)
{
    weft_ref *refs = calloc(nb->np + 1, sizeof *refs);
    weft_value *vals = calloc(nb->np + 1, sizeof *vals);
    weft_err e =
        refs && vals ? 0 : weft_set_error(WEFT_ENOMEM, "wb: out of memory");
    if (!e)
        e = run(nb, nb->parts, nb->np, refs, vals);
    *sum = 0;
    for (size_t i = 0; !e && i < nb->np; i++)
        *sum += vals[i].type == WEFT_T_I64 ? vals[i].u.i64 : 0;
    if (refs)
        weft_release_many(nb->G->rt, refs, nb->np);
    free(refs);
    free(vals);
    return e;
}

WB_EXPORT weft_err wb_count(wb_bag *b, int64_t *n)
{
    weft_err e = check_bag(b, n, "wb_count");
    if (e)
        return e;
    wb_bag *c = per_part(b, WB_T_COUNT, NULL, NULL, "count");
    if (!c)
        return WEFT_ENOMEM;
    e = sum_parts(c, n);
    wb_free(c);
    return e;
}

/* mkdir -p of the directory part of path. */
static weft_err make_dirs(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return WEFT_ENOMEM;
    char *slash = strrchr(d, '/');
    weft_err e = 0;
    if (slash && slash != d) {
        *slash = '\0';
        for (char *q = d + 1; !e; q++) {
            if (*q != '/' && *q != '\0')
                continue;
            char c = *q;
            *q = '\0';
            if (mkdir(d, 0777) != 0 && errno != EEXIST)
                e = weft_set_error(WEFT_EIO,
                                   "wb_to_textfiles: cannot create %s: %s", d,
                                   strerror(errno));
            *q = c;
            if (c == '\0')
                break;
        }
    }
    free(d);
    return e;
}

WB_EXPORT weft_err wb_to_textfiles(wb_bag *b, const char *pattern,
                                   size_t *nfiles)
{
    weft_err e = check_bag(b, pattern, "wb_to_textfiles");
    if (e)
        return e;
    const char *star = strchr(pattern, '*');
    if (!star || strchr(star + 1, '*') || strlen(pattern) > 4000)
        return weft_set_error(
            WEFT_EINVAL,
            "wb_to_textfiles: the pattern '%s' needs exactly one "
            "'*' (the partition number)",
            pattern);
    if ((e = make_dirs(pattern)))
        return e;
    char **paths = calloc(b->np + 1, sizeof *paths);
    size_t *plen = calloc(b->np + 1, sizeof *plen);
    if (!paths || !plen)
        e = weft_set_error(WEFT_ENOMEM, "wb_to_textfiles: out of memory");
    for (size_t i = 0; !e && i < b->np; i++) {
        char num[24];
        int k = snprintf(num, sizeof num, "%zu", i);
        size_t pre = (size_t)(star - pattern), post = strlen(star + 1);
        if (!(paths[i] = malloc(pre + (size_t)k + post + 1))) {
            e = weft_set_error(WEFT_ENOMEM, "wb_to_textfiles: out of memory");
            break;
        }
        memcpy(paths[i], pattern, pre);
        memcpy(paths[i] + pre, num, (size_t)k);
        memcpy(paths[i] + pre + k, star + 1, post + 1);
        plen[i] = pre + (size_t)k + post;
    }
    wb_bag *w = e ? NULL
                  : per_part(b, WB_T_WRITE, (const void *const *)paths, plen,
                             "to_textfiles");
    if (!e && !w)
        e = WEFT_ENOMEM;
    int64_t total;
    if (!e)
        e = sum_parts(w, &total);
    if (!e && nfiles)
        *nfiles = b->np;
    wb_free(w);
    for (size_t i = 0; paths && i < b->np; i++)
        free(paths[i]);
    free(paths);
    free(plen);
    return e;
}
