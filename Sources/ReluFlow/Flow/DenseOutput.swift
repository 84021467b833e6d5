import Foundation
@preconcurrency import CGSL

/// Dense output inside an accepted step (`SampleOutput.dense`): the state at a time inside a step
/// of one mode, from the step's ends, so that the sample grid does not steer the stepper.
///
/// Within one mode the field f is smooth (polynomial in θ, SPEC §3). With values y, slopes f and
/// second derivatives ÿ = J f at both ends of the step [t₀, t₀ + H], s = (t − t₀)/H, the quartic
/// Hermite–Birkhoff interpolant q₄ (y₀, f₀, ÿ₀, y₁, f₁) has error y⁽⁵⁾(ξ) H⁵ s³(1 − s)²/120 and the
/// quintic Hermite interpolant q₅ (all six) one order more; |q₅ − q₄| estimates q₄'s error, an
/// upper bound of q₅'s to leading order. q₅ is taken (local extrapolation, as an embedded
/// Runge–Kutta pair does) when that estimate, plus what the error of the differenced ÿ moves q₅
/// by, lies within the step control's tolerance atol + rtol·|y_p| in every component p (the
/// control GSL applies to the step itself); otherwise the caller re-takes the step from its start
/// to the sample time (`EventLocator.advance`), whose error the step's own acceptance bounds.
///
/// ÿ = J f is a forward difference along f, (f(y + δf) − f(y))/δ with δ|f|∞ = √ε (1 + |y|∞): one
/// evaluation per step end, kept for the next step when it starts at the same state in the same
/// mode. Its error has two parts of size √ε: truncation, δ f''(f, f)/2, about √ε|ÿ|∞ on the scale
/// of the state, and rounding, ε|f|∞/δ = √ε|f|∞²/(1 + |y|∞). Their sum, with a factor 4 for the
/// size of f'' against ÿ, is ρ at each end; it enters q₅ through the weights H² s²(1 − s)³/2 and
/// H² s³(1 − s)²/2 of ÿ₀ and ÿ₁ (at most 0.0173 H² each), so it is added to the estimate.
final class DenseSampler {
    /// The ends of one accepted step in one mode.
    struct Step {
        let t0: Double
        let H: Double
        let y0: UnsafePointer<Double>
        let f0: UnsafePointer<Double>
        let y1: UnsafePointer<Double>
        let f1: UnsafePointer<Double>
    }

    let field: any ModeLockedSystem
    let dim: Int
    let rtol: Double, atol: Double
    private let a0: UnsafeMutablePointer<Double>
    private let a1: UnsafeMutablePointer<Double>
    private let shifted: UnsafeMutablePointer<Double>
    private let fShifted: UnsafeMutablePointer<Double>
    /// The state, time and mode of `a1` (the second derivative at the last step end computed).
    private let cachedState: UnsafeMutablePointer<Double>
    private var cachedTime = Double.nan
    private var cachedMode = -1
    /// Error bounds ρ of the differenced ÿ at the ends (`a0`, `a1`) and at the cached end.
    private var rho0 = 0.0, rho1 = 0.0, cachedRho = 0.0
    /// The step whose second derivatives `a0`, `a1` hold (by its start time, size and mode).
    private var preparedStep: (t0: Double, H: Double, mode: Int)? = nil
    private var prepared = false

    init(field: any ModeLockedSystem, rtol: Double, atol: Double) {
        self.field = field
        dim = field.dimension
        self.rtol = rtol
        self.atol = atol
        a0 = .allocate(capacity: dim)
        a1 = .allocate(capacity: dim)
        shifted = .allocate(capacity: dim)
        fShifted = .allocate(capacity: dim)
        cachedState = .allocate(capacity: dim)
    }

    deinit {
        for p in [a0, a1, shifted, fShifted, cachedState] { p.deallocate() }
    }

