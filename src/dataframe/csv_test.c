/* Tests of the CSV reader: every format edge case and error message, the
 * value parsers against strtod and a plain calendar, and a property test
 * that writes random tables with a plain writer and reads them back with
 * one and with many partitions (both cut modes), cell by cell. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataframe/csv.h"
#include "dataframe/csv_conv.h"

#include "testutil.h"

static char tmpdir[256];

/* Path of name inside the test's directory (static buffer rotation). */
static const char *tpath(const char *name)
{
    static char bufs[4][512];
    static int at;
    char *b = bufs[at++ % 4];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static const char *write_file(const char *name, const char *data, size_t n)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return p;
}

static const char *write_str(const char *name, const char *data)
{
    return write_file(name, data, strlen(data));
}

/* Write "id,name,score" and rows numbered i = 0..rows-1: every
 * every-th row with odd, the others with plain, each given (i, i, i % mod).
 * Fails the test on an I/O error. */
static const char *write_rows(const char *name, int rows, int every,
                              const char *odd, const char *plain, int mod)
{
    const char *path = tpath(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("id,name,score\n", f);
    for (int i = 0; i < rows; i++)
        fprintf(f, i % every == 0 ? odd : plain, i, i, i % mod);
    assert_int_equal(fclose(f), 0);
    return path;
}

static wf_csv_options opts(void)
{
    wf_csv_options o;
    wf_csv_options_defaults(&o);
    return o;
}

/* Read one path into t; fails the test on error (printing the message). */
static void read_ok(const char *path, const wf_csv_options *o, wf_table *t,
                    wf_csv_stats *st)
{
    char err[256] = "";
    weft_err e = wf_csv_read(&path, 1, o, t, st, err, sizeof err);
    if (e != WEFT_OK)
        fail_msg("wf_csv_read(%s): %s (%s)", path, weft_err_name(e), err);
}

/* Expect reading path to fail with code and a message holding every
 * needle (NULL-terminated list). */
static void read_fails(const char *path, const wf_csv_options *o, weft_err code,
                       const char *needle, ...)
{
    char err[256] = "";
    wf_table t;
    weft_err e = wf_csv_read(&path, 1, o, &t, NULL, err, sizeof err);
    if (e != code)
        fail_msg("%s: got %s (%s), want %s", path, weft_err_name(e), err,
                 weft_err_name(code));
    va_list ap;
    va_start(ap, needle);
    for (const char *n = needle; n != NULL; n = va_arg(ap, const char *))
        if (strstr(err, n) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", path, err, n);
    va_end(ap);
    assert_int_equal(t.ncols, 0);
}

static const wf_column *col(const wf_table *t, const char *name)
{
    long i = wf_table_find(t, name);
    if (i < 0)
        fail_msg("no column %s", name);
    return &t->cols[i];
}

static void assert_str(const wf_column *c, size_t i, const char *want)
{
    assert_int_equal(c->type, WF_COL_STR);
    if (want == NULL) {
        assert_false(wf_col_present(c, i));
        return;
    }
    assert_true(wf_col_present(c, i));
    size_t n;
    const char *s = wf_col_str(c, i, &n);
    if (n != strlen(want) || memcmp(s, want, n) != 0)
        fail_msg("row %zu: got \"%.*s\", want \"%s\"", i, (int)n, s, want);
}

static void assert_cell_null(const wf_column *c, size_t i)
{
    assert_false(wf_col_present(c, i));
}

/* ------------------------------------------------------ value parsers */

static void test_parse_ints(void **state)
{
    (void)state;
    struct {
        const char *s;
        int st;
        int64_t v;
    } cases[] = {
        {"0", CSV_OK, 0},
        {"-0", CSV_OK, 0},
        {"+17", CSV_OK, 17},
        {"007", CSV_OK, 7},
        {"9223372036854775807", CSV_OK, INT64_MAX},
        {"-9223372036854775808", CSV_OK, INT64_MIN},
        {"000000000000000000000000042", CSV_OK, 42},
        {"9223372036854775808", CSV_RANGE, 0},
        {"-9223372036854775809", CSV_RANGE, 0},
        {"99999999999999999999999", CSV_RANGE, 0},
        {"", CSV_BAD, 0},
        {"-", CSV_BAD, 0},
        {"1.0", CSV_BAD, 0},
        {"12a", CSV_BAD, 0},
        {" 1", CSV_BAD, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[128] = {0};
        int64_t v = 0;
        strcpy(buf, cases[i].s);
        int st = csv_parse_i64(buf, strlen(buf), &v);
        if (st != cases[i].st || (st == CSV_OK && v != cases[i].v))
            fail_msg("\"%s\": st %d v %lld", cases[i].s, st, (long long)v);
    }
}

/* A random decimal string of the kinds CSV files hold. */
static void random_decimal(uint64_t *rng, char *buf, size_t cap)
{
    int kind = (int)xorshift_below(rng, 5);
    if (kind == 0) { /* round trip of a random double */
        uint64_t bits = xorshift_next(rng);
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d))
            d = 1.5;
        snprintf(buf, cap, "%.17g", d);
    } else if (kind == 1) { /* short decimals */
        snprintf(buf, cap, "%s%llu.%0*llu", xorshift_below(rng, 2) ? "-" : "",
                 (unsigned long long)xorshift_below(rng, 100000),
                 (int)xorshift_below(rng, 4) + 1,
                 (unsigned long long)xorshift_below(rng, 1000));
    } else { /* random digit strings with exponents */
        size_t n = 0;
        int nd = 1 + (int)xorshift_below(rng, kind == 2 ? 17 : 30);
        int dot = (int)xorshift_below(rng, (uint64_t)nd + 1);
        if (xorshift_below(rng, 2))
            buf[n++] = '-';
        for (int i = 0; i < nd; i++) {
            if (i == dot)
                buf[n++] = '.';
            buf[n++] = (char)('0' + xorshift_below(rng, 10));
        }
        buf[n] = 0;
        if (xorshift_below(rng, 2))
            snprintf(buf + n, cap - n, "e%d",
                     (int)xorshift_below(rng, 700) - 350);
    }
}

static void test_parse_floats_match_strtod(void **state)
{
    (void)state;
    uint64_t seed = 0x5eedf10a7ull, rng = seed;
    int n = scaled(200000);
    for (int i = 0; i < n; i++) {
        char buf[128 + CSV_PAD] = {0};
        random_decimal(&rng, buf, 128);
        double got = 0, want = strtod(buf, NULL);
        int st = csv_parse_f64(buf, strlen(buf), &got);
        if (st != CSV_OK || memcmp(&got, &want, 8) != 0)
            fail_msg("seed %llx case %d \"%s\": got %.17g want %.17g",
                     (unsigned long long)seed, i, buf, got, want);
    }
    const char *bad[] = {"",     ".",     "-",   "e5", "1e",      "1e+",
                         "0x10", "1.2.3", "1,5", " 1", "infinit", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[64] = {0};
        double d;
        strcpy(buf, bad[i]);
        if (csv_parse_f64(buf, strlen(buf), &d) != CSV_BAD)
            fail_msg("\"%s\" parsed as %g", bad[i], d);
    }
    const char *special[] = {"inf", "-Infinity", "NaN", "+INF",
                             "1.",  ".5",        "1E5", "-0"};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        char buf[64] = {0};
        double d, want;
        strcpy(buf, special[i]);
        want = strtod(buf, NULL);
        assert_int_equal(csv_parse_f64(buf, strlen(buf), &d), CSV_OK);
        assert_true(isnan(want) ? isnan(d) : memcmp(&d, &want, 8) == 0);
    }
}

