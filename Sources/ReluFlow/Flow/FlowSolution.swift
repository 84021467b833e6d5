/// One row of the trajectory: the state at a sample time or at an event.
public struct FlowSample: Sendable {
    public var t: Double
    public var loss: Double
    /// |∇L| of the field in force (Filippov field on sliding pairs).
    public var gradNorm: Double
    public var patternId: Int
    /// θ in the SPEC §1 order.
    public var theta: [Double]
    /// ∫₀ᵗ |θ'|² ds, the dissipation quadrature.
    public var dissipated: Double
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
}

/// A maximal interval of constant activation pattern.
public struct PatternInterval: Sendable {
    public var patternId: Int
    public var tStart: Double
    public var tEnd: Double
    /// n×m states, row-major by neuron.
    public var states: [PairState]
    public let width: Int
    public let pointCount: Int

    /// Per-neuron number of points that activate it (`on`).
    public var activeCounts: [Int] {
        (0..<width).map { i in (0..<pointCount).filter { states[i * pointCount + $0] == .on }.count }
    }
    /// Per-neuron number of sliding pairs.
    public var slidingCounts: [Int] {
        (0..<width).map { i in (0..<pointCount).filter { states[i * pointCount + $0] == .sliding }.count }
    }
    /// The full pattern as text: one string of `+`/`-`/`0` per neuron, joined by `;`.
    public var code: String {
        (0..<width).map { i in String((0..<pointCount).map { states[i * pointCount + $0].symbol }) }.joined(separator: ";")
    }
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
    /// When the loss reached zero to working precision (then the state is held to T), or nil.
    public var zeroLossTime: Double? = nil
}

/// Result of `solve`: samples, events, patterns and diagnostics.
public struct FlowSolution: Sendable {
    public var problem: FlowProblem
    public var status: FlowStatus
    /// Why the run stopped early (nil when completed).
    public var message: String?
    public var samples: [FlowSample] = []
    public var events: [FlowEvent] = []
    public var patterns: [PatternInterval] = []
    public var diagnostics = FlowDiagnostics()
    /// Stepper requested (`auto` or a GSL name); what ran is in `diagnostics.stepperSteps`.
    public var stepper: Stepper

    /// The state to continue from (`checkpoint.json`).
    public var checkpoint: FlowCheckpoint {
        FlowCheckpoint(t: finalTime, theta: finalTheta, dissipated: samples.last?.dissipated ?? 0, pattern: patterns.last?.code ?? "")
    }

    public var finalTime: Double { samples.last?.t ?? 0 }
    public var finalTheta: [Double] { samples.last?.theta ?? problem.theta0 }
    public var finalLoss: Double { samples.last?.loss ?? .nan }
}
