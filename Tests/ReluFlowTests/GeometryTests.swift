import XCTest
@testable import ReluFlow

/// Degenerate geometry: coincident data points, several surfaces at once, all pairs on surfaces.
final class GeometryTests: XCTestCase {
    /// Duplicate points are one surface: their events share one time and appear once per point.
    func testDuplicatePointsShareEvents() throws {
        let x: [[Double]] = [[-1], [-0.5], [-0.5], [0], [0.5], [1]]
        let y: [Double] = [0.5, 0.1, 0.3, -0.2, 0.4, 0.9]
        // Neuron 2 starts with its knot exactly at the duplicate x = -0.5 and later slides there.
        let problem = try makeProblem(x: x, y: y, W: [[1.0], [-1.0], [0.4]], b: [0.45, -0.55, 0.2], c: [0.8, 0.6, -0.5], T: 200)
        XCTAssertEqual(problem.data.groupCount, 5)
        let solution = solve(problem)
        XCTAssertEqual(solution.status, .completed)
        XCTAssertLessThan(solution.diagnostics.invariantDrift, 1e-9)
        XCTAssertLessThan(solution.diagnostics.dissipationDefect, 1e-8)
        let atDuplicates = solution.events.filter { $0.point == 1 || $0.point == 2 }
        let byTime = Dictionary(grouping: atDuplicates) { "\($0.t):\($0.neuron)" }
        XCTAssertFalse(byTime.isEmpty, "the knots should reach x = -0.5")
        for (_, group) in byTime { XCTAssertEqual(Set(group.map(\.point)), [1, 2]) }
        XCTAssertTrue(atDuplicates.contains { $0.kind == .slide && $0.t > 0 }, "neuron 2 slides on the duplicate surface")
        // The two pairs of a duplicate point always share a state.
        for p in solution.patterns { for i in 0..<3 { XCTAssertEqual(p.states[i * 6 + 1], p.states[i * 6 + 2]) } }
    }

    /// d = 2 with a neuron whose line passes through two data points at t = 0: two surfaces of
    /// one neuron resolved jointly.
    func testTwoSurfacesOfOneNeuronAtOnce() throws {
        let x: [[Double]] = [[0, 0], [1, 1], [1, 0], [0, 1], [-1, 0.5], [0.5, -1]]
        let y: [Double] = [0.2, -0.4, 0.7, 0.1, 0.5, -0.3]
        // Neuron 0: z = x0 − x1, zero at (0, 0) and (1, 1).
        let problem = try makeProblem(x: x, y: y, W: [[1, -1], [0.3, 0.8]], b: [0, 0.1], c: [0.9, -0.6], T: 100)
        let solution = solve(problem)
        XCTAssertEqual(solution.status, .completed)
        XCTAssertEqual(solution.events.filter { $0.t == 0 }.count, 2)
        XCTAssertLessThan(solution.diagnostics.invariantDrift, 1e-9)
        XCTAssertLessThan(solution.diagnostics.dissipationDefect, 1e-8)
    }

    /// Zero weights and biases: every pair of every neuron on a surface at t = 0 (more than the
    /// joint enumeration handles, so resolved pair by pair). The run must not loop.
    func testAllPairsOnSurfaces() throws {
        let x: [[Double]] = (0..<9).map { [Double($0) / 4 - 1] }
        let y = x.map { sin(3 * $0[0]) }
        let problem = try makeProblem(x: x, y: y, W: [[0], [0]], b: [0, 0], c: [0.5, -0.5], T: 50)
        let solution = solve(problem)
        XCTAssertNotEqual(solution.status, .interrupted)
        XCTAssertLessThan(solution.diagnostics.invariantDrift, 1e-9)
        XCTAssertLessThanOrEqual(solution.finalLoss, solution.diagnostics.initialLoss)
    }
}
