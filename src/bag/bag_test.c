/* Tests of bags (include/weft/bag.h) on a real runtime: random bags put
 * through random chains of map / flat_map / filter / flatten and then
 * computed, counted, taken, folded, grouped, made distinct or counted by
 * frequency, each checked against a plain sequential evaluation here, on
 * threads and on worker processes; a third of the bags come from a file
 * read in blocks of random sizes; and errors from user functions. */
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

/* ------------------------------------------------------------ functions */

/* Bytes of the UTF-8 character at s[0] (1 to 4, at most n). */
static size_t char_len(const char *s, size_t n)
{
    size_t k = 1;
    while (k < n && ((unsigned char)s[k] & 0xc0) == 0x80)
        k++;
    return n ? k : 0;
}

/* s[0..n) reversed character by character into out. */
static void reverse(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n;) {
        size_t k = char_len(s + i, n - i);
        memcpy(out + n - i - k, s + i, k);
        i += k;
    }
}

/* t_rev: the text reversed (by UTF-8 characters). */
static weft_err t_rev(const wb_rec *r, wb_out *o, const void *arg,
                      size_t arglen)
{
    char *s = malloc(r->len + 1);
    reverse(r->data, r->len, s);
    weft_err e = wb_emit_text(o, s, r->len);
    free(s);
    return e;
}
WB_MAP(t_rev)

/* t_rep: the record len % 3 times. */
static weft_err t_rep(const wb_rec *r, wb_out *o, const void *arg,
                      size_t arglen)
{
    for (size_t i = 0; i < r->len % 3; i++)
        if (wb_emit(o, r))
            return WEFT_ENOMEM;
    return 0;
}
WB_MAP(t_rep)

/* t_even: records of even length. */
static bool t_even(const wb_rec *r, const void *arg, size_t arglen)
{
    return r->len % 2 == 0;
}
WB_FILTER(t_even)

/* t_pair: the JSON array [text, text] (for flatten). */
static weft_err t_pair(const wb_rec *r, wb_out *o, const void *arg,
                       size_t arglen)
{
    json_t *s = json_stringn(r->data, r->len);
    json_t *j = json_pack("[OO]", s, s);
    weft_err e = wb_emit_json(o, j);
    json_decref(j);
    json_decref(s);
    return e;
}
WB_MAP(t_pair)

/* t_len: the length as decimal text. */
static weft_err t_len(const wb_rec *r, wb_out *o, const void *arg,
                      size_t arglen)
{
    char b[24];
    int k = snprintf(b, sizeof b, "%zu", r->len);
    return wb_emit_text(o, b, (size_t)k);
}
WB_MAP(t_len)

/* t_first: the first character (or nothing) as text: a groupby key. */
static weft_err t_first(const wb_rec *r, wb_out *o, const void *arg,
                        size_t arglen)
{
    return wb_emit_text(o, r->data, char_len(r->data, r->len));
}
WB_MAP(t_first)

/* t_cat: concatenation (a monoid with "" as its identity). */
static weft_err t_cat(const wb_rec *a, const wb_rec *x, wb_out *o,
                      const void *arg, size_t arglen)
{
    char *s = malloc(a->len + x->len + 1);
    memcpy(s, a->data, a->len);
    memcpy(s + a->len, x->data, x->len);
    weft_err e = wb_emit_text(o, s, a->len + x->len);
    free(s);
    return e;
}
WB_FOLD(t_cat)

/* t_two: emits two records (wrong for wb_map). */
static weft_err t_two(const wb_rec *r, wb_out *o, const void *arg,
                      size_t arglen)
{
    wb_emit(o, r);
    return wb_emit(o, r);
}
WB_MAP(t_two)

/* t_bad: fails on the text "boom". */
static weft_err t_bad(const wb_rec *r, wb_out *o, const void *arg,
                      size_t arglen)
{
    if (r->len == 4 && memcmp(r->data, "boom", 4) == 0)
        return wb_out_fail(o, "found %s", r->data);
    return wb_emit(o, r);
}
WB_MAP(t_bad)

