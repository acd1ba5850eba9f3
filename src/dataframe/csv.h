/* CSV reader: plan a read of files into partitions, then parse each
 * partition into a wf_table on its own (any thread or process).
 *
 * Two steps, so a task layer can fan the work out:
 *   1. wf_csv_plan_open: expand paths and globs (names sorted), read each
 *      file's header (every header must match the first file's), infer the
 *      column types from a sample of the first file (sample_rows rows in
 *      10 blocks spread over its first 64 MiB, whatever the partition
 *      size) or take them from an explicit schema, and cut every file into
 *      partitions of about partition_bytes at row boundaries. Reads only
 *      headers, the sample and a small window at each cut.
 *   2. wf_csv_parse_part: parse partition i into a table of the projected
 *      columns. The plan is read only here, so any number of threads may
 *      parse partitions of one plan at once.
 *
 * Format (RFC 4180, plus what real files do):
 * - Fields separated by `delimiter`, rows ended by LF or CRLF; a missing
 *   final newline is fine; a UTF-8 BOM at the start of a file is skipped;
 *   blank lines (also "\r\n" alone) are skipped anywhere. A lone CR inside
 *   a field is data.
 * - A field starting with `quote` runs to the matching quote; inside, a
 *   doubled quote is one quote, and delimiters and newlines are data. Text
 *   after the closing quote up to the delimiter is appended as is, and a
 *   quote inside an unquoted field is data (as pandas reads them).
 * - Nulls: an unquoted empty field is null in every column, and so is an
 *   unquoted field equal to null_marker when one is set. A quoted empty
 *   field ("") is the empty string in a string column, null elsewhere; a
 *   quoted "NA" is the string NA.
 * - Header names: an empty name becomes "Unnamed: i" (i = 0-based field
 *   number) and a repeated name gets ".1", ".2", ... as in pandas. Without
 *   a header, columns are "column_1", "column_2", ...
 * - Types: int64 ([+-]digits, overflow is an error), float64 (decimal with
 *   optional fraction and exponent, inf, nan; correctly rounded), bool
 *   (true/false, True/False, TRUE/FALSE), date (YYYY-MM-DD, days since
 *   1970-01-01), timestamp (YYYY-MM-DD[( |T)HH:MM:SS[.fraction][Z]], UTC
 *   microseconds, a date alone is midnight; digits beyond microseconds are
 *   dropped), string.
 *   Inference over the sample: all int64 -> int64, int64 and float64 ->
 *   float64, date and timestamp -> timestamp, any other mix -> string, no
 *   value at all -> string.
 *
 * Partition cuts: with split WF_CSV_SPLIT_FAST (the default) a cut is put
 * after the first newline past the target offset from which the next rows
 * tokenise with the header's field count; this is a guess when quoted fields
 * hold newlines. Every partition checks its guess exactly: the last row it
 * parses must end right at its end offset (the next partition's start); if
 * it does not, the cut was inside a quoted field, and the partition fails
 * with stats.misaligned set. Because partition 0 starts at a true row start,
 * the lowest-numbered failing partition always reports the true cause; on a
 * misaligned failure, plan again with WF_CSV_SPLIT_EXACT (wf_csv_read does
 * this itself), which finds the cuts by tracking quotes from the start of
 * each file (reads every file once more at plan time).
 *
 * Errors: every function returns a weft_err and writes a message naming
 * file, line (1-based, the header is line 1; a row's line is where it
 * starts) and column (1-based field number and name) into err[errlen]:
 * WEFT_EIO for a file that cannot be opened or read (with strerror),
 * WEFT_EINVAL for bad input (ragged row, unparseable value, unterminated
 * quote, empty file, no file matched, bad options), WEFT_ERANGE for an
 * integer outside int64, WEFT_ENOMEM. Line numbers are counted only when
 * an error is reported. */
#ifndef WF_DATAFRAME_CSV_H
#define WF_DATAFRAME_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataframe/column.h"

/* A column name with its type (an explicit schema entry). */
typedef struct wf_csv_field {
    const char *name;
    wf_coltype type;
} wf_csv_field;

typedef enum wf_csv_split {
    WF_CSV_SPLIT_FAST = 0, /* guess cuts near the target, checked by parse */
    WF_CSV_SPLIT_EXACT,    /* track quotes from the file start */
} wf_csv_split;

