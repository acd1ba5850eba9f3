/* Tests of whole-table operations (table_ops.h): random tables written as
 * CSV and read back by the CSV reader give the same values (numbers bit
 * for bit); sort against a plain stable insertion sort; select, head and
 * append; errors name the column. */
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

#include "dataframe/csv.h"
#include "dataframe/table_ops.h"

#include "testutil.h"

/* i int64, f float64, s string (commas, quotes, newlines), d date, b bool;
 * nulls in f and s. */
static void make(uint64_t *rng, size_t n, wf_table *t)
{
    static const char *const w[] = {"plain", "with, comma", "a \"quote\"",
                                    "two\nlines", ""};
    wf_column i, f, s, d, b;
    wf_col_init(&i, WF_COL_I64, n);
    wf_col_init(&f, WF_COL_F64, n);
    wf_col_init(&s, WF_COL_STR, n);
    wf_col_init(&d, WF_COL_DATE, n);
    wf_col_init(&b, WF_COL_BOOL, n);
    for (size_t r = 0; r < n; r++) {
        wf_col_push_i64(&i, (int64_t)xorshift_below(rng, 7) - 3);
        if (xorshift_below(rng, 5) == 0)
            wf_col_push_null(&f);
        else /* awkward doubles: thirds, tiny, huge */
            wf_col_push_f64(&f,
                            ((double)(int64_t)xorshift_next(rng) / 3) *
                                pow(10, (double)xorshift_below(rng, 40) - 20));
        if (xorshift_below(rng, 6) == 0)
            wf_col_push_null(&s);
        else {
            const char *x = w[xorshift_below(rng, 5)];
            wf_col_push_str(&s, x, strlen(x));
        }
        wf_col_push_i64(&d, (int64_t)xorshift_below(rng, 40000) - 10000);
        wf_col_push_bool(&b, xorshift_below(rng, 2));
    }
    wf_table_init(t);
    wf_table_add(t, "i", &i);
    wf_table_add(t, "f", &f);
    wf_table_add(t, "s", &s);
    wf_table_add(t, "d", &d);
    wf_table_add(t, "b", &b);
}

static void test_csv_round_trip(void **state)
{
    (void)state;
    uint64_t rng = 0xc5;
    char path[] = "/tmp/weft_tops_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    for (int round = 0; round < 40; round++) {
        wf_table t, back;
        make(&rng, 1 + (size_t)xorshift_below(&rng, 200), &t);
        FILE *f = fopen(path, "w");
        OK(wf_table_write_csv(f, &t, true));
        fclose(f);
        wf_csv_options o;
        wf_csv_options_defaults(&o);
        wf_csv_field schema[] = {{"i", WF_COL_I64},
                                 {"f", WF_COL_F64},
                                 {"s", WF_COL_STR},
                                 {"d", WF_COL_DATE},
                                 {"b", WF_COL_BOOL}};
        o.schema = schema;
        o.nschema = 5;
        const char *paths[] = {path};
        char err[256];
        if (wf_csv_read(paths, 1, &o, &back, NULL, err, sizeof err))
            fail_msg("round %d: %s", round, err);
        assert_int_equal(back.nrows, t.nrows);
        for (size_t r = 0; r < t.nrows; r++) {
            assert_int_equal(back.cols[0].v.i64[r], t.cols[0].v.i64[r]);
            assert_int_equal(wf_col_present(&back.cols[1], r),
                             wf_col_present(&t.cols[1], r));
            if (wf_col_present(&t.cols[1], r))
                assert_memory_equal(&back.cols[1].v.f64[r], &t.cols[1].v.f64[r],
                                    8);
            assert_int_equal(wf_col_present(&back.cols[2], r),
                             wf_col_present(&t.cols[2], r));
            size_t n1, n2;
            const char *a = wf_col_str(&t.cols[2], r, &n1),
                       *b = wf_col_str(&back.cols[2], r, &n2);
            assert_int_equal(n1, n2);
            assert_memory_equal(a, b, n1);
            assert_int_equal(back.cols[3].v.i64[r], t.cols[3].v.i64[r]);
            assert_int_equal(back.cols[4].v.b[r], t.cols[4].v.b[r]);
        }
        wf_table_free(&t);
        wf_table_free(&back);
    }
    unlink(path);
}

static int cmp_rows(const wf_table *t, size_t a, size_t b)
{
    /* keys: i descending, then s ascending (nulls last either way) */
    int64_t x = t->cols[0].v.i64[a], y = t->cols[0].v.i64[b];
    if (x != y)
        return x > y ? -1 : 1;
    bool na = !wf_col_present(&t->cols[2], a),
         nb = !wf_col_present(&t->cols[2], b);
    if (na || nb)
        return na == nb ? 0 : na ? 1 : -1;
    size_t n1, n2;
    const char *p = wf_col_str(&t->cols[2], a, &n1),
               *q = wf_col_str(&t->cols[2], b, &n2);
    int c = memcmp(p, q, n1 < n2 ? n1 : n2);
    return c ? c : (n1 > n2) - (n1 < n2);
}

static void test_sort_select_head_append(void **state)
{
    (void)state;
    uint64_t rng = 0x50;
    const char *keys[] = {"i", "s"};
    const bool desc[] = {true, false};
    char err[256];
    for (int round = 0; round < 100; round++) {
        wf_table t, s;
        make(&rng, (size_t)xorshift_below(&rng, 80), &t);
        OK(wf_table_sort(&t, keys, desc, 2, &s, err, sizeof err));
        /* plain stable insertion sort of the row numbers */
        size_t n = t.nrows, *order = malloc((n + 1) * sizeof *order);
        for (size_t r = 0; r < n; r++) {
            size_t k = r;
            while (k > 0 && cmp_rows(&t, order[k - 1], r) > 0) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = r;
        }
        for (size_t r = 0; r < n; r++) /* f tells rows apart (stability) */
            assert_memory_equal(&s.cols[1].v.f64[r], &t.cols[1].v.f64[order[r]],
                                8);
        free(order);
        wf_table h, sel, both;
        OK(wf_table_head(&s, 5, &h));
        assert_int_equal(h.nrows, n < 5 ? n : 5);
        const char *cols[] = {"s", "i"};
        OK(wf_table_select(&h, cols, 2, &sel, err, sizeof err));
        assert_string_equal(sel.names[0], "s");
        assert_int_equal(sel.cols[1].type, WF_COL_I64);
        wf_table_init(&both);
        OK(wf_table_append(&both, &sel, err, sizeof err));
        OK(wf_table_append(&both, &sel, err, sizeof err));
        assert_int_equal(both.nrows, 2 * sel.nrows);
        assert_int_equal(wf_table_append(&both, &h, err, sizeof err),
                         WEFT_EINVAL);
        wf_table_free(&both);
        wf_table_free(&sel);
        wf_table_free(&h);
        wf_table_free(&s);
        wf_table_free(&t);
    }
    wf_table t, out;
    make(&rng, 3, &t);
    const char *bad[] = {"nope"};
    assert_int_equal(wf_table_select(&t, bad, 1, &out, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "no column 'nope' (the columns are: i, f, s"));
    bool up[] = {false};
    assert_int_equal(wf_table_sort(&t, bad, up, 1, &out, err, sizeof err),
                     WEFT_EINVAL);
    wf_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_round_trip),
        cmocka_unit_test(test_sort_select_head_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
