/// The Filippov decision for one switching surface (SPEC §4, applied to deep networks in §8 and
/// to the adaptive flows in §7), from the normal velocities v⁺ = ∇z·f⁺ and v⁻ = ∇z·f⁻ of the
/// fields with the pair held on and off, each 0 within its rounding tolerance:
/// - both signs equal: the flow crosses (or stays) to that side;
/// - one of them 0: the side the other points to;
/// - v⁻ > 0 > v⁺ (both sides push into the surface): attracting, slide;
/// - v⁻ < 0 < v⁺ (both push away): repelling, the side of the larger |f|² (steepest branch);
/// - both 0: a graze, the state kept.
/// A pair already sliding that is decided `sliding` again is at its located exit (v⁻ or v⁺
/// through 0 only by rounding): it leaves to the side α is nearer to.
enum OneSurfaceRule {
    typealias Side = (v: Double, norm2: Double, tol: Double)

    static func decide(old: PairState, plus: Side, minus: Side) -> (state: PairState, kind: EventKind) {
        let tol = max(plus.tol, minus.tol)
        let sp = abs(plus.v) <= tol ? 0 : (plus.v > 0 ? 1 : -1)
        let sm = abs(minus.v) <= tol ? 0 : (minus.v > 0 ? 1 : -1)
        var new: PairState, kind: EventKind
        if sp == 0 && sm == 0 {
            (new, kind) = (old, .graze)
        } else if sp == 0 || sm == 0 {
            new = sp + sm > 0 ? .on : .off
            kind = new == .on ? .on : .off
        } else if sp > 0 && sm > 0 {
            (new, kind) = (.on, .on)
        } else if sp < 0 && sm < 0 {
            (new, kind) = (.off, .off)
        } else if sp < 0 && sm > 0 {
            (new, kind) = (.sliding, .slide)
        } else {
            new = plus.norm2 > minus.norm2 ? .on : .off
            kind = .branch
        }
        if old == .sliding && new == .sliding {
            new = abs(minus.v) <= abs(plus.v) ? .off : .on
        }
        return (new, kind)
    }
}
