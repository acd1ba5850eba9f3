/* Black-box tests of the weft command: runs the real binary (WEFT_BIN) and
 * checks its output and exit status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/version.h>

#include "weftcli.h"

/* Up to three arguments (NULL ends them). */
static void run(result *r, const char *arg1, const char *arg2, const char *arg3)
{
    runv(r, (const char *[]){"weft", arg1, arg2, arg3, NULL});
}

static void test_version(void **state)
{
    result r;
    run(&r, "version", NULL, NULL);
    assert_int_equal(r.status, 0);
    contains(r.out, "weft " WEFT_VERSION_STRING);
    contains(r.out, "wire protocol");
}

static void test_help_lists_commands(void **state)
{
    result r;
    run(&r, "--help", NULL, NULL);
    assert_int_equal(r.status, 0);
    contains(r.out, "version");
    contains(r.out, "help");
    contains(r.out, "start --head");
    contains(r.out, "status");
    contains(r.out, "stop");

    run(&r, NULL, NULL, NULL); /* no command: usage too */
    assert_int_equal(r.status, 0);
    contains(r.out, "version");
}

static void test_unknown_command(void **state)
{
    result r;
    run(&r, "frobnicate", NULL, NULL);
    assert_int_equal(r.status, 2);
    contains(r.err, "unknown command 'frobnicate'");
    assert_string_equal(r.out, "");
}

static void test_cluster_commands_bad_usage(void **state)
{
    result r;
    run(&r, "status", "--session-dir", "/nonexistent/weft-session");
    assert_int_equal(r.status, 1);
    contains(r.err, "no head running");

    run(&r, "start", "--frobnicate", NULL);
    assert_int_equal(r.status, 2);
    contains(r.err, "unexpected argument '--frobnicate'");
}

static void test_worker_bad_library(void **state)
{
    result r;
    run(&r, "worker", "--library", "/nonexistent.so");
    assert_int_not_equal(r.status, 0);
    contains(r.err, "/nonexistent.so");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help_lists_commands),
        cmocka_unit_test(test_unknown_command),
        cmocka_unit_test(test_cluster_commands_bad_usage),
        cmocka_unit_test(test_worker_bad_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
