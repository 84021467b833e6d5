#!/usr/bin/env python3
"""Independent reference implementation of the Filippov gradient flow of a
shallow ReLU network (docs/SPEC.md sections 1-4), in NumPy/SciPy.

It exists to cross-check ReluFlow's Swift/GSL flow solver and was written from
the SPEC only, without reading the Swift sources.

Usage
-----
    python3 Tests/Reference/filippov_reference.py CONFIG.json \
        [--T T] [--rtol R] [--atol A] [--out result.json]

CONFIG.json is a ReluFlow config with explicit data and parameters (the
resolved config.json of a run folder, or a hand-written one). Used keys:
data.x (m x d), data.y (m), network.W (n x d), network.b (n), network.c (n),
network.outputBias (default false), network.c0 (default 0), flow.T,
flow.rtol (default 1e-10), flow.atol (default 1e-12). Other keys are ignored.

Output (JSON, to --out or stdout):
    {"events": [{"t", "neuron", "point", "kind", "state", "vPlus", "vMinus",
                 "tangent", "loss"}...],
     "theta": final theta in SPEC order [W row-major, b, c, (c0)],
     "loss": final loss, "wallSeconds": ..., "rhsEvaluations": ..., ...}
kind is "on" / "off" (crossing into that side), "slide" (entering sliding),
"slideEnd" (leaving sliding), "branch" (non-unique continuation: repelling
surface or a corner with several admissible exits; the side chosen is in
"state"), or "graze" (a located crossing after which nothing changes).
state is the pair's state after the event. vPlus / vMinus are the normal
velocities n.f+ and n.f- at the event (null at corners); tangent is true when
one of them is within rounding of 0 (for example the last active point of a
neuron switching off: the neuron is then dead and v- = 0 exactly; such a
crossing is still logged as "off"). rhsEvaluations counts the right-hand side
calls of the integration and of the event refinement.

Method
------
* Mode locking (SPEC 3). A *mode* fixes the state of every (neuron, surface)
  pair: on, off or sliding. Inside a mode the right-hand side uses the mode's
  states, never sign(z) of the evaluation point, so the field is smooth and
  DOP853 keeps its order. Each mode is integrated with
  scipy.integrate.solve_ivp(method="DOP853") with terminal event functions:
    - non-sliding pair: z_ij = w_i.x_j + b_i (direction -1 when on, +1 when
      off). A pair that starts the mode exactly on its surface uses
      z_ij / (t - t0) instead (= n.f at t0), so that a pair which leaves and
      comes back within the first step is found at its return time, not at
      t0;
    - sliding pair: alpha_ij (direction -1: reaches 0, leaves to off) and
      alpha_ij - 1 (direction +1: reaches 1, leaves to on);
    - a dead neuron (every pair off) has a zero field block and no events.
  solve_ivp finds the root with brentq on the step's dense (7th order)
  interpolant. Over a long step that interpolant is much less accurate than
  the step itself (measured: 1e-11 event-time error on the sine example at
  rtol 1e-10), so the root is refined with brentq over *re-taken partial
  steps*: the event function of one DOP853 step of size t - t_k from the
  start t_k of the step that contains the event. The state at the event is
  that re-taken step, not the interpolant.
* Filippov sliding (SPEC 4). A sliding pair has activation weight alpha (an
  effective sigma'(0)) and contributes h_ij = 0 to the output (z_ij = 0 on the
  surface). alpha is recomputed at every RHS evaluation from n_ij . f = 0,
  which is linear in alpha:
      alpha = v- / (v- - v+) = -(sum_{on k} R_k G_kj) / (R_j G_jj),
  with R_k the residual summed over coincident points and G_kj = x_k.x_j + 1
  (several sliding surfaces of one neuron: the small linear system of SPEC 4).
  dz_ij/dt = 0 then holds identically in theta, so the Runge-Kutta steps keep
  the linear quantity z_ij constant up to rounding; sliding pairs are
  projected back onto their surfaces at every mode restart.
* Events. At an event the neuron's (w_i, b_i) is projected exactly onto the
  event surface (and its sliding surfaces), then the pair is classified with
  v+/- = n_ij . f+/- (f+: pair on, f-: pair off, everything else unchanged):
  same sign -> crossing; v+ < 0 < v- -> sliding; v+ > 0 > v- -> repelling:
  leave to the side with the larger |f|^2 and log "branch". One of v+/- within
  rounding of 0: go to the side the other one points to. A sliding exit
  leaves to off when alpha reaches 0, to on when it reaches 1 (the normal
  velocity on that side is then ~0 and is not re-examined at that instant).
  After each event every other pair is checked at the same time (a pair past
  its surface, e.g. a simultaneous event; a pair on its surface whose field
  points to the other side; a sliding pair whose alpha left [0, 1] because
  the neuron's pattern changed) and handled at the same time.
* Corners (d > 1): when the event leaves several surfaces of one neuron
  through its (w_i, b_i) (a sliding neuron meeting a second surface, or a
  knot line reaching a line of collinear data points), every assignment
  on/off/sliding of those pairs is tried; consistent assignments are those
  where each on (off) pair moves into z > 0 (z < 0) and each sliding pair has
  0 < alpha < 1. The one with the fewest sliding surfaces is taken (leave the
  corner when the flow can), then the larger |f|^2. This generalises the
  single-surface rule (crossing: one consistent side; attracting: only
  sliding consistent; repelling: both sides and the unstable sliding
  consistent, take the steeper side). When another consistent option with a
  different field exists, the changes are logged as "branch".
  A non-sliding pair whose normal lies in the span of its neuron's sliding
  normals (collinear points) is held on its surface by them: it has no event
  and keeps its on/off weight (the field does not depend on that choice).
* t = 0: pairs with z_ij = 0 (to rounding) are classified by the same rules.
* Coincident surfaces: duplicate data points form one group (one surface, one
  alpha, one event, reported with the smallest point index).

Restrictions
------------
* The corner enumeration is exponential in the number of surfaces meeting at
  one neuron (3^k assignments); fine for the small k of real data (k <= 5 on
  the two-d example's grid), not meant for large degenerate point sets.
* Exact tangencies are not resolved by higher-order terms beyond the rules
  above; a located crossing after which nothing changes is logged as "graze".
* Normal-velocity tolerance: 1e-12 times the sum of the magnitudes of the
  terms of n.f; surface tolerance for z: 64 eps (|w_i| |x_j| + |b_i|).

Accuracy
--------
At the same nominal rtol/atol, scipy's DOP853 (RMS error norm) is looser than
ReluFlow's GSL stepper: measured event-time errors of ~1e-10..1e-8 at 1e-10 /
1e-12. To decide which of two runs is right, run this script with
--rtol 1e-13 --atol 1e-15 (crossing times then agree with ReluFlow's tight runs
to ~1e-12). Sliding exits (alpha reaching 0 or 1) are located to
delta_alpha / |alpha'|, which can be large when |alpha'| is small (SPEC 4).
"""

