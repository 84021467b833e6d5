@preconcurrency import CGSL
import CLapack

/// Hidden activation of a deep network (SPEC §8): ReLU, or the identity ("linear chain").
public enum HiddenActivation: String, Codable, Sendable, CaseIterable {
    case relu, linear
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Shape of a deep fully connected network (SPEC §8) with L = `depth` weight matrices and widths
/// (d, n_1, …, n_{L−1}, 1):
///
///     h_0 = x,  h_l = σ(W_l h_{l−1} + b_l) (l < L),  N(x; θ) = W_L h_{L−1} (+ c_0)
///
/// and the layout of θ: for l = 1 … L, W_l (n_l × n_{l−1}, row-major), then b_l when hidden biases
/// are enabled (never for the output layer); c_0 last when an output bias is enabled. The shallow
/// network of SPEC §1 is L = 2 with biases, in the same order (`init(shallow:)`).
public struct DeepNetwork: Sendable, Equatable {
    /// Widths (d, n_1, …, n_{L−1}, 1).
    public let layers: [Int]
    public let activation: HiddenActivation
    /// Whether the hidden layers have biases b_l.
    public let hiddenBias: Bool
    /// Whether the output bias c_0 is a parameter.
    public let outputBias: Bool
    /// Offsets of W_l and b_l in θ (index l − 1; b of the output layer is nil).
    public let weightOffsets: [Int]
    public let biasOffsets: [Int?]
    public let parameterCount: Int

    public init(layers: [Int], activation: HiddenActivation = .relu, hiddenBias: Bool = false, outputBias: Bool = false) {
        precondition(layers.count >= 3 && layers.allSatisfy { $0 >= 1 } && layers.last == 1, "layers (d, n_1, …, 1) with L ≥ 2")
        self.layers = layers
        self.activation = activation
        self.hiddenBias = hiddenBias
        self.outputBias = outputBias
        var offset = 0, w: [Int] = [], b: [Int?] = []
        for l in 1..<layers.count {
            w.append(offset)
            offset += layers[l] * layers[l - 1]
            if hiddenBias && l < layers.count - 1 {
                b.append(offset)
                offset += layers[l]
            } else {
                b.append(nil)
            }
        }
        weightOffsets = w
        biasOffsets = b
        parameterCount = offset + (outputBias ? 1 : 0)
    }

    /// The shallow network of SPEC §1 as the deep network L = 2 with biases: θ = [W, b, c, (c_0)]
    /// is then the same vector.
    public init(shallow: ShallowNetwork) {
        self.init(layers: [shallow.inputDimension, shallow.width, 1], activation: .relu, hiddenBias: true, outputBias: shallow.outputBias)
    }

    /// L, the number of weight matrices.
    public var depth: Int { layers.count - 1 }
    public var inputDimension: Int { layers[0] }
    public var c0Index: Int? { outputBias ? parameterCount - 1 : nil }
    /// Index of W_l[i][k] (l from 1).
    @inline(__always) public func wIndex(_ l: Int, _ i: Int, _ k: Int) -> Int { weightOffsets[l - 1] + i * layers[l - 1] + k }
    /// Index of b_l[i] (l from 1, l < L), when hidden biases are enabled.
    public func bIndex(_ l: Int, _ i: Int) -> Int? { biasOffsets[l - 1].map { $0 + i } }
    /// The parameters of layer l (W_l and b_l, with c_0 for the output layer): one range.
    public func layerRange(_ l: Int) -> Range<Int> {
        let end = l == depth ? parameterCount : weightOffsets[l]
        return weightOffsets[l - 1]..<end
    }
    /// The first unit of hidden layer l in the pattern (units ordered by layer, then index).
    public func unitOffset(_ l: Int) -> Int { layers[1..<l].reduce(0, +) }

    /// Network output N(x; θ) (a plain reference implementation; the evaluators are the fast path).
    public func output(_ theta: [Double], at x: ArraySlice<Double>) -> Double {
        var h = Array(x)
        for l in 1...depth {
            var z = [Double](repeating: 0, count: layers[l])
            for i in 0..<layers[l] {
                var s = bIndex(l, i).map { theta[$0] } ?? 0
                for k in 0..<layers[l - 1] { s += theta[wIndex(l, i, k)] * h[k] }
                z[i] = l < depth && activation == .relu ? max(s, 0) : s
            }
            h = z
        }
        return h[0] + (c0Index.map { theta[$0] } ?? 0)
    }

