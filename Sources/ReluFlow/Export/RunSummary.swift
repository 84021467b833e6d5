import Foundation

/// `summary.json` of a run folder (INTERFACE.md).
public struct RunSummary: Codable, Sendable {
    public var status: FlowStatus
    /// Why the run stopped early (failed or interrupted); for a completed run a note, if any (for
    /// example that the loss reached zero to working precision and the state was held), else null.
    public var message: String?
    public var T: Double
    public var finalTime: Double
    public var initialLoss: Double
    public var finalLoss: Double
    public var finalGradNorm: Double
    /// Final θ, SPEC §1 order.
    public var theta: [Double]
    public var theta0: [Double]
    public var steps: Int
    public var rejectedSteps: Int
    public var rhsEvaluations: Int
    public var jacobianEvaluations: Int
    /// Number of events (per pair and surface group; `events.csv` has one row per data point).
    public var events: Int
    public var eventsByKind: [String: Int]
    /// Number of constant-pattern intervals and of distinct patterns.
    public var patternIntervals: Int
    public var distinctPatterns: Int
    public var wallSeconds: Double
    /// The stepper asked for (`auto` or a GSL name), and the steps and seconds of each GSL stepper
    /// that ran (`auto` switches between rk8pd and msbdf, see StepperPolicy).
    public var stepper: String
    public var stepperSteps: [String: Int]
    public var stepperSeconds: [String: Double]
    public var stepperSwitches: Int
    /// Events taken in crossing batches (several transversal crossings in one step, one restart;
    /// CrossingBatcher) and the steps that took them. Absent in summaries of older versions.
    public var batchedCrossings: Int?
    public var crossingBatches: Int?
    /// When the loss reached zero to working precision (every residual within its rounding
    /// level); the state is held from there to T. Null otherwise.
    public var zeroLossTime: Double?
    /// When the state became stationary to working precision at a non-zero loss: the field within
    /// its rounding level and the loss constant to rounding while t doubled (FlowSolver's
    /// `StationaryHold`); the state is held from there to T. Null otherwise.
    public var stationaryTime: Double?
    /// max_i |q_i(T) − q_i(0)| (SPEC §4) for the gradient flow (and training runs); null for an
    /// adaptive flow (SPEC §7, `flow.kind` rmsprop/adam), which does not conserve the balance q_i
    /// (its θ' is not −g), with `invariantNote` saying so.
    public var invariantDrift: Double?
    /// Why `invariantDrift` is null (an adaptive flow); absent otherwise.
    public var invariantNote: String?
    /// A deep network's balance quantities per hidden unit (SPEC §4 generalised, §8), at the start
    /// and the end; absent for the shallow network (its drift is `invariantDrift`). Its `maxDrift`
    /// is null for an adaptive flow, with its `note` (as `invariantDrift`).
    public var balance: BalanceReport?
    /// Which flow the run integrated (`flow.kind` of its config: gradient, rmsprop, adam), so that
    /// the rows of a table of runs (collect's `flow.kind` column) can be told apart; absent for a
    /// training run (its `method`) and in summaries of older versions.
    public var flow: FlowKindRecord?
    /// |L(0) − L(T) − D(T)| / L(0), D = ∫₀ᵀ −g·θ' dt (`dissipated`): for the gradient flow the
    /// identity dL/dt = −|θ'|² of SPEC §4, for an adaptive flow dL/dt = g·θ' (SPEC §7; the engine
    /// integrates D' = −g·θ' beside the state, `AdaptiveField`). A real check for every flow.
    public var dissipationDefect: Double
    /// D(T) = ∫₀ᵀ −g·θ' dt: ∫₀ᵀ |θ'|² dt for the gradient flow.
    public var dissipated: Double
    /// The parts of the run, each with its options and the time it reached (`flow.segments` and
    /// the last part): one for a run that was never resumed. Absent in summaries of older versions.
    public var segments: [FlowSegment]?
    /// A training run (SPEC §7): its method, iterations done, learning rate, minibatch size (absent
    /// for the flow), and the escape from the initial plateau: the first iterate with
    /// L ≤ (1 − δ) L(0); for the flow, that time estimated on the cubic Hermite interpolant of
    /// ∫|θ'|² over the crossing step (to 1e-6…1e-3 relative in L; FlowIntegration.checkEscape).
    /// Null if never reached.
    public var method: TrainingMethod?
    public var iterations: Int?
    public var lr: Double?
    public var batch: Int?
    public var escapeTime: Double?
    public var escapeIteration: Int?
    public var escapeDelta: Double?
    /// The first plateau of the run (SPEC §6, `FirstPlateauFinder`), beside the escape: null when
    /// the run has none. Absent in summaries of older versions.
    public var firstPlateau: FirstPlateau?
    public var version: String
    /// The figures above that were not finite numbers (NaN or ±∞, for example `finalGradNorm` of a
    /// run that recorded no sample, or the losses of a run that failed by overflow): JSON has no
    /// such numbers, so they are written as `null` and named here. Absent when every figure is finite.
    public var nonFinite: [String]?

