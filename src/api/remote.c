/* Tasks and actor calls that run in worker processes: encoding a task as a
 * RUN frame, turning DONE frames back into objects, and deciding what a
 * crash means (retry, or a clear error). */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "wire/msg.h"

/* Bytes of v's data that live in a shared memory blob, if any: fd, offset
 * of the data inside the blob. The blob is marked shared: another process
 * will map it, so its pages are never reused for another object. */
static bool wf_value_in_shm(const wf_obj *o, int *fd, uint64_t *off)
{
    if (!o || !o->blob || o->blob->fd < 0)
        return false;
    o->blob->shared = true;
    const void *data = o->u.val.type == WEFT_T_ARRAY ? o->u.val.u.arr.data
                                                     : o->u.val.u.buf.data;
    *fd = o->blob->fd;
    *off = (uint64_t)((const char *)data - (const char *)o->blob->data);
    return true;
}

weft_err wf_job_encode(weft_runtime *rt, wf_task *t, int kind,
                       uint64_t actor_id, const char *name, wf_job **out)
{
    weft_value *vals = t->nargs ? wf_alloc(t->nargs * sizeof *vals) : NULL;
    wf_wire_place *place = t->nargs ? wf_calloc(t->nargs, sizeof *place) : NULL;
    char(*holders)[WF_WIRE_HOLDER_MAX + 1] =
        rt->driver && t->nargs ? wf_alloc(t->nargs * sizeof *holders) : NULL;
    uint64_t prefer = 0, prefer_len = 0;
    wf_job *job = wf_calloc(1, sizeof *job);
    weft_err e = 0;
    if ((t->nargs && (!vals || !place || (rt->driver && !holders))) || !job ||
        (t->nargs && !(job->fds = wf_calloc(t->nargs, sizeof(int))))) {
        e = wf_err(WEFT_ENOMEM, "task '%s': out of memory", t->name);
        goto fail;
    }
    for (size_t i = 0; i < t->nargs; i++) {
        wf_arg *a = &t->args[i];
        vals[i] = a->obj ? a->obj->u.val : a->v;
        uint64_t node, len;
        if (holders && a->obj &&
            wf_cluster_remote_place(rt, a->obj, &place[i], holders[i], &node,
                                    &len)) {
            if (len > prefer_len) { /* run near the largest input */
                prefer = node;
                prefer_len = len;
            }
            continue;
        }
        int fd;
        uint64_t off;
        if (!rt->driver && a->obj && vals[i].type >= WEFT_T_STR &&
            vals[i].type <= WEFT_T_ARRAY &&
            wf_value_in_shm(a->obj, &fd, &off)) {
            int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (dup < 0) {
                e = wf_err(WEFT_ESYS, "task '%s': out of file descriptors",
                           t->name);
                goto fail;
            }
            place[i].in_fd = true;
            place[i].fd_index = (uint32_t)job->nfds;
            place[i].offset = off;
            job->fds[job->nfds++] = dup;
        }
    }
    wf_msg_run m = {(wf_run_kind)kind,     actor_id, name, strlen(name),
                    t->nret ? t->nret : 1, t->nargs};
    wf_wbuf w;
    wf_wbuf_init(&w);
    if ((e = wf_msg_put_run(&w, 0, &m, vals, place))) {
        wf_wbuf_free(&w);
        e = wf_err_prefix(e, "task '%s'", t->name);
        goto fail;
    }
    job->bytes = w.data;
    job->len = w.len;
    job->owner = t;
    job->prefer = prefer;
    wf_free(vals);
    wf_free(place);
    wf_free(holders);
    *out = job;
    return 0;
fail:
    wf_free(vals);
    wf_free(place);
    wf_free(holders);
    wf_job_free(job);
    return e;
}

/* Turn a decoded value from a worker into result object o. fd-placed data is
 * mapped, not copied. */
