/* Worker processes as a user meets them: tasks and actors that run in
 * processes of this very test executable, crashes (a worker killed with
 * SIGKILL mid-run, tasks that abort), retries, actor restarts, and large
 * arrays passed both ways through shared memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#include "testutil.h"

static weft_err pt_inc(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + 1);
}
WEFT_REGISTER_SIG(pt_inc, "i");

static weft_err pt_pid(weft_task *t)
{
    return weft_return_i64(t, (int64_t)getpid());
}
WEFT_REGISTER(pt_pid);

/* Sleeps a little, then returns x*x: slow enough that a kill lands while
 * many are queued and one is running. */
static weft_err pt_slow_square(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return weft_return_i64(t, x * x);
}
WEFT_REGISTER_SIG(pt_slow_square, "i");

/* Tells the test which process runs it (through a file), then stays busy
 * long enough to be killed there. */
static weft_err pt_pid_sleep(weft_task *t)
{
    const char *path = weft_arg_str(t, 0);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return weft_fail(t, "cannot write %s", tmp);
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    rename(tmp, path);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return weft_return_i64(t, 1);
}
WEFT_REGISTER_SIG(pt_pid_sleep, "s");

static weft_err pt_die(weft_task *t)
{
    raise(SIGKILL);
    return 0;
}
WEFT_REGISTER(pt_die);

/* Crashes the first time (the marker file does not exist yet). */
static weft_err pt_crash_once(weft_task *t)
{
    const char *marker = weft_arg_str(t, 0);
    if (access(marker, F_OK) != 0) {
        FILE *f = fopen(marker, "w");
        if (f)
            fclose(f);
        abort();
    }
    return weft_return_i64(t, 42);
}
WEFT_REGISTER_SIG(pt_crash_once, "s");

static weft_err pt_fail(weft_task *t)
{
    return weft_fail(t, "bad input %lld", (long long)weft_arg_i64(t, 0));
}
WEFT_REGISTER(pt_fail);

/* Doubles an f64 array into a result written in place. */
static weft_err pt_double(weft_task *t)
{
    const weft_value *v = weft_arg(t, 0);
    if (v->type != WEFT_T_ARRAY || v->u.arr.dtype != WEFT_DT_F64)
        return weft_fail(t, "want an f64 array");
    size_t n = (size_t)v->u.arr.shape[0];
    void *out;
    weft_err e = weft_return_alloc(t, 0, n * sizeof(double), &out);
    if (e)
        return e;
    const double *in = v->u.arr.data;
    for (size_t i = 0; i < n; i++)
        ((double *)out)[i] = 2 * in[i];
    return 0;
}
WEFT_REGISTER(pt_double);

/* An f64 array of arg 1 elements, all equal to arg 0. */
static weft_err pt_fill(weft_task *t)
{
    int64_t k = weft_arg(t, 0)->u.i64, n = weft_arg(t, 1)->u.i64;
    double *out;
    weft_err e =
        weft_return_alloc_array(t, 0, WEFT_DT_F64, 1, &n, (void **)&out);
    if (e)
        return e;
    for (int64_t i = 0; i < n; i++)
        out[i] = (double)k;
    return 0;
}
WEFT_REGISTER(pt_fill);

/* Submits children from inside a worker process and gets them. */
static weft_err pt_nested(weft_task *t)
{
    weft_runtime *rt = weft_task_runtime(t);
    int64_t n = weft_arg_i64(t, 0), sum = 0;
    for (int64_t i = 0; i < n; i++) {
        weft_ref r;
        int64_t v;
        weft_err e =
            weft_submit(rt, "pt_inc", WEFT_ARGS(weft_i64(i)), NULL, &r);
        if (!e)
            e = weft_get_i64(rt, r, &v, WEFT_FOREVER);
        weft_release(rt, r);
        if (e)
            return e;
        sum += v;
    }
    return weft_return_i64(t, sum);
}
WEFT_REGISTER(pt_nested);

/* A counter actor whose method can crash its process. */
typedef struct {
    int64_t n;
} pt_counter;

static weft_err pt_counter_new(weft_task *t)
{
    pt_counter *c = calloc(1, sizeof *c);
    if (!c)
        return weft_fail(t, "out of memory");
    c->n = weft_arg_i64(t, 0);
    weft_actor_set_state(t, c);
    return 0;
}

static weft_err pt_counter_add(weft_task *t)
{
    pt_counter *c = weft_actor_state(t);
    c->n += weft_arg_i64(t, 0);
    return weft_return_i64(t, c->n);
}

static weft_err pt_counter_crash(weft_task *t)
{
    raise(SIGKILL);
    return 0;
}

static weft_err pt_counter_pid(weft_task *t)
{
    return weft_return_i64(t, (int64_t)getpid());
}

