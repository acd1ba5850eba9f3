#include "cluster/objtab.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "cluster/proto.h"
#include "wire/value.h"

#define WF_OBJ_BUCKETS 1024
#define WF_OBJ_POOL (2ull << 30) /* bytes of freed memfds kept for reuse */
#define WF_OBJ_POOL_FDS 16

typedef struct wf_nwait {
    wf_objtab_cb cb;
    void *arg;
    struct wf_nwait *next;
} wf_nwait;

typedef struct wf_peer wf_peer;

struct wf_nobj {
    uint64_t id;                         /* kept: ours; copy: the holder's */
    char holder[WF_WIRE_HOLDER_MAX + 1]; /* "" for a kept object */
    void *owner;
    int fd;
    uint64_t off, len;
    int pins;      /* the table's (while in it) + transfers + waiters */
    bool in_table; /* findable */
    bool ready;    /* all bytes here */
    uint64_t got;  /* copy: bytes received so far */
    wf_nwait *waiters;
    wf_peer *peer; /* copy being pulled: from whom */
    uint64_t pull_seq;
    bool pull_sent;
    struct wf_nobj *next;  /* hash chain */
    struct wf_nobj *pnext; /* the peer's list of pulls */
};

/* A PULL being answered. */
typedef struct wf_xfer {
    wf_net_conn *c;
    uint64_t seq;
    wf_nobj *o;
    uint64_t sent;
    struct wf_xfer *next;
} wf_xfer;

/* A connection to another node, to pull objects from it. */
struct wf_peer {
    wf_objtab *t;
    char addr[WF_WIRE_HOLDER_MAX + 1];
    wf_net_conn *conn;
    bool ready;
    wf_nobj *pulls;
    struct wf_peer *next;
};

struct wf_objtab {
    uv_loop_t *loop;
    wf_token token;
    char self[WF_WIRE_HOLDER_MAX + 1];
    pthread_mutex_t lock; /* the table and the counts */
    wf_nobj *buckets[WF_OBJ_BUCKETS];
    uint64_t next_id;
    uint64_t nobj, bytes;
    wf_xfer *xfers;
    uv_check_t check;
    bool check_on;
    wf_peer *peers;
    uint64_t next_seq;
    uint8_t *chunk;
    bool closing, check_closed;
    struct {
        int fd;
        uint64_t cap;
    } pool[WF_OBJ_POOL_FDS]; /* memfds of freed objects, for reuse */
    int npool;
    uint64_t pool_bytes;
};

/* ------------------------------------------------------------ table */

static size_t wf_obj_bucket(uint64_t id, const char *holder)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    for (const char *p = holder; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001B3ull;
    return (size_t)(h >> 40) % WF_OBJ_BUCKETS;
}

/* Find (id, holder) in the table (lock held). */
static wf_nobj *wf_obj_find(wf_objtab *t, uint64_t id, const char *holder)
{
    for (wf_nobj *o = t->buckets[wf_obj_bucket(id, holder)]; o; o = o->next)
        if (o->id == id && strcmp(o->holder, holder) == 0)
            return o;
    return NULL;
}

static void wf_obj_insert(wf_objtab *t, wf_nobj *o)
{
    size_t b = wf_obj_bucket(o->id, o->holder);
    o->next = t->buckets[b];
    t->buckets[b] = o;
    o->in_table = true;
    o->pins++;
    t->nobj++;
    t->bytes += o->len;
}

/* Take o out of the table (lock held); the table's pin is the caller's to
 * drop. */
static void wf_obj_remove(wf_objtab *t, wf_nobj *o)
{
    for (wf_nobj **p = &t->buckets[wf_obj_bucket(o->id, o->holder)]; *p;
         p = &(*p)->next) {
        if (*p == o) {
            *p = o->next;
            o->in_table = false;
            t->nobj--;
            t->bytes -= o->len;
            return;
        }
    }
}

/* Keep the memfd of a freed object for the next copy pulled here, while
 * the pool holds less than WF_OBJ_POOL bytes: its pages are already
 * there, and on this kind of machine giving an object fresh pages (the
 * kernel zeroes each one) costs more than moving its bytes (lock held). */
