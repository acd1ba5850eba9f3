#include "cluster/driver.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "cluster/status.h"
#include "net/conn.h"
#include "wire/msg.h"

#define WF_DRIVER_UPLOAD_QUEUE (16u << 20) /* program bytes queued at once */
#define WF_DRIVER_SEND_QUEUE                                                   \
    (64u << 20)                 /* bytes queued before a node is               \
                                   treated as full */
#define WF_DRIVER_RETRY_MS 1000 /* before reconnecting a node */

typedef enum wf_dnode_state {
    WF_DN_IDLE,       /* not connected (see retry_at) */
    WF_DN_CONNECTING, /* TCP + handshake, then DRIVER_HELLO sent */
    WF_DN_READY,      /* RUN frames flow */
} wf_dnode_state;

/* A node as this driver sees it. */
typedef struct wf_dnode {
    struct wf_driver *d;
    uint64_t id;
    char name[WF_NODE_NAME_MAX + 1];
    wf_node_resources res; /* as the head reported them */
    uint64_t cpus_free;    /* milli, for reserving jobs */
    uint64_t custom_free[WF_NODE_MAX_CUSTOM];
    wf_dnode_state state;
    bool alive;  /* per the head's last answer */
    bool failed; /* its last attempt failed (counts as resolved) */
    wf_net_conn *conn;
    uint32_t slots;
    uint64_t inflight;
    /* How long this driver's tasks take in the node's workers (ns; from
     * its PACE reports): how many to keep queued there. Forgotten when the
     * node ran dry long after its last report: the next tasks may differ. */
    double svc_ns;
    uint64_t pace_ns;   /* when the last PACE came */
    uint32_t steal_max; /* a STEAL for this many is out; 0: none */
    uint64_t steal_at;  /* no STEAL before this (ns) */
    wf_wbuf out;        /* frames to send at the end of this loop turn */
    int prog_fd;        /* the program being uploaded, or -1 */
    uint64_t prog_sent;
    uint64_t retry_at; /* uv_now before which we do not reconnect */
} wf_dnode;

struct wf_dactor {
    void *actor; /* the runtime's */
    uint64_t id;
    wf_job *ctor;       /* kept for restarts (owner NULL) */
    wf_driver_req *req; /* held on its node for its life; NULL: nothing */
    uint64_t node;      /* where it lives; 0 while unplaced */
    wf_job *wait_head, *wait_tail; /* to send once placed, ctor first */
    bool dead;                     /* no restart: calls fail */
    bool linked;                   /* in the driver's list */
    struct wf_dactor *next;
};

/* A pull of an object for a get, or a free, asked for by another thread. */
typedef struct wf_dop {
    bool free; /* else a pull */
    uint64_t node, id, len, got;
    char holder[WF_NODE_ADDR_MAX + 1];
    uint8_t *dst;
    uint64_t seq;
    bool done;
    weft_err err;
    char why[300];
    struct wf_dop *next;
} wf_dop;

struct wf_driver {
    wf_driver_opts o;
    char host[64];
    wf_token token;
    uint8_t hash[WF_PROG_HASH];
    uint64_t prog_size;
    char *program, *name;

    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t poll;
    uv_check_t flush;
    pthread_t thread;
    wf_net_conn *head;
    bool head_busy; /* a STATUS_REQ is out */
    bool quitting;  /* loop thread's copy of stopping */
    uint8_t *chunk; /* program upload buffer */
    uint64_t head_retry_at;

    wf_dnode **nodes; /* by id - 1; NULL for ids never seen */
    size_t nnodes;

    /* Jobs sent and not answered, by seq (chained through job->next). */
    wf_job **table;
    size_t table_cap, table_n;
    uint64_t next_seq;

    /* Jobs placed nowhere yet (loop thread). */
    wf_job *plain_head, *plain_tail, *resv_head, *resv_tail;
    wf_dactor *actors; /* loop thread */
    bool actors_unplaced;
    wf_dop *pulls; /* loop thread: pulls under way */
    wf_dop *ops;   /* under lock: pulls and frees to start */
    uint64_t next_pull;

    /* Shared with other threads, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wf_job *in_head, *in_tail;
    wf_node_resources *caps; /* alive nodes' resources */
    size_t ncaps;
    char (*addrs)[WF_NODE_ADDR_MAX + 1]; /* task address by node id - 1 */
    size_t naddrs;
    int nready;
    bool stopping, started, start_done;
    weft_err start_err;
    char start_msg[512];
    bool got_status;
    _Atomic uint64_t stolen; /* tasks taken back from a node and re-placed */
};

/* ------------------------------------------------------------ helpers */

static void wf_q_push(wf_job **head, wf_job **tail, wf_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static wf_job *wf_q_pop(wf_job **head, wf_job **tail)
{
    wf_job *j = *head;
    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
        j->next = NULL;
    }
    return j;
}

static wf_dnode *wf_dnode_of(wf_driver *d, uint64_t id)
{
    return id >= 1 && id <= d->nnodes ? d->nodes[id - 1] : NULL;
}

