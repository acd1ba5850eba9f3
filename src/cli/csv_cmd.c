/* weft csv: a query over CSV files from the shell.
 *
 *   weft csv FILE_OR_GLOB... [--filter EXPR] [--eval "NAME = EXPR"]...
 *            [--select COL,...] [--groupby COL,... --agg "FUNC(COL),..."]
 *            [--sort [-]COL,...] [--head N] [--output OUT.csv]
 *            [--format table|csv] [--partition-mb N] [--delimiter C]
 *            [--null MARKER]
 *
 * The query is a lazy frame (weft/dataframe.h) on the embedded runtime:
 * the evals in order, the filter, then the select or the groupby, the sort
 * and the head. Every option is checked against the files' columns before
 * any data is read; only the columns the query uses are parsed, and each
 * partition's steps run as one task. */
#include "cli/csv_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/dataframe.h>
#include <weft/weft.h>

#define MAX_LIST 256

/* The query as given. */
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

/* A failed frame: "--filter: what", exit status 2 (a bad query). */
static int bad_option(const char *opt, wd_ctx *ctx)
{
    const char *why = wd_error(ctx);
    const char *colon = strstr(why, ": ");
    fprintf(stderr, "weft csv: %s: %s\n", opt, colon ? colon + 2 : why);
    return 2;
}

/* ",".join(items), with '-' before the descending ones when desc. */
static char *joined(char *const *items, const bool *desc, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 2;
    char *s = malloc(len), *p = s;
    for (size_t i = 0; s && i < n; i++)
        p += sprintf(p, "%s%s%s", i ? "," : "", desc && desc[i] ? "-" : "",
                     items[i]);
    return s;
}

/* The query as a frame, checked; 0, or the exit status. */
static int build(const query *q, wd_ctx *ctx, wd_frame **out)
{
    wd_csv_options o = {.delimiter = q->delimiter,
                        .null_marker = q->null_marker,
                        .partition_bytes = q->partition_mb << 20};
    wd_frame *f = wd_read_csv_files(ctx, q->files, q->nfiles, &o);
    if (!f) {
        fprintf(stderr, "weft csv: %s\n", wd_error(ctx));
        return 1;
    }
    for (size_t k = 0; k < q->nevals; k++)
        if (!(f = wd_eval(f, q->evals[k])))
            return bad_option("--eval", ctx);
    if (q->filter && !(f = wd_filter(f, q->filter)))
        return bad_option("--filter", ctx);
    int rc = 0;
    char *keys = joined(q->keys, NULL, q->nkeys);
    char *sel = joined(q->select, NULL, q->nselect);
    char *sort = joined(q->sort, q->desc, q->nsort);
    if (!keys || !sel || !sort)
        rc = 1;
    else if (q->nkeys && !(f = wd_groupby(f, keys, q->aggspec)))
        rc = bad_option(
            strstr(wd_error(ctx), "function") ? "--agg" : "--groupby", ctx);
    else if (q->nselect && !(f = wd_select(f, sel)))
        rc = bad_option("--select", ctx);
    else if (q->nsort && !(f = wd_sort(f, sort)))
        rc = bad_option("--sort", ctx);
    else if (q->head >= 0 && !(f = wd_head(f, (size_t)q->head)))
        rc = bad_option("--head", ctx);
    free(keys);
    free(sel);
    free(sort);
    *out = f;
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
    wd_ctx *ctx = wd_ctx_new(rt);
    wd_frame *f = NULL;
    wd_table *t = NULL;
    rc = ctx ? build(&q, ctx, &f) : 1;
    if (!rc) {
        wd_set_progress(ctx, true); /* shown only on a terminal */
        if (!(t = wd_compute(f))) {
            fprintf(stderr, "weft csv: %s\n", wd_error(ctx));
            rc = 1;
        }
    }
    if (!rc) {
        FILE *out = stdout;
        if (q.output && !(out = fopen(q.output, "w"))) {
            perror(q.output);
            rc = 1;
        } else if (q.output || q.csv_out) {
            if (wd_table_write_csv(out, t)) {
                fprintf(stderr, "weft csv: cannot write %s\n",
                        q.output ? q.output : "the output");
                rc = 1;
            }
        } else {
            wd_table_print(out, t, 60);
        }
        if (q.output && out && fclose(out) != 0) {
            perror(q.output);
            rc = 1;
        }
    }
    wd_table_free(t);
    wd_ctx_free(ctx);
    weft_shutdown(rt);
    query_free(&q);
    return rc;
}
