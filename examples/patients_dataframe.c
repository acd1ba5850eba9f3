/* The seeds' health-data examples with weft dataframes (seed: Dask's
 * dd.read_csv('patient_data_*.csv') and Modin's mean age of Heart Disease
 * patients):
 *   - the first rows of the patient files
 *   - mean age of the Heart Disease patients
 *   - mean blood pressure per condition
 *   - Hypertension "risk scores": sys_bp + 10 for those patients
 *   - a BMI column and the patients over a threshold
 * Usage: patients_dataframe [DIR]   (DIR holds patient_data_*.csv; the
 * default is the small slice shipped in examples/data/patients) */
#include <stdio.h>
#include <stdlib.h>

#include <weft/dataframe.h>
#include <weft/weft.h>

#ifndef WEFT_EXAMPLES_DATA
#define WEFT_EXAMPLES_DATA "examples/data"
#endif

/* Print a frame's rows (at most max), or why it failed, and free them. */
static int show(const char *title, wd_ctx *ctx, wd_frame *f, size_t max)
{
    printf("-- %s\n", title);
    wd_table *t = f ? wd_compute(f) : NULL;
    if (!t) {
        fprintf(stderr, "patients_dataframe: %s\n", wd_error(ctx));
        return 1;
    }
    wd_table_print(stdout, t, max);
    wd_table_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));
    char glob[4096];
    snprintf(glob, sizeof glob, "%s/patient_data_*.csv",
             argc > 1 ? argv[1] : WEFT_EXAMPLES_DATA "/patients");

    wd_ctx *ctx = wd_ctx_new(rt);
    /* Nothing is read yet beyond headers and a sample for the types. */
    wd_frame *df = wd_read_csv(ctx, glob, NULL);
    if (!df) {
        fprintf(stderr, "patients_dataframe: %s\n", wd_error(ctx));
        return 1;
    }
    printf("%zu partitions, columns:", wd_nparts(df));
    for (size_t i = 0; i < wd_ncols(df); i++)
        printf(" %s", wd_col_name(df, i));
    printf("\n");

    int rc = show("df.head()", ctx, wd_head(df, 5), 10);

    /* df[df.condition == 'Heart Disease'].age.mean() */
    wd_frame *heart = wd_filter(df, "condition == 'Heart Disease'");
    rc |= show("mean age of Heart Disease patients", ctx,
               wd_agg(heart, "mean(age),size()"), 10);

    /* df.groupby('condition')[['sys_bp', 'dia_bp']].mean() */
    rc |= show("mean blood pressure per condition", ctx,
               wd_groupby(df, "condition", "mean(sys_bp),mean(dia_bp)"), 20);

    /* high_bp = df[df.condition == 'Hypertension']; high_bp.sys_bp + 10 */
    wd_frame *risk = wd_eval(wd_filter(df, "condition == 'Hypertension'"),
                             "risk = sys_bp + 10");
    rc |= show("Hypertension risk scores (sys_bp + 10)", ctx,
               wd_select(risk, "patient_id,sys_bp,risk"), 10);

    /* df['bmi'] = df.weight_kg / df.height_m ** 2; df[df.bmi > 40] */
    wd_frame *bmi = wd_eval(df, "bmi = weight_kg / height_m ** 2");
    wd_frame *obese = wd_filter(bmi, "bmi > 40");
    rc |= show("patients with a BMI over 40, heaviest first", ctx,
               wd_head(wd_sort(wd_select(obese, "patient_id,age,bmi"),
                               "-bmi,patient_id"),
                       10),
               10);
    size_t before = 0, after = 0;
    if (obese && wd_graph_size(obese, &before, &after) == 0)
        printf("(the BMI filter: %zu operations on partitions ran as %zu "
               "tasks)\n",
               before, after);

    wd_ctx_free(ctx);
    weft_shutdown(rt);
    return rc;
}