static const weft_method pt_counter_methods[] = {
    {"add", pt_counter_add, "i"},
    {"crash", pt_counter_crash, NULL},
    {"pid", pt_counter_pid, NULL},
};
WEFT_REGISTER_ACTOR(PtCounter, pt_counter_new, free, pt_counter_methods);

static weft_runtime *start(int nprocs)
{
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    o.num_procs = nprocs;
    return start_runtime_opts(&o);
}

static void test_tasks_run_in_other_processes(void **state)
{
    weft_runtime *rt = start(2);
    int n = scaled(20000);
    weft_ref *r = calloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++)
        assert_int_equal(
            weft_submit(rt, "pt_inc", WEFT_ARGS(weft_i64(i)), NULL, &r[i]), 0);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        int64_t v;
        assert_int_equal(weft_get_i64(rt, r[i], &v, WEFT_FOREVER), 0);
        sum += v;
        weft_release(rt, r[i]);
    }
    assert_int_equal(sum, (int64_t)n * (n + 1) / 2);
    weft_ref p;
    int64_t pid;
    assert_int_equal(weft_submit(rt, "pt_pid", WEFT_NOARGS, NULL, &p), 0);
    assert_int_equal(weft_get_i64(rt, p, &pid, WEFT_FOREVER), 0);
    assert_int_not_equal(pid, (int64_t)getpid());
    weft_release(rt, p);
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.procs, 2);
    free(r);
    weft_shutdown(rt);
}

/* Kill a worker with SIGKILL while tasks are queued on it and one runs:
 * every task still finishes with the right answer. */
static void test_worker_killed_mid_run(void **state)
{
    weft_runtime *rt = start(2);
    int n = scaled(2000);
    weft_ref *r = calloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++)
        assert_int_equal(weft_submit(rt, "pt_slow_square",
                                     WEFT_ARGS(weft_i64(i)), NULL, &r[i]),
                         0);
    /* A task tells us which process runs it; kill that process while the
     * task runs there and other tasks are queued behind it. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-victim-%d", (int)getpid());
    unlink(path);
    weft_ref p;
    assert_int_equal(
        weft_submit(rt, "pt_pid_sleep", WEFT_ARGS(weft_str(path)), NULL, &p),
        0);
    int pid = 0;
    for (int i = 0; i < 2000 && pid <= 0; i++) { /* up to 20 s */
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid <= 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(pid > 0);
    unlink(path);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    int64_t one;
    assert_int_equal(weft_get_i64(rt, p, &one, WEFT_FOREVER), 0);
    assert_int_equal(one, 1); /* ran again elsewhere */
    weft_release(rt, p);
    int64_t sum = 0, want = 0;
    for (int i = 0; i < n; i++) {
        int64_t v;
        assert_int_equal(weft_get_i64(rt, r[i], &v, WEFT_FOREVER), 0);
        sum += v;
        want += (int64_t)i * i;
        weft_release(rt, r[i]);
    }
    assert_int_equal(sum, want);
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_true(st.worker_crashes >= 1);
    assert_true(st.tasks_retried >= 1);
    assert_int_equal(st.procs, 2); /* the dead one was replaced */
    free(r);
    weft_shutdown(rt);
}

static void test_crash_retries_then_fails(void **state)
{
    weft_runtime *rt = start(1);
    char marker[64];
    snprintf(marker, sizeof marker, "/tmp/weft-crash-once-%d", (int)getpid());
    unlink(marker);
    weft_ref r;
    int64_t v;
    assert_int_equal(
        weft_submit(rt, "pt_crash_once", WEFT_ARGS(weft_str(marker)), NULL, &r),
        0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), 0);
    assert_int_equal(v, 42);
    weft_release(rt, r);
    unlink(marker);

    weft_task_opts o;
    weft_task_opts_init(&o);
    o.max_retries = 2;
    assert_int_equal(weft_submit(rt, "pt_die", WEFT_NOARGS, &o, &r), 0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), WEFT_ECRASHED);
    const char *msg = weft_error_message(rt, r);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "pt_die"));
    assert_non_null(strstr(msg, "signal 9"));
    assert_non_null(strstr(msg, "attempt 3"));
    weft_release(rt, r);

    /* A dependant of the crashed task fails naming it. */
    weft_ref a, b;
    o.max_retries = 0;
    assert_int_equal(weft_submit(rt, "pt_die", WEFT_NOARGS, &o, &a), 0);
    assert_int_equal(
        weft_submit(rt, "pt_inc", WEFT_ARGS(weft_refv(a)), NULL, &b), 0);
    assert_int_equal(weft_get_i64(rt, b, &v, WEFT_FOREVER), WEFT_EUPSTREAM);
    assert_non_null(strstr(weft_error_message(rt, b), "pt_die"));
    weft_release(rt, a);
    weft_release(rt, b);

    /* A task error from a process carries its message and where it ran. */
    assert_int_equal(
        weft_submit(rt, "pt_fail", WEFT_ARGS(weft_i64(7)), NULL, &r), 0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), WEFT_ETASK);
    msg = weft_error_message(rt, r);
    assert_non_null(strstr(msg, "bad input 7"));
    assert_non_null(strstr(msg, "worker process"));
    weft_release(rt, r);
    weft_shutdown(rt);
}

