/* Elementwise kernels (binary with broadcasting, unary, astype, where),
 * creation (full, arange, linspace) and layout (slice, transpose, reshape,
 * concat, stack, copy_block).
 *
 * Binary ops convert both operands to one compute dtype first (no copy
 * when they already have it), then run a loop per output row over the
 * broadcast iteration: each loop is specialised for the operand strides
 * (1,1), (1,0), (0,1) so the compiler vectorises it; same-shape and
 * scalar-vs-array cases are a single row. */
#include "array/nd_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ scalar ops */

/* numpy's floor division and remainder of doubles (npy_divmod). */
static inline double f64_fdiv(double a, double b)
{
    if (b == 0)
        return a / b;
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0)))
        div -= 1.0;
    if (div == 0)
        return copysign(0.0, a / b);
    double fl = floor(div);
    if (div - fl > 0.5)
        fl += 1.0;
    return fl;
}
static inline double f64_mod(double a, double b)
{
    if (b == 0)
        return fmod(a, b);
    double mod = fmod(a, b);
    if (mod != 0) {
        if ((b < 0) != (mod < 0))
            mod += b;
    } else {
        mod = copysign(0.0, b);
    }
    return mod;
}
static inline float f32_fdiv(float a, float b)
{
    if (b == 0)
        return a / b;
    float mod = fmodf(a, b);
    float div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0)))
        div -= 1.0f;
    if (div == 0)
        return copysignf(0.0f, a / b);
    float fl = floorf(div);
    if (div - fl > 0.5f)
        fl += 1.0f;
    return fl;
}
static inline float f32_mod(float a, float b)
{
    if (b == 0)
        return fmodf(a, b);
    float mod = fmodf(a, b);
    if (mod != 0) {
        if ((b < 0) != (mod < 0))
            mod += b;
    } else {
        mod = copysignf(0.0f, b);
    }
    return mod;
}

#define FLOAT_OPS(N, T, POW)                                                   \
    static inline T N##_add(T a, T b)                                          \
    {                                                                          \
        return a + b;                                                          \
    }                                                                          \
    static inline T N##_sub(T a, T b)                                          \
    {                                                                          \
        return a - b;                                                          \
    }                                                                          \
    static inline T N##_mul(T a, T b)                                          \
    {                                                                          \
        return a * b;                                                          \
    }                                                                          \
    static inline T N##_div(T a, T b)                                          \
    {                                                                          \
        return a / b;                                                          \
    }                                                                          \
    static inline T N##_pow(T a, T b)                                          \
    {                                                                          \
        return POW(a, b);                                                      \
    }                                                                          \
    static inline T N##_min(T a, T b)                                          \
    {                                                                          \
        return a != a ? a : (a < b ? a : b);                                   \
    }                                                                          \
    static inline T N##_max(T a, T b)                                          \
    {                                                                          \
        return a != a ? a : (a > b ? a : b);                                   \
    }
FLOAT_OPS(f64, double, pow)
FLOAT_OPS(f32, float, powf)

/* Signed ints wrap like numpy (arithmetic in the unsigned type); x // 0
 * and x % 0 are 0; MIN // -1 wraps instead of trapping. */
#define INT_OPS(N, T, U)                                                       \
    static inline T N##_add(T a, T b)                                          \
    {                                                                          \
        return (T)((U)a + (U)b);                                               \
    }                                                                          \
    static inline T N##_sub(T a, T b)                                          \
    {                                                                          \
        return (T)((U)a - (U)b);                                               \
    }                                                                          \
    static inline T N##_mul(T a, T b)                                          \
    {                                                                          \
        return (T)((U)a * (U)b);                                               \
    }                                                                          \
    static inline T N##_fdiv(T a, T b)                                         \
    {                                                                          \
        if (b == 0)                                                            \
            return 0;                                                          \
        if (b == -1)                                                           \
            return (T)((U)0 - (U)a);                                           \
        T q = (T)(a / b);                                                      \
        if (a % b != 0 && ((a < 0) != (b < 0)))                                \
            q--;                                                               \
        return q;                                                              \
    }                                                                          \
    static inline T N##_mod(T a, T b)                                          \
    {                                                                          \
        if (b == 0 || b == -1)                                                 \
            return 0;                                                          \
        T r = (T)(a % b);                                                      \
        if (r != 0 && ((r < 0) != (b < 0)))                                    \
            r = (T)(r + b);                                                    \
        return r;                                                              \
    }                                                                          \
    static inline T N##_pow(T a, T b)                                          \
    {                                                                          \
        U r = 1, x = (U)a;                                                     \
        for (; b > 0; b = (T)(b >> 1)) {                                       \
            if (b & 1)                                                         \
                r = (U)(r * x);                                                \
            x = (U)(x * x);                                                    \
        }                                                                      \
        return (T)r;                                                           \
    }                                                                          \
    static inline T N##_min(T a, T b)                                          \
    {                                                                          \
        return a < b ? a : b;                                                  \
    }                                                                          \
    static inline T N##_max(T a, T b)                                          \
    {                                                                          \
        return a > b ? a : b;                                                  \
    }                                                                          \
    static inline T N##_div(T a, T b)                                          \
    {                                                                          \
        return N##_fdiv(a, b); /* not reached: true division is float */       \
    }
INT_OPS(i64, int64_t, uint64_t)
INT_OPS(i32, int32_t, uint32_t)

static inline uint8_t u8_add(uint8_t a, uint8_t b)
{
    return (uint8_t)(a + b);
}
static inline uint8_t u8_sub(uint8_t a, uint8_t b)
{
    return (uint8_t)(a - b);
}
static inline uint8_t u8_mul(uint8_t a, uint8_t b)
{
    return (uint8_t)(a * b);
}
static inline uint8_t u8_fdiv(uint8_t a, uint8_t b)
{
    return b ? (uint8_t)(a / b) : 0;
}
static inline uint8_t u8_div(uint8_t a, uint8_t b)
{
    return u8_fdiv(a, b); /* not reached: true division is float */
}
static inline uint8_t u8_mod(uint8_t a, uint8_t b)
{
    return b ? (uint8_t)(a % b) : 0;
}
static inline uint8_t u8_pow(uint8_t a, uint8_t b)
{
    unsigned r = 1, x = a;
    for (; b > 0; b >>= 1) {
        if (b & 1)
            r = (r * x) & 0xff;
        x = (x * x) & 0xff;
    }
    return (uint8_t)r;
}
static inline uint8_t u8_min(uint8_t a, uint8_t b)
{
    return a < b ? a : b;
}
static inline uint8_t u8_max(uint8_t a, uint8_t b)
{
    return a > b ? a : b;
}

/* bool (0 or 1) as numpy: + is or, * is and; min is and, max is or.
 * Subtraction is refused before it gets here; //, % and ** compute in
 * int64 instead. */