static void wf_obj_pool_put(wf_objtab *t, int fd)
{
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_size >= WF_KEEP_MIN &&
        t->npool < WF_OBJ_POOL_FDS &&
        t->pool_bytes + (uint64_t)st.st_size <= WF_OBJ_POOL) {
        t->pool[t->npool].fd = fd;
        t->pool[t->npool++].cap = (uint64_t)st.st_size;
        t->pool_bytes += (uint64_t)st.st_size;
        return;
    }
    close(fd);
}

/* A memfd of at least len bytes: a pooled one not much larger, or new. */
static int wf_obj_pool_get(wf_objtab *t, uint64_t len)
{
    pthread_mutex_lock(&t->lock);
    int best = -1;
    for (int i = 0; i < t->npool; i++)
        if (t->pool[i].cap >= len && t->pool[i].cap / 2 <= len &&
            (best < 0 || t->pool[i].cap < t->pool[best].cap))
            best = i;
    int fd = -1;
    if (best >= 0) {
        fd = t->pool[best].fd;
        t->pool_bytes -= t->pool[best].cap;
        t->pool[best] = t->pool[--t->npool];
    }
    pthread_mutex_unlock(&t->lock);
    return fd >= 0 ? fd : wf_shm_create("weft-pulled", (size_t)len);
}

static void wf_obj_unpin_locked(wf_objtab *t, wf_nobj *o)
{
    if (--o->pins > 0)
        return;
    if (o->ready && o->holder[0])
        wf_obj_pool_put(t, o->fd); /* our own copy: no one else has it */
    else if (o->fd >= 0)
        close(o->fd);
    wf_free(o);
}

void wf_objtab_unpin(wf_objtab *t, wf_nobj *o)
{
    pthread_mutex_lock(&t->lock);
    wf_obj_unpin_locked(t, o);
    pthread_mutex_unlock(&t->lock);
}

int wf_nobj_fd(const wf_nobj *o, uint64_t *off, uint64_t *len)
{
    *off = o->off;
    *len = o->len;
    return o->fd;
}

void wf_objtab_counts(wf_objtab *t, uint64_t *objects, uint64_t *bytes)
{
    pthread_mutex_lock(&t->lock);
    *objects = t->nobj;
    *bytes = t->bytes;
    pthread_mutex_unlock(&t->lock);
}

uint64_t wf_objtab_keep(wf_objtab *t, void *owner, int fd, uint64_t off,
                        uint64_t len)
{
    wf_nobj *o = wf_calloc(1, sizeof *o);
    if (!o)
        return 0;
    o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (o->fd < 0) {
        wf_free(o);
        return 0;
    }
    o->owner = owner;
    o->off = off;
    o->len = len;
    o->ready = true;
    pthread_mutex_lock(&t->lock);
    o->id = ++t->next_id;
    wf_obj_insert(t, o);
    pthread_mutex_unlock(&t->lock);
    return o->id;
}

/* ------------------------------------------------------------ serving */

static void wf_objtab_pump(uv_check_t *h);

static void wf_xfer_end(wf_objtab *t, wf_xfer *x)
{
    wf_objtab_unpin(t, x->o);
    wf_free(x);
}

/* A chunk being sent straight from the object's pages: they stay mapped
 * (and the object pinned) until the connection has written them. */
typedef struct wf_xchunk {
    wf_objtab *t;
    wf_nobj *o;
    void *map;
    size_t map_len;
} wf_xchunk;

static void wf_xchunk_done(void *arg)
{
    wf_xchunk *k = arg;
    if (k->map) /* NULL for an empty object */
        munmap(k->map, k->map_len);
    wf_objtab_unpin(k->t, k->o);
    wf_free(k);
}

/* Queue the next chunk of x: a frame header, then the bytes from a mapping
 * of the object (no copy in user space). False on failure (logged). */
