#include "net/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/err.h"

/* Random bytes in a token made by wf_token_create. */
#define WF_TOKEN_RANDOM 32

static const char wf_label_client[] = "weft-client";
static const char wf_label_server[] = "weft-server";

weft_err wf_token_set(wf_token *t, const void *p, size_t n)
{
    if (n < WF_TOKEN_MIN || n > WF_TOKEN_MAX)
        return wf_err(WEFT_EINVAL,
                      "auth: token of %zu bytes; it must be %d to %d bytes", n,
                      WF_TOKEN_MIN, WF_TOKEN_MAX);
    memcpy(t->bytes, p, n);
    t->len = n;
    return 0;
}

void wf_token_clear(wf_token *t)
{
    OPENSSL_cleanse(t, sizeof *t);
}

/* Read the whole of fd into buf (at most cap bytes); *n gets the count.
 * WEFT_EINVAL if the file holds more than cap bytes. */
static weft_err wf_read_all(int fd, const char *path, uint8_t *buf, size_t cap,
                            size_t *n)
{
    *n = 0;
    for (;;) {
        uint8_t extra;
        uint8_t *dst = *n < cap ? buf + *n : &extra;
        size_t want = *n < cap ? cap - *n : 1;
        ssize_t r = read(fd, dst, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return wf_err(WEFT_ESYS, "auth: reading token file %s: %s", path,
                          strerror(errno));
        if (r == 0)
            return 0;
        if (dst == &extra)
            return wf_err(WEFT_EINVAL,
                          "auth: token file %s is longer than %d bytes", path,
                          WF_TOKEN_MAX);
        *n += (size_t)r;
    }
}

/* Refuse a token file that is not a regular file or that group or others
 * may access: a token anyone can read authenticates anyone. */
static weft_err wf_token_check_mode(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return wf_err(WEFT_ESYS, "auth: stat token file %s: %s", path,
                      strerror(errno));
    if (!S_ISREG(st.st_mode))
        return wf_err(WEFT_EINVAL, "auth: token file %s is not a regular file",
                      path);
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return wf_err(WEFT_EINVAL,
                      "auth: token file %s has mode %04o; group and others "
                      "must have no access (chmod 600 %s)",
                      path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

weft_err wf_token_load(const char *path, wf_token *t)
{
    wf_token_clear(t);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return wf_err(WEFT_ESYS, "auth: open token file %s: %s", path,
                      strerror(errno));
    size_t n = 0;
    weft_err e = wf_token_check_mode(fd, path);
    if (e)
        goto fail;
    e = wf_read_all(fd, path, t->bytes, sizeof t->bytes, &n);
    if (e)
        goto fail;
    while (n > 0 && strchr(" \t\r\n", t->bytes[n - 1]))
        n--;
    if (n < WF_TOKEN_MIN) {
        e = wf_err(WEFT_EINVAL,
                   "auth: token file %s holds %zu bytes; at least %d are "
                   "needed",
                   path, n, WF_TOKEN_MIN);
        goto fail;
    }
    t->len = n;
    close(fd);
    return 0;
fail:
    close(fd);
    wf_token_clear(t);
    return e;
}

/* Write all n bytes of p to fd. */
static int wf_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

weft_err wf_token_create(const char *path)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[WF_TOKEN_RANDOM];
    char text[2 * WF_TOKEN_RANDOM + 1];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return wf_err(WEFT_ESYS, "auth: random generator failed");
    for (size_t i = 0; i < sizeof raw; i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[sizeof text - 1] = '\n';
    OPENSSL_cleanse(raw, sizeof raw);
    weft_err e = 0;
    int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = wf_err(errno == EEXIST ? WEFT_EEXIST : WEFT_ESYS,
                   "auth: create token file %s: %s", path, strerror(errno));
        goto out;
    }
    if (wf_write_all(fd, text, sizeof text) != 0 || fsync(fd) != 0) {
        e = wf_err(WEFT_ESYS, "auth: write token file %s: %s", path,
                   strerror(errno));
        unlink(path);
    }
    close(fd);
out:
    OPENSSL_cleanse(text, sizeof text);
    return e;
}

weft_err wf_auth_challenge(uint8_t challenge[WF_AUTH_CHALLENGE_LEN])
{
    if (RAND_bytes(challenge, WF_AUTH_CHALLENGE_LEN) != 1)
        return wf_err(WEFT_ESYS, "auth: random generator failed");
    return 0;
}

/* mac = HMAC-SHA256(token, label || a || b), a and b nonces. */
static weft_err wf_auth_mac(const wf_token *t, const char *label,
                            const uint8_t *a, const uint8_t *b,
                            uint8_t mac[WF_AUTH_MAC])
{
    uint8_t msg[16 + 2 * WF_AUTH_NONCE];
    size_t label_len = strlen(label);
    memcpy(msg, label, label_len);
    memcpy(msg + label_len, a, WF_AUTH_NONCE);
    memcpy(msg + label_len + WF_AUTH_NONCE, b, WF_AUTH_NONCE);
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), t->bytes, (int)t->len, msg,
              label_len + 2 * WF_AUTH_NONCE, mac, &mac_len) ||
        mac_len != WF_AUTH_MAC)
        return wf_err(WEFT_ESYS, "auth: HMAC-SHA256 failed");
    return 0;
}

