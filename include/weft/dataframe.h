/* weft dataframes: partitioned tables as lazy task graphs (Dask dataframe).
 *
 * A frame is a description of a computation over partitions: reading CSV
 * files (cut into partitions of about 64 MiB, also inside one file),
 * weft's columnar files or an in-memory table, then filters, new columns,
 * groupby, joins, sorts... Nothing runs until wd_compute (or wd_persist,
 * wd_to_csv, wd_to_file). Then the frame is optimised (only the columns
 * something uses are parsed; every chain of row-wise steps on a partition
 * runs as one task; reductions combine partials in a tree) and runs as
 * weft tasks: on threads, worker processes or a cluster, unchanged.
 *
 * Column types: int64, float64, bool, string, date (days since 1970),
 * timestamp (microseconds since 1970, UTC); any value may be null.
 * Expressions are pandas' query/eval strings: "age > 60 and condition ==
 * 'Hypertension'", "bmi = weight_kg / height_m ** 2" (docs/dataframes.md
 * has the grammar).
 *
 * Frames belong to their context and are freed with it. Functions that
 * return a frame return NULL on error, with wd_error(ctx) saying what and
 * where (an unknown column lists the columns there are; an expression
 * error points at its column). Not thread-safe: use a context from one
 * thread at a time. */
#ifndef WEFT_DATAFRAME_H
#define WEFT_DATAFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weft/weft.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_ctx wd_ctx;     /* a session: frames on one runtime */
typedef struct wd_frame wd_frame; /* a lazy partitioned table */
typedef struct wd_table wd_table; /* a computed table, yours to free */

typedef enum wd_type {
    WD_INT64 = 1,
    WD_FLOAT64,
    WD_BOOL,
    WD_STRING,
    WD_DATE,
    WD_TIMESTAMP,
} wd_type;

/* ------------------------------------------------------------ sessions */

/* A new session on rt. NULL when out of memory. */
wd_ctx *wd_ctx_new(weft_runtime *rt);

/* Free the session, its frames and what they persisted. NULL is fine. */
void wd_ctx_free(wd_ctx *ctx);

/* What the last failed call on ctx did wrong ("" if nothing). */
const char *wd_error(const wd_ctx *ctx);

/* Show tasks done/total, rate and elapsed time on stderr while computing,
 * when stderr is a terminal (off by default). */
void wd_set_progress(wd_ctx *ctx, bool on);

/* ------------------------------------------------------------ sources */

typedef struct wd_csv_options {
    char delimiter;          /* 0: ',' */
    bool no_header;          /* columns are then column_1, column_2, ... */
    const char *null_marker; /* also null besides empty fields ("NA") */
    /* types instead of inference: "age:int64,admitted:date" (names from
     * the header; types int64 float64 bool string date timestamp) */
    const char *schema;
    const char *columns;    /* read only these: "age,condition" */
    size_t partition_bytes; /* partition size; 0: 64 MiB */
    bool skip_bad_lines;    /* skip (and count) malformed rows */
    size_t sample_rows;     /* rows sampled for inference; 0: 1000 */
} wd_csv_options;

/* CSV files: one path or a glob (matches in name order; every file must
 * have the first's header). Reads headers and a sample now (types are
 * inferred from it) and checks the options; a file that does not exist, a
 * glob with no match or an empty file is an error now. opts may be NULL. */
wd_frame *wd_read_csv(wd_ctx *ctx, const char *path,
                      const wd_csv_options *opts);

/* The same for several paths or globs, read in the order given. */
wd_frame *wd_read_csv_files(wd_ctx *ctx, const char *const *paths, size_t n,
                            const wd_csv_options *opts);

/* How many malformed rows (ragged, or a value not of its column's type) a
 * wd_read_csv frame made with skip_bad_lines skips. Without
 * skip_bad_lines the first one is an error, as in wd_compute. Parses the
 * files again (in parallel); blocks. */
weft_err wd_bad_lines(wd_frame *f, uint64_t *count);

/* A columnar file written by wd_to_file: a partition per row group. */
wd_frame *wd_read_file(wd_ctx *ctx, const char *path);

/* A copy of t split into nparts partitions of about equal rows. */
wd_frame *wd_from_table(wd_ctx *ctx, const wd_table *t, size_t nparts);

/* ------------------------------------------------------------ operations */

/* The rows where the bool expression holds (pandas' query). */
wd_frame *wd_filter(wd_frame *f, const char *expr);

/* A new column, or a replaced one: "NAME = EXPR" (pandas' eval). */
wd_frame *wd_eval(wd_frame *f, const char *assignment);

/* These columns, in this order: "patient_id,age". */
wd_frame *wd_select(wd_frame *f, const char *columns);

/* One row per group of keys ("condition" or "sex,condition"), with the
 * aggregates asked, in order ("mean(sys_bp),count(age),size()": sum mean
 * count min max std var size, named as written), groups sorted by key;
 * rows with a null key are dropped and null values skipped, as pandas. */
wd_frame *wd_groupby(wd_frame *f, const char *keys, const char *aggs);

/* Aggregates over all rows ("sum(w),mean(age)"; the functions of
 * wd_groupby): one row, also when f has none (sums 0, means null), as
 * pandas' df.agg. */
wd_frame *wd_agg(wd_frame *f, const char *aggs);

typedef enum wd_how { WD_INNER, WD_LEFT } wd_how;

/* Hash join on key columns named the same in both ("id" or "a,b"):
 * every partition of left is joined with all of right (which should be
 * the smaller). Columns: left's, then right's but the keys; other shared
 * names get _x / _y. A null key matches nothing. */
wd_frame *wd_join(wd_frame *left, wd_frame *right, const char *on, wd_how how);

