/// One transversal crossing taken inside a batch: its pair, its time and the state there.
struct BatchedCrossing {
    let neuron: Int
    let group: Int
    let from: PairState
    let to: PairState
    /// Time of the crossing, as an offset from the start of the step.
    let tau: Double
    /// The state at the crossing (θ and the dissipation quadrature, P + 1 entries).
    let state: [Double]
    /// |f|² just after the crossing (the sample's squared gradient norm).
    let fieldNorm2: Double
    var kind: EventKind { to == .on ? .on : .off }
}

/// Events at scale (issue 4; experimental, `FlowOptions.crossingBatches`): the transversal
/// crossings inside one accepted step, processed in time order with one restart of the stepper,
/// instead of one located step each.
///
/// Mathematics. Over the step [t₀, t₀ + H] the stepper integrated the mode-locked field f_M
/// (SPEC §3), y_M(t), known at both ends with its field and interpolated by cubic Hermite. A
/// transversal crossing k of the pair (i, g) at τ_k (SPEC §4: v⁻ and v⁺ of one sign) adds the
/// jump D_k(y) = f_{M+k}(y) − f_M(y) (`jumpValue`: neuron i's block, and through the residual of
/// the point every neuron active there, zero at τ_k). The solution is y = y_M + e with
/// e' = J e + Σ_{τ_k < t} D_k(y), e(t₀) = 0, so with E_k(s) = ∫_{τ_k}^s D_k and J linear in time
/// between its values J₀, J₁ at the ends,
///
///     e(t₀ + H) = Σ_k [ E_k(H) + ∫ J(s) E_k(s) ds + J² ∫ (H − s) E_k(s) ds ] + O(h⁴),
///
/// each D_k taken as the quadratic through its values at τ_k, the middle and H (Simpson and
/// three-point Gauss rules, exact for these degrees); the J terms are three directional
/// differences of the field. A crossing's time is the root of its pre-activation on the
/// interpolant corrected to first order, z_ig(t) + x̃_g·Σ_{j: i_j = i, τ_j < t} D_j (t − τ_j), the
/// crossings taken in time order.
///
/// A batch is taken only where its estimated error is small, else the caller locates the
/// crossings one by one: every flagged pair is an on/off pair of a neuron with no sliding pair;
/// each crossing is monotone on the step and transversal with both normal velocities above 1e-6
/// of the neuron's velocity scale; no other pair of an involved neuron ends within 16 rounding
/// levels of its surface; the fourth-order remainder estimate is below 1% of the step tolerance
/// and the estimated crossing-time error from the first-order correction below 1e-9; and at the
/// end every on/off pair is on its side.
final class CrossingBatcher {
    let field: ModeField
    let n: Int, d: Int, G: Int, P: Int, dim: Int
    private let theta: UnsafeMutablePointer<Double>
    private let fPred: UnsafeMutablePointer<Double>
    private let fProbe: UnsafeMutablePointer<Double>
    private let probe: UnsafeMutablePointer<Double>

    init(field: ModeField) {
        self.field = field
        n = field.n
        d = field.d
        G = field.G
        P = field.P
        dim = field.dimension
        theta = .allocate(capacity: dim)
        fPred = .allocate(capacity: dim)
        fProbe = .allocate(capacity: dim)
        probe = .allocate(capacity: dim)
    }

    deinit {
        for p in [theta, fPred, fProbe, probe] { p.deallocate() }
    }

    /// The step in which crossings are batched: its start and end states and fields (mode M), and
    /// z, ż at both ends (n×G).
    struct Step {
        let H: Double
        let y0: UnsafePointer<Double>, f0: UnsafePointer<Double>
        let y1: UnsafePointer<Double>, f1: UnsafePointer<Double>
        let z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>
        let z1: UnsafePointer<Double>, zdot1: UnsafePointer<Double>
        let atol: Double, rtol: Double
        /// A lower bound on |J| known to the caller (a spectral radius estimate), or 0.
        let curvatureHint: Double
    }

    /// A crossing taken, with its jump D_k at τ_k in (w_i, b_i) (d + 1 entries) and the quadrature.
    private struct Taken {
        let flag: Int
        let tau: Double
        let jump: [Double]
        let jumpP: Double
        let sign: Double      // σ: +1 on, −1 off
        let speed: Double     // |v⁻| at the crossing
    }

