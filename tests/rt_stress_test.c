/* Black-box stress test: a million tiny tasks from one thread and from
 * four, a hundred thousand actor calls on one actor and over sixteen, a
 * dependent chain of a hundred thousand tasks, and the counters of
 * weft_get_stats afterwards. Results are checked, never timings.
 * WEFT_TEST_SCALE=sanitize runs ~10x less. Public API only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "testutil.h"

/* Counters agree once everything has been gotten and released. */
static void check_stats(weft_runtime *rt, uint64_t min_submitted,
                        uint64_t want_failed)
{
    /* A longer bound than usual: a million tasks take a while to go. */
    uint64_t left = objects_settled_within(rt, 40000);
    weft_stats st;
    weft_get_stats(rt, &st);
    if (left != 0)
        fail_msg("%" PRIu64 " objects (%" PRIu64 " bytes) alive after "
                 "releasing everything",
                 left, st.store_bytes);
    assert_int_equal(st.store_bytes, 0);
    if (st.tasks_submitted != st.tasks_finished + st.tasks_failed)
        fail_msg("submitted %" PRIu64 " != finished %" PRIu64
                 " + failed %" PRIu64,
                 st.tasks_submitted, st.tasks_finished, st.tasks_failed);
    if (st.tasks_submitted < min_submitted)
        fail_msg("submitted %" PRIu64 ", want at least %" PRIu64,
                 st.tasks_submitted, min_submitted);
    assert_int_equal(st.tasks_failed, want_failed);
    assert_int_equal(st.tasks_retried, 0);
    assert_int_equal(st.worker_crashes, 0);
    assert_true(st.threads >= 1);
}

/* -------------------------------------------------------- functions */

static weft_err rt_stress_twice(weft_task *t)
{
    return weft_return_i64(t, 2 * weft_arg_i64(t, 0));
}
WEFT_REGISTER_SIG(rt_stress_twice, "i");

static weft_err rt_stress_inc(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + 1);
}
WEFT_REGISTER_SIG(rt_stress_inc, "i");

static weft_err rt_stress_fail(weft_task *t)
{
    return weft_fail(t, "root cause %d", 42);
}
WEFT_REGISTER_SIG(rt_stress_fail, "");

typedef struct counter {
    int64_t total, calls;
} counter;

static weft_err rt_stress_ctr_init(weft_task *t)
{
    counter *c = calloc(1, sizeof *c);
    if (!c)
        return weft_fail(t, "out of memory");
    weft_actor_set_state(t, c);
    return 0;
}

static void rt_stress_ctr_destroy(void *p)
{
    free(p);
}

static weft_err rt_stress_ctr_add(weft_task *t)
{
    counter *c = weft_actor_state(t);
    c->total += weft_arg_i64(t, 0);
    c->calls++;
    return weft_return_i64(t, c->total);
}

static weft_err rt_stress_ctr_calls(weft_task *t)
{
    counter *c = weft_actor_state(t);
    return weft_return_i64(t, c->calls);
}

static const weft_method rt_stress_ctr_methods[] = {
    {"add", rt_stress_ctr_add, "i"},
    {"calls", rt_stress_ctr_calls, ""},
};
WEFT_REGISTER_ACTOR(RtStressCounter, rt_stress_ctr_init, rt_stress_ctr_destroy,
                    rt_stress_ctr_methods);

/* ---------------------------------------------------- tiny tasks */

/* Submit twice(first..first+n-1), then get them all; returns the sum. */
static weft_err submit_and_sum(weft_runtime *rt, int64_t first, int64_t n,
                               int64_t *sum, char *detail, size_t dn)
{
    weft_ref *refs = malloc((size_t)n * sizeof *refs);
    if (!refs)
        return WEFT_ENOMEM;
    weft_err e = 0;
    int64_t i, submitted = 0;
    for (i = 0; i < n; i++, submitted++) {
        if ((e = weft_submit(rt, "rt_stress_twice",
                             WEFT_ARGS(weft_i64(first + i)), NULL, &refs[i]))) {
            snprintf(detail, dn, "submit %" PRId64 ": %s", i,
                     weft_last_error());
            break;
        }
    }
    *sum = 0;
    for (i = 0; i < submitted; i++) {
        int64_t v = 0;
        weft_err g = weft_get_i64(rt, refs[i], &v, WEFT_FOREVER);
        if (g && !e) {
            e = g;
            snprintf(detail, dn, "get %" PRId64 ": %s", i, weft_last_error());
        }
        *sum += v;
        weft_release(rt, refs[i]);
    }
    free(refs);
    return e;
}

