/// The pattern floor of SPEC §5: inside a fixed pattern the output is linear in
/// `(a_i, β_i) = c_i (w_i, b_i)` (and in c_0), so the loss over the pattern is bounded below by
/// `L*_P = min (1/2m) Σ_j (Σ_i s_ij (a_i·x_j + β_i) (+ c_0) − y_j)²`, a linear least-squares
/// problem solved with the minimum-norm solution (`LeastSquares`).
public enum PatternFloor {
    /// - Parameters: `active` n×m row-major, true where s_ij = 1 (on); sliding and off pairs are 0.
    /// - Throws: `NumericalError` when the least-squares solver fails.
    public static func value(network: ShallowNetwork, data: Dataset, active: [Bool]) throws -> Double {
        try solution(network: network, data: data, active: active).residualSumOfSquares / (2 * Double(data.count))
    }

    /// The least-squares solution behind `value` (its rank, for tests).
    static func solution(network: ShallowNetwork, data: Dataset, active: [Bool]) throws -> LeastSquaresSolution {
        let (X, cols) = design(network: network, data: data, active: active)
        return try LeastSquares.minimumNorm(X, rows: data.count, cols: cols, data.y)
    }

    /// The design of the floor's least-squares problem, m×cols row-major: for every neuron with an
    /// active point the d + 1 columns s_ij (x_j, 1), then a column of ones with an output bias.
    static func design(network: ShallowNetwork, data: Dataset, active: [Bool]) -> (X: [Double], cols: Int) {
        let n = network.width, m = data.count, d = data.dimension
        precondition(active.count == n * m)
        let neurons = (0..<n).filter { i in (0..<m).contains { active[i * m + $0] } }
        let cols = neurons.count * (d + 1) + (network.outputBias ? 1 : 0)
        var X = [Double](repeating: 0, count: m * cols)
        for j in 0..<m {
            for (column, i) in neurons.enumerated() where active[i * m + j] {
                for k in 0..<d { X[j * cols + column * (d + 1) + k] = data.x[j * d + k] }
                X[j * cols + column * (d + 1) + d] = 1
            }
            if network.outputBias { X[j * cols + cols - 1] = 1 }
        }
        return (X, cols)
    }
}
