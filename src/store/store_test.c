/* Tests of the object store: references (slot, generation, tag), handles
 * and pins, slot reuse under threads, blob accounting against the cap,
 * value copies and checks, and publishing to waiters and sleepers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "store/store.h"

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

/* The xorshift_next state (fixed seed: the same sequence every run). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t ref_slot(weft_ref r)
{
    return (uint32_t)r.id;
}

static uint32_t ref_gen(weft_ref r)
{
    return (uint32_t)(r.id >> 32) & 0xffffff;
}

static uint8_t ref_tag(weft_ref r)
{
    return (uint8_t)(r.id >> 56);
}

static void assert_counts(wf_store *s, uint64_t objects, uint64_t bytes)
{
    uint64_t o, b, cap;
    wf_store_counts(s, &o, &b, &cap);
    if (o != objects || b != bytes)
        fail_msg("store counts: %llu objects, %llu bytes; want %llu, %llu",
                 (unsigned long long)o, (unsigned long long)b,
                 (unsigned long long)objects, (unsigned long long)bytes);
}

/* --------------------------------------------------------- references */

static void test_ref_round_trip(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_store *s = wf_store_new(1 << 20, 7);
    assert_non_null(s);
    weft_ref r = {0};
    wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
    assert_non_null(o);
    assert_int_not_equal(r.id, 0);
    assert_int_equal(ref_tag(r), 7);
    assert_int_not_equal(ref_slot(r), 0);
    assert_int_not_equal(ref_gen(r), 0);
    assert_ptr_equal(wf_store_lookup(s, r), o);
    assert_int_equal(wf_store_ref_of(s, o).id, r.id);
    assert_int_equal(wf_obj_state(o), WF_OBJ_PENDING);
    assert_counts(s, 1, 0);

    /* Never made: {0}, a slot past the table, another generation. */
    assert_null(wf_store_lookup(s, (weft_ref){0}));
    assert_null(wf_store_lookup(s, (weft_ref){(uint64_t)7 << 56}));
    assert_null(wf_store_lookup(s, (weft_ref){r.id + 1000}));
    assert_null(wf_store_lookup(s, (weft_ref){r.id | 0xffffffffull}));
    assert_null(wf_store_lookup(s, (weft_ref){r.id ^ ((uint64_t)1 << 32)}));

    /* A second object has its own id. */
    weft_ref r2;
    wf_obj *o2 = wf_store_obj_new(s, 1, 0, &r2);
    assert_non_null(o2);
    assert_ptr_not_equal(o, o2);
    assert_int_not_equal(r.id, r2.id);
    assert_ptr_equal(wf_store_lookup(s, r2), o2);
    assert_counts(s, 2, 0);

    /* Stale once the last handle is dropped. */
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    assert_null(wf_store_lookup(s, r));
    assert_ptr_equal(wf_store_lookup(s, r2), o2);
    assert_counts(s, 1, 0);
    assert_int_equal(wf_store_drop_handle(s, o2), 0);
    assert_null(wf_store_lookup(s, r2));
    assert_counts(s, 0, 0);
    wf_store_free(s);
    assert_int_equal(wf_alloc_bytes(), a0);
}

static void test_foreign_tag(void **state)
{
    wf_store *s1 = wf_store_new(1 << 20, 1);
    wf_store *s2 = wf_store_new(1 << 20, 2);
    assert_non_null(s1);
    assert_non_null(s2);
    weft_ref r1, r2;
    wf_obj *o1 = wf_store_obj_new(s1, 1, 0, &r1);
    wf_obj *o2 = wf_store_obj_new(s2, 1, 0, &r2);
    assert_non_null(o1);
    assert_non_null(o2);
    /* Same slot and generation in both stores: only the tag tells. */
    assert_int_equal(ref_slot(r1), ref_slot(r2));
    assert_int_equal(ref_gen(r1), ref_gen(r2));
    assert_null(wf_store_lookup(s2, r1));
    assert_null(wf_store_lookup(s1, r2));
    assert_ptr_equal(wf_store_lookup(s1, r1), o1);
    assert_ptr_equal(wf_store_lookup(s2, r2), o2);
    weft_ref retagged = {(r1.id & ~((uint64_t)0xff << 56)) | (uint64_t)99
                                                                 << 56};
    assert_null(wf_store_lookup(s1, retagged));
    assert_int_equal(wf_store_drop_handle(s1, o1), 0);
    assert_int_equal(wf_store_drop_handle(s2, o2), 0);
    wf_store_free(s1);
    wf_store_free(s2);
}

static void test_handles_and_pins(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 3);
    assert_non_null(s);

    /* One handle, one pin; a second handle taken. */
    weft_ref r;
    wf_obj *o = wf_store_obj_new(s, 1, 1, &r);
    assert_non_null(o);
    wf_obj_add_handle(o);
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    assert_ptr_equal(wf_store_lookup(s, r), o); /* a handle is left */
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    /* No handle left: the user's reference is dead, the pin keeps it. */
    assert_null(wf_store_lookup(s, r));
    assert_counts(s, 1, 0);
    assert_int_equal(wf_store_drop_handle(s, o), WEFT_EBADREF);
    assert_int_equal(wf_store_drop_handle(s, o), WEFT_EBADREF);
    assert_counts(s, 1, 0);
    assert_int_equal(wf_obj_state(o), WF_OBJ_PENDING);
    wf_obj_pin(o);
    wf_store_unpin(s, o);
    assert_counts(s, 1, 0);
    wf_store_unpin(s, o);
    assert_counts(s, 0, 0);

    /* Pins only (a pending task's input nobody holds). */
    o = wf_store_obj_new(s, 0, 2, &r);
    assert_non_null(o);
    assert_null(wf_store_lookup(s, r));
    assert_int_equal(wf_store_drop_handle(s, o), WEFT_EBADREF);
    wf_store_unpin(s, o);
    assert_counts(s, 1, 0);
    wf_store_unpin(s, o);
    assert_counts(s, 0, 0);

    /* The object's blob goes with it. */
    o = wf_store_obj_new(s, 1, 1, &r);
    assert_non_null(o);
    weft_value v = {WEFT_T_BYTES, {.buf = {"0123456789", 10}}}, copy;
    wf_blob *b;
    assert_int_equal(wf_value_copy(s, &v, &copy, &b), 0);
    wf_obj_set(o, &copy, b);
    wf_obj_publish(o);
    assert_counts(s, 1, 10);
    wf_store_unpin(s, o);
    assert_counts(s, 1, 10);
    assert_ptr_equal(wf_store_lookup(s, r), o);
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    assert_counts(s, 0, 0);
    wf_store_free(s);
}

