#include "cluster/noded.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "cluster/objtab.h"
#include "cluster/proto.h"
#include "exec/procs.h"
#include "net/conn.h"
#include "wire/msg.h"

typedef enum wf_nsess_state {
    WF_NSESS_HELLO,     /* waiting for DRIVER_HELLO */
    WF_NSESS_RECEIVING, /* EXE_WANT sent, chunks arriving */
    WF_NSESS_READY,     /* workers set up, RUN frames flow */
} wf_nsess_state;

/* A driver's actor living here, in a process of its own. */
typedef struct wf_nactor {
    struct wf_nsess *s;
    uint64_t id; /* the driver's */
    wf_proc *proc;
    struct wf_nactor *next;
} wf_nactor;

#define WF_NODE_QUEUE_NS 2e6 /* work handed to one worker ahead (see pace) */

/* One driver connected to this node. */
typedef struct wf_nsess {
    wf_noded *d;
    wf_net_conn *conn;
    struct wf_nsess *prev, *next;
    wf_nsess_state state;
    wf_prog_kind kind;
    uint8_t hash[WF_PROG_HASH];
    uint64_t size, got;
    int fd; /* the program being received, or -1 */
    EVP_MD_CTX *md;
    char tmp[PATH_MAX], path[PATH_MAX];
    char name[WF_PROG_NAME_MAX + 1];
    uint32_t pid;
    wf_procs *procs;
    wf_wire_value *args;           /* scratch for checking RUN frames */
    uint32_t inflight;             /* RUN frames not answered (loop thread) */
    uint64_t pace_done, pace_busy; /* the workers' counts at the last PACE */
    wf_nactor *actors;             /* loop thread; freed with the session */
    wf_nactor *dead_actors;        /* stopped, kept until the session ends */
    struct wf_npend *pends; /* RUNs waiting for their arguments, in order */

    /* Completions from the worker I/O thread, sent by the loop. */
    uv_async_t async;
    bool async_init;
    pthread_mutex_t lock;
    wf_wbuf out;    /* whole DONE frames */
    uint32_t ndone; /* frames in out */
    bool closing;   /* no more completions wanted */
} wf_nsess;

struct wf_noded {
    uv_loop_t *loop;
    wf_net_server *srv;
    char *cache_dir;
    int nprocs;
    int port;
    wf_nsess *sessions;
    uint32_t nsessions;
    uint32_t ndrivers; /* sessions past READY (not peers pulling objects) */
    _Atomic uint32_t load;
    bool stopping;
    wf_objtab *objs;
    uv_timer_t pace; /* reports each driver's pace (PACE) */
};

static _Atomic uint64_t wf_noded_tmp_seq;

/* ------------------------------------------------------------ sessions */

struct wf_npend;
static struct wf_npend *wf_npend_next(struct wf_npend *p);
static void wf_npend_free(struct wf_npend *p);

static void wf_nsess_async_closed(uv_handle_t *h)
{
    wf_nsess *s = h->data;
    pthread_mutex_destroy(&s->lock);
    wf_free(s);
}

/* The driver's connection is gone: stop its workers (cancelling what
 * they run) and forget it. */
static void wf_nsess_end(wf_nsess *s)
{
    wf_noded *d = s->d;
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    pthread_mutex_unlock(&s->lock);
    if (s->procs)
        wf_procs_free(s->procs); /* joins the I/O thread: no more callbacks */
    s->procs = NULL;
    wf_objtab_drop_owner(d->objs, s); /* and waiters for them, silently */
    while (s->pends) {
        struct wf_npend *p = s->pends;
        s->pends = wf_npend_next(p);
        wf_npend_free(p);
    }
    atomic_fetch_sub(&d->load, s->inflight);
    if (s->fd >= 0) {
        close(s->fd);
        unlink(s->tmp);
    }
    EVP_MD_CTX_free(s->md);
    while (s->actors) {
        wf_nactor *a = s->actors;
        s->actors = a->next;
        wf_free(a);
    }
    while (s->dead_actors) {
        wf_nactor *a = s->dead_actors;
        s->dead_actors = a->next;
        wf_free(a);
    }
    wf_wbuf_free(&s->out);
    wf_free(s->args);
    if (s->prev)
        s->prev->next = s->next;
    else
        d->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    d->nsessions--;
    if (s->state == WF_NSESS_READY)
        d->ndrivers--;
    WF_LOG_INFO("noded: driver left name=%s pid=%u cancelled=%u", s->name,
                s->pid, s->inflight);
    if (s->async_init) {
        uv_close((uv_handle_t *)&s->async, wf_nsess_async_closed);
    } else {
        pthread_mutex_destroy(&s->lock);
        wf_free(s);
    }
}

