import Foundation
import CFieldKernels

/// The mode-locked gradient-flow field of a deep fully connected network (SPEC §8) and its
/// switching functions: a `SwitchedSystem` the flow driver integrates like the shallow `ModeField`.
///
/// Network: h_0 = x, z_l = W_l h_{l−1} + b_l, h_l = σ(z_l) (l < L), N = W_L h_{L−1} (+ c_0);
/// θ in the SPEC §8 order (`DeepNetwork`). Data points with equal x are one group g (one surface
/// per unit and group, SPEC §4), with multiplicity μ_g and Y_g = Σ_{j∈g} y_j, R_g = μ_g N_g − Y_g.
///
/// Mode (SPEC §3, §8): every pair (unit u of a ReLU hidden layer, group g) is on, off or sliding.
/// The forward pass uses the mode's masks F (h = z when on, 0 when off or sliding: z = 0 on the
/// surface), the backward pass the derivative weights S (1 on, 0 off, α sliding), never sign(z) of
/// the stage point. Inside a mode L is a polynomial in θ and the field f = −∇L is smooth.
/// A linear network (σ = identity) has every pair on for ever: no switching functions.
///
/// Switching functions: z_ug(θ), a polynomial (the surfaces are curved for layers ≥ 2). Its rate
/// along a velocity u is the forward tangent ż = U_l h_{l−1} + W_l ḣ_{l−1} + u_b, ḣ = F ∘ ż.
/// Coincident surfaces (SPEC §4, generalised): two groups whose inputs to layer l are identical in
/// the mode (every unit of layer l − 1 off or sliding on both, or equal inputs to layer l − 1 and
/// the same states of its units on both) have the same z_ug for every unit u of layer l: while
/// their states agree they are *one* surface with one event and one α (`representative`).
/// Without biases the same holds for inputs that are positive multiples of each other: ReLU is
/// positively homogeneous, so x_g' = λ x_g (λ > 0) gives z_ug' = λ z_ug through every bias-free
/// layer whose masks agree on both, and {z_ug' = 0} = {z_ug = 0}, with ż_ug' = λ ż_ug (one α makes
/// both zero). In d = 1 without biases all points of one sign are such a class. In any d the
/// inputs to a bias-free layer l are positively proportional on groups where one and the same
/// unit of layer l − 1 is the only one on (h_{l−1} = z e_k, z > 0; the other units off or
/// sliding): their surfaces of each unit of layer l coincide while that pattern holds, whatever
/// lies below (`singleUnitClasses`), and the class propagates upward through bias-free layers
/// with equal masks. The classes are the mode's, recomputed at every mode change (each event).
///
/// Filippov (SPEC §4 with the normal velocity of the pre-activation, §8): at an event on the
/// surface of pair k, v± = ż_k under the field with k's surface on / off (the other sliding
/// surfaces keeping ż = 0): one sign → crossing; v⁺ < 0 < v⁻ → slide, σ'(0) := α for the surface;
/// v⁺ > 0 > v⁻ → `branch` to the side with the larger |f|²; one side within tolerance of 0 → the
/// side the other points to (within tolerance: the tangent's rounding, or every term of v at the
/// velocity's own rounding level, `sideVelocity`; both sides at that level while others slide → it
/// joins them when z moves by rounding on both sides, or when the detector meets the pair again
/// after such a graze kept its state, `roundingGrazes`; a one-sided exact zero keeps its state).
/// With one sliding surface f = f⁻ + α(f⁺ − f⁻), α = v⁻/(v⁻ − v⁺), so
/// that ż_k = 0; its exit functions are v⁻ (α reaches 0 where v⁻ does) and −v⁺ (α reaches 1 where
/// v⁺ does): α has poles where v⁺ = v⁻ (the unit's outgoing signal on that point changes) which a
/// step could jump over, while v± are smooth.
///
/// Several sliding surfaces (SPEC §4, several surfaces at once, generalised to §8): K surfaces
/// slide with σ'(0) := α_k on the pairs of surface k, and the α's make every ż_k = 0. The
/// gradient is multi-affine in the α's (S enters the backward chain once per layer): affine
/// when no two sliding pairs lie on one point in different layers, g(α) = g⁻ + Σ_k α_k Δ_k with
/// Δ_k the change that surface k on brings, and then ż = c + A α = 0 is the K×K system of
/// `SlidingSystem` (c_j = ż_j along −g⁻, A_jk = ż_j along −Δ_k; where A is singular and the
/// system consistent, the α nearest to the box's centre). Where sliding pairs share a point
/// in different layers ("coupled") the products of their α's enter, and the α's come from
/// Newton's method on ż(α) = 0 (from the last α's of the mode, or the centre of the box), whose
/// Jacobian is exact by differences of the α_k = 1 and α_k = 0 sides (multi-affinity: ż is affine
/// in each α_k alone). The field stays a
/// member of the Filippov set: it is the mean of the corner fields under independent
/// Bernoulli(α_k) sides. A surface whose α leaves [0, 1] is decided afresh (the others keeping
/// ż = 0); an inconsistent system (no α makes every ż zero), or no consistent set of sliding surfaces, is where the rule does not
/// apply: the run stops with a diagnosis. (Newton's steps are the minimum-norm ones where the
/// Jacobian is singular.) Exit functions with K ≥ 2: min(α_k + δ, 1 + δ − α_k),
/// δ = `EventFunction.alphaSlack`, as the shallow field's.
///
/// Derivatives: the gradient by back-propagation; the Jacobian ∂f/∂θ = −∇²L_M column by column
/// from exact Hessian–vector products (forward-over-reverse through the same masked passes, with α
/// held at its value while sliding). No finite differences.
final class DeepModeField: SwitchedSystem {
    let network: DeepNetwork
    let L: Int
    let d: Int, G: Int, m: Int
    let P: Int
    /// Hidden units (all hidden layers, layer by layer) and their layer and index.
    let n: Int
    let unitLayer: [Int], unitIndex: [Int]
    /// First unit of hidden layer l (index l; l = 1 … L − 1).
    let unitOffset: [Int]
    let relu: Bool
    var dimension: Int { P + 1 }
    let invM: Double
    let pointsOfGroup: [[Int]]
    let yOfPoint: [Double]
    /// Inputs transposed (d × G), multiplicities, Σ y and Σ |y| per group. (The hot buffers and the
    /// layout are raw pointers: no bounds, retain or exclusivity checks in the passes' inner loops.)
    private let xT: UnsafeMutablePointer<Double>
    /// Widths n_l (l = 0 … L), offsets of W_l and b_l (index l − 1; −1: no bias), first pair row of
    /// hidden layer l (index l).
    private let layers: UnsafeMutablePointer<Int>, wOff: UnsafeMutablePointer<Int>, bOff: UnsafeMutablePointer<Int>
    private let uOff: UnsafeMutablePointer<Int>
    private let c0Index: Int?
    private let mult: [Double], ysum: [Double], yabs: [Double]
    /// The passes' layout for the C kernels (deep_kernels.c), and μ_g, Y_g it points to.
    private let layout: UnsafeMutablePointer<rf_deep_layout>
    /// The fused field (`rf_deep_fused_field`: forward, back-propagation and f in one C call, on
    /// rows padded to whole lanes) for evaluations where nothing slides (S = F), bitwise the
    /// separate passes' results; its copy of the masks follows every mode change.
    private let fused: OpaquePointer
    /// Whether evaluations where nothing slides use the fused pass (tests compare it with the
    /// separate passes: bitwise equal); new fields take `fusedByDefault` (tests only set it false).
    var fusedEnabled = DeepModeField.fusedByDefault { didSet { stagesFused = false } }
    nonisolated(unsafe) static var fusedByDefault = true
    private let multBuffer: UnsafeMutablePointer<Double>, ysumBuffer: UnsafeMutablePointer<Double>
    /// Scratch of the passes (allocated once: the field is evaluated thousands of times a run):
    /// ż (n × G), the Hessian–vector product's work (2nG + 2G), two gradients / velocities (P),
    /// the derivative weights of the slide's two sides (n × G each), a field value (P + 1).
    private let zdotScratch: UnsafeMutablePointer<Double>, hvWork: UnsafeMutablePointer<Double>
    private let gradScratch: UnsafeMutablePointer<Double>, velocityScratch: UnsafeMutablePointer<Double>
    private let weightsMinus: UnsafeMutablePointer<Double>, weightsPlus: UnsafeMutablePointer<Double>
    private let fieldScratch: UnsafeMutablePointer<Double>
    /// Scratch of the rounding level (`gradientRoundingLevel`): h̄ (n × G), the output scales (G),
    /// |θ| (P), the saved R and dOut (G each), H (n × G) and inputs (d × G), S (n × G), then the
    /// level itself (P) from `levelScratchLevel` on.
    private let levelScratch: UnsafeMutablePointer<Double>
    private var levelScratchLevel: Int { 3 * n * G + 3 * G + d * G + P }
    /// Scratch of `gradientVariance` (three w × w matrices, w the widest hidden layer): it runs
    /// in every evaluation of coupled slides.
    private let covarianceScratch: UnsafeMutablePointer<Double>
    private let covarianceWidth: Int

    // Mode.
    private(set) var states: [PairState]
    private(set) var slidingNeurons: [Int] = []
    /// F: 1 where on, else 0 (n × G).
    private let F: UnsafeMutablePointer<Double>
    /// Representative of each pair's surface in the mode (itself unless tied, see the type's doc).
    private(set) var representative: [Int]
    /// The sliding surfaces: representative and member pairs, in representative order (empty:
    /// none slides); the index of each sliding representative in it; whether two sliding pairs lie
    /// on one point in different layers (the field is then not affine in the α's).
    private(set) var slides: [(rep: Int, members: [Int])] = []
    /// Representatives of pairs whose last event was a graze with ż at the velocity's rounding
    /// level on both sides that kept their state (`resolve`); only membership is read.
    private var roundingGrazes = Set<Int>()
    /// The surface class of each pair whatever its state: the pair of the first group of its
    /// layer's class of coincident surfaces (`computeRepresentatives`; `representative` ties only
    /// pairs of equal states).
    private(set) var surfaceClass: [Int] = []
    private var slideIndex: [Int: Int] = [:]
    private(set) var slidesCoupled = false
    /// Gradients of the K ≥ 2 sides (surface k on, the others at 0), K × P.
    private var sideGradients: UnsafeMutablePointer<Double>? = nil
    private var sideGradientCapacity = 0
    /// The slide hysteresis' band factors (kept for the protocol; the deep field's exit functions
    /// v⁻, −v⁺ carry no α band).
    private var alphaBandFactor: [Double]
    private(set) var modeChanges: Int {
        get { stage.pointee.modeChanges }
        set { stage.pointee.modeChanges = newValue }
    }

    // Passes (n × G unit-major unless said).
    private let Z: UnsafeMutablePointer<Double>, H: UnsafeMutablePointer<Double>
    private let N: UnsafeMutablePointer<Double>, R: UnsafeMutablePointer<Double>
    private let Dl: UnsafeMutablePointer<Double>, dOut: UnsafeMutablePointer<Double>
    private let forwardTheta: UnsafeMutablePointer<Double>
    private var forwardValid: Bool {
        get { stage.pointee.forwardValid }
        set { stage.pointee.forwardValid = newValue }
    }
    private var forwardStamp: Int {
        get { stage.pointee.forwardStamp }
        set { stage.pointee.forwardStamp = newValue }
    }
    /// The valid forward pass is the fused workspace's, not yet in Z, H, N, R, dOut.
    private var forwardInFused: Bool {
        get { stage.pointee.forwardInFused }
        set { stage.pointee.forwardInFused = newValue }
    }
    /// State and field of the last evaluation (a memo for `stepEndEvaluation`), and the sliding
    /// surface's v± and α of the evaluation being made (working storage, read into `SlideRates`).
    private let lastY: UnsafeMutablePointer<Double>, lastF: UnsafeMutablePointer<Double>
    private var lastValid: Bool {
        get { stage.pointee.lastValid }
        set { stage.pointee.lastValid = newValue }
    }
    /// A fused evaluation has run in this mode (so nothing slides, the fused pass is enabled, and
    /// the slide rates below hold their no-slide values): `stageEvaluate` may take the fused pass
    /// without those checks. Reset by every mode change.
    private var stagesFused: Bool {
        get { stage.pointee.stagesFused }
        set { stage.pointee.stagesFused = newValue }
    }
    private var vPlus = Double.nan, vMinus = Double.nan, alpha = Double.nan
    /// The K ≥ 2 sliding surfaces' α's of the evaluation being made (empty otherwise); coupled
    /// slides' last α's and the mode they belong to (Newton's starting point).
    private var alphas: [Double] = []
    private var alphaMemo: [Double] = [], alphaMemoStamp = -1

