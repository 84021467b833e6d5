import Foundation
import XCTest
@testable import ReluFlow

/// SPEC §5 on hand-made cases whose least-squares lines, meeting points, floors and gradients are
/// known in closed form. Tolerances: the closed forms are exact rationals; 1e-12 covers the
/// rounding of an SVD on 2–8 columns.
final class StationarityTests: XCTestCase {
    /// Two neurons with knots at 0: neuron 0 active right (w = 1), neuron 1 active left (w = −1),
    /// c = 1 each, so N(x) = |x|. Their active sets generate both intervals' affine functions.
    func network() -> (ShallowNetwork, [Double]) {
        (ShallowNetwork(width: 2, inputDimension: 1), [1, -1, 0, 0, 1, 1])
    }

    func testMinimumNormLeastSquares() throws {
        // Tall, full rank: y = 2x + 1 exactly.
        let tall = try LeastSquares.minimumNorm([0, 1, 1, 1, 2, 1], rows: 3, cols: 2, [1, 3, 5])
        XCTAssertEqual(tall.coefficients[0], 2, accuracy: 1e-12)
        XCTAssertEqual(tall.coefficients[1], 1, accuracy: 1e-12)
        XCTAssertEqual(tall.rank, 2)
        // Wide: x1 + x2 = 2 → minimum norm (1, 1).
        let wide = try LeastSquares.minimumNorm([1, 1], rows: 1, cols: 2, [2])
        XCTAssertEqual(wide.coefficients[0], 1, accuracy: 1e-12)
        XCTAssertEqual(wide.coefficients[1], 1, accuracy: 1e-12)
        // Rank deficient tall (duplicated column): minimum norm splits evenly; RSS of y = (1, 2, 3) about its mean.
        let deficient = try LeastSquares.minimumNorm([1, 1, 1, 1, 1, 1], rows: 3, cols: 2, [1, 2, 3])
        XCTAssertEqual(deficient.rank, 1)
        XCTAssertEqual(deficient.coefficients[0], 1, accuracy: 1e-12)
        XCTAssertEqual(deficient.coefficients[1], 1, accuracy: 1e-12)
        XCTAssertEqual(deficient.residualSumOfSquares, 2, accuracy: 1e-12)
        // Input LAPACK cannot use is reported, not solved into a wrong number.
        XCTAssertThrowsError(try LeastSquares.minimumNorm([1, .nan], rows: 2, cols: 1, [1, 2])) { error in
            XCTAssertEqual((error as? NumericalError)?.routine, "LAPACK dgelsd")
        }
    }

    func testRegressionLinesMeetingPointAndExitDirection() throws {
        let (net, theta) = network()
        // Left points (−2, 3), (−1, 1): line y = −2x − 1. Right points (1, 4), (2, 5): y = x + 3.
        // They meet at k* = −4/3, left of the separating point x = −1: transient, the knot moves left
        // to cross point 1.
        let data = try Dataset(x: [[-2], [-1], [1], [2]], y: [3, 1, 4, 5])
        let reading = try KnotReading(network: net, data: data, theta: theta)
        XCTAssertEqual(reading.knots.count, 2)
        let withPoints = reading.intervals.filter { !$0.points.isEmpty }
        XCTAssertEqual(withPoints.count, 2)
        XCTAssertTrue(withPoints.allSatisfy(\.generated))
        XCTAssertEqual(withPoints[0].slope!, -2, accuracy: 1e-12)
        XCTAssertEqual(withPoints[0].intercept!, -1, accuracy: 1e-12)
        XCTAssertEqual(withPoints[1].slope!, 1, accuracy: 1e-12)
        XCTAssertEqual(withPoints[1].intercept!, 3, accuracy: 1e-12)
        // N = |x|: at −2 the line says 3, the network 2; at 1 the line 4, the network 1.
        XCTAssertEqual(withPoints[0].maxDeviation!, 1, accuracy: 1e-12)
        XCTAssertEqual(withPoints[1].maxDeviation!, 3, accuracy: 1e-12)
        XCTAssertEqual(reading.meetingPoints.count, 1)
        XCTAssertEqual(reading.meetingPoints[0].between, [1, 2])
        XCTAssertEqual(reading.meetingPoints[0].k!, -4.0 / 3.0, accuracy: 1e-12)
        XCTAssertFalse(reading.meetingPoints[0].feasible)
        let exit = try XCTUnwrap(reading.exitPrediction)
        XCTAssertEqual(exit.point, 1)
        XCTAssertEqual(exit.direction, "left")
        XCTAssertTrue([0, 1].contains(exit.neuron))

        // Right points (1, 1), (2, 4): y = 3x − 2 meets y = −2x − 1 at k* = 1/5, inside (−1, 1).
        let feasibleData = try Dataset(x: [[-2], [-1], [1], [2]], y: [3, 1, 1, 4])
        let feasible = try KnotReading(network: net, data: feasibleData, theta: theta)
        XCTAssertEqual(feasible.meetingPoints[0].k!, 0.2, accuracy: 1e-12)
        XCTAssertTrue(feasible.meetingPoints[0].feasible)
        XCTAssertNil(feasible.exitPrediction)
    }

