#include "net/conn.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "net/tls.h"
#include "wire/buf.h"

/* Bytes of free space offered to each read beyond the frame in progress. */
#define WF_NET_READ_CHUNK 16384
#define WF_NET_BACKLOG 128

typedef enum wf_net_state {
    WF_NET_CONNECTING,      /* client: TCP connect under way */
    WF_NET_AWAIT_CHALLENGE, /* client: connected, no CHALLENGE yet */
    WF_NET_AWAIT_WELCOME,   /* client: RESPONSE sent */
    WF_NET_AWAIT_RESPONSE,  /* server: CHALLENGE sent */
    WF_NET_AUTHED,          /* both sides proven: caller's frames flow */
} wf_net_state;

struct wf_net_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* the handshake deadline */
    uv_connect_t connect_req;
    wf_net_server *server; /* NULL for a client */
    wf_net_conn *prev, *next;
    const wf_token *token; /* the server's, or own_token for a client */
    wf_net_opts opts;
    wf_net_state state;
    bool closing;
    bool silent; /* no on_close: the caller got an error instead */
    weft_err why;
    int open_handles; /* handles whose close callback has not come yet */
    uint8_t challenge[WF_AUTH_CHALLENGE_LEN];
    uint8_t response[WF_AUTH_RESPONSE_LEN];
    uint8_t *rx; /* bytes received and not yet consumed */
    size_t rx_len, rx_cap;
    size_t rx_need; /* bytes the frame in progress needs in all */
    char peer[64];
    wf_token own_token;
    void *user; /* the caller's, see wf_net_conn_set_user */
    /* TLS (net/tls.h): ssl is set for a TLS connection; reads land in raw,
     * go through ssl, and come out into rx; writes go through ssl. */
    bool use_tls, tls_up;
    SSL *ssl;
    BIO *rbio, *wbio;
    uint8_t *raw;
    wf_token bound; /* the token bound to the TLS session */
};

struct wf_net_server {
    uv_tcp_t tcp;
    wf_token token;
    wf_net_opts opts;
    wf_net_conn *conns;
    bool stopping;
    bool listener_closed;
    bool tls; /* its connections use TLS (captured at start) */
    int port;
};

typedef struct wf_net_write {
    uv_write_t req;
    wf_wbuf w;
    /* Optional bytes written after w without being copied: ext_done(arg)
     * runs once they are no longer needed. */
    const void *ext;
    size_t ext_len;
    void (*ext_done)(void *arg);
    void *ext_arg;
} wf_net_write;

/* Free w and let go of its external bytes. */
static void wf_net_write_free(wf_net_write *w)
{
    wf_wbuf_free(&w->w);
    if (w->ext_done)
        w->ext_done(w->ext_arg);
    wf_free(w);
}

/* ------------------------------------------------------------ helpers */

/* Fill *ss with the numeric address host:port. */
static weft_err wf_net_addr(const char *host, int port,
                            struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (!host || port < 0 || port > 65535)
        return wf_err(WEFT_EINVAL, "net: bad address %s port %d",
                      host ? host : "(null)", port);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return wf_err(WEFT_EINVAL, "net: '%s' is not a numeric IP address", host);
}

/* Write "ip:port" of sa into out. */
static void wf_net_addr_name(const struct sockaddr_storage *ss, char *out,
                             size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        snprintf(out, n, "?");
    }
}

static const char *wf_net_state_name(wf_net_state st)
{
    static const char *const names[] = {"connecting", "await-challenge",
                                        "await-welcome", "await-response",
                                        "authed"};
    return names[st];
}

static bool wf_net_is_auth_type(unsigned type)
{
    return type == WF_MSG_CHALLENGE || type == WF_MSG_RESPONSE ||
           type == WF_MSG_WELCOME;
}

/* ------------------------------------------------------------ closing */

static void wf_net_server_maybe_free(wf_net_server *s)
{
    if (!s->listener_closed || s->conns)
        return;
    void (*stopped)(void *) = s->opts.on_stopped;
    void *arg = s->opts.arg;
    wf_token_clear(&s->token);
    wf_free(s);
    if (stopped)
        stopped(arg);
}

