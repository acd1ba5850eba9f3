/* Starting and stopping the embedded runtime; counters. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "cluster/driver.h"

static _Atomic uint32_t wf_next_tag;

WF_EXPORT void weft_options_init(weft_options *o)
{
    if (o)
        memset(o, 0, sizeof *o);
}

static weft_err wf_check_options(const weft_options *o)
{
    if (o->num_threads < 0 || o->num_threads > WF_POOL_MAX)
        return wf_err(WEFT_EINVAL, "weft_init: num_threads %d out of 0..%d",
                      o->num_threads, WF_POOL_MAX);
    if (o->num_procs < 0 || o->num_procs > 1024)
        return wf_err(WEFT_EINVAL, "weft_init: num_procs %d out of 0..1024",
                      o->num_procs);
    if (!(o->cpus >= 0) || o->cpus > 1e6)
        return wf_err(WEFT_EINVAL, "weft_init: cpus %g must be >= 0", o->cpus);
    if ((unsigned)o->executor > WEFT_EXEC_PROCESS)
        return wf_err(WEFT_EINVAL, "weft_init: unknown executor %d",
                      (int)o->executor);
    return 0;
}

WF_EXPORT void weft_worker_check(void)
{
    int fd = wf_worker_fd();
    if (fd >= 0) {
        wf_log_init();
        wf_worker_serve(fd); /* never returns */
    }
}

WF_EXPORT weft_err weft_init(weft_runtime **out, const weft_options *opts)
{
    weft_worker_check();
    wf_log_init();
    const char *addr =
        opts && opts->address ? opts->address : getenv("WEFT_ADDRESS");
    return wf_runtime_start(out, opts, addr && *addr ? addr : NULL);
}

weft_err wf_runtime_start(weft_runtime **out, const weft_options *opts,
                          const char *address)
{
    if (!out)
        return wf_err(WEFT_EINVAL, "weft_init: NULL out");
    *out = NULL;
    weft_options defaults;
    if (!opts) {
        weft_options_init(&defaults);
        opts = &defaults;
    }
    weft_err e = wf_check_options(opts);
    if (e)
        return e;
    weft_runtime *rt = wf_calloc(1, sizeof *rt);
    if (!rt)
        return wf_err(WEFT_ENOMEM, "weft_init: out of memory");
    pthread_mutex_init(&rt->admit_lock, NULL);
    pthread_mutex_init(&rt->created_lock, NULL);
    pthread_mutex_init(&rt->cl_lock, NULL);
    pthread_cond_init(&rt->cl_cond, NULL);
    rt->counts_mem = wf_calloc(WF_POOL_MAX + 2, sizeof *rt->counts);
    rt->counts =
        (wf_tcount *)(((uintptr_t)rt->counts_mem + 63) & ~(uintptr_t)63);
    if (!rt->counts_mem) {
        wf_free(rt);
        return wf_err(WEFT_ENOMEM, "weft_init: out of memory");
    }
    int ncpu = wf_ncpus();
    int threads = opts->num_threads ? opts->num_threads : ncpu;
    double cpus = opts->cpus > 0 ? opts->cpus : ncpu;
    rt->cpus_total = (int64_t)(cpus * 1000 + 0.5);
    rt->mem_total = rt->mem_free = opts->memory ? opts->memory : wf_phys_mem();
    rt->executor = opts->executor ? opts->executor : WEFT_EXEC_THREAD;
    rt->nprocs = opts->num_procs ? opts->num_procs : ncpu;
    if (opts->worker_library) {
        /* Load it here too, so its functions are known (names, signatures)
         * when tasks are submitted; they run in the worker processes. */
        if (!dlopen(opts->worker_library, RTLD_NOW | RTLD_GLOBAL)) {
            e = wf_err(WEFT_EINVAL, "weft_init: worker_library: %s", dlerror());
            goto fail;
        }
        if (!(rt->worker_library = wf_strdup(opts->worker_library))) {
            e = wf_err(WEFT_ENOMEM, "weft_init: out of memory");
            goto fail;
        }
    }
    if (opts->resources) {
        uint64_t amounts[WF_MAX_CUSTOM] = {0};
        if ((e = wf_parse_resources(rt, opts->resources, true, amounts,
                                    "weft_init")))
            goto fail;
        for (int k = 0; k < rt->ncustom; k++)
            rt->custom_total[k] = rt->custom_free[k] = amounts[k];
    }
    uint64_t cap = opts->store_cap ? opts->store_cap : wf_phys_mem() / 2;
    uint8_t tag = (uint8_t)(atomic_fetch_add(&wf_next_tag, 1) % 255 + 1);
    if (!(rt->store = wf_store_new(cap, tag))) {
        e = wf_err(WEFT_ENOMEM, "weft_init: out of memory");
        goto fail;
    }
    if (!(rt->actors = wf_actors_new())) {
        e = wf_err(WEFT_ENOMEM, "weft_init: out of memory");
        goto fail;
    }
    if (opts->trace_path) {
        if (!(rt->trace_path = wf_strdup(opts->trace_path)) ||
            (e = weft_trace_start(rt))) {
            e = e ? e : wf_err(WEFT_ENOMEM, "weft_init: out of memory");
            goto fail;
        }
    }
    rt->pool = wf_pool_new(threads, rt->cpus_total, wf_pool_run, wf_admit, rt);
    if (!rt->pool) {
        e = wf_err(WEFT_ESYS, "weft_init: cannot start %d threads", threads);
        goto fail;
    }
    if (address && (e = wf_cluster_connect(rt, opts, address)))
        goto fail;
    WF_LOG_INFO("event=init threads=%d cpus=%g store_cap=%llu cluster=%s",
                threads, cpus, (unsigned long long)cap,
                address ? address : "none");
    *out = rt;
    return 0;
fail:
    weft_shutdown(rt);
    return e;
}

