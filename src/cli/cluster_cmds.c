#include "cli/cluster_cmds.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "cluster/membership.h"
#include "cluster/status.h"
#include "net/auth.h"
#include "net/conn.h"

#define WF_CLI_DEFAULT_HOST "127.0.0.1"
#define WF_CLI_DEFAULT_PORT 6380
#define WF_CLI_WAIT_MS 5000 /* start, stop and status give up after this */

/* ------------------------------------------------------------ helpers */

typedef struct wf_cli_args {
    const char *session, *host, *token_file, *address;
    int port;
    bool head;
} wf_cli_args;

/* Parse the options verb accepts (a string of letters: h head, H host,
 * p port, t token-file, s session-dir, a address) into *a. Returns 0 or 2
 * after printing why. */
static int wf_cli_parse(const char *verb, const char *accepts, int argc,
                        char **argv, wf_cli_args *a)
{
    static const struct {
        char key;
        const char *name;
    } opts[] = {{'h', "--head"},        {'H', "--host"},
                {'p', "--port"},        {'t', "--token-file"},
                {'s', "--session-dir"}, {'a', "--address"}};
    for (int i = 0; i < argc; i++) {
        char key = 0;
        const char *val = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            size_t n = strlen(opts[k].name);
            if (!strchr(accepts, opts[k].key) ||
                strncmp(argv[i], opts[k].name, n) != 0)
                continue;
            if (argv[i][n] == '=' && opts[k].key != 'h')
                val = argv[i] + n + 1;
            else if (argv[i][n] != '\0')
                continue;
            key = opts[k].key;
            if (key != 'h' && !val) {
                if (i + 1 == argc) {
                    fprintf(stderr, "weft %s: %s needs a value\n", verb,
                            opts[k].name);
                    return 2;
                }
                val = argv[++i];
            }
            break;
        }
        switch (key) {
        case 'h':
            a->head = true;
            break;
        case 'H':
            a->host = val;
            break;
        case 't':
            a->token_file = val;
            break;
        case 's':
            a->session = val;
            break;
        case 'a':
            a->address = val;
            break;
        case 'p': {
            char *end;
            errno = 0;
            long p = strtol(val, &end, 10);
            if (errno || end == val || *end || p < 0 || p > 65535) {
                fprintf(stderr, "weft %s: bad port '%s' (0..65535)\n", verb,
                        val);
                return 2;
            }
            a->port = (int)p;
            break;
        }
        default:
            fprintf(stderr,
                    "weft %s: unexpected argument '%s'\n"
                    "Run 'weft help' for the usage.\n",
                    verb, argv[i]);
            return 2;
        }
    }
    return 0;
}

/* The session directory: --session-dir, $WEFT_SESSION_DIR or
 * /tmp/weft-<uid>, into buf. */
static void wf_cli_session(const wf_cli_args *a, char *buf, size_t cap)
{
    const char *env = getenv("WEFT_SESSION_DIR");
    if (a->session)
        snprintf(buf, cap, "%s", a->session);
    else if (env && *env)
        snprintf(buf, cap, "%s", env);
    else
        snprintf(buf, cap, "/tmp/weft-%u", (unsigned)getuid());
}

/* dir/name into buf; false (after printing) when it does not fit. */
static bool wf_cli_path(const char *verb, char *buf, size_t cap,
                        const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, cap, "%s/%s", dir, name) < cap)
        return true;
    fprintf(stderr, "weft %s: session directory path too long: %s\n", verb,
            dir);
    return false;
}

/* Read the first line of path into buf (newline removed). */
static bool wf_cli_read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\r\n")] = '\0';
    return ok && buf[0];
}

/* True while pid exists and is not a zombie nobody has reaped yet. */
static bool wf_cli_alive(pid_t pid)
{
    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return false;
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (!wf_cli_read_line(path, stat, sizeof stat))
        return true;
    const char *p = strrchr(stat, ')');
    return !(p && p[1] == ' ' && p[2] == 'Z');
}

