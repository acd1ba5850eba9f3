#include "sched/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

#define WF_EXPORT __attribute__((visibility("default")))
#define WF_REG_CAP 8192 /* power of two */

/* Open addressing, insert-only: an entry is published with a release store
 * and never changes after, so readers need no lock. */
static _Atomic(wf_func *) wf_funcs[WF_REG_CAP];
static _Atomic(wf_class *) wf_classes[WF_REG_CAP];
static pthread_mutex_t wf_reg_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t wf_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

const wf_func *wf_func_find(const char *name)
{
    for (uint32_t i = wf_hash(name), n = 0; n < WF_REG_CAP; i++, n++) {
        wf_func *f = atomic_load_explicit(&wf_funcs[i & (WF_REG_CAP - 1)],
                                          memory_order_acquire);
        if (!f)
            return NULL;
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

const wf_class *wf_class_find(const char *name)
{
    for (uint32_t i = wf_hash(name), n = 0; n < WF_REG_CAP; i++, n++) {
        wf_class *c = atomic_load_explicit(&wf_classes[i & (WF_REG_CAP - 1)],
                                           memory_order_acquire);
        if (!c)
            return NULL;
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

const wf_func *wf_class_method(const wf_class *c, const char *name)
{
    for (size_t i = 0; i < c->nmethods; i++)
        if (strcmp(c->methods[i].name, name) == 0)
            return &c->methods[i];
    return NULL;
}

static weft_err wf_sig_valid(const char *sig, const char *name)
{
    if (!sig)
        return 0;
    for (const char *p = sig; *p; p++) {
        if (!strchr("ifbsya*.", *p) || (*p == '.' && p[1]))
            return wf_err(WEFT_EINVAL,
                          "register '%s': bad signature \"%s\" at '%c' (use "
                          "i f b s y a * and a final .)",
                          name, sig, *p);
    }
    return 0;
}

/* Insert under the lock; slot is claimed by the first empty position. */
static weft_err wf_insert(_Atomic(void *) *table, const char *name, void *entry,
                          const char *what)
{
    weft_err e = 0;
    pthread_mutex_lock(&wf_reg_lock);
    for (uint32_t i = wf_hash(name), n = 0;; i++, n++) {
        if (n == WF_REG_CAP) {
            e = wf_err(WEFT_ENOMEM, "register %s '%s': registry is full", what,
                       name);
            break;
        }
        _Atomic(void *) *slot = &table[i & (WF_REG_CAP - 1)];
        void *cur = atomic_load_explicit(slot, memory_order_relaxed);
        if (!cur) {
            atomic_store_explicit(slot, entry, memory_order_release);
            break;
        }
        if (strcmp(*(const char **)cur, name) == 0) {
            e = wf_err(WEFT_EEXIST, "register %s '%s': name already registered",
                       what, name);
            break;
        }
    }
    pthread_mutex_unlock(&wf_reg_lock);
    return e;
}

WF_EXPORT weft_err weft_register(const char *name, weft_task_fn fn,
                                 const char *sig)
{
    if (!name || !*name || !fn)
        return wf_err(WEFT_EINVAL, "weft_register: %s is NULL or empty",
                      !fn ? "function" : "name");
    weft_err e = wf_sig_valid(sig, name);
    if (e)
        return e;
    wf_func *f = wf_calloc(1, sizeof *f);
    if (!f || !(f->name = wf_strdup(name)) ||
        (sig && !(f->sig = wf_strdup(sig)))) {
        if (f)
            wf_free((char *)f->name);
        wf_free(f);
        return wf_err(WEFT_ENOMEM, "weft_register: out of memory");
    }
    f->fn = fn;
    e = wf_insert((_Atomic(void *) *)wf_funcs, name, f, "function");
    if (e) {
        wf_free((char *)f->name);
        wf_free((char *)f->sig);
        wf_free(f);
    }
    return e;
}

static void wf_class_destroy(wf_class *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->methods && i < c->nmethods; i++) {
        wf_free((char *)c->methods[i].name);
        wf_free((char *)c->methods[i].sig);
    }
    wf_free(c->methods);
    wf_free((char *)c->name);
    wf_free((char *)c->init_sig);
    wf_free(c);
}

WF_EXPORT weft_err weft_register_actor(const weft_actor_class *cls)
{
    if (!cls || !cls->name || !*cls->name || !cls->init ||
        (cls->nmethods && !cls->methods))
        return wf_err(WEFT_EINVAL, "weft_register_actor: class, name, init "
                                   "or methods missing");
    weft_err e = wf_sig_valid(cls->init_sig, cls->name);
    for (size_t i = 0; !e && i < cls->nmethods; i++) {
        const char *mname = cls->methods[i].name;
        if (!mname || !*mname || !cls->methods[i].fn) {
            e = wf_err(WEFT_EINVAL,
                       "weft_register_actor '%s': method %zu has no name or "
                       "function",
                       cls->name, i);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(cls->methods[j].name, mname) == 0)
                e = wf_err(WEFT_EEXIST,
                           "weft_register_actor '%s': method '%s' is listed "
                           "twice",
                           cls->name, mname);
        if (!e)
            e = wf_sig_valid(cls->methods[i].sig, mname);
    }
    if (e)
        return e;
    wf_class *c = wf_calloc(1, sizeof *c);
    if (!c)
        return wf_err(WEFT_ENOMEM, "weft_register_actor: out of memory");
    c->init = cls->init;
    c->destroy = cls->destroy;
    c->nmethods = cls->nmethods;
    c->name = wf_strdup(cls->name);
    c->init_sig = cls->init_sig ? wf_strdup(cls->init_sig) : NULL;
    c->methods = wf_calloc(cls->nmethods ? cls->nmethods : 1, sizeof(wf_func));
    bool oom = !c->name || (cls->init_sig && !c->init_sig) || !c->methods;
    for (size_t i = 0; !oom && i < cls->nmethods; i++) {
        c->methods[i].fn = cls->methods[i].fn;
        c->methods[i].name = wf_strdup(cls->methods[i].name);
        c->methods[i].sig =
            cls->methods[i].sig ? wf_strdup(cls->methods[i].sig) : NULL;
        oom =
            !c->methods[i].name || (cls->methods[i].sig && !c->methods[i].sig);
    }
    if (oom) {
        wf_class_destroy(c);
        return wf_err(WEFT_ENOMEM, "weft_register_actor: out of memory");
    }
    e = wf_insert((_Atomic(void *) *)wf_classes, cls->name, c, "actor class");
    if (e)
        wf_class_destroy(c);
    return e;
}

const char *wf_type_name(weft_type t)
{
    static const char *const names[] = {"none", "i64",   "f64",   "bool",
                                        "str",  "bytes", "array", "ref"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "unknown";
}

static bool wf_type_fits(char want, weft_type t)
{
    switch (want) {
    case 'i':
        return t == WEFT_T_I64;
    case 'f':
        return t == WEFT_T_F64 || t == WEFT_T_I64;
    case 'b':
        return t == WEFT_T_BOOL;
    case 's':
        return t == WEFT_T_STR;
    case 'y':
        return t == WEFT_T_BYTES;
    case 'a':
        return t == WEFT_T_ARRAY;
    default:
        return true;
    }
}

static const char *wf_want_name(char c)
{
    switch (c) {
    case 'i':
        return "i64";
    case 'f':
        return "f64";
    case 'b':
        return "bool";
    case 's':
        return "str";
    case 'y':
        return "bytes";
    case 'a':
        return "array";
    default:
        return "any";
    }
}

/* The signature letter for argument i, or 0 past a fixed signature. */
static char wf_sig_at(const char *sig, size_t i, size_t len, bool variadic)
{
    size_t fixed = len - variadic;
    if (i < fixed)
        return sig[i];
    return variadic ? '*' : 0;
}

weft_err wf_sig_check_one(const char *sig, size_t i, const weft_value *v,
                          const char *what)
{
    if (!sig)
        return 0;
    size_t len = strlen(sig);
    bool variadic = len && sig[len - 1] == '.';
    char want = wf_sig_at(sig, i, len, variadic);
    if (v->type == WEFT_T_REF || !want || wf_type_fits(want, v->type))
        return 0;
    return wf_err(WEFT_ETYPE, "%s: argument %zu must be %s, got %s", what, i,
                  wf_want_name(want), wf_type_name(v->type));
}

weft_err wf_sig_check(const char *sig, const weft_value *args, size_t n,
                      const char *what)
{
    if (!sig)
        return 0;
    size_t len = strlen(sig);
    bool variadic = len && sig[len - 1] == '.';
    size_t fixed = len - variadic;
    if (n < fixed || (!variadic && n > fixed))
        return wf_err(WEFT_EARGC, "%s: takes %s%zu argument%s, got %zu", what,
                      variadic ? "at least " : "", fixed, fixed == 1 ? "" : "s",
                      n);
    for (size_t i = 0; i < n; i++) {
        weft_err e = wf_sig_check_one(sig, i, &args[i], what);
        if (e)
            return e;
    }
    return 0;
}
