/* Black-box test of weft's error reporting: every bad input gives its own
 * code and a non-empty weft_last_error() that names the problem; failing
 * tasks report through weft_get and weft_error_message; upstream failures
 * flow down a graph; the object store cap is enforced and recovers.
 * Only the public API (include/weft/weft.h) is used. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

/* Leave a distinctive "last error" behind, so a check can tell that the
 * call under test wrote its own detail (and did not just leave an old one). */
static void sentinel(void)
{
    weft_ref r = {0};
    weft_err e = weft_submit(NULL, "rt_err_sentinel", WEFT_NOARGS, NULL, &r);
    assert_int_equal(e, WEFT_EINVAL);
    /* Any error message will do, as long as it is not the next one. */
    weft_options o;
    weft_options_init(&o);
    o.num_threads = -7;
    weft_runtime *rt = NULL;
    assert_int_equal(weft_init(&rt, &o), WEFT_EINVAL);
    assert_null(rt);
    assert_non_null(strstr(weft_last_error(), "-7"));
}

/* Check that the call gave `want` and a fresh, non-empty detail that
 * contains every one of the NULL-terminated words. */
static void check_err_(weft_err got, weft_err want, const char *expr,
                       const char *const *words)
{
    const char *msg = weft_last_error();
    if (got != want)
        fail_msg("%s: got %s (%d), want %s (%d); last error: \"%s\"", expr,
                 weft_err_name(got), got, weft_err_name(want), want, msg);
    assert_non_null(msg);
    if (!*msg)
        fail_msg("%s: empty weft_last_error()", expr);
    if (strstr(msg, "-7") && strstr(msg, "num_threads"))
        fail_msg("%s: weft_last_error() was not updated: \"%s\"", expr, msg);
    for (size_t i = 0; words && words[i]; i++)
        if (!strstr(msg, words[i]))
            fail_msg("%s: weft_last_error() \"%s\" does not mention \"%s\"",
                     expr, msg, words[i]);
}

#define CHECK_ERR(call, want, ...)                                             \
    do {                                                                       \
        sentinel();                                                            \
        weft_err got_ = (call);                                                \
        static const char *const words_[] = {__VA_ARGS__, NULL};               \
        check_err_(got_, want, #call, words_);                                 \
    } while (0)

/* ------------------------------------------------------ task functions */

static weft_err rt_err_add(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + weft_arg_i64(t, 1));
}
WEFT_REGISTER_SIG(rt_err_add, "ii");

static weft_err rt_err_one(weft_task *t)
{
    return weft_return_i64(t, 1);
}
WEFT_REGISTER_SIG(rt_err_one, "");

static weft_err rt_err_any(weft_task *t)
{
    return weft_return_i64(t, (int64_t)weft_nargs(t));
}
WEFT_REGISTER(rt_err_any);

static weft_err rt_err_str_of(weft_task *t)
{
    return weft_return_str(t, "not a number");
}
WEFT_REGISTER_SIG(rt_err_str_of, "");

static weft_err rt_err_weigh(weft_task *t)
{
    double w = weft_arg_f64(t, 0);
    if (w <= 0)
        return weft_fail(t, "bad weight %g", w);
    return weft_return_f64(t, w * 2);
}
WEFT_REGISTER_SIG(rt_err_weigh, "f");

/* Reads argument 0 with the wrong accessor and checks for NULL. */
static weft_err rt_err_wrong_accessor(weft_task *t)
{
    const char *s = weft_arg_str(t, 0);
    if (!s)
        return WEFT_ETYPE;
    return weft_return_str(t, s);
}
WEFT_REGISTER(rt_err_wrong_accessor);

/* Reads argument 1 with the wrong accessor and carries on regardless: the
 * task must still fail once it returns. */
static weft_err rt_err_wrong_accessor_ignored(weft_task *t)
{
    (void)weft_arg_i64(t, 0);
    (void)weft_arg_bool(t, 1);
    return weft_return_i64(t, 5);
}
WEFT_REGISTER(rt_err_wrong_accessor_ignored);

static weft_err rt_err_inc(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + 1);
}
WEFT_REGISTER_SIG(rt_err_inc, "i");

static weft_err rt_err_return_code(weft_task *t)
{
    return (weft_err)weft_arg_i64(t, 0);
}
WEFT_REGISTER_SIG(rt_err_return_code, "i");

static weft_err rt_err_big_result(weft_task *t)
{
    size_t n = (size_t)weft_arg_i64(t, 0);
    char *p = calloc(1, n);
    if (!p)
        return weft_fail(t, "calloc");
    weft_value v = weft_bytes(p, n);
    weft_err e = weft_return(t, 0, &v);
    free(p);
    return e;
}
WEFT_REGISTER_SIG(rt_err_big_result, "i");

static weft_err rt_err_big_alloc(weft_task *t)
{
    void *data = NULL;
    weft_err e = weft_return_alloc(t, 0, (size_t)weft_arg_i64(t, 0), &data);
    if (e)
        return e;
    memset(data, 1, (size_t)weft_arg_i64(t, 0));
    return 0;
}
WEFT_REGISTER_SIG(rt_err_big_alloc, "i");

static weft_err rt_err_ctor(weft_task *t)
{
    weft_actor_set_state(t, NULL);
    return 0;
}
static weft_err rt_err_method(weft_task *t)
{
    return weft_return_i64(t, 1);
}
static const weft_method rt_err_methods[] = {{"m", rt_err_method, ""}};
WEFT_REGISTER_ACTOR(RtErrActor, rt_err_ctor, NULL, rt_err_methods);

/* ---------------------------------------------- NULL pointers everywhere */

