import Foundation

extension AdaptiveField {
    /// The Adam flow's spectral radius for the `auto` rule's stiffness check (SPEC §7), from the
    /// linearisation of (θ, m, v) about the current state. θ' = Θ(m, v, s) does not depend on θ; with
    /// Θ_m, Θ_v the law's diagonal partials and H = ∇²L of the mode, an eigenvector (u, w, q) with
    /// eigenvalue λ satisfies
    ///
    ///     λu = Θ_m w + Θ_v q,   λw = a(Hu − w),   λq = b(2 g∘Hu − q),
    ///     so  λu = (aΘ_m/(λ + a) + 2bΘ_v∘g/(λ + b)) H u.
    ///
    /// Where |λ| ≫ a, b (the fast modes that limit an explicit step) this is λ²u = −W H u with
    /// W = −(aΘ_m + 2bΘ_v∘g) diagonal: |λ| = √μ for the eigenvalues μ of W H, which are those of
    /// |W|^½ H |W|^½ where W ≥ 0. The estimate is max(a, b, √μ_max), μ_max by power iteration on
    /// |W|^½ H |W|^½ (12 exact Hessian–vector products on a deep base, differences of the base's
    /// gradient otherwise).
    ///
    /// Why not ρ(H)·max_p |W_p|: a parameter with g = v = 0 (a unit off on every point, its weights
    /// in and out) has |Θ_m| = 1/(β_a ε) ~ 10⁸ but a zero row and column in H, so it takes no part
    /// in the dynamics; and early on (s ≪ 1/a) m̂ and v̂ are both averages over [0, s] of g and g²,
    /// so aΘ_m ≈ −1/(s|g|) and 2bΘ_v g ≈ 1/(s|g|) nearly cancel (θ' ≈ −g/|g| is flat in g). The
    /// product bound took the escape-grid's [1, 16×5, 1] Adam run to msbdf at t = 0.009, where one
    /// step of its (3P + 2)² = 3170² iteration matrix (GSL's LU on gslcblas) took the run's whole
    /// minute, while rk8pd alone completes it to T = 500 in 3.7 s.
    func adamStiffnessEstimate(_ adam: AdamFlow, gradient g: [Double], at y: UnsafePointer<Double>) -> Double {
        let s = y[P + 1 + 2 * P]
        let floor = max(adam.a, adam.b)
        guard s > 0, g.count == P else { return floor }
        var root = [Double](repeating: 0, count: P)
        for p in 0..<P {
            let d = adam.partials(g: g[p], m: y[P + 1 + p], v: y[P + 1 + P + p], s: s)
            let w = abs(adam.a * d.thetaM + 2 * adam.b * d.thetaV * g[p])
            root[p] = w.isFinite ? w.squareRoot() : 0
        }
        var x = (0..<P).map { $0 % 2 == 0 ? 1.0 : -0.7 }
        var norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for p in 0..<P { x[p] /= norm }
        var u = [Double](repeating: 0, count: P), hu = u
        var mu = 0.0
        for _ in 0..<12 {
            for p in 0..<P { u[p] = root[p] * x[p] }
            hessianVectorOfBase(y, u, into: &hu)
            norm = 0
            for p in 0..<P {
                x[p] = root[p] * hu[p]
                norm += x[p] * x[p]
            }
            norm = norm.squareRoot()
            guard norm > 0, norm.isFinite else { break }
            mu = norm
            for p in 0..<P { x[p] /= norm }
        }
        return max(floor, mu.squareRoot())
    }

    /// ∇²L u of the base's mode (the sliding pairs off, as the base is held): exact on a deep base,
    /// else by a forward difference of its gradient along u.
    private func hessianVectorOfBase(_ y: UnsafePointer<Double>, _ u: [Double], into out: inout [Double]) {
        if let deep = base as? DeepModeField {
            u.withUnsafeBufferPointer { ub in out.withUnsafeMutableBufferPointer { deep.modeHessianVector(y, ub.baseAddress!, into: $0.baseAddress!) } }
            return
        }
        var uNorm = 0.0, yNorm = 0.0
        for p in 0..<P { uNorm += u[p] * u[p]; yNorm += y[p] * y[p] }
        uNorm = uNorm.squareRoot()
        guard uNorm > 0 else { for p in 0..<P { out[p] = 0 }; return }
        let h = Double.ulpOfOne.squareRoot() * max(1, yNorm.squareRoot()) / uNorm
        var shifted = [Double](repeating: 0, count: P + 1), f0 = shifted, f1 = shifted
        for p in 0..<P { shifted[p] = y[p] }
        _ = base.evaluate(shifted, &f0)
        for p in 0..<P { shifted[p] = y[p] + h * u[p] }
        _ = base.evaluate(shifted, &f1)
        for p in 0..<P { out[p] = -(f1[p] - f0[p]) / h }
    }
}
