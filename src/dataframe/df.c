/* Lazy dataframes (include/weft/dataframe.h): frames, their schemas, and
 * lowering to a task graph.
 *
 * Every frame keeps its schema as an empty table (proto): an operation is
 * checked by running it on its input's proto, which also gives its output
 * columns, so what fails at compute time is only what depends on data.
 *
 * Lowering (at each compute): first the columns each frame must produce
 * are found from the outputs down (projection: a CSV source parses only
 * what some later step reads); then every frame becomes, per partition, a
 * pending program (a source and row-wise steps) that grows along chains
 * of row-wise frames and becomes a graph node (one wd_k_part task) where
 * it is used by a reduction, a gather, more than one frame, or is an
 * output. Reductions combine partials in a tree of fan-in 8. */
#include <weft/dataframe.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dataframe/csv.h"
#include "dataframe/df_int.h"
#include "dataframe/expr.h"
#include "dataframe/groupby.h"
#include "dataframe/join.h"
#include "dataframe/table_io.h"
#include "dataframe/table_ops.h"
#include "dataframe/table_stats.h"
#include "graph/graph.h"

#define FANIN 8
#define MAX_LIST 1024

typedef enum fkind {
    K_CSV,
    K_FILE,
    K_TABLE,
    K_STEP,   /* a row-wise step on in[0]'s partitions */
    K_JOIN,   /* in[0] left, in[1] right (gathered) */
    K_REDUCE, /* a partial step on in[0], combined, finalised */
    K_GATHER, /* in[0]'s partitions as one, then a step (sort, head) */
    K_CONCAT, /* partitions of in[0..nin) */
} fkind;

struct wd_table {
    wf_table t;
};

struct wd_frame {
    wd_ctx *ctx;
    fkind kind;
    wd_frame **in;
    size_t nin;
    wf_table proto;
    size_t nparts;
    wd_op op; /* K_STEP, K_GATHER, K_REDUCE: the step */
    char *s[WD_MAX_STR];
    size_t nstr;
    uint64_t n;
    /* sources */
    char **paths;
    wf_csv_options copts;
    wf_csv_field *schema;
    size_t nschema;
    char *null_marker;
    weft_ref *parts; /* K_TABLE's partitions; persisted partitions */
    bool persisted;
    /* lowering */
    bool needed, all_cols;
    char **need;
    size_t nneed, capneed;
    size_t consumers;
    struct fstate *st; /* per partition: its program or its node */
};

struct wd_ctx {
    weft_runtime *rt;
    wd_frame **frames;
    size_t nframes, cap;
    bool progress;
    char err[2048];
    char **strs; /* expressions built in C (df_expr.c), freed with ctx */
    size_t nstrs;
};

/* ------------------------------------------------------------ basics */

static void *fail(wd_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void *fail(wd_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return NULL;
}

wd_ctx *wd_ctx_new(weft_runtime *rt)
{
    wd_ctx *c = calloc(1, sizeof *c);
    if (c)
        c->rt = rt;
    return c;
}

static void lower_reset(wd_frame *f)
{
    for (size_t i = 0; i < f->nneed; i++)
        free(f->need[i]);
    free(f->need);
    f->need = NULL;
    f->nneed = f->capneed = 0;
    f->needed = f->all_cols = false;
    f->consumers = 0;
}

static void frame_free(wd_frame *f)
{
    lower_reset(f);
    wf_table_free(&f->proto);
    for (size_t i = 0; i < f->nstr; i++)
        free(f->s[i]);
    for (size_t i = 0; f->paths && f->paths[i]; i++)
        free(f->paths[i]);
    free(f->paths);
    for (size_t i = 0; i < f->nschema; i++)
        free((char *)f->schema[i].name);
    free(f->schema);
    free(f->null_marker);
    for (size_t i = 0; f->parts && i < f->nparts; i++)
        if (f->parts[i].id)
            weft_release(f->ctx->rt, f->parts[i]);
    free(f->parts);
    free(f->in);
    free(f);
}

void wd_ctx_free(wd_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->nframes; i++)
        frame_free(ctx->frames[i]);
    for (size_t i = 0; i < ctx->nstrs; i++)
        free(ctx->strs[i]);
    free(ctx->strs);
    free(ctx->frames);
    free(ctx);
}

const char *wd_error(const wd_ctx *ctx)
{
    return ctx->err;
}

const char *wd_ctx_keep(wd_ctx *ctx, char *s)
{
    char **m = s ? realloc(ctx->strs, (ctx->nstrs + 1) * sizeof *m) : NULL;
    if (!m) {
        free(s);
        fail(ctx, "out of memory");
        return NULL;
    }
    ctx->strs = m;
    ctx->strs[ctx->nstrs++] = s;
    return s;
}

void wd_ctx_fail(wd_ctx *ctx, const char *what)
{
    fail(ctx, "%s", what);
}

void wd_set_progress(wd_ctx *ctx, bool on)
{
    ctx->progress = on;
}

static wd_frame *frame_new(wd_ctx *ctx, fkind kind, wd_frame *const *in,
                           size_t nin)
{
    wd_frame *f = calloc(1, sizeof *f);
    if (!f || (nin && !(f->in = malloc(nin * sizeof *f->in)))) {
        free(f);
        return fail(ctx, "out of memory");
    }
    if (ctx->nframes == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 16;
        wd_frame **m = realloc(ctx->frames, cap * sizeof *m);
        if (!m) {
            free(f->in);
            free(f);
            return fail(ctx, "out of memory");
        }
        ctx->frames = m;
        ctx->cap = cap;
    }
    f->ctx = ctx;
    f->kind = kind;
    f->nin = nin;
    for (size_t i = 0; i < nin; i++)
        f->in[i] = in[i];
    wf_table_init(&f->proto);
    ctx->frames[ctx->nframes++] = f;
    ctx->err[0] = '\0';
    return f;
}

/* Drop the newest frame (its construction failed) and return NULL. */
static wd_frame *undo(wd_frame *f)
{
    wd_ctx *ctx = f->ctx;
    ctx->nframes--;
    frame_free(f);
    return NULL;
}

/* "a, b ,c" -> "a\nb\nc" (malloc'd); NULL when empty. */
static char *list_of(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > p) {
            if (o > out)
                *o++ = '\n';
            memcpy(o, p, (size_t)(t - p));
            o += t - p;
        }
        p = *e ? e + 1 : e;
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

static bool set_str(wd_frame *f, const char *s)
{
    if (f->nstr == WD_MAX_STR || !(f->s[f->nstr] = strdup(s)))
        return false;
    f->nstr++;
    return true;
}

/* Apply step (op, s, n) of frame f to table t, as a partition task would
 * (used on protos to check operations and learn their schemas). */
static weft_err proto_step(const wd_frame *f, wf_table *t, const wf_table *rhs,
                           char *err, size_t errlen);

/* ------------------------------------------------------------ sources */

static weft_err parse_schema(const char *spec, wf_csv_field **out, size_t *n,
                             char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char *l = list_of(spec);
    if (!l)
        return 0;
    char *items[MAX_LIST];
    size_t k = wd_unjoin(l, items, MAX_LIST);
    wf_csv_field *fs = calloc(k + 1, sizeof *fs);
    weft_err e = fs ? 0 : WEFT_ENOMEM;
    for (size_t i = 0; i < k && !e; i++) {
        char *colon = strrchr(items[i], ':');
        wf_coltype t = colon ? wf_coltype_parse(colon + 1) : 0;
        if (!t) {
            e = wf_errf(WEFT_EINVAL, err, errlen,
                        "schema item '%s': write NAME:TYPE with TYPE one of "
                        "int64 float64 bool string date timestamp",
                        items[i]);
            break;
        }
        *colon = '\0';
        fs[i].name = strdup(items[i]);
        fs[i].type = t;
        if (!fs[i].name)
            e = WEFT_ENOMEM;
        *n = i + 1;
    }
    free(l);
    *out = fs;
    return e;
}

/* Plan f's CSV read for the columns names[0..n) (all when names NULL). */
static weft_err csv_plan(const wd_frame *f, const char *const *names, size_t n,
                         wf_csv_plan **plan, char *err, size_t errlen)
{
    wf_csv_options o = f->copts;
    if (names) {
        o.columns = names;
        o.ncolumns = n;
    }
    size_t np = 0;
    while (f->paths[np])
        np++;
    return wf_csv_plan_open((const char *const *)f->paths, np, &o, plan, err,
                            errlen);
}

