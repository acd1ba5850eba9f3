/* Black-box test of scheduling by resources, observed through concurrency
 * counters rather than time: fractional cpus let tasks share a cpu, whole
 * cpus do not, a custom resource of 1 serialises the tasks needing it, and
 * impossible requests fail at submit. Also the Chrome trace written by
 * weft_trace_write and at shutdown by options.trace_path. Public API only.
 *
 * The probe task increments a shared "running" counter, waits (bounded)
 * until the counter has reached a target, records the highest value seen
 * and leaves. A test that expects at most k at once sets the target to k+1, so
 * each task waits out its bound unless the limit is broken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#include "testutil.h"

static atomic_int rt_res_running, rt_res_max, rt_res_done;

static void res_reset(void)
{
    atomic_store(&rt_res_running, 0);
    atomic_store(&rt_res_max, 0);
    atomic_store(&rt_res_done, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* rt_res_probe(target, bound_ms): see the file comment. */
static weft_err rt_res_probe(weft_task *t)
{
    int target = (int)weft_arg_i64(t, 0);
    uint64_t bound = (uint64_t)weft_arg_i64(t, 1);
    int now = atomic_fetch_add(&rt_res_running, 1) + 1;
    uint64_t end = now_ms() + bound;
    bool timed_out = false;
    for (;;) {
        int m = atomic_load(&rt_res_max);
        while (now > m && !atomic_compare_exchange_weak(&rt_res_max, &m, now))
            ;
        /* Once `target` ran together, everyone may go (the first to leave
         * lowers `running` again). */
        if (atomic_load(&rt_res_max) >= target)
            break;
        if (now_ms() >= end) {
            timed_out = true;
            break;
        }
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
        now = atomic_load(&rt_res_running);
    }
    atomic_fetch_sub(&rt_res_running, 1);
    atomic_fetch_add(&rt_res_done, 1);
    return weft_return_i64(t, timed_out ? -1 : 1);
}
WEFT_REGISTER_SIG(rt_res_probe, "ii");

static weft_err rt_res_traced(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0));
}
WEFT_REGISTER_SIG(rt_res_traced, "i");

static weft_err rt_res_other(weft_task *t)
{
    return weft_return_i64(t, 0);
}
WEFT_REGISTER_SIG(rt_res_other, "");

static weft_runtime *start_with(double cpus, int threads, const char *res)
{
    weft_options o;
    weft_options_init(&o);
    o.cpus = cpus;
    o.num_threads = threads;
    o.resources = res;
    return start_runtime_opts(&o);
}

/* Submit n probes with opts, get them all; returns the max concurrency
 * and, in *timeouts, how many gave up waiting for the target. */
static int run_probes_t(weft_runtime *rt, int n, const weft_task_opts *o,
                        int target, int bound_ms, int *timeouts)
{
    weft_ref *r = calloc((size_t)n, sizeof *r);
    assert_non_null(r);
    res_reset();
    for (int i = 0; i < n; i++)
        OK(weft_submit(rt, "rt_res_probe",
                       WEFT_ARGS(weft_i64(target), weft_i64(bound_ms)), o,
                       &r[i]));
    *timeouts = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        OK(weft_get_i64(rt, r[i], &v, WEFT_FOREVER));
        assert_true(v == 1 || v == -1);
        *timeouts += v < 0;
    }
    weft_release_many(rt, r, (size_t)n);
    free(r);
    assert_int_equal(atomic_load(&rt_res_done), n);
    assert_int_equal(atomic_load(&rt_res_running), 0);
    return atomic_load(&rt_res_max);
}

static int run_probes(weft_runtime *rt, int n, const weft_task_opts *o,
                      int target, int bound_ms)
{
    int timeouts;
    return run_probes_t(rt, n, o, target, bound_ms, &timeouts);
}

/* At most `limit` of these tasks run at once, and `limit` do: first n
 * probes wait (up to 5 s) for `limit` companions, then limit+2 probes aim
 * for one more than allowed, briefly, and must not get it. */
