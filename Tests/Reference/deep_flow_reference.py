#!/usr/bin/env python3
"""Independent reference for the gradient flow of deep fully connected ReLU /
linear networks (docs/SPEC.md sections 3, 4, 8) and for the adaptive flows
"rmsprop" and "adam" (SPEC 7) on shallow and deep networks, in NumPy/SciPy.

Written from SPEC.md and INTERFACE.md only (no Swift flow source was read);
the event machinery follows Tests/Reference/filippov_reference.py (the
independent shallow reference) and reproduces it on shallow networks.

Usage
-----
    python3 Tests/Reference/deep_flow_reference.py CONFIG.json \
        [--T T] [--rtol R] [--atol A] [--kind gradient|rmsprop|adam]
        [--tau TAU] [--epsilon EPS] [--a A] [--b B] [--multi-slide]
        [--no-quadrature] [--out result.json]

Exit status: 0 done, 1 numerical failure (several attracting surfaces meet,
stepper failure; the JSON is still written, with "status": "failed", the
"diagnosis" and the last good state), 2 bad input (the field is named).

Config keys (INTERFACE.md)
--------------------------
data.x (m x d), data.y (m); network.layers [d, n_1, ..., 1],
network.activation ("relu" | "linear", default relu), network.bias (hidden
biases, default false), network.outputBias (default false), network.c0
(default 0), network.weights (one n_l x n_{l-1} matrix per layer, required),
network.biases (one vector per hidden layer; zeros when absent).
A shallow config (network.W, b, c) is read as layers [d, n, 1] with hidden
biases. flow.T, flow.rtol (1e-10), flow.atol (1e-12), flow.kind
("gradient" | "rmsprop" | "adam"), flow.tau (10), flow.epsilon (1e-8),
flow.a (10), flow.b (0.1). Command-line options override the config.

Parameter order (SPEC 8): for l = 1..L: W_l (n_l x n_{l-1}, row-major), then
b_l when hidden biases are on (never for the output layer); c0 last.

Mathematics
-----------
Data points with equal x are grouped (one switching surface per group and
unit, reported with the smallest point index): the forward pass runs on the
G distinct points, R_g = sum_{j in g} r_j.

Mode (SPEC 3, 8): every pair p = (layer l, unit i, group g) of a ReLU hidden
layer is on, off or sliding. Forward: h = z when on, h = 0 when off or
sliding (on the surface z = 0). Backward: sigma' = 1 on, 0 off, alpha when
sliding. Inside a mode the field is smooth; each mode is integrated with
scipy's DOP853 stepper (the same stepper object solve_ivp uses, stepped here
by hand so that sliding states can be projected back onto their surfaces,
which are curved for l >= 2).

Flows (state y = [theta, (m), (v), (Q)], g = grad L in the mode):
    gradient: theta' = -g
    rmsprop:  theta' = -g/(sqrt(v)+eps), v' = (g^2 - v)/tau, v(0) = g(theta0)^2
    adam:     theta' = -mh/(sqrt(vh)+eps), m' = a(g - m), v' = b(g^2 - v),
              m(0) = v(0) = 0, mh = m/(1-exp(-a t)), vh = v/(1-exp(-b t)),
              at t = 0 the limits mh = g, vh = g^2.
    Q' = -g . theta' (the dissipation quadrature: L(0) - L(T) = Q(T) for every
    flow, = int |theta'|^2 for the gradient flow).

Events: every non-sliding pair has the event function z_p (direction -1 when
on, +1 when off; z_p/(t - t0) for a pair that starts the mode on its surface,
as in the shallow reference); a sliding pair ends when alpha_p reaches 0
(leave to off) or 1 (leave to on). With one sliding pair the event functions
are v-_p (alpha = 0 exactly where v- = 0) and v+_p (alpha = 1 where v+ = 0):
in deep networks alpha = v-/(v- - v+) can have a pole (v+ = v- when the unit's
outgoing signal on that point changes), and a step can jump over both the
pole and the crossing of 1, which alpha's own sign at the step ends does not
see; v+ and v- are smooth. With several (--multi-slide) alpha_p and alpha_p - 1
as in the shallow reference. A sign change over an accepted
step is located by brentq over *re-taken partial DOP853 steps* from the step's
start (the state at the event is that re-taken step, never an interpolant);
the earliest root in the step is the event.

Filippov (SPEC 4, 7, 8): at an event the state is projected onto the pair's
surface (Gauss-Newton, minimum norm; exact in one step when z is linear in
theta, i.e. l = 1) and the pair is classified with the normal velocities
v+/- = dz_p/dt under the field with the pair on / off (forward-mode
derivative of the pre-activation along the theta-velocity): same sign ->
crossing; v+ < 0 < v- -> sliding; v+ > 0 > v- -> "branch" to the side with
the larger |theta'|^2; one of them within tolerance of 0 -> the side the
other points to; both -> "graze". While sliding, the state velocity is the
convex combination F- + alpha (F+ - F-) (theta, m, v and Q alike), alpha
chosen so that dz_p/dt = 0 (linear in alpha: alpha = v-/(v- - v+)).
For the gradient and rmsprop flows this is sigma'(0) = alpha in the gradient.
For the adam flow (t > 0) theta' does not depend on g, so v+ = v-: every
surface is crossed at first order. The second derivative zdd = dz/dtheta .
theta'' + theta'^T (hess z) theta' jumps (theta'' = dTheta/dm m' + dTheta/dv
v' + dTheta/dt, m', v' taken on either side; zdd by a second-order forward
pass, Net.jet2). Where zdd+ < 0 < zdd- the flow zig-zags across the surface
with |dz/dt| falling like 1/n over its crossings; its limit is the
second-order slide on {z = 0, dz/dt = 0}: the state velocity F- + alpha (F+ -
F-) with alpha = zdd-/(zdd- - zdd+) (v' the convex combination of the sides'
v'), ended where zdd- (alpha = 0, leave off) or zdd+ (alpha = 1, leave on)
passes through 0 (event functions as the first-order slide's v+-). A
crossing enters it when the surface's two previous crossings alternate in
direction with it and |dz/dt| shrank, nothing else slides, at the state with
(m, v) moved along F+ - F- until dz/dt = 0 (Integrator.project_mv, also
after every step while sliding; Newton safeguarded by a bracket inside
v + w b D2 > 0) zdd+ < 0 < zdd- beyond 1e-10 of the larger, and
2 a |dz/dt| / min |zdd+-| <= 0.1 (Flow.entry_amplitude); that move must
exist and change no v by more than 0.1 of itself (Theta affine in (m, v)
over the zig-zag).

Several attracting surfaces: by default (SPEC 8) at most one pair slides; a
second attracting surface while one slides stops the run (exit 1, status
failed, diagnosis naming both pairs, last good state). With --multi-slide
(gradient and rmsprop flows) several pairs slide at once, sigma'(0) =
alpha_p on each: where the field is affine in their alphas (no two sliding
pairs on the same point in different layers) the alphas solve the small
linear system dz_p/dt = 0 (SPEC 4's rule), as the shallow reference does for
several neurons; where it is multilinear ("coupled"), by Newton's method on
dz/dt(alpha) = 0 from the centre of the box (`coupled_alphas`; gradient and
rmsprop flows: theta' is linear in g for both). A sliding pair whose alpha
leaves (0, 1) is classified afresh, the others keeping dz/dt = 0; no
consistent mode exits 1. For the rmsprop
flow theta' = -g/(sqrt(v)+eps) is linear in g, so g(alpha) = g0 + sum_k
alpha_k (g_k - g0) gives dz/dt = 0; v' is the Filippov mean under the product
measure of independent Bernoulli(alpha_k) sides (each surface's side drawn on
its own): E[g^2] = g(alpha)^2 + sum_k alpha_k (1 - alpha_k) (g_k - g0)^2
componentwise, v' = (E[g^2] - v)/tau (with one sliding pair this is the
convex combination (1 - alpha) g-^2 + alpha g+^2 used above). Coupled
rmsprop slides: g(alpha) is multilinear, theta' = -g(alpha)/(sqrt(v)+eps)
still (the mean of theta' under the product measure), and E[g^2] is summed
over the 2^K corners by brute force (`corner_second_moment`): there it is not
the affine formula above.

Diagnostics: the dissipation identity (defect |L0 - LT - Q| / L0) and, for
every hidden unit of a ReLU or linear network, the balance quantity
|W_l[i,:]|^2 + b_l[i]^2 - |W_{l+1}[:, i]|^2, constant under the gradient flow
(positive homogeneity; it also holds while sliding, the jump of the gradient
across a surface being normal to it). Reported for every flow kind, but an
invariant of the gradient flow only.

Tolerances: normal velocity tolerance 1e-12 times sum_k |dz_p/dtheta_k
theta'_k| (the magnitudes of the terms); surface tolerance 64 eps times
sum |W_l[i,:]| |h_{l-1,g}| + |b_l[i]|.
"""