static void test_slot_reuse_bumps_generation(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 4);
    assert_non_null(s);
    weft_ref first;
    wf_obj *o = wf_store_obj_new(s, 1, 0, &first);
    assert_non_null(o);
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    weft_ref prev = first;
    for (int i = 0; i < 1000; i++) {
        weft_ref r;
        wf_obj *x = wf_store_obj_new(s, 1, 0, &r);
        assert_non_null(x);
        assert_int_equal(ref_slot(r), ref_slot(first)); /* reused */
        assert_ptr_equal(x, o);
        assert_int_not_equal(ref_gen(r), ref_gen(prev));
        assert_int_not_equal(r.id, prev.id);
        assert_null(wf_store_lookup(s, prev));
        assert_null(wf_store_lookup(s, first));
        assert_ptr_equal(wf_store_lookup(s, r), x);
        assert_int_equal(wf_store_drop_handle(s, x), 0);
        assert_null(wf_store_lookup(s, r));
        prev = r;
    }
    assert_counts(s, 0, 0);
    wf_store_free(s);
}

/* Past the 24-bit generation's wrap, a reference never has generation 0. */
static void test_generation_wraps(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 5);
    assert_non_null(s);
    uint32_t slot = 0;
    long n = (1l << 24) + 16; /* past the wrap even at one bump a reuse */
    for (long i = 0; i < n; i++) {
        weft_ref r;
        wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
        if (!o || ref_gen(r) == 0 || (slot && ref_slot(r) != slot))
            fail_msg("round %ld: obj %p gen %u slot %u", i, (void *)o,
                     ref_gen(r), ref_slot(r));
        slot = ref_slot(r);
        wf_store_drop_handle(s, o);
    }
    wf_store_free(s);
}

/* Several threads allocate and free objects, some freed by a thread other
 * than the one that made them; no two live objects ever share a slot. */
#define CT_THREADS 4
#define CT_LIVE 64
#define CT_SWAP 32

typedef struct {
    wf_store *s;
    int iters;
    size_t nflags;
    _Atomic unsigned char *flags;    /* by slot: 1 while a live object has it */
    _Atomic(wf_obj *) swap[CT_SWAP]; /* objects handed between threads */
    _Atomic long shared_slot, bad_lookup, bad_drop, oom, out_of_range;
    _Atomic uint64_t made;
} ct_ctx;

typedef struct {
    ct_ctx *c;
    uint64_t seed;
} ct_arg;

static void ct_release(ct_ctx *c, wf_obj *o)
{
    weft_ref r = wf_store_ref_of(c->s, o);
    if (wf_store_lookup(c->s, r) != o)
        atomic_fetch_add(&c->bad_lookup, 1);
    atomic_store(&c->flags[o->slot], 0);
    if (wf_store_drop_handle(c->s, o) != 0)
        atomic_fetch_add(&c->bad_drop, 1);
}

static void *ct_thread(void *arg)
{
    ct_arg *a = arg;
    ct_ctx *c = a->c;
    uint64_t r = a->seed;
    wf_obj *live[CT_LIVE];
    int nlive = 0;
    for (int i = 0; i < c->iters; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        unsigned op = (unsigned)(r >> 33);
        if (nlive < CT_LIVE && (nlive == 0 || op % 3 != 0)) {
            weft_ref ref;
            wf_obj *o = wf_store_obj_new(c->s, 1, 0, &ref);
            if (!o) {
                atomic_fetch_add(&c->oom, 1);
                continue;
            }
            atomic_fetch_add(&c->made, 1);
            if (ref_slot(ref) >= c->nflags) {
                atomic_fetch_add(&c->out_of_range, 1);
                wf_store_drop_handle(c->s, o);
                continue;
            }
            if (atomic_exchange(&c->flags[ref_slot(ref)], 1) != 0)
                atomic_fetch_add(&c->shared_slot, 1);
            if (op % 7 == 0) { /* some hold a blob */
                char text[32];
                int len = snprintf(text, sizeof text, "obj %d", i);
                weft_value v = {WEFT_T_STR, {.buf = {text, (size_t)len}}}, cp;
                wf_blob *b;
                if (wf_value_copy(c->s, &v, &cp, &b) == 0)
                    wf_obj_set(o, &cp, b);
                else
                    atomic_fetch_add(&c->oom, 1);
            }
            wf_obj_publish(o);
            live[nlive++] = o;
        } else if (op % 5 == 0) {
            /* Hand one to whichever thread comes next; free what was there. */
            int k = (int)((r >> 20) % (unsigned)nlive);
            wf_obj *mine = live[k];
            live[k] = live[--nlive];
            wf_obj *other = atomic_exchange(&c->swap[(r >> 8) % CT_SWAP], mine);
            if (other)
                ct_release(c, other);
        } else {
            int k = (int)((r >> 20) % (unsigned)nlive);
            wf_obj *o = live[k];
            live[k] = live[--nlive];
            ct_release(c, o);
        }
    }
    while (nlive)
        ct_release(c, live[--nlive]);
    return NULL;
}

static void test_concurrent_alloc_free(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    ct_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->s = wf_store_new(1 << 30, 9);
    assert_non_null(c->s);
    c->iters = scaled(100000);
    c->nflags = (size_t)CT_THREADS * (size_t)c->iters + 2;
    c->flags = calloc(c->nflags, 1);
    assert_non_null(c->flags);
    pthread_t th[CT_THREADS];
    ct_arg args[CT_THREADS];
    for (int i = 0; i < CT_THREADS; i++) {
        args[i] = (ct_arg){c, 0x5851f42d4c957f2dull * (uint64_t)(i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, ct_thread, &args[i]), 0);
    }
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CT_SWAP; i++) {
        wf_obj *o = atomic_load(&c->swap[i]);
        if (o)
            ct_release(c, o);
    }
    assert_int_equal(atomic_load(&c->oom), 0);
    assert_int_equal(atomic_load(&c->out_of_range), 0);
    assert_int_equal(atomic_load(&c->shared_slot), 0);
    assert_int_equal(atomic_load(&c->bad_lookup), 0);
    assert_int_equal(atomic_load(&c->bad_drop), 0);
    assert_true(atomic_load(&c->made) > (uint64_t)c->iters);
    assert_counts(c->s, 0, 0);
    for (size_t i = 0; i < c->nflags; i++)
        assert_int_equal(c->flags[i], 0);
    wf_store_free(c->s);
    free((void *)c->flags);
    free(c);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* Slots freed are used again, whoever takes from the free list: a short-
 * lived thread that makes one object, or a thread that goes on to use
 * another store, must not keep the rest of the list from everyone. With
 * N objects alive at a time, the slot numbers stay near N. */
