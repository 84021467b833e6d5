@preconcurrency import CGSL

/// A function of the state that is positive while a pair keeps its mode (SPEC §4 events):
/// `±z_ig` for an on/off pair, `min(α + δ, 1 + δ − α)` for a sliding pair, where the slack
/// δ = `alphaSlack` keeps rounding noise in α (which is ~1e-16 when a one-sided field is itself
/// tangent, α ≡ 0 or 1) from ending a slide. It delays a genuine exit by δ/|α'|, well inside
/// the exit time's conditioning (SPEC §4).
struct EventFunction {
    static let alphaSlack = 1e-12
    /// Hysteresis: a slide ends only when α leaves [0, 1] by this many times its rounding bound.
    static let noiseMargin = 4.0

    let neuron: Int
    let group: Int
    /// +1 on, −1 off, 0 sliding (exit function).
    let sign: Double

    /// For a sliding pair this reads α and the rounding scales of the field's last `evaluate` and
    /// `prepareRoundingScales`, which the caller must have done at y.
    func value(_ y: UnsafePointer<Double>, field: ModeField) -> Double {
        if sign != 0 { return sign * field.preactivation(y, neuron, group) }
        let a = field.alpha[neuron * field.G + group]
        if a.isNaN { return 0.5 }   // c_i = 0: the neuron does not move, nothing to exit.
        let slack = field.alphaSlack(neuron, group)
        return min(a + slack, 1 + slack - a)
    }
}

/// Locates the earliest event inside an accepted step [t0, t0 + H] to a few ulps of t
/// (SPEC §4): GSL's Brent solver on τ ↦ min_k e_k(Φ(τ)), where Φ(τ) re-takes the step from the
/// saved state with size τ. For one-step steppers Φ is one `step_apply` of the same method
/// (so Φ(H) is the accepted state); for the multistep ones Φ integrates adaptively with a
/// one-step companion of the same kind.
final class EventLocator {
    let field: ModeField
    let companion: GSLIntegrator
    let adaptive: Bool
    let dim: Int
    private let work: UnsafeMutablePointer<Double>
    private let fScratch: UnsafeMutablePointer<Double>
    let best: UnsafeMutablePointer<Double>
    private var functions: [EventFunction] = []
    private var needsAlpha = false
    private var t0 = 0.0, hHint = 0.0
    private var y0: UnsafePointer<Double>! = nil
    private var f0: UnsafePointer<Double>? = nil
    private var bestTau = 0.0
    private var failure: Int32 = 0
    /// The GSL status of the last failed re-step.
    var failureStatus: Int32 { failure }

    init(field: ModeField, stepper: Stepper, rtol: Double, atol: Double) {
        self.field = field
        companion = GSLIntegrator(field: field, stepper: stepper.locatorCompanion, rtol: rtol, atol: atol, hstart: 1e-6)
        adaptive = stepper.isMultistep
        dim = field.dimension
        work = .allocate(capacity: dim)
        fScratch = .allocate(capacity: dim)
        best = .allocate(capacity: dim)
    }

    deinit {
        work.deallocate()
        fScratch.deallocate()
        best.deallocate()
    }

    /// Sets the start of the step for `advance` outside `locate`.
    func prepareForProbe(t0: Double, y0: UnsafePointer<Double>, f0: UnsafePointer<Double>, stepHint: Double) {
        self.t0 = t0
        self.y0 = y0
        self.f0 = f0
        hHint = stepHint
    }

    /// Φ(τ) into `out`; false on a GSL failure.
    func advance(_ tau: Double, into out: UnsafeMutablePointer<Double>) -> Bool {
        out.update(from: y0, count: dim)
        if tau == 0 { return true }
        let status: Int32
        if adaptive {
            var t = t0
            status = companion.integrate(t: &t, to: t0 + tau, hstart: min(tau, hHint), y: out)
        } else {
            companion.reset()
            status = companion.singleStep(t: t0, h: tau, y: out, dydtIn: f0)
        }
        if status != GSL_SUCCESS { failure = status }
        return status == GSL_SUCCESS
    }

    /// min_k e_k at a state.
    func value(at y: UnsafePointer<Double>, _ functions: [EventFunction]) -> Double {
        if functions.contains(where: { $0.sign == 0 }) {
            field.evaluate(y, fScratch)
            field.prepareRoundingScales(y)
        }
        var v = Double.infinity
        for e in functions { v = min(v, e.value(y, field: field)) }
        return v
    }

    fileprivate func phi(_ tau: Double) -> Double {
        guard advance(tau, into: work) else { return .nan }
        let v = value(at: work, functions)
        if v <= 0, tau < bestTau {
            bestTau = tau
            best.update(from: work, count: dim)
        }
        return v
    }

    /// A τ in (0, hi) with φ(τ) > 0, probed at hi·2^-k (k = 20 … 1) and at eighths of the step, or nil.
    private func positiveExcursion(below hi: Double) -> Double? {
        let probes = (1...20).reversed().map { hi * pow(2, -Double($0)) } + (2...7).map { hi * Double($0) / 8 }
        for tau in probes {
            let v = phi(tau)
            if v.isNaN { return nil }
            if v > 0 { return tau }
        }
        return nil
    }

