/* Submitting tasks: validate, build the record, wire dependencies, admit by
 * resources, run, publish results, free. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/platform.h"
#include "base/resspec.h"
#include "base/slab.h"

#define WF_MAX_RETURNS 1024
#define WF_MAX_ARGS 4096

char *wf_strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = wf_alloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

WF_EXPORT void weft_task_opts_init(weft_task_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->num_returns = 1;
    o->max_retries = 3;
    o->cpus = 1.0;
}

/* ------------------------------------------------------- resources */

static int wf_custom_index(weft_runtime *rt, const char *name, size_t len)
{
    for (int i = 0; i < rt->ncustom; i++)
        if (strlen(rt->custom_name[i]) == len &&
            memcmp(rt->custom_name[i], name, len) == 0)
            return i;
    return -1;
}

/* Parse "gpu=1,fpga=0.5" into thousandths per kind. With define set, new
 * names are added (runtime options); otherwise unknown names are errors. */
weft_err wf_parse_resources(weft_runtime *rt, const char *spec, bool define,
                            uint64_t *amounts, const char *what);
weft_err wf_parse_resources(weft_runtime *rt, const char *spec, bool define,
                            uint64_t *amounts, const char *what)
{
    const char *p = spec;
    while (*p) {
        const char *name;
        size_t nlen;
        double amount;
        weft_err e = wf_res_item(what, spec, &p, &name, &nlen, &amount);
        if (e)
            return e;
        int k = wf_custom_index(rt, name, nlen);
        if (k < 0 && define) {
            if (rt->ncustom == WF_MAX_CUSTOM)
                return wf_err(WEFT_EINVAL, "%s: more than %d resource kinds",
                              what, WF_MAX_CUSTOM);
            k = rt->ncustom;
            rt->custom_name[k] = wf_alloc(nlen + 1);
            if (!rt->custom_name[k])
                return wf_err(WEFT_ENOMEM, "%s: out of memory", what);
            memcpy(rt->custom_name[k], name, nlen);
            rt->custom_name[k][nlen] = '\0';
            rt->ncustom++;
        }
        if (k < 0)
            return wf_err(WEFT_ERESOURCE,
                          "%s: needs resource '%.*s', which this runtime does "
                          "not have",
                          what, (int)nlen, name);
        amounts[k] = (uint64_t)llround(amount * 1000);
    }
    return 0;
}

static weft_err wf_resreq_build(weft_runtime *rt, const weft_task_opts *o,
                                const char *what, wf_resreq *r)
{
    memset(r, 0, sizeof *r);
    if (!(o->cpus >= 0) || o->cpus > 1e6)
        return wf_err(WEFT_EINVAL, "%s: cpus must be >= 0, got %g", what,
                      o->cpus);
    r->cpus = (int64_t)llround(o->cpus * 1000);
    if (r->cpus > rt->cpus_total)
        return wf_err(WEFT_ERESOURCE, "%s: needs %g cpus, the runtime has %g",
                      what, o->cpus, (double)rt->cpus_total / 1000);
    r->memory = o->memory;
    if (r->memory > rt->mem_total)
        return wf_err(WEFT_ERESOURCE,
                      "%s: needs %llu bytes of memory, the runtime has %llu",
                      what, (unsigned long long)r->memory,
                      (unsigned long long)rt->mem_total);
    if (o->resources && *o->resources) {
        uint64_t amounts[WF_MAX_CUSTOM] = {0};
        weft_err e = wf_parse_resources(rt, o->resources, false, amounts, what);
        if (e)
            return e;
        for (int k = 0; k < rt->ncustom; k++) {
            if (amounts[k] > rt->custom_total[k])
                return wf_err(WEFT_ERESOURCE,
                              "%s: needs %g '%s', the runtime has %g", what,
                              (double)amounts[k] / 1000, rt->custom_name[k],
                              (double)rt->custom_total[k] / 1000);
            r->custom[k] = (uint32_t)amounts[k];
            r->has_custom |= amounts[k] != 0;
        }
    }
    return 0;
}

static bool wf_res_fits(weft_runtime *rt, const wf_resreq *r)
{
    if (r->memory > rt->mem_free)
        return false;
    for (int k = 0; r->has_custom && k < rt->ncustom; k++)
        if (r->custom[k] > rt->custom_free[k])
            return false;
    return true;
}

