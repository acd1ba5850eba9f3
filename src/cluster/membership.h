/* Cluster membership: which nodes belong to the cluster, what resources each
 * offers, and whether each is alive.
 *
 * The head listens (net/conn.h, so every connection is authenticated with
 * the cluster token). A node connects and speaks:
 *
 *   node -> head  NODE_JOIN  str name, u64 cpus (milli), u64 memory bytes,
 *                            u32 n (<= WF_NODE_MAX_CUSTOM), then n times
 *                            str resource name, u64 amount (milli),
 *                            str task address ("host:port" or empty)
 *   head -> node  JOINED     u64 node id, u32 heartbeat period (ms)
 *   node -> head  HEARTBEAT  u32 load (tasks sent to it and not answered),
 *                            u32 drivers (connected now), every period
 *
 * A connection that has not joined may instead ask for the node snapshot
 * (STATUS_REQ, answered with STATUS; see cluster/status.h), as often as it
 * likes; it is not a node and never appears in the snapshot.
 *
 * Names (node and resource) are 1..WF_NODE_NAME_MAX bytes of printable
 * ASCII without spaces; resource names are unique within a join. Every
 * body is checked strictly (lengths, counts, trailing bytes); a malformed
 * or out-of-turn frame (anything before NODE_JOIN but NODE_JOIN or
 * STATUS_REQ, a second NODE_JOIN, an unknown type) is logged at warn and
 * closes that connection only. A join whose name belongs to a node that is
 * ALIVE on another connection is refused the same way.
 *
 * The head marks a node DEAD when its connection closes (at once) or when
 * nothing was heard from it for dead_after_ms (its connection is then
 * closed). A node that joins again with the name of a DEAD node gets the
 * SAME id back and is ALIVE again, with the resources of its new join.
 * Nodes are never forgotten (a DEAD node stays in the snapshot).
 *
 * The node side does not reconnect: when its connection ends it is CLOSED
 * and the caller decides what to do.
 *
 * Threads: like net/conn.h, everything here runs on the loop's thread. */
#ifndef WF_CLUSTER_MEMBERSHIP_H
#define WF_CLUSTER_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <weft/errors.h>

#include "net/auth.h"

#define WF_NODE_NAME_MAX 64    /* bytes of a node or resource name */
#define WF_NODE_MAX_CUSTOM 64  /* custom resources per node */
#define WF_NODE_ADDR_MAX 80    /* bytes of a node's task address */
#define WF_HEAD_MAX_NODES 4096 /* distinct node names a head accepts */
#define WF_HEAD_HEARTBEAT_MS 500
#define WF_HEAD_DEAD_AFTER_MS 2000

/* One custom resource, e.g. {"gpu", 2000} for two GPUs. */
typedef struct wf_node_resource {
    char name[WF_NODE_NAME_MAX + 1]; /* NUL-terminated */
    uint64_t milli;                  /* amount in thousandths */
} wf_node_resource;

/* What a node offers. */
typedef struct wf_node_resources {
    uint64_t cpus_milli;
    uint64_t memory_bytes;
    uint32_t ncustom; /* <= WF_NODE_MAX_CUSTOM */
    wf_node_resource custom[WF_NODE_MAX_CUSTOM];
    /* "host:port" where the node runs drivers' tasks (cluster/noded.h);
     * empty when it runs none. Printable ASCII, no spaces. */
    char addr[WF_NODE_ADDR_MAX + 1];
} wf_node_resources;

typedef enum wf_member_state {
    WF_MEMBER_ALIVE = 1,
    WF_MEMBER_DEAD = 2,
} wf_member_state;

/* One node as the head sees it (a copy, see wf_head_nodes). */
typedef struct wf_member {
    uint64_t id; /* >= 1, stable for a name */
    char name[WF_NODE_NAME_MAX + 1];
    wf_member_state state;
    wf_node_resources res;
    uint32_t load;          /* from the last heartbeat */
    uint32_t drivers;       /* from the last heartbeat */
    uint64_t last_heard_ms; /* ms since the head last heard from it */
} wf_member;

/* Head options; zero-initialise (or pass NULL) for the defaults. */
typedef struct wf_head_opts {
    uint64_t heartbeat_ms;  /* period told to nodes; 0: WF_HEAD_HEARTBEAT_MS */
    uint64_t dead_after_ms; /* silence before DEAD; 0: WF_HEAD_DEAD_AFTER_MS */
} wf_head_opts;

typedef struct wf_head wf_head;

/* Start a head listening on host:port (0: ephemeral, see wf_head_port)
 * with the cluster token. Returns 0 with *out owned by the caller until
 * wf_head_stop; WEFT_EINVAL (bad opts: heartbeat_ms over an hour or not
 * below dead_after_ms), or the errors of wf_net_server_start. */
weft_err wf_head_start(uv_loop_t *loop, const char *host, int port,
                       const wf_token *token, const wf_head_opts *opts,
                       wf_head **out);

/* The port the head listens on. */
int wf_head_port(const wf_head *h);

/* Copy up to max members, in order of id, into out; returns how many the
 * head knows in all (may be more than max). out may be NULL when max is 0. */
size_t wf_head_nodes(const wf_head *h, wf_member *out, size_t max);

/* Stop listening and close every connection. The head is freed once the
 * loop has run the close callbacks; h must not be used after this call. */
void wf_head_stop(wf_head *h);

/* Node options; zero-initialise (or pass NULL) for the defaults. */
typedef struct wf_node_opts {
    uint64_t heartbeat_ms; /* 0: the period the head sends in JOINED */
} wf_node_opts;

typedef enum wf_node_state {
    WF_NODE_CONNECTING = 1, /* connecting, authenticating or joining */
    WF_NODE_JOINED = 2,     /* has an id, heartbeating */
    WF_NODE_CLOSED = 3,     /* connection ended (see wf_node_close_reason) */
} wf_node_state;

typedef struct wf_node wf_node;

/* Connect to the head at host:port with the token and join as name
 * offering res (both copied). Returns 0 with *out owned by the caller
 * until wf_node_stop (the join itself goes on in the loop: watch
 * wf_node_state); WEFT_EINVAL for a bad name, resource name or count, or
 * the errors of wf_net_connect. */
weft_err wf_node_join(uv_loop_t *loop, const char *host, int port,
                      const wf_token *token, const char *name,
                      const wf_node_resources *res, const wf_node_opts *opts,
                      wf_node **out);

/* Where the node is in its life. */
wf_node_state wf_node_get_state(const wf_node *n);

/* The id the head gave, or 0 before JOINED. */
uint64_t wf_node_id(const wf_node *n);

/* Why the connection ended (see wf_net_close_cb); 0 while open. */
weft_err wf_node_close_reason(const wf_node *n);

/* The load and driver count the next heartbeats report. */
void wf_node_set_load(wf_node *n, uint32_t load, uint32_t drivers);

/* Stop (false) or resume (true) heartbeats without closing the connection:
 * simulates a hung node in tests. */
void wf_node_set_heartbeats(wf_node *n, bool on);

/* Close the connection and stop heartbeating. The node is freed once the
 * loop has run the close callbacks; n must not be used after this call. */
void wf_node_stop(wf_node *n);

/* Task addresses ("host:port" or empty): the check, and the decoder of one
 * (a str) into dst (WF_NODE_ADDR_MAX + 1 bytes), shared with status.c. */
bool wf_member_addr_ok(const char *s, size_t n);
struct wf_rbuf;
weft_err wf_member_get_addr(struct wf_rbuf *r, char *dst);

#endif
