/* Objects and futures: put, create/seal, get, wait, retain/release. */
#include <sched.h>
#include <string.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/platform.h"

#define WF_GET_SPIN                                                            \
    300 /* polls before sleeping: short, as the spinner may hold the core the  \
           task needs */

WF_EXPORT weft_value weft_str(const char *s)
{
    weft_value x = {WEFT_T_STR, {.buf = {s, s ? strlen(s) : 0}}};
    return x;
}

static uint64_t wf_deadline(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return 0;
    return wf_now_ns() + (uint64_t)timeout_ms * 1000000u + 1;
}

/* Wait for o, lending this thread to other tasks when it is a worker. */
static weft_err wf_wait_obj(weft_runtime *rt, wf_obj *o, uint64_t deadline)
{
    for (int i = 0; i < WF_GET_SPIN; i++) {
        if (wf_obj_state(o) != WF_OBJ_PENDING)
            return 0;
        wf_cpu_relax();
    }
    if (deadline && wf_now_ns() >= deadline)
        return wf_obj_state(o) != WF_OBJ_PENDING ? 0 : WEFT_ETIMEDOUT;
    if (!wf_pool_is_worker(rt->pool))
        return wf_obj_wait(o, deadline);
    while (wf_obj_state(o) == WF_OBJ_PENDING && wf_pool_help(rt->pool))
        if (deadline && wf_now_ns() >= deadline)
            break;
    if (wf_obj_state(o) != WF_OBJ_PENDING)
        return 0;
    wf_pool_block_begin(rt->pool);
    weft_err e = wf_obj_wait(o, deadline);
    wf_pool_block_end(rt->pool);
    return e;
}

static weft_err wf_lookup(weft_runtime *rt, weft_ref r, const char *what,
                          wf_obj **out)
{
    if (!rt)
        return wf_err(WEFT_EINVAL, "%s: NULL runtime", what);
    *out = wf_store_lookup(rt->store, r);
    if (!*out)
        return wf_err(WEFT_EBADREF,
                      "%s: invalid, released or foreign reference %#llx", what,
                      (unsigned long long)r.id);
    return 0;
}

WF_EXPORT weft_err weft_put(weft_runtime *rt, const weft_value *v,
                            weft_ref *out)
{
    if (!rt || !v || !out)
        return wf_err(WEFT_EINVAL, "weft_put: NULL %s",
                      !rt  ? "runtime"
                      : !v ? "value"
                           : "out");
    if (v->type == WEFT_T_REF)
        return wf_err(WEFT_ETYPE, "weft_put: cannot put a reference");
    weft_err e = wf_value_check(v, "weft_put");
    if (e)
        return e;
    weft_value copy;
    wf_blob *blob;
    if ((e = wf_value_copy(rt->store, v, &copy, &blob)))
        return wf_err_prefix(e, "weft_put");
    wf_obj *o = wf_store_obj_new(rt->store, 1, 0, out);
    if (!o) {
        wf_blob_free(rt->store, blob);
        return wf_err(WEFT_ENOMEM, "weft_put: out of object slots");
    }
    wf_obj_set(o, &copy, blob);
    wf_publish(rt, o);
    return 0;
}

WF_EXPORT weft_err weft_create(weft_runtime *rt, size_t n, void **data,
                               weft_ref *out)
{
    if (!rt || !data || !out)
        return wf_err(WEFT_EINVAL, "weft_create: NULL %s",
                      !rt     ? "runtime"
                      : !data ? "data"
                              : "out");
    wf_blob *blob;
    weft_err e = wf_blob_new(rt->store, n, &blob);
    if (e)
        return wf_err_prefix(e, "weft_create");
    wf_obj *o = wf_store_obj_new(rt->store, 1, 1, out);
    if (!o) {
        wf_blob_free(rt->store, blob);
        return wf_err(WEFT_ENOMEM, "weft_create: out of object slots");
    }
    pthread_mutex_lock(&rt->created_lock);
    if (rt->ncreated == rt->capcreated) {
        size_t cap = rt->capcreated ? rt->capcreated * 2 : 16;
        wf_obj **c = wf_realloc(rt->created, cap * sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&rt->created_lock);
            wf_blob_free(rt->store, blob);
            wf_store_unpin(rt->store, o);
            wf_store_drop_handle(rt->store, o);
            return wf_err(WEFT_ENOMEM, "weft_create: out of memory");
        }
        rt->created = c;
        rt->capcreated = cap;
    }
    rt->created[rt->ncreated++] = o;
    pthread_mutex_unlock(&rt->created_lock);
    weft_value v = weft_bytes(blob->data, n);
    wf_obj_set(o, &v, blob);
    *data = blob->data;
    return 0;
}

