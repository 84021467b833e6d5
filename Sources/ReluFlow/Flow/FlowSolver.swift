import Foundation
@preconcurrency import CGSL

/// Progress of a running integration, for a progress line.
public struct FlowProgress: Sendable {
    public var t: Double
    public var T: Double
    public var loss: Double
    public var events: Int
    public var steps: Int
}

/// Hooks into a running integration. No global state: the caller owns both.
public struct SolveHooks {
    /// Called now and then (about every 0.2 s of wall time).
    public var progress: ((FlowProgress) -> Void)?
    /// Polled after every step; returning true stops the run with status `interrupted`.
    public var shouldStop: (() -> Bool)?
    /// Receives the samples, events and pattern intervals as they are made (nil: a `MemoryRecorder`,
    /// which hands them to the solution's arrays).
    public var recorder: FlowRecorder?

    public init(progress: ((FlowProgress) -> Void)? = nil, shouldStop: (() -> Bool)? = nil, recorder: FlowRecorder? = nil) {
        self.progress = progress
        self.shouldStop = shouldStop
        self.recorder = recorder
    }
}

/// Integrates the Filippov gradient flow of SPEC §3–§4 (the "driver" of the integrator).
///
/// Loop: one adaptive GSL step in the current mode (towards T; to the next sample time when
/// samples are step ends) → scan the pre-activations for events (one pass over the n×G pairs) →
/// if an event happened, locate the earliest one on re-taken partial steps, record the samples
/// before it, resolve it with `FilippovResolver`, project the surface pairs back onto their
/// surfaces, and restart the stepper; otherwise project sliding pairs and record the samples
/// inside the step by dense output (`DenseSampler`). A failure is typed (`FlowFailure`).
public func solve(_ problem: FlowProblem, hooks: SolveHooks = SolveHooks()) -> FlowSolution {
    solve(problem, law: problem.options.kind.law, hooks: hooks)
}

/// The flow with velocity law `law` (an adaptive flow of SPEC §7, `AdaptiveField` over the
/// network's gradient field), or the gradient flow (nil).
func solve(_ problem: FlowProblem, law: (any AdaptiveLaw)?, hooks: SolveHooks = SolveHooks()) -> FlowSolution {
    if let shallow = problem.shallow {
        let field = ModeField(network: shallow, data: problem.data)
        if let law {
            // An adaptive flow (SPEC §7) over the gradient flow's field: state (θ, D, m/v).
            let adaptive = AdaptiveField(base: field, law: law)
            adaptive.tolerance = (problem.options.rtol, problem.options.atol)
            if let adam = law as? AdamFlow { adaptive.secondOrder = SecondOrderSlide(law: adam, curvature: nil) }
            return FlowIntegration(problem: problem, hooks: hooks, field: adaptive).run()
        }
        return FlowIntegration(problem: problem, hooks: hooks, field: field).run()
    }
    guard let deep = problem.model as? DeepNetwork else {
        preconditionFailure("the flow integrates shallow networks and DeepNetwork models")
    }
    let field = DeepModeField(network: deep, data: problem.data)
    if let law {
        let adaptive = AdaptiveField(base: field, law: law)
        adaptive.tolerance = (problem.options.rtol, problem.options.atol)
        // Without hidden biases a unit's surfaces on points of one ray from 0 are one surface.
        if !deep.hiddenBias { adaptive.rayClass = AdaptiveField<DeepModeField>.positiveRayClasses(problem.data) }
        if let adam = law as? AdamFlow {
            adaptive.secondOrder = SecondOrderSlide(law: adam, curvature: SurfaceJet(field: field, data: problem.data))
        }
        return FlowIntegration(problem: problem, hooks: hooks, field: adaptive).run()
    }
    return FlowIntegration(problem: problem, hooks: hooks, field: field).run()
}

/// The monotonic clock in nanoseconds (the clock `DispatchTime.now()` reads, without its
/// conversions: read twice a step for the steppers' wall-time tally).
@inline(__always)
private func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// How the flow locates the escape time (`FlowIntegration.locateEscape`).
enum EscapeLocation {
    /// Re-take the step at every Newton iterate, also where the last step's error bound already
    /// puts its residual within the tolerance (the same result wherever ½|D''|δ² bounds the
    /// re-step's residual, as it did with a margin of 6 or more on the reference cases; tests
    /// compare the two).
    nonisolated(unsafe) static var checksEveryNewtonStep = false
}

/// The driver over any `SwitchedSystem` (the shallow `ModeField`, a deep network's field).
private final class FlowIntegration<Field: SwitchedSystem> {
    let problem: FlowProblem
    let hooks: SolveHooks
    /// Where the records go (`hooks.recorder`, or a `MemoryRecorder` that hands them to the solution).
    let recorder: FlowRecorder
    let options: FlowOptions
    let field: Field
    /// One GSL integrator and its event locator per stepper in use.
    struct Engine {
        let integrator: GSLIntegrator
        let locator: EventLocator<Field>
    }
    /// By `Stepper.ordinal` (no Dictionary's storage and hashing in a small run's set-up).
    var engines = [Engine?](repeating: nil, count: Stepper.allCases.count)
    /// The stepper in use and the `auto` rule's state.
    var controller: StepperController
    var policy: StepperPolicy { controller.policy }
    var active: Stepper { controller.active }
    /// The active stepper's engine (read several times a step; set when the stepper switches).
    private(set) var main: GSLIntegrator! = nil
    private(set) var locator: EventLocator<Field>! = nil
    /// Locates events (and re-takes samples and the escape) where an implicit stepper's re-step
    /// fails: rk8pd integrated over each partial step under error control at the run's tolerances
    /// (`EventLocator.adaptive`), not one rk8pd step over an interval the implicit method chose.
    lazy var fallbackLocator = EventLocator(field: field, stepper: .rk8pd, rtol: options.rtol, atol: options.atol,
                                            shortcuts: options.eventShortcuts, adaptive: true)
    /// Time at which the loss reached zero to working precision (the state is held from there).
    var roundingFloorTime: Double? = nil
    /// When the state became stationary to working precision (`StationaryHold`), if it did.
    var stationaryTime: Double? = nil
    /// The escape time (SPEC §7) once reached, the dissipation δ·L(0) that reaches it, and the
    /// state of the last check (t, D, |f|²).
    var escapeTime: Double? = nil
    lazy var escapeLevel: Double = options.escapeDelta * solution.diagnostics.initialLoss
    var escapeCheck: (t: Double, dissipated: Double, rate: Double)? = nil
    var stationarity = StationaryHold()
    /// A step size the loop should take next (after a switch back to the explicit stepper).
    var pendingStepSize: Double? = nil
    /// The sample grid and the index of the next grid time to record.
    let sampleTimes: [Double]
    var nextSample = 1
    /// Dense output inside steps (FlowOptions.sampleOutput).
    lazy var sampler = DenseSampler(field: field, rtol: options.rtol, atol: options.atol)
    /// Dense output's last resort where both re-steps to a sample time fail (made on first use).
    var reintegrator: SampleReintegrator? = nil
    /// The step ends of the current smooth stretch: dense output inside BDF steps (`StepHistory`).
    lazy var history = StepHistory(dim: dim, rtol: options.rtol, atol: options.atol)
    lazy var slopeHistory = SlopeHistory(dim: dim, rtol: options.rtol, atol: options.atol)
    /// Takes the transversal crossings of a step together (FlowOptions.crossingBatches), where the
    /// field can (a shallow capability).
    lazy var batcher: CrossingBatcher? = field.makeCrossingBatcher()
    /// Whether flagged crossings are offered to the batcher first (FlowOptions.crossingBatches).
    var batches: Bool { options.eventShortcuts && options.crossingBatches.applies(neurons: n, groups: G) && batcher != nil }
    let dim: Int, P: Int, n: Int, G: Int, m: Int
    /// Entries of an adaptive flow's auxiliary state written with the samples (m, v; SPEC §7).
    let exportedAuxiliary: Int

    var solution: FlowSolution
    // Buffers (views into `buffers`; z0/z1 and zdot0/zdot1 swap roles after every step).
    let buffers: UnsafeMutablePointer<Double>
    let y: UnsafeMutablePointer<Double>
    let y0: UnsafeMutablePointer<Double>
    let f0: UnsafeMutablePointer<Double>
    let f1: UnsafeMutablePointer<Double>
    /// The state at the end of a step and the field at the end of a crossing batch.
    let yStepEnd: UnsafeMutablePointer<Double>
    let fBatch: UnsafeMutablePointer<Double>
    var z0: UnsafeMutablePointer<Double>, zdot0: UnsafeMutablePointer<Double>
    var z1: UnsafeMutablePointer<Double>, zdot1: UnsafeMutablePointer<Double>

