/* Tests of dataframe expressions (expr.h): the seeds' queries by hand,
 * every error message with its column, and random expression trees over
 * a random table with nulls, printed, parsed, evaluated and compared row
 * by row with a plain row-at-a-time evaluator written here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/expr.h"

#include "testutil.h"

/* A table: a int64 (no nulls), b int64 (nulls), x float64 (nulls),
 * s string, d date. */
static void make_table(uint64_t *rng, size_t n, wf_table *t)
{
    static const char *const words[] = {"Hypertension", "Asthma", "",
                                        "Heart Disease"};
    wf_column a, b, x, s, d;
    wf_col_init(&a, WF_COL_I64, n);
    wf_col_init(&b, WF_COL_I64, n);
    wf_col_init(&x, WF_COL_F64, n);
    wf_col_init(&s, WF_COL_STR, n);
    wf_col_init(&d, WF_COL_DATE, n);
    for (size_t i = 0; i < n; i++) {
        wf_col_push_i64(&a, (int64_t)xorshift_below(rng, 21) - 10);
        if (xorshift_below(rng, 5) == 0)
            wf_col_push_null(&b);
        else
            wf_col_push_i64(&b, (int64_t)xorshift_below(rng, 7) - 3);
        if (xorshift_below(rng, 5) == 0)
            wf_col_push_null(&x);
        else
            wf_col_push_f64(&x, ((double)xorshift_below(rng, 41) - 20) / 4);
        const char *w = words[xorshift_below(rng, 4)];
        wf_col_push_str(&s, w, strlen(w));
        d.v.i64[d.len++] = 18000 + (int64_t)xorshift_below(rng, 1000);
    }
    wf_table_init(t);
    wf_table_add(t, "a", &a);
    wf_table_add(t, "b", &b);
    wf_table_add(t, "x", &x);
    wf_table_add(t, "s", &s);
    wf_table_add(t, "d", &d);
}

static wf_expr *bound(const char *src, const wf_table *t)
{
    char err[512];
    wf_expr *e;
    if (wf_expr_parse(src, &e, err, sizeof err))
        fail_msg("parse '%s': %s", src, err);
    wf_coltype types[8];
    for (size_t i = 0; i < t->ncols; i++)
        types[i] = t->cols[i].type;
    if (wf_expr_bind(e, (const char *const *)t->names, types, t->ncols, err,
                     sizeof err))
        fail_msg("bind '%s': %s", src, err);
    return e;
}

/* ------------------------------------------------ the naive evaluator */

enum { V_INT, V_FLT, V_BOOL };
typedef struct nv {
    int kind;
    bool null;
    int64_t i;
    double f;
} nv;

typedef struct tnode {
    int kind; /* 0 col, 1 int lit, 2 float lit, 3 binary, 4 not, 5 neg,
                 6 abs, 7 isnull */
    int col;  /* 0 a, 1 b, 2 x */
    int64_t i;
    double f;
    const char *op;
    int a, b;
    int type; /* V_* */
} tnode;

static tnode tree[256];
static int ntree;

