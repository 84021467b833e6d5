#!/usr/bin/env python3
"""Where the fixed cost of one command goes (issue 22): runs `BIN simulate --example sine --quiet --T 1e-3 --out DIR`
REPEATS times under `perf record -e cpu-clock -g` (the previous folder removed before each run, as
Benchmarks/fixed_cost.py does) and sorts the process's CPU samples, kernel and user, into parts: the kernel's
exec and exit, page faults, file creation (the file system's new inodes), the other system calls by kind; in user
space the dynamic loader (glibc's CPU detection, which executes CPUID, the loading and relocation, the lazy symbol
binding), the static initializers before main, and the command's phases by the functions on the call chain.
Prints each part's share of the samples and its time per run (samples x the sampling period / runs; perf's own
overhead included, so compare shares, and scale by fixed_cost.py's CPU median for milliseconds).

Needs perf with kernel samples (root, or kernel.perf_event_paranoid <= 1).

    python3 Benchmarks/fixed_cost_parts.py --repeats 100 .build/release/reluflow
"""
import argparse
import collections
import os
import shutil
import subprocess
import tempfile

CPU_DETECTION = {"init_cpu_features.constprop.0", "handle_amd", "handle_intel", "update_active.constprop.0",
                 "get_common_indices.constprop.0", "get_common_cache_info.constprop.0", "dl_init_cacheinfo"}
BINDING = {"_dl_runtime_resolve_xsavec", "_dl_runtime_resolve_xsave", "_dl_runtime_resolve_fxsave", "_dl_fixup",
           "do_lookup_x", "strcmp", "check_match", "_dl_lookup_symbol_x", "_dl_name_match_p"}

# User-space phases, the first whose function is on the call chain (outermost last in perf's chains).
PHASES = [
    ("marker and rename (RunFolder.commit)", ("RunFolderO6commit",)),
    ("JSON files (config, summary, checkpoint; data.csv)", ("smallFiles",)),
    ("first plateau (summary.json)", ("FirstPlateauFinder",)),
    ("sample rows (CSV text, .npy)", ("RecordFilesV3add",)),
    ("integration", ("ReluFlow5solve",)),
    ("stream: open, flush, headers", ("RunStream",)),
    ("arguments, config, output checks", ("SimulateOptions", "reluflow_main")),
]


def kernel_part(names):
    """names: kernel frames, outermost first."""
    if "ext4_create" in names or "__ext4_new_inode" in names:
        return "kernel: file creation (ext4 new inode)"
    for n in names:
        if n in ("__x64_sys_execve", "__x64_sys_exit_group", "do_exit", "do_group_exit"):
            return "kernel: exec and exit"
        if n in ("asm_exc_page_fault", "exc_page_fault"):
            return None  # split by phase below
        if n.startswith("__x64_sys_") or n.startswith("ksys_") or n.startswith("__do_sys_"):
            call = n.split("sys_", 1)[1]
            kind = {"openat": "open (path lookup)", "write": "write", "pwrite64": "write", "read": "read",
                    "pread64": "read", "mkdir": "mkdir, rename, unlink", "rename": "mkdir, rename, unlink",
                    "unlink": "mkdir, rename, unlink", "close": "close", "mmap": "mmap, mprotect, brk",
                    "mmap_pgoff": "mmap, mprotect, brk", "mprotect": "mmap, mprotect, brk", "brk": "mmap, mprotect, brk",
                    "munmap": "mmap, mprotect, brk"}.get(call, "other system calls")
            return "kernel: " + kind
    return "kernel: other (interrupts, scheduling)"


def user_part(frames):
    """frames: (symbol, dso) user frames, leaf first."""
    leaf, dso = frames[0]
    if "ld-linux" in dso:
        if leaf in CPU_DETECTION:
            return "user: dynamic loader: glibc's CPU detection (CPUID)"
        if leaf in BINDING:
            return "user: dynamic loader: lazy symbol binding"
        return "user: dynamic loader: loading, relocation"
    if leaf in ("get_available_features.constprop.0", "__cpu_indicator_init"):
        return "user: libgcc's CPU probe (CPUID, a constructor)"
    if leaf == "_dl_addr":
        return "user: runtime start: dladdr over the dynamic symbols"
    names = [s for s, _ in frames]
    for label, keys in PHASES:
        if any(k in n for n in names for k in keys):
            return "user: " + label
    if any(n.startswith("_GLOBAL__sub_I") or n in ("libdispatch_init", "__CFInitialize", "call_init", "_dl_init")
           for n in names):
        return "user: runtime start: static initializers"
    return "user: other (runtime, libc, exit; no phase on the chain)"


def phase_of(frames):
    names = [s for s, _ in frames]
    if not any("reluflow_main" in n for n in names):
        return "before main or unattributed"
    for label, keys in PHASES:
        if any(k in n for n in names for k in keys):
            return label
    return "main, other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--frequency", type=int, default=20000)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    comm = os.path.basename(binary)[:15]
    tmp = tempfile.mkdtemp(prefix="reluflow-parts-")
    try:
        out = os.path.join(tmp, "run")
        script = os.path.join(tmp, "loop.sh")
        with open(script, "w") as f:
            f.write(f'for i in $(seq {a.repeats}); do rm -rf "{out}"; "{binary}" simulate --example sine --quiet '
                    f'--T 1e-3 --out "{out}" >/dev/null; done\n')
        data = os.path.join(tmp, "perf.data")
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(a.frequency), "-g", "-o", data,
                        "sh", script], check=True, stderr=subprocess.DEVNULL)
        text = subprocess.run(["perf", "script", "-i", data, "--comm", comm, "-F", "ip,sym,dso"],
                              capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    parts, faults = collections.Counter(), collections.Counter()
    total = 0
    for block in text.split("\n\n"):
        frames = []
        for line in block.strip().splitlines():
            rest = line.strip().split(" ", 1)[1] if " " in line.strip() else ""
            i = rest.rfind(" (")
            frames.append((rest[:i], rest[i + 2:-1]))
        if not frames:
            continue
        total += 1
        if "kernel" in frames[0][1]:
            part = kernel_part([s for s, d in frames if "kernel" in d][::-1])
            if part is None:
                user = [(s, d) for s, d in frames if "kernel" not in d]
                faults[phase_of(user) if user else "before main or unattributed"] += 1
                part = "kernel: page faults"
        else:
            part = user_part([(s, d) for s, d in frames if "kernel" not in d])
        parts[part] += 1
    period = 1e3 / a.frequency  # ms per sample
    print(f"{binary}: {total} samples of {a.repeats} runs ({total * period / a.repeats:.2f} ms of CPU a run under perf)")
    for part, n in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * n / total:5.1f}%  {n * period / a.repeats:5.3f} ms  {part}")
    print("  page faults by phase:")
    for part, n in sorted(faults.items(), key=lambda kv: -kv[1]):
        print(f"    {100 * n / total:5.1f}%  {n * period / a.repeats:5.3f} ms  {part}")


if __name__ == "__main__":
    main()
