import XCTest
@testable import ReluFlow

/// The adaptive flows' several-surface rule (`AdaptiveField`, SPEC §4 carried to §7): the α's of
/// several surfaces sliding at once, the product-measure velocity, the exit values, and whole runs
/// that the one-surface rule stopped.
final class SeveralSurfaceTests: XCTestCase {
    /// d = 2, neuron 0's knot line through two data points (two surfaces of one neuron: A is a full
    /// 2 × 2 matrix and the sides' gradient jumps overlap in (w_0, b_0), so the product measure's
    /// v' differs from the one-at-a-time convex combination). The field's α's, θ', v', D' and exit
    /// values against an independent computation written here from SPEC §1 and the rule: the
    /// shallow gradient by hand for each mode, ż = x̃_j·(ẇ_0, ḃ_0), the 2 × 2 system by Cramer's
    /// rule. Tolerance 1e-12 (absolute for α ~ O(1), relative for the velocity): both sides compute
    /// the same sums of a few O(1) terms in different orders, ~1e-16 each, and the system's
    /// condition number here is ~10 (asserted); a wrong rule (the convex v', α's of the surfaces
    /// solved one at a time) differs by ≥ 1e-4 (asserted for v').
    func testTwoSurfacesOfOneNeuronAgainstAnIndependentSolve() throws {
        let x: [[Double]] = [[0.5, 0.2], [-0.3, 0.6], [0.9, -0.4], [-0.8, -0.7], [0.1, 0.9]]
        let yData: [Double] = [0.3, -0.2, 0.5, 0.1, -0.4]
        let data = try Dataset(x: x, y: yData)
        let net = ShallowNetwork(width: 2, inputDimension: 2)
        // θ = [W (2×2), b, c]; neuron 0: w = (1, 2), b = −0.9 vanishes on x_0 and x_1.
        let theta: [Double] = [1, 2, -0.7, 0.4, -0.9, 0.3, 0.8, -0.6]
        let tau = 0.7, eps = 1e-8
        let field = AdaptiveField(base: ModeField(network: net, data: data), law: RMSPropFlow(tau: tau, epsilon: eps))
        let P = net.parameterCount, m = x.count, G = field.G
        XCTAssertEqual(G, m)
        let groupOf = (0..<m).map { j in field.pointsOfGroup.firstIndex { $0.contains(j) }! }
        let v: [Double] = (0..<P).map { 0.02 + 0.013 * Double($0) }
        func z(_ i: Int, _ j: Int) -> Double { theta[net.bIndex(i)] + theta[net.wIndex(i, 0)] * x[j][0] + theta[net.wIndex(i, 1)] * x[j][1] }
        // The mode: the two surfaces of neuron 0 sliding, every other pair by its sign.
        var states = [PairState](repeating: .off, count: 2 * G)
        for i in 0..<2 { for j in 0..<m { states[i * G + groupOf[j]] = z(i, j) > 0 ? .on : .off } }
        let sliding = [0 * G + groupOf[0], 0 * G + groupOf[1]]
        for k in sliding { states[k] = .sliding }
        field.setMode(states)

        // Independent: the shallow gradient with derivative weights S (forward masks F: on only).
        func gradient(_ S: (Int, Int) -> Double) -> [Double] {
            var g = [Double](repeating: 0, count: P)
            for j in 0..<m {
                var N = 0.0
                for i in 0..<2 where states[i * G + groupOf[j]] == .on { N += theta[net.cIndex(i)] * z(i, j) }
                let r = N - yData[j]
                for i in 0..<2 {
                    let s = S(i, j), ci = theta[net.cIndex(i)]
                    g[net.wIndex(i, 0)] += r * ci * s * x[j][0] / Double(m)
                    g[net.wIndex(i, 1)] += r * ci * s * x[j][1] / Double(m)
                    g[net.bIndex(i)] += r * ci * s / Double(m)
                    if states[i * G + groupOf[j]] == .on { g[net.cIndex(i)] += r * z(i, j) / Double(m) }
                }
            }
            return g
        }
        let gMinus = gradient { i, j in states[i * G + groupOf[j]] == .on ? 1 : 0 }
        let deltas = (0..<2).map { k -> [Double] in
            let side = gradient { i, j in states[i * G + groupOf[j]] == .on || (i == 0 && j == k) ? 1 : 0 }
            return (0..<P).map { side[$0] - gMinus[$0] }
        }
        func thetaDot(_ g: [Double]) -> [Double] { (0..<P).map { -g[$0] / (v[$0].squareRoot() + eps) } }
        func zdot(_ j: Int, _ u: [Double]) -> Double { u[net.wIndex(0, 0)] * x[j][0] + u[net.wIndex(0, 1)] * x[j][1] + u[net.bIndex(0)] }
        let c = [zdot(0, thetaDot(gMinus)), zdot(1, thetaDot(gMinus))]
        let A = [[zdot(0, thetaDot(deltas[0])), zdot(0, thetaDot(deltas[1]))],
                 [zdot(1, thetaDot(deltas[0])), zdot(1, thetaDot(deltas[1]))]]
        let det = A[0][0] * A[1][1] - A[0][1] * A[1][0]
        let alpha = [(-c[0] * A[1][1] + c[1] * A[0][1]) / det, (-c[1] * A[0][0] + c[0] * A[1][0]) / det]
        let norm = A.flatMap { $0 }.map(abs).max()!
        let inverseNorm = [A[1][1], A[0][1], A[1][0], A[0][0]].map { abs($0) }.max()! / abs(det)
        XCTAssertLessThan(2 * norm * 2 * inverseNorm, 100, "condition number of the 2×2 system")
        XCTAssertGreaterThan(abs(A[0][1]) + abs(A[1][0]), 1e-3 * norm, "the two surfaces are coupled")

        var y = theta + [0] + v
        var f = [Double](repeating: 0, count: field.dimension)
        let e = y.withUnsafeMutableBufferPointer { yb in f.withUnsafeMutableBufferPointer { field.evaluation(at: yb.baseAddress!, into: $0.baseAddress!) } }
        for (k, pair) in sliding.enumerated() {
            let ours = try XCTUnwrap(e.slides[pair], "pair \(pair) has a slide value")
            print("α_\(k): field \(ours.alpha), independent \(alpha[k]), |Δ| = \(abs(ours.alpha - alpha[k]))")
            XCTAssertEqual(ours.alpha, alpha[k], accuracy: 1e-12, "α_\(k)")
            // Exit: v⁻_k = c_k + A_kl α_l (l ≠ k), v⁺_k = v⁻_k + A_kk, min(v⁻, −v⁺).
            let l = 1 - k
            let vMinus = c[k] + A[k][l] * alpha[l], vPlus = vMinus + A[k][k]
            XCTAssertEqual(ours.exit, min(vMinus, -vPlus), accuracy: 1e-12 * norm, "exit value of surface \(k)")
        }
        // The velocity: θ' = −g(α)/(√v + ε), v' = (g(α)² + Σ α_k(1 − α_k)Δ_k² − v)/τ, D' = −g(α)·θ'.
        let gAlpha = (0..<P).map { gMinus[$0] + alpha[0] * deltas[0][$0] + alpha[1] * deltas[1][$0] }
        let td = thetaDot(gAlpha)
        var worst = 0.0, convexGap = 0.0
        for p in 0..<P {
            let variance = alpha[0] * (1 - alpha[0]) * deltas[0][p] * deltas[0][p] + alpha[1] * (1 - alpha[1]) * deltas[1][p] * deltas[1][p]
            let vdot = (gAlpha[p] * gAlpha[p] + variance - v[p]) / tau
            // One side at a time: (1 − Σα) g⁻² + Σ α_k (g⁻ + Δ_k)².
            var convex = (1 - alpha[0] - alpha[1]) * gMinus[p] * gMinus[p]
            for k in 0..<2 { convex += alpha[k] * (gMinus[p] + deltas[k][p]) * (gMinus[p] + deltas[k][p]) }
            convexGap = max(convexGap, abs((convex - v[p]) / tau - vdot))
            worst = max(worst, abs(f[p] - td[p]) / max(abs(td[p]), 1e-300 + 1e-3), abs(f[P + 1 + p] - vdot) / max(abs(vdot), 1e-3))
        }
        let dissipation = -(0..<P).reduce(0.0) { $0 + gAlpha[$1] * td[$1] }
        XCTAssertLessThan(worst, 1e-12, "θ', v' against the independent formulas")
        XCTAssertEqual(f[P], dissipation, accuracy: 1e-12 * abs(dissipation))
        XCTAssertGreaterThan(convexGap, 1e-4, "the product measure differs from the convex combination here")
        // ż of both surfaces vanishes along the field's θ'.
        for k in 0..<2 { XCTAssertEqual(zdot(k, Array(f[0..<P])), 0, accuracy: 1e-12 * norm) }
    }