    /// Takes the crossings of `flags` in the step: on success the field's mode holds the new
    /// states, `yEnd` the state at the end of the step (after `project`, which puts the sliding
    /// pairs of other neurons in `yEnd` back on their surfaces), `fEnd`, `zEnd`, `zdotEnd` the field
    /// and surface values there; the crossings come in time order. On nil nothing has changed but
    /// the contents of those four buffers (`zEnd` and `zdotEnd` are written last: they may be the
    /// step's z1 and ż1).
    func take(_ step: Step, flags: [EventDetector.Flag], yEnd: UnsafeMutablePointer<Double>, fEnd: UnsafeMutablePointer<Double>,
              zEnd: UnsafeMutablePointer<Double>, zdotEnd: UnsafeMutablePointer<Double>,
              project: () -> Void) -> [BatchedCrossing]? {
        let H = step.H
        guard H > 0, !flags.isEmpty else { return nil }
        let sliding = Set(field.slidingNeurons)
        var seen = Set<Int>()
        for flag in flags {
            let e = flag.function
            guard !flag.isDip, e.sign != 0, flag.root != nil, !sliding.contains(e.neuron),
                  seen.insert(e.neuron * G + e.group).inserted else { return nil }
            // Monotone on the step: the interpolant of s·z has no critical point inside.
            let q = e.neuron * G + e.group
            let cuts = EventDetector.hermiteCriticalPoints(e0: step.z0[q], d0: step.zdot0[q] * H, e1: step.z1[q], d1: step.zdot1[q] * H)
            guard !cuts.contains(where: { $0 > 0 && $0 < 1 }) else { return nil }
        }
        // Velocity scale of the data: Σ_g |R_g||x̃_g| at the end of the step (R of the field's
        // evaluation there), and max |x̃_g|.
        var magnitude = 0.0, maxNorm = 1.0
        for g in 0..<G {
            let xn = field.normalNorm(g)
            magnitude += abs(field.R[g]) * xn
            maxNorm = max(maxNorm, xn)
        }
        let invM = field.invM
        let bOff = n * d, cOff = n * d + n

        // Crossings in time order on the corrected interpolant.
        var byNeuron: [Int: [Int]] = [:]           // taken crossings per neuron (indices into `taken`)
        var taken: [Taken] = []
        var crossings: [BatchedCrossing] = []
        var root = [Double?](repeating: nil, count: flags.count)
        for (k, flag) in flags.enumerated() { root[k] = correctedRoot(flag, step: step, after: 0, corrections: []) }
        var pending = Set(flags.indices)
        while !pending.isEmpty {
            var next = -1
            for k in pending {
                guard let r = root[k] else { return nil }
                if next < 0 || r < root[next]! { next = k }
            }
            pending.remove(next)
            let tau = root[next]!
            let flag = flags[next], i = flag.function.neuron, g = flag.function.group
            correctedState(step, at: tau, taken: taken, flags: flags)
            // The neuron's (w, b) velocity just before the crossing, and |f|².
            var F = [Double](repeating: 0, count: d + 1)
            for k in 0..<d { F[k] = interpolatedRate(step, at: tau, index: i * d + k) }
            F[d] = interpolatedRate(step, at: tau, index: bOff + i)
            var norm2 = interpolatedRate(step, at: tau, index: P)
            for j in taken {
                norm2 += j.jumpP
                guard flags[j.flag].function.neuron == i else { continue }
                for k in 0...d { F[k] += j.jump[k] }
            }
            let c = theta[cOff + i]
            let R = field.groupResidual(theta, g)
            let from = field.states[i * G + g]
            let sigma: Double = from == .on ? -1 : 1
            var jump = [Double](repeating: 0, count: d + 1)
            let scale = sigma * (-c * invM) * R
            var xNorm2 = 1.0
            for k in 0..<d {
                jump[k] = scale * field.xg[g * d + k]
                xNorm2 += field.xg[g * d + k] * field.xg[g * d + k]
            }
            jump[d] = scale
            let vBefore = normalComponent(F, group: g)
            var jumpP = 0.0
            for k in 0...d { jumpP += (2 * F[k] + jump[k]) * jump[k] }
            let vAfter = vBefore + scale * xNorm2
            // Transversal (SPEC §4 crossing: v⁻ and v⁺ of one sign, the sign that leaves the side),
            // well above the resolver's tolerance.
            let leaving = from == .on ? -1.0 : 1.0
            let floor = 1e-6 * abs(c) * invM * maxNorm * magnitude
            guard leaving * vBefore > floor, leaving * vAfter > floor else { return nil }
            taken.append(Taken(flag: next, tau: tau, jump: jump, jumpP: jumpP, sign: sigma, speed: abs(vBefore)))
            byNeuron[i, default: []].append(taken.count - 1)
            crossings.append(BatchedCrossing(neuron: i, group: g, from: from, to: from == .on ? .off : .on, tau: tau,
                                             state: Array(UnsafeBufferPointer(start: theta, count: dim)), fieldNorm2: norm2 + jumpP))
            // The later crossings of this neuron move.
            let mine = byNeuron[i]!.map { taken[$0] }
            for k in pending where flags[k].function.neuron == i {
                root[k] = correctedRoot(flags[k], step: step, after: tau, corrections: mine)
            }
        }

        // No other pair of an involved neuron ends at its surface or past it, and every crossed pair
        // ends on its new side (first-order end state).
        let crossed = Set(taken.map { flags[$0.flag].function.neuron * G + flags[$0.flag].function.group })
        for (i, list) in byNeuron {
            for g in 0..<G {
                let q = i * G + g
                var z = step.z1[q]
                for t in list { z += normalComponent(taken[t].jump, group: g) * (H - taken[t].tau) }
                let state = field.states[q]
                let sign: Double = crossed.contains(q) ? (state == .on ? -1 : 1) : (state == .on ? 1 : -1)
                guard sign * z > 16 * field.preactivationNoise(step.y1, i, g) else { return nil }
            }
        }

        // Each jump along its interval [τ_k, H] as the quadratic through its values at τ_k, the
        // middle and H (from the state on the corrected interpolant there: its error enters e at
        // O(h³ |∂D/∂y|) only); in u = (s − τ_k)/h_k, D_k = D⁰ + a₁u + a₂u².
        var A = [Double](repeating: 0, count: dim), V0 = A, V1 = A, W = A
        var remainder = 0.0, jumpSizes: [Double] = [], jumpRates: [Double] = []
        let gaussNodes = [0.5 - 0.1 * 15.0.squareRoot(), 0.5, 0.5 + 0.1 * 15.0.squareRoot()], gaussWeights = [5.0 / 18, 8.0 / 18, 5.0 / 18]
        var jumpAccels: [Double] = []   // |D_k''| of the quadratic
        for t in taken {
            let h = H - t.tau
            let i = flags[t.flag].function.neuron
            var d0 = [Double](repeating: 0, count: dim)
            for k in 0..<d { d0[i * d + k] = t.jump[k] }
            d0[bOff + i] = t.jump[d]
            d0[P] = t.jumpP
            let dm = jumpValue(t, flags: flags, at: t.tau + 0.5 * h, step: step, taken: taken)
            let d1 = jumpValue(t, flags: flags, at: H, step: step, taken: taken)
            var size2 = 0.0, rate2 = 0.0, accel2 = 0.0
            // A = ∫D (Simpson, exact for the quadratic); V0, V1 = ∫(1 − ρ)E, ∫ρE with ρ = s/H and
            // E(s) = ∫_{τ_k}^s D; W = ∫(H − s)E (three-point Gauss, exact for these degrees).
            for p in 0..<dim where d0[p] != 0 || dm[p] != 0 || d1[p] != 0 {
                let a1 = -3 * d0[p] + 4 * dm[p] - d1[p]
                let a2 = 2 * d0[p] - 4 * dm[p] + 2 * d1[p]
                A[p] += h * (d0[p] + 4 * dm[p] + d1[p]) / 6
                for (u, weight) in zip(gaussNodes, gaussWeights) {
                    let e = h * (d0[p] * u + a1 * u * u / 2 + a2 * u * u * u / 3)
                    let s = t.tau + u * h, rho = s / H
                    V0[p] += weight * h * (1 - rho) * e
                    V1[p] += weight * h * rho * e
                    W[p] += weight * h * (H - s) * e
                }
                if p < P {
                    size2 += d0[p] * d0[p]
                    rate2 += a1 * a1
                    accel2 += 4 * a2 * a2
                }
            }
            jumpAccels.append(h > 0 ? accel2.squareRoot() / (h * h) : 0)
            jumpSizes.append(size2.squareRoot())
            jumpRates.append(h > 0 ? rate2.squareRoot() / h : 0)
        }
        // J₀V₀ in mode M at the start; then the new mode, the end state to first order (y₁ + A)
        // and J₁W, J₁(V₁ + J₁W) there: e(H) = A + J₀V₀ + J₁V₁ + J₁²W + O(h⁴).
        var jNorm = step.curvatureHint
        guard let j0v0 = directionalDerivative(at: step.y0, field: step.f0, along: V0, norm: &jNorm) else { return nil }
        let oldStates = crossings.map { (index: $0.neuron * G + $0.group, state: $0.from) }
        field.updateMode(crossings.map { (index: $0.neuron * G + $0.group, state: $0.to) })
        let restore = { self.field.updateMode(oldStates) }
        for p in 0..<dim { yEnd[p] = step.y1[p] + A[p] }
        guard field.evaluate(yEnd, fPred) else { restore(); return nil }
        guard let j1w = directionalDerivative(at: yEnd, field: fPred, along: W, norm: &jNorm) else { restore(); return nil }
        let combined = (0..<dim).map { V1[$0] + j1w[$0] }
        guard let j1v = directionalDerivative(at: yEnd, field: fPred, along: combined, norm: &jNorm) else { restore(); return nil }
        // A second direction for |J|: the field's change over the step in mode M.
        var df2 = 0.0, dy2 = 0.0
        for p in 0..<P {
            df2 += (step.f1[p] - step.f0[p]) * (step.f1[p] - step.f0[p])
            dy2 += (step.y1[p] - step.y0[p]) * (step.y1[p] - step.y0[p])
        }
        if dy2 > 0 { jNorm = max(jNorm, (df2 / dy2).squareRoot()) }
        for p in 0..<dim { yEnd[p] = step.y1[p] + A[p] + j0v0[p] + j1v[p] }
        // Fourth-order remainder: h⁴/24 (|J|³|D| + 3|J|²|D'| + 3|J||D''|) per crossing, doubled
        // for the variation of J over the step.
        for (k, t) in taken.enumerated() {
            let h = H - t.tau
            remainder += 2 * h * h * h * h / 24 * (jNorm * jNorm * jNorm * jumpSizes[k] + 3 * jNorm * jNorm * jumpRates[k] + 3 * jNorm * jumpAccels[k])
        }
        // Tolerance of the components the batch moved (GSL's standard control: atol + rtol|y|).
        var smallest = Double.infinity
        for i in byNeuron.keys {
            for k in 0..<d { smallest = min(smallest, abs(yEnd[i * d + k])) }
            smallest = min(smallest, abs(yEnd[bOff + i]), abs(yEnd[cOff + i]))
        }
        let tolerance = step.atol + step.rtol * smallest
        var worstTime = 0.0
        // The crossing times: the second-order terms of the earlier crossings that the corrected
        // interpolant leaves out, in z, over the normal speed.
        for (a, t) in taken.enumerated() {
            let g = flags[t.flag].function.group
            var dz = 0.0
            for b in 0..<a {
                let dt = t.tau - taken[b].tau
                dz += 0.5 * dt * dt * (jNorm * jumpSizes[b] + jumpRates[b])
            }
            worstTime = max(worstTime, dz * field.normalNorm(g) / t.speed)
        }
        // The estimate was measured to run up to 10× below the error against an accurate
        // one-at-a-time integration of the same step: hence 1%.
        guard remainder <= 0.01 * tolerance, worstTime <= 1e-9 else { restore(); return nil }

        // The end state: on their sides, in the new mode.
        project()
        guard field.evaluate(yEnd, fEnd) else { restore(); return nil }
        field.surfaceValues(yEnd, fEnd, z: zEnd, zdot: zdotEnd)
        let states = field.states
        for q in 0..<(n * G) {
            let state = states[q]
            guard state != .sliding else { continue }
            let z = zEnd[q]
            if (state == .on) == (z > 0) { continue }
            guard abs(z) <= field.preactivationNoise(yEnd, q / G, q % G) else { restore(); return nil }
        }
        return crossings
    }

