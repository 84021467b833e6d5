#!/usr/bin/env python3
"""What writing a run folder costs the file system alone (issue 22: the fixed cost's system calls), without reluflow:
the files of a `sine` run folder at T = 1e-3 (written once by BIN) are written again into a staging folder and renamed
into place, (1) as a new folder, (2) replacing an earlier one (renamed aside, its files unlinked, its folder removed:
what `--out` an existing run does), (3) as (1) with fsync of every file and of both folders. Medians of --repeats,
and the removal's steps timed alone.

    python3 Benchmarks/folder_costs.py .build/release/reluflow [--repeats 40] [--dir /tmp/reluflow-folder-costs]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--dir", default="/tmp/reluflow-folder-costs")
    a = ap.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    source = os.path.join(a.dir, "source")
    subprocess.run([os.path.abspath(a.binary), "simulate", "--example", "sine", "--T", "1e-3", "--quiet", "--out", source],
                   check=True, stdout=subprocess.DEVNULL)
    names = sorted(os.listdir(source))
    data = {n: open(os.path.join(source, n), "rb").read() for n in names}

    def write_folder(path, sync=False):
        os.mkdir(path)
        for n in names:
            fd = os.open(os.path.join(path, n), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data[n])
            if sync:
                os.fsync(fd)
            os.close(fd)
        if sync:
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)

    steps = {"rename aside and into place": [], "unlink the old files": [], "rmdir the old folder": []}
    target = os.path.join(a.dir, "run")
    write_folder(target)

    def fresh(i):
        staging = os.path.join(a.dir, ".run.partial")
        write_folder(staging)
        os.rename(staging, os.path.join(a.dir, f"new{i}"))

    def replace(i):
        staging, old = os.path.join(a.dir, ".run.partial"), os.path.join(a.dir, ".run.old")
        write_folder(staging)
        t = time.perf_counter()
        os.rename(target, old)
        os.rename(staging, target)
        steps["rename aside and into place"].append(time.perf_counter() - t)
        t = time.perf_counter()
        for n in names:
            os.unlink(os.path.join(old, n))
        steps["unlink the old files"].append(time.perf_counter() - t)
        t = time.perf_counter()
        os.rmdir(old)
        steps["rmdir the old folder"].append(time.perf_counter() - t)

    def synced(i):
        staging = os.path.join(a.dir, ".run.partial")
        write_folder(staging, sync=True)
        os.rename(staging, os.path.join(a.dir, f"synced{i}"))
        fd = os.open(a.dir, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    print(f"{len(names)} files, {sum(map(len, data.values()))} bytes; load average {os.getloadavg()[0]:.2f}")
    for label, f in [("new folder", fresh), ("replacing an earlier folder", replace), ("new folder, fsync'd", synced)]:
        walls = []
        for i in range(a.repeats):
            t = time.perf_counter()
            f(i)
            walls.append(time.perf_counter() - t)
        print(f"{label:30s} median {statistics.median(walls) * 1e3:7.2f} ms, min {min(walls) * 1e3:7.2f} ms")
    for label, v in steps.items():
        print(f"  of the replacement, {label:28s} median {statistics.median(v) * 1e3:6.3f} ms, max {max(v) * 1e3:6.2f} ms")
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
