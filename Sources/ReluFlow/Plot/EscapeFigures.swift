import Foundation
@preconcurrency import CGSL

/// The escape experiment of issue 18 (SPEC §7, §8; Orvieto et al.'s claim that gradient methods
/// leave the flat start of a deep network in a time inversely related to its curvature, and
/// adaptive methods quickly), read from a sweep of `compare` runs (`reluflow plot DIR --escape`):
///
/// - `escape.csv`: one row per run and method: the run's id and axes, depth, width, the method,
///   its status, escape time and iteration (SPEC §7, empty when never reached), the end of its
///   first plateau (SPEC §6), and λ_max, λ_min of the Hessian at θ(0) (`compare.json`).
/// - `escape_fits.csv`: per method the least-squares line log₁₀ t_escape = a + s·log₁₀ λ_max over
///   the runs that escaped with λ_max > 0: the slope s with its 95% confidence interval
///   (Student t with n − 2 degrees of freedom on the slope's standard error), a, R², the runs
///   used and the runs that never escaped (left out of the fit: censored, which biases the slope
///   towards 0 when many are; the count says how much).
/// - `escape_curvature.svg`: escape time against λ_max (log–log), one colour per method, with
///   its fitted line and slope [CI] in the legend.
/// - `escape_depth.svg`: escape time against depth, one panel per width: each run as a marker,
///   the median over the runs at each depth as a line, per method.
public enum EscapeExperiment {
    public struct Row: Sendable {
        public var id: String
        public var axes: [JSONValue]
        public var depth: Int?
        public var width: Int?
        public var method: String
        public var status: String
        public var escapeTime: Double?
        public var escapeIteration: Int?
        public var firstPlateauEnd: Double?
        public var firstPlateauTerminal: Bool?
        public var lambdaMax: Double?
        public var lambdaMin: Double?
    }

    public struct Fit: Sendable {
        public var method: String
        /// Runs in the fit, and runs of the method that never escaped (or had λ_max ≤ 0).
        public var runs: Int
        public var left: Int
        public var slope: Double
        public var slopeLow: Double
        public var slopeHigh: Double
        public var intercept: Double
        public var r2: Double
    }

    /// The rows of the completed runs of a sweep of `compare` runs, and the methods in the order
    /// of the first run's `compare.json` (flows first).
    public static func rows(_ folder: SweepFolder) throws -> (rows: [Row], methods: [String]) {
        guard folder.manifest.command == "compare" else {
            throw InputError("--escape", "needs a sweep of `compare` runs (this sweep runs `\(folder.manifest.command)`)")
        }
        let command = CompareSweepCommand()
        var rows: [Row] = [], methods: [String] = []
        for run in folder.manifest.runs where folder.state(of: run, command: command, checkLock: false, staged: []) == .completed {
            let path = (folder.runPath(run.id) as NSString).appendingPathComponent("compare.json")
            let summary = try JSONValue.parse(try RunFolder.readFile(path), source: path)
            func number(_ v: JSONValue?) -> Double? { if case .number(let d)? = v { return d }; return nil }
            guard case .array(let list)? = summary["methods"] else { throw InputError("DIR", "\(path) lists no methods") }
            for case .string(let method) in list {
                if !methods.contains(method) { methods.append(method) }
                let m = summary[method]
                var plateauTerminal: Bool? = nil
                if case .bool(let b)? = m?["firstPlateauTerminal"] { plateauTerminal = b }
                var status = ""
                if case .string(let s)? = m?["status"] { status = s }
                rows.append(Row(id: run.id, axes: run.values, depth: number(summary["depth"]).map { Int($0) },
                                width: number(summary["width"]).map { Int($0) }, method: method, status: status,
                                escapeTime: number(m?["escapeTime"]), escapeIteration: number(m?["escapeIteration"]).map { Int($0) },
                                firstPlateauEnd: number(m?["firstPlateauEnd"]), firstPlateauTerminal: plateauTerminal,
                                lambdaMax: number(summary["lambdaMax"]), lambdaMin: number(summary["lambdaMin"])))
            }
        }
        guard !rows.isEmpty else { throw InputError("DIR", "\(folder.path) has no completed run yet (run `reluflow sweep` first)") }
        return (rows, methods)
    }

