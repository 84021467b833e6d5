@preconcurrency import CGSL
import Foundation

/// What a training run adds to its summary (INTERFACE.md: `method`, `iterations`, `lr`,
/// `escapeTime`, `escapeIteration`).
public struct TrainingSummary: Sendable, Codable, Equatable {
    public var method: TrainingMethod
    /// Iterations done.
    public var iterations: Int
    public var lr: Double
    public var batch: Int?
    /// First iterate with L ≤ (1 − δ) L(0), and its time (nil: never).
    public var escapeIteration: Int?
    public var escapeTime: Double?
    public var escapeDelta: Double
}

/// Runs a discrete training method (SPEC §7) on `problem` (its data, network and θ(0)) and
/// records it in the run format of the flow: samples on the iteration grid plus every iteration
/// whose pattern changed (with `iteration` set, t = k·η, k for ANLS), one `on`/`off` event per
/// pair (and group of coincident points) that changed between two iterates, at the later
/// iterate, and the constant-pattern intervals. `dissipated` is Σ_k (θ_k − θ_{k+1})·g_k, the
/// first-order loss decrease (η Σ|g_k|² for GD, the Euler sum of the flow's ∫|θ'|²).
///
/// Divergence (a non-finite loss, or one above 1e6·L(0)) stops the run with status `failed`; the
/// last good iterate is the last sample. `hooks.shouldStop` interrupts it as it does the flow.
public func train(_ problem: FlowProblem, options: TrainingOptions, hooks: SolveHooks = SolveHooks()) -> FlowSolution {
    if options.method == .anls { return ANLS(problem: problem, options: options, hooks: hooks).run() }
    return GradientTrainer(problem: problem, options: options, hooks: hooks).run()
}