    /// ÿ = J f at y (field f there) into `out`, by a forward difference along f, and the bound ρ of
    /// its error (see the type's comment); nil when the shifted evaluation is not finite.
    private func secondDerivative(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>,
                                  into out: UnsafeMutablePointer<Double>) -> Double? {
        var fMax = 0.0, yMax = 0.0
        for p in 0..<dim {
            fMax = max(fMax, abs(f[p]))
            yMax = max(yMax, abs(y[p]))
        }
        guard fMax > 0 else {
            out.initialize(repeating: 0, count: dim)
            return 0
        }
        let root = Double.ulpOfOne.squareRoot()
        let delta = root * (1 + yMax) / fMax
        for p in 0..<dim { shifted[p] = y[p] + delta * f[p] }
        guard field.evaluate(shifted, fShifted) else { return nil }
        var aMax = 0.0
        for p in 0..<dim {
            out[p] = (fShifted[p] - f[p]) / delta
            aMax = max(aMax, abs(out[p]))
        }
        return 4 * root * (aMax + fMax * fMax / (1 + yMax))
    }

    /// Computes the second derivatives at both ends of `step` (once per step).
    private func prepare(_ step: Step) -> Bool {
        let mode = field.modeChanges
        if let p = preparedStep, p.t0 == step.t0, p.H == step.H, p.mode == mode { return prepared }
        preparedStep = (step.t0, step.H, mode)
        prepared = false
        var reuse = cachedTime == step.t0 && cachedMode == mode
        if reuse { for p in 0..<dim where cachedState[p] != step.y0[p] { reuse = false; break } }
        if reuse {
            a0.update(from: a1, count: dim)
            rho0 = cachedRho
        } else {
            guard let rho = secondDerivative(step.y0, step.f0, into: a0) else { return false }
            rho0 = rho
        }
        guard let rho = secondDerivative(step.y1, step.f1, into: a1) else { return false }
        rho1 = rho
        cachedRho = rho
        cachedTime = step.t0 + step.H
        cachedMode = mode
        cachedState.update(from: step.y1, count: dim)
        prepared = true
        return true
    }

    /// The quintic Hermite interpolant on s ∈ [0, 1] (values e, first derivatives d and second
    /// derivatives a in s at both ends; `EventDetector.quinticHermite`'s basis), written as
    /// e₀ + h₅ (e₁ − e₀) + …, so that a component that does not move (e₀ = e₁, d = a = 0, as the
    /// output weight of a dead neuron) is returned exactly.
    static func quintic(_ s: Double, e0: Double, d0: Double, a0: Double, e1: Double, d1: Double, a1: Double) -> Double {
        let s2 = s * s, s3 = s2 * s
        let h1 = s + s3 * (-6 + s * (8 - 3 * s))
        let h2 = 0.5 * s2 + s3 * (-1.5 + s * (1.5 - 0.5 * s))
        let h3 = s3 * (0.5 + s * (-1 + 0.5 * s))
        let h4 = s3 * (-4 + s * (7 - 3 * s))
        let h5 = s3 * (10 + s * (-15 + 6 * s))
        return e0 + (h5 * (e1 - e0) + h1 * d0 + h4 * d1 + h2 * a0 + h3 * a1)
    }

    /// The quintic Hermite interpolant of `step` at s ∈ (0, 1) into `out` when its estimated error
    /// is within the tolerance in every component; false otherwise (`out` is then not meaningful).
    func interpolate(_ step: Step, at s: Double, into out: UnsafeMutablePointer<Double>) -> Bool {
        guard prepare(step) else { return false }
        let H = step.H, H2 = H * H
        let bump = s * s * (1 - s) * (1 - s)
        // What the differences' errors move q₅ by: ρ times the weights of ÿ₀ and ÿ₁.
        let differenced = 0.5 * H2 * bump * ((1 - s) * rho0 + s * rho1)
        for p in 0..<dim {
            let e0 = step.y0[p], d0 = H * step.f0[p], e1 = step.y1[p], d1 = H * step.f1[p]
            // The cubic c₃ = a s³ + b s² + d0 s + e0; q₄ = c₃ + (ÿ₀H²/2 − b) s²(1 − s)² also matches ÿ₀.
            let b = -3 * e0 - 2 * d0 + 3 * e1 - d1
            let q4 = EventDetector.hermite(s, e0: e0, d0: d0, e1: e1, d1: d1) + (0.5 * H2 * a0[p] - b) * bump
            let q5 = Self.quintic(s, e0: e0, d0: d0, a0: H2 * a0[p], e1: e1, d1: d1, a1: H2 * a1[p])
            guard abs(q5 - q4) + differenced <= atol + rtol * abs(q5) else { return false }
            out[p] = q5
        }
        return true
    }
}

