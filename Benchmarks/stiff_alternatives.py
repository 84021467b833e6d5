#!/usr/bin/env python3
"""Would another stiff integrator make `sine` to T = 1e5 much faster (issue 22)? Runs
`BIN simulate --example sine --T 1e5` and, after t = --from (158: where the `auto` rule first meets
stiffness), integrates each pattern interval of the run with its pattern held (the mode-locked field
of SPEC §3, a sliding pair's α as in Tests/Reference/filippov_reference.py, exact Jacobian by JAX)
by SciPy's Radau (5th order, one step, implicit) and BDF (variable order) at the given tolerances,
from the engine's state at the interval's start; counts their steps, field and Jacobian evaluations
and LU factorisations (SciPy's Radau counts a real and a complex one per factorisation) and their
error at the interval's end against a tight Radau run (rtol 1e-13, atol 1e-16). The engine's own
counts per interval come from runs to each interval's end time (`--T t`: the differences of
summary.json's steps, rhsEvaluations, jacobianEvaluations), its error from its state at the
interval's end against the same tight run.

    Benchmarks/.venv/bin/python Benchmarks/stiff_alternatives.py .build/release/reluflow
    Benchmarks/.venv/bin/python Benchmarks/stiff_alternatives.py BIN --tol 1e-10,1e-12 --tol 3e-10,3e-12
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import jax
import jax.numpy as jnp
from scipy.integrate import solve_ivp

jax.config.update("jax_enable_x64", True)
OFF, ON, SLIDE = 0, 1, 2


def run(binary, T, out):
    subprocess.run([binary, "simulate", "--example", "sine", "--T", repr(T), "--quiet", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    return json.load(open(os.path.join(out, "summary.json")))


def patterns(folder, n, m):
    """(tStart, tEnd, state[n, m]) per pattern interval, the states rebuilt from the changes."""
    state = np.zeros((n, m), int)
    out = []
    for r in csv.DictReader(open(os.path.join(folder, "patterns.csv"))):
        for change in filter(None, r["changes"].split(";")):
            i, j, s = change.split(":")
            state[int(i), int(j)] = {"+": ON, "-": OFF, "0": SLIDE}[s]
        out.append((float(r["tStart"]), float(r["tEnd"]), state.copy()))
    return out


def trajectory(folder, n):
    rows = list(csv.reader(open(os.path.join(folder, "trajectory.csv"))))
    first = rows[0].index("W[0][0]")
    t = np.array([float(r[0]) for r in rows[1:]])
    return t, np.array([[float(v) for v in r[first:first + 3 * n]] for r in rows[1:]])


def state_at(t, ts, thetas):
    k = int(np.argmin(abs(ts - t)))
    assert abs(ts[k] - t) <= 1e-12 * max(1.0, abs(t)), f"no trajectory row at t = {t}"
    return thetas[k]


def mode_field(x, y, state):
    """θ' in one pattern (θ = (W, b, c), width n, m points of one input): the gradient flow of
    L = 1/(2m) Σ_j r_j², r_j = Σ_i c_i s_ij z_ij − y_j, z_ij = w_i x_j + b_i, with s_ij = 1 on, 0 off,
    and for a pair (i, k) on its surface the α_ik that keeps ż_ik = 0 (one sliding point a neuron)."""
    n, m = state.shape
    on = jnp.array((state == ON).astype(float))
    sliding = [(i, int(np.nonzero(state[i] == SLIDE)[0][0])) for i in range(n) if np.any(state[i] == SLIDE)]
    X, Y = jnp.array(x), jnp.array(y)
    gram = jnp.outer(X, X) + 1.0

    def f(theta):
        W, b, c = theta[:n], theta[n:2 * n], theta[2 * n:]
        z = W[:, None] * X[None, :] + b[:, None]
        h = on * z
        r = c @ h - Y
        s = on
        for i, k in sliding:
            s = s.at[i, k].set(-jnp.sum(on[i] * r * gram[:, k]) / (r[k] * gram[k, k]))
        sr = s * r[None, :]
        return jnp.concatenate([-(c * (sr @ X)) / m, -c * sr.sum(axis=1) / m, -(h @ r) / m])

    return jax.jit(f), jax.jit(jax.jacfwd(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--T", type=float, default=1e5)
    ap.add_argument("--from", dest="start", type=float, default=158.0)
    ap.add_argument("--tol", action="append", help="rtol,atol of the SciPy runs (default 1e-10,1e-12 and 1e-12,1e-14)")
    a = ap.parse_args()
    tols = [tuple(float(v) for v in s.split(",")) for s in (a.tol or ["1e-10,1e-12", "1e-12,1e-14"])]
    binary = os.path.abspath(a.binary)
    tmp = tempfile.mkdtemp(prefix="reluflow-stiff-")
    whole = run(binary, a.T, os.path.join(tmp, "whole"))
    config = json.load(open(os.path.join(tmp, "whole", "config.json")))
    x = np.array(config["data"]["x"], float)[:, 0]
    y = np.array(config["data"]["y"], float)
    n, m = config["network"]["width"], len(x)
    ts, thetas = trajectory(os.path.join(tmp, "whole"), n)
    # The intervals after `start` (the one holding it split there), each from the engine's state.
    start_run = run(binary, a.start, os.path.join(tmp, "start"))
    _, start_rows = trajectory(os.path.join(tmp, "start"), n)
    pieces = []
    for t0, t1, state in patterns(os.path.join(tmp, "whole"), n, m):
        if t1 <= a.start or t1 <= t0:
            continue
        begin = max(t0, a.start)
        theta0 = start_rows[-1] if begin == a.start else state_at(begin, ts, thetas)
        pieces.append((begin, min(t1, a.T), state, theta0))
    counts = {a.start: start_run}
    for _, t1, _, _ in pieces:
        counts[t1] = whole if t1 == a.T else run(binary, t1, os.path.join(tmp, f"T{t1!r}"))
    keys = ("steps", "rhsEvaluations", "jacobianEvaluations")
    head = f"{'interval':>20} {'sl':>2} | {'engine steps/f/J':>17} {'err':>7}"
    for rt, _ in tols:
        head += f" | {'Radau ' + format(rt, 'g') + ' steps/f/J/LU':>28} {'err':>7} | {'BDF ' + format(rt, 'g') + ' steps/f/J/LU':>26} {'err':>7}"
    print(f"sine to T = {a.T:g} after t = {a.start:g} ({binary}; errors: max |Δθ| at the interval's end against Radau "
          f"at rtol 1e-13, atol 1e-16; SciPy's Radau LU counts a real and a complex factorisation each)")
    print(head)
    totals = {}
    for begin, t1, state, theta0 in pieces:
        f, jac = mode_field(x, y, state)
        fun = lambda t, v: np.asarray(f(jnp.asarray(v)))
        jfun = lambda t, v: np.asarray(jac(jnp.asarray(v)))
        ref = solve_ivp(fun, (begin, t1), theta0, method="Radau", jac=jfun, rtol=1e-13, atol=1e-16).y[:, -1]
        engine = [counts[t1][k] - counts[begin][k] for k in keys]
        sl = int(np.sum(state == SLIDE))
        err = float(np.max(abs(state_at(t1, ts, thetas) - ref)))
        line = f"{begin:9.2f}–{t1:<10.6g} {sl:>2} | {'/'.join(map(str, engine)):>17} {err:7.1e}"
        totals.setdefault("engine", [0, 0, 0, 0.0])
        for k in range(3): totals["engine"][k] += engine[k]
        totals["engine"][3] = max(totals["engine"][3], err)
        for rt, at in tols:
            for method in ("Radau", "BDF"):
                s = solve_ivp(fun, (begin, t1), theta0, method=method, jac=jfun, rtol=rt, atol=at)
                e = float(np.max(abs(s.y[:, -1] - ref)))
                c = (len(s.t) - 1, s.nfev, s.njev, s.nlu)
                line += f" | {'/'.join(map(str, c)):>28} {e:7.1e}" if method == "Radau" else f" | {'/'.join(map(str, c)):>26} {e:7.1e}"
                tot = totals.setdefault(f"{method} {rt:g}", [0, 0, 0, 0, 0.0])
                for k in range(4): tot[k] += c[k]
                tot[4] = max(tot[4], e)
        print(line, flush=True)
    for name, v in totals.items():
        what = "steps/f/J" if name == "engine" else "steps/f/J/LU"
        print(f"total {name}: {what} {'/'.join(str(q) for q in v[:-1])}, worst error {v[-1]:.1e}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
