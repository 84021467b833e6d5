#!/usr/bin/env python3
"""Self-checks of deep_flow_reference.py (no pytest; exit 1 on any failure).

    python3 Tests/Reference/check_deep_flow_reference.py            # all checks
    python3 Tests/Reference/check_deep_flow_reference.py --generate [NAME ...] # rewrite deep_flow_cases/ (all, or the named cases)

Each check prints what it measured and the tolerance it holds it to; see
Tests/Reference/README.md for the reasons of the tolerances.
  (0) gradient, forward-mode dz/dtheta and dz/dtheta vectors against central
      differences of the state-free loss / pre-activations (inside a mode);
  (i) shallow networks written as layers [d, n, 1] with hidden biases
      reproduce filippov_reference.py (events and theta within 1e-9);
  (ii) dissipation identity and balance invariants on deep ReLU and linear
      gradient flows (1e-10);
  (iii) width-1 linear chains against closed forms (depth 2: logistic) and
      an independent scalar quadrature (depth 3, 4);
  (iv) rmsprop flow limits: tau -> 0 approaches theta' = -g/(|g|+eps), and
      eps large approaches the gradient flow in time t/eps;
  (v) tightened tolerances converge;
  (vi) the committed cases in deep_flow_cases/ reproduce; bad input exits 2;
      several attracting surfaces exit 1;
  (vii) discrete Adam and RMSProp (SPEC 7) with eta -> 0 approach their flows
      (first order); RMSProp only when started at v0 = g0^2 (measured and
      printed for SPEC 7's v0 = 0, which does not).
"""
import json
import math
import pathlib
import subprocess
import sys
import time

import numpy as np
from scipy.integrate import quad, solve_ivp

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import deep_flow_reference as D  # noqa: E402
import filippov_reference as F  # noqa: E402

CASES = HERE / "deep_flow_cases"
FAILURES = []


def check(name, value, tol, what=""):
    ok = bool(value <= tol)
    print(f"  {'ok  ' if ok else 'FAIL'} {name}: {value:.3g} (tolerance {tol:.0e}) {what}")
    if not ok:
        FAILURES.append(name)


# --------------------------------------------------------------------------
# Case construction (explicit, short decimals: every JSON reader gets the same doubles)
# --------------------------------------------------------------------------
def make_case(seed, layers, bias, activation="relu", m=6, T=20.0, kind="gradient", **flow):
    rng = np.random.default_rng(seed)
    d = layers[0]
    X = np.round(rng.uniform(-1, 1, (m, d)), 2)
    y = np.round(np.sin(2 * X[:, 0]) + (X[:, 1] if d > 1 else 0), 3)
    W = [np.round(rng.normal(0, np.sqrt(2 / layers[l - 1]), (layers[l], layers[l - 1])), 3).tolist()
         for l in range(1, len(layers))]
    cfg = {"data": {"x": X.tolist(), "y": y.tolist()},
           "network": {"layers": layers, "activation": activation, "bias": bias, "weights": W},
           "flow": {"kind": kind, "T": T, "rtol": 1e-12, "atol": 1e-14, **flow}}
    if bias:
        cfg["network"]["biases"] = [np.round(rng.normal(0, 0.3, layers[l]), 3).tolist()
                                    for l in range(1, len(layers) - 1)]
    return cfg


SHALLOW = {  # the shallow cases of Tests/ReluFlowTests/ReferenceAgreementTests.swift
    "slide+duplicate": {"data": {"x": [[-1.0], [-0.6], [-0.2], [0.2], [0.6], [1.0], [0.2]], "y": [-1.153, -0.706, -0.313, 0.658, 0.828, 0.465, 0.658]}, "network": {"W": [[-0.11], [-0.446]], "b": [0.388, 0.097], "c": [-1.631, -1.195]}, "flow": {"T": 50}},
    "repelling start": {"data": {"x": [[-1.0], [0.0], [1.0]], "y": [0.5, 2.0, 0.0]}, "network": {"W": [[1.0], [-1.0]], "b": [0.0, 0.2], "c": [1.0, 0.5]}, "flow": {"T": 50}},
    "two-d": {"data": {"x": [[-0.47, 0.07], [0.5, 0.79], [-0.75, -0.63], [0.6, 0.29], [0.44, 0.99], [0.88, 0.69], [0.55, -0.21]], "y": [-0.806, 0.592, -0.806, 0.893, 0.423, 0.757, 0.872]}, "network": {"W": [[0.215, -0.252], [-0.204, 0.054]], "b": [0.454, 0.167], "c": [-0.058, -0.579]}, "flow": {"T": 60}},
    "output bias": {"data": {"x": [[-1.0], [-0.6], [-0.2], [0.2], [0.6], [1.0], [0.2]], "y": [-1.153, -0.706, -0.313, 0.658, 0.828, 0.465, 0.658]}, "network": {"W": [[-0.11], [-0.446]], "b": [0.388, 0.097], "c": [-1.631, -1.195], "outputBias": True, "c0": 0.1}, "flow": {"T": 50}},
}


