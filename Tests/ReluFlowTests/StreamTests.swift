import XCTest
@testable import ReluFlow

/// Issue 4: the run folder written while the run goes on (`RunStream`) is the folder of the same
/// solution held in memory, byte for byte, and a resumed run streamed after its earlier part is
/// the in-memory merge of the two.
final class StreamTests: XCTestCase {
    func config(_ example: String, T: Double) throws -> (FlowProblem, RunConfig) {
        var config = try Example.named(example).config
        config.flow.T = T
        config.flow.samples = SampleConfig(spacing: "log", count: 40)
        return try config.resolve()
    }

    /// The in-memory recorder is what `solve` and `train` use without one: given explicitly, it
    /// hands the same records to the solution (and keeps none itself afterwards).
    func testMemoryRecorderIsTheDefault() throws {
        let (problem, _) = try config("abs", T: 50)
        let memory = MemoryRecorder()
        let given = solve(problem, hooks: SolveHooks(recorder: memory))
        let plain = solve(problem)
        XCTAssertGreaterThan(plain.events.count, 0)
        XCTAssertEqual(given.samples.map(\.theta), plain.samples.map(\.theta))
        XCTAssertEqual(given.events.map(\.t), plain.events.map(\.t))
        XCTAssertEqual(given.patterns.map(\.tEnd), plain.patterns.map(\.tEnd))
        XCTAssertTrue(memory.samples.isEmpty && memory.events.isEmpty && memory.patterns.isEmpty)
        var training = problem
        var options = TrainingOptions()
        options.method = .gd
        options.lr = 0.05
        options.iterations = 200
        training.training = options
        let trained = train(training, options: training.training!, hooks: SolveHooks(recorder: MemoryRecorder()))
        XCTAssertEqual(trained.samples.map(\.theta), train(training, options: training.training!).samples.map(\.theta))
        XCTAssertGreaterThan(trained.samples.count, 1)
    }

