import Foundation

/// One plateau of a run (SPEC §6, INTERFACE.md `plateaus.csv`), matched against the run's
/// constant-pattern intervals.
public struct Plateau: Codable, Sendable {
    /// The pattern-changing event that ended the dominant interval (the first such event at its end).
    public struct ObservedExit: Codable, Sendable {
        public var t: Double
        public var neuron: Int
        public var point: Int
        public var kind: EventKind
        /// "left" or "right": how the neuron's knot moved from the prediction state to the event (d = 1).
        public var direction: String?
    }

    public var tStart: Double
    public var tEnd: Double
    /// The median of the sampled losses on the plateau.
    public var loss: Double
    /// Lasts to the end of the run.
    public var terminal: Bool
    /// ρ_H at tStart (Hessian of L inside the mode there) and the duration κ/ρ_H it had to reach.
    public var spectralRadius: Double
    public var minimumDuration: Double
    /// Indices (rows of patterns.csv, 0-based) of the pattern intervals it overlaps.
    public var patternIntervals: [Int]
    /// Fraction of [tStart, tEnd] covered by the dominant (longest-overlapping) interval.
    public var overlap: Double
    /// The dominant interval: its index and its pattern id.
    public var dominantInterval: Int
    public var patternId: Int
    /// L*_P of the dominant pattern and `loss − L*_P`.
    public var patternFloor: Double
    public var gap: Double
    /// Empirical rate of L − L*_P: minus the least-squares slope of log(L − L*_P) against t over the
    /// plateau's samples inside the dominant interval whose gap is above 1e-11·L (far above the
    /// rounding of L, about m·ε·L). When the gap falls by more than two decades only its late half
    /// is fitted (gaps in the lower half of the log range), where the slowest mode dominates; nil
    /// with fewer than three samples.
    public var rate: Double?
    /// λ⁺, the smallest non-zero eigenvalue of the dominant mode's Gram matrix JᵀJ/m (SPEC §6), at
    /// the last sample of the plateau inside the dominant interval.
    public var gramEigenvalue: Double?
    /// 2λ⁺: the rate at which L − L*_P decays when the residual's slowest component decays at λ⁺
    /// (L is quadratic in the residual), so that `rate` and `predictedRate` compare like with like.
    public var predictedRate: Double?
    /// d = 1: SPEC §5's geometric exit prediction (see `predictionTime`), what happened (the first
    /// pattern change ending the dominant interval), and whether the prediction held: the same
    /// neuron and point change at that instant, and the knot leaves the point in the predicted
    /// direction.
    public var exitPrediction: KnotReading.ExitPrediction?
    public var observedExit: ObservedExit?
    public var exitPredictionHeld: Bool?
    /// d = 1: the kinematic forecast (`ExitForecast`) from the same state, and whether it held.
    public var exitForecast: ExitForecast?
    public var exitForecastHeld: Bool?
    /// The state both predictions are made from: the middle sample of the plateau's part in the
    /// dominant interval.
    public var predictionTime: Double?

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tStart, forKey: .tStart)
        try c.encode(tEnd, forKey: .tEnd)
        try c.encode(loss, forKey: .loss)
        try c.encode(terminal, forKey: .terminal)
        try c.encode(spectralRadius, forKey: .spectralRadius)
        try c.encode(minimumDuration, forKey: .minimumDuration)
        try c.encode(patternIntervals, forKey: .patternIntervals)
        try c.encode(overlap, forKey: .overlap)
        try c.encode(dominantInterval, forKey: .dominantInterval)
        try c.encode(patternId, forKey: .patternId)
        try c.encode(patternFloor, forKey: .patternFloor)
        try c.encode(gap, forKey: .gap)
        try c.encode(rate, forKey: .rate)
        try c.encode(gramEigenvalue, forKey: .gramEigenvalue)
        try c.encode(predictedRate, forKey: .predictedRate)
        try c.encode(exitPrediction, forKey: .exitPrediction)
        try c.encode(observedExit, forKey: .observedExit)
        try c.encode(exitPredictionHeld, forKey: .exitPredictionHeld)
        try c.encode(exitForecast, forKey: .exitForecast)
        try c.encode(exitForecastHeld, forKey: .exitForecastHeld)
        try c.encode(predictionTime, forKey: .predictionTime)
    }
}

