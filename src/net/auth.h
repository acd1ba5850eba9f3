/* Mutual challenge-response authentication with a shared cluster token.
 *
 * The handshake is three frames; the token itself never travels:
 *
 *   server -> client  CHALLENGE  sn (32 random bytes)
 *   client -> server  RESPONSE   cn (32 random bytes) ||
 *                                HMAC-SHA256(token, "weft-client" || sn || cn)
 *   server -> client  WELCOME    HMAC-SHA256(token, "weft-server" || cn || sn)
 *
 * The server learns that the client holds the token from RESPONSE; the
 * client learns that the server does from WELCOME. Distinct labels keep one
 * side's MAC from being replayed as the other's. Everything here works on
 * byte buffers (no sockets), so it is tested without a network; net/conn.h
 * carries the bytes. Functions are thread-safe. */
#ifndef WF_NET_AUTH_H
#define WF_NET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <weft/errors.h>

#define WF_AUTH_NONCE 32 /* bytes of each nonce */
#define WF_AUTH_MAC 32   /* bytes of an HMAC-SHA256 */
#define WF_AUTH_CHALLENGE_LEN WF_AUTH_NONCE
#define WF_AUTH_RESPONSE_LEN (WF_AUTH_NONCE + WF_AUTH_MAC)
#define WF_AUTH_WELCOME_LEN WF_AUTH_MAC
#define WF_TOKEN_MIN 16   /* shortest token accepted, in bytes */
#define WF_TOKEN_MAX 1024 /* longest token accepted, in bytes */

/* A cluster token: the bytes of a token file, trailing whitespace removed.
 * Plain value type: copy it freely, wipe it with wf_token_clear. */
typedef struct wf_token {
    size_t len;
    uint8_t bytes[WF_TOKEN_MAX];
} wf_token;

/* Make *t a token of the n bytes at p (n in [WF_TOKEN_MIN, WF_TOKEN_MAX]).
 * Returns 0 or WEFT_EINVAL (too short or too long). */
weft_err wf_token_set(wf_token *t, const void *p, size_t n);

/* Read the token file at path into *t. Refuses (WEFT_EINVAL, detail names
 * the path) a file that is not a regular file, that group or others may
 * access (mode must be 0600 or stricter), or whose token is shorter than
 * WF_TOKEN_MIN or longer than WF_TOKEN_MAX bytes; WEFT_ESYS if it cannot
 * be opened or read. *t is wiped on failure. Blocks on file I/O. */
weft_err wf_token_load(const char *path, wf_token *t);

/* Create a new token file at path: 32 random bytes, hex-encoded (64
 * characters and a newline), mode 0600. Never overwrites: an existing path
 * is WEFT_EEXIST. WEFT_ESYS on other I/O errors (the partial file is
 * removed). Blocks on file I/O. */
weft_err wf_token_create(const char *path);

/* Overwrite the token's bytes with zeros (not optimised away). */
void wf_token_clear(wf_token *t);

/* Server, step 1: fill challenge with WF_AUTH_CHALLENGE_LEN random bytes
 * (the server nonce, to keep for step 3) to send in CHALLENGE. Returns 0,
 * or WEFT_ESYS if the random generator fails. */
weft_err wf_auth_challenge(uint8_t challenge[WF_AUTH_CHALLENGE_LEN]);

/* Client, step 2: given the CHALLENGE body (challenge_len bytes from the
 * wire), write the RESPONSE body to response. Its first WF_AUTH_NONCE
 * bytes are the client nonce, needed again by wf_auth_check_welcome.
 * Returns 0, WEFT_EPROTO for a challenge of the wrong length, WEFT_ESYS if
 * the random generator or HMAC fails. */
weft_err wf_auth_respond(const wf_token *t, const uint8_t *challenge,
                         size_t challenge_len,
                         uint8_t response[WF_AUTH_RESPONSE_LEN]);

/* Server, step 3: check the RESPONSE body (response_len bytes from the
 * wire) against the challenge sent; on success write the WELCOME body to
 * welcome and return 0. WEFT_EPROTO (with a detail) when the length is
 * wrong, the client echoes the server nonce, or the MAC does not match
 * (wrong token or tampered bytes); WEFT_ESYS if HMAC fails. The MAC is
 * compared in constant time. */
weft_err wf_auth_check_response(const wf_token *t,
                                const uint8_t challenge[WF_AUTH_CHALLENGE_LEN],
                                const uint8_t *response, size_t response_len,
                                uint8_t welcome[WF_AUTH_WELCOME_LEN]);

/* Client, step 4: check the WELCOME body (welcome_len bytes from the wire)
 * against the challenge received and the response sent. Returns 0 when
 * the server holds the token; WEFT_EPROTO otherwise (wrong length or MAC),
 * WEFT_ESYS if HMAC fails. Constant-time comparison. */
weft_err wf_auth_check_welcome(const wf_token *t,
                               const uint8_t challenge[WF_AUTH_CHALLENGE_LEN],
                               const uint8_t response[WF_AUTH_RESPONSE_LEN],
                               const uint8_t *welcome, size_t welcome_len);

#endif
