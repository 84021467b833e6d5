import Foundation

extension AdaptiveField {
    /// The Adam flow's stiffness for the `auto` rule (SPEC §7): the largest decay rate |Re λ| among
    /// the real eigenvalues of its linearisation about the current state, the modes a BDF step can
    /// step over. θ' = Θ(m, v, s) does not depend on θ; with Θ_m, Θ_v the law's diagonal partials
    /// and H = ∇²L of the mode, an eigenvector (u, w, q) with eigenvalue λ satisfies
    ///
    ///     λu = Θ_m w + Θ_v q,   λw = a(Hu − w),   λq = b(2 g∘Hu − q),
    ///     so  λu = (aΘ_m/(λ + a) + 2bΘ_v∘g/(λ + b)) H u.
    ///
    /// Where |λ| ≫ b this is λ² + aλ + μ = 0 for the eigenvalues μ of W H, W = −(aΘ_m + 2bΘ_v∘g)
    /// diagonal (those of |W|^½ H |W|^½ where W ≥ 0): a damped oscillator per mode,
    ///
    ///     μ > a²/4: λ = −a/2 ± i√(μ − a²/4), |λ| = √μ;   0 ≤ μ ≤ a²/4: λ real in [−a, 0];
    ///     μ < 0 (negative curvature): λ = (−a ± √(a² − 4μ))/2, one growing, one decaying fast.
    ///
    /// An explicit step is limited by |λ| of every mode, but only the real decaying ones are modes a
    /// BDF step can leave unresolved: the oscillating pairs decay at a/2 whatever μ, and msbdf's
    /// orders 3–5 are not stable near the imaginary axis (measured: on the escape grid's
    /// [1, 8×6, 1] network, μ ~ 5000 from t ≈ 3.5, msbdf took 744 steps and 17 s where rk8pd alone
    /// takes 650 steps and 0.2 s for the whole run). So the estimate is max(a, b, (a + √(a² − 4μ_min))/2)
    /// with μ_min the smallest eigenvalue of |W|^½ H |W|^½ where it is negative: power iteration for the
    /// dominant eigenvalue (its sign by the Rayleigh quotient), then on μ_top·I − |W|^½ H |W|^½ for the
    /// other end; 12 exact Hessian–vector products each on a deep base (differences of the base's
    /// gradient otherwise).
    ///
    /// Why not √(a ρ(H)/min_p(√v̂_p + ε)), the bound used before: a parameter with g = v = 0 (a unit
    /// off on every point, its weights in and out) has |Θ_m| = 1/(β_a ε) ~ 10⁸ but zero rows in H,
    /// so it takes no part in the dynamics; the bound took the escape grid's [1, 16×5, 1] Adam run to
    /// msbdf at t = 0.009, where one step of its (3P + 2)² = 3170² iteration matrix took the run's
    /// whole minute, while rk8pd alone completes it to T = 500 in 3.7 s.
    func adamStiffnessEstimate(_ adam: AdamFlow, gradient g: [Double], at y: UnsafePointer<Double>) -> Double {
        let floor = max(adam.a, adam.b)
        guard let (top, bottom) = adamCurvatureRange(adam, gradient: g, at: y) else { return floor }
        let lowest = min(top, bottom)
        guard lowest < 0 else { return floor }
        return max(floor, (adam.a + (adam.a * adam.a - 4 * lowest).squareRoot()) / 2)
    }

