/* Lazy dataframes (weft/dataframe.h) on the real runtime: random queries
 * (eval, filter, select, groupby, join, sort, head, tail, concat) over a
 * random table written as a CSV file and read back in 1, 2 and 8+
 * partitions, on threads and in worker processes, checked against the
 * same operations applied in order to the whole table in this process;
 * persist, the columnar file, to_csv, projection, and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/dataframe.h>

#include "dataframe/csv.h"
#include "dataframe/df_int.h"
#include "dataframe/groupby.h"
#include "dataframe/join.h"
#include "dataframe/table_ops.h"

#include "testutil.h"

static const char *const groups[] = {"Asthma", "COPD", "Heart Disease",
                                     "Hypertension", "Diabetes"};

/* A random patients-like table as CSV at path; n rows. */
static void write_random_csv(uint64_t *rng, size_t n, const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,g,k,x,y,flag\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%zu,", i);
        if (xorshift_below(rng, 10))
            fprintf(f, "%s", groups[xorshift_below(rng, 5)]);
        fprintf(f, ",%d,", (int)xorshift_below(rng, 10));
        if (xorshift_below(rng, 8))
            fprintf(f, "%.17g",
                    (double)xorshift_below(rng, 100000) / 64.0 - 500);
        fprintf(f, ",%lld,%s\n", (long long)xorshift_below(rng, 1000) - 300,
                xorshift_below(rng, 2) ? "true" : "false");
    }
    fclose(f);
}

static void write_dim_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "k,weight,label\n");
    for (int k = 0; k < 10; k += (k == 6) + 1) /* k = 7 has no row */
        fprintf(f, "%d,%.3f,L%d\n", k, 0.5 + k * 0.25, k);
    fclose(f);
}

/* Whole-table sequential evaluation of the same query. */
typedef struct query {
    const char *eval, *filter, *select;
    const char *keys, *aggs;
    bool join;
    const char *sort;
    int head, tail;     /* 0: none */
    const char *dropna; /* "" for any column */
    const char *fill_col, *fill_val;
    int stat; /* 1 value_counts(vc), 2 unique(uq), 3 describe */
    const char *vc, *uq;
} query;

static void whole_select(wf_table *t, const char *list)
{
    char *copy = strdup(list), *names[16];
    size_t n = 0;
    for (char *p = strtok(copy, ","); p; p = strtok(NULL, ","))
        names[n++] = p;
    wf_table s;
    char err[512];
    OK(wf_table_select(t, (const char *const *)names, n, &s, err, sizeof err));
    wf_table_free(t);
    *t = s;
    free(copy);
}