/* Days since the epoch by counting days one by one. */
static int64_t slow_days(int y, int m, int d)
{
    int64_t days = 0;
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int yy = 1970; yy < y; yy++)
        days += 365 + (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0));
    for (int yy = y; yy < 1970; yy++)
        days -= 365 + (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0));
    for (int mm = 1; mm < m; mm++)
        days += dm[mm - 1] +
                (mm == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    return days + d - 1;
}

static void test_parse_dates(void **state)
{
    (void)state;
    for (int y = 1890; y <= 2110; y += 7)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= 31; d += 3) {
                char buf[64] = {0};
                int64_t v;
                snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
                int st = csv_parse_date(buf, 10, &v);
                bool valid =
                    (unsigned)d <= csv_days_in_month((unsigned)y, (unsigned)m);
                assert_int_equal(st, valid ? CSV_OK : CSV_BAD);
                if (valid && v != slow_days(y, m, d))
                    fail_msg("%s: %lld", buf, (long long)v);
            }
    const char *bad[] = {"2021-02-29", "2021-13-01",  "2021-00-10", "2021-1-10",
                         "20210110",   "2021-01-10x", "2021/01/10", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[64] = {0};
        int64_t v;
        strcpy(buf, bad[i]);
        assert_int_equal(csv_parse_date(buf, strlen(buf), &v), CSV_BAD);
    }
    char buf[64] = {0};
    int64_t v;
    strcpy(buf, "2000-02-29");
    assert_int_equal(csv_parse_date(buf, 10, &v), CSV_OK);
    assert_int_equal(v, 11016);
    struct {
        const char *s;
        int64_t us;
    } ts[] = {
        {"1970-01-01 00:00:00", 0},
        {"2020-01-01", 18262LL * 86400 * 1000000},
        {"1970-01-01T00:00:01Z", 1000000},
        {"2000-02-29T12:34:56.5", (11016 * 86400LL + 45296) * 1000000 + 500000},
        {"1969-12-31 23:59:59.999999", -1},
        {"2020-01-01 00:00:00.1234567", 1577836800LL * 1000000 + 123456},
    };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        memset(buf, 0, sizeof buf);
        strcpy(buf, ts[i].s);
        assert_int_equal(csv_parse_ts(buf, strlen(buf), &v), CSV_OK);
        if (v != ts[i].us)
            fail_msg("%s: %lld want %lld", ts[i].s, (long long)v,
                     (long long)ts[i].us);
    }
    const char *badts[] = {"2020-01-01 ",         "2020-01-01 24:00:00",
                           "2020-01-01 10:60:00", "2020-01-01 10:00:00.",
                           "2020-01-01x10:00:00", "2020-01-01 10:00:00+01"};
    for (size_t i = 0; i < sizeof badts / sizeof *badts; i++) {
        memset(buf, 0, sizeof buf);
        strcpy(buf, badts[i]);
        assert_int_equal(csv_parse_ts(buf, strlen(buf), &v), CSV_BAD);
    }
}

/* --------------------------------------------------------- edge cases */

