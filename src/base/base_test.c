/* Tests of the base layer: the counting allocator and its failure hook,
 * error values and their names, pooled slabs (across size classes and
 * across threads), futexes, shared memory and the assert that explains. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/errors.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "base/slab.h"

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

/* The xorshift_next state (fixed seed: the same sequence every run). */
static uint64_t rng = 0x2545f4914f6cdd1dull;

/* The byte a block of `size` with tag `tag` holds at offset i. */
static unsigned char pattern(size_t size, uint64_t tag, size_t i)
{
    return (unsigned char)((size * 31 + tag * 17 + i * 7) ^ (tag >> 8));
}

static void fill(unsigned char *p, size_t size, uint64_t tag)
{
    for (size_t i = 0; i < size; i++)
        p[i] = pattern(size, tag, i);
}

static bool intact(const unsigned char *p, size_t size, uint64_t tag)
{
    for (size_t i = 0; i < size; i++)
        if (p[i] != pattern(size, tag, i))
            return false;
    return true;
}

/* ------------------------------------------------------------ alloc */

static void test_alloc_accounting(void **state)
{
    uint64_t b0 = wf_alloc_bytes();

    unsigned char *p = wf_alloc(100);
    assert_non_null(p);
    assert_int_equal(wf_alloc_bytes(), b0 + 100);
    fill(p, 100, 1);

    unsigned char *z = wf_calloc(10, 30);
    assert_non_null(z);
    assert_int_equal(wf_alloc_bytes(), b0 + 400);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(z[i], 0);

    p = wf_realloc(p, 1000);
    assert_non_null(p);
    assert_int_equal(wf_alloc_bytes(), b0 + 1300);
    assert_true(intact(p, 100, 1));
    memset(p + 100, 0xab, 900);

    p = wf_realloc(p, 10);
    assert_non_null(p);
    assert_int_equal(wf_alloc_bytes(), b0 + 310);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(p[i], pattern(100, 1, i));

    char *s = wf_strdup("hello, weft");
    assert_non_null(s);
    assert_string_equal(s, "hello, weft");
    assert_int_equal(wf_alloc_bytes(), b0 + 310 + 12);

    void *r = wf_realloc(NULL, 50); /* acts as wf_alloc */
    assert_non_null(r);
    assert_int_equal(wf_alloc_bytes(), b0 + 310 + 12 + 50);

    void *zero = wf_alloc(0);
    assert_non_null(zero);
    assert_int_equal(wf_alloc_bytes(), b0 + 310 + 12 + 50);

    wf_free(p);
    wf_free(z);
    wf_free(s);
    wf_free(r);
    wf_free(zero);
    wf_free(NULL);
    assert_int_equal(wf_alloc_bytes(), b0);
}

static void test_alloc_overflow(void **state)
{
    uint64_t b0 = wf_alloc_bytes();
    assert_null(wf_calloc(SIZE_MAX / 2 + 1, 2));
    assert_null(wf_calloc(SIZE_MAX, SIZE_MAX));
    assert_null(wf_calloc(2, SIZE_MAX / 2 + 1));
    assert_null(wf_calloc((size_t)1 << 33, (size_t)1 << 33));
    assert_null(wf_alloc(SIZE_MAX));
    assert_null(wf_alloc(SIZE_MAX - 8));
    void *p = wf_alloc(16);
    assert_non_null(p);
    assert_null(wf_realloc(p, SIZE_MAX - 4));
    assert_int_equal(wf_alloc_bytes(), b0 + 16); /* p untouched */
    wf_free(p);
    assert_int_equal(wf_alloc_bytes(), b0);

    void *c = wf_calloc(0, 10);
    assert_non_null(c);
    wf_free(c);
    assert_int_equal(wf_alloc_bytes(), b0);
}

