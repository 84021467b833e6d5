import Foundation

/// The rule behind `stepper: auto` (a fixed stepper name means no switching).
///
/// The early flow is event-heavy and non-stiff; the late flow is smooth and stiff (the Hessian's
/// spread grows as the loss converges, SPEC §6), where an explicit method's step is held at its
/// stability limit ≈ C/ρ by the fastest time scale 1/ρ rather than by accuracy. So:
/// - start with rk8pd (explicit Prince–Dormand 8(9));
/// - every `checkInterval` explicit steps estimate ρ, the spectral radius of ∂f/∂θ, by power
///   iteration on directional derivatives of the field; when the accepted step satisfies
///   h·ρ ≥ `stiffnessRatio`, the step is stability-limited: switch to msbdf (variable-order BDF
///   with the analytic Jacobian of SPEC §3);
/// - after every event switch back to the explicit stepper, which restarts at full order at once,
///   while a BDF method restarts at order 1 with small steps; the next check comes after the usual
///   `checkInterval` steps, also where the flow was stiff before the event: an event starts a
///   transient in which msbdf (at order 1 and up, at rtol·`stiffToleranceFactor`) is held by
///   accuracy to steps no longer than the explicit stepper's stability-limited ones, so a BDF
///   segment begun there (checked a few steps after the event, or at the event itself) spends
///   more than the explicit steps it replaces (and on the RMSProp flow some such segments crawl);
/// - while events are dense (a knot sweeping through many points, large m), steps end at events
///   rather than where accuracy would end them, and a step's cost is its stage count: the explicit
///   stepper is then rkck (Cash–Karp 4(5), 6 stages) instead of rk8pd (13 stages). Dense means that
///   the moving average (weight 1/8) of "this explicit step ended at an event or had its crossings
///   batched" exceeds 1/2 (batches too hold the step short, where rkck's cheaper steps pay); rk8pd
///   returns when it falls below 1/5 (with steps held short, rkck's cheaper stages pay; in long
///   smooth phases rk8pd's steps are several times longer);
/// - a BDF step costs more than an explicit one, much more with many parameters: msbdf factors
///   the (P+1)×(P+1) iteration matrix (≈ ⅔(P+1)³ operations; GSL's LU), against the explicit
///   method's stages of ≈ n·m·(2d + 6) each. When a BDF segment ends (at the next event), its mean
///   step over the explicit step it replaced is kept; when the cost ratio (`stiffStepCostRatio`)
///   is at least `dearStiffStep` and that gain is below it, stability-limited checks do not
///   switch, except every `retryAfterDeclines`-th, which tries again (the flow may have grown
///   stiffer). The rule counts operations, not seconds, so runs stay reproducible.
struct StepperPolicy {
    let requested: Stepper
    static let explicitStepper = Stepper.rk8pd
    static let eventStepper = Stepper.rkck
    static let densityWeight = 1.0 / 8
    static let denseAbove = 0.5, sparseBelow = 0.2
    static let stiffStepper = Stepper.msbdf
    /// Explicit steps between stiffness checks.
    var checkInterval = 50
    /// h·ρ beyond which the explicit step counts as stability-limited (rk8pd's real stability
    /// interval reaches about −6; near it the step is set by stability, not accuracy).
    var stiffnessRatio = 2.5
    /// msbdf runs with rtol and atol times this factor: a BDF method's global error at a given
    /// local tolerance is larger than an 8th-order explicit method's, and with the factor its
    /// event times match rk8pd's to the engine's accuracy while its steps stay cheap.
    static let stiffToleranceFactor = 0.01

    /// The first msbdf step of a BDF segment, as a fraction of the order-1 accuracy limit
    /// (`stiffStartStep`).
    static let stiffStartSafety = 0.5

