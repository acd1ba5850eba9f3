/* The bodies of the messages between a program and its worker processes.
 * Each put_ function appends one whole frame (wire/frame.h) to a wbuf; on
 * failure nothing is appended. Each get_ function decodes the body of a
 * frame returned by wf_frame_parse, checking every field; strings and
 * inline data point into the frame's bytes (zero-copy, not
 * NUL-terminated), so keep those bytes while you use the result.
 *
 *   RUN      (parent -> worker) u8 kind, u64 actor_id, str name,
 *            u32 num_returns (1..WF_RUN_MAX_RETURNS),
 *            u32 nargs (<= WF_RUN_MAX_ARGS), nargs values (wire/value.h)
 *   DONE     (worker -> parent) i32 status (0 or a negative weft_err);
 *            status 0: u32 nvalues (<= WF_RUN_MAX_RETURNS), nvalues values
 *            else:     str message (<= WF_DONE_MAX_MESSAGE)
 *   HELLO    (worker -> parent) u32 pid, u32 wire version
 *   SHUTDOWN (parent -> worker) empty
 *
 * A str is u32 length + bytes. Values placed in an fd name the fd by its
 * index among the fds sent with the same frame (see wire/sock.h). */
#ifndef WF_WIRE_MSG_H
#define WF_WIRE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "wire/buf.h"
#include "wire/frame.h"
#include "wire/value.h"

#define WF_RUN_MAX_RETURNS 1024
#define WF_RUN_MAX_ARGS 4096
#define WF_WIRE_NAME_MAX 4096           /* function, class or method name */
#define WF_DONE_MAX_MESSAGE (64u << 10) /* error message bytes */

typedef enum wf_run_kind {
    WF_RUN_TASK = 0,       /* name: the registered function */
    WF_RUN_ACTOR_NEW = 1,  /* name: the actor class; args: constructor's */
    WF_RUN_ACTOR_CALL = 2, /* name: the method */
    WF_RUN_ACTOR_KILL = 3, /* name: unused, usually empty */
} wf_run_kind;

/* The fixed fields of a RUN. Decoded, name points into the frame body and
 * holds no NUL byte. */
typedef struct wf_msg_run {
    wf_run_kind kind;
    uint64_t actor_id; /* 0 for WF_RUN_TASK */
    const char *name;
    size_t name_len;
    uint32_t num_returns;
    uint32_t nargs;
} wf_msg_run;

/* The fixed fields of a DONE. nvalues is meaningful when status == 0,
 * message (not NUL-terminated) when status < 0. */
typedef struct wf_msg_done {
    weft_err status;
    uint32_t nvalues;
    const char *message;
    size_t message_len;
} wf_msg_done;

typedef struct wf_msg_hello {
    uint32_t pid;
    uint32_t version; /* WEFT_WIRE_VERSION; the decoder refuses others */
} wf_msg_hello;

/* Append a RUN frame: m's fields and m->nargs args, each placed as
 * place[i] says (place may be NULL: all inline). WEFT_EINVAL for fields out
 * of range or a value that cannot be encoded, WEFT_ERANGE if the frame is
 * too large (place big data in fds), WEFT_ENOMEM. */
weft_err wf_msg_put_run(wf_wbuf *w, uint64_t seq, const wf_msg_run *m,
                        const weft_value *args, const wf_wire_place *place);

/* Decode a RUN body into *m and args[0..m->nargs). More args than
 * max_args is WEFT_EPROTO, as is anything malformed. */
weft_err wf_msg_get_run(const wf_frame *f, wf_msg_run *m, wf_wire_value *args,
                        size_t max_args);

/* Append a DONE frame. status 0: m->nvalues values placed as place says
 * (place may be NULL); status < 0: m->message, cut to WF_DONE_MAX_MESSAGE
 * bytes (at a UTF-8 character boundary) rather than lost. */
weft_err wf_msg_put_done(wf_wbuf *w, uint64_t seq, const wf_msg_done *m,
                         const weft_value *values, const wf_wire_place *place);

/* Decode a DONE body into *m and, if status == 0, values[0..m->nvalues).
 * More values than max_values is WEFT_EPROTO. */
weft_err wf_msg_get_done(const wf_frame *f, wf_msg_done *m,
                         wf_wire_value *values, size_t max_values);

/* Append a HELLO frame (m->version is written as given, for tests). */
weft_err wf_msg_put_hello(wf_wbuf *w, uint64_t seq, const wf_msg_hello *m);
weft_err wf_msg_get_hello(const wf_frame *f, wf_msg_hello *m);

/* Append a SHUTDOWN frame; the decoder checks the body is empty. */
weft_err wf_msg_put_shutdown(wf_wbuf *w, uint64_t seq);
weft_err wf_msg_get_shutdown(const wf_frame *f);

#endif