/* Index of custom resource name on node n, or -1. */
static int wf_dnode_custom(const wf_dnode *n, const char *name)
{
    for (uint32_t i = 0; i < n->res.ncustom; i++)
        if (strcmp(n->res.custom[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Could res hold req at all (free or not)? */
static bool wf_req_fits_total(const wf_node_resources *res,
                              const wf_driver_req *req)
{
    if (req->cpus_milli > res->cpus_milli)
        return false;
    for (uint32_t k = 0; k < req->ncustom; k++) {
        bool ok = false;
        for (uint32_t i = 0; i < res->ncustom && !ok; i++)
            ok = strcmp(res->custom[i].name, req->custom[k].name) == 0 &&
                 res->custom[i].milli >= req->custom[k].milli;
        if (!ok)
            return false;
    }
    return true;
}

static bool wf_req_fits_now(const wf_dnode *n, const wf_driver_req *req)
{
    if (req->cpus_milli > n->cpus_free)
        return false;
    for (uint32_t k = 0; k < req->ncustom; k++) {
        int i = wf_dnode_custom(n, req->custom[k].name);
        if (i < 0 || n->custom_free[i] < req->custom[k].milli)
            return false;
    }
    return true;
}

static void wf_req_take(wf_dnode *n, const wf_driver_req *req, bool give)
{
    n->cpus_free =
        give ? n->cpus_free + req->cpus_milli : n->cpus_free - req->cpus_milli;
    for (uint32_t k = 0; k < req->ncustom; k++) {
        int i = wf_dnode_custom(n, req->custom[k].name);
        if (i < 0)
            continue;
        n->custom_free[i] = give ? n->custom_free[i] + req->custom[k].milli
                                 : n->custom_free[i] - req->custom[k].milli;
    }
}

/* ------------------------------------------------------------ job table */

static size_t wf_table_slot(const wf_driver *d, uint64_t seq)
{
    return (size_t)(seq * 0x9E3779B97F4A7C15ull >> 20) & (d->table_cap - 1);
}

static bool wf_table_grow(wf_driver *d)
{
    size_t cap = d->table_cap ? d->table_cap * 2 : 4096;
    wf_job **t = wf_calloc(cap, sizeof *t);
    if (!t)
        return false;
    wf_job **old = d->table;
    size_t oldcap = d->table_cap;
    d->table = t;
    d->table_cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        for (wf_job *j = old[i], *next; j; j = next) {
            next = j->next;
            size_t s = wf_table_slot(d, j->seq);
            j->next = d->table[s];
            d->table[s] = j;
        }
    }
    wf_free(old);
    return true;
}

static bool wf_table_put(wf_driver *d, wf_job *j)
{
    if (d->table_n >= d->table_cap / 2 && !wf_table_grow(d) && !d->table_cap)
        return false;
    size_t s = wf_table_slot(d, j->seq);
    j->next = d->table[s];
    d->table[s] = j;
    d->table_n++;
    return true;
}

static wf_job *wf_table_take(wf_driver *d, uint64_t seq)
{
    if (!d->table_cap)
        return NULL;
    wf_job **p = &d->table[wf_table_slot(d, seq)];
    for (; *p; p = &(*p)->next) {
        if ((*p)->seq == seq) {
            wf_job *j = *p;
            *p = j->next;
            j->next = NULL;
            d->table_n--;
            return j;
        }
    }
    return NULL;
}

/* A job leaves its node (answered or lost): give back what it held. */
static void wf_job_leave(wf_driver *d, wf_job *j)
{
    wf_dnode *n = wf_dnode_of(d, (uint64_t)j->pid);
    if (!n)
        return;
    n->inflight--;
    if (j->res)
        wf_req_take(n, j->res, true);
}

/* ------------------------------------------------------------ placement */

/* Plain jobs n may hold: one per worker plus about WF_DRIVER_QUEUE_NS of
 * work queued behind each (so tiny tasks stream, up to WF_DRIVER_PIPELINE
 * per worker, while long ones wait here for whichever node frees a worker
 * first); 2 per worker until the node's PACE says how long tasks take. */
#define WF_DRIVER_QUEUE_NS 2e6
#define WF_DRIVER_PACE_STALE_NS 200000000ull
static uint64_t wf_dnode_depth(wf_dnode *n)
{
    double per_slot = 2;
    if (n->inflight == 0 && n->svc_ns > 0 &&
        wf_now_ns() - n->pace_ns > WF_DRIVER_PACE_STALE_NS)
        n->svc_ns = 0; /* idle for long: learn the pace of what comes next */
    if (n->svc_ns > 0) {
        per_slot = WF_DRIVER_QUEUE_NS / n->svc_ns + 1;
        if (per_slot > WF_DRIVER_PIPELINE)
            per_slot = WF_DRIVER_PIPELINE;
    }
    return (uint64_t)per_slot * n->slots;
}

/* The ready node with the most room for a plain job, or NULL. */
static wf_dnode *wf_pick_plain(wf_driver *d)
{
    wf_dnode *best = NULL;
    double best_load = 0;
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (!n || n->state != WF_DN_READY || n->inflight >= wf_dnode_depth(n) ||
            wf_net_queued(n->conn) + n->out.len > WF_DRIVER_SEND_QUEUE)
            continue;
        double load = (double)n->inflight / n->slots;
        if (!best || load < best_load) {
            best = n;
            best_load = load;
        }
    }
    return best;
}

static wf_dnode *wf_pick_reserved(wf_driver *d, const wf_driver_req *req,
                                  uint64_t prefer)
{
    wf_dnode *h = wf_dnode_of(d, prefer);
    if (h && h->state == WF_DN_READY && wf_req_fits_now(h, req))
        return h; /* where its largest input is */
    wf_dnode *best = NULL;
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (n && n->state == WF_DN_READY && wf_req_fits_now(n, req) &&
            (!best || n->inflight < best->inflight))
            best = n;
    }
    return best;
}

/* Put j on n: number it, remember it, queue its bytes. */
static void wf_place(wf_driver *d, wf_dnode *n, wf_job *j)
{
    j->seq = ++d->next_seq;
    j->pid = (int)n->id;
    j->attempts++;
    j->sent_ns = wf_now_ns();
    wf_store_le64(j->bytes + 8, j->seq);
    if (j->res)
        wf_req_take(n, j->res, false);
    n->inflight++;
    if (!wf_table_put(d, j)) {
        wf_job_leave(d, j);
        d->o.cb.lost(d->o.ctx, j, false, "driver out of memory");
        return;
    }
    wf_wbuf_put_bytes(&n->out, j->bytes, j->len);
}

static void wf_actors_place(wf_driver *d);
static void wf_steal(wf_driver *d);

/* Place what can be placed now. */
static void wf_pump(wf_driver *d)
{
    wf_dnode *n;
    if (d->actors_unplaced)
        wf_actors_place(d);
    while (d->plain_head && (n = wf_pick_plain(d))) {
        /* Locality: the node holding the job's largest input, unless it is
         * busier than the least loaded by more than one job per slot. */
        wf_dnode *h = wf_dnode_of(d, d->plain_head->prefer);
        if (h && h != n && h->state == WF_DN_READY &&
            h->inflight < wf_dnode_depth(h) &&
            (double)h->inflight / h->slots <=
                (double)n->inflight / n->slots + 1.0)
            n = h;
        wf_place(d, n, wf_q_pop(&d->plain_head, &d->plain_tail));
    }
    wf_job *keep_head = NULL, *keep_tail = NULL, *j;
    while ((j = wf_q_pop(&d->resv_head, &d->resv_tail))) {
        n = wf_pick_reserved(d, j->res, j->prefer);
        if (n)
            wf_place(d, n, j);
        else
            wf_q_push(&keep_head, &keep_tail, j);
    }
    d->resv_head = keep_head;
    d->resv_tail = keep_tail;
    wf_steal(d);
}

/* Work stealing. With nothing waiting here, idle worker slots on one node
 * take tasks another node has queued but not begun: STEAL asks the busy
 * node, RETURNED gives them back, and they are placed again. Tasks shorter
 * than WF_STEAL_MIN_NS stay where they are (moving them costs more than
 * the wait); after a STEAL that found nothing, that node is left alone for
 * WF_STEAL_BACKOFF_NS. */
#define WF_STEAL_MIN_NS 500000.0
#define WF_STEAL_BACKOFF_NS 2000000ull
static void wf_steal(wf_driver *d)
{
    if (d->plain_head || d->resv_head)
        return;
    uint64_t idle = 0;
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (n && n->state == WF_DN_READY && n->inflight < n->slots)
            idle += n->slots - n->inflight;
    }
    uint64_t now = idle ? wf_now_ns() : 0;
    for (size_t i = 0; i < d->nnodes && idle > 0; i++) {
        wf_dnode *v = d->nodes[i];
        if (!v || v->state != WF_DN_READY || v->steal_max ||
            v->inflight <= v->slots || now < v->steal_at ||
            (v->svc_ns > 0 && v->svc_ns < WF_STEAL_MIN_NS))
            continue;
        uint64_t k = v->inflight - v->slots;
        if (k > idle)
            k = idle;
        if (k > WF_STEAL_MAX)
            k = WF_STEAL_MAX;
        size_t start = wf_frame_begin(&v->out, WF_MSG_STEAL, 0);
        wf_proto_put_steal(&v->out, (uint32_t)k);
        wf_frame_finish(&v->out, start);
        v->steal_max = (uint32_t)k;
        idle -= k;
    }
}

/* RETURNED from n: its answer to our STEAL. The jobs go back to the front
 * of the queues, in their order, as if never sent. */