wd_frame *wd_read_csv(wd_ctx *ctx, const char *path, const wd_csv_options *opts)
{
    return path ? wd_read_csv_files(ctx, &path, 1, opts) : NULL;
}

wd_frame *wd_read_csv_files(wd_ctx *ctx, const char *const *paths, size_t n,
                            const wd_csv_options *opts)
{
    if (!ctx || !paths || !n)
        return NULL;
    const char *path = paths[0];
    wd_frame *f = frame_new(ctx, K_CSV, NULL, 0);
    if (!f)
        return NULL;
    wd_csv_options d = {0};
    if (!opts)
        opts = &d;
    wf_csv_options *o = &f->copts;
    wf_csv_options_defaults(o);
    if (opts->delimiter)
        o->delimiter = opts->delimiter;
    o->header = !opts->no_header;
    if (opts->null_marker &&
        !(o->null_marker = f->null_marker = strdup(opts->null_marker)))
        return undo(f);
    if (opts->partition_bytes)
        o->partition_bytes = opts->partition_bytes;
    if (opts->sample_rows)
        o->sample_rows = opts->sample_rows;
    o->skip_bad_lines = opts->skip_bad_lines;
    weft_err e = 0;
    if (opts->schema) {
        e = parse_schema(opts->schema, &f->schema, &f->nschema, ctx->err,
                         sizeof ctx->err);
        o->schema = f->schema;
        o->nschema = f->nschema;
    }
    f->paths = calloc(n + 1, sizeof *f->paths);
    if (!f->paths && !e)
        e = WEFT_ENOMEM;
    for (size_t i = 0; i < n && !e; i++)
        if (!(f->paths[i] = strdup(paths[i])))
            e = WEFT_ENOMEM;
    char *cols = opts->columns ? list_of(opts->columns) : NULL;
    char *names[MAX_LIST];
    size_t ncols = cols ? wd_unjoin(cols, names, MAX_LIST) : 0;
    wf_csv_plan *plan = NULL;
    if (!e)
        e = csv_plan(f, cols ? (const char *const *)names : NULL, ncols, &plan,
                     ctx->err, sizeof ctx->err);
    /* the schema: the read columns, or the chosen ones */
    for (size_t j = 0; !e && j < plan->ncols; j++) {
        wf_column c;
        size_t fi = plan->cols[j];
        if (!(e = wf_col_init(&c, plan->field_types[fi], 0)) &&
            (e = wf_table_add(&f->proto, plan->field_names[fi], &c)))
            wf_col_free(&c);
    }
    if (!e)
        f->nparts = plan->nparts;
    wf_csv_plan_free(plan);
    free(cols);
    if (e) {
        if (!ctx->err[0])
            fail(ctx, "read_csv %s: %s", path, weft_strerror(e));
        return undo(f);
    }
    return f;
}

wd_frame *wd_read_file(wd_ctx *ctx, const char *path)
{
    wd_frame *f = frame_new(ctx, K_FILE, NULL, 0);
    if (!f)
        return NULL;
    wf_tfile *tf;
    weft_err e = wf_tfile_open(path, &tf, ctx->err, sizeof ctx->err);
    if (!e) {
        f->nparts = wf_tfile_ngroups(tf);
        wf_table g;
        if (!f->nparts)
            e = wf_errf(WEFT_EINVAL, ctx->err, sizeof ctx->err,
                        "%s: no row groups", path);
        else if (!(e = wf_tfile_read(tf, 0, &g, ctx->err, sizeof ctx->err))) {
            e = wf_table_head(&g, 0, &f->proto);
            wf_table_free(&g);
        }
        wf_tfile_close(tf);
    }
    if (!e && !set_str(f, path))
        e = WEFT_ENOMEM;
    return e ? undo(f) : f;
}

wd_frame *wd_from_table(wd_ctx *ctx, const wd_table *t, size_t nparts)
{
    if (!ctx || !t)
        return NULL;
    if (nparts == 0)
        nparts = 1;
    wd_frame *f = frame_new(ctx, K_TABLE, NULL, 0);
    if (!f)
        return NULL;
    f->parts = calloc(nparts, sizeof *f->parts);
    weft_err e = f->parts ? wf_table_head(&t->t, 0, &f->proto) : WEFT_ENOMEM;
    f->nparts = nparts;
    size_t rows = t->t.nrows;
    for (size_t p = 0; p < nparts && !e; p++) {
        size_t lo = rows * p / nparts, hi = rows * (p + 1) / nparts;
        size_t *idx = malloc((hi - lo + 1) * sizeof *idx);
        wf_table part;
        wf_table_init(&part);
        if (!idx)
            e = WEFT_ENOMEM;
        for (size_t i = lo; idx && i < hi; i++)
            idx[i - lo] = i;
        for (size_t j = 0; j < t->t.ncols && !e; j++) {
            wf_column c;
            if (!(e = wf_col_take(&t->t.cols[j], idx, hi - lo, &c)) &&
                (e = wf_table_add(&part, t->t.names[j], &c)))
                wf_col_free(&c);
        }
        uint8_t *buf = NULL;
        size_t len;
        if (!e && !(e = wf_table_encode(&part, &buf, &len)))
            e = weft_put(ctx->rt,
                         &(weft_value){WEFT_T_BYTES, {.buf = {buf, len}}},
                         &f->parts[p]);
        free(buf);
        free(idx);
        wf_table_free(&part);
    }
    if (e) {
        fail(ctx, "from_table: %s", weft_strerror(e));
        return undo(f);
    }
    return f;
}

/* ------------------------------------------------------------ operations */

static weft_err proto_step(const wd_frame *f, wf_table *t, const wf_table *rhs,
                           char *err, size_t errlen)
{
    switch (f->op) {
    case WD_FILTER:
        return wd_apply_filter(t, f->s[0], err, errlen);
    case WD_EVAL:
        return wd_apply_eval(t, f->s[0], err, errlen);
    case WD_SORT:
        return wd_apply_sort(t, f->s[0], f->s[1], err, errlen);
    case WD_SELECT: {
        char *copy = strdup(f->s[0]);
        char *names[MAX_LIST];
        if (!copy)
            return WEFT_ENOMEM;
        size_t n = wd_unjoin(copy, names, MAX_LIST);
        wf_table s;
        weft_err e =
            wf_table_select(t, (const char *const *)names, n, &s, err, errlen);
        if (!e) {
            wf_table_free(t);
            *t = s;
        }
        free(copy);
        return e;
    }
    case WD_HEAD:
    case WD_TAIL:
        return 0;
    case WD_CAST:
        return wd_apply_cast(t, f->s[0], f->s[1], err, errlen);
    case WD_BADCOUNT: {
        wf_column c;
        wf_table one;
        wf_table_init(&one);
        weft_err e = wf_col_init(&c, WF_COL_I64, 0);
        if (!e && (e = wf_table_add(&one, "bad_lines", &c)))
            wf_col_free(&c);
        if (!e) {
            wf_table_free(t);
            *t = one;
        }
        return e;
    }
    case WD_JOIN: {
        char *copy = strdup(f->s[0]);
        char *keys[MAX_LIST];
        if (!copy)
            return WEFT_ENOMEM;
        size_t nk = wd_unjoin(copy, keys, MAX_LIST);
        wf_table j;
        weft_err e = wf_join(
            t, rhs, (const char *const *)keys, (const char *const *)keys, nk,
            f->n ? WF_JOIN_LEFT : WF_JOIN_INNER, &j, err, errlen);
        if (!e) {
            wf_table_free(t);
            *t = j;
        }
        free(copy);
        return e;
    }
    case WD_DROPNA:
    case WD_FILLNA:
        return wd_apply_stats(t, f->op, (const char *const *)f->s, err, errlen);
    case WD_VC_PARTIAL:
    case WD_UQ_PARTIAL:
    case WD_DS_PARTIAL: {
        weft_err e =
            wd_apply_stats(t, f->op, (const char *const *)f->s, err, errlen);
        wf_table r;
        if (!e && !(e = wd_reduce_tables(f->op, 1, (const char *const *)f->s, t,
                                         1, &r, err, errlen))) {
            wf_table_free(t);
            *t = r;
        }
        return e;
    }
    case WD_GB_PARTIAL: {
        char *copy = strdup(f->s[0]);
        char *keys[MAX_LIST];
        if (!copy)
            return WEFT_ENOMEM;
        size_t nk = wd_unjoin(copy, keys, MAX_LIST);
        wf_agg *aggs = NULL;
        size_t naggs = 0;
        wf_table p, r;
        weft_err e = wf_aggs_parse(f->s[1], &aggs, &naggs, err, errlen);
        if (!e && !(e = wf_groupby_partial(t, (const char *const *)keys, nk,
                                           aggs, naggs, &p, err, errlen))) {
            if (!(e = wf_groupby_final(&p, nk, aggs, naggs, &r, err, errlen))) {
                wf_table_free(t);
                *t = r;
            }
            wf_table_free(&p);
        }
        wf_aggs_free(aggs, naggs);
        free(copy);
        return e;
    }
    default:
        return wf_errf(WEFT_EINVAL, err, errlen, "unknown operation");
    }
}