    /// The constant-pattern intervals and pattern ids.
    var patterns: PatternTracker
    /// Guards of the event logic against loops at one instant and chattering.
    var guardian = EventGuard()
    /// Widens the α band of pairs that leave a slide and return at once.
    var hysteresis = SlideHysteresis()
    /// Slide entries per pair (i·G + g): how often, first and last time (`repeatedSlidesNote`).
    var slideEntries: [Int: (count: Int, first: Double, last: Double)] = [:]
    var failedStepsBeforeReset = 0
    let started = DispatchTime.now()
    /// When the progress hook was last called (`monotonicNanoseconds`).
    var lastProgress = monotonicNanoseconds()

    init(problem: FlowProblem, hooks: SolveHooks, field: Field) {
        GSLRuntime.prepare()
        self.problem = problem
        self.hooks = hooks
        recorder = hooks.recorder ?? MemoryRecorder()
        options = problem.options
        self.field = field
        patterns = PatternTracker(width: field.n, groups: field.G, points: field.m, pointsOfGroup: field.pointsOfGroup,
                                  knownIds: problem.patternIds)
        dim = field.dimension
        P = field.P
        n = field.n
        G = field.G
        m = field.m
        exportedAuxiliary = min(dim - P - 1, problem.options.kind.law?.auxiliaryNames(parameterNames: problem.model.parameterNames).count ?? 0)
        controller = StepperController(policy: StepperPolicy(requested: options.stepper))
        sampleTimes = options.sampleTimes
        solution = FlowSolution(problem: problem, status: .completed, stepper: options.stepper)
        // The buffers in one allocation (six of dim, four of n·G).
        buffers = .allocate(capacity: 6 * dim + 4 * n * G)
        y = buffers
        y0 = y + dim
        f0 = y0 + dim
        f1 = f0 + dim
        yStepEnd = f1 + dim
        fBatch = yStepEnd + dim
        z0 = fBatch + dim
        zdot0 = z0 + n * G
        z1 = zdot0 + n * G
        zdot1 = z1 + n * G
        activate()
    }

    /// Makes the active stepper's engine `main` and `locator` (created on first use).
    func activate() {
        let e = engine(active)
        main = e.integrator
        locator = e.locator
    }

    deinit {
        buffers.deallocate()
    }

    func engine(_ stepper: Stepper) -> Engine {
        if let e = engines[stepper.ordinal] { return e }
        let (rtol, atol) = tolerances(stepper)
        // The locator's companion (for msbdf an adaptive rk4imp) keeps the user's tolerances: it only
        // re-integrates within one accepted step, and at 0.01× it would dominate the cost.
        let integrator = GSLIntegrator(field: field, stepper: stepper, rtol: rtol, atol: atol, hstart: min(1e-3, options.T * 1e-3))
        let e = Engine(
            integrator: integrator,
            locator: EventLocator(field: field, stepper: stepper, rtol: options.rtol, atol: options.atol,
                                  shortcuts: options.eventShortcuts, sharing: integrator))
        e.integrator.abort = hooks.shouldStop
        engines[stepper.ordinal] = e
        return e
    }

    /// The main integrator's tolerances for `stepper`: under `auto` the stiff stepper gets tighter
    /// ones (StepperPolicy.stiffToleranceFactor).
    func tolerances(_ stepper: Stepper) -> (rtol: Double, atol: Double) {
        let factor = policy.switches && stepper == StepperPolicy.stiffStepper ? StepperPolicy.stiffToleranceFactor : 1
        return (options.rtol * factor, options.atol * factor)
    }

    /// Switches the active stepper at time t (StepperController); the new one starts from the current state.
    func switchStepper(to stepper: Stepper, at t: Double) {
        let left = main!
        guard controller.switchTo(stepper, at: t) else { return }
        activate()
        failedStepsBeforeReset += left.failedSteps
        main.reset()
    }

    /// After an accepted explicit step ending at t: the `auto` rule's event density.
    func noteExplicitStep(endedAtEvent: Bool, at t: Double) {
        if let choice = controller.explicitStepEnded(atEvent: endedAtEvent) { switchStepper(to: choice, at: t) }
    }

    /// After an accepted explicit step of size h ending at t: the `auto` rule's stiffness check
    /// (the field there in f0, its evaluation e).
    func checkStiffness(stepSize h: Double, at t: Double, evaluation e: Field.Evaluation) {
        let policy = self.policy, dim = self.dim, pairs = n * G, d = field.costDimension   // read before `controller` is mutated
        // An adaptive flow's BDF system is (P + 1 + A)² (Adam: (3P + 2)²): a dear step is tried
        // only where it could pay before T (`StepperController.stiffnessCheck`'s gain bound).
        let gainBound: Double? = dim > P + 1 && h > 0 ? (options.T - t) / h : nil
        let stiff = controller.stiffnessCheck(stepSize: h, spectralRadius: { field.stiffnessEstimate(e, at: y, f0) }, costRatio: {
            policy.stiffStepCostRatio(parameters: dim, pairs: pairs, d: d, explicit: $0)
        }, gainBound: gainBound, refined: { field.refinedStiffnessEstimate(e, at: y, f0) })
        guard stiff else { return }
        switchStepper(to: StepperPolicy.stiffStepper, at: t)
        controller.beginStiffSegment(at: t, explicitStep: h)
        // msbdf starts at order 1: its first step from y'' (`StepperPolicy.stiffStartStep`).
        if let h0 = stiffStartStep() { pendingStepSize = min(pendingStepSize ?? h0, h0) }
    }

    /// The first step of a BDF segment starting at y (field f0 there): y'' = J f by a difference
    /// along f (one field evaluation), then `StepperPolicy.stiffStartStep` at msbdf's tolerances.
    func stiffStartStep() -> Double? {
        var yNorm = 0.0, fNorm = 0.0
        for i in 0..<dim {
            yNorm = max(yNorm, abs(y[i]))
            fNorm = max(fNorm, abs(f0[i]))
        }
        guard fNorm > 0, fNorm.isFinite else { return nil }
        // The usual difference increment √ε·max(1, |y|) for the displacement ε_f·f.
        let eps = Double.ulpOfOne.squareRoot() * max(1, yNorm) / fNorm
        let shifted = UnsafeMutablePointer<Double>.allocate(capacity: 2 * dim)
        defer { shifted.deallocate() }
        let acceleration = shifted + dim
        for i in 0..<dim { shifted[i] = y[i] + eps * f0[i] }
        guard field.evaluate(shifted, acceleration) else { return nil }
        for i in 0..<dim { acceleration[i] = (acceleration[i] - f0[i]) / eps }
        let (rtol, atol) = tolerances(StepperPolicy.stiffStepper)
        return StepperPolicy.stiffStartStep(y: y, acceleration: acceleration, count: dim, rtol: rtol, atol: atol)
    }

    /// The driver loop, as GSL's `evolve_apply` drives a step: stop checks → one adaptive step in
    /// the current mode → its end (events located and resolved, or the smooth end with its
    /// samples) → the next step.
    func run() -> FlowSolution {
        var t = begin()
        var h = min(1e-3, options.T * 1e-3)
        loop: while t < options.T {
            checkEscape(at: t)
            offerCheckpoint(at: t)
            if stopRequested(at: t) { break }
            let t0 = t
            switch step(from: t0, to: &t, h: &h) {
            case .accepted: break
            case .retry: continue loop
            case .stop: break loop
            }
            switch endOfStep(from: t0, at: &t, h: h) {
            case .next: reportProgress(t)
            case .restart: continue loop
            case .stop: break loop
            }
        }
        if field.failure(at: t) != nil && solution.status != .failed { fail(at: t, nil, restore: false) }
        if solution.last?.t != t { record(t: t) }
        checkEscape(at: t)
        finish(at: t)
        return solution
    }

