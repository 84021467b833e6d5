import Foundation
import XCTest
@testable import ReluFlow

/// Typed outcomes: a failure's case gives its message (the exact text summary.json has always
/// carried) and its exit status; events are counted by kind.
final class OutcomeTests: XCTestCase {
    /// The messages are the texts users have seen in summary.json; only the recorder's failure exits 3.
    func testFailureMessagesAndExitStatus() {
        let cases: [(FlowFailure, String, Int32)] = [
            (.stepFailed(stepper: .msbdf, t: 2.5, status: 1, stepSize: 0.125),
             "the msbdf step from t = 2.5 failed: input domain error (step size 0.125)", 1),
            (.nonFiniteState(t: 3, stepSize: 0.5), "the state became non-finite in the step from t = 3.0 (step size 0.5)", 1),
            (.reStepFailed(.eventLocation, t: 1, status: 1), "re-stepping to locate an event failed near t = 1.0: input domain error", 1),
            (.noProgress(t: 2, pairs: 3, unchanged: false), "events do not advance time at t = 2.0 (3 pairs at their surfaces keep switching)", 1),
            (.noProgress(t: 2, pairs: 3, unchanged: true), "events do not advance time at t = 2.0 (3 pairs at their surfaces)", 1),
            (.eventLimit(10), "more than 10 events (flow.maxEvents): the run is chattering or needs a larger limit", 1),
            (.recorder(t: 4, reason: "disk full"), "writing the run's records failed at t = 4.0: disk full", 3),
            (.linearAlgebra(t: 5, error: NumericalError("GSL gsl_eigen_symm", "failed")),
             "linear algebra of the sliding surfaces failed near t = 5.0: \(NumericalError("GSL gsl_eigen_symm", "failed"))", 1),
        ]
        for (failure, message, status) in cases {
            XCTAssertEqual(failure.message, message)
            XCTAssertEqual(failure.exitStatus, status, message)
        }
        XCTAssertTrue(FlowFailure.chattering(t: 1, events: 2000, span: 1e-4, neuron: 2, surfaces: 5).message
            .hasPrefix("chattering at t = 1.0: 2000 events within 0.0001 time units, mostly neuron 2 on 5 surfaces at once"))
        // A deep network's unit is named by layer and index, without the shallow hyperplane's reason.
        let deep = FlowFailure.chattering(t: 1, events: 2000, span: 1e-4, neuron: 3, surfaces: 5, layer: 2).message
        XCTAssertTrue(deep.hasPrefix("chattering at t = 1.0: 2000 events within 0.0001 time units, mostly unit 3 of layer 2 on 5 points at once"), deep)
        XCTAssertFalse(deep.contains("hyperplane"), deep)
    }

    /// A run stopped by flow.maxEvents carries the typed reason, and its counts are by kind.
    func testEventLimitIsTyped() throws {
        var problem = try exampleProblem("sine", T: 10)
        problem.options.maxEvents = 5
        let run = solve(problem)
        XCTAssertEqual(run.status, .failed)
        XCTAssertEqual(run.failure, .eventLimit(5))
        XCTAssertEqual(run.message, FlowFailure.eventLimit(5).message)
        XCTAssertEqual(run.diagnostics.eventsByKind.total, 6)
        XCTAssertEqual(run.diagnostics.eventsByKind.total, run.events.count)
        for kind in EventKind.allCases {
            XCTAssertEqual(run.diagnostics.eventsByKind[kind], run.events.filter { $0.kind == kind }.count, kind.rawValue)
        }
        let completed = solve(try exampleProblem("sine", T: 1))
        XCTAssertEqual(completed.status, .completed)
        XCTAssertNil(completed.failure)
    }

    /// Event counts read and write as summary.json's object of names (every kind, zeros included).
    func testEventCountsCoding() throws {
        var counts = EventCounts()
        counts[.on] = 3
        counts[.slideEnd] = 1
        let data = try JSONEncoder().encode(counts)
        let names = try JSONDecoder().decode([String: Int].self, from: data)
        XCTAssertEqual(names, ["on": 3, "off": 0, "slide": 0, "slideEnd": 1, "branch": 0, "graze": 0])
        XCTAssertEqual(try JSONDecoder().decode(EventCounts.self, from: data), counts)
        XCTAssertNil(EventCounts(names: ["cross": 1]))
        XCTAssertThrowsError(try JSONDecoder().decode(EventCounts.self, from: Data(#"{"cross": 1}"#.utf8)))
        var total = counts
        total += counts
        XCTAssertEqual(total[.on], 6)
        XCTAssertEqual(total.total, 8)
    }
}
