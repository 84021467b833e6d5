import Foundation

/// Exact derivatives of the loss of a deep network (SPEC §8) at one θ, inside its mode (every
/// hidden unit's sign on every point fixed, σ'(0) = 0; L is a polynomial in θ there): the
/// gradient by back-propagation, Hessian–vector products by forward-over-reverse differentiation
/// (Pearlmutter's R-operator applied to the back-propagation), the whole Hessian as the products
/// with the unit vectors, and the exact trace. No finite differences anywhere.
///
/// Layout: point-major, H_l is m × n_l (row j = point j). The back-propagated G_l = ∂L/∂Z_l are
/// kept from one backward pass; a block of B directions carries tangents [j][β][i] (m × B × n_l),
/// so that every product with a weight matrix is one GEMM (OpenBLAS) over all points and
/// directions:
///
///     forward  Ż_l = Ḣ_{l−1} W_lᵀ + H_{l−1} Ẇ_lᵀ + ḃ_l,  Ḣ_l = S_l ∘ Ż_l,  Ṅ = Ḣ_{L−1} W_Lᵀ + H_{L−1} Ẇ_Lᵀ + ċ_0
///     backward Ġ_L = Ṅ/m,  Ġ_l = S_l ∘ (Ġ_{l+1} W_{l+1} + G_{l+1} Ẇ_{l+1})
///              (Hv)_{W_l} = Ġ_lᵀ H_{l−1} + G_lᵀ Ḣ_{l−1},  (Hv)_{b_l} = Σ_j Ġ_l[j],  (Hv)_{c_0} = Σ_j Ġ_L[j]
///
/// with S_l = [Z_l > 0] for ReLU and 1 for the identity.
public final class DeepHessian {
    public let network: DeepNetwork
    public let data: Dataset
    public let theta: [Double]
    public let loss: Double
    /// ∇L (plain, σ'(0) = 0).
    public let gradient: [Double]
    let m: Int
    private let forward: DeepForward
    private let x: UnsafeMutablePointer<Double>
    /// G_l = ∂L/∂Z_l (l = 1 … L−1, index l − 1), m × n_l; G_L = r/m.
    private var G: [UnsafeMutablePointer<Double>] = []
    private let GL: UnsafeMutablePointer<Double>
    /// Masks S_l as 0/1 numbers (m × n_l); nil for the identity.
    private var S: [UnsafeMutablePointer<Double>?] = []

