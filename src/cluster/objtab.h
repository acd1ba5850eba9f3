/* A node's objects (cluster/proto.h, "Objects"): the large results its
 * workers made, kept in their memfds, and copies of objects held by other
 * nodes, pulled in chunks for the tasks that need them here (one pull per
 * object and node, however many tasks wait for it).
 *
 * Objects belong to an owner (the driver's session): FREE and the owner's
 * end drop them. PULLs from any authenticated connection are served from
 * the memfd, a chunk at a time mapped and handed to the socket as it is
 * (no copy in user space), while the connection has less than
 * WF_OBJ_SENDQ bytes queued (so a connection holds about that much of its
 * transfers mapped).
 *
 * Threads: wf_objtab_keep may be called from any thread; everything else
 * on the loop's thread. */
#ifndef WF_CLUSTER_OBJTAB_H
#define WF_CLUSTER_OBJTAB_H

#include <stdint.h>

#include <uv.h>

#include <weft/errors.h>

#include "net/auth.h"
#include "net/conn.h"

#define WF_OBJ_SENDQ (16u << 20) /* bytes queued per transfer at most */

typedef struct wf_objtab wf_objtab;
typedef struct wf_nobj wf_nobj;

/* A task waiting for an object: called once, on the loop thread, with the
 * object pinned (unpin it when done) or with o NULL and why. */
typedef void (*wf_objtab_cb)(void *arg, wf_nobj *o, const char *why);

wf_objtab *wf_objtab_new(uv_loop_t *loop, const wf_token *token);
/* Free everything; call once no connection of the loop uses it. */
void wf_objtab_free(wf_objtab *t);

/* This node's task address: a remote value whose holder is this address
 * (or empty) is local. */
void wf_objtab_set_self(wf_objtab *t, const char *addr);

/* Keep bytes [off, off + len) of fd (duplicated) for owner; returns the
 * new object's id, or 0 when it cannot (no memory, no fds). */
uint64_t wf_objtab_keep(wf_objtab *t, void *owner, int fd, uint64_t off,
                        uint64_t len);

/* Serve a PULL frame that arrived on c (answers OBJ_MISSING for an id it
 * does not hold). Returns WEFT_EPROTO for a malformed frame. */
weft_err wf_objtab_serve(wf_objtab *t, wf_net_conn *c, const wf_frame *f);

/* Apply a FREE frame from owner. */
weft_err wf_objtab_free_msg(wf_objtab *t, void *owner, const wf_frame *f);

/* c is closing: stop serving it. */
void wf_objtab_conn_closed(wf_objtab *t, wf_net_conn *c);

/* owner is gone: drop its objects and its waiting tasks (without calling
 * them back). */
void wf_objtab_drop_owner(wf_objtab *t, void *owner);

/* The object id of len bytes held at holder (holder_len bytes; empty or
 * our own address: local), for owner: cb is called with it pinned, at once
 * if it is here, else when a pull from holder finishes (or fails). */
void wf_objtab_need(wf_objtab *t, void *owner, uint64_t id, uint64_t len,
                    const char *holder, size_t holder_len, wf_objtab_cb cb,
                    void *arg);

/* A pinned object's bytes: fd (not ours to close), offset, length. */
int wf_nobj_fd(const wf_nobj *o, uint64_t *off, uint64_t *len);
void wf_objtab_unpin(wf_objtab *t, wf_nobj *o);

/* Objects held and bytes in them (kept and copies). */
void wf_objtab_counts(wf_objtab *t, uint64_t *objects, uint64_t *bytes);

#endif
