/* Tests of table_stats.h: random tables (int64, float64 with NaN, bool and
 * text columns, all with nulls; 0 rows too) through tail, dropna, fillna,
 * concat, value_counts, unique and describe, checked against plain
 * reference implementations written here; the partial/combine/final path
 * over random splits into 1, 2 and 8 parts equals the whole-table result;
 * the same tables as CSV through pandas (/usr/bin/python3) give the same
 * answers; errors name the column. */
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

#include "dataframe/table_ops.h"
#include "dataframe/table_stats.h"

#include "testutil.h"

static char tmpdir[256];

/* ------------------------------------------------------------ tables */

static const char *const words[] = {"apple", "Banana", "cherry", "date",
                                    "fig",   "zz top", "a",      "b"};

/* id int64 (row number, no nulls), i int64 (small, nulls), f float64
 * (eighths, nulls and NaN), b bool (nulls), s string (nulls); with
 * empty_text, s also holds "". */
static void make(uint64_t *rng, size_t n, bool empty_text, wf_table *t)
{
    wf_column id, i, f, b, s;
    wf_col_init(&id, WF_COL_I64, n);
    wf_col_init(&i, WF_COL_I64, n);
    wf_col_init(&f, WF_COL_F64, n);
    wf_col_init(&b, WF_COL_BOOL, n);
    wf_col_init(&s, WF_COL_STR, n);
    unsigned range = 1 + (unsigned)xorshift_below(rng, 12);
    for (size_t r = 0; r < n; r++) {
        wf_col_push_i64(&id, (int64_t)r);
        if (xorshift_below(rng, 7) == 0)
            wf_col_push_null(&i);
        else
            wf_col_push_i64(&i, (int64_t)xorshift_below(rng, range) - 3);
        uint64_t k = xorshift_below(rng, 9);
        if (k == 0)
            wf_col_push_null(&f);
        else if (k == 1)
            wf_col_push_f64(&f, NAN);
        else
            wf_col_push_f64(&f,
                            ((double)xorshift_below(rng, 4 * range) - 9) / 8);
        if (xorshift_below(rng, 5) == 0)
            wf_col_push_null(&b);
        else
            wf_col_push_bool(&b, xorshift_below(rng, 2));
        if (xorshift_below(rng, 6) == 0)
            wf_col_push_null(&s);
        else if (empty_text && xorshift_below(rng, 9) == 0)
            wf_col_push_str(&s, "", 0);
        else {
            const char *w = words[xorshift_below(rng, range < 8 ? range : 8)];
            wf_col_push_str(&s, w, strlen(w));
        }
    }
    wf_table_init(t);
    wf_table_add(t, "id", &id);
    wf_table_add(t, "i", &i);
    wf_table_add(t, "f", &f);
    wf_table_add(t, "b", &b);
    wf_table_add(t, "s", &s);
}

static bool is_null(const wf_column *c, size_t r)
{
    return !wf_col_present(c, r) ||
           (c->type == WF_COL_F64 && isnan(c->v.f64[r]));
}

/* Cells equal, null (or NaN) equal to null. */
static bool cell_eq(const wf_column *a, size_t i, const wf_column *b, size_t j)
{
    bool na = is_null(a, i), nb = is_null(b, j);
    if (na || nb)
        return na && nb;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case WF_COL_F64:
        return a->v.f64[i] == b->v.f64[j];
    case WF_COL_BOOL:
        return a->v.b[i] == b->v.b[j];
    case WF_COL_STR: {
        size_t n1, n2;
        const char *p = wf_col_str(a, i, &n1), *q = wf_col_str(b, j, &n2);
        return n1 == n2 && memcmp(p, q, n1) == 0;
    }
    default:
        return a->v.i64[i] == b->v.i64[j];
    }
}

/* Ascending, nulls last. */
static int cell_cmp(const wf_column *c, size_t i, size_t j)
{
    bool ni = is_null(c, i), nj = is_null(c, j);
    if (ni || nj)
        return ni - nj;
    switch (c->type) {
    case WF_COL_F64:
        return (c->v.f64[i] > c->v.f64[j]) - (c->v.f64[i] < c->v.f64[j]);
    case WF_COL_BOOL:
        return c->v.b[i] - c->v.b[j];
    case WF_COL_STR: {
        size_t n1, n2;
        const char *p = wf_col_str(c, i, &n1), *q = wf_col_str(c, j, &n2);
        int r = memcmp(p, q, n1 < n2 ? n1 : n2);
        return r ? r : (n1 > n2) - (n1 < n2);
    }
    default:
        return (c->v.i64[i] > c->v.i64[j]) - (c->v.i64[i] < c->v.i64[j]);
    }
}

static void assert_tables_equal(const wf_table *a, const wf_table *b)
{
    assert_int_equal(a->ncols, b->ncols);
    assert_int_equal(a->nrows, b->nrows);
    for (size_t j = 0; j < a->ncols; j++) {
        assert_string_equal(a->names[j], b->names[j]);
        assert_int_equal(a->cols[j].type, b->cols[j].type);
        assert_int_equal(a->cols[j].len, a->nrows);
        for (size_t r = 0; r < a->nrows; r++)
            if (!cell_eq(&a->cols[j], r, &b->cols[j], r))
                fail_msg("column %s row %zu differs", a->names[j], r);
    }
}

/* Rows [from, from + n) of t. */
static void rows_of(const wf_table *t, size_t from, size_t n, wf_table *out)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    for (size_t r = 0; r < n; r++)
        idx[r] = from + r;
    wf_table_init(out);
    for (size_t j = 0; j < t->ncols; j++) {
        wf_column c;
        OK(wf_col_take(&t->cols[j], idx, n, &c));
        OK(wf_table_add(out, t->names[j], &c));
    }
    free(idx);
}

