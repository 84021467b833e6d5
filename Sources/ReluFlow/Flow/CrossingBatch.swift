import Foundation

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

/// Events at scale (`FlowOptions.crossingBatches`): the transversal crossings inside
/// one accepted step, processed in time order with one restart of the stepper, instead of one
/// located step each.
///
/// Mathematics. Over the step [t₀, t₀ + H] the stepper integrated the mode-locked field f_M
/// (SPEC §3), y_M(t), known at both ends with its field. A transversal crossing k of the pair
/// (i, g) at τ_k (SPEC §4: v⁻ and v⁺ of one sign) adds the jump D_k(y) = f_{M+k}(y) − f_M(y)
/// (`jumpValue`: neuron i's block, and through the residual of the point every neuron active
/// there, zero at τ_k; the jumps telescope in the batch's order, so two crossings at one point add
/// their interaction once). The solution is y = y_M + e with e' = J e + Σ_{τ_k < t} D_k(y), e(t₀) = 0,
/// so with E_k(s) = ∫_{τ_k}^s D_k and J linear in time between its values J₀, J₁ at the ends,
///
///     e(t₀ + H) = Σ_k [ E_k(H) + ∫ J(s) E_k(s) ds + J² ∫ (H − s) E_k(s) ds ] + O(h⁴),
///
/// each D_k taken as the quadratic through its values at τ_k, the middle and H (Simpson and
/// three-point Gauss rules, exact for these degrees); the J terms are three directional
/// differences of the field.
///
/// Crossing times. A flagged pair's z_ig(t) on y_M is the quintic Hermite interpolant of z, ż
/// and z̈ at both ends (`accelerations`: z̈ from Ṙ, one first pass of the field with the rates'
/// weights), O(h⁶). The earlier crossings of the batch move it: a first pass takes them in
/// time order to first order (x̃_g·D_b(τ_b)(t − τ_b), the neuron's own), a second to second order
/// (`orderCrossings`: every earlier crossing, through its quadratic jump and its coupling J D_b),
/// and the third order estimates the times' error. Not estimated: the quintic's own O(h⁶) error
/// (the first crossing of a batch, and batches of one; its size against a tighter reference is in
/// docs/engine-measurements.md), and monotonicity is checked on the cubic interpolant, not the quintic.
///
/// A batch is taken only where its estimated error is small, else the caller locates the
/// crossings one by one (nothing changed): every flagged pair is an on/off pair of a neuron with
/// no sliding pair; each crossing is monotone on the step and transversal with both normal
/// velocities above 1e-6 of the neuron's velocity scale; the second pass gives the first pass's
/// order; no other pair of an involved neuron ends within 16 rounding levels of its surface; the
/// estimated z error of every crossing is below `timeShare` of what the step tolerance allows z;
/// the remainder estimate (the O(h⁴) terms with |J| bounded by the spectral-radius estimate and
/// the measured directional ratios, plus what the time errors move) is within the error budget of
/// the K + 1 steps the batch replaces (`remainderShare`), checked before any evaluation and again
/// after; and at the end every on/off pair is on its side.
final class CrossingBatcher {
    /// A batch of K crossings replaces at least K + 1 steps of the one-at-a-time path, each allowed
    /// the step tolerance: its remainder estimate may take (K + 1) × this share of it. The estimate
    /// bounds every |J| by the spectral radius and runs far above the error: against runs at 100×
    /// tighter tolerances (`reluflow-bench --scaling --batch-baseline --batch-reference`, rtol 1e-10)
    /// the batched runs' θ stayed within 1.6e-12 and their crossing times within 8.8e-11 (T = 0.1),
    /// 2.6e-12 and 1.8e-9 (T = 10, where one at a time is 5.7e-10 off) on the series up to
    /// n·m = 320 000.
    static let remainderShare = 1.0
    /// The share of the z tolerance (atol + rtol |x̃_g| |(w_i, b_i)|) a crossing's estimated z error may take.
    static let timeShare = 0.1
    let field: ModeField
    let n: Int, d: Int, G: Int, P: Int, dim: Int
    private let theta: UnsafeMutablePointer<Double>
    private let fProbe: UnsafeMutablePointer<Double>
    private let probe: UnsafeMutablePointer<Double>
    private let residualRate: UnsafeMutablePointer<Double>
    private let rateWeights: UnsafeMutablePointer<Double>