def as_deep(cfg):
    """A shallow config written as layers [d, n, 1] with hidden biases."""
    net = cfg["network"]
    W = np.asarray(net["W"], float)
    out = {"data": cfg["data"], "flow": cfg["flow"],
           "network": {"layers": [W.shape[1], W.shape[0], 1], "activation": "relu", "bias": True,
                       "weights": [W.tolist(), [net["c"]]], "biases": [net["b"]]}}
    if net.get("outputBias"):
        out["network"].update(outputBias=True, c0=net.get("c0", 0.0))
    return out


def case_list():
    """name -> (config, options) of the committed cases."""
    return {
        "relu-bias-slide": (make_case(4, [1, 3, 3, 1], True, T=20.0), {}),
        "relu-nobias-2d": (make_case(3, [2, 3, 3, 1], False, T=20.0), {}),
        "relu-depth4": (make_case(2, [1, 2, 2, 2, 1], True, T=20.0), {}),
        "linear-bias": (make_case(0, [1, 3, 3, 1], True, activation="linear", T=10.0), {}),
        "linear-chain": (make_case(1, [1, 1, 1, 1], False, activation="linear", T=10.0), {}),
        "rmsprop-deep": (make_case(2, [1, 3, 3, 1], True, T=20.0, kind="rmsprop", tau=10.0, epsilon=1e-8), {}),
        "adam-deep": (make_case(0, [1, 3, 3, 1], True, T=20.0, kind="adam", a=10.0, b=0.1, epsilon=1e-8), {}),
        "rmsprop-shallow": (dict(as_deep(SHALLOW["slide+duplicate"]),
                                 flow={"kind": "rmsprop", "T": 20.0, "rtol": 1e-12, "atol": 1e-14,
                                       "tau": 1.0, "epsilon": 1e-8}), {}),
        "adam-shallow": (dict(as_deep(SHALLOW["slide+duplicate"]),
                              flow={"kind": "adam", "T": 10.0, "rtol": 1e-12, "atol": 1e-14,
                                    "a": 10.0, "b": 0.1, "epsilon": 1e-8}), {}),
        "several-attracting": (make_case(5, [1, 3, 3, 1], True, T=20.0), {}),
        "rmsprop-several-attracting": (make_case(5, [1, 3, 3, 1], True, T=20.0, kind="rmsprop", tau=0.1,
                                                 epsilon=1e-8), {}),
        # The same network with --multi-slide (several surfaces, SPEC 4 carried to the rmsprop
        # flow: product-measure v'): at t ~ 0.29312 the joint system sends (2, 1, 2) off its
        # surface while (2, 1, 0) slides on; T = 0.4 (the next exit, t ~ 0.59, is ill-conditioned).
        "rmsprop-multi-slide": (make_case(5, [1, 3, 3, 1], True, T=0.4, kind="rmsprop", tau=0.1,
                                          epsilon=1e-8), {"multi_slide": True}),
        # The sine example (m = 20, width 10, He seed 0, bias scale 0.1) under the rmsprop flow as
        # [1, 10, 1], to T = 25 with --multi-slide: up to three pairs of different neurons slide at
        # once (t ~ 21.2-21.5); the one-surface rule stops it at t ~ 2.2943.
        "rmsprop-sine-multi": (json.loads((CASES / "rmsprop-sine-multi.json").read_text()), {"multi_slide": True}),
        "tied-dead-layer": (TIED, {}),
        # Several surfaces sliding at once (--multi-slide): the several-attracting network, where
        # the second surface's arrival ends the first's slide; K = 3 on [1, 2, 2, 2, 1]; coupled
        # slides (one point in different layers: Newton's method on the multilinear conditions).
        "multi-slide": (make_case(5, [1, 3, 3, 1], True, T=20.0), {"multi_slide": True}),
        "multi-slide-three": (make_case(23, [1, 2, 2, 2, 1], True, T=20.0), {"multi_slide": True}),
        "multi-slide-affine": (make_case(22, [1, 3, 3, 1], True, T=20.0), {"multi_slide": True}),
        "coupled-slides": (make_case(7, [1, 3, 3, 1], True, T=20.0), {"multi_slide": True}),
        "coupled-slides-depth4": (make_case(1, [1, 2, 2, 2, 1], True, T=20.0), {"multi_slide": True}),
        # Coupled slides under the rmsprop flow: (3, 1) slides on points 0, 4, 5 (one surface) from
        # t ~ 0.0458 and (2, 2) joins on point 0 at t ~ 0.0807 (one point, layers 2 and 3: Newton on
        # the multilinear conditions, E[g^2] over the 2^K corners); T = 0.3.
        "rmsprop-coupled": (make_case(0, [1, 3, 3, 3, 1], True, T=0.3, kind="rmsprop", tau=1.0,
                                      epsilon=1e-8), {"multi_slide": True}),
        # An escape-grid network ([1, 4, 4, 1], Xavier seed 2, no biases, sin(pi x) on 16 points)
        # to T = 150, long after its minimum (t ~ 5): the stationary end of the adaptive flows.
        "adam-stationary": (json.loads((CASES / "adam-stationary.json").read_text()), {}),
        "rmsprop-stationary": (json.loads((CASES / "rmsprop-stationary.json").read_text()), {}),
        # The Adam flow's second-order slide: [1, 8, 8, 1] with biases, He seed 1, sin(pi x) on 20
        # points (the resolved config of reluflow's own run, weights explicit), to T = 12: the
        # flow zig-zags across (layer 1, unit 3, point 19) from t ~ 5.9, enters its second-order
        # slide at t ~ 6.3102 and leaves it on at t ~ 10.6986.
        "adam-second-order": (json.loads((CASES / "adam-second-order.json").read_text()), {}),
        # The escape grid's [1, 16x4, 1] network (Xavier seed 0, no biases, sin(pi x) on 16 points;
        # reluflow's resolved weights) to T = 0.13: a zig-zag of (layer 4, unit 6) on the points
        # x > 0 passes the relay's amplitude test at t ~ 0.1225, but its projection onto dz/dt = 0
        # would move some v by more than itself: no second-order slide (296 crossings), where the
        # rule before (plain Newton, no such test) entered one with dz/dt != 0.
        "adam-entry-projection": (json.loads((CASES / "adam-entry-projection.json").read_text()), {}),
    }