    /// The most pairs sliding at once along a run (from its events: each carries the pair's new state).
    static func mostSliding(_ solution: FlowSolution) -> Int {
        var sliding = Set<[Int]>(), most = 0
        for e in solution.events {
            if e.state == .sliding { sliding.insert([e.neuron, e.point]) } else { sliding.remove([e.neuron, e.point]) }
            most = max(most, sliding.count)
        }
        return most
    }

    /// The RMSProp flow on the examples that the one-surface rule stopped ("several attracting
    /// surfaces meet" at t = 2.2943 on sine, 0.0010239 on small-init, 0.018370 on
    /// transient-plateau) runs through to T with several pairs sliding at once (asserted: ≥ 2 at
    /// some time; measured at most 3, 7, 3), past the old stopping time, and the dissipation
    /// identity L(0) − L(T) = ∫ −g·θ' dt holds to 1e-10 of L(0) (the step control's rtol 1e-10
    /// bounds the quadrature's relative error; measured ≤ 8e-12; a D' or a velocity not tangent to
    /// the sliding surfaces, ż ≠ 0, breaks it at the size of the slides' jumps, ≥ 1e-6).
    /// T: sine 100 (its last event is at t ≈ 92; to its T = 1e4 it completes too, measured with the
    /// release build: 67 events, but 5.5e5 msbdf steps near the minimum, no stationary hold),
    /// small-init 2 (every event before t ≈ 1), transient-plateau its own T = 1e5.
    func testExamplesRunThroughSeveralSlides() throws {
        for (name, T, stopped) in [("sine", 100.0, 2.2943), ("small-init", 2.0, 0.0010239), ("transient-plateau", 1e5, 0.01837)] {
            var config = try Example.named(name).config
            config.flow.kind = "rmsprop"
            config.flow.T = T
            let problem = try config.resolve().problem
            let solution = solve(problem)
            XCTAssertEqual(solution.status, .completed, "\(name): \(solution.message ?? "")")
            XCTAssertEqual(solution.finalTime, T, "\(name)")
            let most = Self.mostSliding(solution)
            print("\(name): \(solution.events.count) events, at most \(most) pairs sliding at once, dissipation defect \(solution.diagnostics.dissipationDefect), \(solution.diagnostics.steps) steps")
            XCTAssertGreaterThanOrEqual(most, 2, "\(name): several surfaces slid at once")
            XCTAssertGreaterThan(solution.events.last?.t ?? 0, stopped, name)
            XCTAssertLessThan(solution.diagnostics.dissipationDefect, 1e-10, name)
        }
    }