    /// The first step of a BDF segment: GSL's msbdf (re)starts at order 1 (backward Euler), whose
    /// error estimate is ≈ ½h²|y''| (its error coefficient ½ times the corrector's change h²y''),
    /// against the control's level D_i = atol + rtol·|y_i| per component. The step where the worst
    /// ratio ½h²|y''_i|/D_i is ½ (the control's "keep h" band) is h* = 1/√(max_i |y''_i|/D_i); the
    /// first step is `stiffStartSafety`·h*. Without it msbdf tried the explicit step it replaced,
    /// ~10³ h* at rtol·0.01, and cut it by GSL's largest factor, 1/5, until accepted: five
    /// rejections, each rebuilding the Jacobian and the iteration matrix (a rejected first step
    /// resets the method). `acceleration` holds y'' (≈ J f); nil where it gives no bound (y'' = 0,
    /// or not finite).
    static func stiffStartStep(y: UnsafePointer<Double>, acceleration: UnsafePointer<Double>, count: Int,
                               rtol: Double, atol: Double) -> Double? {
        var worst = 0.0
        for i in 0..<count {
            let ratio = abs(acceleration[i]) / (atol + rtol * abs(y[i]))
            guard ratio.isFinite else { return nil }
            worst = max(worst, ratio)
        }
        guard worst > 0 else { return nil }
        return stiffStartSafety / worst.squareRoot()
    }

    /// h·ρ at which a stepper counts as stability-limited: rk8pd's real stability interval reaches
    /// about −6, rkck's (its 5th-order solution) about −3.7, so its threshold is scaled by that ratio.
    func stiffnessRatio(_ stepper: Stepper) -> Double {
        stepper == Self.eventStepper ? stiffnessRatio * 3.7 / 6 : stiffnessRatio
    }

    /// The explicit stepper for an event density (with hysteresis between the two thresholds).
    func explicitStepper(eventDensity: Double, current: Stepper) -> Stepper {
        if eventDensity > Self.denseAbove { return Self.eventStepper }
        if eventDensity < Self.sparseBelow { return Self.explicitStepper }
        return current
    }

    /// Cost ratio from which a switch the stiffness bound asks for is checked against the field's
    /// sharper estimate (`SwitchedSystem.refinedStiffnessEstimate`: the RMSProp flow's linearisation,
    /// 24 Hessian–vector products, about two explicit steps' work). There a BDF step costs at least
    /// 64 explicit steps (the (2P + 1)² iteration matrix's factorisation: ratios of 100 to 4·10⁴ on
    /// the escape grid's networks of width ≥ 8 or depth ≥ 8), and a switch the bound asks for
    /// wrongly, as it does where a unit off on every point leaves g = v = 0 (√v + ε = ε), costs
    /// seconds a step; below it (the reference cases: 6 to 15) a BDF step is cheap, the check
    /// costs as much as it could save, and the bound decides alone, as before.
    static let refineFrom = 64.0

    /// Declined stiff checks after which a switch is tried again.
    static let retryAfterDeclines = 16
    /// Cost ratio from which a BDF step counts as dear and its gain is checked. Below it (small
    /// P: the built-in examples have ratios near 1.2) a BDF segment that ends early at an event
    /// says little about the stiff phase, and switching stays as before: on `sine` to t = 3000,
    /// checking there too took auto from 2 030 to 2 334 steps.
    static let dearStiffStep = 4.0

    /// Cost of one msbdf step over one step of `explicit`, in operations: the LU factorisation
    /// of the iteration matrix (⅔ dim³, once per step when the step size changes, as it does)
    /// plus about three field evaluations, against the explicit stages (13 for rk8pd, 6 for rkck);
    /// a field evaluation ≈ pairs · (2d + 6).
    func stiffStepCostRatio(parameters dim: Int, pairs: Int, d: Int, explicit: Stepper) -> Double {
        let field = Double(pairs) * Double(2 * d + 6)
        let stages: Double = explicit == Self.eventStepper ? 6 : 13
        let lu = 2.0 / 3.0 * pow(Double(dim), 3)
        return (lu + 3 * field) / (stages * field)
    }

    var switches: Bool { requested == .auto }
    var initial: Stepper { requested.resolved }
}

