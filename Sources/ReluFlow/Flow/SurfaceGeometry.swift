@preconcurrency import CGSL

/// Linear algebra of a neuron's switching surfaces `S_ig = {x̃_g·(w_i, b_i) = 0}` (SPEC §4),
/// with `x̃_g = (x_g, 1)`: the velocity component normal to a set K of surfaces is removed by
/// `λ = Λ F⁰`, `F = F⁰ + X̃_Kᵀ λ`, where `Λ = −(X̃_K X̃_Kᵀ)⁺ X̃_K` (minimum-norm, so surfaces that
/// are linearly dependent, as in d = 1 with three or more points on one neuron, still work).
/// Its eigensolver calls throw `NumericalError` on failure; the flow's holders (ModeField,
/// FilippovResolver, FlowSolver) record it on the field, which fails the run with it.
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
    init(groups: [Int], points: UnsafePointer<Double>, d: Int) throws {
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
        let pinv = try SurfaceSet.pseudoInverseSymmetric(gram, k)
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
        lambdaMap.withUnsafeBufferPointer { lambda in
            normals.withUnsafeBufferPointer { rows in
                if let multipliers {
                    SurfaceSet.project(F, count: k, width: e, lambdaMap: lambda.baseAddress!, normals: rows.baseAddress!,
                                       multipliers: multipliers)
                } else {
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: k) { scratch in
                        SurfaceSet.project(F, count: k, width: e, lambdaMap: lambda.baseAddress!, normals: rows.baseAddress!,
                                           multipliers: scratch.baseAddress!)
                    }
                }
            }
        }
    }

    /// `project` on a set's data in flat storage (k surfaces, rows of width e): λ = Λ F into
    /// `multipliers` (length k), then F += X̃_Kᵀ λ. The field's sliding neurons read their sets
    /// this way at every evaluation, and the step ends' and samples' projections likewise
    /// (`ModeField`'s slide table: no reference counting of the set's arrays); the Jacobian and
    /// sets built afresh go through `project`, with the same operations in the same order.
    @inline(__always)
    static func project(_ F: UnsafeMutablePointer<Double>, count k: Int, width e: Int, lambdaMap: UnsafePointer<Double>,
                        normals: UnsafePointer<Double>, multipliers: UnsafeMutablePointer<Double>) {
        if k == 1 {
            var s = 0.0
            for q in 0..<e { s += lambdaMap[q] * F[q] }
            for q in 0..<e { F[q] += normals[q] * s }
            multipliers[0] = s
            return
        }
        for a in 0..<k {
            var s = 0.0
            for q in 0..<e { s += lambdaMap[a * e + q] * F[q] }
            multipliers[a] = s
        }
        for a in 0..<k {
            for q in 0..<e { F[q] += normals[a * e + q] * multipliers[a] }
        }
    }

    /// For dependent surfaces: among the α with the same Filippov velocity Σ_k α_k w_k x̃_k
    /// (w_k = −c_i R_k/m), the one closest to the centre of the box [0, 1]^K. The minimum-norm α hugs
    /// 0 and would end slides that a feasible α keeps; the motion is the same for every choice.
    /// α* = α + (I − M⁺M)(½ − α), M = X̃_Kᵀ diag(w).
    func centredAlphas(_ alpha: [Double], weights w: [Double]) throws -> [Double] {
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
        let pinv = try SurfaceSet.pseudoInverseSymmetric(mmt, e)
        var yv = [Double](repeating: 0, count: e)
        for q in 0..<e { for r in 0..<e { yv[q] += pinv[q * e + r] * mv[r] } }
        for a in 0..<k {
            var mty = 0.0
            for q in 0..<e { mty += w[a] * normals[a * e + q] * yv[q] }
            v[a] -= mty
        }
        return zip(alpha, v).map { $0 + $1 }
    }

    /// For dependent surfaces: the α with the same Filippov velocity that lies deepest inside the
    /// box [0, 1]^K, `max_α min_k min(α_k, 1 − α_k)` over the affine set {α : Mα = Mα₀}. The
    /// centred α (above) can leave the box although other α with the same velocity lie inside
    /// it; a small linear programme decides, exactly. The affine set is α_c + N z with N an
    /// orthonormal basis of null(M) (GSL symmetric eigensolver on MᵀM), and the programme in
    /// (z, margin) is solved by the simplex method (Bland's rule). When no α lies in the box the
    /// result is the least-violating one, which stays outside: that is what the exit test sees.
    /// The centred α is returned unchanged when it is already inside.
    func feasibleAlphas(_ alpha: [Double], weights w: [Double]) throws -> [Double] {
        let centred = try centredAlphas(alpha, weights: w)
        if centred.allSatisfy({ $0 >= 0 && $0 <= 1 }) { return centred }
        let k = groups.count, e = width
        // MᵀM = diag(w) X̃ X̃ᵀ diag(w), K×K.
        var mtm = [Double](repeating: 0, count: k * k)
        for a in 0..<k { for b in 0..<k {
            var s = 0.0
            for q in 0..<e { s += normals[a * e + q] * normals[b * e + q] }
            mtm[a * k + b] = w[a] * w[b] * s
        } }
        let null = try SurfaceSet.nullSpace(mtm, k)
        guard !null.isEmpty else { return centred }
        let z = SurfaceSet.maxMinInBox(base: centred, directions: null)
        var out = centred
        for (c, direction) in null.enumerated() { for a in 0..<k { out[a] += z[c] * direction[a] } }
        return out
    }

    /// Orthonormal eigenvectors of a symmetric PSD k×k matrix with eigenvalue ≤ 1e-12 of the largest.
    static func nullSpace(_ a: [Double], _ k: Int) throws -> [[Double]] {
        let (values, vectors) = try symmetricEigen(a, k)
        let largest = values.map(abs).max() ?? 0
        return (0..<k).filter { values[$0] <= 1e-12 * largest }.map { col in (0..<k).map { vectors[$0 * k + col] } }
    }

    /// Eigenvalues and eigenvectors (as columns of a row-major k×k array) of a symmetric k×k
    /// matrix, GSL `gsl_eigen_symmv`; throws on non-finite entries or a GSL status other than success.
    static func symmetricEigen(_ a: [Double], _ k: Int) throws -> (values: [Double], vectors: [Double]) {
        let what = "a \(k)×\(k) Gram matrix of switching surfaces"
        guard a.allSatisfy(\.isFinite) else { throw NumericalError("GSL gsl_eigen_symmv", "non-finite entries in \(what)") }
        GSLRuntime.prepare()
        let m = gsl_matrix_alloc(k, k)!, evec = gsl_matrix_alloc(k, k)!, eval = gsl_vector_alloc(k)!
        let work = gsl_eigen_symmv_alloc(k)!
        defer { gsl_matrix_free(m); gsl_matrix_free(evec); gsl_vector_free(eval); gsl_eigen_symmv_free(work) }
        for r in 0..<k { for c in 0..<k { gsl_matrix_set(m, r, c, a[r * k + c]) } }
        if let error = NumericalError.gsl(gsl_eigen_symmv(m, eval, evec, work), "gsl_eigen_symmv", what) { throw error }
        return ((0..<k).map { gsl_vector_get(eval, $0) }, (0..<(k * k)).map { gsl_matrix_get(evec, $0 / k, $0 % k) })
    }

    /// argmax_z min_k min(α_k, 1 − α_k), α = base + Σ_c z_c d_c: the linear programme
    /// max t s.t. −(D z)_k + t ≤ base_k, (D z)_k + t ≤ 1 − base_k, with z free (split z = z⁺ − z⁻)
    /// and t shifted by T₀ so that z = 0 is a feasible start. Dense tableau, Bland's rule.
    static func maxMinInBox(base: [Double], directions: [[Double]]) -> [Double] {
        let k = base.count, p = directions.count
        let shift = max(0, base.map { max(-$0, $0 - 1) }.max() ?? 0) + 1
        let vars = 2 * p + 1, rows = 2 * k, cols = vars + rows + 1
        var T = [Double](repeating: 0, count: (rows + 1) * cols)
        for a in 0..<k {
            for side in 0..<2 {
                let r = 2 * a + side, sign: Double = side == 0 ? -1 : 1
                for c in 0..<p {
                    T[r * cols + c] = sign * directions[c][a]
                    T[r * cols + p + c] = -sign * directions[c][a]
                }
                T[r * cols + 2 * p] = 1
                T[r * cols + vars + r] = 1
                T[r * cols + cols - 1] = (side == 0 ? base[a] : 1 - base[a]) + shift
            }
        }
        // Objective row (maximise t'): reduced costs −c, so entering columns have negative entries.
        T[rows * cols + 2 * p] = -1
        var basis = (0..<rows).map { vars + $0 }
        let eps = 1e-12
        for _ in 0..<(50 * (rows + vars)) {
            guard let enter = (0..<(cols - 1)).first(where: { T[rows * cols + $0] < -eps }) else { break }
            var leave = -1, best = Double.infinity
            for r in 0..<rows where T[r * cols + enter] > eps {
                let ratio = T[r * cols + cols - 1] / T[r * cols + enter]
                if ratio < best - eps || (abs(ratio - best) <= eps && leave >= 0 && basis[r] < basis[leave]) {
                    best = ratio
                    leave = r
                }
            }
            guard leave >= 0 else { break }   // unbounded: cannot happen for a bounded box
            let pivot = T[leave * cols + enter]
            for c in 0..<cols { T[leave * cols + c] /= pivot }
            for r in 0...rows where r != leave {
                let factor = T[r * cols + enter]
                if factor == 0 { continue }
                for c in 0..<cols { T[r * cols + c] -= factor * T[leave * cols + c] }
            }
            basis[leave] = enter
        }
        var x = [Double](repeating: 0, count: vars)
        for (r, b) in basis.enumerated() where b < vars { x[b] = T[r * cols + cols - 1] }
        return (0..<p).map { x[$0] - x[p + $0] }
    }

    /// Pseudo-inverse of a symmetric positive semi-definite k×k matrix via GSL's symmetric
    /// eigensolver; eigenvalues below 1e-12 of the largest are treated as zero.
    static func pseudoInverseSymmetric(_ a: [Double], _ k: Int) throws -> [Double] {
        if k == 1 { return [a[0] > 0 ? 1 / a[0] : 0] }
        let (values, vectors) = try symmetricEigen(a, k)
        let largest = values.map(abs).max() ?? 0
        var out = [Double](repeating: 0, count: k * k)
        for e in 0..<k {
            let lam = values[e]
            guard lam > 1e-12 * largest else { continue }
            for r in 0..<k { for c in 0..<k { out[r * k + c] += vectors[r * k + e] * vectors[c * k + e] / lam } }
        }
        return out
    }

}
