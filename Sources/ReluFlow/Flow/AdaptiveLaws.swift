import Foundation

/// Which flow a run integrates (SPEC §3, §7; `flow.kind`): the gradient flow θ' = −g, or one of
/// the adaptive flows, the limits of RMSProp and Adam as η → 0 with their averaging horizons kept.
public enum FlowKind: Sendable, Equatable {
    case gradient
    case rmsprop(RMSPropFlow)
    case adam(AdamFlow)

    /// The config name (`flow.kind`).
    public var name: String {
        switch self {
        case .gradient: return "gradient"
        case .rmsprop: return "rmsprop"
        case .adam: return "adam"
        }
    }

    /// The velocity law of an adaptive flow; nil for the gradient flow.
    public var law: (any AdaptiveLaw)? {
        switch self {
        case .gradient: return nil
        case .rmsprop(let law): return law
        case .adam(let law): return law
        }
    }

    public static let names = "gradient, rmsprop, adam"
}

/// The velocity law of an adaptive flow (SPEC §7), elementwise in the parameters.
///
/// State of an adaptive flow: y = (θ, D, a) with θ ∈ R^P, the dissipation quadrature D (index P,
/// D' = −g·θ', so that L(0) − L(t) = D(t) for every flow, the gradient flow's ∫|θ'|² included) and
/// the law's auxiliary state a ∈ R^A after it (`auxiliaryCount`). The law maps the mode's gradient
/// g = ∇L_M(θ) and a to (θ', a'); it never sees θ itself, so the switching functions of a mode
/// depend on the θ part only and the Filippov rules of SPEC §4 apply to the whole state unchanged:
/// on a surface (θ, D, a)' = F⁻ + α(F⁺ − F⁻), F± the law at g±, α with ż = ∇z·θ'(α) = 0.
///
/// `partials` gives the law's exact derivatives, component by component; a field assembles its
/// Jacobian from them and exact Hessian products (∂g/∂θ = ∇²L_M), never from differences.
public protocol AdaptiveLaw: Sendable {
    /// The config name (`flow.kind`).
    var name: String { get }
    /// A, the entries of the auxiliary state for P parameters.
    func auxiliaryCount(parameters P: Int) -> Int
    /// a(0) from g(θ(0)).
    func initialAuxiliary(gradient g: [Double]) -> [Double]
    /// θ' (P entries) and a' (A entries) from g and a.
    func velocity(P: Int, gradient g: UnsafePointer<Double>, auxiliary a: UnsafePointer<Double>,
                  thetaDot: UnsafeMutablePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>)
    /// Adds `weight` × ∂(θ', a')/∂(θ, a) into the rows and columns of θ (0..<P) and a (from
    /// `auxOffset`) of `J` (row-major, `dim` columns), with ∂g/∂θ = `hessian` (P × P row-major, the
    /// mode's exact Hessian). The D row and column are the field's.
    func addJacobian(P: Int, gradient g: UnsafePointer<Double>, auxiliary a: UnsafePointer<Double>,
                     hessian: UnsafePointer<Double>, weight: Double,
                     into J: UnsafeMutablePointer<Double>, dim: Int, auxOffset: Int)
    /// The auxiliary state `elapsed` after `a` with g held constant (θ held: a stationary or
    /// zero-loss hold): the exact solution of the auxiliary equations, into `out` (A entries).
    func heldAuxiliary(P: Int, gradient g: [Double], auxiliary a: UnsafePointer<Double>, elapsed: Double,
                       into out: UnsafeMutablePointer<Double>)
    /// Adds to a' (`auxiliaryDot`, A entries) what the Filippov mean of a' over a random gradient
    /// has beyond a' at the mean gradient: a' is affine in g and in g² component by component, so
    /// with mean ḡ and componentwise variance s², E[a'(g)] = a'(ḡ) + (coefficient of g²) s².
    /// (Several surfaces sliding at once, `AdaptiveField`: independent Bernoulli(α_k) sides.)
    func addGradientVariance(P: Int, variance s2: UnsafePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>)
    /// The whole auxiliary state from its exported entries at time t (a resumed run's checkpoint).
    func restoredAuxiliary(exported: [Double], t: Double) -> [Double]
    /// Names of the exported auxiliary entries (the first ones of a; trajectory columns after
    /// `dissipated`): `v:NAME` for RMSProp's v of parameter NAME, `m:NAME` and `v:NAME` for Adam
    /// (Adam's s = t is not exported).
    func auxiliaryNames(parameterNames: [String]) -> [String]
}