static void check_limit(weft_runtime *rt, const weft_task_opts *o, int limit,
                        int n, const char *what)
{
    n = (n + limit - 1) / limit * limit; /* whole batches */
    int timeouts = 0;
    int max = run_probes_t(rt, n, o, limit, 5000, &timeouts);
    if (max != limit)
        fail_msg("%s: %d ran at once, want %d", what, max, limit);
    /* `limit` could run together at once: none should have waited 5 s
     * for its companions to be started. */
    if (timeouts)
        fail_msg("%s: %d of %d tasks waited 5 s for %d to run together "
                 "(resources were free, the tasks were not started)",
                 what, timeouts, n, limit);
    max = run_probes(rt, limit + 2, o, limit + 1, 100);
    if (max > limit)
        fail_msg("%s: %d ran at once, at most %d allowed", what, max, limit);
}

static void test_fractional_cpus_share(void **state)
{
    (void)state;
    /* Two cpus, half a cpu per task: four at once, whatever the number of
     * threads configured. */
    static const int threads[] = {0, 1, 2, 8};
    char what[128];
    for (size_t c = 0; c < sizeof threads / sizeof *threads; c++) {
        weft_runtime *rt = start_with(2, threads[c], NULL);
        weft_task_opts o;
        weft_task_opts_init(&o);
        o.cpus = 0.5;
        snprintf(what, sizeof what, "cpus=2 threads=%d, tasks of 0.5 cpu",
                 threads[c]);
        check_limit(rt, &o, 4, 8, what);
        weft_stats st;
        weft_get_stats(rt, &st);
        assert_int_equal(st.tasks_failed, 0);
        weft_shutdown(rt);
    }
    /* A quarter cpu each on one cpu: four at once too. */
    weft_runtime *rt = start_with(1, 1, NULL);
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.cpus = 0.25;
    check_limit(rt, &o, 4, 6, "cpus=1, tasks of 0.25 cpu");
    weft_shutdown(rt);
}

static void test_whole_cpus_limit(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 4, 8};
    char what[128];
    for (size_t c = 0; c < sizeof threads / sizeof *threads; c++) {
        weft_runtime *rt = start_with(2, threads[c], NULL);
        /* Default options: one cpu each, so never more than two at once.
         * (With one thread, whether a second is added is the pool's
         * business: only the cpu limit is checked.) */
        snprintf(what, sizeof what, "cpus=2 threads=%d, tasks of 1 cpu",
                 threads[c]);
        if (threads[c] == 1) {
            int max = run_probes(rt, 4, NULL, 3, 100);
            if (max < 1 || max > 2)
                fail_msg("%s: %d ran at once, at most 2 allowed", what, max);
        } else {
            check_limit(rt, NULL, 2, 6, what);
        }
        /* Two cpus each: one at a time. */
        weft_task_opts o;
        weft_task_opts_init(&o);
        o.cpus = 2;
        snprintf(what, sizeof what, "cpus=2 threads=%d, tasks of 2 cpus",
                 threads[c]);
        check_limit(rt, &o, 1, 3, what);
        /* 1.5 cpus each: one at a time as well. */
        o.cpus = 1.5;
        check_limit(rt, &o, 1, 3, what);
        weft_shutdown(rt);
    }
}

/* A burst of tasks arriving while one worker spins idle and the others
 * sleep: submitters skip the wake-up then, so the spinning worker must
 * wake the others when it finds more work than it can run. (Before that,
 * one worker ran every probe of the burst alone.) */
static void test_burst_after_idle_wakes_workers(void **state)
{
    (void)state;
    weft_runtime *rt = start_with(4, 4, NULL);
    for (int round = 0; round < 20; round++) {
        /* Finish a task: its worker now spins, the others are parked. */
        weft_ref r;
        int64_t v;
        OK(weft_submit(rt, "rt_res_traced", WEFT_ARGS(weft_i64(round)), NULL,
                       &r));
        OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
        weft_release(rt, r);
        int timeouts = 0;
        int max = run_probes_t(rt, 4, NULL, 4, 5000, &timeouts);
        if (max != 4 || timeouts)
            fail_msg("round %d: a burst of 4 tasks on 4 threads and 4 cpus "
                     "ran %d at once, %d waited 5 s",
                     round, max, timeouts);
    }
    weft_shutdown(rt);
}

