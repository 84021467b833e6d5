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
    (0..<n).map { i in String((0..<m).map { states[i * m + $0].symbol }) }.joined(separator: ";")
}

public enum FlowStatus: String, Sendable, Codable {
    /// Reached T.
    case completed
    /// Stopped by a numerical failure; everything up to the last good state is kept.
    case failed
    /// Stopped on request (SIGINT); the last state is a valid starting point.
    case interrupted
}

/// Accuracy and cost diagnostics reported with every run (SPEC §4, INTERFACE.md `summary.json`).
public struct FlowDiagnostics: Sendable, Codable {
    public var steps = 0
    public var rejectedSteps = 0
    public var rhsEvaluations = 0
    public var jacobianEvaluations = 0
    public var eventsByKind: [String: Int] = [:]
    public var wallSeconds = 0.0
    /// max_i |q_i(T) − q_i(0)|.
    public var invariantDrift = 0.0
    /// |L(0) − L(T) − ∫|θ'|²| / L(0).
    public var dissipationDefect = 0.0
    /// ∫₀ᵀ |θ'|² dt.
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

    /// The state to continue from (`checkpoint.json`).
    public var checkpoint: FlowCheckpoint {
        let final = finalPattern ?? (patterns.isEmpty ? nil : PatternReplay(self).final)
        return FlowCheckpoint(t: finalTime, theta: finalTheta, dissipated: last?.dissipated ?? 0,
                              pattern: final.map { patternCode($0, width: problem.model.hiddenUnitCount, points: problem.data.count) } ?? "")
    }

    public var finalTime: Double { last?.t ?? 0 }
    public var finalTheta: [Double] { last?.theta ?? problem.theta0 }
    public var finalLoss: Double { last?.loss ?? .nan }
}
