/* Dataframe expressions: parser, type checker and vectorised evaluator
 * (see expr.h). */
#include "dataframe/expr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind {
    N_INT,
    N_FLT,
    N_STR,
    N_BOOL,
    N_NULL,
    N_COL,
    N_NEG,
    N_NOT,
    N_BIN,
    N_CALL,
    N_IN
};
enum op {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FDIV,
    OP_MOD,
    OP_POW,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_AND,
    OP_OR
};
enum fn {
    F_ABS,
    F_SQRT,
    F_EXP,
    F_LOG,
    F_LOG10,
    F_FLOOR,
    F_CEIL,
    F_ROUND,
    F_ISNULL,
    F_NOTNULL
};

static const char *const op_text[] = {"+",  "-",  "*",  "/",   "//",
                                      "%",  "**", "==", "!=",  "<",
                                      "<=", ">",  ">=", "and", "or"};
static const char *const fn_name[] = {"abs",    "sqrt",   "exp",  "log",
                                      "log10",  "floor",  "ceil", "round",
                                      "isnull", "notnull"};
#define NFN (sizeof fn_name / sizeof fn_name[0])

typedef struct node {
    int kind, op, pos; /* pos: 1-based column in the source */
    int a, b, c;       /* children (-1: none); IN: a = operand */
    bool negate;       /* IN: `not in` */
    int64_t i;         /* INT (also a date/timestamp literal), BOOL */
    double f;          /* FLT */
    char *s;           /* STR (owned), COL name (owned) */
    size_t slen;
    int *items; /* IN: literal nodes */
    int nitems;
    wf_coltype type; /* after bind */
} node;

struct wf_expr {
    node *n;
    int nn, cap, root;
    char *src;
    char *target;
};

/* ------------------------------------------------------------ errors */

/* "what (column N)" then the source and a caret under column N. */
__attribute__((format(printf, 5, 6))) static weft_err
fail(const char *src, int pos, char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return WEFT_EINVAL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int width = pos > 0 ? pos - 1 : 0;
    snprintf(err, errlen, "%s (column %d)\n  %s\n  %*s^", msg, pos, src, width,
             "");
    return WEFT_EINVAL;
}

/* ------------------------------------------------------------ nodes */