/* The pid in the session's head.pid, or 0. */
static pid_t wf_cli_head_pid(const char *pidfile)
{
    char line[32];
    if (!wf_cli_read_line(pidfile, line, sizeof line))
        return 0;
    char *end;
    long v = strtol(line, &end, 10);
    return *end || v <= 0 || v > INT_MAX ? 0 : (pid_t)v;
}

/* Write text to path atomically (a temporary file, then rename). */
static int wf_cli_write_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Split "HOST:PORT" (or "[V6]:PORT") into host and *port. */
static bool wf_cli_split_addr(const char *addr, char *host, size_t cap,
                              int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return false;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (n == 0 || n >= cap || *end || end == colon + 1 || p < 1 || p > 65535)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return true;
}

/* ------------------------------------------------------------ daemon */

typedef struct wf_daemon {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t poll;
    wf_head *head;
    wf_node *node;
    int report_fd; /* pipe to the waiting `weft start`; -1 once told */
    uint64_t started;
    char pidfile[PATH_MAX], addrfile[PATH_MAX];
    char host[64];
    int port;
} wf_daemon;

/* Tell the waiting parent how start-up went ("ok" or an error line). */
static void wf_daemon_report(wf_daemon *d, const char *line)
{
    if (d->report_fd < 0)
        return;
    char buf[PATH_MAX + 300];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n > 0 && write(d->report_fd, buf, (size_t)n) < 0)
        WF_LOG_WARN("weft head: cannot report to weft start: %s",
                    strerror(errno));
    close(d->report_fd);
    d->report_fd = -1;
}

/* Stop everything; the loop then runs out and the daemon exits. */
static void wf_daemon_shutdown(wf_daemon *d)
{
    if (d->node)
        wf_node_stop(d->node);
    if (d->head)
        wf_head_stop(d->head);
    d->node = NULL;
    d->head = NULL;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    if (!uv_is_closing((uv_handle_t *)&d->poll))
        uv_close((uv_handle_t *)&d->poll, NULL);
    unlink(d->addrfile);
    unlink(d->pidfile);
}

static void wf_daemon_on_signal(uv_signal_t *s, int signum)
{
    wf_daemon *d = s->data;
    WF_LOG_WARN("weft head: stopping on signal %d", signum);
    wf_daemon_shutdown(d);
}

/* Until the head's own node has joined: then publish head.addr and tell
 * the parent; if it cannot join, give up. */
static void wf_daemon_poll(uv_timer_t *t)
{
    wf_daemon *d = t->data;
    wf_node_state st = wf_node_get_state(d->node);
    char line[PATH_MAX + 256];
    if (st == WF_NODE_JOINED) {
        uv_timer_stop(t);
        char addr[128];
        snprintf(addr, sizeof addr, "%s:%d\n", d->host, d->port);
        if (wf_cli_write_atomic(d->addrfile, addr) != 0) {
            snprintf(line, sizeof line, "cannot write %s: %s", d->addrfile,
                     strerror(errno));
            goto fail;
        }
        WF_LOG_WARN("weft head: listening on %s:%d", d->host, d->port);
        wf_daemon_report(d, "ok");
        return;
    }
    if (st == WF_NODE_CLOSED) {
        snprintf(line, sizeof line, "the head's own node could not join: %s",
                 weft_err_name(wf_node_close_reason(d->node)));
        goto fail;
    }
    if (uv_now(&d->loop) - d->started < WF_CLI_WAIT_MS)
        return;
    snprintf(line, sizeof line, "the head's own node did not join in time");
fail:
    WF_LOG_ERROR("weft head: %s", line);
    wf_daemon_report(d, line);
    wf_daemon_shutdown(d);
}

/* This node's name: "head-" and the host name up to its first character
 * that a node name cannot hold. */
static void wf_daemon_node_name(char *name, size_t cap)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    size_t n = strlen(host);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)host[i] < 0x21 || (unsigned char)host[i] > 0x7e) {
            host[i] = '\0';
            break;
        }
    snprintf(name, cap, "head-%s", host[0] ? host : "local");
    if (strlen(name) > WF_NODE_NAME_MAX)
        name[WF_NODE_NAME_MAX] = '\0';
}