    init(field: ModeField) {
        self.field = field
        n = field.n
        d = field.d
        G = field.G
        P = field.P
        dim = field.dimension
        theta = .allocate(capacity: dim)
        fProbe = .allocate(capacity: dim)
        probe = .allocate(capacity: dim)
        residualRate = .allocate(capacity: field.G)
        rateWeights = .allocate(capacity: field.n * (field.d + 1))
    }

    deinit {
        for p in [theta, fProbe, probe, residualRate, rateWeights] { p.deallocate() }
    }

    /// The step in which crossings are batched: its start and end states and fields (mode M), the
    /// residuals R_g at the end (of the field's evaluation there), and z, ż at both ends (n×G).
    struct Step {
        let H: Double
        let y0: UnsafePointer<Double>, f0: UnsafePointer<Double>
        let y1: UnsafePointer<Double>, f1: UnsafePointer<Double>
        let R1: [Double]
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
        // Velocity scale of the data: Σ_g |R_g||x̃_g| at the end of the step, and max |x̃_g|.
        guard step.R1.count == G else { return nil }
        let R1 = step.R1
        var magnitude = 0.0, maxNorm = 1.0
        for g in 0..<G {
            let xn = field.normalNorm(g)
            magnitude += abs(R1[g]) * xn
            maxNorm = max(maxNorm, xn)
        }
        let bOff = n * d, cOff = n * d + n
        // The remainder estimate's |J|³|D| term alone (below), from the detector's roots and
        // |D_k(τ_k)| ≈ |c_i R_g| |x̃_g| / m at the step's end: where it is twice what the estimate may
        // be, decline before any work (on long runs most declined batches end here).
        let involved = Set(flags.map(\.function.neuron))
        let jLow = curvatureBound(step)
        var bound = 0.0
        for flag in flags {
            let i = flag.function.neuron, g = flag.function.group, h = H - flag.root!
            bound += h * h * h * h / 12 * jLow * jLow * jLow * abs(step.y1[cOff + i] * R1[g]) * field.invM * field.normalNorm(g)
        }
        guard bound <= 2 * CrossingBatcher.remainderShare * Double(flags.count + 1) * tolerance(step, of: involved, at: step.y1) else { return nil }

        // Crossings in time order: first on the interpolant corrected to first order; then, with the
        // jumps' shapes and couplings from that pass, to second order.
        // z̈ of the flagged pairs at both ends: their pre-activations on the quintic interpolant.
        let pairs = flags.map { (neuron: $0.function.neuron, group: $0.function.group) }
        guard let start = accelerations(of: pairs, y: step.y0, f: step.f0, zdot: step.zdot0),
              let end = accelerations(of: pairs, y: step.y1, f: step.f1, zdot: step.zdot1) else { return nil }
        let zAccelerations = Array(zip(start, end)).map { (start: $0.0, end: $0.1) }
        guard let first = orderCrossings(flags, step: step, magnitude: magnitude, maxNorm: maxNorm, shapes: nil,
                                         accelerations: zAccelerations, curvature: jLow) else { return nil }
        var ordering = first
        var shapes: [Int: JumpShape] = [:]
        if first.taken.count > 1 {
            for t in first.taken {
                let h = H - t.tau
                shapes[t.flag] = JumpShape(tau: t.tau,
                                           mid: jumpValue(t, flags: flags, at: t.tau + 0.5 * h, step: step, taken: first.taken, shapes: [:]),
                                           end: jumpValue(t, flags: flags, at: H, step: step, taken: first.taken, shapes: [:]))
            }
            guard let second = orderCrossings(flags, step: step, magnitude: magnitude, maxNorm: maxNorm, shapes: shapes,
                                              accelerations: zAccelerations, curvature: jLow),
                  second.taken.map(\.flag) == first.taken.map(\.flag) else { return nil }
            ordering = second
        }
        let taken = ordering.taken, crossings = ordering.crossings, byNeuron = ordering.byNeuron

