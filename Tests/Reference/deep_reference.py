#!/usr/bin/env python3
"""Independent reference for the deep networks of SPEC §8: loss, gradient and the exact Hessian
inside the mode of θ (σ'(0) = 0), written from SPEC.md alone with NumPy, point by point with
explicit matrices (no back-propagation of tangents, no finite differences):

    N_j = W_L h_{L-1} (+ c0),  h_l = D_l (W_l h_{l-1} + b_l),  D_l = diag([z_l > 0]) (identity: I)
    A_l = ∂N_j/∂z_l:  A_L = 1,  A_l = A_{l+1} W_{l+1} D_l
    ∂N_j/∂W_l[i,k] = A_l[i] h_{l-1}[k],  ∂N_j/∂b_l[i] = A_l[i],  ∂N_j/∂c0 = 1
    ∂²N_j/∂W_{l2}[i,k] ∂W_{l1}[a,b] = A_{l2}[i] M[k,a] h_{l1-1}[b]   (l1 < l2; with b_{l1}[a]: h → 1)
    M = ∂h_{l2-1}/∂z_{l1} = D_{l2-1} W_{l2-1} … W_{l1+1} D_{l1}
    (pairs in one layer, pairs with b_{l2} and with c0: 0; N is affine in each layer's parameters)
    ∇²L = (1/m) Σ_j (∇N_j ∇N_jᵀ + r_j ∇²N_j)

Input (stdin): a JSON list of cases {layers, activation, bias, outputBias, theta, x, y}.
Output (stdout): per case {loss, gradient, layerGradNorms, hessian, eigenvalues (numpy eigvalsh)}.
"""
import json
import sys

import numpy as np


def layout(layers, bias, output_bias):
    """Offsets of W_l and b_l (SPEC §8 order: per layer W row-major, then b; c0 last)."""
    L = len(layers) - 1
    w_off, b_off, p = [], [], 0
    for l in range(1, L + 1):
        w_off.append(p)
        p += layers[l] * layers[l - 1]
        if bias and l < L:
            b_off.append(p)
            p += layers[l]
        else:
            b_off.append(None)
    c0 = p if output_bias else None
    return w_off, b_off, c0, p + (1 if output_bias else 0)


def case(c):
    layers, act, bias, ob = c["layers"], c["activation"], c["bias"], c["outputBias"]
    theta = np.array(c["theta"], dtype=float)
    X, Y = np.array(c["x"], dtype=float), np.array(c["y"], dtype=float)
    L = len(layers) - 1
    w_off, b_off, c0i, P = layout(layers, bias, ob)
    assert P == len(theta)
    W = [theta[w_off[l - 1]: w_off[l - 1] + layers[l] * layers[l - 1]].reshape(layers[l], layers[l - 1]) for l in range(1, L + 1)]
    B = [theta[b_off[l - 1]: b_off[l - 1] + layers[l]] if b_off[l - 1] is not None else np.zeros(layers[l]) for l in range(1, L)]
    c0 = theta[c0i] if c0i is not None else 0.0
    m = len(Y)
    grad = np.zeros(P)
    GN = np.zeros((P, P))
    second = np.zeros((P, P))
    loss = 0.0
    for j in range(m):
        h = [X[j]]
        D = []
        for l in range(1, L):
            z = W[l - 1] @ h[-1] + B[l - 1]
            d = (z > 0).astype(float) if act == "relu" else np.ones_like(z)
            D.append(np.diag(d))
            h.append(d * z)
        N = float((W[L - 1] @ h[-1])[0]) + c0
        r = N - Y[j]
        loss += r * r
        # A_l = ∂N/∂z_l (row vectors), l = 1..L
        A = [None] * (L + 1)
        A[L] = np.ones(1)
        for l in range(L - 1, 0, -1):
            A[l] = (A[l + 1] @ W[l]) @ D[l - 1]
        J = np.zeros(P)
        for l in range(1, L + 1):
            J[w_off[l - 1]: w_off[l - 1] + layers[l] * layers[l - 1]] = np.outer(A[l], h[l - 1]).ravel()
            if b_off[l - 1] is not None:
                J[b_off[l - 1]: b_off[l - 1] + layers[l]] = A[l]
        if c0i is not None:
            J[c0i] = 1.0
        grad += r * J
        GN += np.outer(J, J)
        # Second derivatives of N_j: pairs (W_{l2}, θ_{l1}), l1 < l2.
        for l2 in range(2, L + 1):
            for l1 in range(1, l2):
                M = D[l1 - 1]
                for q in range(l1 + 1, l2):
                    M = D[q - 1] @ W[q - 1] @ M
                # T[i, k, a, b] = A_{l2}[i] M[k, a] h_{l1-1}[b]
                T = np.einsum("i,ka,b->ikab", A[l2], M, h[l1 - 1])
                rows = slice(w_off[l2 - 1], w_off[l2 - 1] + layers[l2] * layers[l2 - 1])
                block = T.reshape(layers[l2] * layers[l2 - 1], layers[l1] * layers[l1 - 1])
                cols = slice(w_off[l1 - 1], w_off[l1 - 1] + layers[l1] * layers[l1 - 1])
                second[rows, cols] += r * block
                second[cols, rows] += r * block.T
                if b_off[l1 - 1] is not None:
                    Tb = np.einsum("i,ka->ika", A[l2], M).reshape(layers[l2] * layers[l2 - 1], layers[l1])
                    bcols = slice(b_off[l1 - 1], b_off[l1 - 1] + layers[l1])
                    second[rows, bcols] += r * Tb
                    second[bcols, rows] += r * Tb.T
    H = (GN + second) / m
    grad /= m
    norms = []
    for l in range(1, L + 1):
        end = w_off[l] if l < L else P
        norms.append(float(np.linalg.norm(grad[w_off[l - 1]:end])))
    return {"loss": loss / (2 * m), "gradient": grad.tolist(), "layerGradNorms": norms,
            "hessian": H.ravel().tolist(), "eigenvalues": np.linalg.eigvalsh(H).tolist()}


def main():
    cases = json.load(sys.stdin)
    json.dump([case(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
