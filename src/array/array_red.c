/* Reductions as trees (a partial state per chunk written into the chunk's
 * own program, states combined in groups of 8, a final step per output
 * chunk), cumulative sums with carries between chunks, and blocked matrix
 * products. */
#include "array/array_int.h"

#include <stdlib.h>
#include <string.h>

#define FAN_IN 8

_Static_assert((int)WA_R_ALL == (int)WF_R_ALL &&
                   (int)WA_R_ARGMAX == (int)WF_R_ARGMAX,
               "wa_redop mirrors wf_redop");

static const char *redop_name(wa_redop op)
{
    static const char *const n[] = {"sum",    "prod", "mean", "var",
                                    "std",    "min",  "max",  "argmin",
                                    "argmax", "any",  "all"};
    return (unsigned)op < sizeof n / sizeof *n ? n[op] : "reduce";
}

static weft_dtype red_dtype(wa_redop op, weft_dtype in)
{
    switch (op) {
    case WA_R_SUM:
    case WA_R_PROD:
        return in == WEFT_DT_F64 || in == WEFT_DT_F32 ? in : WEFT_DT_I64;
    case WA_R_MEAN:
    case WA_R_VAR:
    case WA_R_STD:
        return in == WEFT_DT_F32 ? WEFT_DT_F32 : WEFT_DT_F64;
    case WA_R_MIN:
    case WA_R_MAX:
        return in;
    case WA_R_ARGMIN:
    case WA_R_ARGMAX:
        return WEFT_DT_I64;
    default:
        return WEFT_DT_BOOL;
    }
}

/* Write block b of a and its partial state for op over axes into p;
 * returns the state's slot. */
static uint32_t emit_partial(wa_prog *p, wa_array *a, wa_redop op,
                             uint32_t axes, size_t b)
{
    op_rpartial f = {.op = (int32_t)op, .ndim = (int32_t)a->ndim, .axes = axes};
    int64_t shape[WA_MAXD];
    arr_block(a, b, f.origin, shape);
    memcpy(f.gshape, a->shape, sizeof a->shape);
    uint32_t in = arr_emit(p, a, b);
    return prog_op(p, OP_RPARTIAL, &f, sizeof f, NULL, 0, &in, 1);
}

/* A 2-d array whose chunk grid is the same along both axes: chunk (i, j)
 * and chunk (j, i) cover transposed regions, and when the array is made
 * from a chunk and its transpose (x + x.T), both read the same chunks. */
static bool transposed_pairs(const wa_array *a)
{
    if (a->ndim != 2 || a->nb[0] != a->nb[1] || a->nb[0] < 2)
        return false;
    return memcmp(a->bounds[0], a->bounds[1],
                  (a->nb[0] + 1) * sizeof *a->bounds[0]) == 0;
}

/* a is made by blockwise steps (not stored) from, among others, a
 * transpose: only then can chunk (i, j) and chunk (j, i) read the same
 * chunks, and trying to pair them is worth its cost. */
static bool reads_transpose(const wa_array *a, int depth)
{
    if (a->src || a->kind != K_MAP || depth > 32)
        return false;
    if (a->op == OP_TRANSPOSE)
        return true;
    for (uint32_t i = 0; i < a->nin; i++)
        if (reads_transpose(a->in[i], depth + 1))
            return true;
    return false;
}

/* For a reduction over all axes: one node for the partial states of
 * chunks b and twin, combined, when the two are made from shared work
 * (the inline chunks they both read are then made once, and the task
 * runs the pair tile by tile, sharing each tile: array_kern.c). Returns
 * UINT32_MAX when they share nothing (ctx's error unset) or on an error
 * (set). */
