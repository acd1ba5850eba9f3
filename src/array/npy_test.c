/* Tests of the .npy files (nd.h: wf_npy_*): numpy's files of every dtype
 * and awkward shapes (0-d, empty, Fortran order, versions 2.0 and 3.0)
 * load byte for byte; our files are byte for byte numpy's and numpy loads
 * them; random blocks written and read against an in-memory reference;
 * a list of malformed headers, each refused with a message naming the
 * file and the fault; missing and truncated files. numpy runs as
 * /usr/bin/python3 (the test is skipped without it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array/nd.h"

#include "testutil.h"

#define PYTHON "/usr/bin/python3"

/* Fail the test with wf_nd_error() unless call returns 0. */
#define ND_OK(call)                                                            \
    do {                                                                       \
        if ((call) != 0)                                                       \
            fail_msg("%s: %s", #call, wf_nd_error());                          \
    } while (0)

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/npy_test.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tpath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

static bool have_numpy(void)
{
    return access(PYTHON, X_OK) == 0 &&
           system(PYTHON " -c 'import numpy' 2>/dev/null") == 0;
}

/* Run the python source text with the temp dir as argv[1]; its status. */
static int run_python(const char *src)
{
    char script[300], cmd[700];
    FILE *f = fopen(tpath(script, sizeof script, "script.py"), "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, PYTHON " '%s' '%s'", script, tmpdir);
    return system(cmd);
}

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void write_all(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static weft_dtype dtype_of(const char *descr)
{
    static const char *names[] = {"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"};
    for (int i = 0; i < 6; i++)
        if (strcmp(descr, names[i]) == 0)
            return (weft_dtype)(WEFT_DT_F64 + i);
    fail_msg("unknown descr %s", descr);
    return 0;
}

/* numpy writes arrays (and their C-order bytes beside them); we load. */
static const char *numpy_writes =
    "import sys, numpy as np\n"
    "from numpy.lib import format as fm\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(7)\n"
    "shapes = [(), (0,), (1,), (7,), (3, 4), (2, 0, 3), (2, 3, 4, 5),\n"
    "          (1, 1, 9), (3, 1, 2, 1, 2, 1, 2, 2)]\n"
    "descrs = ['<f8', '<f4', '<i8', '<i4', '|u1', '|b1']\n"
    "cases = []\n"
    "def add(a, how):\n"
    "    k = len(cases)\n"
    "    p = '%s/n%d.npy' % (d, k)\n"
    "    if how == 'save':\n"
    "        np.save(p, a)\n"
    "    else:\n"
    "        with open(p, 'wb') as f:\n"
    "            fm.write_array(f, a, version=how)\n"
    "    open('%s/n%d.bin' % (d, k), 'wb').write(a.tobytes(order='C'))\n"
    "    cases.append('%d %s %d %s' % (k, a.dtype.str, a.ndim,\n"
    "                 ' '.join(str(s) for s in a.shape)))\n"
    "for dt in descrs:\n"
    "    for sh in shapes:\n"
    "        if dt == '|b1':\n"
    "            a = rng.integers(0, 2, sh).astype(bool)\n"
    "        elif dt[1] == 'f':\n"
    "            a = rng.standard_normal(sh).astype(dt)\n"
    "        else:\n"
    "            a = rng.integers(-2**31, 2**31, sh).astype(dt)\n"
    "        add(a, 'save')\n"
    "a = np.asfortranarray(rng.standard_normal((3, 4, 5)))\n"
    "add(a, 'save')\n"
    "add(np.asfortranarray(rng.integers(0, 100, (6, 7)).astype('<i4')), "
    "'save')\n"
    "add(rng.standard_normal((4, 5)), (2, 0))\n"
    "add(rng.integers(0, 9, (2, 3)).astype('<i8'), (3, 0))\n"
    "open(d + '/cases.txt', 'w').write('\\n'.join(cases) + '\\n')\n";

static void test_numpy_files_load(void **state)
{
    (void)state;
    if (!have_numpy())
        skip();
    assert_int_equal(run_python(numpy_writes), 0);
    char p[300];
    FILE *cases = fopen(tpath(p, sizeof p, "cases.txt"), "r");
    assert_non_null(cases);
    int k, nd, count = 0, fortran = 0;
    char descr[8];
    while (fscanf(cases, "%d %7s %d", &k, descr, &nd) == 3) {
        int64_t shape[WEFT_MAX_NDIM];
        for (int d = 0; d < nd; d++) {
            long long v;
            assert_int_equal(fscanf(cases, "%lld", &v), 1);
            shape[d] = v;
        }
        char npy[300], bin[300], name[32];
        snprintf(name, sizeof name, "n%d.npy", k);
        tpath(npy, sizeof npy, name);
        snprintf(name, sizeof name, "n%d.bin", k);
        tpath(bin, sizeof bin, name);

        wf_npy_header h;
        ND_OK(wf_npy_read_header(npy, &h));
        assert_int_equal(h.dtype, dtype_of(descr));
        assert_int_equal(h.ndim, (uint32_t)nd);
        for (int d = 0; d < nd; d++)
            assert_int_equal(h.shape[d], shape[d]);
        assert_int_equal(h.data_offset % 64, 0);
        fortran += h.fortran_order;

        wf_nd a;
        if (wf_npy_load(npy, &a) != 0)
            fail_msg("load %s: %s", npy, wf_nd_error());
        size_t n;
        void *want = read_all(bin, &n);
        assert_int_equal(wf_nd_bytes(&a), n);
        if (n)
            assert_memory_equal(a.data, want, n);
        wf_nd_free(&a);

        /* The whole box as a block equals the load (C order files). */
        if (!h.fortran_order) {
            int64_t zero[WEFT_MAX_NDIM] = {0};
            if (wf_npy_read_block(npy, &h, zero, h.shape, &a) != 0)
                fail_msg("read_block %s: %s", npy, wf_nd_error());
            if (n)
                assert_memory_equal(a.data, want, n);
            wf_nd_free(&a);
        }
        free(want);
        count++;
    }
    fclose(cases);
    assert_int_equal(count, 6 * 9 + 4);
    assert_int_equal(fortran, 2);
}

/* Test data of dtype dt: a pattern that covers each type's range. */
static void fill_pattern(wf_nd *a, uint64_t seed)
{
    uint64_t rng = seed | 1;
    int64_t n = wf_nd_size(a);
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = xorshift_next(&rng);
        switch (a->dtype) {
        case WEFT_DT_F64:
            ((double *)a->data)[i] = (double)(int64_t)x / 1e9;
            break;
        case WEFT_DT_F32:
            ((float *)a->data)[i] = (float)((double)(int32_t)x / 1e3);
            break;
        case WEFT_DT_I64:
            ((int64_t *)a->data)[i] = (int64_t)x;
            break;
        case WEFT_DT_I32:
            ((int32_t *)a->data)[i] = (int32_t)x;
            break;
        case WEFT_DT_U8:
            ((uint8_t *)a->data)[i] = (uint8_t)x;
            break;
        case WEFT_DT_BOOL:
            ((uint8_t *)a->data)[i] = (uint8_t)(x & 1);
            break;
        }
    }
}

/* numpy loads our files: same bytes as np.save, same values. */
static const char *numpy_reads =
    "import sys, io, numpy as np\n"
    "d = sys.argv[1]\n"
    "bad = 0\n"
    "for line in open(d + '/ours.txt'):\n"
    "    f = line.split()\n"
    "    k, descr, nd = int(f[0]), f[1], int(f[2])\n"
    "    shape = tuple(int(x) for x in f[3:3 + nd])\n"
    "    a = np.load('%s/w%d.npy' % (d, k))\n"
    "    raw = open('%s/w%d.bin' % (d, k), 'rb').read()\n"
    "    ref = np.frombuffer(raw, dtype=descr).reshape(shape)\n"
    "    b = io.BytesIO(); np.save(b, ref)\n"
    "    if a.dtype.str != descr or a.shape != shape or \\\n"
    "       a.tobytes() != raw or not a.flags.c_contiguous:\n"
    "        print('case', k, 'differs in value'); bad += 1\n"
    "    if b.getvalue() != open('%s/w%d.npy' % (d, k), 'rb').read():\n"
    "        print('case', k, 'differs from np.save'); bad += 1\n"
    "sys.exit(1 if bad else 0)\n";

static void test_numpy_loads_ours(void **state)
{
    (void)state;
    if (!have_numpy())
        skip();
    static const int64_t shapes[][WEFT_MAX_NDIM + 1] = {
        {0},
        {1, 0},
        {1, 1},
        {1, 13},
        {2, 3, 4},
        {3, 2, 0, 5},
        {4, 2, 3, 4, 5},
        {2, 123456789, 0},
        {8, 1, 2, 1, 2, 1, 2, 1, 3},
    };
    static const char *descrs[] = {"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"};
    char p[300], list[300];
    FILE *ours = fopen(tpath(list, sizeof list, "ours.txt"), "w");
    assert_non_null(ours);
    int k = 0;
    for (int t = 0; t < 6; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++, k++) {
            uint32_t nd = (uint32_t)shapes[s][0];
            wf_nd a;
            ND_OK(wf_nd_alloc(&a, (weft_dtype)(WEFT_DT_F64 + t), nd,
                              &shapes[s][1], false));
            fill_pattern(&a, (uint64_t)k);
            char name[32];
            snprintf(name, sizeof name, "w%d.npy", k);
            if (wf_npy_save(tpath(p, sizeof p, name), &a) != 0)
                fail_msg("save: %s", wf_nd_error());
            snprintf(name, sizeof name, "w%d.bin", k);
            write_all(tpath(p, sizeof p, name), a.data, wf_nd_bytes(&a));
            fprintf(ours, "%d %s %u", k, descrs[t], nd);
            for (uint32_t d = 0; d < nd; d++)
                fprintf(ours, " %lld", (long long)shapes[s][1 + d]);
            fputc('\n', ours);
            /* And we load it back the same. */
            wf_nd b;
            snprintf(name, sizeof name, "w%d.npy", k);
            if (wf_npy_load(tpath(p, sizeof p, name), &b) != 0)
                fail_msg("load: %s", wf_nd_error());
            assert_int_equal(b.dtype, a.dtype);
            assert_int_equal(wf_nd_bytes(&b), wf_nd_bytes(&a));
            if (wf_nd_bytes(&a))
                assert_memory_equal(b.data, a.data, wf_nd_bytes(&a));
            wf_nd_free(&b);
            wf_nd_free(&a);
        }
    fclose(ours);
    assert_int_equal(run_python(numpy_reads), 0);
}

static int64_t prod(uint32_t nd, const int64_t *s)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < nd; d++)
        n *= s[d];
    return n;
}

