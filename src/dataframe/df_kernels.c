/* The kernels lazy dataframes run (see df_int.h): a partition's program,
 * the combine and final steps of reductions, and gathering partitions
 * into one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/csv.h"
#include "dataframe/df_int.h"
#include "dataframe/expr.h"
#include "dataframe/groupby.h"
#include "dataframe/join.h"
#include "dataframe/table_io.h"
#include "dataframe/table_ops.h"
#include "dataframe/table_stats.h"
#include "graph/graph.h"

#define MAX_LIST 1024

size_t wd_unjoin(char *s, char **out, size_t cap)
{
    size_t n = 0;
    if (!*s)
        return 0;
    for (char *p = s; p && n < cap;) {
        out[n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    return n;
}

/* ------------------------------------------------------------ programs */

typedef struct reader {
    const uint8_t *p;
    size_t len, off;
} reader;

static bool rd(reader *r, void *dst, size_t n)
{
    if (n > r->len - r->off)
        return false;
    memcpy(dst, r->p + r->off, n);
    r->off += n;
    return true;
}

/* Decode the next step; its strings are malloc'd into st->s. */
static bool next_step(reader *r, wd_step *st)
{
    uint8_t op;
    uint32_t ns;
    memset(st, 0, sizeof *st);
    if (!rd(r, &op, 1) || !rd(r, &ns, 4) || ns > WD_MAX_STR)
        return false;
    st->op = (wd_op)op;
    for (uint32_t i = 0; i < ns; i++) {
        uint32_t l;
        char *s;
        if (!rd(r, &l, 4) || l > r->len - r->off || !(s = malloc(l + 1)))
            return false;
        memcpy(s, r->p + r->off, l);
        s[l] = '\0';
        r->off += l;
        st->s[st->nstr++] = s;
    }
    return rd(r, &st->n, 8);
}

static void step_free(wd_step *st)
{
    for (size_t i = 0; i < st->nstr; i++)
        free((char *)st->s[i]);
    st->nstr = 0;
}

/* ------------------------------------------------------------ tables */

static weft_err in_table(wg_call *c, size_t i, wf_table *t, char *err,
                         size_t errlen)
{
    const weft_value *v = wg_in(c, i);
    if (!v || v->type != WEFT_T_BYTES)
        return wf_errf(WEFT_EINVAL, err, errlen, "input %zu is not a table", i);
    return wf_table_decode_view(v->u.buf.data, v->u.buf.len, t, err, errlen);
}

static weft_err out_table(wg_call *c, const wf_table *t)
{
    size_t len = wf_table_encoded_size(t);
    void *buf;
    weft_err e = wg_out_alloc(c, WEFT_T_BYTES, 0, 0, NULL, len, &buf);
    if (!e)
        e = wf_table_encode_into(t, buf, len);
    return e;
}

static void replace(wf_table *t, wf_table *with)
{
    wf_table_free(t);
    *t = *with;
}

/* src parsed and bound to t's columns. */
static weft_err bound(const char *src, const wf_table *t, wf_expr **out,
                      char *err, size_t errlen)
{
    weft_err r = wf_expr_parse(src, out, err, errlen);
    if (r)
        return r;
    wf_coltype *types = malloc((t->ncols + 1) * sizeof *types);
    if (!types)
        r = WEFT_ENOMEM;
    for (size_t j = 0; types && j < t->ncols; j++)
        types[j] = t->cols[j].type;
    if (!r)
        r = wf_expr_bind(*out, (const char *const *)t->names, types, t->ncols,
                         err, errlen);
    free(types);
    if (r) {
        wf_expr_free(*out);
        *out = NULL;
    }
    return r;
}

weft_err wd_apply_filter(wf_table *t, const char *src, char *err, size_t errlen)
{
    wf_expr *e;
    weft_err r = bound(src, t, &e, err, errlen);
    if (r)
        return r;
    wf_table f;
    if (!(r = wf_expr_filter(e, t, &f, err, errlen)))
        replace(t, &f);
    wf_expr_free(e);
    return r;
}

