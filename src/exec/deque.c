#include "exec/deque.h"

#include "base/alloc.h"

static wf_dq_array *wf_dq_array_new(size_t cap)
{
    wf_dq_array *a = wf_alloc(sizeof *a + cap * sizeof(a->slot[0]));
    if (a) {
        a->cap = cap;
        a->prev = NULL;
    }
    return a;
}

int wf_deque_init(wf_deque *d, size_t cap)
{
    wf_dq_array *a = wf_dq_array_new(cap);
    if (!a)
        return -1;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->array, a);
    return 0;
}

void wf_deque_destroy(wf_deque *d)
{
    wf_dq_array *a = atomic_load(&d->array);
    while (a) {
        wf_dq_array *p = a->prev;
        wf_free(a);
        a = p;
    }
}

static int wf_deque_grow(wf_deque *d, wf_dq_array *a, int64_t t, int64_t b)
{
    wf_dq_array *n = wf_dq_array_new(a->cap * 2);
    if (!n)
        return -1;
    for (int64_t i = t; i < b; i++)
        atomic_store_explicit(
            &n->slot[(size_t)i & (n->cap - 1)],
            atomic_load_explicit(&a->slot[(size_t)i & (a->cap - 1)],
                                 memory_order_relaxed),
            memory_order_relaxed);
    n->prev = a;
    atomic_store_explicit(&d->array, n, memory_order_release);
    return 0;
}

int wf_deque_push(wf_deque *d, void *item)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    wf_dq_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    if (b - t > (int64_t)a->cap - 1) {
        if (wf_deque_grow(d, a, t, b) != 0)
            return -1;
        a = atomic_load_explicit(&d->array, memory_order_relaxed);
    }
    atomic_store_explicit(&a->slot[(size_t)b & (a->cap - 1)], item,
                          memory_order_relaxed);
    /* A release store rather than a fence + relaxed store: the same on
     * x86, and ThreadSanitizer then sees the item published to thieves. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return 0;
}

void *wf_deque_pop(wf_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    wf_dq_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    void *x = NULL;
    if (t <= b) {
        x = atomic_load_explicit(&a->slot[(size_t)b & (a->cap - 1)],
                                 memory_order_relaxed);
        if (t == b) {
            if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                         memory_order_seq_cst,
                                                         memory_order_relaxed))
                x = NULL;
            atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        }
    } else {
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

void *wf_deque_steal(wf_deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return NULL;
    wf_dq_array *a = atomic_load_explicit(&d->array, memory_order_consume);
    void *x = atomic_load_explicit(&a->slot[(size_t)t & (a->cap - 1)],
                                   memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(
            &d->top, &t, t + 1, memory_order_seq_cst, memory_order_relaxed))
        return NULL;
    return x;
}
