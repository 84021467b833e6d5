#!/usr/bin/env python3
"""Full-batch GD and Adam on a ReluFlow problem, as a user would write them in NumPy and in JAX
(jax.jit with lax.fori_loop; optax.adam), for reluflow-bench --training.

    python training_peers.py CONFIG.json --method gd|adam --lr ETA --iterations K [--peers numpy,jax] [--out FILE]

CONFIG.json is a resolved ReluFlow config (explicit x, y, W, b, c, c0). Prints JSON: per peer the
wall seconds of K iterations (after one warm-up run of the same length for JAX, so that
compilation is not counted), iterations per second, and θ after K iterations in ReluFlow's order
[W (n×d row-major), b, c, (c0)]. The gradient is the plain one; σ'(0) is 0 in the NumPy code and
jax.nn.relu's, and random data never hit z = 0 exactly anyway.
"""
import argparse
import json
import time

import numpy as np


def unpack(config):
    X = np.array(config["data"]["x"], dtype=np.float64)
    y = np.array(config["data"]["y"], dtype=np.float64)
    net = config["network"]
    W = np.array(net["W"], dtype=np.float64)
    b = np.array(net["b"], dtype=np.float64)
    c = np.array(net["c"], dtype=np.float64)
    c0 = net.get("c0")
    return X, y, W, b, c, (0.0 if c0 is None else float(c0)), c0 is not None


def pack(W, b, c, c0, bias):
    return [float(v) for v in np.concatenate([np.ravel(W), b, c] + ([np.array([c0])] if bias else []))]


def numpy_run(X, y, W, b, c, c0, bias, method, lr, K, b1=0.9, b2=0.999, eps=1e-8):
    m = len(y)
    W, b, c = W.copy(), b.copy(), c.copy()
    mom = [np.zeros_like(W), np.zeros_like(b), np.zeros_like(c), 0.0]
    vel = [np.zeros_like(W), np.zeros_like(b), np.zeros_like(c), 0.0]
    start = time.perf_counter()
    for k in range(1, K + 1):
        Z = W @ X.T + b[:, None]
        S = Z > 0
        A = np.where(S, Z, 0.0)
        r = c @ A + c0 - y
        SR = S * r
        F = SR @ X
        gW = c[:, None] * F / m
        gb = c * SR.sum(axis=1) / m
        gc = A @ r / m
        gc0 = r.mean() if bias else 0.0
        grads = [gW, gb, gc, gc0]
        if method == "gd":
            W -= lr * gW
            b -= lr * gb
            c -= lr * gc
            c0 -= lr * gc0
        else:
            steps = []
            for q, g in enumerate(grads):
                mom[q] = b1 * mom[q] + (1 - b1) * g
                vel[q] = b2 * vel[q] + (1 - b2) * g * g
                steps.append(lr * (mom[q] / (1 - b1 ** k)) / (np.sqrt(vel[q] / (1 - b2 ** k)) + eps))
            W -= steps[0]
            b -= steps[1]
            c -= steps[2]
            c0 -= steps[3] if bias else 0.0
    seconds = time.perf_counter() - start
    return seconds, pack(W, b, c, c0, bias)


def jax_run(X, y, W, b, c, c0, bias, method, lr, K, b1=0.9, b2=0.999, eps=1e-8):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    params = {"W": jnp.asarray(W), "b": jnp.asarray(b), "c": jnp.asarray(c), "c0": jnp.asarray(c0)}

    def loss(p):
        A = jax.nn.relu(p["W"] @ Xj.T + p["b"][:, None])
        r = p["c"] @ A + (p["c0"] if bias else 0.0) - yj
        return 0.5 * jnp.mean(r * r)

    grad = jax.grad(loss)
    if method == "gd":
        opt = optax.sgd(lr)
    else:
        opt = optax.adam(lr, b1=b1, b2=b2, eps=eps)

    @jax.jit
    def run(p):
        state = opt.init(p)

        def body(_, carry):
            p, state = carry
            g = grad(p)
            if not bias:
                g = dict(g, c0=jnp.zeros_like(g["c0"]))
            updates, state = opt.update(g, state, p)
            return optax.apply_updates(p, updates), state

        p, _ = jax.lax.fori_loop(0, K, body, (p, state))
        return p

    jax.block_until_ready(run(params))          # compile and warm up
    start = time.perf_counter()
    out = jax.block_until_ready(run(params))
    seconds = time.perf_counter() - start
    return seconds, pack(np.asarray(out["W"]), np.asarray(out["b"]), np.asarray(out["c"]), float(out["c0"]), bias)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--method", choices=["gd", "adam"], required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--peers", default="numpy,jax")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    problem = unpack(config)
    result = {}
    for peer in args.peers.split(","):
        try:
            run = {"numpy": numpy_run, "jax": jax_run}[peer]
            seconds, theta = run(*problem, args.method, args.lr, args.iterations)
            result[peer] = {"wallSeconds": seconds, "iterationsPerSecond": args.iterations / seconds, "theta": theta}
        except ImportError as error:
            result[peer] = {"error": f"not installed: {error}"}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
