/* Tests of group by and aggregate (groupby.h): random tables (int, text
 * and bool keys with nulls; int and float values with nulls) checked
 * against a plain group-by written here (a linear search for each row's
 * group); the partial/combine path over random splits gives the same
 * result as the whole; the aggregate list parser's errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/groupby.h"

#include "dataframe/df_testutil.h"
#include "testutil.h"

/* k1 int64 (0..3, nulls), k2 string (see below), k3 bool, v int64 (nulls),
 * x float64 (nulls), s string values. */
static void make_table(uint64_t *rng, size_t n, wf_table *t)
{
    static const char *const words[] = {"Asthma", "COPD", "", "Cancer"};
    enum { NW = sizeof words / sizeof *words };
    wf_column k1, k2, k3, v, x, s;
    wf_col_init(&k1, WF_COL_I64, n);
    wf_col_init(&k2, WF_COL_STR, n);
    wf_col_init(&k3, WF_COL_BOOL, n);
    wf_col_init(&v, WF_COL_I64, n);
    wf_col_init(&x, WF_COL_F64, n);
    wf_col_init(&s, WF_COL_STR, n);
    for (size_t i = 0; i < n; i++) {
        if (xorshift_below(rng, 8) == 0)
            wf_col_push_null(&k1);
        else
            wf_col_push_i64(&k1, (int64_t)xorshift_below(rng, 4));
        /* k2: these words, edge_words (12-, 16- and long keys, pairs
         * differing in one byte), 60 keys alike but for their end, nulls */
        push_text_key(&k2, rng, words, NW, 60);
        wf_col_push_bool(&k3, xorshift_below(rng, 2));
        if (xorshift_below(rng, 6) == 0)
            wf_col_push_null(&v);
        else
            wf_col_push_i64(&v, (int64_t)xorshift_below(rng, 200) - 100);
        if (xorshift_below(rng, 6) == 0)
            wf_col_push_null(&x);
        else
            wf_col_push_f64(&x, ((double)xorshift_below(rng, 1000) - 500) / 8);
        const char *u = words[xorshift_below(rng, 4)];
        wf_col_push_str(&s, u, strlen(u));
    }
    wf_table_init(t);
    wf_table_add(t, "k1", &k1);
    wf_table_add(t, "k2", &k2);
    wf_table_add(t, "k3", &k3);
    wf_table_add(t, "v", &v);
    wf_table_add(t, "x", &x);
    wf_table_add(t, "s", &s);
}

static bool same_key(const wf_table *t, const size_t *kc, size_t nk, size_t i,
                     size_t j)
{
    for (size_t k = 0; k < nk; k++) {
        const wf_column *c = &t->cols[kc[k]];
        if (c->type == WF_COL_STR) {
            size_t a, b;
            const char *p = wf_col_str(c, i, &a), *q = wf_col_str(c, j, &b);
            if (a != b || memcmp(p, q, a))
                return false;
        } else if (c->type == WF_COL_BOOL ? c->v.b[i] != c->v.b[j]
                                          : c->v.i64[i] != c->v.i64[j]) {
            return false;
        }
    }
    return true;
}

static double rel(double a, double b)
{
    return fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
}

