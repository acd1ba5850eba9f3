/* Internals of the bag collection: the partition encoding, growable
 * buffers, the function registry, and the kernels' parameter layouts.
 *
 * A partition is a WEFT_T_BYTES value holding records back to back:
 *   [u32 len][u8 kind][payload: len bytes][NUL]
 * where the payload is the record's bytes, or for WB_COUNT an i64 count
 * followed by the key's bytes (len counts both). Integers are in host
 * order: partitions only travel between processes of one architecture. */
#ifndef WF_BAG_BAG_INT_H
#define WF_BAG_BAG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <weft/bag.h>

#include "graph/graph.h"

#define WB_EXPORT __attribute__((visibility("default")))
#define WB_HDR 5 /* u32 len + u8 kind */
#define WB_NAME_MAX 63
#define WB_FANIN 8 /* inputs per node of a tree combine */

/* ------------------------------------------------------------ buffers */

typedef struct wb_buf {
    uint8_t *p;
    size_t len, cap;
} wb_buf;

/* Room for extra more bytes; false when out of memory. */
bool wb_buf_grow(wb_buf *b, size_t extra);

static inline bool wb_buf_reserve(wb_buf *b, size_t extra)
{
    return b->cap - b->len >= extra || wb_buf_grow(b, extra);
}

