/* weft arrays: chunked n-d arrays computed in parallel (Dask array's core).
 *
 * An array is lazy: a dtype, a shape and a grid of chunks, each chunk the
 * result of a small program of chunk kernels. Operations build more arrays;
 * nothing runs until wa_compute, wa_to_npy or wa_persist. Then the chunks
 * needed are computed as weft tasks, on threads, worker processes
 * (WEFT_EXEC_PROCESS) or a cluster alike: tasks carry only values.
 *
 * Optimisation, as Dask's: chains of blockwise operations (elementwise,
 * transpose, slicing, astype, ...) run as ONE task per chunk, cheap
 * creation chunks (zeros, arange, random, ...) are recomputed inside each
 * consumer instead of being stored, the per-chunk step of a reduction joins
 * the chain that produces the chunk, and what the result does not need is
 * never built.
 *
 * Arrays belong to a context (wa_ctx) and live until it is freed. A
 * function that builds an array returns NULL on bad input (shapes that do
 * not broadcast, an axis out of range, ...) with the reason in
 * wa_error(ctx). Build functions do not block and are not for use inside
 * tasks; compute functions block.
 *
 * Dtypes: WEFT_DT_F64, F32, I64, I32, BOOL. Up to WEFT_MAX_NDIM axes. */
#ifndef WEFT_ARRAY_H
#define WEFT_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wa_ctx wa_ctx;
typedef struct wa_array wa_array;

/* A computed array: C-order data of dtype and shape (malloc'ed). */
typedef struct wa_buffer {
    weft_dtype dtype;
    uint32_t ndim;
    int64_t shape[WEFT_MAX_NDIM];
    void *data; /* NULL only when the array has no elements */
} wa_buffer;

/* ------------------------------------------------------------ context */

/* A context for arrays computed on rt (which must outlive it). NULL when
 * out of memory. */
wa_ctx *wa_ctx_new(weft_runtime *rt);

/* Free ctx and every array built in it. */
void wa_ctx_free(wa_ctx *ctx);

/* Why the last build function of ctx failed ("" if none did). */
const char *wa_error(const wa_ctx *ctx);

/* ------------------------------------------------------------ inspection */

weft_dtype wa_dtype(const wa_array *a);
uint32_t wa_ndim(const wa_array *a);
/* The shape (ndim entries, valid while the context lives). */
const int64_t *wa_shape(const wa_array *a);
/* Number of elements. */
int64_t wa_size(const wa_array *a);
/* Number of chunks along axis, and the length of chunk i along it. */
size_t wa_nchunks(const wa_array *a, uint32_t axis);
int64_t wa_chunk_len(const wa_array *a, uint32_t axis, size_t i);

/* ------------------------------------------------------------ creation */

/* chunks[d] is the chunk length along axis d (the last chunk may be
 * shorter); chunks NULL or chunks[d] <= 0 means the whole axis. */

/* An array of shape filled with value (converted to dt). */
wa_array *wa_full(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                  const int64_t *shape, const int64_t *chunks, double value);
wa_array *wa_zeros(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                   const int64_t *shape, const int64_t *chunks);
wa_array *wa_ones(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                  const int64_t *shape, const int64_t *chunks);

/* numpy.arange(start, stop, step) as dt, in chunks of chunk. */
wa_array *wa_arange(wa_ctx *ctx, double start, double stop, double step,
                    weft_dtype dt, int64_t chunk);

/* numpy.linspace(start, stop, num, endpoint) (float64). */
wa_array *wa_linspace(wa_ctx *ctx, double start, double stop, int64_t num,
                      bool endpoint, int64_t chunk);

/* Random float64 arrays: the value at each index depends only on seed and
 * the index, so any chunking and any number of workers give the same
 * array. Uniform on [low, high); normal with mean and standard deviation. */
wa_array *wa_random_uniform(wa_ctx *ctx, uint64_t seed, double low, double high,
                            uint32_t ndim, const int64_t *shape,
                            const int64_t *chunks);
wa_array *wa_random_normal(wa_ctx *ctx, uint64_t seed, double mean, double std,
                           uint32_t ndim, const int64_t *shape,
                           const int64_t *chunks);

/* An array holding a copy of data (C order, dt, shape), split into chunks
 * stored as weft objects now. */