import argparse
import itertools
import json
import time

import numpy as np
from scipy.integrate import DOP853, solve_ivp
from scipy.optimize import brentq

OFF, ON, SLIDE = 0, 1, 2
STATE_NAME = {OFF: "off", ON: "on", SLIDE: "sliding"}
EPS = np.finfo(float).eps


class Problem:
    """Data, network layout and the mode-locked vector field."""

    def __init__(self, X, y, n, output_bias):
        self.X = np.asarray(X, float)
        self.y = np.asarray(y, float)
        self.m, self.d = self.X.shape
        self.n = n
        self.output_bias = output_bias
        # Group coincident data points: one switching surface per group.
        reps, grp = [], np.empty(self.m, int)
        for j in range(self.m):
            for g, k in enumerate(reps):
                if np.array_equal(self.X[j], self.X[k]):
                    grp[j] = g
                    break
            else:
                grp[j] = len(reps)
                reps.append(j)
        self.rep = np.array(reps)          # smallest point index of each group
        self.grp = grp                     # point -> group
        self.G = len(reps)
        self.Xg = self.X[self.rep]         # G x d
        self.Nrm = np.hstack([self.Xg, np.ones((self.G, 1))])  # normals n_g
        self.Gram = self.Nrm @ self.Nrm.T  # G_gk = x_g.x_k + 1
        # Summation matrix: R = Agg @ r sums residuals over a group.
        self.Agg = np.zeros((self.G, self.m))
        self.Agg[grp, np.arange(self.m)] = 1.0
        nd = n * self.d
        self.sW = slice(0, nd)
        self.sb = slice(nd, nd + n)
        self.sc = slice(nd + n, nd + 2 * n)
        self.size = nd + 2 * n + (1 if output_bias else 0)
        self.nfev = 0

    # ---- parameter vector ------------------------------------------------
    def unpack(self, th):
        W = th[self.sW].reshape(self.n, self.d)
        b = th[self.sb]
        c = th[self.sc]
        c0 = th[-1] if self.output_bias else 0.0
        return W, b, c, c0

    def z(self, th):
        W, b, _, _ = self.unpack(th)
        return W @ self.Xg.T + b[:, None]   # n x G

    def loss(self, th):
        """State-free loss with the true ReLU."""
        W, b, c, c0 = self.unpack(th)
        Z = W @ self.X.T + b[:, None]
        r = c @ np.maximum(Z, 0.0) - self.y + c0
        return 0.5 * np.dot(r, r) / self.m

    def wb_block(self, i):
        """Indices of (w_i, b_i) in theta, in normal-vector order (x, 1)."""
        return np.r_[np.arange(i * self.d, (i + 1) * self.d), self.sb.start + i]

    # ---- mode-locked field -----------------------------------------------
    def evaluate(self, th, mode):
        """Return (f, z, alpha) of the field locked to `mode`.

        alpha is an n x G array, NaN except at sliding pairs."""
        W, b, c, c0 = self.unpack(th)
        z = W @ self.Xg.T + b[:, None]
        H = mode.onf * z                     # h_ig = s_ig z_ig (0 if sliding)
        r = c @ H[:, self.grp] - self.y + c0  # residual per point
        R = self.Agg @ r                     # residual per surface group
        S = mode.onf.copy()                  # activation weights
        alpha = np.full((self.n, self.G), np.nan)
        if mode.sliding:
            B = (mode.onf * R) @ self.Gram   # B_ik = sum_{on g} R_g G_gk
            for i, ks in mode.sliding:
                # (R_k = 0: no jump across the surface, alpha undefined -> NaN;
                # such a mode is only ever tried, and rejected, at an event.)
                if len(ks) == 1:
                    k = ks[0]
                    den = R[k] * self.Gram[k, k]
                    a = -B[i, k] / den if den != 0.0 else np.nan
                else:  # sum_l G_kl R_l alpha_l = -B_ik for every k in ks
                    A = self.Gram[np.ix_(ks, ks)] * R[ks][None, :]
                    try:
                        a = np.linalg.solve(A, -B[i, ks])
                    except np.linalg.LinAlgError:
                        a = np.full(len(ks), np.nan)
                alpha[i, ks] = a
                S[i, ks] = a
        self.last_R = R                      # kept for the velocity tolerances
        SR = S * R                           # n x G
        f = np.empty(self.size)
        f[self.sW] = -((c[:, None] * SR) @ self.Xg / self.m).ravel()
        f[self.sb] = -c * SR.sum(axis=1) / self.m
        f[self.sc] = -(H @ R) / self.m
        if self.output_bias:
            f[-1] = -r.sum() / self.m
        return f, z, alpha

    def field(self, th, mode):
        return self.evaluate(th, mode)[0]

    def project(self, th, i, groups):
        """Project (w_i, b_i) orthogonally onto z_ig = 0 for g in groups."""
        if not groups:
            return th
        th = th.copy()
        idx = self.wb_block(i)
        Nk = self.Nrm[list(groups)]
        p = th[idx]
        p -= np.linalg.pinv(Nk) @ (Nk @ p)   # minimum-norm correction
        th[idx] = p
        return th


