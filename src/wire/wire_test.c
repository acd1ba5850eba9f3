/* Tests of the wire layer: buffers, values, frames, message bodies and fd
 * passing. Decoders get truncated, flipped and hand-made malicious bytes;
 * everything they are given lives in a heap block of exactly its size, so
 * a read past the end is caught by AddressSanitizer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "wire/buf.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/sock.h"
#include "wire/value.h"

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

/* The xorshift_next state (fixed seed: the same sequence every run). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* Sanitizer runs (WEFT_TEST_SCALE=sanitize) do a quarter of the iterations
 * here, not the usual tenth: scaled_by(n, 4). */

/* A heap copy of exactly n bytes, so ASan sees any read past the end. */
static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static const weft_dtype all_dtypes[] = {WEFT_DT_F64, WEFT_DT_F32, WEFT_DT_I64,
                                        WEFT_DT_I32, WEFT_DT_U8,  WEFT_DT_BOOL};
#define NDTYPES (sizeof all_dtypes / sizeof all_dtypes[0])

static uint64_t value_nbytes(const weft_value *v)
{
    uint64_t n;
    assert_int_equal(wf_wire_value_nbytes(v, &n), 0);
    return n;
}

static const void *value_data(const weft_value *v)
{
    return v->type == WEFT_T_ARRAY ? v->u.arr.data : v->u.buf.data;
}

static bool same_bytes(const void *a, const void *b, uint64_t n)
{
    return n == 0 || memcmp(a, b, (size_t)n) == 0;
}

static bool value_equal(const weft_value *a, const weft_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case WEFT_T_NONE:
        return true;
    case WEFT_T_I64:
        return a->u.i64 == b->u.i64;
    case WEFT_T_F64:
        return memcmp(&a->u.f64, &b->u.f64, sizeof(double)) == 0;
    case WEFT_T_BOOL:
        return a->u.b == b->u.b;
    case WEFT_T_REF:
        return a->u.ref.id == b->u.ref.id;
    case WEFT_T_STR:
    case WEFT_T_BYTES:
        return a->u.buf.len == b->u.buf.len &&
               same_bytes(a->u.buf.data, b->u.buf.data, a->u.buf.len);
    case WEFT_T_ARRAY:
        if (a->u.arr.dtype != b->u.arr.dtype || a->u.arr.ndim != b->u.arr.ndim)
            return false;
        for (uint32_t i = 0; i < a->u.arr.ndim; i++)
            if (a->u.arr.shape[i] != b->u.arr.shape[i])
                return false;
        return same_bytes(a->u.arr.data, b->u.arr.data, value_nbytes(a));
    }
    return false;
}

/* Inline data of a decoded value must lie inside the decoded bytes. */
static void assert_inside(const wf_wire_value *wv, const uint8_t *buf, size_t n)
{
    const weft_value *v = &wv->v;
    if (wv->in_fd || (v->type != WEFT_T_STR && v->type != WEFT_T_BYTES &&
                      v->type != WEFT_T_ARRAY))
        return;
    const uint8_t *d = value_data(v);
    uint64_t len = value_nbytes(v);
    assert_true(d >= buf && d <= buf + n && len <= (uint64_t)(buf + n - d));
}

/* A random value with storage it points into. Do not copy by value. */
typedef struct gen_value {
    weft_value v;
    int64_t shape[WEFT_MAX_NDIM];
    uint8_t *data;
} gen_value;

static void fill_data(uint8_t *d, size_t n, weft_dtype dt)
{
    for (size_t i = 0; i < n; i++)
        d[i] = dt == WEFT_DT_BOOL ? (uint8_t)(xorshift_next(&rng) & 1)
                                  : (uint8_t)xorshift_next(&rng);
}

static void gen_array(gen_value *g)
{
    weft_dtype dt = all_dtypes[xorshift_below(&rng, NDTYPES)];
    uint32_t ndim = (uint32_t)xorshift_below(&rng, WEFT_MAX_NDIM + 1);
    size_t count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        g->shape[i] = (int64_t)xorshift_below(&rng, ndim > 3 ? 3 : 9);
        count *= (size_t)g->shape[i];
    }
    size_t n = count * weft_dtype_size(dt);
    g->data = malloc(n + 1);
    fill_data(g->data, n, dt);
    g->v = weft_array(dt, ndim, g->shape, g->data);
}

static void gen_buf(gen_value *g, weft_type t)
{
    size_t n = xorshift_below(&rng, 4) == 0 ? 0 : xorshift_below(&rng, 300);
    if (n > 0 || xorshift_next(&rng) & 1) {
        g->data = malloc(n + 1);
        fill_data(g->data, n, WEFT_DT_U8);
    }
    g->v.type = t;
    g->v.u.buf.data = g->data;
    g->v.u.buf.len = n;
}

static void gen_random(gen_value *g)
{
    static const int64_t edge[] = {0, 1, -1, INT64_MIN, INT64_MAX};
    memset(g, 0, sizeof *g);
    uint64_t bits = xorshift_next(&rng);
    double d;
    memcpy(&d, &bits, sizeof d);
    switch (xorshift_below(&rng, 8)) {
    case 0:
        g->v.type = WEFT_T_NONE;
        break;
    case 1:
        g->v =
            weft_i64(xorshift_next(&rng) & 1 ? (int64_t)xorshift_next(&rng)
                                             : edge[xorshift_below(&rng, 5)]);
        break;
    case 2:
        g->v = weft_f64(d); /* any bits: NaNs, infinities, denormals */
        break;
    case 3:
        g->v = weft_bool(xorshift_next(&rng) & 1);
        break;
    case 4:
        gen_buf(g, WEFT_T_STR);
        break;
    case 5:
        gen_buf(g, WEFT_T_BYTES);
        break;
    case 6:
        gen_array(g);
        break;
    default:
        g->v = weft_refv((weft_ref){xorshift_next(&rng)});
        break;
    }
}

static void gen_free(gen_value *g)
{
    free(g->data);
    g->data = NULL;
}

/* Encode v, decode it back, compare; then every strict prefix must fail. */
static void roundtrip(const weft_value *v)
{
    wf_wbuf w;
    wf_wbuf_init(&w);
    assert_int_equal(wf_wire_put_value(&w, v), 0);
    uint8_t *bytes = exact_copy(w.data, w.len);
    wf_rbuf r;
    wf_rbuf_init(&r, bytes, w.len);
    wf_wire_value out;
    assert_int_equal(wf_wire_get_value(&r, &out), 0);
    assert_int_equal(wf_rbuf_left(&r), 0);
    assert_false(out.in_fd);
    assert_true(value_equal(v, &out.v));
    assert_inside(&out, bytes, w.len);
    free(bytes);
    for (size_t k = 0; k < w.len; k++) {
        uint8_t *cut = exact_copy(w.data, k);
        wf_rbuf_init(&r, cut, k);
        assert_err(wf_wire_get_value(&r, &out), WEFT_EPROTO, "truncated");
        free(cut);
    }
    wf_wbuf_free(&w);
}

/* ------------------------------------------------------------ buffers */

static void test_buf_little_endian(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_wbuf_put_u8(&w, 0xab);
    wf_wbuf_put_u16(&w, 0x1234);
    wf_wbuf_put_u32(&w, 0x89abcdefu);
    wf_wbuf_put_u64(&w, 0x0102030405060708ull);
    wf_wbuf_put_i32(&w, -2);
    wf_wbuf_put_i64(&w, INT64_MIN);
    wf_wbuf_put_f64(&w, 1.0);
    wf_wbuf_put_str(&w, "hi", 2);
    static const uint8_t want[] = {
        0xab, 0x34, 0x12, 0xef, 0xcd, 0xab, 0x89, 0x08, 0x07, 0x06, 0x05,
        0x04, 0x03, 0x02, 0x01, 0xfe, 0xff, 0xff, 0xff, 0,    0,    0,
        0,    0,    0,    0,    0x80, 0,    0,    0,    0,    0,    0,
        0xf0, 0x3f, 2,    0,    0,    0,    'h',  'i'};
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.data, want, sizeof want);
    assert_int_equal(wf_wbuf_status(&w), 0);

    wf_rbuf r;
    wf_rbuf_init(&r, want, sizeof want);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    double f;
    const char *s;
    size_t n;
    assert_int_equal(wf_rbuf_get_u8(&r, &u8, "a"), 0);
    assert_int_equal(wf_rbuf_get_u16(&r, &u16, "b"), 0);
    assert_int_equal(wf_rbuf_get_u32(&r, &u32, "c"), 0);
    assert_int_equal(wf_rbuf_get_u64(&r, &u64, "d"), 0);
    assert_int_equal(wf_rbuf_get_i32(&r, &i32, "e"), 0);
    assert_int_equal(wf_rbuf_get_i64(&r, &i64, "f"), 0);
    assert_int_equal(wf_rbuf_get_f64(&r, &f, "g"), 0);
    assert_int_equal(wf_rbuf_get_str(&r, 10, &s, &n, "h"), 0);
    assert_int_equal(u8, 0xab);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(u32, 0x89abcdefu);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(i32, -2);
    assert_true(i64 == INT64_MIN);
    assert_true(f == 1.0);
    assert_int_equal(n, 2);
    assert_memory_equal(s, "hi", 2);
    assert_int_equal(wf_rbuf_end(&r, "all"), 0);
    wf_wbuf_free(&w);
}

