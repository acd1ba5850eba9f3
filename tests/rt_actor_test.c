/* Black-box test of actors: per-actor call order (from several threads,
 * and with arguments that are not ready yet), many actors in parallel,
 * named actors, unknown classes and methods, kill and destructors, failing
 * constructors, num_returns, nested tasks from methods. Only the public API
 * (include/weft/weft.h) is used. WEFT_TEST_SCALE=sanitize scales loops down. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "testutil.h"

/* ================================================= the actor class */

static atomic_int rt_act_constructed, rt_act_destroyed;

typedef struct act_state {
    int64_t *log; /* (caller, index) pairs in the order calls ran */
    size_t n, cap;
    int64_t total;
    int64_t id;
    atomic_int busy; /* >0 while a method runs: must never exceed 1 */
} act_state;

static weft_err rt_act_init(weft_task *t)
{
    act_state *s = calloc(1, sizeof *s);
    if (!s)
        return weft_fail(t, "out of memory");
    s->id = weft_nargs(t) ? weft_arg_i64(t, 0) : 0;
    weft_actor_set_state(t, s);
    atomic_fetch_add(&rt_act_constructed, 1);
    return 0;
}

static void rt_act_destroy(void *p)
{
    act_state *s = p;
    free(s->log);
    free(s);
    atomic_fetch_add(&rt_act_destroyed, 1);
}

static weft_err enter(weft_task *t, act_state *s)
{
    if (!s)
        return weft_fail(t, "no state");
    if (atomic_fetch_add(&s->busy, 1) != 0)
        return weft_fail(t, "two calls ran at once on one actor");
    return 0;
}

static weft_err leave(act_state *s, weft_err e)
{
    atomic_fetch_sub(&s->busy, 1);
    return e;
}

static weft_err log_append(weft_task *t, act_state *s, int64_t caller,
                           int64_t idx)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        int64_t *log = realloc(s->log, cap * 2 * sizeof *log);
        if (!log)
            return weft_fail(t, "out of memory");
        s->log = log;
        s->cap = cap;
    }
    s->log[2 * s->n] = caller;
    s->log[2 * s->n + 1] = idx;
    s->n++;
    return weft_return_i64(t, (int64_t)s->n);
}

/* append(caller, index) */
static weft_err rt_act_append(weft_task *t)
{
    act_state *s = weft_actor_state(t);
    weft_err e = enter(t, s);
    if (e)
        return e;
    return leave(s, log_append(t, s, weft_arg_i64(t, 0), weft_arg_i64(t, 1)));
}

/* append_gated(caller, index, gate): the gate is any object. */
static weft_err rt_act_append_gated(weft_task *t)
{
    return rt_act_append(t);
}

/* dump(): the log as bytes. */
static weft_err rt_act_dump(weft_task *t)
{
    act_state *s = weft_actor_state(t);
    weft_err e = enter(t, s);
    if (e)
        return e;
    weft_value v = weft_bytes(s->log, s->n * 2 * sizeof(int64_t));
    return leave(s, weft_return(t, 0, &v));
}

/* add(x): total += x; returns the new total. A little work in between, so
 * overlapping calls would be caught by `busy`. */
static weft_err rt_act_add(weft_task *t)
{
    act_state *s = weft_actor_state(t);
    weft_err e = enter(t, s);
    if (e)
        return e;
    int64_t x = weft_arg_i64(t, 0);
    int64_t before = s->total;
    for (volatile int i = 0; i < 200; i++)
        ;
    s->total = before + x; /* lost updates would show if calls overlapped */
    return leave(s, weft_return_i64(t, s->total));
}

static weft_err rt_act_total(weft_task *t)
{
    act_state *s = weft_actor_state(t);
    return weft_return_i64(t, s ? s->total : -1);
}

/* pair(x): results x*2 and x*3. */
static weft_err rt_act_pair(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    weft_value a = weft_i64(x * 2), b = weft_i64(x * 3);
    weft_err e = weft_return(t, 0, &a);
    return e ? e : weft_return(t, 1, &b);
}

