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
