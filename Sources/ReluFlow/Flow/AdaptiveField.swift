import Foundation

/// An adaptive flow of SPEC §7 (RMSProp or Adam, `AdaptiveLaw`) on any network whose gradient
/// flow is a `SwitchedSystem` (`base`: the shallow `ModeField`, a deep network's field): a
/// `SwitchedSystem` the flow driver integrates like the gradient flow, mode locked, every pattern
/// change an exact event.
///
/// State y = (θ, D, a): θ (P), the quadrature D (index P, D' = −g·θ', so that L(0) − L(t) = D(t):
/// the dissipation identity holds for every flow and is the run's accuracy diagnostic) and the
/// law's auxiliary state a (RMSProp: v; Adam: m, v, s = t). The switching functions z depend on θ
/// only: z, ż along θ', rounding levels, initial states and projections are the base field's
/// (its functions read the θ block of y and f, the first P entries).
///
/// The mode: every pair on, off or sliding, as the gradient flow's. The base field is held in the
/// mode with the sliding surface's pairs *off* (M⁻; the forward pass is the same as sliding,
/// h = 0 on z = 0), and is switched to M⁺ (those pairs on) for the other side's gradient: g⁻ and g⁺
/// are the base field's −f in M⁻ and M⁺ (exact, mode locked).
///
/// Filippov, one surface (SPEC §7, §4): at an event on the surface of pair k,
/// v± = ż_k = ∇z_k·θ'± with θ'± the law's velocity at g± (same a): one sign → crossing; v⁺ < 0 < v⁻
/// → slide; v⁺ > 0 > v⁻ → `branch` to the side with the larger |θ'|²; one side within tolerance of 0
/// (1e-12 Σ_p |∂z_k/∂θ_p θ'_p|) → the side the other points to; both → `graze`. While sliding the
/// whole state moves with F⁻ + α(F⁺ − F⁻), F± = (θ'±, −g±·θ'±… , a'±) the law at g±, α = v⁻/(v⁻ − v⁺)
/// so that ż = 0 (for RMSProp θ' is linear in g: σ'(0) = α in the gradient; v' = ((1−α)g⁻² + αg⁺² − v)/τ,
/// the convex combination of the two sides' v', not (g_α)²). D' = −g_α·θ'_α with g_α = g⁻ + α(g⁺ − g⁻)
/// (on the surface ∇(L⁺ − L⁻) is normal to it, so any g on the segment gives the same dL/dt along
/// the tangent θ'_α). The Adam flow's θ' does not depend on g (t > 0): v⁺ = v⁻, every surface is
/// crossed at first order; where both sides accelerate back towards a surface (z̈⁺ < 0 < z̈⁻) the
/// crossings accumulate into a zig-zag whose limit is a second-order slide on {z = 0, ż = 0}
/// (`SecondOrderSlide`, the extension at the end of this file: α = z̈⁻/(z̈⁻ − z̈⁺), exits where z̈⁻
/// or z̈⁺ reaches 0, (m, v) projected onto ż = 0 along F⁺ − F⁻).
///
/// Several surfaces (SPEC §4's several-surface rule carried to §7; the RMSProp flow): K surfaces
/// slide at once, surface k a pair (with its coincident members on a deep base), σ'(0) := α_k on
/// it. The base gradient is affine in the α's whenever no two sliding pairs share a data group in
/// different layers (always on a shallow network; on a deep one such a pair of slides, "coupled",
/// makes g multilinear, g ∋ α_k α_l terms: `computeCoupled` below):
///
///     g(α) = g⁻ + Σ_k α_k Δ_k,   Δ_k = g(M⁺_k) − g⁻,
///
/// M⁻ every sliding pair off, M⁺_k only k's pairs on. θ' = −g/(√v + ε) is linear in g and ż_j is
/// linear in θ' (the tangent), so ż_j(α) = c_j + Σ_k A_jk α_k with c_j = ż_j along θ'(g⁻) and
/// A_jk = ż_j along θ'(Δ_k); A α = −c (`SlidingSystem.solve`, as the deep gradient flow: the
/// least-squares α nearest the box's centre, kept where it solves the system, a singular but
/// consistent one included, or leaves every ż at its rounding level). The state velocity is Filippov's mean under the product measure of independent
/// Bernoulli(α_k) sides (the side of each surface drawn on its own): θ' = −g(α)/(√v + ε) (linear),
/// and, v' being affine in g², E[g²] = g(α)² + Σ_k α_k(1 − α_k) Δ_k² componentwise:
///
///     v' = (g(α)² + Σ_k α_k(1 − α_k) Δ_k² − v)/τ        (`AdaptiveLaw.addGradientVariance`),
///
/// which at K = 1 is the one-surface (1 − α) g⁻² + α g⁺² (g(α)² + α(1 − α)Δ² = g⁻² + 2αg⁻Δ + αΔ²).
/// D' = −g(α)·θ' (on the intersection every g(M) − g⁻ is normal to it and θ' is tangent, so
/// dL/dt = −g(α)·θ'). K = 1 with one pair takes the one-surface code below unchanged.
///
/// Coupled surfaces (a deep base, `computeCoupled`, `CoupledSlides`): g(α) is multi-affine, θ'
/// still −g(α)/(√v + ε) (the mean of a velocity linear in g), ż_j(α) multi-affine and zeroed by
/// the deep gradient flow's Newton solve (`SlidingSystem.coupledAlphas`), and E[g²] takes every
/// mixed derivative: g(α)² + Σ_{S≠∅} (∂_S g(α))² Π_{k∈S} α_k(1 − α_k).
///
/// Exits of surface k: v⁻_k = ż_k with α_k = 0 and the others at their solved values, v⁺_k with
/// α_k = 1: v⁻_k = c_k + Σ_{l≠k} A_kl α_l, v⁺_k = v⁻_k + A_kk; the exit value min(v⁻_k, −v⁺_k)
/// (= |A_kk| min(α_k, 1 − α_k) when A_kk < 0), as the one-surface case.
///
/// Events with several surfaces: each pair is decided by `OneSurfaceRule` with v± computed with
/// the other slides re-solved in each forced mode; a new sliding surface joins the set. Then the
/// joint system is solved at the event and a surface whose α lies outside [0, 1] by more than
/// 1e-9 (rounding of a K × K solve of well-scaled rows) leaves to the side the one-surface rule
/// gives it (its v± with the others re-solved) and the rest is re-solved (active-set pivoting, at most 2K + 2 rounds). Where no α
/// solves the conditions (NaN α's: during a step the exit values are then −1, so the slides end
/// at a located event) or the result is inconsistent, the candidates' assignments are searched
/// (up to 6 surfaces), and beyond that or where none passes, the consistent set is taken as the
/// limit of the regularised switch (`BoxComplementarity`: one always exists, `regularisedLimit`);
/// only where the exact test rejects that too does the run stop with a diagnosis naming the
/// surfaces (`FlowFailure.severalAttractingSurfaces`). The Adam flow (θ' not linear in g at t = 0, never
/// sliding after) keeps the one-surface rule: a second attracting surface there is that failure.
///
/// Slide exits: min(v⁻, −v⁺) (positive while both sides point at the surface), as the deep field.
///
/// Jacobian (implicit steppers): the law's exact partials (`AdaptiveLaw.addJacobian`) with the
/// base field's exact Hessians ∂g/∂θ = −∂f_base/∂θ in M⁻ and M⁺ (several surfaces: M⁻ with weight
/// 1 − Σ α_k and each M⁺_k with α_k), α held; the D row from them. Coupled surfaces: the Hessian
/// with σ'(0) = α held (v' row approximate, see `jacobian`).
final class AdaptiveField<Base: SwitchedSystem>: SwitchedSystem {
    let base: Base
    let law: any AdaptiveLaw
    let P: Int, A: Int
    var n: Int { base.n }
    var G: Int { base.G }
    var m: Int { base.m }
    var pointsOfGroup: [[Int]] { base.pointsOfGroup }
    var dimension: Int { P + 1 + A }
    /// Whether θ' depends on g (RMSProp) or not for t > 0 (Adam): the zero-loss hold is the
    /// gradient flow's notion and is used only where θ' = 0 with g = 0; the stationary hold is this
    /// field's own tolerance test (`stationaryRatio`) for both.
    let velocityFollowsGradient: Bool

    private(set) var states: [PairState]
    private(set) var slidingNeurons: [Int] = []
    /// The sliding pair when exactly one surface of one pair slides (the one-surface code; a pair
    /// stands for its group's points), else nil.
    private(set) var slidingPair: Int? = nil
    /// The sliding surfaces (the type's doc, several surfaces): a representative pair, whose z and ż
    /// stand for the surface, and its sliding member pairs (coincident pairs of a deep base; one pair
    /// on a shallow one). Set with the mode.
    private(set) var surfaces: [(rep: Int, members: [Int])] = []
    /// The class of each group's input ray (groups with x_h = c x_g, c > 0, share one): on a network
    /// without hidden biases every pre-activation is positively homogeneous in x, z_u(c x) = c z_u(x),
    /// so the surfaces of one unit on one ray are one surface (the several-surface path merges their
    /// sliding pairs: one α, M⁺ with all of them on; else A is singular). Identity by default (with
    /// biases no two distinct points share their surfaces); `positiveRayClasses`.
    var rayClass: [Int]
    /// Pairs, on or off, on the surface of a sliding pair of a deep base (empty: none): coincident
    /// surfaces whatever their states (`DeepModeField.surfaceClass`: z_k = λ z_q, λ > 0, in this
    /// mode), so z_k is held at 0 with z_q and its sign is z_q's rounding. Seen: [2, 4, 4, 3, 1]
    /// without biases under RMSProp, unit 5 at points 0 and 2 both w_50 h_0 once only layer-1 unit 0
    /// was on at both, (5, 2) sliding: z at point 0 crossed 0 with w_50's rounding at a time set by
    /// the step sequence, and its "on" tied point 0 to points 4–7 in layer 3, flipping and grazing
    /// back 8–10 there. Such a pair joins the slide at the event that makes it coincide (`resolve`:
    /// SPEC §4, one surface, one α, one event), and `detectEvents` passes by one the EventGuard
    /// kept out of it.
    private var besideSlide: [Bool] = []
    /// The sliding surfaces when two of them are coupled (a deep base with two sliding pairs of one
    /// data group in different layers: the gradient is multilinear in their α's), nil otherwise.
    /// Set with the mode; `computeCoupled`.
    private var coupling: CoupledSlides? = nil
    /// The coupled slides' last α's and the mode they belong to (Newton's first start).
    private var coupledMemo: [Double] = [], coupledMemoStamp = -1
    /// ∂ż/∂α at the last coupled evaluation's solved α's (K × K; Newton's chord start, `SlidingSystem.newton`'s
    /// `guess`), and its mode.
    private var coupledJacobianMemo: [Double] = [], coupledJacobianStamp = -1
    /// The α's and ż of the last `coupledRates` while gPlus still holds g(α) of them, else nil.
    private var lastCoupledRates: (alphas: [Double], rates: [Double])? = nil
    /// Scratch (P): ∂_k g of the coupled slides' exits.
    private let derivativeScratch: UnsafeMutablePointer<Double>
    /// The RMSProp law's denominators √v_p + ε at the state of the coupled evaluation being made
    /// (P; v does not depend on the α's), so that the many ż(α) of one evaluation compute θ' =
    /// −g/(√v + ε) without a square root per entry, and without v' (the tangent reads θ' only).
    private let coupledDenominator: UnsafeMutablePointer<Double>
    private var coupledDenominatorValid = false
    /// ż of every pair (n × G) and z (scratch of the coupled slides' rates).
    private var zdotScratch: [Double], zScratch: [Double]
    /// The several-surface path's α and exit value min(v⁻_k, −v⁺_k) of each surface, of the
    /// evaluation being made (working storage, read into `Evaluation`).
    private var surfaceAlpha: [Double] = [], surfaceExit: [Double] = []
    /// Several Adam second-order slides (`computeSecondOrderSeveral`): each surface's (z̈⁻_k, z̈⁺_k)
    /// in the mode of the newer surfaces where it attracts least (working storage, as `surfaceExit`).
    private var surfaceSides: [(minus: Double, plus: Double)] = []
    /// Δ_k = g(M⁺_k) − g⁻ (K × P) and the variance Σ_k α_k(1 − α_k) Δ_k² (P): scratch.
    private var deltaStore: UnsafeMutablePointer<Double>, deltaCapacity = 0
    private let varianceScratch: UnsafeMutablePointer<Double>
    var alphaBandFactor: [Double]
    private(set) var modeChanges = 0
    var rhsEvaluations = 0
    var jacobianEvaluations = 0
    private var pendingFailure: String? = nil
    /// The step control's tolerances (`FlowOptions`): the scale of `stationaryRatio`.
    var tolerance: (rtol: Double, atol: Double) = (1e-10, 1e-12)
    /// θ at the last stationarity check that failed (`stationaryRatio`).
    private var holdAnchor: [Double]? = nil
    /// The Adam flow's second-order slides (`SecondOrderSlide`; set by `solve` for the Adam law).
    var secondOrder: SecondOrderSlide? = nil

    /// State and field of the last evaluation (a memo for `stepEndEvaluation`); the gradient g_α and
    /// the slide's v±, α of the evaluation being made (working storage, read into `Evaluation`).
    private var lastY: [Double], lastF: [Double], lastG: [Double]
    private var lastValid = false
    private var vPlus = Double.nan, vMinus = Double.nan, alpha = Double.nan

    /// What the event logic reads of an evaluation: the sliding pair's normal rates v⁻, v⁺ and
    /// α (NaN when nothing slides), the gradient g_α the velocity was made from (P), and the base
    /// field's evaluation at the same θ in M⁻ (its residuals, for the zero-loss check).
    /// With several surfaces sliding, `slides` holds each member pair's (α, exit value) of its
    /// surface (empty otherwise; v±, α are then NaN).
    struct Evaluation {
        let vMinus: Double, vPlus: Double, alpha: Double
        let gradient: [Double]
        let base: Base.Evaluation
        var slides: [Int: (alpha: Double, exit: Double)] = [:]
    }
    // Scratch (the base field's dimension P + 1, and P).
    private let fb: UnsafeMutablePointer<Double>
    private let gMinus: UnsafeMutablePointer<Double>, gPlus: UnsafeMutablePointer<Double>
    private let fMinus: UnsafeMutablePointer<Double>, fPlus: UnsafeMutablePointer<Double>

