#!/usr/bin/env python3
"""Independent reference for the discrete training methods of docs/SPEC.md
section 7 (gd, sgd, adam, rmsprop) on the shallow ReLU network of section 1,
in plain NumPy. Written from the SPEC only, without reading the Swift sources.

Usage
-----
    python3 Tests/Reference/training_reference.py CASE.json
    python3 Tests/Reference/training_reference.py --self-test
    python3 Tests/Reference/training_reference.py --generate [--floors]

CASE.json: {"x": m x d, "y": m, "W": n x d, "b": n, "c": n,
            "c0": number or null (null: no output bias),
            "method": "gd" | "sgd" | "adam" | "rmsprop", "lr": eta,
            "iterations": K, optional "beta1", "beta2", "epsilon", "alpha",
            for sgd "batches": [[point indices], ...] (one list per iteration)}
Prints {"theta": theta_K, "loss": [L(theta_0), ..., L(theta_K)]} (full-data
loss at every iterate, also for sgd); floats are repr-exact.

--generate rewrites Tests/Reference/training_cases/<case>-<method>.json;
--floors also prints the reproducibility floor of every case (see README.md).

Formulas
--------
theta = [W (n x d, row-major), b (n), c (n), (c0)]. On a batch B of points
(B = all m points unless given):
    z_ij = w_i . x_j + b_i,   s_ij = 1 if z_ij > 0 else 0   (sigma'(0) = 0:
                                                             z_ij = 0 is off)
    h_ij = s_ij z_ij = max(z_ij, 0)
    r_j  = sum_i c_i h_ij (+ c0) - y_j
    L_B  = 1/(2|B|) sum_{j in B} r_j^2
    dL_B/dw_i = (c_i/|B|) sum_{j in B} r_j s_ij x_j
    dL_B/db_i = (c_i/|B|) sum_{j in B} r_j s_ij
    dL_B/dc_i = (1/|B|)   sum_{j in B} r_j h_ij
    dL_B/dc0  = (1/|B|)   sum_{j in B} r_j
Methods, g_k = grad L(theta_k) (sgd: on batch k), elementwise:
    gd:      theta_{k+1} = theta_k - eta g_k
    sgd:     the same with g_k = grad L_{B_k}(theta_k), B_k = batches[k]
    adam:    m_0 = v_0 = 0; for k >= 1
             m_k = b1 m_{k-1} + (1-b1) g_{k-1}
             v_k = b2 v_{k-1} + (1-b2) g_{k-1}^2
             theta_k = theta_{k-1}
                       - eta (m_k/(1-b1^k)) / (sqrt(v_k/(1-b2^k)) + eps)
    rmsprop: v_0 = 0; for k >= 1
             v_k = a v_{k-1} + (1-a) g_{k-1}^2
             theta_k = theta_{k-1} - eta g_{k-1} / (sqrt(v_k) + eps)
(b1^k is computed as b1**k, a correctly rounded-or-1-ulp pow; any other way of
forming it differs at the 1e-16 level, far inside the test tolerance.)
"""

import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASE_DIR = os.path.join(HERE, "training_cases")
DEFAULTS = {"adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
            "rmsprop": {"alpha": 0.99, "epsilon": 1e-8}}


# ---------------------------------------------------------------------------
# Network, loss, gradient
# ---------------------------------------------------------------------------
def unpack(theta, n, d, output_bias):
    W = theta[:n * d].reshape(n, d)
    b = theta[n * d:n * d + n]
    c = theta[n * d + n:n * d + 2 * n]
    c0 = theta[n * d + 2 * n] if output_bias else 0.0
    return W, b, c, c0


def pack(W, b, c, c0=None):
    parts = [np.ravel(np.asarray(W, float)), np.asarray(b, float), np.asarray(c, float)]
    if c0 is not None:
        parts.append(np.array([float(c0)]))
    return np.concatenate(parts)


