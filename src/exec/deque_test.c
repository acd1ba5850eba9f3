/* Tests of the work-stealing deque: LIFO for the owner, FIFO for thieves,
 * growth that keeps every item, and a concurrent property test in which
 * every item pushed is taken exactly once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "exec/deque.h"

#include "testutil.h"

/* Items are small integers from 1 (NULL means "none"). */
static void *item(uintptr_t i)
{
    return (void *)i;
}

static uintptr_t id_of(void *p)
{
    return (uintptr_t)p;
}

static void test_lifo_pop_fifo_steal(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_deque d;
    assert_int_equal(wf_deque_init(&d, 8), 0);
    assert_true(wf_deque_empty(&d));
    assert_null(wf_deque_pop(&d));
    assert_null(wf_deque_steal(&d));
    for (uintptr_t i = 1; i <= 5; i++)
        assert_int_equal(wf_deque_push(&d, item(i)), 0);
    assert_false(wf_deque_empty(&d));
    assert_int_equal(id_of(wf_deque_pop(&d)), 5);   /* newest */
    assert_int_equal(id_of(wf_deque_steal(&d)), 1); /* oldest */
    assert_int_equal(id_of(wf_deque_pop(&d)), 4);
    assert_int_equal(id_of(wf_deque_steal(&d)), 2);
    assert_int_equal(id_of(wf_deque_pop(&d)), 3);
    assert_null(wf_deque_pop(&d));
    assert_null(wf_deque_steal(&d));
    assert_true(wf_deque_empty(&d));

    /* Still works after emptying, many times around the ring. */
    for (uintptr_t round = 0; round < 100; round++) {
        for (uintptr_t i = 1; i <= 6; i++)
            assert_int_equal(wf_deque_push(&d, item(round * 10 + i)), 0);
        assert_int_equal(id_of(wf_deque_steal(&d)), round * 10 + 1);
        assert_int_equal(id_of(wf_deque_pop(&d)), round * 10 + 6);
        assert_int_equal(id_of(wf_deque_steal(&d)), round * 10 + 2);
        for (uintptr_t i = 5; i >= 3; i--)
            assert_int_equal(id_of(wf_deque_pop(&d)), round * 10 + i);
        assert_null(wf_deque_pop(&d));
    }
    wf_deque_destroy(&d);
    assert_int_equal(wf_alloc_bytes(), a0);
}