class Mode:
    """Fixed activation states (n x G) with derived arrays for the RHS.

    `implied` holds the non-sliding pairs (i, g) whose normal n_g lies in the
    span of the normals of neuron i's sliding surfaces (d > 1 only, e.g. a
    knot line through two points of a grid row also passes through the rest
    of the row): such a pair is held on its surface by the sliding ones
    (n_g . f = 0 follows), has no event of its own, and keeps its on/off
    weight, which is one admissible choice of its Filippov weight as long as
    the solved alphas stay in [0, 1] (the field itself does not depend on the
    choice)."""

    def __init__(self, state, prob=None):
        self.state = state.copy()
        self.onf = (state == ON).astype(float)
        self.sliding = [(i, list(np.nonzero(state[i] == SLIDE)[0]))
                        for i in range(state.shape[0]) if np.any(state[i] == SLIDE)]
        self.implied = set()
        if prob is not None:
            for i, ks in self.sliding:
                if len(ks) < 2:
                    continue
                Nk = prob.Nrm[ks]
                P = np.linalg.pinv(Nk) @ Nk          # projector onto span
                for g in range(prob.G):
                    if state[i, g] != SLIDE:
                        ng = prob.Nrm[g]
                        if np.linalg.norm(ng - P @ ng) <= 1e-12 * np.linalg.norm(ng):
                            self.implied.add((i, g))


