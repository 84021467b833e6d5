@preconcurrency import CGSL
import CFieldKernels

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

    /// The function at y: ±z, or for a sliding pair the exit function from `evaluation`, the
    /// field's evaluation at y (nil only where no function slides).
    @inline(__always)
    func value<Field: SwitchedSystem>(_ y: UnsafePointer<Double>, field: Field, evaluation: Field.Evaluation?) -> Double {
        if sign != 0 { return sign * field.preactivation(y, neuron, group) }
        return field.slideExitValue(evaluation!, at: y, neuron, group)
    }

    /// The pairs at an event: those whose function is non-positive at the located state, or (for
    /// a crossing) within its rounding `noise` of 0, so that simultaneous events are decided
    /// together. The locator's state is where the smallest function was evaluated non-positive;
    /// evaluated again there, a slide's exit value (which solves for the α's afresh) may come out
    /// at +rounding. Then the pair(s) with the smallest value are the event, never every function
    /// flagged in the step: the others' roots lie later, and deciding them here would switch a
    /// pair that is not on its surface (and project θ onto it).
    static func pairsAtEvent(_ functions: [EventFunction], values: [Double], noise: [Double]) -> [(Int, Int)] {
        var pairs: [(Int, Int)] = []
        for k in functions.indices where values[k] <= noise[k] { pairs.append((functions[k].neuron, functions[k].group)) }
        if pairs.isEmpty, let least = values.min() {
            for k in functions.indices where values[k] == least { pairs.append((functions[k].neuron, functions[k].group)) }
        }
        return pairs
    }

    /// ±z at y: the function of an on/off pair.
    @inline(__always)
    func crossingValue<Field: SwitchedSystem>(_ y: UnsafePointer<Double>, field: Field) -> Double {
        precondition(sign != 0, "a sliding pair's exit function needs the field's evaluation")
        return sign * field.preactivation(y, neuron, group)
    }
}

/// Locates the earliest event inside an accepted step [t0, t0 + H] to a few ulps of t
/// (SPEC §4): GSL's Brent solver on τ ↦ min_k e_k(Φ(τ)), where Φ(τ) re-takes the step from the
/// saved state with size τ. For one-step steppers Φ is one `step_apply` of the same method
/// (so Φ(H) is the accepted state); for the multistep ones Φ integrates adaptively with a
/// one-step companion of the same kind (error-controlled to the run's tolerances: GSL's driver,
/// evolve and standard control), as for a stand-in of another kind (`adaptive`).
final class EventLocator<Field: SwitchedSystem> {
    let field: Field
    /// Made on first use: a run without events, samples inside steps or an escape to locate (a
    /// smooth stretch to T) never re-takes a step, and a GSL driver is several allocations.
    private(set) lazy var companion = GSLIntegrator(field: field, stepper: companionStepper, rtol: rtol, atol: atol, hstart: 1e-6)
    private let companionStepper: Stepper
    /// The run's integrator whose stepper takes the single steps instead of a companion's
    /// (`GSLIntegrator.probeStep`; an explicit one-step method, nil otherwise). Unowned: the run
    /// keeps both, and the integrator is made with its locator.
    private unowned(unsafe) let sharedStepper: GSLIntegrator?
    let adaptive: Bool
    let dim: Int
    let rtol: Double, atol: Double
    private let work: UnsafeMutablePointer<Double>
    private let fScratch: UnsafeMutablePointer<Double>
    private let moved: UnsafeMutablePointer<Double>
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

    /// Whether `nudge` may finish a location (FlowOptions.eventShortcuts).
    let shortcuts: Bool