/* Both handles of c are closed: tell the caller, then free c. */
static void wf_net_conn_free(wf_net_conn *c)
{
    if (!c->silent && c->opts.on_close)
        c->opts.on_close(c, c->why, c->opts.arg);
    wf_net_server *s = c->server;
    if (s) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    wf_free(c->rx);
    wf_free(c->raw);
    SSL_free(c->ssl); /* frees its BIOs */
    wf_token_clear(&c->own_token);
    wf_token_clear(&c->bound);
    wf_free(c);
    if (s)
        wf_net_server_maybe_free(s);
}

static void wf_net_conn_handle_closed(uv_handle_t *h)
{
    wf_net_conn *c = h->data;
    if (--c->open_handles == 0)
        wf_net_conn_free(c);
}

/* Close c for reason why (0: orderly). */
static void wf_net_conn_end(wf_net_conn *c, weft_err why)
{
    if (c->closing)
        return;
    c->closing = true;
    c->why = why;
    uv_close((uv_handle_t *)&c->tcp, wf_net_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, wf_net_conn_handle_closed);
}

/* Log why c is being dropped (the detail is this thread's last error) and
 * close it. */
static void wf_net_conn_fail(wf_net_conn *c, weft_err why)
{
    if (c->closing)
        return;
    WF_LOG_WARN("net: closing connection peer=%s role=%s state=%s error=%s "
                "detail=\"%s\"",
                c->peer, c->server ? "server" : "client",
                wf_net_state_name(c->state), weft_err_name(why),
                weft_last_error());
    wf_net_conn_end(c, why);
}

void wf_net_conn_close(wf_net_conn *c)
{
    wf_net_conn_end(c, 0);
}

bool wf_net_split_addr(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return false;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (n == 0 || n >= cap || *end || end == colon + 1 || p < 1 || p > 65535)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return true;
}

void wf_net_conn_set_user(wf_net_conn *c, void *user)
{
    c->user = user;
}

void *wf_net_conn_user(const wf_net_conn *c)
{
    return c->user;
}

const char *wf_net_conn_peer(const wf_net_conn *c)
{
    return c->peer;
}

/* ------------------------------------------------------------ writing */

static void wf_net_write_done(uv_write_t *req, int status)
{
    wf_net_write *w = (wf_net_write *)req;
    wf_net_conn *c = req->handle->data;
    if (status < 0 && status != UV_ECANCELED) {
        wf_err(WEFT_EIO, "net: write: %s", uv_strerror(status));
        wf_net_conn_fail(c, WEFT_EIO);
    }
    wf_net_write_free(w);
}

/* Hand w's bytes to the socket: as they are, or through TLS (then w is
 * freed here and the encrypted bytes written instead). */
static int wf_net_out(wf_net_conn *c, wf_net_write *w);

/* Queue one frame on c, whatever the handshake state. */
static weft_err wf_net_write_frame(wf_net_conn *c, wf_msg_type type,
                                   uint64_t seq, const void *body, size_t len)
{
    wf_net_write *w = wf_calloc(1, sizeof *w);
    if (!w)
        return wf_err(WEFT_ENOMEM, "net: no memory for a frame");
    wf_wbuf_init(&w->w);
    weft_err e = 0;
    if (len > WF_FRAME_MAX_BODY) {
        e = wf_err(WEFT_ERANGE, "net: body of %zu bytes exceeds %u", len,
                   WF_FRAME_MAX_BODY);
        goto fail;
    }
    size_t start = wf_frame_begin(&w->w, type, seq);
    wf_wbuf_put_bytes(&w->w, body, len);
    e = wf_frame_finish(&w->w, start);
    if (e)
        goto fail;
    int r = wf_net_out(c, w);
    if (r < 0)
        return wf_err(WEFT_EIO, "net: write to %s: %s", c->peer,
                      uv_strerror(r));
    return 0;
fail:
    wf_wbuf_free(&w->w);
    wf_free(w);
    return e;
}

