#!/usr/bin/python3
"""Word count with dask.bag on the files bench/bag makes (the peer of
bench/bag.c): read_text, str.split, flatten, frequencies, computed with the
threaded and the multiprocessing scheduler (one run each after a warm-up
read of the files; the best of the two is the figure).

    /usr/bin/python3 bench/bag_dask.py [DIR]   (default: build/bench-data/text
                                                or $WEFT_BAG_DATA)
Prints `dask.bag.wordcount_100mb <s> s` and one line per scheduler."""
import glob
import os
import sys
import time

import dask
import dask.bag as db


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.environ.get("WEFT_BAG_DATA") or os.path.join(
        here, "..", "build", "bench-data", "text")
    data = sys.argv[1] if len(sys.argv) > 1 else default
    files = sorted(glob.glob(os.path.join(data, "part-*.txt")))
    if not files:
        print(f"bag_dask: no part-*.txt in {data} (run build/bench/bag first)",
              file=sys.stderr)
        return 1
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    for f in files:  # warm the page cache as bench/bag does
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    print(f"# dask {dask.__version__}, {len(files)} files, {mb:.0f} MB, "
          f"{os.cpu_count()} cores")
    best = None
    for sched in ("threads", "processes"):
        b = db.read_text(os.path.join(data, "part-*.txt"))
        freq = b.str.split().flatten().frequencies()
        t, c = time.perf_counter(), time.process_time()
        res = freq.compute(scheduler=sched)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        total = sum(c for _, c in res)
        top = max(res, key=lambda kv: (kv[1], kv[0]))
        print(f"# dask.bag {sched}: {total} words, {len(res)} distinct, "
              f"top '{top[0]} {top[1]}'; cpu of this process {dc:.3f} s")
        print(f"dask.bag.wordcount_100mb.{sched} {dt:.3f} s")
        best = dt if best is None else min(best, dt)
    print(f"dask.bag.wordcount_100mb {best:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