def dop853_step(fun, t, y, h, f0=None):
    """One explicit DOP853 step of size h (same tableau as solve_ivp's)."""
    A, B, C, ns = DOP853.A, DOP853.B, DOP853.C, DOP853.n_stages
    K = np.empty((ns, y.size))
    K[0] = fun(t, y) if f0 is None else f0
    for s in range(1, ns):
        K[s] = fun(t + C[s] * h, y + h * (A[s, :s] @ K[:s]))
    return y + h * (B @ K)


def refine_event(fun, event, t0, y0, te):
    """Refine the root te of `event` (found on the dense output of the step
    starting at (t0, y0)) by brentq over re-taken partial steps.
    Returns (t, y(t)), or None (keep the dense-output root) if no sign change
    is found near te."""
    if not te > t0:
        return None
    f0 = fun(t0, y0)
    ystep = lambda t: dop853_step(fun, t0, y0, t - t0, f0)
    g = lambda t: event(t, ystep(t))
    span = te - t0
    for rel in (1e-9, 1e-7, 1e-5, 1e-3, 1e-1):
        a, b = max(t0, te - rel * span), te + rel * span
        ga, gb = (event(t0, y0) if a == t0 else g(a)), g(b)
        if ga == 0.0:
            return a, ystep(a) if a > t0 else y0.copy()
        if np.sign(ga) != np.sign(gb):
            tr = brentq(g, a, b, xtol=1e-16, rtol=4 * EPS)
            return tr, ystep(tr)
    return None


class EventCache:
    """Evaluates z and alpha once per (t, y) for all the event functions."""

    def __init__(self, prob, mode):
        self.prob, self.mode = prob, mode
        self.t, self.y = None, None

    def get(self, t, y):
        if not (t == self.t and (y is self.y or np.array_equal(y, self.y))):
            self.fv, self.zv, self.av = self.prob.evaluate(y, self.mode)
            self.t, self.y = t, y
        return self.zv, self.av, self.fv


