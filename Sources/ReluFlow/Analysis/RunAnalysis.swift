import Foundation

/// `reluflow analyze DIR` as a library function: the analysis of a run folder (INTERFACE.md
/// `analysis.json`, `plateaus.csv`, `stationarity.json`): the constant-pattern intervals, the
/// plateaus of SPEC §6 matched against them, and the stationarity report of SPEC §5 for the final
/// state or a sampled time.
public struct RunAnalysis: Codable, Sendable {
    /// The engine's accuracy diagnostics, copied from summary.json.
    public struct Diagnostics: Codable, Sendable {
        public var status: FlowStatus
        public var finalTime: Double
        /// Null for an adaptive flow (SPEC §7), whose balance is not an invariant (`invariantNote`).
        public var invariantDrift: Double?
        public var invariantNote: String? = nil
        /// |L(0) − L(T) − ∫ −g·θ' dt| / L(0) (∫|θ'|² for the gradient flow).
        public var dissipationDefect: Double
        public var events: Int
        public var patternIntervals: Int
        /// A training run's method (nil: the flow), whose diagnostics are not the engine's.
        public var method: TrainingMethod? = nil
        public var iterations: Int? = nil
    }

    /// What a user reads in ten seconds.
    public struct Verdict: Codable, Sendable {
        public var stationary: Bool
        /// In 1-D: every meeting point k* lies between its separating data points (null in d > 1).
        public var meetingPointsFeasible: Bool?
        /// The largest deviation of the network from its intervals' regression lines (1-D).
        public var maxDeviationFromRegressionLines: Double?
        /// Number of plateaus, and the share of all plateau time that lies inside the dominant
        /// constant-pattern interval of its plateau (Σ overlap·duration / Σ duration).
        public var plateaus: Int
        public var plateauTimeInConstantPattern: Double?
        /// Exit predictions (SPEC §5's k* reading) and kinematic forecasts made at non-terminal
        /// plateaus with an observed exit, and how many held (d = 1).
        public var exitPredictions: Int
        public var exitPredictionsHeld: Int
        public var exitForecasts: Int
        public var exitForecastsHeld: Int
        public var lines: [String]
    }

    public var criteria: PlateauCriteria
    public var plateaus: [Plateau]
    public var patternIntervals: [PatternIntervalSummary]
    public var stationarity: StationarityReport
    public var verdict: Verdict
    public var diagnostics: Diagnostics

