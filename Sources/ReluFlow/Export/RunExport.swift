import Foundation

/// The files of a run folder for a solution (INTERFACE.md), as name → bytes.
public enum RunExport {
    /// `pattern_matrices.npy` (intervals × n × m bytes) is written only up to this many entries;
    /// beyond, `patterns.csv`'s change lists hold the patterns.
    public static let patternMatrixLimit = 1 << 24

    public static func files(for solution: FlowSolution, config: RunConfig) throws -> [(String, Data)] {
        let network = solution.problem.network
        let data = solution.problem.data
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var files: [(String, Data)] = []
        files.append(("config.json", try config.encoded()))
        files.append(("summary.json", try encoder.encode(RunSummary(solution))))
        files.append(("checkpoint.json", try encoder.encode(solution.checkpoint)))

        // trajectory
        let names = network.parameterNames
        var trajectory = CSVWriter(header: ["t", "loss", "gradNorm", "patternId"] + names + ["dissipated"])
        for s in solution.samples {
            trajectory.numbers([s.t, s.loss, s.gradNorm])
            trajectory.integer(s.patternId)
            trajectory.numbers(s.theta)
            trajectory.number(s.dissipated)
            trajectory.endRow()
        }
        files.append(("trajectory.csv", trajectory.data))
        var columns: [NPYWriter.Column] = [
            .float64("t", solution.samples.map(\.t)), .float64("loss", solution.samples.map(\.loss)),
            .float64("gradNorm", solution.samples.map(\.gradNorm)), .int64("patternId", solution.samples.map(\.patternId)),
        ]
        for (p, name) in names.enumerated() { columns.append(.float64(name, solution.samples.map { $0.theta[p] })) }
        columns.append(.float64("dissipated", solution.samples.map(\.dissipated)))
        files.append(("trajectory.npy", NPYWriter.records(columns)))

        // events
        var events = CSVWriter(header: ["t", "neuron", "point", "kind", "loss", "state"])
        for e in solution.events {
            events.number(e.t)
            events.integer(e.neuron)
            events.integer(e.point)
            events.text(e.kind.rawValue)
            events.number(e.loss)
            events.text(e.state.name)
            events.endRow()
        }
        files.append(("events.csv", events.data))
        files.append(("events.npy", NPYWriter.records([
            .float64("t", solution.events.map(\.t)), .int64("neuron", solution.events.map(\.neuron)),
            .int64("point", solution.events.map(\.point)), .text("kind", solution.events.map(\.kind.rawValue), width: 8),
            .float64("loss", solution.events.map(\.loss)), .text("state", solution.events.map(\.state.name), width: 7),
        ])))

        // patterns
        var patterns = CSVWriter(header: ["patternId", "tStart", "tEnd", "activeCounts", "slidingCounts", "changes"])
        for p in solution.patterns {
            patterns.integer(p.patternId)
            patterns.numbers([p.tStart, p.tEnd])
            patterns.text(p.activeCounts.map(String.init).joined(separator: ";"))
            patterns.text(p.slidingCounts.map(String.init).joined(separator: ";"))
            patterns.text(p.changes.map(\.text).joined(separator: ";"))
            patterns.endRow()
        }
        files.append(("patterns.csv", patterns.data))
        files.append(("patterns.npy", NPYWriter.records([
            .int64("patternId", solution.patterns.map(\.patternId)),
            .float64("tStart", solution.patterns.map(\.tStart)), .float64("tEnd", solution.patterns.map(\.tEnd)),
        ])))
        // Full matrices, intervals × n × m (1 on, 0 off, 2 sliding), while they stay small.
        let n = network.width, m = data.count
        if solution.patterns.count * n * m <= RunExport.patternMatrixLimit {
            let replay = PatternReplay(solution)
            let matrices = solution.patterns.indices.flatMap { replay.states($0).map { Int8($0.rawValue) } }
            files.append(("pattern_matrices.npy", NPYWriter.int8(matrices, shape: [solution.patterns.count, n, m])))
        }

        // data
        let d = data.dimension
        var dataCSV = CSVWriter(header: (0..<d).map { "x\($0)" } + ["y"])
        for j in 0..<data.count {
            dataCSV.numbers(data.point(j))
            dataCSV.number(data.y[j])
            dataCSV.endRow()
        }
        files.append(("data.csv", dataCSV.data))
        return files
    }
}