        // No other pair of an involved neuron ends at its surface or past it, and every crossed pair
        // ends on its new side (first-order end state).
        let states = field.states
        var crossedHere = [Bool](repeating: false, count: G)
        for (i, list) in byNeuron {
            // z_ig at the end moves by x̃_g·Σ_t D_t (H − τ_t) over the neuron's crossings t.
            var shift = [Double](repeating: 0, count: d + 1)
            for t in list {
                for k in 0...d { shift[k] += taken[t].jump[k] * (H - taken[t].tau) }
                crossedHere[flags[taken[t].flag].function.group] = true
            }
            defer { for t in list { crossedHere[flags[taken[t].flag].function.group] = false } }
            for g in 0..<G {
                let q = i * G + g
                let z = step.z1[q] + normalComponent(shift, group: g)
                let sign: Double = (states[q] == .on) != crossedHere[g] ? 1 : -1
                guard sign * z > 16 * field.preactivationNoise(step.y1, i, g) else { return nil }
            }
        }

        // Each jump along its interval [τ_k, H] as the quadratic through its values at τ_k, the
        // middle and H (from the state on the corrected interpolant there: its error enters e at
        // O(h³ |∂D/∂y|) only); in u = (s − τ_k)/h_k, D_k = D⁰ + a₁u + a₂u².
        var A = [Double](repeating: 0, count: dim), V0 = A, V1 = A, W = A
        var jumpSizes: [Double] = [], jumpRates: [Double] = []
        let gaussNodes = [0.5 - 0.1 * 15.0.squareRoot(), 0.5, 0.5 + 0.1 * 15.0.squareRoot()], gaussWeights = [5.0 / 18, 8.0 / 18, 5.0 / 18]
        var jumpAccels: [Double] = []   // |D_k''| of the quadratic
        for t in taken {
            let h = H - t.tau
            let i = flags[t.flag].function.neuron
            var d0 = [Double](repeating: 0, count: dim)
            for k in 0..<d { d0[i * d + k] = t.jump[k] }
            d0[bOff + i] = t.jump[d]
            d0[P] = t.jumpP
            let dm = jumpValue(t, flags: flags, at: t.tau + 0.5 * h, step: step, taken: taken, shapes: shapes)
            let d1 = jumpValue(t, flags: flags, at: H, step: step, taken: taken, shapes: shapes)
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
        // Error estimates, first with |J| from what is known before any evaluation (a lower bound:
        // the spectral radius estimate and the field's change over the step), to decline cheaply.
        var jNorm = jLow
        // A crossing's time: the estimated error of its z (the order after the model's), against
        // the z error the step's tolerance allows (atol + rtol |x̃_g| |(w_i, b_i)|); its time error
        // δτ = δz / |ż| moves the end state by δτ |D_k|.
        var timeShare = 0.0, timeState = 0.0
        for (k, t) in taken.enumerated() {
            let i = flags[t.flag].function.neuron, g = flags[t.flag].function.group
            var wb2 = step.y1[bOff + i] * step.y1[bOff + i]
            for c in 0..<d { wb2 += step.y1[i * d + c] * step.y1[i * d + c] }
            let allowed = step.atol + step.rtol * field.normalNorm(g) * wb2.squareRoot()
            timeShare = max(timeShare, ordering.zErrors[k] / allowed)
            timeState += ordering.zErrors[k] / t.speed * jumpSizes[k]
        }
        func remainder(_ jNorm: Double) -> Double {
            // Fourth-order remainder: h⁴/24 (|J|³|D| + 3|J|²|D'| + 3|J||D''|) per crossing, doubled
            // for the variation of J over the step; and what the crossing-time errors move.
            var total = timeState
            for (k, t) in taken.enumerated() {
                let h = H - t.tau
                total += 2 * h * h * h * h / 24 * (jNorm * jNorm * jNorm * jumpSizes[k] + 3 * jNorm * jNorm * jumpRates[k] + 3 * jNorm * jumpAccels[k])
            }
            return total
        }
        let budget = CrossingBatcher.remainderShare * Double(taken.count + 1)
        guard timeShare <= CrossingBatcher.timeShare, remainder(jNorm) <= budget * tolerance(step, of: involved, at: step.y1) else { return nil }

        // The J terms propagate e with the base mode's J (the jumps' own dependence on y, J_{M+k} −
        // J_M, is in D_k, evaluated on the corrected states): J₀V₀ at the start, J₁W and J₁(V₁ + J₁W)
        // at the end of the step, all in mode M: e(H) = A + J₀V₀ + J₁V₁ + J₁²W + O(h⁴).
        guard let j0v0 = directionalDerivative(at: step.y0, field: step.f0, along: V0, norm: &jNorm),
              let j1w = directionalDerivative(at: step.y1, field: step.f1, along: W, norm: &jNorm) else { return nil }
        let combined = (0..<dim).map { V1[$0] + j1w[$0] }
        guard let j1v = directionalDerivative(at: step.y1, field: step.f1, along: combined, norm: &jNorm) else { return nil }
        let oldStates = crossings.map { (index: $0.neuron * G + $0.group, state: $0.from) }
        field.updateMode(crossings.map { (index: $0.neuron * G + $0.group, state: $0.to) })
        let restore = { self.field.updateMode(oldStates) }
        for p in 0..<dim { yEnd[p] = step.y1[p] + A[p] + j0v0[p] + j1v[p] }
        guard remainder(jNorm) <= budget * tolerance(step, of: involved, at: yEnd) else { restore(); return nil }

        // The end state: on their sides, in the new mode.
        project()
        guard field.evaluate(yEnd, fEnd) else { restore(); return nil }
        field.surfaceValues(yEnd, fEnd, z: zEnd, zdot: zdotEnd)
        let wrongSide: Int? = field.states.withUnsafeBufferPointer { states in
            for q in 0..<(n * G) {
                let state = states[q]
                guard state != .sliding, (state == .on) != (zEnd[q] > 0) else { continue }
                if abs(zEnd[q]) > field.preactivationNoise(yEnd, q / G, q % G) { return q }
            }
            return nil
        }
        guard wrongSide == nil else { restore(); return nil }
        return crossings
    }