static void test_null_runtime_everywhere(void **state)
{
    (void)state;
    weft_ref r = {0}, refs[1] = {{0}};
    weft_value v = weft_i64(1), outs[1];
    void *data;
    int64_t i64;
    double f64;
    bool b;
    const char *s;
    weft_actor a = {0};

    CHECK_ERR(weft_init(NULL, NULL), WEFT_EINVAL, "weft_init", "NULL");
    CHECK_ERR(weft_submit(NULL, "rt_err_one", WEFT_NOARGS, NULL, &r),
              WEFT_EINVAL, "weft_submit", "runtime");
    CHECK_ERR(weft_put(NULL, &v, &r), WEFT_EINVAL, "weft_put", "runtime");
    CHECK_ERR(weft_create(NULL, 8, &data, &r), WEFT_EINVAL, "weft_create",
              "runtime");
    CHECK_ERR(weft_seal(NULL, r), WEFT_EINVAL, "weft_seal", "runtime");
    CHECK_ERR(weft_get(NULL, r, &v, 0), WEFT_EINVAL, "weft_get", "runtime");
    CHECK_ERR(weft_get_many(NULL, refs, 1, outs, 0), WEFT_EINVAL,
              "weft_get_many", "NULL");
    CHECK_ERR(weft_get_i64(NULL, r, &i64, 0), WEFT_EINVAL, "runtime");
    CHECK_ERR(weft_get_f64(NULL, r, &f64, 0), WEFT_EINVAL, "runtime");
    CHECK_ERR(weft_get_bool(NULL, r, &b, 0), WEFT_EINVAL, "runtime");
    CHECK_ERR(weft_get_str(NULL, r, &s, 0), WEFT_EINVAL, "runtime");
    CHECK_ERR(weft_wait(NULL, refs, 1, 1, 0, NULL, NULL), WEFT_EINVAL,
              "weft_wait", "NULL");
    CHECK_ERR(weft_retain(NULL, r), WEFT_EINVAL, "weft_retain", "runtime");
    CHECK_ERR(weft_release(NULL, r), WEFT_EINVAL, "weft_release", "runtime");
    CHECK_ERR(weft_actor_create(NULL, "RtErrActor", WEFT_NOARGS, NULL, &a),
              WEFT_EINVAL, "weft_actor_create", "runtime");
    CHECK_ERR(weft_actor_call(NULL, a, "m", WEFT_NOARGS, NULL, &r), WEFT_EINVAL,
              "weft_actor_call", "runtime");
    CHECK_ERR(weft_actor_lookup(NULL, "x", &a), WEFT_EINVAL,
              "weft_actor_lookup", "NULL");
    CHECK_ERR(weft_actor_kill(NULL, a), WEFT_EINVAL, "weft_actor_kill",
              "runtime");
    CHECK_ERR(weft_trace_start(NULL), WEFT_EINVAL, "weft_trace_start",
              "runtime");
    CHECK_ERR(weft_trace_write(NULL, "/tmp/x.json"), WEFT_EINVAL,
              "weft_trace_write", "runtime");

    /* Non-failing functions are safe with NULL. */
    assert_false(weft_ready(NULL, r));
    assert_null(weft_error_message(NULL, r));
    weft_release_many(NULL, refs, 1);
    weft_stats st;
    memset(&st, 0xff, sizeof st);
    weft_get_stats(NULL, &st);
    assert_int_equal(st.tasks_submitted, 0);
    assert_int_equal(st.objects, 0);
    weft_shutdown(NULL);
    weft_options_init(NULL);
    weft_task_opts_init(NULL);
    weft_actor_opts_init(NULL);
}

