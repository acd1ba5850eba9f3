#include "cli/cluster_cmds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "base/resspec.h"
#include "cluster/membership.h"
#include "cluster/noded.h"
#include "cluster/status.h"
#include "net/auth.h"
#include "net/conn.h"
#include "net/tls.h"

#define WF_CLI_DEFAULT_HOST "127.0.0.1"
#define WF_CLI_DEFAULT_PORT 6380
#define WF_CLI_WAIT_MS 5000 /* start, stop and status give up after this */

/* ------------------------------------------------------------ helpers */

typedef struct wf_cli_args {
    const char *session, *host, *token_file, *address, *resources, *name;
    const char *num_cpus;
    int port;
    bool head, tls;
} wf_cli_args;

/* Parse the options verb accepts (a string of letters: h head, H host,
 * p port, t token-file, s session-dir, a address, r resources, n name,
 * c num-cpus, T tls) into *a. Returns 0 or 2
 * after printing why. */
static int wf_cli_parse(const char *verb, const char *accepts, int argc,
                        char **argv, wf_cli_args *a)
{
    static const struct {
        char key;
        const char *name;
    } opts[] = {{'h', "--head"},        {'H', "--host"},
                {'p', "--port"},        {'t', "--token-file"},
                {'s', "--session-dir"}, {'a', "--address"},
                {'r', "--resources"},   {'n', "--name"},
                {'c', "--num-cpus"},    {'T', "--tls"}};
    for (int i = 0; i < argc; i++) {
        char key = 0;
        const char *val = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            size_t n = strlen(opts[k].name);
            if (!strchr(accepts, opts[k].key) ||
                strncmp(argv[i], opts[k].name, n) != 0)
                continue;
            bool flag = opts[k].key == 'h' || opts[k].key == 'T';
            if (argv[i][n] == '=' && !flag)
                val = argv[i] + n + 1;
            else if (argv[i][n] != '\0')
                continue;
            key = opts[k].key;
            if (!flag && !val) {
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
        case 'T':
            a->tls = true;
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
        case 'r':
            a->resources = val;
            break;
        case 'n':
            a->name = val;
            break;
        case 'c':
            a->num_cpus = val;
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

/* ------------------------------------------------------------ daemon */

/* A daemon is a head (which also runs a node of its own) or a node. Both
 * run the node's task service (cluster/noded.h) and join the head. */
typedef struct wf_daemon {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t poll;
    bool is_head;
    const char *role; /* "head" or "node", for messages */
    wf_head *head;
    wf_node *node;
    wf_noded *noded;
    wf_token token; /* kept to rejoin */
    int report_fd;  /* pipe to the waiting `weft start`; -1 once told */
    int lock_fd;    /* held for the daemon's life */
    uint64_t started, rejoin_at, backoff_ms;
    bool joined_once;
    char pidfile[PATH_MAX], addrfile[PATH_MAX], cachedir[PATH_MAX];
    char host[64];    /* head: where it listens; node: its task service */
    int port;         /* head: its port; node: its task port (0 any) */
    char to_host[64]; /* the head to join */
    int to_port;
    char name[WF_NODE_NAME_MAX + 1];
    wf_node_resources res;
} wf_daemon;

/* Tell the waiting parent how start-up went ("ok" or an error line). */
static void wf_daemon_report(wf_daemon *d, const char *line)
{
    if (d->report_fd < 0)
        return;
    char buf[PATH_MAX + 300];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n > 0 && write(d->report_fd, buf, (size_t)n) < 0)
        WF_LOG_WARN("weft %s: cannot report to weft start: %s", d->role,
                    strerror(errno));
    close(d->report_fd);
    d->report_fd = -1;
}

/* Stop everything; the loop then runs out and the daemon exits. */
static void wf_daemon_shutdown(wf_daemon *d)
{
    if (d->node)
        wf_node_stop(d->node);
    if (d->noded)
        wf_noded_stop(d->noded);
    if (d->head)
        wf_head_stop(d->head);
    d->node = NULL;
    d->noded = NULL;
    d->head = NULL;
    if (!uv_is_closing((uv_handle_t *)&d->sigterm)) {
        uv_close((uv_handle_t *)&d->sigterm, NULL);
        uv_close((uv_handle_t *)&d->sigint, NULL);
    }
    if (!uv_is_closing((uv_handle_t *)&d->poll))
        uv_close((uv_handle_t *)&d->poll, NULL);
    if (d->is_head)
        unlink(d->addrfile);
    unlink(d->pidfile);
}

static void wf_daemon_on_signal(uv_signal_t *s, int signum)
{
    wf_daemon *d = s->data;
    WF_LOG_WARN("weft %s: stopping on signal %d", d->role, signum);
    wf_daemon_shutdown(d);
}

/* Join (or rejoin) the head. */
static weft_err wf_daemon_join(wf_daemon *d)
{
    return wf_node_join(&d->loop, d->to_host, d->to_port, &d->token, d->name,
                        &d->res, NULL, &d->node);
}

/* Every few ms: until the node has joined, then publish and report; after
 * that, report the load and rejoin (with backoff) when the head is lost. */
static void wf_daemon_poll(uv_timer_t *t)
{
    wf_daemon *d = t->data;
    char line[PATH_MAX + 256];
    uint64_t now = uv_now(&d->loop);
    wf_node_state st = d->node ? wf_node_get_state(d->node) : WF_NODE_CLOSED;
    if (d->joined_once) {
        if (st == WF_NODE_JOINED) {
            wf_node_set_load(d->node, wf_noded_load(d->noded),
                             wf_noded_drivers(d->noded));
            d->backoff_ms = 0;
        } else if (st == WF_NODE_CLOSED && now >= d->rejoin_at) {
            if (d->node) {
                WF_LOG_WARN("weft %s: lost the head at %s:%d (%s); rejoining",
                            d->role, d->to_host, d->to_port,
                            weft_err_name(wf_node_close_reason(d->node)));
                wf_node_stop(d->node);
                d->node = NULL;
            }
            d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : 250;
            if (d->backoff_ms > 5000)
                d->backoff_ms = 5000;
            d->rejoin_at = now + d->backoff_ms;
            if (wf_daemon_join(d))
                WF_LOG_WARN("weft %s: rejoin: %s", d->role, weft_last_error());
        }
        return;
    }
    if (st == WF_NODE_JOINED) {
        d->joined_once = true;
        uv_timer_set_repeat(t, 200);
        if (d->is_head) {
            char addr[128];
            snprintf(addr, sizeof addr, "%s:%d\n", d->host, d->port);
            if (wf_cli_write_atomic(d->addrfile, addr) != 0) {
                snprintf(line, sizeof line, "cannot write %s: %s", d->addrfile,
                         strerror(errno));
                goto fail;
            }
            WF_LOG_WARN("weft head: listening on %s:%d", d->host, d->port);
        }
        WF_LOG_WARN("weft %s: node %s joined; tasks on %s", d->role, d->name,
                    d->res.addr);
        wf_daemon_report(d, "ok");
        return;
    }
    if (st == WF_NODE_CLOSED) {
        weft_err why = wf_node_close_reason(d->node);
        if (d->is_head)
            snprintf(line, sizeof line,
                     "the head's own node could not join: %s",
                     weft_err_name(why));
        else if (why == WEFT_EPROTO)
            snprintf(line, sizeof line,
                     "the head at %s:%d refused this node (wrong token, or a "
                     "node named %s is already alive)",
                     d->to_host, d->to_port, d->name);
        else if (why == 0)
            snprintf(line, sizeof line,
                     "the head at %s:%d closed the connection (is a node "
                     "named %s already alive? see its head.log)",
                     d->to_host, d->to_port, d->name);
        else
            snprintf(line, sizeof line, "cannot reach the head at %s:%d (%s)",
                     d->to_host, d->to_port, weft_err_name(why));
        goto fail;
    }
    if (now - d->started < WF_CLI_WAIT_MS)
        return;
    snprintf(line, sizeof line, "the head at %s:%d did not answer in time",
             d->to_host, d->to_port);
fail:
    WF_LOG_ERROR("weft %s: %s", d->role, line);
    wf_daemon_report(d, line);
    wf_daemon_shutdown(d);
}

/* The address drivers use for this node's task service: the host it binds
 * to, or for a wildcard the first non-loopback IPv4 address. */
static void wf_daemon_advertise(const char *host, int port, char *out,
                                size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "127.0.0.1";
    bool v6 = strchr(host, ':') != NULL;
    if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0) {
        snprintf(ip, sizeof ip, "%s", host);
    } else {
        struct ifaddrs *ifs = NULL;
        if (getifaddrs(&ifs) == 0) {
            for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
                    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                    continue;
                inet_ntop(AF_INET,
                          &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip,
                          sizeof ip);
                break;
            }
            freeifaddrs(ifs);
        }
        v6 = false;
    }
    snprintf(out, cap, v6 ? "[%s]:%d" : "%s:%d", ip, port);
}

