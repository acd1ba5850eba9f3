/* What a driver (a program run with an address) and a node say to each
 * other before tasks flow: the driver names its program by content hash,
 * the node fetches it once (then caches it) and starts worker processes
 * from it.
 *
 *   driver -> node  DRIVER_HELLO  u8 kind (0 executable, 1 shared library),
 *                                 32 bytes SHA-256 of the program,
 *                                 u64 size (1..WF_PROG_MAX), u32 pid,
 *                                 str name (1..WF_PROG_NAME_MAX printable
 *                                 ASCII bytes, for logs)
 *   node -> driver  EXE_WANT      empty: the node does not have it, send it
 *   driver -> node  EXE_CHUNK     u64 offset, then 1..WF_PROG_CHUNK bytes
 *                                 (the rest of the body); chunks come in
 *                                 order, without gaps, up to size
 *   node -> driver  READY         i32 status (0 or a negative weft_err),
 *                                 u32 worker slots (status 0: >= 1),
 *                                 str message (<= WF_READY_MAX_MESSAGE
 *                                 printable ASCII bytes)
 *
 * After READY with status 0 the driver sends RUN frames (wire/msg.h:
 * values inline, or remote: held by a node, see "Objects" below) whose seq
 * it chooses; the node answers each with a DONE
 * carrying the same seq, in any order. Actors: RUN ACTOR_NEW with the
 * driver's actor id starts one in a process of its own on the node (again
 * after it died: the old one is replaced), ACTOR_CALLs run in the order
 * sent, ACTOR_KILL stops it (no answer). When its process dies the node
 * answers its pending calls with DONE status WEFT_ECRASHED and sends
 *
 *   node -> driver  ACTOR_DIED    u64 actor id (>= 1), str why (printable,
 *                                 <= WF_READY_MAX_MESSAGE)
 *
 * and does not restart it: the driver decides, and where.
 *
 * Objects. A node keeps a task's result of WF_KEEP_MIN bytes or more in its
 * own memory and answers with the value placed remote (wire/value.h: object
 * id, length, holder "" meaning this node). Whoever needs the bytes pulls
 * them, from any connection that passed the handshake (the driver for a
 * get, another node for a task's argument):
 *
 *   puller -> node  PULL          u64 object id; seq chosen by the puller
 *   node -> puller  OBJ_CHUNK     u64 object id, u64 offset, u64 total,
 *                                 then 0..WF_PROG_CHUNK bytes; in order,
 *                                 no gaps, the last one ends at total
 *                                 (one empty chunk when total is 0)
 *   node -> puller  OBJ_MISSING   u64 object id, str why (printable)
 *
 * Both answers carry the PULL's seq. When the driver lets go of an object
 * it tells every node:
 *
 *   driver -> node  FREE          u32 n (1..WF_FREE_MAX), n times: u64
 *                                 object id, str holder ("" on the holder
 *                                 itself, else its task address: drop the
 *                                 copy pulled from there)
 *
 * While a driver's tasks run, its node tells it how long they take, from
 * its workers' own clocks (every WF_PACE_MS at most, when some finished):
 *
 *   node -> driver  PACE          u64 ns per task (>= 1), u32 tasks counted
 *
 * The driver sizes how many tasks it queues on the node by it. When another
 * node has idle workers and nothing waits at the driver, it takes queued
 * tasks back from a busy node (work stealing):
 *
 *   driver -> node  STEAL         u32 max (1..WF_STEAL_MAX)
 *   node -> driver  RETURNED      u32 n (0..max), n times: u64 seq of a RUN
 *                                 the node dropped before any worker began it
 *
 * The driver places returned tasks again as if new (no retry is charged).
 * Decoders check every field and refuse trailing bytes (WEFT_EPROTO with
 * the byte offset). */
#ifndef WF_CLUSTER_PROTO_H
#define WF_CLUSTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <weft/errors.h>

#include "wire/buf.h"

#define WF_PROG_HASH 32
#define WF_PROG_MAX (1ull << 31)  /* bytes of a shipped program */
#define WF_PROG_CHUNK (4u << 20)  /* bytes of program per EXE_CHUNK */
#define WF_PROG_NAME_MAX 255      /* bytes of a driver's name */
#define WF_READY_MAX_MESSAGE 1024 /* bytes of READY's message */
#define WF_KEEP_MIN (1u << 20)    /* results this large stay on their node */
#define WF_FREE_MAX 4096          /* objects in one FREE */
#define WF_STEAL_MAX 1024         /* tasks one STEAL may take back */
#define WF_PACE_MS 10             /* a node's PACE reports, at most every */

typedef enum wf_prog_kind {
    WF_PROG_EXE = 0, /* run it in worker mode */
    WF_PROG_LIB = 1, /* `weft worker --library` it */
} wf_prog_kind;

typedef struct wf_msg_driver_hello {
    wf_prog_kind kind;
    uint8_t hash[WF_PROG_HASH];
    uint64_t size;
    uint32_t pid;
    const char *name; /* decoded: points into the body, no NUL */
    size_t name_len;
} wf_msg_driver_hello;

