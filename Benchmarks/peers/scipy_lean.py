#!/usr/bin/env python3
"""Lean event-driven SciPy peer of `reluflow simulate` (issue 22): the same Filippov flow as
Tests/Reference/filippov_reference.py, with DOP853 stepped directly (scipy.integrate.DOP853, one
step at a time) instead of through solve_ivp with one Python event function per pair.

    python Benchmarks/peers/scipy_lean.py CONFIG.json --T T [--rtol R] [--atol A] [--out result.json]

After every accepted step all switching functions are evaluated at once (one evaluation of the
mode-locked field, vectorised over the pairs): z_ig for the pairs that are on or off (direction −1
when on, +1 when off; z_ig / (t − t0) in the first step of a mode for a pair that starts on its
surface, whose value at t0 is the normal velocity n_g·f), and α_ig and α_ig − 1 for sliding pairs.
A sign change in the watched direction is located with brentq on the step's dense output (as
solve_ivp does, same tolerances), the earliest one is refined over re-taken partial DOP853 steps
(the reference's refine_event) and handled by the reference's Filippov logic (classify, sweep,
corners: the same code). So the events and θ(T) are those of the reference, at far fewer Python
calls per step; it is the fairest "plain SciPy" peer, not a different method.

Output: JSON with events, theta, loss, wallSeconds, rhsEvaluations, steps, segments.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np
from scipy.integrate import DOP853
from scipy.optimize import brentq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Reference"))
import filippov_reference as ref  # noqa: E402

EPS = np.finfo(float).eps


class LeanFlow(ref.FilippovFlow):
    steps = 0

    def watched(self, mode):
        """The switching functions of `mode` in the reference's order (make_events): per live
        neuron, per surface, α and α − 1 for a sliding pair, z for an on/off pair not implied."""
        p = self.prob
        tags, dirs = [], []
        for i in range(p.n):
            if np.all(mode.state[i] == ref.OFF):
                continue
            for g in range(p.G):
                if mode.state[i, g] == ref.SLIDE:
                    tags += [(i, g, "a0"), (i, g, "a1")]
                    dirs += [-1.0, 1.0]
                elif (i, g) not in mode.implied:
                    tags.append((i, g, "z"))
                    dirs.append(-1.0 if mode.state[i, g] == ref.ON else 1.0)
        return tags, np.array(dirs)

    def run(self, T):
        p = self.prob
        th, state = self.initial_state(self.theta)
        t = 0.0
        stalls = 0
        while t < T:
            mode = ref.Mode(state, p)
            zz = p.z(th)
            W, b, _, _ = p.unpack(th)
            scale = 64 * EPS * (np.abs(W) @ np.abs(p.Xg).T + np.abs(b)[:, None] + 1e-300)
            tags, dirs = self.watched(mode)
            K = len(tags)
            ii = np.array([k[0] for k in tags], int)
            gg = np.array([k[1] for k in tags], int)
            kind = np.array([{"z": 0, "a0": 1, "a1": 2}[k[2]] for k in tags], int)
            start_on = np.array([kind[k] == 0 and abs(zz[ii[k], gg[k]]) <= scale[ii[k], gg[k]] for k in range(K)], bool)
            blocks = [p.wb_block(i) for i in range(p.n)]
            t0 = t

            def rhs(_t, y, mode=mode):
                p.nfev += 1
                return p.field(y, mode)

            def values(tt, y, mode=mode, t0=t0):
                f, z, al = p.evaluate(y, mode)
                v = np.where(kind == 0, z[ii, gg], np.where(kind == 1, al[ii, gg], al[ii, gg] - 1.0))
                if start_on.any():
                    for k in np.nonzero(start_on)[0]:
                        v[k] = z[ii[k], gg[k]] / (tt - t0) if tt > t0 else p.Nrm[gg[k]] @ f[blocks[ii[k]]]
                return v

            solver = DOP853(rhs, t, th, T, rtol=self.rtol, atol=self.atol)
            g_old = values(t, th) if K else None
            hit = None
            while solver.status == "running":
                t_old, y_old = solver.t, solver.y.copy()
                message = solver.step()
                self.steps += 1
                if solver.status == "failed":
                    raise RuntimeError(f"DOP853 failed at t = {solver.t}: {message}")
                if not K:
                    continue
                g_new = values(solver.t, solver.y)
                up = (g_old <= 0) & (g_new >= 0)
                down = (g_old >= 0) & (g_new <= 0)
                active = np.nonzero((up & (dirs > 0)) | (down & (dirs < 0)))[0]
                if len(active):
                    sol = solver.dense_output()
                    roots = []
                    for k in active:
                        fk = lambda tt, k=k: values(tt, sol(tt))[k]
                        roots.append(brentq(fk, t_old, solver.t, xtol=4 * EPS, rtol=4 * EPS))
                    order = np.argsort(roots, kind="stable")
                    k = active[order[0]]
                    te = roots[order[0]]
                    hit = (k, te, t_old, y_old, sol(te))
                    break
                g_old = g_new
            self.segments += 1
            if hit is None:
                t, th = solver.t, solver.y.copy()
                break
            k, te, t_old, y_old, y_te = hit
            stalls = stalls + 1 if te <= t else 0
            if stalls > 50:
                raise RuntimeError(f"event loop stalled at t = {t}")
            t, th = te, y_te.copy()
            i, g, what = tags[k]
            if self.refine:
                event = lambda tt, y, k=k: values(tt, y)[k]
                r = ref.refine_event(rhs, event, t_old, y_old, t)
                if r is not None:
                    t, th = r[0], r[1].copy()
            handled = {(i, g)}
            if what == "z":
                th = self.classify(t, th, state, i, g, handled=handled)
            else:
                th = self.end_slide(t, th, state, i, g, ref.OFF if what == "a0" else ref.ON)
            th = self.sweep(t, th, state, handled)
        self.theta, self.state, self.t = th, state, t
        return th


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--T", type=float, required=True)
    ap.add_argument("--rtol", type=float)
    ap.add_argument("--atol", type=float)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    cfg, X, W, theta0, output_bias = ref.load_config(a.config)
    data, flow = cfg["data"], cfg.get("flow", {})
    rtol = a.rtol if a.rtol is not None else float(flow.get("rtol", 1e-10))
    atol = a.atol if a.atol is not None else float(flow.get("atol", 1e-12))
    prob = ref.Problem(X, data["y"], W.shape[0], output_bias)
    flow_ = LeanFlow(prob, theta0, rtol, atol)
    start = time.perf_counter()
    status, message = "completed", None
    try:
        th = flow_.run(a.T)
    except RuntimeError as error:          # a failed or stalled integration is reported, not hidden
        status, message, th = "failed", str(error), flow_.theta
    wall = time.perf_counter() - start
    result = {
        "method": "DOP853-lean", "status": status, "message": message,
        "events": flow_.events, "theta": list(map(float, th)), "loss": float(prob.loss(np.asarray(th))),
        "wallSeconds": wall, "rhsEvaluations": int(prob.nfev), "steps": flow_.steps, "segments": flow_.segments,
        "T": a.T, "rtol": rtol, "atol": atol,
    }
    text = json.dumps(result)
    if a.out:
        pathlib.Path(a.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
