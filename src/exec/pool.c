#include "exec/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/platform.h"
#include "exec/deque.h"

#define WF_SPIN_ROUNDS 2048 /* pauses before parking (~tens of us) */
#define WF_HELP_DEPTH 48    /* nested helping before a waiter sleeps */

typedef struct wf_worker {
    wf_deque dq;
    struct wf_pool *pool;
    pthread_t th;
    int id;
    int64_t held;         /* thousandths of a cpu held while awake */
    int64_t blocked_hold; /* what a nested wait gave back, to retake */
    int help_depth;
    uint64_t rng;
    bool started; /* its thread exists (joined at free) */
} wf_worker;

struct wf_pool {
    wf_worker *workers[WF_POOL_MAX];
    _Atomic int nworkers;
    int base_threads;
    pthread_mutex_t spawn_lock;

    pthread_mutex_t inj_lock;
    wf_work *inj_head, *inj_tail;
    _Atomic int64_t inj_count;
    /* Admitted work (own resources): taken one at a time, never batched
     * into a deque, so each item can start on its own thread at once. */
    wf_work *adm_head, *adm_tail;
    _Atomic int64_t adm_count;

    _Atomic uint32_t epoch; /* bumped to wake parked workers */
    _Atomic int sleepers;
    _Atomic int spinning; /* workers looking for work before parking */
    int max_spinning;     /* more spinners would only fight over cores */
    _Atomic int starting; /* threads created that have not looked yet */
    _Atomic int blocked;
    _Atomic int64_t cpu_free;
    _Atomic uint32_t cpu_epoch;
    _Atomic int cpu_waiters;
    _Atomic bool stop;

    wf_pool_run_fn run;
    wf_pool_idle_fn on_cpu_free;
    void *ctx;
};

static _Thread_local wf_worker *wf_self;

static void wf_notify(wf_pool *p);

/* ------------------------------------------------------------ cpu */

bool wf_pool_cpu_take(wf_pool *p, int64_t milli)
{
    int64_t cur = atomic_load_explicit(&p->cpu_free, memory_order_relaxed);
    do {
        if (cur < milli)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &p->cpu_free, &cur, cur - milli, memory_order_acq_rel,
        memory_order_relaxed));
    return true;
}

void wf_pool_cpu_give(wf_pool *p, int64_t milli)
{
    atomic_fetch_add_explicit(&p->cpu_free, milli, memory_order_acq_rel);
    if (atomic_load(&p->cpu_waiters) > 0) {
        atomic_fetch_add(&p->cpu_epoch, 1);
        wf_futex_wake(&p->cpu_epoch, 1 << 30);
    }
    if (p->on_cpu_free)
        p->on_cpu_free(p->ctx);
}

static bool wf_hold(wf_worker *w)
{
    if (w->held)
        return true;
    if (!wf_pool_cpu_take(w->pool, 1000))
        return false;
    w->held = 1000;
    return true;
}

static void wf_drop_hold(wf_worker *w)
{
    if (w->held) {
        int64_t h = w->held;
        w->held = 0;
        wf_pool_cpu_give(w->pool, h);
    }
}

/* No cpu left for ordinary work: sleep until some is given back. */
static void wf_wait_cpu(wf_pool *p)
{
    uint32_t e = atomic_load(&p->cpu_epoch);
    atomic_fetch_add(&p->cpu_waiters, 1);
    if (atomic_load(&p->cpu_free) < 1000 && !atomic_load(&p->stop))
        wf_futex_wait(&p->cpu_epoch, e, 100 * 1000 * 1000);
    atomic_fetch_sub(&p->cpu_waiters, 1);
}

/* ---------------------------------------------------------- queues */

static void wf_inject(wf_pool *p, wf_work *w)
{
    w->next = NULL;
    pthread_mutex_lock(&p->inj_lock);
    if (p->inj_tail)
        p->inj_tail->next = w;
    else
        p->inj_head = w;
    p->inj_tail = w;
    atomic_fetch_add_explicit(&p->inj_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->inj_lock);
}

/* Take up to a batch from the injection queue: the first is returned, the
 * rest go to the worker's own deque for it (and thieves) to run. */