    /// D_k = f_{M+k} − f_M at offset s > τ_k, every component, from the state on the corrected
    /// interpolant there. Away from its surface the pair's switch also changes the residual of its
    /// point, ΔR_g = σ μ_g c_i z_ig, and with it the field of every neuron active at g and of c₀:
    ///
    ///     (w_i, b_i): σ(−c_i/m) R_g⁺ x̃_g,   c_i: σ(−1/m) R_g⁺ z_ig   (R_g⁺: the residual with the pair on),
    ///     (w_j, b_j): −(c_j/m) ΔR_g x̃_g,    c_j: −(1/m) ΔR_g z_jg     (j ≠ i active at g),   c₀: −ΔR_g/m,
    ///
    /// and |f|² by 2 f·D + |D|², f the field without the pair (the interpolant's rate plus the other
    /// taken jumps at their τ).
    private func jumpValue(_ t: Taken, flags: [EventDetector.Flag], at s: Double, step: Step, taken: [Taken]) -> [Double] {
        let i = flags[t.flag].function.neuron, g = flags[t.flag].function.group
        let bOff = n * d, cOff = n * d + n
        let invM = field.invM
        correctedState(step, at: s, taken: taken, flags: flags)
        var out = [Double](repeating: 0, count: dim)
        let outputBias = field.network.outputBias
        var others = outputBias ? theta[2 * n + n * d] : 0
        for j in 0..<n where j != i {
            let z = field.preactivation(theta, j, g)
            if z > 0 { others += theta[cOff + j] * z }
        }
        let ci = theta[cOff + i], zi = field.preactivation(theta, i, g)
        let mu = field.mult[g]
        let residualOn = mu * (others + ci * zi) - field.ysum[g]
        let deltaR = t.sign * mu * ci * zi
        let scale = t.sign * (-ci * invM) * residualOn
        for k in 0..<d { out[i * d + k] = scale * field.xg[g * d + k] }
        out[bOff + i] = scale
        out[cOff + i] = t.sign * (-invM) * residualOn * zi
        if deltaR != 0 {
            for j in 0..<n where j != i {
                let z = field.preactivation(theta, j, g)
                guard z > 0 else { continue }
                let sj = -theta[cOff + j] * invM * deltaR
                for k in 0..<d { out[j * d + k] += sj * field.xg[g * d + k] }
                out[bOff + j] += sj
                out[cOff + j] += -invM * deltaR * z
            }
            if outputBias { out[2 * n + n * d] += -invM * deltaR }
        }
        var jumpP = 0.0
        for p in 0..<P where out[p] != 0 {
            var rate = interpolatedRate(step, at: s, index: p)
            for j in taken where j.tau < s && j.flag != t.flag {
                let ij = flags[j.flag].function.neuron
                if p == bOff + ij { rate += j.jump[d] } else if p >= ij * d && p < ij * d + d { rate += j.jump[p - ij * d] }
            }
            jumpP += (2 * rate + out[p]) * out[p]
        }
        out[P] = jumpP
        return out
    }