/* Check result r against a plain evaluation over t. */
static void check(const wf_table *t, const size_t *kc, size_t nk,
                  const wf_agg *aggs, size_t na, const wf_table *r)
{
    /* groups, by first row, with null keys left out */
    size_t *reps = malloc(t->nrows * sizeof *reps), ng = 0;
    for (size_t i = 0; i < t->nrows; i++) {
        bool null = false;
        for (size_t k = 0; k < nk; k++)
            null |= !wf_col_present(&t->cols[kc[k]], i);
        if (null)
            continue;
        bool seen = false;
        for (size_t q = 0; q < ng && !seen; q++)
            seen = same_key(t, kc, nk, i, reps[q]);
        if (!seen)
            reps[ng++] = i;
    }
    assert_int_equal(r->nrows, ng);
    assert_int_equal(r->ncols, nk + na);
    for (size_t q = 0; q < r->nrows; q++) {
        /* the result row's group: find it among reps by key values */
        size_t g = SIZE_MAX;
        for (size_t p = 0; p < ng && g == SIZE_MAX; p++) {
            bool eq = true;
            for (size_t k = 0; k < nk && eq; k++) {
                const wf_column *a = &r->cols[k], *b = &t->cols[kc[k]];
                size_t j = reps[p];
                if (a->type == WF_COL_STR) {
                    size_t m1, m2;
                    const char *s1 = wf_col_str(a, q, &m1),
                               *s2 = wf_col_str(b, j, &m2);
                    eq = m1 == m2 && !memcmp(s1, s2, m1);
                } else {
                    eq = a->type == WF_COL_BOOL ? a->v.b[q] == b->v.b[j]
                                                : a->v.i64[q] == b->v.i64[j];
                }
            }
            if (eq)
                g = p;
        }
        assert_true(g != SIZE_MAX);
        /* keys sorted: this row's key is above the previous one's */
        for (size_t a = 0; a < na; a++) {
            const wf_column *out = &r->cols[nk + a];
            long src = aggs[a].col ? (long)(aggs[a].col[0] == 'v'   ? 3
                                            : aggs[a].col[0] == 'x' ? 4
                                                                    : 5)
                                   : -1;
            int64_t n = 0, rows = 0, isum = 0;
            double sum = 0;
            const wf_column *c = src >= 0 ? &t->cols[src] : NULL;
            double vals[4096];
            size_t best = SIZE_MAX, worst = SIZE_MAX;
            for (size_t i = 0; i < t->nrows; i++) {
                bool null = false;
                for (size_t k = 0; k < nk; k++)
                    null |= !wf_col_present(&t->cols[kc[k]], i);
                if (null || !same_key(t, kc, nk, i, reps[g]))
                    continue;
                rows++;
                if (!c || !wf_col_present(c, i))
                    continue;
                if (c->type == WF_COL_STR) {
                    size_t l1, l2;
                    const char *s1 = wf_col_str(c, i, &l1);
                    if (best == SIZE_MAX) {
                        best = worst = i;
                    } else {
                        const char *s2 = wf_col_str(c, best, &l2);
                        int cm = memcmp(s1, s2, l1 < l2 ? l1 : l2);
                        if (cm < 0 || (cm == 0 && l1 < l2))
                            best = i;
                        s2 = wf_col_str(c, worst, &l2);
                        cm = memcmp(s1, s2, l1 < l2 ? l1 : l2);
                        if (cm > 0 || (cm == 0 && l1 > l2))
                            worst = i;
                    }
                    n++;
                    continue;
                }
                double d =
                    c->type == WF_COL_F64 ? c->v.f64[i] : (double)c->v.i64[i];
                vals[n++] = d;
                sum += d;
                if (c->type == WF_COL_I64)
                    isum += c->v.i64[i];
            }
            double mean = n ? sum / (double)n : 0, m2 = 0;
            for (int64_t i = 0; i < n && c && c->type != WF_COL_STR; i++)
                m2 += (vals[i] - mean) * (vals[i] - mean);
            switch (aggs[a].fn) {
            case WF_AGG_SIZE:
                assert_int_equal(out->v.i64[q], rows);
                break;
            case WF_AGG_COUNT:
                assert_int_equal(out->v.i64[q], n);
                break;
            case WF_AGG_SUM:
                if (c->type == WF_COL_I64)
                    assert_int_equal(out->v.i64[q], isum);
                else
                    assert_true(rel(out->v.f64[q], sum) < 1e-12);
                break;
            case WF_AGG_MEAN:
                assert_int_equal(wf_col_present(out, q), n > 0);
                if (n)
                    assert_true(rel(out->v.f64[q], mean) < 1e-12);
                break;
            case WF_AGG_STD:
            case WF_AGG_VAR: {
                assert_int_equal(wf_col_present(out, q), n > 1);
                double var = n > 1 ? m2 / (double)(n - 1) : 0;
                double want = aggs[a].fn == WF_AGG_STD ? sqrt(var) : var;
                if (n > 1)
                    assert_true(rel(out->v.f64[q], want) < 1e-9);
                break;
            }
            default: { /* min, max */
                assert_int_equal(wf_col_present(out, q), n > 0);
                if (!n)
                    break;
                if (c->type == WF_COL_STR) {
                    size_t l1, l2;
                    size_t w = aggs[a].fn == WF_AGG_MIN ? best : worst;
                    const char *s1 = wf_col_str(out, q, &l1),
                               *s2 = wf_col_str(c, w, &l2);
                    assert_int_equal(l1, l2);
                    assert_memory_equal(s1, s2, l1);
                    break;
                }
                double m = vals[0];
                for (int64_t i = 1; i < n; i++)
                    m = aggs[a].fn == WF_AGG_MIN ? fmin(m, vals[i])
                                                 : fmax(m, vals[i]);
                double got = out->type == WF_COL_F64 ? out->v.f64[q]
                                                     : (double)out->v.i64[q];
                assert_true(got == m);
            }
            }
        }
    }
    free(reps);
}