weft_err wf_auth_respond(const wf_token *t, const uint8_t *challenge,
                         size_t challenge_len,
                         uint8_t response[WF_AUTH_RESPONSE_LEN])
{
    if (challenge_len != WF_AUTH_CHALLENGE_LEN)
        return wf_err(WEFT_EPROTO, "auth: challenge of %zu bytes (want %d)",
                      challenge_len, WF_AUTH_CHALLENGE_LEN);
    if (RAND_bytes(response, WF_AUTH_NONCE) != 1)
        return wf_err(WEFT_ESYS, "auth: random generator failed");
    return wf_auth_mac(t, wf_label_client, challenge, response,
                       response + WF_AUTH_NONCE);
}

weft_err wf_auth_check_response(const wf_token *t,
                                const uint8_t challenge[WF_AUTH_CHALLENGE_LEN],
                                const uint8_t *response, size_t response_len,
                                uint8_t welcome[WF_AUTH_WELCOME_LEN])
{
    uint8_t want[WF_AUTH_MAC];
    if (response_len != WF_AUTH_RESPONSE_LEN)
        return wf_err(WEFT_EPROTO, "auth: response of %zu bytes (want %d)",
                      response_len, WF_AUTH_RESPONSE_LEN);
    if (CRYPTO_memcmp(response, challenge, WF_AUTH_NONCE) == 0)
        return wf_err(WEFT_EPROTO, "auth: client nonce repeats the server's");
    weft_err e = wf_auth_mac(t, wf_label_client, challenge, response, want);
    if (e)
        return e;
    if (CRYPTO_memcmp(want, response + WF_AUTH_NONCE, WF_AUTH_MAC) != 0)
        return wf_err(WEFT_EPROTO,
                      "auth: client response does not match (wrong cluster "
                      "token?)");
    return wf_auth_mac(t, wf_label_server, response, challenge, welcome);
}

weft_err wf_auth_check_welcome(const wf_token *t,
                               const uint8_t challenge[WF_AUTH_CHALLENGE_LEN],
                               const uint8_t response[WF_AUTH_RESPONSE_LEN],
                               const uint8_t *welcome, size_t welcome_len)
{
    uint8_t want[WF_AUTH_MAC];
    if (welcome_len != WF_AUTH_WELCOME_LEN)
        return wf_err(WEFT_EPROTO, "auth: welcome of %zu bytes (want %d)",
                      welcome_len, WF_AUTH_WELCOME_LEN);
    weft_err e = wf_auth_mac(t, wf_label_server, response, challenge, want);
    if (e)
        return e;
    if (CRYPTO_memcmp(want, welcome, WF_AUTH_MAC) != 0)
        return wf_err(WEFT_EPROTO,
                      "auth: server welcome does not match (wrong cluster "
                      "token?)");
    return 0;
}
