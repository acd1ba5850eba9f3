/* weft csv: a query over CSV files from the shell.
 *
 *   weft csv FILE_OR_GLOB... [--filter EXPR] [--eval "NAME = EXPR"]...
 *            [--select COL,...] [--groupby COL,... --agg "FUNC(COL),..."]
 *            [--sort [-]COL,...] [--head N] [--output OUT.csv]
 *            [--format table|csv] [--partition-mb N] [--delimiter C]
 *            [--null MARKER]
 *
 * The files are planned into partitions (dataframe/csv.h); each partition
 * is one weft task on the embedded runtime: parse (only the columns the
 * query reads), the evals in order, the filter, then the select or the
 * group-by's partial step; the task returns its table encoded
 * (dataframe/table_io.h). Here the partials are combined, or the tables
 * joined, then sorted, cut to --head and printed. Every expression is
 * checked against the files' columns before any data is read. */
#include "cli/csv_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "dataframe/csv.h"
#include "dataframe/expr.h"
#include "dataframe/groupby.h"
#include "dataframe/table_io.h"
#include "dataframe/table_ops.h"
#include "graph/graph.h"

#define MAX_LIST 256

/* The query, as the tasks receive it (strings; lists joined). */
typedef struct query {
    const char *files[MAX_LIST];
    size_t nfiles;
    const char *filter;
    const char *evals[MAX_LIST];
    size_t nevals;
    char *select[MAX_LIST];
    size_t nselect;
    char *keys[MAX_LIST];
    size_t nkeys;
    const char *aggspec;
    char *sort[MAX_LIST];
    bool desc[MAX_LIST];
    size_t nsort;
    long long head;
    const char *output;
    bool csv_out;
    size_t partition_mb;
    char delimiter;
    const char *null_marker;
} query;

/* Split "a,b,c" into out (strdup'ed parts). */
static bool split_list(const char *s, char **out, size_t *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        while (len && *p == ' ')
            p++, len--;
        if (!len || *n == MAX_LIST)
            return false;
        out[(*n)++] = strndup(p, len);
        p = e ? e + 1 : p + strlen(p);
    }
    return *n > 0;
}

static void query_free(query *q)
{
    for (size_t i = 0; i < q->nselect; i++)
        free(q->select[i]);
    for (size_t i = 0; i < q->nkeys; i++)
        free(q->keys[i]);
    for (size_t i = 0; i < q->nsort; i++)
        free(q->sort[i]);
}

/* A list argument joined back for a task (with '\n' between items). */
static char *join(char *const *items, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "\n" : "", items[i]);
    return s;
}

/* ------------------------------------------------------------ one part */

