/// Kinds of event, as written to `events.csv` (INTERFACE.md).
public enum EventKind: String, Sendable, Codable, CaseIterable {
    /// The pair switched on (crossing from z < 0).
    case on
    /// The pair switched off (crossing from z > 0).
    case off
    /// The flow reached an attracting surface and slides on it.
    case slide
    /// α reached 0 or 1: sliding ended, the pair left to the side the flow points to.
    case slideEnd
    /// Several Filippov continuations existed (repelling surface); the steepest one was taken.
    case branch
    /// A normal velocity vanished within tolerance; the side was chosen by the next order.
    case graze
}

/// A decided change of one pair at an event.
struct PairTransition {
    let neuron: Int
    let group: Int
    let from: PairState
    let to: PairState
    let kind: EventKind
}

/// The Filippov treatment at an event (SPEC §4): for each neuron with pairs on a surface, choose
/// the new states of its surface pairs (on, off or sliding) among the continuations that are
/// consistent with the one-sided fields:
/// - an `on` pair needs normal velocity `x̃_g·F_i ≥ 0`, an `off` pair `≤ 0`;
/// - a `sliding` pair needs α ∈ [0, 1] and an attracting surface, `c_i R_g > 0`.
/// A unique consistent continuation is a crossing, a slide or a slide end. Several (a repelling
/// surface): the one with the largest `|f|²` (steepest descent), logged as `branch`. None
/// within tolerance (grazing): the least inconsistent one, logged as `graze`.
/// Neurons do not interact through the normals, so each neuron is resolved on its own.
struct FilippovResolver {
    let field: ModeField
    /// Largest number of surface pairs of one neuron that are resolved jointly by enumeration.
    var enumerationLimit = 6
    /// The field at the event state, during one `resolve`.
    private var evaluation = FieldEvaluation.none

    init(field: ModeField) { self.field = field }

