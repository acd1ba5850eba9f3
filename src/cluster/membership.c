#include "cluster/membership.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/status.h"
#include "net/conn.h"
#include "wire/buf.h"
#include "wire/frame.h"

#define WF_HB_MAX_MS 3600000u /* longest heartbeat period: an hour */

/* ------------------------------------------------------------ bodies */

static bool wf_member_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > WF_NODE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* Read one name field into dst (NUL-terminated), checked. */
static weft_err wf_member_get_name(wf_rbuf *r, char *dst, const char *what)
{
    size_t at = r->off, n;
    const char *s;
    weft_err e = wf_rbuf_get_str(r, WF_NODE_NAME_MAX, &s, &n, what);
    if (e)
        return e;
    if (!wf_member_name_ok(s, n))
        return wf_rbuf_bad(r, at, "bad %s (1..%d printable bytes, no spaces)",
                           what, WF_NODE_NAME_MAX);
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

bool wf_member_addr_ok(const char *s, size_t n)
{
    if (n > WF_NODE_ADDR_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    if (n == 0)
        return true;
    char addr[WF_NODE_ADDR_MAX + 1], host[WF_NODE_ADDR_MAX + 1];
    int port;
    memcpy(addr, s, n);
    addr[n] = '\0';
    return wf_net_split_addr(addr, host, sizeof host, &port);
}

weft_err wf_member_get_addr(wf_rbuf *r, char *dst)
{
    const char *s;
    size_t n, at = r->off;
    weft_err e = wf_rbuf_get_str(r, WF_NODE_ADDR_MAX, &s, &n, "task address");
    if (e)
        return e;
    if (!wf_member_addr_ok(s, n))
        return wf_rbuf_bad(r, at, "bad task address");
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Decode a NODE_JOIN body into name and *res. */
static weft_err wf_member_decode_join(const uint8_t *p, size_t len, char *name,
                                      wf_node_resources *res)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    memset(res, 0, sizeof *res);
    weft_err e = wf_member_get_name(&r, name, "node name");
    if (!e)
        e = wf_rbuf_get_u64(&r, &res->cpus_milli, "cpus");
    if (!e)
        e = wf_rbuf_get_u64(&r, &res->memory_bytes, "memory");
    size_t at = r.off;
    uint32_t n = 0;
    if (!e)
        e = wf_rbuf_get_u32(&r, &n, "custom resource count");
    if (!e && n > WF_NODE_MAX_CUSTOM)
        return wf_rbuf_bad(&r, at, "%u custom resources (at most %d)", n,
                           WF_NODE_MAX_CUSTOM);
    for (uint32_t i = 0; !e && i < n; i++) {
        wf_node_resource *c = &res->custom[i];
        at = r.off;
        e = wf_member_get_name(&r, c->name, "resource name");
        for (uint32_t j = 0; !e && j < i; j++)
            if (strcmp(res->custom[j].name, c->name) == 0)
                return wf_rbuf_bad(&r, at, "duplicate resource \"%s\"",
                                   c->name);
        if (!e)
            e = wf_rbuf_get_u64(&r, &c->milli, "resource amount");
        res->ncustom = i + 1;
    }
    if (!e)
        e = wf_member_get_addr(&r, res->addr);
    if (!e)
        e = wf_rbuf_end(&r, "NODE_JOIN");
    return e;
}

/* Send a body held in w, then free it. */
static weft_err wf_member_send(wf_net_conn *c, wf_msg_type type, wf_wbuf *w)
{
    weft_err e = wf_wbuf_status(w);
    if (!e)
        e = wf_net_send(c, type, 0, w->data, w->len);
    wf_wbuf_free(w);
    return e;
}

/* Log why c is dropped (this thread's last error) and close it. */
static void wf_member_drop(wf_net_conn *c, const char *side, weft_err e)
{
    WF_LOG_WARN("cluster: closing connection side=%s peer=%s error=%s "
                "detail=\"%s\"",
                side, wf_net_conn_peer(c), weft_err_name(e), weft_last_error());
    wf_net_conn_close(c);
}

/* ------------------------------------------------------------ head */

typedef struct wf_member_rec {
    wf_member m;
    wf_net_conn *conn;   /* NULL while DEAD */
    uint64_t last_heard; /* uv_now */
} wf_member_rec;

struct wf_head {
    uv_loop_t *loop;
    wf_net_server *srv;
    uv_timer_t timer;
    int port;
    uint64_t heartbeat_ms, dead_after_ms;
    wf_member_rec *recs; /* index i has id i + 1 */
    size_t n, cap;
    bool stopping;
    bool timer_closed, srv_stopped; /* freed when both, after a stop */
};

static wf_member_rec *wf_head_by_conn(wf_head *h, const wf_net_conn *c)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->recs[i].conn == c)
            return &h->recs[i];
    return NULL;
}

