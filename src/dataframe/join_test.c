/* Tests of the hash join (join.h): random tables with int and text keys
 * (nulls and duplicates on both sides) against a nested-loop join written
 * here, row by row and in order, for inner and left joins; names, suffixes
 * and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/join.h"

#include "dataframe/df_testutil.h"
#include "testutil.h"

/* k int64 (0..5, nulls), t string (nulls; short, 12-, 16- and long
 * words, pairs differing in one byte only), v int64 named vname */
static void make(uint64_t *rng, size_t n, const char *vname, wf_table *out)
{
    static const char *const w[] = {
        "a",
        "bb",
        "",
        "b key longer than sixteen bytes",
    };
    enum { NW = sizeof w / sizeof *w };
    wf_column k, t, v;
    wf_col_init(&k, WF_COL_I64, n);
    wf_col_init(&t, WF_COL_STR, n);
    wf_col_init(&v, WF_COL_I64, n);
    for (size_t i = 0; i < n; i++) {
        if (xorshift_below(rng, 7) == 0)
            wf_col_push_null(&k);
        else
            wf_col_push_i64(&k, (int64_t)xorshift_below(rng, 6));
        push_text_key(&t, rng, w, NW, 40);
        wf_col_push_i64(&v, (int64_t)xorshift_next(rng) % 1000);
    }
    wf_table_init(out);
    wf_table_add(out, "k", &k);
    wf_table_add(out, "t", &t);
    wf_table_add(out, vname, &v);
}

static bool same(const wf_table *a, size_t i, const wf_table *b, size_t j,
                 const size_t *cols, size_t nk)
{
    for (size_t m = 0; m < nk; m++) {
        size_t c = cols[m];
        const wf_column *x = &a->cols[c], *y = &b->cols[c];
        if (!wf_col_present(x, i) || !wf_col_present(y, j))
            return false;
        if (x->type == WF_COL_STR) {
            size_t n1, n2;
            const char *p = wf_col_str(x, i, &n1), *q = wf_col_str(y, j, &n2);
            if (n1 != n2 || memcmp(p, q, n1))
                return false;
        } else if (x->v.i64[i] != y->v.i64[j]) {
            return false;
        }
    }
    return true;
}

static void test_against_nested_loops(void **state)
{
    (void)state;
    uint64_t rng = 0x10e;
    /* on k, on k and t, or on t alone (the one-text-key path) */
    static const char *const keysets[3][2] = {{"k"}, {"k", "t"}, {"t"}};
    static const size_t colsets[3][2] = {{0}, {0, 1}, {1}};
    char err[256];
    for (int round = 0; round < 300; round++) {
        wf_table l, r, out;
        make(&rng, (size_t)xorshift_below(&rng, 60), "lv", &l);
        make(&rng, (size_t)xorshift_below(&rng, 30), "rv", &r);
        size_t set = (size_t)xorshift_below(&rng, 3);
        const char *const *keys = keysets[set];
        size_t nk = set == 1 ? 2 : 1;
        wf_join_how how =
            xorshift_below(&rng, 2) ? WF_JOIN_LEFT : WF_JOIN_INNER;
        if (wf_join(&l, &r, keys, keys, nk, how, &out, err, sizeof err))
            fail_msg("%s", err);
        /* columns: k, t, lv, then (t_y if not a key), rv */
        size_t row = 0;
        for (size_t i = 0; i < l.nrows; i++) {
            bool matched = false;
            for (size_t j = 0; j < r.nrows; j++) {
                if (!same(&l, i, &r, j, colsets[set], nk))
                    continue;
                matched = true;
                assert_true(row < out.nrows);
                assert_int_equal(out.cols[2].v.i64[row], l.cols[2].v.i64[i]);
                const wf_column *rv = &out.cols[out.ncols - 1];
                assert_true(wf_col_present(rv, row));
                assert_int_equal(rv->v.i64[row], r.cols[2].v.i64[j]);
                row++;
            }
            if (!matched && how == WF_JOIN_LEFT) {
                assert_int_equal(out.cols[2].v.i64[row], l.cols[2].v.i64[i]);
                assert_false(wf_col_present(&out.cols[out.ncols - 1], row));
                row++;
            }
        }
        assert_int_equal(out.nrows, row);
        if (set == 0) { /* t on both sides, not a key: suffixed */
            assert_string_equal(out.names[0], "k");
            assert_string_equal(out.names[1], "t_x");
            assert_string_equal(out.names[3], "t_y");
            assert_int_equal(out.ncols, 5);
        } else if (set == 2) { /* so is k */
            assert_string_equal(out.names[0], "k_x");
            assert_string_equal(out.names[1], "t");
            assert_string_equal(out.names[3], "k_y");
            assert_int_equal(out.ncols, 5);
        } else {
            assert_string_equal(out.names[0], "k");
            assert_string_equal(out.names[1], "t");
            assert_int_equal(out.ncols, 4);
        }
        wf_table_free(&l);
        wf_table_free(&r);
        wf_table_free(&out);
    }
}

static void test_errors(void **state)
{
    (void)state;
    uint64_t rng = 3;
    wf_table l, r, out;
    make(&rng, 5, "lv", &l);
    make(&rng, 5, "rv", &r);
    char err[256];
    const char *nope[] = {"nope"}, *k[] = {"k"}, *t[] = {"t"};
    assert_int_equal(
        wf_join(&l, &r, nope, k, 1, WF_JOIN_INNER, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "no column 'nope' on the left"));
    assert_int_equal(
        wf_join(&l, &r, k, t, 1, WF_JOIN_INNER, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "is a int64 on the left, 't' a string"));
    wf_table_free(&l);
    wf_table_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_nested_loops),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