    /// The initial state (θ(0), or an earlier run's checkpoint), its mode and first sample; returns t.
    func begin() -> Double {
        var t = 0.0
        if let start = problem.start, let perPoint = start.states(width: n, points: m) {
            // Continue an earlier run from its checkpoint.
            for p in 0..<P { y[p] = start.theta[p] }
            y[P] = start.dissipated
            t = start.t
            if dim > P + 1, let law = options.kind.law {
                // An adaptive flow's auxiliary state from the checkpoint (checked by the caller).
                let aux = law.restoredAuxiliary(exported: start.auxiliary ?? [], t: t)
                for q in 0..<min(aux.count, dim - P - 1) { y[P + 1 + q] = aux[q] }
            }
            let states = problem.data.perGroup(perPoint, width: n)
            field.setMode(states)
            patterns.openFirst(field.states, at: t)
        } else {
            for p in 0..<P { y[p] = problem.theta0[p] }
            y[P] = 0
            for q in (P + 1)..<dim { y[q] = 0 }
            if dim > P + 1 {
                // An adaptive flow's a(0): provisional (the mode of θ(0) with pairs on a surface
                // off) for the decisions at t = 0, then from the mode chosen (the reference's order).
                let (states, _) = field.initialStates(y)
                field.setMode(states)
                field.initializeAuxiliary(y)
            }
            initialMode()
            field.initializeAuxiliary(y)
        }
        refreshStartOfStep()
        var initial = problem.theta0 + [0]
        solution.diagnostics.initialLoss = field.loss(&initial)
        // The first sample's loss is the same function of the same (θ, D) where the start did not
        // move them (no pair on a surface projected, not a checkpoint): reused, bit for bit.
        var unmoved = true
        for p in 0...P where y[p].bitPattern != initial[p].bitPattern { unmoved = false; break }
        record(t: t, loss: unmoved ? solution.diagnostics.initialLoss : nil)
        return t
    }

    /// Whether the run stops before the next step: on request, at the end of a part (`stopAt`),
    /// after a recorder's write failure or a failure of the field's linear algebra.
    func stopRequested(at t: Double) -> Bool {
        if hooks.shouldStop?() ?? false {
            solution.status = .interrupted
            solution.message = "interrupted at t = \(t)"
            return true
        }
        if let stop = options.stopAt, t >= stop {
            solution.status = .interrupted
            solution.message = "stopped at t = \(t), the end of this part (flow.segments)"
            return true
        }
        if let spent = budgetSpent(at: t) {
            solution.status = .stopped
            solution.message = spent
            return true
        }
        if let failure = recorder.failure {
            fail(at: t, .recorder(t: t, reason: failure), restore: false)
            return true
        }
        if field.failure(at: t) != nil {
            // Linear algebra of the sliding surfaces failed (at an event, a projection or the
            // start), or the Filippov rules do not determine the mode: the state is the last one
            // computed; `fail` gives the diagnosis.
            fail(at: t, nil, restore: false)
            return true
        }
        return false
    }

    /// The work budget (`FlowOptions.maxRhsEvaluations`, `maxWallSeconds`), checked at step ends:
    /// why the run stops at t (status `stopped`), or nil. The state there is a step's end, so
    /// everything recorded is the flow's and the escape time, when already reached, stays exact.
    func budgetSpent(at t: Double) -> String? {
        // Built only when the run stops: this is called at every step end.
        var before: String { "before T = \(options.T): the last state is a valid starting point (reluflow simulate --resume continues it)" }
        if let limit = options.maxRhsEvaluations, field.rhsEvaluations >= limit {
            return "stopped by its work budget at t = \(t) after \(field.rhsEvaluations) right-hand-side evaluations "
                + "(flow.maxRhsEvaluations = \(limit)), \(before)"
        }
        if let limit = options.maxWallSeconds {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
            if seconds >= limit {
                return "stopped by its wall-time limit at t = \(t) after \(NumberText.printf(seconds, "g", precision: 4)) s "
                    + "(flow.maxWallSeconds = \(limit); machine-dependent), \(before)"
            }
        }
        return nil
    }

    enum StepResult { case accepted, retry, stop }

    /// One adaptive GSL step from (t0, y) towards T (or the next sample time when samples are step
    /// ends), y0 keeping its start: accepted, to be retried (another stepper), or failed.
    func step(from t0: Double, to t: inout Double, h: inout Double) -> StepResult {
        while nextSample < sampleTimes.count && sampleTimes[nextSample] <= t { nextSample += 1 }
        // Dense output: the step goes towards T and samples come from inside it; else (or where
        // crossing batches apply) the step stops at the next sample time.
        let stepToSample = nextSample < sampleTimes.count && (options.sampleOutput == .stepEnds || batches)
        let target = stepToSample ? sampleTimes[nextSample] : options.T
        if let pending = pendingStepSize {
            h = min(h, pending)
            pendingStepSize = nil
        }
        y0.update(from: y, count: dim)
        let stepStarted = monotonicNanoseconds()
        let hAtStart = h
        let counted = (field.rhsEvaluations, field.jacobianEvaluations)
        var status = main.step(t: &t, to: target, h: &h, y: y)
        // A stop request aborts a step inside (`GSLIntegrator.abort`): the run stops at its start,
        // the last good state, with the counts of its start (a resumed run's counts then equal
        // those of the run its config repeats).
        if status != GSL_SUCCESS, hooks.shouldStop?() ?? false {
            (field.rhsEvaluations, field.jacobianEvaluations) = counted
            y.update(from: y0, count: dim)
            t = t0
            solution.status = .interrupted
            solution.message = "interrupted at t = \(t0)"
            return .stop
        }
        // A field that is not finite at a stage (the step was too long for the stepper's
        // stability) aborts the step: restore, halve the step and try again (GSL's advice).
        var halvings = 0
        while status == GSL_EBADFUNC && halvings < 60 && abs(h) > 4 * t0.ulp && field.failure(at: t0) == nil {
            y.update(from: y0, count: dim)
            t = t0
            h /= 2
            halvings += 1
            main.reset()
            status = main.step(t: &t, to: target, h: &h, y: y)
        }
        controller.attempted(seconds: Double(monotonicNanoseconds() - stepStarted) / 1e9)
        if status != GSL_SUCCESS && !policy.switches && active.usesJacobian && status != GSL_EBADFUNC {
            // An implicit method chosen by name whose step fails at every size (its Newton
            // iteration need not converge where the field is at its rounding level, near a
            // stationary point) continues with rk8pd until the next event, as auto would.
            y.update(from: y0, count: dim)
            t = t0
            switchStepper(to: StepperPolicy.explicitStepper, at: t0)
            controller.implicitFallback = true
            h = hAtStart
            return .retry
        }
        if status != GSL_SUCCESS {
            t = t0
            fail(at: t0, .stepFailed(stepper: main.stepper, t: t0, status: status, stepSize: h))
            return .stop
        }
        controller.accepted(stepSize: t - t0)
        solution.diagnostics.steps += 1
        guard allFinite(y) else {
            let size = t - t0
            t = t0
            fail(at: t0, .nonFiniteState(t: t0, stepSize: size))
            return .stop
        }
        return .accepted
    }

    enum EndResult { case next, restart, stop }

    /// The end of an accepted step [t0, t]: the event scan; events in the step are taken (a BDF
    /// step re-taken explicitly, a batch, or the earliest event located and resolved, after which
    /// the run restarts from it), else the smooth end (`smoothEnd`).
    func endOfStep(from t0: Double, at t: inout Double, h: Double) -> EndResult {
        var e1 = field.stepEndEvaluation(at: y, into: f1)
        var flags = field.detectEvents(y1: y, f1: f1, evaluation: e1, H: t - t0, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1)
        guardian.filter(&flags, stepStart: t0) { $0.function.neuron * G + $0.function.group }
        if !flags.isEmpty && controller.isStiff {
            // An event inside a BDF step: re-take the step with rk8pd, which locates events by
            // re-taking single steps (cheap), where msbdf's locator integrates adaptively with an
            // implicit companion for every Brent probe. rk8pd takes over after the event anyway.
            y.update(from: y0, count: dim)
            t = t0
            controller.discardedStiffStep()
            switchStepper(to: controller.explicitChoice, at: t0)
            pendingStepSize = min(controller.lastExplicitStep ?? h, h)
            return .restart
        }
        var batched = false
        if !flags.isEmpty && batches {
            switch takeCrossingBatch(flags, t0: t0, t: t, evaluation: e1) {
            case .declined: break
            case .taken(let eEnd):
                batched = true
                e1 = eEnd
            case .stopped: return .stop
            }
        }
        if !flags.isEmpty && !batched {
            switch handleEvent(flags: &flags, t0: t0, t: &t, stepHint: h) {
            case .none: break
            case .handled:
                noteExplicitStep(endedAtEvent: true, at: t)
                if let failure = runawayDiagnosis(at: t) {
                    // The state at the event is good: keep it.
                    fail(at: t, failure, restore: false)
                    return .stop
                }
                return .restart
            case .failed(let failure):
                t = t0
                if controller.isStiff {
                    // Locating with msbdf's companion failed: take this step again with rk8pd,
                    // whose locator re-takes single steps.
                    y.update(from: y0, count: dim)
                    switchStepper(to: controller.explicitChoice, at: t0)
                    pendingStepSize = min(controller.lastExplicitStep ?? h, h)
                    refreshStartOfStep()
                    return .restart
                }
                fail(at: t0, failure)
                return .stop
            }
        }
        return smoothEnd(from: t0, at: &t, h: h, batched: batched, evaluation: e1)
    }

