/* Tests of the registry: task functions and actor classes by name, their
 * signatures, argument checks against them, out-of-memory paths and
 * registration from several threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "sched/registry.h"

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static weft_err fn_a(weft_task *t)
{
    return 0;
}

static weft_err fn_b(weft_task *t)
{
    return 1;
}

static weft_err fn_init(weft_task *t)
{
    return 0;
}

static void fn_destroy(void *st)
{
}

static weft_value str_v(const char *s)
{
    weft_value v = {WEFT_T_STR, {.buf = {s, strlen(s)}}};
    return v;
}

/* --------------------------------------------------------- functions */

static void test_register_and_find(void **state)
{
    /* Name and signature are copied: the caller's buffers may change. */
    char name[32] = "reg_add", sig[8] = "ii";
    assert_int_equal(weft_register(name, fn_a, sig), 0);
    strcpy(name, "reg_xxx");
    strcpy(sig, "ss");
    const wf_func *f = wf_func_find("reg_add");
    assert_non_null(f);
    assert_string_equal(f->name, "reg_add");
    assert_ptr_equal(f->fn, fn_a);
    assert_string_equal(f->sig, "ii");
    assert_null(wf_func_find("reg_xxx"));
    assert_null(wf_func_find("reg_ad"));
    assert_null(wf_func_find("reg_add "));
    assert_null(wf_func_find(""));

    /* Unchecked (NULL signature) and empty signature (no arguments). */
    assert_int_equal(weft_register("reg_any", fn_b, NULL), 0);
    f = wf_func_find("reg_any");
    assert_non_null(f);
    assert_null(f->sig);
    assert_ptr_equal(f->fn, fn_b);
    assert_int_equal(weft_register("reg_none", fn_b, ""), 0);
    assert_string_equal(wf_func_find("reg_none")->sig, "");

    /* Many names: each finds its own entry. */
    for (int i = 0; i < 1000; i++) {
        char n[32];
        snprintf(n, sizeof n, "reg_many_%d", i);
        assert_int_equal(weft_register(n, i % 2 ? fn_a : fn_b, "i."), 0);
    }
    for (int i = 0; i < 1000; i++) {
        char n[32];
        snprintf(n, sizeof n, "reg_many_%d", i);
        f = wf_func_find(n);
        assert_non_null(f);
        assert_string_equal(f->name, n);
        assert_ptr_equal(f->fn, i % 2 ? fn_a : fn_b);
    }
}

static void test_register_duplicate(void **state)
{
    assert_int_equal(weft_register("reg_dup", fn_a, "i"), 0);
    assert_err(weft_register("reg_dup", fn_b, "s"), WEFT_EEXIST, "reg_dup");
    assert_err(weft_register("reg_dup", fn_a, "i"), WEFT_EEXIST, NULL);
    const wf_func *f = wf_func_find("reg_dup");
    assert_ptr_equal(f->fn, fn_a); /* the first one stays */
    assert_string_equal(f->sig, "i");
}

static void test_register_bad_signature(void **state)
{
    const char *bad[] = {"x", "i.i", "..", ".i", "I", " i", "i ", "ii,", "s-"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[32];
        snprintf(name, sizeof name, "reg_badsig_%zu", i);
        weft_err e = weft_register(name, fn_a, bad[i]);
        if (e != WEFT_EINVAL || !strstr(weft_last_error(), "signature"))
            fail_msg("signature \"%s\": got %d (%s)", bad[i], e,
                     weft_last_error());
        assert_null(wf_func_find(name));
    }
    const char *good[] = {"", ".", "i.", "ifbsya*", "*.", "a*."};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char name[32];
        snprintf(name, sizeof name, "reg_goodsig_%zu", i);
        if (weft_register(name, fn_a, good[i]) != 0)
            fail_msg("signature \"%s\" rejected: %s", good[i],
                     weft_last_error());
        assert_string_equal(wf_func_find(name)->sig, good[i]);
    }
}

