import Foundation

/// The Adam flow's second-order sliding mode (SPEC §7 with §4's Filippov treatment, §8).
///
/// State x = (θ, m, v, s) (and the quadrature D), θ' = Θ(m, v, s) = −m̂/(√v̂ + ε) elementwise,
/// m' = a(g − m), v' = b(g² − v), s' = 1 (`AdamFlow`). A switching surface Σ = {z(θ) = 0} (a pair,
/// or the pairs of one surface: coincident pairs of a deep base, points of one ray without
/// biases) separates the modes M⁻ (its pairs off) and M⁺ (on), with gradients g⁻, g⁺. The two
/// state fields are
///
///     F± = (Θ, a(g± − m), b(g±² − v), 1),      F⁺ − F⁻ = (0, aΔ, bΔ₂, 0),  Δ = g⁺ − g⁻, Δ₂ = g⁺² − g⁻²,
///
/// so the normal rate ż = ∇z·Θ is the same on both sides: a surface is crossed wherever ż ≠ 0,
/// and Filippov's first-order slide never occurs (for s > 0). The jump is in the second
/// derivative,
///
///     z̈± = ∇z·θ''± + θ'ᵀ∇²z θ',   θ''± = Θ_m a(g± − m) + Θ_v b(g±² − v) + Θ_s
///
/// (Θ_m, Θ_v, Θ_s the law's exact partials, diagonal; ∇²z = 0 on a shallow network, whose z is
/// affine; the curvature term is common to both sides). Since Θ_m m = −θ' component by component,
/// z̈± = −a ż − a ∇z·(g±/(β_a S)) + … : in the (z, ż) plane the flow is the damped relay
/// z̈ + a ż = (terms of the side). Where z̈⁺ < 0 < z̈⁻ at ż = 0 (each side accelerates back towards
/// Σ) the flow zig-zags across Σ: from a crossing with |ż| = ζ it returns after 2ζ/|z̈±| with
/// |ż| = ζ(1 − 2aζ/|z̈±| + O(ζ²)). The amplitude falls like 1/n with the number n of crossings and
/// like e^{−at/3} in time (the relay dissipates (2a/3)·ż²/2 per unit time): infinitely many
/// crossings, exponentially many per unit of time, and no finite accumulation point (the Zeno
/// limit is reached only as t → ∞; measured on a two-parameter model: |ż| at successive
/// crossings 1.04, 0.56, 0.44, 0.33, 0.28, 0.24, …, 2161 crossings to t = 2.5). Crossing after
/// crossing, the integrator crawls.
///
/// The second-order sliding mode is the limit: the motion on the codimension-2 set
/// {z = 0, ż = 0} with Filippov's convex combination F_α = F⁻ + α(F⁺ − F⁻): θ' = Θ (either side),
/// m' = a(g_α − m), v' = b((1 − α)g⁻² + αg⁺² − v) (the combination of the two sides' v', not
/// b(g_α² − v)), D' = −g_α·θ', g_α = g⁻ + αΔ. θ'' is affine in α, so is z̈, and z̈(α) = 0 gives
///
///     α = z̈⁻/(z̈⁻ − z̈⁺),
///
/// in (0, 1) exactly when z̈⁺ < 0 < z̈⁻ (attracting from both sides). It is the zig-zag's average:
/// the flow spends the fractions 1/|z̈±| of each cycle on the sides, and z̈ averaged with them is 0.
/// The slide ends where α reaches 0 or 1, i.e. where z̈⁻ or z̈⁺ passes through 0 (the exit value
/// min(z̈⁻, −z̈⁺), smooth where α may have a pole, as the first-order slide's min(v⁻, −v⁺)); the
/// pair then leaves to that side (α → 0: off). An event elsewhere can end it too: a pair of a lower
/// layer on the same points that switches changes ḣ in the forward tangent, so ż jumps off 0 and
/// the flow leaves Σ transversally, to the side ż points to (`AdaptiveField.settleSecondOrder`;
/// continuing to slide there and projecting back broke the dissipation identity by 1e-5 on the
/// [1, 8×7, 1] escape-grid network), or the attraction may end (z̈⁺ < 0 < z̈⁻ no longer).
///
/// Entering (`ZigZagDetector`, `AdaptiveField.secondOrderDecision`): to leading order the
/// zig-zag's state is x_slide(t) + w(t)(F⁺ − F⁻) with w' = 1₊ − α (1₊ = 1 on the M⁺ side), a
/// sawtooth symmetric about 0 whose extremes ±ζ/(z̈⁻ − z̈⁺) fall at the crossings (there
/// dż/dw = ∇z·(Θ_m aΔ + Θ_v bΔ₂) = z̈⁺ − z̈⁻). So at a crossing the slide's state is the crossing
/// state moved along F⁺ − F⁻ (θ and s unchanged, (m, v) along (aΔ, bΔ₂)) until ż = 0, up to
/// O(ζ²): `AdaptiveField.projectSecondOrder` does that by Newton's method on w, safeguarded by a
/// bracket inside the interval where every v + wbΔ₂ > 0 (ż is linear in m, and in v only through
/// √v̂, which is far from affine where the move is comparable to v). A crossing enters the slide when
/// 1. the zig-zag is established: the surface's previous two crossings alternate in direction
///    with this one and |ż| shrank (the accumulation the relay predicts, `ZigZagDetector`);
/// 2. at the projected state z̈⁺ < 0 < z̈⁻ beyond their tolerance (1e-12 of their terms): the
///    surface attracts from both sides at second order;
/// 3. the relay's relative amplitude r = 2a|ż|/min(|z̈⁺|, |z̈⁻|) (the fraction by which |ż| falls in
///    the next half cycle, ~1/n) is at most `entryAmplitude` (0.1 by default: about ten crossings
///    into a zig-zag, where the leading-order picture above holds to r). The state is then
///    projected as said, so the entry error is of second order in the amplitude; the Swift tests
///    measure it against the crossing-by-crossing zig-zag (SecondOrderSlideTests);
/// 4. the projection exists (a root of ż(w) bracketed with every v + wbΔ₂ > 0) and moves no v_p by
///    more than `entryAmplitude` of itself: the leading-order picture takes Θ affine in (m, v) over
///    the zig-zag, which fails where the sawtooth's excursion in v is comparable to v (a v_p still
///    0, a parameter the zig-zag has just begun to feed). Such a zig-zag goes on crossing by
///    crossing until v has grown and the amplitude fallen. (Without this, on the escape grid's
///    [1, 16×4, 1] Xavier seed-0 network, a slide entered at t ≈ 0.1225 with the projection's
///    Newton iterates past v = 0, ż ≠ 0 on the slide, and a dissipation defect of 5.5e-3.)
/// Deciding at a crossing whose |ż| is at the rounding level of the rate would ask for ~1/r ≈
/// 10¹² crossings (the amplitude falls like 1/n): not an option.
///
/// While sliding the state is projected after every step onto {z = 0} (θ, the base's projection)
/// and {ż = 0} ((m, v) along F⁺ − F⁻), as the gradient flow's sliding pairs are onto z = 0.
///
/// Several surfaces: a surface that zig-zags while others slide at second order enters beside them
/// under the same tests (2. for its own sides, z̈± along the older slides' motions in its two modes,
/// and the others must still attract in both). The limit is nested, not the product measure of
/// independent sides: an older slide is a zig-zag whose amplitude, and with it its period, has
/// fallen for longer, so within each half cycle of the newer zig-zag it has averaged out already in
/// that half cycle's mode; the newer surface's slide is Filippov's combination of the older slides'
/// two motions (`AdaptiveField.computeSecondOrderSeveral`, `entryOrder`). Without it, on the
/// user's [2, 5, 3, 1] He seed-3 network (Adam flow, T = 50), (layer 1, unit 4, point 1) was crossed
/// 15 989 times over t ∈ [3.2, 19.7] beside the slide of (layer 2, unit 1, point 7), |ż| falling
/// like 1/n as the relay predicts (1.6e-3 at t = 16.47, 4.5e-5 at 17.48, 7.4e-7 at 19.13). Only
/// surfaces on different data groups or in one layer: where two lie on one group in different
/// layers one's side changes the other's z (`CoupledSlides`), and such a zig-zag keeps being crossed.
final class SecondOrderSlide {
    /// The relay's relative amplitude r below which an established zig-zag enters the slide (see
    /// the type's doc, 3.); 0 turns second-order slides off (every crossing taken one by one).
    var entryAmplitude: Double = SecondOrderSlide.entryAmplitudeOverride ?? SecondOrderSlide.defaultEntryAmplitude
    static let defaultEntryAmplitude = 0.1
    /// Tests only: the entry amplitude of fields made from now on (nil: the default; 0: the zig-zag
    /// taken crossing by crossing, the behaviour before second-order slides).
    nonisolated(unsafe) static var entryAmplitudeOverride: Double? = nil
    let law: AdamFlow
    /// z̈ of a deep base's pairs (nil: the base's z is affine, ∇²z = 0).
    let curvature: SurfaceJet?
    /// The surface (representative, members) whose crossing was decided to enter the slide at the
    /// event being resolved: projected by the next `project` (the driver projects before it installs
    /// the new mode).
    var pendingEntry: (rep: Int, members: [Int])? = nil
    /// The exit decided for a sliding surface (key) at the event being resolved: its other member
    /// pairs take the same.
    var decidedExit: (key: Int, decision: (PairState, EventKind))? = nil
    var detector = ZigZagDetector()
    /// Slides entered (for tests and diagnostics).
    private(set) var entries = 0

