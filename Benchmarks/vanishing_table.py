#!/usr/bin/env python3
"""The README tables of the vanishing-curvature grids, from `reluflow collect` on the sweep
examples/sweeps/vanishing-curvature.json (Benchmarks/vanishing-curvature runs both):

    reluflow sweep examples/sweeps/vanishing-curvature.json --out DIR --jobs 2
    reluflow collect DIR --by network.init.scheme,network.activation,network.layers
    python3 Benchmarks/vanishing_table.py DIR

Reads DIR/groups.csv (per scheme, activation and layers: the median and quartiles over the seeds,
computed by collect) and DIR/sweep.csv (one row per network: the dead flag `outputConstant`, the
spectrum's method, the figures of the width-1 chain check). A network (d, n, ..., n, 1) with L
weight matrices is the cell L = len(layers) - 1, width n = layers[1].

For each <scheme>-<activation>, per width: the fitted factor per layer of the median |grad L| and of
the median lambda_max over depth (exp of the least-squares slope of log(median) against L, over the
depths whose median is > 0; a dead median is 0 and is left out), and the share of dead networks at
the largest depth. A factor below 1 means geometric vanishing with depth. Then, per grid, the
medians themselves.

    python3 Benchmarks/vanishing_table.py DIR [--compare GRIDDIR...]

--compare: grid folders of `reluflow curvature --depths ... --widths ... --seeds K --init I
--activation A` (named I-A); every network of theirs is looked up in the sweep (same scheme,
activation, layers, seed) and its figures compared as numbers (both write shortest round-trip text):
the count of networks equal in every figure is printed, and the differing ones listed.
"""
import csv
import json
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


def cell_of(layers_text):
    layers = json.loads(layers_text)
    return len(layers) - 1, layers[1]


def load(folder):
    """{(scheme, activation): {(L, n): {median figures, dead share, spectrum}}} and the rows."""
    with open(os.path.join(folder, "sweep.csv")) as f:
        rows = list(csv.DictReader(f))
    incomplete = [r["id"] for r in rows if r["status"] != "completed"]
    if incomplete:
        sys.exit(f"{folder}: {len(incomplete)} of {len(rows)} runs are not complete (run the sweep again first)")
    grids = {}
    with open(os.path.join(folder, "groups.csv")) as f:
        for g in csv.DictReader(f):
            key = (g["network.init.scheme"], g["network.activation"])
            grids.setdefault(key, {})[cell_of(g["network.layers"])] = {
                "gradNorm": float(g["gradNorm.median"]), "lambdaMax": float(g["lambdaMax.median"]), "runs": int(g["runs"])}
    for r in rows:
        cell = grids[(r["network.init.scheme"], r["network.activation"])][cell_of(r["network.layers"])]
        cell.setdefault("dead", []).append(r["outputConstant"] == "true")
        cell.setdefault("spectra", set()).add(r["spectrum"])
    return grids, rows


def chain_check(folder, rows):
    """Width-1 linear chains, f(x) = P x with P = prod w_l (SPEC §8): dL/dw_l = s P/w_l and the
    Hessian's diagonal is c (P/w_l)^2 (s = mean(r x), c = mean(x^2)), so |grad L|^2 = (s^2/c) trace;
    and the loss fixes s^2 = b^2 - c e + 2 c L (b = mean(x y), e = mean(y^2)) whatever the sign of P.
    Per scheme: the largest relative difference over its linear width-1 networks."""
    worst = {}
    data = None
    for r in rows:
        if r["network.activation"] != "linear" or cell_of(r["network.layers"])[1] != 1:
            continue
        if data is None:
            config = json.load(open(os.path.join(folder, "runs", r["id"], "config.json")))
            xs = [row[0] for row in config["data"]["x"]]
            ys = config["data"]["y"]
            m = len(ys)
            data = (sum(x * x for x in xs) / m, sum(x * y for x, y in zip(xs, ys)) / m, sum(y * y for y in ys) / m)
        c, b, e = data
        g2 = float(r["gradNorm"]) ** 2
        s2 = b * b - c * e + 2 * c * float(r["loss"])
        predicted = s2 / c * float(r["trace"])
        scale = max(g2, abs(s2 / c) * float(r["trace"]), 1e-300)
        key = r["network.init.scheme"]
        worst[key] = max(worst.get(key, 0.0), abs(g2 - predicted) / scale)
    return worst


