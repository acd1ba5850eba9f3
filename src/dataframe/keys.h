/* Row keys for group-by and join: one hash per row over several key
 * columns (equal keys hash equal across tables), and key comparisons. */
#ifndef WF_DATAFRAME_KEYS_H
#define WF_DATAFRAME_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "dataframe/column.h"

/* h[i] = the hash of row i's values in keys[0..nkeys) (nrows rows). */
void wf_keys_hash(const wf_column *const *keys, size_t nkeys, size_t nrows,
                  uint64_t *h);

/* The same for rows [first, first + n): h[j] is row first + j's hash
 * (hashing a block at a time keeps the hashes in cache). */
void wf_keys_hash_at(const wf_column *const *keys, size_t nkeys, size_t first,
                     size_t n, uint64_t *h);

/* Rows hashed a block at a time by the grouping and join loops. */
#define WF_HASH_BLOCK 2048

/* Is row i's key null in c (a null, or a float NaN)? */
static inline bool wf_key_null(const wf_column *c, size_t i)
{
    return !wf_col_present(c, i) ||
           (c->type == WF_COL_F64 && c->v.f64[i] != c->v.f64[i]);
}

/* A text key of at most 16 bytes as the two words of its bytes (zero
 * above them); with its length they name it exactly. The 16 bytes ending
 * at the key's end are loaded and the bytes before the key shifted out,
 * so there is no branch on the length (those mispredicted at every row);
 * base is the column's text, and only a key in its first 16 bytes takes
 * the slow way. */
#define WF_SHORT_KEY 16

static inline void wf_short_words(const char *base, const char *s, size_t n,
                                  uint64_t *lo, uint64_t *hi)
{
#if defined(__SIZEOF_INT128__)
    if (n > 0 && (size_t)(s - base) + n >= 16) {
        unsigned __int128 v;
        memcpy(&v, s + n - 16, 16);
        v >>= 8 * (16 - n);
        *lo = (uint64_t)v;
        *hi = (uint64_t)(v >> 64);
        return;
    }
#endif
    unsigned char w[16] = {0};
    memcpy(w, s, n);
    memcpy(lo, w, 8);
    memcpy(hi, w + 8, 8);
}

/* The two halves of a * b xor-ed: one multiply that mixes two words. */
static inline uint64_t wf_fold128(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__)
    unsigned __int128 p = (unsigned __int128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
#else
    a ^= a >> 33;
    a *= 0xff51afd7ed558ccdull;
    return a ^ (a >> 33) ^ b;
#endif
}

/* XXH3 of s[0..n) (keys over WF_SHORT_KEY bytes). */
uint64_t wf_text_hash(const char *s, size_t n);

/* A text key as it is matched in the single-text-key loops (grouping,
 * join): its two words and length, or for a key over WF_SHORT_KEY bytes
 * its XXH3 in both words (then compared in full as well). */
typedef struct wf_tkey {
    uint64_t lo, hi;
    size_t len;
} wf_tkey;

/* Row i of text column c (present) as a key into *k; returns its hash. */
static inline uint64_t wf_text_key(const wf_column *c, size_t i, wf_tkey *k)
{
    const char *p = wf_col_str(c, i, &k->len);
    if (__builtin_expect(k->len <= WF_SHORT_KEY, 1)) {
        wf_short_words(c->chars, p, k->len, &k->lo, &k->hi);
        return wf_fold128(k->lo ^ (0x9e3779b97f4a7c15ull + k->len),
                          k->hi ^ 0xc2b2ae3d27d4eb4full);
    }
    k->lo = k->hi = wf_text_hash(p, k->len);
    return k->lo;
}

/* Keys a (row i of ca) and b (row j of cb) are equal. */
static inline bool wf_tkey_equal(const wf_tkey *a, const wf_column *ca,
                                 size_t i, const wf_tkey *b,
                                 const wf_column *cb, size_t j)
{
    if (a->len != b->len || a->lo != b->lo || a->hi != b->hi)
        return false;
    if (a->len <= WF_SHORT_KEY)
        return true;
    size_t n1, n2;
    return memcmp(wf_col_str(ca, i, &n1), wf_col_str(cb, j, &n2), a->len) == 0;
}

/* Row i of a equals row j of b (same type; not null). Inline: it runs
 * once a row in the grouping and join loops. */
static inline bool wf_key_equal(const wf_column *a, size_t i,
                                const wf_column *b, size_t j)
{
    switch (a->type) {
    case WF_COL_STR: {
        size_t n1, n2;
        const char *p = wf_col_str(a, i, &n1), *q = wf_col_str(b, j, &n2);
        return n1 == n2 && memcmp(p, q, n1) == 0;
    }
    case WF_COL_F64:
        return a->v.f64[i] == b->v.f64[j];
    case WF_COL_BOOL:
        return a->v.b[i] == b->v.b[j];
    default:
        return a->v.i64[i] == b->v.i64[j];
    }
}

#endif