    enum CodingKeys: String, CodingKey {
        case status, message, T, finalTime, initialLoss, finalLoss, finalGradNorm, theta, theta0, steps, rejectedSteps,
             rhsEvaluations, jacobianEvaluations, events, eventsByKind, patternIntervals, distinctPatterns, wallSeconds,
             stepper, stepperSteps, stepperSeconds, stepperSwitches, batchedCrossings, crossingBatches, zeroLossTime,
             invariantDrift, invariantNote, dissipationDefect, dissipated, version, nonFinite, stationaryTime, segments,
             method, iterations, lr, batch, escapeTime, escapeIteration, escapeDelta, firstPlateau, balance, flow
    }

    public init(_ solution: FlowSolution, firstPlateau: FirstPlateau? = nil) {
        self.firstPlateau = firstPlateau
        let diag = solution.diagnostics
        status = solution.status
        message = solution.message
        T = solution.problem.options.T
        finalTime = solution.finalTime
        initialLoss = diag.initialLoss
        finalLoss = diag.finalLoss
        finalGradNorm = solution.last?.gradNorm ?? .nan
        theta = solution.finalTheta
        theta0 = solution.problem.theta0
        steps = diag.steps
        rejectedSteps = diag.rejectedSteps
        rhsEvaluations = diag.rhsEvaluations
        jacobianEvaluations = diag.jacobianEvaluations
        events = diag.eventsByKind.total
        eventsByKind = diag.eventsByKind.byName
        patternIntervals = solution.patternIntervalCount
        distinctPatterns = solution.distinctPatternCount
        wallSeconds = diag.wallSeconds
        stepper = solution.stepper.rawValue
        stepperSteps = diag.stepperSteps
        stepperSeconds = diag.stepperSeconds
        stepperSwitches = diag.stepperSwitches
        batchedCrossings = diag.batchedCrossings
        crossingBatches = diag.crossingBatches
        zeroLossTime = diag.zeroLossTime
        stationaryTime = diag.stationaryTime
        if case .gradient = solution.problem.options.kind {
            invariantDrift = diag.invariantDrift
        } else {
            invariantDrift = nil
            invariantNote = Self.adaptiveInvariantNote(solution.problem.options.kind.name)
        }
        if let deep = solution.problem.model as? DeepNetwork {
            balance = BalanceReport(network: deep, initial: solution.problem.theta0, final: solution.finalTheta, note: invariantNote)
        }
        if solution.training == nil { flow = FlowKindRecord(kind: solution.problem.options.kind.name) }
        dissipationDefect = diag.dissipationDefect
        dissipated = diag.dissipated
        escapeTime = diag.escapeTime
        escapeDelta = solution.problem.options.escapeDelta
        if let training = solution.training {
            stepper = training.method.rawValue
            method = training.method
            iterations = training.iterations
            lr = training.lr
            batch = training.batch
            escapeTime = training.escapeTime
            escapeIteration = training.escapeIteration
            escapeDelta = training.escapeDelta
        }
        version = ReluFlowVersion.string
    }

    /// `invariantNote` of an adaptive flow named `kind`.
    public static func adaptiveInvariantNote(_ kind: String) -> String {
        "the balance q_i (SPEC §4) is not an invariant of the \(kind) flow (θ' ≠ −g): no invariant drift; "
            + "dissipationDefect checks L(0) − L(T) = ∫ −g·θ' dt"
    }

