/* Built-in record functions, registered under "wb.*" names like a user's
 * (see docs/bags.md for the list). */
#include "bag/bag_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

static bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* is_space as a table, for the splitting loops. */
static const bool space_table[256] = {
    [' '] = true,  ['\t'] = true, ['\n'] = true,
    ['\v'] = true, ['\f'] = true, ['\r'] = true,
};

/* A byte of a word for wb.words: ASCII letters and digits, apostrophes,
 * and every byte of a multi-byte UTF-8 character. */
static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

/* The whitespace-separated pieces of r, each copied with a NUL into
 * scratch and passed to cb. */
static weft_err split_pieces(const wb_rec *r, wb_buf *scratch, wb_piece_fn cb,
                             void *ctx)
{
    const unsigned char *s = (const unsigned char *)r->data;
    size_t n = r->len, i = 0;
    weft_err e = 0;
    while (i < n && !e) {
        while (i < n && space_table[s[i]])
            i++;
        size_t b = i;
        while (i < n && !space_table[s[i]])
            i++;
        if (i == b)
            continue;
        if (!wb_buf_reserve(scratch, i - b + 1))
            return WEFT_ENOMEM;
        memcpy(scratch->p, s + b, i - b);
        scratch->p[i - b] = '\0';
        e = cb(ctx, (const char *)scratch->p, i - b);
    }
    return e;
}

/* The words of r (see wb.words), lowercased into scratch, passed to cb. */
static weft_err word_pieces(const wb_rec *r, wb_buf *scratch, wb_piece_fn cb,
                            void *ctx)
{
    const unsigned char *s = (const unsigned char *)r->data;
    size_t n = r->len, i = 0;
    weft_err e = 0;
    while (i < n && !e) {
        while (i < n && !is_word(s[i]))
            i++;
        size_t b = i;
        while (i < n && is_word(s[i]))
            i++;
        size_t end = i;
        while (b < end && s[b] == '\'')
            b++;
        while (end > b && s[end - 1] == '\'')
            end--;
        if (end == b)
            continue;
        if (!wb_buf_reserve(scratch, end - b + 1))
            return WEFT_ENOMEM;
        for (size_t k = b; k < end; k++)
            scratch->p[k - b] = s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k];
        scratch->p[end - b] = '\0';
        e = cb(ctx, (const char *)scratch->p, end - b);
    }
    return e;
}

/* A piece as a text record of o. */
static weft_err emit_piece(void *ctx, const char *w, size_t n)
{
    return wb_emit_text(ctx, w, n);
}

/* wb.split (flat): the whitespace-separated pieces of a text record. */
static weft_err wb_split(const wb_rec *r, wb_out *o, const void *arg,
                         size_t arglen)
{
    wb_buf scratch = {0};
    weft_err e = split_pieces(r, &scratch, emit_piece, o);
    free(scratch.p);
    return e;
}

/* wb.words (flat): lowercase words of a text record, punctuation
 * stripped: runs of is_word bytes without leading or trailing '. */
static weft_err wb_words(const wb_rec *r, wb_out *o, const void *arg,
                         size_t arglen)
{
    wb_buf scratch = {0};
    weft_err e = word_pieces(r, &scratch, emit_piece, o);
    free(scratch.p);
    return e;
}

wb_splitter wb_splitter_of(const void *fn)
{
    return fn == (const void *)wb_split   ? split_pieces
           : fn == (const void *)wb_words ? word_pieces
                                          : NULL;
}

/* wb.lower: text with ASCII letters lowercased. */
static weft_err wb_lower(const wb_rec *r, wb_out *o, const void *arg,
                         size_t arglen)
{
    if (r->kind != WB_TEXT)
        return wb_out_fail(o, "wb.lower: not a text record");
    size_t at = o->buf.len + WB_HDR;
    weft_err e = wb_emit(o, r);
    for (size_t i = 0; !e && i < r->len; i++) {
        uint8_t *c = &o->buf.p[at + i];
        if (*c >= 'A' && *c <= 'Z')
            *c += 32;
    }
    return e;
}

