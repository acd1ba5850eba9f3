/* Cross-check of the chunk kernels against numpy itself: random arrays
 * are written as raw bytes, /usr/bin/python3 computes the same operations
 * with numpy and writes its results as raw bytes, and the kernels' results
 * must match (exactly, or to 1e-12 relative for var). Skipped when
 * /usr/bin/python3 or numpy is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array/nd.h"

#include "testutil.h"

#include "array/nd_testutil.h"

#define PY "/usr/bin/python3"

static char dir[256];

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s.bin", dir, name);
}

static void save(const char *name, const wf_nd *a)
{
    char p[512];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(a->data, 1, wf_nd_bytes(a), f), wf_nd_bytes(a));
    fclose(f);
}

/* numpy's result `name`, which must have exactly a's byte size. */
static void *load(const char *name, size_t bytes)
{
    char p[512];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        fail_msg("numpy wrote no %s", p);
    void *buf = malloc(bytes + 1);
    size_t got = fread(buf, 1, bytes + 1, f);
    fclose(f);
    if (got != bytes)
        fail_msg("%s: %zu bytes from numpy, want %zu", name, got, bytes);
    return buf;
}

/* Compare our result with numpy's, element by element as doubles. */
static void expect(const char *name, const wf_nd *ours, double rel)
{
    void *np = load(name, wf_nd_bytes(ours));
    wf_nd theirs = wf_nd_view(ours->dtype, ours->ndim, ours->shape, np);
    for (int64_t i = 0; i < wf_nd_size(ours); i++) {
        double x = getd(ours, i), y = getd(&theirs, i);
        if (!(rel == 0 ? same_d(x, y) : close_d(x, y, rel)))
            fail_msg("%s[%lld]: ours %.17g, numpy %.17g", name, (long long)i, x,
                     y);
        if (x == 0 && y == 0 && rel == 0 && signbit(x) != signbit(y))
            fail_msg("%s[%lld]: sign of zero differs", name, (long long)i);
    }
    free(np);
}

static const char script[] =
    "import sys, numpy as np\n"
    "d = sys.argv[1]\n"
    "def ld(n, dt, sh): return np.fromfile(f'{d}/{n}.bin', "
    "dtype=dt).reshape(sh)\n"
    "def sv(n, x): np.ascontiguousarray(x).tofile(f'{d}/{n}.bin')\n"
    "np.seterr(all='ignore')\n"
    "a = ld('a', '<f8', (4, 1, 5)); b = ld('b', '<f8', (3, 1))\n"
    "sv('add', a + b)\n"
    "i = ld('i', '<i8', (7, 6)); j = ld('j', '<i4', (6,))\n"
    "sv('truediv', i / j)\n"
    "sv('floordiv', i // j); sv('mod', i % j)\n"
    "x = ld('x', '<f8', (300,)); y = ld('y', '<f8', (300,))\n"
    "sv('ffloordiv', x // y); sv('fmod', x % y)\n"
    "v = ld('v', '<f8', (50, 37))\n"
    "sv('var0', v.var(axis=0, ddof=1, keepdims=True))\n"
    "sv('varall', v.var(ddof=1, keepdims=True))\n"
    "sv('std1', v.std(axis=1, keepdims=True))\n"
    "t = ld('t', '<i8', (9, 13))\n"
    "sv('argmax1', t.argmax(axis=1)); sv('argmaxall', np.array(t.argmax()))\n"
    "sv('argmin0', t.argmin(axis=0))\n"
    "h = ld('h', '<f8', (41,))\n"
    "sv('round', np.round(h))\n"
    "sv('lin1', np.linspace(-3.3, 7.1, 101))\n"
    "sv('lin2', np.linspace(0.1, 1e3, 50, endpoint=False))\n"
    "sv('lin3', np.linspace(2.5, 2.5, 7))\n"
    "sv('lin4', np.linspace(1.0, -8.0, 1))\n"
    "f = ld('f', '<f4', (8, 9))\n"
    "sv('f32div', f / f[0]); sv('f32mean', f.mean(axis=0, keepdims=True))\n"
    "sv('cumsum', np.cumsum(v, axis=1))\n";

