#!/usr/bin/env python3
"""Peers of the deep-network gradient flow (issue 18, SPEC 8), as a user would write them:
the ReLU inside the right-hand side (no mode locking, no events), theta' = -grad L(theta)
with sigma'(0) = 0, integrated to T at given tolerances by

  * scipy-DOP853    scipy.integrate.solve_ivp(method="DOP853"), NumPy field;
  * scipy-Radau     solve_ivp(method="Radau") with the exact Jacobian of that naive field,
                    -Hessian of the loss in the pattern of the evaluation point (jax.hessian,
                    jit-compiled: exact automatic differentiation, not finite differences);
  * diffrax-Dopri8  diffrax.diffeqsolve(Dopri8(), PIDController(rtol, atol)), jax.jit, CPU, float64;
  * diffrax-Kvaerno5 the same with the implicit Kvaerno5 (its Newton iteration uses JAX's Jacobian
                    of the same field).

    Benchmarks/.venv/bin/python Benchmarks/peers/deep_flow_peers.py CONFIG.json --T 20 \
        [--rtol 1e-10 --atol 1e-12] [--peers scipy-DOP853,scipy-Radau,diffrax-Dopri8,diffrax-Kvaerno5]
        [--repeat 3] [--timeout 300] [--max-steps 1000000] [--reference REF.json | --no-reference]
        [--out result.json]

CONFIG.json: a deep-network config (INTERFACE.md: data.x, data.y, network.layers, activation,
bias, outputBias, weights, biases) or a shallow one (W, b, c); explicit parameters.

Each peer runs in its own process under a wall-clock timeout (--timeout) and a step guard
(--max-steps: diffrax's max_steps; for SciPy a cap of 13 x max-steps right-hand-side calls),
so a peer that stalls at the kinks is reported as such ("status": "timeout" / "max_steps" /
"failed") instead of hanging the benchmark. Output JSON: per peer the status, the median wall
time over --repeat runs (diffrax: after one compiling call, whose time is reported separately),
steps, right-hand-side and Jacobian evaluations, theta(T), and max |theta - theta_ref| against the
independent mode-locked reference (Tests/Reference/deep_flow_reference.py at rtol 1e-13,
atol 1e-15 unless --reference gives its output). Timings are wall-clock on whatever machine runs
this: repeat, report medians, say how loaded the machine was.
"""
import argparse
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "Reference"))
PEERS = ["scipy-DOP853", "scipy-Radau", "diffrax-Dopri8", "diffrax-Kvaerno5"]


def problem(cfg):
    """(layers, relu, bias, output_bias, X, y, theta0) via the reference's config reader."""
    import deep_flow_reference as ref
    net, theta0 = ref.load(cfg)
    return net.layers, net.relu, net.bias, net.output_bias, net.X, net.y, theta0


class NumpyField:
    """The naive field -grad L with the ReLU inside (sigma'(0) = 0), as a user writes it."""

    def __init__(self, layers, relu, bias, output_bias, X, y):
        self.layers, self.relu, self.bias, self.ob = layers, relu, bias, output_bias
        self.X, self.y, self.m = X, y, len(y)
        self.shapes, off = [], 0
        for l in range(1, len(layers)):
            n, k = layers[l], layers[l - 1]
            entry = [slice(off, off + n * k), (n, k), None]
            off += n * k
            if bias and l < len(layers) - 1:
                entry[2] = slice(off, off + n)
                off += n
            self.shapes.append(entry)
        self.P = off + (1 if output_bias else 0)
        self.nfev = 0
        self.max_evals = float("inf")

    def __call__(self, t, th):
        self.nfev += 1
        if self.nfev > self.max_evals:
            raise StepLimit()
        hs, masks = [self.X.T], []
        for l, (sw, shp, sb) in enumerate(self.shapes[:-1]):
            z = th[sw].reshape(shp) @ hs[-1]
            if sb is not None:
                z = z + th[sb][:, None]
            mask = (z > 0).astype(float) if self.relu else np.ones_like(z)
            masks.append(mask)
            hs.append(mask * z)
        sw, shp, _ = self.shapes[-1]
        r = (th[sw].reshape(shp) @ hs[-1])[0] - self.y
        if self.ob:
            r = r + th[-1]
        g = np.zeros(self.P)
        D = r[None, :] / self.m
        for l in range(len(self.shapes) - 1, -1, -1):
            sw, shp, sb = self.shapes[l]
            g[sw] = (D @ hs[l].T).ravel()
            if sb is not None:
                g[sb] = D.sum(axis=1)
            if l > 0:
                D = masks[l - 1] * (th[sw].reshape(shp).T @ D)
        if self.ob:
            g[-1] = r.sum() / self.m
        return -g