/// The last resort of dense output: the state at a sample time inside an accepted step by an
/// adaptive rk8pd integration from the step's start (`gsl_odeiv2_driver_apply`, the run's rtol and
/// atol), continued from one sample to the next inside the same step.
///
/// Used where re-taking the step to the sample time fails. Inside a long msbdf step over a state
/// that is stationary to rounding (|f| ~ 1e-17 against |y| ~ 1, the steps before a stationary hold)
/// both re-steps fail: the interpolant's error check rejects q₅ (over a step of 10⁴ time units,
/// H²ÿ is ~1e-8 while the state moves ~1e-13, so |q₅ − q₄| exceeds the tolerance), msbdf's
/// companion rk4imp returns GSL_FAILURE at every size, because its modified Newton iteration
/// (GSL `modnewton1_solve`) starts from η = DBL_MAX^0.8, so it never accepts the first correction,
/// and when that correction h·A·f lies below half an ulp of every Y component the iterate does
/// not move, the second correction equals the first bit for bit, θ = 1 and GSL reports divergence
/// (`evolve_apply` halves h down to one ulp of t and gives up); and the rk8pd stand-in's single
/// uncontrolled step of the sample's whole offset (thousands of time units, |hλ| ≫ rk8pd's stability
/// bound) blows up to a non-finite field (GSL_EBADFUNC). An error-controlled explicit integration
/// has neither problem: its steps stay within stability and its error within the tolerance.
final class SampleReintegrator {
    let integrator: GSLIntegrator
    private let dim: Int
    private let state: UnsafeMutablePointer<Double>
    /// The step start and the time `state` has reached from it (nil: nothing integrated yet).
    private var reached: (t0: Double, t: Double)? = nil
    /// The GSL status of the last failure.
    private(set) var failureStatus = Int32(GSL_SUCCESS)

    init(field: any ModeLockedSystem, rtol: Double, atol: Double) {
        integrator = GSLIntegrator(field: field, stepper: .rk8pd, rtol: rtol, atol: atol, hstart: 1e-6)
        dim = field.dimension
        state = .allocate(capacity: dim)
    }

    deinit { state.deallocate() }

    /// The state at t0 + tau from (t0, y0) into `out`, continuing from the last call since `forget`
    /// when it started at the same t0 (the caller's job: the same y0) and reached a time ≤ t0 + tau;
    /// false on a GSL failure.
    func advance(t0: Double, y0: UnsafePointer<Double>, stepHint: Double, tau: Double, into out: UnsafeMutablePointer<Double>) -> Bool {
        let target = t0 + tau
        var t = t0
        if let r = reached, r.t0 == t0, r.t <= target {
            t = r.t
        } else {
            state.update(from: y0, count: dim)
        }
        reached = nil
        if t < target {
            var h = min(target - t, stepHint > 0 ? stepHint : target - t)
            var status = integrator.integrate(t: &t, to: target, hstart: h, y: state)
            // A field that is not finite at a stage (a trial step beyond rk8pd's stability, which
            // the step control does not see: GSL returns GSL_EBADFUNC at once) restarts from the
            // time reached with half the step (GSL's advice; `driver_apply` keeps t and y there).
            var halvings = 0
            while status == GSL_EBADFUNC && halvings < 60 && t < target {
                h /= 2
                halvings += 1
                status = integrator.integrate(t: &t, to: target, hstart: min(h, target - t), y: state)
            }
            guard status == GSL_SUCCESS else {
                failureStatus = status
                return false
            }
        }
        reached = (t0, t)
        out.update(from: state, count: dim)
        return true
    }

    /// Forget the continuation (a new step, or a different start state at the same time).
    func forget() { reached = nil }
}