static weft_err wf_dnode_returned(wf_driver *d, wf_dnode *n, const wf_frame *f)
{
    uint64_t seqs[WF_STEAL_MAX];
    uint32_t count;
    weft_err e = wf_proto_get_returned(f->body, f->body_len, seqs, &count);
    if (e)
        return e;
    if (!n->steal_max || count > n->steal_max)
        return wf_err(WEFT_EPROTO, "driver: RETURNED %u tasks, %u asked for",
                      count, n->steal_max);
    n->steal_max = 0;
    if (count == 0) {
        n->steal_at = wf_now_ns() + WF_STEAL_BACKOFF_NS;
        return 0;
    }
    wf_job *ph = NULL, *pt = NULL, *rh = NULL, *rt = NULL;
    for (uint32_t i = 0; i < count; i++) {
        wf_job *j = wf_table_take(d, seqs[i]);
        if (!j || (uint64_t)j->pid != n->id) {
            if (j)
                wf_table_put(d, j);
            e = wf_err(WEFT_EPROTO, "driver: RETURNED unknown task %llu",
                       (unsigned long long)seqs[i]);
            break;
        }
        wf_job_leave(d, j);
        j->attempts--; /* it never ran: no retry is spent */
        if (j->res)
            wf_q_push(&rh, &rt, j);
        else
            wf_q_push(&ph, &pt, j);
    }
    if (pt) {
        pt->next = d->plain_head;
        d->plain_head = ph;
        if (!d->plain_tail)
            d->plain_tail = pt;
    }
    if (rt) {
        rt->next = d->resv_head;
        d->resv_head = rh;
        if (!d->resv_tail)
            d->resv_tail = rt;
    }
    atomic_fetch_add(&d->stolen, count);
    WF_LOG_DEBUG("driver: took back %u queued tasks from node %s", count,
                 n->name);
    wf_pump(d);
    return e;
}

static void wf_enqueue(wf_driver *d, wf_job *j)
{
    if (j->res)
        wf_q_push(&d->resv_head, &d->resv_tail, j);
    else
        wf_q_push(&d->plain_head, &d->plain_tail, j);
}

/* ------------------------------------------------------------ nodes */

static void wf_dnode_connect(wf_driver *d, wf_dnode *n);

/* Every job on node n is lost (its connection ended). */
static void wf_dnode_lose_jobs(wf_driver *d, wf_dnode *n, const char *why)
{
    char msg[512];
    snprintf(msg, sizeof msg, "node %s (%s) lost: %s", n->name, n->res.addr,
             why);
    wf_job *lost = NULL;
    for (size_t i = 0; i < d->table_cap; i++) {
        for (wf_job **p = &d->table[i]; *p;) {
            wf_job *j = *p;
            if ((uint64_t)j->pid == n->id) {
                *p = j->next;
                d->table_n--;
                j->next = lost;
                lost = j;
            } else {
                p = &j->next;
            }
        }
    }
    size_t count = 0;
    while (lost) {
        wf_job *j = lost;
        lost = j->next;
        j->next = NULL;
        wf_job_leave(d, j);
        count++;
        d->o.cb.lost(d->o.ctx, j, true, msg);
    }
    if (count)
        WF_LOG_WARN("driver: %zu tasks lost with node %s: %s", count, n->name,
                    why);
}

static void wf_driver_note_ready(wf_driver *d)
{
    int ready = 0;
    for (size_t i = 0; i < d->nnodes; i++)
        ready += d->nodes[i] && d->nodes[i]->state == WF_DN_READY;
    pthread_mutex_lock(&d->lock);
    d->nready = ready;
    pthread_mutex_unlock(&d->lock);
}

/* Start-up is over when every alive node is ready or failed. */
static void wf_driver_check_started(wf_driver *d)
{
    if (d->start_done || !d->got_status)
        return;
    int ready = 0, pending = 0;
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (!n || !n->alive || !n->res.addr[0])
            continue;
        if (n->state == WF_DN_READY)
            ready++;
        else if (!n->failed)
            pending++;
    }
    if (pending)
        return;
    pthread_mutex_lock(&d->lock);
    d->start_done = true;
    if (!ready && !d->start_err) {
        d->start_err = WEFT_ERESOURCE;
        snprintf(d->start_msg, sizeof d->start_msg,
                 "the cluster at %s:%d has no node ready to run tasks", d->host,
                 d->o.port);
    }
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void wf_actors_node_lost(wf_driver *d, wf_dnode *n, const char *why);
static void wf_pulls_node_lost(wf_driver *d, wf_dnode *n, const char *why);

static void wf_dnode_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    wf_dnode *n = arg;
    (void)c;
    wf_driver *d = n->d;
    char reason[256];
    snprintf(reason, sizeof reason, "%s",
             why ? weft_last_error() : "connection closed");
    bool was_ready = n->state == WF_DN_READY;
    if (was_ready && d->o.node_lost)
        d->o.node_lost(d->o.ctx, n->id);
    n->conn = NULL;
    n->state = WF_DN_IDLE;
    n->steal_max = 0; /* its queued tasks come back as lost ones */
    n->retry_at = uv_now(&d->loop) + WF_DRIVER_RETRY_MS;
    if (!was_ready)
        n->failed = true;
    if (n->prog_fd >= 0) {
        close(n->prog_fd);
        n->prog_fd = -1;
    }
    wf_wbuf_reset(&n->out);
    if (!d->quitting)
        WF_LOG_WARN("driver: node %s (%s) closed: %s", n->name, n->res.addr,
                    reason);
    wf_dnode_lose_jobs(d, n, reason);
    wf_pulls_node_lost(d, n, reason);
    wf_actors_node_lost(d, n, reason);
    wf_driver_note_ready(d);
    wf_driver_check_started(d);
    wf_pump(d);
}

static void wf_dnode_on_ready(wf_net_conn *c, void *arg)
{
    wf_dnode *n = arg;
    wf_driver *d = n->d;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_msg_driver_hello h = {.kind = d->o.kind,
                             .size = d->prog_size,
                             .pid = (uint32_t)getpid(),
                             .name = d->name,
                             .name_len = strlen(d->name)};
    memcpy(h.hash, d->hash, sizeof h.hash);
    wf_proto_put_driver_hello(&w, &h);
    weft_err e = wf_wbuf_status(&w);
    if (!e)
        e = wf_net_send(c, WF_MSG_DRIVER_HELLO, 0, w.data, w.len);
    wf_wbuf_free(&w);
    if (e) {
        WF_LOG_WARN("driver: node %s: %s", n->name, weft_last_error());
        wf_net_conn_close(c);
    }
}

/* Queue more of the program while the connection's queue is short. */
static void wf_dnode_upload(wf_driver *d, wf_dnode *n)
{
    if (!d->chunk && !(d->chunk = wf_alloc(WF_PROG_CHUNK)))
        return;
    uint8_t *chunk = d->chunk;
    while (n->prog_fd >= 0 && n->conn &&
           wf_net_queued(n->conn) < WF_DRIVER_UPLOAD_QUEUE) {
        uint64_t left = d->prog_size - n->prog_sent;
        size_t want = left < WF_PROG_CHUNK ? (size_t)left : WF_PROG_CHUNK;
        ssize_t k = pread(n->prog_fd, chunk, want, (off_t)n->prog_sent);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            WF_LOG_WARN("driver: reading %s for node %s: %s", d->program,
                        n->name, k < 0 ? strerror(errno) : "file shrank");
            wf_net_conn_close(n->conn);
            return;
        }
        wf_wbuf w;
        wf_wbuf_init(&w);
        wf_msg_exe_chunk m = {n->prog_sent, chunk, (size_t)k};
        size_t start = wf_frame_begin(&w, WF_MSG_EXE_CHUNK, 0);
        wf_proto_put_exe_chunk(&w, &m);
        wf_frame_finish(&w, start);
        if (wf_net_send_frames(n->conn, &w)) {
            wf_net_conn_close(n->conn);
            return;
        }
        n->prog_sent += (uint64_t)k;
        if (n->prog_sent == d->prog_size) {
            close(n->prog_fd);
            n->prog_fd = -1;
        }
    }
}

