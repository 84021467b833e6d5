@preconcurrency import CGSL

/// The α's of K surfaces sliding at once (SPEC §4, several surfaces at once; §7 and §8). With
/// σ'(0) := α_k on the pairs of surface k, the normal rates are ż_j(α) = c_j + Σ_k A_jk α_k
/// wherever the field is affine in the α's (A_jk: the rate of surface j along the change of the
/// velocity that α_k = 1 brings), and sliding on all K surfaces asks for ż = 0: the K×K system
/// A α = −c. Two solutions, for the two rules that use it:
///
/// - `solve()` (the adaptive flows, `AdaptiveField`): GSL's LU with partial pivoting
///   (`gsl_linalg_LU_decomp`, `gsl_linalg_LU_solve`, statuses checked); a singular A is a failure.
///   Singular: A's rows are the surfaces' normal rates along the K directions θ'(Δ_k); two
///   coincident surfaces, or a surface whose side does not move the others, make A singular and
///   the α's undetermined. Detected as a pivot |U_kk| ≤ 1e-12 · max_ij |A_ij| (the pivots bound
///   the smallest singular value from above, so a tiny pivot means a relative condition beyond
///   1e12, where the α's have no significant digit left at the field's rounding level).
/// - `solve(_:_:centre:)` (the deep gradient flow, `DeepModeField`, and its Newton steps): A can
///   be singular with the system still consistent: surfaces that are one set in θ without being
///   tied (in d = 1 without biases, a first-layer unit's surfaces on x > 0 and x < 0 are both
///   {w = 0}) give equal rows, and their α's are then not determined, while the velocity may not
///   depend on the choice. As SPEC §4 does for dependent surfaces of one neuron, the solution is
///   the one nearest to a given centre (the box's centre ½: the choice that keeps the slides
///   farthest from their exits): α = a₀ + A⁺(−c − A a₀), with GSL's SVD and the singular values
///   below 1e-12 σ_max dropped. It is returned only when it solves the system to rounding,
///   normwise (max_j |(Aα + c)_j| ≤ 1e-9 max(|c|_∞, |A|_∞ |α|_∞)); nil otherwise.
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

    static let rankCutoff = 1e-12
    static let residualTolerance = 1e-9

    /// α with A α = −c nearest to `centre` (A row-major K×K), or nil when there is none. A GSL
    /// failure throws.
    ///
    /// `exact: false` returns the least-squares α nearest the centre whether or not it solves the
    /// system (the caller judges its residual, e.g. against the rates' rounding level).
    static func solve(_ A: [Double], _ c: [Double], centre: [Double], exact: Bool = true) throws -> [Double]? {
        let K = c.count
        precondition(A.count == K * K && K > 0 && centre.count == K)
        guard A.allSatisfy(\.isFinite), c.allSatisfy(\.isFinite) else { return nil }
        // r = −c − A a₀.
        var r = [Double](repeating: 0, count: K)
        for j in 0..<K {
            var s = -c[j]
            for k in 0..<K { s -= A[j * K + k] * centre[k] }
            r[j] = s
        }
        var u = A, v = [Double](repeating: 0, count: K * K)
        var sigma = [Double](repeating: 0, count: K), work = [Double](repeating: 0, count: K)
        let status = u.withUnsafeMutableBufferPointer { up in
            v.withUnsafeMutableBufferPointer { vp in
                sigma.withUnsafeMutableBufferPointer { sp in
                    work.withUnsafeMutableBufferPointer { wp in
                        var um = gsl_matrix_view_array(up.baseAddress, K, K)
                        var vm = gsl_matrix_view_array(vp.baseAddress, K, K)
                        var sv = gsl_vector_view_array(sp.baseAddress, K)
                        var wv = gsl_vector_view_array(wp.baseAddress, K)
                        return gsl_linalg_SV_decomp(&um.matrix, &vm.matrix, &sv.vector, &wv.vector)
                    }
                }
            }
        }
        guard status == GSL_SUCCESS else {
            throw NumericalError("GSL gsl_linalg_SV_decomp", "sliding system \(K)×\(K): status \(status)")
        }
        // α = a₀ + V Σ⁺ Uᵀ r.
        let cutoff = rankCutoff * (sigma.first ?? 0)
        var alpha = centre
        for i in 0..<K where sigma[i] > cutoff && sigma[i] > 0 {
            var projection = 0.0
            for j in 0..<K { projection += u[j * K + i] * r[j] }
            projection /= sigma[i]
            for k in 0..<K { alpha[k] += v[k * K + i] * projection }
        }
        guard !exact || solves(A, c, alpha) else { return nil }
        return alpha.allSatisfy(\.isFinite) ? alpha : nil
    }

    /// Whether α solves A α = −c to rounding, normwise: max_j |(Aα + c)_j| ≤ 1e-9 max(|c|_∞, |A|_∞ |α|_∞).
    static func solves(_ A: [Double], _ c: [Double], _ alpha: [Double]) -> Bool {
        let K = c.count
        var residual = 0.0, scale = 0.0
        for j in 0..<K {
            var rj = c[j], row = 0.0
            for k in 0..<K {
                rj += A[j * K + k] * alpha[k]
                row += abs(A[j * K + k])
            }
            residual = max(residual, abs(rj))
            scale = max(scale, abs(c[j]), row * alpha.reduce(0) { max($0, abs($1)) })
        }
        return residual <= residualTolerance * scale
    }
}
