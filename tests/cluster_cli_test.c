/* Black-box tests of the cluster verbs of the weft command (start --head,
 * status, stop): runs the real binary (WEFT_BIN), each test in a fresh
 * session directory with --port 0, and stops the head in teardown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weftcli.h"

typedef struct session {
    char dir[64];
    char pidfile[128];
} session;

/* The pid in the session's head.pid, or 0. */
static pid_t head_pid(const session *s)
{
    FILE *f = fopen(s->pidfile, "r");
    long v = 0;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 0;
        fclose(f);
    }
    return (pid_t)v;
}

/* True while pid runs (a zombie nobody reaped counts as gone). */
static bool alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && p[2] == 'Z');
}

static int setup(void **state)
{
    session *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/weft_cluster_sess_XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->pidfile, sizeof s->pidfile, "%s/head.pid", s->dir);
    *state = s;
    return 0;
}

/* Stop whatever runs in the session (by force if need be), then remove
 * the session directory. */
static int teardown(void **state)
{
    session *s = *state;
    pid_t pid = head_pid(s);
    result r;
    RUN(&r, "stop", "--session-dir", s->dir);
    if (alive(pid)) {
        kill(pid, SIGKILL);
        for (int i = 0; i < 100 && alive(pid); i++)
            sleep_ms(10);
    }
    static const char *files[] = {"token",    "head.pid",      "head.addr",
                                  "head.log", "head.addr.tmp", "head.pid.tmp",
                                  "badtoken"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", s->dir, files[i]);
        unlink(path);
    }
    rmdir(s->dir);
    free(s);
    return 0;
}

/* weft start --head in s on an ephemeral port; returns the port. */
static int start_head(const session *s)
{
    result r;
    RUN(&r, "start", "--head", "--session-dir", s->dir, "--port", "0");
    if (r.status != 0)
        fail_msg("weft start failed (%d):\n%s%s", r.status, r.out, r.err);
    contains(r.out, "weft: head listening on 127.0.0.1:");
    contains(r.out, "weft: token file: ");
    contains(r.out, s->dir);
    int port = atoi(strstr(r.out, "127.0.0.1:") + 10);
    assert_true(port > 0 && port < 65536);
    assert_true(alive(head_pid(s)));
    return port;
}

static int nproc(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(&set);
}

static void test_start_status_stop(void **state)
{
    session *s = *state;
    start_head(s);
    pid_t pid = head_pid(s);

    struct stat st;
    assert_int_equal(stat(s->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    result r;
    RUN(&r, "status", "--session-dir", s->dir);
    if (r.status != 0)
        fail_msg("weft status failed (%d):\n%s%s", r.status, r.out, r.err);
    contains(r.out, "ID");
    contains(r.out, "LAST HEARD");
    const char *line = strchr(r.out, '\n');
    assert_non_null(line);
    unsigned long id;
    char name[128], st8[16];
    double cpus;
    assert_int_equal(
        sscanf(line + 1, "%lu %127s %15s %lf", &id, name, st8, &cpus), 4);
    assert_int_equal(id, 1);
    assert_string_equal(st8, "ALIVE");
    assert_memory_equal(name, "head-", 5);
    assert_int_equal((long)(cpus * 1000 + 0.5), (long)nproc() * 1000);
    assert_null(strchr(strchr(line + 1, '\n') + 1, '\n')); /* one node */

    RUN(&r, "stop", "--session-dir", s->dir);
    assert_int_equal(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "weft: stopped head (pid %ld)", (long)pid);
    contains(r.out, want);
    assert_false(alive(pid));

    RUN(&r, "status", "--session-dir", s->dir);
    assert_int_equal(r.status, 1);
    if (!strstr(r.err, "unreachable") && !strstr(r.err, "no head running"))
        fail_msg("unexpected status error:\n%s", r.err);

    RUN(&r, "stop", "--session-dir", s->dir);
    assert_int_equal(r.status, 0);
    contains(r.out, "nothing running in");
}

static void test_second_start_fails(void **state)
{
    session *s = *state;
    start_head(s);
    pid_t pid = head_pid(s);
    result r;
    RUN(&r, "start", "--head", "--session-dir", s->dir, "--port", "0");
    assert_int_equal(r.status, 1);
    contains(r.err, "already running");
    assert_int_equal(head_pid(s), pid); /* the first one is untouched */
    RUN(&r, "status", "--session-dir", s->dir);
    assert_int_equal(r.status, 0);
}

static void test_port_in_use(void **state)
{
    session *s = *state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));

    result r;
    RUN(&r, "start", "--head", "--session-dir", s->dir, "--port", port);
    close(fd);
    assert_int_equal(r.status, 1);
    contains(r.err, "weft start: cannot listen on 127.0.0.1:");
    contains(r.err, "in use");
    assert_false(alive(head_pid(s)));
}

static void test_wrong_token(void **state)
{
    session *s = *state;
    start_head(s);
    char path[128];
    snprintf(path, sizeof path, "%s/badtoken", s->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    char hex[33];
    for (int i = 0; i < 32; i++)
        hex[i] = "0123456789abcdef"[xorshift_below(&seed, 16)];
    hex[32] = '\n';
    assert_int_equal(write(fd, hex, 33), 33);
    close(fd);

    result r;
    RUN(&r, "status", "--session-dir", s->dir, "--token-file", path);
    assert_int_equal(r.status, 1);
    contains(r.err, "authentication");
    contains(r.err, "token");
    assert_string_equal(r.out, "");
}

/* A bad --resources list is refused before anything starts, saying what
 * is wrong and where (the same tokenizer as options.resources). */
static void test_bad_resources(void **state)
{
    session *s = *state;
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"gpu", "expected NAME=AMOUNT at column 1"},
        {"gpu=1,=2", "expected NAME=AMOUNT at column 7"},
        {"gpu=x", "bad amount at column 5"},
        {"gpu=-1", "bad amount at column 5"},
        {"gpu=1,gpu=2", "'gpu' is given twice"},
        {"g\tpu=1", "not printable ASCII"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r;
        RUN(&r, "start", "--address", "127.0.0.1:1", "--session-dir", s->dir,
            "--resources", cases[i].spec);
        assert_int_equal(r.status, 2);
        contains(r.err, cases[i].want);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_status_stop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_start_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_resources, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
