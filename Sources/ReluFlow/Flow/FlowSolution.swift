/// One row of the trajectory: the state at a sample time or at an event.
public struct FlowSample: Sendable {
    public var t: Double
    public var loss: Double
    /// |∇L| of the field in force (Filippov field on sliding pairs).
    public var gradNorm: Double
    public var patternId: Int
    /// θ in the SPEC §1 order.
    public var theta: [Double]
    /// ∫₀ᵗ |θ'|² ds, the dissipation quadrature (a training run: its first-order sum).
    public var dissipated: Double
    /// The iteration of a training run's sample (nil for the flow).
    public var iteration: Int? = nil
    /// An adaptive flow's exported auxiliary state (RMSProp: v; Adam: m then v; SPEC §7), in
    /// `AdaptiveLaw.auxiliaryNames` order; empty for the gradient flow and training runs.
    public var auxiliary: [Double] = []
}

/// One event (INTERFACE.md `events.csv`), per data point (coincident points give one row each).
public struct FlowEvent: Sendable {
    public var t: Double
    public var neuron: Int
    public var point: Int
    public var kind: EventKind
    /// State of the pair after the event.
    public var state: PairState
    public var loss: Double
    /// The iterate of a training run at which the change appeared (nil for the flow).
    public var iteration: Int? = nil
}

/// A maximal interval of constant activation pattern. The pattern itself is stored as the pairs
/// whose state differs from the previous interval's (from all-off for the first interval), so a
/// run's patterns take O(n·m + events) memory, not O(n·m · events); `PatternReplay` rebuilds the
/// full n×m pattern of any interval.
public struct PatternInterval: Sendable {
    public var patternId: Int
    public var tStart: Double
    public var tEnd: Double
    /// Pairs whose state differs from the previous interval (the first interval: from all off).
    public var changes: [PatternChange]
    /// Per-neuron number of points that activate it (`on`).
    public var activeCounts: [Int]
    /// Per-neuron number of sliding pairs.
    public var slidingCounts: [Int]
    public let width: Int
    public let pointCount: Int

    public init(patternId: Int, tStart: Double, tEnd: Double, changes: [PatternChange], activeCounts: [Int], slidingCounts: [Int], width: Int, pointCount: Int) {
        self.patternId = patternId
        self.tStart = tStart
        self.tEnd = tEnd
        self.changes = changes
        self.activeCounts = activeCounts
        self.slidingCounts = slidingCounts
        self.width = width
        self.pointCount = pointCount
    }
}

/// A pair (neuron i, point j) taking a new state at the start of a pattern interval.
public struct PatternChange: Sendable, Equatable {
    public var neuron: Int
    public var point: Int
    public var state: PairState

    public init(neuron: Int, point: Int, state: PairState) {
        self.neuron = neuron
        self.point = point
        self.state = state
    }

    /// `i:j:s` with s the state's symbol (`+`, `-`, `0`), as in `patterns.csv`.
    public var text: String { "\(neuron):\(point):\(state.symbol)" }

    /// Parses `text`'s format; nil when malformed or outside an n×m pattern.
    public init?(text: Substring, width n: Int, points m: Int) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let i = Int(parts[0]), let j = Int(parts[1]), (0..<n).contains(i), (0..<m).contains(j),
              parts[2].count == 1, let s = PairState(symbol: parts[2].first!) else { return nil }
        self.init(neuron: i, point: j, state: s)
    }
}

/// Full n×m patterns (row-major by neuron) of a sequence of pattern intervals, rebuilt from their
/// change lists. Forward queries continue from the last one; a query for an earlier interval
/// replays from the start.
public final class PatternReplay {
    public let intervals: [PatternInterval]
    private var states: [PairState]
    private var next = 0
    private let m: Int

    public init(_ intervals: [PatternInterval], width n: Int, points m: Int) {
        self.intervals = intervals
        self.m = m
        states = [PairState](repeating: .off, count: n * m)
    }

    public convenience init(_ solution: FlowSolution) {
        self.init(solution.patterns, width: solution.problem.model.hiddenUnitCount, points: solution.problem.data.count)
    }