static void test_rbuf_errors(void **state)
{
    (void)state;
    static const uint8_t b[] = {5, 0, 0, 0, 'a', 'b', 'c'};
    wf_rbuf r;
    wf_rbuf_init(&r, b, sizeof b);
    r.base = 100;
    const char *s;
    size_t n;
    uint64_t u64;
    assert_err(wf_rbuf_get_str(&r, 10, &s, &n, "name"), WEFT_EPROTO,
               "truncated name (needs 5 bytes, 3 left) at byte 104");
    assert_int_equal(r.off, 0); /* a failed get consumes nothing */
    assert_err(wf_rbuf_get_str(&r, 4, &s, &n, "name"), WEFT_EPROTO,
               "longer than 4 at byte 100");
    assert_err(wf_rbuf_get_u64(&r, &u64, "id"), WEFT_EPROTO,
               "truncated id (needs 8 bytes, 7 left) at byte 100");
    const void *p;
    assert_int_equal(wf_rbuf_get_span(&r, 3, &p, "x"), 0);
    assert_ptr_equal(p, b);
    assert_err(wf_rbuf_get_span(&r, UINT64_MAX, &p, "y"), WEFT_EPROTO,
               "bytes, 4 left) at byte 103");
    assert_err(wf_rbuf_end(&r, "body"), WEFT_EPROTO,
               "4 trailing bytes after body at byte 103");

    /* An empty reader may have no buffer at all. */
    wf_rbuf_init(&r, NULL, 0);
    assert_int_equal(wf_rbuf_get_span(&r, 0, &p, "z"), 0);
    assert_err(wf_rbuf_get_span(&r, 1, &p, "z"), WEFT_EPROTO, "truncated");
}

static void test_wbuf_oom_is_sticky(void **state)
{
    (void)state;
    uint64_t base = wf_alloc_bytes();
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_alloc_fail_after(1);
    wf_wbuf_put_u32(&w, 7);
    wf_alloc_fail_after(0);
    assert_true(w.oom);
    wf_wbuf_put_u32(&w, 8); /* would succeed now, but the flag sticks */
    assert_int_equal(w.len, 0);
    assert_err(wf_wbuf_status(&w), WEFT_ENOMEM, "out of memory");
    wf_wbuf_reset(&w);
    wf_wbuf_put_u32(&w, 9);
    assert_int_equal(wf_wbuf_status(&w), 0);
    assert_int_equal(w.len, 4);
    /* A length that cannot be written fails the same way. */
    wf_wbuf_put_str(&w, "x", (size_t)UINT32_MAX + 1);
    assert_true(w.oom);
    wf_wbuf_free(&w);
    assert_true(wf_alloc_bytes() == base);
}

/* ------------------------------------------------------------- values */

static void test_value_scalars(void **state)
{
    (void)state;
    static const int64_t ints[] = {0, 1, -1, INT64_MIN, INT64_MAX, 42};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        weft_value v = weft_i64(ints[i]);
        roundtrip(&v);
    }
    double nan_payload;
    uint64_t bits = 0x7ff0000000000123ull;
    memcpy(&nan_payload, &bits, sizeof bits);
    const double dbls[] = {0.0,    -0.0,      1.5,        -1e300,
                           5e-324, 1.0 / 0.0, nan_payload};
    for (size_t i = 0; i < sizeof dbls / sizeof dbls[0]; i++) {
        weft_value v = weft_f64(dbls[i]);
        roundtrip(&v);
    }
    weft_value v = weft_bool(true);
    roundtrip(&v);
    v = weft_bool(false);
    roundtrip(&v);
    v = weft_refv((weft_ref){0xfeedfacecafebeefull});
    roundtrip(&v);
    v = (weft_value){.type = WEFT_T_NONE};
    roundtrip(&v);
}

static void test_value_buffers(void **state)
{
    (void)state;
    weft_value v = {.type = WEFT_T_STR, .u.buf = {"hello, wire", 11}};
    roundtrip(&v);
    v = (weft_value){.type = WEFT_T_STR, .u.buf = {NULL, 0}};
    roundtrip(&v);
    v = weft_bytes("\0\1\2\377", 4);
    roundtrip(&v);
    v = weft_bytes("", 0);
    roundtrip(&v);
    uint8_t *big = malloc(100000);
    fill_data(big, 100000, WEFT_DT_U8);
    v = weft_bytes(big, 100000);
    roundtrip(&v);
    free(big);
}

/* The bytes of a value are part of the protocol: pin one of each kind. */
static void test_value_golden_bytes(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    weft_value b = weft_bool(true);
    weft_value s = weft_bytes("ab", 2);
    const int64_t shape[1] = {2};
    const uint8_t u8s[2] = {7, 9};
    weft_value a = weft_array(WEFT_DT_U8, 1, shape, u8s);
    assert_int_equal(wf_wire_put_value(&w, &b), 0);
    assert_int_equal(wf_wire_put_value(&w, &s), 0);
    assert_int_equal(wf_wire_put_value_fd(&w, &a, 3, 16), 0);
    /* clang-format off */
    static const uint8_t want[] = {
        WEFT_T_BOOL, 1,                                      /* bool */
        WEFT_T_BYTES, 0, 2, 0, 0, 0, 0, 0, 0, 0, 'a', 'b',   /* inline */
        WEFT_T_ARRAY, WEFT_DT_U8, 1, 2, 0, 0, 0, 0, 0, 0, 0, /* shape */
        1, 3, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0,              /* fd 3 @16 */
        2, 0, 0, 0, 0, 0, 0, 0};                             /* len 2 */
    /* clang-format on */
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.data, want, sizeof want);
    wf_wbuf_free(&w);
}

static void test_value_arrays_every_dtype(void **state)
{
    (void)state;
    static const int64_t shapes[][WEFT_MAX_NDIM] = {
        {0},
        {0},
        {5},
        {2, 3},
        {3, 0, 2},
        {1, 1, 1, 1, 1, 1, 1, 2},
        {0, (int64_t)1 << 20, (int64_t)1 << 20}};
    static const uint32_t ndims[] = {0, 1, 1, 2, 3, 8, 3};
    for (size_t d = 0; d < NDTYPES; d++) {
        for (size_t s = 0; s < sizeof ndims / sizeof ndims[0]; s++) {
            weft_value v = weft_array(all_dtypes[d], ndims[s], shapes[s], NULL);
            uint64_t n = value_nbytes(&v);
            uint8_t *data = n ? malloc(n) : NULL;
            fill_data(data, n, all_dtypes[d]);
            v.u.arr.data = data;
            roundtrip(&v);
            free(data);
        }
    }
    assert_int_equal(weft_dtype_size(WEFT_DT_F64), 8);
    assert_int_equal(weft_dtype_size(WEFT_DT_F32), 4);
    assert_int_equal(weft_dtype_size(WEFT_DT_I32), 4);
    assert_int_equal(weft_dtype_size(WEFT_DT_BOOL), 1);
    assert_int_equal(weft_dtype_size((weft_dtype)0), 0);
    assert_int_equal(weft_dtype_size((weft_dtype)7), 0);
}

static void test_value_fd_placement(void **state)
{
    (void)state;
    uint8_t fdmem[256];
    fill_data(fdmem, sizeof fdmem, WEFT_DT_BOOL); /* 0/1: fine for all */
    const int64_t shape[2] = {4, 5};
    weft_value vals[3] = {
        weft_array(WEFT_DT_BOOL, 2, shape, fdmem + 100),
        weft_bytes(fdmem + 10, 50),
        {.type = WEFT_T_STR, .u.buf = {NULL, 0}},
    };
    const uint64_t offs[3] = {100, 10, 256};
    wf_wbuf w;
    wf_wbuf_init(&w);
    for (int i = 0; i < 3; i++) {
        weft_value sent = vals[i];
        sent.u.buf.data = NULL; /* the fd holds the bytes: not read */
        if (sent.type == WEFT_T_ARRAY)
            sent.u.arr.data = NULL;
        assert_int_equal(wf_wire_put_value_fd(&w, &sent, (uint32_t)i, offs[i]),
                         0);
    }
    wf_rbuf r;
    wf_rbuf_init(&r, w.data, w.len);
    for (int i = 0; i < 3; i++) {
        wf_wire_value out;
        assert_int_equal(wf_wire_get_value(&r, &out), 0);
        assert_true(out.in_fd);
        assert_int_equal(out.fd_index, i);
        assert_true(out.fd_offset == offs[i]);
        assert_null(value_data(&out.v));
        assert_err(wf_wire_value_bind(&out, fdmem, offs[i] + out.fd_len - 1),
                   WEFT_EPROTO, "lies outside the fd");
        assert_int_equal(wf_wire_value_bind(&out, fdmem, sizeof fdmem), 0);
        assert_true(value_equal(&vals[i], &out.v));
    }
    assert_int_equal(wf_rbuf_left(&r), 0);

    /* Binding checks what the decoder could not see: bool array bytes. */
    wf_rbuf_init(&r, w.data, w.len);
    wf_wire_value out;
    assert_int_equal(wf_wire_get_value(&r, &out), 0);
    fdmem[107] = 2;
    assert_err(wf_wire_value_bind(&out, fdmem, sizeof fdmem), WEFT_EPROTO,
               "at fd byte 107");
    assert_err(wf_wire_value_bind(&out, NULL, 10), WEFT_EINVAL, NULL);

    /* Values without data are encoded as themselves, and cannot bind. */
    wf_wbuf_reset(&w);
    weft_value i = weft_i64(5);
    assert_int_equal(wf_wire_put_value_fd(&w, &i, 0, 0), 0);
    wf_rbuf_init(&r, w.data, w.len);
    assert_int_equal(wf_wire_get_value(&r, &out), 0);
    assert_false(out.in_fd);
    assert_err(wf_wire_value_bind(&out, fdmem, sizeof fdmem), WEFT_EINVAL,
               "not placed in an fd");
    wf_wbuf_free(&w);
}

