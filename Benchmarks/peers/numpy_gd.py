#!/usr/bin/env python3
"""Plain NumPy gradient descent as a peer of the gradient flow: what it costs to reach the
flow's final θ(T) with θ ← θ − η ∇L(θ) (ReLU derivative 1[z > 0], the usual subgradient).

    python Benchmarks/peers/numpy_gd.py CONFIG.json --T T --target result.json [--budget SECONDS] [--accuracy 1e-6]

CONFIG.json is a resolved ReluFlow config; result.json holds the flow's final "theta". GD runs
T/η steps for η = η₀, η₀/2, η₀/4, … while each run fits in the remaining time budget, and
records max|θ_GD − θ(T)|. The error of GD against the flow falls as C η^p (p = 1 for a smooth
flow); p and C come from a least-squares fit to the last three runs with errors below 1e-2
(larger errors are not yet in the asymptotic regime), and give the η at which
the error would reach --accuracy and the wall time that run would take (steps × measured time
per step). Output: JSON with the runs, the fit and that projection.
"""
import argparse
import json
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--T", type=float, required=True)
    ap.add_argument("--target", required=True, help="JSON file with the flow's final theta")
    ap.add_argument("--budget", type=float, default=60.0, help="wall seconds for all GD runs")
    ap.add_argument("--accuracy", type=float, default=1e-6)
    ap.add_argument("--eta0", type=float, default=0.5)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    with open(a.config) as fh:
        cfg = json.load(fh)
    with open(a.target) as fh:
        target = np.asarray(json.load(fh)["theta"], float)
    data, net = cfg["data"], cfg["network"]
    X = np.asarray(data["x"], float)
    X = X[:, None] if X.ndim == 1 else X
    y = np.asarray(data["y"], float)
    W0 = np.asarray(net["W"], float).reshape(len(net["b"]), X.shape[1])
    b0, c0v = np.asarray(net["b"], float), np.asarray(net["c"], float)
    output_bias = bool(net.get("outputBias", False))
    m = len(y)
    Xt = np.ascontiguousarray(X.T)

    def run(eta, steps):
        W, b, c = W0.copy(), b0.copy(), c0v.copy()
        c0 = float(net.get("c0", 0.0))
        for _ in range(steps):
            Z = W @ Xt + b[:, None]
            on = Z > 0
            H = np.where(on, Z, 0.0)
            r = (c @ H + c0 - y) / m
            S = on * r                       # n × m: 1[z > 0] r_j / m
            gW = c[:, None] * (S @ X)
            gb = c * S.sum(axis=1)
            gc = H @ r
            W -= eta * gW
            b -= eta * gb
            c -= eta * gc
            if output_bias:
                c0 -= eta * r.sum()
        return np.concatenate([W.ravel(), b, c] + ([np.array([c0])] if output_bias else []))

    runs, spent, eta = [], 0.0, a.eta0
    while True:
        steps = max(1, int(round(a.T / eta)))
        if runs:
            per_step = runs[-1]["wallSeconds"] / runs[-1]["steps"]
            if spent + per_step * steps > a.budget:
                break
        start = time.perf_counter()
        theta = run(eta, steps)
        wall = time.perf_counter() - start
        spent += wall
        runs.append({"eta": eta, "steps": steps, "wallSeconds": wall,
                     "error": float(np.abs(theta - target).max()) if np.all(np.isfinite(theta)) else None})
        eta /= 2
    fit = None
    # The asymptotic regime only: errors below 1e-2 (larger η is pre-asymptotic, even unstable).
    good = [r for r in runs if r["error"] is not None and r["error"] <= 1e-2]
    if len(good) >= 2:
        tail = good[-3:]
        lx, ly = np.log([r["eta"] for r in tail]), np.log([r["error"] for r in tail])
        p, logC = np.polyfit(lx, ly, 1)
        per_step = tail[-1]["wallSeconds"] / tail[-1]["steps"]
        fit = {"p": float(p), "C": float(np.exp(logC))}
        if p > 0:
            eta_star = float(np.exp((np.log(a.accuracy) - logC) / p))
            fit.update({"etaForAccuracy": eta_star, "stepsForAccuracy": a.T / eta_star,
                        "projectedSeconds": a.T / eta_star * per_step})
    result = {"runs": runs, "fit": fit, "accuracy": a.accuracy, "T": a.T, "budget": a.budget}
    text = json.dumps(result)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
