/* Black-box test of a real cluster: a head and three nodes started with
 * the weft binary (scripts/cluster-lab), each in its own network namespace
 * with its own IP when we are root and iproute2 is there, else all on
 * loopback (the link-cut case is then skipped, with a message). This test
 * program is itself the driver: it joins the driver's namespace and calls
 * weft_init with the head's address, so the nodes receive and run this
 * very executable.
 *
 * Cases: the examples unchanged; random DAGs against a sequential
 * evaluation; custom resources and impossible requests; a node killed
 * with SIGKILL mid-job (right answer, retries) and restarted (rejoins); a
 * node's link cut mid-job and healed; a wrong token, an unreachable head,
 * and clients sending garbage, refused while the cluster keeps serving; a
 * driver that disappears, whose tasks are cancelled on the nodes.
 *
 * WEFT_CLUSTER_LAB=loopback forces loopback even as root. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "weftcli.h"

#define P 1000003

/* ------------------------------------------------------------ tasks */

static weft_err t_op(weft_task *t)
{
    int64_t k = weft_arg_i64(t, 0), a = weft_arg_i64(t, 1),
            b = weft_arg_i64(t, 2);
    int64_t r = k == 0 ? (a + b) % P : k == 1 ? (a * b) % P : (a + P - b) % P;
    return weft_return_i64(t, r);
}
WEFT_REGISTER(t_op);

/* Return the n f64 at v (malloc'ed; freed here) as the task's result. */
static weft_err return_vec(weft_task *t, double *v, int64_t n)
{
    int64_t shape[1] = {n};
    weft_value a = weft_array(WEFT_DT_F64, 1, shape, v);
    weft_err e = weft_return(t, 0, &a);
    free(v);
    return e;
}

/* An array of n f64 (n >= 1) whose elements are seed, seed+1, ...: large
 * values cross the network inline. */
static weft_err t_vec(weft_task *t)
{
    int64_t seed = weft_arg_i64(t, 0), n = weft_arg_i64(t, 1);
    double *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return weft_fail(t, "no memory for %" PRId64 " values", n);
    for (int64_t i = 0; i < n; i++)
        v[i] = (double)(seed + i);
    return return_vec(t, v, n);
}
WEFT_REGISTER(t_vec);

/* The f64 array plus one, elementwise: a large result from a large input. */
static weft_err t_vinc(weft_task *t)
{
    const weft_value *v = weft_arg(t, 0);
    if (!v || v->type != WEFT_T_ARRAY || v->u.arr.dtype != WEFT_DT_F64)
        return weft_fail(t, "t_vinc wants an f64 array");
    int64_t n = v->u.arr.shape[0];
    double *out = malloc((size_t)n * sizeof *out);
    if (!out)
        return weft_fail(t, "no memory");
    const double *in = v->u.arr.data;
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] + 1;
    return return_vec(t, out, n);
}
WEFT_REGISTER(t_vinc);

/* The sum of an f64 array, mod P. */
static weft_err t_vsum(weft_task *t)
{
    const weft_value *v = weft_arg(t, 0);
    if (!v || v->type != WEFT_T_ARRAY || v->u.arr.dtype != WEFT_DT_F64)
        return weft_fail(t, "t_vsum wants an f64 array");
    const double *d = v->u.arr.data;
    int64_t n = v->u.arr.shape[0], s = 0;
    for (int64_t i = 0; i < n; i++)
        s = (s + (int64_t)d[i]) % P;
    return weft_return_i64(t, s);
}
WEFT_REGISTER(t_vsum);

static weft_err t_slow_sq(weft_task *t)
{
    int64_t x = weft_arg_i64(t, 0);
    sleep_ms((long)weft_arg_i64(t, 1));
    return weft_return_i64(t, x * x);
}
WEFT_REGISTER(t_slow_sq);

/* The daemon of the node that runs it (its argument only pins it near an
 * object). */
static weft_err t_daemon_of(weft_task *t)
{
    (void)weft_arg(t, 0);
    return weft_return_i64(t, (int64_t)getppid());
}
WEFT_REGISTER(t_daemon_of);

/* The pid of the process that started this worker: the node daemon. */
static weft_err t_daemon(weft_task *t)
{
    return weft_return_i64(t, (int64_t)getppid());
}
WEFT_REGISTER(t_daemon);

/* Sleeps slow_ms on the node whose daemon is slow_pid, fast_ms elsewhere;
 * returns the daemon's pid. */
static weft_err t_slow_on(weft_task *t)
{
    bool slow = (int64_t)getppid() == weft_arg_i64(t, 0);
    sleep_ms((long)weft_arg_i64(t, slow ? 1 : 2));
    return weft_return_i64(t, (int64_t)getppid());
}
WEFT_REGISTER(t_slow_on);

/* An actor holding a counter: Counter(start); add(x) -> new value;
 * where() -> the node daemon's pid. */
static weft_err counter_init(weft_task *t)
{
    int64_t *c = malloc(sizeof *c);
    if (!c)
        return weft_fail(t, "no memory");
    *c = weft_arg_i64(t, 0);
    weft_actor_set_state(t, c);
    return 0;
}