#define REUSE_N 10000

typedef struct {
    wf_store *s;
    int made;
} reuse_arg;

static void *make_one(void *arg)
{
    reuse_arg *a = arg;
    weft_ref r;
    wf_obj *o = wf_store_obj_new(a->s, 1, 0, &r);
    if (o) {
        a->made++;
        wf_store_drop_handle(a->s, o);
    }
    return NULL;
}

/* Make REUSE_N objects at once, drop them; the highest slot used. */
static uint32_t fill_and_drop(wf_store *s, wf_obj **objs)
{
    uint32_t top = 0;
    for (int i = 0; i < REUSE_N; i++) {
        weft_ref r;
        objs[i] = wf_store_obj_new(s, 1, 0, &r);
        assert_non_null(objs[i]);
        if (ref_slot(r) > top)
            top = ref_slot(r);
    }
    for (int i = 0; i < REUSE_N; i++)
        assert_int_equal(wf_store_drop_handle(s, objs[i]), 0);
    return top;
}

static void test_slots_reused_after_thread_exit(void **state)
{
    wf_obj **objs = calloc(REUSE_N, sizeof *objs);
    assert_non_null(objs);
    wf_store *s = wf_store_new(1 << 20, 24);
    assert_non_null(s);
    uint32_t first = fill_and_drop(s, objs), top = first;
    int round, made = 0;
    for (round = 0; round < 3 && top <= first + 64; round++) {
        reuse_arg a = {s, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, make_one, &a), 0);
        pthread_join(th, NULL);
        made += a.made;
        top = fill_and_drop(s, objs);
    }
    assert_counts(s, 0, 0);
    wf_store_free(s);
    free(objs);
    assert_int_equal(made, round);
    if (top > first + 64)
        fail_msg("round %d: after a thread made one object and exited, %d "
                 "objects needed slots up to %u (first time: %u): the free "
                 "slots that thread took are never used again",
                 round - 1, REUSE_N, top, first);
}

static void test_slots_reused_after_other_store(void **state)
{
    wf_obj **objs = calloc(REUSE_N, sizeof *objs);
    assert_non_null(objs);
    wf_store *s = wf_store_new(1 << 20, 24);
    wf_store *other = wf_store_new(1 << 20, 25);
    assert_non_null(s);
    assert_non_null(other);
    uint32_t first = fill_and_drop(s, objs), top = first;
    int round;
    for (round = 0; round < 3 && top <= first + 64; round++) {
        weft_ref r;
        wf_obj *o = wf_store_obj_new(s, 1, 0, &r); /* takes s's free list */
        assert_non_null(o);
        assert_int_equal(wf_store_drop_handle(s, o), 0);
        o = wf_store_obj_new(other, 1, 0, &r); /* then another store's */
        assert_non_null(o);
        assert_int_equal(wf_store_drop_handle(other, o), 0);
        top = fill_and_drop(s, objs);
    }
    assert_counts(s, 0, 0);
    wf_store_free(s);
    wf_store_free(other);
    free(objs);
    if (top > first + 64)
        fail_msg("round %d: after this thread used another store, %d objects "
                 "needed slots up to %u (first time: %u): the free slots it "
                 "held for the first store are never used again",
                 round - 1, REUSE_N, top, first);
}