/* t cut at random into k consecutive parts (some may be empty). */
static wf_table *split(uint64_t *rng, const wf_table *t, size_t k)
{
    size_t *cut = malloc((k + 1) * sizeof *cut);
    cut[0] = 0;
    cut[k] = t->nrows;
    for (size_t q = 1; q < k; q++)
        cut[q] = (size_t)xorshift_below(rng, t->nrows + 1);
    for (size_t q = 1; q < k; q++) /* sort the inner cuts */
        for (size_t p = q; p > 1 && cut[p - 1] > cut[p]; p--) {
            size_t x = cut[p];
            cut[p] = cut[p - 1];
            cut[p - 1] = x;
        }
    wf_table *parts = calloc(k, sizeof *parts);
    for (size_t q = 0; q < k; q++)
        rows_of(t, cut[q], cut[q + 1] - cut[q], &parts[q]);
    free(cut);
    return parts;
}

static void free_parts(wf_table *p, size_t k)
{
    for (size_t q = 0; q < k; q++)
        wf_table_free(&p[q]);
    free(p);
}

static const size_t nsplits[] = {1, 2, 8};

/* ------------------------------------------------------------ tail */

static void test_tail(void **state)
{
    (void)state;
    uint64_t rng = 11;
    for (int it = 0; it < scaled(60); it++) {
        wf_table t, out, want;
        size_t n = (size_t)xorshift_below(&rng, 30);
        make(&rng, n, true, &t);
        size_t k = (size_t)xorshift_below(&rng, 40);
        OK(wf_table_tail(&t, k, &out));
        size_t m = k < n ? k : n;
        rows_of(&t, n - m, m, &want);
        assert_tables_equal(&out, &want);
        /* head(n - m) then tail(m) is the whole table */
        wf_table h, both[2], all;
        OK(wf_table_head(&t, n - m, &h));
        both[0] = h;
        both[1] = out;
        char err[256];
        OK(wf_table_concat(both, 2, &all, err, sizeof err));
        assert_tables_equal(&all, &t);
        wf_table_free(&all);
        wf_table_free(&h);
        wf_table_free(&out);
        wf_table_free(&want);
        wf_table_free(&t);
    }
}

/* ------------------------------------------------------------ dropna */

static void test_dropna(void **state)
{
    (void)state;
    uint64_t rng = 12;
    static const char *const names[] = {"id", "i", "f", "b", "s"};
    for (int it = 0; it < scaled(200); it++) {
        wf_table t, out;
        size_t n = (size_t)xorshift_below(&rng, 40);
        make(&rng, n, true, &t);
        const char *sub[5];
        size_t ns = (size_t)xorshift_below(&rng, 6);
        bool all = xorshift_below(&rng, 4) == 0;
        for (size_t k = 0; k < ns; k++)
            sub[k] = names[xorshift_below(&rng, 5)];
        wf_dropna_how how =
            xorshift_below(&rng, 2) ? WF_DROPNA_ALL : WF_DROPNA_ANY;
        char err[256];
        OK(wf_table_dropna(&t, all ? NULL : sub, ns, how, &out, err,
                           sizeof err));
        /* reference: the ids of the kept rows */
        size_t kept = 0;
        for (size_t r = 0; r < n; r++) {
            size_t nc = all ? 5 : ns, nulls = 0;
            for (size_t k = 0; k < nc; k++)
                nulls += is_null(
                    &t.cols[wf_table_find(&t, all ? names[k] : sub[k])], r);
            bool drop = how == WF_DROPNA_ANY ? nulls > 0 : nc && nulls == nc;
            if (drop)
                continue;
            assert_true(kept < out.nrows);
            for (size_t j = 0; j < t.ncols; j++)
                assert_true(cell_eq(&out.cols[j], kept, &t.cols[j], r));
            kept++;
        }
        assert_int_equal(kept, out.nrows);
        wf_table_free(&out);
        wf_table_free(&t);
    }
}

/* ------------------------------------------------------------ fillna */

static void test_fillna(void **state)
{
    (void)state;
    uint64_t rng = 13;
    static const struct {
        const char *col, *text;
    } fills[] = {{"i", "-42"},   {"f", "2.5"},    {"f", "7"}, {"b", "True"},
                 {"b", "false"}, {"s", "filled"}, {"s", ""},  {"id", "0"}};
    for (int it = 0; it < scaled(60); it++) {
        wf_table t;
        size_t n = (size_t)xorshift_below(&rng, 40);
        make(&rng, n, true, &t);
        for (size_t q = 0; q < sizeof fills / sizeof *fills; q++) {
            wf_table out;
            char err[256];
            OK(wf_table_fillna_text(&t, fills[q].col, fills[q].text, &out, err,
                                    sizeof err));
            long jc = wf_table_find(&t, fills[q].col);
            const wf_column *src = &t.cols[jc], *got = &out.cols[jc];
            assert_int_equal(out.nrows, n);
            for (size_t j = 0; j < t.ncols; j++)
                if ((long)j != jc)
                    for (size_t r = 0; r < n; r++)
                        assert_true(cell_eq(&out.cols[j], r, &t.cols[j], r));
            for (size_t r = 0; r < n; r++) {
                if (!is_null(src, r)) {
                    assert_true(cell_eq(got, r, src, r));
                    continue;
                }
                assert_true(wf_col_present(got, r));
                char buf[64];
                size_t len = wf_cell_text(got, r, buf, sizeof buf);
                buf[len] = 0;
                if (src->type == WF_COL_BOOL)
                    assert_int_equal(got->v.b[r], fills[q].text[0] == 'T');
                else if (src->type == WF_COL_F64)
                    assert_true(got->v.f64[r] == strtod(fills[q].text, NULL));
                else
                    assert_string_equal(buf, fills[q].text);
            }
            wf_table_free(&out);
        }
        /* typed: an int64 into the float column, an integral float into
         * the int column */
        wf_table out;
        char err[256];
        wf_scalar v = {.type = WF_COL_I64, .v.i64 = 3};
        OK(wf_table_fillna(&t, "f", &v, &out, err, sizeof err));
        for (size_t r = 0; r < n; r++)
            if (is_null(&t.cols[2], r))
                assert_true(out.cols[2].v.f64[r] == 3.0);
        wf_table_free(&out);
        v = (wf_scalar){.type = WF_COL_F64, .v.f64 = -5.0};
        OK(wf_table_fillna(&t, "i", &v, &out, err, sizeof err));
        assert_int_equal(wf_col_null_count(&out.cols[1]), 0);
        wf_table_free(&out);
        wf_table_free(&t);
    }
}