wa_array *wa_from_buffer(wa_ctx *ctx, weft_dtype dt, uint32_t ndim,
                         const int64_t *shape, const void *data,
                         const int64_t *chunks);

/* The array in the .npy file at path (header read now; chunks read by the
 * tasks that need them, so every worker must see the file). */
wa_array *wa_from_npy(wa_ctx *ctx, const char *path, const int64_t *chunks);

/* A 0-d float64 scalar. Like a Python number in numpy, it takes the other
 * operand's dtype in arithmetic when that loses nothing (float32 array *
 * 2.5 stays float32; int32 array + 2 stays int32). */
wa_array *wa_scalar(wa_ctx *ctx, double value);

/* ------------------------------------------------------------ elementwise */

typedef enum wa_binop {
    WA_ADD,
    WA_SUB,
    WA_MUL,
    WA_DIV,      /* true division */
    WA_FLOORDIV, /* // */
    WA_MOD,      /* % (sign of the divisor) */
    WA_POW,
    WA_MINIMUM,
    WA_MAXIMUM,
    WA_EQ,
    WA_NE,
    WA_LT,
    WA_LE,
    WA_GT,
    WA_GE,
    WA_AND, /* logical */
    WA_OR,
    WA_XOR,
} wa_binop;

/* a op b with numpy broadcasting and dtype promotion. Differently chunked
 * operands are rechunked to common chunks first. */
wa_array *wa_binary(wa_binop op, wa_array *a, wa_array *b);

static inline wa_array *wa_add(wa_array *a, wa_array *b)
{
    return wa_binary(WA_ADD, a, b);
}
static inline wa_array *wa_sub(wa_array *a, wa_array *b)
{
    return wa_binary(WA_SUB, a, b);
}
static inline wa_array *wa_mul(wa_array *a, wa_array *b)
{
    return wa_binary(WA_MUL, a, b);
}
static inline wa_array *wa_div(wa_array *a, wa_array *b)
{
    return wa_binary(WA_DIV, a, b);
}

typedef enum wa_unop {
    WA_NEG,
    WA_ABS,
    WA_SQUARE,
    WA_SQRT,
    WA_EXP,
    WA_LOG,
    WA_LOG10,
    WA_LOG1P,
    WA_EXPM1,
    WA_SIN,
    WA_COS,
    WA_TAN,
    WA_ARCSIN,
    WA_ARCCOS,
    WA_ARCTAN,
    WA_SINH,
    WA_COSH,
    WA_TANH,
    WA_FLOOR,
    WA_CEIL,
    WA_ROUND,
    WA_TRUNC,
    WA_SIGN,
    WA_NOT,
    WA_ISNAN,
    WA_ISINF,
    WA_ISFINITE,
} wa_unop;

/* numpy's ufunc op(a): float functions of ints give float64. */
wa_array *wa_unary(wa_unop op, wa_array *a);

/* a converted to dt (floats to ints truncate, as numpy's astype). */
wa_array *wa_astype(wa_array *a, weft_dtype dt);

/* numpy.where(cond, a, b), all three broadcast. */
wa_array *wa_where(wa_array *cond, wa_array *a, wa_array *b);

/* ------------------------------------------------------------ layout */

/* Axes permuted: result axis d is a's axis perm[d]; perm NULL reverses
 * (a.T). */
wa_array *wa_transpose(wa_array *a, const uint32_t *perm);

/* The same elements in C order with a new shape; one entry may be -1. */
wa_array *wa_reshape(wa_array *a, uint32_t ndim, const int64_t *shape);

/* Python's a[start:stop:step, ...] per axis. WA_NONE leaves a bound out;
 * start/stop/step NULL leave them out on every axis; negative bounds count
 * from the end; step may be negative, never 0. */
#define WA_NONE INT64_MIN
wa_array *wa_slice(wa_array *a, const int64_t *start, const int64_t *stop,
                   const int64_t *step);

/* Join arrays along an existing axis / stack them along a new one
 * (numpy.concatenate / numpy.stack). */
wa_array *wa_concat(wa_array *const *arrays, size_t n, uint32_t axis);
wa_array *wa_stack(wa_array *const *arrays, size_t n, uint32_t axis);

/* The same array in new chunks (chunks as for creation). */
wa_array *wa_rechunk(wa_array *a, const int64_t *chunks);

