import Foundation
@preconcurrency import CGSL
import CFieldKernels

/// The mode-locked vector field of SPEC §3–§4: `f(θ) = −∇L(θ)` with the activation pattern held
/// fixed (never `sign(z)` of the evaluation point), extended by one quadrature component
/// `D' = |f|²` for the dissipation identity. This is the "system" of the integrator.
///
/// State vector `y = [θ (P entries, SPEC §1 order), D]`.
///
/// Pairs work per *surface group* (distinct data point, see `Dataset`): with multiplicity
/// `μ_g` and target sum `Y_g`, the residual sum of a group is `R_g = μ_g N(x_g) − Y_g`, and
/// `∂L/∂c_i = (1/m) Σ_g R_g h_ig`, `∂L/∂(w_i, b_i) = (c_i/m) Σ_g R_g s_ig x̃_g`.
///
/// Sliding pairs (SPEC §4) enter with `s = 0` in `F⁰_i = −(c_i/m) Σ_g R_g s_ig x̃_g`; the neuron's
/// (w_i, b_i)-velocity is then `F_i = F⁰_i + X̃_Kᵀ λ`, the component of F⁰_i tangent to its
/// sliding surfaces. This is the Filippov convex combination `f⁻ + α (f⁺ − f⁻)` with
/// `α_g = λ_g / (−(c_i/m) R_g)`, which is reported in the evaluation's α (`FieldEvaluation`) and monitored for exits.
/// Because every stage derivative is tangent to the surfaces, z on them stays constant
/// through a Runge–Kutta step (up to rounding).
/// The mode-locked field at one state as the event decisions read it (SPEC §4), a value that stays
/// valid whatever is evaluated next (`ModeField.evaluation(at:into:)`; the field f itself goes to
/// the caller's buffer): the residuals R_g = μ_g N_g − Y_g and the sliding α's (n×G, NaN for pairs
/// not sliding). Its rounding levels, δR_g of every residual and the velocity noise built from them
/// (`ModeField.velocityNoise`), cost O(n·G·d) and are computed when a decision needs them
/// (`ModeField.withRoundingLevels(_:at:)`; empty / NaN before).
struct FieldEvaluation {
    /// R and α, written once when the evaluation is made (immutable from then on; the field
    /// reuses a storage for its next evaluation only when no value holds it any more).
    final class Storage {
        let R: UnsafeMutablePointer<Double>
        /// α (n×G), written for the rows of sliding neurons only.
        let alpha: UnsafeMutablePointer<Double>
        /// Per neuron: whether its row of α was written (it slides); otherwise its α's are NaN.
        let rowWritten: UnsafeMutablePointer<Bool>
        let G: Int, n: Int
        init(G: Int, n: Int) {
            self.G = G
            self.n = n
            R = .allocate(capacity: max(G, 1))
            alpha = .allocate(capacity: max(n * G, 1))
            rowWritten = .allocate(capacity: max(n, 1))
            rowWritten.initialize(repeating: false, count: max(n, 1))
        }
        deinit { R.deallocate(); alpha.deallocate(); rowWritten.deallocate() }
    }
    let storage: Storage
    let residualNoise: [Double]
    let velocityNoise: Double

    /// The residuals R_g (valid while this value is held).
    var R: UnsafeBufferPointer<Double> { UnsafeBufferPointer(start: storage.R, count: storage.G) }
    /// Whether the rounding levels are in.
    var hasRoundingLevels: Bool { !velocityNoise.isNaN }
    static var none: FieldEvaluation { FieldEvaluation(storage: Storage(G: 0, n: 0), residualNoise: [], velocityNoise: .nan) }

    /// α of pair k (NaN when it does not slide).
    @inline(__always) func alpha(_ k: Int) -> Double { storage.G > 0 && storage.rowWritten[k / storage.G] ? storage.alpha[k] : .nan }
}

final class ModeField {
    let network: ShallowNetwork
    let n: Int, d: Int, G: Int, m: Int
    /// Number of parameters P; the state has P + 1 entries.
    let P: Int
    var dimension: Int { P + 1 }
    let invM: Double

    // Data per group.
    let xg: UnsafeMutablePointer<Double>      // G×d
    private let xgT: UnsafeMutablePointer<Double>   // d×G (the same points, transposed for SIMD lanes over g)
    private let xAbsT: UnsafeMutablePointer<Double> // d×G: |x_gk|, for the rounding scales
    let mult: UnsafeMutablePointer<Double>    // G
    let ysum: UnsafeMutablePointer<Double>    // G
    let yabs: UnsafeMutablePointer<Double>    // G: Σ_{j∈g} |y_j|
    let yOfPoint: [Double]
    let groupOfPoint: [Int]
    let pointsOfGroup: [[Int]]

    // The mode.
    private(set) var states: [PairState]       // n×G
    let slope: UnsafeMutablePointer<Double>   // n×G: 1 on, 0 off or sliding
    let slopeBytes: UnsafeMutablePointer<UInt8>   // n×G: the same as bytes, for the AVX2 kernels
    private(set) var surfaces: [SurfaceSet?]   // per neuron: its sliding surfaces (set by `installSurfaces`)
    private(set) var slidingNeurons: [Int] = [] {
        didSet {
            slidingCount = slidingNeurons.count
            for (a, i) in slidingNeurons.enumerated() { slidingList[a] = i }
        }
    }

    /// `surfaces` in flat storage, per neuron: what every evaluation's projection reads (and the
    /// projections of sliding neurons at step ends and samples), with no reference counting: a
    /// `SurfaceSet` copied out of `surfaces` retains and releases its three arrays (issue 22: at
    /// `sine` to T = 1e5, 31 000 retains and as many releases a run). `count` 0: no set (no sliding
    /// pair, or its set could not be built).
    private struct SlideEntry {
        var count = 0
        var dependent = false
        /// The set's groups (count), ascending.
        var groups: UnsafeMutablePointer<Int>? = nil
        /// Λ (count×(d+1)), then the normals x̃_g (count×(d+1)), row-major as in `SurfaceSet`.
        var data: UnsafeMutablePointer<Double>? = nil
    }
    private let slideEntries: UnsafeMutablePointer<SlideEntry>   // n
    /// `slidingNeurons` (its first `slidingCount` entries), read without the array's reference count.
    private let slidingList: UnsafeMutablePointer<Int>   // n
    private var slidingCount = 0

