import Foundation

/// The one reader of run folders (`reluflow simulate`/`train` output) for every consumer: `analyze`,
/// `plot`, `compare` (its runs), and `simulate --resume` and `flow.segments` (a continuation).
///
/// Opening a folder checks what it is: it must exist and be a folder; the outputs of other commands
/// (a curvature output, a sweep or compare folder) are named for what they are; its marker
/// (`OutputMarker`, when present) must be of this ReluFlow's format version or older — a folder
/// written by a newer ReluFlow is refused with an `InputError` (exit 2) naming both versions rather
/// than read wrongly. A folder without a marker (a staging folder completed by
/// `ResumePoint.recover`, or written before markers existed) is read as format 1. The recorded
/// config is then loaded (`RunConfig.loadRecorded`).
///
/// What is read, as each consumer needs it, for the problem the config resolves to:
/// - `header(for:)`: the checkpoint and the run's status, message and diagnostics (no records);
/// - `run(for:)`: all records in memory (`analyze`, `plot`, `compare`; CSV numbers round-trip
///   exactly);
/// - `records(for:)`: the records located, not parsed (`EarlierRecords`, a streamed continuation:
///   memory O(n·m + distinct patterns)).
/// Errors name `field`, the argument or option that gave the folder.
public struct RunFolderReader {
    public let folder: String
    public let field: String
    /// The run's recorded config.
    public let config: RunConfig
    /// The folder's marker, if it has one.
    public let marker: OutputMarker?

    public init(_ folder: String, field: String) throws {
        self.folder = folder
        self.field = field
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
        // The format version first: a newer folder's files may not be what this version expects.
        marker = has(OutputMarker.fileName) ? try OutputMarker.read(folder: folder, field: field) : nil
        let path = (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else {
            if has("wall_times.csv") {
                throw InputError(field, "\(folder) is a compare folder: give one of its runs (\(folder)/<method>)")
            }
            throw InputError(field, "\(folder) is not a ReluFlow run folder (it has no config.json)")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw FileError(path: path, action: "read", reason: "Permission denied")
        }
        config = try RunConfig.loadRecorded(path: path)
    }

    /// The problem the recorded config resolves to (no resource limits: the run was made).
    public func problem() throws -> FlowProblem { try config.resolve().problem }

    func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }

