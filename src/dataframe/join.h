/* Hash join of two tables on key columns, as pandas' merge(how="inner" or
 * "left"): the right table is hashed, the left one probes it. */
#ifndef WF_DATAFRAME_JOIN_H
#define WF_DATAFRAME_JOIN_H

#include <stdbool.h>
#include <stddef.h>

#include "dataframe/column.h"

typedef enum wf_join_how {
    WF_JOIN_INNER,
    WF_JOIN_LEFT,
} wf_join_how;

/* *out = left joined with right where left's columns lkeys[i] equal
 * right's rkeys[i] (i < nkeys; the same types). Rows come in left's order,
 * each left row's matches in right's order; a left join keeps unmatched
 * left rows with nulls in right's columns. Columns: left's, then right's
 * except the keys named the same on both sides (kept once, as pandas'
 * on=); other names found on both sides get "_x" (left) and "_y" (right).
 * A null key matches nothing (SQL's rule; pandas matches NaN with NaN).
 * WEFT_EINVAL names an unknown key column or keys of different types. */
weft_err wf_join(const wf_table *left, const wf_table *right,
                 const char *const *lkeys, const char *const *rkeys,
                 size_t nkeys, wf_join_how how, wf_table *out, char *err,
                 size_t errlen);

/* wf_join producing only the output columns named keep[0..nkeep) (by
 * their output names; keep NULL: all). */
weft_err wf_join_cols(const wf_table *left, const wf_table *right,
                      const char *const *lkeys, const char *const *rkeys,
                      size_t nkeys, wf_join_how how, const char *const *keep,
                      size_t nkeep, wf_table *out, char *err, size_t errlen);

#endif