/* ------------------------------------------------------------ concat */

/* A copy of t with its columns in reverse order. */
static void reversed(const wf_table *t, wf_table *out)
{
    const char *names[16];
    for (size_t j = 0; j < t->ncols; j++)
        names[j] = t->names[t->ncols - 1 - j];
    char err[256];
    OK(wf_table_select(t, names, t->ncols, out, err, sizeof err));
}

static void test_concat(void **state)
{
    (void)state;
    uint64_t rng = 14;
    for (int it = 0; it < scaled(80); it++) {
        wf_table t, out;
        size_t n = (size_t)xorshift_below(&rng, 50);
        make(&rng, n, true, &t);
        size_t k = nsplits[it % 3];
        wf_table *parts = split(&rng, &t, k);
        for (size_t q = 1; q < k; q += 2) { /* other column orders */
            wf_table r;
            reversed(&parts[q], &r);
            wf_table_free(&parts[q]);
            parts[q] = r;
        }
        char err[256];
        OK(wf_table_concat(parts, k, &out, err, sizeof err));
        assert_tables_equal(&out, &t);
        wf_table_free(&out);
        free_parts(parts, k);
        wf_table_free(&t);
    }
    /* int64 + float64 -> float64; date + timestamp -> timestamp */
    wf_column a, b, c, d;
    wf_col_init(&a, WF_COL_I64, 2);
    wf_col_push_i64(&a, 3);
    wf_col_push_null(&a);
    wf_col_init(&b, WF_COL_F64, 1);
    wf_col_push_f64(&b, 0.5);
    wf_col_init(&c, WF_COL_DATE, 2);
    wf_col_push_i64(&c, 1);
    wf_col_push_i64(&c, -1);
    wf_col_init(&d, WF_COL_TS, 1);
    wf_col_push_i64(&d, 7);
    wf_table ts[2], out;
    wf_table_init(&ts[0]);
    wf_table_init(&ts[1]);
    OK(wf_table_add(&ts[0], "x", &a));
    OK(wf_table_add(&ts[0], "t", &c));
    OK(wf_table_add(&ts[1], "t", &d));
    OK(wf_table_add(&ts[1], "x", &b));
    char err[256];
    OK(wf_table_concat(ts, 2, &out, err, sizeof err));
    assert_int_equal(out.nrows, 3);
    assert_int_equal(out.cols[0].type, WF_COL_F64);
    assert_true(out.cols[0].v.f64[0] == 3.0);
    assert_false(wf_col_present(&out.cols[0], 1));
    assert_true(out.cols[0].v.f64[2] == 0.5);
    assert_int_equal(out.cols[1].type, WF_COL_TS);
    assert_true(out.cols[1].v.i64[0] == 86400000000ll);
    assert_true(out.cols[1].v.i64[1] == -86400000000ll);
    assert_true(out.cols[1].v.i64[2] == 7);
    wf_table_free(&out);
    OK(wf_table_concat(ts, 0, &out, err, sizeof err));
    assert_int_equal(out.ncols, 0);
    wf_table_free(&ts[0]);
    wf_table_free(&ts[1]);
}

/* ------------------------------------------------------------ value_counts */

/* Checks vc (a final value_counts of t over kc[0..nk)) against a count of
 * every distinct key by linear search. */
static void check_vc(const wf_table *t, const size_t *kc, size_t nk,
                     bool dropna, const wf_table *vc)
{
    size_t n = t->nrows, nd = 0;
    size_t *rep = malloc((n ? n : 1) * sizeof *rep);
    int64_t *cnt = calloc(n ? n : 1, sizeof *cnt);
    for (size_t r = 0; r < n; r++) {
        bool skip = false;
        for (size_t k = 0; k < nk; k++)
            skip |= dropna && is_null(&t->cols[kc[k]], r);
        if (skip)
            continue;
        size_t g = 0;
        for (; g < nd; g++) {
            bool eq = true;
            for (size_t k = 0; k < nk && eq; k++)
                eq = cell_eq(&t->cols[kc[k]], rep[g], &t->cols[kc[k]], r);
            if (eq)
                break;
        }
        if (g == nd)
            rep[nd++] = r;
        cnt[g]++;
    }
    assert_int_equal(vc->nrows, nd);
    assert_int_equal(vc->ncols, nk + 1);
    assert_string_equal(vc->names[nk], "count");
    bool *used = calloc(nd ? nd : 1, 1);
    for (size_t o = 0; o < nd; o++) {
        size_t g = 0;
        for (; g < nd; g++) {
            bool eq = !used[g];
            for (size_t k = 0; k < nk && eq; k++)
                eq = cell_eq(&vc->cols[k], o, &t->cols[kc[k]], rep[g]);
            if (eq)
                break;
        }
        assert_true(g < nd);
        used[g] = true;
        assert_int_equal(vc->cols[nk].v.i64[o], cnt[g]);
        if (o == 0)
            continue;
        /* order: count descending, then keys ascending, nulls last */
        int64_t c0 = vc->cols[nk].v.i64[o - 1], c1 = vc->cols[nk].v.i64[o];
        assert_true(c0 >= c1);
        if (c0 > c1)
            continue;
        int r = 0;
        for (size_t k = 0; k < nk && !r; k++) {
            const wf_column *c = &vc->cols[k];
            r = cell_cmp(c, o - 1, o);
        }
        assert_true(r < 0);
    }
    free(used);
    free(rep);
    free(cnt);
}