static void test_custom_resource_serialises(void **state)
{
    (void)state;
    weft_runtime *rt = start_with(4, 4, "gpu=1,fpga=2");
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.resources = "gpu=1";
    o.cpus = 0.5;
    check_limit(rt, &o, 1, 5, "gpu=1 tasks on a gpu=1 runtime");
    /* fpga=1 each out of 2: two at once. */
    o.resources = "fpga=1";
    check_limit(rt, &o, 2, 4, "fpga=1 tasks on an fpga=2 runtime");
    /* Half a gpu each: two at once. */
    o.resources = "gpu=0.5";
    check_limit(rt, &o, 2, 4, "gpu=0.5 tasks on a gpu=1 runtime");
    /* Both kinds at once: the scarcer one decides. */
    o.resources = "gpu=0.5,fpga=2";
    check_limit(rt, &o, 1, 3, "gpu=0.5,fpga=2 tasks");
    /* Tasks without the resource are not held back by those waiting for
     * it: while gpu tasks queue up, plain tasks still finish. */
    o.resources = "gpu=1";
    o.cpus = 0.5;
    weft_ref g[3], p[8];
    res_reset();
    for (int i = 0; i < 3; i++)
        OK(weft_submit(rt, "rt_res_probe", WEFT_ARGS(weft_i64(2), weft_i64(50)),
                       &o, &g[i]));
    for (int i = 0; i < 8; i++)
        OK(weft_submit(rt, "rt_res_other", WEFT_NOARGS, NULL, &p[i]));
    for (int i = 0; i < 8; i++) {
        int64_t v = 1;
        OK(weft_get_i64(rt, p[i], &v, WEFT_FOREVER));
        assert_int_equal(v, 0);
    }
    for (int i = 0; i < 3; i++) {
        int64_t v = 0;
        OK(weft_get_i64(rt, g[i], &v, WEFT_FOREVER));
        assert_int_equal(v, -1); /* never had company */
    }
    assert_int_equal(atomic_load(&rt_res_max), 1);
    weft_release_many(rt, g, 3);
    weft_release_many(rt, p, 8);
    weft_shutdown(rt);
}

static void test_memory_resource(void **state)
{
    (void)state;
    weft_options ro;
    weft_options_init(&ro);
    ro.cpus = 4;
    ro.num_threads = 4;
    ro.memory = 100 << 20;
    weft_runtime *rt = NULL;
    OK(weft_init(&rt, &ro));
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.cpus = 0.5;
    o.memory = 101 << 20;
    weft_ref r = {0};
    assert_int_equal(weft_submit(rt, "rt_res_probe",
                                 WEFT_ARGS(weft_i64(1), weft_i64(0)), &o, &r),
                     WEFT_ERESOURCE);
    assert_non_null(strstr(weft_last_error(), "memory"));
    /* 60 MiB each out of 100: one at a time. */
    o.memory = 60 << 20;
    check_limit(rt, &o, 1, 3, "60 MiB tasks, 100 MiB runtime");
    /* 25 MiB each: four at once (cpus allow 8). */
    o.memory = 25 << 20;
    check_limit(rt, &o, 4, 6, "25 MiB tasks, 100 MiB runtime");
    /* Exactly all of it is possible. */
    o.memory = 100 << 20;
    check_limit(rt, &o, 1, 2, "100 MiB tasks, 100 MiB runtime");
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.tasks_failed, 0);
    weft_shutdown(rt);
}

/* ------------------------------------------------------------- traces */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        c++;
    return c;
}

static void temp_path(char *buf, size_t n, const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, n, "%s/rt_res_%s_%d.json", dir && *dir ? dir : "/tmp", tag,
             (int)getpid());
}