/* Send the completions the worker I/O thread queued. */
static void wf_nsess_flush(uv_async_t *a)
{
    wf_nsess *s = a->data;
    pthread_mutex_lock(&s->lock);
    wf_wbuf out = s->out;
    uint32_t n = s->ndone;
    wf_wbuf_init(&s->out);
    s->ndone = 0;
    pthread_mutex_unlock(&s->lock);
    s->inflight -= n;
    atomic_fetch_sub(&s->d->load, n);
    if (!s->conn) {
        wf_wbuf_free(&out);
        return;
    }
    weft_err e = wf_net_send_frames(s->conn, &out);
    if (e) {
        WF_LOG_WARN("noded: driver %s: %s", wf_net_conn_peer(s->conn),
                    weft_last_error());
        wf_net_conn_close(s->conn);
    }
}

/* Queue a whole frame for the driver (any thread). */
static void wf_nsess_post(wf_nsess *s, wf_wbuf *frame)
{
    pthread_mutex_lock(&s->lock);
    if (!s->closing) {
        wf_wbuf_put_bytes(&s->out, frame->data, frame->len);
        s->ndone++;
    }
    pthread_mutex_unlock(&s->lock);
    uv_async_send(&s->async);
}

/* A DONE frame with an error status for the driver's seq. */
static void wf_nsess_fail(wf_nsess *s, uint64_t seq, weft_err code,
                          const char *msg)
{
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_msg_done m = {
        .status = code, .message = msg, .message_len = strlen(msg)};
    if (wf_msg_put_done(&w, seq, &m, NULL, NULL) == 0)
        wf_nsess_post(s, &w);
    wf_wbuf_free(&w);
}

/* Re-encode a worker's DONE whose values sit in fds with every value
 * inline, for the network. Returns how many fds it used. */
static size_t wf_nsess_inline(wf_nsess *s, uint64_t seq, const wf_frame *f,
                              const int *fds, size_t nfds, wf_wbuf *w)
{
    wf_msg_done m;
    wf_wire_value *vals = wf_alloc(WF_RUN_MAX_RETURNS * sizeof *vals);
    weft_value *out = wf_alloc(WF_RUN_MAX_RETURNS * sizeof *out);
    void *maps[WF_RUN_MAX_RETURNS];
    size_t lens[WF_RUN_MAX_RETURNS], nmaps = 0, used = 0;
    char why[256] = "";
    weft_err e = !vals || !out
                     ? wf_err(WEFT_ENOMEM, "out of memory")
                     : wf_msg_get_done(f, &m, vals, WF_RUN_MAX_RETURNS);
    wf_wire_place place[WF_RUN_MAX_RETURNS];
    memset(place, 0, sizeof place);
    for (uint32_t i = 0; !e && m.status == 0 && i < m.nvalues; i++) {
        if (vals[i].in_fd) {
            if (vals[i].fd_index >= nfds) {
                e = wf_err(WEFT_EPROTO, "result names fd %u, %zu received",
                           vals[i].fd_index, nfds);
                break;
            }
            if (vals[i].fd_index + 1 > used)
                used = vals[i].fd_index + 1;
            uint64_t id =
                vals[i].fd_len >= WF_KEEP_MIN
                    ? wf_objtab_keep(s->d->objs, s, fds[vals[i].fd_index],
                                     vals[i].fd_offset, vals[i].fd_len)
                    : 0;
            if (id) {
                /* Large: it stays here; the driver gets where it is. */
                place[i] = (wf_wire_place){
                    .remote = true, .remote_id = id, .holder = ""};
                out[i] = vals[i].v;
                continue;
            }
            size_t len = (size_t)(vals[i].fd_offset + vals[i].fd_len);
            void *p = mmap(NULL, len ? len : 1, PROT_READ, MAP_SHARED,
                           fds[vals[i].fd_index], 0);
            if (p == MAP_FAILED) {
                e = wf_err(WEFT_ESYS, "cannot map a result: %s",
                           strerror(errno));
                break;
            }
            maps[nmaps] = p;
            lens[nmaps++] = len ? len : 1;
            e = wf_wire_value_bind(&vals[i], p, len);
        }
        out[i] = vals[i].v;
    }
    if (!e && m.status == 0)
        e = wf_msg_put_done(w, seq, &m, out, place);
    else if (!e)
        e = wf_msg_put_done(w, seq, &m, NULL, NULL);
    if (e) {
        snprintf(why, sizeof why, "node cannot send the result: %s",
                 weft_last_error());
        wf_wbuf_reset(w);
        wf_msg_done fm = {
            .status = e, .message = why, .message_len = strlen(why)};
        wf_msg_put_done(w, seq, &fm, NULL, NULL);
    }
    for (size_t i = 0; i < nmaps; i++)
        munmap(maps[i], lens[i]);
    wf_free(vals);
    wf_free(out);
    return used;
}

static size_t wf_nsess_on_done(void *ctx, wf_job *job, const wf_frame *f,
                               const int *fds, size_t nfds)
{
    wf_nsess *s = ctx;
    uint64_t seq = (uint64_t)(uintptr_t)job->owner;
    wf_job_free(job);
    wf_wbuf w;
    wf_wbuf_init(&w);
    size_t used = 0;
    if (nfds == 0) {
        size_t start = wf_frame_begin(&w, WF_MSG_DONE, seq);
        wf_wbuf_put_bytes(&w, f->body, f->body_len);
        wf_frame_finish(&w, start);
    } else {
        used = wf_nsess_inline(s, seq, f, fds, nfds, &w);
    }
    if (wf_wbuf_status(&w) == 0 && w.len)
        wf_nsess_post(s, &w);
    else
        wf_nsess_fail(s, seq, WEFT_ENOMEM, "node out of memory for a result");
    wf_wbuf_free(&w);
    return used;
}

