/* Helpers for unit tests that drive a libuv loop by hand (the net and
 * cluster tests). Include after testutil.h. */
#ifndef WEFT_TESTS_UVTEST_H
#define WEFT_TESTS_UVTEST_H

#include <string.h>

#include <uv.h>

#include "net/auth.h"

/* Run (x)->loop until cond holds, for at most 20 s (generous: sanitizers),
 * then assert it. */
#define RUN_UNTIL(x, cond)                                                     \
    do {                                                                       \
        uint64_t t0_ = uv_hrtime();                                            \
        while (!(cond) && uv_hrtime() - t0_ < 20000000000ull) {                \
            uv_run(&(x)->loop, UV_RUN_NOWAIT);                                 \
            if (!(cond))                                                       \
                sleep_ms(1);                                                   \
        }                                                                      \
        assert_true(cond);                                                     \
    } while (0)

/* A 32-byte token of one repeated byte (fill): tests need a good and a
 * bad one. */
static inline void make_token(wf_token *t, char fill)
{
    char b[32];
    memset(b, fill, sizeof b);
    OK(wf_token_set(t, b, sizeof b));
}

#endif