    /// Reads a summary; a number written as `null` (not finite, see `nonFinite`) reads as NaN.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func real(_ key: CodingKeys) throws -> Double {
            try c.decodeNil(forKey: key) ? .nan : c.decode(Double.self, forKey: key)
        }
        func reals(_ key: CodingKeys) throws -> [Double] {
            try c.decode([Double?].self, forKey: key).map { $0 ?? .nan }
        }
        status = try c.decode(FlowStatus.self, forKey: .status)
        message = try c.decodeIfPresent(String.self, forKey: .message)
        T = try real(.T)
        finalTime = try real(.finalTime)
        initialLoss = try real(.initialLoss)
        finalLoss = try real(.finalLoss)
        finalGradNorm = try real(.finalGradNorm)
        theta = try reals(.theta)
        theta0 = try reals(.theta0)
        steps = try c.decode(Int.self, forKey: .steps)
        rejectedSteps = try c.decode(Int.self, forKey: .rejectedSteps)
        rhsEvaluations = try c.decode(Int.self, forKey: .rhsEvaluations)
        jacobianEvaluations = try c.decode(Int.self, forKey: .jacobianEvaluations)
        events = try c.decode(Int.self, forKey: .events)
        eventsByKind = try c.decode([String: Int].self, forKey: .eventsByKind)
        patternIntervals = try c.decode(Int.self, forKey: .patternIntervals)
        distinctPatterns = try c.decode(Int.self, forKey: .distinctPatterns)
        wallSeconds = try real(.wallSeconds)
        stepper = try c.decode(String.self, forKey: .stepper)
        stepperSteps = try c.decode([String: Int].self, forKey: .stepperSteps)
        stepperSeconds = try c.decode([String: Double?].self, forKey: .stepperSeconds).mapValues { $0 ?? .nan }
        stepperSwitches = try c.decode(Int.self, forKey: .stepperSwitches)
        batchedCrossings = try c.decodeIfPresent(Int.self, forKey: .batchedCrossings)
        crossingBatches = try c.decodeIfPresent(Int.self, forKey: .crossingBatches)
        zeroLossTime = try c.decodeIfPresent(Double.self, forKey: .zeroLossTime)
        invariantNote = try c.decodeIfPresent(String.self, forKey: .invariantNote)
        // null: an adaptive flow's (with its note), else a non-finite figure (`nonFinite`).
        invariantDrift = try c.decodeNil(forKey: .invariantDrift) ? (invariantNote == nil ? .nan : nil)
            : c.decode(Double.self, forKey: .invariantDrift)
        balance = try c.decodeIfPresent(BalanceReport.self, forKey: .balance)
        flow = try c.decodeIfPresent(FlowKindRecord.self, forKey: .flow)
        dissipationDefect = try real(.dissipationDefect)
        dissipated = try real(.dissipated)
        version = try c.decode(String.self, forKey: .version)
        nonFinite = try c.decodeIfPresent([String].self, forKey: .nonFinite)
        stationaryTime = try c.decodeIfPresent(Double.self, forKey: .stationaryTime)
        segments = try c.decodeIfPresent([FlowSegment].self, forKey: .segments)
        method = try c.decodeIfPresent(TrainingMethod.self, forKey: .method)
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations)
        lr = try c.decodeIfPresent(Double.self, forKey: .lr)
        batch = try c.decodeIfPresent(Int.self, forKey: .batch)
        escapeTime = try c.decodeIfPresent(Double.self, forKey: .escapeTime)
        escapeIteration = try c.decodeIfPresent(Int.self, forKey: .escapeIteration)
        escapeDelta = try c.decodeIfPresent(Double.self, forKey: .escapeDelta)
        firstPlateau = try c.decodeIfPresent(FirstPlateau.self, forKey: .firstPlateau)
    }

    /// Optional figures are left out when nil, except the escape and the first plateau (SPEC §7:
    /// null when never reached, or when there is none), and a training run's escape iteration.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encode(T, forKey: .T)
        try c.encode(finalTime, forKey: .finalTime)
        try c.encode(initialLoss, forKey: .initialLoss)
        try c.encode(finalLoss, forKey: .finalLoss)
        try c.encode(finalGradNorm, forKey: .finalGradNorm)
        try c.encode(theta, forKey: .theta)
        try c.encode(theta0, forKey: .theta0)
        try c.encode(steps, forKey: .steps)
        try c.encode(rejectedSteps, forKey: .rejectedSteps)
        try c.encode(rhsEvaluations, forKey: .rhsEvaluations)
        try c.encode(jacobianEvaluations, forKey: .jacobianEvaluations)
        try c.encode(events, forKey: .events)
        try c.encode(eventsByKind, forKey: .eventsByKind)
        try c.encode(patternIntervals, forKey: .patternIntervals)
        try c.encode(distinctPatterns, forKey: .distinctPatterns)
        try c.encode(wallSeconds, forKey: .wallSeconds)
        try c.encode(stepper, forKey: .stepper)
        try c.encode(stepperSteps, forKey: .stepperSteps)
        try c.encode(stepperSeconds, forKey: .stepperSeconds)
        try c.encode(stepperSwitches, forKey: .stepperSwitches)
        try c.encodeIfPresent(batchedCrossings, forKey: .batchedCrossings)
        try c.encodeIfPresent(crossingBatches, forKey: .crossingBatches)
        try c.encodeIfPresent(zeroLossTime, forKey: .zeroLossTime)
        try c.encodeIfPresent(stationaryTime, forKey: .stationaryTime)
        try c.encode(invariantDrift, forKey: .invariantDrift)
        try c.encodeIfPresent(invariantNote, forKey: .invariantNote)
        try c.encode(dissipationDefect, forKey: .dissipationDefect)
        try c.encode(dissipated, forKey: .dissipated)
        try c.encodeIfPresent(segments, forKey: .segments)
        try c.encodeIfPresent(method, forKey: .method)
        try c.encodeIfPresent(iterations, forKey: .iterations)
        try c.encodeIfPresent(lr, forKey: .lr)
        try c.encodeIfPresent(batch, forKey: .batch)
        try c.encode(escapeTime, forKey: .escapeTime)
        if method != nil { try c.encode(escapeIteration, forKey: .escapeIteration) }
        try c.encodeIfPresent(escapeDelta, forKey: .escapeDelta)
        try c.encode(firstPlateau, forKey: .firstPlateau)
        try c.encodeIfPresent(balance, forKey: .balance)
        try c.encodeIfPresent(flow, forKey: .flow)
        try c.encode(version, forKey: .version)
        try c.encodeIfPresent(nonFinite, forKey: .nonFinite)
    }

    /// `summary.json`: non-finite figures written as `null` and named in `nonFinite`.
    public func jsonData() throws -> Data {
        var summary = self
        summary.nonFinite = nil
        let (data, nonFinite) = try JSONOutput.encode(summary)
        guard !nonFinite.isEmpty else { return data }
        summary.nonFinite = nonFinite
        return try JSONOutput.encode(summary).data
    }
}

