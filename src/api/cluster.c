/* Driver mode: a program given an address runs its tasks on the cluster's
 * nodes. Tasks are built, wired and completed exactly as in embedded mode;
 * only a ready task goes to the cluster driver (cluster/driver.h) instead
 * of a local thread or process, and comes back through the same
 * completion path as a worker process's answer. */
#include <errno.h>
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
#include "net/conn.h"
#include "wire/msg.h"

static size_t wf_cl_done(void *ctx, wf_job *job, const wf_frame *f,
                         const int *fds, size_t nfds)
{
    weft_runtime *rt = ctx;
    if (job->actor)
        return wf_actor_proc_done(rt, job, f, fds, nfds);
    wf_task *t = job->owner;
    size_t used = wf_remote_complete(rt, t, f, fds, nfds, (uint64_t)job->pid);
    if (rt->trace)
        wf_trace_event(rt, t->name, job->sent_ns, wf_now_ns(),
                       !t->nret ||
                           wf_obj_state(wf_task_ret(t)[0]) == WF_OBJ_READY,
                       job->pid);
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

/* The driver's req for t (false: t reserves nothing). */
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
    wf_driver_req req;
    bool resv = wf_cl_req(rt, t, &req);
    if (wf_driver_submit(rt->driver, job, resv ? &req : NULL) != 0)
        wf_cl_fail(rt, t, job, WEFT_ECRASHED,
                   wf_strfmt("task '%s' lost: %s; %s", t->name, why,
                             weft_last_error()));
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

/* A result whose bytes stay on the node that made it (wf_blob.ext). */
typedef struct wf_cl_robj {
    weft_runtime *rt;
    uint64_t node, id, len;
    char holder[WF_WIRE_HOLDER_MAX + 1];
    pthread_mutex_t lock; /* one fetch at a time */
} wf_cl_robj;

static void wf_cl_robj_free(void *p)
{
    wf_cl_robj *r = p;
    if (r->rt->driver) /* NULL at shutdown: the nodes drop everything */
        wf_driver_free_obj(r->rt->driver, r->node, r->id, r->holder);
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
    r->node = node;
    r->id = id;
    r->len = len;
    pthread_mutex_init(&r->lock, NULL);
    b->fd = -1;
    b->size = (size_t)len;
    b->ext = r;
    b->ext_free = wf_cl_robj_free;
    wf_obj_set_mapped(o, v, b); /* data NULL until fetched */
    return 0;
}

bool wf_cluster_remote_place(weft_runtime *rt, const wf_obj *o,
                             wf_wire_place *place, char *holder, uint64_t *node,
                             uint64_t *len)
{
    if (!rt->driver || !o->blob || o->blob->ext_free != wf_cl_robj_free)
        return false;
    const wf_cl_robj *r = o->blob->ext;
    memcpy(holder, r->holder, sizeof r->holder);
    *place =
        (wf_wire_place){.remote = true, .remote_id = r->id, .holder = holder};
    *node = r->node;
    *len = r->len;
    return true;
}

weft_err wf_cluster_fetch(weft_runtime *rt, wf_obj *o)
{
    wf_blob *b = o->blob;
    if (!b || b->ext_free != wf_cl_robj_free)
        return 0;
    wf_cl_robj *r = b->ext;
    weft_err e = 0;
    pthread_mutex_lock(&r->lock);
    if (!b->data && r->len) {
        int fd = wf_shm_create("weft-fetched", (size_t)r->len);
        if (fd < 0) {
            e = wf_err(WEFT_ESYS, "no memory for a %llu-byte object",
                       (unsigned long long)r->len);
        } else if (!rt->driver) {
            close(fd);
            e = wf_err(WEFT_ESHUTDOWN, "the runtime is shutting down");
        } else if ((e = wf_driver_fetch(rt->driver, r->node, r->id, r->len,
                                        fd))) {
            close(fd);
        } else {
            void *p = mmap(NULL, (size_t)r->len, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) {
                e = wf_err(WEFT_ESYS, "cannot map a fetched object: %s",
                           strerror(errno));
                close(fd);
            } else {
                b->fd = fd;
                b->mapped = (size_t)r->len;
                b->readonly = true;
                if (o->u.val.type == WEFT_T_ARRAY)
                    o->u.val.u.arr.data = p;
                else
                    o->u.val.u.buf.data = p;
                atomic_thread_fence(memory_order_release);
                b->data = p;
            }
        }
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
    if (wf_token_load(path, &token))
        return wf_err(WEFT_EINVAL,
                      "weft_init: cluster %s: cannot use token file %s (set "
                      "WEFT_TOKEN_FILE or options.token_file): %s",
                      address, path, weft_last_error());
    wf_cl_name(name, sizeof name);
    wf_driver_opts o = {
        .host = host,
        .port = port,
        .token = &token,
        .program = rt->worker_library ? rt->worker_library : "/proc/self/exe",
        .kind = rt->worker_library ? WF_PROG_LIB : WF_PROG_EXE,
        .name = name,
        .cb = {wf_cl_done, wf_cl_lost, wf_cl_actor_died},
        .ctx = rt,
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