static weft_err wf_dnode_done(wf_driver *d, wf_dnode *n, const wf_frame *f)
{
    wf_job *j = wf_table_take(d, f->seq);
    if (!j || (uint64_t)j->pid != n->id) {
        if (j)
            wf_table_put(d, j);
        return wf_err(WEFT_EPROTO, "driver: DONE for unknown task %llu",
                      (unsigned long long)f->seq);
    }
    wf_job_leave(d, j);
    if (f->body_len >= 4 && (int32_t)wf_load_le32(f->body) == WEFT_ECRASHED) {
        wf_msg_done m;
        char why[600] = "worker process died";
        if (wf_msg_get_done(f, &m, NULL, 0) == 0)
            snprintf(why, sizeof why, "on node %s: %.*s", n->name,
                     (int)m.message_len, m.message);
        d->o.cb.lost(d->o.ctx, j, true, why);
        return 0;
    }
    d->o.cb.done(d->o.ctx, j, f, NULL, 0);
    return 0;
}

static void wf_actor_died_on(wf_driver *d, wf_dnode *n, uint64_t id,
                             const char *why, size_t why_len);
static weft_err wf_pull_frame(wf_driver *d, wf_dnode *n, const wf_frame *f);

static void wf_dnode_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_dnode *n = arg;
    wf_driver *d = n->d;
    weft_err e = 0;
    if (f->type == WF_MSG_DONE && n->state == WF_DN_READY) {
        e = wf_dnode_done(d, n, f);
    } else if (f->type == WF_MSG_EXE_WANT && n->state == WF_DN_CONNECTING &&
               n->prog_fd < 0 && n->prog_sent == 0) {
        e = wf_proto_get_exe_want(f->body, f->body_len);
        if (!e) {
            n->prog_fd = open(d->program, O_RDONLY | O_CLOEXEC);
            if (n->prog_fd < 0)
                e = wf_err(WEFT_ESYS, "driver: cannot open %s: %s", d->program,
                           strerror(errno));
            else
                WF_LOG_INFO("driver: sending %s (%llu bytes) to node %s",
                            d->program, (unsigned long long)d->prog_size,
                            n->name);
        }
    } else if ((f->type == WF_MSG_OBJ_CHUNK || f->type == WF_MSG_OBJ_MISSING) &&
               n->state == WF_DN_READY) {
        e = wf_pull_frame(d, n, f);
    } else if (f->type == WF_MSG_PACE && n->state == WF_DN_READY) {
        uint64_t ns;
        uint32_t count;
        e = wf_proto_get_pace(f->body, f->body_len, &ns, &count);
        if (!e) { /* recent windows weigh more */
            n->svc_ns =
                n->svc_ns > 0 ? (n->svc_ns + (double)ns) / 2 : (double)ns;
            n->pace_ns = wf_now_ns();
        }
    } else if (f->type == WF_MSG_RETURNED && n->state == WF_DN_READY) {
        e = wf_dnode_returned(d, n, f);
    } else if (f->type == WF_MSG_ACTOR_DIED && n->state == WF_DN_READY) {
        wf_msg_actor_died m;
        e = wf_proto_get_actor_died(f->body, f->body_len, &m);
        if (!e)
            wf_actor_died_on(d, n, m.actor_id, m.why, m.why_len);
    } else if (f->type == WF_MSG_READY && n->state == WF_DN_CONNECTING) {
        wf_msg_ready m;
        e = wf_proto_get_ready(f->body, f->body_len, &m);
        if (!e && m.status) {
            e = wf_err(m.status, "node %s refused: %.*s", n->name,
                       (int)m.message_len, m.message);
        } else if (!e) {
            n->state = WF_DN_READY;
            n->failed = false;
            n->slots = m.slots;
            WF_LOG_INFO("driver: node %s (%s) ready with %u workers", n->name,
                        n->res.addr, m.slots);
            wf_driver_note_ready(d);
            wf_driver_check_started(d);
            wf_pump(d);
        }
    } else {
        e = wf_err(WEFT_EPROTO, "driver: unexpected %s from node %s",
                   wf_msg_type_name(f->type), n->name);
    }
    if (e) {
        WF_LOG_WARN("driver: node %s: %s", n->name, weft_last_error());
        wf_net_conn_close(c);
    }
}

static void wf_dnode_connect(wf_driver *d, wf_dnode *n)
{
    char host[WF_NODE_ADDR_MAX + 1];
    int port;
    if (!wf_net_split_addr(n->res.addr, host, sizeof host, &port)) {
        WF_LOG_WARN("driver: node %s has a bad task address '%s'", n->name,
                    n->res.addr);
        n->failed = true;
        n->retry_at = UINT64_MAX;
        return;
    }
    wf_net_opts no = {.on_frame = wf_dnode_on_frame,
                      .on_ready = wf_dnode_on_ready,
                      .on_close = wf_dnode_on_close,
                      .arg = n,
                      .tls = d->o.tls ? 1 : -1};
    n->prog_sent = 0;
    n->state = WF_DN_CONNECTING;
    weft_err e = wf_net_connect(&d->loop, host, port, &d->token, &no, &n->conn);
    if (e) {
        WF_LOG_WARN("driver: node %s: %s", n->name, weft_last_error());
        n->state = WF_DN_IDLE;
        n->failed = true;
        n->retry_at = uv_now(&d->loop) + WF_DRIVER_RETRY_MS;
        return;
    }
}

/* ------------------------------------------------------------ head */

static void wf_head_conn_start(wf_driver *d);

