/* libFuzzer target for every decoder of outside bytes in the cluster layer:
 * the driver/node messages (proto.h), the STATUS reply (status.h) and the
 * task address that NODE_JOIN and STATUS share (membership.h). The first
 * input byte picks the decoder, the rest is the body. Beyond "no crash, no
 * read outside the input" (ASan), it checks the fields a decoder promises
 * and that whatever decodes encodes back to exactly the same bytes: the
 * format is canonical, so a difference means the decoder accepted
 * something it should not have. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cluster/membership.h"
#include "cluster/proto.h"
#include "cluster/status.h"
#include "wire/buf.h"
#include "wire/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    FUZZ_DRIVER_HELLO,
    FUZZ_EXE_WANT,
    FUZZ_EXE_CHUNK,
    FUZZ_READY,
    FUZZ_STATUS,
    FUZZ_ADDR,
    FUZZ_ACTOR_DIED,
    FUZZ_PULL,
    FUZZ_OBJ_CHUNK,
    FUZZ_FREE,
    FUZZ_PACE,
    FUZZ_STEAL,
    FUZZ_RETURNED,
    FUZZ_NDECODERS
};

static void fuzz_check(int cond)
{
    if (!cond)
        abort();
}

static void fuzz_same(const wf_wbuf *w, const uint8_t *p, size_t n)
{
    fuzz_check(wf_wbuf_status(w) == 0);
    fuzz_check(w->len == n && (n == 0 || memcmp(w->data, p, n) == 0));
}

/* A refusal is WEFT_EPROTO (or one of the extra codes allowed) and says
 * why. */
static void fuzz_refused(weft_err e, weft_err also)
{
    fuzz_check(e == WEFT_EPROTO || (also != 0 && e == also));
    fuzz_check(weft_last_error()[0] != '\0');
}

/* s[0..n) lies inside p[0..len). */
static void fuzz_inside(const void *s, size_t n, const uint8_t *p, size_t len)
{
    const uint8_t *q = s;
    fuzz_check(n <= len && (n == 0 || (q >= p && q + n <= p + len)));
}

static int fuzz_printable(const char *s, size_t n, unsigned char lo)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < lo || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static void fuzz_driver_hello(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_msg_driver_hello m;
    weft_err e = wf_proto_get_driver_hello(p, n, &m);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(m.kind == WF_PROG_EXE || m.kind == WF_PROG_LIB);
    fuzz_check(m.size >= 1 && m.size <= WF_PROG_MAX);
    fuzz_check(m.name_len >= 1 && m.name_len <= WF_PROG_NAME_MAX);
    fuzz_inside(m.name, m.name_len, p, n);
    fuzz_check(fuzz_printable(m.name, m.name_len, 0x20));
    wf_proto_put_driver_hello(w, &m);
    fuzz_same(w, p, n);
}

static void fuzz_exe_want(const uint8_t *p, size_t n)
{
    weft_err e = wf_proto_get_exe_want(p, n);
    fuzz_check((e == 0) == (n == 0));
    if (e)
        fuzz_refused(e, 0);
}

static void fuzz_exe_chunk(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_msg_exe_chunk m;
    weft_err e = wf_proto_get_exe_chunk(p, n, &m);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(m.len >= 1 && m.len <= WF_PROG_CHUNK);
    fuzz_check(m.len == n - 8 && m.data == p + 8);
    wf_proto_put_exe_chunk(w, &m);
    fuzz_same(w, p, n);
}

static void fuzz_ready(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_msg_ready m;
    weft_err e = wf_proto_get_ready(p, n, &m);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(m.status <= 0 && (m.status != 0 || m.slots >= 1));
    /* Within the limit, so the encoder's cut to WF_READY_MAX_MESSAGE does
     * not apply and the bytes must come back unchanged. */
    fuzz_check(m.message_len <= WF_READY_MAX_MESSAGE);
    fuzz_inside(m.message, m.message_len, p, n);
    wf_proto_put_ready(w, &m);
    fuzz_same(w, p, n);
}

/* ACTOR_DIED and OBJ_MISSING share a layout: an id and a message. */
static void fuzz_actor_died(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_msg_actor_died m;
    weft_err e = wf_proto_get_actor_died(p, n, &m);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(m.actor_id >= 1 && m.why_len <= WF_READY_MAX_MESSAGE);
    fuzz_check(fuzz_printable(m.why, m.why_len, 0x20));
    fuzz_inside(m.why, m.why_len, p, n);
    wf_proto_put_actor_died(w, &m);
    fuzz_same(w, p, n);
}

static void fuzz_pull(const uint8_t *p, size_t n, wf_wbuf *w)
{
    uint64_t id;
    weft_err e = wf_proto_get_pull(p, n, &id);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(id >= 1);
    wf_proto_put_pull(w, id);
    fuzz_same(w, p, n);
}

static void fuzz_obj_chunk(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_msg_obj_chunk m;
    weft_err e = wf_proto_get_obj_chunk(p, n, &m);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(m.id >= 1 && m.len <= WF_PROG_CHUNK && m.offset <= m.total &&
               m.len <= m.total - m.offset);
    fuzz_inside(m.data, m.len, p, n);
    wf_proto_put_obj_chunk(w, &m);
    fuzz_same(w, p, n);
}