static void sequential(const query *q, wf_table *t, const wf_table *dim)
{
    char err[1024];
    if (q->eval)
        OK(wd_apply_eval(t, q->eval, err, sizeof err));
    if (q->filter)
        OK(wd_apply_filter(t, q->filter, err, sizeof err));
    if (q->dropna || q->fill_col) {
        char list[64]; /* the kernels' lists are '\n'-joined */
        snprintf(list, sizeof list, "%s", q->dropna ? q->dropna : q->fill_col);
        for (char *c = list; *c; c++)
            *c = *c == ',' ? '\n' : *c;
        const char *s[2] = {list, q->fill_val};
        OK(wd_apply_stats(t, q->dropna ? WD_DROPNA : WD_FILLNA, s, err,
                          sizeof err));
    }
    if (q->stat) {
        wd_op op = q->stat == 1   ? WD_VC_PARTIAL
                   : q->stat == 2 ? WD_UQ_PARTIAL
                                  : WD_DS_PARTIAL;
        char list[64];
        snprintf(list, sizeof list, "%s", q->stat == 1 ? q->vc : q->uq);
        for (char *c = list; *c; c++)
            *c = *c == ',' ? '\n' : *c;
        const char *s[1] = {list};
        wf_table r;
        OK(wd_apply_stats(t, op, s, err, sizeof err));
        OK(wd_reduce_tables(op, 1, s, t, 1, &r, err, sizeof err));
        wf_table_free(t);
        *t = r;
        return;
    }
    if (q->join) {
        wf_table j;
        const char *k[1] = {"k"};
        OK(wf_join(t, dim, k, k, 1, WF_JOIN_INNER, &j, err, sizeof err));
        wf_table_free(t);
        *t = j;
    }
    if (q->select)
        whole_select(t, q->select);
    if (q->keys) {
        char *copy = strdup(q->keys), *keys[4];
        size_t nk = 0;
        for (char *p = strtok(copy, ","); p; p = strtok(NULL, ","))
            keys[nk++] = p;
        wf_agg *aggs;
        size_t naggs;
        wf_table p, r;
        OK(wf_aggs_parse(q->aggs, &aggs, &naggs, err, sizeof err));
        OK(wf_groupby_partial(t, (const char *const *)keys, nk, aggs, naggs, &p,
                              err, sizeof err));
        OK(wf_groupby_final(&p, nk, aggs, naggs, &r, err, sizeof err));
        wf_table_free(&p);
        wf_table_free(t);
        *t = r;
        wf_aggs_free(aggs, naggs);
        free(copy);
    }
    if (q->sort) {
        char cols[256], dirs[16];
        size_t nc = 0, nd = 0;
        for (const char *p = q->sort; *p;) {
            dirs[nd++] = *p == '-' ? '-' : '+';
            p += *p == '-';
            while (*p && *p != ',')
                cols[nc++] = *p++;
            if (*p) {
                cols[nc++] = '\n';
                p++;
            }
        }
        cols[nc] = dirs[nd] = '\0';
        OK(wd_apply_sort(t, cols, dirs, err, sizeof err));
    }
    if (q->head) {
        wf_table h;
        OK(wf_table_head(t, (size_t)q->head, &h));
        wf_table_free(t);
        *t = h;
    }
    if (q->tail && (size_t)q->tail < t->nrows) {
        size_t n = (size_t)q->tail, *idx = malloc(n * sizeof *idx);
        for (size_t i = 0; i < n; i++)
            idx[i] = t->nrows - n + i;
        wf_table h;
        wf_table_init(&h);
        for (size_t j = 0; j < t->ncols; j++) {
            wf_column c;
            OK(wf_col_take(&t->cols[j], idx, n, &c));
            OK(wf_table_add(&h, t->names[j], &c));
        }
        free(idx);
        wf_table_free(t);
        *t = h;
    }
}

static wd_frame *lazy(const query *q, wd_frame *f, wd_frame *dim)
{
    if (q->eval)
        f = wd_eval(f, q->eval);
    if (f && q->filter)
        f = wd_filter(f, q->filter);
    if (f && q->dropna)
        f = wd_dropna(f, q->dropna[0] ? q->dropna : NULL);
    if (f && q->fill_col)
        f = wd_fillna(f, q->fill_col, q->fill_val);
    if (f && q->stat)
        return q->stat == 1   ? wd_value_counts(f, q->vc)
               : q->stat == 2 ? wd_unique(f, q->uq)
                              : wd_describe(f);
    if (f && q->join)
        f = wd_join(f, dim, "k", WD_INNER);
    if (f && q->select)
        f = wd_select(f, q->select);
    if (f && q->keys)
        f = q->keys[0] ? wd_groupby(f, q->keys, q->aggs) : wd_agg(f, q->aggs);
    if (f && q->sort)
        f = wd_sort(f, q->sort);
    if (f && q->head)
        f = wd_head(f, (size_t)q->head);
    if (f && q->tail)
        f = wd_tail(f, (size_t)q->tail);
    return f;
}