/* Freeing the store frees what live objects still hold. */
static void test_store_free_releases_everything(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_store *s = wf_store_new(1 << 24, 6);
    assert_non_null(s);
    for (int i = 0; i < 5000; i++) { /* more than one chunk of slots */
        weft_ref r;
        wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
        assert_non_null(o);
        if (i % 3 == 0) {
            weft_value v = {WEFT_T_BYTES, {.buf = {"abcdefgh", 8}}}, cp;
            wf_blob *b;
            assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
            wf_obj_set(o, &cp, b);
        } else if (i % 3 == 1) {
            wf_obj_set_error(o, WEFT_ETASK, wf_strdup("failed on purpose"));
        }
        wf_obj_publish(o);
        if (i % 5 == 0)
            assert_int_equal(wf_store_drop_handle(s, o), 0);
    }
    /* Plus one big shared-memory blob. */
    weft_ref r;
    wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
    wf_blob *b;
    assert_int_equal(wf_blob_new(s, WF_BLOB_SHM_MIN * 2, &b), 0);
    weft_value v = {WEFT_T_BYTES, {.buf = {b->data, b->size}}};
    wf_obj_set(o, &v, b);
    wf_obj_publish(o);
    wf_store_free(s);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* ------------------------------------------------------------- blobs */

static void test_blob_cap(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_store *s = wf_store_new(1000, 10);
    assert_non_null(s);
    wf_blob *b1, *b2, *b3, *bz, *bx = NULL;
    assert_int_equal(wf_blob_new(s, 600, &b1), 0);
    assert_int_equal(b1->size, 600);
    assert_int_equal(b1->fd, -1);
    memset(b1->data, 1, 600);
    assert_counts(s, 0, 600);
    assert_err(wf_blob_new(s, 500, &bx), WEFT_ESTOREFULL, "full");
    assert_null(bx);
    assert_counts(s, 0, 600);
    assert_int_equal(wf_blob_new(s, 400, &b2), 0); /* exactly the cap */
    memset(b2->data, 2, 400);
    assert_counts(s, 0, 1000);
    assert_err(wf_blob_new(s, 1, &bx), WEFT_ESTOREFULL, NULL);
    assert_int_equal(wf_blob_new(s, 0, &bz), 0);
    assert_counts(s, 0, 1000);
    wf_blob_free(s, b1);
    assert_counts(s, 0, 400);
    assert_int_equal(wf_blob_new(s, 600, &b3), 0);
    assert_counts(s, 0, 1000);
    wf_blob_free(s, b2);
    wf_blob_free(s, b3);
    wf_blob_free(s, bz);
    wf_blob_free(s, NULL);
    assert_counts(s, 0, 0);

    /* A size that wraps the counter does not get through. */
    wf_store *huge = wf_store_new(UINT64_MAX, 11);
    assert_non_null(huge);
    assert_int_equal(wf_blob_new(huge, 100, &b1), 0);
    assert_int_not_equal(wf_blob_new(huge, SIZE_MAX - 10, &bx), 0);
    assert_counts(huge, 0, 100);
    wf_blob_free(huge, b1);
    assert_counts(huge, 0, 0);
    wf_store_free(huge);

    /* Without a store: not accounted anywhere. */
    assert_int_equal(wf_blob_new(NULL, 100, &b1), 0);
    assert_false(b1->accounted);
    wf_blob_free(NULL, b1);

    /* Out of memory: the bytes are given back, nothing leaks. */
    for (uint64_t k = 1; k <= 2; k++) {
        wf_alloc_fail_after(k);
        assert_err(wf_blob_new(s, 100, &bx), WEFT_ENOMEM, NULL);
        wf_alloc_fail_after(0);
        assert_counts(s, 0, 0);
    }
    wf_store_free(s);
    assert_int_equal(wf_alloc_bytes(), a0);
}

static void test_blob_shm(void **state)
{
    wf_store *s = wf_store_new(1 << 24, 12);
    assert_non_null(s);
    wf_blob *small, *big;
    assert_int_equal(wf_blob_new(s, WF_BLOB_SHM_MIN - 1, &small), 0);
    assert_int_equal(small->fd, -1);
    assert_int_equal(wf_blob_new(s, WF_BLOB_SHM_MIN, &big), 0);
    assert_true(big->fd >= 0);
    assert_int_equal(big->size, WF_BLOB_SHM_MIN);
    struct stat st;
    assert_int_equal(fstat(big->fd, &st), 0);
    assert_true((size_t)st.st_size >= WF_BLOB_SHM_MIN);
    memset(big->data, 0x5a, WF_BLOB_SHM_MIN);
    big->shared = true; /* as if sent to a worker: closed when freed */
    /* Another mapping of the fd sees the bytes. */
    unsigned char *m =
        mmap(NULL, WF_BLOB_SHM_MIN, PROT_READ, MAP_SHARED, big->fd, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(m[0], 0x5a);
    assert_int_equal(m[WF_BLOB_SHM_MIN - 1], 0x5a);
    munmap(m, WF_BLOB_SHM_MIN);
    assert_counts(s, 0, 2 * WF_BLOB_SHM_MIN - 1);
    int fd = big->fd;
    wf_blob_free(s, big);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
    wf_blob_free(s, small);
    assert_counts(s, 0, 0);

    /* Adopting a worker's fd: mapped read-only, accounted, fd taken. */
    size_t n = 3 * 4096 + 5;
    fd = wf_shm_create("weft-store-test", n);
    assert_true(fd >= 0);
    unsigned char *w = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(w != MAP_FAILED);
    memset(w, 0x33, n);
    munmap(w, n);
    wf_blob *ad;
    assert_int_equal(wf_blob_adopt_fd(s, fd, n, &ad), 0);
    assert_true(ad->readonly);
    assert_int_equal(ad->fd, fd);
    assert_int_equal(((unsigned char *)ad->data)[n - 1], 0x33);
    assert_counts(s, 0, n);
    wf_blob_free(s, ad);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_counts(s, 0, 0);

    /* Adopting past the cap fails and leaves the fd to the caller. */
    wf_store *tiny = wf_store_new(100, 13);
    fd = wf_shm_create("weft-store-test", 4096);
    assert_true(fd >= 0);
    assert_err(wf_blob_adopt_fd(tiny, fd, 4096, &ad), WEFT_ESTOREFULL, NULL);
    assert_int_not_equal(fcntl(fd, F_GETFD), -1);
    close(fd);
    assert_counts(tiny, 0, 0);
    wf_store_free(tiny);
    wf_store_free(s);
}

/* ------------------------------------------------------------ values */

static void test_value_copy_scalars(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 14);
    const weft_value vs[] = {
        {WEFT_T_NONE, {.i64 = 0}}, weft_i64(-42),
        weft_i64(INT64_MIN),       weft_f64(3.25),
        weft_bool(true),           weft_refv((weft_ref){0x0700000100000001ull}),
    };
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
        weft_value cp;
        wf_blob *b = (wf_blob *)1;
        assert_int_equal(wf_value_copy(s, &vs[i], &cp, &b), 0);
        assert_null(b);
        assert_int_equal(cp.type, vs[i].type);
        switch (cp.type) {
        case WEFT_T_I64:
            assert_int_equal(cp.u.i64, vs[i].u.i64);
            break;
        case WEFT_T_F64:
            assert_true(cp.u.f64 == vs[i].u.f64);
            break;
        case WEFT_T_BOOL:
            assert_int_equal(cp.u.b, vs[i].u.b);
            break;
        case WEFT_T_REF:
            assert_int_equal(cp.u.ref.id, vs[i].u.ref.id);
            break;
        default:
            break;
        }
    }
    assert_counts(s, 0, 0);
    wf_store_free(s);
}