static weft_err rt_act_square(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    return weft_return_i64(t, x * x);
}
WEFT_REGISTER_SIG(rt_act_square, "i");

/* nested(x): submits square(x), gets it, adds it to the total. */
static weft_err rt_act_nested(weft_task *t)
{
    act_state *s = weft_actor_state(t);
    weft_runtime *rt = weft_task_runtime(t);
    weft_ref r;
    weft_err e = weft_submit(rt, "rt_act_square",
                             WEFT_ARGS(weft_i64(weft_arg_i64(t, 0))), NULL, &r);
    if (e)
        return e;
    int64_t v = 0;
    e = weft_get_i64(rt, r, &v, WEFT_FOREVER);
    weft_release(rt, r);
    if (e)
        return e;
    s->total += v;
    return weft_return_i64(t, s->total);
}

/* call_other(actor id, x): add(x) on another actor, gotten here. */
static weft_err rt_act_call_other(weft_task *t)
{
    weft_runtime *rt = weft_task_runtime(t);
    weft_actor other = {(uint64_t)weft_arg_i64(t, 0)};
    weft_ref r;
    weft_err e = weft_actor_call(
        rt, other, "add", WEFT_ARGS(weft_i64(weft_arg_i64(t, 1))), NULL, &r);
    if (e)
        return e;
    int64_t v = 0;
    e = weft_get_i64(rt, r, &v, WEFT_FOREVER);
    weft_release(rt, r);
    return e ? e : weft_return_i64(t, v);
}

static const weft_method rt_act_methods[] = {
    {"append", rt_act_append, "ii"},
    {"append_gated", rt_act_append_gated, "ii*"},
    {"dump", rt_act_dump, ""},
    {"add", rt_act_add, "i"},
    {"total", rt_act_total, ""},
    {"pair", rt_act_pair, "i"},
    {"nested", rt_act_nested, "i"},
    {"call_other", rt_act_call_other, "ii"},
};
WEFT_REGISTER_ACTOR(RtActLog, rt_act_init, rt_act_destroy, rt_act_methods);

/* A class whose constructor fails. */
static weft_err rt_act_bad_init(weft_task *t)
{
    return weft_fail(t, "cannot open device %d", 7);
}
/* A class whose constructor reads its argument with the wrong accessor. */
static weft_err rt_act_typo_init(weft_task *t)
{
    const char *s = weft_arg_str(t, 0);
    if (!s)
        return WEFT_ETYPE;
    weft_actor_set_state(t, NULL);
    return 0;
}
static const weft_method rt_act_bad_methods[] = {
    {"total", rt_act_total, ""},
};
WEFT_REGISTER_ACTOR(RtActBad, rt_act_bad_init, rt_act_destroy,
                    rt_act_bad_methods);
WEFT_REGISTER_ACTOR(RtActTypo, rt_act_typo_init, rt_act_destroy,
                    rt_act_bad_methods);

/* A slow task: sleeps ms milliseconds, returns v (a sleeping task). */
static weft_err rt_act_slow(weft_task *t)
{
    int64_t ms = weft_arg_i64(t, 0);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return weft_return_i64(t, weft_arg_i64(t, 1));
}
WEFT_REGISTER_SIG(rt_act_slow, "ii");

/* The actor's log, read through dump(). */
static int64_t *read_log(weft_runtime *rt, weft_actor a, size_t *n,
                         weft_ref *hold)
{
    OK(weft_actor_call(rt, a, "dump", WEFT_NOARGS, NULL, hold));
    weft_value v;
    OK(weft_get(rt, *hold, &v, WEFT_FOREVER));
    assert_int_equal(v.type, WEFT_T_BYTES);
    *n = v.u.buf.len / (2 * sizeof(int64_t));
    return (int64_t *)v.u.buf.data;
}

