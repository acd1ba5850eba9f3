/* Chunk programs: written by the driver (prog_*), run by the one kernel
 * every array node uses, "wa.blk", which calls the chunk kernels of nd.h
 * in turn and frees each intermediate chunk after its last use.
 *
 * Encoding (params of the node): u32 nops; per op: u32 opcode, u32 plen,
 * params, u32 nin, nin x u32 slot (SLOT_IN | i: graph input i; else the
 * result of op i). */
#include "array/array_int.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ writing */

static const char *const opnames[OP_COUNT_] = {
    [OP_FULL] = "full",           [OP_ARANGE] = "arange",
    [OP_LINSPACE] = "linspace",   [OP_RANDOM] = "random",
    [OP_NPY_READ] = "npy-read",   [OP_NPY_WRITE] = "npy-write",
    [OP_BINARY] = "binary",       [OP_UNARY] = "unary",
    [OP_ASTYPE] = "astype",       [OP_WHERE] = "where",
    [OP_TRANSPOSE] = "transpose", [OP_SLICE] = "slice",
    [OP_RESHAPE] = "reshape",     [OP_ASSEMBLE] = "rechunk",
    [OP_RPARTIAL] = "partial",    [OP_RCOMB] = "combine",
    [OP_CUMSUM] = "cumsum",       [OP_MATMUL] = "matmul",
};

const char *wa_opname(wa_opcode op)
{
    return op > 0 && op < OP_COUNT_ && opnames[op] ? opnames[op] : "?";
}

static void put(wa_prog *p, const void *src, size_t n);

void prog_init(wa_prog *p)
{
    uint32_t zero = 0;
    memset(p, 0, sizeof *p);
    put(p, &zero, 4);
}

void prog_free(wa_prog *p)
{
    free(p->buf);
    free(p->in);
    free(p->memo);
    memset(p, 0, sizeof *p);
}

static void put(wa_prog *p, const void *src, size_t n)
{
    if (p->fail)
        return;
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < p->len + n)
            cap *= 2;
        uint8_t *q = realloc(p->buf, cap);
        if (!q) {
            p->fail = true;
            return;
        }
        p->buf = q;
        p->cap = cap;
    }
    if (n)
        memcpy(p->buf + p->len, src, n);
    p->len += n;
}

/* Params without extra bytes are packed: runs of nonzero 8-byte words
 * (u8 count, words) each followed by a u8 count of zero words; most of an
 * op's fixed-size axis arrays are zeros. The opcode gets OP_PACKED. */
#define OP_PACKED 0x10000u

static size_t pack(const void *src, size_t n, uint8_t *dst)
{
    const uint8_t *w = src;
    size_t nw = n / 8, i = 0, out = 0;
    while (i < nw) {
        size_t lit = 0, zero = 0;
        while (i + lit < nw && lit < 255 &&
               memcmp(w + 8 * (i + lit), "\0\0\0\0\0\0\0\0", 8) != 0)
            lit++;
        dst[out++] = (uint8_t)lit;
        memcpy(dst + out, w + 8 * i, 8 * lit);
        out += 8 * lit;
        i += lit;
        while (i + zero < nw && zero < 255 &&
               memcmp(w + 8 * (i + zero), "\0\0\0\0\0\0\0\0", 8) == 0)
            zero++;
        dst[out++] = (uint8_t)zero;
        i += zero;
    }
    return out;
}

static bool unpack(const uint8_t *src, size_t len, void *dst, size_t n)
{
    uint8_t *d = dst;
    size_t nw = n / 8, at = 0, i = 0;
    memset(dst, 0, n);
    while (i < len) {
        size_t lit = src[i++];
        if (lit > nw - at || len - i < 8 * lit)
            return false;
        memcpy(d + 8 * at, src + i, 8 * lit);
        i += 8 * lit;
        at += lit;
        if (i < len) {
            size_t zero = src[i++];
            if (zero > nw - at)
                return false;
            at += zero;
        }
    }
    return true;
}

uint32_t prog_op(wa_prog *p, wa_opcode op, const void *params, size_t plen,
                 const void *extra, size_t elen, const uint32_t *in,
                 uint32_t nin)
{
    uint8_t packed[2 * sizeof(op_random)];
    uint32_t code = (uint32_t)op;
    if (!elen && plen % 8 == 0 && plen <= sizeof(op_random)) {
        plen = pack(params, plen, packed);
        params = packed;
        code |= OP_PACKED;
    }
    uint32_t pl = (uint32_t)(plen + elen);
    put(p, &code, 4);
    put(p, &pl, 4);
    put(p, params, plen);
    put(p, extra, elen);
    put(p, &nin, 4);
    put(p, in, nin * sizeof *in);
    if (!p->fail && p->buf) {
        uint32_t n = p->nops + 1;
        memcpy(p->buf, &n, 4);
    }
    {
        const char *name = wa_opname(op);
        size_t nl = strlen(name), kl = p->keylen;
        if (kl + nl + 2 < sizeof p->key) {
            if (kl)
                p->key[kl++] = ' ';
            memcpy(p->key + kl, name, nl + 1);
            p->keylen = kl + nl;
        }
    }
    return p->nops++;
}

