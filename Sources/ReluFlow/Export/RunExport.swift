import Foundation

/// The files of a run folder for a solution held in memory (INTERFACE.md), as name → bytes.
/// (`RunStream` writes the same files while the run goes on.)
public enum RunExport {
    /// `pattern_matrices.npy` (intervals × n × m bytes) is written only up to this many entries;
    /// beyond, `patterns.csv`'s change lists hold the patterns.
    public static let patternMatrixLimit = 1 << 24

    public static func files(for solution: FlowSolution, config: RunConfig) throws -> [(String, Data)] {
        var records = RecordFiles(network: solution.problem.model, points: solution.problem.data.count,
                                  iterations: solution.problem.training != nil,
                                  kind: solution.problem.training == nil ? solution.problem.options.kind : .gradient)
        for s in solution.samples { records.add(s) }
        for e in solution.events { records.add(e) }
        for p in solution.patterns { records.add(p) }
        let headers = records.headers(), parts = records.take()
        var files = try smallFiles(for: solution, config: config, firstPlateau: try? FirstPlateauFinder.of(solution))
        for (k, name) in RecordFiles.names.enumerated() where !(name == "pattern_matrices.npy" && records.matricesDropped) {
            files.append((name, Data(headers[k] + parts[k])))
        }
        return files
    }

    /// config.json, summary.json, checkpoint.json and data.csv: the files written once, at the end.
    /// `firstPlateau`: the run's first plateau (`FirstPlateauFinder`), for summary.json.
    static func smallFiles(for solution: FlowSolution, config: RunConfig, firstPlateau: FirstPlateau?) throws -> [(String, Data)] {
        var files: [(String, Data)] = []
        files.append(("config.json", try config.encoded()))
        // Non-finite numbers are written as null (JSONOutput); the summary names them in `nonFinite`.
        var summary = RunSummary(solution, firstPlateau: firstPlateau)
        var last = config.flow
        last.segments = nil
        if config.train == nil { summary.segments = (config.flow.segments ?? []) + [FlowSegment(last, until: solution.finalTime)] }
        files.append(("summary.json", try summary.jsonData()))
        files.append(("checkpoint.json", try JSONOutput.encode(solution.checkpoint).data))
        let data = solution.problem.data
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
