@preconcurrency import CGSL

/// Minimum-norm linear least squares `min |X c − y|` (SPEC §5: pattern floors and local
/// regression lines are rank deficient in general). GSL's one-sided Jacobi SVD
/// (`gsl_linalg_SV_decomp_jacobi`, high relative accuracy) on X, or on Xᵀ when X has fewer rows
/// than columns; singular values below `rcond` times the largest count as zero.
public struct LeastSquaresSolution: Sendable {
    /// The minimum-norm minimiser.
    public let coefficients: [Double]
    /// Σ_j (X c − y)_j², computed from the residuals (not from the SVD).
    public let residualSumOfSquares: Double
    /// Numerical rank of X.
    public let rank: Int
}

public enum LeastSquares {
    /// - Parameters: `X` rows×cols row-major, `y` rows.
    public static func minimumNorm(_ X: [Double], rows: Int, cols: Int, _ y: [Double], rcond: Double = 1e-12) -> LeastSquaresSolution {
        precondition(X.count == rows * cols && y.count == rows)
        guard rows > 0, cols > 0 else {
            return LeastSquaresSolution(coefficients: [Double](repeating: 0, count: cols),
                                        residualSumOfSquares: y.reduce(0) { $0 + $1 * $1 }, rank: 0)
        }
        GSLRuntime.prepare()
        let tall = rows >= cols
        // A = X (tall) or Xᵀ (wide), M×N with M ≥ N: A = U S Vᵀ.
        let M = tall ? rows : cols, N = tall ? cols : rows
        let A = gsl_matrix_alloc(M, N)!, V = gsl_matrix_alloc(N, N)!, S = gsl_vector_alloc(N)!
        defer { gsl_matrix_free(A); gsl_matrix_free(V); gsl_vector_free(S) }
        for r in 0..<rows { for c in 0..<cols {
            if tall { gsl_matrix_set(A, r, c, X[r * cols + c]) } else { gsl_matrix_set(A, c, r, X[r * cols + c]) }
        } }
        _ = gsl_linalg_SV_decomp_jacobi(A, V, S)
        var largest = 0.0
        for k in 0..<N { largest = max(largest, gsl_vector_get(S, k)) }
        var coefficients = [Double](repeating: 0, count: cols)
        var rank = 0
        for k in 0..<N {
            let s = gsl_vector_get(S, k)
            guard s > rcond * largest, s > 0 else { continue }
            rank += 1
            if tall {
                // X = U S Vᵀ: c += v_k (u_k·y) / s_k.
                var uy = 0.0
                for r in 0..<rows { uy += gsl_matrix_get(A, r, k) * y[r] }
                for c in 0..<cols { coefficients[c] += gsl_matrix_get(V, c, k) * uy / s }
            } else {
                // Xᵀ = U S Vᵀ, so X = V S Uᵀ: c += u_k (v_k·y) / s_k.
                var vy = 0.0
                for r in 0..<rows { vy += gsl_matrix_get(V, r, k) * y[r] }
                for c in 0..<cols { coefficients[c] += gsl_matrix_get(A, c, k) * vy / s }
            }
        }
        var rss = 0.0
        for r in 0..<rows {
            var v = -y[r]
            for c in 0..<cols { v += X[r * cols + c] * coefficients[c] }
            rss += v * v
        }
        return LeastSquaresSolution(coefficients: coefficients, residualSumOfSquares: rss, rank: rank)
    }
}
