/* Chunk kernels for the array collection: numpy-like operations on ONE
 * in-memory n-d array (a chunk). The collection (include/weft/array.h)
 * builds graphs of these; each kernel runs inside one task.
 *
 * Arrays are C-contiguous. Dtypes: WEFT_DT_F64, F32, I64, I32, BOOL (one
 * byte, 0 or 1); U8 is accepted where noted. ndim 0 is a scalar (one
 * element). Every function that produces an array allocates *out (free it
 * with wf_nd_free); on error *out is left empty ({0}) and wf_nd_error()
 * says what went wrong ("binary add: shapes (3,4) and (5) do not
 * broadcast").
 *
 * Errors: WEFT_EINVAL for bad arguments (shapes, axes, dtypes), WEFT_ENOMEM,
 * WEFT_ESYS for files (npy). */
#ifndef WF_ARRAY_ND_H
#define WF_ARRAY_ND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

typedef struct wf_nd {
    weft_dtype dtype;
    uint32_t ndim;
    int64_t shape[WEFT_MAX_NDIM];
    void *data; /* C order; NULL only when the array has no elements */
    bool owned; /* wf_nd_free frees data */
} wf_nd;

/* ------------------------------------------------------------ basics */

/* What went wrong in this thread's last failed wf_nd / wf_npy call. */
const char *wf_nd_error(void);

/* "float64", "float32", "int64", "int32", "uint8", "bool"; "?" if unknown. */
const char *wf_dtype_name(weft_dtype dt);

/* Number of elements (1 for ndim 0) and bytes of a. */
int64_t wf_nd_size(const wf_nd *a);
size_t wf_nd_bytes(const wf_nd *a);

/* A new array of dtype and shape; zeroed when zero is true. */
weft_err wf_nd_alloc(wf_nd *out, weft_dtype dt, uint32_t ndim,
                     const int64_t *shape, bool zero);

/* Free a's data if owned; a becomes {0}. Safe on {0}. */
void wf_nd_free(wf_nd *a);

/* A non-owning view of data (no copy). */
wf_nd wf_nd_view(weft_dtype dt, uint32_t ndim, const int64_t *shape,
                 const void *data);

/* A view of a WEFT_T_ARRAY value (false if v is not an array), and the
 * value of an array (pointing at a's data). */
bool wf_nd_from_value(const weft_value *v, wf_nd *view);
weft_value wf_nd_value(const wf_nd *a);

/* numpy's result dtype for a binary arithmetic op of a and b: bool < i32 <
 * i64 < f32 < f64, except i32/i64 with f32 gives f64. */
weft_dtype wf_dtype_promote(weft_dtype a, weft_dtype b);

/* numpy broadcasting of two shapes (right-aligned; 1 stretches). */
weft_err wf_broadcast_shapes(uint32_t na, const int64_t *sa, uint32_t nb,
                             const int64_t *sb, uint32_t *nout, int64_t *sout);

/* ------------------------------------------------------------ elementwise */

typedef enum wf_binop {
    WF_ADD,
    WF_SUB,
    WF_MUL,
    WF_DIV,      /* true division: float result (f32 if both f32, else f64) */
    WF_FLOORDIV, /* numpy //: ints floor (x // 0 is 0), floats floor(a/b) */
    WF_MOD,      /* numpy %: sign of the divisor; ints x % 0 is 0 */
    WF_POW, /* ints: int power (negative exponent is an error); floats pow */
    WF_MINIMUM, /* elementwise min / max (NaN propagates) */
    WF_MAXIMUM,
    WF_EQ, /* comparisons: bool result */
    WF_NE,
    WF_LT,
    WF_LE,
    WF_GT,
    WF_GE,
    WF_AND, /* logical on bool (non-bool: nonzero is true): bool result */
    WF_OR,
    WF_XOR,
} wf_binop;

/* out = a op b with broadcasting and promotion as numpy. */
weft_err wf_nd_binary(wf_binop op, const wf_nd *a, const wf_nd *b, wf_nd *out);

typedef enum wf_unop {
    WF_NEG,
    WF_ABS,
    WF_SQUARE,
    WF_SQRT, /* float functions: ints and bool give f64, f32 stays f32 */
    WF_EXP,
    WF_LOG,
    WF_LOG10,
    WF_LOG1P,
    WF_EXPM1,
    WF_SIN,
    WF_COS,
    WF_TAN,
    WF_ARCSIN,
    WF_ARCCOS,
    WF_ARCTAN,
    WF_SINH,
    WF_COSH,
    WF_TANH,
    WF_FLOOR, /* floor/ceil/round(half to even)/trunc: same dtype */
    WF_CEIL,
    WF_ROUND,
    WF_TRUNC,
    WF_SIGN,
    WF_NOT,   /* logical not: bool result */
    WF_ISNAN, /* bool results (false for ints) */
    WF_ISINF,
    WF_ISFINITE,
} wf_unop;