uint32_t prog_input(wa_prog *p, wg_input in)
{
    for (size_t i = 0; i < p->nin; i++) {
        const wg_input *x = &p->in[i];
        if (x->kind == in.kind &&
            (in.kind == WG_IN_NODE ? x->node == in.node
                                   : x->ref.id == in.ref.id))
            return SLOT_IN | (uint32_t)i;
    }
    if (p->nin == p->capin) {
        size_t cap = p->capin ? p->capin * 2 : 8;
        wg_input *m = realloc(p->in, cap * sizeof *m);
        if (!m) {
            p->fail = true;
            return SLOT_IN;
        }
        p->in = m;
        p->capin = cap;
    }
    p->in[p->nin] = in;
    return SLOT_IN | (uint32_t)p->nin++;
}

/* ------------------------------------------------------------ running */

typedef struct step {
    uint32_t op, plen, nin;
    bool packed;
    bool to_out; /* the task's last step: may write the output in place */
    const uint8_t *params;
    const uint8_t *slots;
    uint32_t last_use;
} step;

/* A fixed-size params struct (programs need not be aligned; packed params
 * are unpacked). */
static bool params_of(const step *s, void *dst, size_t n)
{
    if (s->packed)
        return n % 8 == 0 && unpack(s->params, s->plen, dst, n);
    if (s->plen < n)
        return false;
    memcpy(dst, s->params, n);
    return true;
}

static uint32_t slot_at(const step *s, uint32_t i)
{
    uint32_t v;
    memcpy(&v, s->slots + 4 * (size_t)i, 4);
    return v;
}

