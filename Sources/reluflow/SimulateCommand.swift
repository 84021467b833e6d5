import ArgumentParser
import Foundation
import ReluFlow

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        _superCommandName: ReluflowCommand.name,   // parsed as a root of its own: ReluflowCommand.parseSubcommandDirectly
        abstract: "Integrate the gradient flow and write a run folder.",
        discussion: """
            With neither --config nor --example it runs the default example (\(Example.defaultName)). \
            Options given here override the config. Time is the flow's time t. \
            Exit status: 0 success, 1 numerical failure (reason and last good state written) or stopped by the work \
            budget (--max-rhs-evaluations, --max-wall-seconds: status stopped, the state there written), 2 bad input, \
            3 a file could not be read or written, 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the folder is \
            written with status "interrupted"; continue it with --resume).
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

    @Option(parsing: .unconditional, help: "Hidden width n (default 10, or the example's); a deep network's widths are its network.layers.")
    var width: WholeNumber?

    @Option(help: "Initialisation scheme: he, xavier or uniform (default he); on a deep network he, xavier or normal.")
    var initScheme: String?

    @Option(parsing: .unconditional, help: "Multiply every initial weight by this factor (default 1).")
    var scale: Double?

    @Option(parsing: .unconditional, help: "Initial biases are bias-scale · N(0,1) (default 0.1).")
    var biasScale: Double?

    @Option(parsing: .unconditional, help: "Stop with a failure after this many events (default 1000000).")
    var maxEvents: WholeNumber?

    @Option(parsing: .unconditional, help: ArgumentHelp("Work budget: stop (status stopped, exit 1, the state there written and resumable) after this many right-hand-side evaluations (flow.maxRhsEvaluations; default none). Deterministic.", valueName: "count"))
    var maxRhsEvaluations: WholeNumber?

    @Option(parsing: .unconditional, help: ArgumentHelp("The same stop after this many wall-clock seconds (flow.maxWallSeconds; default none): a safety net that depends on the machine and its load, so a run it stops is not reproducible.", valueName: "seconds"))
    var maxWallSeconds: Double?

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Seconds of wall time between checkpoints of a running run (0: none). A run killed outright "
                               + "(SIGKILL, a node failure) loses at most this much: --resume continues from its last checkpoint.",
                               valueName: "seconds"))
    var checkpointEvery: Double = SimulateCommand.defaultCheckpointEvery
    static let defaultCheckpointEvery: Double = 60

    @Flag(help: "No progress line.")
    var quiet = false

    @Flag(help: "Run even when the estimated memory exceeds half of the physical memory or the run folder 2 GB (without it such a config is refused, exit 2).")
    var allowLarge = false

    /// `simulate`'s arguments when each is one of its options in the plain form `--name value` (or a
    /// flag), given at most once, no value empty or starting with "-": the options with exactly the
    /// values swift-argument-parser would give the command (the same conversions, `Double(_:)`,
    /// `WholeNumber(argument:)`, and the same defaults), built without its parse, which reflects over
    /// the options and asks the runtime for their conformances (issue 22: 10.3 M of the 39 M
    /// instructions of `simulate --example sine --T 1e-3 --quiet`). Anything else (`--name=value`,
    /// a repeated or unknown option, help, a value that does not convert) is nil, and the full parse
    /// handles it with its messages. DirectParseTests compares the two parses field by field. The
    /// options are built as `SimulateOptions`, not as the command: the command's property wrappers
    /// (help texts, argument definitions) cost ~0.8 M instructions to make (issue 22).
    static func parsePlain(_ arguments: ArraySlice<String>) -> SimulateOptions? {
        var c = SimulateOptions()
        var config, example, out, resume, stepper, spacing, seed, initScheme: String?
        var T, rtol, atol, scale, biasScale, checkpointEvery, maxWallSeconds: Double?
        var samples, width, maxEvents, maxRhsEvaluations: WholeNumber?
        var quiet = false, allowLarge = false
        var i = arguments.startIndex
        func take(_ slot: inout String?, _ value: String) -> Bool {
            guard slot == nil else { return false }
            slot = value
            return true
        }
        func take(_ slot: inout Double?, _ value: String) -> Bool {
            guard slot == nil, let v = Double(value) else { return false }
            slot = v
            return true
        }
        func take(_ slot: inout WholeNumber?, _ value: String) -> Bool {
            guard slot == nil, let v = WholeNumber(argument: value) else { return false }
            slot = v
            return true
        }
        while i < arguments.endIndex {
            let name = arguments[i]
            if name == "--quiet" || name == "--allow-large" {
                if name == "--quiet" { guard !quiet else { return nil }; quiet = true } else { guard !allowLarge else { return nil }; allowLarge = true }
                i += 1
                continue
            }
            guard i + 1 < arguments.endIndex else { return nil }
            let value = arguments[i + 1]
            guard let first = value.utf8.first, first != UInt8(ascii: "-") else { return nil }
            let ok: Bool
            switch name {
            case "--config": ok = take(&config, value)
            case "--example": ok = take(&example, value)
            case "--out": ok = take(&out, value)
            case "--resume": ok = take(&resume, value)
            case "--T": ok = take(&T, value)
            case "--rtol": ok = take(&rtol, value)
            case "--atol": ok = take(&atol, value)
            case "--stepper": ok = take(&stepper, value)
            case "--samples": ok = take(&samples, value)
            case "--spacing": ok = take(&spacing, value)
            case "--seed": ok = take(&seed, value)
            case "--width": ok = take(&width, value)
            case "--init-scheme": ok = take(&initScheme, value)
            case "--scale": ok = take(&scale, value)
            case "--bias-scale": ok = take(&biasScale, value)
            case "--max-events": ok = take(&maxEvents, value)
            case "--max-rhs-evaluations": ok = take(&maxRhsEvaluations, value)
            case "--max-wall-seconds": ok = take(&maxWallSeconds, value)
            case "--checkpoint-every": ok = take(&checkpointEvery, value)
            default: ok = false
            }
            guard ok else { return nil }
            i += 2
        }
        c.config = config
        c.example = example
        c.out = out
        c.resume = resume
        c.T = T
        c.rtol = rtol
        c.atol = atol
        c.stepper = stepper
        c.samples = samples
        c.spacing = spacing
        c.seed = seed
        c.width = width
        c.initScheme = initScheme
        c.scale = scale
        c.biasScale = biasScale
        c.maxEvents = maxEvents
        c.maxRhsEvaluations = maxRhsEvaluations
        c.maxWallSeconds = maxWallSeconds
        c.checkpointEvery = checkpointEvery ?? defaultCheckpointEvery
        c.quiet = quiet
        c.allowLarge = allowLarge
        return c
    }

    /// The parsed options as plain values.
    var options: SimulateOptions {
        SimulateOptions(config: config, example: example, out: out, resume: resume, T: T, rtol: rtol, atol: atol, stepper: stepper,
                        samples: samples, spacing: spacing, seed: seed, width: width, initScheme: initScheme, scale: scale,
                        biasScale: biasScale, maxEvents: maxEvents, maxRhsEvaluations: maxRhsEvaluations, maxWallSeconds: maxWallSeconds,
                        checkpointEvery: checkpointEvery, quiet: quiet, allowLarge: allowLarge)
    }

    func run() throws { try options.run() }
}

/// `simulate`'s options as plain values (`SimulateCommand.options`, or `parsePlain`'s), and the run.
struct SimulateOptions {
    var config, example, out, resume: String?
    var T, rtol, atol: Double?
    var stepper: String?
    var samples: WholeNumber?
    var spacing, seed: String?
    var width: WholeNumber?
    var initScheme: String?
    var scale, biasScale: Double?
    var maxEvents: WholeNumber?
    var maxRhsEvaluations: WholeNumber?
    var maxWallSeconds: Double?
    var checkpointEvery: Double = SimulateCommand.defaultCheckpointEvery
    var quiet = false
    var allowLarge = false

    /// The size limits the config is checked against (none with --allow-large).
    private var limits: ResourceLimits? { allowLarge ? nil : .standard() }

    func run() throws {
        if let folder = resume { return try continueRun(folder) }
        var (runConfig, name) = try loadProblem(config: config, example: example)
        guard runConfig.train == nil else {
            throw InputError("train", "the config has a train section: run it with `reluflow train`, or remove the section to integrate the flow")
        }
        try applyOverrides(&runConfig)
        let (problem, resolved) = try runConfig.resolve(limits: limits)
        let outPath = out ?? "runs/\(name)"
        try RunFolder.checkDestination(outPath)
        if let segments = resolved.flow.segments, !segments.isEmpty {
            return try repeatSegments(segments, config: resolved, outPath: outPath)
        }
        try integrate(problem, config: resolved, outPath: outPath)
    }

    /// A config with `flow.segments` (that of a resumed run): each part runs with its options up to
    /// the time it reached, into a hidden folder beside the output, and the next continues from it
    /// as `--resume` did; the last part writes the output. The same steps, so the same run.
    private func repeatSegments(_ segments: [FlowSegment], config resolved: RunConfig, outPath: String) throws {
        let target = RunFolder.absoluteOutputPath(outPath)
        let parent = (target as NSString).deletingLastPathComponent, name = (target as NSString).lastPathComponent
        var previous: String? = nil
        defer { if let previous { RunFolder.removePart(previous) } }
        for k in 0...segments.count {
            var config = resolved
            if k < segments.count {
                config.flow = segments[k].flow
                config.flow.escapeDelta = resolved.flow.escapeDelta
                config.flow.segments = k == 0 ? nil : Array(segments[..<k])
            } else {
                config.flow.segments = segments
            }
            var (problem, _) = try config.resolve()
            if k < segments.count { problem.options.stopAt = segments[k].until }
            let folder = k < segments.count ? (parent as NSString).appendingPathComponent(".\(name).part\(k)-\(getpid())") : outPath
            var earlier: EarlierRecords? = nil
            if let previous {
                earlier = try RunFolderReader(previous, field: "flow.segments").records(for: problem)
                problem = earlier!.continuation(of: problem)
            }
            let status = try integrate(problem, config: config, outPath: folder, earlier: earlier, report: k == segments.count)
            if let previous { RunFolder.removePart(previous) }
            previous = k < segments.count ? folder : nil
            guard status == .completed || (k < segments.count && status == .interrupted && !Interrupt.requested) else {
                if k < segments.count {
                    previous = nil
                    throw RunFailure(message: "part \(k) of the run (flow.segments[\(k)]) ended \(status.rawValue); its folder \(folder) is left for inspection",
                                     status: Interrupt.requested ? Interrupt.exitStatus : 1)
                }
                return
            }
        }
    }

    /// `--resume DIR`: the earlier run's resolved config and checkpoint, integrated on to T. DIR is
    /// a run folder, or the hidden staging folder (`.NAME.partial-PID`) of a run killed outright;
    /// when such a folder of DIR holds a later checkpoint than DIR itself (or DIR is missing), it
    /// is the one continued.
    private func continueRun(_ folder: String) throws {
        if config != nil || example != nil { throw InputError("--resume", "takes the config from the run folder; drop --config/--example") }
        if width != nil || seed != nil || initScheme != nil || scale != nil || biasScale != nil {
            throw InputError("--resume", "the network and data of a resumed run cannot change (only --T, tolerances, stepper, samples, max-events and the work budget)")
        }
        var source = folder, destination = folder
        var point: ResumePoint? = nil
        if let target = ResumePoint.destination(ofStaging: folder), FileManager.default.fileExists(atPath: folder) {
            guard let found = ResumePoint.read(folder: folder) else {
                throw InputError("--resume", "\(folder) holds no checkpoint (the run was killed before its first one); start it again")
            }
            guard found.pid == getpid() || kill(found.pid, 0) != 0 else {
                throw InputError("--resume", "\(folder) is still being written by process \(found.pid)")
            }
            point = found
            destination = target
        } else if let newest = ResumePoint.abandoned(for: folder).last {
            let reached = (try? JSONDecoder().decode(FlowCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath:
                (folder as NSString).appendingPathComponent("checkpoint.json")))))?.t ?? -.infinity
            if newest.point.t > reached {
                source = newest.folder
                point = newest.point
                CommandOutput.error("reluflow: continuing from \(newest.folder), which a killed run left at t = \(newest.point.t)")
            }
        }
        if point == nil, !FileManager.default.fileExists(atPath: folder), let killed = ResumePoint.unresumable(for: folder).last {
            throw InputError("--resume", "\(folder) does not exist: a run to it was stopped outright before its first checkpoint "
                             + "(\(killed) holds no resume point), so there is nothing to continue; start it again")
        }
        if let point { try point.recover(folder: source, field: "--resume") }
        let reader = try RunFolderReader(source, field: "--resume")
        var runConfig = reader.config
        if let method = runConfig.train?.method {
            throw InputError("--resume", "\(folder) is a training run (\(method)); training runs cannot be resumed: "
                             + "run `reluflow train --config \(folder)/config.json --iterations K --out NEW` again")
        }
        let earlierFlow = runConfig.flow
        try applyOverrides(&runConfig)
        let (base, _) = try runConfig.resolve(limits: limits)
        var earlier = try reader.records(for: base)
        try checkAdaptiveResume(base, earlier.checkpoint, folder: source)
        guard earlier.checkpoint.t < base.options.T else {
            throw InputError("--T", "the run in \(source) already reached t = \(earlier.checkpoint.t); give a larger --T to continue it")
        }
        // Provenance: the earlier part, with its options and the time it reached, becomes a segment.
        // A part that made no progress (stopped where it started) is not recorded: repeating it
        // does nothing.
        var part = earlierFlow
        part.segments = nil
        let started = earlierFlow.segments?.last?.until ?? 0
        if earlier.checkpoint.t <= started { earlier.shell.diagnostics = RunContinuation.uncounted(earlier.shell.diagnostics) }
        runConfig.flow.segments = (earlierFlow.segments ?? [])
            + (earlier.checkpoint.t > started ? [FlowSegment(part, until: earlier.checkpoint.t)] : [])
        if runConfig.flow.segments?.isEmpty ?? false { runConfig.flow.segments = nil }
        let (_, resolved) = try runConfig.resolve(limits: limits)
        let outPath = out ?? destination
        try RunFolder.checkDestination(outPath, field: out == nil ? "--resume" : "--out")
        try integrate(earlier.continuation(of: base), config: resolved, outPath: outPath, earlier: earlier)
    }

    /// Solves with the run folder streamed to disk (`RunStream`), so memory stays O(n·m + samples);
    /// a continuation copies the earlier records from their files first.
    @discardableResult
    private func integrate(_ problem: FlowProblem, config resolved: RunConfig, outPath: String, earlier: EarlierRecords? = nil,
                           report printed: Bool = true) throws -> FlowStatus {
        let progressLine = ProgressLine(quiet: quiet)
        guard checkpointEvery >= 0, checkpointEvery.isFinite else { throw InputError("--checkpoint-every", "must be a number of seconds ≥ 0") }
        let stream = try earlier.map { try RunStream(path: outPath, problem: problem, continuing: $0) }
            ?? RunStream(path: outPath, problem: problem)
        stream.checkpointInterval = checkpointEvery
        stream.config = resolved
        stream.earlierShell = earlier?.shell
        var solution = solve(problem, hooks: SolveHooks(progress: progressLine.show, shouldStop: { Interrupt.requested }, recorder: stream))
        progressLine.clear()
        // This part's wall time: after the join the diagnostics are the whole run's.
        let partSeconds = solution.diagnostics.wallSeconds
        if let earlier { solution = RunContinuation.joined(earlier.shell, solution, stream: stream) }
        try stream.finish(solution, config: resolved)

        let s = RunSummary(solution)
        // "rk8pd 12, msbdf 3" in a plain loop: the generic joined(separator:) cost ~0.26 M
        // instructions at its first use in the process (issue 22).
        var usage = ""
        for (k, entry) in s.stepperSteps.sorted(by: { $0.key < $1.key }).enumerated() {
            usage += (k > 0 ? ", " : "") + entry.key + " " + String(entry.value)
        }
        // The balance is an invariant of the gradient flow only (SPEC §4); an adaptive flow's
        // dissipation identity is L(0) − L(T) = ∫ −g·θ' dt (SPEC §7), which the defect checks.
        // printf's %.2e, %.6g, %.3g (NumberText: String(format:) costs conformance scans, issue 22).
        func e2(_ x: Double) -> String { NumberText.printf(x, "e", precision: 2) }
        func g(_ x: Double, _ digits: Int) -> String { NumberText.printf(x, "g", precision: digits) }
        let accuracy = s.invariantDrift.map { "invariant drift \(e2($0)), dissipation defect \(e2(s.dissipationDefect))" }
            ?? "no invariant drift (the balance is not an invariant of the \(problem.options.kind.name) flow), "
                + "dissipation defect \(e2(s.dissipationDefect)) (L(0) − L(T) = ∫ −g·θ' dt)"
        // A continued run: this part's wall time and the whole run's (summary.json's wallSeconds), labelled.
        let parts = (resolved.flow.segments?.count ?? 0) + 1
        let seconds = earlier == nil || parts < 2 ? "\(g(s.wallSeconds, 3)) s"
            : "\(g(partSeconds, 3)) s this part, \(g(s.wallSeconds, 3)) s in all \(parts) parts"
        let report = "\(s.status.rawValue) \(outPath): t = \(g(s.finalTime, 6)), loss \(g(s.initialLoss, 6)) → \(g(s.finalLoss, 6)), "
            + "\(s.events) events, \(s.steps) steps (\(usage)), \(seconds)\n  \(accuracy)"
        guard printed else { return solution.status }
        switch solution.status {
        case .completed:
            CommandOutput.line(report)
            if let note = solution.repeatedSlidesNote { CommandOutput.line("  note: " + note) }
        case .failed:
            CommandOutput.line(report)
            throw RunFailure(message: "numerical failure: \(solution.message ?? "unknown"); the last good state is in \(outPath)/summary.json",
                             status: solution.failure?.exitStatus ?? 1)
        case .interrupted:
            CommandOutput.line(report)
            throw RunFailure(message: "interrupted by \(Interrupt.signalName) at t = \(s.finalTime); continue with: reluflow simulate --resume \(outPath)",
                             status: Interrupt.exitStatus)
        case .stopped:
            CommandOutput.line(report)
            throw RunFailure(message: "\(solution.message ?? "stopped by its work budget"); the state there is in \(outPath)", status: 1)
        }
        return solution.status
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
        try c.flow.applyBudget(maxRhsEvaluations: maxRhsEvaluations, maxWallSeconds: maxWallSeconds)
        if c.network.layers != nil {
            try applyDeepOverrides(&c)
            return
        }
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

    /// The network options on a deep network (network.layers): --seed and --init-scheme set
    /// network.init; --width, --scale and --bias-scale, which belong to the shallow network, are
    /// refused rather than ignored (found by a new-user trial: a seed loop gave identical runs).
    private func applyDeepOverrides(_ c: inout RunConfig) throws {
        if width != nil {
            throw InputError("--width", "a deep network's widths are network.layers (d, hidden widths …, 1); change them in the config")
        }
        for (flag, given) in [("--scale", scale != nil), ("--bias-scale", biasScale != nil)] where given {
            throw InputError(flag, "belongs to the shallow network's initialisation; a deep network (network.layers) takes "
                             + "network.init.scheme (\(DeepInitSpec.Scheme.names)) and network.init.std with the normal scheme")
        }
        guard seed != nil || initScheme != nil else { return }
        if c.network.weights != nil {
            throw InputError(seed != nil ? "--seed" : "--init-scheme", "the config gives network.weights explicitly; remove them to draw θ(0)")
        }
        var spec = c.network.deepInitialization ?? DeepInitSpec()
        if let seed {
            guard let value = UInt64(seed) else {
                throw InputError("--seed", "'\(seed)' is not a whole number ≥ 0")
            }
            spec.seed = value
        }
        if let initScheme {
            guard let scheme = DeepInitSpec.Scheme(rawValue: initScheme) else {
                throw InputError("--init-scheme", "unknown scheme '\(initScheme)' for a deep network (known: \(DeepInitSpec.Scheme.names))")
            }
            spec.scheme = scheme
        }
        c.network.deepInitialization = spec
    }
}
