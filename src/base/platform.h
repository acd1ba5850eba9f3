/* The one place that talks to the operating system directly: clocks,
 * futexes, machine size, shared memory. */
#ifndef WF_BASE_PLATFORM_H
#define WF_BASE_PLATFORM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds. */
uint64_t wf_now_ns(void);

/* Sleep while *addr == val, at most timeout_ns (negative: no limit).
 * Returns 0 when woken (or the value differed), -1 on timeout. */
int wf_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
void wf_futex_wake(_Atomic uint32_t *addr, int n);

int wf_ncpus(void);         /* cores this process may run on, >= 1 */
uint64_t wf_phys_mem(void); /* bytes of physical memory */

/* A new anonymous shared memory file of n bytes (memfd), close-on-exec.
 * Returns the fd or -1 with errno set. */
int wf_shm_create(const char *name, size_t n);

/* Pause instruction for spin loops. */
static inline void wf_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