    /// A taken crossing's jump along [τ, H] from the first pass: its values at τ (`Taken.jump`), at
    /// the middle and at H (`jumpValue`), every component: the quadratic D(τ + v h), v ∈ [0, 1].
    private struct JumpShape {
        let tau: Double
        let mid: [Double], end: [Double]
    }

    /// The crossings of a batch in time order, with the estimated error of each crossing's
    /// pre-activation on the model its time came from.
    private struct Ordering {
        var taken: [Taken] = []
        var crossings: [BatchedCrossing] = []
        var byNeuron: [Int: [Int]] = [:]       // taken crossings per neuron (indices into `taken`)
        var zErrors: [Double] = []
    }

    /// The effect of an earlier crossing b on s·z_ig after it, u = t − τ_b: p₁u + p₂u² + p₃u³.
    private struct Correction {
        let tau: Double
        let p1: Double, p2: Double, p3: Double
        func value(_ t: Double) -> Double {
            guard t > tau else { return 0 }
            let u = t - tau
            return u * (p1 + u * (p2 + u * p3))
        }
    }

    /// Takes the flagged crossings in time order. Without `shapes` (first pass) a crossing's
    /// pre-activation is the interpolant's plus the first-order corrections x̃_g·D_b(τ_b)(t − τ_b)
    /// of the neuron's own earlier crossings. With them (second pass) every earlier crossing b
    /// enters to second order (SPEC §4 jumps; u = t − τ_b):
    ///
    ///     x̃_g·e_b,i(t) = x̃_g·∫₀ᵘ D_b,i + ½u² x̃_g·(J D_b(τ_b))_i + O(u³),
    ///
    /// the integral over the quadratic jump of the first pass (through the residual of g_b it
    /// reaches every neuron active there), and the coupling (J D_b)_i = −(c_i c_{i_b}/m)
    /// Σ_{g′ ∈ A_i ∩ A_{i_b}} μ_{g′} (x̃_{g′}·D_b) x̃_{g′} (D_b(τ_b) lies in (w_{i_b}, b_{i_b})). The
    /// error of the second pass is estimated as the next order, |J| u/3 times the u² term.
    private func orderCrossings(_ flags: [EventDetector.Flag], step: Step, magnitude: Double, maxNorm: Double,
                                shapes: [Int: JumpShape]?, accelerations: [(start: Double, end: Double)],
                                curvature jNorm: Double) -> Ordering? {
        let invM = field.invM
        let bOff = n * d, cOff = n * d + n
        let H = step.H
        var out = Ordering()
        var couplings: [Int: [Double]] = [:]       // (J D_b)_i by b.flag * n + i
        var projected: [Int: [Double]] = [:]       // s_bg μ_g (x̃_g·D_b) by b.flag
        func corrections(for flag: EventDetector.Flag) -> [Correction] {
            let i = flag.function.neuron, g = flag.function.group, sign = flag.function.sign
            return out.taken.compactMap { t in
                let ib = flags[t.flag].function.neuron
                guard let shapes, let shape = shapes[t.flag] else {
                    guard ib == i else { return nil }
                    return Correction(tau: t.tau, p1: sign * normalComponent(t.jump, group: g), p2: 0, p3: 0)
                }
                let h = H - shape.tau
                let first = ib == i ? sign * normalComponent(t.jump, group: g) : 0
                let middle = sign * blockNormal(shape.mid, neuron: i, group: g)
                let last = sign * blockNormal(shape.end, neuron: i, group: g)
                let a1 = -3 * first + 4 * middle - last, a2 = 2 * first - 4 * middle + 2 * last
                let key = t.flag * n + i
                let coupling: [Double]
                if let known = couplings[key] { coupling = known } else {
                    let u = projected[t.flag] ?? projectedJump(t.jump, neuron: ib)
                    projected[t.flag] = u
                    coupling = couplingRate(i, from: ib, projected: u)
                    couplings[key] = coupling
                }
                return Correction(tau: t.tau, p1: first, p2: a1 / (2 * h) + 0.5 * sign * normalComponent(coupling, group: g),
                                  p3: a2 / (3 * h * h))
            }
        }

        var root = [Double?](repeating: nil, count: flags.count)
        for (k, flag) in flags.enumerated() { root[k] = correctedRoot(flag, step: step, after: 0, corrections: [], acceleration: accelerations[k]) }
        var pending = Set(flags.indices)
        var zErrorOf = [Double](repeating: 0, count: flags.count)
        while !pending.isEmpty {
            var next = -1
            for k in pending {
                guard let r = root[k] else { return nil }
                if next < 0 || r < root[next]! { next = k }
            }
            pending.remove(next)
            let tau = root[next]!
            let flag = flags[next], i = flag.function.neuron, g = flag.function.group
            correctedState(step, at: tau, taken: out.taken, flags: flags, shapes: shapes ?? [:])
            // The neuron's (w, b) velocity just before the crossing, and |f|².
            var F = [Double](repeating: 0, count: d + 1)
            for k in 0..<d { F[k] = interpolatedRate(step, at: tau, index: i * d + k) }
            F[d] = interpolatedRate(step, at: tau, index: bOff + i)
            var norm2 = interpolatedRate(step, at: tau, index: P)
            for j in out.taken {
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
            out.taken.append(Taken(flag: next, tau: tau, jump: jump, jumpP: jumpP, sign: sigma, speed: abs(vBefore)))
            out.byNeuron[i, default: []].append(out.taken.count - 1)
            out.crossings.append(BatchedCrossing(neuron: i, group: g, from: from, to: from == .on ? .off : .on, tau: tau,
                                                 state: Array(UnsafeBufferPointer(start: theta, count: dim)), fieldNorm2: norm2 + jumpP))
            out.zErrors.append(zErrorOf[next])
            // The later crossings move: of this neuron only (first pass), or all (second pass).
            for k in pending where shapes != nil || flags[k].function.neuron == i {
                let list = corrections(for: flags[k])
                root[k] = correctedRoot(flags[k], step: step, after: tau, corrections: list, acceleration: accelerations[k])
                if shapes != nil, let r = root[k] {
                    zErrorOf[k] = list.reduce(0) { total, c in
                        let u = max(r - c.tau, 0)
                        return total + jNorm * u / 3 * abs(c.p2) * u * u
                    }
                }
            }
        }
        return out
    }

    /// z̈_ig of the pairs at one end of the step (mode M; y, f and ż there), for the
    /// quintic interpolant of their pre-activations. With ż_ig = −(c_i/m) Σ_{g′ ∈ A_i} R_{g′}
    /// (x̃_{g′}·x̃_g) (SPEC §3),
    ///
    ///     z̈_ig = (ċ_i/c_i) ż_ig − (c_i/m) Σ_{g′ ∈ A_i} Ṙ_{g′} (x̃_{g′}·x̃_g),
    ///     Ṙ_{g′} = μ_{g′} (Σ_{j ∈ A^{g′}} (ċ_j z_jg′ + c_j ż_jg′) + ċ₀),
    ///
    /// Ṙ by the field's first pass (`ModeField.accumulateOutputs`; sliding pairs, at z = ż = 0, add nothing).
    /// Nil when an involved c_i is 0.
    func accelerations(of pairs: [(neuron: Int, group: Int)], y: UnsafePointer<Double>, f: UnsafePointer<Double>,
                       zdot: UnsafePointer<Double>) -> [Double]? {
        let bOff = n * d, cOff = n * d + n
        let c0Rate = field.network.outputBias ? f[2 * n + n * d] : 0
        for g in 0..<G { residualRate[g] = c0Rate }
        // (d/dt)(c_j z_jg) = (ċ_j w_j + c_j ẇ_j)·x_g + (ċ_j b_j + c_j ḃ_j): the field's first pass with these weights.
        for j in 0..<n {
            let c = y[cOff + j], cRate = f[cOff + j]
            for k in 0..<d { rateWeights[j * d + k] = cRate * y[j * d + k] + c * f[j * d + k] }
            rateWeights[bOff + j] = cRate * y[bOff + j] + c * f[bOff + j]
        }
        field.accumulateOutputs(weights: rateWeights, biases: rateWeights + bOff, outputWeights: nil, into: residualRate)
        for g in 0..<G { residualRate[g] *= field.mult[g] }
        var sums: [Int: [Double]] = [:]   // Σ_{g′ ∈ A_i} Ṙ_{g′} x̃_{g′} per involved neuron
        var out: [Double] = []
        for (i, g) in pairs {
            let c = y[cOff + i]
            guard c != 0 else { return nil }
            let sum: [Double]
            if let known = sums[i] { sum = known } else {
                var acc = [Double](repeating: 0, count: d + 1)
                let slope = field.slope + i * G
                for gp in 0..<G where slope[gp] != 0 {
                    let r = slope[gp] * residualRate[gp]
                    for k in 0..<d { acc[k] += r * field.xg[gp * d + k] }
                    acc[d] += r
                }
                sums[i] = acc
                sum = acc
            }
            out.append(f[cOff + i] / c * zdot[i * G + g] - c * field.invM * normalComponent(sum, group: g))
        }
        return out
    }

    /// The step tolerance of the components a batch moves, the w, b and c of `neurons` (GSL's standard
    /// control: atol + rtol |y|, at the smallest of them).
    private func tolerance(_ step: Step, of neurons: Set<Int>, at y: UnsafePointer<Double>) -> Double {
        let bOff = n * d, cOff = n * d + n
        var smallest = Double.infinity
        for i in neurons {
            for k in 0..<d { smallest = min(smallest, abs(y[i * d + k])) }
            smallest = min(smallest, abs(y[bOff + i]), abs(y[cOff + i]))
        }
        return step.atol + step.rtol * smallest
    }

    /// A lower bound on |J| known before any evaluation: the spectral-radius estimate of the last
    /// stiffness check, and |Δf|/|Δy| over the step.
    private func curvatureBound(_ step: Step) -> Double {
        var df2 = 0.0, dy2 = 0.0
        for p in 0..<P {
            df2 += (step.f1[p] - step.f0[p]) * (step.f1[p] - step.f0[p])
            dy2 += (step.y1[p] - step.y0[p]) * (step.y1[p] - step.y0[p])
        }
        return dy2 > 0 ? max(step.curvatureHint, (df2 / dy2).squareRoot()) : step.curvatureHint
    }

    /// x̃_g·v_i for a full vector v: the rate of z_ig it gives.
    private func blockNormal(_ v: [Double], neuron i: Int, group g: Int) -> Double {
        var out = v[n * d + i]
        for k in 0..<d { out += v[i * d + k] * field.xg[g * d + k] }
        return out
    }

    /// s_bg μ_g (x̃_g·D) over the groups g, for a jump D in (w_b, b_b) (d + 1 entries): the change of
    /// R_g per unit of D in the current mode, over c_b.
    private func projectedJump(_ jump: [Double], neuron b: Int) -> [Double] {
        var out = [Double](repeating: 0, count: G)
        let sb = field.slope + b * G, xg = field.xg, mult = field.mult   // slope: 1 on, 0 off or sliding
        jump.withUnsafeBufferPointer { D in
            out.withUnsafeMutableBufferPointer { u in
                for g in 0..<G {
                    var v = D[d]
                    for k in 0..<d { v += D[k] * xg[g * d + k] }
                    u[g] = sb[g] * mult[g] * v
                }
            }
        }
        return out
    }

    /// (J D)_i in (w_i, b_i) for a jump D in (w_b, b_b), from its `projectedJump` u, in the current
    /// mode: −(c_i c_b / m) Σ_{g ∈ A_i ∩ A_b} μ_g (x̃_g·D) x̃_g = −(c_i c_b / m) Σ_g s_ig u_g x̃_g.
    private func couplingRate(_ i: Int, from b: Int, projected: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: d + 1)
        let si = field.slope + i * G, xg = field.xg
        projected.withUnsafeBufferPointer { u in
            out.withUnsafeMutableBufferPointer { acc in
                for g in 0..<G {
                    let weight = si[g] * u[g]
                    for k in 0..<d { acc[k] += weight * xg[g * d + k] }
                    acc[d] += weight
                }
            }
        }
        let scale = -theta[n * d + n + i] * theta[n * d + n + b] * field.invM
        return out.map { $0 * scale }
    }

