/* Inside a running task: argument accessors, results, failure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/runtime.h"
#include "exec/procs.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/platform.h"

struct weft_task {
    weft_runtime *rt;
    wf_task *t;
    void *state;
    void **new_state;
    weft_err code; /* first failure (type error, weft_fail, store full) */
    char *msg;
};

static weft_value wf_none_value;

/* Record the first failure of the task; later ones are dropped. */
static void wf_ctx_failv(weft_task *c, weft_err code, const char *fmt,
                         va_list ap)
{
    if (c->code)
        return;
    c->code = code;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    c->msg = wf_strdup(buf);
}

static void wf_ctx_fail(weft_task *c, weft_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void wf_ctx_fail(weft_task *c, weft_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wf_ctx_failv(c, code, fmt, ap);
    va_end(ap);
}

WF_EXPORT size_t weft_nargs(const weft_task *c)
{
    return c ? c->t->nargs : 0;
}

WF_EXPORT weft_type weft_arg_type(const weft_task *c, size_t i)
{
    if (!c || i >= c->t->nargs)
        return WEFT_T_NONE;
    return c->t->args[i].v.type;
}

/* Argument i if it has type want (or converts), else record a type error. */
static const weft_value *wf_arg_typed(weft_task *c, size_t i, weft_type want,
                                      weft_type also)
{
    if (!c)
        return NULL;
    if (i >= c->t->nargs) {
        wf_ctx_fail(c, WEFT_EARGC,
                    "argument %zu asked for, but only %u were given", i,
                    c->t->nargs);
        return NULL;
    }
    const weft_value *v = &c->t->args[i].v;
    if (v->type != want && v->type != also) {
        wf_ctx_fail(c, WEFT_ETYPE, "argument %zu must be %s, got %s", i,
                    wf_type_name(want), wf_type_name(v->type));
        return NULL;
    }
    return v;
}

WF_EXPORT int64_t weft_arg_i64(weft_task *c, size_t i)
{
    const weft_value *v = wf_arg_typed(c, i, WEFT_T_I64, WEFT_T_I64);
    return v ? v->u.i64 : 0;
}

WF_EXPORT double weft_arg_f64(weft_task *c, size_t i)
{
    const weft_value *v = wf_arg_typed(c, i, WEFT_T_F64, WEFT_T_I64);
    if (!v)
        return 0;
    return v->type == WEFT_T_I64 ? (double)v->u.i64 : v->u.f64;
}

WF_EXPORT bool weft_arg_bool(weft_task *c, size_t i)
{
    const weft_value *v = wf_arg_typed(c, i, WEFT_T_BOOL, WEFT_T_BOOL);
    return v ? v->u.b : false;
}

WF_EXPORT const char *weft_arg_str(weft_task *c, size_t i)
{
    const weft_value *v = wf_arg_typed(c, i, WEFT_T_STR, WEFT_T_STR);
    return v ? v->u.buf.data : NULL;
}

WF_EXPORT const void *weft_arg_bytes(weft_task *c, size_t i, size_t *len)
{
    const weft_value *v = wf_arg_typed(c, i, WEFT_T_BYTES, WEFT_T_STR);
    if (len)
        *len = v ? v->u.buf.len : 0;
    return v ? v->u.buf.data : NULL;
}

WF_EXPORT const weft_value *weft_arg(weft_task *c, size_t i)
{
    if (!c || i >= c->t->nargs) {
        if (c)
            wf_ctx_fail(c, WEFT_EARGC,
                        "argument %zu asked for, but only %u were given", i,
                        c->t->nargs);
        return &wf_none_value;
    }
    return &c->t->args[i].v;
}

/* Replace result i's value, freeing what was set before. */
static weft_err wf_ret_set(weft_task *c, size_t i, const weft_value *v,
                           wf_blob *blob)
{
    wf_obj *o = wf_task_ret(c->t)[i];
    if (o->blob)
        wf_blob_free(c->rt->store, o->blob);
    wf_obj_set(o, v, blob);
    return 0;
}

static weft_err wf_ret_check(weft_task *c, size_t i)
{
    if (!c)
        return wf_err(WEFT_EINVAL, "weft_return: NULL task");
    if (i >= c->t->nret) {
        wf_ctx_fail(c, WEFT_EINVAL,
                    "result %zu set, but the task has num_returns=%u", i,
                    c->t->nret);
        return WEFT_EINVAL;
    }
    return 0;
}

WF_EXPORT weft_err weft_return(weft_task *c, size_t i, const weft_value *v)
{
    weft_err e = wf_ret_check(c, i);
    if (e)
        return e;
    if (!v || v->type == WEFT_T_REF) {
        wf_ctx_fail(c, WEFT_ETYPE, "result %zu: %s", i,
                    v ? "a reference cannot be a result" : "NULL value");
        return WEFT_ETYPE;
    }
    char where[48];
    snprintf(where, sizeof where, "result %zu", i);
    if ((e = wf_value_check(v, where))) {
        wf_ctx_fail(c, e, "%s", weft_last_error());
        return e;
    }
    weft_value copy;
    wf_blob *blob;
    if ((e = wf_value_copy(c->rt->store, v, &copy, &blob))) {
        wf_ctx_fail(c, e, "result %zu: %s", i, weft_last_error());
        return e;
    }
    return wf_ret_set(c, i, &copy, blob);
}

WF_EXPORT weft_err weft_return_i64(weft_task *c, int64_t v)
{
    weft_value x = weft_i64(v);
    return weft_return(c, 0, &x);
}

WF_EXPORT weft_err weft_return_f64(weft_task *c, double v)
{
    weft_value x = weft_f64(v);
    return weft_return(c, 0, &x);
}

WF_EXPORT weft_err weft_return_bool(weft_task *c, bool v)
{
    weft_value x = weft_bool(v);
    return weft_return(c, 0, &x);
}

WF_EXPORT weft_err weft_return_str(weft_task *c, const char *s)
{
    weft_value x = weft_str(s);
    return weft_return(c, 0, &x);
}

WF_EXPORT weft_err weft_return_alloc(weft_task *c, size_t i, size_t n,
                                     void **data)
{
    weft_err e = wf_ret_check(c, i);
    if (e)
        return e;
    if (!data)
        return wf_err(WEFT_EINVAL, "weft_return_alloc: NULL data");
    wf_blob *blob;
    if ((e = wf_blob_new(c->rt->store, n, &blob))) {
        wf_ctx_fail(c, e, "result %zu: %s", i, weft_last_error());
        *data = NULL;
        return e;
    }
    weft_value v = weft_bytes(blob->data, n);
    *data = blob->data;
    return wf_ret_set(c, i, &v, blob);
}

WF_EXPORT weft_err weft_return_alloc_array(weft_task *c, size_t i,
                                           weft_dtype dtype, uint32_t ndim,
                                           const int64_t *shape, void **data)
{
    weft_err e = wf_ret_check(c, i);
    if (e)
        return e;
    if (!data)
        return wf_err(WEFT_EINVAL, "weft_return_alloc_array: NULL data");
    *data = NULL;
    weft_value v = weft_array(dtype, ndim, shape, NULL);
    char where[48];
    snprintf(where, sizeof where, "result %zu", i);
    if (ndim > WEFT_MAX_NDIM || (ndim && !shape) || !weft_dtype_size(dtype))
        return wf_err(WEFT_EINVAL, "%s: bad dtype or shape", where);
    size_t elems = weft_dtype_size(dtype);
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return wf_err(WEFT_EINVAL, "%s: negative extent", where);
        if (shape[d] && elems > SIZE_MAX / 2 / (size_t)shape[d])
            return wf_err(WEFT_EINVAL, "%s: too large an array", where);
        elems *= (size_t)shape[d];
    }
    size_t off, n = wf_array_bytes(&v, &off);
    wf_blob *blob;
    if ((e = wf_blob_new(c->rt->store, n, &blob))) {
        wf_ctx_fail(c, e, "%s: %s", where, weft_last_error());
        return e;
    }
    int64_t *sh = blob->data; /* the store's layout: shape, then data */
    if (ndim)
        memcpy(sh, shape, ndim * sizeof *sh);
    v.u.arr.shape = sh;
    v.u.arr.data = (char *)blob->data + off;
    *data = (char *)blob->data + off;
    return wf_ret_set(c, i, &v, blob);
}