/* Run step s on its inputs in[0..nin) into *out. */
static weft_err run_step(wg_call *c, const step *s, const wf_nd *const *in,
                         wf_nd *out)
{
    weft_err e = 0;
    switch (s->op) {
    case OP_FULL: {
        op_full f;
        if (!params_of(s, &f, sizeof f))
            break;
        return wf_nd_full((weft_dtype)f.dt, (uint32_t)f.ndim, f.shape, f.value,
                          out);
    }
    case OP_ARANGE: {
        op_arange f;
        if (!params_of(s, &f, sizeof f))
            break;
        return wf_nd_arange(f.start, f.step, f.offset, f.n, (weft_dtype)f.dt,
                            out);
    }
    case OP_LINSPACE: {
        op_linspace f;
        if (!params_of(s, &f, sizeof f))
            break;
        return wf_nd_linspace(f.start, f.stop, f.num, f.endpoint != 0, f.offset,
                              f.n, out);
    }
    case OP_RANDOM: {
        op_random f;
        if (!params_of(s, &f, sizeof f))
            break;
        return wf_nd_random((wf_rng_dist)f.dist, f.seed, f.a, f.b,
                            (uint32_t)f.ndim, f.gshape, f.origin, f.chunk, out);
    }
    case OP_NPY_READ:
    case OP_NPY_WRITE: {
        op_npy f;
        if (!params_of(s, &f, sizeof f) || s->plen != sizeof f + f.pathlen ||
            f.pathlen == 0 || f.pathlen > 4096)
            break;
        char path[4097];
        memcpy(path, s->params + sizeof f, f.pathlen);
        path[f.pathlen] = '\0';
        if (s->op == OP_NPY_READ)
            return wf_npy_read_block(path, &f.h, f.origin, f.shape, out);
        if (s->nin != 1)
            break;
        e = wf_npy_write_block(path, &f.h, f.origin, in[0]);
        if (e)
            return e;
        int64_t one = 1;
        return wf_nd_full(WEFT_DT_I64, 0, &one, 1.0, out);
    }
    case OP_BINARY: {
        op_code f;
        if (!params_of(s, &f, sizeof f) || s->nin != 2)
            break;
        return wf_nd_binary((wf_binop)f.code, in[0], in[1], out);
    }
    case OP_UNARY: {
        op_code f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1)
            break;
        return wf_nd_unary((wf_unop)f.code, in[0], out);
    }
    case OP_ASTYPE: {
        op_code f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1)
            break;
        return wf_nd_astype(in[0], (weft_dtype)f.code, out);
    }
    case OP_WHERE:
        if (s->nin != 3)
            break;
        return wf_nd_where(in[0], in[1], in[2], out);
    case OP_TRANSPOSE: {
        op_axes f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1 || f.ndim < 0 ||
            f.ndim > WA_MAXD)
            break;
        uint32_t perm[WA_MAXD];
        for (int d = 0; d < f.ndim; d++)
            perm[d] = (uint32_t)f.v[d];
        return wf_nd_transpose(in[0], perm, out);
    }
    case OP_RESHAPE: {
        op_axes f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1 || f.ndim < 0 ||
            f.ndim > WA_MAXD)
            break;
        return wf_nd_reshape(in[0], (uint32_t)f.ndim, f.v, out);
    }
    case OP_SLICE: {
        op_slice f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1)
            break;
        return wf_nd_slice(in[0], f.start, f.step, f.count, out);
    }
    case OP_ASSEMBLE: {
        op_assemble f;
        if (!params_of(s, &f, sizeof f) ||
            s->plen != sizeof f + s->nin * sizeof(op_box) || f.ndim < 0 ||
            f.ndim > WA_MAXD)
            break;
        e = wf_nd_alloc(out, (weft_dtype)f.dt, (uint32_t)f.ndim, f.shape,
                        false);
        for (uint32_t i = 0; i < s->nin && !e; i++) {
            op_box b;
            memcpy(&b, s->params + sizeof f + i * sizeof b, sizeof b);
            e = wf_nd_copy_block(in[i], b.src, out, b.dst, b.shape);
        }
        if (e)
            wf_nd_free(out);
        return e;
    }
    case OP_RPARTIAL: {
        op_rpartial f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1)
            break;
        return wf_nd_reduce_partial((wf_redop)f.op, in[0], f.axes, f.origin,
                                    f.gshape, out);
    }
    case OP_RCOMB: {
        op_rcomb f;
        if (!params_of(s, &f, sizeof f) || s->nin < 1 || f.ndim < 0 ||
            f.ndim > WA_MAXD)
            break;
        wf_nd st = {0}, fin = {0};
        const wf_nd *state = in[0];
        if (s->nin > 1) {
            e = wf_nd_reduce_combine((wf_redop)f.op, in, s->nin, &st);
            state = &st;
        }
        if (!e && !f.final) {
            if (s->nin > 1) {
                *out = st;
                return 0;
            }
            return wf_nd_reshape(state, state->ndim, state->shape, out);
        }
        if (!e)
            e = wf_nd_reduce_finalize((wf_redop)f.op, state,
                                      (weft_dtype)f.in_dt, f.ddof, &fin);
        if (!e)
            e = wf_nd_reshape(&fin, (uint32_t)f.ndim, f.shape, out);
        wf_nd_free(&st);
        wf_nd_free(&fin);
        return e;
    }
    case OP_CUMSUM: {
        op_cumsum f;
        if (!params_of(s, &f, sizeof f) || s->nin != 1u + (f.carry != 0))
            break;
        return wf_nd_cumsum(in[0], (uint32_t)f.axis, f.carry ? in[1] : NULL,
                            out);
    }
    case OP_MATMUL: {
        op_matmul f;
        if (!params_of(s, &f, sizeof f) || f.nk < 1 ||
            s->nin != 2u * (uint32_t)f.nk)
            break;
        const wf_nd *a0 = in[0], *b0 = in[f.nk];
        bool acc = f.dt == WEFT_DT_F64 && a0->ndim == 2 && b0->ndim == 2;
        if (acc) {
            int64_t shape[2] = {a0->shape[0], b0->shape[1]};
            if (s->to_out) { /* accumulate in the task's output: no copy */
                size_t bytes = (size_t)shape[0] * (size_t)shape[1] * 8;
                void *d = NULL;
                e = wg_out_alloc(c, WEFT_T_ARRAY, WEFT_DT_F64, 2, shape, bytes,
                                 &d);
                if (e)
                    return e;
                *out = wf_nd_view(WEFT_DT_F64, 2, shape, d);
            } else { /* the first product overwrites: no zeroing */
                e = wf_nd_alloc(out, WEFT_DT_F64, 2, shape, false);
            }
            for (int k = 0; k < f.nk && !e; k++) {
                wf_nd ca = {0}, cb = {0};
                const wf_nd *x = in[k], *y = in[f.nk + k];
                if (x->dtype != WEFT_DT_F64)
                    e = wf_nd_astype(x, WEFT_DT_F64, &ca), x = &ca;
                if (!e && y->dtype != WEFT_DT_F64)
                    e = wf_nd_astype(y, WEFT_DT_F64, &cb), y = &cb;
                if (!e)
                    e = wf_nd_matmul_acc(x, y, out, k == 0);
                wf_nd_free(&ca);
                wf_nd_free(&cb);
            }
        } else {
            for (int k = 0; k < f.nk && !e; k++) {
                wf_nd prod = {0}, sum = {0};
                e = wf_nd_matmul(in[k], in[f.nk + k], &prod);
                if (!e && k == 0) {
                    *out = prod;
                    continue;
                }
                if (!e)
                    e = wf_nd_binary(WF_ADD, out, &prod, &sum);
                wf_nd_free(&prod);
                if (!e) {
                    wf_nd_free(out);
                    *out = sum;
                }
            }
            if (!e && out->dtype != (weft_dtype)f.dt) {
                wf_nd conv = {0};
                e = wf_nd_astype(out, (weft_dtype)f.dt, &conv);
                wf_nd_free(out);
                *out = conv;
            }
        }
        if (e)
            wf_nd_free(out);
        return e;
    }
    default:
        break;
    }
    (void)c;
    return WEFT_EPROTO;
}

