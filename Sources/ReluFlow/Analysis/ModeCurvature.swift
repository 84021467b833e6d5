@preconcurrency import CGSL

/// Curvature of the loss inside one mode (SPEC §3, §6), at a state θ with a fixed pattern:
///
/// - the Hessian `∇²L = (1/m)(JᵀJ + Σ_j r_j ∇²N_j)`, whose spectral radius ρ_H sets the fastest
///   time scale of the flow (the plateau duration test `t_b − t_a ≥ κ/ρ_H`);
/// - the Gram matrix `JᵀJ/m` (the neural tangent kernel restricted to the mode; its non-zero
///   eigenvalues are those of `J Jᵀ/m`), whose smallest non-zero eigenvalue λ⁺ is the predicted
///   convergence rate inside the pattern.
///
/// `J_j = ∂N_j/∂θ` with `s_ij = 1` on `on` pairs and 0 elsewhere. Sliding pairs hold
/// `z_ij = (w_i, b_i)·(x_j, 1) = 0`, and the flow keeps every balance `q_i = c_i² − |w_i|² − b_i²`
/// (SPEC §4), whose gradient is along the rescaling direction `(w_i, b_i, −c_i)` (a symmetry of
/// N, hence a null direction of J and, at a critical point, of ∇²L). The flow moves in the
/// tangent space of both families of constraints, so both matrices are compressed to it,
/// `Π M Π` with `Π` the orthogonal projector onto the null space of the constraint rows (GSL's
/// Jacobi SVD of the constraints; GSL `eigen_symm` for the spectra). Without the balance rows the
/// rescaling directions would give the Hessian eigenvalues of the size of |∇L| near a critical point.
public struct ModeCurvature: Sendable {
    /// Eigenvalues of the (compressed) Hessian of L, ascending.
    public let hessianEigenvalues: [Double]
    /// Eigenvalues of the (compressed) Gram matrix JᵀJ/m, ascending (all ≥ 0 up to rounding).
    public let gramEigenvalues: [Double]
    /// Number of independent constraints (sliding surfaces and balances) removed by the projection.
    public let constraintRank: Int

    /// ρ_H = max |λ(∇²L)|.
    public var spectralRadius: Double {
        max(abs(hessianEigenvalues.first ?? 0), abs(hessianEigenvalues.last ?? 0))
    }

    /// The smallest eigenvalue of JᵀJ/m above `1e-11 · λ_max` (eigenvalues of a Gram matrix carry
    /// a rounding error of order ε·λ_max; the 1e-11 leaves a factor 1e4 of margin), or nil when
    /// the matrix is zero.
    public var smallestNonzeroGramEigenvalue: Double? {
        guard let top = gramEigenvalues.last, top > 0 else { return nil }
        return gramEigenvalues.first { $0 > 1e-11 * top }
    }

    /// - Parameters: `states` n×m row-major per data point (as in `PatternInterval.states`).
    /// - Throws: `NumericalError` when the SVD or an eigensolver fails.
    public init(network: ShallowNetwork, data: Dataset, theta: [Double], states: [PairState]) throws {
        try self.init(network: network, data: data, theta: theta, states: states, gram: true)
    }

    /// ρ_H alone: the same Hessian spectrum, without the Gram matrix's (its compression and
    /// eigenvalues are half the work and not needed for ρ_H; every run's summary computes ρ_H of
    /// its first plateau, issue 22).
    public static func spectralRadius(network: ShallowNetwork, data: Dataset, theta: [Double], states: [PairState]) throws -> Double {
        try ModeCurvature(network: network, data: data, theta: theta, states: states, gram: false).spectralRadius
    }