static int gen(uint64_t *rng, int type, int depth)
{
    int k = ntree++;
    tnode *n = &tree[k];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->a = n->b = -1;
    bool leaf = depth <= 0 || xorshift_below(rng, 3) == 0 || ntree > 200;
    if (type == V_BOOL) {
        int pick = leaf ? 0 : (int)xorshift_below(rng, 4);
        if (pick == 0) { /* comparison */
            static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
            n->kind = 3;
            n->op = ops[xorshift_below(rng, 6)];
            int ta = xorshift_below(rng, 2) ? V_INT : V_FLT;
            n->a = gen(rng, ta, depth - 1);
            n->b = gen(rng, xorshift_below(rng, 2) ? V_INT : V_FLT, depth - 1);
        } else if (pick == 1 || pick == 2) {
            n->kind = 3;
            n->op = pick == 1 ? "and" : "or";
            n->a = gen(rng, V_BOOL, depth - 1);
            n->b = gen(rng, V_BOOL, depth - 1);
        } else {
            n->kind = xorshift_below(rng, 2) ? 4 : 7;
            n->a = gen(rng, n->kind == 4 ? V_BOOL : V_FLT, depth - 1);
        }
        return k;
    }
    if (leaf) {
        if (xorshift_below(rng, 2)) {
            n->kind = 0;
            n->col = type == V_INT ? (int)xorshift_below(rng, 2) : 2;
        } else if (type == V_INT) {
            n->kind = 1;
            n->i = (int64_t)xorshift_below(rng, 9) - 4;
        } else {
            n->kind = 2;
            n->f = ((double)xorshift_below(rng, 17) - 8) / 2;
        }
        return k;
    }
    int pick = (int)xorshift_below(rng, 10);
    if (pick == 0) {
        n->kind = 5;
        n->a = gen(rng, type, depth - 1);
    } else if (pick == 1) {
        n->kind = 6;
        n->a = gen(rng, type, depth - 1);
    } else {
        static const char *const iops[] = {"+", "-", "*", "//", "%", "**"};
        static const char *const fops[] = {"+", "-", "*", "/", "//", "%"};
        n->kind = 3;
        if (type == V_INT) {
            n->op = iops[xorshift_below(rng, 6)];
            n->a = gen(rng, V_INT, depth - 1);
            if (strcmp(n->op, "**") == 0) { /* a small literal exponent */
                int e = ntree++;
                memset(&tree[e], 0, sizeof tree[e]);
                tree[e].kind = 1;
                tree[e].type = V_INT;
                tree[e].i = (int64_t)xorshift_below(rng, 4);
                n->b = e;
            } else {
                n->b = gen(rng, V_INT, depth - 1);
            }
        } else {
            n->op = fops[xorshift_below(rng, 6)];
            n->a = gen(rng, xorshift_below(rng, 2) ? V_FLT : V_INT, depth - 1);
            n->b = gen(rng, V_FLT, depth - 1);
        }
    }
    return k;
}

static void print_tree(int k, char *out, size_t cap)
{
    tnode *n = &tree[k];
    char l[2048], r[2048];
    switch (n->kind) {
    case 0:
        snprintf(out, cap, "%s", n->col == 0 ? "a" : n->col == 1 ? "b" : "x");
        break;
    case 1:
        snprintf(out, cap, n->i < 0 ? "(%lld)" : "%lld", (long long)n->i);
        break;
    case 2:
        snprintf(out, cap, "(%.17g", n->f);
        if (!strpbrk(out, ".e"))
            strncat(out, ".0", cap - strlen(out) - 1);
        strncat(out, ")", cap - strlen(out) - 1);
        break;
    case 3:
        print_tree(n->a, l, sizeof l);
        print_tree(n->b, r, sizeof r);
        snprintf(out, cap, "(%s %s %s)", l, n->op, r);
        break;
    case 4:
        print_tree(n->a, l, sizeof l);
        snprintf(out, cap, "(not %s)", l);
        break;
    case 5:
        print_tree(n->a, l, sizeof l);
        snprintf(out, cap, "(-%s)", l);
        break;
    case 6:
        print_tree(n->a, l, sizeof l);
        snprintf(out, cap, "abs(%s)", l);
        break;
    default:
        print_tree(n->a, l, sizeof l);
        snprintf(out, cap, "isnull(%s)", l);
    }
}

static double as_f(nv v)
{
    return v.kind == V_FLT ? v.f : (double)v.i;
}

