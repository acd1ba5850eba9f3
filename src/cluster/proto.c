#include "cluster/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "wire/value.h"

void wf_proto_put_driver_hello(wf_wbuf *w, const wf_msg_driver_hello *m)
{
    wf_wbuf_put_u8(w, (uint8_t)m->kind);
    wf_wbuf_put_bytes(w, m->hash, WF_PROG_HASH);
    wf_wbuf_put_u64(w, m->size);
    wf_wbuf_put_u32(w, m->pid);
    wf_wbuf_put_str(w, m->name, m->name_len);
}

void wf_proto_put_exe_chunk(wf_wbuf *w, const wf_msg_exe_chunk *m)
{
    wf_wbuf_put_u64(w, m->offset);
    wf_wbuf_put_bytes(w, m->data, m->len);
}

/* A message string: cut to WF_READY_MAX_MESSAGE bytes, '?' for bytes the
 * decoder would refuse. */
static void wf_proto_put_text(wf_wbuf *w, const char *s, size_t n)
{
    if (n > WF_READY_MAX_MESSAGE)
        n = WF_READY_MAX_MESSAGE;
    char clean[WF_READY_MAX_MESSAGE];
    for (size_t i = 0; i < n; i++)
        clean[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e
                       ? '?'
                       : s[i];
    wf_wbuf_put_str(w, clean, n);
}

/* Read a message string written by wf_proto_put_text. */
static weft_err wf_proto_get_text(wf_rbuf *r, const char **s, size_t *n,
                                  const char *what)
{
    size_t at = r->off;
    weft_err e = wf_rbuf_get_str(r, WF_READY_MAX_MESSAGE, s, n, what);
    for (size_t i = 0; !e && i < *n; i++)
        if ((unsigned char)(*s)[i] < 0x20 || (unsigned char)(*s)[i] > 0x7e)
            return wf_rbuf_bad(r, at + 4 + i, "%s has a byte 0x%02x", what,
                               (unsigned char)(*s)[i]);
    return e;
}

void wf_proto_put_ready(wf_wbuf *w, const wf_msg_ready *m)
{
    wf_wbuf_put_i32(w, m->status);
    wf_wbuf_put_u32(w, m->slots);
    wf_proto_put_text(w, m->message, m->message_len);
}

void wf_proto_put_actor_died(wf_wbuf *w, const wf_msg_actor_died *m)
{
    wf_wbuf_put_u64(w, m->actor_id);
    wf_proto_put_text(w, m->why, m->why_len);
}

weft_err wf_proto_get_actor_died(const uint8_t *p, size_t len,
                                 wf_msg_actor_died *m)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u64(&r, &m->actor_id, "actor id");
    if (!e && m->actor_id == 0)
        return wf_rbuf_bad(&r, 0, "actor id 0");
    if (!e)
        e = wf_proto_get_text(&r, &m->why, &m->why_len, "why");
    return e ? e : wf_rbuf_end(&r, "ACTOR_DIED");
}

weft_err wf_proto_get_driver_hello(const uint8_t *p, size_t len,
                                   wf_msg_driver_hello *m)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    uint8_t kind;
    const void *hash;
    size_t at = 0;
    weft_err e = wf_rbuf_get_u8(&r, &kind, "program kind");
    if (!e && kind > WF_PROG_LIB)
        return wf_rbuf_bad(&r, at, "unknown program kind %u", kind);
    if (!e)
        e = wf_rbuf_get_span(&r, WF_PROG_HASH, &hash, "program hash");
    at = r.off;
    if (!e)
        e = wf_rbuf_get_u64(&r, &m->size, "program size");
    if (!e && (m->size == 0 || m->size > WF_PROG_MAX))
        return wf_rbuf_bad(&r, at, "program size %llu out of 1..%llu",
                           (unsigned long long)m->size,
                           (unsigned long long)WF_PROG_MAX);
    if (!e)
        e = wf_rbuf_get_u32(&r, &m->pid, "driver pid");
    at = r.off;
    if (!e)
        e = wf_rbuf_get_str(&r, WF_PROG_NAME_MAX, &m->name, &m->name_len,
                            "driver name");
    if (e)
        return e;
    if (m->name_len == 0)
        return wf_rbuf_bad(&r, at, "empty driver name");
    for (size_t i = 0; i < m->name_len; i++)
        if ((unsigned char)m->name[i] < 0x20 ||
            (unsigned char)m->name[i] > 0x7e)
            return wf_rbuf_bad(&r, at, "driver name has a byte 0x%02x",
                               (unsigned char)m->name[i]);
    m->kind = (wf_prog_kind)kind;
    memcpy(m->hash, hash, WF_PROG_HASH);
    return wf_rbuf_end(&r, "DRIVER_HELLO");
}