/* ------------------------------------------------------------ tiles
 *
 * A program of creation and elementwise steps (with transposes and
 * broadcasting), ending in one of them or in a reduction's partial step,
 * runs tile by tile: each tile of the output is computed through the whole
 * chain on small arrays that stay in cache, instead of each step making a
 * whole chunk. Random and other creation steps make just the tile (their
 * values depend on the global index only). */

/* Elements per tile: 8192 (64 KiB of float64: under malloc's mmap threshold),
 * or WEFT_ARRAY_TILE (tests use small tiles to run every program through this
 * path). */
static int64_t tile_elems(void)
{
    const char *s = getenv("WEFT_ARRAY_TILE");
    return s && atoll(s) > 0 ? atoll(s) : 8192;
}

/* Random tiles kept while the tiles of a chunk pair are made (see
 * run_pair): the tile of x(i,j) one chunk reads is the transposed tile
 * the other reads next. */
#define TMEMO 4
typedef struct tmemo {
    uint32_t n;
    struct {
        uint32_t v;
        int64_t o[WA_MAXD], e[WA_MAXD];
        wf_nd val;
    } at[TMEMO];
} tmemo;

static void tmemo_clear(tmemo *m)
{
    for (uint32_t i = 0; i < m->n; i++)
        wf_nd_free(&m->at[i].val);
    m->n = 0;
}

typedef struct tiler {
    wg_call *c;
    const step *st;
    const wf_nd *ins;
    int64_t (*shape)[WA_MAXD]; /* per step */
    uint32_t *ndim;
    tmemo *memo; /* NULL: no sharing */
} tiler;

static bool tile_op(uint32_t op)
{
    return op == OP_FULL || op == OP_ARANGE || op == OP_LINSPACE ||
           op == OP_RANDOM || op == OP_BINARY || op == OP_UNARY ||
           op == OP_ASTYPE || op == OP_WHERE || op == OP_TRANSPOSE;
}

static void slot_shape(const tiler *t, uint32_t v, uint32_t *nd, int64_t *shape)
{
    if (v & SLOT_IN) {
        const wf_nd *x = &t->ins[v & ~SLOT_IN];
        *nd = x->ndim;
        memcpy(shape, x->shape, x->ndim * sizeof *shape);
    } else {
        *nd = t->ndim[v];
        memcpy(shape, t->shape[v], t->ndim[v] * sizeof *shape);
    }
}

/* Shapes of steps 0..n; false if some step cannot run in tiles. */
static bool tile_shapes(tiler *t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const step *s = &t->st[i];
        int64_t *sh = t->shape[i];
        uint32_t nd = 0, na, nb;
        int64_t sa[WA_MAXD], sb[WA_MAXD];
        switch (s->op) {
        case OP_FULL: {
            op_full f;
            if (!params_of(s, &f, sizeof f) || f.ndim < 0 || f.ndim > WA_MAXD)
                return false;
            nd = (uint32_t)f.ndim;
            memcpy(sh, f.shape, sizeof f.shape);
            break;
        }
        case OP_ARANGE: {
            op_arange f;
            if (!params_of(s, &f, sizeof f))
                return false;
            nd = 1;
            sh[0] = f.n;
            break;
        }
        case OP_LINSPACE: {
            op_linspace f;
            if (!params_of(s, &f, sizeof f))
                return false;
            nd = 1;
            sh[0] = f.n;
            break;
        }
        case OP_RANDOM: {
            op_random f;
            if (!params_of(s, &f, sizeof f) || f.ndim < 0 || f.ndim > WA_MAXD)
                return false;
            nd = (uint32_t)f.ndim;
            memcpy(sh, f.chunk, sizeof f.chunk);
            break;
        }
        case OP_UNARY:
        case OP_ASTYPE:
            if (s->nin != 1)
                return false;
            slot_shape(t, slot_at(s, 0), &nd, sh);
            break;
        case OP_TRANSPOSE: {
            op_axes f;
            if (s->nin != 1 || !params_of(s, &f, sizeof f))
                return false;
            slot_shape(t, slot_at(s, 0), &na, sa);
            if ((uint32_t)f.ndim != na)
                return false;
            nd = na;
            for (uint32_t d = 0; d < nd; d++) {
                if (f.v[d] < 0 || f.v[d] >= (int64_t)nd)
                    return false;
                sh[d] = sa[f.v[d]];
            }
            break;
        }
        case OP_BINARY:
        case OP_WHERE:
            if (s->nin < 2 || s->nin > 3)
                return false;
            slot_shape(t, slot_at(s, 0), &nd, sh);
            for (uint32_t k = 1; k < s->nin; k++) {
                slot_shape(t, slot_at(s, k), &nb, sb);
                if (wf_broadcast_shapes(nd, sh, nb, sb, &na, sa))
                    return false;
                nd = na;
                memcpy(sh, sa, nd * sizeof *sh);
            }
            break;
        case OP_RPARTIAL: /* ends a chain; run_pair checked its place */
        case OP_RCOMB:
            break;
        default:
            return false;
        }
        t->ndim[i] = nd;
    }
    return true;
}

