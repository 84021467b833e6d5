#!/usr/bin/env python3
"""SciPy peer of `reluflow simulate`: the same Filippov gradient flow, event-driven
scipy.integrate.solve_ivp per mode, with DOP853 or an implicit method (LSODA, Radau, BDF)
given the exact Jacobian.

    python Benchmarks/peers/scipy_flow.py CONFIG.json --T T --method DOP853|LSODA|Radau|BDF [--out result.json]
    python Benchmarks/peers/scipy_flow.py CONFIG.json --check-jacobian

CONFIG.json is a resolved ReluFlow config (explicit x, y, W, b, c). The Filippov logic (mode
locking, events refined on re-taken DOP853 steps, sliding, corners) is the independent
reference implementation in Tests/Reference/filippov_reference.py, which was written from
SPEC.md alone; this file adds the method choice and the Jacobian. Output: that script's JSON
(events, theta, loss, wallSeconds, rhsEvaluations, ...) plus "method" and
"jacobianEvaluations".

Exact Jacobian of the mode-locked field (SPEC §3), f = −(1/m) Σ_g R_g ∇N_g with
R_g = μ_g N_g − Y_g over surface groups:
    ∂f/∂θ = −(1/m) [Σ_g μ_g ∇N_g ∇N_gᵀ + Σ_g R_g ∇²N_g],
∇N_g = (c_i s_ig x_g, c_i s_ig, h_ig, 1) and ∇²N_g coupling c_i with (w_i, b_i) by s_ig x̃_g.
A sliding pair has s = 0 there; the sliding neuron's (w_i, b_i) velocity is the orthogonal
projection P_i of that field onto its surfaces' tangent space, and P_i does not depend on θ
(the normals are the data points (x_g, 1)), so its Jacobian rows are P_i times the unprojected ones.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Reference"))
import filippov_reference as ref  # noqa: E402


class Jacobian:
    """mode -> (θ -> ∂f/∂θ) for the reference's Problem."""

    def __init__(self, prob):
        self.prob = prob
        self.evaluations = 0
        self.mu = prob.Agg.sum(axis=1)                 # group multiplicities

    def __call__(self, mode):
        p = self.prob
        on = mode.onf                                  # n × G, 1 on, 0 off or sliding
        projectors = {}
        for i, ks in mode.sliding:
            Nk = p.Nrm[ks]
            projectors[i] = np.eye(p.d + 1) - np.linalg.pinv(Nk) @ Nk

        def jac(th):
            self.evaluations += 1
            W, b, c, c0 = p.unpack(th)
            z = W @ p.Xg.T + b[:, None]                # n × G
            H = on * z
            N = c @ H + c0                             # per group
            R = self.mu * N - p.Agg @ p.y              # R_g = μ_g N_g − Y_g
            P, n, d, G = p.size, p.n, p.d, p.G
            grad = np.zeros((G, P))                    # rows ∇N_g
            cs = (c[:, None] * on).T                   # G × n: c_i s_ig
            grad[:, p.sW] = (cs[:, :, None] * p.Xg[:, None, :]).reshape(G, n * d)
            grad[:, p.sb] = cs
            grad[:, p.sc] = H.T
            if p.output_bias:
                grad[:, -1] = 1.0
            hess = (grad * self.mu[:, None]).T @ grad
            SR = on * R                                # n × G: R_g s_ig
            cross_w = SR @ p.Xg                        # n × d: Σ_g R_g s_ig x_g
            cross_b = SR.sum(axis=1)
            for i in range(n):
                ci = p.sc.start + i
                wi = np.arange(i * d, (i + 1) * d)
                hess[wi, ci] += cross_w[i]
                hess[ci, wi] += cross_w[i]
                hess[p.sb.start + i, ci] += cross_b[i]
                hess[ci, p.sb.start + i] += cross_b[i]
            J = -hess / p.m
            for i, Pi in projectors.items():
                rows = p.wb_block(i)
                J[rows, :] = Pi @ J[rows, :]
            return J

        return jac


