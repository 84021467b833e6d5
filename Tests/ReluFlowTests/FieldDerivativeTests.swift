import XCTest
@testable import ReluFlow

/// The mode-locked field against finite differences away from the surfaces (SPEC §3).
final class FieldDerivativeTests: XCTestCase {
    func makeField(d: Int, outputBias: Bool) throws -> (ModeField, [Double], FlowProblem) {
        var config = RunConfig(
            data: DataConfig(target: TargetConfig(function: d == 1 ? "sin(3*x)" : "x0*x1 + cos(x0)", m: d == 1 ? 9 : (d == 2 ? 16 : 27),
                                                  range: [-1, 1], dim: d, points: d >= 3 ? "random" : "uniform", seed: 5)),
            network: NetworkConfig(width: 5, outputBias: outputBias, initialization: InitSpec(scheme: .he, seed: 3, biasScale: 0.3)))
        if outputBias { config.network.c0 = 0.2 }
        let problem = try config.resolve().problem
        let field = ModeField(network: problem.network, data: problem.data)
        var states = [PairState](repeating: .off, count: field.n * field.G)
        var y = problem.theta0 + [0]
        for i in 0..<field.n { for g in 0..<field.G {
            states[i * field.G + g] = field.preactivation(&y, i, g) > 0 ? .on : .off
        } }
        field.setMode(states)
        return (field, y, problem)
    }

    /// −∇L against central differences of the loss (step 1e-6: truncation ~1e-12, rounding ~1e-10).
    func testGradientMatchesFiniteDifferences() throws {
        // d = 1…4 have their own SIMD loops, d ≥ 5 the general two-sweep one.
        for (d, bias) in [(1, false), (2, true), (3, false), (4, true), (5, false), (7, true)] {
            let (field, y, problem) = try makeField(d: d, outputBias: bias)
            var f = [Double](repeating: 0, count: field.dimension)
            var yy = y
            field.evaluate(&yy, &f)
            let eps = 1e-6
            for p in 0..<field.P {
                var plus = problem.theta0, minus = problem.theta0
                plus[p] += eps
                minus[p] -= eps
                let fd = -(problem.network.loss(plus, data: problem.data) - problem.network.loss(minus, data: problem.data)) / (2 * eps)
                XCTAssertEqual(f[p], fd, accuracy: 1e-8, "d = \(d), parameter \(p)")
            }
            // The quadrature component is |f|².
            XCTAssertEqual(f[field.P], f[0..<field.P].reduce(0) { $0 + $1 * $1 }, accuracy: 1e-14)
        }
    }

    /// The analytic Jacobian against central differences of the field, in a plain mode and in a
    /// mode with sliding pairs (where the rows of the sliding neuron are projected).
    func testJacobianMatchesFiniteDifferences() throws {
        for (d, bias, sliding) in [(1, false, 0), (2, true, 0), (1, true, 1), (2, false, 1), (3, true, 3)] {
            let (field, y, _) = try makeField(d: d, outputBias: bias)
            if sliding > 0 {
                var states = field.states
                // Sliding pairs on neurons 1 and 3; with `sliding` > 1, neuron 1 slides on that many
                // surfaces at once (the field is defined for any θ once the mode is fixed).
                for k in 0..<sliding { states[1 * field.G + 2 + k] = .sliding }
                states[3 * field.G + 4] = .sliding
                field.setMode(states)
            }
            let dim = field.dimension
            var J = [Double](repeating: 0, count: dim * dim), f = [Double](repeating: 0, count: dim)
            var yy = y
            field.jacobian(&yy, &J, &f)
            let eps = 1e-6
            for c in 0..<field.P {
                var plus = y, minus = y
                plus[c] += eps
                minus[c] -= eps
                var fp = [Double](repeating: 0, count: dim), fm = fp
                field.evaluate(&plus, &fp)
                field.evaluate(&minus, &fm)
                for r in 0..<dim {
                    let fd = (fp[r] - fm[r]) / (2 * eps)
                    XCTAssertEqual(J[r * dim + c], fd, accuracy: 1e-7 * max(1, abs(fd)), "d = \(d), sliding \(sliding), (\(r), \(c))")
                }
            }
        }
    }