    /// The pattern of interval `k`.
    public func states(_ k: Int) -> [PairState] {
        if k < next - 1 {
            for q in states.indices { states[q] = .off }
            next = 0
        }
        while next <= k {
            for c in intervals[next].changes { states[c.neuron * m + c.point] = c.state }
            next += 1
        }
        return states
    }

    /// The pattern after the last interval's changes (all off when there are none).
    public var final: [PairState] { intervals.isEmpty ? states : states(intervals.count - 1) }
}

/// The text form of a pattern used by `checkpoint.json`: per neuron a string of `+` (on), `-`
/// (off), `0` (sliding) over the points, joined by `;`.
public func patternCode(_ states: [PairState], width n: Int, points m: Int) -> String {
    // Appended symbol by symbol: the generic String(sequence) and joined(separator:) cost
    // ~0.3 M instructions at their first use in a process (issue 22).
    var code = ""
    code.reserveCapacity(n * (m + 1))
    for i in 0..<n {
        if i > 0 { code.append(";") }
        for j in 0..<m { code.append(states[i * m + j].symbol) }
    }
    return code
}

public enum FlowStatus: String, Sendable, Codable {
    /// Reached T.
    case completed
    /// Stopped by a numerical failure; everything up to the last good state is kept.
    case failed
    /// Stopped on request (SIGINT); the last state is a valid starting point.
    case interrupted
    /// Stopped by its work budget before T (`flow.maxRhsEvaluations`, or the machine-dependent
    /// `flow.maxWallSeconds`), at a step end: nothing failed, everything up to the stop is the flow
    /// (its escape time, when reached before, is exact); the last state is a valid starting point.
    case stopped
}

/// Accuracy and cost diagnostics reported with every run (SPEC §4, INTERFACE.md `summary.json`).
public struct FlowDiagnostics: Sendable, Codable {
    public var steps = 0
    public var rejectedSteps = 0
    public var rhsEvaluations = 0
    public var jacobianEvaluations = 0
    public var eventsByKind = EventCounts()
    public var wallSeconds = 0.0
    /// max_i |q_i(T) − q_i(0)|: the drift of an invariant for the gradient flow only (SPEC §4); for
    /// an adaptive flow (SPEC §7) the balance is not conserved and this is its change, not an error.
    public var invariantDrift = 0.0
    /// |L(0) − L(T) − D(T)| / L(0), D = ∫ −g·θ' dt (= ∫|θ'|² for the gradient flow): the
    /// dissipation identity of every flow the engine integrates.
    public var dissipationDefect = 0.0
    /// D(T) = ∫₀ᵀ −g·θ' dt (∫₀ᵀ |θ'|² dt for the gradient flow).
    public var dissipated = 0.0
    public var initialLoss = 0.0
    public var finalLoss = 0.0
    /// Accepted steps and wall seconds per GSL stepper, and how often `auto` switched.
    public var stepperSteps: [String: Int] = [:]
    public var stepperSeconds: [String: Double] = [:]
    public var stepperSwitches = 0
    /// Events taken in crossing batches (CrossingBatcher), and the steps that took them.
    public var batchedCrossings = 0
    public var crossingBatches = 0
    /// Grid samples taken from inside a step (SampleOutput.dense): by the Hermite interpolant, and
    /// by re-taking the step to the sample time where the interpolant's error estimate exceeded
    /// the tolerance or the step ended at an event.
    public var interpolatedSamples = 0
    public var resteppedSamples = 0
    /// Of the interpolated samples, those inside BDF steps from the polynomial through the step
    /// ends of their smooth stretch (`StepHistory`), where the Hermite interpolant's check failed.
    public var historySamples = 0
    /// Of the re-stepped samples, those integrated adaptively with rk8pd from the step start
    /// because both re-steps failed (`SampleReintegrator`).
    public var reintegratedSamples = 0
    /// When the loss reached zero to working precision (then the state is held to T), or nil.
    public var zeroLossTime: Double? = nil
    /// When the state became stationary to working precision at non-zero loss (held from there to T).
    public var stationaryTime: Double? = nil
    /// The escape time of the flow (SPEC §7), or nil if L stayed above (1 − δ) L(0).
    public var escapeTime: Double? = nil
}

