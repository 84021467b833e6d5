#!/usr/bin/env python3
"""Old vs new `reluflow` where only the samples may change (dense output): every built-in example at its default T,
1 and 1e5; summary.json exactly but rhsEvaluations and wall times, events.csv and patterns.csv byte for byte,
trajectory.csv numerically (max difference relative to max(1, |x|)).

    python3 Benchmarks/sample_changes.py OLD/reluflow .build/release/reluflow
"""
import os, sys, json, subprocess, tempfile, csv
old, new = sys.argv[1:3]
ex = [l.split()[0] for l in subprocess.run([old, "examples"], capture_output=True, text=True).stdout.splitlines() if l and not l[0].isspace()]
tmp = tempfile.mkdtemp()
def go(b, e, T, d):
    args = [b, "simulate", "--example", e, "--quiet", "--out", d] + (["--T", T] if T else [])
    subprocess.run(args, check=True, capture_output=True)
skip = {"wallSeconds", "stepperSeconds", "rhsEvaluations"}
worst_all = 0
for e in ex:
    for T in [None, "1", "1e5"]:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        subprocess.run(["rm", "-rf", a, b])
        go(old, e, T, a); go(new, e, T, b)
        sa = json.load(open(a + "/summary.json")); sb = json.load(open(b + "/summary.json"))
        diffs = [k for k in sa if k not in skip and sa[k] != sb.get(k)]
        same = {f: open(f"{a}/{f}", "rb").read() == open(f"{b}/{f}", "rb").read() for f in ["events.csv", "patterns.csv"]}
        ra = list(csv.reader(open(a + "/trajectory.csv"))); rb = list(csv.reader(open(b + "/trajectory.csv")))
        worst = 0.0; col = ""
        assert len(ra) == len(rb) and ra[0] == rb[0]
        for x, y in zip(ra[1:], rb[1:]):
            for h, u, v in zip(ra[0], x, y):
                try: u, v = float(u), float(v)
                except ValueError: continue
                d = abs(u - v) / max(1, abs(u))
                if d > worst: worst, col = d, h
        worst_all = max(worst_all, worst)
        print(f"{e:16s} T={T or 'default':7s} summary-diff={diffs} events/patterns same={all(same.values())} rhs {sa['rhsEvaluations']}->{sb['rhsEvaluations']} steps {sa['steps']}->{sb['steps']} trajectory max rel diff {worst:.2e} ({col})", flush=True)
print("worst trajectory difference", worst_all)