static inline uint8_t b_add(uint8_t a, uint8_t b)
{
    return a | b;
}
static inline uint8_t b_mul(uint8_t a, uint8_t b)
{
    return a & b;
}
#define b_sub b_add
#define b_div b_mul
#define b_fdiv b_mul
#define b_mod b_mul
#define b_pow b_add
#define b_min b_mul
#define b_max b_add

#define CMP_EQ(a, b) ((a) == (b))
#define CMP_NE(a, b) ((a) != (b))
#define CMP_LT(a, b) ((a) < (b))
#define CMP_LE(a, b) ((a) <= (b))
#define CMP_GT(a, b) ((a) > (b))
#define CMP_GE(a, b) ((a) >= (b))
#define L_AND(a, b) ((a) & (b))
#define L_OR(a, b) ((a) | (b))
#define L_XOR(a, b) ((a) ^ (b))

/* o[i] = F(x[i*sx], y[i*sy]) for i < n, strides 0 or 1, one loop each. */
#define BLOOP(T, OT, F)                                                        \
    do {                                                                       \
        OT *restrict o_ = out;                                                 \
        if (sx && sy) {                                                        \
            for (int64_t i = 0; i < n; i++)                                    \
                o_[i] = (OT)F(x[i], y[i]);                                     \
        } else if (sx) {                                                       \
            const T b_ = y[0];                                                 \
            for (int64_t i = 0; i < n; i++)                                    \
                o_[i] = (OT)F(x[i], b_);                                       \
        } else if (sy) {                                                       \
            const T a_ = x[0];                                                 \
            for (int64_t i = 0; i < n; i++)                                    \
                o_[i] = (OT)F(a_, y[i]);                                       \
        } else {                                                               \
            const OT v_ = (OT)F(x[0], y[0]);                                   \
            for (int64_t i = 0; i < n; i++)                                    \
                o_[i] = v_;                                                    \
        }                                                                      \
    } while (0)