    /// Sets neuron i's sliding surfaces (`surfaces[i]` and its flat copy `slideEntries[i]`).
    private func installSurfaces(_ i: Int, _ set: SurfaceSet?) {
        surfaces[i] = set
        var entry = slideEntries[i]
        entry.groups?.deallocate()
        entry.data?.deallocate()
        entry = SlideEntry()
        if let set, !set.groups.isEmpty {
            let k = set.groups.count, e = d + 1
            entry.count = k
            entry.dependent = set.dependent
            let groups = UnsafeMutablePointer<Int>.allocate(capacity: k)
            groups.initialize(from: set.groups, count: k)
            let data = UnsafeMutablePointer<Double>.allocate(capacity: 2 * k * e)
            data.initialize(from: set.lambdaMap, count: k * e)
            (data + k * e).initialize(from: set.normals, count: k * e)
            entry.groups = groups
            entry.data = data
        }
        slideEntries[i] = entry
    }

    /// Neuron i's sliding surfaces projected out of F (length d+1) with multipliers λ into
    /// `multipliers` (`SurfaceSet.project` on the flat copy: the same operations); false when it
    /// has no set.
    @inline(__always)
    private func projectSliding(_ i: Int, _ F: UnsafeMutablePointer<Double>, multipliers: UnsafeMutablePointer<Double>) -> Bool {
        let entry = slideEntries[i]
        guard entry.count > 0, let data = entry.data else { return false }
        let e = d + 1
        SurfaceSet.project(F, count: entry.count, width: e, lambdaMap: data, normals: data + entry.count * e,
                           multipliers: multipliers)
        return true
    }

    /// Per-pair widening of the α band (anti-Zeno hysteresis, see FlowSolver), n×G, 1 by default.
    var alphaBandFactor: [Double]

    /// Working storage of `evaluate`: α of every sliding pair (NaN elsewhere), n×G, read into an
    /// evaluation's value (`FieldEvaluation.alpha`) by `evaluation(at:into:)`. For a
    /// neuron on dependent surfaces the α's are not unique and the one deepest in the box costs a
    /// small linear programme (`SurfaceSet.feasibleAlphas`); it is chosen when α is first read,
    /// not in every evaluation (stage evaluations never read it), with the same result.
    private var alpha: UnsafeMutablePointer<Double> {
        if !pendingDependentAlphas.isEmpty { settleDependentAlphas() }
        return alphaStorage
    }
    private let alphaStorage: UnsafeMutablePointer<Double>
    /// Neurons on dependent surfaces whose α in `alphaStorage` is still the minimum-norm one of the
    /// last `evaluate`, with that evaluation's weight scale −c_i/m.
    private var pendingDependentAlphas: [(neuron: Int, scale: Double)] = []

    private func settleDependentAlphas() {
        for (i, scale) in pendingDependentAlphas {
            guard let set = surfaces[i] else { continue }
            let row = i * G
            do {
                let feasible = try set.feasibleAlphas(set.groups.map { alphaStorage[row + $0] }, weights: set.groups.map { scale * R[$0] })
                for (a, g) in set.groups.enumerated() { alphaStorage[row + g] = feasible[a] }
            } catch {
                noteFailure(error)
                for g in set.groups { alphaStorage[row + g] = .nan }
            }
        }
        pendingDependentAlphas.removeAll(keepingCapacity: true)
    }

    /// The first failure of the linear algebra behind the field (an eigensolver of the sliding
    /// surfaces, `SurfaceSet`), if any. From then on the field is wrong: `evaluate` returns false,
    /// and the solver fails the run with this diagnosis; analysis code throws it.
    private(set) var numericalFailure: NumericalError?

    /// Records a failure of the field's linear algebra (the first one is kept).
    func noteFailure(_ error: Error) {
        guard numericalFailure == nil else { return }
        numericalFailure = error as? NumericalError ?? NumericalError("linear algebra", "\(error)")
    }

    /// The sliding surfaces of a neuron, or nil (with the failure recorded) when they cannot be built.
    private func surfaceSet(_ groups: [Int]) -> SurfaceSet? {
        do { return try SurfaceSet(groups: groups, points: xg, d: d) } catch {
            noteFailure(error)
            return nil
        }
    }

    // Scratch.
    let N: UnsafeMutablePointer<Double>       // G
    let Nabs: UnsafeMutablePointer<Double>    // G: |c_0| + Σ_i s_ig |c_i| (|b_i| + Σ_k |w_ik x_gk|), the scale of N's rounding
    private let R: UnsafeMutablePointer<Double>       // G: working storage of `evaluate`
    private let lossOutputs: UnsafeMutablePointer<Double>   // G: network outputs of `loss` (not N: the field's side output)
    private let srBuffer: UnsafeMutablePointer<Double>      // G: s_ig R_g of one neuron (the field's pass 2, d ≥ 5)
    private let F: UnsafeMutablePointer<Double>        // d+1
    private let lambdas: UnsafeMutablePointer<Double>  // up to G

    /// Whether the field (`evaluate`: the AVX2 build of shallow_field.c rather than its portable
    /// build, any G), pass 1 of `accumulateOutputs`, the rows of z and ż and the scan's screen
    /// (AVX2 kernels of field_kernels.c, see `kernelsApply`) run in 256-bit lanes (`CFieldKernels`;
    /// true when the CPU has AVX2). Their results are bitwise those of the portable code; the
    /// benchmark switches them off to time both.
    var useVectorKernels = ModeField.vectorKernelsAvailable
    /// Whether the kernels of field_kernels.c run for this field: switched on, and at least 8
    /// groups (two lanes; issue 22: at G = 20, `sine`, they take 9 M of the 254 M instructions of a
    /// run to T = 1e5 off the event scan and the rows of z and ż).
    var kernelsApply: Bool { useVectorKernels && G >= 8 }
    /// Whether this CPU runs the AVX2 kernels.
    static let vectorKernelsAvailable = rf_field_kernels_available() != 0
    private var jacobianRows: UnsafeMutablePointer<Double>? = nil   // G×P
    private var hessian: UnsafeMutablePointer<Double>? = nil        // P×P