/* uv_write w's bytes as they are; on failure w is freed here. */
static int wf_net_raw_write(wf_net_conn *c, wf_net_write *w)
{
    uv_buf_t buf[2] = {uv_buf_init((char *)w->w.data, (unsigned)w->w.len),
                       uv_buf_init((char *)w->ext, (unsigned)w->ext_len)};
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, buf, w->ext_len ? 2 : 1,
                     wf_net_write_done);
    if (r < 0)
        wf_net_write_free(w);
    return r;
}

/* Write the bytes TLS has ready for the wire. */
static int wf_net_tls_flush(wf_net_conn *c)
{
    size_t n;
    while ((n = BIO_ctrl_pending(c->wbio)) > 0) {
        wf_net_write *w = wf_calloc(1, sizeof *w);
        if (!w)
            return UV_ENOMEM;
        wf_wbuf_init(&w->w);
        uint8_t *p = wf_wbuf_put_space(&w->w, n);
        int k = p ? BIO_read(c->wbio, p, (int)n) : -1;
        if (k <= 0) {
            wf_wbuf_free(&w->w);
            wf_free(w);
            return UV_ENOMEM;
        }
        w->w.len = (size_t)k;
        int r = wf_net_raw_write(c, w);
        if (r < 0)
            return r;
    }
    return 0;
}

static int wf_net_out(wf_net_conn *c, wf_net_write *w)
{
    if (!c->ssl)
        return wf_net_raw_write(c, w);
    int k = w->w.len ? SSL_write(c->ssl, w->w.data, (int)w->w.len) : 0;
    bool ok = k == (int)w->w.len;
    if (ok && w->ext_len) /* encrypted from where they are */
        ok = SSL_write(c->ssl, w->ext, (int)w->ext_len) == (int)w->ext_len;
    wf_net_write_free(w);
    if (!ok)
        return UV_EPROTO;
    return wf_net_tls_flush(c);
}

weft_err wf_net_send(wf_net_conn *c, wf_msg_type type, uint64_t seq,
                     const void *body, size_t len)
{
    if (c->closing || c->state != WF_NET_AUTHED)
        return wf_err(WEFT_EINVAL, "net: send to %s: connection is %s", c->peer,
                      c->closing ? "closed" : "not authenticated yet");
    if (type == 0 || type >= WF_MSG__END || wf_net_is_auth_type(type))
        return wf_err(WEFT_EINVAL, "net: send: message type %u not allowed",
                      (unsigned)type);
    return wf_net_write_frame(c, type, seq, body, len);
}

weft_err wf_net_send_frames(wf_net_conn *c, wf_wbuf *frames)
{
    weft_err e = wf_wbuf_status(frames);
    if (!e && (c->closing || c->state != WF_NET_AUTHED))
        e = wf_err(WEFT_EINVAL, "net: send to %s: connection is %s", c->peer,
                   c->closing ? "closed" : "not authenticated yet");
    if (!e && frames->len > UINT32_MAX)
        e = wf_err(WEFT_ERANGE, "net: %zu bytes in one write", frames->len);
    if (e) {
        wf_wbuf_free(frames);
        return e;
    }
    if (frames->len == 0) {
        wf_wbuf_free(frames);
        return 0;
    }
    wf_net_write *w = wf_calloc(1, sizeof *w);
    if (!w) {
        wf_wbuf_free(frames);
        return wf_err(WEFT_ENOMEM, "net: no memory for a write");
    }
    w->w = *frames;
    wf_wbuf_init(frames);
    int r = wf_net_out(c, w);
    if (r < 0)
        return wf_err(WEFT_EIO, "net: write to %s: %s", c->peer,
                      uv_strerror(r));
    return 0;
}

