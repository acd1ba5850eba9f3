#!/usr/bin/python3
"""Dask's side of bench/array.c: the same array workloads with dask.array on
the threaded scheduler (one thread per core), for comparing on one machine.

  seed002 : x = da.random.random((N, N), chunks=(C, C))
            y = (x + x.T) - x.mean(axis=0); y.sum().compute()
            (N=10000, C=1000 by default: Dask's own seed example)
  matmul  : (a @ b).compute() for random 4000x4000 float64 in 1000x1000 chunks
  numpy   : a @ b on the whole matrices (numpy's BLAS, its own threads)

Output: `name value unit` lines (median of --reps runs; peak RSS of this
process), `#` lines for context.

  /usr/bin/python3 bench/array_dask.py [--n 10000 --chunk 1000 --reps 3]
"""
import argparse
import os
import resource
import statistics
import time

import dask
import dask.array as da
import numpy as np


def emit(name, value, unit):
    a = abs(value)
    if a >= 1e5:
        v = f"{value:.0f}"
    elif a >= 100:
        v = f"{value:.1f}"
    elif a >= 1:
        v = f"{value:.3f}"
    else:
        v = f"{value:.4g}"
    print(f"{name} {v} {unit}", flush=True)


def timed(fn, reps):
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    print("# runs=" + ",".join(f"{r:.4g}" for r in runs) + " s", flush=True)
    return statistics.median(runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--matmul", type=int, default=4000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed-only", action="store_true")
    a = ap.parse_args()
    print(f"# dask {dask.__version__} numpy {np.__version__}, "
          f"{os.cpu_count()} cores, threaded scheduler", flush=True)

    def seed():
        x = da.random.random((a.n, a.n), chunks=(a.chunk, a.chunk))
        y = (x + x.T) - x.mean(axis=0)
        return y.sum().compute(scheduler="threads")

    t = timed(seed, a.reps)
    emit(f"dask.array.seed002_sum_{a.n}_s", t, "s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit("dask.array.seed002_peak_rss_mib", peak, "MiB")

    if a.seed_only:
        return
    m = a.matmul
    x = da.random.random((m, m), chunks=(1000, 1000)).persist()
    y = da.random.random((m, m), chunks=(1000, 1000)).persist()
    t = timed(lambda: (x @ y).compute(scheduler="threads"), a.reps)
    emit(f"dask.array.matmul_{m}_s", t, "s")
    xn, yn = x.compute(), y.compute()
    t = timed(lambda: xn @ yn, a.reps)
    emit(f"dask.numpy.matmul_{m}_s", t, "s")


if __name__ == "__main__":
    main()