static void fuzz_free(const uint8_t *p, size_t n, wf_wbuf *w)
{
    static wf_msg_free_item items[WF_FREE_MAX];
    static char holders[WF_FREE_MAX][WF_WIRE_HOLDER_MAX + 1];
    size_t count;
    weft_err e = wf_proto_get_free(p, n, items, &count);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(count >= 1 && count <= WF_FREE_MAX);
    for (size_t i = 0; i < count; i++) {
        fuzz_check(items[i].id >= 1);
        fuzz_check(items[i].holder_len <= WF_WIRE_HOLDER_MAX);
        fuzz_check(fuzz_printable(items[i].holder, items[i].holder_len, 0x21));
        fuzz_inside(items[i].holder, items[i].holder_len, p, n);
        memcpy(holders[i], items[i].holder, items[i].holder_len);
        holders[i][items[i].holder_len] = '\0';
        items[i].holder = holders[i];
    }
    wf_proto_put_free(w, items, count);
    fuzz_same(w, p, n);
}

static void fuzz_pace(const uint8_t *p, size_t n, wf_wbuf *w)
{
    uint64_t ns;
    uint32_t tasks;
    weft_err e = wf_proto_get_pace(p, n, &ns, &tasks);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(ns >= 1 && tasks >= 1);
    wf_proto_put_pace(w, ns, tasks);
    fuzz_same(w, p, n);
}

static void fuzz_steal(const uint8_t *p, size_t n, wf_wbuf *w)
{
    uint32_t max;
    weft_err e = wf_proto_get_steal(p, n, &max);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(max >= 1 && max <= WF_STEAL_MAX);
    wf_proto_put_steal(w, max);
    fuzz_same(w, p, n);
}

static void fuzz_returned(const uint8_t *p, size_t n, wf_wbuf *w)
{
    static uint64_t seqs[WF_STEAL_MAX];
    uint32_t count;
    weft_err e = wf_proto_get_returned(p, n, seqs, &count);
    if (e) {
        fuzz_refused(e, 0);
        return;
    }
    fuzz_check(count <= WF_STEAL_MAX);
    for (uint32_t i = 0; i < count; i++)
        fuzz_check(seqs[i] >= 1);
    wf_proto_put_returned(w, seqs, count);
    fuzz_same(w, p, n);
}

static void fuzz_member(const wf_member *m)
{
    size_t len = strnlen(m->name, sizeof m->name);
    fuzz_check(m->id != 0);
    fuzz_check(len >= 1 && len <= WF_NODE_NAME_MAX);
    fuzz_check(fuzz_printable(m->name, len, 0x21));
    fuzz_check(m->state == WF_MEMBER_ALIVE || m->state == WF_MEMBER_DEAD);
    len = strnlen(m->res.addr, sizeof m->res.addr);
    fuzz_check(len <= WF_NODE_ADDR_MAX && wf_member_addr_ok(m->res.addr, len));
    fuzz_check(m->res.ncustom <= WF_NODE_MAX_CUSTOM);
    for (uint32_t k = 0; k < m->res.ncustom; k++) {
        const char *c = m->res.custom[k].name;
        len = strnlen(c, sizeof m->res.custom[k].name);
        fuzz_check(len >= 1 && len <= WF_NODE_NAME_MAX);
        fuzz_check(fuzz_printable(c, len, 0x21));
    }
}

static void fuzz_status(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_member *m;
    size_t count;
    weft_err e = wf_status_decode(p, n, &m, &count);
    if (e) {
        fuzz_refused(e, WEFT_ENOMEM);
        fuzz_check(m == NULL && count == 0);
        return;
    }
    fuzz_check(count <= WF_HEAD_MAX_NODES && (count == 0) == (m == NULL));
    for (size_t i = 0; i < count; i++)
        fuzz_member(&m[i]);
    wf_status_encode(w, m, count);
    wf_free(m);
    fuzz_same(w, p, n);
}

/* The body as a run of task addresses, each re-encoded and compared. */
static void fuzz_addr(const uint8_t *p, size_t n, wf_wbuf *w)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, n);
    while (wf_rbuf_left(&r) > 0) {
        /* Exactly the size the decoder may fill, so ASan sees any byte
         * written past it. */
        char addr[WF_NODE_ADDR_MAX + 1];
        size_t at = r.off;
        weft_err e = wf_member_get_addr(&r, addr);
        if (e) {
            fuzz_refused(e, 0);
            break;
        }
        size_t len = strnlen(addr, sizeof addr);
        fuzz_check(len <= WF_NODE_ADDR_MAX && wf_member_addr_ok(addr, len));
        fuzz_check(r.off - at == 4 + len);
        wf_wbuf_reset(w);
        wf_wbuf_put_str(w, addr, len);
        fuzz_same(w, p + at, r.off - at);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    wf_wbuf w;
    wf_wbuf_init(&w);
    wf_err_clear();
    switch (data[0] % FUZZ_NDECODERS) {
    case FUZZ_DRIVER_HELLO:
        fuzz_driver_hello(p, n, &w);
        break;
    case FUZZ_EXE_WANT:
        fuzz_exe_want(p, n);
        break;
    case FUZZ_EXE_CHUNK:
        fuzz_exe_chunk(p, n, &w);
        break;
    case FUZZ_READY:
        fuzz_ready(p, n, &w);
        break;
    case FUZZ_STATUS:
        fuzz_status(p, n, &w);
        break;
    case FUZZ_ACTOR_DIED:
        fuzz_actor_died(p, n, &w);
        break;
    case FUZZ_PULL:
        fuzz_pull(p, n, &w);
        break;
    case FUZZ_OBJ_CHUNK:
        fuzz_obj_chunk(p, n, &w);
        break;
    case FUZZ_FREE:
        fuzz_free(p, n, &w);
        break;
    case FUZZ_PACE:
        fuzz_pace(p, n, &w);
        break;
    case FUZZ_STEAL:
        fuzz_steal(p, n, &w);
        break;
    case FUZZ_RETURNED:
        fuzz_returned(p, n, &w);
        break;
    default:
        fuzz_addr(p, n, &w);
        break;
    }
    wf_wbuf_free(&w);
    return 0;
}
