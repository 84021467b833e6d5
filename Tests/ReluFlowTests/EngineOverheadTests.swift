import XCTest
@testable import ReluFlow

/// The engine's shortcuts of issue 22 against the code they replace, bit for bit (they must not
/// change a single floating-point operation): the sliding neurons' projection from the field's flat
/// copy of their surface sets, the rows of z and ż in one C call, and the Hermite helpers without
/// arrays. Tolerance: none (bit patterns compared).
final class EngineOverheadTests: XCTestCase {
    /// `projectSlidingPairs` (the flat copy of each neuron's set) against `SurfaceSet.project` of a
    /// set built afresh from the groups of its sliding pairs, for one sliding pair per neuron (k = 1)
    /// and for three on one neuron (k = 3 in d = 1: dependent normals).
    func testSlidingProjectionMatchesFreshSurfaceSets() throws {
        var generator = SplitMix(state: 71)
        for d in [1, 2, 3] {
            let m = 9, n = 4
            let problem = try randomProblem(d: d, m: m, n: n, &generator)
            let field = ModeField(network: problem.network, data: problem.data)
            let G = field.G
            var states = (0..<(n * G)).map { _ in Bool.random(using: &generator) ? PairState.on : .off }
            states[0 * G + 2] = .sliding
            for g in [1, 4, 6] { states[2 * G + g] = .sliding }
            states[3 * G + 5] = .sliding
            field.setMode(states)
            XCTAssertEqual(field.slidingNeurons, [0, 2, 3])
            let theta = problem.theta0 + [0]
            var fast = theta, reference = theta
            field.projectSlidingPairs(state: &fast)
            try projectWithFreshSets(&reference, neurons: field.slidingNeurons, states: states, field: field)
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "d = \(d)")
            // `project` with the groups of the mode takes the same path as with a fresh set.
            var viaProject = theta
            for i in field.slidingNeurons {
                field.project(i, onto: (0..<G).filter { states[i * G + $0] == .sliding }, state: &viaProject)
            }
            XCTAssertEqual(viaProject.map(\.bitPattern), reference.map(\.bitPattern), "d = \(d)")
        }
    }

    /// The field's evaluation on sliding neurons (the one-surface shortcut on f's block, and the
    /// flat copies for k > 1) against SPEC §4 done by hand: the evaluation of the same mode with the
    /// sliding pairs off (their slope is 0 in both), each sliding neuron's (ẇ_i, ḃ_i) projected by a
    /// set built afresh, α_g = λ_g / (−(c_i/m) R_g). Bit patterns of f (every entry) and, where the
    /// set is independent, of α.
    func testFieldEvaluationOnSlidingNeuronsMatchesFreshSets() throws {
        var generator = SplitMix(state: 79)
        for d in [1, 2, 3] {
            let m = 9, n = 4
            let problem = try randomProblem(d: d, m: m, n: n, &generator)
            let field = ModeField(network: problem.network, data: problem.data)
            let plain = ModeField(network: problem.network, data: problem.data)
            let G = field.G, P = field.P
            var states = (0..<(n * G)).map { _ in Bool.random(using: &generator) ? PairState.on : .off }
            states[0 * G + 2] = .sliding                              // k = 1
            for g in [1, 4, 6] { states[2 * G + g] = .sliding }       // k = 3
            states[3 * G + 5] = .sliding                              // k = 1
            field.setMode(states)
            plain.setMode(states.map { $0 == .sliding ? .off : $0 })
            let theta = problem.theta0 + [0]
            var f = [Double](repeating: 0, count: P + 1), f0 = f
            let e = field.evaluation(at: theta, into: &f)
            _ = plain.evaluation(at: theta, into: &f0)
            var expected = f0
            var expectedAlpha: [Int: Double] = [:]
            for i in field.slidingNeurons {
                let groups = (0..<G).filter { states[i * G + $0] == .sliding }
                let set = try SurfaceSet(groups: groups, points: field.xg, d: d)
                var v = (0..<d).map { f0[i * d + $0] } + [f0[n * d + i]]
                var lambda = [Double](repeating: 0, count: groups.count)
                v.withUnsafeMutableBufferPointer { vb in
                    lambda.withUnsafeMutableBufferPointer { set.project(vb.baseAddress!, multipliers: $0.baseAddress!) }
                }
                for k in 0..<d { expected[i * d + k] = v[k] }
                expected[n * d + i] = v[d]
                if !set.dependent {
                    let scale = -theta[n * d + n + i] * field.invM
                    for (a, g) in groups.enumerated() { expectedAlpha[i * G + g] = lambda[a] / (scale * e.R[g]) }
                }
            }
            var norm2 = 0.0
            for p in 0..<P { norm2 += expected[p] * expected[p] }
            expected[P] = norm2
            XCTAssertEqual(f.map(\.bitPattern), expected.map(\.bitPattern), "d = \(d)")
            // The three surfaces of neuron 2 are dependent in d = 1 only (three normals in R²).
            XCTAssertEqual(expectedAlpha.count, d == 1 ? 2 : 5, "d = \(d)")
            for (k, a) in expectedAlpha { XCTAssertEqual(e.storage.alpha[k].bitPattern, a.bitPattern, "d = \(d), pair \(k)") }
        }
    }

    /// After `updateMode` (a neuron gains a sliding pair, one loses its only one, one changes which
    /// groups slide) the flat copies are those of the new mode: `projectSlidingPairs` equals the
    /// projection by sets built afresh, and the sliding neurons are the new ones.
    func testFlatSurfaceCopiesFollowModeUpdates() throws {
        var generator = SplitMix(state: 83)
        let d = 2, m = 9, n = 4
        let problem = try randomProblem(d: d, m: m, n: n, &generator)
        let field = ModeField(network: problem.network, data: problem.data)
        let G = field.G
        var states = (0..<(n * G)).map { _ in Bool.random(using: &generator) ? PairState.on : .off }
        states[0 * G + 2] = .sliding
        states[2 * G + 1] = .sliding
        field.setMode(states)
        XCTAssertEqual(field.slidingNeurons, [0, 2])
        // Neuron 0 loses its only sliding pair, neuron 1 gains one, neuron 2 slides on group 3 instead of 1.
        let changes: [(index: Int, state: PairState)] = [(0 * G + 2, .on), (1 * G + 4, .sliding), (2 * G + 1, .off), (2 * G + 3, .sliding)]
        field.updateMode(changes)
        for change in changes { states[change.index] = change.state }
        XCTAssertEqual(field.slidingNeurons, [1, 2])
        let theta = problem.theta0 + [0]
        var fast = theta, reference = theta
        field.projectSlidingPairs(state: &fast)
        try projectWithFreshSets(&reference, neurons: [1, 2], states: states, field: field)
        XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern))
        XCTAssertNotEqual(fast[1 * d].bitPattern, theta[1 * d].bitPattern, "neuron 1 now projected")
        XCTAssertEqual(fast[0].bitPattern, theta[0].bitPattern, "neuron 0 no longer projected")
    }

    /// `surfaceValues` with every row in one C call (`rf_affine_rows`) against the Swift SIMD4
    /// loops: bitwise the same z and ż, and z alone (no field) likewise.
    func testSurfaceValuesKernelMatchesTheSwiftLoops() throws {
        try XCTSkipUnless(ModeField.vectorKernelsAvailable, "no AVX2 on this CPU")
        var generator = SplitMix(state: 73)
        for d in [1, 2, 3, 4, 5, 8] { for m in [10, 21] {
            let n = 5
            let problem = try randomProblem(d: d, m: m, n: n, &generator)
            let field = ModeField(network: problem.network, data: problem.data)
            let count = n * field.G
            var theta = problem.theta0 + [0]
            var f = (0..<field.dimension).map { _ in Double.random(in: -1...1, using: &generator) }
            var results: [[UInt64]] = []
            for vector in [true, false] {
                field.useVectorKernels = vector
                var z = [Double](repeating: 0, count: count), zdot = z, zOnly = z
                field.surfaceValues(&theta, &f, z: &z, zdot: &zdot)
                field.surfaceValues(&theta, nil, z: &zOnly, zdot: nil)
                results.append((z + zdot + zOnly).map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], "d = \(d), m = \(m)")
        } }
    }

    /// The scan of a sliding neuron's row from the screen (the lanes holding its sliding pairs and
    /// the lanes that fail the screen, then the tail) against the Swift loops' whole-row tests:
    /// several sliding pairs on one neuron, in one lane, in separate lanes and in the tail (G = 21,
    /// 23: G & ~3 < G), start values perturbed so that lanes fail the screen; the same flags and
    /// bitwise the same z and ż.
    func testSlidingRowScanMatchesTheSwiftLoops() throws {
        try XCTSkipUnless(ModeField.vectorKernelsAvailable, "no AVX2 on this CPU")
        var generator = SplitMix(state: 83)
        var flagged = 0, slidingFlags = 0
        for d in [1, 2, 3] { for m in [21, 23, 40] { for trial in 0..<4 {
            let n = 4
            let problem = try randomProblem(d: d, m: m, n: n, &generator)
            let field = ModeField(network: problem.network, data: problem.data)
            let G = field.G, count = n * G
            var states = (0..<count).map { _ in Bool.random(using: &generator) ? PairState.on : .off }
            for g in [1, 2, 9, G - 1] { states[1 * G + g] = .sliding }
            states[3 * G + Int.random(in: 0..<G, using: &generator)] = .sliding
            field.setMode(states)
            var theta = problem.theta0 + [0]
            var f = [Double](repeating: 0, count: field.dimension)
            let evaluation = field.evaluation(at: &theta, into: &f)
            let spread = trial < 2 ? 0.05 : 2.0
            let z0 = (0..<count).map { _ in Double.random(in: -spread...spread, using: &generator) }
            let zdot0 = (0..<count).map { _ in Double.random(in: -1...1, using: &generator) }
            var results: [([String], [UInt64])] = []
            for vector in [true, false] {
                field.useVectorKernels = vector
                var z1 = [Double](repeating: 0, count: count), zdot1 = z1
                let flags = EventDetector.scan(field: field, y1: &theta, f1: &f, evaluation: evaluation, H: 0.01,
                                               z0: z0, zdot0: zdot0, z1: &z1, zdot1: &zdot1)
                let keys = flags.map { "\($0.function.neuron):\($0.function.group):\($0.function.sign):\($0.tau.bitPattern):\($0.isDip):\(String(describing: $0.root?.bitPattern))" }
                results.append((keys, (z1 + zdot1).map(\.bitPattern)))
                if vector {
                    flagged += flags.count
                    slidingFlags += flags.filter { $0.function.neuron == 1 }.count
                }
            }
            XCTAssertEqual(results[0].0, results[1].0, "d = \(d), m = \(m), trial \(trial)")
            XCTAssertEqual(results[0].1, results[1].1, "z, ż: d = \(d), m = \(m), trial \(trial)")
        } } }
        XCTAssertGreaterThan(flagged, 50, "the cases must raise flags")
        XCTAssertGreaterThan(slidingFlags, 10, "and on the sliding neuron's row")
    }

    /// `hermiteFirstRoot` and `hermiteDip` (critical points as a tuple) against the array-based
    /// forms they replaced, on random cubics and on the degenerate ones (a = 0, b = 0, a double
    /// critical point): the same results, bit for bit.
    func testHermiteHelpersMatchTheArrayForms() {
        func hermite(_ s: Double, _ e0: Double, _ d0: Double, _ e1: Double, _ d1: Double) -> Double {
            EventDetector.hermite(s, e0: e0, d0: d0, e1: e1, d1: d1)
        }
        func firstRoot(_ e0: Double, _ d0: Double, _ e1: Double, _ d1: Double, upTo end: Double) -> Double? {
            let cuts = EventDetector.hermiteCriticalPoints(e0: e0, d0: d0, e1: e1, d1: d1)
            var lo = 0.0
            for hi in cuts.filter({ $0 > 0 && $0 < end }).sorted() + [end] {
                if hermite(hi, e0, d0, e1, d1) <= 0 {
                    var l = lo, u = hi
                    for _ in 0..<100 where u - l > 4 * u.ulp {
                        let mid = (l + u) / 2
                        if hermite(mid, e0, d0, e1, d1) > 0 { l = mid } else { u = mid }
                    }
                    return u
                }
                lo = hi
            }
            return nil
        }
        func dip(_ e0: Double, _ d0: Double, _ e1: Double, _ d1: Double, depth: Double) -> Double? {
            var best: (Double, Double)? = nil
            for s in EventDetector.hermiteCriticalPoints(e0: e0, d0: d0, e1: e1, d1: d1) where s > 0 && s < 1 {
                let p = hermite(s, e0, d0, e1, d1)
                if p < -depth, best == nil || p < best!.1 { best = (s, p) }
            }
            return best?.0
        }
        var generator = SplitMix(state: 79)
        var cases: [(Double, Double, Double, Double)] = [(1, -2, 1, 0), (1, 0, 1, 0), (1, -3, -1, -3), (0.5, -1, 0.5, 1), (1, -1, 0, 0)]
        for _ in 0..<2000 {
            cases.append((Double.random(in: 0...1, using: &generator), Double.random(in: -3...3, using: &generator),
                          Double.random(in: -1...1, using: &generator), Double.random(in: -3...3, using: &generator)))
        }
        var roots = 0, dips = 0
        for (e0, d0, e1, d1) in cases {
            for end in [1.0, 0.6] {
                let fast = EventDetector.hermiteFirstRoot(e0: e0, d0: d0, e1: e1, d1: d1, upTo: end)
                let reference = firstRoot(e0, d0, e1, d1, upTo: end)
                XCTAssertEqual(fast?.bitPattern, reference?.bitPattern, "root of (\(e0), \(d0), \(e1), \(d1)) up to \(end)")
                if fast != nil { roots += 1 }
            }
            for depth in [0.0, 1e-3] {
                let fast = EventDetector.hermiteDip(e0: e0, d0: d0, e1: e1, d1: d1, depth: depth)
                XCTAssertEqual(fast?.bitPattern, dip(e0, d0, e1, d1, depth: depth)?.bitPattern, "dip of (\(e0), \(d0), \(e1), \(d1))")
                if fast != nil { dips += 1 }
            }
        }
        XCTAssertGreaterThan(roots, 100)
        XCTAssertGreaterThan(dips, 100)
    }

    /// A problem of m random points in d dimensions and a width-n network with random weights
    /// (draws in the order x, y, W, b, c).
    private func randomProblem(d: Int, m: Int, n: Int, _ generator: inout SplitMix) throws -> FlowProblem {
        let x = (0..<m).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &generator) } }
        let y = (0..<m).map { _ in Double.random(in: -1...1, using: &generator) }
        let W = (0..<n).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &generator) } }
        let b = (0..<n).map { _ in Double.random(in: -0.5...0.5, using: &generator) }
        let c = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
        return try makeProblem(x: x, y: y, W: W, b: b, c: c, T: 1)
    }

    /// `neurons`' (w_i, b_i) in `theta` projected onto the surfaces of their sliding pairs in
    /// `states` by sets built afresh (`SurfaceSet.project`): the reference of the flat copies.
    private func projectWithFreshSets(_ theta: inout [Double], neurons: [Int], states: [PairState], field: ModeField) throws {
        let G = field.G, d = field.d, n = field.n
        for i in neurons {
            let set = try SurfaceSet(groups: (0..<G).filter { states[i * G + $0] == .sliding }, points: field.xg, d: d)
            var v = (0..<d).map { theta[i * d + $0] } + [theta[n * d + i]]
            set.project(&v)
            for k in 0..<d { theta[i * d + k] = v[k] }
            theta[n * d + i] = v[d]
        }
    }
}