static void wf_nsess_on_lost(void *ctx, wf_job *job, bool running,
                             const char *why)
{
    wf_nsess *s = ctx;
    uint64_t seq = (uint64_t)(uintptr_t)job->owner;
    pthread_mutex_lock(&s->lock);
    bool closing = s->closing;
    pthread_mutex_unlock(&s->lock);
    if (closing) {
        wf_job_free(job);
        return;
    }
    if (!running && !job->actor && wf_procs_submit(s->procs, job) == 0)
        return; /* it never started: send it to another process here */
    wf_job_free(job);
    char msg[512];
    snprintf(msg, sizeof msg, "worker process died: %s", why);
    wf_nsess_fail(s, seq, WEFT_ECRASHED, msg);
}

/* An actor's process died: tell the driver, which decides whether and
 * where to start it again. (Worker I/O thread.) */
static bool wf_nsess_on_actor_died(void *ctx, void *actor, const char *why)
{
    wf_nsess *s = ctx;
    wf_nactor *a = actor;
    wf_wbuf w;
    wf_wbuf_init(&w);
    size_t start = wf_frame_begin(&w, WF_MSG_ACTOR_DIED, 0);
    wf_msg_actor_died m = {a->id, why, strlen(why)};
    wf_proto_put_actor_died(&w, &m);
    if (wf_frame_finish(&w, start) == 0) {
        pthread_mutex_lock(&s->lock);
        if (!s->closing)
            wf_wbuf_put_bytes(&s->out, w.data, w.len);
        pthread_mutex_unlock(&s->lock);
        uv_async_send(&s->async);
    }
    wf_wbuf_free(&w);
    return false;
}

static wf_nactor *wf_nsess_actor(wf_nsess *s, uint64_t id)
{
    for (wf_nactor *a = s->actors; a; a = a->next)
        if (a->id == id)
            return a;
    return NULL;
}

/* Stop and forget actor id, if it lives here. */
static void wf_nsess_actor_kill(wf_nsess *s, uint64_t id)
{
    for (wf_nactor **p = &s->actors; *p; p = &(*p)->next) {
        wf_nactor *a = *p;
        if (a->id != id)
            continue;
        *p = a->next;
        if (a->proc)
            wf_procs_actor_stop(s->procs, a->proc);
        /* The record stays valid for callbacks still under way: it is
         * freed with the session. */
        a->next = s->dead_actors;
        s->dead_actors = a;
        return;
    }
}

/* Send READY (status 0: workers are set up) and move on. */
static weft_err wf_nsess_ready(wf_nsess *s)
{
    static const wf_procs_cb cb = {wf_nsess_on_done, wf_nsess_on_lost,
                                   wf_nsess_on_actor_died};
    s->args = wf_alloc(WF_RUN_MAX_ARGS * sizeof *s->args);
    if (!s->args)
        return wf_err(WEFT_ENOMEM, "noded: out of memory");
    int r = uv_async_init(s->d->loop, &s->async, wf_nsess_flush);
    if (r < 0)
        return wf_err(WEFT_ESYS, "noded: uv_async_init: %s", uv_strerror(r));
    s->async.data = s;
    s->async_init = true;
    s->procs =
        wf_procs_new_exe(s->d->nprocs, s->kind == WF_PROG_EXE ? s->path : NULL,
                         s->kind == WF_PROG_LIB ? s->path : NULL, &cb, s);
    if (s->procs) /* one task per worker until their pace is known */
        wf_procs_set_depth(s->procs, 1);
    wf_wbuf w;
    wf_wbuf_init(&w);
    char msg[PATH_MAX + 64] = "";
    wf_msg_ready m = {.slots = (uint32_t)s->d->nprocs};
    if (!s->procs) {
        snprintf(msg, sizeof msg, "node cannot set up worker processes");
        m.status = WEFT_ESYS;
        m.slots = 0;
    }
    m.message = msg;
    m.message_len = strlen(msg);
    wf_proto_put_ready(&w, &m);
    weft_err e = wf_wbuf_status(&w);
    if (!e)
        e = wf_net_send(s->conn, WF_MSG_READY, 0, w.data, w.len);
    wf_wbuf_free(&w);
    if (!e && !s->procs)
        e = wf_err(WEFT_ESYS, "noded: %s", msg);
    if (!e) {
        s->state = WF_NSESS_READY;
        s->d->ndrivers++;
        WF_LOG_INFO("noded: driver ready name=%s pid=%u peer=%s workers=%d",
                    s->name, s->pid, wf_net_conn_peer(s->conn), s->d->nprocs);
    }
    return e;
}

static void wf_noded_trim_cache(wf_noded *d);