static bool wf_xfer_chunk(wf_objtab *t, wf_xfer *x)
{
    uint64_t left = x->o->len - x->sent;
    size_t n = left < WF_PROG_CHUNK ? (size_t)left : WF_PROG_CHUNK;
    wf_xchunk *k = wf_calloc(1, sizeof *k);
    const uint8_t *bytes = NULL;
    if (k && n) {
        uint64_t at = x->o->off + x->sent;
        uint64_t base = at & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1);
        k->map_len = (size_t)(at - base) + n;
        k->map = mmap(NULL, k->map_len, PROT_READ, MAP_SHARED | MAP_POPULATE,
                      x->o->fd, (off_t)base);
        if (k->map == MAP_FAILED) {
            WF_LOG_WARN("objtab: mapping object %llu: %s",
                        (unsigned long long)x->o->id, strerror(errno));
            wf_free(k);
            return false;
        }
        bytes = (const uint8_t *)k->map + (at - base);
    } else if (!k) {
        WF_LOG_WARN("objtab: sending object %llu: out of memory",
                    (unsigned long long)x->o->id);
        return false;
    }
    k->t = t;
    k->o = x->o;
    pthread_mutex_lock(&t->lock);
    x->o->pins++;
    pthread_mutex_unlock(&t->lock);
    wf_wbuf w;
    wf_wbuf_init(&w);
    size_t start = wf_frame_begin(&w, WF_MSG_OBJ_CHUNK, x->seq);
    wf_msg_obj_chunk m = {x->o->id, x->sent, x->o->len, NULL, 0};
    wf_proto_put_obj_chunk(&w, &m);
    wf_frame_finish_ext(&w, start, n);
    if (wf_net_send_ext(x->c, &w, bytes, n, wf_xchunk_done, k))
        return false;
    x->sent += n;
    return true;
}

/* Queue chunks of each transfer while its connection drains. */
static void wf_objtab_pump(uv_check_t *h)
{
    wf_objtab *t = h->data;
    for (wf_xfer **p = &t->xfers; *p;) {
        wf_xfer *x = *p;
        bool done = false, bad = false;
        while (!done && wf_net_queued(x->c) < WF_OBJ_SENDQ) {
            if (!wf_xfer_chunk(t, x)) {
                bad = true;
                break;
            }
            done = x->sent == x->o->len;
        }
        if (done || bad) {
            if (bad)
                wf_net_conn_close(x->c);
            *p = x->next;
            wf_xfer_end(t, x);
        } else {
            p = &x->next;
        }
    }
    if (!t->xfers && t->check_on) {
        uv_check_stop(&t->check);
        t->check_on = false;
    }
}

weft_err wf_objtab_serve(wf_objtab *t, wf_net_conn *c, const wf_frame *f)
{
    uint64_t id;
    weft_err e = wf_proto_get_pull(f->body, f->body_len, &id);
    if (e)
        return e;
    pthread_mutex_lock(&t->lock);
    wf_nobj *o = wf_obj_find(t, id, "");
    if (o)
        o->pins++;
    pthread_mutex_unlock(&t->lock);
    if (!o) {
        wf_wbuf w;
        wf_wbuf_init(&w);
        char why[96];
        snprintf(why, sizeof why, "no object %llu on %s",
                 (unsigned long long)id, t->self[0] ? t->self : "this node");
        wf_proto_put_obj_missing(&w, id, why);
        e = wf_wbuf_status(&w);
        if (!e)
            e = wf_net_send(c, WF_MSG_OBJ_MISSING, f->seq, w.data, w.len);
        wf_wbuf_free(&w);
        return e == WEFT_EPROTO ? WEFT_EIO : e;
    }
    wf_xfer *x = wf_calloc(1, sizeof *x);
    if (!x) {
        wf_objtab_unpin(t, o);
        return wf_err(WEFT_ENOMEM, "objtab: out of memory");
    }
    x->c = c;
    x->seq = f->seq;
    x->o = o;
    x->next = t->xfers;
    t->xfers = x;
    if (!t->check_on) {
        uv_check_start(&t->check, wf_objtab_pump);
        t->check_on = true;
    }
    wf_objtab_pump(&t->check);
    return 0;
}

void wf_objtab_conn_closed(wf_objtab *t, wf_net_conn *c)
{
    for (wf_xfer **p = &t->xfers; *p;) {
        wf_xfer *x = *p;
        if (x->c == c) {
            *p = x->next;
            wf_xfer_end(t, x);
        } else {
            p = &x->next;
        }
    }
}

/* ------------------------------------------------------------ copies */

