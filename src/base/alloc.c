#include "base/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Each block carries its size in a 16-byte prefix so frees can be counted
 * without asking the C library. */
#define WF_ALLOC_HDR 16

static _Atomic uint64_t wf_bytes;
static _Atomic uint64_t wf_fail_countdown;

static int wf_should_fail(void)
{
    uint64_t c = atomic_load_explicit(&wf_fail_countdown, memory_order_relaxed);
    while (c != 0) {
        if (atomic_compare_exchange_weak(&wf_fail_countdown, &c, c - 1))
            return c == 1;
    }
    return 0;
}

void *wf_alloc(size_t n)
{
    if (n > SIZE_MAX - WF_ALLOC_HDR || wf_should_fail())
        return NULL;
    unsigned char *p = malloc(n + WF_ALLOC_HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    atomic_fetch_add_explicit(&wf_bytes, n, memory_order_relaxed);
    return p + WF_ALLOC_HDR;
}

void *wf_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = wf_alloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *wf_realloc(void *p, size_t n)
{
    if (!p)
        return wf_alloc(n);
    if (n > SIZE_MAX - WF_ALLOC_HDR || wf_should_fail())
        return NULL;
    unsigned char *base = (unsigned char *)p - WF_ALLOC_HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    unsigned char *q = realloc(base, n + WF_ALLOC_HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof n);
    atomic_fetch_add_explicit(&wf_bytes, n - old, memory_order_relaxed);
    return q + WF_ALLOC_HDR;
}

void wf_free(void *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - WF_ALLOC_HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    atomic_fetch_sub_explicit(&wf_bytes, n, memory_order_relaxed);
    free(base);
}

char *wf_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = wf_alloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

uint64_t wf_alloc_bytes(void)
{
    return atomic_load_explicit(&wf_bytes, memory_order_relaxed);
}

void wf_alloc_fail_after(uint64_t n)
{
    atomic_store(&wf_fail_countdown, n);
}