weft_err wf_proto_get_exe_want(const uint8_t *p, size_t len)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    return wf_rbuf_end(&r, "EXE_WANT");
}

weft_err wf_proto_get_exe_chunk(const uint8_t *p, size_t len,
                                wf_msg_exe_chunk *m)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u64(&r, &m->offset, "chunk offset");
    if (e)
        return e;
    size_t n = wf_rbuf_left(&r);
    if (n == 0 || n > WF_PROG_CHUNK)
        return wf_rbuf_bad(&r, r.off, "chunk of %zu bytes (1..%u)", n,
                           WF_PROG_CHUNK);
    const void *data;
    e = wf_rbuf_get_span(&r, n, &data, "chunk bytes");
    m->data = data;
    m->len = n;
    return e;
}

weft_err wf_proto_get_ready(const uint8_t *p, size_t len, wf_msg_ready *m)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    int32_t st;
    size_t at = 0;
    weft_err e = wf_rbuf_get_i32(&r, &st, "status");
    if (!e && (st > 0 || st < WEFT_EIO))
        return wf_rbuf_bad(&r, at, "status %d is no weft error", st);
    at = r.off;
    if (!e)
        e = wf_rbuf_get_u32(&r, &m->slots, "worker slots");
    if (!e && st == 0 && m->slots == 0)
        return wf_rbuf_bad(&r, at, "ready with no worker slots");
    if (!e)
        e = wf_proto_get_text(&r, &m->message, &m->message_len, "message");
    if (e)
        return e;
    m->status = st;
    return wf_rbuf_end(&r, "READY");
}

void wf_proto_put_pull(wf_wbuf *w, uint64_t id)
{
    wf_wbuf_put_u64(w, id);
}

weft_err wf_proto_get_pull(const uint8_t *p, size_t len, uint64_t *id)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u64(&r, id, "object id");
    if (!e && *id == 0)
        return wf_rbuf_bad(&r, 0, "object id 0");
    return e ? e : wf_rbuf_end(&r, "PULL");
}

void wf_proto_put_obj_chunk(wf_wbuf *w, const wf_msg_obj_chunk *m)
{
    wf_wbuf_put_u64(w, m->id);
    wf_wbuf_put_u64(w, m->offset);
    wf_wbuf_put_u64(w, m->total);
    wf_wbuf_put_bytes(w, m->data, m->len);
}

weft_err wf_proto_get_obj_chunk(const uint8_t *p, size_t len,
                                wf_msg_obj_chunk *m)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u64(&r, &m->id, "object id");
    if (!e && m->id == 0)
        return wf_rbuf_bad(&r, 0, "object id 0");
    if (!e)
        e = wf_rbuf_get_u64(&r, &m->offset, "chunk offset");
    size_t at = r.off;
    if (!e)
        e = wf_rbuf_get_u64(&r, &m->total, "object size");
    if (e)
        return e;
    size_t n = wf_rbuf_left(&r);
    if (n > WF_PROG_CHUNK || m->offset > m->total || n > m->total - m->offset)
        return wf_rbuf_bad(&r, at, "chunk %llu+%zu of an object of %llu",
                           (unsigned long long)m->offset, n,
                           (unsigned long long)m->total);
    const void *data = NULL;
    e = wf_rbuf_get_span(&r, n, &data, "chunk bytes");
    m->data = data;
    m->len = n;
    return e;
}

weft_err wf_proto_chunk_next(const wf_msg_obj_chunk *m, uint64_t id,
                             uint64_t total, uint64_t got, const char *who)
{
    if (m->id == id && m->total == total && m->offset == got)
        return 0;
    return wf_err(WEFT_EPROTO,
                  "%s: chunk %llu+%zu of %llu for object %llu, expected %llu "
                  "of %llu",
                  who, (unsigned long long)m->offset, m->len,
                  (unsigned long long)m->total, (unsigned long long)m->id,
                  (unsigned long long)got, (unsigned long long)total);
}

void wf_proto_put_obj_missing(wf_wbuf *w, uint64_t id, const char *why)
{
    wf_msg_actor_died m = {id, why, strlen(why)};
    wf_proto_put_actor_died(w, &m);
}

weft_err wf_proto_get_obj_missing(const uint8_t *p, size_t len,
                                  wf_msg_actor_died *m)
{
    return wf_proto_get_actor_died(p, len, m);
}

void wf_proto_put_free(wf_wbuf *w, const wf_msg_free_item *items, size_t n)
{
    wf_wbuf_put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        wf_wbuf_put_u64(w, items[i].id);
        wf_wbuf_put_str(w, items[i].holder, strlen(items[i].holder));
    }
}

