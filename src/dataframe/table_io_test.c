/* Tests of the table encoding and columnar files (table_io.h): random
 * tables of every column type, with nulls and awkward strings, round-trip
 * through bytes and through files of several row groups; every truncation
 * of an encoding is refused and every flipped byte is refused or decodes
 * to a well-formed table; damaged files and mismatched groups are clear
 * errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataframe/table_io.h"

#include "testutil.h"

/* A random table: up to 6 columns of random types, up to 40 rows. */
static void random_table(uint64_t *rng, wf_table *t, size_t nrows)
{
    wf_table_init(t);
    size_t ncols = (size_t)xorshift_below(rng, 7);
    for (size_t j = 0; j < ncols; j++) {
        wf_column c;
        wf_coltype type = (wf_coltype)(WF_COL_I64 + xorshift_below(rng, 6));
        assert_int_equal(wf_col_init(&c, type, 0), 0);
        bool nulls = xorshift_below(rng, 2);
        for (size_t i = 0; i < nrows; i++) {
            if (nulls && xorshift_below(rng, 4) == 0) {
                assert_int_equal(wf_col_push_null(&c), 0);
                continue;
            }
            uint64_t x = xorshift_next(rng);
            switch (type) {
            case WF_COL_F64:
                assert_int_equal(wf_col_push_f64(&c, (double)(int64_t)x / 7),
                                 0);
                break;
            case WF_COL_BOOL:
                assert_int_equal(wf_col_push_bool(&c, x & 1), 0);
                break;
            case WF_COL_STR: {
                char s[12];
                size_t n = (size_t)(x % sizeof s);
                for (size_t k = 0; k < n; k++)
                    s[k] = (char)(x >> (k * 5)); /* any byte, NUL too */
                assert_int_equal(wf_col_push_str(&c, s, n), 0);
                break;
            }
            default:
                assert_int_equal(wf_col_push_i64(&c, (int64_t)x), 0);
            }
        }
        char name[32];
        snprintf(name, sizeof name, "col %zu", j);
        assert_int_equal(wf_table_add(t, name, &c), 0);
    }
    if (ncols == 0)
        t->nrows = 0;
}

static void assert_same_table(const wf_table *a, const wf_table *b)
{
    assert_int_equal(a->ncols, b->ncols);
    assert_int_equal(a->nrows, b->nrows);
    for (size_t j = 0; j < a->ncols; j++) {
        const wf_column *x = &a->cols[j], *y = &b->cols[j];
        assert_string_equal(a->names[j], b->names[j]);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->len, y->len);
        for (size_t i = 0; i < a->nrows; i++) {
            assert_int_equal(wf_col_present(x, i), wf_col_present(y, i));
            if (x->type == WF_COL_STR) {
                size_t n1, n2;
                const char *s1 = wf_col_str(x, i, &n1),
                           *s2 = wf_col_str(y, i, &n2);
                assert_int_equal(n1, n2);
                assert_memory_equal(s1, s2, n1);
            } else if (x->type == WF_COL_BOOL) {
                assert_int_equal(x->v.b[i], y->v.b[i]);
            } else { /* bit for bit, also for doubles */
                assert_memory_equal(&x->v.i64[i], &y->v.i64[i], 8);
            }
        }
    }
}