    /// The state at offset s into `theta`: the interpolant plus the first-order corrections
    /// D_j (s − τ_j) of the taken crossings before s.
    private func correctedState(_ step: Step, at s: Double, taken: [Taken], flags: [EventDetector.Flag]) {
        interpolate(step, at: s, into: theta)
        for j in taken where j.tau < s {
            let i = flags[j.flag].function.neuron
            let dt = s - j.tau
            for k in 0..<d { theta[i * d + k] += j.jump[k] * dt }
            theta[n * d + i] += j.jump[d] * dt
            theta[P] += j.jumpP * dt
        }
    }

    /// x̃_g·v for a (w, b) block v (d + 1 entries): the rate of z_ig it gives.
    private func normalComponent(_ v: [Double], group g: Int) -> Double {
        var out = v[d]
        for k in 0..<d { out += v[k] * field.xg[g * d + k] }
        return out
    }

    /// J v at y (field value f there, current mode) by a forward difference; raises `norm` to
    /// |J v|/|v|. Nil when the field is not finite.
    private func directionalDerivative(at y: UnsafePointer<Double>, field f: UnsafePointer<Double>, along v: [Double],
                                       norm: inout Double) -> [Double]? {
        var vNorm2 = 0.0, yNorm2 = 0.0
        for p in 0..<P { vNorm2 += v[p] * v[p]; yNorm2 += y[p] * y[p] }
        guard vNorm2 > 0 else { return [Double](repeating: 0, count: dim) }
        let eps = Double.ulpOfOne.squareRoot() * (1 + yNorm2.squareRoot()) / vNorm2.squareRoot()
        for p in 0..<dim { probe[p] = y[p] + eps * v[p] }
        guard field.evaluate(probe, fProbe) else { return nil }
        var out = [Double](repeating: 0, count: dim), out2 = 0.0
        for p in 0..<dim {
            out[p] = (fProbe[p] - f[p]) / eps
            if p < P { out2 += out[p] * out[p] }
        }
        norm = max(norm, (out2 / vNorm2).squareRoot())
        return out
    }

