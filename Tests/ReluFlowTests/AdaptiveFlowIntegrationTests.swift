import XCTest
@testable import ReluFlow

/// The adaptive flows of SPEC §7 integrated by the flow engine (`AdaptiveField` over `ModeField` and
/// `DeepModeField`): against the independent SciPy reference (Tests/Reference/deep_flow_reference.py,
/// its committed outputs deep_flow_cases/{rmsprop,adam}-{shallow,deep}.expected.json), the exact
/// Jacobian against differences of the field, the limits τ → 0 and ε → ∞, and the discrete methods
/// as η → 0.
final class AdaptiveFlowIntegrationTests: XCTestCase {
    static let cases = DeepFlowTests.cases

    func load(_ name: String, edit: (inout RunConfig) -> Void = { _ in }) throws -> (FlowProblem, DeepFlowTests.Expected) {
        var config = try RunConfig.load(path: Self.cases.appendingPathComponent("\(name).json").path)
        edit(&config)
        let problem = try config.resolve().problem
        let expected = try JSONDecoder().decode(DeepFlowTests.Expected.self,
                                                from: Data(contentsOf: Self.cases.appendingPathComponent("\(name).expected.json")))
        return (problem, expected)
    }

    /// A [d, n, 1] config with hidden biases as the shallow network (W, b, c): the same θ order.
    static func asShallow(_ config: inout RunConfig) {
        let weights = config.network.weights!, biases = config.network.biases!
        config.network = NetworkConfig(W: weights[0], b: biases[0], c: weights[1][0])
    }

    /// "kind layer.unit @point" of each event, as the reference writes them: a deep network's
    /// units count over its layers, a shallow network's neurons are layer 1's units.
    static func eventLabels(_ solution: FlowSolution) -> [String] {
        guard let deep = solution.problem.model as? DeepNetwork else {
            return solution.events.map { "\($0.kind.rawValue) 1.\($0.neuron) @\($0.point)" }
        }
        return solution.events.map { e in
            var l = 1
            while l + 1 < deep.depth && e.neuron >= deep.unitOffset(l + 1) { l += 1 }
            return "\(e.kind.rawValue) \(l).\(e.neuron - deep.unitOffset(l)) @\(e.point)"
        }
    }

    /// The same events in kind, unit, point and order, at times within 1e-8, θ(T) within 1e-8
    /// componentwise, and the dissipation identity L(0) − L(T) = ∫ −g·θ' dt to 1e-11 of L(0).
    /// Tolerance: both sides integrate at rtol 1e-12, atol 1e-14 and locate events on re-taken
    /// steps (measured |Δθ| ≤ 8e-13 on these cases, events within 1e-14); 1e-8 is the issue's
    /// figure, while a wrong decision (a slide taken as a crossing, v(0) taken in the wrong mode,
    /// v' as (g_α)² instead of the convex combination) moves θ by ≥ 1e-4 within T. The shallow
    /// cases run twice: through `DeepModeField` (the [1, 2, 1] config) and through `ModeField`.
    func testAgreesWithReference() throws {
        for name in ["rmsprop-shallow", "adam-shallow", "rmsprop-deep", "adam-deep"] {
            var variants: [(String, (inout RunConfig) -> Void)] = [(name, { _ in })]
            if name.hasSuffix("shallow") { variants.append(("\(name) as ModeField", Self.asShallow)) }
            for (label, edit) in variants {
                let (problem, expected) = try load(name, edit: edit)
                XCTAssertNotEqual(problem.options.kind, .gradient)
                let solution = solve(problem)
                XCTAssertEqual(solution.status, .completed, "\(label): \(solution.message ?? "")")
                // L = 2 or one hidden layer reported by the reference as layer 1 with unit = neuron,
                // except the deep cases, where units count over the layers.
                let ours = Self.eventLabels(solution)
                XCTAssertEqual(ours, expected.events.map { "\($0.kind) \($0.layer).\($0.unit) @\($0.point)" }, label)
                for (a, b) in zip(solution.events, expected.events) { XCTAssertEqual(a.t, b.t, accuracy: 1e-8, "\(label): event time") }
                for (a, b) in zip(solution.finalTheta, expected.theta) { XCTAssertEqual(a, b, accuracy: 1e-8, "\(label): θ(T)") }
                XCTAssertEqual(solution.diagnostics.finalLoss, expected.loss, accuracy: 1e-10 * max(expected.loss, 1e-3), label)
                XCTAssertLessThan(solution.diagnostics.dissipationDefect, 1e-11, label)
            }
        }
    }