static wg_node pair_node(wa_array *a, wa_redop op, size_t b, size_t twin,
                         const char *what, const size_t *co)
{
    wa_prog p;
    prog_init(&p);
    uint32_t s[2];
    uint32_t all = (1u << a->ndim) - 1;
    s[0] = emit_partial(&p, a, op, all, b);
    uint32_t hits = p.hits;
    s[1] = emit_partial(&p, a, op, all, twin);
    if (!p.fail && p.hits == hits) {
        prog_free(&p);
        return UINT32_MAX;
    }
    op_rcomb mid = {.op = (int32_t)op, .final = 0};
    prog_op(&p, OP_RCOMB, &mid, sizeof mid, NULL, 0, s, 2);
    return arr_add_node(a->ctx, &p, true, what, co, a->ndim);
}

/* A node combining states in[0..n) (finalising to shape when final). */
static wg_node comb_node(wa_ctx *ctx, const char *what, const wg_node *in,
                         size_t n, const op_rcomb *f, const size_t *co,
                         uint32_t ndim)
{
    wa_prog p;
    prog_init(&p);
    uint32_t *slot = malloc(n * sizeof *slot);
    if (!slot) {
        prog_free(&p);
        wa_fail(ctx, "out of memory");
        return UINT32_MAX;
    }
    for (size_t i = 0; i < n; i++)
        slot[i] = prog_input(&p, wg_node_in(in[i]));
    prog_op(&p, OP_RCOMB, f, sizeof *f, NULL, 0, slot, (uint32_t)n);
    free(slot);
    return arr_add_node(ctx, &p, true, what, co, ndim);
}

/* Reduce states[0..n) in a tree to one final node. */
static wg_node tree(wa_ctx *ctx, const char *what, wg_node *states, size_t n,
                    op_rcomb fin, const size_t *co, uint32_t ndim)
{
    op_rcomb mid = fin;
    mid.final = 0;
    while (n > FAN_IN) {
        size_t groups = (n + FAN_IN - 1) / FAN_IN, k = 0;
        for (size_t g = 0; g < groups; g++) {
            size_t lo = n * g / groups, hi = n * (g + 1) / groups;
            wg_node c =
                comb_node(ctx, what, states + lo, hi - lo, &mid, co, ndim);
            if (c == UINT32_MAX)
                return c;
            states[k++] = c;
        }
        n = k;
    }
    fin.final = 1;
    return comb_node(ctx, what, states, n, &fin, co, ndim);
}