static void test_null_arguments(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_ref r = {0}, refs[2];
    weft_value v = weft_i64(1), outs[2];
    void *data = NULL;
    weft_actor a = {0};

    CHECK_ERR(weft_submit(rt, NULL, WEFT_NOARGS, NULL, &r), WEFT_EINVAL,
              "weft_submit", "function name");
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, NULL, NULL),
              WEFT_EINVAL, "weft_submit", "NULL");
    CHECK_ERR(weft_submit(rt, "rt_err_any", NULL, 2, NULL, &r), WEFT_EINVAL,
              "weft_submit", "NULL");
    CHECK_ERR(
        weft_submit(rt, "rt_err_any", WEFT_ARGS(weft_str(NULL)), NULL, &r),
        WEFT_EINVAL, "weft_submit");
    CHECK_ERR(
        weft_submit(rt, "rt_err_any", WEFT_ARGS(weft_bytes(NULL, 4)), NULL, &r),
        WEFT_EINVAL, "weft_submit");
    int64_t shape[1] = {3};
    CHECK_ERR(weft_submit(rt, "rt_err_any",
                          WEFT_ARGS(weft_array(WEFT_DT_F64, 1, shape, NULL)),
                          NULL, &r),
              WEFT_EINVAL, "weft_submit");
    CHECK_ERR(weft_put(rt, NULL, &r), WEFT_EINVAL, "weft_put", "value");
    CHECK_ERR(weft_put(rt, &v, NULL), WEFT_EINVAL, "weft_put", "out");
    weft_value ns = weft_str(NULL);
    CHECK_ERR(weft_put(rt, &ns, &r), WEFT_EINVAL, "weft_put", "NULL string");
    weft_value bad_dt = weft_array((weft_dtype)99, 1, shape, shape);
    CHECK_ERR(weft_put(rt, &bad_dt, &r), WEFT_ETYPE, "weft_put", "dtype");
    int64_t neg[1] = {-2};
    weft_value bad_shape = weft_array(WEFT_DT_I64, 1, neg, shape);
    CHECK_ERR(weft_put(rt, &bad_shape, &r), WEFT_EINVAL, "weft_put",
              "negative");
    weft_value a_ref = weft_refv(r);
    CHECK_ERR(weft_put(rt, &a_ref, &r), WEFT_ETYPE, "weft_put", "reference");
    CHECK_ERR(weft_create(rt, 8, NULL, &r), WEFT_EINVAL, "weft_create", "data");
    CHECK_ERR(weft_create(rt, 8, &data, NULL), WEFT_EINVAL, "weft_create",
              "out");
    weft_ref valid;
    assert_int_equal(weft_put(rt, &v, &valid), 0);
    CHECK_ERR(weft_get_i64(rt, valid, NULL, 0), WEFT_EINVAL, "weft_get_i64",
              "NULL");
    CHECK_ERR(weft_get_f64(rt, valid, NULL, 0), WEFT_EINVAL, "weft_get_f64",
              "NULL");
    CHECK_ERR(weft_get_bool(rt, valid, NULL, 0), WEFT_EINVAL, "weft_get_bool",
              "NULL");
    CHECK_ERR(weft_get_str(rt, valid, NULL, 0), WEFT_EINVAL, "weft_get_str",
              "NULL");
    refs[0] = refs[1] = valid;
    CHECK_ERR(weft_get_many(rt, NULL, 2, outs, 0), WEFT_EINVAL, "weft_get_many",
              "NULL");
    CHECK_ERR(weft_get_many(rt, refs, 2, NULL, 0), WEFT_EINVAL, "weft_get_many",
              "NULL");
    CHECK_ERR(weft_wait(rt, NULL, 2, 1, 0, NULL, NULL), WEFT_EINVAL,
              "weft_wait", "NULL");

    /* k > n is a bad argument, not a timeout. */
    weft_ref one;
    assert_int_equal(weft_put(rt, &v, &one), 0);
    CHECK_ERR(weft_wait(rt, &one, 1, 2, 0, NULL, NULL), WEFT_EINVAL,
              "weft_wait", "k=2");
    weft_release(rt, one);
    weft_release(rt, valid);

    CHECK_ERR(weft_actor_create(rt, NULL, WEFT_NOARGS, NULL, &a), WEFT_EINVAL,
              "weft_actor_create", "class");
    CHECK_ERR(weft_actor_create(rt, "RtErrActor", WEFT_NOARGS, NULL, NULL),
              WEFT_EINVAL, "weft_actor_create", "out");
    assert_int_equal(weft_actor_create(rt, "RtErrActor", WEFT_NOARGS, NULL, &a),
                     0);
    CHECK_ERR(weft_actor_call(rt, a, NULL, WEFT_NOARGS, NULL, &r), WEFT_EINVAL,
              "weft_actor_call", "method");
    CHECK_ERR(weft_actor_call(rt, a, "m", WEFT_NOARGS, NULL, NULL), WEFT_EINVAL,
              "NULL");
    CHECK_ERR(weft_actor_lookup(rt, NULL, &a), WEFT_EINVAL, "weft_actor_lookup",
              "NULL");
    CHECK_ERR(weft_actor_lookup(rt, "x", NULL), WEFT_EINVAL,
              "weft_actor_lookup", "NULL");
    assert_int_equal(weft_actor_kill(rt, a), 0);

    CHECK_ERR(weft_trace_write(rt, NULL), WEFT_EINVAL, "weft_trace_write",
              "path");
    CHECK_ERR(weft_trace_write(rt, "/tmp/rt_errors_never.json"), WEFT_EINVAL,
              "weft_trace_write", "not started");

    weft_get_stats(rt, NULL); /* no crash */
    weft_shutdown(rt);
}

/* ------------------------------------------------ submission-time checks */

static void test_unknown_function(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(1);
    weft_ref r = {0};
    CHECK_ERR(weft_submit(rt, "rt_err_no_such_function", WEFT_NOARGS, NULL, &r),
              WEFT_ENOFUNC, "weft_submit", "rt_err_no_such_function");
    CHECK_ERR(weft_submit(rt, "", WEFT_NOARGS, NULL, &r), WEFT_ENOFUNC,
              "unknown function");
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.tasks_submitted, 0);
    assert_int_equal(st.objects, 0);
    weft_shutdown(rt);
}

static void test_signature_checks(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_ref r = {0};
    CHECK_ERR(weft_submit(rt, "rt_err_add", WEFT_ARGS(weft_i64(1)), NULL, &r),
              WEFT_EARGC, "rt_err_add", "2 arguments", "got 1");
    CHECK_ERR(weft_submit(rt, "rt_err_add",
                          WEFT_ARGS(weft_i64(1), weft_i64(2), weft_i64(3)),
                          NULL, &r),
              WEFT_EARGC, "rt_err_add", "got 3");
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_ARGS(weft_i64(1)), NULL, &r),
              WEFT_EARGC, "rt_err_one", "0 arguments");
    CHECK_ERR(weft_submit(rt, "rt_err_add",
                          WEFT_ARGS(weft_i64(1), weft_str("two")), NULL, &r),
              WEFT_ETYPE, "rt_err_add", "argument 1", "i64", "str");
    CHECK_ERR(weft_submit(rt, "rt_err_add",
                          WEFT_ARGS(weft_f64(1.5), weft_i64(2)), NULL, &r),
              WEFT_ETYPE, "argument 0", "f64");
    /* 'f' accepts an i64. */
    assert_int_equal(
        weft_submit(rt, "rt_err_weigh", WEFT_ARGS(weft_i64(3)), NULL, &r), 0);
    double w = 0;
    assert_int_equal(weft_get_f64(rt, r, &w, WEFT_FOREVER), 0);
    assert_true(w == 6.0);
    weft_release(rt, r);

    /* A reference argument is checked once its value is known: the task
     * fails with WEFT_ETYPE. */
    weft_ref s;
    assert_int_equal(weft_submit(rt, "rt_err_str_of", WEFT_NOARGS, NULL, &s),
                     0);
    assert_int_equal(weft_submit(rt, "rt_err_add",
                                 WEFT_ARGS(weft_i64(1), weft_refv(s)), NULL,
                                 &r),
                     0);
    int64_t x;
    assert_int_equal(weft_get_i64(rt, r, &x, WEFT_FOREVER), WEFT_ETYPE);
    const char *m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "rt_err_add"));
    assert_non_null(strstr(m, "argument 1"));
    weft_release(rt, r);
    weft_release(rt, s);

    /* Typed gets of the wrong type. */
    weft_value sv = weft_str("text");
    assert_int_equal(weft_put(rt, &sv, &s), 0);
    CHECK_ERR(weft_get_i64(rt, s, &x, 0), WEFT_ETYPE, "str", "i64");
    bool b;
    CHECK_ERR(weft_get_bool(rt, s, &b, 0), WEFT_ETYPE, "bool");
    double d;
    CHECK_ERR(weft_get_f64(rt, s, &d, 0), WEFT_ETYPE, "f64");
    weft_release(rt, s);
    weft_shutdown(rt);
}

