import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow compare`: the flow and training methods on one problem, one run folder each under
/// the output folder, with `comparison.csv` and `comparison.svg`.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run the flow and training methods on one problem and compare them (comparison.csv, comparison.svg).",
        discussion: """
            Every method gets the same data, network and θ(0) (the config's or example's). The flow runs to the \
            config's T; gd and sgd for T/η iterations (at most 100000) so that they cover the same t; adam and \
            rmsprop for 10000 iterations; anls for at most 1000 sweeps (it stops when the loss stalls). \
            --iterations sets one count for every discrete method. The output folder holds one complete run folder \
            per method (analyze and plot read each) and the two comparison files; `reluflow plot DIR` redraws \
            comparison.svg. Levels in comparison.csv: 10% and 1% of L(0) and twice the flow's final loss, resolved \
            to each run's samples. compare.json: per method its status, escape (SPEC §7), first plateau (SPEC §6) and \
            end, the methods not run and why, and λ_max, λ_min of the Hessian at θ(0) (a sweep of `compare` runs \
            tabulates it). A method whose run fails numerically (e.g. several attracting surfaces meet) is printed \
            with its reason and kept with its last good state; compare.json gives its status and reason, no final \
            time or loss (lastGoodTime, lastGoodLoss instead), and nothing derived from its end (with the flow \
            failed, the level twice the flow's final loss is left empty); `notes` says what was left out. \
            Work budget: every flow stops at the first step end after --max-rhs-evaluations right-hand-side \
            evaluations (flow.maxRhsEvaluations of the config; default \(CompareCommand.defaultFlowBudget)), \
            a count that does not depend on the machine, so that a flow that crawls (many coupled sliding \
            surfaces) cannot hold up the comparison; --max-wall-seconds adds a wall-clock limit (machine-dependent: \
            results then depend on the machine's speed and load). A flow so stopped has status `stopped` with the \
            reason, its state there kept in its folder, its escape time kept when it escaped before the stop (exact: \
            the flow up to the stop is integrated as always), else `escapeCensoredAt` (its escape time exceeds it); \
            its final figures are null as for a failed run (compare.json stoppedMethods, notes). \
            Exit status: 0 every method completed or was stopped by its budget, 1 a method failed (every method's results still written), \
            2 bad input, 3 a file could not be written, 130/143/129 interrupted: the methods that finished are kept in the output folder with the interrupted one's last state (compare.json status interrupted); `reluflow compare --resume DIR` runs the rest.
            """)

    @Option(help: "Config file (JSON, see INTERFACE.md); a train section gives the discrete methods' options.")
    var config: String?

    @Option(help: "Built-in example (see `reluflow examples`).")
    var example: String?

    @Option(help: "Methods, comma-separated: \(FlowMethod.names), \(TrainingMethod.names) (default: \(CompareCommand.shallowDefault); on a deep network \(CompareCommand.deepDefault)). A flow this build does not integrate on the network is left out and named, with the reason.")
    var methods: String?

    @Option(parsing: .unconditional, help: "Iterations of every discrete method (default: see below).")
    var iterations: WholeNumber?

    @Option(name: .customLong("T"), parsing: .unconditional, help: "Final time T of the flow (default: the config's).")
    var T: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Work budget of every flow: it stops (status stopped) after this many right-hand-side evaluations (default: the config's flow.maxRhsEvaluations, else \(CompareCommand.defaultFlowBudget)). Deterministic.", valueName: "count"))
    var maxRhsEvaluations: WholeNumber?

    @Option(parsing: .unconditional, help: ArgumentHelp("A wall-clock limit of every flow, the same stop after this many seconds (default: the config's flow.maxWallSeconds, else none). Machine-dependent: a run it stops is not reproducible.", valueName: "seconds"))
    var maxWallSeconds: Double?

    @Option(help: "Output folder (default runs/<name>-compare).")
    var out: String?

    @Option(help: ArgumentHelp("Formats of comparison's figure, comma-separated: svg, png, pdf (rendered with librsvg and cairo).", valueName: "list"))
    var format: String = "svg"

    @Flag(help: "No progress line.")
    var quiet = false

    @Option(help: ArgumentHelp("Continue an interrupted comparison in DIR (its problem and methods are read from DIR/resume.json): the methods that finished are kept, the one that was interrupted and those after it run (the interrupted one from its start). Written to DIR unless --out is given.", valueName: "DIR"))
    var resume: String?

    func run() throws {
        if let folder = resume { return try continueComparison(folder) }
        var (base, name) = try loadProblem(config: config, example: example)
        let deep = base.network.layers != nil
        let given = methods ?? (deep ? Self.deepDefault : Self.shallowDefault)
        let list = given.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !list.isEmpty, Set(list).count == list.count else { throw InputError("--methods", "give each method once (got '\(given)')") }
        for m in list where FlowMethod(rawValue: m) == nil && TrainingMethod(rawValue: m) == nil {
            throw InputError("--methods", "unknown method '\(m)' (known: \(FlowMethod.names), \(TrainingMethod.names))")
        }
        if deep && list.contains(TrainingMethod.anls.rawValue) {
            throw InputError("--methods", "anls is defined for the shallow network only (SPEC §7); a deep network (network.layers) compares "
                             + "\(FlowMethod.names), gd, sgd, adam and rmsprop")
        }
        if let iterations, iterations.value < 1 { throw InputError("--iterations", "must be at least 1 (got \(iterations.value))") }
        let formats = try FigureFormat.list(format)
        if let T { base.flow.T = T }
        // The flows' budget goes into the problem's flow section, so that resume.json keeps it.
        try base.flow.applyBudget(maxRhsEvaluations: maxRhsEvaluations, maxWallSeconds: maxWallSeconds)
        // The problem is resolved once before any method runs: bad input is exit 2 naming its field
        // (not a method left out), and a CSV's data are read here and passed on explicitly (with
        // `data.origin` naming the file, as every run's config.json records them), so that every
        // method, and a resumed comparison started from another folder, sees the same data even if
        // the file moves or changes.
        var check = base
        check.train = nil
        let resolved = try check.resolve(limits: nil).resolved
        if base.data.csv != nil { base.data = resolved.data }
        // The flows this build does not integrate on this network are left out, with the reason.
        var notRun: [(method: String, reason: String)] = []
        for m in list {
            guard let flow = FlowMethod(rawValue: m), let reason = FlowCapability.unsupported(flow, for: base) else { continue }
            notRun.append((m, reason))
        }
        let runList = list.filter { m in !notRun.contains { $0.method == m } }
        for (method, reason) in notRun { print("not run: \(method): \(reason)") }
        guard !runList.isEmpty else {
            throw InputError("--methods", "none of the methods can run on this network: " + notRun.map { "\($0.method) (\($0.reason))" }.joined(separator: "; "))
        }
        if base.train == nil { base.train = TrainConfig() }
        let request = CompareRequest(config: base, methods: runList, notRun: notRun, iterations: iterations?.value, formats: formats)
        try execute(request, outPath: out ?? "runs/\(name)-compare", finished: [], earlier: nil)
    }

    /// `--resume DIR`: the request of an interrupted comparison, its finished methods read back.
    func continueComparison(_ folder: String) throws {
        if config != nil || example != nil || methods != nil || iterations != nil || T != nil || maxRhsEvaluations != nil || maxWallSeconds != nil {
            throw InputError("--resume", "takes the problem, the methods and the flows' budget from \(folder)/resume.json; drop --config, --example, "
                             + "--methods, --iterations, --T, --max-rhs-evaluations and --max-wall-seconds")
        }
        let summaryPath = (folder as NSString).appendingPathComponent("compare.json")
        guard FileManager.default.fileExists(atPath: summaryPath) else {
            throw InputError("--resume", "\(folder) is not a compare folder (no compare.json)")
        }
        let summary = try JSONValue.parse(try RunFolder.readFile(summaryPath), source: summaryPath)
        guard summary["status"] == .string("interrupted") else {
            let status: String
            if case .string(let s)? = summary["status"] { status = s } else { status = "unknown" }
            throw InputError("--resume", "\(folder) holds a \(status) comparison, not an interrupted one: nothing to continue")
        }
        let request = try CompareRequest.read(folder: folder)
        let earlier = try Comparison.read(folder: folder)
        try execute(request, outPath: out ?? folder, finished: earlier.entries, earlier: folder)
    }

    /// Runs the request's methods not in `finished` (whose folders are copied from `earlier`) into
    /// a staging folder, then writes the comparison's files and puts the folder in place. On an
    /// interruption the finished methods, the interrupted one's folder (status `interrupted`),
    /// `compare.json` (status `interrupted`), `wall_times.csv` and `resume.json` are put in place
    /// instead, and `--resume` continues from them.
    func execute(_ request: CompareRequest, outPath: String, finished: [Comparison.Entry], earlier: String?) throws {
        var base = request.config
        let trainTemplate = base.train ?? TrainConfig()
        base.train = nil
        let (flowProblem, flowConfig) = try base.resolve(limits: .standard())
        try RunFolder.checkOutputPath(outPath)
        try RunFolder.checkDestination(outPath, kind: "compare")
        let curvature = try Comparison.initialCurvature(flowProblem)

        let staging = try RunFolder.stageFolder(outPath)
        var entries = finished
        var interrupted: (method: String, remaining: [String])? = nil
        do {
            if let earlier {
                for e in finished {
                    try FileManager.default.copyItem(atPath: (earlier as NSString).appendingPathComponent(e.method),
                                                     toPath: (staging as NSString).appendingPathComponent(e.method))
                }
            }
            for method in request.methods where !finished.contains(where: { $0.method == method }) {
                let folder = (staging as NSString).appendingPathComponent(method)
                var problem = flowProblem, resolved = flowConfig
                if let flow = FlowMethod(rawValue: method) {
                    (problem, resolved) = try Self.budgeted(FlowCapability.config(flow, from: base)).resolve(limits: .standard())
                }
                if let training = TrainingMethod(rawValue: method) {
                    var section = trainTemplate
                    section.method = method
                    if training != .anls { section.anls = nil }
                    if training != .sgd && training != .adam && training != .rmsprop { section.batch = nil }
                    var config = base
                    config.train = section
                    // (A discrete method's budget is its iteration count.)
                    (config.flow.maxRhsEvaluations, config.flow.maxWallSeconds) = (nil, nil)
                    // η first (its default depends on the method), then the iteration count from it.
                    let (first, _) = try config.resolve()
                    let eta = first.training!.lr
                    config.train!.lr = eta
                    config.train!.iterations = request.iterations ?? section.iterations ?? {
                        switch training {
                        case .gd, .sgd: return min(100_000, max(1, Int((flowProblem.options.T / eta).rounded(.up))))
                        case .adam, .rmsprop: return 10_000
                        case .anls: return 1000
                        }
                    }()
                    (problem, resolved) = try config.resolve()
                }
                let progress = ProgressLine(quiet: quiet)
                let stream = try RunStream(path: folder, problem: problem)
                let timed = TimedRecorder(stream)
                let hooks = SolveHooks(progress: progress.show, shouldStop: { Interrupt.requested }, recorder: timed)
                var solution = problem.training.map { train(problem, options: $0, hooks: hooks) } ?? solve(problem, hooks: hooks)
                progress.clear()
                try stream.finish(solution, config: resolved)
                guard solution.status != .interrupted else {
                    interrupted = (method, request.methods.filter { m in !entries.contains { $0.method == m } })
                    break
                }
                let (_, back) = try RunFolderReader(folder, field: "--out").run(for: problem)
                solution.samples = back.samples
                solution.events = back.events
                solution.patterns = back.patterns
                let plateaus = (try? PlateauReport.plateaus(solution)) ?? []
                entries.append(Comparison.Entry(method: method, run: solution, wall: timed.wall, plateaus: plateaus))
                let s = RunSummary(solution)
                let escape = s.escapeTime.map { String(format: "escape t = %.4g", $0) }
                    ?? (entries.last!.endedEarly ? String(format: "no escape by t = %.4g (censored)", s.finalTime) : "no escape")
                print(String(format: "%-12@ %@: t = %.6g, loss %.6g → %.6g, %@, %d events, %d plateau(s), %.3g s",
                             method, s.status.rawValue, s.finalTime, s.initialLoss, s.finalLoss, escape, s.events, plateaus.count, s.wallSeconds))
                if let reason = entries.last?.reason {
                    print("\(String(repeating: " ", count: 13))reason: \(reason) (no final figures from this run; its last good state is in \(method)/)")
                }
                // Each method's line as it finishes, also into a pipe or a cluster's log.
                fflush(nil)
            }
            let comparison = Comparison(entries: entries, notRun: request.notRun, curvature: curvature)
            let layers = base.network.layers ?? [flowProblem.data.dimension, flowProblem.model.hiddenUnitCount, 1]
            func write(_ name: String, _ bytes: Data) throws { try RunFolder.writeFile((staging as NSString).appendingPathComponent(name), bytes) }
            if let interrupted {
                try write("wall_times.csv", comparison.wallTimesCSV())
                try write("compare.json", try comparison.summaryJSON(layers: layers, interrupted: interrupted))
                try write("resume.json", try request.json())
            } else {
                try write("comparison.csv", comparison.csv())
                for (name, bytes) in try FigureRenderer.files([("comparison.svg", Data(comparison.svg().utf8))], formats: request.formats) {
                    try write(name, bytes)
                }
                try write("wall_times.csv", comparison.wallTimesCSV())
                try write("plateau_exits.csv", comparison.plateauExitsCSV())
                try write("compare.json", try comparison.summaryJSON(layers: layers))
            }
        } catch {
            RunFolder.discardStaging(staging)
            throw error
        }
        try RunFolder.commitFolder(staging, to: outPath, kind: "compare")
        if let interrupted {
            let kept = entries.map(\.method)
            throw RunFailure(message: "interrupted by \(Interrupt.signalName) during \(interrupted.method); "
                             + (kept.isEmpty ? "no method had finished" : "the finished methods (\(kept.joined(separator: ", "))) are kept")
                             + " in \(outPath); continue with: reluflow compare --resume \(outPath)", status: Interrupt.exitStatus)
        }
        print("written: \(outPath)/comparison.csv, compare.json, " + request.formats.map { "comparison.\($0.rawValue)" }.joined(separator: ", ")
              + " and one run folder per method (\(request.methods.joined(separator: ", ")))")
        let failed = entries.filter(\.failed)
        if !failed.isEmpty {
            throw RunFailure(message: failed.map { "\($0.method) failed (\($0.reason ?? ""))" }.joined(separator: "; ")
                             + "; the other methods' results are written to \(outPath) (status per method in compare.json)", status: 1)
        }
    }

    static let shallowDefault = "flow,gd,adam,anls"
    /// The gradient flow, the two adaptive flows and the four gradient methods (SPEC §7's escape
    /// experiment, issue 18). A flow that crawls (the RMSProp flow of a wide deep network: many
    /// coupled sliding surfaces) is stopped by the work budget (`defaultFlowBudget`), and one that
    /// fails is kept with its reason: the comparison completes either way.
    static let deepDefault = "flow,adam-flow,rmsprop-flow,gd,sgd,adam,rmsprop"

    /// The work budget of every flow of a comparison whose config gives none
    /// (`flow.maxRhsEvaluations`): right-hand-side evaluations, a count that depends on the
    /// problem and the options only (never on the machine).
    static let defaultFlowBudget = 1_000_000

    /// `config` with the comparison's default work budget where it gives none.
    static func budgeted(_ config: RunConfig) -> RunConfig {
        var c = config
        if c.flow.maxRhsEvaluations == nil { c.flow.maxRhsEvaluations = defaultFlowBudget }
        return c
    }
}

/// Forwards to the run's stream and notes the wall-clock time of every sample.
final class TimedRecorder: FlowRecorder {
    let inner: RunStream
    private let start = DispatchTime.now().uptimeNanoseconds
    private(set) var wall: [Double] = []

    init(_ inner: RunStream) { self.inner = inner }

    func record(_ sample: FlowSample) {
        wall.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        inner.record(sample)
    }
    func record(_ event: FlowEvent) { inner.record(event) }
    func record(_ interval: PatternInterval) { inner.record(interval) }
    var failure: String? { inner.failure }
}

/// What a comparison runs, kept as `resume.json` in an interrupted compare folder: the problem (its
/// `train` section the discrete methods' options), the methods in order, those not run and why,
/// the iteration count of the discrete methods, the figure formats.
struct CompareRequest {
    var config: RunConfig
    var methods: [String]
    var notRun: [(method: String, reason: String)]
    var iterations: Int?
    var formats: [FigureFormat]

    func json() throws -> Data {
        let value = JSONValue.object([
            ("methods", .array(methods.map { .string($0) })),
            ("notRun", .array(notRun.map { .object([("method", .string($0.method)), ("reason", .string($0.reason))]) })),
            ("iterations", iterations.map { .number(Double($0)) } ?? .null),
            ("formats", .array(formats.map { .string($0.rawValue) })),
            ("config", try JSONValue.parse(try config.encoded(), source: "config")),
        ])
        return Data((value.text + "\n").utf8)
    }

    static func read(folder: String) throws -> CompareRequest {
        let path = (folder as NSString).appendingPathComponent("resume.json")
        let value = try JSONValue.parse(try RunFolder.readFile(path), source: path)
        func strings(_ key: String) throws -> [String] {
            guard case .array(let items)? = value[key] else { throw InputError("--resume", "\(path): '\(key)' is missing") }
            return try items.map { item in
                guard case .string(let s) = item else { throw InputError("--resume", "\(path): '\(key)' holds a non-string") }
                return s
            }
        }
        guard let config = value["config"] else { throw InputError("--resume", "\(path): 'config' is missing") }
        var notRun: [(method: String, reason: String)] = []
        if case .array(let items)? = value["notRun"] {
            for item in items {
                if case .string(let m)? = item["method"], case .string(let r)? = item["reason"] { notRun.append((m, r)) }
            }
        }
        var iterations: Int? = nil
        if case .number(let k)? = value["iterations"] { iterations = Int(k) }
        return CompareRequest(config: try RunConfig.decode(Data(config.text.utf8), source: path), methods: try strings("methods"),
                              notRun: notRun, iterations: iterations,
                              formats: try FigureFormat.list(try strings("formats").joined(separator: ",")))
    }
}
