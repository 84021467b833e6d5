@preconcurrency import CGSL
import CLapack
import Foundation

/// Eigenvalues of a symmetric matrix (all of them, ascending). Three solvers, chosen by
/// measurement (`reluflow-bench --eigensolvers`, docs/architecture.md): LAPACK's divide and
/// conquer `dsyevd` and MRRR `dsyevr` through OpenBLAS, and GSL's `gsl_eigen_symm` (Householder
/// tridiagonalisation + implicit QL, unblocked). Every status is checked.
public enum SymmetricEigensolver: String, Sendable, CaseIterable, Codable {
    case dsyevd, dsyevr, gsl

    /// The default, by measurement (`reluflow-bench --curvature --eigensolver-rounds 7`,
    /// docs/architecture.md): dsyevd and dsyevr are equal within the machine's noise (both reduce
    /// with dsytrd and finish with dsterf for eigenvalues alone; interleaved at P = 3 960, medians
    /// 10.8 and 11.3 s, minima 6.0 and 5.6 s); dsyevd is kept (median 4–5% lower at 1 000 and
    /// 4 000). GSL's gsl_eigen_symm reduces unblocked on the reference CBLAS: 60–80 s at 3 960.
    public static let standard = SymmetricEigensolver.dsyevd
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The eigenvalues of the n × n symmetric matrix `a` (row-major; only the lower triangle of
    /// the row-major layout is read), ascending. `a` is overwritten.
    public func eigenvalues(_ a: inout [Double], n: Int) throws -> [Double] {
        precondition(a.count == n * n)
        guard n > 0 else { return [] }
        switch self {
        case .dsyevd: return try Self.lapackD(&a, n)
        case .dsyevr: return try Self.lapackR(&a, n)
        case .gsl: return try Self.gslSymm(&a, n)
        }
    }

    // Row-major lower triangle = column-major upper triangle: uplo 'U'.
    private static func lapackD(_ a: inout [Double], _ n: Int) throws -> [Double] {
        var w = [Double](repeating: 0, count: n)
        var jobz: CChar = 78, uplo: CChar = 85   // 'N', 'U'
        var N = Int32(n), lda = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1, wq = 0.0, iwq: Int32 = 0
        dsyevd_(&jobz, &uplo, &N, &a, &lda, &w, &wq, &lwork, &iwq, &liwork, &info, 1, 1)
        guard info == 0 else { throw NumericalError("LAPACK dsyevd", "workspace query failed (info \(info)) for n = \(n)") }
        lwork = Int32(wq)
        liwork = max(iwq, 1)
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &N, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else {
            throw NumericalError("LAPACK dsyevd", info < 0 ? "argument \(-info) was illegal (n = \(n))"
                                 : "did not converge (info \(info)) on the \(n) × \(n) Hessian")
        }
        return w
    }

    private static func lapackR(_ a: inout [Double], _ n: Int) throws -> [Double] {
        var w = [Double](repeating: 0, count: n)
        var jobz: CChar = 78, range: CChar = 65, uplo: CChar = 85   // 'N', 'A', 'U'
        var N = Int32(n), lda = Int32(n), info: Int32 = 0, found: Int32 = 0, ldz: Int32 = 1
        var vl = 0.0, vu = 0.0, il: Int32 = 0, iu: Int32 = 0, abstol = 0.0
        var z = [0.0], isuppz = [Int32](repeating: 0, count: 2 * n)
        var lwork: Int32 = -1, liwork: Int32 = -1, wq = 0.0, iwq: Int32 = 0
        dsyevr_(&jobz, &range, &uplo, &N, &a, &lda, &vl, &vu, &il, &iu, &abstol, &found, &w, &z, &ldz, &isuppz,
                &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1)
        guard info == 0 else { throw NumericalError("LAPACK dsyevr", "workspace query failed (info \(info)) for n = \(n)") }
        lwork = Int32(wq)
        liwork = max(iwq, 1)
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevr_(&jobz, &range, &uplo, &N, &a, &lda, &vl, &vu, &il, &iu, &abstol, &found, &w, &z, &ldz, &isuppz,
                &work, &lwork, &iwork, &liwork, &info, 1, 1, 1)
        guard info == 0, found == N else {
            throw NumericalError("LAPACK dsyevr", info < 0 ? "argument \(-info) was illegal (n = \(n))"
                                 : "failed (info \(info), \(found) of \(n) eigenvalues) on the \(n) × \(n) Hessian")
        }
        return w
    }

    private static func gslSymm(_ a: inout [Double], _ n: Int) throws -> [Double] {
        GSLRuntime.prepare()
        guard let work = gsl_eigen_symm_alloc(n), let eval = gsl_vector_alloc(n) else {
            throw NumericalError("GSL gsl_eigen_symm", "could not allocate the workspace for n = \(n)")
        }
        defer {
            gsl_eigen_symm_free(work)
            gsl_vector_free(eval)
        }
        let status = a.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var view = gsl_matrix_view_array(buffer.baseAddress, n, n)
            return gsl_eigen_symm(&view.matrix, eval, work)
        }
        guard status == GSL_SUCCESS else {
            throw NumericalError("GSL gsl_eigen_symm", "failed (\(String(cString: gsl_strerror(status)))) on the \(n) × \(n) Hessian")
        }
        return (0..<n).map { gsl_vector_get(eval, $0) }.sorted()
    }
}