static int new_node(wf_expr *e, int kind, int pos)
{
    if (e->nn == e->cap) {
        int cap = e->cap ? e->cap * 2 : 16;
        node *n = realloc(e->n, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        e->n = n;
        e->cap = cap;
    }
    node *x = &e->n[e->nn];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->pos = pos;
    x->a = x->b = x->c = -1;
    return e->nn++;
}

void wf_expr_free(wf_expr *e)
{
    if (!e)
        return;
    for (int k = 0; k < e->nn; k++) {
        free(e->n[k].s);
        free(e->n[k].items);
    }
    free(e->n);
    free(e->src);
    free(e->target);
    free(e);
}

/* ------------------------------------------------------------ lexer */

enum tok {
    T_EOF,
    T_NUM,
    T_STR,
    T_ID,
    T_OP,
    T_LPAR,
    T_RPAR,
    T_LBR,
    T_RBR,
    T_COMMA,
    T_ASSIGN,
    T_BAD
};

typedef struct parser {
    const char *s;
    size_t i;      /* next byte */
    enum tok t;    /* current token */
    size_t ts, te; /* its bytes [ts, te) */
    wf_expr *e;
    char *err;
    size_t errlen;
    weft_err e_code;
} parser;

static int col_of(const parser *p, size_t at)
{
    return (int)at + 1;
}

static bool is_id0(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_id(char c)
{
    return is_id0(c) || (c >= '0' && c <= '9');
}

static void next(parser *p)
{
    const char *s = p->s;
    size_t i = p->i;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    p->ts = i;
    char c = s[i];
    if (!c) {
        p->t = T_EOF;
    } else if ((c >= '0' && c <= '9') ||
               (c == '.' && s[i + 1] >= '0' && s[i + 1] <= '9')) {
        while ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')
            i++;
        if (s[i] == 'e' || s[i] == 'E') {
            size_t j = i + 1;
            if (s[j] == '+' || s[j] == '-')
                j++;
            if (s[j] >= '0' && s[j] <= '9') {
                i = j;
                while (s[i] >= '0' && s[i] <= '9')
                    i++;
            }
        }
        p->t = T_NUM;
    } else if (c == '\'' || c == '"') {
        i++;
        while (s[i] && s[i] != c)
            i += s[i] == '\\' && s[i + 1] ? 2 : 1;
        p->t = s[i] ? T_STR : T_BAD;
        if (s[i])
            i++;
    } else if (c == '`') {
        i++;
        while (s[i] && s[i] != '`')
            i++;
        p->t = s[i] && i > p->ts + 1 ? T_ID : T_BAD;
        if (s[i])
            i++;
    } else if (is_id0(c)) {
        while (is_id(s[i]))
            i++;
        p->t = T_ID;
    } else {
        i++;
        p->t = T_OP;
        switch (c) {
        case '(':
            p->t = T_LPAR;
            break;
        case ')':
            p->t = T_RPAR;
            break;
        case '[':
            p->t = T_LBR;
            break;
        case ']':
            p->t = T_RBR;
            break;
        case ',':
            p->t = T_COMMA;
            break;
        case '=':
            if (s[i] == '=')
                i++;
            else
                p->t = T_ASSIGN;
            break;
        case '*':
        case '/':
            if (s[i] == c)
                i++;
            break;
        case '<':
        case '>':
            if (s[i] == '=')
                i++;
            break;
        case '!':
            if (s[i] == '=')
                i++;
            else
                p->t = T_BAD;
            break;
        case '+':
        case '-':
        case '%':
        case '&':
        case '|':
        case '~':
            break;
        default:
            p->t = T_BAD;
        }
    }
    p->i = i;
    p->te = i;
}

static bool tok_is(const parser *p, enum tok t, const char *text)
{
    if (p->t != t)
        return false;
    size_t n = strlen(text);
    return p->te - p->ts == n && memcmp(p->s + p->ts, text, n) == 0;
}

static void describe_tok(const parser *p, char *out, size_t cap)
{
    if (p->t == T_EOF)
        snprintf(out, cap, "the end");
    else
        snprintf(out, cap, "'%.*s'", (int)(p->te - p->ts), p->s + p->ts);
}

static int perr(parser *p, size_t at, const char *fmt, const char *arg)
{
    if (!p->e_code) {
        char msg[256];
        snprintf(msg, sizeof msg, fmt, arg);
        p->e_code = fail(p->s, col_of(p, at), p->err, p->errlen, "%s", msg);
    }
    return -1;
}

static int oom(parser *p)
{
    if (!p->e_code) {
        p->e_code = WEFT_ENOMEM;
        if (p->err && p->errlen)
            snprintf(p->err, p->errlen, "out of memory");
    }
    return -1;
}

static int parse_or(parser *p);

static int expect_expr(parser *p, const char *after, size_t at)
{
    (void)at;
    char what[64];
    describe_tok(p, what, sizeof what);
    char msg[160];
    snprintf(msg, sizeof msg, "expected an expression after %s, found %s",
             after, what);
    return perr(p, p->ts, "%s", msg);
}

/* A literal or a column: the atoms. */
static int parse_atom(parser *p, const char *after)
{
    wf_expr *e = p->e;
    size_t at = p->ts;
    const char *s = p->s;
    int k;
    switch (p->t) {
    case T_NUM: {
        char buf[64];
        size_t n = p->te - p->ts;
        if (n >= sizeof buf)
            return perr(p, at, "%s", "number too long");
        memcpy(buf, s + at, n);
        buf[n] = '\0';
        bool flt = strpbrk(buf, ".eE") != NULL;
        char *end;
        if ((k = new_node(e, flt ? N_FLT : N_INT, col_of(p, at))) < 0)
            return oom(p);
        if (flt) {
            e->n[k].f = strtod(buf, &end);
        } else {
            errno = 0;
            e->n[k].i = strtoll(buf, &end, 10);
            if (errno)
                return perr(p, at, "%s", "integer out of range for int64");
        }
        if (*end)
            return perr(p, at, "bad number '%s'", buf);
        next(p);
        return k;
    }
    case T_STR: {
        if ((k = new_node(e, N_STR, col_of(p, at))) < 0)
            return oom(p);
        char *out = malloc(p->te - p->ts);
        if (!out)
            return oom(p);
        size_t n = 0;
        for (size_t i = p->ts + 1; i < p->te - 1; i++) {
            if (s[i] == '\\' && i + 1 < p->te - 1)
                i++;
            out[n++] = s[i];
        }
        e->n[k].s = out;
        e->n[k].slen = n;
        next(p);
        return k;
    }
    case T_ID: {
        size_t n = p->te - p->ts;
        const char *name = s + at;
        bool quoted = *name == '`';
        if (quoted) {
            name++;
            n -= 2;
        }
        if (!quoted && n == 4 && memcmp(name, "True", 4) == 0) {
            k = new_node(e, N_BOOL, col_of(p, at));
            if (k >= 0)
                e->n[k].i = 1;
        } else if (!quoted && n == 5 && memcmp(name, "False", 5) == 0) {
            k = new_node(e, N_BOOL, col_of(p, at));
        } else if (!quoted && ((n == 4 && memcmp(name, "None", 4) == 0) ||
                               (n == 4 && memcmp(name, "null", 4) == 0))) {
            k = new_node(e, N_NULL, col_of(p, at));
        } else if (!quoted && ((n == 3 && (memcmp(name, "and", 3) == 0 ||
                                           memcmp(name, "not", 3) == 0)) ||
                               (n == 2 && (memcmp(name, "or", 2) == 0 ||
                                           memcmp(name, "in", 2) == 0)))) {
            return expect_expr(p, after, at);
        } else {
            next(p);
            if (!quoted && p->t == T_LPAR) { /* a function call */
                unsigned f = 0;
                while (f < NFN && !(strlen(fn_name[f]) == n &&
                                    memcmp(fn_name[f], name, n) == 0))
                    f++;
                if (f == NFN) {
                    char nm[80];
                    snprintf(nm, sizeof nm, "%.*s", (int)(n > 64 ? 64 : n),
                             name);
                    return perr(p, at,
                                "unknown function '%s' (there are abs, sqrt, "
                                "exp, log, log10, floor, ceil, round, isnull, "
                                "notnull)",
                                nm);
                }
                if ((k = new_node(e, N_CALL, col_of(p, at))) < 0)
                    return oom(p);
                e->n[k].op = (int)f;
                next(p);
                int a = parse_or(p);
                if (a < 0)
                    return -1;
                e->n[k].a = a;
                if (p->t == T_COMMA && f == F_ROUND) {
                    next(p);
                    size_t dat = p->ts;
                    int d = parse_or(p);
                    if (d < 0)
                        return -1;
                    if (e->n[d].kind != N_INT)
                        return perr(p, dat, "%s",
                                    "round's digits must be an integer");
                    e->n[k].b = d;
                }
                if (p->t != T_RPAR)
                    return perr(p, p->ts, "%s", "expected ')'");
                next(p);
                return k;
            }
            if ((k = new_node(e, N_COL, col_of(p, at))) < 0 ||
                !(e->n[k].s = strndup(name, n)))
                return oom(p);
            e->n[k].slen = n;
            return k;
        }
        if (k < 0)
            return oom(p);
        next(p);
        return k;
    }
    case T_LPAR: {
        next(p);
        int k2 = parse_or(p);
        if (k2 < 0)
            return -1;
        if (p->t != T_RPAR)
            return perr(p, p->ts, "%s", "expected ')' to close '('");
        next(p);
        return k2;
    }
    case T_BAD:
        return perr(p, at, "%s",
                    p->s[at] == '\'' || p->s[at] == '"' || p->s[at] == '`'
                        ? "unterminated quote"
                        : "unexpected character");
    default:
        return expect_expr(p, after, at);
    }
}

static int parse_unary(parser *p, const char *after);

/* atom [** unary] */
static int parse_pow(parser *p, const char *after)
{
    int a = parse_atom(p, after);
    if (a < 0 || !tok_is(p, T_OP, "**"))
        return a;
    int k = new_node(p->e, N_BIN, col_of(p, p->ts));
    if (k < 0)
        return oom(p);
    next(p);
    int b = parse_unary(p, "'**'");
    if (b < 0)
        return -1;
    p->e->n[k].op = OP_POW;
    p->e->n[k].a = a;
    p->e->n[k].b = b;
    return k;
}

static int parse_unary(parser *p, const char *after)
{
    if (tok_is(p, T_OP, "-") || tok_is(p, T_OP, "+")) {
        bool neg = p->s[p->ts] == '-';
        int k = new_node(p->e, N_NEG, col_of(p, p->ts));
        if (k < 0)
            return oom(p);
        next(p);
        int a = parse_unary(p, neg ? "'-'" : "'+'");
        if (a < 0)
            return -1;
        if (!neg)
            return a;
        p->e->n[k].a = a;
        return k;
    }
    return parse_pow(p, after);
}

static int binary(parser *p, int op, int a, size_t at,
                  int (*sub)(parser *, const char *))
{
    char after[16];
    snprintf(after, sizeof after, "'%s'", op_text[op]);
    int k = new_node(p->e, N_BIN, col_of(p, at));
    if (k < 0)
        return oom(p);
    int b = sub(p, after);
    if (b < 0)
        return -1;
    p->e->n[k].op = op;
    p->e->n[k].a = a;
    p->e->n[k].b = b;
    return k;
}

static int parse_mul(parser *p, const char *after)
{
    int a = parse_unary(p, after);
    while (a >= 0 && p->t == T_OP) {
        int op = tok_is(p, T_OP, "*")    ? OP_MUL
                 : tok_is(p, T_OP, "/")  ? OP_DIV
                 : tok_is(p, T_OP, "//") ? OP_FDIV
                 : tok_is(p, T_OP, "%")  ? OP_MOD
                                         : -1;
        if (op < 0)
            break;
        size_t at = p->ts;
        next(p);
        a = binary(p, op, a, at, parse_unary);
    }
    return a;
}

static int parse_add(parser *p, const char *after)
{
    int a = parse_mul(p, after);
    while (a >= 0 && (tok_is(p, T_OP, "+") || tok_is(p, T_OP, "-"))) {
        int op = p->s[p->ts] == '+' ? OP_ADD : OP_SUB;
        size_t at = p->ts;
        next(p);
        a = binary(p, op, a, at, parse_mul);
    }
    return a;
}

static int cmp_op(const parser *p)
{
    static const char *const t[] = {"==", "!=", "<", "<=", ">", ">="};
    for (int k = 0; k < 6; k++)
        if (tok_is(p, T_OP, t[k]))
            return OP_EQ + k;
    return -1;
}

/* x in [lit, ...] / x not in [...] */
static int parse_in(parser *p, int a, bool negate, size_t at)
{
    wf_expr *e = p->e;
    int k = new_node(e, N_IN, col_of(p, at));
    if (k < 0)
        return oom(p);
    e->n[k].a = a;
    e->n[k].negate = negate;
    if (p->t != T_LBR)
        return perr(p, p->ts, "%s", "expected '[' and a list after 'in'");
    next(p);
    while (p->t != T_RBR) {
        size_t lat = p->ts;
        int it = parse_unary(p, "'['");
        if (it < 0)
            return -1;
        node *x = &e->n[it];
        if (x->kind == N_NEG &&
            (e->n[x->a].kind == N_INT || e->n[x->a].kind == N_FLT)) {
            e->n[x->a].i = -e->n[x->a].i;
            e->n[x->a].f = -e->n[x->a].f;
            it = x->a;
            x = &e->n[it];
        }
        if (x->kind != N_INT && x->kind != N_FLT && x->kind != N_STR &&
            x->kind != N_BOOL)
            return perr(p, lat, "%s", "an 'in' list holds literals only");
        int *items = realloc(e->n[k].items,
                             (size_t)(e->n[k].nitems + 1) * sizeof *items);
        if (!items)
            return oom(p);
        items[e->n[k].nitems++] = it;
        e->n[k].items = items;
        if (p->t == T_COMMA)
            next(p);
        else if (p->t != T_RBR)
            return perr(p, p->ts, "%s", "expected ',' or ']' in the list");
    }
    next(p);
    return k;
}

static int parse_cmp(parser *p, const char *after)
{
    int a = parse_add(p, after);
    int result = a, prev = a;
    while (prev >= 0) {
        size_t at = p->ts;
        int op = cmp_op(p);
        int k;
        if (op >= 0) {
            next(p);
            k = binary(p, op, prev, at, parse_add);
        } else if (tok_is(p, T_ID, "in")) {
            next(p);
            k = parse_in(p, prev, false, at);
        } else if (tok_is(p, T_ID, "not")) {
            size_t save_i = p->i;
            next(p);
            if (!tok_is(p, T_ID, "in")) { /* not ours: put it back */
                p->i = save_i;
                p->ts = at;
                p->te = save_i;
                p->t = T_ID;
                break;
            }
            next(p);
            k = parse_in(p, prev, true, at);
        } else {
            break;
        }
        if (k < 0)
            return -1;
        if (result == prev) {
            result = k;
        } else { /* chained: result and k */
            int and = new_node(p->e, N_BIN, col_of(p, at));
            if (and < 0)
                return oom(p);
            p->e->n[and].op = OP_AND;
            p->e->n[and].a = result;
            p->e->n[and].b = k;
            result = and;
        }
        prev = p->e->n[k].kind == N_BIN ? p->e->n[k].b : -1;
    }
    return prev < 0 && result < 0 ? -1 : result;
}

static int parse_not(parser *p, const char *after)
{
    if (tok_is(p, T_ID, "not") || tok_is(p, T_OP, "~")) {
        int k = new_node(p->e, N_NOT, col_of(p, p->ts));
        if (k < 0)
            return oom(p);
        const char *what = p->s[p->ts] == '~' ? "'~'" : "'not'";
        next(p);
        int a = parse_not(p, what);
        if (a < 0)
            return -1;
        p->e->n[k].a = a;
        return k;
    }
    return parse_cmp(p, after);
}

static int parse_and(parser *p, const char *after)
{
    int a = parse_not(p, after);
    while (a >= 0 && (tok_is(p, T_ID, "and") || tok_is(p, T_OP, "&"))) {
        size_t at = p->ts;
        next(p);
        a = binary(p, OP_AND, a, at, parse_not);
    }
    return a;
}

static int parse_or(parser *p)
{
    int a = parse_and(p, "the start");
    while (a >= 0 && (tok_is(p, T_ID, "or") || tok_is(p, T_OP, "|"))) {
        size_t at = p->ts;
        next(p);
        a = binary(p, OP_OR, a, at, parse_and);
    }
    return a;
}

weft_err wf_expr_parse(const char *src, wf_expr **out, char *err, size_t errlen)
{
    *out = NULL;
    wf_expr *e = calloc(1, sizeof *e);
    if (!e || !(e->src = strdup(src))) {
        free(e);
        return WEFT_ENOMEM;
    }
    parser p = {.s = e->src, .e = e, .err = err, .errlen = errlen};
    next(&p);
    /* NAME = expr (not NAME == expr) */
    if (p.t == T_ID) {
        parser q = p;
        next(&q);
        if (q.t == T_ASSIGN) {
            const char *name = p.s + p.ts;
            size_t n = p.te - p.ts;
            if (*name == '`') {
                name++;
                n -= 2;
            }
            if (!(e->target = strndup(name, n))) {
                wf_expr_free(e);
                return WEFT_ENOMEM;
            }
            next(&q);
            p = q;
        }
    }
    int root = parse_or(&p);
    if (root >= 0 && p.t != T_EOF) {
        char what[64];
        describe_tok(&p, what, sizeof what);
        perr(&p, p.ts,
             p.t == T_BAD ? "unexpected character %s"
                          : "unexpected %s after a complete expression",
             what);
        root = -1;
    }
    if (root < 0) {
        weft_err code = p.e_code ? p.e_code : WEFT_EINVAL;
        wf_expr_free(e);
        return code;
    }
    e->root = root;
    *out = e;
    return WEFT_OK;
}

/* ------------------------------------------------------------ binding */

typedef struct binder {
    wf_expr *e;
    const char *const *names;
    const wf_coltype *types;
    size_t n;
    char *err;
    size_t errlen;
} binder;

static bool numeric(wf_coltype t)
{
    return t == WF_COL_I64 || t == WF_COL_F64 || t == WF_COL_BOOL;
}

static bool temporal(wf_coltype t)
{
    return t == WF_COL_DATE || t == WF_COL_TS;
}

/* 'YYYY-MM-DD[( |T)HH:MM:SS]' as days (date) or microseconds. */
static bool parse_when(const char *s, size_t n, bool ts, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, se = 0, used = 0;
    char buf[40];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (sscanf(buf, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3)
        return false;
    if (buf[used] == ' ' || buf[used] == 'T') {
        int more = 0;
        if (sscanf(buf + used + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &more) != 3)
            return false;
        used += 1 + more;
        if (!ts)
            return false;
    }
    if (buf[used] || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || se > 60)
        return false;
    /* days from civil (Howard Hinnant's algorithm) */
    int yy = y - (mo <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *out =
        ts ? ((days * 24 + h) * 60 + mi) * 60000000ll + se * 1000000ll : days;
    return true;
}

static weft_err bind_node(binder *b, int k);

static weft_err type_err(binder *b, int k, const char *fmt, const char *x,
                         const char *y)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, x, y);
    return fail(b->e->src, b->e->n[k].pos, b->err, b->errlen, "%s", msg);
}

/* A text literal compared with a date/timestamp becomes one. */
static weft_err coerce_when(binder *b, int lit, wf_coltype want, int at)
{
    node *x = &b->e->n[lit];
    int64_t v;
    if (!parse_when(x->s, x->slen, want == WF_COL_TS, &v) &&
        !(want == WF_COL_DATE && parse_when(x->s, x->slen, true, &v) &&
          v % 86400000000ll == 0 && (v /= 86400000000ll, true))) {
        char text[72];
        snprintf(text, sizeof text, "%.*s", (int)(x->slen > 64 ? 64 : x->slen),
                 x->s);
        return type_err(b, at, "'%s' is not a %s (want YYYY-MM-DD)", text,
                        wf_coltype_name(want));
    }
    free(x->s);
    x->s = NULL;
    x->kind = N_INT;
    x->i = v;
    x->type = want;
    return WEFT_OK;
}

static weft_err bind_node(binder *b, int k)
{
    wf_expr *e = b->e;
    node *x = &e->n[k];
    weft_err r;
    switch (x->kind) {
    case N_INT:
        x->type = x->type ? x->type : WF_COL_I64;
        return 0;
    case N_FLT:
        x->type = WF_COL_F64;
        return 0;
    case N_STR:
        x->type = WF_COL_STR;
        return 0;
    case N_BOOL:
        x->type = WF_COL_BOOL;
        return 0;
    case N_NULL:
        x->type = WF_COL_F64; /* NaN, as pandas' None in arithmetic */
        return 0;
    case N_COL: {
        for (size_t i = 0; i < b->n; i++)
            if (strlen(b->names[i]) == x->slen &&
                memcmp(b->names[i], x->s, x->slen) == 0) {
                x->type = b->types[i];
                return 0;
            }
        char have[300] = "";
        size_t used = 0;
        for (size_t i = 0; i < b->n && used + 2 < sizeof have; i++) {
            int w = snprintf(have + used, sizeof have - used, "%s%s",
                             i ? ", " : "", b->names[i]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        if (used >= sizeof have)
            memcpy(have + sizeof have - 4, "...", 4);
        return type_err(b, k, "unknown column '%s' (the columns are: %s)", x->s,
                        have);
    }
    case N_NEG:
        if ((r = bind_node(b, x->a)))
            return r;
        x = &e->n[k];
        if (!numeric(e->n[x->a].type))
            return type_err(b, k, "cannot negate a %s%s",
                            wf_coltype_name(e->n[x->a].type), "");
        x->type = e->n[x->a].type == WF_COL_F64 ? WF_COL_F64 : WF_COL_I64;
        return 0;
    case N_NOT:
        if ((r = bind_node(b, x->a)))
            return r;
        x = &e->n[k];
        if (e->n[x->a].type != WF_COL_BOOL)
            return type_err(b, k, "'not' wants a bool, not a %s%s",
                            wf_coltype_name(e->n[x->a].type), "");
        x->type = WF_COL_BOOL;
        return 0;
    case N_CALL: {
        if ((r = bind_node(b, x->a)))
            return r;
        if (x->b >= 0 && (r = bind_node(b, x->b)))
            return r;
        x = &e->n[k];
        wf_coltype t = e->n[x->a].type;
        if (x->op == F_ISNULL || x->op == F_NOTNULL) {
            x->type = WF_COL_BOOL;
            return 0;
        }
        if (!numeric(t))
            return type_err(b, k, "%s() wants a number, not a %s",
                            fn_name[x->op], wf_coltype_name(t));
        x->type = x->op == F_ABS && t != WF_COL_F64 ? WF_COL_I64 : WF_COL_F64;
        return 0;
    }
    case N_IN: {
        if ((r = bind_node(b, x->a)))
            return r;
        x = &e->n[k];
        wf_coltype t = e->n[x->a].type;
        for (int i = 0; i < x->nitems; i++) {
            int it = x->items[i];
            if ((r = bind_node(b, it)))
                return r;
            wf_coltype u = e->n[it].type;
            if (temporal(t) && u == WF_COL_STR) {
                if ((r = coerce_when(b, it, t, it)))
                    return r;
                continue;
            }
            bool ok = (numeric(t) && numeric(u)) ||
                      (t == WF_COL_STR && u == WF_COL_STR);
            if (!ok)
                return type_err(b, it, "a %s cannot be in a list with a %s",
                                wf_coltype_name(t), wf_coltype_name(u));
        }
        x->type = WF_COL_BOOL;
        return 0;
    }
    case N_BIN:
        break;
    }
    if ((r = bind_node(b, x->a)) || (r = bind_node(b, x->b)))
        return r;
    x = &e->n[k];
    wf_coltype ta = e->n[x->a].type, tb = e->n[x->b].type;
    int op = x->op;
    if (op == OP_AND || op == OP_OR) {
        if (ta != WF_COL_BOOL || tb != WF_COL_BOOL)
            return type_err(b, k, "'%s' wants bools, got a %s and a ...",
                            op_text[op],
                            wf_coltype_name(ta != WF_COL_BOOL ? ta : tb));
        x->type = WF_COL_BOOL;
        return 0;
    }
    if (op >= OP_EQ) {
        if (temporal(ta) && e->n[x->b].kind == N_STR)
            r = coerce_when(b, x->b, ta, x->b), tb = ta;
        else if (temporal(tb) && e->n[x->a].kind == N_STR)
            r = coerce_when(b, x->a, tb, x->a), ta = tb;
        if (r)
            return r;
        x = &e->n[k];
        bool ok = (numeric(ta) && numeric(tb)) ||
                  (ta == WF_COL_STR && tb == WF_COL_STR) ||
                  (temporal(ta) && temporal(tb));
        if (!ok)
            return type_err(b, k, "cannot compare a %s with a %s",
                            wf_coltype_name(ta), wf_coltype_name(tb));
        x->type = WF_COL_BOOL;
        return 0;
    }
    if (!numeric(ta) || !numeric(tb))
        return type_err(b, k, "cannot do arithmetic on a %s and a %s",
                        wf_coltype_name(ta), wf_coltype_name(tb));
    bool flt = ta == WF_COL_F64 || tb == WF_COL_F64 || op == OP_DIV;
    if (op == OP_POW && !flt)
        flt = !(e->n[x->b].kind == N_INT && e->n[x->b].i >= 0);
    x->type = flt ? WF_COL_F64 : WF_COL_I64;
    return 0;
}

weft_err wf_expr_bind(wf_expr *e, const char *const *names,
                      const wf_coltype *types, size_t n, char *err,
                      size_t errlen)
{
    binder b = {e, names, types, n, err, errlen};
    return bind_node(&b, e->root);
}

wf_coltype wf_expr_type(const wf_expr *e)
{
    return e->n[e->root].type;
}

const char *wf_expr_target(const wf_expr *e)
{
    return e->target;
}

size_t wf_expr_columns(const wf_expr *e, const char **names, size_t cap)
{
    size_t count = 0;
    for (int k = 0; k < e->nn; k++) {
        if (e->n[k].kind != N_COL)
            continue;
        bool seen = false;
        for (int j = 0; j < k && !seen; j++)
            seen = e->n[j].kind == N_COL && strcmp(e->n[j].s, e->n[k].s) == 0;
        if (seen)
            continue;
        if (count < cap)
            names[count] = e->n[k].s;
        count++;
    }
    return count;
}

/* ------------------------------------------------------------ evaluation */

/* An operand: a whole column (borrowed from the table or owned), or one
 * value broadcast to every row (scalar). */
typedef struct val {
    wf_column own;
    const wf_column *c;
    bool owned, scalar;
} val;

static void val_free(val *v)
{
    if (v->owned)
        wf_col_free(&v->own);
    v->owned = false;
}

typedef struct evaluator {
    const wf_expr *e;
    const wf_table *t;
    size_t n;
    char *err;
    size_t errlen;
} evaluator;

static weft_err eval_node(evaluator *ev, int k, val *out);

static weft_err val_new(val *v, wf_coltype t, size_t n, bool scalar)
{
    memset(v, 0, sizeof *v);
    weft_err e = wf_col_init(&v->own, t, scalar ? 1 : n);
    if (e)
        return e;
    v->c = &v->own;
    v->owned = true;
    v->scalar = scalar;
    return 0;
}

static bool present(const val *v, size_t i)
{
    return !v->c->valid || v->c->valid[v->scalar ? 0 : i];
}

/* out gets a validity array when a or b has nulls: present in both. */
static weft_err merge_valid(val *out, const val *a, const val *b, size_t n)
{
    if (!a->c->valid && (!b || !b->c->valid))
        return 0;
    weft_err e = wf_col_make_nullable(&out->own);
    if (e)
        return e;
    for (size_t i = 0; i < n; i++)
        out->own.valid[i] = present(a, i) && (!b || present(b, i));
    return 0;
}

/* v converted to int64 or float64 (a new owned column), or itself. */
static weft_err as_num(val *v, wf_coltype t, size_t n)
{
    if (v->c->type == t)
        return 0;
    size_t m = v->scalar ? 1 : n;
    val w;
    weft_err e = val_new(&w, t, n, v->scalar);
    if (!e && v->c->valid)
        e = wf_col_make_nullable(&w.own);
    if (e) {
        val_free(&w);
        return e;
    }
    const wf_column *c = v->c;
    for (size_t i = 0; i < m; i++) {
        double d = c->type == WF_COL_F64    ? c->v.f64[i]
                   : c->type == WF_COL_BOOL ? c->v.b[i]
                                            : (double)c->v.i64[i];
        if (t == WF_COL_F64)
            w.own.v.f64[i] = d;
        else
            w.own.v.i64[i] = c->type == WF_COL_BOOL ? c->v.b[i] : c->v.i64[i];
        if (c->valid)
            w.own.valid[i] = c->valid[i];
    }
    w.own.len = m;
    val_free(v);
    *v = w;
    v->c = &v->own;
    return 0;
}

static int64_t floordiv64(int64_t x, int64_t y)
{
    if (x == INT64_MIN && y == -1)
        return INT64_MIN; /* wraps as numpy does */
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0)))
        q--;
    return q;
}

static int64_t mod64(int64_t x, int64_t y)
{
    if (y == -1)
        return 0;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

static int64_t ipow(int64_t x, int64_t y)
{
    uint64_t r = 1, b = (uint64_t)x;
    while (y > 0) {
        if (y & 1)
            r *= b;
        b *= b;
        y >>= 1;
    }
    return (int64_t)r;
}

static double pymod(double x, double y)
{
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

#define IDX(v, i) ((v)->scalar ? 0 : (i))

static weft_err eval_arith(evaluator *ev, const node *x, val *a, val *b,
                           val *out)
{
    size_t n = ev->n;
    wf_coltype t = x->type;
    weft_err e = as_num(a, t, n);
    if (!e)
        e = as_num(b, t, n);
    bool scalar = a->scalar && b->scalar;
    size_t m = scalar ? 1 : n;
    if (!e)
        e = val_new(out, t, n, scalar);
    if (!e)
        e = merge_valid(out, a, b, m);
    if (e)
        return e;
    wf_column *r = &out->own;
    if (t == WF_COL_F64) {
        const double *p = a->c->v.f64, *q = b->c->v.f64;
        double *o = r->v.f64;
        switch (x->op) {
        case OP_ADD:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] + q[IDX(b, i)];
            break;
        case OP_SUB:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] - q[IDX(b, i)];
            break;
        case OP_MUL:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] * q[IDX(b, i)];
            break;
        case OP_DIV:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] / q[IDX(b, i)];
            break;
        case OP_FDIV:
            for (size_t i = 0; i < m; i++)
                o[i] = floor(p[IDX(a, i)] / q[IDX(b, i)]);
            break;
        case OP_MOD:
            for (size_t i = 0; i < m; i++)
                o[i] = pymod(p[IDX(a, i)], q[IDX(b, i)]);
            break;
        case OP_POW:
            for (size_t i = 0; i < m; i++)
                o[i] = pow(p[IDX(a, i)], q[IDX(b, i)]);
            break;
        }
    } else {
        const int64_t *p = a->c->v.i64, *q = b->c->v.i64;
        int64_t *o = r->v.i64;
        bool zero = false;
        switch (x->op) {
        case OP_ADD:
            for (size_t i = 0; i < m; i++)
                o[i] =
                    (int64_t)((uint64_t)p[IDX(a, i)] + (uint64_t)q[IDX(b, i)]);
            break;
        case OP_SUB:
            for (size_t i = 0; i < m; i++)
                o[i] =
                    (int64_t)((uint64_t)p[IDX(a, i)] - (uint64_t)q[IDX(b, i)]);
            break;
        case OP_MUL:
            for (size_t i = 0; i < m; i++)
                o[i] =
                    (int64_t)((uint64_t)p[IDX(a, i)] * (uint64_t)q[IDX(b, i)]);
            break;
        case OP_FDIV:
        case OP_MOD:
            for (size_t i = 0; i < m; i++) {
                int64_t y = q[IDX(b, i)];
                if (y == 0) {
                    zero = true;
                    o[i] = 0;
                } else {
                    o[i] = x->op == OP_FDIV ? floordiv64(p[IDX(a, i)], y)
                                            : mod64(p[IDX(a, i)], y);
                }
            }
            break;
        case OP_POW:
            for (size_t i = 0; i < m; i++)
                o[i] = ipow(p[IDX(a, i)], q[IDX(b, i)]);
            break;
        }
        if (zero) { /* int // 0 and int % 0 are null */
            if ((e = wf_col_make_nullable(r)))
                return e;
            for (size_t i = 0; i < m; i++)
                if (q[IDX(b, i)] == 0)
                    r->valid[i] = 0;
        }
    }
    r->len = m;
    return 0;
}