static void test_inference_and_values(void **state)
{
    (void)state;
    const char *p = write_str(
        "types.csv",
        "i,f,b,d,t,s,n,mix,if,dt\n"
        "1,1.5,true,2020-01-02,2020-01-02 03:04:05,x,,1,1,2020-01-01\n"
        "-7,-2e3,FALSE,1969-12-31,2020-01-02T03:04:05.25Z,y z,,a,2.5,"
        "2020-01-01 00:00:01\n"
        ",,,,,,,,,\n");
    wf_csv_options o = opts();
    wf_table t;
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 3);
    assert_int_equal(t.ncols, 10);
    assert_int_equal(col(&t, "i")->type, WF_COL_I64);
    assert_int_equal(col(&t, "f")->type, WF_COL_F64);
    assert_int_equal(col(&t, "b")->type, WF_COL_BOOL);
    assert_int_equal(col(&t, "d")->type, WF_COL_DATE);
    assert_int_equal(col(&t, "t")->type, WF_COL_TS);
    assert_int_equal(col(&t, "s")->type, WF_COL_STR);
    assert_int_equal(col(&t, "n")->type, WF_COL_STR); /* all null */
    assert_int_equal(col(&t, "mix")->type, WF_COL_STR);
    assert_int_equal(col(&t, "if")->type, WF_COL_F64);
    assert_int_equal(col(&t, "dt")->type, WF_COL_TS);
    assert_int_equal(col(&t, "i")->v.i64[1], -7);
    assert_true(col(&t, "f")->v.f64[1] == -2000.0);
    assert_int_equal(col(&t, "b")->v.b[0], 1);
    assert_int_equal(col(&t, "b")->v.b[1], 0);
    assert_int_equal(col(&t, "d")->v.i64[0], 18263);
    assert_int_equal(col(&t, "d")->v.i64[1], -1);
    assert_int_equal(col(&t, "t")->v.i64[1],
                     (18263LL * 86400 + 3 * 3600 + 4 * 60 + 5) * 1000000 +
                         250000);
    assert_int_equal(col(&t, "dt")->v.i64[0], 18262LL * 86400 * 1000000);
    assert_str(col(&t, "s"), 1, "y z");
    assert_str(col(&t, "mix"), 1, "a");
    for (size_t j = 0; j < t.ncols; j++) {
        assert_cell_null(&t.cols[j], 2);
        if (strcmp(t.names[j], "n") != 0)
            assert_true(wf_col_present(&t.cols[j], 0));
    }
    wf_table_free(&t);
}

static void test_quoting(void **state)
{
    (void)state;
    const char *p = write_str("quotes.csv",
                              "\xEF\xBB\xBF"
                              "a,b,c\r\n"
                              "\"x,y\",\"say \"\"hi\"\"\",\"line1\nline2\"\r\n"
                              "\"\",plain,\"cr\rin\"\r\n"
                              "\r\n"
                              "ab\"c,\"q\"tail,\"\"\"\"\r\n"
                              "last,\"\",\"no newline\"");
    wf_table t;
    wf_csv_options o = opts();
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 4);
    assert_int_equal(wf_table_find(&t, "a"), 0); /* BOM skipped */
    assert_str(col(&t, "a"), 0, "x,y");
    assert_str(col(&t, "b"), 0, "say \"hi\"");
    assert_str(col(&t, "c"), 0, "line1\nline2");
    assert_str(col(&t, "a"), 1, ""); /* quoted empty: the empty string */
    assert_str(col(&t, "b"), 1, "plain");
    assert_str(col(&t, "c"), 1, "cr\rin");
    assert_str(col(&t, "a"), 2, "ab\"c");
    assert_str(col(&t, "b"), 2, "qtail");
    assert_str(col(&t, "c"), 2, "\"");
    assert_str(col(&t, "a"), 3, "last");
    assert_str(col(&t, "b"), 3, "");
    assert_str(col(&t, "c"), 3, "no newline");
    wf_table_free(&t);

    /* blank final lines, LF, numbers quoted */
    p = write_str("blank.csv", "a,b\n\"1\",\"2.5\"\n3,4\n\n\n");
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 2);
    assert_int_equal(col(&t, "a")->type, WF_COL_I64);
    assert_int_equal(col(&t, "a")->v.i64[0], 1);
    assert_true(col(&t, "b")->v.f64[0] == 2.5);
    assert_true(col(&t, "b")->v.f64[1] == 4.0);
    wf_table_free(&t);

    /* one column: a blank line is skipped, an empty quoted field is "" */
    p = write_str("onecol.csv", "s\nx\n\n\"\"\r\n\r\ny\n");
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 3);
    assert_str(col(&t, "s"), 0, "x");
    assert_str(col(&t, "s"), 1, "");
    assert_str(col(&t, "s"), 2, "y");
    wf_table_free(&t);

    /* other delimiter, quoting off */
    p = write_str("semi.csv", "a;b\n\"x;1\n");
    o.delimiter = ';';
    o.quote = 0;
    read_ok(p, &o, &t, NULL);
    assert_str(col(&t, "a"), 0, "\"x");
    assert_int_equal(col(&t, "b")->v.i64[0], 1);
    wf_table_free(&t);
}

static void test_nulls(void **state)
{
    (void)state;
    const char *p = write_str("nulls.csv", "i,s,f\n"
                                           "1,NA,NA\n"
                                           "NA,\"NA\",2.5\n"
                                           ",,\n"
                                           "\"\",\"\",\"\"\n"
                                           "4,x,1\n");
    wf_csv_options o = opts();
    o.null_marker = "NA";
    wf_table t;
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 5);
    const wf_column *i = col(&t, "i"), *s = col(&t, "s"), *f = col(&t, "f");
    assert_int_equal(i->type, WF_COL_I64);
    assert_int_equal(f->type, WF_COL_F64);
    assert_true(wf_col_present(i, 0));
    assert_cell_null(i, 1);
    assert_int_equal(i->v.i64[1], 0); /* null slots hold 0 */
    assert_cell_null(i, 2);
    assert_cell_null(i, 3);
    assert_int_equal(i->v.i64[4], 4);
    assert_str(s, 0, NULL);
    assert_str(s, 1, "NA");
    assert_str(s, 2, NULL);
    assert_str(s, 3, "");
    assert_str(s, 4, "x");
    assert_cell_null(f, 0);
    assert_cell_null(f, 3);
    assert_int_equal(wf_col_null_count(f), 3);
    wf_table_free(&t);

    /* without a marker NA is a string */
    o.null_marker = NULL;
    read_ok(p, &o, &t, NULL);
    assert_int_equal(col(&t, "i")->type, WF_COL_STR);
    assert_str(col(&t, "i"), 1, "NA");
    assert_str(col(&t, "i"), 2, NULL);
    wf_table_free(&t);

    /* a column without nulls has no validity bytes */
    p = write_str("nonull.csv", "a,b\n1,\n2,3\n");
    read_ok(p, &o, &t, NULL);
    assert_ptr_equal(col(&t, "a")->valid, NULL);
    assert_non_null(col(&t, "b")->valid);
    wf_table_free(&t);
}