    /// What the event logic reads of an evaluation: with one sliding surface its normal rates
    /// v⁻ = ż in M⁻ and v⁺ in M⁺ and α = v⁻/(v⁻ − v⁺) (NaN when nothing or several slide); with
    /// K ≥ 2 the α of each (in `slides` order; NaN where no α solves the system).
    struct SlideRates {
        let vMinus: Double, vPlus: Double, alpha: Double
        var alphas: [Double] = []
    }
    var rhsEvaluations: Int {
        get { stage.pointee.rhsEvaluations }
        set { stage.pointee.rhsEvaluations = newValue }
    }
    var jacobianEvaluations = 0
    private var pendingFailure: String? = nil
    private(set) var numericalFailure: NumericalError? = nil { didSet { stage.pointee.failed = numericalFailure != nil } }
    /// The state the stepper's stages read and write (`Stage`: the counters, memo flags and mode
    /// stamp above live in it), behind a pointer that GSL's stage callback reaches directly.
    let stage: UnsafeMutablePointer<Stage>

    /// What `stageEvaluate` reads and writes, in one allocation outside the class: GSL's stage
    /// callback (`deepFieldFunction`) takes the fused pass through `Stage.fusedStage` without a
    /// call into the class, a closure or a reference count (13 calls a step; in a small network
    /// that wrapper was ~70 instructions of a ~1 000-instruction evaluation).
    struct Stage {
        var stagesFused = false
        var forwardValid = false
        var forwardInFused = false
        var lastValid = false
        /// `numericalFailure != nil` (kept by its didSet).
        var failed = false
        var rhsEvaluations = 0
        var forwardStamp = -1
        var modeChanges = 0
        let fused: OpaquePointer
        let invM: Double
        let P: Int
        let forwardTheta: UnsafeMutablePointer<Double>
        let lastY: UnsafeMutablePointer<Double>, lastF: UnsafeMutablePointer<Double>

        /// `stageEvaluate`'s fused pass where it applies (see there): its success, else nil (the
        /// caller then takes `evaluate`).
        @inline(__always)
        mutating func fusedStage(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool? {
            guard stagesFused && lastY[0].bitPattern != y[0].bitPattern else { return nil }
            rhsEvaluations += 1
            rf_deep_fused_field(fused, y, invM, f, forwardTheta, lastY, lastF)
            forwardValid = true
            forwardStamp = modeChanges
            forwardInFused = true
            lastValid = true
            return f[P].isFinite && !failed
        }
    }
    /// Every Double buffer above lives in one allocation, every Int one in another (`Slab`): a run
    /// of a small network makes its field once, and two dozen allocations and frees were a
    /// measurable share of it (issue 18 item 5).
    private let doubleSlab: UnsafeMutablePointer<Double>
    private let intSlab: UnsafeMutablePointer<Int>

    /// Hands out consecutive buffers of one allocation, each starting on a 32-byte boundary.
    private struct Slab {
        private(set) var total = 0
        mutating func take(_ count: Int) -> Int {
            let at = total
            total += (count + 3) & ~3
            return at
        }
    }

    init(network: DeepNetwork, data: Dataset) {
        precondition(network.inputDimension == data.dimension)
        self.network = network
        L = network.depth
        d = data.dimension
        G = data.groupCount
        m = data.count
        P = network.parameterCount
        invM = 1 / Double(m)
        relu = network.activation == .relu
        var layer: [Int] = [], index: [Int] = [], offsets = [0, 0]
        let hidden = network.layers.dropFirst().dropLast().reduce(0, +)
        layer.reserveCapacity(hidden)
        index.reserveCapacity(hidden)
        offsets.reserveCapacity(L + 1)
        for l in 1..<L {
            offsets[l] = layer.count
            offsets.append(0)
            for i in 0..<network.layers[l] { layer.append(l); index.append(i) }
        }
        unitLayer = layer
        unitIndex = index
        unitOffset = offsets
        n = layer.count
        pointsOfGroup = data.pointsOfGroup
        yOfPoint = data.y
        let nG = max(n * G, 1), G1 = max(G, 1), P1 = max(P, 1)
        let hiddenWidth = max(network.layers.dropFirst().dropLast().max() ?? 1, 1)
        let levelCount = 3 * n * G + 3 * G + d * G + 2 * P + 1
        var slab = Slab()
        let oxT = slab.take(max(d * G, 1)), oF = slab.take(nG), oZ = slab.take(nG), oH = slab.take(nG), oDl = slab.take(nG)
        let oN = slab.take(G), oR = slab.take(G), oOut = slab.take(G), oTheta = slab.take(P1)
        let oLastY = slab.take(P + 1), oLastF = slab.take(P + 1), oMult = slab.take(G1), oYsum = slab.take(G1)
        let oZdot = slab.take(nG), oHv = slab.take(2 * nG + 2 * G1), oGrad = slab.take(P1), oVel = slab.take(P1)
        let oMinus = slab.take(nG), oPlus = slab.take(nG), oField = slab.take(P + 1), oLevel = slab.take(levelCount)
        let oCov = slab.take(3 * hiddenWidth * hiddenWidth)
        doubleSlab = UnsafeMutableRawPointer.allocate(byteCount: max(slab.total, 1) * MemoryLayout<Double>.stride, alignment: 32)
            .bindMemory(to: Double.self, capacity: max(slab.total, 1))
        intSlab = .allocate(capacity: 4 * L + 2)
        xT = doubleSlab + oxT
        for g in 0..<G { for k in 0..<d { xT[k * G + g] = data.groupPoints[g * d + k] } }
        layers = intSlab
        wOff = intSlab + (L + 1)
        bOff = intSlab + (2 * L + 1)
        uOff = intSlab + (3 * L + 1)
        for l in 0...L { layers[l] = network.layers[l]; uOff[l] = l < offsets.count ? offsets[l] : 0 }
        for l in 0..<L { wOff[l] = network.weightOffsets[l]; bOff[l] = network.biasOffsets[l] ?? -1 }
        c0Index = network.c0Index
        mult = pointsOfGroup.map { Double($0.count) }
        ysum = pointsOfGroup.map { $0.reduce(0) { $0 + data.y[$1] } }
        yabs = pointsOfGroup.map { $0.reduce(0) { $0 + abs(data.y[$1]) } }
        states = [PairState](repeating: .on, count: n * G)
        F = doubleSlab + oF
        F.initialize(repeating: 1, count: max(n * G, 1))
        representative = Array(0..<(n * G))
        alphaBandFactor = [Double](repeating: 1, count: n * G)
        Z = doubleSlab + oZ
        H = doubleSlab + oH
        Dl = doubleSlab + oDl
        (doubleSlab + oZ).initialize(repeating: 0, count: oN - oZ)   // Z, H, Dl
        N = doubleSlab + oN
        R = doubleSlab + oR
        dOut = doubleSlab + oOut
        for g in 0..<G { N[g] = 0; R[g] = 0; dOut[g] = 0 }
        forwardTheta = doubleSlab + oTheta
        forwardTheta.initialize(repeating: .nan, count: max(P, 1))
        lastY = doubleSlab + oLastY
        lastF = doubleSlab + oLastF
        lastY.initialize(repeating: .nan, count: P + 1)
        lastF.initialize(repeating: .nan, count: P + 1)
        multBuffer = doubleSlab + oMult
        ysumBuffer = doubleSlab + oYsum
        for g in 0..<G { multBuffer[g] = mult[g]; ysumBuffer[g] = ysum[g] }
        zdotScratch = doubleSlab + oZdot
        hvWork = doubleSlab + oHv
        gradScratch = doubleSlab + oGrad
        velocityScratch = doubleSlab + oVel
        weightsMinus = doubleSlab + oMinus
        weightsPlus = doubleSlab + oPlus
        fieldScratch = doubleSlab + oField
        levelScratch = doubleSlab + oLevel
        covarianceWidth = hiddenWidth
        covarianceScratch = doubleSlab + oCov
        levelScratch.initialize(repeating: 0, count: levelCount)
        for q in 0..<nG { zdotScratch[q] = 0; weightsMinus[q] = 0; weightsPlus[q] = 0 }
        hvWork.initialize(repeating: 0, count: 2 * nG + 2 * max(G, 1))
        for p in 0..<max(P, 1) { gradScratch[p] = 0; velocityScratch[p] = 0 }
        fieldScratch.initialize(repeating: 0, count: P + 1)
        layout = .allocate(capacity: 1)
        layout.initialize(to: rf_deep_layout(L: Int32(L), G: G, n: n, P: P, widths: UnsafePointer(layers),
                                             woff: UnsafePointer(wOff), boff: UnsafePointer(bOff), uoff: UnsafePointer(uOff),
                                             c0: c0Index ?? -1, xT: UnsafePointer(xT), mult: UnsafePointer(multBuffer),
                                             ysum: UnsafePointer(ysumBuffer)))
        guard let fusedField = rf_deep_fused_new(layout) else { fatalError("rf_deep_fused_new: out of memory") }
        fused = fusedField
        stage = .allocate(capacity: 1)
        stage.initialize(to: Stage(fused: fusedField, invM: invM, P: P, forwardTheta: forwardTheta, lastY: lastY, lastF: lastF))
        rf_deep_fused_masks(fused, F)
    }

    deinit {
        doubleSlab.deallocate()
        sideGradients?.deallocate()
        intSlab.deallocate()
        layout.deallocate()
        rf_deep_fused_free(fused)
        stage.deinitialize(count: 1)
        stage.deallocate()
    }

    /// The portable build of the C passes even where the CPU has AVX2 (tests compare the two).
    static func usePortableKernels(_ on: Bool) { rf_deep_kernels_portable(on ? 1 : 0) }

    // MARK: Layout

    @inline(__always) private func bIndex(_ l: Int, _ i: Int) -> Int? { bOff[l - 1] >= 0 ? bOff[l - 1] + i : nil }

    @inline(__always) private func w(_ t: UnsafePointer<Double>, _ l: Int, _ i: Int, _ k: Int) -> Double {
        t[wOff[l - 1] + i * layers[l - 1] + k]
    }
    @inline(__always) private func wIndex(_ l: Int, _ i: Int, _ k: Int) -> Int {
        wOff[l - 1] + i * layers[l - 1] + k
    }
    @inline(__always) private func pair(_ l: Int, _ i: Int, _ g: Int) -> Int { (uOff[l] + i) * G + g }

    /// (layer, unit in layer, first point of the group) of pair k, for diagnoses and tests.
    func name(ofPair k: Int) -> (layer: Int, unit: Int, point: Int) {
        (unitLayer[k / G], unitIndex[k / G], pointsOfGroup[k % G][0])
    }

    private func describe(_ k: Int) -> String {
        let p = name(ofPair: k)
        return "(layer \(p.layer), unit \(p.unit), point \(p.point))"
    }

    /// Input h_{l−1}[k][g] of layer l (from the last forward pass).
    @inline(__always) private func input(_ l: Int, _ k: Int, _ g: Int) -> Double {
        l == 1 ? xT[k * G + g] : H[pair(l - 1, k, g)]
    }

    // MARK: Mode

