import Foundation

/// A run folder written while the run goes on (issue 4: memory that does not grow with the step
/// count). Given to `solve` as its `FlowRecorder`, it appends every sample, event and pattern
/// interval to the record files in `RunFolder`'s hidden staging folder (in parts of about 1 MB);
/// `finish` writes the final `.npy` headers (they are written first with room for any row count)
/// and the small files, and renames the folder into place. The folder therefore still appears
/// complete or not at all, and holds the same bytes as `RunExport.files` of the same solution in
/// memory. `discard` removes the staging folder (bad input found late, or an error).
public final class RunStream: FlowRecorder {
    public let path: String
    let staging: String
    private var records: RecordFiles
    private var descriptors: [Int32] = []
    /// The CSV record files' bytes hashed as they are written (`OutputMarker.contentHash`), so the
    /// marker need not read them back (issue 22); nil for the .npy files, whose header at the
    /// start is rewritten at the end.
    private var hashers: [ContentHasher?] = []
    public private(set) var failure: String?
    private var failureError: Error?
    /// Records written so far.
    public var counts: (samples: Int, events: Int, intervals: Int) { records.counts }
    /// Earlier records of a resumed run, written before this run's (see `init(path:earlier:)`).
    private var heldInterval: PatternInterval?
    private var skipFirstSample = false

    /// The run's first plateau, found as its samples and events pass (summary.json).
    let plateauFinder: FirstPlateauFinder

    /// Pending bytes at which the buffers are written out.
    let flushThreshold: Int

    /// Opens the staging folder for the run folder `path` of `problem`.
    public convenience init(path: String, problem: FlowProblem) throws {
        try self.init(path: path, problem: problem, flushThreshold: RunStream.defaultFlushThreshold)
    }

    /// Pending bytes at which the buffers are written out by default. Small enough that the
    /// buffers stay in malloc's heap (below glibc's 128 KB mmap threshold) and are reused from one
    /// part to the next, instead of doubling through fresh pages to the size of a small run's whole
    /// trajectory (each growth copies and faults in new pages); the file bytes are the same for any
    /// threshold (StreamTests).
    public static let defaultFlushThreshold = 1 << 16