/* src parsed and checked against t's columns into *out. */
static weft_err bound_expr(const char *src, const wf_table *t, wf_expr **out,
                           char *err, size_t errlen)
{
    weft_err r = wf_expr_parse(src, out, err, errlen);
    if (r)
        return r;
    wf_coltype *types = malloc((t->ncols ? t->ncols : 1) * sizeof *types);
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

/* Apply the evals (each adds or replaces a column) to t. */
static weft_err apply_evals(wf_table *t, char *const *evals, size_t n,
                            char *err, size_t errlen)
{
    for (size_t k = 0; k < n; k++) {
        wf_expr *e;
        weft_err r = bound_expr(evals[k], t, &e, err, errlen);
        if (r)
            return r;
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
        if (r)
            return r;
    }
    return 0;
}

static weft_err apply_filter(wf_table *t, const char *src, char *err,
                             size_t errlen)
{
    wf_expr *e;
    weft_err r = bound_expr(src, t, &e, err, errlen);
    if (r)
        return r;
    wf_table f;
    if (!(r = wf_expr_filter(e, t, &f, err, errlen))) {
        wf_table_free(t);
        *t = f;
    }
    wf_expr_free(e);
    return r;
}

/* Items of a '\n'-joined list, in place (s is modified). */
static size_t unjoin(char *s, char **out)
{
    size_t n = 0;
    if (!*s)
        return 0;
    for (char *p = s; p && n < MAX_LIST;) {
        out[n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    return n;
}

/* weft_csv_part(plan, part, evals, filter, select, keys, aggs): one
 * partition's table, encoded. */
static weft_err weft_csv_part(weft_task *task)
{
    size_t plen;
    const uint8_t *pb = weft_arg_bytes(task, 0, &plen);
    size_t part = (size_t)weft_arg_i64(task, 1);
    char *evals = strdup(weft_arg_str(task, 2));
    const char *filter = weft_arg_str(task, 3);
    char *select = strdup(weft_arg_str(task, 4));
    char *keys = strdup(weft_arg_str(task, 5));
    const char *aggspec = weft_arg_str(task, 6);
    char err[1024] = "";
    wf_csv_plan *plan = NULL;
    wf_table t, out;
    wf_table_init(&t);
    wf_table_init(&out);
    wf_agg *aggs = NULL;
    size_t naggs = 0;
    char *ev[MAX_LIST], *sel[MAX_LIST], *ks[MAX_LIST];
    weft_err r = !evals || !select || !keys ? WEFT_ENOMEM : 0;
    if (!r && (r = wf_csv_plan_decode(pb, plen, &plan)))
        snprintf(err, sizeof err, "bad plan");
    if (!r)
        r = wf_csv_parse_part(plan, part, &t, NULL, err, sizeof err);
    if (!r)
        r = apply_evals(&t, ev, unjoin(evals, ev), err, sizeof err);
    if (!r && *filter)
        r = apply_filter(&t, filter, err, sizeof err);
    size_t nk = r ? 0 : unjoin(keys, ks);
    if (!r && nk) {
        if (!(r = wf_aggs_parse(aggspec, &aggs, &naggs, err, sizeof err)))
            r = wf_groupby_partial(&t, (const char *const *)ks, nk, aggs, naggs,
                                   &out, err, sizeof err);
    } else if (!r) {
        size_t ns = unjoin(select, sel);
        if (ns)
            r = wf_table_select(&t, (const char *const *)sel, ns, &out, err,
                                sizeof err);
        else {
            out = t;
            wf_table_init(&t);
        }
    }
    if (!r) {
        void *buf;
        size_t len = wf_table_encoded_size(&out);
        if (!(r = weft_return_alloc(task, 0, len, &buf)))
            wf_table_encode_into(&out, buf, len);
    } else {
        r = weft_fail(task, "%s", err[0] ? err : weft_strerror(r));
    }
    wf_aggs_free(aggs, naggs);
    wf_table_free(&t);
    wf_table_free(&out);
    wf_csv_plan_free(plan);
    free(evals);
    free(select);
    free(keys);
    return r;
}
WEFT_REGISTER_SIG(weft_csv_part, "yisssss");

/* ------------------------------------------------------------ checks */

/* The columns of the first file after the evals, checking every
 * expression on the way; and the columns the query reads. */
static int check_query(const query *q, const wf_csv_plan *plan, char ***need,
                       size_t *nneed)
{
    char *names[1024];
    wf_coltype types[1024];
    size_t n = plan->nfields < 1000 ? plan->nfields : 1000;
    for (size_t j = 0; j < n; j++) {
        names[j] = plan->field_names[j];
        types[j] = plan->field_types[j];
    }
    char err[1024];
    /* what is read: every column an expression, key, agg or select names */
    static char *reads[4096];
    size_t nreads = 0;
#define READS(s)                                                               \
    do {                                                                       \
        bool seen_ = false;                                                    \
        for (size_t r_ = 0; r_ < nreads && !seen_; r_++)                       \
            seen_ = strcmp(reads[r_], (s)) == 0;                               \
        if (!seen_ && nreads < 4096)                                           \
            reads[nreads++] = (char *)(s);                                     \
    } while (0)
    char *made[MAX_LIST];
    size_t nmade = 0;
    for (size_t k = 0; k < q->nevals + (q->filter ? 1 : 0); k++) {
        bool is_filter = k == q->nevals;
        const char *src = is_filter ? q->filter : q->evals[k];
        const char *what = is_filter ? "--filter" : "--eval";
        wf_expr *e;
        if (wf_expr_parse(src, &e, err, sizeof err)) {
            fprintf(stderr, "weft csv: %s: %s\n", what, err);
            return 2;
        }
        if (!is_filter && !wf_expr_target(e)) {
            fprintf(stderr, "weft csv: --eval wants NAME = EXPR, got '%s'\n",
                    src);
            wf_expr_free(e);
            return 2;
        }
        if (wf_expr_bind(e, (const char *const *)names, types, n, err,
                         sizeof err)) {
            fprintf(stderr, "weft csv: %s: %s\n", what, err);
            wf_expr_free(e);
            return 2;
        }
        const char *cols[256];
        size_t nc = wf_expr_columns(e, cols, 256);
        for (size_t c = 0; c < nc && c < 256; c++) {
            bool ours = false;
            for (size_t m = 0; m < nmade && !ours; m++)
                ours = strcmp(made[m], cols[c]) == 0;
            for (size_t j = 0; j < plan->nfields && !ours; j++)
                if (strcmp(plan->field_names[j], cols[c]) == 0)
                    READS(plan->field_names[j]);
        }
        if (is_filter && wf_expr_type(e) != WF_COL_BOOL) {
            fprintf(stderr,
                    "weft csv: --filter: '%s' is a %s, not true or false\n",
                    src, wf_coltype_name(wf_expr_type(e)));
            wf_expr_free(e);
            return 2;
        }
        if (!is_filter) {
            const char *tg = wf_expr_target(e);
            size_t j = 0;
            while (j < n && strcmp(names[j], tg) != 0)
                j++;
            if (j == n && n < 1023) {
                made[nmade++] = strdup(tg);
                names[n] = made[nmade - 1];
                n++;
            }
            types[j] = wf_expr_type(e);
        }
        wf_expr_free(e);
    }
    /* keys, aggs and select must name columns there are */
    char *const *lists[2] = {q->keys, q->select};
    size_t counts[2] = {q->nkeys, q->nselect};
    wf_agg *aggs = NULL;
    size_t naggs = 0;
    if (q->aggspec &&
        wf_aggs_parse(q->aggspec, &aggs, &naggs, err, sizeof err)) {
        fprintf(stderr, "weft csv: --agg: %s\n", err);
        return 2;
    }
    for (size_t a = 0; a < naggs; a++)
        if (aggs[a].col)
            READS(aggs[a].col);
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l]; i++)
            READS(lists[l][i]);
    int rc = 0;
    for (size_t r = 0; r < nreads && !rc; r++) {
        size_t j = 0;
        while (j < n && strcmp(names[j], reads[r]) != 0)
            j++;
        if (j == n) {
            fprintf(stderr,
                    "weft csv: no column '%s' (the columns are:", reads[r]);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, "%s %s", k ? "," : "", names[k]);
            fprintf(stderr, ")\n");
            rc = 2;
        }
    }
    /* Only file columns are parsed; all of them without select/groupby. */
    *nneed = 0;
    *need = NULL;
    if (!rc && (q->nselect || q->nkeys)) {
        *need = calloc(nreads + 1, sizeof **need);
        for (size_t r = 0; *need && r < nreads; r++)
            for (size_t j = 0; j < plan->nfields; j++)
                if (strcmp(plan->field_names[j], reads[r]) == 0)
                    (*need)[(*nneed)++] = strdup(reads[r]);
    }
    wf_aggs_free(aggs, naggs);
    for (size_t m = 0; m < nmade; m++)
        free(made[m]);
#undef READS
    return rc;
}