    /// - Parameters:
    ///   - y: the state just past the event (the field's R is evaluated there with the current mode).
    ///   - eventPairs: (neuron, group) pairs at their surface.
    ///   - excluded: states a pair (key `i·G + g`) may not take: at an event its current state, which
    ///     the flow has just left, plus any state already tried and failed at this very time (so an
    ///     event can never loop).
    ///   - repeated: pairs decided again at the same time; their change is logged as `graze`.
    ///   - reportUnchanged: also return the event pairs that keep their state (used at t = 0, where
    ///     pairs that start on a surface have no previous state).
    func resolve(_ y: UnsafePointer<Double>, eventPairs: [(Int, Int)], excluded: [Int: Set<PairState>] = [:],
                 repeated: Set<Int> = [], reportUnchanged: Bool = false) -> [PairTransition] {
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: field.dimension)
        defer { scratch.deallocate() }
        return resolve(y, evaluation: field.evaluation(at: y, into: scratch), eventPairs: eventPairs, excluded: excluded,
                       repeated: repeated, reportUnchanged: reportUnchanged)
    }

    /// `resolve` with the field at y given (`ModeField.evaluation(at:into:)` in the current mode):
    /// the decision reads R, its rounding levels and α from it, not from the field's last evaluation.
    func resolve(_ y: UnsafePointer<Double>, evaluation: FieldEvaluation, eventPairs: [(Int, Int)],
                 excluded: [Int: Set<PairState>] = [:], repeated: Set<Int> = [], reportUnchanged: Bool = false) -> [PairTransition] {
        var decision = self
        decision.evaluation = field.withRoundingLevels(evaluation, at: y)
        return decision.decide(y, eventPairs: eventPairs, excluded: excluded, repeated: repeated, reportUnchanged: reportUnchanged)
    }

    private func decide(_ y: UnsafePointer<Double>, eventPairs: [(Int, Int)], excluded: [Int: Set<PairState>],
                        repeated: Set<Int>, reportUnchanged: Bool) -> [PairTransition] {
        let G = field.G, d = field.d
        var byNeuron: [Int: Set<Int>] = [:]
        for (i, g) in eventPairs { byNeuron[i, default: []].insert(g) }
        var transitions: [PairTransition] = []
        for i in byNeuron.keys.sorted() {
            var candidates = byNeuron[i]!
            for g in 0..<G where field.states[i * G + g] == .sliding { candidates.insert(g) }
            let groups = candidates.sorted()
            let current = groups.map { field.states[i * G + $0] }
            let c = y[field.n * d + field.n + i]
            let scale = -c * field.invM
            // Contribution of the neuron's other pairs.
            var base = [Double](repeating: 0, count: d + 1)
            for g in 0..<G where !candidates.contains(g) {
                let sr = field.slope[i * G + g] * evaluation.R[g]
                for k in 0..<d { base[k] += sr * field.xg[g * d + k] }
                base[d] += sr
            }
            let velocityNoise = evaluation.velocityNoise
            let tolerance = abs(scale) * velocityNoise
            let choice: [PairState]
            let tie: Bool, grazing: Bool
            if groups.count <= enumerationLimit {
                (choice, tie, grazing) = enumerate(groups: groups, current: current, neuron: i, base: base, scale: scale, c: c,
                                                   tolerance: tolerance, excluded: excluded)
            } else {
                (choice, tie, grazing) = manySurfaces(groups: groups, current: current, neuron: i, base: base, scale: scale, c: c,
                                                      tolerance: tolerance, excluded: excluded)
            }
            for (a, g) in groups.enumerated() {
                let from = current[a], to = choice[a]
                guard from != to || (reportUnchanged && byNeuron[i]!.contains(g)) else { continue }
                let kind: EventKind
                // A graze is a tangential approach: the normal velocity of the side the pair comes
                // from vanishes. (Not the side it goes to: a neuron losing its last active point
                // leaves with v⁻ = 0 exactly, but it crossed.) A slide exit is tangent by nature. A
                // pair that starts on its surface (t = 0, `reportUnchanged`) comes from no side.
                var approachTangent = false
                if grazing && from != .sliding && to != .sliding && !reportUnchanged {
                    var held = choice
                    held[a] = from
                    approachTangent = abs(normalVelocity(held, pair: a, groups: groups, base: base, scale: scale)) <= tolerance
                }
                if repeated.contains(i * G + g) || approachTangent {
                    kind = .graze
                } else if tie { kind = .branch } else {
                    switch (from, to) {
                    case (.sliding, _): kind = .slideEnd
                    case (_, .sliding): kind = .slide
                    case (_, .on): kind = .on
                    default: kind = .off
                    }
                }
                transitions.append(PairTransition(neuron: i, group: g, from: from, to: to, kind: kind))
            }
        }
        return transitions
    }

    /// Normal velocity x̃_g·F_i of pair `a` of `groups` when the neuron's surface pairs take `states`
    /// (sliding pairs projected out).
    private func normalVelocity(_ states: [PairState], pair a: Int, groups: [Int], base: [Double], scale: Double) -> Double {
        normal(groups[a], dot: velocity(states, groups: groups, base: base, scale: scale).F)
    }

    /// The neuron's (w_i, b_i) velocity when its surface pairs take `states` (sliding pairs projected
    /// out), and the α of each sliding pair (closest to the box centre for dependent surfaces).
    private func velocity(_ states: [PairState], groups: [Int], base: [Double], scale: Double) -> (F: [Double], alphas: [Int: Double]) {
        let d = field.d
        var F = base
        var sliding: [Int] = []
        for (a, g) in groups.enumerated() {
            switch states[a] {
            case .on:
                for k in 0..<d { F[k] += evaluation.R[g] * field.xg[g * d + k] }
                F[d] += evaluation.R[g]
            case .sliding: sliding.append(g)
            case .off: break
            }
        }
        for q in 0...d { F[q] *= scale }
        var alphas: [Int: Double] = [:]
        if !sliding.isEmpty {
            do {
                let set = try SurfaceSet(groups: sliding, points: field.xg, d: d)
                var lambdas = [Double](repeating: 0, count: sliding.count)
                F.withUnsafeMutableBufferPointer { fp in
                    lambdas.withUnsafeMutableBufferPointer { lp in set.project(fp.baseAddress!, multipliers: lp.baseAddress!) }
                }
                var values = sliding.enumerated().map { lambdas[$0.offset] / (scale * evaluation.R[$0.element]) }
                if set.dependent { values = try set.feasibleAlphas(values, weights: sliding.map { scale * evaluation.R[$0] }) }
                for (a, g) in sliding.enumerated() { alphas[g] = values[a] }
            } catch {
                // Recorded on the field, which fails the run; no velocity to offer meanwhile.
                field.noteFailure(error)
                F = [Double](repeating: .nan, count: d + 1)
                for g in sliding { alphas[g] = .nan }
            }
        }
        return (F, alphas)
    }

    /// x̃_g·F.
    private func normal(_ g: Int, dot F: [Double]) -> Double {
        let d = field.d
        var v = F[d]
        for k in 0..<d { v += F[k] * field.xg[g * d + k] }
        return v
    }

    /// Outcome of one continuation of a neuron's surface pairs.
    private struct Trial {
        var violation = 0.0
        var grazing = false
        var norm2 = 0.0
        /// The neuron's (w_i, b_i) velocity under this continuation.
        var velocity: [Double] = []
        var slidingCount = 0
    }

    private func trial(_ states: [PairState], groups: [Int], neuron i: Int, base: [Double], scale: Double, c: Double, tolerance: Double) -> Trial {
        let (F, alphas) = velocity(states, groups: groups, base: base, scale: scale)
        var result = Trial()
        for (a, g) in groups.enumerated() {
            let v = normal(g, dot: F)
            switch states[a] {
            case .on:
                if abs(v) <= tolerance { result.grazing = true }
                result.violation += max(0, -v - tolerance)
            case .off:
                if abs(v) <= tolerance { result.grazing = true }
                result.violation += max(0, v - tolerance)
            case .sliding:
                let alpha = alphas[g] ?? .nan
                // Attracting needs c R_g > 0; an R_g at rounding level has no sign and does not forbid
                // it, nor does a jump of the normal velocity, |scale R_g| |x̃_g|², within the
                // velocity tolerance (the two sides' motions are then one).
                let attracting = c * evaluation.R[g] > 0 || abs(evaluation.R[g]) <= evaluation.residualNoise[g]
                    || isJumpless(g, scale: scale, tolerance: tolerance)
                if !attracting || !alpha.isFinite {
                    result.violation += .infinity
                } else {
                    // An α outside [0, 1] (beyond its rounding level) is measured in velocity units so
                    // that it compares with the others.
                    let excess = max(0, -alpha, alpha - 1)
                    let alphaTolerance = field.alphaSlack(i, g, alpha: alpha, velocityNoise: tolerance / abs(scale), in: evaluation)
                    result.violation += excess > alphaTolerance ? excess * abs(scale * evaluation.R[g]) + tolerance : 0
                }
            }
        }
        result.norm2 = F.reduce(0) { $0 + $1 * $1 }
        result.velocity = F
        result.slidingCount = states.filter { $0 == .sliding }.count
        return result
    }

    private func enumerate(groups: [Int], current: [PairState], neuron i: Int, base: [Double], scale: Double, c: Double,
                           tolerance: Double, excluded: [Int: Set<PairState>]) -> ([PairState], Bool, Bool) {
        let G = field.G
        let options: [PairState] = [.off, .on, .sliding]
        var total = 1
        for _ in groups { total *= 3 }
        var consistent: [([PairState], Trial)] = []
        var best: ([PairState], Trial)? = nil
        for code in 0..<total {
            var rest = code
            var states: [PairState] = []
            for _ in groups {
                states.append(options[rest % 3])
                rest /= 3
            }
            var allowed = true
            for (a, g) in groups.enumerated() where excluded[i * G + g]?.contains(states[a]) ?? false { allowed = false }
            if !allowed { continue }
            let t = trial(states, groups: groups, neuron: i, base: base, scale: scale, c: c, tolerance: tolerance)
            if t.violation == 0 { consistent.append((states, t)) }
            if best == nil || t.violation < best!.1.violation { best = (states, t) }
        }
        // A non-finite velocity (a NaN or ∞ in R or θ reaching the decision) has no steepest or
        // consistent continuation: NaN violations count as none and NaN ≠ NaN. A diagnosed failure
        // (the solver stops the run with the last good state), the pairs kept.
        if consistent.contains(where: { !$0.1.velocity.allSatisfy(\.isFinite) || !$0.1.norm2.isFinite }) {
            field.noteFailure(NumericalError("Filippov decision", "neuron \(i)'s velocity at its surfaces \(groups) is not finite "
                                             + "(a NaN or infinity in the residuals or θ): no continuation can be chosen"))
            return (current, false, false)
        }
        if consistent.count == 1 { return (consistent[0].0, false, consistent[0].1.grazing) }
        if consistent.isEmpty { return (best?.0 ?? current, false, true) }
        // Several continuations: steepest descent. Continuations with the same velocity are the
        // same motion (for example off and "sliding with α = 0" when the off-field is tangent):
        // among those take the one with fewest sliding surfaces, and call it a branch only when
        // motions that really differ were possible.
        let top = consistent.max { $0.1.norm2 < $1.1.norm2 }!
        func same(_ u: [Double], _ v: [Double]) -> Bool {
            zip(u, v).allSatisfy { abs($0 - $1) <= tolerance }
        }
        let sameMotion = consistent.filter { same($0.1.velocity, top.1.velocity) }
        // A pair whose surface carries no jump beyond rounding (|scale R_g| |x̃_g|² ≤ tolerance: the
        // point is fitted to working precision) is on, off or sliding with one motion, and its z
        // only wanders at the integrator's error level: sliding holds it at 0 instead of letting
        // it cross back and forth, a graze event at every crossing.
        // Other pairs: fewest sliding surfaces.
        let jumpless = Set(groups.indices.filter { isJumpless(groups[$0], scale: scale, tolerance: tolerance) })
        func preference(_ states: [PairState]) -> (Int, Int) {
            var withJump = 0, without = 0
            for (a, state) in states.enumerated() where state == .sliding {
                if jumpless.contains(a) { without += 1 } else { withJump += 1 }
            }
            return (withJump, -without)
        }
        guard let chosen = sameMotion.min(by: { preference($0.0) < preference($1.0) }) else {
            field.noteFailure(NumericalError("Filippov decision", "neuron \(i): no continuation at its surfaces \(groups) has the steepest one's velocity"))
            return (current, false, false)
        }
        let isBranch = sameMotion.count < consistent.count
        return (chosen.0, isBranch, chosen.1.grazing)
    }

    /// For neurons with many surface pairs at once (for example zero weights: every point on the
    /// neuron's surface), where enumerating 3^K continuations is too much: candidate on/off sets
    /// that must contain the steepest consistent one. In d = 1 the on-set of a consistent
    /// continuation is {g : x̃_g·F > 0}, a half-line in x, so all 2(G+1) threshold sets are tried; in
    /// any d the fixed points of s_g = [x̃_g·F(s) > 0] from several starts (all on, all off, the
    /// current states, the signs under the all-on field) are added. The steepest consistent
    /// candidate wins (a tie between different motions is a branch); without one, the least
    /// inconsistent, as a graze.
    /// Active-set pivoting towards a consistent continuation (the sliding problem on several
    /// surfaces is a complementarity problem: each pair is off with x̃·F ≤ 0, on with x̃·F ≥ 0, or
    /// sliding with α ∈ [0, 1]). Each pivot moves the most violated pair: an `on`/`off` pair whose
    /// normal velocity points across its surface starts sliding when the surface attracts
    /// (c R_g > 0) and switches side otherwise; a sliding pair whose α left [0, 1] goes to the side
    /// α points to. At most 4K pivots; the result is only a candidate, checked by `trial`.
    private func pivoted(_ start: [PairState], groups: [Int], neuron i: Int, base: [Double], scale: Double, c: Double,
                         tolerance: Double) -> [PairState] {
        var s = start
        for _ in 0..<(4 * groups.count) {
            let (F, alphas) = velocity(s, groups: groups, base: base, scale: scale)
            var worst = 0.0, move: (Int, PairState)? = nil
            for (a, g) in groups.enumerated() {
                let v = normal(g, dot: F)
                let attracting = c * evaluation.R[g] > 0
                switch s[a] {
                case .on where -v > tolerance && -v > worst:
                    worst = -v
                    move = (a, attracting ? .sliding : .off)
                case .off where v > tolerance && v > worst:
                    worst = v
                    move = (a, attracting ? .sliding : .on)
                case .sliding:
                    guard let alpha = alphas[g], alpha.isFinite else { continue }
                    let slack = field.alphaSlack(i, g, alpha: alpha, velocityNoise: tolerance / abs(scale), in: evaluation)
                    let excess = max(-alpha, alpha - 1)
                    let size = excess * abs(scale * evaluation.R[g])
                    if excess > slack && size > worst {
                        worst = size
                        move = (a, alpha > 1 ? .on : .off)
                    }
                default:
                    break
                }
            }
            guard let (a, state) = move else { break }
            s[a] = state
        }
        return s
    }

    /// Whether the jump of the normal velocity across surface g, |scale R_g| |x̃_g|², is within the
    /// velocity tolerance: the point is fitted to working precision and the two sides' motions are one.
    private func isJumpless(_ g: Int, scale: Double, tolerance: Double) -> Bool {
        let xn = field.normalNorm(g)
        return abs(scale * evaluation.R[g]) * xn * xn <= tolerance
    }

    /// The continuation in which the pairs of `fixed` keep their on/off state and every other
    /// pair takes the weight of the minimum-norm Filippov velocity (`ZonotopeMinimumNorm`):
    /// on where the normal velocity x̃_g·F exceeds the tolerance, off where it is below minus the
    /// tolerance, sliding where it vanishes. Exact when those pairs attract (c_i R_g > 0) or have
    /// no residual: their consistent continuations all have this velocity.
    private func minimumNormContinuation(groups: [Int], current: [PairState], neuron i: Int, fixed: [Int: PairState],
                                         base: [Double], scale: Double, tolerance: Double) -> (states: [PairState], converged: Bool) {
        let d = field.d, G = field.G, e = d + 1
        var origin = base
        var variables: [Int] = []
        for (a, g) in groups.enumerated() {
            if let state = fixed[a] {
                if state == .on {
                    for k in 0..<d { origin[k] += evaluation.R[g] * field.xg[g * d + k] }
                    origin[d] += evaluation.R[g]
                }
            } else {
                variables.append(a)
            }
        }
        for q in 0..<e { origin[q] *= scale }
        var generators = [Double](repeating: 0, count: variables.count * e)
        var start = [Double](repeating: 0, count: variables.count)
        var weightTolerance = [Double](repeating: 0, count: variables.count)
        for (v, a) in variables.enumerated() {
            let g = groups[a], u = scale * evaluation.R[g]
            for k in 0..<d { generators[v * e + k] = u * field.xg[g * d + k] }
            generators[v * e + d] = u
            weightTolerance[v] = abs(u) * tolerance   // |u·F| ≤ |scale R_g| tol  ⇔  |x̃_g·F| ≤ tol, as the labels below
            switch current[a] {
            case .on: start[v] = 1
            case .off: start[v] = 0
            case .sliding:
                let alpha = evaluation.alpha(i * G + g)
                start[v] = alpha.isFinite ? alpha : 0.5
            }
        }
        let problem = ZonotopeMinimumNorm(dimension: e, origin: origin, generators: generators)
        let solution: ZonotopeMinimumNorm.Solution
        do { solution = try problem.solve(start: start, tolerance: weightTolerance) } catch {
            // Recorded on the field, which fails the run: keep the states, unconverged.
            field.noteFailure(error)
            return (current, false)
        }
        var states = current
        for (a, state) in fixed { states[a] = state }
        for a in variables {
            let v = normal(groups[a], dot: solution.point)
            states[a] = v > tolerance ? .on : v < -tolerance ? .off : .sliding
        }
        return (states, solution.converged)
    }

    private func manySurfaces(groups: [Int], current: [PairState], neuron i: Int, base: [Double], scale: Double, c: Double,
                              tolerance: Double, excluded: [Int: Set<PairState>]) -> ([PairState], Bool, Bool) {
        let d = field.d, G = field.G
        var candidates: [[PairState]] = []
        // Repelling pairs (c_i R_g < 0 beyond rounding) are the only source of several motions.
        let repelling = groups.indices.filter { c * evaluation.R[groups[$0]] < -evaluation.residualNoise[groups[$0]] * abs(c) }
        if d > 1 && repelling.isEmpty {
            // Every surface attracts: the Filippov velocity is unique (the minimum-norm point of the
            // zonotope), whatever the dependence of the surfaces; take it as it is, even where it
            // gives a pair a state `excluded` at this instant (that rule is for choosing between
            // several motions; here there is one). Applying it anyway was tried: the 96-case grid
            // sweep still completed, with 3% more events and drift up to 3e-11 instead of 3e-12.
            // A repeat at one instant gives no transition, and the solver's ignore rule ends it.
            let (states, converged) = minimumNormContinuation(groups: groups, current: current, neuron: i, fixed: [:], base: base,
                                                              scale: scale, tolerance: tolerance)
            if converged { return (states, false, false) }
            candidates.append(states)
        }
        if d == 1 {
            // Threshold sets, each also with the point next to the threshold sliding (on either side).
            let order = groups.indices.sorted { field.xg[groups[$0]] < field.xg[groups[$1]] }
            for split in 0...order.count {
                var rightOn = [PairState](repeating: .off, count: groups.count)
                var leftOn = [PairState](repeating: .off, count: groups.count)
                for (rank, a) in order.enumerated() {
                    if rank >= split { rightOn[a] = .on } else { leftOn[a] = .on }
                }
                for base in [rightOn, leftOn] {
                    candidates.append(base)
                    for rank in [split - 1, split] where rank >= 0 && rank < order.count {
                        var variant = base
                        variant[order[rank]] = .sliding
                        candidates.append(variant)
                    }
                }
            }
        }
        let allOn = [PairState](repeating: .on, count: groups.count)
        let allOff = [PairState](repeating: .off, count: groups.count)
        var signs = allOff
        for (a, _) in groups.enumerated() where normalVelocity(allOn, pair: a, groups: groups, base: base, scale: scale) > 0 { signs[a] = .on }
        if d > 1 {
            // Most events change little: pivot from the states in force (sliding pairs kept).
            candidates.append(pivoted(current, groups: groups, neuron: i, base: base, scale: scale, c: c, tolerance: tolerance))
        }
        if d > 1 && !repelling.isEmpty {
            // Repelling pairs on or off from each start, the others at the minimum-norm velocity
            // that labelling leaves; the repelling labels then follow their normal velocities.
            for start in [allOn, allOff, current.map { $0 == .sliding ? .off : $0 }, signs] {
                var labels: [Int: PairState] = [:]
                for a in repelling { labels[a] = start[a] }
                var states = start
                for _ in 0..<20 {
                    states = minimumNormContinuation(groups: groups, current: current, neuron: i, fixed: labels, base: base,
                                                     scale: scale, tolerance: tolerance).states
                    var next = labels
                    for a in repelling {
                        let v = normalVelocity(states, pair: a, groups: groups, base: base, scale: scale)
                        if v > tolerance { next[a] = .on } else if v < -tolerance { next[a] = .off }
                    }
                    if next == labels { break }
                    labels = next
                }
                candidates.append(states)
            }
        }
        for start in [allOn, allOff, current.map { $0 == .sliding ? .off : $0 }, signs] {
            var s = start
            for _ in 0..<50 {
                var next = s
                for a in groups.indices {
                    let v = normalVelocity(s, pair: a, groups: groups, base: base, scale: scale)
                    if v > tolerance { next[a] = .on } else if v < -tolerance { next[a] = .off }
                }
                if next == s { break }
                s = next
            }
            candidates.append(s)
            // In d > 1 a consistent continuation often slides on several dependent surfaces at once
            // (coplanar points), which on/off fixed points cannot produce: pivot from here.
            if d > 1 { candidates.append(pivoted(s, groups: groups, neuron: i, base: base, scale: scale, c: c, tolerance: tolerance)) }
        }
        // A state excluded for a pair (the one it just left) is replaced by an allowed one, the side
        // its normal velocity points to first.
        candidates = candidates.map { states in
            var repaired = states
            for (a, g) in groups.enumerated() {
                guard let banned = excluded[i * G + g], banned.contains(repaired[a]) else { continue }
                let v = normalVelocity(repaired, pair: a, groups: groups, base: base, scale: scale)
                let preference: [PairState] = v > 0 ? [.on, .sliding, .off] : [.off, .sliding, .on]
                if let allowed = preference.first(where: { !banned.contains($0) }) { repaired[a] = allowed }
            }
            return repaired
        }
        var consistent: [([PairState], Trial)] = []
        var best: ([PairState], Trial)? = nil
        for states in candidates {
            if groups.enumerated().contains(where: { excluded[i * G + $0.element]?.contains(states[$0.offset]) ?? false }) { continue }
            let t = trial(states, groups: groups, neuron: i, base: base, scale: scale, c: c, tolerance: tolerance)
            if t.violation == 0 { consistent.append((states, t)) }
            if best == nil || t.violation < best!.1.violation { best = (states, t) }
        }
        guard let top = consistent.max(by: { $0.1.norm2 < $1.1.norm2 }) else { return (best?.0 ?? current, false, true) }
        let distinctMotions = consistent.contains { !zip($0.1.velocity, top.1.velocity).allSatisfy { abs($0 - $1) <= tolerance } }
        return (top.0, distinctMotions, top.1.grazing)
    }
}