/* ====================================================== ordering */

typedef struct caller_arg {
    weft_runtime *rt;
    weft_actor a;
    int caller, calls;
    weft_err err;
    char detail[256];
} caller_arg;

static void *caller_main(void *p)
{
    caller_arg *c = p;
    for (int i = 0; i < c->calls && !c->err; i++) {
        weft_ref r;
        c->err = weft_actor_call(c->rt, c->a, "append",
                                 WEFT_ARGS(weft_i64(c->caller), weft_i64(i)),
                                 NULL, &r);
        if (c->err) {
            snprintf(c->detail, sizeof c->detail, "%s", weft_last_error());
            break;
        }
        /* Mostly fire and forget; now and then wait for the result. */
        if (i % 97 == 0) {
            int64_t n = 0;
            c->err = weft_get_i64(c->rt, r, &n, WEFT_FOREVER);
            if (!c->err && n < i + 1) {
                c->err = WEFT_ERANGE;
                snprintf(c->detail, sizeof c->detail,
                         "call %d saw only %" PRId64 " entries", i, n);
            }
        }
        weft_release(c->rt, r);
    }
    return NULL;
}

static void test_order_from_threads(void **state)
{
    (void)state;
    enum { CALLERS = 4 };
    int calls = scaled(5000);
    weft_runtime *rt = start_runtime(0);
    weft_actor a;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &a));
    pthread_t th[CALLERS];
    caller_arg args[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        args[i] = (caller_arg){rt, a, i, calls, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, caller_main, &args[i]),
                         0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].err)
            fail_msg("caller %d: %s: %s", i, weft_err_name(args[i].err),
                     args[i].detail);
    }
    size_t n;
    weft_ref hold;
    int64_t *log = read_log(rt, a, &n, &hold);
    assert_int_equal(n, (size_t)CALLERS * (size_t)calls);
    int64_t next[CALLERS] = {0};
    for (size_t k = 0; k < n; k++) {
        int64_t c = log[2 * k], idx = log[2 * k + 1];
        assert_true(c >= 0 && c < CALLERS);
        if (idx != next[c])
            fail_msg("entry %zu: caller %" PRId64 " call %" PRId64
                     " ran when call %" PRId64 " was next",
                     k, c, idx, next[c]);
        next[c]++;
    }
    weft_release(rt, hold);
    OK(weft_actor_kill(rt, a));
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* Calls whose arguments are not ready still run in call order: a call
 * waiting for its argument holds back the calls made after it. */
