/* libFuzzer target for every decoder of outside bytes in the wire layer:
 * the frame parser, the message bodies and lone values. Beyond "no crash,
 * no read outside the input" (ASan), it checks that whatever decodes
 * encodes back to exactly the same bytes: the format is canonical, so a
 * difference means the decoder accepted something it should not have. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/buf.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small on purpose, so "more values than room" is reached too. */
#define FUZZ_MAX_VALUES 64

static wf_wire_value vals[FUZZ_MAX_VALUES];

static void fuzz_check(int cond)
{
    if (!cond)
        abort();
}

static void fuzz_same(const wf_wbuf *w, const uint8_t *p, size_t n)
{
    fuzz_check(w->len == n && (n == 0 || memcmp(w->data, p, n) == 0));
}

/* Re-encode decoded values with the placement they came with. */
static void fuzz_put_values(weft_value *out, wf_wire_place *place, uint32_t n)
{
    static char holder[FUZZ_MAX_VALUES][WF_WIRE_HOLDER_MAX + 1];
    for (uint32_t i = 0; i < n; i++) {
        out[i] = vals[i].v;
        memcpy(holder[i], vals[i].holder ? vals[i].holder : "",
               vals[i].holder_len);
        holder[i][vals[i].holder_len] = '\0';
        place[i] = (wf_wire_place){.in_fd = vals[i].in_fd,
                                   .fd_index = vals[i].fd_index,
                                   .offset = vals[i].fd_offset,
                                   .remote = vals[i].remote,
                                   .remote_id = vals[i].remote_id,
                                   .holder = holder[i]};
    }
}

static void fuzz_frame(const uint8_t *data, size_t size)
{
    wf_frame f;
    if (wf_frame_parse(data, size, &f) != 0)
        return;
    static weft_value out[FUZZ_MAX_VALUES];
    static wf_wire_place place[FUZZ_MAX_VALUES];
    wf_wbuf w;
    wf_wbuf_init(&w);
    weft_err e = -1;
    wf_msg_run run;
    wf_msg_done done;
    wf_msg_hello hello;
    switch (f.type) {
    case WF_MSG_RUN:
        if (wf_msg_get_run(&f, &run, vals, FUZZ_MAX_VALUES) == 0) {
            fuzz_put_values(out, place, run.nargs);
            e = wf_msg_put_run(&w, f.seq, &run, out, place);
        }
        break;
    case WF_MSG_DONE:
        if (wf_msg_get_done(&f, &done, vals, FUZZ_MAX_VALUES) == 0) {
            fuzz_put_values(out, place, done.nvalues);
            e = wf_msg_put_done(&w, f.seq, &done, out, place);
        }
        break;
    case WF_MSG_HELLO:
        if (wf_msg_get_hello(&f, &hello) == 0)
            e = wf_msg_put_hello(&w, f.seq, &hello);
        break;
    case WF_MSG_SHUTDOWN:
        if (wf_msg_get_shutdown(&f) == 0)
            e = wf_msg_put_shutdown(&w, f.seq);
        break;
    default: /* handshake frames: their bodies are net/auth's */
        break;
    }
    if (e == 0)
        fuzz_same(&w, data, f.size);
    wf_wbuf_free(&w);
}

/* The input as a run of values, each re-encoded and compared. */
static void fuzz_values(const uint8_t *data, size_t size)
{
    wf_rbuf r;
    wf_rbuf_init(&r, data, size);
    wf_wbuf w;
    wf_wbuf_init(&w);
    while (wf_rbuf_left(&r) > 0) {
        size_t at = r.off;
        wf_wire_value *v = &vals[0];
        if (wf_wire_get_value(&r, v) != 0)
            break;
        wf_wbuf_reset(&w);
        char holder[WF_WIRE_HOLDER_MAX + 1];
        memcpy(holder, v->holder ? v->holder : "", v->holder_len);
        holder[v->holder_len] = '\0';
        wf_wire_place place = {.in_fd = v->in_fd,
                               .fd_index = v->fd_index,
                               .offset = v->fd_offset,
                               .remote = v->remote,
                               .remote_id = v->remote_id,
                               .holder = holder};
        fuzz_check(wf_wire_put_value_at(&w, &v->v, &place) == 0);
        fuzz_same(&w, data + at, r.off - at);
        /* Binding to the input itself exercises the fd-side checks. */
        if (v->in_fd)
            (void)wf_wire_value_bind(v, data, size);
    }
    wf_wbuf_free(&w);
}

/* The input as a body of each type (no header to get right first). */
static void fuzz_bodies(const uint8_t *data, size_t size)
{
    if (size > WF_FRAME_MAX_BODY)
        return;
    wf_frame f = {WF_MSG_RUN, 0, data, (uint32_t)size, WF_FRAME_HDR + size};
    wf_msg_run run;
    wf_msg_done done;
    wf_msg_hello hello;
    (void)wf_msg_get_run(&f, &run, vals, FUZZ_MAX_VALUES);
    f.type = WF_MSG_DONE;
    (void)wf_msg_get_done(&f, &done, vals, FUZZ_MAX_VALUES);
    f.type = WF_MSG_HELLO;
    (void)wf_msg_get_hello(&f, &hello);
    f.type = WF_MSG_SHUTDOWN;
    (void)wf_msg_get_shutdown(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_frame(data, size);
    fuzz_values(data, size);
    fuzz_bodies(data, size);
    return 0;
}