def make_events(prob, mode, t0, th0, on_surface):
    """One terminal event function per non-sliding pair, two per sliding pair.

    A pair that starts the segment on its surface (just classified, z = 0)
    uses g = z / (t - t0), whose value at t0 is the normal velocity n.f: the
    root at t0 itself is removed, so a pair that leaves and comes back within
    the first step (a near-graze) is located at its true return time instead
    of at t0."""
    cache = EventCache(prob, mode)
    events = []

    def ev_z(i, g):
        if (i, g) in on_surface:
            idx, ng = prob.wb_block(i), prob.Nrm[g]

            def fn(t, y):
                zv, _, fv = cache.get(t, y)
                return zv[i, g] / (t - t0) if t > t0 else ng @ fv[idx]
        else:
            fn = lambda t, y: cache.get(t, y)[0][i, g]
        fn.terminal = True
        fn.direction = -1.0 if mode.state[i, g] == ON else 1.0
        fn.tag = (i, g, "z")
        return fn

    def ev_a(i, g, level):
        fn = lambda t, y: cache.get(t, y)[1][i, g] - level
        fn.terminal = True
        fn.direction = -1.0 if level == 0.0 else 1.0
        fn.tag = (i, g, "a0" if level == 0.0 else "a1")
        return fn

    for i in range(prob.n):
        if np.all(mode.state[i] == OFF):
            # Dead neuron: its (w_i, b_i, c_i) block of f is identically zero in
            # this mode, so none of its z_ig can change (and a pair left exactly
            # on its surface must not fire at every step).
            continue
        for g in range(prob.G):
            if mode.state[i, g] == SLIDE:
                events.append(ev_a(i, g, 0.0))
                events.append(ev_a(i, g, 1.0))
            elif (i, g) not in mode.implied:
                events.append(ev_z(i, g))
    return events