    init(base: Base, law: any AdaptiveLaw) {
        self.base = base
        self.law = law
        P = base.P
        A = law.auxiliaryCount(parameters: base.P)
        velocityFollowsGradient = law is RMSPropFlow
        states = base.states
        rayClass = Array(0..<base.G)
        alphaBandFactor = [Double](repeating: 1, count: base.n * base.G)
        let dim = P + 1 + A
        lastY = [Double](repeating: .nan, count: dim)
        lastF = lastY
        lastG = [Double](repeating: .nan, count: P)
        fb = .allocate(capacity: P + 1)
        gMinus = .allocate(capacity: P)
        gPlus = .allocate(capacity: P)
        fMinus = .allocate(capacity: dim)
        fPlus = .allocate(capacity: dim)
        deltaStore = .allocate(capacity: 0)
        varianceScratch = .allocate(capacity: P)
        derivativeScratch = .allocate(capacity: max(P, 1))
        coupledDenominator = .allocate(capacity: max(P, 1))
        zdotScratch = [Double](repeating: 0, count: max(base.n * base.G, 1))
        zScratch = zdotScratch
    }

    deinit {
        for p in [fb, gMinus, gPlus, fMinus, fPlus, deltaStore, varianceScratch, derivativeScratch, coupledDenominator] { p.deallocate() }
    }

    /// A sliding surface by its representative pair, with the pairs whose surfaces coincide with it
    /// (a deep base's coincident pairs), so that a diagnosis names every pair it concerns.
    private func describeSurface(_ s: (rep: Int, members: [Int])) -> String {
        let others = s.members.filter { $0 != s.rep }
        guard !others.isEmpty else { return describe(s.rep) }
        let shown = others.prefix(6).map(describe).joined(separator: ", ")
        return describe(s.rep) + " (coinciding with " + shown + (others.count > 6 ? " and \(others.count - 6) more" : "") + ")"
    }

    private func describe(_ k: Int) -> String {
        if let deep = base as? DeepModeField {
            let p = deep.name(ofPair: k)
            return "(layer \(p.layer), unit \(p.unit), point \(p.point))"
        }
        return "(unit \(k / G), point \(pointsOfGroup[k % G][0]))"
    }

    /// `rayClass` for the data's groups: the first group on the same open ray from 0 (x_h = c x_g,
    /// c > 0: |x_g|²|x_h|² − (x_g·x_h)² ≤ 64 ε |x_g|²|x_h|² (sin² of the angle at the rounding of
    /// its computation: an angle below ~1e-7 rad, where the two surfaces' system would be singular
    /// to working precision anyway) and x_g·x_h > 0); x = 0 its own.
    static func positiveRayClasses(_ data: Dataset) -> [Int] {
        let d = data.dimension, groups = data.pointsOfGroup
        func x(_ g: Int) -> ArraySlice<Double> { let p = groups[g][0]; return data.x[(p * d)..<((p + 1) * d)] }
        var classes = Array(0..<groups.count)
        for g in 0..<groups.count {
            let a = Array(x(g))
            let aa = a.reduce(0) { $0 + $1 * $1 }
            guard aa > 0 else { continue }
            for h in 0..<g where classes[h] == h {
                let b = Array(x(h))
                let bb = b.reduce(0) { $0 + $1 * $1 }
                let ab = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
                if bb > 0 && ab > 0 && aa * bb - ab * ab <= 64 * Double.ulpOfOne * aa * bb { classes[g] = h; break }
            }
        }
        return classes
    }

    // MARK: Mode

    /// The slide hysteresis kept by this field (`SlideHysteresis`: the widened α bands).
    func updateSlideHysteresis(_ hysteresis: inout SlideHysteresis, _ transitions: [(key: Int, from: PairState, to: PairState)],
                               at t: Double, loss: Double) {
        hysteresis.update(transitions, at: t, loss: loss, bandFactors: &alphaBandFactor)
    }

    func setMode(_ newStates: [PairState]) {
        states = newStates
        modeChanged()
    }

    func updateMode(_ changes: [(index: Int, state: PairState)]) {
        guard !changes.isEmpty else { return }
        for c in changes { states[c.index] = c.state }
        modeChanged()
    }

    /// The base field in M⁻ (sliding pairs off); the sliding surfaces, pair and units.
    private func modeChanged() {
        modeChanges += 1
        lastValid = false
        let sliding = states.indices.filter { states[$0] == .sliding }
        slidingNeurons = Array(Set(sliding.map { $0 / G })).sorted()
        base.setMode(states.map { $0 == .sliding ? .off : $0 })
        // Surfaces: a deep base's coincident pairs (one representative in M⁻) are one surface.
        var surfaceOf: [Int: Int] = [:]
        var found: [(rep: Int, members: [Int])] = []
        let deep = base as? DeepModeField
        for k in sliding {
            let r = deep?.representative[k] ?? k
            let key = (r / G) * G + rayClass[r % G]
            if let s = surfaceOf[key] { found[s].members.append(k) } else {
                surfaceOf[key] = found.count
                found.append((rep: k, members: [k]))
            }
        }
        surfaces = found
        besideSlide = []
        if let deep, !sliding.isEmpty {
            let classes = Set(sliding.map { deep.surfaceClass[$0] })
            besideSlide = states.indices.map { states[$0] != .sliding && classes.contains(deep.surfaceClass[$0]) }
        }
        slidingPair = found.count == 1 && found[0].members.count == 1 ? found[0].rep : nil
        coupling = nil
        if let deep, found.count > 1 {
            let c = CoupledSlides(surfaces: found.map(\.members), G: G, layer: { deep.unitLayer[$0 / self.G] })
            if c.isCoupled { coupling = c }
        }
        if found.count * P > deltaCapacity {
            deltaStore.deallocate()
            deltaCapacity = found.count * P
            deltaStore = .allocate(capacity: deltaCapacity)
        }
    }

    // MARK: Field

    /// The law's velocity of the whole state at gradient g into `out` (θ', D', a'), D' = −g·θ'.
    private func stateVelocity(_ y: UnsafePointer<Double>, gradient g: UnsafePointer<Double>,
                               into out: UnsafeMutablePointer<Double>) {
        law.velocity(P: P, gradient: g, auxiliary: y + (P + 1), thetaDot: out, auxiliaryDot: out + (P + 1))
        var rate = 0.0
        for p in 0..<P { rate -= g[p] * out[p] }
        out[P] = rate
    }

    /// g of the base field's current mode at y into `g`.
    private func baseGradient(_ y: UnsafePointer<Double>, into g: UnsafeMutablePointer<Double>) -> Bool {
        let ok = base.evaluate(y, fb)
        for p in 0..<P { g[p] = -fb[p] }
        return ok
    }

    /// M⁺: the sliding pair on in the base field (and back to M⁻ with `on: false`).
    private func baseSide(_ k: Int, on: Bool) {
        base.updateMode([(index: k, state: on ? .on : .off)])
    }

    @discardableResult
    func evaluate(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        rhsEvaluations += 1
        return computeField(y, f)
    }

    /// f(y) into f (one counted evaluation) and its `Evaluation`.
    func evaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Evaluation {
        evaluate(y, f)
        return capturedEvaluation(at: y)
    }

    /// The stepper's last evaluation when it was at y (bit for bit, same mode: not counted), else
    /// `evaluation(at:into:)`.
    func stepEndEvaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Evaluation {
        guard isLast(y) else { return evaluation(at: y, into: f) }
        lastF.withUnsafeBufferPointer { f.update(from: $0.baseAddress!, count: dimension) }
        return capturedEvaluation(at: y)
    }

    /// The value of the evaluation just made at y; the base field's last evaluation is its M⁻ one
    /// at y (`computeField` makes it last), returned by its memo without evaluating again.
    private func capturedEvaluation(at y: UnsafePointer<Double>) -> Evaluation {
        var e = Evaluation(vMinus: vMinus, vPlus: vPlus, alpha: alpha, gradient: lastG, base: base.stepEndEvaluation(at: y, into: fb))
        if slidingPair == nil && !surfaces.isEmpty && surfaceAlpha.count == surfaces.count {
            for (k, s) in surfaces.enumerated() {
                for q in s.members { e.slides[q] = (surfaceAlpha[k], surfaceExit[k]) }
            }
        }
        return e
    }

