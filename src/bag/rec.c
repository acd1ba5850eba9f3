/* Records: buffers, what user functions emit into, the registry of map,
 * filter and fold functions, a hash table of records, JSON text, and the
 * kernels' parameter layout (see bag_int.h). */
#include "bag/bag_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

/* ------------------------------------------------------------ buffers */

bool wb_buf_grow(wb_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return false;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (!q)
        return false;
    b->p = q;
    b->cap = cap;
    return true;
}

/* ------------------------------------------------------------ emitting */

static weft_err out_nomem(wb_out *o)
{
    o->nomem = true;
    return WEFT_ENOMEM;
}

WB_EXPORT weft_err wb_emit(wb_out *o, const wb_rec *r)
{
    if (!o || !r || (!r->data && r->len) || (unsigned)r->kind > WB_COUNT)
        return WEFT_EINVAL;
    if (!wb_put_rec(&o->buf, r->kind, r->data, r->len, r->n))
        return out_nomem(o);
    o->emitted++;
    return 0;
}

WB_EXPORT weft_err wb_emit_text(wb_out *o, const char *s, size_t len)
{
    wb_rec r = wb_text(s, len);
    return wb_emit(o, &r);
}

WB_EXPORT weft_err wb_emit_count(wb_out *o, const char *key, size_t len,
                                 int64_t n)
{
    wb_rec r = {WB_COUNT, key, len, n};
    return wb_emit(o, &r);
}

/* jansson's dump callback: append to a wb_buf. */
static int dump_cb(const char *buf, size_t size, void *data)
{
    return wb_buf_put(data, buf, size) ? 0 : -1;
}

weft_err wb_put_json(wb_buf *b, const json_t *j)
{
    size_t at = b->len;
    if (!wb_buf_reserve(b, WB_HDR))
        return WEFT_ENOMEM;
    b->len += WB_HDR;
    if (json_dump_callback(j, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) ||
        !wb_buf_put(b, "", 1)) {
        b->len = at;
        return WEFT_ENOMEM;
    }
    uint32_t plen = (uint32_t)(b->len - at - WB_HDR - 1);
    memcpy(b->p + at, &plen, 4);
    b->p[at + 4] = WB_JSON;
    return 0;
}

WB_EXPORT weft_err wb_emit_json(wb_out *o, const struct json_t *j)
{
    if (!o || !j)
        return WEFT_EINVAL;
    if (wb_put_json(&o->buf, j))
        return out_nomem(o);
    o->emitted++;
    return 0;
}

WB_EXPORT weft_err wb_emit_json_text(wb_out *o, const char *s, size_t len)
{
    if (!o || (!s && len))
        return WEFT_EINVAL;
    json_error_t je;
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &je);
    if (!j) {
        wb_out_fail(o, "wb_emit_json_text: not JSON: %s", je.text);
        return WEFT_EINVAL;
    }
    weft_err e = wb_emit_json(o, j);
    json_decref(j);
    return e;
}

WB_EXPORT weft_err wb_out_fail(wb_out *o, const char *fmt, ...)
{
    if (o && !o->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->err, sizeof o->err, fmt, ap);
        va_end(ap);
        o->failed = true;
    }
    return WEFT_ETASK;
}

WB_EXPORT weft_err wb_rec_json(const wb_rec *r, struct json_t **out)
{
    if (!r || !out || (!r->data && r->len))
        return WEFT_EINVAL;
    json_t *j = NULL;
    if (r->kind == WB_JSON) {
        j = json_loadb(r->data, r->len, JSON_DECODE_ANY, NULL);
    } else if (r->kind == WB_TEXT) {
        j = json_stringn(r->data, r->len);
    } else if (r->kind == WB_COUNT) {
        json_t *k = json_stringn(r->data, r->len);
        j = k ? json_pack("[oI]", k, (json_int_t)r->n) : NULL;
    }
    if (!j)
        return weft_set_error(WEFT_EINVAL, "wb_rec_json: %s",
                              r->kind == WB_JSON ? "not JSON text"
                                                 : "text that is not UTF-8");
    *out = j;
    return 0;
}

