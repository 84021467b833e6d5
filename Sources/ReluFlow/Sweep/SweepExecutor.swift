import Foundation

/// Which runs of a sweep one process runs: every `count`-th run of the manifest, from `index`
/// (`--shard I/N`, or the array variables of a batch scheduler). The shards 0/N … (N−1)/N
/// partition the sweep.
public struct SweepShard: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public static let whole = SweepShard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// `I/N` with 0 ≤ I < N; anything else is an `InputError` naming `field`.
    public init(parsing text: String, field: String = "--shard") throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw InputError(field, "'\(text)' is not I/N (e.g. 0/4: the first of four shards)")
        }
        guard n >= 1 else { throw InputError(field, "the number of shards must be at least 1 (got \(n))") }
        guard i >= 0, i < n else { throw InputError(field, "shard \(i) is out of range: shards of \(n) are numbered 0 to \(n - 1)") }
        self.init(index: i, count: n)
    }

    /// The shard a job array's task runs, from its environment: Slurm (`SLURM_ARRAY_TASK_ID` with
    /// `SLURM_ARRAY_TASK_COUNT`, or the array's bounds `SLURM_ARRAY_TASK_MIN`/`MAX`) or Grid Engine
    /// (`SGE_TASK_ID`, `SGE_TASK_FIRST`, `SGE_TASK_LAST`, `SGE_TASK_STEPSIZE`) or PBS (PBS Pro's
    /// `PBS_ARRAY_INDEX`, Torque's `PBS_ARRAYID`); nil outside an array. A task id outside its
    /// bounds is an `InputError` naming the variable.
    ///
    /// PBS gives a task its index only, not the array's size nor its first index (`-J 0-9` and
    /// `-J 1-10` are both common): the size comes from `pbsCount` (`--shards N`), and task i runs
    /// shard i mod N. Any N consecutive indices a, …, a + N − 1 meet every residue mod N exactly
    /// once, so the tasks of an array of N consecutive indices partition the sweep whatever a is.
    /// (An array with a step, `-J 1-19:2`, is not consecutive: give `--shard I/N` there.)
    public static func fromEnvironment(_ env: [String: String], pbsCount: Int? = nil) throws -> SweepShard? {
        func number(_ name: String) throws -> Int? {
            guard let text = env[name], !text.isEmpty, text != "undefined" else { return nil }
            guard let v = Int(text) else { throw InputError(name, "'\(text)' is not a whole number") }
            return v
        }
        if let id = try number("SLURM_ARRAY_TASK_ID") {
            let low = try number("SLURM_ARRAY_TASK_MIN") ?? 0
            let count: Int
            if let c = try number("SLURM_ARRAY_TASK_COUNT"), low == 0 { count = c } else if let high = try number("SLURM_ARRAY_TASK_MAX") {
                count = high - low + 1
            } else if let c = try number("SLURM_ARRAY_TASK_COUNT") { count = c } else {
                throw InputError("SLURM_ARRAY_TASK_COUNT", "is not set: cannot tell how many shards the array has (give --shard I/N)")
            }
            guard id - low >= 0, id - low < count else {
                throw InputError("SLURM_ARRAY_TASK_ID", "\(id) lies outside the array's \(count) tasks from \(low) (give --shard I/N)")
            }
            return SweepShard(index: id - low, count: count)
        }
        if let id = try number("SGE_TASK_ID") {
            let first = try number("SGE_TASK_FIRST") ?? 1, step = try number("SGE_TASK_STEPSIZE") ?? 1
            guard let last = try number("SGE_TASK_LAST") else { throw InputError("SGE_TASK_LAST", "is not set (give --shard I/N)") }
            guard step >= 1 else { throw InputError("SGE_TASK_STEPSIZE", "must be at least 1") }
            let count = (last - first) / step + 1, index = (id - first) / step
            guard index >= 0, index < count, (id - first) % step == 0 else {
                throw InputError("SGE_TASK_ID", "\(id) is not a task of \(first)-\(last):\(step) (give --shard I/N)")
            }
            return SweepShard(index: index, count: count)
        }
        for name in ["PBS_ARRAY_INDEX", "PBS_ARRAYID"] {
            guard let id = try number(name) else { continue }
            guard let count = pbsCount else {
                throw InputError("--shards", "is needed in a PBS array job (\(name) = \(id)): PBS gives a task its index but not "
                                 + "the array's size; give the number of tasks with --shards N (or --shard I/N)")
            }
            guard count >= 1 else { throw InputError("--shards", "must be at least 1") }
            guard id >= 0 else { throw InputError(name, "\(id) is negative") }
            return SweepShard(index: id % count, count: count)
        }
        return nil
    }

    public func contains(_ k: Int) -> Bool { k % count == index }

    public var description: String { "\(index)/\(count)" }
}

