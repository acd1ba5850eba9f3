/* The thread pool: one work-stealing deque per thread, a shared injection
 * queue for work from outside, idle threads parked on a futex after a short
 * spin. Threads are added on demand (up to WF_POOL_MAX) when tasks that hold
 * fractional cpus are admitted, or when a running task blocks waiting on a
 * result, so that the admitted work always has a thread.
 *
 * CPU accounting: a thread running ordinary (1-cpu) tasks holds one cpu
 * from the shared budget while it is awake, not per task, so the hot path
 * takes no shared atomic. Tasks admitted with their own resources run on
 * any thread without that hold. */
#ifndef WF_EXEC_POOL_H
#define WF_EXEC_POOL_H

#include <stdbool.h>
#include <stdint.h>

#define WF_POOL_MAX 1024

typedef struct wf_pool wf_pool;

/* Work items are linked through their first field. */
typedef struct wf_work {
    struct wf_work *next;
    bool admitted; /* carries its own resources: runs without a cpu hold */
} wf_work;

typedef void (*wf_pool_run_fn)(void *ctx, wf_work *w);
/* Called when cpu budget was given back (to admit queued work). */
typedef void (*wf_pool_idle_fn)(void *ctx);

/* Start nthreads threads; cpu_budget is in thousandths of a cpu, shared with
 * admitted work through wf_pool_cpu_take/give. */
wf_pool *wf_pool_new(int nthreads, int64_t cpu_budget, wf_pool_run_fn run,
                     wf_pool_idle_fn on_cpu_free, void *ctx);
/* Stop the threads once their queues are empty, then free the pool. */
void wf_pool_free(wf_pool *p);

/* Queue w: on the calling worker's own deque, or the injection queue. */
void wf_pool_push(wf_pool *p, wf_work *w);
/* Queue n admitted items (they carry their own resources), making sure
 * enough threads are awake or started to run them at once. */
void wf_pool_push_admitted(wf_pool *p, wf_work *w);

/* Is the calling thread one of p's workers? */
bool wf_pool_is_worker(wf_pool *p);
/* Inside a worker: run one item from this thread's own deque; false if none.
 * Lets a task waiting on a result help instead of sleeping. */
bool wf_pool_help(wf_pool *p);
/* Inside a worker: about to sleep on something (a nested get). Gives its
 * cpu back and makes sure queued work has a thread; end takes it back. */
void wf_pool_block_begin(wf_pool *p);
void wf_pool_block_end(wf_pool *p);

/* Shared cpu budget (thousandths). take fails (false) if not enough. */
bool wf_pool_cpu_take(wf_pool *p, int64_t milli);
void wf_pool_cpu_give(wf_pool *p, int64_t milli);

/* The calling thread's index in p, or -1 if it is not one of p's. */
int wf_pool_self_index(wf_pool *p);
/* The index of the calling worker thread (for traces), -1 outside. */
int wf_pool_worker_id(void);
int wf_pool_threads(wf_pool *p);

#endif
