import XCTest
@testable import ReluFlow

/// A linear deep network (σ = identity, SPEC §8) has no switching functions: every pair is on for
/// ever and the field is smooth. The adaptive flows read the base field's pre-activations as
/// switching functions and located "events" where some z_l crossed 0 (no state changed, none
/// logged), and `auto` then took the event-dense stepper (rkck) for the whole run.
final class LinearNetworkFlowTests: XCTestCase {
    static func run(kind: String, stepper: String) throws -> FlowSolution {
        let config = try RunConfig.decode(Data("""
        {"data": {"x": [[0.25019093320933394, 0.794427601939151], [0.551371380490387, -0.5495856200188163], [-0.39966743017754913, 0.7471068907925238], [-0.9894693908688506, 0.6424568367655326], [0.5941388575040925, -0.06413009431255845], [-0.39393514636137295, -0.44314877579845335], [-0.4902608246917508, -0.10984738823470686], [0.009096517915906599, 0.10699470414898493], [0.9910005668687853, 0.5853238384275061], [0.24435845888232532, 0.9779202953637698], [-0.5693826035288021, -0.6795759322843109], [0.22507920854606156, -0.9121159840772333]],
                  "y": [0.438638894571743, 0.1431982740360202, -0.6570405536096968, -1.0946212123977148, 0.42576156225922845, -0.179854461197248, -0.3615400428289363, 0.01006929536322488, 1.0383762106930994, 0.47370979401963376, -0.06711986677934889, 0.01225574363381271]},
         "network": {"layers": [2, 4, 4, 1], "activation": "linear", "bias": true, "init": {"scheme": "xavier", "seed": 1}},
         "flow": {"T": 1.0, "rtol": 1e-12, "atol": 1e-14, "kind": "\(kind)", "stepper": "\(stepper)"}}
        """.utf8))
        return solve(try config.resolve().problem)
    }

    /// Adam and RMSProp flows, [2, 4, 4, 1] linear Xavier seed 1 on 12 points (tester's lin1), to
    /// T = 1: `auto` never takes rkck (no step ends at an event, so the event-dense rule never
    /// fires; before: rkck from the first "events" on, thousands of steps; now rk8pd, and msbdf
    /// where the RMSProp flow is stiff), no events, and θ(T) agrees with the run pinned to rk8pd
    /// within 1e-9 (both at rtol 1e-12, atol 1e-14 over a smooth flow of |θ| ~ 1).
    func testLinearNetworkHasNoEventsUnderTheAdaptiveFlows() throws {
        for kind in ["adam", "rmsprop"] {
            let auto = try Self.run(kind: kind, stepper: "auto")
            XCTAssertEqual(auto.status, .completed, auto.message ?? "")
            XCTAssertEqual(auto.eventCount, 0, kind)
            XCTAssertNil(auto.diagnostics.stepperSteps["rkck"], "\(kind): \(auto.diagnostics.stepperSteps)")
            let pinned = try Self.run(kind: kind, stepper: "rk8pd")
            XCTAssertEqual(pinned.status, .completed, pinned.message ?? "")
            XCTAssertEqual(auto.finalTheta.count, pinned.finalTheta.count)
            for (a, b) in zip(auto.finalTheta, pinned.finalTheta) { XCTAssertEqual(a, b, accuracy: 1e-9, kind) }
        }
    }
}