/* Flat C index of origin + idx in shape. */
static int64_t flat_at(uint32_t nd, const int64_t *shape, const int64_t *origin,
                       const int64_t *idx)
{
    int64_t f = 0;
    for (uint32_t d = 0; d < nd; d++)
        f = f * shape[d] + origin[d] + idx[d];
    return f;
}

static bool odometer(uint32_t nd, const int64_t *shape, int64_t *idx)
{
    for (uint32_t d = nd; d-- > 0;) {
        if (++idx[d] < shape[d])
            return true;
        idx[d] = 0;
    }
    return false;
}

static void random_box(uint64_t *rng, uint32_t nd, const int64_t *shape,
                       int64_t *o, int64_t *c)
{
    for (uint32_t d = 0; d < nd; d++) {
        /* Whole axes often, so the one-run paths run too. */
        if (xorshift_below(rng, 3) == 0) {
            o[d] = 0;
            c[d] = shape[d];
            continue;
        }
        o[d] = (int64_t)xorshift_below(rng, (uint64_t)shape[d] + 1);
        c[d] = (int64_t)xorshift_below(rng, (uint64_t)(shape[d] - o[d]) + 1);
    }
}

/* Blocks written into a created file and read back, against memory. */
static void test_blocks(void **state)
{
    (void)state;
    uint64_t rng = 0xb10c;
    char p[300];
    tpath(p, sizeof p, "blocks.npy");
    for (int iter = 0; iter < scaled(150); iter++) {
        weft_dtype dt = (weft_dtype)(WEFT_DT_F64 + xorshift_below(&rng, 6));
        uint32_t nd = (uint32_t)xorshift_below(&rng, 5);
        int64_t shape[WEFT_MAX_NDIM];
        for (uint32_t d = 0; d < nd; d++)
            shape[d] = (int64_t)xorshift_below(&rng, nd > 2 ? 7 : 30);
        wf_npy_header h;
        if (wf_npy_create(p, dt, nd, shape, &h) != 0)
            fail_msg("create: %s", wf_nd_error());
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        size_t isz = weft_dtype_size(dt);
        assert_int_equal((uint64_t)st.st_size,
                         h.data_offset + (uint64_t)prod(nd, shape) * isz);
        /* The reference starts as zeros, as the sparse file reads. */
        wf_nd ref;
        assert_int_equal(wf_nd_alloc(&ref, dt, nd, shape, true), 0);
        for (int w = 0; w < 6; w++) {
            int64_t o[WEFT_MAX_NDIM], c[WEFT_MAX_NDIM];
            random_box(&rng, nd, shape, o, c);
            /* Sometimes a block of another dtype, converted on write: f64
             * small integers and bools convert exactly to every dtype. */
            bool conv = xorshift_below(&rng, 3) == 0;
            weft_dtype bdt = conv ? WEFT_DT_F64 : dt;
            wf_nd blk;
            assert_int_equal(wf_nd_alloc(&blk, bdt, nd, c, false), 0);
            fill_pattern(&blk, xorshift_next(&rng));
            int64_t n = prod(nd, c);
            if (conv)
                for (int64_t i = 0; i < n; i++)
                    ((double *)blk.data)[i] =
                        dt == WEFT_DT_BOOL ? i % 2 : i % 100;
            if (wf_npy_write_block(p, &h, o, &blk) != 0)
                fail_msg("write_block: %s", wf_nd_error());
            int64_t idx[WEFT_MAX_NDIM] = {0};
            for (int64_t i = 0; i < n; i++, odometer(nd, c, idx)) {
                char *dst =
                    (char *)ref.data + (size_t)flat_at(nd, shape, o, idx) * isz;
                if (!conv) {
                    memcpy(dst, (char *)blk.data + (size_t)i * isz, isz);
                    continue;
                }
                double v = ((double *)blk.data)[i];
                switch (dt) {
                case WEFT_DT_F64:
                    memcpy(dst, &v, 8);
                    break;
                case WEFT_DT_F32: {
                    float f = (float)v;
                    memcpy(dst, &f, 4);
                    break;
                }
                case WEFT_DT_I64: {
                    int64_t x = (int64_t)v;
                    memcpy(dst, &x, 8);
                    break;
                }
                case WEFT_DT_I32: {
                    int32_t x = (int32_t)v;
                    memcpy(dst, &x, 4);
                    break;
                }
                default:
                    *dst = (char)(uint8_t)v;
                }
            }
            wf_nd_free(&blk);
        }
        /* Random boxes read back equal the reference's. */
        for (int r = 0; r < 6; r++) {
            int64_t o[WEFT_MAX_NDIM], c[WEFT_MAX_NDIM];
            random_box(&rng, nd, shape, o, c);
            wf_nd got;
            if (wf_npy_read_block(p, &h, o, c, &got) != 0)
                fail_msg("read_block: %s", wf_nd_error());
            assert_int_equal(got.dtype, dt);
            int64_t n = prod(nd, c), idx[WEFT_MAX_NDIM] = {0};
            for (int64_t i = 0; i < n; i++, odometer(nd, c, idx))
                assert_memory_equal(
                    (char *)got.data + (size_t)i * isz,
                    (char *)ref.data + (size_t)flat_at(nd, shape, o, idx) * isz,
                    isz);
            wf_nd_free(&got);
        }
        wf_nd all;
        ND_OK(wf_npy_load(p, &all));
        if (wf_nd_bytes(&ref))
            assert_memory_equal(all.data, ref.data, wf_nd_bytes(&ref));
        wf_nd_free(&all);
        wf_nd_free(&ref);
    }
    unlink(p);
}