/* Tasks that finished before a crash in the same batch are not blamed for
 * it: only the task that was running is charged a retry. */
static void test_crash_charged_to_the_running_task(void **state)
{
    weft_runtime *rt = start(1);
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.max_retries = 1;
    enum { N = 8 };
    weft_ref r[N];
    for (int i = 0; i < N; i++) {
        if (i == 5)
            assert_int_equal(weft_submit(rt, "pt_die", WEFT_NOARGS, &o, &r[i]),
                             0);
        else
            assert_int_equal(
                weft_submit(rt, "pt_inc", WEFT_ARGS(weft_i64(i)), &o, &r[i]),
                0);
    }
    for (int i = 0; i < N; i++) {
        int64_t v;
        weft_err e = weft_get_i64(rt, r[i], &v, WEFT_FOREVER);
        if (i == 5) {
            assert_int_equal(e, WEFT_ECRASHED);
        } else {
            assert_int_equal(e, 0);
            assert_int_equal(v, i + 1);
        }
        weft_release(rt, r[i]);
    }
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.worker_crashes, 2); /* first run and its retry */
    assert_int_equal(st.tasks_retried, 1);  /* pt_die's one retry only */
    weft_shutdown(rt);
}

static void test_large_arrays_both_ways(void **state)
{
    weft_runtime *rt = start(1);
    size_t n = (size_t)scaled(1 << 20);
    double *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (double)i;
    int64_t shape[1] = {(int64_t)n};
    weft_value v = weft_array(WEFT_DT_F64, 1, shape, a);
    weft_ref x, y;
    assert_int_equal(weft_put(rt, &v, &x), 0);
    assert_int_equal(
        weft_submit(rt, "pt_double", WEFT_ARGS(weft_refv(x)), NULL, &y), 0);
    weft_value out;
    assert_int_equal(weft_get(rt, y, &out, WEFT_FOREVER), 0);
    assert_int_equal(out.type, WEFT_T_BYTES);
    assert_int_equal(out.u.buf.len, n * sizeof(double));
    const double *d = out.u.buf.data;
    for (size_t i = 0; i < n; i++)
        if (d[i] != 2.0 * (double)i)
            fail_msg("element %zu is %g", i, d[i]);
    /* Passing the array directly (not by reference) works too. */
    weft_ref z;
    assert_int_equal(weft_submit(rt, "pt_double", &v, 1, NULL, &z), 0);
    if (weft_get(rt, z, &out, WEFT_FOREVER) != 0)
        fail_msg("%s", weft_error_message(rt, z));
    assert_true(((const double *)out.u.buf.data)[n - 1] ==
                2.0 * (double)(n - 1));
    weft_release(rt, x);
    weft_release(rt, y);
    weft_release(rt, z);
    free(a);
    weft_shutdown(rt);
}

/* Results made one after another by one worker process, all kept: the
 * worker drops its side of each after sending it, and must not reuse those
 * pages for the next result, which the head still maps. */
static void test_kept_results_stay_intact(void **state)
{
    weft_runtime *rt = start(1);
    const int64_t n = 1 << 18; /* 2 MiB: shared memory */
    enum { K = 8 };
    weft_ref r[K];
    for (int k = 0; k < K; k++) {
        assert_int_equal(weft_submit(rt, "pt_fill",
                                     WEFT_ARGS(weft_i64(k), weft_i64(n)), NULL,
                                     &r[k]),
                         0);
        weft_value v;
        assert_int_equal(weft_get(rt, r[k], &v, WEFT_FOREVER), 0);
    }
    for (int k = 0; k < K; k++) {
        weft_value v;
        assert_int_equal(weft_get(rt, r[k], &v, WEFT_FOREVER), 0);
        assert_int_equal(v.type, WEFT_T_ARRAY);
        assert_int_equal(v.u.arr.shape[0], n);
        const double *d = v.u.arr.data;
        for (int64_t i = 0; i < n; i++)
            if (d[i] != (double)k)
                fail_msg("result %d: element %lld is %g", k, (long long)i,
                         d[i]);
        weft_release(rt, r[k]);
    }
    weft_shutdown(rt);
}