static void test_order_with_pending_arguments(void **state)
{
    (void)state;
    enum { G = 8, S = 5 };
    weft_runtime *rt = start_runtime(2);
    weft_actor a;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &a));

    /* Gated calls (the test opens the gates in reverse order) interleaved
     * with immediate calls. */
    weft_ref gate[G], r;
    void *gd;
    int64_t expect[3 * G + S][2];
    size_t ne = 0;
    for (int i = 0; i < G; i++) {
        OK(weft_create(rt, 1, &gd, &gate[i]));
        OK(weft_actor_call(
            rt, a, "append_gated",
            WEFT_ARGS(weft_i64(99), weft_i64(i), weft_refv(gate[i])), NULL,
            &r));
        weft_release(rt, r);
        expect[ne][0] = 99;
        expect[ne++][1] = i;
        OK(weft_actor_call(rt, a, "append",
                           WEFT_ARGS(weft_i64(98), weft_i64(i)), NULL, &r));
        weft_release(rt, r);
        expect[ne][0] = 98;
        expect[ne++][1] = i;
    }
    /* Calls whose index comes from slow tasks, slowest first. */
    for (int i = 0; i < S; i++) {
        weft_ref slow;
        OK(weft_submit(rt, "rt_act_slow",
                       WEFT_ARGS(weft_i64((S - i) * 15), weft_i64(i)), NULL,
                       &slow));
        OK(weft_actor_call(rt, a, "append",
                           WEFT_ARGS(weft_i64(97), weft_refv(slow)), NULL, &r));
        weft_release(rt, slow);
        weft_release(rt, r);
        expect[ne][0] = 97;
        expect[ne++][1] = i;
    }
    for (int i = 0; i < G; i++) {
        OK(weft_actor_call(rt, a, "append",
                           WEFT_ARGS(weft_i64(96), weft_i64(i)), NULL, &r));
        weft_release(rt, r);
        expect[ne][0] = 96;
        expect[ne++][1] = i;
    }
    /* Nothing after the first gate can have run yet. */
    weft_ref probe;
    OK(weft_actor_call(rt, a, "total", WEFT_NOARGS, NULL, &probe));
    int64_t tot;
    assert_int_equal(weft_get_i64(rt, probe, &tot, 50), WEFT_ETIMEDOUT);
    for (int i = G - 1; i >= 0; i--)
        OK(weft_seal(rt, gate[i]));
    OK(weft_get_i64(rt, probe, &tot, WEFT_FOREVER));
    weft_release(rt, probe);
    weft_release_many(rt, gate, G);

    size_t n;
    weft_ref hold;
    int64_t *log = read_log(rt, a, &n, &hold);
    assert_int_equal(n, ne);
    for (size_t k = 0; k < n; k++)
        if (log[2 * k] != expect[k][0] || log[2 * k + 1] != expect[k][1])
            fail_msg("entry %zu: (%" PRId64 ",%" PRId64 "), want (%" PRId64
                     ",%" PRId64 ")",
                     k, log[2 * k], log[2 * k + 1], expect[k][0], expect[k][1]);
    weft_release(rt, hold);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* ================================================= many actors */

static void test_many_actors(void **state)
{
    (void)state;
    enum { A = 64 };
    int per = scaled(500);
    weft_runtime *rt = start_runtime(0);
    weft_actor a[A];
    atomic_store(&rt_act_constructed, 0);
    atomic_store(&rt_act_destroyed, 0);
    for (int i = 0; i < A; i++)
        OK(weft_actor_create(rt, "RtActLog", WEFT_ARGS(weft_i64(i)), NULL,
                             &a[i]));
    weft_ref *last = calloc(A, sizeof *last);
    assert_non_null(last);
    for (int k = 0; k < per; k++) {
        for (int i = 0; i < A; i++) {
            weft_ref r;
            OK(weft_actor_call(rt, a[i], "add", WEFT_ARGS(weft_i64(i + k)),
                               NULL, &r));
            if (k == per - 1)
                last[i] = r;
            else
                weft_release(rt, r);
        }
    }
    for (int i = 0; i < A; i++) {
        int64_t want = (int64_t)per * i + (int64_t)per * (per - 1) / 2, got;
        OK(weft_get_i64(rt, last[i], &got, WEFT_FOREVER));
        if (got != want)
            fail_msg("actor %d: total %" PRId64 ", want %" PRId64, i, got,
                     want);
        weft_release(rt, last[i]);
        weft_ref t;
        OK(weft_actor_call(rt, a[i], "total", WEFT_NOARGS, NULL, &t));
        OK(weft_get_i64(rt, t, &got, WEFT_FOREVER));
        assert_int_equal(got, want);
        weft_release(rt, t);
    }
    free(last);
    assert_int_equal(atomic_load(&rt_act_constructed), A);
    weft_stats st;
    weft_get_stats(rt, &st);
    assert_true(st.actor_calls >= (uint64_t)A * (uint64_t)(per + 1));
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
    /* Every actor's destructor ran at shutdown, once. */
    assert_int_equal(atomic_load(&rt_act_destroyed), A);
}

/* ================================================= named actors */

