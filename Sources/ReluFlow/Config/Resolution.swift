import Foundation

extension RunConfig {
    /// Turns the config into a problem, and returns the config with every default filled in and
    /// the data and initial parameters written out explicitly, so that `config.json` repeats the
    /// run exactly. Throws `InputError` naming the field for anything unusable.
    ///
    /// With `limits`, the memory the run needs and the size of its run folder are estimated from
    /// the config's sizes (`ResourceEstimate`) before any data is generated or parsed, and a config
    /// that exceeds them is refused (an `InputError` naming the field that drives the estimate).
    public func resolve(limits: ResourceLimits? = nil) throws -> (problem: FlowProblem, resolved: RunConfig) {
        var out = self

        // Network size (before the data: the size check needs it).
        let net = network
        let deep = try net.deepNetwork()
        var width = net.width
        if let W = net.W {
            if let w = width, w != W.count {
                throw InputError("network.W", "has \(W.count) rows but network.width is \(w)")
            }
            width = W.count
        }
        // A deep network's size enters the estimates through its hidden units (the pattern's rows).
        let n = deep?.hiddenUnitCount ?? width ?? 10
        guard n >= 1 else { throw InputError("network.width", "must be at least 1 (got \(n))") }
        guard n <= 100_000 else { throw InputError(deep == nil ? "network.width" : "network.layers", "is too large (\(n) hidden units)") }

        // Flow: the options of this part, and those of the earlier parts of a resumed run.
        var options = try Self.flowOptions(flow, field: "flow")
        options.kind = try Self.flowKind(flow)
        var segments: [FlowSegment] = []
        for (k, segment) in (flow.segments ?? []).enumerated() {
            let field = "flow.segments[\(k)]"
            let parsed = try Self.flowOptions(segment.flow, field: field)
            let start = segments.last?.until ?? 0
            guard segment.until.isFinite, segment.until > start, segment.until <= parsed.T else {
                throw InputError("\(field).until", "must lie in (\(start), \(parsed.T)] (got \(segment.until))")
            }
            segments.append(FlowSegment(Self.resolvedFlow(parsed), until: segment.until))
        }
        if let last = segments.last, last.until >= options.T {
            throw InputError("flow.T", "must exceed the time the earlier parts reached (\(last.until))")
        }

        // Sizes first, then the data: a huge target or CSV is refused before anything is allocated.
        let source = try dataSource()
        if let limits {
            let (m, d, field) = source.shape
            var estimate = ResourceEstimate(points: m, dimension: d, width: n, outputBias: net.outputBias ?? false,
                                 samples: train.map { min($0.samples?.count ?? TrainingOptions().sampleCount, ($0.iterations ?? TrainingOptions().iterations) + 1) }
                                     ?? options.sampleCount,
                                 // A trained deep network has no stepper matrices; its flow has the stepper's.
                                 stepper: deep != nil && train != nil ? .rk8pd : options.stepper, dataField: field,
                                 csvBytes: Double(source.csvBytes?.count ?? 0), parameters: deep?.parameterCount)
            if train != nil { estimate.samplesField = "train.samples.count" }
            if deep != nil { estimate.widthField = "network.layers" }
            try estimate.check(limits)
        }
        let data = try resolveData(source)
        if let deep {
            let (theta, resolvedNetwork) = try net.resolveDeep(deep, dimension: data.dimension)
            out.data = DataConfig(x: data.rows, y: data.y, origin: source.origin)
            out.network = resolvedNetwork
            return try finish(FlowProblem(data: data, model: deep, theta0: theta, options: options), &out, options: options, segments: segments)
        }

        let network = ShallowNetwork(width: n, inputDimension: data.dimension, outputBias: net.outputBias ?? false)
        let initSpec = net.initialization ?? InitSpec()
        guard initSpec.scale.isFinite else { throw InputError("network.init.scale", "is not a finite number") }
        guard initSpec.biasScale.isFinite, initSpec.biasScale >= 0 else {
            throw InputError("network.init.biasScale", "must be a finite number ≥ 0")
        }
        var theta = initSpec.draw(for: network)
        let d = data.dimension
        if let W = net.W {
            for (i, row) in W.enumerated() {
                guard row.count == d else {
                    throw InputError("network.W[\(i)]", "has \(row.count) entries, expected d = \(d)")
                }
                for (k, v) in row.enumerated() {
                    guard v.isFinite else { throw InputError("network.W[\(i)][\(k)]", "is not a finite number") }
                    theta[network.wIndex(i, k)] = v
                }
            }
        }
        for (name, values, index) in [("b", net.b, network.bIndex), ("c", net.c, network.cIndex)] as [(String, [Double]?, (Int) -> Int)] {
            guard let values else { continue }
            guard values.count == n else { throw InputError("network.\(name)", "has \(values.count) entries, expected width \(n)") }
            for (i, v) in values.enumerated() {
                guard v.isFinite else { throw InputError("network.\(name)[\(i)]", "is not a finite number") }
                theta[index(i)] = v
            }
        }
        if let c0 = net.c0 {
            guard network.outputBias else { throw InputError("network.c0", "is given but network.outputBias is false") }
            guard c0.isFinite else { throw InputError("network.c0", "is not a finite number") }
            theta[network.c0Index!] = c0
        }

        // Resolved config: explicit data and parameters, every default written; where the data
        // came from is recorded in data.origin (informational, ignored on input).
        out.data = DataConfig(x: data.rows, y: data.y, origin: source.origin)
        out.network = NetworkConfig(
            width: n, outputBias: network.outputBias, initialization: initSpec,
            W: (0..<n).map { i in (0..<d).map { theta[network.wIndex(i, $0)] } },
            b: (0..<n).map { theta[network.bIndex($0)] },
            c: (0..<n).map { theta[network.cIndex($0)] },
            c0: network.c0Index.map { theta[$0] })
        return try finish(FlowProblem(data: data, network: network, theta0: theta, options: options), &out, options: options, segments: segments)
    }

