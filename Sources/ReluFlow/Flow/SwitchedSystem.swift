/// A mode-locked field with its switching functions and its Filippov decisions (SPEC §3–§4, §8):
/// the one seam through which the driver (`solve`), the event detection and location
/// (`EventDetector`, `EventLocator`) and the resolution of events reach a network.
///
/// The state is y = (θ, D): P parameters and the dissipation quadrature D (`ModeLockedSystem`).
/// The switching functions are indexed by *pairs* (unit u, group g), flat index u·G + g: u a hidden
/// unit (for a deep network counted over all hidden layers, layer by layer), g a group of data
/// points with equal x (duplicate points are one surface, SPEC §4). A pair's function is its
/// pre-activation z_ug(θ), its rate along the field ż_ug = ∇z_ug · f, and its rounding level ν_ug
/// (below which the sign of z is noise). Each pair is `on`, `off` or `sliding` (the mode); the
/// field is smooth while the mode is held, and a sign change of some ±z, or the end of a slide,
/// is an event.
///
/// Conformers:
/// - `ModeField`, the shallow network of SPEC §1: z is affine in θ (the surfaces are hyperplanes),
///   its decisions enumerate several surfaces of one neuron (`FilippovResolver`, the zonotope
///   minimum norm), and it brings the shallow capabilities `crossingBatcher` (several crossings of a
///   step taken together) and the AVX2 event scan.
/// - `DeepModeField`, a deep network of SPEC §8: z is a polynomial in θ (curved surfaces: events
///   are located by root finding on re-taken steps, projections by Gauss–Newton), several sliding
///   surfaces with σ'(0) = α_k each (`SlidingSystem`, Newton's method where the conditions are
///   multilinear), a failure with a diagnosis where no α's keep every surface.
///
/// A new field conforms by providing the members below; the driver needs nothing else. Anything
/// a field cannot do (crossing batches, stiffness estimates) has a neutral default.
protocol SwitchedSystem: ModeLockedSystem {
    // MARK: Shape
    /// Parameters P (the state has P + 1 entries: θ and D).
    var P: Int { get }
    /// Units with switching functions (n) and point groups (G): n·G pairs.
    var n: Int { get }
    var G: Int { get }
    /// Data points m and the points of each group (the first names the group in events).
    var m: Int { get }
    var pointsOfGroup: [[Int]] { get }

    // MARK: Mode
    /// The state of every pair (n×G, unit-major).
    var states: [PairState] { get }
    /// Units with at least one sliding pair.
    var slidingNeurons: [Int] { get }
    /// Installs a whole mode / changes the states of a few pairs (index u·G + g).
    func setMode(_ newStates: [PairState])
    func updateMode(_ changes: [(index: Int, state: PairState)])
    /// Applies the slide hysteresis to the transitions of an event (key u·G + g): the widening
    /// of the band in which a sliding pair's exit is noise, kept by the field (`SlideHysteresis`).
    /// (A method rather than a settable property: the field's own accesses stay statically checked.)
    func updateSlideHysteresis(_ hysteresis: inout SlideHysteresis, _ transitions: [(key: Int, from: PairState, to: PairState)],
                               at t: Double, loss: Double)

    // MARK: Evaluation
    /// What the event logic reads of one evaluation of the field besides f (a sliding pair's α or
    /// the two sides' normal rates, the residuals): a value, valid whatever is evaluated next, passed
    /// explicitly to whatever reads it (exit functions, the event scan, the stationarity checks).
    associatedtype Evaluation
    /// f(y) into f, counted as one RHS evaluation, and its `Evaluation`.
    func evaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Evaluation
    /// The evaluation at the end of an accepted step, the same value as `evaluation(at:into:)`:
    /// GSL's steppers end an accepted step with f(y₁) (`dydt_out`), and a field may return that
    /// evaluation's value when it was at y bit for bit (no evaluation happens, none is counted).
    func stepEndEvaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Evaluation
    /// Every `evaluate` and `evaluation` counts one, where it happens (a Jacobian evaluation,
    /// which computes f with it, counts in `jacobianEvaluations` only).
    var rhsEvaluations: Int { get set }
    var jacobianEvaluations: Int { get set }
    /// The field's own reason to stop, if one arose (a failure of its linear algebra in projections
    /// or sliding systems, a mode the Filippov rules do not determine), as the diagnosis of a
    /// failure noticed at t: the run stops with it.
    func failure(at t: Double) -> FlowFailure?
    func noteFailure(_ error: Error)
    /// The loss with the true activation (the same on either side of a surface).
    func loss(_ y: UnsafePointer<Double>) -> Double