/* The daemon's life after fork; returns its exit status. */
static int wf_daemon_run(wf_daemon *d, const wf_token *token)
{
    char line[PATH_MAX + 256];
    int rc = 1;
    uv_loop_init(&d->loop);
    weft_err e =
        wf_head_start(&d->loop, d->host, d->port, token, NULL, &d->head);
    if (e) {
        const char *detail = weft_last_error();
        const char *why = strrchr(detail, ':');
        snprintf(line, sizeof line, "cannot listen on %s:%d: %s", d->host,
                 d->port, e == WEFT_ESYS && why ? why + 2 : detail);
        goto out;
    }
    d->port = wf_head_port(d->head);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (wf_cli_write_atomic(d->pidfile, pid) != 0) {
        snprintf(line, sizeof line, "cannot write %s: %s", d->pidfile,
                 strerror(errno));
        wf_head_stop(d->head);
        goto out;
    }

    /* The head's own node joins over the network like any other. */
    const char *to = strcmp(d->host, "0.0.0.0") == 0 ? "127.0.0.1"
                     : strcmp(d->host, "::") == 0    ? "::1"
                                                     : d->host;
    char name[WF_NODE_NAME_MAX + 1];
    wf_daemon_node_name(name, sizeof name);
    wf_node_resources *res = wf_calloc(1, sizeof *res);
    if (!res) {
        snprintf(line, sizeof line, "out of memory");
        goto stop;
    }
    res->cpus_milli = (uint64_t)wf_ncpus() * 1000;
    res->memory_bytes = wf_phys_mem();
    e = wf_node_join(&d->loop, to, d->port, token, name, res, NULL, &d->node);
    wf_free(res);
    if (e) {
        snprintf(line, sizeof line, "the head's own node cannot join: %s",
                 weft_last_error());
        goto stop;
    }

    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, wf_daemon_on_signal, SIGTERM);
    uv_signal_start(&d->sigint, wf_daemon_on_signal, SIGINT);
    uv_timer_init(&d->loop, &d->poll);
    d->poll.data = d;
    d->started = uv_now(&d->loop);
    uv_timer_start(&d->poll, wf_daemon_poll, 10, 10);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    WF_LOG_WARN("weft head: stopped");
    rc = 0;
    goto close;

stop:
    wf_head_stop(d->head);
    unlink(d->pidfile);
out:
    WF_LOG_ERROR("weft head: %s", line);
    wf_daemon_report(d, line);
close:
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    return rc;
}

/* In the forked child: detach, redirect, run. Never returns. */
static _Noreturn void wf_daemon_main(wf_daemon *d, const wf_token *token,
                                     const char *logfile)
{
    setsid();
    signal(SIGPIPE, SIG_IGN);
    int null = open("/dev/null", O_RDONLY);
    int log = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null < 0 || log < 0) {
        char line[PATH_MAX + 64];
        snprintf(line, sizeof line, "cannot open %s: %s", logfile,
                 strerror(errno));
        wf_daemon_report(d, line);
        _exit(1);
    }
    dup2(null, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    close(null);
    close(log);
    for (int fd = 3; fd < 1024; fd++)
        if (fd != d->report_fd)
            close(fd);
    wf_log_init();
    if (!getenv("WEFT_LOG"))
        wf_log_level = WF_LOG_LVL_INFO;
    int rc = wf_daemon_run(d, token);
    if (d->report_fd >= 0)
        close(d->report_fd);
    exit(rc);
}

/* ------------------------------------------------------------ start */

/* The cluster token: --token-file, or the session's token file (created
 * when missing). */