    /// A step that ends without an event at its end (or whose crossings were batched): sliding
    /// pairs projected, the holds of a zero loss or a stationary state, the samples inside the
    /// step, the `auto` rule's checks, and the sample at its end. `e1` is the field's evaluation at
    /// the step end (f in f1, or in f0 after a batch).
    func smoothEnd(from t0: Double, at t: inout Double, h: Double, batched: Bool, evaluation e1: Field.Evaluation) -> EndResult {
        var e1 = e1
        if !batched && !field.slidingNeurons.isEmpty {
            // No event: keep sliding pairs exactly on their surfaces.
            projectSliding()
            e1 = field.evaluation(at: y, into: f1)
            field.surfaceValues(y, f1, z: z1, zdot: zdot1)
        }
        // The field at the step end (in the mode of the step).
        let fEnd = UnsafePointer(batched ? f0 : f1)
        // Zero loss to working precision: every residual is rounding noise, so the field and
        // every Filippov decision are noise too, while the exact flow at an L = 0 minimum is
        // at rest. Hold the state to T instead of integrating noise.
        let zeroLoss = field.lossIsAtRoundingLevel(e1, at: y)
        // Stationary to working precision (SPEC §5's stationary points, at non-zero loss): the
        // field is rounding noise and the loss constant to its rounding, so integrating on only
        // moves θ by noise (and msbdf crawls). Hold the state to T, as at zero loss.
        let stationary = !zeroLoss
            && stationarity.holds(at: t, loss: { field.loss(y) }, ratio: { field.fieldRoundingRatio(e1, at: y, fEnd) })
        if !batched {
            // The samples inside the step.
            // (The history is read only for grid samples strictly inside a step: with none left
            // before T, as where only θ(T) is kept, there is nothing to note.)
            if options.sampleOutput == .dense && nextSample < sampleTimes.count && sampleTimes[nextSample] < options.T {
                history.noteStep(t0: t0, y0: y0, t1: t, y1: y, mode: field.modeChanges)
                if active.isMultistep {
                    slopeHistory.reset()
                } else {
                    slopeHistory.noteStep(t0: t0, y0: y0, f0: f0, t1: t, y1: y, f1: f1, mode: field.modeChanges)
                }
            }
            let step = DenseSampler.Step(t0: t0, H: t - t0, y0: y0, f0: f0, y1: y, f1: f1)
            guard recordSamples(before: t, step: step, interpolating: true, locator: locator, stepHint: h) else {
                fail(at: t, .reStepFailed(.denseOutput, t: t0, status: locator.failureStatus), restore: false)
                return .stop
            }
            locateEscape(t0: t0, end: t, yEnd: y, rateEnd: f1[P], locator: locator, stepHint: h)
            // The end values are the next start.
            swap(&z0, &z1)
            swap(&zdot0, &zdot1)
            f0.update(from: f1, count: dim)
        }
        if zeroLoss || stationary {
            if zeroLoss { roundingFloorTime = t } else { stationaryTime = t }
            holdToEnd(sampleTimes, from: &nextSample, heldAt: t)
            t = options.T
            return .stop
        }
        // A step whose crossings were batched counts as event-dense: batches pay with short, cheap
        // steps (rkck), as located events do.
        noteExplicitStep(endedAtEvent: batched, at: t)
        checkStiffness(stepSize: t - t0, at: t, evaluation: e1)
        if nextSample < sampleTimes.count && sampleTimes[nextSample] == t {
            record(t: t)
            nextSample += 1
        }
        return .next
    }

    // MARK: Samples

    /// Records the grid samples before `end` inside the accepted step `step` (one mode, no event
    /// before `end`): each the step's Hermite interpolant where `interpolating` and its error
    /// estimate is within tolerance (`DenseSampler`), else the step re-taken from its start to the
    /// sample time by `locator` (rk8pd's where an implicit companion's re-step fails). Sliding
    /// neurons are projected onto their surfaces, as at step ends. All or nothing: false (and
    /// nothing recorded) when a re-step fails.
    func recordSamples(before end: Double, step: DenseSampler.Step, interpolating: Bool, locator: EventLocator<Field>,
                       stepHint: Double) -> Bool {
        guard nextSample < sampleTimes.count, sampleTimes[nextSample] < end else { return true }
        let state = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        let fState = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        defer { state.deallocate(); fState.deallocate() }
        var samples: [FlowSample] = []
        // Explicit steps (`slopeHistory`): the step's end node — for a step cut at an event
        // (`interpolating` false) the field at its cut end in the step's mode (the event is not
        // applied yet), evaluated once — and up to `maxInterior` nodes inside the step, each a
        // re-taken step and its field, added where a sample's estimate fails.
        let explicit = !active.isMultistep
        let mode = field.modeChanges
        let maxInterior = 3
        let fCut = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        let interiorStates = UnsafeMutablePointer<Double>.allocate(capacity: 2 * maxInterior * dim)
        defer { fCut.deallocate(); interiorStates.deallocate() }
        var cutSlope: Bool? = nil
        func endNode() -> SlopeHistory.Node? {
            if interpolating { return (end, step.y1, step.f1) }
            if cutSlope == nil { cutSlope = field.evaluate(step.y1, fCut) && allFinite(UnsafePointer(fCut)) }
            return cutSlope! ? (end, step.y1, UnsafePointer(fCut)) : nil
        }
        var quinticFailed = false
        func quintic(at s: Double) -> Bool {
            guard interpolating && !quinticFailed else { return false }
            if sampler.interpolate(step, at: s, into: state) { return true }
            quinticFailed = explicit
            return false
        }
        var interior: [SlopeHistory.Node] = []
        var interiorFailed = false
        var k = nextSample
        var prepared = false
        /// A node at the middle of the gap between the step's nodes that holds ts; false when the
        /// re-taken step or its field fails.
        func addInterior(around ts: Double) -> Bool {
            var lo = step.t0, hi = end
            for node in interior {
                if node.t <= ts { lo = max(lo, node.t) } else { hi = min(hi, node.t) }
            }
            let tm = lo + 0.5 * (hi - lo)
            guard tm > lo, tm < hi else { return false }
            if !prepared { locator.prepareForProbe(t0: step.t0, y0: step.y0, f0: step.f0, stepHint: stepHint) }
            prepared = true
            let y = interiorStates + 2 * interior.count * dim, f = y + dim
            guard locator.advance(tm - step.t0, into: y), allFinite(UnsafePointer(y)), field.evaluate(y, f),
                  allFinite(UnsafePointer(f)) else { return false }
            interior.append((tm, UnsafePointer(y), UnsafePointer(f)))
            return true
        }
        /// The sample at ts from `slopeHistory`, adding interior nodes while its estimate fails
        /// (`withInterior`), into `state`.
        func slopeSample(_ ts: Double, withInterior: Bool) -> Bool {
            guard explicit, let endNode = endNode() else { return false }
            let start: SlopeHistory.Node = (step.t0, step.y0, step.f0)
            while true {
                if slopeHistory.interpolate(at: ts, start: start, end: endNode, interior: interior, mode: mode, into: state) {
                    return true
                }
                guard withInterior, !interiorFailed, interior.count < maxInterior else { return false }
                if !addInterior(around: ts) {
                    interiorFailed = true
                    return false
                }
            }
        }
        reintegrator?.forget()
        // The samples' evaluations (re-taken steps, |∇L|) leave the field's later decisions as
        // they were: the output grid is not part of the problem, so it may not steer the flow.
        let complete = field.withoutSteering { () -> Bool in
            while k < sampleTimes.count, sampleTimes[k] < end {
                let ts = sampleTimes[k]
                let s = (ts - step.t0) / step.H
                // The step's quintic Hermite interpolant first (its ÿ's cost one or two evaluations
                // a step, then ~2 000 instructions a sample against ~7 000 for the slope history's);
                // in an explicit step, once it has failed, not again for this step's samples.
                if quintic(at: s) {
                    solution.diagnostics.interpolatedSamples += 1
                } else if slopeSample(ts, withInterior: false) {
                    // Inside an explicit step: values and slopes at the stretch's step ends.
                    solution.diagnostics.interpolatedSamples += 1
                } else if interpolating && active.isMultistep && options.historySampling
                            && history.interpolate(at: ts, stepStart: step.t0, stepEnd: end, into: state) {
                    // Inside a BDF step, where re-taking the step means an adaptive implicit
                    // integration (its companion's): the polynomial through the stretch's step ends.
                    solution.diagnostics.interpolatedSamples += 1
                    solution.diagnostics.historySamples += 1
                } else if slopeSample(ts, withInterior: true) {
                    // Nodes inside the step: a re-taken step serves every sample near it.
                    solution.diagnostics.interpolatedSamples += 1
                } else {
                    if !prepared { locator.prepareForProbe(t0: step.t0, y0: step.y0, f0: step.f0, stepHint: stepHint) }
                    prepared = true
                    if !locator.advance(ts - step.t0, into: state) {
                        var retaken = false
                        if active.usesJacobian {
                            fallbackLocator.prepareForProbe(t0: step.t0, y0: step.y0, f0: step.f0, stepHint: stepHint)
                            prepared = false
                            retaken = fallbackLocator.advance(ts - step.t0, into: state)
                        }
                        // Both re-steps failed (`SampleReintegrator`): integrate adaptively to the sample.
                        if !retaken {
                            let reintegrator = self.reintegrator ?? SampleReintegrator(field: field, rtol: options.rtol, atol: options.atol)
                            self.reintegrator = reintegrator
                            guard reintegrator.advance(t0: step.t0, y0: step.y0, stepHint: stepHint, tau: ts - step.t0, into: state)
                            else { return false }
                            solution.diagnostics.reintegratedSamples += 1
                        }
                    }
                    solution.diagnostics.resteppedSamples += 1
                }
                field.projectSlidingPairs(state: state)
                let gradNorm = field.evaluateForSample(state, into: fState)
                samples.append(FlowSample(t: ts, loss: field.loss(state), gradNorm: gradNorm, patternId: patterns.current,
                                          theta: Array(UnsafeBufferPointer(start: state, count: P)), dissipated: state[P],
                                          auxiliary: Array(UnsafeBufferPointer(start: state + (P + 1), count: exportedAuxiliary))))
                k += 1
            }
            return true
        }
        guard complete else { return false }
        for sample in samples { record(sample) }
        nextSample = k
        return true
    }