static weft_err counter_add(weft_task *t)
{
    int64_t *c = weft_actor_state(t);
    *c += weft_arg_i64(t, 0);
    return weft_return_i64(t, *c);
}

static weft_err counter_where(weft_task *t)
{
    return weft_return_i64(t, (int64_t)getppid());
}

static const weft_method counter_methods[] = {
    {"add", counter_add, "i"},
    {"where", counter_where, ""},
};
WEFT_REGISTER_ACTOR(Counter, counter_init, free, counter_methods);

/* ------------------------------------------------------------ the lab */

static char lab[64];
static char addr[128], token[160];
static bool netns;
static int home_ns = -1; /* our own network namespace, to go back to */

/* Run scripts/cluster-lab with args; its exit status. */
static int lab_cmd(const char *a1, const char *a2)
{
    const char *dir = getenv("WEFT_SCRIPTS_DIR");
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/cluster-lab", dir ? dir : "scripts");
    char *argv[] = {script, (char *)a1, lab, (char *)a2, NULL};
    char *argv_up[] = {script, "up",    lab,       netns ? "netns" : "loopback",
                       "3",    "gpu=1", "spare=1", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, script, NULL, NULL,
                         strcmp(a1, "up") == 0 ? argv_up : argv, environ);
    if (rc != 0)
        return -1;
    int ws;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (f) {
        if (fgets(buf, (int)cap, f))
            buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
}

static int group_setup(void **state)
{
    (void)state;
    const char *force = getenv("WEFT_CLUSTER_LAB");
    netns = geteuid() == 0 && !(force && strcmp(force, "loopback") == 0) &&
            (access("/usr/sbin/ip", X_OK) == 0 ||
             access("/sbin/ip", X_OK) == 0 || access("/bin/ip", X_OK) == 0);
    snprintf(lab, sizeof lab, "/tmp/weft_lab_XXXXXX");
    if (!mkdtemp(lab))
        return -1;
    if (lab_cmd("up", NULL) != 0) {
        fprintf(stderr, "cluster_test: cluster-lab up failed\n");
        lab_cmd("down", NULL);
        return -1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/addr", lab);
    read_line(path, addr, sizeof addr);
    snprintf(token, sizeof token, "%s/token", lab);
    if (netns) {
        char ns[128], nspath[256];
        snprintf(path, sizeof path, "%s/driver-netns", lab);
        read_line(path, ns, sizeof ns);
        snprintf(nspath, sizeof nspath, "/run/netns/%s", ns);
        home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int fd = open(nspath, O_RDONLY | O_CLOEXEC);
        if (home_ns < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            fprintf(stderr, "cluster_test: cannot enter %s: %s\n", nspath,
                    strerror(errno));
            return -1;
        }
        close(fd);
    } else {
        fprintf(stderr, "cluster_test: no network namespaces (needs root "
                        "and iproute2): running on loopback; the link-cut "
                        "case is skipped\n");
    }
    setenv("WEFT_ADDRESS", addr, 1);
    setenv("WEFT_TOKEN_FILE", token, 1);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unsetenv("WEFT_ADDRESS");
    /* Leave the driver's namespace before it is removed (with whatever
     * still runs in it). */
    if (home_ns >= 0 && setns(home_ns, CLONE_NEWNET) != 0)
        fprintf(stderr, "cluster_test: cannot go home: %s\n", strerror(errno));
    lab_cmd("down", NULL);
    /* The daemons (sanitizer builds too) must have run clean: any report
     * in their logs fails the suite. (Workers that crash on purpose, as in
     * examples/isolation, are reported as a deadly signal: not counted.) */
    int bad = 0;
    for (int i = 0; i <= 3; i++) {
        char path[PATH_MAX], line[1024];
        snprintf(path, sizeof path, "%s/s%d/%s.log", lab, i,
                 i ? "node" : "head");
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            if (strstr(line, "WARNING: ThreadSanitizer") ||
                strstr(line, "LeakSanitizer") ||
                strstr(line, "runtime error") ||
                (strstr(line, "ERROR: AddressSanitizer") &&
                 !strstr(line, "SEGV"))) {
                fprintf(stderr, "cluster_test: %s: %s", path, line);
                bad = 1;
            }
        }
        if (f)
            fclose(f);
    }
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf %s", lab);
    if (getenv("WEFT_KEEP_LAB"))
        fprintf(stderr, "cluster_test: logs kept in %s\n", lab);
    else if (system(cmd) != 0)
        fprintf(stderr, "cluster_test: could not remove %s\n", lab);
    return bad ? -1 : 0;
}

static weft_runtime *connect_rt(void)
{
    weft_runtime *rt;
    OK(weft_init(&rt, NULL)); /* WEFT_ADDRESS and WEFT_TOKEN_FILE */
    return rt;
}

/* The `weft status` table of the lab's head. */
static void status(result *r)
{
    RUN(r, "status", "--address", addr, "--token-file", token);
}

/* Wait (up to ms) until node name is in state ("ALIVE"/"DEAD"). */
static bool wait_state(const char *name, const char *state, int ms)
{
    for (int waited = 0; waited <= ms; waited += 100) {
        result r;
        status(&r);
        char *line = strstr(r.out, name);
        if (r.status == 0 && line) {
            char *end = strchr(line, '\n');
            if (end)
                *end = '\0';
            if (strstr(line, state))
                return true;
        }
        sleep_ms(100);
    }
    return false;
}

/* Wait until a driver sees n ready nodes. */
static void wait_nodes(weft_runtime *rt, uint32_t n)
{
    weft_stats s;
    for (int i = 0; i < 100; i++) {
        weft_get_stats(rt, &s);
        if (s.nodes >= n)
            return;
        sleep_ms(50);
    }
    fail_msg("driver sees %u nodes, expected %u", s.nodes, n);
}

static pid_t node_pid(int i)
{
    char path[PATH_MAX], line[32];
    snprintf(path, sizeof path, "%s/s%d/%s.pid", lab, i, i ? "node" : "head");
    read_line(path, line, sizeof line);
    return (pid_t)atol(line);
}

/* n slow squares (ms each); checks every result. */
static void slow_job(weft_runtime *rt, int n, int ms, void (*midway)(void))
{
    weft_ref *refs = calloc((size_t)n, sizeof *refs);
    for (int i = 0; i < n; i++)
        OK(weft_submit(rt, "t_slow_sq", WEFT_ARGS(weft_i64(i), weft_i64(ms)),
                       NULL, &refs[i]));
    if (midway)
        midway();
    for (int i = 0; i < n; i++) {
        int64_t v;
        OK(weft_get_i64(rt, refs[i], &v, 60000));
        assert_int_equal(v, (int64_t)i * i);
        weft_release(rt, refs[i]);
    }
    free(refs);
}

/* ------------------------------------------------------------ cases */

static void test_examples(void **state)
{
    (void)state;
    static const struct {
        const char *name, *expect;
    } ex[] = {
        {"tree_reduce", "OK"},
        {"squares", "Results: [0, 1, 4, 9, 16]"},
        {"bmi", "Patient 1 BMI: 22.86"},
        {"blood_pressure", "'Status': 'High'"},
        {"patient_actors", "Named actor patient-1"},
        {"isolation", "square(3) failed: WEFT_ECRASHED"},
        /* the collections, unchanged on a cluster */
        {"patients_dataframe", "69.235294    7973"},
        {"wordcount", "words 6512"},
        {"seed_array", "y.sum() = 1999341.734467"},
    };
    const char *dir = getenv("WEFT_EXAMPLES_DIR");
    if (!dir)
        fail_msg("WEFT_EXAMPLES_DIR is not set (ctest sets it)");
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, ex[i].name);
        int out = temp_file(), err = temp_file();
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
        char *argv[] = {path, NULL};
        pid_t pid;
        assert_int_equal(posix_spawn(&pid, path, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        result r;
        slurp(out, r.out, sizeof r.out);
        slurp(err, r.err, sizeof r.err);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            fail_msg("%s on the cluster: status %d\n%s\n%s", ex[i].name, ws,
                     r.out, r.err);
        contains(r.out, ex[i].expect);
    }
}

/* Random DAGs of i64 ops and arrays, against a sequential evaluation. */
static void test_random_dags(void **state)
{
    (void)state;
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("WEFT_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    uint64_t rng = seed | 1;
    int graphs = scaled_by(20, 4), n = 300;
    int64_t *want = calloc((size_t)n, sizeof *want);
    weft_ref *refs = calloc((size_t)n, sizeof *refs);
    for (int g = 0; g < graphs; g++) {
        for (int i = 0; i < n; i++) {
            int kind = (int)xorshift_below(&rng, 8);
            if (i < 4 || kind == 7) {
                /* A leaf: an array (some large) summed by a task. */
                int64_t s = (int64_t)xorshift_below(&rng, 1000);
                /* Some past WF_KEEP_MIN: they stay on their node and move
                 * only to where they are used. */
                int64_t len = xorshift_below(&rng, 4) == 0 ? 200000 : 10;
                weft_ref v;
                OK(weft_submit(rt, "t_vec",
                               WEFT_ARGS(weft_i64(s), weft_i64(len)), NULL,
                               &v));
                OK(weft_submit(rt, "t_vsum", WEFT_ARGS(weft_refv(v)), NULL,
                               &refs[i]));
                weft_release(rt, v);
                int64_t sum = 0;
                for (int64_t k = 0; k < len; k++)
                    sum = (sum + s + k) % P;
                want[i] = sum;
                continue;
            }
            int a = (int)xorshift_below(&rng, (uint64_t)i);
            int b = (int)xorshift_below(&rng, (uint64_t)i);
            int op = kind % 3;
            int64_t x = want[a], y = want[b];
            want[i] = op == 0   ? (x + y) % P
                      : op == 1 ? (x * y) % P
                                : (x + P - y) % P;
            OK(weft_submit(
                rt, "t_op",
                WEFT_ARGS(weft_i64(op), weft_refv(refs[a]), weft_refv(refs[b])),
                NULL, &refs[i]));
        }
        for (int i = n - 1; i >= 0; i--) {
            int64_t v;
            weft_err e = weft_get_i64(rt, refs[i], &v, 60000);
            if (e || v != want[i])
                fail_msg("seed %" PRIu64 " graph %d node %d: got %" PRId64
                         " (%s), want %" PRId64,
                         seed, g, i, v, weft_err_name(e), want[i]);
            weft_release(rt, refs[i]);
        }
    }
    free(want);
    free(refs);
    weft_shutdown(rt);
}

static void test_resources(void **state)
{
    (void)state;
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.resources = "gpu=1";
    pid_t gpu_node = node_pid(1);
    weft_ref r[6];
    for (int i = 0; i < 6; i++)
        OK(weft_submit(rt, "t_daemon", NULL, 0, &o, &r[i]));
    for (int i = 0; i < 6; i++) {
        int64_t pid;
        OK(weft_get_i64(rt, r[i], &pid, 30000));
        assert_int_equal(pid, gpu_node);
        weft_release(rt, r[i]);
    }
    /* What no node offers fails at once, with a clear error. */
    weft_ref bad;
    o.resources = "tpu=1";
    assert_int_equal(weft_submit(rt, "t_daemon", NULL, 0, &o, &bad),
                     WEFT_ERESOURCE);
    contains(weft_last_error(), "tpu");
    o.resources = "gpu=2";
    assert_int_equal(weft_submit(rt, "t_daemon", NULL, 0, &o, &bad),
                     WEFT_ERESOURCE);
    weft_task_opts_init(&o);
    o.cpus = 3; /* every node has 2 */
    assert_int_equal(weft_submit(rt, "t_daemon", NULL, 0, &o, &bad),
                     WEFT_ERESOURCE);
    weft_shutdown(rt);
}

/* One node is slow: the tasks queued behind its busy workers are taken
 * back and run by the nodes that went idle (work stealing). */
static void test_stealing(void **state)
{
    (void)state;
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    pid_t slow = node_pid(2);
    enum { N = 16 }; /* 2 per worker slot: all placed at once */
    weft_ref r[N];
    for (int i = 0; i < N; i++)
        OK(weft_submit(rt, "t_slow_on",
                       WEFT_ARGS(weft_i64(slow), weft_i64(1500), weft_i64(10)),
                       NULL, &r[i]));
    int on_slow = 0;
    for (int i = 0; i < N; i++) {
        int64_t pid;
        OK(weft_get_i64(rt, r[i], &pid, 60000));
        on_slow += pid == slow;
        weft_release(rt, r[i]);
    }
    weft_stats s;
    weft_get_stats(rt, &s);
    /* Without stealing the slow node would run 4 (its 2 slots x 2). */
    assert_true(s.tasks_stolen >= 1);
    assert_true(on_slow <= 2);
    assert_int_equal(s.tasks_retried, 0);
    weft_shutdown(rt);
}

/* A node keeps the 16 programs used last in its cache/, never one a
 * connected driver runs, and removes downloads left over an hour. */
static void test_cache_trimmed(void **state)
{
    (void)state;
    char cache[PATH_MAX], path[PATH_MAX + 80];
    snprintf(cache, sizeof cache, "%s/s3/cache", lab);
    struct timespec old[2] = {{.tv_sec = time(NULL) - 7200},
                              {.tv_sec = time(NULL) - 7200}};
    int real = 0; /* programs cached by the cases before */
    DIR *d = opendir(cache);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        real += strlen(de->d_name) == 64 || strlen(de->d_name) == 67;
    closedir(d);
    for (int i = 0; i < 20; i++) { /* 20 programs no one has run for 2 h */
        snprintf(path, sizeof path, "%s/%064x", cache, i + 1);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("not a program", f);
        fclose(f);
        assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    }
    snprintf(path, sizeof path, "%s/.%064x.1.2.tmp", cache, 99);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    snprintf(path, sizeof path, "%s/notes.txt", cache);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);

    weft_runtime *rt = connect_rt(); /* its program: a hit, or fetched */
    wait_nodes(rt, 4);
    weft_ref r;
    OK(weft_submit(rt, "t_daemon", NULL, 0, NULL, &r));
    int64_t pid;
    OK(weft_get_i64(rt, r, &pid, 30000));
    weft_release(rt, r);

    int programs = 0, fakes = 0, tmp = 0, notes = 0;
    d = opendir(cache);
    assert_non_null(d);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' && len > 4)
            tmp++;
        else if (strcmp(de->d_name, "notes.txt") == 0)
            notes++;
        else if (len == 64 || len == 67)
            programs++, fakes += strncmp(de->d_name, "0000000000", 10) == 0;
    }
    closedir(d);
    weft_shutdown(rt);
    /* The oldest fakes went; every program used before (and this one)
     * stayed. */
    assert_true(real < 16);
    assert_int_equal(programs, 16);
    int kept = programs - fakes; /* + this program, if it was new */
    assert_true(kept == real || kept == real + 1);
    assert_true(fakes < 20);
    assert_int_equal(tmp, 0);
    assert_int_equal(notes, 1);
}