/* The daemon's life after fork; returns its exit status. */
static int wf_daemon_run(wf_daemon *d)
{
    char line[PATH_MAX + 256];
    int rc = 1;
    weft_err e;
    uv_loop_init(&d->loop);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    uv_timer_init(&d->loop, &d->poll);
    if (d->is_head) {
        e = wf_head_start(&d->loop, d->host, d->port, &d->token, NULL,
                          &d->head);
        if (e) {
            const char *detail = weft_last_error();
            const char *why = strrchr(detail, ':');
            snprintf(line, sizeof line, "cannot listen on %s:%d: %s", d->host,
                     d->port, e == WEFT_ESYS && why ? why + 2 : detail);
            goto out;
        }
        d->port = wf_head_port(d->head);
        /* The head's own node joins over the network like any other. */
        const char *to = strcmp(d->host, "0.0.0.0") == 0 ? "127.0.0.1"
                         : strcmp(d->host, "::") == 0    ? "::1"
                                                         : d->host;
        snprintf(d->to_host, sizeof d->to_host, "%s", to);
        d->to_port = d->port;
    }
    /* The node's task service: beside the head on its host, any port; a
     * node on --host (or the head's address) at --port. */
    wf_noded_opts no = {.cache_dir = d->cachedir,
                        .nprocs = (int)(d->res.cpus_milli / 1000)};
    if (no.nprocs < 1)
        no.nprocs = 1;
    int task_port = d->is_head ? 0 : d->port;
    e = wf_noded_start(&d->loop, d->host, task_port, &d->token, &no, &d->noded);
    if (e) {
        const char *detail = weft_last_error();
        const char *why = strrchr(detail, ':');
        snprintf(line, sizeof line, "cannot listen for tasks on %s:%d: %s",
                 d->host, task_port, e == WEFT_ESYS && why ? why + 2 : detail);
        goto stop;
    }
    wf_daemon_advertise(d->host, wf_noded_port(d->noded), d->res.addr,
                        sizeof d->res.addr);
    wf_noded_set_self(d->noded, d->res.addr);
    if (!d->name[0]) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        for (char *p = host; *p; p++)
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
                *p = '\0';
        int n = snprintf(d->name, sizeof d->name, "%s-%s-%d", d->role,
                         host[0] ? host : "local", wf_noded_port(d->noded));
        (void)n;
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (wf_cli_write_atomic(d->pidfile, pid) != 0) {
        snprintf(line, sizeof line, "cannot write %s: %s", d->pidfile,
                 strerror(errno));
        goto stop;
    }
    if ((e = wf_daemon_join(d))) {
        snprintf(line, sizeof line, "cannot join the head at %s:%d: %s",
                 d->to_host, d->to_port, weft_last_error());
        unlink(d->pidfile);
        goto stop;
    }
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, wf_daemon_on_signal, SIGTERM);
    uv_signal_start(&d->sigint, wf_daemon_on_signal, SIGINT);
    d->poll.data = d;
    d->started = uv_now(&d->loop);
    uv_timer_start(&d->poll, wf_daemon_poll, 10, 10);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    WF_LOG_WARN("weft %s: stopped", d->role);
    rc = 0;
    goto close;