/* A new frame of kind on in[0..nin) doing op with strings s[], checked on
 * the protos. */
static wd_frame *derive(fkind kind, wd_op op, wd_frame *const *in, size_t nin,
                        const char *const *s, size_t ns, uint64_t n,
                        const char *what)
{
    wd_ctx *ctx = in[0]->ctx;
    wd_frame *f = frame_new(ctx, kind, in, nin);
    if (!f)
        return NULL;
    f->op = op;
    f->n = n;
    f->nparts = kind == K_STEP || kind == K_JOIN ? in[0]->nparts : 1;
    for (size_t i = 0; i < ns; i++)
        if (!set_str(f, s[i] ? s[i] : ""))
            return fail(ctx, "out of memory"), undo(f);
    char err[1536] = "";
    weft_err e = wf_table_head(&in[0]->proto, 0, &f->proto);
    if (!e)
        e = proto_step(f, &f->proto, nin > 1 ? &in[1]->proto : NULL, err,
                       sizeof err);
    if (e) {
        fail(ctx, "%s: %s", what, err[0] ? err : weft_strerror(e));
        return undo(f);
    }
    return f;
}

static bool ok_frame(wd_frame *f, const char *s)
{
    return f && s;
}

wd_frame *wd_filter(wd_frame *f, const char *expr)
{
    if (!ok_frame(f, expr))
        return NULL;
    const char *s[1] = {expr};
    return derive(K_STEP, WD_FILTER, &f, 1, s, 1, 0, "filter");
}

wd_frame *wd_eval(wd_frame *f, const char *assignment)
{
    if (!ok_frame(f, assignment))
        return NULL;
    const char *s[1] = {assignment};
    return derive(K_STEP, WD_EVAL, &f, 1, s, 1, 0, "eval");
}

wd_frame *wd_select(wd_frame *f, const char *columns)
{
    if (!ok_frame(f, columns))
        return NULL;
    char *l = list_of(columns);
    if (!l)
        return fail(f->ctx, "select: no columns named");
    const char *s[1] = {l};
    wd_frame *r = derive(K_STEP, WD_SELECT, &f, 1, s, 1, 0, "select");
    free(l);
    return r;
}

wd_frame *wd_groupby(wd_frame *f, const char *keys, const char *aggs)
{
    if (!ok_frame(f, keys) || !aggs)
        return NULL;
    char *l = list_of(keys);
    if (!l)
        return fail(f->ctx, "groupby: no key columns named");
    const char *s[2] = {l, aggs};
    wd_frame *r = derive(K_REDUCE, WD_GB_PARTIAL, &f, 1, s, 2, 0, "groupby");
    free(l);
    return r;
}

wd_frame *wd_agg(wd_frame *f, const char *aggs)
{
    if (!ok_frame(f, aggs))
        return NULL;
    const char *s[2] = {"", aggs}; /* a groupby without keys: one group */
    return derive(K_REDUCE, WD_GB_PARTIAL, &f, 1, s, 2, 0, "agg");
}

weft_err wd_bad_lines(wd_frame *f, uint64_t *count)
{
    if (!f || !count)
        return WEFT_EINVAL;
    if (f->kind != K_CSV || f->persisted) {
        fail(f->ctx, "bad_lines: not a read_csv frame");
        return WEFT_EINVAL;
    }
    /* a program per partition: parse, then the count; summed */
    wd_frame *c = derive(K_STEP, WD_BADCOUNT, &f, 1, NULL, 0, 0, "bad_lines");
    wd_frame *sum = c ? wd_agg(c, "sum(bad_lines)") : NULL;
    wd_table *t = sum ? wd_compute(sum) : NULL;
    if (!t)
        return WEFT_EINVAL;
    *count = (uint64_t)wd_table_i64(t, 0, 0);
    wd_table_free(t);
    return 0;
}

wd_frame *wd_join(wd_frame *left, wd_frame *right, const char *on, wd_how how)
{
    if (!left || !right || !on)
        return NULL;
    if (left->ctx != right->ctx)
        return fail(left->ctx, "join: frames of two sessions");
    char *l = list_of(on);
    if (!l)
        return fail(left->ctx, "join: no key columns named");
    const char *s[2] = {l, how == WD_LEFT ? "left" : "inner"};
    wd_frame *in[2] = {left, right};
    wd_frame *r = derive(K_JOIN, WD_JOIN, in, 2, s, 2, how == WD_LEFT, "join");
    free(l);
    return r;
}

wd_frame *wd_dropna(wd_frame *f, const char *columns)
{
    if (!f)
        return NULL;
    char *l = columns ? list_of(columns) : NULL;
    const char *s[1] = {l ? l : ""};
    wd_frame *r = derive(K_STEP, WD_DROPNA, &f, 1, s, 1, 0, "dropna");
    free(l);
    return r;
}

wd_frame *wd_fillna(wd_frame *f, const char *column, const char *value)
{
    if (!ok_frame(f, column) || !value)
        return NULL;
    const char *s[2] = {column, value};
    return derive(K_STEP, WD_FILLNA, &f, 1, s, 2, 0, "fillna");
}

wd_frame *wd_value_counts(wd_frame *f, const char *columns)
{
    if (!ok_frame(f, columns))
        return NULL;
    char *l = list_of(columns);
    if (!l)
        return fail(f->ctx, "value_counts: no columns named");
    const char *s[1] = {l};
    wd_frame *r =
        derive(K_REDUCE, WD_VC_PARTIAL, &f, 1, s, 1, 0, "value_counts");
    free(l);
    return r;
}

wd_frame *wd_unique(wd_frame *f, const char *column)
{
    if (!ok_frame(f, column))
        return NULL;
    const char *s[1] = {column};
    return derive(K_REDUCE, WD_UQ_PARTIAL, &f, 1, s, 1, 0, "unique");
}

wd_frame *wd_describe(wd_frame *f)
{
    return f ? derive(K_REDUCE, WD_DS_PARTIAL, &f, 1, NULL, 0, 0, "describe")
             : NULL;
}

wd_frame *wd_sort(wd_frame *f, const char *by)
{
    if (!ok_frame(f, by))
        return NULL;
    char *l = list_of(by);
    if (!l)
        return fail(f->ctx, "sort: no columns named");
    size_t n = strlen(l);
    char *cols = malloc(n + 1), *dirs = malloc(n + 2);
    size_t nc = 0, nd = 0;
    for (char *p = l; cols && dirs && *p;) {
        bool desc = *p == '-';
        p += *p == '-' || *p == '+';
        dirs[nd++] = desc ? '-' : '+';
        while (*p && *p != '\n')
            cols[nc++] = *p++;
        if (*p)
            cols[nc++] = *p++;
    }
    wd_frame *r = NULL;
    if (cols && dirs) {
        cols[nc] = '\0';
        dirs[nd] = '\0';
        const char *s[2] = {cols, dirs};
        r = derive(K_GATHER, WD_SORT, &f, 1, s, 2, 0, "sort");
    }
    free(cols);
    free(dirs);
    free(l);
    return r;
}