    /// Meeting points need a unique line on both sides and a knot that is not resting on a data
    /// point. The same data as above with a point moved or added shows both exclusions.
    func testNoMeetingPointFromSinglePointIntervalsOrAcrossAKnotOnAPoint() throws {
        let (net, theta) = network()
        // Left interval {−2} alone: the minimum-norm line through one point depends on the origin
        // (through (−2, 3): slope −6/5, intercept 3/5; shifted data would give another), so no k*.
        let single = try KnotReading(network: net, data: try Dataset(x: [[-2], [1], [2]], y: [3, 4, 5]), theta: theta)
        XCTAssertEqual(single.intervals.filter { !$0.points.isEmpty }.map(\.points.count), [1, 2])
        XCTAssertTrue(single.meetingPoints.isEmpty)
        XCTAssertNil(single.exitPrediction)
        // A point at x = 0, where both knots rest: it belongs to no interval, and the lines on either
        // side (which would meet at −4/3, outside the gap, without it) give no k* across that knot.
        let onKnot = try KnotReading(network: net, data: try Dataset(x: [[-2], [-1], [0], [1], [2]], y: [3, 1, 0, 4, 5]), theta: theta)
        XCTAssertEqual(onKnot.intervals.flatMap(\.points).sorted(), [0, 1, 3, 4])
        XCTAssertTrue(onKnot.meetingPoints.isEmpty)
        XCTAssertNil(onKnot.exitPrediction)
    }

    func testIntervalsNotGeneratedByTheActiveSetsAreMarked() throws {
        // One neuron active right of 0 and no output bias: the left interval's functions are not in
        // the span (the network is 0 there whatever the parameters), so no regression claim is made.
        let net = ShallowNetwork(width: 1, inputDimension: 1)
        let data = try Dataset(x: [[-2], [-1], [1], [2]], y: [3, 1, 1, 4])
        let reading = try KnotReading(network: net, data: data, theta: [1, 0, 1])
        let withPoints = reading.intervals.filter { !$0.points.isEmpty }
        XCTAssertEqual(withPoints.map(\.generated), [false, true])
        XCTAssertTrue(reading.meetingPoints.isEmpty)
        XCTAssertNil(reading.exitPrediction)
    }