static wf_work *wf_take_injected(wf_worker *w)
{
    wf_pool *p = w->pool;
    if (atomic_load_explicit(&p->inj_count, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&p->inj_lock);
    wf_work *first = p->inj_head;
    int64_t n = atomic_load_explicit(&p->inj_count, memory_order_relaxed);
    int64_t nw = atomic_load_explicit(&p->nworkers, memory_order_relaxed);
    int64_t take = n / (nw ? nw : 1);
    take = take < 1 ? 1 : take > 64 ? 64 : take;
    wf_work *last = first;
    int64_t got = first ? 1 : 0;
    while (last && got < take && last->next) {
        last = last->next;
        got++;
    }
    if (first) {
        p->inj_head = last->next;
        if (!p->inj_head)
            p->inj_tail = NULL;
        atomic_fetch_sub_explicit(&p->inj_count, got, memory_order_relaxed);
        last->next = NULL;
    }
    pthread_mutex_unlock(&p->inj_lock);
    if (!first)
        return NULL;
    wf_work *rest = first->next;
    while (rest) {
        wf_work *nx = rest->next;
        if (wf_deque_push(&w->dq, rest) != 0)
            wf_inject(p, rest);
        rest = nx;
    }
    return first;
}

static wf_work *wf_steal(wf_worker *w)
{
    wf_pool *p = w->pool;
    int n = atomic_load_explicit(&p->nworkers, memory_order_acquire);
    if (n <= 1)
        return NULL;
    w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
    int start = (int)((w->rng >> 33) % (uint64_t)n);
    for (int i = 0; i < n; i++) {
        wf_worker *v = p->workers[(start + i) % n];
        if (v == w || !v)
            continue;
        wf_work *x = wf_deque_steal(&v->dq);
        if (x)
            return x;
    }
    return NULL;
}

static wf_work *wf_take_admitted(wf_pool *p)
{
    if (atomic_load_explicit(&p->adm_count, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&p->inj_lock);
    wf_work *x = p->adm_head;
    if (x) {
        p->adm_head = x->next;
        if (!p->adm_head)
            p->adm_tail = NULL;
        atomic_fetch_sub_explicit(&p->adm_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->inj_lock);
    return x;
}

static wf_work *wf_find(wf_worker *w)
{
    wf_work *x = wf_take_admitted(w->pool);
    if (x)
        return x;
    x = wf_deque_pop(&w->dq);
    if (!x)
        x = wf_take_injected(w);
    if (!x)
        x = wf_steal(w);
    return x;
}

static bool wf_work_visible(wf_pool *p)
{
    if (atomic_load(&p->inj_count) > 0 || atomic_load(&p->adm_count) > 0)
        return true;
    int n = atomic_load(&p->nworkers);
    for (int i = 0; i < n; i++)
        if (p->workers[i] && !wf_deque_empty(&p->workers[i]->dq))
            return true;
    return false;
}

/* ---------------------------------------------------------- threads */

static void wf_execute(wf_worker *w, wf_work *x)
{
    wf_pool *p = w->pool;
    if (x->admitted) {
        wf_drop_hold(w);
    } else if (!wf_hold(w)) {
        /* The budget is held by admitted work: put this back, wait. */
        wf_inject(p, x);
        wf_wait_cpu(p);
        return;
    }
    p->run(p->ctx, x);
}

/* An idle worker found work. Submitters skip the wake-up while a worker
 * spins, counting on it; so if more work is visible and no one else is
 * looking, wake one more worker, which does the same in turn (as Go's
 * scheduler does when a spinning thread finds work). */
static void wf_wake_more(wf_pool *p)
{
    if (atomic_load(&p->spinning) == 0 && atomic_load(&p->sleepers) > 0 &&
        wf_work_visible(p)) {
        atomic_fetch_add(&p->epoch, 1);
        wf_futex_wake(&p->epoch, 1);
    }
}

static void wf_park(wf_worker *w)
{
    wf_pool *p = w->pool;
    uint32_t e = atomic_load(&p->epoch);
    atomic_fetch_add(&p->sleepers, 1);
    wf_work *x = wf_find(w);
    if (x) {
        atomic_fetch_sub(&p->sleepers, 1);
        wf_wake_more(p);
        wf_execute(w, x);
        return;
    }
    if (!atomic_load(&p->stop)) {
        wf_drop_hold(w);
        /* give may have admitted work and bumped the epoch: then the wait
         * returns at once. */
        wf_futex_wait(&p->epoch, e, -1);
    }
    atomic_fetch_sub(&p->sleepers, 1);
}

static void *wf_worker_main(void *arg)
{
    wf_worker *w = arg;
    wf_pool *p = w->pool;
    wf_self = w;
    atomic_fetch_sub(&p->starting, 1);
    bool idle = true; /* since the last item it ran */
    for (;;) {
        wf_work *x = wf_find(w);
        if (!x) {
            idle = true;
            /* Spinning workers will find new work themselves: submitters
             * skip the wake-up syscall while any spins. Only a few spin at
             * once (half the cores): more would take cores from the threads
             * doing work, and the rest park straight away. */
            int sp = atomic_load(&p->spinning);
            do {
                if (sp >= p->max_spinning)
                    break;
            } while (!atomic_compare_exchange_weak(&p->spinning, &sp, sp + 1));
            if (sp >= p->max_spinning)
                goto park;
            /* Look often (a task may take only a microsecond or two), and
             * yield now and then in case another process wants the core. */
            for (int i = 0; !x && i < WF_SPIN_ROUNDS; i++) {
                wf_cpu_relax();
                if ((i & 7) == 7)
                    x = wf_find(w);
                if ((i & 511) == 511 && !x)
                    sched_yield();
            }
            atomic_fetch_sub(&p->spinning, 1);
        }
    park:
        if (x) {
            if (idle)
                wf_wake_more(p);
            idle = false;
            wf_execute(w, x);
            continue;
        }
        if (atomic_load(&p->stop))
            break;
        wf_park(w);
        idle = true;
    }
    wf_drop_hold(w);
    wf_self = NULL;
    return NULL;
}

/* Start one more worker; false if at the limit or stopping. */
static bool wf_spawn(wf_pool *p)
{
    bool ok = false;
    pthread_mutex_lock(&p->spawn_lock);
    int n = atomic_load(&p->nworkers);
    if (n >= WF_POOL_MAX || atomic_load(&p->stop))
        goto out;
    wf_worker *w = wf_calloc(1, sizeof *w);
    if (!w)
        goto out;
    if (wf_deque_init(&w->dq, 256) != 0) {
        wf_free(w);
        goto out;
    }
    w->pool = p;
    w->id = n;
    w->rng = (uint64_t)n * 0x9e3779b97f4a7c15ull + 1;
    p->workers[n] = w;
    /* Published before the thread starts, so that it can steal at once:
     * published after, a new thread that ran before the store saw a pool
     * of one (itself excluded) and parked with work queued elsewhere. */
    atomic_store_explicit(&p->nworkers, n + 1, memory_order_release);
    atomic_fetch_add(&p->starting, 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 4u << 20);
    if (pthread_create(&w->th, &attr, wf_worker_main, w) != 0) {
        /* Others may already look at its (empty) deque: it stays, with
         * no thread, until the pool is freed. */
        pthread_attr_destroy(&attr);
        atomic_fetch_sub(&p->starting, 1);
        WF_LOG_WARN("event=spawn_failed workers=%d", n);
        goto out;
    }
    w->started = true;
    pthread_attr_destroy(&attr);
    ok = true;
out:
    pthread_mutex_unlock(&p->spawn_lock);
    return ok;
}

wf_pool *wf_pool_new(int nthreads, int64_t cpu_budget, wf_pool_run_fn run,
                     wf_pool_idle_fn on_cpu_free, void *ctx)
{
    wf_pool *p = wf_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->spawn_lock, NULL);
    pthread_mutex_init(&p->inj_lock, NULL);
    atomic_init(&p->cpu_free, cpu_budget);
    p->run = run;
    p->on_cpu_free = on_cpu_free;
    p->ctx = ctx;
    p->base_threads = nthreads;
    p->max_spinning = (wf_ncpus() + 1) / 2;
    for (int i = 0; i < nthreads; i++) {
        if (!wf_spawn(p)) {
            wf_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void wf_pool_free(wf_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&p->spawn_lock); /* no spawn in flight after this */
    int n = atomic_load(&p->nworkers);
    pthread_mutex_unlock(&p->spawn_lock);
    atomic_fetch_add(&p->epoch, 1);
    wf_futex_wake(&p->epoch, 1 << 30);
    atomic_fetch_add(&p->cpu_epoch, 1);
    wf_futex_wake(&p->cpu_epoch, 1 << 30);
    for (int i = 0; i < n; i++) {
        wf_worker *w = p->workers[i];
        if (w->started)
            pthread_join(w->th, NULL);
    }
    for (int i = 0; i < n; i++) {
        wf_deque_destroy(&p->workers[i]->dq);
        wf_free(p->workers[i]);
    }
    pthread_mutex_destroy(&p->spawn_lock);
    pthread_mutex_destroy(&p->inj_lock);
    wf_free(p);
}

/* Work was queued: wake a parked worker, or, when every worker is blocked
 * in a nested wait, start one so the work cannot be stranded. */
static void wf_notify(wf_pool *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->spinning, memory_order_relaxed) > 0)
        return;
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) > 0) {
        atomic_fetch_add(&p->epoch, 1);
        wf_futex_wake(&p->epoch, 1);
        return;
    }
    int blocked = atomic_load_explicit(&p->blocked, memory_order_relaxed);
    if (blocked > 0 && atomic_load(&p->nworkers) - blocked < p->base_threads)
        wf_spawn(p);
}