/* Admit queued tasks whose resources are free now, oldest first; a task
 * that does not fit does not block smaller ones behind it. */
void wf_admit(void *arg)
{
    weft_runtime *rt = arg;
    if (atomic_load_explicit(&rt->admit_count, memory_order_acquire) == 0)
        return;
    wf_task *ready = NULL, **ready_tail = &ready;
    pthread_mutex_lock(&rt->admit_lock);
    wf_task **pp = &rt->admit_head, *prev = NULL;
    while (*pp) {
        wf_task *t = *pp;
        wf_resreq *r = t->res;
        if (wf_res_fits(rt, r) && wf_pool_cpu_take(rt->pool, r->cpus)) {
            rt->mem_free -= r->memory;
            for (int k = 0; r->has_custom && k < rt->ncustom; k++)
                rt->custom_free[k] -= r->custom[k];
            *pp = t->link.admit_next;
            if (rt->admit_tail == t)
                rt->admit_tail = prev;
            atomic_fetch_sub(&rt->admit_count, 1);
            t->link.admit_next = NULL;
            *ready_tail = t;
            ready_tail = &t->link.admit_next;
            continue;
        }
        prev = t;
        pp = &t->link.admit_next;
    }
    pthread_mutex_unlock(&rt->admit_lock);
    while (ready) {
        wf_task *t = ready;
        ready = t->link.admit_next;
        wf_pool_push_admitted(rt->pool, &t->work);
    }
}

static void wf_admit_enqueue(weft_runtime *rt, wf_task *t)
{
    t->link.admit_next = NULL;
    pthread_mutex_lock(&rt->admit_lock);
    if (rt->admit_tail)
        rt->admit_tail->link.admit_next = t;
    else
        rt->admit_head = t;
    rt->admit_tail = t;
    atomic_fetch_add(&rt->admit_count, 1);
    pthread_mutex_unlock(&rt->admit_lock);
    wf_admit(rt);
}

static void wf_res_release(weft_runtime *rt, const wf_resreq *r)
{
    if (r->memory || r->has_custom) {
        pthread_mutex_lock(&rt->admit_lock);
        rt->mem_free += r->memory;
        for (int k = 0; r->has_custom && k < rt->ncustom; k++)
            rt->custom_free[k] += r->custom[k];
        pthread_mutex_unlock(&rt->admit_lock);
    }
    wf_pool_cpu_give(rt->pool, r->cpus); /* also admits what now fits */
}

/* ----------------------------------------------------- task records */

/* Bytes of argument payload copied into the task block. */
static size_t wf_arg_payload(const weft_value *v)
{
    switch (v->type) {
    case WEFT_T_STR:
        return WF_ALIGN16(v->u.buf.len + 1);
    case WEFT_T_BYTES:
        return WF_ALIGN16(v->u.buf.len);
    case WEFT_T_ARRAY: {
        size_t off;
        return WF_ALIGN16(wf_array_bytes(v, &off));
    }
    default:
        return 0;
    }
}

/* Arguments this large go to the store as objects of their own, as Ray does,
 * so the task record stays small and processes can map them. */
static bool wf_arg_is_large(const weft_value *v)
{
    return wf_arg_payload(v) >= WF_BLOB_SHM_MIN;
}

static void wf_task_unwind(weft_runtime *rt, wf_task *t, size_t nargs_done,
                           size_t nret_done)
{
    for (size_t i = 0; i < nargs_done; i++)
        if (t->args[i].obj)
            wf_store_unpin(rt->store, t->args[i].obj);
    for (size_t i = 0; i < nret_done; i++) {
        wf_store_unpin(rt->store, wf_task_ret(t)[i]);
        wf_store_drop_handle(rt->store, wf_task_ret(t)[i]);
    }
    wf_slab_free(t, t->size);
}

/* Copy one argument into the task block at *payload (or into the store when
 * large). */