    /// The RMSProp flow's stiffness for the `auto` rule (SPEC §7): the largest decay rate among the
    /// eigenvalues of its linearisation. With D = diag(1/S), S = √v + ε, C = diag(∂θ'/∂v) =
    /// diag(g/(2√v S²)) and H = ∇²L of the mode, an eigenvector (u, q) with eigenvalue λ satisfies
    ///
    ///     λu = −D H u + C q,   λq = (2 g∘Hu − q)/τ,
    ///     so  λu = −D (I − K/(1 + τλ)) H u,   K = diag(g²/(√v S)) (2CG = D K),
    ///
    /// with 0 ≤ K ≲ 1 where v follows g². For |τλ| ≫ 1 the θ-modes are λ = −μ, μ the eigenvalues of
    /// D H, i.e. of the symmetric D^½ H D^½ (similar to it): real, decaying at rate μ where μ > 0,
    /// growing where μ < 0 (negative curvature, which a BDF step does not step over); the
    /// auxiliaries add rates near 1/τ. So the estimate is max(1/τ, μ_max), μ_max the largest
    /// eigenvalue of D^½ H D^½ (`curvatureRange`, its upper end: 12 or 24 exact Hessian–vector
    /// products on a deep base).
    ///
    /// It never exceeds the bound ρ(∇²L)/min_p S_p (D^½ H D^½ ⪯ ρ(H) max D), which is what the check
    /// takes first (`stiffnessEstimate`); this one is consulted only where that bound would switch
    /// to msbdf and a BDF step is dear (`StepperController.stiffnessCheck`'s `refined`,
    /// `StepperPolicy.refineFrom`), so runs the bound keeps explicit, and runs whose BDF steps are
    /// cheap, are unchanged bit for bit. Why the bound alone is not enough: a parameter with g = v = 0 (a unit
    /// off on every point, its weights in and out) has S = ε, D = 10⁸, but zero rows in H, so it takes
    /// no part in the dynamics (μ = 0 for its directions); the bound is then ~10⁸ ρ(H) and took the
    /// escape grid's width-16 networks (L ≥ 5) to msbdf, where each step factors the (2P + 1)² iteration
    /// matrix.
    func rmspropStiffnessEstimate(_ r: RMSPropFlow, at y: UnsafePointer<Double>) -> Double {
        let floor = 1 / r.tau
        var root = [Double](repeating: 0, count: P)
        for p in 0..<P { root[p] = 1 / (max(y[P + 1 + p], 0).squareRoot() + r.epsilon).squareRoot() }
        guard let (_, top) = curvatureRange(root: root, at: y, upperEnd: true) else { return floor }
        return max(floor, top)
    }

    /// (μ_top, μ_min) of |W|^½ H |W|^½ (`adamStiffnessEstimate`): the dominant eigenvalue with its
    /// sign, and the other end of the spectrum (μ_top again where the dominant one is negative).
    /// Nil before s > 0 or where H vanishes along the iterates.
    func adamCurvatureRange(_ adam: AdamFlow, gradient g: [Double], at y: UnsafePointer<Double>) -> (Double, Double)? {
        let s = y[P + 1 + 2 * P]
        guard s > 0, g.count == P else { return nil }
        var root = [Double](repeating: 0, count: P)
        for p in 0..<P {
            let d = adam.partials(g: g[p], m: y[P + 1 + p], v: y[P + 1 + P + p], s: s)
            let w = abs(adam.a * d.thetaM + 2 * adam.b * d.thetaV * g[p])
            root[p] = w.isFinite ? w.squareRoot() : 0
        }
        return curvatureRange(root: root, at: y)
    }

    /// (μ_top, μ_min) of R H R, R = diag(root), H = ∇²L of the base's mode at y: the dominant
    /// eigenvalue with its sign (12 power iterations, signed by the last Rayleigh quotient), and
    /// the other end of the spectrum by 12 more on μ_top·I − R H R (μ_top again where the dominant
    /// one is negative). With `upperEnd`, the other end is the largest eigenvalue instead: μ_top
    /// where it is positive, else μ_top plus the dominant one of R H R − μ_top·I (whose spectrum
    /// is then ≥ 0). Nil where H vanishes along the iterates.
    func curvatureRange(root: [Double], at y: UnsafePointer<Double>, upperEnd: Bool = false) -> (Double, Double)? {
        var u = [Double](repeating: 0, count: P), hu = u
        /// x ↦ R H R x − shift·x.
        func apply(_ x: [Double], shift: Double) -> [Double] {
            for p in 0..<P { u[p] = root[p] * x[p] }
            hessianVectorOfBase(y, u, into: &hu)
            return (0..<P).map { root[$0] * hu[$0] - shift * x[$0] }
        }
        /// 12 power iterations on the shifted operator: its dominant eigenvalue, signed by the
        /// Rayleigh quotient of the last iterate.
        func dominant(shift: Double) -> Double? {
            var x = (0..<P).map { $0 % 2 == 0 ? 1.0 : -0.7 }
            var norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            x = x.map { $0 / norm }
            var value: Double? = nil
            for _ in 0..<12 {
                let next = apply(x, shift: shift)
                norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0, norm.isFinite else { break }
                var quotient = 0.0
                for p in 0..<P { quotient += x[p] * next[p] }
                value = quotient < 0 ? -norm : norm
                x = next.map { $0 / norm }
            }
            return value
        }
        guard let top = dominant(shift: 0) else { return nil }
        if upperEnd {
            guard top < 0 else { return (top, top) }
            guard let spread = dominant(shift: top) else { return (top, top) }
            return (top, top + spread)
        }
        guard top > 0 else { return (top, top) }
        guard let spread = dominant(shift: top) else { return (top, top) }
        return (top, top + spread)
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