    /// θ and field value of the last `evaluate` (a memo for `stepEndEvaluation`).
    private let lastTheta: UnsafeMutablePointer<Double>   // P
    private let lastField: UnsafeMutablePointer<Double>   // P + 1
    private var lastIsValid = false

    // Counters.
    var rhsEvaluations = 0
    var jacobianEvaluations = 0

    init(network: ShallowNetwork, data: Dataset) {
        self.network = network
        n = network.width
        d = network.inputDimension
        G = data.groupCount
        m = data.count
        P = network.parameterCount
        invM = 1 / Double(m)
        xg = .allocate(capacity: G * d)
        xg.initialize(from: data.groupPoints, count: G * d)
        xgT = .allocate(capacity: G * d)
        for g in 0..<G { for k in 0..<d { xgT[k * G + g] = xg[g * d + k] } }
        xAbsT = .allocate(capacity: G * d)
        for q in 0..<(G * d) { xAbsT[q] = abs(xgT[q]) }
        mult = .allocate(capacity: G)
        ysum = .allocate(capacity: G)
        yabs = .allocate(capacity: G)
        for g in 0..<G {
            mult[g] = Double(data.pointsOfGroup[g].count)
            ysum[g] = data.pointsOfGroup[g].reduce(0) { $0 + data.y[$1] }
            yabs[g] = data.pointsOfGroup[g].reduce(0) { $0 + abs(data.y[$1]) }
        }
        yOfPoint = data.y
        groupOfPoint = data.groupOfPoint
        pointsOfGroup = data.pointsOfGroup
        states = [PairState](repeating: .off, count: n * G)
        slope = .allocate(capacity: n * G)
        slope.initialize(repeating: 0, count: n * G)
        slopeBytes = .allocate(capacity: n * G)
        slopeBytes.initialize(repeating: 0, count: n * G)
        alphaStorage = .allocate(capacity: n * G)
        alphaStorage.initialize(repeating: .nan, count: n * G)
        surfaces = [SurfaceSet?](repeating: nil, count: n)
        slideEntries = .allocate(capacity: max(n, 1))
        slideEntries.initialize(repeating: SlideEntry(), count: max(n, 1))
        slidingList = .allocate(capacity: max(n, 1))
        alphaBandFactor = [Double](repeating: 1, count: n * G)
        N = .allocate(capacity: G)
        Nabs = .allocate(capacity: G)
        Nabs.initialize(repeating: 0, count: G)
        R = .allocate(capacity: G)
        lossOutputs = .allocate(capacity: G)
        srBuffer = .allocate(capacity: G)
        F = .allocate(capacity: d + 1)
        lastTheta = .allocate(capacity: P)
        lastField = .allocate(capacity: P + 1)
        lambdas = .allocate(capacity: max(G, 1))
        roundingNoise = .allocate(capacity: max(G, 1))
        spareStorage = FieldEvaluation.Storage(G: G, n: n)
        otherSpareStorage = FieldEvaluation.Storage(G: G, n: n)
    }

    deinit {
        for p in [xg, xgT, xAbsT, srBuffer, mult, ysum, yabs, slope, alphaStorage, N, Nabs, R, lossOutputs, F, lambdas] { p.deallocate() }
        slopeBytes.deallocate()
        roundingNoise.deallocate()
        for i in 0..<n {
            slideEntries[i].groups?.deallocate()
            slideEntries[i].data?.deallocate()
        }
        slideEntries.deallocate()
        slidingList.deallocate()
        lastTheta.deallocate()
        lastField.deallocate()
        jacobianRows?.deallocate()
        hessian?.deallocate()
        if let scratch = scanScratch {
            scratch.hits.deallocate()
            scratch.counts.deallocate()
            scratch.sliding.deallocate()
        }
    }

    // MARK: Mode

    /// How many times the mode was set or changed (`setMode`, `updateMode`): a value that tells
    /// whether quantities computed in one mode still apply.
    private(set) var modeChanges = 0

    /// Installs a new activation pattern (n×G states).
    func setMode(_ newStates: [PairState]) {
        precondition(newStates.count == n * G)
        modeChanges += 1
        pendingDependentAlphas.removeAll()   // every α is reset below
        states = newStates
        lastIsValid = false
        var slidingNeurons: [Int] = []
        for i in 0..<n {
            var sliding: [Int] = []
            for g in 0..<G {
                let s = newStates[i * G + g]
                slope[i * G + g] = s == .on ? 1 : 0
                slopeBytes[i * G + g] = s == .on ? 1 : 0
                alphaStorage[i * G + g] = .nan
                if s == .sliding { sliding.append(g) }
            }
            if sliding.isEmpty {
                installSurfaces(i, nil)
            } else {
                installSurfaces(i, surfaceSet(sliding))
                slidingNeurons.append(i)
            }
        }
        self.slidingNeurons = slidingNeurons
    }

    /// Changes the states of a few pairs (index i·G + g): their slope and α, and the sliding
    /// surfaces of the neurons involved only, so that an event costs O(changes + n) here rather
    /// than O(n·G) and one surface set per sliding neuron. The result equals `setMode` of the
    /// changed states.
    func updateMode(_ changes: [(index: Int, state: PairState)]) {
        guard !changes.isEmpty else { return }
        modeChanges += 1
        if !pendingDependentAlphas.isEmpty { settleDependentAlphas() }   // with the surfaces they were computed on
        lastIsValid = false
        var neurons = Set<Int>()
        for (k, s) in changes {
            // A change between on and off of a neuron with no sliding pair leaves its surfaces as
            // they are (none): no O(G) rescan.
            if s == .sliding || states[k] == .sliding || surfaces[k / G] != nil { neurons.insert(k / G) }
            states[k] = s
            slope[k] = s == .on ? 1 : 0
            slopeBytes[k] = s == .on ? 1 : 0
            alphaStorage[k] = .nan
        }
        guard !neurons.isEmpty else { return }
        for i in neurons {
            let sliding = (0..<G).filter { states[i * G + $0] == .sliding }
            installSurfaces(i, sliding.isEmpty ? nil : surfaceSet(sliding))
        }
        slidingNeurons = (0..<n).filter { surfaces[$0] != nil }
    }

