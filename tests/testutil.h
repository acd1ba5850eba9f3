/* Small helpers shared by the cmocka tests, the unit tests beside their
 * modules in src/ and the black-box tests in tests/ (header only: every
 * test file is its own program).
 *
 * Include it after the test file's own includes; it brings in cmocka (with
 * the headers cmocka needs first) and the public API, <weft/weft.h>. */
#ifndef WEFT_TESTUTIL_H
#define WEFT_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

/* ------------------------------------------------------------ scale */

/* True under WEFT_TEST_SCALE=sanitize (sanitizer builds run less). */
static inline bool sanitize_scale(void)
{
    const char *s = getenv("WEFT_TEST_SCALE");
    return s && strcmp(s, "sanitize") == 0;
}

/* n, or n / div (at least 1) under WEFT_TEST_SCALE=sanitize. */
static inline int scaled_by(int n, int div)
{
    return sanitize_scale() ? (n / div > 0 ? n / div : 1) : n;
}

/* n, or a tenth of it (at least 1) under WEFT_TEST_SCALE=sanitize. */
static inline int scaled(int n)
{
    return scaled_by(n, 10);
}

/* ------------------------------------------------------------ random */

/* xorshift64*: the next number from *state (same seed, same sequence). */
static inline uint64_t xorshift_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A number in [0, n) from xorshift_next (0 when n is 0). */
static inline uint64_t xorshift_below(uint64_t *state, uint64_t n)
{
    return n ? xorshift_next(state) % n : 0;
}

/* ------------------------------------------------------------ time */

/* Sleep for ms milliseconds. */
static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ checks */

/* Fail the test, naming the call, its error and weft_last_error(). */
static inline void check_ok(weft_err e, const char *what)
{
    if (e)
        fail_msg("%s: %s (%s)", what, weft_err_name(e), weft_last_error());
}
#define OK(call) check_ok((call), #call)

/* Fail unless got == want and weft_last_error() contains needle (if any). */
static inline void assert_err(weft_err got, weft_err want, const char *needle)
{
    if (got != want || (needle && !strstr(weft_last_error(), needle)))
        fail_msg("got %d (%s), want %d with '%s'", got, weft_last_error(), want,
                 needle ? needle : "");
}

/* ------------------------------------------------------------ runtime */

/* An embedded runtime with options o; fails the test if weft_init does. */
static inline weft_runtime *start_runtime_opts(const weft_options *o)
{
    weft_runtime *rt = NULL;
    weft_err e = weft_init(&rt, o);
    if (e)
        fail_msg("weft_init(threads=%d): %s: %s", o->num_threads,
                 weft_err_name(e), weft_last_error());
    assert_non_null(rt);
    return rt;
}

/* An embedded runtime with default options but `threads` worker threads
 * (0: one per core). */
static inline weft_runtime *start_runtime(int threads)
{
    weft_options o;
    weft_options_init(&o);
    o.num_threads = threads;
    return start_runtime_opts(&o);
}

/* Objects alive once tasks have dropped what they held (they release their
 * inputs and results a moment after publishing): polls every 0.5 ms, at
 * most `polls` times, until none is left. */
static inline uint64_t objects_settled_within(weft_runtime *rt, int polls)
{
    weft_stats s;
    for (int i = 0; i < polls; i++) {
        weft_get_stats(rt, &s);
        if (s.objects == 0)
            return 0;
        struct timespec ts = {0, 500 * 1000};
        nanosleep(&ts, NULL);
    }
    weft_get_stats(rt, &s);
    return s.objects;
}

/* objects_settled_within with the usual bound (20000 polls, 10 s or more). */
static inline uint64_t objects_settled(weft_runtime *rt)
{
    return objects_settled_within(rt, 20000);
}

#endif