static void wf_sum_counts(weft_runtime *rt, wf_tcount *sum)
{
    memset(sum, 0, sizeof *sum);
    for (int i = 0; i <= WF_POOL_MAX; i++) {
        wf_tcount *c = &rt->counts[i];
        sum->submitted +=
            atomic_load_explicit(&c->submitted, memory_order_acquire);
        sum->finished +=
            atomic_load_explicit(&c->finished, memory_order_relaxed);
        sum->failed += atomic_load_explicit(&c->failed, memory_order_relaxed);
        sum->freed += atomic_load_explicit(&c->freed, memory_order_acquire);
        sum->retried += atomic_load_explicit(&c->retried, memory_order_relaxed);
        sum->actor_calls +=
            atomic_load_explicit(&c->actor_calls, memory_order_relaxed);
    }
}

/* Wait until every submitted task has finished. */
static void wf_drain(weft_runtime *rt)
{
    struct timespec ts = {0, 200 * 1000};
    for (;;) {
        wf_tcount sum;
        wf_sum_counts(rt, &sum);
        if (sum.freed >= sum.submitted)
            return;
        nanosleep(&ts, NULL);
    }
}

WF_EXPORT void weft_shutdown(weft_runtime *rt)
{
    if (!rt)
        return;
    if (rt->pool) {
        wf_cancel_unsealed(rt); /* tasks waiting on them end, with an error */
        wf_drain(rt);
    }
    /* Then the processes (their I/O thread may still publish), then the
     * threads: a thread can still be finishing an actor's turn after its
     * last task is counted done, so actors go only once it is joined. */
    if (rt->driver) { /* written only when set: pool threads read it */
        wf_driver_stop(rt->driver);
        rt->driver = NULL;
    }
    wf_procs_free(rt->procs);
    rt->procs = NULL;
    if (rt->trace && rt->trace_path &&
        weft_trace_write(rt, rt->trace_path) != 0)
        WF_LOG_WARN("event=trace_write_failed detail=\"%s\"",
                    weft_last_error());
    wf_pool_free(rt->pool);
    if (rt->actors)
        wf_actors_free(rt, rt->actors);
    wf_trace_free(rt->trace);
    wf_free(rt->worker_library);
    wf_free(rt->trace_path);
    wf_store_free(rt->store);
    for (int k = 0; k < rt->ncustom; k++)
        wf_free(rt->custom_name[k]);
    pthread_mutex_destroy(&rt->admit_lock);
    wf_free(rt->created);
    pthread_mutex_destroy(&rt->created_lock);
    for (int k = 0; k < rt->cl_npool; k++)
        close(rt->cl_pool[k].fd);
    pthread_mutex_destroy(&rt->cl_lock);
    pthread_cond_destroy(&rt->cl_cond);
    wf_free(rt->counts_mem);
    wf_free(rt);
}

WF_EXPORT void weft_get_stats(weft_runtime *rt, weft_stats *s)
{
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    if (!rt)
        return;
    wf_tcount sum;
    wf_sum_counts(rt, &sum);
    s->tasks_submitted = sum.submitted;
    s->tasks_finished = sum.finished;
    s->tasks_failed = sum.failed;
    s->tasks_retried = sum.retried;
    s->actor_calls = sum.actor_calls;
    s->worker_crashes = wf_procs_deaths(rt->procs);
    wf_store_counts(rt->store, &s->objects, &s->store_bytes, &s->store_cap);
    s->threads = (uint32_t)wf_pool_threads(rt->pool);
    s->procs = (uint32_t)wf_procs_count(rt->procs);
    s->nodes = rt->driver ? (uint32_t)wf_driver_nodes(rt->driver) : 0;
    s->tasks_stolen = rt->driver ? wf_driver_stolen(rt->driver) : 0;
}

WF_EXPORT weft_err weft__check(weft_err e, const char *expr, const char *file,
                               int line)
{
    if (e == 0)
        return 0;
    fprintf(stderr, "%s:%d: %s failed: %s (%s)\n  %s\n", file, line, expr,
            weft_strerror(e), weft_err_name(e), weft_last_error());
    exit(1);
}