weft_err wf_nd_unary(wf_unop op, const wf_nd *a, wf_nd *out);

/* Convert to dt (float to int truncates toward zero, as numpy's astype;
 * anything to bool is != 0). */
weft_err wf_nd_astype(const wf_nd *a, weft_dtype dt, wf_nd *out);

/* out = cond ? a : b, all three broadcast; dtype promote(a, b). */
weft_err wf_nd_where(const wf_nd *cond, const wf_nd *a, const wf_nd *b,
                     wf_nd *out);

/* ------------------------------------------------------------ creation */

/* An array of shape filled with value (converted to dt). */
weft_err wf_nd_full(weft_dtype dt, uint32_t ndim, const int64_t *shape,
                    double value, wf_nd *out);

/* 1-d: out[i] = start + (offset + i) * step for i < n, in dt (ints: the
 * value is computed in double then converted; exact for |x| < 2^53). */
weft_err wf_nd_arange(double start, double step, int64_t offset, int64_t n,
                      weft_dtype dt, wf_nd *out);

/* 1-d block [offset, offset+n) of numpy.linspace(start, stop, num,
 * endpoint): the same doubles as numpy for any offset. */
weft_err wf_nd_linspace(double start, double stop, int64_t num, bool endpoint,
                        int64_t offset, int64_t n, wf_nd *out);

typedef enum wf_rng_dist {
    WF_RNG_UNIFORM, /* [a, b) */
    WF_RNG_NORMAL,  /* mean a, standard deviation b */
} wf_rng_dist;

/* The block at origin[] with shape chunk[] of a random f64 array of
 * global shape gshape[] (ndim axes): the value at each global index
 * depends only on (seed, its flat index in the global array), so any
 * chunking, any order and any number of workers give the same array.
 * Counter-based (Philox4x32-10): uniform from 53 random bits; normal by
 * Box-Muller on the element's own two uniforms. */
weft_err wf_nd_random(wf_rng_dist dist, uint64_t seed, double a, double b,
                      uint32_t ndim, const int64_t *gshape,
                      const int64_t *origin, const int64_t *chunk, wf_nd *out);

/* ------------------------------------------------------------ layout */

/* out.shape[d] = count[d]; out[i...] = a[start[d] + i_d * step[d]...].
 * step may be negative, never 0; every index must lie in a. (The
 * collection turns Python-style slices into start/step/count.) */
weft_err wf_nd_slice(const wf_nd *a, const int64_t *start, const int64_t *step,
                     const int64_t *count, wf_nd *out);

/* Permute axes: out.shape[d] = a.shape[perm[d]]; perm NULL reverses. */
weft_err wf_nd_transpose(const wf_nd *a, const uint32_t *perm, wf_nd *out);

/* The same elements in C order with a new shape (same element count). */
weft_err wf_nd_reshape(const wf_nd *a, uint32_t ndim, const int64_t *shape,
                       wf_nd *out);

/* Join parts (same dtype after promotion, same shape except along axis). */
weft_err wf_nd_concat(const wf_nd *const *parts, size_t n, uint32_t axis,
                      wf_nd *out);

/* Stack n same-shaped parts along a new axis. */
weft_err wf_nd_stack(const wf_nd *const *parts, size_t n, uint32_t axis,
                     wf_nd *out);

/* Copy the box of shape[] at src_origin in src to dst_origin in dst (same
 * ndim; dtypes may differ: converted as astype). For rechunk and
 * assembling results. */
weft_err wf_nd_copy_block(const wf_nd *src, const int64_t *src_origin,
                          wf_nd *dst, const int64_t *dst_origin,
                          const int64_t *shape);

/* ------------------------------------------------------------ reductions */

typedef enum wf_redop {
    WF_R_SUM,
    WF_R_PROD,
    WF_R_MEAN,
    WF_R_VAR, /* with ddof */
    WF_R_STD,
    WF_R_MIN,
    WF_R_MAX,
    WF_R_ARGMIN, /* first index of the min / max (NaN counts as extreme,
                    as numpy) */
    WF_R_ARGMAX,
    WF_R_ANY,
    WF_R_ALL,
} wf_redop;

