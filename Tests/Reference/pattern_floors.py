#!/usr/bin/env python3
"""Reference pattern floors L*_P (docs/SPEC.md section 5) from numpy.linalg.lstsq.

Builds the least-squares design of an activation pattern of a shallow ReLU network on
deterministic data and solves it with numpy (LAPACK dgelsd, rcond = eps * max(M, N)). The
Swift test `PatternFloorReferenceTests` builds the same designs from the same formula and
compares `PatternFloor.value` with the floors written here.

Every number of a design is a dyadic rational with few bits, so that the data, the weights, the
pre-activations w_i.x_j + b_i and the targets are exact in binary64: the two languages get
bitwise identical designs whatever their order of operations (no sin/exp/sqrt, no rounding).

The formula (SplitMix64 seeded with the case's seed; `draw(bits)` is the integer
`(next() >> (64 - bits)) - 2**(bits - 1)`, in [-2**(bits-1), 2**(bits-1))):
  1. x[j][k] = draw(20) / 2**19 for j < m, k < d (j-major);
  2. y[j] = x[j][0]**2 - x[j][d-1] / 2 + draw(20) / 2**21 for j < m;
  3. for every neuron i < n: w[i][k] = draw(10) * B / 2**9 for k < d, then b[i] = draw(10) / 2**9,
     with B = 5/2 for d = 1 and 7/4 for d = 2 (the bound of a He-uniform initialisation,
     sqrt(6/d), rounded to a dyadic);
     then, dependent neurons on purpose: if i % 8 == 3, (w[i], b[i]) = -(w[i-1], b[i-1]) (the
     complementary active set: its indicator plus the other's is the constant column); if
     i % 8 == 7, (w[i], b[i]) = 2 (w[i-7], b[i-7]) (the same active set: duplicate columns);
  4. s[i][j] = 1 when w[i].x[j] + b[i] > 0 (exact), else 0;
  5. the design has, for every neuron with at least one active point, the d + 1 columns
     s[i][j] * (x[j], 1), then a column of ones when the case has an output bias;
  6. floor = |X c - y|^2 / (2m) with c = lstsq(X, y, rcond=None), from the residuals.

Usage:
    python3 Tests/Reference/pattern_floors.py --write   # regenerate pattern_floors.json
    python3 Tests/Reference/pattern_floors.py           # print the floors as JSON (the live check)
"""
import json
import os
import sys

import numpy as np

MASK = (1 << 64) - 1

# name, m, n, d, seed, output bias. The first two are issue 15's cases (the Jacobi SVD gave a
# floor 57x too large on the first, 8-27 % off on the second); the largest has 769 columns.
CASES = [
    ("d1-m1500-n64", 1500, 64, 1, 1, False),
    ("d2-m400-n32", 400, 32, 2, 2, False),
    ("d1-m3000-n128-bias", 3000, 128, 1, 3, True),
    ("d2-m2000-n96-bias", 2000, 96, 2, 4, True),
    ("d2-m60-n40-wide", 60, 40, 2, 5, True),
    ("d1-m20-n4", 20, 4, 1, 6, False),
    ("d2-m10000-n256-bias", 10000, 256, 2, 7, True),
]


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def draw(self, bits):
        return (self.next() >> (64 - bits)) - (1 << (bits - 1))


def design(m, n, d, seed, bias):
    rng = SplitMix64(seed)
    x = np.array([[rng.draw(20) / 2**19 for _ in range(d)] for _ in range(m)])
    y = np.array([x[j][0] ** 2 - x[j][d - 1] / 2 + rng.draw(20) / 2**21 for j in range(m)])
    B = 5 / 2 if d == 1 else 7 / 4
    w = np.zeros((n, d))
    b = np.zeros(n)
    for i in range(n):
        for k in range(d):
            w[i][k] = rng.draw(10) * B / 2**9
        b[i] = rng.draw(10) / 2**9
        if i % 8 == 3:
            w[i], b[i] = -w[i - 1], -b[i - 1]
        elif i % 8 == 7:
            w[i], b[i] = 2 * w[i - 7], 2 * b[i - 7]
    # Exact: every product and sum below is a dyadic rational of at most 34 bits.
    z = w @ x.T + b[:, None]
    s = z > 0
    columns = []
    for i in range(n):
        if not s[i].any():
            continue
        for k in range(d):
            columns.append(np.where(s[i], x[:, k], 0.0))
        columns.append(np.where(s[i], 1.0, 0.0))
    if bias:
        columns.append(np.ones(m))
    return np.column_stack(columns), y


def floor(m, n, d, seed, bias, spectrum=False):
    X, y = design(m, n, d, seed, bias)
    c, _, rank, sv = np.linalg.lstsq(X, y, rcond=None)
    r = X @ c - y
    out = {"cols": X.shape[1], "rank": int(rank), "floor": float(r @ r / (2 * m))}
    if spectrum:
        # How far the singular values lie from the rank threshold eps * max(M, N) * s_max: a rank
        # decision that rounding could flip would make the floor ill-defined.
        tol = np.finfo(float).eps * max(X.shape) * sv[0]
        out["smallestKeptOverThreshold"] = float(sv[sv > tol].min() / tol)
        dropped = sv[sv <= tol]
        out["largestDroppedOverThreshold"] = float(dropped.max() / tol) if dropped.size else 0.0
    return out


def main():
    write = "--write" in sys.argv[1:]
    cases = []
    for name, m, n, d, seed, bias in CASES:
        case = {"name": name, "m": m, "n": n, "d": d, "seed": seed, "outputBias": bias}
        case.update(floor(m, n, d, seed, bias, spectrum=write))
        if write:
            assert case["smallestKeptOverThreshold"] > 1e3 and case["largestDroppedOverThreshold"] < 1e-2, case
        cases.append(case)
    if write:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pattern_floors.json")
        lines = ["{", f'  "numpy": "{np.__version__}",', '  "cases": [']
        for k, case in enumerate(cases):
            fields = ", ".join(
                f'"{key}": {json.dumps(v)}' if not isinstance(v, float) else f'"{key}": {v:.17g}'
                for key, v in case.items())
            lines.append("    {" + fields + "}" + ("," if k + 1 < len(cases) else ""))
        lines += ["  ]", "}"]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {path}")
    else:
        json.dump({"numpy": np.__version__, "cases": cases}, sys.stdout)
        print()


if __name__ == "__main__":
    main()