WF_EXPORT weft_err weft_fail(weft_task *c, const char *fmt, ...)
{
    if (!c)
        return WEFT_ETASK;
    va_list ap;
    va_start(ap, fmt);
    wf_ctx_failv(c, WEFT_ETASK, fmt ? fmt : "failed", ap);
    va_end(ap);
    return WEFT_ETASK;
}

WF_EXPORT weft_runtime *weft_task_runtime(weft_task *c)
{
    return c ? c->rt : NULL;
}

WF_EXPORT void *weft_actor_state(weft_task *c)
{
    return c ? c->state : NULL;
}

WF_EXPORT void weft_actor_set_state(weft_task *c, void *state)
{
    if (c && c->new_state) {
        *c->new_state = state;
        c->state = state;
    }
}

/* Values of reference arguments, checked against the signature now that
 * they are known. */
static weft_err wf_ctx_bind(weft_task *c, const char *sig)
{
    wf_task *t = c->t;
    for (size_t i = 0; i < t->nargs; i++) {
        wf_arg *a = &t->args[i];
        if (!a->obj)
            continue;
        a->v = a->obj->u.val;
        if (wf_sig_check_one(sig, i, &a->v, t->name)) {
            wf_ctx_fail(c, WEFT_ETYPE, "%s (from a reference)",
                        weft_last_error());
            return WEFT_ETYPE;
        }
    }
    return 0;
}

