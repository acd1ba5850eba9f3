/* libFuzzer target for reading files into bags (wb_read_text and
 * wb_read_json through the streaming reader): input byte 0 picks the block
 * size, the rest is the file. Text must come back as exactly the lines a
 * plain split finds (at "\n", without a final "\r"), in any block size;
 * JSON lines either all parse, one record per non-blank line, or fail
 * with an error naming the file and a line that exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/bag.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static weft_runtime *rt;
static char path[64];

static void cleanup(void)
{
    unlink(path);
}

static void start(void)
{
    weft_options o;
    weft_options_init(&o);
    o.num_threads = 2;
    check(weft_init(&rt, &o) == 0);
    snprintf(path, sizeof path, "/tmp/weft_bag_fuzz_%d.txt", (int)getpid());
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rt)
        start();
    if (size < 1)
        return 0;
    wb_read_opts o;
    wb_read_opts_init(&o);
    o.block_size = 1 + data[0] % 64;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    FILE *f = fopen(path, "wb");
    check(f && fwrite(text, 1, n, f) == n && fclose(f) == 0);

    wb_bag *b;
    wb_records *r;
    check(wb_read_text(rt, path, &o, &b) == 0);
    check(wb_compute(b, &r) == 0);
    size_t k = 0, s = 0, lines = 0, nonblank = 0;
    while (s < n) {
        const char *nl = memchr(text + s, '\n', n - s);
        size_t e = nl ? (size_t)(nl - text) : n, l = e - s;
        if (l && text[s + l - 1] == '\r')
            l--;
        check(k < r->n && r->recs[k].len == l &&
              memcmp(r->recs[k].data, text + s, l) == 0 &&
              r->recs[k].data[l] == '\0');
        bool blank = true;
        for (size_t i = s; i < s + l; i++)
            blank =
                blank && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r');
        nonblank += !blank;
        k++;
        lines++;
        s = e + 1;
    }
    check(k == r->n);
    wb_records_free(r);
    wb_free(b);

    check(wb_read_json(rt, path, &o, &b) == 0);
    weft_err e = wb_compute(b, &r);
    if (e == 0) {
        check(r->n == nonblank);
        for (size_t i = 0; i < r->n; i++)
            check(r->recs[i].kind == WB_JSON);
        wb_records_free(r);
    } else {
        check(e == WEFT_ETASK);
        const char *msg = strstr(weft_last_error(), path);
        check(msg != NULL && msg[strlen(path)] == ':');
        long line = strtol(msg + strlen(path) + 1, NULL, 10);
        check(line >= 1 && (size_t)line <= lines);
    }
    wb_free(b);
    return 0;
}