/// The balance quantities of a deep ReLU or linear network's hidden units (`DeepNetwork.balance`):
/// q_{l,i} = |W_{l+1}[:, i]|² − |W_l[i, :]|² − b_l[i]² (outgoing column minus incoming row, the sign
/// of SPEC §4's q_i = c_i² − |w_i|² − b_i²), constant along the gradient flow by the positive
/// homogeneity of σ at every unit, including across and along the switching surfaces (the jump of
/// the gradient across a surface is normal to it). In the pattern's unit order.
public struct BalanceReport: Codable, Sendable, Equatable {
    /// The layer (from 1) and index of each hidden unit.
    public var layer: [Int]
    public var unit: [Int]
    public var initial: [Double]
    public var final: [Double]
    /// max over units of |q(T) − q(0)|: the conservation error of the gradient flow (and the
    /// drift of a training run); null for an adaptive flow, whose θ' is not −g and which does not
    /// conserve q (SPEC §7: its change is no error), with `note` saying so.
    public var maxDrift: Double?
    /// Why `maxDrift` is null (an adaptive flow's `invariantNote`); absent otherwise.
    public var note: String?

    /// `note`: nil when q is an invariant of the run's flow (the gradient flow; a training run's
    /// drift is measured too), else why it is not (`maxDrift` is then null).
    public init(network: DeepNetwork, initial theta0: [Double], final theta: [Double], note: String? = nil) {
        layer = []
        unit = []
        for l in 1..<network.depth {
            for i in 0..<network.layers[l] { layer.append(l); unit.append(i) }
        }
        initial = network.balance(theta0)
        final = network.balance(theta)
        self.note = note
        maxDrift = note == nil ? zip(initial, final).map { abs($0 - $1) }.max() ?? 0 : nil
    }

    enum CodingKeys: String, CodingKey { case layer, unit, initial, final, maxDrift, note }

    /// `maxDrift` written as null when absent (not left out), so that every summary has the field.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layer, forKey: .layer)
        try c.encode(unit, forKey: .unit)
        try c.encode(initial, forKey: .initial)
        try c.encode(final, forKey: .final)
        try c.encode(maxDrift, forKey: .maxDrift)
        try c.encodeIfPresent(note, forKey: .note)
    }
}

/// `flow` of `summary.json`: the flow a run integrated.
public struct FlowKindRecord: Codable, Sendable, Equatable {
    /// `flow.kind`: gradient, rmsprop or adam.
    public var kind: String

    public init(kind: String) { self.kind = kind }
}

public enum ReluFlowVersion {
    public static let string = "0.1.0"
}