static void test_bad_references(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_runtime *other = start_runtime(1);
    weft_value v = weft_i64(41);
    weft_ref r, foreign, out = {0};
    assert_int_equal(weft_put(rt, &v, &r), 0);
    assert_int_equal(weft_put(other, &v, &foreign), 0);
    assert_int_equal(weft_release(rt, r), 0);

    /* A released reference. */
    CHECK_ERR(
        weft_submit(rt, "rt_err_inc", WEFT_ARGS(weft_refv(r)), NULL, &out),
        WEFT_EBADREF, "weft_submit", "argument 0");
    CHECK_ERR(weft_get(rt, r, &v, 0), WEFT_EBADREF, "weft_get");
    CHECK_ERR(weft_retain(rt, r), WEFT_EBADREF, "weft_retain");
    CHECK_ERR(weft_release(rt, r), WEFT_EBADREF, "weft_release");
    CHECK_ERR(weft_seal(rt, r), WEFT_EBADREF, "weft_seal");
    CHECK_ERR(weft_wait(rt, &r, 1, 1, 0, NULL, NULL), WEFT_EBADREF,
              "weft_wait");
    assert_false(weft_ready(rt, r));
    assert_null(weft_error_message(rt, r));

    /* Forged ids. */
    const weft_ref forged[] = {
        {1}, {0}, {0xdeadbeefcafef00dull}, {UINT64_MAX}, {r.id + 12345}};
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
        CHECK_ERR(weft_get(rt, forged[i], &v, 0), WEFT_EBADREF, "weft_get");
        CHECK_ERR(weft_submit(rt, "rt_err_inc", WEFT_ARGS(weft_refv(forged[i])),
                              NULL, &out),
                  WEFT_EBADREF, "argument 0");
        CHECK_ERR(weft_release(rt, forged[i]), WEFT_EBADREF, "weft_release");
    }

    /* A reference from another runtime. */
    CHECK_ERR(weft_get(rt, foreign, &v, 0), WEFT_EBADREF, "weft_get");
    CHECK_ERR(weft_submit(rt, "rt_err_inc", WEFT_ARGS(weft_refv(foreign)), NULL,
                          &out),
              WEFT_EBADREF, "argument 0");
    CHECK_ERR(weft_release(rt, foreign), WEFT_EBADREF, "weft_release");
    CHECK_ERR(weft_retain(rt, foreign), WEFT_EBADREF, "weft_retain");
    /* ... which is still fine in its own runtime. */
    int64_t x = 0;
    assert_int_equal(weft_get_i64(other, foreign, &x, 0), 0);
    assert_int_equal(x, 41);
    assert_int_equal(weft_release(other, foreign), 0);

    /* Nothing leaked from the failed submissions. */
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.tasks_submitted, 0);
    assert_int_equal(st.objects, 0);
    weft_shutdown(other);
    weft_shutdown(rt);
}

static void test_options_checks(void **state)
{
    (void)state;
    weft_options ro;
    weft_options_init(&ro);
    ro.num_threads = 2;
    ro.cpus = 2;
    ro.memory = 1 << 20;
    ro.resources = "gpu=1,fpga=2";
    weft_runtime *rt = NULL;
    assert_int_equal(weft_init(&rt, &ro), 0);
    weft_ref r[4] = {{0}};
    weft_task_opts o;

    weft_task_opts_init(&o);
    o.num_returns = 1u << 20;
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_EINVAL,
              "num_returns");

    weft_task_opts_init(&o);
    o.cpus = -1;
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_EINVAL,
              "cpus");

    weft_task_opts_init(&o);
    o.cpus = 3;
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_ERESOURCE,
              "cpus", "3");

    weft_task_opts_init(&o);
    o.memory = 2 << 20;
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_ERESOURCE,
              "memory");

    weft_task_opts_init(&o);
    o.resources = "gpu=2";
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_ERESOURCE,
              "gpu");

    weft_task_opts_init(&o);
    o.resources = "tpu=1";
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_ERESOURCE,
              "tpu");

    static const char *const bad_specs[] = {
        "gpu", "=1", "gpu=abc", "gpu=-1", "gpu=1;fpga=1", ",gpu=1", "gpu=1e99"};
    for (size_t i = 0; i < sizeof bad_specs / sizeof *bad_specs; i++) {
        weft_task_opts_init(&o);
        o.resources = bad_specs[i];
        sentinel();
        weft_err e = weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r);
        if (e != WEFT_EINVAL)
            fail_msg("resources \"%s\": got %s, want WEFT_EINVAL (%s)",
                     bad_specs[i], weft_err_name(e), weft_last_error());
        if (!strstr(weft_last_error(), bad_specs[i]))
            fail_msg("resources \"%s\": detail \"%s\" does not quote it",
                     bad_specs[i], weft_last_error());
    }

    /* A good spec works and the task runs. */
    weft_task_opts_init(&o);
    o.resources = "gpu=1,fpga=0.5";
    o.cpus = 0.5;
    o.memory = 1000;
    assert_int_equal(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), 0);
    int64_t x = 0;
    assert_int_equal(weft_get_i64(rt, r[0], &x, WEFT_FOREVER), 0);
    assert_int_equal(x, 1);
    weft_release(rt, r[0]);

    weft_task_opts_init(&o);
    o.executor = (weft_executor)42;
    CHECK_ERR(weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, r), WEFT_EINVAL,
              "executor");

    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.tasks_submitted, 1);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);

    /* Runtime options. */
    weft_options bo;
    weft_options_init(&bo);
    bo.resources = "gpu=x";
    CHECK_ERR(weft_init(&rt, &bo), WEFT_EINVAL, "weft_init", "gpu=x");
    assert_null(rt);
    weft_options_init(&bo);
    bo.cpus = -2;
    CHECK_ERR(weft_init(&rt, &bo), WEFT_EINVAL, "weft_init", "cpus");
    assert_null(rt);
    weft_options_init(&bo);
    bo.num_threads = -1;
    CHECK_ERR(weft_init(&rt, &bo), WEFT_EINVAL, "weft_init", "num_threads");
    assert_null(rt);
    weft_options_init(&bo);
    bo.executor = (weft_executor)9;
    CHECK_ERR(weft_init(&rt, &bo), WEFT_EINVAL, "weft_init", "executor");
    assert_null(rt);
}