static weft_err wf_arg_fill(weft_runtime *rt, wf_arg *a, const weft_value *v,
                            char **payload, size_t i, const char *what)
{
    a->v = *v;
    a->obj = NULL;
    if (v->type == WEFT_T_REF) {
        a->obj = wf_store_lookup(rt->store, v->u.ref);
        if (!a->obj)
            return wf_err(WEFT_EBADREF,
                          "%s: argument %zu is an invalid, released or "
                          "foreign reference",
                          what, i);
        wf_obj_pin(a->obj);
        return 0;
    }
    if (wf_arg_is_large(v)) {
        weft_ref r;
        wf_obj *o = wf_store_obj_new(rt->store, 0, 1, &r);
        if (!o)
            return wf_err(WEFT_ENOMEM, "%s: out of object slots", what);
        weft_value copy;
        wf_blob *blob;
        weft_err e = wf_value_copy(rt->store, v, &copy, &blob);
        if (e) {
            wf_store_unpin(rt->store, o);
            return e;
        }
        wf_obj_set(o, &copy, blob);
        wf_obj_publish(o);
        a->obj = o;
        a->v.type = WEFT_T_REF;
        a->v.u.ref = r;
        return 0;
    }
    char *dst = *payload;
    switch (v->type) {
    case WEFT_T_STR:
        memcpy(dst, v->u.buf.data, v->u.buf.len);
        dst[v->u.buf.len] = '\0';
        a->v.u.buf.data = dst;
        break;
    case WEFT_T_BYTES:
        if (v->u.buf.len)
            memcpy(dst, v->u.buf.data, v->u.buf.len);
        a->v.u.buf.data = dst;
        break;
    case WEFT_T_ARRAY: {
        size_t off, n = wf_array_bytes(v, &off);
        if (v->u.arr.ndim)
            memcpy(dst, v->u.arr.shape, v->u.arr.ndim * sizeof(int64_t));
        if (n > off)
            memcpy(dst + off, v->u.arr.data, n - off);
        a->v.u.arr.shape = (const int64_t *)dst;
        a->v.u.arr.data = dst + off;
        break;
    }
    default:
        break;
    }
    *payload += wf_arg_payload(v);
    return 0;
}

weft_err wf_task_build(weft_runtime *rt, const wf_func *fn, const char *what,
                       const weft_value *args, size_t nargs,
                       const weft_task_opts *opts, uint8_t kind, wf_task **out,
                       weft_ref *refs)
{
    weft_task_opts defaults;
    if (!opts) {
        weft_task_opts_init(&defaults);
        opts = &defaults;
    }
    if (nargs && !args)
        return wf_err(WEFT_EINVAL, "%s: NULL argument array", what);
    if (nargs > WF_MAX_ARGS)
        return wf_err(WEFT_EARGC, "%s: %zu arguments, at most %d", what, nargs,
                      WF_MAX_ARGS);
    if (opts->num_returns > WF_MAX_RETURNS)
        return wf_err(WEFT_EINVAL, "%s: num_returns %u, at most %d", what,
                      opts->num_returns, WF_MAX_RETURNS);
    if (opts->num_returns && !refs)
        return wf_err(WEFT_EINVAL, "%s: NULL result array", what);
    if ((unsigned)opts->executor > WEFT_EXEC_PROCESS)
        return wf_err(WEFT_EINVAL, "%s: unknown executor %d", what,
                      (int)opts->executor);
    weft_err e;
    size_t payload = 0;
    for (size_t i = 0; i < nargs; i++) {
        char where[64];
        snprintf(where, sizeof where, "argument %zu", i);
        if ((e = wf_value_check(&args[i], where)))
            return wf_err_prefix(e, "%s", what);
        if (!wf_arg_is_large(&args[i]))
            payload += wf_arg_payload(&args[i]);
    }
    if (fn && (e = wf_sig_check(fn->sig, args, nargs, what)))
        return e;
    wf_resreq req;
    if ((e = wf_resreq_build(rt, opts, what, &req)))
        return e;
    bool needs_admit = req.cpus != 1000 || req.memory || req.has_custom;
    size_t name_len = opts->name ? strlen(opts->name) + 1 : 0;
    size_t size = WF_ALIGN16(sizeof(wf_task) + nargs * sizeof(wf_arg)) +
                  WF_ALIGN16(opts->num_returns * sizeof(wf_obj *)) +
                  (needs_admit ? WF_ALIGN16(sizeof(wf_resreq)) : 0) + payload +
                  name_len;
    if (size > UINT32_MAX)
        return wf_err(WEFT_ERANGE, "%s: arguments too large (%zu bytes)", what,
                      size);
    wf_task *t = wf_slab_alloc(size);
    if (!t)
        return wf_err(WEFT_ENOMEM, "%s: out of memory", what);
    memset(t, 0, sizeof *t);
    t->size = (uint32_t)size;
    t->fn = fn;
    t->kind = kind;
    t->nargs = (uint16_t)nargs;
    t->nret = (uint16_t)opts->num_returns;
    t->executor = (uint8_t)(opts->executor ? opts->executor : rt->executor);
    t->retries_left = (int16_t)(opts->max_retries < 0      ? 0
                                : opts->max_retries > 1000 ? 1000
                                                           : opts->max_retries);
    t->needs_admit = needs_admit;
    char *p = (char *)wf_task_ret(t) +
              WF_ALIGN16(opts->num_returns * sizeof(wf_obj *));
    if (needs_admit) {
        t->res = (wf_resreq *)p;
        *t->res = req;
        p += WF_ALIGN16(sizeof(wf_resreq));
    }
    size_t i;
    for (i = 0; i < nargs; i++) {
        t->args[i].task = t;
        if ((e = wf_arg_fill(rt, &t->args[i], &args[i], &p, i, what))) {
            wf_task_unwind(rt, t, i, 0);
            return e;
        }
    }
    if (name_len) {
        memcpy(p, opts->name, name_len);
        t->name = p;
    } else {
        t->name = fn ? fn->name : "task";
    }
    for (i = 0; i < t->nret; i++) {
        wf_task_ret(t)[i] = wf_store_obj_new(rt->store, 1, 1, &refs[i]);
        if (!wf_task_ret(t)[i]) {
            wf_task_unwind(rt, t, nargs, i);
            return wf_err(WEFT_ENOMEM, "%s: out of object slots", what);
        }
    }
    atomic_store_explicit(&t->pending, 1, memory_order_relaxed);
    *out = t;
    return 0;
}

