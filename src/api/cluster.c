/* Driver mode: a program given an address runs its tasks on the cluster's
 * nodes. Tasks are built, wired and completed exactly as in embedded mode;
 * only a ready task goes to the cluster driver (cluster/driver.h) instead
 * of a local thread or process, and comes back through the same
 * completion path as a worker process's answer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "cluster/driver.h"
#include "cluster/proto.h"
#include "net/conn.h"
#include "net/tls.h"
#include "wire/msg.h"

typedef struct wf_lineage wf_lineage;
static void wf_lineage_answer(weft_runtime *rt, wf_job *job, const wf_frame *f);
static void wf_lineage_record(weft_runtime *rt, wf_task *t, const wf_job *job);
static void wf_lineage_lost(weft_runtime *rt, wf_job *job);
static void wf_lineage_done(weft_runtime *rt, wf_lineage *lin, bool ok);
static bool wf_cluster_park(weft_runtime *rt, wf_task *t);

static size_t wf_cl_done(void *ctx, wf_job *job, const wf_frame *f,
                         const int *fds, size_t nfds)
{
    weft_runtime *rt = ctx;
    if (job->actor)
        return wf_actor_proc_done(rt, job, f, fds, nfds);
    if (job->rerun) {
        wf_lineage_answer(rt, job, f);
        return 0;
    }
    wf_task *t = job->owner;
    size_t used = wf_remote_answer(rt, job, f, fds, nfds, (uint64_t)job->pid);
    wf_lineage_record(rt, t, job);
    wf_job_free(job);
    wf_task_finish(rt, t);
    return used;
}

static void wf_cl_fail(weft_runtime *rt, wf_task *t, wf_job *job, weft_err code,
                       char *msg)
{
    wf_task_fail(rt, t, code, msg);
    wf_job_free(job);
    wf_task_finish(rt, t);
}

/* The driver's req for t (false: t reserves nothing). t->res stays set
 * (a retry reserves the same) even after needs_admit is cleared. */
static bool wf_cl_req(weft_runtime *rt, const wf_task *t, wf_driver_req *r)
{
    memset(r, 0, sizeof *r);
    if (!t->res)
        return false;
    r->cpus_milli = t->res->cpus > 0 ? (uint64_t)t->res->cpus : 1;
    for (int k = 0; t->res->has_custom && k < rt->ncustom; k++) {
        if (!t->res->custom[k])
            continue;
        r->custom[r->ncustom].name = rt->custom_name[k];
        r->custom[r->ncustom++].milli = t->res->custom[k];
    }
    return true;
}

static void wf_cl_lost(void *ctx, wf_job *job, bool running, const char *why)
{
    weft_runtime *rt = ctx;
    if (job->actor) {
        wf_actor_proc_lost(rt, job, why);
        return;
    }
    if (job->rerun) {
        if (running) {
            wf_lineage_lost(rt, job);
        } else {
            wf_lineage *lin = job->rerun;
            wf_job_free(job);
            wf_lineage_done(rt, lin, false);
        }
        return;
    }
    wf_task *t = job->owner;
    if (!running) {
        wf_cl_fail(rt, t, job, WEFT_ESHUTDOWN,
                   wf_strfmt("task '%s' not run: %s", t->name, why));
        return;
    }
    if (t->retries_left <= 0) {
        wf_cl_fail(rt, t, job, WEFT_ECRASHED,
                   wf_strfmt("task '%s' crashed: %s (attempt %u, no retries "
                             "left)",
                             t->name, why, job->attempts));
        return;
    }
    t->retries_left--;
    WF_COUNT(rt, retried);
    WF_LOG_INFO("event=task_retry task=%s detail=\"%s\"", t->name, why);
    /* Encoded afresh: an argument's holder may have died with the node,
     * and then the task waits for it to be made again. */
    wf_job_free(job);
    wf_cluster_dispatch(rt, t);
}

static bool wf_cl_actor_died(void *ctx, void *actor, const char *why)
{
    return wf_actor_proc_died(ctx, actor, why);
}