static void test_growth_keeps_items(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    enum { N = 10000 };
    wf_deque d;
    assert_int_equal(wf_deque_init(&d, 2), 0);

    /* Owner only: pushes past capacity, pops everything newest first. */
    for (uintptr_t i = 1; i <= N; i++)
        assert_int_equal(wf_deque_push(&d, item(i)), 0);
    for (uintptr_t i = N; i >= 1; i--)
        assert_int_equal(id_of(wf_deque_pop(&d)), i);
    assert_null(wf_deque_pop(&d));

    /* Thieves only: oldest first. */
    for (uintptr_t i = 1; i <= N; i++)
        assert_int_equal(wf_deque_push(&d, item(i)), 0);
    for (uintptr_t i = 1; i <= N; i++)
        assert_int_equal(id_of(wf_deque_steal(&d)), i);
    assert_null(wf_deque_steal(&d));
    wf_deque_destroy(&d);

    /* Growth while the top is not at 0 and the ring has wrapped: the
     * live range [top, bottom) is what is copied. */
    assert_int_equal(wf_deque_init(&d, 4), 0);
    uintptr_t next = 1, oldest = 1;
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 3 + round * 5; i++)
            assert_int_equal(wf_deque_push(&d, item(next++)), 0);
        for (int i = 0; i < 2 + round * 3; i++)
            assert_int_equal(id_of(wf_deque_steal(&d)), oldest++);
    }
    while (oldest < next)
        assert_int_equal(id_of(wf_deque_steal(&d)), oldest++);
    assert_null(wf_deque_steal(&d));
    wf_deque_destroy(&d); /* frees every array it grew through (ASan) */
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* Growing fails: push says so and the deque keeps what it had. */
static void test_growth_failure(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_deque d;
    wf_alloc_fail_after(1);
    assert_int_equal(wf_deque_init(&d, 4), -1);
    wf_alloc_fail_after(0);
    assert_int_equal(wf_alloc_bytes(), a0);

    assert_int_equal(wf_deque_init(&d, 4), 0);
    for (uintptr_t i = 1; i <= 4; i++)
        assert_int_equal(wf_deque_push(&d, item(i)), 0);
    wf_alloc_fail_after(1);
    assert_int_equal(wf_deque_push(&d, item(5)), -1);
    wf_alloc_fail_after(0);
    assert_int_equal(wf_deque_push(&d, item(6)), 0); /* grows now */
    assert_int_equal(id_of(wf_deque_steal(&d)), 1);
    assert_int_equal(id_of(wf_deque_pop(&d)), 6);
    for (uintptr_t i = 4; i >= 2; i--)
        assert_int_equal(id_of(wf_deque_pop(&d)), i);
    assert_null(wf_deque_pop(&d));
    wf_deque_destroy(&d);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* One owner pushes and pops random batches while thieves steal; every
 * item is taken exactly once. */
#define THIEVES 3

typedef struct {
    wf_deque d;
    uintptr_t n;
    _Atomic unsigned char *taken; /* by item id */
    _Atomic bool done;
    _Atomic int ready; /* thieves running: the owner starts after them */
    _Atomic long dup, bogus;
    _Atomic long popped, stolen, push_failed;
    uint64_t seed;
} cc_ctx;

static void take(cc_ctx *c, void *p)
{
    uintptr_t i = id_of(p);
    if (i == 0 || i > c->n) {
        atomic_fetch_add(&c->bogus, 1);
        return;
    }
    if (atomic_fetch_add(&c->taken[i], 1) != 0)
        atomic_fetch_add(&c->dup, 1);
}

static void *thief(void *arg)
{
    cc_ctx *c = arg;
    long mine = 0;
    atomic_fetch_add(&c->ready, 1);
    for (;;) {
        bool done = atomic_load(&c->done);
        void *p = wf_deque_steal(&c->d);
        if (p) {
            take(c, p);
            mine++;
        } else if (done && wf_deque_empty(&c->d)) {
            break;
        }
    }
    atomic_fetch_add(&c->stolen, mine);
    return NULL;
}

static void *owner(void *arg)
{
    cc_ctx *c = arg;
    uint64_t r = c->seed;
    uintptr_t next = 1;
    long mine = 0;
    while (atomic_load(&c->ready) < THIEVES)
        ;
    while (next <= c->n) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        unsigned batch = 1 + (unsigned)((r >> 33) % 64);
        unsigned pops = (unsigned)((r >> 45) % (batch + 1));
        for (unsigned i = 0; i < batch && next <= c->n; i++) {
            if (wf_deque_push(&c->d, item(next)) != 0) {
                atomic_fetch_add(&c->push_failed, 1);
                continue;
            }
            next++;
        }
        for (unsigned i = 0; i < pops; i++) {
            void *p = wf_deque_pop(&c->d);
            if (!p)
                break;
            take(c, p);
            mine++;
        }
    }
    /* Drain what the thieves have not taken. When pop says empty, no item
     * is left: the last one went to a thief that won the race for it. */
    void *p;
    while ((p = wf_deque_pop(&c->d))) {
        take(c, p);
        mine++;
    }
    atomic_fetch_add(&c->popped, mine);
    atomic_store(&c->done, true);
    return NULL;
}

static void run_concurrent(uintptr_t n, size_t cap, uint64_t seed)
{
    uint64_t a0 = wf_alloc_bytes();
    cc_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->n = n;
    c->seed = seed;
    c->taken = calloc(n + 1, 1);
    assert_non_null(c->taken);
    assert_int_equal(wf_deque_init(&c->d, cap), 0);
    pthread_t th[THIEVES], ow;
    for (int i = 0; i < THIEVES; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thief, c), 0);
    assert_int_equal(pthread_create(&ow, NULL, owner, c), 0);
    pthread_join(ow, NULL);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(th[i], NULL);

    assert_int_equal(atomic_load(&c->push_failed), 0);
    assert_int_equal(atomic_load(&c->bogus), 0);
    assert_int_equal(atomic_load(&c->dup), 0);
    uintptr_t missing = 0, first_missing = 0;
    for (uintptr_t i = 1; i <= n; i++)
        if (atomic_load(&c->taken[i]) != 1 && !missing++)
            first_missing = i;
    if (missing)
        fail_msg("%lu of %lu items never taken (first: %lu)",
                 (unsigned long)missing, (unsigned long)n,
                 (unsigned long)first_missing);
    assert_int_equal(atomic_load(&c->popped) + atomic_load(&c->stolen),
                     (long)n);
    assert_true(wf_deque_empty(&c->d));
    wf_deque_destroy(&c->d);
    free((void *)c->taken);
    free(c);
    assert_int_equal(wf_alloc_bytes(), a0);
}

static void test_concurrent_exactly_once(void **state)
{
    run_concurrent((uintptr_t)scaled(1000000), 16, 0x853c49e6748fea9bull);
}

/* A tiny initial ring, so growth races with thieves all along. */
static void test_concurrent_small_ring(void **state)
{
    for (uint64_t seed = 1; seed <= 4; seed++)
        run_concurrent((uintptr_t)scaled(100000), 2,
                       seed * 0x9e3779b97f4a7c15ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifo_pop_fifo_steal),
        cmocka_unit_test(test_growth_keeps_items),
        cmocka_unit_test(test_growth_failure),
        cmocka_unit_test(test_concurrent_exactly_once),
        cmocka_unit_test(test_concurrent_small_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
