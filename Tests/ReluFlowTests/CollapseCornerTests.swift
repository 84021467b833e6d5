import Foundation
import XCTest
@testable import ReluFlow

/// The collapse corner (`CollapseCorner`, SPEC §4): neuron 1 of
/// `Benchmarks/stress/neuron-collapse-corner-d1.json` slides on the surface of x = 0.641 into
/// (w_1, b_1) = 0 at t ≈ 10.509, where all 11 surfaces meet. The continuation is the minimum-norm
/// element of the Filippov set there: the neuron stays at the origin, whatever the tolerance.
final class CollapseCornerTests: XCTestCase {
    static let x: [[Double]] = [[0.194], [-0.66], [0.641], [-0.485], [0.129], [-0.216], [0.693], [-0.282], [-0.101], [0.618], [0.955]]
    static let y = [0.2498, -0.2089, -2.6841, -0.798, 0.9845, -0.5076, 1.0828, 0.8126, -1.7843, 0.35, -0.9439]

    func corner(rtol: Double, T: Double = 100, batches: CrossingBatchPolicy = .automatic) throws -> FlowSolution {
        var problem = try makeProblem(x: Self.x, y: Self.y, W: [[0.397], [0.0793], [-0.973], [-1.4593]], b: [-0.6533, 0.0826, -0.6604, 1.316],
                                      c: [-0.1749, 0.2982, 0.1064, 0.6864], T: T, rtol: rtol, atol: 1e-12, stepper: .auto)
        problem.options.crossingBatches = batches
        let run = solve(problem)
        XCTAssertEqual(run.status, .completed, run.message ?? "")
        return run
    }

    /// rtol 1e-9 … 1e-13: the same events (the corner as three `branch` events of neuron 1, every
    /// pair of it switching off), and the same final state. Before the rule the run ended at loss
    /// 0.643781 or 0.641261 by the side of the origin rounding left the located state on, 2.5e-3
    /// apart. Tolerances: final loss 1e-9 relative and θ 1e-8 (the global error at rtol 1e-9 over
    /// T = 100 on this smooth stretch; measured 2.5e-15 and 2.4e-13), the corner time 1e-8
    /// (a crossing time is as accurate as the state over |ż| ≈ 0.03; measured 3.2e-12); (w_1, b_1)
    /// exactly 0 after the corner and c_1 exactly constant (its velocity is exactly 0 there).
    func testContinuationIsTheSameAtEveryTolerance() throws {
        try checkTolerances(batches: .automatic)
    }

    /// The same with crossing batches on (as on large problems, n·G ≥ 20 000): the corner is reached
    /// by sliding, and the crossings of a neuron with sliding pairs are never batched
    /// (`CrossingBatcher`), so the corner rule decides there too.
    func testCrossingBatchesLeaveTheCornerToTheRule() throws {
        try checkTolerances(batches: .always)
    }

    func checkTolerances(batches: CrossingBatchPolicy) throws {
        let runs = try [1e-9, 1e-10, 1e-11, 1e-12, 1e-13].map { try corner(rtol: $0, batches: batches) }
        let reference = runs.last!
        func signature(_ run: FlowSolution) -> [String] { run.events.map { "\($0.neuron):\($0.point):\($0.kind.rawValue):\($0.state.name)" } }
        for run in runs {
            let rtol = run.problem.options.rtol
            XCTAssertEqual(signature(run), signature(reference), "rtol \(rtol)")
            let branches = run.events.filter { $0.kind == .branch }
            XCTAssertEqual(branches.map(\.neuron), [1, 1, 1], "rtol \(rtol)")
            XCTAssertEqual(Set(branches.map(\.point)), [2, 6, 10], "rtol \(rtol)")
            XCTAssertTrue(branches.allSatisfy { $0.state == .off })
            let tc = try XCTUnwrap(branches.first).t
            XCTAssertEqual(tc, 10.509128597624, accuracy: 1e-8, "rtol \(rtol)")
            XCTAssertTrue(branches.allSatisfy { $0.t == tc })
            let lossT = run.last!.loss, lossRef = reference.last!.loss
            XCTAssertEqual(lossT, lossRef, accuracy: 1e-9 * lossRef, "rtol \(rtol)")
            XCTAssertEqual(lossT, 0.643781, accuracy: 1e-6)
            for (a, b) in zip(run.finalTheta, reference.finalTheta) { XCTAssertEqual(a, b, accuracy: 1e-8, "rtol \(rtol)") }
            // Neuron 1 (θ = [W (4), b (4), c (4)]): at the origin from the corner on, c_1 frozen.
            let after = run.samples.filter { $0.t > tc }
            XCTAssertFalse(after.isEmpty)
            XCTAssertTrue(after.allSatisfy { $0.theta[1] == 0 && $0.theta[5] == 0 }, "rtol \(rtol)")
            let atCorner = run.samples.last { $0.t == tc }!
            XCTAssertTrue(after.allSatisfy { $0.theta[9] == atCorner.theta[9] }, "rtol \(rtol)")
        }
    }

