/* The driver side of a cluster: a program started with an address runs its
 * tasks on the cluster's nodes through this client.
 *
 * It asks the head (at the address) for the nodes and keeps asking, every
 * WF_DRIVER_POLL_MS, to learn of nodes that join or die. It connects to
 * each live node's task address directly (the head is never on the
 * per-task path), ships its program there by hash (cluster/proto.h) and,
 * once the node is READY, sends it RUN frames: whole frames built by the
 * caller, all values inline, with a seq the driver assigns.
 *
 * Placement: a job that reserves resources (fractional or several cpus,
 * custom resources) goes to a node where they are free now, and holds them
 * until its answer; one that needs what no node offers fails at once with
 * WEFT_ERESOURCE. Plain one-cpu jobs are pipelined: each goes to the ready
 * node with the fewest jobs per worker slot (or, if not much busier, the
 * node holding its largest input), one per worker slot plus about 2 ms of
 * work queued behind it, from the run times the node reports (PACE; up to
 * WF_DRIVER_PIPELINE per slot, 2 before the first report); the rest wait
 * here for whichever node frees a worker first, so long tasks spread over
 * the nodes while tiny ones stream.
 *
 * Completions come back through the callbacks (on the driver's own loop
 * thread): done for an answer; lost (running = true) when the node's
 * connection ends or its worker process died with the job — the caller
 * retries (wf_driver_submit again) or fails it; lost (running = false) at
 * shutdown for jobs never answered. actor_died: see the actors below. */
#ifndef WF_CLUSTER_DRIVER_H
#define WF_CLUSTER_DRIVER_H

#include <stdint.h>

#include <weft/errors.h>

#include "cluster/membership.h"
#include "cluster/proto.h"
#include "exec/procs.h"
#include "net/auth.h"

#define WF_DRIVER_POLL_MS 250    /* how often the head is asked for nodes */
#define WF_DRIVER_PIPELINE 256   /* plain jobs in flight per worker slot */
#define WF_DRIVER_START_MS 10000 /* longest wait for the first ready node */

typedef struct wf_driver wf_driver;

/* What a job reserves on its node (zero: a plain one-cpu job). Custom
 * resource names are compared with the nodes' own. */
typedef struct wf_driver_req {
    uint64_t cpus_milli; /* 0: one cpu, not reserved */
    uint32_t ncustom;
    struct {
        const char *name;
        uint64_t milli;
    } custom[WF_NODE_MAX_CUSTOM];
} wf_driver_req;

typedef struct wf_driver_opts {
    const char *host; /* the head */
    int port;
    const wf_token *token;
    const char *program; /* path of the program to ship */
    wf_prog_kind kind;
    const char *name; /* for the nodes' logs */
    bool tls;         /* TLS to the head and the nodes */
    /* done/lost as in exec/procs.h (fds always NULL, 0); actor_died unused */
    wf_procs_cb cb;
    void *ctx;
    /* The connection to node closed: what it held for us is gone. */
    void (*node_lost)(void *ctx, uint64_t node);
} wf_driver_opts;

/* Connect to the head, find the nodes, ship the program and wait until
 * every node alive at the start is ready (or has failed), at least one
 * ready, at most WF_DRIVER_START_MS. Errors name the head and the cause:
 * WEFT_EIO unreachable, WEFT_EPROTO refused (wrong token?), WEFT_ETIMEDOUT
 * no node ready in time, WEFT_ERESOURCE no node at all. Blocks. */
weft_err wf_driver_start(const wf_driver_opts *o, wf_driver **out);

/* Queue job (a whole RUN frame; its header seq is overwritten) with what
 * it reserves (req may be NULL: plain). Any thread. Returns 0 (the job is
 * the driver's until a callback hands it back), WEFT_ERESOURCE when no
 * alive node offers what req asks for, or WEFT_ESHUTDOWN while stopping
 * (the job stays the caller's on error). */
weft_err wf_driver_submit(wf_driver *d, wf_job *job, const wf_driver_req *req);

/* Actors: each lives in a process of its own on one node, placed where
 * req fits (NULL: the least loaded node) and holding req there for its
 * life. Its calls are sent in the order made, to its node. When its
 * process or node dies, the calls sent and not answered come back through
 * cb.lost (running) and cb.actor_died(ctx, actor, why) says whether to
 * start it again: the constructor job is sent again (owner NULL), to
 * whichever node fits then, before the calls that wait. Any thread. */
typedef struct wf_dactor wf_dactor;
/* ctor: the constructor's RUN (job->actor set; the driver keeps a copy).
 * WEFT_ERESOURCE if no alive node offers req. */
weft_err wf_driver_actor_start(wf_driver *d, void *actor, uint64_t id,
                               wf_job *ctor, const wf_driver_req *req,
                               wf_dactor **out);
void wf_driver_actor_call(wf_driver *d, wf_dactor *a, wf_job *job);
/* Stop the actor on its node; a must not be used afterwards. */
void wf_driver_actor_stop(wf_driver *d, wf_dactor *a);

/* Objects kept on nodes (cluster/proto.h): fill dst (len bytes) with
 * object id held by node, pulled in chunks. Blocks; WEFT_ECRASHED naming
 * the node when it is gone or lost the object. */
weft_err wf_driver_fetch(wf_driver *d, uint64_t node, uint64_t id, uint64_t len,
                         void *dst);
/* The object is no longer needed: the node drops it, and every other node
 * its copy (holder: the node's task address). Any thread; never blocks. */
void wf_driver_free_obj(wf_driver *d, uint64_t node, uint64_t id,
                        const char *holder);
/* The task address of node id into out; false if unknown. */
bool wf_driver_node_addr(wf_driver *d, uint64_t node, char *out, size_t cap);

/* Nodes ready now. */
int wf_driver_nodes(wf_driver *d);

/* Tasks taken back from a busy node and placed again (work stealing). */
uint64_t wf_driver_stolen(wf_driver *d);

/* A copy of what each alive node offers (*out: wf_alloc'ed, free with
 * wf_free; NULL when none); returns how many. */
size_t wf_driver_caps(wf_driver *d, wf_node_resources **out);

/* Close every connection; jobs not answered go to cb.lost (running
 * false). Blocks until the loop thread has ended. */
void wf_driver_stop(wf_driver *d);

#endif
