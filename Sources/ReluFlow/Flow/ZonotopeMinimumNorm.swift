/// The minimum-norm point of a zonotope, `min ½|a + Σ_k s_k u_k|²` over the box s ∈ [0, 1]^K
/// (SPEC §4, several surfaces at once).
///
/// For one neuron on K switching surfaces that all attract (c_i R_g > 0), the Filippov velocity
/// of its (w_i, b_i) block is `F(s) = a + Σ_g s_g u_g` with `u_g = −(c_i/m) R_g x̃_g`, and a
/// continuation is consistent exactly when s solves this convex problem: its optimality
/// conditions, with `∂/∂s_g ½|F|² = u_g·F = −(c_i/m) R_g (x̃_g·F)`, are those of §4 — a pair
/// with s_g = 0 (off) has normal velocity x̃_g·F ≤ 0, one with s_g = 1 (on) has x̃_g·F ≥ 0, and
/// one with s_g inside (0, 1) slides, x̃_g·F = 0. F is unique even when the surfaces are
/// dependent (points on one hyperplane, as in a grid), where s is not: this is the velocity the
/// flow takes, the slowest element of the Clarke subdifferential's negative.
///
/// Primal active-set method: on the current face (free set Φ, the others at 0 or 1) the face
/// minimiser is reached by the smallest change of s_Φ (pseudo-inverse of the (d+1)×(d+1) matrix
/// Σ_Φ u uᵀ, GSL's symmetric eigensolver), stopping at the first bound it meets; at a face
/// minimum the bound variable that violates its optimality condition most is freed. Every step
/// lowers |F|², so the method ends; it is also capped.
struct ZonotopeMinimumNorm {
    /// Dimension of the points (d + 1).
    let dimension: Int
    /// The point a.
    let origin: [Double]
    /// Generators u_k, K×dimension row-major.
    let generators: [Double]

    var count: Int { generators.count / dimension }

    struct Solution {
        /// The weights s ∈ [0, 1]^K.
        var weights: [Double]
        /// F = a + Σ s_k u_k.
        var point: [Double]
        /// Whether every optimality condition holds within its tolerance.
        var converged: Bool
    }

    /// - Parameters:
    ///   - start: weights to start from (clamped to the box); warm starts from the mode in force.
    ///   - tolerance: per generator, the size of `u_k·F` below which its optimality condition counts
    ///     as met (rounding level of the normal velocity times |u_k|/|x̃_k|).
    func solve(start: [Double], tolerance: [Double]) throws -> Solution {
        let e = dimension, K = count
        var s = start.map { min(1, max(0, $0)) }
        var free = Set((0..<K).filter { s[$0] > 0 && s[$0] < 1 })
        func point() -> [Double] {
            var F = origin
            for k in 0..<K where s[k] != 0 { for q in 0..<e { F[q] += s[k] * generators[k * e + q] } }
            return F
        }
        func dot(_ k: Int, _ v: [Double]) -> Double {
            var t = 0.0
            for q in 0..<e { t += generators[k * e + q] * v[q] }
            return t
        }
        for _ in 0..<(20 * K + 50) {
            if !free.isEmpty {
                // Face minimum: the residual F of the current s projected off span{u_k : k ∈ Φ}; the
                // smallest change δ of s_Φ with Σ_Φ δ_k u_k = −P F, δ = U_Φᵀ A⁺ (−P F), A = U_Φ U_Φᵀ.
                let F = point()
                var A = [Double](repeating: 0, count: e * e)
                for k in free { for q in 0..<e { for r in 0..<e { A[q * e + r] += generators[k * e + q] * generators[k * e + r] } } }
                let (values, vectors) = try SurfaceSet.symmetricEigen(A, e)
                let largest = values.map(abs).max() ?? 0
                var target = [Double](repeating: 0, count: e)   // A⁺(−F) restricted to range(A) = A⁺(−P F)
                for c in 0..<e where values[c] > 1e-12 * largest {
                    var p = 0.0
                    for q in 0..<e { p += vectors[q * e + c] * F[q] }
                    for q in 0..<e { target[q] -= vectors[q * e + c] * p / values[c] }
                }
                var step = 1.0, blocking: Int? = nil
                var delta: [Int: Double] = [:]
                for k in free {
                    let dk = dot(k, target)
                    delta[k] = dk
                    let room = dk < 0 ? -s[k] / dk : dk > 0 ? (1 - s[k]) / dk : .infinity
                    if room < step { step = room; blocking = k }
                }
                for (k, dk) in delta { s[k] = min(1, max(0, s[k] + step * dk)) }
                if let k = blocking {
                    s[k] = delta[k]! < 0 ? 0 : 1
                    free.remove(k)
                    continue
                }
            }
            // At the face minimum: free the most violated bound variable, or stop.
            let F = point()
            var worst = 0.0, enter: Int? = nil
            for k in 0..<K where !free.contains(k) {
                let g = dot(k, F)
                let violation = s[k] == 0 ? -g - tolerance[k] : g - tolerance[k]
                if violation > worst { worst = violation; enter = k }
            }
            guard let k = enter else {
                // Free variables hold u_k·F = 0 at a face minimum, unless the pseudo-inverse dropped
                // their direction (a generator nearly in the span of the others): then this is no
                // optimum, and the caller must not take it for one.
                // (Rounding allowed for: u_k·F of a sum of terms as large as |a| + Σ|u_j|.)
                var magnitude = origin.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for j in 0..<K { magnitude += (0..<e).reduce(0.0) { $0 + generators[j * e + $1] * generators[j * e + $1] }.squareRoot() }
                let stationary = free.allSatisfy { k in
                    let norm = (0..<e).reduce(0.0) { $0 + generators[k * e + $1] * generators[k * e + $1] }.squareRoot()
                    return abs(dot(k, F)) <= tolerance[k] + 64 * Double.ulpOfOne * norm * magnitude
                }
                return Solution(weights: s, point: F, converged: stationary)
            }
            free.insert(k)
        }
        return Solution(weights: s, point: point(), converged: false)
    }
}
