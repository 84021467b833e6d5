import Foundation

/// A consistent set of sliding surfaces where K surfaces meet (SPEC §4's several-surface rule carried
/// to §7 and §8), as the limit of the regularised switching.
///
/// Every candidate surface j has its σ'(0) = α_j ∈ [0, 1] (α_j = 0: its pairs off, 1: on, between:
/// sliding) and its normal rate ż_j(α) (continuous, affine in each α_k alone: `SlidingSystem`). A
/// consistent set is α in the box with
///
///     α_j = 0 ⇒ ż_j ≤ 0,   α_j = 1 ⇒ ż_j ≥ 0,   0 < α_j < 1 ⇒ ż_j = 0,
///
/// a variational inequality on the box with the continuous map −ż: by Hartman–Stampacchia (Brouwer
/// on the box) one always exists, so "no consistent set" is a failure of the search, not of the
/// Filippov rule (measured: enumerating the 3^K on/off/sliding assignments is limited to K ≤ 6, and
/// the escape grid's bias-free deep networks meet 10 at once).
///
/// The solution is found as the singular limit of the regularised switch (Sotomayor–Teixeira):
/// each pair's side replaced by a steep sigmoid of ż, α_j = σ(ż_j(α)/(μ s_j)), s_j the rate's own
/// scale, μ → 0. In the logit u_j = log(α_j/(1 − α_j)) the fixed point is the zero of
///
///     Φ_j(u) = μ s_j u_j − ż_j(σ(u)),   ∂Φ/∂u = μ diag(s) − J diag(σ'(u)),
///
/// (J_jk = ż_j(α; α_k = 1) − ż_j(α; α_k = 0), exact for a multi-affine ż), well conditioned both
/// where a surface saturates (its column μ s_k e_k) and where it slides (J's). Damped Newton at
/// each μ from the last one's u, μ from 1 down to 1e-15 by tenths. A surface ends off where
/// u_j < −`saturation`, on where u_j > `saturation`, else sliding; the caller checks the result
/// with its own exact test (the sliding system solved again in that mode).
enum BoxComplementarity {
    /// |u| beyond which a surface counts as decided (α or 1 − α below e^−30 ≈ 1e-13).
    static let saturation = 30.0

    /// The states (−1 off, 0 sliding, +1 on) of the K surfaces and their α's, or nil when Newton
    /// fails at some μ (no finite u). `rates(α)`: ż of the K surfaces with σ'(0) = α_k on surface k;
    /// `start`: the initial α's (the one-surface decisions: 0, 1 or ½), clamped into the box's inside.
    static func solve(count K: Int, start: [Double], rates: ([Double]) -> [Double]) -> (states: [Int], alphas: [Double])? {
        guard K > 0, start.count == K else { return nil }
        func sigmoid(_ u: Double) -> Double { u >= 0 ? 1 / (1 + exp(-u)) : exp(u) / (1 + exp(u)) }
        func size(_ v: [Double]) -> Double { v.reduce(0) { max($0, abs($1)) } }
        var u = start.map { a -> Double in
            let c = min(max(a, 1e-3), 1 - 1e-3)
            return log(c / (1 - c))
        }
        // The rates' scale: |ż| at the corners of each α alone (the columns' sizes) and at the start.
        let r0 = rates(u.map(sigmoid))
        var s = r0.map { abs($0) }
        for k in 0..<K {
            var hi = u.map(sigmoid), lo = hi
            hi[k] = 1; lo[k] = 0
            let rh = rates(hi), rl = rates(lo)
            for j in 0..<K { s[j] = max(s[j], abs(rh[j]), abs(rl[j])) }
        }
        let floor = max(size(s), .leastNormalMagnitude) * 1e-300
        s = s.map { max($0, floor) }
        var mu = 1.0
        while mu >= 1e-15 {
            func phi(_ u: [Double]) -> [Double] {
                let r = rates(u.map(sigmoid))
                return (0..<K).map { (mu * s[$0] * u[$0] - r[$0]) / s[$0] }
            }
            var f = phi(u)
            for _ in 0..<40 {
                let before = size(f)
                if !(before.isFinite) { return nil }
                if before <= 1e-13 * mu + 1e-15 { break }
                let a = u.map(sigmoid)
                var M = [Double](repeating: 0, count: K * K)
                for k in 0..<K {
                    var hi = a, lo = a
                    hi[k] = 1; lo[k] = 0
                    let rh = rates(hi), rl = rates(lo)
                    let ds = a[k] * (1 - a[k])
                    for j in 0..<K { M[j * K + k] = -(rh[j] - rl[j]) * ds / s[j] }
                    M[k * K + k] += mu
                }
                // Columns equilibrated: a saturated surface's column is μ e_k, far below the
                // sliding ones' and under the solver's rank cutoff unless scaled.
                var columnScale = [Double](repeating: 1, count: K)
                for k in 0..<K {
                    var size = 0.0
                    for j in 0..<K { size = max(size, abs(M[j * K + k])) }
                    if size > 0 && size.isFinite { columnScale[k] = 1 / size }
                    for j in 0..<K { M[j * K + k] *= columnScale[k] }
                }
                guard let scaled = try? SlidingSystem.solve(M, f, centre: [Double](repeating: 0, count: K), exact: false),
                      scaled.allSatisfy(\.isFinite) else { return nil }
                let step = (0..<K).map { scaled[$0] * columnScale[$0] }
                var lambda = 1.0, trial = u, trialF = f, decreased = false
                while true {
                    for k in 0..<K { trial[k] = u[k] + lambda * step[k] }
                    trialF = phi(trial)
                    decreased = size(trialF) < before
                    if decreased || lambda <= 1.0 / 4096 { break }
                    lambda /= 2
                }
                guard decreased else { break }
                u = trial
                f = trialF
            }
            mu /= 10
        }
        guard u.allSatisfy(\.isFinite) else { return nil }
        let states = u.map { $0 < -saturation ? -1 : ($0 > saturation ? 1 : 0) }
        return (states, u.map(sigmoid))
    }
}