static int wf_cli_token(const char *verb, const wf_cli_args *a,
                        const char *session, bool create, wf_token *t,
                        char *path, size_t cap)
{
    if (a->token_file)
        snprintf(path, cap, "%s", a->token_file);
    else if (!wf_cli_path(verb, path, cap, session, "token"))
        return 1;
    if (create && !a->token_file) {
        weft_err e = wf_token_create(path);
        if (e && e != WEFT_EEXIST) {
            fprintf(stderr, "weft %s: cannot create token file %s: %s\n", verb,
                    path, weft_last_error());
            return 1;
        }
    }
    if (wf_token_load(path, t)) {
        fprintf(stderr, "weft %s: cannot use token file %s: %s\n", verb, path,
                weft_last_error());
        return 1;
    }
    return 0;
}

/* Wait (bounded) for the daemon's report on fd: true with its line. */
static bool wf_cli_wait_report(int fd, char *line, size_t cap)
{
    size_t n = 0;
    uint64_t deadline = wf_now_ns() + (uint64_t)WF_CLI_WAIT_MS * 1000000;
    while (n + 1 < cap) {
        uint64_t now = wf_now_ns();
        if (now >= deadline)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t k = read(fd, line + n, cap - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
        if (memchr(line, '\n', n))
            break;
    }
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    return n > 0;
}

int wf_cli_start(int argc, char **argv)
{
    wf_cli_args a = {.port = WF_CLI_DEFAULT_PORT};
    int rc = wf_cli_parse("start", "hHpts", argc, argv, &a);
    if (rc)
        return rc;
    if (!a.head) {
        fprintf(stderr, "weft start: only 'weft start --head' is available "
                        "so far\n");
        return 2;
    }
    char session[PATH_MAX];
    wf_cli_session(&a, session, sizeof session);
    if (mkdir(session, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "weft start: cannot create session directory %s: %s\n",
                session, strerror(errno));
        return 1;
    }
    struct stat st;
    if (stat(session, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != getuid() || (st.st_mode & 0077)) {
        fprintf(stderr,
                "weft start: session directory %s must be a directory of "
                "yours that only you may access (mode 0700)\n",
                session);
        return 1;
    }

    static wf_daemon d; /* large; static keeps it off the stack */
    memset(&d, 0, sizeof d);
    char logfile[PATH_MAX];
    if (!wf_cli_path("start", d.pidfile, sizeof d.pidfile, session,
                     "head.pid") ||
        !wf_cli_path("start", d.addrfile, sizeof d.addrfile, session,
                     "head.addr") ||
        !wf_cli_path("start", logfile, sizeof logfile, session, "head.log"))
        return 1;
    pid_t old = wf_cli_head_pid(d.pidfile);
    if (old && wf_cli_alive(old)) {
        fprintf(stderr,
                "weft start: a head is already running in %s (pid %ld); "
                "'weft stop' it first\n",
                session, (long)old);
        return 1;
    }
    unlink(d.pidfile); /* stale, from a head that died */
    unlink(d.addrfile);

    const char *host = a.host ? a.host : WF_CLI_DEFAULT_HOST;
    if (strlen(host) >= sizeof d.host) {
        fprintf(stderr, "weft start: bad host '%s'\n", host);
        return 2;
    }
    snprintf(d.host, sizeof d.host, "%s", host);
    d.port = a.port;

    static wf_token token;
    char token_path[PATH_MAX];
    if (wf_cli_token("start", &a, session, true, &token, token_path,
                     sizeof token_path))
        return 1;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "weft start: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "weft start: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        close(fds[0]);
        d.report_fd = fds[1];
        wf_daemon_main(&d, &token, logfile);
    }
    wf_token_clear(&token);
    close(fds[1]);

    char line[PATH_MAX + 256];
    bool got = wf_cli_wait_report(fds[0], line, sizeof line);
    close(fds[0]);
    if (got && strcmp(line, "ok") == 0) {
        char addr[128];
        if (!wf_cli_read_line(d.addrfile, addr, sizeof addr))
            snprintf(addr, sizeof addr, "%s:?", d.host);
        printf("weft: head listening on %s\n", addr);
        printf("weft: token file: %s\n", token_path);
        return 0;
    }
    if (got) {
        fprintf(stderr, "weft start: %s\n", line);
        waitpid(child, NULL, 0);
        return 1;
    }
    if (waitpid(child, NULL, WNOHANG) == 0) {
        kill(child, SIGTERM);
        fprintf(stderr,
                "weft start: the head did not come up within %d s (see "
                "%s)\n",
                WF_CLI_WAIT_MS / 1000, logfile);
    } else {
        fprintf(stderr,
                "weft start: the head exited during start-up (see %s)\n",
                logfile);
    }
    return 1;
}

/* ------------------------------------------------------------ status */

typedef struct wf_status_req {
    uv_timer_t timer;
    wf_net_conn *conn;
    wf_member *nodes;
    size_t n;
    bool answered, closed, timed_out, authed;
    weft_err why;
    char detail[512];
} wf_status_req;

static void wf_status_on_ready(wf_net_conn *c, void *arg)
{
    wf_status_req *q = arg;
    q->authed = true;
    weft_err e = wf_net_send(c, WF_MSG_STATUS_REQ, 1, NULL, 0);
    if (e) {
        q->why = e;
        snprintf(q->detail, sizeof q->detail, "%s", weft_last_error());
        wf_net_conn_close(c);
    }
}

static void wf_status_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_status_req *q = arg;
    weft_err e = f->type == WF_MSG_STATUS && !q->answered
                     ? wf_status_decode(f->body, f->body_len, &q->nodes, &q->n)
                     : wf_err(WEFT_EPROTO, "unexpected %s from the head",
                              wf_msg_type_name(f->type));
    if (e) {
        q->why = e;
        snprintf(q->detail, sizeof q->detail, "%s", weft_last_error());
    } else {
        q->answered = true;
    }
    wf_net_conn_close(c);
}