/// Dense output from the recent step ends of one smooth stretch of the flow (one mode, no event,
/// each step starting where the last ended): the interpolating polynomial of their states, used
/// where the step's quintic Hermite interpolant fails its check inside a BDF step.
///
/// This is the interpolant a BDF method integrates with (its Nordsieck array holds the same
/// polynomial through its past values, the dense output of LSODE/CVODE), which GSL's msbdf does not
/// expose. Values alone, not slopes: a BDF step end lies off the slow manifold by up to its local
/// error, and the fast modes (|λ|H ≫ 1 over the long steps of a stiff stretch) multiply that
/// offset by |λ| in f, so H·f and H²ÿ at the ends carry |λ|H times the error that the values
/// carry, which is why the Hermite interpolant's check fails there (measured on `sine` to
/// T = 1e5: q₅ − q₄ up to 10⁴ times the tolerance on late msbdf steps of 10³ time units).
///
/// With nodes t₁ (the step end), t₀ (its start), t₋₁, … (newest first, up to `capacity`) and the
/// Newton form p_k = Σ_{j≤k} c_j ω_j (c_j the divided differences, ω_j = Π_{i<j}(t − t_i)), the
/// difference p_{k+1} − p_k = c_{k+1} ω_{k+1}(t) estimates p_k's error (an upper bound of p_{k+1}'s
/// to leading order, as q₅ − q₄ for the Hermite pair). The degree k with the smallest estimate
/// relative to atol + rtol|p_{k+1}| is taken, p_{k+1} returned (local extrapolation) when that ratio
/// plus the rounding of the sum (4ε Σ|c_j ω_j|) is within 1 in every component; otherwise the
/// caller re-takes the step (its error is then bounded by that step's own acceptance).
final class StepHistory {
    /// Nodes kept: enough for p₅ and its estimate (BDF orders ≤ 5).
    static let capacity = 7
    let dim: Int
    let rtol: Double, atol: Double
    private var times: [Double] = []
    /// `capacity` states, the i-th node of `times` at row (first + i) mod capacity.
    private let states: UnsafeMutablePointer<Double>
    private var first = 0
    private var mode = -1
    /// Work: divided differences (capacity × dim) and a partial sum.
    private let table: UnsafeMutablePointer<Double>

    init(dim: Int, rtol: Double, atol: Double) {
        self.dim = dim
        self.rtol = rtol
        self.atol = atol
        states = .allocate(capacity: Self.capacity * dim)
        table = .allocate(capacity: Self.capacity * dim)
    }

    deinit {
        states.deallocate()
        table.deallocate()
    }

    private func row(_ i: Int) -> UnsafeMutablePointer<Double> { states + ((first + i) % Self.capacity) * dim }

    private func append(_ t: Double, _ y: UnsafePointer<Double>) {
        if times.count == Self.capacity {
            times.removeFirst()
            first = (first + 1) % Self.capacity
        }
        row(times.count).update(from: y, count: dim)
        times.append(t)
    }

    /// Records an accepted step [t0, t1] of mode `mode` (`ModeLockedSystem.modeChanges`) ending at
    /// y1 (after any projection): appended when it starts at the last node, in the same mode and
    /// the same state bit for bit; otherwise the history restarts at (t0, y0).
    func noteStep(t0: Double, y0: UnsafePointer<Double>, t1: Double, y1: UnsafePointer<Double>, mode: Int) {
        var continues = mode == self.mode && times.last == t0
        if continues {
            // Bit for bit: equal bytes (memcmp, ~10× fewer instructions than a loop over the bit patterns).
            continues = memcmp(row(times.count - 1), y0, dim * MemoryLayout<Double>.stride) == 0
        }
        if !continues {
            times.removeAll(keepingCapacity: true)
            first = 0
            self.mode = mode
            append(t0, y0)
        }
        append(t1, y1)
    }

