#!/usr/bin/env python3
"""README transcripts, regenerated and checked against the program.

A transcript in README.md is a fenced block right after a line `<!-- transcript -->`. Its lines
starting with `$ ` are commands; the lines after each command, up to the next, are its output.
A last output line `...` means the rest of that command's output is left out.

    python3 docs/transcripts.py --check  [--bin PATH]   # exit 1 and a diff when README disagrees
    python3 docs/transcripts.py --update [--bin PATH]   # rewrite the outputs from the program

Commands run in order in one scratch folder holding a copy of notebooks-data/ (so `analyze` on it
changes nothing committed), with `reluflow` and `swift run -c release reluflow` meaning the built
binary (default .build/release/reluflow). Wall-clock seconds (`, 0.0191 s` at the end of
simulate's report) are masked. The test ReadmeTests runs --check with the debug build, which
gives the same numbers bit for bit.
"""
import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "<!-- transcript -->"
TIME = re.compile(r", [0-9.]+(?:e[-+]?[0-9]+)? s$")


def blocks(lines):
    """(start, end) line indices of every transcript block's body (between its fences)."""
    found = []
    for k, line in enumerate(lines):
        if line.strip() == MARK:
            if k + 1 >= len(lines) or not lines[k + 1].startswith("```"):
                sys.exit(f"README.md:{k + 1}: {MARK} must be followed by a fenced block")
            end = k + 2
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            found.append((k + 2, end))
    return found


def commands(body):
    """[(command, expected output lines)] of a block body."""
    result = []
    for line in body:
        if line.startswith("$ "):
            result.append((line[2:], []))
        elif result:
            result[-1][1].append(line)
        else:
            sys.exit(f"a transcript must start with a '$ ' command line, not {line!r}")
    return result


def run(command, binary, cwd):
    shell = re.sub(r"^(swift run -c release reluflow|reluflow)\b", lambda _: binary, command)
    done = subprocess.run(shell, shell=True, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"`{command}` failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.rstrip("\n").split("\n") if done.stdout else []


def masked(lines):
    return [TIME.sub(", <seconds> s", line) for line in lines]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--update", action="store_true")
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release/reluflow"))
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} is not an executable: build it first (swift build -c release)")
    with open(args.readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    scratch = tempfile.mkdtemp(prefix="reluflow-readme-")
    problems = []
    try:
        shutil.copytree(os.path.join(ROOT, "notebooks-data"), os.path.join(scratch, "notebooks-data"))
        # Later blocks first when rewriting, so that earlier indices stay valid; run them in order.
        results = []
        for start, end in blocks(lines):
            body = []
            for command, expected in commands(lines[start:end]):
                actual = run(command, binary, scratch)
                if expected and expected[-1] == "...":
                    shown = actual[: len(expected) - 1] + ["..."]
                    compare = (masked(expected[:-1]), masked(actual[: len(expected) - 1]))
                else:
                    shown = actual
                    compare = (masked(expected), masked(actual))
                if compare[0] != compare[1]:
                    diff = "\n".join(difflib.unified_diff(compare[0], compare[1], "README.md", "program", lineterm=""))
                    problems.append(f"README.md:{start + 1}: `$ {command}`\n{diff}")
                body.append("$ " + command)
                # Keep the README's seconds where only they differ, so an update changes nothing else.
                if compare[0] == compare[1]:
                    body.extend(expected)
                else:
                    body.extend(shown)
            results.append((start, end, body))
        if args.update:
            for start, end, body in reversed(results):
                lines[start:end] = body
            with open(args.readme, "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
            print(f"updated {len(results)} transcript(s), {len(problems)} changed")
        elif problems:
            print("README transcripts disagree with the program (regenerate: python3 docs/transcripts.py --update):")
            print("\n\n".join(problems))
            sys.exit(1)
        else:
            print(f"{len(results)} transcript(s) agree with the program")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