extension AdaptiveLaw {
    /// A law without auxiliary state has nothing to advance (the held state is copied).
    public func heldAuxiliary(P: Int, gradient g: [Double], auxiliary a: UnsafePointer<Double>, elapsed: Double,
                              into out: UnsafeMutablePointer<Double>) {
        for q in 0..<auxiliaryCount(parameters: P) { out[q] = a[q] }
    }
}

/// The RMSProp flow (SPEC §7), elementwise:
///
///     θ' = −g/(√v + ε),   v' = (g² − v)/τ,   v(0) = g(θ(0))².
///
/// τ = η/(1 − α) is the averaging horizon in flow time (default 10); ε > 0 (default 1e-8).
/// v ≥ 0 along exact solutions (v' ≥ −v/τ); a stage value below 0 (rounding in a step) is read as
/// 0 in √v, as the reference does.
///
/// Derivatives (v > 0): ∂θ'/∂g = −1/(√v + ε), ∂θ'/∂v = g/(2√v (√v + ε)²), ∂v'/∂g = 2g/τ,
/// ∂v'/∂v = −1/τ. At v = 0 the field is not Lipschitz in v unless g = 0 (√v has an infinite
/// slope); ∂θ'/∂v is then taken as 0 (the one-sided slope where g = 0, and a finite stand-in for
/// the Newton iterations of an implicit stepper otherwise).
///
/// Limits: τ → 0 makes v follow g² at once, θ' → −g/(|g| + ε), the sign-like normalised flow;
/// ε → ∞ gives θ' ≈ −g/ε, the gradient flow slowed by ε (θ(t) ≈ θ_GF(t/ε)).
public struct RMSPropFlow: AdaptiveLaw, Equatable {
    public var tau: Double
    public var epsilon: Double

    public static let defaultTau = 10.0
    public static let defaultEpsilon = 1e-8

    public init(tau: Double = RMSPropFlow.defaultTau, epsilon: Double = RMSPropFlow.defaultEpsilon) {
        self.tau = tau
        self.epsilon = epsilon
    }

    public var name: String { "rmsprop" }

    public func auxiliaryCount(parameters P: Int) -> Int { P }

    public func initialAuxiliary(gradient g: [Double]) -> [Double] { g.map { $0 * $0 } }

    public func velocity(P: Int, gradient g: UnsafePointer<Double>, auxiliary a: UnsafePointer<Double>,
                         thetaDot: UnsafeMutablePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>) {
        let rate = 1 / tau
        for k in 0..<P {
            let gk = g[k], v = a[k]
            thetaDot[k] = -gk / (max(v, 0).squareRoot() + epsilon)
            auxiliaryDot[k] = (gk * gk - v) * rate
        }
    }

    /// (∂θ'/∂g, ∂θ'/∂v, ∂v'/∂g, ∂v'/∂v) of component k.
    public func partials(g: Double, v: Double) -> (thetaG: Double, thetaV: Double, vG: Double, vV: Double) {
        let r = max(v, 0).squareRoot(), den = r + epsilon
        let thetaV = r > 0 ? g / (2 * r * den * den) : 0
        return (-1 / den, thetaV, 2 * g / tau, -1 / tau)
    }

    public func addJacobian(P: Int, gradient g: UnsafePointer<Double>, auxiliary a: UnsafePointer<Double>,
                            hessian: UnsafePointer<Double>, weight: Double,
                            into J: UnsafeMutablePointer<Double>, dim: Int, auxOffset: Int) {
        for k in 0..<P {
            let p = partials(g: g[k], v: a[k])
            let rowTheta = k * dim, rowV = (auxOffset + k) * dim
            // θ'_k depends on θ through g_k: ∂θ'_k/∂θ_j = (∂θ'_k/∂g_k) H_kj; likewise v'_k.
            for j in 0..<P {
                let h = hessian[k * P + j]
                J[rowTheta + j] += weight * p.thetaG * h
                J[rowV + j] += weight * p.vG * h
            }
            J[rowTheta + auxOffset + k] += weight * p.thetaV
            J[rowV + auxOffset + k] += weight * p.vV
        }
    }

    public func auxiliaryNames(parameterNames: [String]) -> [String] { parameterNames.map { "v:\($0)" } }