wd_frame *wd_head(wd_frame *f, size_t n)
{
    return f ? derive(K_GATHER, WD_HEAD, &f, 1, NULL, 0, n, "head") : NULL;
}

wd_frame *wd_tail(wd_frame *f, size_t n)
{
    return f ? derive(K_GATHER, WD_TAIL, &f, 1, NULL, 0, n, "tail") : NULL;
}

/* The columns of frames[0..n) for concat: every name in the order it is
 * first met, typed as in every frame having it (int64 and float64 make
 * float64). Into names[] / types[] ('\n'-joined later); false with ctx's
 * error on a clash of types or too many columns. */
static bool concat_schema(wd_ctx *ctx, wd_frame *const *frames, size_t n,
                          const char **names, wf_coltype *types, size_t *nc)
{
    *nc = 0;
    for (size_t i = 0; i < n; i++) {
        const wf_table *t = &frames[i]->proto;
        for (size_t j = 0; j < t->ncols; j++) {
            wf_coltype ty = t->cols[j].type;
            size_t k = 0;
            while (k < *nc && strcmp(names[k], t->names[j]) != 0)
                k++;
            if (k == *nc) {
                if (*nc == MAX_LIST) {
                    fail(ctx, "concat: more than %d columns", MAX_LIST);
                    return false;
                }
                names[k] = t->names[j];
                types[k] = ty;
                (*nc)++;
            } else if (types[k] != ty) {
                bool num = (types[k] == WF_COL_I64 || types[k] == WF_COL_F64) &&
                           (ty == WF_COL_I64 || ty == WF_COL_F64);
                if (!num) {
                    fail(ctx,
                         "concat: column \"%s\" is %s in frame %zu but %s "
                         "before it",
                         names[k], wf_coltype_name(ty), i,
                         wf_coltype_name(types[k]));
                    return false;
                }
                types[k] = WF_COL_F64;
            }
        }
    }
    return true;
}

/* f's columns are exactly names[0..nc) with types[]. */
static bool has_schema(const wd_frame *f, const char *const *names,
                       const wf_coltype *types, size_t nc)
{
    const wf_table *t = &f->proto;
    bool same = t->ncols == nc;
    for (size_t j = 0; same && j < nc; j++)
        same =
            strcmp(t->names[j], names[j]) == 0 && t->cols[j].type == types[j];
    return same;
}

/* '\n'-joined items[0..n) (malloc'd; NULL when out of memory). */
static char *joined(const char *const *items, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *s = malloc(len), *p = s;
    for (size_t i = 0; s && i < n; i++) {
        size_t l = strlen(items[i]);
        if (i)
            *p++ = '\n';
        memcpy(p, items[i], l);
        p += l;
    }
    if (s)
        *p = '\0';
    return s;
}

wd_frame *wd_concat(wd_frame *const *frames, size_t n)
{
    if (!frames || !n || !frames[0])
        return NULL;
    wd_ctx *ctx = frames[0]->ctx;
    for (size_t i = 1; i < n; i++)
        if (!frames[i] || frames[i]->ctx != ctx)
            return fail(ctx,
                        "concat: frame %zu is missing or of another "
                        "session",
                        i);
    const char *names[MAX_LIST], *tnames[MAX_LIST];
    wf_coltype types[MAX_LIST];
    size_t nc;
    if (!concat_schema(ctx, frames, n, names, types, &nc))
        return NULL;
    bool uniform = true;
    for (size_t i = 0; i < n; i++)
        uniform &= has_schema(frames[i], names, types, nc);
    wd_frame **cast = NULL;
    if (!uniform) { /* every frame cast to the union of the columns */
        for (size_t k = 0; k < nc; k++)
            tnames[k] = wf_coltype_name(types[k]);
        char *s0 = joined(names, nc), *s1 = joined(tnames, nc);
        const char *s[2] = {s0, s1};
        cast = s0 && s1 ? malloc(n * sizeof *cast) : NULL;
        for (size_t i = 0; cast && i < n; i++)
            if (!(cast[i] = derive(K_STEP, WD_CAST, &frames[i], 1, s, 2, 0,
                                   "concat"))) {
                free(cast);
                free(s0);
                free(s1);
                return NULL;
            }
        free(s0);
        free(s1);
        if (!cast)
            return fail(ctx, "out of memory");
    }
    wd_frame *const *in = cast ? cast : frames;
    wd_frame *f = frame_new(ctx, K_CONCAT, in, n);
    if (f) {
        for (size_t i = 0; i < n; i++)
            f->nparts += in[i]->nparts;
        if (wf_table_head(&in[0]->proto, 0, &f->proto)) {
            fail(ctx, "out of memory");
            f = undo(f);
        }
    }
    free(cast);
    return f;
}

size_t wd_nparts(const wd_frame *f)
{
    return f->nparts;
}

size_t wd_ncols(const wd_frame *f)
{
    return f->proto.ncols;
}

const char *wd_col_name(const wd_frame *f, size_t i)
{
    return i < f->proto.ncols ? f->proto.names[i] : NULL;
}

wd_type wd_col_type(const wd_frame *f, size_t i)
{
    return i < f->proto.ncols ? (wd_type)f->proto.cols[i].type : 0;
}

/* ------------------------------------------------------------ projection */

static bool need_has(const wd_frame *f, const char *name)
{
    for (size_t i = 0; i < f->nneed; i++)
        if (strcmp(f->need[i], name) == 0)
            return true;
    return false;
}

static weft_err need_add(wd_frame *f, const char *name)
{
    if (f->all_cols || need_has(f, name))
        return 0;
    if (f->nneed == f->capneed) {
        size_t cap = f->capneed ? f->capneed * 2 : 8;
        char **m = realloc(f->need, cap * sizeof *m);
        if (!m)
            return WEFT_ENOMEM;
        f->need = m;
        f->capneed = cap;
    }
    if (!(f->need[f->nneed] = strdup(name)))
        return WEFT_ENOMEM;
    f->nneed++;
    return 0;
}

/* Does f's output need column name? */
static bool wants(const wd_frame *f, const char *name)
{
    return f->all_cols || need_has(f, name);
}

static weft_err need_list(wd_frame *f, const char *list)
{
    char *copy = strdup(list);
    char *names[MAX_LIST];
    if (!copy)
        return WEFT_ENOMEM;
    size_t n = wd_unjoin(copy, names, MAX_LIST);
    weft_err e = 0;
    for (size_t i = 0; i < n && !e; i++)
        e = need_add(f, names[i]);
    free(copy);
    return e;
}

/* in needs what f needs of in's columns (all of them when f needs all). */
static weft_err need_pass(wd_frame *in, const wd_frame *f, const char *except)
{
    if (f->all_cols && !except) {
        in->all_cols = true;
        return 0;
    }
    weft_err e = 0;
    for (size_t j = 0; j < in->proto.ncols && !e; j++) {
        const char *name = in->proto.names[j];
        if (wants(f, name) && !(except && strcmp(except, name) == 0))
            e = need_add(in, name);
    }
    return e;
}

static weft_err need_expr(wd_frame *in, const char *src, const char **target)
{
    wf_expr *x;
    char err[256];
    weft_err e = wf_expr_parse(src, &x, err, sizeof err);
    if (e)
        return e;
    const char *names[MAX_LIST];
    size_t n = wf_expr_columns(x, names, MAX_LIST);
    for (size_t i = 0; i < n && !e; i++)
        e = need_add(in, names[i]);
    if (target)
        *target = wf_expr_target(x) ? strdup(wf_expr_target(x)) : NULL;
    wf_expr_free(x);
    return e;
}