def compare(folder, rows, grid_folders):
    """Each grid-mode network against the sweep's run of the same network: figures as text."""
    index = {(r["network.init.scheme"], r["network.activation"], cell_of(r["network.layers"]), int(r["network.init.seed"])): r
             for r in rows}
    figures = ["parameters", "loss", "gradNorm", "lambdaMax", "lambdaMin", "trace", "negativeFraction", "spectrum"]
    equal = total = 0
    differing = []
    for grid in grid_folders:
        record = json.load(open(os.path.join(grid, "curvature-grid.json")))
        with open(os.path.join(grid, "curvature.csv")) as f:
            for g in csv.DictReader(f):
                key = (record["init"], record["activation"], (int(g["depth"]), int(g["width"])), int(g["seed"]))
                r = index.get(key)
                total += 1
                if r is None:
                    differing.append(f"{key}: not in the sweep")
                    continue
                def same(k):
                    if k == "spectrum":
                        return g[k] == r[k]
                    # Numbers by value (both files hold shortest round-trip text, "0.0" in one is "0" in
                    # the other); a figure not computed is nan in curvature.csv and empty in sweep.csv.
                    if g[k] == "nan" or r[k] == "":
                        return g[k] == "nan" and r[k] == ""
                    return float(g[k]) == float(r[k])
                diff = [k for k in figures if not same(k)]
                if (g["dead"] == "true") != (r["outputConstant"] == "true"):
                    diff.append("dead")
                # |grad L| per layer: a list in the run's curvature.json, ';'-joined in curvature.csv.
                own = json.load(open(os.path.join(folder, "runs", r["id"], "curvature.json")))["layerGradNorms"]
                if [float(v) for v in g["layerGradNorms"].split(";")] != own:
                    diff.append("layerGradNorms")
                if diff:
                    differing.append(f"{key}: " + ", ".join(f"{k} {g.get(k)} vs {r.get(k)}" for k in diff))
                else:
                    equal += 1
    print(f"grid mode against the sweep: {equal} of {total} networks equal in every figure "
          f"({', '.join(figures)}, layerGradNorms, dead)")
    for line in differing[:20]:
        print("  differs: " + line)
    return equal == total


def main(argv):
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    folder = argv[0]
    grids, rows = load(folder)
    names = [f"{s}-{a}" for s, a in grids]
    widths = sorted({n for cells in grids.values() for (_, n) in cells})
    print("Factor per layer of the median ‖∇L‖ / median λ_max (fit over depth), dead share at the largest depth:\n")
    print("| width | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---" for _ in names) + " |")
    for n in widths:
        cols = []
        for cells in grids.values():
            depths = sorted({L for (L, w) in cells if w == n})
            g = fit([(L, cells[(L, n)]["gradNorm"]) for L in depths])
            lam = fit([(L, cells[(L, n)]["lambdaMax"]) for L in depths])
            dead = cells[(depths[-1], n)]["dead"]
            f = lambda v: "—" if v is None else f"{v:.3f}"
            cols.append(f"{f(g)} / {f(lam)}, dead {sum(dead) / len(dead):.2f}")
        print(f"| {n} | " + " | ".join(cols) + " |")
    for scheme, worst in chain_check(folder, rows).items():
        print(f"\n{scheme}-linear: width-1 chains, |∇L|² against the closed form (s²/c)·trace: largest relative difference {worst:.1e}")
    for name, cells in zip(names, grids.values()):
        depths = sorted({L for (L, _) in cells})
        print(f"\n{name}: median ‖∇L‖ / median λ_max (quartiles in groups.csv; (L): Lanczos)\n")
        print("| width | " + " | ".join(f"L = {L}" for L in depths) + " |")
        print("| --- | " + " | ".join("---" for _ in depths) + " |")
        for n in sorted({w for (_, w) in cells}):
            vals = []
            for L in depths:
                c = cells.get((L, n))
                vals.append("" if c is None else f"{c['gradNorm']:.2g} / {c['lambdaMax']:.2g}"
                            + (" (L)" if c["spectra"] != {"full"} else ""))
            print(f"| {n} | " + " | ".join(vals) + " |")
    if "--compare" in argv:
        ok = compare(folder, rows, argv[argv.index("--compare") + 1:])
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