static void test_named_actors(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_actor_opts o;
    weft_actor_opts_init(&o);
    assert_null(o.name);
    o.name = "rt-act-alpha";
    weft_actor a, found, dup;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, &o, &a));
    assert_int_equal(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, &o, &dup),
                     WEFT_EEXIST);
    assert_non_null(strstr(weft_last_error(), "rt-act-alpha"));
    OK(weft_actor_lookup(rt, "rt-act-alpha", &found));
    assert_true(found.id == a.id);

    /* The handle found reaches the same state. */
    weft_ref r;
    OK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(40)), NULL, &r));
    weft_release(rt, r);
    OK(weft_actor_call(rt, found, "add", WEFT_ARGS(weft_i64(2)), NULL, &r));
    int64_t v;
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    assert_int_equal(v, 42);
    weft_release(rt, r);

    /* Lookups from another thread work too (names are runtime-wide). */
    assert_int_equal(weft_actor_lookup(rt, "rt-act-beta", &found),
                     WEFT_ENOACTOR);
    assert_non_null(strstr(weft_last_error(), "rt-act-beta"));
    assert_int_equal(weft_actor_lookup(rt, "", &found), WEFT_ENOACTOR);
    assert_int_equal(weft_actor_lookup(rt, "rt-act-alph", &found),
                     WEFT_ENOACTOR);

    /* Anonymous actors have no name to find. */
    weft_actor anon;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &anon));

    /* After a kill the name is free again. */
    OK(weft_actor_kill(rt, a));
    assert_int_equal(weft_actor_lookup(rt, "rt-act-alpha", &found),
                     WEFT_ENOACTOR);
    weft_actor again;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, &o, &again));
    OK(weft_actor_lookup(rt, "rt-act-alpha", &found));
    assert_true(found.id == again.id);
    assert_true(again.id != a.id);
    OK(weft_actor_call(rt, found, "total", WEFT_NOARGS, NULL, &r));
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    assert_int_equal(v, 0); /* a fresh instance */
    weft_release(rt, r);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

static void test_unknown_class_and_method(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(1);
    weft_actor a, bogus = {0};
    assert_int_equal(
        weft_actor_create(rt, "RtActNoSuchClass", WEFT_NOARGS, NULL, &a),
        WEFT_ENOACTOR);
    assert_non_null(strstr(weft_last_error(), "RtActNoSuchClass"));
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &a));
    weft_ref r;
    assert_int_equal(
        weft_actor_call(rt, a, "no_such_method", WEFT_NOARGS, NULL, &r),
        WEFT_ENOACTOR);
    assert_non_null(strstr(weft_last_error(), "no_such_method"));
    /* A method of another class is not a method of this one. */
    assert_int_equal(weft_actor_call(rt, a, "rt_act_square",
                                     WEFT_ARGS(weft_i64(1)), NULL, &r),
                     WEFT_ENOACTOR);
    /* Method signatures are checked at the call. */
    assert_int_equal(weft_actor_call(rt, a, "add", WEFT_NOARGS, NULL, &r),
                     WEFT_EARGC);
    assert_int_equal(
        weft_actor_call(rt, a, "add", WEFT_ARGS(weft_str("x")), NULL, &r),
        WEFT_ETYPE);
    /* Handles that name no actor. */
    assert_int_equal(
        weft_actor_call(rt, bogus, "add", WEFT_ARGS(weft_i64(1)), NULL, &r),
        WEFT_ENOACTOR);
    weft_actor forged = {a.id + 1};
    assert_int_equal(
        weft_actor_call(rt, forged, "add", WEFT_ARGS(weft_i64(1)), NULL, &r),
        WEFT_ENOACTOR);
    weft_actor wrong_gen = {a.id ^ (1ull << 40)};
    assert_int_equal(
        weft_actor_call(rt, wrong_gen, "add", WEFT_ARGS(weft_i64(1)), NULL, &r),
        WEFT_ENOACTOR);
    assert_int_equal(weft_actor_kill(rt, bogus), WEFT_ENOACTOR);
    /* The actor is unharmed. */
    OK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(5)), NULL, &r));
    int64_t v;
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    assert_int_equal(v, 5);
    weft_release(rt, r);
    weft_shutdown(rt);
}

