#include "net/tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include "base/err.h"

static _Atomic bool wf_tls_on;
static pthread_mutex_t wf_tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *wf_tls_client, *wf_tls_server;

void wf_tls_set_enabled(bool on)
{
    atomic_store(&wf_tls_on, on);
}

bool wf_tls_enabled(void)
{
    return atomic_load(&wf_tls_on);
}

bool wf_tls_wanted(const char *token_path)
{
    const char *env = getenv("WEFT_TLS");
    if (env && *env)
        return strcmp(env, "0") != 0;
    char path[4096];
    const char *slash = token_path ? strrchr(token_path, '/') : NULL;
    size_t n = slash ? (size_t)(slash - token_path) : 0;
    if (!slash || n + 5 >= sizeof path)
        return false;
    memcpy(path, token_path, n);
    memcpy(path + n, "/tls", 5);
    return access(path, F_OK) == 0;
}

const char *wf_tls_error(void)
{
    static _Thread_local char buf[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "no detail";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

/* A throwaway key and self-signed certificate for a server context. */
static bool wf_tls_self_sign(SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    bool ok = key && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600);
        X509_set_pubkey(x, key);
        X509_NAME *name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"weft", -1, -1, 0);
        X509_set_issuer_name(x, name);
        ok = X509_sign(x, key, EVP_sha256()) > 0 &&
             SSL_CTX_use_certificate(ctx, x) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, key) == 1;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

SSL_CTX *wf_tls_ctx(bool server)
{
    pthread_mutex_lock(&wf_tls_lock);
    SSL_CTX **slot = server ? &wf_tls_server : &wf_tls_client;
    if (!*slot) {
        SSL_CTX *ctx =
            SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
        bool ok = ctx &&
                  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
                  (!server || wf_tls_self_sign(ctx));
        if (ok) {
            /* Peers are authenticated by the bound token, not by PKI. */
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            *slot = ctx;
        } else {
            wf_err(WEFT_ESYS, "tls: cannot set up a %s context: %s",
                   server ? "server" : "client", wf_tls_error());
            SSL_CTX_free(ctx);
        }
    }
    SSL_CTX *ctx = *slot;
    pthread_mutex_unlock(&wf_tls_lock);
    return ctx;
}

weft_err wf_tls_bind(SSL *ssl, const wf_token *token, wf_token *out)
{
    static const char label[] = "EXPORTER-weft-auth";
    static const char tag[] = "weft-tls-v1";
    uint8_t ekm[32], msg[sizeof tag - 1 + sizeof ekm], mac[32];
    unsigned int maclen = 0;
    if (SSL_export_keying_material(ssl, ekm, sizeof ekm, label,
                                   sizeof label - 1, NULL, 0, 0) != 1)
        return wf_err(WEFT_ESYS, "tls: cannot export keying material: %s",
                      wf_tls_error());
    memcpy(msg, tag, sizeof tag - 1);
    memcpy(msg + sizeof tag - 1, ekm, sizeof ekm);
    if (!HMAC(EVP_sha256(), token->bytes, (int)token->len, msg, sizeof msg, mac,
              &maclen) ||
        maclen != sizeof mac)
        return wf_err(WEFT_ESYS, "tls: HMAC failed");
    weft_err e = wf_token_set(out, mac, sizeof mac);
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(ekm, sizeof ekm);
    return e;
}