# Coincident surfaces: layer 1 is off on the four points x <= 0.1, so their inputs to layer 2 are
# zero and the surfaces of layer 2's units on them are one (z = b_2); unit 0 of layer 2 slides on
# all four at once (one event, one alpha) and leaves them together.
TIED = {"data": {"x": [[-0.9], [-0.6], [-0.3], [0.1], [0.7], [0.95], [0.7]],
                 "y": [-0.5, -0.4, -0.6, 0.1, 0.9, 1.2, 0.8]},
        "network": {"layers": [1, 2, 2, 1], "activation": "relu", "bias": True,
                    "weights": [[[1.3], [0.8]], [[0.9, -0.4], [0.5, 0.7]], [[0.8, -0.6]]],
                    "biases": [[-0.4, -0.2], [0.3, -0.03]]},
        "flow": {"kind": "gradient", "T": 20.0, "rtol": 1e-12, "atol": 1e-14}}


def generate(only=None):
    CASES.mkdir(exist_ok=True)
    for name, (cfg, opts) in case_list().items():
        if only and name not in only:
            continue
        res = D.simulate(cfg, **opts)
        for k in ("wallSeconds", "rhsEvaluations", "steps", "segments"):
            res.pop(k)
        (CASES / f"{name}.json").write_text(json.dumps(cfg, indent=1) + "\n")
        (CASES / f"{name}.expected.json").write_text(json.dumps(res, indent=1) + "\n")
        kinds = [e["kind"] for e in res["events"]]
        print(f"{name}: {res['status']}, {len(kinds)} events ({kinds.count('slide')} slides), "
              f"loss {res['initialLoss']:.4g} -> {res['loss']:.4g}, t = {res['finalTime']:.6g}")


