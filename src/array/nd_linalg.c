/* Matrix products: numpy matmul for 1-d and 2-d operands through
 * OpenBLAS (floats) or a loop (ints), and the accumulating dgemm of the
 * blocked matmul. OpenBLAS runs on one thread: weft's tasks are the
 * parallelism, and BLAS threads on top would oversubscribe the cores. */
#include "array/nd_int.h"

#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_init(void)
{
    openblas_set_num_threads(1);
}

/* Check a @ b and find m, k, n (1-d a is a row, 1-d b a column). */
static weft_err mm_shapes(const char *who, const wf_nd *a, const wf_nd *b,
                          int64_t *m, int64_t *k, int64_t *n)
{
    weft_err e;
    if ((e = wf_nd_check(a, who, "a")) || (e = wf_nd_check(b, who, "b")))
        return e;
    if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2)
        return wf_nd_fail(WEFT_EINVAL,
                          "%s: operands must be 1-d or 2-d, got %u-d and %u-d",
                          who, a->ndim, b->ndim);
    *m = a->ndim == 2 ? a->shape[0] : 1;
    *k = a->shape[a->ndim - 1];
    *n = b->ndim == 2 ? b->shape[1] : 1;
    if (b->shape[0] != *k) {
        char x[160], y[160];
        return wf_nd_fail(WEFT_EINVAL,
                          "%s: shapes %s and %s do not match (inner "
                          "dimensions %lld and %lld)",
                          who, wf_nd_shape_str(x, sizeof x, a->ndim, a->shape),
                          wf_nd_shape_str(y, sizeof y, b->ndim, b->shape),
                          (long long)*k, (long long)b->shape[0]);
    }
    if (*m > INT_MAX || *k > INT_MAX || *n > INT_MAX)
        return wf_nd_fail(WEFT_EINVAL, "%s: dimensions beyond %d", who,
                          INT_MAX);
    return 0;
}

/* c (m x n) = a (m x k) @ b (k x n), all row-major and contiguous. */
static void gemm_f64(int m, int k, int n, const double *a, const double *b,
                     double beta, double *c)
{
    pthread_once(&blas_once, blas_init);
    if (n == 1 && beta == 0)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0, a, k, b, 1, 0.0, c,
                    1);
    else if (m == 1 && beta == 0)
        cblas_dgemv(CblasRowMajor, CblasTrans, k, n, 1.0, b, n, a, 1, 0.0, c,
                    1);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a,
                    k, b, n, beta, c, n);
}

static void gemm_f32(int m, int k, int n, const float *a, const float *b,
                     float *c)
{
    pthread_once(&blas_once, blas_init);
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0f, a, k, b, 1, 0.0f,
                    c, 1);
    else if (m == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1.0f, b, n, a, 1, 0.0f, c,
                    1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a,
                    k, b, n, 0.0f, c, n);
}

/* Ints: i-k-j order so the inner loop runs along rows of b and c
 * (vectorised), wrapping on overflow as numpy. */
WF_ND_HOT static void gemm_i64(int64_t m, int64_t k, int64_t n,
                               const int64_t *a, const int64_t *b, int64_t *c)
{
    for (int64_t i = 0; i < m; i++) {
        uint64_t *restrict ci = (uint64_t *)c + i * n;
        for (int64_t p = 0; p < k; p++) {
            uint64_t x = (uint64_t)a[i * k + p];
            const uint64_t *restrict bp = (const uint64_t *)b + p * n;
            for (int64_t j = 0; j < n; j++)
                ci[j] += x * bp[j];
        }
    }
}

weft_err wf_nd_matmul(const wf_nd *a, const wf_nd *b, wf_nd *out)
{
    *out = (wf_nd){0};
    int64_t m, k, n;
    weft_err e = mm_shapes("matmul", a, b, &m, &k, &n);
    if (e)
        return e;
    weft_dtype p = wf_dtype_promote(a->dtype, b->dtype);
    weft_dtype ct = p == WEFT_DT_F64 || p == WEFT_DT_F32 ? p : WEFT_DT_I64;
    int64_t shape[2];
    uint32_t nd = 0;
    if (a->ndim == 2)
        shape[nd++] = m;
    if (b->ndim == 2)
        shape[nd++] = n;
    if ((e = wf_nd_alloc(out, ct, nd, shape, true)))
        return wf_nd_fail_prefix(e, "matmul");
    if (m == 0 || n == 0 || k == 0)
        return 0; /* zeroed: an empty sum */
    wf_nd ta = {0}, tb = {0};
    const wf_nd *xa = wf_nd_as(a, ct, &ta), *xb = wf_nd_as(b, ct, &tb);
    if (!xa || !xb) {
        e = wf_nd_fail(WEFT_ENOMEM, "matmul: converting operands");
        wf_nd_free(out);
        goto done;
    }
    if (ct == WEFT_DT_F64)
        gemm_f64((int)m, (int)k, (int)n, xa->data, xb->data, 0.0, out->data);
    else if (ct == WEFT_DT_F32)
        gemm_f32((int)m, (int)k, (int)n, xa->data, xb->data, out->data);
    else
        gemm_i64(m, k, n, xa->data, xb->data, out->data);
done:
    wf_nd_free(&ta);
    wf_nd_free(&tb);
    return e;
}

weft_err wf_nd_matmul_acc(const wf_nd *a, const wf_nd *b, wf_nd *acc,
                          bool overwrite)
{
    int64_t m, k, n;
    weft_err e = mm_shapes("matmul_acc", a, b, &m, &k, &n);
    if (e)
        return e;
    if ((e = wf_nd_check(acc, "matmul_acc", "acc")))
        return e;
    if (a->ndim != 2 || b->ndim != 2 || a->dtype != WEFT_DT_F64 ||
        b->dtype != WEFT_DT_F64)
        return wf_nd_fail(WEFT_EINVAL, "matmul_acc: a and b must be 2-d "
                                       "float64");
    if (acc->dtype != WEFT_DT_F64 || acc->ndim != 2 || acc->shape[0] != m ||
        acc->shape[1] != n) {
        char x[160];
        return wf_nd_fail(WEFT_EINVAL,
                          "matmul_acc: acc is %s %s, expected float64 "
                          "(%lld,%lld)",
                          wf_dtype_name(acc->dtype),
                          wf_nd_shape_str(x, sizeof x, acc->ndim, acc->shape),
                          (long long)m, (long long)n);
    }
    if (m == 0 || n == 0)
        return 0;
    if (k == 0) { /* an empty sum */
        if (overwrite)
            memset(acc->data, 0, (size_t)m * (size_t)n * sizeof(double));
        return 0;
    }
    gemm_f64((int)m, (int)k, (int)n, a->data, b->data, overwrite ? 0.0 : 1.0,
             acc->data);
    return 0;
}
