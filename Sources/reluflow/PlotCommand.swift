import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow plot DIR`: SVG figures of a run folder, written into it.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw the figures of a run folder as SVG files in it: loss.svg, patterns.svg, and knots.svg + fit.svg (d = 1) or knot-lines.svg (d = 2).")

    @Argument(help: "The run folder (written by `reluflow simulate`).")
    var folder: String

    @Option(parsing: .upToNextOption, help: "Times (flow time units) of the d = 2 knot-line panels; the nearest recorded samples are drawn. Default: start, geometric middle, end.")
    var times: [Double] = []

    @Option(help: "Plateau flatness threshold ε for the shading (as in `reluflow analyze`).")
    var epsilon: Double = 0.05

    @Option(help: "Plateau length factor κ for the shading (as in `reluflow analyze`).")
    var kappa: Double = 2

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError("DIR", "\(folder) is not a folder")
        }
        guard epsilon > 0, epsilon.isFinite else { throw InputError("--epsilon", "must be a positive number") }
        guard kappa >= 0, kappa.isFinite else { throw InputError("--kappa", "must be a non-negative number") }
        if let bad = times.first(where: { !$0.isFinite || $0 < 0 }) { throw InputError("--times", "\(bad) is not a time ≥ 0") }
        let files = try RunFigures.files(folder: folder, criteria: PlateauCriteria(epsilon: epsilon, kappa: kappa),
                                         times: times.isEmpty ? nil : times)
        try RunFolder.add(files, to: folder)
        print("written: " + files.map { (folder as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
    }
}