/* ------------------------------------------------------------ main */

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "weft csv: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fprintf(stderr,
            "usage: weft csv FILE_OR_GLOB... [--filter EXPR] [--eval \"NAME "
            "= EXPR\"]...\n"
            "         [--select COL,...] [--groupby COL,... --agg "
            "\"FUNC(COL),...\"]\n"
            "         [--sort [-]COL,...] [--head N] [--output OUT.csv] "
            "[--format table|csv]\n"
            "         [--partition-mb N] [--delimiter C] [--null MARKER]\n");
    return 2;
}

static int parse_args(int argc, char **argv, query *q)
{
    memset(q, 0, sizeof *q);
    q->head = -1;
    q->partition_mb = 64;
    q->delimiter = ',';
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] != '-') {
            if (q->nfiles == MAX_LIST)
                return usage_error("too many files", NULL);
            q->files[q->nfiles++] = a;
            continue;
        }
        if (i + 1 == argc)
            return usage_error("missing value after", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--filter"))
            q->filter = v;
        else if (!strcmp(a, "--eval") && q->nevals < MAX_LIST)
            q->evals[q->nevals++] = v;
        else if (!strcmp(a, "--select")) {
            if (!split_list(v, q->select, &q->nselect))
                return usage_error("bad --select list", v);
        } else if (!strcmp(a, "--groupby")) {
            if (!split_list(v, q->keys, &q->nkeys))
                return usage_error("bad --groupby list", v);
        } else if (!strcmp(a, "--agg"))
            q->aggspec = v;
        else if (!strcmp(a, "--sort")) {
            if (!split_list(v, q->sort, &q->nsort))
                return usage_error("bad --sort list", v);
            for (size_t k = 0; k < q->nsort; k++)
                if (q->sort[k][0] == '-') {
                    q->desc[k] = true;
                    memmove(q->sort[k], q->sort[k] + 1, strlen(q->sort[k]));
                }
        } else if (!strcmp(a, "--head")) {
            char *end;
            q->head = strtoll(v, &end, 10);
            if (*end || q->head < 0)
                return usage_error("--head wants a count, got", v);
        } else if (!strcmp(a, "--output"))
            q->output = v;
        else if (!strcmp(a, "--format")) {
            if (strcmp(v, "table") && strcmp(v, "csv"))
                return usage_error("--format is table or csv, not", v);
            q->csv_out = !strcmp(v, "csv");
        } else if (!strcmp(a, "--partition-mb")) {
            char *end;
            long long mb = strtoll(v, &end, 10);
            if (*end || mb < 1 || mb > 65536)
                return usage_error("--partition-mb wants 1..65536, got", v);
            q->partition_mb = (size_t)mb;
        } else if (!strcmp(a, "--delimiter")) {
            if (strlen(v) != 1)
                return usage_error("--delimiter wants one character, got", v);
            q->delimiter = v[0];
        } else if (!strcmp(a, "--null"))
            q->null_marker = v;
        else
            return usage_error("unknown option", a);
    }
    if (!q->nfiles)
        return usage_error("no file given", NULL);
    if ((q->nkeys > 0) != (q->aggspec != NULL))
        return usage_error("--groupby and --agg go together", NULL);
    if (q->nkeys && q->nselect)
        return usage_error("--select does not apply with --groupby", NULL);
    return 0;
}

