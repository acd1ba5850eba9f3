/* The cluster status request: anyone holding the token (`weft status`)
 * connects to the head and asks for its node snapshot.
 *
 *   client -> head  STATUS_REQ  empty body
 *   head -> client  STATUS      u32 count (<= WF_HEAD_MAX_NODES), then
 *                               count times: u64 id, str name, u8 state,
 *                               u64 cpus (milli), u64 memory bytes,
 *                               u32 load, u32 drivers,
 *                               u64 ms since last heard,
 *                               str task address, u32 ncustom, then
 *                               ncustom times: str name, u64 amount (milli)
 *
 * The reply carries the request's seq.
 * Decoding checks every field (names as in membership.h, state ALIVE or
 * DEAD, no trailing bytes). Threads: wf_status_answer runs on the head's
 * loop thread; the codec functions are pure. */
#ifndef WF_CLUSTER_STATUS_H
#define WF_CLUSTER_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include <weft/errors.h>

#include "cluster/membership.h"
#include "net/conn.h"
#include "wire/buf.h"

/* Append the STATUS body for the n members at m to w (check w's status). */
void wf_status_encode(wf_wbuf *w, const wf_member *m, size_t n);

/* Decode a STATUS body: on success *out is a wf_alloc'ed array of *n
 * members (free it with wf_free; NULL when *n is 0). WEFT_EPROTO for a
 * malformed body, WEFT_ENOMEM. */
weft_err wf_status_decode(const uint8_t *p, size_t len, wf_member **out,
                          size_t *n);

/* Head side: answer the STATUS_REQ f that arrived on c with h's snapshot.
 * Returns 0, WEFT_EPROTO for a non-empty request body, or the errors of
 * wf_net_send (the caller then drops c). */
weft_err wf_status_answer(wf_head *h, wf_net_conn *c, const wf_frame *f);

#endif