    func testPatternFloorClosedForm() throws {
        let (net, _) = network()
        // Left: (−3, 0), (−2, 1), (−1, 0): regression line y = 1/3, RSS 2/3. Right: two points, exact.
        // L*_P = (2/3) / (2·5) = 1/15.
        let data = try Dataset(x: [[-3], [-2], [-1], [1], [2]], y: [0, 1, 0, 4, 5])
        let active: [Bool] = [false, false, false, true, true,   // neuron 0 (right)
                              true, true, true, false, false]    // neuron 1 (left)
        XCTAssertEqual(try PatternFloor.value(network: net, data: data, active: active), 1.0 / 15.0, accuracy: 1e-13)
        // The same with an output bias column cannot do better here (the affine pieces already span it).
        let withBias = ShallowNetwork(width: 2, inputDimension: 1, outputBias: true)
        XCTAssertEqual(try PatternFloor.value(network: withBias, data: data, active: active), 1.0 / 15.0, accuracy: 1e-13)
    }

    func testConstructedStationaryStatePassesAndPerturbedFailsByTheExpectedAmount() throws {
        let (net, theta) = network()
        let xs: [Double] = [-2, -1, -0.5, 0.5, 1.5, 3]
        // Targets equal to the network: zero residual, a stationary point with L = L*_P = 0.
        let data = try Dataset(x: xs.map { [$0] }, y: xs.map { abs($0) })
        let stationary = try Stationarity.report(network: net, data: data, theta: theta, t: 0)
        XCTAssertTrue(stationary.stationary)
        XCTAssertLessThanOrEqual(stationary.gradNorm, 1e-15)
        XCTAssertLessThanOrEqual(abs(stationary.gap), 1e-28)
        XCTAssertTrue(stationary.oneDimensional!.meetingPoints.allSatisfy(\.feasible))

        // Perturb c_0 by δ: r_j = δ σ(z_0j), so ∂L/∂c_0 = (δ/m) Σ σ(z_0j)², ∂L/∂(w_0, b_0) = (δ/m) Σ_on σ(z_0j)(x_j, 1),
        // and neuron 1's derivatives vanish (disjoint active sets).
        let delta = 1e-3
        var perturbed = theta
        perturbed[net.cIndex(0)] += delta
        let report = try Stationarity.report(network: net, data: data, theta: perturbed, t: 1)
        let m = Double(xs.count)
        let on = xs.filter { $0 > 0 }
        let dc = delta / m * on.reduce(0) { $0 + $1 * $1 }
        let dw = (1 + delta) * delta / m * on.reduce(0) { $0 + $1 * $1 }
        let db = (1 + delta) * delta / m * on.reduce(0, +)
        let expected = (dc * dc + dw * dw + db * db).squareRoot()
        XCTAssertFalse(report.stationary)
        XCTAssertEqual(report.gradNorm, expected, accuracy: 1e-12 * expected)
        // The moment of neuron 0 is Σ_on r_j (x_j, 1) = δ (Σ x², Σ x). The residuals r_j = N − y of
        // size δx carry the rounding of N and y (~1e-16·|y|), hence 1e-13.
        XCTAssertEqual(report.neurons[0].momentOn[0], delta * on.reduce(0) { $0 + $1 * $1 }, accuracy: 1e-13)
        XCTAssertEqual(report.neurons[0].momentOn[1], delta * on.reduce(0, +), accuracy: 1e-13)
        XCTAssertEqual(report.neurons[1].momentOut, 0, accuracy: 1e-13)
    }

