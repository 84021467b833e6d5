#!/usr/bin/env python3
"""The fixed cost of one command (issue 22): `BIN simulate --example sine --quiet --T 1e-3 --out DIR` into a new
folder each time (the previous one removed outside the timing), and any other argument lists given with --cmd,
spawned with posix_spawn, binaries taking turns; per binary and command the median and minimum wall time and the
median CPU time (user + system, from wait4's rusage, which other sessions' load inflates far less than wall time)
and minor page faults, with the load average.

Compare binaries whose files came into the page cache the same way: a binary written by the linker
(gold writes through a shared mapping), or read back by being run after its pages were dropped, starts
0.4-0.8 ms slower and with ~50 more page faults than a copy of the same file made with `cp`, or the
same file read with `cat` (measured 2026-12-05, kernel 6.18, ext4): copy every binary compared
(`cp BIN /tmp/x/BIN`), or none.

    python3 Benchmarks/fixed_cost.py --repeats 20 MAIN/reluflow .build/release/reluflow
    python3 Benchmarks/fixed_cost.py --cmd "--version" --cmd "simulate --example sine --quiet --T 1e-3" BIN
"""
import argparse
import os
import shlex
import shutil
import statistics
import tempfile
import time


def run(argv, out):
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
        argv = argv + ["--out", out]
    devnull = os.open(os.devnull, os.O_WRONLY)
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{shlex.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_minflt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--cmd", action="append", help="arguments after BIN (default: the T = 1e-3 simulate); "
                    "a simulate gets a new --out folder each time")
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    cmds = a.cmd or ["simulate --example sine --quiet --T 1e-3"]
    tmp = tempfile.mkdtemp(prefix="reluflow-fixed-cost-")
    try:
        for c in cmds:
            args = shlex.split(c)
            out = os.path.join(tmp, "run") if args and args[0] == "simulate" and "--out" not in args else None
            res = {b: [] for b in a.binaries}
            loads = [os.getloadavg()[0]]
            for _ in range(a.repeats):
                for b in a.binaries:
                    res[b].append(run([os.path.abspath(b)] + args, out))
            loads.append(os.getloadavg()[0])
            print(f"{c} (load {loads[0]:.2f}-{loads[1]:.2f}, {a.repeats} each):")
            for b, v in res.items():
                w, cpu, pf = zip(*v)
                print(f"  {b}: wall median {statistics.median(w) * 1e3:.2f} ms (min {min(w) * 1e3:.2f}), "
                      f"CPU median {statistics.median(cpu) * 1e3:.2f} ms (min {min(cpu) * 1e3:.2f}), "
                      f"page faults {statistics.median(pf):.0f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