    /// The least-squares line of log₁₀ escape time on log₁₀ λ_max for one method (nil with fewer
    /// than three usable runs).
    public static func fit(_ rows: [Row], method: String) -> Fit? {
        let mine = rows.filter { $0.method == method }
        let usable = mine.compactMap { r -> (Double, Double)? in
            guard let t = r.escapeTime, t > 0, let l = r.lambdaMax, l > 0 else { return nil }
            return (log10(l), log10(t))
        }
        let n = usable.count
        guard n >= 3 else { return nil }
        let mx = usable.map(\.0).reduce(0, +) / Double(n), my = usable.map(\.1).reduce(0, +) / Double(n)
        let sxx = usable.reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) }
        let sxy = usable.reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let syy = usable.reduce(0) { $0 + ($1.1 - my) * ($1.1 - my) }
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx, intercept = my - slope * mx
        let residual = max(syy - slope * sxy, 0)
        let se = (residual / Double(n - 2) / sxx).squareRoot()
        GSLRuntime.prepare()
        let q = gsl_cdf_tdist_Pinv(0.975, Double(n - 2))
        return Fit(method: method, runs: n, left: mine.count - n, slope: slope, slopeLow: slope - q * se, slopeHigh: slope + q * se,
                   intercept: intercept, r2: syy > 0 ? 1 - residual / syy : 1)
    }

    /// The files (`escape.csv`, `escape_fits.csv`, the two figures as SVG) and the fits.
    public static func files(_ folder: SweepFolder) throws -> (files: [(String, Data)], fits: [Fit]) {
        let (rows, methods) = try rows(folder)
        let axes = folder.manifest.axes
        var table = CSVText(header: ["id"] + axes + ["depth", "width", "method", "status", "escapeTime", "escapeIteration",
                                                     "firstPlateauEnd", "firstPlateauTerminal", "lambdaMax", "lambdaMin"])
        func text(_ x: Double?) -> String { x.map(JSONValue.numberText) ?? "" }
        for r in rows {
            let depth: String = r.depth.map { String($0) } ?? "", width: String = r.width.map { String($0) } ?? ""
            let iteration: String = r.escapeIteration.map { String($0) } ?? ""
            let terminal: String = r.firstPlateauTerminal.map { $0 ? "true" : "false" } ?? ""
            var cells: [String] = [r.id]
            cells += r.axes.map { SweepCollection.cell($0) }
            cells += [depth, width, r.method, r.status, text(r.escapeTime), iteration, text(r.firstPlateauEnd), terminal]
            cells += [text(r.lambdaMax), text(r.lambdaMin)]
            table.row(cells)
        }
        let fits = methods.compactMap { fit(rows, method: $0) }
        var fitTable = CSVText(header: ["method", "runs", "notInFit", "slope", "slopeLow95", "slopeHigh95", "intercept", "r2"])
        for f in fits {
            fitTable.row([f.method, String(f.runs), String(f.left)] + [f.slope, f.slopeLow, f.slopeHigh, f.intercept, f.r2].map(JSONValue.numberText))
        }
        return ([("escape.csv", table.data), ("escape_fits.csv", fitTable.data),
                 ("escape_curvature.svg", Data(curvatureSVG(rows, methods: methods, fits: fits).utf8)),
                 ("escape_depth.svg", Data(depthSVG(rows, methods: methods).utf8))], fits)
    }

    static func style(_ k: Int) -> SeriesStyle {
        SeriesStyle(colour: SeriesStyle.colours[(k + 1) % SeriesStyle.colours.count], dash: SeriesStyle.dashes[k % SeriesStyle.dashes.count],
                    width: 1.8, marker: [.circle, .square, .triangle][k % 3], opacity: 1, markerRadius: 2.6)
    }

    static func curvatureSVG(_ rows: [Row], methods: [String], fits: [Fit]) -> String {
        let drawn = rows.filter { ($0.escapeTime ?? 0) > 0 && ($0.lambdaMax ?? 0) > 0 }
        let xs = drawn.map { $0.lambdaMax! }, ys = drawn.map { $0.escapeTime! }
        let frame = (x: 84.0, y: 40.0, width: 470.0, height: 360.0)
        var chart = Chart(frame: frame, x: Scale(.log, covering: xs.isEmpty ? [1e-3, 1] : xs, pixels: (0, 1), pad: 0.04),
                          y: Scale(.log, covering: ys.isEmpty ? [1e-3, 1] : ys, pixels: (0, 1), pad: 0.04),
                          title: "Escape time against λ_max at θ(0)", xLabel: "λ_max of the Hessian at θ(0) (log scale)",
                          yLabel: "escape time t (log scale)", id: "escape-curvature")
        for (k, method) in methods.enumerated() {
            var marker = style(k)
            marker.opacity = 0.55
            let points = drawn.filter { $0.method == method }.map { ($0.lambdaMax!, $0.escapeTime!) }
            let fit = fits.first { $0.method == method }
            let name = fit.map { String(format: "%@: slope %.2f [%.2f, %.2f]", label(method), $0.slope, $0.slopeLow, $0.slopeHigh) }
                ?? "\(label(method)): too few escapes to fit"
            chart.markers(name, points, style: marker)
            if let fit, let lo = points.map(\.0).min(), let hi = points.map(\.0).max() {
                let line = [lo, hi].map { ($0, pow(10, fit.intercept + fit.slope * log10($0))) }
                var s = style(k)
                s.marker = .none
                chart.line("fit \(method)", line, style: s, legend: false)
            }
        }
        let notEscaped = rows.filter { $0.escapeTime == nil }.count
        var caption = "one marker per run and method that escaped (L ≤ (1 − δ) L(0)); lines: least-squares fits of log t on log λ_max, "
            + "slope with its 95% interval in the legend; t = k·η for the discrete methods"
        if notEscaped > 0 { caption += "; \(notEscaped) (run, method) pairs never escaped and are not drawn (escape.csv, escape_fits.csv)" }
        return Figure(width: chart.widthWithRightLegend(), height: frame.y + frame.height + 60, panels: [chart.svg(legendPlace: .right)],
                      caption: caption).svg()
    }

    static func depthSVG(_ rows: [Row], methods: [String]) -> String {
        let widths = Array(Set(rows.compactMap(\.width))).sorted()
        let drawn = rows.filter { ($0.escapeTime ?? 0) > 0 && $0.depth != nil && $0.width != nil }
        let depths = drawn.map { Double($0.depth!) }, ys = drawn.map { $0.escapeTime! }
        let xScale = Scale(.linear, covering: depths.isEmpty ? [2, 8] : depths, pixels: (0, 1), pad: 0.06)
        let yScale = Scale(.log, covering: ys.isEmpty ? [1e-3, 1] : ys, pixels: (0, 1), pad: 0.04)
        let columns = min(2, max(widths.count, 1)), panelWidth = 300.0, panelHeight = 230.0
        var panels: [String] = []
        for (p, width) in (widths.isEmpty ? [0] : widths).enumerated() {
            let x0 = 84 + Double(p % columns) * (panelWidth + 90), y0 = 40 + Double(p / columns) * (panelHeight + 80)
            var chart = Chart(frame: (x0, y0, panelWidth, panelHeight), x: xScale, y: yScale, title: "width \(width)",
                              xLabel: "depth L (weight matrices)", yLabel: "escape time t (log)", id: "escape-depth-\(width)")
            for (k, method) in methods.enumerated() {
                let mine = drawn.filter { $0.method == method && $0.width == width }
                var marker = style(k)
                marker.opacity = 0.4
                marker.markerRadius = 2
                chart.markers("\(label(method)) (runs)", mine.map { (Double($0.depth!), $0.escapeTime!) }, style: marker, legend: false)
                let medians = Dictionary(grouping: mine, by: { $0.depth! }).map { depth, group in
                    (Double(depth), SweepCollection.quantile(group.map { $0.escapeTime! }.sorted(), 0.5))
                }.sorted { $0.0 < $1.0 }
                chart.line(label(method), medians, style: style(k), legend: p == 0)
            }
            panels.append(chart.svg(legendPlace: .insideTopRight))
        }
        let rowsCount = (max(widths.count, 1) + columns - 1) / columns
        let notEscaped = rows.filter { $0.escapeTime == nil }.count
        var caption = "escape time against depth, one panel per width: markers are runs, lines join the medians over the runs that escaped at each depth"
        if notEscaped > 0 { caption += "; \(notEscaped) (run, method) pairs never escaped and are not drawn" }
        return Figure(width: 84 + Double(columns) * (panelWidth + 90), height: 40 + Double(rowsCount) * (panelHeight + 80),
                      panels: panels, caption: caption).svg()
    }

    /// A legend label a reader understands without the docs.
    static func label(_ method: String) -> String {
        switch method {
        case "flow": return "gradient flow"
        case "rmsprop-flow": return "RMSProp flow"
        case "adam-flow": return "Adam flow"
        case "gd": return "GD"
        case "sgd": return "SGD"
        case "adam": return "Adam"
        case "rmsprop": return "RMSProp"
        default: return method
        }
    }
}