static void test_million_tasks_one_thread(void **state)
{
    (void)state;
    int64_t n = scaled(1000000);
    weft_runtime *rt = start_runtime(0);
    int64_t sum = 0;
    char detail[256] = "";
    weft_err e = submit_and_sum(rt, 0, n, &sum, detail, sizeof detail);
    if (e)
        fail_msg("%s: %s", weft_err_name(e), detail);
    assert_int_equal(sum, n * (n - 1));
    check_stats(rt, (uint64_t)n, 0);
    weft_shutdown(rt);
}

typedef struct submitter {
    weft_runtime *rt;
    int64_t first, n, sum;
    weft_err err;
    char detail[256];
} submitter;

static void *submitter_main(void *p)
{
    submitter *s = p;
    s->err = submit_and_sum(s->rt, s->first, s->n, &s->sum, s->detail,
                            sizeof s->detail);
    return NULL;
}

static void test_million_tasks_four_threads(void **state)
{
    (void)state;
    enum { T = 4 };
    int64_t n = scaled(1000000), per = n / T;
    weft_runtime *rt = start_runtime(0);
    pthread_t th[T];
    submitter s[T];
    for (int i = 0; i < T; i++) {
        s[i] = (submitter){rt, i * per, per, 0, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, submitter_main, &s[i]),
                         0);
    }
    int64_t sum = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        if (s[i].err)
            fail_msg("thread %d: %s: %s", i, weft_err_name(s[i].err),
                     s[i].detail);
        int64_t a = i * per, b = a + per; /* 2 * sum of a..b-1 */
        assert_int_equal(s[i].sum, (b * (b - 1) - a * (a - 1)));
        sum += s[i].sum;
    }
    assert_int_equal(sum, (T * per) * (T * per - 1));
    check_stats(rt, (uint64_t)(T * per), 0);
    weft_shutdown(rt);
}

/* ---------------------------------------------------- actor calls */

static void actor_calls(int nactors)
{
    int64_t n = scaled(100000);
    weft_runtime *rt = start_runtime(0);
    weft_actor *a = calloc((size_t)nactors, sizeof *a);
    weft_ref *last = calloc((size_t)nactors, sizeof *last);
    assert_non_null(a);
    assert_non_null(last);
    for (int i = 0; i < nactors; i++)
        OK(weft_actor_create(rt, "RtStressCounter", WEFT_NOARGS, NULL, &a[i]));
    /* Keep a bounded window of results; check every one. */
    enum { W = 4096 };
    weft_ref *win = malloc(W * sizeof *win);
    int64_t *want = malloc(W * sizeof *want);
    int64_t *totals = calloc((size_t)nactors, sizeof *totals);
    assert_non_null(win);
    assert_non_null(want);
    assert_non_null(totals);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % nactors);
        int64_t slot = i % W;
        if (i >= W) {
            int64_t v = 0;
            OK(weft_get_i64(rt, win[slot], &v, WEFT_FOREVER));
            assert_int_equal(v, want[slot]);
            weft_release(rt, win[slot]);
        }
        totals[k] += i;
        want[slot] = totals[k];
        OK(weft_actor_call(rt, a[k], "add", WEFT_ARGS(weft_i64(i)), NULL,
                           &win[slot]));
    }
    for (int64_t i = n > W ? n - W : 0; i < n; i++) {
        int64_t v = 0;
        OK(weft_get_i64(rt, win[i % W], &v, WEFT_FOREVER));
        assert_int_equal(v, want[i % W]);
        weft_release(rt, win[i % W]);
    }
    int64_t calls = 0;
    for (int i = 0; i < nactors; i++) {
        weft_ref r;
        int64_t c = 0;
        OK(weft_actor_call(rt, a[i], "calls", WEFT_NOARGS, NULL, &r));
        OK(weft_get_i64(rt, r, &c, WEFT_FOREVER));
        weft_release(rt, r);
        assert_int_equal(c, n / nactors + (i < n % nactors));
        calls += c;
    }
    assert_int_equal(calls, n);
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_true(st.actor_calls >= (uint64_t)(n + nactors));
    for (int i = 0; i < nactors; i++)
        OK(weft_actor_kill(rt, a[i]));
    check_stats(rt, 0, 0);
    weft_shutdown(rt);
    free(a);
    free(last);
    free(win);
    free(want);
    free(totals);
}

