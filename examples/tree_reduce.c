/* A task graph: 1024 leaves, then a binary tree of additions whose
 * arguments are the results of the level below. Nothing waits until the
 * final get: each add runs as soon as its two inputs exist. */
#include <stdio.h>

#include <weft/weft.h>

enum { LEAVES = 1024, RANGE = 1000 };

/* leaf(i): the sum of i*RANGE .. i*RANGE + RANGE-1. */
static weft_err leaf(weft_task *t)
{
    int64_t first = weft_arg_i64(t, 0) * RANGE, sum = 0;
    for (int64_t x = first; x < first + RANGE; x++)
        sum += x;
    return weft_return_i64(t, sum);
}
WEFT_REGISTER_SIG(leaf, "i");

static weft_err add(weft_task *t)
{
    return weft_return_i64(t, weft_arg_i64(t, 0) + weft_arg_i64(t, 1));
}
WEFT_REGISTER_SIG(add, "ii");

int main(void)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));

    weft_ref level[LEAVES];
    for (int i = 0; i < LEAVES; i++)
        WEFT_CHECK(
            weft_submit(rt, "leaf", WEFT_ARGS(weft_i64(i)), NULL, &level[i]));

    /* Each pass halves the level: level[i] = add(level[2i], level[2i+1]).
     * The inputs are released as soon as their consumer is submitted; the
     * runtime keeps them alive until that task has used them. */
    for (size_t n = LEAVES; n > 1; n = (n + 1) / 2) {
        for (size_t i = 0; i < n / 2; i++) {
            weft_ref a = level[2 * i], b = level[2 * i + 1];
            WEFT_CHECK(weft_submit(rt, "add",
                                   WEFT_ARGS(weft_refv(a), weft_refv(b)), NULL,
                                   &level[i]));
            weft_release(rt, a);
            weft_release(rt, b);
        }
        if (n % 2)
            level[n / 2] = level[n - 1]; /* the odd one out moves up */
    }

    int64_t sum;
    WEFT_CHECK(weft_get_i64(rt, level[0], &sum, WEFT_FOREVER));
    weft_release(rt, level[0]);
    weft_shutdown(rt);

    int64_t n = (int64_t)LEAVES * RANGE, expected = n * (n - 1) / 2;
    printf("tree_reduce: sum=%lld expected=%lld %s\n", (long long)sum,
           (long long)expected, sum == expected ? "OK" : "WRONG");
    return sum == expected ? 0 : 1;
}
