#!/usr/bin/env python3
"""Two `reluflow` binaries' work and results side by side, for a change of the `auto` stepper rule (StepperPolicy):
per run steps (msbdf + explicit), right-hand-side evaluations, Jacobians, rejected steps, stepper switches, events
(same kinds, neurons and points, or DIFFER), the largest difference of the event times, and the final loss's relative
difference; with --callgrind also the whole command's instructions (valgrind --tool=callgrind on
`strip --strip-debug` copies; repeatable under load, unlike wall times).

    python3 Benchmarks/stepper_table.py OLD/reluflow .build/release/reluflow [--callgrind]
        [--configs Tests/Reference/deep_flow_cases/relu-depth4.json ...] [--config-T T ...] [--new-env NAME=VALUE ...]

Runs `BIN simulate --example sine --T T` for T = 1, 100, 1e4, 1e5, 1e6, every other built-in example at T = 1e3 and
1e5, and each --configs file at its own T (and at every --config-T). --new-env sets an environment variable for NEW
only (a temporary knob of an experimental build). Near zero loss (the abs and two-d examples at 1e5, relu-depth4 at
1e4) the events before the rounding-floor hold are rounding-level decisions: their number and the final loss
(~1e-27) differ between any two step sequences, as between rk8pd and auto.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import tempfile


def examples(binary):
    out = subprocess.run([binary, "examples"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line and not line[0].isspace()]


def run(binary, args, env, out, callgrind):
    shutil.rmtree(out, ignore_errors=True)   # replacing a folder costs instructions: always a fresh one
    argv = [binary, "simulate", *args, "--quiet", "--out", out]
    instructions = None
    if callgrind:
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out + ".cg", *argv], env=env,
                           capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        instructions = int(m.group(1)) if m else None
        os.remove(out + ".cg")
    else:
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
    try:
        summary = json.load(open(os.path.join(out, "summary.json")))
        events = list(csv.DictReader(open(os.path.join(out, "events.csv"))))
    except (OSError, ValueError):
        # No complete folder (bad input, or a failure without one): the exit status and the last line said.
        last = (r.stderr.strip().splitlines() or [""])[-1]
        return None, f"exit {r.returncode}: {last}", instructions
    return summary, events, instructions


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--configs", nargs="*", default=[])
    ap.add_argument("--config-T", nargs="*", default=[])
    ap.add_argument("--new-env", nargs="*", default=[])
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="stepper-table-")
    bins = []
    for k, b in enumerate([a.old, a.new]):
        b = os.path.abspath(b)
        if a.callgrind:
            copy = os.path.join(tmp, f"bin{k}")
            subprocess.run(["strip", "--strip-debug", "-o", copy, b], check=True)
            b = copy
        bins.append(b)
    env_new = dict(os.environ)
    for kv in a.new_env:
        name, value = kv.split("=", 1)
        env_new[name] = value
    cases = [(f"sine {T}", ["--example", "sine", "--T", T]) for T in ["1", "100", "1e4", "1e5", "1e6"]]
    for name in examples(bins[0]):
        if name != "sine":
            cases += [(f"{name} {T}", ["--example", name, "--T", T]) for T in ["1e3", "1e5"]]
    for c in a.configs:
        base = os.path.basename(c).removesuffix(".json")
        cases.append((base, ["--config", c]))
        cases += [(f"{base} {T}", ["--config", c, "--T", T]) for T in a.config_T]
    print("| run | steps (msbdf+explicit) | RHS | Jacobians | rejected | switches | events | max Δt event | final loss rel |"
          + (" instructions |" if a.callgrind else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if a.callgrind else ""))
    for name, args in cases:
        (so, eo, io), (sn, en, inew) = (run(bins[0], args, dict(os.environ), os.path.join(tmp, "o"), a.callgrind),
                                        run(bins[1], args, env_new, os.path.join(tmp, "n"), a.callgrind))
        if so is None or sn is None:
            print(f"| {name} | failed: old {'ok' if so else eo}; new {'ok' if sn else en} |", flush=True)
            continue

        def steps(s):
            by = s.get("stepperSteps", {})
            bdf = by.get("msbdf", 0)
            return f"{s['steps']} ({bdf}+{s['steps'] - bdf})" if bdf else str(s["steps"])

        def pair(key):
            return f"{so.get(key)} → {sn.get(key)}" if so.get(key) != sn.get(key) else str(so.get(key))

        key = lambda e: (e["neuron"], e["point"], e["kind"])
        same = [key(e) for e in eo] == [key(e) for e in en]
        dt = max([abs(float(x["t"]) - float(y["t"])) for x, y in zip(eo, en)] or [0.0])
        lo, ln = so.get("finalLoss"), sn.get("finalLoss")
        loss = abs(ln - lo) / abs(lo) if lo and ln is not None else float("nan")
        status = "" if so["status"] == sn["status"] == "completed" else f" ({so['status']} → {sn['status']})"
        row = (f"| {name}{status} | {steps(so)} → {steps(sn)} | {pair('rhsEvaluations')} | {pair('jacobianEvaluations')} | "
               f"{pair('rejectedSteps')} | {pair('stepperSwitches')} | {len(eo)} → {len(en)}{'' if same else ' DIFFER'} | "
               f"{dt:.1e} | {loss:.1e} |")
        if a.callgrind:
            row += f" {io / 1e6:.1f} M → {inew / 1e6:.1f} M |" if io and inew else " ? |"
        print(row, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
