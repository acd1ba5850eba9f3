/* Tests of bags over files: random text files (CRLF, empty lines, no final
 * newline) cut into blocks of random sizes read back line for line against
 * a plain split; JSON-lines files with blank lines, a malformed line named
 * by file and line from any block; a glob matching nothing; to_textfiles
 * and back; the same on worker processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/bag.h>

#include "testutil.h"

static char dir[64];

static void write_file(const char *name, const char *text, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static char *pattern(const char *glob)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, glob);
    return p;
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/weft_bag_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Lines of text as the reader cuts them: at \n, without a final \r. */
static size_t plain_lines(const char *t, size_t n, const char **line,
                          size_t *len)
{
    size_t k = 0, s = 0;
    while (s < n) {
        const char *nl = memchr(t + s, '\n', n - s);
        size_t e = nl ? (size_t)(nl - t) : n, l = e - s;
        if (l && t[s + l - 1] == '\r')
            l--;
        line[k] = t + s;
        len[k++] = l;
        s = e + 1;
    }
    return k;
}

static void random_files(weft_runtime *rt, uint64_t seed, int rounds)
{
    uint64_t rng = seed;
    static const char *const pieces[] = {"alpha", " ", "\r\n",     "\n", "b",
                                         "\n\n",  "x", "\xc3\xa9", "\r"};
    for (int round = 0; round < rounds; round++) {
        int nfiles = 1 + (int)xorshift_below(&rng, 3);
        const char **line = NULL;
        size_t *len = NULL, nlines = 0;
        char *text[3];
        size_t tlen[3];
        for (int f = 0; f < nfiles; f++) {
            size_t np = xorshift_below(&rng, 200);
            text[f] = malloc(np * 6 + 1);
            tlen[f] = 0;
            for (size_t i = 0; i < np; i++)
                tlen[f] += (size_t)sprintf(text[f] + tlen[f], "%s",
                                           pieces[xorshift_below(&rng, 9)]);
            char name[64];
            snprintf(name, sizeof name, "r%llx-%d-%d.txt",
                     (unsigned long long)seed, round, f);
            write_file(name, text[f], tlen[f]);
        }
        for (int f = 0; f < nfiles; f++) {
            line = realloc(line, (nlines + tlen[f] + 1) * sizeof *line);
            len = realloc(len, (nlines + tlen[f] + 1) * sizeof *len);
            nlines +=
                plain_lines(text[f], tlen[f], line + nlines, len + nlines);
        }
        wb_read_opts o;
        wb_read_opts_init(&o);
        o.block_size = 1 + xorshift_below(&rng, 300);
        char glob[64];
        snprintf(glob, sizeof glob, "r%llx-%d-*.txt", (unsigned long long)seed,
                 round);
        wb_bag *b;
        OK(wb_read_text(rt, pattern(glob), &o, &b));
        wb_records *r;
        OK(wb_compute(b, &r));
        assert_int_equal(r->n, nlines);
        for (size_t i = 0; i < nlines; i++) {
            assert_int_equal(r->recs[i].len, len[i]);
            assert_memory_equal(r->recs[i].data, line[i], len[i]);
        }
        wb_records_free(r);
        wb_free(b);
        for (int f = 0; f < nfiles; f++)
            free(text[f]);
        free(line);
        free(len);
    }
}

