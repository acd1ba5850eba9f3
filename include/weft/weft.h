/* weft: tasks, futures, task graphs, actors and a shared object store for C.
 *
 * Conventions (see docs/guide.md):
 * - Fallible functions return a weft_err (0 or a negative WEFT_E* code); the
 *   detail of the last error on this thread is weft_last_error().
 * - "Blocks" says whether a call may sleep; "in tasks" whether it may be
 *   called from inside a running task or actor method.
 * - A weft_ref is a handle you own: release it with weft_release() once.
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/errors.h>
#include <weft/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- types */

typedef struct weft_runtime weft_runtime; /* one runtime (embedded or client) */
typedef struct weft_task weft_task;       /* a running task's context */

/* A reference (future) to an object in the store. {0} is "no reference". */
typedef struct weft_ref {
    uint64_t id;
} weft_ref;

/* A handle to an actor instance. {0} is "no actor". */
typedef struct weft_actor {
    uint64_t id;
} weft_actor;

#define WEFT_FOREVER (-1) /* timeout: wait as long as it takes */

typedef enum weft_type {
    WEFT_T_NONE = 0, /* no value */
    WEFT_T_I64,
    WEFT_T_F64,
    WEFT_T_BOOL,
    WEFT_T_STR,   /* UTF-8 text, NUL-terminated in the store */
    WEFT_T_BYTES, /* opaque bytes */
    WEFT_T_ARRAY, /* n-d numeric array: dtype + shape + C-order data */
    WEFT_T_REF,   /* argument only: the value of another object */
} weft_type;

typedef enum weft_dtype {
    WEFT_DT_F64 = 1,
    WEFT_DT_F32,
    WEFT_DT_I64,
    WEFT_DT_I32,
    WEFT_DT_U8,
    WEFT_DT_BOOL, /* one byte per element, 0 or 1 */
} weft_dtype;

#define WEFT_MAX_NDIM 8

/* A value: an argument, a result, or what weft_get() reads. Pointers in a
 * value read from the store stay valid while you hold its reference. */
typedef struct weft_value {
    weft_type type;
    union {
        int64_t i64;
        double f64;
        bool b;
        struct {
            const void *data;
            size_t len; /* bytes; for STR, without the final NUL */
        } buf;
        struct {
            const void *data;
            const int64_t *shape;
            uint32_t ndim;
            weft_dtype dtype;
        } arr;
        weft_ref ref;
    } u;
} weft_value;

/* Value constructors (no allocation: buffers are copied when submitted). */
static inline weft_value weft_i64(int64_t v)
{
    weft_value x = {WEFT_T_I64, {.i64 = v}};
    return x;
}
static inline weft_value weft_f64(double v)
{
    weft_value x = {WEFT_T_F64, {.f64 = v}};
    return x;
}
static inline weft_value weft_bool(bool v)
{
    weft_value x = {WEFT_T_BOOL, {.b = v}};
    return x;
}
weft_value weft_str(const char *s); /* s may not be NULL (checked on use) */
static inline weft_value weft_bytes(const void *p, size_t n)
{
    weft_value x = {WEFT_T_BYTES, {.buf = {p, n}}};
    return x;
}
static inline weft_value weft_array(weft_dtype dt, uint32_t ndim,
                                    const int64_t *shape, const void *data)
{
    weft_value x = {WEFT_T_ARRAY, {.arr = {data, shape, ndim, dt}}};
    return x;
}
/* An argument that is the value of another object (a task graph edge). */
static inline weft_value weft_refv(weft_ref r)
{
    weft_value x = {WEFT_T_REF, {.ref = r}};
    return x;
}

/* Bytes per element of a dtype, 0 if unknown. */
size_t weft_dtype_size(weft_dtype dt);

/* Argument list literal: weft_submit(rt, "f", WEFT_ARGS(weft_i64(1)), ...). */
#define WEFT_ARGS(...)                                                         \
    ((const weft_value[]){__VA_ARGS__}),                                       \
        (sizeof((const weft_value[]){__VA_ARGS__}) / sizeof(weft_value))
#define WEFT_NOARGS NULL, 0

/* ------------------------------------------------------------- runtime */

typedef enum weft_executor {
    WEFT_EXEC_DEFAULT = 0, /* the runtime's default (threads unless set) */
    WEFT_EXEC_THREAD,      /* a thread of this program */
    WEFT_EXEC_PROCESS,     /* a worker process running this executable */
} weft_executor;

