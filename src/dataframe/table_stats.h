/* Table-level operations as pure functions on wf_table: tail, dropna,
 * fillna, concat, and value_counts / unique / describe in three steps so a
 * partitioned dataframe can reduce partitions on their own and combine the
 * results in a tree (as groupby.h):
 *
 *   *_partial   one partition -> a partial table
 *   *_combine   partial tables, in partition order -> one partial table
 *   *_final     a partial table -> the result
 *
 * final(combine(partial(p0), ..., partial(pk))) equals final(partial(t))
 * for any split of t into consecutive parts p0..pk (describe's mean and
 * std up to rounding: they combine running moments).
 *
 * "Null" follows pandas throughout: a row that is not present, or a
 * float64 NaN. Result columns hold nulls as not-present rows (never NaN).
 * Errors: WEFT_EINVAL (or WEFT_ETYPE for a type clash) with a message in
 * err[errlen] naming the function and the column. */
#ifndef WF_DATAFRAME_TABLE_STATS_H
#define WF_DATAFRAME_TABLE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataframe/column.h"

/* *out = the last n rows of t (all of them if fewer). */
weft_err wf_table_tail(const wf_table *t, size_t n, wf_table *out);

typedef enum wf_dropna_how {
    WF_DROPNA_ANY = 0, /* drop a row with a null in any subset column */
    WF_DROPNA_ALL,     /* drop a row only if all subset columns are null */
} wf_dropna_how;

/* *out = the rows of t kept by pandas' dropna(subset, how): subset names
 * nsubset columns, NULL means all columns (an empty subset keeps every
 * row). WEFT_EINVAL naming an unknown column. */
weft_err wf_table_dropna(const wf_table *t, const char *const *subset,
                         size_t nsubset, wf_dropna_how how, wf_table *out,
                         char *err, size_t errlen);

/* A typed value for wf_table_fillna. Text is s[0..n) (not owned). */
typedef struct wf_scalar {
    wf_coltype type;
    union {
        int64_t i64; /* I64; days for DATE, microseconds for TS */
        double f64;
        bool b;
        struct {
            const char *s;
            size_t n;
        } str;
    } v;
} wf_scalar;

/* *out = t with the nulls of column col replaced by value, which must fit
 * the column's type: the same type, an int64 for a float64 column, an
 * integral float64 within range for an int64 column, a date for a
 * timestamp column (its midnight). WEFT_EINVAL names an unknown column;
 * WEFT_ETYPE names the column, its type and the value's. */
weft_err wf_table_fillna(const wf_table *t, const char *col,
                         const wf_scalar *value, wf_table *out, char *err,
                         size_t errlen);

/* wf_table_fillna with the value given as text, parsed for the column's
 * type as the CSV reader parses a field (int64, float64 incl. nan/inf,
 * true/false, YYYY-MM-DD, YYYY-MM-DD HH:MM:SS[.f], any text for string).
 * WEFT_EINVAL names the column, its type and the text that does not fit. */
weft_err wf_table_fillna_text(const wf_table *t, const char *col,
                              const char *value, wf_table *out, char *err,
                              size_t errlen);

/* *out = the rows of tables[0], then tables[1], ... (pandas' concat of
 * frames with the same columns). Columns take the first table's order and
 * are matched by name in the others; every table must have exactly those
 * names. Types unify as equal types, or int64 with float64 -> float64,
 * or date with timestamp -> timestamp. WEFT_EINVAL names a missing or
 * extra column and its table (0-based), or a name table 0 has twice;
 * WEFT_ETYPE names a column whose types do not unify; WEFT_ERANGE a date
 * beyond the timestamp range. n == 0 gives an empty table. */
weft_err wf_table_concat(const wf_table *tables, size_t n, wf_table *out,
                         char *err, size_t errlen);

/* value_counts over the columns cols[0..ncols) (pandas'
 * df.value_counts(subset=cols, dropna=dropna), or s.value_counts() for one
 * column). Partial layout: the key columns (their names and types), one
 * row per distinct key, then "count" int64. With dropna, rows with a null
 * in any key column are skipped; without, null is a key value of its own
 * (float NaN and null are the same key). WEFT_EINVAL: an unknown column,
 * a column given twice, a key column called "count", no columns. */
weft_err wf_value_counts_partial(const wf_table *t, const char *const *cols,
                                 size_t ncols, bool dropna, wf_table *out,
                                 char *err, size_t errlen);

/* One partial table from parts[0..n) (same key columns). */
weft_err wf_value_counts_combine(const wf_table *parts, size_t n, wf_table *out,
                                 char *err, size_t errlen);

/* The result from a partial table: its rows sorted by count descending,
 * ties by the key columns ascending (first column first; numbers by value,
 * text bytewise, false < true, nulls last). pandas orders ties by first
 * appearance (Series) or does not promise an order (DataFrame). */
weft_err wf_value_counts_final(const wf_table *partial, wf_table *out,
                               char *err, size_t errlen);

/* unique over column col: pandas' s.unique(), the distinct values in the
 * order of first appearance, null (also NaN) included once where it first
 * appears. Partial layout: one column, named col, of those values; combine
 * keeps first appearance when parts are given in partition order; final
 * copies. WEFT_EINVAL names an unknown column. */
weft_err wf_unique_partial(const wf_table *t, const char *col, wf_table *out,
                           char *err, size_t errlen);

/* One partial table from parts[0..n) in partition order (one column
 * each). */
weft_err wf_unique_combine(const wf_table *parts, size_t n, wf_table *out,
                           char *err, size_t errlen);

/* The result (a copy of the partial table's one column). */
weft_err wf_unique_final(const wf_table *partial, wf_table *out, char *err,
                         size_t errlen);

/* describe: pandas' df.describe() over the int64 and float64 columns (bool,
 * text, dates are left out, as pandas leaves out bool and text), nulls
 * and NaN skipped. Result: column "stat" (string: count, mean, std, min,
 * 25%, 50%, 75%, max), then one float64 column per described column. std
 * has one degree of freedom; a statistic without enough values (mean,
 * min... of none, std of fewer than 2) is null. Quantiles interpolate
 * linearly (numpy's default, as pandas). Infinite values are not handled
 * as pandas does (they poison mean and std here).
 *
 * Partial layout: one float64 column per described column, same name;
 * row 0 = count, row 1 = mean, row 2 = sum of squared deviations (M2),
 * then the column's non-null values in ascending order, then nulls to
 * fill the table. combine merges the sorted values and the moments (Chan
 * et al.). WEFT_EINVAL: no int64 or float64 column; combine/final name a
 * part that does not have the layout. */
weft_err wf_describe_partial(const wf_table *t, wf_table *out, char *err,
                             size_t errlen);

/* One partial table from parts[0..n) (same columns): values merged pairwise
 * (N log n), moments combined. */
weft_err wf_describe_combine(const wf_table *parts, size_t n, wf_table *out,
                             char *err, size_t errlen);

/* The "stat" table from a partial one. */
weft_err wf_describe_final(const wf_table *partial, wf_table *out, char *err,
                           size_t errlen);

#endif