weft_err wd_apply_eval(wf_table *t, const char *src, char *err, size_t errlen)
{
    wf_expr *e;
    weft_err r = bound(src, t, &e, err, errlen);
    if (r)
        return r;
    if (!wf_expr_target(e)) {
        wf_expr_free(e);
        return wf_errf(WEFT_EINVAL, err, errlen, "wants NAME = EXPR, got '%s'",
                       src);
    }
    wf_column c;
    if (!(r = wf_expr_eval(e, t, &c, err, errlen))) {
        long j = wf_table_find(t, wf_expr_target(e));
        if (j >= 0) {
            wf_col_free(&t->cols[j]);
            t->cols[j] = c;
        } else if ((r = wf_table_add(t, wf_expr_target(e), &c))) {
            wf_col_free(&c);
        }
    }
    wf_expr_free(e);
    return r;
}

weft_err wd_apply_sort(wf_table *t, const char *cols, const char *dirs,
                       char *err, size_t errlen)
{
    char *copy = strdup(cols);
    char *keys[MAX_LIST];
    bool desc[MAX_LIST];
    if (!copy)
        return WEFT_ENOMEM;
    size_t n = wd_unjoin(copy, keys, MAX_LIST);
    for (size_t i = 0; i < n; i++)
        desc[i] = dirs[i] == '-';
    wf_table s;
    weft_err r =
        wf_table_sort(t, (const char *const *)keys, desc, n, &s, err, errlen);
    if (!r)
        replace(t, &s);
    free(copy);
    return r;
}

/* t = its columns cols ('\n'-joined), moved, not copied (a column named
 * twice is copied the second time). */
static weft_err apply_select(wf_table *t, const char *cols, char *err,
                             size_t errlen)
{
    char *copy = strdup(cols);
    char *names[MAX_LIST];
    if (!copy)
        return WEFT_ENOMEM;
    size_t n = wd_unjoin(copy, names, MAX_LIST);
    bool *moved = calloc(t->ncols + 1, sizeof *moved);
    wf_table s;
    wf_table_init(&s);
    weft_err r = moved ? 0 : WEFT_ENOMEM;
    for (size_t k = 0; k < n && !r; k++) {
        long j = wf_table_find(t, names[k]);
        if (j < 0 || moved[j]) { /* the error, or a second copy */
            wf_table one;
            const char *nm[1] = {names[k]};
            if (!(r = wf_table_select(t, nm, 1, &one, err, errlen))) {
                wf_column c = one.cols[0];
                one.cols[0].len = 0;
                memset(&one.cols[0], 0, sizeof one.cols[0]);
                if ((r = wf_table_add(&s, names[k], &c)))
                    wf_col_free(&c);
                wf_table_free(&one);
            }
            continue;
        }
        wf_column c = t->cols[j];
        if (!(r = wf_table_add(&s, names[k], &c))) {
            moved[j] = true;
            memset(&t->cols[j], 0, sizeof t->cols[j]);
        }
    }
    if (!r)
        s.nrows = t->nrows;
    if (r)
        wf_table_free(&s);
    else
        replace(t, &s);
    free(moved);
    free(copy);
    return r;
}

static weft_err apply_head(wf_table *t, uint64_t n, bool tail)
{
    if (n >= t->nrows)
        return 0;
    if (!tail) {
        wf_table h;
        weft_err r = wf_table_head(t, (size_t)n, &h);
        if (!r)
            replace(t, &h);
        return r;
    }
    size_t *idx = malloc((size_t)n * sizeof *idx + 1);
    if (!idx)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = t->nrows - (size_t)n + i;
    wf_table h;
    wf_table_init(&h);
    weft_err r = 0;
    for (size_t j = 0; j < t->ncols && !r; j++) {
        wf_column c;
        if (!(r = wf_col_take(&t->cols[j], idx, (size_t)n, &c)) &&
            (r = wf_table_add(&h, t->names[j], &c)))
            wf_col_free(&c);
    }
    free(idx);
    if (r)
        wf_table_free(&h);
    else
        replace(t, &h);
    return r;
}

static weft_err apply_join(wg_call *c, wf_table *t, const wd_step *st,
                           char *err, size_t errlen)
{
    wf_table right;
    weft_err r = in_table(c, (size_t)st->n, &right, err, errlen);
    if (r)
        return r;
    char *copy = strdup(st->s[0]);
    char *keys[MAX_LIST];
    if (!copy) {
        wf_table_free(&right);
        return WEFT_ENOMEM;
    }
    size_t nk = wd_unjoin(copy, keys, MAX_LIST);
    /* s2: the output columns used later ("": all of them) */
    char *kcopy = st->nstr > 2 && st->s[2][0] ? strdup(st->s[2]) : NULL;
    char *keep[MAX_LIST];
    size_t nkeep = kcopy ? wd_unjoin(kcopy, keep, MAX_LIST) : 0;
    wf_table j;
    r = wf_join_cols(
        t, &right, (const char *const *)keys, (const char *const *)keys, nk,
        strcmp(st->s[1], "left") == 0 ? WF_JOIN_LEFT : WF_JOIN_INNER,
        kcopy ? (const char *const *)keep : NULL, nkeep, &j, err, errlen);
    free(kcopy);
    if (!r)
        replace(t, &j);
    free(copy);
    wf_table_free(&right);
    return r;
}