static bool close_enough(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* got (computed) equals want (sequential), floats to 1e-9. */
static void check_same(const wd_table *got, const wf_table *want,
                       const char *what)
{
    if (wd_table_ncols(got) != want->ncols ||
        wd_table_nrows(got) != want->nrows)
        fail_msg("%s: %zu x %zu, want %zu x %zu", what, wd_table_nrows(got),
                 wd_table_ncols(got), want->nrows, want->ncols);
    for (size_t j = 0; j < want->ncols; j++) {
        assert_string_equal(wd_table_col_name(got, j), want->names[j]);
        assert_int_equal(wd_table_col_type(got, j), want->cols[j].type);
        const wf_column *c = &want->cols[j];
        for (size_t i = 0; i < want->nrows; i++) {
            bool null = !wf_col_present(c, i);
            if (null != wd_table_is_null(got, i, j))
                fail_msg("%s: null differs at row %zu col %s", what, i,
                         want->names[j]);
            if (null)
                continue;
            if (c->type == WF_COL_F64) {
                if (!close_enough(wd_table_f64(got, i, j), c->v.f64[i]))
                    fail_msg("%s: row %zu col %s: %.17g want %.17g", what, i,
                             want->names[j], wd_table_f64(got, i, j),
                             c->v.f64[i]);
            } else if (c->type == WF_COL_STR) {
                size_t la, lb;
                const char *a = wd_table_str(got, i, j, &la);
                const char *b = wf_col_str(c, i, &lb);
                if (la != lb || memcmp(a, b, la))
                    fail_msg("%s: row %zu col %s: text differs", what, i,
                             want->names[j]);
            } else if (c->type == WF_COL_BOOL) {
                assert_int_equal(wd_table_bool(got, i, j), c->v.b[i] != 0);
            } else {
                assert_int_equal(wd_table_i64(got, i, j), c->v.i64[i]);
            }
        }
    }
}

static const query *random_query(uint64_t *rng, query *q)
{
    static const char *evals[] = {"z = x * 2 + y", "y = y // 7",
                                  "big = x > 100 or k >= 8"};
    static const char *filters[] = {
        "x > 0", "g == 'Asthma' or k < 3", "y % 3 == 0 and flag",
        "notnull(x) and g != 'COPD'", "k in [1, 2, 5]"};
    static const char *aggs[] = {"mean(x),size()", "sum(y),count(x),max(x)",
                                 "std(x),min(y),mean(y)"};
    static const char *keys[] = {"g", "k", "g,flag"};
    memset(q, 0, sizeof *q);
    if (xorshift_below(rng, 2))
        q->eval = evals[xorshift_below(rng, 3)];
    if (xorshift_below(rng, 3))
        q->filter = filters[xorshift_below(rng, 5)];
    int clean = (int)xorshift_below(rng, 5);
    if (clean == 0)
        q->dropna = "";
    else if (clean == 1)
        q->dropna = "x,g";
    else if (clean == 2) {
        q->fill_col = xorshift_below(rng, 2) ? "x" : "g";
        q->fill_val = q->fill_col[0] == 'x' ? "-1.5" : "none";
    }
    if (xorshift_below(rng, 4) == 0) {
        q->stat = 1 + (int)xorshift_below(rng, 3);
        q->vc = xorshift_below(rng, 2) ? "g" : "k,flag";
        q->uq = xorshift_below(rng, 2) ? "g" : "k";
        return q;
    }
    q->join = xorshift_below(rng, 4) == 0;
    int end = (int)xorshift_below(rng, 5);
    if (end == 0) {
        q->keys = keys[xorshift_below(rng, 3)];
        q->aggs = q->join ? "sum(weight),mean(x),size()"
                          : aggs[xorshift_below(rng, 3)];
    } else if (end == 1) {
        q->sort = xorshift_below(rng, 2) ? "-x,id" : "g,-y,id";
        q->head = 1 + (int)xorshift_below(rng, 40);
    } else if (end == 2) {
        q->tail = 1 + (int)xorshift_below(rng, 40);
    } else if (end == 3) {
        q->select = q->join ? "id,label,x" : "id,x,g";
    } else if (xorshift_below(rng, 2)) { /* over all rows: no keys */
        q->keys = "";
        q->aggs = "sum(y),mean(x),std(x),count(x),size(),max(g)";
    }
    return q;
}

static void random_queries(weft_runtime *rt, uint64_t seed, int rounds)
{
    uint64_t rng = seed;
    char path[] = "/tmp/weft_df_XXXXXX", dpath[] = "/tmp/weft_dim_XXXXXX";
    close(mkstemp(path));
    close(mkstemp(dpath));
    write_dim_csv(dpath);
    size_t rows = 200 + xorshift_below(&rng, 3000);
    write_random_csv(&rng, rows, path);
    char err[1024];
    wf_table whole, dim;
    const char *p1[1] = {path}, *p2[1] = {dpath};
    OK(wf_csv_read(p1, 1, NULL, &whole, NULL, err, sizeof err));
    OK(wf_csv_read(p2, 1, NULL, &dim, NULL, err, sizeof err));
    for (int round = 0; round < rounds; round++) {
        query q;
        random_query(&rng, &q);
        wf_table want;
        OK(wf_table_head(&whole, whole.nrows, &want));
        sequential(&q, &want, &dim);
        for (int split = 0; split < 3; split++) {
            wd_ctx *ctx = wd_ctx_new(rt);
            wd_csv_options o = {0};
            /* one partition, two, or many */
            o.partition_bytes = split == 0   ? 1 << 26
                                : split == 1 ? rows * 20
                                             : 1 + xorshift_below(&rng, 4096);
            wd_frame *f = wd_read_csv(ctx, path, &o);
            assert_non_null(f);
            if (split == 1)
                assert_true(wd_nparts(f) >= 2);
            wd_frame *d = wd_read_csv(ctx, dpath, NULL);
            wd_frame *r = lazy(&q, f, d);
            if (!r)
                fail_msg("query failed: %s", wd_error(ctx));
            wd_table *got = wd_compute(r);
            if (!got)
                fail_msg("compute failed: %s", wd_error(ctx));
            char what[256];
            snprintf(what, sizeof what, "round %d split %d (%zu parts)", round,
                     split, wd_nparts(f));
            check_same(got, &want, what);
            wd_table_free(got);
            wd_ctx_free(ctx);
        }
        wf_table_free(&want);
    }
    wf_table_free(&whole);
    wf_table_free(&dim);
    unlink(path);
    unlink(dpath);
}

static void test_random_queries_threads(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(1); /* one thread, then 2, then 8 */
    random_queries(rt, 0xdf05, scaled(10));
    weft_shutdown(rt);
    rt = start_runtime(2);
    random_queries(rt, 0xdf01, scaled(40));
    random_queries(rt, 0xdf02, scaled(20));
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
    rt = start_runtime(8);
    random_queries(rt, 0xdf03, scaled(20));
    weft_shutdown(rt);
}

static void test_random_queries_processes(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    o.num_procs = 2;
    weft_runtime *rt = start_runtime_opts(&o);
    random_queries(rt, 0xdf04, scaled(10));
    weft_shutdown(rt);
}

/* Persist, the columnar file, to_csv, concat, projection and errors. */
static void test_persist_files_and_errors(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    uint64_t rng = 7;
    char path[] = "/tmp/weft_df_XXXXXX";
    close(mkstemp(path));
    write_random_csv(&rng, 5000, path);
    wd_ctx *ctx = wd_ctx_new(rt);
    wd_csv_options o = {.partition_bytes = 16 << 10};
    wd_frame *f = wd_read_csv(ctx, path, &o);
    assert_non_null(f);
    size_t parts = wd_nparts(f);
    assert_true(parts >= 4);
    assert_int_equal(wd_ncols(f), 6);
    assert_string_equal(wd_col_name(f, 3), "x");
    assert_int_equal(wd_col_type(f, 3), WD_FLOAT64);

    /* graph size: the filter and eval fuse into the read */
    wd_frame *q = wd_eval(wd_filter(f, "x > 0"), "w = x * 2");
    assert_non_null(q);
    size_t before, after;
    OK(wd_graph_size(q, &before, &after));
    assert_int_equal(before, 3 * parts);
    assert_int_equal(after, parts);
    wd_frame *gb = wd_groupby(q, "g", "mean(w),size()");
    OK(wd_graph_size(gb, &before, &after));
    assert_true(after > parts && after < before);
    wd_table *a = wd_compute(gb);
    assert_non_null(a);

    /* persisted, the same answer with the reads not run again */
    OK(wd_persist(q));
    OK(wd_graph_size(gb, &before, &after));
    assert_true(after >= parts); /* partials of the kept partitions */
    wd_table *b = wd_compute(gb);
    assert_non_null(b);
    assert_int_equal(wd_table_nrows(a), wd_table_nrows(b));
    for (size_t i = 0; i < wd_table_nrows(a); i++)
        assert_true(close_enough(wd_table_f64(a, i, 1), wd_table_f64(b, i, 1)));

    /* to_file then read_file: the same rows */
    char tpath[] = "/tmp/weft_tbl_XXXXXX", cpath[] = "/tmp/weft_out_XXXXXX";
    close(mkstemp(tpath));
    close(mkstemp(cpath));
    OK(wd_to_file(f, tpath));
    wd_frame *back = wd_read_file(ctx, tpath);
    assert_non_null(back);
    assert_int_equal(wd_nparts(back), parts);
    wd_table *t1 = wd_compute(f), *t2 = wd_compute(back);
    assert_non_null(t1);
    assert_non_null(t2);
    assert_int_equal(wd_table_nrows(t1), 5000);
    assert_int_equal(wd_table_nrows(t2), 5000);
    for (size_t i = 0; i < 5000; i += 97)
        assert_int_equal(wd_table_i64(t1, i, 0), wd_table_i64(t2, i, 0));
    /* to_csv, read back: the same */
    OK(wd_to_csv(back, cpath));
    wd_frame *again = wd_read_csv(ctx, cpath, NULL);
    assert_non_null(again);
    wd_table *t3 = wd_compute(wd_concat((wd_frame *[]){again, f}, 2));
    assert_non_null(t3);
    assert_int_equal(wd_table_nrows(t3), 10000);
    assert_true(
        close_enough(wd_table_f64(t3, 4321, 3), wd_table_f64(t1, 4321, 3)));

    /* errors name what is wrong */
    assert_null(wd_filter(f, "nosuch > 1"));
    assert_non_null(strstr(wd_error(ctx), "nosuch"));
    assert_null(wd_filter(f, "x >> 1"));
    assert_non_null(strstr(wd_error(ctx), "column"));
    assert_null(wd_groupby(f, "g", "median(x)"));
    assert_non_null(strstr(wd_error(ctx), "median"));
    assert_null(wd_select(f, "id,zz"));
    assert_non_null(strstr(wd_error(ctx), "zz"));
    assert_null(wd_sort(f, "-qq"));
    assert_non_null(strstr(wd_error(ctx), "qq"));
    assert_null(wd_read_csv(ctx, "/nonexistent/*.csv", NULL));
    assert_true(strlen(wd_error(ctx)) > 0);
    assert_null(wd_read_csv(ctx, path, &(wd_csv_options){.schema = "x:float"}));
    assert_non_null(strstr(wd_error(ctx), "x:float"));
    /* concat of frames with other columns: their union, nulls where a
     * frame has no such column, int64 with float64 as float64; a clash
     * of other types is an error naming the column */
    {
        wd_frame *ux = wd_select(f, "id,x"), *ug = wd_select(f, "g,id");
        wd_frame *half = wd_eval(wd_select(f, "id"), "id = id * 0.5");
        wd_frame *u = wd_concat((wd_frame *[]){ux, ug, half}, 3);
        assert_non_null(u);
        assert_int_equal(wd_ncols(u), 3);
        assert_string_equal(wd_col_name(u, 0), "id");
        assert_string_equal(wd_col_name(u, 1), "x");
        assert_string_equal(wd_col_name(u, 2), "g");
        assert_int_equal(wd_col_type(u, 0), WD_FLOAT64);
        assert_int_equal(wd_col_type(u, 2), WD_STRING);
        wd_table *ut = wd_compute(u);
        assert_non_null(ut);
        assert_int_equal(wd_table_nrows(ut), 15000);
        for (size_t i = 0; i < 15000; i += 7) {
            size_t r = i % 5000;
            double id = (double)wd_table_i64(t1, r, 0);
            assert_true(wd_table_f64(ut, i, 0) == (i < 10000 ? id : id * 0.5));
            assert_true(wd_table_is_null(ut, i, 1) ==
                        (i >= 5000 || wd_table_is_null(t1, r, 3)));
            if (i < 5000 && !wd_table_is_null(t1, r, 3))
                assert_true(wd_table_f64(ut, i, 1) == wd_table_f64(t1, r, 3));
            assert_true(wd_table_is_null(ut, i, 2) ==
                        (i < 5000 || i >= 10000 || wd_table_is_null(t1, r, 1)));
            if (i >= 5000 && i < 10000 && !wd_table_is_null(t1, r, 1)) {
                size_t l1, l2;
                const char *s1 = wd_table_str(ut, i, 2, &l1);
                const char *s2 = wd_table_str(t1, r, 1, &l2);
                assert_true(l1 == l2 && memcmp(s1, s2, l1) == 0);
            }
        }
        /* projected through the casts: only x is read, then the union's
         * nulls count as missing */
        wd_table *n = wd_compute(wd_agg(u, "count(x),size()"));
        assert_non_null(n);
        int64_t with_x = 0;
        for (size_t i = 0; i < 5000; i++)
            with_x += !wd_table_is_null(t1, i, 3);
        assert_int_equal(wd_table_i64(n, 0, 0), with_x);
        assert_int_equal(wd_table_i64(n, 0, 1), 15000);
        wd_table_free(n);
        wd_table_free(ut);
        assert_null(wd_concat((wd_frame *[]){f, wd_eval(f, "x = g")}, 2));
        if (!strstr(wd_error(ctx), "column \"x\" is string"))
            fail_msg("%s", wd_error(ctx));
    }
    /* a data error at compute time names the file and line */
    FILE *bad = fopen(path, "a");
    fprintf(bad, "1,Asthma,3,oops,4,true\n");
    fclose(bad);
    wd_frame *typed = wd_read_csv(
        ctx, path,
        &(wd_csv_options){.schema = "x:float64", .partition_bytes = 1 << 20});
    assert_non_null(typed);
    assert_null(wd_compute(typed));
    assert_non_null(strstr(wd_error(ctx), "oops"));
    if (!strstr(wd_error(ctx), ":5002: column 4 (x)"))
        fail_msg("%s", wd_error(ctx));
    uint64_t nbad = 0;
    assert_int_equal(wd_bad_lines(typed, &nbad), WEFT_EINVAL);
    /* skipped and counted when asked: that row and a ragged one */
    FILE *more = fopen(path, "a");
    fprintf(more, "2,COPD,3\n");
    fclose(more);
    wd_frame *skip = wd_read_csv(ctx, path,
                                 &(wd_csv_options){.schema = "x:float64",
                                                   .partition_bytes = 32 << 10,
                                                   .skip_bad_lines = true});
    assert_non_null(skip);
    wd_table *kept = wd_compute(skip);
    assert_non_null(kept);
    assert_int_equal(wd_table_nrows(kept), 5000);
    wd_table_free(kept);
    OK(wd_bad_lines(skip, &nbad));
    assert_int_equal(nbad, 2);

    wd_table_free(a);
    wd_table_free(b);
    wd_table_free(t1);
    wd_table_free(t2);
    wd_table_free(t3);
    wd_ctx_free(ctx);
    unlink(path);
    unlink(tpath);
    unlink(cpath);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* A filter and a mean over a file 6 times the runtime's object store
 * cap: partitions flow through, and the answer is the whole table's. */
static void test_out_of_core(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.num_threads = 2;
    o.store_cap = 4 << 20;
    weft_runtime *rt = start_runtime_opts(&o);
    uint64_t rng = 99;
    char path[] = "/tmp/weft_big_XXXXXX";
    close(mkstemp(path));
    size_t rows = sanitize_scale() ? 300000 : 700000; /* ~24 MB */
    write_random_csv(&rng, rows, path);
    query q = {
        .filter = "x > 0 and k != 3", .keys = "g", .aggs = "mean(x),size()"};
    char err[512];
    wf_table want;
    const char *p1[1] = {path};
    OK(wf_csv_read(p1, 1, NULL, &want, NULL, err, sizeof err));
    sequential(&q, &want, NULL);
    wd_ctx *ctx = wd_ctx_new(rt);
    wd_frame *f =
        wd_read_csv(ctx, path, &(wd_csv_options){.partition_bytes = 1 << 20});
    assert_non_null(f);
    assert_true(wd_nparts(f) >= 10);
    wd_table *got = wd_compute(lazy(&q, f, NULL));
    if (!got)
        fail_msg("%s", wd_error(ctx));
    check_same(got, &want, "out of core");
    wd_table_free(got);
    wf_table_free(&want);
    wd_ctx_free(ctx);
    unlink(path);
    weft_shutdown(rt);
}

/* Expressions built with C functions: the same rows as their text, and
 * names and values that would need quoting by hand. */
static void test_built_expressions(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    char path[] = "/tmp/weft_dfx_XXXXXX";
    close(mkstemp(path));
    FILE *f = fopen(path, "w");
    fprintf(f, "name,weight kg,h,age\n");
    fprintf(f,
            "\"O'Brien \\ x\",80,2.0,70\nplain,50,1.0,30\nother,90,3.0,65\n");
    fclose(f);
    wd_ctx *ctx = wd_ctx_new(rt);
    wd_frame *df = wd_read_csv(ctx, path, NULL);
    assert_non_null(df);
    /* a text value with a quote and a backslash */
    wd_table *t =
        wd_compute(wd_filter(df, wd_bin(ctx, wd_col(ctx, "name"),
                                        "==", wd_str(ctx, "O'Brien \\ x"))));
    assert_non_null(t);
    assert_int_equal(wd_table_nrows(t), 1);
    assert_int_equal(wd_table_i64(t, 0, 3), 70);
    wd_table_free(t);
    /* the same rows as the text form */
    const char *built = wd_bin(
        ctx, wd_bin(ctx, wd_col(ctx, "age"), ">", wd_int(ctx, 60)), "and",
        wd_not(ctx, wd_bin(ctx, wd_col(ctx, "h"), ">=", wd_num(ctx, 2.5))));
    assert_string_equal(built, "((`age` > 60) and (not (`h` >= 2.5)))");
    wd_table *a = wd_compute(wd_filter(df, built));
    wd_table *b = wd_compute(wd_filter(df, "age > 60 and not h >= 2.5"));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(wd_table_nrows(a), 1);
    assert_int_equal(wd_table_nrows(b), 1);
    wd_table_free(a);
    wd_table_free(b);
    /* a new column with a space in its name, from one that has one */
    wd_frame *e = wd_eval(
        df,
        wd_assign(ctx, "bmi 2",
                  wd_bin(ctx, wd_col(ctx, "weight kg"), "/",
                         wd_bin(ctx, wd_col(ctx, "h"), "**", wd_int(ctx, 2)))));
    if (!e)
        fail_msg("%s", wd_error(ctx));
    t = wd_compute(wd_select(e, "bmi 2"));
    assert_non_null(t);
    assert_true(close_enough(wd_table_f64(t, 0, 0), 20.0));
    assert_true(close_enough(wd_table_f64(t, 2, 0), 10.0));
    wd_table_free(t);
    t = wd_compute(wd_filter(df, wd_fn(ctx, "notnull", wd_col(ctx, "age"))));
    assert_non_null(t);
    assert_int_equal(wd_table_nrows(t), 3);
    wd_table_free(t);
    /* bad pieces say what is wrong; NULL passes through */
    assert_null(wd_bin(ctx, wd_col(ctx, "age"), "<>", wd_int(ctx, 1)));
    assert_non_null(strstr(wd_error(ctx), "operators"));
    assert_null(wd_col(ctx, "a`b"));
    assert_non_null(strstr(wd_error(ctx), "backtick"));
    assert_null(wd_fn(ctx, "median", wd_col(ctx, "age")));
    assert_null(wd_num(ctx, 1.0 / 0.0));
    assert_null(wd_filter(df, wd_bin(ctx, NULL, ">", wd_int(ctx, 1))));
    wd_ctx_free(ctx);
    unlink(path);
    weft_shutdown(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_queries_threads),
        cmocka_unit_test(test_random_queries_processes),
        cmocka_unit_test(test_persist_files_and_errors),
        cmocka_unit_test(test_out_of_core),
        cmocka_unit_test(test_built_expressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
