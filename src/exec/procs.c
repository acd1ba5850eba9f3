#include "exec/procs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "wire/buf.h"

#define WF_RBUF_MIN (64 * 1024)
#define WF_IOV_MAX 64

extern char **environ;

struct wf_proc {
    struct wf_proc *next;
    int fd;
    int page_fd; /* the shared wf_worker_page */
    wf_worker_page *page;
    /* The page's counters restart with each process: what earlier ones
     * counted (under the lock). */
    uint64_t base_done, base_busy, total_done, total_busy;
    uint64_t next_seq;
    pid_t pid;
    void *actor;   /* NULL: a task process */
    wf_job *ctor;  /* actor processes: sent first at every start */
    bool dead;     /* gone, or stopped on purpose */
    bool stopping; /* actor stopped by its owner: no restart */
    /* Jobs sent (or being sent), oldest first; the head is running. */
    wf_job *inflight_head, *inflight_tail;
    int ninflight;
    /* Jobs not yet fully written: a suffix of the in-flight list. */
    wf_job *send_head;
    size_t send_off; /* bytes of send_head already written */
    bool want_out;   /* EPOLLOUT registered */
    /* Actor processes: calls queued before the process is up. */
    wf_job *queue_head, *queue_tail;
    uint8_t *rbuf;
    size_t rlen, rcap;
    int *fdq; /* received fds not yet claimed by a frame */
    size_t nfdq, capfdq;
};

struct wf_procs {
    pthread_mutex_t lock;
    wf_proc *procs; /* all, task and actor processes */
    int ntask, want_ntask;
    wf_job *queue_head, *queue_tail; /* task jobs waiting for a process */
    int depth; /* task jobs handed to one process at most (1..INFLIGHT) */
    int epfd, evfd;
    pthread_t io;
    bool io_started;
    bool stop;
    _Atomic uint64_t deaths; /* processes that died without being stopped */
    _Atomic bool io_idle;    /* the I/O thread is (about to be) in epoll_wait */
    _Atomic uint64_t kicks;  /* bumped by every submit */
    char **argv;             /* how to start a worker */
    bool host; /* argv is `weft worker --library X`, each string owned */
    char *exe; /* run this file instead of /proc/self/exe (owned) */
    wf_procs_cb cb;
    void *ctx;
};

static int wf_my_worker_fd = -2;

int wf_worker_fd(void)
{
    if (wf_my_worker_fd == -2) {
        const char *e = getenv("WEFT_WORKER_FD");
        char *end;
        long fd = e ? strtol(e, &end, 10) : -1;
        wf_my_worker_fd =
            e && *end == '\0' && fd >= 0 && fd < 65536 ? (int)fd : -1;
    }
    return wf_my_worker_fd;
}

wf_worker_page *wf_worker_page_map(void)
{
    const char *e = getenv("WEFT_WORKER_PAGE");
    char *end;
    long fd = e ? strtol(e, &end, 10) : -1;
    if (!e || *end || fd < 0 || fd > 65535)
        return NULL;
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
    close((int)fd);
    return m == MAP_FAILED ? NULL : m;
}

void wf_job_free(wf_job *job)
{
    if (!job)
        return;
    for (size_t i = 0; i < job->nfds; i++)
        close(job->fds[i]);
    wf_free(job->fds);
    wf_free(job->bytes);
    wf_free(job->res);
    wf_free(job);
}

wf_job *wf_job_clone(const wf_job *job)
{
    wf_job *c = wf_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->owner = job->owner;
    c->actor = job->actor;
    c->route = job->route;
    c->prefer = job->prefer;
    c->len = job->len;
    c->bytes = wf_alloc(job->len);
    c->fds = job->nfds ? wf_calloc(job->nfds, sizeof(int)) : NULL;
    if (!c->bytes || (job->nfds && !c->fds))
        goto fail;
    memcpy(c->bytes, job->bytes, job->len);
    for (; c->nfds < job->nfds; c->nfds++) {
        c->fds[c->nfds] = fcntl(job->fds[c->nfds], F_DUPFD_CLOEXEC, 0);
        if (c->fds[c->nfds] < 0)
            goto fail;
    }
    return c;
fail:
    wf_job_free(c);
    return NULL;
}