static weft_err wf_nsess_hello(wf_nsess *s, const wf_frame *f)
{
    wf_msg_driver_hello h;
    weft_err e = wf_proto_get_driver_hello(f->body, f->body_len, &h);
    if (e)
        return e;
    s->kind = h.kind;
    memcpy(s->hash, h.hash, sizeof s->hash);
    s->size = h.size;
    s->pid = h.pid;
    memcpy(s->name, h.name, h.name_len);
    s->name[h.name_len] = '\0';
    char hex[65];
    wf_proto_hash_hex(h.hash, hex);
    const char *dir = s->d->cache_dir;
    const char *ext = h.kind == WF_PROG_LIB ? ".so" : "";
    if ((size_t)snprintf(s->path, sizeof s->path, "%s/%s%s", dir, hex, ext) >=
        sizeof s->path)
        return wf_err(WEFT_EINVAL, "noded: cache path too long");
    struct stat st;
    if (stat(s->path, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size == h.size) {
        WF_LOG_INFO("noded: program %s from cache for %s", hex, s->name);
        utimensat(AT_FDCWD, s->path, NULL, 0); /* used now: kept longest */
        wf_noded_trim_cache(s->d);
        return wf_nsess_ready(s);
    }
    unsigned long long n = atomic_fetch_add(&wf_noded_tmp_seq, 1);
    if ((size_t)snprintf(s->tmp, sizeof s->tmp, "%s/.%s.%ld.%llu.tmp", dir, hex,
                         (long)getpid(), n) >= sizeof s->tmp)
        return wf_err(WEFT_EINVAL, "noded: cache path too long");
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (s->fd < 0)
        return wf_err(WEFT_ESYS, "noded: cannot create %s: %s", s->tmp,
                      strerror(errno));
    s->md = EVP_MD_CTX_new();
    if (!s->md || !EVP_DigestInit_ex(s->md, EVP_sha256(), NULL))
        return wf_err(WEFT_ENOMEM, "noded: cannot start sha256");
    s->state = WF_NSESS_RECEIVING;
    WF_LOG_INFO("noded: fetching program %s (%llu bytes) from %s", hex,
                (unsigned long long)h.size, s->name);
    return wf_net_send(s->conn, WF_MSG_EXE_WANT, 0, NULL, 0);
}

/* Keep the cache to the WF_NODE_CACHE_KEEP programs used last (a hit
 * touches its file): older ones go unless a connected driver runs them,
 * and so do partial downloads over an hour old. Errors only logged. */
#define WF_NODE_CACHE_KEEP 16
typedef struct wf_cache_ent {
    char name[80];
    struct timespec used;
} wf_cache_ent;

static int wf_cache_newer(const void *a, const void *b)
{
    const struct timespec *x = &((const wf_cache_ent *)a)->used,
                          *y = &((const wf_cache_ent *)b)->used;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec > y->tv_sec ? -1 : 1;
    return x->tv_nsec > y->tv_nsec ? -1 : x->tv_nsec < y->tv_nsec;
}

static void wf_noded_trim_cache(wf_noded *d)
{
    DIR *dir = opendir(d->cache_dir);
    if (!dir)
        return;
    wf_cache_ent *ents = NULL;
    size_t n = 0, cap = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(dir))) {
        char path[PATH_MAX];
        size_t len = strlen(de->d_name);
        struct stat st;
        if (len >= sizeof ents->name ||
            (size_t)snprintf(path, sizeof path, "%s/%s", d->cache_dir,
                             de->d_name) >= sizeof path ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (de->d_name[0] == '.') { /* a download: gone after an hour */
            if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0 &&
                now - st.st_mtime > 3600 && unlink(path) == 0)
                WF_LOG_INFO("noded: removed stale download %s", path);
            continue;
        }
        if (len != 64 && !(len == 67 && strcmp(de->d_name + 64, ".so") == 0))
            continue; /* not ours */
        if (n == cap) {
            size_t c = cap ? cap * 2 : 32;
            wf_cache_ent *m = wf_realloc(ents, c * sizeof *m);
            if (!m)
                break;
            ents = m;
            cap = c;
        }
        memcpy(ents[n].name, de->d_name, len + 1);
        ents[n++].used = st.st_mtim;
    }
    closedir(dir);
    if (n > WF_NODE_CACHE_KEEP)
        qsort(ents, n, sizeof *ents, wf_cache_newer);
    for (size_t i = WF_NODE_CACHE_KEEP; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", d->cache_dir, ents[i].name);
        bool in_use = false;
        for (wf_nsess *s = d->sessions; s && !in_use; s = s->next)
            in_use = strcmp(s->path, path) == 0;
        if (!in_use && unlink(path) == 0)
            WF_LOG_INFO("noded: removed cached program %s (least recently "
                        "used of %zu)",
                        ents[i].name, n);
    }
    wf_free(ents);
}