static int64_t actor_where(weft_runtime *rt, weft_actor a)
{
    weft_ref r;
    int64_t pid;
    OK(weft_actor_call(rt, a, "where", NULL, 0, NULL, &r));
    OK(weft_get_i64(rt, r, &pid, 30000));
    weft_release(rt, r);
    return pid;
}

/* The node (0..3) whose daemon has pid, or -1. */
static int node_of(pid_t pid)
{
    for (int i = 0; i <= 3; i++)
        if (node_pid(i) == pid)
            return i;
    return -1;
}

/* Actors live on nodes: placed by resources, calls in order, and started
 * again elsewhere when their node dies. */
static void test_actors(void **state)
{
    (void)state;
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    weft_actor_opts ao;
    weft_actor_opts_init(&ao);
    ao.resources = "gpu=1";
    weft_actor gpu;
    OK(weft_actor_create(rt, "Counter", WEFT_ARGS(weft_i64(0)), &ao, &gpu));
    assert_int_equal(actor_where(rt, gpu), node_pid(1));
    /* Calls run in the order made: running sums come back in order. */
    int n = scaled_by(2000, 4);
    weft_ref *refs = calloc((size_t)n, sizeof *refs);
    for (int i = 0; i < n; i++)
        OK(weft_actor_call(rt, gpu, "add", WEFT_ARGS(weft_i64(i + 1)), NULL,
                           &refs[i]));
    for (int i = 0; i < n; i++) {
        int64_t v;
        OK(weft_get_i64(rt, refs[i], &v, 30000));
        assert_int_equal(v, (int64_t)(i + 1) * (i + 2) / 2);
        weft_release(rt, refs[i]);
    }
    free(refs);
    OK(weft_actor_kill(rt, gpu));

    /* Nothing offers tpu: a clear error at once. */
    weft_actor bad;
    ao.resources = "tpu=1";
    assert_int_equal(
        weft_actor_create(rt, "Counter", WEFT_ARGS(weft_i64(0)), &ao, &bad),
        WEFT_ERESOURCE);

    /* On a spare node, allowed one restart: kill that node, and the next
     * calls reach a fresh instance on the other spare node. */
    ao.resources = "spare=1";
    ao.max_restarts = 1;
    weft_actor a;
    OK(weft_actor_create(rt, "Counter", WEFT_ARGS(weft_i64(100)), &ao, &a));
    int first = node_of((pid_t)actor_where(rt, a));
    assert_true(first == 2 || first == 3);
    weft_ref r;
    int64_t v;
    OK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(5)), NULL, &r));
    OK(weft_get_i64(rt, r, &v, 30000));
    assert_int_equal(v, 105);
    weft_release(rt, r);
    char which[16];
    snprintf(which, sizeof which, "%d", first);
    assert_int_equal(lab_cmd("kill", which), 0);
    /* Calls made after the death go to the restarted instance (state
     * from its constructor again); a call in flight may fail. */
    int64_t pid = 0;
    for (int i = 0; i < 200 && pid == 0; i++) {
        weft_ref w;
        OK(weft_actor_call(rt, a, "where", NULL, 0, NULL, &w));
        weft_err e = weft_get_i64(rt, w, &pid, 30000);
        weft_release(rt, w);
        if (e) {
            assert_int_equal(e, WEFT_EACTORDEAD);
            pid = 0;
            sleep_ms(50);
        } else if (node_of((pid_t)pid) == first) {
            pid = 0; /* the death is not known yet */
            sleep_ms(20);
        }
    }
    int second = node_of((pid_t)pid);
    assert_true((second == 2 || second == 3) && second != first);
    OK(weft_actor_call(rt, a, "add", WEFT_ARGS(weft_i64(1)), NULL, &r));
    OK(weft_get_i64(rt, r, &v, 30000));
    assert_int_equal(v, 101);
    weft_release(rt, r);
    weft_shutdown(rt);
    assert_int_equal(lab_cmd("restart", which), 0);
    snprintf(which, sizeof which, "node%d", first);
    assert_true(wait_state(which, "ALIVE", 5000));
}