/* ------------------------------------------------------ starting */

/* argv of this process from /proc/self/cmdline, NULL-terminated. */
static char **wf_self_argv(void)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = wf_alloc(cap);
    for (ssize_t n; buf; len += (size_t)n) {
        if (len + 1 >= cap) {
            char *nb = wf_realloc(buf, cap *= 2);
            if (!nb) {
                wf_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[len] = '\0';
    size_t argc = 0;
    for (size_t i = 0; i < len; i++)
        argc += buf[i] == '\0';
    char **argv = wf_calloc(argc + 2, sizeof *argv);
    if (!argv) {
        wf_free(buf);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < len && k < argc; i += strlen(buf + i) + 1)
        argv[k++] = buf + i;
    if (k == 0)
        argv[k++] = buf; /* empty cmdline: still a valid argv[0] */
    return argv;
}

static char **wf_host_argv(const char *library)
{
    const char *bin = getenv("WEFT_BIN");
    char **argv = wf_calloc(5, sizeof *argv);
    if (!argv)
        return NULL;
    argv[0] = wf_strdup(bin ? bin : "weft");
    argv[1] = wf_strdup("worker");
    argv[2] = wf_strdup("--library");
    argv[3] = wf_strdup(library);
    if (!argv[0] || !argv[1] || !argv[2] || !argv[3]) {
        for (int i = 0; i < 4; i++)
            wf_free(argv[i]);
        wf_free(argv);
        return NULL;
    }
    return argv;
}

/* Start one worker process; fills proc->fd and proc->pid. */
static weft_err wf_spawn_proc(wf_procs *p, wf_proc *proc)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return wf_err(WEFT_ESYS, "worker socketpair: %s", strerror(errno));
    /* Everything the child needs is prepared before fork: after it, only
     * async-signal-safe calls. */
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = wf_calloc(nenv + 4, sizeof *envp);
    if (proc->page_fd < 0) {
        proc->page_fd = wf_shm_create("weft-worker-page", 4096);
        void *m = proc->page_fd < 0 ? MAP_FAILED
                                    : mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                           MAP_SHARED, proc->page_fd, 0);
        if (m == MAP_FAILED) {
            if (proc->page_fd >= 0)
                close(proc->page_fd);
            proc->page_fd = -1;
            close(sv[0]);
            close(sv[1]);
            return wf_err(WEFT_ESYS, "worker page: %s", strerror(errno));
        }
        proc->page = m;
    }
    atomic_store(&proc->page->started, 0);
    atomic_store(&proc->page->done, 0);
    atomic_store(&proc->page->busy_ns, 0);
    proc->base_done = proc->total_done;
    proc->base_busy = proc->total_busy;
    char fdvar[32], parentvar[48], pagevar[40];
    snprintf(fdvar, sizeof fdvar, "WEFT_WORKER_FD=%d", sv[1]);
    snprintf(pagevar, sizeof pagevar, "WEFT_WORKER_PAGE=%d", proc->page_fd);
    snprintf(parentvar, sizeof parentvar, "WEFT_WORKER_PARENT=%d",
             (int)getpid());
    if (!envp) {
        close(sv[0]);
        close(sv[1]);
        return wf_err(WEFT_ENOMEM, "starting a worker: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "WEFT_WORKER_", 12) != 0)
            envp[k++] = environ[i];
    envp[k++] = fdvar;
    envp[k++] = parentvar;
    envp[k++] = pagevar;
    const char *path = p->argv[0];
    char self[] = "/proc/self/exe";
    bool host = p->host;
    const char *exe = p->exe;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        fcntl(sv[1], F_SETFD, fcntl(sv[1], F_GETFD) & ~FD_CLOEXEC);
        fcntl(proc->page_fd, F_SETFD,
              fcntl(proc->page_fd, F_GETFD) & ~FD_CLOEXEC);
        if (host)
            execvpe(path, p->argv, envp);
        else
            execve(exe ? exe : self, p->argv, envp);
        _exit(127);
    }
    int e = errno;
    wf_free(envp);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return wf_err(WEFT_ESYS, "starting a worker: fork: %s", strerror(e));
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    proc->fd = sv[0];
    proc->pid = pid;
    proc->dead = false;
    proc->rlen = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = proc};
    epoll_ctl(p->epfd, EPOLL_CTL_ADD, proc->fd, &ev);
    WF_LOG_INFO("event=worker_started pid=%d actor=%d", (int)pid,
                proc->actor != NULL);
    return 0;
}