    /// The flow and train sections of the resolved config, and the training options.
    private func finish(_ problem: FlowProblem, _ out: inout RunConfig, options: FlowOptions,
                        segments: [FlowSegment]) throws -> (problem: FlowProblem, resolved: RunConfig) {
        var problem = problem
        try Self.checkFinite(problem)
        out.flow = Self.resolvedFlow(options)
        out.flow.segments = segments.isEmpty ? nil : segments
        out.flow.escapeDelta = options.escapeDelta
        // Written only when set, so that the resolved config (and a sweep's hash of it) of a run
        // without a budget is unchanged.
        (out.flow.maxRhsEvaluations, out.flow.maxWallSeconds) = (options.maxRhsEvaluations, options.maxWallSeconds)
        Self.writeKind(options.kind, into: &out.flow)
        if let train {
            guard flow.segments == nil else { throw InputError("flow.segments", "belong to a resumed flow run; a training run has none") }
            let (training, resolvedTrain) = try train.resolve(for: problem)
            problem.training = training
            problem.options.T = training.method.time(iteration: training.iterations, lr: training.lr)
            out.train = resolvedTrain
        }
        return (problem, out)
    }


    /// The loss and its gradient at θ(0) must be finite numbers: finite data and parameters can
    /// still overflow (|x| near the largest double), and no flow or method starts from inf or NaN.
    /// That is the input's fault, not a run's numerical failure: named here, before any output.
    static func checkFinite(_ problem: FlowProblem) throws {
        let (loss, gradient) = problem.model.lossAndGradient(problem.theta0, data: problem.data)
        guard !loss.isFinite || !gradient.allSatisfy(\.isFinite) else { return }
        let data = max(problem.data.x.lazy.map(abs).max() ?? 0, problem.data.y.lazy.map(abs).max() ?? 0)
        let parameters = problem.theta0.lazy.map(abs).max() ?? 0
        let what = loss.isFinite ? "its gradient has entries that are not" : "it is \(loss), not"
        throw InputError(data >= parameters ? "data" : "network",
                         "the loss at θ(0) overflows in double precision (\(what) finite numbers): the largest |x| or |y| "
                         + "is \(data), the largest initial parameter \(parameters); rescale them")
    }