/* Large results stay on their node: a consumer on another node pulls
 * them (once per node, however many consumers), the driver pulls them for
 * a get, and one whose node dies is a clear error, not a hang. */
static void test_objects(void **state)
{
    (void)state;
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    weft_task_opts on_gpu, on_spare;
    weft_task_opts_init(&on_gpu);
    weft_task_opts_init(&on_spare);
    on_gpu.resources = "gpu=1";
    on_spare.resources = "spare=1";
    int64_t len = 3 << 20; /* 24 MiB of f64 */
    weft_ref big[3], sums[24];
    for (int i = 0; i < 3; i++)
        OK(weft_submit(rt, "t_vec", WEFT_ARGS(weft_i64(i), weft_i64(len)),
                       &on_gpu, &big[i]));
    for (int i = 0; i < 24; i++)
        OK(weft_submit(rt, "t_vsum", WEFT_ARGS(weft_refv(big[i % 3])),
                       &on_spare, &sums[i]));
    for (int i = 0; i < 24; i++) {
        int64_t v, want = 0;
        for (int64_t k = 0; k < len; k++)
            want = (want + i % 3 + k) % P;
        OK(weft_get_i64(rt, sums[i], &v, 60000));
        assert_int_equal(v, want);
        weft_release(rt, sums[i]);
    }
    /* The driver pulls one for itself. */
    weft_value v;
    OK(weft_get(rt, big[1], &v, 60000));
    assert_int_equal(v.type, WEFT_T_ARRAY);
    assert_int_equal(v.u.arr.shape[0], len);
    const double *d = v.u.arr.data;
    for (int64_t k = 0; k < len; k += 4099)
        assert_true(d[k] == (double)(1 + k));
    for (int i = 0; i < 3; i++)
        weft_release(rt, big[i]);

    /* Held only by a node that dies: made again from lineage, recursively
     * (inc was made from lone, both there). */
    weft_ref lone, inc;
    OK(weft_submit(rt, "t_vec", WEFT_ARGS(weft_i64(5), weft_i64(len)),
                   &on_spare, &lone));
    OK(weft_submit(rt, "t_vinc", WEFT_ARGS(weft_refv(lone)), &on_spare, &inc));
    OK(weft_wait(rt, &inc, 1, 1, 60000, NULL, NULL));
    /* Which node holds them: a task pinned near inc by locality says. */
    weft_ref where;
    OK(weft_submit(rt, "t_daemon_of", WEFT_ARGS(weft_refv(inc)), &on_spare,
                   &where));
    int64_t pid;
    OK(weft_get_i64(rt, where, &pid, 60000));
    weft_release(rt, where);
    int victim = node_of((pid_t)pid);
    assert_true(victim == 2 || victim == 3);
    char which[16];
    snprintf(which, sizeof which, "%d", victim);
    assert_int_equal(lab_cmd("kill", which), 0);
    sleep_ms(300);
    /* A task using the lost object waits for it to be made again. */
    weft_ref sum;
    OK(weft_submit(rt, "t_vsum", WEFT_ARGS(weft_refv(inc)), NULL, &sum));
    int64_t got, want = 0;
    for (int64_t k = 0; k < len; k++)
        want = (want + 5 + k + 1) % P;
    OK(weft_get_i64(rt, sum, &got, 60000));
    assert_int_equal(got, want);
    OK(weft_get(rt, inc, &v, 60000));
    d = v.u.arr.data;
    for (int64_t k = 0; k < len; k += 4099)
        assert_true(d[k] == (double)(5 + k + 1));
    weft_stats st;
    weft_get_stats(rt, &st);
    weft_release(rt, sum);
    weft_release(rt, inc);
    weft_release(rt, lone);
    weft_shutdown(rt);
    assert_int_equal(lab_cmd("restart", which), 0);
    snprintf(which, sizeof which, "node%d", victim);
    assert_true(wait_state(which, "ALIVE", 5000));
}