static void test_value_encode_rejects(void **state)
{
    (void)state;
    const int64_t neg[2] = {3, -1};
    const int64_t huge[2] = {INT64_MAX, 2};
    const int64_t two[1] = {2};
    const uint8_t bad_bools[2] = {1, 2};
    const weft_value bad[] = {
        {.type = (weft_type)99},
        weft_array((weft_dtype)0, 1, two, bad_bools),
        weft_array((weft_dtype)7, 1, two, bad_bools),
        weft_array(WEFT_DT_U8, WEFT_MAX_NDIM + 1, huge, bad_bools),
        weft_array(WEFT_DT_U8, 2, neg, bad_bools),
        weft_array(WEFT_DT_U8, 2, huge, bad_bools),
        weft_array(WEFT_DT_U8, 1, NULL, bad_bools),
        weft_array(WEFT_DT_U8, 1, two, NULL),
        weft_array(WEFT_DT_BOOL, 1, two, bad_bools),
        {.type = WEFT_T_STR, .u.buf = {NULL, 3}},
    };
    wf_wbuf w;
    wf_wbuf_init(&w);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_err(wf_wire_put_value(&w, &bad[i]), WEFT_EINVAL, NULL);
        assert_int_equal(w.len, 0); /* nothing half-written */
    }
    weft_value b = weft_bytes("abc", 3);
    assert_err(wf_wire_put_value_fd(&w, &b, 0, UINT64_MAX - 1), WEFT_EINVAL,
               "overflows");
    assert_int_equal(w.len, 0);
    wf_wbuf_free(&w);
}

/* Decode bytes made by hand; must fail with EPROTO naming needle. */
static void expect_bad_value(const wf_wbuf *w, const char *needle)
{
    uint8_t *bytes = exact_copy(w->data, w->len);
    wf_rbuf r;
    wf_rbuf_init(&r, bytes, w->len);
    wf_wire_value out;
    assert_err(wf_wire_get_value(&r, &out), WEFT_EPROTO, needle);
    free(bytes);
}

static void put_array_head(wf_wbuf *w, uint8_t dt, uint8_t ndim,
                           const int64_t *shape)
{
    wf_wbuf_reset(w);
    wf_wbuf_put_u8(w, WEFT_T_ARRAY);
    wf_wbuf_put_u8(w, dt);
    wf_wbuf_put_u8(w, ndim);
    for (uint8_t i = 0; i < ndim; i++)
        wf_wbuf_put_i64(w, shape[i]);
}

static void test_value_decode_rejects(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_wbuf_put_u8(&w, 8);
    expect_bad_value(&w, "unknown value type 8 at byte 0");
    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, 255);
    expect_bad_value(&w, "unknown value type 255");

    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_BOOL);
    wf_wbuf_put_u8(&w, 2);
    expect_bad_value(&w, "bool value 2 is not 0 or 1 at byte 1");

    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_I64);
    wf_wbuf_put_u32(&w, 1);
    expect_bad_value(&w,
                     "truncated i64 value (needs 8 bytes, 4 left) at byte 1");

    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_BYTES);
    wf_wbuf_put_u8(&w, 3);
    expect_bad_value(&w, "unknown data placement 3 at byte 1");

    /* Remote placement: id 0, a holder with a space, too long a holder. */
    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_BYTES);
    wf_wbuf_put_u8(&w, WF_WIRE_REMOTE);
    wf_wbuf_put_u64(&w, 0);
    expect_bad_value(&w, "remote object id 0 at byte 2");
    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_BYTES);
    wf_wbuf_put_u8(&w, WF_WIRE_REMOTE);
    wf_wbuf_put_u64(&w, 7);
    wf_wbuf_put_u64(&w, 100);
    wf_wbuf_put_str(&w, "1.2.3.4: 5", 10);
    expect_bad_value(&w, "bad remote holder at byte 18");
    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_BYTES);
    wf_wbuf_put_u8(&w, WF_WIRE_REMOTE);
    wf_wbuf_put_u64(&w, 7);
    wf_wbuf_put_u64(&w, 100);
    char longh[WF_WIRE_HOLDER_MAX + 1];
    memset(longh, '1', sizeof longh);
    wf_wbuf_put_str(&w, longh, sizeof longh);
    expect_bad_value(&w, "longer than 80");
    /* An array whose remote length disagrees with its shape. */
    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_ARRAY);
    wf_wbuf_put_u8(&w, WEFT_DT_F64);
    wf_wbuf_put_u8(&w, 1);
    wf_wbuf_put_i64(&w, 4);
    wf_wbuf_put_u8(&w, WF_WIRE_REMOTE);
    wf_wbuf_put_u64(&w, 7);
    wf_wbuf_put_u64(&w, 31);
    wf_wbuf_put_str(&w, "", 0);
    expect_bad_value(&w, "array data of 31 bytes where shape and dtype make "
                         "32");

    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_STR);
    wf_wbuf_put_u8(&w, WF_WIRE_INLINE);
    wf_wbuf_put_u64(&w, UINT64_MAX);
    wf_wbuf_put_bytes(&w, "abc", 3);
    expect_bad_value(&w, "truncated data bytes (needs 18446744073709551615 "
                         "bytes, 3 left) at byte 10");

    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_STR);
    wf_wbuf_put_u8(&w, WF_WIRE_INLINE);
    wf_wbuf_put_u64(&w, 4);
    wf_wbuf_put_bytes(&w, "abc", 3);
    expect_bad_value(&w, "needs 4 bytes, 3 left");

    wf_wbuf_reset(&w);
    wf_wbuf_put_u8(&w, WEFT_T_BYTES);
    wf_wbuf_put_u8(&w, WF_WIRE_FD);
    wf_wbuf_put_u32(&w, 0);
    wf_wbuf_put_u64(&w, UINT64_MAX - 5);
    wf_wbuf_put_u64(&w, 6);
    expect_bad_value(&w, "overflows at byte 14");

    const int64_t s2[2] = {2, 3};
    put_array_head(&w, 0, 2, s2);
    expect_bad_value(&w, "unknown array dtype 0 at byte 1");
    put_array_head(&w, 7, 2, s2);
    expect_bad_value(&w, "unknown array dtype 7");

    const int64_t s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    put_array_head(&w, WEFT_DT_U8, 9, s9);
    expect_bad_value(&w, "array ndim 9 > 8 at byte 2");
    put_array_head(&w, WEFT_DT_U8, 0, s9);
    w.data[2] = 255; /* ndim, checked before any shape is read */
    expect_bad_value(&w, "array ndim 255");

    const int64_t sneg[3] = {2, -3, 4};
    put_array_head(&w, WEFT_DT_U8, 3, sneg);
    expect_bad_value(&w, "negative array shape[1] -3 at byte 11");

    const int64_t sbig[2] = {(int64_t)1 << 62, 4};
    put_array_head(&w, WEFT_DT_U8, 2, sbig);
    expect_bad_value(&w, "shape product overflows at byte 3");
    const int64_t sbig8[1] = {(int64_t)1 << 61};
    put_array_head(&w, WEFT_DT_F64, 1, sbig8); /* 2^61 * 8 > INT64_MAX */
    expect_bad_value(&w, "shape product overflows");
    const int64_t szero[3] = {0, (int64_t)1 << 40, (int64_t)1 << 40};
    put_array_head(&w, WEFT_DT_I32, 3, szero);
    expect_bad_value(&w, "shape product overflows");

    put_array_head(&w, WEFT_DT_F64, 2, s2);
    wf_wbuf_put_u8(&w, WF_WIRE_INLINE);
    wf_wbuf_put_u64(&w, 47);
    uint8_t zeros[48] = {0};
    wf_wbuf_put_bytes(&w, zeros, 47);
    expect_bad_value(&w,
                     "array data of 47 bytes where shape and dtype make 48");

    put_array_head(&w, WEFT_DT_F64, 2, s2);
    wf_wbuf_put_u8(&w, WF_WIRE_FD);
    wf_wbuf_put_u32(&w, 0);
    wf_wbuf_put_u64(&w, 0);
    wf_wbuf_put_u64(&w, 49);
    expect_bad_value(&w, "array data of 49 bytes");

    put_array_head(&w, WEFT_DT_BOOL, 2, s2);
    wf_wbuf_put_u8(&w, WF_WIRE_INLINE);
    wf_wbuf_put_u64(&w, 6);
    wf_wbuf_put_bytes(&w, "\1\0\1\3\0\0", 6);
    expect_bad_value(&w, "bool array element not 0 or 1 at byte 31");
    wf_wbuf_free(&w);
}

/* A remote placement carries id, length and holder, not the data; it
 * round-trips, and the encoder refuses what the decoder would. */
static void test_value_remote(void **state)
{
    int64_t shape[2] = {3, 5};
    weft_value arr = weft_array(WEFT_DT_I32, 2, shape, NULL);
    weft_value str = weft_str("not sent");
    wf_wire_place pl = {
        .remote = true, .remote_id = 42, .holder = "10.0.0.7:4100"};
    wf_wbuf w;
    wf_wbuf_init(&w);
    OK(wf_wire_put_value_at(&w, &arr, &pl));
    pl.holder = "";
    pl.remote_id = 1;
    OK(wf_wire_put_value_at(&w, &str, &pl));
    wf_rbuf r;
    wf_rbuf_init(&r, w.data, w.len);
    wf_wire_value a, b;
    OK(wf_wire_get_value(&r, &a));
    OK(wf_wire_get_value(&r, &b));
    assert_int_equal(wf_rbuf_left(&r), 0);
    assert_true(a.remote && !a.in_fd);
    assert_int_equal(a.remote_id, 42);
    assert_int_equal(a.fd_len, 3 * 5 * 4);
    assert_int_equal(a.holder_len, 13);
    assert_memory_equal(a.holder, "10.0.0.7:4100", 13);
    assert_null(a.v.u.arr.data);
    assert_int_equal(a.v.u.arr.shape[1], 5);
    assert_true(b.remote);
    assert_int_equal(b.remote_id, 1);
    assert_int_equal(b.v.u.buf.len, 8);
    assert_int_equal(b.holder_len, 0);
    assert_null(b.v.u.buf.data);
    /* Binding applies to fd placement only. */
    assert_int_equal(wf_wire_value_bind(&a, w.data, w.len), WEFT_EINVAL);

    size_t len = w.len;
    pl.remote_id = 0;
    assert_int_equal(wf_wire_put_value_at(&w, &str, &pl), WEFT_EINVAL);
    pl.remote_id = 3;
    pl.holder = "a b:1";
    assert_int_equal(wf_wire_put_value_at(&w, &str, &pl), WEFT_EINVAL);
    assert_int_equal(w.len, len); /* nothing appended */
    wf_wbuf_free(&w);
}

