#!/usr/bin/python3
"""weft vs Dask on the Dask peer suite's task workloads, in the same run.

Run through bench/vs-dask BUILD_DIR (which checks the prerequisites).

Workloads (the peer's defaults; never smaller unless asked on the command line):
  tiny  : (peer a) 100,000 delayed(lambda x: x+1) summed by delayed(sum),
          threaded scheduler  <->  weft: 100,000 `inc` tasks, results summed
  chain : (peer c, threaded reference) 5,000 dependent inc tasks as a raw graph
          run by dask.threaded.get  <->  weft: chain of 5,000 weft_refv tasks
  tree  : 2^16 inc leaves + a binary tree of adds (raw graph, dask.threaded.get;
          not in the peer suite, built the same way as its chain)
  map   : (peer b) client.map(inc, range(20000), pure=False) + gather on
          LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
          <->  weft: the tiny workload with 20,000 tasks on the worker-process
          executor (one process per core), and on the thread executor

The peer's own helpers (inc, bench, REPEATS, print_versions) are imported from
bench_tasks.py. Dask timings: median of the peer's REPEATS (3) runs; weft's:
median of --weft-reps runs. Output: `name value unit` lines, `#` for context,
and ratio lines `vs_dask.<workload>.speedup_<dask variant> X x` (Dask time /
weft time, so > 1 means weft is faster).
"""
import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from operator import add


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


def note(text):
    print(f"# {text}", flush=True)


def runs_note(name, runs):
    note(f"{name} runs=" + ",".join(f"{r:.4g}" for r in runs) + " s")


def run_weft(exe, args):
    """Run the weft side; pass its lines through and return {name: value}."""
    cmd = [exe] + [str(a) for a in args]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    vals = {}
    for line in out.splitlines():
        print(line, flush=True)
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 3:
            vals[parts[0]] = float(parts[1])
    return vals


