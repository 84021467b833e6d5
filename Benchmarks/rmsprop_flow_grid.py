#!/usr/bin/env python3
"""The RMSProp flow (SPEC §7, `flow.kind` rmsprop) on the escape grid's networks (examples/sweeps/escape-grid.json:
Xavier ReLU networks without biases, layers [1, n×(L−1), 1], n ∈ {2, 4, 8, 16}, L = 2…8, sin(πx) at 16 points,
T = 500), one `reluflow simulate` at a time under a wall cap, and a table per run (status, events, t reached,
dissipation defect, wall and CPU seconds) with the totals: complete / timed out / failed, worst defect, median and
max wall and CPU seconds.

    python3 Benchmarks/rmsprop_flow_grid.py [--bin .build/release/reluflow] [--seeds 0,1] [--cap 60]
        [--cpu-cap SECONDS] [--widths 2,4,8,16] [--depths 2,3,4,5,6,7,8] [--out /tmp/reluflow-rmsprop-grid] [--csv FILE]

A run that reaches the cap gets SIGTERM (status `timeout`; reluflow writes the run so far, whose t and events are
shown). Runs are sequential; wall seconds depend on the machine's load (say the load with the numbers), CPU seconds
(user + system of the run) much less.
"""
import argparse
import csv
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(width, depth, seed, T):
    grid = json.load(open(os.path.join(ROOT, "examples/sweeps/escape-grid.json")))
    base = grid["base"]
    return {
        "data": base["data"],
        "network": {"layers": [1] + [width] * (depth - 1) + [1], "activation": "relu", "bias": False,
                    "init": {"scheme": "xavier", "seed": seed}},
        "flow": {"kind": "rmsprop", "T": T},
    }


def run(args, width, depth, seed):
    name = f"s{seed}-L{depth}-w{width}"
    folder = os.path.join(args.out, name)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    cfg = os.path.join(args.out, name + ".json")
    with open(cfg, "w") as f:
        json.dump(config(width, depth, seed, args.T), f)
    start = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        # SIGTERM at the cap: reluflow writes the run so far (status interrupted, the t reached).
        def limit_cpu():
            if args.cpu_cap:
                resource.setrlimit(resource.RLIMIT_CPU, (int(args.cpu_cap), int(args.cpu_cap) + 5))
        p = subprocess.run(["timeout", "--kill-after=10", str(args.cap), args.bin, "simulate", "--config", cfg,
                            "--out", folder, "--quiet"], capture_output=True, text=True, preexec_fn=limit_cpu)
        code = p.returncode
        err = p.stderr.strip().splitlines()
    except OSError as e:
        code, err = -1, [str(e)]
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = {"run": name, "seed": seed, "depth": depth, "width": width, "wall": round(wall, 2), "cpu": round(cpu, 2)}
    summary = os.path.join(folder, "summary.json")
    if code in (124, 137) or code < 0:
        t = events = ""
        if os.path.exists(summary):
            s = json.load(open(summary))
            t, events = s.get("finalTime"), s.get("events")
        row.update(status="timeout", events=events, t=t, defect="", message="")
    elif os.path.exists(summary):
        s = json.load(open(summary))
        row.update(status=s.get("status"), events=s.get("events"), t=s.get("finalTime"),
                   defect=s.get("dissipationDefect"), message=(s.get("message") or "")[:160])
    else:
        row.update(status=f"exit {code}", events="", t="", defect="", message=(err[-1] if err else "")[:160])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release/reluflow"))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--widths", default="2,4,8,16")
    parser.add_argument("--depths", default="2,3,4,5,6,7,8")
    parser.add_argument("--cap", type=float, default=60, help="wall seconds a run")
    parser.add_argument("--cpu-cap", type=float, default=None,
                        help="CPU seconds a run (RLIMIT_CPU: the run is killed without its partial output); for a loaded machine")
    parser.add_argument("--T", type=float, default=500)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "reluflow-rmsprop-grid"))
    parser.add_argument("--csv", default=None, help="write the rows here too")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for depth in [int(d) for d in args.depths.split(",")]:
            for width in [int(w) for w in args.widths.split(",")]:
                row = run(args, width, depth, seed)
                rows.append(row)
                print(f"{row['run']:>12} {row['status']:>10} events {row['events']!s:>6} t {row['t']!s:>8} "
                      f"defect {row['defect']!s:>10} {row['wall']:7.2f} s wall {row['cpu']:7.2f} s cpu {row['message']}", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    complete = [r for r in rows if r["status"] == "completed"]
    timeouts = [r for r in rows if r["status"] == "timeout"]
    failed = [r for r in rows if r not in complete and r not in timeouts]
    defects = [float(r["defect"]) for r in complete if r["defect"] not in ("", None)]
    walls = [r["wall"] for r in rows]
    cpus = [r["cpu"] for r in rows]
    print(f"\n{len(rows)} runs: {len(complete)} completed, {len(timeouts)} timed out (cap {args.cap:g} s), "
          f"{len(failed)} failed; worst defect of the completed {max(defects) if defects else float('nan'):.2g}; "
          f"wall median {statistics.median(walls):.2f} s, max {max(walls):.2f} s, total {sum(walls):.0f} s; "
          f"cpu median {statistics.median(cpus):.2f} s, max {max(cpus):.2f} s")
    for r in timeouts + failed:
        print(f"  {r['run']}: {r['status']} t {r['t']} events {r['events']} {r['message']}")
    try:
        print(f"load average: {os.getloadavg()}")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