static int run(const query *q, weft_runtime *rt, wf_table *result)
{
    char err[2048];
    wf_table_init(result);
    wf_csv_options o;
    wf_csv_options_defaults(&o);
    o.partition_bytes = q->partition_mb << 20;
    o.delimiter = q->delimiter;
    o.null_marker = q->null_marker;
    wf_csv_plan *plan;
    if (wf_csv_plan_open(q->files, q->nfiles, &o, &plan, err, sizeof err)) {
        fprintf(stderr, "weft csv: %s\n", err);
        return 1;
    }
    char **need = NULL;
    size_t nneed = 0;
    int rc = check_query(q, plan, &need, &nneed);
    if (!rc && need) { /* plan again, reading only what is needed */
        wf_csv_plan_free(plan);
        o.columns = (const char *const *)need;
        o.ncolumns = nneed;
        if (wf_csv_plan_open(q->files, q->nfiles, &o, &plan, err, sizeof err)) {
            fprintf(stderr, "weft csv: %s\n", err);
            plan = NULL;
            rc = 1;
        }
    }
    for (size_t i = 0; need && i < nneed; i++)
        free(need[i]);
    free(need);
    if (rc) {
        wf_csv_plan_free(plan);
        return rc;
    }
    uint8_t *pb;
    size_t plen;
    char *evals = join((char *const *)q->evals, q->nevals);
    char *select = join(q->select, q->nselect);
    char *keys = join(q->keys, q->nkeys);
    weft_ref *refs = calloc(plan->nparts + 1, sizeof *refs);
    if (!evals || !select || !keys || !refs ||
        wf_csv_plan_encode(plan, &pb, &plen)) {
        fprintf(stderr, "weft csv: out of memory\n");
        free(evals);
        free(select);
        free(keys);
        free(refs);
        wf_csv_plan_free(plan);
        return 1;
    }
    size_t nparts = plan->nparts;
    wf_csv_plan_free(plan);
    for (size_t i = 0; i < nparts && !rc; i++) {
        weft_value args[7] = {weft_bytes(pb, plen),
                              weft_i64((int64_t)i),
                              weft_str(evals),
                              weft_str(q->filter ? q->filter : ""),
                              weft_str(select),
                              weft_str(keys),
                              weft_str(q->aggspec ? q->aggspec : "")};
        if (weft_submit(rt, "weft_csv_part", args, 7, NULL, &refs[i])) {
            fprintf(stderr, "weft csv: %s\n", weft_last_error());
            rc = 1;
        }
    }
    free(pb);
    free(evals);
    free(select);
    free(keys);
    /* the tasks done so far, on a terminal */
    if (!rc && isatty(STDERR_FILENO))
        (void)wg_wait_progress(rt, refs, nparts);
    wf_table *parts = calloc(nparts + 1, sizeof *parts);
    for (size_t i = 0; i < nparts && !rc; i++) {
        weft_value v;
        if (weft_get(rt, refs[i], &v, WEFT_FOREVER)) {
            const char *why = weft_error_message(rt, refs[i]);
            fprintf(stderr, "weft csv: %s\n", why ? why : weft_last_error());
            rc = 1;
        } else if (wf_table_decode(v.u.buf.data, v.u.buf.len, &parts[i], err,
                                   sizeof err)) {
            fprintf(stderr, "weft csv: %s\n", err);
            rc = 1;
        }
    }
    for (size_t i = 0; i < nparts; i++)
        if (refs[i].id)
            weft_release(rt, refs[i]);
    free(refs);
    if (!rc && q->nkeys && nparts) {
        wf_agg *aggs;
        size_t naggs;
        wf_table comb;
        wf_aggs_parse(q->aggspec, &aggs, &naggs, err, sizeof err);
        if (wf_groupby_combine(parts, nparts, q->nkeys, aggs, naggs, &comb, err,
                               sizeof err) ||
            wf_groupby_final(&comb, q->nkeys, aggs, naggs, result, err,
                             sizeof err)) {
            fprintf(stderr, "weft csv: %s\n", err);
            rc = 1;
        }
        if (nparts)
            wf_table_free(&comb);
        wf_aggs_free(aggs, naggs);
    } else if (!rc) {
        for (size_t i = 0; i < nparts && !rc; i++)
            if (wf_table_append(result, &parts[i], err, sizeof err)) {
                fprintf(stderr, "weft csv: %s\n", err);
                rc = 1;
            }
    }
    for (size_t i = 0; i < nparts; i++)
        wf_table_free(&parts[i]);
    free(parts);
    return rc;
}