/* wb.strip: text without leading and trailing whitespace. */
static weft_err wb_strip(const wb_rec *r, wb_out *o, const void *arg,
                         size_t arglen)
{
    if (r->kind != WB_TEXT)
        return wb_out_fail(o, "wb.strip: not a text record");
    size_t b = 0, e = r->len;
    while (b < e && is_space((unsigned char)r->data[b]))
        b++;
    while (e > b && is_space((unsigned char)r->data[e - 1]))
        e--;
    return wb_emit_text(o, r->data + b, e - b);
}

/* wb.pluck: field arg (the key's bytes) of a JSON object record; strings
 * come out as text records, other values as JSON records. */
static weft_err wb_pluck(const wb_rec *r, wb_out *o, const void *arg,
                         size_t arglen)
{
    json_t *j = NULL;
    if (r->kind == WB_JSON)
        j = json_loadb(r->data, r->len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return wb_out_fail(o, "wb.pluck: not a JSON object: %.60s", r->data);
    }
    char key[256];
    if (arglen >= sizeof key) {
        json_decref(j);
        return wb_out_fail(o, "wb.pluck: key of %zu bytes", arglen);
    }
    memcpy(key, arg, arglen);
    key[arglen] = '\0';
    json_t *v = json_object_get(j, key);
    weft_err e;
    if (!v)
        e = wb_out_fail(o, "wb.pluck: no key '%s' in %.60s", key, r->data);
    else if (json_is_string(v))
        e = wb_emit_text(o, json_string_value(v), json_string_length(v));
    else
        e = wb_emit_json(o, v);
    json_decref(j);
    return e;
}

/* wb.nonempty: records of at least one byte. */
static bool wb_nonempty(const wb_rec *r, const void *arg, size_t arglen)
{
    return r->len > 0;
}

/* wb.contains: records whose bytes contain arg. */
static bool wb_contains(const wb_rec *r, const void *arg, size_t arglen)
{
    return arglen == 0 || memmem(r->data, r->len, arg, arglen) != NULL;
}

/* The integer a record holds: a count's n, or its text as a decimal. */
static bool rec_int(const wb_rec *r, int64_t *v)
{
    if (r->kind == WB_COUNT) {
        *v = r->n;
        return true;
    }
    char *end;
    errno = 0;
    long long x = strtoll(r->data, &end, 10);
    if (errno || end == r->data || end != r->data + r->len)
        return false;
    *v = x;
    return true;
}

/* wb.add (fold): the sum of two integer records, as a JSON number. */
static weft_err wb_add(const wb_rec *acc, const wb_rec *x, wb_out *o,
                       const void *arg, size_t arglen)
{
    int64_t a, b, s;
    if (!rec_int(acc, &a) || !rec_int(x, &b))
        return wb_out_fail(o, "wb.add: not an integer: %.40s",
                           rec_int(acc, &a) ? x->data : acc->data);
    if (__builtin_add_overflow(a, b, &s))
        return wb_out_fail(o, "wb.add: the sum overflows");
    char num[32];
    int k = snprintf(num, sizeof num, "%lld", (long long)s);
    if (!wb_put_rec(&o->buf, WB_JSON, num, (size_t)k, 0))
        return WEFT_ENOMEM;
    o->emitted++;
    return 0;
}

__attribute__((constructor)) static void wb_register_builtins(void)
{
    (void)wb_register_map("wb.split", wb_split);
    (void)wb_register_map("wb.words", wb_words);
    (void)wb_register_map("wb.lower", wb_lower);
    (void)wb_register_map("wb.strip", wb_strip);
    (void)wb_register_map("wb.pluck", wb_pluck);
    (void)wb_register_filter("wb.nonempty", wb_nonempty);
    (void)wb_register_filter("wb.contains", wb_contains);
    (void)wb_register_fold("wb.add", wb_add);
}

void wb_builtins_link(void)
{
}
