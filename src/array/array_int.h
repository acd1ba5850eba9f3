/* Inside the array collection: how a lazy array is described, the chunk
 * programs tasks run, and the pieces the array_*.c files share.
 *
 * Every chunk of an array is either a SOURCE (a graph node or an object in
 * the store) or a RECIPE: the operation that makes it from chunks of other
 * arrays. When a chunk is needed, its recipe is written as a PROGRAM of
 * chunk kernels (nd.h) into one graph node ("wa.blk"): the chunks of input
 * arrays that are cheap (creation) or used only by this array are written
 * into the same program recursively (blockwise fusion and inlining), the
 * others become sources first (their own nodes) and enter as inputs. */
#ifndef WF_ARRAY_ARRAY_INT_H
#define WF_ARRAY_ARRAY_INT_H

#include <stdio.h>

#include <weft/array.h>

#include "array/nd.h"
#include "graph/graph.h"

#define WA_EXPORT __attribute__((visibility("default")))
#define WA_MAXD WEFT_MAX_NDIM

/* ------------------------------------------------------------ programs */

/* Program operations (the kernel wa.blk runs them in order; the last
 * one's result is the node's output). */
typedef enum wa_opcode {
    OP_FULL = 1,
    OP_ARANGE,
    OP_LINSPACE,
    OP_RANDOM,
    OP_NPY_READ,
    OP_NPY_WRITE,
    OP_BINARY,
    OP_UNARY,
    OP_ASTYPE,
    OP_WHERE,
    OP_TRANSPOSE,
    OP_SLICE,
    OP_RESHAPE,
    OP_ASSEMBLE,
    OP_RPARTIAL,
    OP_RCOMB,
    OP_CUMSUM,
    OP_MATMUL,
    OP_COUNT_
} wa_opcode;

typedef struct op_full {
    int32_t dt, ndim;
    int64_t shape[WA_MAXD];
    double value;
} op_full;

typedef struct op_arange {
    double start, step;
    int64_t offset, n;
    int32_t dt, pad;
} op_arange;

typedef struct op_linspace {
    double start, stop;
    int64_t num, offset, n;
    int32_t endpoint, pad;
} op_linspace;

typedef struct op_random {
    int32_t dist, ndim;
    uint64_t seed;
    double a, b;
    int64_t gshape[WA_MAXD], origin[WA_MAXD], chunk[WA_MAXD];
} op_random;

typedef struct op_npy { /* read: origin + shape; write: origin; then path */
    wf_npy_header h;
    int64_t origin[WA_MAXD], shape[WA_MAXD];
    uint32_t pathlen, pad;
} op_npy;

typedef struct op_code { /* binary, unary, astype: the op or dtype */
    int32_t code, pad;
} op_code;

typedef struct op_axes { /* transpose perm / reshape shape */
    int32_t ndim, pad;
    int64_t v[WA_MAXD];
} op_axes;

typedef struct op_slice {
    int32_t ndim, pad;
    int64_t start[WA_MAXD], step[WA_MAXD], count[WA_MAXD];
} op_slice;

typedef struct op_box { /* one input's part in an assembled block */
    int64_t src[WA_MAXD], dst[WA_MAXD], shape[WA_MAXD];
} op_box;

typedef struct op_assemble { /* then one op_box per input */
    int32_t dt, ndim;
    int64_t shape[WA_MAXD];
} op_assemble;

typedef struct op_rpartial {
    int32_t op, ndim;
    uint32_t axes, pad;
    int64_t origin[WA_MAXD], gshape[WA_MAXD];
} op_rpartial;

typedef struct op_rcomb { /* combine states; finalize when final */
    int32_t op, final, in_dt, ddof, ndim, pad;
    int64_t shape[WA_MAXD]; /* the final result's shape */
} op_rcomb;

typedef struct op_cumsum {
    int32_t axis, carry;
} op_cumsum;

typedef struct op_matmul { /* inputs: a blocks 0..nk, then b blocks */
    int32_t nk, dt;
} op_matmul;

/* A program being written for one graph node. */
typedef struct wa_prog {
    uint8_t *buf;
    size_t len, cap;
    uint32_t nops;
    wg_input *in;
    size_t nin, capin;
    struct memo {
        const wa_array *a;
        size_t b;
        uint32_t slot;
    } * memo;
    size_t nmemo, capmemo;
    uint32_t hits; /* arr_emit calls answered by an op already written */
    char key[200]; /* the op names, for the node's key */
    size_t keylen;
    bool fail;
} wa_prog;

#define SLOT_IN 0x80000000u /* a slot naming a graph input */

void prog_init(wa_prog *p);
void prog_free(wa_prog *p);
/* Append an op with params and inputs; returns its slot. */
uint32_t prog_op(wa_prog *p, wa_opcode op, const void *params, size_t plen,
                 const void *extra, size_t elen, const uint32_t *in,
                 uint32_t nin);
/* The slot of a graph input (one per distinct node / ref). */
uint32_t prog_input(wa_prog *p, wg_input in);