/* What each frame reachable from out must produce, from out down. */
static weft_err plan_needs(wd_ctx *ctx, wd_frame *out)
{
    for (size_t i = 0; i < ctx->nframes; i++)
        lower_reset(ctx->frames[i]);
    out->needed = out->all_cols = true;
    out->consumers = 1; /* the caller */
    weft_err e = 0;
    for (size_t k = ctx->nframes; k-- > 0 && !e;) {
        wd_frame *f = ctx->frames[k];
        if (!f->needed || f->persisted)
            continue;
        for (size_t i = 0; i < f->nin; i++) {
            f->in[i]->needed = true;
            f->in[i]->consumers++;
        }
        wd_frame *in = f->nin ? f->in[0] : NULL;
        switch (f->kind) {
        case K_STEP:
            if (f->op == WD_FILTER) {
                if (!(e = need_pass(in, f, NULL)))
                    e = need_expr(in, f->s[0], NULL);
            } else if (f->op == WD_BADCOUNT) {
                in->all_cols = true; /* a bad value in any column counts */
            } else if (f->op == WD_DROPNA && !f->s[0][0]) {
                in->all_cols = true; /* a null anywhere drops the row */
            } else if (f->op == WD_DROPNA || f->op == WD_FILLNA) {
                if (!(e = need_pass(in, f, NULL)))
                    e = need_list(in, f->s[0]);
            } else if (f->op == WD_EVAL) {
                const char *target = NULL;
                if (!(e = need_expr(in, f->s[0], &target)))
                    e = need_pass(in, f, target ? target : "");
                free((char *)target);
            } else {
                e = need_pass(in, f, NULL);
            }
            break;
        case K_GATHER:
            if (!(e = need_pass(in, f, NULL)) && f->op == WD_SORT)
                e = need_list(in, f->s[0]);
            break;
        case K_REDUCE: {
            if (f->op == WD_DS_PARTIAL) { /* the numeric columns */
                for (size_t j = 0; j < in->proto.ncols && !e; j++)
                    if (in->proto.cols[j].type == WF_COL_I64 ||
                        in->proto.cols[j].type == WF_COL_F64)
                        e = need_add(in, in->proto.names[j]);
                break;
            }
            if ((e = need_list(in, f->s[0])) || f->op != WD_GB_PARTIAL)
                break;
            wf_agg *aggs = NULL;
            size_t naggs = 0;
            char err[256];
            e = wf_aggs_parse(f->s[1], &aggs, &naggs, err, sizeof err);
            for (size_t a = 0; a < naggs && !e; a++)
                if (aggs[a].col)
                    e = need_add(in, aggs[a].col);
            wf_aggs_free(aggs, naggs);
            break;
        }
        case K_JOIN: {
            /* each side: the keys, what f uses of it (also under its _x /
             * _y name), and every name both sides have, so the join names
             * its output as the schema says */
            wd_frame *side[2] = {f->in[0], f->in[1]};
            const char *suffix[2] = {"_x", "_y"};
            for (int sd = 0; sd < 2 && !e; sd++) {
                const wf_table *me = &side[sd]->proto,
                               *other = &side[1 - sd]->proto;
                if ((e = need_list(side[sd], f->s[0])))
                    break;
                for (size_t j = 0; j < me->ncols && !e; j++) {
                    char renamed[1100];
                    snprintf(renamed, sizeof renamed, "%s%s", me->names[j],
                             suffix[sd]);
                    if (wants(f, me->names[j]) || wants(f, renamed) ||
                        wf_table_find(other, me->names[j]) >= 0)
                        e = need_add(side[sd], me->names[j]);
                }
            }
            break;
        }
        case K_CONCAT:
            for (size_t i = 0; i < f->nin && !e; i++)
                e = need_pass(f->in[i], f, NULL);
            break;
        default:
            break;
        }
    }
    return e;
}

/* ------------------------------------------------------------ lowering */

#define NO_NODE UINT32_MAX
#define MAX_IN 8

typedef struct lower {
    wd_ctx *ctx;
    wg_graph *g;
    size_t ops; /* per-partition operations before fusion */
    weft_err e;
    weft_ref *held; /* objects made for the graph, released once built */
    size_t nheld;
} lower;

/* Program bytes: append a step. */
typedef struct pbuf {
    uint8_t *p;
    size_t len, cap, nsteps;
} pbuf;

static bool pb_put(pbuf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *m = realloc(b->p, cap);
        if (!m)
            return false;
        b->p = m;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return true;
}

static bool pb_step(pbuf *b, wd_op op, const char *const *s, size_t ns,
                    uint64_t n)
{
    uint8_t o = (uint8_t)op;
    uint32_t k = (uint32_t)ns;
    bool ok = pb_put(b, &o, 1) && pb_put(b, &k, 4);
    for (size_t i = 0; ok && i < ns; i++) {
        uint32_t l = (uint32_t)strlen(s[i]);
        ok = pb_put(b, &l, 4) && pb_put(b, s[i], l);
    }
    ok = ok && pb_put(b, &n, 8);
    b->nsteps += ok;
    return ok;
}

/* A partition in the making: a program over inputs. */
typedef struct pending {
    pbuf prog;
    wg_input in[MAX_IN];
    size_t nin;
    const char *last; /* the last step's name, for the key */
} pending;

struct fstate {
    pending *pend; /* per partition */
    wg_node *node; /* per partition, NO_NODE until made */
};
typedef struct fstate fstate;

static const char *op_name(wd_op op)
{
    static const char *names[] = {
        [WD_SRC_CSV] = "read_csv",   [WD_SRC_FILE] = "read_file",
        [WD_SRC_IN] = "from",        [WD_FILTER] = "filter",
        [WD_EVAL] = "eval",          [WD_SELECT] = "select",
        [WD_DROPNA] = "dropna",      [WD_FILLNA] = "fillna",
        [WD_HEAD] = "head",          [WD_TAIL] = "tail",
        [WD_SORT] = "sort",          [WD_JOIN] = "join",
        [WD_GB_PARTIAL] = "groupby", [WD_VC_PARTIAL] = "value_counts",
        [WD_UQ_PARTIAL] = "unique",  [WD_DS_PARTIAL] = "describe",
        [WD_CAST] = "cast",          [WD_BADCOUNT] = "bad_lines"};
    return op > 0 && op <= WD_BADCOUNT && names[op] ? names[op] : "op";
}

/* Turn partition i's pending program of f into a node. */
static wg_node make_node(lower *L, wd_frame *f, fstate *fs, size_t i)
{
    if (fs->node[i] != NO_NODE || L->e)
        return fs->node[i];
    pending *p = &fs->pend[i];
    uint32_t n = (uint32_t)p->prog.nsteps;
    uint8_t *params = malloc(p->prog.len + 4);
    if (!params) {
        L->e = WEFT_ENOMEM;
        return NO_NODE;
    }
    memcpy(params, &n, 4);
    memcpy(params + 4, p->prog.p, p->prog.len);
    char key[96];
    snprintf(key, sizeof key, "%s #%zu", p->last ? p->last : "part", i);
    wg_node id = wg_add(L->g, "wd_k_part", params, p->prog.len + 4, p->in,
                        p->nin, key, true);
    free(params);
    if (id == NO_NODE) {
        fail(L->ctx, "%s", wg_error(L->g));
        L->e = WEFT_ENOMEM;
        return NO_NODE;
    }
    fs->node[i] = id;
    /* consumers start from the node */
    free(p->prog.p);
    memset(p, 0, sizeof *p);
    return id;
}

static fstate *state_of(wd_frame *f)
{
    return f->st;
}

/* A pending program for partition i of in, for one consumer: in's own
 * (moved) when in has no other consumer and no node yet, else a program
 * starting from in's node. */
static bool take(lower *L, wd_frame *in, size_t i, pending *out)
{
    fstate *s = state_of(in);
    memset(out, 0, sizeof *out);
    if (in->consumers == 1 && s->node[i] == NO_NODE) {
        *out = s->pend[i];
        memset(&s->pend[i], 0, sizeof s->pend[i]);
        return true;
    }
    wg_node id = make_node(L, in, s, i);
    if (id == NO_NODE)
        return false;
    out->in[0] = wg_node_in(id);
    out->nin = 1;
    out->last = "from";
    if (!pb_step(&out->prog, WD_SRC_IN, NULL, 0, 0)) {
        L->e = WEFT_ENOMEM;
        return false;
    }
    return true;
}

static bool add_step(lower *L, pending *p, wd_op op, const char *const *s,
                     size_t ns, uint64_t n)
{
    if (!pb_step(&p->prog, op, s, ns, n)) {
        L->e = WEFT_ENOMEM;
        return false;
    }
    p->last = op_name(op);
    L->ops++;
    return true;
}

/* One node holding in's partitions gathered (in's node when it has one
 * partition). pre, if not 0, is a step run on each partition first. */