static nv naive(const wf_table *t, size_t row, int k)
{
    tnode *n = &tree[k];
    nv r = {n->type, false, 0, 0};
    if (n->kind == 0) {
        const wf_column *c = &t->cols[n->col == 0 ? 0 : n->col == 1 ? 1 : 2];
        r.null = !wf_col_present(c, row);
        if (n->col == 2)
            r.f = c->v.f64[row];
        else
            r.i = c->v.i64[row];
        return r;
    }
    if (n->kind == 1) {
        r.i = n->i;
        return r;
    }
    if (n->kind == 2) {
        r.f = n->f;
        return r;
    }
    nv a = naive(t, row, n->a);
    if (n->kind == 7) {
        r.i = a.null;
        return r;
    }
    if (n->kind == 4 || n->kind == 5 || n->kind == 6) {
        r.null = a.null;
        if (n->kind == 4)
            r.i = !a.i;
        else if (n->type == V_INT)
            r.i = n->kind == 5 || a.i < 0 ? (int64_t)(0 - (uint64_t)a.i) : a.i;
        else
            r.f = n->kind == 5 ? -a.f : fabs(a.f);
        return r;
    }
    nv b = naive(t, row, n->b);
    const char *op = n->op;
    if (!strcmp(op, "and") || !strcmp(op, "or")) {
        bool u = !a.null && a.i, w = !b.null && b.i;
        r.i = !strcmp(op, "and") ? u && w : u || w;
        return r;
    }
    if (n->type == V_BOOL) { /* a comparison */
        if (a.null || b.null) {
            r.i = !strcmp(op, "!=");
            return r;
        }
        if (a.kind == V_INT && b.kind == V_INT) {
            int64_t u = a.i, w = b.i;
            r.i = !strcmp(op, "==")   ? u == w
                  : !strcmp(op, "!=") ? u != w
                  : !strcmp(op, "<")  ? u < w
                  : !strcmp(op, "<=") ? u <= w
                  : !strcmp(op, ">")  ? u > w
                                      : u >= w;
        } else {
            double u = as_f(a), w = as_f(b);
            r.i = !strcmp(op, "==")   ? u == w
                  : !strcmp(op, "!=") ? u != w
                  : !strcmp(op, "<")  ? u < w
                  : !strcmp(op, "<=") ? u <= w
                  : !strcmp(op, ">")  ? u > w
                                      : u >= w;
        }
        return r;
    }
    r.null = a.null || b.null;
    if (n->type == V_INT) {
        uint64_t u = (uint64_t)a.i, w = (uint64_t)b.i;
        if (!strcmp(op, "+"))
            r.i = (int64_t)(u + w);
        else if (!strcmp(op, "-"))
            r.i = (int64_t)(u - w);
        else if (!strcmp(op, "*"))
            r.i = (int64_t)(u * w);
        else if (!strcmp(op, "**")) {
            uint64_t p = 1;
            for (int64_t e = 0; e < b.i; e++)
                p *= u;
            r.i = (int64_t)p;
        } else if (b.i == 0) {
            r.null = true;
        } else if (!strcmp(op, "//")) {
            r.i = (int64_t)floor((double)a.i / (double)b.i); /* small here */
        } else {
            r.i = a.i - b.i * (int64_t)floor((double)a.i / (double)b.i);
        }
        return r;
    }
    double u = as_f(a), w = as_f(b);
    if (!strcmp(op, "+"))
        r.f = u + w;
    else if (!strcmp(op, "-"))
        r.f = u - w;
    else if (!strcmp(op, "*"))
        r.f = u * w;
    else if (!strcmp(op, "/"))
        r.f = u / w;
    else if (!strcmp(op, "//"))
        r.f = floor(u / w);
    else {
        r.f = fmod(u, w);
        if (r.f != 0 && ((r.f < 0) != (w < 0)))
            r.f += w;
    }
    return r;
}

