import XCTest
@testable import ReluFlow

/// A stationary state whose sliding pair has α = 1 (the one-sided field equals the sliding one):
/// resumed from its checkpoint, rounding alone used to take the pair off its surface and back every
/// few time units (44 events after t = 1e4, none in the uninterrupted run). Idle excursions, over
/// which the loss does not change, now widen the pair's α band like short ones do.
final class ResumeAtStationarySlideTests: XCTestCase {
    func testResumedStationarySlideStaysQuiet() throws {
        func problem(T: Double) throws -> FlowProblem {
            try makeProblem(x: [[-1], [-0.7], [-0.45], [-0.1], [0.2], [0.35], [0.7], [1]],
                            y: [0.2, -0.3, 0.5, 0.9, 0.1, -0.4, 0.3, 1], W: [[0.8], [-0.6], [1.1]],
                            b: [0.3, 0.1, -0.5], c: [0.5, -0.7, 0.9], T: T, stepper: .auto)
        }
        let first = solve(try problem(T: 1e4))
        XCTAssertTrue(first.checkpoint.pattern.contains("0"), "the end state has a sliding pair")
        var rest = try problem(T: 1e5)
        rest.start = first.checkpoint
        let continued = solve(rest)
        let whole = solve(try problem(T: 1e5))
        XCTAssertEqual(continued.status, .completed)
        XCTAssertEqual(whole.events.filter { $0.t > 1e4 }.count, 0)
        // Measured: 6 events (three idle exits and re-entries until the band covers the rounding
        // of α); before the change 44 within the first 100 time units.
        XCTAssertLessThanOrEqual(continued.events.count, 10)
        // Nothing moves: both ends agree to the rounding of a stationary state.
        let gap = zip(continued.finalTheta, whole.finalTheta).map { abs($0 - $1) }.max() ?? .nan
        XCTAssertLessThan(gap, 1e-9)
    }
}