class FilippovFlow:
    def __init__(self, prob, theta0, rtol, atol):
        self.prob = prob
        self.theta = np.array(theta0, float)
        self.rtol, self.atol = rtol, atol
        self.events = []
        self.segments = 0
        self.refine = True
        # The solve_ivp method per mode, and for implicit methods a function
        # mode -> (th -> df/dth); the benchmark peers (Benchmarks/peers) set them.
        self.method = "DOP853"
        self.jacobian = None

    # ---- helpers ---------------------------------------------------------
    def zscale(self, th, i, g):
        W, b, _, _ = self.prob.unpack(th)
        return 64 * EPS * (np.abs(W[i]) @ np.abs(self.prob.Xg[g]) + abs(b[i]) + 1e-300)

    def vtol(self, i, g, c, R):
        """Tolerance for a normal velocity of pair (i, g): 1e-12 times the
        sum of the magnitudes of its terms (|c_i|/m) sum_k |R_k G_kg|."""
        p = self.prob
        return 1e-12 * abs(c[i]) / p.m * np.abs(R * p.Gram[:, g]).sum() + 1e-300

    def vpm(self, th, state, i, g):
        """Normal velocities (v+, v-) and squared norms (|f+|^2, |f-|^2)."""
        p = self.prob
        idx = p.wb_block(i)
        out = []
        for s in (ON, OFF):
            st = state.copy()
            st[i, g] = s
            f = p.field(th, Mode(st, p))
            out.append((p.Nrm[g] @ f[idx], f @ f))
        (vp, fp2), (vm, fm2) = out
        self.last_vtol = self.vtol(i, g, p.unpack(th)[2], p.last_R)
        return vp, vm, fp2, fm2

    def surfaces_of(self, state, i, extra=()):
        return sorted(set(np.nonzero(state[i] == SLIDE)[0]) | set(extra))

    def log(self, t, th, i, g, kind, new, vp=None, vm=None, tangent=False):
        self.events.append({
            "t": float(t), "neuron": int(i), "point": int(self.prob.rep[g]),
            "kind": kind, "state": STATE_NAME[new],
            "vPlus": None if vp is None else float(vp),
            "vMinus": None if vm is None else float(vm),
            "tangent": bool(tangent),
            "loss": float(self.prob.loss(th))})

    def classify(self, t, th, state, i, g, initial=False, handled=None):
        """Put pair (i, g) on its surface and choose its side (SPEC 4)."""
        p = self.prob
        th = p.project(th, i, self.surfaces_of(state, i, [g]))
        # Other surfaces of neuron i through the same point of (w_i, b_i)?
        zi = p.z(th)[i]
        P = sorted(set(self.surfaces_of(state, i, [g])) |
                   {k for k in range(p.G) if abs(zi[k]) <= self.zscale(th, i, k)})
        if len(P) > 1:
            th2 = self.resolve_corner(t, th, state, i, g, P)
            if th2 is not None:
                if handled is not None:
                    handled.update((i, k) for k in P)
                return th2
        old = state[i, g]
        vp, vm, fp2, fm2 = self.vpm(th, state, i, g)
        tol = self.last_vtol
        sp = 0 if abs(vp) <= tol else np.sign(vp)
        sm = 0 if abs(vm) <= tol else np.sign(vm)
        if sp == 0 and sm == 0:        # tangent on both sides: stay
            new, kind = old, "graze"
        elif sp == 0 or sm == 0:       # one side tangent (alpha = 0 or 1):
            new = ON if sp + sm > 0 else OFF   # go where the other side points
            kind = "on" if new == ON else "off"
        elif sp > 0 and sm > 0:
            new, kind = ON, "on"
        elif sp < 0 and sm < 0:
            new, kind = OFF, "off"
        elif sp < 0 < sm:
            new, kind = SLIDE, "slide"
        else:  # repelling: the steeper side
            new, kind = (ON if fp2 > fm2 else OFF), "branch"
        if new == old and not initial and kind != "branch":
            kind = "graze"
        state[i, g] = new
        self.log(t, th, i, g, kind, new, vp, vm, tangent=(sp == 0 or sm == 0))
        return th

    def resolve_corner(self, t, th, state, i, g, P):
        """Several surfaces of neuron i meet at its current (w_i, b_i) (d > 1).

        Enumerate every assignment on / off / sliding of the pairs in P
        (sliding normals independent) and keep the consistent ones: an on
        (off) pair must move to z > 0 (z < 0), a pair held on its surface by
        the sliding ones is fine, a sliding pair needs 0 < alpha < 1. Choose
        the lowest codimension (fewest sliding surfaces: leave the corner if
        the flow can), then the larger |f|^2, then the fewest changes. This is
        the single-surface rule of SPEC 4 generalised: crossing = the one
        consistent side, attracting = only sliding is consistent, repelling =
        both sides (and the unstable sliding) consistent, take the steeper
        side. If more than one consistent option exists (with different
        fields), the changes are logged as "branch".
        Returns the projected theta, or None if no option is consistent."""
        p = self.prob
        th = p.project(th, i, P)
        idx = p.wb_block(i)
        c = p.unpack(th)[2]
        opts = []
        for assign in itertools.product((OFF, ON, SLIDE), repeat=len(P)):
            sl = [k for k, s_ in zip(P, assign) if s_ == SLIDE]
            if sl and np.linalg.matrix_rank(p.Nrm[sl]) < len(sl):
                continue
            st = state.copy()
            st[i, P] = assign
            mode = Mode(st, p)
            f, _, al = p.evaluate(th, mode)
            R = p.last_R
            ok = True
            for k, s_ in zip(P, assign):
                if s_ == SLIDE:
                    ok = 0.0 < al[i, k] < 1.0
                elif (i, k) not in mode.implied:
                    v, vt = p.Nrm[k] @ f[idx], self.vtol(i, k, c, R)
                    ok = v > vt if s_ == ON else v < -vt
                if not ok:
                    break
            if ok:
                nchg = sum(int(state[i, k] != s_) for k, s_ in zip(P, assign))
                opts.append((len(sl), f @ f, nchg, assign, f))
        if not opts:
            return None
        codim = min(o[0] for o in opts)
        cands = [o for o in opts if o[0] == codim]
        fmax = max(o[1] for o in cands)
        top = [o for o in cands if o[1] >= fmax * (1 - 1e-12)]
        best = min(top, key=lambda o: o[2])
        # Non-unique continuation (another consistent option with a different
        # field, of any codimension): log the changes as "branch".
        ambiguous = any(np.linalg.norm(o[4] - best[4]) > 1e-10 * np.linalg.norm(best[4])
                        for o in opts)
        changed = False
        for k, new in zip(P, best[3]):
            old = state[i, k]
            if old == new:
                continue
            state[i, k] = new
            if ambiguous:
                kind = "branch"
            elif new == SLIDE:
                kind = "slide"
            elif old == SLIDE:
                kind = "slideEnd"
            else:
                kind = "on" if new == ON else "off"
            changed = True
            self.log(t, th, i, k, kind, new)
        if not changed:
            self.log(t, th, i, g, "graze", state[i, g])
        return th

    def end_slide(self, t, th, state, i, g, side):
        th = self.prob.project(th, i, self.surfaces_of(state, i))
        vp, vm, _, _ = self.vpm(th, state, i, g)
        state[i, g] = side
        self.log(t, th, i, g, "slideEnd", side, vp, vm)
        return th

    def sweep(self, t, th, state, handled):
        """Handle every pair that is inconsistent with its state at time t:
        past its surface, on it with the field pointing to the other side,
        or sliding with alpha outside [0, 1]. Repeats until consistent."""
        p = self.prob
        for _ in range(4 * p.n * p.G + 10):
            mode = Mode(state, p)
            # Keep sliding pairs exactly on their surfaces. This is done here,
            # before alpha is checked, so that the alpha seen by the check is
            # the one the next mode starts from (a projection after the check
            # can push an alpha sitting at 1 to 1 + 1e-15, past its event).
            for i, ks in mode.sliding:
                th = p.project(th, i, ks)
            f, z, alpha = p.evaluate(th, mode)
            c, R = p.unpack(th)[2], p.last_R
            todo = None
            for i in range(p.n):
                for g in range(p.G):
                    s = state[i, g]
                    if s == SLIDE:
                        if not 0.0 < alpha[i, g] < 1.0:   # also NaN
                            todo = ("end", i, g, OFF if alpha[i, g] < 0.5 else ON)
                    elif (i, g) not in handled and (i, g) not in mode.implied:
                        tol = self.zscale(th, i, g)
                        zz = z[i, g]
                        past = (s == ON and zz < -tol) or (s == OFF and zz > tol)
                        if not past and abs(zz) <= tol:
                            # on the surface: does the field point to the other side?
                            v = p.Nrm[g] @ f[p.wb_block(i)]
                            vt = self.vtol(i, g, c, R)
                            past = (s == ON and v < -vt) or (s == OFF and v > vt)
                        if past:
                            todo = ("cross", i, g, None)
                    if todo:
                        break
                if todo:
                    break
            if todo is None:
                return th
            what, i, g, side = todo
            handled.add((i, g))
            if what == "end":
                th = self.end_slide(t, th, state, i, g, side)
            else:
                th = self.classify(t, th, state, i, g, handled=handled)
        raise RuntimeError(f"no consistent mode found at t = {t}")

    # ---- main loop -------------------------------------------------------
    def initial_state(self, th):
        p = self.prob
        z = p.z(th)
        state = np.where(z > 0, ON, OFF)
        on_surface = [(i, g) for i in range(p.n) for g in range(p.G)
                      if abs(z[i, g]) <= self.zscale(th, i, g)]
        for i, g in on_surface:
            state[i, g] = OFF  # provisional: h = 0 either way on the surface
        for i, g in on_surface:
            th = self.classify(0.0, th, state, i, g, initial=True)
        th = self.sweep(0.0, th, state, set(on_surface))
        return th, state

    def run(self, T):
        p = self.prob
        th, state = self.initial_state(self.theta)
        t = 0.0
        stalls = 0
        while t < T:
            mode = Mode(state, p)   # (sliding pairs were projected by sweep)
            zz = p.z(th)
            on_surface = {(i, g) for i in range(p.n) for g in range(p.G)
                          if abs(zz[i, g]) <= self.zscale(th, i, g)}
            events = make_events(p, mode, t, th, on_surface)

            def rhs(_t, y, mode=mode):
                p.nfev += 1
                return p.field(y, mode)

            extra = {}
            if self.jacobian is not None:
                jac_of_mode = self.jacobian(mode)
                extra["jac"] = lambda _t, y: jac_of_mode(y)
            sol = solve_ivp(rhs, (t, T), th, method=self.method, rtol=self.rtol,
                            atol=self.atol, events=events, **extra)
            self.segments += 1
            if sol.status < 0:
                raise RuntimeError(f"solve_ivp failed at t = {sol.t[-1]}: {sol.message}")
            t_new, th = sol.t[-1], sol.y[:, -1].copy()
            stalls = stalls + 1 if t_new <= t else 0
            if stalls > 50:
                raise RuntimeError(f"event loop stalled at t = {t}")
            t = t_new
            if sol.status == 0:
                break
            hit = [k for k, te in enumerate(sol.t_events) if len(te)]
            i, g, what = events[hit[0]].tag
            if self.refine:
                ref = refine_event(rhs, events[hit[0]], sol.t[-2], sol.y[:, -2], t)
                if ref is not None:
                    t, th = ref[0], ref[1].copy()
            handled = {(i, g)}
            if what == "z":
                th = self.classify(t, th, state, i, g, handled=handled)
            else:
                th = self.end_slide(t, th, state, i, g, OFF if what == "a0" else ON)
            th = self.sweep(t, th, state, handled)
        self.theta, self.state, self.t = th, state, t
        return th


