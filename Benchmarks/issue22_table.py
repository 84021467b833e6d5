#!/usr/bin/env python3
"""The issue-22 table, binaries alternating (median of N, default 5): `BIN simulate --example sine --quiet --T T`
for T = 1, 100, 1e4, 1e5, 1e6: whole command (posix_spawn to exit), integration wallSeconds, steps, RHS evaluations,
events, final loss.

    python3 Benchmarks/issue22_table.py OLD/reluflow .build/release/reluflow 5
"""
import os, sys, json, time, statistics, tempfile, shutil
bins = sys.argv[1:3]; reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
Ts = ["1", "100", "1e4", "1e5", "1e6"]
tmp = tempfile.mkdtemp(prefix="dense-table-")
def run(exe, T, out):
    argv = [exe, "simulate", "--example", "sine", "--T", T, "--quiet", "--out", out]
    dn = os.open(os.devnull, os.O_WRONLY)
    t0 = time.perf_counter()
    pid = os.posix_spawn(exe, argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, dn, 1)])
    _, st = os.waitpid(pid, 0); w = time.perf_counter() - t0; os.close(dn)
    assert os.waitstatus_to_exitcode(st) == 0
    s = json.load(open(os.path.join(out, "summary.json")))
    shutil.rmtree(out)
    return w, s
for T in Ts:
    rows = {b: [] for b in bins}
    for _ in range(reps):
        for k, b in enumerate(bins):
            rows[b].append(run(os.path.abspath(b), T, os.path.join(tmp, f"r{k}")))
    for b in bins:
        w = statistics.median(r[0] for r in rows[b]) * 1e3
        ws = statistics.median(r[1]["wallSeconds"] for r in rows[b]) * 1e3
        s = rows[b][0][1]
        print(f"| {T} | {b} | {w:.1f} ms | {ws:.1f} ms | {s['steps']} | {s['rhsEvaluations']} | {s['events']} | {s['finalLoss']!r} |", flush=True)
    print(f"load {os.getloadavg()[0]:.2f}", flush=True)
shutil.rmtree(tmp, ignore_errors=True)