weft_err wf_net_send_ext(wf_net_conn *c, wf_wbuf *head, const void *ext,
                         size_t ext_len, void (*done)(void *arg), void *arg)
{
    weft_err e = wf_wbuf_status(head);
    if (!e && (c->closing || c->state != WF_NET_AUTHED))
        e = wf_err(WEFT_EINVAL, "net: send to %s: connection is %s", c->peer,
                   c->closing ? "closed" : "not authenticated yet");
    if (!e && (head->len == 0 || head->len > UINT32_MAX || ext_len > INT_MAX))
        e = wf_err(WEFT_ERANGE, "net: a write of %zu + %zu bytes", head->len,
                   ext_len);
    wf_net_write *w = e ? NULL : wf_calloc(1, sizeof *w);
    if (!e && !w)
        e = wf_err(WEFT_ENOMEM, "net: no memory for a write");
    if (e) {
        wf_wbuf_free(head);
        done(arg);
        return e;
    }
    w->w = *head;
    wf_wbuf_init(head);
    w->ext = ext;
    w->ext_len = ext_len;
    w->ext_done = done;
    w->ext_arg = arg;
    int r = wf_net_out(c, w);
    if (r < 0)
        return wf_err(WEFT_EIO, "net: write to %s: %s", c->peer,
                      uv_strerror(r));
    return 0;
}

size_t wf_net_queued(const wf_net_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* ------------------------------------------------------------ handshake */

/* Server: a RESPONSE is the only frame accepted before authentication. */
static weft_err wf_net_on_response(wf_net_conn *c, const wf_frame *f)
{
    uint8_t welcome[WF_AUTH_WELCOME_LEN];
    weft_err e = wf_auth_check_response(c->token, c->challenge, f->body,
                                        f->body_len, welcome);
    if (e)
        return e;
    e = wf_net_write_frame(c, WF_MSG_WELCOME, f->seq, welcome, sizeof welcome);
    if (e)
        return e;
    c->state = WF_NET_AUTHED;
    uv_timer_stop(&c->timer);
    WF_LOG_INFO("net: authenticated peer=%s role=server", c->peer);
    return 0;
}

/* Client: answer the server's CHALLENGE. */
static weft_err wf_net_on_challenge(wf_net_conn *c, const wf_frame *f)
{
    weft_err e = wf_auth_respond(c->token, f->body, f->body_len, c->response);
    if (e)
        return e;
    memcpy(c->challenge, f->body, sizeof c->challenge);
    e = wf_net_write_frame(c, WF_MSG_RESPONSE, f->seq, c->response,
                           sizeof c->response);
    if (e)
        return e;
    c->state = WF_NET_AWAIT_WELCOME;
    return 0;
}

/* Client: the server's WELCOME proves it holds the token. */
static weft_err wf_net_on_welcome(wf_net_conn *c, const wf_frame *f)
{
    weft_err e = wf_auth_check_welcome(c->token, c->challenge, c->response,
                                       f->body, f->body_len);
    if (e)
        return e;
    c->state = WF_NET_AUTHED;
    uv_timer_stop(&c->timer);
    WF_LOG_INFO("net: authenticated peer=%s role=client", c->peer);
    if (c->opts.on_ready)
        c->opts.on_ready(c, c->opts.arg);
    return 0;
}

/* The frame type the handshake expects next in c's state. */
static wf_msg_type wf_net_expected(const wf_net_conn *c)
{
    switch (c->state) {
    case WF_NET_AWAIT_CHALLENGE:
        return WF_MSG_CHALLENGE;
    case WF_NET_AWAIT_WELCOME:
        return WF_MSG_WELCOME;
    case WF_NET_AWAIT_RESPONSE:
        return WF_MSG_RESPONSE;
    default:
        return WF_MSG__END;
    }
}

/* Act on one whole frame from c's peer. */
static weft_err wf_net_dispatch(wf_net_conn *c, const wf_frame *f)
{
    if (c->state == WF_NET_AUTHED) {
        if (wf_net_is_auth_type(f->type))
            return wf_err(WEFT_EPROTO,
                          "net: handshake message %s after authentication",
                          wf_msg_type_name(f->type));
        c->opts.on_frame(c, f, c->opts.arg);
        return 0;
    }
    wf_msg_type want = wf_net_expected(c);
    if (f->type != want)
        return wf_err(WEFT_EPROTO,
                      "net: got %s before authentication (expected %s)",
                      wf_msg_type_name(f->type), wf_msg_type_name(want));
    if (want == WF_MSG_RESPONSE)
        return wf_net_on_response(c, f);
    if (want == WF_MSG_CHALLENGE)
        return wf_net_on_challenge(c, f);
    return wf_net_on_welcome(c, f);
}

static void wf_net_deadline(uv_timer_t *t)
{
    wf_net_conn *c = t->data;
    if (c->state == WF_NET_AUTHED)
        return;
    bool quiet_server =
        !c->server && !c->ssl && c->state == WF_NET_AWAIT_CHALLENGE;
    wf_err(WEFT_ETIMEDOUT, "net: handshake not finished within %llu ms%s",
           (unsigned long long)c->opts.handshake_ms,
           quiet_server ? " (the server said nothing: does the cluster use "
                          "TLS? then set WEFT_TLS=1)"
                        : "");
    wf_net_conn_fail(c, WEFT_ETIMEDOUT);
}

/* ------------------------------------------------------------ reading */

#define WF_NET_RAW 65536 /* bytes of ciphertext read at a time */

/* Room for at least one more read in rx (the frame in progress may need
 * more); false when memory is short. */
static bool wf_net_rx_room(wf_net_conn *c)
{
    size_t want = c->rx_len + WF_NET_READ_CHUNK;
    if (want < c->rx_need)
        want = c->rx_need;
    if (want <= c->rx_cap)
        return true;
    uint8_t *p = wf_realloc(c->rx, want);
    if (!p)
        return false;
    c->rx = p;
    c->rx_cap = want;
    return true;
}

static void wf_net_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    wf_net_conn *c = h->data;
    if (c->ssl) {
        if (!c->raw)
            c->raw = wf_alloc(WF_NET_RAW);
        *buf = uv_buf_init((char *)c->raw, c->raw ? WF_NET_RAW : 0);
        return;
    }
    size_t want = c->rx_len + WF_NET_READ_CHUNK;
    if (want < c->rx_need)
        want = c->rx_need;
    if (want > c->rx_cap) {
        uint8_t *p = wf_realloc(c->rx, want);
        if (!p) {
            *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
            return;
        }
        c->rx = p;
        c->rx_cap = want;
    }
    *buf = uv_buf_init((char *)c->rx + c->rx_len,
                       (unsigned)(c->rx_cap - c->rx_len));
}

