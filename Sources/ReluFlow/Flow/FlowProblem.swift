import Foundation

/// Spacing of the sample grid.
public enum SampleSpacing: String, Codable, Sendable { case log, linear }

/// How the states at the sample times are produced (`flow.samples.output`).
public enum SampleOutput: String, Codable, Sendable, CaseIterable {
    /// Dense output inside accepted steps: the stepper steps as its error control asks and never
    /// stops at a sample time; a sample inside a step is an interpolant whose error estimate is
    /// within the step control's tolerance (inside explicit steps the Hermite polynomial of the
    /// stretch's step-end values and slopes, `SlopeHistory`, or the step's quintic Hermite
    /// interpolant, `DenseSampler`; inside BDF steps the polynomial through the stretch's step
    /// ends, `StepHistory`), else the step re-taken from its start to the sample time. θ(T), the
    /// events and the steps do not depend on the grid. (Where crossing batches apply, sample times remain step ends.)
    case dense
    /// Every sample time is a step end (the stepper is stopped there): the samples are step ends,
    /// and the grid steers the step sequence.
    case stepEnds
}

/// Everything the integrator needs (the "problem" in problem → solve → solution).
public struct FlowProblem: Sendable {
    public var data: Dataset
    /// The network as training, the run writer and the analyses see it: the shallow network of
    /// SPEC §1 or a deep one (SPEC §8).
    public var model: any NetworkModel
    /// The shallow network (SPEC §1), for the code that reads it; `solve` integrates either kind
    /// (`model`). Asking for it on a deep network is a programming error (check `shallow` first).
    public var network: ShallowNetwork {
        get {
            guard let shallow = model as? ShallowNetwork else {
                preconditionFailure("FlowProblem.network is the shallow network; this problem has a deep one (check FlowProblem.shallow first)")
            }
            return shallow
        }
        set { model = newValue }
    }
    /// The shallow network, nil for a deep one.
    public var shallow: ShallowNetwork? { model as? ShallowNetwork }
    /// Initial parameters θ(0), SPEC §1 order.
    public var theta0: [Double]
    public var options: FlowOptions
    /// Where to start when continuing an earlier run (nil: from θ(0) at t = 0).
    public var start: FlowCheckpoint?
    /// Pattern ids already given (by key of the per-group pattern) when continuing an earlier run
    /// (`RunContinuation.seed`); new patterns are numbered after them.
    var patternIds: [PatternKey: Int] = [:]
    /// The training method and its options when the problem is trained (SPEC §7, `train`)
    /// rather than integrated; nil for the flow. Its run folder has `iteration` columns.
    public var training: TrainingOptions? = nil

    public init(data: Dataset, network: ShallowNetwork, theta0: [Double], options: FlowOptions = FlowOptions(),
                start: FlowCheckpoint? = nil) {
        self.init(data: data, model: network, theta0: theta0, options: options, start: start)
    }

    /// A problem of any network (a deep one for training and curvature; the flow takes shallow ones).
    public init(data: Dataset, model: any NetworkModel, theta0: [Double], options: FlowOptions = FlowOptions(),
                start: FlowCheckpoint? = nil) {
        precondition(model.inputDimension == data.dimension && theta0.count == model.parameterCount)
        self.data = data
        self.model = model
        self.theta0 = theta0
        self.options = options
        self.start = start
    }
}

/// A state from which a run can continue exactly (`checkpoint.json` in a run folder): the time,
/// θ, the dissipation quadrature so far, and the activation pattern (which cannot be recovered
/// from θ on a surface: a sliding pair has z = 0).
public struct FlowCheckpoint: Codable, Sendable, Equatable {
    public var t: Double
    public var theta: [Double]
    public var dissipated: Double
    /// The pattern (`patternCode`): per neuron a string of `+` (on), `-` (off), `0` (sliding)
    /// over the points, joined by `;`.
    public var pattern: String
    /// An adaptive flow's exported auxiliary state (SPEC §7: RMSProp v; Adam m then v), nil for the
    /// gradient flow; Adam's s is t.
    public var auxiliary: [Double]? = nil

    public init(t: Double, theta: [Double], dissipated: Double, pattern: String) {
        self.t = t
        self.theta = theta
        self.dissipated = dissipated
        self.pattern = pattern
    }

    /// The states per point (n×m), or nil if the pattern does not fit the shape.
    func states(width n: Int, points m: Int) -> [PairState]? {
        let rows = pattern.split(separator: ";", omittingEmptySubsequences: false)
        guard rows.count == n, rows.allSatisfy({ $0.count == m }) else { return nil }
        var out: [PairState] = []
        out.reserveCapacity(n * m)
        for row in rows {
            for ch in row {
                guard let s = PairState(symbol: ch) else { return nil }
                out.append(s)
            }
        }
        return out
    }
}