    /// `adaptive`: Φ by a controlled integration rather than one step (default: for the multistep
    /// methods). A locator standing in for another method's (rk8pd where an implicit re-step
    /// failed) integrates: its single step would reproduce nothing but its own truncation error,
    /// uncontrolled over a step the other method chose.
    ///
    /// `sharing`: the run's integrator of `stepper`, whose stepper the single steps may use (taken
    /// where that is an explicit one-step method: its steps read nothing of the step before, so a
    /// step of its shared stepper is bitwise one of a fresh companion of the same type, without the
    /// companion's GSL driver and stages allocated in every run that re-takes a step).
    init(field: Field, stepper: Stepper, rtol: Double, atol: Double, shortcuts: Bool = true, adaptive: Bool? = nil,
         sharing integrator: GSLIntegrator? = nil) {
        // The shortcuts move along the field to first order in z: exact to second order only
        // where z is affine in θ.
        self.shortcuts = shortcuts && field.switchingIsAffine
        self.field = field
        companionStepper = stepper.locatorCompanion
        self.adaptive = adaptive ?? stepper.isMultistep
        let shares = !self.adaptive && !stepper.usesJacobian && integrator?.stepper == companionStepper
        sharedStepper = shares ? integrator : nil
        dim = field.dimension
        self.rtol = rtol
        self.atol = atol
        work = .allocate(capacity: dim)
        fScratch = .allocate(capacity: dim)
        moved = .allocate(capacity: dim)
        best = .allocate(capacity: dim)
    }

