#!/usr/bin/python3
"""Dask's distributed scheduler as a real multi-process cluster on this machine.

Starts `dask scheduler` on 127.0.0.1 (free port, no dashboard) and 3
`dask worker` processes (--nworkers 1 --nthreads 2 --no-dashboard, default
memory limit, default nanny), each in its own process group, logs to a temp
file; tears everything down at the end, also on error.

Measurements (`name value unit` lines; `#` lines are context):
  dask_cluster.start_s             launch of the scheduler -> a Client sees all 3 workers
  dask_cluster.tiny_throughput     client.map(inc, range(N), pure=False) + gather, N/s
  dask_cluster.round_trip_us       one client.submit(inc, i).result(), sequential
  dask_cluster.transfer_1gib_gbps  1 GiB numpy array moved from worker A to worker B
  dask_cluster.failure_recovery_s  SIGKILL of a busy worker -> scheduler removed it
  dask_cluster.failure_job_s       wall time of the 60 x sleep(0.5 s) job with that kill

Run with Debian's /usr/bin/python3 (python3-dask, python3-distributed).
--quick shrinks N and the repeat counts for a smoke run.
"""
import argparse
import logging
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_dask import emit  # noqa: E402  (one number format for all lines)

NWORKERS = 3
NTHREADS = 2


def note(text):
    print(f"# {text}", flush=True)


def runs_note(name, runs, unit="s"):
    note(f"{name} runs=" + ",".join(f"{r:.4g}" for r in runs) + f" {unit}")


def print_versions():  # the peer suite's version line (bench_tasks.py)
    import cloudpickle, dask, distributed, msgpack, numpy, tornado
    note(f"python={platform.python_version()} ({sys.executable}) dask={dask.__version__} "
         f"distributed={distributed.__version__} numpy={numpy.__version__} "
         f"tornado={tornado.version} cloudpickle={cloudpickle.__version__} "
         f"msgpack={'.'.join(map(str, msgpack.version))} cpus={os.cpu_count()}")


# Task bodies. Defined in __main__, so cloudpickle ships them by value.
def inc(x):
    return x + 1