    /// The state at t inside the last step noted, [t0, t1], into `out` when the estimate passes
    /// (see the type's comment); false otherwise or without three nodes.
    func interpolate(at t: Double, stepStart t0: Double, stepEnd t1: Double, into out: UnsafeMutablePointer<Double>) -> Bool {
        let count = times.count
        guard count >= 3, times[count - 1] == t1, times[count - 2] == t0, t0 < t, t < t1 else { return false }
        let H = t1 - t0
        // Nodes newest first, scaled: x_j = (t_j − t1)/H (0, −1, …); the sample at x ∈ (−1, 0).
        var x = [Double](repeating: 0, count: count)
        for j in 0..<count { x[j] = (times[count - 1 - j] - t1) / H }
        let xs = (t - t1) / H
        // Divided differences c_j (in place, per component), c_j at table[j * dim + p].
        for j in 0..<count { (table + j * dim).update(from: row(count - 1 - j), count: dim) }
        for level in 1..<count {
            for j in stride(from: count - 1, through: level, by: -1) {
                let denominator = x[j] - x[j - level]
                let upper = table + j * dim, lower = table + (j - 1) * dim
                for p in 0..<dim { upper[p] = (upper[p] - lower[p]) / denominator }
            }
        }
        var omega = [Double](repeating: 1, count: count)
        for j in 1..<count { omega[j] = omega[j - 1] * (xs - x[j - 1]) }
        // The degree k (1 ≤ k ≤ count − 2) whose estimate |c_{k+1} ω_{k+1}| is smallest against the
        // tolerance at p_{k+1}, worst component first.
        var best = Double.infinity, bestK = 0
        for k in 1...(count - 2) {
            var worst = 0.0
            for p in 0..<dim {
                var sum = 0.0, size = 0.0
                for j in 0...(k + 1) {
                    let term = table[j * dim + p] * omega[j]
                    sum += term
                    size += abs(term)
                }
                let estimate = abs(table[(k + 1) * dim + p] * omega[k + 1]) + 4 * Double.ulpOfOne * size
                worst = max(worst, estimate / (atol + rtol * abs(sum)))
                if worst >= best { break }
            }
            if worst < best { best = worst; bestK = k }
        }
        guard best <= 1 else { return false }
        for p in 0..<dim {
            var sum = 0.0
            for j in 0...(bestK + 1) { sum += table[j * dim + p] * omega[j] }
            out[p] = sum
        }
        return true
    }
}

/// Dense output inside the explicit steps of one smooth stretch (one mode, no event, each step
/// starting where the last ended): the Hermite interpolating polynomial of the values and slopes
/// at the stretch's recent step ends, with no evaluation of the field.
///
/// An explicit Runge–Kutta step end carries the state to the step control's tolerance and its
/// slope f(y) to that times the Lipschitz constant L (|λ|H stays within the stepper's stability
/// region), so values and slopes are both good data, unlike at a BDF step end (`StepHistory`).
/// With N nodes t₁ (the newest, the step's end), t₂ (its start), t₃, … each counted twice
/// (confluent: value and slope), the Newton form p_k = Σ_{j≤k} c_j ω_j on the scaled time
/// x = (t − t₁)/H (H the step's length, the slopes scaled by H) interpolates the first k + 1
/// conditions; its error is y⁽ᵏ⁺¹⁾(ξ)ω_{k+1}(x)/(k + 1)!, whose leading part c_{k+1}ω_{k+1}
/// estimates it (an upper bound of p_{k+1}'s to leading order, as q₅ − q₄ does for the quintic
/// Hermite interpolant). Every degree k ≥ 3 (the cubic Hermite interpolant of the step and more)
/// is a candidate; the one whose estimate is smallest against atol + rtol|p_{k+1}| is taken and
/// p_{k+1} returned (local extrapolation) when that ratio, plus the rounding of the sum
/// (4ε Σ|c_j ω_j|), is within 1 in every component — the control GSL applies to the step itself.
/// Otherwise the caller tries the quintic interpolant, then adds nodes inside the step (each a
/// re-taken step to the middle of the gap holding the sample and the field there: one re-step
/// serves every sample near it) and asks again, and re-takes the step to the sample last.
///
/// Five stored nodes (degree up to 9 with the step's own two) reach the order of rk8pd's local
/// error (H⁹) when the neighbouring steps have about the same length, which the step control's
/// growth limit keeps; the first step of a stretch (after an event) has only its own two ends,
/// where the interior nodes supply what the history cannot. No ÿ is differenced here, so no √ε
/// enters (the quintic interpolant's weak point on long steps).
final class SlopeHistory {
    static let capacity = 5
    /// Nodes of one interpolant at most (the step's two ends, interior nodes, earlier step ends):
    /// degree up to 2·maxNodes − 1.
    static let maxNodes = 7
    let dim: Int
    let rtol: Double, atol: Double
    private var times: [Double] = []
    /// `capacity` values and slopes, the i-th node of `times` at row (first + i) mod capacity.
    private let values: UnsafeMutablePointer<Double>
    private let slopes: UnsafeMutablePointer<Double>
    private var first = 0
    private var mode = -1
    /// Work: confluent divided differences (2·maxNodes × dim), of the nodes `tableKey` names (the
    /// step's ends, their states in `tableEnds`, the node counts), with the scaled times z.
    private let table: UnsafeMutablePointer<Double>
    private var tableKey: (t0: Double, t1: Double, nodes: Int, inside: Int) = (.nan, .nan, 0, 0)
    private let tableEnds: UnsafeMutablePointer<Double>
    private let scratch: UnsafeMutablePointer<Double>
    private var H = 0.0
    private var z = [Double](repeating: 0, count: 2 * SlopeHistory.maxNodes)
    private var omega = [Double](repeating: 0, count: 2 * SlopeHistory.maxNodes)
    private var worst = [Double](repeating: 0, count: 2 * SlopeHistory.maxNodes)
    private var nodeTimes: [Double] = []
    private var nodeValues: [UnsafePointer<Double>] = []
    private var nodeSlopes: [UnsafePointer<Double>] = []

