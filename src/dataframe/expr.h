/* Dataframe expressions, as in pandas' `query` and `eval`: parsed from a
 * short string, checked against a table's columns, and evaluated over a
 * whole partition at once (a node at a time, a tight loop per operator
 * and type; no work per row beyond the arithmetic).
 *
 * Grammar (Python's precedence, lowest first):
 *   [NAME =] expr        the assignment form, for eval ("bmi = w / h ** 2")
 *   or, |                (also `and`, &; `not`, ~ bind tighter)
 *   comparisons          == != < <= > >= (chained: 18 <= age < 65 is
 *                        18 <= age and age < 65), x in [...], x not in [...]
 *   + -   then   * / // %   then   unary -   then   **  (right to left)
 *   atoms                numbers (1, 2.5, 1e-3), 'text' or "text" (\\ and
 *                        the quote escaped by \), True, False, None,
 *                        column names (identifiers, or `any name` in
 *                        backticks), f(x) for abs sqrt exp log log10 floor
 *                        ceil round(x[, digits]) isnull notnull, ( expr )
 *
 * Types and values (pandas' rules with NaN for null):
 * - int64 + - * // % int64 -> int64; / -> float64; ** with a literal
 *   exponent >= 0 -> int64, else float64; with a float64 -> float64; bool
 *   counts as int64 in arithmetic.
 * - // and % floor as Python does (the sign of % follows the divisor); an
 *   int64 // or % by zero is null; float64 follows IEEE (inf, nan).
 * - Comparisons give bool: numbers with numbers, strings with strings
 *   (bytewise), dates/timestamps with each other or with a 'YYYY-MM-DD'
 *   (or timestamp) text literal, bools with bools. A comparison with null
 *   is false, except != which is true (NaN's rule).
 * - and/or take bools and count null as false; not of null is null.
 *   isnull/notnull are never null. Arithmetic and functions of null are
 *   null; `x in [...]` of null is false (`not in`: true).
 * Errors (syntax, unknown column, types) say what and name the 1-based
 * column of the string, followed by the string and a caret under that
 * column on the next two lines. */
#ifndef WF_DATAFRAME_EXPR_H
#define WF_DATAFRAME_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "dataframe/column.h"

typedef struct wf_expr wf_expr;

/* Parse src. WEFT_EINVAL with err[errlen] set on a syntax error;
 * WEFT_ENOMEM. */
weft_err wf_expr_parse(const char *src, wf_expr **out, char *err,
                       size_t errlen);

/* Check e against columns names[0..n) of the given types (a partition's
 * schema) and fix every node's type. WEFT_EINVAL (unknown column, listing
 * those there are; a type mismatch) with err set. Must succeed before
 * wf_expr_eval. */
weft_err wf_expr_bind(wf_expr *e, const char *const *names,
                      const wf_coltype *types, size_t n, char *err,
                      size_t errlen);

/* The result type (after wf_expr_bind). */
wf_coltype wf_expr_type(const wf_expr *e);

/* The assignment's target ("bmi" in "bmi = w / h ** 2"), or NULL. */
const char *wf_expr_target(const wf_expr *e);

/* The distinct columns e reads, in first-use order: fills names[0..cap)
 * and returns how many there are. */
size_t wf_expr_columns(const wf_expr *e, const char **names, size_t cap);

/* Evaluate e over t (which has the columns e was bound to, by name) into
 * *out (initialised here): t->nrows rows of wf_expr_type(e). */
weft_err wf_expr_eval(const wf_expr *e, const wf_table *t, wf_column *out,
                      char *err, size_t errlen);

/* The rows of t where the bool expression e is true, as a new table
 * *out (initialised here). */
weft_err wf_expr_filter(const wf_expr *e, const wf_table *t, wf_table *out,
                        char *err, size_t errlen);

void wf_expr_free(wf_expr *e);

#endif
