/* Tables as bytes: the encoding a partition travels in between tasks (one
 * weft bytes value) and the row groups of weft's columnar file, so data
 * parsed once reloads at disk speed.
 *
 * Encoding (all integers little-endian; every section starts at a multiple
 * of 8 bytes from the start):
 *   "WEFTTBL1", u32 version (1), u32 ncols, u64 nrows, then per column:
 *   u32 type (wf_coltype), u32 flags (1: has a validity array),
 *   u32 name length (1..WF_TABLE_NAME_MAX), u32 0, the name (no NUL),
 *   then the validity bytes (nrows, each 0 or 1) if flagged, then the
 *   values: nrows x 8 bytes (I64, F64, DATE, TS), nrows bytes 0/1 (BOOL),
 *   or for STR nrows + 1 u64 offsets (0 first, non-decreasing) followed by
 *   the offsets' last value of text bytes.
 * The decoder checks every field against the buffer's length and refuses
 * anything else with a message saying what and at which byte.
 *
 * File ("WEFTFIL1"): the magic, then row groups (each an encoding as above,
 * at 8-byte aligned offsets), then an index: u64 ngroups, per group u64
 * offset and u64 length, then u64 index offset and "WEFTEND1". Written
 * with wf_tfile_write, read group by group with wf_tfile_open /
 * wf_tfile_read. */
#ifndef WF_DATAFRAME_TABLE_IO_H
#define WF_DATAFRAME_TABLE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "dataframe/column.h"

#define WF_TABLE_NAME_MAX 4096   /* bytes of a column name */
#define WF_TABLE_COLS_MAX 100000 /* columns in one table */

/* Bytes wf_table_encode_into needs for t. */
size_t wf_table_encoded_size(const wf_table *t);

/* Encode t into buf, which has len >= wf_table_encoded_size(t) bytes.
 * WEFT_ERANGE when it has fewer. */
weft_err wf_table_encode_into(const wf_table *t, uint8_t *buf, size_t len);

/* Encode t into a new malloc'd buffer *buf of *len bytes. */
weft_err wf_table_encode(const wf_table *t, uint8_t **buf, size_t *len);

/* Decode buf[0..len) into *out (initialised here; empty on failure).
 * WEFT_EINVAL with err naming the problem and its byte offset when the
 * bytes are not a valid encoding; WEFT_ENOMEM. */
weft_err wf_table_decode(const uint8_t *buf, size_t len, wf_table *out,
                         char *err, size_t errlen);

/* As wf_table_decode, but the columns point into buf (checked the same
 * way, nothing copied; a column copies itself if it grows): buf must
 * outlive *out. Copies when buf is not 8-byte aligned. */
weft_err wf_table_decode_view(const uint8_t *buf, size_t len, wf_table *out,
                              char *err, size_t errlen);

/* Write the tables groups[0..n) as a columnar file at path (replaced
 * atomically: written to path.tmp, then renamed). Every group must have
 * the same column names and types. WEFT_EIO names the path and the cause
 * (a full disk included). */
weft_err wf_tfile_write(const char *path, const wf_table *groups, size_t n,
                        char *err, size_t errlen);

typedef struct wf_tfile wf_tfile;

/* Open a columnar file: checks the magic and the index. */
weft_err wf_tfile_open(const char *path, wf_tfile **out, char *err,
                       size_t errlen);

/* Row groups in the file. */
size_t wf_tfile_ngroups(const wf_tfile *f);

/* Read row group g into *out (initialised here). */
weft_err wf_tfile_read(wf_tfile *f, size_t g, wf_table *out, char *err,
                       size_t errlen);

/* Close (NULL is fine). */
void wf_tfile_close(wf_tfile *f);

#endif