static void test_alloc_fail_after(void **state)
{
    uint64_t b0 = wf_alloc_bytes();
    for (uint64_t n = 1; n <= 6; n++) {
        void *ps[10];
        wf_alloc_fail_after(n);
        for (uint64_t i = 1; i <= 9; i++) {
            ps[i] = wf_alloc(8);
            if (i == n)
                assert_null(ps[i]);
            else
                assert_non_null(ps[i]);
        }
        for (uint64_t i = 1; i <= 9; i++)
            wf_free(ps[i]);
        assert_int_equal(wf_alloc_bytes(), b0);
    }

    /* Every door counts: calloc, realloc, strdup. */
    wf_alloc_fail_after(2);
    void *a = wf_calloc(4, 4);
    assert_non_null(a);
    void *b = wf_realloc(a, 64);
    assert_null(b); /* the 2nd allocation; a is still ours, still 16 bytes */
    assert_int_equal(wf_alloc_bytes(), b0 + 16);
    b = wf_realloc(a, 64);
    assert_non_null(b);
    wf_alloc_fail_after(1);
    assert_null(wf_strdup("x"));
    assert_int_equal(wf_alloc_bytes(), b0 + 64);
    wf_free(b);

    /* 0 disables a pending failure. */
    wf_alloc_fail_after(3);
    wf_alloc_fail_after(0);
    for (int i = 0; i < 8; i++) {
        void *q = wf_alloc(1);
        assert_non_null(q);
        wf_free(q);
    }
    assert_int_equal(wf_alloc_bytes(), b0);
}

#define FAIL_THREADS 4
#define FAIL_ALLOCS 2000

static _Atomic int fail_nulls;

static void *fail_thread(void *arg)
{
    for (int i = 0; i < FAIL_ALLOCS; i++) {
        void *p = wf_alloc(24);
        if (!p)
            atomic_fetch_add(&fail_nulls, 1);
        wf_free(p);
    }
    return NULL;
}

/* With threads racing on the countdown, exactly one allocation fails. */
static void test_alloc_fail_after_threads(void **state)
{
    uint64_t b0 = wf_alloc_bytes();
    for (int round = 0; round < 20; round++) {
        atomic_store(&fail_nulls, 0);
        wf_alloc_fail_after(1 +
                            xorshift_next(&rng) % (FAIL_THREADS * FAIL_ALLOCS));
        pthread_t th[FAIL_THREADS];
        for (int i = 0; i < FAIL_THREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, fail_thread, NULL),
                             0);
        for (int i = 0; i < FAIL_THREADS; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(atomic_load(&fail_nulls), 1);
    }
    wf_alloc_fail_after(0);
    assert_int_equal(wf_alloc_bytes(), b0);
}

/* ------------------------------------------------------------ errors */

static void test_err_detail(void **state)
{
    wf_err_clear();
    assert_string_equal(weft_last_error(), "");
    assert_int_equal(wf_err(WEFT_EINVAL, "weft_get: bad %s %d", "thing", 42),
                     WEFT_EINVAL);
    assert_string_equal(weft_last_error(), "weft_get: bad thing 42");
    assert_int_equal(wf_err_prefix(WEFT_ETASK, "task '%s'", "bmi"), WEFT_ETASK);
    assert_string_equal(weft_last_error(),
                        "task 'bmi': weft_get: bad thing 42");
    assert_int_equal(wf_err_prefix(WEFT_EUPSTREAM, "outer"), WEFT_EUPSTREAM);
    assert_string_equal(weft_last_error(),
                        "outer: task 'bmi': weft_get: bad thing 42");
    wf_err_clear();
    assert_string_equal(weft_last_error(), "");

    /* wf_err returns whatever code it is given, 0 included. */
    assert_int_equal(wf_err(0, "nothing"), 0);
    assert_int_equal(wf_err(WEFT_EIO, "%s", ""), WEFT_EIO);
    assert_string_equal(weft_last_error(), "");
    wf_err_clear();
}

static void test_err_detail_long(void **state)
{
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(wf_err(WEFT_EPROTO, "%s", big), WEFT_EPROTO);
    size_t n = strlen(weft_last_error());
    assert_true(n > 100 && n < sizeof big);
    assert_int_equal(strspn(weft_last_error(), "x"), n);

    assert_int_equal(wf_err_prefix(WEFT_EPROTO, "pre"), WEFT_EPROTO);
    const char *m = weft_last_error();
    assert_true(strlen(m) <= n);
    assert_memory_equal(m, "pre: xxx", 8);

    char bigpre[600];
    memset(bigpre, 'p', sizeof bigpre - 1);
    bigpre[sizeof bigpre - 1] = '\0';
    assert_int_equal(wf_err_prefix(WEFT_EIO, "%s", bigpre), WEFT_EIO);
    m = weft_last_error();
    assert_true(strlen(m) <= n);
    assert_int_equal(m[0], 'p');
    wf_err_clear();
}

