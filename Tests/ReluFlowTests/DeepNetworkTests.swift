import Foundation
import XCTest
@testable import ReluFlow

/// Deep networks (SPEC §8): derivatives against finite differences away from kinks, the width-1
/// linear chain's closed form, the independent NumPy reference (Tests/Reference/deep_reference.py),
/// Lanczos against the full spectrum, the eigensolvers against each other, config validation.
final class DeepNetworkTests: XCTestCase {
    /// Random data with d inputs, seeded.
    func data(m: Int, d: Int, seed: UInt64) throws -> Dataset {
        var rng = SplitMix(state: seed)
        let x = (0..<m).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &rng) } }
        let y = x.map { sin(3 * $0[0]) + ($0.count > 1 ? 0.5 * $0[1] : 0) }
        return try Dataset(x: x, y: y)
    }

    /// A network with random θ (He weights, biases and c_0 of size 0.3 so that they matter).
    func network(_ layers: [Int], _ activation: HiddenActivation, bias: Bool, outputBias: Bool, seed: UInt64) -> (DeepNetwork, [Double]) {
        let net = DeepNetwork(layers: layers, activation: activation, hiddenBias: bias, outputBias: outputBias)
        var theta = DeepInitSpec(scheme: .he, seed: seed).draw(for: net)
        var rng = SplitMix(state: seed &+ 99)
        for l in 1..<net.depth { for i in 0..<layers[l] { if let b = net.bIndex(l, i) { theta[b] = Double.random(in: -0.3...0.3, using: &rng) } } }
        if let c0 = net.c0Index { theta[c0] = 0.3 }
        return (net, theta)
    }

    /// The smallest |z| over every hidden unit and point: the distance to the nearest kink in z.
    func kinkMargin(_ net: DeepNetwork, _ theta: [Double], _ data: Dataset) -> Double {
        let forward = DeepForward(network: net, capacity: data.count)
        theta.withUnsafeBufferPointer { t in data.x.withUnsafeBufferPointer { forward.run(t.baseAddress!, $0.baseAddress!, rows: data.count) } }
        var margin = Double.infinity
        for l in 1..<net.depth { for q in 0..<(data.count * net.layers[l]) { margin = min(margin, abs(forward.Z[l - 1][q])) } }
        return margin
    }

    static let shapes: [(String, [Int], HiddenActivation, Bool, Bool)] = [
        ("relu+bias+c0", [2, 4, 3, 3, 1], .relu, true, true),
        ("relu", [1, 5, 4, 1], .relu, false, false),
        ("linear+bias", [2, 3, 3, 2, 1], .linear, true, false),
        ("linear", [1, 2, 2, 2, 2, 1], .linear, false, true),
    ]

    /// ∇L against central differences (h = 1e-6) of the loss. Inside a mode L is a polynomial of
    /// degree 2L in θ with O(1) coefficients here: the truncation error is ~h²·|∂³L| ≈ 1e-12 and
    /// rounding ~ε·L/h ≈ 1e-10; tolerance 1e-7 of max|g| + 1e-9. The case is used only when every
    /// pre-activation is ≥ 1e-3 from its kink, so a step of 1e-6 (|∂z/∂θ_p| ≤ 10 here) cannot
    /// cross one (the pattern is checked to be unchanged besides).
    func testGradientAgainstCentralDifferences() throws {
        for (name, layers, act, bias, ob) in Self.shapes {
            let d = try data(m: 9, d: layers[0], seed: 3)
            var found = false
            for seed in UInt64(0)..<40 {
                let (net, theta) = network(layers, act, bias: bias, outputBias: ob, seed: seed)
                guard act == .linear || kinkMargin(net, theta, d) > 1e-3 else { continue }
                found = true
                let (_, g) = net.lossAndGradient(theta, data: d)
                let h = 1e-6
                let scale = g.map(abs).max()!
                for p in 0..<net.parameterCount {
                    var tp = theta, tm = theta
                    tp[p] += h
                    tm[p] -= h
                    let fd = (net.loss(tp, data: d) - net.loss(tm, data: d)) / (2 * h)
                    XCTAssertEqual(g[p], fd, accuracy: 1e-7 * scale + 1e-9, "\(name) ∂L/∂θ_\(p) (\(net.parameterNames[p]))")
                }
                break
            }
            XCTAssertTrue(found, "\(name): no seed with every pre-activation 1e-3 away from its kink")
        }
    }

    /// The Hessian (forward-over-reverse, whole matrix) against central differences of the exact
    /// gradient (h = 1e-5): truncation ~h²·|∂⁴L| ≈ 1e-10, rounding ~ε·|g|/h ≈ 1e-11; tolerance
    /// 1e-7 of max|H|. Same margin rule as above. Also: H is symmetric to rounding, the products
    /// H v of one vector equal H·v, and the exact trace equals the diagonal's sum.
    func testHessianAgainstDifferencesOfTheGradient() throws {
        for (name, layers, act, bias, ob) in Self.shapes {
            let d = try data(m: 9, d: layers[0], seed: 5)
            for seed in UInt64(0)..<40 {
                let (net, theta) = network(layers, act, bias: bias, outputBias: ob, seed: seed)
                guard act == .linear || kinkMargin(net, theta, d) > 1e-3 else { continue }
                let hessian = DeepHessian(network: net, data: d, theta: theta)
                let H = hessian.matrix(), P = net.parameterCount
                let scale = H.map(abs).max()!
                let h = 1e-5
                for p in 0..<P {
                    var tp = theta, tm = theta
                    tp[p] += h
                    tm[p] -= h
                    let gp = net.lossAndGradient(tp, data: d).gradient, gm = net.lossAndGradient(tm, data: d).gradient
                    for q in 0..<P {
                        XCTAssertEqual(H[q * P + p], (gp[q] - gm[q]) / (2 * h), accuracy: 1e-7 * scale, "\(name) H[\(q)][\(p)]")
                        XCTAssertEqual(H[q * P + p], H[p * P + q], accuracy: 1e-13 * scale, "\(name) symmetry")
                    }
                }
                var rng = SplitMix(state: 7)
                let v = (0..<P).map { _ in Double.random(in: -1...1, using: &rng) }
                let hv = hessian.product(v)
                for q in 0..<P {
                    let direct = (0..<P).reduce(0) { $0 + H[q * P + $1] * v[$1] }
                    XCTAssertEqual(hv[q], direct, accuracy: 1e-13 * scale * Double(P), "\(name) (Hv)_\(q)")
                }
                let diagonal = (0..<P).reduce(0) { $0 + H[$1 * P + $1] }
                XCTAssertEqual(hessian.trace, diagonal, accuracy: 1e-13 * max(abs(diagonal), 1), "\(name) exact trace")
                break
            }
        }
    }

    /// The width-1 linear chain f(x) = (∏ w_l) x (no biases): with Π = ∏ w_l, u_l = Π/w_l,
    /// s = (1/m) Σ r_j x_j and c = (1/m) Σ x_j², ∇L = s u and ∇²L = c u uᵀ + s (Π/(w_a w_b))(1 − δ_ab)
    /// exactly. Agreement to 1e-13 relative (a few roundings of products of ten factors).
    func testWidthOneLinearChainClosedForm() throws {
        let depth = 10
        let net = DeepNetwork(layers: [1] + [Int](repeating: 1, count: depth - 1) + [1], activation: .linear)
        let w: [Double] = [0.9, 1.1, -0.7, 1.3, 0.8, -1.2, 1.05, 0.95, -1.1, 0.85]
        let x: [Double] = [0.5, 1.0, -0.3, 0.8, -0.9], y: [Double] = [1.0, 0.2, -0.5, 0.3, 0.1]
        let d = try Dataset(x: x.map { [$0] }, y: y)
        let product = w.reduce(1, *)
        let m = Double(x.count)
        let s = zip(x, y).reduce(0) { $0 + (product * $1.0 - $1.1) * $1.0 } / m
        let c = x.reduce(0) { $0 + $1 * $1 } / m
        let u = w.map { product / $0 }
        let hessian = DeepHessian(network: net, data: d, theta: w)
        for l in 0..<depth { XCTAssertEqual(hessian.gradient[l], s * u[l], accuracy: 1e-13 * abs(s * u[l])) }
        let H = hessian.matrix()
        for a in 0..<depth {
            for b in 0..<depth {
                let exact = c * u[a] * u[b] + (a == b ? 0 : s * product / (w[a] * w[b]))
                XCTAssertEqual(H[a * depth + b], exact, accuracy: 1e-13 * max(abs(exact), 1e-3), "H[\(a)][\(b)]")
            }
        }
    }

    /// The shallow network of SPEC §1 is the deep network [d, n, 1] with biases: same θ, same
    /// loss and gradient (to rounding; the two evaluators sum in different orders).
    func testShallowNetworkIsTheTwoLayerDeepNetwork() throws {
        let config = RunConfig(data: DataConfig(target: TargetConfig(function: "sin(pi*x0)*x1", m: 25, dim: 2)),
                               network: NetworkConfig(width: 6, outputBias: true, initialization: InitSpec(seed: 4, biasScale: 0.4), c0: 0.2))
        let problem = try config.resolve().problem
        let shallow = problem.network, deep = DeepNetwork(shallow: shallow)
        XCTAssertEqual(deep.parameterCount, shallow.parameterCount)
        let a = shallow.lossAndGradient(problem.theta0, data: problem.data), b = deep.lossAndGradient(problem.theta0, data: problem.data)
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-14 * a.loss)
        let scale = a.gradient.map(abs).max()!
        for p in 0..<deep.parameterCount { XCTAssertEqual(a.gradient[p], b.gradient[p], accuracy: 1e-14 * scale) }
    }

    /// Lanczos (exact products, full reorthogonalisation) against the full spectrum: both ends
    /// within 1e-8 of max|λ| (its stopping rule is a residual ≤ 1e-10·max|λ|; an end's error is at
    /// most its residual).
    func testLanczosExtremesAgainstFullSpectrum() throws {
        for (layers, act, bias) in [([1, 8, 8, 8, 1], HiddenActivation.relu, true), ([2, 6, 6, 6, 6, 1], .linear, false)] {
            let (net, theta) = network(layers, act, bias: bias, outputBias: false, seed: 11)
            let d = try data(m: 20, d: layers[0], seed: 2)
            let hessian = DeepHessian(network: net, data: d, theta: theta)
            var H = hessian.matrix()
            let values = try SymmetricEigensolver.dsyevd.eigenvalues(&H, n: net.parameterCount)
            let lanczos = try LanczosExtremes.run(dimension: net.parameterCount, product: hessian.product)
            let scale = max(abs(values.first!), abs(values.last!))
            XCTAssertTrue(lanczos.converged)
            XCTAssertEqual(lanczos.lambdaMax, values.last!, accuracy: 1e-8 * scale)
            XCTAssertEqual(lanczos.lambdaMin, values.first!, accuracy: 1e-8 * scale)
        }
    }

    /// dsyevd, dsyevr and GSL's gsl_eigen_symm agree on a Hessian to 1e-12 of max|λ| (all three
    /// are backward stable: errors ≲ P·ε·|H|).
    func testEigensolversAgree() throws {
        let (net, theta) = network([1, 10, 10, 1], .relu, bias: true, outputBias: true, seed: 1)
        let hessian = DeepHessian(network: net, data: try data(m: 16, d: 1, seed: 1), theta: theta)
        let H = hessian.matrix()
        var results: [[Double]] = []
        for solver in SymmetricEigensolver.allCases {
            var copy = H
            results.append(try solver.eigenvalues(&copy, n: net.parameterCount))
        }
        let scale = results[0].map(abs).max()!
        for r in results.dropFirst() { for (a, b) in zip(results[0], r) { XCTAssertEqual(a, b, accuracy: 1e-12 * scale) } }
    }

    /// The independent NumPy reference (explicit per-point matrices, SPEC §8) on explicit networks:
    /// loss, gradient and Hessian entries within 1e-12 of their largest, eigenvalues within 1e-10
    /// of the largest |λ| (the requirement). Skipped without python3 + numpy.
    func testAgainstNumpyReference() throws {
        try requirePython("numpy")

        var cases: [(DeepNetwork, [Double], Dataset)] = []
        for (k, (_, layers, act, bias, ob)) in Self.shapes.enumerated() {
            let (net, theta) = network(layers, act, bias: bias, outputBias: ob, seed: UInt64(20 + k))
            cases.append((net, theta, try data(m: 11, d: layers[0], seed: UInt64(k))))
        }
        // A wider ReLU case with dead units and biases.
        let (wide, wideTheta) = network([3, 12, 9, 7, 1], .relu, bias: true, outputBias: true, seed: 5)
        cases.append((wide, wideTheta, try data(m: 15, d: 3, seed: 9)))
        let input: [[String: Any]] = cases.map { net, theta, d in
            ["layers": net.layers, "activation": net.activation.rawValue, "bias": net.hiddenBias, "outputBias": net.outputBias,
             "theta": theta, "x": d.rows, "y": d.y]
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/deep_reference.py")
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        run.arguments = ["python3", script.path]
        let stdin = Pipe(), stdout = Pipe()
        run.standardInput = stdin
        run.standardOutput = stdout
        try run.run()
        stdin.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0)
        let reference = try XCTUnwrap(try JSONSerialization.jsonObject(with: output) as? [[String: Any]])
        XCTAssertEqual(reference.count, cases.count)
        for ((net, theta, d), ref) in zip(cases, reference) {
            let report = try CurvatureReport.compute(network: net, data: d, theta: theta)
            let hessian = DeepHessian(network: net, data: d, theta: theta)
            let refLoss = ref["loss"] as! Double, refGrad = ref["gradient"] as! [Double], refH = ref["hessian"] as! [Double]
            let refEig = ref["eigenvalues"] as! [Double], refNorms = ref["layerGradNorms"] as! [Double]
            XCTAssertEqual(report.loss, refLoss, accuracy: 1e-13 * refLoss)
            let gScale = refGrad.map(abs).max()!
            for (a, b) in zip(hessian.gradient, refGrad) { XCTAssertEqual(a, b, accuracy: 1e-12 * gScale) }
            for (a, b) in zip(report.layerGradNorms, refNorms) { XCTAssertEqual(a, b, accuracy: 1e-12 * gScale) }
            let H = hessian.matrix(), hScale = refH.map(abs).max()!
            for (a, b) in zip(H, refH) { XCTAssertEqual(a, b, accuracy: 1e-12 * hScale, "\(net.layers) Hessian entry") }
            let eig = try XCTUnwrap(report.hessianEigenvalues)
            XCTAssertEqual(eig.count, refEig.count)
            let eScale = refEig.map(abs).max()!
            for (a, b) in zip(eig, refEig) { XCTAssertEqual(a, b, accuracy: 1e-10 * eScale, "\(net.layers) eigenvalue") }
        }
    }
}