/* An empty amount ("gpu=") is malformed, not "gpu=0". */
static void test_resource_spec_empty_amount(void **state)
{
    (void)state;
    weft_options ro;
    weft_options_init(&ro);
    ro.num_threads = 1;
    ro.resources = "gpu=1";
    weft_runtime *rt = NULL;
    assert_int_equal(weft_init(&rt, &ro), 0);
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.resources = "gpu=";
    weft_ref r = {0};
    sentinel();
    weft_err e = weft_submit(rt, "rt_err_one", WEFT_NOARGS, &o, &r);
    if (e == 0)
        weft_release(rt, r);
    weft_shutdown(rt);
    if (e != WEFT_EINVAL)
        fail_msg("task resources \"gpu=\": got %s, want WEFT_EINVAL",
                 weft_err_name(e));

    ro.resources = "gpu=";
    rt = NULL;
    e = weft_init(&rt, &ro);
    weft_shutdown(rt);
    if (e != WEFT_EINVAL)
        fail_msg("runtime resources \"gpu=\": got %s, want WEFT_EINVAL",
                 weft_err_name(e));
}

/* Errors that wrap a nested detail keep the detail readable: the prefix is
 * added without overwriting the text it quotes. */
static void test_nested_error_details(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.num_threads = 1;
    o.store_cap = 1 << 20;
    weft_runtime *rt = NULL;
    assert_int_equal(weft_init(&rt, &o), 0);
    weft_ref r = {0};
    char *big = calloc(1, 2 << 20);
    assert_non_null(big);
    weft_value v = weft_bytes(big, 2 << 20);
    void *data;
    int64_t shape[1] = {3};

    sentinel();
    weft_err e1 =
        weft_submit(rt, "rt_err_any", WEFT_ARGS(weft_str(NULL)), NULL, &r);
    char m1[512];
    snprintf(m1, sizeof m1, "%s", weft_last_error());
    sentinel();
    weft_err e2 = weft_submit(
        rt, "rt_err_any", WEFT_ARGS(weft_array(WEFT_DT_F64, 1, shape, NULL)),
        NULL, &r);
    char m2[512];
    snprintf(m2, sizeof m2, "%s", weft_last_error());
    sentinel();
    weft_err e3 = weft_put(rt, &v, &r);
    char m3[512];
    snprintf(m3, sizeof m3, "%s", weft_last_error());
    sentinel();
    weft_err e4 = weft_create(rt, 2 << 20, &data, &r);
    char m4[512];
    snprintf(m4, sizeof m4, "%s", weft_last_error());
    free(big);
    weft_shutdown(rt);

    assert_int_equal(e1, WEFT_EINVAL);
    assert_int_equal(e2, WEFT_EINVAL);
    assert_int_equal(e3, WEFT_ESTOREFULL);
    assert_int_equal(e4, WEFT_ESTOREFULL);
    const struct {
        const char *msg, *want1, *want2, *want3;
    } c[] = {
        {m1, "weft_submit", "rt_err_any", "argument 0: NULL string"},
        {m2, "weft_submit", "rt_err_any", "argument 0: NULL array data"},
        {m3, "weft_put", "store full", "2097152 bytes asked"},
        {m4, "weft_create", "store full", "2097152 bytes asked"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (!strstr(c[i].msg, c[i].want1) || !strstr(c[i].msg, c[i].want2) ||
            !strstr(c[i].msg, c[i].want3))
            fail_msg("detail \"%s\" should contain \"%s\", \"%s\" and "
                     "\"%s\"",
                     c[i].msg, c[i].want1, c[i].want2, c[i].want3);
}

static void test_init_with_address(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.address = "127.0.0.1:6379";
    weft_runtime *rt = (weft_runtime *)&o; /* must be reset to NULL */
    sentinel();
    weft_err e = weft_init(&rt, &o);
    assert_true(e < 0);
    assert_null(rt);
    assert_non_null(strstr(weft_last_error(), "127.0.0.1:6379"));

    /* The same through the environment. */
    setenv("WEFT_ADDRESS", "10.0.0.1:1", 1);
    rt = (weft_runtime *)&o;
    sentinel();
    e = weft_init(&rt, NULL);
    unsetenv("WEFT_ADDRESS");
    assert_true(e < 0);
    assert_null(rt);
    assert_non_null(strstr(weft_last_error(), "10.0.0.1:1"));

    /* And an embedded runtime still starts afterwards. */
    rt = start_runtime(1);
    weft_shutdown(rt);
}

static weft_err rt_err_dup_fn(weft_task *t)
{
    return weft_return_i64(t, 0);
}

static void test_register_checks(void **state)
{
    (void)state;
    CHECK_ERR(weft_register("rt_err_bad_sig", rt_err_dup_fn, "iz"), WEFT_EINVAL,
              "rt_err_bad_sig", "iz");
    CHECK_ERR(weft_register("rt_err_bad_sig2", rt_err_dup_fn, ".i"),
              WEFT_EINVAL, "rt_err_bad_sig2");
    CHECK_ERR(weft_register(NULL, rt_err_dup_fn, NULL), WEFT_EINVAL,
              "weft_register", "name");
    CHECK_ERR(weft_register("", rt_err_dup_fn, NULL), WEFT_EINVAL,
              "weft_register", "name");
    CHECK_ERR(weft_register("rt_err_null_fn", NULL, NULL), WEFT_EINVAL,
              "weft_register", "function");
    CHECK_ERR(weft_register("rt_err_add", rt_err_dup_fn, "ii"), WEFT_EEXIST,
              "rt_err_add");
    /* A failed registration registers nothing. */
    weft_runtime *rt = start_runtime(1);
    weft_ref r;
    CHECK_ERR(weft_submit(rt, "rt_err_bad_sig", WEFT_NOARGS, NULL, &r),
              WEFT_ENOFUNC, "rt_err_bad_sig");
    /* A good registration by hand works, once. */
    assert_int_equal(weft_register("rt_err_by_hand", rt_err_dup_fn, "*."), 0);
    CHECK_ERR(weft_register("rt_err_by_hand", rt_err_dup_fn, NULL), WEFT_EEXIST,
              "rt_err_by_hand");
    assert_int_equal(weft_submit(rt, "rt_err_by_hand",
                                 WEFT_ARGS(weft_i64(1), weft_str("x")), NULL,
                                 &r),
                     0);
    int64_t x = 1;
    assert_int_equal(weft_get_i64(rt, r, &x, WEFT_FOREVER), 0);
    assert_int_equal(x, 0);
    weft_release(rt, r);

    /* Actor classes. */
    static const weft_method ms[] = {{"m", rt_err_method, "q"}};
    weft_actor_class c = {"RtErrBadClass", rt_err_ctor, NULL, ms, 1, NULL};
    CHECK_ERR(weft_register_actor(&c), WEFT_EINVAL, "q");
    CHECK_ERR(weft_register_actor(NULL), WEFT_EINVAL, "weft_register_actor");
    weft_actor_class dup = {"RtErrActor",   rt_err_ctor, NULL,
                            rt_err_methods, 1,           NULL};
    CHECK_ERR(weft_register_actor(&dup), WEFT_EEXIST, "RtErrActor");
    weft_actor a;
    CHECK_ERR(weft_actor_create(rt, "RtErrBadClass", WEFT_NOARGS, NULL, &a),
              WEFT_ENOACTOR, "RtErrBadClass");
    weft_shutdown(rt);
}

/* -------------------------------------------------------- failing tasks */

static void test_task_fail_message(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_ref r;
    assert_int_equal(
        weft_submit(rt, "rt_err_weigh", WEFT_ARGS(weft_f64(-2.5)), NULL, &r),
        0);
    weft_value v;
    sentinel();
    assert_int_equal(weft_get(rt, r, &v, WEFT_FOREVER), WEFT_ETASK);
    assert_int_equal(v.type, WEFT_T_NONE);
    const char *m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "rt_err_weigh"));
    assert_non_null(strstr(m, "bad weight -2.5"));
    assert_non_null(strstr(m, "thread"));
    /* weft_last_error tells the same story. */
    assert_non_null(strstr(weft_last_error(), "bad weight -2.5"));
    /* Getting again gives the same. */
    double d;
    assert_int_equal(weft_get_f64(rt, r, &d, 0), WEFT_ETASK);
    assert_true(weft_ready(rt, r));
    /* get_many: the failed one reads as NONE, the good one is there. */
    weft_ref ok, both[2];
    assert_int_equal(
        weft_submit(rt, "rt_err_weigh", WEFT_ARGS(weft_f64(4)), NULL, &ok), 0);
    both[0] = ok;
    both[1] = r;
    weft_value outs[2];
    assert_int_equal(weft_get_many(rt, both, 2, outs, WEFT_FOREVER),
                     WEFT_ETASK);
    assert_int_equal(outs[0].type, WEFT_T_F64);
    assert_true(outs[0].u.f64 == 8.0);
    assert_int_equal(outs[1].type, WEFT_T_NONE);
    assert_null(weft_error_message(rt, ok));
    weft_release(rt, ok);
    weft_release(rt, r);

    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.tasks_failed, 1);
    assert_int_equal(st.tasks_finished, 1);
    weft_shutdown(rt);
}

