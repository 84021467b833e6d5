@preconcurrency import CGSL

/// Linear algebra of a neuron's switching surfaces `S_ig = {x̃_g·(w_i, b_i) = 0}` (SPEC §4),
/// with `x̃_g = (x_g, 1)`: the velocity component normal to a set K of surfaces is removed by
/// `λ = Λ F⁰`, `F = F⁰ + X̃_Kᵀ λ`, where `Λ = −(X̃_K X̃_Kᵀ)⁺ X̃_K` (minimum-norm, so surfaces that
/// are linearly dependent, as in d = 1 with three or more points on one neuron, still work).
struct SurfaceSet {
    /// Groups (distinct points) whose surfaces are in the set.
    let groups: [Int]
    /// Λ, |K|×(d+1) row-major.
    let lambdaMap: [Double]
    /// Rows x̃_g, |K|×(d+1) row-major.
    let normals: [Double]
    let width: Int
    /// Whether the normals are linearly dependent (more surfaces than they span, as for several
    /// points on one line in d = 2 or one plane in d = 3). Then the α's are not unique.
    let dependent: Bool

    /// - Parameters: `points` G×d row-major, `d` the input dimension.
    init(groups: [Int], points: UnsafePointer<Double>, d: Int) {
        self.groups = groups
        let k = groups.count, e = d + 1
        width = e
        var rows = [Double](repeating: 0, count: k * e)
        for (a, g) in groups.enumerated() {
            for q in 0..<d { rows[a * e + q] = points[g * d + q] }
            rows[a * e + d] = 1
        }
        normals = rows
        // Gram matrix and its pseudo-inverse.
        var gram = [Double](repeating: 0, count: k * k)
        for a in 0..<k { for b in 0..<k {
            var s = 0.0
            for q in 0..<e { s += rows[a * e + q] * rows[b * e + q] }
            gram[a * k + b] = s
        } }
        let pinv = SurfaceSet.pseudoInverseSymmetric(gram, k)
        // Rank of the Gram matrix: trace of G⁺G.
        var trace = 0.0
        for a in 0..<k { for b in 0..<k { trace += pinv[a * k + b] * gram[b * k + a] } }
        dependent = trace.rounded() < Double(k)
        var lambda = [Double](repeating: 0, count: k * e)
        for a in 0..<k { for q in 0..<e {
            var s = 0.0
            for b in 0..<k { s += pinv[a * k + b] * rows[b * e + q] }
            lambda[a * e + q] = -s
        } }
        lambdaMap = lambda
    }

    /// Removes from `F` (length d+1) its components normal to the surfaces; writes the
    /// multipliers λ (length |K|) when asked.
    @inline(__always)
    func project(_ F: UnsafeMutablePointer<Double>, multipliers: UnsafeMutablePointer<Double>? = nil) {
        let k = groups.count, e = width
        if k == 1 {
            var s = 0.0
            for q in 0..<e { s += lambdaMap[q] * F[q] }
            for q in 0..<e { F[q] += normals[q] * s }
            multipliers?[0] = s
            return
        }
        var lambdas = [Double](repeating: 0, count: k)
        for a in 0..<k {
            var s = 0.0
            for q in 0..<e { s += lambdaMap[a * e + q] * F[q] }
            lambdas[a] = s
        }
        for a in 0..<k {
            for q in 0..<e { F[q] += normals[a * e + q] * lambdas[a] }
            multipliers?[a] = lambdas[a]
        }
    }

    /// For dependent surfaces: among the α with the same Filippov velocity Σ_k α_k w_k x̃_k
    /// (w_k = −c_i R_k/m), the one closest to the centre of the box [0, 1]^K. The minimum-norm α hugs
    /// 0 and would end slides that a feasible α keeps; the motion is the same for every choice.
    /// α* = α + (I − M⁺M)(½ − α), M = X̃_Kᵀ diag(w).
    func centredAlphas(_ alpha: [Double], weights w: [Double]) -> [Double] {
        let k = groups.count, e = width
        var v = alpha.map { 0.5 - $0 }
        // M v and M Mᵀ.
        var mv = [Double](repeating: 0, count: e), mmt = [Double](repeating: 0, count: e * e)
        for a in 0..<k {
            for q in 0..<e {
                mv[q] += normals[a * e + q] * w[a] * v[a]
                for r in 0..<e { mmt[q * e + r] += w[a] * w[a] * normals[a * e + q] * normals[a * e + r] }
            }
        }
        let pinv = SurfaceSet.pseudoInverseSymmetric(mmt, e)
        var yv = [Double](repeating: 0, count: e)
        for q in 0..<e { for r in 0..<e { yv[q] += pinv[q * e + r] * mv[r] } }
        for a in 0..<k {
            var mty = 0.0
            for q in 0..<e { mty += w[a] * normals[a * e + q] * yv[q] }
            v[a] -= mty
        }
        return zip(alpha, v).map { $0 + $1 }
    }

    /// Pseudo-inverse of a symmetric positive semi-definite k×k matrix via GSL's symmetric
    /// eigensolver; eigenvalues below 1e-12 of the largest are treated as zero.
    static func pseudoInverseSymmetric(_ a: [Double], _ k: Int) -> [Double] {
        if k == 1 { return [a[0] > 0 ? 1 / a[0] : 0] }
        GSLRuntime.prepare()
        let m = gsl_matrix_alloc(k, k)!, evec = gsl_matrix_alloc(k, k)!, eval = gsl_vector_alloc(k)!
        let work = gsl_eigen_symmv_alloc(k)!
        defer { gsl_matrix_free(m); gsl_matrix_free(evec); gsl_vector_free(eval); gsl_eigen_symmv_free(work) }
        for r in 0..<k { for c in 0..<k { gsl_matrix_set(m, r, c, a[r * k + c]) } }
        gsl_eigen_symmv(m, eval, evec, work)
        var largest = 0.0
        for r in 0..<k { largest = max(largest, abs(gsl_vector_get(eval, r))) }
        var out = [Double](repeating: 0, count: k * k)
        for e in 0..<k {
            let lam = gsl_vector_get(eval, e)
            guard lam > 1e-12 * largest else { continue }
            for r in 0..<k { for c in 0..<k {
                out[r * k + c] += gsl_matrix_get(evec, r, e) * gsl_matrix_get(evec, c, e) / lam
            } }
        }
        return out
    }
}
