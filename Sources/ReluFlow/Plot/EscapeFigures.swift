import Foundation
@preconcurrency import CGSL

/// The escape experiment of issue 18 (SPEC §7, §8; Orvieto et al.'s claim that gradient methods
/// leave the flat start of a deep network in a time inversely related to its curvature, and
/// adaptive methods quickly), read from a sweep of `compare` runs (`reluflow plot DIR --escape`):
///
/// - `escape.csv`: one row per run and method: the run's id and axes, depth, width, the method,
///   its status, escape time and iteration (SPEC §7, empty when never reached), the end of its
///   first plateau (SPEC §6), and λ_max, λ_min of the Hessian at θ(0) (`compare.json`), whether
///   it is in the fit, its `outcome` (`Outcome`) and, when it did not escape, `escapeCensoredAt`.
/// - `escape_fits.csv`: per method the least-squares line log₁₀ t_escape = a + s·log₁₀ λ_max over
///   the runs that escaped with λ_max > 0 and did not fail: completed, or stopped by a flow's work
///   budget after escaping (status `stopped`: the flow up to the stop is integrated as always, so
///   that escape time is exact). The slope s with its 95% confidence interval (Student t with
///   n − 2 degrees of freedom on the slope's standard error), a, R², the runs used (and of them
///   those stopped after escaping), and the runs left out and why: the method's run failed
///   (status `failed` or `interrupted`: it stopped early, at several attracting surfaces for a
///   flow, so its escape, when it had one, belongs to a run selected by not failing before it),
///   it never escaped by T or it was stopped by its budget before escaping (both right-censored,
///   at T or at the stop: the escape time exceeds it, which biases the slope towards 0 when many
///   are), or λ_max ≤ 0 (a dead network: no log). A method with fewer than three usable runs gets
///   a row with empty slope.
/// - `escape_curvature.svg`: escape time against λ_max (log–log), each method in its own colour
///   and marker shape (`methodStyle`), with its fitted line and slope [CI] in the legend; runs
///   that failed after escaping drawn hollow, counted in the legend, not fitted.
/// - `escape_depth.svg`: escape time against depth, one panel per width: each run as a marker
///   (hollow when it failed), the median over the completed runs at each depth as a line, per method.
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
        /// For a run that did not escape: the time it was followed to (T, or where it stopped),
        /// which its escape time exceeds (compare.json's `escapeCensoredAt`, else its
        /// `finalTime` or `lastGoodTime`).
        public var escapeCensoredAt: Double? = nil

        /// The method's run ended early by a failure (status `failed` or `interrupted`; an empty
        /// status, from a compare.json without one, counts as completed).
        public var failed: Bool { !(status.isEmpty || status == FlowStatus.completed.rawValue || stopped) }
        /// A flow stopped by its work budget before T (status `stopped`): not a failure.
        public var stopped: Bool { status == FlowStatus.stopped.rawValue }
        /// λ_max at θ(0) known and positive: a place on the log axis.
        public var curved: Bool { (lambdaMax ?? 0) > 0 }
        /// Drawn on the log–log axes: an escape time and λ_max, both positive.
        public var drawable: Bool { (escapeTime ?? 0) > 0 && curved }
        /// In its method's fit: not failed (completed, or stopped after escaping) and drawable.
        public var inFit: Bool { !failed && drawable }
        public var outcome: Outcome {
            switch (escapeTime != nil, failed, stopped) {
            case (true, true, _): return .escapedThenFailed
            case (true, _, true): return .escapedThenStopped
            case (true, _, _): return .escaped
            case (false, true, _): return .failedBeforeEscape
            case (false, _, true): return .stoppedBeforeEscape
            default: return .neverEscaped
            }
        }
    }

    /// What became of one method's run, as `escape.csv` and the fits count it.
    public enum Outcome: String, Sendable {
        /// Completed, escaped: in the fit (λ_max > 0).
        case escaped
        /// Escaped, then stopped by the flow's work budget before T: the escape time is exact, in the fit.
        case escapedThenStopped
        /// Escaped, then failed (or was interrupted): drawn hollow, not fitted.
        case escapedThenFailed
        /// Completed to T without escaping: censored at T.
        case neverEscaped
        /// Stopped by the work budget before escaping: censored at the stop (not "never escaped").
        case stoppedBeforeEscape
        /// Failed before escaping: no escape time, nothing known beyond the failure.
        case failedBeforeEscape
    }

    public struct Fit: Sendable {
        public var method: String
        /// Runs in the fit, and runs of the method left out: all of them, and by reason (the run
        /// failed; completed but never escaped; λ_max ≤ 0 or unknown, escaped or not, such as a dead network).
        public var runs: Int
        public var left: Int
        public var failed: Int
        public var neverEscaped: Int
        public var zeroCurvature: Int
        /// Left out: stopped by the work budget before escaping (censored at the stop).
        public var stoppedBeforeEscape: Int = 0
        /// Of the runs in the fit, those stopped by the work budget after escaping.
        public var stoppedAfterEscape: Int = 0
        /// Whether there is a line (three or more usable runs with distinct λ_max); the numbers
        /// below are NaN otherwise.
        public var fitted: Bool { slope.isFinite }
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
                let escape = number(m?["escapeTime"])
                rows.append(Row(id: run.id, axes: run.values, depth: number(summary["depth"]).map { Int($0) },
                                width: number(summary["width"]).map { Int($0) }, method: method, status: status,
                                escapeTime: escape, escapeIteration: number(m?["escapeIteration"]).map { Int($0) },
                                firstPlateauEnd: number(m?["firstPlateauEnd"]), firstPlateauTerminal: plateauTerminal,
                                lambdaMax: number(summary["lambdaMax"]), lambdaMin: number(summary["lambdaMin"]),
                                escapeCensoredAt: escape != nil ? nil
                                    : number(m?["escapeCensoredAt"]) ?? number(m?["finalTime"]) ?? number(m?["lastGoodTime"])))
            }
        }
        guard !rows.isEmpty else { throw InputError("DIR", "\(folder.path) has no completed run yet (run `reluflow sweep` first)") }
        return (rows, methods)
    }

    /// The least-squares line of log₁₀ escape time on log₁₀ λ_max for one method, over its runs
    /// `inFit` (escaped, λ_max > 0, completed or stopped by its budget after escaping), with the
    /// runs left out counted by reason; NaN slope with fewer than three usable runs or no spread
    /// in λ_max.
    public static func fit(_ rows: [Row], method: String) -> Fit {
        let mine = rows.filter { $0.method == method }
        let usable = mine.filter(\.inFit).map { (log10($0.lambdaMax!), log10($0.escapeTime!)) }
        let failed = mine.filter(\.failed).count
        // A run that did not fail but has no λ_max > 0 (a dead network: no gradient, no curvature)
        // has no place on the log axis whatever its escape: that is why it is left out, before
        // whether it escaped.
        let flat = mine.filter { !$0.failed && !$0.curved }.count
        let neverEscaped = mine.filter { $0.curved && $0.outcome == .neverEscaped }.count
        let stoppedBefore = mine.filter { $0.curved && $0.outcome == .stoppedBeforeEscape }.count
        let n = usable.count
        var fit = Fit(method: method, runs: n, left: mine.count - n, failed: failed, neverEscaped: neverEscaped,
                      zeroCurvature: flat, slope: .nan, slopeLow: .nan, slopeHigh: .nan, intercept: .nan, r2: .nan)
        fit.stoppedBeforeEscape = stoppedBefore
        fit.stoppedAfterEscape = mine.filter { $0.inFit && $0.stopped }.count
        guard n >= 3 else { return fit }
        let mx = usable.map(\.0).reduce(0, +) / Double(n), my = usable.map(\.1).reduce(0, +) / Double(n)
        let sxx = usable.reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) }
        let sxy = usable.reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let syy = usable.reduce(0) { $0 + ($1.1 - my) * ($1.1 - my) }
        guard sxx > 0 else { return fit }
        let slope = sxy / sxx, intercept = my - slope * mx
        let residual = max(syy - slope * sxy, 0)
        let se = (residual / Double(n - 2) / sxx).squareRoot()
        GSLRuntime.prepare()
        let q = gsl_cdf_tdist_Pinv(0.975, Double(n - 2))
        (fit.slope, fit.slopeLow, fit.slopeHigh, fit.intercept, fit.r2) = (slope, slope - q * se, slope + q * se, intercept, syy > 0 ? 1 - residual / syy : 1)
        return fit
    }

    /// Why a method's runs are left out of its fit, in words ("12 failed, 3 never escaped"), or "".
    public static func leftOutText(_ f: Fit) -> String {
        var parts: [String] = []
        if f.failed > 0 { parts.append("\(f.failed) failed") }
        if f.neverEscaped > 0 { parts.append("\(f.neverEscaped) never escaped") }
        if f.stoppedBeforeEscape > 0 { parts.append("\(f.stoppedBeforeEscape) stopped by the work budget before escaping (censored)") }
        if f.zeroCurvature > 0 { parts.append("\(f.zeroCurvature) with λ_max ≤ 0") }
        return parts.joined(separator: ", ")
    }

    /// The files (`escape.csv`, `escape_fits.csv`, the two figures as SVG) and the fits.
    public static func files(_ folder: SweepFolder) throws -> (files: [(String, Data)], fits: [Fit]) {
        let (rows, methods) = try rows(folder)
        let axes = folder.manifest.axes
        var table = CSVText(header: ["id"] + axes + ["depth", "width", "method", "status", "escapeTime", "escapeIteration",
                                                     "firstPlateauEnd", "firstPlateauTerminal", "lambdaMax", "lambdaMin", "inFit",
                                                     "outcome", "escapeCensoredAt"])
        func text(_ x: Double?) -> String { x.map(JSONValue.numberText) ?? "" }
        for r in rows {
            let depth: String = r.depth.map { String($0) } ?? "", width: String = r.width.map { String($0) } ?? ""
            let iteration: String = r.escapeIteration.map { String($0) } ?? ""
            let terminal: String = r.firstPlateauTerminal.map { $0 ? "true" : "false" } ?? ""
            var cells: [String] = [r.id]
            cells += r.axes.map { SweepCollection.cell($0) }
            cells += [depth, width, r.method, r.status, text(r.escapeTime), iteration, text(r.firstPlateauEnd), terminal]
            cells += [text(r.lambdaMax), text(r.lambdaMin), r.inFit ? "true" : "false", r.outcome.rawValue, text(r.escapeCensoredAt)]
            table.row(cells)
        }
        let fits = methods.map { fit(rows, method: $0) }
        var fitTable = CSVText(header: ["method", "runs", "notInFit", "slope", "slopeLow95", "slopeHigh95", "intercept", "r2",
                                        "notInFitFailed", "notInFitNeverEscaped", "notInFitZeroCurvature",
                                        "notInFitStoppedBeforeEscape", "inFitStoppedAfterEscape"])
        for f in fits {
            fitTable.row([f.method, String(f.runs), String(f.left)]
                         + [f.slope, f.slopeLow, f.slopeHigh, f.intercept, f.r2].map { $0.isFinite ? JSONValue.numberText($0) : "" }
                         + [f.failed, f.neverEscaped, f.zeroCurvature, f.stoppedBeforeEscape, f.stoppedAfterEscape].map(String.init))
        }
        return ([("escape.csv", table.data), ("escape_fits.csv", fitTable.data),
                 ("escape_curvature.svg", Data(curvatureSVG(rows, methods: methods, fits: fits).utf8)),
                 ("escape_depth.svg", Data(depthSVG(rows, methods: methods).utf8))], fits)
    }

    /// The methods in a fixed order, each with its own colour (Okabe–Ito, grey for ANLS) and its
    /// own marker shape, so that no two methods look alike in colour or in shape (issue 18's trial:
    /// with three shapes cycling, the flow and Adam, GD and RMSProp were told apart by a shade
    /// only), and a method looks the same in every figure whichever methods a sweep ran.
    static let methodStyles: [(method: String, colour: String, marker: SeriesStyle.Marker)] = [
        ("flow", "#000000", .circle), ("gd", "#D55E00", .square), ("sgd", "#0072B2", .triangleDown), ("adam", "#009E73", .triangle),
        ("rmsprop", "#CC79A7", .diamond), ("adam-flow", "#E69F00", .star), ("rmsprop-flow", "#56B4E9", .plus), ("anls", "#777777", .cross),
    ]

    /// A method's style: its colour and marker (`methodStyles`), a dash pattern for its lines; a
    /// method not in the list gets one of the eight by its position k among the sweep's methods.
    static func methodStyle(_ method: String, k: Int) -> SeriesStyle {
        let index = methodStyles.firstIndex { $0.method == method } ?? (methodStyles.count - 1 - k % methodStyles.count)
        let s = methodStyles[index]
        return SeriesStyle(colour: s.colour, dash: SeriesStyle.dashes[index % SeriesStyle.dashes.count], width: 1.8, marker: s.marker,
                           opacity: 1, markerRadius: 3)
    }

    static func curvatureSVG(_ rows: [Row], methods: [String], fits: [Fit]) -> String {
        let drawn = rows.filter(\.drawable)
        let xs = drawn.map { $0.lambdaMax! }, ys = drawn.map { $0.escapeTime! }
        let frame = (x: 84.0, y: 40.0, width: 470.0, height: 360.0)
        var chart = Chart(frame: frame, x: Scale(.log, covering: xs.isEmpty ? [1e-3, 1] : xs, pixels: (0, 1), pad: 0.04),
                          y: Scale(.log, covering: ys.isEmpty ? [1e-3, 1] : ys, pixels: (0, 1), pad: 0.04),
                          title: "Escape time against λ_max at θ(0)", xLabel: "λ_max of the Hessian at θ(0) (log scale)",
                          yLabel: "escape time t (log scale)", id: "escape-curvature")
        for (k, method) in methods.enumerated() {
            var marker = methodStyle(method, k: k)
            marker.opacity = 0.7
            let mine = drawn.filter { $0.method == method }
            let points = mine.filter(\.inFit).map { ($0.lambdaMax!, $0.escapeTime!) }
            let failedPoints = mine.filter(\.failed).map { ($0.lambdaMax!, $0.escapeTime!) }
            let fit = fits.first { $0.method == method } ?? Self.fit(rows, method: method)
            var name = fit.fitted ? String(format: "%@: slope %.2f [%.2f, %.2f]", label(method), fit.slope, fit.slopeLow, fit.slopeHigh)
                                  : "\(label(method)): \(fit.runs) usable run\(fit.runs == 1 ? "" : "s"), no fit"
            if fit.stoppedAfterEscape > 0 { name += " (\(fit.stoppedAfterEscape) stopped by the budget after escaping: fitted)" }
            if fit.failed > 0 { name += " (\(fit.failed) failed: not fitted)" }
            chart.markers(name, points, style: marker, legend: true)
            if !failedPoints.isEmpty {
                var hollow = methodStyle(method, k: k)
                hollow.hollow = true
                chart.markers("\(label(method)): \(failedPoints.count) failed after escaping, not fitted", failedPoints, style: hollow)
            }
            if fit.fitted, let lo = points.map(\.0).min(), let hi = points.map(\.0).max() {
                let line = [lo, hi].map { ($0, pow(10, fit.intercept + fit.slope * log10($0))) }
                var s = methodStyle(method, k: k)
                s.marker = .none
                chart.line("fit \(method)", line, style: s, legend: false)
            }
        }
        var caption = "one marker per run and method that escaped (L ≤ (1 − δ) L(0)), each method in its own colour and shape; "
            + "lines: least-squares fits of log t on log λ_max over the runs that did not fail (completed, or stopped by the work budget "
            + "after escaping: that escape time is exact), slope with its 95% interval in the legend; "
            + "t = k·η for the discrete methods"
        caption += notDrawnNote(rows)
        return Figure(width: chart.widthWithRightLegend(), height: frame.y + frame.height + 60, panels: [chart.svg(legendPlace: .right)],
                      caption: caption).svg()
    }

    /// The caption's account of the runs not drawn or drawn hollow, "" when every run is drawn filled.
    /// `curvature`: whether the figure needs λ_max > 0 (the log–log one) or only the escape time.
    static func notDrawnNote(_ rows: [Row], curvature: Bool = true) -> String {
        func drawable(_ r: Row) -> Bool { curvature ? r.drawable : (r.escapeTime ?? 0) > 0 }
        let hollow = rows.filter { $0.failed && drawable($0) }.count
        let failedUnseen = rows.filter { $0.failed && !drawable($0) }.count
        // On the log–log figure a run without λ_max > 0 is counted as such, escaped or not (as the fits count it).
        func placed(_ r: Row) -> Bool { !curvature || r.curved }
        let neverEscaped = rows.filter { placed($0) && $0.outcome == .neverEscaped }.count
        let stoppedBefore = rows.filter { placed($0) && $0.outcome == .stoppedBeforeEscape }.count
        let dead = rows.filter { !$0.failed && (!placed($0) || ($0.escapeTime != nil && !drawable($0))) }.count
        var out = ""
        if hollow > 0 { out += "; hollow: \(hollow) (run, method) pairs whose run failed after escaping (\(curvature ? "not fitted" : "not in the medians"))" }
        if failedUnseen > 0 { out += "; \(failedUnseen) failed before escaping" }
        if neverEscaped > 0 { out += "; \(neverEscaped) completed without escaping" }
        if stoppedBefore > 0 { out += "; \(stoppedBefore) stopped by the work budget before escaping (censored at the stop, not \"never escaped\")" }
        if dead > 0 { out += "; \(dead) with λ_max ≤ 0 or none" }
        if failedUnseen + neverEscaped + stoppedBefore + dead > 0 { out += " (not drawn; escape.csv, escape_fits.csv)" }
        return out
    }

    static func depthSVG(_ rows: [Row], methods: [String]) -> String {
        let widths = Array(Set(rows.compactMap(\.width))).sorted()
        let drawn = rows.filter { ($0.escapeTime ?? 0) > 0 && $0.depth != nil && $0.width != nil }
        let depths = drawn.map { Double($0.depth!) }, ys = drawn.map { $0.escapeTime! }
        let xScale = Scale(.linear, covering: depths.isEmpty ? [2, 8] : depths, pixels: (0, 1), pad: 0.06)
        let yScale = Scale(.log, covering: ys.isEmpty ? [1e-3, 1] : ys, pixels: (0, 1), pad: 0.04)
        let columns = min(2, max(widths.count, 1)), panelWidth = 300.0, panelHeight = 230.0
        // Depth is a whole number: its ticks are the depths of the grid (every k-th where they
        // would crowd), not 1-2-5 steps between them.
        let distinctDepths = Array(Set(drawn.compactMap(\.depth))).sorted()
        let depthTicks: [(Double, String)]? = distinctDepths.isEmpty ? nil : {
            let every = max(1, Int((Double(distinctDepths.count) * 30 / panelWidth).rounded(.up)))
            return distinctDepths.enumerated().filter { $0.offset % every == 0 }.map { (Double($0.element), String($0.element)) }
        }()
        var panels: [String] = []
        let legendPanel = columns - 1
        var figureWidth = 84 + Double(columns) * (panelWidth + 90)
        for (p, width) in (widths.isEmpty ? [0] : widths).enumerated() {
            let x0 = 84 + Double(p % columns) * (panelWidth + 90), y0 = 40 + Double(p / columns) * (panelHeight + 80)
            var chart = Chart(frame: (x0, y0, panelWidth, panelHeight), x: xScale, y: yScale, title: "width \(width)",
                              xLabel: "depth L (weight matrices)", yLabel: "escape time t (log)", id: "escape-depth-\(width)")
            for (k, method) in methods.enumerated() {
                let mine = drawn.filter { $0.method == method && $0.width == width }
                var marker = methodStyle(method, k: k)
                marker.opacity = 0.45
                marker.markerRadius = 2.4
                chart.markers("\(label(method)) (runs)", mine.filter { !$0.failed }.map { (Double($0.depth!), $0.escapeTime!) }, style: marker, legend: false)
                let failed = mine.filter(\.failed)
                if !failed.isEmpty {
                    var hollow = methodStyle(method, k: k)
                    hollow.hollow = true
                    hollow.markerRadius = 2.4
                    chart.markers("\(label(method)) (failed runs)", failed.map { (Double($0.depth!), $0.escapeTime!) }, style: hollow, legend: false)
                }
                let medians = Dictionary(grouping: mine.filter { !$0.failed }, by: { $0.depth! }).map { depth, group in
                    (Double(depth), SweepCollection.quantile(group.map { $0.escapeTime! }.sorted(), 0.5))
                }.sorted { $0.0 < $1.0 }
                chart.line(label(method), medians, style: methodStyle(method, k: k), legend: p == legendPanel)
            }
            if p == legendPanel && drawn.contains(where: \.failed) {
                chart.legendEntry("hollow: the run failed", style: SeriesStyle(colour: "#555555", dash: nil, marker: .circle, hollow: true), kind: .marker)
            }
            // The legend right of the first row (inside a panel it would hide runs).
            panels.append(chart.svg(legendPlace: .right, xTickLabels: depthTicks))
            if p == legendPanel { figureWidth = max(figureWidth, chart.widthWithRightLegend()) }
        }
        let rowsCount = (max(widths.count, 1) + columns - 1) / columns
        var caption = "escape time against depth, one panel per width: markers are runs (each method in its own colour and shape), "
            + "lines join the medians over the runs that escaped at each depth and did not fail (completed, or stopped by the work budget after escaping)"
        caption += notDrawnNote(rows.filter { $0.depth != nil && $0.width != nil }, curvature: false)
        return Figure(width: figureWidth, height: 40 + Double(rowsCount) * (panelHeight + 80),
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