    /// D_k = f_{M+k} − f_M at offset s > τ_k, every component, from the state on the corrected
    /// interpolant there. Away from its surface the pair's switch also changes the residual of its
    /// point, ΔR_g = σ μ_g c_i z_ig, and with it the field of every neuron active at g and of c₀:
    ///
    ///     (w_i, b_i): σ(−c_i/m) R_g⁺ x̃_g,   c_i: σ(−1/m) R_g⁺ z_ig   (R_g⁺: the residual with the pair on),
    ///     (w_j, b_j): −(c_j/m) ΔR_g x̃_g,    c_j: −(1/m) ΔR_g z_jg     (j ≠ i active at g),   c₀: −ΔR_g/m,
    ///
    /// and |f|² by 2 f·D + |D|², f the field before the pair (the interpolant's rate plus the jumps
    /// of the crossings before it in the batch's order, at their τ).
    private func jumpValue(_ t: Taken, flags: [EventDetector.Flag], at s: Double, step: Step, taken: [Taken],
                           shapes: [Int: JumpShape]) -> [Double] {
        let i = flags[t.flag].function.neuron, g = flags[t.flag].function.group
        let bOff = n * d, cOff = n * d + n
        let invM = field.invM
        correctedState(step, at: s, taken: taken, flags: flags, shapes: shapes)
        var out = [Double](repeating: 0, count: dim)
        let outputBias = field.network.outputBias
        // The jumps telescope, D_k = f_{M+1…k} − f_{M+1…k−1}: the other pairs of the point are active
        // as after the crossings before this one (in the batch's order) and before the later ones,
        // with the mode-locked s·z; the others (no crossing here) by the sign of z.
        let order = taken.firstIndex { $0.flag == t.flag } ?? taken.count
        var activeAt: [Int: Bool] = [:]
        for (position, other) in taken.enumerated() where flags[other.flag].function.group == g {
            let j = flags[other.flag].function.neuron
            guard j != i else { continue }
            let before = field.states[j * G + g] == .on
            activeAt[j] = position < order ? !before : before
        }
        var others = outputBias ? theta[2 * n + n * d] : 0
        for j in 0..<n where j != i {
            let z = field.preactivation(theta, j, g)
            if activeAt[j] ?? (z > 0) { others += theta[cOff + j] * z }
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
                guard activeAt[j] ?? (z > 0) else { continue }
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
            for j in taken[..<order] {
                let ij = flags[j.flag].function.neuron
                if p == bOff + ij { rate += j.jump[d] } else if p >= ij * d && p < ij * d + d { rate += j.jump[p - ij * d] }
            }
            jumpP += (2 * rate + out[p]) * out[p]
        }
        out[P] = jumpP
        return out
    }