    /// The stationary end of the adaptive flows (AdaptiveField.stationaryRatio): an escape-grid
    /// network ([1, 4, 4, 1], Xavier seed 2, no biases, sin(πx) on 16 points; deep_flow_cases/
    /// {adam,rmsprop}-stationary, to T = 150 and 40) reaches its minimum by t ≈ 5; integrating on
    /// costs the adaptive flows ~10⁵–10⁶ msbdf steps (measured for Adam: 1.2 M steps to t = 273
    /// before the hold) while θ only wanders at the step control's tolerance. Asserted: the run
    /// holds (stationaryTime set, before T/2), takes fewer than 20 000 steps, and θ(T) agrees with
    /// the reference, which integrates every step to T at the same tolerances (rtol 1e-11, atol
    /// 1e-13), within 1e-10, its m and v within 1e-6 of their largest entry plus atol: the hold may
    /// leave θ only within the tolerance (measured 1.1e-12 at T = 60 for Adam), while a hold that
    /// froze a moving state (momentum m̂ left, or a slow mode) would miss by the motion left, which
    /// at t ≈ 5 (where the loss first reaches its rounding level) is still ≥ 1e-9.
    func testAdaptiveFlowsHoldAtAStationaryEnd() throws {
        for name in ["adam-stationary", "rmsprop-stationary"] {
            let (problem, expected) = try load(name)
            let solution = solve(problem)
            XCTAssertEqual(solution.status, .completed, "\(name): \(solution.message ?? "")")
            let held = try XCTUnwrap(solution.diagnostics.stationaryTime, "\(name): no hold")
            XCTAssertLessThan(held, problem.options.T / 2, name)
            XCTAssertLessThan(solution.diagnostics.steps, 20_000, name)
            XCTAssertTrue(solution.message?.contains("step control's tolerance") ?? false, name)
            let gap = distance(solution.finalTheta, expected.theta)
            print("\(name): held from t = \(held), \(solution.diagnostics.steps) steps, max|θ(T) − θ_ref(T)| = \(gap)")
            XCTAssertLessThan(gap, 1e-10, name)
            XCTAssertEqual(solution.diagnostics.finalLoss, expected.loss, accuracy: 1e-13, name)
            // The held state's auxiliary entries follow their equations at the held θ (m → g,
            // v → g² at rates a, b or 1/τ; `heldAuxiliary`), as the reference's integrated ones.
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.cases.appendingPathComponent("\(name).expected.json"))) as! [String: Any]
            let reference = ((json["m"] as? [Double]) ?? []) + (json["v"] as! [Double])
            let ours = try XCTUnwrap(solution.last?.auxiliary)
            XCTAssertEqual(ours.count, reference.count, name)
            let scale = reference.map(abs).max()!
            let auxGap = distance(ours, reference)
            print("\(name): max|a(T) − a_ref(T)| = \(auxGap) (max |a_ref| \(scale))")
            XCTAssertLessThan(auxGap, 1e-6 * scale + problem.options.atol, name)
        }
    }

    /// Several attracting surfaces (rmsprop-several-attracting, the reference's several-attracting
    /// network under the RMSProp flow with τ = 0.1, which the one-surface rule stopped at
    /// t ≈ 0.29312: (layer 2, unit 1, point 0) attracting while (layer 2, unit 1, point 2) slides):
    /// the several-surface rule (AdaptiveField) takes both into the joint system, which sends
    /// (2, 1, 2) off its surface (α outside [0, 1]) while (2, 1, 0) slides on. Against the reference
    /// run with `--multi-slide` (deep_flow_cases/rmsprop-multi-slide, T = 0.4): the same events in
    /// order at times within 1e-8 and θ(T) within 1e-8, as `testAgreesWithReference` (measured
    /// 1.3e-12 and 2.6e-13), and the dissipation identity to 1e-11 of L(0). (To T = 1 both go on to
    /// a slide exit at t ≈ 0.59 and 0.60, a near-stationary exit whose time is ill-conditioned,
    /// SPEC §4, while θ(1) agrees within 2.6e-13.)
    ///
    /// rmsprop-sine-multi: the sine example as [1, 10, 1] to T = 25 (reference with --multi-slide),
    /// which the one-surface rule stopped at t ≈ 2.2943: up to three pairs of different neurons
    /// slide at once; run through `DeepModeField` and through `ModeField`, same tolerances.
    ///
    /// rmsprop-coupled: [1, 3, 3, 3, 1] to T = 0.3, where (layer 3, unit 1) slides on points 0, 4, 5
    /// (one surface) and (layer 2, unit 2) joins it on point 0: coupled slides (the gradient
    /// multilinear in their α's; the reference solves them by its own Newton iteration and sums
    /// E[g²] over the 2^K corners; before, this field stopped at t ≈ 0.0807 with a diagnosis).
    /// Same tolerances (measured: θ(T) within 6.8e-10, events within 5.6e-12), less the burst at the
    /// tangential join explained below.
    func testSeveralSurfacesAgreeWithReference() throws {
        for name in ["rmsprop-multi-slide", "rmsprop-sine-multi", "rmsprop-coupled"] {
            var variants: [(String, (inout RunConfig) -> Void)] = [(name, { _ in })]
            if name.hasSuffix("sine-multi") { variants.append(("\(name) as ModeField", Self.asShallow)) }
            for (label, edit) in variants {
                let (problem, expected) = try load(name, edit: edit)
                XCTAssertEqual(expected.status, "completed")
                let solution = solve(problem)
                XCTAssertEqual(solution.status, .completed, "\(label): \(solution.message ?? "")")
                var ours = Self.eventLabels(solution)
                var events = solution.events
                if name == "rmsprop-coupled" {
                    // (2, 2, 0) joins nearly tangentially (its α ≈ 1e-6 right after, v⁻ ≈ 0), and the
                    // decision at that instant is made at rounding: here (3, 1, 0) leaves and rejoins
                    // its tie within 4e-9 of the join (4 extra events), the reference keeps it. Those
                    // are dropped before comparing; everything else as the other cases.
                    let join = try XCTUnwrap(expected.events.first { $0.kind == "slide" && $0.layer == 2 }).t
                    let burst = events.indices.filter { abs(events[$0].t - join) <= 1e-8 && ours[$0].hasSuffix("3.1 @0") && !ours[$0].hasPrefix("on") }
                    XCTAssertLessThanOrEqual(burst.count, 4, label)
                    for i in burst.reversed() { ours.remove(at: i); events.remove(at: i) }
                }
                XCTAssertEqual(ours, expected.events.map { "\($0.kind) \($0.layer).\($0.unit) @\($0.point)" }, label)
                // Slide exits to 1e-5: the exit of (1, 7) at t ≈ 21.497, with two other surfaces
                // sliding, is met nearly tangentially (v⁺ → 0 with a small slope) and its time is
                // ill-conditioned (SPEC §4): measured 2.2e-6 through DeepModeField, 1.9e-10 through
                // ModeField, while θ(T) agrees to 1e-12. Every other event to 1e-8 (measured ≤ 2e-10).
                var worstTime = 0.0
                for (a, b) in zip(events, expected.events) {
                    worstTime = max(worstTime, abs(a.t - b.t))
                    XCTAssertEqual(a.t, b.t, accuracy: a.kind == .slideEnd ? 1e-5 : 1e-8, "\(label): event time")
                }
                let gap = distance(solution.finalTheta, expected.theta)
                print("\(label): \(solution.events.count) events, max|Δt| = \(worstTime), max|θ(T) − θ_ref(T)| = \(gap), at most \(SeveralSurfaceTests.mostSliding(solution)) sliding at once")
                XCTAssertLessThan(gap, 1e-8, label)
                XCTAssertLessThan(solution.diagnostics.dissipationDefect, 1e-11, label)
            }
        }
    }

    /// Coupled slides (a deep base with sliding pairs of one data point in different layers: the
    /// gradient is multilinear in their α's; before, the field stopped with a diagnosis here): the
    /// RMSProp field's velocity against Filippov's mean computed independently, by brute force over
    /// the 2^K corners (every sliding surface fully on or off, each corner a plain mode of a second
    /// `DeepModeField`, weighted Π α_k or 1 − α_k), at the α's the field solved for:
    /// θ' = −E[g]/(√v + ε), v' = (E[g²] − v)/τ, D' = −E[g]·θ', and every sliding surface's ż along θ'
    /// at zero. Modes: two coupled surfaces on [1, 3, 3, 1] (rmsprop-deep at θ(0)), and three
    /// (layers 1, 2, 3) on [1, 2, 2, 2, 1] (relu-depth4 under the RMSProp flow), where a mixed
    /// derivative of order 3 enters E[g²]. Tolerance 1e-12 relative to the largest entry of each
    /// block: both sides sum the same gradients in another order (measured ≤ 2e-15); leaving out a
    /// mixed term of E[g²] (the affine rule's g(α)² + Σ α_k(1 − α_k)Δ_k²) changes v' by ≥ 1e-3 of it
    /// on these modes, and ż = 0 to 1e-10 of |∇z|₁ max|θ'| (Newton stops at the rounding level).
    /// The α's here lie outside [0, 1] (θ is put on the surfaces, not where they attract): E[g²]
    /// is then the same polynomial, the corners' signed mean.
    func testCoupledSlidesAgreeWithCornerMean() throws {
        struct Mode { let name: String; let pairs: [(layer: Int, unit: Int)] }
        for (name, layers) in [("rmsprop-deep", [(1, 0), (2, 0)]), ("relu-depth4", [(1, 0), (2, 1), (3, 0)])] {
            var (problem, _) = try load(name)
            problem.options.kind = .rmsprop(RMSPropFlow(tau: 2, epsilon: 1e-8))
            let deep = try XCTUnwrap(problem.model as? DeepNetwork)
            let law = try XCTUnwrap(problem.options.kind.law as? RMSPropFlow)
            let field = AdaptiveField(base: DeepModeField(network: deep, data: problem.data), law: law)
            let G = field.G, P = field.P
            let start = field.base.initialStates(problem.theta0).states
            var states = start
            let sliding = layers.map { (deep.unitOffset($0.0) + $0.1) * G + 0 }   // on point 0
            for k in sliding { states[k] = .sliding }
            field.setMode(states)
            // θ on the sliding surfaces (z = 0 there: the corner modes' forward passes agree), by
            // the deep field's Gauss–Newton projection onto every sliding surface.
            var theta = problem.theta0 + [0]
            let projector = DeepModeField(network: deep, data: problem.data)
            projector.setMode(states)
            theta.withUnsafeMutableBufferPointer { projector.project(sliding[0] / G, onto: [0], state: $0.baseAddress!) }
            theta.removeLast()
            for k in sliding {
                let z = theta.withUnsafeBufferPointer { projector.preactivation($0.baseAddress!, k / G, k % G) }
                XCTAssertLessThanOrEqual(abs(z), 1e-14, "\(name): on the surface of pair \(k)")
            }
            // v: g(θ)² of the start mode, scaled per entry so that θ' is not a multiple of g.
            let gStart = try gradient(deep, problem, start, at: theta)
            let v = gStart.enumerated().map { $1 * $1 * (1 + 0.5 * Double($0 % 3)) + 1e-6 }
            var y = theta + [0] + v
            var f = [Double](repeating: 0, count: field.dimension)
            let e = y.withUnsafeMutableBufferPointer { yb in f.withUnsafeMutableBufferPointer { field.evaluation(at: yb.baseAddress!, into: $0.baseAddress!) } }
            XCTAssertNil(field.failure(at: 0), name)
            let alphas = sliding.map { e.slides[$0]?.alpha ?? .nan }
            XCTAssertTrue(alphas.allSatisfy(\.isFinite), "\(name): α \(alphas)")
            // Corners.
            var mean = [Double](repeating: 0, count: P), square = mean
            for code in 0..<(1 << sliding.count) {
                var corner = start, w = 1.0
                for (bit, k) in sliding.enumerated() {
                    let on = code >> bit & 1 == 1
                    corner[k] = on ? .on : .off
                    w *= on ? alphas[bit] : 1 - alphas[bit]
                }
                let g = try gradient(deep, problem, corner, at: theta)
                for p in 0..<P { mean[p] += w * g[p]; square[p] += w * g[p] * g[p] }
            }
            let thetaDot = (0..<P).map { -mean[$0] / (v[$0].squareRoot() + law.epsilon) }
            let vDot = (0..<P).map { (square[$0] - v[$0]) / law.tau }
            let affine = (0..<P).map { p -> Double in   // g(α)² + Σ α(1 − α)Δ²: no mixed terms
                var s = mean[p] * mean[p]
                for (bit, k) in sliding.enumerated() {
                    var lo = start, hi = start
                    for q in sliding { lo[q] = .off; hi[q] = .off }
                    hi[k] = .on
                    let d = (try? gradient(deep, problem, hi, at: theta)[p] - gradient(deep, problem, lo, at: theta)[p]) ?? .nan
                    s += alphas[bit] * (1 - alphas[bit]) * d * d
                }
                return s
            }
            let scaleTheta = thetaDot.map(abs).max()!, scaleV = vDot.map(abs).max()!
            var gapTheta = 0.0, gapV = 0.0, affineGap = 0.0
            for p in 0..<P {
                gapTheta = max(gapTheta, abs(f[p] - thetaDot[p]))
                gapV = max(gapV, abs(f[P + 1 + p] - vDot[p]))
                affineGap = max(affineGap, abs(affine[p] - square[p]) / law.tau)
            }
            let dissipation = -zip(mean, thetaDot).reduce(0) { $0 + $1.0 * $1.1 }
            print("\(name): α = \(alphas), |Δθ'| = \(gapTheta / scaleTheta), |Δv'| = \(gapV / scaleV) (relative), affine rule off by \(affineGap / scaleV)")
            XCTAssertLessThan(gapTheta, 1e-12 * scaleTheta, name)
            XCTAssertLessThan(gapV, 1e-12 * scaleV, name)
            XCTAssertEqual(f[P], dissipation, accuracy: 1e-12 * abs(dissipation), name)
            XCTAssertGreaterThan(affineGap, 1e-3 * scaleV, "\(name): the mode must exercise the mixed terms")
            // ż = 0 on every sliding surface along θ'.
            let base = DeepModeField(network: deep, data: problem.data)
            base.setMode(states.map { $0 == .sliding ? .off : $0 })
            for k in sliding {
                let rate = y.withUnsafeBufferPointer { yb in f.withUnsafeBufferPointer { base.preactivationRate(yb.baseAddress!, $0.baseAddress!, k / G, k % G) } }
                var gz = [Double](repeating: 0, count: P)
                y.withUnsafeBufferPointer { yb in gz.withUnsafeMutableBufferPointer { base.zGradient(yb.baseAddress!, pair: k, into: $0.baseAddress!) } }
                let scale = gz.reduce(0) { $0 + abs($1) } * scaleTheta
                XCTAssertLessThanOrEqual(abs(rate), 1e-10 * scale, "\(name): ż of pair \(k)")
            }
        }
    }

    /// The mixed derivatives ∂_S g of coupled slides by one backward pass each
    /// (`DeepModeField.gradientDerivative`, the indicator of S's member pairs in S's layers)
    /// against their definition, the mixed difference over the 2^|S| corners of
    /// `gradient(holding:at:)`, on relu-depth4 ([1, 2, 2, 2, 1]) with three surfaces sliding on
    /// point 0 in layers 1, 2 and 3: every non-empty set S, at α's inside and outside the box.
    /// Tolerance 1e-13 of the largest corner gradient entry: both are sums of the same path
    /// products, the difference with its cancellation (measured 1.2e-16 relative). Then the cost
    /// of one coupled RMSProp evaluation (a fresh field: Newton from the box's centre) in
    /// back-propagations: the variance takes one pass per surface and per interaction (3 + 4
    /// here, against 2·3 + 20 by the corners) and each Newton step's Jacobian one per surface
    /// (against 2·3 rates): measured 48 (the corners' rule makes at least 19 more in the variance
    /// alone, by the same count).
    func testCoupledDerivativesTakeOnePassEach() throws {
        var (problem, _) = try load("relu-depth4")
        problem.options.kind = .rmsprop(RMSPropFlow(tau: 2, epsilon: 1e-8))
        let deep = try XCTUnwrap(problem.model as? DeepNetwork)
        let G = problem.data.groupCount
        let base = DeepModeField(network: deep, data: problem.data)
        var states = base.initialStates(problem.theta0).states
        let sliding = [(1, 0), (2, 1), (3, 0)].map { (deep.unitOffset($0.0) + $0.1) * G + 0 }
        for k in sliding { states[k] = .sliding }
        let held = sliding.map { [$0] }
        base.setMode(states.map { $0 == .sliding ? .off : $0 })
        let y = problem.theta0 + [0]
        let P = base.P
        for a in [[0.3, 0.6, 0.45], [-0.2, 1.3, 0.7]] {
            var worst = 0.0, scale = 0.0
            for code in 1..<(1 << 3) {
                let set = (0..<3).filter { code >> $0 & 1 == 1 }
                var direct = [Double](repeating: 0, count: P), mixed = direct, corner = direct
                y.withUnsafeBufferPointer { yb in
                    direct.withUnsafeMutableBufferPointer { base.gradientDerivative(yb.baseAddress!, holding: held, at: a, along: set, into: $0.baseAddress!) }
                    for c in 0..<(1 << set.count) {
                        var point = a, ones = 0
                        for (bit, k) in set.enumerated() {
                            let on = c >> bit & 1 == 1
                            point[k] = on ? 1 : 0
                            if on { ones += 1 }
                        }
                        corner.withUnsafeMutableBufferPointer { base.gradient(yb.baseAddress!, holding: held, at: point, into: $0.baseAddress!) }
                        let sign: Double = (set.count - ones) % 2 == 0 ? 1 : -1
                        for p in 0..<P { mixed[p] += sign * corner[p]; scale = max(scale, abs(corner[p])) }
                    }
                }
                XCTAssertTrue(mixed.contains { $0 != 0 }, "set \(set): a non-zero mixed derivative")
                for p in 0..<P { worst = max(worst, abs(direct[p] - mixed[p])) }
            }
            print("∂_S g at α = \(a): max|one pass − mixed difference| = \(worst / scale) of max|g|")
            XCTAssertLessThanOrEqual(worst, 1e-13 * scale, "α = \(a)")
        }
        // The cost of one coupled evaluation (v such that θ' is not a multiple of g).
        let field = AdaptiveField(base: DeepModeField(network: deep, data: problem.data), law: RMSPropFlow(tau: 2, epsilon: 1e-8))
        field.setMode(states)
        var state = y + (0..<P).map { 0.01 + 0.001 * Double($0 % 5) }
        var f = [Double](repeating: 0, count: field.dimension)
        let before = field.base.backwardPasses
        state.withUnsafeMutableBufferPointer { yb in f.withUnsafeMutableBufferPointer { _ = field.evaluate(yb.baseAddress!, $0.baseAddress!) } }
        let passes = field.base.backwardPasses - before
        print("coupled evaluation (3 surfaces, 4 interactions): \(passes) back-propagations")
        XCTAssertTrue(f.allSatisfy(\.isFinite))
        XCTAssertLessThanOrEqual(passes, 48)
    }

    /// ∇L of a plain mode at θ (a fresh `DeepModeField`: −f).
    func gradient(_ deep: DeepNetwork, _ problem: FlowProblem, _ states: [PairState], at theta: [Double]) throws -> [Double] {
        let field = DeepModeField(network: deep, data: problem.data)
        field.setMode(states)
        var y = theta + [0], f = [Double](repeating: 0, count: theta.count + 1)
        y.withUnsafeMutableBufferPointer { yb in f.withUnsafeMutableBufferPointer { _ = field.evaluate(yb.baseAddress!, $0.baseAddress!) } }
        return f.prefix(theta.count).map { -$0 }
    }

    /// `reluflow simulate` on an adaptive config: exit 0, m and v exported beside θ in
    /// trajectory.csv (`m:NAME`, `v:NAME` after `dissipated`), the last row's m, v equal to the
    /// reference's final m, v (1e-8 as θ), escapeTime in summary.json; --resume continues the
    /// run; out-of-range constants exit 2 naming the field (issue 18 item 6).
    func testCommandLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Self.cases.appendingPathComponent("adam-deep.json").path
        let run = try runReluflow(["simulate", "--config", source, "--out", "r", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.cases.appendingPathComponent("adam-deep.expected.json"))) as! [String: Any]
        let csv = try String(contentsOf: dir.appendingPathComponent("r/trajectory.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        let header = lines[0].split(separator: ",").map(String.init)
        let last = lines.last!.split(separator: ",").map { Double($0)! }
        let P = (expected["theta"] as! [Double]).count
        XCTAssertEqual(header.count, 4 + P + 1 + 2 * P)
        XCTAssertEqual(header[4 + P], "dissipated")
        XCTAssertEqual(header[5 + P], "m:W1[0][0]")
        XCTAssertEqual(header[5 + 2 * P], "v:W1[0][0]")
        let m = expected["m"] as! [Double], v = expected["v"] as! [Double]
        for k in 0..<P {
            XCTAssertEqual(last[5 + P + k], m[k], accuracy: 1e-8, "m[\(k)]")
            XCTAssertEqual(last[5 + 2 * P + k], v[k], accuracy: 1e-8, "v[\(k)]")
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("r/summary.json"))) as! [String: Any]
        XCTAssertNotNil(summary["escapeTime"] as? Double)
        XCTAssertEqual(summary["finalLoss"] as! Double, expected["loss"] as! Double, accuracy: 1e-10)
        // --resume: the run to T = 10 continued to 20 from its checkpoint (θ, D, m, v; s = t) equals
        // the uninterrupted run: the same events, θ(20) within 1e-9 (the restart at t = 10 changes
        // the step sequence: differences at the step control's 1e-12 level at most; measured 2.8e-16).
        let half = try runReluflow(["simulate", "--config", source, "--T", "10", "--out", "h", "--quiet"], in: dir)
        XCTAssertEqual(half.status, 0, half.stderr)
        let resumed = try runReluflow(["simulate", "--resume", "h", "--T", "20", "--out", "h20", "--quiet"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let summary20 = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("h20/summary.json"))) as! [String: Any]
        let theta20 = summary20["theta"] as! [Double], thetaFull = summary["theta"] as! [Double]
        let gap = zip(theta20, thetaFull).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
        print("adam-deep resumed at t = 10 against uninterrupted: max|Δθ(20)| =", gap)
        XCTAssertLessThan(gap, 1e-9)
        XCTAssertEqual(summary20["events"] as? Int, summary["events"] as? Int)
        let events20 = try String(contentsOf: dir.appendingPathComponent("h20/events.csv"), encoding: .utf8)
        let eventsFull = try String(contentsOf: dir.appendingPathComponent("r/events.csv"), encoding: .utf8)
        func rows(_ text: String) -> [String] {
            text.split(separator: "\n").map { line in
                let f = line.split(separator: ",", omittingEmptySubsequences: false)
                return [f[1], f[2], f[3], f[5]].joined(separator: ",")   // neuron, point, kind, state
            }
        }
        XCTAssertEqual(rows(events20), rows(eventsFull), "the same events")

        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source))) as! [String: Any]
        let flows: [([String: Any], String)] = [
            (["kind": "rmsprop", "tau": 0], "flow.tau"), (["kind": "rmsprop", "epsilon": 0], "flow.epsilon"),
            (["kind": "adam", "a": -1], "flow.a"), (["kind": "adam", "b": 0], "flow.b"), (["kind": "momentum"], "flow.kind"),
            (["kind": "adam", "tau": 1], "flow.tau"),
        ]
        for (flow, field) in flows {
            object["flow"] = flow.merging(["T": 1]) { a, _ in a }
            let bad = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            let path = dir.appendingPathComponent("bad.json").path
            try bad.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try runReluflow(["simulate", "--config", path, "--out", "b", "--quiet"], in: dir)
            XCTAssertEqual(result.status, 2, "\(field): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(field), "\(field): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("b").path))
        }
    }

    /// The Adam flow never slides (θ' does not depend on g for t > 0, so v⁺ = v⁻): where the
    /// RMSProp flow of the same problem slides (rmsprop-shallow: `slide` at t ≈ 0.0098), Adam crosses.
    func testAdamCrossesWhereRMSPropSlides() throws {
        let (rms, _) = try load("rmsprop-shallow")
        XCTAssertTrue(solve(rms).events.contains { $0.kind == .slide })
        let (adam, _) = try load("adam-shallow")
        XCTAssertFalse(solve(adam).events.contains { $0.kind == .slide || $0.kind == .slideEnd })
    }

    /// The exact Jacobian (the law's partials with exact Hessians) against central differences of
    /// the field, at a state inside a mode (no pair near its surface), for RMSProp and Adam on the
    /// deep case (DeepModeField) and the shallow one (ModeField). Tolerance 1e-6 of the largest
    /// entry: central differences with h = 1e-6 |y_q| have truncation error ~h² f''' ≈ 1e-12 and
    /// rounding ~ε|f|/h ≈ 1e-10 relative.
    func testJacobianAgainstDifferences() throws {
        for (name, shallow) in [("rmsprop-deep", false), ("adam-deep", false), ("rmsprop-shallow", true), ("adam-shallow", true)] {
            let (problem, _) = try load(name, edit: shallow ? Self.asShallow : { _ in })
            let law = problem.options.kind.law!
            func check<Base: SwitchedSystem>(_ field: AdaptiveField<Base>) {
                let dim = field.dimension, P = field.P
                var y = [Double](repeating: 0, count: dim)
                for p in 0..<P { y[p] = problem.theta0[p] }
                y.withUnsafeMutableBufferPointer { b in
                    let (states, _) = field.initialStates(b.baseAddress!)
                    field.setMode(states)
                }
                // Auxiliary state away from its singular points: v > 0, m ≠ 0, s > 0.
                for q in (P + 1)..<dim { y[q] = 0.05 + 0.01 * Double(q % 7) }
                if law is AdamFlow { y[dim - 1] = 0.3; for q in 0..<P { y[P + 1 + q] *= q % 2 == 0 ? 1 : -1 } }
                var J = [Double](repeating: 0, count: dim * dim), f = [Double](repeating: 0, count: dim)
                field.jacobian(y, &J, &f)
                var worst = 0.0, scale = 0.0
                for q in 0..<dim {
                    let h = 1e-6 * max(abs(y[q]), 1e-2)
                    var yp = y, ym = y
                    yp[q] += h
                    ym[q] -= h
                    var fp = [Double](repeating: 0, count: dim), fm = fp
                    field.evaluate(yp, &fp)
                    field.evaluate(ym, &fm)
                    for r in 0..<dim {
                        let difference = (fp[r] - fm[r]) / (2 * h)
                        worst = max(worst, abs(difference - J[r * dim + q]))
                        scale = max(scale, abs(J[r * dim + q]))
                    }
                }
                XCTAssertLessThan(worst, 1e-6 * scale, "\(name): |J − ΔF/Δy| = \(worst), max |J| = \(scale)")
                XCTAssertGreaterThan(scale, 0)
            }
            if let deep = problem.model as? DeepNetwork {
                check(AdaptiveField(base: DeepModeField(network: deep, data: problem.data), law: law))
            } else {
                check(AdaptiveField(base: ModeField(network: problem.network, data: problem.data), law: law))
            }
        }
    }

    /// The normalised (sign-like) flow θ' = −g/(|g| + ε), the RMSProp flow's τ → 0 limit: an
    /// `AdaptiveLaw` with no auxiliary state (test only).
    struct NormalisedFlow: AdaptiveLaw {
        var epsilon: Double
        var name: String { "normalised" }
        func auxiliaryCount(parameters P: Int) -> Int { 0 }
        func initialAuxiliary(gradient g: [Double]) -> [Double] { [] }
        func velocity(P: Int, gradient g: UnsafePointer<Double>, auxiliary a: UnsafePointer<Double>,
                      thetaDot: UnsafeMutablePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>) {
            for k in 0..<P { thetaDot[k] = -g[k] / (abs(g[k]) + epsilon) }
        }
        func addJacobian(P: Int, gradient g: UnsafePointer<Double>, auxiliary a: UnsafePointer<Double>,
                         hessian: UnsafePointer<Double>, weight: Double,
                         into J: UnsafeMutablePointer<Double>, dim: Int, auxOffset: Int) {
            for k in 0..<P {
                let den = abs(g[k]) + epsilon
                for j in 0..<P { J[k * dim + j] += weight * (-epsilon / (den * den)) * hessian[k * P + j] }
            }
        }
        func auxiliaryNames(parameterNames: [String]) -> [String] { [] }
        func restoredAuxiliary(exported: [Double], t: Double) -> [Double] { [] }
        /// No auxiliary state: nothing depends on g².
        func addGradientVariance(P: Int, variance s2: UnsafePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>) {}
    }

    /// θ(T) of the flow `law` (nil: the gradient flow) on the rmsprop-shallow problem (deep field).
    func finalTheta(_ law: (any AdaptiveLaw)?, T: Double) throws -> FlowSolution {
        var (problem, _) = try load("rmsprop-shallow")
        problem.options.T = T
        problem.options.rtol = 1e-12
        problem.options.atol = 1e-15
        problem.options.kind = .gradient
        return solve(problem, law: law)
    }

    func distance(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// τ → 0: the RMSProp flow approaches the normalised flow. v lags g² by ≈ τ d(g²)/dt, so θ'
    /// differs by O(τ) and θ(T) by O(τ T): each tenfold decrease of τ divides the distance by ≈ 10
    /// (asserted within [5, 20]). T = 0.005 is before the first event (t ≈ 0.0098) of either flow.
    func testRMSPropSmallTauApproachesNormalisedFlow() throws {
        let T = 0.005
        let limit = try finalTheta(NormalisedFlow(epsilon: 1e-8), T: T)
        XCTAssertEqual(limit.status, .completed)
        var distances: [Double] = []
        for tau in [1e-4, 1e-5, 1e-6] {
            let run = try finalTheta(RMSPropFlow(tau: tau, epsilon: 1e-8), T: T)
            XCTAssertEqual(run.status, .completed)
            XCTAssertEqual(run.events.count, limit.events.count)
            distances.append(distance(run.finalTheta, limit.finalTheta))
        }
        print("RMSProp τ → 0: max|θ_τ(T) − θ_sign(T)| at τ = 1e-4, 1e-5, 1e-6:", distances)
        for k in 1..<distances.count {
            let ratio = distances[k - 1] / distances[k]
            XCTAssertTrue(ratio > 5 && ratio < 20, "ratio \(ratio) (distances \(distances))")
        }
    }

    /// ε → ∞: θ' = −g/(√v + ε) = −(g/ε)(1 + O(√v/ε)), so θ_ε(ε s) = θ_GF(s) + O(s |g|²/ε): each
    /// tenfold ε divides the distance at rescaled time s by ≈ 10 (asserted within [5, 20]).
    /// s = 0.005 is before the gradient flow's first event.
    func testRMSPropLargeEpsilonIsRescaledGradientFlow() throws {
        let s = 0.005
        let gradient = try finalTheta(nil, T: s)
        XCTAssertEqual(gradient.status, .completed)
        var distances: [Double] = []
        for epsilon in [1e1, 1e2, 1e3] {
            let run = try finalTheta(RMSPropFlow(tau: 10, epsilon: epsilon), T: epsilon * s)
            XCTAssertEqual(run.status, .completed)
            XCTAssertEqual(run.events.count, gradient.events.count)
            distances.append(distance(run.finalTheta, gradient.finalTheta))
        }
        print("RMSProp ε → ∞: max|θ_ε(εs) − θ_GF(s)| at ε = 10, 100, 1000:", distances)
        for k in 1..<distances.count {
            let ratio = distances[k - 1] / distances[k]
            XCTAssertTrue(ratio > 5 && ratio < 20, "ratio \(ratio) (distances \(distances))")
        }
    }

    /// Discrete Adam and RMSProp (`train`, SPEC §7) with η → 0 and the horizons kept (β₁ = 1 − aη,
    /// β₂ = 1 − bη; α = 1 − η/τ) approach their flows at first order: θ_K at K = T/η against the
    /// flow's θ(T), halving η halves the distance (ratio asserted within [1.6, 2.5]). RMSProp
    /// starts from v_0 = g_0² (`rmspropSquaredGradientStart`), the flow's v(0): SPEC's v_0 = 0 gives
    /// steps ≈ √(ητ) at first and the iterates follow the flow from v(0) = 0 instead (measured
    /// below, and reported as a SPEC point). T = 0.005, before the flows' first events.
    func testDiscreteMethodsApproachTheirFlowsAtFirstOrder() throws {
        let T = 0.005
        for method in [TrainingMethod.adam, .rmsprop] {
            let flowKind: FlowKind = method == .adam ? .adam(AdamFlow()) : .rmsprop(RMSPropFlow(tau: 1, epsilon: 1e-8))
            var (problem, _) = try load("rmsprop-shallow")
            problem.options.T = T
            problem.options.rtol = 1e-12
            problem.options.atol = 1e-15
            problem.options.kind = flowKind
            let reference = solve(problem)
            XCTAssertEqual(reference.status, .completed)
            var distances: [Double] = []
            var zeroStart: [Double] = []
            for eta in [2e-5, 1e-5, 5e-6] {
                var options = TrainingOptions()
                options.method = method
                options.lr = eta
                options.iterations = Int((T / eta).rounded())
                switch flowKind {
                case .adam(let law):
                    options.beta1 = 1 - law.a * eta
                    options.beta2 = 1 - law.b * eta
                    options.epsilon = law.epsilon
                case .rmsprop(let law):
                    options.alpha = 1 - eta / law.tau
                    options.epsilon = law.epsilon
                    options.rmspropSquaredGradientStart = true
                case .gradient:
                    break
                }
                distances.append(distance(train(problem, options: options).finalTheta, reference.finalTheta))
                if method == .rmsprop {
                    options.rmspropSquaredGradientStart = false
                    zeroStart.append(distance(train(problem, options: options).finalTheta, reference.finalTheta))
                }
            }
            print("\(method): max|θ_K − θ(T)| at η = 2e-5, 1e-5, 5e-6:", distances, method == .rmsprop ? "(v_0 = 0: \(zeroStart))" : "")
            for k in 1..<distances.count {
                let ratio = distances[k - 1] / distances[k]
                XCTAssertTrue(ratio > 1.6 && ratio < 2.5, "\(method): ratio \(ratio) (distances \(distances))")
            }
        }
    }
}
