import Foundation
import XCTest
@testable import ReluFlow

/// The layout choices of the figures a new-user trial of issue 18 found wrong: tick labels that
/// overlap on a log axis spanning less than a decade or so, methods that share a marker shape and
/// a near colour, failed runs drawn and fitted like completed ones, categorical labels thinned
/// when they fit, y titles on the page's edge, a failed run not marked in `comparison.svg`.
/// Tested on the chart model (the ticks, labels, styles, series the SVG holds) and, where text
/// positions matter, on librsvg's own layout of the text (`FigureRenderer.textBoxes`).
final class FigureLayoutTests: XCTestCase {
    typealias Tick = (value: Double, label: String)

    /// Pixel gaps between neighbouring labels of `extent` (negative: they overlap), in axis order.
    func gaps(_ ticks: [Tick], _ scale: Scale, extent: (String) -> Double) -> [Double] {
        let placed = ticks.map { (p: scale($0.value), e: extent($0.label)) }.sorted { $0.p < $1.p }
        return zip(placed, placed.dropFirst()).map { $1.p - $0.p - ($0.e + $1.e) / 2 }
    }

    /// On log axes over a narrow span (the escape figures' λ_max and t, a compare figure's loss)
    /// the rule "every multiple under 1.2 decades" put labels 22 px apart whose widths are 36 px: it
    /// overlapped. The chosen ticks keep every two labels at least their gap apart (6 px along x,
    /// 1 px between the 14 px lines along y), and there are at least two, mostly three or more.
    func testTickLabelsKeepApartOnNarrowLogSpans() {
        let width = { (s: String) in Typography.width(s) }
        let line = { (_: String) in Typography.lineHeight }
        // The old rule overlaps here (so this test can fail): 0.5 … 3 along 470 px, 9·10⁻¹ and 10⁰.
        let old = Scale(.log, lo: 0.5, hi: 3, pixels: (84, 554))
        XCTAssertLessThan(gaps(old.ticks(target: Chart.tickTarget(470)), old, extent: width).min()!, 0, "the old ticks overlap")
        var cases: [(Scale, Int, (String) -> Double, Double, String)] = []
        for (lo, hi) in [(0.5, 3.0), (0.3, 0.9), (0.2, 2.5), (0.31, 0.39), (1.2e-5, 4e-5), (0.075, 2.3), (0.1, 0.26), (3e-3, 2e-2)] {
            cases.append((Scale(.log, lo: lo, hi: hi, pixels: (84, 554)), Chart.tickTarget(470), width, 6, "x 470 px [\(lo), \(hi)]"))
            cases.append((Scale(.log, lo: lo, hi: hi, pixels: (74, 356)), Chart.tickTarget(282), width, 6, "x 282 px [\(lo), \(hi)]"))
            cases.append((Scale(.log, lo: lo, hi: hi, pixels: (174, 44)), Chart.tickTarget(130), line, 1, "y 130 px [\(lo), \(hi)]"))
            cases.append((Scale(.log, lo: lo, hi: hi, pixels: (270, 40)), Chart.tickTarget(230), line, 1, "y 230 px [\(lo), \(hi)]"))
        }
        for (lo, hi) in [(-0.0003, 0.0021), (0.1, 0.1004), (-1234.5, 98765.0)] {
            cases.append((Scale(.linear, lo: lo, hi: hi, pixels: (74, 356)), Chart.tickTarget(282), width, 6, "linear x [\(lo), \(hi)]"))
        }
        var threeOrMore = 0
        for (scale, target, extent, gap, name) in cases {
            let ticks = scale.ticks(target: target, extent: extent, gap: gap)
            XCTAssertGreaterThanOrEqual(ticks.count, 2, "\(name): \(ticks.map(\.label))")
            XCTAssertGreaterThanOrEqual(gaps(ticks, scale, extent: extent).min() ?? .infinity, gap - 1e-9, "\(name): \(ticks.map(\.label))")
            for t in ticks {
                let inside = scale.contains(t.value) || [scale.lo, scale.hi].contains { abs(t.value - $0) <= 1e-9 * abs($0) }
                XCTAssertTrue(inside, "\(name): \(t) outside [\(scale.lo), \(scale.hi)]")
            }
            // Labels name their values: a decimal label reads back to its value to its own digits.
            for t in ticks where !t.label.contains("·") && !t.label.hasPrefix("10") && !t.label.contains("e") {
                let value = Double(t.label.replacingOccurrences(of: "−", with: "-"))
                XCTAssertNotNil(value, "\(name): \(t.label)")
                let decimals = t.label.contains(".") ? t.label.split(separator: ".").last!.count : 0
                if let value { XCTAssertEqual(value, t.value, accuracy: 0.5 * pow(10, -Double(decimals)), "\(name): \(t.label)") }
            }
            if ticks.count >= 3 { threeOrMore += 1 }
        }
        XCTAssertGreaterThanOrEqual(threeOrMore, cases.count - 2, "three or more labels nearly everywhere")
        // Where the old ticks fitted and were three or more, they are kept (existing figures unchanged).
        let wide = Scale(.log, lo: 1e-3, hi: 1e4, pixels: (74, 356))
        XCTAssertEqual(wide.ticks(target: 5, extent: width, gap: 6).map(\.label), wide.ticks(target: 5).map(\.label))
    }