/// Extreme eigenvalues of a symmetric operator known only through exact products v ↦ H v, by
/// Lanczos with full reorthogonalisation (Golub & Van Loan §10.1): after k steps the Ritz values of
/// the tridiagonal T_k bracket the spectrum's ends from inside, and |β_k s_k| (s the Ritz
/// vector's last component) bounds the residual |H y − θ y| of the Ritz pair, so that each end
/// lies within that bound of an eigenvalue.
public struct LanczosExtremes: Sendable, Codable, Equatable {
    public var lambdaMax: Double
    public var lambdaMin: Double
    /// Residual bounds of the two Ritz pairs.
    public var lambdaMaxResidual: Double
    public var lambdaMinResidual: Double
    public var iterations: Int
    public var converged: Bool

    /// Runs until both ends' residuals are ≤ `tolerance` × max(|θ_max|, |θ_min|), the space is
    /// exhausted (k = P: exact), or `maxIterations` (at most 2.5·10⁷/P as well: the basis takes 8kP
    /// bytes, ≤ 200 MB). The start vector is seeded (GSL MT19937).
    public static func run(dimension P: Int, seed: UInt64 = 0, tolerance: Double = 1e-10, maxIterations: Int = 400,
                           product: ([Double]) -> [Double]) throws -> LanczosExtremes {
        precondition(P >= 1)
        GSLRuntime.prepare()
        guard let rng = gsl_rng_alloc(gsl_rng_mt19937) else { fatalError("gsl_rng_alloc failed") }
        defer { gsl_rng_free(rng) }
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
        var v = (0..<P).map { _ in gsl_ran_ugaussian(rng) }
        func norm(_ u: [Double]) -> Double { u.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        var nv = norm(v)
        v = v.map { $0 / nv }
        // The basis, row by row in one contiguous block (k × P), so that the reorthogonalisation
        // is two matrix–vector products (OpenBLAS).
        var basis = v
        var alpha: [Double] = [], beta: [Double] = []
        let cap = min(P, maxIterations, max(50, 25_000_000 / P))
        var result = LanczosExtremes(lambdaMax: 0, lambdaMin: 0, lambdaMaxResidual: .infinity, lambdaMinResidual: .infinity,
                                     iterations: 0, converged: false)
        var coefficients = [Double](repeating: 0, count: cap)
        for k in 0..<cap {
            var w = product(Array(basis[(k * P)..<((k + 1) * P)]))
            let a = (0..<P).reduce(0) { $0 + w[$1] * basis[k * P + $1] }
            alpha.append(a)
            // Full reorthogonalisation against q_0 … q_k, twice ("twice is enough"):
            // c = Q w, w ← w − Qᵀ c.
            for _ in 0..<2 {
                basis.withUnsafeBufferPointer { q in
                    w.withUnsafeMutableBufferPointer { wb in
                        coefficients.withUnsafeMutableBufferPointer { c in
                            rowMajorGEMM(false, false, k + 1, 1, P, 1, q.baseAddress!, P, wb.baseAddress!, 1, 0, c.baseAddress!, 1)
                            rowMajorGEMM(true, false, P, 1, k + 1, -1, q.baseAddress!, P, c.baseAddress!, 1, 1, wb.baseAddress!, 1)
                        }
                    }
                }
            }
            let b = norm(w)
            let done = k + 1 == cap || b == 0 || (k + 1) % 5 == 0
            if done {
                let (values, last) = try ritz(alpha, beta)
                let top = values.count - 1
                result.lambdaMin = values[0]
                result.lambdaMax = values[top]
                result.lambdaMinResidual = abs(b * last[0])
                result.lambdaMaxResidual = abs(b * last[top])
                result.iterations = k + 1
                let scale = max(abs(values[0]), abs(values[top]), .leastNormalMagnitude)
                let exhausted = k + 1 == P || b <= 1e-14 * scale
                if exhausted {
                    result.lambdaMinResidual = min(result.lambdaMinResidual, b)
                    result.lambdaMaxResidual = min(result.lambdaMaxResidual, b)
                }
                if exhausted || max(result.lambdaMinResidual, result.lambdaMaxResidual) <= tolerance * scale {
                    result.converged = true
                    return result
                }
            }
            if b == 0 || k + 1 == cap { break }
            beta.append(b)
            nv = b
            basis.append(contentsOf: w.map { $0 / nv })
        }
        return result
    }

    /// Eigenvalues of the tridiagonal (α, β) and the last components of their eigenvectors (LAPACK dstev).
    static func ritz(_ alpha: [Double], _ beta: [Double]) throws -> ([Double], [Double]) {
        let k = alpha.count
        var d = alpha, e = Array(beta.prefix(k - 1)) + [0]
        var z = [Double](repeating: 0, count: k * k), work = [Double](repeating: 0, count: max(1, 2 * k - 2))
        var jobz: CChar = 86, n = Int32(k), ldz = Int32(k), info: Int32 = 0
        dstev_(&jobz, &n, &d, &e, &z, &ldz, &work, &info, 1)
        guard info == 0 else { throw NumericalError("LAPACK dstev", "the \(k) × \(k) Lanczos tridiagonal did not converge (info \(info))") }
        // Column-major z: eigenvector c's last component is z[c·k + k − 1].
        return (d, (0..<k).map { z[$0 * k + k - 1] })
    }
}