    /// The pre-activations' second derivatives along the mode-locked flow (CrossingBatcher
    /// `accelerations`, for the quintic interpolant of batched crossing times) against central
    /// differences of ż along the field: ż(y ± εf), ε = 1e-5 (truncation ε²|z⁗| ≲ 1e-9, rounding
    /// ~1e-11/ε·|ż|), tolerance 1e-6 (1 + |z̈|). d = 1…3 (the first pass's unrolled loops), with and
    /// without output bias; every pair of every neuron.
    func testPreactivationAccelerationMatchesFiniteDifferences() throws {
        for (d, bias) in [(1, false), (2, true), (3, false)] {
            let (field, y, _) = try makeField(d: d, outputBias: bias)
            let dim = field.dimension, nG = field.n * field.G
            var yy = y, f = [Double](repeating: 0, count: dim)
            field.evaluate(&yy, &f)
            var z = [Double](repeating: 0, count: nG), zdot = z
            field.surfaceValues(&yy, &f, z: &z, zdot: &zdot)
            let pairs = (0..<field.n).flatMap { i in (0..<field.G).map { (neuron: i, group: $0) } }
            let batcher = CrossingBatcher(field: field)
            let accel = try XCTUnwrap(batcher.accelerations(of: pairs, y: &yy, f: &f, zdot: &zdot))
            func rates(_ sign: Double) -> [Double] {
                let eps = 1e-5
                var shifted = (0..<dim).map { y[$0] + sign * eps * f[$0] }, fs = [Double](repeating: 0, count: dim)
                field.evaluate(&shifted, &fs)
                var zs = [Double](repeating: 0, count: nG), zds = zs
                field.surfaceValues(&shifted, &fs, z: &zs, zdot: &zds)
                return zds
            }
            let plus = rates(1), minus = rates(-1)
            var largest = 0.0
            for (k, pair) in pairs.enumerated() {
                let q = pair.neuron * field.G + pair.group
                let fd = (plus[q] - minus[q]) / 2e-5
                largest = max(largest, abs(fd))
                XCTAssertEqual(accel[k], fd, accuracy: 1e-6 * (1 + abs(fd)), "d = \(d), pair \(pair)")
            }
            XCTAssertGreaterThan(largest, 1e-3, "d = \(d): the check needs accelerations that are not all 0")
        }
    }

    /// The quintic Hermite interpolant (EventDetector.quinticHermite) reproduces a quintic from its
    /// values and first two derivatives at 0 and 1, to rounding (1e-13).
    func testQuinticHermiteIsExactForQuintics() {
        let a: [Double] = [0.3, -1.2, 2.5, 0.7, -3.1, 1.9]   // p(s) = Σ a_k s^k
        func p(_ s: Double, derivative: Int = 0) -> Double {
            var out = 0.0
            for (k, c) in a.enumerated() where k >= derivative {
                var factor = 1.0
                for j in 0..<derivative { factor *= Double(k - j) }
                out += c * factor * pow(s, Double(k - derivative))
            }
            return out
        }
        for s in stride(from: 0.0, through: 1.0, by: 0.05) {
            let value = EventDetector.quinticHermite(s, e0: p(0), d0: p(0, derivative: 1), a0: p(0, derivative: 2),
                                                     e1: p(1), d1: p(1, derivative: 1), a1: p(1, derivative: 2))
            XCTAssertEqual(value, p(s), accuracy: 1e-13, "s = \(s)")
        }
    }
}