/* Take the head's node list: learn new nodes, connect, drop dead ones. */
static void wf_driver_status(wf_driver *d, const wf_member *m, size_t count)
{
    uint64_t now = uv_now(&d->loop);
    for (size_t i = 0; i < count; i++) {
        if (m[i].id > WF_HEAD_MAX_NODES)
            continue;
        if (m[i].id > d->nnodes) {
            wf_dnode **p = wf_realloc(d->nodes, (size_t)m[i].id * sizeof *p);
            if (!p)
                continue;
            for (size_t k = d->nnodes; k < m[i].id; k++)
                p[k] = NULL;
            d->nodes = p;
            d->nnodes = (size_t)m[i].id;
        }
        wf_dnode *n = d->nodes[m[i].id - 1];
        if (!n) {
            n = wf_calloc(1, sizeof *n);
            if (!n)
                continue;
            n->d = d;
            n->id = m[i].id;
            n->prog_fd = -1;
            wf_wbuf_init(&n->out);
            d->nodes[m[i].id - 1] = n;
        }
        bool alive = m[i].state == WF_MEMBER_ALIVE;
        memcpy(n->name, m[i].name, sizeof n->name);
        if (n->state == WF_DN_IDLE) {
            /* Resources as now reported; jobs hold none while idle. */
            n->res = m[i].res;
            n->cpus_free = n->res.cpus_milli;
            for (uint32_t k = 0; k < n->res.ncustom; k++)
                n->custom_free[k] = n->res.custom[k].milli;
        }
        if (!alive && n->alive && n->conn) {
            WF_LOG_WARN("driver: the head reports node %s dead", n->name);
            wf_net_conn_close(n->conn);
        }
        if (alive && !n->alive)
            n->failed = false; /* back: try again */
        n->alive = alive;
        if (alive && n->state == WF_DN_IDLE && n->res.addr[0] &&
            now >= n->retry_at && !d->quitting)
            wf_dnode_connect(d, n);
    }
    /* What the alive nodes offer, for checking requests elsewhere. */
    size_t na = 0;
    for (size_t i = 0; i < count; i++)
        na += m[i].state == WF_MEMBER_ALIVE && m[i].res.addr[0];
    wf_node_resources *caps = na ? wf_calloc(na, sizeof *caps) : NULL;
    if (!na || caps) {
        size_t k = 0;
        for (size_t i = 0; i < count; i++)
            if (m[i].state == WF_MEMBER_ALIVE && m[i].res.addr[0])
                caps[k++] = m[i].res;
        pthread_mutex_lock(&d->lock);
        wf_free(d->caps);
        d->caps = caps;
        d->ncaps = na;
        pthread_mutex_unlock(&d->lock);
    }
    /* Every node's task address by id, for naming where objects are. */
    pthread_mutex_lock(&d->lock);
    if (d->nnodes > d->naddrs) {
        void *p = wf_realloc(d->addrs, d->nnodes * sizeof *d->addrs);
        if (p) {
            d->addrs = p;
            memset(d->addrs + d->naddrs, 0,
                   (d->nnodes - d->naddrs) * sizeof *d->addrs);
            d->naddrs = d->nnodes;
        }
    }
    for (size_t i = 0; i < d->naddrs && i < d->nnodes; i++)
        if (d->nodes[i])
            memcpy(d->addrs[i], d->nodes[i]->res.addr, sizeof d->addrs[i]);
    pthread_mutex_unlock(&d->lock);
    d->got_status = true;
    wf_driver_check_started(d);
}

static void wf_head_on_ready(wf_net_conn *c, void *arg)
{
    wf_driver *d = arg;
    d->head_busy = true;
    if (wf_net_send(c, WF_MSG_STATUS_REQ, 1, NULL, 0))
        wf_net_conn_close(c);
}

static void wf_head_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_driver *d = arg;
    wf_member *m = NULL;
    size_t n = 0;
    weft_err e = f->type == WF_MSG_STATUS
                     ? wf_status_decode(f->body, f->body_len, &m, &n)
                     : wf_err(WEFT_EPROTO, "driver: unexpected %s from head",
                              wf_msg_type_name(f->type));
    if (e) {
        WF_LOG_WARN("driver: head: %s", weft_last_error());
        wf_net_conn_close(c);
        return;
    }
    d->head_busy = false;
    wf_driver_status(d, m, n);
    wf_free(m);
}

static void wf_head_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    wf_driver *d = arg;
    (void)c;
    d->head = NULL;
    d->head_busy = false;
    d->head_retry_at = uv_now(&d->loop) + WF_DRIVER_RETRY_MS;
    if (d->quitting)
        return;
    char msg[400];
    snprintf(msg, sizeof msg, "%s",
             why ? weft_last_error() : "the head closed the connection");
    pthread_mutex_lock(&d->lock);
    if (!d->start_done) {
        /* Before the first answer: the address or the token is wrong. */
        d->start_done = true;
        d->start_err = why == WEFT_EPROTO ? WEFT_EPROTO : WEFT_EIO;
        snprintf(d->start_msg, sizeof d->start_msg,
                 why == WEFT_EPROTO
                     ? "the head at %s:%d refused us (wrong token?): %s"
                     : "cannot reach the head at %s:%d: %s",
                 d->host, d->o.port, msg);
        pthread_cond_broadcast(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
    WF_LOG_WARN("driver: head connection ended: %s", msg);
}

static void wf_head_conn_start(wf_driver *d)
{
    wf_net_opts no = {.on_frame = wf_head_on_frame,
                      .on_ready = wf_head_on_ready,
                      .on_close = wf_head_on_close,
                      .arg = d,
                      .tls = d->o.tls ? 1 : -1};
    weft_err e =
        wf_net_connect(&d->loop, d->host, d->o.port, &d->token, &no, &d->head);
    if (e) {
        d->head = NULL;
        d->head_retry_at = uv_now(&d->loop) + WF_DRIVER_RETRY_MS;
        pthread_mutex_lock(&d->lock);
        if (!d->start_done) {
            d->start_done = true;
            d->start_err = e;
            snprintf(d->start_msg, sizeof d->start_msg,
                     "cannot reach the head at %s:%d: %s", d->host, d->o.port,
                     weft_last_error());
            pthread_cond_broadcast(&d->cond);
        }
        pthread_mutex_unlock(&d->lock);
    }
}

/* ------------------------------------------------------------ loop */

static void wf_driver_on_poll(uv_timer_t *t)
{
    wf_driver *d = t->data;
    uint64_t now = uv_now(&d->loop);
    if (!d->head && now >= d->head_retry_at)
        wf_head_conn_start(d);
    else if (d->head && !d->head_busy && d->got_status) {
        d->head_busy = true;
        if (wf_net_send(d->head, WF_MSG_STATUS_REQ, 1, NULL, 0))
            wf_net_conn_close(d->head);
    }
    /* Nodes the head still says are alive but we lost: try again. */
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (n && n->alive && n->state == WF_DN_IDLE && n->res.addr[0] &&
            now >= n->retry_at)
            wf_dnode_connect(d, n);
    }
}

/* After each loop turn: place what now fits (answers free room), send
 * what was placed, feed uploads. */
static void wf_driver_on_check(uv_check_t *h)
{
    wf_driver *d = h->data;
    if (d->plain_head || d->resv_head)
        wf_pump(d);
    else
        wf_steal(d);
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (!n || !n->conn)
            continue;
        if (n->prog_fd >= 0)
            wf_dnode_upload(d, n);
        if (n->out.len && wf_net_send_frames(n->conn, &n->out)) {
            WF_LOG_WARN("driver: node %s: %s", n->name, weft_last_error());
            wf_net_conn_close(n->conn);
        }
    }
}

static void wf_driver_shutdown_loop(wf_driver *d)
{
    for (size_t i = 0; i < d->nnodes; i++)
        if (d->nodes[i] && d->nodes[i]->conn)
            wf_net_conn_close(d->nodes[i]->conn);
    if (d->head)
        wf_net_conn_close(d->head);
    uv_close((uv_handle_t *)&d->poll, NULL);
    uv_close((uv_handle_t *)&d->flush, NULL);
    uv_close((uv_handle_t *)&d->wake, NULL);
}

static void wf_actor_route(wf_driver *d, wf_job *j);
static void wf_ops_start(wf_driver *d, wf_dop *ops);

static void wf_driver_on_wake(uv_async_t *a)
{
    wf_driver *d = a->data;
    pthread_mutex_lock(&d->lock);
    wf_job *in = d->in_head;
    d->in_head = d->in_tail = NULL;
    bool stopping = d->stopping;
    wf_dop *ops = d->ops;
    d->ops = NULL;
    pthread_mutex_unlock(&d->lock);
    wf_ops_start(d, ops);
    while (in) {
        wf_job *j = in;
        in = j->next;
        j->next = NULL;
        if (j->route)
            wf_actor_route(d, j);
        else
            wf_enqueue(d, j);
    }
    if (d->quitting)
        return;
    if (stopping) {
        d->quitting = true;
        wf_driver_shutdown_loop(d);
        return;
    }
    wf_pump(d);
}

