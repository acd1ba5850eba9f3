/* Chunk-kernel benchmarks (src/array/nd.h), one thread: the speed of the
 * work inside one array task, next to the same operation in numpy on
 * this machine when /usr/bin/python3 has it.
 *
 *   nd.add_f64_1e6          a + b, 1e6 float64 each (GB/s: 3 arrays moved)
 *   nd.add_f64_scalar_1e6   a + 0-d scalar
 *   nd.add_f64_bcast_row    (1000,1000) + (1000,) row broadcast
 *   nd.add_i32_f64_1e6      int32 + float64 (promotion: one conversion)
 *   nd.sqrt_f64_1e6         unary
 *   nd.sum_f64              sum of 1e7 float64 (GB/s read)
 *   nd.sum_axis0/1_1000x1000  sum over one axis of a 1000x1000 float64
 *   nd.var_f64              var of 1e7 float64 (two passes)
 *   nd.max_f64, nd.argmax_f64  max and argmax of the same
 *   nd.lt_f64_1e6           a < b into bool
 *   nd.transpose_1000x1000  2-d transpose (GB/s: read + write)
 *   nd.matmul_1000          wf_nd_matmul of 1000x1000 float64 (GFLOP/s)
 *   nd.dgemm_direct_1000    cblas_dgemm on the same, one thread
 *
 * Then numpy.* lines for the same operations from /usr/bin/python3 (one
 * thread) and nd.*_vs_numpy ratios (ours over numpy's; above 1 is faster).
 *
 * Median of 7 runs; each run repeats the operation to last >= 20 ms.
 * Results are allocated per call, as in a task. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array/nd.h"
#include "bench.h"

#define NREP 7

typedef weft_err (*op_fn)(void *ctx, wf_nd *out);

/* Seconds per call: median over NREP runs of `iters` calls each. */
static double time_op(const char *name, op_fn fn, void *ctx)
{
    wf_nd out;
    BENCH_CHECK(fn(ctx, &out)); /* warm up, and size the loop */
    wf_nd_free(&out);
    double t0 = bench_now();
    int iters = 0;
    while (bench_now() - t0 < 0.02 || iters < 1) {
        BENCH_CHECK(fn(ctx, &out));
        wf_nd_free(&out);
        iters++;
    }
    double runs[NREP];
    for (int r = 0; r < NREP; r++) {
        double s = bench_now();
        for (int i = 0; i < iters; i++) {
            BENCH_CHECK(fn(ctx, &out));
            wf_nd_free(&out);
        }
        runs[r] = (bench_now() - s) / iters;
    }
    bench_runs(name, runs, NREP, 1e3, "ms");
    return bench_median(runs, NREP);
}

typedef struct bin_ctx {
    wf_binop op;
    const wf_nd *a, *b;
} bin_ctx;

static weft_err do_bin(void *c, wf_nd *out)
{
    bin_ctx *x = c;
    return wf_nd_binary(x->op, x->a, x->b, out);
}

typedef struct un_ctx {
    wf_unop op;
    const wf_nd *a;
} un_ctx;

static weft_err do_un(void *c, wf_nd *out)
{
    un_ctx *x = c;
    return wf_nd_unary(x->op, x->a, out);
}

typedef struct red_ctx {
    wf_redop op;
    const wf_nd *a;
    uint32_t axes;
} red_ctx;

static weft_err do_red(void *c, wf_nd *out)
{
    red_ctx *x = c;
    return wf_nd_reduce(x->op, x->a, x->axes, 0, out);
}

static weft_err do_transpose(void *c, wf_nd *out)
{
    return wf_nd_transpose(c, NULL, out);
}

static weft_err do_matmul(void *c, wf_nd *out)
{
    const wf_nd *const *ab = c;
    return wf_nd_matmul(ab[0], ab[1], out);
}

static weft_err do_dgemm(void *c, wf_nd *out)
{
    const wf_nd *const *ab = c;
    int64_t n = ab[0]->shape[0];
    weft_err e = wf_nd_alloc(out, WEFT_DT_F64, 2, ab[0]->shape, false);
    if (e)
        return e;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n,
                (int)n, 1.0, ab[0]->data, (int)n, ab[1]->data, (int)n, 0.0,
                out->data, (int)n);
    return 0;
}