def tree_graph(prefix, leaves, inc):
    dsk = {(prefix, 0, i): (inc, i) for i in range(leaves)}
    level = [(prefix, 0, i) for i in range(leaves)]
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = []
        for i in range(len(level) // 2):
            key = (prefix, depth, i)
            dsk[key] = (add, level[2 * i], level[2 * i + 1])
            nxt.append(key)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return dsk, level[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=True, help="the Dask peer suite directory")
    ap.add_argument("--weft", required=True, help="the vs_dask_weft executable")
    ap.add_argument("--tiny", type=int, default=100_000)
    ap.add_argument("--chain", type=int, default=5_000)
    ap.add_argument("--tree-leaves", type=int, default=1 << 16)
    ap.add_argument("--map", type=int, default=20_000)
    ap.add_argument("--weft-reps", type=int, default=5)
    ap.add_argument("--no-cluster", action="store_true",
                    help="skip the LocalCluster part (about 2 minutes)")
    args = ap.parse_args()

    sys.dont_write_bytecode = True  # leave no __pycache__ in the peer suite
    sys.path.insert(0, args.peer)
    # Worker processes of the LocalCluster import bench_tasks for `inc`.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ["PYTHONPATH"] = args.peer + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    import bench_tasks as peer  # the peer's helpers; its main() is not run
    import dask
    import dask.threaded
    from dask import delayed

    load = " ".join(open("/proc/loadavg").read().split()[0:3])
    try:
        psi = open("/proc/pressure/cpu").readline().split()[1:3]
    except OSError:
        psi = ["?"]
    note(f"vs-dask: peer suite {os.path.realpath(os.path.join(args.peer, 'bench_tasks.py'))}; "
         f"load average {load}; cpu pressure (some) {' '.join(psi)}")
    peer.print_versions()

    # ---------------------------------------------------------------- weft
    w = run_weft(args.weft, [args.tiny, args.chain, args.tree_leaves, args.map,
                             args.weft_reps])

    # ------------------------------------------- (a) tiny tasks, threaded
    N = args.tiny
    f = lambda x: x + 1  # noqa: E731  (as in the peer)
    build_times, compute_times = [], []
    total = None
    for _ in range(peer.REPEATS):
        t0 = time.perf_counter()
        vals = [delayed(f)(i) for i in range(N)]
        s = delayed(sum)(vals)
        t1 = time.perf_counter()
        total = s.compute(scheduler="threads")
        t2 = time.perf_counter()
        build_times.append(t1 - t0)
        compute_times.append(t2 - t1)
        del vals, s
    assert total == N * (N - 1) // 2 + N, total
    e2e = [b + c for b, c in zip(build_times, compute_times)]
    note(f"dask (a): {N} delayed(lambda x: x+1) + delayed(sum), threaded; "
         f"median of {peer.REPEATS}")
    runs_note("dask.tiny_tasks.threaded.compute", compute_times)
    emit("dask.tiny_tasks.threaded.graph_build", statistics.median(build_times), "s")
    emit("dask.tiny_tasks.threaded.compute", statistics.median(compute_times), "s")
    emit("dask.tiny_tasks.threaded.end_to_end", statistics.median(e2e), "s")
    emit("dask.tiny_tasks.threaded.rate_end_to_end", (N + 1) / statistics.median(e2e),
         "tasks/s")

    # ------------------------------------------------ (c) chain, threaded
    NC = args.chain
    dsk = {("chain", 0): (peer.inc, 0)}
    for i in range(1, NC):
        dsk[("chain", i)] = (peer.inc, ("chain", i - 1))
    med, runs, res = peer.bench(lambda: dask.threaded.get(dsk, ("chain", NC - 1)))
    assert res == NC, res
    note(f"dask (c): chain of {NC} inc, raw graph, dask.threaded.get; "
         f"median of {peer.REPEATS}")
    runs_note("dask.chain.threaded", runs)
    emit("dask.chain.threaded", med, "s")
    emit("dask.chain.threaded.rate", NC / med, "tasks/s")
    chain_med = med

    # ------------------------------------------------- tree, threaded
    L = args.tree_leaves
    tdsk, root = tree_graph("tree", L, peer.inc)
    med, runs, res = peer.bench(lambda: dask.threaded.get(tdsk, root))
    assert res == L * (L + 1) // 2, res
    note(f"dask tree: {L} inc leaves + {L - 1} adds, raw graph, "
         f"dask.threaded.get; median of {peer.REPEATS}")
    runs_note("dask.tree_reduce.threaded", runs)
    emit("dask.tree_reduce.threaded", med, "s")
    emit("dask.tree_reduce.threaded.rate", (2 * L - 1) / med, "tasks/s")
    tree_med = med

    # --------------------------------------- (b) map + gather, LocalCluster
    map_med = None
    if not args.no_cluster:
        from distributed import Client, LocalCluster
        t0 = time.perf_counter()
        # As the peer, but logs at CRITICAL: at close, distributed 2022.12's
        # workers log "Failed to communicate with scheduler during heartbeat"
        # tracebacks (harmless; failures still raise here).
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.CRITICAL)
        client = Client(cluster)
        client.wait_for_workers(2)
        emit("dask.localcluster_start", time.perf_counter() - t0, "s")
        client.gather(client.map(peer.inc, range(10), pure=False))  # warm-up
        NM = args.map

        def do_map():
            futs = client.map(peer.inc, range(NM), pure=False)
            out = client.gather(futs)
            s = sum(out)
            del futs, out
            return s

        med, runs, res = peer.bench(do_map)
        assert res == NM * (NM - 1) // 2 + NM, res
        note(f"dask (b): client.map(inc, range({NM}), pure=False) + gather, "
             f"LocalCluster 2 processes x 1 thread; median of {peer.REPEATS}")
        runs_note("dask.map_tasks.localcluster", runs)
        emit("dask.map_tasks.localcluster", med, "s")
        emit("dask.map_tasks.localcluster.rate", NM / med, "tasks/s")
        map_med = med
        client.close()
        cluster.close()

    # ----------------------------------------------------------- ratios
    wt = w["vs_dask_weft.tiny_tasks.time"]
    note("speedup = Dask time / weft time (> 1: weft faster); weft times run "
         "from the first submit to the last result")
    emit("vs_dask.tiny_tasks.speedup_threaded", statistics.median(e2e) / wt, "x")
    emit("vs_dask.tiny_tasks.speedup_threaded_compute_only",
         statistics.median(compute_times) / wt, "x")
    emit("vs_dask.chain.speedup_threaded", chain_med / w["vs_dask_weft.chain.time"], "x")
    emit("vs_dask.tree_reduce.speedup_threaded",
         tree_med / w["vs_dask_weft.tree_reduce.time"], "x")
    if map_med is not None:
        if "vs_dask_weft.map_tasks_procs.time" in w:
            note("map: Dask on 2 worker processes vs weft on its worker-process "
                 "executor (one process per core)")
            emit("vs_dask.tiny_tasks.speedup_localcluster",
                 map_med / w["vs_dask_weft.map_tasks_procs.time"], "x")
        note("map: Dask on 2 worker processes vs weft on its thread executor")
        emit("vs_dask.tiny_tasks.speedup_localcluster_vs_threads",
             map_med / w["vs_dask_weft.map_tasks.time"], "x")


if __name__ == "__main__":
    main()
