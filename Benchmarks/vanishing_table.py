#!/usr/bin/env python3
"""The README tables of the vanishing-curvature grids (Benchmarks/vanishing-curvature).

For each grid folder (written by `reluflow curvature --depths … --widths … --seeds K`, named
<init>-<activation>): per width, the fitted factor per layer of the median |∇L| and of the median
λ_max over depth (exp of the least-squares slope of log(median) against depth L, over the depths
whose median is > 0; a dead median is 0 and is left out), and the share of dead networks at the
largest depth. A factor below 1 means geometric vanishing with depth. Then, per grid, the medians
themselves.

    python3 Benchmarks/vanishing_table.py FOLDER…
"""
import csv
import math
import os
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


def load(folder):
    rows = list(csv.DictReader(open(os.path.join(folder, "summary.csv"))))
    depths = sorted({int(r["depth"]) for r in rows})
    widths = sorted({int(r["width"]) for r in rows})
    cells = {(int(r["depth"]), int(r["width"])): r for r in rows}
    return depths, widths, cells


def factor(depths, cells, n, q):
    return fit([(L, float(cells[(L, n)][f"{q}_median"])) for L in depths if (L, n) in cells])


def chain_check(folder):
    """Width-1 linear chains, f(x) = Π x with Π = ∏ w_l (SPEC §8): ∂L/∂w_l = s Π/w_l and the Hessian's
    diagonal is c (Π/w_l)² (s = mean(r x), c = mean(x²)), so |∇L|² = (s²/c)·trace; and the loss fixes
    s² = b² − c·e + 2cL (b = mean(x y), e = mean(y²)) whatever the sign of Π. Returns the largest
    relative difference over the grid's width-1 rows between |∇L|² and (s²/c)·trace, or None."""
    import json
    record = json.load(open(os.path.join(folder, "curvature-grid.json")))
    if record.get("activation") != "linear" or 1 not in record.get("widths", []):
        return None
    xs = [row[0] for row in record["data"]["x"]]
    ys = record["data"]["y"]
    m = len(ys)
    c = sum(x * x for x in xs) / m
    b = sum(x * y for x, y in zip(xs, ys)) / m
    e = sum(y * y for y in ys) / m
    worst = 0.0
    for r in csv.DictReader(open(os.path.join(folder, "curvature.csv"))):
        if int(r["width"]) != 1:
            continue
        g2 = float(r["gradNorm"]) ** 2
        s2 = b * b - c * e + 2 * c * float(r["loss"])
        predicted = s2 / c * float(r["trace"])
        scale = max(g2, abs(s2 / c) * float(r["trace"]), 1e-300)
        worst = max(worst, abs(g2 - predicted) / scale)
    return worst


def main(folders):
    grids = [(os.path.basename(f.rstrip("/")), load(f)) for f in folders]
    names = [g[0] for g in grids]
    widths = sorted({n for _, (_, ws, _) in grids for n in ws})
    print("Factor per layer of the median ‖∇L‖ / median λ_max (fit over depth), dead share at the largest depth:\n")
    print("| width | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---" for _ in names) + " |")
    for n in widths:
        cols = []
        for _, (depths, ws, cells) in grids:
            g, lam = factor(depths, cells, n, "gradNorm"), factor(depths, cells, n, "lambdaMax")
            last = cells.get((depths[-1], n))
            dead = float(last["deadFraction"]) if last else float("nan")
            f = lambda v: "—" if v is None else f"{v:.3f}"
            cols.append(f"{f(g)} / {f(lam)}, dead {dead:.2f}")
        print(f"| {n} | " + " | ".join(cols) + " |")
    for folder in folders:
        worst = chain_check(folder)
        if worst is not None:
            print(f"\n{os.path.basename(folder.rstrip('/'))}: width-1 chains, |∇L|² against the closed form (s²/c)·trace: "
                  f"largest relative difference {worst:.1e}")
    for name, (depths, widths_, cells) in grids:
        print(f"\n{name}: median ‖∇L‖ / median λ_max (quartiles in summary.csv)\n")
        print("| width | " + " | ".join(f"L = {L}" for L in depths) + " |")
        print("| --- | " + " | ".join("---" for _ in depths) + " |")
        for n in widths_:
            vals = []
            for L in depths:
                r = cells.get((L, n))
                vals.append("" if r is None else f"{float(r['gradNorm_median']):.2g} / {float(r['lambdaMax_median']):.2g}"
                            + (" (L)" if r and r["spectrum"] != "full" else ""))
            print(f"| {n} | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
