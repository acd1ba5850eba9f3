/* The embedded runtime: what weft_runtime is inside, shared by the api
 * modules (runtime.c, submit.c, objects.c, context.c) and the actor layer. */
#ifndef WF_API_RUNTIME_H
#define WF_API_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>

#include <weft/weft.h>

#include "exec/pool.h"
#include "sched/task.h"
#include "store/store.h"

#define WF_EXPORT __attribute__((visibility("default")))

typedef struct wf_trace wf_trace;

typedef struct wf_tcount {
    _Atomic uint64_t submitted, finished, failed, freed, retried, actor_calls;
    char pad[16]; /* one cache line each (the array is 64-byte aligned) */
} wf_tcount;
typedef struct wf_actors wf_actors;

#define WF_CL_POOL_FDS 8
#define WF_CL_POOL_BYTES (1ull << 30)

struct weft_runtime {
    wf_store *store;
    wf_pool *pool;
    wf_actors *actors;
    struct wf_procs *procs;   /* worker processes, set up on first use */
    struct wf_driver *driver; /* driver mode: tasks run on the cluster */
    /* Driver mode: objects kept on nodes and their lineage (cluster.c). */
    pthread_mutex_t cl_lock;
    pthread_cond_t cl_cond;
    struct wf_cl_robj *cl_objs;
    /* Memfds of fetched objects since released, reused by the next fetch
     * of a similar size (fresh pages cost more than the copy). */
    struct {
        int fd;
        uint64_t cap;
    } cl_pool[WF_CL_POOL_FDS];
    int cl_npool;
    uint64_t cl_pool_bytes;
    int nprocs;
    char *worker_library;
    wf_trace *trace;
    char *trace_path;
    weft_executor executor;

    /* Resources: cpus are the pool's budget; memory and custom kinds are
     * taken here, under admit_lock, for tasks that need them. */
    int64_t cpus_total; /* thousandths */
    uint64_t mem_total, mem_free;
    int ncustom;
    char *custom_name[WF_MAX_CUSTOM];
    uint64_t custom_total[WF_MAX_CUSTOM], custom_free[WF_MAX_CUSTOM];
    pthread_mutex_t admit_lock;
    wf_task *admit_head, *admit_tail;
    _Atomic int64_t admit_count;

    /* Counters, one cache line per pool thread (and one shared by threads
     * outside the pool), so counting costs no cache-line ping-pong. Tasks
     * in flight = sum(submitted) - sum(freed). */
    wf_tcount *counts;
    void *counts_mem;
    /* Objects made by weft_create and not sealed yet (each pinned): a
     * seal must find its object here, and shutdown cancels what is left so
     * that tasks waiting on them end instead of hanging. */
    pthread_mutex_t created_lock;
    wf_obj **created;
    size_t ncreated, capcreated;

    /* Bumped on every publish while someone waits on many objects. */
    _Atomic uint32_t done_epoch;
    _Atomic int multi_waiters;
};

/* The calling thread's counters in rt. */
static inline wf_tcount *wf_counts(weft_runtime *rt)
{
    int i = wf_pool_self_index(rt->pool);
    return &rt->counts[i >= 0 ? i : WF_POOL_MAX];
}
#define WF_COUNT(rt, field)                                                    \
    atomic_fetch_add_explicit(&wf_counts(rt)->field, 1, memory_order_relaxed)

/* runtime.c: start a runtime without the worker-mode check; address (NULL:
 * embedded) makes it a driver of the cluster there. */
weft_err wf_runtime_start(weft_runtime **out, const weft_options *opts,
                          const char *address);

/* submit.c: parse "gpu=1,fpga=2" into amounts (thousandths) indexed like
 * rt->custom_name; define: add unknown names (weft_init), else an unknown
 * name is WEFT_ERESOURCE. Errors start with what. */
weft_err wf_parse_resources(weft_runtime *rt, const char *spec, bool define,
                            uint64_t *amounts, const char *what);

/* cluster.c: driver mode. Connect rt to the cluster at address and take
 * its resources as rt's; then run a ready task there. */
weft_err wf_cluster_connect(weft_runtime *rt, const weft_options *opts,
                            const char *address);
void wf_cluster_dispatch(weft_runtime *rt, wf_task *t);

/* submit.c */
weft_err wf_task_build(weft_runtime *rt, const wf_func *fn, const char *what,
                       const weft_value *args, size_t nargs,
                       const weft_task_opts *opts, uint8_t kind, wf_task **out,
                       weft_ref *refs);
void wf_task_start(weft_runtime *rt, wf_task *t);
/* A plain task's arguments are ready: run or dispatch it. */
void wf_task_ready(weft_runtime *rt, wf_task *t);
/* t's last argument came: kind and actor as read before the last count
 * (an actor call may be run and freed by its actor's turn from then on). */
void wf_task_became_ready(weft_runtime *rt, wf_task *t, uint8_t kind,
                          struct wf_actor *actor);
void wf_task_run(weft_runtime *rt, wf_task *t);
void wf_task_fail(weft_runtime *rt, wf_task *t, weft_err code, char *msg);
void wf_task_free(weft_runtime *rt, wf_task *t);
/* Free t and give back the resources it was admitted with. */
void wf_task_finish(weft_runtime *rt, wf_task *t);
void wf_admit(void *rt);
void wf_pool_run(void *rt, wf_work *w);
/* Publish a result object and wake what waited on it. */
void wf_publish(weft_runtime *rt, wf_obj *o);
/* A failed argument of t, if any (for upstream errors). */
wf_obj *wf_task_failed_arg(wf_task *t, size_t *index);
/* Turn "name: detail" from wf_task_build into "verb 'name': detail" (the
 * call is named only when there is an error to report). */
weft_err wf_err_named(weft_err e, const char *verb, const char *name);
/* If an argument of t failed, fail t with WEFT_EUPSTREAM naming the root
 * cause and return true. */
bool wf_task_fail_upstream(weft_runtime *rt, wf_task *t);

/* objects.c: fail every object still waiting for weft_seal. */
void wf_cancel_unsealed(weft_runtime *rt);

/* context.c: run fn on t's arguments in this thread and publish results. */
typedef struct wf_ctx wf_ctx;
void wf_ctx_run(weft_runtime *rt, wf_task *t, weft_task_fn fn, void *state,
                void **new_state);

/* trace.c */
/* tid: the pool thread's index, or a worker process's pid. */
void wf_trace_event(weft_runtime *rt, const char *name, uint64_t t0,
                    uint64_t t1, bool ok, int tid);
void wf_trace_free(wf_trace *tr);

/* actor layer entry points used by the runtime. */
wf_actors *wf_actors_new(void);
void wf_actors_free(weft_runtime *rt, wf_actors *a);
void wf_actor_run_task(weft_runtime *rt, wf_task *t);
/* One of a's calls became ready: start a turn if it is idle. */
void wf_actor_ready(weft_runtime *rt, struct wf_actor *a);

/* printf into a fresh wf_alloc'd string (NULL on OOM). */
char *wf_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