static void wf_status_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    wf_status_req *q = arg;
    q->closed = true;
    q->conn = NULL;
    if (why && !q->why) {
        q->why = why;
        snprintf(q->detail, sizeof q->detail, "%s", weft_last_error());
    }
    uv_timer_stop(&q->timer);
}

static void wf_status_timeout(uv_timer_t *t)
{
    wf_status_req *q = t->data;
    q->timed_out = true;
    if (q->conn)
        wf_net_conn_close(q->conn);
}

/* "1.5 GiB" for a byte count. */
static void wf_status_bytes(uint64_t v, char *buf, size_t cap)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double x = (double)v;
    int u = 0;
    while (x >= 1024 && u < 5) {
        x /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", x, units[u]);
}

/* Print the node table. */
static void wf_status_print(const wf_member *m, size_t n)
{
    printf("%-4s  %-24s  %-5s  %8s  %10s  %5s  %s\n", "ID", "NAME", "STATE",
           "CPUS", "MEMORY", "LOAD", "LAST HEARD");
    for (size_t i = 0; i < n; i++) {
        char cpus[32], mem[32];
        uint64_t c = m[i].res.cpus_milli;
        if (c % 1000)
            snprintf(cpus, sizeof cpus, "%" PRIu64 ".%03" PRIu64, c / 1000,
                     c % 1000);
        else
            snprintf(cpus, sizeof cpus, "%" PRIu64, c / 1000);
        wf_status_bytes(m[i].res.memory_bytes, mem, sizeof mem);
        printf("%-4" PRIu64 "  %-24s  %-5s  %8s  %10s  %5u  %.1fs ago\n",
               m[i].id, m[i].name,
               m[i].state == WF_MEMBER_ALIVE ? "ALIVE" : "DEAD", cpus, mem,
               m[i].load, (double)m[i].last_heard_ms / 1000.0);
    }
}

