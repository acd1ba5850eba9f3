/* Row keys for group-by and join: one hash per row over several key
 * columns (equal keys hash equal across tables), and key comparisons. */
#ifndef WF_DATAFRAME_KEYS_H
#define WF_DATAFRAME_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
bool wf_key_null(const wf_column *c, size_t i);

/* Row i of a equals row j of b (same type; not null). */
bool wf_key_equal(const wf_column *a, size_t i, const wf_column *b, size_t j);

#endif