    /// Earliest τ in (0, hi] where some function turns non-positive, given that it is negative at
    /// `hi` (state `yHi`). On return `best` holds the state at the returned τ (just past the event).
    /// Returns nil on a GSL failure inside the re-steps.
    func locate(t0: Double, y0: UnsafePointer<Double>, f0: UnsafePointer<Double>, hi: Double, yHi: UnsafePointer<Double>,
                functions: [EventFunction], stepHint: Double) -> Double? {
        self.t0 = t0
        self.y0 = y0
        self.f0 = f0
        self.functions = functions
        hHint = stepHint
        failure = 0
        bestTau = hi
        best.update(from: yHi, count: dim)
        var low = 0.0
        if value(at: y0, functions) <= 0 {
            // The pair starts the step on its surface (it was just switched there). It may first move
            // into its side and return within the step: then the event is that return, not τ = 0.
            // Look for a positive excursion; without one the departure is immediate.
            guard let positive = positiveExcursion(below: hi) else {
                best.update(from: y0, count: dim)
                return 0
            }
            low = positive
            // Only values after the excursion count as the event.
            bestTau = hi
            best.update(from: yHi, count: dim)
        }
        GSLRuntime.prepare()
        let solver = gsl_root_fsolver_alloc(gsl_root_fsolver_brent)!
        defer { gsl_root_fsolver_free(solver) }
        let highValue = value(at: yHi, functions)
        guard highValue < 0 else { return hi }
        // GSL keeps the gsl_function pointer across iterations: it lives on the heap for the solve.
        let function = UnsafeMutablePointer<gsl_function>.allocate(capacity: 1)
        defer { function.deallocate() }
        function.initialize(to: gsl_function(function: { tau, params in
            Unmanaged<EventLocator>.fromOpaque(params!).takeUnretainedValue().phi(tau)
        }, params: Unmanaged.passUnretained(self).toOpaque()))
        guard gsl_root_fsolver_set(solver, function, low, hi) == GSL_SUCCESS else { return failure == 0 ? hi : nil }
        let tolerance = 2 * (t0 + hi).ulp
        for _ in 0..<200 {
            let status = gsl_root_fsolver_iterate(solver)
            if failure != 0 { return nil }
            if status != GSL_SUCCESS { break }
            let lo = gsl_root_fsolver_x_lower(solver), up = gsl_root_fsolver_x_upper(solver)
            if up - lo <= tolerance { break }
        }
        // `best` holds the earliest evaluated τ with a non-positive value.
        return bestTau
    }
}

/// Detection of events in an accepted step from the pre-activations at both ends and their
/// rates: a sign change of `±z`, a dip of the cubic Hermite interpolant below zero (a pair that
/// would cross and come back inside one step), or a sliding α outside [0, 1].
struct EventDetector {
    struct Flag {
        let function: EventFunction
        /// Where the function is (or is predicted to be) negative: H for a sign change, the
        /// interpolant's minimum for a dip.
        let tau: Double
        let isDip: Bool
    }

    static func detect(field: ModeField, y1: UnsafePointer<Double>, H: Double,
                       z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                       z1: UnsafePointer<Double>, zdot1: UnsafePointer<Double>) -> [Flag] {
        let n = field.n, G = field.G
        var flags: [Flag] = []
        var roundingScalesReady = false
        for i in 0..<n {
            let row = i * G
            for g in 0..<G {
                let state = field.states[row + g]
                if state == .sliding {
                    let a = field.alpha[row + g]
                    if a.isNaN || (a >= -EventFunction.alphaSlack && a <= 1 + EventFunction.alphaSlack) { continue }
                    if !roundingScalesReady {
                        field.prepareRoundingScales(y1)
                        roundingScalesReady = true
                    }
                    if EventFunction(neuron: i, group: g, sign: 0).value(y1, field: field) < 0 {
                        flags.append(Flag(function: EventFunction(neuron: i, group: g, sign: 0), tau: H, isDip: false))
                    }
                    continue
                }
                let s: Double = state == .on ? 1 : -1
                let e1 = s * z1[row + g]
                if e1 < 0 {
                    // A pair that sits on its surface (z within rounding of 0 at both ends, as when
                    // its point lies on the line another sliding pair pins the neuron to) is not crossing.
                    let noise = 64 * Double.ulpOfOne * field.preactivationScale(y1, i, g)
                    if -e1 <= noise && abs(z0[row + g]) <= noise { continue }
                    flags.append(Flag(function: EventFunction(neuron: i, group: g, sign: s), tau: H, isDip: false))
                    continue
                }
                let d0 = s * zdot0[row + g], d1 = s * zdot1[row + g]
                guard d0 < 0, d1 > 0 else { continue }
                // A dip counts only if it starts inside the side and goes deeper than rounding of z.
                let e0 = s * z0[row + g]
                let noise = 64 * Double.ulpOfOne * field.preactivationScale(y1, i, g)
                guard e0 > noise else { continue }
                if let tau = hermiteDip(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, depth: noise) {
                    flags.append(Flag(function: EventFunction(neuron: i, group: g, sign: s), tau: tau * H, isDip: true))
                }
            }
        }
        return flags
    }

    /// For the cubic Hermite interpolant on [0, 1] with values e0, e1 and scaled slopes d0, d1,
    /// the position of an interior minimum with a negative value, if any.
    static func hermiteDip(e0: Double, d0: Double, e1: Double, d1: Double, depth: Double = 0) -> Double? {
        // p(s) = a s³ + b s² + c s + e0
        let a = 2 * e0 + d0 - 2 * e1 + d1
        let b = -3 * e0 - 2 * d0 + 3 * e1 - d1
        let c = d0
        var candidates: [Double] = []
        if abs(a) < 1e-300 {
            if b != 0 { candidates.append(-c / (2 * b)) }
        } else {
            let disc = 4 * b * b - 12 * a * c
            if disc >= 0 {
                let r = disc.squareRoot()
                candidates.append((-2 * b + r) / (6 * a))
                candidates.append((-2 * b - r) / (6 * a))
            }
        }
        var best: (Double, Double)? = nil
        for s in candidates where s > 0 && s < 1 {
            let p = ((a * s + b) * s + c) * s + e0
            if p < -depth, best == nil || p < best!.1 { best = (s, p) }
        }
        return best?.0
    }
}