typedef struct weft_options {
    const char *address;    /* "host:port" of a cluster's head: run as its
                               driver; NULL: $WEFT_ADDRESS, and if that is
                               unset too, embedded in this program */
    int num_threads;        /* worker threads; 0: one per core */
    int num_procs;          /* worker processes; 0: one per core */
    weft_executor executor; /* default executor for tasks and actors */
    double cpus;            /* schedulable cpus; 0: number of cores */
    uint64_t memory;        /* schedulable memory bytes; 0: physical RAM */
    const char *resources;  /* custom resources, "gpu=1,fpga=2"; NULL none */
    uint64_t store_cap;     /* object store bytes; 0: half of RAM */
    const char *trace_path; /* write a Chrome trace here at shutdown */
    const char *worker_library; /* worker processes load this .so instead of
                                   running this executable */
    const char *token_file;     /* cluster token; NULL: $WEFT_TOKEN_FILE, else
                                   the token `weft start` left on this machine */
} weft_options;

/* Fill *o with defaults (all zero/NULL). Does not block. */
void weft_options_init(weft_options *o);

/* Start a runtime. opts may be NULL for defaults (embedded, all cores).
 * On success *rt owns the runtime; free it with weft_shutdown().
 * In a worker process started by weft this call never returns: it serves
 * tasks until the parent goes away, so call it early in main(). Not in tasks.
 */
weft_err weft_init(weft_runtime **rt, const weft_options *opts);

/* If this process is a worker process started by weft, serve tasks and
 * never return; otherwise return at once. weft_init does this itself; call
 * it first in main() when main does other work before weft_init. */
void weft_worker_check(void);

/* Wait for running tasks to end, free every object and the runtime.
 * rt may be NULL. Blocks. Not in tasks. */
void weft_shutdown(weft_runtime *rt);

/* ------------------------------------------------------ registration */

typedef weft_err (*weft_task_fn)(weft_task *t);

/* Register fn under name, with an argument signature: one letter per
 * argument, i=i64 f=f64 (an i64 is accepted) b=bool s=str y=bytes a=array
 * *=any, and a final '.' for "any number more". NULL sig: unchecked.
 * Usually called through WEFT_REGISTER at load time. Thread-safe. */
weft_err weft_register(const char *name, weft_task_fn fn, const char *sig);