static void test_value_random_roundtrip(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    int n = scaled_by(20000, 4);
    for (int i = 0; i < n; i++) {
        gen_value g;
        gen_random(&g);
        wf_wbuf_reset(&w);
        assert_int_equal(wf_wire_put_value(&w, &g.v), 0);
        wf_rbuf r;
        wf_rbuf_init(&r, w.data, w.len);
        wf_wire_value out;
        assert_int_equal(wf_wire_get_value(&r, &out), 0);
        assert_int_equal(wf_rbuf_left(&r), 0);
        assert_true(value_equal(&g.v, &out.v));
        assert_inside(&out, w.data, w.len);
        /* Canonical: the decoded value encodes to the same bytes. */
        wf_wbuf again;
        wf_wbuf_init(&again);
        assert_int_equal(wf_wire_put_value(&again, &out.v), 0);
        assert_int_equal(again.len, w.len);
        assert_memory_equal(again.data, w.data, w.len);
        wf_wbuf_free(&again);
        gen_free(&g);
    }
    wf_wbuf_free(&w);
}

/* ------------------------------------------------------------- frames */

static void test_frame_header_bytes(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    assert_int_equal(wf_msg_put_shutdown(&w, 0x1122334455667788ull), 0);
    /* clang-format off */
    static const uint8_t want[WF_FRAME_HDR] = {
        0x46, 0x57, WEFT_WIRE_VERSION, WF_MSG_SHUTDOWN, /* magic, version */
        0, 0, 0, 0,                                     /* body length */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}; /* seq */
    /* clang-format on */
    assert_int_equal(w.len, WF_FRAME_HDR);
    assert_memory_equal(w.data, want, WF_FRAME_HDR);
    wf_wbuf_free(&w);
}

static void test_frame_parse_partial(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_msg_hello h = {1234, WEFT_WIRE_VERSION};
    assert_int_equal(wf_msg_put_hello(&w, 1, &h), 0);
    size_t first = w.len;
    assert_int_equal(wf_msg_put_shutdown(&w, 2), 0);
    for (size_t k = 0; k <= w.len; k++) {
        uint8_t *b = exact_copy(w.data, k);
        wf_frame f;
        weft_err e = wf_frame_parse(b, k, &f);
        if (k < first) {
            assert_int_equal(e, WF_FRAME_PARTIAL);
            assert_int_equal(f.size, k < WF_FRAME_HDR ? WF_FRAME_HDR : first);
        } else {
            assert_int_equal(e, 0);
            assert_int_equal(f.type, WF_MSG_HELLO);
            assert_int_equal(f.seq, 1);
            assert_int_equal(f.size, first);
            assert_int_equal(f.body_len, 8);
            wf_msg_hello got;
            assert_int_equal(wf_msg_get_hello(&f, &got), 0);
            assert_int_equal(got.pid, 1234);
            /* The next frame follows at f.size. */
            e = wf_frame_parse(b + f.size, k - f.size, &f);
            assert_int_equal(e, k == w.len ? 0 : WF_FRAME_PARTIAL);
        }
        free(b);
    }
    wf_wbuf_free(&w);
}

static weft_err parse_hdr(uint16_t magic, uint8_t version, uint8_t type,
                          uint32_t len, size_t have)
{
    uint8_t h[WF_FRAME_HDR] = {0};
    wf_store_le16(h, magic);
    h[2] = version;
    h[3] = type;
    wf_store_le32(h + 4, len);
    uint8_t *b = exact_copy(h, have);
    wf_frame f;
    weft_err e = wf_frame_parse(b, have, &f);
    free(b);
    return e;
}

static void test_frame_rejects(void **state)
{
    (void)state;
    const uint8_t v = WEFT_WIRE_VERSION;
    assert_int_equal(parse_hdr(0x5746, v, WF_MSG_RUN, 10, 16),
                     WF_FRAME_PARTIAL);
    /* Garbage is refused from the first field that shows it. */
    assert_int_equal(parse_hdr(0x4657, v, WF_MSG_RUN, 10, 1), WF_FRAME_PARTIAL);
    assert_err(parse_hdr(0x4657, v, WF_MSG_RUN, 10, 2), WEFT_EPROTO,
               "bad frame magic 0x4657 at byte 0");
    char newer[64];
    snprintf(newer, sizeof newer, "wire version %d at byte 2", v + 1);
    assert_err(parse_hdr(0x5746, v + 1, WF_MSG_RUN, 10, 3), WEFT_EPROTO, newer);
    assert_err(parse_hdr(0x5746, 0, WF_MSG_RUN, 10, 16), WEFT_EPROTO,
               "wire version 0");
    assert_err(parse_hdr(0x5746, v, 0, 10, 4), WEFT_EPROTO,
               "unknown message type 0 at byte 3");
    char unknown[40];
    snprintf(unknown, sizeof unknown, "unknown message type %d", WF_MSG__END);
    assert_err(parse_hdr(0x5746, v, WF_MSG__END, 0, 16), WEFT_EPROTO, unknown);
    assert_err(parse_hdr(0x5746, v, 255, 0, 16), WEFT_EPROTO,
               "unknown message type 255");
    assert_int_equal(parse_hdr(0x5746, v, WF_MSG_DONE, WF_FRAME_MAX_BODY, 8),
                     WF_FRAME_PARTIAL);
    assert_err(parse_hdr(0x5746, v, WF_MSG_DONE, WF_FRAME_MAX_BODY + 1, 8),
               WEFT_EPROTO, "DONE body of 67108865 bytes at byte 4");
    assert_err(parse_hdr(0x5746, v, WF_MSG_DONE, UINT32_MAX, 16), WEFT_EPROTO,
               "exceeds the limit");
    wf_frame f;
    assert_int_equal(wf_frame_parse(NULL, 0, &f), WF_FRAME_PARTIAL);
}

static void test_frame_too_big_to_send(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_wbuf_put_u8(&w, 0xee); /* an earlier frame's byte stays */
    size_t start = wf_frame_begin(&w, WF_MSG_DONE, 9);
    size_t n = WF_FRAME_MAX_BODY + 1;
    uint8_t *big = calloc(1, n);
    wf_wbuf_put_bytes(&w, big, n);
    free(big);
    assert_err(wf_frame_finish(&w, start), WEFT_ERANGE, "exceeds the limit");
    assert_int_equal(w.len, 1);

    /* A RUN whose inline args are too big fails the same way, whole. */
    uint8_t *data = calloc(1, WF_FRAME_MAX_BODY);
    weft_value args[1] = {weft_bytes(data, WF_FRAME_MAX_BODY)};
    wf_msg_run m = {WF_RUN_TASK, 0, "f", 1, 1, 1};
    assert_err(wf_msg_put_run(&w, 1, &m, args, NULL), WEFT_ERANGE,
               "must travel in an fd");
    assert_int_equal(w.len, 1);
    /* ... and fits when its bytes are placed in an fd. */
    wf_wire_place place[1] = {{.in_fd = true}};
    assert_int_equal(wf_msg_put_run(&w, 1, &m, args, place), 0);
    free(data);
    wf_wbuf_free(&w);
}

/* ----------------------------------------------------------- messages */

/* Build a frame of the given type around hand-made body bytes. */
static void frame_around(wf_wbuf *out, wf_msg_type type, const wf_wbuf *body)
{
    wf_wbuf_reset(out);
    size_t start = wf_frame_begin(out, type, 77);
    wf_wbuf_put_bytes(out, body->data, body->len);
    assert_int_equal(wf_frame_finish(out, start), 0);
}

static wf_wire_value decoded[WF_RUN_MAX_ARGS];

/* Parse the frame in bytes[0..n) (copied to an exact heap block), decode its
 * body as its type says; returns the decoder's result. */
static weft_err decode_frame(const uint8_t *bytes, size_t n, size_t max_vals)
{
    uint8_t *b = exact_copy(bytes, n);
    wf_frame f;
    weft_err e = wf_frame_parse(b, n, &f);
    if (e == 0) {
        wf_msg_run run;
        wf_msg_done done;
        wf_msg_hello hello;
        switch (f.type) {
        case WF_MSG_RUN:
            e = wf_msg_get_run(&f, &run, decoded, max_vals);
            for (uint32_t i = 0; e == 0 && i < run.nargs; i++)
                assert_inside(&decoded[i], b, n);
            if (e == 0 && run.name_len)
                assert_true((const uint8_t *)run.name >= b &&
                            (const uint8_t *)run.name + run.name_len <= b + n);
            break;
        case WF_MSG_DONE:
            e = wf_msg_get_done(&f, &done, decoded, max_vals);
            for (uint32_t i = 0; e == 0 && i < done.nvalues; i++)
                assert_inside(&decoded[i], b, n);
            break;
        case WF_MSG_HELLO:
            e = wf_msg_get_hello(&f, &hello);
            break;
        case WF_MSG_SHUTDOWN:
            e = wf_msg_get_shutdown(&f);
            break;
        default: /* handshake frames: their bodies are net/auth's */
            e = WEFT_EPROTO;
            break;
        }
    }
    free(b);
    return e;
}