import argparse
import itertools
import json
import sys
import time

import numpy as np
from scipy.integrate import DOP853
from scipy.optimize import brentq

OFF, ON, SLIDE = 0, 1, 2
STATE_NAME = {OFF: "off", ON: "on", SLIDE: "sliding"}
EPS = np.finfo(float).eps


class InputError(Exception):
    """Bad input: exit 2, the field named."""


class FlowFailure(Exception):
    """Numerical failure: exit 1 with a diagnosis and the last good state."""

    def __init__(self, diagnosis, t=None, y=None):
        super().__init__(diagnosis)
        self.diagnosis, self.t, self.y = diagnosis, t, y


# --------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------
class Net:
    """Layers (d, n_1, ..., n_{L-1}, 1), data grouped by distinct x."""

    def __init__(self, layers, activation, bias, output_bias, X, y):
        self.layers = list(layers)
        self.L = len(layers) - 1
        self.relu = activation == "relu"
        self.bias = bias
        self.output_bias = output_bias
        self.X = np.asarray(X, float)
        self.y = np.asarray(y, float)
        self.m, self.d = self.X.shape
        reps, grp = [], np.empty(self.m, int)
        for j in range(self.m):
            for gi, k in enumerate(reps):
                if np.array_equal(self.X[j], self.X[k]):
                    grp[j] = gi
                    break
            else:
                grp[j] = len(reps)
                reps.append(j)
        self.rep, self.grp, self.G = np.array(reps), grp, len(reps)
        self.H0 = self.X[self.rep].T.copy()                 # d x G
        self.mu = np.bincount(grp, minlength=self.G).astype(float)
        self.Yg = np.bincount(grp, weights=self.y, minlength=self.G)
        off = 0
        self.sW, self.sb = {}, {}
        for l in range(1, self.L + 1):
            n, k = layers[l], layers[l - 1]
            self.sW[l] = slice(off, off + n * k)
            off += n * k
            if bias and l < self.L:
                self.sb[l] = slice(off, off + n)
                off += n
        self.ic0 = off if output_bias else None
        self.P = off + (1 if output_bias else 0)
        # Pairs (l, i, g) of ReLU hidden layers, flattened layer by layer,
        # unit-major (the order of Z_l.ravel()).
        self.pairs = []
        self.poff = {}
        if self.relu:
            for l in range(1, self.L):
                self.poff[l] = len(self.pairs)
                self.pairs += [(l, i, gi) for i in range(layers[l]) for gi in range(self.G)]
        self.npairs = len(self.pairs)
        self.nfev = 0

    def W(self, th, l):
        return th[self.sW[l]].reshape(self.layers[l], self.layers[l - 1])

    def b(self, th, l):
        return th[self.sb[l]] if l in self.sb else None

    def masks(self, flat):
        """Flat per-pair array -> list (index l) of n_l x G arrays."""
        out = [None] * self.L
        for l in range(1, self.L):
            n = self.layers[l]
            if self.relu:
                out[l] = flat[self.poff[l]:self.poff[l] + n * self.G].reshape(n, self.G)
            else:
                out[l] = np.ones((n, self.G))
        return out

    def forward(self, th, F):
        """H_0..H_{L-1}, Z_1..Z_{L-1} (lists indexed by layer), output N (G)."""
        H, Z = [self.H0] + [None] * (self.L - 1), [None] * self.L
        for l in range(1, self.L):
            z = self.W(th, l) @ H[l - 1]
            if l in self.sb:
                z = z + self.b(th, l)[:, None]
            Z[l] = z
            H[l] = F[l] * z
        N = (self.W(th, self.L) @ H[self.L - 1])[0]
        if self.output_bias:
            N = N + th[self.ic0]
        return H, Z, N

    def backward(self, th, H, S, D, top):
        """Gradient wrt theta of sum(D * Z_top) (D: n_top x G), derivative
        weights S of the hidden layers below top."""
        gvec = np.zeros(self.P)
        for l in range(top, 0, -1):
            gvec[self.sW[l]] = (D @ H[l - 1].T).ravel()
            if l in self.sb:
                gvec[self.sb[l]] = D.sum(axis=1)
            if l > 1:
                D = S[l - 1] * (self.W(th, l).T @ D)
        return gvec

    def residual(self, N):
        return self.mu * N - self.Yg                      # R_g

    def grad(self, th, H, N, S):
        R = self.residual(N)
        g = self.backward(th, H, S, R[None, :] / self.m, self.L)
        if self.output_bias:
            g[self.ic0] = R.sum() / self.m
        return g

    def jvp(self, th, u, H, F):
        """dZ_l along direction u, flattened over the ReLU pairs."""
        out = []
        dH = np.zeros_like(self.H0)
        for l in range(1, self.L):
            dz = self.W(u, l) @ H[l - 1] + self.W(th, l) @ dH
            if l in self.sb:
                dz = dz + self.b(u, l)[:, None]
            dH = F[l] * dz
            out.append(dz.ravel())
        return np.concatenate(out) if (out and self.relu) else np.zeros(0)

    def jet2(self, th, u, w, H, F):
        """d^2/ds^2 Z_l(theta + s u + s^2 w / 2) at s = 0, flattened over the ReLU pairs
        (second-order forward pass in the masks F: = grad z . w + u^T (hess z) u)."""
        out = []
        dH = np.zeros_like(self.H0)
        ddH = np.zeros_like(self.H0)
        for l in range(1, self.L):
            dz = self.W(u, l) @ H[l - 1] + self.W(th, l) @ dH
            ddz = self.W(w, l) @ H[l - 1] + 2.0 * (self.W(u, l) @ dH) + self.W(th, l) @ ddH
            if l in self.sb:
                dz = dz + self.b(u, l)[:, None]
                ddz = ddz + self.b(w, l)[:, None]
            dH, ddH = F[l] * dz, F[l] * ddz
            out.append(ddz.ravel())
        return np.concatenate(out) if (out and self.relu) else np.zeros(0)

    def zgrad(self, th, H, F, k):
        """Gradient of the pre-activation of pair k wrt theta."""
        l, i, g = self.pairs[k]
        D = np.zeros((self.layers[l], self.G))
        D[i, g] = 1.0
        return self.backward(th, H, F, D, l)

    def zscale(self, th, H, k):
        l, i, g = self.pairs[k]
        s = np.abs(self.W(th, l)[i]) @ np.abs(H[l - 1][:, g])
        if l in self.sb:
            s += abs(self.b(th, l)[i])
        return 64 * EPS * (s + 1e-300)

    def loss(self, th):
        """State-free loss with the true activation."""
        H = self.H0
        for l in range(1, self.L):
            z = self.W(th, l) @ H
            if l in self.sb:
                z = z + self.b(th, l)[:, None]
            H = np.maximum(z, 0.0) if self.relu else z
        N = (self.W(th, self.L) @ H)[0] + (th[self.ic0] if self.output_bias else 0.0)
        r = N[self.grp] - self.y
        return 0.5 * float(r @ r) / self.m

    def balance(self, th):
        """Per hidden unit: |incoming row incl. bias|^2 - |outgoing column|^2."""
        out = []
        for l in range(1, self.L):
            q = (self.W(th, l) ** 2).sum(axis=1)
            if l in self.sb:
                q = q + self.b(th, l) ** 2
            out.append(q - (self.W(th, l + 1) ** 2).sum(axis=0))
        return out