static void test_errors(void **state)
{
    (void)state;
    wf_csv_options o = opts();
    const char *p;

    p = write_str("ragged.csv", "a,b,c\n1,2,3\n4,\"5\n5\",6\n7,8\n");
    read_fails(p, &o, WEFT_EINVAL,
               "ragged.csv:5:", "expected 3 fields, found 2", NULL);

    p = write_str("range.csv", "a,b\n1,2\n3,99999999999999999999\n");
    wf_csv_field sch[] = {{"b", WF_COL_I64}};
    o.schema = sch;
    o.nschema = 1;
    read_fails(p, &o, WEFT_ERANGE, "range.csv:3:", "column 2 (b)",
               "out of range for int64", NULL);
    o = opts();

    /* a bad value after the sample */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "id,v\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%d,%d\n", i, i * 3);
    n += (size_t)snprintf(big + n, sizeof big - n, "200,oops\n");
    p = write_file("late.csv", big, n);
    o.sample_rows = 50;
    read_fails(p, &o, WEFT_EINVAL, "late.csv:202:", "column 2 (v)", "\"oops\"",
               "int64", "schema", NULL);
    o = opts();

    p = write_str("unterminated.csv", "a,b\n1,2\n3,\"open\nmore\n");
    read_fails(p, &o, WEFT_EINVAL, "unterminated.csv:3:", "column 2 (b)",
               "unterminated", NULL);

    read_fails(tpath("missing.csv"), &o, WEFT_EIO, "missing.csv",
               strerror(ENOENT), NULL);
    p = write_str("empty.csv", "");
    read_fails(p, &o, WEFT_EINVAL, "empty.csv", "empty file", NULL);
    p = write_str("bom_only.csv", "\xEF\xBB\xBF\n");
    read_fails(p, &o, WEFT_EINVAL, "empty file", NULL);
    read_fails(tpath("nothing-*.csv"), &o, WEFT_EINVAL, "no file matches",
               "nothing-*.csv", NULL);
    read_fails(tmpdir, &o, WEFT_EIO, "is a directory", NULL);

    /* projection and schema naming columns that do not exist */
    p = write_str("proj.csv", "a,b\n1,2\n");
    const char *cols[] = {"b", "zz"};
    o.columns = cols;
    o.ncolumns = 2;
    read_fails(p, &o, WEFT_EINVAL, "no column \"zz\"", "columns: a, b", NULL);
    cols[1] = "b";
    read_fails(p, &o, WEFT_EINVAL, "selected twice", NULL);
    o = opts();
    wf_csv_field sch2[] = {{"c", WF_COL_I64}};
    o.schema = sch2;
    o.nschema = 1;
    read_fails(p, &o, WEFT_EINVAL, "\"c\"", NULL);
    o = opts();
    o.delimiter = '"';
    read_fails(p, &o, WEFT_EINVAL, "delimiter", NULL);

    /* a bad value in a quoted field reports the row's first line */
    p = write_str("qline.csv", "a,b\n\"x\ny\",1\n\"p\nq\",zz\n");
    wf_csv_field sch3[] = {{"b", WF_COL_I64}};
    o = opts();
    o.schema = sch3;
    o.nschema = 1;
    read_fails(p, &o, WEFT_EINVAL, "qline.csv:4:", "column 2 (b)", "\"zz\"",
               NULL);

    /* bad bool / date / float under an explicit schema */
    p = write_str("badtypes.csv", "b,d,f\ntrue,2020-01-01,1.5\nyes,x,y\n");
    wf_csv_field sch4[] = {{"b", WF_COL_BOOL}};
    o.schema = sch4;
    read_fails(p, &o, WEFT_EINVAL, "badtypes.csv:3:", "column 1 (b)", "\"yes\"",
               "bool", NULL);
}

static void test_skip_bad_lines(void **state)
{
    (void)state;
    const char *p = write_str("bad.csv", "a,b\n1,2\n3\n4,x\n5,6,7\n8,9\n"
                                         "10,\"open\n");
    wf_csv_options o = opts();
    wf_csv_field sch[] = {{"a", WF_COL_I64}, {"b", WF_COL_I64}};
    o.schema = sch;
    o.nschema = 2;
    o.skip_bad_lines = true;
    wf_table t;
    wf_csv_stats st;
    read_ok(p, &o, &t, &st);
    assert_int_equal(t.nrows, 2);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.bad_lines, 4);
    assert_int_equal(col(&t, "a")->v.i64[1], 8);
    assert_int_equal(col(&t, "b")->v.i64[1], 9);
    wf_table_free(&t);
}

static void test_header_names(void **state)
{
    (void)state;
    const char *p = write_str("names.csv", "a,,a,b,a\n1,2,3,4,5\n");
    wf_csv_options o = opts();
    wf_table t;
    read_ok(p, &o, &t, NULL);
    const char *want[] = {"a", "Unnamed: 1", "a.1", "b", "a.2"};
    for (size_t j = 0; j < 5; j++)
        assert_string_equal(t.names[j], want[j]);
    assert_int_equal(t.cols[4].v.i64[0], 5);
    wf_table_free(&t);

    /* no header: column_i, or names from the schema */
    o.header = false;
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 2);
    assert_string_equal(t.names[0], "column_1");
    assert_int_equal(t.cols[0].type, WF_COL_STR);
    assert_str(&t.cols[0], 0, "a");
    wf_table_free(&t);
    wf_csv_field sch[] = {{"x", WF_COL_STR}, {NULL, WF_COL_STR}};
    o.schema = sch;
    o.nschema = 2;
    read_ok(p, &o, &t, NULL);
    assert_string_equal(t.names[0], "x");
    assert_string_equal(t.names[1], "column_2");
    assert_str(&t.cols[1], 0, NULL);
    assert_str(&t.cols[1], 1, "2");
    wf_table_free(&t);
}