WA_EXPORT wa_array *wa_reduce(wa_redop op, wa_array *a, uint32_t axes,
                              bool keepdims, int ddof)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    const char *what = redop_name(op);
    if ((unsigned)op > WA_R_ALL)
        return wa_fail(ctx, "reduce: unknown op %d", (int)op);
    uint32_t all = a->ndim ? (uint32_t)((1u << a->ndim) - 1) : 0;
    if (axes & ~all)
        return wa_fail(ctx,
                       "%s: axes 0x%x name an axis beyond the %u of the "
                       "array",
                       what, axes, a->ndim);
    if (axes == 0)
        axes = all;
    if ((op == WA_R_ARGMIN || op == WA_R_ARGMAX) && axes != all &&
        (axes & (axes - 1)))
        return wa_fail(ctx, "%s: reduces one axis or all of them", what);
    if ((op == WA_R_ARGMIN || op == WA_R_ARGMAX || op == WA_R_MIN ||
         op == WA_R_MAX) &&
        wa_size(a) == 0)
        return wa_fail(ctx, "%s: of an empty array", what);
    /* output: reduced axes become one chunk of 1, dropped without keepdims */
    size_t onb[WA_MAXD];
    int64_t *ob[WA_MAXD], oshape[WA_MAXD], one[2] = {0, 1};
    uint32_t ondim = 0;
    for (uint32_t d = 0; d < a->ndim; d++) {
        bool red = axes >> d & 1;
        if (red && !keepdims)
            continue;
        onb[ondim] = red ? 1 : a->nb[d];
        ob[ondim] = red ? one : a->bounds[d];
        oshape[ondim++] = red ? 1 : a->shape[d];
    }
    wa_array *r = arr_new_bounds(ctx, red_dtype(op, a->dtype), ondim, oshape,
                                 onb, ob, K_SOURCE);
    if (!r)
        return NULL;
    r->name = what;
    r->src = calloc(r->nblocks, sizeof *r->src);
    size_t *cnt = calloc(r->nblocks + 1, sizeof *cnt);
    size_t *start = calloc(r->nblocks + 1, sizeof *start);
    wg_node *part = malloc((a->nblocks + 1) * sizeof *part);
    size_t *owner = malloc((a->nblocks + 1) * sizeof *owner);
    uint8_t *done = calloc(a->nblocks + 1, 1);
    if (!r->src || !cnt || !start || !part || !owner || !done) {
        r = wa_fail(ctx, "out of memory");
        goto out;
    }
    a->uses++;
    bool pairs = axes == all && transposed_pairs(a) && reads_transpose(a, 0);
    size_t np = 0;
    /* a partial state per input chunk (or pair of chunks), grouped by
     * output chunk */
    for (size_t b = 0; b < a->nblocks; b++) {
        size_t co[WA_MAXD], oc[WA_MAXD];
        arr_coords(a, b, co);
        if (pairs && co[0] != co[1]) {
            size_t tw[2] = {co[1], co[0]};
            size_t twin = arr_linear(a, tw);
            if (co[0] > co[1] && done[b])
                continue;
            if (co[0] < co[1]) {
                wg_node n = pair_node(a, op, b, twin, what, co);
                if (n == UINT32_MAX && ctx->err[0]) {
                    r = NULL;
                    goto out;
                }
                if (n != UINT32_MAX) {
                    done[twin] = 1;
                    owner[np] = 0;
                    cnt[0]++;
                    part[np++] = n;
                    continue;
                }
            }
        }
        uint32_t k = 0;
        size_t ol = 0;
        for (uint32_t d = 0; d < a->ndim; d++) {
            bool red = axes >> d & 1;
            if (red && !keepdims)
                continue;
            oc[k] = red ? 0 : co[d];
            ol = ol * onb[k] + oc[k];
            k++;
        }
        owner[np] = ol;
        cnt[ol]++;
        wa_prog p;
        prog_init(&p);
        emit_partial(&p, a, op, axes, b);
        part[np] = arr_add_node(ctx, &p, true, what, co, a->ndim);
        if (part[np++] == UINT32_MAX) {
            r = NULL;
            goto out;
        }
    }
    for (size_t o = 1; o <= r->nblocks; o++)
        start[o] = start[o - 1] + cnt[o - 1];
    wg_node *sorted = malloc((a->nblocks + 1) * sizeof *sorted);
    if (!sorted) {
        r = wa_fail(ctx, "out of memory");
        goto out;
    }
    memset(cnt, 0, r->nblocks * sizeof *cnt);
    for (size_t b = 0; b < np; b++)
        sorted[start[owner[b]] + cnt[owner[b]]++] = part[b];
    for (size_t o = 0; o < r->nblocks && r; o++) {
        op_rcomb fin = {.op = (int32_t)op,
                        .in_dt = (int32_t)a->dtype,
                        .ddof = ddof,
                        .ndim = (int32_t)ondim};
        int64_t origin[WA_MAXD];
        arr_block(r, o, origin, fin.shape);
        size_t co[WA_MAXD];
        arr_coords(r, o, co);
        r->src[o].node =
            tree(ctx, what, sorted + start[o], cnt[o], fin, co, ondim);
        if (r->src[o].node == UINT32_MAX)
            r = NULL;
    }
    free(sorted);
out:
    free(cnt);
    free(start);
    free(part);
    free(owner);
    free(done);
    return r;
}

WA_EXPORT wa_array *wa_sum(wa_array *a, uint32_t axes, bool keepdims)
{
    return wa_reduce(WA_R_SUM, a, axes, keepdims, 0);
}