    /// The rule against independent computations. (1) The steepest-descent element: at the corner
    /// state the (w_1, b_1) velocities of the neighbouring modes span the zonotope
    /// {Σ_j s_j u_j}, u_j = −(c_1/m) r_j (x_j, 1), with r_j from the network's own output; its
    /// minimum-norm point, by `ZonotopeMinimumNorm` from the box centre, is 0 (closed form: s = 0),
    /// while the all-on mode moves at |Σ u_j| > 0.01 (so the choice matters). (2) The continuation:
    /// the network without neuron 1 (neurons 0, 2, 3), started at the corner's state and integrated
    /// over the remaining time, ends where the full run's neurons 0, 2, 3 end. Both at rtol 1e-12,
    /// so within 1e-8 in θ and 1e-10 in the loss (measured: below 1e-13 and 1e-14).
    func testCornerAgainstTheReducedNetwork() throws {
        let run = try corner(rtol: 1e-12)
        let tc = try XCTUnwrap(run.events.first { $0.kind == .branch }).t
        let state = run.samples.last { $0.t == tc }!.theta
        let m = Self.x.count
        // (1) The minimum-norm element of the corner's zonotope.
        let network = ShallowNetwork(width: 4, inputDimension: 1)
        var generators: [Double] = [], allOn = [0.0, 0.0]
        for j in 0..<m {
            let r = network.output(state, at: Self.x[j][...]) - Self.y[j]
            let u = [-state[9] / Double(m) * r * Self.x[j][0], -state[9] / Double(m) * r]
            generators += u
            allOn[0] += u[0]; allOn[1] += u[1]
        }
        let zonotope = ZonotopeMinimumNorm(dimension: 2, origin: [0, 0], generators: generators)
        let minimum = try zonotope.solve(start: [Double](repeating: 0.5, count: m), tolerance: [Double](repeating: 1e-16, count: m))
        XCTAssertTrue(minimum.converged)
        XCTAssertLessThan(minimum.point.map(abs).max()!, 1e-15)
        XCTAssertGreaterThan((allOn[0] * allOn[0] + allOn[1] * allOn[1]).squareRoot(), 0.01)

        // (2) The network without neuron 1, from the corner.
        let keep = [0, 2, 3]
        let reduced = try makeProblem(x: Self.x, y: Self.y, W: keep.map { [state[$0]] }, b: keep.map { state[4 + $0] },
                                      c: keep.map { state[8 + $0] }, T: 100 - tc, rtol: 1e-12, atol: 1e-12, stepper: .auto)
        let rest = solve(reduced)
        XCTAssertEqual(rest.status, .completed, rest.message ?? "")
        for (k, i) in keep.enumerated() {
            XCTAssertEqual(rest.finalTheta[k], run.finalTheta[i], accuracy: 1e-8, "W[\(i)]")
            XCTAssertEqual(rest.finalTheta[3 + k], run.finalTheta[4 + i], accuracy: 1e-8, "b[\(i)]")
            XCTAssertEqual(rest.finalTheta[6 + k], run.finalTheta[8 + i], accuracy: 1e-8, "c[\(i)]")
        }
        XCTAssertEqual(rest.last!.loss, run.last!.loss, accuracy: 1e-10)
    }
}