static void test_value_copy_buffers(void **state)
{
    wf_store *s = wf_store_new(1 << 24, 15);

    /* A string is copied with a NUL after it, even from a longer buffer. */
    const char text[] = "hello world";
    weft_value v = {WEFT_T_STR, {.buf = {text, 5}}}, cp;
    wf_blob *b;
    assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
    assert_non_null(b);
    assert_ptr_not_equal(cp.u.buf.data, text);
    assert_ptr_equal(cp.u.buf.data, b->data);
    assert_int_equal(cp.u.buf.len, 5);
    assert_string_equal(cp.u.buf.data, "hello");
    assert_counts(s, 0, 6);
    wf_blob_free(s, b);

    /* The empty string. */
    v.u.buf.data = "";
    v.u.buf.len = 0;
    assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
    assert_string_equal(cp.u.buf.data, "");
    wf_blob_free(s, b);

    /* Bytes, with embedded NULs; empty bytes from NULL. */
    unsigned char raw[1000];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 7);
    v = weft_bytes(raw, sizeof raw);
    assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
    assert_int_equal(cp.type, WEFT_T_BYTES);
    assert_int_equal(cp.u.buf.len, sizeof raw);
    assert_ptr_not_equal(cp.u.buf.data, raw);
    assert_memory_equal(cp.u.buf.data, raw, sizeof raw);
    assert_counts(s, 0, sizeof raw);
    wf_blob_free(s, b);
    v = weft_bytes(NULL, 0);
    assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
    assert_int_equal(cp.u.buf.len, 0);
    wf_blob_free(s, b);

    /* Big bytes land in shared memory. */
    size_t n = WF_BLOB_SHM_MIN + 100;
    unsigned char *bigsrc = malloc(n);
    assert_non_null(bigsrc);
    for (size_t i = 0; i < n; i++)
        bigsrc[i] = (unsigned char)xorshift_next(&rng);
    v = weft_bytes(bigsrc, n);
    assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
    assert_true(b->fd >= 0);
    assert_memory_equal(cp.u.buf.data, bigsrc, n);
    wf_blob_free(s, b);
    free(bigsrc);

    /* Past the cap: an error and nothing held. */
    wf_store *tiny = wf_store_new(10, 16);
    v = weft_bytes(raw, 11);
    assert_err(wf_value_copy(tiny, &v, &cp, &b), WEFT_ESTOREFULL, NULL);
    v = (weft_value){WEFT_T_STR, {.buf = {"0123456789", 10}}};
    assert_err(wf_value_copy(tiny, &v, &cp, &b), WEFT_ESTOREFULL, NULL);
    assert_counts(tiny, 0, 0);
    wf_store_free(tiny);

    assert_counts(s, 0, 0);
    wf_store_free(s);
}

/* A freed shared-memory blob is kept, mapped, for the next blob of about
 * its size; one handed to another process, one too large for the spares'
 * room and one far bigger than asked are not. A kept blob still holds its
 * old bytes (written patterns tell a reused mapping from a fresh, zeroed
 * one); its accounting follows the new size. */
static void test_spare_blobs(void **state)
{
    (void)state;
    wf_store *s = wf_store_new((uint64_t)1 << 30, 18);
    size_t n = 4 * WF_BLOB_SHM_MIN;
    wf_blob *b;
    assert_int_equal(wf_blob_new(s, n, &b), 0);
    assert_true(b->fd >= 0);
    memset(b->data, 0xab, n);
    wf_blob_free(s, b);
    assert_counts(s, 0, 0);

    /* the same size, then a little smaller: the kept pages come back */
    for (size_t want = n; want >= n - n / 4; want -= n / 8) {
        assert_int_equal(wf_blob_new(s, want, &b), 0);
        assert_int_equal(b->size, want);
        assert_true(b->mapped >= want);
        assert_int_equal(((unsigned char *)b->data)[0], 0xab);
        assert_int_equal(((unsigned char *)b->data)[want - 1], 0xab);
        assert_counts(s, 0, want);
        wf_blob_free(s, b);
    }

    /* far smaller (the spare would waste over a quarter): a fresh blob;
     * the spare stays for a later taker */
    assert_int_equal(wf_blob_new(s, n / 2, &b), 0);
    assert_int_equal(((unsigned char *)b->data)[0], 0);
    assert_int_equal(b->mapped, n / 2);
    wf_blob *c;
    assert_int_equal(wf_blob_new(s, n, &c), 0);
    assert_int_equal(((unsigned char *)c->data)[0], 0xab);
    wf_blob_free(s, b);
    wf_blob_free(s, c);

    /* a blob another process maps is never reused: its pages may still be
     * read there */
    assert_int_equal(wf_blob_new(s, 3 * WF_BLOB_SHM_MIN, &b), 0);
    memset(b->data, 0xcd, 3 * WF_BLOB_SHM_MIN);
    b->shared = true;
    wf_blob_free(s, b);
    assert_int_equal(wf_blob_new(s, 3 * WF_BLOB_SHM_MIN, &b), 0);
    assert_int_equal(((unsigned char *)b->data)[0], 0);
    wf_blob_free(s, b);
    wf_store_free(s); /* unmaps the spares */

    /* a store of 8 blobs' room keeps at most one blob's worth */
    wf_store *small = wf_store_new(8 * (uint64_t)n, 19);
    wf_blob *two[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(wf_blob_new(small, n, &two[i]), 0);
        memset(two[i]->data, 0x11 * (i + 1), n);
    }
    wf_blob_free(small, two[0]);
    wf_blob_free(small, two[1]); /* no room left: unmapped */
    for (int i = 0; i < 2; i++)
        assert_int_equal(wf_blob_new(small, n, &two[i]), 0);
    assert_int_equal(((unsigned char *)two[0]->data)[0], 0x11);
    assert_int_equal(((unsigned char *)two[1]->data)[0], 0);
    wf_blob_free(small, two[0]);
    wf_blob_free(small, two[1]);
    assert_counts(small, 0, 0);
    wf_store_free(small);
}

static const weft_dtype all_dtypes[] = {WEFT_DT_F64, WEFT_DT_F32, WEFT_DT_I64,
                                        WEFT_DT_I32, WEFT_DT_U8,  WEFT_DT_BOOL};

