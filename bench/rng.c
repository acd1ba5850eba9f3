/* The counter-based random kernel (src/array/rng.c): one 1000x1000 chunk
 * of a 10000x10000 uniform array, as the array benchmark's random() makes
 * it, on one core; the normal; and the narrower SIMD levels. The first
 * runs of each figure also pay for faulting in fresh pages (see the runs
 * line): the median is the kernel's own time. */
#include "array/nd.h"
#include "array/nd_int.h"

#include "bench.h"

#define REPS 9

/* Median seconds to make the chunk at (3000, 4000). */
static double time_chunk(wf_rng_dist dist)
{
    int64_t g[2] = {10000, 10000}, o[2] = {3000, 4000}, c[2] = {1000, 1000};
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        wf_nd x;
        double t0 = bench_now();
        if (wf_nd_random(dist, 42 + (uint64_t)r, 0, 1, 2, g, o, c, &x)) {
            fprintf(stderr, "rng: %s\n", wf_nd_error());
            exit(1);
        }
        t[r] = bench_now() - t0;
        wf_nd_free(&x);
    }
    bench_runs(dist == WF_RNG_NORMAL ? "normal" : "uniform", t, REPS, 1e3,
               "ms");
    return bench_median(t, REPS);
}

int main(void)
{
    bench_note_load("rng");
    double u = time_chunk(WF_RNG_UNIFORM);
    bench_emit("nd.random_uniform_1000x1000", u * 1e3, "ms");
    bench_emit("nd.random_ns_per_elem", u * 1e9 / 1e6, "ns");
    double nrm = time_chunk(WF_RNG_NORMAL);
    bench_emit("nd.random_normal_ns_per_elem", nrm * 1e9 / 1e6, "ns");
    wf_rng_simd_limit(WF_RNG_SIMD_AVX2);
    double v = time_chunk(WF_RNG_UNIFORM);
    bench_emit("nd.random_uniform_avx2_ns_per_elem", v * 1e9 / 1e6, "ns");
    double vn = time_chunk(WF_RNG_NORMAL);
    bench_emit("nd.random_normal_avx2_ns_per_elem", vn * 1e9 / 1e6, "ns");
    wf_rng_simd_limit(WF_RNG_SIMD_NONE);
    double p = time_chunk(WF_RNG_UNIFORM);
    bench_emit("nd.random_uniform_portable_ns_per_elem", p * 1e9 / 1e6, "ns");
    return 0;
}