stop:
    WF_LOG_ERROR("weft %s: %s", d->role, line);
    wf_daemon_report(d, line);
    wf_daemon_shutdown(d);
    goto close;
out:
    WF_LOG_ERROR("weft %s: %s", d->role, line);
    wf_daemon_report(d, line);
    wf_daemon_shutdown(d);
close:
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    return rc;
}

/* In the forked child: detach, redirect, run. Never returns. */
static _Noreturn void wf_daemon_main(wf_daemon *d, const char *logfile)
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
        if (fd != d->report_fd && fd != d->lock_fd)
            close(fd);
    /* Worker processes for drivers' libraries run `weft worker`: this
     * very binary. */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0 && !getenv("WEFT_BIN")) {
        self[n] = '\0';
        setenv("WEFT_BIN", self, 1);
    }
    wf_log_init();
    if (!getenv("WEFT_LOG"))
        wf_log_level = WF_LOG_LVL_INFO;
    int rc = wf_daemon_run(d);
    if (d->report_fd >= 0)
        close(d->report_fd);
    wf_token_clear(&d->token);
    exit(rc);
}

/* Parse --resources "gpu=1,fpga=0.5" into res (names as node names);
 * false after saying why on stderr. */
static bool wf_cli_resources(const char *spec, wf_node_resources *res)
{
    res->ncustom = 0;
    for (const char *p = spec; *p;) {
        const char *name;
        size_t nlen;
        double v;
        if (wf_res_item("weft start", spec, &p, &name, &nlen, &v)) {
            fprintf(stderr, "%s\n", weft_last_error());
            return false;
        }
        const char *bad = NULL;
        if (nlen > WF_NODE_NAME_MAX)
            bad = "longer than 64 bytes";
        for (size_t i = 0; i < nlen && !bad; i++)
            if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
                bad = "not printable ASCII without spaces";
        for (uint32_t i = 0; i < res->ncustom && !bad; i++)
            if (strlen(res->custom[i].name) == nlen &&
                memcmp(res->custom[i].name, name, nlen) == 0)
                bad = "given twice";
        if (!bad && res->ncustom == WF_NODE_MAX_CUSTOM)
            bad = "one resource too many (64 at most)";
        if (bad) {
            fprintf(stderr, "weft start: resources \"%s\": '%.*s' is %s\n",
                    spec, (int)nlen, name, bad);
            return false;
        }
        wf_node_resource *r = &res->custom[res->ncustom++];
        memcpy(r->name, name, nlen);
        r->name[nlen] = '\0';
        r->milli = (uint64_t)(v * 1000 + 0.5);
    }
    return true;
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
    wf_cli_args a = {.port = -1};
    int rc = wf_cli_parse("start", "hHptsarncT", argc, argv, &a);
    if (rc)
        return rc;
    if (a.head == (a.address != NULL)) {
        fprintf(stderr, "weft start: give either --head (start a cluster) or "
                        "--address HOST:PORT (join one)\n");
        return 2;
    }
    static wf_daemon d; /* large; static keeps it off the stack */
    memset(&d, 0, sizeof d);
    d.is_head = a.head;
    d.role = a.head ? "head" : "node";
    d.report_fd = d.lock_fd = -1;
    if (a.address && !wf_net_split_addr(a.address, d.to_host, sizeof d.to_host,
                                        &d.to_port)) {
        fprintf(stderr, "weft start: bad address '%s' (want HOST:PORT)\n",
                a.address);
        return 2;
    }
    d.res.cpus_milli = (uint64_t)wf_ncpus() * 1000;
    d.res.memory_bytes = wf_phys_mem();
    if (a.num_cpus) {
        char *end;
        long v = strtol(a.num_cpus, &end, 10);
        if (*end || end == a.num_cpus || v < 1 || v > 1024) {
            fprintf(stderr, "weft start: bad --num-cpus '%s' (1..1024)\n",
                    a.num_cpus);
            return 2;
        }
        d.res.cpus_milli = (uint64_t)v * 1000;
    }
    if (a.resources && !wf_cli_resources(a.resources, &d.res))
        return 2; /* said why */
    if (a.name) {
        size_t n = strlen(a.name);
        bool ok = n >= 1 && n <= WF_NODE_NAME_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)a.name[i] > 0x20 &&
                 (unsigned char)a.name[i] < 0x7f;
        if (!ok) {
            fprintf(stderr,
                    "weft start: bad --name '%s' (1..%d printable characters, "
                    "no spaces)\n",
                    a.name, WF_NODE_NAME_MAX);
            return 2;
        }
        snprintf(d.name, sizeof d.name, "%s", a.name);
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
    char logfile[PATH_MAX], lockfile[PATH_MAX], fname[32];
    snprintf(fname, sizeof fname, "%s.pid", d.role);
    if (!wf_cli_path("start", d.pidfile, sizeof d.pidfile, session, fname))
        return 1;
    snprintf(fname, sizeof fname, "%s.log", d.role);
    if (!wf_cli_path("start", logfile, sizeof logfile, session, fname))
        return 1;
    snprintf(fname, sizeof fname, "%s.lock", d.role);
    if (!wf_cli_path("start", lockfile, sizeof lockfile, session, fname) ||
        !wf_cli_path("start", d.addrfile, sizeof d.addrfile, session,
                     "head.addr") ||
        !wf_cli_path("start", d.cachedir, sizeof d.cachedir, session, "cache"))
        return 1;
    if (mkdir(d.cachedir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "weft start: cannot create %s: %s\n", d.cachedir,
                strerror(errno));
        return 1;
    }
    /* One daemon of each role per session: the lock is held for the
     * daemon's life, so two starts at once cannot both win. */
    d.lock_fd = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d.lock_fd < 0) {
        fprintf(stderr, "weft start: cannot open %s: %s\n", lockfile,
                strerror(errno));
        return 1;
    }
    if (flock(d.lock_fd, LOCK_EX | LOCK_NB) != 0) {
        pid_t old = wf_cli_head_pid(d.pidfile);
        fprintf(stderr,
                "weft start: a %s is already running in %s (pid %ld); 'weft "
                "stop' it first\n",
                d.role, session, (long)old);
        close(d.lock_fd);
        return 1;
    }
    unlink(d.pidfile); /* stale, from a daemon that died */
    if (d.is_head)
        unlink(d.addrfile);

    const char *host = a.host ? a.host : WF_CLI_DEFAULT_HOST;
    if (!a.host && !d.is_head) {
        /* A node serves tasks on the address it reaches the head from. */
        host = strcmp(d.to_host, "localhost") == 0 ? "127.0.0.1" : d.to_host;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_DGRAM,
                                 .ai_flags = AI_NUMERICHOST};
        struct addrinfo *ai = NULL;
        static char local[INET6_ADDRSTRLEN];
        char port[16];
        snprintf(port, sizeof port, "%d", d.to_port);
        if (getaddrinfo(d.to_host, port, &hints, &ai) == 0) {
            int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
                void *ad =
                    ss.ss_family == AF_INET
                        ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                        : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
                if (inet_ntop(ss.ss_family, ad, local, sizeof local))
                    host = local;
            }
            if (fd >= 0)
                close(fd);
            freeaddrinfo(ai);
        }
    }
    if (strlen(host) >= sizeof d.host) {
        fprintf(stderr, "weft start: bad host '%s'\n", host);
        return 2;
    }
    snprintf(d.host, sizeof d.host, "%s", host);
    d.port = a.port >= 0 ? a.port : d.is_head ? WF_CLI_DEFAULT_PORT : 0;

    char token_path[PATH_MAX];
    if (!d.is_head && !a.token_file) {
        char path[PATH_MAX];
        if (wf_cli_path("start", path, sizeof path, session, "token") &&
            access(path, R_OK) != 0) {
            fprintf(stderr, "weft start: joining a cluster needs its token: "
                            "give --token-file F\n");
            return 2;
        }
    }
    if (wf_cli_token("start", &a, session, d.is_head, &d.token, token_path,
                     sizeof token_path))
        return 1;
    /* TLS: for the daemon, and a mark beside the session's token so that
     * drivers and `weft status` on this machine use it too. */
    const char *tls_env = getenv("WEFT_TLS");
    bool tls = a.tls || (tls_env && *tls_env && strcmp(tls_env, "0") != 0);
    wf_tls_set_enabled(tls);
    char mark[PATH_MAX];
    if (d.is_head && wf_cli_path("start", mark, sizeof mark, session, "tls")) {
        if (tls)
            wf_cli_write_atomic(mark, "weft start --tls\n");
        else
            unlink(mark);
    }
    if (tls && !wf_tls_ctx(true)) {
        fprintf(stderr, "weft start: TLS: %s\n", weft_last_error());
        return 1;
    }

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
        wf_daemon_main(&d, logfile);
    }
    wf_token_clear(&d.token);
    close(fds[1]);
    close(d.lock_fd); /* the daemon holds it now */

    char line[PATH_MAX + 256];
    bool got = wf_cli_wait_report(fds[0], line, sizeof line);
    close(fds[0]);
    if (got && strcmp(line, "ok") == 0) {
        if (d.is_head) {
            char addr[128];
            if (!wf_cli_read_line(d.addrfile, addr, sizeof addr))
                snprintf(addr, sizeof addr, "%s:?", d.host);
            printf("weft: head listening on %s\n", addr);
            printf("weft: token file: %s\n", token_path);
            printf("weft: join nodes with: weft start --address %s "
                   "--token-file %s\n",
                   addr, token_path);
            printf("weft: run programs with: WEFT_ADDRESS=%s "
                   "WEFT_TOKEN_FILE=%s ./program\n",
                   addr, token_path);
        } else {
            printf("weft: node joined the head at %s:%d\n", d.to_host,
                   d.to_port);
        }
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
                "weft start: the %s did not come up within %d s (see %s)\n",
                d.role, WF_CLI_WAIT_MS / 1000, logfile);
    } else {
        fprintf(stderr, "weft start: the %s exited during start-up (see %s)\n",
                d.role, logfile);
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
    printf("%-4s  %-20s  %-5s  %6s  %10s  %5s  %7s  %10s  %-21s  %s\n", "ID",
           "NAME", "STATE", "CPUS", "MEMORY", "LOAD", "DRIVERS", "LAST HEARD",
           "TASK ADDRESS", "RESOURCES");
    for (size_t i = 0; i < n; i++) {
        char cpus[32], mem[32], heard[32], res[512] = "-";
        uint64_t c = m[i].res.cpus_milli;
        if (c % 1000)
            snprintf(cpus, sizeof cpus, "%" PRIu64 ".%03" PRIu64, c / 1000,
                     c % 1000);
        else
            snprintf(cpus, sizeof cpus, "%" PRIu64, c / 1000);
        wf_status_bytes(m[i].res.memory_bytes, mem, sizeof mem);
        snprintf(heard, sizeof heard, "%.1fs ago",
                 (double)m[i].last_heard_ms / 1000.0);
        size_t used = 0;
        for (uint32_t k = 0; k < m[i].res.ncustom && used < sizeof res; k++)
            used += (size_t)snprintf(res + used, sizeof res - used, "%s%s=%g",
                                     k ? "," : "", m[i].res.custom[k].name,
                                     (double)m[i].res.custom[k].milli / 1000);
        printf("%-4" PRIu64 "  %-20s  %-5s  %6s  %10s  %5u  %7u  %10s  %-21s  "
               "%s\n",
               m[i].id, m[i].name,
               m[i].state == WF_MEMBER_ALIVE ? "ALIVE" : "DEAD", cpus, mem,
               m[i].load, m[i].drivers, heard,
               m[i].res.addr[0] ? m[i].res.addr : "-", res);
    }
}