    init(law: AdamFlow, curvature: SurfaceJet?) {
        self.law = law
        self.curvature = curvature
    }

    /// Surface keys in the order their second-order slides began (oldest first): the nesting of
    /// several slides (`AdaptiveField.computeSecondOrderSeveral`).
    private(set) var entryOrder: [Int] = []

    /// An entry of surface `key`, with the keys of the surfaces sliding at the time (the others are
    /// dropped from the order).
    func noteEntry(_ key: Int, sliding: [Int]) {
        entries += 1
        entryOrder = entryOrder.filter { sliding.contains($0) && $0 != key } + [key]
    }

    /// Indices into `keys` (the sliding surfaces' keys), oldest slide first: those in `entryOrder` in
    /// its order, then any other (a surface being decided, not entered yet: the newest) in `keys`' order.
    func nestingOrder(_ keys: [Int]) -> [Int] {
        let known = entryOrder.compactMap { key in keys.firstIndex(of: key) }
        return known + keys.indices.filter { !known.contains($0) }
    }

    /// θ'' = Θ_m m' + Θ_v v' + Θ_s of the law at (m, v, s), for the state velocity `stateDot`
    /// (its m', v' entries at offset P + 1 and 2P + 1 of the state) into `out` (P).
    func thetaAcceleration(P: Int, y: UnsafePointer<Double>, stateDot f: UnsafePointer<Double>,
                           into out: UnsafeMutablePointer<Double>) {
        let aux = y + (P + 1), s = aux[2 * P]
        for p in 0..<P {
            let d = law.partials(g: 0, m: aux[p], v: aux[P + p], s: s)
            out[p] = d.thetaM * f[P + 1 + p] + d.thetaV * f[P + 1 + P + p] + d.thetaS
        }
    }
}