/* A decoded table must be usable: lengths agree, offsets in bounds. */
static void assert_well_formed(const wf_table *t)
{
    for (size_t j = 0; j < t->ncols; j++) {
        const wf_column *c = &t->cols[j];
        assert_int_equal(c->len, t->nrows);
        if (c->type == WF_COL_STR) {
            assert_int_equal(c->offs[0], 0);
            for (size_t i = 0; i < t->nrows; i++)
                assert_true(c->offs[i] <= c->offs[i + 1]);
        }
        for (size_t i = 0; c->valid && i < t->nrows; i++)
            assert_true(c->valid[i] <= 1);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    uint64_t rng = 0x7ab1e5;
    for (int round = 0; round < 300; round++) {
        wf_table t, back;
        random_table(&rng, &t, (size_t)xorshift_below(&rng, 41));
        uint8_t *buf;
        size_t len;
        assert_int_equal(wf_table_encode(&t, &buf, &len), 0);
        assert_int_equal(len, wf_table_encoded_size(&t));
        assert_int_equal(len % 8, 0);
        char err[256] = "";
        if (wf_table_decode(buf, len, &back, err, sizeof err) != 0)
            fail_msg("round %d: %s", round, err);
        assert_same_table(&t, &back);
        /* a view reads the same; growing it copies, leaving buf as it was */
        wf_table view;
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        if (wf_table_decode_view(buf, len, &view, err, sizeof err) != 0)
            fail_msg("round %d view: %s", round, err);
        assert_same_table(&t, &view);
        for (size_t j = 0; j < view.ncols && view.nrows; j++) {
            assert_true(view.cols[j].borrowed);
            assert_int_equal(wf_col_push_null(&view.cols[j]), 0);
            assert_false(view.cols[j].borrowed);
            assert_int_equal(view.cols[j].len, view.nrows + 1);
        }
        assert_memory_equal(buf, copy, len);
        free(copy);
        wf_table_free(&view);
        /* Too small a buffer is refused, not overrun. */
        assert_int_equal(wf_table_encode_into(&t, buf, len - 1), WEFT_ERANGE);
        free(buf);
        wf_table_free(&t);
        wf_table_free(&back);
    }
}

static void test_damage_is_refused(void **state)
{
    (void)state;
    uint64_t rng = 0xbad;
    for (int round = 0; round < 20; round++) {
        wf_table t, back;
        random_table(&rng, &t, (size_t)xorshift_below(&rng, 6));
        uint8_t *buf;
        size_t len;
        assert_int_equal(wf_table_encode(&t, &buf, &len), 0);
        char err[256];
        for (size_t cut = 0; cut < len; cut++) {
            assert_int_equal(wf_table_decode(buf, cut, &back, err, sizeof err),
                             WEFT_EINVAL);
            assert_non_null(strstr(err, "table encoding, byte "));
            assert_int_equal(back.ncols, 0);
        }
        for (size_t at = 0; at < len; at++) {
            for (int bit = 0; bit < 8; bit += 3) {
                buf[at] ^= (uint8_t)(1u << bit);
                weft_err e = wf_table_decode(buf, len, &back, err, sizeof err);
                if (e == 0) {
                    assert_well_formed(&back);
                    wf_table_free(&back);
                } else {
                    assert_int_equal(e, WEFT_EINVAL);
                }
                buf[at] ^= (uint8_t)(1u << bit);
            }
        }
        free(buf);
        wf_table_free(&t);
    }
    /* Two columns of one name, named in the message. */
    wf_table t, back;
    wf_table_init(&t);
    wf_column a, b;
    wf_col_init(&a, WF_COL_I64, 1);
    wf_col_init(&b, WF_COL_I64, 1);
    wf_col_push_i64(&a, 1);
    wf_col_push_i64(&b, 2);
    wf_table_add(&t, "x", &a);
    wf_table_add(&t, "y", &b);
    uint8_t *buf;
    size_t len;
    wf_table_encode(&t, &buf, &len);
    uint8_t *y = memchr(buf + 24 + 16, 'y', len - 40);
    assert_non_null(y);
    *y = 'x';
    char err[256];
    assert_int_equal(wf_table_decode(buf, len, &back, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "name 'x' given twice"));
    free(buf);
    wf_table_free(&t);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/weft_tfile_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/t.weft", dir);
    uint64_t rng = 0xf11e;
    /* Groups of one schema: rows 0-9, 10-29, none, 30-59 of one table. */
    wf_table whole;
    do {
        random_table(&rng, &whole, 60);
        if (whole.ncols == 0)
            wf_table_free(&whole);
    } while (whole.ncols == 0);
    static const size_t cuts[5] = {0, 10, 30, 30, 60};
    wf_table groups[4];
    for (int g = 0; g < 4; g++) {
        wf_table_init(&groups[g]);
        size_t idx[60], n = 0;
        for (size_t i = cuts[g]; i < cuts[g + 1]; i++)
            idx[n++] = i;
        for (size_t j = 0; j < whole.ncols; j++) {
            wf_column c;
            assert_int_equal(wf_col_take(&whole.cols[j], idx, n, &c), 0);
            assert_int_equal(wf_table_add(&groups[g], whole.names[j], &c), 0);
        }
    }
    wf_table_free(&whole);
    char err[256] = "";
    if (wf_tfile_write(path, groups, 4, err, sizeof err) != 0)
        fail_msg("%s", err);
    wf_tfile *f;
    if (wf_tfile_open(path, &f, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(wf_tfile_ngroups(f), 4);
    for (size_t g = 0; g < 4; g++) {
        wf_table back;
        if (wf_tfile_read(f, g, &back, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_same_table(&groups[g], &back);
        wf_table_free(&back);
    }
    wf_table none;
    assert_int_equal(wf_tfile_read(f, 4, &none, err, sizeof err), WEFT_EINVAL);
    assert_non_null(strstr(err, "no row group 5"));
    wf_tfile_close(f);

    /* A group with other columns is refused, and nothing is left behind. */
    wf_table other[2] = {groups[0]};
    wf_table_init(&other[1]);
    wf_column c;
    wf_col_init(&c, WF_COL_I64, 0);
    wf_table_add(&other[1], "something else", &c);
    char path2[160];
    snprintf(path2, sizeof path2, "%s/u.weft", dir);
    assert_int_equal(wf_tfile_write(path2, other, 2, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "row group 2 has other columns"));
    assert_int_not_equal(access(path2, F_OK), 0);
    wf_table_free(&other[1]);

    /* Not a file of ours; cut short; missing. */
    FILE *fp = fopen(path2, "w");
    fputs("patient_id,age\n1,2\n", fp);
    fclose(fp);
    assert_int_equal(wf_tfile_open(path2, &f, err, sizeof err), WEFT_EIO);
    assert_non_null(strstr(err, "not a weft columnar file"));
    assert_int_equal(truncate(path, 40), 0);
    assert_int_equal(wf_tfile_open(path, &f, err, sizeof err), WEFT_EIO);
    unlink(path);
    assert_int_equal(wf_tfile_open(path, &f, err, sizeof err), WEFT_EIO);
    assert_non_null(strstr(err, "No such file"));
    unlink(path2);
    rmdir(dir);
    for (int g = 0; g < 4; g++)
        wf_table_free(&groups[g]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage_is_refused),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