static void test_random_trees(void **state)
{
    (void)state;
    uint64_t rng = 0xe5e5;
    wf_table t;
    make_table(&rng, 64, &t);
    for (int round = 0; round < 2000; round++) {
        ntree = 0;
        int type = (int)xorshift_below(&rng, 3);
        int root = gen(&rng, type, 1 + (int)xorshift_below(&rng, 5));
        char src[8192];
        print_tree(root, src, sizeof src);
        wf_expr *e = bound(src, &t);
        wf_coltype want = type == V_INT   ? WF_COL_I64
                          : type == V_FLT ? WF_COL_F64
                                          : WF_COL_BOOL;
        if (wf_expr_type(e) != want)
            fail_msg("'%s': type %s, want %s", src,
                     wf_coltype_name(wf_expr_type(e)), wf_coltype_name(want));
        wf_column out;
        char err[512];
        if (wf_expr_eval(e, &t, &out, err, sizeof err))
            fail_msg("eval '%s': %s", src, err);
        assert_int_equal(out.len, t.nrows);
        for (size_t i = 0; i < t.nrows; i++) {
            nv v = naive(&t, i, root);
            bool got_null = !wf_col_present(&out, i);
            if (got_null != v.null)
                fail_msg("'%s' row %zu: null %d, want %d", src, i, got_null,
                         v.null);
            if (v.null)
                continue;
            bool same = type == V_FLT   ? (isnan(v.f) ? isnan(out.v.f64[i])
                                                      : out.v.f64[i] == v.f)
                        : type == V_INT ? out.v.i64[i] == v.i
                                        : out.v.b[i] == (v.i != 0);
            if (!same)
                fail_msg("'%s' row %zu: got %g/%lld, want %g/%lld", src, i,
                         type == V_FLT ? out.v.f64[i] : 0,
                         type == V_INT    ? (long long)out.v.i64[i]
                         : type == V_BOOL ? out.v.b[i]
                                          : 0,
                         v.f, (long long)v.i);
        }
        wf_col_free(&out);
        wf_expr_free(e);
    }
    wf_table_free(&t);
}

/* The seeds' queries, checked against plain loops. */
static void test_seed_queries(void **state)
{
    (void)state;
    uint64_t rng = 7;
    wf_table t;
    make_table(&rng, 500, &t);
    char err[512];
    /* A filter on a number and a string, as in the Modin/Dask seed. */
    wf_expr *e = bound("a > 3 and s == 'Hypertension'", &t);
    wf_table f;
    assert_int_equal(wf_expr_filter(e, &t, &f, err, sizeof err), 0);
    size_t want = 0;
    for (size_t i = 0; i < t.nrows; i++) {
        size_t n;
        const char *s = wf_col_str(&t.cols[3], i, &n);
        want += t.cols[0].v.i64[i] > 3 && n == 12 &&
                memcmp(s, "Hypertension", 12) == 0;
    }
    assert_int_equal(f.nrows, want);
    assert_int_equal(f.ncols, t.ncols);
    for (size_t i = 0; i < f.nrows; i++)
        assert_true(f.cols[0].v.i64[i] > 3);
    wf_table_free(&f);
    wf_expr_free(e);

    /* eval's assignment form: bmi = w / h ** 2 (here x / (a ** 2)). */
    e = bound("`bmi` = x / a ** 2", &t);
    assert_string_equal(wf_expr_target(e), "bmi");
    assert_int_equal(wf_expr_type(e), WF_COL_F64);
    wf_column c;
    assert_int_equal(wf_expr_eval(e, &t, &c, err, sizeof err), 0);
    for (size_t i = 0; i < t.nrows; i++) {
        if (!wf_col_present(&t.cols[2], i)) {
            assert_false(wf_col_present(&c, i));
            continue;
        }
        double a = (double)t.cols[0].v.i64[i];
        double w = t.cols[2].v.f64[i] / (a * a);
        assert_true(isnan(w) ? isnan(c.v.f64[i]) : c.v.f64[i] == w);
    }
    wf_col_free(&c);
    wf_expr_free(e);

    /* Chained comparisons, in-lists, dates against text, functions. */
    static const char *const same[][2] = {
        {"-2 <= a < 3", "a >= -2 and a < 3"},
        {"s in ['Asthma', '']", "s == 'Asthma' or s == ''"},
        {"s not in ['Asthma']", "not (s == 'Asthma')"},
        {"d >= '2020-01-01'", "d >= '2020-01-01 00:00:00'"},
        {"isnull(b) | notnull(x)", "isnull(b) or not isnull(x)"},
        {"~(a == 1) & (a != 2)", "not a == 1 and a != 2"},
        {"round(x) == floor(x + 0.5) or x - floor(x) == 0.5",
         "round(x) == round(x)"},
    };
    for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
        wf_expr *e1 = bound(same[k][0], &t), *e2 = bound(same[k][1], &t);
        wf_column c1, c2;
        assert_int_equal(wf_expr_eval(e1, &t, &c1, err, sizeof err), 0);
        assert_int_equal(wf_expr_eval(e2, &t, &c2, err, sizeof err), 0);
        for (size_t i = 0; i < t.nrows; i++)
            if (c1.v.b[i] != c2.v.b[i])
                fail_msg("'%s' and '%s' differ at row %zu", same[k][0],
                         same[k][1], i);
        wf_col_free(&c1);
        wf_col_free(&c2);
        wf_expr_free(e1);
        wf_expr_free(e2);
    }
    /* 2020-01-01 is day 18262. */
    e = bound("d >= '2020-01-01'", &t);
    assert_int_equal(wf_expr_eval(e, &t, &c, err, sizeof err), 0);
    for (size_t i = 0; i < t.nrows; i++)
        assert_int_equal(c.v.b[i], t.cols[4].v.i64[i] >= 18262);
    wf_col_free(&c);
    wf_expr_free(e);
    /* Columns read, for projection. */
    e = bound("a + b * a > x", &t);
    const char *cols[4];
    assert_int_equal(wf_expr_columns(e, cols, 4), 3);
    assert_string_equal(cols[0], "a");
    assert_string_equal(cols[1], "b");
    assert_string_equal(cols[2], "x");
    wf_expr_free(e);
    wf_table_free(&t);
}

