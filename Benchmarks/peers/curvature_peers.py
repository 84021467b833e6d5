#!/usr/bin/env python3
"""The Hessian of a deep network's loss and its spectrum in JAX, as a user would write it
(jax.hessian = forward-over-reverse, jax.jit, jnp.linalg.eigvalsh; CPU, float64), for
reluflow-bench --curvature.

    python curvature_peers.py CONFIG.json [--repeat R] [--out FILE]

CONFIG.json is a resolved ReluFlow config of a deep network (SPEC §8: network.layers, activation,
bias, outputBias, explicit weights, biases, c0). Prints JSON {"jax": {...}}: the median wall
seconds of R runs of the jitted Hessian and of the jitted eigvalsh (after one warm-up call each, so
that compilation is not counted), their sum, P, and the eigenvalues (ascending). σ'(0) = 0 as in
ReluFlow (jnp.where(z > 0, z, 0)).
"""
import argparse
import json
import statistics
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    result = {}
    try:
        result["jax"] = run_jax(config, args.repeat)
    except Exception as error:  # a missing JAX is reported, not fatal
        result["jax"] = {"error": f"{type(error).__name__}: {error}"}
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)


def run_jax(config, repeat):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    net = config["network"]
    layers, relu = net["layers"], net.get("activation", "relu") == "relu"
    weights = [np.array(w, dtype=np.float64) for w in net["weights"]]
    biases = [np.array(b, dtype=np.float64) for b in net.get("biases") or []]
    c0 = net.get("c0")
    X = jnp.array(config["data"]["x"], dtype=jnp.float64)
    y = jnp.array(config["data"]["y"], dtype=jnp.float64)
    L = len(layers) - 1
    # θ in ReluFlow's order: per layer W_l row-major, then b_l (hidden, when enabled); c0 last.
    parts, shapes = [], []
    for l in range(L):
        parts.append(weights[l].ravel())
        shapes.append(("W", weights[l].shape))
        if biases and l < L - 1:
            parts.append(biases[l])
            shapes.append(("b", biases[l].shape))
    if c0 is not None:
        parts.append(np.array([c0]))
        shapes.append(("c0", (1,)))
    theta = jnp.array(np.concatenate(parts))

    def loss(t):
        offset, h, k = 0, X, 0
        params = []
        for kind, shape in shapes:
            size = int(np.prod(shape))
            params.append((kind, t[offset:offset + size].reshape(shape)))
            offset += size
        out_bias = 0.0
        for kind, value in params:
            if kind == "W":
                k += 1
                h = h @ value.T
                # the bias of this layer, if any, follows; activation after it (below)
                if k < L and not biases:
                    h = jnp.where(h > 0, h, 0.0) if relu else h
            elif kind == "b":
                h = h + value
                h = jnp.where(h > 0, h, 0.0) if relu else h
            else:
                out_bias = value[0]
        r = h[:, 0] + out_bias - y
        return 0.5 * jnp.mean(r * r)

    hessian = jax.jit(jax.hessian(loss))
    eigvalsh = jax.jit(jnp.linalg.eigvalsh)
    H = hessian(theta).block_until_ready()
    w = eigvalsh(H).block_until_ready()
    th, te = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        H = hessian(theta).block_until_ready()
        th.append(time.perf_counter() - start)
        start = time.perf_counter()
        w = eigvalsh(H).block_until_ready()
        te.append(time.perf_counter() - start)
    h, e = statistics.median(th), statistics.median(te)
    return {"parameters": int(theta.shape[0]), "hessianSeconds": h, "eigenSeconds": e, "totalSeconds": h + e,
            "eigenvalues": [float(v) for v in np.asarray(w)], "version": jax.__version__}


if __name__ == "__main__":
    main()