    /// The grid samples before an event located at `end` by `locator` in the step from t0 (whose
    /// start state and field are y0, f0): re-taken steps, as the location's.
    func recordSamples(before end: Double, locatedBy locator: EventLocator<Field>, t0: Double, stepHint: Double) -> Bool {
        let step = DenseSampler.Step(t0: t0, H: end - t0, y0: y0, f0: f0, y1: y, f1: f0)
        return recordSamples(before: end, step: step, interpolating: false, locator: locator, stepHint: stepHint)
    }

    // MARK: Events

    enum EventOutcome { case none, handled, failed(FlowFailure) }

    func handleEvent(flags: inout [EventDetector.Flag], t0: Double, t: inout Double, stepHint: Double) -> EventOutcome {
        let H = t - t0
        // A dip predicted by the interpolant is an event only if the re-taken step confirms it.
        var hi = H
        var yHi = UnsafePointer(y)
        let probe = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        defer { probe.deallocate() }
        locator.prepareForProbe(t0: t0, y0: y0, f0: f0, stepHint: stepHint)
        let dips = flags.filter(\.isDip).sorted { $0.tau < $1.tau }
        if flags.allSatisfy(\.isDip) { hi = .infinity }
        for dip in dips where dip.tau < hi {
            // A re-step that fails only probes a predicted dip: no confirmation, no event.
            guard locator.advance(dip.tau, into: probe) else { continue }
            if dip.function.crossingValue(probe, field: field) < 0 {
                hi = dip.tau
                yHi = UnsafePointer(probe)
                break
            }
        }
        if hi == .infinity { return .none }
        let chosen = flags.filter { !$0.isDip || $0.tau <= hi }
        let functions = chosen.map(\.function)
        // The earliest predicted root starts the location (all flags must have one).
        let guess: Double? = chosen.contains { $0.root == nil } ? nil : chosen.compactMap(\.root).min().map { min($0, hi) }
        let copyHi = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        defer { copyHi.deallocate() }
        copyHi.update(from: yHi, count: dim)
        var used: EventLocator<Field> = locator
        var located = used.locate(t0: t0, y0: y0, f0: f0, hi: hi, yHi: copyHi, functions: functions, stepHint: stepHint, guess: guess,
                                  fHi: hi == H ? UnsafePointer(f1) : nil)
        if located == nil && active.usesJacobian {
            // An implicit method's re-step can fail where the accepted step did not (its Newton
            // iteration from a different start): re-take the partial steps by integrating with
            // rk8pd under error control, but only where that reproduces the implicit method's state
            // at hi to 100 times the tolerance (both are within about the tolerance of the flow; a
            // larger gap means the implicit step itself is in doubt). A failure of both is a
            // numerical failure.
            copyHi.update(from: yHi, count: dim)
            used = fallbackLocator
            used.prepareForProbe(t0: t0, y0: y0, f0: f0, stepHint: stepHint)
            if used.advance(hi, into: probe), (0..<P).allSatisfy({ abs(probe[$0] - yHi[$0]) <= 100 * (options.atol + options.rtol * abs(yHi[$0])) }) {
                located = used.locate(t0: t0, y0: y0, f0: f0, hi: hi, yHi: copyHi, functions: functions, stepHint: stepHint, guess: guess,
                                      fHi: hi == H ? UnsafePointer(f1) : nil)
            }
        }
        guard let tau = located else {
            return .failed(.reStepFailed(.eventLocation, t: t0, status: used.failureStatus))
        }
        t = t0 + tau
        y.update(from: used.best, count: dim)
        let values = used.values(at: y, functions)
        let noise = functions.map { $0.sign != 0 ? field.preactivationNoise(y, $0.neuron, $0.group) : 0 }
        var pairs = EventFunction.pairsAtEvent(functions, values: values, noise: noise)
        // The guards (EventGuard): states already chosen and left at this instant are excluded.
        let decision = guardian.begin(at: t, pairs: pairs.map { $0.0 * G + $0.1 }, states: field.states)
        if decision.stalled {
            return .failed(.noProgress(t: t, pairs: pairs.count, unchanged: false))
        }
        // Every other pair of the units involved that lies on its surface is decided jointly
        // (points on a line that sliding pins a neuron to; SPEC §4, several surfaces at once).
        pairs = field.jointPairs(y, with: pairs)
        // A shallow neuron at its collapse corner takes the minimum-norm continuation (CollapseCorner, SPEC §4).
        var corners: [Int] = []
        if let shallow = field as? ModeField {
            do { corners = try CollapseCorner.neurons(at: pairs, field: shallow, y: y, t: t, zdot0: zdot0, zdot1: zdot1) } catch {
                field.noteFailure(error)   // the run fails with it at the next check
            }
        }
        let resolved = corners.isEmpty ? pairs : pairs.filter { !corners.contains($0.0) }
        var transitions = resolved.isEmpty ? [] : field.resolve(y, eventPairs: resolved, excluded: decision.excluded,
                                                                repeated: decision.repeated, reportUnchanged: false)
        if let shallow = field as? ModeField {
            for i in corners {
                transitions += CollapseCorner.transitions(neuron: i, field: shallow)
                CollapseCorner.place(neuron: i, in: y, field: shallow)
            }
        }
        guardian.chose(transitions.map { (key: $0.neuron * G + $0.group, state: $0.to) })
        if transitions.isEmpty {
            // Nothing to change (no admissible continuation differs): never stall here; these
            // pairs stay out of detection until a step starts later, so that time advances.
            // A pair kept on the side it is not on, by more than its rounding level, would be
            // detected again at the start of every later step, each ending at this no-change
            // event: it is put on its surface (as `apply` puts every event pair). Seen on a deep
            // network: an earlier projection left z = 2.2e-18 on a dead unit's surface whose
            // level is 5e-34 (its inputs all 0); the run took 5 113 steps instead of 458 and its
            // dissipation defect grew to 8e-8.
            var wrongSide: [Int: [Int]] = [:]
            for (k, e) in functions.enumerated() where e.sign != 0 && values[k] < -noise[k] && pairs.contains(where: { $0 == (e.neuron, e.group) }) {
                wrongSide[e.neuron, default: []].append(e.group)
            }
            for i in wrongSide.keys.sorted() { projectNeuron(i, onto: wrongSide[i]!.sorted()) }
            if guardian.unchanged(pairs.map { $0.0 * G + $0.1 }, at: t) {
                return .failed(.noProgress(t: t, pairs: pairs.count, unchanged: true))
            }
            guard recordSamples(before: t, locatedBy: used, t0: t0, stepHint: stepHint) else {
                return .failed(.reStepFailed(.samplesBeforeEvent, t: t, status: used.failureStatus))
            }
            refreshStartOfStep()
            return .handled
        }
        guard recordSamples(before: t, locatedBy: used, t0: t0, stepHint: stepHint) else {
            return .failed(.reStepFailed(.samplesBeforeEvent, t: t, status: used.failureStatus))
        }
        locateEscape(t0: t0, end: t, yEnd: y, rateEnd: nil, locator: used, stepHint: stepHint)
        apply(transitions, at: t, surfacePairs: pairs)
        guardian.decided(at: t)
        aimAtNextCrossing(flags: flags, t0: t0, after: t, handled: pairs)
        return .handled
    }