/* Sorted by columns, "-" for descending ("-bmi,patient_id"): stable,
 * nulls last. One partition. */
wd_frame *wd_sort(wd_frame *f, const char *by);

/* The first / last n rows. One partition. */
wd_frame *wd_head(wd_frame *f, size_t n);
wd_frame *wd_tail(wd_frame *f, size_t n);

/* Rows without nulls in the columns ("a,b"; NULL: in any column). */
wd_frame *wd_dropna(wd_frame *f, const char *columns);

/* Nulls of column replaced by value, written as in a CSV file ("0",
 * "unknown", "2024-01-31"); an error if it is not of the column's type. */
wd_frame *wd_fillna(wd_frame *f, const char *column, const char *value);

/* The rows of frames[0..n) one after the other: their partitions, in
 * order. Columns as pandas' concat: every name in the order first met,
 * null where a frame lacks it; int64 with float64 makes float64, other
 * differing types are an error. */
wd_frame *wd_concat(wd_frame *const *frames, size_t n);

/* Rows per distinct value of columns ("condition"), nulls dropped: the
 * columns and "count", by count descending then value. One partition. */
wd_frame *wd_value_counts(wd_frame *f, const char *columns);

/* The distinct values of column, in order of first appearance. */
wd_frame *wd_unique(wd_frame *f, const char *column);

/* pandas' describe() of the numeric columns: a "stat" column (count mean
 * std min 25% 50% 75% max) and one float64 column each. */
wd_frame *wd_describe(wd_frame *f);

/* ------------------------------------------------------------ expressions */

/* Expressions built with C functions, for wd_filter and wd_eval: each
 * returns the expression's text (kept until ctx is freed), or NULL on a
 * bad argument (wd_error says which) or a NULL argument, so calls nest:
 *   wd_filter(df, wd_bin(ctx, wd_col(ctx, "age"), ">", wd_int(ctx, 60)))
 * Column names are put in backticks and text literals quoted and escaped,
 * so values from a program never need quoting by hand. */
const char *wd_col(wd_ctx *ctx, const char *name); /* a column */
const char *wd_int(wd_ctx *ctx, int64_t v);        /* an int64 literal */
const char *wd_num(wd_ctx *ctx, double v);         /* a float64 (finite) */
const char *wd_str(wd_ctx *ctx, const char *s);    /* a text literal */
/* (a op b), op one of + - * / // % ** == != < <= > >= and or */
const char *wd_bin(wd_ctx *ctx, const char *a, const char *op, const char *b);
const char *wd_not(wd_ctx *ctx, const char *a);
/* fn(a), fn one of abs sqrt exp log log10 floor ceil round isnull notnull */
const char *wd_fn(wd_ctx *ctx, const char *fn, const char *a);
/* "name = a", for wd_eval */
const char *wd_assign(wd_ctx *ctx, const char *name, const char *a);

/* ------------------------------------------------------------ the frame */

/* Partitions, columns, and column i's name and type (the schema is known
 * before anything runs). */
size_t wd_nparts(const wd_frame *f);
size_t wd_ncols(const wd_frame *f);
const char *wd_col_name(const wd_frame *f, size_t i);
wd_type wd_col_type(const wd_frame *f, size_t i);

/* ------------------------------------------------------------ running */

/* Run f and return its rows as one table (NULL on failure: wd_error). */
wd_table *wd_compute(wd_frame *f);

/* Run f and keep its partitions in the object store: frames built on f
 * start from them instead of recomputing f. */
weft_err wd_persist(wd_frame *f);

/* Run f and write it as CSV to path (a header line, then every partition
 * in order as it arrives; never the whole frame in memory). */
weft_err wd_to_csv(wd_frame *f, const char *path);

/* Run f and write it to path as weft's columnar file (a row group per
 * partition, read back with wd_read_file at disk speed). */
weft_err wd_to_file(wd_frame *f, const char *path);

/* Write the task graph f runs (after optimisation) as Graphviz DOT, or as
 * SVG when path ends in .svg (needs Graphviz's dot). */
weft_err wd_visualize(wd_frame *f, const char *path);

/* Tasks f's graph has before and after optimisation. */
weft_err wd_graph_size(wd_frame *f, size_t *before, size_t *after);

/* ------------------------------------------------------------ tables */

size_t wd_table_nrows(const wd_table *t);
size_t wd_table_ncols(const wd_table *t);
const char *wd_table_col_name(const wd_table *t, size_t col);
wd_type wd_table_col_type(const wd_table *t, size_t col);
/* Index of the column called name, or -1. */
long wd_table_find(const wd_table *t, const char *name);
/* Is the value at (row, col) null? */
bool wd_table_is_null(const wd_table *t, size_t row, size_t col);
/* The value at (row, col): int64/date/timestamp as i64, numbers as f64
 * (int64 converts), bool, string (not NUL-terminated: *len bytes). 0 /
 * NaN / false / "" for a null or a column of another type. */
int64_t wd_table_i64(const wd_table *t, size_t row, size_t col);
double wd_table_f64(const wd_table *t, size_t row, size_t col);
bool wd_table_bool(const wd_table *t, size_t row, size_t col);
const char *wd_table_str(const wd_table *t, size_t row, size_t col,
                         size_t *len);
/* Print as pandas prints a DataFrame (at most max_rows rows, then the
 * first and last 5 and a shape line). */
void wd_table_print(FILE *f, const wd_table *t, size_t max_rows);
/* Write as CSV (header line, round-trip numbers). WEFT_EIO on a failed
 * stream. */
weft_err wd_table_write_csv(FILE *f, const wd_table *t);
void wd_table_free(wd_table *t);

#ifdef __cplusplus
}
#endif
#endif