const char *wa_opname(wa_opcode op);

/* ------------------------------------------------------------ arrays */

typedef enum wa_kind {
    K_SOURCE,  /* src[] are graph nodes or refs */
    K_CREATE,  /* full / arange / linspace / random / npy */
    K_MAP,     /* blockwise: in[] blocks from axis maps, one op */
    K_SLICE,   /* one input block per output block, per-block params */
    K_CONCAT,  /* blocks of several arrays, relabelled */
    K_RECHUNK, /* output blocks assembled from overlapping input blocks */
    K_RESHAPE, /* 1:1 blocks after an aligning rechunk */
    K_CUMSUM,  /* per-block cumsum plus a carry source */
} wa_kind;

typedef struct wa_src {
    bool is_ref;
    wg_node node;
    weft_ref ref;
} wa_src;

struct wa_array {
    wa_ctx *ctx;
    weft_dtype dtype;
    uint32_t ndim;
    int64_t shape[WA_MAXD];
    size_t nb[WA_MAXD];       /* chunks per axis */
    int64_t *bounds[WA_MAXD]; /* nb[d] + 1 offsets */
    size_t nblocks;
    wa_kind kind;
    const char *name; /* for graph keys */
    uint32_t uses;    /* how many consumers read its chunks */
    bool weak;        /* a Python-like scalar (wa_scalar) */
    double scalar;
    wa_src *src; /* sources, once made (nblocks) */
    /* K_CREATE */
    wa_opcode cop;
    union {
        op_full full;
        op_arange arange;
        op_linspace lin;
        op_random rnd;
        op_npy npy;
    } c;
    char *path;
    /* inputs (K_MAP, K_SLICE, K_CONCAT, K_RECHUNK, K_RESHAPE, K_CUMSUM) */
    wa_array *in[8];
    uint32_t nin;
    /* K_MAP: op and params; axis_map[i][j]: the output axis giving input
     * i's block index along its axis j, or -1 (broadcast: block 0) */
    wa_opcode op;
    union {
        op_code code;
        op_axes axes;
    } p;
    int8_t axis_map[3][WA_MAXD];
    /* K_SLICE: per axis, per output chunk: the input chunk, local start;
     * step per axis */
    size_t *sl_chunk[WA_MAXD];
    int64_t *sl_start[WA_MAXD];
    int64_t sl_step[WA_MAXD];
    /* K_CONCAT: axis; along it, for output chunk c: input array and its
     * chunk; stack adds a new axis */
    uint32_t cat_axis;
    bool stack;
    uint32_t *cat_arr;
    size_t *cat_chunk;
    /* K_CUMSUM: carries per block (refs to nodes; none for the first) */
    uint32_t cum_axis;
    wg_node *carry;
};

typedef struct wa_nodeinfo {
    uint32_t ops;      /* program ops (chunk operations) in the node */
    uint32_t in_first; /* node inputs in ctx->node_in */
    uint32_t nin;
    bool fusible;
} wa_nodeinfo;

struct wa_ctx {
    weft_runtime *rt;
    wg_graph *g;
    char err[512];
    wa_array **arrays;
    size_t narrays, caparrays;
    wa_nodeinfo *info; /* by graph node */
    size_t ninfo, capinfo;
    wg_node *node_in;
    size_t nnode_in, capnode_in;
};

/* Set ctx's error; returns NULL. */
wa_array *wa_fail(wa_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A new array of ctx with dtype, shape and regular chunks (chunks as in
 * the API), kind and name; NULL with an error on bad shapes. */
wa_array *arr_new(wa_ctx *ctx, const char *what, weft_dtype dt, uint32_t ndim,
                  const int64_t *shape, const int64_t *chunks, wa_kind kind);
/* The same with explicit bounds per axis (copied). */
wa_array *arr_new_bounds(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                         const int64_t *shape, const size_t *nb,
                         int64_t *const *bounds, wa_kind kind);

/* Block coordinates of linear block b, and back. */
void arr_coords(const wa_array *a, size_t b, size_t *co);
size_t arr_linear(const wa_array *a, const size_t *co);
/* Origin and shape of block b. */
void arr_block(const wa_array *a, size_t b, int64_t *origin, int64_t *shape);

/* Make a's chunks sources (graph nodes), if not yet. */
weft_err arr_sources(wa_array *a);
/* Write block b of a into p; returns its slot. */
uint32_t arr_emit(wa_prog *p, wa_array *a, size_t b);
/* Add p as a node of ctx's graph (fusible as said); UINT32_MAX on error
 * (ctx's error set). Frees p. */
wg_node arr_add_node(wa_ctx *ctx, wa_prog *p, bool fusible, const char *what,
                     const size_t *co, uint32_t ndim);

/* a rechunked to bounds (arrays per axis), or a itself when equal. */
wa_array *arr_rechunk_bounds(wa_array *a, const size_t *nb,
                             int64_t *const *bounds);

/* "(3, 4)" into buf. */
void shape_str(char *buf, size_t n, uint32_t ndim, const int64_t *shape);

#endif
