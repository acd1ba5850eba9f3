/* Tests of the work-stealing messages (cluster/proto.h): STEAL and
 * RETURNED round trips, and each malformed body refused with WEFT_EPROTO
 * and a message naming what is wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cluster/proto.h"
#include "wire/buf.h"

#include "testutil.h"

static void test_steal_round_trip_and_bounds(void **state)
{
    (void)state;
    uint32_t values[] = {1, 7, WF_STEAL_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        wf_wbuf w;
        wf_wbuf_init(&w);
        wf_proto_put_steal(&w, values[i]);
        OK(wf_wbuf_status(&w));
        uint32_t max = 0;
        OK(wf_proto_get_steal(w.data, w.len, &max));
        assert_int_equal(max, values[i]);
        /* A byte short, a byte more. */
        assert_int_equal(wf_proto_get_steal(w.data, w.len - 1, &max),
                         WEFT_EPROTO);
        uint8_t more[8];
        memcpy(more, w.data, w.len);
        more[w.len] = 0;
        assert_int_equal(wf_proto_get_steal(more, w.len + 1, &max),
                         WEFT_EPROTO);
        wf_wbuf_free(&w);
    }
    uint32_t bad[] = {0, WF_STEAL_MAX + 1};
    for (size_t i = 0; i < 2; i++) {
        wf_wbuf w;
        wf_wbuf_init(&w);
        wf_proto_put_steal(&w, bad[i]);
        uint32_t max;
        assert_err(wf_proto_get_steal(w.data, w.len, &max), WEFT_EPROTO,
                   "1..1024");
        wf_wbuf_free(&w);
    }
}

static void test_returned_round_trip_and_bounds(void **state)
{
    (void)state;
    static uint64_t seqs[WF_STEAL_MAX + 1], got[WF_STEAL_MAX];
    for (size_t i = 0; i <= WF_STEAL_MAX; i++)
        seqs[i] = 1 + i * 977;
    uint32_t counts[] = {0, 1, 5, WF_STEAL_MAX};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        wf_wbuf w;
        wf_wbuf_init(&w);
        wf_proto_put_returned(&w, seqs, counts[c]);
        OK(wf_wbuf_status(&w));
        uint32_t n = 99;
        OK(wf_proto_get_returned(w.data, w.len, got, &n));
        assert_int_equal(n, counts[c]);
        assert_memory_equal(got, seqs, n * sizeof *got);
        if (counts[c] > 0) /* a seq cut short */
            assert_int_equal(wf_proto_get_returned(w.data, w.len - 3, got, &n),
                             WEFT_EPROTO);
        wf_wbuf_free(&w);
    }
    /* More than a STEAL may take: refused before reading any seq. */
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_proto_put_returned(&w, seqs, WF_STEAL_MAX + 1);
    uint32_t n;
    assert_err(wf_proto_get_returned(w.data, w.len, got, &n), WEFT_EPROTO,
               "more than 1024");
    wf_wbuf_free(&w);
    /* Seq 0 names no task. */
    uint64_t zero[2] = {5, 0};
    wf_wbuf_init(&w);
    wf_proto_put_returned(&w, zero, 2);
    assert_err(wf_proto_get_returned(w.data, w.len, got, &n), WEFT_EPROTO,
               "seq 0");
    wf_wbuf_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steal_round_trip_and_bounds),
        cmocka_unit_test(test_returned_round_trip_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