static weft_err decode_body(wf_msg_type type, const wf_wbuf *body,
                            size_t max_vals)
{
    wf_wbuf fr;
    wf_wbuf_init(&fr);
    frame_around(&fr, type, body);
    weft_err e = decode_frame(fr.data, fr.len, max_vals);
    wf_wbuf_free(&fr);
    return e;
}

static void put_run_head(wf_wbuf *b, uint8_t kind, const char *name,
                         uint32_t nret, uint32_t nargs)
{
    wf_wbuf_reset(b);
    wf_wbuf_put_u8(b, kind);
    wf_wbuf_put_u64(b, 5);
    wf_wbuf_put_str(b, name, strlen(name));
    wf_wbuf_put_u32(b, nret);
    wf_wbuf_put_u32(b, nargs);
}

static void test_run_roundtrip(void **state)
{
    (void)state;
    const int64_t shape[2] = {2, 2};
    const double d[4] = {1, 2, 3, 4};
    weft_value args[5] = {weft_i64(-7), weft_f64(0.5), weft_bool(false),
                          weft_bytes("xyz", 3),
                          weft_array(WEFT_DT_F64, 2, shape, d)};
    wf_msg_run m = {WF_RUN_ACTOR_CALL, 42, "add", 3, 2, 5};
    wf_wbuf w;
    wf_wbuf_init(&w);
    assert_int_equal(wf_msg_put_run(&w, 99, &m, args, NULL), 0);
    wf_frame f;
    assert_int_equal(wf_frame_parse(w.data, w.len, &f), 0);
    assert_int_equal(f.type, WF_MSG_RUN);
    assert_int_equal(f.seq, 99);
    assert_int_equal(f.size, w.len);
    wf_msg_run got;
    wf_wire_value vals[5];
    assert_int_equal(wf_msg_get_run(&f, &got, vals, 5), 0);
    assert_int_equal(got.kind, WF_RUN_ACTOR_CALL);
    assert_int_equal(got.actor_id, 42);
    assert_int_equal(got.name_len, 3);
    assert_memory_equal(got.name, "add", 3);
    assert_int_equal(got.num_returns, 2);
    assert_int_equal(got.nargs, 5);
    for (int i = 0; i < 5; i++)
        assert_true(value_equal(&args[i], &vals[i].v));
    /* One slot short of the args is a protocol error, not an overflow. */
    assert_err(wf_msg_get_run(&f, &got, vals, 4), WEFT_EPROTO,
               "RUN nargs 5, but room for only 4");
    /* Asking the wrong decoder is the caller's mistake. */
    wf_msg_done done;
    assert_err(wf_msg_get_done(&f, &done, vals, 5), WEFT_EINVAL,
               "decoding a RUN frame as DONE");

    /* A bad byte deep inside is reported at its offset in the frame. */
    wf_wbuf_reset(&w);
    weft_value b1[1] = {weft_bool(true)};
    wf_msg_run m1 = {WF_RUN_TASK, 0, "f", 1, 1, 1};
    assert_int_equal(wf_msg_put_run(&w, 1, &m1, b1, NULL), 0);
    w.data[w.len - 1] = 2;
    char want[64];
    snprintf(want, sizeof want, "bool value 2 is not 0 or 1 at byte %zu",
             w.len - 1);
    assert_err(decode_frame(w.data, w.len, 1), WEFT_EPROTO, want);
    wf_wbuf_free(&w);
}

static void test_run_rejects(void **state)
{
    (void)state;
    wf_wbuf b;
    wf_wbuf_init(&b);
    put_run_head(&b, 0, "f", 1, 0);
    assert_int_equal(decode_body(WF_MSG_RUN, &b, 0), 0);
    wf_wbuf_put_u8(&b, 0);
    assert_err(decode_body(WF_MSG_RUN, &b, 0), WEFT_EPROTO,
               "1 trailing bytes after RUN body at byte 38");
    put_run_head(&b, 4, "f", 1, 0);
    assert_err(decode_body(WF_MSG_RUN, &b, 0), WEFT_EPROTO,
               "unknown RUN kind 4 at byte 16");
    put_run_head(&b, 0, "f", 0, 0);
    assert_err(decode_body(WF_MSG_RUN, &b, 0), WEFT_EPROTO,
               "RUN num_returns 0 not in 1..1024");
    put_run_head(&b, 0, "f", 1025, 0);
    assert_err(decode_body(WF_MSG_RUN, &b, 0), WEFT_EPROTO,
               "RUN num_returns 1025");
    put_run_head(&b, 0, "f", 1, 4097);
    assert_err(decode_body(WF_MSG_RUN, &b, WF_RUN_MAX_ARGS), WEFT_EPROTO,
               "RUN nargs 4097 > 4096");
    put_run_head(&b, 0, "f", 1, 3);
    assert_err(decode_body(WF_MSG_RUN, &b, 2), WEFT_EPROTO, "room for only 2");
    put_run_head(&b, 0, "f", 1, 1);
    assert_err(decode_body(WF_MSG_RUN, &b, 2), WEFT_EPROTO,
               "truncated value type");
    wf_wbuf_reset(&b);
    wf_wbuf_put_u8(&b, 0);
    wf_wbuf_put_u64(&b, 0);
    wf_wbuf_put_str(&b, "f\0g", 3);
    wf_wbuf_put_u32(&b, 1);
    wf_wbuf_put_u32(&b, 0);
    assert_err(decode_body(WF_MSG_RUN, &b, 0), WEFT_EPROTO,
               "RUN name holds a NUL byte");
    char *longname = malloc(WF_WIRE_NAME_MAX + 2);
    memset(longname, 'n', WF_WIRE_NAME_MAX + 1);
    longname[WF_WIRE_NAME_MAX + 1] = '\0';
    put_run_head(&b, 0, longname, 1, 0);
    assert_err(decode_body(WF_MSG_RUN, &b, 0), WEFT_EPROTO,
               "RUN name of 4097 bytes is longer than 4096");

    /* The encoder refuses the same things and leaves w as it was. */
    wf_wbuf w;
    wf_wbuf_init(&w);
    weft_value ok = weft_i64(1);
    weft_value bad = {.type = (weft_type)42};
    weft_value two[2] = {ok, bad};
    const wf_msg_run runs[] = {
        {(wf_run_kind)4, 0, "f", 1, 1, 0},
        {WF_RUN_TASK, 0, "f", 1, 0, 0},
        {WF_RUN_TASK, 0, "f", 1, 1025, 0},
        {WF_RUN_TASK, 0, "f", 1, 1, 4097},
        {WF_RUN_TASK, 0, NULL, 1, 1, 0},
        {WF_RUN_TASK, 0, "f\0g", 3, 1, 0},
        {WF_RUN_TASK, 0, longname, WF_WIRE_NAME_MAX + 1, 1, 0},
        {WF_RUN_TASK, 0, "f", 1, 1, 2},
    };
    wf_wbuf_put_u8(&w, 0xee);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        assert_err(wf_msg_put_run(&w, 1, &runs[i], two, NULL), WEFT_EINVAL,
                   NULL);
        assert_int_equal(w.len, 1);
    }
    wf_msg_run noargs = {WF_RUN_TASK, 0, "f", 1, 1, 1};
    assert_err(wf_msg_put_run(&w, 1, &noargs, NULL, NULL), WEFT_EINVAL,
               "values at NULL");
    free(longname);
    wf_wbuf_free(&w);
    wf_wbuf_free(&b);
}

