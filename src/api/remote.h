/* Running tasks and actor calls in worker processes (parent side), and the
 * worker's serving loop (child side). */
#ifndef WF_API_REMOTE_H
#define WF_API_REMOTE_H

#include "api/runtime.h"
#include "exec/procs.h"
#include "wire/value.h"

/* Encode t as a RUN frame (reference arguments by value; shared memory
 * buffers as fds). */
weft_err wf_job_encode(weft_runtime *rt, wf_task *t, int kind,
                       uint64_t actor_id, const char *name, wf_job **out);
/* Set up rt->procs on first use. */
weft_err wf_remote_procs(weft_runtime *rt);
/* Send a ready task to a worker process; completion comes back through the
 * I/O thread. */
void wf_remote_dispatch(weft_runtime *rt, wf_task *t);
/* Fill t's results from a DONE frame (or fail them); returns the fds used.
 * node: the cluster node that answered (0: a local worker process), where
 * results placed remote are held. */
size_t wf_remote_complete(weft_runtime *rt, wf_task *t, const wf_frame *f,
                          const int *fds, size_t nfds, uint64_t node);

/* A task's answer: its results from the DONE (wf_remote_complete) and its
 * trace event; the caller then frees job and finishes the task. */
size_t wf_remote_answer(weft_runtime *rt, wf_job *job, const wf_frame *f,
                        const int *fds, size_t nfds, uint64_t node);

/* cluster.c: a result object o whose bytes stay on node (object id, len)
 * for value shape v; and fetching such bytes here for a get. */
weft_err wf_cluster_remote_result(weft_runtime *rt, wf_obj *o,
                                  const weft_value *v, uint64_t node,
                                  uint64_t id, uint64_t len);
weft_err wf_cluster_fetch(weft_runtime *rt, wf_obj *o);
/* If o's bytes are on a node: its place for a RUN (holder filled into
 * holder[WF_WIRE_HOLDER_MAX + 1]) and the node. */
bool wf_cluster_remote_place(weft_runtime *rt, const wf_obj *o,
                             wf_wire_place *place, char *holder, uint64_t *node,
                             uint64_t *len);

/* actor.c: process actors. */
size_t wf_actor_proc_done(weft_runtime *rt, wf_job *job, const wf_frame *f,
                          const int *fds, size_t nfds);
void wf_actor_proc_lost(weft_runtime *rt, wf_job *job, const char *why);
bool wf_actor_proc_died(weft_runtime *rt, void *actor, const char *why);

/* cluster.c: what an actor created with cpus and resources holds on its
 * node (WEFT_ERESOURCE naming what for a resource the cluster lacks). */
struct wf_driver_req;
weft_err wf_cluster_actor_req(weft_runtime *rt, double cpus,
                              const char *resources, const char *what,
                              struct wf_driver_req *r);

/* worker.c: serve the parent on fd until it goes away. Never returns. */
_Noreturn void wf_worker_serve(int fd);

#endif