static void test_against_numpy(void **state)
{
    (void)state;
    if (access(PY, X_OK) != 0)
        skip();
    if (system(PY " -c 'import numpy' >/dev/null 2>&1") != 0)
        skip();
    snprintf(dir, sizeof dir, "/tmp/wf_nd_numpy_XXXXXX");
    assert_non_null(mkdtemp(dir));
    uint64_t rng = 0x0a11ce;

    int64_t sa[3] = {4, 1, 5}, sb[2] = {3, 1}, si[2] = {7, 6}, sj[1] = {6},
            sx[1] = {300}, sv[2] = {50, 37}, st[2] = {9, 13}, sh[1] = {41},
            sf[2] = {8, 9};
    wf_nd a, b, i, j, x, y, v, t, h, f;
    NDOK(wf_nd_alloc(&a, WEFT_DT_F64, 3, sa, false));
    NDOK(wf_nd_alloc(&b, WEFT_DT_F64, 2, sb, false));
    NDOK(wf_nd_alloc(&x, WEFT_DT_F64, 1, sx, false));
    NDOK(wf_nd_alloc(&y, WEFT_DT_F64, 1, sx, false));
    NDOK(wf_nd_alloc(&v, WEFT_DT_F64, 2, sv, false));
    NDOK(wf_nd_alloc(&f, WEFT_DT_F32, 2, sf, false));
    wf_nd *fl[5] = {&a, &b, &x, &y, &v};
    for (int k = 0; k < 5; k++) /* arbitrary doubles, both signs */
        for (int64_t e = 0; e < wf_nd_size(fl[k]); e++)
            setd(fl[k], e,
                 ((double)(xorshift_next(&rng) >> 11) / 9007199254740992.0 -
                  0.5) *
                     (k == 3 ? 3 : 100));
    for (int64_t e = 0; e < wf_nd_size(&f); e++)
        setd(&f, e, (double)xorshift_below(&rng, 2001) / 7 - 140);
    setd(&y, 0, 0); /* x // 0 and x % 0 */
    setd(&x, 1, -0.0);
    i = rnd_array(&rng, WEFT_DT_I64, 2, si, false);
    j = rnd_array(&rng, WEFT_DT_I32, 1, sj, false);
    setd(&j, 2, 0);
    t = rnd_array(&rng, WEFT_DT_I64, 2, st, false);
    for (int64_t e = 0; e < wf_nd_size(&t); e++) /* many ties */
        setd(&t, e, (double)xorshift_below(&rng, 5));
    NDOK(wf_nd_alloc(&h, WEFT_DT_F64, 1, sh, false));
    for (int64_t e = 0; e < 41; e++)
        setd(&h, e, (double)(e - 20) / 2);
    save("a", &a);
    save("b", &b);
    save("i", &i);
    save("j", &j);
    save("x", &x);
    save("y", &y);
    save("v", &v);
    save("t", &t);
    save("h", &h);
    save("f", &f);

    char cmd[4096];
    snprintf(cmd, sizeof cmd, PY " -c \"$WF_ND_SCRIPT\" %s", dir);
    setenv("WF_ND_SCRIPT", script, 1);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("numpy script failed (%d)", rc);

    wf_nd r;
    NDOK(wf_nd_binary(WF_ADD, &a, &b, &r));
    assert_int_equal(r.ndim, 3);
    assert_int_equal(r.shape[1], 3);
    expect("add", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_binary(WF_DIV, &i, &j, &r));
    assert_int_equal(r.dtype, WEFT_DT_F64);
    expect("truediv", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_binary(WF_FLOORDIV, &i, &j, &r));
    assert_int_equal(r.dtype, WEFT_DT_I64);
    expect("floordiv", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_binary(WF_MOD, &i, &j, &r));
    expect("mod", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_binary(WF_FLOORDIV, &x, &y, &r));
    expect("ffloordiv", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_binary(WF_MOD, &x, &y, &r));
    expect("fmod", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_VAR, &v, 1, 1, &r));
    expect("var0", &r, 1e-12);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_VAR, &v, 0, 1, &r));
    expect("varall", &r, 1e-12);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_STD, &v, 2, 0, &r));
    expect("std1", &r, 1e-12);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_ARGMAX, &t, 2, 0, &r));
    expect("argmax1", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_ARGMAX, &t, 0, 0, &r));
    expect("argmaxall", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_ARGMIN, &t, 1, 0, &r));
    expect("argmin0", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_unary(WF_ROUND, &h, &r));
    expect("round", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_linspace(-3.3, 7.1, 101, true, 0, 101, &r));
    expect("lin1", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_linspace(0.1, 1e3, 50, false, 0, 50, &r));
    expect("lin2", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_linspace(2.5, 2.5, 7, true, 0, 7, &r));
    expect("lin3", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_linspace(1.0, -8.0, 1, true, 0, 1, &r));
    expect("lin4", &r, 0);
    wf_nd_free(&r);
    /* f32 / f32 stays f32; f32 row broadcast */
    int64_t start[2] = {0, 0}, step[2] = {1, 1}, count[2] = {1, 9};
    wf_nd row, row1;
    NDOK(wf_nd_slice(&f, start, step, count, &row));
    NDOK(wf_nd_reshape(&row, 1, &count[1], &row1));
    NDOK(wf_nd_binary(WF_DIV, &f, &row1, &r));
    assert_int_equal(r.dtype, WEFT_DT_F32);
    expect("f32div", &r, 0);
    wf_nd_free(&r);
    NDOK(wf_nd_reduce(WF_R_MEAN, &f, 1, 0, &r));
    assert_int_equal(r.dtype, WEFT_DT_F32);
    expect("f32mean", &r, 1e-6);
    wf_nd_free(&r);
    NDOK(wf_nd_cumsum(&v, 1, NULL, &r));
    expect("cumsum", &r, 0);
    wf_nd_free(&r);
    wf_nd_free(&row);
    wf_nd_free(&row1);

    wf_nd *all[] = {&a, &b, &i, &j, &x, &y, &v, &t, &h, &f};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        wf_nd_free(all[k]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fail_msg("could not remove %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_numpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