    /// `gram`: whether to compute `gramEigenvalues` (else empty). The Hessian is the same either
    /// way: it takes the uncompressed Gram matrix.
    private init(network: ShallowNetwork, data: Dataset, theta: [Double], states: [PairState], gram: Bool) throws {
        let n = network.width, m = data.count, d = data.dimension, P = network.parameterCount
        precondition(theta.count == P && states.count == n * m)
        let r = network.residuals(theta, data: data)
        var J = [Double](repeating: 0, count: m * P)
        var H = [Double](repeating: 0, count: P * P)
        var constraints: [[Double]] = []
        for j in 0..<m {
            let x = data.x[(j * d)..<((j + 1) * d)]
            for i in 0..<n {
                switch states[i * m + j] {
                case .on:
                    let c = theta[network.cIndex(i)]
                    for (k, xk) in x.enumerated() { J[j * P + network.wIndex(i, k)] = c * xk }
                    J[j * P + network.bIndex(i)] = c
                    J[j * P + network.cIndex(i)] = network.preactivation(theta, neuron: i, point: x)
                    // Mixed second derivatives ∂²N_j/∂c_i∂(w_i, b_i) = (x_j, 1), weighted by r_j.
                    let ci = network.cIndex(i)
                    for (k, xk) in x.enumerated() {
                        H[ci * P + network.wIndex(i, k)] += r[j] * xk
                        H[network.wIndex(i, k) * P + ci] += r[j] * xk
                    }
                    H[ci * P + network.bIndex(i)] += r[j]
                    H[network.bIndex(i) * P + ci] += r[j]
                case .sliding:
                    var row = [Double](repeating: 0, count: P)
                    for (k, xk) in x.enumerated() { row[network.wIndex(i, k)] = xk }
                    row[network.bIndex(i)] = 1
                    constraints.append(row)
                case .off:
                    break
                }
            }
            if let c0 = network.c0Index { J[j * P + c0] = 1 }
        }
        for i in 0..<n {
            var row = [Double](repeating: 0, count: P)
            for k in 0..<d { row[network.wIndex(i, k)] = theta[network.wIndex(i, k)] }
            row[network.bIndex(i)] = theta[network.bIndex(i)]
            row[network.cIndex(i)] = -theta[network.cIndex(i)]
            if row.contains(where: { $0 != 0 }) { constraints.append(row) }
        }
        var G = [Double](repeating: 0, count: P * P)
        for j in 0..<m {
            let row = j * P
            for a in 0..<P where J[row + a] != 0 {
                let ja = J[row + a]
                for b in 0..<P { G[a * P + b] += ja * J[row + b] }
            }
        }
        let invM = 1 / Double(m)
        for k in 0..<(P * P) {
            G[k] *= invM
            H[k] = H[k] * invM + G[k]
        }
        let (projector, rank) = try Self.tangentProjector(constraints, P)
        constraintRank = rank
        if let projector {
            if gram { G = Self.compress(G, projector, P) }
            H = Self.compress(H, projector, P)
        }
        hessianEigenvalues = try Self.symmetricEigenvalues(H, P)
        gramEigenvalues = gram ? try Self.symmetricEigenvalues(G, P) : []
    }