static void test_wrong_accessor(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_ref r;
    assert_int_equal(weft_submit(rt, "rt_err_wrong_accessor",
                                 WEFT_ARGS(weft_i64(3)), NULL, &r),
                     0);
    const char *s;
    assert_int_equal(weft_get_str(rt, r, &s, WEFT_FOREVER), WEFT_ETYPE);
    const char *m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "rt_err_wrong_accessor"));
    assert_non_null(strstr(m, "argument 0"));
    assert_non_null(strstr(m, "str"));
    assert_non_null(strstr(m, "i64"));
    weft_release(rt, r);

    /* The task ignores the NULL and returns 0: it still fails. */
    assert_int_equal(weft_submit(rt, "rt_err_wrong_accessor_ignored",
                                 WEFT_ARGS(weft_i64(3), weft_f64(1)), NULL, &r),
                     0);
    int64_t x;
    assert_int_equal(weft_get_i64(rt, r, &x, WEFT_FOREVER), WEFT_ETYPE);
    m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "argument 1"));
    assert_non_null(strstr(m, "bool"));
    weft_release(rt, r);

    /* Asking for an argument that was not given. */
    assert_int_equal(weft_submit(rt, "rt_err_wrong_accessor_ignored",
                                 WEFT_ARGS(weft_i64(3)), NULL, &r),
                     0);
    assert_int_equal(weft_get_i64(rt, r, &x, WEFT_FOREVER), WEFT_EARGC);
    m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "argument 1"));
    weft_release(rt, r);
    weft_shutdown(rt);
}