/* Every allocation of a load and a block read failing in turn: ENOMEM
 * (or a clean error), an empty result and nothing leaked. */

/* Four processes write the rows of a created file at once (each its own
 * rows, as workers do); the whole file is then each row's pattern. */
static void test_parallel_writers(void **state)
{
    (void)state;
    char p[300];
    tpath(p, sizeof p, "par.npy");
    int64_t shape[2] = {64, 1000};
    wf_npy_header h;
    ND_OK(wf_npy_create(p, WEFT_DT_I32, 2, shape, &h));
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] > 0)
            continue;
        /* Child k writes rows k, k + 4, ... one at a time, as i64 (the
         * file converts to i32). */
        int64_t c[2] = {1, 1000};
        wf_nd row;
        if (wf_nd_alloc(&row, WEFT_DT_I64, 2, c, false) != 0)
            _exit(2);
        for (int64_t r = k; r < 64; r += 4) {
            for (int64_t j = 0; j < 1000; j++)
                ((int64_t *)row.data)[j] = r * 1000 + j;
            int64_t o[2] = {r, 0};
            if (wf_npy_write_block(p, &h, o, &row) != 0)
                _exit(1);
        }
        _exit(0);
    }
    for (int k = 0; k < 4; k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    wf_nd all;
    ND_OK(wf_npy_load(p, &all));
    assert_int_equal(all.dtype, WEFT_DT_I32);
    for (int64_t i = 0; i < 64000; i++)
        assert_int_equal(((int32_t *)all.data)[i], i);
    wf_nd_free(&all);
    unlink(p);
}