    deinit {
        work.deallocate()
        fScratch.deallocate()
        moved.deallocate()
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
        } else if let shared = sharedStepper {
            status = shared.probeStep(t: t0, h: tau, y: out, dydtIn: f0)
        } else {
            companion.reset()
            status = companion.singleStep(t: t0, h: tau, y: out, dydtIn: f0)
        }
        if status != GSL_SUCCESS { failure = status }
        return status == GSL_SUCCESS
    }

    /// e_k at a state, each (the field evaluated there, counted, when a function slides).
    func values(at y: UnsafePointer<Double>, _ functions: [EventFunction]) -> [Double] {
        let evaluation = functions.contains(where: { $0.sign == 0 }) ? field.evaluation(at: y, into: fScratch) : nil
        return functions.map { $0.value(y, field: field, evaluation: evaluation) }
    }

    /// min_k e_k at a state (the field evaluated there, counted, when a function slides).
    func value(at y: UnsafePointer<Double>, _ functions: [EventFunction]) -> Double {
        let evaluation = functions.contains(where: { $0.sign == 0 }) ? field.evaluation(at: y, into: fScratch) : nil
        var v = Double.infinity
        for e in functions { v = min(v, e.value(y, field: field, evaluation: evaluation)) }
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

    /// Bracketed Newton on φ from `guess`, φ(low) > 0 ≥ φ(high): each iterate re-takes the step
    /// (one `advance`) and evaluates the field there for the slope of the smallest function,
    /// d(s·z)/dτ = s·ż (one evaluation; Φ'(τ) equals the field to the method's order). Every
    /// value narrows the bracket; a step leaving it bisects.
    ///
    /// φ is known only to its rounding level ν = 64 ε (|b_i| + Σ|w_ik x_k|) (the noise the
    /// detector allows): below it the sign is noise and the time is determined only to ν/|ż|,
    /// the event's conditioning. So a value in [−3ν, 0] ends the search (that τ is the event),
    /// and a small positive value aims 1.5ν past the surface, so that the next value lands in that
    /// window. (A narrower window with a farther aim lets searches stall below the surface, where
    /// the value no longer changes with τ, and fall back to Brent.)
    /// Returns the bracket and whether it is closed (by that rule or to `tolerance`), nil on a
    /// GSL failure.
    private func newton(from guess: Double, low: Double, high: Double, tolerance: Double,
                        maxIterations: Int = 6) -> (low: Double, high: Double, closed: Bool)? {
        var lo = low, up = high, tau = guess
        for _ in 0..<maxIterations {
            let v = phi(tau)
            if v.isNaN { return nil }
            // The smallest function at Φ(τ) (`work` holds the state), its rounding level and slope.
            var smallest = functions[0], least = Double.infinity
            for e in functions {
                let value = e.crossingValue(work, field: field)
                if value < least { least = value; smallest = e }
            }
            let noise = field.preactivationNoise(work, smallest.neuron, smallest.group)
            if v > 0 { lo = tau } else { up = tau }
            if up - lo <= tolerance || (v <= 0 && -v <= 3 * noise) { return (lo, up, true) }
            field.evaluate(work, fScratch)
            let slope = smallest.sign * field.preactivationRate(work, fScratch, smallest.neuron, smallest.group)
            var step = slope < 0 ? -v / slope : .nan
            if step.isFinite && v <= 4 * noise { step += 1.5 * noise / -slope }
            let next = tau + step
            if next > lo && next < up && nudge(from: tau, state: work, field: fScratch, by: step, along: smallest, noise: noise) {
                return (lo, up, true)
            }
            tau = next > lo && next < up ? next : (lo + up) / 2
        }
        return (lo, up, false)
    }

    /// The last Newton step δ taken as a move along the field, y(τ + δ) ≈ y(τ) + δ f(y(τ)), instead
    /// of a re-taken step (forward from a Newton iterate, or backward from the end of the step),
    /// when its second-order error ½δ²ÿ is negligible: below 1% of the step control's tolerance
    /// atol + rtol|y_p| in every component, and below the rounding level ν of the event's z (so
    /// the event time keeps its conditioning ν/|ż|). ÿ is estimated by the difference quotient
    /// (f(y(τ)) − f(y0))/τ, within one mode. `y` and `f` are y(τ) and f(y(τ)). The move is kept (in
    /// `best`, at τ + δ) only if the event function ends in [−3ν, 0] and no other function is
    /// further past its surface.
    /// Near an event δ is the Hermite guess's error, O(H⁴), so in short steps (many events per
    /// unit time) this saves the second re-step of nearly every location.
    private func nudge(from tau: Double, state y: UnsafePointer<Double>, field f: UnsafePointer<Double>,
                       by delta: Double, along event: EventFunction, noise: Double) -> Bool {
        guard shortcuts, let f0, tau > 0, delta.isFinite else { return false }
        let curvature = 0.5 * delta * delta / tau
        let zddot = abs(field.preactivationRate(y, f, event.neuron, event.group) - field.preactivationRate(y0, f0, event.neuron, event.group))
        guard curvature * zddot <= noise else { return false }
        for p in 0..<dim where curvature * abs(f[p] - f0[p]) > 0.01 * (atol + rtol * abs(y[p])) { return false }
        for p in 0..<dim { moved[p] = y[p] + delta * f[p] }
        var least = Double.infinity
        for e in functions {
            let value = e.crossingValue(moved, field: field)
            if value < -3 * field.preactivationNoise(moved, e.neuron, e.group) { return false }
            least = min(least, value)
        }
        guard least <= 0 else { return false }
        best.update(from: moved, count: dim)
        bestTau = tau + delta
        return true
    }

    /// `nudge` backward from the end of the step (state `yHi`, field `fHi`) to the earliest
    /// linearised crossing τ_k = H − e_k/ė_k of the functions past their surface there. Only
    /// when that crossing agrees with the detector's `guess` (the earliest root of the Hermite
    /// interpolants, dips included) to a tenth of the move: a function that crossed early in the
    /// step and came back near its surface at the end, or a dip between, has its root far from
    /// the linearisation at the end, and is left to Newton from the guess.
    private func nudgeBack(hi: Double, yHi: UnsafePointer<Double>, fHi: UnsafePointer<Double>, guess: Double) -> Bool {
        var earliest: (tau: Double, event: EventFunction, noise: Double, value: Double)? = nil
        for e in functions {
            let v = e.crossingValue(yHi, field: field)
            guard v <= 0 else { continue }
            let slope = e.sign * field.preactivationRate(yHi, fHi, e.neuron, e.group)
            guard slope < 0 else { return false }
            let noise = field.preactivationNoise(yHi, e.neuron, e.group)
            let tau = hi - v / slope
            if earliest == nil || tau < earliest!.tau { earliest = (tau, e, noise, v) }
        }
        guard let earliest else { return false }
        // Aim 1.5ν past the surface, as Newton does.
        let slope = earliest.event.sign * field.preactivationRate(yHi, fHi, earliest.event.neuron, earliest.event.group)
        let delta = min((-earliest.value - 1.5 * earliest.noise) / slope, 0)
        guard hi + delta > 0, abs(earliest.tau - guess) <= 0.1 * abs(hi - earliest.tau) + 16 * (t0 + hi).ulp else { return false }
        return nudge(from: hi, state: yHi, field: fHi, by: delta, along: earliest.event, noise: earliest.noise)
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
    ///
    /// With a `guess` (the root of the detector's Hermite interpolant) and only on/off functions,
    /// a bracketed Newton iteration comes first (`newton`); it needs about half the re-steps of
    /// Brent from [0, hi]. Brent finishes whatever bracket it leaves open.
    func locate(t0: Double, y0: UnsafePointer<Double>, f0: UnsafePointer<Double>, hi: Double, yHi: UnsafePointer<Double>,
                functions: [EventFunction], stepHint: Double, guess: Double? = nil,
                fHi: UnsafePointer<Double>? = nil) -> Double? {
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
        let tolerance = 2 * (t0 + hi).ulp
        var up = hi
        if low == 0, let guess, guess > 0, guess < hi, functions.allSatisfy({ $0.sign != 0 }) {
            // A step that ends just past the event (as one aimed at a predicted crossing does):
            // move back from its end along the field there, with no re-step at all.
            if let fHi, nudgeBack(hi: hi, yHi: yHi, fHi: fHi, guess: guess) { return bestTau }
            guard let bracket = newton(from: guess, low: 0, high: hi, tolerance: tolerance) else { return nil }
            if bracket.closed { return bestTau }
            (low, up) = (bracket.low, bracket.high)
        }
        GSLRuntime.prepare()
        let solver = gsl_root_fsolver_alloc(gsl_root_fsolver_brent)!
        defer { gsl_root_fsolver_free(solver) }
        let highValue = value(at: yHi, functions)
        guard highValue < 0 else { return hi }
        // GSL keeps the gsl_function pointer across iterations: it lives on the heap for the solve.
        // (A C callback cannot name the generic locator: it reaches φ through a non-generic box.)
        let box = RootFunction { [unowned self] in self.phi($0) }
        let function = UnsafeMutablePointer<gsl_function>.allocate(capacity: 1)
        defer { function.deallocate() }
        function.initialize(to: gsl_function(function: { tau, params in
            Unmanaged<RootFunction>.fromOpaque(params!).takeUnretainedValue().phi(tau)
        }, params: Unmanaged.passUnretained(box).toOpaque()))
        defer { withExtendedLifetime(box) {} }
        guard gsl_root_fsolver_set(solver, function, low, up) == GSL_SUCCESS else { return failure == 0 ? bestTau : nil }
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

/// φ for GSL's root solver callback.
private final class RootFunction {
    let phi: (Double) -> Double
    init(_ phi: @escaping (Double) -> Double) { self.phi = phi }
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
        /// Where the Hermite interpolant first reaches zero (a starting guess for `locate`), if known.
        var root: Double? = nil
    }

    /// `surfaceValues` at the end of the step (into z1, zdot1) fused with event detection: each row is
    /// screened right after it is computed, while it is in cache, and rows of neurons without
    /// sliding pairs are screened four pairs at a time (s = 2·slope − 1 is the on/off sign there);
    /// only lanes that fail the screen go through the per-pair tests (`detectRow`). The flags
    /// come in pair order.
    /// `e1` is the field's evaluation at y1 (the sliding α's; its rounding levels are computed
    /// here, once, only when an α lies outside [−δ, 1 + δ] with δ = `EventFunction.alphaSlack`).
    static func scan(field: ModeField, y1: UnsafePointer<Double>, f1: UnsafePointer<Double>, evaluation e1: FieldEvaluation,
                     H: Double, z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                     z1: UnsafeMutablePointer<Double>, zdot1: UnsafeMutablePointer<Double>) -> [Flag] {
        let n = field.n, G = field.G, G4 = G & ~3
        var flags: [Flag] = []
        var endEvaluation = e1
        let slope = field.slope
        if field.kernelsApply {
            // Where the field's kernels run: the rows and the screen in AVX2 lanes, all rows in one C
            // call (`ModeField.scanRows`: the sums of `surfaceRow` and the decisions of the screen
            // below, row by row), then the per-pair tests of the flagged lanes and of the tail
            // g ≥ G4, in pair order (they read only their own row of z and ż).
            let (hits, counts, sliding) = field.scanRows(y1, f1, z1: z1, zdot0: zdot0, zdot1: zdot1)
            var h = 0
            for i in 0..<n {
                let count = counts[i]
                defer { h += count }
                if sliding[i] != 0 {
                    // A sliding neuron's row: every lane holding a sliding pair (its α is tested) and
                    // every lane of on/off pairs that fails the screen (which reads the sliding pairs
                    // as off: their lanes are tested whatever it says), in ascending order; the same
                    // flags as testing the whole row (issue 22: ~20 per-pair tests a row otherwise).
                    guard let groups = field.slidingGroups(i) else {
                        detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                                  range: 0..<G, flags: &flags, evaluation: &endEvaluation)
                        continue
                    }
                    var a = 0, k = 0
                    while true {
                        let nextSliding = a < groups.count && groups[a] < G4 ? groups[a] & ~3 : Int.max
                        let nextHit = k < count ? hits[h + k] : Int.max
                        let start = min(nextSliding, nextHit)
                        if start == Int.max { break }
                        detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                                  range: start..<(start + 4), flags: &flags, evaluation: &endEvaluation)
                        while a < groups.count && groups[a] < start + 4 { a += 1 }
                        if nextHit == start { k += 1 }
                    }
                } else {
                    for k in 0..<count {
                        let start = hits[h + k]
                        detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                                  range: start..<(start + 4), flags: &flags, evaluation: &endEvaluation)
                    }
                }
                // The tail g ≥ G4, which the screen does not cover.
                if G4 < G {
                    detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                              range: G4..<G, flags: &flags, evaluation: &endEvaluation)
                }
            }
            return flags
        }
        // The sliding neurons' flags in temporary (stack) storage: the scan runs at every step end
        // (issue 22: heap arrays a scan were ~1 000 instructions of it).
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { buffer in
        let sliding = buffer.baseAddress!
        sliding.initialize(repeating: 0, count: n)
        for i in field.slidingNeurons { sliding[i] = 1 }
        for i in 0..<n {
            let row = i * G
            field.surfaceRow(y1, f1, i, z: z1, zdot: zdot1)
            if sliding[i] != 0 {
                detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                          range: 0..<G, flags: &flags, evaluation: &endEvaluation)
                continue
            }
            var g = 0
            while g < G4 {
                let q = row + g
                let s = 2 * load4(slope + q) - 1
                let e1 = s * load4(z1 + q), d0 = s * load4(zdot0 + q), d1 = s * load4(zdot1 + q)
                // min(e1, max(d0, −d1)) ≥ 0 in every lane: nothing to test (blends, not calls).
                let nd1 = -d1
                let rate = d0.replacing(with: nd1, where: nd1 .> d0)
                if any(.!(e1.replacing(with: rate, where: rate .< e1) .>= 0)) {
                    detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                              range: g..<(g + 4), flags: &flags, evaluation: &endEvaluation)
                }
                g += 4
            }
            if g < G {
                detectRow(i, field: field, y1: y1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                          range: g..<G, flags: &flags, evaluation: &endEvaluation)
            }
        }
        return flags
        }
    }

    /// The per-pair tests of the scan on the pairs (i, g), g ∈ range.
    private static func detectRow(_ i: Int, field: ModeField, y1: UnsafePointer<Double>, H: Double,
                                  z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                                  z1: UnsafePointer<Double>, zdot1: UnsafePointer<Double>, range: Range<Int>,
                                  flags: inout [Flag], evaluation e1: inout FieldEvaluation) {
        let G = field.G
        let states = field.states   // one reference for the scan, not a property read per pair
        let row = i * G
        for g in range {
            let state = states[row + g]
            if state == .sliding {
                let a = e1.alpha(row + g)
                if a.isNaN || (a >= -EventFunction.alphaSlack && a <= 1 + EventFunction.alphaSlack) { continue }
                if !e1.hasRoundingLevels { e1 = field.withRoundingLevels(e1, at: y1) }
                if field.slideExitValue(e1, at: y1, i, g) < 0 {
                    flags.append(Flag(function: EventFunction(neuron: i, group: g, sign: 0), tau: H, isDip: false))
                }
                continue
            }
            let s = 2 * Double(state.rawValue) - 1   // +1 on, −1 off
            let e1 = s * z1[row + g]
            let d0 = s * zdot0[row + g], d1 = s * zdot1[row + g]
            // One well-predicted branch for the common case (no sign change, no rate reversal):
            // testing e1 < 0 and d0 < 0 < d1 separately mispredicts on the random sign of d0.
            if min(e1, max(d0, -d1)) >= 0 { continue }
            if e1 < 0 {
                // A pair that sits on its surface (z within rounding of 0 at both ends, as when
                // its point lies on the line another sliding pair pins the neuron to) is not crossing.
                let noise = field.preactivationNoise(y1, i, g)
                if -e1 <= noise && abs(z0[row + g]) <= noise { continue }
                let e0 = s * z0[row + g]
                let root = e0 > 0 ? hermiteFirstRoot(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, upTo: 1).map { $0 * H } : nil
                flags.append(Flag(function: EventFunction(neuron: i, group: g, sign: s), tau: H, isDip: false, root: root))
                continue
            }
            guard d0 < 0, d1 > 0 else { continue }
            // A dip counts only if it starts inside the side and goes deeper than rounding of z.
            let e0 = s * z0[row + g]
            let noise = field.preactivationNoise(y1, i, g)
            guard e0 > noise else { continue }
            if let tau = hermiteDip(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, depth: noise) {
                let root = hermiteFirstRoot(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, upTo: tau).map { $0 * H }
                flags.append(Flag(function: EventFunction(neuron: i, group: g, sign: s), tau: tau * H, isDip: true, root: root))
            }
        }
    }

    /// The cubic Hermite interpolant p on [0, 1] with p(0) = e0, p(1) = e1, p'(0) = d0, p'(1) = d1.
    /// The zeros of p' (p(s) = a s³ + b s² + d0 s + e0, so p'(s) = 3a s² + 2b s + d0), unordered.
    static func hermiteCriticalPoints(e0: Double, d0: Double, e1: Double, d1: Double) -> [Double] {
        let (count, s0, s1) = hermiteCriticalPair(e0: e0, d0: d0, e1: e1, d1: d1)
        return count == 0 ? [] : count == 1 ? [s0] : [s0, s1]
    }

    /// `hermiteCriticalPoints` as a count (0, 1 or 2) and the points in the same order, without an
    /// array: the scan tests every pair whose rate reverses in a step for a dip (issue 22: an
    /// allocation each).
    @inline(__always)
    static func hermiteCriticalPair(e0: Double, d0: Double, e1: Double, d1: Double) -> (count: Int, Double, Double) {
        let a = 2 * e0 + d0 - 2 * e1 + d1
        let b = -3 * e0 - 2 * d0 + 3 * e1 - d1
        if abs(a) < 1e-300 { return b != 0 ? (1, -d0 / (2 * b), .nan) : (0, .nan, .nan) }
        let disc = 4 * b * b - 12 * a * d0
        guard disc >= 0 else { return (0, .nan, .nan) }
        let r = disc.squareRoot()
        return (2, (-2 * b + r) / (6 * a), (-2 * b - r) / (6 * a))
    }

    static func hermite(_ s: Double, e0: Double, d0: Double, e1: Double, d1: Double) -> Double {
        let a = 2 * e0 + d0 - 2 * e1 + d1
        let b = -3 * e0 - 2 * d0 + 3 * e1 - d1
        return ((a * s + b) * s + d0) * s + e0
    }

    /// The quintic Hermite interpolant on s ∈ [0, 1] with values e, first derivatives d and second
    /// derivatives a (in s) at both ends.
    static func quinticHermite(_ s: Double, e0: Double, d0: Double, a0: Double, e1: Double, d1: Double, a1: Double) -> Double {
        let s2 = s * s, s3 = s2 * s
        let h0 = 1 + s3 * (-10 + s * (15 - 6 * s))
        let h1 = s + s3 * (-6 + s * (8 - 3 * s))
        let h2 = 0.5 * s2 + s3 * (-1.5 + s * (1.5 - 0.5 * s))
        let h3 = s3 * (0.5 + s * (-1 + 0.5 * s))
        let h4 = s3 * (-4 + s * (7 - 3 * s))
        let h5 = 1 - h0
        return h0 * e0 + h1 * d0 + h2 * a0 + h3 * a1 + h4 * d1 + h5 * e1
    }

    /// The first s in (0, end] where the Hermite interpolant (p(0) = e0 > 0) reaches zero, or nil:
    /// the first monotone piece (split at the critical points) whose end is non-positive, then
    /// bisection to rounding.
    static func hermiteFirstRoot(e0: Double, d0: Double, e1: Double, d1: Double, upTo end: Double) -> Double? {
        // The piece ends: the critical points inside (0, end), ascending, then `end` (no arrays).
        let (count, c0, c1) = hermiteCriticalPair(e0: e0, d0: d0, e1: e1, d1: d1)
        var ends: (Double, Double, Double) = (end, end, end)
        var pieces = 0
        for k in 0..<count {
            let c = k == 0 ? c0 : c1
            guard c > 0 && c < end else { continue }
            if pieces == 0 { ends.0 = c } else if c < ends.0 { ends.1 = ends.0; ends.0 = c } else { ends.1 = c }
            pieces += 1
        }
        var lo = 0.0
        for piece in 0...pieces {
            let hi = piece == 0 ? ends.0 : piece == 1 ? ends.1 : ends.2
            if hermite(hi, e0: e0, d0: d0, e1: e1, d1: d1) <= 0 {
                var l = lo, u = hi
                for _ in 0..<100 where u - l > 4 * u.ulp {
                    let mid = (l + u) / 2
                    if hermite(mid, e0: e0, d0: d0, e1: e1, d1: d1) > 0 { l = mid } else { u = mid }
                }
                return u
            }
            lo = hi
        }
        return nil
    }

    /// For the cubic Hermite interpolant on [0, 1] with values e0, e1 and scaled slopes d0, d1,
    /// the position of an interior minimum with a negative value, if any.
    static func hermiteDip(e0: Double, d0: Double, e1: Double, d1: Double, depth: Double = 0) -> Double? {
        let (count, c0, c1) = hermiteCriticalPair(e0: e0, d0: d0, e1: e1, d1: d1)
        var best: (Double, Double)? = nil
        for k in 0..<count {
            let s = k == 0 ? c0 : c1
            guard s > 0 && s < 1 else { continue }
            let p = hermite(s, e0: e0, d0: d0, e1: e1, d1: d1)
            if p < -depth, best == nil || p < best!.1 { best = (s, p) }
        }
        return best?.0
    }
}
