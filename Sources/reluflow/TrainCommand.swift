import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow train`: a discrete training method (SPEC §7) on the problem of a config or example,
/// written as a run folder of the flow's format with `iteration` columns.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        _superCommandName: ReluflowCommand.name,   // parsed as a root of its own: ReluflowCommand.parseSubcommandDirectly
        abstract: "Train with GD, SGD, Adam, RMSProp or ANLS (SPEC §7) and write a run folder.",
        discussion: """
            The problem (data, network, θ(0)) is the config's or example's, as for `simulate`; the method and its \
            options come from the config's `train` section, overridden here. t = k·η for the gradient methods (GD is \
            the flow's Euler discretisation), t = k for ANLS. Default learning rate: gd/sgd min(1/ρ_H at θ(0), 0.25) (1/ρ_H is half GD's \
            stability limit on the local quadratic model), adam/rmsprop 1e-3, anls 1. Exit status: 0 success, \
            1 divergence or numerical failure (the last good iterate written), 2 bad input, 3 a file could not be \
            written, 130/143/129 interrupted.
            """)

    @Option(help: "Config file (JSON, see INTERFACE.md).")
    var config: String?

    @Option(help: "Built-in example (see `reluflow examples`).")
    var example: String?

    @Option(help: "Output run folder (default: runs/<example or config name>-<method>).")
    var out: String?

    @Option(help: "Method: \(TrainingMethod.names) (default gd, or the config's).")
    var method: String?

    @Option(parsing: .unconditional, help: "Learning rate η (ANLS: its first step, in (0, 1]).")
    var lr: Double?

    @Option(parsing: .unconditional, help: "Number of iterations K (default 10000).")
    var iterations: WholeNumber?

    @Option(parsing: .unconditional, help: "Minibatch size B (default: all points; sgd: min(m, 8)).")
    var batch: WholeNumber?

    @Option(parsing: .unconditional, help: "Seed of the minibatch order (default 0).")
    var batchSeed: Int?

    @Option(parsing: .unconditional, help: "Seed of the initialisation, as for simulate (default 0).")
    var seed: Int?

    @Option(parsing: .unconditional, help: "Hidden width n (default 10, or the example's).")
    var width: WholeNumber?

    @Option(parsing: .unconditional, help: "Number of samples on the iteration grid (default 400); iterations with a pattern change are added.")
    var samples: WholeNumber?

    @Flag(help: "Run even when the estimated memory or output size exceeds the limits (see simulate --help).")
    var allowLarge = false

    @Flag(help: "No progress line.")
    var quiet = false

    func run() throws {
        var (runConfig, name) = try loadProblem(config: config, example: example)
        var train = runConfig.train ?? TrainConfig()
        if let method { train.method = method }
        if let lr { train.lr = lr }
        if let iterations { train.iterations = iterations.value }
        if let batch { train.batch = batch.value }
        if let batchSeed {
            guard batchSeed >= 0 else { throw InputError("--batch-seed", "must be ≥ 0 (got \(batchSeed))") }
            train.seed = UInt64(batchSeed)
        }
        if let samples {
            var s = train.samples ?? TrainSampleConfig()
            s.count = samples.value
            train.samples = s
        }
        runConfig.train = train
        if let width {
            guard runConfig.network.layers == nil else { throw InputError("--width", "applies to the shallow network; a deep network's widths are network.layers") }
            guard runConfig.network.W == nil else { throw InputError("--width", "the config gives W explicitly; remove network.W to change the width") }
            runConfig.network.width = width.value
        }
        if let seed { try applySeed(seed, to: &runConfig) }
        let (problem, resolved) = try runConfig.resolve(limits: allowLarge ? nil : .standard())
        guard let options = problem.training else { preconditionFailure("a train section resolves to training options") }
        for unused in train.unusedConstants(by: options.method) {
            FileHandle.standardError.write(Data("note: \(unused) is not used by \(options.method.rawValue)\n".utf8))
        }
        let outPath = out ?? "runs/\(name)-\(options.method.rawValue)"
        try RunFolder.checkDestination(outPath)

        let progressLine = ProgressLine(quiet: quiet)
        let stream = try RunStream(path: outPath, problem: problem)
        let solution = ReluFlow.train(problem, options: options,
                                      hooks: SolveHooks(progress: progressLine.show, shouldStop: { Interrupt.requested }, recorder: stream))
        progressLine.clear()
        try stream.finish(solution, config: resolved)
        let s = RunSummary(solution)
        let escape = s.escapeIteration.map { "escape (L ≤ \(1 - options.escapeDelta)·L(0)) at iteration \($0), t = \(String(format: "%.6g", s.escapeTime ?? 0))" }
            ?? "no escape (L stayed above \(1 - options.escapeDelta)·L(0))"
        let report = String(format: "%@ %@: %@, η = %.6g, %d iterations, loss %.6g → %.6g, %d events, %d pattern intervals, %.3g s\n  %@",
                            s.status.rawValue, outPath, options.method.rawValue, options.lr, s.iterations ?? 0, s.initialLoss,
                            s.finalLoss, s.events, s.patternIntervals, s.wallSeconds, escape)
        CommandOutput.line(report)
        switch solution.status {
        case .completed: break
        case .failed, .stopped:
            // (A training run has no work budget: its iterations are its budget.)
            throw RunFailure(message: "\(solution.message ?? "failed") (written to \(outPath))", status: 1)
        case .interrupted:
            throw RunFailure(message: "interrupted by \(Interrupt.signalName) at iteration \(s.iterations ?? 0)", status: Interrupt.exitStatus)
        }
    }
}