static void test_text_threads(void **state)
{
    weft_runtime *rt = start_runtime(2);
    random_files(rt, 0x7e47, scaled(150));
    /* the edge cases by name */
    write_file("e1.txt", "one\r\ntwo\n\nthree", 15);
    write_file("e2.txt", "", 0);
    write_file("e3.txt", "\n", 1);
    wb_bag *b;
    OK(wb_read_text(rt, pattern("e*.txt"), NULL, &b));
    assert_int_equal(wb_npartitions(b), 3);
    wb_records *r;
    OK(wb_compute(b, &r));
    const char *want[] = {"one", "two", "", "three", ""};
    assert_int_equal(r->n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(r->recs[i].data, want[i]);
    wb_records_free(r);
    wb_free(b);
    assert_err(wb_read_text(rt, pattern("nothing-*.txt"), NULL, &b), WEFT_EIO,
               "no file matches");
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

static void test_text_processes(void **state)
{
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    weft_runtime *rt = start_runtime_opts(&o);
    random_files(rt, 0x9a11, scaled(30));
    weft_shutdown(rt);
}

static void test_json_lines(void **state)
{
    weft_runtime *rt = start_runtime(2);
    const char good[] = "{\"name\": \"ann\", \"age\": 31}\r\n"
                        "\n"
                        "  \n"
                        "{\"name\": \"bob\", \"age\": 42, \"tags\": [1, 2]}\n"
                        "{\"name\": \"\\u00e9va\", \"age\": 7}";
    write_file("people.jsonl", good, sizeof good - 1);
    wb_read_opts o;
    wb_read_opts_init(&o);
    o.block_size = 16; /* several blocks */
    wb_bag *b;
    OK(wb_read_json(rt, pattern("people.jsonl"), &o, &b));
    assert_true(wb_npartitions(b) > 3);
    wb_records *r;
    OK(wb_compute(b, &r));
    assert_int_equal(r->n, 3);
    assert_int_equal(r->recs[0].kind, WB_JSON);
    assert_string_equal(r->recs[0].data, "{\"name\":\"ann\",\"age\":31}");
    wb_records_free(r);
    wb_bag *names = wb_map(b, "wb.pluck", "name", 4);
    OK(wb_compute(names, &r));
    assert_int_equal(r->n, 3);
    assert_int_equal(r->recs[2].kind, WB_TEXT);
    assert_string_equal(r->recs[0].data, "ann");
    assert_string_equal(r->recs[2].data, "\xc3\xa9va");
    wb_records_free(r);
    wb_bag *ages = wb_map(b, "wb.pluck", "age", 3);
    wb_bag *sum = wb_fold(ages, "wb.add", NULL, NULL, 0, NULL);
    OK(wb_compute(sum, &r));
    assert_string_equal(r->recs[0].data, "80");
    wb_records_free(r);
    wb_free(sum);
    wb_free(ages);
    wb_free(names);
    wb_free(b);

    /* a malformed line in a later block: its file and line */
    const char bad[] = "{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": 3}\n{\"a\": 4,,}\n"
                       "{\"a\": 5}\n";
    write_file("bad.jsonl", bad, sizeof bad - 1);
    for (size_t bs = 4; bs <= 64; bs *= 2) {
        o.block_size = bs;
        OK(wb_read_json(rt, pattern("bad.jsonl"), &o, &b));
        char want[300];
        snprintf(want, sizeof want, "%s:5: not JSON", pattern("bad.jsonl"));
        assert_err(wb_compute(b, &r), WEFT_ETASK, want);
        wb_free(b);
    }
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

static void test_to_textfiles(void **state)
{
    weft_runtime *rt = start_runtime(2);
    const char *items[] = {"red", "green", "blue", "red", "cyan"};
    wb_bag *b;
    OK(wb_from_sequence(rt, items, 5, 3, &b));
    size_t nf = 0;
    char out[256];
    snprintf(out, sizeof out, "%s/out/sub/part-*.txt", dir);
    OK(wb_to_textfiles(b, out, &nf));
    assert_int_equal(nf, 3);
    wb_bag *back;
    snprintf(out, sizeof out, "%s/out/sub/part-*.txt", dir);
    OK(wb_read_text(rt, out, NULL, &back));
    wb_records *r;
    OK(wb_compute(back, &r));
    assert_int_equal(r->n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(r->recs[i].data, items[i]);
    wb_records_free(r);
    wb_free(back);
    /* frequencies as JSON lines */
    wb_bag *f = wb_frequencies(b);
    snprintf(out, sizeof out, "%s/freq/*.jsonl", dir);
    OK(wb_to_textfiles(f, out, &nf));
    assert_int_equal(nf, 1);
    OK(wb_read_json(rt, out, NULL, &back));
    OK(wb_compute(back, &r));
    assert_int_equal(r->n, 4);
    assert_string_equal(r->recs[0].data, "[\"red\",2]");
    assert_string_equal(r->recs[1].data, "[\"blue\",1]");
    wb_records_free(r);
    wb_free(back);
    wb_free(f);
    wb_free(b);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

int main(void)
{
    weft_worker_check(); /* worker processes serve tasks from here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_threads),
        cmocka_unit_test(test_text_processes),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_to_textfiles),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