static void test_upstream_failure(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_ref root, c[3];
    assert_int_equal(
        weft_submit(rt, "rt_err_weigh", WEFT_ARGS(weft_f64(-1)), NULL, &root),
        0);
    weft_ref prev = root;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_submit(rt, "rt_err_inc",
                                     WEFT_ARGS(weft_refv(prev)), NULL, &c[i]),
                         0);
        prev = c[i];
    }
    /* Release the root and the middle early: the failure still flows. */
    weft_release(rt, root);
    weft_release(rt, c[0]);
    for (int i = 1; i < 3; i++) {
        int64_t x = 0;
        assert_int_equal(weft_get_i64(rt, c[i], &x, WEFT_FOREVER),
                         WEFT_EUPSTREAM);
        const char *m = weft_error_message(rt, c[i]);
        assert_non_null(m);
        assert_non_null(strstr(m, "bad weight -1"));
        assert_non_null(strstr(m, "rt_err_weigh"));
        assert_non_null(strstr(m, "rt_err_inc"));
    }
    /* A dependant with several inputs, one failed. */
    weft_ref good, bad, mix;
    assert_int_equal(
        weft_submit(rt, "rt_err_inc", WEFT_ARGS(weft_i64(1)), NULL, &good), 0);
    assert_int_equal(
        weft_submit(rt, "rt_err_weigh", WEFT_ARGS(weft_f64(0)), NULL, &bad), 0);
    assert_int_equal(weft_submit(rt, "rt_err_add",
                                 WEFT_ARGS(weft_refv(good), weft_refv(bad)),
                                 NULL, &mix),
                     0);
    int64_t x;
    assert_int_equal(weft_get_i64(rt, mix, &x, WEFT_FOREVER), WEFT_EUPSTREAM);
    const char *m = weft_error_message(rt, mix);
    assert_non_null(m);
    assert_non_null(strstr(m, "bad weight 0"));
    assert_non_null(strstr(m, "argument 1"));
    assert_int_equal(weft_get_i64(rt, good, &x, 0), 0);
    assert_int_equal(x, 2);
    weft_release(rt, good);
    weft_release(rt, bad);
    weft_release(rt, mix);
    weft_release(rt, c[1]);
    weft_release(rt, c[2]);

    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.tasks_submitted, 7);
    assert_int_equal(st.tasks_failed, 6);
    assert_int_equal(st.tasks_finished, 1);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* The guide: "weft_get returns the task's code (WEFT_ETASK from weft_fail,
 * WEFT_ETYPE for a bad argument, the code the task returned, ...)". */
static void test_task_returns_error_code(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    static const weft_err codes[] = {WEFT_ETASK, WEFT_ERANGE, WEFT_EIO,
                                     WEFT_EINVAL};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        weft_ref r;
        assert_int_equal(weft_submit(rt, "rt_err_return_code",
                                     WEFT_ARGS(weft_i64(codes[i])), NULL, &r),
                         0);
        weft_value v;
        weft_err e = weft_get(rt, r, &v, WEFT_FOREVER);
        const char *m = weft_error_message(rt, r);
        assert_non_null(m);
        assert_non_null(strstr(m, "rt_err_return_code"));
        assert_non_null(strstr(m, weft_err_name(codes[i])));
        if (e != codes[i])
            fail_msg("task returned %s: weft_get gave %s (message \"%s\")",
                     weft_err_name(codes[i]), weft_err_name(e), m);
        weft_release(rt, r);
    }
    weft_shutdown(rt);
}

/* --------------------------------------------------------- error strings */

static void test_strerror_and_names(void **state)
{
    (void)state;
    static const struct {
        weft_err code;
        const char *name, *msg;
    } all[] = {
#define RT_ERR_ROW(name, val, msg) {WEFT_##name, "WEFT_" #name, msg},
        WEFT_ERRNO_MAP(RT_ERR_ROW)
#undef RT_ERR_ROW
    };
    size_t n = sizeof all / sizeof *all;
    assert_true(n >= 21);
    for (size_t i = 0; i < n; i++) {
        const char *s = weft_strerror(all[i].code);
        const char *nm = weft_err_name(all[i].code);
        assert_non_null(s);
        assert_non_null(nm);
        assert_true(*s && *nm);
        assert_string_equal(s, all[i].msg);
        assert_string_equal(nm, all[i].name);
        assert_true(all[i].code < 0);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(all[i].code, all[j].code);
            assert_string_not_equal(s, weft_strerror(all[j].code));
            assert_string_not_equal(nm, weft_err_name(all[j].code));
        }
    }
    /* Success has its own strings. */
    assert_true(*weft_strerror(0) && *weft_err_name(0));
    assert_string_equal(weft_err_name(WEFT_OK), "WEFT_OK");
    /* Unknown codes give a fallback, never NULL, never a real code's. */
    static const weft_err unknown[] = {-22, -1000, 1, 42, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        const char *s = weft_strerror(unknown[i]);
        const char *nm = weft_err_name(unknown[i]);
        assert_non_null(s);
        assert_non_null(nm);
        assert_true(*s && *nm);
        assert_string_equal(s, weft_strerror(-1000));
        assert_string_equal(nm, weft_err_name(-1000));
        for (size_t j = 0; j < n; j++) {
            assert_string_not_equal(s, all[j].msg);
            assert_string_not_equal(nm, all[j].name);
        }
    }
}

/* ----------------------------------------------------------- store cap */