static wf_member_rec *wf_head_by_name(wf_head *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->recs[i].m.name, name) == 0)
            return &h->recs[i];
    return NULL;
}

static void wf_head_mark_dead(wf_head *h, wf_member_rec *r, const char *why)
{
    r->m.state = WF_MEMBER_DEAD;
    r->conn = NULL;
    if (!h->stopping)
        WF_LOG_WARN("cluster: node dead id=%llu name=%s reason=\"%s\"",
                    (unsigned long long)r->m.id, r->m.name, why);
}

static weft_err wf_head_join(wf_head *h, wf_net_conn *c, const wf_frame *f)
{
    char name[WF_NODE_NAME_MAX + 1];
    wf_node_resources res;
    weft_err e = wf_member_decode_join(f->body, f->body_len, name, &res);
    if (e)
        return e;
    wf_member_rec *r = wf_head_by_name(h, name);
    if (r && r->m.state == WF_MEMBER_ALIVE)
        return wf_err(WEFT_EEXIST, "cluster: node \"%s\" is already alive",
                      name);
    if (!r) {
        if (h->n >= WF_HEAD_MAX_NODES)
            return wf_err(WEFT_ERANGE, "cluster: more than %d nodes",
                          WF_HEAD_MAX_NODES);
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 8;
            wf_member_rec *p = wf_realloc(h->recs, cap * sizeof *p);
            if (!p)
                return wf_err(WEFT_ENOMEM, "cluster: no memory for a node");
            h->recs = p;
            h->cap = cap;
        }
        r = &h->recs[h->n++];
        memset(r, 0, sizeof *r);
        r->m.id = h->n;
        memcpy(r->m.name, name, sizeof name);
    }
    r->m.state = WF_MEMBER_ALIVE;
    r->m.res = res;
    r->m.load = 0;
    r->m.drivers = 0;
    r->conn = c;
    r->last_heard = uv_now(h->loop);
    WF_LOG_INFO("cluster: node joined id=%llu name=%s peer=%s cpus_milli=%llu "
                "memory=%llu custom=%u",
                (unsigned long long)r->m.id, name, wf_net_conn_peer(c),
                (unsigned long long)res.cpus_milli,
                (unsigned long long)res.memory_bytes, res.ncustom);
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_wbuf_put_u64(&w, r->m.id);
    wf_wbuf_put_u32(&w, (uint32_t)h->heartbeat_ms);
    return wf_member_send(c, WF_MSG_JOINED, &w);
}

static weft_err wf_head_heartbeat(wf_head *h, wf_member_rec *r,
                                  const wf_frame *f)
{
    wf_rbuf rb;
    wf_rbuf_init(&rb, f->body, f->body_len);
    uint32_t load, drivers;
    weft_err e = wf_rbuf_get_u32(&rb, &load, "load");
    if (!e)
        e = wf_rbuf_get_u32(&rb, &drivers, "drivers");
    if (!e)
        e = wf_rbuf_end(&rb, "HEARTBEAT");
    if (e)
        return e;
    r->m.load = load;
    r->m.drivers = drivers;
    r->last_heard = uv_now(h->loop);
    return 0;
}

