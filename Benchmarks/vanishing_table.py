#!/usr/bin/env python3
"""The README table of the vanishing-curvature grids (Benchmarks/vanishing-curvature): per grid folder
(written by `reluflow curvature --depths … --widths … --seeds K`), per width, the median |∇L| and
median λ_max at each depth (from summary.csv) and the fitted decay per layer: exp of the least-squares
slope of log(median) against depth L, over the depths where the median is > 0 (a dead median is 0).
A factor below 1 means the quantity vanishes geometrically with depth.

    python3 Benchmarks/vanishing_table.py FOLDER…
"""
import csv
import math
import sys


def fit(points):
    pts = [(L, math.log(v)) for L, v in points if v > 0 and math.isfinite(v)]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return math.exp(sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx) if sxx > 0 else None


def main(folders):
    for folder in folders:
        rows = list(csv.DictReader(open(f"{folder}/summary.csv")))
        depths = sorted({int(r["depth"]) for r in rows})
        widths = sorted({int(r["width"]) for r in rows})
        print(f"\n{folder}\n")
        head = " | ".join(f"L = {L}" for L in depths)
        print(f"| width | quantity | {head} | per layer | dead at L = {depths[-1]} |")
        print("| --- | --- | " + " | ".join("---" for _ in depths) + " | --- | --- |")
        for n in widths:
            cells = {int(r["depth"]): r for r in rows if int(r["width"]) == n}
            for q, label in [("gradNorm", "median ‖∇L‖"), ("lambdaMax", "median λ_max")]:
                values = [(L, float(cells[L][f"{q}_median"])) for L in depths if L in cells]
                rate = fit(values)
                shown = " | ".join(f"{v:.2g}" for _, v in values)
                dead = cells[depths[-1]]["deadFraction"] if q == "gradNorm" and depths[-1] in cells else ""
                print(f"| {n} | {label} | {shown} | {'—' if rate is None else f'{rate:.3f}'} | {dead} |")


if __name__ == "__main__":
    main(sys.argv[1:])