/// The crossings of each surface (keyed as `AdaptiveField` keys its surfaces) in the Adam flow:
/// the evidence of an established zig-zag (`SecondOrderSlide`'s doc, 1.).
struct ZigZagDetector {
    /// The last crossings (s = t, ż) of each surface, at most three.
    private var crossings: [Int: [(s: Double, zdot: Double)]] = [:]

    /// Records a crossing of surface `key` at s with rate ż (one per surface and instant).
    mutating func record(_ key: Int, s: Double, zdot: Double) {
        var list = crossings[key, default: []]
        if let last = list.last, last.s == s { return }
        list.append((s, zdot))
        if list.count > 3 { list.removeFirst(list.count - 3) }
        crossings[key] = list
    }

    /// Whether the crossing of `key` at s with rate ż continues a zig-zag: the two crossings
    /// before it alternate in direction with it, and |ż| shrank from each to the next.
    func established(_ key: Int, s: Double, zdot: Double) -> Bool {
        let list = (crossings[key] ?? []).filter { $0.s < s }
        guard list.count >= 2 else { return false }
        let a = list[list.count - 2], b = list[list.count - 1]
        return a.zdot * b.zdot < 0 && b.zdot * zdot < 0 && abs(zdot) < abs(b.zdot) && abs(b.zdot) < abs(a.zdot)
    }

