import Foundation

/// The `train` section of a config (INTERFACE.md, SPEC §7): the method and its options. Every
/// field has a default; the resolved config writes them all.
public struct TrainConfig: Codable, Sendable, Equatable {
    public var method: String?
    /// Learning rate η. Default: gd/sgd min(1/ρ_H, 0.25): half the stability limit 2/ρ_H of GD on
    /// the quadratic model at θ(0) (ρ_H the Hessian's spectral radius in θ(0)'s pattern), at most
    /// 0.25 (`maximumDefaultRate`); adam and rmsprop 1e-3; anls 1 (its line search halves it).
    public var lr: Double?
    public var iterations: Int?
    /// Minibatch size (default: all points).
    public var batch: Int?
    /// Seed of the minibatch order (default 0).
    public var seed: UInt64?
    public var beta1: Double?
    public var beta2: Double?
    public var epsilon: Double?
    public var alpha: Double?
    /// δ of the escape time (first L ≤ (1 − δ) L(0); default 0.1).
    public var escapeDelta: Double?
    public var samples: TrainSampleConfig?
    public var anls: ANLSConfig?

    public init(method: String? = nil, lr: Double? = nil, iterations: Int? = nil, batch: Int? = nil, seed: UInt64? = nil) {
        self.method = method
        self.lr = lr
        self.iterations = iterations
        self.batch = batch
        self.seed = seed
    }
}

/// The iteration grid of a training run's samples.
public struct TrainSampleConfig: Codable, Sendable, Equatable {
    public var spacing: String?
    public var count: Int?
    public init(spacing: String? = nil, count: Int? = nil) {
        self.spacing = spacing
        self.count = count
    }
}

/// ANLS's options (SPEC §7): ridge λ of the outer least squares (1e-10), inactive points added
/// to each active set (1), relative loss decrease at which it stops (1e-12).
public struct ANLSConfig: Codable, Sendable, Equatable {
    public var ridge: Double?
    public var enlarge: Int?
    public var tolerance: Double?
    public init(ridge: Double? = nil, enlarge: Int? = nil, tolerance: Double? = nil) {
        self.ridge = ridge
        self.enlarge = enlarge
        self.tolerance = tolerance
    }
}

extension TrainConfig {
    /// The options, validated (errors name `train.…`), and the section with every default written.
    /// `problem` gives the data size (for the batch) and θ(0) (for the default learning rate).
    func resolve(for problem: FlowProblem) throws -> (TrainingOptions, TrainConfig) {
        var o = TrainingOptions()
        let name = method ?? "gd"
        guard let parsed = TrainingMethod(rawValue: name) else {
            throw InputError("train.method", "unknown method '\(name)' (known: \(TrainingMethod.names))")
        }
        o.method = parsed
        if parsed == .anls && problem.shallow == nil {
            throw InputError("train.method", "anls is defined for the shallow network only (SPEC §7); a deep network (network.layers) trains with gd, sgd, adam or rmsprop")
        }
        if let iterations {
            guard iterations >= 1, iterations <= 1_000_000_000 else { throw InputError("train.iterations", "must lie in 1…1000000000 (got \(iterations))") }
            o.iterations = iterations
        }
        if let batch {
            guard batch >= 1, batch <= problem.data.count else {
                throw InputError("train.batch", "must lie in 1…\(problem.data.count), the number of points (got \(batch))")
            }
            guard parsed != .anls else { throw InputError("train.batch", "ANLS works on all points; leave the batch out") }
            guard parsed != .gd || batch == problem.data.count else {
                throw InputError("train.batch", "gd is full-batch; use --method sgd for minibatches of \(batch)")
            }
            o.batch = batch
        } else if parsed == .sgd {
            o.batch = min(problem.data.count, 8)
        }
        o.seed = seed ?? 0
        func unitInterval(_ value: Double?, _ field: String, _ keep: inout Double) throws {
            guard let value else { return }
            guard value.isFinite, value >= 0, value < 1 else { throw InputError("train.\(field)", "must lie in [0, 1) (got \(value))") }
            keep = value
        }
        try unitInterval(beta1, "beta1", &o.beta1)
        try unitInterval(beta2, "beta2", &o.beta2)
        try unitInterval(alpha, "alpha", &o.alpha)
        if let epsilon {
            // ε > 0: a parameter whose gradient stays zero (a dead neuron) would give 0/0.
            guard epsilon.isFinite, epsilon > 0 else { throw InputError("train.epsilon", "must be a finite number > 0 (got \(epsilon))") }
            o.epsilon = epsilon
        }
        if let escapeDelta {
            guard escapeDelta.isFinite, escapeDelta > 0, escapeDelta < 1 else {
                throw InputError("train.escapeDelta", "must lie in (0, 1) (got \(escapeDelta))")
            }
            o.escapeDelta = escapeDelta
        }
        if let samples {
            try RunConfig.sampleGrid(spacing: samples.spacing, count: samples.count, field: "train.samples",
                                     into: &o.sampleSpacing, &o.sampleCount)
        }
        if let anls {
            guard parsed == .anls else { throw InputError("train.anls", "is given but the method is \(name)") }
            if let ridge = anls.ridge {
                guard ridge.isFinite, ridge >= 0 else { throw InputError("train.anls.ridge", "must be a finite number ≥ 0 (got \(ridge))") }
                o.anlsRidge = ridge
            }
            if let enlarge = anls.enlarge {
                guard enlarge >= 0, enlarge <= problem.data.count else {
                    throw InputError("train.anls.enlarge", "must lie in 0…\(problem.data.count) (got \(enlarge))")
                }
                o.anlsEnlarge = enlarge
            }
            if let tolerance = anls.tolerance {
                guard tolerance.isFinite, tolerance >= 0, tolerance < 1 else {
                    throw InputError("train.anls.tolerance", "must lie in [0, 1) (got \(tolerance))")
                }
                o.anlsTolerance = tolerance
            }
        }
        if let lr {
            guard lr.isFinite, lr > 0 else { throw InputError("train.lr", "must be a finite number > 0 (got \(lr))") }
            guard parsed != .anls || lr <= 1 else { throw InputError("train.lr", "ANLS's step must lie in (0, 1] (got \(lr))") }
            o.lr = lr
        } else {
            o.lr = try Self.defaultLearningRate(parsed, problem: problem)
        }
        var out = TrainConfig(method: parsed.rawValue, lr: o.lr, iterations: o.iterations, batch: o.batch, seed: o.seed)
        out.beta1 = o.beta1
        out.beta2 = o.beta2
        out.alpha = o.alpha
        out.epsilon = o.epsilon
        out.escapeDelta = o.escapeDelta
        out.samples = TrainSampleConfig(spacing: o.sampleSpacing.rawValue, count: o.sampleCount)
        if parsed == .anls { out.anls = ANLSConfig(ridge: o.anlsRidge, enlarge: o.anlsEnlarge, tolerance: o.anlsTolerance) }
        return (o, out)
    }