static void wf_head_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_head *h = arg;
    wf_member_rec *r = wf_head_by_conn(h, c);
    weft_err e;
    if (!r && f->type == WF_MSG_STATUS_REQ)
        e = wf_status_answer(h, c, f); /* a client, not a node */
    else if (!r)
        e = f->type == WF_MSG_NODE_JOIN
                ? wf_head_join(h, c, f)
                : wf_err(WEFT_EPROTO, "cluster: %s before NODE_JOIN",
                         wf_msg_type_name(f->type));
    else if (f->type == WF_MSG_HEARTBEAT)
        e = wf_head_heartbeat(h, r, f);
    else
        e = wf_err(WEFT_EPROTO, "cluster: unexpected %s from node %s",
                   wf_msg_type_name(f->type), r->m.name);
    if (e)
        wf_member_drop(c, "head", e);
}

static void wf_head_srv_stopped(void *arg);

static void wf_head_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    wf_head *h = arg;
    wf_member_rec *r = wf_head_by_conn(h, c);
    if (r)
        wf_head_mark_dead(h, r, "connection closed");
}

static void wf_head_check(uv_timer_t *t)
{
    wf_head *h = t->data;
    uint64_t now = uv_now(h->loop);
    for (size_t i = 0; i < h->n; i++) {
        wf_member_rec *r = &h->recs[i];
        if (r->m.state != WF_MEMBER_ALIVE ||
            now - r->last_heard < h->dead_after_ms)
            continue;
        wf_net_conn *c = r->conn;
        wf_head_mark_dead(h, r, "no heartbeat");
        wf_net_conn_close(c);
    }
}

weft_err wf_head_start(uv_loop_t *loop, const char *host, int port,
                       const wf_token *token, const wf_head_opts *opts,
                       wf_head **out)
{
    wf_head_opts o = opts ? *opts : (wf_head_opts){0};
    if (!o.heartbeat_ms)
        o.heartbeat_ms = WF_HEAD_HEARTBEAT_MS;
    if (!o.dead_after_ms)
        o.dead_after_ms = WF_HEAD_DEAD_AFTER_MS;
    if (!loop || !out || o.heartbeat_ms > WF_HB_MAX_MS ||
        o.heartbeat_ms >= o.dead_after_ms)
        return wf_err(WEFT_EINVAL,
                      "cluster: bad head options (heartbeat %llu "
                      "ms must be <= 1 h and < dead_after %llu "
                      "ms)",
                      (unsigned long long)o.heartbeat_ms,
                      (unsigned long long)o.dead_after_ms);
    wf_head *h = wf_calloc(1, sizeof *h);
    if (!h)
        return wf_err(WEFT_ENOMEM, "cluster: no memory for a head");
    h->loop = loop;
    h->heartbeat_ms = o.heartbeat_ms;
    h->dead_after_ms = o.dead_after_ms;
    wf_net_opts no = {.on_frame = wf_head_on_frame,
                      .on_close = wf_head_on_close,
                      .arg = h,
                      .on_stopped = wf_head_srv_stopped};
    weft_err e = wf_net_server_start(loop, host, port, token, &no, &h->srv);
    if (e)
        goto fail;
    h->port = wf_net_server_port(h->srv);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uint64_t every = h->dead_after_ms / 4;
    if (every > h->heartbeat_ms)
        every = h->heartbeat_ms;
    if (every < 1)
        every = 1;
    uv_timer_start(&h->timer, wf_head_check, every, every);
    *out = h;
    return 0;
fail:
    wf_free(h);
    return e;
}

int wf_head_port(const wf_head *h)
{
    return h->port;
}

size_t wf_head_nodes(const wf_head *h, wf_member *out, size_t max)
{
    uint64_t now = uv_now(h->loop);
    for (size_t i = 0; i < h->n && i < max; i++) {
        out[i] = h->recs[i].m;
        out[i].last_heard_ms = now - h->recs[i].last_heard;
    }
    return h->n;
}

/* After a stop: free the head once its timer is closed and the server
 * has said that every connection (each with its on_close) is gone. */