    /// `reluflow analyze` on a fresh run folder: exit 0, the files INTERFACE.md names, and exit 2
    /// with the argument named for a folder that is not there.
    func testAnalyzeCommandWritesStationarity() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try runReluflow(["simulate", "--example", "abs", "--T", "50", "--quiet", "--out", "run"], in: dir).status, 0)
        let result = try runReluflow(["analyze", "run"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("stationary"), result.stdout)
        let report = try JSONDecoder().decode(StationarityReport.self,
                                              from: Data(contentsOf: dir.appendingPathComponent("run/stationarity.json")))
        XCTAssertEqual(report.t, 50)
        XCTAssertEqual(report.neurons.count, 10)
        XCTAssertNotNil(report.oneDimensional)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/analysis.json").path))
        let missing = try runReluflow(["analyze", "nowhere"], in: dir)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("DIR"), missing.stderr)
        let badEpsilon = try runReluflow(["analyze", "run", "--epsilon", "-1"], in: dir)
        XCTAssertEqual(badEpsilon.status, 2)
        XCTAssertTrue(badEpsilon.stderr.contains("--epsilon"), badEpsilon.stderr)
    }

    /// plateaus.csv has the INTERFACE.md columns in order and one row per plateau of analysis.json.
    func testAnalyzeWritesPlateausCSV() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try runReluflow(["simulate", "--example", "small-init", "--T", "1000", "--quiet", "--out", "run"], in: dir).status, 0)
        let result = try runReluflow(["analyze", "run"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("3 plateau(s)"), result.stdout)
        let text = try String(contentsOf: dir.appendingPathComponent("run/plateaus.csv"), encoding: .utf8)
        let rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(Array(rows[0].prefix(9)), ["tStart", "tEnd", "loss", "overlap", "patternId", "patternFloor", "gap", "rate", "predictedRate"])
        let analysis = try JSONDecoder().decode(RunAnalysis.self, from: Data(contentsOf: dir.appendingPathComponent("run/analysis.json")))
        XCTAssertEqual(rows.count - 1, analysis.plateaus.count)
        for (row, plateau) in zip(rows.dropFirst(), analysis.plateaus) {
            XCTAssertEqual(Double(row[0]), plateau.tStart)
            XCTAssertEqual(Double(row[1]), plateau.tEnd)
            XCTAssertEqual(Int(row[4]), plateau.patternId)
            XCTAssertEqual(row[9], plateau.terminal ? "true" : "false")
        }
        XCTAssertEqual(analysis.verdict.plateaus, 3)
        XCTAssertEqual(analysis.patternIntervals.count, analysis.diagnostics.patternIntervals)
    }

    /// A knot resting on a data point (a sliding pair, z = 0 held by the flow and projected there in
    /// every sample) leaves z of that point at the rounding level, of either sign. The reading must
    /// not depend on that sign: the point counts as inactive (σ'(0) = 0, as the intervals leave it
    /// out) whether z is +2⁻⁵⁴, 0 or −2⁻⁵⁴. Here it matters: counted active, the knot point would
    /// join neuron 0's active set {1, 1.5}, whose affine functions on the data would no longer
    /// contain the right interval's indicator (the reading `generated: false` there).
    func testKnotOnADataPointReadsTheSameWhateverTheRoundingSign() throws {
        let net = ShallowNetwork(width: 2, inputDimension: 1)
        let data = try Dataset(x: [[-1], [-0.5], [0], [0.5], [1], [1.5]], y: [0.3, -0.2, 0.1, 0.4, 0.2, 0.6])
        var readings: [KnotReading] = []
        for b0 in [-(0.5.nextDown), -0.5, -(0.5.nextUp)] {
            // Neuron 0: w = 1, knot at x = 0.5 (z(0.5) = 0.5 + b0, within rounding of 0); neuron 1 active on the left.
            var theta = [Double](repeating: 0, count: net.parameterCount)
            theta[net.wIndex(0, 0)] = 1
            theta[net.bIndex(0)] = b0
            theta[net.cIndex(0)] = 0.7
            theta[net.wIndex(1, 0)] = -1
            theta[net.bIndex(1)] = 0.25
            theta[net.cIndex(1)] = -0.4
            readings.append(try KnotReading(network: net, data: data, theta: theta))
        }
        for reading in readings {
            let right = try XCTUnwrap(reading.intervals.first { $0.points == [4, 5] })
            XCTAssertTrue(right.generated)
            XCTAssertEqual(reading.intervals.map(\.generated), readings[0].intervals.map(\.generated))
            XCTAssertEqual(reading.intervals.map(\.points), readings[0].intervals.map(\.points))
        }
    }
}