static void test_projection_and_schema(void **state)
{
    (void)state;
    const char *p =
        write_str("proj2.csv", "a,b,c,d\n1,\"skip,me\nplease\",x,2.5\n"
                               "2,plain,y,3\n");
    wf_csv_options o = opts();
    const char *cols[] = {"d", "a"};
    o.columns = cols;
    o.ncolumns = 2;
    wf_table t;
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.ncols, 2);
    assert_string_equal(t.names[0], "d");
    assert_string_equal(t.names[1], "a");
    assert_true(t.cols[0].v.f64[0] == 2.5);
    assert_int_equal(t.cols[1].v.i64[1], 2);
    wf_table_free(&t);

    /* the schema can force a numeric-looking column to string */
    o = opts();
    wf_csv_field sch[] = {{"a", WF_COL_STR}, {"d", WF_COL_F64}};
    o.schema = sch;
    o.nschema = 2;
    read_ok(p, &o, &t, NULL);
    assert_str(col(&t, "a"), 1, "2");
    assert_int_equal(col(&t, "d")->type, WF_COL_F64);
    wf_table_free(&t);
}

static void test_glob(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/multi", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_str("multi/p_2.csv", "k,v\n3,c\n");
    write_str("multi/p_1.csv", "\xEF\xBB\xBFk,v\r\n1,a\r\n2,b");
    write_str("multi/p_3.csv", "k,v\n");
    wf_csv_options o = opts();
    o.partition_bytes = 4;
    wf_table t;
    read_ok(tpath("multi/p_*.csv"), &o, &t, NULL);
    assert_int_equal(t.nrows, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(col(&t, "k")->v.i64[i], i + 1);
    assert_str(col(&t, "v"), 2, "c");
    wf_table_free(&t);

    /* two patterns; the header of a later file must match */
    write_str("multi/q_1.csv", "k,w\n4,d\n");
    const char *paths[] = {tpath("multi/p_*.csv"), tpath("multi/q_1.csv")};
    char err[256];
    assert_int_equal(wf_csv_read(paths, 2, &o, &t, NULL, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "q_1.csv:1: column 2 of the header is \"w\""));
    assert_non_null(strstr(err, "p_1.csv"));
    write_str("multi/q_1.csv", "k,v,x\n4,d,1\n");
    assert_int_equal(wf_csv_read(paths, 2, &o, &t, NULL, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "has 3 fields"));
    write_str("multi/q_1.csv", "");
    assert_int_equal(wf_csv_read(paths, 2, &o, &t, NULL, err, sizeof err),
                     WEFT_EINVAL);
    assert_non_null(strstr(err, "q_1.csv: empty file"));
}

/* A file whose quoted fields hold lines that look like rows: a FAST cut
 * lands inside them, the parser notices, and wf_csv_read plans again. */
static void test_misaligned_cuts(void **state)
{
    (void)state;
    char buf[65536];
    size_t n = (size_t)snprintf(buf, sizeof buf, "a,b\n");
    for (int i = 0; i < 40; i++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%d,\"", i);
        for (int k = 0; k < 30; k++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "\n%d,%d", k, k);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\"\n");
    }
    const char *p = write_file("trap.csv", buf, n);
    wf_csv_options o = opts();
    o.partition_bytes = 700;
    wf_csv_field sch[] = {{"a", WF_COL_I64}, {"b", WF_COL_STR}};
    o.schema = sch;
    o.nschema = 2;
    wf_csv_plan *pl;
    char err[256];
    assert_int_equal(wf_csv_plan_open(&p, 1, &o, &pl, err, sizeof err), 0);
    assert_true(pl->nparts > 5);
    size_t first_fail = SIZE_MAX;
    for (size_t i = 0; i < pl->nparts; i++) {
        wf_table t;
        wf_csv_stats st;
        if (wf_csv_parse_part(pl, i, &t, &st, err, sizeof err) != WEFT_OK) {
            if (first_fail == SIZE_MAX) {
                first_fail = i;
                assert_true(st.misaligned);
                assert_non_null(strstr(err, "WF_CSV_SPLIT_EXACT"));
            }
        } else {
            wf_table_free(&t);
        }
    }
    assert_true(first_fail != SIZE_MAX); /* the trap worked */
    wf_csv_plan_free(pl);

    wf_table t;
    read_ok(p, &o, &t, NULL);
    assert_int_equal(t.nrows, 40);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(col(&t, "a")->v.i64[i], i);
        size_t len;
        const char *s = wf_col_str(col(&t, "b"), (size_t)i, &len);
        assert_true(len > 100 && s[0] == '\n');
    }
    wf_table_free(&t);
}