weft_err wf_cluster_actor_req(weft_runtime *rt, double cpus,
                              const char *resources, const char *what,
                              wf_driver_req *r)
{
    memset(r, 0, sizeof *r);
    r->cpus_milli = cpus > 0 ? (uint64_t)(cpus * 1000 + 0.5) : 0;
    if (!resources || !*resources)
        return 0;
    uint64_t amounts[WF_MAX_CUSTOM] = {0};
    weft_err e = wf_parse_resources(rt, resources, false, amounts, what);
    if (e)
        return e;
    for (int k = 0; k < rt->ncustom; k++) {
        if (!amounts[k])
            continue;
        r->custom[r->ncustom].name = rt->custom_name[k];
        r->custom[r->ncustom++].milli = amounts[k];
    }
    return 0;
}

void wf_cluster_dispatch(weft_runtime *rt, wf_task *t)
{
    /* Resources are reserved on the node, not here. */
    wf_driver_req req;
    bool resv = wf_cl_req(rt, t, &req);
    t->needs_admit = false;
    if (wf_task_fail_upstream(rt, t)) {
        wf_task_finish(rt, t);
        return;
    }
    if (wf_cluster_park(rt, t))
        return; /* an argument is being made again (or cannot be) */
    wf_job *job = NULL;
    weft_err e = wf_job_encode(rt, t, WF_RUN_TASK, 0, t->fn->name, &job);
    if (!e)
        e = wf_driver_submit(rt->driver, job, resv ? &req : NULL);
    if (e)
        wf_cl_fail(
            rt, t, job, e,
            wf_strfmt("task '%s' not run: %s", t->name, weft_last_error()));
}

/* ------------------------------------------------ objects on nodes */

/* How a task's results held on nodes can be made again (wf_lineage): its
 * RUN and the objects its arguments were (pinned), shared by those
 * results. */

/* A result whose bytes stay on the node that made it (wf_blob.ext). The
 * fields a re-run changes (node, id, holder, lost) are under rt->cl_lock. */
typedef struct wf_cl_robj {
    weft_runtime *rt;
    uint64_t node, id, len;
    int fd; /* the fetched copy's memfd (the blob's), or -1 */
    char holder[WF_WIRE_HOLDER_MAX + 1];
    bool lost;                      /* its node is gone */
    wf_lineage *lineage;            /* NULL: cannot be made again */
    uint32_t index;                 /* which result of the lineage's task */
    pthread_mutex_t lock;           /* one fetch at a time */
    struct wf_cl_robj *prev, *next; /* rt->cl_objs */
} wf_cl_robj;

/* Something waiting for a lineage's re-run: a task to dispatch again, or
 * another lineage whose re-run needs this one's result. */
typedef struct wf_lwait {
    wf_task *task;
    wf_lineage *lin;
    struct wf_lwait *next;
} wf_lwait;

struct wf_lineage {
    int refs;    /* result records holding it (under cl_lock) */
    wf_job *job; /* the original RUN (owner NULL) */
    uint32_t nargs, nret;
    wf_obj **deps;     /* per argument: the object (pinned) or NULL */
    wf_cl_robj **outs; /* per result: its record, NULL once freed */
    int reruns_left;
    bool running;       /* a re-run is queued or under way */
    uint32_t deps_lost; /* lost arguments still being made again */
    wf_lwait *waiters;
    struct wf_lineage *snext; /* on a list of re-runs to submit */
};

#define WF_LINEAGE_RERUNS 3 /* times one task's results are made again */

static void wf_cl_robj_free(void *p);

/* The record of o's bytes on a node, or NULL. */
static wf_cl_robj *wf_cl_robj_of(const wf_obj *o)
{
    return o && o->blob && o->blob->ext_free == wf_cl_robj_free ? o->blob->ext
                                                                : NULL;
}

/* Drop one result's hold on lin (cl_lock held); frees it with the last. */
static void wf_lineage_unref(weft_runtime *rt, wf_lineage *lin)
{
    if (--lin->refs > 0)
        return;
    for (uint32_t i = 0; i < lin->nargs; i++)
        if (lin->deps[i] && rt->driver) /* at shutdown the store goes whole */
            wf_store_unpin(rt->store, lin->deps[i]);
    while (lin->waiters) {
        wf_lwait *w = lin->waiters;
        lin->waiters = w->next;
        wf_free(w);
    }
    wf_job_free(lin->job);
    wf_free(lin->deps);
    wf_free(lin->outs);
    wf_free(lin);
}

/* Keep (a duplicate of) a fetched copy's memfd for the next fetch, while
 * the pool has room; its pages are already the process's. */