    func setMode(_ newStates: [PairState]) {
        precondition(newStates.count == n * G)
        states = newStates
        modeChanged()
    }

    func updateMode(_ changes: [(index: Int, state: PairState)]) {
        guard !changes.isEmpty else { return }
        for c in changes { states[c.index] = c.state }
        modeChanged()
    }

    /// Newton's starting α's (`alphaMemo`) are put back after `body`: a sample's evaluation would
    /// otherwise move them, and near-degenerate coupled slides then end at other bits, and at other
    /// decisions, depending on the sample grid.
    func withoutSteering<R>(_ body: () throws -> R) rethrows -> R {
        let saved = (alphaMemo, alphaMemoStamp)
        defer { (alphaMemo, alphaMemoStamp) = saved }
        return try body()
    }

    private func modeChanged() {
        modeChanges += 1
        lastValid = false
        stagesFused = false
        forwardValid = false
        for k in 0..<(n * G) { F[k] = states[k] == .on ? 1 : 0 }
        rf_deep_fused_masks(fused, F)
        computeRepresentatives()
        var sliding = Set<Int>(), reps = Set<Int>()
        for k in 0..<(n * G) where states[k] == .sliding {
            sliding.insert(k / G)
            reps.insert(representative[k])
        }
        slidingNeurons = sliding.sorted()
        var membersOf: [Int: [Int]] = [:]
        for k in 0..<(n * G) where states[k] == .sliding { membersOf[representative[k], default: []].append(k) }
        slides = reps.sorted().map { ($0, membersOf[$0]!) }
        slideIndex = [:]
        for (j, s) in slides.enumerated() { slideIndex[s.rep] = j }
        // Coupled: pairs of two sliding surfaces on one group in different layers.
        var layerOnGroup: [Int: (layer: Int, surface: Int)] = [:]
        slidesCoupled = false
        for (j, s) in slides.enumerated() {
            for k in s.members {
                let l = unitLayer[k / G], g = k % G
                if let other = layerOnGroup[g], other.surface != j, other.layer != l { slidesCoupled = true }
                layerOnGroup[g] = (l, j)
            }
        }
        if slides.count >= 2 && sideGradientCapacity < slides.count * P {
            sideGradients?.deallocate()
            sideGradientCapacity = slides.count * P
            sideGradients = .allocate(capacity: sideGradientCapacity)
        }
    }

    /// Ties of coincident surfaces (the type's doc): groups with identical inputs to layer l, or
    /// positively proportional ones when layer l has no bias, share the surfaces of layer l's units
    /// while their states agree. `same` classes groups by identical inputs to the current layer,
    /// `scaled` by proportional ones (valid while every layer below is bias-free; a layer with a
    /// bias maps proportional inputs to non-proportional outputs, and `scaled` falls back to `same`).
    private func computeRepresentatives() {
        representative = Array(0..<(n * G))
        surfaceClass = representative
        guard relu, L >= 2 else { return }
        var same = Array(0..<G)   // layer 1: distinct x
        var scaled = directionClasses()
        for l in 1..<L {
            if l >= 2 {
                let below = layers[l - 1]
                func classes(_ cls: [Int]) -> [Int] {
                    var keys: [[Int]: Int] = [:]
                    var next = [Int](repeating: 0, count: G)
                    for g in 0..<G {
                        var column: [Int] = []
                        var alive = false
                        for k in 0..<below {
                            let on = F[pair(l - 1, k, g)] != 0
                            alive = alive || on
                            column.append(on ? 1 : 0)
                        }
                        let key = alive ? [cls[g]] + column : [-1]
                        if let first = keys[key] { next[g] = first } else { keys[key] = g; next[g] = g }
                    }
                    return next
                }
                same = classes(same)
                scaled = bOff[l - 2] < 0 ? classes(scaled) : same
                scaled = singleUnitClasses(below: l - 1, scaled)
            }
            let cls = bOff[l - 1] < 0 ? scaled : same
            for i in 0..<layers[l] {
                for g in 0..<G where cls[g] != g {
                    let k = pair(l, i, g), r = pair(l, i, cls[g])
                    surfaceClass[k] = r
                    if states[k] == states[r] { representative[k] = representative[r] }
                }
            }
        }
    }

    /// Groups on which exactly one unit k of layer `below` is on have h_below = z_k e_k with z_k > 0:
    /// positively proportional for every such group with the same k, whatever lies below and
    /// whether layer `below` has a bias (d ≥ 2: points on which only one unit of the layer below is
    /// active). They join one class (the first such group), which `cls` refines otherwise; a
    /// class of `cls` has one mask column, so it is never split.
    private func singleUnitClasses(below: Int, _ cls: [Int]) -> [Int] {
        var out = cls
        var first: [Int: Int] = [:]
        for g in 0..<G {
            var single = -1
            for k in 0..<layers[below] where F[pair(below, k, g)] != 0 {
                if single >= 0 { single = -2; break }
                single = k
            }
            guard single >= 0 else { continue }
            if let f = first[single] { out[g] = f } else { first[single] = g; out[g] = g }
        }
        return out
    }

    /// Classes of the inputs x_g by direction (x_g' = λ x_g, λ > 0; equal unit vectors within 4 ε
    /// per component, the rounding of the normalisation), the first group of its class for each;
    /// x = 0 is a class of its own.
    private func directionClasses() -> [Int] {
        var cls = Array(0..<G)
        var units: [[Double]] = []
        var firsts: [Int] = []
        for g in 0..<G {
            var norm = 0.0
            for k in 0..<d { norm += xT[k * G + g] * xT[k * G + g] }
            norm = norm.squareRoot()
            guard norm > 0 else { continue }
            let u = (0..<d).map { xT[$0 * G + g] / norm }
            if let j = units.firstIndex(where: { v in zip(u, v).allSatisfy { abs($0 - $1) <= 4 * Double.ulpOfOne } }) {
                cls[g] = firsts[j]
            } else {
                units.append(u)
                firsts.append(g)
            }
        }
        return cls
    }

    /// The pairs of the surface k belongs to.
    func members(of k: Int) -> [Int] {
        let r = representative[k]
        return (0..<(n * G)).filter { representative[$0] == r }
    }

    // MARK: Passes

    /// Back-propagations made (`rf_deep_backward`; the fused field's are not counted): the
    /// cost measure of the coupled slides' tests.
    private(set) var backwardPasses = 0

    /// Forward pass in the mode at θ (Z, H, N, R), cached for the same θ and mode.
    private func forward(_ t: UnsafePointer<Double>) {
        if forwardValid && forwardStamp == modeChanges && memcmp(forwardTheta, t, P * MemoryLayout<Double>.stride) == 0 {
            exportForward()
            return
        }
        forwardInFused = false
        rf_deep_forward(layout, t, F, Z, H, N, R)
        forwardTheta.update(from: t, count: P)
        forwardValid = true
        forwardStamp = modeChanges
    }

    /// The fused evaluation's forward pass (and dOut) into Z, H, N, R, dOut, where a pass is about
    /// to read them.
    @inline(__always) private func exportForward() {
        guard forwardInFused else { return }
        rf_deep_fused_export(fused, Z, H, N, R, dOut)
        forwardInFused = false
    }

    /// Back-propagation of dOut (∂/∂N_g, length G) through the forward pass at θ with derivative
    /// weights S (n × G), from layer `top` (L: the output) down: the gradient into `grad` (P,
    /// zeroed first), the back-propagated ∂/∂Z kept in Dl. With `top` < L, dOut is ∂/∂Z_top of a
    /// unit (`seed`) instead.
    private func backward(_ t: UnsafePointer<Double>, S: [Double], top: Int = 0, seed: (unit: Int, group: Int)? = nil,
                          into grad: UnsafeMutablePointer<Double>) {
        S.withUnsafeBufferPointer { backward(t, S: $0.baseAddress!, seed: seed, into: grad) }
    }

    private func backward(_ t: UnsafePointer<Double>, S: UnsafePointer<Double>, seed: (unit: Int, group: Int)? = nil,
                          into grad: UnsafeMutablePointer<Double>) {
        exportForward()
        backwardPasses += 1
        rf_deep_backward(layout, t, H, S, dOut, seed?.unit ?? -1, seed?.group ?? 0, Dl, grad)
    }

    /// Forward tangent along a parameter velocity u at the forward pass of θ: ż of every pair
    /// (n × G) into `zdot`, and Ṅ into `ndot` when given.
    private func tangent(_ t: UnsafePointer<Double>, _ u: UnsafePointer<Double>, zdot: UnsafeMutablePointer<Double>,
                         ndot: UnsafeMutablePointer<Double>? = nil) {
        forward(t)   // the pass at θ (an evaluation served from the memo leaves it where it was)
        rf_deep_tangent(layout, t, u, F, H, zdot, ndot)
    }

    /// ż of pair k along u (one tangent pass).
    private func rate(_ t: UnsafePointer<Double>, along u: UnsafePointer<Double>, pair k: Int) -> Double {
        tangent(t, u, zdot: zdotScratch)
        return zdotScratch[k]
    }

    /// ∇_θ z of pair k (masks F: dh/dz = F below the pair's layer) into `out` (P).
    func zGradient(_ t: UnsafePointer<Double>, pair k: Int, into out: UnsafeMutablePointer<Double>) {
        forward(t)
        let saved = Array(UnsafeBufferPointer(start: Dl, count: n * G))
        backward(t, S: F, seed: (k / G, k % G), into: out)
        for q in 0..<(n * G) { Dl[q] = saved[q] }
    }

    /// Derivative weights S of the mode with every sliding surface's members at `a` (0: f⁻, 1: f⁺).
    private func weights(slidingAt a: Double) -> [Double] {
        var S = Array(UnsafeBufferPointer(start: F, count: n * G))
        for s in slides { for k in s.members { S[k] = a } }
        return S
    }

    /// The same into a buffer (n × G).
    private func weights(slidingAt a: Double, into S: UnsafeMutablePointer<Double>) {
        S.update(from: F, count: n * G)
        for s in slides { for k in s.members { S[k] = a } }
    }

    /// Derivative weights with the α's of an evaluation held (σ'(0) = α_k on surface k; NaN read
    /// as 0, as the field does).
    private func weights(held e: SlideRates) -> [Double] {
        guard slides.count >= 2 else { return weights(slidingAt: e.alpha.isFinite ? e.alpha : 0) }
        var S = Array(UnsafeBufferPointer(start: F, count: n * G))
        for (j, s) in slides.enumerated() {
            let a = j < e.alphas.count && e.alphas[j].isFinite ? e.alphas[j] : 0
            for k in s.members { S[k] = a }
        }
        return S
    }

    /// The mode's gradient at θ (forward done), the sliding surfaces' v±, α; into `grad` (P).
    /// One sliding surface: g(α) = g⁻ + α(g⁺ − g⁻) exactly (S enters the chain once, linearly).
    private func gradient(_ t: UnsafePointer<Double>, into grad: UnsafeMutablePointer<Double>) {
        for g in 0..<G { dOut[g] = R[g] * invM }
        guard let slide = slides.first else {
            backward(t, S: F, into: grad)
            vPlus = .nan; vMinus = .nan; alpha = .nan
            if !alphas.isEmpty { alphas = [] }
            return
        }
        guard slides.count == 1 else {
            severalSlidesGradient(t, into: grad)
            return
        }
        if !alphas.isEmpty { alphas = [] }
        let g1 = gradScratch, u = velocityScratch
        weights(slidingAt: 0, into: weightsMinus)
        weights(slidingAt: 1, into: weightsPlus)
        backward(t, S: weightsMinus, into: grad)
        backward(t, S: weightsPlus, into: g1)
        for p in 0..<P { u[p] = -grad[p] }
        vMinus = rate(t, along: u, pair: slide.rep)
        for p in 0..<P { u[p] = -g1[p] }
        vPlus = rate(t, along: u, pair: slide.rep)
        alpha = vMinus != vPlus ? vMinus / (vMinus - vPlus) : .nan
        let a = alpha.isFinite ? alpha : 0
        for p in 0..<P { grad[p] += a * (g1[p] - grad[p]) }
    }