#define WEFT__CTOR(id) __attribute__((constructor)) static void id(void)
/* Register a task function by its own name at program load. */
#define WEFT_REGISTER(fn) WEFT_REGISTER_SIG(fn, NULL)
#define WEFT_REGISTER_SIG(fn, sig)                                             \
    WEFT__CTOR(weft__reg_##fn)                                                 \
    {                                                                          \
        (void)weft_register(#fn, fn, sig);                                     \
    }

/* An actor method: runs with the instance's state, weft_actor_state(t). */
typedef struct weft_method {
    const char *name;
    weft_task_fn fn;
    const char *sig;
} weft_method;

typedef struct weft_actor_class {
    const char *name;
    weft_task_fn init;            /* constructor: sets weft_actor_set_state() */
    void (*destroy)(void *state); /* may be NULL */
    const weft_method *methods;
    size_t nmethods;
    const char *init_sig; /* constructor argument signature or NULL */
} weft_actor_class;

/* Register an actor class (copied; strings must stay valid). Thread-safe. */
weft_err weft_register_actor(const weft_actor_class *cls);

#define WEFT_REGISTER_ACTOR(cname, init_fn, destroy_fn, methods_array)         \
    WEFT__CTOR(weft__regactor_##cname)                                         \
    {                                                                          \
        weft_actor_class c = {#cname,                                          \
                              init_fn,                                         \
                              destroy_fn,                                      \
                              methods_array,                                   \
                              sizeof(methods_array) / sizeof(weft_method),     \
                              NULL};                                           \
        (void)weft_register_actor(&c);                                         \
    }

/* ----------------------------------------------------------- tasks */

typedef struct weft_task_opts {
    uint32_t num_returns;   /* results (references) made; default 1 */
    int32_t max_retries;    /* re-runs after a worker crash; default 3 */
    double cpus;            /* cpus held while running; default 1; may be
                               fractional (0.25) so waiting tasks share one */
    uint64_t memory;        /* bytes of schedulable memory held; default 0 */
    const char *resources;  /* custom needs, "gpu=1"; NULL none */
    const char *name;       /* display name in traces; default the function */
    weft_executor executor; /* where it runs; default the runtime's */
} weft_task_opts;

/* Fill *o with defaults. Does not block. */
void weft_task_opts_init(weft_task_opts *o);

/* Submit fn(args) and return its result reference(s) in out[0..num_returns)
 * at once; args are copied. opts may be NULL (defaults). The task runs when
 * every WEFT_T_REF argument is ready. Errors (unknown name, bad argument
 * count or type, bad reference, impossible resources) are returned here.
 * You own the returned references. Does not block. In tasks: yes. */
weft_err weft_submit(weft_runtime *rt, const char *fn, const weft_value *args,
                     size_t nargs, const weft_task_opts *opts, weft_ref *out);

/* ------------------------------------------------- objects, futures */

/* Store a copy of v as a new object; *out is your reference. Arrays and
 * buffers are copied once into shared memory. In tasks: yes. */
weft_err weft_put(weft_runtime *rt, const weft_value *v, weft_ref *out);

/* Create an object of n uninitialised bytes, to be filled in place through
 * *data and then published with weft_seal(); no copy is made. In tasks: yes. */
weft_err weft_create(weft_runtime *rt, size_t n, void **data, weft_ref *out);
weft_err weft_seal(weft_runtime *rt, weft_ref r);

/* Wait up to timeout_ms (WEFT_FOREVER, 0 = poll) for r and view its value in
 * *out without copying; the view is valid while you hold r. Returns the
 * task's error code if it failed (detail: weft_error_message()). Blocks.
 * In tasks: yes (the pool lends your cpu to other tasks meanwhile). */
weft_err weft_get(weft_runtime *rt, weft_ref r, weft_value *out,
                  int64_t timeout_ms);

/* weft_get of n references; returns the first error met (out[i] of failed
 * ones is WEFT_T_NONE). Blocks. In tasks: yes. */
weft_err weft_get_many(weft_runtime *rt, const weft_ref *refs, size_t n,
                       weft_value *out, int64_t timeout_ms);

/* Typed gets: WEFT_ETYPE if the value has another type (an i64 is read as
 * f64 too). *s stays valid while you hold r. Blocks. In tasks: yes. */
weft_err weft_get_i64(weft_runtime *rt, weft_ref r, int64_t *v,
                      int64_t timeout_ms);
weft_err weft_get_f64(weft_runtime *rt, weft_ref r, double *v,
                      int64_t timeout_ms);
weft_err weft_get_bool(weft_runtime *rt, weft_ref r, bool *v,
                       int64_t timeout_ms);
weft_err weft_get_str(weft_runtime *rt, weft_ref r, const char **s,
                      int64_t timeout_ms);

/* Wait until k of the n references are ready (done or failed) or the
 * timeout passes; ready[i] tells which (may be NULL), *nready how many (may
 * be NULL). WEFT_ETIMEDOUT if fewer than k. Blocks. In tasks: yes. */
weft_err weft_wait(weft_runtime *rt, const weft_ref *refs, size_t n, size_t k,
                   int64_t timeout_ms, bool *ready, size_t *nready);

/* Ready (done or failed)? Does not block. */
bool weft_ready(weft_runtime *rt, weft_ref r);

/* Take another handle on r (released separately). Does not block. */
weft_err weft_retain(weft_runtime *rt, weft_ref r);

/* Give up a handle. The object is freed when no handle and no pending task
 * needs it. Does not block. In tasks: yes. */
weft_err weft_release(weft_runtime *rt, weft_ref r);

/* Release n handles, skipping {0}. */
void weft_release_many(weft_runtime *rt, const weft_ref *refs, size_t n);

/* If r failed: "task 'bmi' failed on thread 3: message" (valid while you
 * hold r); NULL if it did not fail. Does not block. */
const char *weft_error_message(weft_runtime *rt, weft_ref r);

/* ------------------------------------------------- inside a task */

size_t weft_nargs(const weft_task *t);
weft_type weft_arg_type(const weft_task *t, size_t i);
/* Argument i. On a type mismatch these return 0/NULL and the task fails
 * with WEFT_ETYPE naming the argument, once it returns. */
int64_t weft_arg_i64(weft_task *t, size_t i);
double weft_arg_f64(weft_task *t, size_t i); /* i64 converts */
bool weft_arg_bool(weft_task *t, size_t i);
const char *weft_arg_str(weft_task *t, size_t i);
const void *weft_arg_bytes(weft_task *t, size_t i, size_t *len);
/* Whole argument as a value view (arrays: dtype, shape, data). */
const weft_value *weft_arg(weft_task *t, size_t i);

/* Set result i (0 <= i < num_returns); buffers are copied. Returns 0. */
weft_err weft_return(weft_task *t, size_t i, const weft_value *v);
weft_err weft_return_i64(weft_task *t, int64_t v);     /* result 0 */
weft_err weft_return_f64(weft_task *t, double v);      /* result 0 */
weft_err weft_return_bool(weft_task *t, bool v);       /* result 0 */
weft_err weft_return_str(weft_task *t, const char *s); /* result 0 */
/* Result i as n bytes written in place through *data: no copy. */
weft_err weft_return_alloc(weft_task *t, size_t i, size_t n, void **data);
/* Result i as an array of dtype and shape[0..ndim) whose elements (C
 * order) are written in place through *data: no copy. */
weft_err weft_return_alloc_array(weft_task *t, size_t i, weft_dtype dtype,
                                 uint32_t ndim, const int64_t *shape,
                                 void **data);

/* Fail the task with a printf-style message; returns WEFT_ETASK so a task
 * can end with: return weft_fail(t, "bad weight %g", w); */
weft_err weft_fail(weft_task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The runtime running this task, to submit nested tasks or get objects. */
weft_runtime *weft_task_runtime(weft_task *t);

/* Inside an actor method or constructor: the instance's state. */
void *weft_actor_state(weft_task *t);
void weft_actor_set_state(weft_task *t, void *state);

/* ---------------------------------------------------------- actors */

typedef struct weft_actor_opts {
    const char *name;       /* register under this name; NULL: anonymous */
    int32_t max_restarts;   /* process actors: restarts after a crash; 0 */
    double cpus;            /* cpus held for the actor's life; default 0 */
    const char *resources;  /* custom needs, "gpu=1"; NULL none */
    weft_executor executor; /* thread or process; default the runtime's */
} weft_actor_opts;

void weft_actor_opts_init(weft_actor_opts *o);

/* Create an instance of a registered class; the constructor runs with args.
 * opts may be NULL. Does not wait for the constructor (a failed constructor
 * fails every call with its message). Does not block. In tasks: yes. */
weft_err weft_actor_create(weft_runtime *rt, const char *cls,
                           const weft_value *args, size_t nargs,
                           const weft_actor_opts *opts, weft_actor *out);

/* Call a method; calls on one actor run one at a time in call order. opts
 * may be NULL (num_returns is honoured). Does not block. In tasks: yes. */
weft_err weft_actor_call(weft_runtime *rt, weft_actor a, const char *method,
                         const weft_value *args, size_t nargs,
                         const weft_task_opts *opts, weft_ref *out);

/* Find a named actor. Does not block. */
weft_err weft_actor_lookup(weft_runtime *rt, const char *name, weft_actor *out);

/* Stop an actor: calls not yet run fail with WEFT_EACTORDEAD, the
 * destructor runs after the current call. The handle becomes invalid. */
weft_err weft_actor_kill(weft_runtime *rt, weft_actor a);

/* ---------------------------------------------------- observability */

typedef struct weft_stats {
    uint64_t tasks_submitted, tasks_finished, tasks_failed, tasks_retried;
    uint64_t actor_calls;
    uint64_t objects;     /* objects alive in the store */
    uint64_t store_bytes; /* bytes they hold */
    uint64_t store_cap;
    uint64_t worker_crashes;
    uint32_t threads, procs;
    uint32_t nodes;        /* driver mode: cluster nodes ready to run tasks */
    uint64_t tasks_stolen; /* driver mode: tasks a busy node gave back,
                              unstarted, to run on an idle one */
} weft_stats;

/* Snapshot of the runtime's counters. Does not block. */
void weft_get_stats(weft_runtime *rt, weft_stats *out);

/* Write the timeline recorded so far (tasks: what ran where and when) as
 * Chrome trace JSON; tracing starts with weft_trace_start() or
 * options.trace_path. */
weft_err weft_trace_start(weft_runtime *rt);
weft_err weft_trace_write(weft_runtime *rt, const char *path);

/* Check helper for examples: print the error and exit on failure. */
#define WEFT_CHECK(expr) weft__check((expr), #expr, __FILE__, __LINE__)
weft_err weft__check(weft_err e, const char *expr, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