static wf_proc *wf_proc_new(wf_procs *p, void *actor)
{
    wf_proc *proc = wf_calloc(1, sizeof *proc);
    if (!proc)
        return NULL;
    proc->fd = -1;
    proc->page_fd = -1;
    proc->actor = actor;
    proc->next = p->procs;
    p->procs = proc;
    return proc;
}

/* ------------------------------------------------------ in flight */

static void wf_inflight_push(wf_proc *proc, wf_job *job)
{
    job->next = NULL;
    job->attempts++;
    job->sent_ns = wf_now_ns();
    job->pid = (int)proc->pid;
    /* Number the job in this process's stream (the frame header's seq). */
    job->seq = ++proc->next_seq;
    wf_store_le64(job->bytes + 8, job->seq);
    if (proc->inflight_tail)
        proc->inflight_tail->next = job;
    else
        proc->inflight_head = job;
    proc->inflight_tail = job;
    proc->ninflight++;
    if (!proc->send_head) {
        proc->send_head = job;
        proc->send_off = 0;
    }
}

static wf_job *wf_inflight_pop(wf_proc *proc)
{
    wf_job *job = proc->inflight_head;
    if (!job)
        return NULL;
    proc->inflight_head = job->next;
    if (!proc->inflight_head)
        proc->inflight_tail = NULL;
    proc->ninflight--;
    if (proc->send_head == job) {
        proc->send_head = job->next;
        proc->send_off = 0;
    }
    job->next = NULL;
    return job;
}

/* Hand queued task jobs to task processes with room (lock held). */
static void wf_dispatch(wf_procs *p)
{
    while (p->queue_head) {
        wf_proc *best = NULL;
        for (wf_proc *q = p->procs; q; q = q->next)
            if (!q->actor && !q->dead &&
                (!best || q->ninflight < best->ninflight))
                best = q;
        if (!best || best->ninflight >= p->depth)
            return;
        wf_job *job = p->queue_head;
        p->queue_head = job->next;
        if (!p->queue_head)
            p->queue_tail = NULL;
        wf_inflight_push(best, job);
    }
}