/// Result of `solve`: samples, events, patterns and diagnostics.
public struct FlowSolution: Sendable {
    public var problem: FlowProblem
    public var status: FlowStatus
    /// Why the run stopped early (nil when completed).
    public var message: String?
    /// The reason of a flow run's failure (status `failed`; `message` is its text), nil otherwise.
    public var failure: FlowFailure?
    /// The records, when `solve` had no `FlowRecorder` (else they went to the recorder and these
    /// stay empty).
    public var samples: [FlowSample] = []
    public var events: [FlowEvent] = []
    public var patterns: [PatternInterval] = []
    /// The last sample (the final state), kept with or without a recorder.
    public var last: FlowSample?
    /// Record counts, kept with or without a recorder.
    public var eventCount = 0
    public var patternIntervalCount = 0
    public var distinctPatternCount = 0
    /// The pattern at the end, per pair (n×m, row-major by neuron), when known.
    public var finalPattern: [PairState]?
    public var diagnostics = FlowDiagnostics()
    /// Stepper requested (`auto` or a GSL name); what ran is in `diagnostics.stepperSteps`.
    public var stepper: Stepper
    /// For a training run (SPEC §7): its method, iterations and escape; nil for the flow.
    public var training: TrainingSummary? = nil
    /// Pairs that entered a slide over and over (`FlowIntegration.repeatedSlidesNote`), nil if
    /// none; also in a completed run's `message`.
    public var repeatedSlidesNote: String? = nil

    /// The state to continue from (`checkpoint.json`).
    public var checkpoint: FlowCheckpoint {
        let final = finalPattern ?? (patterns.isEmpty ? nil : PatternReplay(self).final)
        var point = FlowCheckpoint(t: finalTime, theta: finalTheta, dissipated: last?.dissipated ?? 0,
                                   pattern: final.map { patternCode($0, width: problem.model.hiddenUnitCount, points: problem.data.count) } ?? "")
        if let aux = last?.auxiliary, !aux.isEmpty { point.auxiliary = aux }
        return point
    }

    public var finalTime: Double { last?.t ?? 0 }
    public var finalTheta: [Double] { last?.theta ?? problem.theta0 }
    public var finalLoss: Double { last?.loss ?? .nan }
}

/// Events counted by kind (`summary.json` `eventsByKind`, keyed by the kind's name there).
public struct EventCounts: Sendable, Equatable, Codable {
    private var counts: [Int]

    public init() { counts = [Int](repeating: 0, count: EventKind.allCases.count) }

    /// Counts from a `summary.json` object; names that are not kinds are an error of the caller's
    /// reading (nil).
    public init?(names: [String: Int]) {
        self.init()
        for (name, count) in names {
            guard let kind = EventKind(rawValue: name) else { return nil }
            self[kind] = count
        }
    }

    private static func index(_ kind: EventKind) -> Int { EventKind.allCases.firstIndex(of: kind)! }

    public subscript(_ kind: EventKind) -> Int {
        get { counts[Self.index(kind)] }
        set { counts[Self.index(kind)] = newValue }
    }

    /// All events.
    public var total: Int { counts.reduce(0, +) }

    /// Every kind with its count, by the kind's name (zero counts included).
    public var byName: [String: Int] {
        Dictionary(uniqueKeysWithValues: EventKind.allCases.map { ($0.rawValue, self[$0]) })
    }

    /// Adds another run part's counts.
    public static func += (a: inout EventCounts, b: EventCounts) {
        for kind in EventKind.allCases { a[kind] += b[kind] }
    }

    public init(from decoder: Decoder) throws {
        let names = try [String: Int](from: decoder)
        guard let counts = EventCounts(names: names) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown event kind in \(names.keys.sorted())"))
        }
        self = counts
    }

    public func encode(to encoder: Encoder) throws { try byName.encode(to: encoder) }
}

