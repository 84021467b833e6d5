import Foundation

/// An earlier run folder read (by `RunFolderReader.records(for:)`) for a streamed continuation
/// (`reluflow simulate --resume`) without holding its records: the counts of its samples and events (rows counted, not parsed), its
/// pattern ids by pattern (`FlowProblem.patternIds`, from one pass over `patterns.csv` with one
/// n×m pattern in memory), its last pattern interval (which the continuation extends), and
/// where the record bytes to copy lie in each file. `RunStream(path:problem:continuing:)` copies
/// them in parts, so a resumed run's memory is O(n·m + sample grid + distinct patterns) too.
public struct EarlierRecords {
    public let folder: String
    public let checkpoint: FlowCheckpoint
    /// The earlier run's status, message and diagnostics (no records).
    public var shell: FlowSolution
    public let sampleCount: Int
    public let eventCount: Int
    public let intervalCount: Int
    /// The last interval, and the pattern before it (per pair, `PairState` raw values).
    public let lastInterval: PatternInterval
    let patternBeforeLast: [UInt8]
    let patternIds: [PatternKey: Int]
    /// Byte ranges of the records in each file (`RecordFiles.names` order), the last interval's
    /// excluded from the pattern files; nil for a file that is absent (`pattern_matrices.npy`).
    let ranges: [Range<Int>?]

    /// Reads the run folder of `reader` for `problem` (its resolved config; `RunFolderReader.records(for:)`).
    /// Errors name the reader's field.
    init(reading reader: RunFolderReader, problem: FlowProblem) throws {
        let (checkpoint, shell) = try reader.header(for: problem)
        let folder = reader.folder, field = reader.field
        let n = problem.model.hiddenUnitCount, m = problem.data.count
        func path(_ name: String) -> String { reader.path(name) }
        func malformed(_ name: String, _ what: String) -> InputError { InputError(field, "\(path(name)) \(what)") }

        // CSV rows: counted; the data start after the header line.
        var csvData: [String: (start: Int, end: Int, rows: Int)] = [:]
        var lastRowStart = 0
        var ids: [PatternKey: Int] = [:]
        var pattern = [UInt8](repeating: 0, count: n * m), before = pattern
        var last: PatternInterval? = nil
        for name in ["trajectory.csv", "events.csv", "patterns.csv"] {
            var start = -1, rows = 0, size = 0
            try Self.forEachLine(path(name), field: field) { line, offset in
                size = offset + line.count + 1
                if start < 0 { start = size; return }
                rows += 1
                guard name == "patterns.csv" else { return }
                lastRowStart = offset
                let row = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
                guard let interval = RecordFormat.interval(fromCSV: row, width: n, points: m) else {
                    throw malformed(name, "has a malformed row")
                }
                before = pattern
                for c in interval.changes { pattern[c.neuron * m + c.point] = c.state.rawValue }
                let states = pattern.map { PairState(rawValue: $0)! }
                ids[PatternKey(problem.data.perGroup(states, width: n))] = interval.patternId
                last = interval
            }
            guard start >= 0 else { throw malformed(name, "is empty") }
            csvData[name] = (start, size, rows)
        }
        guard let lastInterval = last else { throw malformed("patterns.csv", "has no pattern interval") }
        let samples = csvData["trajectory.csv"]!.rows, events = csvData["events.csv"]!.rows, intervals = csvData["patterns.csv"]!.rows

        // .npy records: after the header; their count must be the CSV's.
        let records = RecordFiles(network: problem.model, points: m, iterations: problem.training != nil,
                                  kind: problem.training == nil ? problem.options.kind : .gradient)
        func npy(_ name: String, rows: Int, rowSize: Int, dropLast: Bool, optional: Bool = false) throws -> Range<Int>? {
            guard let handle = FileHandle(forReadingAtPath: path(name)) else {
                if optional { return nil }
                throw malformed(name, "is missing")
            }
            defer { try? handle.close() }
            let head = handle.readData(ofLength: 12)
            guard head.count >= 10, head.starts(with: [0x93] + Array("NUMPY".utf8)) else { throw malformed(name, "is not a .npy file") }
            let bytes = [UInt8](head)
            let start = bytes[6] == 1 ? 10 + Int(bytes[8]) + Int(bytes[9]) << 8
                : 12 + Int(bytes[8]) + Int(bytes[9]) << 8 + Int(bytes[10]) << 16 + Int(bytes[11]) << 24
            let end = Int(handle.seekToEndOfFile())
            guard end - start == rows * rowSize else { throw malformed(name, "does not hold the \(rows) records of its CSV") }
            return start..<(end - (dropLast ? rowSize : 0))
        }
        let ranges: [Range<Int>?] = [
            csvData["trajectory.csv"].map { $0.start..<$0.end },
            try npy("trajectory.npy", rows: samples, rowSize: records.trajectoryLayout.rowSize, dropLast: false),
            csvData["events.csv"].map { $0.start..<$0.end },
            try npy("events.npy", rows: events, rowSize: records.eventLayout.rowSize, dropLast: false),
            csvData["patterns.csv"]!.start..<lastRowStart,
            try npy("patterns.npy", rows: intervals, rowSize: RecordFormat.patternNPY.rowSize, dropLast: true),
            try npy("pattern_matrices.npy", rows: intervals, rowSize: n * m, dropLast: true, optional: true),
        ]
        self.folder = folder
        self.checkpoint = checkpoint
        self.shell = shell
        sampleCount = samples
        eventCount = events
        intervalCount = intervals
        self.lastInterval = lastInterval
        patternBeforeLast = before
        patternIds = ids
        self.ranges = ranges
    }

    /// The continuation's problem: started at the checkpoint, with the earlier pattern ids.
    public func continuation(of problem: FlowProblem) -> FlowProblem {
        var p = problem
        p.start = checkpoint
        p.patternIds = patternIds
        return p
    }

    /// Calls `body` with every line of a file (without its newline) and the line's byte offset,
    /// reading 1 MB at a time.
    static func forEachLine(_ path: String, field: String, _ body: (ArraySlice<UInt8>, Int) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InputError(field, "\(path) is missing: the folder is not a ReluFlow run folder")
        }
        defer { try? handle.close() }
        var pending: [UInt8] = [], offset = 0
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var lineStart = 0
            while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                try body(pending[lineStart..<newline], offset)
                offset += newline - lineStart + 1
                lineStart = newline + 1
            }
            pending.removeFirst(lineStart)
        }
        if !pending.isEmpty { try body(pending[...], offset) }
    }
}