static weft_err gb_partial(wf_table *t, const char *keyl, const char *aggl,
                           char *err, size_t errlen)
{
    char *copy = strdup(keyl);
    char *keys[MAX_LIST];
    wf_agg *aggs = NULL;
    size_t naggs = 0;
    if (!copy)
        return WEFT_ENOMEM;
    size_t nk = wd_unjoin(copy, keys, MAX_LIST);
    weft_err r = wf_aggs_parse(aggl, &aggs, &naggs, err, errlen);
    wf_table p;
    if (!r && !(r = wf_groupby_partial(t, (const char *const *)keys, nk, aggs,
                                       naggs, &p, err, errlen)))
        replace(t, &p);
    wf_aggs_free(aggs, naggs);
    free(copy);
    return r;
}

weft_err wd_apply_stats(wf_table *t, wd_op op, const char *const *s, char *err,
                        size_t errlen)
{
    char *copy = strdup(s[0] ? s[0] : "");
    char *names[MAX_LIST];
    if (!copy)
        return WEFT_ENOMEM;
    size_t n = wd_unjoin(copy, names, MAX_LIST);
    const char *const *cols = (const char *const *)names;
    wf_table r;
    weft_err e;
    switch (op) {
    case WD_DROPNA:
        e = wf_table_dropna(t, n ? cols : NULL, n, WF_DROPNA_ANY, &r, err,
                            errlen);
        break;
    case WD_FILLNA:
        e = wf_table_fillna_text(t, s[0], s[1], &r, err, errlen);
        break;
    case WD_VC_PARTIAL:
        e = wf_value_counts_partial(t, cols, n, true, &r, err, errlen);
        break;
    case WD_UQ_PARTIAL:
        e = wf_unique_partial(t, s[0], &r, err, errlen);
        break;
    default:
        e = wf_describe_partial(t, &r, err, errlen);
        break;
    }
    if (!e)
        replace(t, &r);
    free(copy);
    return e;
}

weft_err wd_reduce_tables(wd_op op, int final, const char *const *s,
                          const wf_table *ts, size_t n, wf_table *out,
                          char *err, size_t errlen)
{
    switch (op) {
    case WD_VC_PARTIAL:
        return final ? wf_value_counts_final(&ts[0], out, err, errlen)
                     : wf_value_counts_combine(ts, n, out, err, errlen);
    case WD_UQ_PARTIAL:
        return final ? wf_unique_final(&ts[0], out, err, errlen)
                     : wf_unique_combine(ts, n, out, err, errlen);
    case WD_DS_PARTIAL:
        return final ? wf_describe_final(&ts[0], out, err, errlen)
                     : wf_describe_combine(ts, n, out, err, errlen);
    default:
        break;
    }
    /* groupby */
    char *copy = strdup(s[0]);
    char *keys[MAX_LIST];
    size_t nk = copy ? wd_unjoin(copy, keys, MAX_LIST) : 0;
    wf_agg *aggs = NULL;
    size_t naggs = 0;
    weft_err e = copy ? 0 : WEFT_ENOMEM;
    if (!e)
        e = wf_aggs_parse(s[1], &aggs, &naggs, err, errlen);
    if (!e && !final)
        e = wf_groupby_combine(ts, n, nk, aggs, naggs, out, err, errlen);
    if (!e && final)
        e = wf_groupby_final(&ts[0], nk, aggs, naggs, out, err, errlen);
    wf_aggs_free(aggs, naggs);
    free(copy);
    return e;
}