/* ========================================================= kill */

/* A call to a killed actor fails with WEFT_EACTORDEAD: at the call, or
 * through its reference. */
static void expect_dead_(weft_runtime *rt, weft_actor a, const char *method,
                         const weft_value *args, size_t nargs, const char *why)
{
    weft_ref r = {0};
    weft_err e = weft_actor_call(rt, a, method, args, nargs, NULL, &r);
    if (e == 0) {
        int64_t v;
        e = weft_get_i64(rt, r, &v, WEFT_FOREVER);
        if (e == WEFT_EACTORDEAD) {
            const char *m = weft_error_message(rt, r);
            assert_non_null(m);
            if (!strstr(m, why))
                fail_msg("dead call message \"%s\" lacks \"%s\"", m, why);
        }
        weft_release(rt, r);
    }
    if (e != WEFT_EACTORDEAD)
        fail_msg("call on a dead actor: %s, want WEFT_EACTORDEAD (%s)",
                 weft_err_name(e), weft_last_error());
    if (r.id == 0 && !strstr(weft_last_error(), why))
        fail_msg("dead call detail \"%s\" lacks \"%s\"", weft_last_error(),
                 why);
}

static void expect_dead_call(weft_runtime *rt, weft_actor a, const char *why)
{
    expect_dead_(rt, a, "add", WEFT_ARGS(weft_i64(1)), why);
}

static void test_kill(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    /* Every actor of this test is dead at each check below, so each one
     * constructed has been destroyed, once. (One killed before its
     * constructor ran is never constructed, so never destroyed.) */
    atomic_store(&rt_act_destroyed, 0);
    atomic_store(&rt_act_constructed, 0);
    weft_actor a;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &a));
    weft_ref r;
    OK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(3)), NULL, &r));
    int64_t v;
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    assert_int_equal(v, 3);

    OK(weft_actor_kill(rt, a));
    expect_dead_call(rt, a, "killed");
    expect_dead_call(rt, a, "killed");
    assert_int_equal(atomic_load(&rt_act_destroyed), 1);
    /* An earlier result is still ours. */
    OK(weft_get_i64(rt, r, &v, 0));
    assert_int_equal(v, 3);
    weft_release(rt, r);
    /* Killing again does not destroy again. */
    weft_err e = weft_actor_kill(rt, a);
    assert_true(e == 0 || e == WEFT_ENOACTOR || e == WEFT_EACTORDEAD);
    expect_dead_call(rt, a, "killed");

    /* Kill with calls queued behind a call whose argument is not ready:
     * every call resolves; those that ran form a prefix of the call order,
     * the rest fail with WEFT_EACTORDEAD. */
    enum { Q = 40 };
    weft_actor b;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &b));
    weft_ref q[Q], gate;
    void *gd;
    OK(weft_create(rt, 1, &gd, &gate));
    for (int i = 0; i < Q; i++) {
        if (i == Q / 2)
            OK(weft_actor_call(
                rt, b, "append_gated",
                WEFT_ARGS(weft_i64(0), weft_i64(i), weft_refv(gate)), NULL,
                &q[i]));
        else
            OK(weft_actor_call(rt, b, "add", WEFT_ARGS(weft_i64(1)), NULL,
                               &q[i]));
    }
    OK(weft_actor_kill(rt, b));
    OK(weft_seal(rt, gate));
    bool dead_seen = false;
    int ran = 0;
    for (int i = 0; i < Q; i++) {
        weft_value got;
        e = weft_get(rt, q[i], &got, WEFT_FOREVER);
        if (e == 0) {
            if (dead_seen)
                fail_msg("call %d ran after an earlier call was refused", i);
            ran++;
        } else if (e == WEFT_EACTORDEAD) {
            dead_seen = true;
        } else {
            fail_msg("call %d: %s", i, weft_err_name(e));
        }
    }
    assert_true(ran <= Q / 2); /* the gated call cannot have run */
    assert_true(dead_seen);
    weft_release_many(rt, q, Q);
    weft_release(rt, gate);
    expect_dead_call(rt, b, "killed");
    int made = atomic_load(&rt_act_constructed);
    assert_true(made == 1 || made == 2);
    if (ran > 0)
        assert_int_equal(made, 2); /* b's calls ran: b was constructed */
    assert_int_equal(atomic_load(&rt_act_destroyed), made);

    /* Kill right after create, before the constructor may have run. */
    weft_actor c;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &c));
    OK(weft_actor_kill(rt, c));
    expect_dead_call(rt, c, "killed");
    int made_c = atomic_load(&rt_act_constructed) - made;
    assert_true(made_c == 0 || made_c == 1);
    assert_int_equal(atomic_load(&rt_act_destroyed), made + made_c);

    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
    /* Shutdown did not destroy them again. */
    assert_int_equal(atomic_load(&rt_act_destroyed), made + made_c);
    assert_int_equal(atomic_load(&rt_act_constructed), made + made_c);
}