static void test_value_counts(void **state)
{
    (void)state;
    uint64_t rng = 15;
    static const char *const names[] = {"i", "f", "b", "s", "id"};
    for (int it = 0; it < scaled(150); it++) {
        wf_table t, part, whole;
        size_t n = (size_t)xorshift_below(&rng, it % 10 == 0 ? 400 : 40);
        make(&rng, n, true, &t);
        size_t nk = 1 + (size_t)xorshift_below(&rng, 3);
        const char *keys[3];
        size_t kc[3];
        for (size_t k = 0; k < nk; k++) {
            size_t p;
            bool dup;
            do { /* distinct names */
                p = (size_t)xorshift_below(&rng, 5);
                dup = false;
                for (size_t q = 0; q < k; q++)
                    dup |= kc[q] == (size_t)wf_table_find(&t, names[p]);
            } while (dup);
            keys[k] = names[p];
            kc[k] = (size_t)wf_table_find(&t, names[p]);
        }
        bool dropna = xorshift_below(&rng, 2);
        char err[256];
        OK(wf_value_counts_partial(&t, keys, nk, dropna, &part, err,
                                   sizeof err));
        OK(wf_value_counts_final(&part, &whole, err, sizeof err));
        check_vc(&t, kc, nk, dropna, &whole);
        for (size_t s = 0; s < 3; s++) {
            size_t k = nsplits[s];
            wf_table *parts = split(&rng, &t, k);
            wf_table *ps = calloc(k, sizeof *ps);
            for (size_t q = 0; q < k; q++)
                OK(wf_value_counts_partial(&parts[q], keys, nk, dropna, &ps[q],
                                           err, sizeof err));
            wf_table comb, fin;
            if (k == 8) { /* a tree: two halves, then the two */
                wf_table h[2];
                OK(wf_value_counts_combine(ps, 4, &h[0], err, sizeof err));
                OK(wf_value_counts_combine(ps + 4, 4, &h[1], err, sizeof err));
                OK(wf_value_counts_combine(h, 2, &comb, err, sizeof err));
                wf_table_free(&h[0]);
                wf_table_free(&h[1]);
            } else {
                OK(wf_value_counts_combine(ps, k, &comb, err, sizeof err));
            }
            OK(wf_value_counts_final(&comb, &fin, err, sizeof err));
            assert_tables_equal(&fin, &whole);
            wf_table_free(&comb);
            wf_table_free(&fin);
            free_parts(ps, k);
            free_parts(parts, k);
        }
        wf_table_free(&part);
        wf_table_free(&whole);
        wf_table_free(&t);
    }
}

/* ------------------------------------------------------------ unique */

static void test_unique(void **state)
{
    (void)state;
    uint64_t rng = 16;
    static const char *const names[] = {"i", "f", "b", "s", "id"};
    for (int it = 0; it < scaled(150); it++) {
        wf_table t, part, whole;
        size_t n = (size_t)xorshift_below(&rng, it % 10 == 0 ? 400 : 40);
        make(&rng, n, true, &t);
        const char *col = names[xorshift_below(&rng, 5)];
        const wf_column *c = &t.cols[wf_table_find(&t, col)];
        char err[256];
        OK(wf_unique_partial(&t, col, &part, err, sizeof err));
        OK(wf_unique_final(&part, &whole, err, sizeof err));
        /* reference: rows whose value no earlier row holds, in order */
        size_t o = 0;
        for (size_t r = 0; r < n; r++) {
            bool seen = false;
            for (size_t p = 0; p < r && !seen; p++)
                seen = cell_eq(c, p, c, r);
            if (seen)
                continue;
            assert_true(o < whole.nrows);
            assert_true(cell_eq(&whole.cols[0], o, c, r));
            o++;
        }
        assert_int_equal(o, whole.nrows);
        assert_string_equal(whole.names[0], col);
        for (size_t s = 0; s < 3; s++) {
            size_t k = nsplits[s];
            wf_table *parts = split(&rng, &t, k);
            wf_table *ps = calloc(k, sizeof *ps);
            for (size_t q = 0; q < k; q++)
                OK(wf_unique_partial(&parts[q], col, &ps[q], err, sizeof err));
            wf_table comb, fin;
            if (k == 8) {
                wf_table h[2];
                OK(wf_unique_combine(ps, 4, &h[0], err, sizeof err));
                OK(wf_unique_combine(ps + 4, 4, &h[1], err, sizeof err));
                OK(wf_unique_combine(h, 2, &comb, err, sizeof err));
                wf_table_free(&h[0]);
                wf_table_free(&h[1]);
            } else {
                OK(wf_unique_combine(ps, k, &comb, err, sizeof err));
            }
            OK(wf_unique_final(&comb, &fin, err, sizeof err));
            assert_tables_equal(&fin, &whole);
            wf_table_free(&comb);
            wf_table_free(&fin);
            free_parts(ps, k);
            free_parts(parts, k);
        }
        wf_table_free(&part);
        wf_table_free(&whole);
        wf_table_free(&t);
    }
}