static bool cmp_result(int op, int c)
{
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    case OP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

static int str_cmp(const wf_column *a, size_t i, const wf_column *b, size_t j)
{
    size_t n1, n2;
    const char *s1 = wf_col_str(a, i, &n1), *s2 = wf_col_str(b, j, &n2);
    int c = memcmp(s1, s2, n1 < n2 ? n1 : n2);
    return c ? c : (n1 > n2) - (n1 < n2);
}

/* Comparisons: bool, never null (a null operand gives false, != true). */
static weft_err eval_cmp(evaluator *ev, const node *x, val *a, val *b, val *out)
{
    size_t n = ev->n;
    bool scalar = a->scalar && b->scalar;
    size_t m = scalar ? 1 : n;
    wf_coltype ta = a->c->type, tb = b->c->type;
    weft_err e = 0;
    if (temporal(ta) && ta != tb) { /* date vs timestamp: microseconds */
        val *d = ta == WF_COL_DATE ? a : b;
        val w;
        if ((e = val_new(&w, WF_COL_TS, n, d->scalar)))
            return e;
        size_t dm = d->scalar ? 1 : n;
        for (size_t i = 0; i < dm; i++)
            w.own.v.i64[i] = d->c->v.i64[i] * 86400000000ll;
        if (d->c->valid && !(e = wf_col_make_nullable(&w.own)))
            memcpy(w.own.valid, d->c->valid, dm);
        w.own.len = dm;
        val_free(d);
        *d = w;
        d->c = &d->own;
        ta = tb = WF_COL_TS;
    } else if (numeric(ta) && numeric(tb) &&
               (ta != WF_COL_I64 || tb != WF_COL_I64)) {
        if (!(e = as_num(a, WF_COL_F64, n)))
            e = as_num(b, WF_COL_F64, n);
        ta = tb = WF_COL_F64;
    }
    if (e || (e = val_new(out, WF_COL_BOOL, n, scalar)))
        return e;
    uint8_t *o = out->own.v.b;
    int op = x->op;
    if (ta == WF_COL_STR) {
        if (b->scalar && (op == OP_EQ || op == OP_NE)) { /* the common case */
            size_t ln;
            const char *lit = wf_col_str(b->c, 0, &ln);
            const int64_t *offs = a->c->offs;
            for (size_t i = 0; i < m; i++) {
                size_t li = (size_t)(offs[IDX(a, i) + 1] - offs[IDX(a, i)]);
                bool eq = li == ln &&
                          memcmp(a->c->chars + offs[IDX(a, i)], lit, ln) == 0;
                o[i] = (uint8_t)(eq == (op == OP_EQ));
            }
        } else {
            for (size_t i = 0; i < m; i++)
                o[i] =
                    cmp_result(op, str_cmp(a->c, IDX(a, i), b->c, IDX(b, i)));
        }
    } else if (ta == WF_COL_F64) {
        const double *p = a->c->v.f64, *q = b->c->v.f64;
        for (size_t i = 0; i < m; i++) {
            double u = p[IDX(a, i)], w = q[IDX(b, i)];
            o[i] = op == OP_NE
                       ? u != w
                       : cmp_result(op, (u > w) - (u < w)) && u == u && w == w;
        }
    } else if (ta == WF_COL_BOOL) {
        for (size_t i = 0; i < m; i++) {
            int u = a->c->v.b[IDX(a, i)], w = b->c->v.b[IDX(b, i)];
            o[i] = cmp_result(op, (u > w) - (u < w));
        }
    } else {
        const int64_t *p = a->c->v.i64, *q = b->c->v.i64;
        switch (op) {
        case OP_EQ:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] == q[IDX(b, i)];
            break;
        case OP_NE:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] != q[IDX(b, i)];
            break;
        case OP_LT:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] < q[IDX(b, i)];
            break;
        case OP_LE:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] <= q[IDX(b, i)];
            break;
        case OP_GT:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] > q[IDX(b, i)];
            break;
        default:
            for (size_t i = 0; i < m; i++)
                o[i] = p[IDX(a, i)] >= q[IDX(b, i)];
        }
    }
    if (a->c->valid || b->c->valid)
        for (size_t i = 0; i < m; i++)
            if (!present(a, i) || !present(b, i))
                o[i] = op == OP_NE;
    out->own.len = m;
    return 0;
}

