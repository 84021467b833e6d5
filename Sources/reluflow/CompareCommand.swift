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
            to each run's samples.
            """)

    @Option(help: "Config file (JSON, see INTERFACE.md); a train section gives the discrete methods' options.")
    var config: String?

    @Option(help: "Built-in example (see `reluflow examples`).")
    var example: String?

    @Option(help: "Methods, comma-separated: flow, \(TrainingMethod.names) (default flow,gd,adam,anls).")
    var methods: String = "flow,gd,adam,anls"

    @Option(parsing: .unconditional, help: "Iterations of every discrete method (default: see below).")
    var iterations: WholeNumber?

    @Option(name: .customLong("T"), parsing: .unconditional, help: "Final time T of the flow (default: the config's).")
    var T: Double?

    @Option(help: "Output folder (default runs/<name>-compare).")
    var out: String?

    @Option(help: ArgumentHelp("Formats of comparison's figure, comma-separated: svg, png, pdf (rendered with librsvg and cairo).", valueName: "list"))
    var format: String = "svg"

    @Flag(help: "No progress line.")
    var quiet = false

    func run() throws {
        var (base, name) = try loadProblem(config: config, example: example)
        let list = methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !list.isEmpty, Set(list).count == list.count else { throw InputError("--methods", "give each method once (got '\(methods)')") }
        for m in list where m != "flow" && TrainingMethod(rawValue: m) == nil {
            throw InputError("--methods", "unknown method '\(m)' (known: flow, \(TrainingMethod.names))")
        }
        if let iterations, iterations.value < 1 { throw InputError("--iterations", "must be at least 1 (got \(iterations.value))") }
        let formats = try FigureFormat.list(format)
        if list.contains("flow") { try refuseDeepFlow(base, command: "compare's flow method") }
        if let T { base.flow.T = T }
        let trainTemplate = base.train ?? TrainConfig()
        base.train = nil
        let (flowProblem, flowConfig) = try base.resolve(limits: .standard())
        let outPath = out ?? "runs/\(name)-compare"
        try RunFolder.checkOutputPath(outPath)
        try RunFolder.checkDestination(outPath)

        let staging = try RunFolder.stageFolder(outPath)
        var entries: [Comparison.Entry] = []
        do {
            for method in list {
                let folder = (staging as NSString).appendingPathComponent(method)
                var problem = flowProblem, resolved = flowConfig
                if let training = TrainingMethod(rawValue: method) {
                    var section = trainTemplate
                    section.method = method
                    if training != .anls { section.anls = nil }
                    if training != .sgd && training != .adam && training != .rmsprop { section.batch = nil }
                    var config = base
                    config.train = section
                    // η first (its default depends on the method), then the iteration count from it.
                    let (first, _) = try config.resolve()
                    let eta = first.training!.lr
                    config.train!.lr = eta
                    config.train!.iterations = iterations?.value ?? section.iterations ?? {
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
                    throw RunFailure(message: "interrupted by \(Interrupt.signalName) during \(method); nothing written", status: Interrupt.exitStatus)
                }
                let (_, back) = try RunContinuation.read(folder, problem: problem, field: "--out")
                solution.samples = back.samples
                solution.events = back.events
                solution.patterns = back.patterns
                let plateaus = (try? PlateauReport.plateaus(solution)) ?? []
                entries.append(Comparison.Entry(method: method, run: solution, wall: timed.wall, plateaus: plateaus))
                let s = RunSummary(solution)
                print(String(format: "%-8@ %@: t = %.6g, loss %.6g → %.6g, %d events, %d plateau(s), %.3g s",
                             method, s.status.rawValue, s.finalTime, s.initialLoss, s.finalLoss, s.events, plateaus.count, s.wallSeconds))
            }
            let comparison = Comparison(entries: entries)
            try RunFolder.writeFile((staging as NSString).appendingPathComponent("comparison.csv"), comparison.csv())
            for (name, bytes) in try FigureRenderer.files([("comparison.svg", Data(comparison.svg().utf8))], formats: formats) {
                try RunFolder.writeFile((staging as NSString).appendingPathComponent(name), bytes)
            }
            try RunFolder.writeFile((staging as NSString).appendingPathComponent("wall_times.csv"), comparison.wallTimesCSV())
            try RunFolder.writeFile((staging as NSString).appendingPathComponent("plateau_exits.csv"), comparison.plateauExitsCSV())
        } catch {
            RunFolder.discardStaging(staging)
            throw error
        }
        try RunFolder.commitFolder(staging, to: outPath, kind: "compare")
        print("written: \(outPath)/comparison.csv, " + formats.map { "comparison.\($0.rawValue)" }.joined(separator: ", ") + " and one run folder per method (\(list.joined(separator: ", ")))")
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