    /// Loss `L = 1/(2m) Σ_j r_j²` (SPEC §1), by `output`.
    public func loss(_ theta: [Double], data: Dataset) -> Double {
        let d = data.dimension
        var s = 0.0
        for j in 0..<data.count {
            let r = output(theta, at: data.x[(j * d)..<((j + 1) * d)]) - data.y[j]
            s += r * r
        }
        return s / (2 * Double(data.count))
    }

    /// Column names of θ: `W{l}[i][k]`, `b{l}[i]` (l from 1), `c0`.
    public var parameterNames: [String] {
        var names: [String] = []
        for l in 1...depth {
            for i in 0..<layers[l] { for k in 0..<layers[l - 1] { names.append("W\(l)[\(i)][\(k)]") } }
            if biasOffsets[l - 1] != nil { for i in 0..<layers[l] { names.append("b\(l)[\(i)]") } }
        }
        if outputBias { names.append("c0") }
        return names
    }
}

extension DeepNetwork: NetworkModel {
    public var hiddenUnitCount: Int { layers[1..<depth].reduce(0, +) }

    public func evaluator(for data: Dataset) -> any ModelEvaluator { DeepEvaluator(network: self, data: data) }

    /// Balance quantities of the hidden units (positive homogeneity of σ, SPEC §4 generalised):
    /// `q_{l,i} = |W_{l+1}[:, i]|² − |W_l[i, :]|² − b_l[i]²`, conserved by the gradient flow; in
    /// the pattern's unit order.
    public func balance(_ theta: [Double]) -> [Double] {
        var q: [Double] = []
        q.reserveCapacity(layers.dropFirst().dropLast().reduce(0, +))
        for l in 1..<depth {
            for i in 0..<layers[l] {
                var s = 0.0
                for a in 0..<layers[l + 1] { s += theta[wIndex(l + 1, a, i)] * theta[wIndex(l + 1, a, i)] }
                for k in 0..<layers[l - 1] { s -= theta[wIndex(l, i, k)] * theta[wIndex(l, i, k)] }
                if let b = bIndex(l, i) { s -= theta[b] * theta[b] }
                q.append(s)
            }
        }
        return q
    }
}

/// Row-major C (M×N) = α op(A) op(B) + β C through OpenBLAS's dgemm (column-major: the product of
/// the transposes with the operands swapped).
@inline(__always)
func rowMajorGEMM(_ transA: Bool, _ transB: Bool, _ M: Int, _ N: Int, _ K: Int, _ alpha: Double,
                  _ A: UnsafePointer<Double>, _ lda: Int, _ B: UnsafePointer<Double>, _ ldb: Int,
                  _ beta: Double, _ C: UnsafeMutablePointer<Double>, _ ldc: Int) {
    guard M > 0, N > 0 else { return }
    if K == 0 {
        for r in 0..<M { for c in 0..<N { C[r * ldc + c] *= beta } }
        return
    }
    var m = Int32(N), n = Int32(M), k = Int32(K), a = alpha, b = beta
    var la = Int32(ldb), lb = Int32(lda), lc = Int32(ldc)
    var ta: CChar = transB ? 84 : 78, tb: CChar = transA ? 84 : 78   // 'T' / 'N'
    dgemm_(&ta, &tb, &m, &n, &k, &a, B, &la, A, &lb, &b, C, &lc, 1, 1)
}

/// The forward pass of a deep network on a set of points (rows), in point-major layout: H_l is
/// rows × n_l (row j = point j). Kept for the backward pass and the curvature code.
final class DeepForward {
    let network: DeepNetwork
    let capacity: Int
    /// Z_l and H_l for l = 1 … L−1 (index l − 1); for the linear activation H aliases Z.
    var Z: [UnsafeMutablePointer<Double>]
    var H: [UnsafeMutablePointer<Double>]
    /// Outputs N_j, then residuals.
    let out: UnsafeMutablePointer<Double>
    private(set) var rows = 0

    init(network: DeepNetwork, capacity: Int) {
        self.network = network
        self.capacity = max(capacity, 1)
        Z = []
        H = []
        for l in 1..<network.depth {
            let z = UnsafeMutablePointer<Double>.allocate(capacity: self.capacity * network.layers[l])
            Z.append(z)
            H.append(network.activation == .relu ? .allocate(capacity: self.capacity * network.layers[l]) : z)
        }
        out = .allocate(capacity: self.capacity)
    }

    deinit {
        for l in 0..<Z.count {
            if H[l] != Z[l] { H[l].deallocate() }
            Z[l].deallocate()
        }
        out.deallocate()
    }

    /// H_{l} for l = 0 … L−1 (H_0 = X).
    func input(_ l: Int, _ X: UnsafePointer<Double>) -> UnsafePointer<Double> { l == 0 ? X : UnsafePointer(H[l - 1]) }

