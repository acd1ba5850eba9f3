/* One door for heap memory: every byte weft allocates is counted here, and
 * tests can make the n-th allocation fail to check error paths. */
#ifndef WF_BASE_ALLOC_H
#define WF_BASE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *wf_alloc(size_t n); /* NULL on failure (or injected failure) */
void *wf_calloc(size_t n, size_t size);
void *wf_realloc(void *p, size_t n);
void wf_free(void *p);
char *wf_strdup(const char *s);

/* Bytes currently allocated through wf_alloc and friends. */
uint64_t wf_alloc_bytes(void);

/* Make the n-th allocation from now fail (1 = the next one); 0 disables. */
void wf_alloc_fail_after(uint64_t n);

#endif