/* The tile at origin o with extent e (in slot v's own coordinates). */
static weft_err tile_eval(const tiler *t, uint32_t v, const int64_t *o,
                          const int64_t *e, wf_nd *out)
{
    if (v & SLOT_IN) {
        const wf_nd *x = &t->ins[v & ~SLOT_IN];
        int64_t zero[WA_MAXD] = {0};
        weft_err err = wf_nd_alloc(out, x->dtype, x->ndim, e, false);
        if (!err && x->ndim == 0)
            memcpy(out->data, x->data, wf_nd_bytes(x));
        else if (!err)
            err = wf_nd_copy_block(x, o, out, zero, e);
        return err;
    }
    const step *s = &t->st[v];
    uint32_t nd = t->ndim[v];
    switch (s->op) {
    case OP_FULL: {
        op_full f;
        params_of(s, &f, sizeof f);
        return wf_nd_full((weft_dtype)f.dt, nd, e, f.value, out);
    }
    case OP_ARANGE: {
        op_arange f;
        params_of(s, &f, sizeof f);
        return wf_nd_arange(f.start, f.step, f.offset + o[0], e[0],
                            (weft_dtype)f.dt, out);
    }
    case OP_LINSPACE: {
        op_linspace f;
        params_of(s, &f, sizeof f);
        return wf_nd_linspace(f.start, f.stop, f.num, f.endpoint != 0,
                              f.offset + o[0], e[0], out);
    }
    case OP_RANDOM: {
        tmemo *m = t->memo;
        size_t dims = nd * sizeof *o;
        for (uint32_t i = 0; m && i < m->n; i++)
            if (m->at[i].v == v && memcmp(m->at[i].o, o, dims) == 0 &&
                memcmp(m->at[i].e, e, dims) == 0) {
                const wf_nd *x = &m->at[i].val;
                *out = wf_nd_view(x->dtype, x->ndim, x->shape, x->data);
                return 0;
            }
        op_random f;
        params_of(s, &f, sizeof f);
        int64_t go[WA_MAXD] = {0};
        for (uint32_t d = 0; d < nd; d++)
            go[d] = f.origin[d] + o[d];
        weft_err err = wf_nd_random((wf_rng_dist)f.dist, f.seed, f.a, f.b, nd,
                                    f.gshape, go, e, out);
        if (!err && m && m->n < TMEMO) {
            m->at[m->n].v = v;
            memcpy(m->at[m->n].o, o, dims);
            memcpy(m->at[m->n].e, e, dims);
            m->at[m->n].val = *out;
            *out = wf_nd_view(out->dtype, out->ndim, out->shape, out->data);
            m->n++;
        }
        return err;
    }
    case OP_TRANSPOSE: {
        op_axes f;
        params_of(s, &f, sizeof f);
        int64_t io[WA_MAXD], ie[WA_MAXD];
        uint32_t perm[WA_MAXD];
        for (uint32_t d = 0; d < nd; d++) {
            io[f.v[d]] = o[d];
            ie[f.v[d]] = e[d];
            perm[d] = (uint32_t)f.v[d];
        }
        wf_nd x = {0};
        weft_err err = tile_eval(t, slot_at(s, 0), io, ie, &x);
        if (!err)
            err = wf_nd_transpose(&x, perm, out);
        wf_nd_free(&x);
        return err;
    }
    default: { /* elementwise: inputs right-aligned, length-1 axes kept */
        wf_nd x[3] = {{0}};
        weft_err err = 0;
        for (uint32_t k = 0; k < s->nin && !err; k++) {
            uint32_t in = slot_at(s, k), ni;
            int64_t ish[WA_MAXD], io[WA_MAXD], ie[WA_MAXD];
            slot_shape(t, in, &ni, ish);
            for (uint32_t j = 0; j < ni; j++) {
                uint32_t d = nd - ni + j;
                io[j] = ish[j] == 1 ? 0 : o[d];
                ie[j] = ish[j] == 1 ? 1 : e[d];
            }
            err = tile_eval(t, in, io, ie, &x[k]);
        }
        if (!err) {
            const wf_nd *args[3] = {&x[0], &x[1], &x[2]};
            err = run_step(t->c, s, args, out);
        }
        for (uint32_t k = 0; k < 3; k++)
            wf_nd_free(&x[k]);
        return err;
    }
    }
}

/* One output chunk made tile by tile: the chain ending at step `end`,
 * stored whole (acc) or, with a partial step, folded into the chunk's
 * reduction state (acc). */
typedef struct tjob {
    uint32_t end, nd, axes;
    bool partial, first;
    op_rpartial rp;
    const int64_t *S; /* the chunk's shape */
    int64_t te[WA_MAXD];
    wf_nd acc;
} tjob;

/* Set j up for the chain ending at end (its partial step, or NULL); false
 * when the chunk is too small for tiles or the partial step is not one. */