static void wf_cl_pool_put(weft_runtime *rt, int fd, uint64_t cap)
{
    if (cap < WF_KEEP_MIN || rt->cl_npool >= WF_CL_POOL_FDS ||
        rt->cl_pool_bytes + cap > WF_CL_POOL_BYTES)
        return;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return;
    rt->cl_pool[rt->cl_npool].fd = dup;
    rt->cl_pool[rt->cl_npool++].cap = cap;
    rt->cl_pool_bytes += cap;
}

/* A memfd of len bytes: a pooled one not much larger (cut to len), or
 * new. -1 with errno set on failure. */
static int wf_cl_pool_get(weft_runtime *rt, uint64_t len)
{
    pthread_mutex_lock(&rt->cl_lock);
    int best = -1;
    for (int i = 0; i < rt->cl_npool; i++)
        if (rt->cl_pool[i].cap >= len && rt->cl_pool[i].cap / 2 <= len &&
            (best < 0 || rt->cl_pool[i].cap < rt->cl_pool[best].cap))
            best = i;
    int fd = -1;
    if (best >= 0) {
        fd = rt->cl_pool[best].fd;
        rt->cl_pool_bytes -= rt->cl_pool[best].cap;
        rt->cl_pool[best] = rt->cl_pool[--rt->cl_npool];
    }
    pthread_mutex_unlock(&rt->cl_lock);
    if (fd >= 0 && ftruncate(fd, (off_t)len) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return wf_shm_create("weft-fetched", (size_t)len);
}

static void wf_cl_robj_free(void *p)
{
    wf_cl_robj *r = p;
    weft_runtime *rt = r->rt;
    if (rt->driver && !r->lost) /* NULL at shutdown: nodes drop everything */
        wf_driver_free_obj(rt->driver, r->node, r->id, r->holder);
    pthread_mutex_lock(&rt->cl_lock);
    if (r->fd >= 0 && rt->driver)
        wf_cl_pool_put(rt, r->fd, r->len);
    if (r->prev)
        r->prev->next = r->next;
    else
        rt->cl_objs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->lineage) {
        r->lineage->outs[r->index] = NULL;
        wf_lineage_unref(rt, r->lineage);
    }
    pthread_mutex_unlock(&rt->cl_lock);
    pthread_mutex_destroy(&r->lock);
    wf_free(r);
}

weft_err wf_cluster_remote_result(weft_runtime *rt, wf_obj *o,
                                  const weft_value *v, uint64_t node,
                                  uint64_t id, uint64_t len)
{
    wf_cl_robj *r = wf_calloc(1, sizeof *r);
    wf_blob *b = wf_calloc(1, sizeof *b);
    if (!r || !b || !rt->driver ||
        !wf_driver_node_addr(rt->driver, node, r->holder, sizeof r->holder)) {
        wf_free(r);
        wf_free(b);
        return wf_err(WEFT_ENOMEM, "no memory (or no address) for an object "
                                   "held on a node");
    }
    r->rt = rt;
    r->fd = -1;
    r->node = node;
    r->id = id;
    r->len = len;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_lock(&rt->cl_lock);
    r->next = rt->cl_objs;
    if (r->next)
        r->next->prev = r;
    rt->cl_objs = r;
    pthread_mutex_unlock(&rt->cl_lock);
    b->fd = -1;
    b->size = (size_t)len;
    b->ext = r;
    b->ext_free = wf_cl_robj_free;
    wf_obj_set_mapped(o, v, b); /* data NULL until fetched */
    return 0;
}

/* t just completed with results held on nodes: remember how to make them
 * again (its RUN in job, its arguments pinned). */