    /// `Typography.width`, which the layout uses, against librsvg's measure of the same text at
    /// 12 px (DejaVu Sans): never more than 3% under it (labels would overlap), at most 30% over
    /// (labels would be thinned for nothing). Measured: tick labels within a few per cent.
    func testTextWidthEstimateAgainstLibrsvg() throws {
        let samples = ["10⁻³", "2·10⁻¹", "5·10⁰", "0.15", "−0.0005", "3.25·10⁻⁵", "12345", "[1,16,16,16,1]", "[1,4,4,1]",
                       "\"relu\"", "finalLoss", "network.layers", "gradient flow: slope -1.55"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"\(20 * samples.count + 20)\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">"
        for (k, s) in samples.enumerated() { svg += "<text x=\"10\" y=\"\(20 * k + 20)\" font-size=\"12\">\(svgEscape(s))</text>" }
        svg += "</svg>"
        let boxes = try FigureRenderer.textBoxes(svg).texts
        XCTAssertEqual(boxes.count, samples.count)
        for (s, box) in zip(samples, boxes) {
            let estimate = Typography.width(s)
            XCTAssertGreaterThanOrEqual(estimate, 0.97 * box.width, "\(s): estimate \(estimate), librsvg \(box.width)")
            XCTAssertLessThanOrEqual(estimate, 1.3 * box.width, "\(s): estimate \(estimate), librsvg \(box.width)")
        }
    }

    /// A categorical axis shows every label when they fit: horizontally when short, turned when
    /// long (five network.layers lists were thinned to two before), thinned only past what turned
    /// labels can hold (one per 16 px).
    func testCategoryLabelsShowEveryLabelThatFits() {
        let spacing = { (n: Int) in RunFigures.panelWidth / Double(n) }
        let short = CategoryLabels.layout(["\"relu\"", "\"abs\"", "\"linear\""], spacing: spacing(3), leftRoom: 66, rightRoom: 10)
        XCTAssertEqual(short.orientation, .horizontal)
        XCTAssertEqual(short.shown.count, 3)
        let layers = ["[1,4,1]", "[1,4,4,1]", "[1,16,16,1]", "[1,16,16,16,1]", "[1,16,16,16,16,16,16,16,1]"]
        let five = CategoryLabels.layout(layers, spacing: spacing(5), leftRoom: 66, rightRoom: 10)
        XCTAssertEqual(five.orientation, .vertical)
        XCTAssertEqual(five.shown.map(\.1), layers, "all five shown")
        XCTAssertEqual(five.every, 1)
        XCTAssertGreaterThanOrEqual(five.depth, Typography.width(layers.last!), "the axis title goes below the longest")
        let many = (0..<40).map { "[1,\($0),1]" }
        let forty = CategoryLabels.layout(many, spacing: spacing(40), leftRoom: 66, rightRoom: 10)
        XCTAssertEqual(forty.every, 3, "7 px apart: every third (21 px ≥ the 16 px of a line)")
        XCTAssertGreaterThanOrEqual(spacing(40) * Double(forty.every), Typography.lineHeight + 2)
        XCTAssertLessThan(spacing(40) * Double(forty.every - 1), Typography.lineHeight + 2, "no more thinning than needed")
    }

    /// Turned category labels as librsvg lays them out: on the page, none overlapping another or
    /// the axis title, which moves below the longest.
    func testTurnedCategoryLabelsLayOut() throws {
        let layers = ["[1,4,1]", "[1,4,4,1]", "[1,16,16,1]", "[1,16,16,16,1]", "[1,16,16,16,16,16,16,16,1]"]
        var chart = Chart(frame: (RunFigures.left, 24, RunFigures.panelWidth, 240), x: Scale(.linear, lo: -0.5, hi: 4.5, pixels: (0, 1)),
                          y: Scale(.log, lo: 0.2, hi: 40, pixels: (0, 1)), title: "", xLabel: "network.layers", yLabel: "gd.escapeTime", id: "c")
        chart.categories = CategoryLabels.layout(layers, spacing: RunFigures.panelWidth / 5, leftRoom: 66, rightRoom: 10)
        chart.markers("run", (0..<5).map { (Double($0), Double($0 + 1)) }, style: SeriesStyle(colour: "#0072B2", dash: nil, marker: .circle))
        let svg = Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true), panels: [chart.svg(legendPlace: .below)],
                         caption: "five categories").svg()
        try checkText(svg, "turned categories")
        let texts = try FigureRenderer.textBoxes(svg).texts
        for label in layers { XCTAssertTrue(texts.contains { $0.text == label && $0.height > $0.width }, "\(label) shown, turned") }
    }

    /// The y title (rotated) keeps 8 px from the page's left edge and clears the widest tick label.
    func testYTitleClearsEdgeAndTickLabels() throws {
        let chart = Chart(frame: (RunFigures.left, 30, RunFigures.panelWidth, 200), x: .linear, xValues: [0, 1], y: .log, yValues: [2e-3, 3e-1],
                          title: "t", xLabel: "x", yLabel: "loss L (log scale)", id: "y")
        let svg = Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true), panels: [chart.svg()]).svg()
        let texts = try FigureRenderer.textBoxes(svg).texts
        let title = try XCTUnwrap(texts.first { $0.text == "loss L (log scale)" })
        XCTAssertGreaterThanOrEqual(title.x, 6, "the y title's box starts \(title.x) px from the edge")
        let tickLabels = texts.filter { $0.text.contains("10") }
        XCTAssertFalse(tickLabels.isEmpty)
        for t in tickLabels { XCTAssertLessThanOrEqual(title.x + title.width, t.x - 3, "the y title clears '\(t.text)'") }
    }

    /// The lowest y tick at the top of an events strip (the loss figure's axis reaches down to a
    /// labelled tick) and the strip's "events" label: librsvg's boxes keep 2 px apart.
    func testTickAboveEventsStripClearsItsLabel() throws {
        var chart = Chart(frame: (RunFigures.left, 44, RunFigures.panelWidth, 200), x: Scale(.log, lo: 1e-3, hi: 1e4, pixels: (0, 1)),
                          y: Scale(.log, lo: 1e-4, hi: 0.3, pixels: (0, 1)), title: "Loss", xLabel: "t", yLabel: "loss L (log scale)",
                          id: "s", strip: 18)
        chart.ticks("event", at: [0.1, 1, 10], style: SeriesStyle(colour: "#000000", dash: nil, width: 0.8))
        let svg = Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true), panels: [chart.svg(legendPlace: .below)]).svg()
        XCTAssertTrue(chart.yTicks.contains { $0.label == "10⁻⁴" }, "the tick at the strip is labelled")
        let texts = try FigureRenderer.textBoxes(svg).texts
        let tick = try XCTUnwrap(texts.first { $0.text == "10⁻⁴" }), events = try XCTUnwrap(texts.first { $0.text == "events" })
        // 2 px of white between them (centred on its tick, the label's box ran 0.6 px into "events").
        XCTAssertGreaterThanOrEqual(events.y - (tick.y + tick.height), 2, "'10⁻⁴' ends at \(tick.y + tick.height), 'events' starts at \(events.y)")
    }

    // MARK: the escape experiment

    func row(_ method: String, _ status: String, escape: Double?, lambda: Double?, depth: Int = 3, width: Int = 4, id: Int = 0) -> EscapeExperiment.Row {
        EscapeExperiment.Row(id: "run\(id)", axes: [], depth: depth, width: width, method: method, status: status, escapeTime: escape,
                             escapeIteration: nil, firstPlateauEnd: nil, firstPlateauTerminal: nil, lambdaMax: lambda, lambdaMin: nil)
    }

    /// Synthetic rows: `flow` with 4 completed runs on t = 0.3/λ exactly (slope −1), 3 failed
    /// after escaping far off the line (t = 10⁻³) and 2 failed before escaping, 1 never escaped,
    /// 1 with λ_max = 0; `gd` on t = 0.1·λ^−2 with one never escaped.
    func syntheticRows(narrow: Bool = false) -> [EscapeExperiment.Row] {
        let lambdas = narrow ? [0.5, 0.8, 1.3, 2.4] : [0.05, 0.2, 0.9, 3]
        var rows: [EscapeExperiment.Row] = []
        for (k, l) in lambdas.enumerated() {
            rows.append(row("flow", "completed", escape: 0.3 / l, lambda: l, depth: 2 + k, id: k))
            rows.append(row("gd", "completed", escape: 0.1 * pow(l, -2), lambda: l, depth: 2 + k, id: k))
            rows.append(row("adam", "completed", escape: 0.02 * pow(l, -0.5), lambda: l, depth: 2 + k, id: k))
        }
        for k in 0..<3 { rows.append(row("flow", "failed", escape: narrow ? 0.05 : 1e-3, lambda: lambdas[k] * 1.1, depth: 2 + k, id: 10 + k)) }
        for k in 0..<2 { rows.append(row("flow", "failed", escape: nil, lambda: lambdas[k], id: 20 + k)) }
        rows.append(row("flow", "completed", escape: nil, lambda: lambdas[0], id: 30))
        rows.append(row("flow", "completed", escape: 1, lambda: 0, id: 31))
        rows.append(row("gd", "completed", escape: nil, lambda: lambdas[1], id: 30))
        return rows
    }

    /// Runs whose method failed are not in the fit (the failed flow runs escaped at t = 10⁻³, far
    /// off the exact line t = 0.3/λ: fitted, they would move the slope away from −1), and
    /// escape_fits.csv's columns count why each run is left out.
    func testEscapeFitLeavesOutFailedRuns() throws {
        let rows = syntheticRows()
        let flow = EscapeExperiment.fit(rows, method: "flow")
        XCTAssertEqual(flow.runs, 4)
        XCTAssertEqual(flow.failed, 5)
        XCTAssertEqual(flow.neverEscaped, 1)
        XCTAssertEqual(flow.zeroCurvature, 1)
        XCTAssertEqual(flow.left, 7)
        // Exact data: the slope −1 to rounding (1e-12, a few ulps through logs and sums).
        XCTAssertEqual(flow.slope, -1, accuracy: 1e-12)
        XCTAssertEqual(flow.intercept, log10(0.3), accuracy: 1e-12)
        // With the failed runs (as before), the slope was far from −1: the exclusion matters.
        var asCompleted = rows
        for k in asCompleted.indices where asCompleted[k].status == "failed" { asCompleted[k].status = "completed" }
        XCTAssertGreaterThan(abs(EscapeExperiment.fit(asCompleted, method: "flow").slope + 1), 0.3)
        let gd = EscapeExperiment.fit(rows, method: "gd")
        XCTAssertEqual(gd.slope, -2, accuracy: 1e-12)
        XCTAssertEqual([gd.runs, gd.failed, gd.neverEscaped, gd.zeroCurvature], [4, 0, 1, 0])
        XCTAssertEqual(EscapeExperiment.leftOutText(flow), "5 failed, 1 never escaped, 1 with λ_max ≤ 0")
        // Too few usable runs: a fit without a line, still counted.
        let few = EscapeExperiment.fit(rows.filter { $0.method == "flow" }.filter { $0.status == "failed" || $0.escapeTime == nil }, method: "flow")
        XCTAssertFalse(few.fitted)
        XCTAssertEqual([few.runs, few.failed, few.neverEscaped], [0, 5, 1])
    }

    /// Every method has its own colour and its own marker shape (no two share either), the same in
    /// every sweep; the figure draws each method's completed runs filled in its shape and its failed
    /// runs hollow, and says in the legend how many failed and are not fitted.
    func testEscapeMethodsHaveTheirOwnColourAndMarker() throws {
        let methods = ["flow", "rmsprop-flow", "adam-flow", "gd", "sgd", "adam", "rmsprop", "anls"]
        let styles = methods.enumerated().map { EscapeExperiment.methodStyle($0.element, k: $0.offset) }
        XCTAssertEqual(Set(styles.map(\.colour)).count, methods.count, "colours")
        XCTAssertEqual(Set(styles.map { "\($0.marker)" }).count, methods.count, "marker shapes")
        XCTAssertFalse(styles.contains { $0.marker == .none })
        // The same method keeps its style whatever the others are.
        XCTAssertEqual(EscapeExperiment.methodStyle("adam", k: 0).colour, EscapeExperiment.methodStyle("adam", k: 5).colour)
        // Marker polygons: distinct outlines of about the circle's area (π), so that none dominates.
        for kind in SeriesStyle.Marker.allCases where kind != .none && kind != .circle {
            let p = try XCTUnwrap(Chart.markerPolygon(kind))
            let area = abs(zip(p, p.dropFirst() + [p[0]]).reduce(0) { $0 + $1.0.0 * $1.1.1 - $1.1.0 * $1.0.1 }) / 2
            XCTAssertEqual(area, Double.pi, accuracy: 0.45 * Double.pi, "\(kind): area \(area)")
        }

        let rows = syntheticRows()
        let fits = ["flow", "gd", "adam"].map { EscapeExperiment.fit(rows, method: $0) }
        let svg = EscapeExperiment.curvatureSVG(rows, methods: ["flow", "gd", "adam"], fits: fits)
        let groups = FigureRenderTests.groups(svg)
        let flowRuns = try XCTUnwrap(groups.first { $0.name.hasPrefix("gradient flow: slope") })
        XCTAssertTrue(flowRuns.name.contains("(5 failed: not fitted)"), flowRuns.name)
        XCTAssertEqual(flowRuns.elements, 4, "the completed runs that escaped with λ_max > 0")
        let hollow = try XCTUnwrap(groups.first { $0.name.hasPrefix("gradient flow: 3 failed after escaping") })
        XCTAssertEqual(hollow.elements, 3)
        let hollowText = String(svg[hollow.range]), filledText = String(svg[flowRuns.range])
        XCTAssertEqual(hollowText.components(separatedBy: "fill=\"#ffffff\"").count - 1, 3, "hollow markers")
        XCTAssertFalse(filledText.contains("fill=\"#ffffff\""), "completed runs filled")
        // Each method's markers in its own shape: circles for the flow, paths for the others.
        XCTAssertTrue(filledText.contains("<circle"))
        let gdRuns = try XCTUnwrap(groups.first { $0.name.hasPrefix("GD: slope") })
        XCTAssertTrue(String(svg[gdRuns.range]).contains("<path") && !String(svg[gdRuns.range]).contains("<circle"))
        XCTAssertTrue(captionText(svg).contains("hollow: 3 (run, method) pairs whose run failed after escaping"), captionText(svg))
        // escape_depth.svg: failed runs hollow there too, and out of the medians.
        let depth = EscapeExperiment.depthSVG(rows, methods: ["flow", "gd", "adam"])
        let failedGroup = try XCTUnwrap(FigureRenderTests.groups(depth).first { $0.name == "gradient flow (failed runs)" })
        XCTAssertEqual(failedGroup.elements, 3)
        XCTAssertTrue(depth[depth.range(of: "<g class=\"legend\">")!.lowerBound...].contains("hollow: the run failed"), "legend")
        let median = try XCTUnwrap(FigureRenderTests.groups(depth).first { $0.name == "gradient flow" })
        XCTAssertFalse(String(depth[median.range]).contains("fill=\"#ffffff\""))
    }

    /// librsvg's layout of both escape figures on a narrow span (λ_max within a factor 5, escape
    /// times within a decade or so): every text on the page, the y titles 6 px or more from the
    /// edge, no two texts overlapping (tick labels included).
    func testEscapeFiguresLayOutTheirText() throws {
        for narrow in [true, false] {
            let rows = syntheticRows(narrow: narrow)
            let fits = ["flow", "gd", "adam"].map { EscapeExperiment.fit(rows, method: $0) }
            for (name, svg) in [("escape_curvature", EscapeExperiment.curvatureSVG(rows, methods: ["flow", "gd", "adam"], fits: fits)),
                                ("escape_depth", EscapeExperiment.depthSVG(rows, methods: ["flow", "gd", "adam"]))] {
                try checkText(svg, "\(name) narrow \(narrow)")
            }
        }
    }

    /// The caption of a figure (its lines, `fill="#444"` at x = 10, joined by spaces).
    func captionText(_ svg: String) -> String {
        svg.matches(of: #/<text x="10" y="[0-9.]+" font-size="[0-9.]+" fill="#444">(.*?)</text>/#).map { String($0.1) }
            .joined(separator: " ").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Texts inside the page, 4 px or more from its left edge, not overlapping one another.
    func checkText(_ svg: String, _ label: String) throws {
        let layout = try FigureRenderer.textBoxes(svg)
        let texts = layout.texts.filter { !$0.text.trimmingCharacters(in: .whitespaces).isEmpty && $0.width > 0 }
        XCTAssertFalse(texts.isEmpty)
        for t in texts {
            XCTAssertTrue(t.x >= 4 && t.y >= -0.5 && t.x + t.width <= layout.width + 0.5 && t.y + t.height <= layout.height + 0.5,
                          "\(label): '\(t.text)' at (\(t.x), \(t.y), \(t.width) × \(t.height)) in \(layout.width) × \(layout.height)")
        }
        let overlaps = FigureRenderTests.overlappingTexts(texts)
        XCTAssertTrue(overlaps.isEmpty, "\(label): overlapping texts: \(overlaps.prefix(6).joined(separator: "; "))")
    }

    // MARK: comparison.svg

    /// A method whose run failed ends with a cross (×) where it stopped, in both panels, and its
    /// legend entry and the caption say when and why (from the run's own status and message).
    func testComparisonMarksAFailedRun() throws {
        var problem = try exampleProblem("small-init", T: 50)
        problem.options.sampleCount = 60
        let flow = solve(problem)
        XCTAssertEqual(flow.status, .completed)
        var stopped = flow
        // The same run cut at its 40th sample, as a failed run is written: status, message, last state.
        stopped.samples = Array(flow.samples.prefix(40))
        stopped.last = stopped.samples.last
        stopped.status = .failed
        stopped.message = "several attracting surfaces meet at t = 3.25: details; the rule does not apply"
        let wall = { (run: FlowSolution) in run.samples.indices.map { 1e-3 * Double($0 + 1) } }
        let comparison = Comparison(entries: [Comparison.Entry(method: "flow", run: flow, wall: wall(flow), plateaus: []),
                                              Comparison.Entry(method: "adam-flow", run: stopped, wall: wall(stopped), plateaus: [])])
        let svg = comparison.svg()
        let when = "failed at t = " + RunFigures.roundedTime(stopped.samples.last!.t)
        let groups = FigureRenderTests.groups(svg)
        let failed = groups.filter { $0.name.hasSuffix(when) }
        XCTAssertEqual(failed.count, 2, "both panels name the failure: \(groups.map(\.name))")
        XCTAssertEqual(Set(failed.map(\.name)), ["Adam flow, \(when)"], "the same name in both panels, without \"(exact)\"")
        XCTAssertFalse(groups.contains { $0.name.hasPrefix("gradient flow") && $0.name.contains("failed") }, "the completed run is not marked")
        // The cross: one polygon of 12 vertices at the last drawn point of the curve, in each panel.
        let top = String(svg[failed[0].range])
        XCTAssertEqual(top.components(separatedBy: "<path").count - 1, 2, "the curve and its cross")
        let legend = svg[svg.range(of: "<g class=\"legend\">")!.lowerBound...]
        XCTAssertTrue(legend.contains(when))
        XCTAssertTrue(captionText(svg).contains("adam-flow \(when): several attracting surfaces meet at t = 3.25 (adam-flow/summary.json)"), captionText(svg))
        // Without the failure, no cross and no note.
        let plain = Comparison(entries: [Comparison.Entry(method: "flow", run: flow, wall: wall(flow), plateaus: [])]).svg()
        XCTAssertFalse(plain.contains("failed at"))
        XCTAssertFalse(plain.contains("✕"))
    }
}