static void test_plan_encode(void **state)
{
    (void)state;
    const char *p = write_str("enc.csv", "a,b,c\n1,x,2.5\n2,y,3.5\n3,z,4\n");
    wf_csv_options o = opts();
    o.partition_bytes = 8;
    o.null_marker = "NA";
    const char *cols[] = {"c", "b"};
    o.columns = cols;
    o.ncolumns = 2;
    wf_csv_plan *pl, *back;
    char err[256];
    assert_int_equal(wf_csv_plan_open(&p, 1, &o, &pl, err, sizeof err), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(wf_csv_plan_encode(pl, &buf, &len), 0);
    assert_int_equal(wf_csv_plan_decode(buf, len, &back), 0);
    assert_int_equal(back->nparts, pl->nparts);
    assert_string_equal(back->null_marker, "NA");
    for (size_t i = 0; i < pl->nparts; i++) {
        wf_table a, b;
        assert_int_equal(wf_csv_parse_part(pl, i, &a, NULL, err, sizeof err),
                         0);
        assert_int_equal(wf_csv_parse_part(back, i, &b, NULL, err, sizeof err),
                         0);
        assert_int_equal(a.nrows, b.nrows);
        assert_int_equal(a.ncols, 2);
        assert_string_equal(b.names[0], "c");
        for (size_t r = 0; r < a.nrows; r++)
            assert_true(a.cols[0].v.f64[r] == b.cols[0].v.f64[r]);
        wf_table_free(&a);
        wf_table_free(&b);
    }
    /* every truncation and some corruptions are refused cleanly */
    for (size_t cut = 0; cut < len; cut++) {
        wf_csv_plan *x = NULL;
        assert_int_not_equal(wf_csv_plan_decode(buf, cut, &x), 0);
        assert_null(x);
    }
    uint64_t rng = 7;
    for (int k = 0; k < 2000; k++) {
        uint8_t *c = malloc(len);
        memcpy(c, buf, len);
        c[xorshift_below(&rng, len)] ^=
            (uint8_t)(1 + xorshift_below(&rng, 255));
        wf_csv_plan *x = NULL;
        if (wf_csv_plan_decode(c, len, &x) == 0)
            wf_csv_plan_free(x);
        free(c);
    }
    free(buf);
    wf_csv_plan_free(pl);
    wf_csv_plan_free(back);
    assert_int_not_equal(
        wf_csv_parse_part(NULL, 0, &(wf_table){0}, NULL, err, sizeof err), 0);
}

/* ------------------------------------------------------ property test */

typedef struct cell {
    bool null;
    int64_t i;
    double f;
    char *s;
    size_t n;
} cell;

static const wf_coltype ptypes[] = {WF_COL_I64, WF_COL_F64,  WF_COL_BOOL,
                                    WF_COL_STR, WF_COL_DATE, WF_COL_TS};

static void random_string(uint64_t *rng, cell *c)
{
    static const char alpha[] = "ab ,;|\t\"\n\rxyz'NA09-.";
    c->n = (size_t)xorshift_below(rng, 12);
    c->s = malloc(c->n + 1);
    for (size_t k = 0; k < c->n; k++)
        c->s[k] = xorshift_below(rng, 4) == 0
                      ? (char)(1 + xorshift_below(rng, 255))
                      : alpha[xorshift_below(rng, sizeof alpha - 1)];
    c->s[c->n] = 0;
}

/* The plain writer: quote a string when it holds anything special, is
 * empty or equals the null marker (and sometimes for no reason). */
static void write_cell(FILE *f, wf_coltype t, const cell *c, char delim,
                       const char *marker, uint64_t *rng)
{
    if (c->null) {
        if (marker != NULL && xorshift_below(rng, 2))
            fputs(marker, f);
        return;
    }
    switch (t) {
    case WF_COL_I64:
        fprintf(f, "%lld", (long long)c->i);
        break;
    case WF_COL_F64:
        fprintf(f, "%.17g", c->f);
        break;
    case WF_COL_BOOL:
        fputs(c->i ? (xorshift_below(rng, 2) ? "true" : "TRUE")
                   : (xorshift_below(rng, 2) ? "False" : "false"),
              f);
        break;
    case WF_COL_DATE:
    case WF_COL_TS: {
        const int64_t day_us = 86400000000LL;
        int64_t days = c->i, us = 0;
        if (t == WF_COL_TS) {
            days = c->i / day_us;
            us = c->i % day_us;
            if (us < 0) {
                us += day_us;
                days--;
            }
        }
        int64_t y = 1970, m = 1;
        /* walk the calendar: plain and obviously right */
        while (days < 0) {
            y--;
            days += slow_days((int)y + 1, 1, 1) - slow_days((int)y, 1, 1);
        }
        for (;;) {
            int64_t len = slow_days((int)y + 1, 1, 1) - slow_days((int)y, 1, 1);
            if (days < len)
                break;
            days -= len;
            y++;
        }
        for (;;) {
            int64_t len = (m == 12 ? slow_days((int)y + 1, 1, 1)
                                   : slow_days((int)y, (int)m + 1, 1)) -
                          slow_days((int)y, (int)m, 1);
            if (days < len)
                break;
            days -= len;
            m++;
        }
        fprintf(f, "%04lld-%02lld-%02lld", (long long)y, (long long)m,
                (long long)days + 1);
        if (t == WF_COL_TS) {
            fprintf(f, "%c%02lld:%02lld:%02lld.%06lldZ",
                    xorshift_below(rng, 2) ? 'T' : ' ',
                    (long long)(us / 3600000000LL),
                    (long long)(us / 60000000 % 60),
                    (long long)(us / 1000000 % 60), (long long)(us % 1000000));
        }
        break;
    }
    default: {
        bool quote = c->n == 0 || xorshift_below(rng, 8) == 0 ||
                     (marker != NULL && strcmp(c->s, marker) == 0);
        for (size_t k = 0; k < c->n; k++)
            if (c->s[k] == delim || c->s[k] == '"' || c->s[k] == '\n' ||
                c->s[k] == '\r')
                quote = true;
        if (!quote) {
            fwrite(c->s, 1, c->n, f);
            break;
        }
        fputc('"', f);
        for (size_t k = 0; k < c->n; k++) {
            if (c->s[k] == '"')
                fputc('"', f);
            fputc(c->s[k], f);
        }
        fputc('"', f);
    }
    }
}

static void random_cell(uint64_t *rng, wf_coltype t, cell *c)
{
    memset(c, 0, sizeof *c);
    c->null = xorshift_below(rng, 6) == 0;
    switch (t) {
    case WF_COL_I64:
        c->i = xorshift_below(rng, 3) == 0
                   ? (int64_t)xorshift_next(rng)
                   : (int64_t)xorshift_below(rng, 2000) - 1000;
        break;
    case WF_COL_F64: {
        char buf[128];
        random_decimal(rng, buf, sizeof buf);
        c->f = strtod(buf, NULL);
        if (!isfinite(c->f))
            c->f = 0.25;
        break;
    }
    case WF_COL_BOOL:
        c->i = (int64_t)xorshift_below(rng, 2);
        break;
    case WF_COL_DATE:
        c->i = (int64_t)xorshift_below(rng, 80000) - 30000;
        break;
    case WF_COL_TS:
        c->i = ((int64_t)xorshift_below(rng, 40000) - 10000) * 86400000000LL +
               (int64_t)xorshift_below(rng, 86400000000ull);
        break;
    default:
        random_string(rng, c);
    }
}

static void check_cell(const wf_column *col_, size_t r, wf_coltype t,
                       const cell *c, uint64_t seed, size_t j)
{
    if (c->null) {
        if (wf_col_present(col_, r))
            fail_msg("seed %llx: row %zu col %zu should be null",
                     (unsigned long long)seed, r, j);
        return;
    }
    if (!wf_col_present(col_, r))
        fail_msg("seed %llx: row %zu col %zu is null", (unsigned long long)seed,
                 r, j);
    bool ok;
    switch (t) {
    case WF_COL_F64:
        ok = memcmp(&col_->v.f64[r], &c->f, 8) == 0;
        break;
    case WF_COL_BOOL:
        ok = col_->v.b[r] == c->i;
        break;
    case WF_COL_STR: {
        size_t n;
        const char *s = wf_col_str(col_, r, &n);
        ok = n == c->n && memcmp(s, c->s, n) == 0;
        break;
    }
    default:
        ok = col_->v.i64[r] == c->i;
    }
    if (!ok)
        fail_msg("seed %llx: row %zu col %zu (%s) differs",
                 (unsigned long long)seed, r, j, wf_coltype_name(t));
}

static void property_round(uint64_t seed)
{
    uint64_t rng = seed;
    size_t ncols = 2 + (size_t)xorshift_below(&rng, 6);
    size_t nrows = (size_t)xorshift_below(&rng, 300);
    static const char delims[] = ",;\t|";
    char delim = delims[xorshift_below(&rng, 4)];
    const char *marker = xorshift_below(&rng, 3) == 0 ? "NA" : NULL;
    bool crlf = xorshift_below(&rng, 2), header = xorshift_below(&rng, 4) != 0;
    bool bom = xorshift_below(&rng, 4) == 0, final_nl = xorshift_below(&rng, 4);
    wf_coltype *types = malloc(ncols * sizeof *types);
    wf_csv_field *sch = malloc(ncols * sizeof *sch);
    char(*names)[16] = malloc(ncols * sizeof *names);
    cell *cells = calloc(nrows * ncols + 1, sizeof *cells);
    for (size_t j = 0; j < ncols; j++) {
        types[j] = ptypes[xorshift_below(&rng, 6)];
        snprintf(names[j], 16, "c%zu", j);
        sch[j] = (wf_csv_field){names[j], types[j]};
    }
    for (size_t r = 0; r < nrows; r++)
        for (size_t j = 0; j < ncols; j++) {
            cell *c = &cells[r * ncols + j];
            random_cell(&rng, types[j], c);
            /* a row of one empty field would read as a blank line */
            if (ncols == 1)
                c->null = false;
        }
    /* a row whose every field is an empty null reads as ",,," - fine;
     * but with 2+ columns it is never a blank line */
    const char *path = tpath("prop.csv");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const char *eol = crlf ? "\r\n" : "\n";
    if (bom)
        fputs("\xEF\xBB\xBF", f);
    if (header) {
        for (size_t j = 0; j < ncols; j++)
            fprintf(f, "%s%s", j ? (char[]){delim, 0} : "", names[j]);
        fputs(eol, f);
    }
    for (size_t r = 0; r < nrows; r++) {
        for (size_t j = 0; j < ncols; j++) {
            if (j)
                fputc(delim, f);
            write_cell(f, types[j], &cells[r * ncols + j], delim, marker, &rng);
        }
        if (r + 1 < nrows || final_nl)
            fputs(eol, f);
    }
    assert_int_equal(fclose(f), 0);

    for (int variant = 0; variant < 4; variant++) {
        wf_csv_options o = opts();
        o.delimiter = delim;
        o.null_marker = marker;
        o.header = header;
        o.schema = sch;
        o.nschema = ncols;
        o.partition_bytes = variant == 0
                                ? (64u << 20)
                                : 64 + (size_t)xorshift_below(&rng, 4033);
        o.split = variant == 3 ? WF_CSV_SPLIT_EXACT : WF_CSV_SPLIT_FAST;
        /* variant 2: a projection of the columns in reverse order */
        const char **proj = malloc(ncols * sizeof *proj);
        for (size_t j = 0; j < ncols; j++)
            proj[j] = names[ncols - 1 - j];
        if (variant == 2) {
            o.columns = proj;
            o.ncolumns = ncols - 1;
        }
        wf_table t;
        char err[256] = "";
        weft_err e = wf_csv_read(&path, 1, &o, &t, NULL, err, sizeof err);
        if (e != WEFT_OK)
            fail_msg("seed %llx variant %d: %s", (unsigned long long)seed,
                     variant, err);
        if (t.nrows != nrows)
            fail_msg("seed %llx variant %d: %zu rows, want %zu",
                     (unsigned long long)seed, variant, t.nrows, nrows);
        for (size_t k = 0; k < t.ncols; k++) {
            size_t j = variant == 2 ? ncols - 1 - k : k;
            assert_string_equal(t.names[k], names[j]);
            assert_int_equal(t.cols[k].len, nrows);
            for (size_t r = 0; r < nrows; r++)
                check_cell(&t.cols[k], r, types[j], &cells[r * ncols + j], seed,
                           j);
        }
        wf_table_free(&t);
        free(proj);
    }
    for (size_t i = 0; i < nrows * ncols; i++)
        free(cells[i].s);
    free(cells);
    free(names);
    free(sch);
    free(types);
}

static void test_property_round_trip(void **state)
{
    (void)state;
    uint64_t base = 0xc5f1234ull;
    int n = scaled(300);
    for (int i = 0; i < n; i++)
        property_round(base + (uint64_t)i * 0x9e3779b97f4a7c15ull);
}

/* Many partitions of a bigger file: every row exactly once. */
static void test_many_partitions(void **state)
{
    (void)state;
    int rows = scaled_by(50000, 5);
    const char *path = write_rows(
        "many.csv", rows, 97, "%d,\"n,%d\nx\",%d.5\r\n", "%d,n%d,%d.5\n", 1000);
    wf_csv_options o = opts();
    o.partition_bytes = 10000;
    wf_csv_plan *pl;
    char err[256];
    assert_int_equal(wf_csv_plan_open(&path, 1, &o, &pl, err, sizeof err), 0);
    assert_true(pl->nparts > 10);
    int64_t next = 0;
    for (size_t i = 0; i < pl->nparts; i++) {
        wf_table t;
        wf_csv_stats st;
        if (wf_csv_parse_part(pl, i, &t, &st, err, sizeof err) != WEFT_OK)
            fail_msg("part %zu: %s", i, err);
        assert_int_equal(pl->parts[i].end - pl->parts[i].start, st.bytes);
        for (size_t r = 0; r < t.nrows; r++) {
            assert_int_equal(t.cols[0].v.i64[r], next);
            assert_true(t.cols[2].v.f64[r] == (double)(next % 1000) + 0.5);
            next++;
        }
        wf_table_free(&t);
    }
    assert_int_equal(next, rows);
    wf_csv_plan_free(pl);
}

/* One partition of 6 MB: its columns (over 2 MiB each) and read buffer
 * take the huge-page allocations, the read buffer is refilled several
 * times, and quoted rows go through the general path in between. */
static void test_large_partition(void **state)
{
    (void)state;
    int rows = 400000;
    const char *path = write_rows("large.csv", rows, 1013,
                                  "%d,\"q,%d\",%d.25\n", "%d,n%d,%d.25\n", 977);
    wf_csv_options o = opts();
    wf_csv_plan *pl;
    char err[256];
    assert_int_equal(wf_csv_plan_open(&path, 1, &o, &pl, err, sizeof err), 0);
    assert_int_equal(pl->nparts, 1);
    wf_table t;
    if (wf_csv_parse_part(pl, 0, &t, NULL, err, sizeof err) != WEFT_OK)
        fail_msg("%s", err);
    assert_int_equal(t.nrows, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        char want[32];
        int wl = snprintf(want, sizeof want, i % 1013 == 0 ? "q,%d" : "n%d", i);
        size_t n;
        const char *got = wf_col_str(&t.cols[1], (size_t)i, &n);
        if (t.cols[0].v.i64[i] != i || n != (size_t)wl ||
            memcmp(got, want, n) != 0 ||
            t.cols[2].v.f64[i] != (double)(i % 977) + 0.25)
            fail_msg("row %d differs", i);
    }
    wf_table_free(&t);
    wf_csv_plan_free(pl);
}

typedef struct par_job {
    const wf_csv_plan *pl;
    size_t first, step;
    int64_t *rows_of_part; /* per partition: rows, or -1 on error */
    int64_t *first_id;     /* per partition: id of its first row */
} par_job;

static void *parse_some(void *arg)
{
    par_job *j = arg;
    char err[256];
    for (size_t i = j->first; i < j->pl->nparts; i += j->step) {
        wf_table t;
        if (wf_csv_parse_part(j->pl, i, &t, NULL, err, sizeof err) != WEFT_OK) {
            j->rows_of_part[i] = -1;
            continue;
        }
        j->rows_of_part[i] = (int64_t)t.nrows;
        j->first_id[i] = t.nrows ? t.cols[0].v.i64[0] : -1;
        /* ids within a partition are consecutive */
        for (size_t r = 1; r < t.nrows; r++)
            if (t.cols[0].v.i64[r] != t.cols[0].v.i64[r - 1] + 1)
                j->rows_of_part[i] = -2;
        wf_table_free(&t);
    }
    return NULL;
}

/* Four threads parse the partitions of one plan at once. */
static void test_parallel_parse(void **state)
{
    (void)state;
    const char *path = tpath("many.csv"); /* from test_many_partitions */
    wf_csv_options o = opts();
    o.partition_bytes = 20000;
    wf_csv_plan *pl;
    char err[256];
    assert_int_equal(wf_csv_plan_open(&path, 1, &o, &pl, err, sizeof err), 0);
    int64_t *rows = calloc(pl->nparts, sizeof *rows);
    int64_t *ids = calloc(pl->nparts, sizeof *ids);
    pthread_t th[4];
    par_job jobs[4];
    for (size_t k = 0; k < 4; k++) {
        jobs[k] = (par_job){pl, k, 4, rows, ids};
        assert_int_equal(pthread_create(&th[k], NULL, parse_some, &jobs[k]), 0);
    }
    for (size_t k = 0; k < 4; k++)
        pthread_join(th[k], NULL);
    int64_t next = 0;
    for (size_t i = 0; i < pl->nparts; i++) {
        assert_true(rows[i] >= 0);
        if (rows[i] > 0)
            assert_int_equal(ids[i], next);
        next += rows[i];
    }
    assert_int_equal(next, scaled_by(50000, 5));
    free(rows);
    free(ids);
    wf_csv_plan_free(pl);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/weft_csv_XXXXXX", base ? base : "/tmp");
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
        cmocka_unit_test(test_parse_ints),
        cmocka_unit_test(test_parse_floats_match_strtod),
        cmocka_unit_test(test_parse_dates),
        cmocka_unit_test(test_inference_and_values),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_skip_bad_lines),
        cmocka_unit_test(test_header_names),
        cmocka_unit_test(test_projection_and_schema),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_misaligned_cuts),
        cmocka_unit_test(test_plan_encode),
        cmocka_unit_test(test_property_round_trip),
        cmocka_unit_test(test_many_partitions),
        cmocka_unit_test(test_large_partition),
        cmocka_unit_test(test_parallel_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