static void test_store_cap(void **state)
{
    (void)state;
    enum { MiB = 1 << 20 };
    weft_options o;
    weft_options_init(&o);
    o.num_threads = 2;
    o.store_cap = MiB;
    weft_runtime *rt = NULL;
    assert_int_equal(weft_init(&rt, &o), 0);
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_int_equal(st.store_cap, MiB);

    char *big = calloc(1, 2 * MiB);
    assert_non_null(big);
    weft_value v = weft_bytes(big, 2 * MiB);
    weft_ref r = {0};
    CHECK_ERR(weft_put(rt, &v, &r), WEFT_ESTOREFULL, "weft_put");
    void *data;
    CHECK_ERR(weft_create(rt, 2 * MiB, &data, &r), WEFT_ESTOREFULL,
              "weft_create");
    weft_get_stats(rt, &st);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.store_bytes, 0);

    /* A too-large result fails its task, copied or allocated in place. */
    const char *fns[] = {"rt_err_big_result", "rt_err_big_alloc"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            weft_submit(rt, fns[i], WEFT_ARGS(weft_i64(2 * MiB)), NULL, &r), 0);
        weft_value got;
        assert_int_equal(weft_get(rt, r, &got, WEFT_FOREVER), WEFT_ESTOREFULL);
        const char *m = weft_error_message(rt, r);
        assert_non_null(m);
        assert_non_null(strstr(m, fns[i]));
        assert_non_null(strstr(m, "full"));
        weft_release(rt, r);
    }

    /* Fill most of it, fail, release, succeed. */
    weft_ref a, b;
    weft_value part = weft_bytes(big, 600 * 1024);
    assert_int_equal(weft_put(rt, &part, &a), 0);
    CHECK_ERR(weft_put(rt, &part, &b), WEFT_ESTOREFULL, "weft_put");
    assert_int_equal(weft_submit(rt, "rt_err_big_result",
                                 WEFT_ARGS(weft_i64(600 * 1024)), NULL, &b),
                     0);
    weft_value got;
    assert_int_equal(weft_get(rt, b, &got, WEFT_FOREVER), WEFT_ESTOREFULL);
    weft_release(rt, b);
    weft_get_stats(rt, &st);
    assert_true(st.store_bytes >= 600 * 1024);
    assert_true(st.store_bytes <= MiB);
    assert_int_equal(weft_release(rt, a), 0);
    assert_int_equal(objects_settled(rt), 0);
    weft_get_stats(rt, &st);
    assert_int_equal(st.store_bytes, 0);
    assert_int_equal(weft_put(rt, &part, &b), 0);
    assert_int_equal(weft_get(rt, b, &got, 0), 0);
    assert_int_equal(got.type, WEFT_T_BYTES);
    assert_int_equal(got.u.buf.len, 600 * 1024);
    weft_release(rt, b);
    assert_int_equal(weft_submit(rt, "rt_err_big_alloc",
                                 WEFT_ARGS(weft_i64(900 * 1024)), NULL, &b),
                     0);
    assert_int_equal(weft_get(rt, b, &got, WEFT_FOREVER), 0);
    assert_int_equal(got.u.buf.len, 900 * 1024);
    assert_int_equal(((const unsigned char *)got.u.buf.data)[900 * 1024 - 1],
                     1);
    weft_release(rt, b);

    /* A large argument counts against the cap too. */
    CHECK_ERR(weft_submit(rt, "rt_err_any", WEFT_ARGS(v), NULL, &b),
              WEFT_ESTOREFULL, "full");
    assert_int_equal(objects_settled(rt), 0);
    weft_get_stats(rt, &st);
    assert_int_equal(st.store_bytes, 0);
    free(big);
    weft_shutdown(rt);
}

/* weft_seal accepts only an object from weft_create, once; a task result
 * still running cannot be sealed by the caller. */
static void test_seal_only_created_objects(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(0);
    void *data;
    weft_ref c, r;
    OK(weft_create(rt, 16, &data, &c));
    memset(data, 7, 16);
    OK(weft_submit(rt, "rt_err_any", WEFT_ARGS(weft_refv(c)), NULL, &r));
    assert_err(weft_seal(rt, r), WEFT_EINVAL, "weft_create"); /* a result */
    OK(weft_seal(rt, c));
    assert_err(weft_seal(rt, c), WEFT_EINVAL, "already sealed"); /* twice */
    weft_value v;
    OK(weft_get(rt, r, &v, WEFT_FOREVER));
    weft_release(rt, r);
    weft_release(rt, c);
    weft_shutdown(rt);
}

/* Shutdown does not hang on tasks waiting for an object that is never
 * sealed: the object is cancelled and its dependants end. */
static void test_shutdown_cancels_unsealed(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(0);
    void *data;
    weft_ref c, r[3];
    OK(weft_create(rt, 8, &data, &c));
    for (int i = 0; i < 3; i++)
        OK(weft_submit(rt, "rt_err_any", WEFT_ARGS(weft_refv(c)), NULL, &r[i]));
    weft_release_many(rt, r, 3);
    weft_release(rt, c); /* released unsealed: still cancelled at the end */
    weft_shutdown(rt);   /* returns: ctest's timeout would catch a hang */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_runtime_everywhere),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_unknown_function),
        cmocka_unit_test(test_signature_checks),
        cmocka_unit_test(test_bad_references),
        cmocka_unit_test(test_options_checks),
        cmocka_unit_test(test_resource_spec_empty_amount),
        cmocka_unit_test(test_nested_error_details),
        cmocka_unit_test(test_init_with_address),
        cmocka_unit_test(test_register_checks),
        cmocka_unit_test(test_task_fail_message),
        cmocka_unit_test(test_wrong_accessor),
        cmocka_unit_test(test_upstream_failure),
        cmocka_unit_test(test_task_returns_error_code),
        cmocka_unit_test(test_strerror_and_names),
        cmocka_unit_test(test_store_cap),
        cmocka_unit_test(test_seal_only_created_objects),
        cmocka_unit_test(test_shutdown_cancels_unsealed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
