import Foundation

/// Thresholds of SPEC §6 (options of `reluflow analyze`).
public struct PlateauCriteria: Codable, Sendable, Equatable {
    /// A time is flat when `|d log L / d log t| < epsilon`.
    public var epsilon: Double
    /// A flat interval is a plateau when it lasts at least `kappa / ρ_H`.
    public var kappa: Double

    public init(epsilon: Double = 0.05, kappa: Double = 2) {
        self.epsilon = epsilon
        self.kappa = kappa
    }
}

/// Plateau detection on a loss curve (SPEC §6), independent of where the curve came from.
///
/// A sample k is flat when its pointwise log-slope `s_k = d log L / d log t` (for the flow,
/// `s = −t |∇L|² / L` exactly, since `dL/dt = −|θ'|²`) satisfies `|s_k| < ε`; the segment between
/// samples k and k+1 is flat when both ends are flat and the secant slope
/// `Δ log L / Δ log t` is below ε too, so that a drop between two flat samples is not missed.
/// Segments from t = 0 (log t = −∞) and between samples at the same time (event rows) have no
/// secant and count by their ends. A plateau is a maximal run of flat segments `[t_a, t_b]` with
/// `t_b − t_a ≥ κ / ρ_H(t_a)`; when ρ_H = 0 the flow has no time scale and every flat interval
/// counts. It is terminal when it reaches the last sample.
public enum PlateauDetection {
    /// A candidate or accepted interval, by sample index.
    public struct Span: Equatable, Sendable {
        public var first: Int
        public var last: Int
        public var terminal: Bool
    }

    /// Maximal runs of flat segments (first < last).
    /// - Parameters: `logSlope` pointwise slopes, or nil to judge by secants alone.
    public static func flatSpans(t: [Double], loss: [Double], logSlope: [Double]?, epsilon: Double) -> [Span] {
        precondition(t.count == loss.count && (logSlope == nil || logSlope!.count == t.count))
        guard t.count >= 2 else { return [] }
        func segmentFlat(_ k: Int) -> Bool {
            Self.segmentFlat(t: (t[k], t[k + 1]), loss: (loss[k], loss[k + 1]),
                             logSlope: logSlope.map { ($0[k], $0[k + 1]) }, epsilon: epsilon)
        }
        var spans: [Span] = []
        var start: Int? = nil
        for k in 0..<(t.count - 1) {
            if segmentFlat(k) {
                if start == nil { start = k }
            } else if let s = start {
                spans.append(Span(first: s, last: k, terminal: false))
                start = nil
            }
        }
        if let s = start { spans.append(Span(first: s, last: t.count - 1, terminal: true)) }
        return spans.filter { t[$0.last] > t[$0.first] }
    }

    /// Whether the segment between two consecutive samples is flat (see the type's comment): both
    /// ends flat by their pointwise slopes (when given) and the secant slope below ε.
    /// `FirstPlateauFinder` applies the same test to a run as it is recorded.
    public static func segmentFlat(t: (Double, Double), loss: (Double, Double), logSlope: (Double, Double)?, epsilon: Double) -> Bool {
        func pointFlat(_ s: Double?) -> Bool {
            guard let s else { return true }
            return s.isNaN ? false : abs(s) < epsilon
        }
        guard pointFlat(logSlope?.0), pointFlat(logSlope?.1) else { return false }
        let (t0, t1) = t, (l0, l1) = loss
        if l0 <= 0 || l1 <= 0 { return l0 == l1 }
        // From t = 0 (log t = −∞) the secant has no slope; the loss must not change by more than
        // a factor e^ε instead.
        if t0 <= 0 { return abs(log(l1) - log(l0)) < epsilon }
        if t1 <= t0 { return true }
        return abs((log(l1) - log(l0)) / (log(t1) - log(t0))) < epsilon
    }

    /// The plateaus: flat spans that last at least κ/ρ_H, with ρ_H evaluated at each span's start
    /// by `spectralRadius(firstIndex)` (called only for spans that need it).
    public static func plateaus(t: [Double], loss: [Double], logSlope: [Double]?, criteria: PlateauCriteria,
                                spectralRadius: (Int) throws -> Double) rethrows -> [(span: Span, spectralRadius: Double)] {
        try flatSpans(t: t, loss: loss, logSlope: logSlope, epsilon: criteria.epsilon).compactMap { span in
            let rho = try spectralRadius(span.first)
            let duration = t[span.last] - t[span.first]
            return rho <= 0 || duration >= criteria.kappa / rho ? (span, rho) : nil
        }
    }
}