static void test_register_bad_names(void **state)
{
    assert_err(weft_register(NULL, fn_a, "i"), WEFT_EINVAL, "name");
    assert_err(weft_register("", fn_a, "i"), WEFT_EINVAL, "name");
    assert_err(weft_register("reg_nofn", NULL, "i"), WEFT_EINVAL, "function");
    assert_null(wf_func_find("reg_nofn"));
}

static void test_register_oom(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    weft_err e = WEFT_ENOMEM;
    uint64_t k;
    for (k = 1; e == WEFT_ENOMEM && k < 20; k++) {
        wf_alloc_fail_after(k);
        e = weft_register("reg_oom", fn_a, "if");
        wf_alloc_fail_after(0);
        if (e == WEFT_ENOMEM) {
            assert_null(wf_func_find("reg_oom"));
            assert_int_equal(wf_alloc_bytes(), a0); /* nothing leaked */
        }
    }
    assert_int_equal(e, 0);
    assert_true(k > 2); /* at least one allocation was failed */
    assert_string_equal(wf_func_find("reg_oom")->sig, "if");

    /* A failed duplicate frees its copy. */
    uint64_t a1 = wf_alloc_bytes();
    assert_int_equal(weft_register("reg_oom", fn_b, "ii"), WEFT_EEXIST);
    assert_int_equal(wf_alloc_bytes(), a1);
}

/* -------------------------------------------------------- signatures */

static void test_sig_check_arity(void **state)
{
    const weft_value two[] = {weft_i64(1), weft_f64(2.0)};
    const weft_value three[] = {weft_i64(1), weft_f64(2.0), weft_bool(true)};
    assert_int_equal(wf_sig_check("if", two, 2, "call f"), 0);
    assert_err(wf_sig_check("if", two, 1, "call f"), WEFT_EARGC, "call f");
    assert_err(wf_sig_check("if", two, 1, "call f"), WEFT_EARGC, "2");
    assert_err(wf_sig_check("if", three, 3, "call f"), WEFT_EARGC, "got 3");
    assert_err(wf_sig_check("if", NULL, 0, "call f"), WEFT_EARGC, "got 0");
    assert_int_equal(wf_sig_check("", NULL, 0, "g"), 0);
    assert_err(wf_sig_check("", two, 1, "g"), WEFT_EARGC, NULL);

    /* Variadic: at least the fixed ones. */
    assert_err(wf_sig_check("i.", NULL, 0, "v"), WEFT_EARGC, "at least 1");
    assert_int_equal(wf_sig_check("i.", two, 1, "v"), 0);
    assert_int_equal(wf_sig_check("i.", three, 3, "v"), 0);
    assert_int_equal(wf_sig_check(".", NULL, 0, "v"), 0);
    assert_int_equal(wf_sig_check(".", three, 3, "v"), 0);
    assert_err(wf_sig_check("if.", two, 1, "v"), WEFT_EARGC, "at least 2");

    /* Unchecked. */
    assert_int_equal(wf_sig_check(NULL, three, 3, "u"), 0);
    assert_int_equal(wf_sig_check(NULL, NULL, 0, "u"), 0);
}

