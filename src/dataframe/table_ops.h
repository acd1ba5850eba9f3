/* Whole-table operations: select, head, concat, sort, and output as a
 * pandas-style text table or as CSV. */
#ifndef WF_DATAFRAME_TABLE_OPS_H
#define WF_DATAFRAME_TABLE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dataframe/column.h"

/* *out = the columns names[0..n) of t, in that order (copies).
 * WEFT_EINVAL naming an unknown column and listing those there are. */
weft_err wf_table_select(const wf_table *t, const char *const *names, size_t n,
                         wf_table *out, char *err, size_t errlen);

/* *out = the first n rows of t (all of them if fewer). */
weft_err wf_table_head(const wf_table *t, size_t n, wf_table *out);

/* Append the rows of src to *dst (same column names and types; an empty
 * dst takes src's columns). WEFT_EINVAL names the first difference. */
weft_err wf_table_append(wf_table *dst, const wf_table *src, char *err,
                         size_t errlen);

/* *out = t sorted by keys[0..n), each descending where desc[i]: stable,
 * nulls last (pandas' na_position='last'), text bytewise. */
weft_err wf_table_sort(const wf_table *t, const char *const *keys,
                       const bool *desc, size_t n, wf_table *out, char *err,
                       size_t errlen);

/* Print t as pandas prints a DataFrame: an index column, right-aligned
 * columns, floats with at most 6 decimals (the same number down a
 * column), NaN / None / NaT for nulls; more than max_rows rows print the
 * first and last 5 with "..." between, then "[R rows x C columns]". */
void wf_table_print(FILE *f, const wf_table *t, size_t max_rows);

/* Write t as CSV: a header line (when header), fields quoted only when
 * they hold the delimiter, a quote or a line break, numbers with the
 * fewest digits that read back to the same double, nulls empty, dates
 * YYYY-MM-DD, timestamps YYYY-MM-DD HH:MM:SS[.ffffff]. WEFT_EIO when the
 * stream fails (a full disk). */
weft_err wf_table_write_csv(FILE *f, const wf_table *t, bool header);

/* The text of row i of c as wf_table_write_csv writes it (no quoting) in
 * buf[cap]; returns the length, 0 for a null. */
size_t wf_cell_text(const wf_column *c, size_t i, char *buf, size_t cap);

#endif