static void wf_lineage_record(weft_runtime *rt, wf_task *t, const wf_job *job)
{
    bool any = false;
    for (uint32_t i = 0; i < t->nret && !any; i++)
        any = wf_cl_robj_of(wf_task_ret(t)[i]) != NULL;
    if (!any)
        return;
    wf_lineage *lin = wf_calloc(1, sizeof *lin);
    if (lin) {
        lin->job = wf_job_clone(job);
        lin->deps = wf_calloc(t->nargs + 1, sizeof *lin->deps);
        lin->outs = wf_calloc(t->nret + 1, sizeof *lin->outs);
    }
    if (!lin || !lin->job || !lin->deps || !lin->outs) {
        if (lin) {
            wf_job_free(lin->job);
            wf_free(lin->deps);
            wf_free(lin->outs);
        }
        wf_free(lin);
        return; /* those results just cannot be made again */
    }
    lin->job->owner = NULL;
    lin->job->res = NULL;
    lin->nargs = t->nargs;
    lin->nret = t->nret;
    lin->reruns_left = WF_LINEAGE_RERUNS;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].obj) {
            wf_obj_pin(t->args[i].obj);
            lin->deps[i] = t->args[i].obj;
        }
    }
    pthread_mutex_lock(&rt->cl_lock);
    for (uint32_t i = 0; i < t->nret; i++) {
        wf_cl_robj *r = wf_cl_robj_of(wf_task_ret(t)[i]);
        if (!r)
            continue;
        r->lineage = lin;
        r->index = i;
        lin->outs[i] = r;
        lin->refs++;
    }
    pthread_mutex_unlock(&rt->cl_lock);
}

static void wf_cl_node_lost(void *ctx, uint64_t node)
{
    weft_runtime *rt = ctx;
    pthread_mutex_lock(&rt->cl_lock);
    for (wf_cl_robj *r = rt->cl_objs; r; r = r->next)
        if (r->node == node)
            r->lost = true;
    pthread_mutex_unlock(&rt->cl_lock);
}

static void wf_lineage_submit(weft_runtime *rt, wf_lineage *lin);

/* Start making lin's results again unless under way (cl_lock held).
 * Returns false when it cannot be (re-runs used up). A lineage whose own
 * arguments were lost first waits for theirs, recursively. */
static bool wf_lineage_start(weft_runtime *rt, wf_lineage *lin,
                             wf_lineage **submit)
{
    if (lin->running)
        return true;
    if (lin->reruns_left <= 0)
        return false;
    lin->reruns_left--;
    lin->running = true;
    lin->deps_lost = 0;
    for (uint32_t i = 0; i < lin->nargs; i++) {
        wf_cl_robj *d = wf_cl_robj_of(lin->deps[i]);
        if (!d || !d->lost)
            continue;
        wf_lwait *w = wf_calloc(1, sizeof *w);
        if (!d->lineage || !w || !wf_lineage_start(rt, d->lineage, submit)) {
            wf_free(w);
            lin->running = false;
            lin->reruns_left = 0;
            return false;
        }
        w->lin = lin;
        w->next = d->lineage->waiters;
        d->lineage->waiters = w;
        lin->deps_lost++;
    }
    if (lin->deps_lost == 0) { /* ready: the caller submits it unlocked */
        lin->snext = *submit;
        *submit = lin;
    }
    return true;
}

/* Re-encode lin's RUN with where its arguments are now and send it. */
static void wf_lineage_submit(weft_runtime *rt, wf_lineage *lin)
{
    wf_frame f;
    wf_msg_run m;
    wf_wire_value *args = wf_alloc((lin->nargs + 1) * sizeof *args);
    weft_value *vals = wf_alloc((lin->nargs + 1) * sizeof *vals);
    wf_wire_place *place = wf_calloc(lin->nargs + 1, sizeof *place);
    char(*holders)[WF_WIRE_HOLDER_MAX + 1] =
        wf_alloc((lin->nargs + 1) * sizeof *holders);
    wf_job *job = wf_calloc(1, sizeof *job);
    wf_wbuf w;
    wf_wbuf_init(&w);
    bool ok = args && vals && place && holders && job &&
              wf_frame_parse(lin->job->bytes, lin->job->len, &f) == 0 &&
              wf_msg_get_run(&f, &m, args, lin->nargs + 1) == 0;
    pthread_mutex_lock(&rt->cl_lock);
    for (uint32_t i = 0; ok && i < m.nargs; i++) {
        vals[i] = args[i].v;
        wf_cl_robj *d = wf_cl_robj_of(lin->deps[i]);
        if (d) {
            memcpy(holders[i], d->holder, sizeof holders[i]);
            place[i] = (wf_wire_place){
                .remote = true, .remote_id = d->id, .holder = holders[i]};
        }
    }
    pthread_mutex_unlock(&rt->cl_lock);
    ok = ok && wf_msg_put_run(&w, 0, &m, vals, place) == 0;
    wf_free(args);
    wf_free(vals);
    wf_free(place);
    wf_free(holders);
    if (ok) {
        job->bytes = w.data;
        job->len = w.len;
        job->rerun = lin;
        WF_LOG_WARN("event=lineage_rerun task=%.*s", (int)m.name_len, m.name);
        if (wf_driver_submit(rt->driver, job, NULL) == 0)
            return;
    } else {
        wf_wbuf_free(&w);
    }
    wf_job_free(job);
    wf_lineage_done(rt, lin, false);
}

