import Foundation
import ReluFlow

/// The scaling series of issue 4: random points in [-1, 1]^d, y = sin(πx0)·x1 (d = 2) or
/// sin(πx) (d = 1), He initialisation with seed 0, integrated to a common horizon. Per case it
/// reports the run's cost and the field's roofline (FieldTiming: GSL's CBLAS, and OpenBLAS when
/// installed); at the end the exponent of
/// wall time per unit of simulated time in n·m (least squares on the log–log points).
struct ScalingCase {
    let m: Int, n: Int, d: Int

    static let series: [ScalingCase] = [
        ScalingCase(m: 20, n: 10, d: 1), ScalingCase(m: 100, n: 16, d: 1), ScalingCase(m: 400, n: 32, d: 2),
        ScalingCase(m: 1_000, n: 64, d: 2), ScalingCase(m: 2_500, n: 128, d: 2), ScalingCase(m: 10_000, n: 256, d: 2),
    ]

    var label: String { "m=\(m) n=\(n) d=\(d)" }

    func problem(T: Double) throws -> FlowProblem {
        let target = TargetConfig(function: d == 1 ? "sin(pi*x)" : "sin(pi*x0)*x1", m: m, range: [-1, 1], dim: d,
                                  points: "random", seed: 1)
        let config = RunConfig(data: DataConfig(target: target),
                               network: NetworkConfig(width: n, initialization: InitSpec(scheme: .he, seed: 0, biasScale: 0.1)),
                               flow: FlowConfig(T: T, samples: SampleConfig(spacing: "log", count: 50)))
        return try config.resolve().problem
    }
}

struct ScalingRow {
    let scalingCase: ScalingCase
    let T: Double
    let seconds: Double
    let solution: FlowSolution
    let timing: FieldTiming

    var secondsPerUnitTime: Double { seconds / solution.finalTime }
    var pairs: Double { Double(scalingCase.n * scalingCase.m) }

    static let header = "case                        T      wall s   s/unit t    steps      RHS      Jac  events batched  final loss   drift    µs/RHS  µs/matvec  ratio  µs/OpenBLAS  ratio  µs/BLAS-field"

    var line: String {
        let d = solution.diagnostics
        return String(format: "%@ %6.0e %9.3f %10.3e %8d %8d %8d %7d %7d %11.4e %7.1e %9.1f %10.1f %6.1f",
                      scalingCase.label.padding(toLength: 24, withPad: " ", startingAt: 0), T, seconds, secondsPerUnitTime,
                      d.steps, d.rhsEvaluations, d.jacobianEvaluations, solution.events.count, d.batchedCrossings, d.finalLoss, d.invariantDrift,
                      timing.secondsPerEvaluation * 1e6, timing.secondsPerMatVec * 1e6, timing.ratio)
            + (timing.secondsPerOptimizedMatVec.map { String(format: " %12.1f %6.1f", $0 * 1e6, timing.optimizedRatio!) } ?? "            —      —")
            + (timing.secondsPerBLASEvaluation.map { String(format: " %14.1f", $0 * 1e6) } ?? "              —")
            + (timing.blasFieldDifference.map { $0 > 1e-10 ? String(format: "  [BLAS field differs by %.1e]", $0) : "" } ?? "")
            + (solution.status == .completed ? "" : "  [\(solution.status.rawValue): \(solution.message ?? "")]")
    }

    /// Least-squares slope of log(s per unit t) against log(n·m), and of events per unit t.
    static func exponents(_ rows: [ScalingRow]) -> (cost: Double, events: Double)? {
        guard rows.count >= 2 else { return nil }
        func slope(_ values: [Double]) -> Double {
            let x = rows.map { log($0.pairs) }, y = values.map { log($0) }
            let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
            let sxy = zip(x, y).map { ($0 - mx) * ($1 - my) }.reduce(0, +), sxx = x.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
            return sxy / sxx
        }
        return (slope(rows.map(\.secondsPerUnitTime)), slope(rows.map { max(Double($0.solution.events.count), 1) / $0.solution.finalTime }))
    }
}