    /// The options of a `flow` section (or of one of its segments, `field`), validated.
    static func flowOptions(_ flow: FlowConfig, field: String) throws -> FlowOptions {
        var options = FlowOptions()
        if let T = flow.T {
            guard T.isFinite, T > 0 else { throw InputError("\(field).T", "must be a finite number > 0 (got \(T))") }
            options.T = T
        }
        if let rtol = flow.rtol {
            guard rtol.isFinite, rtol > 0, rtol < 1 else { throw InputError("\(field).rtol", "must lie in (0, 1) (got \(rtol))") }
            options.rtol = rtol
        }
        if let atol = flow.atol {
            guard atol.isFinite, atol >= 0 else { throw InputError("\(field).atol", "must be a finite number ≥ 0 (got \(atol))") }
            options.atol = atol
        }
        if let name = flow.stepper {
            guard let stepper = Stepper(rawValue: name) else {
                throw InputError("\(field).stepper", "unknown stepper '\(name)' (known: \(Stepper.names))")
            }
            options.stepper = stepper
        }
        if let samples = flow.samples {
            try Self.sampleGrid(spacing: samples.spacing, count: samples.count, field: "\(field).samples",
                                into: &options.sampleSpacing, &options.sampleCount)
            if let tMin = samples.tMin {
                guard tMin.isFinite, tMin > 0, tMin < options.T else {
                    throw InputError("\(field).samples.tMin", "must lie in (0, T) (got \(tMin))")
                }
                options.sampleTMin = tMin
            }
            if let text = samples.output {
                guard let output = SampleOutput(rawValue: text) else {
                    throw InputError("\(field).samples.output", "must be 'dense' or 'stepEnds' (got '\(text)')")
                }
                options.sampleOutput = output
            }
        }
        if let maxEvents = flow.maxEvents {
            guard maxEvents >= 1 else { throw InputError("\(field).maxEvents", "must be at least 1") }
            options.maxEvents = maxEvents
        }
        if let limit = flow.maxRhsEvaluations {
            guard limit >= 1 else { throw InputError("\(field).maxRhsEvaluations", "must be a whole number ≥ 1 (got \(limit))") }
            options.maxRhsEvaluations = limit
        }
        if let seconds = flow.maxWallSeconds {
            guard seconds.isFinite, seconds > 0 else { throw InputError("\(field).maxWallSeconds", "must be a finite number of seconds > 0 (got \(seconds))") }
            options.maxWallSeconds = seconds
        }
        if let delta = flow.escapeDelta {
            guard delta.isFinite, delta > 0, delta < 1 else { throw InputError("\(field).escapeDelta", "must lie in (0, 1) (got \(delta))") }
            options.escapeDelta = delta
        }

        return options
    }

    /// The spacing and size of a sample grid (of `flow` or `train`), validated into `spacing`, `count`.
    static func sampleGrid(spacing text: String?, count value: Int?, field: String,
                           into spacing: inout SampleSpacing, _ count: inout Int) throws {
        if let text {
            guard let s = SampleSpacing(rawValue: text) else {
                throw InputError("\(field).spacing", "must be 'log' or 'linear' (got '\(text)')")
            }
            spacing = s
        }
        if let value {
            guard value >= 2, value <= 10_000_000 else { throw InputError("\(field).count", "must lie in 2…10000000 (got \(value))") }
            count = value
        }
    }