static wg_node gather(lower *L, wd_frame *in, wd_op pre, uint64_t n)
{
    fstate *s = state_of(in);
    if (in->nparts == 1 && !pre)
        return make_node(L, in, s, 0);
    wg_input *ins = malloc(in->nparts * sizeof *ins);
    if (!ins) {
        L->e = WEFT_ENOMEM;
        return NO_NODE;
    }
    for (size_t i = 0; i < in->nparts && !L->e; i++) {
        pending p;
        if (!take(L, in, i, &p))
            break;
        if (pre)
            add_step(L, &p, pre, NULL, 0, n);
        /* the partition as a node of its own */
        fstate tmp = {&p, &(wg_node){NO_NODE}};
        ins[i] = wg_node_in(make_node(L, in, &tmp, 0));
        free(p.prog.p);
    }
    wg_node id = NO_NODE;
    if (!L->e) {
        if (in->nparts == 1)
            id = ins[0].node;
        else
            id = wg_add(L->g, "wd_k_gather", NULL, 0, ins, in->nparts, "gather",
                        false);
        L->ops++;
    }
    free(ins);
    if (id == NO_NODE && !L->e)
        L->e = WEFT_ENOMEM;
    return id;
}

static void start_from(lower *L, pending *p, wg_node id)
{
    memset(p, 0, sizeof *p);
    p->in[0] = wg_node_in(id);
    p->nin = 1;
    p->last = "from";
    if (!pb_step(&p->prog, WD_SRC_IN, NULL, 0, 0))
        L->e = WEFT_ENOMEM;
}

/* The columns f must produce, '\n'-joined in schema order ("" when all of
 * them); NULL when out of memory. */
static char *wanted_list(const wd_frame *f)
{
    size_t len = 1;
    for (size_t j = 0; j < f->proto.ncols; j++)
        len += strlen(f->proto.names[j]) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t j = 0, at = 0; !f->all_cols && j < f->proto.ncols; j++)
        if (wants(f, f->proto.names[j]))
            at += (size_t)sprintf(out + at, "%s%s", at ? "\n" : "",
                                  f->proto.names[j]);
    return out;
}

/* The list of the columns of a select step that f's consumers need. */
static char *select_needed(const wd_frame *f)
{
    char *copy = strdup(f->s[0]);
    char *names[MAX_LIST];
    if (!copy)
        return NULL;
    size_t n = wd_unjoin(copy, names, MAX_LIST), len = 0;
    char *out = malloc(strlen(f->s[0]) + 1);
    for (size_t i = 0; out && i < n; i++)
        if (wants(f, names[i])) {
            size_t l = strlen(names[i]);
            if (len)
                out[len++] = '\n';
            memcpy(out + len, names[i], l);
            len += l;
        }
    if (out)
        out[len] = '\0';
    free(copy);
    return out;
}

/* A cast step's columns and types cut to what f's consumers use (all
 * when they use all): every partition of a concat then has the same
 * columns. false when out of memory. */
static bool cast_needed(const wd_frame *f, char **cols, char **types)
{
    char *cc = strdup(f->s[0]), *tc = strdup(f->s[1]);
    char *names[MAX_LIST], *tn[MAX_LIST];
    const char *kn[MAX_LIST], *kt[MAX_LIST];
    size_t n = cc && tc ? wd_unjoin(cc, names, MAX_LIST) : 0;
    size_t nt = cc && tc ? wd_unjoin(tc, tn, MAX_LIST) : 0, k = 0;
    for (size_t i = 0; i < n && i < nt; i++)
        if (f->all_cols || wants(f, names[i])) {
            kn[k] = names[i];
            kt[k++] = tn[i];
        }
    *cols = cc && tc ? joined(kn, k) : NULL;
    *types = cc && tc ? joined(kt, k) : NULL;
    bool ok = *cols && *types;
    if (!ok) {
        free(*cols);
        free(*types);
        *cols = *types = NULL;
    }
    free(cc);
    free(tc);
    return ok;
}

static void lower_source(lower *L, wd_frame *f, fstate *fs)
{
    weft_ref plan_ref = {0};
    if (f->kind == K_CSV && !f->persisted) {
        /* parse only the needed columns, in the schema's order */
        const char **names = malloc((f->proto.ncols + 1) * sizeof *names);
        size_t n = 0;
        for (size_t j = 0; names && j < f->proto.ncols; j++)
            if (wants(f, f->proto.names[j]))
                names[n++] = f->proto.names[j];
        wf_csv_plan *plan = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!names)
            L->e = WEFT_ENOMEM;
        else if ((L->e = csv_plan(f, names, n, &plan, L->ctx->err,
                                  sizeof L->ctx->err)))
            ;
        else if (plan->nparts != f->nparts)
            L->e = wf_errf(WEFT_EINVAL, L->ctx->err, sizeof L->ctx->err,
                           "read_csv: the files changed since the frame was "
                           "made (%zu partitions, now %zu)",
                           f->nparts, plan->nparts);
        else if (!(L->e = wf_csv_plan_encode(plan, &buf, &len)))
            L->e = weft_put(L->ctx->rt,
                            &(weft_value){WEFT_T_BYTES, {.buf = {buf, len}}},
                            &plan_ref);
        free(buf);
        free(names);
        wf_csv_plan_free(plan);
    }
    /* kept partitions and files hold every column: keep the needed ones */
    char *keep = NULL;
    if (!f->all_cols && (f->persisted || f->kind != K_CSV) &&
        !(keep = wanted_list(f)))
        L->e = WEFT_ENOMEM;
    for (size_t i = 0; i < f->nparts && !L->e; i++) {
        pending *p = &fs->pend[i];
        if (f->persisted || f->kind == K_TABLE) {
            p->in[0] = wg_ref_in(f->parts[i]);
            p->nin = 1;
            add_step(L, p, WD_SRC_IN, NULL, 0, 0);
        } else if (f->kind == K_CSV) {
            p->in[0] = wg_ref_in(plan_ref);
            p->nin = 1;
            add_step(L, p, WD_SRC_CSV, NULL, 0, i);
        } else {
            const char *s[1] = {f->s[0]};
            add_step(L, p, WD_SRC_FILE, s, 1, i);
        }
        if (keep) {
            const char *s[1] = {keep};
            add_step(L, p, WD_SELECT, s, 1, 0);
            L->ops--; /* part of reading, not an operation of the user's */
        }
    }
    free(keep);
    if (plan_ref.id) { /* released once the graph (which retains it) is made */
        weft_ref *m = realloc(L->held, (L->nheld + 1) * sizeof *m);
        if (!m) {
            weft_release(L->ctx->rt, plan_ref);
            L->e = WEFT_ENOMEM;
        } else {
            L->held = m;
            L->held[L->nheld++] = plan_ref;
        }
    }
}

static void lower_reduce(lower *L, wd_frame *f, fstate *fs)
{
    wd_frame *in = f->in[0];
    const char *s[2] = {f->nstr ? f->s[0] : "", f->nstr > 1 ? f->s[1] : ""};
    size_t ns = f->nstr;
    size_t n = in->nparts;
    wg_input *level = malloc((n + 1) * sizeof *level);
    if (!level) {
        L->e = WEFT_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n && !L->e; i++) {
        pending p;
        if (!take(L, in, i, &p))
            break;
        add_step(L, &p, f->op, s, ns, 0);
        fstate tmp = {&p, &(wg_node){NO_NODE}};
        level[i] = wg_node_in(make_node(L, in, &tmp, 0));
        free(p.prog.p);
    }
    pbuf comb = {0}, fin = {0};
    if (!L->e &&
        (!pb_step(&comb, f->op, s, 2, 0) || !pb_step(&fin, f->op, s, 2, 1)))
        L->e = WEFT_ENOMEM;
    while (!L->e && n > 1) { /* combine in a tree */
        size_t m = 0;
        for (size_t i = 0; i < n && !L->e; i += FANIN, m++) {
            size_t k = n - i < FANIN ? n - i : FANIN;
            wg_node id = wg_add(L->g, "wd_k_reduce", comb.p, comb.len,
                                &level[i], k, "combine", false);
            L->ops++;
            if (id == NO_NODE)
                L->e = WEFT_ENOMEM;
            level[m] = wg_node_in(id);
        }
        n = m;
    }
    if (!L->e) {
        wg_node id = wg_add(L->g, "wd_k_reduce", fin.p, fin.len, level, 1,
                            op_name(f->op), true);
        L->ops++;
        if (id == NO_NODE)
            L->e = WEFT_ENOMEM;
        else
            fs->node[0] = id;
    }
    free(comb.p);
    free(fin.p);
    free(level);
}