# --------------------------------------------------------------------------
def check_derivatives():
    print("(0) derivatives against central differences (inside a mode, h = 1e-6)")
    for seed, layers, bias in ((4, [1, 3, 3, 1], True), (3, [2, 3, 3, 1], False), (2, [1, 2, 2, 2, 1], True)):
        cfg = make_case(seed, layers, bias)
        net, th = D.load(cfg)
        fl = D.Flow(net, quadrature=False)
        st = np.full(net.npairs, D.OFF)
        for _ in range(net.L):
            ev = fl.evaluate(0.0, th, D.Mode(st, net))
            z = np.concatenate([ev["Z"][l].ravel() for l in range(1, net.L)])
            st = np.where(z > 0, D.ON, D.OFF)
        mode = D.Mode(st, net)
        ev = fl.evaluate(0.0, th, mode)
        h = 1e-6
        fd = np.array([(net.loss(th + h * e) - net.loss(th - h * e)) / (2 * h) for e in np.eye(net.P)])
        check(f"gradient {layers}", np.abs(ev["g"] - fd).max() / np.abs(fd).max(), 1e-8,
              "(relative; FD truncation ~h^2, rounding ~eps/h)")
        u = np.random.default_rng(seed).normal(size=net.P)

        def zf(t):
            e = fl.evaluate(0.0, t, mode)
            return np.concatenate([e["Z"][l].ravel() for l in range(1, net.L)])
        jv = net.jvp(th, u, ev["H"], ev["F"])
        fdz = (zf(th + h * u) - zf(th - h * u)) / (2 * h)
        check(f"dz/dt (forward mode) {layers}", np.abs(jv - fdz).max() / np.abs(fdz).max(), 1e-8)
        gz = np.array([net.zgrad(th, ev["H"], ev["F"], k) @ u for k in range(net.npairs)])
        check(f"grad z . u vs forward mode {layers}", np.abs(gz - jv).max(), 1e-13)


def match_events(ea, eb, key_a, key_b):
    """Largest |dt| of the events matched in order after sorting by (t rounded, key);
    None if the lists differ in length or keys."""
    if len(ea) != len(eb):
        return None
    sa = sorted(ea, key=lambda e: (round(e["t"], 8), key_a(e)))
    sb = sorted(eb, key=lambda e: (round(e["t"], 8), key_b(e)))
    if [key_a(e) for e in sa] != [key_b(e) for e in sb]:
        return None
    return max((abs(a["t"] - b["t"]) for a, b in zip(sa, sb)), default=0.0)


def check_shallow():
    print("(i) shallow networks as layers [d, n, 1] against filippov_reference.py (rtol 1e-12, atol 1e-14)")
    for name, cfg in SHALLOW.items():
        X = np.asarray(cfg["data"]["x"], float)
        net = cfg["network"]
        W = np.asarray(net["W"], float)
        ob = bool(net.get("outputBias", False))
        theta0 = np.concatenate([W.ravel(), net["b"], net["c"]] + ([[net.get("c0", 0.0)]] if ob else []))
        prob = F.Problem(X, cfg["data"]["y"], W.shape[0], ob)
        ff = F.FilippovFlow(prob, theta0, 1e-12, 1e-14)
        th_ref = ff.run(cfg["flow"]["T"])
        multi = name == "output bias"   # two neurons slide on one point at once
        res = D.simulate(as_deep(cfg), overrides={"rtol": 1e-12, "atol": 1e-14}, multi_slide=multi)
        dth = np.abs(np.array(res["theta"]) - th_ref).max()
        dt = match_events(ff.events, res["events"],
                          lambda e: (e["neuron"], e["point"], e["kind"], e["state"]),
                          lambda e: (e["unit"], e["point"], e["kind"], e["state"]))
        kinds = [e["kind"] for e in res["events"]]
        print(f"  {name}: {len(kinds)} events, kinds {sorted(set(kinds))}"
              + (" (--multi-slide)" if multi else ""))
        if dt is None:
            FAILURES.append(f"{name} events")
            print(f"  FAIL {name}: event lists differ")
        else:
            check(f"{name} event times", dt, 1e-9)
        check(f"{name} theta(T)", dth, 1e-9)
        if multi:   # without --multi-slide the second attracting surface stops the run
            r1 = D.simulate(as_deep(cfg), overrides={"rtol": 1e-12, "atol": 1e-14})
            ok = r1["status"] == "failed" and "several attracting surfaces" in r1["diagnosis"]
            print(f"  {'ok  ' if ok else 'FAIL'} {name} without --multi-slide: {r1['status']} at "
                  f"t = {r1['finalTime']:.6g}: {r1.get('diagnosis', '')[:90]}...")
            if not ok:
                FAILURES.append(f"{name} single-slide failure")


