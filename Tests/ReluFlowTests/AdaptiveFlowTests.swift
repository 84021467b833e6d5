import Foundation
import XCTest
@testable import ReluFlow

/// The adaptive flows of SPEC §7 (issue 18 items 2 and 6): their config, and their velocity laws
/// against central differences and against the independent reference's right-hand side
/// (Tests/Reference/deep_flow_reference.py, `Flow.velocity_of`).
final class AdaptiveFlowTests: XCTestCase {
    private func config(_ flow: String) throws -> RunConfig {
        try RunConfig.decode(Data(#"{"data": {"x": [[0], [1]], "y": [0, 1]}, "network": {"width": 2}, "flow": \#(flow)}"#.utf8))
    }

    // MARK: Config

    func testKindAndDefaults() throws {
        XCTAssertEqual(try config("{}").resolve().problem.options.kind, .gradient)
        let (rms, rmsOut) = try config(#"{"kind": "rmsprop"}"#).resolve()
        XCTAssertEqual(rms.options.kind, .rmsprop(RMSPropFlow(tau: 10, epsilon: 1e-8)))
        XCTAssertEqual([rmsOut.flow.kind, String(describing: rmsOut.flow.tau), String(describing: rmsOut.flow.epsilon)],
                       ["rmsprop", "Optional(10.0)", "Optional(1e-08)"])
        let (adam, adamOut) = try config(#"{"kind": "adam", "a": 5, "epsilon": 1e-6}"#).resolve()
        XCTAssertEqual(adam.options.kind, .adam(AdamFlow(a: 5, b: 0.1, epsilon: 1e-6)))
        XCTAssertEqual(adamOut.flow.b, 0.1, "defaults written into the resolved config")
        // The resolved config repeats the run: decoding it gives the same kind.
        let again = try RunConfig.decode(try adamOut.encoded()).resolve().problem.options.kind
        XCTAssertEqual(again, adam.options.kind)
        // A gradient flow's resolved config carries no kind (unchanged from before the adaptive flows).
        XCTAssertNil(try config("{}").resolve().resolved.flow.kind)
        let explicitGradient = try config(#"{"kind": "gradient"}"#).resolve().resolved
        XCTAssertNil(explicitGradient.flow.kind)
    }

    /// Issue 18 item 6: out-of-range constants exit 2 naming the field.
    func testBadConstantsNameTheField() throws {
        let cases: [(String, String)] = [
            (#"{"kind": "rmsprop", "tau": 0}"#, "flow.tau"),
            (#"{"kind": "rmsprop", "tau": -1}"#, "flow.tau"),
            (#"{"kind": "rmsprop", "epsilon": 0}"#, "flow.epsilon"),
            (#"{"kind": "rmsprop", "epsilon": -1e-8}"#, "flow.epsilon"),
            (#"{"kind": "adam", "a": 0}"#, "flow.a"),
            (#"{"kind": "adam", "b": -0.1}"#, "flow.b"),
            (#"{"kind": "adam", "epsilon": 0}"#, "flow.epsilon"),
            (#"{"kind": "sgd"}"#, "flow.kind"),
            (#"{"kind": "adam", "tau": 1}"#, "flow.tau"),
            (#"{"kind": "rmsprop", "a": 1}"#, "flow.a"),
            (#"{"tau": 1}"#, "flow.tau"),
            (#"{"epsilon": 1}"#, "flow.epsilon"),
        ]
        for (flow, field) in cases {
            XCTAssertThrowsError(try config(flow).resolve(), flow) { error in
                XCTAssertEqual((error as? InputError)?.field, field, flow)
            }
        }
        // Non-finite constants (JSON cannot spell them; a library caller can).
        var flow = FlowConfig()
        flow.kind = "adam"
        flow.a = .infinity
        XCTAssertThrowsError(try RunConfig.flowKind(flow)) { XCTAssertEqual(($0 as? InputError)?.field, "flow.a") }
        flow.kind = "rmsprop"
        flow.a = nil
        flow.tau = .nan
        XCTAssertThrowsError(try RunConfig.flowKind(flow)) { XCTAssertEqual(($0 as? InputError)?.field, "flow.tau") }
        // A kind in a segment of a resumed run is an unknown key there (the kind is the whole run's).
        XCTAssertThrowsError(try config(#"{"T": 2, "segments": [{"until": 1, "T": 1, "tau": 1}]}"#))
    }

    // MARK: Laws against central differences

    /// Partials of the RMSProp law against central differences of its velocity. Tolerance 1e-7
    /// relative to the partial's scale: the difference's truncation error is O(h²) ≈ 1e-10 with
    /// h = 1e-5 relative, its rounding ε/h ≈ 1e-11 relative.
    func testRMSPropPartialsAgainstDifferences() {
        let law = RMSPropFlow(tau: 0.7, epsilon: 1e-3)
        for (g, v) in [(0.3, 0.2), (-1.7, 4e-4), (2e-3, 5.0), (0.0, 0.1)] {
            let p = law.partials(g: g, v: v)
            func f(_ g: Double, _ v: Double) -> (Double, Double) {
                var td = 0.0, vd = 0.0
                var gg = g, vv = v
                law.velocity(P: 1, gradient: &gg, auxiliary: &vv, thetaDot: &td, auxiliaryDot: &vd)
                return (td, vd)
            }
            let hg = 1e-5 * max(abs(g), 1), hv = 1e-5 * v
            let dg = ((f(g + hg, v).0 - f(g - hg, v).0) / (2 * hg), (f(g + hg, v).1 - f(g - hg, v).1) / (2 * hg))
            let dv = ((f(g, v + hv).0 - f(g, v - hv).0) / (2 * hv), (f(g, v + hv).1 - f(g, v - hv).1) / (2 * hv))
            XCTAssertEqual(p.thetaG, dg.0, accuracy: 1e-7 * max(abs(p.thetaG), 1e-3))
            XCTAssertEqual(p.vG, dg.1, accuracy: 1e-7 * max(abs(p.vG), 1))
            XCTAssertEqual(p.thetaV, dv.0, accuracy: 1e-6 * max(abs(p.thetaV), 1e-6))
            XCTAssertEqual(p.vV, dv.1, accuracy: 1e-7 * abs(p.vV))
        }
    }

    /// Partials of the Adam law (θ' in m, v, s; m', v' in g) against central differences, at
    /// times from 1e-6 (bias corrections ≈ 1/(a s), the expm1 form) to 50 (corrections ≈ 1).
    func testAdamPartialsAgainstDifferences() {
        let law = AdamFlow(a: 3, b: 0.2, epsilon: 1e-4)
        for (g, m, v, s) in [(0.4, 0.1, 0.03, 0.5), (-2.0, -0.3, 0.9, 3.0), (0.1, 3e-7, 2e-9, 1e-6), (1.0, 0.9, 0.7, 50.0)] {
            func f(_ g: Double, _ m: Double, _ v: Double, _ s: Double) -> [Double] {
                var gg = g
                var aux = [m, v, s]
                var td = 0.0
                var ad = [0.0, 0.0, 0.0]
                law.velocity(P: 1, gradient: &gg, auxiliary: &aux, thetaDot: &td, auxiliaryDot: &ad)
                return [td, ad[0], ad[1], ad[2]]
            }
            let p = law.partials(g: g, m: m, v: v, s: s)
            // Step 1e-5 relative for θ' (nonlinear); 1e-3 absolute for m', v' (affine in m, v, g:
            // exact differences, no rounding amplified by a tiny step).
            func central(_ k: Int, _ x: Double, _ eval: (Double) -> [Double]) -> Double {
                let h = k == 0 ? 1e-5 * abs(x) : 1e-3
                return (eval(x + h)[k] - eval(x - h)[k]) / (2 * h)
            }
            let checks: [(String, Double, Double)] = [
                ("thetaM", p.thetaM, central(0, m) { f(g, $0, v, s) }),
                ("thetaV", p.thetaV, central(0, v) { f(g, m, $0, s) }),
                ("thetaS", p.thetaS, central(0, s) { f(g, m, v, $0) }),
                ("thetaG", p.thetaG, central(0, g) { f($0, m, v, s) }),
                ("mG", p.mG, central(1, g) { f($0, m, v, s) }),
                ("mM", p.mM, central(1, m) { f(g, $0, v, s) }),
                ("vG", p.vG, central(2, g) { f($0, m, v, s) }),
                ("vV", p.vV, central(2, v) { f(g, m, $0, s) }),
            ]
            for (name, exact, difference) in checks {
                XCTAssertEqual(exact, difference, accuracy: 1e-6 * max(abs(exact), 1e-8), "\(name) at s = \(s)")
            }
        }
    }

    /// Adam's bias correction at small s: no cancellation (expm1), and continuous into the limit
    /// m̂ = g, v̂ = g² at s = 0. With m = a s g (1 − a s/2) and v = b s g² (1 − b s/2), the exact
    /// solutions for constant g to second order, m̂ and v̂ equal g and g² to O(s²) ≈ 1e-20 relative at
    /// s = 1e-10 (a 1 − e^{−as} computed as a difference would lose all digits there: 1e-9 against 1).
    func testAdamSmallTimeLimit() {
        let law = AdamFlow()
        let g = -0.37
        for s in [1e-14, 1e-10, 1e-6] {
            let m = -expm1(-law.a * s) * g, v = -expm1(-law.b * s) * g * g
            let c = law.corrected(g: g, m: m, v: v, s: s)
            XCTAssertEqual(c.mHat, g, accuracy: 4 * Double.ulpOfOne * abs(g))
            XCTAssertEqual(c.vHat, g * g, accuracy: 4 * Double.ulpOfOne * g * g)
        }
        let limit = law.corrected(g: g, m: 0, v: 0, s: 0)
        XCTAssertEqual(limit.mHat, g)
        XCTAssertEqual(limit.vHat, g * g)
    }

    /// The laws against the independent reference's right-hand side (`Flow.velocity_of`, NumPy),
    /// at random states: the same formulas written twice agree to a few ulps (tolerance 1e-14
    /// relative: one division and one square root per entry).
    func testLawsAgainstReferenceRHS() throws {
        try requirePython("numpy, scipy")
        let P = 4
        var rng = SystemRandomNumberGenerator()
        let g = (0..<P).map { _ in Double.random(in: -2...2, using: &rng) }
        let m = (0..<P).map { _ in Double.random(in: -1...1, using: &rng) }
        let v = (0..<P).map { _ in Double.random(in: 0...3, using: &rng) }
        let t = 0.37
        let rms = RMSPropFlow(tau: 2.5, epsilon: 1e-3), adam = AdamFlow(a: 4, b: 0.3, epsilon: 1e-3)
        func list(_ x: [Double]) -> String { "[" + x.map { "\($0)" }.joined(separator: ",") + "]" }
        let script = """
        import sys, json, numpy as np
        sys.path.insert(0, \(String(reflecting: referenceFolder.path)))
        import deep_flow_reference as r
        net, _ = r.load({"data": {"x": [[0.0], [1.0]], "y": [0.0, 1.0]}, "network": {"layers": [1, 2, 1], "weights": [[[1.0], [-1.0]], [[1.0, 1.0]]]}})
        g = np.array(\(list(g))); m = np.array(\(list(m))); v = np.array(\(list(v)))
        th = np.zeros(\(P))
        fr = r.Flow(net, "rmsprop", tau=\(rms.tau), epsilon=\(rms.epsilon))
        fa = r.Flow(net, "adam", a=\(adam.a), b=\(adam.b), epsilon=\(adam.epsilon))
        out = {"rms": fr.velocity_of(\(t), np.concatenate([th, v, [0.0]]), g).tolist(),
               "adam": fa.velocity_of(\(t), np.concatenate([th, m, v, [0.0]]), g).tolist(),
               "adam0": fa.velocity_of(0.0, np.concatenate([th, 0 * m, 0 * v, [0.0]]), g).tolist()}
        print(json.dumps(out))
        """
        let output = try runPython(script)
        let ref = try JSONDecoder().decode([String: [Double]].self, from: Data(output.utf8))
        func ours(_ law: any AdaptiveLaw, aux: [Double]) -> [Double] {
            var td = [Double](repeating: 0, count: P)
            var ad = [Double](repeating: 0, count: law.auxiliaryCount(parameters: P))
            law.velocity(P: P, gradient: g, auxiliary: aux, thetaDot: &td, auxiliaryDot: &ad)
            return td + ad
        }
        let cases: [(String, [Double], [Double])] = [
            ("rms", ours(rms, aux: v), ref["rms"]!),
            ("adam", Array(ours(adam, aux: m + v + [t]).prefix(3 * P)), ref["adam"]!),
            ("adam0", Array(ours(adam, aux: [Double](repeating: 0, count: 2 * P) + [0]).prefix(3 * P)), ref["adam0"]!),
        ]
        for (name, a, b) in cases {
            XCTAssertEqual(a.count, b.count, name)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-14 * max(abs(y), 1e-3), name) }
        }
    }

    private var referenceFolder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Reference")
    }

    private func runPython(_ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            XCTFail("python: " + String(decoding: errData, as: UTF8.self))
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