class StepLimit(Exception):
    pass


def jax_loss(layers, relu, bias, output_bias, X, y):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    Xt, yj = jnp.asarray(X.T), jnp.asarray(y)
    shapes, off = [], 0
    for l in range(1, len(layers)):
        n, k = layers[l], layers[l - 1]
        sw = (off, n, k)
        off += n * k
        sb = None
        if bias and l < len(layers) - 1:
            sb = (off, n)
            off += n
        shapes.append((sw, sb))

    def loss(th):
        h = Xt
        for l, ((o, n, k), sb) in enumerate(shapes):
            z = th[o:o + n * k].reshape(n, k) @ h
            if sb is not None:
                z = z + th[sb[0]:sb[0] + sb[1]][:, None]
            if l == len(shapes) - 1:
                h = z
            else:
                h = jax.nn.relu(z) if relu else z
        r = h[0] - yj + (th[-1] if output_bias else 0.0)
        return 0.5 * jnp.mean(r * r)
    return loss


def run_scipy(method, prob, T, rtol, atol, repeat, max_steps):
    from scipy.integrate import solve_ivp
    layers, relu, bias, ob, X, y, th0 = prob
    field = NumpyField(layers, relu, bias, ob, X, y)
    field.max_evals = 13 * max_steps
    extra, jac_info = {}, {}
    if method == "Radau":
        import jax
        hess = jax.jit(jax.hessian(jax_loss(layers, relu, bias, ob, X, y)))
        hess(th0).block_until_ready()          # compile outside the timed runs
        jac_info["njev"] = 0

        def jac(t, th):
            jac_info["njev"] += 1
            return -np.asarray(hess(th))
        extra["jac"] = jac
    times, sol = [], None
    for _ in range(repeat):
        field.nfev = 0
        jac_info["njev"] = 0
        start = time.perf_counter()
        try:
            sol = solve_ivp(field, (0.0, T), th0, method=method, rtol=rtol, atol=atol, **extra)
        except StepLimit:
            return {"status": "max_steps", "wallSeconds": time.perf_counter() - start,
                    "rhsEvaluations": field.nfev}
        times.append(time.perf_counter() - start)
        if sol.status != 0:
            return {"status": "failed", "message": sol.message, "wallSeconds": times[-1],
                    "rhsEvaluations": int(sol.nfev)}
    return {"status": "completed", "wallSeconds": statistics.median(times), "wallSecondsAll": times,
            "steps": int(len(sol.t) - 1), "rhsEvaluations": int(sol.nfev),
            "jacobianEvaluations": int(sol.njev), "theta": sol.y[:, -1].tolist()}


def run_diffrax(solver_name, prob, T, rtol, atol, repeat, max_steps):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import diffrax
    layers, relu, bias, ob, X, y, th0 = prob
    grad = jax.grad(jax_loss(layers, relu, bias, ob, X, y))
    term = diffrax.ODETerm(lambda t, th, args: -grad(th))
    solver = {"Dopri8": diffrax.Dopri8, "Kvaerno5": diffrax.Kvaerno5}[solver_name]()

    @jax.jit
    def solve(th):
        return diffrax.diffeqsolve(term, solver, t0=0.0, t1=T, dt0=None, y0=th,
                                   stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                                   saveat=diffrax.SaveAt(t1=True), max_steps=max_steps, throw=False)
    y0 = jnp.asarray(th0)
    start = time.perf_counter()
    sol = solve(y0)
    sol.ys.block_until_ready()
    compile_and_first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sol = solve(y0)
        sol.ys.block_until_ready()
        times.append(time.perf_counter() - start)
    stats = {k: int(v) for k, v in sol.stats.items() if np.ndim(v) == 0}
    ok = sol.result == diffrax.RESULTS.successful
    status = "completed" if ok else (
        "max_steps" if sol.result == diffrax.RESULTS.max_steps_reached else "failed")
    out = {"status": status, "wallSeconds": statistics.median(times), "wallSecondsAll": times,
           "compileAndFirstRunSeconds": compile_and_first,
           "steps": stats.get("num_steps"), "acceptedSteps": stats.get("num_accepted_steps"),
           "rejectedSteps": stats.get("num_rejected_steps")}
    if ok:
        out["theta"] = np.asarray(sol.ys[-1]).tolist()
    else:
        out["message"] = str(sol.result)
    return out


