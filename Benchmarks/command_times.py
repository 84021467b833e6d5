#!/usr/bin/env python3
"""Whole-command wall times of several `reluflow` binaries in alternation (issue 22: before and after a change,
under the same load): `BIN simulate --example sine --T T --quiet --out DIR` spawned with posix_spawn, the binaries
taking turns, medians (and minima) of `repeats` per binary and T.

    python3 Benchmarks/command_times.py --T 1e-3 1 1e5 1e6 --repeats 21 OLD/reluflow .build/release/reluflow
"""
import argparse
import os
import shutil
import statistics
import tempfile
import time


def run(exe, T, out):
    argv = [exe, "simulate", "--example", "sine", "--T", T, "--quiet", "--out", out]
    devnull = os.open(os.devnull, os.O_WRONLY)
    start = time.perf_counter()
    pid = os.posix_spawn(exe, argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{exe} exited with {os.waitstatus_to_exitcode(status)}")
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--T", nargs="+", default=["1e-3", "1", "1e5", "1e6"])
    ap.add_argument("--repeats", type=int, default=21)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="reluflow-command-times-")
    try:
        for T in a.T:
            walls = {b: [] for b in a.binaries}
            for _ in range(a.repeats):
                for k, b in enumerate(a.binaries):
                    walls[b].append(run(os.path.abspath(b), T, os.path.join(tmp, f"run{k}")))
            cells = "  ".join(f"{b}: {statistics.median(v) * 1e3:.1f} ms (min {min(v) * 1e3:.1f})" for b, v in walls.items())
            print(f"T = {T}: {cells}; load average {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
