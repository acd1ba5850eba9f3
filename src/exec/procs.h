/* Worker processes: children that run this program's executable (or the
 * `weft worker --library` host) in worker mode, each joined to us by a unix
 * socketpair that carries RUN and DONE frames (wire/), with large buffers
 * passed as memfds. One I/O thread sends jobs, reads completions and
 * notices deaths; the owner decides, through callbacks, what a completion or
 * a lost job means. Processes either serve the shared task queue (up to
 * WF_PROC_INFLIGHT jobs pipelined each) or one actor each. */
#ifndef WF_EXEC_PROCS_H
#define WF_EXEC_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/frame.h"

#define WF_PROC_INFLIGHT 64

/* One encoded RUN frame and the fds it carries (both owned by the job). */
typedef struct wf_job {
    struct wf_job *next;
    void *owner;    /* the task it runs (opaque here); NULL for an actor's
                       constructor re-sent after a restart */
    void *actor;    /* actor jobs: the actor (opaque here) */
    uint8_t *bytes; /* one whole frame */
    size_t len;
    int *fds;
    size_t nfds;
    uint32_t attempts; /* times sent to a process */
    uint64_t sent_ns;  /* when last handed to a process */
    uint64_t seq;      /* its number in that process's stream */
    int pid;           /* the process it was last handed to (cluster
                          driver: the node's id) */
    void *res;         /* cluster driver: what it reserves, or NULL */
    void *route;       /* cluster driver: the actor it goes to, or NULL */
    uint64_t prefer;   /* cluster driver: the node holding its largest
                          input (0: none) */
    void *rerun;       /* cluster driver: the lineage this job rebuilds */
    bool stop;         /* cluster driver: not a frame, "stop route" */
} wf_job;

typedef struct wf_proc wf_proc;
typedef struct wf_procs wf_procs;

typedef struct wf_procs_cb {
    /* A DONE frame for job arrived; fds[0..nfds) are the fds received and
     * not yet claimed, in order. Returns how many of them the frame uses
     * (the callee owns those). The callee frees the job. */
    size_t (*done)(void *ctx, wf_job *job, const wf_frame *f, const int *fds,
                   size_t nfds);
    /* The process running job died (running: it had started it, as far as
     * ordering tells). The callee resubmits or fails and frees the job. */
    void (*lost)(void *ctx, wf_job *job, bool running, const char *why);
    /* An actor's process died; return true to start it again (the
     * constructor job is sent first), false to let it go. */
    bool (*actor_died)(void *ctx, void *actor, const char *why);
} wf_procs_cb;

/* Set up (no process starts until needed). host_library: NULL to run this
 * executable, else the worker processes are `weft worker --library` with
 * it. */
wf_procs *wf_procs_new(int nprocs, const char *host_library,
                       const wf_procs_cb *cb, void *ctx);
/* The same, but the worker processes run the executable at exe (in worker
 * mode) when host_library is NULL: a node runs a driver's shipped program. */
wf_procs *wf_procs_new_exe(int nprocs, const char *exe,
                           const char *host_library, const wf_procs_cb *cb,
                           void *ctx);
/* Stop every process and the I/O thread; jobs still queued are given to
 * cb->lost. */
void wf_procs_free(wf_procs *p);

/* Queue a job for any task process. Never blocks on a process. */
weft_err wf_procs_submit(wf_procs *p, wf_job *job);

/* Start a dedicated process for an actor and send it ctor (kept for
 * restarts; freed with the actor's process). */
weft_err wf_procs_actor_start(wf_procs *p, void *actor, wf_job *ctor,
                              wf_proc **out);
/* Queue a call for an actor's process; calls run in the order queued. */
void wf_procs_actor_submit(wf_procs *p, wf_proc *proc, wf_job *job);
/* Stop an actor's process; its pending jobs go to cb->lost. */
void wf_procs_actor_stop(wf_procs *p, wf_proc *proc);

void wf_job_free(wf_job *job);
/* A copy of job with its own bytes and duplicated fds; NULL on failure. */
wf_job *wf_job_clone(const wf_job *job);
int wf_procs_count(wf_procs *p);
/* Worker processes that died without being asked to. */
uint64_t wf_procs_deaths(wf_procs *p);

/* Tasks finished by p's task processes so far and the time they spent
 * running them (ns), from the workers' own clocks (actors not counted).
 * Any thread. */
void wf_procs_pace(wf_procs *p, uint64_t *done, uint64_t *busy_ns);

/* Hand one task process at most depth queued jobs at a time (clamped to
 * 1..WF_PROC_INFLIGHT; the default is WF_PROC_INFLIGHT). Jobs beyond stay
 * in the shared queue, where a process that frees up (or
 * wf_procs_take_queued) finds them. Any thread. */
void wf_procs_set_depth(wf_procs *p, int depth);

/* Take back up to max task jobs no process has been handed, the most
 * recently queued, chained through next in queue order into *out. Returns
 * how many. Any thread. */
size_t wf_procs_take_queued(wf_procs *p, size_t max, wf_job **out);

/* Worker mode: the fd of the socket to the parent, or -1 when this process
 * is not a weft worker. */
int wf_worker_fd(void);

/* A page shared by a worker and its parent. The worker stores the seq of
 * each RUN before it starts it, so when the worker dies the parent knows
 * which task was running (and charges the retry to it alone) even though
 * the worker batches its replies. */
typedef struct wf_worker_page {
    _Atomic uint64_t started;
    /* Tasks the worker finished and the time it spent running them (ns):
     * the pace a scheduler sizes its queues by. */
    _Atomic uint64_t done, busy_ns;
} wf_worker_page;

/* Worker mode: the shared page, or NULL. */
wf_worker_page *wf_worker_page_map(void);

#endif