static void *err_thread(void *arg)
{
    char *seen = arg;
    /* Another thread's error is not ours. */
    snprintf(seen, 64, "%s", weft_last_error());
    wf_err(WEFT_ESYS, "from the other thread");
    return NULL;
}

static void test_err_thread_local(void **state)
{
    wf_err(WEFT_EINVAL, "main's error");
    char seen[64] = "unset";
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, err_thread, seen), 0);
    pthread_join(th, NULL);
    assert_string_equal(seen, "");
    assert_string_equal(weft_last_error(), "main's error");
    wf_err_clear();
}

static const struct {
    weft_err code;
    const char *name;
    const char *msg;
} err_table[] = {
#define ROW(name, val, msg) {val, "WEFT_" #name, msg},
    WEFT_ERRNO_MAP(ROW)
#undef ROW
};
#define NERRS (sizeof err_table / sizeof err_table[0])

static void test_err_names(void **state)
{
    for (size_t i = 0; i < NERRS; i++) {
        /* Codes are appended, never renumbered: -1, -2, ... in order. */
        assert_int_equal(err_table[i].code, -(int)(i + 1));
        assert_string_equal(weft_strerror(err_table[i].code), err_table[i].msg);
        assert_string_equal(weft_err_name(err_table[i].code),
                            err_table[i].name);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(err_table[i].code, err_table[j].code);
            assert_string_not_equal(err_table[i].msg, err_table[j].msg);
        }
    }
    assert_int_equal(WEFT_EINVAL, -1);
    assert_string_equal(weft_err_name(WEFT_OK), "WEFT_OK");
    assert_non_null(weft_strerror(WEFT_OK));
    assert_true(strlen(weft_strerror(WEFT_OK)) > 0);

    const weft_err unknown[] = {1,     42,      -(int)NERRS - 1,
                                -1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        assert_string_equal(weft_strerror(unknown[i]), "unknown error");
        assert_string_equal(weft_err_name(unknown[i]), "WEFT_UNKNOWN");
    }
}

/* ------------------------------------------------------------ slabs */

#define SLAB_COPIES 3
#define SLAB_BIG_SIZES 4
static const size_t big_sizes[SLAB_BIG_SIZES] = {1025, 2000, 4096, 70000};

/* Every size 1..1024 and a few beyond: blocks are 16-byte aligned, written
 * to their full size, and none overlaps another (patterns stay intact). */
static void test_slab_sizes(void **state)
{
    size_t nsizes = WF_SLAB_MAX + SLAB_BIG_SIZES;
    unsigned char **blocks = calloc(nsizes * SLAB_COPIES, sizeof *blocks);
    assert_non_null(blocks);
    for (int round = 0; round < 2; round++) {
        for (size_t k = 0; k < nsizes; k++) {
            size_t size = k < WF_SLAB_MAX ? k + 1 : big_sizes[k - WF_SLAB_MAX];
            for (size_t c = 0; c < SLAB_COPIES; c++) {
                unsigned char *p = wf_slab_alloc(size);
                assert_non_null(p);
                assert_int_equal((uintptr_t)p % 16, 0);
                fill(p, size, k * SLAB_COPIES + c + (uint64_t)round * 7919);
                blocks[k * SLAB_COPIES + c] = p;
            }
        }
        for (size_t k = 0; k < nsizes; k++) {
            size_t size = k < WF_SLAB_MAX ? k + 1 : big_sizes[k - WF_SLAB_MAX];
            for (size_t c = 0; c < SLAB_COPIES; c++) {
                unsigned char *p = blocks[k * SLAB_COPIES + c];
                if (!intact(p, size,
                            k * SLAB_COPIES + c + (uint64_t)round * 7919))
                    fail_msg("block of %zu bytes (copy %zu) was overwritten",
                             size, c);
            }
        }
        /* Free in another order than allocated. */
        for (size_t k = nsizes; k-- > 0;) {
            size_t size = k < WF_SLAB_MAX ? k + 1 : big_sizes[k - WF_SLAB_MAX];
            for (size_t c = 0; c < SLAB_COPIES; c++)
                wf_slab_free(blocks[k * SLAB_COPIES + c], size);
        }
    }
    free(blocks);
    wf_slab_free(NULL, 10);
}