static void test_done_roundtrip(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    weft_value vals[2] = {weft_i64(3), weft_bytes("ok", 2)};
    wf_msg_done m = {0, 2, NULL, 0};
    assert_int_equal(wf_msg_put_done(&w, 5, &m, vals, NULL), 0);
    wf_frame f;
    assert_int_equal(wf_frame_parse(w.data, w.len, &f), 0);
    wf_msg_done got;
    wf_wire_value out[2];
    assert_int_equal(wf_msg_get_done(&f, &got, out, 2), 0);
    assert_int_equal(got.status, 0);
    assert_int_equal(got.nvalues, 2);
    assert_true(value_equal(&vals[0], &out[0].v));
    assert_true(value_equal(&vals[1], &out[1].v));
    assert_err(wf_msg_get_done(&f, &got, out, 1), WEFT_EPROTO,
               "DONE nvalues 2, but room for only 1");

    wf_wbuf_reset(&w);
    wf_msg_done err = {WEFT_ETASK, 0, "bad weight", 10};
    assert_int_equal(wf_msg_put_done(&w, 6, &err, NULL, NULL), 0);
    assert_int_equal(wf_frame_parse(w.data, w.len, &f), 0);
    assert_int_equal(wf_msg_get_done(&f, &got, NULL, 0), 0);
    assert_int_equal(got.status, WEFT_ETASK);
    assert_int_equal(got.nvalues, 0);
    assert_int_equal(got.message_len, 10);
    assert_memory_equal(got.message, "bad weight", 10);

    /* A too-long message is cut, at a character boundary, not refused:
     * 'x' then two-byte characters, so byte 65536 is inside one. */
    size_t n = WF_DONE_MAX_MESSAGE + 11;
    char *text = malloc(n);
    text[0] = 'x';
    for (size_t i = 1; i + 1 < n; i += 2) {
        text[i] = (char)0xc3;
        text[i + 1] = (char)0xa9;
    }
    wf_wbuf_reset(&w);
    wf_msg_done big = {WEFT_ETASK, 0, text, n};
    assert_int_equal(wf_msg_put_done(&w, 7, &big, NULL, NULL), 0);
    assert_int_equal(wf_frame_parse(w.data, w.len, &f), 0);
    assert_int_equal(wf_msg_get_done(&f, &got, NULL, 0), 0);
    assert_int_equal(got.message_len, WF_DONE_MAX_MESSAGE - 1);
    assert_memory_equal(got.message, text, got.message_len);
    free(text);

    /* The encoder refuses what the decoder would. */
    wf_wbuf_reset(&w);
    wf_msg_done bad[] = {{1, 0, NULL, 0},
                         {0, WF_RUN_MAX_RETURNS + 1, NULL, 0},
                         {WEFT_ETASK, 0, NULL, 3},
                         {0, 1, NULL, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_err(wf_msg_put_done(&w, 1, &bad[i], NULL, NULL), WEFT_EINVAL,
                   NULL);
        assert_int_equal(w.len, 0);
    }
    wf_wbuf_free(&w);
}

static void test_done_rejects(void **state)
{
    (void)state;
    wf_wbuf b;
    wf_wbuf_init(&b);
    wf_wbuf_put_i32(&b, 1);
    wf_wbuf_put_u32(&b, 0);
    assert_err(decode_body(WF_MSG_DONE, &b, 4), WEFT_EPROTO,
               "DONE status 1 is not 0 or an error at byte 16");
    wf_wbuf_reset(&b);
    wf_wbuf_put_i32(&b, 0);
    assert_err(decode_body(WF_MSG_DONE, &b, 4), WEFT_EPROTO,
               "truncated DONE nvalues");
    wf_wbuf_put_u32(&b, WF_RUN_MAX_RETURNS + 1);
    assert_err(decode_body(WF_MSG_DONE, &b, WF_RUN_MAX_ARGS), WEFT_EPROTO,
               "DONE nvalues 1025 > 1024 at byte 20");
    wf_wbuf_reset(&b);
    wf_wbuf_put_i32(&b, 0);
    wf_wbuf_put_u32(&b, 2);
    wf_wbuf_put_u8(&b, WEFT_T_NONE);
    assert_err(decode_body(WF_MSG_DONE, &b, 4), WEFT_EPROTO,
               "truncated value type");
    wf_wbuf_put_u8(&b, WEFT_T_NONE);
    assert_int_equal(decode_body(WF_MSG_DONE, &b, 4), 0);
    wf_wbuf_put_u8(&b, WEFT_T_NONE);
    assert_err(decode_body(WF_MSG_DONE, &b, 4), WEFT_EPROTO,
               "1 trailing bytes after DONE body");

    wf_wbuf_reset(&b);
    wf_wbuf_put_i32(&b, WEFT_ECRASHED);
    size_t n = WF_DONE_MAX_MESSAGE + 1;
    char *text = calloc(1, n);
    wf_wbuf_put_str(&b, text, n);
    free(text);
    assert_err(decode_body(WF_MSG_DONE, &b, 4), WEFT_EPROTO,
               "DONE message of 65537 bytes is longer than 65536 at byte 20");
    wf_wbuf_free(&b);
}

static void test_hello_and_shutdown(void **state)
{
    (void)state;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_msg_hello h = {4242, WEFT_WIRE_VERSION};
    assert_int_equal(wf_msg_put_hello(&w, 0, &h), 0);
    assert_int_equal(decode_frame(w.data, w.len, 0), 0);
    wf_frame f;
    assert_int_equal(wf_frame_parse(w.data, w.len, &f), 0);
    assert_err(wf_msg_get_shutdown(&f), WEFT_EINVAL, "HELLO frame as SHUTDOWN");

    wf_wbuf b;
    wf_wbuf_init(&b);
    wf_wbuf_put_u32(&b, 1);
    wf_wbuf_put_u32(&b, WEFT_WIRE_VERSION + 1);
    char want[64];
    snprintf(want, sizeof want,
             "HELLO from wire version %d, want %d at byte 20",
             WEFT_WIRE_VERSION + 1, WEFT_WIRE_VERSION);
    assert_err(decode_body(WF_MSG_HELLO, &b, 0), WEFT_EPROTO, want);
    wf_wbuf_reset(&b);
    wf_wbuf_put_u32(&b, 1);
    assert_err(decode_body(WF_MSG_HELLO, &b, 0), WEFT_EPROTO,
               "truncated HELLO version");
    wf_wbuf_put_u32(&b, WEFT_WIRE_VERSION);
    wf_wbuf_put_u8(&b, 0);
    assert_err(decode_body(WF_MSG_HELLO, &b, 0), WEFT_EPROTO,
               "1 trailing bytes after HELLO body at byte 24");
    wf_wbuf_reset(&b);
    assert_int_equal(decode_body(WF_MSG_SHUTDOWN, &b, 0), 0);
    wf_wbuf_put_u8(&b, 0);
    assert_err(decode_body(WF_MSG_SHUTDOWN, &b, 0), WEFT_EPROTO,
               "1 trailing bytes after SHUTDOWN body at byte 16");
    wf_wbuf_free(&b);
    wf_wbuf_free(&w);
}

/* ------------------------------------------------ random messages */

#define GEN_MAXV 24

/* A random message as sent, to compare with what is decoded. */
typedef struct gen_msg {
    wf_msg_type type;
    uint64_t seq;
    wf_msg_run run;
    wf_msg_done done;
    wf_msg_hello hello;
    char text[64];
    uint32_t nvals;
    gen_value g[GEN_MAXV];
    weft_value v[GEN_MAXV];
    wf_wire_place place[GEN_MAXV];
} gen_msg;

static size_t gen_text(char *t)
{
    size_t n = xorshift_below(&rng, 64);
    for (size_t i = 0; i < n; i++)
        t[i] = (char)('a' + xorshift_below(&rng, 26));
    return n;
}

/* Random values; a third of those with data are placed "in an fd", whose
 * bytes are appended to fdmem (one memory standing for every fd). */
static void gen_values(gen_msg *m, wf_wbuf *fdmem)
{
    m->nvals = (uint32_t)(xorshift_below(&rng, 8) == 0
                              ? xorshift_below(&rng, GEN_MAXV + 1)
                              : xorshift_below(&rng, 4));
    for (uint32_t i = 0; i < m->nvals; i++) {
        gen_random(&m->g[i]);
        m->v[i] = m->g[i].v;
        weft_type t = m->v[i].type;
        bool has_data =
            t == WEFT_T_STR || t == WEFT_T_BYTES || t == WEFT_T_ARRAY;
        if (!has_data || xorshift_below(&rng, 3) != 0)
            continue;
        m->place[i] =
            (wf_wire_place){.in_fd = true,
                            .fd_index = (uint32_t)xorshift_below(&rng, 4),
                            .offset = fdmem->len};
        wf_wbuf_put_bytes(fdmem, value_data(&m->v[i]),
                          (size_t)value_nbytes(&m->v[i]));
    }
}

static void gen_msg_put(gen_msg *m, wf_wbuf *w, wf_wbuf *fdmem)
{
    memset(m, 0, sizeof *m);
    m->seq = xorshift_next(&rng);
    uint64_t pick = xorshift_below(&rng, 6);
    if (pick < 3) {
        m->type = WF_MSG_RUN;
        gen_values(m, fdmem);
        m->run = (wf_msg_run){
            (wf_run_kind)xorshift_below(&rng, 4),
            xorshift_next(&rng),
            m->text,
            gen_text(m->text),
            (uint32_t)(1 + xorshift_below(&rng, WF_RUN_MAX_RETURNS)),
            m->nvals};
        assert_int_equal(wf_msg_put_run(w, m->seq, &m->run, m->v, m->place), 0);
    } else if (pick < 5) {
        m->type = WF_MSG_DONE;
        if (xorshift_below(&rng, 4) == 0) {
            m->done = (wf_msg_done){-(weft_err)(1 + xorshift_below(&rng, 21)),
                                    0, m->text, gen_text(m->text)};
        } else {
            gen_values(m, fdmem);
            m->done = (wf_msg_done){0, m->nvals, NULL, 0};
        }
        assert_int_equal(wf_msg_put_done(w, m->seq, &m->done, m->v, m->place),
                         0);
    } else if (xorshift_next(&rng) & 1) {
        m->type = WF_MSG_HELLO;
        m->hello =
            (wf_msg_hello){(uint32_t)xorshift_next(&rng), WEFT_WIRE_VERSION};
        assert_int_equal(wf_msg_put_hello(w, m->seq, &m->hello), 0);
    } else {
        m->type = WF_MSG_SHUTDOWN;
        assert_int_equal(wf_msg_put_shutdown(w, m->seq), 0);
    }
}

static void gen_msg_free(gen_msg *m)
{
    for (uint32_t i = 0; i < m->nvals; i++)
        gen_free(&m->g[i]);
}

static void check_values(const gen_msg *m, wf_wire_value *d, uint32_t n,
                         const wf_wbuf *fdmem)
{
    assert_int_equal(n, m->nvals);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(d[i].in_fd, m->place[i].in_fd);
        if (d[i].in_fd) {
            assert_int_equal(d[i].fd_index, m->place[i].fd_index);
            assert_true(d[i].fd_offset == m->place[i].offset);
            assert_int_equal(wf_wire_value_bind(&d[i], fdmem->data, fdmem->len),
                             0);
        }
        assert_true(value_equal(&m->v[i], &d[i].v));
    }
}