def check_identities():
    print("(ii) dissipation identity |L0 - LT - int|theta'|^2| / L0 and balance drift max |q(T) - q(0)| "
          "(gradient flow, rtol 1e-12, atol 1e-14)")
    for label, cfg in (("relu [1,3,3,1] bias", make_case(4, [1, 3, 3, 1], True)),
                       ("relu [2,3,3,1] no bias", make_case(3, [2, 3, 3, 1], False)),
                       ("relu [1,2,2,2,1] bias", make_case(2, [1, 2, 2, 2, 1], True)),
                       ("relu [1,3,3,1] bias seed 9", make_case(9, [1, 3, 3, 1], True)),
                       ("linear [1,3,3,1] bias", make_case(0, [1, 3, 3, 1], True, activation="linear")),
                       ("linear [2,4,3,2,1]", make_case(1, [2, 4, 3, 2, 1], False, activation="linear"))):
        res = D.simulate(cfg)
        kinds = [e["kind"] for e in res["events"]]
        print(f"  {label}: {res['status']}, {len(kinds)} events, {kinds.count('slide')} slides, "
              f"loss {res['initialLoss']:.4g} -> {res['loss']:.4g}")
        check(f"{label} dissipation defect", res["dissipation"]["defect"], 1e-10)
        scale = max(max(abs(v) for v in q) for q in res["balance"]["initial"]) or 1.0
        check(f"{label} balance drift", res["balance"]["maxDrift"] / max(scale, 1.0), 1e-10,
              "(relative to max(1, max|q(0)|))")
    res = D.simulate(make_case(2, [1, 3, 3, 1], True, kind="rmsprop"))
    check("rmsprop [1,3,3,1] seed 2 dissipation L0 - LT = int -g.theta' dt", res["dissipation"]["defect"], 1e-10,
          f"({res['status']}; balance moves by {res['balance']['maxDrift']:.2g}: not an invariant of this flow)")


def chain_cfg(ws, x, y, T):
    return {"data": {"x": [[v] for v in x], "y": list(y)},
            "network": {"layers": [1] * (len(ws) + 1), "activation": "linear", "bias": False,
                        "weights": [[[w]] for w in ws]},
            "flow": {"T": T, "rtol": 1e-12, "atol": 1e-14}}