static void check_array_copy(wf_store *s, weft_dtype dt, uint32_t ndim,
                             const int64_t *shape)
{
    size_t count = 1;
    for (uint32_t i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    size_t es = weft_dtype_size(dt);
    size_t nbytes = count * es;
    unsigned char *data = malloc(nbytes ? nbytes : 1);
    assert_non_null(data);
    for (size_t i = 0; i < nbytes; i++)
        data[i] = dt == WEFT_DT_BOOL ? (unsigned char)(xorshift_next(&rng) & 1)
                                     : (unsigned char)xorshift_next(&rng);
    int64_t shape_copy[WEFT_MAX_NDIM];
    memcpy(shape_copy, shape, ndim * sizeof *shape);
    weft_value v = weft_array(dt, ndim, shape_copy, data), cp;
    assert_int_equal(wf_value_check(&v, "test"), 0);
    wf_blob *b;
    uint64_t o0, b0, cap;
    wf_store_counts(s, &o0, &b0, &cap);
    assert_int_equal(wf_value_copy(s, &v, &cp, &b), 0);
    assert_non_null(b);

    size_t off;
    size_t total = wf_array_bytes(&v, &off);
    assert_int_equal(total, off + nbytes);
    assert_int_equal(off % 64, 0);
    assert_true(off >= ndim * sizeof(int64_t));
    assert_int_equal(b->size, total);
    assert_counts(s, o0, b0 + total);
    assert_int_equal(b->fd >= 0, total >= WF_BLOB_SHM_MIN);

    /* Laid out as wf_array_bytes says: shape first, data at off. */
    assert_int_equal(cp.type, WEFT_T_ARRAY);
    assert_int_equal(cp.u.arr.dtype, dt);
    assert_int_equal(cp.u.arr.ndim, ndim);
    assert_ptr_equal(cp.u.arr.shape, b->data);
    assert_ptr_equal(cp.u.arr.data, (char *)b->data + off);
    assert_ptr_not_equal(cp.u.arr.data, data);

    /* The copy does not depend on the caller's storage. */
    memset(shape_copy, 0xff, sizeof shape_copy);
    for (uint32_t i = 0; i < ndim; i++)
        assert_int_equal(cp.u.arr.shape[i], shape[i]);
    if (nbytes) {
        assert_memory_equal(cp.u.arr.data, data, nbytes);
        memset(data, 0, nbytes);
        assert_int_equal(wf_value_check(&cp, "copy"), 0);
    }
    free(data);
    wf_blob_free(s, b);
    assert_counts(s, o0, b0);
}

static void test_value_copy_arrays(void **state)
{
    wf_store *s = wf_store_new(1 << 26, 17);
    const int64_t shapes[][WEFT_MAX_NDIM] = {{0},
                                             {1},
                                             {7},
                                             {3, 4},
                                             {2, 0, 5},
                                             {2, 3, 4, 5},
                                             {1, 1, 1, 1, 1, 1, 1, 1},
                                             {2, 2, 2, 2, 2, 2, 2, 2},
                                             {128, 128},
                                             {9000}};
    const uint32_t ndims[] = {0, 1, 1, 2, 3, 4, 8, 8, 2, 1};
    for (size_t d = 0; d < sizeof all_dtypes / sizeof *all_dtypes; d++)
        for (size_t i = 0; i < sizeof ndims / sizeof *ndims; i++)
            check_array_copy(s, all_dtypes[d], ndims[i], shapes[i]);
    assert_counts(s, 0, 0);
    wf_store_free(s);
}

static void test_value_check(void **state)
{
    static const int64_t shape2[] = {3, 4};
    static const double data[12];
    const int64_t neg[] = {3, -1};
    const int64_t zero[] = {3, 0};
    const int64_t huge[] = {(int64_t)1 << 40, (int64_t)1 << 40};
    const int64_t nine[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};

    /* Good values. */
    const weft_value good[] = {
        {WEFT_T_NONE, {.i64 = 0}},
        weft_i64(1),
        weft_f64(1.5),
        weft_bool(false),
        {WEFT_T_STR, {.buf = {"x", 1}}},
        weft_bytes(NULL, 0),
        weft_bytes("ab", 2),
        weft_refv((weft_ref){1}),
        weft_array(WEFT_DT_F64, 2, shape2, data),
        weft_array(WEFT_DT_F64, 2, zero, NULL), /* no elements, no data */
        weft_array(WEFT_DT_I32, 0, NULL, data), /* a 0-d array: one element */
        weft_array(WEFT_DT_U8, 8, nine, data),
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (wf_value_check(&good[i], "good") != 0)
            fail_msg("good value %zu rejected: %s", i, weft_last_error());

    weft_value v;
    /* Bad dtypes. */
    v = weft_array((weft_dtype)0, 2, shape2, data);
    assert_err(wf_value_check(&v, "weft_put"), WEFT_ETYPE, "weft_put");
    v = weft_array((weft_dtype)7, 2, shape2, data);
    assert_err(wf_value_check(&v, "weft_put"), WEFT_ETYPE, "dtype");
    v = weft_array((weft_dtype)-3, 2, shape2, data);
    assert_err(wf_value_check(&v, "weft_put"), WEFT_ETYPE, NULL);
    /* Too many dimensions. */
    v = weft_array(WEFT_DT_U8, WEFT_MAX_NDIM + 1, nine, data);
    assert_err(wf_value_check(&v, "arg 2"), WEFT_EINVAL, "arg 2");
    v = weft_array(WEFT_DT_U8, UINT32_MAX, nine, data);
    assert_err(wf_value_check(&v, "arg 2"), WEFT_EINVAL, NULL);
    /* Negative dimension. */
    v = weft_array(WEFT_DT_F64, 2, neg, data);
    assert_err(wf_value_check(&v, "where"), WEFT_EINVAL, "negative");
    /* Sizes that overflow. */
    v = weft_array(WEFT_DT_F64, 2, huge, data);
    assert_err(wf_value_check(&v, "where"), WEFT_ERANGE, "overflow");
    const int64_t max1[] = {INT64_MAX};
    v = weft_array(WEFT_DT_I64, 1, max1, data);
    assert_err(wf_value_check(&v, "where"), WEFT_ERANGE, NULL);
    /* NULL pointers. */
    v = weft_array(WEFT_DT_F64, 2, shape2, NULL);
    assert_err(wf_value_check(&v, "where"), WEFT_EINVAL, "NULL");
    v = weft_array(WEFT_DT_F64, 2, NULL, data);
    assert_err(wf_value_check(&v, "where"), WEFT_EINVAL, "NULL");
    v = weft_array(WEFT_DT_F64, 0, NULL, NULL);
    assert_err(wf_value_check(&v, "where"), WEFT_EINVAL, "NULL");
    v = (weft_value){WEFT_T_STR, {.buf = {NULL, 0}}};
    assert_err(wf_value_check(&v, "where"), WEFT_EINVAL, "NULL");
    v = weft_bytes(NULL, 5);
    assert_err(wf_value_check(&v, "where"), WEFT_EINVAL, "NULL");
    /* Unknown type. */
    v = (weft_value){(weft_type)42, {.i64 = 0}};
    assert_err(wf_value_check(&v, "where"), WEFT_ETYPE, "type");
}

/* An array whose element bytes fit size_t but whose layout (shape header +
 * data, wf_array_bytes) does not: the check must reject it, or the copy is
 * made into a few bytes while its shape claims 2^64. */
static void test_value_check_layout_overflow(void **state)
{
    static const unsigned char data[64];
    const int64_t shape[] = {3, 0x5555555555555555ll}; /* 3 * that = 2^64-1 */
    weft_value v = weft_array(WEFT_DT_U8, 2, shape, data);
    size_t off;
    size_t total = wf_array_bytes(&v, &off);
    weft_err e = wf_value_check(&v, "weft_put");
    if (e == 0)
        fail_msg("wf_value_check accepted a u8 array of shape {3, 0x5555..55} "
                 "(2^64-1 bytes); wf_array_bytes says %zu bytes (wrapped)",
                 total);
    assert_int_equal(e, WEFT_ERANGE);

    const int64_t shape2[] = {INT64_MAX, 2}; /* 2^64-2 bytes */
    v = weft_array(WEFT_DT_BOOL, 2, shape2, data);
    assert_int_equal(wf_value_check(&v, "weft_put"), WEFT_ERANGE);
}

/* -------------------------------------------------- publish and waiters */

static void test_publish_waiters(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 18);
    weft_ref r;
    wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
    wf_waiter w[3];
    assert_true(wf_obj_add_waiter(o, &w[0]));
    assert_true(wf_obj_add_waiter(o, &w[1]));
    assert_true(wf_obj_add_waiter(o, &w[2]));
    weft_value v = weft_i64(42);
    wf_obj_set(o, &v, NULL);
    assert_int_equal(wf_obj_state(o), WF_OBJ_PENDING);
    wf_waiter *list = wf_obj_publish(o);
    assert_int_equal(wf_obj_state(o), WF_OBJ_READY);
    assert_int_equal(o->u.val.type, WEFT_T_I64);
    assert_int_equal(o->u.val.u.i64, 42);
    bool seen[3] = {false, false, false};
    int n = 0;
    for (wf_waiter *x = list; x; x = x->next) {
        assert_true(x >= w && x < w + 3);
        assert_false(seen[x - w]);
        seen[x - w] = true;
        n++;
    }
    assert_int_equal(n, 3);
    wf_waiter late;
    assert_false(wf_obj_add_waiter(o, &late));
    assert_int_equal(wf_obj_wait(o, 0), 0);
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    /* No waiters: publish returns an empty list. */
    o = wf_store_obj_new(s, 1, 0, &r);
    assert_null(wf_obj_publish(o));
    assert_false(wf_obj_add_waiter(o, &late));
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    /* A reused slot takes waiters again. */
    o = wf_store_obj_new(s, 1, 0, &r);
    assert_true(wf_obj_add_waiter(o, &late));
    assert_ptr_equal(wf_obj_publish(o), &late);
    assert_null(late.next);
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    wf_store_free(s);
}

/* Threads add waiters while the object is published: each waiter is
 * either refused or handed back by publish, exactly once. */
#define RW_THREADS 3
#define RW_MAX 2000

typedef struct {
    wf_obj *o;
    _Atomic int go;
    wf_waiter w[RW_THREADS][RW_MAX];
    bool added[RW_THREADS][RW_MAX];
} rw_ctx;

typedef struct {
    rw_ctx *c;
    int t;
} rw_arg;

static void *rw_thread(void *arg)
{
    rw_arg *a = arg;
    rw_ctx *c = a->c;
    while (!atomic_load(&c->go))
        ;
    for (int i = 0; i < RW_MAX; i++) {
        c->added[a->t][i] = wf_obj_add_waiter(c->o, &c->w[a->t][i]);
        if (!c->added[a->t][i])
            break;
    }
    return NULL;
}

static void test_publish_races_waiters(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 19);
    rw_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    int rounds = scaled(200);
    for (int round = 0; round < rounds; round++) {
        weft_ref r;
        c->o = wf_store_obj_new(s, 1, 0, &r);
        assert_non_null(c->o);
        atomic_store(&c->go, 0);
        memset(c->added, 0, sizeof c->added);
        pthread_t th[RW_THREADS];
        rw_arg args[RW_THREADS];
        for (int t = 0; t < RW_THREADS; t++) {
            args[t] = (rw_arg){c, t};
            assert_int_equal(pthread_create(&th[t], NULL, rw_thread, &args[t]),
                             0);
        }
        atomic_store(&c->go, 1);
        for (int spin = 0; spin < (round % 10) * 200; spin++)
            wf_cpu_relax();
        wf_waiter *list = wf_obj_publish(c->o);
        for (int t = 0; t < RW_THREADS; t++)
            pthread_join(th[t], NULL);
        int listed = 0, added = 0;
        for (wf_waiter *x = list; x; x = x->next) {
            ptrdiff_t k = x - &c->w[0][0];
            assert_true(k >= 0 && k < RW_THREADS * RW_MAX);
            int t = (int)(k / RW_MAX), i = (int)(k % RW_MAX);
            assert_true(c->added[t][i]);
            listed++;
            assert_true(listed <= RW_THREADS * RW_MAX);
        }
        for (int t = 0; t < RW_THREADS; t++)
            for (int i = 0; i < RW_MAX; i++)
                added += c->added[t][i];
        assert_int_equal(listed, added);
        assert_int_equal(wf_store_drop_handle(s, c->o), 0);
    }
    free(c);
    wf_store_free(s);
}