weft_err wd_apply_cast(wf_table *t, const char *cols, const char *types,
                       char *err, size_t errlen)
{
    char *cc = strdup(cols), *tc = strdup(types);
    char *names[MAX_LIST], *tn[MAX_LIST];
    size_t n = cc ? wd_unjoin(cc, names, MAX_LIST) : 0;
    size_t nt = tc ? wd_unjoin(tc, tn, MAX_LIST) : 0;
    weft_err r = cc && tc ? 0 : WEFT_ENOMEM;
    if (!r && nt != n)
        r = wf_errf(WEFT_EINVAL, err, errlen, "cast: %zu columns but %zu types",
                    n, nt);
    wf_table out;
    wf_table_init(&out);
    for (size_t k = 0; k < n && !r; k++) {
        wf_coltype want = wf_coltype_parse(tn[k]);
        long j = wf_table_find(t, names[k]);
        wf_column c;
        if (!want) {
            r = wf_errf(WEFT_EINVAL, err, errlen, "cast: unknown type \"%s\"",
                        tn[k]);
            break;
        }
        if (j >= 0 && t->cols[j].type == want) { /* moved over */
            c = t->cols[j];
            memset(&t->cols[j], 0, sizeof t->cols[j]);
            t->cols[j].type = want;
        } else if (j >= 0 && t->cols[j].type == WF_COL_I64 &&
                   want == WF_COL_F64) {
            const wf_column *x = &t->cols[j];
            if (!(r = wf_col_init(&c, WF_COL_F64, x->len))) {
                for (size_t i = 0; i < x->len && !r; i++)
                    r = wf_col_present(x, i)
                            ? wf_col_push_f64(&c, (double)x->v.i64[i])
                            : wf_col_push_null(&c);
                if (r)
                    wf_col_free(&c);
            }
        } else if (j >= 0) {
            r = wf_errf(WEFT_EINVAL, err, errlen,
                        "cast: column \"%s\" is %s, not %s", names[k],
                        wf_coltype_name(t->cols[j].type), tn[k]);
        } else if (!(r = wf_col_init(&c, want, t->nrows))) {
            for (size_t i = 0; i < t->nrows && !r; i++)
                r = wf_col_push_null(&c);
            if (r)
                wf_col_free(&c);
        }
        if (!r && (r = wf_table_add(&out, names[k], &c)))
            wf_col_free(&c);
    }
    if (!r) {
        out.nrows = t->nrows;
        replace(t, &out);
    } else {
        wf_table_free(&out);
    }
    free(cc);
    free(tc);
    return r;
}

/* One step on t (a program's steps after the source). */
static weft_err run_step(wg_call *c, wf_table *t, const wd_step *st, char *err,
                         size_t errlen)
{
    switch (st->op) {
    case WD_FILTER:
        return wd_apply_filter(t, st->s[0], err, errlen);
    case WD_EVAL:
        return wd_apply_eval(t, st->s[0], err, errlen);
    case WD_SELECT:
        return apply_select(t, st->s[0], err, errlen);
    case WD_HEAD:
    case WD_TAIL:
        return apply_head(t, st->n, st->op == WD_TAIL);
    case WD_SORT:
        return wd_apply_sort(t, st->s[0], st->s[1], err, errlen);
    case WD_JOIN:
        return apply_join(c, t, st, err, errlen);
    case WD_GB_PARTIAL:
        return gb_partial(t, st->s[0], st->s[1], err, errlen);
    case WD_CAST:
        return wd_apply_cast(t, st->s[0], st->s[1], err, errlen);
    case WD_DROPNA:
    case WD_FILLNA:
    case WD_VC_PARTIAL:
    case WD_UQ_PARTIAL:
    case WD_DS_PARTIAL:
        return wd_apply_stats(t, st->op, st->s, err, errlen);
    default:
        return wf_errf(WEFT_EINVAL, err, errlen, "unknown step %d",
                       (int)st->op);
    }
}