/* ------------------------------------------------------------ registry */

typedef struct fentry {
    char name[WB_NAME_MAX + 1];
    wb_fn_kind kind;
    void *fn;
} fentry;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static fentry *reg;
static size_t nreg, capreg;

static weft_err reg_add(const char *name, wb_fn_kind kind, void *fn)
{
    if (!name || !fn || !*name || strlen(name) > WB_NAME_MAX)
        return WEFT_EINVAL;
    weft_err e = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nreg; i++)
        if (strcmp(reg[i].name, name) == 0) {
            e = reg[i].fn == fn && reg[i].kind == kind ? 0 : WEFT_EEXIST;
            goto out;
        }
    if (nreg == capreg) {
        size_t cap = capreg ? capreg * 2 : 64;
        fentry *m = realloc(reg, cap * sizeof *m);
        if (!m) {
            e = WEFT_ENOMEM;
            goto out;
        }
        reg = m;
        capreg = cap;
    }
    strcpy(reg[nreg].name, name);
    reg[nreg].kind = kind;
    reg[nreg++].fn = fn;
out:
    pthread_mutex_unlock(&reg_lock);
    return e;
}

WB_EXPORT weft_err wb_register_map(const char *name, wb_map_fn fn)
{
    return reg_add(name, WB_FN_MAP, (void *)fn);
}

WB_EXPORT weft_err wb_register_filter(const char *name, wb_filter_fn fn)
{
    return reg_add(name, WB_FN_FILTER, (void *)fn);
}

WB_EXPORT weft_err wb_register_fold(const char *name, wb_fold_fn fn)
{
    return reg_add(name, WB_FN_FOLD, (void *)fn);
}

void *wb_fn_find(const char *name, size_t len, wb_fn_kind kind)
{
    void *fn = NULL;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nreg && !fn; i++)
        if (reg[i].kind == kind && strlen(reg[i].name) == len &&
            memcmp(reg[i].name, name, len) == 0)
            fn = reg[i].fn;
    pthread_mutex_unlock(&reg_lock);
    return fn;
}

/* ------------------------------------------------------------ hashing */

/* A 64-bit finaliser (MurmurHash3's fmix64): every input bit reaches
 * every output bit. */
static inline uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

uint64_t wb_rec_hash(const wb_rec *r)
{
    uint64_t seed = (uint64_t)r->kind * 0x9e3779b97f4a7c15ull;
    if (r->len > 16)
        return XXH3_64bits_withSeed(r->data, r->len, seed);
    /* short keys (most words): two words mixed, cheaper than a call */
    uint64_t k[2] = {0, 0};
    memcpy(k, r->data, r->len);
    return fmix64(k[0] * 0x87c37b91114253d5ull ^
                  fmix64(k[1] ^ seed ^ ((uint64_t)r->len << 56)));
}

static uint32_t entry_tag(uint64_t h, wb_kind kind)
{
    return ((uint32_t)(h >> 32) & ~(uint32_t)3) | (uint32_t)kind | (1u << 31);
}

static bool table_resize(wb_table *t, size_t cap)
{
    wb_entry *e = calloc(cap, sizeof *e);
    if (!e)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        const wb_entry *x = &t->e[i];
        if (!x->tag)
            continue;
        wb_rec r = {wb_entry_kind(x), wb_entry_key(x), x->len, 0};
        size_t j = wb_rec_hash(&r) & (cap - 1);
        while (e[j].tag)
            j = (j + 1) & (cap - 1);
        e[j] = *x;
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return true;
}

wb_entry *wb_table_get(wb_table *t, const wb_rec *r, bool *isnew)
{
    return wb_table_get_h(t, r, wb_rec_hash(r), isnew);
}