/// The local executor of a sweep (`reluflow sweep`): runs the runs of one shard that are not
/// complete, `jobs` worker processes at a time, each this same `reluflow` executable running the
/// sweep's command into `runs/<id>/`. A run is taken only under its lock (`RunLock`), and only
/// when its folder says it is not done (`SweepFolder.state`), so that executors may run at once
/// on one sweep (shards, a resubmitted array) and a rerun does only what is left: interrupted runs
/// continue from their checkpoints (`simulate --resume`; a command without a continuation runs
/// again from its start), failed ones only with `retryFailed`.
///
/// Continuing is the default because a run longer than a scheduler's time limit would otherwise
/// never finish. A continuation starts the stepper afresh at the checkpoint (its step size, the
/// `auto` rule's history, the step ends are not those the uninterrupted run had there), so its
/// figures agree with an uninterrupted run's to the integration's tolerance, not bitwise.
/// `resumeInterrupted = false` runs interrupted runs again from their start instead: a run is a
/// deterministic function of its config, so the sweep's table is then the uninterrupted one's,
/// figures bitwise, whenever it was stopped.
///
/// A stop request (`shouldStop`: SIGINT/SIGTERM/SIGHUP) launches nothing more and passes the
/// signal on to the workers still running (they live in their own process group, so a terminal's
/// Ctrl-C reaches them once, through here; a worker signalled directly, as by a scheduler, has half
/// a second to end first), which write their folders as interrupted.
public final class SweepExecutor: @unchecked Sendable {
    public struct Progress: Sendable {
        public var total = 0
        /// Runs complete (done before, or by this executor).
        public var done = 0
        public var failed = 0
        public var running = 0
        /// Runs left to this executor that it has not taken yet.
        public var pending = 0
        /// Seconds since the first launch and runs finished by this executor since.
        public var elapsed = 0.0
        public var finishedHere = 0
        /// Estimated seconds left (nil until a run has finished here).
        public var eta: Double? {
            guard finishedHere > 0 else { return nil }
            return elapsed / Double(finishedHere) * Double(pending + running)
        }
    }

    public struct Failure: Sendable {
        public let id: String
        public let values: [JSONValue]
        public let message: String
    }

    public struct Outcome: Sendable {
        public var progress = Progress()
        /// Runs this executor completed (run or resumed to the end) and analysed.
        public var ran = 0
        /// Runs complete before it started.
        public var skipped = 0
        /// Of `ran`: interrupted runs this executor continued from their checkpoints (`simulate
        /// --resume`) rather than ran from their start; a checkpoint without progress does not count.
        public var resumed = 0
        /// Of `ran`: complete runs whose worker exited 1 because one of their methods failed (a
        /// `compare` whose flow failed numerically): the run's output is complete (its summary's
        /// status `completed`), the failure is the method's (`METHOD.status` in the table); for
        /// `simulate`, a flow stopped by its work budget (status `stopped`, the run its config asks for).
        public var withFailedMethod = 0
        /// Failed runs of the shard (new failures and earlier ones not retried), in the manifest's order.
        public var failures: [Failure] = []
        /// Runs that had failed before this executor and were run again (`retryFailed`): of them,
        /// those now complete (counted in `ran`) and those that failed again (in `failures`).
        public var retriedCompleted = 0
        public var retriedFailedAgain = 0
        /// Runs in flight at a stop request (written as interrupted), and runs not started because of it.
        public var interrupted = 0
        public var notStarted = 0
        /// Runs whose lock another process held.
        public var busy = 0
        /// Seconds spent by this executor outside waiting for workers (expansion excluded): wall
        /// time, and CPU time of its thread.
        public var bookkeepingSeconds = 0.0
        public var bookkeepingCPUSeconds = 0.0
    }