def check_chain():
    print("(iii) width-1 linear chains N(x) = P x, P = prod w_l: L = (a P^2 - 2 b P + c)/2, "
          "a = mean x^2, b = mean x y")
    x, y = [-1.0, -0.5, 0.25, 1.0], [-0.9, -0.3, 0.35, 1.1]
    a = float(np.mean(np.square(x)))
    b = float(np.mean(np.multiply(x, y)))
    Ps = b / a
    # depth 2, balanced w1 = w2 = w: P' = 2 a P (P* - P), logistic with rate 2 b.
    w, T = 0.3, 5.0
    res = D.simulate(chain_cfg([w, w], x, y, T))
    P0 = w * w
    Pt = Ps / (1 + (Ps / P0 - 1) * math.exp(-2 * b * T))
    th = res["theta"]
    check("depth 2 balanced: P(T) vs logistic closed form", abs(th[0] * th[1] - Pt), 1e-10)
    check("depth 2 balanced: w1 = w2 = sqrt(P(T))", max(abs(th[0] - math.sqrt(Pt)), abs(th[1] - math.sqrt(Pt))), 1e-10)
    # depth L balanced: P' = -L (a P - b) P^(2 - 2/L); the time to reach the
    # reference's P(T) by quadrature of dt = dP / P' must be T.
    for depth, w in ((3, 0.5), (4, 0.7)):
        T = 4.0
        res = D.simulate(chain_cfg([w] * depth, x, y, T))
        PT = float(np.prod(res["theta"]))
        tq, err = quad(lambda p: 1.0 / (depth * (b - a * p) * p ** (2 - 2 / depth)), w ** depth, PT,
                       epsabs=1e-14, epsrel=1e-13, limit=200)
        check(f"depth {depth} balanced: time to reach P(T) by quadrature vs T", abs(tq - T), 1e-8,
              f"(P(T) = {PT:.12g}, quad error estimate {err:.1e}; P' ~ {depth * (b - a * PT) * PT ** (2 - 2 / depth):.2g} "
              "turns a theta error into a time error)")
    # unbalanced depth 3: w_l^2 - w_1^2 = d_l constant; one scalar ODE in w_1 solved
    # independently (solve_ivp on 1 unknown, DOP853 1e-13).
    ws = [0.4, -0.8, 0.6]
    T = 3.0
    res = D.simulate(chain_cfg(ws, x, y, T))
    dl = [ws[k] ** 2 - ws[0] ** 2 for k in range(3)]
    sg = [math.copysign(1, v) for v in ws]

    def prod(w1):
        return w1 * sg[1] * math.sqrt(w1 * w1 + dl[1]) * sg[2] * math.sqrt(w1 * w1 + dl[2])
    sol = solve_ivp(lambda t, u: [-(a * prod(u[0]) - b) * prod(u[0]) / u[0]], (0, T), [ws[0]],
                    method="DOP853", rtol=1e-13, atol=1e-15)
    w1 = sol.y[0, -1]
    exact = [w1, sg[1] * math.sqrt(w1 * w1 + dl[1]), sg[2] * math.sqrt(w1 * w1 + dl[2])]
    check("depth 3 unbalanced: theta(T) vs scalar reduction by the balance invariants",
          float(np.abs(np.array(res["theta"]) - exact).max()), 1e-10)


class NormalisedFlow(D.Flow):
    """theta' = -g/(|g| + eps): the tau -> 0 limit of the rmsprop flow."""

    def velocity_of(self, t, y, g):
        return -g / (np.abs(g) + self.eps)


def run_flow(flow, theta0, T, rtol=1e-12, atol=1e-14):
    y0 = np.zeros(flow.nstate)
    y0[:flow.net.P] = theta0
    it = D.Integrator(flow, rtol, atol)
    y = it.run(y0, T)
    return y[:flow.net.P], it


def check_rmsprop_limits():
    print("(iv) rmsprop flow limits")
    # A linear network (no events: the limits are about the ODE, not the pattern) and a ReLU one.
    for label, cfg, T, eps in (("linear [1,3,3,1]", make_case(0, [1, 3, 3, 1], True, activation="linear"), 1.0, 1e-2),
                               ("relu [1,3,3,1] seed 0", make_case(0, [1, 3, 3, 1], True), 1.0, 1e-2)):
        net, th0 = D.load(cfg)
        thN, itN = run_flow(NormalisedFlow(net, "gradient", epsilon=eps, quadrature=False), th0, T)
        errs = []
        for tau in (1e-1, 1e-2, 1e-3):
            thR, itR = run_flow(D.Flow(net, "rmsprop", tau=tau, epsilon=eps, quadrature=False), th0, T)
            errs.append(np.abs(thR - thN).max())
            print(f"    {label}, eps {eps:g}: tau {tau:g}: max|theta_rmsprop - theta_normalised| = {errs[-1]:.3e} "
                  f"({len(itR.events)} events vs {len(itN.events)})")
        check(f"{label} tau -> 0: error(1e-3) / error(1e-2)", errs[2] / errs[1], 0.2,
              "(first order in tau: ~0.1)")
        check(f"{label} tau = 1e-3: distance to the normalised flow", errs[2], 1e-2)
    # eps large: theta' = -g/(sqrt(v)+eps) ~ -g/eps: the gradient flow in time t/eps.
    cfg = make_case(0, [1, 3, 3, 1], True)
    net, th0 = D.load(cfg)
    Tg = 2.0
    thG, itG = run_flow(D.Flow(net, quadrature=False), th0, Tg)
    errs = []
    for eps in (1e2, 1e3, 1e4):
        thR, itR = run_flow(D.Flow(net, "rmsprop", tau=10.0, epsilon=eps, quadrature=False), th0, Tg * eps)
        errs.append(np.abs(thR - thG).max())
        print(f"    relu [1,3,3,1] seed 0: eps {eps:g}: max|theta_rmsprop(T eps) - theta_gradient(T)| = {errs[-1]:.3e} "
              f"({len(itR.events)} events vs {len(itG.events)})")
    check("eps -> inf: error(1e4) / error(1e3)", errs[2] / errs[1], 0.2, "(first order in 1/eps: ~0.1)")
    check("eps = 1e4: distance to the rescaled gradient flow", errs[2], 1e-4)