static weft_err eval_logic(evaluator *ev, const node *x, val *a, val *b,
                           val *out)
{
    bool scalar = a->scalar && b->scalar;
    size_t m = scalar ? 1 : ev->n;
    weft_err e = val_new(out, WF_COL_BOOL, ev->n, scalar);
    if (e)
        return e;
    uint8_t *o = out->own.v.b;
    const uint8_t *p = a->c->v.b, *q = b->c->v.b;
    for (size_t i = 0; i < m; i++) {
        bool u = p[IDX(a, i)] && present(a, i),
             w = q[IDX(b, i)] && present(b, i);
        o[i] = x->op == OP_AND ? u && w : u || w;
    }
    out->own.len = m;
    return 0;
}

static weft_err eval_in(evaluator *ev, const node *x, val *a, val *out)
{
    const wf_expr *ex = ev->e;
    size_t m = a->scalar ? 1 : ev->n;
    weft_err e = val_new(out, WF_COL_BOOL, ev->n, a->scalar);
    if (e)
        return e;
    uint8_t *o = out->own.v.b;
    const wf_column *c = a->c;
    for (size_t i = 0; i < m; i++) {
        bool hit = false;
        for (int j = 0; j < x->nitems && !hit; j++) {
            const node *it = &ex->n[x->items[j]];
            if (c->type == WF_COL_STR) {
                size_t ln;
                const char *s = wf_col_str(c, i, &ln);
                hit = it->kind == N_STR && it->slen == ln &&
                      memcmp(it->s, s, ln) == 0;
            } else if (temporal(c->type)) {
                hit = c->v.i64[i] == it->i;
            } else {
                double v = c->type == WF_COL_F64    ? c->v.f64[i]
                           : c->type == WF_COL_BOOL ? c->v.b[i]
                                                    : (double)c->v.i64[i];
                double w = it->kind == N_FLT ? it->f : (double)it->i;
                hit = c->type == WF_COL_I64 && it->kind != N_FLT
                          ? c->v.i64[i] == it->i
                          : v == w;
            }
        }
        o[i] = present(a, i) ? hit != x->negate : x->negate;
    }
    out->own.len = m;
    return 0;
}