/* Before authentication only handshake-sized frames are buffered, so an
 * unauthenticated peer cannot make us allocate a large body. */
static weft_err wf_net_check_size(const wf_net_conn *c, size_t size)
{
    if (c->state == WF_NET_AUTHED ||
        size <= WF_FRAME_HDR + WF_NET_AUTH_MAX_BODY)
        return 0;
    return wf_err(WEFT_EPROTO,
                  "net: frame of %zu bytes before authentication (limit %d)",
                  size, WF_FRAME_HDR + WF_NET_AUTH_MAX_BODY);
}

/* Consume every whole frame in c's buffer; keep the partial rest. */
static void wf_net_drain(wf_net_conn *c)
{
    size_t off = 0;
    while (!c->closing) {
        wf_frame f;
        weft_err st = wf_frame_parse(c->rx + off, c->rx_len - off, &f);
        weft_err e = st < 0 ? st : wf_net_check_size(c, f.size);
        if (e) {
            wf_net_conn_fail(c, e);
            return;
        }
        if (st == WF_FRAME_PARTIAL) {
            c->rx_need = f.size;
            break;
        }
        e = wf_net_dispatch(c, &f);
        if (e) {
            wf_net_conn_fail(c, e);
            return;
        }
        off += f.size;
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
}

static weft_err wf_net_challenge(wf_net_conn *c);

/* TLS is up: bind the token to the session and open the weft handshake. */
static weft_err wf_net_tls_ready(wf_net_conn *c)
{
    c->tls_up = true;
    weft_err e = wf_tls_bind(c->ssl, c->token, &c->bound);
    if (e)
        return e;
    c->token = &c->bound;
    WF_LOG_DEBUG("net: tls up peer=%s", c->peer);
    return c->server ? wf_net_challenge(c) : 0;
}

/* n bytes of ciphertext arrived in c->raw: through TLS into rx, then as
 * frames. */
static void wf_net_tls_in(wf_net_conn *c, size_t n)
{
    if (BIO_write(c->rbio, c->raw, (int)n) != (int)n) {
        wf_err(WEFT_ENOMEM, "net: tls: no memory for input");
        wf_net_conn_fail(c, WEFT_ENOMEM);
        return;
    }
    if (!c->tls_up) {
        int r = SSL_do_handshake(c->ssl);
        int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        if (wf_net_tls_flush(c) < 0 || (r != 1 && err != SSL_ERROR_WANT_READ &&
                                        err != SSL_ERROR_WANT_WRITE)) {
            wf_err(WEFT_EPROTO,
                   "net: TLS handshake with %s failed (is TLS on at both "
                   "ends? weft start --tls, WEFT_TLS=1): %s",
                   c->peer, wf_tls_error());
            wf_net_conn_fail(c, WEFT_EPROTO);
            return;
        }
        if (r != 1)
            return;
        weft_err e = wf_net_tls_ready(c);
        if (e) {
            wf_net_conn_fail(c, e);
            return;
        }
    }
    for (;;) {
        if (!wf_net_rx_room(c)) {
            wf_err(WEFT_ENOMEM, "net: no memory to read from %s", c->peer);
            wf_net_conn_fail(c, WEFT_ENOMEM);
            return;
        }
        size_t room = c->rx_cap - c->rx_len;
        int k = SSL_read(c->ssl, c->rx + c->rx_len,
                         room > INT32_MAX ? INT32_MAX : (int)room);
        if (k > 0) {
            c->rx_len += (size_t)k;
            continue;
        }
        int err = SSL_get_error(c->ssl, k);
        if (err == SSL_ERROR_WANT_READ)
            break;
        if (err == SSL_ERROR_ZERO_RETURN && c->state == WF_NET_AUTHED) {
            wf_net_drain(c);
            if (!c->closing)
                wf_net_conn_end(c, 0);
            return;
        }
        wf_err(WEFT_EPROTO, "net: TLS from %s: %s", c->peer, wf_tls_error());
        wf_net_conn_fail(c, WEFT_EPROTO);
        return;
    }
    if (wf_net_tls_flush(c) < 0) {
        wf_err(WEFT_EIO, "net: tls: cannot write to %s", c->peer);
        wf_net_conn_fail(c, WEFT_EIO);
        return;
    }
    wf_net_drain(c);
}

/* Set up TLS on c (server: wait for the client's hello; client: send it). */
static weft_err wf_net_tls_start(wf_net_conn *c)
{
    SSL_CTX *ctx = wf_tls_ctx(c->server != NULL);
    if (!ctx)
        return WEFT_ESYS;
    c->ssl = SSL_new(ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        return wf_err(WEFT_ENOMEM, "net: tls: %s", wf_tls_error());
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio); /* c->ssl owns them now */
    if (c->server) {
        SSL_set_accept_state(c->ssl);
        return 0;
    }
    SSL_set_connect_state(c->ssl);
    SSL_do_handshake(c->ssl); /* writes the client hello */
    return wf_net_tls_flush(c) < 0
               ? wf_err(WEFT_EIO, "net: tls: cannot write to %s", c->peer)
               : 0;
}

static void wf_net_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    wf_net_conn *c = st->data;
    if (c->closing || nread == 0)
        return;
    if (nread == UV_EOF && c->state == WF_NET_AUTHED) {
        wf_net_conn_end(c, 0);
        return;
    }
    if (nread == UV_EOF && c->state == WF_NET_AWAIT_CHALLENGE && !c->ssl) {
        wf_err(WEFT_EPROTO,
               "net: %s closed the connection before authenticating (does "
               "the cluster use TLS? then set WEFT_TLS=1)",
               c->peer);
        wf_net_conn_fail(c, WEFT_EPROTO);
        return;
    }
    if (nread == UV_EOF && c->state == WF_NET_AWAIT_WELCOME) {
        /* Our proof was sent and the server hung up: it did not accept
         * it. */
        wf_err(WEFT_EPROTO,
               "net: %s closed the connection after our proof (wrong "
               "cluster token?)",
               c->peer);
        wf_net_conn_fail(c, WEFT_EPROTO);
        return;
    }
    if (nread < 0) {
        wf_err(WEFT_EIO, "net: read%s: %s",
               c->state == WF_NET_AUTHED ? "" : " during handshake",
               uv_strerror((int)nread));
        wf_net_conn_fail(c, WEFT_EIO);
        return;
    }
    if (c->ssl) {
        wf_net_tls_in(c, (size_t)nread);
        return;
    }
    c->rx_len += (size_t)nread;
    wf_net_drain(c);
}