def adaptive_refinement(refine_event, rtol, atol):
    """The reference refines an event time by re-taking one explicit DOP853 step from the start
    of the step that holds the event. An implicit method's step in the stiff phase is far longer
    than DOP853's stability limit, and that one step blows up (measured: LSODA on `sine`, state
    off by 20 at t = 2848). So the implicit step [t0, te] is first re-integrated adaptively with
    DOP853 (to te plus 5 % of the step), and the reference refinement runs inside the DOP853 step
    that holds the event."""
    from scipy.integrate import solve_ivp

    def refine(fun, event, t0, y0, te):
        span = te - t0
        sol = solve_ivp(fun, (t0, te + 0.05 * span), y0, method="DOP853", rtol=rtol, atol=atol, events=[event])
        if sol.status != 1 or not len(sol.t_events[0]) or len(sol.t) < 2:
            return None
        return refine_event(fun, event, sol.t[-2], sol.y[:, -2], sol.t_events[0][0])

    return refine


def check_jacobian(prob, theta, trials=4, seed=0):
    """Largest |J − J_FD| / max(1, max|J|) over the pattern of θ and `trials` variants with one or
    two sliding pairs per chosen neuron, J_FD by central differences of the reference field
    (step 1e-6: truncation ~1e-12, rounding ~1e-10)."""
    rng = np.random.default_rng(seed)
    base = np.where(prob.z(theta) > 0, ref.ON, ref.OFF)
    states = [base]
    for _ in range(trials):
        s = base.copy()
        for i in rng.choice(prob.n, size=min(2, prob.n), replace=False):
            for g in rng.choice(prob.G, size=min(1 + prob.d // 2, prob.G), replace=False):
                s[i, g] = ref.SLIDE
        states.append(s)
    worst = 0.0
    for s in states:
        mode = ref.Mode(s, prob)
        J = Jacobian(prob)(mode)(theta)
        h = 1e-6
        fd = np.empty_like(J)
        for k in range(prob.size):
            e = np.zeros(prob.size)
            e[k] = h
            fd[:, k] = (prob.field(theta + e, mode) - prob.field(theta - e, mode)) / (2 * h)
        worst = max(worst, float(np.abs(J - fd).max() / max(1.0, np.abs(J).max())))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--T", type=float)
    ap.add_argument("--method", default="DOP853", choices=["DOP853", "LSODA", "Radau", "BDF"])
    ap.add_argument("--rtol", type=float)
    ap.add_argument("--atol", type=float)
    ap.add_argument("--out")
    ap.add_argument("--check-jacobian", action="store_true",
                    help="compare the exact Jacobian with finite differences at θ(0) (several modes, sliding ones "
                         "included), print the largest relative difference and exit 1 above 1e-7")
    a = ap.parse_args(argv)
    cfg, X, W, theta0, output_bias = ref.load_config(a.config)
    data, flow = cfg["data"], cfg.get("flow", {})
    rtol = a.rtol if a.rtol is not None else float(flow.get("rtol", 1e-10))
    atol = a.atol if a.atol is not None else float(flow.get("atol", 1e-12))
    prob = ref.Problem(X, data["y"], W.shape[0], output_bias)
    if not a.check_jacobian and a.T is None:
        ap.error("--T is required")
    if a.check_jacobian:
        worst = check_jacobian(prob, theta0)
        print(f"max |J - J_FD| / max(1, max|J|) = {worst:.3e}")
        sys.exit(0 if worst <= 1e-7 else 1)
    flow_ = ref.FilippovFlow(prob, theta0, rtol, atol)
    flow_.method = a.method
    jacobian = None
    if a.method != "DOP853":
        jacobian = Jacobian(prob)
        flow_.jacobian = jacobian
        ref.refine_event = adaptive_refinement(ref.refine_event, rtol, atol)
    start = time.perf_counter()
    status, message = "completed", None
    try:
        th = flow_.run(a.T)
    except RuntimeError as error:          # a failed or stalled integration is reported, not hidden
        status, message, th = "failed", str(error), flow_.theta
    wall = time.perf_counter() - start
    result = {
        "method": a.method, "status": status, "message": message,
        "events": flow_.events, "theta": list(map(float, th)), "loss": float(prob.loss(np.asarray(th))),
        "wallSeconds": wall, "rhsEvaluations": int(prob.nfev),
        "jacobianEvaluations": jacobian.evaluations if jacobian else 0,
        "T": a.T, "rtol": rtol, "atol": atol,
    }
    text = json.dumps(result)
    if a.out:
        pathlib.Path(a.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