/// Why a flow run stopped before T with status `failed` (`FlowSolution.failure`). The message
/// (summary.json's `message`) and the exit status of the command line follow from the case.
public enum FlowFailure: Error, Sendable, Equatable {
    /// A GSL step from t failed with `status` (a GSL error code) at step size `stepSize`.
    case stepFailed(stepper: Stepper, t: Double, status: Int32, stepSize: Double)
    /// The state became non-finite in the step from t.
    case nonFiniteState(t: Double, stepSize: Double)
    /// A re-taken step failed with a GSL `status`: while locating an event near t, or while taking
    /// the samples inside a step (before an event, or by dense output).
    case reStepFailed(ReStep, t: Double, status: Int32)
    /// Events at their surfaces kept switching without time advancing (`pairs` at t); `resolved`:
    /// the resolver found nothing to change.
    case noProgress(t: Double, pairs: Int, unchanged: Bool)
    /// The chattering guard: `events` events within `span` time units, mostly `neuron` on
    /// `surfaces` surfaces (points). A deep network's unit is `neuron` of hidden layer `layer`
    /// (nil: the shallow network's neuron, whose surfaces are hyperplanes).
    case chattering(t: Double, events: Int, span: Double, neuron: Int, surfaces: Int, layer: Int? = nil)
    /// More events than `flow.maxEvents`.
    case eventLimit(Int)
    /// The recorder could not write the records (`FlowRecorder.failure`).
    case recorder(t: Double, reason: String)
    /// The linear algebra of the sliding surfaces failed near t.
    case linearAlgebra(t: Double, error: NumericalError)
    /// Several attracting surfaces meet at t where the Filippov rule of a deep network or an
    /// adaptive flow (SPEC §4, §7, §8) does not apply there; `pairs` says which and why.
    case severalAttractingSurfaces(t: Double, pairs: String)

    /// What the re-taken step was for.
    public enum ReStep: Sendable, Equatable { case eventLocation, samplesBeforeEvent, denseOutput }

    /// The diagnosis (summary.json `message`).
    public var message: String {
        switch self {
        case let .stepFailed(stepper, t, status, h):
            return "the \(stepper.rawValue) step from t = \(t) failed: \(GSLRuntime.describe(status)) (step size \(h))"
        case let .nonFiniteState(t, h):
            return "the state became non-finite in the step from t = \(t) (step size \(h))"
        case let .reStepFailed(.eventLocation, t, status):
            return "re-stepping to locate an event failed near t = \(t): \(GSLRuntime.describe(status))"
        case let .reStepFailed(.samplesBeforeEvent, t, status):
            return "re-stepping to a sample time before the event near t = \(t) failed: \(GSLRuntime.describe(status))"
        case let .reStepFailed(.denseOutput, t, status):
            return "dense output inside the step from t = \(t) failed: \(GSLRuntime.describe(status))"
        case let .noProgress(t, pairs, unchanged):
            return "events do not advance time at t = \(t) (\(pairs) pairs at their surfaces\(unchanged ? "" : " keep switching"))"
        case let .chattering(t, events, span, neuron, surfaces, layer?):
            return "chattering at t = \(t): \(events) events within \(span) time units, mostly unit \(neuron) of layer \(layer) "
                + "on \(surfaces) points at once (degenerate geometry: the unit's surfaces on these points meet and its "
                + "decisions there do not settle; this version does not resolve it)"
        case let .chattering(t, events, span, neuron, surfaces, nil):
            return "chattering at t = \(t): \(events) events within \(span) time units, mostly neuron \(neuron) "
                + "on \(surfaces) surfaces at once (degenerate geometry: its hyperplane passes through more data points than "
                + "this version resolves)"
        case let .eventLimit(limit):
            return "more than \(limit) events (flow.maxEvents): the run is chattering or needs a larger limit"
        case let .recorder(t, reason):
            return "writing the run's records failed at t = \(t): \(reason)"
        case let .linearAlgebra(t, error):
            return "linear algebra of the sliding surfaces failed near t = \(t): \(error)"
        case let .severalAttractingSurfaces(t, pairs):
            return "several attracting surfaces meet at t = \(t): \(pairs); the Filippov rule (SPEC §4, §8) does not apply there"
        }
    }

    /// Exit status of the command line: 3 when records could not be written, 1 for a numerical failure.
    public var exitStatus: Int32 {
        if case .recorder = self { return 3 }
        return 1
    }
}
