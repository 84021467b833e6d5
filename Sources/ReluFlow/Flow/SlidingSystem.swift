@preconcurrency import CGSL

/// The α's of K surfaces sliding at once (SPEC §4, several surfaces at once; §8 for deep
/// networks). With σ'(0) := α_k on the pairs of surface k, the normal rates are
/// ż_j(α) = c_j + Σ_k A_jk α_k wherever the field is affine in the α's (A_jk: the rate of
/// surface j along the change of the velocity that α_k = 1 brings), and sliding on all K surfaces
/// asks for ż = 0: the K×K system A α = −c.
///
/// A can be singular with the system still consistent: surfaces that are one set in θ without
/// being tied (in d = 1 without biases, a first-layer unit's surfaces on x > 0 and x < 0 are both
/// {w = 0}) give equal rows, and their α's are then not determined, while the velocity may not
/// depend on the choice. As SPEC §4 does for dependent surfaces of one neuron, the solution is
/// the one nearest to a given centre (the box's centre ½: the choice that keeps the slides
/// farthest from their exits): α = a₀ + A⁺(−c − A a₀), with GSL's SVD and the singular values
/// below 1e-12 σ_max dropped. It is returned only when it solves the system to rounding, normwise
/// (max_j |(Aα + c)_j| ≤ 1e-9 max(|c|_∞, |A|_∞ |α|_∞)); nil otherwise (no α makes every ż zero).
enum SlidingSystem {
    static let rankCutoff = 1e-12
    static let residualTolerance = 1e-9

    /// α with A α = −c nearest to `centre` (A row-major K×K), or nil when there is none. A GSL
    /// failure throws.
    static func solve(_ A: [Double], _ c: [Double], centre: [Double]) throws -> [Double]? {
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
        guard residual <= residualTolerance * scale else { return nil }
        return alpha.allSatisfy(\.isFinite) ? alpha : nil
    }
}
