import Foundation

/// The first plateau of a run (SPEC §6), reported in `summary.json` beside the escape time
/// (SPEC §7): its bounds, the median loss on it, whether it lasts to the end of the run, ρ_H at its
/// start, and for a discrete method the iterations at its bounds.
public struct FirstPlateau: Codable, Sendable, Equatable {
    public var tStart: Double
    public var tEnd: Double
    public var iterationStart: Int?
    public var iterationEnd: Int?
    public var loss: Double
    public var terminal: Bool
    public var spectralRadius: Double

    public init(tStart: Double, tEnd: Double, iterationStart: Int? = nil, iterationEnd: Int? = nil, loss: Double,
                terminal: Bool, spectralRadius: Double) {
        self.tStart = tStart
        self.tEnd = tEnd
        self.iterationStart = iterationStart
        self.iterationEnd = iterationEnd
        self.loss = loss
        self.terminal = terminal
        self.spectralRadius = spectralRadius
    }
}

/// Finds the first plateau of a run while it is recorded, with the detection of
/// `PlateauDetection` (the same flat-segment test, the same κ/ρ_H duration, ρ_H of the mode at the
/// span's first sample as `PlateauReport` takes it), so that a run's summary has it without the
/// run's records being held or read back: it keeps the previous sample's θ, the pattern (n × m,
/// kept up to date by the events) and the losses of the open flat span; the Hessian is evaluated
/// once per flat span that ends, until one is long enough.
///
/// The pattern at a sample is the one after every event at or before its t (the later interval at
/// a boundary, as `PlateauReport.intervalIndex` takes it), whatever the order in which a recorder
/// hands over events and samples of one instant.
public final class FirstPlateauFinder {
    public let criteria: PlateauCriteria
    let problem: FlowProblem
    /// Whether the samples' loss obeys dL/dt = −|∇L|² (`PlateauReport.hasGradientFlowSlope`).
    let exactSlopes: Bool
    private let m: Int
    /// Per pair (neuron · m + point): its state after the events seen so far.
    private var states: [PairState]
    /// Events since the last sample, as (pair, state before, t): undone for the state at that
    /// sample when later than it.
    private var undo: [(pair: Int, before: PairState, t: Double)] = []
    private var previous: FlowSample? = nil
    /// The open flat span: its first sample, the pattern there, the losses on it so far, and ρ_H
    /// at its start once computed.
    private struct Span {
        var first: FlowSample
        var states: [PairState]
        var losses: [Double]
        var rho: Double? = nil
    }
    private var open: Span? = nil
    public private(set) var found: FirstPlateau? = nil
    /// Set when ρ_H could not be computed (the plateau is then unknown, not absent).
    public private(set) var failure: NumericalError? = nil

    public init(problem: FlowProblem, criteria: PlateauCriteria = PlateauCriteria()) {
        self.problem = problem
        self.criteria = criteria
        exactSlopes = PlateauReport.hasGradientFlowSlope(problem, method: problem.training?.method)
        m = problem.data.count
        // The pattern at t = 0 off the surfaces: the sign of z at θ(0) (σ'(0) = 0 for the training
        // methods); the flow logs an event at t = 0 for every pair it finds on a surface, which
        // then decides that pair. A deep network's ρ_H takes θ's own mode: no pattern kept.
        if let network = problem.shallow {
            let data = problem.data, d = data.dimension
            states = [PairState](repeating: .off, count: network.width * m)
            for i in 0..<network.width {
                for j in 0..<m where network.preactivation(problem.theta0, neuron: i, point: data.x[(j * d)..<((j + 1) * d)]) > 0 {
                    states[i * m + j] = .on
                }
            }
        } else {
            states = []
        }
    }

    /// Whether the search is over (found, or failed).
    public var done: Bool { found != nil || failure != nil }

    public func add(_ event: FlowEvent) {
        guard !done, !states.isEmpty else { return }
        let data = problem.data
        // An event of coincident points is logged under the group's first point: the group moves together.
        for j in data.pointsOfGroup[data.groupOfPoint[event.point]] {
            let q = event.neuron * m + j
            undo.append((q, states[q], event.t))
            states[q] = event.state
        }
    }

    public func add(_ sample: FlowSample) {
        guard !done else { return }
        defer {
            previous = sample
            undo.removeAll(keepingCapacity: true)
        }
        guard let last = previous else { return }
        let flat = PlateauDetection.segmentFlat(t: (last.t, sample.t), loss: (last.loss, sample.loss),
                                                logSlope: exactSlopes ? (slope(last), slope(sample)) : nil, epsilon: criteria.epsilon)
        if flat {
            if open == nil {
                // The pattern at the previous sample: the events since, later than it, undone.
                var at = states
                for u in undo.reversed() where u.t > last.t { at[u.pair] = u.before }
                open = Span(first: last, states: at, losses: [last.loss])
            }
            open!.losses.append(sample.loss)
        } else if var span = open {
            open = nil
            do {
                found = try plateau(&span, last: last, terminal: false)
            } catch {
                failure = error as? NumericalError ?? NumericalError("first plateau", "\(error)")
            }
        }
    }

    /// The first plateau of the samples so far (an open flat span counted as terminal: the run
    /// may go on, and the span stays open), nil when there is none; throws when ρ_H could not be
    /// computed.
    public func result() throws -> FirstPlateau? {
        if let failure { throw failure }
        if let found { return found }
        guard let last = previous, var span = open else { return nil }
        defer { open = span }   // keeps ρ_H for a later call
        return try plateau(&span, last: last, terminal: true)
    }

    /// The span from `span.first` to `last` when it lasts κ/ρ_H (SPEC §6), else nil.
    private func plateau(_ span: inout Span, last: FlowSample, terminal: Bool) throws -> FirstPlateau? {
        guard last.t > span.first.t else { return nil }
        let rho: Double
        if let known = span.rho {
            rho = known
        } else {
            do {
                rho = try PlateauReport.spectralRadius(problem, theta: span.first.theta, states: span.states)
            } catch {
                throw NumericalError("first plateau", "ρ_H at t = \(span.first.t), the start of a flat span: \(error)")
            }
            span.rho = rho
        }
        guard rho <= 0 || last.t - span.first.t >= criteria.kappa / rho else { return nil }
        return FirstPlateau(tStart: span.first.t, tEnd: last.t, iterationStart: span.first.iteration, iterationEnd: last.iteration,
                            loss: PlateauReport.median(span.losses), terminal: terminal, spectralRadius: rho)
    }

    private func slope(_ s: FlowSample) -> Double {
        s.loss > 0 ? -s.t * s.gradNorm * s.gradNorm / s.loss : (s.loss == 0 ? 0 : .nan)
    }

    /// Shows the finder the samples and events of a solution held in memory, its events before
    /// the samples of their instant.
    public func add(_ solution: FlowSolution) {
        var e = 0
        let events = solution.events
        for s in solution.samples {
            while e < events.count && events[e].t <= s.t { add(events[e]); e += 1 }
            add(s)
            if done { return }
        }
        while e < events.count { add(events[e]); e += 1 }
    }

    /// A first plateau already known (a resumed run's earlier part ended it).
    public func seed(found plateau: FirstPlateau) {
        found = plateau
    }

    /// The first plateau of a solution held in memory.
    public static func of(_ solution: FlowSolution, criteria: PlateauCriteria = PlateauCriteria()) throws -> FirstPlateau? {
        let finder = FirstPlateauFinder(problem: solution.problem, criteria: criteria)
        finder.add(solution)
        return try finder.result()
    }
}