int wf_cli_status(int argc, char **argv)
{
    wf_cli_args a = {0};
    int rc = wf_cli_parse("status", "astT", argc, argv, &a);
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
    if (!wf_net_split_addr(addr, host, sizeof host, &port)) {
        fprintf(stderr, "weft status: bad address '%s' (want HOST:PORT)\n",
                addr);
        return a.address ? 2 : 1;
    }
    static wf_token token;
    char token_path[PATH_MAX];
    if (wf_cli_token("status", &a, session, false, &token, token_path,
                     sizeof token_path))
        return 1;

    wf_tls_set_enabled(a.tls || wf_tls_wanted(token_path));
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
                "weft status: head at %s:%d did not answer within %d s%s\n",
                host, port, WF_CLI_WAIT_MS / 1000,
                q.authed || wf_tls_enabled()
                    ? ""
                    : " (a cluster using TLS says nothing to a client "
                      "without it: set WEFT_TLS=1 or give --tls)");
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

/* SIGTERM the daemon of role in session and wait for it; 0 when it is
 * gone (or was not running: *found false), 1 on failure. */
static int wf_cli_stop_role(const char *session, const char *role, bool *found)
{
    char pidfile[PATH_MAX], fname[32];
    snprintf(fname, sizeof fname, "%s.pid", role);
    *found = false;
    if (!wf_cli_path("stop", pidfile, sizeof pidfile, session, fname))
        return 1;
    pid_t pid = wf_cli_head_pid(pidfile);
    if (!pid || !wf_cli_alive(pid))
        return 0;
    *found = true;
    if (kill(pid, SIGTERM) != 0) {
        fprintf(stderr, "weft stop: cannot signal the %s (pid %ld): %s\n", role,
                (long)pid, strerror(errno));
        return 1;
    }
    uint64_t deadline = wf_now_ns() + (uint64_t)WF_CLI_WAIT_MS * 1000000;
    while (wf_cli_alive(pid)) {
        if (wf_now_ns() >= deadline) {
            fprintf(stderr,
                    "weft stop: the %s (pid %ld) did not exit within %d s\n",
                    role, (long)pid, WF_CLI_WAIT_MS / 1000);
            return 1;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    printf("weft: stopped %s (pid %ld)\n", role, (long)pid);
    return 0;
}

int wf_cli_stop(int argc, char **argv)
{
    wf_cli_args a = {0};
    int rc = wf_cli_parse("stop", "s", argc, argv, &a);
    if (rc)
        return rc;
    char session[PATH_MAX];
    wf_cli_session(&a, session, sizeof session);
    bool node, head;
    rc = wf_cli_stop_role(session, "node", &node);
    rc |= wf_cli_stop_role(session, "head", &head);
    if (!rc && !node && !head)
        printf("weft stop: nothing running in %s\n", session);
    return rc;
}
