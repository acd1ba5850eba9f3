/* Bags: lazy, partitioned collections of records (Dask bag).
 *
 * A record is text, a JSON value (kept as compact JSON text; parse it with
 * wb_rec_json), or a (key, count) pair. A bag is built from a sequence,
 * text files or JSON-lines files, and transformed lazily with map, filter,
 * flatten, frequencies, distinct, groupby and fold; nothing runs until an
 * action (wb_compute, wb_take, wb_count, wb_to_textfiles). Each partition
 * is one weft task, and chains of map/filter/flatten run fused in one task
 * per partition.
 *
 * Functions applied to records are plain C functions registered by name
 * (WB_MAP, WB_FILTER, WB_FOLD), like tasks, so a bag runs unchanged on
 * threads, worker processes and a cluster: a task carries the function's
 * name and an argument of bytes, never a pointer. Built-in functions are
 * named "wb.*" (listed in docs/bags.md).
 *
 * A bag handle is used from one thread at a time; every bag (including the
 * ones a transformation returns) is freed with wb_free. Transformations
 * return NULL on error with the detail in weft_last_error(); given a NULL
 * bag they return NULL and leave the earlier detail in place, so chains
 * can be checked once at the end. */
#ifndef WEFT_BAG_H
#define WEFT_BAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wb_bag wb_bag;
struct json_t; /* jansson's json_t: include <jansson.h> to use it */

typedef enum wb_kind {
    WB_TEXT = 0,  /* data: the text (any bytes) */
    WB_JSON = 1,  /* data: one JSON value as compact JSON text */
    WB_COUNT = 2, /* data: a key, n: its count (frequencies' output) */
} wb_kind;

/* A record. data is NUL-terminated (len excludes the NUL) and stays valid
 * for the call it is passed to, or while its wb_records lives. */
typedef struct wb_rec {
    wb_kind kind;
    const char *data;
    size_t len;
    int64_t n; /* WB_COUNT only */
} wb_rec;

/* A text record viewing s (not copied). */
static inline wb_rec wb_text(const char *s, size_t len)
{
    wb_rec r = {WB_TEXT, s, len, 0};
    return r;
}

/* ------------------------------------------------------ user functions */

typedef struct wb_out wb_out; /* where a function emits records */

/* In the functions below, arg[0..arglen) is the argument given when the
 * function was applied (a copy, not aligned: memcpy numbers out of it). */

/* map / flat_map: emit records for r into o (map: exactly one). */
typedef weft_err (*wb_map_fn)(const wb_rec *r, wb_out *o, const void *arg,
                              size_t arglen);
/* filter: keep r when true. */
typedef bool (*wb_filter_fn)(const wb_rec *r, const void *arg, size_t arglen);
/* fold: emit exactly one record, the combination of acc and x. */
typedef weft_err (*wb_fold_fn)(const wb_rec *acc, const wb_rec *x, wb_out *o,
                               const void *arg, size_t arglen);

/* Register fn under name (1 to 63 bytes), usually at load time through
 * WB_MAP / WB_FILTER / WB_FOLD so that worker processes have it too.
 * Thread-safe. WEFT_EEXIST if the name has another function. */
weft_err wb_register_map(const char *name, wb_map_fn fn);
weft_err wb_register_filter(const char *name, wb_filter_fn fn);
weft_err wb_register_fold(const char *name, wb_fold_fn fn);

#define WB__REG(kind, fn)                                                      \
    __attribute__((constructor)) static void wb__reg_##fn(void)                \
    {                                                                          \
        (void)wb_register_##kind(#fn, fn);                                     \
    }
#define WB_MAP(fn) WB__REG(map, fn)
#define WB_FILTER(fn) WB__REG(filter, fn)
#define WB_FOLD(fn) WB__REG(fold, fn)

/* Emit a copy of r. */
weft_err wb_emit(wb_out *o, const wb_rec *r);
/* Emit a text record of s[0..len). */
weft_err wb_emit_text(wb_out *o, const char *s, size_t len);
/* Emit a JSON record: j as compact JSON (keys in j's order). */
weft_err wb_emit_json(wb_out *o, const struct json_t *j);
/* Emit a JSON record from JSON text, which is checked (WEFT_EINVAL and
 * a failed call if it does not parse). */
weft_err wb_emit_json_text(wb_out *o, const char *s, size_t len);
/* Emit a (key, count) record. */
weft_err wb_emit_count(wb_out *o, const char *key, size_t len, int64_t n);
/* Fail the call with a message (the task's error names the function);
 * returns WEFT_ETASK: `return wb_out_fail(o, "bad %s", x);` */