    /// v' = (g² − v)/τ: E[v'] = v'(ḡ) + s²/τ.
    public func addGradientVariance(P: Int, variance s2: UnsafePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>) {
        let rate = 1 / tau
        for k in 0..<P { auxiliaryDot[k] += s2[k] * rate }
    }

    /// v(t) = g² + (v − g²) e^{−t/τ}.
    public func heldAuxiliary(P: Int, gradient g: [Double], auxiliary a: UnsafePointer<Double>, elapsed: Double,
                              into out: UnsafeMutablePointer<Double>) {
        let decay = exp(-elapsed / tau)
        for k in 0..<P { out[k] = g[k] * g[k] + (a[k] - g[k] * g[k]) * decay }
    }

    public func restoredAuxiliary(exported: [Double], t: Double) -> [Double] { exported }
}

/// The Adam flow (SPEC §7; the ODE of Barakat and Bianchi's analysis of Adam), elementwise:
///
///     m' = a (g − m),   v' = b (g² − v),   m(0) = v(0) = 0,
///     θ' = −m̂/(√v̂ + ε),   m̂ = m/(1 − e^{−a t}),   v̂ = v/(1 − e^{−b t}),
///
/// with the limits m̂ = g, v̂ = g² at t = 0 (m(t) = a t g + O(t²), and likewise v); a = (1 − β₁)/η,
/// b = (1 − β₂)/η (defaults 10, 0.1), ε > 0 (default 1e-8).
///
/// The field depends on t through the bias corrections; the state carries s = t (s' = 1, s(0) = 0:
/// integrated exactly by every Runge–Kutta and multistep method, a stage's s is its time), so the
/// system stays autonomous for the integrator and its restarts. Auxiliary layout: (m, v, s), A = 2P + 1.
/// The corrections are evaluated as m/(−expm1(−a s)) so that no cancellation occurs at small s.
///
/// θ' does not depend on g for s > 0: both sides of a switching surface have the same θ', every
/// surface is crossed and nothing slides (only m' and v' jump). The flow zig-zags where the
/// gradient flow would slide (the reference's docstring).
///
/// Derivatives (s > 0, v > 0), with β_a = 1 − e^{−a s}, β_b = 1 − e^{−b s}, r = √v̂:
///     ∂θ'/∂m = −1/(β_a (r + ε)),   ∂θ'/∂v = m̂/(2 r (r + ε)² β_b),
///     ∂θ'/∂s = −m̂_s/(r + ε) + m̂ v̂_s/(2 r (r + ε)²),  m̂_s = −m̂ a/expm1(a s),  v̂_s = −v̂ b/expm1(b s),
///     ∂m'/∂g = a, ∂m'/∂m = −a, ∂v'/∂g = 2 b g, ∂v'/∂v = −b.
/// At s = 0 the field is the limit θ' = −g/(|g| + ε) (∂θ'/∂g = −ε/(|g| + ε)²); it is not
/// differentiable in (m, v, s) there (∂θ'/∂m = −1/β_a is unbounded as s → 0), and those partials
/// are taken as 0: the Jacobian is only read by implicit steppers' Newton iterations, and the
/// solution itself is smooth.
public struct AdamFlow: AdaptiveLaw, Equatable {
    public var a: Double
    public var b: Double
    public var epsilon: Double

    public static let defaultA = 10.0
    public static let defaultB = 0.1
    public static let defaultEpsilon = 1e-8

    public init(a: Double = AdamFlow.defaultA, b: Double = AdamFlow.defaultB, epsilon: Double = AdamFlow.defaultEpsilon) {
        self.a = a
        self.b = b
        self.epsilon = epsilon
    }

    public var name: String { "adam" }

    public func auxiliaryCount(parameters P: Int) -> Int { 2 * P + 1 }

    public func initialAuxiliary(gradient g: [Double]) -> [Double] { [Double](repeating: 0, count: 2 * g.count + 1) }

    /// (m̂, v̂) of one component at s (the limits (g, g²) at s ≤ 0).
    @inline(__always)
    public func corrected(g: Double, m: Double, v: Double, s: Double) -> (mHat: Double, vHat: Double) {
        guard s > 0 else { return (g, g * g) }
        return (m / -expm1(-a * s), max(v, 0) / -expm1(-b * s))
    }

