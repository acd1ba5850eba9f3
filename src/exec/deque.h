/* Chase-Lev work-stealing deque (after Le, Pop, Cohen, Zappa Nardelli,
 * PPoPP'13): the owner pushes and pops at the bottom without locks, thieves
 * take from the top with one CAS. Grows by doubling; old arrays are kept
 * until the deque is freed, since a thief may still read them. */
#ifndef WF_EXEC_DEQUE_H
#define WF_EXEC_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wf_dq_array {
    size_t cap; /* power of two */
    struct wf_dq_array *prev;
    _Atomic(void *) slot[];
} wf_dq_array;

typedef struct wf_deque {
    _Atomic int64_t top;
    char pad1[56];
    _Atomic int64_t bottom;
    _Atomic(wf_dq_array *) array;
    char pad2[48];
} wf_deque;

int wf_deque_init(wf_deque *d, size_t cap);
void wf_deque_destroy(wf_deque *d);
/* Owner only. Returns -1 if growing failed. */
int wf_deque_push(wf_deque *d, void *item);
/* Owner only: newest item or NULL. */
void *wf_deque_pop(wf_deque *d);
/* Any thread: oldest item or NULL (also NULL when losing a race). */
void *wf_deque_steal(wf_deque *d);
/* Approximate: may be stale by the time it is used. */
static inline bool wf_deque_empty(wf_deque *d)
{
    return atomic_load_explicit(&d->bottom, memory_order_relaxed) <=
           atomic_load_explicit(&d->top, memory_order_relaxed);
}

#endif