static const char *wf_where(char *buf, size_t n)
{
    int id = wf_pool_worker_id();
    if (wf_worker_fd() >= 0)
        snprintf(buf, n, "worker process %d", (int)getpid());
    else if (id >= 0)
        snprintf(buf, n, "thread %d of pid %d", id, (int)getpid());
    else
        snprintf(buf, n, "pid %d", (int)getpid());
    return buf;
}

void wf_ctx_run(weft_runtime *rt, wf_task *t, weft_task_fn fn, void *state,
                void **new_state)
{
    weft_task c = {rt, t, state, new_state, 0, NULL};
    const char *sig = t->fn ? t->fn->sig : NULL;
    uint64_t t0 = rt->trace ? wf_now_ns() : 0;
    weft_err rc = 0;
    if (wf_ctx_bind(&c, sig) == 0)
        rc = fn(&c);
    if (rt->trace)
        wf_trace_event(rt, t->name, t0, wf_now_ns(), !rc && !c.code,
                       wf_pool_worker_id());
    if (rc && !c.code)
        wf_ctx_fail(&c, rc, "returned %s (%s)", weft_err_name(rc),
                    weft_strerror(rc));
    if (c.code) {
        char where[64];
        char *msg = wf_strfmt("task '%s' failed on %s: %s", t->name,
                              wf_where(where, sizeof where),
                              c.msg ? c.msg : weft_strerror(c.code));
        wf_free(c.msg);
        for (size_t i = 0; i < t->nret; i++) {
            wf_obj *o = wf_task_ret(t)[i];
            if (o->blob) {
                wf_blob_free(rt->store, o->blob);
                o->blob = NULL;
            }
            o->u.val.type = WEFT_T_NONE;
        }
        /* The code the task returned reaches weft_get, if it is one of
         * ours; anything else (a positive value, an unknown code) is
         * WEFT_ETASK. */
        weft_err code = strcmp(weft_err_name(c.code), "WEFT_UNKNOWN") == 0
                            ? WEFT_ETASK
                            : c.code;
        wf_task_fail(rt, t, code, msg);
        return;
    }
    WF_COUNT(rt, finished);
    for (size_t i = 0; i < t->nret; i++)
        wf_publish(rt, wf_task_ret(t)[i]);
}