    /// The work of `evaluate`, uncounted: for the Jacobian, which counts itself. While a pair
    /// slides, the M⁺ gradient is taken first, so that the base's last evaluation is the M⁻ one.
    private func computeField(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        let dim = dimension
        var ok = true
        if let so = secondOrder, !surfaces.isEmpty, y[P + 1 + 2 * P] > 0 {
            ok = surfaces.count == 1 ? computeSecondOrder(y, f, so) : computeSecondOrderSeveral(y, f, so)
        } else if let k = slidingPair {
            baseSide(k, on: true)
            ok = baseGradient(y, into: gPlus)
            baseSide(k, on: false)
            ok = baseGradient(y, into: gMinus) && ok
            stateVelocity(y, gradient: gMinus, into: fMinus)
            stateVelocity(y, gradient: gPlus, into: fPlus)
            vMinus = base.preactivationRate(y, fMinus, k / G, k % G)
            vPlus = base.preactivationRate(y, fPlus, k / G, k % G)
            alpha = vMinus != vPlus ? vMinus / (vMinus - vPlus) : .nan
            blendSides(alpha, into: f)
        } else if !surfaces.isEmpty {
            ok = computeSeveral(y, f)
        } else {
            ok = baseGradient(y, into: gMinus)
            vPlus = .nan; vMinus = .nan; alpha = .nan
            stateVelocity(y, gradient: gMinus, into: f)
            lastG.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: gMinus, count: P) }
        }
        var finite = true
        for q in 0..<dim where !f[q].isFinite { finite = false; break }
        // Through buffer pointers: element writes to a class's array property cost an exclusivity
        // check and a uniqueness check each (half the run time of a width-16 deep Adam run, perf).
        lastY.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: y, count: dim) }
        lastF.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: UnsafePointer(f), count: dim) }
        lastValid = true
        return ok && finite && base.failure(at: 0) == nil
    }

    /// The field with several surfaces sliding (the type's doc) into f, with `lastG` = g(α), and
    /// `surfaceAlpha`, `surfaceExit`. The sides M⁺_k are evaluated first and M⁻ last, so that the
    /// base's last evaluation is the M⁻ one. Coupled surfaces: `computeCoupled`. Where no α solves
    /// the system (nor leaves every ż at its rounding level) the α's are NaN, the field uses
    /// α = 0 and every exit value is −1: the slides end at a located event, where `settleSeveral`
    /// decides again.
    private func computeSeveral(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        if let coupling, velocityFollowsGradient, let deep = base as? DeepModeField {
            return computeCoupled(y, f, coupling, deep)
        }
        let K = surfaces.count, aux = y + (P + 1)
        vPlus = .nan; vMinus = .nan; alpha = .nan
        var ok = true
        for (k, s) in surfaces.enumerated() {
            base.updateMode(s.members.map { (index: $0, state: .on) })
            ok = baseGradient(y, into: deltaStore + k * P) && ok
            base.updateMode(s.members.map { (index: $0, state: .off) })
        }
        ok = baseGradient(y, into: gMinus) && ok
        for k in 0..<K {
            let delta = deltaStore + k * P
            for p in 0..<P { delta[p] -= gMinus[p] }
        }
        // c_j = ż_j along θ'(g⁻), A_jk = ż_j along θ'(Δ_k) (θ' linear in g; fPlus is scratch).
        law.velocity(P: P, gradient: gMinus, auxiliary: aux, thetaDot: fMinus, auxiliaryDot: fMinus + (P + 1))
        var c = [Double](repeating: 0, count: K), A = [Double](repeating: 0, count: K * K)
        // ż of the K representatives along one velocity: a deep base's rate of one pair is a whole
        // tangent pass, which gives every pair's ż at once (the same pass, so the same numbers);
        // K + 1 passes instead of K(K + 1) (measured: 2 ms per evaluation on [1, 16×5, 1] with ten
        // surfaces sliding, 48 ms per rk8pd step).
        let deep = base as? DeepModeField
        func surfaceRates(_ u: UnsafePointer<Double>, into out: (Int, Double) -> Void) {
            if deep != nil {
                zdotScratch.withUnsafeMutableBufferPointer { zd in
                    zScratch.withUnsafeMutableBufferPointer { base.surfaceValues(y, u, z: $0.baseAddress!, zdot: zd.baseAddress!) }
                }
                for (j, s) in surfaces.enumerated() { out(j, zdotScratch[s.rep]) }
            } else {
                for (j, s) in surfaces.enumerated() { out(j, base.preactivationRate(y, u, s.rep / G, s.rep % G)) }
            }
        }
        surfaceRates(fMinus) { c[$0] = $1 }
        for k in 0..<K {
            law.velocity(P: P, gradient: deltaStore + k * P, auxiliary: aux, thetaDot: fPlus, auxiliaryDot: fPlus + (P + 1))
            surfaceRates(fPlus) { A[$0 * K + k] = $1 }
        }
        var alphas = [Double](repeating: 0, count: K)
        if !velocityFollowsGradient {
            if pendingFailure == nil { pendingFailure = "\(surfaces.map(describeSurface).joined(separator: ", ")) slide at once under the \(law.name) flow (its θ' is not linear in g: the several-surface rule is the RMSProp flow's)" }
            ok = false
        } else if let solved = affineAlphas(y, A, c) {
            alphas = solved
        } else {
            alphas = [Double](repeating: .nan, count: K)
        }
        // g(α), the variance Σ α_k(1 − α_k) Δ_k², the law at g(α) plus the variance term, D'.
        for p in 0..<P { lastG[p] = gMinus[p]; varianceScratch[p] = 0 }
        for k in 0..<K {
            let a = alphas[k].isFinite ? alphas[k] : 0, w = a * (1 - a), delta = deltaStore + k * P
            for p in 0..<P {
                lastG[p] += a * delta[p]
                varianceScratch[p] += w * delta[p] * delta[p]
            }
        }
        lastG.withUnsafeBufferPointer { g in
            law.velocity(P: P, gradient: g.baseAddress!, auxiliary: aux, thetaDot: f, auxiliaryDot: f + (P + 1))
        }
        law.addGradientVariance(P: P, variance: varianceScratch, auxiliaryDot: f + (P + 1))
        var rate = 0.0
        for p in 0..<P { rate -= lastG[p] * f[p] }
        f[P] = rate
        // Exits: v⁻_k = c_k + Σ_{l≠k} A_kl α_l, v⁺_k = v⁻_k + A_kk; −1 where no α solves the system.
        surfaceAlpha = alphas
        surfaceExit = (0..<K).map { k in
            guard alphas.allSatisfy(\.isFinite) else { return -1 }
            var vm = c[k]
            for l in 0..<K where l != k { vm += A[k * K + l] * alphas[l] }
            return min(vm, -(vm + A[k * K + k]))
        }
        return ok
    }

    /// The affine system's α's (SPEC §4's rule carried to §7, `SlidingSystem.solve`): the
    /// least-squares α nearest the box's centre, kept where it solves A α = −c to rounding (a
    /// singular but consistent A, surfaces that are one set in θ without being tied, included), or
    /// where the velocity at g(α) = g⁻ + Σ_k α_k Δ_k leaves every ż at its rounding level (near a
    /// stationary point, `ratesAtRoundingLevel`); nil otherwise (a GSL failure is noted).
    private func affineAlphas(_ y: UnsafePointer<Double>, _ A: [Double], _ c: [Double]) -> [Double]? {
        let K = c.count
        let solved: [Double]?
        do { solved = try SlidingSystem.solve(A, c, centre: [Double](repeating: 0.5, count: K), exact: false) } catch {
            noteFailure(error)
            return nil
        }
        guard let a = solved else { return nil }
        if SlidingSystem.solves(A, c, a) { return a }
        for p in 0..<P {
            var g = gMinus[p]
            for k in 0..<K { g += a[k] * deltaStore[k * P + p] }
            gPlus[p] = g
        }
        return ratesAtRoundingLevel(y, gradient: gPlus) ? a : nil
    }

    /// Coupled slides (a deep base; the RMSProp flow, SPEC §7 with §8): the gradient with
    /// σ'(0) = α_k on surface k is multi-affine in the α's (`CoupledSlides`), θ' = −g(α)/(√v + ε) is
    /// linear in it, so ż_j(α) is multi-affine too (affine in each α_k alone) and the α's with
    /// ż = 0 come from the deep gradient flow's rule (`SlidingSystem.coupledAlphas`: Newton's
    /// method from the mode's last α's, the box's centre, 0; near a stationary point an iterate
    /// leaving every ż at its rounding level). The velocity is Filippov's mean under independent
    /// Bernoulli(α_k) sides: θ' = −E[g]/(√v + ε) = −g(α)/(√v + ε), v' = (E[g²] − v)/τ with
    /// E[g²] = g(α)² + Σ_{S≠∅} (∂_S g(α))² Π_{k∈S} α_k(1 − α_k) (`CoupledSlides`; the sum by the
    /// second-moment back-propagation `DeepModeField.gradientVariance`), and
    /// D' = −g(α)·θ' (every corner's g − g(α) is normal to the intersection, θ' tangent to it).
    /// Exits: v⁻_k, v⁺_k = ż_k along θ' at g(α; α_k = 0), g(α; α_k = 1), the others held,
    /// min(v⁻_k, −v⁺_k) as in the affine case; no α: NaN α's, the field at α = 0, exits −1.
    ///
    /// Cost: ż is affine in each α_k alone, so Newton's Jacobian column k is ż along θ'(∂_k g) (the
    /// last evaluation's, at its α's, starts Newton as a chord method: `SlidingSystem.newton`) and
    /// v⁻_k = ż_k(α) − α_k r_k, v⁺_k = ż_k(α) + (1 − α_k) r_k with r_k = ż_k along θ'(∂_k g(α)), ∂_k g
    /// one backward pass (`DeepModeField.gradientDerivative`); ż at the solved α's is Newton's last
    /// evaluation where it was there. The same polynomials as the corners' differences, each
    /// without their cancellation.
    private func computeCoupled(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>,
                                _ coupling: CoupledSlides, _ deep: DeepModeField) -> Bool {
        let K = surfaces.count, aux = y + (P + 1), held = coupling.surfaces
        vPlus = .nan; vMinus = .nan; alpha = .nan
        lastCoupledRates = nil
        if let rmsprop = law as? RMSPropFlow {
            for p in 0..<P { coupledDenominator[p] = max(aux[p], 0).squareRoot() + rmsprop.epsilon }
            coupledDenominatorValid = true
        }
        defer { coupledDenominatorValid = false }
        let memo = coupledMemoStamp == modeChanges && coupledMemo.count == K ? coupledMemo : nil
        let guess = coupledJacobianStamp == modeChanges && coupledJacobianMemo.count == K * K ? coupledJacobianMemo : nil
        var alphas = [Double](repeating: .nan, count: K)
        do {
            let found = try SlidingSystem.coupledAlphas(count: K, memo: memo, rates: { self.coupledRates(y, $0, held, deep) },
                                                        jacobian: { self.coupledJacobian(y, $0, held, deep) }, guess: guess,
                                                        atRoundingLevel: { a in
                self.lastCoupledRates = nil
                deep.gradient(y, holding: held, at: a, into: self.gPlus)
                return self.ratesAtRoundingLevel(y, gradient: self.gPlus)
            })
            if let found {
                alphas = found.alphas
                if found.converged { coupledMemo = found.alphas; coupledMemoStamp = modeChanges }
            }
        } catch { noteFailure(error) }
        let solved = alphas.allSatisfy(\.isFinite)
        let a = solved ? alphas : [Double](repeating: 0, count: K)
        // ż of the surfaces at α (gPlus = g(α), fPlus = θ'(g(α)): `coupledRates`), Newton's last
        // evaluation where it was at these α's (the same passes, so the same numbers).
        let rates: [Double]
        if let last = lastCoupledRates, last.alphas == a { rates = last.rates } else { rates = coupledRates(y, a, held, deep) }
        for p in 0..<P { lastG[p] = gPlus[p] }
        // Exits and Newton's next chord start from ∂_k g (one backward pass each), the variance
        // Σ_S (∂_S g)² Π α(1 − α) by the second-moment back-propagation.
        var exits = [Double](repeating: -1, count: K)
        if solved {
            var jacobian = [Double](repeating: 0, count: K * K)
            for k in 0..<K {
                deep.gradientDerivative(y, holding: held, at: a, along: [k], into: derivativeScratch)
                let column = coupledSurfaceRates(y, along: derivativeScratch)
                for j in 0..<K { jacobian[j * K + k] = column[j] }
                let r = column[k]
                exits[k] = min(rates[k] - a[k] * r, -(rates[k] + (1 - a[k]) * r))
            }
            coupledJacobianMemo = jacobian
            coupledJacobianStamp = modeChanges
        }
        deep.gradientVariance(y, holding: held, at: a, into: varianceScratch)
        lastG.withUnsafeBufferPointer { g in
            law.velocity(P: P, gradient: g.baseAddress!, auxiliary: aux, thetaDot: f, auxiliaryDot: f + (P + 1))
        }
        law.addGradientVariance(P: P, variance: varianceScratch, auxiliaryDot: f + (P + 1))
        var dissipation = 0.0
        for p in 0..<P { dissipation -= lastG[p] * f[p] }
        f[P] = dissipation
        surfaceAlpha = alphas
        surfaceExit = exits
        // The base's last evaluation is its M⁻ one at y (`capturedEvaluation`).
        return baseGradient(y, into: gMinus)
    }

    /// ż of the coupled surfaces' representatives along θ'(d) for a gradient (or gradient
    /// derivative) d: one tangent pass (fPlus is its scratch; θ' is linear in g).
    private func coupledSurfaceRates(_ y: UnsafePointer<Double>, along d: UnsafePointer<Double>) -> [Double] {
        coupledThetaVelocity(y, gradient: d, into: fPlus)
        zdotScratch.withUnsafeMutableBufferPointer { zd in
            zScratch.withUnsafeMutableBufferPointer { base.surfaceValues(y, fPlus, z: $0.baseAddress!, zdot: zd.baseAddress!) }
        }
        return surfaces.map { zdotScratch[$0.rep] }
    }

    /// ∂ż/∂α (K × K, row-major) of the coupled surfaces at α: column k is ż along θ'(∂_k g(α))
    /// (ż is affine in α_k alone; `DeepModeField.gradientDerivative`): K backward and K tangent
    /// passes (gPlus, fPlus scratch), the rates at α_k = 1 and 0 without their difference.
    private func coupledJacobian(_ y: UnsafePointer<Double>, _ a: [Double], _ held: [[Int]], _ deep: DeepModeField) -> [Double] {
        let K = a.count
        var J = [Double](repeating: 0, count: K * K)
        lastCoupledRates = nil
        for k in 0..<K {
            deep.gradientDerivative(y, holding: held, at: a, along: [k], into: gPlus)
            let column = coupledSurfaceRates(y, along: gPlus)
            for j in 0..<K { J[j * K + k] = column[j] }
        }
        return J
    }

    /// ż of the coupled surfaces' representatives along θ'(g(α)) (one backward pass, one tangent
    /// pass; gPlus and fPlus are its scratch): the function `SlidingSystem.newton` zeroes.
    private func coupledRates(_ y: UnsafePointer<Double>, _ a: [Double], _ held: [[Int]], _ deep: DeepModeField) -> [Double] {
        deep.gradient(y, holding: held, at: a, into: gPlus)
        coupledThetaVelocity(y, gradient: gPlus, into: fPlus)
        zdotScratch.withUnsafeMutableBufferPointer { zd in
            zScratch.withUnsafeMutableBufferPointer { base.surfaceValues(y, fPlus, z: $0.baseAddress!, zdot: zd.baseAddress!) }
        }
        let rates = surfaces.map { zdotScratch[$0.rep] }
        lastCoupledRates = (a, rates)
        return rates
    }

    /// θ' at gradient g into `out` (its first P entries; the rest untouched) for the coupled slides'
    /// rates: −g_p/(√v_p + ε) from `coupledDenominator` (the law's own expression, so the same
    /// bits) while a coupled evaluation is being made, else the law's velocity.
    private func coupledThetaVelocity(_ y: UnsafePointer<Double>, gradient g: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        if coupledDenominatorValid {
            for p in 0..<P { out[p] = -g[p] / coupledDenominator[p] }
        } else {
            law.velocity(P: P, gradient: g, auxiliary: y + (P + 1), thetaDot: out, auxiliaryDot: out + (P + 1))
        }
    }

    /// Whether the sliding surfaces' ż along θ' at gradient g are at their rounding level
    /// (`SlidingSystem.ratesAtRoundingLevel`): θ' is linear in g (RMSProp), so its rounding is
    /// |θ'(δg)|, the law's velocity at the gradient's rounding level δg (a deep base's
    /// `gradientRoundingLevel` with the sliding pairs counted on; a shallow base: the relative test only).
    private func ratesAtRoundingLevel(_ y: UnsafePointer<Double>, gradient g: UnsafePointer<Double>) -> Bool {
        let u = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { u.deallocate() }
        law.velocity(P: P, gradient: g, auxiliary: y + (P + 1), thetaDot: u, auxiliaryDot: u + (P + 1))
        let rates = surfaces.map { base.preactivationRate(y, u, $0.rep / G, $0.rep % G) }
        let members = surfaces.flatMap(\.members)
        return SlidingSystem.ratesAtRoundingLevel(rates, P: P, velocity: u, zGradient: { self.zGradient(y, pair: self.surfaces[$0].rep, into: $1) },
                                                  velocityLevel: {
            guard let deep = self.base as? DeepModeField else { return [Double](repeating: 0, count: self.P) }
            let level = deep.gradientRoundingLevel(y, alsoOn: members)
            let w = UnsafeMutablePointer<Double>.allocate(capacity: self.dimension)
            defer { w.deallocate() }
            self.law.velocity(P: self.P, gradient: level, auxiliary: y + (self.P + 1), thetaDot: w, auxiliaryDot: w + (self.P + 1))
            return (0..<self.P).map { abs(w[$0]) }
        })
    }

    private func isLast(_ y: UnsafePointer<Double>) -> Bool {
        lastValid && lastY.withUnsafeBufferPointer { memcmp($0.baseAddress!, y, dimension * MemoryLayout<Double>.stride) == 0 }
    }

    /// The coupled slides' Newton start and the base's put back after `body` (as `DeepModeField`'s).
    func withoutSteering<R>(_ body: () throws -> R) rethrows -> R {
        let saved = (coupledMemo, coupledMemoStamp, coupledJacobianMemo, coupledJacobianStamp)
        defer { (coupledMemo, coupledMemoStamp, coupledJacobianMemo, coupledJacobianStamp) = saved }
        return try base.withoutSteering(body)
    }

    /// f(y) into f and |g_α| of the evaluation: the samples' `gradNorm`.
    func evaluateForSample(_ y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Double {
        evaluation(at: y, into: f).gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// |g_α| at y, by one evaluation there (counted).
    func gradientNorm(at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { scratch.deallocate() }
        return evaluateForSample(y, into: scratch)
    }

    /// ∂f/∂y with α held (the type's doc). Base Jacobians: (P + 1)², θ block −∇²L of the mode.
    func jacobian(_ y: UnsafePointer<Double>, _ dfdy: UnsafeMutablePointer<Double>, _ f: UnsafeMutablePointer<Double>) {
        jacobianEvaluations += 1
        _ = computeField(y, f)
        let dim = dimension, bd = P + 1
        for q in 0..<(dim * dim) { dfdy[q] = 0 }
        let jb = UnsafeMutablePointer<Double>.allocate(capacity: bd * bd)
        let hMinus = UnsafeMutablePointer<Double>.allocate(capacity: P * P)
        let hAlpha = UnsafeMutablePointer<Double>.allocate(capacity: P * P)
        defer { jb.deallocate(); hMinus.deallocate(); hAlpha.deallocate() }
        let sideGradient = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { sideGradient.deallocate() }
        func hessian(into h: UnsafeMutablePointer<Double>) {
            base.jacobian(y, jb, fb)
            for i in 0..<P { for j in 0..<P { h[i * P + j] = -jb[i * bd + j] } }
            for p in 0..<P { sideGradient[p] = -fb[p] }
        }
        if let coupling, let deep = base as? DeepModeField, surfaceAlpha.count == surfaces.count {
            // Coupled slides: the law at g(α) with ∂g/∂θ = ∇²L with σ'(0) = α held, exact for
            // θ' = −g/(√v + ε) (linear in g); v' takes 2 g(α) ∂g(α)/∂θ /τ and leaves out the
            // derivative of the variance term (Σ_S 2 ∂_S g ∂(∂_S g)/∂θ Π α(1 − α)): an approximate
            // Jacobian there, which only the implicit steppers' Newton iterations use.
            deep.hessian(y, holding: coupling.surfaces, at: surfaceAlpha.map { $0.isFinite ? $0 : 0 }, into: hAlpha)
            law.addJacobian(P: P, gradient: lastG, auxiliary: y + bd, hessian: hAlpha, weight: 1, into: dfdy, dim: dim, auxOffset: bd)
            dissipationRow(dfdy, hAlpha, f)
            return
        }
        // The sides and their weights: M⁻ with 1 − Σ α_k, M⁺_k (k's pairs on) with α_k.
        var sides: [(members: [Int], weight: Double)] = []
        if let k = slidingPair {
            sides = [([k], alpha.isFinite ? alpha : 0)]
        } else if secondOrder != nil && surfaces.count == 1 {
            sides = [(surfaces[0].members, alpha.isFinite ? alpha : 0)]
        } else if secondOrder != nil && y[P + 1 + 2 * P] > 0 && surfaceAlpha.count == surfaces.count {
            sides = zip(surfaces, surfaceAlpha).map { ($0.members, $1.isFinite ? $1 : 0) }
        } else if surfaceAlpha.count == surfaces.count {
            sides = zip(surfaces, surfaceAlpha).map { ($0.members, $1) }
        }
        var a = 0.0
        for side in sides { a += side.weight }
        hessian(into: hMinus)
        law.addJacobian(P: P, gradient: sideGradient, auxiliary: y + bd, hessian: hMinus, weight: 1 - a,
                        into: dfdy, dim: dim, auxOffset: bd)
        for q in 0..<(P * P) { hAlpha[q] = (1 - a) * hMinus[q] }
        for side in sides where side.weight != 0 {
            base.updateMode(side.members.map { (index: $0, state: .on) })
            hessian(into: hMinus)
            base.updateMode(side.members.map { (index: $0, state: .off) })
            law.addJacobian(P: P, gradient: sideGradient, auxiliary: y + bd, hessian: hMinus, weight: side.weight,
                            into: dfdy, dim: dim, auxOffset: bd)
            for q in 0..<(P * P) { hAlpha[q] += side.weight * hMinus[q] }
        }
        dissipationRow(dfdy, hAlpha, f)
    }

    /// D' = −g_α·θ'_α: ∂/∂θ_j = −Σ_k (H_α,kj θ'_k + g_k ∂θ'_k/∂θ_j), ∂/∂a_j = −Σ_k g_k ∂θ'_k/∂a_j,
    /// from the θ' rows of dfdy and H_α = ∂g_α/∂θ (α held).
    private func dissipationRow(_ dfdy: UnsafeMutablePointer<Double>, _ hAlpha: UnsafePointer<Double>, _ f: UnsafePointer<Double>) {
        let dim = dimension
        let row = P * dim
        for j in 0..<dim where j != P {
            var s = 0.0
            for k in 0..<P {
                s -= lastG[k] * dfdy[k * dim + j]
                if j < P { s -= hAlpha[k * P + j] * f[k] }
            }
            dfdy[row + j] = s
        }
    }

    func loss(_ y: UnsafePointer<Double>) -> Double { base.loss(y) }

    func failure(at t: Double) -> FlowFailure? {
        if let f = base.failure(at: t) { return f }
        return pendingFailure.map { .severalAttractingSurfaces(t: t, pairs: $0) }
    }

    func noteFailure(_ error: Error) { base.noteFailure(error) }

    // MARK: Initial auxiliary state

    /// a(0) from g(θ(0)) of the current mode (RMSProp: v(0) = g²; Adam: zeros), into y.
    func initializeAuxiliary(_ y: UnsafeMutablePointer<Double>) {
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { scratch.deallocate() }
        let e = evaluation(at: y, into: scratch)
        let a = law.initialAuxiliary(gradient: e.gradient)
        for q in 0..<A { y[P + 1 + q] = a[q] }
        lastValid = false
    }

    /// The auxiliary state at t of a state held from t0 (θ fixed, so g is g(θ_held) of the mode;
    /// `AdaptiveLaw.heldAuxiliary`: the auxiliary equations' exact solution for a constant g).
    func advanceHeldAuxiliary(_ y: UnsafeMutablePointer<Double>, held: UnsafePointer<Double>, from t0: Double, to t: Double) {
        for q in 0..<(P + 1) { y[q] = held[q] }
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { scratch.deallocate() }
        evaluate(held, scratch)
        rhsEvaluations -= 1
        law.heldAuxiliary(P: P, gradient: lastG, auxiliary: held + (P + 1), elapsed: t - t0, into: y + (P + 1))
        lastValid = false
    }

    // MARK: Switching functions (θ only: the base field's)

    func preactivation(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double { base.preactivation(y, i, g) }

    func preactivationRate(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        base.preactivationRate(y, f, i, g)
    }

    func preactivationNoise(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double { base.preactivationNoise(y, i, g) }

    var switchingIsAffine: Bool { base.switchingIsAffine }
    var hasSwitchingFunctions: Bool { base.hasSwitchingFunctions }
    func layerAndUnit(ofNeuron i: Int) -> (layer: Int, unit: Int)? { base.layerAndUnit(ofNeuron: i) }

    func surfaceValues(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>?, z: UnsafeMutablePointer<Double>,
                       zdot: UnsafeMutablePointer<Double>?) {
        base.surfaceValues(y, f, z: z, zdot: zdot)
    }

    /// min(v⁻, −v⁺) of the evaluation: positive while the surface attracts from both sides.
    func slideExitValue(_ e: Evaluation, at y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        if let s = e.slides[i * G + g] { return s.exit }
        guard e.vPlus.isFinite, e.vMinus.isFinite else { return 0.5 }
        return min(e.vMinus, -e.vPlus)
    }

    /// Sign changes of ±z over the step and dips of z's cubic Hermite interpolant (as the shallow
    /// detector), pair by pair; the slide's exit function at y1.
    func detectEvents(y1: UnsafePointer<Double>, f1: UnsafePointer<Double>, evaluation e1: Evaluation, H: Double,
                      z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                      z1: UnsafeMutablePointer<Double>, zdot1: UnsafeMutablePointer<Double>) -> [EventDetector.Flag] {
        guard hasSwitchingFunctions else { return [] }
        surfaceValues(y1, f1, z: z1, zdot: zdot1)
        var flags: [EventDetector.Flag] = []
        let deep = base as? DeepModeField
        for k in 0..<(n * G) {
            let i = k / G, g = k % G
            if !besideSlide.isEmpty && besideSlide[k] { continue }
            if states[k] == .sliding {
                if slideExitValue(e1, at: y1, i, g) < 0 {
                    flags.append(EventDetector.Flag(function: EventFunction(neuron: i, group: g, sign: 0), tau: H, isDip: false))
                }
                continue
            }
            let s: Double = states[k] == .on ? 1 : -1
            let e1 = s * z1[k], d0 = s * zdot0[k], d1 = s * zdot1[k], e0 = s * z0[k]
            if min(e1, max(d0, -d1)) >= 0 { continue }
            let noise = preactivationNoise(y1, i, g)
            if e1 < 0 {
                if -e1 <= noise && abs(z0[k]) <= noise { continue }
                // Above layer 1, z is known only to the rounding carried up from the units below
                // (`DeepModeField.propagatedNoise`, the deep detector's guard): a lower unit at its
                // surface leaves z at that level, where its sign is no crossing.
                if let deep, deep.unitLayer[i] > 1 {
                    let carried = deep.propagatedNoise(y1, i, g)
                    if -e1 <= carried && abs(z0[k]) <= carried { continue }
                }
                let root = e0 > 0 ? EventDetector.hermiteFirstRoot(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, upTo: 1).map { $0 * H } : nil
                flags.append(EventDetector.Flag(function: EventFunction(neuron: i, group: g, sign: s), tau: H, isDip: false, root: root))
                continue
            }
            guard d0 < 0, d1 > 0, e0 > noise else { continue }
            if let tau = EventDetector.hermiteDip(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, depth: noise) {
                let root = EventDetector.hermiteFirstRoot(e0: e0, d0: d0 * H, e1: e1, d1: d1 * H, upTo: tau).map { $0 * H }
                flags.append(EventDetector.Flag(function: EventFunction(neuron: i, group: g, sign: s), tau: tau * H, isDip: true, root: root))
            }
        }
        return flags
    }

    // MARK: Filippov decisions

    func initialStates(_ y: UnsafePointer<Double>) -> (states: [PairState], onSurface: [(Int, Int)]) {
        base.initialStates(y)
    }

    /// ż of pair k and |θ'|² with k forced to `side` (the other pairs as they are, a sliding one
    /// with its α), and the tolerance 1e-12 Σ_p |∂z_k/∂θ_p θ'_p| below which ż counts as zero
    /// (the terms by the base field's rates along unit vectors: exact, and only at events).
    private func sideVelocity(_ y: UnsafePointer<Double>, pair k: Int, side: PairState, members: [Int]? = nil) -> (v: Double, norm2: Double, tol: Double) {
        let saved = states
        var forced = states
        for q in members ?? [k] { forced[q] = side }
        setMode(forced)
        let f = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { f.deallocate(); setMode(saved) }
        evaluate(y, f)
        let v = base.preactivationRate(y, f, k / G, k % G)
        var norm2 = 0.0
        for p in 0..<P { norm2 += f[p] * f[p] }
        return (v, norm2, 1e-12 * rateTerms(y, f, pair: k) + 1e-300)
    }

    /// Σ_p |∂z_k/∂θ_p u_p|, the magnitudes of the terms of ż_k along u (`zGradient`).
    private func rateTerms(_ y: UnsafePointer<Double>, _ u: UnsafePointer<Double>, pair k: Int) -> Double {
        let gz = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { gz.deallocate() }
        zGradient(y, pair: k, into: gz)
        var terms = 0.0
        for p in 0..<P { terms += abs(gz[p] * u[p]) }
        return terms
    }

    /// T = Σ_p |∂z_k/∂θ_p u_p|, the magnitudes of the terms of ż_k along the field's velocity u of the
    /// current mode (`zGradient`), and the rounding N that the velocity's own rounding makes of ż_k:
    /// N = Σ_p |∂z_k/∂θ_p| |θ'(δg)|_p, δg the gradient's rounding level in the current mode with its
    /// sliding pairs counted on (`DeepModeField.gradientRoundingLevel`; θ' is linear in g, so θ'(δg)
    /// is the velocity's rounding); `atRounding`: T ≤ N. The RMSProp flow on a deep base only
    /// (`firstInconsistent`, SPEC §4, §7): at a stationary point θ' = −g/(√v + ε) is the rounding of
    /// g, a cancellation of far larger terms, and ż of every surface there is noise of either sign,
    /// far above 1e-12 T (measured on the escape grid's s1 [1, 16×3, 1] at its minimum, t = 0.392:
    /// |g| 2e-15, ż± = −4e-15 and +1e-16 on one surface with 1e-12 T = 4e-26; every one of the 27
    /// modes of three surfaces "inconsistent", the run stopped with no consistent set). The Adam
    /// flow's θ' is not a function of g, a shallow base keeps the tangent's tolerance (N = 0).
    private func rateScale(_ y: UnsafePointer<Double>, _ u: UnsafePointer<Double>, pair k: Int) -> (terms: Double, noise: Double, atRounding: Bool) {
        let gz = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { gz.deallocate() }
        zGradient(y, pair: k, into: gz)
        var terms = 0.0
        for p in 0..<P { terms += abs(gz[p] * u[p]) }
        guard velocityFollowsGradient, let deep = base as? DeepModeField else { return (terms, 0, false) }
        let level = deep.gradientRoundingLevel(y, alsoOn: surfaces.flatMap(\.members))
        let w = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { w.deallocate() }
        level.withUnsafeBufferPointer {
            law.velocity(P: P, gradient: $0.baseAddress!, auxiliary: y + (P + 1), thetaDot: w, auxiliaryDot: w + (P + 1))
        }
        var noise = 0.0
        for p in 0..<P { noise += abs(gz[p]) * abs(w[p]) }
        return (terms, noise, terms <= noise)
    }

    /// ∇_θ z_k into `out` (P): from the deep field (one back-propagation), x̃_g on unit i's block
    /// for the shallow one, else by the base's rates along unit vectors.
    private func zGradient(_ y: UnsafePointer<Double>, pair k: Int, into out: UnsafeMutablePointer<Double>) {
        let i = k / G, g = k % G
        if let deep = base as? DeepModeField {
            deep.zGradient(y, pair: k, into: out)
            return
        }
        for p in 0..<P { out[p] = 0 }
        if let shallow = base as? ModeField {
            let net = shallow.network, d = shallow.d
            for c in 0..<d { out[net.wIndex(i, c)] = shallow.xg[g * d + c] }
            out[net.bIndex(i)] = 1
            return
        }
        let unit = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { unit.deallocate() }
        for q in 0..<dimension { unit[q] = 0 }
        for p in 0..<P {
            unit[p] = 1
            out[p] = base.preactivationRate(y, unit, i, g)
            unit[p] = 0
        }
    }

    func resolve(_ y: UnsafePointer<Double>, eventPairs: [(Int, Int)], excluded: [Int: Set<PairState>],
                 repeated: Set<Int>, reportUnchanged: Bool) -> [PairTransition] {
        let original = states
        var transitions: [PairTransition] = []
        var done = Set<Int>(), order: [Int] = []
        secondOrder?.pendingEntry = nil
        secondOrder?.decidedExit = nil
        for (i, g) in eventPairs {
            let k = i * G + g
            guard !done.contains(k) else { continue }
            // A degenerate tie (`DeepModeField.degenerateTie`: the pair's input, not its class's
            // surface, vanishes here) is no event of its class, as in the deep field's own resolve:
            // decided with its class it would move the class's other pairs, off their surface. Tested
            // here, in the mode of the decisions so far, not left to the order of the event's pairs
            // (the unit below, listed first by the driver, ends the tie when it is decided first).
            if let deep = base as? DeepModeField, deep.degenerateTie(y, k) { continue }
            // Coincident pairs (a deep base's ties in the current mode, SPEC §4: one surface, one
            // z) are decided together, as one surface; decided one by one, the first to slide left
            // the others forced onto the same surface from another side, and the event chattered
            // (measured on deep_flow_cases/rmsprop-coupled: 54 events against the reference's 13).
            let old = states[k]
            let group = (base as? DeepModeField)?.members(of: k).filter { states[$0] == old } ?? [k]
            for q in group where done.insert(q).inserted { order.append(q) }
            let plus = sideVelocity(y, pair: k, side: .on, members: group), minus = sideVelocity(y, pair: k, side: .off, members: group)
            var (new, kind) = OneSurfaceRule.decide(old: old, plus: plus, minus: minus)
            if pendingFailure != nil {   // a forced mode's sliding system failed
                setMode(original)
                return []
            }
            var secondOrderSlide = false
            if let so = secondOrder, let second = secondOrderDecision(y, pair: k, old: old, decided: new, rate: plus.v, so) {
                (new, kind) = second
                secondOrderSlide = new == .sliding
            }
            if new == .sliding, !velocityFollowsGradient, !secondOrderSlide,
               let other = surfaces.first(where: { !$0.members.contains(k) && surfaceKey($0.rep) != surfaceKey(k) }) {
                pendingFailure = "\(describe(k)) becomes attracting while \(describe(other.rep)) slides"
                setMode(original)
                return []
            }
            if old == .sliding && new != .sliding { kind = .slideEnd }
            if new == old && !reportUnchanged { continue }
            for q in group {
                transitions.append(PairTransition(neuron: q / G, group: q % G, from: states[q], to: new,
                                                  kind: repeated.contains(q) && kind != .slideEnd ? .graze : kind))
            }
            // Later pairs of this event are decided in the mode with this one's decision.
            var next = states
            for q in group { next[q] = new }
            setMode(next)
        }
        if let so = secondOrder { settleSecondOrder(y, done: done, transitions: &transitions, so) }
        // Several surfaces: the joint system decides which of them slide (the type's doc); the Adam
        // flow's second-order slides (s > 0) are settled above, by their z̈'s.
        let secondOrderSlides = secondOrder != nil && y[P + 1 + 2 * P] > 0
        if surfaces.count > 1 && !secondOrderSlides
            && !settleSeveral(y, original: original, candidates: order, transitions: &transitions) {
            setMode(original)
            return []
        }
        // A pair left on or off on a sliding surface it coincides with (`besideSlide`: a class
        // formed or a tie left at this event) joins that slide here, one surface with one α (SPEC
        // §4), unless the EventGuard excludes it; otherwise its z would follow the slide's rounding.
        if besideSlide.contains(true) {
            var next = states
            for q in states.indices where besideSlide[q] && excluded[q]?.contains(.sliding) != true {
                next[q] = .sliding
                transitions.removeAll { $0.neuron * G + $0.group == q }
                if original[q] != .sliding {
                    transitions.append(PairTransition(neuron: q / G, group: q % G, from: original[q], to: .sliding, kind: .slide))
                }
            }
            setMode(next)
        }
        setMode(original)
        return transitions
    }

    /// The several-surface decision at an event (the type's doc), in the mode of the one-surface
    /// decisions. Candidates: the event's pairs and every sliding pair.
    /// 1. Active-set pivoting: solve the joint system at y; the surface whose α lies farthest
    ///    outside [0, 1] beyond 1e-9 leaves to the side the one-surface rule gives it (its v± with
    ///    its members forced on and off, the others re-solved; `OneSurfaceRule` as for a sliding
    ///    pair, so that it leaves) and the rest is solved again, at most 2K + 2 rounds. (Not "the
    ///    side α points to": on a deep network v⁺ > v⁻ > 0 also gives α < 0, and sending such a
    ///    surface off left it pointing back on, measured on [1, 4, 4, 4, 4, 4, 1] Xavier seed 0.)
    /// 2. The result must be consistent (`firstInconsistent`): every candidate left on or off must
    ///    not point back into its surface (ż ≥ 0 on, ≤ 0 off, within 1e-12 of its terms), else a
    ///    pair pushed off could re-enter at once and the event would chatter (measured on two-d: two
    ///    surfaces of one neuron, each attracting while the other slides, jointly inconsistent). A
    ///    candidate that points back is decided afresh by the one-surface rule (its v± with the
    ///    slides re-solved: a crossing decided while another surface slid can turn once that
    ///    surface leaves) and the pivoting repeats, at most 3 times per pair, as the independent
    ///    reference's sweep does.
    /// 3. Otherwise the candidates' assignments (off, on, sliding) are searched, nearest to the
    ///    one-surface decisions first (fewest changed surfaces), for the first consistent one (at
    ///    most 6 candidates: 729 modes, each one evaluation, only at such events).
    /// Candidates are taken as units: a pair with its coincident pairs of the same state (a deep
    /// base's ties, one surface), never split.
    /// The transitions become the candidates' changes from `original`. False (with
    /// `pendingFailure` naming the surfaces) where no consistent assignment is found.
    private func settleSeveral(_ y: UnsafePointer<Double>, original: [PairState], candidates eventPairs: [Int],
                               transitions: inout [PairTransition]) -> Bool {
        let names = surfaces.map(describeSurface).joined(separator: ", ")
        var candidates = eventPairs
        for s in surfaces { for q in s.members where !candidates.contains(q) { candidates.append(q) } }
        let decided = states
        // Units: a candidate with its coincident pairs of the same state (one surface, decided as one).
        var units: [[Int]] = []
        for q in candidates where !units.contains(where: { $0.contains(q) }) {
            units.append(((base as? DeepModeField)?.members(of: q) ?? [q]).filter { states[$0] == states[q] && candidates.contains($0) })
        }
        func unit(of q: Int) -> [Int] { units.first { $0.contains(q) } ?? [q] }
        // 1. Pivoting, and 2. re-deciding a candidate that points back into its surface.
        var settled = false, isConsistent = false
        var redecided: [Int: Int] = [:]
        sweep: for _ in 0..<(3 * candidates.count + 2) {
            settled = pivot(y)
            if pendingFailure != nil { return false }
            guard settled else { break }
            guard let q = firstInconsistent(y, candidates) else { isConsistent = true; break }
            guard redecided[q, default: 0] < 3 else { break }
            redecided[q, default: 0] += 1
            let members = unit(of: q)
            let plus = sideVelocity(y, pair: q, side: .on, members: members), minus = sideVelocity(y, pair: q, side: .off, members: members)
            if pendingFailure != nil { return false }
            let new = OneSurfaceRule.decide(old: states[q], plus: plus, minus: minus).state
            guard new != states[q] else { break sweep }
            var next = states
            for r in members { next[r] = new }
            setMode(next)
        }
        // 3. The search.
        if !(settled && isConsistent) && units.count > 6 {
            // 4. Beyond the search's reach: the regularised limit (`BoxComplementarity`).
            guard regularisedLimit(y, decided: decided, units: units, candidates: candidates) else {
                pendingFailure = "no consistent set of sliding surfaces among \(names) by pivoting, nor by the regularised limit over \(units.count) surfaces"
                return false
            }
        } else if !(settled && isConsistent) {
            let choices: [PairState] = [.off, .on, .sliding]
            var assignments: [[PairState]] = []
            var code = [Int](repeating: 0, count: units.count)
            repeat {
                assignments.append(code.map { choices[$0] })
                var c = 0
                while c < code.count { code[c] += 1; if code[c] < 3 { break }; code[c] = 0; c += 1 }
                if c == code.count { break }
            } while true
            func changes(_ a: [PairState]) -> Int { zip(units, a).filter { decided[$0[0]] != $1 }.count }
            assignments.sort { changes($0) < changes($1) }
            var found = false
            for a in assignments {
                var next = decided
                for (members, s) in zip(units, a) { for q in members { next[q] = s } }
                setMode(next)
                guard let alphas = slideAlphas(y, failOnSingular: false) else { continue }
                if alphas.allSatisfy({ $0.alpha.isFinite && $0.alpha >= -1e-9 && $0.alpha <= 1 + 1e-9 }) && firstInconsistent(y, candidates) == nil {
                    found = true
                    break
                }
            }
            if !found && !regularisedLimit(y, decided: decided, units: units, candidates: candidates) {
                pendingFailure = "no consistent set of sliding surfaces among \(names) (pivoting, the search over \(assignments.count) modes of \(units.count) surfaces, and the regularised limit)"
                return false
            }
        }
        // The transitions: the candidates' changes from the original mode.
        let final = states
        for q in candidates where final[q] != decided[q] {
            transitions.removeAll { $0.neuron * G + $0.group == q }
            if original[q] != final[q] {
                let kind: EventKind = final[q] == .sliding ? .slide : original[q] == .sliding ? .slideEnd : (final[q] == .on ? .on : .off)
                transitions.append(PairTransition(neuron: q / G, group: q % G, from: original[q], to: final[q], kind: kind))
            }
        }
        return true
    }

    /// `settleSeveral` step 4: the consistent set as the limit of the regularised switch
    /// (`BoxComplementarity`: one always exists, the box VI of the candidates' σ'(0) = α), from the
    /// one-surface decisions. ż_j(α) in the mode `decided` with every candidate off (M⁻; on z = 0
    /// the forward pass is the same) and σ'(0) = α_k on unit k's pairs: a deep base's held
    /// derivative weights (multi-affine), else g⁻ + Σ α_k Δ_k (affine); ż along θ'(g) with a deep
    /// base's tangent pass taking dh/dz = α_k on unit k (`DeepModeField.rates`: a unit on carries
    /// its ż upwards, one off does not). The result is set as the
    /// mode and accepted only by the search's own test (every sliding α in [0, 1] to 1e-9 when the
    /// mode solves its system again, no candidate pointing back into its surface). RMSProp only
    /// (θ' linear in g).
    private func regularisedLimit(_ y: UnsafePointer<Double>, decided: [PairState], units tied: [[Int]], candidates: [Int]) -> Bool {
        guard velocityFollowsGradient else { return false }
        // One variable per surface as the mode counts them (`modeChanged`): units of one unit on
        // one ray (`surfaceKey`) are one surface with one α (their rates are positively
        // proportional; separate α's would admit states no mode can hold).
        var units: [[Int]] = []
        for members in tied {
            if let k = units.firstIndex(where: { surfaceKey($0[0]) == surfaceKey(members[0]) }) { units[k] += members } else { units.append(members) }
        }
        let K = units.count, aux = y + (P + 1)
        var lowMode = decided
        for members in units { for q in members { lowMode[q] = .off } }
        setMode(lowMode)
        let deep = base as? DeepModeField
        // Affine bases: g⁻ and Δ_k once.
        var gLow = [Double](repeating: 0, count: P), deltas = [[Double]]()
        let g = UnsafeMutablePointer<Double>.allocate(capacity: P), v = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { g.deallocate(); v.deallocate() }
        if deep == nil {
            _ = baseGradient(y, into: g)
            gLow = Array(UnsafeBufferPointer(start: g, count: P))
            for members in units {
                base.updateMode(members.map { (index: $0, state: .on) })
                _ = baseGradient(y, into: g)
                base.updateMode(members.map { (index: $0, state: .off) })
                deltas.append((0..<P).map { g[$0] - gLow[$0] })
            }
        }
        func rates(_ a: [Double]) -> [Double] {
            if let deep {
                deep.gradient(y, holding: units, at: a, into: g)
            } else {
                for p in 0..<P {
                    var s = gLow[p]
                    for k in 0..<K { s += a[k] * deltas[k][p] }
                    g[p] = s
                }
            }
            law.velocity(P: P, gradient: g, auxiliary: aux, thetaDot: v, auxiliaryDot: v + (P + 1))
            if let deep {
                zdotScratch.withUnsafeMutableBufferPointer { deep.rates(y, along: v, holding: units, at: a, into: $0.baseAddress!) }
                return units.map { zdotScratch[$0[0]] }
            }
            return units.map { base.preactivationRate(y, v, $0[0] / G, $0[0] % G) }
        }
        let start = units.map { decided[$0[0]] == .on ? 1.0 : (decided[$0[0]] == .off ? 0.0 : 0.5) }
        guard let found = BoxComplementarity.solve(count: K, start: start, rates: rates) else {
            setMode(decided)
            return false
        }
        var next = decided
        for (members, s) in zip(units, found.states) {
            for q in members { next[q] = s < 0 ? .off : (s > 0 ? .on : .sliding) }
        }
        setMode(next)
        // The limit's states are consistent to μ's resolution; the exact test re-solves the slides
        // with the decided surfaces exactly on or off. A candidate that then points back into its
        // surface slides (its α joins the system), and a slide whose α leaves the box leaves by
        // the pivoting, at most twice per unit.
        var joined: [Int: Int] = [:]
        for _ in 0..<(2 * K + 2) {
            guard pivot(y) else { break }
            guard let q = firstInconsistent(y, candidates) else { return true }
            let members = units.first { $0.contains(q) } ?? [q]
            guard joined[members[0], default: 0] < 2 else { break }
            joined[members[0], default: 0] += 1
            var joinedMode = states
            for r in members { joinedMode[r] = .sliding }
            setMode(joinedMode)
        }
        setMode(decided)
        return false
    }

    /// Active-set pivoting (`settleSeveral` step 1) in the current mode: true when every sliding
    /// surface's α lies in [0, 1] (to 1e-9) after at most 2K + 2 rounds, false where no α solves
    /// the conditions (NaN) or the rounds run out.
    private func pivot(_ y: UnsafePointer<Double>) -> Bool {
        for _ in 0..<(2 * surfaces.count + 2) {
            guard let alphas = slideAlphas(y) else { return false }
            // No α solves the conditions here (NaN): no pivot says which surface leaves; the search.
            if alphas.contains(where: { $0.alpha.isNaN }) { return false }
            var worst: (index: Int, excess: Double)? = nil
            for (index, s) in alphas.enumerated() {
                let excess = max(-s.alpha, s.alpha - 1)
                if excess > 1e-9 && excess > (worst?.excess ?? 0) { worst = (index, excess) }
            }
            guard let worst else { return true }
            // The leaving surface's side: the one-surface rule on its v± with the others re-solved
            // (α < 0 means v⁻ < 0 only where v⁺ < v⁻; on a deep network v⁺ > v⁻ > 0 gives α < 0
            // too, both sides pointing up); decided as a sliding pair, so that it leaves.
            let leaving = alphas[worst.index]
            let plus = sideVelocity(y, pair: leaving.members[0], side: .on, members: leaving.members)
            let minus = sideVelocity(y, pair: leaving.members[0], side: .off, members: leaving.members)
            if pendingFailure != nil { return false }
            let side = OneSurfaceRule.decide(old: .sliding, plus: plus, minus: minus).state
            var next = states
            for q in leaving.members { next[q] = side }
            setMode(next)
        }
        return false
    }

    /// The α of every sliding surface of the current mode at y (one evaluation), with its member
    /// pairs; nil when the sliding system failed (noted in `pendingFailure` unless told not to).
    private func slideAlphas(_ y: UnsafePointer<Double>, failOnSingular: Bool = true) -> [(members: [Int], alpha: Double)]? {
        let f = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { f.deallocate() }
        let saved = pendingFailure
        let e = evaluation(at: y, into: f)
        if pendingFailure != saved {
            if !failOnSingular { pendingFailure = saved }
            return nil
        }
        if let k = slidingPair { return [([k], e.alpha)] }
        return surfaces.map { s in (s.members, e.slides[s.rep]?.alpha ?? .nan) }
    }

    /// The first candidate on or off in the current mode that does not keep to its side at y:
    /// ż < −tol on, > tol off, beyond its rounding: tol = max(1e-12 T, N) (`rateScale`: T the
    /// magnitudes of ż's terms, N the rounding the velocity's own rounding makes of ż); nil when
    /// all do. A ż within N cannot be told from 0 and keeps a surface on or off as well as the
    /// computation can tell (α_k = 0 ⇒ ż_k ≤ 0 to rounding). Measured on the escape grid's s1
    /// [1, 16×7, 1] near its minimum (t = 0.0104, |g| ~ 4e-13): a surface off with ż = +6.2e-16
    /// "pointed back" while the joint system put its α at −4.3e-5, a root known only to the
    /// rounding of ż over ∂ż/∂α = −1.8e-11; every mode of three surfaces failed the 1e-12 T test.
    private func firstInconsistent(_ y: UnsafePointer<Double>, _ candidates: [Int]) -> Int? {
        let f = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { f.deallocate() }
        evaluate(y, f)
        for q in candidates where states[q] != .sliding {
            let v = base.preactivationRate(y, f, q / G, q % G)
            let scale = rateScale(y, f, pair: q)
            let tol = max(1e-12 * scale.terms + 1e-300, scale.noise)
            if states[q] == .on ? v < -tol : v > tol { return q }
        }
        return nil
    }

    /// The pairs themselves: this field detects and decides pair by pair (the base's
    /// representatives would leave a tied pair of an event undecided on its surface); several
    /// sliding surfaces, ties included, are then settled together in `resolve`.
    func jointPairs(_ y: UnsafePointer<Double>, with pairs: [(Int, Int)]) -> [(Int, Int)] {
        pairs
    }

    func project(_ i: Int, onto groups: [Int], state: UnsafeMutablePointer<Double>) {
        base.project(i, onto: groups, state: state)
        if let so = secondOrder { projectSecondOrderSurface(i, onto: groups, state: state, so) }
        lastValid = false
    }

    /// One surface's Filippov field F⁻ + α(F⁺ − F⁻) from the sides in fMinus, fPlus (α = 0 where
    /// it is not finite), with `lastG` = g⁻ + α(g⁺ − g⁻) and D' = −g_α·θ'_α: the first-order slide
    /// and the Adam flow's second-order slide differ only in how α is found.
    private func blendSides(_ alpha: Double, into f: UnsafeMutablePointer<Double>) {
        let a = alpha.isFinite ? alpha : 0
        for q in 0..<dimension { f[q] = fMinus[q] + a * (fPlus[q] - fMinus[q]) }
        var rate = 0.0
        lastG.withUnsafeMutableBufferPointer { last in
            for p in 0..<P {
                let g = gMinus[p] + a * (gPlus[p] - gMinus[p])
                last[p] = g
                rate -= g * f[p]
            }
        }
        f[P] = rate
    }

    // MARK: Diagnostics and step control

    /// The zero-loss hold only where θ' vanishes with g (RMSProp); Adam's momentum carries on.
    func lossIsAtRoundingLevel(_ e: Evaluation, at y: UnsafePointer<Double>) -> Bool {
        velocityFollowsGradient && base.lossIsAtRoundingLevel(e.base, at: y)
    }

    /// The ratio `StationaryHold` tests (held when it stays ≤ 1/4 while t doubles and the loss stays
    /// constant to rounding): for an adaptive flow, how far θ may still move, against the step
    /// control's tolerance atol + rtol|θ_p|, component by component (`stationaryRatio`); for the
    /// RMSProp flow also the gradient's rounding ratio (θ' = 0 exactly where g = 0), the smaller.
    func fieldRoundingRatio(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        let (motion, drift) = stationaryRatio(y, f)
        var ratio = motion
        if velocityFollowsGradient {
            ratio = min(motion, gradientRoundingRatio(e, at: y))
        }
        if !(ratio <= StationaryHold.threshold) && drift <= Self.equilibriumDrift {
            ratio = min(motion, equilibriumRatio(y, gradient: e.gradient, drift: drift))
        }
        if !(ratio <= StationaryHold.threshold) { holdAnchor = Array(UnsafeBufferPointer(start: y, count: P)) }
        return ratio
    }

    /// The RMSProp flow's stationary test: |g_α| (the gradient the velocity is made from, the
    /// Filippov one while surfaces slide) against its rounding level, the base field's own test
    /// (`fieldRoundingRatio`) with its field taken as −g_α, in the mode with every sliding pair on
    /// (the largest σ'(0) = α can give: on the surface z = 0, so the forward pass is M⁻'s).
    ///
    /// Why this is sound (SPEC §7): θ' = −g/(√v + ε) vanishes exactly where g does, so the flow's
    /// stationary points are the gradient flow's; a g_α that the computation cannot tell from 0
    /// (ratio ≤ 1/4, held while t doubles and the loss stays constant to rounding,
    /// `StationaryHold`) is such a point to working precision. Integrating on there only follows
    /// rounding: near a minimum v decays towards g² at rate 1/τ, so the computed θ' = −δg/(√v + ε)
    /// amplifies the gradient's rounding δg by up to 1/ε = 1e8 and the steppers crawl after noise
    /// (measured: the sine example as an RMSProp flow, loss constant to 13 ulp from t ≈ 137 with
    /// |g| 4e-15 to 7e-13 and one pair sliding, 317 000 msbdf steps to t = 5496 in 300 s). Before,
    /// the test read the base's gradient in M⁻ (every sliding pair off), which is not g_α while
    /// anything slides, so a minimum on a surface was never held. While held, v follows its own
    /// equation exactly at the held g (`advanceHeldAuxiliary`).
    private func gradientRoundingRatio(_ e: Evaluation, at y: UnsafePointer<Double>) -> Double {
        let sliding = states.indices.filter { states[$0] == .sliding }
        if !sliding.isEmpty { base.updateMode(sliding.map { (index: $0, state: .on) }) }
        defer { if !sliding.isEmpty { base.updateMode(sliding.map { (index: $0, state: .off) }) } }
        let eb = base.evaluation(at: y, into: fb)
        for p in 0..<P { fb[p] = -e.gradient[p] }
        return base.fieldRoundingRatio(eb, at: y, fb)
    }

    /// The Adam flow's second stationarity test: (θ, m) within the step control's tolerance of an
    /// equilibrium (θ*, m = 0) of the flow (θ* a stationary point of the mode's loss), where the
    /// momentum bound of `stationaryRatio` cannot pass.
    ///
    /// Why the momentum bound fails near a minimum: the exact flow has g → 0 at the rate a/2 of the
    /// damped oscillation δ'' ≈ −(a∇²L/S)δ − aδ' (S = √v̂ + ε) while √v̂ decays only at b/2, so
    /// m̂/S → 0; the computed state cannot follow: θ wanders at the step control's tolerance, so g
    /// and m stay at ρ(∇²L)·(atol + rtol|θ|) (measured on escape-grid networks at a minimum:
    /// |g| ~ 1e-12, |m| ~ 1e-13 from t = 30 to 100 while √v̂ fell from 1.6e-3 to 5e-5), and the
    /// bound |m̂|/(aS) grows like e^{bt/2} without the state moving. That residual momentum is what
    /// the tolerance makes of g, not motion of the flow.
    ///
    /// The test: over `StationaryHold`'s window (t at least doubles, the loss constant to 64 ulp)
    /// θ moved at most `equilibriumDrift` = 16 times atol + rtol|θ_p| in every component (`drift`:
    /// the global error of integrating a flow that amplifies its errors by 1/S, not motion of the
    /// flow; measured 0.3–3 tolerances per doubling window on those networks at a minimum, where
    /// the exact flow is at rest, growing like a random walk with the window's steps: 4 restarted
    /// the window for ever on [1, 8×7, 1]), and |g| and |m̂| are at most ρ ε_θ, ε_θ = |(atol + rtol|θ_p|)_p|₂
    /// and ρ the spectral radius of the
    /// mode's Hessian (the base's `stiffnessEstimate`, power iteration on exact Hessian–vector
    /// products): a point θ within ε_θ of a stationary point θ* has |g(θ)| ≤ ρ ε_θ to first order,
    /// and m, the exponential average of g, then also. The equilibrium (θ*, 0, v) of the exact
    /// flow does not move θ (θ' = −m̂/S = 0, m' = a(g − m) = 0, only v decays), so a held state is
    /// the exact flow's to within the tolerance the run was asked for (up to the integration's own
    /// global error). The ratio ¼·max(drift/16, max(|g|, |m̂|)/(ρ ε_θ)) is ≤ ¼
    /// (`StationaryHold.threshold`) exactly when both hold. (A flat direction, where |g| ≤ ρ ε_θ allows a distance to θ* beyond ε_θ, is covered
    /// by the drift: the state did not move there while t doubled.) Computed only where the drift
    /// already passes (ρ costs 12 Hessian–vector products).
    ///
    /// The RMSProp flow (no momentum: m̂ = 0 above) has the same trouble where g passes its
    /// rounding test nowhere: θ' = −g/(√v + ε) divides the tolerance-level |g| ~ ρ ε_θ by a √v
    /// that decays towards it, so the computed θ wanders at the tolerance (measured on the escape
    /// grid's [1, 8, 8, 8, 1] Xavier seed 0: loss constant to 1 ulp from t ≈ 0.6, |g| from 1e-16 to
    /// 7e-12, θ drifting 1–3 tolerances per doubling, 23 000 steps to t = 213 in 45 s). Its
    /// equilibria (θ*, v) with g(θ*) = 0 move only v, so the same test holds it.
    private func equilibriumRatio(_ y: UnsafePointer<Double>, gradient g: [Double], drift: Double) -> Double {
        guard g.count == P else { return .infinity }
        let adam = law as? AdamFlow
        guard adam != nil || velocityFollowsGradient else { return .infinity }
        let s = adam != nil ? y[P + 1 + 2 * P] : 1
        guard s > 0 else { return .infinity }
        var tol2 = 0.0, g2 = 0.0, m2 = 0.0
        for p in 0..<P {
            let scale = tolerance.atol + tolerance.rtol * abs(y[p])
            tol2 += scale * scale
            g2 += g[p] * g[p]
            if let adam {
                let mHat = y[P + 1 + p] / -expm1(-adam.a * s)
                m2 += mHat * mHat
            }
        }
        let eb = base.evaluation(at: y, into: fb)
        let rho = base.stiffnessEstimate(eb, at: y, fb)
        let level = rho * tol2.squareRoot()
        guard level > 0, level.isFinite else { return .infinity }
        let ratio = 0.25 * max(drift / Self.equilibriumDrift, max(g2, m2).squareRoot() / level)
        return ratio
    }

    /// θ's motion over the stationarity window allowed by `equilibriumRatio`, in tolerances.
    static var equilibriumDrift: Double { 16 }

    /// Stationary to the step control's tolerance (the adaptive flows near a minimum of the mode).
    ///
    /// Why not the gradient flow's rounding test alone: θ' = −g/(√v + ε) (RMSProp) and
    /// −m̂/(√v̂ + ε) (Adam) divide by √v, which decays at rate 1/(2τ) (b/2) towards |g| once g is
    /// small, so the integrator's tolerance-level error in θ (|g| ~ ρ(∇²L)·(atol + rtol|θ|), far
    /// above g's rounding level) is amplified, the numerical state wanders at that level, and the
    /// implicit stepper crawls (measured on escape-grid networks: |g| 20–300 times its worst-case
    /// rounding level for t from 6 to 60, 1.2 M msbdf steps to t = 273; the gradient flow of the
    /// same network: 96 steps to T = 500).
    ///
    /// The ratio: max_p (|θ_p − θ_p(anchor)| + B_p) / (atol + rtol|θ_p|), with the anchor the state
    /// of the last check that failed (so the ratio covers θ's whole motion over StationaryHold's
    /// window, in which t at least doubles and the loss stays constant to 64 ulp), and B_p a bound
    /// on the motion still to come from the momentum: the Adam flow at g = 0 has m' = −a m, so
    /// ∫|θ'_p| dt ≤ |m̂_p|/(a(√v̂_p + ε)) (the bias correction 1/(1 − e^{−as}) only decreases, √v̂
    /// only decays slowly, b ≪ a); near a minimum with ∇²L ⪰ 0 the linearised flow has the
    /// non-increasing Q = ½δᵀ∇²Lδ + Σ m_p²/(2a S_p), S = √v̂ + ε, so the normal motion stays
    /// bounded by the distance already covered. RMSProp has no momentum (B = 0). A held run is the
    /// exact flow's state to within the step control's tolerance, which is what integrating on
    /// would deliver at best.
    /// Returns the ratio and θ's motion alone, max_p |θ_p − θ_p(anchor)|/(atol + rtol|θ_p|) (`drift`);
    /// the caller moves the anchor when its test fails.
    private func stationaryRatio(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> (ratio: Double, drift: Double) {
        var ratio = 0.0, drift = 0.0
        let anchor = holdAnchor
        let adam = law as? AdamFlow
        let s = adam != nil ? y[P + 1 + 2 * P] : 0
        for p in 0..<P {
            let scale = tolerance.atol + tolerance.rtol * abs(y[p])
            var motion = anchor.map { abs(y[p] - $0[p]) } ?? .infinity
            drift = max(drift, motion / scale)
            if let adam {
                guard s > 0 else { motion = .infinity; break }
                let mHat = y[P + 1 + p] / -expm1(-adam.a * s)
                let vHat = max(y[P + 1 + P + p], 0) / -expm1(-adam.b * s)
                motion += abs(mHat) / (adam.a * (vHat.squareRoot() + adam.epsilon))
            }
            ratio = max(ratio, motion / scale)
        }
        return (ratio, drift)
    }

    /// A bound on the spectral radius of ∂f/∂y for the `auto` rule: the base's ρ(∇²L) scaled by
    /// the largest 1/(√v̂ + ε), and the averaging rates (1/τ); the Adam flow's from its
    /// linearisation (`adamStiffnessEstimate`). The RMSProp flow's bound is sharpened where it
    /// would switch (`refinedStiffnessEstimate`).
    func stiffnessEstimate(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        if let adam = law as? AdamFlow { return adamStiffnessEstimate(adam, gradient: e.gradient, at: y) }
        let eb = base.evaluation(at: y, into: fb)
        let rho = base.stiffnessEstimate(eb, at: y, fb)
        switch law {
        case let r as RMSPropFlow:
            var minScale = Double.infinity
            for p in 0..<P { minScale = min(minScale, max(y[P + 1 + p], 0).squareRoot() + r.epsilon) }
            return max(rho / minScale, 1 / r.tau)
        default:
            return rho
        }
    }

    /// The RMSProp flow's decay rates from its linearisation (`rmspropStiffnessEstimate`); nil for
    /// the Adam flow (its `stiffnessEstimate` is already its linearisation's).
    func refinedStiffnessEstimate(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double? {
        guard let r = law as? RMSPropFlow else { return nil }
        return rmspropStiffnessEstimate(r, at: y)
    }

    var costDimension: Int { base.costDimension }
}

// MARK: - The Adam flow's second-order slide (SecondOrderSlide.swift has the mathematics)

extension AdaptiveField {
    /// The key of pair k's surface, as `modeChanged` groups sliding pairs: a deep base's
    /// representative, and points of one ray from 0 on networks without biases (`rayClass`).
    func surfaceKey(_ k: Int) -> Int {
        let r = (base as? DeepModeField)?.representative[k] ?? k
        return (r / G) * G + rayClass[r % G]
    }

    /// The field on one second-order sliding surface (`SecondOrderSlide`): F_α = F⁻ + α(F⁺ − F⁻),
    /// α = z̈⁻/(z̈⁻ − z̈⁺), with vMinus, vPlus = z̈⁻, z̈⁺ (the exit value min(z̈⁻, −z̈⁺)). The base's last
    /// evaluation is the M⁻ one, as in the first-order path.
    fileprivate func computeSecondOrder(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>,
                                        _ so: SecondOrderSlide) -> Bool {
        let surface = surfaces[0], dim = dimension
        base.updateMode(surface.members.map { (index: $0, state: .on) })
        var ok = baseGradient(y, into: gPlus)
        base.updateMode(surface.members.map { (index: $0, state: .off) })
        ok = baseGradient(y, into: gMinus) && ok
        stateVelocity(y, gradient: gMinus, into: fMinus)
        stateVelocity(y, gradient: gPlus, into: fPlus)
        let (zm, zp) = secondOrderRates(y, rep: surface.rep, so)
        vMinus = zm
        vPlus = zp
        alpha = zm != zp ? zm / (zm - zp) : .nan
        surfaceAlpha = []
        blendSides(alpha, into: f)
        return ok
    }

    /// (z̈⁻, z̈⁺) of surface `rep` from the two sides' state velocities in fMinus, fPlus:
    /// z̈± = ∇z·θ''± + θ'ᵀ∇²zθ' (SurfaceJet on a deep base; ∇z·θ''± where z is affine).
    fileprivate func secondOrderRates(_ y: UnsafePointer<Double>, rep: Int, _ so: SecondOrderSlide) -> (Double, Double) {
        let wMinus = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let wPlus = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { wMinus.deallocate(); wPlus.deallocate() }
        so.thetaAcceleration(P: P, y: y, stateDot: fMinus, into: wMinus)
        so.thetaAcceleration(P: P, y: y, stateDot: fPlus, into: wPlus)
        if let jet = so.curvature {
            let zm = jet.jet(y, u: fMinus, w: wMinus, pair: rep, states: states).zddot
            let zp = jet.jet(y, u: fMinus, w: wPlus, pair: rep, states: states).zddot
            return (zm, zp)
        }
        return (base.preactivationRate(y, wMinus, rep / G, rep % G), base.preactivationRate(y, wPlus, rep / G, rep % G))
    }

    /// The field on K ≥ 2 second-order sliding surfaces (`SecondOrderSlide`, several surfaces), not
    /// coupled (no two on one data group in different layers), nested in the order they entered
    /// (`SecondOrderSlide.entryOrder`): the newest surface's slide is Filippov's combination of the
    /// older slides' motions on its two sides,
    ///
    ///     F = F_in(M⁻_K) + α_K (F_in(M⁺_K) − F_in(M⁻_K)),   α_K = z̈_K⁻/(z̈_K⁻ − z̈_K⁺),
    ///
    /// F_in(M±_K) the K − 1 older slides (nested likewise; one: `computeSecondOrder`'s F⁻ + α(F⁺ − F⁻))
    /// in the mode with surface K's pairs off or on, z̈_K± = ∇z_K·θ''(F_in(M±_K)) + θ'ᵀ∇²z_Kθ' (θ' is
    /// the same in every mode). Why nested: an older slide is the limit of a zig-zag whose amplitude
    /// has fallen for longer, and a relay's period is proportional to its amplitude, both falling like
    /// e^{−at/3}: their ratio stays at the gap the older one had at the newer one's entry (about
    /// e^{−aΔt/3} for entries Δt apart: 1e-12 on the user's [2, 5, 3, 1] network, Δt = 8.3). So in
    /// each half cycle of the newer zig-zag the older one has averaged out already, in that half
    /// cycle's mode, and the newer zig-zag's limit is the slide between those two averaged motions
    /// (crossed one by one, the newer zig-zag converges to it: SecondOrderSlideTests). Not the
    /// product measure of independent sides (the RMSProp flow's several surfaces), which needs
    /// comparable, unrelated frequencies. z̈_K is affine in the combination, so α_K is explicit.
    /// Surface j's exit value is the smallest over the newer surfaces' sides of its own
    /// min(z̈_j⁻, −z̈_j⁺) (it must attract in every mode the newer zig-zags visit), its sides those of
    /// that mode; `surfaceAlpha` holds α_j of the outermost modes' mean (an effective fraction).
    fileprivate func computeSecondOrderSeveral(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>,
                                               _ so: SecondOrderSlide) -> Bool {
        vPlus = .nan; vMinus = .nan; alpha = .nan
        var ok = true
        if coupling != nil {
            if pendingFailure == nil {
                pendingFailure = "\(surfaces.map(describeSurface).joined(separator: ", ")) slide at second order on one data point "
                    + "in different layers under the adam flow (the nested slide needs each surface's z unaffected by the others' sides)"
            }
            ok = false
        }
        let order = so.nestingOrder(surfaces.map { surfaceKey($0.rep) })
        let nested = nestedSecondOrder(y, order: order, so)
        ok = ok && nested.ok
        for q in 0..<dimension { f[q] = nested.f[q] }
        lastG.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: nested.g, count: P) }
        // Per surface in `surfaces` order.
        var alphas = [Double](repeating: .nan, count: surfaces.count), exits = alphas
        var sides = [(minus: Double, plus: Double)](repeating: (.nan, .nan), count: surfaces.count)
        for (position, index) in order.enumerated() {
            alphas[index] = nested.alphas[position]
            exits[index] = nested.exits[position].isFinite ? nested.exits[position] : -1
            sides[index] = nested.sides[position]
        }
        surfaceAlpha = alphas
        surfaceExit = exits
        surfaceSides = sides
        return ok
    }

    /// The nested second-order slide of `surfaces[order]` (oldest first; the last one outermost) in
    /// the base's current mode for every other pair: the state velocity f, its gradient g (D' = −g·θ'),
    /// and per surface of `order` its α, exit value and sides (`computeSecondOrderSeveral`).
    private func nestedSecondOrder(_ y: UnsafePointer<Double>, order: [Int], _ so: SecondOrderSlide)
        -> (f: [Double], g: [Double], alphas: [Double], exits: [Double], sides: [(minus: Double, plus: Double)], ok: Bool) {
        let surface = surfaces[order[order.count - 1]], dim = dimension
        var parts: [(f: [Double], g: [Double], alphas: [Double], exits: [Double], sides: [(minus: Double, plus: Double)])] = []
        var ok = true
        for side in [PairState.off, .on] {
            base.updateMode(surface.members.map { (index: $0, state: side) })
            if order.count == 1 {
                var g = [Double](repeating: 0, count: P), f = [Double](repeating: 0, count: dim)
                ok = g.withUnsafeMutableBufferPointer { baseGradient(y, into: $0.baseAddress!) } && ok
                g.withUnsafeBufferPointer { gp in f.withUnsafeMutableBufferPointer { stateVelocity(y, gradient: gp.baseAddress!, into: $0.baseAddress!) } }
                parts.append((f, g, [], [], []))
            } else {
                let inner = nestedSecondOrder(y, order: Array(order.dropLast()), so)
                ok = ok && inner.ok
                parts.append((inner.f, inner.g, inner.alphas, inner.exits, inner.sides))
            }
        }
        base.updateMode(surface.members.map { (index: $0, state: .off) })
        // z̈ of this surface along each side's (inner) motion: θ' is common, θ'' from its m', v'.
        let w = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { w.deallocate() }
        var zz = [Double](repeating: 0, count: 2)
        for s in 0..<2 {
            parts[s].f.withUnsafeBufferPointer { fp in
                so.thetaAcceleration(P: P, y: y, stateDot: fp.baseAddress!, into: w)
                if let jet = so.curvature {
                    zz[s] = parts[0].f.withUnsafeBufferPointer { jet.jet(y, u: $0.baseAddress!, w: w, pair: surface.rep, states: states).zddot }
                } else {
                    zz[s] = base.preactivationRate(y, w, surface.rep / G, surface.rep % G)
                }
            }
        }
        let (zm, zp) = (zz[0], zz[1])
        let a = zm != zp ? zm / (zm - zp) : Double.nan, weight = a.isFinite ? a : 0
        let f = (0..<dim).map { parts[0].f[$0] + weight * (parts[1].f[$0] - parts[0].f[$0]) }
        let g = (0..<P).map { parts[0].g[$0] + weight * (parts[1].g[$0] - parts[0].g[$0]) }
        var alphas: [Double] = [], exits: [Double] = [], sides: [(minus: Double, plus: Double)] = []
        for j in 0..<parts[0].exits.count {
            alphas.append(parts[0].alphas[j] + weight * (parts[1].alphas[j] - parts[0].alphas[j]))
            let e0 = parts[0].exits[j], e1 = parts[1].exits[j]
            let lower = e0.isNaN ? 0 : e1.isNaN ? 1 : e0 <= e1 ? 0 : 1
            exits.append(parts[lower].exits[j])
            sides.append(parts[lower].sides[j])
        }
        alphas.append(a)
        exits.append(a.isFinite ? min(zm, -zp) : .nan)
        sides.append((zm, zp))
        return (f, g, alphas, exits, sides, ok)
    }

    /// Moves (m, v) of `y` along F⁺ − F⁻ = (0, aΔ, bΔ₂, 0) of the surface (members, rep) until
    /// ż = 0 (`SecondOrderSlide`'s doc): a root of ż(w) = ∇z·Θ(m + waΔ, v + wbΔ₂, s), whose slope
    /// ∇z·(Θ_m aΔ + Θ_v bΔ₂) is z̈⁺ − z̈⁻ at w = 0. ż is linear in m but not in v: Θ ∝ 1/(√v̂ + ε),
    /// and w must keep every v + wbΔ₂ > 0 (at v = 0 the velocity is −m̂/ε). Plain Newton from w = 0
    /// overshot that bound on the escape grid's [1, 16×4, 1] network (ż −0.063 → 610 → −0.027
    /// after its three steps), the slide began with ż ≠ 0 and the projections onto z = 0 after
    /// its steps moved θ by 0.16, a dissipation defect of 5e-3. So: Newton safeguarded by a
    /// bracket (w kept inside the admissible interval, halving towards its bound), to ż at the
    /// rounding of its terms. θ, s and D unchanged. Returns the move w (nil, with y unchanged,
    /// where no root is bracketed in the admissible interval or the iteration does not settle).
    @discardableResult
    func projectSecondOrder(members: [Int], rep: Int, state y: UnsafeMutablePointer<Double>, _ so: SecondOrderSlide) -> Double? {
        let saved = members.map { states[$0] == .sliding ? PairState.off : states[$0] }
        base.updateMode(members.map { (index: $0, state: .on) })
        _ = baseGradient(y, into: gPlus)
        base.updateMode(members.map { (index: $0, state: .off) })
        _ = baseGradient(y, into: gMinus)
        base.updateMode(zip(members, saved).map { (index: $0, state: $1) })
        lastValid = false
        let aux = y + (P + 1), s = aux[2 * P], a = so.law.a, b = so.law.b
        guard s > 0 else { return nil }
        let m0 = Array(UnsafeBufferPointer(start: aux, count: P)), v0 = Array(UnsafeBufferPointer(start: aux + P, count: P))
        let u = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { u.deallocate() }
        // The admissible interval: v + wbΔ₂ > 0 wherever it moves (half-way to the bound at most).
        var lower = -Double.infinity, upper = Double.infinity
        for p in 0..<P {
            let dv = b * (gPlus[p] * gPlus[p] - gMinus[p] * gMinus[p])
            if dv > 0 { lower = max(lower, -v0[p] / dv) } else if dv < 0 { upper = min(upper, v0[p] / -dv) }
        }
        func place(_ w: Double) {
            for p in 0..<P {
                aux[p] = m0[p] + w * a * (gPlus[p] - gMinus[p])
                aux[P + p] = v0[p] + w * b * (gPlus[p] * gPlus[p] - gMinus[p] * gMinus[p])
            }
        }
        /// ż, its slope in w and the rounding level of ż (4 ulp of Σ_p |∂z/∂θ_p θ'_p|) at w.
        func rate(_ w: Double) -> (zdot: Double, slope: Double, level: Double) {
            place(w)
            law.velocity(P: P, gradient: gMinus, auxiliary: aux, thetaDot: fMinus, auxiliaryDot: fMinus + (P + 1))
            let zdot = base.preactivationRate(y, fMinus, rep / G, rep % G)
            for p in 0..<P {
                let d = so.law.partials(g: 0, m: aux[p], v: aux[P + p], s: s)
                let delta = gPlus[p] - gMinus[p], delta2 = gPlus[p] * gPlus[p] - gMinus[p] * gMinus[p]
                u[p] = d.thetaM * a * delta + d.thetaV * b * delta2
            }
            let level = 4 * Double.ulpOfOne * rateTerms(y, fMinus, pair: rep)
            return (zdot, base.preactivationRate(y, u, rep / G, rep % G), level)
        }
        func restore() -> Double? { place(0); return nil }
        var r = rate(0)
        if abs(r.zdot) <= r.level { return 0 }
        guard r.slope != 0, r.slope.isFinite, r.zdot.isFinite else { return restore() }
        // Bracket [lo, hi] ∋ root: from 0 along the Newton direction, doubling, at most half-way
        // to the admissible bound at each try.
        let direction: Double = -r.zdot / r.slope > 0 ? 1 : -1
        let bound = direction > 0 ? upper : -lower
        var near = 0.0, nearRate = r.zdot
        var far = abs(r.zdot / r.slope)
        var bracketed = false
        for _ in 0..<60 {
            if far >= bound { far = near + (bound - near) / 2 }
            let q = rate(direction * far)
            guard q.zdot.isFinite else { return restore() }
            if (q.zdot > 0) != (nearRate > 0) || abs(q.zdot) <= q.level { bracketed = true; break }
            near = far
            nearRate = q.zdot
            far *= 2
        }
        guard bracketed else { return restore() }
        // Newton within the bracket, bisection where a Newton step leaves it.
        var lo = direction * near, hi = direction * far, loRate = nearRate
        var w = hi
        r = rate(w)
        for _ in 0..<100 {
            if abs(r.zdot) <= r.level { return w }
            if (r.zdot > 0) == (loRate > 0) { lo = w; loRate = r.zdot } else { hi = w }
            var next = w - r.zdot / r.slope
            if !next.isFinite || next <= min(lo, hi) || next >= max(lo, hi) { next = (lo + hi) / 2 }
            if next == w || abs(hi - lo) <= 2 * Double.ulpOfOne * max(abs(lo), abs(hi)) { return w }
            w = next
            r = rate(w)
        }
        return restore()
    }

    /// After the base's projection of unit i onto `groups`: the (m, v) projection of a surface of
    /// that unit entering (`SecondOrderSlide.pendingEntry`, decided at the event just resolved) or
    /// sliding at second order.
    fileprivate func projectSecondOrderSurface(_ i: Int, onto groups: [Int], state y: UnsafeMutablePointer<Double>,
                                               _ so: SecondOrderSlide) {
        let pairs = Set(groups.map { i * G + $0 })
        var targets: [(rep: Int, members: [Int])] = []
        if let entry = so.pendingEntry, entry.rep / G == i, entry.members.contains(where: pairs.contains) {
            so.pendingEntry = nil
            targets = [entry]
        } else if surfaces.contains(where: { $0.rep / G == i && $0.members.contains(where: pairs.contains) }) {
            targets = surfaces.filter { $0.rep / G == i && $0.members.contains(where: pairs.contains) }
        }
        guard !targets.isEmpty else { return }
        // With one surface, one projection. With several (an entry beside a slide, or K ≥ 2 sliding):
        // a move along one surface's F⁺ − F⁻ changes the others' ż a little (their ż depend on the
        // same (m, v)), so the surfaces are projected cyclically until none moves (at most 8 sweeps).
        let others = surfaces.filter { s in !targets.contains { $0.rep == s.rep } }
        if others.isEmpty && targets.count == 1 {
            projectSecondOrder(members: targets[0].members, rep: targets[0].rep, state: y, so)
            return
        }
        let all = targets + others
        for _ in 0..<8 {
            var moved = false
            for surface in all {
                if let w = projectSecondOrder(members: surface.members, rep: surface.rep, state: y, so), w != 0 { moved = true }
            }
            if !moved { return }
        }
    }

    /// z̈± decisions of the Adam flow at an event on pair k (`SecondOrderSlide`), or nil to keep the
    /// first-order decision `decided`:
    /// - a pair sliding at second order (at its located exit, or decided again): `OneSurfaceRule`
    ///   on (z̈⁺, z̈⁻), which leaves to the side α is nearer to where both still attract;
    /// - another pair of a surface entering at this event: it enters too;
    /// - a crossing (s > 0, nothing sliding): recorded; it enters the slide where the zig-zag is
    ///   established, the projected state attracts at second order, and the relay's relative
    ///   amplitude is at most `entryAmplitude`.
    fileprivate func secondOrderDecision(_ y: UnsafePointer<Double>, pair k: Int, old: PairState, decided: PairState,
                                         rate: Double, _ so: SecondOrderSlide) -> (PairState, EventKind)? {
        let s = y[P + 1 + 2 * P]
        guard s > 0 else { return nil }
        let key = surfaceKey(k)
        if old == .sliding {
            if let exit = so.decidedExit, exit.key == key { return exit.decision }
            guard let j = surfaces.firstIndex(where: { surfaceKey($0.rep) == key }) else { return nil }
            let f = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
            defer { f.deallocate() }
            evaluate(y, f)
            let (zp, zm) = surfaces.count == 1 ? (vPlus, vMinus) : (surfaceSides[j].plus, surfaceSides[j].minus)
            let tol = 1e-10 * max(abs(zp), abs(zm)) + 1e-300
            let decision = OneSurfaceRule.decide(old: .sliding, plus: (zp, 0, tol), minus: (zm, 0, tol))
            if decision.state != .sliding { so.detector.forget(key) }
            so.decidedExit = (key, decision)
            return decision
        }
        if let entry = so.pendingEntry, surfaceKey(entry.rep) == key { return (.sliding, .slide) }
        guard decided != old, decided != .sliding, rate.isFinite, rate != 0 else { return nil }
        let established = so.detector.established(key, s: s, zdot: rate)
        so.detector.record(key, s: s, zdot: rate)
        guard so.entryAmplitude > 0, established else { return nil }
        // The surface's pairs: unit k's pairs of the same surface, in k's state.
        let unit = k / G
        let members = (0..<G).map { unit * G + $0 }.filter { surfaceKey($0) == key && states[$0] == old }
        guard members.contains(k) else { return nil }
        // Beside other second-order slides only where no two surfaces lie on one data group in
        // different layers (`CoupledSlides`: one's side would change the other's z).
        if let deep = base as? DeepModeField, !surfaces.isEmpty,
           CoupledSlides(surfaces: surfaces.map(\.members) + [members], G: G, layer: { deep.unitLayer[$0 / self.G] }).isCoupled {
            return nil
        }
        // z̈± at the projected state, in the mode with the surface sliding.
        let saved = states
        let probe = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        let f = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { probe.deallocate(); f.deallocate() }
        probe.update(from: y, count: dimension)
        guard projectSecondOrder(members: members, rep: k, state: probe, so) != nil else { return nil }
        // The relay's picture needs Θ affine in (m, v) over the zig-zag: v moves by the projection's
        // wbΔ₂ between a crossing and the slide, and √v̂ must change by a small fraction there (at
        // most the entry amplitude; where v is no larger than that move the zig-zag is not yet the
        // small oscillation the slide averages).
        var vShift = 0.0
        for p in 0..<P {
            let v = y[P + 1 + P + p], moved = abs(probe[P + 1 + P + p] - v)
            if moved > 0 { vShift = max(vShift, v > 0 ? moved / v : .infinity) }
        }
        guard vShift <= so.entryAmplitude else { return nil }
        var sliding = states
        for q in members { sliding[q] = .sliding }
        setMode(sliding)
        evaluate(probe, f)
        // With other surfaces sliding: this surface's sides with theirs at their solved α's, and
        // each of theirs must still attract (exit value > 0).
        var zm = vMinus, zp = vPlus, othersAttract = true
        if surfaces.count > 1 {
            if let j = surfaces.firstIndex(where: { $0.members.contains(k) }), surfaceSides.count == surfaces.count {
                (zm, zp) = (surfaceSides[j].minus, surfaceSides[j].plus)
                othersAttract = surfaceExit.indices.allSatisfy { $0 == j || surfaceExit[$0] > 0 }
            } else {
                (zm, zp) = (.nan, .nan)
            }
        }
        setMode(saved)
        let tol = 1e-10 * max(abs(zp), abs(zm)) + 1e-300
        guard othersAttract else { return nil }
        guard zp < -tol, zm > tol else { return nil }
        let amplitude = 2 * so.law.a * abs(rate) / min(abs(zp), abs(zm))
        guard amplitude <= so.entryAmplitude else { return nil }
        so.pendingEntry = (rep: k, members: members)
        so.detector.forget(key)
        so.noteEntry(key, sliding: surfaces.map { surfaceKey($0.rep) })
        return (.sliding, .slide)
    }

    /// After an event's decisions: a second-order slide the event did not decide must still hold
    /// in the new mode. Its normal rate ż can jump where a pair of a lower layer on the same points
    /// switches (ḣ of that unit enters ż through the forward tangent): beyond 1e-9 of its terms
    /// Σ_p |∂z/∂θ_p θ'_p| (a projected slide has ż at rounding, ~1e-16 of them) the flow leaves
    /// the surface transversally, to the side ż points to. Else it must still attract
    /// (z̈⁺ < 0 < z̈⁻), or it leaves by `OneSurfaceRule` on (z̈⁺, z̈⁻).
    fileprivate func settleSecondOrder(_ y: UnsafePointer<Double>, done: Set<Int>, transitions: inout [PairTransition],
                                       _ so: SecondOrderSlide) {
        guard !surfaces.isEmpty, y[P + 1 + 2 * P] > 0 else { return }
        let f = UnsafeMutablePointer<Double>.allocate(capacity: dimension)
        defer { f.deallocate() }
        // Several surfaces: one leaves at a time (the others' sides change with it), then again.
        for _ in 0..<surfaces.count {
            var left = false
            for (j, surface) in surfaces.enumerated() where !surface.members.contains(where: done.contains) {
                evaluate(y, f)
                let zdot = base.preactivationRate(y, f, surface.rep / G, surface.rep % G)
                let transversal = abs(zdot) > 1e-9 * rateTerms(y, f, pair: surface.rep)
                let (zp, zm) = surfaces.count == 1 ? (vPlus, vMinus) : (surfaceSides[j].plus, surfaceSides[j].minus)
                guard transversal || !(zp < 0 && zm > 0) else { continue }
                let tol = 1e-10 * max(abs(zp), abs(zm)) + 1e-300
                let new = transversal ? (zdot > 0 ? PairState.on : .off)
                    : OneSurfaceRule.decide(old: .sliding, plus: (zp, 0, tol), minus: (zm, 0, tol)).state
                guard new != .sliding else { continue }
                so.detector.forget(surfaceKey(surface.rep))
                var next = states
                for q in surface.members {
                    transitions.append(PairTransition(neuron: q / G, group: q % G, from: .sliding, to: new, kind: .slideEnd))
                    next[q] = new
                }
                setMode(next)
                left = true
                break
            }
            if !left { return }
        }
    }
}