/* Requests above WF_SLAB_MAX go to wf_alloc and are counted exactly. */
static void test_slab_big_accounted(void **state)
{
    uint64_t b0 = wf_alloc_bytes();
    void *p = wf_slab_alloc(5000);
    assert_non_null(p);
    assert_int_equal(wf_alloc_bytes(), b0 + 5000);
    memset(p, 1, 5000);
    wf_slab_free(p, 5000);
    assert_int_equal(wf_alloc_bytes(), b0);
}

/* A freed block comes back to the same thread. */
static void test_slab_reuse_same_thread(void **state)
{
    void *seen[512];
    for (int i = 0; i < 512; i++) {
        seen[i] = wf_slab_alloc(200);
        assert_non_null(seen[i]);
    }
    for (int i = 0; i < 512; i++)
        wf_slab_free(seen[i], 200);
    uint64_t b0 = wf_alloc_bytes();
    for (int round = 0; round < 100; round++) {
        void *q[256];
        for (int i = 0; i < 256; i++) {
            q[i] = wf_slab_alloc(200);
            assert_non_null(q[i]);
            memset(q[i], round, 200);
        }
        for (int i = 0; i < 256; i++)
            wf_slab_free(q[i], 200);
    }
    assert_int_equal(wf_alloc_bytes(), b0); /* no new chunk was needed */
}

/* Producer/consumer: blocks allocated on one thread, freed on another. */
#define QCAP 64

typedef struct {
    void *p;
    size_t size;
    uint64_t tag;
} qitem;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    qitem items[QCAP];
    int head, count;
    bool done;
} bqueue;

static void bq_init(bqueue *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
}

static void bq_destroy(bqueue *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
}

static void bq_put(bqueue *q, qitem it)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QCAP)
        pthread_cond_wait(&q->cond, &q->lock);
    q->items[(q->head + q->count) % QCAP] = it;
    q->count++;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static bool bq_get(bqueue *q, qitem *it)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->done)
        pthread_cond_wait(&q->cond, &q->lock);
    bool ok = q->count > 0;
    if (ok) {
        *it = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->count--;
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

static void bq_close(bqueue *q)
{
    pthread_mutex_lock(&q->lock);
    q->done = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static const size_t xsizes[] = {40, 200, 1000};
#define NXSIZES (sizeof xsizes / sizeof xsizes[0])

typedef struct {
    bqueue q;
    int n;
    uint64_t seed;
    _Atomic long bad, freed, failed;
} xpair;

static void *slab_producer(void *arg)
{
    xpair *x = arg;
    uint64_t r = x->seed;
    for (int i = 0; i < x->n; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t size = xsizes[(r >> 33) % NXSIZES];
        unsigned char *p = wf_slab_alloc(size);
        if (!p) {
            atomic_fetch_add(&x->failed, 1);
            continue;
        }
        uint64_t tag = x->seed ^ (uint64_t)i;
        fill(p, size, tag);
        bq_put(&x->q, (qitem){p, size, tag});
    }
    bq_close(&x->q);
    return NULL;
}

static void *slab_consumer(void *arg)
{
    xpair *x = arg;
    qitem it;
    while (bq_get(&x->q, &it)) {
        if (!intact(it.p, it.size, it.tag))
            atomic_fetch_add(&x->bad, 1);
        wf_slab_free(it.p, it.size);
        atomic_fetch_add(&x->freed, 1);
    }
    return NULL;
}

static void test_slab_cross_thread(void **state)
{
    enum { PAIRS = 2 };
    int n = scaled(100000);
    uint64_t b0 = wf_alloc_bytes();
    xpair *xs = calloc(PAIRS, sizeof *xs);
    assert_non_null(xs);
    pthread_t prod[PAIRS], cons[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        bq_init(&xs[i].q);
        xs[i].n = n;
        xs[i].seed = 0x1234567ull * (uint64_t)(i + 1);
        assert_int_equal(pthread_create(&cons[i], NULL, slab_consumer, &xs[i]),
                         0);
        assert_int_equal(pthread_create(&prod[i], NULL, slab_producer, &xs[i]),
                         0);
    }
    for (int i = 0; i < PAIRS; i++) {
        pthread_join(prod[i], NULL);
        pthread_join(cons[i], NULL);
    }
    uint64_t grown = wf_alloc_bytes() - b0;
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(atomic_load(&xs[i].failed), 0);
        assert_int_equal(atomic_load(&xs[i].bad), 0);
        assert_int_equal(atomic_load(&xs[i].freed), n);
        bq_destroy(&xs[i].q);
    }
    free(xs);
    /* Blocks freed by the consumers went back to the producers: the memory
     * used is a small fraction of what 2n fresh blocks would take. */
    uint64_t fresh = 0;
    for (size_t i = 0; i < NXSIZES; i++)
        fresh += xsizes[i];
    fresh = fresh * (uint64_t)n * PAIRS / NXSIZES;
    if (grown * 4 > fresh)
        fail_msg("slab grew by %llu bytes for %d blocks: freed blocks are "
                 "not reused",
                 (unsigned long long)grown, n * PAIRS);
}

/* ----------------------------------------------------------- platform */

static void test_futex_timeout_and_mismatch(void **state)
{
    _Atomic uint32_t word = 5;
    assert_int_equal(wf_futex_wait(&word, 5, 1000 * 1000), -1);
    assert_int_equal(wf_futex_wait(&word, 5, 0), -1);
    /* The value differs: returns at once with 0, whatever the timeout. */
    assert_int_equal(wf_futex_wait(&word, 6, 10ll * 1000 * 1000 * 1000), 0);
    assert_int_equal(wf_futex_wait(&word, 4, -1), 0);
    wf_futex_wake(&word, 1); /* nobody waits: harmless */
}

typedef struct {
    _Atomic uint32_t word;
    _Atomic int ready;
    _Atomic int woke;
} futex_ctx;

static void *futex_waiter(void *arg)
{
    futex_ctx *c = arg;
    atomic_fetch_add(&c->ready, 1);
    while (atomic_load(&c->word) == 0)
        wf_futex_wait(&c->word, 0, -1);
    atomic_fetch_add(&c->woke, 1);
    return NULL;
}

static void test_futex_wake(void **state)
{
    enum { N = 4 };
    futex_ctx c = {0};
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, futex_waiter, &c), 0);
    while (atomic_load(&c.ready) < N)
        sched_yield();
    atomic_store(&c.word, 1);
    wf_futex_wake(&c.word, 1 << 30);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&c.woke), N);
}

