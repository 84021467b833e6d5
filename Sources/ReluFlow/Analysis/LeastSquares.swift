@preconcurrency import CGSL
import CLapack

/// Minimum-norm linear least squares `min |X c − y|` (SPEC §5: pattern floors and local
/// regression lines are rank deficient in general). LAPACK's `dgelsd` (divide-and-conquer SVD,
/// through OpenBLAS), which is what `numpy.linalg.lstsq` calls: singular values at or below
/// `rcond` times the largest count as zero. It replaced GSL's one-sided Jacobi SVD, which on
/// rank-deficient designs (m of a few hundred and up) stopped unconverged, without a word, and
/// gave pattern floors 18 % to 20× too large (`PatternFloorReferenceTests`).
public struct LeastSquaresSolution: Sendable {
    /// The minimum-norm minimiser.
    public let coefficients: [Double]
    /// Σ_j (X c − y)_j², computed from the residuals (not from the SVD).
    public let residualSumOfSquares: Double
    /// Numerical rank of X.
    public let rank: Int
}

public enum LeastSquares {
    /// - Parameters: `X` rows×cols row-major, `y` rows; `rcond` the relative rank threshold,
    ///   by default numpy's `lstsq` one, ε·max(rows, cols).
    /// - Throws: `NumericalError` on non-finite input or when LAPACK reports failure (the SVD did
    ///   not converge): never a wrong solution.
    public static func minimumNorm(_ X: [Double], rows: Int, cols: Int, _ y: [Double], rcond: Double? = nil) throws -> LeastSquaresSolution {
        precondition(X.count == rows * cols && y.count == rows)
        guard rows > 0, cols > 0 else {
            return LeastSquaresSolution(coefficients: [Double](repeating: 0, count: cols),
                                        residualSumOfSquares: y.reduce(0) { $0 + $1 * $1 }, rank: 0)
        }
        let size = "a \(rows)×\(cols) least-squares problem"
        guard rows <= Int(Int32.max) / cols else { throw NumericalError("LAPACK dgelsd", "\(size) is too large for 32-bit LAPACK") }
        var M = Int32(rows), N = Int32(cols), nrhs: Int32 = 1
        var lda = M, ldb = Int32(max(rows, cols))
        var threshold = rcond ?? Double.ulpOfOne * Double(max(rows, cols))
        // Column-major copy of X; b holds y and returns the solution in its first cols entries.
        var A = [Double](repeating: 0, count: rows * cols)
        let finite = A.withUnsafeMutableBufferPointer { a in
            X.withUnsafeBufferPointer { x in
                var finite = true
                for r in 0..<rows { for c in 0..<cols {
                    let v = x[r * cols + c]
                    if !v.isFinite { finite = false }
                    a[c * rows + r] = v
                } }
                return finite
            }
        }
        guard finite, y.allSatisfy(\.isFinite) else {
            throw NumericalError("LAPACK dgelsd", "non-finite entries in \(size)")
        }
        var b = [Double](repeating: 0, count: Int(ldb))
        for r in 0..<rows { b[r] = y[r] }
        var s = [Double](repeating: 0, count: min(rows, cols))
        var rank: Int32 = 0, info: Int32 = 0
        // Workspace query, then the solve.
        var lwork: Int32 = -1, optimal = 0.0, liwork: Int32 = 0
        dgelsd_(&M, &N, &nrhs, &A, &lda, &b, &ldb, &s, &threshold, &rank, &optimal, &lwork, &liwork, &info)
        guard info == 0 else { throw NumericalError("LAPACK dgelsd", "workspace query returned info = \(info) on \(size)") }
        lwork = Int32(optimal.rounded(.up))
        var work = [Double](repeating: 0, count: Int(max(lwork, 1)))
        var iwork = [Int32](repeating: 0, count: Int(max(liwork, 1)))
        dgelsd_(&M, &N, &nrhs, &A, &lda, &b, &ldb, &s, &threshold, &rank, &work, &lwork, &iwork, &info)
        if info > 0 {
            throw NumericalError("LAPACK dgelsd", "the SVD did not converge (\(info) off-diagonal elements of the bidiagonal form did not reach zero) on \(size)")
        }
        guard info == 0 else { throw NumericalError("LAPACK dgelsd", "argument \(-info) was illegal on \(size)") }
        let coefficients = Array(b[0..<cols])
        // r = X c − y, from the residuals.
        var residuals = y
        cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(cols), 1, X, Int32(cols), coefficients, 1, -1, &residuals, 1)
        let rss = residuals.reduce(0) { $0 + $1 * $1 }
        guard rss.isFinite, coefficients.allSatisfy(\.isFinite) else {
            throw NumericalError("LAPACK dgelsd", "non-finite solution of \(size)")
        }
        return LeastSquaresSolution(coefficients: coefficients, residualSumOfSquares: rss, rank: Int(rank))
    }
}