/* lin's re-run ended (ok: its results are on nodes again): wake what
 * waited, re-dispatching tasks and starting lineages now complete. */
static void wf_lineage_done(weft_runtime *rt, wf_lineage *lin, bool ok)
{
    pthread_mutex_lock(&rt->cl_lock);
    lin->running = false;
    if (!ok)
        lin->reruns_left = 0;
    wf_lwait *w = lin->waiters;
    lin->waiters = NULL;
    pthread_cond_broadcast(&rt->cl_cond);
    pthread_mutex_unlock(&rt->cl_lock);
    while (w) {
        wf_lwait *next = w->next;
        if (w->task) {
            wf_cluster_dispatch(rt, w->task); /* fails clearly if still lost */
        } else if (!ok) {
            wf_lineage_done(rt, w->lin, false);
        } else {
            pthread_mutex_lock(&rt->cl_lock);
            bool go = --w->lin->deps_lost == 0;
            pthread_mutex_unlock(&rt->cl_lock);
            if (go)
                wf_lineage_submit(rt, w->lin);
        }
        wf_free(w);
        w = next;
    }
}

/* A re-run answered: its results are where it ran now. */
static void wf_lineage_answer(weft_runtime *rt, wf_job *job, const wf_frame *f)
{
    wf_lineage *lin = job->rerun;
    wf_msg_done d;
    wf_wire_value *vals = wf_alloc((lin->nret + 1) * sizeof *vals);
    char holder[WF_WIRE_HOLDER_MAX + 1];
    bool ok = vals && wf_msg_get_done(f, &d, vals, lin->nret + 1) == 0 &&
              d.status == 0 && d.nvalues == lin->nret &&
              wf_driver_node_addr(rt->driver, (uint64_t)job->pid, holder,
                                  sizeof holder);
    pthread_mutex_lock(&rt->cl_lock);
    for (uint32_t i = 0; ok && i < lin->nret; i++) {
        wf_cl_robj *r = lin->outs[i];
        if (!r)
            continue; /* released meanwhile */
        if (!vals[i].remote || vals[i].fd_len != r->len) {
            ok = false; /* not the same result as before */
            break;
        }
        r->node = (uint64_t)job->pid;
        r->id = vals[i].remote_id;
        memcpy(r->holder, holder, sizeof holder);
        r->lost = false;
    }
    pthread_mutex_unlock(&rt->cl_lock);
    if (!ok)
        WF_LOG_WARN("event=lineage_failed detail=\"the re-run did not give "
                    "back the same results\"");
    wf_free(vals);
    wf_job_free(job);
    wf_lineage_done(rt, lin, ok);
}

/* A re-run was lost with its node: again, while re-runs are left. */
static void wf_lineage_lost(weft_runtime *rt, wf_job *job)
{
    wf_lineage *lin = job->rerun;
    wf_job_free(job);
    pthread_mutex_lock(&rt->cl_lock);
    bool again = lin->reruns_left > 0;
    if (again)
        lin->reruns_left--;
    pthread_mutex_unlock(&rt->cl_lock);
    if (again)
        wf_lineage_submit(rt, lin);
    else
        wf_lineage_done(rt, lin, false);
}

/* Submit every lineage on the list start made (outside cl_lock). */
static void wf_lineage_submit_all(weft_runtime *rt, wf_lineage *list)
{
    while (list) {
        wf_lineage *next = list->snext;
        list->snext = NULL;
        wf_lineage_submit(rt, list);
        list = next;
    }
}

/* If an argument of t is an object lost with its node, park t until it is
 * made again (or fail t when it cannot be) and return true. */