/// The bookkeeping every training method shares: samples, events and pattern intervals from the
/// iterates' patterns, the escape, the dissipation sum, the end.
class TrainingRecorder {
    let problem: FlowProblem
    let options: TrainingOptions
    let hooks: SolveHooks
    /// Where the records go (`hooks.recorder`, or a `MemoryRecorder` that hands them to the solution).
    let recorder: FlowRecorder
    let n: Int, m: Int, P: Int
    // The bookkeeping below is touched on every pattern change (about every other iteration of GD
    // oscillating across a knot); the dynamic exclusivity checks of class properties (~10 runtime
    // calls per change, a tenth of a 20×10 iteration) are off for it: a recorder belongs to one
    // run on one thread, and no access to these properties overlaps another (SE-0176).
    @exclusivity(unchecked) var solution: FlowSolution
    let started = DispatchTime.now()
    let grid: [Int]
    var nextGridIndex = 0
    /// The pattern of the current iterate (units × points, 1 active; the evaluators write it) and
    /// of the open interval.
    let pattern: UnsafeMutablePointer<UInt8>
    let intervalPattern: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) var intervalStart = 0.0
    @exclusivity(unchecked) var intervalChanges: [PatternChange] = []
    @exclusivity(unchecked) var patternIds: [PatternKey: Int] = [:]
    @exclusivity(unchecked) var currentPatternId = 0
    /// The open interval's key (per group of coincident points, as the flow's) and active counts,
    /// kept up to date from the changes alone.
    @exclusivity(unchecked) private var key = PatternKey([])
    @exclusivity(unchecked) private var active: [Int]
    /// The active counts kept up to date by the changes (`active` is made from them per interval),
    /// and the counts of the interval before the open one: a flip back to that pattern shares its
    /// array instead of allocating one (a 20×10 GD run makes about one interval per two iterations).
    private let counts: UnsafeMutablePointer<Int>
    @exclusivity(unchecked) private var previousActive: [Int] = []
    private let G: Int
    /// The key and id of the interval before the open one: an iteration that oscillates across a
    /// knot (GD's discrete sliding) flips between two patterns, and finds the id here without a
    /// dictionary lookup.
    @exclusivity(unchecked) private var previousKey = PatternKey([])
    @exclusivity(unchecked) private var previousId = -1
    /// Per point j: its group (`Dataset.groupOfPoint`) and the group's first point, which carries
    /// the group's events and key entry (own buffers: the change path reads no nested arrays).
    private let groupOf: UnsafeMutablePointer<Int>
    private let firstOfGroup: UnsafeMutablePointer<Int>
    /// Per first point of a group: the last (change batch, neuron) that logged an event for it, so
    /// that coincident points give one event per pair and batch (empty when no points coincide).
    @exclusivity(unchecked) private var loggedMark: [Int]
    @exclusivity(unchecked) private var changeBatch = 0
    /// Counts kept out of `solution` in the loop and put into its diagnostics by `finish` (a
    /// dictionary update per event costs more than a small problem's iteration).
    @exclusivity(unchecked) private var onEvents = 0, offEvents = 0
    @exclusivity(unchecked) private var steps = 0
    /// The sliding counts of every interval (training has no sliding pairs), shared.
    private let noSliding: [Int]
    var dissipated = 0.0
    var initialLoss = 0.0
    var escape: (iteration: Int, t: Double)? = nil
    var evaluations = 0

    init(problem: FlowProblem, options: TrainingOptions, hooks: SolveHooks) {
        self.problem = problem
        self.options = options
        self.hooks = hooks
        recorder = hooks.recorder ?? MemoryRecorder()
        n = problem.model.hiddenUnitCount
        m = problem.data.count
        P = problem.model.parameterCount
        solution = FlowSolution(problem: problem, status: .completed, stepper: .auto)
        grid = options.sampleIterations
        pattern = .allocate(capacity: max(n * m, 1))
        pattern.initialize(repeating: 0, count: max(n * m, 1))
        intervalPattern = .allocate(capacity: max(n * m, 1))
        intervalPattern.initialize(repeating: 0, count: max(n * m, 1))
        active = [Int](repeating: 0, count: n)
        counts = .allocate(capacity: max(n, 1))
        counts.initialize(repeating: 0, count: max(n, 1))
        noSliding = [Int](repeating: 0, count: n)
        let data = problem.data
        G = data.groupCount
        groupOf = .allocate(capacity: max(m, 1))
        firstOfGroup = .allocate(capacity: max(m, 1))
        for j in 0..<m {
            groupOf[j] = data.groupOfPoint[j]
            firstOfGroup[j] = data.pointsOfGroup[data.groupOfPoint[j]][0]
        }
        loggedMark = [Int](repeating: -1, count: G < m ? m : 0)
    }

    deinit {
        pattern.deallocate()
        intervalPattern.deallocate()
        groupOf.deallocate()
        firstOfGroup.deallocate()
        counts.deallocate()
    }

    func time(_ k: Int) -> Double { options.method.time(iteration: k, lr: options.lr) }

    /// Iteration 0: the first interval (changes from all off) and the first sample.
    func begin(theta: [Double], loss: Double, gradNorm: Double) {
        initialLoss = loss
        solution.diagnostics.initialLoss = loss
        intervalChanges = changes(from: intervalPattern, to: pattern)   // from all off
        intervalPattern.update(from: pattern, count: n * m)
        update(intervalChanges)
        currentPatternId = id()
        record(k: 0, theta: theta, loss: loss, gradNorm: gradNorm)
    }

    /// After iterate k: events and interval for a changed pattern, the sample when due, the escape.
    /// Returns false when the run must stop (divergence, interruption, a recorder failure).
    func after(k: Int, theta: UnsafePointer<Double>, loss computed: Double, gradNorm: () -> Double) -> Bool {
        let t = time(k)
        // A non-finite parameter counts as divergence even where it leaves the loss finite (a NaN
        // weight makes its unit inactive): the sum of θ is not finite then (or overflows, which
        // is divergence too).
        var sum = 0.0
        for p in 0..<P { sum += theta[p] }
        let loss = sum.isFinite ? computed : .nan
        guard loss.isFinite, loss <= TrainingOptions.divergenceFactor * max(initialLoss, .leastNormalMagnitude) else {
            solution.status = .failed
            let hint = options.method == .anls ? "" : "; lower the learning rate (--lr, now \(options.lr))"
            solution.message = "diverged at iteration \(k) (loss \(loss), L(0) = \(initialLoss)); the last good state is iteration \(solution.last?.iteration ?? 0)\(hint)"
            return false
        }
        var changed = false
        if memcmp(pattern, intervalPattern, n * m) != 0 {
            changed = true
            let events = changes(from: intervalPattern, to: pattern)
            closeInterval(at: t)
            intervalPattern.update(from: pattern, count: n * m)
            intervalChanges = events
            let closedKey = key, closedId = currentPatternId
            update(events)
            currentPatternId = previousId >= 0 && key == previousKey ? previousId : id()
            previousKey = closedKey
            previousId = closedId
            // One event per pair and group of coincident points (its first point's).
            let coincident = !loggedMark.isEmpty
            changeBatch += 1
            for c in events {
                let point = firstOfGroup[c.point]
                if coincident {
                    let mark = changeBatch * n + c.neuron
                    if loggedMark[point] == mark { continue }
                    loggedMark[point] = mark
                }
                let event = FlowEvent(t: t, neuron: c.neuron, point: point,
                                      kind: c.state == .on ? .on : .off, state: c.state, loss: loss, iteration: k)
                recorder.record(event)
                if c.state == .on { onEvents += 1 } else { offEvents += 1 }
            }
        }
        if escape == nil && loss <= (1 - options.escapeDelta) * initialLoss { escape = (k, t) }
        while nextGridIndex < grid.count && grid[nextGridIndex] < k { nextGridIndex += 1 }
        let due = nextGridIndex < grid.count && grid[nextGridIndex] == k
        if due || changed || k == options.iterations {
            record(k: k, theta: copy(theta), loss: loss, gradNorm: gradNorm())
        }
        steps = k
        // The recorder's state and the stop request are polled every 64 iterations (and at
        // recorded ones): a tiny problem's iteration costs less than a microsecond.
        guard k % 64 == 0 || changed || due else { return true }
        if let failure = recorder.failure {
            solution.status = .failed
            solution.message = "writing the run's records failed at iteration \(k): \(failure)"
            return false
        }
        if hooks.shouldStop?() ?? false {
            solution.status = .interrupted
            solution.message = "interrupted at iteration \(k)"
            if solution.last?.iteration != k { record(k: k, theta: copy(theta), loss: loss, gradNorm: gradNorm()) }
            return false
        }
        if let progress = hooks.progress, k % 4096 == 0 {
            progress(FlowProgress(t: t, T: time(options.iterations), loss: loss, events: onEvents + offEvents, steps: k))
        }
        return true
    }

    private func copy(_ theta: UnsafePointer<Double>) -> [Double] { Array(UnsafeBufferPointer(start: theta, count: P)) }

    func record(k: Int, theta: [Double], loss: Double, gradNorm: Double) {
        let sample = FlowSample(t: time(k), loss: loss, gradNorm: gradNorm, patternId: currentPatternId, theta: theta,
                                dissipated: dissipated, iteration: k)
        recorder.record(sample)
        solution.last = sample
    }

    /// Closes the run: the last interval, diagnostics, the training summary.
    func finish() -> FlowSolution {
        let end = solution.last?.t ?? 0
        closeInterval(at: end)
        var diag = solution.diagnostics
        diag.steps = steps
        diag.eventsByKind[.on] += onEvents
        diag.eventsByKind[.off] += offEvents
        solution.eventCount += onEvents + offEvents
        diag.rhsEvaluations = evaluations
        diag.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        diag.finalLoss = solution.finalLoss
        diag.dissipated = dissipated
        let q0 = problem.model.balance(problem.theta0), q1 = problem.model.balance(solution.finalTheta)
        diag.invariantDrift = zip(q0, q1).map { abs($0 - $1) }.max() ?? 0
        let l0 = diag.initialLoss
        diag.dissipationDefect = l0 > 0 ? abs(l0 - diag.finalLoss - dissipated) / l0 : abs(diag.finalLoss + dissipated)
        solution.diagnostics = diag
        solution.distinctPatternCount = patternIds.count
        solution.finalPattern = (0..<(n * m)).map { intervalPattern[$0] == 1 ? PairState.on : .off }
        solution.training = TrainingSummary(method: options.method, iterations: solution.last?.iteration ?? 0, lr: options.lr,
                                            batch: options.batch, escapeIteration: escape?.iteration, escapeTime: escape?.t,
                                            escapeDelta: options.escapeDelta)
        recorder.deliver(into: &solution)
        return solution
    }

    private func closeInterval(at t: Double) {
        let interval = PatternInterval(patternId: currentPatternId, tStart: intervalStart, tEnd: t, changes: intervalChanges,
                                       activeCounts: active, slidingCounts: noSliding, width: n, pointCount: m)
        recorder.record(interval)
        solution.patternIntervalCount += 1
        intervalStart = t
    }

    /// The pairs that differ between two patterns, in (neuron, point) order; equal stretches are
    /// skipped eight bytes at a time.
    private func changes(from a: UnsafePointer<UInt8>, to b: UnsafePointer<UInt8>) -> [PatternChange] {
        var out: [PatternChange] = []
        let count = n * m
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var q = 0
        while q < count {
            if q + 8 <= count && ra.loadUnaligned(fromByteOffset: q, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: q, as: UInt64.self) {
                q += 8
                continue
            }
            let end = min(q + 8, count)
            for p in q..<end where a[p] != b[p] {
                out.append(PatternChange(neuron: p / m, point: p % m, state: b[p] == 1 ? .on : .off))
            }
            q = end
        }
        return out
    }

    /// Updates the open interval's key and active counts by its changes, and makes its array of
    /// active counts (the previous interval's when equal).
    private func update(_ changes: [PatternChange]) {
        apply(changes)
        let closedActive = active
        let same = n > 0 && previousActive.count == n && previousActive.withUnsafeBufferPointer { memcmp($0.baseAddress!, counts, n * MemoryLayout<Int>.stride) == 0 }
        active = same ? previousActive : Array(UnsafeBufferPointer(start: counts, count: n))
        previousActive = closedActive
    }

    /// Updates the open interval's key and the active counts by its changes.
    private func apply(_ changes: [PatternChange]) {
        for c in changes {
            counts[c.neuron] += c.state == .on ? 1 : -1
            if firstOfGroup[c.point] == c.point {
                key.replace(c.neuron * G + groupOf[c.point], c.state == .on ? .off : .on, c.state)
            }
        }
    }

    private func id() -> Int {
        if let id = patternIds[key] { return id }
        let id = patternIds.count
        patternIds[key] = id
        return id
    }
}