/* A second, small cluster with TLS on (weft start under WEFT_TLS=1): an
 * example runs against it with WEFT_TLS=1, and a client without TLS is
 * refused with a message that says why. */
static void test_tls(void **state)
{
    (void)state;
    char dir[64], path[PATH_MAX], taddr[128], ttoken[PATH_MAX];
    snprintf(dir, sizeof dir, "/tmp/weft_tls_XXXXXX");
    assert_non_null(mkdtemp(dir));
    const char *sdir = getenv("WEFT_SCRIPTS_DIR");
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/cluster-lab", sdir ? sdir : "scripts");
    setenv("WEFT_TLS", "1", 1);
    char *up[] = {script, "up", dir, "loopback", "1", NULL};
    char *down[] = {script, "down", dir, NULL};
    pid_t pid;
    int ws;
    assert_int_equal(posix_spawn(&pid, script, NULL, NULL, up, environ), 0);
    waitpid(pid, &ws, 0);
    bool up_ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    snprintf(path, sizeof path, "%s/addr", dir);
    read_line(path, taddr, sizeof taddr);
    snprintf(ttoken, sizeof ttoken, "%s/token", dir);

    result r = {0};
    bool ex_ok = false;
    if (up_ok) {
        /* The example, as a driver of the TLS cluster. */
        const char *ex = getenv("WEFT_EXAMPLES_DIR");
        char exe[PATH_MAX];
        snprintf(exe, sizeof exe, "%s/tree_reduce", ex ? ex : ".");
        setenv("WEFT_ADDRESS", taddr, 1);
        setenv("WEFT_TOKEN_FILE", ttoken, 1);
        int out = temp_file();
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
        char *argv[] = {exe, NULL};
        if (posix_spawn(&pid, exe, &fa, NULL, argv, environ) == 0)
            waitpid(pid, &ws, 0);
        posix_spawn_file_actions_destroy(&fa);
        slurp(out, r.out, sizeof r.out);
        ex_ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
                strstr(r.out, "expected") && strstr(r.out, " OK");
        /* Objects kept on a node come to the driver in chunks sent from
         * their pages, encrypted on the way: several chunks, not a
         * multiple of a chunk, checked value by value. */
        weft_runtime *trt = connect_rt();
        int64_t n = (9 << 20) / 8 + 3;
        weft_ref big;
        OK(weft_submit(trt, "t_vec", WEFT_ARGS(weft_i64(11), weft_i64(n)), NULL,
                       &big));
        weft_value v;
        OK(weft_get(trt, big, &v, 30000));
        assert_int_equal(v.type, WEFT_T_ARRAY);
        assert_int_equal(v.u.arr.shape[0], n);
        const double *d = v.u.arr.data;
        for (int64_t i = 0; i < n; i++)
            if (d[i] != (double)(11 + i))
                fail_msg("element %" PRId64 " is %g over TLS", i, d[i]);
        weft_release(trt, big);
        weft_shutdown(trt);
        /* Without TLS: refused, saying why. */
        setenv("WEFT_TLS", "0", 1);
        RUN(&r, "status", "--address", taddr, "--token-file", ttoken);
    }
    setenv("WEFT_ADDRESS", addr, 1);
    setenv("WEFT_TOKEN_FILE", token, 1);
    unsetenv("WEFT_TLS");
    assert_int_equal(posix_spawn(&pid, script, NULL, NULL, down, environ), 0);
    waitpid(pid, &ws, 0);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cluster_test: could not remove %s\n", dir);
    assert_true(up_ok);
    assert_true(ex_ok);
    assert_int_not_equal(r.status, 0);
    contains(r.err, "WEFT_TLS=1");
}

