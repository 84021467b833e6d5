import XCTest
@testable import ReluFlow

final class SmokeTests: XCTestCase {
    func testDefaultExampleRuns() throws {
        var config = try Example.named("sine").config
        config.flow.T = 10
        let (problem, _) = try config.resolve()
        let solution = solve(problem)
        XCTAssertEqual(solution.status, .completed)
        XCTAssertLessThan(solution.finalLoss, solution.diagnostics.initialLoss)
    }
}