static void test_sig_check_types(void **state)
{
    static const int64_t shape[] = {2};
    static const double data[2];
    const weft_value vals[] = {
        weft_i64(1),                                  /* 0 */
        weft_f64(1.5),                                /* 1 */
        weft_bool(true),                              /* 2 */
        str_v("s"),                                   /* 3 */
        weft_bytes("y", 1),                           /* 4 */
        weft_array(WEFT_DT_F64, 1, shape, data),      /* 5 */
        weft_refv((weft_ref){0x0100000100000001ull}), /* 6 */
        {WEFT_T_NONE, {.i64 = 0}},                    /* 7 */
    };
    const char letters[] = "ifbsya*";
    /* fits[letter][value]: which values each letter accepts. Refs pass
     * every letter (checked later, once they hold values). */
    const bool fits[7][8] = {
        /* i */ {1, 0, 0, 0, 0, 0, 1, 0},
        /* f */ {1, 1, 0, 0, 0, 0, 1, 0},
        /* b */ {0, 0, 1, 0, 0, 0, 1, 0},
        /* s */ {0, 0, 0, 1, 0, 0, 1, 0},
        /* y */ {0, 0, 0, 0, 1, 0, 1, 0},
        /* a */ {0, 0, 0, 0, 0, 1, 1, 0},
        /* * */ {1, 1, 1, 1, 1, 1, 1, 1},
    };
    for (int l = 0; l < 7; l++) {
        for (int v = 0; v < 8; v++) {
            /* The letter at position 2, after two '*' that accept anything. */
            char sig[4] = {'*', '*', letters[l], '\0'};
            const weft_value args[3] = {weft_i64(0), str_v("x"), vals[v]};
            weft_err e = wf_sig_check(sig, args, 3, "task 'k'");
            if (fits[l][v] ? e != 0 : e != WEFT_ETYPE)
                fail_msg("sig \"%s\", value %d: got %d (%s)", sig, v, e,
                         weft_last_error());
            if (!fits[l][v]) {
                /* The message names the call and the argument's index. */
                assert_non_null(strstr(weft_last_error(), "task 'k'"));
                assert_non_null(strstr(weft_last_error(), "argument 2"));
                assert_non_null(
                    strstr(weft_last_error(), wf_type_name(vals[v].type)));
            }
            /* The same through wf_sig_check_one. */
            e = wf_sig_check_one(sig, 2, &vals[v], "one");
            assert_int_equal(e, fits[l][v] ? 0 : WEFT_ETYPE);
        }
    }

    /* The first bad argument is reported. */
    const weft_value bad[] = {weft_i64(1), str_v("no"), weft_bool(true)};
    assert_err(wf_sig_check("iib", bad, 3, "f"), WEFT_ETYPE, "argument 1");
    assert_err(wf_sig_check("iib", bad, 3, "f"), WEFT_ETYPE, "i64");
    assert_err(wf_sig_check("sib", bad, 3, "f"), WEFT_ETYPE, "argument 0");

    /* Variadic extras accept anything; the fixed ones are still checked. */
    const weft_value var[] = {str_v("a"), weft_i64(1), weft_bool(false),
                              weft_f64(2.0)};
    assert_int_equal(wf_sig_check("s.", var, 4, "v"), 0);
    assert_err(wf_sig_check("i.", var, 4, "v"), WEFT_ETYPE, "argument 0");
    assert_int_equal(wf_sig_check_one("s.", 3, &var[3], "v"), 0);
    /* Past a fixed signature (the count is checked elsewhere). */
    assert_int_equal(wf_sig_check_one("s", 5, &var[1], "v"), 0);
    assert_int_equal(wf_sig_check_one(NULL, 0, &var[1], "v"), 0);

    /* All refs against a typed signature: accepted for now. */
    const weft_value refs[] = {vals[6], vals[6], vals[6]};
    assert_int_equal(wf_sig_check("iab", refs, 3, "r"), 0);

    assert_string_equal(wf_type_name(WEFT_T_I64), "i64");
    assert_string_equal(wf_type_name(WEFT_T_ARRAY), "array");
    assert_string_equal(wf_type_name((weft_type)99), "unknown");
}

/* ------------------------------------------------------------- actors */