/* Take o off the list of unsealed objects; false if it is not there. */
static bool wf_created_take(weft_runtime *rt, wf_obj *o)
{
    bool found = false;
    pthread_mutex_lock(&rt->created_lock);
    for (size_t i = 0; i < rt->ncreated; i++) {
        if (rt->created[i] == o) {
            rt->created[i] = rt->created[--rt->ncreated];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&rt->created_lock);
    return found;
}

void wf_cancel_unsealed(weft_runtime *rt)
{
    pthread_mutex_lock(&rt->created_lock);
    wf_obj **list = rt->created;
    size_t n = rt->ncreated;
    rt->created = NULL;
    rt->ncreated = rt->capcreated = 0;
    pthread_mutex_unlock(&rt->created_lock);
    for (size_t i = 0; i < n; i++) {
        wf_obj *o = list[i];
        wf_blob_free(rt->store, o->blob);
        o->blob = NULL;
        o->u.val.type = WEFT_T_NONE;
        wf_obj_set_error(o, WEFT_ECANCELLED,
                         wf_strfmt("object made by weft_create was never "
                                   "sealed: the runtime shut down"));
        wf_publish(rt, o);
        wf_store_unpin(rt->store, o);
    }
    wf_free(list);
}

WF_EXPORT weft_err weft_seal(weft_runtime *rt, weft_ref r)
{
    wf_obj *o;
    weft_err e = wf_lookup(rt, r, "weft_seal", &o);
    if (e)
        return e;
    if (!wf_created_take(rt, o))
        return wf_err(WEFT_EINVAL,
                      "weft_seal: object was not made by weft_create or is "
                      "already sealed");
    wf_publish(rt, o);
    wf_store_unpin(rt->store, o);
    return 0;
}

/* The value of a published object, or its error. Bytes kept on a cluster
 * node are fetched first. */
static weft_err wf_read(weft_runtime *rt, wf_obj *o, weft_value *out)
{
    if (wf_obj_state(o) == WF_OBJ_FAILED) {
        if (out)
            out->type = WEFT_T_NONE;
        return wf_err(wf_obj_errcode(o), "%s", wf_obj_errmsg(o));
    }
    weft_err e =
        rt->driver && o->blob && o->blob->ext ? wf_cluster_fetch(rt, o) : 0;
    if (e) {
        if (out)
            out->type = WEFT_T_NONE;
        return wf_err_prefix(e, "the object's bytes");
    }
    if (out)
        *out = o->u.val;
    return 0;
}

WF_EXPORT weft_err weft_get(weft_runtime *rt, weft_ref r, weft_value *out,
                            int64_t timeout_ms)
{
    wf_obj *o;
    weft_err e = wf_lookup(rt, r, "weft_get", &o);
    if (e)
        return e;
    if (wf_obj_state(o) == WF_OBJ_PENDING &&
        (e = wf_wait_obj(rt, o, wf_deadline(timeout_ms))))
        return wf_err(e, "weft_get: not ready within %lld ms",
                      (long long)timeout_ms);
    return wf_read(rt, o, out);
}

WF_EXPORT weft_err weft_get_many(weft_runtime *rt, const weft_ref *refs,
                                 size_t n, weft_value *out, int64_t timeout_ms)
{
    if (!rt || (n && (!refs || !out)))
        return wf_err(WEFT_EINVAL, "weft_get_many: NULL argument");
    uint64_t deadline = wf_deadline(timeout_ms);
    weft_err first = 0;
    for (size_t i = 0; i < n; i++) {
        wf_obj *o;
        weft_err e = wf_lookup(rt, refs[i], "weft_get_many", &o);
        if (!e && wf_obj_state(o) == WF_OBJ_PENDING)
            e = wf_wait_obj(rt, o, deadline);
        if (e == WEFT_ETIMEDOUT)
            return wf_err(e,
                          "weft_get_many: reference %zu not ready within "
                          "%lld ms",
                          i, (long long)timeout_ms);
        if (!e)
            e = wf_read(rt, o, &out[i]);
        else
            out[i].type = WEFT_T_NONE;
        if (e && !first)
            first = e;
    }
    return first;
}

static weft_err wf_get_typed(weft_runtime *rt, weft_ref r, weft_value *v,
                             int64_t timeout_ms, weft_type want, weft_type also)
{
    weft_err e = weft_get(rt, r, v, timeout_ms);
    if (e)
        return e;
    if (v->type != want && v->type != also)
        return wf_err(WEFT_ETYPE, "weft_get: object holds %s, not %s",
                      wf_type_name(v->type), wf_type_name(want));
    return 0;
}

WF_EXPORT weft_err weft_get_i64(weft_runtime *rt, weft_ref r, int64_t *out,
                                int64_t timeout_ms)
{
    weft_value v;
    if (!out)
        return wf_err(WEFT_EINVAL, "weft_get_i64: NULL out");
    weft_err e = wf_get_typed(rt, r, &v, timeout_ms, WEFT_T_I64, WEFT_T_I64);
    if (!e)
        *out = v.u.i64;
    return e;
}

WF_EXPORT weft_err weft_get_f64(weft_runtime *rt, weft_ref r, double *out,
                                int64_t timeout_ms)
{
    weft_value v;
    if (!out)
        return wf_err(WEFT_EINVAL, "weft_get_f64: NULL out");
    weft_err e = wf_get_typed(rt, r, &v, timeout_ms, WEFT_T_F64, WEFT_T_I64);
    if (!e)
        *out = v.type == WEFT_T_I64 ? (double)v.u.i64 : v.u.f64;
    return e;
}

WF_EXPORT weft_err weft_get_bool(weft_runtime *rt, weft_ref r, bool *out,
                                 int64_t timeout_ms)
{
    weft_value v;
    if (!out)
        return wf_err(WEFT_EINVAL, "weft_get_bool: NULL out");
    weft_err e = wf_get_typed(rt, r, &v, timeout_ms, WEFT_T_BOOL, WEFT_T_BOOL);
    if (!e)
        *out = v.u.b;
    return e;
}

WF_EXPORT weft_err weft_get_str(weft_runtime *rt, weft_ref r, const char **out,
                                int64_t timeout_ms)
{
    weft_value v;
    if (!out)
        return wf_err(WEFT_EINVAL, "weft_get_str: NULL out");
    weft_err e = wf_get_typed(rt, r, &v, timeout_ms, WEFT_T_STR, WEFT_T_STR);
    if (!e)
        *out = v.u.buf.data;
    return e;
}

WF_EXPORT bool weft_ready(weft_runtime *rt, weft_ref r)
{
    wf_obj *o = rt ? wf_store_lookup(rt->store, r) : NULL;
    return o && wf_obj_state(o) != WF_OBJ_PENDING;
}

WF_EXPORT weft_err weft_wait(weft_runtime *rt, const weft_ref *refs, size_t n,
                             size_t k, int64_t timeout_ms, bool *ready,
                             size_t *nready)
{
    if (!rt || (n && !refs))
        return wf_err(WEFT_EINVAL, "weft_wait: NULL argument");
    if (k > n)
        return wf_err(WEFT_EINVAL, "weft_wait: k=%zu is more than n=%zu", k, n);
    for (size_t i = 0; i < n; i++)
        if (!wf_store_lookup(rt->store, refs[i]))
            return wf_err(WEFT_EBADREF,
                          "weft_wait: reference %zu is invalid, released or "
                          "foreign",
                          i);
    uint64_t deadline = wf_deadline(timeout_ms);
    bool worker = wf_pool_is_worker(rt->pool);
    size_t count;
    for (;;) {
        uint32_t epoch = atomic_load(&rt->done_epoch);
        atomic_fetch_add(&rt->multi_waiters, 1);
        count = 0;
        for (size_t i = 0; i < n; i++) {
            bool r = wf_obj_state(wf_store_lookup(rt->store, refs[i])) !=
                     WF_OBJ_PENDING;
            if (ready)
                ready[i] = r;
            count += r;
        }
        int64_t left = -1;
        if (deadline) {
            uint64_t now = wf_now_ns();
            left = now >= deadline ? 0 : (int64_t)(deadline - now);
        }
        if (count >= k || left == 0) {
            atomic_fetch_sub(&rt->multi_waiters, 1);
            break;
        }
        if (worker)
            wf_pool_block_begin(rt->pool);
        wf_futex_wait(&rt->done_epoch, epoch, left);
        if (worker)
            wf_pool_block_end(rt->pool);
        atomic_fetch_sub(&rt->multi_waiters, 1);
    }
    if (nready)
        *nready = count;
    if (count < k)
        return wf_err(WEFT_ETIMEDOUT,
                      "weft_wait: %zu of %zu ready, wanted %zu, after %lld ms",
                      count, n, k, (long long)timeout_ms);
    return 0;
}

WF_EXPORT weft_err weft_retain(weft_runtime *rt, weft_ref r)
{
    wf_obj *o;
    weft_err e = wf_lookup(rt, r, "weft_retain", &o);
    if (!e)
        wf_obj_add_handle(o);
    return e;
}

WF_EXPORT weft_err weft_release(weft_runtime *rt, weft_ref r)
{
    wf_obj *o;
    weft_err e = wf_lookup(rt, r, "weft_release", &o);
    if (!e && wf_store_drop_handle(rt->store, o) != 0)
        e = wf_err(WEFT_EBADREF,
                   "weft_release: reference %#llx was already "
                   "released",
                   (unsigned long long)r.id);
    return e;
}

WF_EXPORT void weft_release_many(weft_runtime *rt, const weft_ref *refs,
                                 size_t n)
{
    for (size_t i = 0; refs && i < n; i++)
        if (refs[i].id)
            weft_release(rt, refs[i]);
}

WF_EXPORT const char *weft_error_message(weft_runtime *rt, weft_ref r)
{
    wf_obj *o = rt ? wf_store_lookup(rt->store, r) : NULL;
    if (!o || wf_obj_state(o) != WF_OBJ_FAILED)
        return NULL;
    return wf_obj_errmsg(o);
}
