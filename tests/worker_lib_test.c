/* Worker processes that load a named shared library (options.worker_library)
 * through the `weft worker --library` host instead of re-running this
 * executable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

static void test_tasks_from_a_library(void **state)
{
    const char *lib = getenv("WEFT_TEST_LIB");
    assert_non_null(lib);
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    o.num_procs = 1;
    o.worker_library = lib;
    weft_runtime *rt;
    assert_int_equal(weft_init(&rt, &o), 0);
    weft_ref r, e;
    int64_t v;
    assert_int_equal(
        weft_submit(rt, "lib_triple", WEFT_ARGS(weft_i64(14)), NULL, &r), 0);
    assert_int_equal(weft_get_i64(rt, r, &v, WEFT_FOREVER), 0);
    assert_int_equal(v, 42);
    const char *exe;
    assert_int_equal(weft_submit(rt, "lib_exe", WEFT_NOARGS, NULL, &e), 0);
    assert_int_equal(weft_get_str(rt, e, &exe, WEFT_FOREVER), 0);
    assert_string_equal(exe, "weft");
    /* The library's signature is known to the program too. */
    weft_ref bad;
    assert_int_equal(
        weft_submit(rt, "lib_triple", WEFT_ARGS(weft_str("x")), NULL, &bad),
        WEFT_ETYPE);
    weft_release(rt, r);
    weft_release(rt, e);
    weft_shutdown(rt);
}

static void test_missing_library_is_an_error(void **state)
{
    weft_options o;
    weft_options_init(&o);
    o.worker_library = "/nonexistent/libnothing.so";
    weft_runtime *rt = NULL;
    assert_int_equal(weft_init(&rt, &o), WEFT_EINVAL);
    assert_null(rt);
    assert_non_null(strstr(weft_last_error(), "libnothing.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_from_a_library),
        cmocka_unit_test(test_missing_library_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