def loss_and_gradient(theta, X, y, n, output_bias, batch=None):
    """Return (L_B, grad L_B) with sigma'(0) = 0; formulas in the module doc."""
    theta = np.asarray(theta, float)
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    if batch is not None:
        idx = np.asarray(batch, int)
        X, y = X[idx], y[idx]
    mb, d = X.shape
    W, b, c, c0 = unpack(theta, n, d, output_bias)
    Z = W @ X.T + b[:, None]             # n x |B|
    S = (Z > 0.0).astype(float)          # z = 0 exactly counts as inactive
    H = S * Z
    r = c @ H + c0 - y                   # |B|
    L = 0.5 * np.dot(r, r) / mb
    Sr = S * r[None, :]                  # s_ij r_j
    gW = (c[:, None] * (Sr @ X)) / mb    # n x d
    gb = c * Sr.sum(axis=1) / mb
    gc = (H @ r) / mb
    parts = [gW.ravel(), gb, gc]
    if output_bias:
        parts.append(np.array([r.sum() / mb]))
    return L, np.concatenate(parts)


def loss(theta, X, y, n, output_bias):
    return loss_and_gradient(theta, X, y, n, output_bias)[0]


# ---------------------------------------------------------------------------
# Methods: each returns (theta_K, [L(theta_0), ..., L(theta_K)]) (full loss)
# ---------------------------------------------------------------------------
def gd(theta0, X, y, n, output_bias, lr, iterations, lg=None):
    lg = lg or loss_and_gradient
    theta = np.array(theta0, float)
    L, g = lg(theta, X, y, n, output_bias)
    hist = [L]
    for _ in range(iterations):
        theta = theta - lr * g
        L, g = lg(theta, X, y, n, output_bias)
        hist.append(L)
    return theta, hist


def sgd(theta0, X, y, n, output_bias, lr, batches, lg=None):
    """One iteration per entry of `batches` (lists of point indices)."""
    lg = lg or loss_and_gradient
    theta = np.array(theta0, float)
    hist = [lg(theta, X, y, n, output_bias)[0]]
    for B in batches:
        g = lg(theta, X, y, n, output_bias, batch=B)[1]
        theta = theta - lr * g
        hist.append(lg(theta, X, y, n, output_bias)[0])
    return theta, hist


def adam(theta0, X, y, n, output_bias, lr, iterations,
         beta1=0.9, beta2=0.999, epsilon=1e-8, lg=None):
    lg = lg or loss_and_gradient
    theta = np.array(theta0, float)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    L, g = lg(theta, X, y, n, output_bias)
    hist = [L]
    for k in range(1, iterations + 1):
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * (g * g)
        mhat = m / (1.0 - beta1 ** k)
        vhat = v / (1.0 - beta2 ** k)
        theta = theta - lr * mhat / (np.sqrt(vhat) + epsilon)
        L, g = lg(theta, X, y, n, output_bias)
        hist.append(L)
    return theta, hist


def rmsprop(theta0, X, y, n, output_bias, lr, iterations, alpha=0.99, epsilon=1e-8,
            lg=None):
    lg = lg or loss_and_gradient
    theta = np.array(theta0, float)
    v = np.zeros_like(theta)
    L, g = lg(theta, X, y, n, output_bias)
    hist = [L]
    for _ in range(iterations):
        v = alpha * v + (1.0 - alpha) * (g * g)
        theta = theta - lr * g / (np.sqrt(v) + epsilon)
        L, g = lg(theta, X, y, n, output_bias)
        hist.append(L)
    return theta, hist


# ---------------------------------------------------------------------------
# Case files
# ---------------------------------------------------------------------------
def case_problem(case):
    X = np.array(case["x"], float)
    y = np.array(case["y"], float)
    n = len(case["b"])
    ob = case.get("c0") is not None
    theta0 = pack(case["W"], case["b"], case["c"], case["c0"] if ob else None)
    return X, y, n, ob, theta0