/* o is complete (why NULL) or failed: tell whoever waits. */
static void wf_obj_settle(wf_objtab *t, wf_nobj *o, const char *why)
{
    pthread_mutex_lock(&t->lock);
    wf_nwait *w = o->waiters;
    o->waiters = NULL;
    if (why) {
        if (o->in_table) {
            wf_obj_remove(t, o);
            wf_obj_unpin_locked(t, o); /* the table's pin */
        }
    } else {
        o->ready = true;
        for (wf_nwait *k = w; k; k = k->next)
            o->pins++; /* one per waiter, theirs to drop */
    }
    pthread_mutex_unlock(&t->lock);
    while (w) {
        wf_nwait *next = w->next;
        w->cb(w->arg, why ? NULL : o, why);
        wf_free(w);
        w = next;
    }
}

static void wf_peer_unlink_pull(wf_peer *p, wf_nobj *o)
{
    for (wf_nobj **q = &p->pulls; *q; q = &(*q)->pnext) {
        if (*q == o) {
            *q = o->pnext;
            break;
        }
    }
    o->peer = NULL;
}

static void wf_peer_send_pull(wf_peer *p, wf_nobj *o)
{
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_proto_put_pull(&w, o->id);
    o->pull_sent = true;
    if (wf_wbuf_status(&w) ||
        wf_net_send(p->conn, WF_MSG_PULL, o->pull_seq, w.data, w.len))
        wf_net_conn_close(p->conn);
    wf_wbuf_free(&w);
}

static void wf_peer_on_ready(wf_net_conn *c, void *arg)
{
    wf_peer *p = arg;
    (void)c;
    p->ready = true;
    for (wf_nobj *o = p->pulls; o; o = o->pnext)
        if (!o->pull_sent)
            wf_peer_send_pull(p, o);
}

static wf_nobj *wf_peer_pull_of(wf_peer *p, uint64_t seq)
{
    for (wf_nobj *o = p->pulls; o; o = o->pnext)
        if (o->pull_seq == seq)
            return o;
    return NULL;
}

static weft_err wf_peer_chunk(wf_peer *p, const wf_frame *f)
{
    wf_msg_obj_chunk m;
    weft_err e = wf_proto_get_obj_chunk(f->body, f->body_len, &m);
    if (e)
        return e;
    wf_nobj *o = wf_peer_pull_of(p, f->seq);
    if (!o)
        return 0; /* dropped meanwhile (its owner left) */
    if ((e = wf_proto_chunk_next(&m, o->id, o->len, o->got, "objtab")))
        return e;
    for (size_t done = 0; done < m.len;) {
        ssize_t k =
            pwrite(o->fd, m.data + done, m.len - done, (off_t)(o->got + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            char why[160];
            snprintf(why, sizeof why, "cannot store a pulled object: %s",
                     strerror(errno));
            wf_peer_unlink_pull(p, o);
            wf_obj_settle(p->t, o, why);
            return 0;
        }
        done += (size_t)k;
    }
    o->got += m.len;
    if (o->got == o->len) {
        wf_peer_unlink_pull(p, o);
        wf_obj_settle(p->t, o, NULL);
    }
    return 0;
}

static void wf_peer_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_peer *p = arg;
    weft_err e = 0;
    if (f->type == WF_MSG_OBJ_CHUNK) {
        e = wf_peer_chunk(p, f);
    } else if (f->type == WF_MSG_OBJ_MISSING) {
        wf_msg_actor_died m;
        e = wf_proto_get_obj_missing(f->body, f->body_len, &m);
        wf_nobj *o = e ? NULL : wf_peer_pull_of(p, f->seq);
        if (o) {
            char why[WF_READY_MAX_MESSAGE + 16];
            snprintf(why, sizeof why, "%.*s", (int)m.why_len, m.why);
            wf_peer_unlink_pull(p, o);
            wf_obj_settle(p->t, o, why);
        }
    } else {
        e = wf_err(WEFT_EPROTO, "objtab: unexpected %s from %s",
                   wf_msg_type_name(f->type), p->addr);
    }
    if (e) {
        WF_LOG_WARN("objtab: peer %s: %s", p->addr, weft_last_error());
        wf_net_conn_close(c);
    }
}

static void wf_objtab_maybe_free(wf_objtab *t);