/* options.worker_library on a cluster: the library is shipped by hash and
 * the nodes' `weft worker --library` hosts it. */
static void test_library(void **state)
{
    (void)state;
    const char *lib = getenv("WEFT_TEST_LIB");
    if (!lib)
        fail_msg("WEFT_TEST_LIB is not set (ctest sets it)");
    weft_options o;
    weft_options_init(&o);
    o.worker_library = lib;
    weft_runtime *rt;
    OK(weft_init(&rt, &o));
    wait_nodes(rt, 4);
    weft_ref r[8], e;
    for (int i = 0; i < 8; i++)
        OK(weft_submit(rt, "lib_triple", WEFT_ARGS(weft_i64(i)), NULL, &r[i]));
    for (int i = 0; i < 8; i++) {
        int64_t v;
        OK(weft_get_i64(rt, r[i], &v, 30000));
        assert_int_equal(v, 3 * i);
        weft_release(rt, r[i]);
    }
    const char *exe;
    OK(weft_submit(rt, "lib_exe", WEFT_NOARGS, NULL, &e));
    OK(weft_get_str(rt, e, &exe, 30000));
    assert_string_equal(exe, "weft");
    weft_release(rt, e);
    weft_shutdown(rt);
}

static void kill_node2(void)
{
    sleep_ms(300);
    assert_int_equal(lab_cmd("kill", "2"), 0);
}