/* Wire t's dependencies; it becomes ready when the last one is published. */
void wf_task_start(weft_runtime *rt, wf_task *t)
{
    WF_COUNT(rt, submitted);
    for (size_t i = 0; i < t->nargs; i++) {
        wf_arg *a = &t->args[i];
        if (!a->obj || wf_obj_state(a->obj) != WF_OBJ_PENDING)
            continue;
        atomic_fetch_add_explicit(&t->pending, 1, memory_order_relaxed);
        if (!wf_obj_add_waiter(a->obj, &a->link))
            atomic_fetch_sub_explicit(&t->pending, 1, memory_order_relaxed);
    }
    /* Read before the last count: an actor call that is ready may be taken
     * by its actor's turn and freed at once. */
    uint8_t kind = t->kind;
    struct wf_actor *actor = t->actor;
    if (atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel) == 1)
        wf_task_became_ready(rt, t, kind, actor);
}

void wf_task_became_ready(weft_runtime *rt, wf_task *t, uint8_t kind,
                          struct wf_actor *actor)
{
    if (kind != WF_TASK_FN)
        wf_actor_ready(rt, actor); /* t itself may be gone already */
    else
        wf_task_ready(rt, t);
}

void wf_task_ready(weft_runtime *rt, wf_task *t)
{
    if (rt->driver) {
        wf_cluster_dispatch(rt, t);
        return;
    }
    if (t->needs_admit) {
        wf_admit_enqueue(rt, t);
        return;
    }
    if (t->executor == WEFT_EXEC_PROCESS) {
        wf_remote_dispatch(rt, t);
        return;
    }
    wf_pool_push(rt->pool, &t->work);
}

void wf_publish(weft_runtime *rt, wf_obj *o)
{
    wf_waiter *w = wf_obj_publish(o);
    while (w) {
        wf_waiter *next = w->next;
        wf_arg *a = (wf_arg *)((char *)w - offsetof(wf_arg, link));
        wf_task *t = a->task;
        uint8_t kind = t->kind; /* before the count: see wf_task_start */
        struct wf_actor *actor = t->actor;
        if (atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel) ==
            1)
            wf_task_became_ready(rt, t, kind, actor);
        w = next;
    }
    if (atomic_load_explicit(&rt->multi_waiters, memory_order_relaxed) > 0) {
        atomic_fetch_add(&rt->done_epoch, 1);
        wf_futex_wake(&rt->done_epoch, 1 << 30);
    }
}

/* The root cause inside an upstream failure's message: dependants quote
 * it, not the whole chain, so a failure at the root of a long chain does
 * not grow with each link. */
