/* Actors: a stateful instance whose calls run one at a time, in the order
 * they were made. Each actor has a mailbox of call records in call order;
 * the head runs when its arguments are ready, and the thread that finishes
 * a call goes straight on to the next ready one (a "turn"), handing the
 * actor back to the pool after a batch so that many actors share the
 * threads fairly. */
#include <stdio.h>
#include <string.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/driver.h"
#include "wire/msg.h"

#define WF_MAX_ACTORS 65536
#define WF_TURN_BATCH 64

typedef struct wf_actor {
    const wf_class *cls;
    pthread_mutex_t lock;
    wf_task *mail_head, *mail_tail; /* calls not yet run, in call order */
    bool running;                   /* a turn is queued or running */
    /* Set once, under lock, after death and death_code (which never change
     * again): a reader that sees it set with acquire may read them. */
    _Atomic bool dead;
    bool destroyed;
    char *death; /* why calls fail once dead */
    weft_err death_code;
    void *state;
    char *name;
    uint32_t gen;
    uint64_t handle;
    /* Process actors: the instance lives in a worker process of its own. */
    bool in_proc;
    bool pumping, pump_again; /* one thread sends calls at a time */
    wf_proc *proc;
    int32_t restarts_left, restarts;
    /* Driver mode: the actor lives on a node of the cluster. */
    wf_dactor *dactor;
    wf_driver_req *req; /* what it holds there (NULL: nothing) */
} wf_actor;

struct wf_actors {
    pthread_mutex_t lock;
    wf_actor *slot[WF_MAX_ACTORS];
    _Atomic uint32_t n;
};

/* Mark a dead with code and msg (taken) unless it already is; the caller
 * holds a->lock. Returns whether this call killed it. */
static bool wf_actor_die(wf_actor *a, weft_err code, char *msg)
{
    if (atomic_load_explicit(&a->dead, memory_order_relaxed)) {
        wf_free(msg);
        return false;
    }
    a->death_code = code;
    a->death = msg;
    atomic_store_explicit(&a->dead, true, memory_order_release);
    return true;
}

static bool wf_actor_is_dead(wf_actor *a)
{
    return atomic_load_explicit(&a->dead, memory_order_acquire);
}

wf_actors *wf_actors_new(void)
{
    wf_actors *a = wf_calloc(1, sizeof *a);
    if (a)
        pthread_mutex_init(&a->lock, NULL);
    return a;
}

static void wf_actor_destroy_state(wf_actor *a)
{
    if (!a->destroyed && a->state && a->cls->destroy)
        a->cls->destroy(a->state);
    a->destroyed = true;
    a->state = NULL;
}

void wf_actors_free(weft_runtime *rt, wf_actors *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n; i++) {
        wf_actor *a = t->slot[i];
        wf_actor_destroy_state(a);
        wf_free(a->death);
        wf_free(a->name);
        wf_free(a->req);
        pthread_mutex_destroy(&a->lock);
        wf_free(a);
    }
    pthread_mutex_destroy(&t->lock);
    wf_free(t);
}

static wf_actor *wf_actor_get(weft_runtime *rt, weft_actor h)
{
    uint32_t idx = (uint32_t)h.id;
    wf_actors *t = rt->actors;
    if (!t || idx == 0)
        return NULL;
    /* Slots are only appended, each before n covers it: no lock needed. */
    wf_actor *a = idx <= atomic_load_explicit(&t->n, memory_order_acquire)
                      ? t->slot[idx - 1]
                      : NULL;
    if (a && a->gen != (uint32_t)(h.id >> 32))
        a = NULL;
    return a;
}

/* Fail a call that will never run. */
static void wf_call_reject(weft_runtime *rt, wf_task *t, weft_err code,
                           const char *why)
{
    wf_task_fail(rt, t, code, wf_strfmt("%s", why));
    wf_task_free(rt, t);
}

/* The head of the mailbox, if it may run now (caller holds a->lock). */
static wf_task *wf_mail_take(wf_actor *a)
{
    wf_task *t = a->mail_head;
    if (!t || atomic_load_explicit(&t->pending, memory_order_acquire) != 0)
        return NULL;
    a->mail_head = t->link.mail_next;
    if (!a->mail_head)
        a->mail_tail = NULL;
    return t;
}