typedef struct wf_csv_options {
    char delimiter;          /* ',' */
    char quote;              /* '"'; 0 turns quoting off */
    bool header;             /* true: the first row names the columns */
    const char *null_marker; /* NULL: only empty fields are null */
    /* Explicit types. With a header, entry {name, type} sets the type of
     * the column called name (error if there is none); without one, entry
     * i names and types field i. Columns not covered are inferred. */
    const wf_csv_field *schema;
    size_t nschema;
    size_t sample_rows; /* rows sampled for inference (1000) */
    /* Projection: parse only these columns, in this order (NULL: all, in
     * file order). Other fields are skipped without conversion. */
    const char *const *columns;
    size_t ncolumns;
    size_t partition_bytes; /* target partition size (64 MiB) */
    bool skip_bad_lines;    /* count malformed rows instead of failing */
    wf_csv_split split;
} wf_csv_options;

/* One partition: rows starting in bytes [start, end) of files[file]. */
typedef struct wf_csv_part {
    size_t file;
    uint64_t start, end;
} wf_csv_part;

/* The result of planning. Fields are read-only for callers. */
typedef struct wf_csv_plan {
    size_t nfiles;
    char **files;         /* matched paths, in order */
    uint64_t *data_start; /* per file: first byte after BOM and header */
    size_t nfields;       /* fields per row in every file */
    char **field_names;   /* nfields names (after renaming) */
    wf_coltype *field_types;
    float *field_width; /* average value length in the sample */
    size_t ncols;       /* output columns */
    size_t *cols;       /* output column j is field cols[j] */
    size_t nparts;
    wf_csv_part *parts;
    double row_bytes; /* average row length in the sample */
    /* options the parser needs (copies) */
    char delimiter, quote;
    bool skip_bad_lines;
    char *null_marker; /* NULL or owned copy */
} wf_csv_plan;

/* What a parse saw. */
typedef struct wf_csv_stats {
    uint64_t rows;      /* rows parsed into the table */
    uint64_t bad_lines; /* malformed rows skipped (skip_bad_lines) */
    uint64_t bytes;     /* bytes of the file read for these rows */
    bool misaligned;    /* failed: a FAST cut fell inside a quoted field */
} wf_csv_stats;

/* Fill *o with the defaults above. */
void wf_csv_options_defaults(wf_csv_options *o);

/* Plan a read of the files named by paths[0..npaths) (each a path or a
 * glob pattern; a glob's matches are sorted by name). On success *out is a
 * new plan (free with wf_csv_plan_free). opts NULL means the defaults.
 * Blocks (reads headers and samples). Thread-safe. */
weft_err wf_csv_plan_open(const char *const *paths, size_t npaths,
                          const wf_csv_options *opts, wf_csv_plan **out,
                          char *err, size_t errlen);

/* Free a plan (NULL is fine). */
void wf_csv_plan_free(wf_csv_plan *plan);

/* Parse partition `part` of plan into *out (initialised here; on failure
 * it is left empty). stats may be NULL. Blocks on file reads. Thread-safe
 * for one plan: concurrent calls may parse different (or the same)
 * partitions. */
weft_err wf_csv_parse_part(const wf_csv_plan *plan, size_t part, wf_table *out,
                           wf_csv_stats *stats, char *err, size_t errlen);

/* Plan and parse every partition in turn into one table *out (initialised
 * here); on a misaligned FAST cut, plans again with EXACT cuts. stats (may
 * be NULL) sums all partitions. Blocks. */
weft_err wf_csv_read(const char *const *paths, size_t npaths,
                     const wf_csv_options *opts, wf_table *out,
                     wf_csv_stats *stats, char *err, size_t errlen);

/* Serialise the plan (everything wf_csv_parse_part needs) to a malloc'd
 * buffer *buf of *len bytes, to parse partitions in another process. */
weft_err wf_csv_plan_encode(const wf_csv_plan *plan, uint8_t **buf,
                            size_t *len);

/* Rebuild a plan from wf_csv_plan_encode's bytes (checked; WEFT_EINVAL if
 * malformed). Free the result with wf_csv_plan_free. */
weft_err wf_csv_plan_decode(const uint8_t *buf, size_t len, wf_csv_plan **out);

#endif