/* Write what is pending on proc's socket without blocking (lock held). */
static void wf_flush(wf_procs *p, wf_proc *proc)
{
    while (proc->send_head && !proc->dead) {
        struct iovec iov[WF_IOV_MAX];
        int n = 0;
        wf_job *j = proc->send_head;
        size_t off = proc->send_off;
        /* A job with fds goes alone so its fds arrive with its first byte;
         * fd-less jobs are batched into one write. */
        bool with_fds = off == 0 && j->nfds > 0;
        for (; j && n < WF_IOV_MAX; j = j->next) {
            if (n > 0 && j->nfds > 0)
                break;
            iov[n].iov_base = j->bytes + off;
            iov[n].iov_len = j->len - off;
            n++;
            off = 0;
            if (with_fds)
                break;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        char cbuf[CMSG_SPACE(sizeof(int) * 253)];
        if (with_fds) {
            wf_job *h = proc->send_head;
            size_t sz = sizeof(int) * h->nfds;
            msg.msg_control = cbuf;
            msg.msg_controllen = CMSG_SPACE(sz);
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sz);
            memcpy(CMSG_DATA(c), h->fds, sz);
        }
        ssize_t w = sendmsg(proc->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!proc->want_out) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP |
                                                       EPOLLOUT,
                                             .data.ptr = proc};
                    epoll_ctl(p->epfd, EPOLL_CTL_MOD, proc->fd, &ev);
                    proc->want_out = true;
                }
                return;
            }
            return; /* the read side will see the hang-up */
        }
        size_t left = (size_t)w;
        while (left > 0 && proc->send_head) {
            wf_job *h = proc->send_head;
            size_t rest = h->len - proc->send_off;
            if (left < rest) {
                proc->send_off += left;
                left = 0;
            } else {
                left -= rest;
                proc->send_head = h->next;
                proc->send_off = 0;
            }
        }
    }
    if (proc->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                 .data.ptr = proc};
        epoll_ctl(p->epfd, EPOLL_CTL_MOD, proc->fd, &ev);
        proc->want_out = false;
    }
}

static void wf_wake_io(wf_procs *p)
{
    atomic_fetch_add(&p->kicks, 1);
    if (!atomic_load(&p->io_idle))
        return;
    uint64_t one = 1;
    ssize_t r = write(p->evfd, &one, sizeof one);
    (void)r;
}

/* ------------------------------------------------------ receiving */

static void wf_fdq_push(wf_proc *proc, const int *fds, size_t n)
{
    if (proc->nfdq + n > proc->capfdq) {
        size_t cap = (proc->nfdq + n) * 2;
        int *q = wf_realloc(proc->fdq, cap * sizeof *q);
        if (!q) {
            for (size_t i = 0; i < n; i++)
                close(fds[i]);
            return;
        }
        proc->fdq = q;
        proc->capfdq = cap;
    }
    memcpy(proc->fdq + proc->nfdq, fds, n * sizeof *fds);
    proc->nfdq += n;
}

/* Read what the socket has; false when the peer is gone or broke the
 * protocol. */
