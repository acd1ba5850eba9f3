/* Running the real `weft` binary from a test (the path in WEFT_BIN, set by
 * tests.cmake) and checking what it printed: shared by the CLI tests. */
#ifndef WEFT_TESTS_WEFTCLI_H
#define WEFT_TESTS_WEFTCLI_H

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

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
    char path[] = "/tmp/weft_cli_XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Run WEFT_BIN with the arguments in argv (NULL-terminated, argv[0]
 * ignored); output goes to files so no pipe fills while we wait. */
static void runv(result *r, const char **args)
{
    const char *bin = getenv("WEFT_BIN");
    if (!bin || !*bin)
        fail_msg("WEFT_BIN is not set (ctest sets it to the weft binary)");
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 1; args[i]; i++) {
        if (n == 63)
            fail_msg("runv: more than 62 arguments");
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
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

#define RUN(r, ...) runv((r), (const char *[]){"weft", __VA_ARGS__, NULL})

static void contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

#endif
