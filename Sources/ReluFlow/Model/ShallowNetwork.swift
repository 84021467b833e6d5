/// Shape of the shallow network of SPEC §1, `N(x) = Σ_i c_i σ(w_i·x + b_i) (+ c_0)`,
/// and the layout of its parameter vector `θ = [W (n×d row-major), b (n), c (n), (c_0)]`,
/// the order used in memory, exports and Jacobians.
public struct ShallowNetwork: Sendable, Equatable, Codable {
    /// Hidden width n.
    public let width: Int
    /// Input dimension d.
    public let inputDimension: Int
    /// Whether the output bias c_0 is a parameter.
    public let outputBias: Bool

    public init(width: Int, inputDimension: Int, outputBias: Bool = false) {
        self.width = width
        self.inputDimension = inputDimension
        self.outputBias = outputBias
    }

    public var parameterCount: Int { width * inputDimension + 2 * width + (outputBias ? 1 : 0) }
    @inline(__always) public func wIndex(_ i: Int, _ k: Int) -> Int { i * inputDimension + k }
    @inline(__always) public func bIndex(_ i: Int) -> Int { width * inputDimension + i }
    @inline(__always) public func cIndex(_ i: Int) -> Int { width * inputDimension + width + i }
    public var c0Index: Int? { outputBias ? width * inputDimension + 2 * width : nil }

    /// Pre-activation `z_ij = w_i·x_j + b_i` (SPEC §1).
    public func preactivation(_ theta: [Double], neuron i: Int, point x: ArraySlice<Double>) -> Double {
        var z = theta[bIndex(i)]
        for (k, xk) in x.enumerated() { z += theta[wIndex(i, k)] * xk }
        return z
    }

    /// Network output N(x; θ).
    public func output(_ theta: [Double], at x: ArraySlice<Double>) -> Double {
        var s = c0Index.map { theta[$0] } ?? 0
        for i in 0..<width { s += theta[cIndex(i)] * max(preactivation(theta, neuron: i, point: x), 0) }
        return s
    }

    /// Residuals `r_j = N(x_j) − y_j`.
    public func residuals(_ theta: [Double], data: Dataset) -> [Double] {
        let d = data.dimension
        return (0..<data.count).map { j in output(theta, at: data.x[(j * d)..<((j + 1) * d)]) - data.y[j] }
    }

    /// Loss `L = 1/(2m) Σ_j r_j²` (SPEC §1).
    public func loss(_ theta: [Double], data: Dataset) -> Double {
        residuals(theta, data: data).reduce(0) { $0 + $1 * $1 } / (2 * Double(data.count))
    }

    /// Balance quantities `q_i = c_i² − |w_i|² − b_i²`, conserved by the flow (SPEC §4).
    public func balance(_ theta: [Double]) -> [Double] {
        (0..<width).map { i in
            var q = theta[cIndex(i)] * theta[cIndex(i)] - theta[bIndex(i)] * theta[bIndex(i)]
            for k in 0..<inputDimension { q -= theta[wIndex(i, k)] * theta[wIndex(i, k)] }
            return q
        }
    }

    /// Column names of θ in exports: `W[i][k]`, `b[i]`, `c[i]`, `c0`.
    public var parameterNames: [String] {
        var names: [String] = []
        for i in 0..<width { for k in 0..<inputDimension { names.append("W[\(i)][\(k)]") } }
        for i in 0..<width { names.append("b[\(i)]") }
        for i in 0..<width { names.append("c[\(i)]") }
        if outputBias { names.append("c0") }
        return names
    }
}