/* ------------------------------------------------------------ describe */

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool close_to(double a, double b, double rel)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= rel * (m > 1 ? m : 1);
}

/* Checks d (a final describe of t) against a two-pass computation. */
static void check_describe(const wf_table *t, const wf_table *d)
{
    assert_string_equal(d->names[0], "stat");
    assert_int_equal(d->nrows, 8);
    size_t q = 1;
    for (size_t j = 0; j < t->ncols; j++) {
        const wf_column *c = &t->cols[j];
        if (c->type != WF_COL_I64 && c->type != WF_COL_F64)
            continue;
        assert_true(q < d->ncols);
        assert_string_equal(d->names[q], t->names[j]);
        double *x = malloc((t->nrows ? t->nrows : 1) * sizeof *x);
        size_t n = 0;
        double sum = 0;
        for (size_t r = 0; r < t->nrows; r++)
            if (!is_null(c, r)) {
                x[n] =
                    c->type == WF_COL_F64 ? c->v.f64[r] : (double)c->v.i64[r];
                sum += x[n++];
            }
        qsort(x, n, sizeof *x, dcmp);
        double mean = n ? sum / (double)n : 0, ss = 0, scale = 1;
        for (size_t r = 0; r < n; r++)
            scale = fabs(x[r]) > scale ? fabs(x[r]) : scale;
        for (size_t r = 0; r < n; r++)
            ss += (x[r] - mean) * (x[r] - mean);
        const wf_column *o = &d->cols[q];
        assert_true(o->v.f64[0] == (double)n);
        if (n == 0) {
            for (size_t r = 1; r < 8; r++)
                assert_false(wf_col_present(o, r));
        } else {
            assert_true(fabs(o->v.f64[1] - mean) <= 1e-12 * scale);
            if (n < 2)
                assert_false(wf_col_present(o, 2));
            else
                assert_true(
                    close_to(o->v.f64[2], sqrt(ss / (double)(n - 1)), 1e-9));
            assert_true(o->v.f64[3] == x[0]);
            assert_true(o->v.f64[7] == x[n - 1]);
            for (int k = 1; k <= 3; k++) {
                double pos = (double)k / 4 * (double)(n - 1);
                size_t lo = (size_t)pos, hi = lo + 1 < n ? lo + 1 : lo;
                double want = x[lo] + (x[hi] - x[lo]) * (pos - (double)lo);
                assert_true(close_to(o->v.f64[3 + k], want, 1e-12));
            }
        }
        free(x);
        q++;
    }
    assert_int_equal(q, d->ncols);
}

static void test_describe(void **state)
{
    (void)state;
    uint64_t rng = 17;
    for (int it = 0; it < scaled(150); it++) {
        wf_table t, part, whole;
        size_t n = (size_t)xorshift_below(&rng, it % 10 == 0 ? 3000 : 30);
        make(&rng, n, true, &t);
        if (it % 3 == 0) /* full-precision values of both signs, some -0 */
            for (size_t r = 0; r < n; r++)
                if (!is_null(&t.cols[2], r))
                    t.cols[2].v.f64[r] =
                        xorshift_below(&rng, 50) == 0
                            ? -0.0
                            : (double)(int64_t)xorshift_next(&rng) / 9.2e12;
        char err[256];
        OK(wf_describe_partial(&t, &part, err, sizeof err));
        OK(wf_describe_final(&part, &whole, err, sizeof err));
        check_describe(&t, &whole);
        for (size_t s = 0; s < 3; s++) {
            size_t k = nsplits[s];
            wf_table *parts = split(&rng, &t, k);
            wf_table *ps = calloc(k, sizeof *ps);
            for (size_t q = 0; q < k; q++)
                OK(wf_describe_partial(&parts[q], &ps[q], err, sizeof err));
            wf_table comb, fin;
            if (k == 8) {
                wf_table h[2];
                OK(wf_describe_combine(ps, 3, &h[0], err, sizeof err));
                OK(wf_describe_combine(ps + 3, 5, &h[1], err, sizeof err));
                OK(wf_describe_combine(h, 2, &comb, err, sizeof err));
                wf_table_free(&h[0]);
                wf_table_free(&h[1]);
            } else {
                OK(wf_describe_combine(ps, k, &comb, err, sizeof err));
            }
            OK(wf_describe_final(&comb, &fin, err, sizeof err));
            /* exact but for mean and std (combined moments) */
            assert_int_equal(fin.ncols, whole.ncols);
            for (size_t j = 1; j < fin.ncols; j++)
                for (size_t r = 0; r < 8; r++) {
                    const wf_column *a = &fin.cols[j], *b = &whole.cols[j];
                    assert_int_equal(wf_col_present(a, r),
                                     wf_col_present(b, r));
                    if (!wf_col_present(a, r))
                        continue;
                    if (r == 1 || r == 2)
                        assert_true(close_to(a->v.f64[r], b->v.f64[r], 1e-12));
                    else
                        assert_true(a->v.f64[r] == b->v.f64[r]);
                }
            wf_table_free(&comb);
            wf_table_free(&fin);
            free_parts(ps, k);
            free_parts(parts, k);
        }
        wf_table_free(&part);
        wf_table_free(&whole);
        wf_table_free(&t);
    }
}

/* ------------------------------------------------------------ errors */