/* wd_k_part(program; source input, join inputs...) */
static weft_err wd_k_part(wg_call *c)
{
    size_t plen;
    const uint8_t *p = wg_params(c, &plen);
    reader r = {p, plen, 0};
    uint32_t nsteps;
    char err[1024] = "";
    wf_table t;
    wf_table_init(&t);
    if (!rd(&r, &nsteps, 4) || nsteps == 0)
        return wg_fail(c, "bad program");
    wf_csv_stats stats = {0};
    weft_err e = 0;
    for (uint32_t s = 0; s < nsteps && !e; s++) {
        wd_step st;
        if (!next_step(&r, &st)) {
            step_free(&st);
            return wg_fail(c, "bad program at step %u", s);
        }
        if (s == 0 && st.op == WD_SRC_CSV) {
            const weft_value *v = wg_in(c, 0);
            wf_csv_plan *plan = NULL;
            if (!v || v->type != WEFT_T_BYTES ||
                wf_csv_plan_decode(v->u.buf.data, v->u.buf.len, &plan))
                e = wf_errf(WEFT_EINVAL, err, sizeof err, "bad CSV plan");
            else
                e = wf_csv_parse_part(plan, (size_t)st.n, &t, &stats, err,
                                      sizeof err);
            wf_csv_plan_free(plan);
        } else if (s == 0 && st.op == WD_SRC_FILE) {
            wf_tfile *f;
            if (!(e = wf_tfile_open(st.s[0], &f, err, sizeof err))) {
                e = wf_tfile_read(f, (size_t)st.n, &t, err, sizeof err);
                wf_tfile_close(f);
            }
        } else if (s == 0 && st.op == WD_SRC_IN) {
            e = in_table(c, 0, &t, err, sizeof err);
        } else if (s == 0) {
            e = wf_errf(WEFT_EINVAL, err, sizeof err, "no source step");
        } else if (st.op == WD_BADCOUNT) { /* what the CSV parse skipped */
            wf_column n;
            wf_table one;
            wf_table_init(&one);
            if (!(e = wf_col_init(&n, WF_COL_I64, 1)) &&
                !(e = wf_col_push_i64(&n, (int64_t)stats.bad_lines)) &&
                (e = wf_table_add(&one, "bad_lines", &n)))
                wf_col_free(&n);
            if (!e)
                replace(&t, &one);
        } else {
            e = run_step(c, &t, &st, err, sizeof err);
        }
        step_free(&st);
    }
    if (!e)
        e = out_table(c, &t);
    wf_table_free(&t);
    if (e && err[0])
        return wg_fail(c, "%s", err);
    return e ? wg_fail(c, "%s", weft_strerror(e)) : 0;
}
WG_KERNEL(wd_k_part)

/* Decode every input table into ts[0..n). */
static weft_err in_tables(wg_call *c, wf_table **ts, size_t *n, char *err,
                          size_t errlen)
{
    *n = wg_nin(c);
    *ts = calloc(*n + 1, sizeof **ts);
    if (!*ts)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        weft_err e = in_table(c, i, &(*ts)[i], err, errlen);
        if (e) {
            for (size_t k = 0; k < i; k++)
                wf_table_free(&(*ts)[k]);
            free(*ts);
            *ts = NULL;
            return e;
        }
    }
    return 0;
}

static void tables_free(wf_table *ts, size_t n)
{
    for (size_t i = 0; ts && i < n; i++)
        wf_table_free(&ts[i]);
    free(ts);
}

/* wd_k_reduce(step; partials...): params are one step (the partial's),
 * its n: 0 combine, 1 final. */
static weft_err wd_k_reduce(wg_call *c)
{
    size_t plen;
    const uint8_t *p = wg_params(c, &plen);
    reader r = {p, plen, 0};
    wd_step st;
    char err[1024] = "";
    if (!next_step(&r, &st)) {
        step_free(&st);
        return wg_fail(c, "bad reduce step");
    }
    wf_table *ts = NULL, out;
    size_t n = 0;
    wf_table_init(&out);
    weft_err e = in_tables(c, &ts, &n, err, sizeof err);
    if (!e && st.n > 1)
        e = wf_errf(WEFT_EINVAL, err, sizeof err, "bad reduce phase");
    if (!e)
        e = wd_reduce_tables(st.op, (int)st.n, st.s, ts, n, &out, err,
                             sizeof err);
    if (!e)
        e = out_table(c, &out);
    wf_table_free(&out);
    tables_free(ts, n);
    step_free(&st);
    if (e)
        return wg_fail(c, "%s", err[0] ? err : weft_strerror(e));
    return 0;
}
WG_KERNEL(wd_k_reduce)

/* wd_k_gather(tables...): their rows in order, one table. */
static weft_err wd_k_gather(wg_call *c)
{
    char err[1024] = "";
    wf_table out, t;
    wf_table_init(&out);
    weft_err e = 0;
    for (size_t i = 0; i < wg_nin(c) && !e; i++) {
        if ((e = in_table(c, i, &t, err, sizeof err)))
            break;
        if (i == 0) {
            out = t;
            continue;
        }
        e = wf_table_append(&out, &t, err, sizeof err);
        wf_table_free(&t);
    }
    if (!e)
        e = out_table(c, &out);
    wf_table_free(&out);
    if (e)
        return wg_fail(c, "%s", err[0] ? err : weft_strerror(e));
    return 0;
}
WG_KERNEL(wd_k_gather)
