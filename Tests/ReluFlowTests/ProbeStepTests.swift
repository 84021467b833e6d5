import CFieldKernels
@preconcurrency import CGSL
import Foundation
import XCTest
@testable import ReluFlow

/// An event locator of an explicit one-step stepper re-takes steps with the run's own stepper
/// (`GSLIntegrator.probeStep`) instead of a companion integrator of the same type: bitwise the
/// companion's result, and the run's next adaptive step is bitwise what it would have been
/// without the probes (the stepper keeps nothing from one step to the next). Bitwise, not to a
/// tolerance: the sharing only saves the companion's allocation, so no located event may move.
final class ProbeStepTests: XCTestCase {
    override func tearDown() {
        rf_rk87_choose(-1)
        super.tearDown()
    }

    func testProbeStepsAreACompanionsAndLeaveTheRunAsItWas() throws {
        let data = try Dataset(x: [[-0.9], [-0.3], [0.2], [0.7], [1.1]], y: [0.4, -0.2, 0.1, 0.5, -0.3])
        let network = DeepNetwork(layers: [1, 4, 3, 1], hiddenBias: true, outputBias: true)
        for (ours, stepper) in [(Int32(1), Stepper.rk8pd), (0, .rk8pd), (1, .rkck), (1, .rk4)] {
            rf_rk87_choose(ours)
            var rng = SplitMix(state: 5_18)
            for trial in 0..<20 {
                let field = DeepModeField(network: network, data: data)
                let dim = field.dimension
                let main = GSLIntegrator(field: field, stepper: stepper, rtol: 1e-8, atol: 1e-10, hstart: 1e-3)
                let twin = GSLIntegrator(field: field, stepper: stepper, rtol: 1e-8, atol: 1e-10, hstart: 1e-3)
                let companion = GSLIntegrator(field: field, stepper: stepper, rtol: 1e-8, atol: 1e-10, hstart: 1e-6)
                var y = (0..<dim).map { $0 < field.P ? Double.random(in: -1...1, using: &rng) : 0 }
                field.setMode(field.initialStates(y).states)
                var yTwin = y
                var t = 0.0, h = 1e-3, tTwin = 0.0, hTwin = 1e-3
                for _ in 0..<3 {
                    XCTAssertEqual(main.step(t: &t, to: 1, h: &h, y: &y), Int32(GSL_SUCCESS))
                    XCTAssertEqual(twin.step(t: &tTwin, to: 1, h: &hTwin, y: &yTwin), Int32(GSL_SUCCESS))
                    // Probes from the step's end (its field as dydt_in, as the locator passes f0).
                    var f0 = [Double](repeating: 0, count: dim)
                    XCTAssertTrue(field.evaluate(y, &f0))
                    for tau in [h * 0.37, h, h * 1.9] {
                        var a = y, b = y
                        let sa = main.probeStep(t: t, h: tau, y: &a, dydtIn: f0)
                        companion.reset()
                        let sb = companion.singleStep(t: t, h: tau, y: &b, dydtIn: f0)
                        XCTAssertEqual(sa, sb)
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(stepper) trial \(trial) τ \(tau)")
                    }
                }
                // The run's next step after the probes, and the probe-free twin's.
                XCTAssertEqual(main.step(t: &t, to: 1, h: &h, y: &y), twin.step(t: &tTwin, to: 1, h: &hTwin, y: &yTwin))
                XCTAssertEqual(t.bitPattern, tTwin.bitPattern)
                XCTAssertEqual(h.bitPattern, hTwin.bitPattern)
                XCTAssertEqual(y.map(\.bitPattern), yTwin.map(\.bitPattern), "\(stepper) trial \(trial)")
            }
        }
    }
}
