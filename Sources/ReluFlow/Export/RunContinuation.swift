import Foundation

/// Continuing a run folder: read what an earlier (interrupted, or shorter) run wrote, integrate
/// on from its `checkpoint.json`, and merge both into one run as if it had never stopped.
public enum RunContinuation {
    /// The config of the run folder `folder`, which must exist and hold `config.json`; errors name
    /// `field` (the argument or option that gave the folder) and the folder.
    public static func config(ofRunFolder folder: String, field: String) throws -> RunConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
            throw InputError(field, "\(folder) does not exist")
        }
        guard isDirectory.boolValue else { throw InputError(field, "\(folder) is a file, not a run folder") }
        // Outputs of other commands, named for what they are.
        func has(_ name: String) -> Bool { FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(name)) }
        if has("curvature.json") || has("curvature-grid.json") {
            throw InputError(field, "\(folder) is a curvature output (reluflow curvature), not a run folder: its figures are redrawn by `reluflow plot`")
        }
        if has("manifest.json") && has("grid.json") {
            throw InputError(field, "\(folder) is a sweep folder: give one of its runs (\(folder)/runs/<id>), or tabulate it with `reluflow collect`")
        }
        let path = (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else {
            if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("wall_times.csv")) {
                throw InputError(field, "\(folder) is a compare folder: give one of its runs (\(folder)/<method>)")
            }
            throw InputError(field, "\(folder) is not a ReluFlow run folder (it has no config.json)")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw FileError(path: path, action: "read", reason: "Permission denied")
        }
        return try RunConfig.loadRecorded(path: path)
    }

    /// Reads the earlier run in `folder`: its checkpoint, and samples, events, pattern intervals and
    /// counters as recorded (CSV numbers round-trip exactly). Errors name `field` (the option or
    /// argument that gave the folder).
    public static func read(_ folder: String, problem: FlowProblem, field: String = "--resume") throws -> (checkpoint: FlowCheckpoint, earlier: FlowSolution) {
        let (checkpoint, shell) = try readHeader(folder, problem: problem, field: field)
        var earlier = shell
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        func bytes(_ name: String) throws -> Data {
            guard FileManager.default.fileExists(atPath: path(name)) else {
                throw InputError(field, "\(path(name)) is missing: \(folder) is not a ReluFlow run folder")
            }
            return try RunFolder.readFile(path(name))
        }
        let n = problem.model.hiddenUnitCount, m = problem.data.count, P = problem.model.parameterCount

        // A training run's rows start with its iteration (RecordFormat.iterations).
        let trajectory = try bytes("trajectory.csv")
        let iterations = trajectory.starts(with: Array("iteration,".utf8))
        let o = iterations ? 1 : 0
        // An adaptive flow's auxiliary columns (m, v) follow `dissipated` (RecordFormat.auxiliaryNames).
        let auxiliary = problem.training == nil
            ? problem.options.kind.law?.auxiliaryNames(parameterNames: problem.model.parameterNames).count ?? 0 : 0
        for row in try rows(trajectory, path("trajectory.csv"), field) {
            guard row.count == o + 4 + P + 1 + auxiliary, let t = Double(row[o]), let loss = Double(row[o + 1]), let grad = Double(row[o + 2]),
                  let id = Int(row[o + 3]), let dissipated = Double(row[o + 4 + P]), !iterations || Int(row[0]) != nil else {
                throw InputError(field, "\(path("trajectory.csv")) has a malformed row")
            }
            let theta = try row[(o + 4)..<(o + 4 + P)].map { v -> Double in
                guard let x = Double(v) else { throw InputError(field, "\(path("trajectory.csv")) has a malformed number '\(v)'") }
                return x
            }
            let aux = try row[(o + 5 + P)...].map { v -> Double in
                guard let x = Double(v) else { throw InputError(field, "\(path("trajectory.csv")) has a malformed number '\(v)'") }
                return x
            }
            earlier.samples.append(FlowSample(t: t, loss: loss, gradNorm: grad, patternId: id, theta: theta, dissipated: dissipated,
                                              iteration: iterations ? Int(row[0]) : nil, auxiliary: aux))
        }
        for row in try rows(try bytes("events.csv"), path("events.csv"), field) {
            guard row.count == o + 6, let t = Double(row[o]), let i = Int(row[o + 1]), let j = Int(row[o + 2]),
                  let kind = EventKind(rawValue: row[o + 3]), let loss = Double(row[o + 4]),
                  let state = [PairState.on, .off, .sliding].first(where: { $0.name == row[o + 5] }) else {
                throw InputError(field, "\(path("events.csv")) has a malformed row")
            }
            earlier.events.append(FlowEvent(t: t, neuron: i, point: j, kind: kind, state: state, loss: loss,
                                            iteration: iterations ? Int(row[0]) : nil))
        }
        for row in try rows(try bytes("patterns.csv"), path("patterns.csv"), field) {
            guard let interval = RecordFormat.interval(fromCSV: row, width: n, points: m) else {
                throw InputError(field, "\(path("patterns.csv")) has a malformed row")
            }
            earlier.patterns.append(interval)
        }
        earlier.last = earlier.samples.last
        earlier.eventCount = earlier.events.count
        earlier.patternIntervalCount = earlier.patterns.count
        earlier.distinctPatternCount = Set(earlier.patterns.map(\.patternId)).count
        return (checkpoint, earlier)
    }

    /// The checkpoint of the run in `folder`, and a solution with its status, message and
    /// diagnostics but no records (the part of `read` that `EarlierRecords` shares).
    static func readHeader(_ folder: String, problem: FlowProblem, field: String) throws -> (checkpoint: FlowCheckpoint, earlier: FlowSolution) {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        func bytes(_ name: String) throws -> Data {
            guard FileManager.default.fileExists(atPath: path(name)) else {
                throw InputError(field, "\(path(name)) is missing: \(folder) is not a ReluFlow run folder")
            }
            return try RunFolder.readFile(path(name))
        }
        let checkpoint: FlowCheckpoint
        let summary: RunSummary
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { checkpoint = try decoder.decode(FlowCheckpoint.self, from: try bytes("checkpoint.json")) } catch let error as InputError { throw error } catch {
            throw InputError(field, "\(path("checkpoint.json")) is corrupt: \(describe(error))")
        }
        do { summary = try decoder.decode(RunSummary.self, from: try bytes("summary.json")) } catch let error as InputError { throw error } catch {
            throw InputError(field, "\(path("summary.json")) is corrupt: \(describe(error))")
        }
        let n = problem.model.hiddenUnitCount, m = problem.data.count, P = problem.model.parameterCount
        guard checkpoint.theta.count == P, checkpoint.states(width: n, points: m) != nil else {
            throw InputError(field, "the checkpoint of \(folder) does not fit its config (width \(n), \(m) points)")
        }
        var earlier = FlowSolution(problem: problem, status: summary.status, stepper: Stepper(rawValue: summary.stepper) ?? .auto)
        earlier.message = summary.message
        var diag = FlowDiagnostics()
        diag.steps = summary.steps
        diag.rejectedSteps = summary.rejectedSteps
        diag.rhsEvaluations = summary.rhsEvaluations
        diag.jacobianEvaluations = summary.jacobianEvaluations
        diag.eventsByKind = EventCounts(names: summary.eventsByKind) ?? EventCounts()
        diag.wallSeconds = summary.wallSeconds
        diag.stepperSteps = summary.stepperSteps
        diag.stepperSeconds = summary.stepperSeconds
        diag.stepperSwitches = summary.stepperSwitches
        diag.batchedCrossings = summary.batchedCrossings ?? 0
        diag.crossingBatches = summary.crossingBatches ?? 0
        diag.zeroLossTime = summary.zeroLossTime
        diag.stationaryTime = summary.stationaryTime
        if summary.method == nil { diag.escapeTime = summary.escapeTime }
        if let method = summary.method {
            earlier.training = TrainingSummary(method: method, iterations: summary.iterations ?? 0, lr: summary.lr ?? .nan,
                                               batch: summary.batch, escapeIteration: summary.escapeIteration,
                                               escapeTime: summary.escapeTime, escapeDelta: summary.escapeDelta ?? 0.1)
        }
        earlier.diagnostics = diag
        return (checkpoint, earlier)
    }

    /// One run from an earlier part and its continuation (which started at the earlier's checkpoint).
    /// Pattern ids of the continuation are mapped onto the earlier ones by pattern.
    public static func merge(_ earlier: FlowSolution, _ later: FlowSolution) -> FlowSolution {
        var merged = later
        let n = later.problem.model.hiddenUnitCount, m = later.problem.data.count
        // Ids by pattern: the earlier run's, then new ones for patterns it never had.
        var idOfKey: [PatternKey: Int] = [:]
        let earlierReplay = PatternReplay(earlier)
        for k in earlier.patterns.indices { idOfKey[PatternKey(earlierReplay.states(k))] = earlier.patterns[k].patternId }
        var nextId = (earlier.patterns.map(\.patternId).max() ?? -1) + 1
        var remap: [Int: Int] = [:]
        let laterReplay = PatternReplay(later)
        var laterKeys: [PatternKey] = []
        for (k, p) in later.patterns.enumerated() {
            let key = PatternKey(laterReplay.states(k))
            laterKeys.append(key)
            if remap[p.patternId] != nil { continue }
            if let id = idOfKey[key] { remap[p.patternId] = id } else {
                remap[p.patternId] = nextId
                idOfKey[key] = nextId
                nextId += 1
            }
        }
        merged.samples = earlier.samples + later.samples.dropFirst().map { s in
            var s = s
            s.patternId = remap[s.patternId] ?? s.patternId
            return s
        }
        merged.events = earlier.events + later.events
        var patterns = earlier.patterns
        let lastEarlier = earlier.patterns.isEmpty ? [PairState](repeating: .off, count: n * m) : earlierReplay.final
        for (k, p) in later.patterns.enumerated() {
            var p = p
            p.patternId = remap[p.patternId] ?? p.patternId
            if k == 0 {
                // The continuation's first changes are from all-off: restate them against the earlier end.
                let first = laterReplay.states(0)
                p.changes = first.indices.filter { first[$0] != lastEarlier[$0] }
                    .map { PatternChange(neuron: $0 / m, point: $0 % m, state: first[$0]) }
                if let last = patterns.last, PatternKey(lastEarlier) == laterKeys[0], last.tEnd == p.tStart {
                    patterns[patterns.count - 1].tEnd = p.tEnd
                    continue
                }
            }
            patterns.append(p)
        }
        merged.patterns = patterns
        merged.last = later.last ?? earlier.last
        merged.eventCount = merged.events.count
        merged.patternIntervalCount = patterns.count
        merged.distinctPatternCount = Set(patterns.map(\.patternId)).count
        merged.finalPattern = later.finalPattern ?? earlier.finalPattern
        merged.diagnostics = combined(earlier.diagnostics, later.diagnostics)
        return merged
    }

    /// The solution of a resumed run whose records `stream` wrote (`RunStream(path:problem:earlier:)`):
    /// the continuation's final state with both parts' counts and diagnostics.
    public static func joined(_ earlier: FlowSolution, _ later: FlowSolution, stream: RunStream) -> FlowSolution {
        var merged = later
        merged.eventCount = stream.counts.events
        merged.patternIntervalCount = stream.counts.intervals
        merged.diagnostics = combined(earlier.diagnostics, later.diagnostics)
        return merged
    }

    /// Ids of the earlier run's patterns for the continuation (`FlowProblem.patternIds`), so that
    /// a pattern seen before keeps its id and new ones continue the numbering.
    public static func seed(_ problem: inout FlowProblem, with earlier: FlowSolution) {
        let replay = PatternReplay(earlier)
        var ids: [PatternKey: Int] = [:]
        for k in earlier.patterns.indices {
            ids[PatternKey(problem.data.perGroup(replay.states(k), width: problem.model.hiddenUnitCount))] = earlier.patterns[k].patternId
        }
        problem.patternIds = ids
    }

    /// Diagnostics of a run in two parts: counts and times add up, the accuracy ones are the later's
    /// (its invariant drift and dissipation defect are measured from the earlier run's θ(0)).
    /// The diagnostics of a part that made no progress (stopped where it started, so that it is not
    /// recorded in `flow.segments`) with its counters zeroed (its wall time kept): its one evaluation
    /// at the start is repeated by the continuation, and the run must equal the one its recorded
    /// config repeats.
    public static func uncounted(_ diagnostics: FlowDiagnostics) -> FlowDiagnostics {
        var diag = diagnostics
        diag.steps = 0
        diag.rejectedSteps = 0
        diag.rhsEvaluations = 0
        diag.jacobianEvaluations = 0
        diag.stepperSwitches = 0
        diag.batchedCrossings = 0
        diag.crossingBatches = 0
        diag.stepperSteps = [:]
        return diag
    }

    static func combined(_ before: FlowDiagnostics, _ later: FlowDiagnostics) -> FlowDiagnostics {
        var diag = later
        diag.steps += before.steps
        diag.rejectedSteps += before.rejectedSteps
        diag.rhsEvaluations += before.rhsEvaluations
        diag.jacobianEvaluations += before.jacobianEvaluations
        diag.wallSeconds += before.wallSeconds
        diag.stepperSwitches += before.stepperSwitches
        diag.batchedCrossings += before.batchedCrossings
        diag.crossingBatches += before.crossingBatches
        diag.eventsByKind += before.eventsByKind
        for (k, v) in before.stepperSteps { diag.stepperSteps[k, default: 0] += v }
        for (k, v) in before.stepperSeconds { diag.stepperSeconds[k, default: 0] += v }
        diag.zeroLossTime = before.zeroLossTime ?? later.zeroLossTime
        diag.stationaryTime = before.stationaryTime ?? later.stationaryTime
        diag.escapeTime = before.escapeTime ?? later.escapeTime
        return diag
    }

    /// A decoding error in words: what is wrong and where (the JSON path).
    static func describe(_ error: Error) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?: return "no '\(key.stringValue)'\(at(context.codingPath))"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "\(context.debugDescription.prefix(120))\(at(context.codingPath))"
        case .dataCorrupted(let context)?:
            let reason = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
            return "not valid JSON (\(reason.prefix(120)))\(at(context.codingPath))"
        default: return "\(error)"
        }
    }

    /// Data rows of a CSV written by RunExport (header dropped); a file without its header line
    /// (empty, or cut off) is an error.
    private static func rows(_ data: Data, _ name: String, _ field: String) throws -> [[String]] {
        let text = String(decoding: data, as: UTF8.self)
        guard let header = text.split(separator: "\n", maxSplits: 1).first, header.contains(",") else {
            throw InputError(field, "\(name) is empty or has no header row: the run folder is damaged")
        }
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }
}