wb_entry *wb_table_get_h(wb_table *t, const wb_rec *r, uint64_t h, bool *isnew)
{
    if ((t->n + 1) * 2 > t->cap && !table_resize(t, t->cap ? t->cap * 2 : 1024))
        return NULL;
    if (r->len > UINT32_MAX)
        return NULL;
    uint32_t tag = entry_tag(h, r->kind), len = (uint32_t)r->len;
    uint64_t k[2] = {0, 0}; /* the key's first 16 bytes, zero-padded */
    memcpy(k, r->data, len < 16 ? len : 16);
    size_t j = h & (t->cap - 1);
    for (;; j = (j + 1) & (t->cap - 1)) {
        wb_entry *e = &t->e[j];
        if (!e->tag)
            break;
        if (e->tag != tag || e->len != len)
            continue;
        if (len <= 16) {
            uint64_t x[2];
            memcpy(x, e->key.in, 16);
            if (x[0] == k[0] && x[1] == k[1]) {
                *isnew = false;
                return e;
            }
        } else if (e->key.out.head == k[0] &&
                   memcmp(e->key.out.p + 8, r->data + 8, len - 8) == 0) {
            *isnew = false;
            return e;
        }
    }
    wb_entry *e = &t->e[j];
    if (len <= 16) {
        memcpy(e->key.in, k, 16);
    } else {
        e->key.out.p = t->keys ? wb_arena_copy(t->keys, r->data, len) : r->data;
        e->key.out.head = k[0];
        if (!e->key.out.p)
            return NULL;
    }
    e->tag = tag;
    e->len = len;
    e->val = 0;
    t->n++;
    *isnew = true;
    return e;
}

void wb_table_free(wb_table *t)
{
    free(t->e);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ arenas */

struct wb_chunk {
    wb_chunk *next;
    char data[];
};

char *wb_arena_copy(wb_arena *a, const void *p, size_t n)
{
    if (!a->head || a->cap - a->used < n + 1) {
        size_t cap = n + 1 > (1u << 20) ? n + 1 : (1u << 20);
        wb_chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    char *q = a->head->data + a->used;
    if (n)
        memcpy(q, p, n);
    q[n] = '\0';
    a->used += n + 1;
    return q;
}

void wb_arena_free(wb_arena *a)
{
    while (a->head) {
        wb_chunk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------ JSON text */

static bool json_str_append(wb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!wb_buf_reserve(b, n + 2))
        return false;
    b->p[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (!wb_buf_put(b, &s[i], 1))
                return false;
            continue;
        }
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t k = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\t')
            esc[1] = 't';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c < 0x20) {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        if (!wb_buf_put(b, esc, k))
            return false;
    }
    return wb_buf_put(b, "\"", 1);
}

bool wb_json_append(wb_buf *b, const wb_rec *r)
{
    if (r->kind == WB_JSON)
        return wb_buf_put(b, r->data, r->len);
    if (r->kind == WB_TEXT)
        return json_str_append(b, r->data, r->len);
    char num[32];
    int k = snprintf(num, sizeof num, ",%lld]", (long long)r->n);
    return wb_buf_put(b, "[", 1) && json_str_append(b, r->data, r->len) &&
           wb_buf_put(b, num, (size_t)k);
}

/* ------------------------------------------------------------ params */

bool wb_fnparams_put(wb_buf *b, uint32_t op, const char *name, const void *arg,
                     size_t arglen, const void *extra, size_t extralen)
{
    size_t nl = name ? strlen(name) : 0;
    if (arglen > UINT32_MAX / 4 || extralen > UINT32_MAX / 4)
        return false;
    uint32_t h[4] = {op, (uint32_t)nl, (uint32_t)arglen, (uint32_t)extralen};
    return wb_buf_put(b, h, sizeof h) && wb_buf_put(b, name, nl) &&
           wb_buf_put(b, arg, arglen) && wb_buf_put(b, extra, extralen);
}

bool wb_fnparams_get(const void *p, size_t n, wb_fnparams *out)
{
    uint32_t h[4];
    if (!p || n < sizeof h)
        return false;
    memcpy(h, p, sizeof h);
    if ((uint64_t)h[1] + h[2] + h[3] != n - sizeof h)
        return false;
    const char *q = (const char *)p + sizeof h;
    out->op = h[0];
    out->name = q;
    out->namelen = h[1];
    out->arg = q + h[1];
    out->arglen = h[2];
    out->extra = q + h[1] + h[2];
    out->extralen = h[3];
    return true;
}
