/* The seeds' health-data queries through weft/dataframe.h on the patient
 * slice in examples/data/patients, checked against pandas (Debian's
 * python3-pandas) reading the same files: integers exact, floats to 1e-9
 * relative. Also partition counts 1, 3 and 8 and worker processes give
 * the same answers. Skipped only when /usr/bin/python3 lacks pandas. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/dataframe.h>

#include "testutil.h"

#ifndef WEFT_SOURCE_DIR
#define WEFT_SOURCE_DIR "."
#endif

static const char *const checker =
    "import sys, pandas as pd, numpy as np\n"
    "d, out = sys.argv[1], sys.argv[2]\n"
    "df = pd.concat([pd.read_csv(f'{d}/patient_data_{i}.csv') for i in "
    "range(8)], ignore_index=True)\n"
    "def cmp(name, want):\n"
    "    got = pd.read_csv(f'{out}/{name}.csv')\n"
    "    want = want.reset_index(drop=True)\n"
    "    assert list(got.columns) == list(want.columns), (name, "
    "list(got.columns), list(want.columns))\n"
    "    assert len(got) == len(want), (name, len(got), len(want))\n"
    "    for c in want.columns:\n"
    "        g, w = got[c].to_numpy(), want[c].to_numpy()\n"
    "        if w.dtype.kind == 'f':\n"
    "            assert np.allclose(g, w, rtol=1e-9, atol=0), (name, c)\n"
    "        else:\n"
    "            assert (g == w).all(), (name, c)\n"
    "h = df[df.condition == 'Heart Disease']\n"
    "cmp('heart', pd.DataFrame({'mean(age)': [h.age.mean()], 'size()': "
    "[len(h)]}))\n"
    "bp = df.groupby('condition').agg(**{'mean(sys_bp)': ('sys_bp', "
    "'mean'), 'std(dia_bp)': ('dia_bp', 'std'), 'size()': ('sys_bp', "
    "'size')}).reset_index()\n"
    "cmp('bp', bp)\n"
    "hy = df[df.condition == 'Hypertension']\n"
    "cmp('risk', pd.DataFrame({'patient_id': hy.patient_id, 'risk': "
    "hy.sys_bp + 10}))\n"
    "b = df.assign(bmi=df.weight_kg / df.height_m ** 2)\n"
    "b = b[b.bmi > 40].sort_values(['bmi', 'patient_id'], ascending=[False, "
    "True])\n"
    "cmp('bmi', b[['patient_id', 'age', 'bmi']].head(25))\n"
    "print('pandas agrees')\n";

static void write_result(wd_ctx *ctx, wd_frame *f, const char *dir,
                         const char *name)
{
    if (!f)
        fail_msg("%s: %s", name, wd_error(ctx));
    wd_table *t = wd_compute(f);
    if (!t)
        fail_msg("%s: %s", name, wd_error(ctx));
    char path[512];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    OK(wd_table_write_csv(out, t));
    fclose(out);
    wd_table_free(t);
}

static void run_queries(weft_runtime *rt, size_t part_bytes, const char *out)
{
    const char *data = WEFT_SOURCE_DIR "/examples/data/patients";
    char glob[512];
    snprintf(glob, sizeof glob, "%s/patient_data_*.csv", data);
    wd_ctx *ctx = wd_ctx_new(rt);
    wd_frame *df = wd_read_csv(
        ctx, glob, &(wd_csv_options){.partition_bytes = part_bytes});
    assert_non_null(df);
    wd_frame *h = wd_filter(df, "condition == 'Heart Disease'");
    /* a constant key gives the whole frame's aggregates */
    h = wd_eval(h, "all = 1");
    write_result(
        ctx,
        wd_select(wd_groupby(h, "all", "mean(age),size()"), "mean(age),size()"),
        out, "heart");
    write_result(ctx,
                 wd_groupby(df, "condition", "mean(sys_bp),std(dia_bp),size()"),
                 out, "bp");
    write_result(ctx,
                 wd_select(wd_eval(wd_filter(df, "condition == 'Hypertension'"),
                                   "risk = sys_bp + 10"),
                           "patient_id,risk"),
                 out, "risk");
    wd_frame *b =
        wd_filter(wd_eval(df, "bmi = weight_kg / height_m ** 2"), "bmi > 40");
    write_result(
        ctx,
        wd_head(wd_sort(wd_select(b, "patient_id,age,bmi"), "-bmi,patient_id"),
                25),
        out, "bmi");
    wd_ctx_free(ctx);
}

static void check_with_pandas(const char *out)
{
    char script[512], cmd[2048];
    snprintf(script, sizeof script, "%s/check.py", out);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(checker, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", script,
             WEFT_SOURCE_DIR "/examples/data/patients", out);
    assert_int_equal(system(cmd), 0);
}

static void test_seed_queries_vs_pandas(void **state)
{
    (void)state;
    if (system("/usr/bin/python3 -c 'import pandas' 2>/dev/null") != 0)
        skip();
    char dir[] = "/tmp/weft_dfpd_XXXXXX";
    assert_non_null(mkdtemp(dir));
    weft_runtime *rt = start_runtime(2);
    size_t sizes[3] = {64 << 20, 200 << 10, 50 << 10}; /* 8, 24+, 80+ parts */
    for (int i = 0; i < 3; i++) {
        run_queries(rt, sizes[i], dir);
        check_with_pandas(dir);
    }
    weft_shutdown(rt);
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    o.num_procs = 2;
    rt = start_runtime_opts(&o);
    run_queries(rt, 100 << 10, dir);
    check_with_pandas(dir);
    weft_shutdown(rt);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_queries_vs_pandas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