static weft_err eval_unary(evaluator *ev, const node *x, val *a, val *out)
{
    size_t m = a->scalar ? 1 : ev->n;
    weft_err e;
    if (x->kind == N_CALL && (x->op == F_ISNULL || x->op == F_NOTNULL)) {
        if ((e = val_new(out, WF_COL_BOOL, ev->n, a->scalar)))
            return e;
        for (size_t i = 0; i < m; i++)
            out->own.v.b[i] = present(a, i) == (x->op == F_NOTNULL);
        out->own.len = m;
        return 0;
    }
    if (x->kind == N_NOT) {
        if ((e = val_new(out, WF_COL_BOOL, ev->n, a->scalar)) ||
            (e = merge_valid(out, a, NULL, m)))
            return e;
        for (size_t i = 0; i < m; i++)
            out->own.v.b[i] = !a->c->v.b[i];
        out->own.len = m;
        return 0;
    }
    wf_coltype t = x->type;
    if ((e = as_num(a, t, ev->n)) || (e = val_new(out, t, ev->n, a->scalar)) ||
        (e = merge_valid(out, a, NULL, m)))
        return e;
    if (t == WF_COL_I64) { /* neg or abs */
        const int64_t *p = a->c->v.i64;
        int64_t *o = out->own.v.i64;
        for (size_t i = 0; i < m; i++)
            o[i] = x->kind == N_NEG ? (int64_t)(0 - (uint64_t)p[i])
                   : p[i] < 0       ? (int64_t)(0 - (uint64_t)p[i])
                                    : p[i];
    } else {
        const double *p = a->c->v.f64;
        double *o = out->own.v.f64;
        double scale = 1;
        if (x->kind == N_CALL && x->op == F_ROUND && x->b >= 0)
            scale = pow(10, (double)ev->e->n[x->b].i);
        for (size_t i = 0; i < m; i++) {
            double v = p[i];
            if (x->kind == N_NEG) {
                o[i] = -v;
                continue;
            }
            switch (x->op) {
            case F_ABS:
                o[i] = fabs(v);
                break;
            case F_SQRT:
                o[i] = sqrt(v);
                break;
            case F_EXP:
                o[i] = exp(v);
                break;
            case F_LOG:
                o[i] = log(v);
                break;
            case F_LOG10:
                o[i] = log10(v);
                break;
            case F_FLOOR:
                o[i] = floor(v);
                break;
            case F_CEIL:
                o[i] = ceil(v);
                break;
            default: /* round: halves to even, as numpy */
                o[i] = nearbyint(v * scale) / scale;
            }
        }
    }
    out->own.len = m;
    return 0;
}

