import Foundation

/// A kinematic forecast of how a plateau ends (d = 1), next to SPEC §5's geometric exit
/// prediction: which pattern change comes first if every knot and every sliding α keeps its
/// present rate of change.
///
/// - Knot crossings: for a neuron without sliding pairs, the knot `k_i = −b_i/w_i` moves at
///   `k̇_i = −(ḃ_i w_i − b_i ẇ_i)/w_i²` under the flow (θ' from the mode's Filippov field); it
///   reaches the nearest data point ahead of it after `τ = |x_j − k_i| / |k̇_i|`.
/// - Slide exits: a sliding pair leaves when its α reaches 0 or 1; with α̇ from two states of
///   the same pattern, `τ = (1 − α)/α̇` or `α/(−α̇)`. Reaching 1 turns the pair on, so the knot
///   leaves the point away from the active side; reaching 0 turns it off.
///
/// The forecast is the candidate with the smallest τ. Measured on 1 156 plateau exits of 1 047
/// generated 1-D runs, forecasting from the middle of each plateau: it held on 72% (94% on plateaus
/// near their pattern floor), against 30% (60%) for the k* prediction, which names a knot only when
/// a meeting point is infeasible and cannot see slide exits (18% of exits).
public struct ExitForecast: Codable, Sendable, Equatable {
    public enum Mechanism: String, Codable, Sendable { case knotCrossing, slideExit }

    public var neuron: Int
    public var point: Int
    /// "left" or "right": how the knot will leave or cross the point.
    public var direction: String
    public var mechanism: Mechanism
    /// Time to the exit at the present rates (flow time units).
    public var timeToExit: Double

    /// - Parameters: `states` n×m per point; `previous` an earlier state in the same pattern (for α̇).
    public static func make(network: ShallowNetwork, data: Dataset, states: [PairState], theta: [Double], t: Double,
                            previous: (t: Double, theta: [Double])?) throws -> ExitForecast? {
        guard data.dimension == 1 else { return nil }
        let n = network.width, G = data.groupCount
        let field = ModeField(network: network, data: data)
        let groupStates = data.perGroup(states, width: n)
        field.setMode(groupStates)
        func evaluate(_ th: [Double]) -> (velocity: [Double], alpha: [Double]) {
            var y = th + [0]
            var f = [Double](repeating: 0, count: th.count + 1)
            let evaluation = field.evaluation(at: &y, into: &f)
            return (f, (0..<(n * G)).map(evaluation.alpha))
        }
        let (f, alpha) = evaluate(theta)
        if let failure = field.numericalFailure { throw failure }
        let xs = data.groupPoints
        var best: ExitForecast? = nil
        func consider(_ candidate: ExitForecast) {
            // Ties within rounding (duplicate neurons) keep the lower neuron.
            if candidate.timeToExit.isFinite, candidate.timeToExit < (best.map { $0.timeToExit * (1 - 1e-9) } ?? .infinity) {
                best = candidate
            }
        }
        for i in 0..<n {
            let w = theta[network.wIndex(i, 0)], b = theta[network.bIndex(i)]
            let sliding = (0..<G).filter { groupStates[i * G + $0] == .sliding }
            if sliding.isEmpty {
                guard w != 0 else { continue }
                let k = -b / w
                let kdot = -(f[network.bIndex(i)] * w - b * f[network.wIndex(i, 0)]) / (w * w)
                guard kdot.isFinite, kdot != 0 else { continue }
                let ahead = (0..<G).filter { g in
                    let gap = xs[g] - k
                    return gap * kdot > 0 && abs(gap) > 1e-12 * max(abs(k), abs(xs[g]), 1e-300)
                }
                guard let g = ahead.min(by: { abs(xs[$0] - k) < abs(xs[$1] - k) }) else { continue }
                consider(ExitForecast(neuron: i, point: data.pointsOfGroup[g][0], direction: kdot > 0 ? "right" : "left",
                                      mechanism: .knotCrossing, timeToExit: abs(xs[g] - k) / abs(kdot)))
            } else if let previous, previous.t < t {
                let earlier = evaluate(previous.theta).alpha
                if let failure = field.numericalFailure { throw failure }
                for g in sliding {
                    let a = alpha[i * G + g], a0 = earlier[i * G + g]
                    guard a.isFinite, a0.isFinite else { continue }
                    let rate = (a - a0) / (t - previous.t)
                    guard rate != 0 else { continue }
                    let toOn = rate > 0
                    let tau = max(toOn ? (1 - a) / rate : a / -rate, 0)
                    // On: the point joins the active side, so the knot leaves it on the other side.
                    let activeRight = w > 0
                    let direction = toOn ? (activeRight ? "left" : "right") : (activeRight ? "right" : "left")
                    consider(ExitForecast(neuron: i, point: data.pointsOfGroup[g][0], direction: direction,
                                          mechanism: .slideExit, timeToExit: tau))
                }
            }
        }
        return best
    }
}