    /// ż of every sliding surface's representative along −g for the weights S (one backward
    /// pass into `g`, one tangent pass).
    private func surfaceRates(_ t: UnsafePointer<Double>, S: UnsafePointer<Double>, gradient g: UnsafeMutablePointer<Double>) -> [Double] {
        backward(t, S: S, into: g)
        let u = velocityScratch
        for p in 0..<P { u[p] = -g[p] }
        tangent(t, u, zdot: zdotScratch)
        return slides.map { zdotScratch[$0.rep] }
    }

    /// K ≥ 2 sliding surfaces (the type's doc): the K×K system from the sides g⁻ and g⁻ + Δ_k;
    /// where the slides are coupled, Newton's method on ż(α) = 0 instead.
    /// g(α) into `grad`, the α's into `alphas` (NaN where no α solves the system: the field then
    /// uses α = 0 and the exit functions end the slides).
    private func severalSlidesGradient(_ t: UnsafePointer<Double>, into grad: UnsafeMutablePointer<Double>) {
        let K = slides.count
        vPlus = .nan; vMinus = .nan; alpha = .nan
        if slidesCoupled {
            // Newton's method (`SlidingSystem.coupledAlphas`: from the mode's last α's, the box's
            // centre, 0; near a stationary point the memo or an iterate at the rounding level).
            let memo = alphaMemoStamp == modeChanges && alphaMemo.count == K ? alphaMemo : nil
            let found: (alphas: [Double], converged: Bool)?
            do {
                found = try SlidingSystem.coupledAlphas(count: K, memo: memo, rates: { self.coupledRates(t, $0) }, atRoundingLevel: { a in
                    self.heldGradient(t, alphas: a, into: self.gradScratch) && self.ratesAtRoundingLevel(t, gradient: self.gradScratch)
                })
            } catch {
                noteFailure(error)
                found = nil
            }
            if let found {
                alphas = found.alphas
                if found.converged {
                    alphaMemo = found.alphas
                    alphaMemoStamp = modeChanges
                }
                heldGradient(t, alphas: found.alphas, into: grad)
            } else {
                alphas = [Double](repeating: .nan, count: K)
                weights(slidingAt: 0, into: weightsMinus)
                backward(t, S: weightsMinus, into: grad)
            }
            return
        }
        let sides = sideGradients!
        let c = surfaceRates(t, S: F, gradient: grad)
        var A = [Double](repeating: 0, count: K * K)
        for k in 0..<K {
            weights(slidingAt: 0, into: weightsPlus)
            for q in slides[k].members { weightsPlus[q] = 1 }
            let rk = surfaceRates(t, S: weightsPlus, gradient: sides + k * P)
            for j in 0..<K { A[j * K + k] = rk[j] - c[j] }
        }
        // The α nearest the box's centre; kept where it solves the conditions, or, where nothing
        // solves them to working precision, where it leaves every ż at its rounding level (near a
        // stationary point).
        var solved: [Double]?
        do { solved = try SlidingSystem.solve(A, c, centre: [Double](repeating: 0.5, count: K), exact: false) } catch { noteFailure(error) }
        guard let a = solved else {
            alphas = [Double](repeating: .nan, count: K)
            return   // g⁻ in grad
        }
        let candidate = gradScratch
        for p in 0..<P {
            let g0 = grad[p]
            var v = g0
            for k in 0..<K { v += a[k] * (sides[k * P + p] - g0) }
            candidate[p] = v
        }
        guard SlidingSystem.solves(A, c, a) || ratesAtRoundingLevel(t, gradient: candidate) else {
            alphas = [Double](repeating: .nan, count: K)
            return   // g⁻ in grad
        }
        alphas = a
        grad.update(from: candidate, count: P)
    }

    /// g with σ'(0) = α_k on surface k, into `grad` (one backward pass); false for α's that are
    /// not finite.
    @discardableResult
    private func heldGradient(_ t: UnsafePointer<Double>, alphas a: [Double], into grad: UnsafeMutablePointer<Double>) -> Bool {
        guard a.allSatisfy(\.isFinite) else { return false }
        let S = weightsMinus
        S.update(from: F, count: n * G)
        for (j, s) in slides.enumerated() { for q in s.members { S[q] = a[j] } }
        backward(t, S: S, into: grad)
        return true
    }

    /// Whether every sliding surface's ż along θ' = −g is at its rounding level
    /// (`SlidingSystem.ratesAtRoundingLevel`, with δθ' = δg the gradient's rounding level).
    private func ratesAtRoundingLevel(_ t: UnsafePointer<Double>, gradient g: UnsafePointer<Double>) -> Bool {
        let u = velocityScratch
        for p in 0..<P { u[p] = -g[p] }
        tangent(t, u, zdot: zdotScratch)
        let rates = slides.map { zdotScratch[$0.rep] }
        return SlidingSystem.ratesAtRoundingLevel(rates, P: P, velocity: u, zGradient: { self.zGradient(t, pair: self.slides[$0].rep, into: $1) },
                                                  velocityLevel: { self.gradientRoundingLevel(t) })
    }

    /// ż of the sliding surfaces along −g(α) with σ'(0) = α_k on surface k (one backward pass, one
    /// tangent pass): the function `SlidingSystem.newton` zeroes.
    private func coupledRates(_ t: UnsafePointer<Double>, _ a: [Double]) -> [Double] {
        let S = weightsPlus
        S.update(from: F, count: n * G)
        for (j, s) in slides.enumerated() { for q in s.members { S[q] = a[j] } }
        return surfaceRates(t, S: S, gradient: gradScratch)
    }

    // MARK: Held derivative weights (the adaptive flows' coupled slides)

    /// ∇L at θ in the current mode with σ'(0) = α_k on the pairs of `surfaces[k]` (pairs the mode
    /// has off or sliding: the forward pass is the same, h = 0 on z = 0), into `grad` (P): one
    /// backward pass with the derivative weights S = F but α_k on those pairs. The gradient is
    /// multi-affine in the α's (SPEC §8: S enters the chain once per layer), so this is the
    /// Filippov mean E[g] under independent Bernoulli(α_k) sides (`AdaptiveField`).
    func gradient(_ y: UnsafePointer<Double>, holding surfaces: [[Int]], at a: [Double], into grad: UnsafeMutablePointer<Double>) {
        forward(y)
        for g in 0..<G { dOut[g] = R[g] * invM }
        let S = weightsMinus
        S.update(from: F, count: n * G)
        for (k, members) in surfaces.enumerated() { for q in members { S[q] = a[k] } }
        backward(y, S: S, into: grad)
    }

    /// The mixed derivative ∂_T g(α) = ∂^|T| g / Π_{k∈T} ∂α_k of the gradient with σ'(0) = α_k on
    /// the pairs of `surfaces[k]` (as `gradient(holding:at:)`), for a set T of surfaces of one unit
    /// each in distinct hidden layers, into `grad` (P): one backward pass. The backward pass
    /// multiplies one derivative weight per layer along a path on a group (SPEC §8), so g is
    /// multi-affine in the weights of each layer's pairs and a path meets surface k at most once
    /// (at its unit in its layer): ∂/∂α_k keeps the paths through k's member pairs with weight 1
    /// there. With every pair of the layer of each k ∈ T at 0 except k's members at 1 (the others
    /// at F or α), the pass gives ∂_T D_l of the back-propagated ∂L/∂Z for the layers l at or
    /// below the lowest layer of T; an entry of θ in a layer above it does not depend on that
    /// surface's α (its D is made of the weights above it, its input h of the forward pass), and
    /// is 0. Exact (the same polynomial as the mixed difference over the corners of T, without
    /// its cancellation); `CoupledSlides.variance`.
    func gradientDerivative(_ y: UnsafePointer<Double>, holding surfaces: [[Int]], at a: [Double], along set: [Int],
                            into grad: UnsafeMutablePointer<Double>) {
        forward(y)
        for g in 0..<G { dOut[g] = R[g] * invM }
        let S = weightsMinus
        S.update(from: F, count: n * G)
        for (k, members) in surfaces.enumerated() { for q in members { S[q] = a[k] } }
        var lowest = L
        for k in set {
            let l = unitLayer[surfaces[k][0] / G]
            lowest = min(lowest, l)
            for q in (uOff[l] * G)..<((uOff[l] + layers[l]) * G) { S[q] = 0 }
            for q in surfaces[k] { S[q] = 1 }
        }
        backward(y, S: S, into: grad)
        for p in wOff[lowest]..<P { grad[p] = 0 }
    }