static void test_platform_misc(void **state)
{
    uint64_t a = wf_now_ns();
    uint64_t b = wf_now_ns();
    assert_true(a > 0 && b >= a);
    assert_true(wf_ncpus() >= 1);
    assert_true(wf_phys_mem() > 0);
}

static void test_shm_create(void **state)
{
    const size_t sizes[] = {0, 1, 4096, 12345, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        int fd = wf_shm_create("weft-base-test", sizes[i]);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal((size_t)st.st_size, sizes[i]);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        if (sizes[i]) {
            unsigned char *m =
                mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            assert_true(m != MAP_FAILED);
            fill(m, sizes[i], i);
            unsigned char *m2 =
                mmap(NULL, sizes[i], PROT_READ, MAP_SHARED, fd, 0);
            assert_true(m2 != MAP_FAILED);
            assert_true(intact(m2, sizes[i], i));
            munmap(m2, sizes[i]);
            munmap(m, sizes[i]);
        }
        close(fd);
    }
}

/* ---------------------------------------------------------------- log */

/* wf_assert prints what broke and where, then aborts (in a child). */
static void test_assert_explains(void **state)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        dup2(pfd[1], 2);
        close(pfd[0]);
        int broken = 1;
        wf_assert(broken == 0, "the invariant under test");
        _exit(0);
    }
    close(pfd[1]);
    char out[1024];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 &&
           (r = read(pfd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(pfd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(out, "the invariant under test"));
    assert_non_null(strstr(out, "base_test.c"));
    assert_non_null(strstr(out, "broken == 0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_accounting),
        cmocka_unit_test(test_alloc_overflow),
        cmocka_unit_test(test_alloc_fail_after),
        cmocka_unit_test(test_alloc_fail_after_threads),
        cmocka_unit_test(test_err_detail),
        cmocka_unit_test(test_err_detail_long),
        cmocka_unit_test(test_err_thread_local),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_slab_sizes),
        cmocka_unit_test(test_slab_big_accounted),
        cmocka_unit_test(test_slab_reuse_same_thread),
        cmocka_unit_test(test_slab_cross_thread),
        cmocka_unit_test(test_futex_timeout_and_mismatch),
        cmocka_unit_test(test_futex_wake),
        cmocka_unit_test(test_platform_misc),
        cmocka_unit_test(test_shm_create),
        cmocka_unit_test(test_assert_explains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
