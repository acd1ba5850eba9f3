/* Black-box test of examples/: runs each built example from
 * $WEFT_EXAMPLES_DIR and checks its exit status and its output. No timing
 * is asserted (squares prints a time; only its presence is checked). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Run example `name`, return its stdout (malloc'ed) and exit status. */
static char *run_example(const char *name, int *status)
{
    const char *dir = getenv("WEFT_EXAMPLES_DIR");
    if (!dir || !*dir)
        fail_msg("WEFT_EXAMPLES_DIR is not set (ctest sets it)");

    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "'%s/%s'", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);

    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    *status = pclose(p);
    return out;
}

/* Run `name` and check it exits 0 printing exactly `expected`. */
static void check_exact(const char *name, const char *expected)
{
    int status;
    char *out = run_example(name, &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: exit status %#x, output:\n%s", name, status, out);
    assert_string_equal(out, expected);
    free(out);
}

static void test_bmi(void **state)
{
    (void)state;
    check_exact("bmi", "Patient 1 BMI: 22.86\n"
                       "Patient 2 BMI: 27.78\n");
}

static void test_blood_pressure(void **state)
{
    (void)state;
    check_exact("blood_pressure",
                "{'Patient': 1, 'Test': 'Blood Pressure', 'Systolic BP': 120, "
                "'Diastolic BP': 80, 'Status': 'Low'}\n"
                "{'Patient': 2, 'Test': 'Blood Pressure', 'Systolic BP': 140, "
                "'Diastolic BP': 90, 'Status': 'High'}\n"
                "{'Patient': 3, 'Test': 'Blood Pressure', 'Systolic BP': 160, "
                "'Diastolic BP': 100, 'Status': 'High'}\n"
                "{'Patient': 4, 'Test': 'Blood Pressure', 'Systolic BP': 180, "
                "'Diastolic BP': 110, 'Status': 'High'}\n"
                "{'Patient': 5, 'Test': 'Blood Pressure', 'Systolic BP': 200, "
                "'Diastolic BP': 120, 'Status': 'High'}\n");
}

static void test_patient_actors(void **state)
{
    (void)state;
    check_exact("patient_actors",
                "Patient 1: Health Status - Critical\n"
                "Patient 2: Health Status - Serious\n"
                "Patient 3: Health Status - Stable\n"
                "Patient 4: Health Status - Improved\n"
                "Patient 5: Health Status - Critical\n"
                "Named actor patient-1: Health Status - Critical\n");
}

static void test_tree_reduce(void **state)
{
    (void)state;
    check_exact("tree_reduce", "tree_reduce: sum=524287488000 "
                               "expected=524287488000 OK\n");
}

/* Dask's array example: the sum near its expected value, the fused task
 * counts (the time and the SVG line vary). */
static void test_seed_array(void **state)
{
    (void)state;
    int status;
    char *out = run_example("seed_array", &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("seed_array: exit status %#x, output:\n%s", status, out);
    const char *want[] = {
        "seed_array: x random 2000x2000 in 500x500 chunks\n",
        "y.sum() = 1999341.73",
        "125 chunk operations -> 33 graph nodes -> 33 tasks\n",
        "task graph",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out, want[i]))
            fail_msg("seed_array: no \"%s\" in:\n%s", want[i], out);
    free(out);
}

/* A task that crashes its worker process every time: retried once, then a
 * clear error; the others finish and the program goes on. */
static void test_isolation(void **state)
{
    (void)state;
    check_exact("isolation", "square(0) = 0\n"
                             "square(1) = 1\n"
                             "square(2) = 4\n"
                             "square(3) failed: WEFT_ECRASHED\n"
                             "square(4) = 16\n"
                             "worker crashes: 2, retries: 1, program still "
                             "running\n");
}

static void test_squares(void **state)
{
    (void)state;
    int status;
    char *out = run_example("squares", &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("squares: exit status %#x, output:\n%s", status, out);

    static const char results[] = "Results: [0, 1, 4, 9, 16]\n";
    static const char total[] = "Total time taken ";
    if (strncmp(out, results, strlen(results)) != 0)
        fail_msg("squares: expected a first line \"%.*s\", got:\n%s",
                 (int)strlen(results) - 1, results, out);
    const char *line2 = out + strlen(results);
    if (strncmp(line2, total, strlen(total)) != 0)
        fail_msg("squares: expected a \"%s... secs\" line, got:\n%s", total,
                 out);
    const char *end = strchr(line2, '\n');
    assert_non_null(end);
    assert_true(end - line2 > 5 && strncmp(end - 5, " secs", 5) == 0);
    assert_string_equal(end + 1, ""); /* nothing else printed */
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bmi),
        cmocka_unit_test(test_blood_pressure),
        cmocka_unit_test(test_patient_actors),
        cmocka_unit_test(test_tree_reduce),
        cmocka_unit_test(test_seed_array),
        cmocka_unit_test(test_squares),
        cmocka_unit_test(test_isolation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