typedef struct wf_msg_exe_chunk {
    uint64_t offset;
    const uint8_t *data; /* decoded: points into the body */
    size_t len;
} wf_msg_exe_chunk;

typedef struct wf_msg_ready {
    weft_err status;
    uint32_t slots;
    const char *message; /* decoded: points into the body, no NUL */
    size_t message_len;
} wf_msg_ready;

/* Bodies only (frame them with wf_frame_begin/finish or wf_net_send);
 * check the wbuf's status afterwards. put_ready cuts the message to
 * WF_READY_MAX_MESSAGE bytes and writes '?' for unprintable ones. */
void wf_proto_put_driver_hello(wf_wbuf *w, const wf_msg_driver_hello *m);
void wf_proto_put_exe_chunk(wf_wbuf *w, const wf_msg_exe_chunk *m);
void wf_proto_put_ready(wf_wbuf *w, const wf_msg_ready *m);

weft_err wf_proto_get_driver_hello(const uint8_t *p, size_t len,
                                   wf_msg_driver_hello *m);
weft_err wf_proto_get_exe_want(const uint8_t *p, size_t len);
weft_err wf_proto_get_exe_chunk(const uint8_t *p, size_t len,
                                wf_msg_exe_chunk *m);
weft_err wf_proto_get_ready(const uint8_t *p, size_t len, wf_msg_ready *m);

typedef struct wf_msg_actor_died {
    uint64_t actor_id;
    const char *why; /* decoded: points into the body, no NUL */
    size_t why_len;
} wf_msg_actor_died;
/* Cuts why to WF_READY_MAX_MESSAGE bytes, '?' for unprintable ones. */
void wf_proto_put_actor_died(wf_wbuf *w, const wf_msg_actor_died *m);
weft_err wf_proto_get_actor_died(const uint8_t *p, size_t len,
                                 wf_msg_actor_died *m);

typedef struct wf_msg_obj_chunk {
    uint64_t id, offset, total;
    const uint8_t *data; /* decoded: points into the body */
    size_t len;
} wf_msg_obj_chunk;

typedef struct wf_msg_free_item {
    uint64_t id;
    const char *holder; /* encode: NUL-terminated; decode: no NUL */
    size_t holder_len;
} wf_msg_free_item;

void wf_proto_put_pull(wf_wbuf *w, uint64_t id);
weft_err wf_proto_get_pull(const uint8_t *p, size_t len, uint64_t *id);
void wf_proto_put_obj_chunk(wf_wbuf *w, const wf_msg_obj_chunk *m);
weft_err wf_proto_get_obj_chunk(const uint8_t *p, size_t len,
                                wf_msg_obj_chunk *m);
/* A decoded chunk is the next one of the pull for object id of total bytes
 * with got received so far: 0, or WEFT_EPROTO naming who (for the log) and
 * both sides. */
weft_err wf_proto_chunk_next(const wf_msg_obj_chunk *m, uint64_t id,
                             uint64_t total, uint64_t got, const char *who);
/* OBJ_MISSING shares ACTOR_DIED's layout (an id and a message). */
void wf_proto_put_obj_missing(wf_wbuf *w, uint64_t id, const char *why);
weft_err wf_proto_get_obj_missing(const uint8_t *p, size_t len,
                                  wf_msg_actor_died *m);
/* FREE: n items (1..WF_FREE_MAX); the decoder fills items[0..*n). */
void wf_proto_put_free(wf_wbuf *w, const wf_msg_free_item *items, size_t n);
weft_err wf_proto_get_free(const uint8_t *p, size_t len,
                           wf_msg_free_item *items, size_t *n);

void wf_proto_put_pace(wf_wbuf *w, uint64_t ns_per_task, uint32_t tasks);
weft_err wf_proto_get_pace(const uint8_t *p, size_t len, uint64_t *ns_per_task,
                           uint32_t *tasks);

/* STEAL: give back at most max (1..WF_STEAL_MAX) tasks not started yet. */
void wf_proto_put_steal(wf_wbuf *w, uint32_t max);
weft_err wf_proto_get_steal(const uint8_t *p, size_t len, uint32_t *max);
/* RETURNED: the driver's seqs (each >= 1) of n (0..WF_STEAL_MAX) tasks the
 * node dropped unstarted; the decoder fills seqs[0..*n). */
void wf_proto_put_returned(wf_wbuf *w, const uint64_t *seqs, uint32_t n);
weft_err wf_proto_get_returned(const uint8_t *p, size_t len, uint64_t *seqs,
                               uint32_t *n);

/* SHA-256 of the file at path, and its size. WEFT_ESYS naming the path
 * when it cannot be read. */
weft_err wf_proto_hash_file(const char *path, uint8_t hash[WF_PROG_HASH],
                            uint64_t *size);

/* The 64 lowercase hex digits of hash, NUL-terminated. */
void wf_proto_hash_hex(const uint8_t hash[WF_PROG_HASH], char out[65]);

#endif