/// One constant-pattern interval as the analysis reports it (issue: start, end, active counts,
/// sliding pairs, loss at both ends).
public struct PatternIntervalSummary: Codable, Sendable {
    public var index: Int
    public var patternId: Int
    public var tStart: Double
    public var tEnd: Double
    public var activeCounts: [Int]
    /// Sliding pairs as [neuron, point].
    public var slidingPairs: [[Int]]
    public var lossStart: Double
    public var lossEnd: Double
}

/// Plateaus and pattern intervals of a solution (SPEC §6).
public enum PlateauReport {
    /// The pointwise log-slope of the flow's loss, `d log L / d log t = −t |∇L|² / L`.
    public static func logSlopes(_ samples: [FlowSample]) -> [Double] {
        samples.map { s in s.loss > 0 ? -s.t * s.gradNorm * s.gradNorm / s.loss : (s.loss == 0 ? 0 : .nan) }
    }

    /// The pointwise log-slopes of a run whose loss decreases as dL/dt = −|∇L|² (the gradient
    /// flow, and GD and SGD to first order in η, t = k·η); nil for the others (Adam and RMSProp
    /// move along a preconditioned gradient, dL/dt = −g·θ' ≠ −|g|²; ANLS's t counts sweeps), whose
    /// flat segments are then judged by their secants alone (`PlateauDetection`). An adaptive flow
    /// (SPEC §7) belongs with the latter.
    public static func exactLogSlopes(_ solution: FlowSolution) -> [Double]? {
        hasGradientFlowSlope(solution.problem, method: solution.training?.method ?? solution.problem.training?.method)
            ? logSlopes(solution.samples) : nil
    }

    /// `hasGradientFlowSlope(_:)` for a run of `problem`: a flow (no training method) has the
    /// gradient flow's slope only when its kind is `gradient` (SPEC §7's adaptive flows do not).
    static func hasGradientFlowSlope(_ problem: FlowProblem, method: TrainingMethod?) -> Bool {
        method == nil && problem.training == nil ? problem.options.kind == .gradient : hasGradientFlowSlope(method)
    }

    /// Whether a run of `method` (nil: the gradient flow) has the slope −t|∇L|²/L (`exactLogSlopes`).
    public static func hasGradientFlowSlope(_ method: TrainingMethod?) -> Bool {
        switch method {
        case nil, .gd?, .sgd?: return true
        case .adam?, .rmsprop?, .anls?: return false
        }
    }

    public static func patternIntervals(_ solution: FlowSolution) -> [PatternIntervalSummary] {
        let samples = solution.samples, m = solution.problem.data.count
        guard !samples.isEmpty else { return [] }
        // The sliding pairs, kept up to date through each interval's changes.
        var sliding = Set<Int>()
        return solution.patterns.enumerated().map { index, p in
            for c in p.changes {
                if c.state == .sliding { sliding.insert(c.neuron * m + c.point) } else { sliding.remove(c.neuron * m + c.point) }
            }
            return PatternIntervalSummary(
                index: index, patternId: p.patternId, tStart: p.tStart, tEnd: p.tEnd, activeCounts: p.activeCounts,
                slidingPairs: sliding.sorted().map { [$0 / m, $0 % m] },
                lossStart: samples[firstSample(samples, atOrAfter: p.tStart)].loss,
                lossEnd: samples[lastSample(samples, atOrBefore: p.tEnd)].loss)
        }
    }

    /// ρ_H, the spectral radius of the Hessian of L inside the mode at θ (SPEC §6): for the shallow
    /// network the mode of `states` (sliding pairs included, SPEC §3), for a deep network (SPEC §8)
    /// θ's own mode (a training run's recorded pattern is θ's, σ'(0) = 0; `states` unused).
    public static func spectralRadius(_ problem: FlowProblem, theta: [Double], states: [PairState]) throws -> Double {
        guard let network = problem.shallow else {
            return try CurvatureReport.spectralRadius(network: CurvatureReport.deepNetwork(of: problem.model), data: problem.data, theta: theta)
        }
        return try ModeCurvature.spectralRadius(network: network, data: problem.data, theta: theta, states: states)
    }

