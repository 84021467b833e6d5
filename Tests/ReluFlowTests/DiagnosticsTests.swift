import XCTest
@testable import ReluFlow

/// The accuracy identities of SPEC §4 on the built-in examples, through crossings and sliding.
final class DiagnosticsTests: XCTestCase {
    /// Balance drift < 1e-9 and dissipation defect < 1e-8 at rtol 1e-10 (the thresholds;
    /// measured values are ~1e-14 and ~1e-13, so these catch any systematic error in the field,
    /// the projection or the event handling, not rounding).
    func testInvariantsAndDissipationOnBuiltInExamples() throws {
        for (name, T) in [("sine", 1000.0), ("abs", 1000.0), ("two-d", 300.0), ("small-init", 1000.0)] {
            let solution = solve(try exampleProblem(name, T: T))
            XCTAssertEqual(solution.status, .completed, name)
            let diag = solution.diagnostics
            XCTAssertLessThan(diag.invariantDrift, 1e-9, name)
            XCTAssertLessThan(diag.dissipationDefect, 1e-8, name)
            XCTAssertGreaterThan(solution.events.count, 5, "\(name) should pass through events")
            // Every sample keeps the invariants, not only the last one.
            let q0 = solution.problem.network.balance(solution.problem.theta0)
            for s in solution.samples {
                let q = solution.problem.network.balance(s.theta)
                XCTAssertLessThan(zip(q, q0).map { abs($0 - $1) }.max()!, 1e-9, "\(name) at t = \(s.t)")
            }
            // The loss never increases along a gradient flow (up to the tolerance).
            for (a, b) in zip(solution.samples, solution.samples.dropFirst()) {
                XCTAssertLessThanOrEqual(b.loss, a.loss * (1 + 1e-9) + 1e-15, "\(name) loss rose at t = \(b.t)")
            }
        }
    }

    /// The sine example slides: sliding episodes must appear, enter and end.
    func testSineSlides() throws {
        let solution = solve(try exampleProblem("sine", T: 100))
        XCTAssertGreaterThan(solution.diagnostics.eventsByKind[.slide], 0)
        XCTAssertGreaterThan(solution.diagnostics.eventsByKind[.slideEnd], 0)
        XCTAssertEqual(solution.diagnostics.eventsByKind[.graze], 0)
    }

    /// No chattering near sliding surfaces: steps per unit time stay bounded; a mode-unaware RHS
    /// would need orders of magnitude more steps here.
    func testNoChatteringStepCount() throws {
        let solution = solve(try exampleProblem("sine", T: 100))
        XCTAssertLessThan(solution.diagnostics.steps, 3000)
        XCTAssertLessThan(solution.diagnostics.rejectedSteps, 100)
    }
}

/// At an interpolating minimum the residuals fall to rounding level; from then on every
/// Filippov decision would be noise. The run holds the state and says so (no chattering).
final class ZeroLossTests: XCTestCase {
    func testAbsReachesZeroLossAndHoldsWithoutChattering() throws {
        let solution = solve(try exampleProblem("abs", T: 1e5))
        XCTAssertEqual(solution.status, .completed)
        let tz = try XCTUnwrap(solution.diagnostics.zeroLossTime)
        XCTAssertLessThan(tz, 1e5)
        XCTAssertLessThan(solution.finalLoss, 1e-26)
        XCTAssertLessThan(solution.events.count, 40, "no events from rounding noise")
        XCTAssertNotNil(solution.message)
        // Held: every sample after tz has the same θ.
        let held = solution.samples.filter { $0.t > tz }
        XCTAssertFalse(held.isEmpty)
        for s in held { XCTAssertEqual(s.theta, held[0].theta) }
    }
}