/* ------------------------------------------------------------ plain */

typedef struct strs {
    char **v;
    size_t n, cap;
} strs;

static void push(strs *s, const char *p, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    char *c = malloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    s->v[s->n++] = c;
}

static void strs_free(strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static bool space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

enum { OP_REV, OP_REP, OP_EVEN, OP_SPLIT, OP_PAIRFLAT, OP_LOWER, NOPS };

/* One step applied plainly. */
static strs plain_step(const strs *in, int op)
{
    strs out = {0};
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->v[i];
        size_t n = strlen(s);
        if (op == OP_REV) {
            char *r = malloc(n + 1);
            reverse(s, n, r);
            push(&out, r, n);
            free(r);
        } else if (op == OP_REP) {
            for (size_t k = 0; k < n % 3; k++)
                push(&out, s, n);
        } else if (op == OP_EVEN) {
            if (n % 2 == 0)
                push(&out, s, n);
        } else if (op == OP_SPLIT) {
            size_t k = 0;
            while (k < n) {
                while (k < n && space(s[k]))
                    k++;
                size_t b = k;
                while (k < n && !space(s[k]))
                    k++;
                if (k > b)
                    push(&out, s + b, k - b);
            }
        } else if (op == OP_PAIRFLAT) {
            push(&out, s, n);
            push(&out, s, n);
        } else {
            char *r = malloc(n + 1);
            for (size_t k = 0; k < n; k++)
                r[k] = s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k];
            push(&out, r, n);
            free(r);
        }
    }
    return out;
}

static wb_bag *bag_step(wb_bag *b, int op)
{
    switch (op) {
    case OP_REV:
        return wb_map(b, "t_rev", NULL, 0);
    case OP_REP:
        return wb_flat_map(b, "t_rep", NULL, 0);
    case OP_EVEN:
        return wb_filter(b, "t_even", NULL, 0);
    case OP_SPLIT:
        return wb_flat_map(b, "wb.split", NULL, 0);
    case OP_PAIRFLAT: {
        wb_bag *p = wb_map(b, "t_pair", NULL, 0);
        wb_bag *f = wb_flatten(p);
        wb_free(p);
        return f;
    }
    default:
        return wb_map(b, "wb.lower", NULL, 0);
    }
}

static const char *const vocab[] = {
    "a",  "bb", "Ccc", "dd d", "e\"q",  "f\\g",   "h\ti",  "\xc3\xa9t\xc3\xa9",
    "zz", "",   "The", "the",  "x y z", "  pad ", "boom!", "ok",
};

static void random_items(uint64_t *rng, strs *s)
{
    size_t n = xorshift_below(rng, 4) == 0 ? xorshift_below(rng, 4)
                                           : xorshift_below(rng, 300);
    for (size_t i = 0; i < n; i++) {
        char buf[128];
        size_t len = 0, words = 1 + xorshift_below(rng, 3);
        for (size_t w = 0; w < words; w++) {
            const char *v = vocab[xorshift_below(rng, 16)];
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
                                    w ? " " : "", v);
        }
        push(s, buf, len);
    }
}

static int cmp_freq(const void *a, const void *b)
{
    const wb_rec *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->data, y->data, m);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* Records equal the plain strings, in order (text records). */
static void expect_same(const wb_records *r, const strs *want, size_t n)
{
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->recs[i].kind, WB_TEXT);
        assert_int_equal(r->recs[i].len, strlen(want->v[i]));
        assert_memory_equal(r->recs[i].data, want->v[i], r->recs[i].len);
    }
}