/* A file of the magic, version, header text (padded as given) and data. */
static void write_npy(const char *path, int major, const char *header,
                      size_t data_bytes)
{
    size_t hl = strlen(header), pre = major == 1 ? 10 : 12;
    size_t n = pre + hl + data_bytes;
    unsigned char *buf = calloc(1, n + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + pre, header, hl);
    write_all(path, buf, n);
    free(buf);
}

static void expect_refused(const char *path, const char *needle)
{
    wf_npy_header h;
    weft_err e = wf_npy_read_header(path, &h);
    if (e != WEFT_EINVAL)
        fail_msg("'%s': got %d, want WEFT_EINVAL (needle '%s')", path, e,
                 needle);
    const char *msg = wf_nd_error();
    if (strstr(msg, path) == NULL || strstr(msg, needle) == NULL)
        fail_msg("error '%s' lacks the path or '%s'", msg, needle);
    wf_nd a = {.ndim = 2};
    assert_int_equal(wf_npy_load(path, &a), WEFT_EINVAL);
    assert_null(a.data);
    assert_int_equal(a.ndim, 0);
}

static void test_headers(void **state)
{
    (void)state;
    char p[300];
    tpath(p, sizeof p, "h.npy");
    static const struct {
        const char *header;
        const char *needle;
    } bad[] = {
        {"{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
         "big-endian"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "object"},
        {"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }",
         "structured"},
        {"{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }",
         "'<c16' is not supported"},
        {"{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", "'<U3'"},
        {"{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }",
         "byte order"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }",
         "dimension"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,), }",
         "expected ',' or ')'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': "
         "(1,1,1,1,1,1,1,1,1), "
         "}",
         "more than 8 axes"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': "
         "(99999999999999999999,), }",
         "too large"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, "
         "4294967296), }",
         "too large"},
        {"{'descr': '<f8', 'fortran_order': False}", "lacks 'shape'"},
        {"{'descr': '<f8', 'shape': (2,)}", "lacks 'fortran_order'"},
        {"{'fortran_order': False, 'shape': (2,)}", "lacks 'descr'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}",
         "unexpected key 'x'"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': "
         "(2,)}",
         "twice"},
        {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}",
         "True or False"},
        {"{'descr': '<f8, 'fortran_order': False, 'shape': (2,)}",
         "not supported"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)",
         "expected ',' or '}'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x",
         "after the dict"},
        {"['descr', '<f8']", "expected '{'"},
        {"", "expected '{'"},
        {"{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}",
         "expected ',' or '}'"},
        {"{'descr': '<f\\x38', 'fortran_order': False, 'shape': (2,)}",
         "unexpected character"},
        {"{'desc", "unterminated"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,3 }",
         "expected ',' or ')'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_npy(p, 1, bad[i].header, 64);
        expect_refused(p, bad[i].needle);
    }

    /* Not .npy at all; cut short; unknown versions; lying lengths. */
    write_all(p, "hello", 5);
    expect_refused(p, "not a .npy file");
    write_all(p, "PK\x03\x04 this is a zip file", 24);
    expect_refused(p, "magic");
    write_npy(p, 4, "{}", 0);
    expect_refused(p, "version 4.0");
    write_all(p, "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
    expect_refused(p, "runs past the end");
    write_all(p, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{", 13);
    expect_refused(p, "over weft's limit");
    write_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4)}",
              95);
    expect_refused(p, "data section is 95 bytes but shape (3, 4) of float64 "
                      "needs 96");
    write_npy(p, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,)}",
              0);
    expect_refused(p, "needs 4");

    /* Headers numpy would read, written in other ways. */
    static const struct {
        const char *header;
        weft_dtype dt;
        uint32_t ndim;
        int64_t d0, d1;
    } good[] = {
        {"{'shape': (3, 4), 'fortran_order': False, 'descr': '<i4'}",
         WEFT_DT_I32, 2, 3, 4},
        {"{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (5,)}  \n",
         WEFT_DT_F32, 1, 5, 0},
        {"  {  'descr' :'|u1','fortran_order':True,'shape':( 2 , 3 , ) , } \n",
         WEFT_DT_U8, 2, 2, 3},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 2L), }",
         WEFT_DT_I64, 2, 3, 2},
        {"{'descr': 'b1', 'fortran_order': False, 'shape': (), }", WEFT_DT_BOOL,
         0, 0, 0},
        {"{'descr': '<b1', 'fortran_order': False, 'shape': (0, 9), }",
         WEFT_DT_BOOL, 2, 0, 9},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        for (int major = 1; major <= 3; major++) {
            write_npy(p, major, good[i].header, 64);
            wf_npy_header h;
            if (wf_npy_read_header(p, &h) != 0)
                fail_msg("header %zu v%d: %s", i, major, wf_nd_error());
            assert_int_equal(h.dtype, good[i].dt);
            assert_int_equal(h.ndim, good[i].ndim);
            if (h.ndim > 0)
                assert_int_equal(h.shape[0], good[i].d0);
            if (h.ndim > 1)
                assert_int_equal(h.shape[1], good[i].d1);
            assert_int_equal(h.data_offset,
                             strlen(good[i].header) + (major == 1 ? 10 : 12));
        }
    }
    unlink(p);
}