static void wf_peer_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    wf_peer *p = arg;
    (void)c;
    wf_objtab *t = p->t;
    for (wf_peer **q = &t->peers; *q; q = &(*q)->next) {
        if (*q == p) {
            *q = p->next;
            break;
        }
    }
    char msg[300];
    snprintf(msg, sizeof msg, "cannot pull from %s: %s", p->addr,
             why ? weft_last_error() : "connection closed");
    while (p->pulls) {
        wf_nobj *o = p->pulls;
        wf_peer_unlink_pull(p, o);
        wf_obj_settle(t, o, msg);
    }
    wf_free(p);
    wf_objtab_maybe_free(t);
}

static wf_peer *wf_peer_get(wf_objtab *t, const char *addr)
{
    for (wf_peer *p = t->peers; p; p = p->next)
        if (strcmp(p->addr, addr) == 0)
            return p;
    char host[WF_WIRE_HOLDER_MAX + 1];
    int port;
    if (!wf_net_split_addr(addr, host, sizeof host, &port))
        return NULL;
    wf_peer *p = wf_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->t = t;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    wf_net_opts no = {.on_frame = wf_peer_on_frame,
                      .on_ready = wf_peer_on_ready,
                      .on_close = wf_peer_on_close,
                      .arg = p};
    if (wf_net_connect(t->loop, host, port, &t->token, &no, &p->conn)) {
        wf_free(p);
        return NULL;
    }
    p->next = t->peers;
    t->peers = p;
    return p;
}

void wf_objtab_need(wf_objtab *t, void *owner, uint64_t id, uint64_t len,
                    const char *holder, size_t holder_len, wf_objtab_cb cb,
                    void *arg)
{
    char h[WF_WIRE_HOLDER_MAX + 1];
    if (holder_len > WF_WIRE_HOLDER_MAX)
        holder_len = WF_WIRE_HOLDER_MAX;
    memcpy(h, holder, holder_len);
    h[holder_len] = '\0';
    bool local = !h[0] || strcmp(h, t->self) == 0;
    if (local)
        h[0] = '\0';
    char why[200];
    wf_nwait *w = wf_calloc(1, sizeof *w);
    pthread_mutex_lock(&t->lock);
    wf_nobj *o = wf_obj_find(t, id, h);
    if (o && o->ready && o->len != len) {
        pthread_mutex_unlock(&t->lock);
        wf_free(w);
        snprintf(why, sizeof why, "object %llu has %llu bytes, not %llu",
                 (unsigned long long)id, (unsigned long long)o->len,
                 (unsigned long long)len);
        cb(arg, NULL, why);
        return;
    }
    if (o && o->ready) {
        o->pins++;
        pthread_mutex_unlock(&t->lock);
        wf_free(w);
        cb(arg, o, NULL);
        return;
    }
    if (!w) {
        pthread_mutex_unlock(&t->lock);
        cb(arg, NULL, "out of memory");
        return;
    }
    w->cb = cb;
    w->arg = arg;
    if (o) { /* being pulled: wait with the others */
        w->next = o->waiters;
        o->waiters = w;
        pthread_mutex_unlock(&t->lock);
        return;
    }
    pthread_mutex_unlock(&t->lock);
    if (local) {
        wf_free(w);
        snprintf(why, sizeof why, "object %llu is not on this node (lost?)",
                 (unsigned long long)id);
        cb(arg, NULL, why);
        return;
    }
    /* A copy to pull: its own memfd, then one PULL. */
    snprintf(why, sizeof why,
             "cannot pull object %llu from %s: out of "
             "memory or file descriptors",
             (unsigned long long)id, h);
    wf_nobj *c = wf_calloc(1, sizeof *c);
    wf_peer *p = c ? wf_peer_get(t, h) : NULL;
    if (!c || !p) {
        wf_free(c);
        wf_free(w);
        cb(arg, NULL, why);
        return;
    }
    c->id = id;
    memcpy(c->holder, h, sizeof h);
    c->owner = owner;
    c->fd = wf_obj_pool_get(t, len);
    if (c->fd < 0) {
        wf_free(c);
        wf_free(w);
        cb(arg, NULL, why);
        return;
    }
    c->len = len;
    c->waiters = w;
    c->peer = p;
    c->pull_seq = ++t->next_seq;
    c->pnext = p->pulls;
    p->pulls = c;
    pthread_mutex_lock(&t->lock);
    wf_obj_insert(t, c);
    pthread_mutex_unlock(&t->lock);
    if (p->ready)
        wf_peer_send_pull(p, c);
}