    /// Every file of a folder (name → bytes), summary.json without its wall-clock entries and the
    /// marker without summary.json's size.
    func contents(_ folder: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            files[name] = try Data(contentsOf: folder.appendingPathComponent(name))
        }
        if let summary = files["summary.json"] { files["summary.json"] = withoutTimes(summary) }
        // The marker's inventory: the same files, and sizes and hashes but summary.json's (its wall
        // times); modification times differ from run to run. (A stream hashes its CSV files and small
        // files as it writes them, an export in memory reads them back: the hashes must agree.)
        if let bytes = files[OutputMarker.fileName] {
            var marker = try JSONDecoder().decode(OutputMarker.self, from: bytes)
            XCTAssertEqual(Set(marker.files.keys), Set(files.keys).subtracting([OutputMarker.fileName]))
            marker.files["summary.json"] = nil
            files[OutputMarker.fileName] = try JSONEncoder().encode(marker.files.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.size) \($0.value.hash)" })
        }
        return files
    }

    func withoutTimes(_ json: Data) -> Data {
        let lines = String(decoding: json, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        var kept: [Substring] = [], skipping = false
        for line in lines {
            if line.contains("\"stepperSeconds\"") { skipping = !line.contains("}"); continue }
            if skipping { if line.contains("}") { skipping = false }; continue }
            if line.contains("\"wallSeconds\"") { continue }
            kept.append(line)
        }
        return Data(kept.joined(separator: "\n").utf8)
    }

    func assertSameFolders(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try contents(a), y = try contents(b)
        XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
        for (name, bytes) in x { XCTAssertEqual(bytes, y[name], "\(name) differs", file: file, line: line) }
    }

    func testStreamedFolderEqualsInMemoryExport() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (example, T) in [("sine", 3000.0), ("two-d", 50.0), ("abs", 100.0)] {
            let (problem, resolved) = try config(example, T: T)
            let memory = solve(problem)
            try RunFolder.write(try RunExport.files(for: memory, config: resolved), to: dir.appendingPathComponent("\(example)-memory").path)
            // Flushing after every record exercises the appends and the header rewrite.
            for threshold in [1, 1 << 20] {
                let path = dir.appendingPathComponent("\(example)-stream-\(threshold)").path
                let stream = try RunStream(path: path, problem: problem, flushThreshold: threshold)
                let streamed = solve(problem, hooks: SolveHooks(recorder: stream))
                XCTAssertTrue(streamed.samples.isEmpty && streamed.events.isEmpty && streamed.patterns.isEmpty,
                              "streamed records are not kept in memory")
                XCTAssertEqual(streamed.eventCount, memory.events.count)
                try stream.finish(streamed, config: resolved)
                try assertSameFolders(dir.appendingPathComponent("\(example)-memory"), URL(fileURLWithPath: path))
            }
        }
        // Nothing but the run folders is left (no staging folders).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
    }

    /// The library's one-call `simulate(_:to:)` writes the folder the command writes (same bytes but
    /// wall times), many runs in one process; and it refuses what the command refuses: a folder
    /// the toolkit did not write, a training config.
    func testLibrarySimulateWritesTheCommandsFolder() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let command = try runReluflow(["simulate", "--example", "sine", "--T", "50", "--samples", "40", "--quiet", "--out", "cli"], in: dir)
        XCTAssertEqual(command.status, 0, command.stderr)
        var config = try Example.named("sine").config
        config.flow.T = 50
        config.flow.samples = SampleConfig(spacing: "log", count: 40)
        for k in 0..<3 {   // again into the same folder: the earlier output is replaced, as by the command
            let solution = try simulate(config, to: dir.appendingPathComponent("lib").path)
            XCTAssertEqual(solution.status, .completed, "run \(k)")
            try assertSameFolders(dir.appendingPathComponent("cli"), dir.appendingPathComponent("lib"))
        }
        let foreign = dir.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try simulate(config, to: foreign.path)) { XCTAssertTrue($0 is InputError, "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: foreign.path), ["notes.txt"])
        var training = config
        training.train = try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"method": "gd"}"#.utf8))
        XCTAssertThrowsError(try simulate(training, to: dir.appendingPathComponent("t").path)) {
            XCTAssertEqual(($0 as? InputError)?.field, "train")
        }
    }

    func testStreamedResumeEqualsMerge() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, resolvedFirst) = try config("two-d", T: 20)
        let earlierFolder = dir.appendingPathComponent("earlier").path
        try RunFolder.write(try RunExport.files(for: solve(first), config: resolvedFirst), to: earlierFolder)

        var (problem, resolved) = try config("two-d", T: 60)
        let (checkpoint, earlier) = try RunFolderReader(earlierFolder, field: "--resume").run(for: problem)
        problem.start = checkpoint
        RunContinuation.seed(&problem, with: earlier)
        let merged = RunContinuation.merge(earlier, solve(problem))
        try RunFolder.write(try RunExport.files(for: merged, config: resolved), to: dir.appendingPathComponent("memory").path)

        let path = dir.appendingPathComponent("stream").path
        let stream = try RunStream(path: path, problem: problem, earlier: earlier, flushThreshold: 1)
        let later = solve(problem, hooks: SolveHooks(recorder: stream))
        try stream.finish(RunContinuation.joined(earlier, later, stream: stream), config: resolved)
        try assertSameFolders(dir.appendingPathComponent("memory"), URL(fileURLWithPath: path))
        XCTAssertGreaterThan(merged.events.count, earlier.events.count, "the continuation must have events of its own")

        // `reluflow simulate --resume`'s path: the earlier records copied from their files, none parsed.
        let (base, _) = try config("two-d", T: 60)
        let records = try RunFolderReader(earlierFolder, field: "--resume").records(for: base)
        XCTAssertEqual(records.eventCount, earlier.events.count)
        XCTAssertEqual(records.intervalCount, earlier.patterns.count)
        let continuation = records.continuation(of: base)
        for threshold in [1, 1 << 20] {
            let copied = dir.appendingPathComponent("copied-\(threshold)").path
            let copyStream = try RunStream(path: copied, problem: continuation, continuing: records, flushThreshold: threshold)
            let part = solve(continuation, hooks: SolveHooks(recorder: copyStream))
            try copyStream.finish(RunContinuation.joined(records.shell, part, stream: copyStream), config: resolved)
            try assertSameFolders(dir.appendingPathComponent("memory"), URL(fileURLWithPath: copied))
        }
    }

    /// A continuation whose first interval does not extend the earlier last one has its changes
    /// (from all off) restated against the earlier end pattern, as `RunContinuation.merge` does.
    func testChangesRestatedAgainstTheEarlierEnd() throws {
        let (problem, _) = try config("abs", T: 1)
        var records = RecordFiles(network: problem.network, points: 3)
        func interval(_ changes: [PatternChange]) -> PatternInterval {
            PatternInterval(patternId: 0, tStart: 0, tEnd: 1, changes: changes, activeCounts: [], slidingCounts: [],
                            width: problem.network.width, pointCount: 3)
        }
        records.add(interval([PatternChange(neuron: 0, point: 0, state: .on), PatternChange(neuron: 1, point: 2, state: .sliding)]))
        let restated = records.changes(fromAllOff: [PatternChange(neuron: 0, point: 0, state: .on), PatternChange(neuron: 0, point: 1, state: .on)])
        XCTAssertEqual(restated, [PatternChange(neuron: 0, point: 1, state: .on), PatternChange(neuron: 1, point: 2, state: .off)])
    }
}