WA_EXPORT wa_array *wa_mean(wa_array *a, uint32_t axes, bool keepdims)
{
    return wa_reduce(WA_R_MEAN, a, axes, keepdims, 0);
}

WA_EXPORT wa_array *wa_var(wa_array *a, uint32_t axes, bool keepdims, int ddof)
{
    return wa_reduce(WA_R_VAR, a, axes, keepdims, ddof);
}

WA_EXPORT wa_array *wa_std(wa_array *a, uint32_t axes, bool keepdims, int ddof)
{
    return wa_reduce(WA_R_STD, a, axes, keepdims, ddof);
}

WA_EXPORT wa_array *wa_min(wa_array *a, uint32_t axes, bool keepdims)
{
    return wa_reduce(WA_R_MIN, a, axes, keepdims, 0);
}

WA_EXPORT wa_array *wa_max(wa_array *a, uint32_t axes, bool keepdims)
{
    return wa_reduce(WA_R_MAX, a, axes, keepdims, 0);
}

static wa_array *arg(wa_redop op, wa_array *a, int axis)
{
    if (!a)
        return NULL;
    if (axis < -1 || axis >= (int)a->ndim || (a->ndim == 0 && axis >= 0))
        return wa_fail(a->ctx, "%s: axis %d is out of range for %u axes",
                       redop_name(op), axis, a->ndim);
    return wa_reduce(op, a, axis < 0 ? 0 : 1u << axis, false, 0);
}

WA_EXPORT wa_array *wa_argmin(wa_array *a, int axis)
{
    return arg(WA_R_ARGMIN, a, axis);
}

WA_EXPORT wa_array *wa_argmax(wa_array *a, int axis)
{
    return arg(WA_R_ARGMAX, a, axis);
}

WA_EXPORT wa_array *wa_any(wa_array *a, uint32_t axes, bool keepdims)
{
    return wa_reduce(WA_R_ANY, a, axes, keepdims, 0);
}

WA_EXPORT wa_array *wa_all(wa_array *a, uint32_t axes, bool keepdims)
{
    return wa_reduce(WA_R_ALL, a, axes, keepdims, 0);
}

/* ------------------------------------------------------------ cumsum */