    public let folder: SweepFolder
    public let command: any SweepCommand
    public let executable: String
    public var jobs = 1
    public var shard = SweepShard.whole
    public var analyze = false
    public var retryFailed = false
    /// Continue interrupted runs from their checkpoints (`reluflow simulate --resume`) rather than
    /// running them again from the start (see above).
    public var resumeInterrupted = true
    /// Extra arguments for every worker of a fresh run (e.g. `--checkpoint-every 10` for simulate).
    public var workerArguments: [String] = []
    /// Seconds to wait for runs of the shard that other processes hold before giving up on them
    /// (they are then reported as `busy`).
    public var waitForOthers = 3600.0
    public var shouldStop: @Sendable () -> Bool = { false }
    /// The signal passed on to the workers at a stop request.
    public var stopSignal: @Sendable () -> Int32 = { SIGTERM }
    public var progress: (Progress) -> Void = { _ in }
    /// A run of a worker's command in this process (`reluflow sweep --in-process`): given the
    /// arguments a worker process would get (`simulate --config C --out D --quiet`, `simulate
    /// --resume D --quiet`, …), the work that runs them here, writing what the worker would print
    /// to the log file it is given and returning the worker's exit status; nil for arguments it
    /// does not run here (a worker process is then spawned as without it). The run folders, the
    /// failure records and the manifest are the spawned mode's: the same command code writes them,
    /// only the process start, dynamic loading and argument parsing are not paid per run. Such a
    /// run is taken under its lock as a worker is (the lock stays with the executor until the run
    /// ends), stops at the executor's stop request through its own `shouldStop`, and runs on a
    /// thread of its own, at most `jobs` at once. What it does not have: a crash (a failed
    /// precondition) ends the whole sweep, not one worker; a rerun continues from the folders.
    public var inProcess: ((_ arguments: [String]) -> InProcessRun?)? = nil
    public typealias InProcessRun = @Sendable (_ log: String) -> Int32
    /// Negative ids of in-process runs in `active` (worker pids are positive).
    private var lastInProcessId: pid_t = 0

    public let grid: SweepGrid
    private let gridIndex: [String: Int]