static void test_errors(void **state)
{
    (void)state;
    uint64_t rng = 18;
    wf_table t, out;
    make(&rng, 10, false, &t);
    char err[256];
    const char *bad[] = {"nope"};
    assert_int_equal(
        wf_table_dropna(&t, bad, 1, WF_DROPNA_ANY, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "dropna: no column 'nope'"));
    assert_int_equal(
        wf_table_fillna_text(&t, "nope", "1", &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "no column 'nope'"));
    assert_int_equal(
        wf_table_fillna_text(&t, "i", "1.5", &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "'1.5' is not an int64 value for column 'i'"));
    assert_int_equal(wf_table_fillna_text(&t, "i", "99999999999999999999", &out,
                                          err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "outside int64"));
    assert_int_equal(wf_table_fillna_text(&t, "f", "x", &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "column 'f'"));
    assert_int_equal(
        wf_table_fillna_text(&t, "b", "yes", &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "'yes' is not a bool value for column 'b'"));
    assert_int_equal(wf_table_fillna_text(&t, "i", "", &out, err, sizeof err),
                     WEFT_EINVAL);
    wf_scalar v = {.type = WF_COL_STR, .v.str = {"x", 1}};
    assert_int_equal(wf_table_fillna(&t, "f", &v, &out, err, sizeof err),
                     WEFT_ETYPE);
    assert_non_null(
        strstr(err, "a string value does not fit column 'f' (float64)"));
    v = (wf_scalar){.type = WF_COL_F64, .v.f64 = 0.5};
    assert_int_equal(wf_table_fillna(&t, "i", &v, &out, err, sizeof err),
                     WEFT_ETYPE);
    assert_non_null(strstr(err, "column 'i' (int64)"));

    /* a date fills a timestamp column (its midnight); a bool fits no
     * int64 column; text parsed as a timestamp */
    wf_column ts;
    wf_col_init(&ts, WF_COL_TS, 2);
    wf_col_push_null(&ts);
    wf_col_push_i64(&ts, 5);
    wf_table tt;
    wf_table_init(&tt);
    OK(wf_table_add(&tt, "when", &ts));
    v = (wf_scalar){.type = WF_COL_DATE, .v.i64 = 2};
    OK(wf_table_fillna(&tt, "when", &v, &out, err, sizeof err));
    assert_true(out.cols[0].v.i64[0] == 2 * 86400000000ll);
    assert_true(out.cols[0].v.i64[1] == 5);
    wf_table_free(&out);
    OK(wf_table_fillna_text(&tt, "when", "1970-01-02 00:00:01.5", &out, err,
                            sizeof err));
    assert_true(out.cols[0].v.i64[0] == 86401500000ll);
    wf_table_free(&out);
    assert_int_equal(
        wf_table_fillna_text(&tt, "when", "1970-13-02", &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "not a timestamp value for column 'when'"));
    wf_table_free(&tt);
    v = (wf_scalar){.type = WF_COL_BOOL, .v.b = true};
    assert_int_equal(wf_table_fillna(&t, "i", &v, &out, err, sizeof err),
                     WEFT_ETYPE);
    assert_non_null(strstr(err, "a bool value does not fit column 'i'"));

    /* concat: a missing column, an extra one, a type clash */
    wf_table two[2];
    const char *sel[] = {"id", "i", "f"};
    OK(wf_table_select(&t, sel, 3, &two[0], err, sizeof err));
    const char *sel2[] = {"id", "f"};
    OK(wf_table_select(&t, sel2, 2, &two[1], err, sizeof err));
    assert_int_equal(wf_table_concat(two, 2, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "table 1 has no column 'i'"));
    wf_table_free(&two[1]);
    const char *sel3[] = {"id", "i", "f", "s"};
    OK(wf_table_select(&t, sel3, 4, &two[1], err, sizeof err));
    assert_int_equal(wf_table_concat(two, 2, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "table 1 has a column 's'"));
    wf_table_free(&two[1]);
    const char *sel4[] = {"id", "i", "s"};
    OK(wf_table_select(&t, sel4, 3, &two[1], err, sizeof err));
    free(two[1].names[2]);
    two[1].names[2] = strdup("f");
    assert_int_equal(wf_table_concat(two, 2, &out, err, sizeof err),
                     WEFT_ETYPE);
    assert_non_null(
        strstr(err, "column 'f' is float64 in table 0 and string in table 1"));
    wf_table_free(&two[1]);
    const char *sel6[] = {"id", "i", "i"};
    OK(wf_table_select(&t, sel6, 3, &two[1], err, sizeof err));
    assert_int_equal(wf_table_concat(&two[1], 1, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "table 0 has two columns called 'i'"));
    wf_table_free(&two[0]);
    wf_table_free(&two[1]);

    /* value_counts / unique / describe */
    const char *k2[] = {"i", "i"};
    assert_int_equal(
        wf_value_counts_partial(&t, k2, 2, true, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "column 'i' given twice"));
    assert_int_equal(
        wf_value_counts_partial(&t, bad, 1, true, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "value_counts: no column 'nope'"));
    assert_int_equal(
        wf_value_counts_partial(&t, bad, 0, true, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_int_equal(wf_value_counts_final(&t, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "not a partial table"));
    assert_int_equal(wf_unique_partial(&t, "nope", &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "unique: no column 'nope'"));
    assert_int_equal(wf_unique_combine(&t, 1, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "part 0 has 5 columns"));
    assert_int_equal(wf_describe_final(&t, &out, err, sizeof err), WEFT_EINVAL);
    assert_non_null(strstr(err, "column 'id' of table 0 is not a partial"));
    const char *sel5[] = {"b", "s"};
    wf_table nonum;
    OK(wf_table_select(&t, sel5, 2, &nonum, err, sizeof err));
    assert_int_equal(wf_describe_partial(&nonum, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "describe: no int64 or float64 column"));
    wf_table_free(&nonum);
    wf_table_free(&t);
}

/* ------------------------------------------------------------ pandas */

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static const char py_script[] =
    "import sys, math\n"
    "import numpy as np, pandas as pd\n"
    "def run(csvp, outp):\n"
    "    df = pd.read_csv(csvp, dtype={'id': 'int64', 'i': 'Int64',\n"
    "        'f': 'float64', 'b': 'boolean', 's': 'string'})\n"
    "    out = open(outp, 'w')\n"
    "    def canon(v):\n"
    "        if v is None or v is pd.NA: return 'NULL'\n"
    "        if isinstance(v, (bool, np.bool_)): return 'True' if v else "
    "'False'\n"
    "        if isinstance(v, (int, np.integer)): return str(int(v))\n"
    "        if isinstance(v, (float, np.floating)):\n"
    "            return 'NULL' if math.isnan(v) else '%.17g' % v\n"
    "        return str(v)\n"
    "    def skey(v):\n"
    "        if v is None or v is pd.NA or (isinstance(v, float) and "
    "math.isnan(v)):\n"
    "            return (1, 0)\n"
    "        return (0, v)\n"
    "    d = df.describe()\n"
    "    for c in d.columns:\n"
    "        for s in d.index:\n"
    "            out.write('describe\\t%s\\t%s\\t%s\\n' % (c, s, "
    "canon(d[c][s])))\n"
    "    def vc(name, s, dropna):\n"
    "        rows = []\n"
    "        for k, n in s.items():\n"
    "            k = k if isinstance(k, tuple) else (k,)\n"
    "            if n > 0: rows.append((int(n), k))  # pandas 1.5: NA 0 rows\n"
    "        rows.sort(key=lambda r: (-r[0], tuple(skey(x) for x in r[1])))\n"
    "        for n, k in rows:\n"
    "            out.write('vc\\t%s\\t%d\\t%s\\t%d\\n' % (name, dropna,\n"
    "                      '\\t'.join(canon(x) for x in k), n))\n"
    "    for c in ['i', 'f', 'b', 's']:\n"
    "        for dn in [True, False]:\n"
    "            vc(c, df[c].value_counts(dropna=dn), dn)\n"
    "        for v in df[c].unique():\n"
    "            out.write('unique\\t%s\\t%s\\n' % (c, canon(v)))\n"
    "    for dn in [True, False]:\n"
    "        vc('i,s', df.value_counts(subset=['i', 's'], dropna=dn), dn)\n"
    "    def ids(name, f):\n"
    "        for v in f['id']:\n"
    "            out.write('dropna\\t%s\\t%s\\n' % (name, canon(v)))\n"
    "    ids('any', df.dropna())\n"
    "    ids('all_if', df.dropna(subset=['i', 'f'], how='all'))\n"
    "    ids('s', df.dropna(subset=['s']))\n"
    "    for c, v in [('i', 7), ('f', 2.5), ('b', True), ('s', 'zz')]:\n"
    "        for x in df[c].fillna(v):\n"
    "            out.write('fillna\\t%s\\t%s\\n' % (c, canon(x)))\n"
    "    out.close()\n"
    "for a in range(1, len(sys.argv), 2):\n"
    "    run(sys.argv[a], sys.argv[a + 1])\n";

static void canon(FILE *f, const wf_column *c, size_t r)
{
    if (is_null(c, r)) {
        fputs("NULL", f);
        return;
    }
    switch (c->type) {
    case WF_COL_F64:
        fprintf(f, "%.17g", c->v.f64[r]);
        break;
    case WF_COL_BOOL:
        fputs(c->v.b[r] ? "True" : "False", f);
        break;
    case WF_COL_STR: {
        size_t n;
        const char *s = wf_col_str(c, r, &n);
        fwrite(s, 1, n, f);
        break;
    }
    default:
        fprintf(f, "%lld", (long long)c->v.i64[r]);
    }
}

/* Our answers to the script's questions, in its format. */
static void our_lines(const wf_table *t, FILE *f)
{
    char err[256];
    wf_table p, d;
    OK(wf_describe_partial(t, &p, err, sizeof err));
    OK(wf_describe_final(&p, &d, err, sizeof err));
    for (size_t j = 1; j < d.ncols; j++)
        for (size_t r = 0; r < d.nrows; r++) {
            size_t n;
            const char *s = wf_col_str(&d.cols[0], r, &n);
            fprintf(f, "describe\t%s\t%.*s\t", d.names[j], (int)n, s);
            canon(f, &d.cols[j], r);
            fputc('\n', f);
        }
    wf_table_free(&p);
    wf_table_free(&d);
    static const char *const cols[] = {"i", "f", "b", "s"};
    for (size_t c = 0; c < 4; c++) {
        for (int dn = 1; dn >= 0; dn--) {
            OK(wf_value_counts_partial(t, &cols[c], 1, dn, &p, err,
                                       sizeof err));
            OK(wf_value_counts_final(&p, &d, err, sizeof err));
            for (size_t r = 0; r < d.nrows; r++) {
                fprintf(f, "vc\t%s\t%d\t", cols[c], dn);
                canon(f, &d.cols[0], r);
                fprintf(f, "\t%lld\n", (long long)d.cols[1].v.i64[r]);
            }
            wf_table_free(&p);
            wf_table_free(&d);
        }
        OK(wf_unique_partial(t, cols[c], &p, err, sizeof err));
        OK(wf_unique_final(&p, &d, err, sizeof err));
        for (size_t r = 0; r < d.nrows; r++) {
            fprintf(f, "unique\t%s\t", cols[c]);
            canon(f, &d.cols[0], r);
            fputc('\n', f);
        }
        wf_table_free(&p);
        wf_table_free(&d);
    }
    const char *is[] = {"i", "s"};
    for (int dn = 1; dn >= 0; dn--) {
        OK(wf_value_counts_partial(t, is, 2, dn, &p, err, sizeof err));
        OK(wf_value_counts_final(&p, &d, err, sizeof err));
        for (size_t r = 0; r < d.nrows; r++) {
            fprintf(f, "vc\ti,s\t%d\t", dn);
            canon(f, &d.cols[0], r);
            fputc('\t', f);
            canon(f, &d.cols[1], r);
            fprintf(f, "\t%lld\n", (long long)d.cols[2].v.i64[r]);
        }
        wf_table_free(&p);
        wf_table_free(&d);
    }
    const char *if_[] = {"i", "f"}, *s_[] = {"s"};
    struct {
        const char *name;
        const char *const *sub;
        size_t n;
        wf_dropna_how how;
    } dq[] = {{"any", NULL, 0, WF_DROPNA_ANY},
              {"all_if", if_, 2, WF_DROPNA_ALL},
              {"s", s_, 1, WF_DROPNA_ANY}};
    for (size_t q = 0; q < 3; q++) {
        OK(wf_table_dropna(t, dq[q].sub, dq[q].n, dq[q].how, &d, err,
                           sizeof err));
        for (size_t r = 0; r < d.nrows; r++)
            fprintf(f, "dropna\t%s\t%lld\n", dq[q].name,
                    (long long)d.cols[0].v.i64[r]);
        wf_table_free(&d);
    }
    static const char *const fc[][2] = {
        {"i", "7"}, {"f", "2.5"}, {"b", "True"}, {"s", "zz"}};
    for (size_t q = 0; q < 4; q++) {
        OK(wf_table_fillna_text(t, fc[q][0], fc[q][1], &d, err, sizeof err));
        const wf_column *c = &d.cols[wf_table_find(&d, fc[q][0])];
        for (size_t r = 0; r < d.nrows; r++) {
            fprintf(f, "fillna\t%s\t", fc[q][0]);
            canon(f, c, r);
            fputc('\n', f);
        }
        wf_table_free(&d);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* Compare line by line; describe values numerically (1e-9 relative).
 * Returns the number of lines. */
static size_t compare_lines(char *ours, char *theirs)
{
    char *sa, *sb;
    char *a = strtok_r(ours, "\n", &sa), *b = strtok_r(theirs, "\n", &sb);
    size_t line = 1;
    for (; a && b;
         a = strtok_r(NULL, "\n", &sa), b = strtok_r(NULL, "\n", &sb), line++) {
        if (strcmp(a, b) == 0)
            continue;
        char *ta = strrchr(a, '\t'), *tb = strrchr(b, '\t');
        if (strncmp(a, "describe\t", 9) == 0 && ta && tb && ta - a == tb - b &&
            strncmp(a, b, (size_t)(ta - a)) == 0 && strcmp(ta + 1, "NULL") &&
            strcmp(tb + 1, "NULL") &&
            close_to(strtod(ta + 1, NULL), strtod(tb + 1, NULL), 1e-9))
            continue;
        fail_msg("line %zu: weft '%s', pandas '%s'", line, a, b);
    }
    if (a || b)
        fail_msg("line %zu: weft '%s', pandas '%s'", line, a ? a : "(end)",
                 b ? b : "(end)");
    return line - 1;
}

static void test_pandas(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import pandas' 2>/dev/null") != 0) {
        skip();
        return;
    }
    char script[512];
    snprintf(script, sizeof script, "%s", tpath("check.py"));
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(py_script, f);
    fclose(f);
    uint64_t rng = 19;
    static const size_t sizes[] = {0, 1, 2, 7, 50, 300};
    enum { NT = sizeof sizes / sizeof *sizes };
    wf_table t[NT];
    char cmd[4000];
    int used = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s'", script);
    for (size_t it = 0; it < NT; it++) { /* one python run for all */
        make(&rng, sizes[it], false, &t[it]);
        char name[32];
        snprintf(name, sizeof name, "t%zu.csv", it);
        const char *csv = tpath(name);
        f = fopen(csv, "w");
        assert_non_null(f);
        OK(wf_table_write_csv(f, &t[it], true));
        fclose(f);
        snprintf(name, sizeof name, "pandas%zu.txt", it);
        used += snprintf(cmd + used, sizeof cmd - (size_t)used, " '%s' '%s'",
                         csv, tpath(name));
        assert_true(used < (int)sizeof cmd);
    }
    if (system(cmd) != 0)
        fail_msg("python failed: %s", cmd);
    for (size_t it = 0; it < NT; it++) {
        char name[32];
        snprintf(name, sizeof name, "pandas%zu.txt", it);
        char *b = slurp(tpath(name));
        const char *mine = tpath("weft.txt");
        f = fopen(mine, "w");
        assert_non_null(f);
        our_lines(&t[it], f);
        fclose(f);
        char *a = slurp(mine);
        assert_non_null(a);
        assert_non_null(b);
        /* 24 describe lines, 4 fillna lines a row, ... */
        assert_true(compare_lines(a, b) >= 24 + 4 * sizes[it]);
        free(a);
        free(b);
        wf_table_free(&t[it]);
    }
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/weft_stats_XXXXXX",
             base ? base : "/tmp");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail),         cmocka_unit_test(test_dropna),
        cmocka_unit_test(test_fillna),       cmocka_unit_test(test_concat),
        cmocka_unit_test(test_value_counts), cmocka_unit_test(test_unique),
        cmocka_unit_test(test_describe),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pandas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
