/* The peers' dataframe queries through weft's C API (weft/dataframe.h) on
 * the 8 patient files (WEFT_BENCH_DATA), on the embedded runtime with all
 * cores, in the peer suite's form (../shared/peers/dask/bench_dataframe.py):
 *   load: read_csv of all 9 columns + persist            (s)
 *   (a) read + filter condition == 'Heart Disease' + mean age, from CSV
 *   (b) groupby condition, mean sys_bp                  (persisted data)
 *   (c) join with 10 condition -> risk_weight rows, sum(weight_kg * risk)
 *   (d) sum(sys_bp + 10) of the Hypertension rows
 * Median of 5 runs each, as the peers. Lines: dataframe.weft.<query> s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/dataframe.h>
#include <weft/weft.h>

#include "bench.h"

#define RUNS 5

static const char *const conds[] = {
    "Hypertension", "Heart Disease", "Diabetes", "Asthma",  "COPD",
    "Arthritis",    "Cancer",        "Stroke",   "Obesity", "Healthy"};
static const double risk[] = {1.5,  2.0, 1.3, 1.1, 1.4,
                              1.05, 1.8, 1.9, 1.2, 1.0};

/* Median seconds of RUNS computes of f; *value = the result's (0, col). */
static double timed(wd_ctx *ctx, wd_frame *f, size_t col, double *value,
                    const char *what)
{
    double t[RUNS];
    if (!f) {
        fprintf(stderr, "dataframe bench %s: %s\n", what, wd_error(ctx));
        exit(1);
    }
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now();
        wd_table *res = wd_compute(f);
        t[r] = bench_now() - t0;
        if (!res) {
            fprintf(stderr, "dataframe bench %s: %s\n", what, wd_error(ctx));
            exit(1);
        }
        *value = 0;
        for (size_t i = 0; i < wd_table_nrows(res); i++)
            *value += wd_table_f64(res, i, col);
        wd_table_free(res);
    }
    qsort(t, RUNS, sizeof t[0], bench_cmp_double);
    return t[RUNS / 2];
}

int main(void)
{
    const char *data = getenv("WEFT_BENCH_DATA");
    if (!data) {
        printf("# dataframe: WEFT_BENCH_DATA not set (bench/dataframe-data); "
               "skipped\n");
        return 0;
    }
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));
    wd_ctx *ctx = wd_ctx_new(rt);
    char glob[4096], riskpath[] = "/tmp/weft_risk_XXXXXX";
    snprintf(glob, sizeof glob, "%s/patient_data_*.csv", data);
    int fd = mkstemp(riskpath);
    FILE *rf = fdopen(fd, "w");
    fprintf(rf, "condition,risk_weight\n");
    for (int k = 0; k < 10; k++)
        fprintf(rf, "%s,%.17g\n", conds[k], risk[k]);
    fclose(rf);

    double v;
    /* (a) from the files each time */
    wd_frame *csv = wd_read_csv(ctx, glob, NULL);
    double ta = timed(
        ctx,
        wd_agg(wd_filter(csv, "condition == 'Heart Disease'"), "mean(age)"), 0,
        &v, "a");
    bench_note("(a) read_csv + filter + mean age from CSV: %.10f (%zu "
               "partitions); median of %d",
               v, wd_nparts(csv), RUNS);
    bench_emit("dataframe.weft.a_read_filter_mean", ta, "s");

    double t0 = bench_now();
    wd_frame *df = wd_read_csv(ctx, glob, NULL);
    if (!df || wd_persist(df)) {
        fprintf(stderr, "dataframe bench: %s\n", wd_error(ctx));
        return 1;
    }
    bench_emit("dataframe.weft.load_persist", bench_now() - t0, "s");

    double tb =
        timed(ctx, wd_groupby(df, "condition", "mean(sys_bp)"), 1, &v, "b");
    bench_note("(b) groupby condition mean sys_bp, persisted: sum of means "
               "%.12g",
               v);
    bench_emit("dataframe.weft.b_groupby_mean", tb, "s");

    wd_frame *rw = wd_read_csv(ctx, riskpath, NULL);
    wd_frame *j = wd_join(df, rw, "condition", WD_INNER);
    double tc =
        timed(ctx, wd_agg(wd_eval(j, "w = weight_kg * risk_weight"), "sum(w)"),
              0, &v, "c");
    bench_note("(c) join with 10 risk weights, sum(weight_kg * risk_weight) "
               "= %.2f",
               v);
    bench_emit("dataframe.weft.c_join_weighted_sum", tc, "s");

    double td = timed(ctx,
                      wd_agg(wd_eval(wd_filter(df, "condition == "
                                                   "'Hypertension'"),
                                     "r = sys_bp + 10"),
                             "sum(r)"),
                      0, &v, "d");
    bench_note("(d) sum(sys_bp + 10) of Hypertension = %.0f", v);
    bench_emit("dataframe.weft.d_hypertension_sum", td, "s");

    wd_ctx_free(ctx);
    unlink(riskpath);
    weft_shutdown(rt);
    return 0;
}