# --------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------
class Mode:
    """Pair states, forward masks, and the coincident surfaces of the mode.

    In a deep network two points p, q have identical h_{l-1} columns, hence
    identical pre-activations z_{l,i,p} = z_{l,i,q} for every unit of layer
    l, when every unit of layer l-1 is off (or sliding) on both, or when they
    coincide at layer l-1 and every unit of layer l-1 has the same state on
    both (for example the points of a region where the whole first layer is
    off). Such pairs of one unit are *one* surface (like duplicate data
    points, SPEC 4): one event function (on the representative, the smallest
    point), one state, one alpha shared by all of them while sliding (the
    Filippov hull has only the two sides "all on" / "all off"). Pairs are tied
    only while their states agree; a tie ends when a lower layer separates the
    points (the states then carry on independently)."""

    def __init__(self, st, net):
        self.st = st.copy()
        self.F = (st == ON).astype(float)
        rep = np.arange(len(st))
        if net.relu and net.L > 2:
            cls = np.arange(net.G)                          # layer 1: distinct x
            for l in range(2, net.L):
                n0 = net.layers[l - 1]
                Fp = self.F[net.poff[l - 1]:net.poff[l - 1] + n0 * net.G].reshape(n0, net.G)
                keys, new = {}, np.empty(net.G, int)
                for g in range(net.G):
                    col = Fp[:, g]
                    key = ("dead",) if not col.any() else (int(cls[g]), col.tobytes())
                    new[g] = keys.setdefault(key, g)
                cls = new
                base = net.poff[l]
                for i in range(net.layers[l]):
                    for g in range(net.G):
                        if cls[g] != g:
                            k, r = base + i * net.G + g, base + i * net.G + cls[g]
                            if st[k] == st[r]:
                                rep[k] = rep[r]
        self.rep = rep
        self.members = {}
        for k in range(len(st)):
            self.members.setdefault(int(rep[k]), []).append(k)
        self.sliding = [int(k) for k in np.nonzero(st == SLIDE)[0] if rep[k] == k]

    def group(self, k):
        return self.members[int(self.rep[k])]