static weft_err eval_node(evaluator *ev, int k, val *out)
{
    const node *x = &ev->e->n[k];
    weft_err e = 0;
    memset(out, 0, sizeof *out);
    switch (x->kind) {
    case N_INT:
    case N_FLT:
    case N_BOOL:
    case N_STR:
    case N_NULL:
        if ((e = val_new(out, x->type, 1, true)))
            return e;
        if (x->kind == N_STR)
            e = wf_col_push_str(&out->own, x->s, x->slen);
        else if (x->kind == N_NULL)
            e = wf_col_push_null(&out->own);
        else if (x->kind == N_FLT)
            e = wf_col_push_f64(&out->own, x->f);
        else if (x->kind == N_BOOL)
            e = wf_col_push_bool(&out->own, x->i != 0);
        else
            e = wf_col_push_i64(&out->own, x->i);
        return e;
    case N_COL: {
        long j = wf_table_find(ev->t, x->s);
        if (j < 0 || ev->t->cols[j].type != x->type)
            return fail(ev->e->src, x->pos, ev->err, ev->errlen,
                        j < 0 ? "no column '%s' in this partition"
                              : "column '%s' changed type since the check",
                        x->s);
        out->c = &ev->t->cols[j];
        return 0;
    }
    case N_NEG:
    case N_NOT:
    case N_CALL:
    case N_IN: {
        val a;
        if ((e = eval_node(ev, x->a, &a)))
            return e;
        e = x->kind == N_IN ? eval_in(ev, x, &a, out)
                            : eval_unary(ev, x, &a, out);
        val_free(&a);
        return e;
    }
    default: {
        val a, b;
        if ((e = eval_node(ev, x->a, &a)))
            return e;
        if ((e = eval_node(ev, x->b, &b))) {
            val_free(&a);
            return e;
        }
        if (x->op == OP_AND || x->op == OP_OR)
            e = eval_logic(ev, x, &a, &b, out);
        else if (x->op >= OP_EQ)
            e = eval_cmp(ev, x, &a, &b, out);
        else
            e = eval_arith(ev, x, &a, &b, out);
        val_free(&a);
        val_free(&b);
        return e;
    }
    }
}