    /// The state at offset s into `theta`: the interpolant plus, for each taken crossing before s,
    /// ∫ D_j over [τ_j, s]: the quadratic of its shape where known (second pass), else D_j(τ_j)(s − τ_j).
    private func correctedState(_ step: Step, at s: Double, taken: [Taken], flags: [EventDetector.Flag], shapes: [Int: JumpShape]) {
        interpolate(step, at: s, into: theta)
        for j in taken where j.tau < s {
            let i = flags[j.flag].function.neuron
            let dt = s - j.tau
            guard let shape = shapes[j.flag] else {
                for k in 0..<d { theta[i * d + k] += j.jump[k] * dt }
                theta[n * d + i] += j.jump[d] * dt
                theta[P] += j.jumpP * dt
                continue
            }
            let v = dt / (step.H - shape.tau)
            let h = step.H - shape.tau
            // ∫₀ᵛ (D⁰ + a₁v + a₂v²) h dv with a₁ = −3D⁰ + 4Dₘ − D₁, a₂ = 2D⁰ − 4Dₘ + 2D₁.
            let w0 = h * (v - 1.5 * v * v + 2.0 / 3 * v * v * v)
            let wm = h * (2 * v * v - 4.0 / 3 * v * v * v)
            let w1 = h * (-0.5 * v * v + 2.0 / 3 * v * v * v)
            for p in 0..<dim where shape.mid[p] != 0 || shape.end[p] != 0 {
                theta[p] += wm * shape.mid[p] + w1 * shape.end[p]
            }
            for k in 0..<d { theta[i * d + k] += w0 * j.jump[k] }
            theta[n * d + i] += w0 * j.jump[d]
            theta[P] += w0 * j.jumpP
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
    private func correctedRoot(_ flag: EventDetector.Flag, step: Step, after: Double, corrections: [Correction],
                               acceleration: (start: Double, end: Double)) -> Double? {
        let i = flag.function.neuron, g = flag.function.group, q = i * G + g, s = flag.function.sign, H = step.H
        let e0 = s * step.z0[q], d0 = s * step.zdot0[q] * H, e1 = s * step.z1[q], d1 = s * step.zdot1[q] * H
        let a0 = s * acceleration.start * H * H, a1 = s * acceleration.end * H * H
        func value(_ tau: Double) -> Double {
            var v = EventDetector.quinticHermite(tau / H, e0: e0, d0: d0, a0: a0, e1: e1, d1: d1, a1: a1)
            for c in corrections { v += c.value(tau) }
            return v
        }
        var lo = after, hi = H
        guard value(hi) <= 0 else { return nil }
        if value(lo) <= 0 { return after == 0 ? nil : lo }
        if let guess = flag.root, guess > lo, guess <= hi {
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