int wf_cli_status(int argc, char **argv)
{
    wf_cli_args a = {0};
    int rc = wf_cli_parse("status", "ast", argc, argv, &a);
    if (rc)
        return rc;
    char session[PATH_MAX], addr[256], host[128];
    wf_cli_session(&a, session, sizeof session);
    int port;
    if (a.address) {
        snprintf(addr, sizeof addr, "%s", a.address);
    } else {
        char path[PATH_MAX];
        if (!wf_cli_path("status", path, sizeof path, session, "head.addr"))
            return 1;
        if (!wf_cli_read_line(path, addr, sizeof addr)) {
            fprintf(stderr,
                    "weft status: no head running in session %s (no "
                    "head.addr; give --address?)\n",
                    session);
            return 1;
        }
    }
    if (!wf_cli_split_addr(addr, host, sizeof host, &port)) {
        fprintf(stderr, "weft status: bad address '%s' (want HOST:PORT)\n",
                addr);
        return a.address ? 2 : 1;
    }
    static wf_token token;
    char token_path[PATH_MAX];
    if (wf_cli_token("status", &a, session, false, &token, token_path,
                     sizeof token_path))
        return 1;

    signal(SIGPIPE, SIG_IGN);
    wf_log_init(); /* the error below says it all, unless WEFT_LOG asks */
    if (!getenv("WEFT_LOG"))
        wf_log_level = WF_LOG_LVL_ERROR;
    uv_loop_t loop;
    uv_loop_init(&loop);
    wf_status_req q = {0};
    uv_timer_init(&loop, &q.timer);
    q.timer.data = &q;
    wf_net_opts o = {.on_frame = wf_status_on_frame,
                     .on_ready = wf_status_on_ready,
                     .on_close = wf_status_on_close,
                     .arg = &q};
    weft_err e = wf_net_connect(&loop, host, port, &token, &o, &q.conn);
    wf_token_clear(&token);
    if (e) {
        q.why = e;
        snprintf(q.detail, sizeof q.detail, "%s", weft_last_error());
    } else {
        uv_timer_start(&q.timer, wf_status_timeout, WF_CLI_WAIT_MS, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&q.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    if (q.answered) {
        wf_status_print(q.nodes, q.n);
        wf_free(q.nodes);
        return 0;
    }
    if (q.timed_out)
        fprintf(stderr,
                "weft status: head at %s:%d did not answer within %d s\n", host,
                port, WF_CLI_WAIT_MS / 1000);
    else if (q.authed)
        fprintf(stderr, "weft status: head at %s:%d: %s\n", host, port,
                q.detail[0] ? q.detail : "closed the connection");
    else if (strstr(q.detail, "connect to"))
        fprintf(stderr, "weft status: head at %s:%d unreachable: %s\n", host,
                port, q.detail);
    else
        fprintf(stderr,
                "weft status: authentication with the head at %s:%d failed "
                "(wrong token? token file %s): %s\n",
                host, port, token_path, q.detail);
    return 1;
}

/* ------------------------------------------------------------ stop */

int wf_cli_stop(int argc, char **argv)
{
    wf_cli_args a = {0};
    int rc = wf_cli_parse("stop", "s", argc, argv, &a);
    if (rc)
        return rc;
    char session[PATH_MAX], pidfile[PATH_MAX];
    wf_cli_session(&a, session, sizeof session);
    if (!wf_cli_path("stop", pidfile, sizeof pidfile, session, "head.pid"))
        return 1;
    pid_t pid = wf_cli_head_pid(pidfile);
    if (!pid || !wf_cli_alive(pid)) {
        printf("weft stop: nothing running in %s\n", session);
        return 0;
    }
    if (kill(pid, SIGTERM) != 0) {
        fprintf(stderr, "weft stop: cannot signal head (pid %ld): %s\n",
                (long)pid, strerror(errno));
        return 1;
    }
    uint64_t deadline = wf_now_ns() + (uint64_t)WF_CLI_WAIT_MS * 1000000;
    while (wf_cli_alive(pid)) {
        if (wf_now_ns() >= deadline) {
            fprintf(stderr,
                    "weft stop: head (pid %ld) did not exit within %d s\n",
                    (long)pid, WF_CLI_WAIT_MS / 1000);
            return 1;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    printf("weft: stopped head (pid %ld)\n", (long)pid);
    return 0;
}
