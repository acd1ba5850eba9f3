/* Tests of the thread pool: every item pushed runs exactly once (pushed
 * from outside, from many threads, or from inside running items), admitted
 * items and the shared cpu budget, nested waiting that must not deadlock,
 * helping from one's own deque, and shutting down parked threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "exec/pool.h"

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

/* The xorshift_next state (fixed seed: the same sequence every run). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

#define SEC 1000000000ull

/* Wait (politely) until *v >= want; false if that takes more than secs:
 * a guard against hangs, not a timing assertion. */
static bool wait_for(_Atomic long *v, long want, int secs)
{
    uint64_t deadline = wf_now_ns() + (uint64_t)secs * SEC;
    while (atomic_load(v) < want) {
        if (wf_now_ns() > deadline)
            return false;
        sleep_ms(1);
    }
    return true;
}

/* Once the pool is idle and its threads parked, all of the budget is free
 * again: take it whole (false if it never comes back), give it back. */
static bool budget_returns(wf_pool *p, int64_t budget, int secs)
{
    uint64_t deadline = wf_now_ns() + (uint64_t)secs * SEC;
    while (!wf_pool_cpu_take(p, budget)) {
        if (wf_now_ns() > deadline)
            return false;
        sleep_ms(1);
    }
    bool exact = !wf_pool_cpu_take(p, 1); /* and not a milli-cpu more */
    if (!exact)
        wf_pool_cpu_give(p, 1);
    wf_pool_cpu_give(p, budget);
    return exact;
}

typedef struct titem {
    wf_work w; /* first: the pool links items through it */
    uint32_t first_child, nchild;
    bool admitted_item;
    _Atomic int runs;
    _Atomic int done;
    int thread; /* wf_pool_self_index while it ran */
} titem;

typedef struct tctx {
    wf_pool *p;
    titem *items;
    size_t n;
    _Atomic long done;
    _Atomic long not_worker, wrong_flag;
    _Atomic long cpu_freed;
    int64_t share; /* milli-cpus an admitted item holds */
} tctx;

static void on_cpu_free(void *ctx)
{
    tctx *c = ctx;
    atomic_fetch_add(&c->cpu_freed, 1);
}

static void check_all_ran_once(tctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        int r = atomic_load(&c->items[i].runs);
        if (r != 1)
            fail_msg("item %zu of %zu ran %d times", i, c->n, r);
    }
    assert_int_equal(atomic_load(&c->not_worker), 0);
    assert_int_equal(atomic_load(&c->wrong_flag), 0);
}

/* ------------------------------------------------- fan-out from inside */

/* Each item pushes its children (0..4 of them) from inside the pool. */
static void fanout_run(void *ctx, wf_work *w)
{
    tctx *c = ctx;
    titem *it = (titem *)w;
    if (!wf_pool_is_worker(c->p) || wf_pool_self_index(c->p) < 0)
        atomic_fetch_add(&c->not_worker, 1);
    for (uint32_t k = 0; k < it->nchild; k++)
        wf_pool_push(c->p, &c->items[it->first_child + k].w);
    atomic_fetch_add(&it->runs, 1);
    atomic_fetch_add(&c->done, 1);
}

/* A random tree of up to max items: item i's children are
 * first_child..first_child+nchild. */
static void make_tree(tctx *c, size_t max)
{
    c->items = calloc(max, sizeof *c->items);
    assert_non_null(c->items);
    size_t next = 1;
    for (size_t i = 0; i < next; i++) {
        size_t k = i == 0 ? 4 : xorshift_next(&rng) % 5;
        if (next + k > max)
            k = max - next;
        c->items[i].first_child = (uint32_t)next;
        c->items[i].nchild = (uint32_t)k;
        next += k;
    }
    c->n = next;
}

static void run_fanout(int nthreads)
{
    uint64_t a0 = wf_alloc_bytes();
    tctx c = {0};
    make_tree(&c, (size_t)scaled(100000));
    c.p = wf_pool_new(nthreads, 1000 * nthreads, fanout_run, NULL, &c);
    assert_non_null(c.p);
    assert_int_equal(wf_pool_threads(c.p), nthreads);
    wf_pool_push(c.p, &c.items[0].w); /* from outside: the injection queue */
    bool finished = wait_for(&c.done, (long)c.n, 300);
    assert_true(budget_returns(c.p, 1000 * nthreads, 60));
    wf_pool_free(c.p);
    if (!finished)
        fail_msg("only %ld of %zu items ran", atomic_load(&c.done), c.n);
    check_all_ran_once(&c);
    free(c.items);
    assert_int_equal(wf_alloc_bytes(), a0);
}