static void wf_head_maybe_free(wf_head *h)
{
    if (!h->timer_closed || !h->srv_stopped)
        return;
    wf_free(h->recs);
    wf_free(h);
}

static void wf_head_timer_closed(uv_handle_t *t)
{
    wf_head *h = t->data;
    h->timer_closed = true;
    wf_head_maybe_free(h);
}

static void wf_head_srv_stopped(void *arg)
{
    wf_head *h = arg;
    h->srv_stopped = true;
    wf_head_maybe_free(h);
}

void wf_head_stop(wf_head *h)
{
    if (!h || h->stopping)
        return;
    h->stopping = true;
    uv_close((uv_handle_t *)&h->timer, wf_head_timer_closed);
    wf_net_server_stop(h->srv);
}

/* ------------------------------------------------------------ node */

struct wf_node {
    uv_loop_t *loop;
    wf_net_conn *conn; /* NULL once closed */
    uv_timer_t timer;
    char name[WF_NODE_NAME_MAX + 1];
    wf_node_resources res;
    uint64_t id;
    wf_node_state state;
    weft_err why;
    uint64_t hb_opt; /* from opts; 0: the head's */
    uint64_t hb_ms;
    uint32_t load, drivers;
    bool hb_on, stopping, timer_closed;
};

static void wf_node_beat(uv_timer_t *t)
{
    wf_node *n = t->data;
    if (!n->conn)
        return;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_wbuf_put_u32(&w, n->load);
    wf_wbuf_put_u32(&w, n->drivers);
    weft_err e = wf_member_send(n->conn, WF_MSG_HEARTBEAT, &w);
    if (e)
        wf_member_drop(n->conn, "node", e);
}

static void wf_node_on_ready(wf_net_conn *c, void *arg)
{
    wf_node *n = arg;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_wbuf_put_str(&w, n->name, strlen(n->name));
    wf_wbuf_put_u64(&w, n->res.cpus_milli);
    wf_wbuf_put_u64(&w, n->res.memory_bytes);
    wf_wbuf_put_u32(&w, n->res.ncustom);
    for (uint32_t i = 0; i < n->res.ncustom; i++) {
        const wf_node_resource *r = &n->res.custom[i];
        wf_wbuf_put_str(&w, r->name, strlen(r->name));
        wf_wbuf_put_u64(&w, r->milli);
    }
    wf_wbuf_put_str(&w, n->res.addr, strlen(n->res.addr));
    weft_err e = wf_member_send(c, WF_MSG_NODE_JOIN, &w);
    if (e)
        wf_member_drop(c, "node", e);
}

static weft_err wf_node_joined(wf_node *n, const wf_frame *f)
{
    wf_rbuf r;
    wf_rbuf_init(&r, f->body, f->body_len);
    uint64_t id;
    uint32_t hb;
    weft_err e = wf_rbuf_get_u64(&r, &id, "node id");
    size_t at = r.off;
    if (!e)
        e = wf_rbuf_get_u32(&r, &hb, "heartbeat period");
    if (!e)
        e = wf_rbuf_end(&r, "JOINED");
    if (e)
        return e;
    if (id == 0)
        return wf_rbuf_bad(&r, 0, "node id 0");
    if (hb == 0 || hb > WF_HB_MAX_MS)
        return wf_rbuf_bad(&r, at, "heartbeat period %u ms", hb);
    n->id = id;
    n->state = WF_NODE_JOINED;
    n->hb_ms = n->hb_opt ? n->hb_opt : hb;
    WF_LOG_INFO("cluster: joined id=%llu name=%s heartbeat_ms=%llu",
                (unsigned long long)id, n->name, (unsigned long long)n->hb_ms);
    if (n->hb_on)
        uv_timer_start(&n->timer, wf_node_beat, n->hb_ms, n->hb_ms);
    return 0;
}

static void wf_node_on_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    wf_node *n = arg;
    weft_err e = f->type == WF_MSG_JOINED && n->state == WF_NODE_CONNECTING
                     ? wf_node_joined(n, f)
                     : wf_err(WEFT_EPROTO, "cluster: unexpected %s from head",
                              wf_msg_type_name(f->type));
    if (e)
        wf_member_drop(c, "node", e);
}