/* Stop a process actor's process (or its instance on a node). */
static void wf_actor_proc_stop(weft_runtime *rt, wf_actor *a)
{
    if (rt->driver) {
        wf_dactor *da = a->dactor;
        a->dactor = NULL;
        if (da)
            wf_driver_actor_stop(rt->driver, da);
    } else if (a->proc) {
        wf_procs_actor_stop(rt->procs, a->proc);
    }
}

/* a could not be started (what: why, then the last error): it is dead,
 * and call t fails with that. */
static void wf_actor_start_failed(weft_runtime *rt, wf_actor *a, wf_task *t,
                                  const char *what)
{
    pthread_mutex_lock(&a->lock);
    wf_actor_die(
        a, WEFT_EACTORDEAD,
        wf_strfmt("actor '%s' %s: %s", a->cls->name, what, weft_last_error()));
    pthread_mutex_unlock(&a->lock);
    wf_call_reject(rt, t, a->death_code, a->death ? a->death : "dead");
}

/* Send one ready call of a process actor to its process, or fail it. */
static void wf_proc_send(weft_runtime *rt, wf_actor *a, wf_task *t)
{
    weft_err e = 0;
    wf_job *job = NULL;
    if (wf_actor_is_dead(a)) {
        wf_call_reject(rt, t, a->death_code,
                       a->death ? a->death : "actor is dead");
        return;
    }
    if (wf_task_fail_upstream(rt, t)) {
        wf_task_free(rt, t);
        return;
    }
    bool ctor = t->kind == WF_TASK_ACTOR_NEW;
    if (rt->driver) {
        if (!(e = wf_job_encode(rt, t, ctor ? 1 : 2, a->handle,
                                ctor ? a->cls->name : t->fn->name, &job))) {
            job->actor = a;
            if (!ctor) {
                wf_driver_actor_call(rt->driver, a->dactor, job);
                return;
            }
            e = wf_driver_actor_start(rt->driver, a, a->handle, job, a->req,
                                      &a->dactor);
            if (!e)
                return;
            job->owner = NULL;
            wf_job_free(job);
        }
        wf_actor_start_failed(rt, a, t, "could not be placed");
        return;
    }
    if (!(e = wf_remote_procs(rt)) &&
        !(e = wf_job_encode(rt, t, ctor ? 1 : 2, a->handle,
                            ctor ? a->cls->name : t->fn->name, &job))) {
        job->actor = a;
        if (ctor)
            e = wf_procs_actor_start(rt->procs, a, job, &a->proc);
        else
            wf_procs_actor_submit(rt->procs, a->proc, job);
        if (!e)
            return;
        job->owner = NULL;
        wf_job_free(job);
    }
    wf_actor_start_failed(rt, a, t, "could not start its process");
}

/* Send a process actor's ready calls in mailbox order. Results are
 * published outside the lock: they may make more calls ready. */
static void wf_proc_pump(weft_runtime *rt, wf_actor *a)
{
    pthread_mutex_lock(&a->lock);
    if (a->pumping) {
        a->pump_again = true;
        pthread_mutex_unlock(&a->lock);
        return;
    }
    a->pumping = true;
    for (;;) {
        wf_task *t = wf_mail_take(a);
        if (!t) {
            if (a->pump_again) {
                a->pump_again = false;
                continue;
            }
            break;
        }
        pthread_mutex_unlock(&a->lock);
        wf_proc_send(rt, a, t);
        pthread_mutex_lock(&a->lock);
    }
    a->pumping = false;
    pthread_mutex_unlock(&a->lock);
}

size_t wf_actor_proc_done(weft_runtime *rt, wf_job *job, const wf_frame *f,
                          const int *fds, size_t nfds)
{
    wf_actor *a = job->actor;
    wf_task *t = job->owner;
    size_t used = 0;
    bool failed_ctor = false;
    char *why = NULL;
    if (t) {
        used = wf_remote_complete(rt, t, f, fds, nfds,
                                  rt->driver ? (uint64_t)job->pid : 0);
        if (t->kind == WF_TASK_ACTOR_NEW &&
            wf_obj_state(wf_task_ret(t)[0]) == WF_OBJ_FAILED) {
            failed_ctor = true;
            why = wf_strdup(wf_obj_errmsg(wf_task_ret(t)[0]));
        }
        if (t->kind == WF_TASK_ACTOR_CALL)
            WF_COUNT(rt, actor_calls);
        wf_task_free(rt, t);
    } else {
        /* The constructor again, after a restart. */
        wf_msg_done d;
        wf_wire_value v[1];
        if (wf_msg_get_done(f, &d, v, 1) != 0 || d.status) {
            failed_ctor = true;
            why = d.status ? wf_strfmt("%.*s", (int)d.message_len, d.message)
                           : wf_strdup("bad reply");
        }
    }
    if (failed_ctor) {
        pthread_mutex_lock(&a->lock);
        wf_actor_die(a, WEFT_EACTORDEAD,
                     wf_strfmt("actor '%s' failed in its constructor: %s",
                               a->cls->name, why ? why : ""));
        pthread_mutex_unlock(&a->lock);
        wf_actor_proc_stop(rt, a);
    }
    wf_free(why);
    wf_job_free(job);
    return used;
}