static bool job_init(const tiler *t, tjob *j, uint32_t end, const step *partial)
{
    memset(j, 0, sizeof *j);
    j->end = end;
    j->nd = t->ndim[end];
    j->S = t->shape[end];
    j->partial = partial != NULL;
    j->first = true;
    int64_t total = 1;
    for (uint32_t d = 0; d < j->nd; d++)
        total *= j->S[d];
    if (j->nd == 0 || total < 2 * tile_elems())
        return false;
    if (partial && (!params_of(partial, &j->rp, sizeof j->rp) ||
                    j->rp.ndim != (int32_t)j->nd))
        return false;
    /* tile extents: rows of up to 128 elements (SIMD-friendly, and square
     * enough for transposes), then as many rows as fit */
    int64_t budget = tile_elems();
    for (uint32_t d = j->nd; d-- > 0;) {
        int64_t want = d == j->nd - 1 ? (budget < 128 ? budget : 128) : budget;
        j->te[d] = j->S[d] < want ? j->S[d] : want;
        if (j->te[d] < 1)
            j->te[d] = 1;
        budget = budget / j->te[d] > 1 ? budget / j->te[d] : 1;
    }
    j->axes = partial ? (j->rp.axes ? j->rp.axes : (1u << j->nd) - 1) : 0;
    return true;
}

/* Make the tile at tile coordinates tc and put it (or its reduction
 * state) into j->acc. */
static weft_err job_tile(const tiler *t, tjob *j, const int64_t *tc)
{
    uint32_t nd = j->nd;
    const int64_t *S = j->S;
    int64_t o[WA_MAXD], ext[WA_MAXD];
    for (uint32_t d = 0; d < nd; d++) {
        o[d] = tc[d] * j->te[d];
        ext[d] = S[d] - o[d] < j->te[d] ? S[d] - o[d] : j->te[d];
    }
    wf_nd tile = {0};
    weft_err e = tile_eval(t, j->end, o, ext, &tile);
    if (!e && !j->partial) {
        if (j->first)
            e = wf_nd_alloc(&j->acc, tile.dtype, nd, S, false);
        int64_t zero[WA_MAXD] = {0};
        if (!e)
            e = wf_nd_copy_block(&tile, zero, &j->acc, o, ext);
    } else if (!e) {
        op_rpartial f = j->rp;
        for (uint32_t d = 0; d < nd; d++)
            f.origin[d] = j->rp.origin[d] + o[d];
        wf_nd ts = {0};
        e = wf_nd_reduce_partial((wf_redop)f.op, &tile, f.axes, f.origin,
                                 f.gshape, &ts);
        if (!e && j->first) {
            int64_t ss[WA_MAXD + 1];
            for (uint32_t d = 0; d < nd; d++)
                ss[d] = j->axes >> d & 1 ? 1 : S[d];
            ss[nd] = ts.shape[nd];
            e = wf_nd_alloc(&j->acc, WEFT_DT_F64, nd + 1, ss, false);
        }
        /* where the tile's state goes in the chunk's state; the first tile
         * there (every reduced coordinate 0) starts it, in any order of
         * the axes */
        int64_t so[WA_MAXD + 1] = {0}, zero[WA_MAXD + 1] = {0};
        bool fresh = true;
        for (uint32_t d = 0; d < nd; d++) {
            so[d] = j->axes >> d & 1 ? 0 : o[d];
            fresh &= !(j->axes >> d & 1) || tc[d] == 0;
        }
        if (!e && !fresh) {
            wf_nd old = {0}, sum = {0};
            e = wf_nd_alloc(&old, WEFT_DT_F64, nd + 1, ts.shape, false);
            if (!e)
                e = wf_nd_copy_block(&j->acc, so, &old, zero, ts.shape);
            const wf_nd *two[2] = {&old, &ts};
            if (!e)
                e = wf_nd_reduce_combine((wf_redop)f.op, two, 2, &sum);
            if (!e)
                e = wf_nd_copy_block(&sum, zero, &j->acc, so, ts.shape);
            wf_nd_free(&old);
            wf_nd_free(&sum);
        } else if (!e) {
            e = wf_nd_copy_block(&ts, zero, &j->acc, so, ts.shape);
        }
        wf_nd_free(&ts);
    }
    wf_nd_free(&tile);
    j->first = false;
    return e;
}

/* The next tile coordinates of j's grid, row-major; false after the last. */
static bool job_next(const tjob *j, int64_t *tc)
{
    uint32_t d = j->nd;
    while (d-- > 0) {
        if (++tc[d] * j->te[d] < j->S[d])
            return true;
        tc[d] = 0;
    }
    return false;
}

/* Every tile of j, in order. */
static weft_err job_run(const tiler *t, tjob *j)
{
    int64_t tc[WA_MAXD] = {0};
    weft_err e;
    do
        e = job_tile(t, j, tc);
    while (!e && job_next(j, tc));
    return e;
}

/* Steps [0, n) except skip[0..nskip) are tileable, and each is read by at
 * most one later step unless it makes values from nothing (creation). */
