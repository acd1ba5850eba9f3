/* Inside the lazy dataframes (include/weft/dataframe.h): the program a
 * partition task runs, shared by the lowering (df.c) and the kernels
 * (df_kernels.c).
 *
 * A frame's partition is made by ONE kernel call, wd_k_part, that runs a
 * program of steps over a table: a source step (a CSV partition, a row
 * group of a columnar file, or a table handed in as input 0) then row-wise
 * steps in order. Tables travel between tasks encoded (table_io.h).
 *
 * Program: u32 nsteps, then per step u8 op, u32 nstr, nstr x (u32 len,
 * bytes), u64 n. Strings hold expressions and lists ('\n'-joined). */
#ifndef WF_DATAFRAME_DF_INT_H
#define WF_DATAFRAME_DF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dataframe/column.h"

typedef enum wd_op {
    WD_SRC_CSV = 1, /* input 0: an encoded CSV plan; n: the partition */
    WD_SRC_FILE,    /* s0: path; n: the row group */
    WD_SRC_IN,      /* input 0: a table */
    WD_FILTER,      /* s0: expression */
    WD_EVAL,        /* s0: assignment */
    WD_SELECT,      /* s0: columns */
    WD_DROPNA,      /* s0: columns ("" = all) */
    WD_FILLNA,      /* s0: column, s1: value */
    WD_HEAD,        /* n rows */
    WD_TAIL,        /* n rows */
    WD_SORT,        /* s0: columns, s1: '-' or '+' per column */
    WD_JOIN,        /* input n: the right table; s0: keys; s1: "inner"/"left" */
    WD_GB_PARTIAL,  /* s0: keys, s1: aggregates */
    WD_VC_PARTIAL,  /* s0: columns */
    WD_UQ_PARTIAL,  /* s0: column */
    WD_DS_PARTIAL,  /* describe */
    WD_CAST,        /* s0: columns, s1: their type names: exactly these
                       columns in this order, int64 made float64 where
                       asked, all nulls where the table has no such column
                       (concat of frames with different columns) */
    WD_BADCOUNT,    /* right after WD_SRC_CSV: one row, "bad_lines" skipped */
} wd_op;

#define WD_MAX_STR 3

typedef struct wd_step {
    wd_op op;
    const char *s[WD_MAX_STR]; /* NUL-terminated copies while decoding */
    size_t nstr;
    uint64_t n;
} wd_step;

/* The row-wise steps on a whole table, also used to check operations on
 * empty tables when frames are made: keep the rows where src holds; add
 * or replace the column "NAME = EXPR"; sort by the '\n'-joined cols, dirs
 * holding '-' (descending) or '+' per column. */
weft_err wd_apply_filter(wf_table *t, const char *src, char *err,
                         size_t errlen);
weft_err wd_apply_eval(wf_table *t, const char *src, char *err, size_t errlen);
weft_err wd_apply_sort(wf_table *t, const char *cols, const char *dirs,
                       char *err, size_t errlen);

/* The WD_CAST step on t: cols and types '\n'-joined. */
weft_err wd_apply_cast(wf_table *t, const char *cols, const char *types,
                       char *err, size_t errlen);

/* dropna (s0: columns, "" all), fillna (s0 column, s1 value) and the
 * partial steps of value_counts (s0: columns), unique (s0: column) and
 * describe on t. */
weft_err wd_apply_stats(wf_table *t, wd_op op, const char *const *s, char *err,
                        size_t errlen);

/* A reduction's combine (final 0: ts[0..n) -> one partial) or final step
 * (final 1: ts[0] -> the result); op is its partial step (groupby: s0 keys,
 * s1 aggregates). */
weft_err wd_reduce_tables(wd_op op, int final, const char *const *s,
                          const wf_table *ts, size_t n, wf_table *out,
                          char *err, size_t errlen);

typedef struct wd_ctx wd_ctx;

/* Keep s (malloc'd) until ctx is freed and return it; NULL (and s freed)
 * when out of memory. */
const char *wd_ctx_keep(wd_ctx *ctx, char *s);

/* Set ctx's error message. */
void wd_ctx_fail(wd_ctx *ctx, const char *what);

/* Split a '\n'-joined list in place into out[0..cap); returns the count. */
size_t wd_unjoin(char *s, char **out, size_t cap);

#endif