def load_config(path):
    """(config, X (m x d), W (n x d), theta0 in SPEC order, output_bias) of a config with
    explicit data and parameters."""
    with open(path) as fh:
        cfg = json.load(fh)
    data, net = cfg["data"], cfg["network"]
    X = np.asarray(data["x"], float)
    if X.ndim == 1:
        X = X[:, None]
    W = np.asarray(net["W"], float).reshape(len(net["b"]), X.shape[1])
    output_bias = bool(net.get("outputBias", False))
    theta0 = np.concatenate([W.ravel(), np.asarray(net["b"], float),
                             np.asarray(net["c"], float)]
                            + ([np.array([float(net.get("c0", 0.0))])] if output_bias else []))
    return cfg, X, W, theta0, output_bias


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--T", type=float)
    ap.add_argument("--rtol", type=float)
    ap.add_argument("--atol", type=float)
    ap.add_argument("--out")
    ap.add_argument("--no-refine", action="store_true",
                    help="keep solve_ivp's event times (dense-output roots)")
    a = ap.parse_args(argv)

    cfg, X, W, theta0, output_bias = load_config(a.config)
    data, flow = cfg["data"], cfg.get("flow", {})
    T = a.T if a.T is not None else float(flow.get("T", 1e4))
    rtol = a.rtol if a.rtol is not None else float(flow.get("rtol", 1e-10))
    atol = a.atol if a.atol is not None else float(flow.get("atol", 1e-12))

    prob = Problem(X, data["y"], W.shape[0], output_bias)
    flowobj = FilippovFlow(prob, theta0, rtol, atol)
    flowobj.refine = not a.no_refine
    t0 = time.perf_counter()
    th = flowobj.run(T)
    wall = time.perf_counter() - t0

    def balance(th):  # SPEC 4 balance invariants q_i = c_i^2 - |w_i|^2 - b_i^2
        W_, b_, c_, _ = prob.unpack(th)
        return c_ ** 2 - (W_ ** 2).sum(axis=1) - b_ ** 2

    result = {
        "events": flowobj.events,
        "theta": th.tolist(),
        "loss": float(prob.loss(th)),
        "initialLoss": float(prob.loss(theta0)),
        "finalTime": float(flowobj.t),
        "finalState": [[STATE_NAME[s] for s in row[prob.grp]] for row in flowobj.state],
        "invariantDrift": float(np.abs(balance(th) - balance(theta0)).max()),
        "wallSeconds": wall,
        "rhsEvaluations": int(prob.nfev),
        "segments": flowobj.segments,
        "T": T, "rtol": rtol, "atol": atol,
    }
    text = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