static void assert_error(const char *src, bool at_parse, const char *want,
                         int column)
{
    static const char *const names[] = {"age", "condition", "when"};
    static const wf_coltype types[] = {WF_COL_I64, WF_COL_STR, WF_COL_DATE};
    char err[512] = "";
    wf_expr *e = NULL;
    weft_err r = wf_expr_parse(src, &e, err, sizeof err);
    if (!at_parse) {
        if (r)
            fail_msg("'%s' should parse: %s", src, err);
        r = wf_expr_bind(e, names, types, 3, err, sizeof err);
    }
    wf_expr_free(e);
    assert_int_equal(r, WEFT_EINVAL);
    char col[32];
    snprintf(col, sizeof col, "(column %d)", column);
    if (!strstr(err, want) || !strstr(err, col))
        fail_msg("'%s': got \"%s\", want \"%s\" at %s", src, err, want, col);
    /* The caret sits under that column. */
    const char *caret = strrchr(err, '\n');
    assert_non_null(caret);
    assert_int_equal((int)(strchr(caret, '^') - caret) - 2, column);
}

static void test_errors(void **state)
{
    (void)state;
    assert_error("age > and x", true, "expected an expression after '>'", 7);
    assert_error("age >", true, "found the end", 6);
    assert_error("(age > 1", true, "expected ')'", 9);
    assert_error("age > 1 2", true, "unexpected '2'", 9);
    assert_error("name == 'x", true, "unterminated quote", 9);
    assert_error("age $ 3", true, "unexpected character", 5);
    assert_error("frob(age)", true, "unknown function 'frob'", 1);
    assert_error("a in 3", true, "expected '['", 6);
    assert_error("agee > 60", false, "unknown column 'agee'", 1);
    assert_error("agee > 60", false, "age, condition, when", 1);
    assert_error("condition > 60", false,
                 "cannot compare a string with a int64", 11);
    assert_error("age + condition", false, "cannot do arithmetic", 5);
    assert_error("age and condition == 'x'", false, "'and' wants bools", 5);
    assert_error("when > 'yesterday'", false, "'yesterday' is not a date", 8);
    assert_error("not age", false, "'not' wants a bool", 1);
    assert_error("sqrt(condition)", false, "sqrt() wants a number", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_trees),
        cmocka_unit_test(test_seed_queries),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