weft_err wf_expr_eval(const wf_expr *e, const wf_table *t, wf_column *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    evaluator ev = {e, t, t->nrows, err, errlen};
    val v;
    weft_err r = eval_node(&ev, e->root, &v);
    if (r) {
        if (r == WEFT_ENOMEM && err && errlen)
            snprintf(err, errlen, "out of memory evaluating '%s'", e->src);
        return r;
    }
    if (v.owned && !v.scalar) {
        *out = v.own;
        return 0;
    }
    /* A column as it is, or one value for every row: a copy. */
    r = wf_col_init(out, v.c->type, t->nrows);
    for (size_t i = 0; !r && i < t->nrows; i++) {
        size_t j = v.scalar ? 0 : i;
        if (!wf_col_present(v.c, j)) {
            r = wf_col_push_null(out);
            continue;
        }
        switch (v.c->type) {
        case WF_COL_F64:
            r = wf_col_push_f64(out, v.c->v.f64[j]);
            break;
        case WF_COL_BOOL:
            r = wf_col_push_bool(out, v.c->v.b[j]);
            break;
        case WF_COL_STR: {
            size_t n;
            const char *s = wf_col_str(v.c, j, &n);
            r = wf_col_push_str(out, s, n);
            break;
        }
        default:
            r = wf_col_push_i64(out, v.c->v.i64[j]);
        }
    }
    if (!r)
        out->type = v.c->type;
    val_free(&v);
    if (r)
        wf_col_free(out);
    return r;
}

weft_err wf_expr_filter(const wf_expr *e, const wf_table *t, wf_table *out,
                        char *err, size_t errlen)
{
    wf_table_init(out);
    if (wf_expr_type(e) != WF_COL_BOOL)
        return fail(e->src, 1, err, errlen,
                    "a filter must be true or false, this is a %s",
                    wf_coltype_name(wf_expr_type(e)));
    wf_column keep;
    weft_err r = wf_expr_eval(e, t, &keep, err, errlen);
    if (r)
        return r;
    if (keep.valid) /* null: not kept */
        for (size_t i = 0; i < keep.len; i++)
            keep.v.b[i] &= keep.valid[i];
    for (size_t j = 0; !r && j < t->ncols; j++) {
        wf_column c;
        r = wf_col_filter(&t->cols[j], keep.v.b, &c);
        if (!r && (r = wf_table_add(out, t->names[j], &c)))
            wf_col_free(&c);
    }
    wf_col_free(&keep);
    if (r)
        wf_table_free(out);
    return r;
}