    mutating func forget(_ key: Int) { crossings[key] = nil }
}

/// z, ż and z̈ of one pre-activation of a deep network along the curve θ(t) = θ + t u + ½ t² w at
/// t = 0 (SPEC §8), in the mode's masks: a forward pass of second order on one data point,
///
///     z_l = W_l h + b_l,  ż_l = U_l h + W_l ḣ + u_b,  z̈_l = Ẅ_l h + 2 U_l ḣ + W_l ḧ + w_b,
///     (h, ḣ, ḧ)_l = F_l ∘ (z, ż, z̈)_l,  h_0 = x, ḣ_0 = ḧ_0 = 0,
///
/// U, Ẅ the W-blocks of u and w, F_l the masks (1 on, 0 off or sliding: h = 0 on the surface). So
/// z̈ = ∇z·w + uᵀ∇²z u exactly (z is a polynomial in θ inside the mode); O(P) per call.
struct SurfaceJet {
    let network: DeepNetwork
    /// Group inputs (G × d), the hidden units' layer, index and each hidden layer's first unit.
    let points: [Double]
    let d: Int, G: Int
    let unitLayer: [Int], unitIndex: [Int], unitOffset: [Int]

    init(field: DeepModeField, data: Dataset) {
        network = field.network
        points = data.groupPoints
        d = data.dimension
        G = field.G
        unitLayer = field.unitLayer
        unitIndex = field.unitIndex
        unitOffset = field.unitOffset
    }

    /// (z, ż, z̈) of pair k (unit k / G, group k % G) in the masks of `states` (on: 1).
    func jet(_ theta: UnsafePointer<Double>, u: UnsafePointer<Double>, w: UnsafePointer<Double>, pair k: Int,
             states: [PairState]) -> (z: Double, zdot: Double, zddot: Double) {
        let unit = k / G, g = k % G
        let target = unitLayer[unit], targetIndex = unitIndex[unit]
        var h = Array(points[(g * d)..<((g + 1) * d)])
        var hd = [Double](repeating: 0, count: d), hdd = hd
        for l in 1...target {
            let width = network.layers[l], fanIn = network.layers[l - 1]
            let units = l == target ? targetIndex...targetIndex : 0...(width - 1)
            var nh = [Double](repeating: 0, count: width), nhd = nh, nhdd = nh
            for i in units {
                var z = 0.0, zd = 0.0, zdd = 0.0
                for c in 0..<fanIn {
                    let q = network.wIndex(l, i, c)
                    z += theta[q] * h[c]
                    zd += u[q] * h[c] + theta[q] * hd[c]
                    zdd += w[q] * h[c] + 2 * u[q] * hd[c] + theta[q] * hdd[c]
                }
                if let b = network.bIndex(l, i) {
                    z += theta[b]
                    zd += u[b]
                    zdd += w[b]
                }
                if l == target { return (z, zd, zdd) }
                if states[(unitOffset[l] + i) * G + g] == .on {
                    nh[i] = z
                    nhd[i] = zd
                    nhdd[i] = zdd
                }
            }
            h = nh
            hd = nhd
            hdd = nhdd
        }
        return (.nan, .nan, .nan)
    }
}