    public func velocity(P: Int, gradient g: UnsafePointer<Double>, auxiliary aux: UnsafePointer<Double>,
                         thetaDot: UnsafeMutablePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>) {
        let s = aux[2 * P]
        let ca = s > 0 ? 1 / -expm1(-a * s) : 0, cb = s > 0 ? 1 / -expm1(-b * s) : 0
        for k in 0..<P {
            let gk = g[k], m = aux[k], v = aux[P + k]
            let mHat = s > 0 ? m * ca : gk
            let vHat = s > 0 ? max(v, 0) * cb : gk * gk
            thetaDot[k] = -mHat / (vHat.squareRoot() + epsilon)
            auxiliaryDot[k] = a * (gk - m)
            auxiliaryDot[P + k] = b * (gk * gk - v)
        }
        auxiliaryDot[2 * P] = 1
    }

    /// ∂θ'_k/∂(g, m, v, s) and ∂m'/∂(g, m), ∂v'/∂(g, v) of component k.
    public func partials(g: Double, m: Double, v: Double, s: Double)
        -> (thetaG: Double, thetaM: Double, thetaV: Double, thetaS: Double, mG: Double, mM: Double, vG: Double, vV: Double) {
        guard s > 0 else {
            let den = abs(g) + epsilon
            return (-epsilon / (den * den), 0, 0, 0, a, -a, 2 * b * g, -b)
        }
        let betaA = -expm1(-a * s), betaB = -expm1(-b * s)
        let mHat = m / betaA, vHat = max(v, 0) / betaB
        let r = vHat.squareRoot(), den = r + epsilon
        let thetaM = -1 / (betaA * den)
        let thetaV = r > 0 ? mHat / (2 * r * den * den * betaB) : 0
        let mHatS = -mHat * a / expm1(a * s), vHatS = -vHat * b / expm1(b * s)
        let thetaS = -mHatS / den + (r > 0 ? mHat * vHatS / (2 * r * den * den) : 0)
        return (0, thetaM, thetaV, thetaS, a, -a, 2 * b * g, -b)
    }

    public func addJacobian(P: Int, gradient g: UnsafePointer<Double>, auxiliary aux: UnsafePointer<Double>,
                            hessian: UnsafePointer<Double>, weight: Double,
                            into J: UnsafeMutablePointer<Double>, dim: Int, auxOffset: Int) {
        let s = aux[2 * P]
        for k in 0..<P {
            let p = partials(g: g[k], m: aux[k], v: aux[P + k], s: s)
            let rowTheta = k * dim, rowM = (auxOffset + k) * dim, rowV = (auxOffset + P + k) * dim
            for j in 0..<P {
                let h = hessian[k * P + j]
                if p.thetaG != 0 { J[rowTheta + j] += weight * p.thetaG * h }
                J[rowM + j] += weight * p.mG * h
                J[rowV + j] += weight * p.vG * h
            }
            J[rowTheta + auxOffset + k] += weight * p.thetaM
            J[rowTheta + auxOffset + P + k] += weight * p.thetaV
            J[rowTheta + auxOffset + 2 * P] += weight * p.thetaS
            J[rowM + auxOffset + k] += weight * p.mM
            J[rowV + auxOffset + P + k] += weight * p.vV
        }
        // s' = 1: a zero row.
    }

    public func auxiliaryNames(parameterNames: [String]) -> [String] {
        parameterNames.map { "m:\($0)" } + parameterNames.map { "v:\($0)" }
    }

    /// m' = a(g − m) is linear in g (nothing to add), v' = b(g² − v): E[v'] = v'(ḡ) + b s².
    public func addGradientVariance(P: Int, variance s2: UnsafePointer<Double>, auxiliaryDot: UnsafeMutablePointer<Double>) {
        for k in 0..<P { auxiliaryDot[P + k] += b * s2[k] }
    }

    /// m(t) = g + (m − g) e^{−a t}, v(t) = g² + (v − g²) e^{−b t}, s + t.
    public func heldAuxiliary(P: Int, gradient g: [Double], auxiliary aux: UnsafePointer<Double>, elapsed: Double,
                              into out: UnsafeMutablePointer<Double>) {
        let da = exp(-a * elapsed), db = exp(-b * elapsed)
        for k in 0..<P {
            out[k] = g[k] + (aux[k] - g[k]) * da
            out[P + k] = g[k] * g[k] + (aux[P + k] - g[k] * g[k]) * db
        }
        out[2 * P] = aux[2 * P] + elapsed
    }

    /// (m, v) and s = t.
    public func restoredAuxiliary(exported: [Double], t: Double) -> [Double] { exported + [t] }
}