static weft_err wf_nsess_chunk(wf_nsess *s, const wf_frame *f)
{
    wf_msg_exe_chunk c;
    weft_err e = wf_proto_get_exe_chunk(f->body, f->body_len, &c);
    if (e)
        return e;
    if (c.offset != s->got || c.len > s->size - s->got)
        return wf_err(WEFT_EPROTO,
                      "noded: program chunk at %llu+%zu, expected offset %llu "
                      "of %llu",
                      (unsigned long long)c.offset, c.len,
                      (unsigned long long)s->got, (unsigned long long)s->size);
    for (size_t off = 0; off < c.len;) {
        ssize_t k = write(s->fd, c.data + off, c.len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return wf_err(WEFT_ESYS, "noded: writing %s: %s", s->tmp,
                          strerror(errno));
        off += (size_t)k;
    }
    EVP_DigestUpdate(s->md, c.data, c.len);
    s->got += c.len;
    if (s->got < s->size)
        return 0;
    uint8_t hash[WF_PROG_HASH];
    unsigned int hl = 0;
    EVP_DigestFinal_ex(s->md, hash, &hl);
    int rc = close(s->fd);
    s->fd = -1;
    if (rc != 0) {
        unlink(s->tmp);
        return wf_err(WEFT_ESYS, "noded: writing %s: %s", s->tmp,
                      strerror(errno));
    }
    if (hl != WF_PROG_HASH || memcmp(hash, s->hash, sizeof hash) != 0) {
        unlink(s->tmp);
        return wf_err(WEFT_EPROTO,
                      "noded: program from %s does not match "
                      "its hash",
                      s->name);
    }
    if (rename(s->tmp, s->path) != 0) {
        int err = errno;
        unlink(s->tmp);
        return wf_err(WEFT_ESYS, "noded: caching %s: %s", s->path,
                      strerror(err));
    }
    wf_noded_trim_cache(s->d);
    return wf_nsess_ready(s);
}

/* Hand a RUN (job: the frame for the worker, owner = the driver's seq) of
 * kind for actor_id to a worker process. */
static void wf_nsess_submit(wf_nsess *s, wf_run_kind kind, uint64_t actor_id,
                            wf_job *job)
{
    uint64_t seq = (uint64_t)(uintptr_t)job->owner;
    weft_err e;
    if (kind == WF_RUN_ACTOR_NEW) {
        /* A new actor, or one started again: replaces what had its id. */
        wf_nsess_actor_kill(s, actor_id);
        wf_nactor *a = wf_calloc(1, sizeof *a);
        if (!a) {
            wf_job_free(job);
            wf_nsess_fail(s, seq, WEFT_ENOMEM, "node out of memory");
            return;
        }
        a->s = s;
        a->id = actor_id;
        job->actor = a;
        e = wf_procs_actor_start(s->procs, a, job, &a->proc);
        if (!e) {
            a->next = s->actors;
            s->actors = a;
            return;
        }
        wf_free(a);
    } else if (kind == WF_RUN_ACTOR_CALL) {
        wf_nactor *a = wf_nsess_actor(s, actor_id);
        if (!a) {
            wf_job_free(job);
            wf_nsess_fail(s, seq, WEFT_ECRASHED,
                          "the actor is not running on this node");
            return;
        }
        job->actor = a;
        wf_procs_actor_submit(s->procs, a->proc, job);
        return;
    } else {
        e = wf_procs_submit(s->procs, job);
    }
    if (e) {
        /* Answered like a crash, so the driver may place it elsewhere. */
        wf_job_free(job);
        char msg[512];
        snprintf(msg, sizeof msg, "node cannot start workers: %s",
                 weft_last_error());
        wf_nsess_fail(s, seq, WEFT_ECRASHED, msg);
    }
}

/* A RUN whose remote arguments are being fetched (or an actor's RUN queued
 * behind one, to keep its calls in order). */
typedef struct wf_npend wf_npend;
typedef struct wf_npend_arg {
    wf_npend *p;
    uint32_t index;
} wf_npend_arg;
struct wf_npend {
    wf_nsess *s;
    uint8_t *frame; /* the driver's whole RUN frame */
    size_t len;
    uint64_t seq;
    wf_run_kind kind;
    uint64_t actor_id;
    uint32_t nargs, waiting;
    bool failed;
    char why[300];
    wf_nobj **objs;      /* per argument: pinned, or NULL */
    wf_npend_arg *cargs; /* callback arguments, per argument */
    struct wf_npend *next;
};

static wf_npend *wf_npend_next(wf_npend *p)
{
    return p->next;
}

static void wf_npend_free(wf_npend *p)
{
    for (uint32_t i = 0; i < p->nargs; i++)
        if (p->objs[i])
            wf_objtab_unpin(p->s->d->objs, p->objs[i]);
    wf_free(p->objs);
    wf_free(p->cargs);
    wf_free(p->frame);
    wf_free(p);
}

/* Turn a pend whose objects are all here into a job for a worker: remote
 * arguments become fds of their memfds (no copy). */
static wf_job *wf_npend_job(wf_nsess *s, wf_npend *p)
{
    wf_frame f;
    wf_msg_run m;
    weft_value *vals = wf_alloc((p->nargs + 1) * sizeof *vals);
    wf_wire_place *place = wf_calloc(p->nargs + 1, sizeof *place);
    wf_job *job = wf_calloc(1, sizeof *job);
    if (job && p->nargs)
        job->fds = wf_calloc(p->nargs, sizeof(int));
    if (!vals || !place || !job || (p->nargs && !job->fds) ||
        wf_frame_parse(p->frame, p->len, &f) != 0 ||
        wf_msg_get_run(&f, &m, s->args, WF_RUN_MAX_ARGS) != 0)
        goto fail;
    for (uint32_t i = 0; i < m.nargs; i++) {
        vals[i] = s->args[i].v;
        if (!p->objs[i])
            continue;
        uint64_t off, len;
        int fd = fcntl(wf_nobj_fd(p->objs[i], &off, &len), F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            goto fail;
        place[i].in_fd = true;
        place[i].fd_index = (uint32_t)job->nfds;
        place[i].offset = off;
        job->fds[job->nfds++] = fd;
    }
    wf_wbuf w;
    wf_wbuf_init(&w);
    if (wf_msg_put_run(&w, 0, &m, vals, place) != 0) {
        wf_wbuf_free(&w);
        goto fail;
    }
    job->bytes = w.data;
    job->len = w.len;
    job->owner = (void *)(uintptr_t)p->seq;
    wf_free(vals);
    wf_free(place);
    return job;
fail:
    wf_free(vals);
    wf_free(place);
    wf_job_free(job);
    return NULL;
}

/* Send the pends that may go: any ready task, and actor RUNs from the
 * head of the queue while they are ready. */
static void wf_nsess_pends(wf_nsess *s)
{
    bool actor_blocked = false;
    for (wf_npend **q = &s->pends; *q;) {
        wf_npend *p = *q;
        bool is_actor = p->kind != WF_RUN_TASK;
        if (p->waiting || (is_actor && actor_blocked)) {
            actor_blocked |= is_actor;
            q = &p->next;
            continue;
        }
        *q = p->next;
        if (p->kind == WF_RUN_ACTOR_KILL) {
            wf_nsess_actor_kill(s, p->actor_id); /* no answer */
        } else if (p->failed) {
            wf_nsess_fail(s, p->seq, WEFT_ECRASHED, p->why);
        } else {
            wf_job *job = wf_npend_job(s, p);
            if (job)
                wf_nsess_submit(s, p->kind, p->actor_id, job);
            else
                wf_nsess_fail(s, p->seq, WEFT_ENOMEM,
                              "node cannot prepare the task's arguments");
        }
        wf_npend_free(p);
    }
}

static void wf_npend_arrived(void *arg, wf_nobj *o, const char *why)
{
    wf_npend_arg *a = arg;
    wf_npend *p = a->p;
    p->objs[a->index] = o;
    if (!o && !p->failed) {
        p->failed = true;
        snprintf(p->why, sizeof p->why, "argument %u: %s", a->index, why);
    }
    if (--p->waiting == 0)
        wf_nsess_pends(p->s);
}

/* Check a RUN from the driver and hand it to a worker process, once any
 * remote arguments are here. */
static weft_err wf_nsess_run(wf_nsess *s, const wf_frame *f)
{
    wf_msg_run m;
    weft_err e = wf_msg_get_run(f, &m, s->args, WF_RUN_MAX_ARGS);
    if (e)
        return e;
    if (m.kind != WF_RUN_TASK && m.actor_id == 0)
        return wf_err(WEFT_EPROTO, "noded: actor RUN without an actor id");
    uint32_t nremote = 0;
    for (uint32_t i = 0; i < m.nargs; i++) {
        if (s->args[i].in_fd)
            return wf_err(WEFT_EPROTO, "noded: RUN argument %u names an fd", i);
        nremote += s->args[i].remote;
    }
    if (f->seq == 0)
        return wf_err(WEFT_EPROTO, "noded: RUN with seq 0");
    /* Actor RUNs keep their order: behind one still waiting for its
     * arguments, the next ones wait too (a KILL included). */
    bool queued_actor = false;
    for (wf_npend *p = s->pends; p && !queued_actor; p = p->next)
        queued_actor = p->kind != WF_RUN_TASK;
    if (m.kind == WF_RUN_ACTOR_KILL && !queued_actor) {
        wf_nsess_actor_kill(s, m.actor_id);
        return 0;
    }
    if (m.kind != WF_RUN_ACTOR_KILL) {
        /* It gets exactly one DONE (which counts it back out). */
        s->inflight++;
        atomic_fetch_add(&s->d->load, 1);
    }
    if (nremote == 0 && !(m.kind != WF_RUN_TASK && queued_actor)) {
        wf_job *job = wf_calloc(1, sizeof *job);
        wf_wbuf w;
        wf_wbuf_init(&w);
        size_t start = wf_frame_begin(&w, WF_MSG_RUN, 0);
        wf_wbuf_put_bytes(&w, f->body, f->body_len);
        if (!job || wf_frame_finish(&w, start)) {
            wf_free(job);
            wf_wbuf_free(&w);
            return wf_err(WEFT_ENOMEM, "noded: out of memory for a task");
        }
        job->bytes = w.data;
        job->len = w.len;
        job->owner = (void *)(uintptr_t)f->seq;
        wf_nsess_submit(s, m.kind, m.actor_id, job);
        return 0;
    }
    /* Wait for the arguments held elsewhere (pulled once per node). */
    wf_npend *p = wf_calloc(1, sizeof *p);
    if (p) {
        p->s = s;
        p->seq = f->seq;
        p->kind = m.kind;
        p->actor_id = m.actor_id;
        p->nargs = m.nargs;
        p->len = f->size;
        p->frame = wf_alloc(f->size);
        p->objs = wf_calloc(m.nargs + 1, sizeof *p->objs);
        p->cargs = wf_calloc(m.nargs + 1, sizeof *p->cargs);
    }
    if (!p || !p->frame || !p->objs || !p->cargs) {
        if (p) {
            wf_free(p->frame);
            wf_free(p->objs);
            wf_free(p->cargs);
        }
        wf_free(p);
        return wf_err(WEFT_ENOMEM, "noded: out of memory for a task");
    }
    memcpy(p->frame, f->body - WF_FRAME_HDR, f->size);
    wf_npend **tail = &s->pends;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    p->waiting = nremote + 1; /* + 1: ours, until every request is made */
    for (uint32_t i = 0; i < m.nargs; i++) {
        const wf_wire_value *v = &s->args[i];
        if (!v->remote)
            continue;
        p->cargs[i] = (wf_npend_arg){p, i};
        wf_objtab_need(s->d->objs, s, v->remote_id, v->fd_len, v->holder,
                       v->holder_len, wf_npend_arrived, &p->cargs[i]);
    }
    if (--p->waiting == 0)
        wf_nsess_pends(s);
    return 0;
}

/* STEAL: give the driver back the tasks no worker has been handed, so it
 * can run them on a node with idle workers. Always answered (RETURNED with
 * none is "nothing to take"). */
static weft_err wf_nsess_steal(wf_nsess *s, const wf_frame *f)
{
    uint32_t max;
    weft_err e = wf_proto_get_steal(f->body, f->body_len, &max);
    if (e)
        return e;
    wf_job *list;
    size_t n = wf_procs_take_queued(s->procs, max, &list);
    uint64_t seqs[WF_STEAL_MAX];
    for (size_t i = 0; i < n; i++) {
        wf_job *j = list;
        list = j->next;
        seqs[i] = (uint64_t)(uintptr_t)j->owner;
        wf_job_free(j);
    }
    s->inflight -= (uint32_t)n;
    atomic_fetch_sub(&s->d->load, n);
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_proto_put_returned(&w, seqs, (uint32_t)n);
    e = wf_wbuf_status(&w);
    if (!e)
        e = wf_net_send(s->conn, WF_MSG_RETURNED, 0, w.data, w.len);
    wf_wbuf_free(&w);
    return e;
}

/* ------------------------------------------------------------ server */

static void wf_noded_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_noded *d = arg;
    wf_nsess *s = wf_net_conn_user(c);
    weft_err e;
    if (!s) {
        s = wf_calloc(1, sizeof *s);
        if (!s) {
            wf_err(WEFT_ENOMEM, "noded: out of memory for a driver");
            WF_LOG_WARN("noded: %s", weft_last_error());
            wf_net_conn_close(c);
            return;
        }
        s->d = d;
        s->conn = c;
        s->fd = -1;
        snprintf(s->name, sizeof s->name, "?");
        pthread_mutex_init(&s->lock, NULL);
        wf_wbuf_init(&s->out);
        s->next = d->sessions;
        if (d->sessions)
            d->sessions->prev = s;
        d->sessions = s;
        d->nsessions++;
        wf_net_conn_set_user(c, s);
    }
    if (f->type == WF_MSG_RUN && s->state == WF_NSESS_READY)
        e = wf_nsess_run(s, f);
    else if (f->type == WF_MSG_STEAL && s->state == WF_NSESS_READY)
        e = wf_nsess_steal(s, f);
    else if (f->type == WF_MSG_PULL)
        e = wf_objtab_serve(d->objs, c, f);
    else if (f->type == WF_MSG_FREE && s->state == WF_NSESS_READY)
        e = wf_objtab_free_msg(d->objs, s, f);
    else if (f->type == WF_MSG_DRIVER_HELLO && s->state == WF_NSESS_HELLO)
        e = wf_nsess_hello(s, f);
    else if (f->type == WF_MSG_EXE_CHUNK && s->state == WF_NSESS_RECEIVING)
        e = wf_nsess_chunk(s, f);
    else
        e = wf_err(WEFT_EPROTO, "noded: unexpected %s",
                   wf_msg_type_name(f->type));
    if (e) {
        WF_LOG_WARN("noded: closing driver %s (%s): %s", wf_net_conn_peer(c),
                    s->name, weft_last_error());
        if (s->state != WF_NSESS_READY) {
            /* Tell the driver why, when it is still setting up. */
            wf_wbuf w;
            wf_wbuf_init(&w);
            const char *why = weft_last_error();
            wf_msg_ready m = {
                .status = e, .message = why, .message_len = strlen(why)};
            wf_proto_put_ready(&w, &m);
            if (!wf_wbuf_status(&w))
                wf_net_send(c, WF_MSG_READY, 0, w.data, w.len);
            wf_wbuf_free(&w);
        }
        wf_net_conn_close(c);
    }
}

static void wf_noded_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    (void)why;
    wf_noded *d = arg;
    wf_objtab_conn_closed(d->objs, c);
    wf_nsess *s = wf_net_conn_user(c);
    if (!s)
        return;
    s->conn = NULL;
    wf_nsess_end(s);
}