    /// The adaptive methods' constants (SPEC §7) and the methods that read them: Adam β1, β2, ε;
    /// RMSProp α, ε. One train section is shared by the methods of `compare` and of a sweep over
    /// methods, and a resolved config writes every default, so a constant of another method is
    /// accepted; a single method's run names the ones it ignores (`unusedConstants`).
    static var constantReaders: [(field: String, value: KeyPath<TrainConfig, Double?>, byDefault: Double, readBy: [TrainingMethod])] { [
        ("beta1", \.beta1, TrainingOptions().beta1, [.adam]),
        ("beta2", \.beta2, TrainingOptions().beta2, [.adam]),
        ("alpha", \.alpha, TrainingOptions().alpha, [.rmsprop]),
        ("epsilon", \.epsilon, TrainingOptions().epsilon, [.adam, .rmsprop]),
    ] }

    /// The constants given with a value other than their default that `method` does not read, as
    /// "train.FIELD = VALUE (read by METHODS)": silently ignored otherwise (a gd run with
    /// beta1 = 0.5 is plain gd).
    public func unusedConstants(by method: TrainingMethod) -> [String] {
        Self.constantReaders.compactMap { c in
            guard let v = self[keyPath: c.value], v != c.byDefault, !c.readBy.contains(method) else { return nil }
            return "train.\(c.field) = \(v) (read by \(c.readBy.map(\.rawValue).joined(separator: " and ")))"
        }
    }

    /// The cap of gd's and sgd's default η: the curvature grows as the weights grow from a small
    /// start, so 1/ρ_H(θ(0)) alone can be far too large (small-init: 3.3, and GD oscillates at
    /// L ≈ 0.1). Measured on the built-in examples: η = 0.25 reaches the flow's loss at t = 1000 on
    /// all six; 0.5 oscillates on two-d, small-init and transient-plateau.
    static let maximumDefaultRate = 0.25

    /// The default learning rate (see `lr`).
    static func defaultLearningRate(_ method: TrainingMethod, problem: FlowProblem) throws -> Double {
        switch method {
        case .adam, .rmsprop: return 1e-3
        case .anls: return 1
        case .gd, .sgd:
            guard let network = problem.shallow else {
                // A deep network: ρ_H of its Hessian at θ(0) (exact products, Lanczos).
                let deep = CurvatureReport.deepNetwork(of: problem.model)
                let rho = try CurvatureReport.spectralRadius(network: deep, data: problem.data, theta: problem.theta0)
                guard rho > 0, rho.isFinite else { return maximumDefaultRate }
                return min(1 / rho, maximumDefaultRate)
            }
            let n = network.width, m = problem.data.count
            var states = [PairState](repeating: .off, count: n * m)
            for i in 0..<n {
                for j in 0..<m where network.preactivation(problem.theta0, neuron: i, point: problem.data.x[(j * problem.data.dimension)..<((j + 1) * problem.data.dimension)]) > 0 {
                    states[i * m + j] = .on
                }
            }
            let rho = try ModeCurvature.spectralRadius(network: network, data: problem.data, theta: problem.theta0, states: states)
            guard rho > 0, rho.isFinite else { return maximumDefaultRate }
            return min(1 / rho, maximumDefaultRate)
        }
    }
}
