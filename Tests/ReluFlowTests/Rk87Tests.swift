import CFieldKernels
@preconcurrency import CGSL
import Foundation
import XCTest
@testable import ReluFlow

/// A random smooth non-autonomous system ẏ_i = (sin((i+1) t) + Σ_j A_ij tanh y_j) y_i + tanh(3 y_{i+1})/2,
/// whose evaluation number `failAt` (0-based, counted from `calls = 0`) fails with GSL_EBADFUNC.
private final class RandomSystem {
    let n: Int
    let A: [Double]
    var calls = 0
    var failAt = -1
    init(n: Int, rng: inout SplitMix) {
        self.n = n
        A = (0..<(n * n)).map { _ in Double.random(in: -1...1, using: &rng) }
    }
}

private func randomField(_ t: Double, _ y: UnsafePointer<Double>?, _ f: UnsafeMutablePointer<Double>?,
                         _ params: UnsafeMutableRawPointer?) -> Int32 {
    let s = Unmanaged<RandomSystem>.fromOpaque(params!).takeUnretainedValue()
    defer { s.calls += 1 }
    if s.calls == s.failAt { return Int32(GSL_EBADFUNC) }
    let y = y!, f = f!
    for i in 0..<s.n {
        var a = sin(t * Double(i + 1))
        for j in 0..<s.n { a += s.A[i * s.n + j] * tanh(y[j]) }
        f[i] = a * y[i] + 0.5 * tanh(3 * y[(i + 1) % s.n])
    }
    return Int32(GSL_SUCCESS)
}

/// The RK8(7)13M stepper of CFieldKernels/rk87.c (ReluFlow's rk8pd) against GSL's rk8pd: bitwise
/// equal y, yerr, dydt_out and status, also after a failed evaluation, in both lane builds, and on
/// whole runs. Bitwise, not to a tolerance: the stepper replaces GSL's only because it computes every
/// element with GSL's operations in GSL's order (so every run folder stays byte for byte the same).
final class Rk87Tests: XCTestCase {
    private var ours: UnsafePointer<gsl_odeiv2_step_type> { rf_rk87_type().assumingMemoryBound(to: gsl_odeiv2_step_type.self) }

    override func tearDown() {
        rf_rk87_lanes(-1)
        rf_rk87_choose(-1)
        super.tearDown()
    }

    /// 3 000 single steps per lane build: dimensions 1 … 37 (whole lanes and every tail), states
    /// spread over 10⁻⁸ … 10 so that the last bits of h·Σ a_jl k_l reach y's, h in 10⁻³ … 1,
    /// with and without dydt_in / dydt_out, and in every seventh a failing evaluation (a stage or
    /// the end's: GSL then puts back y). Swapping the association of one three-term stage sum
    /// makes a third of these steps differ.
    func testStepsAreBitwiseGSLsRK8PD() {
        for lanes: Int32 in [1, 0] {
            rf_rk87_lanes(lanes)
            var rng = SplitMix(state: 18_5)
            var differing = 0, failed = 0
            for trial in 0..<3000 {
                let n = 1 + trial % 37
                let system = RandomSystem(n: n, rng: &rng)
                var sys = gsl_odeiv2_system(function: randomField, jacobian: nil, dimension: n,
                                            params: Unmanaged.passUnretained(system).toOpaque())
                let y0 = (0..<n).map { _ in Double.random(in: -2...2, using: &rng) * pow(10, Double.random(in: -8...1, using: &rng)) }
                let t = Double.random(in: 0...3, using: &rng), h = pow(10, Double.random(in: -3...0, using: &rng))
                let useIn = trial % 3 != 0, useOut = trial % 5 != 0
                let failAt = trial % 7 == 0 ? Int.random(in: 0...14, using: &rng) : -1
                var dydtIn = [Double](repeating: 0, count: n)
                system.failAt = -1
                _ = randomField(t, y0, &dydtIn, sys.params)
                func run(_ type: UnsafePointer<gsl_odeiv2_step_type>) -> (Int32, [Double], [Double], [Double]) {
                    let step = gsl_odeiv2_step_alloc(type, n)!
                    defer { gsl_odeiv2_step_free(step) }
                    var y = y0, yerr = [Double](repeating: 0, count: n), out = [Double](repeating: 0, count: n)
                    system.calls = 0
                    system.failAt = failAt
                    let status = dydtIn.withUnsafeBufferPointer { din in
                        out.withUnsafeMutableBufferPointer { dout in
                            gsl_odeiv2_step_apply(step, t, h, &y, &yerr, useIn ? din.baseAddress : nil, useOut ? dout.baseAddress : nil, &sys)
                        }
                    }
                    return (status, y, yerr, out)
                }
                let (gs, gy, ge, gd) = run(gsl_odeiv2_step_rk8pd)
                let (os, oy, oe, od) = run(ours)
                var same = gs == os && gy.map(\.bitPattern) == oy.map(\.bitPattern)
                if gs == GSL_SUCCESS {
                    same = same && ge.map(\.bitPattern) == oe.map(\.bitPattern) && gd.map(\.bitPattern) == od.map(\.bitPattern)
                } else {
                    failed += 1
                }
                if !same { differing += 1 }
            }
            XCTAssertEqual(differing, 0, "lanes \(lanes): \(differing) of 3000 steps differ from GSL's rk8pd")
            XCTAssertGreaterThan(failed, 300, "the failing evaluations were not exercised")
        }
    }

