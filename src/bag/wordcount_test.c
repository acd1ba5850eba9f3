/* Black-box test of examples/wordcount: its output on the sample texts
 * (examples/data/text) equals a plain word count done here with the same
 * rule as "wb.words" (runs of ASCII letters, digits, apostrophes and
 * non-ASCII bytes, apostrophes trimmed at the ends, ASCII lowercased). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

typedef struct word {
    char *s;
    long long n;
} word;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_word(const void *a, const void *b)
{
    const word *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->s, y->s);
}

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

/* The expected output for the files matching pattern. */
static char *plain_wordcount(const char *pattern, int top)
{
    glob_t gl;
    assert_int_equal(glob(pattern, 0, NULL, &gl), 0);
    char **w = NULL;
    size_t n = 0, cap = 0;
    for (size_t f = 0; f < gl.gl_pathc; f++) {
        FILE *fp = fopen(gl.gl_pathv[f], "rb");
        assert_non_null(fp);
        char buf[256];
        size_t len = 0;
        int c;
        do {
            c = fgetc(fp);
            if (c != EOF && is_word((unsigned char)c)) {
                assert_true(len < sizeof buf - 1);
                buf[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                continue;
            }
            size_t b = 0, e = len;
            while (b < e && buf[b] == '\'')
                b++;
            while (e > b && buf[e - 1] == '\'')
                e--;
            if (e > b) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 1024;
                    w = realloc(w, cap * sizeof *w);
                }
                w[n++] = strndup(buf + b, e - b);
            }
            len = 0;
        } while (c != EOF);
        fclose(fp);
    }
    globfree(&gl);
    qsort(w, n, sizeof *w, cmp_str);
    word *d = calloc(n + 1, sizeof *d);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (nd && strcmp(d[nd - 1].s, w[i]) == 0)
            d[nd - 1].n++;
        else
            d[nd++] = (word){w[i], 1};
    }
    qsort(d, nd, sizeof *d, cmp_word);
    size_t cap_out = 1 << 16, len = 0;
    char *out = malloc(cap_out);
    len += (size_t)snprintf(out, cap_out, "words %zu\ndistinct %zu\n", n, nd);
    for (size_t i = 0; i < nd && (int)i < top; i++)
        len += (size_t)snprintf(out + len, cap_out - len, "%s %lld\n", d[i].s,
                                d[i].n);
    for (size_t i = 0; i < n; i++)
        free(w[i]);
    free(w);
    free(d);
    return out;
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0, got;
    char *out = malloc(cap);
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0)
        len += got;
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

static void test_wordcount_example(void **state)
{
    const char *ex = getenv("WEFT_EXAMPLES_DIR");
    if (!ex || !*ex)
        fail_msg("WEFT_EXAMPLES_DIR is not set (ctest sets it)");
    const char *slash = strrchr(__FILE__, '/');
    char data[4096], cmd[8192];
    snprintf(data, sizeof data, "%.*s/../../examples/data/text/*.txt",
             (int)(slash - __FILE__), __FILE__);
    /* the default (no arguments), run from another directory */
    snprintf(cmd, sizeof cmd, "cd / && '%s/wordcount'", ex);
    char *got = run(cmd), *want = plain_wordcount(data, 20);
    assert_string_equal(got, want);
    free(got);
    free(want);
    /* all the words, with the glob given */
    snprintf(cmd, sizeof cmd, "'%s/wordcount' '%s' 100000", ex, data);
    got = run(cmd);
    want = plain_wordcount(data, 100000);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordcount_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
