#!/usr/bin/env python3
"""The whole `reluflow simulate --example sine --quiet` command against the lean event-driven SciPy
DOP853 peer (Benchmarks/peers/scipy_lean.py) on the same resolved config, side by side in one
session (issue 22):

    Benchmarks/.venv/bin/python Benchmarks/small_runs_scipy.py [--T 1e5 1e6] [--repeats 20] [--reluflow PATH]

For each T: the command's median wall time over `repeats` runs (process start to exit, spawned with
posix_spawn, half of the runs before the peer and half after it), the peer's wall time (its
integration alone, measured inside Python: the interpreter's start and imports are not counted,
which favours the peer), the ratio, whether the event sequence (neuron, point, kind, in order) is the same, the
largest relative difference of the event times, and the final loss's relative difference. Default reluflow:
.build/release/reluflow (swift build -c release --product reluflow).
"""
import argparse
import csv
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_command(exe, T, out):
    argv = [exe, "simulate", "--example", "sine", "--T", repr(T), "--quiet", "--out", out]
    devnull = os.open(os.devnull, os.O_WRONLY)
    start = time.perf_counter()
    pid = os.posix_spawn(exe, argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"reluflow exited with {os.waitstatus_to_exitcode(status)}")
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=float, nargs="+", default=[1e5, 1e6])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--reluflow", default=str(ROOT / ".build" / "release" / "reluflow"))
    ap.add_argument("--keep", help="folder to keep the peer's result JSON in")
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("T        command ms (median)  SciPy lean DOP853 s  ratio    events       max Δt/t    Δloss/loss  steps (ours / SciPy)")
    with tempfile.TemporaryDirectory() as tmp:
        for T in a.T:
            out = os.path.join(tmp, "run")
            walls = [run_command(a.reluflow, T, out) for _ in range(a.repeats // 2)]
            result = os.path.join(tmp, "peer.json")
            subprocess.run([sys.executable, str(ROOT / "Benchmarks" / "peers" / "scipy_lean.py"),
                            os.path.join(out, "config.json"), "--T", repr(T), "--out", result], check=True)
            walls += [run_command(a.reluflow, T, out) for _ in range(a.repeats - a.repeats // 2)]
            peer = json.loads(pathlib.Path(result).read_text())
            summary = json.loads(pathlib.Path(out, "summary.json").read_text())
            with open(os.path.join(out, "events.csv")) as fh:
                ours = list(csv.DictReader(fh))
            # The event sequence (neuron, point, kind in time order) as reluflow-bench --peers compares it;
            # the times' largest relative difference beside it (a slide's exit, where α reaches 0 or 1
            # slowly, is the least well conditioned: 1e-7 relative on sine).
            same = len(ours) == len(peer["events"]) and all(
                (int(o["neuron"]), int(o["point"]), o["kind"]) == (e["neuron"], e["point"], e["kind"])
                for o, e in zip(ours, peer["events"]))
            dt = max((abs(float(o["t"]) - e["t"]) / max(abs(e["t"]), 1e-300) for o, e in zip(ours, peer["events"])), default=0.0)
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
                pathlib.Path(a.keep, f"scipy_lean_T{T:g}.json").write_text(pathlib.Path(result).read_text())
            median = statistics.median(walls)
            dloss = abs(peer["loss"] - summary["finalLoss"]) / abs(summary["finalLoss"])
            print(f"{T:<8g} {median * 1e3:<20.1f} {peer['wallSeconds']:<20.1f} {peer['wallSeconds'] / median:<8.0f} "
                  f"{'same ' + str(len(ours)) if same else 'DIFFER ' + str(len(ours)) + '/' + str(len(peer['events'])):<12} "
                  f"{dt:<11.1e} {dloss:<11.1e} {summary['steps']} / {peer['steps']}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
