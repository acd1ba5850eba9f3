#include "wire/msg.h"

#include <string.h>

#include <weft/version.h>

#include "base/err.h"

/* ------------------------------------------------------------ common */

static weft_err wf_put_values(wf_wbuf *w, const weft_value *vals,
                              const wf_wire_place *place, uint32_t n)
{
    if (n > 0 && !vals)
        return wf_err(WEFT_EINVAL, "wire: %u values at NULL", n);
    for (uint32_t i = 0; i < n; i++) {
        weft_err e =
            wf_wire_put_value_at(w, &vals[i], place ? &place[i] : NULL);
        if (e)
            return e;
    }
    return 0;
}

static weft_err wf_get_values(wf_rbuf *r, wf_wire_value *vals, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        weft_err e = wf_wire_get_value(r, &vals[i]);
        if (e)
            return e;
    }
    return 0;
}

/* A reader over f's body whose error details count from the frame start,
 * after checking the caller dispatched the right type here. */
static weft_err wf_body_reader(const wf_frame *f, wf_msg_type type, wf_rbuf *r)
{
    if (f->type != type)
        return wf_err(WEFT_EINVAL, "wire: decoding a %s frame as %s",
                      wf_msg_type_name(f->type), wf_msg_type_name(type));
    wf_rbuf_init(r, f->body, f->body_len);
    r->base = WF_FRAME_HDR;
    return 0;
}

/* A count that must fit both the protocol's limit and the caller's array. */
static weft_err wf_get_count(wf_rbuf *r, uint32_t *n, uint32_t limit,
                             size_t room, const char *what)
{
    size_t at = r->off;
    weft_err e = wf_rbuf_get_u32(r, n, what);
    if (e)
        return e;
    if (*n > limit)
        return wf_rbuf_bad(r, at, "%s %u > %u", what, *n, limit);
    if (*n > room)
        return wf_rbuf_bad(r, at, "%s %u, but room for only %zu", what, *n,
                           room);
    return 0;
}

/* --------------------------------------------------------------- RUN */

static weft_err wf_run_check(const wf_msg_run *m)
{
    if ((unsigned)m->kind > WF_RUN_ACTOR_KILL)
        return wf_err(WEFT_EINVAL, "wire: unknown RUN kind %d", (int)m->kind);
    if (m->name_len > WF_WIRE_NAME_MAX || (m->name_len > 0 && !m->name))
        return wf_err(WEFT_EINVAL, "wire: RUN name missing or too long");
    if (m->name_len > 0 && memchr(m->name, '\0', m->name_len))
        return wf_err(WEFT_EINVAL, "wire: RUN name holds a NUL byte");
    if (m->num_returns < 1 || m->num_returns > WF_RUN_MAX_RETURNS)
        return wf_err(WEFT_EINVAL, "wire: RUN num_returns %u not in 1..%d",
                      m->num_returns, WF_RUN_MAX_RETURNS);
    if (m->nargs > WF_RUN_MAX_ARGS)
        return wf_err(WEFT_EINVAL, "wire: RUN nargs %u > %d", m->nargs,
                      WF_RUN_MAX_ARGS);
    return 0;
}

weft_err wf_msg_put_run(wf_wbuf *w, uint64_t seq, const wf_msg_run *m,
                        const weft_value *args, const wf_wire_place *place)
{
    weft_err e = wf_run_check(m);
    if (e)
        return e;
    size_t start = wf_frame_begin(w, WF_MSG_RUN, seq);
    wf_wbuf_put_u8(w, (uint8_t)m->kind);
    wf_wbuf_put_u64(w, m->actor_id);
    wf_wbuf_put_str(w, m->name, m->name_len);
    wf_wbuf_put_u32(w, m->num_returns);
    wf_wbuf_put_u32(w, m->nargs);
    if ((e = wf_put_values(w, args, place, m->nargs)))
        goto fail;
    return wf_frame_finish(w, start);
fail:
    w->len = start;
    return e;
}

static weft_err wf_get_run_head(wf_rbuf *r, wf_msg_run *m)
{
    size_t at = r->off;
    uint8_t kind;
    weft_err e = wf_rbuf_get_u8(r, &kind, "RUN kind");
    if (e)
        return e;
    if (kind > WF_RUN_ACTOR_KILL)
        return wf_rbuf_bad(r, at, "unknown RUN kind %u", kind);
    m->kind = (wf_run_kind)kind;
    if ((e = wf_rbuf_get_u64(r, &m->actor_id, "RUN actor id")))
        return e;
    at = r->off;
    if ((e = wf_rbuf_get_str(r, WF_WIRE_NAME_MAX, &m->name, &m->name_len,
                             "RUN name")))
        return e;
    if (m->name_len > 0 && memchr(m->name, '\0', m->name_len))
        return wf_rbuf_bad(r, at, "RUN name holds a NUL byte");
    at = r->off;
    if ((e = wf_rbuf_get_u32(r, &m->num_returns, "RUN num_returns")))
        return e;
    if (m->num_returns < 1 || m->num_returns > WF_RUN_MAX_RETURNS)
        return wf_rbuf_bad(r, at, "RUN num_returns %u not in 1..%d",
                           m->num_returns, WF_RUN_MAX_RETURNS);
    return 0;
}