/* ------------------------------------------------------------ conns */

/* A new connection object on loop with both handles initialised. */
static wf_net_conn *wf_net_conn_new(uv_loop_t *loop, const wf_net_opts *opts)
{
    wf_net_conn *c = wf_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->opts = *opts;
    if (!c->opts.handshake_ms)
        c->opts.handshake_ms = WF_NET_HANDSHAKE_MS;
    c->rx_need = WF_FRAME_HDR;
    c->use_tls = opts->tls ? opts->tls > 0 : wf_tls_enabled();
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    snprintf(c->peer, sizeof c->peer, "?");
    return c;
}

static weft_err wf_net_check_opts(const wf_net_opts *opts,
                                  const wf_token *token)
{
    if (!opts || !opts->on_frame || !token || token->len < WF_TOKEN_MIN ||
        token->len > WF_TOKEN_MAX)
        return wf_err(WEFT_EINVAL, "net: missing on_frame or bad token");
    return 0;
}

/* Start reading and the handshake deadline on c. */
static weft_err wf_net_conn_begin(wf_net_conn *c)
{
    int r = uv_read_start((uv_stream_t *)&c->tcp, wf_net_alloc, wf_net_read);
    if (r == 0)
        r = uv_timer_start(&c->timer, wf_net_deadline, c->opts.handshake_ms, 0);
    if (r < 0)
        return wf_err(WEFT_EIO, "net: start reading %s: %s", c->peer,
                      uv_strerror(r));
    uv_tcp_nodelay(&c->tcp, 1);
    return 0;
}