weft_err wf_proto_get_free(const uint8_t *p, size_t len,
                           wf_msg_free_item *items, size_t *n)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    uint32_t count;
    weft_err e = wf_rbuf_get_u32(&r, &count, "object count");
    if (e)
        return e;
    if (count == 0 || count > WF_FREE_MAX)
        return wf_rbuf_bad(&r, 0, "%u objects (1..%d)", count, WF_FREE_MAX);
    for (uint32_t i = 0; i < count; i++) {
        size_t at = r.off;
        if ((e = wf_rbuf_get_u64(&r, &items[i].id, "object id")))
            return e;
        if (items[i].id == 0)
            return wf_rbuf_bad(&r, at, "object id 0");
        at = r.off;
        if ((e = wf_rbuf_get_str(&r, WF_WIRE_HOLDER_MAX, &items[i].holder,
                                 &items[i].holder_len, "holder")))
            return e;
        for (size_t k = 0; k < items[i].holder_len; k++)
            if ((unsigned char)items[i].holder[k] < 0x21 ||
                (unsigned char)items[i].holder[k] > 0x7e)
                return wf_rbuf_bad(&r, at, "bad holder");
    }
    *n = count;
    return wf_rbuf_end(&r, "FREE");
}

void wf_proto_put_pace(wf_wbuf *w, uint64_t ns_per_task, uint32_t tasks)
{
    wf_wbuf_put_u64(w, ns_per_task);
    wf_wbuf_put_u32(w, tasks);
}

weft_err wf_proto_get_pace(const uint8_t *p, size_t len, uint64_t *ns_per_task,
                           uint32_t *tasks)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u64(&r, ns_per_task, "ns per task");
    if (!e && *ns_per_task == 0)
        return wf_rbuf_bad(&r, 0, "0 ns per task");
    size_t at = r.off;
    if (!e)
        e = wf_rbuf_get_u32(&r, tasks, "tasks counted");
    if (!e && *tasks == 0)
        return wf_rbuf_bad(&r, at, "no tasks counted");
    return e ? e : wf_rbuf_end(&r, "PACE");
}

void wf_proto_put_steal(wf_wbuf *w, uint32_t max)
{
    wf_wbuf_put_u32(w, max);
}

weft_err wf_proto_get_steal(const uint8_t *p, size_t len, uint32_t *max)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u32(&r, max, "tasks asked for");
    if (!e && (*max == 0 || *max > WF_STEAL_MAX))
        return wf_rbuf_bad(&r, 0, "tasks asked for not in 1..1024");
    return e ? e : wf_rbuf_end(&r, "STEAL");
}

void wf_proto_put_returned(wf_wbuf *w, const uint64_t *seqs, uint32_t n)
{
    wf_wbuf_put_u32(w, n);
    for (uint32_t i = 0; i < n; i++)
        wf_wbuf_put_u64(w, seqs[i]);
}

weft_err wf_proto_get_returned(const uint8_t *p, size_t len, uint64_t *seqs,
                               uint32_t *n)
{
    wf_rbuf r;
    wf_rbuf_init(&r, p, len);
    weft_err e = wf_rbuf_get_u32(&r, n, "tasks returned");
    if (e)
        return e;
    if (*n > WF_STEAL_MAX)
        return wf_rbuf_bad(&r, 0, "more than 1024 tasks returned");
    for (uint32_t i = 0; i < *n; i++) {
        size_t at = r.off;
        if ((e = wf_rbuf_get_u64(&r, &seqs[i], "task seq")))
            return e;
        if (seqs[i] == 0)
            return wf_rbuf_bad(&r, at, "task seq 0");
    }
    return wf_rbuf_end(&r, "RETURNED");
}

weft_err wf_proto_hash_file(const char *path, uint8_t hash[WF_PROG_HASH],
                            uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wf_err(WEFT_ESYS, "cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        close(fd);
        return wf_err(WEFT_ENOMEM, "sha256 of %s: cannot start", path);
    }
    static _Thread_local uint8_t buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            EVP_MD_CTX_free(ctx);
            close(fd);
            return wf_err(WEFT_ESYS, "cannot read %s: %s", path, strerror(err));
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        total += (uint64_t)n;
    }
    close(fd);
    unsigned int outlen = 0;
    int ok = EVP_DigestFinal_ex(ctx, hash, &outlen);
    EVP_MD_CTX_free(ctx);
    if (!ok || outlen != WF_PROG_HASH)
        return wf_err(WEFT_ESYS, "sha256 of %s failed", path);
    *size = total;
    return 0;
}

void wf_proto_hash_hex(const uint8_t hash[WF_PROG_HASH], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < WF_PROG_HASH; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[64] = '\0';
}
