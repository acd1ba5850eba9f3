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

extern char **environ;

typedef struct result {
    int status; /* exit status, or 128 + signal */
    char out[8192];
    char err[8192];
} result;

static void slurp(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t k;
    lseek(fd, 0, SEEK_SET);
    while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
}

static int temp_file(void)
{
    char path[] = "/tmp/weft_cli_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Run WEFT_BIN with up to three arguments (NULL ends them). Output goes to
 * files, so no pipe can fill up while we wait. */
static void run(result *r, const char *arg1, const char *arg2, const char *arg3)
{
    const char *bin = getenv("WEFT_BIN");
    if (!bin || !*bin)
        fail_msg("WEFT_BIN is not set (ctest sets it to the weft binary)");

    char *argv[] = {(char *)bin, (char *)arg1, (char *)arg2, (char *)arg3,
                    NULL};
    int out = temp_file(), err = temp_file();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);

    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("cannot run %s: %s", bin, strerror(rc));

    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

static void contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
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