    /// two-d (the one-surface rule stopped it at t = 2.8621) now runs past that time through
    /// several slides at once, and stops at t ≈ 3.1933, where neuron 8's knot line reaches the
    /// grid column x₀ = −0.5: five collinear data points at once, whose surfaces are linearly
    /// dependent (A singular; the gradient flow resolves such events with its zonotope
    /// minimum-norm rule, which the adaptive flows do not have). Asserted: past the old stop, and a
    /// failure (if any) is this field's diagnosis, not a silent wrong state (dissipation 1e-10).
    func testTwoDRunsPastTheOldStopUntilDependentSurfaces() throws {
        var config = try Example.named("two-d").config
        config.flow.kind = "rmsprop"
        config.flow.T = 30
        let solution = solve(try config.resolve().problem)
        print("two-d: \(solution.status) at t = \(solution.finalTime), \(solution.events.count) events: \(solution.message ?? "")")
        XCTAssertGreaterThan(solution.finalTime, 2.8622)
        XCTAssertGreaterThanOrEqual(Self.mostSliding(solution), 2)
        if solution.status == .failed {
            XCTAssertTrue(solution.message?.contains("no consistent set of sliding surfaces") ?? false, solution.message ?? "")
        }
        XCTAssertLessThan(solution.diagnostics.dissipationDefect, 1e-10)
    }