static weft_err wf_result_set(weft_runtime *rt, wf_obj *o, wf_wire_value *wv,
                              const int *fds, size_t nfds, uint64_t node)
{
    wf_blob *blob = NULL;
    weft_err e;
    if (wv->remote) {
        if (!node || wv->holder_len)
            return wf_err(WEFT_EPROTO, "result held at '%.*s' from %s",
                          (int)wv->holder_len, wv->holder,
                          node ? "a node" : "a local worker");
        return wf_cluster_remote_result(rt, o, &wv->v, node, wv->remote_id,
                                        wv->fd_len);
    }
    if (wv->in_fd) {
        if (wv->fd_index >= nfds)
            return wf_err(WEFT_EPROTO, "result names fd %u, %zu received",
                          wv->fd_index, nfds);
        int fd = fcntl(fds[wv->fd_index], F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return wf_err(WEFT_ESYS, "out of file descriptors");
        if ((e = wf_blob_adopt_fd(rt->store, fd, wv->fd_offset + wv->fd_len,
                                  &blob))) {
            close(fd);
            return e;
        }
        if ((e = wf_wire_value_bind(wv, blob->data, blob->size))) {
            wf_blob_free(rt->store, blob);
            return e;
        }
        wf_obj_set_mapped(o, &wv->v, blob);
        return 0;
    }
    weft_value copy;
    if ((e = wf_value_copy(rt->store, &wv->v, &copy, &blob)))
        return e;
    wf_obj_set(o, &copy, blob);
    return 0;
}

/* The fds a DONE frame's values name: one past the highest index. */
static size_t wf_fds_used(const wf_wire_value *vals, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (vals[i].in_fd && vals[i].fd_index + 1 > used)
            used = vals[i].fd_index + 1;
    return used;
}

size_t wf_remote_complete(weft_runtime *rt, wf_task *t, const wf_frame *f,
                          const int *fds, size_t nfds, uint64_t node)
{
    wf_msg_done d;
    /* One more than expected, so a reply with too many values is caught
     * by the decoder instead of overflowing. */
    size_t maxv = (size_t)t->nret + 1;
    wf_wire_value *vals = wf_alloc(maxv * sizeof *vals);
    if (!vals) {
        wf_task_fail(rt, t, WEFT_ENOMEM, wf_strfmt("out of memory"));
        return 0;
    }
    weft_err e = wf_msg_get_done(f, &d, vals, maxv);
    size_t used = 0;
    if (e) {
        wf_task_fail(rt, t, WEFT_EPROTO,
                     wf_strfmt("task '%s': bad reply from worker: %s", t->name,
                               weft_last_error()));
    } else if (d.status) {
        wf_task_fail(rt, t, d.status,
                     wf_strfmt("%.*s", (int)d.message_len, d.message));
    } else if (d.nvalues != t->nret && !(t->nret == 0 && d.nvalues <= 1)) {
        wf_task_fail(rt, t, WEFT_EPROTO,
                     wf_strfmt("task '%s': worker sent %u results, expected %u",
                               t->name, d.nvalues, t->nret));
    } else {
        used = wf_fds_used(vals, t->nret);
        for (size_t i = 0; i < t->nret && !e; i++)
            e = wf_result_set(rt, wf_task_ret(t)[i], &vals[i], fds, nfds, node);
        if (e) {
            for (size_t i = 0; i < t->nret; i++) {
                wf_blob_free(rt->store, wf_task_ret(t)[i]->blob);
                wf_task_ret(t)[i]->blob = NULL;
                wf_task_ret(t)[i]->u.val.type = WEFT_T_NONE;
            }
            wf_task_fail(rt, t, e,
                         wf_strfmt("task '%s': result from worker: %s", t->name,
                                   weft_last_error()));
        } else {
            WF_COUNT(rt, finished);
            for (size_t i = 0; i < t->nret; i++)
                wf_publish(rt, wf_task_ret(t)[i]);
        }
    }
    wf_free(vals);
    return used;
}

size_t wf_remote_answer(weft_runtime *rt, wf_job *job, const wf_frame *f,
                        const int *fds, size_t nfds, uint64_t node)
{
    wf_task *t = job->owner;
    size_t used = wf_remote_complete(rt, t, f, fds, nfds, node);
    if (rt->trace)
        wf_trace_event(rt, t->name, job->sent_ns, wf_now_ns(),
                       !t->nret ||
                           wf_obj_state(wf_task_ret(t)[0]) == WF_OBJ_READY,
                       job->pid);
    return used;
}

/* ------------------------------------------------ task processes */

static size_t wf_cb_done(void *ctx, wf_job *job, const wf_frame *f,
                         const int *fds, size_t nfds)
{
    weft_runtime *rt = ctx;
    if (job->actor)
        return wf_actor_proc_done(rt, job, f, fds, nfds);
    wf_task *t = job->owner;
    size_t used = wf_remote_answer(rt, job, f, fds, nfds, 0);
    wf_job_free(job);
    wf_task_finish(rt, t);
    return used;
}

static void wf_cb_lost(void *ctx, wf_job *job, bool running, const char *why)
{
    weft_runtime *rt = ctx;
    if (job->actor) {
        wf_actor_proc_lost(rt, job, why);
        return;
    }
    wf_task *t = job->owner;
    if (running) {
        if (t->retries_left <= 0 || !rt->procs) {
            wf_task_fail(rt, t, WEFT_ECRASHED,
                         wf_strfmt("task '%s' crashed: %s (attempt %u, no "
                                   "retries left)",
                                   t->name, why, job->attempts));
            wf_job_free(job);
            wf_task_finish(rt, t);
            return;
        }
        t->retries_left--;
        WF_COUNT(rt, retried);
        WF_LOG_INFO("event=task_retry task=%s detail=\"%s\"", t->name, why);
    }
    if (wf_procs_submit(rt->procs, job) != 0) {
        wf_task_fail(rt, t, WEFT_ECRASHED,
                     wf_strfmt("task '%s' lost: %s; %s", t->name, why,
                               weft_last_error()));
        wf_job_free(job);
        wf_task_finish(rt, t);
    }
}

static bool wf_cb_actor_died(void *ctx, void *actor, const char *why)
{
    return wf_actor_proc_died(ctx, actor, why);
}

weft_err wf_remote_procs(weft_runtime *rt)
{
    pthread_mutex_lock(&rt->admit_lock);
    if (!rt->procs) {
        static const wf_procs_cb cb = {wf_cb_done, wf_cb_lost,
                                       wf_cb_actor_died};
        rt->procs = wf_procs_new(rt->nprocs, rt->worker_library, &cb, rt);
    }
    pthread_mutex_unlock(&rt->admit_lock);
    return rt->procs ? 0 : wf_err(WEFT_ESYS, "cannot set up worker processes");
}

void wf_remote_dispatch(weft_runtime *rt, wf_task *t)
{
    weft_err e = 0;
    wf_job *job = NULL;
    if (wf_task_fail_upstream(rt, t)) {
        wf_task_finish(rt, t);
        return;
    }
    if ((e = wf_remote_procs(rt)) ||
        (e = wf_job_encode(rt, t, WF_RUN_TASK, 0, t->fn->name, &job)) ||
        (e = wf_procs_submit(rt->procs, job))) {
        wf_job_free(job);
        wf_task_fail(
            rt, t, e,
            wf_strfmt("task '%s' not run: %s", t->name, weft_last_error()));
        wf_task_finish(rt, t);
    }
}
