import Foundation

/// `reluflow plot DIR --figure NAME --against AXIS` on a sweep folder: `sweep.svg`, one marker per
/// completed run (the figure against the axis's value) and the median over the runs at each value
/// as a line. Log axes where the values are positive and span more than two decades.
public enum SweepPlot {
    public static func svg(_ folder: SweepFolder, command: any SweepCommand, figure: String, against axis: String) throws -> String {
        guard let a = folder.manifest.axes.firstIndex(of: axis) else {
            throw InputError("--against", "'\(axis)' is not an axis of the sweep (its axes: \(folder.manifest.axes.joined(separator: ", ")))")
        }
        var points: [(Double, Double)] = []
        var seenFigure = false
        for run in folder.manifest.runs where folder.state(of: run, command: command, checkLock: false, staged: []) == .completed {
            guard case .number(let x) = run.values[a] else {
                throw InputError("--against", "'\(axis)' has a value that is not a number (\(run.values[a].text)); plot against a numeric axis")
            }
            let figures = SweepCollection.figures(of: folder.runPath(run.id), summaryFile: command.summaryFile)
            switch figures[figure] {
            case .number(let y)?: points.append((x, y)); seenFigure = true
            case .bool(let b)?: points.append((x, b ? 1 : 0)); seenFigure = true
            case .some: throw InputError("--figure", "'\(figure)' is not a number in run \(run.id)")
            case nil: continue
            }
        }
        guard seenFigure else {
            let known = folder.manifest.runs.lazy.filter { folder.state(of: $0, command: command, checkLock: false, staged: []) == .completed }
                .first.map { SweepCollection.figures(of: folder.runPath($0.id), summaryFile: command.summaryFile).keys.sorted().joined(separator: ", ") } ?? "none: no run is complete"
            throw InputError("--figure", "no completed run has the figure '\(figure)' (figures: \(known))")
        }
        func kind(_ values: [Double]) -> Scale.Kind {
            let positive = values.filter { $0 > 0 && $0.isFinite }
            guard positive.count == values.count, let lo = positive.min(), let hi = positive.max(), hi >= 100 * lo else { return .linear }
            return .log
        }
        let xs = points.map(\.0), ys = points.map(\.1).filter(\.isFinite)
        let frame = (x: RunFigures.left, y: 24.0, width: RunFigures.panelWidth, height: 240.0)   // room for the y label 64 px left of the frame (Chart)
        // Padded on both axes, so that the runs at the ends of an axis are drawn whole.
        let xScale = Scale(kind(xs), covering: xs, pixels: (frame.x, frame.x + frame.width), pad: 0.04)
        let yScale = Scale(kind(ys), covering: ys, pixels: (frame.y + frame.height, frame.y), pad: 0.04)
        // No title: the axes name the figure and the axis (a title repeating both would not fit a column).
        var chart = Chart(frame: frame, x: xScale, y: yScale, title: "", xLabel: axis, yLabel: figure, id: "sweep")
        chart.markers("run", points, style: SeriesStyle(colour: "#0072B2", dash: nil, marker: .circle, opacity: 0.6))
        let medians = Dictionary(grouping: points, by: \.0).map { x, group in
            (x, SweepCollection.quantile(group.map(\.1).sorted(), 0.5))
        }.sorted { $0.0 < $1.0 }
        chart.line("median", medians, style: SeriesStyle(colour: "#D55E00", dash: nil, width: 2))
        return Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true), panels: [chart.svg(legendPlace: .below)],
                      caption: "\(figure) against \(axis) (\(points.count) runs): one marker per completed run of the sweep in "
                        + "\((folder.path as NSString).lastPathComponent); the line joins the medians at each value of \(axis)").svg()
    }
}
