#!/usr/bin/env python3
"""Are two `reluflow` binaries' run folders the same? (issue 22: speed changes must not change results)

For every built-in example (or every config given with --configs: the built-in examples are all shallow networks;
`--configs Tests/Reference/deep_flow_cases/*[a-z0-9].json` runs the deep ones) and every horizon given, runs
`BIN simulate --example NAME [--T T] --quiet --out DIR` (`--config FILE`) with both binaries and compares every file of the two folders byte for byte, except:
  - summary.json: compared as JSON with its wall times left out (wallSeconds, stepperSeconds), every other field
    (events, steps, evaluations, final loss, θ(T), first plateau, ...) exactly;
  - reluflow-output.json: the marker, which records files' modification times and summary.json's hash; compared
    with those left out (every other file's hash and size exactly).
Prints one line per run and a last line `same: K of N`; exit status 1 when anything differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

WALL_KEYS = {"wallSeconds", "stepperSeconds"}


def examples(binary):
    out = subprocess.run([binary, "examples"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line and not line[0].isspace()]


def strip_wall(value):
    if isinstance(value, dict):
        return {k: strip_wall(v) for k, v in value.items() if k not in WALL_KEYS}
    if isinstance(value, list):
        return [strip_wall(v) for v in value]
    return value


def marker_without_times(path):
    with open(path) as f:
        marker = json.load(f)
    for name, entry in marker.get("files", {}).items():
        entry.pop("modified", None)
        if name == "summary.json":
            entry.pop("hash", None)
            entry.pop("size", None)
    return marker


def compare(a, b):
    """Names of the files that differ between run folders a and b."""
    differing = []
    names = sorted(set(os.listdir(a)) | set(os.listdir(b)))
    for name in names:
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            differing.append(name + " (missing on one side)")
            continue
        if name == "summary.json":
            with open(pa) as fa, open(pb) as fb:
                same = strip_wall(json.load(fa)) == strip_wall(json.load(fb))
        elif name == "reluflow-output.json":
            same = marker_without_times(pa) == marker_without_times(pb)
        else:
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                same = fa.read() == fb.read()
        if not same:
            differing.append(name)
    return differing


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--T", nargs="*", default=["default"],
                        help="horizons; 'default' runs without --T (the example's own T)")
    parser.add_argument("--examples", nargs="*", help="default: every example `OLD examples` lists")
    parser.add_argument("--configs", nargs="*", help="config files to run instead of the examples")
    args = parser.parse_args()
    names = args.configs or args.examples or examples(args.old)
    same = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for horizon in args.T:
                extra = [] if horizon == "default" else ["--T", horizon]
                folders, statuses = [], []
                for side, binary in (("old", args.old), ("new", args.new)):
                    folder = os.path.join(tmp, f"{side}-{os.path.basename(name)}-{horizon}")
                    source = ["--config", name] if args.configs else ["--example", name]
                    run = subprocess.run([binary, "simulate", *source, *extra, "--quiet", "--out", folder],
                                         capture_output=True, text=True)
                    folders.append(folder)
                    statuses.append(run.returncode)
                differing = compare(*folders) if os.path.isdir(folders[0]) and os.path.isdir(folders[1]) else ["no folder"]
                if statuses[0] != statuses[1]:
                    differing.append(f"exit status {statuses[0]} vs {statuses[1]}")
                total += 1
                if differing:
                    print(f"{name} T={horizon}: DIFFERS: {', '.join(differing)}")
                else:
                    same += 1
                    files = len(os.listdir(folders[0]))
                    print(f"{name} T={horizon}: same ({files} files, exit {statuses[0]})")
    print(f"same: {same} of {total}")
    sys.exit(0 if same == total else 1)


if __name__ == "__main__":
    main()