    /// The plateaus of `solution`, each matched to its pattern intervals.
    /// - Throws: `NumericalError` when a floor, curvature or regression line cannot be computed.
    public static func plateaus(_ solution: FlowSolution, criteria: PlateauCriteria = PlateauCriteria()) throws -> [Plateau] {
        let samples = solution.samples, patterns = solution.patterns
        guard samples.count >= 2, !patterns.isEmpty else { return [] }
        let shallow = solution.problem.shallow, data = solution.problem.data
        let t = samples.map(\.t), loss = samples.map(\.loss)
        let replay = PatternReplay(solution)
        let found = try PlateauDetection.plateaus(t: t, loss: loss, logSlope: exactLogSlopes(solution), criteria: criteria) { k in
            try spectralRadius(solution.problem, theta: samples[k].theta,
                               states: shallow == nil ? [] : replay.states(intervalIndex(patterns, at: t[k])))
        }
        return try found.map { span, rho in
            let span = span
            let a = t[span.first], b = t[span.last]
            var overlapping: [Int] = [], dominant = 0, longest = -1.0
            for (index, p) in patterns.enumerated() {
                let length = min(b, p.tEnd) - max(a, p.tStart)
                guard length > 0 else { continue }
                overlapping.append(index)
                if length > longest { longest = length; dominant = index }
            }
            if overlapping.isEmpty { dominant = intervalIndex(patterns, at: a); longest = 0 }
            let interval = patterns[dominant], states = replay.states(dominant)
            let level = median(Array(loss[span.first...span.last]))
            // The pattern floor, rates and exit readings are the shallow network's (SPEC §5, §6): not
            // defined for a deep network (NaN / nil).
            let floor = try shallow.map { try PatternFloor.value(network: $0, data: data, active: states.map { $0 == .on }) } ?? .nan
            // Samples of the plateau inside the dominant interval (strictly before its end event).
            let isLast = dominant == patterns.count - 1
            let inside = (span.first...span.last).filter { t[$0] >= interval.tStart && (t[$0] < interval.tEnd || (isLast && t[$0] <= interval.tEnd)) }
            var plateau = Plateau(
                tStart: a, tEnd: b, loss: level, terminal: span.terminal, spectralRadius: rho,
                minimumDuration: rho > 0 ? criteria.kappa / rho : 0, patternIntervals: overlapping,
                overlap: b > a ? longest / (b - a) : 1, dominantInterval: dominant, patternId: interval.patternId,
                patternFloor: floor, gap: level - floor)
            guard let network = shallow else { return plateau }
            plateau.rate = try empiricalRate(inside.map { t[$0] }, inside.map { loss[$0] - floor }, inside.map { loss[$0] })
            if let last = inside.last {
                let curvature = try ModeCurvature(network: network, data: data, theta: samples[last].theta, states: states)
                plateau.gramEigenvalue = curvature.smallestNonzeroGramEigenvalue
                plateau.predictedRate = plateau.gramEigenvalue.map { 2 * $0 }
                if data.dimension == 1 {
                    // Both predictions are made mid-plateau (the middle sample of its part in the
                    // dominant interval), so that they are forecasts, not read-offs of the exit.
                    let mid = inside[inside.count / 2]
                    let previous = inside.count / 2 > 0 ? inside[inside.count / 2 - 1] : nil
                    plateau.predictionTime = t[mid]
                    let reading = try KnotReading(network: network, data: data, theta: samples[mid].theta)
                    plateau.exitPrediction = reading.exitPrediction
                    plateau.exitForecast = try ExitForecast.make(
                        network: network, data: data, states: states, theta: samples[mid].theta, t: t[mid],
                        previous: previous.map { (t[$0], samples[$0].theta) })
                    plateau.observedExit = observedExit(solution, after: interval)
                    if let observed = plateau.observedExit {
                        func held(_ neuron: Int, _ point: Int, _ direction: String) -> Bool {
                            // (An event of duplicate points is logged under the group's first point.)
                            let group = data.groupOfPoint[point]
                            let logged = solution.events.contains {
                                $0.t == observed.t && $0.kind != .graze && $0.neuron == neuron && data.groupOfPoint[$0.point] == group
                            }
                            return logged && exitDirection(solution, neuron: neuron, point: point, at: observed.t) == direction
                        }
                        plateau.exitPredictionHeld = reading.exitPrediction.map { held($0.neuron, $0.point, $0.direction) }
                        plateau.exitForecastHeld = plateau.exitForecast.map { held($0.neuron, $0.point, $0.direction) }
                    }
                }
            }
            return plateau
        }
    }

