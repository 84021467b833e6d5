import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow plot DIR`: the figures of a run or compare folder, written into it (SVG, and PNG/PDF
/// rendered from it with `--format`).
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw the figures of a run folder into it: loss, patterns, and knots + fit (d = 1) or knot-lines (d = 2); comparison for a compare folder; for a sweep folder one figure of its runs against an axis (sweep, with --figure and --against). SVG by default; --format svg,png,pdf adds PNG and PDF.")

    @Argument(help: "The run folder (written by `reluflow simulate`).")
    var folder: String

    @Option(parsing: .upToNextOption, help: "Times (flow time units) of the d = 2 knot-line panels, separated by spaces or commas; the nearest recorded samples are drawn. Default: start, geometric middle, end.")
    var times: [String] = []

    @OptionGroup(title: "Plateau shading") var plateau: PlateauOptions

    @Option(help: ArgumentHelp("File formats, comma-separated: svg, png (2 pixels per SVG pixel), pdf (vector, the figure's size); rendered with librsvg and cairo.", valueName: "list"))
    var format: String = "svg"

    @Option(help: ArgumentHelp("Write the figures into this folder instead of the run folder (created if needed).", valueName: "dir"))
    var out: String?

    @Option(help: ArgumentHelp("A sweep folder: the figure to draw (a column of its sweep.csv, e.g. finalLoss).", valueName: "name"))
    var figure: String?

    @Option(help: ArgumentHelp("A sweep folder: the axis to draw it against (e.g. network.init.scale).", valueName: "axis"))
    var against: String?

    @Flag(help: "A sweep of `compare` runs: the escape experiment (escape.csv, escape_fits.csv with the fitted slope of log escape time on log λ_max per method, escape_curvature and escape_depth figures).")
    var escape = false

    func run() throws {
        try requireFolder(folder)
        let criteria = try plateau.criteria()
        let formats = try FigureFormat.list(format)
        if let marker = try? OutputMarker.read(folder: folder, field: "DIR"), marker.kind == SweepFolder.kind {
            if escape {
                guard figure == nil, against == nil else { throw InputError(figure != nil ? "--figure" : "--against", "--escape draws its own figures; leave it out") }
                let (made, fits) = try EscapeExperiment.files(try SweepFolder.open(folder))
                let figures = try FigureRenderer.files(made.filter { $0.0.hasSuffix(".svg") }, formats: formats)
                let files = made.filter { !$0.0.hasSuffix(".svg") } + figures
                if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
                print("slope of log10 escape time on log10 λ_max at θ(0), per method (95% interval; runs in the fit: escaped and did not fail: completed, or stopped by the work budget after escaping, when the escape time is exact; runs left out and why):")
                for f in fits {
                    let why = EscapeExperiment.leftOutText(f)
                    let left = (f.stoppedAfterEscape == 0 ? "" : " (\(f.stoppedAfterEscape) of them stopped by the work budget after escaping)")
                        + (f.left == 0 ? "" : ", \(f.left) left out (\(why))")
                    // (String(format:) does not pad a Swift string with %-13@ on Linux.)
                    let method = f.method.padding(toLength: max(13, f.method.count), withPad: " ", startingAt: 0)
                    if f.fitted {
                        print("  " + method + String(format: " %7.3f [%7.3f, %7.3f]  R² %.3f  %d runs", f.slope, f.slopeLow, f.slopeHigh, f.r2, f.runs) + left)
                    } else {
                        print("  " + method + " no fit (\(f.runs) usable runs; 3 with distinct λ_max needed)" + left)
                    }
                }
                print("written: " + files.map { ((out ?? folder) as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
                return
            }
            // A sweep folder: sweep.svg, a figure of its runs against one axis.
            guard let figure, let against else {
                throw InputError(figure == nil ? "--figure" : "--against", "a sweep folder needs --figure NAME and --against AXIS")
            }
            let sweep = try SweepFolder.open(folder)
            let svg = try SweepPlot.svg(sweep, command: try SweepCommands.named(sweep.manifest.command, field: "manifest.json"),
                                        figure: figure, against: against)
            let files = try FigureRenderer.files([("sweep.svg", Data(svg.utf8))], formats: formats)
            if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
            print("written: " + files.map { ((out ?? folder) as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
            return
        }
        if figure != nil || against != nil { throw InputError(figure != nil ? "--figure" : "--against", "belongs to a sweep folder") }
        if escape { throw InputError("--escape", "belongs to a sweep folder of `compare` runs") }
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("wall_times.csv")) {
            // A compare folder: comparison.svg redrawn from its runs.
            let svg = try Comparison.read(folder: folder, criteria: criteria).svg()
            let files = try FigureRenderer.files([("comparison.svg", Data(svg.utf8))], formats: formats)
            if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
            print("written: " + files.map { ((out ?? folder) as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
            return
        }
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("curvature-grid.json")) {
            // A curvature grid: its figures redrawn from curvature.csv and the spectra.
            let (grid, cells) = try CurvatureGrid.read(folder: folder)
            let files = try FigureRenderer.files(grid.figureFiles(histogramCells: cells), formats: formats)
            if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
            print("written: " + files.map { ((out ?? folder) as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
            return
        }
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("curvature.json")) {
            throw InputError("DIR", "\(folder) holds the curvature of one network (curvature.json); it has no figures (a grid folder has)")
        }
        // Spaces or commas, as the other list options take commas (--format, --methods).
        let times = try self.times.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { text -> Double in
            let item = text.trimmingCharacters(in: .whitespaces)
            guard let t = Double(item) else { throw InputError("--times", "'\(item)' is not a number") }
            return t
        }
        if let bad = times.first(where: { !$0.isFinite || $0 < 0 }) { throw InputError("--times", "\(bad) is not a time ≥ 0") }
        let files = try FigureRenderer.files(RunFigures.files(folder: folder, criteria: criteria, times: times.isEmpty ? nil : times),
                                             formats: formats)
        let destination = out ?? folder
        if let out { try RunFolder.writeDerived(files, to: out, kind: "figures") } else { try RunFolder.add(files, to: folder) }
        print("written: " + files.map { (destination as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
    }
}