    /// One surface at a time keeps the one-surface code: θ(T), the step count and the RHS count of
    /// the RMSProp reference cases with slides (deep_flow_cases/rmsprop-deep: 2 slides in layers 1
    /// and 2; rmsprop-shallow: a slide on a duplicate point), bit for bit as before the several-
    /// surface rule (the values below are those the release binary of main at ada7b30 wrote into
    /// summary.json, Swift's shortest round-trip decimals; trajectory.csv, events.csv and
    /// patterns.csv were byte-identical too: `cmp`). Exact equality: any change of the one-surface
    /// path's arithmetic (even an operation reordered) changes the last bits of θ(T).
    /// The RHS counts include the evaluations spent on samples, which do not steer the flow: with
    /// samples from `SlopeHistory` (ninth session) they fell 9751 → 7498 and 10571 → 7937 while
    /// θ(T) and the steps stayed bit for bit.
    func testOneSurfaceRunsAreBitwiseUnchanged() throws {
        let golden: [(String, [Double], Int, Int)] = [
            // Re-recorded with the BDF segments' first step (StepperPolicy.stiffStartStep): the msbdf
            // step sequence changed (rmsprop-deep 2080 → 2071 steps, 7498 → 7383 RHS; rmsprop-shallow
            // 7937 → 7935 RHS), θ(T) by at most 3.8e-14 and 6.2e-15; the one-surface path is unchanged.
            ("rmsprop-deep", [-0.8668109697096092, 1.2581069422971312, 0.2949596937402372, -0.15527086090784503, 0.2596189605524449,
                              0.021737363652233693, -0.452, 1.11176997190789, -0.06738364957253973, 0.37917185900644973,
                              -0.9256311032327782, 0.2948723770528008, -0.37470932794542805, 0.5686428507599844,
                              -0.4131559406779919, -0.04381027605617259, 0.5702136259238799, 0.38064074508397744,
                              0.4432360034056253, -1.3985174270170893, 0.5138561751019184], 2071, 7383),
            // Re-recorded with the RMSProp flow's equilibrium hold (AdaptiveField.equilibriumRatio):
            // the one-surface path is unchanged, the run is held earlier, at t ≈ 15.41 (its state at a
            // minimum wandered at the step control's tolerance until the rounding test held it at t ≈ 19.97);
            // θ(T) moved by at most 5e-15 (was [-0.4375131919174366, -0.35247190367343073,
            // 0.06596509682516283, -0.003344909963698006, -1.4827260299999805, -1.1384958565305598], 2186, 11690).
            ("rmsprop-shallow", [-0.437513191917433, -0.35247190367343284, 0.06596509682516254, -0.0033449099636976712,
                                 -1.4827260299999798, -1.1384958565305678], 1840, 7935),
        ]
        for (name, theta, steps, rhs) in golden {
            let config = try RunConfig.load(path: AdaptiveFlowIntegrationTests.cases.appendingPathComponent("\(name).json").path)
            let solution = solve(try config.resolve().problem)
            XCTAssertEqual(solution.status, .completed, name)
            XCTAssertEqual(solution.finalTheta.map(\.bitPattern), theta.map(\.bitPattern), "\(name): θ(T) bit for bit")
            XCTAssertEqual(solution.diagnostics.steps, steps, name)
            XCTAssertEqual(solution.diagnostics.rhsEvaluations, rhs, name)
        }
    }

    /// Without hidden biases z_u(c x) = c z_u(x) for c > 0: a unit's surfaces on two points of one
    /// ray from 0 are one surface. Sliding on both (a [1, 3, 1] network with w_0 = 0, points 0.3 and
    /// 0.9): as two surfaces the 2 × 2 system would be singular (its rows are proportional); with
    /// `rayClass` (`positiveRayClasses`, which `solve` sets for deep networks without hidden
    /// biases), and through the deep base's own ties without it, they are one surface with one α,
    /// no failure, and ż = 0 on both along the field (to 1e-14 of the terms: an exact cancellation
    /// up to rounding).
    func testPointsOnOneRayAreOneSurface() throws {
        let data = try Dataset(x: [[0.3], [0.9], [-0.5], [0.6]], y: [0.2, -0.1, 0.4, 0.3])
        XCTAssertEqual(AdaptiveField<DeepModeField>.positiveRayClasses(data), [0, 0, 2, 0])
        let net = DeepNetwork(layers: [1, 3, 1], hiddenBias: false)
        let theta: [Double] = [0, 0.7, -0.4, 0.5, -0.8, 0.6]
        XCTAssertEqual(net.parameterCount, theta.count)
        for merged in [false, true] {
            let field = AdaptiveField(base: DeepModeField(network: net, data: data), law: RMSPropFlow())
            if merged { field.rayClass = AdaptiveField<DeepModeField>.positiveRayClasses(data) }
            let G = field.G
            var states = [PairState](repeating: .off, count: field.n * G)
            for g in 0..<G { states[1 * G + g] = data.x[data.pointsOfGroup[g][0]] > 0 ? .on : .off }
            states[0 * G + 0] = .sliding
            states[0 * G + 1] = .sliding
            field.setMode(states)
            // The deep base ties them too (DeepModeField's proportional ties through bias-free
            // layers), so the field sees one surface either way.
            XCTAssertEqual(field.surfaces.count, 1)
            var y = theta + [0] + [Double](repeating: 0.05, count: field.P)
            var f = [Double](repeating: 0, count: field.dimension)
            let e = y.withUnsafeMutableBufferPointer { yb in f.withUnsafeMutableBufferPointer { field.evaluation(at: yb.baseAddress!, into: $0.baseAddress!) } }
            XCTAssertNil(field.failure(at: 0))
            let a0 = try XCTUnwrap(e.slides[0]?.alpha), a1 = try XCTUnwrap(e.slides[1]?.alpha)
            XCTAssertEqual(a0, a1)
            XCTAssertTrue(a0.isFinite)
            // ż of unit 0 on x: ẇ_0 x (layer 1, no bias).
            for x in [0.3, 0.9] { XCTAssertEqual(f[0] * x, 0, accuracy: 1e-14 * abs(f[1]) + 1e-300) }
        }
    }
}