    /// −slope of the least-squares line of log(gap) against t over the late half (see `Plateau.rate`).
    static func empiricalRate(_ t: [Double], _ gap: [Double], _ loss: [Double]) throws -> Double? {
        var usable: [(t: Double, log: Double)] = []
        for k in t.indices where gap[k] > 1e-11 * loss[k] && (usable.last.map { t[k] > $0.t } ?? true) {
            usable.append((t[k], log(gap[k])))
        }
        guard let hi = usable.map(\.log).max(), let lo = usable.map(\.log).min() else { return nil }
        // Only a gap that falls by more than two decades has a tail worth isolating.
        let late = usable.count >= 6 && hi - lo > log(100.0) ? usable.filter { $0.log <= 0.5 * (hi + lo) } : usable
        let ts = late.map(\.t), logs = late.map(\.log)
        guard ts.count >= 3 else { return nil }
        let X = ts.flatMap { [$0, 1.0] }
        return -(try LeastSquares.minimumNorm(X, rows: ts.count, cols: 2, logs)).coefficients[0]
    }

    static func observedExit(_ solution: FlowSolution, after interval: PatternInterval) -> Plateau.ObservedExit? {
        guard let event = solution.events.first(where: { $0.t >= interval.tEnd && $0.kind != .graze }),
              event.t == interval.tEnd else { return nil }
        return Plateau.ObservedExit(t: event.t, neuron: event.neuron, point: event.point, kind: event.kind,
                                    direction: exitDirection(solution, neuron: event.neuron, point: event.point, at: event.t))
    }

    /// The direction in which the knot of neuron i moved at the pattern change of pair (i, j) at
    /// `time` (d = 1): the side of x_j it is on at the first sample after the event (after a
    /// crossing or a slide exit; at the event itself a sliding knot is still on the point), or,
    /// when it stays on the point (a slide starts), the opposite of the side it came from.
    static func exitDirection(_ solution: FlowSolution, neuron i: Int, point j: Int, at time: Double) -> String? {
        guard let network = solution.problem.shallow, network.inputDimension == 1 else { return nil }
        let samples = solution.samples, x = solution.problem.data.x[j]
        func knot(_ k: Int) -> Double { -samples[k].theta[network.bIndex(i)] / samples[k].theta[network.wIndex(i, 0)] }
        let after = firstSample(samples, atOrAfter: time.nextUp)
        if after < samples.count, samples[after].t > time {
            let k = knot(after)
            if k.isFinite, abs(k - x) > 1e-9 * max(abs(x), 1) { return k > x ? "right" : "left" }
        }
        let before = lastSample(samples, atOrBefore: time.nextDown)
        guard samples[before].t < time else { return nil }
        let k = knot(before)
        guard k.isFinite, k != x else { return nil }
        return k > x ? "left" : "right"
    }

    /// The interval in force at time t (the later one at a boundary).
    static func intervalIndex(_ patterns: [PatternInterval], at t: Double) -> Int {
        patterns.lastIndex { $0.tStart <= t } ?? 0
    }

    static func firstSample(_ samples: [FlowSample], atOrAfter t: Double) -> Int {
        var lo = 0, hi = samples.count - 1
        while lo < hi { let mid = (lo + hi) / 2; if samples[mid].t < t { lo = mid + 1 } else { hi = mid } }
        return lo
    }

    static func lastSample(_ samples: [FlowSample], atOrBefore t: Double) -> Int {
        var lo = 0, hi = samples.count - 1
        while lo < hi { let mid = (lo + hi + 1) / 2; if samples[mid].t > t { hi = mid - 1 } else { lo = mid } }
        return lo
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}