    // MARK: Switching functions
    /// z_ug at state y.
    func preactivation(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double
    /// ż_ug = ∇z_ug(y) · f for a field value f at y.
    func preactivationRate(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double
    /// The rounding level ν_ug of z_ug at y.
    func preactivationNoise(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double
    /// Whether the field has switching functions at all: false for a linear network (σ = identity,
    /// every pair on for ever, SPEC §8), whose field is smooth: no events, nothing to detect.
    var hasSwitchingFunctions: Bool { get }
    /// A deep network's hidden layer and index in it of unit i (diagnoses); nil for the shallow one.
    func layerAndUnit(ofNeuron i: Int) -> (layer: Int, unit: Int)?
    /// Whether every z is affine in θ (hyperplanes): then ż is linear in f, the locator's
    /// first-order shortcuts (`EventLocator.nudge`) are exact to second order, and a projection is exact.
    var switchingIsAffine: Bool { get }
    /// z and ż of every pair (n×G) at y with field f.
    func surfaceValues(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>?, z: UnsafeMutablePointer<Double>,
                       zdot: UnsafeMutablePointer<Double>?)
    /// The exit function of sliding pair (i, g) from an evaluation `e` at y: positive while the
    /// slide continues, non-positive once the flow leaves the surface.
    func slideExitValue(_ e: Evaluation, at y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double
    /// The events of an accepted step of size H from the values at its ends: z, ż at the start
    /// (z0, zdot0) and at the end (computed here into z1, zdot1, with f1 the field at y1 and e1 its
    /// evaluation, for the slide exits).
    func detectEvents(y1: UnsafePointer<Double>, f1: UnsafePointer<Double>, evaluation e1: Evaluation, H: Double,
                      z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                      z1: UnsafeMutablePointer<Double>, zdot1: UnsafeMutablePointer<Double>) -> [EventDetector.Flag]

    // MARK: Filippov decisions (SPEC §4)
    /// The mode at the initial state: the sign of every z, and the pairs within rounding of their
    /// surface (to be resolved like an event).
    func initialStates(_ y: UnsafePointer<Double>) -> (states: [PairState], onSurface: [(Int, Int)])
    /// The new states of the pairs at their surfaces at y (just past an event, in the current mode).
    /// `excluded`: states a pair (key u·G + g) may not take; `repeated`: pairs decided again at
    /// the same time (logged `graze`); `reportUnchanged`: also return pairs that keep their state.
    func resolve(_ y: UnsafePointer<Double>, eventPairs: [(Int, Int)], excluded: [Int: Set<PairState>],
                 repeated: Set<Int>, reportUnchanged: Bool) -> [PairTransition]
    /// Pairs to decide together with `pairs` at y: those of the units involved that lie on their
    /// surfaces too (SPEC §4, several surfaces at once).
    func jointPairs(_ y: UnsafePointer<Double>, with pairs: [(Int, Int)]) -> [(Int, Int)]
    /// Moves `state` onto the surfaces z_ig = 0 of unit i, g ∈ groups (nearest point; exact for
    /// hyperplanes). A failure is noted (`noteFailure`).
    func project(_ i: Int, onto groups: [Int], state: UnsafeMutablePointer<Double>)
    /// Moves `state` onto the surfaces of every sliding pair (`project` of each sliding unit with
    /// the groups of its sliding pairs): where no event happens, at step ends and samples.
    func projectSlidingPairs(state: UnsafeMutablePointer<Double>)

    // MARK: Diagnostics and step control
    /// The residuals of the evaluation e at y are zero to working precision (the loss is zero).
    func lossIsAtRoundingLevel(_ e: Evaluation, at y: UnsafePointer<Double>) -> Bool
    /// How far the field f (evaluation e) at y lies above its rounding level (a few: stationary, SPEC §5).
    func fieldRoundingRatio(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double
    /// An estimate of the spectral radius of ∂f/∂y at y (field f, evaluation e; the `auto` rule's
    /// stiffness check).
    func stiffnessEstimate(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double
    /// A sharper estimate than `stiffnessEstimate`'s bound, consulted only where that bound would
    /// switch to the stiff stepper (nil: none; the RMSProp flow's `rmspropStiffnessEstimate`).
    func refinedStiffnessEstimate(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double?
    /// The input dimension the `auto` rule's cost model takes.
    var costDimension: Int { get }
    /// Crossing batches (a shallow capability): the batcher of this field, nil where it has none.
    func makeCrossingBatcher() -> CrossingBatcher?
    /// f(y) into f (one counted evaluation) and |∇L| at y, for a sample (the gradient flow:
    /// √(f[P]); an adaptive flow's D' is −g·θ', its |g| comes from the evaluation).
    func evaluateForSample(_ y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Double
    /// `body`'s result, with the evaluations made inside it (the samples') leaving no trace that
    /// later evaluations start from (a Newton iteration's starting α's): what the flow does may not
    /// depend on where it is sampled.
    func withoutSteering<R>(_ body: () throws -> R) rethrows -> R
    /// |∇L| at y with its field f already at hand (an adaptive flow evaluates again, counted).
    func gradientNorm(at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double
    /// The state beyond (θ, D) at the start (called before and after the initial mode is chosen).
    func initializeAuxiliary(_ y: UnsafeMutablePointer<Double>)
    /// y's state beyond (θ, D) at t for a state `held` from t0 with θ and D fixed (a stationary or
    /// zero-loss hold): an adaptive flow's auxiliary equations solved at the held θ's gradient.
    func advanceHeldAuxiliary(_ y: UnsafeMutablePointer<Double>, held: UnsafePointer<Double>, from t0: Double, to t: Double)
}

extension SwitchedSystem {
    var hasSwitchingFunctions: Bool { true }
    func layerAndUnit(ofNeuron i: Int) -> (layer: Int, unit: Int)? { nil }
    func makeCrossingBatcher() -> CrossingBatcher? { nil }
    func refinedStiffnessEstimate(_ e: Evaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double? { nil }
    /// The gradient flow's |∇L| = |f| = √(f[P]).
    func evaluateForSample(_ y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> Double {
        evaluate(y, f)
        return f[P].squareRoot()
    }
    func gradientNorm(at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double { f[P].squareRoot() }
    func projectSlidingPairs(state: UnsafeMutablePointer<Double>) {
        for i in slidingNeurons { project(i, onto: (0..<G).filter { states[i * G + $0] == .sliding }, state: state) }
    }
    /// A field whose evaluations depend on θ alone.
    func withoutSteering<R>(_ body: () throws -> R) rethrows -> R { try body() }
    /// Sets the state beyond (θ, D) at the start (an adaptive flow's a(0), which may depend on
    /// g(θ(0)) in the initial mode); nothing for the gradient flow.
    func initializeAuxiliary(_ y: UnsafeMutablePointer<Double>) {}
    /// Nothing beyond (θ, D) for the gradient flow.
    func advanceHeldAuxiliary(_ y: UnsafeMutablePointer<Double>, held: UnsafePointer<Double>, from t0: Double, to t: Double) {}
}

extension ModeField: SwitchedSystem {
    func makeCrossingBatcher() -> CrossingBatcher? { CrossingBatcher(field: self) }

    func failure(at t: Double) -> FlowFailure? { numericalFailure.map { .linearAlgebra(t: t, error: $0) } }

    func updateSlideHysteresis(_ hysteresis: inout SlideHysteresis, _ transitions: [(key: Int, from: PairState, to: PairState)],
                               at t: Double, loss: Double) {
        hysteresis.update(transitions, at: t, loss: loss, bandFactors: &alphaBandFactor)
    }

    func preactivationRate(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        // z is affine in θ: ż = x̃_g · (ẇ_i, ḃ_i), the pre-activation of the field's block.
        preactivation(f, i, g)
    }

    var switchingIsAffine: Bool { true }

    /// `min(α + δ, 1 + δ − α)` with the slack δ of the pair (`alphaSlack`), from α and the rounding
    /// levels of the evaluation (computed here when it has none: callers reading many pairs of one
    /// evaluation pass it through `withRoundingLevels` once).
    func slideExitValue(_ e: FieldEvaluation, at y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        let a = e.alpha(i * G + g)
        if a.isNaN { return 0.5 }   // c_i = 0: the neuron does not move, nothing to exit.
        let e = withRoundingLevels(e, at: y)
        let slack = alphaSlack(i, g, alpha: a, velocityNoise: e.velocityNoise, in: e)
        return min(a + slack, 1 + slack - a)
    }

    func detectEvents(y1: UnsafePointer<Double>, f1: UnsafePointer<Double>, evaluation e1: FieldEvaluation, H: Double,
                      z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                      z1: UnsafeMutablePointer<Double>, zdot1: UnsafeMutablePointer<Double>) -> [EventDetector.Flag] {
        EventDetector.scan(field: self, y1: y1, f1: f1, evaluation: e1, H: H, z0: z0, zdot0: zdot0, z1: z1, zdot1: zdot1)
    }

    /// The sign of z_ig; pairs with |z| ≤ 8ε (|b_i| + Σ|w_ik x_gk|) are on their surface.
    func initialStates(_ y: UnsafePointer<Double>) -> (states: [PairState], onSurface: [(Int, Int)]) {
        var states = [PairState](repeating: .off, count: n * G)
        var onSurface: [(Int, Int)] = []
        for i in 0..<n {
            for g in 0..<G {
                let z = preactivation(y, i, g)
                var size = abs(y[n * d + i])
                for k in 0..<d { size += abs(y[i * d + k] * xg[g * d + k]) }
                if abs(z) <= 8 * Double.ulpOfOne * size {
                    onSurface.append((i, g))
                } else {
                    states[i * G + g] = z > 0 ? .on : .off
                }
            }
        }
        return (states, onSurface)
    }

    func resolve(_ y: UnsafePointer<Double>, eventPairs: [(Int, Int)], excluded: [Int: Set<PairState>],
                 repeated: Set<Int>, reportUnchanged: Bool) -> [PairTransition] {
        FilippovResolver(field: self).resolve(y, eventPairs: eventPairs, excluded: excluded, repeated: repeated,
                                              reportUnchanged: reportUnchanged)
    }

    /// Every other pair of the neurons involved that lies on its surface (points on a line that
    /// sliding pins a neuron to).
    func jointPairs(_ y: UnsafePointer<Double>, with pairs: [(Int, Int)]) -> [(Int, Int)] {
        var out = pairs
        for i in Set(pairs.map(\.0)).sorted() {
            for g in 0..<G where states[i * G + g] != .sliding && !out.contains(where: { $0 == (i, g) }) {
                if abs(preactivation(y, i, g)) <= preactivationNoise(y, i, g) {
                    out.append((i, g))
                }
            }
        }
        return out
    }

    /// Moves (w_i, b_i) to the nearest point on the hyperplanes of the given groups (exact).
    func project(_ i: Int, onto groups: [Int], state y: UnsafeMutablePointer<Double>) {
        guard !groups.isEmpty else { return }
        // The neuron's sliding surfaces of the current mode: the same set (it depends only on the
        // groups and the points), built once per mode instead of at every step end (issue 22), and
        // read from its flat copy (no reference counting of the set's arrays).
        if projectOntoSlidingSurfaces(i, groups: groups, state: y) { return }
        let set: SurfaceSet
        do { set = try SurfaceSet(groups: groups, points: xg, d: d) } catch {
            noteFailure(error)   // the run fails with it at the next check
            return
        }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: d + 1) { buffer in
            let v = buffer.baseAddress!
            for k in 0..<d { v[k] = y[i * d + k] }
            v[d] = y[n * d + i]
            set.project(v)
            for k in 0..<d { y[i * d + k] = v[k] }
            y[n * d + i] = v[d]
        }
    }

    func lossIsAtRoundingLevel(_ e: FieldEvaluation, at y: UnsafePointer<Double>) -> Bool {
        residualsAtRoundingLevel(e, at: y, factor: 8)
    }

    var costDimension: Int { d }

    func stiffnessEstimate(_ e: FieldEvaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        spectralRadiusEstimate(y, f)
    }
}