static void test_actor_calls_one_actor(void **state)
{
    (void)state;
    actor_calls(1);
}

static void test_actor_calls_sixteen_actors(void **state)
{
    (void)state;
    actor_calls(16);
}

/* ------------------------------------------------------- chains */

static void test_deep_chain(void **state)
{
    (void)state;
    int64_t n = scaled(100000);
    weft_runtime *rt = start_runtime(0);
    /* Built while its first link cannot run yet, so the whole chain is
     * pending at once, then released from the front. */
    void *gd;
    weft_ref gate, r;
    OK(weft_create(rt, 0, &gd, &gate));
    OK(weft_submit(rt, "rt_stress_len_then",
                   WEFT_ARGS(weft_refv(gate), weft_i64(1)), NULL, &r));
    for (int64_t i = 1; i < n; i++) {
        weft_ref next;
        OK(weft_submit(rt, "rt_stress_inc", WEFT_ARGS(weft_refv(r)), NULL,
                       &next));
        OK(weft_release(rt, r));
        r = next;
    }
    assert_false(weft_ready(rt, r));
    OK(weft_seal(rt, gate));
    OK(weft_release(rt, gate));
    int64_t v = 0;
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    assert_int_equal(v, n);
    weft_release(rt, r);

    /* And a chain built while it runs. */
    OK(weft_submit(rt, "rt_stress_inc", WEFT_ARGS(weft_i64(0)), NULL, &r));
    for (int64_t i = 1; i < n; i++) {
        weft_ref next;
        OK(weft_submit(rt, "rt_stress_inc", WEFT_ARGS(weft_refv(r)), NULL,
                       &next));
        OK(weft_release(rt, r));
        r = next;
    }
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    assert_int_equal(v, n);
    weft_release(rt, r);
    check_stats(rt, (uint64_t)(2 * n), 0);
    weft_shutdown(rt);
}

/* rt_stress_len_then(gate, x): x, once the gate (any object) is ready. */
static weft_err rt_stress_len_then(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 1));
}
WEFT_REGISTER_SIG(rt_stress_len_then, "*i");

/* A failure at the root of a long chain reaches its end, naming the root
 * cause, without the error text growing with the depth of the chain (were
 * each link to quote the whole message of the link before it, a chain's
 * cost would be quadratic in its length). */
static void test_deep_failing_chain(void **state)
{
    (void)state;
    int64_t n = scaled(20000);
    weft_runtime *rt = start_runtime(0);
    weft_ref r;
    OK(weft_submit(rt, "rt_stress_fail", WEFT_NOARGS, NULL, &r));
    for (int64_t i = 0; i < n; i++) {
        weft_ref next;
        OK(weft_submit(rt, "rt_stress_inc", WEFT_ARGS(weft_refv(r)), NULL,
                       &next));
        OK(weft_release(rt, r));
        r = next;
    }
    int64_t v;
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), WEFT_EUPSTREAM);
    const char *m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "root cause 42"));
    assert_non_null(strstr(m, "rt_stress_fail"));
    size_t len = strlen(m);
    weft_release(rt, r);
    check_stats(rt, (uint64_t)n + 1, (uint64_t)n + 1);
    weft_shutdown(rt);
    if (len > 64 * 1024)
        fail_msg("the error message at the end of a %" PRId64 "-task chain "
                 "is %zu bytes long",
                 n, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_tasks_one_thread),
        cmocka_unit_test(test_million_tasks_four_threads),
        cmocka_unit_test(test_actor_calls_one_actor),
        cmocka_unit_test(test_actor_calls_sixteen_actors),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_deep_failing_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