    /// Stage j of the last step is k_{j+1}: k_1 the given dydt_in, and 13 distinct stages (a
    /// random system); none for another stepper type or past the 13th.
    func testStagesAreExposed() {
        var rng = SplitMix(state: 7)
        let system = RandomSystem(n: 5, rng: &rng)
        var sys = gsl_odeiv2_system(function: randomField, jacobian: nil, dimension: 5,
                                    params: Unmanaged.passUnretained(system).toOpaque())
        let step = gsl_odeiv2_step_alloc(ours, 5)!
        defer { gsl_odeiv2_step_free(step) }
        var y = [0.3, -0.2, 0.1, 0.5, -0.4], yerr = [Double](repeating: 0, count: 5), din = [Double](repeating: 0, count: 5)
        _ = randomField(0.1, y, &din, sys.params)
        XCTAssertEqual(gsl_odeiv2_step_apply(step, 0.1, 0.05, &y, &yerr, din, nil, &sys), Int32(GSL_SUCCESS))
        let stages = (0..<13).map { j in Array(UnsafeBufferPointer(start: rf_rk87_stage(step, Int32(j))!, count: 5)) }
        XCTAssertEqual(stages[0], din)
        XCTAssertEqual(Set(stages.map { $0.map(\.bitPattern) }).count, 13)
        XCTAssertNil(rf_rk87_stage(step, 13))
        let gslStep = gsl_odeiv2_step_alloc(gsl_odeiv2_step_rk8pd, 5)!
        defer { gsl_odeiv2_step_free(gslStep) }
        XCTAssertNil(rf_rk87_stage(gslStep, 0))
    }

    /// Whole runs with GSL's rk8pd and with this stepper (ReluFlow's rk8pd): status, θ(T), every
    /// sample and event, steps and evaluations bit for bit, on every gradient case of
    /// Tests/Reference/deep_flow_cases, the He network and three shallow examples (rk8pd for
    /// auto's explicit steps, the event locator's re-taken steps and dense output's).
    func testRunsAreBitwiseGSLsRK8PD() throws {
        let cases = DeepFlowTests.cases
        let names = try FileManager.default.contentsOfDirectory(atPath: cases.path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".expected.json") }.sorted()
        var problems: [(String, FlowProblem)] = []
        for name in names {
            let config = try RunConfig.load(path: cases.appendingPathComponent(name).path)
            guard config.flow.kind == nil || config.flow.kind == "gradient" else { continue }
            problems.append((name, try config.resolve().problem))
        }
        var he = try RunConfig.decode(Data(#"{"data": {"target": {"function": "sin(pi*x)", "m": 32, "range": [-1, 1]}}, "network": {"layers": [1, 16, 16, 1], "bias": true, "init": {"scheme": "he", "seed": 3}}}"#.utf8))
        he.flow.T = 2
        problems.append(("he [1,16,16,1]", try he.resolve().problem))
        problems.append(("sine T=30", try exampleProblem("sine", T: 30)))
        problems.append(("abs T=10", try exampleProblem("abs", T: 10)))
        problems.append(("plateaus T=200 rk8pd", try exampleProblem("plateaus", T: 200, stepper: .rk8pd)))
        XCTAssertGreaterThanOrEqual(problems.count, 15)
        for (name, problem) in problems {
            rf_rk87_choose(0)
            let reference = solve(problem)
            rf_rk87_choose(1)
            let run = solve(problem)
            XCTAssertEqual(run.status, reference.status, name)
            XCTAssertEqual(run.finalTheta.map(\.bitPattern), reference.finalTheta.map(\.bitPattern), name)
            XCTAssertEqual(run.diagnostics.steps, reference.diagnostics.steps, name)
            XCTAssertEqual(run.diagnostics.rhsEvaluations, reference.diagnostics.rhsEvaluations, name)
            XCTAssertEqual(run.samples.count, reference.samples.count, name)
            for (a, b) in zip(run.samples, reference.samples) {
                XCTAssertTrue(a.t.bitPattern == b.t.bitPattern && a.loss.bitPattern == b.loss.bitPattern
                              && a.theta.map(\.bitPattern) == b.theta.map(\.bitPattern), "\(name): sample at t = \(a.t)")
            }
            XCTAssertEqual(run.events.count, reference.events.count, name)
            for (a, b) in zip(run.events, reference.events) {
                XCTAssertTrue(a.t.bitPattern == b.t.bitPattern && a.kind == b.kind && a.neuron == b.neuron && a.point == b.point,
                              "\(name): \(a) vs \(b)")
            }
        }
    }
}