def run_case(case, theta0=None, lg=None):
    """Run a case dict; theta0 overrides the case's start and lg the gradient
    function (both only for the rounding-floor diagnostics)."""
    X, y, n, ob, th0 = case_problem(case)
    if theta0 is not None:
        th0 = theta0
    meth, lr = case["method"], case["lr"]
    if meth == "gd":
        return gd(th0, X, y, n, ob, lr, case["iterations"], lg=lg)
    if meth == "sgd":
        batches = case["batches"]
        if len(batches) != case["iterations"]:
            raise ValueError("sgd: need one batch per iteration")
        return sgd(th0, X, y, n, ob, lr, batches, lg=lg)
    if meth == "adam":
        hp = {k: case.get(k, v) for k, v in DEFAULTS["adam"].items()}
        return adam(th0, X, y, n, ob, lr, case["iterations"], lg=lg, **hp)
    if meth == "rmsprop":
        hp = {k: case.get(k, v) for k, v in DEFAULTS["rmsprop"].items()}
        return rmsprop(th0, X, y, n, ob, lr, case["iterations"], lg=lg, **hp)
    raise ValueError("unknown method %r" % meth)


def sampled_loss(hist):
    K = len(hist) - 1
    ks = sorted({k for k in (0, 1, 10, 100, 1000) if k <= K} | {K})
    return {str(k): float(hist[k]) for k in ks}


def grid(lo, hi, count):
    """count equally spaced decimals, rounded so they read as short decimals."""
    return [round(lo + (hi - lo) * i / (count - 1), 10) for i in range(count)]


def base_cases():
    """The committed problems (inputs with few decimal digits)."""
    cases = {}
    # (a) d = 1, zero biases, a data point at x = 0: z_i(0) = 0 for all i.
    x = grid(-1.0, 1.0, 11)
    cases["zero-bias-origin"] = dict(
        x=[[v] for v in x], y=[round(0.7 * abs(v) - 0.2, 10) for v in x],
        W=[[0.8], [-0.6], [1.1], [-0.9]], b=[0.0, 0.0, 0.0, 0.0],
        c=[0.5, 0.7, -0.4, -0.3], c0=None)
    # (b) d = 2, output bias, 5 x 5 grid (binary-exact coordinates), n = 6.
    pts = [[a, b] for a in (-1.0, -0.5, 0.0, 0.5, 1.0) for b in (-1.0, -0.5, 0.0, 0.5, 1.0)]
    cases["two-d-bias"] = dict(
        x=pts,
        y=[round(0.6 * p[0] * p[0] - 0.4 * p[1] + 0.3 * abs(p[0] + p[1]) - 0.1, 10) for p in pts],
        W=[[0.7, -0.3], [-0.4, 0.9], [0.6, 0.5], [-0.8, -0.2], [0.3, -0.7], [-0.5, 0.4]],
        b=[0.13, -0.21, 0.07, 0.33, -0.11, 0.19],
        c=[0.4, -0.6, 0.5, 0.3, -0.2, 0.7], c0=0.1)
    # (c) d = 1, neurons 1 and 3 dead on every point (z <= -0.3 and <= -0.3).
    x = grid(-1.0, 1.0, 9)
    cases["dead-neurons"] = dict(
        x=[[v] for v in x], y=[round(v * v - 0.3, 10) for v in x],
        W=[[0.9], [0.5], [-0.7], [-0.6], [1.2]], b=[0.15, -0.8, 0.3, -0.9, -0.45],
        c=[0.6, 0.8, -0.5, -0.7, 0.4], c0=None)
    return cases