    /// `taken` with the field's evaluation at the end state (f in f0).
    enum BatchOutcome { case declined, taken(Field.Evaluation), stopped }

    /// Takes the crossings flagged in the step [t0, t] together (CrossingBatcher), or declines
    /// (nothing changed; the caller locates them one at a time). Taken: the state and the start
    /// values of the next step are those at t in the new mode, the stepper restarts once, and
    /// every crossing is logged in time order as its own event, with its pattern interval and a
    /// sample at its time (the loss there from the dissipation quadrature: L(τ) = L(t) + D(t) − D(τ)).
    func takeCrossingBatch(_ flags: [EventDetector.Flag], t0: Double, t: Double, evaluation e1: Field.Evaluation) -> BatchOutcome {
        yStepEnd.update(from: y, count: dim)
        let step = CrossingBatcher.Step(H: t - t0, y0: y0, f0: f0, y1: yStepEnd, f1: f1,
                                        R1: (e1 as? FieldEvaluation).map { Array($0.R) } ?? [], z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1,
                                        atol: options.atol, rtol: options.rtol, curvatureHint: controller.lastSpectralRadius)
        // z1 and ż1 receive the end values last (the one-at-a-time locator does not read them).
        guard let crossings = batcher!.take(step, flags: flags, yEnd: y, fEnd: fBatch, zEnd: z1, zdotEnd: zdot1,
                                           project: { self.projectSliding() }) else {
            y.update(from: yStepEnd, count: dim)
            return .declined
        }
        failedStepsBeforeReset += main.failedSteps
        main.reset()
        if controller.implicitFallback {
            switchStepper(to: policy.initial, at: t)
            controller.implicitFallback = false
        }
        // The batcher's last evaluation is at the end state (not evaluated again).
        let eEnd = field.stepEndEvaluation(at: y, into: fBatch)
        f0.update(from: fBatch, count: dim)
        swap(&z0, &z1)
        swap(&zdot0, &zdot1)
        solution.diagnostics.crossingBatches += 1
        solution.diagnostics.batchedCrossings += crossings.count
        let lossEnd = field.loss(y)
        for c in crossings {
            let tc = t0 + c.tau
            let loss = lossEnd + (y[P] - c.state[P])
            let transition = PairTransition(neuron: c.neuron, group: c.group, from: c.from, to: c.to, kind: c.kind)
            updateHysteresis([transition], at: tc, loss: loss)
            logEvents([transition], at: tc, loss: loss)
            recordInterval(patterns.close(at: tc, changes: [(index: c.neuron * G + c.group, state: c.to)]))
            record(FlowSample(t: tc, loss: loss, gradNorm: c.fieldNorm2.squareRoot(), patternId: patterns.current,
                              theta: Array(c.state[0..<P]), dissipated: c.state[P]))
            guardian.decided(at: tc)
            if let failure = runawayDiagnosis(at: tc) {
                fail(at: t, failure, restore: false)
                return .stopped
            }
        }
        return .taken(eEnd)
    }

    /// Many events per step (a knot sweeping through many points): the detecting step also
    /// predicted the later crossings (the roots of its Hermite interpolants). The next step is
    /// aimed just past the earliest of them, so that it ends within the locator's backward
    /// `nudge` of that crossing and is located with no re-step; the crossings are still found and
    /// resolved one at a time, each with the field of the mode before it. The margin, a millionth
    /// of the distance, covers the prediction's error (O(H⁴) for other neurons, first order in the
    /// field's jump for the event's own neuron); a step that falls short is an ordinary step.
    func aimAtNextCrossing(flags: [EventDetector.Flag], t0: Double, after t: Double, handled: [(Int, Int)]) {
        var next = Double.infinity
        for flag in flags {
            guard let root = flag.root, t0 + root > t,
                  !handled.contains(where: { $0 == (flag.function.neuron, flag.function.group) }) else { continue }
            next = min(next, t0 + root)
        }
        // Not where batches apply: aiming ends each step just past the next crossing, the short steps
        // batches are there to avoid (also when this step's batch was declined).
        guard next.isFinite, options.eventShortcuts, !batches else { return }
        let distance = next - t
        let aim = distance * (1 + 1e-6) + 4 * next.ulp
        pendingStepSize = min(pendingStepSize ?? aim, aim)
    }

    /// Installs the new states, projects the event pairs onto their surfaces, logs the events,
    /// restarts the stepper and records a sample.
    func apply(_ transitions: [PairTransition], at t: Double, surfacePairs: [(Int, Int)]) {
        var changed: [Int: PairState] = [:]
        for tr in transitions { changed[tr.neuron * G + tr.group] = tr.to }
        // Project: every event pair and every sliding pair of the neurons involved.
        var byNeuron: [Int: Set<Int>] = [:]
        for (i, g) in surfacePairs { byNeuron[i, default: []].insert(g) }
        // In unit order: in a deep network projecting one unit moves the others' curved surfaces,
        // so the order is part of the result (a Dictionary's order changes from run to run).
        for i in byNeuron.keys.sorted() {
            for g in 0..<G where (changed[i * G + g] ?? field.states[i * G + g]) == .sliding { byNeuron[i]!.insert(g) }
            projectNeuron(i, onto: byNeuron[i]!.sorted())
        }
        // The loss at the event (exact σ, so the same under either mode): for the hysteresis, the
        // event log and the sample.
        let loss = field.loss(y)
        updateHysteresis(transitions, at: t, loss: loss)
        field.updateMode(changed.map { (index: $0.key, state: $0.value) })
        failedStepsBeforeReset += main.failedSteps
        main.reset()
        if controller.implicitFallback {
            switchStepper(to: policy.initial, at: t)
            controller.implicitFallback = false
        }
        if controller.isStiff {
            switchStepper(to: controller.explicitChoice, at: t)
            if let last = controller.lastExplicitStep { pendingStepSize = last }
        }
        logEvents(transitions, at: t, loss: loss)
        if !transitions.isEmpty { recordInterval(patterns.close(at: t, changes: changed.map { (index: $0.key, state: $0.value) })) }
        refreshStartOfStep()
        record(t: t, loss: loss)
    }

    /// After an event at t: why the run must stop (chattering, or more events than flow.maxEvents), or nil.
    func runawayDiagnosis(at t: Double) -> FlowFailure? {
        if let failure = guardian.chattering(at: t) {
            if case let .chattering(t, events, span, neuron, surfaces, nil) = failure, let name = field.layerAndUnit(ofNeuron: neuron) {
                return .chattering(t: t, events: events, span: span, neuron: name.unit, surfaces: surfaces, layer: name.layer)
            }
            return failure
        }
        guard solution.diagnostics.eventsByKind.total > options.maxEvents else { return nil }
        return .eventLimit(options.maxEvents)
    }

    /// The slide hysteresis (`SlideHysteresis`) for transitions at t, where the loss is `loss`.
    func updateHysteresis(_ transitions: [PairTransition], at t: Double, loss: Double) {
        field.updateSlideHysteresis(&hysteresis, transitions.map { (key: $0.neuron * G + $0.group, from: $0.from, to: $0.to) },
                                    at: t, loss: loss)
    }

    /// Records transitions as events: one count and one row per pair (a group of duplicate points
    /// is one surface with one event, SPEC §4).
    func logEvents(_ transitions: [PairTransition], at t: Double, loss: Double) {
        // The row names the group's first point (duplicates share its state in patterns.csv).
        for tr in transitions {
            solution.diagnostics.eventsByKind[tr.kind] += 1
            if tr.kind == .slide {
                let key = tr.neuron * G + tr.group
                if let e = slideEntries[key] { slideEntries[key] = (e.count + 1, e.first, t) } else { slideEntries[key] = (1, t, t) }
            }
            let event = FlowEvent(t: t, neuron: tr.neuron, point: field.pointsOfGroup[tr.group][0], kind: tr.kind, state: tr.to, loss: loss)
            recorder.record(event)
            solution.eventCount += 1
            guardian.logged(event)
        }
    }