extension ModeField {
    /// Spectral radius of ∂f/∂θ at y by power iteration (`iterations` field evaluations), with
    /// directional derivatives by differences. An estimate for the stepper choice only; the
    /// implicit steppers get the analytic Jacobian.
    func spectralRadiusEstimate(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, iterations: Int = 12) -> Double {
        let dim = dimension
        var v = [Double](repeating: 0, count: dim)
        for p in 0..<P { v[p] = p % 2 == 0 ? 1 : -0.7 }
        var norm = (v.reduce(0) { $0 + $1 * $1 }).squareRoot()
        for p in 0..<P { v[p] /= norm }
        var yNorm = 0.0
        for p in 0..<P { yNorm += y[p] * y[p] }
        let eps = Double.ulpOfOne.squareRoot() * max(1, yNorm.squareRoot())
        var shifted = [Double](repeating: 0, count: dim), fShifted = [Double](repeating: 0, count: dim)
        var estimate = 0.0
        for _ in 0..<iterations {
            for p in 0..<dim { shifted[p] = y[p] + eps * v[p] }
            evaluate(shifted, &fShifted)
            norm = 0
            for p in 0..<P {
                v[p] = (fShifted[p] - f[p]) / eps
                norm += v[p] * v[p]
            }
            v[P] = 0
            norm = norm.squareRoot()
            guard norm > 0, norm.isFinite else { return estimate }
            estimate = norm
            for p in 0..<P { v[p] /= norm }
        }
        return estimate
    }
}

/// The stepper in use and the state of the `auto` rule (`StepperPolicy`): the event density that
/// chooses rk8pd or rkck, the stiffness checks, the BDF segments and whether the last one paid.
/// It decides; the driver switches its integrators (`FlowIntegration.switchStepper`) and reports
/// the steps back.
struct StepperController {
    let policy: StepperPolicy
    /// The stepper that takes the next step.
    private(set) var active: Stepper
    /// The explicit stepper of the `auto` rule (rk8pd, or rkck while events are dense).
    private(set) var explicitChoice = StepperPolicy.explicitStepper
    /// Moving average of whether an explicit step ended at an event.
    private(set) var eventDensity = 0.0
    private var explicitStepsSinceCheck = 0
    /// The BDF segment in progress: where it began, msbdf's step count then, the discarded steps
    /// then, and the explicit step size it replaced.
    private var stiffSegment: (t: Double, steps: Int, discarded: Int, explicitStep: Double)? = nil
    /// msbdf steps taken and then discarded because an event lay inside them (re-taken explicitly).
    private(set) var stiffStepsDiscarded = 0
    /// Mean BDF step over the explicit step it replaced, in the last BDF segment (nil before one).
    private(set) var stiffStepGain: Double? = nil
    /// Stiff checks declined since, because the last BDF segment did not pay.
    private var declinedStiffChecks = 0
    /// An implicit stepper chosen by name failed a step: rk8pd runs until the next event.
    var implicitFallback = false
    /// The last accepted explicit step size.
    private(set) var lastExplicitStep: Double? = nil
    /// The last spectral radius estimate (a lower bound on |J|, also used by crossing batches).
    private(set) var lastSpectralRadius = 0.0
    /// GSL steps attempted and their wall seconds per stepper (by `Stepper.ordinal`: a dictionary's
    /// update hashes the stepper twice a step), and the switches.
    private var stepTally = [Int](repeating: 0, count: Stepper.allCases.count)
    private var secondTally = [Double](repeating: 0, count: Stepper.allCases.count)
    private(set) var switches = 0
    /// The steppers attempted, by name (as the run's diagnostics keep them), and their steps and
    /// seconds.
    var stepsByName: [String: Int] {
        var out: [String: Int] = [:]
        for s in Stepper.allCases where stepTally[s.ordinal] > 0 { out[s.rawValue] = stepTally[s.ordinal] }
        return out
    }
    var secondsByName: [String: Double] {
        var out: [String: Double] = [:]
        for s in Stepper.allCases where stepTally[s.ordinal] > 0 { out[s.rawValue] = secondTally[s.ordinal] }
        return out
    }

    init(policy: StepperPolicy) {
        self.policy = policy
        active = policy.initial
    }

    /// Whether the `auto` rule runs its stiff stepper now.
    var isStiff: Bool { policy.switches && active == StepperPolicy.stiffStepper }

    /// A GSL step of the active stepper was attempted, taking `seconds`.
    mutating func attempted(seconds s: Double) {
        let o = active.ordinal
        secondTally[o] += s
        stepTally[o] += 1
    }