static bool wf_read_some(wf_proc *proc)
{
    for (;;) {
        if (proc->rcap - proc->rlen < WF_RBUF_MIN / 2) {
            size_t cap = proc->rcap ? proc->rcap * 2 : WF_RBUF_MIN;
            uint8_t *b = wf_realloc(proc->rbuf, cap);
            if (!b)
                return false;
            proc->rbuf = b;
            proc->rcap = cap;
        }
        struct iovec iov = {proc->rbuf + proc->rlen, proc->rcap - proc->rlen};
        char cbuf[CMSG_SPACE(sizeof(int) * 253)];
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = cbuf,
                             .msg_controllen = sizeof cbuf};
        ssize_t n = recvmsg(proc->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
             c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                wf_fdq_push(proc, (int *)CMSG_DATA(c),
                            (c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        if (n == 0)
            return false;
        proc->rlen += (size_t)n;
        if (proc->rlen < proc->rcap)
            return true;
    }
}

/* Decode complete frames from proc's read buffer and hand completions to
 * the owner. */
static void wf_handle_frames(wf_procs *p, wf_proc *proc, bool *broken)
{
    size_t off = 0;
    while (off < proc->rlen) {
        wf_frame f;
        weft_err e = wf_frame_parse(proc->rbuf + off, proc->rlen - off, &f);
        if (e == WF_FRAME_PARTIAL)
            break;
        if (e || (f.type != WF_MSG_DONE && f.type != WF_MSG_HELLO)) {
            WF_LOG_ERROR("event=bad_frame pid=%d detail=\"%s\"", (int)proc->pid,
                         e ? weft_last_error() : "unexpected message type");
            *broken = true;
            return;
        }
        off += f.size;
        if (f.type == WF_MSG_HELLO)
            continue;
        pthread_mutex_lock(&p->lock);
        wf_job *job = wf_inflight_pop(proc);
        pthread_mutex_unlock(&p->lock);
        if (!job || job->seq != f.seq) {
            WF_LOG_ERROR("event=unexpected_done pid=%d seq=%llu",
                         (int)proc->pid, (unsigned long long)f.seq);
            if (job) {
                /* Put it back: the death handling gives it to the owner. */
                pthread_mutex_lock(&p->lock);
                job->next = proc->inflight_head;
                proc->inflight_head = job;
                if (!proc->inflight_tail)
                    proc->inflight_tail = job;
                proc->ninflight++;
                pthread_mutex_unlock(&p->lock);
            }
            *broken = true;
            return;
        }
        /* fds arrive with the first byte of the frame that carries them, so
         * the queue's front holds this frame's, if it has any. */
        size_t used = p->cb.done(p->ctx, job, &f, proc->fdq, proc->nfdq);
        if (used > proc->nfdq)
            used = proc->nfdq;
        if (used) {
            memmove(proc->fdq, proc->fdq + used,
                    (proc->nfdq - used) * sizeof(int));
            proc->nfdq -= used;
        }
    }
    if (off) {
        memmove(proc->rbuf, proc->rbuf + off, proc->rlen - off);
        proc->rlen -= off;
    }
}

static void wf_describe_exit(pid_t pid, int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(buf, n, "worker process %d was killed by signal %d (%s)",
                 (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, n, "worker process %d exited with status %d", (int)pid,
                 WEXITSTATUS(status));
    else
        snprintf(buf, n, "worker process %d stopped", (int)pid);
}

/* proc died: give its jobs back to the owner and start a replacement. */
static void wf_proc_died(wf_procs *p, wf_proc *proc)
{
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, proc->fd, NULL);
    close(proc->fd);
    proc->fd = -1;
    int status = 0;
    while (waitpid(proc->pid, &status, 0) < 0 && errno == EINTR)
        ;
    char why[160];
    wf_describe_exit(proc->pid, status, why, sizeof why);
    /* stopping and stop are set under the lock by other threads. */
    pthread_mutex_lock(&p->lock);
    bool asked = proc->stopping || p->stop;
    pthread_mutex_unlock(&p->lock);
    if (!asked) {
        atomic_fetch_add(&p->deaths, 1);
        WF_LOG_WARN("event=worker_died pid=%d detail=\"%s\"", (int)proc->pid,
                    why);
    }
    for (size_t i = 0; i < proc->nfdq; i++)
        close(proc->fdq[i]);
    proc->nfdq = 0;
    proc->rlen = 0;
    pthread_mutex_lock(&p->lock);
    proc->dead = true;
    wf_job *lost = proc->inflight_head;
    proc->inflight_head = proc->inflight_tail = proc->send_head = NULL;
    proc->ninflight = 0;
    pthread_mutex_unlock(&p->lock);
    /* The job the worker said it started, if we have no reply for it, is
     * the one that was running; the others go back without blame. */
    uint64_t started = atomic_load(&proc->page->started);
    while (lost) {
        wf_job *next = lost->next;
        lost->next = NULL;
        p->cb.lost(p->ctx, lost, lost->seq == started, why);
        lost = next;
    }
    pthread_mutex_lock(&p->lock);
    bool stop = p->stop, stopping = proc->stopping;
    pthread_mutex_unlock(&p->lock);
    if (stop)
        return;
    bool restart = !proc->actor ||
                   (!stopping && p->cb.actor_died(p->ctx, proc->actor, why));
    pthread_mutex_lock(&p->lock);
    if (!restart) {
        /* Calls that came while we decided have nowhere to go. */
        proc->stopping = true;
        wf_job *q = proc->queue_head;
        proc->queue_head = proc->queue_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        for (wf_job *next; q; q = next) {
            next = q->next;
            p->cb.lost(p->ctx, q, false, why);
        }
        return;
    }
    if (wf_spawn_proc(p, proc) != 0) {
        /* No replacement: what waited for this process goes back to the
         * owner (who retries elsewhere or fails it with the reason). */
        WF_LOG_ERROR("event=worker_restart_failed detail=\"%s\"",
                     weft_last_error());
        proc->stopping = true;
        wf_job *q = proc->queue_head;
        proc->queue_head = proc->queue_tail = NULL;
        if (!proc->actor) {
            p->ntask--; /* the next submit starts a new one */
            bool alive = false;
            for (wf_proc *o = p->procs; o; o = o->next)
                alive |= !o->actor && !o->dead;
            if (!alive) { /* nobody will take the queue: hand it back */
                wf_job *tail = p->queue_tail;
                if (tail) {
                    tail->next = q;
                    q = p->queue_head;
                }
                p->queue_head = p->queue_tail = NULL;
            }
        }
        pthread_mutex_unlock(&p->lock);
        for (wf_job *next; q; q = next) {
            next = q->next;
            q->next = NULL;
            p->cb.lost(p->ctx, q, false, "no worker process could be started");
        }
        return;
    }
    if (proc->ctor) {
        /* The constructor goes first; proc keeps the original. */
        wf_job *copy = wf_job_clone(proc->ctor);
        if (copy) {
            copy->owner = NULL;
            wf_inflight_push(proc, copy);
        } else {
            proc->stopping = true;
            kill(proc->pid, SIGKILL);
        }
    }
    /* Calls made while the process was down follow the constructor. */
    while (proc->queue_head) {
        wf_job *j = proc->queue_head;
        proc->queue_head = j->next;
        wf_inflight_push(proc, j);
    }
    proc->queue_tail = NULL;
    pthread_mutex_unlock(&p->lock);
}

static void *wf_io_main(void *arg)
{
    wf_procs *p = arg;
    struct epoll_event evs[64];
    for (;;) {
        uint64_t seen = atomic_load(&p->kicks);
        pthread_mutex_lock(&p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        wf_dispatch(p);
        for (wf_proc *q = p->procs; q; q = q->next)
            if (!q->dead && q->send_head)
                wf_flush(p, q);
        pthread_mutex_unlock(&p->lock);
        /* Submitters write the eventfd only while we sleep (io_idle), so a
         * busy stream of jobs costs no syscall each; a submit that came
         * after the dispatch above but before io_idle was set is seen by
         * the kicks check instead. */
        atomic_store(&p->io_idle, true);
        int timeout = atomic_load(&p->kicks) != seen ? 0 : -1;
        int n = epoll_wait(p->epfd, evs, 64, timeout);
        atomic_store(&p->io_idle, false);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(p->evfd, &v, sizeof v);
                (void)r;
                continue;
            }
            wf_proc *proc = evs[i].data.ptr;
            if (proc->dead)
                continue;
            bool alive = true, broken = false;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                alive = wf_read_some(proc);
                wf_handle_frames(p, proc, &broken);
            }
            if (broken) {
                kill(proc->pid, SIGKILL);
                alive = false;
            }
            if (!alive) {
                wf_proc_died(p, proc);
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                pthread_mutex_lock(&p->lock);
                wf_flush(p, proc);
                pthread_mutex_unlock(&p->lock);
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------ public */

wf_procs *wf_procs_new(int nprocs, const char *host_library,
                       const wf_procs_cb *cb, void *ctx)
{
    return wf_procs_new_exe(nprocs, NULL, host_library, cb, ctx);
}

wf_procs *wf_procs_new_exe(int nprocs, const char *exe,
                           const char *host_library, const wf_procs_cb *cb,
                           void *ctx)
{
    wf_procs *p = wf_calloc(1, sizeof *p);
    if (p)
        p->depth = WF_PROC_INFLIGHT;
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->want_ntask = nprocs;
    p->cb = *cb;
    p->ctx = ctx;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->host = host_library != NULL;
    if (exe && !host_library) {
        /* A program shipped by a driver: argv is its own path. */
        p->exe = wf_strdup(exe);
        p->argv = wf_calloc(2, sizeof *p->argv);
        if (p->argv)
            p->argv[0] = wf_strdup(exe);
        if (!p->exe || !p->argv || !p->argv[0])
            goto fail;
    } else {
        p->argv = p->host ? wf_host_argv(host_library) : wf_self_argv();
    }
    if (p->epfd < 0 || p->evfd < 0 || !p->argv)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev);
    return p;
fail:
    wf_procs_free(p);
    return NULL;
}

/* Start the I/O thread and the task processes on first use (lock held). */
static weft_err wf_procs_start(wf_procs *p, bool tasks)
{
    if (!p->io_started) {
        if (pthread_create(&p->io, NULL, wf_io_main, p) != 0)
            return wf_err(WEFT_ESYS, "cannot start the worker I/O thread");
        p->io_started = true;
    }
    while (tasks && p->ntask < p->want_ntask) {
        wf_proc *proc = wf_proc_new(p, NULL);
        if (!proc)
            return wf_err(WEFT_ENOMEM, "starting workers: out of memory");
        weft_err e = wf_spawn_proc(p, proc);
        if (e) {
            proc->dead = true;
            return e;
        }
        p->ntask++;
    }
    return 0;
}

weft_err wf_procs_submit(wf_procs *p, wf_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    weft_err e = wf_procs_start(p, true);
    bool sent = false;
    if (!e) {
        /* A lone job while the I/O thread sleeps goes out from here: one
         * thread wake-up less on the way to the worker. In a stream the
         * I/O thread is awake and batches (first branch not taken). */
        bool lone = !p->queue_head && atomic_load(&p->io_idle);
        for (wf_proc *q = p->procs; q && lone; q = q->next)
            lone = q->actor || q->dead || q->ninflight == 0;
        if (p->queue_tail)
            p->queue_tail->next = job;
        else
            p->queue_head = job;
        p->queue_tail = job;
        if (lone) {
            wf_dispatch(p);
            sent = !p->queue_head;
            for (wf_proc *q = p->procs; q && sent; q = q->next)
                if (!q->dead && q->send_head) {
                    wf_flush(p, q); /* what the socket refuses: EPOLLOUT */
                    sent = !q->send_head;
                }
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (!e && !sent)
        wf_wake_io(p);
    return e;
}

weft_err wf_procs_actor_start(wf_procs *p, void *actor, wf_job *ctor,
                              wf_proc **out)
{
    pthread_mutex_lock(&p->lock);
    weft_err e = wf_procs_start(p, false);
    wf_proc *proc = e ? NULL : wf_proc_new(p, actor);
    if (!e && !proc)
        e = wf_err(WEFT_ENOMEM, "starting an actor process: out of memory");
    if (!e && (e = wf_spawn_proc(p, proc)))
        proc->dead = true;
    if (!e) {
        /* Keep the constructor for restarts; send a copy now. */
        wf_job *first = wf_job_clone(ctor);
        if (first) {
            proc->ctor = ctor;
            ctor->owner = NULL;
            wf_inflight_push(proc, first);
        } else {
            proc->stopping = true;
            kill(proc->pid, SIGKILL);
            e = wf_err(WEFT_ENOMEM, "starting an actor: out of memory");
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (!e) {
        *out = proc;
        wf_wake_io(p);
    }
    return e;
}

void wf_procs_actor_submit(wf_procs *p, wf_proc *proc, wf_job *job)
{
    pthread_mutex_lock(&p->lock);
    bool dead = proc->dead && proc->stopping;
    if (proc->dead && !proc->stopping) {
        /* Down, perhaps about to restart: wait for the decision. */
        job->next = NULL;
        if (proc->queue_tail)
            proc->queue_tail->next = job;
        else
            proc->queue_head = job;
        proc->queue_tail = job;
    } else if (!dead) {
        wf_inflight_push(proc, job);
    }
    pthread_mutex_unlock(&p->lock);
    if (dead)
        p->cb.lost(p->ctx, job, false, "the actor's process is gone");
    else
        wf_wake_io(p);
}

void wf_procs_actor_stop(wf_procs *p, wf_proc *proc)
{
    pthread_mutex_lock(&p->lock);
    proc->stopping = true;
    if (!proc->dead)
        kill(proc->pid, SIGKILL); /* the I/O thread reaps it */
    pthread_mutex_unlock(&p->lock);
}

uint64_t wf_procs_deaths(wf_procs *p)
{
    return p ? atomic_load(&p->deaths) : 0;
}

void wf_procs_set_depth(wf_procs *p, int depth)
{
    if (depth < 1)
        depth = 1;
    if (depth > WF_PROC_INFLIGHT)
        depth = WF_PROC_INFLIGHT;
    pthread_mutex_lock(&p->lock);
    bool more = depth > p->depth;
    p->depth = depth;
    pthread_mutex_unlock(&p->lock);
    if (more)
        wf_wake_io(p);
}

size_t wf_procs_take_queued(wf_procs *p, size_t max, wf_job **out)
{
    pthread_mutex_lock(&p->lock);
    size_t n = 0;
    for (wf_job *j = p->queue_head; j; j = j->next)
        n++;
    size_t skip = n > max ? n - max : 0;
    wf_job **at = &p->queue_head, *last = NULL;
    for (size_t i = 0; i < skip; i++) {
        last = *at;
        at = &(*at)->next;
    }
    *out = *at;
    *at = NULL;
    p->queue_tail = last;
    pthread_mutex_unlock(&p->lock);
    return n - skip;
}

void wf_procs_pace(wf_procs *p, uint64_t *done, uint64_t *busy_ns)
{
    *done = *busy_ns = 0;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    for (wf_proc *q = p->procs; q; q = q->next) {
        if (q->actor || !q->page)
            continue;
        q->total_done = q->base_done + atomic_load(&q->page->done);
        q->total_busy = q->base_busy + atomic_load(&q->page->busy_ns);
        *done += q->total_done;
        *busy_ns += q->total_busy;
    }
    pthread_mutex_unlock(&p->lock);
}

int wf_procs_count(wf_procs *p)
{
    int n = 0;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->lock);
    for (wf_proc *q = p->procs; q; q = q->next)
        n += !q->dead;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void wf_procs_free(wf_procs *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    if (p->io_started) {
        wf_wake_io(p);
        pthread_join(p->io, NULL);
    }
    for (wf_proc *q = p->procs, *next; q; q = next) {
        next = q->next;
        if (!q->dead) {
            q->stopping = true;
            kill(q->pid, SIGKILL);
            wf_proc_died(p, q);
        }
        for (size_t i = 0; i < q->nfdq; i++)
            close(q->fdq[i]);
        wf_free(q->fdq);
        wf_free(q->rbuf);
        if (q->page)
            munmap(q->page, 4096);
        if (q->page_fd >= 0)
            close(q->page_fd);
        wf_job_free(q->ctor);
        wf_free(q);
    }
    while (p->queue_head) {
        wf_job *j = p->queue_head;
        p->queue_head = j->next;
        p->cb.lost(p->ctx, j, false, "the runtime is shutting down");
    }
    if (p->argv) {
        /* host argv owns each string; this program's argv is one buffer
         * that starts at argv[0]. */
        for (int i = 0; p->host ? p->argv[i] != NULL : i < 1; i++)
            wf_free(p->argv[i]);
        wf_free(p->argv);
    }
    wf_free(p->exe);
    if (p->epfd >= 0)
        close(p->epfd);
    if (p->evfd >= 0)
        close(p->evfd);
    pthread_mutex_destroy(&p->lock);
    wf_free(p);
}
