/* Small helpers shared by the benchmarks (header only: CMake builds every
 * bench .c file into its own program).
 *
 * Output: one line per measurement, "name value unit", on stdout; context
 * lines start with '#'. Timings are the median (or best, where said) of a
 * few repetitions, and the individual runs are printed on a '#' line. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "name value unit", with a precision that suits the magnitude. */
static inline void bench_emit(const char *name, double value, const char *unit)
{
    double a = value < 0 ? -value : value;
    if (a >= 1e5 || (a == (double)(int64_t)a && a < 1e15))
        printf("%s %.0f %s\n", name, value, unit);
    else if (a >= 100)
        printf("%s %.1f %s\n", name, value, unit);
    else if (a >= 1)
        printf("%s %.3f %s\n", name, value, unit);
    else
        printf("%s %.4g %s\n", name, value, unit);
    fflush(stdout);
}

static inline void bench_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts a copy). */
static inline double bench_median(const double *v, int n)
{
    double tmp[64];
    if (n <= 0 || n > 64)
        return 0;
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, bench_cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static inline double bench_min(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

/* "# name runs=a,b,c (unit)" */
static inline void bench_runs(const char *name, const double *v, int n,
                              double scale, const char *unit)
{
    printf("# %s runs=", name);
    for (int i = 0; i < n; i++)
        printf("%s%.4g", i ? "," : "", v[i] * scale);
    printf(" %s\n", unit);
    fflush(stdout);
}

/* Resident set size of this process in bytes (VmRSS from /proc/self/status),
 * 0 if unknown. */
static inline uint64_t bench_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", (unsigned long long *)&kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* "# who: load average 1m 5m 15m; cpu pressure some avg10 avg60" from
 * /proc/loadavg and /proc/pressure/cpu: other work on the machine skews
 * every figure, so each benchmark prints this first. */
static inline void bench_note_load(const char *who)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = -1, b = -1, c = -1, p10 = -1, p60 = -1;
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
            a = b = c = -1;
        fclose(f);
    }
    f = fopen("/proc/pressure/cpu", "r");
    if (f) {
        if (fscanf(f, "some avg10=%lf avg60=%lf", &p10, &p60) != 2)
            p10 = p60 = -1;
        fclose(f);
    }
    bench_note("%s: load average %.2f %.2f %.2f; cpu pressure (some) avg10 "
               "%.1f%% avg60 %.1f%%",
               who, a, b, c, p10, p60);
}

/* Exit with a message when a weft call fails (benchmarks have no recovery). */
#define BENCH_CHECK(expr)                                                      \
    do {                                                                       \
        weft_err bench_e_ = (expr);                                            \
        if (bench_e_) {                                                        \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__,  \
                    #expr, weft_err_name(bench_e_), weft_last_error());        \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Exit with "who: what: got X, expected Y" when a checked result is wrong. */
static inline void bench_check_eq(const char *who, const char *what,
                                  int64_t got, int64_t want)
{
    if (got != want) {
        fprintf(stderr, "%s: %s: got %lld, expected %lld\n", who, what,
                (long long)got, (long long)want);
        exit(1);
    }
}

/* ------------------------------------------------------ inc and add tasks
 * The tiny tasks of tasks.c and vs_dask_weft.c and the workloads built of
 * them. A program that wants them defines BENCH_INC_ADD before including
 * this header (the others do not register `inc` and `add`). None of these
 * helpers reads the clock: the caller times what it measures. */
#ifdef BENCH_INC_ADD

/* inc(x) = x + 1 */
static weft_err inc(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + 1);
}
WEFT_REGISTER_SIG(inc, "i");

/* add(a, b) = a + b */
static weft_err add(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + weft_arg_i64(t, 1));
}
WEFT_REGISTER_SIG(add, "ii");

/* Submit inc(i) into refs[i] for i in [from, to) (opts may be NULL). */
static inline void bench_submit_inc(weft_runtime *rt, weft_ref *refs, long from,
                                    long to, const weft_task_opts *opts)
{
    for (long i = from; i < to; i++)
        BENCH_CHECK(
            weft_submit(rt, "inc", WEFT_ARGS(weft_i64(i)), opts, &refs[i]));
}

/* Get, release and sum the integer results refs[from..to). */
static inline int64_t bench_get_sum(weft_runtime *rt, weft_ref *refs, long from,
                                    long to)
{
    int64_t sum = 0;
    for (long i = from; i < to; i++) {
        int64_t v;
        BENCH_CHECK(weft_get_i64(rt, refs[i], &v, WEFT_FOREVER));
        sum += v;
        weft_release(rt, refs[i]);
    }
    return sum;
}

/* Submit a chain of n tasks: first_fn(first_arg), then n - 1 inc tasks
 * each taking the previous result. Returns the last reference. */
static inline weft_ref bench_submit_chain(weft_runtime *rt, long n,
                                          weft_value first_arg,
                                          const char *first_fn)
{
    weft_ref prev;
    BENCH_CHECK(weft_submit(rt, first_fn, &first_arg, 1, NULL, &prev));
    for (long i = 1; i < n; i++) {
        weft_ref cur;
        BENCH_CHECK(
            weft_submit(rt, "inc", WEFT_ARGS(weft_refv(prev)), NULL, &cur));
        weft_release(rt, prev);
        prev = cur;
    }
    return prev;
}

/* Tree reduction: inc(i) leaves for i in [0, leaves), summed pairwise by add
 * tasks in level[] (room for `leaves` references). Returns the root's value;
 * level[0] still holds the root, for the caller to release. */
static inline int64_t bench_tree_reduce(weft_runtime *rt, weft_ref *level,
                                        long leaves)
{
    bench_submit_inc(rt, level, 0, leaves, NULL);
    for (long n = leaves; n > 1; n = (n + 1) / 2) {
        for (long i = 0; i < n / 2; i++) {
            weft_ref a = level[2 * i], b = level[2 * i + 1];
            BENCH_CHECK(weft_submit(rt, "add",
                                    WEFT_ARGS(weft_refv(a), weft_refv(b)), NULL,
                                    &level[i]));
            weft_release(rt, a);
            weft_release(rt, b);
        }
        if (n % 2)
            level[n / 2] = level[n - 1];
    }
    int64_t sum;
    BENCH_CHECK(weft_get_i64(rt, level[0], &sum, WEFT_FOREVER));
    return sum;
}

#endif /* BENCH_INC_ADD */

#endif