static bool chain_ok(const step *st, uint32_t n, const uint32_t *skip,
                     uint32_t nskip)
{
    uint32_t *uses = calloc(n + 1, sizeof *uses);
    bool ok = uses != NULL;
    for (uint32_t i = 0; ok && i < n; i++) {
        bool skipped = false;
        for (uint32_t k = 0; k < nskip; k++)
            skipped |= skip[k] == i;
        if (skipped)
            continue;
        ok = tile_op(st[i].op);
        for (uint32_t k = 0; ok && k < st[i].nin; k++) {
            uint32_t v = slot_at(&st[i], k);
            if (!(v & SLOT_IN))
                uses[v]++;
        }
    }
    for (uint32_t i = 0; ok && i < n; i++)
        ok = uses[i] <= 1 || st[i].op == OP_FULL || st[i].op == OP_RANDOM ||
             st[i].op == OP_ARANGE || st[i].op == OP_LINSPACE;
    free(uses);
    return ok;
}

/* A pair program (array_red.c's pair_node): two chains, each ending in a
 * partial reduction step, and a combine of the two states. The second
 * chunk is the first's transposed twin, so its tiles are visited in
 * transposed order right after the first's: the random tiles both read
 * are made once (t->memo). */
static int run_pair(tiler *t, const step *st, uint32_t nops, wf_nd *res,
                    weft_err *err)
{
    const step *last = &st[nops - 1];
    op_rcomb fc;
    if (last->nin != 2 || !params_of(last, &fc, sizeof fc) || fc.final)
        return 0;
    uint32_t p[2] = {slot_at(last, 0), slot_at(last, 1)}, end[2];
    for (int k = 0; k < 2; k++) {
        if ((p[k] & SLOT_IN) || st[p[k]].op != OP_RPARTIAL || st[p[k]].nin != 1)
            return 0;
        end[k] = slot_at(&st[p[k]], 0);
        if (end[k] & SLOT_IN)
            return 0;
    }
    uint32_t skip[3] = {p[0], p[1], nops - 1};
    /* the partial steps read their chain's end only; nothing else reads
     * them but the combine */
    for (uint32_t i = 0; i < nops - 1; i++)
        for (uint32_t k = 0; k < st[i].nin; k++) {
            uint32_t v = slot_at(&st[i], k);
            if ((v == p[0] || v == p[1]) ||
                ((v == end[0] || v == end[1]) && i != p[0] && i != p[1]))
                return 0;
        }
    if (!chain_ok(st, nops, skip, 3) || !tile_shapes(t, nops))
        return 0;
    tjob j[2];
    if (!job_init(t, &j[0], end[0], &st[p[0]]) ||
        !job_init(t, &j[1], end[1], &st[p[1]]))
        return 0;
    bool twin = j[0].nd == 2 && j[1].nd == 2 && j[0].S[0] == j[1].S[1] &&
                j[0].S[1] == j[1].S[0];
    weft_err e = 0;
    if (twin) {
        tmemo memo = {0};
        j[1].te[0] = j[0].te[1];
        j[1].te[1] = j[0].te[0];
        t->memo = &memo;
        int64_t tc[2] = {0, 0};
        do {
            int64_t tt[2] = {tc[1], tc[0]};
            e = job_tile(t, &j[0], tc);
            if (!e)
                e = job_tile(t, &j[1], tt);
            tmemo_clear(&memo);
        } while (!e && job_next(&j[0], tc));
        t->memo = NULL;
    } else {
        e = job_run(t, &j[0]);
        if (!e)
            e = job_run(t, &j[1]);
    }
    if (!e) {
        const wf_nd *two[2] = {&j[0].acc, &j[1].acc};
        e = wf_nd_reduce_combine((wf_redop)fc.op, two, 2, res);
    }
    wf_nd_free(&j[0].acc);
    wf_nd_free(&j[1].acc);
    *err = e;
    return 1;
}

/* Run steps 0..nops in tiles into *res when the program allows it: 1 done
 * (or failed: *err), 0 not tileable. */
static int run_tiled(wg_call *c, const step *st, uint32_t nops,
                     const wf_nd *ins, wf_nd *res, weft_err *err)
{
    int64_t(*shape)[WA_MAXD] = calloc(nops, sizeof *shape);
    uint32_t *ndim = calloc(nops, sizeof *ndim);
    tiler t = {c, st, ins, shape, ndim, NULL};
    const step *last = &st[nops - 1];
    int done = 0;
    if (!shape || !ndim) {
        done = 0;
    } else if (last->op == OP_RCOMB) {
        done = run_pair(&t, st, nops, res, err);
    } else {
        bool partial = last->op == OP_RPARTIAL;
        uint32_t nchain = partial ? nops - 1 : nops;
        tjob j;
        if (nchain > 0 &&
            (!partial || (last->nin == 1 && slot_at(last, 0) == nchain - 1)) &&
            chain_ok(st, nchain, NULL, 0) && tile_shapes(&t, nchain) &&
            job_init(&t, &j, nchain - 1, partial ? last : NULL)) {
            *err = job_run(&t, &j);
            if (*err)
                wf_nd_free(&j.acc);
            else
                *res = j.acc;
            done = 1;
        }
    }
    free(shape);
    free(ndim);
    return done;
}