static void gen_msg_check(const gen_msg *m, const wf_frame *f,
                          const wf_wbuf *fdmem)
{
    assert_int_equal(f->type, m->type);
    assert_true(f->seq == m->seq);
    wf_msg_run run;
    wf_msg_done done;
    wf_msg_hello hello;
    switch (m->type) {
    case WF_MSG_RUN:
        assert_int_equal(wf_msg_get_run(f, &run, decoded, WF_RUN_MAX_ARGS), 0);
        assert_int_equal(run.kind, m->run.kind);
        assert_true(run.actor_id == m->run.actor_id);
        assert_int_equal(run.name_len, m->run.name_len);
        assert_memory_equal(run.name, m->text, run.name_len);
        assert_int_equal(run.num_returns, m->run.num_returns);
        check_values(m, decoded, run.nargs, fdmem);
        break;
    case WF_MSG_DONE:
        assert_int_equal(wf_msg_get_done(f, &done, decoded, WF_RUN_MAX_ARGS),
                         0);
        assert_int_equal(done.status, m->done.status);
        assert_int_equal(done.message_len, m->done.message_len);
        assert_memory_equal(done.message, m->text, done.message_len);
        if (done.status == 0)
            check_values(m, decoded, done.nvalues, fdmem);
        break;
    case WF_MSG_HELLO:
        assert_int_equal(wf_msg_get_hello(f, &hello), 0);
        assert_int_equal(hello.pid, m->hello.pid);
        break;
    default:
        assert_int_equal(wf_msg_get_shutdown(f), 0);
        break;
    }
}

/* Thousands of random messages in one stream, arriving in random pieces as
 * from a socket, each parsed and decoded back to what was sent. */
static void test_msg_random_stream(void **state)
{
    (void)state;
    size_t n = (size_t)scaled_by(4000, 4);
    gen_msg *msgs = calloc(n, sizeof *msgs);
    wf_wbuf stream, fdmem;
    wf_wbuf_init(&stream);
    wf_wbuf_init(&fdmem);
    for (size_t i = 0; i < n; i++)
        gen_msg_put(&msgs[i], &stream, &fdmem);
    assert_int_equal(wf_wbuf_status(&stream), 0);
    assert_int_equal(wf_wbuf_status(&fdmem), 0);

    uint8_t *acc = malloc(stream.len);
    size_t have = 0, pos = 0, got = 0;
    while (have < stream.len) {
        size_t chunk =
            1 + xorshift_below(&rng, xorshift_below(&rng, 4) == 0 ? 16 : 8192);
        if (chunk > stream.len - have)
            chunk = stream.len - have;
        memcpy(acc + have, stream.data + have, chunk);
        have += chunk;
        for (;;) {
            wf_frame f;
            weft_err e = wf_frame_parse(acc + pos, have - pos, &f);
            if (e == WF_FRAME_PARTIAL)
                break;
            assert_int_equal(e, 0);
            assert_true(got < n);
            gen_msg_check(&msgs[got++], &f, &fdmem);
            pos += f.size;
        }
    }
    assert_int_equal(got, n);
    assert_int_equal(pos, stream.len);
    for (size_t i = 0; i < n; i++)
        gen_msg_free(&msgs[i]);
    free(msgs);
    free(acc);
    wf_wbuf_free(&stream);
    wf_wbuf_free(&fdmem);
}

/* The first k bytes of a frame's body under a header saying k bytes. */
static uint8_t *truncated_frame(const uint8_t *frame, size_t k)
{
    uint8_t *b = malloc(WF_FRAME_HDR + k);
    memcpy(b, frame, WF_FRAME_HDR + k);
    wf_store_le32(b + 4, (uint32_t)k);
    return b;
}

/* Every strict prefix of a message fails: as a stream it is incomplete,
 * and as a body cut short (with a header that agrees) it does not decode. */
static void test_msg_truncation(void **state)
{
    (void)state;
    wf_wbuf w, fdmem;
    wf_wbuf_init(&w);
    wf_wbuf_init(&fdmem);
    int iters = scaled_by(400, 4);
    for (int it = 0; it < iters; it++) {
        gen_msg m;
        wf_wbuf_reset(&w);
        gen_msg_put(&m, &w, &fdmem);
        size_t body = w.len - WF_FRAME_HDR;
        size_t tries = body <= 1024 ? body : 400;
        for (size_t t = 0; t < tries; t++) {
            size_t k = body <= 1024 ? t : xorshift_below(&rng, body);
            uint8_t *b = truncated_frame(w.data, k);
            weft_err e = decode_frame(b, WF_FRAME_HDR + k, WF_RUN_MAX_ARGS);
            if (e != WEFT_EPROTO)
                fail_msg("type %d body cut to %zu of %zu: got %d", (int)m.type,
                         k, body, e);
            free(b);
        }
        for (size_t t = 0; t < (w.len <= 1024 ? w.len : 200); t++) {
            size_t k = w.len <= 1024 ? t : xorshift_below(&rng, w.len);
            assert_int_equal(decode_frame(w.data, k, WF_RUN_MAX_ARGS),
                             WF_FRAME_PARTIAL);
        }
        gen_msg_free(&m);
    }
    wf_wbuf_free(&w);
    wf_wbuf_free(&fdmem);
}

/* Random damage gives a valid message or an error, never a crash or a read
 * outside the bytes (decode_frame checks where decoded pointers point). */
static void test_msg_byte_flips(void **state)
{
    (void)state;
    wf_wbuf w, fdmem;
    wf_wbuf_init(&w);
    wf_wbuf_init(&fdmem);
    int iters = scaled_by(40000, 4);
    int ok = 0, bad = 0;
    for (int it = 0; it < iters; it++) {
        gen_msg m;
        wf_wbuf_reset(&w);
        gen_msg_put(&m, &w, &fdmem);
        gen_msg_free(&m);
        int flips = 1 + (int)xorshift_below(&rng, 4);
        for (int j = 0; j < flips; j++) {
            /* Mostly the body; the header is refused early anyway. */
            size_t pos = xorshift_below(&rng, 4) == 0
                             ? xorshift_below(&rng, WF_FRAME_HDR)
                             : xorshift_below(&rng, w.len);
            w.data[pos] ^= (uint8_t)(1 + xorshift_below(&rng, 255));
        }
        weft_err e = decode_frame(w.data, w.len, WF_RUN_MAX_ARGS);
        assert_true(e == 0 || e == WF_FRAME_PARTIAL || e == WEFT_EPROTO);
        if (e == 0)
            ok++;
        else
            bad++;
        if (fdmem.len > (1u << 20))
            wf_wbuf_reset(&fdmem);
    }
    print_message("byte flips: %d decoded, %d refused\n", ok, bad);
    wf_wbuf_free(&w);
    wf_wbuf_free(&fdmem);
}

/* Every allocation an encoder makes may fail: it then reports ENOMEM,
 * appends nothing and leaks nothing. */
static void test_msg_alloc_failure(void **state)
{
    (void)state;
    uint64_t base = wf_alloc_bytes();
    static uint8_t blob[1000];
    weft_value args[10];
    for (int i = 0; i < 10; i++)
        args[i] = weft_bytes(blob, sizeof blob);
    wf_msg_run m = {WF_RUN_TASK, 0, "f", 1, 1, 10};
    int k;
    for (k = 1;; k++) {
        wf_wbuf w;
        wf_wbuf_init(&w);
        wf_alloc_fail_after((uint64_t)k);
        weft_err e = wf_msg_put_run(&w, 1, &m, args, NULL);
        wf_alloc_fail_after(0);
        if (e == 0) {
            assert_int_equal(decode_frame(w.data, w.len, 10), 0);
            wf_wbuf_free(&w);
            break;
        }
        assert_err(e, WEFT_ENOMEM, "out of memory");
        assert_int_equal(w.len, 0);
        wf_wbuf_free(&w);
        assert_true(wf_alloc_bytes() == base);
    }
    assert_true(k > 3);
    assert_true(wf_alloc_bytes() == base);
}

/* ------------------------------------------------------------ sockets */

static void test_sock_memfd_passing(void **state)
{
    (void)state;
    int before = count_open_fds();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int mfd = memfd_create("wire_test", MFD_CLOEXEC);
    assert_true(mfd >= 0);
    double arr[1000];
    for (int i = 0; i < 1000; i++)
        arr[i] = i * 0.5;
    assert_int_equal(pwrite(mfd, arr, sizeof arr, 64), sizeof arr);

    const int64_t shape[2] = {10, 100};
    weft_value args[2] = {weft_array(WEFT_DT_F64, 2, shape, NULL),
                          {.type = WEFT_T_STR, .u.buf = {"label", 5}}};
    wf_wire_place place[2] = {{.in_fd = true, .offset = 64}, {0}};
    wf_msg_run m = {WF_RUN_TASK, 0, "sum", 3, 1, 2};
    wf_wbuf w;
    wf_wbuf_init(&w);
    assert_int_equal(wf_msg_put_run(&w, 7, &m, args, place), 0);
    assert_int_equal(wf_sock_send(sv[0], w.data, w.len, &mfd, 1), 0);
    close(mfd); /* the peer holds its own copy now */

    uint8_t buf[4096];
    size_t have = 0, nfds = 0;
    int fds[4];
    wf_frame f;
    while (wf_frame_parse(buf, have, &f) == WF_FRAME_PARTIAL) {
        size_t k;
        ssize_t n = wf_sock_recv(sv[1], buf + have, sizeof buf - have,
                                 fds + nfds, 4 - nfds, &k);
        assert_true(n > 0);
        have += (size_t)n;
        nfds += k;
    }
    assert_int_equal(nfds, 1);
    assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    wf_msg_run got;
    wf_wire_value vals[2];
    assert_int_equal(wf_msg_get_run(&f, &got, vals, 2), 0);
    assert_true(vals[0].in_fd);
    assert_int_equal(vals[0].fd_index, 0);

    struct stat st;
    assert_int_equal(fstat(fds[0], &st), 0);
    assert_int_equal(st.st_size, 64 + sizeof arr);
    void *map =
        mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fds[0], 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(wf_wire_value_bind(&vals[0], map, (uint64_t)st.st_size),
                     0);
    assert_memory_equal(vals[0].v.u.arr.data, arr, sizeof arr);
    assert_true(value_equal(&args[1], &vals[1].v));
    munmap(map, (size_t)st.st_size);
    close(fds[0]);
    close(sv[0]);
    close(sv[1]);
    wf_wbuf_free(&w);
    assert_int_equal(count_open_fds(), before);
}

