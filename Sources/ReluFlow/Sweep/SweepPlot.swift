import Foundation

/// `reluflow plot DIR --figure NAME --against AXIS` on a sweep folder: `sweep.svg`, one marker per
/// completed run (the figure against the axis's value) and the median over the runs at each value
/// as a line. Log axes where the values are positive and span more than two decades. An axis whose
/// values are not all numbers (a list such as `network.layers`, a string such as an activation) is
/// drawn as categories: its distinct values in the grid's order, equally spaced, each labelled by
/// its JSON text: horizontally when the labels fit, else turned to read upwards, and every k-th
/// only where not even those fit (`CategoryLabels`).
public enum SweepPlot {
    public static func svg(_ folder: SweepFolder, command: any SweepCommand, figure: String, against axis: String) throws -> String {
        guard let a = folder.manifest.axes.firstIndex(of: axis) else {
            throw InputError("--against", "'\(axis)' is not an axis of the sweep (its axes: \(folder.manifest.axes.joined(separator: ", ")))")
        }
        // Categories (in the grid's order) unless every value of the axis is a number.
        let numeric = folder.manifest.runs.allSatisfy { if case .number = $0.values[a] { return true } else { return false } }
        var categories: [String] = []
        if !numeric {
            for run in folder.manifest.runs where !categories.contains(run.values[a].text) { categories.append(run.values[a].text) }
        }
        var points: [(Double, Double)] = []
        var seenFigure = false
        for run in folder.manifest.runs where folder.state(of: run, command: command, checkLock: false, staged: []) == .completed {
            let x: Double
            if case .number(let v) = run.values[a], numeric { x = v } else { x = Double(categories.firstIndex(of: run.values[a].text)!) }
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
        let frame = (x: RunFigures.left, y: 24.0, width: RunFigures.panelWidth, height: 240.0)   // room for the tick labels and the y title left of the frame (Chart)
        // Padded on both axes, so that the runs at the ends of an axis are drawn whole.
        let xScale = numeric ? Scale(kind(xs), covering: xs, pixels: (frame.x, frame.x + frame.width), pad: 0.04)
            : Scale(.linear, lo: -0.5, hi: Double(categories.count) - 0.5, pixels: (frame.x, frame.x + frame.width))
        // Category labels: all of them when they fit, horizontally or turned (`CategoryLabels`).
        let layout = numeric ? nil : CategoryLabels.layout(categories, spacing: frame.width / Double(max(categories.count, 1)),
                                                           leftRoom: frame.x - 8, rightRoom: Typography.figureWidth - frame.x - frame.width - 4)
        let every = layout?.every ?? 1
        let yScale = Scale(kind(ys), covering: ys, pixels: (frame.y + frame.height, frame.y), pad: 0.04)
        // No title: the axes name the figure and the axis (a title repeating both would not fit a column).
        var chart = Chart(frame: frame, x: xScale, y: yScale, title: "", xLabel: axis, yLabel: figure, id: "sweep")
        chart.categories = layout
        chart.markers("run", points, style: SeriesStyle(colour: "#0072B2", dash: nil, marker: .circle, opacity: 0.6))
        let medians = Dictionary(grouping: points, by: \.0).map { x, group in
            (x, SweepCollection.quantile(group.map(\.1).sorted(), 0.5))
        }.sorted { $0.0 < $1.0 }
        chart.line("median", medians, style: SeriesStyle(colour: "#D55E00", dash: nil, width: 2))
        return Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true), panels: [chart.svg(legendPlace: .below)],
                      caption: "\(figure) against \(axis) (\(points.count) runs): one marker per completed run of the sweep in "
                        + "\((folder.path as NSString).lastPathComponent); the line joins the medians at each value of \(axis)"
                        + (numeric ? "" : " (its values as categories, in the grid's order" + (every > 1 ? ", one label in \(every)" : "") + ")")).svg()
    }
}