    init(dim: Int, rtol: Double, atol: Double) {
        self.dim = dim
        self.rtol = rtol
        self.atol = atol
        values = .allocate(capacity: Self.capacity * dim)
        slopes = .allocate(capacity: Self.capacity * dim)
        table = .allocate(capacity: 2 * Self.maxNodes * dim)
        tableEnds = .allocate(capacity: 2 * dim)
        scratch = .allocate(capacity: dim)
    }

    deinit {
        values.deallocate()
        slopes.deallocate()
        table.deallocate()
        tableEnds.deallocate()
        scratch.deallocate()
    }

    private func slot(_ i: Int) -> Int { ((first + i) % Self.capacity) * dim }

    private func append(_ t: Double, _ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) {
        if times.count == Self.capacity {
            times.removeFirst()
            first = (first + 1) % Self.capacity
        }
        let s = slot(times.count)
        (values + s).update(from: y, count: dim)
        (slopes + s).update(from: f, count: dim)
        times.append(t)
    }

    /// Forgets the stretch (a step of a method whose step ends are not good slope data).
    func reset() {
        times.removeAll(keepingCapacity: true)
        first = 0
        mode = -1
    }

    /// Whether the stretch's last node is (t, y) in mode `mode`, bit for bit.
    func endsAt(_ t: Double, _ y: UnsafePointer<Double>, mode: Int) -> Bool {
        guard mode == self.mode, times.last == t else { return false }
        // Bit for bit: equal bytes.
        return memcmp(values + slot(times.count - 1), y, dim * MemoryLayout<Double>.stride) == 0
    }

    /// Records an accepted explicit step [t0, t1] of mode `mode` from (y0, f0) to (y1, f1) (after
    /// any projection; f the field there in that mode): appended when it continues the stretch,
    /// otherwise the stretch restarts at (t0, y0, f0).
    func noteStep(t0: Double, y0: UnsafePointer<Double>, f0: UnsafePointer<Double>,
                  t1: Double, y1: UnsafePointer<Double>, f1: UnsafePointer<Double>, mode: Int) {
        if !endsAt(t0, y0, mode: mode) {
            reset()
            self.mode = mode
            append(t0, y0, f0)
        }
        append(t1, y1, f1)
    }

    /// A node of the interpolant: a time, the state and its field there.
    typealias Node = (t: Double, y: UnsafePointer<Double>, f: UnsafePointer<Double>)

