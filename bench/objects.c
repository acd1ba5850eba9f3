/* Object store benchmarks: weft_put + weft_get of a 256 MiB float64 array.
 *   put: one copy into fresh store memory (shared memory, first-touch page
 *        faults included), compared with a plain memcpy of 256 MiB into
 *        freshly mapped memory (page faults too) and into pre-touched memory;
 *   create+fill+seal: the zero-copy way to make the same object;
 *   get: a view, no copy: its time, and the pointer checks. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define NREP 5
#define MIB (1024.0 * 1024.0)

static const size_t NBYTES = (size_t)256 << 20;

static void *map_fresh(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static void print_thp(void)
{
    const char *paths[] = {"/sys/kernel/mm/transparent_hugepage/enabled",
                           "/sys/kernel/mm/transparent_hugepage/shmem_enabled"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        char buf[128] = "?";
        if (f) {
            if (!fgets(buf, sizeof buf, f))
                strcpy(buf, "?");
            fclose(f);
        }
        buf[strcspn(buf, "\n")] = '\0';
        bench_note("%s: %s", paths[i], buf);
    }
}

static double gbps(double seconds)
{
    return (double)NBYTES / seconds / 1e9;
}

int main(void)
{
    weft_runtime *rt;
    BENCH_CHECK(weft_init(&rt, NULL)); /* first: see "Executors" in the guide */
    bench_note_load("objects");

    const size_t n = NBYTES / sizeof(double);
    double *src = malloc(NBYTES);
    if (!src)
        return 1;
    for (size_t i = 0; i < n; i++)
        src[i] = (double)i * 0.5;
    bench_note("objects: 256 MiB float64 array (%zu elements); median of %d; "
               "GB = 1e9 bytes",
               n, NREP);
    print_thp();

    /* Plain memcpy into fresh memory: map, copy (page faults), unmap. */
    double fresh[NREP], touched[NREP];
    for (int r = 0; r < NREP; r++) {
        double t0 = bench_now();
        void *dst = map_fresh(NBYTES);
        memcpy(dst, src, NBYTES);
        fresh[r] = bench_now() - t0;
        munmap(dst, NBYTES);
    }
    /* Plain memcpy into memory touched beforehand. */
    void *pre = map_fresh(NBYTES);
    memset(pre, 1, NBYTES);
    for (int r = 0; r < NREP; r++) {
        double t0 = bench_now();
        memcpy(pre, src, NBYTES);
        touched[r] = bench_now() - t0;
    }
    munmap(pre, NBYTES);

    /* weft_put: copies once into fresh store memory. Then weft_get. */
    int64_t shape[1] = {(int64_t)n};
    weft_value v = weft_array(WEFT_DT_F64, 1, shape, src);
    double put[NREP], get[NREP], release[NREP];
    bool zero_copy = true, same = true;
    for (int r = 0; r < NREP; r++) {
        weft_ref ref;
        double t0 = bench_now();
        BENCH_CHECK(weft_put(rt, &v, &ref));
        double t1 = bench_now();
        weft_value got, again;
        BENCH_CHECK(weft_get(rt, ref, &got, 0));
        double t2 = bench_now();
        BENCH_CHECK(weft_get(rt, ref, &again, 0));
        put[r] = t1 - t0;
        get[r] = t2 - t1;
        if (got.type != WEFT_T_ARRAY || got.u.arr.dtype != WEFT_DT_F64 ||
            got.u.arr.ndim != 1 || got.u.arr.shape[0] != (int64_t)n ||
            got.u.arr.data == (const void *)src ||
            got.u.arr.data != again.u.arr.data)
            zero_copy = false;
        if (r == 0 && memcmp(got.u.arr.data, src, NBYTES) != 0)
            same = false;
        double t3 = bench_now();
        BENCH_CHECK(weft_release(rt, ref));
        release[r] = bench_now() - t3;
    }

    /* weft_create + fill in place + weft_seal: no copy by weft; the get must
     * return the very memory that was filled. */
    double create[NREP];
    for (int r = 0; r < NREP; r++) {
        void *data;
        weft_ref ref;
        double t0 = bench_now();
        BENCH_CHECK(weft_create(rt, NBYTES, &data, &ref));
        memcpy(data, src, NBYTES);
        BENCH_CHECK(weft_seal(rt, ref));
        create[r] = bench_now() - t0;
        weft_value got;
        BENCH_CHECK(weft_get(rt, ref, &got, 0));
        if (got.type != WEFT_T_BYTES || got.u.buf.data != data ||
            got.u.buf.len != NBYTES)
            zero_copy = false;
        BENCH_CHECK(weft_release(rt, ref));
    }
    weft_shutdown(rt);
    free(src);

    double m_fresh = bench_median(fresh, NREP);
    double m_touched = bench_median(touched, NREP);
    double m_put = bench_median(put, NREP);
    double m_create = bench_median(create, NREP);
    bench_runs("objects.memcpy_fresh_256mib", fresh, NREP, 1e3, "ms");
    bench_emit("objects.memcpy_fresh_256mib", 1e3 * m_fresh, "ms");
    bench_emit("objects.memcpy_fresh_256mib_rate", gbps(m_fresh), "GB/s");
    bench_runs("objects.memcpy_touched_256mib", touched, NREP, 1e3, "ms");
    bench_emit("objects.memcpy_touched_256mib", 1e3 * m_touched, "ms");
    bench_emit("objects.memcpy_touched_256mib_rate", gbps(m_touched), "GB/s");
    bench_runs("objects.put_256mib", put, NREP, 1e3, "ms");
    bench_emit("objects.put_256mib", 1e3 * m_put, "ms");
    bench_emit("objects.put_256mib_rate", gbps(m_put), "GB/s");
    bench_emit("objects.put_vs_memcpy_fresh", m_put / m_fresh, "x");
    bench_runs("objects.create_fill_seal_256mib", create, NREP, 1e3, "ms");
    bench_emit("objects.create_fill_seal_256mib", 1e3 * m_create, "ms");
    bench_runs("objects.get_256mib", get, NREP, 1e6, "us");
    bench_emit("objects.get_256mib", 1e6 * bench_median(get, NREP), "us");
    bench_emit("objects.release_256mib", 1e3 * bench_median(release, NREP),
               "ms");
    bench_note("get returned the same store pointer twice, not the source, "
               "and the weft_create'd memory itself: %s; contents equal: %s",
               zero_copy ? "yes" : "NO", same ? "yes" : "NO");
    bench_emit("objects.get_256mib_zero_copy", zero_copy && same ? 1 : 0,
               "bool");
    return zero_copy && same ? 0 : 1;
}