void wf_pool_push(wf_pool *p, wf_work *w)
{
    w->admitted = false;
    wf_worker *me = wf_self;
    if (me && me->pool == p && wf_deque_push(&me->dq, w) == 0) {
        wf_notify(p);
        return;
    }
    wf_inject(p, w);
    wf_notify(p);
}

void wf_pool_push_admitted(wf_pool *p, wf_work *w)
{
    w->admitted = true;
    w->next = NULL;
    pthread_mutex_lock(&p->inj_lock);
    if (p->adm_tail)
        p->adm_tail->next = w;
    else
        p->adm_head = w;
    p->adm_tail = w;
    int64_t queued = atomic_fetch_add(&p->adm_count, 1) + 1;
    pthread_mutex_unlock(&p->inj_lock);
    atomic_thread_fence(memory_order_seq_cst);
    /* Admitted work holds its own cpu share: it must not wait for a busy
     * thread, or fractional tasks would not run side by side. Wake every
     * idle worker and start threads for what they cannot cover; a thread
     * too many just parks. */
    /* Workers waiting for cpu to run an ordinary task can run admitted
     * work, which brings its own: they count as idle, and are woken. */
    int64_t idle = atomic_load(&p->sleepers) + atomic_load(&p->spinning) +
                   atomic_load(&p->starting) + atomic_load(&p->cpu_waiters);
    if (atomic_load(&p->sleepers) > 0) {
        atomic_fetch_add(&p->epoch, 1);
        wf_futex_wake(&p->epoch, (int)(queued < 1024 ? queued : 1024));
    }
    if (atomic_load(&p->cpu_waiters) > 0) {
        atomic_fetch_add(&p->cpu_epoch, 1);
        wf_futex_wake(&p->cpu_epoch, 1 << 30);
    }
    for (int64_t i = idle; i < queued; i++)
        if (!wf_spawn(p))
            break;
}