/* =============================================== failed constructor */

static void test_failed_constructor(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    atomic_store(&rt_act_destroyed, 0);
    weft_actor a;
    OK(weft_actor_create(rt, "RtActBad", WEFT_NOARGS, NULL, &a));
    /* Calls made before and after the constructor ran. */
    weft_ref early[3];
    for (int i = 0; i < 3; i++)
        OK(weft_actor_call(rt, a, "total", WEFT_NOARGS, NULL, &early[i]));
    for (int i = 0; i < 3; i++) {
        int64_t v;
        assert_int_equal(weft_get_i64(rt, early[i], &v, WEFT_FOREVER),
                         WEFT_EACTORDEAD);
        const char *m = weft_error_message(rt, early[i]);
        assert_non_null(m);
        assert_non_null(strstr(m, "cannot open device 7"));
    }
    weft_release_many(rt, early, 3);
    for (int i = 0; i < 3; i++)
        expect_dead_(rt, a, "total", WEFT_NOARGS, "cannot open device 7");

    /* A constructor that trips over its argument type. */
    weft_actor b;
    OK(weft_actor_create(rt, "RtActTypo", WEFT_ARGS(weft_i64(1)), NULL, &b));
    weft_ref r;
    OK(weft_actor_call(rt, b, "total", WEFT_NOARGS, NULL, &r));
    int64_t v;
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), WEFT_EACTORDEAD);
    const char *m = weft_error_message(rt, r);
    assert_non_null(m);
    assert_non_null(strstr(m, "argument 0"));
    weft_release(rt, r);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
    /* No state was set, so there was nothing to destroy. */
    assert_int_equal(atomic_load(&rt_act_destroyed), 0);
}

/* ================================================= num_returns, nested */

static void test_method_num_returns(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_actor a, b;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &a));
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &b));
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.num_returns = 2;
    weft_ref pr[2], sq, added;
    OK(weft_actor_call(rt, a, "pair", WEFT_ARGS(weft_i64(7)), &o, pr));
    /* Each result feeds a different consumer: a task and another actor. */
    OK(weft_submit(rt, "rt_act_square", WEFT_ARGS(weft_refv(pr[0])), NULL,
                   &sq));
    OK(weft_actor_call(rt, b, "add", WEFT_ARGS(weft_refv(pr[1])), NULL,
                       &added));
    int64_t v;
    OK(weft_get_i64(rt, pr[0], &v, WEFT_FOREVER));
    assert_int_equal(v, 14);
    OK(weft_get_i64(rt, pr[1], &v, WEFT_FOREVER));
    assert_int_equal(v, 21);
    OK(weft_get_i64(rt, sq, &v, WEFT_FOREVER));
    assert_int_equal(v, 196);
    OK(weft_get_i64(rt, added, &v, WEFT_FOREVER));
    assert_int_equal(v, 21);
    weft_release_many(rt, pr, 2);
    weft_release(rt, sq);
    weft_release(rt, added);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

