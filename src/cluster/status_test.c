/* Tests of the STATUS body codec (cluster/status.h): a round trip, and
 * every kind of malformed body refused with WEFT_EPROTO. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/alloc.h"
#include "cluster/status.h"
#include "wire/buf.h"

#include "testutil.h"

/* Two members, encoded into w. */
static void encode_two(wf_wbuf *w)
{
    wf_member m[2];
    memset(m, 0, sizeof m);
    m[0] = (wf_member){.id = 1,
                       .state = WF_MEMBER_ALIVE,
                       .load = 3,
                       .drivers = 2,
                       .last_heard_ms = 250};
    strcpy(m[0].name, "head-a");
    m[0].res.cpus_milli = 8000;
    m[0].res.memory_bytes = 1ull << 34;
    strcpy(m[0].res.addr, "10.0.0.1:4000");
    m[0].res.ncustom = 2;
    strcpy(m[0].res.custom[0].name, "gpu");
    m[0].res.custom[0].milli = 2000;
    strcpy(m[0].res.custom[1].name, "fpga");
    m[0].res.custom[1].milli = 500;
    m[1] = (wf_member){.id = 2, .state = WF_MEMBER_DEAD};
    strcpy(m[1].name, "n2");
    wf_wbuf_init(w);
    wf_status_encode(w, m, 2);
    OK(wf_wbuf_status(w));
}

static void test_round_trip(void **state)
{
    wf_wbuf w;
    encode_two(&w);
    wf_member *m;
    size_t n;
    OK(wf_status_decode(w.data, w.len, &m, &n));
    assert_int_equal(n, 2);
    assert_int_equal(m[0].id, 1);
    assert_string_equal(m[0].name, "head-a");
    assert_int_equal(m[0].state, WF_MEMBER_ALIVE);
    assert_int_equal(m[0].res.cpus_milli, 8000);
    assert_int_equal(m[0].res.memory_bytes, 1ull << 34);
    assert_int_equal(m[0].load, 3);
    assert_int_equal(m[0].drivers, 2);
    assert_int_equal(m[0].last_heard_ms, 250);
    assert_string_equal(m[0].res.addr, "10.0.0.1:4000");
    assert_int_equal(m[0].res.ncustom, 2);
    assert_string_equal(m[0].res.custom[0].name, "gpu");
    assert_int_equal(m[0].res.custom[0].milli, 2000);
    assert_string_equal(m[0].res.custom[1].name, "fpga");
    assert_int_equal(m[0].res.custom[1].milli, 500);
    assert_string_equal(m[1].res.addr, "");
    assert_int_equal(m[1].res.ncustom, 0);
    assert_string_equal(m[1].name, "n2");
    assert_int_equal(m[1].state, WF_MEMBER_DEAD);
    wf_free(m);

    wf_wbuf_reset(&w);
    wf_status_encode(&w, NULL, 0);
    OK(wf_status_decode(w.data, w.len, &m, &n));
    assert_int_equal(n, 0);
    assert_null(m);
    wf_wbuf_free(&w);
}

static void refused(const uint8_t *p, size_t len)
{
    wf_member *m = (wf_member *)1;
    size_t n = 7;
    assert_int_equal(wf_status_decode(p, len, &m, &n), WEFT_EPROTO);
    assert_null(m);
    assert_int_equal(n, 0);
}

static void test_malformed(void **state)
{
    wf_wbuf w;
    encode_two(&w);
    for (size_t len = 0; len < w.len; len++) /* every truncation */
        refused(w.data, len);

    uint8_t *p = wf_alloc(w.len + 1);
    memcpy(p, w.data, w.len);
    p[w.len] = 0; /* a trailing byte */
    refused(p, w.len + 1);

    memcpy(p, w.data, w.len);
    wf_store_le32(p, 0xffffffffu); /* a count the body cannot hold */
    refused(p, w.len);
    wf_store_le32(p, 3);
    refused(p, w.len);

    memcpy(p, w.data, w.len);
    p[4 + 8 + 4 + 6] = 9; /* the first member's state */
    refused(p, w.len);

    memcpy(p, w.data, w.len);
    p[4 + 8 + 4] = ' '; /* a space in the first name */
    refused(p, w.len);

    memcpy(p, w.data, w.len);
    memset(p + 4, 0, 8); /* id 0 */
    refused(p, w.len);

    /* The first member's address starts after count, id, name, state,
     * cpus, memory, load, drivers and last heard, then its resources. */
    size_t addr = 4 + 8 + 4 + 6 + 1 + 8 + 8 + 4 + 4 + 8;
    assert_int_equal(wf_load_le32(w.data + addr), 13);
    memcpy(p, w.data, w.len);
    p[addr + 4 + 2] = ' '; /* a space in the address */
    refused(p, w.len);
    memcpy(p, w.data, w.len);
    wf_store_le32(p + addr + 4 + 13, WF_NODE_MAX_CUSTOM + 1);
    refused(p, w.len);
    memcpy(p, w.data, w.len);
    wf_store_le32(p + addr + 4 + 13 + 4, 0); /* an empty resource name */
    refused(p, w.len);
    wf_free(p);
    wf_wbuf_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
