/* libFuzzer target for dataframe expressions (expr.h): any text is parsed;
 * what parses is checked against a fixed schema; what checks is evaluated
 * over a small table with nulls. Nothing may crash or leak, errors must
 * come with a message, and results must have a row per row. */
#include <stdlib.h>
#include <string.h>

#include "dataframe/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static wf_table table;

static void make_table(void)
{
    wf_column a, x, s, d;
    wf_col_init(&a, WF_COL_I64, 4);
    wf_col_init(&x, WF_COL_F64, 4);
    wf_col_init(&s, WF_COL_STR, 4);
    wf_col_init(&d, WF_COL_DATE, 4);
    static const int64_t av[] = {0, -1, 7, INT64_MIN};
    for (int i = 0; i < 4; i++) {
        wf_col_push_i64(&a, av[i]);
        if (i == 2)
            wf_col_push_null(&x);
        else
            wf_col_push_f64(&x, i * 0.5 - 1);
        wf_col_push_str(&s, "Asthma", (size_t)i);
        wf_col_push_i64(&d, 18000 + i);
    }
    wf_table_init(&table);
    wf_table_add(&table, "a", &a);
    wf_table_add(&table, "x", &x);
    wf_table_add(&table, "s", &s);
    wf_table_add(&table, "d", &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!table.ncols)
        make_table();
    if (size > 4096)
        return 0;
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    char err[512] = "";
    wf_expr *e;
    weft_err r = wf_expr_parse(src, &e, err, sizeof err);
    if (r) {
        check(r == WEFT_EINVAL || r == WEFT_ENOMEM);
        check(err[0] != '\0');
        free(src);
        return 0;
    }
    wf_coltype types[4];
    for (size_t i = 0; i < 4; i++)
        types[i] = table.cols[i].type;
    r = wf_expr_bind(e, (const char *const *)table.names, types, 4, err,
                     sizeof err);
    if (r) {
        check(r == WEFT_EINVAL && err[0] != '\0');
    } else {
        wf_column out;
        r = wf_expr_eval(e, &table, &out, err, sizeof err);
        check(r == 0 || r == WEFT_ENOMEM);
        if (!r) {
            check(out.len == table.nrows && out.type == wf_expr_type(e));
            wf_col_free(&out);
        }
        if (wf_expr_type(e) == WF_COL_BOOL) {
            wf_table f;
            if (wf_expr_filter(e, &table, &f, err, sizeof err) == 0) {
                check(f.nrows <= table.nrows);
                wf_table_free(&f);
            }
        }
    }
    wf_expr_free(e);
    free(src);
    return 0;
}