static wf_nd random_f64(uint64_t *rng, uint32_t ndim, const int64_t *shape)
{
    wf_nd a;
    BENCH_CHECK(wf_nd_alloc(&a, WEFT_DT_F64, ndim, shape, false));
    double *p = a.data;
    for (int64_t i = 0; i < wf_nd_size(&a); i++) {
        uint64_t x = *rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *rng = x;
        p[i] = (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
    }
    return a;
}

/* numpy's figures for the same operations, printed as numpy.* lines. */
static const char np_script[] =
    "import time, numpy as np\n"
    "def t(name, f, scale, unit):\n"
    "    f(); n = 0; s = time.perf_counter()\n"
    "    while time.perf_counter() - s < 0.02: f(); n += 1\n"
    "    rs = []\n"
    "    for r in range(7):\n"
    "        s = time.perf_counter()\n"
    "        for i in range(n): f()\n"
    "        rs.append((time.perf_counter() - s) / n)\n"
    "    rs.sort(); print(f'numpy.{name} {scale / rs[3]:.3f} {unit}', "
    "flush=True)\n"
    "rng = np.random.default_rng(1)\n"
    "a = rng.random(10**6); b = rng.random(10**6); s = np.float64(0.5)\n"
    "m = rng.random((1000, 1000)); r = rng.random(1000)\n"
    "i32 = (a * 1000).astype(np.int32); big = rng.random(10**7)\n"
    "t('add_f64_1e6', lambda: a + b, 24e6 / 1e9, 'GB/s')\n"
    "t('add_f64_scalar_1e6', lambda: a + s, 16e6 / 1e9, 'GB/s')\n"
    "t('add_f64_bcast_row', lambda: m + r, 16e6 / 1e9, 'GB/s')\n"
    "t('add_i32_f64_1e6', lambda: i32 + b, 20e6 / 1e9, 'GB/s')\n"
    "t('sqrt_f64_1e6', lambda: np.sqrt(a), 16e6 / 1e9, 'GB/s')\n"
    "t('sum_f64', lambda: big.sum(), 8e7 / 1e9, 'GB/s')\n"
    "t('sum_axis0_1000x1000', lambda: m.sum(axis=0), 8e6 / 1e9, 'GB/s')\n"
    "t('sum_axis1_1000x1000', lambda: m.sum(axis=1), 8e6 / 1e9, 'GB/s')\n"
    "t('var_f64', lambda: big.var(), 8e7 / 1e9, 'GB/s')\n"
    "t('max_f64', lambda: big.max(), 8e7 / 1e9, 'GB/s')\n"
    "t('argmax_f64', lambda: big.argmax(), 8e7 / 1e9, 'GB/s')\n"
    "t('lt_f64_1e6', lambda: a < b, 17e6 / 1e9, 'GB/s')\n"
    "t('transpose_1000x1000', lambda: np.ascontiguousarray(m.T), 16e6 / "
    "1e9, 'GB/s')\n"
    "try:\n"
    "    from threadpoolctl import threadpool_limits\n"
    "    threadpool_limits(1)\n"
    "except ImportError:\n"
    "    pass\n"
    "t('matmul_1000', lambda: m @ m, 2e9 / 1e9, 'GFLOP/s')\n";

int main(void)
{
    bench_note_load("ndkernels");
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int64_t n1 = 1000000, n7 = 10000000, sq[2] = {1000, 1000}, row[1] = {1000};
    wf_nd a = random_f64(&rng, 1, &n1), b = random_f64(&rng, 1, &n1);
    wf_nd s = random_f64(&rng, 0, NULL), m = random_f64(&rng, 2, sq);
    wf_nd r = random_f64(&rng, 1, row), big = random_f64(&rng, 1, &n7);
    wf_nd i32;
    BENCH_CHECK(wf_nd_astype(&b, WEFT_DT_I32, &i32));

    struct {
        const char *name;
        op_fn fn;
        void *ctx;
        double bytes;
    } cases[] = {
        {"nd.add_f64_1e6", do_bin, &(bin_ctx){WF_ADD, &a, &b}, 24e6},
        {"nd.add_f64_scalar_1e6", do_bin, &(bin_ctx){WF_ADD, &a, &s}, 16e6},
        {"nd.add_f64_bcast_row", do_bin, &(bin_ctx){WF_ADD, &m, &r}, 16e6},
        {"nd.add_i32_f64_1e6", do_bin, &(bin_ctx){WF_ADD, &i32, &b}, 20e6},
        {"nd.sqrt_f64_1e6", do_un, &(un_ctx){WF_SQRT, &a}, 16e6},
        {"nd.sum_f64", do_red, &(red_ctx){WF_R_SUM, &big, 0}, 8e7},
        {"nd.sum_axis0_1000x1000", do_red, &(red_ctx){WF_R_SUM, &m, 1}, 8e6},
        {"nd.sum_axis1_1000x1000", do_red, &(red_ctx){WF_R_SUM, &m, 2}, 8e6},
        {"nd.var_f64", do_red, &(red_ctx){WF_R_VAR, &big, 0}, 8e7},
        {"nd.max_f64", do_red, &(red_ctx){WF_R_MAX, &big, 0}, 8e7},
        {"nd.argmax_f64", do_red, &(red_ctx){WF_R_ARGMAX, &big, 0}, 8e7},
        {"nd.lt_f64_1e6", do_bin, &(bin_ctx){WF_LT, &a, &b}, 17e6},
        {"nd.transpose_1000x1000", do_transpose, &m, 16e6},
    };
    enum { NCASE = sizeof cases / sizeof *cases };
    double got[NCASE + 1];
    for (size_t c = 0; c < NCASE; c++) {
        double sec = time_op(cases[c].name, cases[c].fn, cases[c].ctx);
        got[c] = cases[c].bytes / sec / 1e9;
        bench_emit(cases[c].name, got[c], "GB/s");
    }
    const wf_nd *mm[2] = {&m, &m};
    double sec = time_op("nd.matmul_1000", do_matmul, (void *)mm);
    got[NCASE] = 2e9 / sec / 1e9;
    bench_emit("nd.matmul_1000", got[NCASE], "GFLOP/s");
    /* wf_nd_matmul has set OpenBLAS to one thread by now */
    sec = time_op("nd.dgemm_direct_1000", do_dgemm, (void *)mm);
    bench_emit("nd.dgemm_direct_1000", 2e9 / sec / 1e9, "GFLOP/s");

    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        bench_note("no numpy at /usr/bin/python3: no comparison");
    } else {
        /* numpy.NAME lines as numpy prints them, then NAME_vs_numpy: ours
         * over numpy's (above 1: the kernel is faster) */
        bench_note("numpy on the same operations, one thread:");
        setenv("WF_ND_BENCH", np_script, 1);
        fflush(stdout);
        FILE *py = popen("OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -c "
                         "\"$WF_ND_BENCH\"",
                         "r");
        char line[256], name[128], unit[32];
        double v;
        while (py && fgets(line, sizeof line, py)) {
            fputs(line, stdout);
            if (sscanf(line, "numpy.%127s %lf %31s", name, &v, unit) != 3 ||
                v <= 0)
                continue;
            for (size_t c = 0; c <= NCASE; c++) {
                const char *ours = c < NCASE ? cases[c].name : "nd.matmul_1000";
                if (strcmp(ours + 3, name) == 0) {
                    char rn[160];
                    snprintf(rn, sizeof rn, "%s_vs_numpy", ours);
                    bench_emit(rn, got[c] / v, "x");
                }
            }
        }
        if (!py || pclose(py) != 0)
            bench_note("numpy comparison failed");
    }
    wf_nd *all[] = {&a, &b, &s, &m, &r, &big, &i32};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        wf_nd_free(all[k]);
    return 0;
}