/// The AVX2 builds of the field (CFieldKernels/shallow_field.c) and of the event scan's rows and screen against the portable code.
final class FieldKernelTests: XCTestCase {
    /// d = 1…5 and 8 (unrolled and general kernels), G = 13 and 37 (a tail of one group after the lanes),
    /// random modes with sliding pairs and an output bias: the two evaluations must agree bit for
    /// bit (same operations in the same order, no fused multiply-add), field and quadrature
    /// component both. Skipped where the CPU
    /// has no AVX2 (the kernels never run there).
    func testKernelsMatchTheSwiftLoopsBitwise() throws {
        try XCTSkipUnless(ModeField.vectorKernelsAvailable, "no AVX2 on this CPU")
        var generator = SplitMix(state: 41)
        for d in [1, 2, 3, 4, 5, 8] { for m in [13, 37] {
            let x = (0..<m).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &generator) } }
            let y = (0..<m).map { _ in Double.random(in: -1...1, using: &generator) }
            let n = 6
            let W = (0..<n).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &generator) } }
            let b = (0..<n).map { _ in Double.random(in: -0.5...0.5, using: &generator) }
            let c = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
            let problem = try makeProblem(x: x, y: y, W: W, b: b, c: c, c0: 0.3, T: 1)
            let field = ModeField(network: problem.network, data: problem.data)
            for trial in 0..<5 {
                // One sliding pair per neuron on the first trials (a random point; the projection
                // follows the passes), then random on/off patterns.
                var states = (0..<(n * field.G)).map { _ in Bool.random(using: &generator) ? PairState.on : .off }
                if trial < 3 { for i in 0..<n { states[i * field.G + Int.random(in: 0..<field.G, using: &generator)] = .sliding } }
                field.setMode(states)
                var theta = problem.theta0 + [0]
                for k in 0..<(theta.count - 1) { theta[k] += Double.random(in: -0.1...0.1, using: &generator) }
                var fast = [Double](repeating: 0, count: field.dimension), portable = fast
                field.useVectorKernels = true
                field.evaluate(&theta, &fast)
                field.useVectorKernels = false
                field.evaluate(&theta, &portable)
                for k in fast.indices {
                    XCTAssertEqual(fast[k].bitPattern, portable[k].bitPattern, "d = \(d), m = \(m), trial \(trial), component \(k): \(fast[k]) vs \(portable[k])")
                }
            }
        } }
    }
}

extension FieldKernelTests {
    /// The event scan with the AVX2 rows and screen against the Swift SIMD4 loops: d = 1…5 and 8, G = 10, 21 and 53 (the kernels run from G = 8),
    /// random on/off/sliding modes, start-of-step values perturbed so that many lanes fail the
    /// screen (sign changes, rate reversals; NaN start values, which the screen and the per-pair
    /// tests must treat alike): the same flags (pair, τ, dip, root) and
    /// bitwise the same end-of-step z and ż.
    func testScanKernelsMatchTheSwiftLoops() throws {
        try XCTSkipUnless(ModeField.vectorKernelsAvailable, "no AVX2 on this CPU")
        var generator = SplitMix(state: 43)
        for d in [1, 2, 3, 4, 5, 8] { for m in [10, 21, 53] {
            let n = 5
            let x = (0..<m).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &generator) } }
            let y = (0..<m).map { _ in Double.random(in: -1...1, using: &generator) }
            let W = (0..<n).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &generator) } }
            let b = (0..<n).map { _ in Double.random(in: -0.5...0.5, using: &generator) }
            let c = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
            let problem = try makeProblem(x: x, y: y, W: W, b: b, c: c, T: 1)
            let field = ModeField(network: problem.network, data: problem.data)
            let G = field.G, count = n * G
            var states = (0..<count).map { _ in Bool.random(using: &generator) ? PairState.on : .off }
            states[2 * G + 3] = .sliding   // one neuron scanned pair by pair
            field.setMode(states)
            var theta = problem.theta0 + [0]
            var f = [Double](repeating: 0, count: field.dimension)
            let evaluation = field.evaluation(at: &theta, into: &f)
            var z0 = (0..<count).map { _ in Double.random(in: -0.05...0.05, using: &generator) }
            var zdot0 = (0..<count).map { _ in Double.random(in: -1...1, using: &generator) }
            z0[7] = .nan
            zdot0[11] = .nan
            var results: [([String], [Double], [Double])] = []
            for vector in [true, false] {
                field.useVectorKernels = vector
                var z1 = [Double](repeating: 0, count: count), zdot1 = z1
                let flags = EventDetector.scan(field: field, y1: &theta, f1: &f, evaluation: evaluation, H: 0.01, z0: &z0, zdot0: &zdot0, z1: &z1, zdot1: &zdot1)
                let keys = flags.map { "\($0.function.neuron):\($0.function.group):\($0.function.sign):\($0.tau.bitPattern):\($0.isDip):\(String(describing: $0.root?.bitPattern))" }
                results.append((keys, z1, zdot1))
            }
            XCTAssertFalse(results[0].0.isEmpty, "the case must raise flags")
            XCTAssertEqual(results[0].0, results[1].0, "d = \(d), m = \(m)")
            XCTAssertEqual(results[0].1.map(\.bitPattern), results[1].1.map(\.bitPattern), "z, d = \(d), m = \(m)")
            XCTAssertEqual(results[0].2.map(\.bitPattern), results[1].2.map(\.bitPattern), "ż, d = \(d), m = \(m)")
        } }
    }
}