static void test_node_killed(void **state)
{
    (void)state;
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    slow_job(rt, scaled_by(400, 2), 20, kill_node2);
    weft_stats s;
    weft_get_stats(rt, &s);
    assert_true(s.tasks_retried >= 1);
    assert_true(s.nodes <= 3);
    weft_shutdown(rt);
    /* It comes back under its name and takes work again. */
    assert_true(wait_state("node2", "DEAD", 5000));
    assert_int_equal(lab_cmd("restart", "2"), 0);
    assert_true(wait_state("node2", "ALIVE", 5000));
    rt = connect_rt();
    wait_nodes(rt, 4);
    slow_job(rt, 40, 1, NULL);
    weft_shutdown(rt);
}

static void cut_node3(void)
{
    sleep_ms(300);
    assert_int_equal(lab_cmd("cut", "3"), 0);
}

static void test_link_cut(void **state)
{
    (void)state;
    if (!netns) {
        fprintf(stderr, "cluster_test: link cut skipped: no network "
                        "namespaces (needs root and iproute2)\n");
        skip();
    }
    weft_runtime *rt = connect_rt();
    wait_nodes(rt, 4);
    slow_job(rt, scaled_by(300, 2), 20, cut_node3); /* finishes elsewhere */
    assert_true(wait_state("node3", "DEAD", 8000));
    assert_int_equal(lab_cmd("heal", "3"), 0);
    assert_true(wait_state("node3", "ALIVE", 20000));
    weft_shutdown(rt);
    rt = connect_rt();
    wait_nodes(rt, 4);
    slow_job(rt, 40, 1, NULL);
    weft_shutdown(rt);
}

/* Connect to host:port, send n bytes, and report whether the peer closed
 * the connection within 3 s. */
static bool garbage_closed(const char *hostport, const void *bytes, size_t n)
{
    char host[64];
    int port;
    const char *colon = strrchr(hostport, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    port = atoi(colon + 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return false;
    }
    if (write(fd, bytes, n) != (ssize_t)n) {
        close(fd);
        return true; /* already closed on us */
    }
    bool closed = false;
    for (int i = 0; i < 30 && !closed; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char buf[256];
            ssize_t k = read(fd, buf, sizeof buf);
            closed = k <= 0;
        }
    }
    close(fd);
    return closed;
}

