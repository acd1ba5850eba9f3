/* Pooled fixed-size blocks for hot-path records (tasks, waiters): per-thread
 * free lists refilled in batches from a shared depot, so allocating and
 * freeing a block is a few instructions and no lock in the steady state.
 * Blocks come from large chunks that live until the process exits. */
#ifndef WF_BASE_SLAB_H
#define WF_BASE_SLAB_H

#include <stddef.h>

#define WF_SLAB_MAX 1024 /* larger requests go to wf_alloc */

/* A block of at least n bytes (16-byte aligned) or NULL. */
void *wf_slab_alloc(size_t n);
/* Return a block of the size it was allocated with. */
void wf_slab_free(void *p, size_t n);

#endif