    // MARK: Field

    /// Moves (w_i, b_i) of y onto neuron i's sliding surfaces of the current mode (its set in flat
    /// storage, built once per mode; the same operations as `SurfaceSet.project`) when `groups` are
    /// exactly those (nil: the caller knows they are); false, and nothing done, otherwise.
    func projectOntoSlidingSurfaces(_ i: Int, groups: [Int]?, state y: UnsafeMutablePointer<Double>) -> Bool {
        let entry = slideEntries[i]
        guard entry.count > 0, let own = entry.groups else { return false }
        if let groups {
            guard groups.count == entry.count else { return false }
            for a in 0..<entry.count where groups[a] != own[a] { return false }
        }
        // F and λ are the evaluation's scratch; no evaluation runs inside a projection.
        for k in 0..<d { F[k] = y[i * d + k] }
        F[d] = y[n * d + i]
        _ = projectSliding(i, F, multipliers: lambdas)
        for k in 0..<d { y[i * d + k] = F[k] }
        y[n * d + i] = F[d]
        return true
    }

    /// Every sliding neuron of `state` onto its sliding surfaces (`project` of each with the groups
    /// of its sliding pairs, which are those of its set of the mode): no array per neuron.
    func projectSlidingPairs(state y: UnsafeMutablePointer<Double>) {
        for s in 0..<slidingCount {
            let i = slidingList[s]
            if projectOntoSlidingSurfaces(i, groups: nil, state: y) { continue }
            // No set (it could not be built): as `project` does it, which notes the failure.
            project(i, onto: (0..<G).filter { states[i * G + $0] == .sliding }, state: y)
        }
    }

    /// `f = [−∇L (mode-locked, Filippov on sliding pairs), |−∇L|²]` (N, R and α in working storage:
    /// callers that read them take `evaluation(at:into:)`, a value).
    /// Returns false when the result is not finite, or after a failure of the field's linear
    /// algebra (`numericalFailure`).
    /// Every call counts as one RHS evaluation (`rhsEvaluations`), whoever makes it.
    @discardableResult
    func evaluate(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        rhsEvaluations += 1
        return computeField(y, f)
    }

    /// The work of `evaluate`, uncounted: for the Jacobian, which counts itself.
    private func computeField(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        // This evaluation writes every α. (Only when there is something to remove: `removeAll`
        // of the empty array allocated a buffer and released the old one at every call, issue 22.)
        if !pendingDependentAlphas.isEmpty { pendingDependentAlphas.removeAll(keepingCapacity: true) }
        // Pass 1 (N_g = c0 + Σ_i c_i s_ig z_ig), the residuals and pass 2 (F_i = Σ_g R_g s_ig x̃_g,
        // with ∂L/∂c_i ∝ Σ_g R_g s_ig z_ig = (w_i, b_i)·F_i since z_ig = x̃_g·(w_i, b_i): no per-pair
        // work of its own, and c_i ċ_i = (w_i, b_i)·(ẇ_i, ḃ_i), the balance of SPEC §4, holds of the
        // sums themselves) in one C call (CFieldKernels/shallow_field.c): lanes of four groups over
        // the transposed points, in the order of operations of the Swift SIMD4 loops it replaced
        // (issue 22: those cost ~5 000 instructions an evaluation at n = 10, G = 16, mostly overhead).
        _ = rf_shallow_field(Int32(d), n, G, xgT, mult, ysum, y, network.outputBias ? 1 : 0, invM, slope,
                         N, R, srBuffer, f, useVectorKernels ? 1 : 0)
        // Sliding neurons (SPEC §4): F_i = F⁰_i + X̃_Kᵀλ, the component of F⁰_i = f_(w_i, b_i)
        // tangent to their surfaces, with α_g = λ_g / (−(c_i/m) R_g).
        // (The sets from their flat copies, `slideEntries`: no reference counting per neuron.)
        let bOff = n * d, cOff = n * d + n
        for s in 0..<slidingCount {
            let i = slidingList[s]
            let entry = slideEntries[i]
            guard entry.count > 0, let groups = entry.groups, let data = entry.data else { continue }
            let row = i * G
            let scale = -y[cOff + i] * invM
            if entry.count == 1 {
                // One surface (the common case): `SurfaceSet.project`'s k = 1 operations on f's
                // block in place (λ = Λ·F, F += x̃ λ), without the copies through F.
                let e = d + 1, normal = data + e
                var lambda = 0.0
                for q in 0..<d { lambda += data[q] * f[i * d + q] }
                lambda += data[d] * f[bOff + i]
                for q in 0..<d { f[i * d + q] += normal[q] * lambda }
                f[bOff + i] += normal[d] * lambda
                let g = groups[0]
                alphaStorage[row + g] = lambda / (scale * R[g])
                if entry.dependent { pendingDependentAlphas.append((i, scale)) }
                continue
            }
            for k in 0..<d { F[k] = f[i * d + k] }
            F[d] = f[bOff + i]
            _ = projectSliding(i, F, multipliers: lambdas)
            for a in 0..<entry.count {
                let g = groups[a]
                alphaStorage[row + g] = lambdas[a] / (scale * R[g])
            }
            if entry.dependent { pendingDependentAlphas.append((i, scale)) }
            for k in 0..<d { f[i * d + k] = F[k] }
            f[bOff + i] = F[d]
        }
        var norm2 = 0.0
        for p in 0..<P { norm2 += f[p] * f[p] }
        f[P] = norm2
        lastTheta.update(from: y, count: P)
        lastField.update(from: f, count: P + 1)
        lastIsValid = true
        return norm2.isFinite && numericalFailure == nil
    }

    /// f(y) into f (one counted RHS evaluation) and what the decisions read of it, as a value.
    func evaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> FieldEvaluation {
        evaluate(y, f)
        return capturedEvaluation()
    }