    /// The state at t inside the step [start.t, end.t] of mode `mode` into `out` when the estimate
    /// passes (see the type's comment). The nodes, nearest first: the step's ends, `interior`
    /// (states inside the step from re-taken steps), then the stretch's earlier step ends — those
    /// before the step's start when the stretch reaches it (the step noted last, or a step cut at
    /// an event from the stretch's last node).
    func interpolate(at t: Double, start: Node, end: Node, interior: [Node], mode: Int,
                     into out: UnsafeMutablePointer<Double>) -> Bool {
        let t0 = start.t, t1 = end.t
        guard t0 < t, t < t1 else { return false }
        let stored = times.count
        var older = -1
        if stored >= 2 && endsAt(t1, end.y, mode: mode) && times[stored - 2] == t0 {
            older = stored - 3
        } else if endsAt(t0, start.y, mode: mode) {
            older = stored - 2
        }
        let inside = min(interior.count, Self.maxNodes - 2)
        let nodes = min(2 + inside + older + 1, Self.maxNodes)
        guard nodes >= 3 else { return false }
        let M = 2 * nodes
        // The divided differences depend on the nodes only: computed once for all the samples of
        // a step (the key: its ends, their states bit for bit, and the number of nodes).
        if !(tableKey.t0 == t0 && tableKey.t1 == t1 && tableKey.nodes == nodes && tableKey.inside == inside
             && sameBits(tableEnds, end.y) && sameBits(tableEnds + dim, start.y)) {
            nodeTimes.removeAll(keepingCapacity: true)
            nodeValues.removeAll(keepingCapacity: true)
            nodeSlopes.removeAll(keepingCapacity: true)
            func add(_ time: Double, _ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) {
                nodeTimes.append(time)
                nodeValues.append(y)
                nodeSlopes.append(f)
            }
            add(t1, end.y, end.f)
            add(t0, start.y, start.f)
            for node in interior.prefix(inside) { add(node.t, node.y, node.f) }
            var i = older
            while nodeTimes.count < nodes {
                add(times[i], UnsafePointer(values + slot(i)), UnsafePointer(slopes + slot(i)))
                i -= 1
            }
            H = t1 - t0
            for j in 0..<M { z[j] = (nodeTimes[j / 2] - t1) / H }
            for j in 0..<M { (table + j * dim).update(from: nodeValues[j / 2], count: dim) }
            for level in 1..<M {
                for j in stride(from: M - 1, through: level, by: -1) {
                    let upper = table + j * dim, lower = table + (j - 1) * dim
                    if level == 1 && j % 2 == 1 {
                        // A repeated node: the first divided difference is the scaled slope.
                        let f = nodeSlopes[j / 2]
                        for p in 0..<dim { upper[p] = H * f[p] }
                    } else {
                        let denominator = z[j] - z[j - level]
                        for p in 0..<dim { upper[p] = (upper[p] - lower[p]) / denominator }
                    }
                }
            }
            tableKey = (t0, t1, nodes, inside)
            tableEnds.update(from: end.y, count: dim)
            (tableEnds + dim).update(from: start.y, count: dim)
        }
        let xs = (t - t1) / H
        return z.withUnsafeBufferPointer { z in
            omega.withUnsafeMutableBufferPointer { omega in
                worst.withUnsafeMutableBufferPointer { worst in
                    evaluate(xs, M: M, z: z.baseAddress!, omega: omega.baseAddress!, worst: worst.baseAddress!, into: out)
                }
            }
        }
    }

    /// The interpolant at the scaled time xs from the cached table (M confluent nodes) into
    /// `out`, when the best degree's estimate passes.
    private func evaluate(_ xs: Double, M: Int, z: UnsafePointer<Double>, omega: UnsafeMutablePointer<Double>,
                          worst: UnsafeMutablePointer<Double>, into out: UnsafeMutablePointer<Double>) -> Bool {
        omega[0] = 1
        for j in 1..<M { omega[j] = omega[j - 1] * (xs - z[j - 1]) }
        // worst[k]: the largest ratio over the components of p_k's estimate (plus the rounding of
        // p_{k+1}'s sum) to the tolerance at p_{k+1}, for k = 3 … M − 2. Row by row (the
        // components contiguous), the running sums and sizes per component in `sums`, `sizes`.
        let sums = out, sizes = scratch
        for p in 0..<dim {
            sums[p] = table[p]
            sizes[p] = abs(table[p])
        }
        for j in 1..<M {
            let row = table + j * dim, w = omega[j]
            for p in 0..<dim {
                let term = row[p] * w
                sums[p] += term
                sizes[p] += abs(term)
            }
            guard j >= 4 else { continue }
            var ratio = 0.0
            for p in 0..<dim {
                let estimate = abs(row[p] * w) + 4 * Double.ulpOfOne * sizes[p]
                let tolerance = atol + rtol * abs(sums[p])
                if estimate > ratio * tolerance { ratio = estimate / tolerance }
            }
            worst[j - 1] = ratio
        }
        var best = Double.infinity, bestK = 0
        for k in 3...(M - 2) where worst[k] < best {
            best = worst[k]
            bestK = k
        }
        guard best <= 1 else { return false }
        if bestK + 1 < M - 1 {
            for p in 0..<dim {
                var sum = table[p]
                for j in 1...(bestK + 1) { sum += table[j * dim + p] * omega[j] }
                out[p] = sum
            }
        }
        return true
    }

    private func sameBits(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>) -> Bool {
        memcmp(a, b, dim * MemoryLayout<Double>.stride) == 0   // equal bytes: equal bit patterns
    }
}
