import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow analyze DIR`: stationarity report (SPEC §5) of a run folder, written into it.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Analyse a run folder: pattern intervals, plateaus (SPEC §6), stationarity and local least squares (SPEC §5); writes analysis.json, plateaus.csv and stationarity.json into it.")

    @Argument(help: "The run folder (written by `reluflow simulate`).")
    var folder: String

    @Option(parsing: .unconditional, help: "Analyse the recorded sample nearest to this time instead of the final state (time units of the flow).")
    var at: Double?

    @Option(parsing: .unconditional, help: "Gradient norm at or below which a state counts as stationary.")
    var gradientTolerance: Double = 1e-6

    @OptionGroup var plateau: PlateauOptions

    @Option(help: ArgumentHelp("Write the files into this folder instead of the run folder (created if needed).", valueName: "dir"))
    var out: String?

    func run() throws {
        try requireFolder(folder)
        guard gradientTolerance > 0, gradientTolerance.isFinite else {
            throw InputError("--gradient-tolerance", "must be a positive number")
        }
        let criteria = try plateau.criteria()
        if let at, !at.isFinite { throw InputError("--at", "must be a finite time") }
        let analysis = try RunAnalysis.analyze(folder: folder, at: at, gradientTolerance: gradientTolerance,
                                                criteria: criteria)
        let destination = out ?? folder
        if let out { try RunFolder.writeDerived(try analysis.files(), to: out, kind: "analysis") }
        else { try RunFolder.add(try analysis.files(), to: folder) }
        print(analysis.verdict.lines.joined(separator: "\n"))
        print("written: \((destination as NSString).appendingPathComponent("analysis.json")), plateaus.csv, stationarity.json")
    }
}