WA_EXPORT wa_array *wa_cumsum(wa_array *a, uint32_t axis)
{
    if (!a)
        return NULL;
    wa_ctx *ctx = a->ctx;
    ctx->err[0] = '\0';
    if (axis >= a->ndim)
        return wa_fail(ctx, "cumsum: axis %u is out of range for %u axes", axis,
                       a->ndim);
    wa_array *r = arr_new_bounds(ctx, red_dtype(WA_R_SUM, a->dtype), a->ndim,
                                 a->shape, a->nb, a->bounds, K_CUMSUM);
    if (!r)
        return NULL;
    r->name = "cumsum";
    r->in[0] = a;
    r->nin = 1;
    r->cum_axis = axis;
    r->carry = malloc(r->nblocks * sizeof *r->carry);
    wg_node *total = malloc(r->nblocks * sizeof *total);
    wg_node *state = malloc(r->nblocks * sizeof *state);
    if (!r->carry || !total || !state) {
        free(total);
        free(state);
        return wa_fail(ctx, "out of memory");
    }
    /* each chunk is read twice (its total and its cumsum) */
    a->uses += a->nb[axis] > 1 ? 2 : 1;
    for (size_t b = 0; b < a->nblocks; b++) {
        size_t co[WA_MAXD];
        arr_coords(a, b, co);
        r->carry[b] = total[b] = state[b] = UINT32_MAX;
        if (co[axis] + 1 == a->nb[axis])
            continue; /* no chunk after it needs its total */
        op_rpartial f = {
            .op = WF_R_SUM, .ndim = (int32_t)a->ndim, .axes = 1u << axis};
        int64_t shape[WA_MAXD];
        arr_block(a, b, f.origin, shape);
        memcpy(f.gshape, a->shape, sizeof a->shape);
        wa_prog p;
        prog_init(&p);
        uint32_t in = arr_emit(&p, a, b);
        prog_op(&p, OP_RPARTIAL, &f, sizeof f, NULL, 0, &in, 1);
        total[b] = arr_add_node(ctx, &p, true, "cumsum-total", co, a->ndim);
        if (total[b] == UINT32_MAX)
            goto fail;
    }
    /* along the axis, in order: state(k) = state(k-1) + total(k-1) */
    for (size_t b = 0; b < a->nblocks; b++) {
        size_t co[WA_MAXD];
        arr_coords(a, b, co);
        if (co[axis] == 0)
            continue;
        co[axis]--;
        size_t prev = arr_linear(a, co);
        co[axis]++;
        op_rcomb f = {.op = WF_R_SUM,
                      .in_dt = (int32_t)a->dtype,
                      .ndim = (int32_t)a->ndim};
        if (state[prev] == UINT32_MAX) {
            state[b] = total[prev];
        } else {
            wg_node two[2] = {state[prev], total[prev]};
            state[b] = comb_node(ctx, "cumsum-carry", two, 2, &f, co, a->ndim);
            if (state[b] == UINT32_MAX)
                goto fail;
        }
        int64_t origin[WA_MAXD];
        arr_block(a, b, origin, f.shape);
        f.shape[axis] = 1;
        f.final = 1;
        r->carry[b] =
            comb_node(ctx, "cumsum-carry", &state[b], 1, &f, co, a->ndim);
        if (r->carry[b] == UINT32_MAX)
            goto fail;
    }
    free(total);
    free(state);
    return r;
fail:
    free(total);
    free(state);
    return NULL;
}

/* ------------------------------------------------------------ matmul */