static void check_frequencies(wb_bag *b, const strs *want)
{
    wb_bag *f = wb_frequencies(b);
    assert_non_null(f);
    assert_int_equal(wb_npartitions(f), 1);
    wb_records *r;
    OK(wb_compute(f, &r));
    /* plain: count each distinct string */
    wb_rec *exp = calloc(want->n + 1, sizeof *exp);
    size_t ne = 0;
    for (size_t i = 0; i < want->n; i++) {
        size_t k = 0;
        while (k < ne && strcmp(exp[k].data, want->v[i]) != 0)
            k++;
        if (k == ne)
            exp[ne++] = (wb_rec){WB_COUNT, want->v[i], strlen(want->v[i]), 0};
        exp[k].n++;
    }
    qsort(exp, ne, sizeof *exp, cmp_freq);
    assert_int_equal(r->n, ne);
    for (size_t i = 0; i < ne; i++) {
        assert_int_equal(r->recs[i].kind, WB_COUNT);
        assert_int_equal(r->recs[i].n, exp[i].n);
        assert_int_equal(r->recs[i].len, exp[i].len);
        assert_memory_equal(r->recs[i].data, exp[i].data, exp[i].len);
    }
    free(exp);
    wb_records_free(r);
    wb_free(f);
}

static void check_distinct(wb_bag *b, const strs *want)
{
    wb_bag *d = wb_distinct(b);
    assert_non_null(d);
    wb_records *r;
    OK(wb_compute(d, &r));
    strs exp = {0};
    for (size_t i = 0; i < want->n; i++) {
        size_t k = 0;
        while (k < exp.n && strcmp(exp.v[k], want->v[i]) != 0)
            k++;
        if (k == exp.n)
            push(&exp, want->v[i], strlen(want->v[i]));
    }
    expect_same(r, &exp, exp.n);
    strs_free(&exp);
    wb_records_free(r);
    wb_free(d);
}

static void check_groupby(wb_bag *b, const strs *want, size_t npart)
{
    if (npart == 0 && wb_npartitions(b) > 64)
        npart = 8; /* a file read in tiny blocks */
    wb_bag *g = wb_groupby(b, "t_first", NULL, 0, npart);
    assert_non_null(g);
    assert_int_equal(wb_npartitions(g), npart ? npart : wb_npartitions(b));
    wb_records *r;
    OK(wb_compute(g, &r));
    /* every group: its key, then its records in bag order */
    size_t items = 0;
    for (size_t i = 0; i < r->n; i++) {
        json_t *j;
        OK(wb_rec_json(&r->recs[i], &j));
        assert_true(json_is_array(j) && json_array_size(j) == 2);
        const char *key = json_string_value(json_array_get(j, 0));
        json_t *list = json_array_get(j, 1);
        assert_non_null(key);
        size_t k = 0;
        for (size_t w = 0; w < want->n; w++) {
            const char *s = want->v[w];
            size_t kl = char_len(s, strlen(s));
            if (strlen(key) != kl || strncmp(s, key, kl) != 0)
                continue;
            json_t *x = json_array_get(list, k++);
            assert_non_null(x);
            assert_string_equal(json_string_value(x), s);
        }
        assert_int_equal(json_array_size(list), k);
        assert_true(k > 0);
        items += k;
        for (size_t i2 = 0; i2 < i; i2++) /* keys are distinct */
            assert_false(
                r->recs[i2].len == r->recs[i].len &&
                memcmp(r->recs[i2].data, r->recs[i].data, r->recs[i].len) == 0);
        json_decref(j);
    }
    assert_int_equal(items, want->n);
    wb_records_free(r);
    wb_free(g);
}

static void check_folds(wb_bag *b, const strs *want)
{
    /* concatenation from "" (order matters) */
    wb_rec empty = wb_text("", 0);
    wb_bag *f = wb_fold(b, "t_cat", NULL, NULL, 0, &empty);
    assert_non_null(f);
    wb_records *r;
    OK(wb_compute(f, &r));
    size_t total = 0;
    for (size_t i = 0; i < want->n; i++)
        total += strlen(want->v[i]);
    char *cat = malloc(total + 1), *q = cat;
    for (size_t i = 0; i < want->n; i++)
        q = stpcpy(q, want->v[i]);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->recs[0].len, total);
    assert_memory_equal(r->recs[0].data, cat, total);
    free(cat);
    wb_records_free(r);
    wb_free(f);
    /* the sum of lengths with wb.add, without an initial value */
    wb_bag *l = wb_map(b, "t_len", NULL, 0);
    wb_bag *s = wb_fold(l, "wb.add", NULL, NULL, 0, NULL);
    OK(wb_compute(s, &r));
    if (want->n == 0) {
        assert_int_equal(r->n, 0);
    } else {
        assert_int_equal(r->n, 1);
        assert_int_equal(strtoll(r->recs[0].data, NULL, 10), (long long)total);
    }
    wb_records_free(r);
    wb_free(s);
    wb_free(l);
}

