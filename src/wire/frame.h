/* Message framing on a byte stream. Every message is a 16-byte header and
 * a body:
 *
 *   u16 magic   0x5746 (little-endian, so the bytes are 'F' 'W')
 *   u8  version WEFT_WIRE_VERSION
 *   u8  type    wf_msg_type
 *   u32 body length (<= WF_FRAME_MAX_BODY)
 *   u64 seq     chosen by the sender; a reply carries its request's seq
 *
 * The header is checked as soon as its bytes arrive, so garbage or a peer
 * speaking another version is refused before we wait for (or allocate) a
 * body. Bodies of each type are in wire/msg.h. */
#ifndef WF_WIRE_FRAME_H
#define WF_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <weft/errors.h>

#include "wire/buf.h"

#define WF_FRAME_MAGIC 0x5746
#define WF_FRAME_HDR 16
/* Between a program and its worker processes larger payloads travel in an
 * fd; over TCP larger results stay on their node and move in chunks
 * (cluster/proto.h), while a task's inline arguments must fit. The limit
 * keeps a bad length from making a reader buffer gigabytes. */
#define WF_FRAME_MAX_BODY (64u << 20)

/* Message types. 0 is never valid, so zeroed bytes are not a message. New
 * types are appended before WF_MSG__END; numbers never change. */
typedef enum wf_msg_type {
    WF_MSG_HELLO = 1,      /* worker -> parent: I am up */
    WF_MSG_RUN = 2,        /* parent -> worker: run a task or actor call */
    WF_MSG_DONE = 3,       /* worker -> parent: its result or error */
    WF_MSG_SHUTDOWN = 4,   /* parent -> worker: exit */
    WF_MSG_CHALLENGE = 5,  /* net server -> client: 32-byte nonce */
    WF_MSG_RESPONSE = 6,   /* net client -> server: nonce + HMAC */
    WF_MSG_WELCOME = 7,    /* net server -> client: HMAC proving the server */
    WF_MSG_NODE_JOIN = 8,  /* node -> head: name and resources (membership.h) */
    WF_MSG_JOINED = 9,     /* head -> node: the node's id, heartbeat period */
    WF_MSG_HEARTBEAT = 10, /* node -> head: alive, with its load */
    WF_MSG_STATUS_REQ = 11, /* client -> head: send the node snapshot */
    WF_MSG_STATUS = 12,     /* head -> client: the nodes (cluster/status.h) */
    WF_MSG_DRIVER_HELLO =
        13,                  /* driver -> node: its program (cluster/proto.h) */
    WF_MSG_EXE_WANT = 14,    /* node -> driver: send the program's bytes */
    WF_MSG_EXE_CHUNK = 15,   /* driver -> node: a piece of the program */
    WF_MSG_READY = 16,       /* node -> driver: workers up (or why not) */
    WF_MSG_ACTOR_DIED = 17,  /* node -> driver: an actor's process died */
    WF_MSG_PULL = 18,        /* driver or node -> node: send an object */
    WF_MSG_OBJ_CHUNK = 19,   /* node -> puller: a piece of it */
    WF_MSG_OBJ_MISSING = 20, /* node -> puller: no such object here */
    WF_MSG_FREE = 21,        /* driver -> node: objects no longer needed */
    WF_MSG_PACE = 22,        /* node -> driver: how long its tasks take */
    WF_MSG_STEAL = 23,       /* driver -> node: give back unstarted tasks */
    WF_MSG_RETURNED = 24,    /* node -> driver: the tasks given back */
    WF_MSG__END
} wf_msg_type;

/* A complete frame found in a byte buffer; body points into that buffer. */
typedef struct wf_frame {
    wf_msg_type type;
    uint64_t seq;
    const uint8_t *body;
    uint32_t body_len;
    size_t size; /* header + body: bytes to consume. While incomplete: the
                    bytes needed in all, once the header says (else
                    WF_FRAME_HDR) */
} wf_frame;

/* Returned by wf_frame_parse when more bytes are needed. */
#define WF_FRAME_PARTIAL 1

/* Look for a frame at the start of buf[0..len), bytes received so far.
 * Returns 0 and fills *f when a whole valid frame is there (consume
 * f->size bytes); WF_FRAME_PARTIAL when the bytes so far are a valid start
 * (f->size: how many are needed); WEFT_EPROTO when they can never become a
 * valid frame (bad magic, version, type, oversized body) — the stream is
 * then unusable. Does not block; reads nothing outside buf[0..len). */
weft_err wf_frame_parse(const void *buf, size_t len, wf_frame *f);

/* Start a frame of the given type in w; returns its offset in w, to pass
 * to wf_frame_finish once the body is written after it. */
size_t wf_frame_begin(wf_wbuf *w, wf_msg_type type, uint64_t seq);

/* Patch the body length of the frame begun at start. On failure (WEFT_ENOMEM
 * from w's sticky flag, WEFT_ERANGE for a body over WF_FRAME_MAX_BODY) the
 * frame is dropped: w->len goes back to start. */
weft_err wf_frame_finish(wf_wbuf *w, size_t start);

/* The same for a frame whose body goes on for extra bytes sent after w
 * (wf_net_send_ext). */
weft_err wf_frame_finish_ext(wf_wbuf *w, size_t start, size_t extra);

/* "RUN", "DONE", ... or "?" for a number that is no known type. */
const char *wf_msg_type_name(unsigned type);

#endif