/* ------------------------------------------------------------ server */

/* Send the CHALLENGE that opens the handshake on a server connection. */
static weft_err wf_net_challenge(wf_net_conn *c)
{
    weft_err e = wf_auth_challenge(c->challenge);
    if (e)
        return e;
    c->state = WF_NET_AWAIT_RESPONSE;
    return wf_net_write_frame(c, WF_MSG_CHALLENGE, 0, c->challenge,
                              sizeof c->challenge);
}

static void wf_net_accept(uv_stream_t *listener, int status)
{
    wf_net_server *s = listener->data;
    if (status < 0) {
        WF_LOG_WARN("net: accept failed error=\"%s\"", uv_strerror(status));
        return;
    }
    wf_net_conn *c = wf_net_conn_new(listener->loop, &s->opts);
    if (!c) {
        WF_LOG_WARN("net: no memory for a new connection");
        return;
    }
    c->server = s;
    c->use_tls = s->tls;
    c->token = &s->token;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    weft_err e = 0;
    int r = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (r < 0) {
        e = wf_err(WEFT_EIO, "net: accept: %s", uv_strerror(r));
        goto fail;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        wf_net_addr_name(&ss, c->peer, sizeof c->peer);
    e = wf_net_conn_begin(c);
    if (!e)
        e = c->use_tls ? wf_net_tls_start(c) : wf_net_challenge(c);
    if (e)
        goto fail;
    WF_LOG_DEBUG("net: accepted peer=%s", c->peer);
    return;
fail:
    wf_net_conn_fail(c, e);
}

static void wf_net_listener_closed(uv_handle_t *h)
{
    wf_net_server *s = h->data;
    s->listener_closed = true;
    wf_net_server_maybe_free(s);
}

/* What server and client check before they start: callbacks, token and
 * a numeric host:port resolved into *ss. */
static weft_err wf_net_check_start(const wf_net_opts *opts,
                                   const wf_token *token, const char *host,
                                   int port, struct sockaddr_storage *ss)
{
    weft_err e = wf_net_check_opts(opts, token);
    return e ? e : wf_net_addr(host, port, ss);
}

weft_err wf_net_server_start(uv_loop_t *loop, const char *host, int port,
                             const wf_token *token, const wf_net_opts *opts,
                             wf_net_server **out)
{
    struct sockaddr_storage ss;
    weft_err e = wf_net_check_start(opts, token, host, port, &ss);
    if (e)
        return e;
    wf_net_server *s = wf_calloc(1, sizeof *s);
    if (!s)
        return wf_err(WEFT_ENOMEM, "net: no memory for a server");
    s->token = *token;
    s->opts = *opts;
    s->tls = wf_tls_enabled();
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    int r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->tcp, WF_NET_BACKLOG, wf_net_accept);
    int len = sizeof ss;
    if (r == 0)
        r = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
    if (r < 0) {
        e = wf_err(WEFT_ESYS, "net: listen on %s port %d: %s", host, port,
                   uv_strerror(r));
        goto fail;
    }
    s->port = ntohs(ss.ss_family == AF_INET
                        ? ((struct sockaddr_in *)&ss)->sin_port
                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
    WF_LOG_INFO("net: listening host=%s port=%d", host, s->port);
    *out = s;
    return 0;
fail:
    s->opts.on_stopped = NULL; /* the caller has the error instead */
    wf_net_server_stop(s);
    return e;
}

int wf_net_server_port(const wf_net_server *s)
{
    return s->port;
}

void wf_net_server_stop(wf_net_server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    uv_close((uv_handle_t *)&s->tcp, wf_net_listener_closed);
    for (wf_net_conn *c = s->conns; c; c = c->next)
        wf_net_conn_end(c, 0);
}

/* ------------------------------------------------------------ client */

static void wf_net_connected(uv_connect_t *req, int status)
{
    wf_net_conn *c = req->data;
    if (status == UV_ECANCELED || c->closing)
        return;
    weft_err e = 0;
    if (status < 0)
        e = wf_err(WEFT_EIO, "net: connect to %s: %s", c->peer,
                   uv_strerror(status));
    else
        e = uv_read_start((uv_stream_t *)&c->tcp, wf_net_alloc, wf_net_read)
                ? wf_err(WEFT_EIO, "net: start reading %s", c->peer)
                : 0;
    if (!e && c->use_tls)
        e = wf_net_tls_start(c);
    if (e) {
        wf_net_conn_fail(c, e);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->state = WF_NET_AWAIT_CHALLENGE;
}

weft_err wf_net_connect(uv_loop_t *loop, const char *host, int port,
                        const wf_token *token, const wf_net_opts *opts,
                        wf_net_conn **out)
{
    struct sockaddr_storage ss;
    weft_err e = wf_net_check_start(opts, token, host, port, &ss);
    if (e)
        return e;
    wf_net_conn *c = wf_net_conn_new(loop, opts);
    if (!c)
        return wf_err(WEFT_ENOMEM, "net: no memory for a connection");
    c->own_token = *token;
    c->token = &c->own_token;
    c->state = WF_NET_CONNECTING;
    wf_net_addr_name(&ss, c->peer, sizeof c->peer);
    c->connect_req.data = c;
    int r = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&ss,
                           wf_net_connected);
    if (r == 0)
        r = uv_timer_start(&c->timer, wf_net_deadline, c->opts.handshake_ms, 0);
    if (r < 0) {
        e = wf_err(WEFT_ESYS, "net: connect to %s: %s", c->peer,
                   uv_strerror(r));
        c->silent = true;
        wf_net_conn_end(c, e);
        return e;
    }
    *out = c;
    return 0;
}
