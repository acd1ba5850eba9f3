/* Expressions built with C functions (weft/dataframe.h): each returns the
 * expression's text in the syntax wd_filter and wd_eval parse, with
 * column names in backticks and text literals quoted and escaped, so
 * values from a program never need quoting by hand. */
#include <weft/dataframe.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/df_int.h"

static const char *keep(wd_ctx *ctx, char *s)
{
    return wd_ctx_keep(ctx, s);
}

static char *dup_printf(const char *fmt, const char *a, const char *b,
                        const char *c)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b, c);
    return s;
}

const char *wd_col(wd_ctx *ctx, const char *name)
{
    if (!ctx || !name)
        return NULL;
    if (!*name || strchr(name, '`')) {
        wd_ctx_fail(ctx, "wd_col: a column name is not empty and holds no "
                         "backtick");
        return NULL;
    }
    return keep(ctx, dup_printf("`%s`%s%s", name, "", ""));
}

const char *wd_int(wd_ctx *ctx, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return ctx ? keep(ctx, strdup(buf)) : NULL;
}

const char *wd_num(wd_ctx *ctx, double v)
{
    char buf[40];
    if (v != v || v - v != 0) { /* nan, inf: no literal for them */
        if (ctx)
            wd_ctx_fail(ctx, "wd_num: a finite number");
        return NULL;
    }
    snprintf(buf, sizeof buf, "%.17g", v);
    if (!strpbrk(buf, ".eE")) /* a float literal stays a float */
        strcat(buf, ".0");
    return ctx ? keep(ctx, strdup(buf)) : NULL;
}

const char *wd_str(wd_ctx *ctx, const char *s)
{
    if (!ctx || !s)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(2 * n + 3), *o = out;
    if (!out)
        return keep(ctx, NULL);
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    *o++ = '\'';
    *o = '\0';
    return keep(ctx, out);
}

const char *wd_bin(wd_ctx *ctx, const char *a, const char *op, const char *b)
{
    static const char *const ops[] = {"+",  "-",  "*",  "/",   "//",
                                      "%",  "**", "==", "!=",  "<",
                                      "<=", ">",  ">=", "and", "or"};
    if (!ctx || !a || !op || !b)
        return NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i]) == 0)
            return keep(ctx, dup_printf("(%s %s %s)", a, op, b));
    wd_ctx_fail(ctx, "wd_bin: the operators are + - * / // % ** == != < <= > "
                     ">= and or");
    return NULL;
}

const char *wd_not(wd_ctx *ctx, const char *a)
{
    return ctx && a ? keep(ctx, dup_printf("(not %s)%s%s", a, "", "")) : NULL;
}

const char *wd_fn(wd_ctx *ctx, const char *fn, const char *a)
{
    static const char *const fns[] = {"abs",    "sqrt",   "exp",  "log",
                                      "log10",  "floor",  "ceil", "round",
                                      "isnull", "notnull"};
    if (!ctx || !fn || !a)
        return NULL;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fn, fns[i]) == 0)
            return keep(ctx, dup_printf("%s(%s)%s", fn, a, ""));
    wd_ctx_fail(ctx, "wd_fn: the functions are abs sqrt exp log log10 floor "
                     "ceil round isnull notnull");
    return NULL;
}

const char *wd_assign(wd_ctx *ctx, const char *name, const char *a)
{
    if (!ctx || !name || !a)
        return NULL;
    const char *c = wd_col(ctx, name);
    return c ? keep(ctx, dup_printf("%s = %s%s", c, a, "")) : NULL;
}