    /// The bytes of a file of the folder, which must exist.
    func bytes(_ name: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path(name)) else {
            throw InputError(field, "\(path(name)) is missing: \(folder) is not a ReluFlow run folder")
        }
        return try RunFolder.readFile(path(name))
    }

    /// The checkpoint of the run, and a solution with its status, message and diagnostics but no
    /// records, for `problem` (the recorded config resolved, possibly with changed options).
    public func header(for problem: FlowProblem) throws -> (checkpoint: FlowCheckpoint, shell: FlowSolution) {
        let checkpoint: FlowCheckpoint
        let summary: RunSummary
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { checkpoint = try decoder.decode(FlowCheckpoint.self, from: try bytes("checkpoint.json")) } catch let error as InputError { throw error } catch {
            throw InputError(field, "\(path("checkpoint.json")) is corrupt: \(Self.describe(error))")
        }
        do { summary = try decoder.decode(RunSummary.self, from: try bytes("summary.json")) } catch let error as InputError { throw error } catch {
            throw InputError(field, "\(path("summary.json")) is corrupt: \(Self.describe(error))")
        }
        let n = problem.model.hiddenUnitCount, m = problem.data.count, P = problem.model.parameterCount
        guard checkpoint.theta.count == P, checkpoint.states(width: n, points: m) != nil else {
            throw InputError(field, "the checkpoint of \(folder) does not fit its config (width \(n), \(m) points)")
        }
        var shell = FlowSolution(problem: problem, status: summary.status, stepper: Stepper(rawValue: summary.stepper) ?? .auto)
        shell.message = summary.message
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
        // The losses and the dissipation as recorded (a continuation's own replace them; what reads
        // a finished run back, `compare --resume` and `plot` of a compare folder, reports them).
        diag.initialLoss = summary.initialLoss
        diag.finalLoss = summary.finalLoss
        diag.dissipated = summary.dissipated
        diag.dissipationDefect = summary.dissipationDefect
        if let drift = summary.invariantDrift { diag.invariantDrift = drift }
        if summary.method == nil { diag.escapeTime = summary.escapeTime }
        if let method = summary.method {
            shell.training = TrainingSummary(method: method, iterations: summary.iterations ?? 0, lr: summary.lr ?? .nan,
                                             batch: summary.batch, escapeIteration: summary.escapeIteration,
                                             escapeTime: summary.escapeTime, escapeDelta: summary.escapeDelta ?? 0.1)
        }
        shell.diagnostics = diag
        return (checkpoint, shell)
    }

    /// The run with every record in memory: its checkpoint, and samples, events, pattern intervals
    /// and counters as recorded, for `problem` (default: the recorded config's).
    public func run(for problem: FlowProblem? = nil) throws -> (checkpoint: FlowCheckpoint, run: FlowSolution) {
        let problem = try problem ?? self.problem()
        var (checkpoint, run) = try header(for: problem)
        let n = problem.model.hiddenUnitCount, m = problem.data.count, P = problem.model.parameterCount

        // A training run's rows start with its iteration (RecordFormat.iterations).
        let trajectory = try bytes("trajectory.csv")
        let iterations = trajectory.starts(with: Array("iteration,".utf8))
        let o = iterations ? 1 : 0
        // An adaptive flow's auxiliary columns (m, v) follow `dissipated` (RecordFormat.auxiliaryNames).
        let auxiliary = problem.training == nil
            ? problem.options.kind.law?.auxiliaryNames(parameterNames: problem.model.parameterNames).count ?? 0 : 0
        for row in try rows(trajectory, "trajectory.csv") {
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
            run.samples.append(FlowSample(t: t, loss: loss, gradNorm: grad, patternId: id, theta: theta, dissipated: dissipated,
                                          iteration: iterations ? Int(row[0]) : nil, auxiliary: aux))
        }
        for row in try rows(try bytes("events.csv"), "events.csv") {
            guard row.count == o + 6, let t = Double(row[o]), let i = Int(row[o + 1]), let j = Int(row[o + 2]),
                  let kind = EventKind(rawValue: row[o + 3]), let loss = Double(row[o + 4]),
                  let state = [PairState.on, .off, .sliding].first(where: { $0.name == row[o + 5] }) else {
                throw InputError(field, "\(path("events.csv")) has a malformed row")
            }
            run.events.append(FlowEvent(t: t, neuron: i, point: j, kind: kind, state: state, loss: loss,
                                        iteration: iterations ? Int(row[0]) : nil))
        }
        for row in try rows(try bytes("patterns.csv"), "patterns.csv") {
            guard let interval = RecordFormat.interval(fromCSV: row, width: n, points: m) else {
                throw InputError(field, "\(path("patterns.csv")) has a malformed row")
            }
            run.patterns.append(interval)
        }
        run.last = run.samples.last
        run.eventCount = run.events.count
        run.patternIntervalCount = run.patterns.count
        run.distinctPatternCount = Set(run.patterns.map(\.patternId)).count
        return (checkpoint, run)
    }

    /// The run's records located in its files without being parsed or held, for a streamed
    /// continuation (`RunStream(path:problem:continuing:)`), for `problem` (the recorded config
    /// resolved, possibly with changed options).
    public func records(for problem: FlowProblem) throws -> EarlierRecords {
        try EarlierRecords(reading: self, problem: problem)
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
    private func rows(_ data: Data, _ name: String) throws -> [[String]] {
        let text = String(decoding: data, as: UTF8.self)
        guard let header = text.split(separator: "\n", maxSplits: 1).first, header.contains(",") else {
            throw InputError(field, "\(path(name)) is empty or has no header row: the run folder is damaged")
        }
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }
}