    /// `expansion` is the grid's own (`grid.expand()`), of which the folder's manifest is the same
    /// runs or a part (an earlier manifest is never larger: `SweepFolder.prepare`).
    public init(folder: SweepFolder, grid: SweepGrid, expansion: SweepManifest, executable: String) {
        self.folder = folder
        self.grid = grid
        self.command = grid.command
        self.executable = executable
        gridIndex = Dictionary(expansion.runs.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    private enum Step { case run, resume, analyze }

    private struct Active {
        let index: Int
        let run: SweepManifest.Run
        var step: Step
        let lock: Int32
        var pid: pid_t
        var forwarded = false
        /// Continued from its checkpoint (the step was `.resume`, before any analysis).
        var resumed = false
        /// Failed before this executor and run again (`retryFailed`).
        var retried = false
    }

    /// Runs the shard; returns what happened (the caller turns failures and a stop into its exit status).
    public func run() throws -> Outcome {
        var outcome = Outcome()
        let runs = folder.manifest.runs
        var queue = runs.indices.filter { shard.contains($0) }[...]
        var deferred: [Int] = []
        var waitingSince: Date? = nil
        outcome.progress.total = queue.count
        outcome.progress.pending = queue.count
        try RunFolder.makeDirectory(folder.runsPath)
        try RunFolder.makeDirectory(folder.workPath)
        // Staging folders of killed runs, listed once (a run killed after this moment is found by the next sweep).
        let staged = folder.stagedRuns()

        let finished = FinishedQueue()
        var active: [pid_t: Active] = [:]
        var started: Date? = nil
        var stopAt: Date? = nil
        var lastReport = Date.distantPast
        let clock = BookkeepingClock()

        func report(force: Bool = false) {
            let now = Date()
            guard force || now.timeIntervalSince(lastReport) >= 0.2 else { return }
            lastReport = now
            outcome.progress.running = active.count
            outcome.progress.elapsed = started.map { now.timeIntervalSince($0) } ?? 0
            progress(outcome.progress)
        }

        func spawnStep(_ a: inout Active) throws {
            let out = folder.runPath(a.run.id)
            let arguments: [String]
            switch a.step {
            case .run:
                let configPath = (folder.workPath as NSString).appendingPathComponent("\(a.run.id).json")
                try RunFolder.writeFile(configPath, Data(try configText(ofRun: a.index).utf8))
                arguments = command.arguments(config: configPath, out: out) + workerArguments
            case .resume:
                arguments = command.resumeArguments(folder: out)
            case .analyze:
                arguments = ["analyze", out]
            }
            let log = (folder.workPath as NSString).appendingPathComponent("\(a.run.id).log")
            if let work = inProcess?(arguments) {
                lastInProcessId -= 1
                a.pid = lastInProcessId
                let id = a.pid, append = a.step == .analyze
                if !append {
                    let fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                    guard fd >= 0 else { throw FileError(path: log, action: "create", reason: String(cString: strerror(errno))) }
                    Glibc.close(fd)
                }
                let thread = Thread {
                    let code = work(log)
                    finished.push(id, (code & 0xff) << 8)   // a wait status: exited with `code`
                }
                thread.stackSize = 8 << 20
                thread.start()
                return
            }
            a.pid = try Self.spawn(executable, arguments, log: log, lock: a.lock, append: a.step == .analyze)
            let pid = a.pid
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                finished.push(pid, status)
            }
        }

        func close(_ a: Active) {
            let work = folder.workPath as NSString
            unlink(work.appendingPathComponent("\(a.run.id).json"))
            unlink(work.appendingPathComponent("\(a.run.id).log"))
            Glibc.close(a.lock)
        }

        func fail(_ a: Active, _ message: String) {
            let log = (folder.workPath as NSString).appendingPathComponent("\(a.run.id).log")
            let output = (try? RunFolder.readFile(log)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            try? RunFolder.makeDirectory(folder.failuresPath)
            let values = zip(folder.manifest.axes, a.run.values).map { "\($0) = \($1.text)" }.joined(separator: ", ")
            try? RunFolder.writeFile(folder.failurePath(a.run.id), Data("\(message)\nrun \(a.run.id): \(values)\n\(output)".utf8))
            let last = output.split(separator: "\n").last { $0.hasPrefix("reluflow:") }.map(String.init) ?? output.split(separator: "\n").last.map(String.init) ?? ""
            outcome.failures.append(Failure(id: a.run.id, values: a.run.values, message: last.isEmpty ? message : "\(message): \(last)"))
            outcome.progress.failed += 1
            if a.retried { outcome.retriedFailedAgain += 1 }
        }

        while true {
            clock.start()
            if stopAt == nil, shouldStop() { stopAt = Date() }
            if let stopAt, Date().timeIntervalSince(stopAt) > 0.5 {
                // In-process runs (negative ids) see the stop request themselves.
                for (pid, a) in active where !a.forwarded && pid > 0 {
                    kill(pid, stopSignal())
                    active[pid]!.forwarded = true
                }
            }
            // Finished workers.
            while let (pid, status) = finished.pop() {
                guard var a = active.removeValue(forKey: pid) else { continue }
                let exited = (status & 0x7f) == 0, code = (status >> 8) & 0xff, signal = status & 0x7f
                if exited && code == 0 && a.step != .analyze && analyze && stopAt == nil {
                    a.step = .analyze
                    do {
                        try spawnStep(&a)
                        active[a.pid] = a
                        continue
                    } catch {
                        fail(a, "reluflow analyze could not start (\(error))")
                        close(a)
                        continue
                    }
                }
                outcome.progress.finishedHere += 1
                if exited && code == 0 && (a.step == .analyze || !analyze) {
                    outcome.ran += 1
                    if a.retried { outcome.retriedCompleted += 1 }
                    if a.resumed && command.continuedEarlierWork(in: folder.runPath(a.run.id)) { outcome.resumed += 1 }
                    outcome.progress.done += 1
                    unlink(folder.failurePath(a.run.id))
                } else if exited && code == 1 && a.step != .analyze
                            && folder.state(of: a.run, command: command, checkLock: false) == .completed {
                    // The folder decides, as for every later sweep: a complete output whose worker
                    // reported a failed method (`reluflow compare` exits 1 then, with every method's
                    // results written) is a complete run, not one to retry.
                    outcome.ran += 1
                    outcome.withFailedMethod += 1
                    if a.retried { outcome.retriedCompleted += 1 }
                    outcome.progress.done += 1
                    unlink(folder.failurePath(a.run.id))
                } else if (exited && code == 0) || (exited && [129, 130, 143].contains(code)) || (!exited && signal != 0) {
                    // Stopped by a signal (ours or the scheduler's): the run is interrupted, not failed.
                    outcome.interrupted += 1
                } else {
                    let what = a.step == .analyze ? "reluflow analyze" : "reluflow \(command.name)"
                    fail(a, exited ? "\(what) exited with status \(code)" : "\(what) was killed by signal \(signal)")
                }
                close(a)
            }
            // New runs.
            while stopAt == nil, active.count < jobs, let k = queue.popFirst() {
                outcome.progress.pending = queue.count
                let run = runs[k]
                guard let lock = try RunLock.acquire(sweep: folder.path, id: run.id) else {
                    // Another process runs it: looked at again once the rest is done (and its state
                    // then decides), so that a finished executor leaves no run of its shard running.
                    deferred.append(k)
                    continue
                }
                let state = folder.state(of: run, command: command, analyze: analyze, checkLock: false, staged: staged)
                var step: Step
                switch state {
                case .completed:
                    outcome.skipped += 1
                    outcome.progress.done += 1
                    Glibc.close(lock)
                    continue
                case .failed where !retryFailed:
                    let record = (try? RunFolder.readFile(folder.failurePath(run.id))).map { String(decoding: $0, as: UTF8.self) }
                    outcome.failures.append(Failure(id: run.id, values: run.values,
                                                    message: "failed earlier (\(record?.split(separator: "\n").first.map(String.init) ?? "status failed in its summary.json")); "
                                                        + "rerun with --retry-failed"))
                    outcome.progress.failed += 1
                    Glibc.close(lock)
                    continue
                case .unanalysed: step = .analyze
                case .interrupted: step = command.resumable && resumeInterrupted ? .resume : .run
                case .failed, .missing, .stale, .running: step = .run
                }
                if started == nil { started = Date() }
                var a = Active(index: k, run: run, step: step, lock: lock, pid: 0)
                a.resumed = step == .resume
                a.retried = state == .failed
                do {
                    try spawnStep(&a)
                } catch {
                    Glibc.close(lock)
                    throw error
                }
                active[a.pid] = a
            }
            clock.stop()
            report()
            if active.isEmpty && queue.isEmpty && !deferred.isEmpty && stopAt == nil {
                if waitingSince == nil { waitingSince = Date() }
                if Date().timeIntervalSince(waitingSince!) > waitForOthers {
                    outcome.busy = deferred.count
                    deferred.removeAll()
                } else {
                    usleep(200_000)
                    queue = deferred[...]
                    deferred.removeAll()
                    continue
                }
            }
            if active.isEmpty && (queue.isEmpty || stopAt != nil) { break }
            finished.wait(seconds: 0.1)
        }
        outcome.notStarted = stopAt == nil ? 0 : queue.count + deferred.count
        outcome.progress.pending = 0
        report(force: true)
        outcome.bookkeepingSeconds = clock.seconds
        outcome.bookkeepingCPUSeconds = clock.cpuSeconds
        // The failures in the manifest's order: they are recorded as runs end, an order that varies
        // with several jobs, and the closing report lists them.
        let position = Dictionary(runs.indices.map { (runs[$0].id, $0) }, uniquingKeysWith: { first, _ in first })
        outcome.failures.sort { position[$0.id, default: 0] < position[$1.id, default: 0] }
        // The whole sweep removes its emptied work folder; a shard leaves it. Shards of one sweep run
        // side by side (a Slurm array's tasks) and share it: another shard between two of its runs has
        // it empty for a moment, and would find it gone when it writes its next run's config.
        if shard.count == 1 { rmdir(folder.workPath) }
        return outcome
    }

    /// The config text of the manifest's run `k`, as its worker reads it: from the grid, found by
    /// the run's id (the manifest on disk keeps its order, which a grid listing the same values in
    /// another order does not change).
    private func configText(ofRun k: Int) throws -> String {
        let id = folder.manifest.runs[k].id
        guard let g = gridIndex[id] else { throw InputError("GRID", "has no run \(id) of the sweep's manifest") }
        return try grid.config(of: g).text
    }

    /// Starts `executable` with `arguments` in its own process group, stdin from /dev/null,
    /// stdout and stderr to `log`, and the run's lock as file descriptor 3 (so the lock lives as
    /// long as the worker). OpenBLAS is kept to one thread per worker unless the environment says
    /// otherwise (the executor's processes are the parallelism).
    static func spawn(_ executable: String, _ arguments: [String], log: String, lock: Int32, append: Bool) throws -> pid_t {
        let logFD = open(log, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        guard logFD >= 0 else { throw FileError(path: log, action: "create", reason: String(cString: strerror(errno))) }
        defer { Glibc.close(logFD) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        posix_spawn_file_actions_adddup2(&actions, lock, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var environment = ProcessInfo.processInfo.environment
        if environment["OPENBLAS_NUM_THREADS"] == nil { environment["OPENBLAS_NUM_THREADS"] = "1" }
        // The worker stops (as on SIGTERM) when this process is gone (reluflow's Interrupt.swift).
        environment["RELUFLOW_SWEEP_PARENT"] = String(getpid())
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0)=\($1)") } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else { throw FileError(path: executable, action: "run", reason: String(cString: strerror(status))) }
        return pid
    }
}

/// Worker exits reported by the waiting threads to the executor's loop.
final class FinishedQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(pid_t, Int32)] = []
    private let semaphore = DispatchSemaphore(value: 0)

    func push(_ pid: pid_t, _ status: Int32) {
        lock.lock()
        items.append((pid, status))
        lock.unlock()
        semaphore.signal()
    }

    func pop() -> (pid_t, Int32)? {
        lock.lock()
        defer { lock.unlock() }
        return items.isEmpty ? nil : items.removeFirst()
    }

    func wait(seconds: Double) {
        _ = semaphore.wait(timeout: .now() + seconds)
    }
}

/// Time the executor spends in its own work (the per-run overhead of the sweep machinery): wall
/// time, and the CPU time of its thread (on a loaded machine the wall time also counts the moments
/// the thread waited for a core).
final class BookkeepingClock {
    private var since: UInt64 = 0, sinceCPU = 0.0
    private(set) var seconds = 0.0, cpuSeconds = 0.0
    static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    func start() { since = DispatchTime.now().uptimeNanoseconds; sinceCPU = Self.threadCPU() }
    func stop() {
        seconds += Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
        cpuSeconds += Self.threadCPU() - sinceCPU
    }
}