static void *wf_driver_main(void *arg)
{
    wf_driver *d = arg;
    wf_head_conn_start(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ------------------------------------------------------------ actors */

/* RUN's kind byte: the first of the body. */
static wf_run_kind wf_job_kind(const wf_job *j)
{
    return j->len > WF_FRAME_HDR ? (wf_run_kind)j->bytes[WF_FRAME_HDR]
                                 : WF_RUN_TASK;
}

/* The ready node for an actor: where req fits now, else (no req) the
 * least loaded. */
static wf_dnode *wf_pick_actor(wf_driver *d, const wf_dactor *a)
{
    if (a->req)
        return wf_pick_reserved(d, a->req, 0);
    wf_dnode *best = NULL;
    for (size_t i = 0; i < d->nnodes; i++) {
        wf_dnode *n = d->nodes[i];
        if (n && n->state == WF_DN_READY &&
            (!best || n->inflight * best->slots < best->inflight * n->slots))
            best = n;
    }
    return best;
}

/* Place an unplaced actor and send what waits for it. */
static bool wf_actor_place(wf_driver *d, wf_dactor *a)
{
    if (a->node || a->dead || !a->wait_head)
        return true;
    if (wf_job_kind(a->wait_head) != WF_RUN_ACTOR_NEW)
        return true; /* nothing to start it with yet */
    wf_dnode *n = wf_pick_actor(d, a);
    if (!n)
        return false;
    if (a->req)
        wf_req_take(n, a->req, false);
    a->node = n->id;
    WF_LOG_INFO("driver: actor %llu placed on node %s",
                (unsigned long long)a->id, n->name);
    wf_job *j;
    while ((j = wf_q_pop(&a->wait_head, &a->wait_tail)))
        wf_place(d, n, j);
    return true;
}

static void wf_actors_place(wf_driver *d)
{
    bool left = false;
    for (wf_dactor *a = d->actors; a; a = a->next)
        left |= !wf_actor_place(d, a);
    d->actors_unplaced = left;
}

/* Every job waiting for a goes back to the runtime as lost. */
static void wf_actor_drop_waiting(wf_driver *d, wf_dactor *a, const char *why)
{
    wf_job *j;
    while ((j = wf_q_pop(&a->wait_head, &a->wait_tail)))
        d->o.cb.lost(d->o.ctx, j, false, why);
}

/* a's process is gone (node: where it was, its hold already released or
 * not). Ask whether to start it again; if so, queue its constructor. */
static void wf_actor_lost(wf_driver *d, wf_dactor *a, const char *why)
{
    a->node = 0;
    if (a->dead)
        return;
    if (!d->o.cb.actor_died(d->o.ctx, a->actor, why)) {
        a->dead = true;
        wf_actor_drop_waiting(d, a, why);
        return;
    }
    wf_job *ctor = wf_job_clone(a->ctor);
    if (!ctor) {
        a->dead = true;
        wf_actor_drop_waiting(d, a, "driver out of memory");
        return;
    }
    ctor->next = a->wait_head; /* the constructor goes first */
    a->wait_head = ctor;
    if (!a->wait_tail)
        a->wait_tail = ctor;
    d->actors_unplaced = true;
}

static wf_dactor *wf_actor_by_id(wf_driver *d, uint64_t id)
{
    for (wf_dactor *a = d->actors; a; a = a->next)
        if (a->id == id)
            return a;
    return NULL;
}

static void wf_actor_died_on(wf_driver *d, wf_dnode *n, uint64_t id,
                             const char *why, size_t why_len)
{
    wf_dactor *a = wf_actor_by_id(d, id);
    if (!a || a->node != n->id)
        return; /* killed meanwhile, or already moved */
    if (a->req)
        wf_req_take(n, a->req, true);
    char msg[WF_READY_MAX_MESSAGE + 64];
    snprintf(msg, sizeof msg, "on node %s: %.*s", n->name, (int)why_len, why);
    wf_actor_lost(d, a, msg);
}

/* Node n is gone: its actors died with it (its holds went with it). */
static void wf_actors_node_lost(wf_driver *d, wf_dnode *n, const char *why)
{
    char msg[600];
    snprintf(msg, sizeof msg, "node %s lost: %s", n->name, why);
    for (wf_dactor *a = d->actors; a; a = a->next)
        if (a->node == n->id)
            wf_actor_lost(d, a, msg);
}

/* Stop a on its node and forget it. */
static void wf_actor_kill(wf_driver *d, wf_dactor *a)
{
    wf_dnode *n = wf_dnode_of(d, a->node);
    if (n && n->state == WF_DN_READY) {
        wf_msg_run m = {.kind = WF_RUN_ACTOR_KILL,
                        .actor_id = a->id,
                        .name = "",
                        .num_returns = 1};
        wf_msg_put_run(&n->out, ++d->next_seq, &m, NULL, NULL);
        if (a->req)
            wf_req_take(n, a->req, true);
    }
    wf_actor_drop_waiting(d, a, "the actor was stopped");
    for (wf_dactor **p = &d->actors; *p; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    wf_job_free(a->ctor);
    wf_free(a->req);
    wf_free(a);
}

/* The loop thread learns of an actor with its first job. */
static void wf_actor_link(wf_driver *d, wf_dactor *a)
{
    if (!a->linked) {
        a->linked = true;
        a->next = d->actors;
        d->actors = a;
    }
}

static void wf_actor_route(wf_driver *d, wf_job *j)
{
    wf_dactor *a = j->route;
    wf_actor_link(d, a);
    if (j->stop) {
        wf_free(j);
        wf_actor_kill(d, a);
        return;
    }
    if (a->dead) {
        d->o.cb.lost(d->o.ctx, j, false, "the actor is dead");
        return;
    }
    wf_dnode *n = wf_dnode_of(d, a->node);
    if (n && n->state == WF_DN_READY) {
        wf_place(d, n, j);
        return;
    }
    wf_q_push(&a->wait_head, &a->wait_tail, j);
    if (!wf_actor_place(d, a))
        d->actors_unplaced = true;
}

/* Queue j for the loop thread. */
static weft_err wf_driver_inbox(wf_driver *d, wf_job *j)
{
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        pthread_mutex_unlock(&d->lock);
        return wf_err(WEFT_ESHUTDOWN, "the runtime is shutting down");
    }
    bool first = !d->in_head;
    j->next = NULL;
    if (d->in_tail)
        d->in_tail->next = j;
    else
        d->in_head = j;
    d->in_tail = j;
    pthread_mutex_unlock(&d->lock);
    if (first)
        uv_async_send(&d->wake);
    return 0;
}

weft_err wf_driver_actor_start(wf_driver *d, void *actor, uint64_t id,
                               wf_job *ctor, const wf_driver_req *req,
                               wf_dactor **out)
{
    bool plain = !req || (req->cpus_milli == 0 && req->ncustom == 0);
    if (!plain) {
        bool fits = false;
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; i < d->ncaps && !fits; i++)
            fits = wf_req_fits_total(&d->caps[i], req);
        pthread_mutex_unlock(&d->lock);
        if (!fits)
            return wf_err(WEFT_ERESOURCE,
                          "no node of the cluster offers what it needs");
    }
    wf_dactor *a = wf_calloc(1, sizeof *a);
    if (a && !plain && (a->req = wf_alloc(sizeof *a->req)))
        *a->req = *req;
    if (a)
        a->ctor = wf_job_clone(ctor);
    if (!a || !a->ctor || (!plain && !a->req)) {
        if (a) {
            wf_job_free(a->ctor);
            wf_free(a->req);
        }
        wf_free(a);
        return wf_err(WEFT_ENOMEM, "driver: out of memory for an actor");
    }
    a->actor = actor;
    a->id = id;
    a->ctor->owner = NULL;
    a->ctor->route = a;
    ctor->route = a;
    /* Linked by the loop thread when its constructor arrives. */
    weft_err e = wf_driver_inbox(d, ctor);
    if (e) {
        wf_job_free(a->ctor);
        wf_free(a->req);
        wf_free(a);
        return e;
    }
    *out = a;
    return 0;
}

void wf_driver_actor_call(wf_driver *d, wf_dactor *a, wf_job *job)
{
    job->route = a;
    if (wf_driver_inbox(d, job))
        d->o.cb.lost(d->o.ctx, job, false, "the runtime is shutting down");
}

void wf_driver_actor_stop(wf_driver *d, wf_dactor *a)
{
    wf_job *j = wf_calloc(1, sizeof *j);
    if (!j)
        return; /* leaks the record; the node stops it with the driver */
    j->route = a;
    j->stop = true;
    if (wf_driver_inbox(d, j))
        wf_free(j);
}

/* ------------------------------------------------------------ objects */

/* Finish a pull (err 0: all bytes written) and wake its caller. */
static void wf_pull_done(wf_driver *d, wf_dop *op, weft_err err,
                         const char *why)
{
    for (wf_dop **p = &d->pulls; *p; p = &(*p)->next) {
        if (*p == op) {
            *p = op->next;
            break;
        }
    }
    pthread_mutex_lock(&d->lock);
    op->err = err;
    if (why) {
        size_t n = strnlen(why, sizeof op->why - 1);
        memcpy(op->why, why, n);
        op->why[n] = '\0';
    }
    op->done = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static weft_err wf_pull_frame(wf_driver *d, wf_dnode *n, const wf_frame *f)
{
    wf_dop *op = d->pulls;
    while (op && !(op->seq == f->seq && op->node == n->id))
        op = op->next;
    if (f->type == WF_MSG_OBJ_MISSING) {
        wf_msg_actor_died m;
        weft_err e = wf_proto_get_obj_missing(f->body, f->body_len, &m);
        if (!e && op) {
            char why[WF_READY_MAX_MESSAGE + 64];
            snprintf(why, sizeof why, "node %s: %.*s", n->name, (int)m.why_len,
                     m.why);
            wf_pull_done(d, op, WEFT_ECRASHED, why);
        }
        return e;
    }
    wf_msg_obj_chunk m;
    weft_err e = wf_proto_get_obj_chunk(f->body, f->body_len, &m);
    if (e || !op)
        return e;
    if ((e = wf_proto_chunk_next(&m, op->id, op->len, op->got, "driver")))
        return e;
    memcpy(op->dst + op->got, m.data, m.len);
    op->got += m.len;
    if (op->got == op->len)
        wf_pull_done(d, op, 0, NULL);
    return 0;
}

static void wf_pulls_node_lost(wf_driver *d, wf_dnode *n, const char *why)
{
    char msg[400];
    snprintf(msg, sizeof msg, "the object was on node %s, which is lost: %s",
             n->name, why);
    for (wf_dop *op = d->pulls, *next; op; op = next) {
        next = op->next;
        if (op->node == n->id)
            wf_pull_done(d, op, WEFT_ECRASHED, msg);
    }
}

/* Start the pulls and send the frees asked for by other threads. */
static void wf_ops_start(wf_driver *d, wf_dop *ops)
{
    while (ops) {
        wf_dop *op = ops;
        ops = op->next;
        op->next = NULL;
        wf_dnode *holder = wf_dnode_of(d, op->node);
        if (op->free) {
            /* The holder drops the object, the others their copies. */
            for (size_t i = 0; i < d->nnodes; i++) {
                wf_dnode *n = d->nodes[i];
                if (!n || n->state != WF_DN_READY)
                    continue;
                wf_msg_free_item it = {op->id, n == holder ? "" : op->holder,
                                       0};
                size_t start = wf_frame_begin(&n->out, WF_MSG_FREE, 0);
                wf_proto_put_free(&n->out, &it, 1);
                wf_frame_finish(&n->out, start);
            }
            wf_free(op);
            continue;
        }
        if (!holder || holder->state != WF_DN_READY) {
            char why[200];
            snprintf(why, sizeof why,
                     "the object was on node %s, which is "
                     "lost",
                     holder ? holder->name : "?");
            op->next = d->pulls;
            d->pulls = op;
            wf_pull_done(d, op, WEFT_ECRASHED, why);
            continue;
        }
        op->seq = ++d->next_pull;
        op->next = d->pulls;
        d->pulls = op;
        size_t start = wf_frame_begin(&holder->out, WF_MSG_PULL, op->seq);
        wf_proto_put_pull(&holder->out, op->id);
        wf_frame_finish(&holder->out, start);
    }
}

static void wf_ops_push(wf_driver *d, wf_dop *op)
{
    bool first = !d->ops && !d->in_head;
    op->next = d->ops;
    d->ops = op;
    pthread_mutex_unlock(&d->lock);
    if (first)
        uv_async_send(&d->wake);
    pthread_mutex_lock(&d->lock);
}

weft_err wf_driver_fetch(wf_driver *d, uint64_t node, uint64_t id, uint64_t len,
                         void *dst)
{
    wf_dop *op = wf_calloc(1, sizeof *op);
    if (!op)
        return wf_err(WEFT_ENOMEM, "out of memory for a pull");
    op->node = node;
    op->id = id;
    op->len = len;
    op->dst = dst;
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        pthread_mutex_unlock(&d->lock);
        wf_free(op);
        return wf_err(WEFT_ESHUTDOWN, "the runtime is shutting down");
    }
    wf_ops_push(d, op);
    while (!op->done)
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
    weft_err e = op->err;
    if (e)
        wf_err(e, "%s", op->why);
    wf_free(op);
    return e;
}

void wf_driver_free_obj(wf_driver *d, uint64_t node, uint64_t id,
                        const char *holder)
{
    wf_dop *op = wf_calloc(1, sizeof *op);
    if (!op)
        return; /* the node keeps it until this driver leaves */
    op->free = true;
    op->node = node;
    op->id = id;
    snprintf(op->holder, sizeof op->holder, "%s", holder);
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        wf_free(op);
    } else {
        wf_ops_push(d, op);
    }
    pthread_mutex_unlock(&d->lock);
}