#define DEF_BIN(N, T)                                                          \
    WF_ND_HOT static void bin_##N(wf_binop op, int64_t n, const T *restrict x, \
                                  bool sx, const T *restrict y, bool sy,       \
                                  void *restrict out)                          \
    {                                                                          \
        switch (op) {                                                          \
        case WF_ADD:                                                           \
            BLOOP(T, T, N##_add);                                              \
            return;                                                            \
        case WF_SUB:                                                           \
            BLOOP(T, T, N##_sub);                                              \
            return;                                                            \
        case WF_MUL:                                                           \
            BLOOP(T, T, N##_mul);                                              \
            return;                                                            \
        case WF_DIV:                                                           \
            BLOOP(T, T, N##_div);                                              \
            return;                                                            \
        case WF_FLOORDIV:                                                      \
            BLOOP(T, T, N##_fdiv);                                             \
            return;                                                            \
        case WF_MOD:                                                           \
            BLOOP(T, T, N##_mod);                                              \
            return;                                                            \
        case WF_POW:                                                           \
            BLOOP(T, T, N##_pow);                                              \
            return;                                                            \
        case WF_MINIMUM:                                                       \
            BLOOP(T, T, N##_min);                                              \
            return;                                                            \
        case WF_MAXIMUM:                                                       \
            BLOOP(T, T, N##_max);                                              \
            return;                                                            \
        case WF_EQ:                                                            \
            BLOOP(T, uint8_t, CMP_EQ);                                         \
            return;                                                            \
        case WF_NE:                                                            \
            BLOOP(T, uint8_t, CMP_NE);                                         \
            return;                                                            \
        case WF_LT:                                                            \
            BLOOP(T, uint8_t, CMP_LT);                                         \
            return;                                                            \
        case WF_LE:                                                            \
            BLOOP(T, uint8_t, CMP_LE);                                         \
            return;                                                            \
        case WF_GT:                                                            \
            BLOOP(T, uint8_t, CMP_GT);                                         \
            return;                                                            \
        case WF_GE:                                                            \
            BLOOP(T, uint8_t, CMP_GE);                                         \
            return;                                                            \
        case WF_AND:                                                           \
            BLOOP(T, uint8_t, L_AND);                                          \
            return;                                                            \
        case WF_OR:                                                            \
            BLOOP(T, uint8_t, L_OR);                                           \
            return;                                                            \
        case WF_XOR:                                                           \
            BLOOP(T, uint8_t, L_XOR);                                          \
            return;                                                            \
        }                                                                      \
    }

/* Logical ops only ever run on bool operands; the float and int
 * instances of L_* are never reached but must compile. */
#undef L_AND
#undef L_OR
#undef L_XOR
#define L_AND(a, b) ((a) != 0 && (b) != 0)
#define L_OR(a, b) ((a) != 0 || (b) != 0)
#define L_XOR(a, b) (((a) != 0) != ((b) != 0))
DEF_BIN(f64, double)
DEF_BIN(f32, float)
DEF_BIN(i64, int64_t)
DEF_BIN(i32, int32_t)
DEF_BIN(u8, uint8_t)
#undef L_AND
#undef L_OR
#undef L_XOR
#define L_AND(a, b) ((a) & (b))
#define L_OR(a, b) ((a) | (b))
#define L_XOR(a, b) ((a) ^ (b))
DEF_BIN(b, uint8_t)

static void bin_row(weft_dtype ct, wf_binop op, int64_t n, const void *x,
                    bool sx, const void *y, bool sy, void *out)
{
    switch (ct) {
    case WEFT_DT_F64:
        bin_f64(op, n, x, sx, y, sy, out);
        return;
    case WEFT_DT_F32:
        bin_f32(op, n, x, sx, y, sy, out);
        return;
    case WEFT_DT_I64:
        bin_i64(op, n, x, sx, y, sy, out);
        return;
    case WEFT_DT_I32:
        bin_i32(op, n, x, sx, y, sy, out);
        return;
    case WEFT_DT_U8:
        bin_u8(op, n, x, sx, y, sy, out);
        return;
    case WEFT_DT_BOOL:
        bin_b(op, n, x, sx, y, sy, out);
        return;
    }
}

static const char *binop_name(wf_binop op)
{
    static const char *const names[] = {
        "add", "sub",     "mul",     "div", "floordiv", "mod",
        "pow", "minimum", "maximum", "eq",  "ne",       "lt",
        "le",  "gt",      "ge",      "and", "or",       "xor"};
    return (unsigned)op < sizeof names / sizeof *names ? names[op] : "?";
}

/* Compute and result dtypes of op on a and b; false if numpy refuses. */
static bool binop_types(wf_binop op, weft_dtype a, weft_dtype b, weft_dtype *ct,
                        weft_dtype *rt)
{
    weft_dtype p = wf_dtype_promote(a, b);
    switch (op) {
    case WF_AND:
    case WF_OR:
    case WF_XOR:
        *ct = WEFT_DT_BOOL;
        *rt = WEFT_DT_BOOL;
        return true;
    case WF_EQ:
    case WF_NE:
    case WF_LT:
    case WF_LE:
    case WF_GT:
    case WF_GE:
        *ct = p;
        *rt = WEFT_DT_BOOL;
        return true;
    case WF_DIV:
        *ct = *rt = p == WEFT_DT_F32 ? WEFT_DT_F32 : WEFT_DT_F64;
        return true;
    case WF_SUB:
        *ct = *rt = p;
        return p != WEFT_DT_BOOL;
    case WF_FLOORDIV:
    case WF_MOD:
    case WF_POW:
        /* numpy gives int8 for bool operands; weft has no int8 */
        *ct = *rt = p == WEFT_DT_BOOL ? WEFT_DT_I64 : p;
        return true;
    default:
        *ct = *rt = p;
        return true;
    }
}

/* Elements converted at a time when an operand's dtype is not the
 * compute dtype. */
#define CONV_BLOCK 1024

/* True if some element of the int array a is negative. */
static bool any_negative(const wf_nd *a)
{
    int64_t n = wf_nd_size(a);
    if (a->dtype == WEFT_DT_I64) {
        const int64_t *p = a->data;
        for (int64_t i = 0; i < n; i++)
            if (p[i] < 0)
                return true;
    } else if (a->dtype == WEFT_DT_I32) {
        const int32_t *p = a->data;
        for (int64_t i = 0; i < n; i++)
            if (p[i] < 0)
                return true;
    }
    return false;
}

weft_err wf_nd_binary(wf_binop op, const wf_nd *a, const wf_nd *b, wf_nd *out)
{
    *out = (wf_nd){0};
    const char *name = binop_name(op);
    weft_err e;
    if ((unsigned)op > WF_XOR)
        return wf_nd_fail(WEFT_EINVAL, "binary: unknown op %d", (int)op);
    if ((e = wf_nd_check(a, "binary", "a")) ||
        (e = wf_nd_check(b, "binary", "b")))
        return wf_nd_fail_prefix(e, "binary %s", name);
    weft_dtype ct, rt;
    if (!binop_types(op, a->dtype, b->dtype, &ct, &rt))
        return wf_nd_fail(WEFT_EINVAL,
                          "binary %s: not supported for %s and %s (numpy "
                          "refuses boolean subtract; use xor)",
                          name, wf_dtype_name(a->dtype),
                          wf_dtype_name(b->dtype));
    uint32_t ndim;
    int64_t shape[WEFT_MAX_NDIM];
    if ((e = wf_broadcast_shapes(a->ndim, a->shape, b->ndim, b->shape, &ndim,
                                 shape)))
        return wf_nd_fail_prefix(e, "binary %s", name);
    if (op == WF_POW && (ct == WEFT_DT_I64 || ct == WEFT_DT_I32) &&
        any_negative(b))
        return wf_nd_fail(WEFT_EINVAL, "binary pow: integers to negative "
                                       "integer powers are not allowed");
    if ((e = wf_nd_alloc(out, rt, ndim, shape, false)))
        return e;
    wf_nd_iter it;
    const wf_nd *ops[2] = {a, b};
    wf_nd_iter_init(&it, ndim, shape, 2, ops);
    int64_t inner = it.shape[it.ndim - 1], off[2];
    bool sx = it.st[0][it.ndim - 1] != 0, sy = it.st[1][it.ndim - 1] != 0;
    size_t rs = weft_dtype_size(rt);
    size_t as = weft_dtype_size(a->dtype), bs = weft_dtype_size(b->dtype);
    bool cva = a->dtype != ct, cvb = b->dtype != ct;
    /* Operands of another dtype are converted a block at a time into
     * these (cache-resident) buffers, not into whole temporary arrays. */
    int64_t block = cva || cvb ? CONV_BLOCK : inner;
    double bufa[CONV_BLOCK], bufb[CONV_BLOCK];
    char *o = out->data;
    while (wf_nd_iter_next(&it, off)) {
        const char *ra = (const char *)a->data + off[0] * (int64_t)as;
        const char *rb = (const char *)b->data + off[1] * (int64_t)bs;
        for (int64_t c0 = 0; c0 < inner; c0 += block) {
            int64_t m = inner - c0 < block ? inner - c0 : block;
            const void *pa = ra + (sx ? c0 * (int64_t)as : 0);
            const void *pb = rb + (sy ? c0 * (int64_t)bs : 0);
            if (cva) {
                wf_nd_convert(bufa, ct, pa, a->dtype, sx ? m : 1);
                pa = bufa;
            }
            if (cvb) {
                wf_nd_convert(bufb, ct, pb, b->dtype, sy ? m : 1);
                pb = bufb;
            }
            bin_row(ct, op, m, pa, sx, pb, sy, o);
            o += m * (int64_t)rs;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ unary */

#define ULOOP(T, OT, F)                                                        \
    do {                                                                       \
        const T *restrict x_ = in;                                             \
        OT *restrict o_ = out;                                                 \
        for (int64_t i = 0; i < n; i++)                                        \
            o_[i] = (OT)(F(x_[i]));                                            \
    } while (0)

static inline double f64_sign(double x)
{
    return x > 0 ? 1.0 : x < 0 ? -1.0 : x;
}
static inline float f32_sign(float x)
{
    return x > 0 ? 1.0f : x < 0 ? -1.0f : x;
}
#define NEG(x) (-(x))
#define SQ(x) ((x) * (x))
#define ISNAN(x) ((x) != (x))
#define ISINF(x) (isinf(x) != 0)
#define ISFINITE(x) (isfinite(x) != 0)
#define NOT(x) ((x) == 0)

static void un_f64(wf_unop op, int64_t n, const double *in, void *out)
{
    switch (op) {
    case WF_NEG:
        ULOOP(double, double, NEG);
        return;
    case WF_ABS:
        ULOOP(double, double, fabs);
        return;
    case WF_SQUARE:
        ULOOP(double, double, SQ);
        return;
    case WF_SQRT:
        ULOOP(double, double, sqrt);
        return;
    case WF_EXP:
        ULOOP(double, double, exp);
        return;
    case WF_LOG:
        ULOOP(double, double, log);
        return;
    case WF_LOG10:
        ULOOP(double, double, log10);
        return;
    case WF_LOG1P:
        ULOOP(double, double, log1p);
        return;
    case WF_EXPM1:
        ULOOP(double, double, expm1);
        return;
    case WF_SIN:
        ULOOP(double, double, sin);
        return;
    case WF_COS:
        ULOOP(double, double, cos);
        return;
    case WF_TAN:
        ULOOP(double, double, tan);
        return;
    case WF_ARCSIN:
        ULOOP(double, double, asin);
        return;
    case WF_ARCCOS:
        ULOOP(double, double, acos);
        return;
    case WF_ARCTAN:
        ULOOP(double, double, atan);
        return;
    case WF_SINH:
        ULOOP(double, double, sinh);
        return;
    case WF_COSH:
        ULOOP(double, double, cosh);
        return;
    case WF_TANH:
        ULOOP(double, double, tanh);
        return;
    case WF_FLOOR:
        ULOOP(double, double, floor);
        return;
    case WF_CEIL:
        ULOOP(double, double, ceil);
        return;
    case WF_ROUND:
        ULOOP(double, double, rint);
        return;
    case WF_TRUNC:
        ULOOP(double, double, trunc);
        return;
    case WF_SIGN:
        ULOOP(double, double, f64_sign);
        return;
    case WF_NOT:
        ULOOP(double, uint8_t, NOT);
        return;
    case WF_ISNAN:
        ULOOP(double, uint8_t, ISNAN);
        return;
    case WF_ISINF:
        ULOOP(double, uint8_t, ISINF);
        return;
    case WF_ISFINITE:
        ULOOP(double, uint8_t, ISFINITE);
        return;
    }
}

static void un_f32(wf_unop op, int64_t n, const float *in, void *out)
{
    switch (op) {
    case WF_NEG:
        ULOOP(float, float, NEG);
        return;
    case WF_ABS:
        ULOOP(float, float, fabsf);
        return;
    case WF_SQUARE:
        ULOOP(float, float, SQ);
        return;
    case WF_SQRT:
        ULOOP(float, float, sqrtf);
        return;
    case WF_EXP:
        ULOOP(float, float, expf);
        return;
    case WF_LOG:
        ULOOP(float, float, logf);
        return;
    case WF_LOG10:
        ULOOP(float, float, log10f);
        return;
    case WF_LOG1P:
        ULOOP(float, float, log1pf);
        return;
    case WF_EXPM1:
        ULOOP(float, float, expm1f);
        return;
    case WF_SIN:
        ULOOP(float, float, sinf);
        return;
    case WF_COS:
        ULOOP(float, float, cosf);
        return;
    case WF_TAN:
        ULOOP(float, float, tanf);
        return;
    case WF_ARCSIN:
        ULOOP(float, float, asinf);
        return;
    case WF_ARCCOS:
        ULOOP(float, float, acosf);
        return;
    case WF_ARCTAN:
        ULOOP(float, float, atanf);
        return;
    case WF_SINH:
        ULOOP(float, float, sinhf);
        return;
    case WF_COSH:
        ULOOP(float, float, coshf);
        return;
    case WF_TANH:
        ULOOP(float, float, tanhf);
        return;
    case WF_FLOOR:
        ULOOP(float, float, floorf);
        return;
    case WF_CEIL:
        ULOOP(float, float, ceilf);
        return;
    case WF_ROUND:
        ULOOP(float, float, rintf);
        return;
    case WF_TRUNC:
        ULOOP(float, float, truncf);
        return;
    case WF_SIGN:
        ULOOP(float, float, f32_sign);
        return;
    case WF_NOT:
        ULOOP(float, uint8_t, NOT);
        return;
    case WF_ISNAN:
        ULOOP(float, uint8_t, ISNAN);
        return;
    case WF_ISINF:
        ULOOP(float, uint8_t, ISINF);
        return;
    case WF_ISFINITE:
        ULOOP(float, uint8_t, ISFINITE);
        return;
    }
}

#define INEG(x) ((T)((U)0 - (U)(x)))
#define IABS(x) ((x) < 0 ? INEG(x) : (x))
#define ISQ(x) ((T)((U)(x) * (U)(x)))
#define ISIGN(x) ((T)(((x) > 0) - ((x) < 0)))
#define FALSE_(x) ((void)(x), 0)
#define TRUE_(x) ((void)(x), 1)
#define ID(x) (x)

/* Integer unary ops that keep the dtype (the float functions were
 * converted to f64 before); bool and u8 handled by the caller. */
#define DEF_UN_INT(N, TT, UU)                                                  \
    static void un_##N(wf_unop op, int64_t n, const TT *in, void *out)         \
    {                                                                          \
        typedef TT T;                                                          \
        typedef UU U;                                                          \
        switch (op) {                                                          \
        case WF_NEG:                                                           \
            ULOOP(T, T, INEG);                                                 \
            return;                                                            \
        case WF_ABS:                                                           \
            ULOOP(T, T, IABS);                                                 \
            return;                                                            \
        case WF_SQUARE:                                                        \
            ULOOP(T, T, ISQ);                                                  \
            return;                                                            \
        case WF_SIGN:                                                          \
            ULOOP(T, T, ISIGN);                                                \
            return;                                                            \
        case WF_NOT:                                                           \
            ULOOP(T, uint8_t, NOT);                                            \
            return;                                                            \
        case WF_ISNAN:                                                         \
        case WF_ISINF:                                                         \
            ULOOP(T, uint8_t, FALSE_);                                         \
            return;                                                            \
        case WF_ISFINITE:                                                      \
            ULOOP(T, uint8_t, TRUE_);                                          \
            return;                                                            \
        default: /* floor, ceil, round, trunc */                               \
            ULOOP(T, T, ID);                                                   \
            return;                                                            \
        }                                                                      \
    }
DEF_UN_INT(i64, int64_t, uint64_t)
DEF_UN_INT(i32, int32_t, uint32_t)

#define UNEG(x) ((uint8_t)(0u - (x)))
#define USQ(x) ((uint8_t)((unsigned)(x) * (x)))
#define USIGN(x) ((uint8_t)((x) != 0))
static void un_u8(wf_unop op, int64_t n, const uint8_t *in, void *out,
                  bool is_bool)
{
    switch (op) {
    case WF_NEG:
        ULOOP(uint8_t, uint8_t, UNEG);
        return;
    case WF_SQUARE:
        if (is_bool)
            ULOOP(uint8_t, uint8_t, ID);
        else
            ULOOP(uint8_t, uint8_t, USQ);
        return;
    case WF_SIGN:
        ULOOP(uint8_t, uint8_t, USIGN);
        return;
    case WF_NOT:
        ULOOP(uint8_t, uint8_t, NOT);
        return;
    case WF_ISNAN:
    case WF_ISINF:
        ULOOP(uint8_t, uint8_t, FALSE_);
        return;
    case WF_ISFINITE:
        ULOOP(uint8_t, uint8_t, TRUE_);
        return;
    default: /* abs, floor, ceil, round, trunc */
        ULOOP(uint8_t, uint8_t, ID);
        return;
    }
}

static const char *unop_name(wf_unop op)
{
    static const char *const names[] = {
        "neg",    "abs",   "square", "sqrt",  "exp",   "log",     "log10",
        "log1p",  "expm1", "sin",    "cos",   "tan",   "arcsin",  "arccos",
        "arctan", "sinh",  "cosh",   "tanh",  "floor", "ceil",    "round",
        "trunc",  "sign",  "not",    "isnan", "isinf", "isfinite"};
    return (unsigned)op < sizeof names / sizeof *names ? names[op] : "?";
}

/* out[i] = op(in[i]) for n elements of compute dtype ct. */
static void un_run(wf_unop op, weft_dtype ct, int64_t n, const void *in,
                   void *out)
{
    switch (ct) {
    case WEFT_DT_F64:
        un_f64(op, n, in, out);
        return;
    case WEFT_DT_F32:
        un_f32(op, n, in, out);
        return;
    case WEFT_DT_I64:
        un_i64(op, n, in, out);
        return;
    case WEFT_DT_I32:
        un_i32(op, n, in, out);
        return;
    case WEFT_DT_U8:
    case WEFT_DT_BOOL:
        un_u8(op, n, in, out, ct == WEFT_DT_BOOL);
        return;
    }
}

weft_err wf_nd_unary(wf_unop op, const wf_nd *a, wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((unsigned)op > WF_ISFINITE)
        return wf_nd_fail(WEFT_EINVAL, "unary: unknown op %d", (int)op);
    if ((e = wf_nd_check(a, "unary", "a")))
        return wf_nd_fail_prefix(e, "unary %s", unop_name(op));
    bool floatfn = op >= WF_SQRT && op <= WF_TANH;
    weft_dtype ct = a->dtype;
    if (floatfn && ct != WEFT_DT_F32)
        ct = WEFT_DT_F64;
    if (op == WF_NEG && ct == WEFT_DT_BOOL)
        return wf_nd_fail(WEFT_EINVAL, "unary neg: not supported for bool "
                                       "(numpy refuses; use not)");
    weft_dtype rt = op >= WF_NOT ? WEFT_DT_BOOL : ct;
    if ((e = wf_nd_alloc(out, rt, a->ndim, a->shape, false)))
        return e;
    int64_t n = wf_nd_size(a);
    if (ct == a->dtype) {
        un_run(op, ct, n, a->data, out->data);
        return 0;
    }
    /* ints to a float function: convert a block at a time */
    double buf[CONV_BLOCK];
    size_t as = weft_dtype_size(a->dtype), rs = weft_dtype_size(rt);
    for (int64_t c0 = 0; c0 < n; c0 += CONV_BLOCK) {
        int64_t m = n - c0 < CONV_BLOCK ? n - c0 : CONV_BLOCK;
        wf_nd_convert(buf, ct, (const char *)a->data + c0 * (int64_t)as,
                      a->dtype, m);
        un_run(op, ct, m, buf, (char *)out->data + c0 * (int64_t)rs);
    }
    return 0;
}

weft_err wf_nd_astype(const wf_nd *a, weft_dtype dt, wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((e = wf_nd_check(a, "astype", "a")))
        return e;
    if (!wf_nd_dtype_ok(dt))
        return wf_nd_fail(WEFT_EINVAL, "astype: unknown dtype %d", (int)dt);
    if ((e = wf_nd_alloc(out, dt, a->ndim, a->shape, false)))
        return e;
    wf_nd_convert(out->data, dt, a->data, a->dtype, wf_nd_size(a));
    return 0;
}

/* o[i] = c[i*sc] ? x[i*sa] : y[i*sb] for one element width; strides 0
 * or 1, the all-contiguous case its own (vectorised) loop. */
#define WLOOP(T)                                                               \
    do {                                                                       \
        const T *restrict x_ = xp, *restrict y_ = yp;                          \
        T *restrict o_ = op;                                                   \
        if (sc && sa && sb)                                                    \
            for (int64_t i = 0; i < n; i++)                                    \
                o_[i] = c[i] ? x_[i] : y_[i];                                  \
        else                                                                   \
            for (int64_t i = 0; i < n; i++)                                    \
                o_[i] = c[i * sc] ? x_[i * sa] : y_[i * sb];                   \
    } while (0)

WF_ND_HOT static void where_row(size_t el, int64_t n, const uint8_t *restrict c,
                                int64_t sc, const void *xp, int64_t sa,
                                const void *yp, int64_t sb, void *op)
{
    if (el == 8)
        WLOOP(uint64_t);
    else if (el == 4)
        WLOOP(uint32_t);
    else
        WLOOP(uint8_t);
}

weft_err wf_nd_where(const wf_nd *cond, const wf_nd *a, const wf_nd *b,
                     wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((e = wf_nd_check(cond, "where", "cond")) ||
        (e = wf_nd_check(a, "where", "a")) ||
        (e = wf_nd_check(b, "where", "b")))
        return e;
    uint32_t ndim;
    int64_t shape[WEFT_MAX_NDIM];
    if ((e = wf_broadcast_shapes(cond->ndim, cond->shape, a->ndim, a->shape,
                                 &ndim, shape)) ||
        (e = wf_broadcast_shapes(ndim, shape, b->ndim, b->shape, &ndim, shape)))
        return wf_nd_fail_prefix(e, "where");
    weft_dtype rt = wf_dtype_promote(a->dtype, b->dtype);
    if ((e = wf_nd_alloc(out, rt, ndim, shape, false)))
        return e;
    /* cond as bytes (bool and uint8 as they are: nonzero is true); a and
     * b in rt, converted a block at a time when they are not */
    const wf_nd *ops[3] = {cond, a, b};
    weft_dtype want[3] = {cond->dtype == WEFT_DT_U8 ? WEFT_DT_U8 : WEFT_DT_BOOL,
                          rt, rt};
    bool cv[3];
    size_t el[3];
    for (int k = 0; k < 3; k++) {
        cv[k] = ops[k]->dtype != want[k];
        el[k] = weft_dtype_size(ops[k]->dtype);
    }
    int64_t block = CONV_BLOCK;
    wf_nd_iter it;
    wf_nd_iter_init(&it, ndim, shape, 3, ops);
    uint32_t l = it.ndim - 1;
    int64_t inner = it.shape[l], off[3];
    if (!cv[0] && !cv[1] && !cv[2])
        block = inner;
    size_t rs = weft_dtype_size(rt);
    uint64_t buf[3][CONV_BLOCK];
    char *o = out->data;
    while (wf_nd_iter_next(&it, off)) {
        for (int64_t c0 = 0; c0 < inner; c0 += block) {
            int64_t m = inner - c0 < block ? inner - c0 : block;
            const void *p[3];
            for (int k = 0; k < 3; k++) {
                int64_t s = it.st[k][l];
                p[k] = (const char *)ops[k]->data +
                       (off[k] + (s ? c0 : 0)) * (int64_t)el[k];
                if (cv[k]) {
                    wf_nd_convert(buf[k], want[k], p[k], ops[k]->dtype,
                                  s ? m : 1);
                    p[k] = buf[k];
                }
            }
            where_row(rs, m, p[0], it.st[0][l], p[1], it.st[1][l], p[2],
                      it.st[2][l], o);
            o += m * (int64_t)rs;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ creation */

/* Fill n elements of width el with the element at v. */
static void fill(void *dst, size_t el, const void *v, int64_t n)
{
    if (n <= 0)
        return;
    if (el == 8) {
        uint64_t x, *d = dst;
        memcpy(&x, v, 8);
        for (int64_t i = 0; i < n; i++)
            d[i] = x;
    } else if (el == 4) {
        uint32_t x, *d = dst;
        memcpy(&x, v, 4);
        for (int64_t i = 0; i < n; i++)
            d[i] = x;
    } else {
        memset(dst, *(const uint8_t *)v, (size_t)n);
    }
}

weft_err wf_nd_full(weft_dtype dt, uint32_t ndim, const int64_t *shape,
                    double value, wf_nd *out)
{
    weft_err e = wf_nd_alloc(out, dt, ndim, shape, false);
    if (e)
        return wf_nd_fail_prefix(e, "full");
    uint64_t v = 0;
    wf_nd_convert(&v, dt, &value, WEFT_DT_F64, 1);
    fill(out->data, weft_dtype_size(dt), &v, wf_nd_size(out));
    return 0;
}

weft_err wf_nd_arange(double start, double step, int64_t offset, int64_t n,
                      weft_dtype dt, wf_nd *out)
{
    *out = (wf_nd){0};
    if (n < 0 || offset < 0)
        return wf_nd_fail(WEFT_EINVAL,
                          "arange: negative n %lld or offset "
                          "%lld",
                          (long long)n, (long long)offset);
    weft_err e = wf_nd_alloc(out, dt, 1, &n, false);
    if (e)
        return wf_nd_fail_prefix(e, "arange");
    double buf[512];
    size_t el = weft_dtype_size(dt);
    for (int64_t i0 = 0; i0 < n; i0 += 512) {
        int64_t m = n - i0 < 512 ? n - i0 : 512;
        double *d = dt == WEFT_DT_F64 ? (double *)out->data + i0 : buf;
        for (int64_t i = 0; i < m; i++)
            d[i] = start + (double)(offset + i0 + i) * step;
        if (dt != WEFT_DT_F64)
            wf_nd_convert((char *)out->data + i0 * (int64_t)el, dt, buf,
                          WEFT_DT_F64, m);
    }
    return 0;
}

weft_err wf_nd_linspace(double start, double stop, int64_t num, bool endpoint,
                        int64_t offset, int64_t n, wf_nd *out)
{
    *out = (wf_nd){0};
    if (num < 0 || offset < 0 || n < 0 || offset > num - n)
        return wf_nd_fail(
            WEFT_EINVAL, "linspace: block [%lld, %lld) outside [0, %lld)",
            (long long)offset, (long long)(offset + n), (long long)num);
    weft_err e = wf_nd_alloc(out, WEFT_DT_F64, 1, &n, false);
    if (e)
        return wf_nd_fail_prefix(e, "linspace");
    /* As numpy.linspace: y = i * step + start, or (i / div) * delta when
     * the step underflows to 0, or i * delta when div is 0; the last
     * point is stop exactly when endpoint. */
    int64_t div = endpoint ? num - 1 : num;
    double delta = stop - start, step = div > 0 ? delta / (double)div : 0;
    double *y = out->data;
    for (int64_t i = 0; i < n; i++) {
        double k = (double)(offset + i);
        double v;
        if (div > 0)
            v = step == 0 ? k / (double)div * delta : k * step;
        else
            v = k * delta;
        y[i] = v + start;
    }
    if (endpoint && num > 1 && offset + n == num && n > 0)
        y[n - 1] = stop;
    return 0;
}

/* ------------------------------------------------------------ layout */

/* dst[i] = src[i * step] for n elements of width el. */
static void strided_copy(void *dst, const void *src, int64_t step, size_t el,
                         int64_t n)
{
    if (step == 1) {
        memcpy(dst, src, (size_t)n * el);
    } else if (el == 8) {
        const uint64_t *s = src;
        uint64_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = s[i * step];
    } else if (el == 4) {
        const uint32_t *s = src;
        uint32_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = s[i * step];
    } else {
        const uint8_t *s = src;
        uint8_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = s[i * step];
    }
}

/* Copy the output, row by row along its last axis, from src elements at
 * base + sum_d i_d * sst[d] (element strides, any sign). */
static void gather(char *out, const char *src, int64_t base, uint32_t ndim,
                   const int64_t *shape, const int64_t *sst, size_t el)
{
    if (ndim == 0) {
        memcpy(out, src + base * (int64_t)el, el);
        return;
    }
    int64_t total = 1;
    for (uint32_t d = 0; d < ndim; d++)
        total *= shape[d];
    if (total == 0)
        return;
    int64_t inner = shape[ndim - 1], rows = total / inner;
    int64_t idx[WEFT_MAX_NDIM] = {0}, off = base;
    for (int64_t r = 0; r < rows; r++) {
        strided_copy(out, src + off * (int64_t)el, sst[ndim - 1], el, inner);
        out += inner * (int64_t)el;
        for (uint32_t d = ndim - 1; d-- > 0;) {
            if (++idx[d] < shape[d]) {
                off += sst[d];
                break;
            }
            idx[d] = 0;
            off -= sst[d] * (shape[d] - 1);
        }
    }
}

weft_err wf_nd_slice(const wf_nd *a, const int64_t *start, const int64_t *step,
                     const int64_t *count, wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((e = wf_nd_check(a, "slice", "a")))
        return e;
    if (a->ndim && (!start || !step || !count))
        return wf_nd_fail(WEFT_EINVAL, "slice: NULL start, step or count");
    int64_t st[WEFT_MAX_NDIM], sst[WEFT_MAX_NDIM], base = 0;
    wf_nd_strides(a->ndim, a->shape, st);
    for (uint32_t d = 0; d < a->ndim; d++) {
        int64_t dim = a->shape[d];
        if (step[d] == 0)
            return wf_nd_fail(WEFT_EINVAL, "slice: step 0 on axis %u", d);
        if (count[d] < 0)
            return wf_nd_fail(WEFT_EINVAL,
                              "slice: negative count %lld on "
                              "axis %u",
                              (long long)count[d], d);
        if (count[d] > 0) {
            /* the last index in double arithmetic first: no overflow */
            double last = (double)start[d] + (double)(count[d] - 1) * step[d];
            if (start[d] < 0 || start[d] >= dim || last < 0 ||
                last >= (double)dim)
                return wf_nd_fail(
                    WEFT_EINVAL,
                    "slice: axis %u: start %lld step %lld count %lld "
                    "leaves [0, %lld)",
                    d, (long long)start[d], (long long)step[d],
                    (long long)count[d], (long long)dim);
            base += start[d] * st[d];
        }
        sst[d] = step[d] * st[d];
    }
    if ((e = wf_nd_alloc(out, a->dtype, a->ndim, count, false)))
        return wf_nd_fail_prefix(e, "slice");
    if (wf_nd_size(out) > 0)
        gather(out->data, a->data, base, a->ndim, count, sst,
               weft_dtype_size(a->dtype));
    return 0;
}

/* 2-d transpose of a rows x cols matrix in square tiles of one cache
 * line per row (8 float64, 16 float32): each written line is filled
 * whole, and the tile's source lines stay in L1. (Measured on 1000 and
 * 1024 square float64: 8-wide beats 16, 32 and 64-wide tiles, which
 * suffer cache-set conflicts at power-of-two-ish strides.) */
#define T2D(T)                                                                 \
    do {                                                                       \
        enum { TILE = 64 / sizeof(T) };                                        \
        const T *restrict s_ = src;                                            \
        T *restrict d_ = dst;                                                  \
        for (int64_t i0 = 0; i0 < rows; i0 += TILE)                            \
            for (int64_t j0 = 0; j0 < cols; j0 += TILE) {                      \
                int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;              \
                int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;              \
                for (int64_t j = j0; j < j1; j++)                              \
                    for (int64_t i = i0; i < i1; i++)                          \
                        d_[j * rows + i] = s_[i * cols + j];                   \
            }                                                                  \
    } while (0)

WF_ND_HOT static void transpose2d(void *dst, const void *src, int64_t rows,
                                  int64_t cols, size_t el)
{
    if (el == 8)
        T2D(uint64_t);
    else if (el == 4)
        T2D(uint32_t);
    else
        T2D(uint8_t);
}

weft_err wf_nd_transpose(const wf_nd *a, const uint32_t *perm, wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((e = wf_nd_check(a, "transpose", "a")))
        return e;
    uint32_t n = a->ndim, p[WEFT_MAX_NDIM];
    bool seen[WEFT_MAX_NDIM] = {false};
    for (uint32_t d = 0; d < n; d++) {
        p[d] = perm ? perm[d] : n - 1 - d;
        if (p[d] >= n || seen[p[d]])
            return wf_nd_fail(WEFT_EINVAL,
                              "transpose: perm[%u] = %u is out of range or "
                              "repeated for %u axes",
                              d, p[d], n);
        seen[p[d]] = true;
    }
    int64_t oshape[WEFT_MAX_NDIM];
    for (uint32_t d = 0; d < n; d++)
        oshape[d] = a->shape[p[d]];
    if ((e = wf_nd_alloc(out, a->dtype, n, oshape, false)))
        return wf_nd_fail_prefix(e, "transpose");
    int64_t total = wf_nd_size(a);
    size_t el = weft_dtype_size(a->dtype);
    if (total == 0)
        return 0;
    /* Drop size-1 axes, then merge runs of output axes that are adjacent
     * and in order in the source: what is left is the real permutation. */
    uint32_t q[WEFT_MAX_NDIM], m = 0;
    for (uint32_t d = 0; d < n; d++)
        if (a->shape[p[d]] != 1)
            q[m++] = p[d];
    /* group start flags in output order: q[d] == q[d-1] + 1 continues */
    int64_t gshape[WEFT_MAX_NDIM]; /* merged extents, output order */
    uint32_t gsrc[WEFT_MAX_NDIM];  /* first source axis of each group */
    uint32_t g = 0;
    for (uint32_t d = 0; d < m; d++) {
        bool cont = d > 0 && q[d] == q[d - 1] + 1;
        /* size-1 axes between them were dropped: still adjacent */
        if (!cont && d > 0 && q[d] > q[d - 1] + 1) {
            cont = true;
            for (uint32_t s = q[d - 1] + 1; s < q[d] && cont; s++)
                cont = a->shape[s] == 1;
        }
        if (cont) {
            gshape[g - 1] *= a->shape[q[d]];
        } else {
            gshape[g] = a->shape[q[d]];
            gsrc[g++] = q[d];
        }
    }
    /* source order of the groups gives their source strides */
    uint32_t rank[WEFT_MAX_NDIM]; /* rank[k]: source position of group k */
    for (uint32_t k = 0; k < g; k++) {
        rank[k] = 0;
        for (uint32_t j = 0; j < g; j++)
            rank[k] += gsrc[j] < gsrc[k];
    }
    int64_t sshape[WEFT_MAX_NDIM], sst_src[WEFT_MAX_NDIM], sst[WEFT_MAX_NDIM];
    for (uint32_t k = 0; k < g; k++)
        sshape[rank[k]] = gshape[k];
    wf_nd_strides(g, sshape, sst_src);
    for (uint32_t k = 0; k < g; k++)
        sst[k] = sst_src[rank[k]];
    if (g <= 1 || (g == 2 && rank[0] == 0)) {
        memcpy(out->data, a->data, (size_t)total * el);
    } else if (g == 2) {
        transpose2d(out->data, a->data, gshape[1], gshape[0], el);
    } else if (g == 3 && rank[0] == 0 && rank[1] == 2) {
        int64_t mat = gshape[1] * gshape[2];
        for (int64_t b = 0; b < gshape[0]; b++)
            transpose2d((char *)out->data + b * mat * (int64_t)el,
                        (const char *)a->data + b * mat * (int64_t)el,
                        gshape[2], gshape[1], el);
    } else {
        gather(out->data, a->data, 0, g, gshape, sst, el);
    }
    return 0;
}

weft_err wf_nd_reshape(const wf_nd *a, uint32_t ndim, const int64_t *shape,
                       wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if ((e = wf_nd_check(a, "reshape", "a")))
        return e;
    if ((e = wf_nd_alloc(out, a->dtype, ndim, shape, false)))
        return wf_nd_fail_prefix(e, "reshape");
    if (wf_nd_size(out) != wf_nd_size(a)) {
        char x[160], y[160];
        wf_nd_free(out);
        return wf_nd_fail(WEFT_EINVAL,
                          "reshape: cannot reshape %s into %s (%lld vs %lld "
                          "elements)",
                          wf_nd_shape_str(x, sizeof x, a->ndim, a->shape),
                          wf_nd_shape_str(y, sizeof y, ndim, shape),
                          (long long)wf_nd_size(a), (long long)wf_nd_size(out));
    }
    if (wf_nd_bytes(a))
        memcpy(out->data, a->data, wf_nd_bytes(a));
    return 0;
}

weft_err wf_nd_concat(const wf_nd *const *parts, size_t n, uint32_t axis,
                      wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if (!parts || n == 0)
        return wf_nd_fail(WEFT_EINVAL, "concat: no parts");
    for (size_t i = 0; i < n; i++)
        if ((e = wf_nd_check(parts[i], "concat", "a part")))
            return e;
    const wf_nd *p0 = parts[0];
    if (axis >= p0->ndim)
        return wf_nd_fail(WEFT_EINVAL,
                          "concat: axis %u out of range for "
                          "%u-d parts",
                          axis, p0->ndim);
    int64_t shape[WEFT_MAX_NDIM];
    memcpy(shape, p0->shape, sizeof shape);
    shape[axis] = 0;
    weft_dtype dt = p0->dtype;
    for (size_t i = 0; i < n; i++) {
        const wf_nd *p = parts[i];
        bool ok = p->ndim == p0->ndim;
        for (uint32_t d = 0; ok && d < p->ndim; d++)
            ok = d == axis || p->shape[d] == p0->shape[d];
        if (!ok) {
            char x[160], y[160];
            return wf_nd_fail(
                WEFT_EINVAL,
                "concat: part %zu has shape %s, part 0 %s: "
                "they must match except on axis %u",
                i, wf_nd_shape_str(x, sizeof x, p->ndim, p->shape),
                wf_nd_shape_str(y, sizeof y, p0->ndim, p0->shape), axis);
        }
        shape[axis] += p->shape[axis];
        dt = wf_dtype_promote(dt, p->dtype);
    }
    if ((e = wf_nd_alloc(out, dt, p0->ndim, shape, false)))
        return wf_nd_fail_prefix(e, "concat");
    int64_t outer = 1, row = 1;
    for (uint32_t d = 0; d < axis; d++)
        outer *= shape[d];
    for (uint32_t d = axis; d < p0->ndim; d++)
        row *= shape[d];
    size_t el = weft_dtype_size(dt);
    int64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const wf_nd *p = parts[i];
        int64_t inner = wf_nd_size(p) / (outer ? outer : 1);
        if (outer == 0 || inner == 0)
            continue;
        size_t pel = weft_dtype_size(p->dtype);
        for (int64_t o = 0; o < outer; o++)
            wf_nd_convert((char *)out->data + (o * row + at) * (int64_t)el, dt,
                          (const char *)p->data + o * inner * (int64_t)pel,
                          p->dtype, inner);
        at += inner;
    }
    return 0;
}

weft_err wf_nd_stack(const wf_nd *const *parts, size_t n, uint32_t axis,
                     wf_nd *out)
{
    *out = (wf_nd){0};
    weft_err e;
    if (!parts || n == 0)
        return wf_nd_fail(WEFT_EINVAL, "stack: no parts");
    for (size_t i = 0; i < n; i++)
        if ((e = wf_nd_check(parts[i], "stack", "a part")))
            return e;
    const wf_nd *p0 = parts[0];
    if (axis > p0->ndim || p0->ndim + 1 > WEFT_MAX_NDIM)
        return wf_nd_fail(WEFT_EINVAL,
                          "stack: axis %u out of range for "
                          "%u-d parts",
                          axis, p0->ndim);
    for (size_t i = 1; i < n; i++) {
        const wf_nd *p = parts[i];
        bool ok = p->ndim == p0->ndim;
        for (uint32_t d = 0; ok && d < p->ndim; d++)
            ok = p->shape[d] == p0->shape[d];
        if (!ok) {
            char x[160], y[160];
            return wf_nd_fail(
                WEFT_EINVAL, "stack: part %zu has shape %s, part 0 %s", i,
                wf_nd_shape_str(x, sizeof x, p->ndim, p->shape),
                wf_nd_shape_str(y, sizeof y, p0->ndim, p0->shape));
        }
    }
    wf_nd *views = malloc(n * sizeof *views);
    const wf_nd **ptrs = malloc(n * sizeof *ptrs);
    if (!views || !ptrs) {
        free(views);
        free(ptrs);
        return wf_nd_fail(WEFT_ENOMEM, "stack: %zu parts", n);
    }
    for (size_t i = 0; i < n; i++) {
        const wf_nd *p = parts[i];
        views[i] =
            (wf_nd){.dtype = p->dtype, .ndim = p->ndim + 1, .data = p->data};
        for (uint32_t d = 0, s = 0; d <= p->ndim; d++)
            views[i].shape[d] = d == axis ? 1 : p->shape[s++];
        ptrs[i] = &views[i];
    }
    e = wf_nd_concat(ptrs, n, axis, out);
    free(views);
    free(ptrs);
    return e ? wf_nd_fail_prefix(e, "stack") : 0;
}

weft_err wf_nd_copy_block(const wf_nd *src, const int64_t *src_origin,
                          wf_nd *dst, const int64_t *dst_origin,
                          const int64_t *shape)
{
    weft_err e;
    if ((e = wf_nd_check(src, "copy_block", "src")) ||
        (e = wf_nd_check(dst, "copy_block", "dst")))
        return e;
    uint32_t n = src->ndim;
    if (dst->ndim != n)
        return wf_nd_fail(WEFT_EINVAL, "copy_block: src is %u-d, dst %u-d", n,
                          dst->ndim);
    if (n && (!src_origin || !dst_origin || !shape))
        return wf_nd_fail(WEFT_EINVAL, "copy_block: NULL origin or shape");
    int64_t total = 1;
    for (uint32_t d = 0; d < n; d++) {
        if (shape[d] < 0 || src_origin[d] < 0 || dst_origin[d] < 0 ||
            src_origin[d] > src->shape[d] - shape[d] ||
            dst_origin[d] > dst->shape[d] - shape[d])
            return wf_nd_fail(
                WEFT_EINVAL,
                "copy_block: axis %u: box of %lld at src %lld (of %lld) / "
                "dst %lld (of %lld) is out of bounds",
                d, (long long)shape[d], (long long)src_origin[d],
                (long long)src->shape[d], (long long)dst_origin[d],
                (long long)dst->shape[d]);
        total *= shape[d];
    }
    if (total == 0)
        return 0;
    if (n == 0) {
        wf_nd_convert(dst->data, dst->dtype, src->data, src->dtype, 1);
        return 0;
    }
    /* Trailing axes that the box covers whole in both arrays make one
     * contiguous row. */
    uint32_t f = n - 1;
    while (f > 0 && shape[f] == src->shape[f] && shape[f] == dst->shape[f])
        f--;
    int64_t row = 1;
    for (uint32_t d = f; d < n; d++)
        row *= shape[d];
    int64_t sst[WEFT_MAX_NDIM], dst_st[WEFT_MAX_NDIM];
    wf_nd_strides(n, src->shape, sst);
    wf_nd_strides(n, dst->shape, dst_st);
    int64_t so = 0, dof = 0;
    for (uint32_t d = 0; d < n; d++) {
        so += src_origin[d] * sst[d];
        dof += dst_origin[d] * dst_st[d];
    }
    size_t sel = weft_dtype_size(src->dtype), del = weft_dtype_size(dst->dtype);
    int64_t idx[WEFT_MAX_NDIM] = {0}, rows = total / row;
    for (int64_t r = 0; r < rows; r++) {
        wf_nd_convert((char *)dst->data + dof * (int64_t)del, dst->dtype,
                      (const char *)src->data + so * (int64_t)sel, src->dtype,
                      row);
        for (uint32_t d = f; d-- > 0;) {
            if (++idx[d] < shape[d]) {
                so += sst[d];
                dof += dst_st[d];
                break;
            }
            idx[d] = 0;
            so -= sst[d] * (shape[d] - 1);
            dof -= dst_st[d] * (shape[d] - 1);
        }
    }
    return 0;
}