static void test_nested_from_methods(void **state)
{
    (void)state;
    static const int threads[] = {1, 2};
    for (int c = 0; c < 2; c++) {
        weft_runtime *rt = start_runtime(threads[c]);
        enum { A = 4 };
        int calls = scaled(200);
        weft_actor a[A];
        for (int i = 0; i < A; i++)
            OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, NULL, &a[i]));
        weft_ref last[A];
        for (int k = 1; k <= calls; k++)
            for (int i = 0; i < A; i++) {
                weft_ref r;
                OK(weft_actor_call(rt, a[i], "nested", WEFT_ARGS(weft_i64(k)),
                                   NULL, &r));
                if (k == calls)
                    last[i] = r;
                else
                    weft_release(rt, r);
            }
        int64_t want = (int64_t)calls * (calls + 1) * (2 * calls + 1) / 6;
        for (int i = 0; i < A; i++) {
            int64_t v = 0;
            weft_err e = weft_get_i64(rt, last[i], &v, 300 * 1000);
            if (e)
                fail_msg("nested on %d thread(s): %s (%s)", threads[c],
                         weft_err_name(e), weft_last_error());
            assert_int_equal(v, want);
            weft_release(rt, last[i]);
        }
        /* A method that calls another actor and waits for it. */
        weft_ref r;
        OK(weft_actor_call(rt, a[0], "call_other",
                           WEFT_ARGS(weft_i64((int64_t)a[1].id), weft_i64(1)),
                           NULL, &r));
        int64_t v = 0;
        weft_err e = weft_get_i64(rt, r, &v, 300 * 1000);
        if (e)
            fail_msg("call_other: %s (%s)", weft_err_name(e),
                     weft_error_message(rt, r) ? weft_error_message(rt, r)
                                               : weft_last_error());
        assert_int_equal(v, want + 1);
        weft_release(rt, r);
        assert_int_equal(objects_settled(rt), 0);
        weft_shutdown(rt);
    }
}

/* tasks_submitted == tasks_finished + tasks_failed once everything is done,
 * also after refused creates and calls on dead actors. */
static void test_stats_consistent(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    weft_actor_opts o;
    weft_actor_opts_init(&o);
    o.name = "rt-act-stats";
    weft_actor a, dup;
    OK(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, &o, &a));
    assert_int_equal(weft_actor_create(rt, "RtActLog", WEFT_NOARGS, &o, &dup),
                     WEFT_EEXIST);
    weft_ref r;
    OK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(1)), NULL, &r));
    int64_t v;
    OK(weft_get_i64(rt, r, &v, WEFT_FOREVER));
    weft_release(rt, r);
    OK(weft_actor_kill(rt, a));
    for (int i = 0; i < 3; i++)
        expect_dead_call(rt, a, "killed");
    assert_int_equal(objects_settled(rt), 0);
    weft_stats st;
    weft_get_stats(rt, &st);
    weft_shutdown(rt);
    if (st.tasks_submitted != st.tasks_finished + st.tasks_failed)
        fail_msg("submitted %" PRIu64 " != finished %" PRIu64
                 " + failed %" PRIu64,
                 st.tasks_submitted, st.tasks_finished, st.tasks_failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_from_threads),
        cmocka_unit_test(test_order_with_pending_arguments),
        cmocka_unit_test(test_many_actors),
        cmocka_unit_test(test_named_actors),
        cmocka_unit_test(test_unknown_class_and_method),
        cmocka_unit_test(test_kill),
        cmocka_unit_test(test_failed_constructor),
        cmocka_unit_test(test_method_num_returns),
        cmocka_unit_test(test_nested_from_methods),
        cmocka_unit_test(test_stats_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