static void test_against_naive(void **state)
{
    (void)state;
    uint64_t rng = 0x6b9;
    const char *spec = "sum(v),mean(x),count(v),min(x),max(v),std(x),"
                       "var(v),size(),min(s),max(s),sum(x)";
    wf_agg *aggs;
    size_t na;
    char err[256];
    assert_int_equal(wf_aggs_parse(spec, &aggs, &na, err, sizeof err), 0);
    assert_int_equal(na, 11);
    static const char *const kn[] = {"k1", "k2", "k3"};
    /* key columns: none (all rows), k1, k1 k2, k1 k2 k3, k2 alone (the
     * one-text-key path), k2 k3 */
    static const size_t sets[6][4] = {{0},          {1, 0}, {2, 0, 1},
                                      {3, 0, 1, 2}, {1, 1}, {2, 1, 2}};
    for (int round = 0; round < 90; round++) {
        wf_table t;
        make_table(&rng, (size_t)xorshift_below(&rng, 300), &t);
        const size_t *set = sets[xorshift_below(&rng, 6)];
        size_t nk = set[0];
        size_t kc[3];
        const char *keys[3];
        for (size_t k = 0; k < nk; k++) {
            kc[k] = set[1 + k];
            keys[k] = kn[kc[k]];
        }
        wf_table part, res;
        if (wf_groupby_partial(&t, keys, nk, aggs, na, &part, err, sizeof err))
            fail_msg("%s", err);
        assert_int_equal(
            wf_groupby_final(&part, nk, aggs, na, &res, err, sizeof err), 0);
        check(&t, kc, nk, aggs, na, &res);
        /* Sorted by key. */
        for (size_t q = 1; q < res.nrows && nk == 1 && kc[0] == 0; q++)
            assert_true(res.cols[0].v.i64[q - 1] < res.cols[0].v.i64[q]);

        /* The same through partials of a random split, combined. */
        size_t nparts = 1 + (size_t)xorshift_below(&rng, 5);
        wf_table parts[5];
        size_t lo = 0;
        for (size_t p = 0; p < nparts; p++) {
            size_t hi =
                p + 1 == nparts
                    ? t.nrows
                    : lo + (size_t)xorshift_below(&rng, t.nrows - lo + 1);
            wf_table slice;
            wf_table_init(&slice);
            size_t *idx = malloc((hi - lo + 1) * sizeof *idx);
            for (size_t i = lo; i < hi; i++)
                idx[i - lo] = i;
            for (size_t j = 0; j < t.ncols; j++) {
                wf_column c;
                wf_col_take(&t.cols[j], idx, hi - lo, &c);
                wf_table_add(&slice, t.names[j], &c);
            }
            free(idx);
            assert_int_equal(wf_groupby_partial(&slice, keys, nk, aggs, na,
                                                &parts[p], err, sizeof err),
                             0);
            wf_table_free(&slice);
            lo = hi;
        }
        wf_table comb, res2;
        if (wf_groupby_combine(parts, nparts, nk, aggs, na, &comb, err,
                               sizeof err))
            fail_msg("%s", err);
        assert_int_equal(
            wf_groupby_final(&comb, nk, aggs, na, &res2, err, sizeof err), 0);
        check(&t, kc, nk, aggs, na, &res2);
        for (size_t p = 0; p < nparts; p++)
            wf_table_free(&parts[p]);
        wf_table_free(&comb);
        wf_table_free(&res2);
        wf_table_free(&part);
        wf_table_free(&res);
        wf_table_free(&t);
    }
    wf_aggs_free(aggs, na);
}

static void test_errors(void **state)
{
    (void)state;
    wf_agg *aggs;
    size_t n;
    char err[256];
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"median(x)", "unknown function 'median' at column 1"},
        {"sum(x), avg(y)", "unknown function 'avg' at column 9"},
        {"sum(x) mean(y)", "expected ',' at column 8"},
        {"sum", "expected FUNC(COLUMN) at column 1"},
        {"size(x)", "size() takes no column"},
        {"mean()", "a column is missing"},
        {"", "none given"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(wf_aggs_parse(bad[i].spec, &aggs, &n, err, sizeof err),
                         WEFT_EINVAL);
        if (!strstr(err, bad[i].want))
            fail_msg("'%s': got '%s'", bad[i].spec, err);
    }
    uint64_t rng = 1;
    wf_table t, out;
    make_table(&rng, 10, &t);
    assert_int_equal(wf_aggs_parse("mean(s)", &aggs, &n, err, sizeof err), 0);
    const char *k[] = {"k1"};
    assert_int_equal(
        wf_groupby_partial(&t, k, 1, aggs, n, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "'s' is a string column, not a number"));
    wf_aggs_free(aggs, n);
    assert_int_equal(wf_aggs_parse("count(nope)", &aggs, &n, err, sizeof err),
                     0);
    assert_int_equal(
        wf_groupby_partial(&t, k, 1, aggs, n, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "no column 'nope'"));
    const char *k2[] = {"nokey"};
    assert_int_equal(
        wf_groupby_partial(&t, k2, 1, aggs, n, &out, err, sizeof err),
        WEFT_EINVAL);
    assert_non_null(strstr(err, "no column 'nokey'"));
    wf_aggs_free(aggs, n);
    wf_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_naive),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