typedef struct {
    wf_obj *o;
    long delay_ms;
    bool fail;
} pub_arg;

static void *publisher(void *arg)
{
    pub_arg *a = arg;
    sleep_ms(a->delay_ms);
    if (a->fail) {
        wf_obj_set_error(a->o, WEFT_ETASK, wf_strdup("late failure"));
    } else {
        weft_value v = weft_i64(7);
        wf_obj_set(a->o, &v, NULL);
    }
    wf_obj_publish(a->o);
    return NULL;
}

static void test_wait_deadline(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 20);
    weft_ref r;
    wf_obj *o = wf_store_obj_new(s, 1, 0, &r);

    /* Nobody publishes: the deadline passes. */
    assert_int_equal(wf_obj_wait(o, wf_now_ns() + 20 * 1000 * 1000),
                     WEFT_ETIMEDOUT);
    assert_int_equal(wf_obj_wait(o, 1), WEFT_ETIMEDOUT); /* long past */
    assert_int_equal(wf_obj_state(o), WF_OBJ_PENDING);

    /* Another thread publishes while we sleep. */
    pthread_t th;
    pub_arg a = {o, 30, false};
    assert_int_equal(pthread_create(&th, NULL, publisher, &a), 0);
    assert_int_equal(wf_obj_wait(o, wf_now_ns() + 60ull * 1000 * 1000 * 1000),
                     0);
    assert_int_equal(wf_obj_state(o), WF_OBJ_READY);
    assert_int_equal(o->u.val.u.i64, 7);
    pthread_join(th, NULL);
    /* Published: returns at once, even with a deadline long past. */
    assert_int_equal(wf_obj_wait(o, 1), 0);
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    /* No deadline (0), failed by the other thread. */
    o = wf_store_obj_new(s, 1, 0, &r);
    a = (pub_arg){o, 10, true};
    assert_int_equal(pthread_create(&th, NULL, publisher, &a), 0);
    assert_int_equal(wf_obj_wait(o, 0), 0);
    assert_int_equal(wf_obj_state(o), WF_OBJ_FAILED);
    assert_string_equal(wf_obj_errmsg(o), "late failure");
    pthread_join(th, NULL);
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    assert_counts(s, 0, 0);
    wf_store_free(s);
}