static inline bool wb_buf_put(wb_buf *b, const void *p, size_t n)
{
    if (!wb_buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return true;
}

/* Append one record; false when out of memory or too long. */
static inline bool wb_put_rec(wb_buf *b, wb_kind kind, const void *data,
                              size_t len, int64_t n)
{
    size_t plen = len + (kind == WB_COUNT ? 8 : 0);
    if (plen > UINT32_MAX - 16 || !wb_buf_reserve(b, WB_HDR + plen + 1))
        return false;
    uint8_t *q = b->p + b->len;
    uint32_t l32 = (uint32_t)plen;
    memcpy(q, &l32, 4);
    q[4] = (uint8_t)kind;
    q += WB_HDR;
    if (kind == WB_COUNT) {
        memcpy(q, &n, 8);
        q += 8;
    }
    if (len)
        memcpy(q, data, len);
    q[len] = '\0';
    b->len += WB_HDR + plen + 1;
    return true;
}

/* The record at *off in p[0..n): 1 and *off moved past it, 0 at the end,
 * -1 when the bytes are not a record. */
static inline int wb_next(const uint8_t *p, size_t n, size_t *off, wb_rec *r)
{
    size_t o = *off;
    if (o >= n)
        return 0;
    if (n - o < WB_HDR + 1)
        return -1;
    uint32_t plen;
    memcpy(&plen, p + o, 4);
    uint8_t kind = p[o + 4];
    if (kind > WB_COUNT || plen > n - o - WB_HDR - 1 ||
        (kind == WB_COUNT && plen < 8))
        return -1;
    const uint8_t *q = p + o + WB_HDR;
    r->kind = (wb_kind)kind;
    if (kind == WB_COUNT) {
        memcpy(&r->n, q, 8);
        r->data = (const char *)q + 8;
        r->len = plen - 8;
    } else {
        r->n = 0;
        r->data = (const char *)q;
        r->len = plen;
    }
    *off = o + WB_HDR + plen + 1;
    return 1;
}

/* Bytes one record takes in a partition. */
static inline size_t wb_rec_size(const wb_rec *r)
{
    return WB_HDR + r->len + (r->kind == WB_COUNT ? 8 : 0) + 1;
}

/* ------------------------------------------------------------ outputs */

struct wb_out {
    wb_buf buf;
    size_t emitted;
    bool failed, nomem;
    char err[400];
};

/* ------------------------------------------------------------ registry */

typedef enum wb_fn_kind { WB_FN_MAP, WB_FN_FILTER, WB_FN_FOLD } wb_fn_kind;

/* The function registered under name[0..len) with that kind, or NULL. */
void *wb_fn_find(const char *name, size_t len, wb_fn_kind kind);

/* ------------------------------------------------------------ arenas */

/* Stable copies of keys: bytes that never move until wb_arena_free. */
typedef struct wb_chunk wb_chunk;
typedef struct wb_arena {
    wb_chunk *head;
    size_t used, cap; /* in head */
} wb_arena;

/* A copy of p[0..n) plus a NUL; NULL when out of memory. */
char *wb_arena_copy(wb_arena *a, const void *p, size_t n);
void wb_arena_free(wb_arena *a);

/* ------------------------------------------------------------ hashing */

/* Hash of a record's identity (kind and bytes; counts by key only). */
uint64_t wb_rec_hash(const wb_rec *r);

/* A hash table of records: open addressing over 32-byte entries that hold
 * keys of up to 16 bytes in place (longer ones by pointer, copied into the
 * table's arena when it has one), so a lookup of a short key touches one
 * cache line. */
typedef struct wb_entry {
    uint32_t tag; /* 0: empty; else the hash's top bits | kind | 1 << 31 */
    uint32_t len;
    int64_t val; /* a count, or an index the user keeps */
    union {
        char in[16];
        struct {
            const char *p;
            uint64_t head; /* the first 8 bytes */
        } out;
    } key;
} wb_entry;

typedef struct wb_table {
    wb_entry *e;
    size_t cap, n;  /* cap a power of two */
    wb_arena *keys; /* NULL: long keys point into the caller's records */
} wb_table;

/* The entry for r (val 0 and *isnew when just added), valid until the
 * next call; NULL: no memory. */
wb_entry *wb_table_get(wb_table *t, const wb_rec *r, bool *isnew);

/* The same with r's hash (wb_rec_hash) known. */
wb_entry *wb_table_get_h(wb_table *t, const wb_rec *r, uint64_t h, bool *isnew);

/* Start loading the line where a key of hash h is looked for. */
static inline void wb_table_prefetch(const wb_table *t, uint64_t h)
{
    if (t->cap)
        __builtin_prefetch(&t->e[h & (t->cap - 1)]);
}

/* An entry's key bytes (len of them) and kind. */
static inline const char *wb_entry_key(const wb_entry *e)
{
    return e->len <= 16 ? e->key.in : e->key.out.p;
}
static inline wb_kind wb_entry_kind(const wb_entry *e)
{
    return (wb_kind)(e->tag & 3);
}

void wb_table_free(wb_table *t);

/* ------------------------------------------------------------ JSON text */

/* Append r as JSON text (strings escaped) to b. */
bool wb_json_append(wb_buf *b, const wb_rec *r);

/* ------------------------------------------------------------ kernels */

typedef enum wb_op {
    WB_OP_MAP = 1,
    WB_OP_FLATMAP,
    WB_OP_FILTER,
    WB_OP_FLATTEN,
} wb_op;

/* What a pipe (a partition's fused chain, wb_k_pipe) ends in. */
typedef enum wb_term {
    WB_T_COLLECT = 1, /* the records, a partition */
    WB_T_COUNT,       /* their number, an i64 */
    WB_T_FREQ,        /* (text, count) records, unsorted */
    WB_T_DISTINCT,    /* first occurrences */
    WB_T_FOLD,        /* one record (fnparams of the fold, see wb_folder) */
    WB_T_SPLIT,       /* groupby pieces (fnparams of the key fn, u32 npart) */
    WB_T_WRITE,       /* lines of a file (the path), the number an i64 */
} wb_term;

/* Parameters naming a function: [u32 op][u32 namelen][u32 arglen]
 * [u32 extra][name][arg][extra] (extra: kernel-specific bytes). */
typedef struct wb_fnparams {
    uint32_t op;
    const char *name;
    size_t namelen;
    const void *arg;
    size_t arglen;
    const void *extra;
    size_t extralen;
} wb_fnparams;

bool wb_fnparams_put(wb_buf *b, uint32_t op, const char *name, const void *arg,
                     size_t arglen, const void *extra, size_t extralen);
bool wb_fnparams_get(const void *p, size_t n, wb_fnparams *out);

/* A partition input of a kernel call: its bytes, or fails the call. */
weft_err wb_part_in(wg_call *c, size_t i, const uint8_t **p, size_t *n);

/* Fail the call because input i is not a partition of records. */
weft_err wb_corrupt(wg_call *c, size_t i);

/* Fail the call: out of memory. */
weft_err wb_nomem(wg_call *c);

/* Output buf as the call's partition (copied). */
weft_err wb_out_part(wg_call *c, const wb_buf *b);

/* The failure of user function fp on record k (o: where it emitted). */
weft_err wb_fn_failed(wg_call *c, const wb_fnparams *fp, const wb_out *o,
                      weft_err e, size_t k);

/* Output the table's (key, count) records, sorted by count descending
 * then key when sort. */
weft_err wb_freq_out(wg_call *c, const wb_table *t, bool sort);

/* A fold in progress: the accumulator lives in o[cur]. */
typedef struct wb_folder {
    wb_fnparams fp;
    wb_fold_fn fn;
    wb_out o[2];
    int cur;
    bool have;
    size_t k; /* records folded */
} wb_folder;

/* Start a fold from params (fnparams; extra: [u32 has_initial][record]). */
weft_err wb_folder_init(wb_folder *f, wg_call *c, const void *params,
                        size_t plen);
weft_err wb_folder_add(wb_folder *f, wg_call *c, const wb_rec *r);
/* Output the accumulator (an empty partition when nothing was folded). */
weft_err wb_folder_out(wb_folder *f, wg_call *c);
void wb_folder_free(wb_folder *f);

/* Text files (text.c): a block of a file is the lines starting in
 * [off, off + len). */
typedef struct wb_block_params {
    int64_t off, len;
    uint32_t json, pathlen; /* the path follows */
} wb_block_params;

/* The bytes [a, end) of fd and on to the first newline at or after end - 1
 * (or the end of the file) into d, with one spare byte after them. */
weft_err wb_read_block(wg_call *c, int fd, const char *path, int64_t a,
                       int64_t end, wb_buf *d);

/* Newlines in fd before byte end (for an error's line number). */
int64_t wb_lines_before(int fd, int64_t end);

/* Built-in flat maps that cut a text into pieces (wb.split, wb.words) can
 * hand each piece (NUL-terminated in scratch) straight to cb instead of
 * emitting records: the pipe uses this to skip a step's buffer. */
typedef weft_err (*wb_piece_fn)(void *ctx, const char *w, size_t n);
typedef weft_err (*wb_splitter)(const wb_rec *r, wb_buf *scratch,
                                wb_piece_fn cb, void *ctx);

/* The splitter behind the map function fn, or NULL. */
wb_splitter wb_splitter_of(const void *fn);

/* Append j as a JSON record (compact); WEFT_ENOMEM. */
weft_err wb_put_json(wb_buf *b, const struct json_t *j);

/* Link the kernel files into programs that use the builder (their
 * constructors register the kernels in every process). */
void wb_kernels_link(void);
void wb_pipe_link(void);
void wb_builtins_link(void);

#endif
