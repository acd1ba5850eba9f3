/* Columns and tables: the in-memory form of one dataframe partition.
 *
 * A column holds one type; every row may be null. Layout (Arrow-like, so
 * kernels run over plain arrays):
 * - I64, DATE, TS: int64_t v.i64[len]; DATE counts days and TS microseconds
 *   since 1970-01-01 (UTC).
 * - F64: double v.f64[len]. BOOL: uint8_t v.b[len], 0 or 1.
 * - STR: int64_t offs[len + 1] into chars; row i is the bytes
 *   chars[offs[i]] up to chars[offs[i + 1]], not NUL-terminated.
 * - valid: NULL when no row is null, else one byte per row (1 = present);
 *   a null row's slot holds 0 (numbers) or nothing (strings).
 *
 * This layer uses only the public API (DESIGN.md): memory comes from
 * malloc, errors are weft_err codes with a message set by the caller. */
#ifndef WF_DATAFRAME_COLUMN_H
#define WF_DATAFRAME_COLUMN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

typedef enum wf_coltype {
    WF_COL_I64 = 1,
    WF_COL_F64,
    WF_COL_BOOL,
    WF_COL_STR,
    WF_COL_DATE,
    WF_COL_TS,
} wf_coltype;

typedef struct wf_column {
    wf_coltype type;
    size_t len, cap; /* rows used / rows allocated */
    union {
        int64_t *i64; /* I64, DATE, TS */
        double *f64;
        uint8_t *b;
    } v;
    int64_t *offs; /* STR: cap + 1 entries */
    char *chars;   /* STR bytes */
    size_t chars_cap;
    uint8_t *valid; /* NULL = no nulls */
    /* the arrays point into a buffer owned elsewhere (a decoded view,
     * wf_table_decode_view): freeing leaves them, growing copies first */
    bool borrowed;
} wf_column;

typedef struct wf_table {
    size_t ncols, nrows;
    char **names; /* ncols NUL-terminated names, owned */
    wf_column *cols;
} wf_table;

/* Write a printf-style message into err[errlen] (if err) and return code:
 * the one way dataframe functions report what went wrong. */
weft_err wf_errf(weft_err code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Name of a column type ("int64", "float64", "bool", "string", "date",
 * "timestamp"); "?" if unknown. */
const char *wf_coltype_name(wf_coltype t);

/* Type named by s (the names above), 0 if none. */
wf_coltype wf_coltype_parse(const char *s);

/* An empty column of type t with room for cap rows. WEFT_ENOMEM. */
weft_err wf_col_init(wf_column *c, wf_coltype t, size_t cap);
void wf_col_free(wf_column *c);

/* Give a borrowed column copies of its arrays (no-op otherwise). */
weft_err wf_col_own(wf_column *c);

/* Make room for at least n rows (and, for STR, nchars bytes of text). */
weft_err wf_col_reserve(wf_column *c, size_t n, size_t nchars);

/* Append one value; the string forms copy n bytes. */
weft_err wf_col_push_i64(wf_column *c, int64_t v);
weft_err wf_col_push_f64(wf_column *c, double v);
weft_err wf_col_push_bool(wf_column *c, bool v);
weft_err wf_col_push_str(wf_column *c, const char *s, size_t n);
weft_err wf_col_push_null(wf_column *c);

/* Is row i present (not null)? */
static inline bool wf_col_present(const wf_column *c, size_t i)
{
    return c->valid == NULL || c->valid[i];
}

/* Row i of a STR column: its bytes and length. */
static inline const char *wf_col_str(const wf_column *c, size_t i, size_t *n)
{
    *n = (size_t)(c->offs[i + 1] - c->offs[i]);
    return c->chars + c->offs[i];
}

/* Give c a validity array (all rows present so far). */
weft_err wf_col_make_nullable(wf_column *c);

/* Number of null rows. */
size_t wf_col_null_count(const wf_column *c);

/* dst = the rows of src where keep[i] != 0 (dst is initialised here). */
weft_err wf_col_filter(const wf_column *src, const uint8_t *keep,
                       wf_column *dst);

/* dst = src[idx[0]], src[idx[1]], ... (n rows; dst initialised here). */
weft_err wf_col_take(const wf_column *src, const size_t *idx, size_t n,
                     wf_column *dst);

/* Append all rows of src to dst (same type). */
weft_err wf_col_append(wf_column *dst, const wf_column *src);

/* Tables. wf_table_init makes an empty table; add columns with
 * wf_table_add (which takes ownership of *col and copies name). */
void wf_table_init(wf_table *t);
weft_err wf_table_add(wf_table *t, const char *name, wf_column *col);
void wf_table_free(wf_table *t);

/* WEFT_EINVAL with "[fn: ]no column 'name' (the columns are: a, b, ...)"
 * in err (fn may be NULL): the one message for an unknown column. */
weft_err wf_table_no_column(const wf_table *t, const char *fn, const char *name,
                            char *err, size_t errlen);

/* Index of the column called name, or -1. */
long wf_table_find(const wf_table *t, const char *name);

#endif