static void wf_node_free(wf_node *n)
{
    wf_free(n);
}

static void wf_node_on_close(wf_net_conn *c, weft_err why, void *arg)
{
    wf_node *n = arg;
    n->conn = NULL;
    n->state = WF_NODE_CLOSED;
    n->why = why;
    if (!n->timer_closed)
        uv_timer_stop(&n->timer);
    if (!n->stopping)
        WF_LOG_INFO("cluster: node connection closed name=%s error=%s", n->name,
                    why ? weft_err_name(why) : "none");
    if (n->stopping && n->timer_closed)
        wf_node_free(n);
}

static void wf_node_timer_closed(uv_handle_t *t)
{
    wf_node *n = t->data;
    n->timer_closed = true;
    if (n->state == WF_NODE_CLOSED)
        wf_node_free(n);
}

weft_err wf_node_join(uv_loop_t *loop, const char *host, int port,
                      const wf_token *token, const char *name,
                      const wf_node_resources *res, const wf_node_opts *opts,
                      wf_node **out)
{
    if (!loop || !name || !res || !out ||
        !wf_member_name_ok(name, strlen(name)) ||
        res->ncustom > WF_NODE_MAX_CUSTOM)
        return wf_err(WEFT_EINVAL, "cluster: bad node name or resources");
    for (uint32_t i = 0; i < res->ncustom; i++) {
        const char *s = res->custom[i].name;
        size_t len = strnlen(s, sizeof res->custom[i].name);
        if (len > WF_NODE_NAME_MAX || !wf_member_name_ok(s, len))
            return wf_err(WEFT_EINVAL, "cluster: bad resource name #%u", i);
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(res->custom[j].name, s) == 0)
                return wf_err(WEFT_EINVAL, "cluster: duplicate resource %s", s);
    }
    if (!wf_member_addr_ok(res->addr, strnlen(res->addr, sizeof res->addr)))
        return wf_err(WEFT_EINVAL, "cluster: bad task address");
    if (opts && opts->heartbeat_ms > WF_HB_MAX_MS)
        return wf_err(WEFT_EINVAL, "cluster: heartbeat over an hour");
    wf_node *n = wf_calloc(1, sizeof *n);
    if (!n)
        return wf_err(WEFT_ENOMEM, "cluster: no memory for a node");
    n->loop = loop;
    memcpy(n->name, name, strlen(name) + 1);
    n->res = *res;
    n->state = WF_NODE_CONNECTING;
    n->hb_opt = opts ? opts->heartbeat_ms : 0;
    n->hb_on = true;
    wf_net_opts no = {.on_frame = wf_node_on_frame,
                      .on_ready = wf_node_on_ready,
                      .on_close = wf_node_on_close,
                      .arg = n};
    weft_err e = wf_net_connect(loop, host, port, token, &no, &n->conn);
    if (e)
        goto fail;
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    *out = n;
    return 0;
fail:
    wf_free(n);
    return e;
}

wf_node_state wf_node_get_state(const wf_node *n)
{
    return n->state;
}

uint64_t wf_node_id(const wf_node *n)
{
    return n->id;
}

weft_err wf_node_close_reason(const wf_node *n)
{
    return n->why;
}

void wf_node_set_load(wf_node *n, uint32_t load, uint32_t drivers)
{
    n->load = load;
    n->drivers = drivers;
}

void wf_node_set_heartbeats(wf_node *n, bool on)
{
    n->hb_on = on;
    if (n->state != WF_NODE_JOINED)
        return;
    if (on)
        uv_timer_start(&n->timer, wf_node_beat, n->hb_ms, n->hb_ms);
    else
        uv_timer_stop(&n->timer);
}

void wf_node_stop(wf_node *n)
{
    if (!n || n->stopping)
        return;
    n->stopping = true;
    if (n->conn)
        wf_net_conn_close(n->conn);
    uv_close((uv_handle_t *)&n->timer, wf_node_timer_closed);
}