bool wf_driver_node_addr(wf_driver *d, uint64_t node, char *out, size_t cap)
{
    pthread_mutex_lock(&d->lock);
    bool ok = node >= 1 && node <= d->naddrs && d->addrs[node - 1][0];
    if (ok)
        snprintf(out, cap, "%s", d->addrs[node - 1]);
    pthread_mutex_unlock(&d->lock);
    return ok;
}

/* ------------------------------------------------------------ public */

weft_err wf_driver_start(const wf_driver_opts *o, wf_driver **out)
{
    *out = NULL;
    if (!o || !o->host || !o->token || !o->program || !o->cb.done ||
        !o->cb.lost || strlen(o->host) >= 64)
        return wf_err(WEFT_EINVAL, "driver: bad options");
    wf_driver *d = wf_calloc(1, sizeof *d);
    if (!d)
        return wf_err(WEFT_ENOMEM, "driver: out of memory");
    d->o = *o;
    snprintf(d->host, sizeof d->host, "%s", o->host);
    d->token = *o->token;
    d->program = wf_strdup(o->program);
    d->name = wf_strdup(o->name && *o->name ? o->name : "driver");
    weft_err e = 0;
    if (!d->program || !d->name) {
        e = wf_err(WEFT_ENOMEM, "driver: out of memory");
        goto fail;
    }
    for (char *p = d->name; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    if (strlen(d->name) > WF_PROG_NAME_MAX)
        d->name[WF_PROG_NAME_MAX] = '\0';
    if ((e = wf_proto_hash_file(d->program, d->hash, &d->prog_size)))
        goto fail;
    if (d->prog_size == 0 || d->prog_size > WF_PROG_MAX) {
        e = wf_err(WEFT_EINVAL, "driver: %s is %llu bytes (1..%llu)",
                   d->program, (unsigned long long)d->prog_size,
                   (unsigned long long)WF_PROG_MAX);
        goto fail;
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    uv_loop_init(&d->loop);
    uv_async_init(&d->loop, &d->wake, wf_driver_on_wake);
    d->wake.data = d;
    uv_timer_init(&d->loop, &d->poll);
    d->poll.data = d;
    uv_timer_start(&d->poll, wf_driver_on_poll, WF_DRIVER_POLL_MS,
                   WF_DRIVER_POLL_MS);
    uv_check_init(&d->loop, &d->flush);
    d->flush.data = d;
    uv_check_start(&d->flush, wf_driver_on_check);
    if (pthread_create(&d->thread, NULL, wf_driver_main, d) != 0) {
        e = wf_err(WEFT_ESYS, "driver: cannot start its thread");
        uv_close((uv_handle_t *)&d->wake, NULL);
        uv_close((uv_handle_t *)&d->poll, NULL);
        uv_close((uv_handle_t *)&d->flush, NULL);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        uv_loop_close(&d->loop);
        goto fail_sync;
    }
    d->started = true;

    /* Wait for the nodes. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WF_DRIVER_START_MS / 1000;
    pthread_mutex_lock(&d->lock);
    while (!d->start_done) {
        if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT)
            break;
    }
    if (!d->start_done) {
        d->start_done = true;
        if (d->nready == 0) {
            d->start_err = WEFT_ETIMEDOUT;
            snprintf(d->start_msg, sizeof d->start_msg,
                     "no node of the cluster at %s:%d became ready within "
                     "%d s",
                     d->host, d->o.port, WF_DRIVER_START_MS / 1000);
        }
    }
    if (d->nready > 0)
        d->start_err = 0;
    e = d->start_err;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", d->start_msg);
    pthread_mutex_unlock(&d->lock);
    if (e) {
        wf_driver_stop(d);
        return wf_err(e, "%s", msg);
    }
    *out = d;
    return 0;
fail_sync:
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
fail:
    wf_token_clear(&d->token);
    wf_free(d->program);
    wf_free(d->name);
    wf_free(d);
    return e;
}

weft_err wf_driver_submit(wf_driver *d, wf_job *job, const wf_driver_req *req)
{
    job->next = NULL;
    wf_free(job->res);
    job->res = NULL;
    bool plain = !req || (req->cpus_milli == 0 && req->ncustom == 0);
    if (!plain) {
        wf_driver_req *r = wf_alloc(sizeof *r);
        if (!r)
            return wf_err(WEFT_ENOMEM, "driver: out of memory");
        *r = *req;
        job->res = r;
    }
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        pthread_mutex_unlock(&d->lock);
        return wf_err(WEFT_ESHUTDOWN, "the runtime is shutting down");
    }
    if (!plain) {
        bool fits = false;
        for (size_t i = 0; i < d->ncaps && !fits; i++)
            fits = wf_req_fits_total(&d->caps[i], req);
        if (!fits) {
            pthread_mutex_unlock(&d->lock);
            wf_free(job->res);
            job->res = NULL;
            return wf_err(WEFT_ERESOURCE,
                          "no node of the cluster offers what it needs");
        }
    }
    bool first = !d->in_head;
    if (d->in_tail)
        d->in_tail->next = job;
    else
        d->in_head = job;
    d->in_tail = job;
    pthread_mutex_unlock(&d->lock);
    if (first)
        uv_async_send(&d->wake);
    return 0;
}

uint64_t wf_driver_stolen(wf_driver *d)
{
    return atomic_load(&d->stolen);
}

int wf_driver_nodes(wf_driver *d)
{
    pthread_mutex_lock(&d->lock);
    int n = d->nready;
    pthread_mutex_unlock(&d->lock);
    return n;
}

size_t wf_driver_caps(wf_driver *d, wf_node_resources **out)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->ncaps;
    *out = n ? wf_alloc(n * sizeof **out) : NULL;
    if (*out)
        memcpy(*out, d->caps, n * sizeof **out);
    else
        n = 0;
    pthread_mutex_unlock(&d->lock);
    return n;
}

void wf_driver_stop(wf_driver *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_mutex_unlock(&d->lock);
    uv_async_send(&d->wake);
    pthread_join(d->thread, NULL);
    /* The loop has ended: what is left was never answered. */
    uv_loop_close(&d->loop);
    while (d->pulls)
        wf_pull_done(d, d->pulls, WEFT_ESHUTDOWN,
                     "the runtime is shutting down");
    wf_job *j;
    for (size_t i = 0; i < d->table_cap; i++) {
        while ((j = d->table[i])) {
            d->table[i] = j->next;
            d->o.cb.lost(d->o.ctx, j, false, "the runtime is shutting down");
        }
    }
    while ((j = wf_q_pop(&d->plain_head, &d->plain_tail)))
        d->o.cb.lost(d->o.ctx, j, false, "the runtime is shutting down");
    while ((j = wf_q_pop(&d->resv_head, &d->resv_tail)))
        d->o.cb.lost(d->o.ctx, j, false, "the runtime is shutting down");
    while ((j = wf_q_pop(&d->in_head, &d->in_tail))) {
        if (j->route)
            wf_actor_link(d, j->route);
        if (j->stop)
            wf_free(j);
        else
            d->o.cb.lost(d->o.ctx, j, false, "the runtime is shutting down");
    }
    while (d->actors) {
        wf_dactor *a = d->actors;
        d->actors = a->next;
        wf_actor_drop_waiting(d, a, "the runtime is shutting down");
        wf_job_free(a->ctor);
        wf_free(a->req);
        wf_free(a);
    }
    for (size_t i = 0; i < d->nnodes; i++) {
        if (!d->nodes[i])
            continue;
        if (d->nodes[i]->prog_fd >= 0)
            close(d->nodes[i]->prog_fd);
        wf_wbuf_free(&d->nodes[i]->out);
        wf_free(d->nodes[i]);
    }
    wf_free(d->nodes);
    wf_free(d->table);
    wf_free(d->caps);
    wf_free(d->addrs);
    wf_free(d->chunk);
    while (d->ops) { /* frees never sent; no pull waits (callers join) */
        wf_dop *op = d->ops;
        d->ops = op->next;
        wf_free(op);
    }
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    wf_token_clear(&d->token);
    wf_free(d->program);
    wf_free(d->name);
    wf_free(d);
}