def sleep_half(i):
    time.sleep(0.5)
    return i


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`dask scheduler` + NWORKERS `dask worker` subprocesses, own process groups."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log_path = os.path.join(tmp, "cluster.log")
        self.log = open(self.log_path, "w")
        self.procs = []  # Popen objects; each is the leader of its process group

    def _spawn(self, args, name):
        # `python -m dask` is the `dask` CLI, run by this same interpreter.
        cwd = os.path.join(self.tmp, name)
        os.mkdir(cwd)
        p = subprocess.Popen([sys.executable, "-m", "dask"] + args, cwd=cwd,
                             stdin=subprocess.DEVNULL, stdout=self.log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def start(self):
        self.scheduler = self._spawn(["scheduler", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--no-dashboard"], "scheduler")
        for i in range(NWORKERS):
            self._spawn(["worker", self.address, "--nworkers", "1", "--nthreads",
                         str(NTHREADS), "--no-dashboard", "--host", "127.0.0.1",
                         "--name", f"w{i}", "--local-directory",
                         os.path.join(self.tmp, f"w{i}")], f"w{i}")

    def wait_listening(self, timeout=60.0):
        """Poll (10 ms) until the scheduler accepts TCP connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited ({self.scheduler.returncode})")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise TimeoutError("dask scheduler did not start listening")

    def own_pids(self):
        return {p.pid for p in self.procs}

    def stop(self):
        """SIGTERM every process group (workers first), then SIGKILL leftovers."""
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:  # the groups, also children whose leader already exited
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        self.log.close()

    def log_tail(self, n=40):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-n:])


def workers(client):
    """{address: info} as the scheduler currently sees it (one RPC)."""
    return client.scheduler_info()["workers"]


def random_bytes(n, dtype):
    import numpy
    return numpy.random.default_rng(1).integers(0, 256, n, dtype=dtype)


def transfer(client, make, size, A, B):
    """Seconds for a task pinned to worker B to get a `size`-byte array made
    on worker A: B fetches it from A over TCP (worker to worker). Timed:
    submit on B -> its tiny result (the array's nbytes) at the client."""
    from distributed import wait
    arr = client.submit(make, size, dtype="u1", workers=[A], pure=False)
    wait(arr)
    t = time.perf_counter()
    nb = client.submit(lambda x: x.nbytes, arr, workers=[B],
                       allow_other_workers=False, pure=False).result()
    t = time.perf_counter() - t
    assert nb == size, nb
    del arr
    # Wait until the workers have dropped both copies.
    deadline = time.monotonic() + 30
    while sum(client.run(lambda dask_worker: len(dask_worker.data)).values()):
        if time.monotonic() > deadline:
            raise TimeoutError("the transferred arrays were not released")
        time.sleep(0.05)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N, fewer repeats")
    args = ap.parse_args()
    N = 2_000 if args.quick else 20_000
    reps = 1 if args.quick else 3
    rt_warm, rt_n = (5, 50) if args.quick else (20, 300)
    NFAIL = 60

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` runs
    logging.getLogger("distributed").setLevel(logging.ERROR)
    import dask
    import numpy
    from distributed import Client
    from distributed.protocol.compression import default_compression

    load = " ".join(open("/proc/loadavg").read().split()[0:3])
    note(f"dask_cluster: 1 scheduler + {NWORKERS} workers x {NTHREADS} threads "
         f"(dask worker --nworkers 1, nanny on, default memory limit) on 127.0.0.1; "
         f"load average {load}")
    print_versions()

    with tempfile.TemporaryDirectory(prefix="dask_cluster.") as tmp:
        cluster = Cluster(tmp)
        client = None
        ok = False
        try:
            # ---- start_s: launching the scheduler -> Client sees all workers.
            t0 = time.perf_counter()
            cluster.start()
            cluster.wait_listening()
            client = Client(cluster.address, timeout="60s")
            deadline = time.monotonic() + 120
            while len(workers(client)) < NWORKERS:
                if time.monotonic() > deadline:
                    raise TimeoutError("workers did not all register")
                time.sleep(0.01)
            emit("dask_cluster.start_s", time.perf_counter() - t0, "s")
            note(f"scheduler {cluster.address}")

            client.gather(client.map(inc, range(10), pure=False))  # warm-up

            # ---- tiny_throughput: N independent tiny tasks, map + gather.
            # pure=False gives fresh keys each run (no result reuse).
            runs = []
            for _ in range(reps):
                t = time.perf_counter()
                futs = client.map(inc, range(N), pure=False)
                out = client.gather(futs)
                runs.append(time.perf_counter() - t)
                assert sum(out) == N * (N - 1) // 2 + N
                del futs, out
            note(f"tiny: client.map(inc, range({N}), pure=False) + gather; "
                 f"N={N}; median of {reps}")
            runs_note("dask_cluster.tiny", runs)
            emit("dask_cluster.tiny_throughput", N / statistics.median(runs), "tasks/s")

            # ---- round_trip_us: latency of one submit -> result, nothing else
            # in flight (client -> scheduler -> worker -> scheduler -> client).
            lat = []
            for i in range(rt_warm + rt_n):
                t = time.perf_counter()
                r = client.submit(inc, i, pure=False).result()
                if i >= rt_warm:
                    lat.append(time.perf_counter() - t)
                assert r == i + 1
            note(f"round trip: {rt_n} sequential client.submit(inc, i).result() "
                 f"after {rt_warm} warm-up; median; the client batches its messages "
                 "to the scheduler (BatchedSend, 10 ms interval in distributed "
                 "2022.12), which paces back-to-back submits")
            emit("dask_cluster.round_trip_us", 1e6 * statistics.median(lat), "us")

            # ---- transfer_1gib_gbps: a task pinned to worker B needs a 1 GiB
            # array that lives on worker A, so B fetches it over TCP (worker to
            # worker). Timed: submit on B -> its (tiny) result at the client.
            A, B = sorted(workers(client))[:2]
            size = 1 << 30
            runs = [transfer(client, numpy.ones, size, A, B) for _ in range(reps)]
            note(f"transfer: 1 GiB uint8 numpy.ones {A} -> {B}; median of {reps}; "
                 "Dask's default comm.compression="
                 f"{dask.config.get('distributed.comm.compression')} (here "
                 f"{default_compression}) compresses these all-ones 64 MiB shards "
                 "on the way")
            runs_note("dask_cluster.transfer_1gib", runs)
            emit("dask_cluster.transfer_1gib_gbps", size / statistics.median(runs) / 1e9,
                 "GB/s")
            # Context only: one run with incompressible (random) bytes.
            t = transfer(client, random_bytes, size, A, B)
            note(f"transfer: 1 GiB of random bytes (incompressible), one run: "
                 f"{t:.3f} s = {size / t / 1e9:.3f} GB/s")

            # ---- failure: 60 x sleep(0.5 s) over 6 threads (5 s ideal); 0.7 s
            # in, SIGKILL one worker *process* (the nanny's child, not the
            # nanny). failure_recovery_s: kill -> the scheduler has removed the
            # dead worker (polled every 10 ms). failure_job_s: submit -> all 60
            # results gathered (includes re-running the lost tasks; the nanny
            # restarts the worker meanwhile, as it would for a Dask user).
            victim = sorted(workers(client))[-1]
            pid = client.run(os.getpid, workers=[victim])[victim]  # runs in the worker
            leaders = cluster.own_pids()
            proc = psutil.Process(pid)
            assert pid not in leaders and proc.ppid() in leaders, \
                f"pid {pid} of {victim} is not a worker child of our nannies"
            t_submit = time.perf_counter()
            futs = client.map(sleep_half, range(NFAIL), pure=False)
            time.sleep(max(0.0, t_submit + 0.7 - time.perf_counter()))
            busy = client.processing(workers=[victim]).get(victim, [])
            t_kill = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            while victim in workers(client):
                if time.perf_counter() - t_kill > 120:
                    raise TimeoutError("scheduler did not remove the killed worker")
                time.sleep(0.01)
            t_removed = time.perf_counter()
            # Until the job is done, watch for the nanny's replacement worker.
            t_back = None
            while not all(f.done() for f in futs):
                if t_back is None and len(workers(client)) >= NWORKERS:
                    t_back = time.perf_counter()
                time.sleep(0.05)
            out = client.gather(futs)
            t_done = time.perf_counter()
            assert out == list(range(NFAIL)), out
            note(f"failure: {NFAIL} x sleep(0.5 s), pure=False, on {NWORKERS * NTHREADS} "
                 f"threads (ideal {NFAIL * 0.5 / (NWORKERS * NTHREADS):.1f} s); SIGKILL of "
                 f"worker process pid {pid} ({victim}, {len(busy)} tasks on it) "
                 f"{t_kill - t_submit:.3f} s after submit; nanny on")
            note("failure: kill -> all results gathered "
                 f"{t_done - t_kill:.3f} s; replacement worker registered "
                 + (f"{t_back - t_kill:.3f} s after the kill" if t_back
                    else "not before the job ended"))
            emit("dask_cluster.failure_recovery_s", t_removed - t_kill, "s")
            emit("dask_cluster.failure_job_s", t_done - t_submit, "s")
            load = " ".join(open("/proc/loadavg").read().split()[0:3])
            note(f"dask_cluster: load average at the end {load}")
            ok = True
        finally:
            if client is not None:
                try:
                    client.close(timeout=10)
                except Exception as e:  # teardown must go on
                    print(f"dask_cluster: client.close: {e}", file=sys.stderr)
            cluster.stop()
            if not ok:
                print("dask_cluster: failed; cluster log tail:\n" + cluster.log_tail(),
                      file=sys.stderr)


if __name__ == "__main__":
    main()