    /// A flow section with every default written.
    /// The flow of SPEC §3 / §7 (`flow.kind`) and its constants, validated: τ, ε, a, b finite and
    /// > 0; a constant given for a flow that has none is refused (naming it), so that a typo in
    /// `kind` cannot leave `tau` silently unused.
    static func flowKind(_ flow: FlowConfig) throws -> FlowKind {
        func positive(_ value: Double?, _ name: String, default fallback: Double) throws -> Double {
            guard let value else { return fallback }
            guard value.isFinite, value > 0 else {
                throw InputError("flow.\(name)", "must be a finite number > 0 (got \(value))")
            }
            return value
        }
        let name = flow.kind ?? "gradient"
        let allowed: [String]
        let kind: FlowKind
        switch name {
        case "gradient":
            allowed = []
            kind = .gradient
        case "rmsprop":
            allowed = ["tau", "epsilon"]
            kind = .rmsprop(RMSPropFlow(tau: try positive(flow.tau, "tau", default: RMSPropFlow.defaultTau),
                                        epsilon: try positive(flow.epsilon, "epsilon", default: RMSPropFlow.defaultEpsilon)))
        case "adam":
            allowed = ["a", "b", "epsilon"]
            kind = .adam(AdamFlow(a: try positive(flow.a, "a", default: AdamFlow.defaultA),
                                  b: try positive(flow.b, "b", default: AdamFlow.defaultB),
                                  epsilon: try positive(flow.epsilon, "epsilon", default: AdamFlow.defaultEpsilon)))
        default:
            throw InputError("flow.kind", "unknown flow '\(name)' (known: \(FlowKind.names))")
        }
        for (key, value) in [("tau", flow.tau), ("epsilon", flow.epsilon), ("a", flow.a), ("b", flow.b)]
        where value != nil && !allowed.contains(key) {
            throw InputError("flow.\(key)", "is a constant of " + (key == "tau" ? "the rmsprop flow" : key == "epsilon" ? "the rmsprop and adam flows" : "the adam flow")
                             + ", not of the \(name) flow (flow.kind)")
        }
        return kind
    }

    /// The resolved config's kind and constants: written for the adaptive flows only (a gradient
    /// flow's config stays as before).
    static func writeKind(_ kind: FlowKind, into flow: inout FlowConfig) {
        switch kind {
        case .gradient:
            break
        case .rmsprop(let law):
            flow.kind = "rmsprop"
            flow.tau = law.tau
            flow.epsilon = law.epsilon
        case .adam(let law):
            flow.kind = "adam"
            flow.a = law.a
            flow.b = law.b
            flow.epsilon = law.epsilon
        }
    }

    static func resolvedFlow(_ options: FlowOptions) -> FlowConfig {
        FlowConfig(
            T: options.T, rtol: options.rtol, atol: options.atol, stepper: options.stepper.rawValue,
            samples: SampleConfig(spacing: options.sampleSpacing.rawValue, count: options.sampleCount,
                                  tMin: options.sampleSpacing == .log ? (options.sampleTMin ?? min(1e-3, options.T / 100)) : options.sampleTMin,
                                  output: options.sampleOutput.rawValue),
            maxEvents: options.maxEvents)
    }

    /// The one source of the data, with its size (m, d and the field it comes from) known before
    /// the data are generated or parsed; a CSV file is read (not parsed) here.
    private struct DataSource {
        enum Kind { case explicit([[Double]], [Double]), csv(String, CSVColumns?), target(TargetConfig) }
        let kind: Kind
        let shape: (m: Int, d: Int, field: String)
        var csvBytes: Data? = nil
        let origin: DataOrigin?
    }

    private func dataSource() throws -> DataSource {
        // Exactly one source: two given together are an error naming both.
        let explicit = data.x != nil || data.y != nil
        let sources = [explicit ? (data.x != nil ? "data.x" : "data.y") : nil, data.csv.map { _ in "data.csv" },
                       data.target.map { _ in "data.target" }].compactMap { $0 }
        if sources.count > 1 {
            var problem = "and \(sources[1]) are both given; give one data source: x and y, a csv file, or a target"
            if explicit {
                problem += " (a config.json written by an earlier version records the source beside x and y: move it into data.origin)"
            }
            throw InputError(sources[0], problem)
        }
        if data.columns != nil && data.csv == nil {
            throw InputError("data.columns", "applies to data.csv only (no csv file is given)")
        }
        if explicit {
            guard let x = data.x else { throw InputError("data.x", "is required when data.y is given") }
            guard let y = data.y else { throw InputError("data.y", "is required when data.x is given") }
            return DataSource(kind: .explicit(x, y), shape: (x.count, x.first?.count ?? 1, "data.x"), origin: data.origin)
        }
        if let path = data.csv {
            // A file that cannot be read is exit 3 with the system's reason (the field in the message).
            let bytes: Data
            do { bytes = try RunFolder.readFile(path) } catch let error as FileError {
                throw FileError(path: path, action: "read the data.csv file", reason: error.reason)
            }
            let (rows, inputs) = CSVData.shape(bytes, columns: data.columns)
            return DataSource(kind: .csv(path, data.columns), shape: (rows, inputs, "data.csv"), csvBytes: bytes,
                              origin: DataOrigin(csv: path, columns: data.columns))
        }
        if let target = data.target {
            // Validated here, before the size check reads m and dim.
            let dim = target.dim ?? 1
            guard dim >= 1, dim <= 10 else { throw InputError("data.target.dim", "must lie in 1…10 (got \(dim))") }
            guard target.m >= 1 else { throw InputError("data.target.m", "must be at least 1 (got \(target.m))") }
            return DataSource(kind: .target(target), shape: (target.m, dim, "data.target.m"), origin: DataOrigin(target: target))
        }
        throw InputError("data", "give x and y, a csv file, or a target function")
    }

