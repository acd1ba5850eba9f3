#include "base/slab.h"

#include <pthread.h>
#include <stdint.h>

#include "base/alloc.h"

/* Size classes, close together where task records fall (96-256 bytes) so
 * a pending task wastes little. */
#define WF_SLAB_CLASSES 12
static const uint16_t wf_class_sizes[WF_SLAB_CLASSES] = {
    64, 96, 128, 160, 192, 224, 256, 320, 384, 512, 768, 1024};
#define WF_SLAB_BATCH 64
#define WF_SLAB_LOCAL_MAX (4 * WF_SLAB_BATCH)

typedef struct wf_block {
    struct wf_block *next;
} wf_block;

typedef struct wf_batch {
    struct wf_batch *next;
    wf_block *blocks; /* WF_SLAB_BATCH blocks linked through next */
} wf_batch;

typedef struct wf_chunk {
    struct wf_chunk *next;
} wf_chunk;

static pthread_mutex_t wf_depot_lock = PTHREAD_MUTEX_INITIALIZER;
static wf_batch *wf_depot[WF_SLAB_CLASSES];
static wf_chunk *wf_chunks; /* keeps every chunk reachable */

static _Thread_local wf_block *wf_local[WF_SLAB_CLASSES];
static _Thread_local unsigned wf_local_n[WF_SLAB_CLASSES];

static int wf_class_of(size_t n)
{
    int c = 0;
    while (wf_class_sizes[c] < n)
        c++;
    return c;
}

static size_t wf_class_size(int c)
{
    return wf_class_sizes[c];
}

/* Refill the local list of class c: a batch from the depot, or a new chunk.
 * The batch header is stored in its first block, so it needs no memory of
 * its own. */
static int wf_refill(int c)
{
    pthread_mutex_lock(&wf_depot_lock);
    wf_batch *b = wf_depot[c];
    if (b)
        wf_depot[c] = b->next;
    pthread_mutex_unlock(&wf_depot_lock);
    if (b) {
        /* The batch header overlays its first block; relink that block. */
        wf_block *rest = b->blocks, *head = (wf_block *)b;
        head->next = rest;
        wf_local[c] = head;
        wf_local_n[c] = WF_SLAB_BATCH;
        return 0;
    }
    size_t sz = wf_class_size(c);
    unsigned char *mem = wf_alloc(sizeof(wf_chunk) + 15 + sz * WF_SLAB_BATCH);
    if (!mem)
        return -1;
    wf_chunk *ch = (wf_chunk *)mem;
    pthread_mutex_lock(&wf_depot_lock);
    ch->next = wf_chunks;
    wf_chunks = ch;
    pthread_mutex_unlock(&wf_depot_lock);
    uintptr_t start =
        ((uintptr_t)(mem + sizeof(wf_chunk)) + 15) & ~(uintptr_t)15;
    wf_block *head = NULL;
    for (int i = WF_SLAB_BATCH - 1; i >= 0; i--) {
        wf_block *blk = (wf_block *)(start + (size_t)i * sz);
        blk->next = head;
        head = blk;
    }
    wf_local[c] = head;
    wf_local_n[c] = WF_SLAB_BATCH;
    return 0;
}

void *wf_slab_alloc(size_t n)
{
    if (n > WF_SLAB_MAX)
        return wf_alloc(n);
    int c = wf_class_of(n);
    if (!wf_local[c] && wf_refill(c) != 0)
        return NULL;
    wf_block *b = wf_local[c];
    wf_local[c] = b->next;
    wf_local_n[c]--;
    return b;
}

/* Too many local blocks: hand a batch back to the depot for other threads
 * (the typical case: one thread submits, others finish and free). */
static void wf_spill(int c)
{
    wf_block *first = wf_local[c], *last = first;
    for (int i = 1; i < WF_SLAB_BATCH; i++)
        last = last->next;
    wf_local[c] = last->next;
    wf_local_n[c] -= WF_SLAB_BATCH;
    last->next = NULL;
    /* The batch header overlays the first block: it keeps the rest. */
    wf_block *rest = first->next;
    wf_batch *b = (wf_batch *)first;
    pthread_mutex_lock(&wf_depot_lock);
    b->next = wf_depot[c];
    b->blocks = rest;
    wf_depot[c] = b;
    pthread_mutex_unlock(&wf_depot_lock);
}

void wf_slab_free(void *p, size_t n)
{
    if (!p)
        return;
    if (n > WF_SLAB_MAX) {
        wf_free(p);
        return;
    }
    int c = wf_class_of(n);
    wf_block *b = p;
    b->next = wf_local[c];
    wf_local[c] = b;
    if (++wf_local_n[c] > WF_SLAB_LOCAL_MAX)
        wf_spill(c);
}