    /// Π = I − U_r U_rᵀ, U_r the left singular vectors of Aᵀ (P×k) with singular values above
    /// 1e-12 of the largest (GSL's Golub–Reinsch SVD, `gsl_linalg_SV_decomp`: singular values to
    /// ε·σ_max, far below the threshold); nil without constraints.
    ///
    /// GSL rather than LAPACK's `dgesdd`: every run's summary computes ρ_H of its first plateau,
    /// so LAPACK here made every `reluflow simulate` load OpenBLAS (dlopen, 12 000 symbol
    /// bindings, its threads): 15.6 M of the 73 M instructions of a run to T = 1e-3 (issue 22).
    /// Π is unique given the rank, so the two SVDs give it to rounding.
    static func tangentProjector(_ rows: [[Double]], _ P: Int) throws -> ([Double]?, Int) {
        guard !rows.isEmpty else { return (nil, 0) }
        // Reduce to at most P rows first when needed: AᵀA has the same row space.
        let effective: [[Double]]
        if rows.count > P {
            var ata = [Double](repeating: 0, count: P * P)
            for row in rows { for a in 0..<P where row[a] != 0 { for b in 0..<P { ata[a * P + b] += row[a] * row[b] } } }
            effective = (0..<P).map { Array(ata[($0 * P)..<(($0 + 1) * P)]) }
        } else {
            effective = rows
        }
        let k = effective.count
        let size = "the \(P)×\(k) constraint matrix of a mode"
        let routine = "GSL gsl_linalg_SV_decomp"
        guard effective.allSatisfy({ $0.allSatisfy(\.isFinite) }) else { throw NumericalError(routine, "non-finite entries in \(size)") }
        GSLRuntime.prepare()
        // A = Aᵀ of the rows (P×k, column c is constraint c) = U S Vᵀ; A is overwritten by U.
        guard let A = gsl_matrix_alloc(P, k), let V = gsl_matrix_alloc(k, k), let S = gsl_vector_alloc(k),
              let work = gsl_vector_alloc(k) else {
            throw NumericalError(routine, "could not allocate the workspace for \(size)")
        }
        defer { gsl_matrix_free(A); gsl_matrix_free(V); gsl_vector_free(S); gsl_vector_free(work) }
        for (c, row) in effective.enumerated() { for a in 0..<P { gsl_matrix_set(A, a, c, row[a]) } }
        if let error = NumericalError.gsl(gsl_linalg_SV_decomp(A, V, S, work), "gsl_linalg_SV_decomp", size) { throw error }
        let singular = (0..<k).map { gsl_vector_get(S, $0) }
        let largest = singular.max() ?? 0
        var basis: [[Double]] = []
        for c in 0..<k where singular[c] > 1e-12 * largest {
            basis.append((0..<P).map { gsl_matrix_get(A, $0, c) })
        }
        var projector = [Double](repeating: 0, count: P * P)
        for a in 0..<P { projector[a * P + a] = 1 }
        for u in basis { for a in 0..<P { for b in 0..<P { projector[a * P + b] -= u[a] * u[b] } } }
        return (projector, basis.count)
    }

    /// Π M Π (symmetrised against rounding).
    static func compress(_ M: [Double], _ Pi: [Double], _ P: Int) -> [Double] {
        var MP = [Double](repeating: 0, count: P * P), out = [Double](repeating: 0, count: P * P)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(P), Int32(P), Int32(P), 1, M, Int32(P), Pi, Int32(P), 0, &MP, Int32(P))
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(P), Int32(P), Int32(P), 1, Pi, Int32(P), MP, Int32(P), 0, &out, Int32(P))
        for a in 0..<P { for b in 0..<a { let v = 0.5 * (out[a * P + b] + out[b * P + a]); out[a * P + b] = v; out[b * P + a] = v } }
        return out
    }

    /// Eigenvalues of a symmetric P×P matrix (GSL `gsl_eigen_symm`), ascending.
    static func symmetricEigenvalues(_ M: [Double], _ P: Int) throws -> [Double] {
        guard P > 0 else { return [] }
        guard M.allSatisfy(\.isFinite) else { throw NumericalError("GSL gsl_eigen_symm", "non-finite entries in a \(P)×\(P) matrix of a mode") }
        GSLRuntime.prepare()
        let A = gsl_matrix_alloc(P, P)!, values = gsl_vector_alloc(P)!, work = gsl_eigen_symm_alloc(P)!
        defer { gsl_matrix_free(A); gsl_vector_free(values); gsl_eigen_symm_free(work) }
        for a in 0..<P { for b in 0..<P { gsl_matrix_set(A, a, b, M[a * P + b]) } }
        if let error = NumericalError.gsl(gsl_eigen_symm(A, values, work), "gsl_eigen_symm", "a \(P)×\(P) matrix of a mode") { throw error }
        return (0..<P).map { gsl_vector_get(values, $0) }.sorted()
    }
}
