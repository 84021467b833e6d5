import Foundation
import XCTest
@testable import ReluFlow

/// SPEC §6: plateau detection on synthetic loss curves whose flat intervals are known in closed
/// form, the mode curvature against finite differences, and the plateaus of a real run.
final class PlateauTests: XCTestCase {
    /// L(t) = 0.1 + 0.4 / (1 + (t/1000)⁴) + 0.5 / (1 + (t/10)⁴): flat near 1 for small t, near 0.5
    /// between the two drops, and near 0.1 to the end (terminal).
    struct TwoDrops {
        static func loss(_ t: Double) -> Double { 0.1 + 0.4 / (1 + pow(t / 1000, 4)) + 0.5 / (1 + pow(t / 10, 4)) }
        /// d log L / d log t, exact.
        static func slope(_ t: Double) -> Double {
            func term(_ a: Double, _ t0: Double) -> Double {
                let u = pow(t / t0, 4)
                return -a * 4 * u / ((1 + u) * (1 + u))
            }
            return (term(0.4, 1000) + term(0.5, 10)) / loss(t)
        }
    }

    /// Log grid from 1e-3 to 1e5 with t = 0 in front.
    func grid(_ count: Int, to end: Double = 1e5) -> [Double] {
        [0] + (0..<count).map { 1e-3 * pow(end / 1e-3, Double($0) / Double(count - 1)) }
    }

    /// Where |slope| crosses ε, by bisection on the exact slope (the true plateau boundaries).
    func crossings(_ slope: (Double) -> Double, epsilon: Double, from a: Double, to b: Double) -> [Double] {
        var result: [Double] = []
        let ts = (0...4000).map { a * pow(b / a, Double($0) / 4000) }
        for k in 0..<(ts.count - 1) where (abs(slope(ts[k])) < epsilon) != (abs(slope(ts[k + 1])) < epsilon) {
            var lo = ts[k], hi = ts[k + 1]
            for _ in 0..<100 {
                let mid = 0.5 * (lo + hi)
                if (abs(slope(mid)) < epsilon) == (abs(slope(lo)) < epsilon) { lo = mid } else { hi = mid }
            }
            result.append(0.5 * (lo + hi))
        }
        return result
    }

    func testTwoDropsHaveThreePlateausAtTheExactBoundaries() {
        let t = grid(2000)
        let loss = t.map(TwoDrops.loss), slope = t.map(TwoDrops.slope)
        let edges = crossings(TwoDrops.slope, epsilon: 0.05, from: 1e-3, to: 1e5)
        XCTAssertEqual(edges.count, 4, "the curve leaves and re-enters the flat band twice")
        // Grid ratio 10^(8/1999) ≈ 1.0093: a detected boundary is a sample within one step of the true one.
        let step = pow(1e8, 1.0 / 1999) - 1
        for slopes in [slope, nil] as [[Double]?] {
            var calls: [Int] = []
            let found = PlateauDetection.plateaus(t: t, loss: loss, logSlope: slopes, criteria: PlateauCriteria()) { k in
                calls.append(k)
                return 1
            }
            XCTAssertEqual(found.count, 3)
            guard found.count == 3 else { continue }
            XCTAssertEqual(t[found[0].span.first], 0)
            let bounds = [(t[found[0].span.last], edges[0]), (t[found[1].span.first], edges[1]),
                          (t[found[1].span.last], edges[2]), (t[found[2].span.first], edges[3])]
            for (detected, exact) in bounds {
                XCTAssertEqual(detected, exact, accuracy: 1.01 * step * exact, "boundary \(exact)")
            }
            XCTAssertEqual(found.map(\.span.terminal), [false, false, true])
            XCTAssertEqual(t[found[2].span.last], 1e5)
            XCTAssertEqual(calls, found.map(\.span.first), "ρ_H is asked for at each span's start only")
        }
    }

    func testDurationTestDropsTheFirstInstants() {
        let t = grid(2000)
        let loss = t.map(TwoDrops.loss)
        let edges = crossings(TwoDrops.slope, epsilon: 0.05, from: 1e-3, to: 1e5)
        // ρ_H = 0.1: plateaus must last 20; the first flat span [0, ≈4] is too short, the others stay.
        XCTAssertLessThan(edges[0], 20)
        let found = PlateauDetection.plateaus(t: t, loss: loss, logSlope: t.map(TwoDrops.slope), criteria: PlateauCriteria()) { _ in 0.1 }
        XCTAssertEqual(found.count, 2)
        XCTAssertEqual(t[found[0].span.first], edges[1], accuracy: 0.01 * edges[1])
        // κ scales the required duration: κ = 2·(edges[2] − edges[1])/0.1·… drops the middle one too.
        let strict = PlateauCriteria(epsilon: 0.05, kappa: 0.1 * 1.1 * (edges[2] - edges[1]))
        let fewer = PlateauDetection.plateaus(t: t, loss: loss, logSlope: t.map(TwoDrops.slope), criteria: strict) { _ in 0.1 }
        XCTAssertEqual(fewer.count, 1)
        XCTAssertEqual(fewer.first?.span.terminal, true)
    }