static void test_file_errors(void **state)
{
    (void)state;
    char p[300], q[300];
    tpath(p, sizeof p, "missing.npy");
    wf_npy_header h;
    wf_nd a;
    assert_int_equal(wf_npy_read_header(p, &h), WEFT_ESYS);
    assert_non_null(strstr(wf_nd_error(), p));
    assert_non_null(strstr(wf_nd_error(), "No such file"));
    assert_int_equal(wf_npy_load(p, &a), WEFT_ESYS);
    assert_null(a.data);
    assert_int_equal(wf_npy_read_header(tmpdir, &h), WEFT_EINVAL);
    assert_non_null(strstr(wf_nd_error(), "not a regular file"));

    /* A file cut short after its header was read. */
    tpath(p, sizeof p, "cut.npy");
    int64_t shape[2] = {10, 10}, o[2] = {0, 0}, c[2] = {10, 10};
    assert_int_equal(wf_npy_create(p, WEFT_DT_F64, 2, shape, &h), 0);
    assert_int_equal(truncate(p, (off_t)h.data_offset + 400), 0);
    assert_int_equal(wf_npy_read_block(p, &h, o, c, &a), WEFT_EINVAL);
    assert_non_null(strstr(wf_nd_error(), "truncated"));
    assert_non_null(strstr(wf_nd_error(), p));
    assert_null(a.data);
    int64_t o2[2] = {3, 0}, c2[2] = {8, 10};
    assert_int_equal(wf_npy_read_block(p, &h, o2, c2, &a), WEFT_EINVAL);
    assert_non_null(strstr(wf_nd_error(), "outside"));

    /* Blocks of a Fortran-order file are refused; a block into a missing
     * file; a block of the wrong rank. */
    wf_npy_header hf = h;
    hf.fortran_order = true;
    assert_int_equal(wf_npy_read_block(p, &hf, o, c, &a), WEFT_EINVAL);
    assert_non_null(strstr(wf_nd_error(), "Fortran order"));
    wf_nd blk;
    assert_int_equal(wf_nd_alloc(&blk, WEFT_DT_F64, 2, c, true), 0);
    tpath(q, sizeof q, "nowhere/x.npy");
    assert_int_equal(wf_npy_write_block(q, &h, o, &blk), WEFT_ESYS);
    assert_non_null(strstr(wf_nd_error(), q));
    blk.ndim = 1;
    assert_int_equal(wf_npy_write_block(p, &h, o, &blk), WEFT_EINVAL);
    assert_non_null(strstr(wf_nd_error(), "axes"));
    blk.ndim = 2;
    assert_int_equal(wf_npy_save(q, &blk), WEFT_ESYS);
    assert_int_equal(wf_npy_create(q, WEFT_DT_F64, 2, shape, &h), WEFT_ESYS);
    int64_t neg[2] = {-1, 3};
    assert_int_equal(wf_npy_create(p, WEFT_DT_F64, 2, neg, &h), WEFT_EINVAL);
    assert_int_equal(wf_npy_create(p, (weft_dtype)99, 2, shape, &h),
                     WEFT_EINVAL);
    wf_nd_free(&blk);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numpy_files_load),
        cmocka_unit_test(test_numpy_loads_ours),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_parallel_writers),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