/* A bag of items through a file: one line each, read in random blocks. */
static char dir[64];

static wb_bag *via_file(weft_runtime *rt, const strs *items, uint64_t *rng)
{
    if (!dir[0]) {
        strcpy(dir, "/tmp/weft_bagt_XXXXXX");
        assert_non_null(mkdtemp(dir));
    }
    char path[128];
    snprintf(path, sizeof path, "%s/items.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < items->n; i++)
        fprintf(f, "%s\n", items->v[i]);
    fclose(f);
    wb_read_opts o;
    wb_read_opts_init(&o);
    o.block_size = 1 + xorshift_below(rng, 400);
    wb_bag *b;
    OK(wb_read_text(rt, path, &o, &b));
    return b;
}

static void random_bags(weft_runtime *rt, uint64_t seed, int rounds)
{
    static const size_t parts[] = {1, 2, 8};
    uint64_t rng = seed;
    for (int round = 0; round < rounds; round++) {
        strs items = {0};
        random_items(&rng, &items);
        wb_bag *b;
        if (xorshift_below(&rng, 3) == 0)
            b = via_file(rt, &items, &rng);
        else
            OK(wb_from_sequence(rt, (const char *const *)items.v, items.n,
                                parts[xorshift_below(&rng, 3)], &b));
        strs cur = {0};
        for (size_t i = 0; i < items.n; i++)
            push(&cur, items.v[i], strlen(items.v[i]));
        int steps = (int)xorshift_below(&rng, 5);
        for (int s = 0; s < steps; s++) {
            int op = (int)xorshift_below(&rng, NOPS);
            wb_bag *nb = bag_step(b, op);
            assert_non_null(nb);
            wb_free(b);
            b = nb;
            strs next = plain_step(&cur, op);
            strs_free(&cur);
            cur = next;
        }
        wb_records *r;
        switch (xorshift_below(&rng, 7)) {
        case 0:
            OK(wb_compute(b, &r));
            expect_same(r, &cur, cur.n);
            wb_records_free(r);
            break;
        case 1: {
            int64_t n;
            OK(wb_count(b, &n));
            assert_int_equal(n, (int64_t)cur.n);
            break;
        }
        case 2: {
            size_t k = xorshift_below(&rng, cur.n + 3);
            OK(wb_take(b, k, &r));
            expect_same(r, &cur, k < cur.n ? k : cur.n);
            wb_records_free(r);
            break;
        }
        case 3:
            check_frequencies(b, &cur);
            break;
        case 4:
            check_distinct(b, &cur);
            break;
        case 5:
            check_groupby(b, &cur, xorshift_below(&rng, 4));
            break;
        default:
            check_folds(b, &cur);
            break;
        }
        wb_free(b);
        strs_free(&cur);
        strs_free(&items);
    }
}

static void test_random_threads(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    random_bags(rt, 0xba9, scaled(300));
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

static void test_random_processes(void **state)
{
    (void)state;
    weft_options o;
    weft_options_init(&o);
    o.executor = WEFT_EXEC_PROCESS;
    weft_runtime *rt = start_runtime_opts(&o);
    random_bags(rt, 0x5eed, scaled(40));
    weft_shutdown(rt);
}

static void test_errors(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    const char *items[] = {"a", "b", "boom", "c"};
    wb_bag *b;
    OK(wb_from_sequence(rt, items, 4, 2, &b));
    /* unknown names are refused when the bag is built */
    assert_null(wb_map(b, "nope", NULL, 0));
    assert_err(WEFT_ENOFUNC, WEFT_ENOFUNC, "no map function 'nope'");
    assert_null(wb_filter(b, "t_rev", NULL, 0));
    assert_null(wb_fold(b, "t_rev", NULL, NULL, 0, NULL));
    assert_null(wb_map(NULL, "t_rev", NULL, 0));
    /* a map emitting two records */
    wb_bag *m = wb_map(b, "t_two", NULL, 0);
    wb_records *r;
    assert_err(wb_compute(m, &r), WEFT_ETASK, "emitted 2 records for one");
    wb_free(m);
    /* a failing function, its message and the node */
    m = wb_map(b, "t_bad", NULL, 0);
    wb_bag *c = wb_map(m, "t_rev", NULL, 0);
    assert_err(wb_compute(c, &r), WEFT_ETASK, "t_bad failed on record 0");
    assert_err(wb_count(c, &(int64_t){0}), WEFT_ETASK, "found boom");
    /* take computes only the partitions it needs: "boom" is in the second */
    OK(wb_take(c, 2, &r));
    assert_int_equal(r->n, 2);
    assert_string_equal(r->recs[1].data, "b");
    wb_records_free(r);
    wb_free(c);
    wb_free(m);
    /* flatten of a text record */
    m = wb_flatten(b);
    assert_err(wb_compute(m, &r), WEFT_ETASK, "not a JSON array");
    wb_free(m);
    /* pluck of a missing key */
    wb_rec js[2] = {{WB_JSON, "{\"k\":1}", 7, 0}, {WB_JSON, "{\"j\":2}", 7, 0}};
    wb_bag *jb;
    OK(wb_from_records(rt, js, 2, 1, &jb));
    m = wb_map(jb, "wb.pluck", "k", 1);
    assert_err(wb_compute(m, &r), WEFT_ETASK, "no key 'k'");
    wb_free(m);
    wb_free(jb);
    wb_rec bad = {WB_JSON, "{nope", 5, 0};
    assert_err(wb_from_records(rt, &bad, 1, 1, &jb), WEFT_EINVAL,
               "record 0 is not JSON");
    assert_err(wb_to_textfiles(b, "/tmp/no-star.txt", NULL), WEFT_EINVAL,
               "exactly one '*'");
    wb_free(b);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

/* Actions repeated on one bag (which reuse its nodes) agree. */
static void test_repeat(void **state)
{
    (void)state;
    weft_runtime *rt = start_runtime(2);
    char buf[100][8];
    const char *items[100];
    for (int i = 0; i < 100; i++) {
        snprintf(buf[i], sizeof buf[i], "w%d", i % 7);
        items[i] = buf[i];
    }
    wb_bag *b, *m;
    OK(wb_from_sequence(rt, items, 100, 8, &b));
    m = wb_map(b, "t_rev", NULL, 0);
    for (int round = 0; round < 3; round++) {
        wb_records *r, *t;
        int64_t n;
        OK(wb_take(m, 20, &t));
        OK(wb_compute(m, &r));
        OK(wb_count(m, &n));
        assert_int_equal(n, 100);
        assert_int_equal(r->n, 100);
        assert_int_equal(t->n, 20);
        for (size_t i = 0; i < 100; i++) {
            char want[8];
            snprintf(want, sizeof want, "%d%s", (int)(i % 7), "w");
            assert_string_equal(r->recs[i].data, want);
            if (i < 20)
                assert_string_equal(t->recs[i].data, want);
        }
        wb_records_free(r);
        wb_records_free(t);
    }
    wb_free(m);
    wb_free(b);
    assert_int_equal(objects_settled(rt), 0);
    weft_shutdown(rt);
}

int main(void)
{
    weft_worker_check(); /* worker processes serve tasks from here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_threads),
        cmocka_unit_test(test_random_processes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_repeat),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (dir[0]) {
        char path[128];
        snprintf(path, sizeof path, "%s/items.txt", dir);
        unlink(path);
        rmdir(dir);
    }
    return failed;
}