    private func resolveData(_ source: DataSource) throws -> Dataset {
        switch source.kind {
        case .explicit(let x, let y): return try Dataset(x: x, y: y)
        case .csv(let path, let columns): return try CSVData.read(source.csvBytes ?? Data(), path: path, columns: columns)
        case .target: return try resolveTargetOnly()
        }
    }

    private func resolveTargetOnly() throws -> Dataset {
        guard let target = data.target else { throw InputError("data.target", "is missing") }
        let dim = target.dim ?? 1
        guard dim >= 1, dim <= 10 else { throw InputError("data.target.dim", "must lie in 1…10 (got \(dim))") }
        guard target.m >= 1 else { throw InputError("data.target.m", "must be at least 1 (got \(target.m))") }
        guard target.range.count == 2, target.range.allSatisfy(\.isFinite), target.range[0] < target.range[1] else {
            throw InputError("data.target.range", "must be [lo, hi] with finite lo < hi")
        }
        let expression = try TargetExpression(target.function)
        guard expression.variableCount <= dim else {
            throw InputError("data.target.function", "uses x\(expression.variableCount - 1) but data.target.dim is \(dim)")
        }
        let lo = target.range[0], hi = target.range[1]
        var rows: [[Double]] = []
        switch target.points ?? "uniform" {
        case "uniform":
            let k = Int((pow(Double(target.m), 1 / Double(dim))).rounded())
            guard Int(pow(Double(k), Double(dim)).rounded()) == target.m else {
                throw InputError("data.target.m", "must be k^\(dim) for a uniform grid in \(dim) dimensions (got \(target.m))")
            }
            func coord(_ a: Int) -> Double { k == 1 ? (lo + hi) / 2 : (a == k - 1 ? hi : lo + (hi - lo) * Double(a) / Double(k - 1)) }
            for flat in 0..<target.m {
                var rest = flat
                var row = [Double](repeating: 0, count: dim)
                for axis in stride(from: dim - 1, through: 0, by: -1) {
                    row[axis] = coord(rest % k)
                    rest /= k
                }
                rows.append(row)
            }
        case "random":
            let network = ShallowNetwork(width: target.m, inputDimension: dim)
            let draws = InitSpec(scheme: .uniform, seed: target.seed ?? 0, scale: 1, biasScale: 0).draw(for: network)
            // Uniform(±1/√d) draws of the W block, mapped affinely onto the range.
            let bound = 1 / Double(dim).squareRoot()
            for j in 0..<target.m {
                rows.append((0..<dim).map { lo + (hi - lo) * (draws[network.wIndex(j, $0)] + bound) / (2 * bound) })
            }
        case let other:
            throw InputError("data.target.points", "must be 'uniform' or 'random' (got '\(other)')")
        }
        let y = rows.map { expression.evaluate($0) }
        for (j, v) in y.enumerated() where !v.isFinite {
            throw InputError("data.target.function", "is not finite at point \(j) (x = \(rows[j]))")
        }
        return try Dataset(x: rows, y: y, field: "data.target")
    }
}