weft_err wf_msg_get_run(const wf_frame *f, wf_msg_run *m, wf_wire_value *args,
                        size_t max_args)
{
    wf_rbuf r;
    memset(m, 0, sizeof *m);
    weft_err e = wf_body_reader(f, WF_MSG_RUN, &r);
    if (e || (e = wf_get_run_head(&r, m)) ||
        (e = wf_get_count(&r, &m->nargs, WF_RUN_MAX_ARGS, max_args,
                          "RUN nargs")) ||
        (e = wf_get_values(&r, args, m->nargs)))
        return e;
    return wf_rbuf_end(&r, "RUN body");
}

/* -------------------------------------------------------------- DONE */

/* Longest prefix of s[0..n) within max bytes that does not end inside a
 * UTF-8 character: the cut goes back over continuation bytes (10xxxxxx). */
static size_t wf_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

weft_err wf_msg_put_done(wf_wbuf *w, uint64_t seq, const wf_msg_done *m,
                         const weft_value *values, const wf_wire_place *place)
{
    if (m->status > 0)
        return wf_err(WEFT_EINVAL, "wire: DONE status %d is not an error",
                      m->status);
    if (m->status == 0 && m->nvalues > WF_RUN_MAX_RETURNS)
        return wf_err(WEFT_EINVAL, "wire: DONE nvalues %u > %d", m->nvalues,
                      WF_RUN_MAX_RETURNS);
    if (m->status < 0 && m->message_len > 0 && !m->message)
        return wf_err(WEFT_EINVAL, "wire: DONE message at NULL");
    weft_err e;
    size_t start = wf_frame_begin(w, WF_MSG_DONE, seq);
    wf_wbuf_put_i32(w, m->status);
    if (m->status < 0) {
        size_t n = wf_utf8_cut(m->message, m->message_len, WF_DONE_MAX_MESSAGE);
        wf_wbuf_put_str(w, m->message, n);
    } else {
        wf_wbuf_put_u32(w, m->nvalues);
        if ((e = wf_put_values(w, values, place, m->nvalues)))
            goto fail;
    }
    return wf_frame_finish(w, start);
fail:
    w->len = start;
    return e;
}

weft_err wf_msg_get_done(const wf_frame *f, wf_msg_done *m,
                         wf_wire_value *values, size_t max_values)
{
    wf_rbuf r;
    memset(m, 0, sizeof *m);
    weft_err e = wf_body_reader(f, WF_MSG_DONE, &r);
    if (e || (e = wf_rbuf_get_i32(&r, &m->status, "DONE status")))
        return e;
    if (m->status > 0)
        return wf_rbuf_bad(&r, 0, "DONE status %d is not 0 or an error",
                           m->status);
    if (m->status < 0)
        e = wf_rbuf_get_str(&r, WF_DONE_MAX_MESSAGE, &m->message,
                            &m->message_len, "DONE message");
    else if (!(e = wf_get_count(&r, &m->nvalues, WF_RUN_MAX_RETURNS, max_values,
                                "DONE nvalues")))
        e = wf_get_values(&r, values, m->nvalues);
    if (e)
        return e;
    return wf_rbuf_end(&r, "DONE body");
}

/* ------------------------------------------------- HELLO, SHUTDOWN */

weft_err wf_msg_put_hello(wf_wbuf *w, uint64_t seq, const wf_msg_hello *m)
{
    size_t start = wf_frame_begin(w, WF_MSG_HELLO, seq);
    wf_wbuf_put_u32(w, m->pid);
    wf_wbuf_put_u32(w, m->version);
    return wf_frame_finish(w, start);
}

weft_err wf_msg_get_hello(const wf_frame *f, wf_msg_hello *m)
{
    wf_rbuf r;
    memset(m, 0, sizeof *m);
    weft_err e = wf_body_reader(f, WF_MSG_HELLO, &r);
    if (e || (e = wf_rbuf_get_u32(&r, &m->pid, "HELLO pid")) ||
        (e = wf_rbuf_get_u32(&r, &m->version, "HELLO version")))
        return e;
    if (m->version != WEFT_WIRE_VERSION)
        return wf_rbuf_bad(&r, 4, "HELLO from wire version %u, want %d",
                           m->version, WEFT_WIRE_VERSION);
    return wf_rbuf_end(&r, "HELLO body");
}

weft_err wf_msg_put_shutdown(wf_wbuf *w, uint64_t seq)
{
    size_t start = wf_frame_begin(w, WF_MSG_SHUTDOWN, seq);
    return wf_frame_finish(w, start);
}

weft_err wf_msg_get_shutdown(const wf_frame *f)
{
    wf_rbuf r;
    weft_err e = wf_body_reader(f, WF_MSG_SHUTDOWN, &r);
    if (e)
        return e;
    return wf_rbuf_end(&r, "SHUTDOWN body");
}