def check_convergence():
    print("(v) tightened tolerances (relu [1,2,2,2,1] bias seed 2, T = 20; rmsprop [1,3,3,1] seed 2)")
    for label, cfg in (("gradient", make_case(2, [1, 2, 2, 2, 1], True)),
                       ("rmsprop", make_case(2, [1, 3, 3, 1], True, kind="rmsprop")),
                       ("adam", make_case(0, [1, 3, 3, 1], True, kind="adam"))):
        prev, diffs = None, []
        for rtol in (1e-8, 1e-10, 1e-12, 1e-13):
            res = D.simulate(cfg, overrides={"rtol": rtol, "atol": rtol * 1e-2})
            th = np.array(res["theta"])
            if prev is not None:
                diffs.append(np.abs(th - prev).max())
            prev = th
        print(f"    {label}: max|theta(rtol) - theta(rtol/100)| = " + ", ".join(f"{v:.2e}" for v in diffs)
              + " (1e-8->1e-10, 1e-10->1e-12, 1e-12->1e-13)")
        check(f"{label}: last difference (1e-12 vs 1e-13)", diffs[-1], 1e-9)
        check(f"{label}: differences decrease", float(diffs[-1] > diffs[0]), 0.0)


def true_gradient(net, fl, th):
    """grad L with the pattern of th itself (sigma'(0) = 0), as discrete methods use it."""
    st = np.full(net.npairs, D.OFF)
    for _ in range(net.L if net.npairs else 0):
        ev = fl.evaluate(0.0, th, D.Mode(st, net))
        z = np.concatenate([ev["Z"][l].ravel() for l in range(1, net.L)])
        st = np.where(z > 0, D.ON, D.OFF)
    return fl.evaluate(0.0, th, D.Mode(st, net))["g"]


def check_discrete_limits():
    print("(vii) discrete Adam / RMSProp (SPEC 7) with eta -> 0 against their flows at T = 1 "
          "(beta1 = 1 - a eta, beta2 = 1 - b eta, a = 10, b = 0.1; rmsprop alpha = 1 - eta/tau, tau = 1)")
    for label, cfg in (("linear [1,3,3,1]", make_case(0, [1, 3, 3, 1], True, activation="linear")),
                       ("relu [1,3,3,1] seed 0", make_case(0, [1, 3, 3, 1], True))):
        net, th0 = D.load(cfg)
        fl = D.Flow(net, quadrature=False)
        T, eps = 1.0, 1e-8
        thA, _ = run_flow(D.Flow(net, "adam", a=10.0, b=0.1, epsilon=eps, quadrature=False), th0, T)
        thR, _ = run_flow(D.Flow(net, "rmsprop", tau=1.0, epsilon=eps, quadrature=False), th0, T)
        errs = {"adam": [], "rmsprop v0 = g0^2": [], "rmsprop v0 = 0 (SPEC 7 discrete)": []}
        for eta in (1e-2, 1e-3):
            K = int(round(T / eta))
            b1, b2, al = 1 - 10 * eta, 1 - 0.1 * eta, 1 - eta / 1.0
            th, m, v = th0.copy(), np.zeros_like(th0), np.zeros_like(th0)
            for k in range(1, K + 1):
                g = true_gradient(net, fl, th)
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                th = th - eta * (m / (1 - b1 ** k)) / (np.sqrt(v / (1 - b2 ** k)) + eps)
            errs["adam"].append(np.abs(th - thA).max())
            for key, v0 in (("rmsprop v0 = g0^2", true_gradient(net, fl, th0) ** 2),
                            ("rmsprop v0 = 0 (SPEC 7 discrete)", np.zeros_like(th0))):
                th, v = th0.copy(), v0.copy()
                for k in range(1, K + 1):
                    g = true_gradient(net, fl, th)
                    v = al * v + (1 - al) * g * g
                    th = th - eta * g / (np.sqrt(v) + eps)
                errs[key].append(np.abs(th - thR).max())
        for key, e in errs.items():
            print(f"    {label}: {key}: max|theta_K - theta_flow(T)| = {e[0]:.3e} (eta 1e-2), {e[1]:.3e} (eta 1e-3)")
        check(f"{label} adam: error ratio per decade of eta", errs["adam"][1] / errs["adam"][0], 0.2,
              "(first order: ~0.1)")
        check(f"{label} rmsprop with v0 = g0^2: error ratio", errs["rmsprop v0 = g0^2"][1] / errs["rmsprop v0 = g0^2"][0],
              0.2, "(first order: ~0.1)")
        print(f"    note: with SPEC 7's discrete v0 = 0 the iterates approach the flow started at v(0) = 0, "
              f"not SPEC 7's v(0) = g^2: the distance stays O(1) "
              f"({errs['rmsprop v0 = 0 (SPEC 7 discrete)'][0]:.2g}, {errs['rmsprop v0 = 0 (SPEC 7 discrete)'][1]:.2g})")