/// A scaling case with crossing batches against the same case with every event located on its
/// own (`--batch-baseline`): wall-time and evaluation ratios, and how far apart the two results are.
struct BatchComparison {
    let batched: FlowSolution, batchedSeconds: Double
    let single: FlowSolution, singleSeconds: Double
    /// Every crossing on its own at 100× tighter tolerances (`--batch-reference`), or nil.
    var reference: FlowSolution? = nil

    /// The events in a canonical order: within a run of events closer than 1e-12 (1 + |t|) to each
    /// other (simultaneous to rounding, e.g. two neurons leaving the same point's surface together,
    /// whose logged order a rounding-level difference of the state can swap), by neuron, point, kind.
    static func canonical(_ events: [FlowEvent]) -> [FlowEvent] {
        var out: [FlowEvent] = [], run: [FlowEvent] = []
        func flush() {
            out += run.sorted { ($0.neuron, $0.point, $0.kind.rawValue) < ($1.neuron, $1.point, $1.kind.rawValue) }
            run = []
        }
        for e in events {
            if let last = run.last, abs(e.t - last.t) > 1e-12 * (1 + abs(e.t)) { flush() }
            run.append(e)
        }
        flush()
        return out
    }

    static func key(_ e: FlowEvent) -> String { "\(e.neuron):\(e.point):\(e.kind)" }

    /// Largest event-time and θ differences of a run from the reference (nil: different events, up
    /// to the order of simultaneous ones).
    static func distance(_ a: FlowSolution, from r: FlowSolution) -> (time: Double, theta: Double)? {
        let ea = canonical(a.events), er = canonical(r.events)
        guard ea.map(key) == er.map(key) else { return nil }
        return (zip(ea, er).map { abs($0.t - $1.t) }.max() ?? 0,
                zip(a.finalTheta, r.finalTheta).map { abs($0 - $1) }.max() ?? .nan)
    }

    var line: String {
        let a = batched.diagnostics, b = single.diagnostics
        let ea = BatchComparison.canonical(batched.events), eb = BatchComparison.canonical(single.events)
        let sameEvents = ea.map(BatchComparison.key) == eb.map(BatchComparison.key)
        let dTheta = zip(batched.finalTheta, single.finalTheta).map { abs($0 - $1) }.max() ?? .nan
        let dTime = sameEvents ? zip(ea, eb).map { abs($0.t - $1.t) }.max() ?? 0 : .nan
        let dLoss = abs(a.finalLoss - b.finalLoss) / max(abs(b.finalLoss), .leastNormalMagnitude)
        return String(format: "  one at a time: %.3f s, %d RHS, %d steps -> batches %.2fx faster, %.2fx fewer RHS; %d of %d events in %d batches; "
                      + "events %@, max |dt| %.1e, |dtheta| %.1e, dloss/loss %.1e",
                      singleSeconds, b.rhsEvaluations, b.steps, singleSeconds / batchedSeconds,
                      Double(b.rhsEvaluations) / Double(max(a.rhsEvaluations, 1)), a.batchedCrossings, batched.eventCount, a.crossingBatches,
                      sameEvents ? "same" : "DIFFER", dTime, dTheta, dLoss) + referenceLine + (sameEvents ? "" : "\n  " + firstDifference)
    }

    var firstDifference: String {
        let a = BatchComparison.canonical(batched.events), b = BatchComparison.canonical(single.events)
        for k in 0..<min(a.count, b.count) where a[k].neuron != b[k].neuron || a[k].point != b[k].point || a[k].kind != b[k].kind {
            let lo = max(0, k - 2)
            return "first difference at \(k): batched \(a[lo...min(k + 2, a.count - 1)].map { "\($0.t) \($0.neuron):\($0.point):\($0.kind)" }) one at a time \(b[lo...min(k + 2, b.count - 1)].map { "\($0.t) \($0.neuron):\($0.point):\($0.kind)" })"
        }
        return a.count == b.count ? "" : "counts \(a.count) vs \(b.count)"
    }

    private var referenceLine: String {
        guard let reference else { return "" }
        func describe(_ run: FlowSolution) -> String {
            guard let e = BatchComparison.distance(run, from: reference) else { return "events DIFFER" }
            return String(format: "max |dt| %.1e, |dtheta| %.1e", e.time, e.theta)
        }
        return "\n  against one at a time at 100x tighter tolerances: one at a time " + describe(single) + "; batches " + describe(batched)
    }
}