WA_EXPORT wa_array *wa_matmul(wa_array *a, wa_array *b)
{
    wa_ctx *ctx = a ? a->ctx : b ? b->ctx : NULL;
    if (!ctx)
        return NULL;
    ctx->err[0] = '\0';
    if (!a || !b)
        return wa_fail(ctx, "matmul: an operand is NULL (an earlier call "
                            "failed?)");
    if (a->ctx != b->ctx)
        return wa_fail(ctx, "matmul: operands of different contexts");
    if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2)
        return wa_fail(ctx,
                       "matmul: operands must have 1 or 2 axes (have "
                       "%u and %u)",
                       a->ndim, b->ndim);
    uint32_t ak = a->ndim - 1, bk = 0;
    if (a->shape[ak] != b->shape[bk]) {
        char sa[128], sb[128];
        shape_str(sa, sizeof sa, a->ndim, a->shape);
        shape_str(sb, sizeof sb, b->ndim, b->shape);
        return wa_fail(ctx,
                       "matmul: shapes %s and %s do not align (%lld != "
                       "%lld)",
                       sa, sb, (long long)a->shape[ak],
                       (long long)b->shape[bk]);
    }
    /* common chunks along the contracted axis */
    size_t nk = a->nb[ak];
    int64_t *kb = a->bounds[ak];
    bool same = b->nb[bk] == nk &&
                memcmp(b->bounds[bk], kb, (nk + 1) * sizeof *kb) == 0;
    int64_t *merged = NULL;
    if (!same) {
        merged = malloc((a->nb[ak] + b->nb[bk] + 2) * sizeof *merged);
        if (!merged)
            return wa_fail(ctx, "out of memory");
        size_t i = 0, j = 0, k = 0;
        while (i <= a->nb[ak] || j <= b->nb[bk]) {
            int64_t v = j > b->nb[bk] || (i <= a->nb[ak] &&
                                          a->bounds[ak][i] <= b->bounds[bk][j])
                            ? a->bounds[ak][i++]
                            : b->bounds[bk][j++];
            if (k == 0 || merged[k - 1] != v)
                merged[k++] = v;
        }
        nk = k > 1 ? k - 1 : 1;
        if (k == 1)
            merged[1] = merged[0];
        kb = merged;
        size_t nb2[2];
        int64_t *bd2[2];
        for (uint32_t d = 0; d < a->ndim; d++) {
            nb2[d] = d == ak ? nk : a->nb[d];
            bd2[d] = d == ak ? kb : a->bounds[d];
        }
        a = arr_rechunk_bounds(a, nb2, bd2);
        for (uint32_t d = 0; a && d < b->ndim; d++) {
            nb2[d] = d == bk ? nk : b->nb[d];
            bd2[d] = d == bk ? kb : b->bounds[d];
        }
        b = a ? arr_rechunk_bounds(b, nb2, bd2) : NULL;
        free(merged);
        if (!a || !b)
            return NULL;
    }
    weft_dtype dt;
    bool fa = a->dtype == WEFT_DT_F64 || a->dtype == WEFT_DT_F32;
    bool fb = b->dtype == WEFT_DT_F64 || b->dtype == WEFT_DT_F32;
    if (a->dtype == WEFT_DT_F32 && b->dtype == WEFT_DT_F32)
        dt = WEFT_DT_F32;
    else
        dt = fa || fb ? WEFT_DT_F64 : WEFT_DT_I64;
    /* output axes: a's rows (if 2-d), b's columns (if 2-d) */
    size_t onb[2];
    int64_t *ob[2], oshape[2];
    uint32_t ondim = 0;
    if (a->ndim == 2) {
        onb[ondim] = a->nb[0];
        ob[ondim] = a->bounds[0];
        oshape[ondim++] = a->shape[0];
    }
    if (b->ndim == 2) {
        onb[ondim] = b->nb[1];
        ob[ondim] = b->bounds[1];
        oshape[ondim++] = b->shape[1];
    }
    /* the operands' chunks are each read by many output chunks: stored */
    a->uses += 2;
    b->uses += 2;
    if (arr_sources(a) || arr_sources(b))
        return NULL;
    wa_array *r = arr_new_bounds(ctx, dt, ondim, oshape, onb, ob, K_SOURCE);
    if (!r)
        return NULL;
    r->name = "matmul";
    r->src = calloc(r->nblocks, sizeof *r->src);
    uint32_t *slot = malloc(2 * nk * sizeof *slot);
    if (!r->src || !slot) {
        free(slot);
        return wa_fail(ctx, "out of memory");
    }
    for (size_t o = 0; o < r->nblocks; o++) {
        size_t co[2] = {0, 0}, ca[2], cb[2];
        arr_coords(r, o, co);
        size_t i = a->ndim == 2 ? co[0] : 0;
        size_t j = b->ndim == 2 ? co[ondim - 1] : 0;
        wa_prog p;
        prog_init(&p);
        for (size_t k = 0; k < nk; k++) {
            ca[0] = a->ndim == 2 ? i : k;
            ca[1] = k;
            cb[0] = k;
            cb[1] = j;
            slot[k] = arr_emit(&p, a, arr_linear(a, ca));
            slot[nk + k] = arr_emit(&p, b, arr_linear(b, cb));
        }
        op_matmul f = {.nk = (int32_t)nk, .dt = (int32_t)dt};
        prog_op(&p, OP_MATMUL, &f, sizeof f, NULL, 0, slot, 2 * (uint32_t)nk);
        r->src[o].node = arr_add_node(ctx, &p, false, "matmul", co, ondim);
        if (r->src[o].node == UINT32_MAX) {
            free(slot);
            return NULL;
        }
    }
    free(slot);
    return r;
}

WA_EXPORT wa_array *wa_dot(wa_array *a, wa_array *b)
{
    return wa_matmul(a, b);
}