static void check_trace_text(const char *text, size_t len)
{
    const char *p = text;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (strncmp(p, "{\"traceEvents\":", 15) != 0)
        fail_msg("trace starts with \"%.40s\"", p);
    /* Loosely well-formed: balanced braces and brackets, ends with '}'. */
    long braces = 0, brackets = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        braces += (c == '{') - (c == '}');
        brackets += (c == '[') - (c == ']');
        assert_true(braces >= 0 && brackets >= 0);
    }
    assert_int_equal(braces, 0);
    assert_int_equal(brackets, 0);
    assert_false(in_str);
    const char *end = text + len;
    while (end > text && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    assert_true(end > text && end[-1] == '}');
}

static void test_trace_write(void **state)
{
    (void)state;
    enum { N = 25, M = 7 };
    weft_runtime *rt = start_with(0, 2, NULL);
    char path[512];
    temp_path(path, sizeof path, "write");
    /* Not started yet: nothing to write. */
    assert_int_equal(weft_trace_write(rt, path), WEFT_EINVAL);
    /* Tasks before tracing starts are not in it. */
    weft_ref before;
    OK(weft_submit(rt, "rt_res_other", WEFT_NOARGS, NULL, &before));
    int64_t v;
    OK(weft_get_i64(rt, before, &v, WEFT_FOREVER));
    weft_release(rt, before);

    OK(weft_trace_start(rt));
    OK(weft_trace_start(rt)); /* again: harmless */
    weft_ref r[N + M];
    for (int i = 0; i < N; i++)
        OK(weft_submit(rt, "rt_res_traced", WEFT_ARGS(weft_i64(i)), NULL,
                       &r[i]));
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.name = "rt-res-renamed \"quoted\"";
    for (int i = 0; i < M; i++)
        OK(weft_submit(rt, "rt_res_traced", WEFT_ARGS(weft_i64(i)), &o,
                       &r[N + i]));
    for (int i = 0; i < N + M; i++)
        OK(weft_get_i64(rt, r[i], &v, WEFT_FOREVER));
    weft_release_many(rt, r, N + M);
    OK(weft_trace_write(rt, path));
    size_t len = 0;
    char *text = slurp(path, &len);
    assert_non_null(text);
    check_trace_text(text, len);
    size_t got = count(text, "\"rt_res_traced\"");
    if (got != N)
        fail_msg("trace has %zu events named rt_res_traced, want %d", got, N);
    assert_int_equal(count(text, "rt-res-renamed \\\"quoted\\\""), M);
    assert_int_equal(count(text, "\"rt_res_other\""), 0);
    free(text);
    unlink(path);

    /* Writing where it cannot be written is an I/O error. */
    assert_int_equal(weft_trace_write(rt, "/nonexistent-dir/x/trace.json"),
                     WEFT_EIO);
    assert_non_null(strstr(weft_last_error(), "/nonexistent-dir/x"));
    weft_shutdown(rt);
}

static void test_trace_path_at_shutdown(void **state)
{
    (void)state;
    enum { N = 12 };
    char path[512];
    temp_path(path, sizeof path, "shutdown");
    unlink(path);
    weft_options ro;
    weft_options_init(&ro);
    ro.num_threads = 2;
    ro.trace_path = path;
    weft_runtime *rt = NULL;
    OK(weft_init(&rt, &ro));
    weft_ref r[N];
    for (int i = 0; i < N; i++)
        OK(weft_submit(rt, "rt_res_traced", WEFT_ARGS(weft_i64(i)), NULL,
                       &r[i]));
    for (int i = 0; i < N; i++) {
        int64_t v;
        OK(weft_get_i64(rt, r[i], &v, WEFT_FOREVER));
    }
    weft_release_many(rt, r, N);
    weft_shutdown(rt);
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text)
        fail_msg("no trace at %s after shutdown", path);
    check_trace_text(text, len);
    assert_int_equal(count(text, "\"rt_res_traced\""), N);
    free(text);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fractional_cpus_share),
        cmocka_unit_test(test_whole_cpus_limit),
        cmocka_unit_test(test_burst_after_idle_wakes_workers),
        cmocka_unit_test(test_custom_resource_serialises),
        cmocka_unit_test(test_memory_resource),
        cmocka_unit_test(test_trace_write),
        cmocka_unit_test(test_trace_path_at_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
