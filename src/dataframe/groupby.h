/* Group by and aggregate, as pandas' df.groupby(keys).agg(...), in three
 * steps so partitions can be reduced in parallel and combined in a tree:
 *
 *   wf_groupby_partial   one partition -> a partial table (per group: the
 *                        keys and each aggregate's running state)
 *   wf_groupby_combine   several partial tables -> one
 *   wf_groupby_final     a partial table -> the result: the keys, then the
 *                        aggregates in the order asked, named "fn(col)"
 *                        ("size()" for size); groups sorted by key
 *
 * pandas' meaning throughout: rows whose key holds a null are dropped
 * (dropna=True); nulls in a value column are skipped; sum of int64 is
 * int64 (of float64, float64) and 0 for a group without values; mean,
 * std and var are float64 and null without values (std, var with one
 * degree of freedom: null with fewer than 2); min and max keep the
 * column's type and are null without values; count (non-null values) and
 * size (rows) are int64. std and var combine exactly-rounded running
 * moments (Chan et al.), so the result does not depend on the split. */
#ifndef WF_DATAFRAME_GROUPBY_H
#define WF_DATAFRAME_GROUPBY_H

#include <stddef.h>

#include "dataframe/column.h"

typedef enum wf_agg_fn {
    WF_AGG_SUM,
    WF_AGG_MEAN,
    WF_AGG_COUNT,
    WF_AGG_MIN,
    WF_AGG_MAX,
    WF_AGG_STD,
    WF_AGG_VAR,
    WF_AGG_SIZE,
} wf_agg_fn;

typedef struct wf_agg {
    wf_agg_fn fn;
    char *col; /* owned; NULL for size */
} wf_agg;

/* Parse "mean(sys_bp),count(age),size()" into a new array *aggs of *n.
 * WEFT_EINVAL naming the unknown function or the bad item and its
 * 1-based column. Free with wf_aggs_free. */
weft_err wf_aggs_parse(const char *spec, wf_agg **aggs, size_t *n, char *err,
                       size_t errlen);
void wf_aggs_free(wf_agg *aggs, size_t n);

/* The partial table of t grouped by keys[0..nkeys) for aggs[0..naggs).
 * No keys (nkeys 0) aggregates all rows into one group, also when t has
 * no rows (pandas' df.agg: sums 0, means null).
 * WEFT_EINVAL names an unknown column or an aggregate that does not apply
 * to its column's type (sum/mean/std/var need numbers). */
weft_err wf_groupby_partial(const wf_table *t, const char *const *keys,
                            size_t nkeys, const wf_agg *aggs, size_t naggs,
                            wf_table *out, char *err, size_t errlen);

/* One partial table from parts[0..n) (all made with the same keys and
 * aggs). */
weft_err wf_groupby_combine(const wf_table *parts, size_t n, size_t nkeys,
                            const wf_agg *aggs, size_t naggs, wf_table *out,
                            char *err, size_t errlen);

/* The result table from a partial one. */
weft_err wf_groupby_final(const wf_table *partial, size_t nkeys,
                          const wf_agg *aggs, size_t naggs, wf_table *out,
                          char *err, size_t errlen);

#endif
