/* `weft csv` as a user runs it: a generated patients file (several
 * partitions), queries whose answers the test computes itself from the
 * rows it wrote, CSV output read back, pandas' answers where Debian's
 * pandas is installed, and every kind of bad query refused with exit
 * status 2 and a message saying what is wrong. */
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

#include "testutil.h"
#include "weftcli.h"

#define ROWS 60000
static const char *const conds[] = {"Hypertension", "Heart Disease", "Asthma",
                                    "Healthy"};
static char dir[64], path[128];
static int age[ROWS], bp[ROWS], cond[ROWS];
static double weight[ROWS];
static bool weight_null[ROWS];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/weft_csvcli_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/patients.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "patient_id,age,condition,sys_bp,weight_kg\n");
    uint64_t rng = 0x9a7;
    for (int i = 0; i < ROWS; i++) {
        age[i] = (int)xorshift_below(&rng, 100);
        cond[i] = (int)xorshift_below(&rng, 4);
        bp[i] = 90 + (int)xorshift_below(&rng, 90);
        weight_null[i] = xorshift_below(&rng, 10) == 0;
        weight[i] = (double)(400 + xorshift_below(&rng, 1000)) / 10;
        fprintf(f, "%d,%d,%s,%d,", i + 1, age[i], conds[cond[i]], bp[i]);
        if (!weight_null[i])
            fprintf(f, "%.1f", weight[i]);
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

/* The value of column col in the CSV line for group key in r->out. */
static double field(const char *out, const char *key, int col)
{
    const char *line = strstr(out, key);
    if (!line)
        fail_msg("no line for '%s' in:\n%s", key, out);
    for (int c = 0; c < col; c++) {
        line = strchr(line, ',');
        assert_non_null(line);
        line++;
    }
    return strtod(line, NULL);
}

static void test_groupby_against_the_rows(void **state)
{
    (void)state;
    /* 1 MiB partitions: the ~1.6 MB file is cut in two. */
    result r;
    RUN(&r, "csv", path, "--partition-mb", "1", "--groupby", "condition",
        "--agg", "mean(sys_bp),count(weight_kg),size(),max(age),std(sys_bp)",
        "--format", "csv");
    if (r.status != 0)
        fail_msg("weft csv failed: %s", r.err);
    contains(r.out, "condition,mean(sys_bp),count(weight_kg),size(),max(age),"
                    "std(sys_bp)\n");
    /* groups sorted by key */
    assert_true(strstr(r.out, "Asthma") < strstr(r.out, "Healthy"));
    assert_true(strstr(r.out, "Heart Disease") < strstr(r.out, "Hypertension"));
    for (int g = 0; g < 4; g++) {
        double sum = 0, sq = 0;
        long n = 0, nw = 0;
        int mx = 0;
        for (int i = 0; i < ROWS; i++)
            if (cond[i] == g) {
                sum += bp[i];
                n++;
                nw += !weight_null[i];
                mx = age[i] > mx ? age[i] : mx;
            }
        double mean = sum / (double)n;
        for (int i = 0; i < ROWS; i++)
            if (cond[i] == g)
                sq += (bp[i] - mean) * (bp[i] - mean);
        char key[64];
        snprintf(key, sizeof key, "\n%s,", conds[g]);
        assert_true(fabs(field(r.out, key, 1) - mean) < 1e-9 * mean);
        assert_int_equal((long)field(r.out, key, 2), nw);
        assert_int_equal((long)field(r.out, key, 3), n);
        assert_int_equal((int)field(r.out, key, 4), mx);
        double sd = sqrt(sq / (double)(n - 1));
        assert_true(fabs(field(r.out, key, 5) - sd) < 1e-9 * sd);
    }
}

static void test_eval_filter_select_sort_head(void **state)
{
    (void)state;
    result r;
    RUN(&r, "csv", path, "--partition-mb", "1", "--eval",
        "ratio = sys_bp / age", "--filter",
        "age >= 60 and condition in ['Asthma', 'Healthy'] and "
        "notnull(weight_kg)",
        "--select", "patient_id,ratio", "--sort", "-ratio,patient_id", "--head",
        "5", "--format", "csv");
    if (r.status != 0)
        fail_msg("weft csv failed: %s", r.err);
    /* the same by hand: rows ordered by ratio descending, then id */
    int best[5] = {-1, -1, -1, -1, -1};
    for (int i = 0; i < ROWS; i++) {
        if (age[i] < 60 || (cond[i] != 2 && cond[i] != 3) || weight_null[i])
            continue;
        double q = (double)bp[i] / age[i];
        for (int k = 0; k < 5; k++) {
            int b = best[k];
            if (b < 0 || q > (double)bp[b] / age[b]) {
                memmove(best + k + 1, best + k, (size_t)(4 - k) * sizeof *best);
                best[k] = i;
                break;
            }
        }
    }
    char want[512] = "patient_id,ratio\n";
    for (int k = 0; k < 5; k++) {
        char line[64];
        double q = (double)bp[best[k]] / age[best[k]];
        char num[32];
        for (int p = 15; p <= 17; p++) { /* shortest round trip */
            snprintf(num, sizeof num, "%.*g", p, q);
            if (strtod(num, NULL) == q)
                break;
        }
        snprintf(line, sizeof line, "%d,%s\n", best[k] + 1, num);
        strcat(want, line);
    }
    assert_string_equal(r.out, want);
}

static void test_table_output(void **state)
{
    (void)state;
    result r;
    RUN(&r, "csv", path, "--select", "age,condition");
    assert_int_equal(r.status, 0);
    contains(r.out, "       age      condition\n0       ");
    contains(r.out, "\n...    ...            ...\n59995   ");
    contains(r.out, "[60000 rows x 2 columns]\n");
    RUN(&r, "csv", path, "--head", "2", "--select", "patient_id,weight_kg");
    assert_int_equal(r.status, 0);
    char want[256];
    char w0[16], w1[16];
    snprintf(w0, sizeof w0, weight_null[0] ? "NaN" : "%.1f", weight[0]);
    snprintf(w1, sizeof w1, weight_null[1] ? "NaN" : "%.1f", weight[1]);
    snprintf(want, sizeof want,
             "   patient_id  weight_kg\n0           1  %9s\n"
             "1           2  %9s\n",
             w0, w1);
    assert_string_equal(r.out, want);
}

/* On a terminal (a pty from script(1)) the CLI shows its progress on
 * stderr; piped, it shows none (test_table_output's exact outputs). */
static void test_progress_on_a_terminal(void **state)
{
    (void)state;
    if (system("command -v script >/dev/null 2>&1") != 0)
        skip();
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "script -qec '%s csv %s --partition-mb 1 --groupby condition "
             "--agg \"size()\"' /dev/null",
             getenv("WEFT_BIN"), path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    if (!strstr(buf, " tasks  ") || !strstr(buf, "tasks/s"))
        fail_msg("no progress line in: %s", buf);
    contains(buf, "Hypertension");
}

static void test_bad_queries(void **state)
{
    (void)state;
    static const struct {
        const char *opt, *val, *want;
        int status;
    } bad[] = {
        {"--filter", "age > and x",
         "--filter: expected an expression after '>', found 'and' (column "
         "7)\n  age > and x\n        ^",
         2},
        {"--filter", "agee > 3", "unknown column 'agee'", 2},
        {"--filter", "age + 1", "must be true or false, this is a int64", 2},
        {"--eval", "age * 2", "--eval: wants NAME = EXPR", 2},
        {"--select", "age,nope",
         "no column 'nope' (the columns are: "
         "patient_id, age, condition, sys_bp, "
         "weight_kg)",
         2},
        {"--format", "json", "--format is table or csv", 2},
        {"--head", "-1", "--head wants a count", 2},
        {"--sort", "nope", "--sort: no column 'nope'", 2},
        {"--groupby", "condition", "--groupby and --agg go together", 2},
        {"--bogus", "1", "unknown option --bogus", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        result r;
        RUN(&r, "csv", path, bad[i].opt, bad[i].val);
        if (r.status != bad[i].status || !strstr(r.err, bad[i].want))
            fail_msg("%s %s: status %d, stderr:\n%s\nwant: %s", bad[i].opt,
                     bad[i].val, r.status, r.err, bad[i].want);
    }
    result r;
    RUN(&r, "csv", path, "--groupby", "condition", "--agg", "median(age)");
    assert_int_equal(r.status, 2);
    contains(r.err, "unknown function 'median'");
    RUN(&r, "csv", "/nonexistent/dir/*.csv");
    assert_int_equal(r.status, 1);
    contains(r.err, "cannot read /nonexistent/dir");
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.csv", dir);
    RUN(&r, "csv", missing);
    assert_int_equal(r.status, 1);
    contains(r.err, "No such file");
}

/* Debian's pandas on the same file and query, when it is there. */
static void test_same_as_pandas(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import pandas' 2>/dev/null") != 0) {
        fprintf(stderr, "csv_cli_test: no pandas for /usr/bin/python3; "
                        "cross-check skipped\n");
        skip();
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import pandas as p; d=p.read_csv('%s'); "
             "d=d[d.age > 30]; "
             "print(d.groupby('condition').agg(m=('weight_kg','mean'),"
             "s=('weight_kg','std'),c=('weight_kg','count'),"
             "t=('sys_bp','sum')).to_csv(float_format='%%.17g'))\"",
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char want[4096];
    size_t n = fread(want, 1, sizeof want - 1, p);
    want[n] = '\0';
    assert_int_equal(pclose(p), 0);
    result r;
    RUN(&r, "csv", path, "--filter", "age > 30", "--groupby", "condition",
        "--agg", "mean(weight_kg),std(weight_kg),count(weight_kg),sum(sys_bp)",
        "--format", "csv");
    assert_int_equal(r.status, 0);
    for (int g = 0; g < 4; g++) {
        char key[64];
        snprintf(key, sizeof key, "\n%s,", conds[g]);
        for (int c = 1; c <= 4; c++) {
            double a = field(r.out, key, c), b = field(want, key, c);
            if (fabs(a - b) > 1e-9 * fabs(b))
                fail_msg("%s column %d: weft %.17g, pandas %.17g", conds[g], c,
                         a, b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groupby_against_the_rows),
        cmocka_unit_test(test_eval_filter_select_sort_head),
        cmocka_unit_test(test_table_output),
        cmocka_unit_test(test_progress_on_a_terminal),
        cmocka_unit_test(test_bad_queries),
        cmocka_unit_test(test_same_as_pandas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