static void lower_frame(lower *L, wd_frame *f)
{
    fstate *fs = calloc(1, sizeof *fs);
    if (fs) {
        fs->pend = calloc(f->nparts + 1, sizeof *fs->pend);
        fs->node = malloc((f->nparts + 1) * sizeof *fs->node);
    }
    if (!fs || !fs->pend || !fs->node) {
        if (fs) {
            free(fs->pend);
            free(fs->node);
        }
        free(fs);
        L->e = WEFT_ENOMEM;
        return;
    }
    for (size_t i = 0; i < f->nparts; i++)
        fs->node[i] = NO_NODE;
    f->st = fs;
    if (f->persisted || f->kind == K_CSV || f->kind == K_FILE ||
        f->kind == K_TABLE) {
        lower_source(L, f, fs);
        return;
    }
    switch (f->kind) {
    case K_STEP: {
        char *sel = f->op == WD_SELECT ? select_needed(f) : NULL;
        char *types = NULL;
        if (f->op == WD_CAST && !cast_needed(f, &sel, &types))
            L->e = WEFT_ENOMEM;
        const char *s[2] = {sel ? sel : f->s[0], types         ? types
                                                 : f->nstr > 1 ? f->s[1]
                                                               : ""};
        for (size_t i = 0; i < f->nparts && !L->e; i++)
            if (take(L, f->in[0], i, &fs->pend[i]))
                add_step(L, &fs->pend[i], f->op, s, f->nstr, f->n);
        free(sel);
        free(types);
        break;
    }
    case K_JOIN: {
        wg_node right = gather(L, f->in[1], 0, 0);
        /* only the output columns something uses are made ("": all) */
        char *keep = wanted_list(f);
        if (!keep) {
            L->e = WEFT_ENOMEM;
            break;
        }
        const char *s[3] = {f->s[0], f->s[1], keep};
        for (size_t i = 0; i < f->nparts && !L->e; i++) {
            pending *p = &fs->pend[i];
            if (!take(L, f->in[0], i, p))
                break;
            if (p->nin == MAX_IN) { /* make room: start from a node */
                fstate tmp = {p, &(wg_node){NO_NODE}};
                start_from(L, p, make_node(L, f->in[0], &tmp, 0));
            }
            p->in[p->nin] = wg_node_in(right);
            add_step(L, p, WD_JOIN, s, 3, p->nin++);
        }
        free(keep);
        break;
    }
    case K_REDUCE:
        lower_reduce(L, f, fs);
        break;
    case K_GATHER: {
        /* head/tail cut each partition first */
        wd_op pre = f->op == WD_SORT ? 0 : f->op;
        wg_node id = gather(L, f->in[0], pre, f->n);
        if (L->e)
            break;
        start_from(L, &fs->pend[0], id);
        const char *s[2] = {f->nstr ? f->s[0] : "", f->nstr > 1 ? f->s[1] : ""};
        add_step(L, &fs->pend[0], f->op, s, f->nstr, f->n);
        break;
    }
    case K_CONCAT: {
        size_t k = 0;
        for (size_t j = 0; j < f->nin && !L->e; j++)
            for (size_t i = 0; i < f->in[j]->nparts && !L->e; i++)
                take(L, f->in[j], i, &fs->pend[k++]);
        break;
    }
    default:
        break;
    }
}

static void state_free(wd_frame *f)
{
    fstate *fs = state_of(f);
    if (!fs)
        return;
    for (size_t i = 0; i < f->nparts; i++)
        free(fs->pend[i].prog.p);
    free(fs->pend);
    free(fs->node);
    free(fs);
    f->st = NULL;
}

/* Lower out (and what it needs) into a new graph; *nodes gets out's
 * partition nodes. */
static wg_graph *lower_all(wd_frame *out, wg_node **nodes, size_t *ops)
{
    wd_ctx *ctx = out->ctx;
    ctx->err[0] = '\0';
    lower L = {ctx, wg_new(ctx->rt), 0, 0, NULL, 0};
    if (!L.g) {
        fail(ctx, "out of memory");
        return NULL;
    }
    L.e = plan_needs(ctx, out);
    for (size_t k = 0; k < ctx->nframes && !L.e; k++)
        if (ctx->frames[k]->needed)
            lower_frame(&L, ctx->frames[k]);
    *nodes = malloc((out->nparts + 1) * sizeof **nodes);
    if (!*nodes && !L.e)
        L.e = WEFT_ENOMEM;
    for (size_t i = 0; i < out->nparts && !L.e; i++)
        (*nodes)[i] = make_node(&L, out, state_of(out), i);
    for (size_t k = 0; k < ctx->nframes; k++)
        state_free(ctx->frames[k]);
    for (size_t i = 0; i < L.nheld; i++)
        weft_release(ctx->rt, L.held[i]);
    free(L.held);
    if (ops)
        *ops = L.ops;
    if (L.e) {
        if (!ctx->err[0])
            fail(ctx, "%s", weft_strerror(L.e));
        free(*nodes);
        *nodes = NULL;
        wg_free(L.g);
        return NULL;
    }
    return L.g;
}

/* ------------------------------------------------------------ running */

/* Run f; refs[i] is partition i's object (the caller releases them). */
static weft_err run(wd_frame *f, weft_ref **refs)
{
    wd_ctx *ctx = f->ctx;
    wg_node *nodes;
    wg_graph *g = lower_all(f, &nodes, NULL);
    if (!g)
        return WEFT_EINVAL;
    *refs = calloc(f->nparts + 1, sizeof **refs);
    wg_opts o = {.progress = ctx->progress};
    weft_err e =
        *refs ? wg_compute(g, nodes, f->nparts, *refs, &o, NULL) : WEFT_ENOMEM;
    if (e)
        fail(ctx, "compute: %s", weft_strerror(e));
    if (e) {
        free(*refs);
        *refs = NULL;
    }
    free(nodes);
    wg_free(g);
    return e;
}

/* Partition i's table (failed tasks: their message in ctx->err). */
static weft_err fetch(wd_ctx *ctx, weft_ref r, wf_table *t)
{
    weft_value v;
    weft_err e = weft_get(ctx->rt, r, &v, WEFT_FOREVER);
    if (e) {
        /* "task ... failed on ...: wd_k_part ('filter #3'): what" reads
         * "filter #3: what" */
        const char *why = weft_error_message(ctx->rt, r);
        const char *k = why ? strstr(why, "wd_k_") : NULL;
        const char *open = k ? strstr(k, " ('") : NULL;
        const char *close = open ? strstr(open, "'): ") : NULL;
        if (close)
            fail(ctx, "%.*s: %s", (int)(close - open - 3), open + 3, close + 4);
        else
            fail(ctx, "%s", why ? why : weft_strerror(e));
        return e;
    }
    return wf_table_decode(v.u.buf.data, v.u.buf.len, t, ctx->err,
                           sizeof ctx->err);
}

static void release_all(wd_ctx *ctx, weft_ref *refs, size_t n)
{
    for (size_t i = 0; refs && i < n; i++)
        if (refs[i].id)
            weft_release(ctx->rt, refs[i]);
    free(refs);
}

wd_table *wd_compute(wd_frame *f)
{
    if (!f)
        return NULL;
    wd_ctx *ctx = f->ctx;
    weft_ref *refs;
    if (run(f, &refs))
        return NULL;
    wd_table *out = calloc(1, sizeof *out);
    weft_err e = out ? 0 : WEFT_ENOMEM;
    if (out)
        wf_table_init(&out->t);
    for (size_t i = 0; i < f->nparts && !e; i++) {
        wf_table t;
        if ((e = fetch(ctx, refs[i], &t)))
            break;
        weft_release(ctx->rt, refs[i]);
        refs[i].id = 0;
        if (i == 0) {
            out->t = t;
            continue;
        }
        e = wf_table_append(&out->t, &t, ctx->err, sizeof ctx->err);
        wf_table_free(&t);
    }
    if (!e && f->nparts == 0)
        e = wf_table_head(&f->proto, 0, &out->t);
    release_all(ctx, refs, f->nparts);
    if (e) {
        if (!ctx->err[0])
            fail(ctx, "%s", weft_strerror(e));
        wd_table_free(out);
        return NULL;
    }
    return out;
}