static void test_nested_tasks_in_a_process(void **state)
{
    weft_runtime *rt = start(1);
    weft_ref r;
    int64_t v;
    assert_int_equal(
        weft_submit(rt, "pt_nested", WEFT_ARGS(weft_i64(100)), NULL, &r), 0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), 0);
    assert_int_equal(v, 100 * 101 / 2);
    weft_release(rt, r);
    weft_shutdown(rt);
}

static void test_process_actor_order_and_restart(void **state)
{
    weft_runtime *rt = start(1);
    weft_actor_opts ao;
    weft_actor_opts_init(&ao);
    ao.executor = WEFT_EXEC_PROCESS;
    ao.max_restarts = 1;
    weft_actor a;
    assert_int_equal(
        weft_actor_create(rt, "PtCounter", WEFT_ARGS(weft_i64(100)), &ao, &a),
        0);
    enum { N = 500 };
    weft_ref r[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(
            weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(1)), NULL, &r[i]),
            0);
    for (int i = 0; i < N; i++) {
        int64_t v;
        assert_int_equal(weft_get_i64(rt, r[i], &v, WEFT_FOREVER), 0);
        assert_int_equal(v, 100 + i + 1); /* in call order */
        weft_release(rt, r[i]);
    }
    weft_ref p1, c, after, p2;
    int64_t pid1, pid2, v;
    assert_int_equal(weft_actor_call(rt, a, "pid", WEFT_NOARGS, NULL, &p1), 0);
    assert_int_equal(weft_get_i64(rt, p1, &pid1, WEFT_FOREVER), 0);
    assert_int_not_equal(pid1, (int64_t)getpid());
    /* The crash loses that call; the actor restarts with its constructor
     * run again, so its state starts over. */
    assert_int_equal(weft_actor_call(rt, a, "crash", WEFT_NOARGS, NULL, &c), 0);
    assert_int_equal(weft_get_i64(rt, c, &v, WEFT_FOREVER), WEFT_EACTORDEAD);
    assert_int_equal(
        weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(5)), NULL, &after), 0);
    if (weft_get_i64(rt, after, &v, WEFT_FOREVER) != 0)
        fail_msg("%s", weft_error_message(rt, after));
    assert_int_equal(v, 105);
    assert_int_equal(weft_actor_call(rt, a, "pid", WEFT_NOARGS, NULL, &p2), 0);
    assert_int_equal(weft_get_i64(rt, p2, &pid2, WEFT_FOREVER), 0);
    assert_int_not_equal(pid1, pid2);
    weft_release_many(rt, (weft_ref[]){p1, c, after, p2}, 4);
    /* max_restarts is 1: the second crash is final. */
    weft_ref c2, dead;
    assert_int_equal(weft_actor_call(rt, a, "crash", WEFT_NOARGS, NULL, &c2),
                     0);
    assert_int_equal(weft_get_i64(rt, c2, &v, WEFT_FOREVER), WEFT_EACTORDEAD);
    assert_int_equal(
        weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(1)), NULL, &dead), 0);
    assert_int_equal(weft_get_i64(rt, dead, &v, WEFT_FOREVER), WEFT_EACTORDEAD);
    assert_non_null(strstr(weft_error_message(rt, dead), "PtCounter"));
    weft_release(rt, c2);
    weft_release(rt, dead);
    weft_shutdown(rt);
}

static void test_process_actor_kill(void **state)
{
    weft_runtime *rt = start(1);
    weft_actor_opts ao;
    weft_actor_opts_init(&ao);
    ao.executor = WEFT_EXEC_PROCESS;
    weft_actor a;
    assert_int_equal(
        weft_actor_create(rt, "PtCounter", WEFT_ARGS(weft_i64(0)), &ao, &a), 0);
    weft_ref r;
    int64_t v;
    assert_int_equal(
        weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(3)), NULL, &r), 0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), 0);
    assert_int_equal(v, 3);
    weft_release(rt, r);
    assert_int_equal(weft_actor_kill(rt, a), 0);
    assert_int_equal(
        weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(3)), NULL, &r), 0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), WEFT_EACTORDEAD);
    weft_release(rt, r);
    weft_shutdown(rt);
}

int main(void)
{
    weft_worker_check(); /* worker processes of these tests start here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_run_in_other_processes),
        cmocka_unit_test(test_worker_killed_mid_run),
        cmocka_unit_test(test_crash_retries_then_fails),
        cmocka_unit_test(test_crash_charged_to_the_running_task),
        cmocka_unit_test(test_large_arrays_both_ways),
        cmocka_unit_test(test_kept_results_stay_intact),
        cmocka_unit_test(test_nested_tasks_in_a_process),
        cmocka_unit_test(test_process_actor_order_and_restart),
        cmocka_unit_test(test_process_actor_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