    /// Var[g] componentwise, under independent Bernoulli(α_k) sides (surface k's member pairs all
    /// on with probability α_k, all off otherwise), into `variance` (P): the coupled slides'
    /// Σ_{T≠∅} (∂_T g(α))² Π_{k∈T} α_k(1 − α_k) (`CoupledSlides`), by a second-moment
    /// back-propagation whose cost does not grow with the number of sets T.
    ///
    /// The forward pass does not depend on the α's (h = 0 on z = 0), nor do R and dOut; the
    /// back-propagated ∂L/∂Z of group g is D_{l,g} = dOut_g δ_{l,g} with δ_{L−1,g} = S_{L−1,g} ∘ w_L
    /// and δ_{l−1,g} = S_{l−1,g} ∘ (W_lᵀ δ_{l,g}), S_{u,g} the derivative weight: F (fixed) or the
    /// surface's ξ_k (random, E ξ = α_k, Var ξ = w_k = α_k(1 − α_k)). Groups whose weights are the
    /// same random variables in every unit (same F, or the same surface) have the same δ: one
    /// *class* (in d = 1 without biases, all points of one sign). For classes a, b, with means
    /// μ_l = E δ_l = ᾱ_l ∘ τ_l, τ_l = W_{l+1}ᵀ μ_{l+1} (μ_L = 1, W_L the output row), the
    /// covariance C^{ab}_l = Cov(δ^a_l, δ^b_l) follows from the independence of layer l's weights of
    /// everything above them (a unit's surface is one variable, shared by a and b where both hold it):
    ///
    ///     B = W_{l+1}ᵀ C^{ab}_{l+1} W_{l+1},
    ///     C^{ab}_{l,uv} = ᾱ^a_u ᾱ^b_v B_uv + [u = v, one shared variable] w_u (B_uu + τ^a_u τ^b_u),
    ///
    /// C_L = 0 (E[S_u S_v] = ᾱ_u ᾱ_v + [shared] w_u; the cross terms of (δ − μ) with the weights'
    /// deviations vanish by independence). Classes that share no variable have C^{ab} = 0. Then
    /// g_{W_l[i,k]} = Σ_a δ^a_{l,i} X^a_k, X^a_k = Σ_{g∈a} dOut_g h_{l−1,k,g}, and
    /// Var g_{W_l[i,k]} = Σ_{a,b} X^a_k X^b_k C^{ab}_{l,ii} (a bias: X = Σ_{g∈a} dOut_g); the output
    /// layer's entries do not depend on the α's (variance 0). A polynomial identity in α (the mean
    /// over the corners, so also outside the box, as `CoupledSlides`' sum), without cancellation
    /// inside it (every term ≥ 0 there). Cost: per pair of classes and layer, two products of
    /// n × n matrices (the escape grid's width 16: about four backward passes, where the sum over
    /// sets took one pass per set, up to 4^7 sets at ten or more coupled surfaces).
    func gradientVariance(_ y: UnsafePointer<Double>, holding surfaces: [[Int]], at a: [Double],
                          into variance: UnsafeMutablePointer<Double>) {
        forward(y)
        for g in 0..<G { dOut[g] = R[g] * invM }
        variance.initialize(repeating: 0, count: P)
        guard L >= 2 else { return }
        var variable = [Int](repeating: -1, count: n * G)
        for (k, members) in surfaces.enumerated() { for q in members { variable[q] = k } }
        // Classes: groups with the same weight in every unit (F's value, or −(k + 1) for surface k).
        var signatures: [[Double]] = [], members: [[Int]] = []
        for g in 0..<G {
            let signature = (0..<n).map { u -> Double in
                let q = u * G + g
                return variable[q] >= 0 ? -Double(variable[q] + 1) : F[q]
            }
            if let c = signatures.firstIndex(of: signature) { members[c].append(g) } else {
                signatures.append(signature)
                members.append([g])
            }
        }
        let C = signatures.count
        // Per class and unit: ᾱ (E S), the variable (−1: fixed); per class, layer l and input k:
        // X = Σ_{g∈class} dOut_g h_{l−1,k,g} (offset xOff[l]), and Y = Σ_{g∈class} dOut_g.
        var meanWeight = [Double](repeating: 0, count: C * n), unitVariable = [Int](repeating: -1, count: C * n)
        for c in 0..<C {
            let g0 = members[c][0]
            for u in 0..<n {
                let v = variable[u * G + g0]
                unitVariable[c * n + u] = v
                meanWeight[c * n + u] = v >= 0 ? a[v] : F[u * G + g0]
            }
        }
        var xOff = [Int](repeating: 0, count: L + 1)
        for l in 1..<L { xOff[l + 1] = xOff[l] + layers[l - 1] }
        var X = [Double](repeating: 0, count: C * max(xOff[L], 1)), Y = [Double](repeating: 0, count: C)
        for c in 0..<C {
            for g in members[c] { Y[c] += dOut[g] }
            for l in 1..<L {
                for k in 0..<layers[l - 1] {
                    var s = 0.0
                    for g in members[c] { s += dOut[g] * input(l, k, g) }
                    X[c * xOff[L] + xOff[l] + k] = s
                }
            }
        }
        // τ^c_l per class (layer l's units at offset uOff[l]): τ_{L−1} = w_L, τ_{l−1} = W_lᵀ (ᾱ_l ∘ τ_l).
        var tau = [Double](repeating: 0, count: C * n)
        for c in 0..<C {
            let t = c * n
            for i in 0..<layers[L - 1] { tau[t + uOff[L - 1] + i] = y[wOff[L - 1] + i] }
            var l = L - 1
            while l >= 2 {
                let below = layers[l - 1]
                for i in 0..<layers[l] {
                    let mu = meanWeight[t + uOff[l] + i] * tau[t + uOff[l] + i]
                    if mu == 0 { continue }
                    let row = wOff[l - 1] + i * below
                    for k in 0..<below { tau[t + uOff[l - 1] + k] += y[row + k] * mu }
                }
                l -= 1
            }
        }
        let width = covarianceWidth
        let cov = covarianceScratch
        let product = cov + width * width, next = product + width * width
        var sharedVariance = [Double](repeating: 0, count: n), isShared = [Bool](repeating: false, count: n)
        for ca in 0..<C {
            for cb in ca..<C {
                // The weights both classes hold as one variable (w = α(1 − α)); none: C^{ab} = 0.
                var any = false
                for u in 0..<n {
                    let v = unitVariable[ca * n + u]
                    isShared[u] = v >= 0 && v == unitVariable[cb * n + u]
                    sharedVariance[u] = isShared[u] ? a[v] * (1 - a[v]) : 0
                    any = any || isShared[u]
                }
                guard any else { continue }
                let factor: Double = ca == cb ? 1 : 2
                let ta = ca * n, tb = cb * n
                var l = L - 1
                // C_{L−1}: the shared weights' variances on the output row's τ.
                var nonzero = false
                var nl = layers[l]
                for q in 0..<(nl * nl) { cov[q] = 0 }
                for i in 0..<nl where isShared[uOff[l] + i] {
                    let u = uOff[l] + i
                    cov[i * nl + i] = sharedVariance[u] * tau[ta + u] * tau[tb + u]
                    nonzero = nonzero || cov[i * nl + i] != 0
                }
                while l >= 1 {
                    nl = layers[l]
                    let below = layers[l - 1]
                    if nonzero {
                        // The layer's entries: X^a X^b C_ii (factor 2 for a ≠ b: C^{ba} = C^{abᵀ}).
                        let xa = ca * xOff[L] + xOff[l], xb = cb * xOff[L] + xOff[l]
                        for i in 0..<nl {
                            let cii = factor * cov[i * nl + i]
                            if cii == 0 { continue }
                            let row = wOff[l - 1] + i * below
                            for k in 0..<below { variance[row + k] += X[xa + k] * X[xb + k] * cii }
                            if bOff[l - 1] >= 0 { variance[bOff[l - 1] + i] += Y[ca] * Y[cb] * cii }
                        }
                    }
                    guard l >= 2 else { break }
                    // C_{l−1} = ᾱ^a ᾱ^bᵀ ∘ B + the shared diagonal, B = W_lᵀ C_l W_l.
                    let wl = y + wOff[l - 1]
                    for q in 0..<(below * below) { next[q] = 0 }
                    if nonzero {
                        for q in 0..<(nl * below) { product[q] = 0 }
                        for i in 0..<nl {   // product = C_l W_l (nl × below), rows of W_l contiguous
                            for j in 0..<nl {
                                let c = cov[i * nl + j]
                                if c == 0 { continue }
                                let wj = wl + j * below, pi = product + i * below
                                for k in 0..<below { pi[k] += c * wj[k] }
                            }
                        }
                        for i in 0..<nl {   // B = W_lᵀ product (below × below)
                            let wi = wl + i * below, pi = product + i * below
                            for u in 0..<below {
                                let w = wi[u]
                                if w == 0 { continue }
                                let nu = next + u * below
                                for v in 0..<below { nu[v] += w * pi[v] }
                            }
                        }
                    }
                    nonzero = false
                    let lower = uOff[l - 1]
                    for u in 0..<below {
                        let au = meanWeight[ta + lower + u]
                        for v in 0..<below {
                            let value = au * meanWeight[tb + lower + v] * next[u * below + v]
                            cov[u * below + v] = value
                            if value != 0 { nonzero = true }
                        }
                        if isShared[lower + u] {
                            cov[u * below + u] += sharedVariance[lower + u] * (next[u * below + u] + tau[ta + lower + u] * tau[tb + lower + u])
                            if cov[u * below + u] != 0 { nonzero = true }
                        }
                    }
                    l -= 1
                }
            }
        }
    }

    /// ż of every pair along u (P) into `zdot` (n × G) with dh/dz = a_k on the pairs of
    /// `surfaces[k]` in the tangent pass (the forward masks F elsewhere): where K surfaces meet,
    /// a surface on (a_k = 1) carries its ż into the layers above it, one off (0) does not, and a
    /// sliding one has ż = 0, so any weight is exact there (`AdaptiveField.regularisedLimit`).
    func rates(_ y: UnsafePointer<Double>, along u: UnsafePointer<Double>, holding surfaces: [[Int]], at a: [Double],
               into zdot: UnsafeMutablePointer<Double>) {
        forward(y)
        var masks = Array(UnsafeBufferPointer(start: F, count: n * G))
        for (k, members) in surfaces.enumerated() { for q in members { masks[q] = a[k] } }
        masks.withUnsafeBufferPointer { rf_deep_tangent(layout, y, u, $0.baseAddress!, H, zdot, nil) }
    }

    /// ∇²L of the mode with the same weights held (P × P, row-major; exact Hessian–vector products
    /// with the unit vectors, as `jacobian`).
    func hessian(_ y: UnsafePointer<Double>, holding surfaces: [[Int]], at a: [Double], into h: UnsafeMutablePointer<Double>) {
        var S = Array(UnsafeBufferPointer(start: F, count: n * G))
        for (k, members) in surfaces.enumerated() { for q in members { S[q] = a[k] } }
        let u = UnsafeMutablePointer<Double>.allocate(capacity: P), column = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { u.deallocate(); column.deallocate() }
        u.initialize(repeating: 0, count: P)
        for p in 0..<P {
            u[p] = 1
            hessianVector(y, u, S: S, into: column)
            u[p] = 0
            for q in 0..<P { h[q * P + p] = column[q] }
        }
    }

    // MARK: Field

    @discardableResult
    func evaluate(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        if lastValid && lastY[0].bitPattern == y[0].bitPattern && slides.isEmpty && fusedEnabled
            && memcmp(lastY, y, P * MemoryLayout<Double>.stride) == 0 {
            // The last evaluation's state, in this mode: f is a function of θ and the mode, so its
            // value (not counted again). GSL's evolve evaluates f at each step's start, where the
            // stepper evaluated it as the last step's end (rk8pd's dydt_out).
            f.update(from: lastF, count: P + 1)
            return f[P].isFinite && numericalFailure == nil
        }
        rhsEvaluations += 1
        return computeField(y, f)
    }

    /// `evaluate` for the stepper's stages (`GSLIntegrator`'s direct callback): where a fused
    /// evaluation has run in this mode (`stagesFused`) and y is not the last evaluation's state
    /// (its first component differs: every stage state but the step's start), the fused pass
    /// straight away, with the bookkeeping `computeField` leaves after it; else `evaluate`. The
    /// same value, count and memos as `evaluate`.
    @inline(__always)
    func stageEvaluate(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        stage.pointee.fusedStage(y, f) ?? evaluate(y, f)
    }

    /// f(y) into f (one counted evaluation) and its slide rates.
    func evaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> SlideRates {
        evaluate(y, f)
        return SlideRates(vMinus: vMinus, vPlus: vPlus, alpha: alpha, alphas: alphas)
    }

    /// The stepper's last evaluation when it was at y (θ bit for bit, same mode: not counted),
    /// else `evaluation(at:into:)`.
    func stepEndEvaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> SlideRates {
        if lastValid && memcmp(lastY, y, P * MemoryLayout<Double>.stride) == 0 {
            f.update(from: lastF, count: P + 1)
            return SlideRates(vMinus: vMinus, vPlus: vPlus, alpha: alpha, alphas: alphas)
        }
        return evaluation(at: y, into: f)
    }

    /// The work of `evaluate`, uncounted: for the Jacobian, which counts itself. (Inlined: the
    /// stepper's ~13 evaluations a step pay no second call.)
    @inline(__always)
    private func computeField(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        if slides.isEmpty && fusedEnabled {
            // Nothing slides: the fused C pass (the forward pass, dOut = R/m, back-propagation with
            // S = F, f = −g and |f|², bitwise those of `forward`, `gradient` and the loop below).
            // Its forward pass stays in the fused workspace until a pass reads Z, H, N, R
            // (`exportForward`): the stepper's stages never do.
            rf_deep_fused_field(fused, y, invM, f, forwardTheta, lastY, lastF)   // and the memos' copies
            forwardValid = true
            forwardStamp = modeChanges
            forwardInFused = true
            vPlus = .nan; vMinus = .nan; alpha = .nan
            if !alphas.isEmpty { alphas = [] }
            lastValid = true
            stagesFused = true
            return f[P].isFinite && numericalFailure == nil
        }
        forward(y)
        gradient(y, into: f)
        var norm2 = 0.0
        for p in 0..<P {
            f[p] = -f[p]
            norm2 += f[p] * f[p]
        }
        f[P] = norm2
        lastY.update(from: y, count: P + 1)
        lastF.update(from: f, count: P + 1)
        lastValid = true
        return norm2.isFinite && numericalFailure == nil
    }

