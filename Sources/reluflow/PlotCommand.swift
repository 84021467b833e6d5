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

    @OptionGroup(title: "Plateau shading") var plateau: PlateauOptions

    @Option(help: ArgumentHelp("Write the figures into this folder instead of the run folder (created if needed).", valueName: "dir"))
    var out: String?

    func run() throws {
        try requireFolder(folder)
        let criteria = try plateau.criteria()
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("wall_times.csv")) {
            // A compare folder: comparison.svg redrawn from its runs.
            let svg = try Comparison.read(folder: folder, criteria: criteria).svg()
            let files = [("comparison.svg", Data(svg.utf8))]
            if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
            print("written: \(((out ?? folder) as NSString).appendingPathComponent("comparison.svg"))")
            return
        }
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("curvature-grid.json")) {
            // A curvature grid: its figures redrawn from curvature.csv and the spectra.
            let (grid, cells) = try CurvatureGrid.read(folder: folder)
            let files = grid.figureFiles(histogramCells: cells)
            if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
            print("written: " + files.map { ((out ?? folder) as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
            return
        }
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("curvature.json")) {
            throw InputError("DIR", "\(folder) holds the curvature of one network (curvature.json); it has no figures (a grid folder has)")
        }
        if let bad = times.first(where: { !$0.isFinite || $0 < 0 }) { throw InputError("--times", "\(bad) is not a time ≥ 0") }
        let files = try RunFigures.files(folder: folder, criteria: criteria,
                                         times: times.isEmpty ? nil : times)
        let destination = out ?? folder
        if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
        print("written: " + files.map { (destination as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
    }
}
