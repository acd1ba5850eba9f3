#include "cluster/status.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

/* Smallest encoded member: id, empty-name length, state, cpus, memory,
 * load, drivers, last heard, empty address, no custom resources. */
#define WF_STATUS_MIN_MEMBER (8 + 4 + 1 + 8 + 8 + 4 + 4 + 8 + 4 + 4)

void wf_status_encode(wf_wbuf *w, const wf_member *m, size_t n)
{
    wf_wbuf_put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        wf_wbuf_put_u64(w, m[i].id);
        wf_wbuf_put_str(w, m[i].name, strlen(m[i].name));
        wf_wbuf_put_u8(w, (uint8_t)m[i].state);
        wf_wbuf_put_u64(w, m[i].res.cpus_milli);
        wf_wbuf_put_u64(w, m[i].res.memory_bytes);
        wf_wbuf_put_u32(w, m[i].load);
        wf_wbuf_put_u32(w, m[i].drivers);
        wf_wbuf_put_u64(w, m[i].last_heard_ms);
        wf_wbuf_put_str(w, m[i].res.addr, strlen(m[i].res.addr));
        wf_wbuf_put_u32(w, m[i].res.ncustom);
        for (uint32_t k = 0; k < m[i].res.ncustom; k++) {
            const wf_node_resource *c = &m[i].res.custom[k];
            wf_wbuf_put_str(w, c->name, strlen(c->name));
            wf_wbuf_put_u64(w, c->milli);
        }
    }
}

/* Read one member from r into *m. */
static weft_err wf_status_get_member(wf_rbuf *r, wf_member *m)
{
    const char *s;
    size_t len;
    uint8_t state = 0;
    size_t at = r->off;
    weft_err e = wf_rbuf_get_u64(r, &m->id, "node id");
    if (!e && m->id == 0)
        return wf_rbuf_bad(r, at, "node id 0");
    at = r->off;
    if (!e)
        e = wf_rbuf_get_str(r, WF_NODE_NAME_MAX, &s, &len, "node name");
    if (!e) {
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
                return wf_rbuf_bad(r, at, "bad node name");
        if (len == 0)
            return wf_rbuf_bad(r, at, "empty node name");
        memcpy(m->name, s, len);
        m->name[len] = '\0';
    }
    at = r->off;
    if (!e)
        e = wf_rbuf_get_u8(r, &state, "node state");
    if (!e && state != WF_MEMBER_ALIVE && state != WF_MEMBER_DEAD)
        return wf_rbuf_bad(r, at, "bad node state %u", state);
    m->state = (wf_member_state)state;
    if (!e)
        e = wf_rbuf_get_u64(r, &m->res.cpus_milli, "cpus");
    if (!e)
        e = wf_rbuf_get_u64(r, &m->res.memory_bytes, "memory");
    if (!e)
        e = wf_rbuf_get_u32(r, &m->load, "load");
    if (!e)
        e = wf_rbuf_get_u32(r, &m->drivers, "drivers");
    if (!e)
        e = wf_rbuf_get_u64(r, &m->last_heard_ms, "last heard");
    if (!e)
        e = wf_member_get_addr(r, m->res.addr);
    uint32_t nc = 0;
    at = r->off;
    if (!e)
        e = wf_rbuf_get_u32(r, &nc, "custom resource count");
    if (!e && nc > WF_NODE_MAX_CUSTOM)
        return wf_rbuf_bad(r, at, "%u custom resources (at most %d)", nc,
                           WF_NODE_MAX_CUSTOM);
    for (uint32_t k = 0; !e && k < nc; k++) {
        wf_node_resource *c = &m->res.custom[k];
        const char *cs;
        size_t cn;
        at = r->off;
        e = wf_rbuf_get_str(r, WF_NODE_NAME_MAX, &cs, &cn, "resource name");
        bool ok = !e && cn > 0;
        for (size_t i = 0; ok && i < cn; i++)
            ok = (unsigned char)cs[i] > 0x20 && (unsigned char)cs[i] < 0x7f;
        if (!e && !ok)
            return wf_rbuf_bad(r, at, "bad resource name");
        if (!e) {
            memcpy(c->name, cs, cn);
            c->name[cn] = '\0';
            for (uint32_t j = 0; j < k; j++)
                if (strcmp(m->res.custom[j].name, c->name) == 0)
                    return wf_rbuf_bad(r, at, "duplicate resource \"%s\"",
                                       c->name);
            e = wf_rbuf_get_u64(r, &c->milli, "resource amount");
        }
        m->res.ncustom = k + 1;
    }
    return e;
}

weft_err wf_status_decode(const uint8_t *p, size_t len, wf_member **out,
                          size_t *n)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    *out = NULL;
    *n = 0;
    uint32_t count;
    weft_err e = wf_rbuf_get_u32(&r, &count, "node count");
    if (e)
        return e;
    if (count > WF_HEAD_MAX_NODES ||
        (uint64_t)count * WF_STATUS_MIN_MEMBER > wf_rbuf_left(&r))
        return wf_rbuf_bad(&r, 0, "node count %u does not fit the body", count);
    wf_member *m = NULL;
    if (count) {
        m = wf_calloc(count, sizeof *m);
        if (!m)
            return wf_err(WEFT_ENOMEM, "status: no memory for %u nodes", count);
    }
    for (uint32_t i = 0; !e && i < count; i++)
        e = wf_status_get_member(&r, &m[i]);
    if (!e)
        e = wf_rbuf_end(&r, "STATUS");
    if (e) {
        wf_free(m);
        return e;
    }
    *out = m;
    *n = count;
    return 0;
}

weft_err wf_status_answer(wf_head *h, wf_net_conn *c, const wf_frame *f)
{
    if (f->body_len)
        return wf_err(WEFT_EPROTO, "cluster: STATUS_REQ with a %u-byte body",
                      f->body_len);
    size_t n = wf_head_nodes(h, NULL, 0);
    wf_member *m = n ? wf_calloc(n, sizeof *m) : NULL;
    if (n && !m)
        return wf_err(WEFT_ENOMEM, "cluster: no memory for a status reply");
    n = wf_head_nodes(h, m, n);
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_status_encode(&w, m, n);
    wf_free(m);
    weft_err e = wf_wbuf_status(&w);
    if (!e)
        e = wf_net_send(c, WF_MSG_STATUS, f->seq, w.data, w.len);
    wf_wbuf_free(&w);
    return e;
}