    /// ∂f/∂y: the θ block −∇²L_M by exact Hessian–vector products with the unit vectors
    /// (forward-over-reverse through the masked passes; α frozen while sliding: the Jacobian of the
    /// field with σ'(0) = α held, which is what Newton iterations of the implicit steppers need to
    /// converge; the field itself always recomputes α), the quadrature row 2 fᵀ ∂f/∂θ, a zero D column.
    func jacobian(_ y: UnsafePointer<Double>, _ dfdy: UnsafeMutablePointer<Double>, _ f: UnsafeMutablePointer<Double>) {
        jacobianEvaluations += 1
        _ = computeField(y, f)
        let dim = P + 1
        let S = weights(held: SlideRates(vMinus: vMinus, vPlus: vPlus, alpha: alpha, alphas: alphas))
        let u = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let column = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { u.deallocate(); column.deallocate() }
        for q in 0..<(dim * dim) { dfdy[q] = 0 }
        for p in 0..<P {
            for q in 0..<P { u[q] = q == p ? 1 : 0 }
            hessianVector(y, u, S: S, into: column)
            var quad = 0.0
            for q in 0..<P {
                dfdy[q * dim + p] = -column[q]
                quad += f[q] * -column[q]
            }
            dfdy[P * dim + p] = 2 * quad
        }
    }

    /// ∇²L_M u (S fixed): forward tangent (ż, Ṅ, Ṙ = μṄ), then the tangent of the backward pass
    ///     Ḋ_L = Ṙ/m,  ġ_{W_l} = Ḋ_l h_{l−1}ᵀ + D_l ḣ_{l−1}ᵀ,  ġ_{b_l} = Σ_g Ḋ_l,
    ///     Ḋ_{l−1} = S_{l−1} ∘ (U_lᵀ D_l + W_lᵀ Ḋ_l).
    /// ∇²L u in the current mode (a sliding pair's σ'(0) = 0): exact, one forward tangent and one
    /// backward pass.
    func modeHessianVector(_ t: UnsafePointer<Double>, _ u: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        hessianVector(t, u, S: weights(slidingAt: 0), into: out)
    }

    func hessianVector(_ t: UnsafePointer<Double>, _ u: UnsafePointer<Double>, S: [Double],
                       into out: UnsafeMutablePointer<Double>) {
        S.withUnsafeBufferPointer { hessianVector(t, u, S: $0.baseAddress!, into: out) }
    }

    func hessianVector(_ t: UnsafePointer<Double>, _ u: UnsafePointer<Double>, S: UnsafePointer<Double>,
                       into out: UnsafeMutablePointer<Double>) {
        forward(t)
        for g in 0..<G { dOut[g] = R[g] * invM }
        backward(t, S: S, into: out)   // D_l of the mode into Dl
        rf_deep_hessian_vector(layout, t, u, F, H, S, dOut, Dl, invM, hvWork, out)
    }

    /// The loss with the true activation, point by point: `DeepNetwork.output`'s operations in its
    /// order (h = max(z, 0) on ReLU layers, N = h_L + c_0), on scratch rows instead of arrays.
    func loss(_ y: UnsafePointer<Double>) -> Double {
        var width = 1
        for l in 0...L { width = max(width, layers[l]) }
        // Two rows on the stack (no heap scratch: the run calls this at its start and samples).
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * width) { scratch in
            loss(y, rows: scratch.baseAddress!, width: width)
        }
    }

    private func loss(_ y: UnsafePointer<Double>, rows a: UnsafeMutablePointer<Double>, width: Int) -> Double {
        var s = 0.0
        let c0 = c0Index.map { y[$0] } ?? 0
        for g in 0..<G {
            var h = a, z = a + width
            for k in 0..<d { h[k] = xT[k * G + g] }
            for l in 1...L {
                let bo = bOff[l - 1], wo = wOff[l - 1], below = layers[l - 1]
                for i in 0..<layers[l] {
                    var v = bo >= 0 ? y[bo + i] : 0
                    for k in 0..<below { v += y[wo + i * below + k] * h[k] }
                    z[i] = l < L && relu ? max(v, 0) : v
                }
                swap(&h, &z)
            }
            let out = h[0] + c0
            for j in pointsOfGroup[g] {
                let r = out - yOfPoint[j]
                s += r * r
            }
        }
        return s * invM / 2
    }

    // MARK: Switching functions

    func preactivation(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        guard relu else { return 1 }
        forward(y)
        return Z[i * G + g]
    }

    func preactivationRate(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        guard relu else { return 0 }
        forward(y)
        return rate(y, along: f, pair: i * G + g)
    }

    /// The rounding level of z_l[i][g] with its inputs' rounding carried up (a forward error
    /// bound): ν_l[i] = 64 ε (Σ_k |W_l[i,k]| |h_{l−1}[k]| + |b_l[i]|) + Σ_k |W_l[i,k]| |F_{l−1}[k]| ν_{l−1}[k],
    /// ν_0 = 0 (the data are exact). `preactivationNoise` is its first term: where a lower unit is
    /// on with z at its own rounding level (it sits at its surface, z ~ 1e-22 against a level of
    /// 1e-15), h is only known to that level, and so is z above it. The detector uses it to tell a
    /// pair that sits on its surface from one that crosses: with the first term alone ([2,5,5,5,1]
    /// Xavier seed 1) z = −4.7e-23 against a level of 7e-37 was a crossing after every step.
    func propagatedNoise(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        forward(y)
        let top = unitLayer[i]
        var below: [Double] = []
        for l in 1...top {
            let units = l == top ? [unitIndex[i]] : Array(0..<layers[l])
            var level = [Double](repeating: 0, count: layers[l])
            for u in units {
                var s = bIndex(l, u).map { abs(y[$0]) } ?? 0
                var carried = 0.0
                for k in 0..<layers[l - 1] {
                    let wk = abs(w(y, l, u, k))
                    s += wk * abs(input(l, k, g))
                    if l > 1 { carried += wk * abs(F[pair(l - 1, k, g)]) * below[k] }
                }
                level[u] = 64 * Double.ulpOfOne * s + carried
            }
            if l == top { return level[unitIndex[i]] }
            below = level
        }
        return 0
    }

    /// ν = 64 ε (Σ_k |W_l[i,k]| |h_{l−1}[k][g]| + |b_l[i]|), as the shallow field's.
    func preactivationNoise(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        forward(y)
        let l = unitLayer[i], u = unitIndex[i]
        var s = bIndex(l, u).map { abs(y[$0]) } ?? 0
        for k in 0..<layers[l - 1] { s += abs(w(y, l, u, k)) * abs(input(l, k, g)) }
        return 64 * Double.ulpOfOne * s
    }

    var switchingIsAffine: Bool { false }
    var hasSwitchingFunctions: Bool { relu }
    func layerAndUnit(ofNeuron i: Int) -> (layer: Int, unit: Int)? { (unitLayer[i], unitIndex[i]) }

    /// A linear network has no surfaces: z = 1, ż = 0 as `preactivation`, no pass.
    func surfaceValues(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>?, z: UnsafeMutablePointer<Double>,
                       zdot: UnsafeMutablePointer<Double>?) {
        guard relu else {
            for q in 0..<(n * G) { z[q] = 1 }
            if f != nil, let zdot { for q in 0..<(n * G) { zdot[q] = 0 } }
            return
        }
        forward(y)
        for q in 0..<(n * G) { z[q] = Z[q] }
        if let f, let zdot { tangent(y, f, zdot: zdot) }
    }

    /// One sliding surface: min(v⁻, −v⁺) of the evaluation, positive while the surface attracts
    /// from both sides. K ≥ 2: min(α_k + δ, 1 + δ − α_k), positive while α_k ∈ [−δ, 1 + δ]
    /// (δ = `EventFunction.alphaSlack`), −1 where no α solves the system (the slides end).
    func slideExitValue(_ e: SlideRates, at y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        if !e.alphas.isEmpty {
            guard let j = slideIndex[representative[i * G + g]], j < e.alphas.count else { return 0.5 }
            let a = e.alphas[j], delta = EventFunction.alphaSlack
            return a.isFinite ? min(a + delta, 1 + delta - a) : -1
        }
        guard e.vPlus.isFinite, e.vMinus.isFinite else { return 0.5 }
        return min(e.vMinus, -e.vPlus)
    }