static const char *wf_root_cause(const wf_obj *up)
{
    const char *m = wf_obj_errmsg(up);
    if (wf_obj_errcode(up) != WEFT_EUPSTREAM)
        return m;
    const char *arg = strstr(m, ": its argument ");
    const char *cause = arg ? strstr(arg, " failed: ") : NULL;
    return cause ? cause + 9 : m;
}

bool wf_task_fail_upstream(weft_runtime *rt, wf_task *t)
{
    size_t bad;
    wf_obj *up = wf_task_failed_arg(t, &bad);
    if (!up)
        return false;
    wf_task_fail(rt, t, WEFT_EUPSTREAM,
                 wf_strfmt("%s '%s' not run: its argument %zu failed: %s",
                           t->kind == WF_TASK_FN ? "task" : "call", t->name,
                           bad, wf_root_cause(up)));
    return true;
}

wf_obj *wf_task_failed_arg(wf_task *t, size_t *index)
{
    for (size_t i = 0; i < t->nargs; i++) {
        if (t->args[i].obj && wf_obj_state(t->args[i].obj) == WF_OBJ_FAILED) {
            *index = i;
            return t->args[i].obj;
        }
    }
    return NULL;
}

/* Fail every result of t with code and msg (taken; may be NULL). */
void wf_task_fail(weft_runtime *rt, wf_task *t, weft_err code, char *msg)
{
    WF_COUNT(rt, failed);
    for (size_t i = 0; i < t->nret; i++) {
        char *m = i + 1 == t->nret ? msg : (msg ? wf_strdup(msg) : NULL);
        wf_obj_set_error(wf_task_ret(t)[i], code, m);
        wf_publish(rt, wf_task_ret(t)[i]);
    }
    if (!t->nret)
        wf_free(msg);
}

void wf_task_free(weft_runtime *rt, wf_task *t)
{
    for (size_t i = 0; i < t->nargs; i++)
        if (t->args[i].obj)
            wf_store_unpin(rt->store, t->args[i].obj);
    for (size_t i = 0; i < t->nret; i++)
        wf_store_unpin(rt->store, wf_task_ret(t)[i]);
    wf_slab_free(t, t->size);
    WF_COUNT(rt, freed);
}

void wf_task_finish(weft_runtime *rt, wf_task *t)
{
    bool admitted = t->needs_admit;
    wf_resreq copy = admitted ? *t->res : (wf_resreq){0};
    wf_task_free(rt, t);
    if (admitted)
        wf_res_release(rt, &copy);
}

void wf_task_run(weft_runtime *rt, wf_task *t)
{
    if (t->executor == WEFT_EXEC_PROCESS) {
        wf_remote_dispatch(rt, t); /* admitted: finishes on completion */
        return;
    }
    if (!wf_task_fail_upstream(rt, t)) {
        wf_ctx_run(rt, t, t->fn->fn, NULL, NULL);
    }
    wf_task_finish(rt, t);
}

void wf_pool_run(void *arg, wf_work *w)
{
    weft_runtime *rt = arg;
    wf_task *t = (wf_task *)w;
    if (t->kind != WF_TASK_FN)
        wf_actor_run_task(rt, t);
    else
        wf_task_run(rt, t);
}

weft_err wf_err_named(weft_err e, const char *verb, const char *name)
{
    const char *d = weft_last_error();
    size_t n = strlen(name);
    if (strncmp(d, name, n) == 0 && d[n] == ':') {
        char rest[512];
        snprintf(rest, sizeof rest, "%s", d + n + 1);
        return wf_err(e, "%s '%s':%s", verb, name, rest);
    }
    return wf_err_prefix(e, "%s '%s'", verb, name);
}

WF_EXPORT weft_err weft_submit(weft_runtime *rt, const char *fn,
                               const weft_value *args, size_t nargs,
                               const weft_task_opts *opts, weft_ref *out)
{
    if (!rt || !fn)
        return wf_err(WEFT_EINVAL, "weft_submit: %s is NULL",
                      !rt ? "runtime" : "function name");
    const wf_func *f = wf_func_find(fn);
    if (!f)
        return wf_err(WEFT_ENOFUNC, "weft_submit: unknown function '%s'", fn);
    wf_task *t;
    /* Errors name the function; the call is named only when one happens,
     * so the common path formats nothing. */
    weft_err e =
        wf_task_build(rt, f, f->name, args, nargs, opts, WF_TASK_FN, &t, out);
    if (e)
        return wf_err_named(e, "weft_submit", f->name);
    wf_task_start(rt, t);
    return 0;
}