void wf_actor_proc_lost(weft_runtime *rt, wf_job *job, const char *why)
{
    wf_actor *a = job->actor;
    wf_task *t = job->owner;
    if (t)
        wf_call_reject(rt, t, WEFT_EACTORDEAD,
                       wf_actor_is_dead(a) && a->death ? a->death : why);
    job->owner = NULL;
    wf_job_free(job);
}

bool wf_actor_proc_died(weft_runtime *rt, void *actor, const char *why)
{
    wf_actor *a = actor;
    bool restart = false;
    pthread_mutex_lock(&a->lock);
    if (!wf_actor_is_dead(a) && a->restarts_left > 0) {
        a->restarts_left--;
        a->restarts++;
        restart = true;
    } else {
        wf_actor_die(a, WEFT_EACTORDEAD,
                     wf_strfmt("actor '%s' died: %s (restarted %d times, "
                               "max_restarts reached)",
                               a->cls->name, why, a->restarts));
    }
    pthread_mutex_unlock(&a->lock);
    if (restart)
        WF_LOG_WARN("event=actor_restart actor=%s restarts=%d detail=\"%s\"",
                    a->cls->name, a->restarts, why);
    else
        wf_proc_pump(rt, a); /* fail what is still queued */
    return restart;
}

/* A call's arguments are ready: start a turn if the actor is idle and the
 * call at the head of its mailbox may run. */
void wf_actor_ready(weft_runtime *rt, wf_actor *a)
{
    if (a->in_proc) {
        wf_proc_pump(rt, a);
        return;
    }
    pthread_mutex_lock(&a->lock);
    wf_task *next = a->running ? NULL : wf_mail_take(a);
    if (next)
        a->running = true;
    pthread_mutex_unlock(&a->lock);
    if (next)
        wf_pool_push(rt->pool, &next->work);
}

static void wf_actor_call_one(weft_runtime *rt, wf_actor *a, wf_task *t)
{
    if (wf_actor_is_dead(a)) {
        wf_task_fail(rt, t, a->death_code,
                     wf_strfmt("%s", a->death ? a->death : "actor is dead"));
    } else if (wf_task_fail_upstream(rt, t)) {
    } else if (t->kind == WF_TASK_ACTOR_NEW) {
        wf_ctx_run(rt, t, a->cls->init, NULL, &a->state);
        wf_obj *r = wf_task_ret(t)[0];
        if (wf_obj_state(r) == WF_OBJ_FAILED) {
            pthread_mutex_lock(&a->lock);
            wf_actor_die(a, WEFT_EACTORDEAD,
                         wf_strfmt("actor '%s' failed in its constructor: %s",
                                   a->cls->name, wf_obj_errmsg(r)));
            pthread_mutex_unlock(&a->lock);
        }
    } else {
        WF_COUNT(rt, actor_calls);
        wf_ctx_run(rt, t, t->fn->fn, a->state, NULL);
    }
    wf_task_free(rt, t);
}

/* Run t and then the calls after it that are ready, up to a batch. */
void wf_actor_run_task(weft_runtime *rt, wf_task *t)
{
    wf_actor *a = t->actor;
    for (int n = 0;; n++) {
        wf_actor_call_one(rt, a, t);
        pthread_mutex_lock(&a->lock);
        if (wf_actor_is_dead(a) && !a->destroyed)
            wf_actor_destroy_state(a);
        t = wf_mail_take(a);
        if (!t)
            a->running = false;
        pthread_mutex_unlock(&a->lock);
        if (!t)
            return;
        if (n + 1 >= WF_TURN_BATCH) {
            wf_pool_push(rt->pool, &t->work);
            return;
        }
    }
}

WF_EXPORT void weft_actor_opts_init(weft_actor_opts *o)
{
    if (o)
        memset(o, 0, sizeof *o);
}