typedef struct sender {
    int sock;
    const uint8_t *data;
    size_t first, second, len; /* frame A at 0, frame B at first, the rest
                                  from second on */
    int fd_a, fd_b;
    weft_err err;
} sender;

static void *sender_main(void *p)
{
    sender *s = p;
    s->err = wf_sock_send(s->sock, s->data, s->first, &s->fd_a, 1);
    if (!s->err)
        s->err = wf_sock_send(s->sock, s->data + s->first, s->second - s->first,
                              &s->fd_b, 1);
    if (!s->err)
        s->err = wf_sock_send(s->sock, s->data + s->second, s->len - s->second,
                              NULL, 0);
    return NULL;
}

static int memfd_with(const void *p, size_t n)
{
    int fd = memfd_create("wire_test", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    return fd;
}

static void set_nonblocking(int fd)
{
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* Bind value v placed in fd to that fd's contents and compare with want. */
static void check_fd_value(wf_wire_value *v, int fd, const weft_value *want)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(wf_wire_value_bind(v, map, (uint64_t)st.st_size), 0);
    assert_true(value_equal(want, &v->v));
    munmap(map, (size_t)st.st_size);
}

/* A big frame with an fd, a second frame with another fd, then a batch of
 * small frames, through non-blocking sockets read in random pieces: every
 * byte arrives, and each fd arrives with the recv holding the first byte of
 * its frame, as wire/sock.h promises. */
static void test_sock_stream_and_fd_owner(void **state)
{
    (void)state;
    int before = count_open_fds();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);

    size_t big = 8u << 20;
    uint8_t *blob = malloc(big);
    fill_data(blob, big, WEFT_DT_U8);
    const char a_text[] = "in memfd A";
    const int64_t shape[1] = {3};
    const int32_t b_ints[3] = {-1, 0, 7};
    weft_value a_args[2] = {weft_bytes(blob, big),
                            weft_bytes(a_text, sizeof a_text)};
    weft_value b_vals[1] = {weft_array(WEFT_DT_I32, 1, shape, b_ints)};
    wf_wire_place a_place[2] = {{0}, {.in_fd = true}};
    wf_wire_place b_place[1] = {{.in_fd = true}};
    wf_msg_run run = {WF_RUN_TASK, 0, "big", 3, 1, 2};
    wf_msg_done done = {0, 1, NULL, 0};

    wf_wbuf w;
    wf_wbuf_init(&w);
    assert_int_equal(wf_msg_put_run(&w, 1, &run, a_args, a_place), 0);
    size_t first = w.len;
    assert_int_equal(wf_msg_put_done(&w, 2, &done, b_vals, b_place), 0);
    size_t second = w.len;
    for (int i = 0; i < 10; i++)
        assert_int_equal(wf_msg_put_shutdown(&w, 3 + (uint64_t)i), 0);

    sender s = {sv[0],
                w.data,
                first,
                second,
                w.len,
                memfd_with(a_text, sizeof a_text),
                memfd_with(b_ints, sizeof b_ints),
                0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sender_main, &s), 0);

    /* Receive, learning frame starts as headers arrive; fds belong to the
     * last frame starting within the bytes of the recv that brought them. */
    enum { MAXF = 16 };
    size_t starts[MAXF + 1] = {0};
    int nstarts = 1, owner_fd[MAXF];
    for (int i = 0; i < MAXF; i++)
        owner_fd[i] = -1;
    uint8_t *acc = malloc(w.len);
    size_t have = 0;
    while (have < w.len) {
        size_t cap =
            1 + xorshift_below(&rng, xorshift_below(&rng, 2) ? 64 : 65536);
        if (cap > w.len - have)
            cap = w.len - have;
        int fds[2];
        size_t k;
        ssize_t n = wf_sock_recv(sv[1], acc + have, cap, fds, 2, &k);
        assert_true(n > 0);
        size_t from = have;
        have += (size_t)n;
        while (nstarts <= MAXF && have >= starts[nstarts - 1] + WF_FRAME_HDR) {
            wf_frame f;
            size_t at = starts[nstarts - 1];
            weft_err e = wf_frame_parse(acc + at, have - at, &f);
            assert_true(e == 0 || e == WF_FRAME_PARTIAL);
            starts[nstarts++] = at + f.size;
        }
        if (k == 0)
            continue;
        assert_int_equal(k, 1);
        int owner = -1;
        for (int i = 0; i < nstarts && i < MAXF; i++)
            if (starts[i] >= from && starts[i] < have)
                owner = i;
        assert_true(owner >= 0 && owner_fd[owner] < 0);
        owner_fd[owner] = fds[0];
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(s.err, 0);
    assert_memory_equal(acc, w.data, w.len);
    assert_int_equal(nstarts, 13); /* 12 frames and the end */
    assert_true(owner_fd[0] >= 0 && owner_fd[1] >= 0);
    for (int i = 2; i < MAXF; i++)
        assert_int_equal(owner_fd[i], -1);

    wf_frame f;
    wf_msg_run got_run;
    wf_msg_done got_done;
    wf_wire_value vals[2];
    assert_int_equal(wf_frame_parse(acc, have, &f), 0);
    assert_int_equal(wf_msg_get_run(&f, &got_run, vals, 2), 0);
    assert_true(value_equal(&a_args[0], &vals[0].v));
    check_fd_value(&vals[1], owner_fd[0], &a_args[1]);
    assert_int_equal(wf_frame_parse(acc + first, have - first, &f), 0);
    assert_int_equal(wf_msg_get_done(&f, &got_done, vals, 2), 0);
    check_fd_value(&vals[0], owner_fd[1], &b_vals[0]);

    close(owner_fd[0]);
    close(owner_fd[1]);
    close(s.fd_a);
    close(s.fd_b);
    close(sv[0]);
    close(sv[1]);
    free(acc);
    free(blob);
    wf_wbuf_free(&w);
    assert_int_equal(count_open_fds(), before);
}

static void test_sock_too_many_fds(void **state)
{
    (void)state;
    int before = count_open_fds();
    int sv[2], p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe(p), 0);
    const int three[3] = {p[0], p[1], p[0]};
    char c;
    int fds[1];
    size_t k = 99;
    assert_int_equal(wf_sock_send(sv[0], "x", 1, three, 3), 0);
    assert_err((weft_err)wf_sock_recv(sv[1], &c, 1, fds, 1, &k), WEFT_EPROTO,
               "peer sent 3 fds, at most 1 expected");
    assert_int_equal(k, 0);
    assert_int_equal(wf_sock_send(sv[0], "y", 1, three, 1), 0);
    assert_err((weft_err)wf_sock_recv(sv[1], &c, 1, NULL, 0, &k), WEFT_EPROTO,
               "at most 0 expected");
    /* Bad arguments are refused before anything is sent. */
    int many[WF_SOCK_MAX_FDS + 1] = {0};
    assert_err(wf_sock_send(sv[0], NULL, 0, three, 1), WEFT_EINVAL, NULL);
    assert_err(wf_sock_send(sv[0], "z", 1, many, WF_SOCK_MAX_FDS + 1),
               WEFT_EINVAL, NULL);
    assert_err((weft_err)wf_sock_recv(sv[1], &c, 0, NULL, 0, NULL), WEFT_EINVAL,
               NULL);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(count_open_fds(), before); /* no received fd leaked */
}

static void test_sock_eof_and_gone_peer(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(wf_sock_send(sv[0], "hello", 5, NULL, 0), 0);
    close(sv[0]);
    char b[16];
    assert_int_equal(wf_sock_recv(sv[1], b, sizeof b, NULL, 0, NULL), 5);
    assert_memory_equal(b, "hello", 5);
    assert_int_equal(wf_sock_recv(sv[1], b, sizeof b, NULL, 0, NULL), 0);
    close(sv[1]);

    /* Writing to a peer that is gone is an error, not a SIGPIPE. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    assert_err(wf_sock_send(sv[0], "x", 1, NULL, 0), WEFT_EIO, "sendmsg");
    close(sv[0]);
}

/* --------------------------------------------------------- main */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_little_endian),
        cmocka_unit_test(test_rbuf_errors),
        cmocka_unit_test(test_wbuf_oom_is_sticky),
        cmocka_unit_test(test_value_scalars),
        cmocka_unit_test(test_value_buffers),
        cmocka_unit_test(test_value_golden_bytes),
        cmocka_unit_test(test_value_arrays_every_dtype),
        cmocka_unit_test(test_value_fd_placement),
        cmocka_unit_test(test_value_encode_rejects),
        cmocka_unit_test(test_value_decode_rejects),
        cmocka_unit_test(test_value_remote),
        cmocka_unit_test(test_value_random_roundtrip),
        cmocka_unit_test(test_frame_header_bytes),
        cmocka_unit_test(test_frame_parse_partial),
        cmocka_unit_test(test_frame_rejects),
        cmocka_unit_test(test_frame_too_big_to_send),
        cmocka_unit_test(test_run_roundtrip),
        cmocka_unit_test(test_run_rejects),
        cmocka_unit_test(test_done_roundtrip),
        cmocka_unit_test(test_done_rejects),
        cmocka_unit_test(test_hello_and_shutdown),
        cmocka_unit_test(test_msg_random_stream),
        cmocka_unit_test(test_msg_truncation),
        cmocka_unit_test(test_msg_byte_flips),
        cmocka_unit_test(test_msg_alloc_failure),
        cmocka_unit_test(test_sock_memfd_passing),
        cmocka_unit_test(test_sock_stream_and_fd_owner),
        cmocka_unit_test(test_sock_too_many_fds),
        cmocka_unit_test(test_sock_eof_and_gone_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
