/* libFuzzer target for the CSV reader: the input after its first byte is a
 * file; the first byte picks options (header, delimiter, quoting, a null
 * marker, skipping bad lines, a projection, tiny partitions, cut mode).
 * Beyond "no crash, no leak, no read outside a buffer" (ASan), a table
 * that parses must be well formed (every column as long as the table,
 * string offsets rising within their bytes, validity bytes 0 or 1), and
 * reading the same file in one partition and in tiny exact partitions must
 * give the same answer when both plans agree on the types. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataframe/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "csv_fuzz: invariant broken: %s\n", what);
        abort();
    }
}

static void check_table(const wf_table *t)
{
    for (size_t j = 0; j < t->ncols; j++) {
        const wf_column *c = &t->cols[j];
        fuzz_check(c->len == t->nrows, "column length");
        fuzz_check(c->len <= c->cap, "length within capacity");
        if (c->valid != NULL)
            for (size_t i = 0; i < c->len; i++)
                fuzz_check(c->valid[i] <= 1, "validity byte");
        if (c->type == WF_COL_STR) {
            fuzz_check(c->offs[0] == 0, "first offset");
            for (size_t i = 0; i < c->len; i++)
                fuzz_check(c->offs[i] <= c->offs[i + 1], "offsets rise");
            fuzz_check((size_t)c->offs[c->len] <= c->chars_cap,
                       "offsets within chars");
        }
    }
}

static bool same_table(const wf_table *a, const wf_table *b)
{
    if (a->ncols != b->ncols || a->nrows != b->nrows)
        return false;
    for (size_t j = 0; j < a->ncols; j++) {
        const wf_column *x = &a->cols[j], *y = &b->cols[j];
        if (x->type != y->type || strcmp(a->names[j], b->names[j]) != 0)
            return false;
        for (size_t i = 0; i < a->nrows; i++) {
            if (wf_col_present(x, i) != wf_col_present(y, i))
                return false;
            size_t n, m;
            if (x->type == WF_COL_STR) {
                const char *s = wf_col_str(x, i, &n), *u = wf_col_str(y, i, &m);
                if (n != m || memcmp(s, u, n) != 0)
                    return false;
            } else if (x->type == WF_COL_BOOL) {
                if (x->v.b[i] != y->v.b[i])
                    return false;
            } else if (memcmp(&x->v.i64[i], &y->v.i64[i], 8) != 0) {
                return false;
            }
        }
    }
    return true;
}

/* Parse every partition of pl into *t (appending); the first error's code
 * and whether it was a misaligned FAST cut. */
static weft_err read_plan(const wf_csv_plan *pl, wf_table *t, bool *misaligned)
{
    char err[256];
    weft_err e = WEFT_OK;
    wf_table_init(t);
    *misaligned = false;
    for (size_t i = 0; i < pl->nparts && e == WEFT_OK; i++) {
        wf_table part;
        wf_csv_stats st;
        e = wf_csv_parse_part(pl, i, &part, &st, err, sizeof err);
        if (e != WEFT_OK) {
            fuzz_check(part.ncols == 0 && err[0] != 0, "error with a message");
            *misaligned = st.misaligned;
            break;
        }
        check_table(&part);
        if (i == 0) {
            *t = part;
            continue;
        }
        fuzz_check(part.ncols == t->ncols, "partitions have the same columns");
        for (size_t j = 0; j < part.ncols && e == WEFT_OK; j++)
            e = wf_col_append(&t->cols[j], &part.cols[j]);
        t->nrows += part.nrows;
        wf_table_free(&part);
    }
    if (e != WEFT_OK)
        wf_table_free(t);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == 0)
        snprintf(path, sizeof path, "/tmp/weft_csv_fuzz_%d.csv", (int)getpid());
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) {
        fclose(f);
        return 0;
    }
    fclose(f);

    wf_csv_options o;
    wf_csv_options_defaults(&o);
    static const char delims[] = {',', ';', '\t', '|'};
    o.header = !(sel & 1);
    o.delimiter = delims[(sel >> 1) & 3];
    o.quote = sel & 8 ? 0 : '"';
    o.null_marker = sel & 16 ? "NA" : NULL;
    o.skip_bad_lines = sel & 32;
    static const char *const proj[] = {"a"};
    if (sel & 64) {
        o.columns = proj;
        o.ncolumns = 1;
    }
    o.sample_rows = sel & 128 ? 3 : 1000;
    const char *p = path;
    char err[256];

    /* the convenience path */
    wf_table t;
    if (wf_csv_read(&p, 1, &o, &t, NULL, err, sizeof err) == WEFT_OK) {
        check_table(&t);
        wf_table_free(&t);
    } else {
        fuzz_check(t.ncols == 0 && err[0] != 0, "error with a message");
    }

    /* one partition against tiny ones (fast cuts, then exact if a fast
     * cut was wrong): the same types, so the same answer */
    wf_csv_options small = o;
    small.partition_bytes = 1 + sel % 40;
    wf_csv_plan *pl1 = NULL, *pl2 = NULL;
    if (wf_csv_plan_open(&p, 1, &o, &pl1, err, sizeof err) != WEFT_OK)
        return 0;
    weft_err e2 = wf_csv_plan_open(&p, 1, &small, &pl2, err, sizeof err);
    fuzz_check(e2 == WEFT_OK, "planning does not depend on partition size");
    fuzz_check(memcmp(pl1->field_types, pl2->field_types,
                      pl1->nfields * sizeof *pl1->field_types) == 0,
               "inference does not depend on partition size");
    wf_table t1, t2;
    bool mis1, mis2;
    weft_err e1 = read_plan(pl1, &t1, &mis1);
    fuzz_check(!mis1 || pl1->nparts > 1, "one partition is never misaligned");
    e2 = read_plan(pl2, &t2, &mis2);
    if (mis2) {
        wf_csv_plan_free(pl2);
        small.split = WF_CSV_SPLIT_EXACT;
        fuzz_check(wf_csv_plan_open(&p, 1, &small, &pl2, err, sizeof err) ==
                       WEFT_OK,
                   "exact planning succeeds");
        e2 = read_plan(pl2, &t2, &mis2);
        fuzz_check(!mis2, "exact cuts are never misaligned");
    }
    fuzz_check((e1 == WEFT_OK) == (e2 == WEFT_OK),
               "one and many partitions agree on success");
    if (e1 == WEFT_OK)
        fuzz_check(same_table(&t1, &t2),
                   "one and many partitions give the same table");
    if (e1 == WEFT_OK)
        wf_table_free(&t1);
    if (e2 == WEFT_OK)
        wf_table_free(&t2);
    wf_csv_plan_free(pl1);
    wf_csv_plan_free(pl2);
    return 0;
}