    /// Moves (w_i, b_i) of the current state y to the nearest point on the surfaces of the given
    /// groups (exact: z is linear).
    func projectNeuron(_ i: Int, onto groups: [Int]) {
        field.project(i, onto: groups, state: y)
    }

    func projectSliding() {
        field.projectSlidingPairs(state: y)
    }

    /// Initial pattern: sign of z, and pairs exactly on a surface resolved like an event.
    func initialMode() {
        let (states, onSurface) = field.initialStates(y)
        field.setMode(states)
        if !onSurface.isEmpty {
            let transitions = field.resolve(y, eventPairs: onSurface, excluded: [:], repeated: [], reportUnchanged: true)
            var newStates = field.states
            for tr in transitions { newStates[tr.neuron * G + tr.group] = tr.to }
            var byNeuron: [Int: [Int]] = [:]
            for (i, g) in onSurface { byNeuron[i, default: []].append(g) }
            for (i, groups) in byNeuron.sorted(by: { $0.key < $1.key }) { projectNeuron(i, onto: groups) }
            field.setMode(newStates)
            logEvents(transitions, at: 0, loss: field.loss(y))
            guardian.decided(at: 0)
        }
        patterns.openFirst(field.states, at: 0)
    }

    func refreshStartOfStep() {
        field.evaluate(y, f0)
        field.surfaceValues(y, f0, z: z0, zdot: zdot0)
    }

    // MARK: Bookkeeping

    /// Records a closed pattern interval.
    func recordInterval(_ interval: PatternInterval) {
        recorder.record(interval)
        solution.patternIntervalCount += 1
    }

    /// Escape from the initial plateau (SPEC §7): L(0) − D(t*) = (1 − δ) L(0), D = ∫|θ'|², located
    /// between two step starts on the cubic Hermite interpolant of D (D and D' = |f|² at both).
    /// Called at every step's start, where y and f0 hold the state and its field.
    func checkEscape(at t: Double) {
        guard escapeTime == nil else { return }
        let now = (t: t, dissipated: y[P], rate: f0[P])
        defer { escapeCheck = now }
        guard now.dissipated >= escapeLevel else { return }
        guard let last = escapeCheck, last.dissipated < escapeLevel, now.t > last.t else {
            if escapeCheck == nil && problem.start == nil { escapeTime = t }
            return
        }
        escapeTime = Self.hermiteCrossing(from: last.t, to: now.t, values: (last.dissipated, now.dissipated),
                                          rates: (last.rate, now.rate), level: escapeLevel)
    }

    /// The escape time inside an accepted step [t0, end] of one mode (start y0, f0; end state `yEnd`
    /// and its rate of dissipation |f|², if known) when D crosses δ·L(0) in it: Newton on
    /// D(t) − δ·L(0) with D' = |f|², each iterate the step re-taken from its start (`locator`),
    /// from the cubic Hermite interpolant's crossing (the linear one without the end rate), to
    /// the step control's tolerance on D. (The check at step starts, `checkEscape`, remains for
    /// steps that cross several modes, as batched ones do.)
    ///
    /// A Newton step δ whose own error ½|D''|δ² (with D's rounding, 8 ulps) is below a tenth of
    /// that tolerance is not re-taken to check it: the next re-step would find its residual within
    /// the tolerance and stop there, at the same τ (the same result wherever that bound holds; one
    /// re-taken step, 13 evaluations, is saved). D'' is the larger difference quotient of D' = |f|²
    /// over [0, τ] and [τ, H] (without the end's rate, no shortcut), as the event locator's `nudge`
    /// estimates ÿ; on the deep reference cases (rtol 1e-6 … 1e-12) and the shallow examples the
    /// re-step's residual was within a factor 1.5 of ½|D''|δ², so the margin is ≥ 6. Only where nothing slides: a sliding
    /// field's evaluations move Newton's starting α's (`withoutSteering`), so the re-step, though
    /// its τ is the same, is part of the run's later decisions there.
    func locateEscape(t0: Double, end: Double, yEnd: UnsafePointer<Double>, rateEnd: Double?, locator: EventLocator<Field>,
                      stepHint: Double) {
        guard escapeTime == nil, y0[P] < escapeLevel, yEnd[P] >= escapeLevel, end > t0 else { return }
        let H = end - t0
        var tau = rateEnd.map {
            Self.hermiteCrossing(from: 0, to: H, values: (y0[P], yEnd[P]), rates: (f0[P], $0), level: escapeLevel)
        } ?? H * (escapeLevel - y0[P]) / (yEnd[P] - y0[P])
        let probe = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        let fProbe = UnsafeMutablePointer<Double>.allocate(capacity: dim)
        defer { probe.deallocate(); fProbe.deallocate() }
        locator.prepareForProbe(t0: t0, y0: y0, f0: f0, stepHint: stepHint)
        let tolerance = options.atol + options.rtol * escapeLevel
        let unsteered = field.slidingNeurons.isEmpty && !EscapeLocation.checksEveryNewtonStep
        for _ in 0..<8 {
            guard locator.advance(tau, into: probe), field.evaluate(probe, fProbe), fProbe[P] > 0 else { break }
            let residual = probe[P] - escapeLevel
            if abs(residual) <= tolerance { break }
            let next = tau - residual / fProbe[P]
            guard next > 0, next <= H else { break }
            let delta = next - tau
            // Without the end's rate (a step cut at an event) D'' on [τ, H] is unknown: no shortcut.
            let right = rateEnd.map { H > tau ? abs($0 - fProbe[P]) / (H - tau) : .infinity } ?? .infinity
            let curvature = max(abs(fProbe[P] - f0[P]) / tau, right)
            tau = next
            if unsteered && 0.5 * delta * delta * curvature + 8 * escapeLevel.ulp <= 0.1 * tolerance { break }
        }
        escapeTime = t0 + tau
    }

    /// Where the cubic Hermite interpolant of a non-decreasing quantity over [t0, t1] (values and
    /// rates at both ends) reaches `level` (values.0 < level ≤ values.1), by bisection.
    static func hermiteCrossing(from t0: Double, to t1: Double, values: (Double, Double), rates: (Double, Double),
                                level: Double) -> Double {
        let h = t1 - t0
        func value(_ s: Double) -> Double {
            let s2 = s * s, s3 = s2 * s
            return (2 * s3 - 3 * s2 + 1) * values.0 + (s3 - 2 * s2 + s) * h * rates.0
                + (-2 * s3 + 3 * s2) * values.1 + (s3 - s2) * h * rates.1
        }
        var lo = 0.0, hi = 1.0
        for _ in 0..<60 {
            let mid = (lo + hi) / 2
            if value(mid) >= level { hi = mid } else { lo = mid }
        }
        return t0 + hi * h
    }

    /// The remaining grid samples of a state held to T (zero loss or a stationary end) from t0:
    /// θ and D fixed, an adaptive flow's auxiliary state moving as its equations give at the held
    /// θ (`SwitchedSystem.advanceHeldAuxiliary`); y ends at T.
    func holdToEnd(_ times: [Double], from next: inout Int, heldAt t0: Double) {
        let held = Array(UnsafeBufferPointer(start: y, count: dim))
        while next < times.count {
            held.withUnsafeBufferPointer { field.advanceHeldAuxiliary(y, held: $0.baseAddress!, from: t0, to: times[next]) }
            record(t: times[next])
            next += 1
        }
        held.withUnsafeBufferPointer { field.advanceHeldAuxiliary(y, held: $0.baseAddress!, from: t0, to: options.T) }
    }

    func record(t: Double, loss: Double? = nil) {
        let theta = Array(UnsafeBufferPointer(start: y, count: P))
        record(FlowSample(t: t, loss: loss ?? field.loss(y), gradNorm: field.gradientNorm(at: y, f0), patternId: patterns.current,
                          theta: theta, dissipated: y[P],
                          auxiliary: Array(UnsafeBufferPointer(start: y + (P + 1), count: exportedAuxiliary))))
    }

    func record(_ sample: FlowSample) {
        recorder.record(sample)
        solution.last = sample
    }

    func allFinite(_ v: UnsafePointer<Double>) -> Bool {
        // A component is not finite exactly when its exponent bits are all ones; adding one unit
        // of the exponent's lowest bit to the masked exponent then carries into bit 63. One OR
        // over every component, without a branch per component (vectorised: called at every step).
        let exponent: UInt64 = 0x7FF0_0000_0000_0000, carry: UInt64 = 0x0010_0000_0000_0000
        var top: UInt64 = 0
        for p in 0..<dim { top |= (v[p].bitPattern & exponent) &+ carry }
        return top & (1 << 63) == 0
    }