/* Tree reductions over chunks in three steps. A partial STATE is an f64
 * array whose shape is a's shape with the reduced axes set to 1 (keepdims)
 * plus one trailing axis of wf_red_width(op) fields (sum: 1; mean: sum,
 * count; var/std: count, mean, M2 (Chan et al.); argmin/argmax: value,
 * index; ...). States of chunks covering the same output block have the
 * same shape and combine elementwise, in any grouping.
 *
 * axes: bit d set reduces axis d (0 = all axes). origin/gshape: where a
 * lies in the global array, for argmin/argmax indexes: with one reduced
 * axis d the index is along d (origin[d] + local); over all axes of an
 * n-d array it is the flat C-order index in gshape. (argmin/argmax take
 * one axis or all.) Sums of ints and bools are exact in i64 in the
 * finalised result when below 2^53 (states are f64). */
size_t wf_red_width(wf_redop op);
weft_err wf_nd_reduce_partial(wf_redop op, const wf_nd *a, uint32_t axes,
                              const int64_t *origin, const int64_t *gshape,
                              wf_nd *state);
weft_err wf_nd_reduce_combine(wf_redop op, const wf_nd *const *states, size_t n,
                              wf_nd *state);
/* State to result: shape = state's without the trailing axis (keepdims:
 * the reduced axes stay as 1). Dtype as numpy: sum/prod of bool/i32/i64
 * is i64, of f32 is f32; mean/var/std f64 (f32 for f32); min/max keep the
 * input dtype in_dt; argmin/argmax i64; any/all bool. */
weft_err wf_nd_reduce_finalize(wf_redop op, const wf_nd *state,
                               weft_dtype in_dt, int ddof, wf_nd *out);
/* The three in one, on a whole array. */
weft_err wf_nd_reduce(wf_redop op, const wf_nd *a, uint32_t axes, int ddof,
                      wf_nd *out);

/* Cumulative sum along axis (dtype as sum's). carry, if not NULL, has a's
 * shape with axis set to 1 and is added to every element (the running
 * total of the chunks before this one along axis). */
weft_err wf_nd_cumsum(const wf_nd *a, uint32_t axis, const wf_nd *carry,
                      wf_nd *out);

/* ------------------------------------------------------------ linear algebra
 */

/* numpy matmul for 1-d and 2-d operands: (m,k)@(k,n), (k)@(k,n), (m,k)@(k),
 * (k)@(k). f64/f32 through OpenBLAS (one thread: weft gives the
 * parallelism), ints by loop (i64 result). */
weft_err wf_nd_matmul(const wf_nd *a, const wf_nd *b, wf_nd *out);

/* acc += a @ b for 2-d f64 operands (dgemm with beta = 1), or acc = a @
 * b when overwrite (beta = 0: acc's old contents are never read, so it
 * needs no zeroing): the blocked matmul's inner sum without a temporary. */
weft_err wf_nd_matmul_acc(const wf_nd *a, const wf_nd *b, wf_nd *acc,
                          bool overwrite);

/* ------------------------------------------------------------ .npy files */

typedef struct wf_npy_header {
    weft_dtype dtype;
    uint32_t ndim;
    int64_t shape[WEFT_MAX_NDIM];
    bool fortran_order; /* read: supported for load only */
    uint64_t data_offset;
} wf_npy_header;

/* Read and check the header of a .npy file (format 1.0-3.0,
 * little-endian <f8 <f4 <i8 <i4 |u1 |b1). A malformed header is WEFT_EINVAL
 * naming the file and what is wrong. */
weft_err wf_npy_read_header(const char *path, wf_npy_header *h);

/* Create path as a .npy of dt and shape, sized for its data (sparse), and
 * fill h; blocks are then written with wf_npy_write_block by any process. */
weft_err wf_npy_create(const char *path, weft_dtype dt, uint32_t ndim,
                       const int64_t *shape, wf_npy_header *h);

/* Read the box at origin with shape[] (C order file) into *out. */
weft_err wf_npy_read_block(const char *path, const wf_npy_header *h,
                           const int64_t *origin, const int64_t *shape,
                           wf_nd *out);

/* Write block (dtype converted to h's) at origin into the file. */
weft_err wf_npy_write_block(const char *path, const wf_npy_header *h,
                            const int64_t *origin, const wf_nd *block);

/* Whole-file load and save. */
weft_err wf_npy_load(const char *path, wf_nd *out);
weft_err wf_npy_save(const char *path, const wf_nd *a);

#endif
