#include "wire/frame.h"

#include <string.h>

#include <weft/version.h>

#include "base/err.h"
#include "base/log.h"

const char *wf_msg_type_name(unsigned type)
{
    switch (type) {
    case WF_MSG_HELLO:
        return "HELLO";
    case WF_MSG_RUN:
        return "RUN";
    case WF_MSG_DONE:
        return "DONE";
    case WF_MSG_SHUTDOWN:
        return "SHUTDOWN";
    case WF_MSG_CHALLENGE:
        return "CHALLENGE";
    case WF_MSG_RESPONSE:
        return "RESPONSE";
    case WF_MSG_WELCOME:
        return "WELCOME";
    case WF_MSG_NODE_JOIN:
        return "NODE_JOIN";
    case WF_MSG_JOINED:
        return "JOINED";
    case WF_MSG_HEARTBEAT:
        return "HEARTBEAT";
    case WF_MSG_STATUS_REQ:
        return "STATUS_REQ";
    case WF_MSG_STATUS:
        return "STATUS";
    case WF_MSG_DRIVER_HELLO:
        return "DRIVER_HELLO";
    case WF_MSG_EXE_WANT:
        return "EXE_WANT";
    case WF_MSG_EXE_CHUNK:
        return "EXE_CHUNK";
    case WF_MSG_READY:
        return "READY";
    case WF_MSG_ACTOR_DIED:
        return "ACTOR_DIED";
    case WF_MSG_PULL:
        return "PULL";
    case WF_MSG_OBJ_CHUNK:
        return "OBJ_CHUNK";
    case WF_MSG_OBJ_MISSING:
        return "OBJ_MISSING";
    case WF_MSG_FREE:
        return "FREE";
    case WF_MSG_PACE:
        return "PACE";
    case WF_MSG_STEAL:
        return "STEAL";
    case WF_MSG_RETURNED:
        return "RETURNED";
    }
    return "?";
}

/* Check whichever header fields have arrived; len may be short of a whole
 * header, so garbage is refused from its first bytes on. */
static weft_err wf_frame_check_hdr(const uint8_t *p, size_t len)
{
    if (len >= 2 && wf_load_le16(p) != WF_FRAME_MAGIC)
        return wf_err(WEFT_EPROTO,
                      "wire: bad frame magic 0x%04x at byte 0 (want 0x%04x)",
                      wf_load_le16(p), WF_FRAME_MAGIC);
    if (len >= 3 && p[2] != WEFT_WIRE_VERSION)
        return wf_err(WEFT_EPROTO,
                      "wire: peer speaks wire version %u at byte 2, this "
                      "build speaks %d",
                      p[2], WEFT_WIRE_VERSION);
    if (len >= 4 && (p[3] == 0 || p[3] >= WF_MSG__END))
        return wf_err(WEFT_EPROTO, "wire: unknown message type %u at byte 3",
                      p[3]);
    if (len >= 8 && wf_load_le32(p + 4) > WF_FRAME_MAX_BODY)
        return wf_err(WEFT_EPROTO,
                      "wire: %s body of %u bytes at byte 4 exceeds the limit "
                      "of %u",
                      wf_msg_type_name(p[3]), wf_load_le32(p + 4),
                      WF_FRAME_MAX_BODY);
    return 0;
}

weft_err wf_frame_parse(const void *buf, size_t len, wf_frame *f)
{
    const uint8_t *p = buf;
    memset(f, 0, sizeof *f);
    f->size = WF_FRAME_HDR;
    weft_err e = wf_frame_check_hdr(p, len);
    if (e)
        return e;
    if (len < WF_FRAME_HDR)
        return WF_FRAME_PARTIAL;
    uint32_t body_len = wf_load_le32(p + 4);
    f->size = WF_FRAME_HDR + (size_t)body_len;
    if (len < f->size)
        return WF_FRAME_PARTIAL;
    f->type = (wf_msg_type)p[3];
    f->seq = wf_load_le64(p + 8);
    f->body = p + WF_FRAME_HDR;
    f->body_len = body_len;
    return 0;
}

size_t wf_frame_begin(wf_wbuf *w, wf_msg_type type, uint64_t seq)
{
    size_t start = w->len;
    wf_wbuf_put_u16(w, WF_FRAME_MAGIC);
    wf_wbuf_put_u8(w, WEFT_WIRE_VERSION);
    wf_wbuf_put_u8(w, (uint8_t)type);
    wf_wbuf_put_u32(w, 0); /* body length, patched by wf_frame_finish */
    wf_wbuf_put_u64(w, seq);
    return start;
}

weft_err wf_frame_finish(wf_wbuf *w, size_t start)
{
    return wf_frame_finish_ext(w, start, 0);
}

weft_err wf_frame_finish_ext(wf_wbuf *w, size_t start, size_t extra)
{
    weft_err e = wf_wbuf_status(w);
    if (e)
        goto fail;
    wf_assert(start <= w->len && w->len - start >= WF_FRAME_HDR,
              "wf_frame_finish without a matching wf_frame_begin");
    size_t body = w->len - start - WF_FRAME_HDR;
    body = extra > WF_FRAME_MAX_BODY ? extra : body + extra;
    if (body > WF_FRAME_MAX_BODY) {
        e = wf_err(WEFT_ERANGE,
                   "wire: message body of %zu bytes exceeds the limit of %u; "
                   "large buffers must travel in an fd",
                   body, WF_FRAME_MAX_BODY);
        goto fail;
    }
    wf_wbuf_patch_u32(w, start + 4, (uint32_t)body);
    return 0;
fail:
    if (start < w->len)
        w->len = start;
    return e;
}