/* ------------------------------------------------------------ reductions */

typedef enum wa_redop {
    WA_R_SUM,
    WA_R_PROD,
    WA_R_MEAN,
    WA_R_VAR,
    WA_R_STD,
    WA_R_MIN,
    WA_R_MAX,
    WA_R_ARGMIN,
    WA_R_ARGMAX,
    WA_R_ANY,
    WA_R_ALL,
} wa_redop;

/* Reduce the axes whose bit is set in axes (0: all axes), keeping them as
 * length 1 when keepdims; ddof for var/std. A tree: a partial result per
 * chunk, combined in groups of 8. argmin/argmax take one axis or all (then
 * the index is into the flattened array). Dtypes as numpy. */
wa_array *wa_reduce(wa_redop op, wa_array *a, uint32_t axes, bool keepdims,
                    int ddof);
wa_array *wa_sum(wa_array *a, uint32_t axes, bool keepdims);
wa_array *wa_mean(wa_array *a, uint32_t axes, bool keepdims);
wa_array *wa_var(wa_array *a, uint32_t axes, bool keepdims, int ddof);
wa_array *wa_std(wa_array *a, uint32_t axes, bool keepdims, int ddof);
wa_array *wa_min(wa_array *a, uint32_t axes, bool keepdims);
wa_array *wa_max(wa_array *a, uint32_t axes, bool keepdims);
wa_array *wa_argmin(wa_array *a, int axis); /* axis -1: flattened */
wa_array *wa_argmax(wa_array *a, int axis);
wa_array *wa_any(wa_array *a, uint32_t axes, bool keepdims);
wa_array *wa_all(wa_array *a, uint32_t axes, bool keepdims);

/* Cumulative sum along axis (numpy.cumsum with an axis). */
wa_array *wa_cumsum(wa_array *a, uint32_t axis);

/* ------------------------------------------------------------ linear algebra
 */

/* numpy.matmul for 1-d and 2-d operands, blocked: output chunk (i, j) is
 * the sum over k of a(i, k) @ b(k, j), in one task (dgemm for float64). */
wa_array *wa_matmul(wa_array *a, wa_array *b);
/* numpy.dot for 1-d and 2-d operands (the same as wa_matmul there). */
wa_array *wa_dot(wa_array *a, wa_array *b);

/* ------------------------------------------------------------ computing */

/* Compute a and assemble it in *out (free with wa_buffer_free). Blocks.
 * A failed chunk task gives its error code; the message (naming the
 * kernel and chunk) is then in wa_error(ctx). */
weft_err wa_compute(wa_array *a, wa_buffer *out);

/* Compute a into the caller's memory: data holds bytes = wa_size(a) times
 * the dtype's size, filled in C order (numpy's out=). Reusing one buffer
 * spares a fresh allocation and its page faults per compute. A wrong size
 * is WEFT_EINVAL (the message in wa_error). Blocks. */
weft_err wa_compute_into(wa_array *a, void *data, size_t bytes);

/* Compute n arrays of one context together (shared parts run once). */
weft_err wa_compute_many(wa_array *const *arrays, size_t n, wa_buffer *outs);

/* Free out's data; out becomes empty. */
void wa_buffer_free(wa_buffer *out);

/* Write a to a .npy file at path, one task per chunk writing its block in
 * place: the whole array is never held anywhere. Blocks. */
weft_err wa_to_npy(wa_array *a, const char *path);

/* Compute a's chunks now and keep them in the object store: the returned
 * array (same values) starts from them instead of recomputing. Blocks. */
wa_array *wa_persist(wa_array *a);

/* Write the task graph of a (after optimisation) as Graphviz: DOT when
 * path ends in ".dot", else SVG through the `dot` program (WEFT_ESYS when
 * it cannot be run). */
weft_err wa_visualize(wa_array *a, const char *path);

typedef struct wa_stats {
    size_t chunk_ops;   /* before: one task per operation per chunk */
    size_t graph_nodes; /* graph nodes needed after blockwise fusion */
    size_t tasks;       /* after culling and fusion: tasks that would run */
} wa_stats;

/* How many tasks computing a takes before and after optimisation. */
weft_err wa_get_stats(wa_array *a, wa_stats *st);

#ifdef __cplusplus
}
#endif

#endif