    /// Analyses the run in `folder` at its final state, or at the recorded sample nearest to `time`.
    public static func analyze(folder: String, at time: Double? = nil, gradientTolerance: Double = 1e-6,
                               criteria: PlateauCriteria = PlateauCriteria()) throws -> RunAnalysis {
        let reader = try RunFolderReader(folder, field: "DIR")
        let problem = try reader.problem()
        let (checkpoint, run) = try reader.run(for: problem)
        var theta = checkpoint.theta, t = checkpoint.t
        if let time {
            guard time >= 0, time <= checkpoint.t else {
                throw InputError("--at", "t = \(time) lies outside the run, which covers [0, \(checkpoint.t)]")
            }
            guard let sample = run.samples.min(by: { abs($0.t - time) < abs($1.t - time) }) else {
                throw InputError("--at", "the run in \(folder) has no samples")
            }
            theta = sample.theta
            t = sample.t
        }
        let report: StationarityReport
        if let network = problem.shallow {
            report = try Stationarity.report(network: network, data: problem.data, theta: theta, t: t, gradientTolerance: gradientTolerance)
        } else {
            // A deep network (SPEC §8): the plain gradient (σ'(0) = 0); the pattern floor, the
            // per-neuron moments and the 1-D reading belong to the shallow network (SPEC §5).
            let (loss, g) = problem.model.lossAndGradient(theta, data: problem.data)
            let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            report = StationarityReport(t: t, loss: loss, gradNorm: norm, patternFloor: .nan, stationary: norm <= gradientTolerance,
                                        gradientTolerance: gradientTolerance, neurons: [], oneDimensional: nil)
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let summaryPath = (folder as NSString).appendingPathComponent("summary.json")
        guard let bytes = FileManager.default.contents(atPath: summaryPath),
              let summary = try? decoder.decode(RunSummary.self, from: bytes) else {
            throw InputError("DIR", "cannot read \(summaryPath)")
        }
        let diagnostics = Diagnostics(status: summary.status, finalTime: summary.finalTime, invariantDrift: summary.invariantDrift,
                                      invariantNote: summary.invariantNote,
                                      dissipationDefect: summary.dissipationDefect, events: summary.events,
                                      patternIntervals: run.patterns.count, method: summary.method, iterations: summary.iterations)
        var plateaus = try PlateauReport.plateaus(run, criteria: criteria)
        let dynamics = Dynamics(training: summary.method, flow: problem.options.kind)
        if !dynamics.gradientRateApplies {
            // 2λ⁺ (SPEC §6) is the rate of the gradient flow inside a mode: not a prediction for an
            // adaptive flow or method, whose velocity is not −∇L (λ⁺ itself stays in analysis.json).
            for k in plateaus.indices { plateaus[k].predictedRate = nil }
        }
        return RunAnalysis(criteria: criteria, plateaus: plateaus, patternIntervals: PlateauReport.patternIntervals(run),
                           stationarity: report, verdict: verdict(report, plateaus, diagnostics, deep: problem.shallow == nil, dynamics: dynamics),
                           diagnostics: diagnostics)
    }

    /// What moved θ in the run, as far as SPEC §6's predicted rate 2λ⁺ is concerned: it is the
    /// gradient flow's (θ' = −∇L inside a mode, SPEC §3); GD and SGD follow it to first order in η
    /// (t = k·η); the adaptive flows (SPEC §7) and Adam, RMSProp and ANLS do not.
    enum Dynamics: Equatable {
        case gradientFlow, gradientSteps(TrainingMethod), other(String)

        init(training: TrainingMethod?, flow: FlowKind) {
            switch training {
            case .gd?, .sgd?: self = .gradientSteps(training!)
            case let method?: self = .other(method.rawValue)
            case nil: self = flow == .gradient ? .gradientFlow : .other("the \(flow.name == "adam" ? "Adam" : "RMSProp") flow")
            }
        }

        var gradientRateApplies: Bool { if case .other = self { return false } else { return true } }
    }

    static func verdict(_ s: StationarityReport, _ plateaus: [Plateau], _ d: Diagnostics, deep: Bool = false,
                        dynamics: Dynamics = .gradientFlow) -> Verdict {
        func e(_ v: Double) -> String { String(format: "%.3e", v) }
        func g(_ v: Double) -> String { String(format: "%.4g", v) }
        var lines: [String] = []
        // Headline: where the run ended and whether it is at rest there.
        var headline = s.stationary ? "converged: stationary at loss \(e(s.loss))" : "still moving at t = \(String(format: "%.6g", s.t)): loss \(e(s.loss)), |∇L| \(e(s.gradNorm))"
        if s.stationary {
            // Zero loss to rounding (residuals ~1e-15, loss ~1e-30): the gap there is rounding too.
            if s.loss <= 1e-24 { headline += ": the network interpolates the data (zero loss to rounding)" }
            else if !deep { headline += s.gap <= 1e-9 * s.loss ? ", at its pattern floor" : ", \(e(s.gap)) above its pattern floor L*_P = \(e(s.patternFloor))" }
        }
        if d.status.rawValue != "completed" { headline = "run \(d.status.rawValue) at t = \(String(format: "%.6g", d.finalTime)); " + headline }
        lines.append(headline + "; \(plateaus.count) plateau(s)")
        let total = plateaus.reduce(0) { $0 + ($1.tEnd - $1.tStart) }
        let inside = plateaus.reduce(0) { $0 + $1.overlap * ($1.tEnd - $1.tStart) }
        let share: Double? = total > 0 ? inside / total : nil
        let held = plateaus.filter { $0.overlap >= 0.9 }.count
        lines.append("\(plateaus.count) plateau(s)" + (share.map {
            ": \(held) of \(plateaus.count) lie at least 90% inside one constant-pattern interval (\(String(format: "%.1f", 100 * $0))% of all plateau time)"
        } ?? ""))
        if deep && !plateaus.isEmpty {
            lines.append("  (pattern floor, gap and rates: not available for deep networks; SPEC §5's floor L*_P and §6's rates are the shallow network's)")
        }
        for (k, p) in plateaus.enumerated() {
            var line = "  plateau \(k): t ∈ [\(g(p.tStart)), \(g(p.tEnd))]\(p.terminal ? " (terminal)" : ""), loss \(e(p.loss)), "
                + "\(p.patternIntervals.count) pattern interval(s), \(String(format: "%.1f", 100 * p.overlap))% in pattern \(p.patternId)"
            if !deep {
                line += ", floor \(e(p.patternFloor)), gap \(e(p.gap)), rate " + (p.rate.map(e) ?? "n/a")
                switch dynamics {
                case .gradientFlow: line += " (predicted " + (p.predictedRate.map(e) ?? "n/a") + ")"
                case .gradientSteps: line += " in t = k·η (gradient-flow prediction 2λ⁺ " + (p.predictedRate.map(e) ?? "n/a") + ")"
                case .other(let what): line += " (no prediction: SPEC §6's 2λ⁺ is the gradient flow's rate, not \(what)'s)"
                }
            }
            lines.append(line)
            if !p.terminal, let at = p.predictionTime {
                var exits: [String] = []
                if let exit = p.exitPrediction {
                    exits.append("k* predicts knot \(exit.neuron) crosses point \(exit.point) moving \(exit.direction)"
                                 + (p.exitPredictionHeld.map { $0 ? " (held)" : " (did not hold)" } ?? ""))
                }
                if let f = p.exitForecast {
                    let what = f.mechanism == .slideExit ? "the slide of neuron \(f.neuron) on point \(f.point) ends, knot leaving"
                                                         : "knot \(f.neuron) reaches point \(f.point) moving"
                    exits.append("kinematics forecast \(what) \(f.direction) in \(g(f.timeToExit))"
                                 + (p.exitForecastHeld.map { $0 ? " (held)" : " (did not hold)" } ?? ""))
                }
                if let o = p.observedExit {
                    exits.append("observed: \(o.kind.rawValue) of neuron \(o.neuron) at point \(o.point) at t = \(g(o.t))")
                }
                if !exits.isEmpty { lines.append("    from t = \(g(at)): " + exits.joined(separator: "; ")) }
            }
        }
        let predictions = plateaus.filter { !$0.terminal && $0.exitPrediction != nil && $0.exitPredictionHeld != nil }
        let forecasts = plateaus.filter { !$0.terminal && $0.exitForecast != nil && $0.exitForecastHeld != nil }
        var exitSummary: [String] = []
        if !predictions.isEmpty { exitSummary.append("k* predictions \(predictions.filter { $0.exitPredictionHeld == true }.count) of \(predictions.count) held") }
        if !forecasts.isEmpty { exitSummary.append("kinematic forecasts \(forecasts.filter { $0.exitForecastHeld == true }.count) of \(forecasts.count) held") }
        if !exitSummary.isEmpty { lines.append("plateau exits: " + exitSummary.joined(separator: ", ")) }
        if deep {
            lines.append("state at t = \(String(format: "%.6g", s.t)): loss \(e(s.loss)), |∇L| \(e(s.gradNorm)) (plain gradient, σ'(0) = 0)")
            lines.append(s.stationary ? "stationary: |∇L| ≤ \(e(s.gradientTolerance))" : "not stationary: |∇L| = \(e(s.gradNorm)) > \(e(s.gradientTolerance))")
            lines.append("deep network: pattern floors, rates, per-neuron moments, knots and exit predictions are readings of the shallow network (SPEC §5) and are skipped; plateaus use ρ_H of the exact Hessian")
        } else {
            lines.append("state at t = \(String(format: "%.6g", s.t)): loss \(e(s.loss)), |∇L| \(e(s.gradNorm)), pattern floor L*_P \(e(s.patternFloor)), gap \(e(s.gap))")
            lines.append(s.stationary ? "stationary: |∇L| ≤ \(e(s.gradientTolerance)) and every sliding α in [0, 1]"
                                      : "not stationary: |∇L| = \(e(s.gradNorm)) > \(e(s.gradientTolerance))")
        }
        let slidingPairs = s.neurons.reduce(0) { $0 + $1.slidingCount }
        if slidingPairs > 0 {
            lines.append("\(slidingPairs) sliding pair(s): their points sit on knots, so they are in no interval, count as inactive in L*_P "
                         + "and are missing from momentOn; the flow weights them by α, so a stationary state can lie above L*_P and off the lines beside such a knot")
        }
        var feasible: Bool? = nil, deviation: Double? = nil
        if let reading = s.oneDimensional {
            feasible = reading.meetingPoints.allSatisfy(\.feasible)
            let generated = reading.intervals.filter(\.generated)
            deviation = generated.compactMap(\.maxDeviation).max()
            let withPoints = reading.intervals.filter { !$0.points.isEmpty }.count
            lines.append("\(reading.knots.count) knots, \(withPoints) intervals with data, \(generated.count) generated by the active sets"
                         + (deviation.map { "; on those, network vs regression line: max deviation \(e($0))" } ?? ""))
            let bad = reading.meetingPoints.filter { !$0.feasible }
            if reading.meetingPoints.isEmpty {
                lines.append("no meeting points k* to check (a k* needs two adjacent generated intervals with two or more distinct points each, across a knot that rests on no data point)")
            } else if bad.isEmpty {
                lines.append("all \(reading.meetingPoints.count) meeting point(s) k* lie between their separating data points")
            } else if s.stationary {
                lines.append("\(bad.count) meeting point(s) k* outside their gap, but the state is stationary: the lines do not describe it (sliding points or intervals the active sets do not generate)")
            } else {
                lines.append("\(bad.count) meeting point(s) k* outside their gap: the pattern is transient")
            }
            if let exit = reading.exitPrediction {
                if plateaus.contains(where: { $0.tStart <= s.t && s.t <= $0.tEnd }) {
                    lines.append("exit prediction: the knot of neuron \(exit.neuron) will cross data point \(exit.point) moving \(exit.direction)")
                } else {
                    lines.append("no plateau at t = \(String(format: "%.6g", s.t)): the state is moving, so its transient pattern gives no exit prediction (stationarity.json still records the reading)")
                }
            }
        }
        if let method = d.method {
            // A discrete method does not keep the flow's invariants: its drift and its first-order
            // dissipation sum measure the method, not an integration error.
            lines.append("training (\(method.rawValue)): \(d.status.rawValue) after \(d.iterations ?? 0) iterations at t = \(String(format: "%.6g", d.finalTime)), \(d.events) pattern changes, \(d.patternIntervals) pattern intervals")
        } else {
            lines.append("engine: \(d.status.rawValue) at t = \(String(format: "%.6g", d.finalTime)), \(d.events) events, \(d.patternIntervals) pattern intervals, "
                + (d.invariantDrift.map { "invariant drift \(e($0)), dissipation defect \(e(d.dissipationDefect))" }
                   ?? "\(d.invariantNote ?? "no invariant drift: the balance is not an invariant of this flow"), dissipation defect \(e(d.dissipationDefect))"))
        }
        return Verdict(stationary: s.stationary, meetingPointsFeasible: feasible, maxDeviationFromRegressionLines: deviation,
                       plateaus: plateaus.count, plateauTimeInConstantPattern: share, exitPredictions: predictions.count,
                       exitPredictionsHeld: predictions.filter { $0.exitPredictionHeld == true }.count,
                       exitForecasts: forecasts.count, exitForecastsHeld: forecasts.filter { $0.exitForecastHeld == true }.count,
                       lines: lines)
    }

    /// The files `reluflow analyze` adds to the run folder.
    public func files() throws -> [(String, Data)] {
        // Non-finite numbers are written as null (JSONOutput).
        return [("analysis.json", try JSONOutput.encode(self).data), ("plateaus.csv", plateausCSV()),
                ("stationarity.json", try JSONOutput.encode(stationarity).data)]
    }

    /// `plateaus.csv`: the INTERFACE.md columns, then `terminal`, `spectralRadius`,
    /// `gramEigenvalue` and the overlapped interval indices joined by `;`. Missing values are `nan`.
    public func plateausCSV() -> Data {
        var csv = CSVWriter(header: ["tStart", "tEnd", "loss", "overlap", "patternId", "patternFloor", "gap", "rate", "predictedRate",
                                     "terminal", "spectralRadius", "gramEigenvalue", "patternIntervals"])
        for p in plateaus {
            csv.numbers([p.tStart, p.tEnd, p.loss, p.overlap])
            csv.integer(p.patternId)
            csv.numbers([p.patternFloor, p.gap, p.rate ?? .nan, p.predictedRate ?? .nan])
            csv.text(p.terminal ? "true" : "false")
            csv.numbers([p.spectralRadius, p.gramEigenvalue ?? .nan])
            csv.text(p.patternIntervals.map(String.init).joined(separator: ";"))
            csv.endRow()
        }
        return csv.data
    }
}