weft_err wb_out_fail(wb_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* r as a new jansson value (yours to json_decref): JSON records parsed,
 * text as a JSON string, counts as [key, n]. WEFT_EINVAL when r is text
 * that is not UTF-8. */
weft_err wb_rec_json(const wb_rec *r, struct json_t **out);

/* ------------------------------------------------------------- sources */

/* A bag of the n texts items[0..n) (copied) in npart partitions (0: one
 * per 1000 items, at most 64), cut evenly in order. Does not block. */
weft_err wb_from_sequence(weft_runtime *rt, const char *const *items, size_t n,
                          size_t npart, wb_bag **out);

/* The same from records of any kind (copied; JSON records are checked). */
weft_err wb_from_records(weft_runtime *rt, const wb_rec *recs, size_t n,
                         size_t npart, wb_bag **out);

typedef struct wb_read_opts {
    size_t block_size; /* bytes per partition; 0: 16 MiB */
} wb_read_opts;

/* Fill *o with defaults. */
void wb_read_opts_init(wb_read_opts *o);

/* A bag of the lines of the files matching glob (in name order), one text
 * record per line without its "\n" or "\r\n"; a file is cut at newlines
 * into partitions of about block_size bytes. Files are read when the bag
 * is computed, by the tasks (they must see the same paths). WEFT_EIO when
 * nothing matches or a file cannot be read. o may be NULL. Does not block
 * on reading. */
weft_err wb_read_text(weft_runtime *rt, const char *glob, const wb_read_opts *o,
                      wb_bag **out);

/* The same for JSON-lines files: one JSON record per non-blank line; a line
 * that does not parse fails the computation with "FILE:LINE: ...". */
weft_err wb_read_json(weft_runtime *rt, const char *glob, const wb_read_opts *o,
                      wb_bag **out);

/* ------------------------------------------------------ transformations */

/* Apply the map function fn (with arg, copied) to every record. */
wb_bag *wb_map(wb_bag *b, const char *fn, const void *arg, size_t arglen);

/* Apply the map function fn; it may emit any number of records each. */
wb_bag *wb_flat_map(wb_bag *b, const char *fn, const void *arg, size_t arglen);

/* Keep the records the filter function fn accepts. */
wb_bag *wb_filter(wb_bag *b, const char *fn, const void *arg, size_t arglen);

/* Replace every JSON array record by its elements (JSON strings become
 * text records); other records fail the computation. */
wb_bag *wb_flatten(wb_bag *b);

/* One partition of (key, count) records: each distinct record's text and
 * how often it occurs, by count descending, then key bytes ascending. */
wb_bag *wb_frequencies(wb_bag *b);

/* One partition of the distinct records (same kind and bytes), in order of
 * first occurrence. */
wb_bag *wb_distinct(wb_bag *b);

/* Group records by the key that map function keyfn emits for them: npart
 * partitions (0: as many as b) of JSON records [key, [records...]], one per
 * key, records in bag order. Text becomes JSON strings; a key's partition
 * is its hash modulo npart. */
wb_bag *wb_groupby(wb_bag *b, const char *keyfn, const void *arg, size_t arglen,
                   size_t npart);

/* One partition of one record: binop folded over each partition starting
 * from *initial, then combine (NULL: binop) folded over the partitions'
 * results in a tree, starting from *initial again (Dask's fold). With
 * initial NULL, partitions start from their first record and an empty bag
 * gives an empty result (Dask's reduction). */
wb_bag *wb_fold(wb_bag *b, const char *binop, const char *combine,
                const void *arg, size_t arglen, const wb_rec *initial);

/* Free the bag handle (the graph it shares with related bags is freed with
 * the last of them). NULL is ignored. */
void wb_free(wb_bag *b);

/* Number of partitions. */
size_t wb_npartitions(const wb_bag *b);

/* ------------------------------------------------------------- actions */

/* Records of a computation: recs[0..n), valid until wb_records_free. */
typedef struct wb_records {
    size_t n;
    wb_rec *recs;
} wb_records;

/* Free records from an action (NULL is ignored). */
void wb_records_free(wb_records *r);

/* Compute b and return all its records in order. A failed task's message
 * is in weft_last_error(). Blocks. Not in tasks. */
weft_err wb_compute(wb_bag *b, wb_records **out);

/* The first n records (fewer if b has fewer), computing only the first
 * partitions that are needed. Blocks. Not in tasks. */
weft_err wb_take(wb_bag *b, size_t n, wb_records **out);

/* The number of records. Blocks. Not in tasks. */
weft_err wb_count(wb_bag *b, int64_t *n);

/* Write partition i to pattern with its one '*' replaced by i, one record
 * per line (counts as JSON [key, n]); creates the directory. *nfiles (may
 * be NULL) gets the number of files. Blocks. Not in tasks. */
weft_err wb_to_textfiles(wb_bag *b, const char *pattern, size_t *nfiles);

#ifdef __cplusplus
}
#endif
#endif
