/// The collapse corner of a neuron (SPEC §4, several surfaces at once): the flow reaches
/// (w_i, b_i) = 0, where every switching surface S_ig = {x̃_g·(w_i, b_i) = 0} of the neuron meets.
///
/// **Where it arises.** A neuron sliding on surfaces whose normals span d of the d + 1 directions is
/// pinned to a line through the origin of its (w_i, b_i) block and can reach the origin in finite
/// time (its velocity there is −(c_i/m) Σ_g s_g R_g x̃_g, which does not vanish with (w_i, b_i)).
/// At that instant the surfaces of the sliding pairs and of every other point are crossed at once.
///
/// **The Filippov set there.** At (w_i, b_i) = 0 every pre-activation z_ig and every h_ig = s_ig z_ig
/// is 0 whatever the slopes s_ig ∈ [0, 1], so the residuals R_g, the velocity of every other
/// neuron and ċ_i = −(1/m) Σ_g R_g h_ig = 0 are the same in all neighbouring modes; only the
/// (w_i, b_i) block differs, where the modes' velocities span the zonotope
///
///     Z = { Σ_g s_g u_g : s ∈ [0, 1]^G },  u_g = −(c_i/m) R_g x̃_g,
///
/// the `ZonotopeMinimumNorm` problem with origin a = 0. Filippov solutions from the corner are not
/// unique: the neuron may stay at the origin or re-emerge with any consistent on-set.
///
/// **The rule.** On arrival the flow takes the steepest-descent element of the Filippov set, its
/// minimum-norm element (the minimal selection of θ' ∈ −∂L, as on several attracting surfaces,
/// `ZonotopeMinimumNorm`). Because 0 ∈ Z (s = 0), that element is the all-off mode's velocity:
/// (ẇ_i, ḃ_i) = 0 and ċ_i = 0. The neuron stays at the origin, dead, and the rest of the network
/// flows as the network without it; this stays the minimum-norm element at every later time (Z
/// always contains 0), so the neuron never re-emerges. The pairs of the neuron that were not off
/// switch off and are logged as `branch` events (a non-unique continuation was chosen); (w_i, b_i)
/// is set to exactly 0, so that z_ig and ż_ig are exactly 0 afterwards and the event scan never
/// flags the neuron again. The choice no longer depends on which side of the origin the located
/// state fell by rounding, and so not on the tolerance.
///
/// A state that *starts* at the corner (zero weights at t = 0) is initial data on a surface and
/// keeps §4's rule for that (the steepest consistent continuation, `FilippovResolver`); this rule
/// applies to the flow reaching the corner at an event.
enum CollapseCorner {
    /// The neurons of `pairs` (the event's pairs at their surfaces, (neuron, group)) that are at
    /// their corner in state `y`: their surfaces at the event, with their sliding ones, have
    /// normals x̃_g spanning all d + 1 directions, so that they meet only at (w_i, b_i) = 0, and
    /// every such z_ig of a pair not sliding is 0 to within the event's resolution: its rounding
    /// level plus what z_ig moves in 64 ulps of t at the largest rate |ż_ig| seen at the ends of
    /// the detecting step (`zdot0`, `zdot1`). Throws the eigensolver's `NumericalError`.
    static func neurons(at pairs: [(Int, Int)], field: ModeField, y: UnsafePointer<Double>, t: Double,
                        zdot0: UnsafePointer<Double>, zdot1: UnsafePointer<Double>) throws -> [Int] {
        let G = field.G, e = field.d + 1
        var found: [Int] = []
        for i in Set(pairs.map(\.0)).sorted() {
            var groups = Set(pairs.filter { $0.0 == i }.map(\.1))
            for g in 0..<G where field.states[i * G + g] == .sliding { groups.insert(g) }
            guard groups.count >= e else { continue }
            // Simultaneous to the event's resolution.
            let resolution = 64 * t.ulp
            let simultaneous = groups.allSatisfy { g in
                // A sliding pair is held on its surface by the flow (and projected onto it).
                if field.states[i * G + g] == .sliding { return true }
                let rate = max(abs(zdot0[i * G + g]), abs(zdot1[i * G + g]))
                return abs(field.preactivation(y, i, g)) <= field.preactivationNoise(y, i, g) + resolution * rate
            }
            guard simultaneous else { continue }
            if try spanAllDirections(groups, field: field) { found.append(i) }
        }
        return found
    }

    /// Whether the normals x̃_g of `groups` span all d + 1 directions: the eigenvalues of
    /// Σ_g x̃_g x̃_gᵀ above its rounding level.
    static func spanAllDirections(_ groups: Set<Int>, field: ModeField) throws -> Bool {
        let d = field.d, e = d + 1
        guard groups.count >= e else { return false }
        var gram = [Double](repeating: 0, count: e * e)
        for g in groups {
            var row = [Double](repeating: 1, count: e)
            for k in 0..<d { row[k] = field.xg[g * d + k] }
            for a in 0..<e { for b in 0..<e { gram[a * e + b] += row[a] * row[b] } }
        }
        let values = try SurfaceSet.symmetricEigen(gram, e).values
        let top = values.map(abs).max() ?? 0
        return top > 0 && values.filter { $0 > 64 * Double.ulpOfOne * Double(e) * top }.count == e
    }

    /// The corner's transitions for neuron `i`: every pair not already off switches off (`branch`).
    static func transitions(neuron i: Int, field: ModeField) -> [PairTransition] {
        (0..<field.G).compactMap { g in
            let state = field.states[i * field.G + g]
            return state == .off ? nil : PairTransition(neuron: i, group: g, from: state, to: .off, kind: .branch)
        }
    }

    /// Puts neuron `i` at its corner exactly: (w_i, b_i) = 0 in `y` (θ = [W, b, c, …]).
    static func place(neuron i: Int, in y: UnsafeMutablePointer<Double>, field: ModeField) {
        for k in 0..<field.d { y[i * field.d + k] = 0 }
        y[field.n * field.d + i] = 0
    }
}
