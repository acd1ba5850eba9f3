/* Optional TLS for every cluster connection (OpenSSL, TLS 1.3 only).
 *
 * There is no certificate authority: each server makes a throwaway
 * self-signed key and certificate, and clients do not check it. Instead
 * the weft handshake (net/auth.h) runs on a token bound to the TLS
 * session: HMAC-SHA256(token, "weft-tls-v1" || 32 bytes exported from the
 * session). Both ends get the same bound token only over the same TLS
 * session, so someone in the middle who terminates TLS on each side cannot
 * pass the handshake, and the token still never travels. What TLS adds is
 * confidentiality and integrity for everything after.
 *
 * TLS is a process-wide choice (all connections of a process belong to one
 * cluster): the daemons take it from `weft start --tls`, drivers and
 * `weft status` from WEFT_TLS=1. Connections capture the setting when they
 * are made. */
#ifndef WF_NET_TLS_H
#define WF_NET_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include <weft/errors.h>

#include "net/auth.h"

/* Turn TLS on or off for connections made or accepted from now on. */
void wf_tls_set_enabled(bool on);
bool wf_tls_enabled(void);

/* Whether a client of the cluster whose token is at token_path should use
 * TLS: $WEFT_TLS when set ("1" yes, "0" no), else whether `weft start
 * --tls` left a file named tls beside that token. */
bool wf_tls_wanted(const char *token_path);

/* The shared client or server context (made on first use; the server's
 * with a fresh P-256 key and self-signed certificate). NULL with the error
 * recorded when OpenSSL fails. */
SSL_CTX *wf_tls_ctx(bool server);

/* The token bound to ssl's session (see above) into *out. */
weft_err wf_tls_bind(SSL *ssl, const wf_token *token, wf_token *out);

/* The last OpenSSL error as text, for error details. */
const char *wf_tls_error(void);

#endif