    /// The evaluation at the end of an accepted step: GSL's steppers end an accepted step by
    /// evaluating f(y₁) (their `dydt_out`), so when the last `evaluate` was at the same θ (bit for
    /// bit, same mode) its value is returned, not counted (no evaluation happens); otherwise
    /// `evaluation(at:into:)`. The result is the same either way.
    func stepEndEvaluation(at y: UnsafePointer<Double>, into f: UnsafeMutablePointer<Double>) -> FieldEvaluation {
        // Bit for bit: memcmp of the P doubles (equal bytes are equal bit patterns).
        if lastIsValid && memcmp(lastTheta, y, P * MemoryLayout<Double>.stride) == 0 {
            f.update(from: lastField, count: P + 1)
            return capturedEvaluation()
        }
        return evaluation(at: y, into: f)
    }

    /// The value of the `evaluate` just made (R, and α when a pair slides), without rounding levels.
    private func capturedEvaluation() -> FieldEvaluation {
        // The storage of the last value handed out is written again only when no value holds it
        // (a value stays a value); an evaluation per step allocates nothing.
        // Two storages, so that a value replaced by the next evaluation (e = evaluation(…)) does
        // not make it allocate.
        if !isKnownUniquelyReferenced(&spareStorage) {
            swap(&spareStorage, &otherSpareStorage)
            if !isKnownUniquelyReferenced(&spareStorage) { spareStorage = FieldEvaluation.Storage(G: G, n: n) }
        }
        let storage = spareStorage
        storage.R.update(from: R, count: G)
        storage.rowWritten.update(repeating: false, count: n)
        if !slidingNeurons.isEmpty {
            let a = alpha
            for i in slidingNeurons {
                storage.rowWritten[i] = true
                (storage.alpha + i * G).update(from: a + i * G, count: G)
            }
        }
        return FieldEvaluation(storage: storage, residualNoise: [], velocityNoise: .nan)
    }

    /// (A stored property, not lazy: `isKnownUniquelyReferenced` on a lazy one sees its getter's copy.)
    private var spareStorage: FieldEvaluation.Storage, otherSpareStorage: FieldEvaluation.Storage

    /// `e` (an evaluation at y) with its rounding levels: δR_g of every residual at y in the
    /// current mode (`residualNoise`) and the velocity noise built from them.
    func withRoundingLevels(_ e: FieldEvaluation, at y: UnsafePointer<Double>) -> FieldEvaluation {
        if e.hasRoundingLevels { return e }
        prepareRoundingScales(y)
        let noise = (0..<G).map(residualNoise)
        return FieldEvaluation(storage: e.storage, residualNoise: noise, velocityNoise: velocityNoise(R: e.R, residualNoise: noise))
    }