def check_cases():
    print("(vi) committed cases reproduce (theta, m, v within 1e-9; same events; status)")
    for name, (cfg, opts) in case_list().items():
        exp = json.loads((CASES / f"{name}.expected.json").read_text())
        cfg_file = json.loads((CASES / f"{name}.json").read_text())
        res = D.simulate(cfg_file, **opts)
        d = max(np.abs(np.array(res[k]) - np.array(exp[k])).max() for k in ("theta", "m", "v") if k in exp)
        dt = match_events(exp["events"], res["events"], lambda e: (e["layer"], e["unit"], e["point"], e["kind"]),
                          lambda e: (e["layer"], e["unit"], e["point"], e["kind"]))
        same = res["status"] == exp["status"] and dt is not None and dt <= 1e-9
        check(f"{name} ({exp['status']}, {len(exp['events'])} events{'' if same else ', EVENTS/STATUS DIFFER'})",
              d if same else float("inf"), 1e-9)
    py = sys.executable
    script = str(HERE / "deep_flow_reference.py")
    bad = dict(make_case(2, [1, 3, 3, 1], True, kind="rmsprop"))
    bad["flow"] = dict(bad["flow"], tau=0.0)
    p = pathlib.Path("/tmp") / f"deep_flow_bad_{time.time_ns()}.json"
    p.write_text(json.dumps(bad))
    r = subprocess.run([py, script, str(p)], capture_output=True, text=True)
    p.unlink()
    ok = r.returncode == 2 and "flow.tau" in r.stderr
    print(f"  {'ok  ' if ok else 'FAIL'} flow.tau = 0: exit {r.returncode}: {r.stderr.strip()}")
    if not ok:
        FAILURES.append("bad input")
    r = subprocess.run([py, script, str(CASES / "several-attracting.json")], capture_output=True, text=True)
    ok = r.returncode == 1 and "several attracting surfaces" in r.stderr and '"status": "failed"' in r.stdout
    print(f"  {'ok  ' if ok else 'FAIL'} several-attracting: exit {r.returncode}: {r.stderr.strip()[:120]}...")
    if not ok:
        FAILURES.append("several attracting exit 1")


def main():
    if "--generate" in sys.argv:
        # --generate [NAME ...]: every committed case, or only the named ones.
        generate(sys.argv[sys.argv.index("--generate") + 1:])
        return 0
    start = time.perf_counter()
    for fn in (check_derivatives, check_shallow, check_identities, check_chain, check_rmsprop_limits,
               check_convergence, check_discrete_limits, check_cases):
        fn()
    print(f"{len(FAILURES)} failure(s) in {time.perf_counter() - start:.0f} s" +
          (": " + ", ".join(FAILURES) if FAILURES else ""))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