    /// A step of size h was accepted.
    mutating func accepted(stepSize h: Double) {
        if active != StepperPolicy.stiffStepper { lastExplicitStep = h }
    }

    /// A BDF step was discarded because an event lay inside it.
    mutating func discardedStiffStep() { stiffStepsDiscarded += 1 }

    /// Makes `stepper` active at t (ending a BDF segment: its gain is kept); false when it already is.
    mutating func switchTo(_ stepper: Stepper, at t: Double) -> Bool {
        guard stepper != active else { return false }
        if active == StepperPolicy.stiffStepper, let segment = stiffSegment {
            let taken = stepTally[active.ordinal] - segment.steps - (stiffStepsDiscarded - segment.discarded)
            if taken > 0 && t > segment.t { stiffStepGain = (t - segment.t) / Double(taken) / segment.explicitStep }
            stiffSegment = nil
        }
        active = stepper
        switches += 1
        explicitStepsSinceCheck = 0
        return true
    }

    /// After an accepted explicit step: the event-density part of the rule; the explicit stepper
    /// to switch to, if it changes.
    mutating func explicitStepEnded(atEvent: Bool) -> Stepper? {
        guard policy.switches, active != StepperPolicy.stiffStepper else { return nil }
        eventDensity += StepperPolicy.densityWeight * ((atEvent ? 1 : 0) - eventDensity)
        let choice = policy.explicitStepper(eventDensity: eventDensity, current: explicitChoice)
        guard choice != explicitChoice else { return nil }
        explicitChoice = choice
        return choice
    }

    /// After an accepted explicit step of size h: every `checkInterval` steps, whether it is
    /// stability-limited (h·ρ ≥ `stiffnessRatio`, ρ from `spectralRadius`) and the BDF stepper
    /// pays for its dearer steps (`costRatio` against the last segment's gain, retried after
    /// `retryAfterDeclines` declines). True: switch to the stiff stepper and `beginStiffSegment`.
    ///
    /// `gainBound`: the most a BDF step could gain over h here (nil: no bound). A dear step
    /// (`dearStiffStep`) whose cost ratio exceeds it cannot pay even before a segment has shown its
    /// gain, and is not tried (the driver passes (T − t)/h for the adaptive flows: one BDF step
    /// reaching T at once; their iteration matrix is (3P + 2)² for Adam).
    ///
    /// `refined`: a sharper estimate of ρ (nil: none), asked only when every other test says switch
    /// and a BDF step costs at least `refineFrom` explicit steps; where h·ρ_refined stays below the
    /// threshold the step is not stability-limited after all and the explicit stepper stays (the
    /// declines are not counted: the BDF stepper was not judged). `lastSpectralRadius` keeps the
    /// first estimate.
    mutating func stiffnessCheck(stepSize h: Double, spectralRadius: () -> Double, costRatio: (Stepper) -> Double,
                                 gainBound: Double? = nil, refined: () -> Double? = { nil }) -> Bool {
        guard policy.switches, active == explicitChoice else { return false }
        explicitStepsSinceCheck += 1
        guard explicitStepsSinceCheck >= policy.checkInterval else { return false }
        explicitStepsSinceCheck = 0
        let rho = spectralRadius()
        lastSpectralRadius = rho
        guard h * rho >= policy.stiffnessRatio(active) else { return false }
        let ratio = costRatio(active)
        if let gainBound, ratio >= StepperPolicy.dearStiffStep, ratio > gainBound { return false }
        if ratio >= StepperPolicy.dearStiffStep, let gain = stiffStepGain, gain < ratio,
           declinedStiffChecks < StepperPolicy.retryAfterDeclines {
            declinedStiffChecks += 1
            return false
        }
        if ratio >= StepperPolicy.refineFrom, let sharper = refined(), h * sharper < policy.stiffnessRatio(active) { return false }
        declinedStiffChecks = 0
        return true
    }

    /// A BDF segment begins at t (after the switch), replacing explicit steps of size h.
    mutating func beginStiffSegment(at t: Double, explicitStep h: Double) {
        stiffSegment = (t: t, steps: stepTally[StepperPolicy.stiffStepper.ordinal], discarded: stiffStepsDiscarded, explicitStep: h)
    }
}