    func testSteadyDecreaseHasNoPlateau() {
        // L = 1/(1+t)²: d log L/d log t = −2t/(1+t) is flat only for t < 0.0257, far shorter than κ/ρ = 2.
        let t = [0] + (0..<500).map { 1e-3 * pow(1e5, Double($0) / 499) }
        let loss = t.map { 1 / ((1 + $0) * (1 + $0)) }
        let slope = t.map { -2 * $0 / (1 + $0) }
        XCTAssertEqual(PlateauDetection.flatSpans(t: t, loss: loss, logSlope: slope, epsilon: 0.05).count, 1)
        XCTAssertTrue(PlateauDetection.plateaus(t: t, loss: loss, logSlope: slope, criteria: PlateauCriteria()) { _ in 1 }.isEmpty)
        XCTAssertTrue(PlateauDetection.plateaus(t: t, loss: loss, logSlope: nil, criteria: PlateauCriteria()) { _ in 1 }.isEmpty)
    }

    func testSecantCatchesADropBetweenFlatSamples() {
        // Both samples flat pointwise, but the loss halves between them: not one plateau.
        let t = [1.0, 2, 3, 4, 5, 6], loss = [1.0, 1, 1, 0.5, 0.5, 0.5]
        let spans = PlateauDetection.flatSpans(t: t, loss: loss, logSlope: [0, 0, 0, 0, 0, 0], epsilon: 0.05)
        XCTAssertEqual(spans.map { [$0.first, $0.last] }, [[0, 2], [3, 5]])
    }

    // MARK: Mode curvature