static void test_register_actor(void **state)
{
    char cname[32] = "RegCounter";
    char mname[2][16] = {"add", "get"};
    char msig[8] = "i";
    char isig[8] = "i.";
    weft_method methods[] = {
        {mname[0], fn_a, msig},
        {mname[1], fn_b, NULL},
    };
    weft_actor_class cls = {cname, fn_init, fn_destroy, methods, 2, isig};
    assert_int_equal(weft_register_actor(&cls), 0);
    /* Copied: the caller's strings may change after. */
    strcpy(cname, "Changed");
    strcpy(mname[0], "zzz");
    strcpy(msig, "s");
    strcpy(isig, "b");

    const wf_class *c = wf_class_find("RegCounter");
    assert_non_null(c);
    assert_null(wf_class_find("Changed"));
    assert_null(wf_class_find("regcounter"));
    assert_string_equal(c->name, "RegCounter");
    assert_ptr_equal(c->init, fn_init);
    assert_ptr_equal(c->destroy, fn_destroy);
    assert_string_equal(c->init_sig, "i.");
    assert_int_equal(c->nmethods, 2);
    const wf_func *m = wf_class_method(c, "add");
    assert_non_null(m);
    assert_ptr_equal(m->fn, fn_a);
    assert_string_equal(m->sig, "i");
    m = wf_class_method(c, "get");
    assert_non_null(m);
    assert_ptr_equal(m->fn, fn_b);
    assert_null(m->sig);
    assert_null(wf_class_method(c, "zzz"));
    assert_null(wf_class_method(c, "ad"));
    assert_null(wf_class_method(c, ""));

    /* Classes and functions have their own names. */
    assert_null(wf_func_find("RegCounter"));
    assert_int_equal(weft_register("RegCounter", fn_a, NULL), 0);

    /* Duplicate class. */
    strcpy(cname, "RegCounter");
    assert_err(weft_register_actor(&cls), WEFT_EEXIST, "RegCounter");

    /* No methods, no destructor, no signature. */
    weft_actor_class bare = {"RegBare", fn_init, NULL, NULL, 0, NULL};
    assert_int_equal(weft_register_actor(&bare), 0);
    c = wf_class_find("RegBare");
    assert_non_null(c);
    assert_int_equal(c->nmethods, 0);
    assert_null(c->init_sig);
    assert_null(c->destroy);
    assert_null(wf_class_method(c, "add"));
}

static void test_register_actor_rejects(void **state)
{
    weft_method good[] = {{"m", fn_a, "i"}};
    weft_method noname[] = {{"m", fn_a, NULL}, {NULL, fn_a, NULL}};
    weft_method nofn[] = {{"m", NULL, NULL}};
    weft_method badsig[] = {{"m", fn_a, "q"}};
    weft_method empty[] = {{"", fn_a, NULL}};
    weft_method twice[] = {{"m", fn_a, NULL}, {"m", fn_b, NULL}};

    assert_err(weft_register_actor(NULL), WEFT_EINVAL, NULL);
    weft_actor_class c = {NULL, fn_init, NULL, good, 1, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "name");
    c.name = "";
    assert_err(weft_register_actor(&c), WEFT_EINVAL, NULL);
    c = (weft_actor_class){"RegNoInit", NULL, NULL, good, 1, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "init");
    c = (weft_actor_class){"RegNoMethods", fn_init, NULL, NULL, 2, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, NULL);
    c = (weft_actor_class){"RegNoName", fn_init, NULL, noname, 2, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "method 1");
    c = (weft_actor_class){"RegNoFn", fn_init, NULL, nofn, 1, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "method 0");
    c = (weft_actor_class){"RegBadSig", fn_init, NULL, badsig, 1, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "signature");
    c = (weft_actor_class){"RegBadInit", fn_init, NULL, good, 1, "i.x"};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "signature");
    c = (weft_actor_class){"RegEmptyMethod", fn_init, NULL, empty, 1, NULL};
    assert_err(weft_register_actor(&c), WEFT_EINVAL, "method 0");
    c = (weft_actor_class){"RegTwice", fn_init, NULL, twice, 2, NULL};
    assert_err(weft_register_actor(&c), WEFT_EEXIST, "twice");
    const char *names[] = {"RegNoInit",      "RegNoMethods", "RegNoName",
                           "RegNoFn",        "RegBadSig",    "RegBadInit",
                           "RegEmptyMethod", "RegTwice"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        assert_null(wf_class_find(names[i]));
}