/* ------------------------------------------------------------ owners */

weft_err wf_objtab_free_msg(wf_objtab *t, void *owner, const wf_frame *f)
{
    static wf_msg_free_item items[WF_FREE_MAX];
    size_t n;
    weft_err e = wf_proto_get_free(f->body, f->body_len, items, &n);
    if (e)
        return e;
    for (size_t i = 0; i < n; i++) {
        char h[WF_WIRE_HOLDER_MAX + 1];
        memcpy(h, items[i].holder, items[i].holder_len);
        h[items[i].holder_len] = '\0';
        if (strcmp(h, t->self) == 0)
            h[0] = '\0';
        pthread_mutex_lock(&t->lock);
        wf_nobj *o = wf_obj_find(t, items[i].id, h);
        bool drop = o && o->owner == owner && (o->ready || !o->waiters);
        if (drop) {
            wf_obj_remove(t, o);
            if (o->peer)
                wf_peer_unlink_pull(o->peer, o);
            wf_obj_unpin_locked(t, o);
        }
        pthread_mutex_unlock(&t->lock);
    }
    return 0;
}

void wf_objtab_drop_owner(wf_objtab *t, void *owner)
{
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < WF_OBJ_BUCKETS; b++) {
        for (wf_nobj **p = &t->buckets[b]; *p;) {
            wf_nobj *o = *p;
            if (o->owner != owner) {
                p = &o->next;
                continue;
            }
            *p = o->next;
            o->in_table = false;
            t->nobj--;
            t->bytes -= o->len;
            if (o->peer)
                wf_peer_unlink_pull(o->peer, o);
            while (o->waiters) {
                wf_nwait *w = o->waiters;
                o->waiters = w->next;
                wf_free(w);
            }
            wf_obj_unpin_locked(t, o);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

/* ------------------------------------------------------------ life */

wf_objtab *wf_objtab_new(uv_loop_t *loop, const wf_token *token)
{
    wf_objtab *t = wf_calloc(1, sizeof *t);
    if (!t || !(t->chunk = wf_alloc(WF_PROG_CHUNK))) {
        wf_free(t);
        return NULL;
    }
    t->loop = loop;
    t->token = *token;
    pthread_mutex_init(&t->lock, NULL);
    uv_check_init(loop, &t->check);
    t->check.data = t;
    uv_unref((uv_handle_t *)&t->check);
    return t;
}

void wf_objtab_set_self(wf_objtab *t, const char *addr)
{
    snprintf(t->self, sizeof t->self, "%s", addr);
}

/* Once stopping, the check handle closed and every peer gone. */
static void wf_objtab_maybe_free(wf_objtab *t)
{
    if (!t->closing || !t->check_closed || t->peers)
        return;
    for (size_t b = 0; b < WF_OBJ_BUCKETS; b++) {
        while (t->buckets[b]) {
            wf_nobj *o = t->buckets[b];
            t->buckets[b] = o->next;
            while (o->waiters) {
                wf_nwait *w = o->waiters;
                o->waiters = w->next;
                wf_free(w);
            }
            if (o->fd >= 0)
                close(o->fd);
            wf_free(o);
        }
    }
    for (int i = 0; i < t->npool; i++)
        close(t->pool[i].fd);
    pthread_mutex_destroy(&t->lock);
    wf_token_clear(&t->token);
    wf_free(t->chunk);
    wf_free(t);
}

static void wf_objtab_closed(uv_handle_t *h)
{
    wf_objtab *t = h->data;
    t->check_closed = true;
    wf_objtab_maybe_free(t);
}

void wf_objtab_free(wf_objtab *t)
{
    if (!t)
        return;
    while (t->xfers) {
        wf_xfer *x = t->xfers;
        t->xfers = x->next;
        wf_xfer_end(t, x);
    }
    t->closing = true;
    for (wf_peer *p = t->peers; p; p = p->next)
        wf_net_conn_close(p->conn); /* each frees itself in on_close */
    uv_close((uv_handle_t *)&t->check, wf_objtab_closed);
}
