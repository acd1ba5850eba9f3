/* libFuzzer target for the table decoder (table_io.h): any bytes either
 * decode to a well-formed table, which must encode and decode again to the
 * same bytes, or are refused with WEFT_EINVAL and a message. */
#include <stdlib.h>
#include <string.h>

#include "dataframe/table_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_table t;
    char err[256] = "";
    weft_err e = wf_table_decode(data, size, &t, err, sizeof err);
    if (e) {
        check(e == WEFT_EINVAL || e == WEFT_ENOMEM);
        check(e == WEFT_ENOMEM || strstr(err, "table encoding") != NULL);
        check(t.ncols == 0);
        return 0;
    }
    for (size_t j = 0; j < t.ncols; j++) {
        const wf_column *c = &t.cols[j];
        check(c->len == t.nrows);
        if (c->type == WF_COL_STR)
            for (size_t i = 0; i < t.nrows; i++)
                check(c->offs[i] <= c->offs[i + 1]);
    }
    uint8_t *buf;
    size_t len;
    check(wf_table_encode(&t, &buf, &len) == WEFT_OK);
    wf_table again;
    check(wf_table_decode(buf, len, &again, err, sizeof err) == WEFT_OK);
    uint8_t *buf2;
    size_t len2;
    check(wf_table_encode(&again, &buf2, &len2) == WEFT_OK);
    check(len == len2 && memcmp(buf, buf2, len) == 0);
    free(buf);
    free(buf2);
    wf_table_free(&t);
    wf_table_free(&again);
    return 0;
}