    /// Exact Jacobian `∂f/∂y` of `evaluate` (SPEC §3): `−(1/m)(Σ_g μ_g J_gᵀJ_g + Σ_g R_g ∇²N_g)`,
    /// the rows of sliding neurons projected like their velocities, and the quadrature row
    /// `∂|f|²/∂θ = 2 fᵀ ∂f/∂θ`. `dfdy` is row-major dim×dim; `f` receives the field.
    func jacobian(_ y: UnsafePointer<Double>, _ dfdy: UnsafeMutablePointer<Double>, _ f: UnsafeMutablePointer<Double>) {
        _ = computeField(y, f)
        jacobianEvaluations += 1
        let dim = dimension
        if jacobianRows == nil {
            jacobianRows = .allocate(capacity: max(G * P, 1))
            hessian = .allocate(capacity: P * P)
        }
        let J = jacobianRows!, H = hessian!
        let bOff = n * d, cOff = n * d + n
        // Rows √μ_g ∂N_g/∂θ.
        J.initialize(repeating: 0, count: G * P)
        for g in 0..<G {
            let rowPtr = J + g * P
            let root = mult[g].squareRoot()
            for i in 0..<n {
                let s = slope[i * G + g]
                if s != 0 {
                    let cs = y[cOff + i] * s * root
                    for k in 0..<d { rowPtr[i * d + k] = cs * xg[g * d + k] }
                    rowPtr[bOff + i] = cs
                }
                rowPtr[cOff + i] = s * preactivation(y, i, g) * root
            }
            if network.outputBias { rowPtr[2 * n + n * d] = root }
        }
        // H = JᵀJ (upper triangle by BLAS), then mirrored.
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(P), Int32(G), 1.0, J, Int32(P), 0.0, H, Int32(P))
        for r in 0..<P { for c in 0..<r { H[r * P + c] = H[c * P + r] } }
        // Mixed second derivatives ∂²N/∂c_i∂(w_i, b_i) = s x̃, weighted by R_g.
        for i in 0..<n {
            for q in 0...d { F[q] = 0 }
            for g in 0..<G {
                let sr = slope[i * G + g] * R[g]
                for k in 0..<d { F[k] += sr * xg[g * d + k] }
                F[d] += sr
            }
            let ci = cOff + i
            for k in 0..<d {
                H[ci * P + i * d + k] += F[k]
                H[(i * d + k) * P + ci] += F[k]
            }
            H[ci * P + bOff + i] += F[d]
            H[(bOff + i) * P + ci] += F[d]
        }
        // ∂f/∂θ = −H/m (row pointers: no index arithmetic per entry).
        for r in 0..<P {
            let source = H + r * P, target = dfdy + r * dim
            for c in 0..<P { target[c] = -source[c] * invM }
            target[P] = 0
        }
        // Sliding neurons: their (w_i, b_i) rows are projected like F_i.
        for i in slidingNeurons {
            guard let set = surfaces[i] else { continue }
            for c in 0..<P {
                for k in 0..<d { F[k] = dfdy[(i * d + k) * dim + c] }
                F[d] = dfdy[(bOff + i) * dim + c]
                set.project(F)
                for k in 0..<d { dfdy[(i * d + k) * dim + c] = F[k] }
                dfdy[(bOff + i) * dim + c] = F[d]
            }
        }
        // Quadrature row.
        let last = P * dim
        for c in 0..<dim { dfdy[last + c] = 0 }
        for r in 0..<P {
            let fr = 2 * f[r]
            if fr == 0 { continue }
            let row = dfdy + r * dim, quadrature = dfdy + last
            for c in 0..<P { quadrature[c] += fr * row[c] }
        }
    }

    // MARK: Rounding levels (from the last `evaluate`)

    /// Computes the scale of N's rounding at state y (used by `residualNoise` and everything built
    /// on it). Called where a decision needs it, not in the hot path.
    private func prepareRoundingScales(_ y: UnsafePointer<Double>) {
        let c0 = network.outputBias ? abs(y[2 * n + n * d]) : 0
        for g in 0..<G { Nabs[g] = c0 }
        // |w_ik x_gk| = |w_ik| |x_gk| exactly; s_ig ∈ {0, 1} multiplies instead of branching, four
        // groups at a time (the same sums in the same order as one pair at a time).
        let G4 = G & ~3
        for i in 0..<n {
            let c = abs(y[n * d + n + i]), b = abs(y[n * d + i])
            let s = slope + i * G
            var g = 0
            while g < G4 {
                var size = SIMD4<Double>(repeating: b)
                for k in 0..<d { size += abs(y[i * d + k]) * load4(xAbsT + (k * G + g)) }
                store4(load4(Nabs + g) + (c * load4(s + g)) * size, Nabs + g)
                g += 4
            }
            while g < G {
                var size = b
                for k in 0..<d { size += abs(y[i * d + k]) * xAbsT[k * G + g] }
                Nabs[g] += c * s[g] * size
                g += 1
            }
        }
    }

    /// Whether every residual of the evaluation `e` at state y lies within `factor` times its
    /// rounding level: the loss is zero to working precision (an interpolating minimum reached).
    func residualsAtRoundingLevel(_ e: FieldEvaluation, at y: UnsafePointer<Double>, factor: Double = 8) -> Bool {
        let R = e.R
        var r2 = 0.0, y2 = 0.0
        for g in 0..<G {
            r2 += R[g] * R[g]
            y2 += yabs[g] * yabs[g]
        }
        guard r2 <= 1e-20 * max(y2, 1) else { return false }
        prepareRoundingScales(y)
        for g in 0..<G where abs(R[g]) > factor * residualNoise(g) { return false }
        return true
    }

    /// How far the field `f` of the evaluation `e` at state y lies above its rounding level:
    /// the largest ratio, over the blocks of the field, of its norm to the rounding error its
    /// computation can carry. Every neuron's block is a multiple of F_i = Σ_g s_ig R_g x̃_g
    /// (f_(w_i, b_i) = −(c_i/m) F_i, projected when it slides; f_(c_i) = −(w_i, b_i)·F_i / m; f_(c_0)
    /// = −Σ_g R_g / m), whose rounding error is at most about
    /// S_i = Σ_(g: pair not off) (δR_g + 16 ε |R_g|) |x̃_g|, with δR_g the residual's own rounding
    /// level (`residualNoise`) and 16 ε|R_g| the sums'. A ratio of a few means the field is zero
    /// to working precision: a stationary point (SPEC §5) reached, non-zero loss or not.
    /// Scratch of `fieldRoundingRatio` (per group), kept so that the check allocates nothing (a
    /// pointer: an array property written in the loop was checked for uniqueness per group).
    private let roundingNoise: UnsafeMutablePointer<Double>

    func fieldRoundingRatio(_ e: FieldEvaluation, at y: UnsafePointer<Double>, _ f: UnsafePointer<Double>) -> Double {
        let R = e.R
        prepareRoundingScales(y)
        let bOff = n * d, cOff = n * d + n
        var total = 0.0
        for g in 0..<G {
            roundingNoise[g] = (residualNoise(g) + 16 * Double.ulpOfOne * abs(R[g])) * normalNorm(g)
            total += residualNoise(g) + 16 * Double.ulpOfOne * abs(R[g])
        }
        var ratio = 0.0
        func update(_ size: Double, _ level: Double) {
            if size == 0 { return }
            ratio = max(ratio, level > 0 ? size / level : .infinity)
        }
        states.withUnsafeBufferPointer { states in
        for i in 0..<n {
            var S = 0.0
            for g in 0..<G where states[i * G + g] != .off { S += roundingNoise[g] }
            var wb2 = 0.0, fwb2 = 0.0
            for k in 0..<d { wb2 += y[i * d + k] * y[i * d + k]; fwb2 += f[i * d + k] * f[i * d + k] }
            wb2 += y[bOff + i] * y[bOff + i]
            fwb2 += f[bOff + i] * f[bOff + i]
            update(fwb2.squareRoot(), abs(y[cOff + i]) * invM * S)
            update(abs(f[cOff + i]), wb2.squareRoot() * invM * S)
        }
        }
        if network.outputBias { update(abs(f[2 * n + n * d]), invM * total) }
        return ratio
    }

    /// Bound on the rounding error of R_g = μ_g N_g − Y_g (after `prepareRoundingScales`).
    @inline(__always)
    private func residualNoise(_ g: Int) -> Double {
        32 * Double.ulpOfOne * (mult[g] * Nabs[g] + yabs[g])
    }

    /// |x̃_g| = √(|x_g|² + 1).
    @inline(__always)
    func normalNorm(_ g: Int) -> Double {
        var n2 = 1.0
        for k in 0..<d { n2 += xg[g * d + k] * xg[g * d + k] }
        return n2.squareRoot()
    }

    /// Tolerance below which a normal velocity x̃_g·F_i counts as zero, divided by |c_i|/m:
    /// `max|x̃| · (1e-12 Σ_q |R_q||x̃_q| + 8 Σ_q δR_q |x̃_q|)`, a relative part plus the rounding
    /// level of the residuals (which dominates near an interpolating minimum, where R → 0).
    /// The Filippov resolver and the slide-exit test both use it, so they never disagree.
    func velocityNoise(R: UnsafeBufferPointer<Double>, residualNoise: [Double]) -> Double {
        var magnitude = 0.0, noise = 0.0, maxNorm = 1.0
        for q in 0..<G {
            let xn = normalNorm(q)
            magnitude += abs(R[q]) * xn
            noise += residualNoise[q] * xn
            maxNorm = max(maxNorm, xn)
        }
        return maxNorm * (1e-12 * magnitude + 8 * noise)
    }

    /// Rounding level of the sliding α of pair (i, g): α = v⁻/(v⁻ − v⁺) with
    /// |v⁻ − v⁺| = (|c_i|/m) |R_g| |x̃_g|², so δα = velocityNoise / (|R_g| |x̃_g|²) + |α| δR_g / |R_g|.
    /// Near an interpolating minimum α loses its digits; exits and entries compare against this.
    /// From the values it is built of (the residual R_g and its rounding level δR_g).
    func alphaNoise(_ g: Int, alpha value: Double, velocityNoise vn: Double, residual: Double, residualNoise: Double) -> Double {
        let r = abs(residual)
        guard r > 0 else { return .infinity }
        let xn = normalNorm(g)
        return vn / (r * xn * xn) + (value.isFinite ? abs(value) : 0) * residualNoise / r
    }

    /// Half-width of the band around [0, 1] inside which α of pair (i, g) counts as admissible:
    /// its rounding level (times a margin), widened by `alphaBandFactor` up to 0.25. When the
    /// rounding band itself exceeds 0.5, α carries no digit and no side can be told from it: the
    /// band is infinite (a slide does not end on noise; the sliding motion is the projected field).
    /// From an evaluation with its rounding levels (R_g and δR_g).
    func alphaSlack(_ i: Int, _ g: Int, alpha a: Double, velocityNoise vn: Double, in e: FieldEvaluation) -> Double {
        alphaSlack(i, g, noise: alphaNoise(g, alpha: a, velocityNoise: vn, residual: e.R[g], residualNoise: e.residualNoise[g]))
    }

    private func alphaSlack(_ i: Int, _ g: Int, noise: Double) -> Double {
        let base = max(EventFunction.alphaSlack, EventFunction.noiseMargin * noise)
        if base > 0.5 { return .infinity }
        return min(base * alphaBandFactor[i * G + g], max(base, 0.25))
    }

    // MARK: Surfaces

    /// Row i of `surfaceValues` (the G pre-activations of neuron i and their rates).
    @inline(__always)
    func surfaceRow(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, _ i: Int,
                    z: UnsafeMutablePointer<Double>, zdot: UnsafeMutablePointer<Double>) {
        affineRow(weights: y + i * d, bias: y[n * d + i], into: z + i * G)
        affineRow(weights: f + i * d, bias: f[n * d + i], into: zdot + i * G)
    }

    /// Pre-activations z (n×G) and their rates ż = x̃_g·F_i from a field value f.
    func surfaceValues(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>?, z: UnsafeMutablePointer<Double>, zdot: UnsafeMutablePointer<Double>?) {
        if kernelsApply {
            // Every row in one C call (the sums of `affineRow`; issue 22: a call per row and rate).
            rf_affine_rows(Int32(d), n, G, xgT, y, f, z, zdot)
            return
        }
        let bOff = n * d
        for i in 0..<n {
            let row = i * G
            affineRow(weights: y + i * d, bias: y[bOff + i], into: z + row)
            if let f, let zdot { affineRow(weights: f + i * d, bias: f[bOff + i], into: zdot + row) }
        }
    }

    /// out_g = bias + Σ_k weights_k x_gk for every group, four groups at a time over xgT (the
    /// sum in the same order as `preactivation`).
    @inline(__always)
    private func affineRow(weights w: UnsafePointer<Double>, bias: Double, into out: UnsafeMutablePointer<Double>) {
        if kernelsApply {
            rf_affine_row(Int32(d), G, xgT, w, bias, out)
            return
        }
        let G4 = G & ~3
        var g = 0
        while g < G4 {
            var v = SIMD4<Double>(repeating: bias)
            for k in 0..<d { v += w[k] * load4(xgT + (k * G + g)) }
            store4(v, out + g)
            g += 4
        }
        while g < G {
            var v = bias
            for k in 0..<d { v += w[k] * xgT[k * G + g] }
            out[g] = v
            g += 1
        }
    }

    /// The groups of neuron i's sliding pairs, ascending, when its surface set of the mode exists
    /// (valid until the mode changes); nil otherwise.
    func slidingGroups(_ i: Int) -> UnsafeBufferPointer<Int>? {
        let entry = slideEntries[i]
        guard entry.count > 0, let groups = entry.groups else { return nil }
        return UnsafeBufferPointer(start: groups, count: entry.count)
    }

    /// Scratch of `scanRows` (made on first use): the screen's hits (n·(G/4)), their count per row
    /// (n), and the rows' sliding marks (n bytes).
    private var scanScratch: (hits: UnsafeMutablePointer<Int>, counts: UnsafeMutablePointer<Int>,
                              sliding: UnsafeMutablePointer<UInt8>)? = nil

    /// The rows of z and ż at the end of a step (`surfaceRow` of every neuron) and the event scan's
    /// screen of every row, in one C call (`rf_scan_rows`, where the kernels apply): the hits of row
    /// i are the next `counts[i]` entries of `hits` (the first group of each lane of four that fails
    /// the screen, which reads a sliding pair as off); `sliding[i]` marks the sliding neurons' rows.
    func scanRows(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, z1: UnsafeMutablePointer<Double>,
                  zdot0: UnsafePointer<Double>, zdot1: UnsafeMutablePointer<Double>)
        -> (hits: UnsafePointer<Int>, counts: UnsafePointer<Int>, sliding: UnsafePointer<UInt8>) {
        let scratch: (hits: UnsafeMutablePointer<Int>, counts: UnsafeMutablePointer<Int>, sliding: UnsafeMutablePointer<UInt8>)
        if let made = scanScratch {
            scratch = made
        } else {
            scratch = (.allocate(capacity: max(n * (G / 4), 1)), .allocate(capacity: max(n, 1)), .allocate(capacity: max(n, 1)))
            scanScratch = scratch
        }
        scratch.sliding.update(repeating: 0, count: n)
        for s in 0..<slidingCount { scratch.sliding[slidingList[s]] = 1 }
        _ = rf_scan_rows(Int32(d), n, G, xgT, y, f, slopeBytes, nil, z1, zdot0, zdot1, scratch.hits, scratch.counts)
        return (UnsafePointer(scratch.hits), UnsafePointer(scratch.counts), UnsafePointer(scratch.sliding))
    }

    /// z of one pair.
    @inline(__always)
    func preactivation(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        var z = y[n * d + i]
        for k in 0..<d { z += y[i * d + k] * xg[g * d + k] }
        return z
    }

    /// The rounding level ν = 64 ε (|b_i| + Σ_k |w_ik x_gk|) of z_ig: below it the sign of z is noise
    /// (the event detector, locator and resolver all judge "on the surface" by it).
    func preactivationNoise(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        64 * Double.ulpOfOne * preactivationScale(y, i, g)
    }

    /// Size of the terms of z_ig (|b_i| + Σ_k |w_ik x_gk|), the scale of its rounding error.
    func preactivationScale(_ y: UnsafePointer<Double>, _ i: Int, _ g: Int) -> Double {
        var s = abs(y[n * d + i])
        for k in 0..<d { s += abs(y[i * d + k] * xg[g * d + k]) }
        return s
    }

    /// Pass 1 of the field (SPEC §3): out_g += Σ_i c_i s_ig (w_i·x_g + b_i) over the current mode's
    /// slopes, for n×d weights, n biases and n output weights (nil: all 1). With the network's own
    /// parameters these are the outputs N_g − c0; CrossingBatcher passes (ċ_i w_i + c_i ẇ_i,
    /// ċ_i b_i + c_i ḃ_i) to get Σ_i s_ig (d/dt)(c_i z_ig).
    func accumulateOutputs(weights: UnsafePointer<Double>, biases: UnsafePointer<Double>, outputWeights: UnsafePointer<Double>?,
                           into N: UnsafeMutablePointer<Double>) {
        let G4 = G & ~3
        let x0 = xgT, x1 = xgT + (d > 1 ? G : 0), x2 = xgT + (d > 2 ? 2 * G : 0), x3 = xgT + (d > 3 ? 3 * G : 0)
        for i in 0..<n {
            let b = biases[i], c = outputWeights?[i] ?? 1
            let w = weights + i * d
            let srow = slope + i * G
            var g = 0
            if kernelsApply {
                rf_field_outputs(Int32(d), G4, G, xgT, w, b, c, slopeBytes + i * G, N)
                g = G4
            } else if d == 1 {
                let w0 = w[0]
                while g < G4 {
                    let hv = load4(srow + g) * (b + w0 * load4(x0 + g))
                    store4(load4(N + g) + c * hv, N + g)
                    g += 4
                }
            } else if d == 2 {
                let w0 = w[0], w1 = w[1]
                while g < G4 {
                    let hv = load4(srow + g) * (b + w0 * load4(x0 + g) + w1 * load4(x1 + g))
                    store4(load4(N + g) + c * hv, N + g)
                    g += 4
                }
            } else if d == 3 {
                let w0 = w[0], w1 = w[1], w2 = w[2]
                while g < G4 {
                    let hv = load4(srow + g) * (b + w0 * load4(x0 + g) + w1 * load4(x1 + g) + w2 * load4(x2 + g))
                    store4(load4(N + g) + c * hv, N + g)
                    g += 4
                }
            } else if d == 4 {
                let w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3]
                while g < G4 {
                    let hv = load4(srow + g) * (b + w0 * load4(x0 + g) + w1 * load4(x1 + g) + w2 * load4(x2 + g) + w3 * load4(x3 + g))
                    store4(load4(N + g) + c * hv, N + g)
                    g += 4
                }
            }
            while g < G4 {
                var z = SIMD4<Double>(repeating: b)
                for k in 0..<d { z += w[k] * load4(xgT + (k * G + g)) }
                store4(load4(N + g) + c * (load4(srow + g) * z), N + g)
                g += 4
            }
            while g < G {
                var z = b
                for k in 0..<d { z += w[k] * xgT[k * G + g] }
                N[g] += c * (srow[g] * z)
                g += 1
            }
        }
    }

    /// R_g = μ_g N(x_g) − Y_g at a state, with σ(z) = max(z, 0), in O(n·d): for states between
    /// evaluations (CrossingBatcher), where every pair is on its side and this is the mode-locked value.
    func groupResidual(_ y: UnsafePointer<Double>, _ g: Int) -> Double {
        var out = network.outputBias ? y[2 * n + n * d] : 0
        for i in 0..<n {
            let z = preactivation(y, i, g)
            if z > 0 { out += y[n * d + n + i] * z }
        }
        return mult[g] * out - ysum[g]
    }

    /// Exact loss with σ(z) = max(z, 0) (not the mode-locked h): per point, no cancellation.
    func loss(_ y: UnsafePointer<Double>) -> Double {
        let c0 = network.outputBias ? y[2 * n + n * d] : 0
        let out = lossOutputs
        for g in 0..<G { out[g] = c0 }
        // Outputs per group, four groups at a time: N_g = c0 + Σ_i c_i max(z_ig, 0).
        let G4 = G & ~3, zero = SIMD4<Double>()
        for i in 0..<n {
            let w = y + i * d, b = y[n * d + i], c = y[n * d + n + i]
            var g = 0
            while g < G4 {
                var z = SIMD4<Double>(repeating: b)
                for k in 0..<d { z += w[k] * load4(xgT + (k * G + g)) }
                store4(load4(out + g) + c * z.replacing(with: zero, where: z .< zero), out + g)
                g += 4
            }
            while g < G {
                var z = b
                for k in 0..<d { z += w[k] * xgT[k * G + g] }
                out[g] += c * max(z, 0)
                g += 1
            }
        }
        var total = 0.0
        for g in 0..<G {
            for j in pointsOfGroup[g] {
                let r = out[g] - yOfPoint[j]
                total += r * r
            }
        }
        return total * invM / 2
    }
}

/// Four doubles from p (unaligned): the SIMD lanes of the field and the event scan.
@inline(__always) func load4(_ p: UnsafePointer<Double>) -> SIMD4<Double> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
}

@inline(__always) func load4(_ p: UnsafeMutablePointer<Double>) -> SIMD4<Double> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
}

@inline(__always) private func store4(_ v: SIMD4<Double>, _ p: UnsafeMutablePointer<Double>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Double>.self)
}