/// When the solver takes crossings in batches (`FlowOptions.crossingBatches`).
public enum CrossingBatchPolicy: String, Sendable, Equatable, CaseIterable {
    /// Batches from `minimumPairs` pairs n·G on. Below it a batch's bookkeeping (O(K·P) per crossing,
    /// O(K²·G·d) couplings) costs about what the evaluations it saves do (`reluflow-bench --scaling
    /// --batch-baseline` measures the ratio; docs/engine-measurements.md).
    case automatic
    /// Batches on every problem (the tests run them on small cases).
    case always
    /// Every crossing located on its own (the reference batches are measured against).
    case never

    public static let minimumPairs = 20_000

    /// Whether batches are used for n neurons and G point groups.
    public func applies(neurons n: Int, groups G: Int) -> Bool {
        switch self {
        case .automatic: return n * G >= Self.minimumPairs
        case .always: return true
        case .never: return false
        }
    }
}

/// Integration options; defaults are the ones INTERFACE.md documents.
public struct FlowOptions: Sendable, Equatable {
    /// Final time T.
    public var T: Double = 1e4
    /// Relative and absolute tolerances of GSL's standard step control.
    public var rtol: Double = 1e-10
    public var atol: Double = 1e-12
    public var stepper: Stepper = .auto
    public var sampleSpacing: SampleSpacing = .log
    public var sampleCount: Int = 400
    /// First positive time of a log grid; nil: min(1e-3, T/100).
    public var sampleTMin: Double? = nil
    /// How samples are produced: dense output inside steps, or steps ending at the sample times.
    public var sampleOutput: SampleOutput = .dense
    public var maxEvents: Int = 1_000_000
    /// The run's work budget: it stops (status `stopped`, `FlowBudget`) at the first step end after
    /// this many evaluations of the right-hand side (those of event location and dense output
    /// included), a count that depends on the problem and the options only. nil: none.
    public var maxRhsEvaluations: Int? = nil
    /// A safety net in wall-clock seconds, checked at every step end: the same stop after this
    /// long. It depends on the machine and its load, so a run stopped by it is not reproducible;
    /// nil: none.
    public var maxWallSeconds: Double? = nil
    /// Event location shortcuts (FlowSolver `aimAtNextCrossing`, EventLocator `nudge`): the next
    /// step aimed at the next predicted crossing, and a last Newton correction taken as a move
    /// along the field when its second-order error is negligible. `false` locates every event by
    /// re-taken steps alone, one detecting step at a time (the reference the shortcuts are tested
    /// against).
    public var eventShortcuts = true
    /// Crossing batches (CrossingBatcher, with `eventShortcuts`): the transversal crossings inside
    /// one step taken in time order with one restart, where the estimated error is within the
    /// tolerance of the steps they replace; the others are located one at a time. `automatic` uses them from
    /// `CrossingBatchPolicy.minimumPairs` pairs n·G on, where they pay.
    public var crossingBatches: CrossingBatchPolicy = .automatic
    /// Dense output from the stretch's step ends inside BDF steps (`StepHistory`). `false` sends
    /// the samples it would serve to the re-steps and their last resort (`SampleReintegrator`):
    /// the reference the history is tested against, and how the tests reach that last resort.
    /// Not a configuration field.
    var historySampling = true
    /// Stop (status `interrupted`) at the first step end at or after this time, as an interrupted
    /// run stops: how a part of a resumed run (`flow.segments`) is repeated. nil: run to T.
    public var stopAt: Double? = nil
    /// δ of the escape time: the first t with L ≤ (1 − δ) L(0) (SPEC §7).
    public var escapeDelta = 0.1
    /// The flow: the gradient flow, or an adaptive flow of SPEC §7 with its constants (`flow.kind`).
    public var kind: FlowKind = .gradient

    public init() {}

    /// The sample grid: t = 0, then `sampleCount − 1` times up to T.
    public var sampleTimes: [Double] {
        let count = max(sampleCount, 2)
        switch sampleSpacing {
        case .linear:
            return (0..<count).map { k in k == count - 1 ? T : T * Double(k) / Double(count - 1) }
        case .log:
            let lo = log10(sampleTMin ?? min(1e-3, T / 100)), hi = log10(T)
            var times = [0.0]
            for k in 0..<(count - 1) {
                times.append(k == count - 2 ? T : pow(10, lo + (hi - lo) * Double(k) / Double(max(count - 2, 1))))
            }
            return times
        }
    }
}
