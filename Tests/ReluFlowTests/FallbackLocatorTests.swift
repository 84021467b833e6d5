import Foundation
import XCTest
@testable import ReluFlow

/// The rk8pd stand-in for an implicit method's failed re-step (`FlowIntegration.fallbackLocator`)
/// re-takes a partial step by a controlled integration (GSL's driver at the run's tolerances), not
/// by one rk8pd step over an interval the implicit method chose: over a long interval one rk8pd
/// step carries its own truncation error, uncontrolled.
final class FallbackLocatorTests: XCTestCase {
    /// On the `sine` example's field in its initial mode (mode-locked, so smooth), Φ(τ) of the
    /// stand-in against a reference integration at rtol 1e-13: within 10 (atol + rtol|y|) in every
    /// component at rtol 1e-8, atol 1e-10 (GSL's control bounds the local error per step by the
    /// tolerance; over the few steps of the interval the global error stays within a few of it:
    /// the factor 10 is the margin). τ is the first of 0.25, 0.5, 1, … at which one rk8pd step
    /// is off by more than 1000 tolerances (asserted: so the test fails if the stand-in were that one step).
    func testStandInIsErrorControlled() throws {
        let problem = try exampleProblem("sine", T: 1)
        let field = ModeField(network: problem.network, data: problem.data)
        let dim = field.dimension
        var y0 = problem.theta0 + [0]
        field.setMode(y0.withUnsafeBufferPointer { field.initialStates($0.baseAddress!).states })
        var f0 = [Double](repeating: 0, count: dim)
        field.evaluate(&y0, &f0)
        let rtol = 1e-8, atol = 1e-10
        let standIn = EventLocator(field: field, stepper: .rk8pd, rtol: rtol, atol: atol, adaptive: true)
        let oneStep = EventLocator(field: field, stepper: .rk8pd, rtol: rtol, atol: atol)
        XCTAssertTrue(standIn.adaptive)
        XCTAssertFalse(oneStep.adaptive)
        let reference = GSLIntegrator(field: field, stepper: .rk8pd, rtol: 1e-13, atol: 1e-15, hstart: 1e-6)
        /// The largest error in units of the tolerance.
        func error(_ y: [Double], _ ref: [Double]) -> Double {
            (0..<dim).map { abs(y[$0] - ref[$0]) / (atol + rtol * abs(ref[$0])) }.max()!
        }
        var tau = 0.25
        var checked = false
        while tau <= 256 {
            var ref = y0
            var t = 0.0
            XCTAssertEqual(reference.integrate(t: &t, to: tau, hstart: 1e-3, y: &ref), 0)   // GSL_SUCCESS
            var single = [Double](repeating: 0, count: dim), controlled = single
            let singleOK = y0.withUnsafeBufferPointer { y in f0.withUnsafeBufferPointer { f in
                oneStep.prepareForProbe(t0: 0, y0: y.baseAddress!, f0: f.baseAddress!, stepHint: tau)
                return oneStep.advance(tau, into: &single)
            } }
            if singleOK, error(single, ref) <= 1000 { tau *= 2; continue }
            let ok = y0.withUnsafeBufferPointer { y in f0.withUnsafeBufferPointer { f in
                standIn.prepareForProbe(t0: 0, y0: y.baseAddress!, f0: f.baseAddress!, stepHint: tau)
                return standIn.advance(tau, into: &controlled)
            } }
            XCTAssertTrue(ok)
            print("tau \(tau): one rk8pd step off by \(singleOK ? error(single, ref) : .infinity) tolerances, the stand-in by \(error(controlled, ref))")
            XCTAssertLessThanOrEqual(error(controlled, ref), 10, "τ = \(tau)")
            checked = true
            break
        }
        XCTAssertTrue(checked, "no τ ≤ 256 at which one rk8pd step is inaccurate: the case shows nothing")
    }
}