    /// Central second differences of L along the columns of Q (P×r): QᵀHQ. Step 1e-4: truncation
    /// O(h²·L⁗) ≈ 1e-8, rounding ε·L/h² ≈ 1e-8.
    func finiteDifferenceHessian(_ network: ShallowNetwork, _ data: Dataset, _ theta: [Double], _ Q: [[Double]]) -> [Double] {
        let r = Q.count, h = 1e-4
        func L(_ u: [Double]) -> Double {
            var th = theta
            for (a, q) in Q.enumerated() { for p in th.indices { th[p] += u[a] * q[p] } }
            return network.loss(th, data: data)
        }
        var H = [Double](repeating: 0, count: r * r)
        for a in 0..<r {
            for b in 0..<r {
                func at(_ sa: Double, _ sb: Double) -> Double {
                    var u = [Double](repeating: 0, count: r)
                    u[a] += sa * h
                    u[b] += sb * h
                    return L(u)
                }
                H[a * r + b] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)
            }
        }
        return H
    }

    /// `ModeCurvature.spectralRadius` (ρ_H without the Gram spectrum, what every run's first
    /// plateau needs; issue 22) is bit for bit the full curvature's ρ_H: the Hessian does not depend
    /// on whether the Gram matrix is compressed and decomposed. Random states with on, off and
    /// sliding pairs (so the projector has sliding rows as well as balances), with and without an
    /// output bias, d = 1 and 2. Tolerance: none.
    func testSpectralRadiusAloneIsTheFullCurvaturesBitForBit() throws {
        var rng = SplitMix(state: 40)
        for trial in 0..<40 {
            let d = trial % 2 + 1, n = 2 + trial % 5, m = 3 + trial % 6
            let network = ShallowNetwork(width: n, inputDimension: d, outputBias: trial % 3 == 0)
            let x = (0..<m).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &rng) } }
            let data = try Dataset(x: x, y: (0..<m).map { _ in Double.random(in: -1...1, using: &rng) })
            let theta = (0..<network.parameterCount).map { _ in Double.random(in: -1.5...1.5, using: &rng) }
            let states: [PairState] = (0..<(n * m)).map { _ in [PairState.on, .off, .sliding][Int.random(in: 0..<3, using: &rng)] }
            let full = try ModeCurvature(network: network, data: data, theta: theta, states: states)
            let alone = try ModeCurvature.spectralRadius(network: network, data: data, theta: theta, states: states)
            XCTAssertEqual(alone.bitPattern, full.spectralRadius.bitPattern, "trial \(trial): \(alone) against \(full.spectralRadius)")
            XCTAssertFalse(full.gramEigenvalues.isEmpty)
        }
    }

    func testHessianAndGramAgainstFiniteDifferences() throws {
        // Two neurons, d = 1, output bias; every pair at least 0.2 away from its kink.
        let network = ShallowNetwork(width: 2, inputDimension: 1, outputBias: true)
        let data = try Dataset(x: [[-1], [-0.4], [0.3], [1]], y: [0.5, -0.2, 0.7, 0.1])
        let theta = [1.5, -0.8, 0.2, 0.1, 0.9, -0.6, 0.05]
        let states: [PairState] = (0..<2).flatMap { i in (0..<4).map { j in
            network.preactivation(theta, neuron: i, point: data.x[j...j]) > 0 ? PairState.on : .off } }
        let curvature = try ModeCurvature(network: network, data: data, theta: theta, states: states)
        // Without sliding pairs only the two balance directions (w_i, b_i, −c_i) are projected out.
        XCTAssertEqual(curvature.constraintRank, 2)
        let P = network.parameterCount
        let Q = orthonormalComplement(of: balanceRows(network, theta), in: P)
        let fd = try ModeCurvature.symmetricEigenvalues(finiteDifferenceHessian(network, data, theta, Q), Q.count)
        let exact = curvature.hessianEigenvalues
        // The compressed P×P matrix has the r eigenvalues of QᵀHQ plus 2 zeros.
        var remaining = exact
        for v in fd {
            let k = remaining.indices.min { abs(remaining[$0] - v) < abs(remaining[$1] - v) }!
            XCTAssertEqual(remaining[k], v, accuracy: 1e-6 * curvature.spectralRadius)
            remaining.remove(at: k)
        }
        XCTAssertEqual(remaining.count, 2)
        for v in remaining { XCTAssertEqual(v, 0, accuracy: 1e-12) }
        XCTAssertEqual(curvature.spectralRadius, exact.map(abs).max()!, accuracy: 0)
        // Gram: JᵀJ/m from central differences of N_j.
        let m = data.count
        var J = [[Double]](repeating: [Double](repeating: 0, count: P), count: m)
        for p in 0..<P {
            var plus = theta, minus = theta
            plus[p] += 1e-6
            minus[p] -= 1e-6
            for j in 0..<m {
                J[j][p] = (network.output(plus, at: data.x[j...j]) - network.output(minus, at: data.x[j...j])) / 2e-6
            }
        }
        var G = [Double](repeating: 0, count: P * P)
        for a in 0..<P { for b in 0..<P { for j in 0..<m { G[a * P + b] += J[j][a] * J[j][b] / Double(m) } } }
        let gram = try ModeCurvature.symmetricEigenvalues(G, P)
        for (a, b) in zip(gram, curvature.gramEigenvalues) { XCTAssertEqual(a, b, accuracy: 1e-8) }
        // Rank of J is at most m = 4, so λ⁺ is the 4th largest; all above it are the same.
        let positive = gram.filter { $0 > 1e-9 }
        XCTAssertEqual(curvature.smallestNonzeroGramEigenvalue!, positive.min()!, accuracy: 1e-8)
    }

    func testSlidingPairIsProjectedOut() throws {
        // Neuron 0 has its knot exactly on x = 0.5 (w = 2, b = −1: z = 2·0.5 − 1 = 0 exactly), sliding.
        let network = ShallowNetwork(width: 2, inputDimension: 1)
        let data = try Dataset(x: [[-1], [0.5], [0.75], [1]], y: [0.3, 0.1, 0.6, 0.9])
        let theta = [2.0, -1.1, -1, 0.2, 0.8, 0.7]
        var states: [PairState] = (0..<2).flatMap { i in (0..<4).map { j in
            network.preactivation(theta, neuron: i, point: data.x[j...j]) > 0 ? PairState.on : .off } }
        states[1] = .sliding
        let curvature = try ModeCurvature(network: network, data: data, theta: theta, states: states)
        XCTAssertEqual(curvature.constraintRank, 3)
        // On the surface the loss is smooth: the FD Hessian along an orthonormal basis of the tangent
        // space matches the compressed Hessian's non-trivial eigenvalues.
        let rows = balanceRows(network, theta) + [[0.5, 0, 1, 0, 0, 0]]
        let Q = orthonormalComplement(of: rows, in: network.parameterCount)
        XCTAssertEqual(Q.count, 3)
        let fd = try ModeCurvature.symmetricEigenvalues(finiteDifferenceHessian(network, data, theta, Q), Q.count)
        var remaining = curvature.hessianEigenvalues
        for v in fd {
            let k = remaining.indices.min { abs(remaining[$0] - v) < abs(remaining[$1] - v) }!
            XCTAssertEqual(remaining[k], v, accuracy: 1e-6 * curvature.spectralRadius)
            remaining.remove(at: k)
        }
        for v in remaining { XCTAssertEqual(v, 0, accuracy: 1e-12) }
    }

    func balanceRows(_ network: ShallowNetwork, _ theta: [Double]) -> [[Double]] {
        (0..<network.width).map { i in
            var row = [Double](repeating: 0, count: network.parameterCount)
            for k in 0..<network.inputDimension { row[network.wIndex(i, k)] = theta[network.wIndex(i, k)] }
            row[network.bIndex(i)] = theta[network.bIndex(i)]
            row[network.cIndex(i)] = -theta[network.cIndex(i)]
            return row
        }
    }

    /// Gram–Schmidt: an orthonormal basis of the complement of span(rows) (rows independent).
    func orthonormalComplement(of rows: [[Double]], in P: Int) -> [[Double]] {
        var basis: [[Double]] = []
        func reduce(_ v: [Double]) -> [Double]? {
            var v = v
            for _ in 0..<2 { for u in basis { let dot = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }; for p in 0..<P { v[p] -= dot * u[p] } } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 1e-8 ? v.map { $0 / norm } : nil
        }
        for r in rows { if let u = reduce(r) { basis.append(u) } }
        let constraintCount = basis.count
        for p in 0..<P {
            var e = [Double](repeating: 0, count: P)
            e[p] = 1
            if let u = reduce(e) { basis.append(u) }
        }
        return Array(basis[constraintCount...])
    }

    // MARK: Plateaus of a run

    /// The small-initialisation example (SPEC §10): an alignment plateau, a plateau with a nearly
    /// constant pattern, and a terminal plateau converging at the rate the Gram matrix predicts.
    func testSmallInitialisationPlateaus() throws {
        var problem = try exampleProblem("small-init", T: 1e4)
        problem.options.sampleCount = 400
        let solution = solve(problem)
        let plateaus = try PlateauReport.plateaus(solution)
        XCTAssertEqual(plateaus.count, 3)
        guard plateaus.count == 3 else { return }
        // Alignment: the loss stays at its initial level (≈ mean(y²)/2 = 0.2375) while patterns change.
        XCTAssertEqual(plateaus[0].tStart, 0)
        XCTAssertEqual(plateaus[0].loss, 0.2375, accuracy: 1e-4)
        XCTAssertGreaterThan(plateaus[0].patternIntervals.count, 10)
        // A plateau held by one pattern for at least 90% of its time, well above its pattern floor.
        XCTAssertGreaterThan(plateaus[1].overlap, 0.9)
        XCTAssertGreaterThan(plateaus[1].gap, 10 * plateaus[1].patternFloor)
        // Terminal: converged to its floor; the empirical rate is within 30% of 2λ⁺ (the fit still
        // contains the faster modes; the local rate falls from 0.019 towards 0.0143 at the end).
        let last = plateaus[2]
        XCTAssertTrue(last.terminal)
        XCTAssertFalse(plateaus[0].terminal || plateaus[1].terminal)
        XCTAssertEqual(last.overlap, 1)
        XCTAssertLessThan(abs(last.gap), 1e-12)
        let rate = try XCTUnwrap(last.rate), predicted = try XCTUnwrap(last.predictedRate)
        XCTAssertEqual(rate, predicted, accuracy: 0.3 * predicted)
        // Pattern intervals report: losses at both ends come from the event rows.
        let intervals = PlateauReport.patternIntervals(solution)
        XCTAssertEqual(intervals.count, solution.patterns.count)
        XCTAssertEqual(intervals.first?.lossStart, solution.samples.first?.loss)
        XCTAssertEqual(intervals.last?.lossEnd, solution.samples.last?.loss)
        for (a, b) in zip(intervals, intervals.dropFirst()) { XCTAssertEqual(a.tEnd, b.tStart) }
    }

    /// The paper-reproduction examples do show what README says they show.
    func testPaperExamplesShowTheirFindings() throws {
        let (plateausProblem, _) = try Example.named("plateaus").config.resolve()
        let run = solve(plateausProblem)
        let plateaus = try PlateauReport.plateaus(run)
        XCTAssertEqual(plateaus.count, 4)
        for p in plateaus { XCTAssertGreaterThan(p.overlap, 0.99, "plateau at \(p.tStart) inside one pattern") }
        let predictions = plateaus.filter { !$0.terminal && $0.exitPrediction != nil }
        XCTAssertEqual(predictions.count, 2)
        XCTAssertTrue(predictions.allSatisfy { $0.exitPredictionHeld == true })
        // The kinematic forecast, made mid-plateau, names every exit (3 of 3).
        let forecasts = plateaus.filter { !$0.terminal }
        XCTAssertEqual(forecasts.count, 3)
        XCTAssertTrue(forecasts.allSatisfy { $0.exitForecastHeld == true })
        // Near its floor the rate matches 2λ⁺ (measured 1.928e-3 vs 1.913e-3).
        let nearFloor = try XCTUnwrap(plateaus.first { !$0.terminal && $0.gap < 1e-6 })
        XCTAssertEqual(try XCTUnwrap(nearFloor.rate), try XCTUnwrap(nearFloor.predictedRate), accuracy: 0.02 * nearFloor.predictedRate!)
        let end = try Stationarity.report(network: plateausProblem.network, data: plateausProblem.data, theta: run.finalTheta, t: run.finalTime)
        XCTAssertTrue(end.stationary)
        let reading = try XCTUnwrap(end.oneDimensional)
        XCTAssertTrue(reading.intervals.filter { !$0.points.isEmpty }.allSatisfy(\.generated))
        XCTAssertLessThan(reading.intervals.compactMap(\.maxDeviation).max()!, 1e-12, "the network equals its regression lines")

        let (transientProblem, _) = try Example.named("transient-plateau").config.resolve()
        let transient = try PlateauReport.plateaus(solve(transientProblem))
        let first = try XCTUnwrap(transient.first)
        XCTAssertFalse(first.terminal)
        XCTAssertEqual(first.overlap, 1)
        let predicted = try XCTUnwrap(first.exitPrediction), observed = try XCTUnwrap(first.observedExit)
        XCTAssertEqual(first.exitPredictionHeld, true)
        XCTAssertEqual(predicted.neuron, observed.neuron)
        XCTAssertEqual(predicted.point, observed.point)
        XCTAssertEqual(predicted.direction, observed.direction)
        XCTAssertEqual(first.exitForecastHeld, true)
        XCTAssertEqual(first.exitForecast?.mechanism, .knotCrossing)
        XCTAssertTrue(transient.last?.terminal ?? false)
    }

    /// One neuron on three points, all active: the knot moves at k̇ = −(ḃw − bẇ)/w² with the
    /// gradient of SPEC §3 written out here; the forecast names the nearest point ahead and
    /// τ = distance / |k̇| (to 1e-12 relative: a few operations on numbers of order one).
    func testKinematicForecastOfAKnotCrossing() throws {
        let network = ShallowNetwork(width: 1, inputDimension: 1)
        let data = try Dataset(x: [[-0.5], [0.2], [0.6]], y: [-1.0, 0.3, 2.0])
        let theta = [1.0, 0.8, 0.7]   // w, b, c: knot at −0.8, every point on
        let states: [PairState] = [.on, .on, .on]
        let (w, b, c) = (theta[0], theta[1], theta[2])
        let r = data.x.indices.map { c * (w * data.x[$0] + b) - data.y[$0] }
        let wdot = -c / 3 * zip(r, data.x).reduce(0) { $0 + $1.0 * $1.1 }
        let bdot = -c / 3 * r.reduce(0, +)
        let k = -b / w, kdot = -(bdot * w - b * wdot) / (w * w)
        let forecast = try XCTUnwrap(try ExitForecast.make(network: network, data: data, states: states, theta: theta, t: 1, previous: nil))
        XCTAssertEqual(forecast.mechanism, .knotCrossing)
        XCTAssertEqual(forecast.neuron, 0)
        // k̇ > 0 here (the residuals pull the knot right), so the next point ahead is x = −0.5.
        XCTAssertGreaterThan(kdot, 0)
        XCTAssertEqual(forecast.point, 0)
        XCTAssertEqual(forecast.direction, "right")
        XCTAssertEqual(forecast.timeToExit, (-0.5 - k) / kdot, accuracy: 1e-12 * forecast.timeToExit)
        // With y = (1, 0.3, −0.4) the knot moves left, away from every point: no forecast.
        let away = try Dataset(x: [[-0.5], [0.2], [0.6]], y: [1.0, 0.3, -0.4])
        XCTAssertNil(try ExitForecast.make(network: network, data: away, states: states, theta: theta, t: 1, previous: nil))
    }
}
