@preconcurrency import CGSL

/// The α's of K surfaces sliding at once (SPEC §4, several surfaces at once; §7 and §8). With
/// σ'(0) := α_k on the pairs of surface k, the normal rates are ż_j(α) = c_j + Σ_k A_jk α_k
/// wherever the field is affine in the α's (A_jk: the rate of surface j along the change of the
/// velocity that α_k = 1 brings), and sliding on all K surfaces asks for ż = 0: the K×K system
/// A α = −c. Where two sliding pairs of a deep network lie on one point in different layers
/// ("coupled") products of their α's enter and ż(α) is multilinear (affine in each α_k alone):
/// `newton`, `coupledAlphas`. Both are shared by the deep gradient flow (`DeepModeField`, θ' = −g)
/// and the RMSProp flow (`AdaptiveField`, θ' = −g/(√v + ε)): θ' is linear in g for both, so ż is
/// the same multilinear function of the α's, only its coefficients differ.
///
/// `solve(_:_:centre:)`: A can be singular with the system still consistent: surfaces that are one
/// set in θ without being tied (in d = 1 without biases, a first-layer unit's surfaces on x > 0 and
/// x < 0 are both {w = 0}) give equal rows, and their α's are then not determined, while the
/// velocity may not depend on the choice. As SPEC §4 does for dependent surfaces of one neuron, the
/// solution is the one nearest to a given centre (the box's centre ½: the choice that keeps the
/// slides farthest from their exits): α = a₀ + A⁺(−c − A a₀), with GSL's SVD and the singular
/// values below 1e-12 σ_max dropped. It is returned only when it solves the system to rounding,
/// normwise (max_j |(Aα + c)_j| ≤ 1e-9 max(|c|_∞, |A|_∞ |α|_∞)); nil otherwise (or, with
/// `exact: false`, whatever its residual, for the caller to judge against the rates' rounding level).
enum SlidingSystem {
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
        if status != GSL_SUCCESS {
            // Golub–Reinsch's QR sweeps can run out of iterations on a badly scaled matrix (measured:
            // GSL_EMAXITER on 5 × 5 systems of escape-grid networks under the RMSProp flow, whose
            // entries span the dead units' near-zero rates and the live ones'); one-sided Jacobi on
            // the matrix scaled by its largest entry (the same α: r is scaled with it) converges
            // unconditionally. Only here, so every system GSL's default solves keeps its rounding.
            let scale = A.reduce(0) { max($0, abs($1)) }
            guard scale > 0, scale.isFinite else {
                throw NumericalError("GSL gsl_linalg_SV_decomp", "sliding system \(K)×\(K): status \(status)")
            }
            u = A.map { $0 / scale }
            r = r.map { $0 / scale }
            let jacobi = u.withUnsafeMutableBufferPointer { up in
                v.withUnsafeMutableBufferPointer { vp in
                    sigma.withUnsafeMutableBufferPointer { sp in
                        var um = gsl_matrix_view_array(up.baseAddress, K, K)
                        var vm = gsl_matrix_view_array(vp.baseAddress, K, K)
                        var sv = gsl_vector_view_array(sp.baseAddress, K)
                        return gsl_linalg_SV_decomp_jacobi(&um.matrix, &vm.matrix, &sv.vector)
                    }
                }
            }
            guard jacobi == GSL_SUCCESS else {
                throw NumericalError("GSL gsl_linalg_SV_decomp", "sliding system \(K)×\(K): status \(status), Jacobi \(jacobi)")
            }
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

    /// Newton's method on ż(α) = 0 for coupled slides, from `a` (`rates(α)`: ż of the K surfaces
    /// with σ'(0) = α). The Jacobian column k is ż(α; α_k = 1) − ż(α; α_k = 0), exact because ż is
    /// affine in each α_k alone. Steps are least-squares (`solve` with `exact: false`, centre 0: a
    /// surface whose rates hardly depend on the α's, a unit no signal reaches, leaves J's rank short
    /// and its α free). Damped: a step is halved (down to 1/1024) until max|ż| decreases, so that
    /// starts far from the solution (the box's centre, with K up to ~10 coupled surfaces) still
    /// converge. Stops after a step that moves no α by more than 1e-11 (quadratic convergence: the
    /// α's are then at the rounding level, where steps of ~1e-14 go on for ever), or where no step
    /// lowers max|ż| and it is below 0.1 max|J| (the rounding floor: a Newton step always lowers
    /// max|ż| while ż is computed accurately; near a stationary point ż and its rounding shrink
    /// together and α is known only to their ratio, while the velocity's error, α's error times
    /// the sides' difference, shrinks with them); false when a step finds no solution, the floor is
    /// higher, or 40 steps do not converge. A GSL failure throws.
    ///
    /// `jacobian(α)` (K × K row-major), where given, computes the same columns ∂ż/∂α_k directly
    /// (the RMSProp flow's coupled slides: ż along θ'(∂_k g), `DeepModeField.gradientDerivative`).
    /// `guess`, where given, is such a Jacobian at a nearby state (the last evaluation's, at its
    /// solved α's): the iteration starts as a chord method on it, each step one evaluation of ż,
    /// and keeps a step only where it contracts max|ż| at least by half (the guess is then close:
    /// the error after the step is at most about the contraction times the step); it stops after a
    /// step that moves no α by more than 1e-14, or where, after a contracting step of at most
    /// 1e-11, the next no longer halves max|ż| (the rounding floor, where Newton's exact steps stop
    /// too), and falls back to Newton's exact Jacobian at the current iterate wherever else a chord
    /// step does not contract. (Stopping earlier, at a step of 1e-11, left α's that decided
    /// near-tangential slide exits by Newton's residual: s0 [1, 8×7, 1] of the escape grid then
    /// cycled through 4 200 slide ends and grazes in 60 s, where exact Newton gives 296 events.)
    static func newton(from a: inout [Double], rates: ([Double]) -> [Double],
                       jacobian: (([Double]) -> [Double])? = nil, guess: [Double]? = nil) throws -> Bool {
        let K = a.count
        func size(_ v: [Double]) -> Double { v.reduce(0) { max($0, abs($1)) } }
        var phi = rates(a)
        var chord = guess.flatMap { $0.count == K * K && $0.allSatisfy(\.isFinite) ? $0 : nil }
        var iterations = 0, lastMoved = Double.infinity
        while iterations < 40 {
            if let J = chord {
                guard let step = try solve(J, phi, centre: [Double](repeating: 0, count: K), exact: false) else {
                    chord = nil
                    continue
                }
                let before = size(phi)
                let trial = (0..<K).map { a[$0] + step[$0] }
                let trialPhi = rates(trial)
                let after = size(trialPhi)
                guard after <= 0.5 * before else {
                    // After a step of at most 1e-11 that did contract, max|ż| no longer halves: it
                    // is the rounding floor (the α's as good as ż can tell). Else the guess is
                    // not close enough: Newton from here.
                    if lastMoved <= 1e-11 { return a.allSatisfy(\.isFinite) }
                    chord = nil
                    continue
                }
                iterations += 1
                a = trial
                phi = trialPhi
                lastMoved = size(step)
                if lastMoved <= 1e-14 { return a.allSatisfy(\.isFinite) }
                continue
            }
            iterations += 1
            var J = [Double](repeating: 0, count: K * K)
            if let jacobian {
                J = jacobian(a)
            } else {
                for k in 0..<K {
                    var hi = a, lo = a
                    hi[k] = 1; lo[k] = 0
                    let rh = rates(hi), rl = rates(lo)
                    for j in 0..<K { J[j * K + k] = rh[j] - rl[j] }
                }
            }
            guard let step = try solve(J, phi, centre: [Double](repeating: 0, count: K), exact: false) else { return false }
            var lambda = 1.0, trial = a, trialPhi = phi
            let before = size(phi)
            var decreased = false
            while true {
                for k in 0..<K { trial[k] = a[k] + lambda * step[k] }
                trialPhi = rates(trial)
                decreased = size(trialPhi) < before
                if decreased || lambda <= 1.0 / 1024 { break }
                lambda /= 2
            }
            let moved = lambda * size(step)
            if !decreased {
                // No step lowers max|ż|: it is rounding noise at a (near a stationary point ż and
                // its rounding both shrink, and α is then determined only to their ratio).
                let scale = J.reduce(0) { max($0, abs($1)) }
                return before <= 0.1 * scale && a.allSatisfy(\.isFinite)
            }
            a = trial
            phi = trialPhi
            if moved <= 1e-11 { return a.allSatisfy(\.isFinite) }
        }
        return false
    }

    /// The α's of K coupled slides, the rule both flows use: Newton (`newton`) from the last α's
    /// of the mode (`memo`), else from the box's centre (at α = 0 a coupled surface's column can
    /// vanish: the path to it runs through another's σ' = α), else from 0; converged: the α's with
    /// `converged` true (the caller keeps them as the mode's memo). A root outside the box
    /// [0, 1]^K is replaced by its projection onto the box where the α's are undetermined across
    /// it: both the box's centre and the projection leave every ż at its rounding level
    /// (`atRoundingLevel`). Near a stationary point the sides' differences vanish with the field
    /// and a whole region of α's keeps every ż at its rounding level, so Newton's floor iterates
    /// wander far outside the box from one evaluation to the next; the exit functions read the
    /// α's and would end slides by rounding, which the one-surface rule re-enters at once from the
    /// same v± (a slide/slideEnd cycle). The projected α's keep the surfaces as well as the
    /// computation can tell and lie in the box: Filippov's (SPEC §4). A root outside that the box
    /// cannot replace is a genuine exit (where ż depends on the α's the centre is not at the
    /// rounding level: a slide about to end, its α a rounding error outside the box, is not held).
    /// Otherwise, near a stationary
    /// point where no α is better than the rounding of ż allows: the memo (as good as any), else
    /// Newton's last iterate where `atRoundingLevel` accepts it (every ż within its rounding
    /// level); else nil (no α keeps the surfaces: the caller's slides end).
    static func coupledAlphas(count K: Int, memo: [Double]?, rates: ([Double]) -> [Double],
                              jacobian: (([Double]) -> [Double])? = nil, guess: [Double]? = nil,
                              atRoundingLevel: ([Double]) -> Bool) throws -> (alphas: [Double], converged: Bool)? {
        let centre = [Double](repeating: 0.5, count: K)
        var starts = [centre, [Double](repeating: 0, count: K)]
        if let memo, memo.count == K { starts.insert(memo, at: 0) }
        var a = centre
        for (index, start) in starts.enumerated() {
            a = start
            // The guessed Jacobian belongs to the memo's neighbourhood: the memo's start only.
            let chord = index == 0 && memo?.count == K ? guess : nil
            guard try newton(from: &a, rates: rates, jacobian: jacobian, guess: chord) else { continue }
            if a.allSatisfy({ 0 <= $0 && $0 <= 1 }) { return (a, true) }
            let projected = a.map { min(max($0, 0), 1) }
            return (atRoundingLevel(centre) && atRoundingLevel(projected) ? projected : a, true)
        }
        if let memo, memo.count == K { return (memo, false) }
        if a.allSatisfy(\.isFinite) && atRoundingLevel(a) { return (a, false) }
        return nil
    }

    /// Whether every sliding surface's ż_j along the velocity u is at its rounding level: within
    /// the one-surface rule's tolerance 1e-12 Σ_p |∂z_j/∂θ_p u_p| (`sideVelocity`), or within
    /// Σ_p |∂z_j/∂θ_p| δu_p, what the velocity's own rounding δu makes of ż (the gradient flow:
    /// δu = δg, the gradient's rounding level; the RMSProp flow: δg_p/(√v_p + ε)). Near a
    /// stationary point g is a cancellation of far larger terms, and no α solves the conditions
    /// to working precision; α's that keep every ż at its rounding level keep the surfaces as well
    /// as the computation can tell. `zGradient(j, into:)`: ∇_θ z of surface j (P); `velocityLevel`
    /// is called only when needed.
    static func ratesAtRoundingLevel(_ rates: [Double], P: Int, velocity u: UnsafePointer<Double>,
                                     zGradient: (Int, UnsafeMutablePointer<Double>) -> Void,
                                     velocityLevel: () -> [Double]) -> Bool {
        let gz = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { gz.deallocate() }
        var level: [Double]? = nil
        for (j, rate) in rates.enumerated() {
            zGradient(j, gz)
            var terms = 0.0
            for p in 0..<P { terms += abs(gz[p] * u[p]) }
            if abs(rate) <= 1e-12 * terms + 1e-300 { continue }
            if level == nil { level = velocityLevel() }
            var noise = 0.0
            for p in 0..<P { noise += abs(gz[p]) * level![p] }
            if !(abs(rate) <= noise) { return false }
        }
        return true
    }
}
