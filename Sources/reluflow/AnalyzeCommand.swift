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

    @Option(help: "Analyse the recorded sample nearest to this time instead of the final state (time units of the flow).")
    var at: Double?

    @Option(help: "Gradient norm at or below which a state counts as stationary.")
    var gradientTolerance: Double = 1e-6

    @Option(help: "Plateau flatness threshold ε: a time is flat when |d log L / d log t| < ε (SPEC §6).")
    var epsilon: Double = 0.05

    @Option(help: "Plateau length factor κ: a flat interval is a plateau when it lasts at least κ/ρ_H, ρ_H the Hessian's spectral radius at its start (time units of the flow).")
    var kappa: Double = 2

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError("DIR", "\(folder) is not a folder")
        }
        guard gradientTolerance > 0, gradientTolerance.isFinite else {
            throw InputError("--gradient-tolerance", "must be a positive number")
        }
        guard epsilon > 0, epsilon.isFinite else { throw InputError("--epsilon", "must be a positive number") }
        guard kappa >= 0, kappa.isFinite else { throw InputError("--kappa", "must be a non-negative number") }
        if let at, !at.isFinite { throw InputError("--at", "must be a finite time") }
        let analysis = try RunAnalysis.analyze(folder: folder, at: at, gradientTolerance: gradientTolerance,
                                                criteria: PlateauCriteria(epsilon: epsilon, kappa: kappa))
        try RunFolder.add(try analysis.files(), to: folder)
        print(analysis.verdict.lines.joined(separator: "\n"))
        print("written: \((folder as NSString).appendingPathComponent("analysis.json")), plateaus.csv, stationarity.json")
    }
}