/// GD, SGD, Adam and RMSProp (SPEC §7).
final class GradientTrainer: TrainingRecorder {
    func run() -> FlowSolution {
        let evaluator = problem.model.evaluator(for: problem.data)
        let K = options.iterations
        // Buffers of their own: the loop touches no array storage (no exclusivity checks, no copies).
        let theta = UnsafeMutablePointer<Double>.allocate(capacity: P), g = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let full = UnsafeMutablePointer<Double>.allocate(capacity: P)
        let mAvg = UnsafeMutablePointer<Double>.allocate(capacity: P), vAvg = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { for buffer in [theta, g, full, mAvg, vAvg] { buffer.deallocate() } }
        theta.initialize(from: problem.theta0, count: P)
        for buffer in [g, full, mAvg, vAvg] { buffer.initialize(repeating: 0, count: P) }
        let batches = options.batch.map { BatchOrder(points: m, size: $0, seed: options.seed) }
        let stochastic = (batches != nil && options.batch! < m) || options.batchSchedule != nil
        var batchOrder = batches
        let pattern = self.pattern

        func norm(_ v: UnsafePointer<Double>) -> Double {
            var s = 0.0
            for p in 0..<P { s += v[p] * v[p] }
            return s.squareRoot()
        }
        func thetaArray() -> [Double] { Array(UnsafeBufferPointer(start: theta, count: P)) }
        // The full gradient's norm for a sample (a minibatch method evaluates it only there).
        func fullGradientNorm() -> Double {
            if !stochastic { return norm(g) }
            evaluations += 1
            _ = evaluator.evaluate(theta, points: nil, gradient: full, pattern: nil)
            return norm(full)
        }

        evaluations += 1
        var loss = evaluator.evaluate(theta, points: nil, gradient: g, pattern: pattern)
        if options.method == .rmsprop && options.rmspropSquaredGradientStart {
            for p in 0..<P { vAvg[p] = g[p] * g[p] }
        }
        begin(theta: thetaArray(), loss: loss, gradNorm: norm(g))
        let b1 = options.beta1, b2 = options.beta2, alpha = options.alpha, eps = options.epsilon, eta = options.lr
        var p1 = 1.0, p2 = 1.0   // β₁^k, β₂^k
        if K >= 1 {
            for k in 1...K {
                // g_{k−1}: the full gradient at θ_{k−1} is at hand; a minibatch's is evaluated here.
                if let schedule = options.batchSchedule, !schedule.isEmpty {
                    evaluations += 1
                    _ = evaluator.evaluate(theta, points: schedule[(k - 1) % schedule.count], gradient: g, pattern: nil)
                } else if stochastic, var order = batchOrder {
                    let batch = order.next()
                    batchOrder = order
                    evaluations += 1
                    _ = evaluator.evaluate(theta, points: batch, gradient: g, pattern: nil)
                }
                var decrease = 0.0
                switch options.method {
                case .gd, .sgd:
                    for p in 0..<P {
                        let step = eta * g[p]
                        theta[p] -= step
                        decrease += step * g[p]
                    }
                case .adam:
                    p1 *= b1
                    p2 *= b2
                    for p in 0..<P {
                        mAvg[p] = b1 * mAvg[p] + (1 - b1) * g[p]
                        vAvg[p] = b2 * vAvg[p] + (1 - b2) * g[p] * g[p]
                        let step = eta * (mAvg[p] / (1 - p1)) / ((vAvg[p] / (1 - p2)).squareRoot() + eps)
                        theta[p] -= step
                        decrease += step * g[p]
                    }
                case .rmsprop:
                    for p in 0..<P {
                        vAvg[p] = alpha * vAvg[p] + (1 - alpha) * g[p] * g[p]
                        let step = eta * g[p] / (vAvg[p].squareRoot() + eps)
                        theta[p] -= step
                        decrease += step * g[p]
                    }
                case .anls:
                    preconditionFailure("ANLS has its own trainer")
                }
                dissipated += decrease
                // θ_k: the full loss and pattern (and the full gradient for the next step when full batch).
                evaluations += 1
                loss = evaluator.evaluate(theta, points: nil, gradient: stochastic ? nil : g, pattern: pattern)
                guard after(k: k, theta: theta, loss: loss, gradNorm: fullGradientNorm) else { break }
            }
        }
        return finish()
    }
}

/// The minibatches of SGD: each epoch visits every point once, in an order drawn by GSL's
/// MT19937 seeded with the run's seed (`gsl_ran_shuffle`); the epoch's last batch takes what is
/// left (m mod B points).
struct BatchOrder {
    let size: Int
    private var order: [Int]
    private var position: Int
    private final class Generator {
        let rng: UnsafeMutablePointer<gsl_rng>
        init(seed: UInt64) {
            GSLRuntime.prepare()
            rng = gsl_rng_alloc(gsl_rng_mt19937)!
            gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
        }
        deinit { gsl_rng_free(rng) }
    }
    private let generator: Generator

    init(points m: Int, size: Int, seed: UInt64) {
        self.size = size
        order = Array(0..<m)
        position = m
        generator = Generator(seed: seed)
    }

    /// The next minibatch (a new epoch's order when the last one is used up).
    mutating func next() -> [Int] {
        if position >= order.count {
            let rng = generator.rng, count = order.count
            order.withUnsafeMutableBytes { raw in
                gsl_ran_shuffle(rng, raw.baseAddress, count, MemoryLayout<Int>.stride)
            }
            position = 0
        }
        let end = min(position + size, order.count)
        defer { position = end }
        return Array(order[position..<end])
    }
}