def run_one(name, cfg, T, rtol, atol, repeat, max_steps):
    prob = problem(cfg)
    if name.startswith("scipy-"):
        return run_scipy(name.split("-", 1)[1], prob, T, rtol, atol, repeat, max_steps)
    return run_diffrax(name.split("-", 1)[1], prob, T, rtol, atol, repeat, max_steps)


def versions():
    out = {"python": platform.python_version()}
    for mod in ("numpy", "scipy", "jax", "jaxlib", "diffrax", "equinox"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:          # noqa: BLE001 (a missing peer is reported, not fatal)
            out[mod] = None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--T", type=float)
    ap.add_argument("--rtol", type=float, default=1e-10)
    ap.add_argument("--atol", type=float, default=1e-12)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--max-steps", type=int, default=1_000_000)
    ap.add_argument("--reference", help="output of deep_flow_reference.py for the same config and T")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--one", help=argparse.SUPPRESS)      # internal: run one peer, JSON to stdout
    a = ap.parse_args(argv)
    if a.out and pathlib.Path(a.out).exists():
        print(f"error: --out {a.out} exists; not replacing it", file=sys.stderr)
        return 2
    cfg = json.loads(pathlib.Path(a.config).read_text())
    T = a.T if a.T is not None else float(cfg.get("flow", {}).get("T", 10.0))
    if a.one:
        print(json.dumps(run_one(a.one, cfg, T, a.rtol, a.atol, a.repeat, a.max_steps)))
        return 0
    result = {"config": str(a.config), "T": T, "rtol": a.rtol, "atol": a.atol, "repeat": a.repeat,
              "versions": versions(), "cpus": os.cpu_count(),
              "loadAverage": os.getloadavg(), "peers": {}}
    ref_theta = None
    if a.reference:
        ref = json.loads(pathlib.Path(a.reference).read_text())
        ref_theta = np.array(ref["theta"])
        result["reference"] = {"file": a.reference, "rtol": ref.get("rtol"), "atol": ref.get("atol"),
                               "events": len(ref.get("events", []))}
    elif not a.no_reference:
        import deep_flow_reference as dref
        ref = dref.simulate(dict(cfg, flow=dict(cfg.get("flow", {}), kind="gradient")),
                            overrides={"T": T, "rtol": 1e-13, "atol": 1e-15})
        if ref["status"] == "completed":
            ref_theta = np.array(ref["theta"])
        result["reference"] = {"rtol": 1e-13, "atol": 1e-15, "status": ref["status"],
                               "events": len(ref["events"]), "wallSeconds": ref["wallSeconds"],
                               "diagnosis": ref.get("diagnosis")}
    for name in a.peers.split(","):
        cmd = [sys.executable, __file__, a.config, "--T", repr(T), "--rtol", repr(a.rtol),
               "--atol", repr(a.atol), "--repeat", str(a.repeat), "--max-steps", str(a.max_steps),
               "--one", name]
        start = time.perf_counter()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
            if p.returncode != 0:
                # The exception's own line (the traceback's last such line: a warning may follow),
                # e.g. "ModuleNotFoundError: No module named 'jax'" when the Python has no JAX.
                lines = p.stderr.strip().splitlines()
                errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
                out = {"status": "failed", "message": (errors or lines or [f"exit status {p.returncode}"])[-1]}
            else:
                out = json.loads(p.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            out = {"status": "timeout", "timeoutSeconds": a.timeout}
        out["processSeconds"] = time.perf_counter() - start
        if ref_theta is not None and "theta" in out:
            out["dthetaMax"] = float(np.abs(np.array(out["theta"]) - ref_theta).max())
        result["peers"][name] = out
        print(f"{name}: {out['status']}, wall {out.get('wallSeconds', float('nan')):.4g} s"
              + (f", steps {out.get('steps')}, |dtheta| {out['dthetaMax']:.2e}" if "dthetaMax" in out else ""),
              file=sys.stderr)
    text = json.dumps(result, indent=1)
    if a.out:
        with tempfile.NamedTemporaryFile("w", dir=pathlib.Path(a.out).resolve().parent, delete=False) as fh:
            fh.write(text + "\n")
        os.replace(fh.name, a.out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