    init(path: String, problem: FlowProblem, flushThreshold: Int) throws {
        self.path = path
        self.flushThreshold = flushThreshold
        records = RecordFiles(network: problem.model, points: problem.data.count, iterations: problem.training != nil,
                              kind: problem.training == nil ? problem.options.kind : .gradient)
        plateauFinder = FirstPlateauFinder(problem: problem)
        staging = try RunFolder.stage(path)
        do {
            for name in RecordFiles.names {
                let file = (staging as NSString).appendingPathComponent(name)
                let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw FileError(path: file, action: "write", reason: String(cString: strerror(errno))) }
                descriptors.append(fd)
            }
            // The .npy headers for zero rows, as long as the final ones.
            let headers = records.headers()
            hashers = headers.map { $0.isEmpty ? ContentHasher() : nil }
            for k in descriptors.indices where !headers[k].isEmpty { try append(headers[k], to: k) }
        } catch {
            discard()
            throw error
        }
    }

    /// A continuation of `earlier` (read back by `RunFolderReader.run`): its records are written
    /// first, and the continuation's are joined to them as `RunContinuation.merge` joins two
    /// solutions: the continuation's first sample (the checkpoint's state again) is dropped, and
    /// its first pattern interval (the checkpoint's pattern) extends the earlier last one. The
    /// continuation's pattern ids must already be the earlier run's (`FlowProblem.patternIds`).
    public convenience init(path: String, problem: FlowProblem, earlier: FlowSolution, flushThreshold: Int = RunStream.defaultFlushThreshold) throws {
        precondition(earlier.patterns.isEmpty || !problem.patternIds.isEmpty,
                     "a continuation's pattern ids must be the earlier run's: call RunContinuation.seed first")
        try self.init(path: path, problem: problem, flushThreshold: flushThreshold)
        for s in earlier.samples { record(s) }
        for e in earlier.events { record(e) }
        for p in earlier.patterns.dropLast() { record(p) }
        heldInterval = earlier.patterns.last
        skipFirstSample = !earlier.samples.isEmpty
        if let failure { discard(); throw failureError ?? FileError(path: path, action: "write", reason: failure) }
    }

    /// A continuation of the run in `earlier`'s folder whose records are copied from its files in
    /// parts of 1 MB (no record is parsed or held), then joined to the continuation's as by
    /// `init(path:problem:earlier:)`. `problem` must be `earlier.continuation(of:)`.
    public convenience init(path: String, problem: FlowProblem, continuing earlier: EarlierRecords, flushThreshold: Int = RunStream.defaultFlushThreshold) throws {
        precondition(problem.patternIds == earlier.patternIds, "the problem must be earlier.continuation(of:)")
        try self.init(path: path, problem: problem, flushThreshold: flushThreshold)
        do {
            try flush()   // the CSV headers first
            for (k, name) in RecordFiles.names.enumerated() {
                guard let range = earlier.ranges[k], !range.isEmpty else { continue }
                let source = (earlier.folder as NSString).appendingPathComponent(name)
                let fd = open(source, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw FileError(path: source, action: "read", reason: String(cString: strerror(errno))) }
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                var offset = range.lowerBound
                while offset < range.upperBound {
                    let wanted = min(buffer.count, range.upperBound - offset)
                    let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, wanted, off_t(offset)) }
                    guard got > 0 else { throw FileError(path: source, action: "read", reason: got < 0 ? String(cString: strerror(errno)) : "shorter than expected") }
                    try append(Array(buffer[0..<got]), to: k)
                    offset += got
                }
            }
        } catch {
            discard()
            throw error
        }
        try seedPlateauFinder(from: earlier.folder, problem: problem)
        records.continuing(samples: earlier.sampleCount, events: earlier.eventCount, intervals: earlier.intervalCount - 1,
                           pattern: earlier.patternBeforeLast, matrices: earlier.ranges[RecordFiles.names.count - 1] != nil)
        heldInterval = earlier.lastInterval
        skipFirstSample = earlier.sampleCount > 0
    }

    /// Shows the plateau finder the earlier part of a resumed run whose records are copied unread:
    /// nothing when its summary already has a first plateau that ended before the interruption
    /// (that is the run's first plateau), else its samples and events read back (the first plateau
    /// may lie ahead, or be the one in progress).
    private func seedPlateauFinder(from folder: String, problem: FlowProblem) throws {
        let summaryPath = (folder as NSString).appendingPathComponent("summary.json")
        if let bytes = try? RunFolder.readFile(summaryPath), let summary = try? JSONDecoder().decode(RunSummary.self, from: bytes),
           let first = summary.firstPlateau, !first.terminal {
            plateauFinder.seed(found: first)
            return
        }
        let (_, back) = try RunFolderReader(folder, field: "--resume").run(for: problem)
        plateauFinder.add(back)
    }

    public func record(_ sample: FlowSample) {
        if skipFirstSample { skipFirstSample = false; return }
        plateauFinder.add(sample)
        records.add(sample)
        flushIfLarge()
    }

    public func record(_ event: FlowEvent) {
        plateauFinder.add(event)
        records.add(event)
        flushIfLarge()
    }

    public func record(_ interval: PatternInterval) {
        Self.add(interval, to: &records, held: &heldInterval)
        flushIfLarge()
    }

    /// Adds `interval` to `records`, joined to the earlier run's last interval if one is held.
    private static func add(_ interval: PatternInterval, to records: inout RecordFiles, held: inout PatternInterval?) {
        var interval = interval
        if var earlier = held {
            held = nil
            if earlier.tEnd == interval.tStart && earlier.patternId == interval.patternId {
                // The continuation opens in the checkpoint's pattern: one interval with the earlier last.
                earlier.tEnd = interval.tEnd
                interval = earlier
            } else {
                // Not one interval: the continuation's first changes are from all off; restate them
                // against the earlier end, as `RunContinuation.merge` does.
                records.add(earlier)
                interval.changes = records.changes(fromAllOff: interval.changes)
            }
        }
        records.add(interval)
    }

    // MARK: Periodic checkpoints

    /// Seconds of wall time between checkpoints (0: none). A checkpoint makes the records so far
    /// resumable even if the process is then killed outright (SIGKILL, a node failure): the
    /// staging folder gets `config.json` and `data.csv`, and `ResumePoint.fileName`, which holds
    /// how long each record file was at the checkpoint and what completes it into an interrupted
    /// run folder there (`ResumePoint.recover`). Checkpoints are taken only where a sample was
    /// recorded anyway, so they change nothing in the output.
    public var checkpointInterval: Double = 0
    /// The resolved config of the run (written with the first checkpoint).
    public var config: RunConfig? { didSet { hasConfig = config != nil } }
    /// Whether `config` is set, read at every step by `wantsCheckpoint` (reading the optional
    /// config there cost 4 M instructions of `sine` to T = 1e5, 2 261 steps; callgrind).
    private var hasConfig = false
    /// The earlier part of a resumed run, whose diagnostics a checkpoint's summary adds up.
    public var earlierShell: FlowSolution?
    private var lastCheckpoint = DispatchTime.now().uptimeNanoseconds
    private var wroteConfig = false
    /// Checkpoints written so far.
    public private(set) var checkpoints = 0

    public var wantsCheckpoint: Bool {
        guard checkpointInterval > 0, hasConfig, failure == nil else { return false }
        return Double(DispatchTime.now().uptimeNanoseconds - lastCheckpoint) / 1e9 >= checkpointInterval
    }

    public func checkpoint(_ snapshot: FlowSolution, openInterval: PatternInterval) {
        lastCheckpoint = DispatchTime.now().uptimeNanoseconds
        guard let config else { return }
        do {
            try flush()
            // What completes the files at this point: the open interval's records and the final headers.
            var completed = records, held = heldInterval
            Self.add(openInterval, to: &completed, held: &held)
            if let held { completed.add(held) }
            let tails = completed.take(), headers = completed.headers()
            var solution = snapshot
            if let earlierShell { solution.diagnostics = RunContinuation.combined(earlierShell.diagnostics, solution.diagnostics) }
            solution.eventCount = completed.counts.events
            solution.patternIntervalCount = completed.counts.intervals
            let small = try RunExport.smallFiles(for: solution, config: config, firstPlateau: try? plateauFinder.result())
            if !wroteConfig {
                for (name, bytes) in small where name == "config.json" || name == "data.csv" {
                    try RunFolder.writeFile((staging as NSString).appendingPathComponent(name), bytes)
                }
                wroteConfig = true
            }
            var lengths: [Int?] = []
            for fd in descriptors {
                var info = stat()
                guard fstat(fd, &info) == 0 else { throw FileError(path: staging, action: "read", reason: String(cString: strerror(errno))) }
                lengths.append(Int(info.st_size))
            }
            let point = ResumePoint(t: snapshot.finalTime, pid: getpid(), lengths: lengths, tails: tails.map { Data($0) },
                                    headers: headers.map { Data($0) }, dropMatrices: completed.matricesDropped,
                                    summary: small.first { $0.0 == "summary.json" }!.1,
                                    checkpoint: small.first { $0.0 == "checkpoint.json" }!.1)
            try RunFolder.replaceFile((staging as NSString).appendingPathComponent(ResumePoint.fileName), try JSONEncoder().encode(point))
            checkpoints += 1
        } catch {
            failure = "a checkpoint could not be written: \(error)"
            failureError = error
        }
    }

    /// Writes the rest, the final headers and the small files, and renames the folder into place.
    public func finish(_ solution: FlowSolution, config: RunConfig) throws {
        var written: [String: OutputMarker.Written] = [:]
        do {
            if let held = heldInterval { records.add(held); heldInterval = nil }
            try flush()
            if let failure { throw failureError ?? FileError(path: path, action: "write", reason: failure) }
            let headers = records.headers()
            for k in descriptors.indices where !headers[k].isEmpty {
                try headers[k].withUnsafeBytes { raw in
                    guard pwrite(descriptors[k], raw.baseAddress, raw.count, 0) == raw.count else {
                        throw FileError(path: (staging as NSString).appendingPathComponent(RecordFiles.names[k]), action: "write", reason: String(cString: strerror(errno)))
                    }
                }
            }
            closeFiles()
            if records.matricesDropped {
                unlink((staging as NSString).appendingPathComponent("pattern_matrices.npy"))
            }
            for (k, hasher) in hashers.enumerated() {
                if let hasher { written[RecordFiles.names[k]] = OutputMarker.Written(size: Int(hasher.length), hash: hasher.value) }
            }
            for (name, bytes) in try RunExport.smallFiles(for: solution, config: config, firstPlateau: try? plateauFinder.result()) {
                try RunFolder.writeFile((staging as NSString).appendingPathComponent(name), bytes)
                written[name] = OutputMarker.Written(bytes)
            }
            unlink((staging as NSString).appendingPathComponent(ResumePoint.fileName))
        } catch {
            discard()
            throw error
        }
        try RunFolder.commit(staging, to: path, written: written)
    }

    /// Removes the staging folder; nothing is left behind.
    public func discard() {
        closeFiles()
        RunFolder.removeStaging(staging)
    }

    deinit { closeFiles() }

    private func closeFiles() {
        for fd in descriptors { close(fd) }
        descriptors = []
    }

    private func flushIfLarge() {
        guard failure == nil, records.pendingBytes >= flushThreshold else { return }
        do { try flush() } catch { failure = "\(error)"; failureError = error }
    }

    private func flush() throws {
        let dropped = records.matricesDropped
        let descriptors = descriptors, staging = staging
        try records.drain { k, bytes in
            if k == RecordFiles.names.count - 1 && dropped { return }
            hashers[k]?.add(bytes)
            try RunFolder.writeAll(bytes, to: descriptors[k], path: (staging as NSString).appendingPathComponent(RecordFiles.names[k]))
        }
    }

    private func append(_ bytes: [UInt8], to k: Int) throws {
        try bytes.withUnsafeBytes {
            hashers[k]?.add($0)
            try RunFolder.writeAll($0, to: descriptors[k], path: (staging as NSString).appendingPathComponent(RecordFiles.names[k]))
        }
    }
}