class Flow:
    def __init__(self, net, kind="gradient", tau=10.0, epsilon=1e-8, a=10.0, b=0.1,
                 quadrature=True, multi_slide=False):
        self.net, self.kind = net, kind
        self.tau, self.eps, self.a, self.b = tau, epsilon, a, b
        self.quadrature = quadrature
        self.multi_slide = multi_slide
        # Adam's second-order slides: crossings per surface (t, zdot), entry amplitude.
        self.zigzag = {}
        self.entry_amplitude = 0.1
        P = net.P
        self.sth = slice(0, P)
        self.sm = slice(P, 2 * P) if kind == "adam" else None
        if kind == "rmsprop":
            self.sv = slice(P, 2 * P)
        elif kind == "adam":
            self.sv = slice(2 * P, 3 * P)
        else:
            self.sv = None
        self.nstate = P * {"gradient": 1, "rmsprop": 2, "adam": 3}[kind] + (1 if quadrature else 0)

    # State velocity for a given gradient g (no quadrature component).
    def velocity_of(self, t, y, g):
        P = self.net.P
        out = np.empty(self.nstate - (1 if self.quadrature else 0))
        if self.kind == "gradient":
            out[:] = -g
        elif self.kind == "rmsprop":
            v = np.maximum(y[self.sv], 0.0)
            out[:P] = -g / (np.sqrt(v) + self.eps)
            out[P:] = (g * g - y[self.sv]) / self.tau
        else:
            m, v = y[self.sm], y[self.sv]
            if t > 0.0:
                mh = m / -np.expm1(-self.a * t)
                vh = np.maximum(v / -np.expm1(-self.b * t), 0.0)
            else:
                mh, vh = g, g * g
            out[:P] = -mh / (np.sqrt(vh) + self.eps)
            out[P:2 * P] = self.a * (g - m)
            out[2 * P:] = self.b * (g * g - v)
        return out

    def theta_accel(self, t, y, fs):
        """Adam: theta'' = dTheta/dm m' + dTheta/dv v' + dTheta/dt for the state velocity fs
        (its m', v' entries), Theta = -mh/(sqrt(vh)+eps), mh = m/(1-e^{-at}), vh = v/(1-e^{-bt})."""
        P = self.net.P
        m, v = y[self.sm], np.maximum(y[self.sv], 0.0)
        ba, bb = -np.expm1(-self.a * t), -np.expm1(-self.b * t)
        mh, vh = m / ba, v / bb
        r = np.sqrt(vh)
        S = r + self.eps
        safe = np.where(r > 0, r, 1.0)
        d_m = -1.0 / (ba * S)
        d_v = np.where(r > 0, mh / (2 * safe * S * S * bb), 0.0)
        mh_t = -mh * self.a / np.expm1(self.a * t)
        vh_t = -vh * self.b / np.expm1(self.b * t)
        d_t = -mh_t / S + np.where(r > 0, mh * vh_t / (2 * safe * S * S), 0.0)
        return d_m * fs[P:2 * P] + d_v * fs[2 * P:3 * P] + d_t

    def second_order(self, t, y, th, H, F, k, f0, fk):
        """(zdd-, zdd+) of pair k from the two sides' state velocities (adam, t > 0)."""
        net = self.net
        u = f0[:net.P]
        zm = net.jet2(th, u, self.theta_accel(t, y, f0), H, F)[k]
        zp = net.jet2(th, u, self.theta_accel(t, y, fk), H, F)[k]
        return zm, zp

    def evaluate(self, t, y, mode, override=None):
        """Field of `mode` at (t, y): returns dict with f (state velocity),
        g (gradient used), alpha (flat, NaN except sliding), H, Z, N.
        override: (k, s) evaluates with pair k forced to state s."""
        net = self.net
        self.net.nfev += 1
        th = y[self.sth]
        st = mode.st
        if override is not None:
            st = st.copy()
            st[mode.group(override[0])] = override[1]
            mode = Mode(st, net)
        F = net.masks(mode.F)
        H, Z, N = net.forward(th, F)
        alpha = np.full(net.npairs, np.nan)
        vpm = None
        sl = mode.sliding
        if not sl:
            g = net.grad(th, H, N, F)
            f = self.velocity_of(t, y, g)
        else:
            g0 = net.grad(th, H, N, F)                     # sliding pairs at 0
            f0 = self.velocity_of(t, y, g0)
            gs, fs = [], []
            for k in sl:
                s = mode.F.copy()
                s[mode.group(k)] = 1.0
                gk = net.grad(th, H, N, net.masks(s))
                gs.append(gk)
                fs.append(self.velocity_of(t, y, gk))
            c = net.jvp(th, f0[:net.P], H, F)[sl]
            A = np.column_stack([net.jvp(th, fk[:net.P] - f0[:net.P], H, F)[sl] for fk in fs])
            if len(sl) == 1:
                al = np.array([-c[0] / A[0, 0]]) if A[0, 0] != 0.0 else np.array([np.nan])
                vpm = (c[0] + A[0, 0], c[0])           # (v+, v-) of the sliding pair
            else:
                try:
                    al = np.linalg.solve(A, -c)
                except np.linalg.LinAlgError:
                    al = np.full(len(sl), np.nan)
            if self.kind == "adam" and t > 0.0 and len(sl) == 1:
                # Second-order slide: theta' is the same on both sides; alpha makes zdd = 0.
                zm, zp = self.second_order(t, y, th, H, F, sl[0], f0, fs[0])
                al = np.array([zm / (zm - zp)]) if zm != zp else np.array([np.nan])
                vpm = (zp, zm)
            coupled = self.coupled(mode, sl)
            if coupled:
                al = self.coupled_alphas(t, y, th, H, N, F, mode, sl)
            for k, a_ in zip(sl, al):
                alpha[mode.group(k)] = a_
            alz = np.nan_to_num(al)
            if coupled:
                s = mode.F.copy()
                for k, a_ in zip(sl, alz):
                    s[mode.group(k)] = a_
                g = net.grad(th, H, N, net.masks(s))
                f = self.velocity_of(t, y, g)
                if self.kind == "rmsprop":
                    # v' = (E[g^2] - v)/tau, E over the 2^K corners (independent sides).
                    f[self.sv] += (self.corner_second_moment(th, H, N, mode, sl, alz) - g * g) / self.tau
            elif self.kind == "rmsprop" and len(sl) > 1:
                g = g0 + sum(a_ * (gk - g0) for a_, gk in zip(alz, gs))
                # Product measure of independent sides: theta' at the mean gradient,
                # v' with E[g^2] = g(alpha)^2 + sum_k alpha_k (1 - alpha_k) (g_k - g0)^2.
                f = self.velocity_of(t, y, g)
                f[self.sv] += sum(a_ * (1.0 - a_) * (gk - g0) ** 2 for a_, gk in zip(alz, gs)) / self.tau
            else:
                g = g0 + sum(a_ * (gk - g0) for a_, gk in zip(alz, gs))
                f = f0 + sum(a_ * (fk - f0) for a_, fk in zip(alz, fs))
        if self.quadrature:
            f = np.append(f, -g @ f[:net.P])
        return {"f": f, "g": g, "alpha": alpha, "vpm": vpm, "H": H, "Z": Z, "N": N, "F": F}

    def coupled(self, mode, sl):
        """Whether two sliding surfaces have pairs on one point in different layers (the
        gradient is then multilinear, not affine, in their alphas)."""
        if not self.multi_slide or len(sl) < 2 or self.kind not in ("gradient", "rmsprop"):
            return False
        seen = {}
        for j, k in enumerate(sl):
            for q in mode.group(k):
                l, _, g = self.net.pairs[q]
                for (l2, j2) in seen.get(g, []):
                    if j2 != j and l2 != l:
                        return True
                seen.setdefault(g, []).append((l, j))
        return False

    def coupled_alphas(self, t, y, th, H, N, F, mode, sl):
        """Coupled slides (gradient and rmsprop flows): Newton's method on dz/dt(alpha) = 0 from
        the box's centre, dz/dt along theta'(g(alpha)) (-g, or -g/(sqrt(v)+eps): linear in g, so
        dz/dt is multilinear in the alphas either way), with the Jacobian by
        central-difference-free corners: dz/dt is affine in each
        alpha alone, so column k is dz/dt(alpha_k = 1) - dz/dt(alpha_k = 0). Least-squares
        (minimum-norm) steps; NaN when 60 steps do not bring max|dz/dt| to 1e-13 of its scale."""
        net = self.net

        def rates(al):
            s = mode.F.copy()
            for k, a_ in zip(sl, al):
                s[mode.group(k)] = a_
            g = net.grad(th, H, N, net.masks(s))
            return net.jvp(th, self.velocity_of(t, y, g)[:net.P], H, F)[sl]

        al = np.full(len(sl), 0.5)
        scale = 0.0
        for _ in range(60):
            phi = rates(al)
            J = np.empty((len(sl), len(sl)))
            for k in range(len(sl)):
                hi, lo = al.copy(), al.copy()
                hi[k], lo[k] = 1.0, 0.0
                J[:, k] = rates(hi) - rates(lo)
            scale = max(scale, np.abs(J).max())
            if np.abs(phi).max() <= 1e-13 * scale:
                return al
            al = al - np.linalg.lstsq(J, phi, rcond=None)[0]
        return np.full(len(sl), np.nan)

    def corner_second_moment(self, th, H, N, mode, sl, al):
        """E[g^2] (componentwise) when each sliding surface k is on with probability alpha_k,
        independently: the sum over the 2^K corners (every surface fully on or off) of the
        corner's probability times its gradient squared. Brute force on purpose: an independent
        check of any closed form (the gradient is multilinear in the alphas when slides are
        coupled, so E[g^2] != g(alpha)^2 + sum_k alpha_k (1 - alpha_k) (g_k - g0)^2 there)."""
        net = self.net
        out = np.zeros(net.P)
        for corner in itertools.product((0, 1), repeat=len(sl)):
            w = 1.0
            s = mode.F.copy()
            for k, a_, c in zip(sl, al, corner):
                w *= a_ if c else 1.0 - a_
                s[mode.group(k)] = float(c)
            if w == 0.0:
                continue
            g = net.grad(th, H, N, net.masks(s))
            out += w * g * g
        return out

    def rhs(self, mode):
        return lambda t, y: self.evaluate(t, y, mode)["f"]


def dop853_step(fun, t, y, h, f0):
    """One explicit DOP853 step of size h (the tableau solve_ivp uses)."""
    A, B, C, ns = DOP853.A, DOP853.B, DOP853.C, DOP853.n_stages
    K = np.empty((ns, y.size))
    K[0] = f0
    for s in range(1, ns):
        K[s] = fun(t + C[s] * h, y + h * (A[s, :s] @ K[:s]))
    return y + h * (B @ K)