    /// Sign changes of ±z over the step and dips of z's cubic Hermite interpolant (as the shallow
    /// detector), on the representatives of the surfaces only; the slide's exit functions at y1.
    func detectEvents(y1: UnsafePointer<Double>, f1: UnsafePointer<Double>, evaluation e1: SlideRates, H: Double,
                      z0: UnsafePointer<Double>, zdot0: UnsafePointer<Double>,
                      z1: UnsafeMutablePointer<Double>, zdot1: UnsafeMutablePointer<Double>) -> [EventDetector.Flag] {
        guard relu else { return [] }
        surfaceValues(y1, f1, z: z1, zdot: zdot1)
        var flags: [EventDetector.Flag] = []
        let dead = deadFirstLayerUnits()
        for k in 0..<(n * G) where representative[k] == k {
            let i = k / G, g = k % G
            if states[k] == .sliding {
                if slideExitValue(e1, at: y1, i, g) < 0 {
                    flags.append(EventDetector.Flag(function: EventFunction(neuron: i, group: g, sign: 0), tau: H, isDip: false))
                }
                continue
            }
            if dead.contains(i) { continue }
            let s: Double = states[k] == .on ? 1 : -1
            let e1 = s * z1[k], d0 = s * zdot0[k], d1 = s * zdot1[k], e0 = s * z0[k]
            if min(e1, max(d0, -d1)) >= 0 { continue }
            let noise = preactivationNoise(y1, i, g)
            if e1 < 0 {
                if -e1 <= noise && abs(z0[k]) <= noise { continue }
                if unitLayer[i] > 1 {
                    let carried = propagatedNoise(y1, i, g)
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

    /// Units of layer 1 off on every group: their (W_1, b_1) row has zero velocity, their z cannot
    /// change (no events, and none from rounding when left on a surface).
    private func deadFirstLayerUnits() -> Set<Int> {
        var dead = Set<Int>()
        guard L > 1 else { return dead }
        for i in 0..<layers[1] where (0..<G).allSatisfy({ states[i * G + $0] == .off }) { dead.insert(i) }
        return dead
    }

    // MARK: Filippov decisions

    /// The mode at θ(0): layer by layer, the masks of layers ≤ l fix the pre-activations of layer
    /// l + 1; pairs within ν of their surface start off and are resolved like events.
    func initialStates(_ y: UnsafePointer<Double>) -> (states: [PairState], onSurface: [(Int, Int)]) {
        guard relu else { return ([PairState](repeating: .on, count: n * G), []) }
        var st = [PairState](repeating: .off, count: n * G)
        for _ in 0..<max(L - 1, 1) {
            setMode(st)
            forward(y)
            for k in 0..<(n * G) { st[k] = Z[k] > 0 ? .on : .off }
        }
        setMode(st)
        forward(y)
        var onSurface: [(Int, Int)] = []
        for k in 0..<(n * G) where abs(Z[k]) <= preactivationNoise(y, k / G, k % G) {
            st[k] = .off
            onSurface.append((k / G, k % G))
        }
        return (st, onSurface)
    }

    /// ż of pair k and |θ'|² under the field with k's surface forced to `side`, with the tolerance
    /// below which ż counts as zero, and whether ż is at the velocity's rounding level.
    ///
    /// ż_k = Σ_p (∂z_k/∂θ_p) θ'_p is rounded twice: by the tangent pass that sums its terms, within
    /// 1e-12 T with T = Σ_p |∂z_k/∂θ_p θ'_p|, and through θ' = −g itself, within
    /// N = Σ_p |∂z_k/∂θ_p| δg_p (δg: `gradientRoundingLevel`, the running bound of the back-propagation
    /// with |θ|, |h| and |R| + δR, as `SlidingSystem.ratesAtRoundingLevel`). Where T ≤ N the velocity
    /// on z_k's support is no larger than its own rounding (weighted by |∇z_k|): every term of ż_k is
    /// rounding, so is ż_k whatever its sign, and it counts as zero (tolerance T, `atRounding`). This
    /// is a unit whose inputs and row hardly move while the signal reaching it from above cancels
    /// (g_p a cancellation of terms far larger than itself). Where T > N, θ' is known on the support
    /// and ż's sign stands beyond 1e-12 T, as always. (Not |ż| ≤ N: that also discards ż's whose
    /// terms are known and merely cancel.)
    private func sideVelocity(_ y: UnsafePointer<Double>, pair k: Int, side: PairState) -> (side: OneSurfaceRule.Side, atRounding: Bool) {
        let saved = states
        var forced = states
        for q in members(of: k) { forced[q] = side }
        setMode(forced)
        let f = UnsafeMutablePointer<Double>.allocate(capacity: P + 1)
        let gz = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { f.deallocate(); gz.deallocate(); setMode(saved) }
        evaluate(y, f)
        let v = rate(y, along: f, pair: k)
        zGradient(y, pair: k, into: gz)
        var terms = 0.0
        for p in 0..<P { terms += abs(gz[p] * f[p]) }
        let level = levelScratch + levelScratchLevel
        gradientRoundingLevel(y, alsoOn: [], into: level)
        var noise = 0.0
        for p in 0..<P { noise += abs(gz[p]) * level[p] }
        let atRounding = terms <= noise
        return ((v, f[P], atRounding ? max(terms, 1e-300) : 1e-12 * terms + 1e-300), atRounding)
    }

    func resolve(_ y: UnsafePointer<Double>, eventPairs: [(Int, Int)], excluded: [Int: Set<PairState>],
                 repeated: Set<Int>, reportUnchanged: Bool) -> [PairTransition] {
        let original = states
        var transitions: [PairTransition] = []
        var done = Set<Int>()
        for (i, g) in eventPairs {
            // A degenerate tie (`degenerateTie`) is no event of its class: the pair's input, not its
            // surface, vanishes here, and the decision of the unit below ends the tie.
            if degenerateTie(y, i * G + g) { continue }
            let k = representative[i * G + g]
            guard done.insert(k).inserted else { continue }
            let old = states[k]
            let (plus, plusAtRounding) = sideVelocity(y, pair: k, side: .on), (minus, minusAtRounding) = sideVelocity(y, pair: k, side: .off)
            var (new, kind) = OneSurfaceRule.decide(old: old, plus: plus, minus: minus)
            // A graze that joins the slides: its surface is implied by theirs (`ridesOnSlides`), or
            // its ż is at the velocity's rounding level on both sides (`sideVelocity`: T± ≤ N±, some
            // T > 0: z moves, by rounding; where every term is exactly 0, z stays put and the state
            // is kept), and either z moves by rounding on both sides (T⁺, T⁻ > 0) or the detector
            // meets the pair again after such a graze kept its state at an earlier event
            // (`roundingGrazes`; not a second decision at the same instant, `repeated`).
            // The field is then tangent to the surface from both sides as far as the computation can
            // tell, every α ∈ [0, 1] keeps ż = 0 to that precision (Filippov's set), and z, kept on
            // or off, has come back to the surface by θ's rounding alone: it wanders across it and
            // step after step would end at a no-change event there. So the pair joins the slides;
            // their system decides it (`settleSlides`: an α outside [0, 1] sends it back at this
            // instant, and the EventGuard keeps it from joining again here). With one side exact
            // (every term 0) the state is kept at first contact, as the one-surface rule and the
            // independent reference do (a graze that does not return is a graze:
            // deep_flow_cases/coupled-slides-depth4, t = 15.27, ż⁺ = 1.7e-18 ≤ N, ż⁻ = 0). Not
            // where the slide was left at this instant already (EventGuard: no
            // cycle of joining and leaving).
            let bothAtRounding = plusAtRounding && minusAtRounding && max(plus.tol, minus.tol) > 1e-300
            let seenAgain = min(plus.tol, minus.tol) > 1e-300 || (roundingGrazes.contains(k) && !repeated.contains(i * G + g))
            if kind == .graze && old != .sliding && excluded[k]?.contains(.sliding) != true
                && excluded[i * G + g]?.contains(.sliding) != true
                && ((bothAtRounding && seenAgain && !slides.isEmpty) || ridesOnSlides(y, pair: k)) {
                (new, kind) = (.sliding, .slide)
            }
            // A state chosen and left again at this instant is not chosen once more (EventGuard:
            // `excluded` holds it, `repeated` says the pair was decided here before): the pair keeps
            // its state, so that an instant cannot cycle slide → slideEnd → slide until the
            // chattering guard stops the run (seen: [1, 4, 4, 4, 1] He seed 3, three surfaces of one
            // unit at t = 78.85).
            if new != old && repeated.contains(i * G + g) && excluded[i * G + g]?.contains(new) == true { (new, kind) = (old, .graze) }
            if old == .sliding && new != .sliding { kind = .slideEnd }
            if new == old && bothAtRounding { roundingGrazes.insert(k) } else { roundingGrazes.remove(k) }
            if new == old && !reportUnchanged { continue }
            if new == old && kind != .branch && !reportUnchanged { kind = .graze }
            let group = members(of: k)
            for q in group {
                transitions.append(PairTransition(neuron: q / G, group: q % G, from: states[q], to: new,
                                                  kind: repeated.contains(q) && kind != .slideEnd ? .graze : kind))
            }
            // Later pairs of this event are decided in the mode with this one's decision.
            var next = states
            for q in group { next[q] = new }
            setMode(next)
        }
        if !slides.isEmpty, let diagnosis = settleSlides(y, transitions: &transitions) {
            pendingFailure = diagnosis
            setMode(original)
            return []
        }
        setMode(original)
        return transitions
    }

    /// A pair on its surface whose normal rate is 0 on both sides (a graze) while surfaces slide,
    /// and whose surface the slides imply: ∇z_k lies in the span of the sliding surfaces' ∇z_j
    /// (relative residual ≤ 1e-9: rounding of P-vectors of gradients), so every velocity that keeps
    /// them (ż_j = 0) keeps it. Within one linear region of the layers below, z of a unit and its
    /// gradient are affine in x, so a unit pinned to 0 at two points of a segment (d = 1) is 0 on
    /// the whole segment. Such a pair slides with them (SPEC §4's several-surface rule: its α is
    /// left free by the conditions ż = 0 and taken nearest the box's centre, `SlidingSystem`).
    /// Kept on or off instead, the rounding of each step puts it on its other side by a few times
    /// its rounding level and every step ends at a no-change event there (measured: [1, 6, 6, 1]
    /// Xavier seed 2, 4 586 steps and a dissipation defect of 3e-7 at T = 100). A graze whose
    /// surface is not implied, or that coincides with one slide's, keeps its state.
    private func ridesOnSlides(_ y: UnsafePointer<Double>, pair k: Int) -> Bool {
        let i = k / G
        let others = slides.map(\.rep).filter { $0 != k }
        guard !others.isEmpty else { return false }
        forward(y)
        guard abs(Z[k]) <= 16 * preactivationNoise(y, i, k % G) else { return false }
        // Modified Gram–Schmidt of the slides' gradients, then the residual of ∇z_k.
        let buffer = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { buffer.deallocate() }
        zGradient(y, pair: k, into: buffer)
        let gk = Array(UnsafeBufferPointer(start: buffer, count: P))
        let nk = gk.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var basis: [[Double]] = []
        for j in others {
            zGradient(y, pair: j, into: buffer)
            var v = Array(UnsafeBufferPointer(start: buffer, count: P))
            // A surface coinciding with one slide (∇z parallel: a unit whose inputs vanish at both
            // points, z = b at each) keeps its state, as coincident surfaces always have.
            let nj = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            var dot = 0.0
            for p in 0..<P { dot += v[p] * gk[p] }
            if nj > 0 && abs(abs(dot) - nj * nk) <= 1e-9 * nj * nk { return false }
            for b in basis {
                var c = 0.0
                for p in 0..<P { c += b[p] * v[p] }
                for p in 0..<P { v[p] -= c * b[p] }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 1e-12 * max(1, basis.count == 0 ? norm : 1) { basis.append(v.map { $0 / norm }) }
        }
        var r = gk
        let full = nk
        guard full > 0 else { return false }
        for b in basis {
            var c = 0.0
            for p in 0..<P { c += b[p] * r[p] }
            for p in 0..<P { r[p] -= c * b[p] }
        }
        return r.reduce(0) { $0 + $1 * $1 }.squareRoot() <= 1e-9 * full
    }

    /// After an event's decisions the sliding surfaces must still attract: an event elsewhere (a
    /// pair switching, a new slide) changes their rates. One surface is in doubt unless
    /// v⁺ < 0 < v⁻, several unless every α ∈ (0, 1). A surface in doubt is decided afresh by the
    /// rule (its v± with the others keeping ż = 0), as a pair arriving at its surface: it stays if
    /// both sides still point at it, else it leaves to its side (in the affine case α is
    /// v⁻/(v⁻ − v⁺), outside (0, 1) exactly when v± do not both point at the surface); the rest
    /// are solved again. A diagnosis where no α solves the system (K ≥ 2) or no consistent set is
    /// found within 2K + 2 decisions.
    private func settleSlides(_ y: UnsafePointer<Double>, transitions: inout [PairTransition]) -> String? {
        let names = slides.map { describe($0.rep) }.joined(separator: ", ")
        var kept = Set<Int>()
        var limitTried = false
        for _ in 0..<(2 * slides.count + 3) {
            guard !slides.isEmpty else { return nil }
            _ = computeField(y, fieldScratch)
            if numericalFailure != nil { return nil }   // reported by `failure(at:)`
            let doubtful: [Int]
            if slides.count == 1 {
                doubtful = vPlus < 0 && 0 < vMinus ? [] : [0]
            } else {
                if alphas.contains(where: \.isNaN) {
                    if !limitTried {
                        limitTried = true
                        if regularisedLimit(y, transitions: &transitions) { continue }
                    }
                    return "\(names) slide at once and the conditions ż = 0 have no solution there "
                        + "(no σ'(0) = α on these surfaces keeps every one of them, nor the regularised limit's set)"
                }
                doubtful = alphas.indices.filter { !(0 < alphas[$0] && alphas[$0] < 1) }
            }
            guard let j = doubtful.first(where: { !kept.contains(slides[$0].rep) }) else { return nil }
            let k = slides[j].rep
            let plus = sideVelocity(y, pair: k, side: .on).side, minus = sideVelocity(y, pair: k, side: .off).side
            let new = OneSurfaceRule.decide(old: .off, plus: plus, minus: minus).state
            if new == .sliding {
                kept.insert(k)
                continue
            }
            let group = members(of: k)
            for q in group {
                transitions.append(PairTransition(neuron: q / G, group: q % G, from: .sliding, to: new, kind: .slideEnd))
            }
            var next = states
            for q in group { next[q] = new }
            setMode(next)
        }
        return "no consistent set of sliding surfaces among \(names) (each surface's α in [0, 1])"
    }

    /// Where no α keeps every sliding surface (Newton finds no root of ż(α) = 0 in `settleSlides`):
    /// a consistent set of them as the limit of the regularised switch (`BoxComplementarity`: the
    /// box variational inequality α_k = 0 ⇒ ż_k ≤ 0, α_k = 1 ⇒ ż_k ≥ 0, else ż_k = 0 always has a
    /// solution, Hartman–Stampacchia). ż_k(α) is the representative's rate along −g(α) with
    /// σ'(0) = α_k on surface k's pairs (`gradient(holding:)`, `rates(holding:)`: exact in the
    /// sliding mode, where the pairs' forward masks are 0). The surfaces the limit decides on or
    /// off leave their slides (slideEnd), the others stay; false (mode unchanged) where the limit
    /// fails or keeps every surface (then nothing changes and the caller's diagnosis stands).
    /// The caller solves the remaining slides exactly again and checks them as before.
    private func regularisedLimit(_ y: UnsafePointer<Double>, transitions: inout [PairTransition]) -> Bool {
        let units = slides.map(\.members), reps = slides.map(\.rep)
        let g = UnsafeMutablePointer<Double>.allocate(capacity: P), u = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let zdot = UnsafeMutablePointer<Double>.allocate(capacity: n * G)
        defer { g.deallocate(); u.deallocate(); zdot.deallocate() }
        func limitRates(_ a: [Double]) -> [Double] {
            gradient(y, holding: units, at: a, into: g)
            for p in 0..<P { u[p] = -g[p] }
            self.rates(y, along: u, holding: units, at: a, into: zdot)
            return reps.map { zdot[$0] }
        }
        guard let found = BoxComplementarity.solve(count: units.count, start: [Double](repeating: 0.5, count: units.count), rates: limitRates),
              found.states.contains(where: { $0 != 0 }) else { return false }
        var next = states
        for (members, side) in zip(units, found.states) where side != 0 {
            let new: PairState = side > 0 ? .on : .off
            for q in members {
                next[q] = new
                transitions.append(PairTransition(neuron: q / G, group: q % G, from: .sliding, to: new, kind: .slideEnd))
            }
        }
        setMode(next)
        return true
    }

    /// A pair on its surface stands for its class only where the class's representative is on it
    /// too: a tie of positively proportional inputs degenerates where the pair's scale λ → 0 (the
    /// only unit on below it reaching its own surface at this event, which ends the tie): z = λ z_r
    /// is then within its rounding carried up from the unit below (`propagatedNoise`; seen:
    /// z = 5.6e-19, far above the unit's own level) while z_r is not, and projecting or deciding the
    /// representative would move θ onto the class's surface from afar (seen: the tester's nb3
    /// under RMSProp, a jump of the loss from 0.098 to 0.136 at t = 0.14177).
    func degenerateTie(_ y: UnsafePointer<Double>, _ k: Int) -> Bool {
        let r = representative[k]
        guard r != k else { return false }
        forward(y)
        let zk = abs(Z[k]), zr = abs(Z[r])
        return zk <= propagatedNoise(y, k / G, k % G) && zr > 16 * propagatedNoise(y, r / G, r % G)
    }

    /// The representatives of the pairs (coincident surfaces decide together as one; a degenerate
    /// tie's pair is left out, `degenerateTie`).
    func jointPairs(_ y: UnsafePointer<Double>, with pairs: [(Int, Int)]) -> [(Int, Int)] {
        var seen = Set<Int>(), out: [(Int, Int)] = []
        for (i, g) in pairs {
            let r = representative[i * G + g]
            if degenerateTie(y, i * G + g) { continue }
            if seen.insert(r).inserted { out.append((r / G, r % G)) }
        }
        return out
    }

    /// Gauss–Newton onto z_ig = 0 (g ∈ groups, representatives only, and every sliding surface when
    /// several slide): cyclic minimum-norm steps
    /// δθ = −z ∇z/|∇z|², in the current mode, until every |z| ≤ ν (at most 16 sweeps). Exact in
    /// one step for layer 1 (z affine in θ).
    func project(_ i: Int, onto groups: [Int], state y: UnsafeMutablePointer<Double>) {
        guard relu, !groups.isEmpty else { return }
        // A degenerate tie's pair is on its surface already, its class's is not (`degenerateTie`).
        var repSet = Set<Int>()
        for g in groups where !degenerateTie(y, i * G + g) { repSet.insert(representative[i * G + g]) }
        // Several sliding surfaces are projected onto together: a step onto one moves θ off the
        // others by the curvature of the surfaces of layers ≥ 2 (cyclic steps converge).
        if slides.count >= 2 { repSet.formUnion(slides.map(\.rep)) }
        let reps = repSet.sorted()
        let gz = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { gz.deallocate() }
        for _ in 0..<16 {
            var moved = false
            for k in reps {
                forward(y)
                let z = Z[k]
                if abs(z) <= preactivationNoise(y, k / G, k % G) { continue }
                zGradient(y, pair: k, into: gz)
                var n2 = 0.0
                for p in 0..<P { n2 += gz[p] * gz[p] }
                guard n2 > 0 else { continue }
                for p in 0..<P { y[p] -= z * gz[p] / n2 }
                moved = true
            }
            if !moved { return }
        }
    }

    func updateSlideHysteresis(_ hysteresis: inout SlideHysteresis, _ transitions: [(key: Int, from: PairState, to: PairState)],
                               at t: Double, loss: Double) {
        hysteresis.update(transitions, at: t, loss: loss, bandFactors: &alphaBandFactor)
    }

    func failure(at t: Double) -> FlowFailure? {
        if let error = numericalFailure { return .linearAlgebra(t: t, error: error) }
        return pendingFailure.map { .severalAttractingSurfaces(t: t, pairs: $0) }
    }

    func noteFailure(_ error: Error) {
        if numericalFailure == nil { numericalFailure = error as? NumericalError ?? NumericalError("deep field", "\(error)") }
    }

    // MARK: Diagnostics and step control

    /// |N_g|'s rounding scale: |c_0| + Σ|W_L||h̄_{L−1}|, h̄_l = F ∘ (Σ|W_l||h̄_{l−1}| + |b_l|).
    private func outputScales(_ t: UnsafePointer<Double>) -> [Double] {
        let hbar = UnsafeMutablePointer<Double>.allocate(capacity: max(n * G, 1))
        defer { hbar.deallocate() }
        var scales = [Double](repeating: 0, count: G)
        scales.withUnsafeMutableBufferPointer { outputScales(t, hbar: hbar, into: $0.baseAddress!) }
        return scales
    }

    /// The same into `scales` (G), with h̄ in `hbar` (n × G): on raw buffers, as the stationary
    /// test calls it at step ends.
    private func outputScales(_ t: UnsafePointer<Double>, hbar: UnsafeMutablePointer<Double>, into scales: UnsafeMutablePointer<Double>) {
        // Per entry the same sum in the same order as written out: |b| (or 0), then + |w_k||h̄_k|
        // for k = 0, 1, …; the rows are addressed once per layer (the stationary test's cost).
        for l in 1..<L {
            let below = layers[l - 1], wo = wOff[l - 1], bo = bOff[l - 1]
            // Row k of layer l's input, |x| on layer 1 (taken per entry, as before).
            let input = l == 1 ? UnsafePointer(xT) : UnsafePointer(hbar + uOff[l - 1] * G)
            for i in 0..<layers[l] {
                let row = (uOff[l] + i) * G, wRow = wo + i * below
                for g in 0..<G {
                    var s = bo >= 0 ? abs(t[bo + i]) : 0
                    if l == 1 {
                        for k in 0..<below { s += abs(t[wRow + k]) * abs(input[k * G + g]) }
                    } else {
                        for k in 0..<below { s += abs(t[wRow + k]) * input[k * G + g] }
                    }
                    hbar[row + g] = F[row + g] * s
                }
            }
        }
        let below = layers[L - 1], wo = wOff[L - 1]
        let input = L == 1 ? UnsafePointer(xT) : UnsafePointer(hbar + uOff[L - 1] * G)
        for g in 0..<G {
            var s = c0Index.map { abs(t[$0]) } ?? 0
            if L == 1 {
                for k in 0..<below { s += abs(t[wo + k]) * abs(input[k * G + g]) }
            } else {
                for k in 0..<below { s += abs(t[wo + k]) * input[k * G + g] }
            }
            scales[g] = s
        }
    }

    func lossIsAtRoundingLevel(_ e: SlideRates, at y: UnsafePointer<Double>) -> Bool {
        let R = residuals(at: y)
        var r2 = 0.0, y2 = 0.0
        for g in 0..<G { r2 += R[g] * R[g]; y2 += yabs[g] * yabs[g] }
        guard r2 <= 1e-20 * max(y2, 1) else { return false }
        let scales = outputScales(y)
        for g in 0..<G where abs(R[g]) > 8 * 32 * Double.ulpOfOne * (mult[g] * scales[g] + yabs[g]) { return false }
        return true
    }

    /// R at θ: in the fused workspace where the last evaluation left its forward pass there (read
    /// in place: the test runs at every step end), else the forward pass's.
    private func residuals(at y: UnsafePointer<Double>) -> UnsafePointer<Double> {
        if forwardInFused && forwardValid && forwardStamp == modeChanges && memcmp(forwardTheta, y, P * MemoryLayout<Double>.stride) == 0 {
            return rf_deep_fused_residuals(fused)
        }
        forward(y)
        return UnsafePointer(R)
    }

    /// |f| against the rounding level of its computation: the gradient back-propagated with
    /// |W|, |h| and |R| + δR, times 64 ε.
    func fieldRoundingRatio(_ e: SlideRates, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        let level = levelScratch + levelScratchLevel
        gradientRoundingLevel(y, alsoOn: [], into: level)
        var f2 = 0.0, l2 = 0.0
        for p in 0..<P { f2 += f[p] * f[p]; l2 += level[p] * level[p] }
        let noise = l2.squareRoot()
        return noise > 0 ? f2.squareRoot() / noise : (f2 > 0 ? .infinity : 0)
    }

    /// The rounding level of each gradient component: the gradient back-propagated with |θ|, |h|
    /// and |R| + δR, times 64 ε (the passes' buffers restored, dOut included); the sliding pairs,
    /// and the pairs `alsoOn` (an adaptive flow's sliding pairs, off in the mode it sets), count
    /// with weight 1 (the largest σ'(0) = α can give).
    func gradientRoundingLevel(_ y: UnsafePointer<Double>, alsoOn extra: [Int] = []) -> [Double] {
        var level = [Double](repeating: 0, count: P)
        level.withUnsafeMutableBufferPointer { gradientRoundingLevel(y, alsoOn: extra, into: $0.baseAddress!) }
        return level
    }

    /// The same into `level` (P), its work in `levelScratch` (no allocations: the stationary test
    /// calls it at step ends).
    private func gradientRoundingLevel(_ y: UnsafePointer<Double>, alsoOn extra: [Int], into level: UnsafeMutablePointer<Double>) {
        forward(y)
        let nG = n * G, dG = d * G
        let hbar = levelScratch, scales = hbar + nG, absTheta = scales + G, savedR = absTheta + P, savedOut = savedR + G
        let savedH = savedOut + G, savedX = savedH + nG, S = savedX + dG
        outputScales(y, hbar: hbar, into: scales)
        for p in 0..<P { absTheta[p] = abs(y[p]) }
        savedR.update(from: R, count: G)
        savedH.update(from: H, count: nG)
        savedX.update(from: xT, count: dG)
        savedOut.update(from: dOut, count: G)
        for g in 0..<G { dOut[g] = (abs(R[g]) + 32 * Double.ulpOfOne * (mult[g] * scales[g] + yabs[g])) * invM }
        for q in 0..<nG { H[q] = abs(H[q]) }
        for q in 0..<dG { xT[q] = abs(xT[q]) }
        defer {
            for q in 0..<dG { xT[q] = savedX[q] }
            for g in 0..<G { R[g] = savedR[g]; dOut[g] = savedOut[g] }
            for q in 0..<nG { H[q] = savedH[q] }
        }
        S.update(from: F, count: nG)
        for s in slides { for k in s.members { S[k] = 1 } }
        for k in extra { S[k] = 1 }
        backward(absTheta, S: UnsafePointer(S), into: level)
        for p in 0..<P { level[p] *= 64 * Double.ulpOfOne }
    }

    /// Power iteration on ∇²L_M with exact Hessian–vector products (12 products), α of the
    /// evaluation e at y held.
    func stiffnessEstimate(_ e: SlideRates, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        var v = (0..<P).map { $0 % 2 == 0 ? 1.0 : -0.7 }
        var norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        v = v.map { $0 / norm }
        let S = weights(held: e)
        var out = [Double](repeating: 0, count: P)
        var lambda = 0.0
        for _ in 0..<12 {
            v.withUnsafeBufferPointer { vb in out.withUnsafeMutableBufferPointer { hessianVector(y, vb.baseAddress!, S: S, into: $0.baseAddress!) } }
            norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
            lambda = norm
            guard norm > 0 else { return 0 }
            v = out.map { $0 / norm }
        }
        return lambda
    }

    var costDimension: Int { d }
}