def sgd_batches(m, batch_size, iterations, seed=0):
    """Consecutive epochs, each a permutation from default_rng(seed) cut into
    batches of batch_size (the last batch of an epoch takes the remainder)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < iterations:
        perm = rng.permutation(m)
        for s in range(0, m, batch_size):
            out.append([int(i) for i in perm[s:s + batch_size]])
    return out[:iterations]


def method_cases(name, base):
    m = len(base["x"])
    out = {}
    out["gd"] = dict(base, method="gd", lr=0.05, iterations=1000)
    out["adam"] = dict(base, method="adam", lr=1e-3, iterations=1000,
                       beta1=0.9, beta2=0.999, epsilon=1e-8)
    out["rmsprop"] = dict(base, method="rmsprop", lr=1e-3, iterations=1000,
                          alpha=0.99, epsilon=1e-8)
    out["sgd"] = dict(base, method="sgd", lr=0.05, iterations=200, batchSize=4,
                      seed=0, batches=sgd_batches(m, 4, 200, 0))
    return {"%s-%s" % (name, k): v for k, v in out.items()}


def all_cases():
    cases = {}
    for name, base in base_cases().items():
        cases.update(method_cases(name, base))
    return cases


def expected(case):
    theta, hist = run_case(case)
    return {"theta": [float(t) for t in theta], "loss": sampled_loss(hist)}


def loss_and_gradient_fsum(theta, X, y, n, output_bias, batch=None):
    """The same loss and gradient with every sum over points exactly rounded
    (math.fsum, point by point loops): a second summation order, used only to
    measure how far rounding differences carry (and as a cross-check)."""
    theta = np.asarray(theta, float)
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    pts = range(len(y)) if batch is None else [int(j) for j in batch]
    mb, d = len(pts), X.shape[1]
    W, b, c, c0 = unpack(theta, n, d, output_bias)
    Z = {(i, j): math.fsum([W[i, k] * X[j, k] for k in range(d)] + [b[i]])
         for i in range(n) for j in pts}
    H = {key: (z if z > 0.0 else 0.0) for key, z in Z.items()}
    r = {j: math.fsum([c[i] * H[i, j] for i in range(n)] + [c0, -y[j]]) for j in pts}
    L = 0.5 * math.fsum(r[j] * r[j] for j in pts) / mb
    gW = [[c[i] * math.fsum(r[j] * X[j, k] for j in pts if Z[i, j] > 0.0) / mb
           for k in range(d)] for i in range(n)]
    gb = [c[i] * math.fsum(r[j] for j in pts if Z[i, j] > 0.0) / mb for i in range(n)]
    gc = [math.fsum(r[j] * H[i, j] for j in pts) / mb for i in range(n)]
    g = [v for row in gW for v in row] + gb + gc
    if output_bias:
        g.append(math.fsum(r[j] for j in pts) / mb)
    return L, np.array(g)


def kink_margin_recorder():
    """A loss_and_gradient that records min |z_ij| / (|w_i||x_j| + |b_i|) over
    the nonzero z_ij of every call (exact zeros counted separately)."""
    rec = {"margin": np.inf, "zeros": 0}

    def lg(theta, X, y, n, output_bias, batch=None):
        Xb = np.asarray(X, float) if batch is None else np.asarray(X, float)[np.asarray(batch, int)]
        W, b, _, _ = unpack(np.asarray(theta, float), n, Xb.shape[1], output_bias)
        Z = W @ Xb.T + b[:, None]
        scale = np.abs(W) @ np.abs(Xb).T + np.abs(b)[:, None]
        nz = Z != 0
        rec["zeros"] += int(np.sum(~nz))
        if nz.any():
            rec["margin"] = min(rec["margin"], float(np.min(np.abs(Z[nz]) / scale[nz])))
        return loss_and_gradient(theta, X, y, n, output_bias, batch)
    return lg, rec


def floors(case, trials=8, rel=1e-15, seed=1):
    """Reproducibility floor of a case: how far theta_K and L(theta_K) move
    under rounding-size changes, the max over
      - 8 runs from theta_0 (1 + rel u), u uniform in [-1, 1] per component,
      - one run with every sum exactly rounded (loss_and_gradient_fsum),
    as  norm: ||dtheta||_inf / ||theta_K||_inf,  comp: max_i |dtheta_i|/|theta_i|,
        loss: |dL_K| / L_K.
    margin: smallest relative |z_ij| != 0, |z_ij| / (|w_i||x_j| + |b_i|), met by
    the gradient evaluations along the run (how close a knot came to a data
    point); zeros: number of exactly-zero z_ij met."""
    X, y, n, ob, th0 = case_problem(case)
    lg, rec = kink_margin_recorder()
    ref, hist = run_case(case, lg=lg)
    rng = np.random.default_rng(seed)
    runs = [run_case(case, theta0=th0 * (1.0 + rel * rng.uniform(-1.0, 1.0, th0.size)))
            for _ in range(trials)]
    runs.append(run_case(case, lg=loss_and_gradient_fsum))
    out = {"norm": 0.0, "comp": 0.0, "loss": 0.0}
    for th, h in runs:
        d = np.abs(th - ref)
        out["norm"] = max(out["norm"], float(np.max(d) / np.max(np.abs(ref))))
        out["comp"] = max(out["comp"], float(np.max(d[d > 0] / np.abs(ref[d > 0]), initial=0.0)))
        out["loss"] = max(out["loss"], abs(h[-1] - hist[-1]) / hist[-1])
    out.update(margin=rec["margin"], zeros=rec["zeros"])
    return out


def generate(report_floors=False):
    os.makedirs(CASE_DIR, exist_ok=True)
    for name, case in all_cases().items():
        doc = dict(case)
        doc["expected"] = expected(case)
        path = os.path.join(CASE_DIR, name + ".json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        line = "%-28s %6d B  L0 %.6g  LK %.6g" % (
            name, os.path.getsize(path), doc["expected"]["loss"]["0"],
            doc["expected"]["loss"][str(case["iterations"])])
        if report_floors:
            f = floors(case)
            line += "  floor: norm %.1e comp %.1e loss %.1e  margin %.1e zeros %d" % (
                f["norm"], f["comp"], f["loss"], f["margin"], f["zeros"])
        print(line)


# ---------------------------------------------------------------------------
# Self-tests
# ---------------------------------------------------------------------------
def _check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok  ", msg)


def self_test():
    rng = np.random.default_rng(12345)

    # 1. Hand gradient vs central differences, random points away from kinks.
    for d, n, m, ob in [(1, 4, 11, False), (2, 6, 25, True), (3, 5, 17, True)]:
        tried = 0
        while True:
            tried += 1
            X = rng.uniform(-1, 1, (m, d))
            y = rng.uniform(-1, 1, m)
            th = rng.normal(size=n * d + 2 * n + (1 if ob else 0))
            W, b, _, _ = unpack(th, n, d, ob)
            if np.min(np.abs(W @ X.T + b[:, None])) > 1e-2:
                break
        for batch in (None, list(rng.choice(m, 5, replace=False))):
            L, g = loss_and_gradient(th, X, y, n, ob, batch)
            h = 1e-5
            fd = np.empty_like(th)
            for k in range(th.size):
                e = np.zeros_like(th)
                e[k] = h
                fd[k] = (loss_and_gradient(th + e, X, y, n, ob, batch)[0]
                         - loss_and_gradient(th - e, X, y, n, ob, batch)[0]) / (2 * h)
            err = np.max(np.abs(fd - g)) / np.max(np.abs(g))
            _check(err < 1e-6, "gradient vs central differences d=%d n=%d ob=%s batch=%s: rel %.1e"
                   % (d, n, ob, "all" if batch is None else len(batch), err))

    # 2. sigma'(0) = 0 at x = 0 with zero biases: dL/db_i omits that point.
    case = base_cases()["zero-bias-origin"]
    X, y, n, ob, th0 = case_problem(case)
    _, g = loss_and_gradient(th0, X, y, n, ob)
    W, b, c, _ = unpack(th0, n, 1, ob)
    m = len(y)
    gb_loop, gb_with0 = np.zeros(n), np.zeros(n)
    for i in range(n):
        for j in range(m):
            zij = W[i, 0] * X[j, 0] + b[i]
            rj = sum(c[k] * max(W[k, 0] * X[j, 0] + b[k], 0.0) for k in range(n)) - y[j]
            if zij > 0:
                gb_loop[i] += c[i] * rj / m
            if zij >= 0:
                gb_with0[i] += c[i] * rj / m
    gb = g[n:2 * n]
    j0 = int(np.nonzero(X[:, 0] == 0.0)[0][0])
    _check(np.all(W[:, 0] * X[j0, 0] + b == 0.0), "zero-bias-origin: z_i0 = 0 exactly at x = 0")
    _check(np.allclose(gb, gb_loop, rtol=1e-14, atol=0),
           "sigma'(0) = 0: dL/db equals the loop over z > 0 only")
    _check(np.min(np.abs(gb - gb_with0)) > 1e-3,
           "... and differs from counting z = 0 as active (the test is not vacuous)")

    # 3. gd with K = 1 is theta - eta grad L (bitwise).
    for name, base in base_cases().items():
        X, y, n, ob, th0 = case_problem(base)
        th1, hist = gd(th0, X, y, n, ob, 0.05, 1)
        _, g = loss_and_gradient(th0, X, y, n, ob)
        _check(np.array_equal(th1, th0 - 0.05 * g) and hist[0] == loss(th0, X, y, n, ob),
               "gd K=1 = theta0 - eta g (%s)" % name)

    # 4. adam's first step is -eta sign(g) up to eps (and rmsprop's -10 eta sign(g)).
    for name, base in base_cases().items():
        X, y, n, ob, th0 = case_problem(base)
        _, g = loss_and_gradient(th0, X, y, n, ob)
        eta, eps = 1e-3, 1e-8
        th1, _ = adam(th0, X, y, n, ob, eta, 1, epsilon=eps)
        step = th1 - th0
        tol = eta * (eps / np.maximum(np.abs(g), 1e-300) + 1e-12) + 4 * np.finfo(float).eps * np.abs(th0)
        tol[g == 0] = 0.0
        _check(np.all(np.abs(step + eta * np.sign(g)) <= tol),
               "adam first step = -eta sign(g) up to eps (%s; %d zero gradients)"
               % (name, int(np.sum(g == 0))))
        th1, _ = rmsprop(th0, X, y, n, ob, eta, 1, alpha=0.99, epsilon=eps)
        step = th1 - th0
        tol = 10 * eta * (10 * eps / np.maximum(np.abs(g), 1e-300) + 1e-12) \
            + 4 * np.finfo(float).eps * np.abs(th0)
        tol[g == 0] = 0.0
        _check(np.all(np.abs(step + 10 * eta * np.sign(g)) <= tol),
               "rmsprop first step = -10 eta sign(g) up to eps (%s)" % name)

    # 5. Dead neurons stay exactly where they are under every method.
    for name, case in all_cases().items():
        if not name.startswith("dead-neurons"):
            continue
        X, y, n, ob, th0 = case_problem(case)
        dead = [i for i in range(n) if np.all(
            np.asarray(case["W"])[i] @ X.T + case["b"][i] < 0)]
        thK, _ = run_case(case)
        idx = [i for i in dead] + [n + i for i in dead] + [2 * n + i for i in dead]
        _check(dead == [1, 3] and np.array_equal(thK[idx], th0[idx]),
               "dead neurons %s unchanged by %s" % (dead, case["method"]))

    # 6. Committed case files reproduce exactly, and their inputs are as generated.
    if os.path.isdir(CASE_DIR):
        cases = all_cases()
        names = sorted(f[:-5] for f in os.listdir(CASE_DIR) if f.endswith(".json"))
        _check(names == sorted(cases), "training_cases/ holds exactly the %d cases" % len(cases))
        for name in names:
            with open(os.path.join(CASE_DIR, name + ".json")) as f:
                doc = json.load(f)
            exp = doc.pop("expected")
            got = expected(doc)
            th, th_exp = np.array(got["theta"]), np.array(exp["theta"])
            dth = np.max(np.abs(th - th_exp)) / np.max(np.abs(th_exp))
            dL = max(abs(got["loss"][k] - v) / v for k, v in exp["loss"].items())
            # Same inputs; results to 1e-12 (bitwise on the machine that
            # generated them, another BLAS may sum in another order).
            _check(doc == json.loads(json.dumps(cases[name])) and got["loss"].keys() == exp["loss"].keys()
                   and dth <= 1e-12 and dL <= 1e-12,
                   "%s reproduces (theta %.0e, loss %.0e)" % (name, dth, dL))
    print("all self-tests passed")


# ---------------------------------------------------------------------------
def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
    elif argv[1:2] == ["--generate"]:
        generate(report_floors="--floors" in argv[2:])
    elif len(argv) == 2 and not argv[1].startswith("-"):
        with open(argv[1]) as f:
            case = json.load(f)
        theta, hist = run_case(case)
        print(json.dumps({"theta": [float(t) for t in theta],
                          "loss": [float(L) for L in hist]}))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
