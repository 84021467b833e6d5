import ArgumentParser
import Foundation
import ReluFlow

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Integrate the gradient flow and write a run folder.",
        discussion: """
            With neither --config nor --example it runs the default example (\(Example.defaultName)). \
            Options given here override the config. Time is the flow's time t. \
            Exit status: 0 success, 1 numerical failure (reason and last good state written), 2 bad input, \
            130 interrupted (Ctrl-C; the folder is written with status "interrupted").
            """)

    @Option(help: "Config file (JSON, see INTERFACE.md).")
    var config: String?

    @Option(help: "Built-in example (see `reluflow examples`).")
    var example: String?

    @Option(help: "Output run folder (default: runs/<example or config name>). An earlier run folder there is replaced.")
    var out: String?

    @Option(help: ArgumentHelp("Continue the run in this folder from its checkpoint (after Ctrl-C, or to a larger --T); "
                               + "the merged run replaces it unless --out is given.", valueName: "dir"))
    var resume: String?

    // Numeric options parse `.unconditional`: a negative value (`--T -5`) reaches validation and
    // its message naming the field, instead of being taken for an option.
    @Option(name: .customLong("T"), parsing: .unconditional, help: "Final time T (flow time units; default 1e4, or the example's).")
    var T: Double?

    @Option(parsing: .unconditional, help: "Relative tolerance of the step control (default 1e-10).")
    var rtol: Double?

    @Option(parsing: .unconditional, help: "Absolute tolerance of the step control (default 1e-12).")
    var atol: Double?

    @Option(help: "GSL stepper: \(Stepper.names) (default auto).")
    var stepper: String?

    @Option(parsing: .unconditional, help: "Number of sample times on the grid, t = 0 and T included (default 400); event times are added.")
    var samples: WholeNumber?

    @Option(help: "Sample grid spacing: log or linear (default log).")
    var spacing: String?

    @Option(parsing: .unconditional, help: "Seed of the initialisation, a whole number ≥ 0 (default 0).")
    var seed: String?

    @Option(parsing: .unconditional, help: "Hidden width n (default 10, or the example's).")
    var width: WholeNumber?

    @Option(help: "Initialisation scheme: he, xavier or uniform (default he).")
    var initScheme: String?

    @Option(parsing: .unconditional, help: "Multiply every initial weight by this factor (default 1).")
    var scale: Double?

    @Option(parsing: .unconditional, help: "Initial biases are bias-scale · N(0,1) (default 0.1).")
    var biasScale: Double?

    @Option(parsing: .unconditional, help: "Stop with a failure after this many events (default 1000000).")
    var maxEvents: WholeNumber?

    @Flag(help: "No progress line.")
    var quiet = false

    @Flag(help: "Run even when the estimated memory exceeds half of the physical memory or the run folder 2 GB (without it such a config is refused, exit 2).")
    var allowLarge = false

    /// The size limits the config is checked against (none with --allow-large).
    private var limits: ResourceLimits? { allowLarge ? nil : .standard() }

    func run() throws {
        if let folder = resume { return try continueRun(folder) }
        var runConfig: RunConfig
        let name: String
        if config != nil && example != nil { throw InputError("--config", "give either --config or --example, not both") }
        if let path = config {
            runConfig = try RunConfig.load(path: path)
            name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        } else {
            let chosen = try Example.named(example ?? Example.defaultName)
            runConfig = chosen.config
            name = chosen.name
        }
        try applyOverrides(&runConfig)
        let (problem, resolved) = try runConfig.resolve(limits: limits)
        let outPath = out ?? "runs/\(name)"
        try RunFolder.checkDestination(outPath)

        try integrate(problem, config: resolved, outPath: outPath)
    }

    /// `--resume DIR`: the earlier run's resolved config and checkpoint, integrated on to T.
    private func continueRun(_ folder: String) throws {
        if config != nil || example != nil { throw InputError("--resume", "takes the config from the run folder; drop --config/--example") }
        if width != nil || seed != nil || initScheme != nil || scale != nil || biasScale != nil {
            throw InputError("--resume", "the network and data of a resumed run cannot change (only --T, tolerances, stepper, samples, max-events)")
        }
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw InputError("--resume", "\(folder) is not a ReluFlow run folder (no config.json)")
        }
        var runConfig = try RunConfig.loadRecorded(path: configPath)
        try applyOverrides(&runConfig)
        let (base, resolved) = try runConfig.resolve(limits: limits)
        let earlier = try EarlierRecords.read(folder, problem: base)
        guard earlier.checkpoint.t < base.options.T else {
            throw InputError("--T", "the run in \(folder) already reached t = \(earlier.checkpoint.t); give a larger --T to continue it")
        }
        let outPath = out ?? folder
        try RunFolder.checkDestination(outPath)
        try integrate(earlier.continuation(of: base), config: resolved, outPath: outPath, earlier: earlier)
    }

    /// Solves with the run folder streamed to disk (`RunStream`), so memory stays O(n·m + samples);
    /// a continuation copies the earlier records from their files first.
    private func integrate(_ problem: FlowProblem, config resolved: RunConfig, outPath: String, earlier: EarlierRecords? = nil) throws {
        let progressLine = ProgressLine(quiet: quiet)
        let stream = try earlier.map { try RunStream(path: outPath, problem: problem, continuing: $0) }
            ?? RunStream(path: outPath, problem: problem)
        var solution = solve(problem, hooks: SolveHooks(progress: progressLine.show, shouldStop: { Interrupt.requested }, recorder: stream))
        progressLine.clear()
        if let earlier { solution = RunContinuation.joined(earlier.shell, solution, stream: stream) }
        try stream.finish(solution, config: resolved)

        let s = RunSummary(solution)
        let usage = s.stepperSteps.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let report = String(format: "%@ %@: t = %.6g, loss %.6g → %.6g, %d events, %d steps (%@), %.3g s\n"
                                + "  invariant drift %.2e, dissipation defect %.2e",
                            s.status.rawValue, outPath, s.finalTime, s.initialLoss, s.finalLoss, s.events, s.steps,
                            usage, s.wallSeconds, s.invariantDrift, s.dissipationDefect)
        switch solution.status {
        case .completed:
            print(report)
        case .failed:
            print(report)
            throw RunFailure(message: "numerical failure: \(solution.message ?? "unknown"); the last good state is in \(outPath)/summary.json", status: 1)
        case .interrupted:
            print(report)
            throw RunFailure(message: "interrupted at t = \(s.finalTime); continue with: reluflow simulate --resume \(outPath)", status: 130)
        }
    }

    private func applyOverrides(_ c: inout RunConfig) throws {
        if let T { c.flow.T = T }
        if let rtol { c.flow.rtol = rtol }
        if let atol { c.flow.atol = atol }
        if let stepper { c.flow.stepper = stepper }
        if samples != nil || spacing != nil {
            var s = c.flow.samples ?? SampleConfig()
            if let samples { s.count = samples.value }
            if let spacing { s.spacing = spacing }
            c.flow.samples = s
        }
        if let maxEvents { c.flow.maxEvents = maxEvents.value }
        if let width {
            guard c.network.W == nil else { throw InputError("--width", "the config gives W explicitly; remove network.W to change the width") }
            c.network.width = width.value
        }
        if seed != nil || initScheme != nil || scale != nil || biasScale != nil {
            var spec = c.network.initialization ?? InitSpec()
            if let seed {
                guard let value = UInt64(seed) else {
                    if let negative = Int64(seed), negative < 0 {
                        throw InputError("network.init.seed", "must be at least 0 (got \(seed) from --seed)")
                    }
                    throw InputError("--seed", "'\(seed)' is not a whole number ≥ 0")
                }
                spec.seed = value
            }
            if let initScheme {
                guard let scheme = InitScheme(rawValue: initScheme) else {
                    throw InputError("--init-scheme", "unknown scheme '\(initScheme)' (known: he, xavier, uniform)")
                }
                spec.scheme = scheme
            }
            if let scale { spec.scale = scale }
            if let biasScale { spec.biasScale = biasScale }
            c.network.initialization = spec
        }
    }
}