static void test_fanout_from_inside(void **state)
{
    run_fanout(4);
}

static void test_fanout_one_thread(void **state)
{
    run_fanout(1);
}

/* ------------------------------------------------ pushes from outside */

#define PUSHERS 4

typedef struct {
    tctx *c;
    size_t from, to;
} pusher_arg;

static void *pusher(void *arg)
{
    pusher_arg *a = arg;
    for (size_t i = a->from; i < a->to; i++) {
        wf_pool_push(a->c->p, &a->c->items[i].w);
        if (i % 1000 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_push_from_many_threads(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    tctx c = {0};
    size_t per = (size_t)scaled(50000);
    c.n = per * PUSHERS;
    c.items = calloc(c.n, sizeof *c.items);
    assert_non_null(c.items);
    c.p = wf_pool_new(3, 3000, fanout_run, NULL, &c); /* no children */
    assert_non_null(c.p);
    assert_false(wf_pool_is_worker(c.p));
    pthread_t th[PUSHERS];
    pusher_arg args[PUSHERS];
    for (int i = 0; i < PUSHERS; i++) {
        args[i] = (pusher_arg){&c, per * (size_t)i, per * (size_t)(i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, pusher, &args[i]), 0);
    }
    for (int i = 0; i < PUSHERS; i++)
        pthread_join(th[i], NULL);
    bool finished = wait_for(&c.done, (long)c.n, 300);
    wf_pool_free(c.p);
    if (!finished)
        fail_msg("only %ld of %zu items ran", atomic_load(&c.done), c.n);
    check_all_ran_once(&c);
    free(c.items);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* ---------------------------------------------------- admitted items */

/* Admitted items carry a share of the budget, taken by the submitter and
 * given back when they end; ordinary items run under a thread's hold. */
static void admitted_run(void *ctx, wf_work *w)
{
    tctx *c = ctx;
    titem *it = (titem *)w;
    if (!wf_pool_is_worker(c->p))
        atomic_fetch_add(&c->not_worker, 1);
    if (w->admitted != it->admitted_item)
        atomic_fetch_add(&c->wrong_flag, 1);
    atomic_fetch_add(&it->runs, 1);
    if (it->admitted_item)
        wf_pool_cpu_give(c->p, c->share);
    atomic_fetch_add(&c->done, 1);
}

static void test_push_admitted(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    const int64_t budget = 2000;
    tctx c = {0};
    c.share = 500;
    c.n = (size_t)scaled(20000);
    c.items = calloc(c.n, sizeof *c.items);
    assert_non_null(c.items);
    c.p = wf_pool_new(2, budget, admitted_run, on_cpu_free, &c);
    assert_non_null(c.p);
    uint64_t deadline = wf_now_ns() + 300 * SEC;
    bool stuck = false;
    for (size_t i = 0; i < c.n && !stuck; i++) {
        titem *it = &c.items[i];
        if (i % 3 == 0) {
            wf_pool_push(c.p, &it->w);
            continue;
        }
        it->admitted_item = true;
        /* As the scheduler does: admit only what the budget allows. */
        while (!wf_pool_cpu_take(c.p, c.share)) {
            if (wf_now_ns() > deadline) {
                stuck = true;
                break;
            }
            sched_yield();
        }
        if (!stuck)
            wf_pool_push_admitted(c.p, &it->w);
    }
    assert_false(stuck);
    bool finished = wait_for(&c.done, (long)c.n, 300);
    bool returned = finished && budget_returns(c.p, budget, 60);
    int threads = wf_pool_threads(c.p);
    wf_pool_free(c.p);
    if (!finished)
        fail_msg("only %ld of %zu items ran", atomic_load(&c.done), c.n);
    assert_true(returned);
    assert_true(threads >= 2 && threads <= WF_POOL_MAX);
    assert_true(atomic_load(&c.cpu_freed) > 0);
    check_all_ran_once(&c);
    free(c.items);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* A long-lived holder (an actor's cpus) leaves too little budget for an
 * ordinary item, which waits; short admitted items then run one at a time.
 * One of them is in flight at any moment, so a thread or two suffice:
 * the pool must not start a new thread for each. */
static void test_admitted_reuses_threads(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    enum { K = 50 };
    tctx c = {0};
    c.share = 500;
    c.n = K + 1;
    c.items = calloc(c.n, sizeof *c.items);
    assert_non_null(c.items);
    c.p = wf_pool_new(1, 2000, admitted_run, NULL, &c);
    assert_non_null(c.p);
    uint64_t deadline = wf_now_ns() + 60 * SEC;
    bool held;
    while (!(held = wf_pool_cpu_take(c.p, 1500)) && wf_now_ns() < deadline)
        sleep_ms(1);
    assert_true(held);
    titem *ordinary = &c.items[K]; /* needs 1000, only 500 are free */
    wf_pool_push(c.p, &ordinary->w);
    bool stuck = false;
    for (int i = 0; i < K && !stuck; i++) {
        c.items[i].admitted_item = true;
        while (!wf_pool_cpu_take(c.p, c.share) && !stuck) {
            stuck = wf_now_ns() > deadline;
            sched_yield();
        }
        if (stuck)
            break;
        wf_pool_push_admitted(c.p, &c.items[i].w);
        stuck = !wait_for(&c.done, i + 1, 60);
    }
    int threads = wf_pool_threads(c.p);
    wf_pool_cpu_give(c.p, 1500); /* the ordinary item can run now */
    bool finished = wait_for(&c.done, (long)c.n, 60);
    wf_pool_free(c.p);
    assert_false(stuck);
    assert_true(finished);
    check_all_ran_once(&c);
    free(c.items);
    assert_int_equal(wf_alloc_bytes(), a0);
    if (threads > 4)
        fail_msg("%d admitted items run one at a time left the pool with %d "
                 "threads (started with 1); likely: workers waiting for cpu "
                 "in wf_wait_cpu are not counted as sleepers nor woken for "
                 "admitted work, so wf_pool_push_admitted starts a thread "
                 "each time",
                 K, threads);
}

/* The cpu budget alone: take fails past what is free, give returns it. */
static void test_cpu_take_give(void **state)
{
    tctx c = {0};
    c.p = wf_pool_new(1, 1500, fanout_run, on_cpu_free, &c);
    assert_non_null(c.p);
    /* The idle thread holds nothing once parked. */
    assert_true(budget_returns(c.p, 1500, 60));
    assert_true(wf_pool_cpu_take(c.p, 1000));
    assert_false(wf_pool_cpu_take(c.p, 501));
    assert_true(wf_pool_cpu_take(c.p, 250));
    assert_true(wf_pool_cpu_take(c.p, 250));
    assert_false(wf_pool_cpu_take(c.p, 1));
    long freed0 = atomic_load(&c.cpu_freed);
    wf_pool_cpu_give(c.p, 500);
    assert_true(atomic_load(&c.cpu_freed) > freed0); /* the idle callback */
    wf_pool_cpu_give(c.p, 1000);
    assert_true(budget_returns(c.p, 1500, 60));
    wf_pool_free(c.p);
}

/* ---------------------------------------------------- nested waiting */

#define CHAIN 6

typedef struct nctx {
    wf_pool *p;
    titem items[CHAIN];
    bool push_before_block;
    _Atomic long done, timed_out;
    _Atomic int stuck_at; /* the item whose wait timed out, or -1 */
} nctx;

/* Item k pushes item k+1 and sleeps (spins) until it has run on another
 * thread, between block_begin and block_end, as a nested weft_get does. */
static void nested_run(void *ctx, wf_work *w)
{
    nctx *c = ctx;
    titem *it = (titem *)w;
    size_t k = (size_t)(it - c->items);
    it->thread = wf_pool_self_index(c->p);
    if (k + 1 < CHAIN) {
        titem *child = &c->items[k + 1];
        if (c->push_before_block)
            wf_pool_push(c->p, &child->w);
        wf_pool_block_begin(c->p);
        if (!c->push_before_block)
            wf_pool_push(c->p, &child->w);
        uint64_t deadline = wf_now_ns() + 10 * SEC;
        while (!atomic_load(&child->done)) {
            if (wf_now_ns() > deadline) {
                atomic_fetch_add(&c->timed_out, 1);
                atomic_store(&c->stuck_at, (int)k);
                break;
            }
            sched_yield();
        }
        wf_pool_block_end(c->p);
    }
    atomic_fetch_add(&it->runs, 1);
    atomic_store(&it->done, 1);
    atomic_fetch_add(&c->done, 1);
}

/* One round: a fresh one-thread pool runs the chain. */
static void run_nested_round(bool push_before_block, int round)
{
    uint64_t a0 = wf_alloc_bytes();
    nctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->push_before_block = push_before_block;
    atomic_store(&c->stuck_at, -1);
    c->p = wf_pool_new(1, 1000, nested_run, NULL, c);
    assert_non_null(c->p);
    wf_pool_push(c->p, &c->items[0].w);
    bool finished = wait_for(&c->done, CHAIN, 120);
    bool returned = finished && budget_returns(c->p, 1000, 60);
    int threads = wf_pool_threads(c->p);
    wf_pool_free(c->p);
    assert_true(finished);
    if (atomic_load(&c->timed_out))
        fail_msg("round %d: item %d pushed item %d and blocked, and item %d "
                 "did not run within 10 s: the pool (%d threads) had no "
                 "awake thread for it",
                 round, atomic_load(&c->stuck_at),
                 atomic_load(&c->stuck_at) + 1, atomic_load(&c->stuck_at) + 1,
                 threads);
    for (int k = 0; k < CHAIN; k++) {
        assert_int_equal(atomic_load(&c->items[k].runs), 1);
        /* An item's thread differs from every item still waiting on it. */
        for (int j = 0; j < k; j++)
            assert_int_not_equal(c->items[k].thread, c->items[j].thread);
    }
    assert_true(threads >= CHAIN);
    assert_true(returned);
    free(c);
    assert_int_equal(wf_alloc_bytes(), a0);
}

static void run_nested(bool push_before_block)
{
    int rounds = scaled(200);
    for (int round = 0; round < rounds; round++)
        run_nested_round(push_before_block, round);
}

static void test_nested_wait_push_then_block(void **state)
{
    run_nested(true);
}

static void test_nested_wait_block_then_push(void **state)
{
    run_nested(false);
}

/* The smallest nested wait, many times: the only worker of a fresh pool
 * pushes an item and blocks until it has run. The thread the pool adds for
 * it races with the pool publishing that thread; it must still find the
 * item. Rounds are cheap so that many fit. */
typedef struct rctx {
    wf_pool *p;
    titem a, b;
    _Atomic long timed_out;
} rctx;

static void first_thread_run(void *ctx, wf_work *w)
{
    rctx *c = ctx;
    if (w == &c->a.w) {
        wf_pool_push(c->p, &c->b.w);
        wf_pool_block_begin(c->p);
        uint64_t deadline = wf_now_ns() + 10 * SEC;
        while (!atomic_load(&c->b.done)) {
            if (wf_now_ns() > deadline) {
                atomic_fetch_add(&c->timed_out, 1);
                break;
            }
            sched_yield();
        }
        wf_pool_block_end(c->p);
    }
    atomic_fetch_add(&((titem *)w)->runs, 1);
    atomic_store(&((titem *)w)->done, 1);
}

static void test_nested_wait_first_thread(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    rctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    int rounds = scaled(20000);
    for (int round = 0; round < rounds; round++) {
        memset(c, 0, sizeof *c);
        c->p = wf_pool_new(1, 1000, first_thread_run, NULL, c);
        assert_non_null(c->p);
        wf_pool_push(c->p, &c->a.w);
        uint64_t deadline = wf_now_ns() + 60 * SEC;
        while (!(atomic_load(&c->a.done) && atomic_load(&c->b.done)) &&
               wf_now_ns() < deadline)
            sched_yield();
        int threads = wf_pool_threads(c->p);
        wf_pool_free(c->p);
        if (atomic_load(&c->timed_out))
            fail_msg("round %d: the only worker pushed an item and blocked; "
                     "the item did not run within 10 s though the pool "
                     "added a thread (%d threads)",
                     round, threads);
        assert_int_equal(atomic_load(&c->a.runs), 1);
        assert_int_equal(atomic_load(&c->b.runs), 1);
    }
    free(c);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* block_begin/end outside a worker do nothing. */
static void test_block_outside_worker(void **state)
{
    tctx c = {0};
    c.p = wf_pool_new(1, 1000, fanout_run, NULL, &c);
    assert_non_null(c.p);
    wf_pool_block_begin(c.p);
    wf_pool_block_end(c.p);
    assert_int_equal(wf_pool_threads(c.p), 1);
    assert_true(budget_returns(c.p, 1000, 60));
    wf_pool_free(c.p);
}

/* ------------------------------------------------------------ helping */

typedef struct hctx {
    wf_pool *p;
    titem a, b;
    _Atomic int in_a;
    bool help1, help2, b_done_after_help, b_nested, a_is_worker;
    int a_thread, a_worker_id;
    _Atomic long done;
} hctx;

static void help_run(void *ctx, wf_work *w)
{
    hctx *c = ctx;
    titem *it = (titem *)w;
    it->thread = wf_pool_self_index(c->p);
    if (it == &c->a) {
        atomic_store(&c->in_a, 1);
        c->a_is_worker = wf_pool_is_worker(c->p);
        c->a_worker_id = wf_pool_worker_id();
        wf_pool_push(c->p, &c->b.w); /* onto this worker's own deque */
        c->help1 = wf_pool_help(c->p);
        c->b_done_after_help = atomic_load(&c->b.done);
        c->help2 = wf_pool_help(c->p); /* nothing left */
        atomic_store(&c->in_a, 0);
    } else {
        c->b_nested = atomic_load(&c->in_a);
    }
    atomic_fetch_add(&it->runs, 1);
    atomic_store(&it->done, 1);
    atomic_fetch_add(&c->done, 1);
}

static void test_help_runs_own_item(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    hctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->p = wf_pool_new(1, 1000, help_run, NULL, c); /* no thief to race */
    assert_non_null(c->p);
    /* Not from outside the pool. */
    assert_false(wf_pool_help(c->p));
    assert_false(wf_pool_is_worker(c->p));
    assert_int_equal(wf_pool_self_index(c->p), -1);
    assert_int_equal(wf_pool_worker_id(), -1);

    wf_pool_push(c->p, &c->a.w);
    bool finished = wait_for(&c->done, 2, 120);
    wf_pool_free(c->p);
    assert_true(finished);
    assert_true(c->a_is_worker);
    assert_int_equal(c->a_worker_id, 0);
    assert_true(c->help1);
    assert_true(c->b_done_after_help);
    assert_true(c->b_nested); /* b ran inside a's call to help */
    assert_false(c->help2);
    assert_int_equal(c->a.thread, 0);
    assert_int_equal(c->b.thread, 0);
    assert_int_equal(atomic_load(&c->a.runs), 1);
    assert_int_equal(atomic_load(&c->b.runs), 1);
    free(c);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* A long chain of items each helping with the next: help nests (up to a
 * bound), and every item still runs exactly once. */
#define HELP_CHAIN 200

typedef struct hcctx {
    wf_pool *p;
    titem items[HELP_CHAIN];
    _Atomic long done;
    int depth, max_depth;
} hcctx;

static void help_chain_run(void *ctx, wf_work *w)
{
    hcctx *c = ctx;
    titem *it = (titem *)w;
    size_t k = (size_t)(it - c->items);
    if (++c->depth > c->max_depth)
        c->max_depth = c->depth;
    if (k + 1 < HELP_CHAIN) {
        wf_pool_push(c->p, &c->items[k + 1].w);
        wf_pool_help(c->p);
    }
    c->depth--;
    atomic_fetch_add(&it->runs, 1);
    atomic_fetch_add(&c->done, 1);
}

static void test_help_chain(void **state)
{
    hcctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->p = wf_pool_new(1, 1000, help_chain_run, NULL, c);
    assert_non_null(c->p);
    wf_pool_push(c->p, &c->items[0].w);
    bool finished = wait_for(&c->done, HELP_CHAIN, 120);
    wf_pool_free(c->p);
    assert_true(finished);
    for (int k = 0; k < HELP_CHAIN; k++)
        assert_int_equal(atomic_load(&c->items[k].runs), 1);
    assert_true(c->max_depth > 1);          /* help did nest */
    assert_true(c->max_depth < HELP_CHAIN); /* but not without bound */
    free(c);
}

/* ----------------------------------------------------------- shutdown */

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* Threads of this process other than the caller, and how many of them are
 * asleep (state S: blocked in the kernel, e.g. on a futex). */
static void thread_states(int *others, int *sleeping)
{
    *others = *sleeping = 0;
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    pid_t me = my_tid();
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == me)
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* exited meanwhile */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (!rp || rp[1] != ' ')
            continue;
        (*others)++;
        if (rp[2] == 'S')
            (*sleeping)++;
    }
    closedir(d);
}

/* Idle threads park on a futex instead of spinning, and wf_pool_free
 * wakes and joins them. */
static void test_free_idle_parked(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    int before, sleeping;
    thread_states(&before, &sleeping);
    tctx c = {0};
    c.n = 100;
    c.items = calloc(c.n, sizeof *c.items);
    assert_non_null(c.items);
    c.p = wf_pool_new(4, 4000, fanout_run, NULL, &c);
    assert_non_null(c.p);
    for (size_t i = 0; i < c.n; i++)
        wf_pool_push(c.p, &c.items[i].w);
    bool finished = wait_for(&c.done, (long)c.n, 120);

    /* Every worker ends up asleep; a busy-waiting pool never gets there. */
    uint64_t deadline = wf_now_ns() + 30 * SEC;
    int others = 0;
    do {
        sleep_ms(5);
        thread_states(&others, &sleeping);
    } while ((others != before + 4 || sleeping != others) &&
             wf_now_ns() < deadline);
    bool parked = others == before + 4 && sleeping == others;

    wf_pool_free(c.p);
    int after;
    thread_states(&after, &sleeping);
    assert_true(finished);
    if (!parked)
        fail_msg("idle pool: %d of %d other threads asleep", sleeping, others);
    assert_int_equal(after, before); /* all joined */
    check_all_ran_once(&c);
    free(c.items);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* Free right after starting (threads may not have run yet). */
static void test_free_at_once(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    for (int i = 0; i < scaled(50); i++) {
        tctx c = {0};
        c.p = wf_pool_new(1 + i % 4, 4000, fanout_run, NULL, &c);
        assert_non_null(c.p);
        wf_pool_free(c.p);
    }
    wf_pool_free(NULL);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* Free with work still queued: the threads run it all before stopping. */
static void test_free_drains_queue(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    tctx c = {0};
    make_tree(&c, (size_t)scaled(20000));
    c.p = wf_pool_new(3, 3000, fanout_run, NULL, &c);
    assert_non_null(c.p);
    wf_pool_push(c.p, &c.items[0].w); /* the rest is pushed from inside */
    wf_pool_free(c.p);
    assert_int_equal(atomic_load(&c.done), (long)c.n);
    check_all_ran_once(&c);
    free(c.items);

    /* Many items injected from outside just before freeing. */
    c = (tctx){0};
    c.n = (size_t)scaled(20000);
    c.items = calloc(c.n, sizeof *c.items);
    assert_non_null(c.items);
    c.p = wf_pool_new(2, 2000, fanout_run, NULL, &c);
    assert_non_null(c.p);
    for (size_t i = 0; i < c.n; i++)
        wf_pool_push(c.p, &c.items[i].w);
    wf_pool_free(c.p);
    assert_int_equal(atomic_load(&c.done), (long)c.n);
    check_all_ran_once(&c);
    free(c.items);
    assert_int_equal(wf_alloc_bytes(), a0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_from_inside),
        cmocka_unit_test(test_fanout_one_thread),
        cmocka_unit_test(test_push_from_many_threads),
        cmocka_unit_test(test_push_admitted),
        cmocka_unit_test(test_admitted_reuses_threads),
        cmocka_unit_test(test_cpu_take_give),
        cmocka_unit_test(test_nested_wait_push_then_block),
        cmocka_unit_test(test_nested_wait_block_then_push),
        cmocka_unit_test(test_nested_wait_first_thread),
        cmocka_unit_test(test_block_outside_worker),
        cmocka_unit_test(test_help_runs_own_item),
        cmocka_unit_test(test_help_chain),
        cmocka_unit_test(test_free_idle_parked),
        cmocka_unit_test(test_free_at_once),
        cmocka_unit_test(test_free_drains_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