static bool wf_cluster_park(weft_runtime *rt, wf_task *t)
{
    pthread_mutex_lock(&rt->cl_lock);
    for (uint32_t i = 0; i < t->nargs; i++) {
        wf_cl_robj *r = wf_cl_robj_of(t->args[i].obj);
        if (!r || !r->lost)
            continue;
        wf_lineage *list = NULL;
        wf_lwait *w = wf_calloc(1, sizeof *w);
        if (!w || !r->lineage || !wf_lineage_start(rt, r->lineage, &list)) {
            char node[WF_WIRE_HOLDER_MAX + 1];
            memcpy(node, r->holder, sizeof node);
            bool made = r->lineage != NULL;
            pthread_mutex_unlock(&rt->cl_lock);
            wf_free(w);
            wf_task_fail(rt, t, WEFT_ECRASHED,
                         wf_strfmt("task '%s' not run: its argument %u was "
                                   "held only by the node at %s, which is "
                                   "lost, and %s",
                                   t->name, i, node,
                                   made ? "could not be made again"
                                        : "was not made by a task"));
            wf_task_finish(rt, t);
            return true;
        }
        w->task = t;
        w->next = r->lineage->waiters;
        r->lineage->waiters = w;
        pthread_mutex_unlock(&rt->cl_lock);
        wf_lineage_submit_all(rt, list);
        return true;
    }
    pthread_mutex_unlock(&rt->cl_lock);
    return false;
}

bool wf_cluster_remote_place(weft_runtime *rt, const wf_obj *o,
                             wf_wire_place *place, char *holder, uint64_t *node,
                             uint64_t *len)
{
    wf_cl_robj *r = rt->driver ? wf_cl_robj_of(o) : NULL;
    if (!r)
        return false;
    pthread_mutex_lock(&rt->cl_lock);
    memcpy(holder, r->holder, sizeof r->holder);
    *place =
        (wf_wire_place){.remote = true, .remote_id = r->id, .holder = holder};
    *node = r->node;
    *len = r->len;
    pthread_mutex_unlock(&rt->cl_lock);
    return true;
}

/* Make r's bytes available on a node again if they were lost (blocks). */
static weft_err wf_cluster_rebuild(weft_runtime *rt, wf_cl_robj *r)
{
    pthread_mutex_lock(&rt->cl_lock);
    while (r->lost) {
        wf_lineage *list = NULL;
        if (!r->lineage || !wf_lineage_start(rt, r->lineage, &list)) {
            bool made = r->lineage != NULL;
            pthread_mutex_unlock(&rt->cl_lock);
            return wf_err(WEFT_ECRASHED,
                          "it was held only by the node at %s, which is "
                          "lost, and %s",
                          r->holder,
                          made ? "could not be made again"
                               : "was not made by a task");
        }
        pthread_mutex_unlock(&rt->cl_lock);
        wf_lineage_submit_all(rt, list);
        pthread_mutex_lock(&rt->cl_lock);
        while (r->lost && r->lineage->running)
            pthread_cond_wait(&rt->cl_cond, &rt->cl_lock);
    }
    pthread_mutex_unlock(&rt->cl_lock);
    return 0;
}

weft_err wf_cluster_fetch(weft_runtime *rt, wf_obj *o)
{
    wf_blob *b = o->blob;
    wf_cl_robj *r = wf_cl_robj_of(o);
    if (!r)
        return 0;
    weft_err e = 0;
    pthread_mutex_lock(&r->lock);
    for (int attempt = 0; !b->data && r->len && attempt < 3; attempt++) {
        if ((e = wf_cluster_rebuild(rt, r)))
            break;
        pthread_mutex_lock(&rt->cl_lock);
        uint64_t node = r->node, id = r->id;
        pthread_mutex_unlock(&rt->cl_lock);
        int fd = wf_cl_pool_get(rt, r->len);
        if (fd < 0) {
            e = wf_err(WEFT_ESYS, "no memory for a %llu-byte object",
                       (unsigned long long)r->len);
            break;
        }
        if (!rt->driver) {
            close(fd);
            e = wf_err(WEFT_ESHUTDOWN, "the runtime is shutting down");
            break;
        }
        /* Populated at once: faulting 4 KiB at a time as chunks land
         * costs more than the copy. */
        void *p = mmap(NULL, (size_t)r->len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) {
            e = wf_err(WEFT_ESYS, "cannot map a fetched object: %s",
                       strerror(errno));
            close(fd);
            break;
        }
        if ((e = wf_driver_fetch(rt->driver, node, id, r->len, p))) {
            munmap(p, (size_t)r->len);
            close(fd);
            continue; /* lost meanwhile? then made again, and again */
        }
        mprotect(p, (size_t)r->len, PROT_READ); /* objects are immutable */
        r->fd = fd;
        b->fd = fd;
        b->mapped = (size_t)r->len;
        b->readonly = true;
        if (o->u.val.type == WEFT_T_ARRAY)
            o->u.val.u.arr.data = p;
        else
            o->u.val.u.buf.data = p;
        atomic_thread_fence(memory_order_release);
        b->data = p;
        e = 0;
    }
    pthread_mutex_unlock(&r->lock);
    return e;
}