    /// First root after `after` of the flagged pair's s·z on the interpolant corrected by the
    /// neuron's taken crossings, by bisection to a few ulps; nil when s·z does not reach 0 by H.
    private func correctedRoot(_ flag: EventDetector.Flag, step: Step, after: Double, corrections: [Taken]) -> Double? {
        let i = flag.function.neuron, g = flag.function.group, q = i * G + g, s = flag.function.sign, H = step.H
        let e0 = s * step.z0[q], d0 = s * step.zdot0[q] * H, e1 = s * step.z1[q], d1 = s * step.zdot1[q] * H
        let slopes = corrections.map { (tau: $0.tau, rate: s * normalComponent($0.jump, group: g)) }
        func value(_ tau: Double) -> Double {
            var v = EventDetector.hermite(tau / H, e0: e0, d0: d0, e1: e1, d1: d1)
            for c in slopes where tau > c.tau { v += c.rate * (tau - c.tau) }
            return v
        }
        var lo = after, hi = H
        guard value(hi) <= 0 else { return nil }
        if value(lo) <= 0 { return after == 0 ? nil : lo }
        if corrections.isEmpty, let guess = flag.root, guess > lo, guess <= hi {
            // The detector's root of the same interpolant: its bracket to rounding.
            if value(guess) <= 0 { hi = guess } else { lo = guess }
        }
        for _ in 0..<200 where hi - lo > 4 * (step.H + abs(hi)).ulp {
            let mid = 0.5 * (lo + hi)
            if value(mid) > 0 { lo = mid } else { hi = mid }
        }
        return hi
    }

    /// The cubic Hermite interpolant of the step at offset τ, every component, into `out`.
    private func interpolate(_ step: Step, at tau: Double, into out: UnsafeMutablePointer<Double>) {
        let u = tau / step.H, H = step.H
        let u2 = u * u, u3 = u2 * u
        let h00 = 2 * u3 - 3 * u2 + 1, h10 = (u3 - 2 * u2 + u) * H, h01 = -2 * u3 + 3 * u2, h11 = (u3 - u2) * H
        for p in 0..<dim { out[p] = h00 * step.y0[p] + h10 * step.f0[p] + h01 * step.y1[p] + h11 * step.f1[p] }
    }

    /// The derivative of the Hermite interpolant at offset τ, one component.
    private func interpolatedRate(_ step: Step, at tau: Double, index p: Int) -> Double {
        let u = tau / step.H, H = step.H
        let u2 = u * u
        let a = (6 * u2 - 6 * u) / H, b = 3 * u2 - 4 * u + 1, c = 3 * u2 - 2 * u
        return a * (step.y0[p] - step.y1[p]) + b * step.f0[p] + c * step.f1[p]
    }
}
