/* Authenticated, framed TCP connections on a libuv loop.
 *
 * A server listens on one address and runs the auth handshake (net/auth.h)
 * on every connection before anything else; a client connects and runs the
 * other side. Only after both sides have proven the cluster token are
 * frames handed to the caller. A peer that sends anything but the next
 * handshake frame, a malformed or oversized frame (a handshake frame's
 * body is at most WF_NET_AUTH_MAX_BODY bytes; any frame's at most
 * WF_FRAME_MAX_BODY), or that does not finish the handshake before its
 * deadline is logged at warn with its address and closed; other
 * connections are not affected.
 *
 * Threads: every function here must be called on the thread running the
 * loop given at start (or before it runs), and every callback is called
 * there. Nothing blocks. Hosts are numeric IPv4 or IPv6 addresses (no name
 * lookup). Sends are queued without limit (wf_net_queued tells how much).
 *
 * With TLS on (net/tls.h) when a server starts or a client connects, that
 * server's connections, or that client, run TLS 1.3 first and the auth
 * handshake inside it, on a token bound to the TLS session. */
#ifndef WF_NET_CONN_H
#define WF_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <weft/errors.h>

#include "net/auth.h"
#include "wire/frame.h"

/* Before authentication no frame body may be longer than this. */
#define WF_NET_AUTH_MAX_BODY 64
/* Default handshake deadline, in milliseconds. */
#define WF_NET_HANDSHAKE_MS 5000

typedef struct wf_net_server wf_net_server;
typedef struct wf_net_conn wf_net_conn;

/* An authenticated frame arrived on c. f->body is valid only during the
 * call. The callback may send on c or close it. */
typedef void (*wf_net_frame_cb)(wf_net_conn *c, const wf_frame *f, void *arg);

/* c finished its handshake (clients only): frames may now be sent. */
typedef void (*wf_net_ready_cb)(wf_net_conn *c, void *arg);

/* c is closed and about to be freed; it must not be used after this
 * returns. why: 0 for a close asked for locally or a peer that hung up
 * after the handshake, else the reason (WEFT_EPROTO: handshake failed or
 * bad frame; WEFT_ETIMEDOUT: handshake deadline; WEFT_EIO: connection
 * failed or was cut before the handshake finished). Called exactly once
 * for every connection, including a client that never connected. */
typedef void (*wf_net_close_cb)(wf_net_conn *c, weft_err why, void *arg);

/* Callbacks and limits; zero-initialise, then set what you need. */
typedef struct wf_net_opts {
    wf_net_frame_cb on_frame; /* required */
    wf_net_ready_cb on_ready; /* clients: optional */
    wf_net_close_cb on_close; /* optional */
    void *arg;                /* passed to every callback */
    /* Servers: called once, from the loop, after wf_net_server_stop when
     * the server and every one of its connections are closed and freed;
     * the last callback about the server (not called if start failed). */
    void (*on_stopped)(void *arg);
    uint64_t handshake_ms; /* 0: WF_NET_HANDSHAKE_MS */
    /* Clients: TLS on (1) or off (-1) for this connection; 0 follows the
     * process's setting (wf_tls_enabled). Servers use the process's. */
    int tls;
} wf_net_opts;

/* Listen on host:port (port 0: an ephemeral port, see
 * wf_net_server_port) and authenticate every connection with token
 * (copied). Binds only to host; callers default to "127.0.0.1". On
 * success *out is the server, owned by the caller until
 * wf_net_server_stop. Returns 0, WEFT_EINVAL (bad host or opts), WEFT_ESYS
 * (bind or listen failed; detail names the address) or WEFT_ENOMEM. */
weft_err wf_net_server_start(uv_loop_t *loop, const char *host, int port,
                             const wf_token *token, const wf_net_opts *opts,
                             wf_net_server **out);

/* The port the server listens on (useful after port 0). */
int wf_net_server_port(const wf_net_server *s);

/* Stop listening and close every connection (each gets its on_close). The
 * server is freed once the loop has run its close callbacks; s must not
 * be used after this call. */
void wf_net_server_stop(wf_net_server *s);

/* Connect to host:port and authenticate with token (copied). Returns 0
 * with *out the connection (its on_ready comes once authenticated, its
 * on_close exactly once whatever happens), or WEFT_EINVAL / WEFT_ENOMEM /
 * WEFT_ESYS when the attempt could not even start (no callback then).
 * The connection is freed after its on_close. */
weft_err wf_net_connect(uv_loop_t *loop, const char *host, int port,
                        const wf_token *token, const wf_net_opts *opts,
                        wf_net_conn **out);

/* Queue one frame of the given type, seq and body (copied) on an
 * authenticated connection. Returns 0; WEFT_EINVAL before the handshake
 * has finished, after close, or for a handshake message type;
 * WEFT_ERANGE for a body over WF_FRAME_MAX_BODY; WEFT_ENOMEM; WEFT_EIO
 * if the write could not be queued. */
weft_err wf_net_send(wf_net_conn *c, wf_msg_type type, uint64_t seq,
                     const void *body, size_t len);

/* Queue the whole frames the caller wrote into frames (wf_frame_begin /
 * wf_frame_finish; not handshake types) as one write, taking the buffer:
 * frames is empty afterwards, whatever the result. Errors as
 * wf_net_send, plus the wbuf's own sticky error. */
weft_err wf_net_send_frames(wf_net_conn *c, wf_wbuf *frames);

/* Like wf_net_send_frames, followed by ext_len bytes at ext written as
 * they are, not copied (a frame's body may end in them: see
 * wf_frame_finish_ext). ext must stay valid and unchanged until done(arg),
 * which is called exactly once, whatever happens (also on error, before
 * this returns). */
weft_err wf_net_send_ext(wf_net_conn *c, wf_wbuf *head, const void *ext,
                         size_t ext_len, void (*done)(void *arg), void *arg);

/* Bytes queued on c and not yet handed to the kernel (for backpressure). */
size_t wf_net_queued(const wf_net_conn *c);

/* Close c (idempotent). Its on_close comes later, from the loop. */
void wf_net_conn_close(wf_net_conn *c);

/* A pointer the caller keeps with c (NULL until set), e.g. the session a
 * server's connection belongs to. */
void wf_net_conn_set_user(wf_net_conn *c, void *user);
void *wf_net_conn_user(const wf_net_conn *c);

/* Split "HOST:PORT" or "[V6]:PORT" into host (NUL-terminated, at most
 * cap - 1 bytes) and *port (1..65535). False when it is not that shape. */
bool wf_net_split_addr(const char *addr, char *host, size_t cap, int *port);

/* "ip:port" of the peer, for logs; valid until on_close returns. */
const char *wf_net_conn_peer(const wf_net_conn *c);

#endif