weft_err wd_persist(wd_frame *f)
{
    if (!f)
        return WEFT_EINVAL;
    if (f->persisted)
        return 0;
    weft_ref *refs;
    weft_err e = run(f, &refs);
    if (e)
        return e;
    /* wait, so a failure shows here and not in every later compute */
    for (size_t i = 0; i < f->nparts && !e; i++) {
        weft_value v;
        if ((e = weft_get(f->ctx->rt, refs[i], &v, WEFT_FOREVER))) {
            const char *why = weft_error_message(f->ctx->rt, refs[i]);
            fail(f->ctx, "persist: %s", why ? why : weft_strerror(e));
        }
    }
    if (e) {
        release_all(f->ctx, refs, f->nparts);
        return e;
    }
    for (size_t i = 0; f->parts && i < f->nparts; i++)
        weft_release(f->ctx->rt, f->parts[i]);
    free(f->parts);
    f->parts = refs;
    f->persisted = true;
    return 0;
}

weft_err wd_to_csv(wd_frame *f, const char *path)
{
    if (!f || !path)
        return WEFT_EINVAL;
    wd_ctx *ctx = f->ctx;
    weft_ref *refs;
    weft_err e = run(f, &refs);
    if (e)
        return e;
    FILE *out = fopen(path, "w");
    if (!out) {
        fail(ctx, "to_csv %s: cannot create it", path);
        release_all(ctx, refs, f->nparts);
        return WEFT_EIO;
    }
    if (f->nparts == 0)
        e = wf_table_write_csv(out, &f->proto, true);
    for (size_t i = 0; i < f->nparts && !e; i++) {
        wf_table t;
        if ((e = fetch(ctx, refs[i], &t)))
            break;
        weft_release(ctx->rt, refs[i]);
        refs[i].id = 0;
        if ((e = wf_table_write_csv(out, &t, i == 0)))
            fail(ctx, "to_csv %s: write failed (disk full?)", path);
        wf_table_free(&t);
    }
    if (fclose(out) != 0 && !e) {
        e = WEFT_EIO;
        fail(ctx, "to_csv %s: write failed (disk full?)", path);
    }
    release_all(ctx, refs, f->nparts);
    return e;
}

weft_err wd_to_file(wd_frame *f, const char *path)
{
    if (!f || !path)
        return WEFT_EINVAL;
    wd_ctx *ctx = f->ctx;
    weft_ref *refs;
    weft_err e = run(f, &refs);
    if (e)
        return e;
    size_t n = f->nparts ? f->nparts : 1;
    wf_table *groups = calloc(n, sizeof *groups);
    if (!groups)
        e = WEFT_ENOMEM;
    else if (f->nparts == 0)
        e = wf_table_head(&f->proto, 0, &groups[0]);
    size_t got = f->nparts ? 0 : 1;
    for (size_t i = 0; i < f->nparts && !e; i++, got++) {
        if ((e = fetch(ctx, refs[i], &groups[i])))
            break;
        weft_release(ctx->rt, refs[i]);
        refs[i].id = 0;
    }
    if (!e)
        e = wf_tfile_write(path, groups, n, ctx->err, sizeof ctx->err);
    for (size_t i = 0; groups && i < got; i++)
        wf_table_free(&groups[i]);
    free(groups);
    release_all(ctx, refs, f->nparts);
    return e;
}

weft_err wd_visualize(wd_frame *f, const char *path)
{
    if (!f || !path)
        return WEFT_EINVAL;
    wg_node *nodes;
    wg_graph *g = lower_all(f, &nodes, NULL);
    if (!g)
        return WEFT_EINVAL;
    size_t l = strlen(path);
    weft_err e;
    if (l > 4 && strcmp(path + l - 4, ".svg") == 0) {
        e = wg_write_svg(g, nodes, f->nparts, false, path);
    } else {
        FILE *out = fopen(path, "w");
        e = out ? wg_write_dot(g, nodes, f->nparts, false, out) : WEFT_EIO;
        if (out && fclose(out) != 0 && !e)
            e = WEFT_EIO;
    }
    if (e)
        fail(f->ctx, "visualize %s: %s", path,
             e == WEFT_ESYS ? "Graphviz's dot could not be run"
                            : weft_strerror(e));
    free(nodes);
    wg_free(g);
    return e;
}

weft_err wd_graph_size(wd_frame *f, size_t *before, size_t *after)
{
    if (!f)
        return WEFT_EINVAL;
    wg_node *nodes;
    size_t ops;
    wg_graph *g = lower_all(f, &nodes, &ops);
    if (!g)
        return WEFT_EINVAL;
    /* the tasks, without running them: DOT's boxes */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    weft_err e = m ? wg_write_dot(g, nodes, f->nparts, false, m) : WEFT_ENOMEM;
    if (m)
        fclose(m);
    size_t tasks = 0;
    for (char *p = buf; !e && p && (p = strstr(p, "[label=")); p++)
        tasks++;
    for (char *p = buf; !e && p && (p = strstr(p, "(persisted)")); p++)
        tasks--;
    free(buf);
    free(nodes);
    wg_free(g);
    if (before)
        *before = ops;
    if (after)
        *after = tasks;
    return e;
}

/* ------------------------------------------------------------ tables */

size_t wd_table_nrows(const wd_table *t)
{
    return t->t.nrows;
}

size_t wd_table_ncols(const wd_table *t)
{
    return t->t.ncols;
}

const char *wd_table_col_name(const wd_table *t, size_t col)
{
    return col < t->t.ncols ? t->t.names[col] : NULL;
}

wd_type wd_table_col_type(const wd_table *t, size_t col)
{
    return col < t->t.ncols ? (wd_type)t->t.cols[col].type : 0;
}

long wd_table_find(const wd_table *t, const char *name)
{
    return wf_table_find(&t->t, name);
}

static const wf_column *cell(const wd_table *t, size_t row, size_t col)
{
    if (col >= t->t.ncols || row >= t->t.nrows ||
        !wf_col_present(&t->t.cols[col], row))
        return NULL;
    return &t->t.cols[col];
}

bool wd_table_is_null(const wd_table *t, size_t row, size_t col)
{
    return cell(t, row, col) == NULL;
}

int64_t wd_table_i64(const wd_table *t, size_t row, size_t col)
{
    const wf_column *c = cell(t, row, col);
    if (!c)
        return 0;
    switch (c->type) {
    case WF_COL_I64:
    case WF_COL_DATE:
    case WF_COL_TS:
        return c->v.i64[row];
    case WF_COL_BOOL:
        return c->v.b[row];
    default:
        return 0;
    }
}

double wd_table_f64(const wd_table *t, size_t row, size_t col)
{
    const wf_column *c = cell(t, row, col);
    if (!c)
        return __builtin_nan("");
    if (c->type == WF_COL_F64)
        return c->v.f64[row];
    if (c->type == WF_COL_I64 || c->type == WF_COL_BOOL)
        return (double)wd_table_i64(t, row, col);
    return __builtin_nan("");
}

bool wd_table_bool(const wd_table *t, size_t row, size_t col)
{
    const wf_column *c = cell(t, row, col);
    return c && c->type == WF_COL_BOOL && c->v.b[row];
}

const char *wd_table_str(const wd_table *t, size_t row, size_t col, size_t *len)
{
    const wf_column *c = cell(t, row, col);
    if (!c || c->type != WF_COL_STR) {
        *len = 0;
        return "";
    }
    return wf_col_str(c, row, len);
}

void wd_table_print(FILE *f, const wd_table *t, size_t max_rows)
{
    wf_table_print(f, &t->t, max_rows);
}

weft_err wd_table_write_csv(FILE *f, const wd_table *t)
{
    return wf_table_write_csv(f, &t->t, true);
}

void wd_table_free(wd_table *t)
{
    if (!t)
        return;
    wf_table_free(&t->t);
    free(t);
}