    /// Stops the run as failed at time t; `restore`: the last good state is the start of the
    /// failed step (y0), otherwise the current state.
    /// The field's own failure (`SwitchedSystem.failure`: its linear algebra, or a mode the Filippov
    /// rules do not determine) is the diagnosis whatever the symptom it caused (and the only one
    /// when `failure` is nil).
    func fail(at t: Double, _ failure: FlowFailure?, restore: Bool = true) {
        if restore { y.update(from: y0, count: dim) }
        let reason = field.failure(at: t) ?? failure
        precondition(reason != nil, "a failure without a reason")
        solution.status = .failed
        solution.failure = reason
        solution.message = reason?.message
        field.evaluate(y, f0)
        if solution.last?.t != t { record(t: t) }
    }

    func reportProgress(_ t: Double) {
        // Called at every step end: the clock read directly (not `DispatchTime.now()`, ~100
        // instructions a call), and the hook copied only when it is due (issue 22).
        guard hooks.progress != nil else { return }
        let now = monotonicNanoseconds()
        guard now &- lastProgress > 200_000_000 else { return }
        lastProgress = now
        hooks.progress?(FlowProgress(t: t, T: options.T, loss: field.loss(y), events: solution.eventCount,
                                     steps: solution.diagnostics.steps))
    }

    func finish(at t: Double) {
        recordInterval(patterns.interval(to: t))
        solution = concluded(solution, at: t)
        recorder.deliver(into: &solution)
    }

    /// A periodic checkpoint for the recorder (`FlowRecorder.checkpoint`): the run as it would be
    /// if it had been interrupted at its last sample. Nothing is changed. With step ends at the
    /// sample times that is a step end; with dense output the last sample may lie inside the
    /// steps since, always in the current pattern interval (every event records a sample), so the
    /// run continues exactly from there on a resume.
    func offerCheckpoint(at t: Double) {
        guard recorder.wantsCheckpoint, let last = solution.last?.t,
              last == t || (options.sampleOutput == .dense && last >= patterns.start) else { return }
        var snapshot = solution
        snapshot.status = .interrupted
        snapshot.message = "stopped after its checkpoint at t = \(last) (the process was killed; resumed from there)"
        snapshot.patternIntervalCount += 1
        recorder.checkpoint(concluded(snapshot, at: last), openInterval: patterns.interval(to: last))
    }

    /// Pairs entering a slide this often in one run are named in the run's note.
    static var repeatedSlideCount: Int { 50 }

    /// The note on pairs that entered a slide `repeatedSlideCount` times or more, nil if none. A
    /// slide entered and left over and over is no single Filippov slide: for example the Adam flow
    /// sliding at second order on two surfaces by turns (SPEC §7; the one-surface rule takes them
    /// one at a time), where each entry ends when the other surface's zig-zag resumes. How many
    /// such events a run takes depends on the tolerance and so on the step sequence (a resumed
    /// run differs there); θ and the loss agree to the accuracy the tolerance gives.
    func repeatedSlidesNote() -> String? {
        let repeated = slideEntries.filter { $0.value.count >= Self.repeatedSlideCount }
            .sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }
        guard let (key, top) = repeated.first.map({ ($0.key, $0.value) }) else { return nil }
        let i = key / G, point = field.pointsOfGroup[key % G][0]
        let unit = field.layerAndUnit(ofNeuron: i).map { "layer \($0.layer), unit \($0.unit)" } ?? "neuron \(i)"
        let others = repeated.count > 1 ? ", and \(repeated.count - 1) other pair\(repeated.count > 2 ? "s" : "") \(Self.repeatedSlideCount) times or more" : ""
        // A resumed part counts its own entries only (the earlier parts' events are copied, not read).
        let part = problem.start.map { $0.t > 0 ? " in this part of the run (resumed at t = \($0.t))" : "" } ?? ""
        return "the pair (\(unit), point \(point)) entered a slide \(top.count) times between t = \(top.first) and \(top.last)\(part)\(others): "
            + "slides entered and left over and over (such as the Adam flow's second-order slides on two surfaces by turns), whose number of "
            + "events depends on the tolerance and the step sequence (a resumed run's differs too) while θ and the loss agree to the "
            + "tolerance's accuracy (README, Known limits)"
    }

    /// `s` with the diagnostics, message and final pattern of a run ending at t (its last
    /// interval already counted).
    func concluded(_ s: FlowSolution, at t: Double) -> FlowSolution {
        var solution = s
        var diag = solution.diagnostics
        diag.rhsEvaluations = field.rhsEvaluations
        diag.jacobianEvaluations = field.jacobianEvaluations
        diag.rejectedSteps = failedStepsBeforeReset + main.failedSteps
        diag.stepperSteps = controller.stepsByName
        diag.stepperSeconds = controller.secondsByName
        diag.stepperSwitches = controller.switches
        diag.zeroLossTime = roundingFloorTime
        diag.stationaryTime = stationaryTime
        diag.escapeTime = escapeTime.flatMap { $0 <= t ? $0 : nil }
        if let tz = roundingFloorTime, solution.status == .completed {
            solution.message = "the loss reached zero to working precision at t = \(tz) (every residual within its rounding level); the state is held from there to T"
        }
        if let ts = stationaryTime, solution.status == .completed {
            // An adaptive flow (auxiliary state beyond (θ, D)) holds by AdaptiveField's tolerance test.
            let why = dim > P + 1
                ? "θ moved less than a quarter of atol + rtol|θ| while t doubled, with the momentum's remaining motion included, or "
                    + "θ (and Adam's m) within that tolerance of an equilibrium (|g|, |m̂| ≤ ρ(∇²L)·|atol + rtol|θ||, θ within 16 tolerances "
                    + "while t doubled), and the loss constant to rounding, since t = \(stationarity.since ?? ts)"
                : "the field within its rounding level and the loss constant to rounding since t = \(stationarity.since ?? ts)"
            solution.message = "stationary to \(dim > P + 1 ? "the step control's tolerance" : "working precision") at t = \(ts) (\(why)); "
                + "the state is held over the remaining [\(ts), \(options.T)]"
        }
        if let note = repeatedSlidesNote() {
            solution.repeatedSlidesNote = note
            if solution.status == .completed { solution.message = solution.message.map { $0 + "; " + note } ?? note }
        }
        diag.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let final = solution.finalTheta
        let q0 = problem.model.balance(problem.theta0), q1 = problem.model.balance(final)
        diag.invariantDrift = zip(q0, q1).map { abs($0 - $1) }.max() ?? 0
        diag.finalLoss = solution.finalLoss
        diag.dissipated = solution.last?.dissipated ?? 0
        let l0 = diag.initialLoss
        diag.dissipationDefect = l0 > 0 ? abs(l0 - diag.finalLoss - diag.dissipated) / l0 : abs(diag.finalLoss + diag.dissipated)
        solution.diagnostics = diag
        solution.distinctPatternCount = patterns.distinctCount
        solution.finalPattern = patterns.pointPattern
        return solution
    }
}

/// The test for a state stationary to working precision (SPEC §5), at step ends: the field's ratio
/// to its rounding level (`ModeField.fieldRoundingRatio`) stays below `threshold` at every step
/// end, and the loss within `lossRounding` relative of its value, while t at least doubles (from
/// `since` to 2·`since`, and over at least `minimumChecks` step ends). The ratio's bound is worst
/// case (the noise of a stationary state lies well below it, docs/engine-measurements.md), so a
/// threshold of 1/4 leaves the field a factor of ~100 above its actual noise at most, and the doubling asks
/// that it stay so while the flow's own time scale passes. A slow escape (a saddle) changes the
/// loss or lifts the field over the window and resets the test.
struct StationaryHold {
    static let threshold = 0.25
    static let lossRounding = 64 * Double.ulpOfOne
    static let minimumChecks = 8

    /// Start of the current window, its loss and its checks.
    private(set) var since: Double? = nil
    private var loss = 0.0
    private var checks = 0
    /// The ratio is computed every step while it was small last time, else every 16th step.
    private var lastRatio = Double.infinity
    private var skipped = 0

    mutating func holds(at t: Double, loss currentLoss: () -> Double, ratio: () -> Double) -> Bool {
        if lastRatio > 1e3 && skipped < 15 { skipped += 1; return false }
        skipped = 0
        lastRatio = ratio()
        guard lastRatio <= Self.threshold, t > 0 else { since = nil; return false }
        let l = currentLoss()
        guard let start = since, abs(l - loss) <= Self.lossRounding * max(abs(loss), .leastNormalMagnitude) else {
            since = t
            loss = l
            checks = 1
            return false
        }
        checks += 1
        return t >= 2 * start && checks >= Self.minimumChecks
    }
}
