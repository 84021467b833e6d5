@preconcurrency import CGSL

/// The α's of K surfaces sliding at once on a field affine in them (SPEC §4, several surfaces;
/// the adaptive flows' several-surface rule, `AdaptiveField`): ż_j(α) = c_j + Σ_k A_jk α_k = 0 for
/// every sliding surface j, i.e. A α = −c, K × K, solved by GSL's LU with partial pivoting
/// (`gsl_linalg_LU_decomp`, `gsl_linalg_LU_solve`, statuses checked).
///
/// Singular: A's rows are the surfaces' normal rates along the K directions θ'(Δ_k); two
/// coincident surfaces, or a surface whose side does not move the others, make A singular and the
/// α's undetermined (the Filippov set-valued field is then not a single velocity). Detected as a
/// pivot |U_kk| ≤ 1e-12 · max_ij |A_ij| (LU with partial pivoting: the pivots bound the smallest
/// singular value from above, so a tiny pivot means a relative condition beyond 1e12, where the
/// α's have no significant digit left at the field's own rounding level ~1e-16 · K).
struct SlidingSystem {
    /// A (K × K, row-major) and c (K).
    let matrix: [Double]
    let constant: [Double]
    var count: Int { constant.count }

    /// The solution α of A α = −c; throws `NumericalError` when A is singular or not finite.
    func solve() throws -> [Double] {
        let K = count
        let what = "the \(K)×\(K) sliding system"
        let routine = "GSL gsl_linalg_LU_decomp"
        guard matrix.count == K * K, matrix.allSatisfy(\.isFinite), constant.allSatisfy(\.isFinite) else {
            throw NumericalError(routine, "non-finite entries in \(what)")
        }
        GSLRuntime.prepare()
        let scale = matrix.reduce(0) { max($0, abs($1)) }
        guard scale > 0 else { throw NumericalError(routine, "\(what) is zero (singular)") }
        guard let perm = gsl_permutation_alloc(K) else {
            throw NumericalError(routine, "could not allocate the permutation of \(what)")
        }
        defer { gsl_permutation_free(perm) }
        var lu = matrix
        var rhs = constant.map { -$0 }
        var x = [Double](repeating: 0, count: K)
        var signum: Int32 = 0
        let status = lu.withUnsafeMutableBufferPointer { b -> Int32 in
            var view = gsl_matrix_view_array(b.baseAddress, K, K)
            return gsl_linalg_LU_decomp(&view.matrix, perm, &signum)
        }
        if let error = NumericalError.gsl(status, "gsl_linalg_LU_decomp", what) { throw error }
        let smallest = (0..<K).map { abs(lu[$0 * K + $0]) }.min() ?? 0
        guard smallest > 1e-12 * scale else {
            throw NumericalError(routine, "\(what) is singular (smallest pivot \(smallest), largest entry \(scale))")
        }
        let solveStatus = lu.withUnsafeMutableBufferPointer { b -> Int32 in
            rhs.withUnsafeMutableBufferPointer { r -> Int32 in
                x.withUnsafeMutableBufferPointer { xb -> Int32 in
                    var view = gsl_matrix_view_array(b.baseAddress, K, K)
                    var rv = gsl_vector_view_array(r.baseAddress, K)
                    var xv = gsl_vector_view_array(xb.baseAddress, K)
                    return gsl_linalg_LU_solve(&view.matrix, perm, &rv.vector, &xv.vector)
                }
            }
        }
        if let error = NumericalError.gsl(solveStatus, "gsl_linalg_LU_solve", what) { throw error }
        guard x.allSatisfy(\.isFinite) else { throw NumericalError("GSL gsl_linalg_LU_solve", "non-finite α in \(what)") }
        return x
    }
}