    /// Forward pass of `rows` points X (rows × d, row-major); outputs into `out`.
    func run(_ theta: UnsafePointer<Double>, _ X: UnsafePointer<Double>, rows count: Int) {
        precondition(count <= capacity)
        rows = count
        let net = network, L = net.depth
        for l in 1..<L {
            let n = net.layers[l], p = net.layers[l - 1]
            let z = Z[l - 1]
            if let b = net.biasOffsets[l - 1] {
                for j in 0..<count { (z + j * n).update(from: theta + b, count: n) }
            }
            // Z_l = H_{l−1} W_lᵀ (+ 1 b_lᵀ)
            rowMajorGEMM(false, true, count, n, p, 1, input(l - 1, X), p, theta + net.weightOffsets[l - 1], p,
                         net.biasOffsets[l - 1] != nil ? 1 : 0, z, n)
            if net.activation == .relu {
                let h = H[l - 1]
                for q in 0..<(count * n) { h[q] = z[q] > 0 ? z[q] : 0 }
            }
        }
        let n = net.layers[L - 1]
        let c0 = net.c0Index.map { theta[$0] } ?? 0
        let hL = input(L - 1, X), wL = theta + net.weightOffsets[L - 1]
        for j in 0..<count {
            var s = c0
            let row = hL + j * n
            for k in 0..<n { s += wL[k] * row[k] }
            out[j] = s
        }
    }

    /// The pattern of the last run (units × rows, unit-major, 1 where z > 0), rows = stride.
    func pattern(into s: UnsafeMutablePointer<UInt8>) {
        var u = 0
        for l in 1..<network.depth {
            let n = network.layers[l], z = Z[l - 1]
            for i in 0..<n {
                for j in 0..<rows { s[(u + i) * rows + j] = z[j * n + i] > 0 ? 1 : 0 }
            }
            u += n
        }
    }
}

/// The deep network's loss, plain gradient (back-propagation with σ'(0) = 0) and pattern:
/// with G_L = r/|B| (∂L/∂N_j), ∂L/∂W_L = G_Lᵀ H_{L−1}; then for l = L−1 … 1
/// G_l = (G_{l+1} W_{l+1}) ∘ [Z_l > 0] (ReLU; no mask for the identity), ∂L/∂W_l = G_lᵀ H_{l−1},
/// ∂L/∂b_l = Σ_j G_l[j], ∂L/∂c_0 = Σ_j r_j/|B|.
final class DeepEvaluator: ModelEvaluator {
    let network: DeepNetwork
    let data: Dataset
    let forward: DeepForward
    private let m: Int
    private let batchX: UnsafeMutablePointer<Double>
    private let batchY: UnsafeMutablePointer<Double>
    private var G: UnsafeMutablePointer<Double>, G2: UnsafeMutablePointer<Double>

    init(network: DeepNetwork, data: Dataset) {
        self.network = network
        self.data = data
        m = data.count
        forward = DeepForward(network: network, capacity: m)
        let d = data.dimension
        batchX = .allocate(capacity: max(m * d, 1))
        batchX.initialize(from: data.x, count: m * d)
        batchY = .allocate(capacity: max(m, 1))
        batchY.initialize(from: data.y, count: m)
        let widest = network.layers.max()!
        G = .allocate(capacity: max(m * widest, 1))
        G2 = .allocate(capacity: max(m * widest, 1))
    }

    deinit {
        batchX.deallocate()
        batchY.deallocate()
        G.deallocate()
        G2.deallocate()
    }

    func evaluate(_ theta: UnsafePointer<Double>, points: [Int]?, gradient: UnsafeMutablePointer<Double>?,
                  pattern: UnsafeMutablePointer<UInt8>?) -> Double {
        let d = data.dimension
        var rows = m
        if let points {
            if let pattern {
                forward.run(theta, batchXAll, rows: m)
                forward.pattern(into: pattern)
            }
            rows = points.count
            for (r, j) in points.enumerated() {
                for k in 0..<d { batchX[r * d + k] = data.x[j * d + k] }
                batchY[r] = data.y[j]
            }
        }
        forward.run(theta, batchX, rows: rows)
        if points == nil, let pattern { forward.pattern(into: pattern) }
        let out = forward.out
        var sum = 0.0, sumR = 0.0
        for j in 0..<rows {
            let r = out[j] - batchY[j]
            out[j] = r
            sum += r * r
            sumR += r
        }
        let scale = 1 / Double(rows)
        if let gradient { backward(theta, gradient: gradient, rows: rows, scale: scale, sumR: sumR) }
        if points != nil {
            // Restore the full data for the next full evaluation.
            batchX.update(from: data.x, count: m * d)
            batchY.update(from: data.y, count: m)
        }
        return sum * scale / 2
    }