static void test_bad_clients(void **state)
{
    (void)state;
    /* A wrong token: refused, and the error says where and why. */
    char bad[PATH_MAX];
    snprintf(bad, sizeof bad, "%s/badtoken", lab);
    FILE *f = fopen(bad, "w");
    fputs("0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    chmod(bad, 0600);
    weft_options o;
    weft_options_init(&o);
    o.token_file = bad;
    weft_runtime *rt = NULL;
    weft_err e = weft_init(&rt, &o);
    assert_int_not_equal(e, 0);
    assert_null(rt);
    contains(weft_last_error(), addr);
    contains(weft_last_error(), "token");
    /* A token file others may read: refused before anything is sent, and
     * the error keeps the reason. */
    chmod(bad, 0644);
    assert_int_equal(weft_init(&rt, &o), WEFT_EINVAL);
    contains(weft_last_error(), "cannot use token file");
    contains(weft_last_error(), "chmod 600");
    chmod(bad, 0600);
    /* An address where nothing listens. */
    o.token_file = NULL;
    o.address = "127.0.0.1:1";
    assert_int_equal(weft_init(&rt, &o), WEFT_EIO);
    contains(weft_last_error(), "cannot reach the head at 127.0.0.1:1");

    /* Garbage to the head and to a node: those connections are closed. */
    static const char junk[] = "GET / HTTP/1.1\r\nHost: weft\r\n\r\n";
    assert_true(garbage_closed(addr, junk, sizeof junk - 1));
    uint8_t huge[16] = {'F', 'W', 1, 6, 0xff, 0xff, 0xff, 0x7f};
    assert_true(garbage_closed(addr, huge, sizeof huge));
    char naddr[256], path[PATH_MAX];
    snprintf(path, sizeof path, "%s/s1/node.log", lab);
    /* The node's task address, from its log line "tasks on HOST:PORT". */
    FILE *lf = fopen(path, "r");
    char line[1024];
    naddr[0] = '\0';
    while (lf && fgets(line, sizeof line, lf)) {
        char *p = strstr(line, "tasks on ");
        if (p) {
            snprintf(naddr, sizeof naddr, "%s", p + 9);
            naddr[strcspn(naddr, "\n ")] = '\0';
        }
    }
    if (lf)
        fclose(lf);
    assert_true(naddr[0] != '\0');
    assert_true(garbage_closed(naddr, junk, sizeof junk - 1));

    /* Through all of that the cluster kept serving. */
    rt = connect_rt();
    wait_nodes(rt, 4);
    slow_job(rt, 40, 1, NULL);
    weft_shutdown(rt);
}

/* Processes running a program from a node's cache (the drivers' workers). */
static int cached_workers(void)
{
    int count = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[300], exe[PATH_MAX];
        snprintf(path, sizeof path, "/proc/%s/exe", de->d_name);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        if (n <= 0)
            continue;
        exe[n] = '\0';
        count += strncmp(exe, lab, strlen(lab)) == 0 &&
                 strstr(exe, "/cache/") != NULL;
    }
    if (d)
        closedir(d);
    return count;
}

static void test_driver_disconnect(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        weft_runtime *rt;
        if (weft_init(&rt, NULL) != 0)
            _exit(3);
        for (int i = 0; i < 40; i++) {
            weft_ref r;
            if (weft_submit(rt, "t_slow_sq",
                            WEFT_ARGS(weft_i64(i), weft_i64(20000)), NULL,
                            &r) != 0)
                _exit(4);
        }
        sleep_ms(500);
        _exit(0); /* gone without a word, tasks still running */
    }
    int ws;
    assert_int_equal(waitpid(child, &ws, 0), child);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    /* Its workers are stopped and the nodes' load drops to 0. */
    bool idle = false;
    for (int i = 0; i < 100 && !idle; i++) {
        result r;
        status(&r);
        idle = r.status == 0 && cached_workers() == 0;
        for (char *l = strchr(r.out, '\n'); idle && l && l[1];
             l = strchr(l + 1, '\n')) {
            unsigned id, load;
            char name[80], st[16], cpus[16], mem1[16], mem2[16];
            if (sscanf(l + 1, "%u %79s %15s %15s %15s %15s %u", &id, name, st,
                       cpus, mem1, mem2, &load) == 7 &&
                load != 0)
                idle = false;
        }
        if (!idle)
            sleep_ms(100);
    }
    assert_true(idle);
}

int main(void)
{
    weft_worker_check(); /* the nodes run this program as their workers */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_random_dags),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_stealing),
        cmocka_unit_test(test_cache_trimmed),
        cmocka_unit_test(test_actors),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_library),
        cmocka_unit_test(test_bad_clients),
        cmocka_unit_test(test_driver_disconnect),
        cmocka_unit_test(test_node_killed),
        cmocka_unit_test(test_link_cut),
    };
    const char *only = getenv("WEFT_TEST_FILTER"); /* e.g. test_resources */
    if (only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
