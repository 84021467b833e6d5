import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow sweep GRID.json --out DIR`: many runs of one command, locally or as a Slurm job array.
struct SweepSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a grid of simulate, train, curvature or compare runs into one sweep folder (resumable; sharded; Slurm).",
        discussion: """
            GRID.json: {"command": "simulate", "base": {config}, "axes": {"network.init.seed": [0, 1, 2]}, "mode": "product"} \
            ("zip": the k-th values together). The folder gets grid.json, manifest.json (run ids, axis values, hashes of \
            the resolved configs) and runs/<id>/, one complete run folder each. Rerunning skips complete runs, \
            continues interrupted ones from their checkpoints (from their start with --restart-interrupted) and runs failed ones again only with --retry-failed; a changed grid is refused (--extend adds runs). \
            The shard comes from --shard or from a job array's environment (SLURM_ARRAY_TASK_ID/COUNT, SGE_TASK_*, \
            or PBS_ARRAY_INDEX/PBS_ARRAYID with the array's size as --shards N: task i runs shard i mod N). \
            Exit status: 0 every run of the shard complete, 1 some failed (listed), 2 bad input, 3 a file could not be \
            written, 130/143/129 interrupted (rerun the same command to continue).
            """)

    @Argument(help: "The grid file (JSON).")
    var grid: String

    @Option(help: "The sweep folder (default: sweeps/<grid name>).")
    var out: String?

    @Option(parsing: .unconditional, help: "Worker processes at once (default: SLURM_CPUS_PER_TASK in a Slurm job, else the number of cores).")
    var jobs: WholeNumber?

    @Option(help: ArgumentHelp("Run only every N-th run from I (0 ≤ I < N).", valueName: "I/N"))
    var shard: String?

    @Flag(help: "Analyse every run (reluflow analyze) after it completes; collect then adds the analysis figures.")
    var analyze = false

    @Flag(help: "Run again the runs that failed before.")
    var retryFailed = false

    @Flag(help: "Run interrupted runs again from their start instead of continuing them from their checkpoints (simulate --resume): the table is then the uninterrupted sweep's, figures bitwise (a continuation agrees to the integration's tolerance), but a run longer than a time limit never finishes.")
    var restartInterrupted = false

    @Flag(help: "Accept a grid that adds runs to the sweep in --out (every earlier run unchanged).")
    var extend = false

    @Flag(help: "No progress bar.")
    var quiet = false

    @Flag(help: "Run simulate and train runs inside this process, --jobs at once on threads, instead of a worker process each: the same run folders (issue 22: no process start per run, for many small runs). A crash then ends the sweep, not one run (rerun to continue).")
    var inProcess = false

    @Flag(help: "Write DIR/sweep.sbatch (a job array over shards) and DIR/collect.sbatch, submit both (collect after the array).")
    var slurm = false

    @Flag(help: "With --slurm: write the scripts without submitting them.")
    var dryRun = false

    @Option(parsing: .unconditional, help: "With --slurm: array tasks (default: min(runs, 100)). In a PBS array job: the array's number of tasks (N consecutive indices; task i runs shard i mod N).")
    var shards: WholeNumber?

    @Option(parsing: .unconditional, help: "With --slurm: at most this many tasks at once (%K; default: all).")
    var throttle: WholeNumber?

    @Option(help: "With --slurm: #SBATCH --partition.")
    var partition: String?

    @Option(help: "With --slurm: #SBATCH --time (per task).")
    var time: String?

    @Option(help: "With --slurm: #SBATCH --mem (per task).")
    var mem: String?

    @Option(parsing: .unconditional, help: "With --slurm: #SBATCH --cpus-per-task (each task's worker processes; default 1).")
    var cpusPerTask: WholeNumber?

    @Option(parsing: .unconditionalSingleValue, help: ArgumentHelp("With --slurm: a further #SBATCH line (repeatable), e.g. '--account=abc'.", valueName: "line"))
    var sbatchLine: [String] = []

    func run() throws {
        let sweepGrid = try SweepGrid.load(path: grid)
        if analyze && sweepGrid.command.summaryFile != "summary.json" {
            throw InputError("--analyze", "analyses run folders; the runs of a `\(sweepGrid.command.name)` sweep are not (leave --analyze out)")
        }
        let gridBytes = try RunFolder.readFile(grid)
        let outPath = out ?? "sweeps/" + ((grid as NSString).lastPathComponent as NSString).deletingPathExtension
        let givenShard = try shard.map { try SweepShard(parsing: $0) }
        if let jobs, jobs.value < 1 { throw InputError("--jobs", "must be at least 1") }
        if !slurm {
            if shards != nil, givenShard != nil { throw InputError("--shards", "is the size of a PBS array; --shard I/N already names the shard") }
            let pbs = ["PBS_ARRAY_INDEX", "PBS_ARRAYID"].contains { !(ProcessInfo.processInfo.environment[$0] ?? "").isEmpty }
            if shards != nil, !pbs {
                throw InputError("--shards", "belongs to --slurm, or to a PBS array job (PBS_ARRAY_INDEX or PBS_ARRAYID set)")
            }
            for (name, given) in [("--dry-run", dryRun), ("--throttle", throttle != nil), ("--partition", partition != nil),
                                  ("--time", time != nil), ("--mem", mem != nil), ("--cpus-per-task", cpusPerTask != nil),
                                  ("--sbatch-line", !sbatchLine.isEmpty)] where given {
                throw InputError(name, "belongs to --slurm")
            }
        }
        // Every refusal before the folder is prepared: a refused command leaves nothing behind.
        let env = ProcessInfo.processInfo.environment
        let chosenShard = slurm ? .whole : try givenShard ?? SweepShard.fromEnvironment(env, pbsCount: shards?.value) ?? .whole
        if slurm, let shards, shards.value < 1 { throw InputError("--shards", "must be at least 1") }
        let started = Date()
        let expansion = try sweepGrid.expand()
        let expandSeconds = Date().timeIntervalSince(started)
        let folder = try SweepFolder.prepare(outPath, gridBytes: gridBytes, manifest: expansion, extend: extend)
        if !folder.removedDerived.isEmpty {
            FileHandle.standardError.write(Data(("note: removed \(folder.removedDerived.joined(separator: ", ")) of the sweep before --extend "
                                                 + "(they do not describe the added runs; collect and plot write them again)\n").utf8))
        }
        if slurm { return try submit(folder: folder) }

        let executor = SweepExecutor(folder: folder, grid: sweepGrid, expansion: expansion, executable: Self.executablePath())
        executor.jobs = jobs?.value ?? env["SLURM_CPUS_PER_TASK"].flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        executor.shard = chosenShard
        executor.analyze = analyze
        executor.retryFailed = retryFailed
        executor.resumeInterrupted = !restartInterrupted
        executor.shouldStop = { Interrupt.requested }
        executor.stopSignal = { Interrupt.signalNumber == 0 ? SIGTERM : Interrupt.signalNumber }
        if inProcess {
            // What a worker process gets (SweepExecutor.spawn): OpenBLAS, loaded on first use, with
            // one thread per run, since the runs are the parallelism.
            setenv("OPENBLAS_NUM_THREADS", "1", 0)
            executor.inProcess = InProcessWorker.make
        }
        let bar = SweepProgressBar(quiet: quiet)
        executor.progress = bar.show
        let outcome = try executor.run()
        bar.clear()

        let shardText = chosenShard == .whole ? "" : " (shard \(chosenShard))"
        var line = "sweep \(outPath)\(shardText): \(outcome.progress.total) runs: \(outcome.ran) ran"
        var ranNotes: [String] = []
        if outcome.resumed > 0 { ranNotes.append("\(outcome.resumed) of them continued from their checkpoints") }
        if outcome.withFailedMethod > 0 {
            // (A simulate run exits 1 over a complete folder when its work budget stopped it.)
            ranNotes.append(folder.manifest.command == "compare"
                ? "\(outcome.withFailedMethod) with a failed method: its METHOD.status and METHOD.reason in compare.json, collect's sweep.csv"
                : "\(outcome.withFailedMethod) stopped by their work budget (flow.maxRhsEvaluations): status stopped in summary.json, collect's sweep.csv")
        }
        if outcome.retriedCompleted > 0 { ranNotes.append("\(outcome.retriedCompleted) retried after an earlier failure") }
        if !ranNotes.isEmpty { line += " (" + ranNotes.joined(separator: "; ") + ")" }
        line += ", \(outcome.skipped) already complete, \(outcome.failures.count) failed"
        if outcome.retriedFailedAgain > 0 {
            line += " (\(outcome.retriedFailedAgain) retried and failed again)"
        }
        if outcome.interrupted > 0 { line += ", \(outcome.interrupted) interrupted" }
        if outcome.notStarted > 0 { line += ", \(outcome.notStarted) not started" }
        if outcome.busy > 0 { line += ", \(outcome.busy) being run by another process" }
        let handled = Double(max(1, outcome.ran + outcome.skipped + outcome.failures.count))
        line += String(format: " (expansion %.3g s; bookkeeping %.3g ms per run, %.3g ms CPU)", expandSeconds,
                       1e3 * outcome.bookkeepingSeconds / handled, 1e3 * outcome.bookkeepingCPUSeconds / handled)
        print(line)
        for failure in outcome.failures.prefix(20) {
            let values = zip(folder.manifest.axes, failure.values).map { "\($0) = \($1.text)" }.joined(separator: ", ")
            print("  failed \(failure.id) (\(values)): \(failure.message)")
        }
        if outcome.failures.count > 20 { print("  … and \(outcome.failures.count - 20) more (see \(outPath)/failures/)") }
        if Interrupt.requested {
            throw RunFailure(message: "interrupted by \(Interrupt.signalName); the runs in flight are written as interrupted; "
                             + "rerun the same command to continue", status: Interrupt.exitStatus)
        }
        if !outcome.failures.isEmpty {
            throw RunFailure(message: "\(outcome.failures.count) run(s) failed (records in \(outPath)/failures/; rerun with --retry-failed)", status: 1)
        }
    }

    /// `--slurm`: the scripts written into the sweep folder, then submitted (unless --dry-run).
    private func submit(folder: SweepFolder) throws {
        let count = folder.manifest.runs.count
        let tasks = min(shards?.value ?? min(count, 100), count)
        guard tasks >= 1 else { throw InputError("--shards", "must be at least 1") }
        var script = SlurmScript(executable: Self.executablePath(), grid: RunFolder.absoluteOutputPath(grid),
                                 folder: RunFolder.absoluteOutputPath(folder.path), tasks: tasks)
        script.throttle = throttle?.value
        script.partition = partition
        script.time = time
        script.mem = mem
        script.cpusPerTask = cpusPerTask?.value
        script.extraLines = sbatchLine
        script.sweepOptions = (analyze ? ["--analyze"] : []) + (retryFailed ? ["--retry-failed"] : [])
            + (restartInterrupted ? ["--restart-interrupted"] : []) + (inProcess ? ["--in-process"] : []) + ["--quiet"]
        try FileManager.default.createDirectory(atPath: (folder.path as NSString).appendingPathComponent("logs"), withIntermediateDirectories: true)
        try RunFolder.add([("sweep.sbatch", Data(script.sweepScript.utf8)), ("collect.sbatch", Data(script.collectScript.utf8))],
                          to: folder.path, field: "--out")
        let sweepPath = (folder.path as NSString).appendingPathComponent("sweep.sbatch")
        let collectPath = (folder.path as NSString).appendingPathComponent("collect.sbatch")
        print("written: \(sweepPath), \(collectPath) (\(count) runs in \(tasks) array tasks)")
        if dryRun {
            print("submit with: jobid=$(sbatch --parsable \(sweepPath)) && sbatch --dependency=afterany:${jobid%%;*} \(collectPath)")
            return
        }
        guard let sbatch = Self.onPath("sbatch") else {
            throw InputError("--slurm", "sbatch is not on PATH (no Slurm here?); the scripts are written: submit them on the cluster with "
                             + "jobid=$(sbatch --parsable \(sweepPath)) && sbatch --dependency=afterany:${jobid%%;*} \(collectPath)")
        }
        let arrayJob = try Self.sbatch(sbatch, ["--parsable", sweepPath])
        let collectJob = try Self.sbatch(sbatch, ["--parsable", "--dependency=afterany:\(arrayJob)", collectPath])
        print("submitted: array job \(arrayJob) (\(tasks) tasks), collect job \(collectJob) after it")
        print("follow with: squeue -j \(arrayJob),\(collectJob); logs in \(folder.path)/logs/; "
              + "the table appears in \(folder.path)/sweep.csv when job \(collectJob) has run")
        print("resubmit the same command to continue runs a time limit or preemption stopped")
    }

    /// `sbatch ARGS`: the job id it prints (`--parsable`: "id" or "id;cluster").
    static func sbatch(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw FileError(path: path, action: "run", error: error) }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard process.terminationStatus == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw RunFailure(message: "sbatch \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus)): "
                             + errors.trimmingCharacters(in: .whitespacesAndNewlines), status: 1)
        }
        return id
    }

    static func onPath(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// This executable's absolute path (the workers run it).
    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// The sweep's progress on stderr: a self-overwriting bar on a terminal, otherwise (a batch log)
/// one line every 30 seconds.
final class SweepProgressBar: @unchecked Sendable {
    let quiet: Bool
    let terminal: Bool
    private var lastLine = Date.distantPast

    init(quiet: Bool) {
        self.quiet = quiet
        terminal = isatty(STDERR_FILENO) != 0
    }

    func show(_ p: SweepExecutor.Progress) {
        guard !quiet else { return }
        if !terminal {
            guard Date().timeIntervalSince(lastLine) >= 30 else { return }
            lastLine = Date()
        }
        let width = 24
        let filled = p.total == 0 ? width : min(width, width * (p.done + p.failed) / max(1, p.total))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var text = "[\(bar)] \(p.done)/\(p.total) done, \(p.failed) failed, \(p.running) running"
        if let eta = p.eta { text += ", ETA " + Self.duration(eta) }
        FileHandle.standardError.write(Data((terminal ? "\r" + text + "\u{1B}[K" : text + "\n").utf8))
    }

    func clear() {
        guard !quiet, terminal else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.0fs", s) }
        if s < 3600 { return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) }
        return String(format: "%dh%02dm", Int(s) / 3600, (Int(s) % 3600) / 60)
    }
}