#define SLEEPERS 4

typedef struct {
    wf_obj *o;
    _Atomic int started;
    weft_err got[SLEEPERS];
} sleep_ctx;

typedef struct {
    sleep_ctx *c;
    int i;
} sleep_arg;

static void *sleeper(void *arg)
{
    sleep_arg *a = arg;
    atomic_fetch_add(&a->c->started, 1);
    a->c->got[a->i] = wf_obj_wait(a->c->o, 0);
    return NULL;
}

/* Many sleepers on one object all wake on publish. */
static void test_wait_many_sleepers(void **state)
{
    wf_store *s = wf_store_new(1 << 20, 21);
    int rounds = scaled(100);
    for (int round = 0; round < rounds; round++) {
        sleep_ctx c = {0};
        weft_ref r;
        c.o = wf_store_obj_new(s, 1, 0, &r);
        pthread_t th[SLEEPERS];
        sleep_arg args[SLEEPERS];
        for (int i = 0; i < SLEEPERS; i++) {
            c.got[i] = 1;
            args[i] = (sleep_arg){&c, i};
            assert_int_equal(pthread_create(&th[i], NULL, sleeper, &args[i]),
                             0);
        }
        while (atomic_load(&c.started) < SLEEPERS)
            sched_yield();
        if (round % 2)
            sleep_ms(1);
        wf_obj_publish(c.o);
        for (int i = 0; i < SLEEPERS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(c.got[i], 0);
        }
        assert_int_equal(wf_store_drop_handle(s, c.o), 0);
    }
    wf_store_free(s);
}

static void test_error_publish(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_store *s = wf_store_new(1 << 20, 22);
    weft_ref r;
    wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
    wf_obj_set_error(o, WEFT_EINVAL, wf_strdup("first message"));
    /* Set again before publishing: the first message is freed (ASan). */
    wf_obj_set_error(o, WEFT_ETASK, wf_strdup("task 'f' failed: boom"));
    assert_int_equal(wf_obj_state(o), WF_OBJ_PENDING); /* not yet published */
    wf_waiter w;
    assert_true(wf_obj_add_waiter(o, &w));
    assert_ptr_equal(wf_obj_publish(o), &w);
    assert_int_equal(wf_obj_state(o), WF_OBJ_FAILED);
    assert_int_equal(wf_obj_errcode(o), WEFT_ETASK);
    assert_string_equal(wf_obj_errmsg(o), "task 'f' failed: boom");
    assert_int_equal(wf_obj_wait(o, 0), 0);
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    /* Without a message: the code's own message. */
    o = wf_store_obj_new(s, 1, 0, &r);
    wf_obj_set_error(o, WEFT_ECRASHED, NULL);
    wf_obj_publish(o);
    assert_int_equal(wf_obj_state(o), WF_OBJ_FAILED);
    assert_string_equal(wf_obj_errmsg(o), weft_strerror(WEFT_ECRASHED));
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    /* The slot, reused, starts clean: publishing it makes it READY. */
    o = wf_store_obj_new(s, 1, 0, &r);
    weft_value v = weft_f64(2.5);
    wf_obj_set(o, &v, NULL);
    wf_obj_publish(o);
    assert_int_equal(wf_obj_state(o), WF_OBJ_READY);
    assert_int_equal(wf_store_drop_handle(s, o), 0);

    assert_counts(s, 0, 0);
    wf_store_free(s);
    assert_int_equal(wf_alloc_bytes(), a0);
}

/* Out of memory while making an object: NULL, and nothing leaks. */
static void test_obj_new_oom(void **state)
{
    uint64_t a0 = wf_alloc_bytes();
    wf_alloc_fail_after(1);
    wf_store *s = wf_store_new(1 << 20, 23);
    wf_alloc_fail_after(0);
    assert_null(s);
    s = wf_store_new(1 << 20, 23);
    assert_non_null(s);
    weft_ref r;
    wf_alloc_fail_after(1); /* the first chunk of slots */
    assert_null(wf_store_obj_new(s, 1, 0, &r));
    wf_alloc_fail_after(0);
    wf_obj *o = wf_store_obj_new(s, 1, 0, &r);
    assert_non_null(o);
    assert_ptr_equal(wf_store_lookup(s, r), o);
    assert_counts(s, 1, 0);
    assert_int_equal(wf_store_drop_handle(s, o), 0);
    assert_counts(s, 0, 0);
    wf_store_free(s);
    assert_int_equal(wf_alloc_bytes(), a0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_round_trip),
        cmocka_unit_test(test_foreign_tag),
        cmocka_unit_test(test_handles_and_pins),
        cmocka_unit_test(test_slot_reuse_bumps_generation),
        cmocka_unit_test(test_generation_wraps),
        cmocka_unit_test(test_concurrent_alloc_free),
        cmocka_unit_test(test_slots_reused_after_thread_exit),
        cmocka_unit_test(test_slots_reused_after_other_store),
        cmocka_unit_test(test_store_free_releases_everything),
        cmocka_unit_test(test_blob_cap),
        cmocka_unit_test(test_blob_shm),
        cmocka_unit_test(test_value_copy_scalars),
        cmocka_unit_test(test_value_copy_buffers),
        cmocka_unit_test(test_value_copy_arrays),
        cmocka_unit_test(test_value_check),
        cmocka_unit_test(test_value_check_layout_overflow),
        cmocka_unit_test(test_publish_waiters),
        cmocka_unit_test(test_publish_races_waiters),
        cmocka_unit_test(test_wait_deadline),
        cmocka_unit_test(test_wait_many_sleepers),
        cmocka_unit_test(test_error_publish),
        cmocka_unit_test(test_obj_new_oom),
        cmocka_unit_test(test_spare_blobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