    public init(network: DeepNetwork, data: Dataset, theta: [Double]) {
        precondition(theta.count == network.parameterCount && data.dimension == network.inputDimension)
        self.network = network
        self.data = data
        self.theta = theta
        m = data.count
        let evaluator = DeepEvaluator(network: network, data: data)
        var g = [Double](repeating: 0, count: network.parameterCount)
        loss = theta.withUnsafeBufferPointer { t in
            g.withUnsafeMutableBufferPointer { evaluator.evaluate(t.baseAddress!, points: nil, gradient: $0.baseAddress!, pattern: nil) }
        }
        gradient = g
        forward = DeepForward(network: network, capacity: m)
        x = .allocate(capacity: max(m * data.dimension, 1))
        x.initialize(from: data.x, count: m * data.dimension)
        GL = .allocate(capacity: max(m, 1))
        theta.withUnsafeBufferPointer { forward.run($0.baseAddress!, x, rows: m) }
        let L = network.depth
        for j in 0..<m { GL[j] = (forward.out[j] - data.y[j]) / Double(m) }
        for l in 1..<L {
            let n = network.layers[l]
            G.append(.allocate(capacity: max(m * n, 1)))
            if network.activation == .relu {
                let s = UnsafeMutablePointer<Double>.allocate(capacity: max(m * n, 1))
                let z = forward.Z[l - 1]
                for q in 0..<(m * n) { s[q] = z[q] > 0 ? 1 : 0 }
                S.append(s)
            } else {
                S.append(nil)
            }
        }
        // G_{L−1} = G_L W_L ∘ S, then G_{l−1} = (G_l W_l) ∘ S_{l−1}.
        theta.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            let nL = network.layers[L - 1], wL = t + network.weightOffsets[L - 1]
            for j in 0..<m { for k in 0..<nL { G[L - 2][j * nL + k] = GL[j] * wL[k] } }
            mask(G[L - 2], L - 1, directions: 1)
            for l in stride(from: L - 1, through: 2, by: -1) {
                rowMajorGEMM(false, false, m, network.layers[l - 1], network.layers[l], 1, G[l - 1], network.layers[l],
                             t + network.weightOffsets[l - 1], network.layers[l - 1], 0, G[l - 2], network.layers[l - 1])
                mask(G[l - 2], l - 1, directions: 1)
            }
        }
    }

    deinit {
        x.deallocate()
        GL.deallocate()
        for g in G { g.deallocate() }
        for s in S { s?.deallocate() }
    }

    public var parameterCount: Int { network.parameterCount }

    /// |∇L| of each layer (W_l and b_l together; c_0 with the output layer).
    public var layerGradientNorms: [Double] {
        (1...network.depth).map { l in network.layerRange(l).reduce(0) { $0 + gradient[$1] * gradient[$1] }.squareRoot() }
    }

    /// Whether the network's output is the same on every point (to 1e-12 of its scale): a "dead"
    /// ReLU network, whose hidden layers pass nothing that depends on x.
    public var outputIsConstant: Bool {
        let out = (0..<m).map { forward.out[$0] }
        guard let lo = out.min(), let hi = out.max() else { return true }
        let scale = max(out.map(abs).max() ?? 0, 1e-300)
        return hi - lo <= 1e-12 * scale
    }

    /// Applies S_l to a tangent [j][β][i] with `directions` B.
    private func mask(_ t: UnsafeMutablePointer<Double>, _ l: Int, directions B: Int) {
        guard let s = S[l - 1] else { return }
        let n = network.layers[l]
        for j in 0..<m {
            let sj = s + j * n
            for beta in 0..<B {
                let row = t + (j * B + beta) * n
                for i in 0..<n { row[i] *= sj[i] }
            }
        }
    }

    /// The exact trace of the Hessian: (1/m) Σ_j |∂N_j/∂θ|². Inside a mode N is affine in each
    /// single parameter (each lies in one layer, and the network is affine in each layer's
    /// parameters), so ∂²N_j/∂θ_p² = 0 and the diagonal of ∇²L = (1/m)(JᵀJ + Σ_j r_j ∇²N_j) is
    /// that of JᵀJ/m. |∂N_j/∂θ|² = Σ_l |δ_l(j)|² (|h_{l−1}(j)|² + [b_l]) (+ 1 for c_0), with the
    /// per-point back-propagated δ_L = 1, δ_{l} = (W_{l+1}ᵀ δ_{l+1}) ∘ S_l.
    public var trace: Double {
        let net = network, L = net.depth
        var total = 0.0
        var delta = [Double](), next = [Double]()
        theta.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            for j in 0..<m {
                var sum = net.outputBias ? 1.0 : 0.0
                // Output layer: δ_L = 1.
                let nL = net.layers[L - 1]
                let hL = forward.input(L - 1, x) + j * nL
                for k in 0..<nL { sum += hL[k] * hL[k] }
                let wL = t + net.weightOffsets[L - 1]
                delta = (0..<nL).map { k in wL[k] * (S[L - 2].map { $0[j * nL + k] } ?? 1) }
                for l in stride(from: L - 1, through: 1, by: -1) {
                    let n = net.layers[l], p = net.layers[l - 1]
                    let h = forward.input(l - 1, x) + j * p
                    var dd = 0.0, hh = net.biasOffsets[l - 1] != nil ? 1.0 : 0.0
                    for i in 0..<n { dd += delta[i] * delta[i] }
                    for k in 0..<p { hh += h[k] * h[k] }
                    sum += dd * hh
                    if l > 1 {
                        let w = t + net.weightOffsets[l - 1]
                        next = [Double](repeating: 0, count: p)
                        for i in 0..<n where delta[i] != 0 { for k in 0..<p { next[k] += w[i * p + k] * delta[i] } }
                        if let s = S[l - 2] { for k in 0..<p { next[k] *= s[j * p + k] } }
                        delta = next
                    }
                }
                total += sum
            }
        }
        return total / Double(m)
    }

    /// Directions of one product block: general vectors (rows of V, B × P), or unit vectors e_p for
    /// consecutive p (the full Hessian's columns), all in layers ≥ `firstLayer`.
    enum Directions {
        case vectors(UnsafePointer<Double>)
        case units(first: Int)
    }

    /// The products H v_β for B directions, into `out` (B × P, row β = H v_β).
    func products(_ directions: Directions, count B: Int, firstLayer: Int, into out: UnsafeMutablePointer<Double>) {
        let net = network, L = net.depth, P = net.parameterCount
        theta.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            // Tangents Ḣ_l for l ≥ firstLayer (nil below: zero).
            var Hdot = [UnsafeMutablePointer<Double>?](repeating: nil, count: L)
            defer { for h in Hdot { h?.deallocate() } }
            // Which parameter of a unit direction: (layer, unit i, input k or −1 for the bias, or c0).
            func locate(_ p: Int) -> (l: Int, i: Int, k: Int) {
                if let c0 = net.c0Index, p == c0 { return (L, 0, -2) }
                var l = 1
                while l < L && net.weightOffsets[l] <= p { l += 1 }
                let w = net.weightOffsets[l - 1], n = net.layers[l], q = net.layers[l - 1]
                if p < w + n * q { return (l, (p - w) / q, (p - w) % q) }
                return (l, p - net.biasOffsets[l - 1]!, -1)
            }
            var units: [(l: Int, i: Int, k: Int)] = []
            if case .units(let first) = directions { units = (0..<B).map { locate(first + $0) } }

            // Forward tangents.
            for l in max(firstLayer, 1)..<L {
                let n = net.layers[l], q = net.layers[l - 1]
                let z = UnsafeMutablePointer<Double>.allocate(capacity: m * B * n)
                Hdot[l] = z
                if let below = Hdot[l - 1] {
                    rowMajorGEMM(false, true, m * B, n, q, 1, below, q, t + net.weightOffsets[l - 1], q, 0, z, n)
                } else {
                    z.initialize(repeating: 0, count: m * B * n)
                }
                let hIn = forward.input(l - 1, x)
                switch directions {
                case .vectors(let V):
                    for beta in 0..<B {
                        let v = V + beta * P
                        rowMajorGEMM(false, true, m, n, q, 1, hIn, q, v + net.weightOffsets[l - 1], q, 1, z + beta * n, B * n)
                        if let b = net.biasOffsets[l - 1] {
                            for j in 0..<m { for i in 0..<n { z[(j * B + beta) * n + i] += v[b + i] } }
                        }
                    }
                case .units:
                    for (beta, u) in units.enumerated() where u.l == l {
                        for j in 0..<m { z[(j * B + beta) * n + u.i] += u.k >= 0 ? hIn[j * q + u.k] : 1 }
                    }
                }
                mask(z, l, directions: B)
            }
            // Output: Ṅ (m × B), then Ġ_L = Ṅ/m.
            let nL = net.layers[L - 1]
            let hL = forward.input(L - 1, x), wL = t + net.weightOffsets[L - 1]
            let GLdot = UnsafeMutablePointer<Double>.allocate(capacity: m * B)
            defer { GLdot.deallocate() }
            GLdot.initialize(repeating: 0, count: m * B)
            if let h = Hdot[L - 1] {
                for q in 0..<(m * B) {
                    var s = 0.0
                    for k in 0..<nL { s += h[q * nL + k] * wL[k] }
                    GLdot[q] = s
                }
            }
            switch directions {
            case .vectors(let V):
                for beta in 0..<B {
                    let v = V + beta * P + net.weightOffsets[L - 1]
                    let c0dot = net.c0Index.map { V[beta * P + $0] } ?? 0
                    for j in 0..<m {
                        var s = c0dot
                        for k in 0..<nL { s += v[k] * hL[j * nL + k] }
                        GLdot[j * B + beta] += s
                    }
                }
            case .units:
                for (beta, u) in units.enumerated() where u.l == L {
                    for j in 0..<m { GLdot[j * B + beta] += u.k == -2 ? 1 : hL[j * nL + u.k] }
                }
            }
            let invM = 1 / Double(m)
            for q in 0..<(m * B) { GLdot[q] *= invM }

            // Output layer's block of H v and c_0's.
            for beta in 0..<B {
                let row = out + beta * P + net.weightOffsets[L - 1]
                for k in 0..<nL {
                    var s = 0.0
                    for j in 0..<m { s += GLdot[j * B + beta] * hL[j * nL + k] }
                    if let h = Hdot[L - 1] { for j in 0..<m { s += GL[j] * h[(j * B + beta) * nL + k] } }
                    row[k] = s
                }
                if let c0 = net.c0Index {
                    var s = 0.0
                    for j in 0..<m { s += GLdot[j * B + beta] }
                    out[beta * P + c0] = s
                }
            }
            // dḢ_{L−1} = Ġ_L W_L + G_L Ẇ_L, masked: Ġ_{L−1}.
            var Gdot = UnsafeMutablePointer<Double>.allocate(capacity: m * B * nL)
            defer { Gdot.deallocate() }
            for j in 0..<m {
                for beta in 0..<B {
                    let row = Gdot + (j * B + beta) * nL, g = GLdot[j * B + beta]
                    for k in 0..<nL { row[k] = g * wL[k] }
                }
            }
            switch directions {
            case .vectors(let V):
                for beta in 0..<B {
                    let v = V + beta * P + net.weightOffsets[L - 1]
                    for j in 0..<m { for k in 0..<nL { Gdot[(j * B + beta) * nL + k] += GL[j] * v[k] } }
                }
            case .units:
                for (beta, u) in units.enumerated() where u.l == L && u.k >= 0 {
                    for j in 0..<m { Gdot[(j * B + beta) * nL + u.k] += GL[j] }
                }
            }
            mask(Gdot, L - 1, directions: B)

            for l in stride(from: L - 1, through: 1, by: -1) {
                let n = net.layers[l], q = net.layers[l - 1]
                let hIn = forward.input(l - 1, x), Gl = G[l - 1]
                for beta in 0..<B {
                    let row = out + beta * P + net.weightOffsets[l - 1]
                    // Ġ_lᵀ H_{l−1} (+ G_lᵀ Ḣ_{l−1})
                    rowMajorGEMM(true, false, n, q, m, 1, Gdot + beta * n, B * n, hIn, q, 0, row, q)
                    if let h = Hdot[l - 1] {
                        rowMajorGEMM(true, false, n, q, m, 1, Gl, n, h + beta * q, B * q, 1, row, q)
                    }
                    if let b = net.biasOffsets[l - 1] {
                        let brow = out + beta * P + b
                        for i in 0..<n { brow[i] = 0 }
                        for j in 0..<m {
                            let g = Gdot + (j * B + beta) * n
                            for i in 0..<n { brow[i] += g[i] }
                        }
                    }
                }
                guard l > 1 else { break }
                // Ġ_{l−1} = S_{l−1} ∘ (Ġ_l W_l + G_l Ẇ_l)
                let nextDot = UnsafeMutablePointer<Double>.allocate(capacity: m * B * q)
                rowMajorGEMM(false, false, m * B, q, n, 1, Gdot, n, t + net.weightOffsets[l - 1], q, 0, nextDot, q)
                switch directions {
                case .vectors(let V):
                    for beta in 0..<B {
                        rowMajorGEMM(false, false, m, q, n, 1, Gl, n, V + beta * P + net.weightOffsets[l - 1], q, 1, nextDot + beta * q, B * q)
                    }
                case .units:
                    for (beta, u) in units.enumerated() where u.l == l && u.k >= 0 {
                        for j in 0..<m { nextDot[(j * B + beta) * q + u.k] += Gl[j * n + u.i] }
                    }
                }
                mask(nextDot, l - 1, directions: B)
                Gdot.deallocate()
                Gdot = nextDot
            }
        }
    }

    /// H v for one vector v (exact, no matrix formed): Lanczos's product.
    public func product(_ v: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: parameterCount)
        v.withUnsafeBufferPointer { vb in
            out.withUnsafeMutableBufferPointer { products(.vectors(vb.baseAddress!), count: 1, firstLayer: 1, into: $0.baseAddress!) }
        }
        return out
    }

    /// Directions per block: the tangents take m·B·(Σ n_l + 2 max n_l) numbers; about 4·10⁶ (32 MB).
    var blockSize: Int {
        let widths = network.layers[1..<network.depth]
        let perDirection = m * (widths.reduce(0, +) + 2 * (widths.max() ?? 1) + 1)
        return max(1, min(parameterCount, 4_000_000 / max(perDirection, 1)))
    }

    /// The whole Hessian (P × P, row-major; symmetric to rounding), column block by column block
    /// (H e_p for consecutive p, each block within one layer so that the forward tangents start
    /// there).
    public func matrix() -> [Double] {
        let P = parameterCount, L = network.depth
        var H = [Double](repeating: 0, count: P * P)
        H.withUnsafeMutableBufferPointer { hb in
            let base = hb.baseAddress!
            for l in 1...L {
                let range = network.layerRange(l)
                var p = range.lowerBound
                while p < range.upperBound {
                    let B = min(blockSize, range.upperBound - p)
                    products(.units(first: p), count: B, firstLayer: l, into: base + p * P)
                    p += B
                }
            }
        }
        return H
    }
}