/* Chunk programs allocate and free many same-sized buffers on each worker
 * thread. With glibc's default trim threshold (128 KiB until a large block
 * is freed) every free of a tile can hand the top of the thread's heap
 * back to the kernel (madvise) and the next allocation faults it in again:
 * that cost more than the arithmetic. Keep up to 64 MiB free per heap and
 * serve buffers up to 32 MiB from the heaps. Process-wide, set once by the
 * first array kernel that runs. */
static void tune_malloc(void)
{
    const char *off = getenv("WEFT_MALLOC_TUNING");
    if (off && strcmp(off, "0") == 0) /* the program's own settings stay */
        return;
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
}

/* The kernel of every array node: run the program in params. */
static weft_err wa_blk(wg_call *c)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tune_malloc);
    size_t plen;
    const uint8_t *p = wg_params(c, &plen);
    uint32_t nops;
    if (!p || plen < 4)
        return wg_fail(c, "bad chunk program");
    memcpy(&nops, p, 4);
    if (nops == 0 || nops > 1u << 20)
        return wg_fail(c, "bad chunk program");
    step *st = calloc(nops, sizeof *st);
    wf_nd *val = calloc(nops, sizeof *val);
    wf_nd *ins = calloc(wg_nin(c) + 1, sizeof *ins);
    const wf_nd **args = NULL;
    size_t capargs = 0;
    weft_err e = st && val && ins ? 0 : WEFT_ENOMEM;
    size_t off = 4;
    for (uint32_t i = 0; i < nops && !e; i++) {
        step *s = &st[i];
        if (plen - off < 8) {
            e = WEFT_EPROTO;
            break;
        }
        memcpy(&s->op, p + off, 4);
        memcpy(&s->plen, p + off + 4, 4);
        off += 8;
        s->packed = (s->op & OP_PACKED) != 0;
        s->op &= ~OP_PACKED;
        if (plen - off < (size_t)s->plen + 4) {
            e = WEFT_EPROTO;
            break;
        }
        s->params = p + off;
        off += s->plen;
        memcpy(&s->nin, p + off, 4);
        off += 4;
        if (s->nin > 65536 || plen - off < 4 * (size_t)s->nin) {
            e = WEFT_EPROTO;
            break;
        }
        s->slots = p + off;
        off += 4 * (size_t)s->nin;
        s->last_use = i;
        for (uint32_t k = 0; k < s->nin; k++) {
            uint32_t v = slot_at(s, k);
            if (v & SLOT_IN) {
                if ((v & ~SLOT_IN) >= wg_nin(c))
                    e = WEFT_EPROTO;
            } else if (v >= i) {
                e = WEFT_EPROTO;
            } else {
                st[v].last_use = i;
            }
        }
    }
    if (e == WEFT_EPROTO) {
        free(st);
        free(val);
        free(ins);
        return wg_fail(c, "bad chunk program");
    }
    for (size_t i = 0; i < wg_nin(c) && !e; i++)
        if (!wf_nd_from_value(wg_in(c, i), &ins[i]))
            e = wg_fail(c, "input %zu is not an array", i);
    bool done = false;
    if (!e) {
        wf_nd res = {0};
        weft_err te = 0;
        if (run_tiled(c, st, nops, ins, &res, &te)) {
            done = true;
            if (te)
                e = wg_fail(c, "%s", wf_nd_error());
            else
                val[nops - 1] = res;
        }
    }
    /* a matmul ending the program writes the output itself */
    bool in_place = !e && !done && st[nops - 1].op == OP_MATMUL;
    st[nops - 1].to_out = in_place;
    for (uint32_t i = 0; i < nops && !e && !done; i++) {
        step *s = &st[i];
        if (s->nin > capargs) {
            const wf_nd **m = realloc(args, s->nin * sizeof *m);
            if (!m) {
                e = WEFT_ENOMEM;
                break;
            }
            args = m;
            capargs = s->nin;
        }
        for (uint32_t k = 0; k < s->nin; k++) {
            uint32_t v = slot_at(s, k);
            args[k] = v & SLOT_IN ? &ins[v & ~SLOT_IN] : &val[v];
        }
        e = run_step(c, s, args, &val[i]);
        if (e == WEFT_EPROTO) {
            e = wg_fail(c, "bad %s step in the chunk program",
                        wa_opname(s->op));
        } else if (e) {
            e = wg_fail(c, "%s", wf_nd_error());
        }
        for (uint32_t k = 0; k < s->nin && !e; k++) {
            uint32_t v = slot_at(s, k);
            if (!(v & SLOT_IN) && st[v].last_use == i)
                wf_nd_free(&val[v]);
        }
    }
    if (!e && !(in_place && !val[nops - 1].owned)) {
        wf_nd *r = &val[nops - 1];
        void *d;
        e = wg_out_alloc(c, WEFT_T_ARRAY, r->dtype, r->ndim, r->shape,
                         wf_nd_bytes(r), &d);
        if (!e && wf_nd_bytes(r))
            memcpy(d, r->data, wf_nd_bytes(r));
    }
    for (uint32_t i = 0; val && i < nops; i++)
        wf_nd_free(&val[i]);
    free(st);
    free(val);
    free(ins);
    free(args);
    return e;
}
WG_KERNEL(wa_blk)