class Integrator:
    """Event-driven, mode-locked integration with the Filippov rules."""

    def __init__(self, flow, rtol, atol):
        self.flow, self.net = flow, flow.net
        self.rtol, self.atol = rtol, atol
        self.events = []
        self.segments = 0
        self.steps = 0

    # ---- helpers ---------------------------------------------------------
    def flat_z(self, ev):
        return np.concatenate([ev["Z"][l].ravel() for l in range(1, self.net.L)]) \
            if self.net.npairs else np.zeros(0)

    def project(self, y, mode, extra=()):
        """Gauss-Newton projection of theta onto z_p = 0 for the sliding pairs
        of `mode` and the pairs in `extra` (minimum-norm corrections)."""
        ks = sorted(set(mode.sliding) | set(extra))
        if not ks:
            return y
        net = self.net
        F = net.masks(mode.F)
        y_in = y
        for _ in range(8):
            th = y[self.flow.sth]
            H, Z, _ = net.forward(th, F)
            z = np.array([Z[net.pairs[k][0]][net.pairs[k][1], net.pairs[k][2]] for k in ks])
            if all(abs(z[q]) <= net.zscale(th, H, k) for q, k in enumerate(ks)):
                break
            J = np.array([net.zgrad(th, H, F, k) for k in ks])
            if not np.any(J):
                break
            y = y.copy()
            y[self.flow.sth] = th - np.linalg.pinv(J) @ z
        return y if y is not y_in else y_in

    def project_mv(self, t, y, mode, k, report=False):
        """Adam second-order slide on pair k's surface: move (m, v) along F+ - F- = (a D, b D2)
        until dz/dt = 0 (theta unchanged): Newton on the step w safeguarded by a bracket inside
        the interval where every v + w D2 > 0 (dz/dt is not affine in v: plain Newton can step
        past v = 0). With report=True returns (state, ok): ok False (state unchanged) where no
        root is bracketed there."""
        flow, net = self.flow, self.net
        if flow.kind != "adam" or t <= 0.0:
            return (y, False) if report else y
        y0 = y
        th = y[flow.sth]
        sm = mode.F.copy()
        sm[mode.group(k)] = 0.0
        sp = mode.F.copy()
        sp[mode.group(k)] = 1.0
        F = net.masks(sm)
        H, _, N = net.forward(th, F)
        gm = net.grad(th, H, N, F)
        gp = net.grad(th, H, N, net.masks(sp))
        D, D2 = flow.a * (gp - gm), flow.b * (gp * gp - gm * gm)
        m0, v0 = y[flow.sm].copy(), y[flow.sv].copy()
        lo_w, hi_w = -np.inf, np.inf
        for dv, v in zip(D2, v0):
            if dv > 0:
                lo_w = max(lo_w, -v / dv)
            elif dv < 0:
                hi_w = min(hi_w, v / -dv)

        def at(w):
            yw = y0.copy()
            yw[flow.sm] = m0 + w * D
            yw[flow.sv] = v0 + w * D2
            f0 = flow.velocity_of(t, yw, gm)
            zd = net.jvp(th, f0[:net.P], H, F)[k]
            level = 4 * np.finfo(float).eps * np.abs(net.zgrad(th, H, F, k) * f0[:net.P]).sum()
            fw = np.concatenate([np.zeros(net.P), D, D2])
            slope = net.jvp(th, flow.theta_accel(t, yw, fw) - flow.theta_accel(t, yw, np.zeros_like(fw)), H, F)[k]
            return yw, zd, slope, level

        def done(yw, ok):
            return (yw, ok) if report else yw

        yw, zd, slope, level = at(0.0)
        if abs(zd) <= level:
            return done(yw, True)
        if slope == 0.0 or not np.isfinite(slope):
            return done(y0, False)
        direction = 1.0 if -zd / slope > 0 else -1.0
        bound = hi_w if direction > 0 else -lo_w
        near, near_zd, far = 0.0, zd, abs(zd / slope)
        for _ in range(60):
            if far >= bound:
                far = near + (bound - near) / 2
            _, q, _, ql = at(direction * far)
            if not np.isfinite(q):
                return done(y0, False)
            if (q > 0) != (near_zd > 0) or abs(q) <= ql:
                break
            near, near_zd, far = far, q, 2 * far
        else:
            return done(y0, False)
        lo, hi, lo_zd = direction * near, direction * far, near_zd
        w = hi
        yw, zd, slope, level = at(w)
        for _ in range(100):
            if abs(zd) <= level:
                return done(yw, True)
            if (zd > 0) == (lo_zd > 0):
                lo, lo_zd = w, zd
            else:
                hi = w
            nxt = w - zd / slope
            if not np.isfinite(nxt) or nxt <= min(lo, hi) or nxt >= max(lo, hi):
                nxt = (lo + hi) / 2
            if nxt == w or abs(hi - lo) <= 2 * np.finfo(float).eps * max(abs(lo), abs(hi)):
                return done(yw, True)
            w = nxt
            yw, zd, slope, level = at(w)
        return done(y0, False)

    def second_order_entry(self, t, y, st, k, old, zdot):
        """Adam (t > 0): whether the crossing of pair k with rate zdot enters the second-order
        slide: the surface's two previous crossings alternate with this one and |zdot| shrank,
        nothing else slides, the projection along F+ - F- exists and moves no v by more than
        entry_amplitude of itself, at the projected state zdd+ < 0 < zdd- (beyond 1e-10 of the
        larger), and 2 a |zdot| / min|zdd+-| <= entry_amplitude. Returns the projected state or
        None."""
        flow, net = self.flow, self.net
        hist = [c for c in flow.zigzag.get(k, []) if c[0] < t]
        ok = (len(hist) >= 2 and hist[-2][1] * hist[-1][1] < 0 and hist[-1][1] * zdot < 0
              and abs(zdot) < abs(hist[-1][1]) < abs(hist[-2][1]))
        lst = flow.zigzag.setdefault(k, [])
        if not lst or lst[-1][0] != t:
            lst.append((t, zdot))
            del lst[:-3]
        if not ok or flow.entry_amplitude <= 0 or np.any(st == SLIDE):
            return None
        mode = Mode(st, net)
        yp, ok = self.project_mv(t, y, mode, k, report=True)
        if not ok:
            return None
        # Theta affine in (m, v) over the zig-zag: no v moved by more than entry_amplitude of itself.
        v0, moved = y[flow.sv], np.abs(yp[flow.sv] - y[flow.sv])
        if np.any((moved > 0) & ((v0 <= 0) | (moved > flow.entry_amplitude * np.where(v0 > 0, v0, 1.0)))):
            return None
        st2 = st.copy()
        st2[mode.group(k)] = SLIDE
        ev = flow.evaluate(t, yp, Mode(st2, net))
        zp, zm = ev["vpm"]
        tol = 1e-10 * max(abs(zp), abs(zm)) + 1e-300
        if not (zp < -tol and zm > tol):
            return None
        if 2 * flow.a * abs(zdot) / min(abs(zp), abs(zm)) > flow.entry_amplitude:
            return None
        flow.zigzag.pop(k, None)
        return yp

    def vel(self, t, y, mode, k, s):
        """(dz_k/dt, |theta'|^2, tolerance) with pair k forced to state s."""
        ev = self.flow.evaluate(t, y, mode, override=(k, s))
        net = self.net
        th = y[self.flow.sth]
        dth = ev["f"][:net.P]
        gz = net.zgrad(th, ev["H"], ev["F"], k)
        terms = gz * dth
        return terms.sum(), dth @ dth, 1e-12 * np.abs(terms).sum() + 1e-300

    def log(self, t, y, k, kind, new, vp=None, vm=None, tangent=False):
        l, i, g = self.net.pairs[k]
        self.events.append({
            "t": float(t), "layer": int(l), "unit": int(i), "point": int(self.net.rep[g]),
            "kind": kind, "state": STATE_NAME[new],
            "vPlus": None if vp is None else float(vp),
            "vMinus": None if vm is None else float(vm),
            "tangent": bool(tangent),
            "loss": float(self.net.loss(y[self.flow.sth]))})

    def name(self, k):
        l, i, g = self.net.pairs[k]
        return f"(layer {l}, unit {i}, point {int(self.net.rep[g])})"

    def check_new_slide(self, t, y, st, k):
        others = [q for q in np.nonzero(st == SLIDE)[0] if q != k]
        if not others:
            return
        names = ", ".join(self.name(q) for q in others)
        if not self.flow.multi_slide or self.flow.kind not in ("gradient", "rmsprop"):
            raise FlowFailure(
                f"several attracting surfaces meet at t = {t!r}: {self.name(k)} becomes "
                f"attracting while {names} slides; the one-surface Filippov rule "
                "(SPEC 4, 8) does not apply", t, y)
        # Coupled slides (one point, different layers): Newton's method in `coupled_alphas`
        # (gradient and rmsprop flows).

    def classify(self, t, y, st, k, initial=False):
        """Put pair k on its surface and choose its side (SPEC 4)."""
        mode = Mode(st, self.net)
        k = int(mode.rep[k])
        y = self.project(y, mode, [k])
        old = st[k]
        vp, fp2, tp = self.vel(t, y, mode, k, ON)
        vm, fm2, tm = self.vel(t, y, mode, k, OFF)
        # One tolerance for both sides: at a slide exit the vanishing side's
        # terms can all be tiny (v- ~ 1e-19 with terms ~ 1e-8) while the
        # other side's are not; judged on its own scale that rounding residue
        # would re-enter the slide at once, for ever.
        tp = tm = max(tp, tm)
        sp = 0 if abs(vp) <= tp else np.sign(vp)
        sm = 0 if abs(vm) <= tm else np.sign(vm)
        if sp == 0 and sm == 0:
            new, kind = old, "graze"
        elif sp == 0 or sm == 0:
            new = ON if sp + sm > 0 else OFF
            kind = "on" if new == ON else "off"
        elif sp > 0 and sm > 0:
            new, kind = ON, "on"
        elif sp < 0 and sm < 0:
            new, kind = OFF, "off"
        elif sp < 0 < sm:
            new, kind = SLIDE, "slide"
        else:
            new, kind = (ON if fp2 > fm2 else OFF), "branch"
        if self.flow.kind == "adam" and t > 0.0 and not initial:
            if old == SLIDE:
                # A second-order slide decided again: by zdd+- (both sides' theta' are equal),
                # unless dz/dt jumped off 0 (a lower-layer pair on the same point switched): then
                # the flow leaves transversally, to the side dz/dt points to.
                ev = self.flow.evaluate(t, y, mode)
                zp, zm = ev["vpm"]
                th = y[self.flow.sth]
                zd = self.net.jvp(th, ev["f"][:self.net.P], ev["H"], ev["F"])[k]
                gz = self.net.zgrad(th, ev["H"], ev["F"], k)
                if abs(zd) > 1e-9 * np.abs(gz * ev["f"][:self.net.P]).sum():
                    zp = zm = zd
                tol = 1e-10 * max(abs(zp), abs(zm)) + 1e-300
                qp = 0 if abs(zp) <= tol else np.sign(zp)
                qm = 0 if abs(zm) <= tol else np.sign(zm)
                if qp < 0 < qm or (qp == 0 and qm == 0):
                    new = OFF if abs(zm) <= abs(zp) else ON
                elif qp == 0 or qm == 0:
                    new = ON if qp + qm > 0 else OFF
                elif qp > 0 and qm > 0:
                    new = ON
                elif qp < 0 and qm < 0:
                    new = OFF
                else:
                    new = OFF if abs(zm) <= abs(zp) else ON
                vp, vm = zp, zm
                if new != SLIDE:
                    self.flow.zigzag.pop(k, None)
            elif new in (ON, OFF) and new != old:
                yp = self.second_order_entry(t, y, st, k, old, vp)
                if yp is not None:
                    y, new, kind = yp, SLIDE, "slide"
        if new == SLIDE:
            self.check_new_slide(t, y, st, k)
        if old == SLIDE and new != SLIDE:
            kind = "slideEnd"
        elif new == old and not initial and kind != "branch":
            kind = "graze"
        for q in mode.group(k):
            st[q] = new
            self.log(t, y, q, kind, new, vp, vm, tangent=(sp == 0 or sm == 0))
        return y

    def end_slide(self, t, y, st, k, side):
        y = self.project(y, Mode(st, self.net))
        mode = Mode(st, self.net)
        k = int(mode.rep[k])
        vp, _, _ = self.vel(t, y, mode, k, ON)
        vm, _, _ = self.vel(t, y, mode, k, OFF)
        for q in mode.group(k):
            st[q] = side
            self.log(t, y, q, "slideEnd", side, vp, vm)
        return y

    def sweep(self, t, y, st, handled):
        """Handle every pair inconsistent with its state at time t.

        `handled` holds the pairs already classified at this instant (the
        event's pair, or the pairs on a surface at t = 0). Every pair, these
        included, is re-examined when a later change at the same instant
        makes it inconsistent (the side of one pair depends on another's:
        a pair switching on can end another pair's slide, which changes the
        first pair's normal velocity; coincident surfaces just split by a
        lower-layer event), at most three times per pair (the velocity test
        has a tolerance, so rounding cannot trigger it); beyond that the
        run stops (no consistent mode)."""
        net = self.net
        count = {k: 1 for k in handled}
        for _ in range(4 * net.npairs + 10):
            mode = Mode(st, self.net)
            y = self.project(y, mode)
            ev = self.flow.evaluate(t, y, mode)
            th = y[self.flow.sth]
            z = self.flat_z(ev)
            zdot = net.jvp(th, ev["f"][:net.P], ev["H"], ev["F"])
            todo = None
            for k in range(net.npairs):
                s = st[k]
                if mode.rep[k] != k:
                    continue
                if s == SLIDE:
                    a = ev["alpha"][k]
                    if ev["vpm"] is not None:         # one slide: need v+ < 0 < v-
                        vp, vm = ev["vpm"]
                        if not vp < 0.0 < vm:
                            todo = ("end", k, OFF if not vm > 0.0 else ON)
                        elif self.flow.kind == "adam" and t > 0.0:
                            # second-order slide: dz/dt must still be 0 (a lower-layer switch
                            # on the same point makes it jump)
                            gz = net.zgrad(th, ev["H"], ev["F"], k)
                            if abs(zdot[k]) > 1e-9 * np.abs(gz * ev["f"][:net.P]).sum():
                                todo = ("end", k, None)
                    elif not 0.0 < a < 1.0:
                        todo = ("end", k, OFF if not a >= 0.5 else ON)
                elif count.get(k, 0) < 4:
                    tol = net.zscale(th, ev["H"], k)
                    past = (s == ON and z[k] < -tol) or (s == OFF and z[k] > tol)
                    if not past and abs(z[k]) <= tol:
                        gz = net.zgrad(th, ev["H"], ev["F"], k)
                        vt = 1e-12 * np.abs(gz * ev["f"][:net.P]).sum() + 1e-300
                        past = (s == ON and zdot[k] < -vt) or (s == OFF and zdot[k] > vt)
                        if past:   # confirm with the two-sided tolerance of classify
                            _, _, tp = self.vel(t, y, mode, k, ON)
                            _, _, tm = self.vel(t, y, mode, k, OFF)
                            vt = max(tp, tm)
                            past = (s == ON and zdot[k] < -vt) or (s == OFF and zdot[k] > vt)
                    if past:
                        todo = ("cross", k, None)
                if todo:
                    break
            if todo is None:
                return y
            what, k, side = todo
            count[k] = count.get(k, 0) + 1
            # A sliding pair found with alpha outside (0, 1) here (not at its
            # own located exit: the mode changed under it, e.g. a lower-layer
            # event split its coincident surfaces) is classified afresh by the
            # normal velocities of both sides, the other sliding pairs keeping
            # dz/dt = 0, rather than sent to the side alpha is nearer to.
            y = self.classify(t, y, st, k)
        raise FlowFailure(f"no consistent mode found at t = {t!r}", t, y)

    # ---- events of one mode ------------------------------------------------
    def event_setup(self, mode, t0, y0):
        """Event descriptors (kind, pair, direction) and the on-surface set."""
        net = self.net
        th = y0[self.flow.sth]
        ev = self.flow.evaluate(t0, y0, mode)
        z = self.flat_z(ev)
        # A layer-1 unit off on every point has a zero (W_1, b_1) row
        # velocity: its z cannot change (and must not fire when left on it).
        dead = set()
        if net.relu and net.L > 1:
            for i in range(net.layers[1]):
                ks = range(net.poff[1] + i * net.G, net.poff[1] + (i + 1) * net.G)
                if all(mode.st[k] == OFF for k in ks):
                    dead.update(ks)
        desc, onsurf = [], set()
        for k in range(net.npairs):
            if mode.rep[k] != k:
                continue
            if mode.st[k] == SLIDE:
                desc += [("a0", k, -1.0), ("a1", k, 1.0)]
            elif k not in dead:
                desc.append(("z", k, -1.0 if mode.st[k] == ON else 1.0))
                if abs(z[k]) <= net.zscale(th, ev["H"], k):
                    onsurf.add(k)
        return desc, onsurf

    def event_values(self, t, y, mode, desc, onsurf, t0):
        net = self.net
        ev = self.flow.evaluate(t, y, mode)
        z = self.flat_z(ev)
        zdot = None
        out = np.empty(len(desc))
        for q, (kind, k, _) in enumerate(desc):
            if kind == "z":
                if k in onsurf:
                    # z/(t - t0), whose value at t0 is dz/dt. A pair that stays on
                    # its surface to rounding (tangent start: dz/dt = 0, e.g. a dead
                    # unit of layer >= 2 whose inputs on that point are all off) is
                    # counted on its mode's side, so that rounding noise in z never
                    # fires (it would fire again at once in every new mode).
                    side = 1e-300 if mode.st[k] == ON else -1e-300
                    th = y[self.flow.sth]
                    if t > t0:
                        out[q] = z[k] / (t - t0)
                        if abs(z[k]) <= net.zscale(th, ev["H"], k):
                            out[q] = side
                    else:
                        if zdot is None:
                            zdot = net.jvp(th, ev["f"][:net.P], ev["H"], ev["F"])
                        out[q] = zdot[k]
                        gz = net.zgrad(th, ev["H"], ev["F"], k)
                        if abs(zdot[k]) <= 1e-12 * np.abs(gz * ev["f"][:net.P]).sum():
                            out[q] = side
                else:
                    out[q] = z[k]
            elif ev["vpm"] is not None:
                # One sliding pair: alpha = v-/(v- - v+) reaches 0 where v- does
                # and 1 where v+ does; v+/- are smooth where alpha has a pole
                # (v+ = v-), which a step could jump over with alpha itself.
                out[q] = ev["vpm"][1] if kind == "a0" else ev["vpm"][0]
            else:
                out[q] = ev["alpha"][k] - (0.0 if kind == "a0" else 1.0)
        return out

    # ---- main loop ---------------------------------------------------------
    def initial(self, y):
        net = self.net
        st = np.full(net.npairs, OFF)
        # The true pattern, layer by layer: after pass l the masks of layers
        # <= l, hence the pre-activations of layers <= l + 1, are the ReLU's.
        for _ in range(max(net.L - 1, 1)):
            ev = self.flow.evaluate(0.0, y, Mode(st, self.net))
            z = self.flat_z(ev)
            st = np.where(z > 0, ON, OFF)
        th = y[self.flow.sth]
        on_surface = [k for k in range(net.npairs) if abs(z[k]) <= net.zscale(th, ev["H"], k)]
        st[on_surface] = OFF
        if self.flow.kind == "rmsprop":   # provisional v(0) for the classification
            y = y.copy()
            y[self.flow.sv] = self.flow.evaluate(0.0, y, Mode(st, self.net))["g"] ** 2
        done = set()
        for k in on_surface:
            r = int(Mode(st, self.net).rep[k])
            if r not in done:
                done.add(r)
                y = self.classify(0.0, y, st, k, initial=True)
        y = self.sweep(0.0, y, st, set(on_surface))
        if self.flow.kind == "rmsprop":   # v(0) = g(theta(0))^2 in the chosen mode
            y = y.copy()
            y[self.flow.sv] = self.flow.evaluate(0.0, y, Mode(st, self.net))["g"] ** 2
        return y, st

    def run(self, y0, T):
        y, st = self.initial(np.array(y0, float))
        self.y0 = y.copy()
        t = 0.0
        self.t, self.y, self.st = t, y, st
        stalls = 0
        while t < T:
            mode = Mode(st, self.net)
            desc, onsurf = self.event_setup(mode, t, y)
            fun = self.flow.rhs(mode)
            t0 = t
            solver = DOP853(fun, t, y, T, rtol=self.rtol, atol=self.atol)
            self.segments += 1
            gold = self.event_values(t, y, mode, desc, onsurf, t0)
            hit = None
            while True:
                t_old, y_old, f_old = solver.t, solver.y.copy(), solver.f.copy()
                msg = solver.step()
                if solver.status == "failed":
                    raise FlowFailure(f"DOP853 failed at t = {solver.t!r}: {msg}", t_old, y_old)
                self.steps += 1
                t_new, y_new = solver.t, solver.y
                if mode.sliding:     # keep sliding pairs on their (curved) surfaces
                    yp = self.project(y_new, mode)
                    if self.flow.kind == "adam" and len(mode.sliding) == 1:   # and dz/dt = 0
                        yp = self.project_mv(t_new, yp, mode, mode.sliding[0])
                    if yp is not y_new:
                        solver.y = yp
                        solver.f = fun(t_new, yp)
                        y_new = yp
                gnew = self.event_values(t_new, y_new, mode, desc, onsurf, t0)
                dirs = np.array([d for (_, _, d) in desc])
                up = (gold <= 0) & (gnew >= 0) & ~((gold == 0) & (gnew == 0))
                down = (gold >= 0) & (gnew <= 0) & ~((gold == 0) & (gnew == 0))
                active = np.nonzero((up & (dirs > 0)) | (down & (dirs < 0)))[0]
                if len(active):
                    best = None
                    for q in active:
                        root = self.refine(fun, mode, desc, onsurf, t0, q, t_old, y_old, f_old,
                                           gold[q], t_new, y_new)
                        if best is None or root[0] < best[0]:
                            best = (root[0], root[1], q)
                    hit = best
                    break
                gold = gnew
                if solver.status == "finished":
                    break
            if hit is None:
                t, y = solver.t, solver.y.copy()
                self.t, self.y, self.st = t, y, st
                break
            t_ev, y_ev, q = hit
            stalls = stalls + 1 if t_ev <= t else 0
            if stalls > 50:
                raise FlowFailure(f"event loop stalled at t = {t!r}", t, y)
            t, y = t_ev, y_ev.copy()
            self.t, self.y, self.st = t, y, st.copy()
            kind, k, _ = desc[q]
            handled = {k}
            if kind == "z":
                y = self.classify(t, y, st, k)
            else:
                y = self.end_slide(t, y, st, k, OFF if kind == "a0" else ON)
            y = self.sweep(t, y, st, handled)
            self.t, self.y, self.st = t, y, st
        return y

    def refine(self, fun, mode, desc, onsurf, t0, q, t_old, y_old, f_old, g_old, t_new, y_new):
        """Root of event q in (t_old, t_new] by brentq over re-taken steps."""
        if g_old == 0.0:
            return t_old, y_old

        def ystep(t):
            return dop853_step(fun, t_old, y_old, t - t_old, f_old)

        def g(t):
            return self.event_values(t, ystep(t), mode, [desc[q]], onsurf, t0)[0]

        gb = g(t_new)
        if np.sign(gb) == np.sign(g_old):      # lost to rounding: keep the step end
            return t_new, y_new
        if gb == 0.0:
            return t_new, ystep(t_new)
        tr = brentq(g, t_old, t_new, xtol=1e-16, rtol=4 * EPS, maxiter=200)
        return tr, ystep(tr)


