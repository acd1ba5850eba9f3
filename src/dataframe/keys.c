/* Row keys (see keys.h): XXH3 for text, a 64-bit mix for the rest. */
#include "dataframe/keys.h"

#include <math.h>
#include <string.h>

/* XXH3 inlined: most keys are short, and a call per row costs more than
 * hashing them */
#define XXH_INLINE_ALL
#include <xxhash.h>

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

uint64_t wf_text_hash(const char *s, size_t n)
{
    return XXH3_64bits(s, n);
}

void wf_keys_hash(const wf_column *const *keys, size_t nkeys, size_t nrows,
                  uint64_t *h)
{
    wf_keys_hash_at(keys, nkeys, 0, nrows, h);
}

void wf_keys_hash_at(const wf_column *const *keys, size_t nkeys, size_t first,
                     size_t n, uint64_t *h)
{
    for (size_t j = 0; j < n; j++)
        h[j] = 0x9e3779b97f4a7c15ull;
    for (size_t k = 0; k < nkeys; k++) { /* a column at a time */
        const wf_column *c = keys[k];
        for (size_t j = 0; j < n; j++) {
            size_t i = first + j;
            uint64_t v;
            if (c->type == WF_COL_STR) {
                wf_tkey tk;
                v = wf_text_key(c, i, &tk);
            } else if (c->type == WF_COL_F64) {
                double d = c->v.f64[i] == 0 ? 0.0 : c->v.f64[i]; /* -0 */
                memcpy(&v, &d, 8);
                v = mix64(v);
            } else if (c->type == WF_COL_BOOL) {
                v = mix64(c->v.b[i]);
            } else {
                v = mix64((uint64_t)c->v.i64[i]);
            }
            h[j] = mix64(h[j] ^ v) + k;
        }
    }
}