int wf_cli_csv(int argc, char **argv)
{
    query q;
    int rc = parse_args(argc, argv, &q);
    if (rc) {
        query_free(&q);
        return rc;
    }
    weft_runtime *rt;
    if (weft_init(&rt, NULL)) {
        fprintf(stderr, "weft csv: %s\n", weft_last_error());
        query_free(&q);
        return 1;
    }
    wf_table t;
    rc = run(&q, rt, &t);
    weft_shutdown(rt);
    char err[1024];
    if (!rc && q.nsort) {
        wf_table s;
        if (wf_table_sort(&t, (const char *const *)q.sort, q.desc, q.nsort, &s,
                          err, sizeof err)) {
            fprintf(stderr, "weft csv: --sort: %s\n", err);
            rc = 2;
        } else {
            wf_table_free(&t);
            t = s;
        }
    }
    if (!rc && q.head >= 0) {
        wf_table h;
        if (!wf_table_head(&t, (size_t)q.head, &h)) {
            wf_table_free(&t);
            t = h;
        }
    }
    if (!rc) {
        FILE *out = stdout;
        if (q.output && !(out = fopen(q.output, "w"))) {
            perror(q.output);
            rc = 1;
        } else if (q.output || q.csv_out) {
            if (wf_table_write_csv(out, &t, true)) {
                fprintf(stderr, "weft csv: cannot write %s\n",
                        q.output ? q.output : "the output");
                rc = 1;
            }
        } else {
            wf_table_print(out, &t, 60);
        }
        if (q.output && out && fclose(out) != 0) {
            perror(q.output);
            rc = 1;
        }
    }
    wf_table_free(&t);
    query_free(&q);
    return rc;
}