# --------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------
def need(cond, field, problem):
    if not cond:
        raise InputError(f"{field}: {problem}")


def load(cfg):
    """(Net, theta0) from a config dict (deep or shallow)."""
    data, net = cfg.get("data", {}), cfg.get("network", {})
    need("x" in data and "y" in data, "data.x", "explicit data.x and data.y are required")
    X = np.asarray(data["x"], float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(data["y"], float)
    need(X.ndim == 2 and X.shape[0] >= 1, "data.x", "must be an m x d array")
    need(y.shape == (X.shape[0],), "data.y", f"must have {X.shape[0]} entries like data.x")
    need(np.all(np.isfinite(X)), "data.x", "must be finite")
    need(np.all(np.isfinite(y)), "data.y", "must be finite")
    d = X.shape[1]
    output_bias = bool(net.get("outputBias", False))
    c0 = float(net.get("c0", 0.0))
    if "layers" not in net and "W" in net:
        n = len(net["b"])
        layers, activation, bias = [d, n, 1], "relu", True
        weights = [np.asarray(net["W"], float).reshape(n, d), np.asarray(net["c"], float).reshape(1, n)]
        biases = [np.asarray(net["b"], float)]
    else:
        need("layers" in net, "network.layers", "required (or a shallow W, b, c)")
        layers = [int(v) for v in net["layers"]]
        need(len(layers) >= 2 and all(v >= 1 for v in layers), "network.layers",
             "needs at least [d, 1] with positive widths")
        need(layers[0] == d, "network.layers", f"first entry must be the input dimension {d}")
        need(layers[-1] == 1, "network.layers", "last entry must be 1")
        activation = net.get("activation", "relu")
        need(activation in ("relu", "linear"), "network.activation", "must be relu or linear")
        bias = bool(net.get("bias", False))
        need("weights" in net, "network.weights", "explicit weights are required by the reference")
        need(len(net["weights"]) == len(layers) - 1, "network.weights",
             f"needs {len(layers) - 1} matrices")
        weights = []
        for l, w in enumerate(net["weights"], start=1):
            w = np.asarray(w, float)
            need(w.size == layers[l] * layers[l - 1], f"network.weights[{l - 1}]",
                 f"must be {layers[l]} x {layers[l - 1]}")
            weights.append(w.reshape(layers[l], layers[l - 1]))
        biases = []
        if bias:
            given = net.get("biases")
            for l in range(1, len(layers) - 1):
                if given is None:
                    biases.append(np.zeros(layers[l]))
                else:
                    need(len(given) == len(layers) - 2, "network.biases",
                         f"needs {len(layers) - 2} vectors")
                    bl = np.asarray(given[l - 1], float)
                    need(bl.shape == (layers[l],), f"network.biases[{l - 1}]",
                         f"must have {layers[l]} entries")
                    biases.append(bl)
    theta = []
    for l in range(1, len(layers)):
        theta.append(weights[l - 1].ravel())
        if bias and l < len(layers) - 1:
            theta.append(biases[l - 1])
    if output_bias:
        theta.append(np.array([c0]))
    theta0 = np.concatenate(theta)
    need(np.all(np.isfinite(theta0)), "network.weights", "must be finite")
    return Net(layers, activation, bias, output_bias, X, y), theta0


def flow_settings(cfg, args=None):
    fl = cfg.get("flow", {})
    s = {"kind": fl.get("kind", "gradient"), "T": float(fl.get("T", 1e4)),
         "rtol": float(fl.get("rtol", 1e-10)), "atol": float(fl.get("atol", 1e-12)),
         "tau": float(fl.get("tau", 10.0)), "epsilon": float(fl.get("epsilon", 1e-8)),
         "a": float(fl.get("a", 10.0)), "b": float(fl.get("b", 0.1))}
    if args is not None:
        for key in ("kind", "T", "rtol", "atol", "tau", "epsilon", "a", "b"):
            v = getattr(args, key)
            if v is not None:
                s[key] = v
    need(s["kind"] in ("gradient", "rmsprop", "adam"), "flow.kind", "must be gradient, rmsprop or adam")
    for key in ("T", "rtol", "atol"):
        need(s[key] > 0 and np.isfinite(s[key]), f"flow.{key}", "must be positive")
    if s["kind"] == "rmsprop":
        need(s["tau"] > 0, "flow.tau", "must be positive")
    if s["kind"] in ("rmsprop", "adam"):
        need(s["epsilon"] > 0, "flow.epsilon", "must be positive")
    if s["kind"] == "adam":
        need(s["a"] > 0, "flow.a", "must be positive")
        need(s["b"] > 0, "flow.b", "must be positive")
    return s


def simulate(cfg, overrides=None, multi_slide=False, quadrature=True):
    """Run a config; returns the result dict (status completed or failed)."""
    net, theta0 = load(cfg)
    s = flow_settings(cfg)
    if overrides:
        s.update(overrides)
        s = flow_settings({"flow": s})
    flow = Flow(net, s["kind"], s["tau"], s["epsilon"], s["a"], s["b"],
                quadrature=quadrature, multi_slide=multi_slide)
    y0 = np.zeros(flow.nstate)
    y0[flow.sth] = theta0
    integ = Integrator(flow, s["rtol"], s["atol"])
    status, diagnosis = "completed", None
    start = time.perf_counter()
    try:
        y = integ.run(y0, s["T"])
        t = integ.t
    except FlowFailure as e:
        status, diagnosis = "failed", e.diagnosis
        t = e.t if e.t is not None else integ.t
        y = e.y if e.y is not None else integ.y
    wall = time.perf_counter() - start
    th = y[flow.sth]
    L0, LT = net.loss(theta0), net.loss(th)
    b0, bT = net.balance(theta0), net.balance(th)
    res = {
        "status": status,
        "kind": s["kind"],
        "events": integ.events,
        "theta": th.tolist(),
        "theta0": theta0.tolist(),
        "loss": LT,
        "initialLoss": L0,
        "finalTime": float(t),
        "finalState": [[[STATE_NAME[int(v)] for v in row[net.grp]]
                        for row in integ.st[net.poff[l]:net.poff[l] + net.layers[l] * net.G]
                        .reshape(net.layers[l], net.G)] for l in range(1, net.L)] if net.relu else [],
        "balance": {"initial": [q.tolist() for q in b0], "final": [q.tolist() for q in bT],
                    "maxDrift": float(max((np.abs(q1 - q0).max() for q0, q1 in zip(b0, bT)),
                                          default=0.0)),
                    "invariant": s["kind"] == "gradient"},
        "wallSeconds": wall,
        "rhsEvaluations": int(net.nfev),
        "steps": integ.steps,
        "segments": integ.segments,
        "T": s["T"], "rtol": s["rtol"], "atol": s["atol"],
        "layers": net.layers, "activation": "relu" if net.relu else "linear",
        "bias": net.bias, "outputBias": net.output_bias,
    }
    if s["kind"] == "rmsprop":
        res.update(tau=s["tau"], epsilon=s["epsilon"], v=y[flow.sv].tolist())
    if s["kind"] == "adam":
        res.update(a=s["a"], b=s["b"], epsilon=s["epsilon"], m=y[flow.sm].tolist(),
                   v=y[flow.sv].tolist())
    if quadrature:
        Q = float(y[-1])
        res["dissipation"] = {"integral": Q, "lossDecrease": L0 - LT,
                              "defect": abs(L0 - LT - Q) / L0 if L0 > 0 else abs(Q)}
    if diagnosis:
        res["diagnosis"] = diagnosis
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--T", type=float)
    ap.add_argument("--rtol", type=float)
    ap.add_argument("--atol", type=float)
    ap.add_argument("--kind", choices=["gradient", "rmsprop", "adam"])
    ap.add_argument("--tau", type=float)
    ap.add_argument("--epsilon", type=float)
    ap.add_argument("--a", type=float)
    ap.add_argument("--b", type=float)
    ap.add_argument("--multi-slide", action="store_true",
                    help="let several pairs slide where the field is affine in their alphas")
    ap.add_argument("--no-quadrature", action="store_true",
                    help="integrate theta (m, v) only (no dissipation quadrature in the state)")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    try:
        with open(a.config) as fh:
            cfg = json.load(fh)
    except OSError as e:
        print(f"error: cannot read {a.config}: {e.strerror}", file=sys.stderr)
        return 3
    except json.JSONDecodeError as e:
        print(f"error: {a.config}: not JSON: {e}", file=sys.stderr)
        return 2
    try:
        net, _ = load(cfg)
        s = flow_settings(cfg, a)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    res = simulate(cfg, overrides=s, multi_slide=a.multi_slide, quadrature=not a.no_quadrature)
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    if res["status"] != "completed":
        print(f"error: {res['diagnosis']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
