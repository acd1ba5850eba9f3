/* Internals of the CSV reader shared by the planner (csv.c) and the
 * partition parser (csv_parse.c): the general row tokeniser, file access
 * and error formatting. Not for use outside src/dataframe/csv*.c. */
#ifndef WF_DATAFRAME_CSV_INT_H
#define WF_DATAFRAME_CSV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataframe/csv.h"

/* One field of a tokenised row: bytes buf[off .. off + len) of the
 * tokeniser (quotes removed, doubled quotes undoubled, NUL after). */
typedef struct csv_span {
    size_t off, len;
    bool quoted;
} csv_span;

/* The tokeniser's scratch space, reused row after row. */
typedef struct csv_tok {
    csv_span *f;
    size_t nf, fcap;
    char *buf; /* field bytes; CSV_PAD bytes of room after blen */
    size_t blen, bcap;
    size_t quote_field; /* UNTERMINATED: the field whose quote is open */
} csv_tok;

enum csv_row {
    CSV_ROW_OK,           /* a row: t->nf fields */
    CSV_ROW_BLANK,        /* an empty line (skipped) */
    CSV_ROW_MORE,         /* the row runs past end and !eof: need more bytes */
    CSV_ROW_UNTERMINATED, /* eof inside a quoted field */
    CSV_ROW_NOMEM,
};

/* Split the row starting at p (p < end, or p == end only when eof) into
 * fields. end must be followed by CSV_PAD readable bytes. eof: no bytes
 * follow end in the file. On OK or BLANK, *next is the start of the next
 * row. quote 0 turns quoting off. */
int csv_tokenize(csv_tok *t, const char *p, const char *end, bool eof,
                 char delim, char quote, const char **next);
void csv_tok_free(csv_tok *t);

/* Open path for reading; its size in *size. WEFT_EIO with a message
 * ("cannot open F: strerror") on failure. */
weft_err csv_open(const char *path, int *fd, uint64_t *size, char *err,
                  size_t errlen);

/* Read up to n bytes at off, retrying short reads; bytes read or -1. */
long long csv_pread_full(int fd, char *buf, size_t n, uint64_t off);

/* 1-based line number of byte off of the file (counts newlines before
 * it); 0 if the file cannot be read. */
uint64_t csv_line_of(int fd, uint64_t off);

/* snprintf into err[errlen] (err may be NULL). */
void csv_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Up to max bytes of s[0..n) quoted for a message, into out[outlen]. */
void csv_quote_text(const char *s, size_t n, char *out, size_t outlen);

/* Convert the decimal text s[0..n) (already checked by csv_f64_prefix)
 * with strtod. */
double csv_strtod(const char *s, size_t n);

#endif