/* The token file: opts, $WEFT_TOKEN_FILE, or the session's. */
static void wf_cl_token_path(const weft_options *opts, char *buf, size_t cap)
{
    const char *p =
        opts && opts->token_file ? opts->token_file : getenv("WEFT_TOKEN_FILE");
    const char *session = getenv("WEFT_SESSION_DIR");
    if (p && *p)
        snprintf(buf, cap, "%s", p);
    else if (session && *session)
        snprintf(buf, cap, "%s/token", session);
    else
        snprintf(buf, cap, "/tmp/weft-%u/token", (unsigned)getuid());
}

/* This program's name, for the nodes' logs. */
static void wf_cl_name(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(exe, '/');
    const char *name = base ? base + 1 : n > 0 ? exe : "driver";
    size_t len = strnlen(name, cap - 1);
    memcpy(buf, name, len);
    buf[len] = '\0';
}

weft_err wf_cluster_connect(weft_runtime *rt, const weft_options *opts,
                            const char *address)
{
    char host[64], path[PATH_MAX], name[128];
    int port;
    if (!wf_net_split_addr(address, host, sizeof host, &port))
        return wf_err(WEFT_EINVAL,
                      "weft_init: bad cluster address '%s' (want HOST:PORT)",
                      address);
    wf_cl_token_path(opts, path, sizeof path);
    static wf_token token; /* large; cleared after use */
    if (wf_token_load(path, &token)) {
        char why[512]; /* the detail, before wf_err writes over it */
        snprintf(why, sizeof why, "%s", weft_last_error());
        return wf_err(WEFT_EINVAL,
                      "weft_init: cluster %s: cannot use token file %s (set "
                      "WEFT_TOKEN_FILE or options.token_file): %s",
                      address, path, why);
    }
    wf_cl_name(name, sizeof name);
    wf_driver_opts o = {
        .tls = wf_tls_wanted(path), /* this runtime's, not the process's */
        .host = host,
        .port = port,
        .token = &token,
        .program = rt->worker_library ? rt->worker_library : "/proc/self/exe",
        .kind = rt->worker_library ? WF_PROG_LIB : WF_PROG_EXE,
        .name = name,
        .cb = {wf_cl_done, wf_cl_lost, wf_cl_actor_died},
        .ctx = rt,
        .node_lost = wf_cl_node_lost,
    };
    weft_err e = wf_driver_start(&o, &rt->driver);
    wf_token_clear(&token);
    if (e)
        return wf_err_prefix(e, "weft_init");
    /* Requests are checked against what one node of the cluster offers. */
    wf_node_resources *caps;
    size_t n = wf_driver_caps(rt->driver, &caps);
    int64_t cpus = 0;
    uint64_t mem = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int64_t)caps[i].cpus_milli > cpus)
            cpus = (int64_t)caps[i].cpus_milli;
        if (caps[i].memory_bytes > mem)
            mem = caps[i].memory_bytes;
        for (uint32_t k = 0; k < caps[i].ncustom; k++) {
            const wf_node_resource *c = &caps[i].custom[k];
            int j = 0;
            while (j < rt->ncustom && strcmp(rt->custom_name[j], c->name))
                j++;
            if (j == rt->ncustom) {
                if (j == WF_MAX_CUSTOM ||
                    !(rt->custom_name[j] = wf_strdup(c->name)))
                    continue;
                rt->custom_total[j] = 0;
                rt->ncustom++;
            }
            if (c->milli > rt->custom_total[j])
                rt->custom_total[j] = rt->custom_free[j] = c->milli;
        }
    }
    wf_free(caps);
    rt->cpus_total = cpus;
    rt->mem_total = rt->mem_free = mem;
    WF_LOG_INFO("event=driver address=%s nodes=%d", address,
                wf_driver_nodes(rt->driver));
    return 0;
}