    private var batchXAll: UnsafePointer<Double> {
        // The full data lives in batchX between minibatch evaluations.
        UnsafePointer(batchX)
    }

    private func backward(_ theta: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>, rows: Int, scale: Double, sumR: Double) {
        let net = network, L = net.depth, r = forward.out
        let nL = net.layers[L - 1]
        let hL = forward.input(L - 1, batchX), wL = theta + net.weightOffsets[L - 1]
        let gW = gradient + net.weightOffsets[L - 1]
        for k in 0..<nL { gW[k] = 0 }
        for j in 0..<rows {
            let rj = r[j] * scale
            for k in 0..<nL { gW[k] += rj * hL[j * nL + k] }
            for k in 0..<nL { G[j * nL + k] = rj * wL[k] }
        }
        if let c0 = net.c0Index { gradient[c0] = sumR * scale }
        for l in stride(from: L - 1, through: 1, by: -1) {
            let n = net.layers[l], p = net.layers[l - 1]
            if net.activation == .relu {
                let z = forward.Z[l - 1]
                for q in 0..<(rows * n) where !(z[q] > 0) { G[q] = 0 }
            }
            // ∂L/∂W_l = G_lᵀ H_{l−1}
            rowMajorGEMM(true, false, n, p, rows, 1, G, n, forward.input(l - 1, batchX), p, 0, gradient + net.weightOffsets[l - 1], p)
            if let b = net.biasOffsets[l - 1] {
                for i in 0..<n { gradient[b + i] = 0 }
                for j in 0..<rows { for i in 0..<n { gradient[b + i] += G[j * n + i] } }
            }
            if l > 1 {
                // G_{l−1} (before its mask) = G_l W_l
                rowMajorGEMM(false, false, rows, p, n, 1, G, n, theta + net.weightOffsets[l - 1], p, 0, G2, p)
                swap(&G, &G2)
            }
        }
    }
}

/// Initialisation of a deep network (SPEC §8): `he` (W_l entries N(0, 2/n_{l−1})), `xavier`
/// (N(0, 2/(n_{l−1} + n_l))) or `normal` (N(0, std²)); biases and c_0 zero. Reproducible: GSL's
/// MT19937 seeded with `seed`, entries drawn layer by layer, each W_l row-major (as
/// `InitSpec.draw` does for the shallow network).
public struct DeepInitSpec: Codable, Sendable, Equatable {
    public enum Scheme: String, Codable, Sendable, CaseIterable {
        case he, xavier, normal
        public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
    }
    public var scheme: Scheme
    public var seed: UInt64
    /// Standard deviation of the `normal` scheme (required there, refused otherwise).
    public var std: Double?

    public init(scheme: Scheme = .he, seed: UInt64 = 0, std: Double? = nil) {
        self.scheme = scheme
        self.seed = seed
        self.std = std
    }

    enum CodingKeys: String, CodingKey { case scheme, seed, std }

    /// Every key is optional (he, seed 0); an unknown scheme names the known ones.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decodeIfPresent(String.self, forKey: .scheme) ?? Scheme.he.rawValue
        guard let parsed = Scheme(rawValue: name) else {
            throw InputError("network.init.scheme", "unknown scheme '\(name)' for a deep network (known: \(Scheme.names))")
        }
        scheme = parsed
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        std = try c.decodeIfPresent(Double.self, forKey: .std)
    }

    /// Draws θ for `network`.
    public func draw(for network: DeepNetwork) -> [Double] {
        GSLRuntime.prepare()
        guard let rng = gsl_rng_alloc(gsl_rng_mt19937) else { fatalError("gsl_rng_alloc failed") }
        defer { gsl_rng_free(rng) }
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
        var theta = [Double](repeating: 0, count: network.parameterCount)
        for l in 1...network.depth {
            let fanIn = Double(network.layers[l - 1]), fanOut = Double(network.layers[l])
            let sigma: Double
            switch scheme {
            case .he: sigma = (2 / fanIn).squareRoot()
            case .xavier: sigma = (2 / (fanIn + fanOut)).squareRoot()
            case .normal: sigma = std ?? 1
            }
            let start = network.weightOffsets[l - 1]
            for q in 0..<(network.layers[l] * network.layers[l - 1]) { theta[start + q] = gsl_ran_gaussian(rng, sigma) }
        }
        return theta
    }
}