/* Append a built call to a's mailbox and wire its arguments. */
static weft_err wf_actor_post(weft_runtime *rt, wf_actor *a, wf_task *t)
{
    t->actor = a;
    t->link.mail_next = NULL;
    pthread_mutex_lock(&a->lock);
    if (wf_actor_is_dead(a) && a->destroyed) {
        char *why = wf_strdup(a->death ? a->death : "actor is dead");
        weft_err code = a->death_code;
        pthread_mutex_unlock(&a->lock);
        WF_COUNT(rt, submitted);
        wf_call_reject(rt, t, code, why ? why : "actor is dead");
        wf_free(why);
        return 0;
    }
    if (a->mail_tail)
        a->mail_tail->link.mail_next = t;
    else
        a->mail_head = t;
    a->mail_tail = t;
    pthread_mutex_unlock(&a->lock);
    wf_task_start(rt, t);
    return 0;
}

WF_EXPORT weft_err weft_actor_create(weft_runtime *rt, const char *cls,
                                     const weft_value *args, size_t nargs,
                                     const weft_actor_opts *opts,
                                     weft_actor *out)
{
    if (!rt || !cls || !out)
        return wf_err(WEFT_EINVAL, "weft_actor_create: NULL %s",
                      !rt    ? "runtime"
                      : !cls ? "class name"
                             : "out");
    const wf_class *c = wf_class_find(cls);
    if (!c)
        return wf_err(WEFT_ENOACTOR,
                      "weft_actor_create: unknown actor class '%s'", cls);
    weft_actor_opts defaults;
    if (!opts) {
        weft_actor_opts_init(&defaults);
        opts = &defaults;
    }
    if ((unsigned)opts->executor > WEFT_EXEC_PROCESS || opts->max_restarts < 0)
        return wf_err(WEFT_EINVAL,
                      "weft_actor_create '%s': bad executor or max_restarts",
                      cls);
    char what[128];
    snprintf(what, sizeof what, "weft_actor_create '%s'", cls);
    weft_err e = wf_sig_check(c->init_sig, args, nargs, what);
    if (e)
        return e;
    wf_actors *tab = rt->actors;
    wf_actor *a = wf_calloc(1, sizeof *a);
    if (!a)
        return wf_err(WEFT_ENOMEM, "%s: out of memory", what);
    pthread_mutex_init(&a->lock, NULL);
    a->cls = c;
    /* Driver mode: every actor lives on a node, like every task. */
    a->in_proc =
        rt->driver ||
        (opts->executor ? opts->executor : rt->executor) == WEFT_EXEC_PROCESS;
    if (rt->driver) {
        wf_driver_req req;
        if ((e = wf_cluster_actor_req(rt, opts->cpus, opts->resources, what,
                                      &req))) {
            pthread_mutex_destroy(&a->lock);
            wf_free(a);
            return e;
        }
        if ((req.cpus_milli || req.ncustom) &&
            (a->req = wf_alloc(sizeof *a->req)))
            *a->req = req;
    }
    a->restarts_left = opts->max_restarts;
    if (opts->name && !(a->name = wf_strdup(opts->name))) {
        e = wf_err(WEFT_ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    weft_task_opts topts;
    weft_task_opts_init(&topts);
    topts.name = c->name;
    wf_task *t;
    weft_ref ctor_ref;
    if ((e = wf_task_build(rt, NULL, what, args, nargs, &topts,
                           WF_TASK_ACTOR_NEW, &t, &ctor_ref)))
        goto fail;
    pthread_mutex_lock(&tab->lock);
    if (a->name) {
        for (uint32_t i = 0; i < tab->n; i++) {
            wf_actor *b = tab->slot[i];
            if (b->name && !wf_actor_is_dead(b) &&
                strcmp(b->name, a->name) == 0) {
                pthread_mutex_unlock(&tab->lock);
                e = wf_err(WEFT_EEXIST,
                           "%s: an actor named '%s' already exists", what,
                           a->name);
                goto fail_task;
            }
        }
    }
    if (tab->n == WF_MAX_ACTORS) {
        pthread_mutex_unlock(&tab->lock);
        e = wf_err(WEFT_ENOMEM, "%s: too many actors (%d)", what,
                   WF_MAX_ACTORS);
        goto fail_task;
    }
    uint32_t n = atomic_load_explicit(&tab->n, memory_order_relaxed);
    a->gen = n * 2654435761u | 1;
    tab->slot[n] = a;
    /* Publish the slot before the count that makes it visible. */
    atomic_store_explicit(&tab->n, n + 1, memory_order_release);
    out->id = (uint64_t)a->gen << 32 | (n + 1);
    a->handle = out->id;
    pthread_mutex_unlock(&tab->lock);
    /* The constructor's result is only watched by the actor itself. */
    wf_actor_post(rt, a, t);
    weft_release(rt, ctor_ref);
    return 0;
fail_task:
    WF_COUNT(rt, submitted);
    wf_task_fail(rt, t, WEFT_ECANCELLED, NULL);
    wf_task_free(rt, t);
    weft_release(rt, ctor_ref);
fail:
    wf_free(a->name);
    wf_free(a->req);
    pthread_mutex_destroy(&a->lock);
    wf_free(a);
    return e;
}

WF_EXPORT weft_err weft_actor_call(weft_runtime *rt, weft_actor h,
                                   const char *method, const weft_value *args,
                                   size_t nargs, const weft_task_opts *opts,
                                   weft_ref *out)
{
    if (!rt || !method)
        return wf_err(WEFT_EINVAL, "weft_actor_call: NULL %s",
                      !rt ? "runtime" : "method");
    wf_actor *a = wf_actor_get(rt, h);
    if (!a)
        return wf_err(WEFT_ENOACTOR,
                      "weft_actor_call '%s': invalid actor "
                      "handle",
                      method);
    const wf_func *m = wf_class_method(a->cls, method);
    if (!m)
        return wf_err(WEFT_ENOACTOR,
                      "weft_actor_call: actor class '%s' has no method '%s'",
                      a->cls->name, method);
    weft_task_opts o;
    if (opts)
        o = *opts;
    else
        weft_task_opts_init(&o);
    /* Calls run on the actor's turn, not as separately admitted tasks. */
    o.cpus = 1.0;
    o.memory = 0;
    o.resources = NULL;
    wf_task *t;
    weft_err e = wf_task_build(rt, m, m->name, args, nargs, &o,
                               WF_TASK_ACTOR_CALL, &t, out);
    if (e) {
        char verb[160];
        snprintf(verb, sizeof verb, "weft_actor_call %s:", a->cls->name);
        return wf_err_named(e, verb, m->name);
    }
    return wf_actor_post(rt, a, t);
}

WF_EXPORT weft_err weft_actor_lookup(weft_runtime *rt, const char *name,
                                     weft_actor *out)
{
    if (!rt || !name || !out)
        return wf_err(WEFT_EINVAL, "weft_actor_lookup: NULL argument");
    wf_actors *tab = rt->actors;
    pthread_mutex_lock(&tab->lock);
    for (uint32_t i = 0; i < tab->n; i++) {
        wf_actor *a = tab->slot[i];
        if (a->name && !wf_actor_is_dead(a) && strcmp(a->name, name) == 0) {
            out->id = (uint64_t)a->gen << 32 | (i + 1);
            pthread_mutex_unlock(&tab->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&tab->lock);
    return wf_err(WEFT_ENOACTOR, "weft_actor_lookup: no actor named '%s'",
                  name);
}

WF_EXPORT weft_err weft_actor_kill(weft_runtime *rt, weft_actor h)
{
    if (!rt)
        return wf_err(WEFT_EINVAL, "weft_actor_kill: NULL runtime");
    wf_actor *a = wf_actor_get(rt, h);
    if (!a)
        return wf_err(WEFT_ENOACTOR, "weft_actor_kill: invalid actor handle");
    pthread_mutex_lock(&a->lock);
    if (!wf_actor_die(a, WEFT_EACTORDEAD,
                      wf_strfmt("actor '%s' was killed", a->cls->name))) {
        pthread_mutex_unlock(&a->lock);
        return 0;
    }
    if (a->in_proc) {
        pthread_mutex_unlock(&a->lock);
        wf_actor_proc_stop(rt, a);
        wf_proc_pump(rt, a); /* calls not sent yet fail now */
        return 0;
    }
    /* Calls still in the mailbox run as failures, in order, on a turn. */
    wf_task *next = a->running ? NULL : wf_mail_take(a);
    if (next)
        a->running = true;
    else if (!a->running && !a->mail_head)
        wf_actor_destroy_state(a);
    pthread_mutex_unlock(&a->lock);
    if (next)
        wf_pool_push(rt->pool, &next->work);
    return 0;
}
