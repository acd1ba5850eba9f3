/* Chunk programs: written by the driver (prog_*), run by the one kernel
 * every array node uses, "wa.blk", which calls the chunk kernels of nd.h
 * in turn and frees each intermediate chunk after its last use.
 *
 * Encoding (params of the node): u32 nops; per op: u32 opcode, u32 plen,
 * params, u32 nin, nin x u32 slot (SLOT_IN | i: graph input i; else the
 * result of op i). */
#include "array/array_int.h"

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

uint32_t prog_op(wa_prog *p, wa_opcode op, const void *params, size_t plen,
                 const void *extra, size_t elen, const uint32_t *in,
                 uint32_t nin)
{
    uint32_t code = (uint32_t)op, pl = (uint32_t)(plen + elen);
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
        size_t kl = strlen(p->key);
        const char *name = wa_opname(op);
        if (kl + strlen(name) + 2 < sizeof p->key)
            snprintf(p->key + kl, sizeof p->key - kl, "%s%s", kl ? " " : "",
                     name);
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
    const uint8_t *params;
    const uint8_t *slots;
    uint32_t last_use;
} step;

/* Copy a fixed-size params struct (programs need not be aligned). */
static bool params_of(const step *s, void *dst, size_t n)
{
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
            e = wf_nd_alloc(out, WEFT_DT_F64, 2, shape, true);
            for (int k = 0; k < f.nk && !e; k++) {
                wf_nd ca = {0}, cb = {0};
                const wf_nd *x = in[k], *y = in[f.nk + k];
                if (x->dtype != WEFT_DT_F64)
                    e = wf_nd_astype(x, WEFT_DT_F64, &ca), x = &ca;
                if (!e && y->dtype != WEFT_DT_F64)
                    e = wf_nd_astype(y, WEFT_DT_F64, &cb), y = &cb;
                if (!e)
                    e = wf_nd_matmul_acc(x, y, out);
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

/* The kernel of every array node: run the program in params. */
static weft_err wa_blk(wg_call *c)
{
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
    for (uint32_t i = 0; i < nops && !e; i++) {
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
    if (!e) {
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