static void test_register_actor_oom(void **state)
{
    weft_method methods[] = {
        {"a", fn_a, "i"}, {"b", fn_b, NULL}, {"c", fn_a, "s."}};
    weft_actor_class cls = {"RegOom", fn_init, fn_destroy, methods, 3, "f"};
    uint64_t a0 = wf_alloc_bytes();
    weft_err e = WEFT_ENOMEM;
    uint64_t k;
    for (k = 1; e == WEFT_ENOMEM && k < 40; k++) {
        wf_alloc_fail_after(k);
        e = weft_register_actor(&cls);
        wf_alloc_fail_after(0);
        if (e == WEFT_ENOMEM) {
            assert_null(wf_class_find("RegOom"));
            if (wf_alloc_bytes() != a0)
                fail_msg("allocation %llu failed: %lld bytes leaked",
                         (unsigned long long)k,
                         (long long)(wf_alloc_bytes() - a0));
        }
    }
    assert_int_equal(e, 0);
    assert_true(k > 7); /* class, name, init sig, methods, 3 names, 2 sigs */
    const wf_class *c = wf_class_find("RegOom");
    assert_non_null(c);
    assert_string_equal(wf_class_method(c, "c")->sig, "s.");

    uint64_t a1 = wf_alloc_bytes();
    assert_int_equal(weft_register_actor(&cls), WEFT_EEXIST);
    assert_int_equal(wf_alloc_bytes(), a1);
}

/* ------------------------------------------------------------ threads */

#define REG_THREADS 4
#define REG_EACH 500

typedef struct {
    int t;
    _Atomic int *shared_wins;
    _Atomic long *errors;
} reg_arg;

static void *reg_thread(void *arg)
{
    reg_arg *a = arg;
    for (int i = 0; i < REG_EACH; i++) {
        char n[48];
        snprintf(n, sizeof n, "reg_thr_%d_%d", a->t, i);
        if (weft_register(n, fn_a, "i") != 0)
            atomic_fetch_add(a->errors, 1);
        const wf_func *f = wf_func_find(n);
        if (!f || strcmp(f->name, n) != 0)
            atomic_fetch_add(a->errors, 1);
        /* Another thread's names: not yet there, or whole. */
        snprintf(n, sizeof n, "reg_thr_%d_%d", (a->t + 1) % REG_THREADS, i);
        f = wf_func_find(n);
        if (f && (strcmp(f->name, n) != 0 || f->fn != fn_a ||
                  strcmp(f->sig, "i") != 0))
            atomic_fetch_add(a->errors, 1);
        if (i % 50 == 0) {
            snprintf(n, sizeof n, "reg_thr_shared_%d", i);
            weft_err e = weft_register(n, fn_b, NULL);
            if (e == 0)
                atomic_fetch_add(a->shared_wins, 1);
            else if (e != WEFT_EEXIST)
                atomic_fetch_add(a->errors, 1);
        }
    }
    return NULL;
}

static void test_register_concurrent(void **state)
{
    _Atomic int wins = 0;
    _Atomic long errors = 0;
    pthread_t th[REG_THREADS];
    reg_arg args[REG_THREADS];
    for (int i = 0; i < REG_THREADS; i++) {
        args[i] = (reg_arg){i, &wins, &errors};
        assert_int_equal(pthread_create(&th[i], NULL, reg_thread, &args[i]), 0);
    }
    for (int i = 0; i < REG_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&errors), 0);
    /* Each shared name was won by exactly one thread. */
    assert_int_equal(atomic_load(&wins), REG_EACH / 50);
    for (int t = 0; t < REG_THREADS; t++)
        for (int i = 0; i < REG_EACH; i++) {
            char n[48];
            snprintf(n, sizeof n, "reg_thr_%d_%d", t, i);
            assert_non_null(wf_func_find(n));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_find),
        cmocka_unit_test(test_register_duplicate),
        cmocka_unit_test(test_register_bad_signature),
        cmocka_unit_test(test_register_bad_names),
        cmocka_unit_test(test_register_oom),
        cmocka_unit_test(test_sig_check_arity),
        cmocka_unit_test(test_sig_check_types),
        cmocka_unit_test(test_register_actor),
        cmocka_unit_test(test_register_actor_rejects),
        cmocka_unit_test(test_register_actor_oom),
        cmocka_unit_test(test_register_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