bool wf_pool_is_worker(wf_pool *p)
{
    return wf_self && wf_self->pool == p;
}

bool wf_pool_help(wf_pool *p)
{
    wf_worker *w = wf_self;
    if (!w || w->pool != p || w->help_depth >= WF_HELP_DEPTH)
        return false;
    wf_work *x = wf_deque_pop(&w->dq);
    if (!x)
        return false;
    if (x->admitted) {
        /* Admitted work must run with its own resources on another thread;
         * hand it back to the shared queue. */
        wf_inject(p, x);
        wf_notify(p);
        return false;
    }
    w->help_depth++;
    p->run(p->ctx, x);
    w->help_depth--;
    return true;
}

void wf_pool_block_begin(wf_pool *p)
{
    wf_worker *w = wf_self;
    if (!w || w->pool != p)
        return;
    w->blocked_hold = w->held;
    wf_drop_hold(w);
    atomic_fetch_add(&p->blocked, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&p->sleepers) > 0) {
        atomic_fetch_add(&p->epoch, 1);
        wf_futex_wake(&p->epoch, 1);
    } else if (wf_work_visible(p)) {
        wf_spawn(p);
    }
}

void wf_pool_block_end(wf_pool *p)
{
    wf_worker *w = wf_self;
    if (!w || w->pool != p)
        return;
    atomic_fetch_sub(&p->blocked, 1);
    /* Take the cpu back even if that overdraws the budget for a moment:
     * the task is running again (as Ray does for unblocked tasks). */
    if (w->blocked_hold) {
        atomic_fetch_sub(&p->cpu_free, w->blocked_hold);
        w->held = w->blocked_hold;
        w->blocked_hold = 0;
    }
}

int wf_pool_self_index(wf_pool *p)
{
    wf_worker *w = wf_self;
    return w && w->pool == p ? w->id : -1;
}

int wf_pool_worker_id(void)
{
    return wf_self ? wf_self->id : -1;
}

int wf_pool_threads(wf_pool *p)
{
    return atomic_load(&p->nworkers);
}