/* Every WF_PACE_MS: tell each driver whose tasks finished how long they
 * took in its workers. */
static void wf_noded_pace(uv_timer_t *t)
{
    wf_noded *d = t->data;
    for (wf_nsess *s = d->sessions; s; s = s->next) {
        if (s->state != WF_NSESS_READY || !s->procs || !s->conn)
            continue;
        uint64_t done, busy;
        wf_procs_pace(s->procs, &done, &busy);
        if (done <= s->pace_done) {
            if (s->inflight == 0) /* idle: learn what comes next afresh */
                wf_procs_set_depth(s->procs, 1);
            continue;
        }
        uint64_t n = done - s->pace_done, b = busy - s->pace_busy;
        s->pace_done = done;
        s->pace_busy = busy;
        /* Hand a worker about WF_NODE_QUEUE_NS of work at a time: tiny
         * tasks stream, while a long one never has another queued behind
         * it in one worker as a neighbour frees up (or a STEAL asks). */
        double per = (double)b / (double)n;
        wf_procs_set_depth(s->procs, 1 + (int)(WF_NODE_QUEUE_NS / (per + 1)));
        wf_wbuf w;
        wf_wbuf_init(&w);
        size_t start = wf_frame_begin(&w, WF_MSG_PACE, 0);
        wf_proto_put_pace(&w, b / n ? b / n : 1,
                          n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
        wf_frame_finish(&w, start);
        if (wf_net_send_frames(s->conn, &w))
            wf_net_conn_close(s->conn);
    }
}

static void wf_noded_pace_closed(uv_handle_t *h)
{
    wf_noded *d = h->data;
    wf_free(d->cache_dir);
    wf_free(d);
}

static void wf_noded_stopped(void *arg)
{
    wf_noded *d = arg;
    wf_objtab_free(d->objs);
    uv_close((uv_handle_t *)&d->pace, wf_noded_pace_closed);
}

weft_err wf_noded_start(uv_loop_t *loop, const char *host, int port,
                        const wf_token *token, const wf_noded_opts *opts,
                        wf_noded **out)
{
    if (!loop || !opts || !opts->cache_dir || !out || opts->nprocs < 0 ||
        opts->nprocs > 1024)
        return wf_err(WEFT_EINVAL, "noded: bad options");
    wf_noded *d = wf_calloc(1, sizeof *d);
    if (!d || !(d->cache_dir = wf_strdup(opts->cache_dir))) {
        wf_free(d);
        return wf_err(WEFT_ENOMEM, "noded: out of memory");
    }
    d->loop = loop;
    d->nprocs = opts->nprocs ? opts->nprocs : wf_ncpus();
    if (!(d->objs = wf_objtab_new(loop, token))) {
        wf_free(d->cache_dir);
        wf_free(d);
        return wf_err(WEFT_ENOMEM, "noded: out of memory");
    }
    wf_net_opts no = {.on_frame = wf_noded_on_frame,
                      .on_close = wf_noded_on_close,
                      .on_stopped = wf_noded_stopped,
                      .arg = d};
    weft_err e = wf_net_server_start(loop, host, port, token, &no, &d->srv);
    if (e) {
        wf_objtab_free(d->objs);
        wf_free(d->cache_dir);
        wf_free(d);
        return e;
    }
    d->port = wf_net_server_port(d->srv);
    uv_timer_init(loop, &d->pace);
    d->pace.data = d;
    uv_timer_start(&d->pace, wf_noded_pace, WF_PACE_MS, WF_PACE_MS);
    uv_unref((uv_handle_t *)&d->pace);
    wf_noded_trim_cache(d);
    *out = d;
    return 0;
}

void wf_noded_set_self(wf_noded *d, const char *addr)
{
    wf_objtab_set_self(d->objs, addr);
}

int wf_noded_port(const wf_noded *d)
{
    return d->port;
}

uint32_t wf_noded_load(const wf_noded *d)
{
    return atomic_load(&d->load);
}

uint32_t wf_noded_drivers(const wf_noded *d)
{
    return d->ndrivers;
}

void wf_noded_stop(wf_noded *d)
{
    if (!d || d->stopping)
        return;
    d->stopping = true;
    wf_net_server_stop(d->srv); /* each session ends in its on_close */
}
