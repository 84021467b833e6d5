import Foundation

/// The figures of a run folder (`reluflow plot DIR`), as self-contained SVG files:
///
/// - `loss.svg`: loss against time, log–log, plateaus (SPEC §6) shaded (alternately, numbered) with
///   their pattern floors, events ticked in a strip at the bottom; a zoom on the plateaus when they
///   are squeezed; the excess L − L(T) where it is above rounding;
/// - `patterns.svg`: per neuron, the fraction of data points that activate it (and that slide on
///   it) against time, one lane per neuron;
/// - d = 1: `knots.svg`, the knot paths `k_i(t) = −b_i/w_i` over horizontal lines at the data
///   points (a knot resting on a line is sliding), and `fit.svg`, the network against the data
///   with each interval's least-squares line (SPEC §5);
/// - d = 2: `knot-lines.svg`, the lines `w_i·x + b_i = 0` over the data at chosen times, with a
///   tick on each line's active side.
public enum RunFigures {
    /// Every figure file the toolkit writes (run, compare and curvature-grid folders), in each format.
    public static let fileNames: [String] = ["loss", "patterns", "knots", "fit", "knot-lines", "comparison",
                                             "curvature-gradient", "curvature-lambda", "curvature-histograms", "curvature-dead"]
        .flatMap { stem in FigureFormat.allCases.map { "\(stem).\($0.rawValue)" } }

    /// Neurons drawn in per-neuron figures (lanes, knot paths, knot lines), each labelled with its
    /// index; wider networks get a note naming the neurons left out.
    public static let maxNeurons = 64

    /// The figures of the run in `folder` (its plateaus computed with `criteria`).
    public static func files(folder: String, criteria: PlateauCriteria = PlateauCriteria(), times: [Double]? = nil) throws -> [(String, Data)] {
        let (_, run) = try RunFolderReader(folder, field: "DIR").run()
        return try files(for: run, plateaus: PlateauReport.plateaus(run, criteria: criteria), times: times)
    }

    /// - Parameters: `times` for the d = 2 knot lines (default: start, geometric middle, end).
    public static func files(for solution: FlowSolution, plateaus: [Plateau], times: [Double]? = nil) throws -> [(String, Data)] {
        guard !solution.samples.isEmpty else { return [] }
        var out = [("loss.svg", loss(solution, plateaus: plateaus)), ("patterns.svg", patterns(solution))]
        // Knots, fits and knot lines are readings of the shallow network (SPEC §5).
        switch solution.problem.shallow == nil ? 0 : solution.problem.data.dimension {
        case 1:
            out.append(("knots.svg", knots(solution)))
            out.append(("fit.svg", try fit(solution)))
        case 2:
            out.append(("knot-lines.svg", knotLines(solution, times: times)))
        default:
            break
        }
        return out.map { ($0.0, Data($0.1.utf8)) }
    }

    static let timeLabel = "time t (flow time units, log scale)"

    /// Left edge and width of a panel's frame: room for tick labels and the axis label on the left,
    /// 14 px on the right, in a figure `Typography.figureWidth` wide (one journal column, text ≥ 8 pt).
    static let left = 74.0, panelWidth = Typography.figureWidth - left - 14

    // MARK: loss.svg

    /// Relative rounding level of a difference of two losses: 64 ε (the loss is a sum of m squares
    /// accumulated in double precision; gaps below 64 ε L(T) are rounding noise, not the flow).
    static let roundingFactor = 64 * Double.ulpOfOne

    static func loss(_ solution: FlowSolution, plateaus: [Plateau]) -> String {
        let samples = solution.samples.filter { $0.t > 0 && $0.loss > 0 }
        // A plateau's floor L*_P is drawn only over the part of the plateau inside its dominant
        // pattern interval, and only when that interval covers at least half the plateau.
        let floorSpans: [(Double, Double, Double)] = plateaus.compactMap { p in
            guard p.patternFloor > 0, p.overlap >= 0.5, solution.patterns.indices.contains(p.dominantInterval) else { return nil }
            let interval = solution.patterns[p.dominantInterval]
            let a = max(p.tStart, interval.tStart), b = min(p.tEnd, interval.tEnd)
            return b > a ? (a, b, p.patternFloor) : nil
        }
        // The loss's own rounding level: each residual carries a rounding error of about
        // 64 ε max|y_j|, so a loss below ½(64 ε max|y_j|)² (an interpolating fit) is rounding noise;
        // it is drawn only above that level, marked when the loss comes within a factor 10 of it.
        let yMax = solution.problem.data.y.map { abs($0) }.max().map { $0 > 0 ? $0 : 1 } ?? 1
        let lossRounding = 0.5 * pow(roundingFactor * yMax, 2)
        let reachesRounding = samples.contains { $0.loss < 10 * lossRounding }
        let frame = (x: left, y: 44.0, width: panelWidth, height: 200.0), strip = 18.0
        let xScale = Scale(.log, covering: samples.map(\.t), pixels: (frame.x, frame.x + frame.width), pad: 0)
        let yValues = samples.map(\.loss).filter { $0 > lossRounding } + floorSpans.map(\.2) + (reachesRounding ? [lossRounding] : [])
        let yScale = Scale(.log, covering: yValues, pixels: (0, 1))
            .extendedDown(toTickBelow: yValues.filter { $0 > 0 }.min() ?? 1, target: Chart.tickTarget(frame.height - strip))
        var chart = Chart(frame: frame, x: xScale, y: yScale, title: "Loss L(t) = (1/2m) Σ r_j²",
                          xLabel: timeLabel, yLabel: "loss L (log scale)", id: "loss", strip: strip)
        let plateauSpans = plateaus.map { ($0.tStart, $0.tEnd) }
        let plateauName = "plateau (numbered)"
        if !plateaus.isEmpty { chart.bands(plateauName, plateauSpans, opacity: 0.09, numbered: true) }
        let floorStyle = SeriesStyle(colour: "#D55E00", dash: "6 3", width: 1.6)
        let lossStyle = SeriesStyle(colour: "#0072B2", dash: nil, width: 2)
        let floorsNamed = drawFloors(&chart, floorSpans, samples: samples, style: floorStyle)
        let roundingStyle = SeriesStyle(colour: "#777777", dash: "2 3", width: 1)
        if reachesRounding {
            chart.line("rounding level of L",
                       [(chart.x.lo, lossRounding), (chart.x.hi, lossRounding)], style: roundingStyle)
        }
        chart.line("loss", samples.map { ($0.t, $0.loss > lossRounding ? $0.loss : .nan) }, style: lossStyle)
        let changes = solution.events.filter { $0.kind != .graze }
        chart.ticks("event (pattern change)", at: Set(changes.map(\.t)).sorted(), style: SeriesStyle(colour: "#000000", dash: nil, width: 0.8))
        var panels = [chart.svg(legendPlace: .below)]
        var top = chart.bottom(legendBelow: true) + 40
        var width = chart.rightEdge()

        // Zoom on the plateaus: when two or more plateaus take less than a quarter of the upper
        // panel's height, their own loss range (and floors) gets a panel, on a linear axis when it
        // spans less than a factor 3.
        if plateaus.count >= 2 {
            let t0 = plateaus.map(\.tStart).min()!, t1 = plateaus.map(\.tEnd).max()!
            let inside = samples.filter { $0.t >= t0 && $0.t <= t1 }.map(\.loss) + floorSpans.map(\.2)
            if let lo = inside.min(), let hi = inside.max(), lo > 0,
               log10(hi / lo) < 0.25 * log10(chart.y.hi / chart.y.lo) {
                let kind: Scale.Kind = hi / lo < 3 ? .linear : .log
                let zoomFrame = (x: frame.x, y: top, width: frame.width, height: 130.0)
                let yZoom = Scale(kind, covering: inside, pixels: (0, 1), pad: 0.08).extendedDown(toTickBelow: lo, target: Chart.tickTarget(130))
                let zx = Scale(.log, lo: max(t0 / 3, chart.x.lo), hi: chart.x.hi, pixels: (0, 1))
                var zoom = Chart(frame: zoomFrame, x: zx, y: yZoom,
                                 title: "Zoom on the plateaus", xLabel: timeLabel,
                                 yLabel: "loss L (\(kind == .linear ? "linear" : "log") scale)", id: "zoom")
                // The upper panel's legend names its series (drawn alike here): no legend of its own.
                zoom.bands(plateauName, plateauSpans, opacity: 0.09, numbered: true, legend: false)
                // …but floors hidden under the curve above and seen here are named here.
                drawFloors(&zoom, floorSpans, samples: samples, style: floorStyle, legend: !floorsNamed)
                zoom.line("loss", samples.map { ($0.t, $0.loss) }, style: lossStyle, legend: false)
                panels.append(zoom.svg(legendPlace: .below))
                width = max(width, zoom.rightEdge())
                top = zoom.bottom(legendBelow: true) + 34
            }
        }

        // The excess L(t) − L(T) over the final loss, which spreads late plateaus that differ little
        // in L itself over decades. It is drawn only where it is resolved: above the rounding level
        // 64 ε L(T) of a difference of losses (below it, and at T itself, it is rounding noise).
        // When the loss itself reaches its rounding level, so does the excess.
        let final = solution.finalLoss
        let rounding = max(roundingFactor * final, lossRounding)
        let roundingName = "rounding level"
        let excess = samples.map { ($0.t, $0.loss - final) }
        let resolved = excess.filter { $0.1 > rounding }.map(\.1)
        let excessScale = Scale(.log, covering: resolved + [rounding], pixels: (0, 1))
        var lower = Chart(frame: (frame.x, top, frame.width, 130), x: chart.x, y: excessScale,
                          title: "Excess L(t) − L(T)",
                          xLabel: timeLabel, yLabel: "L − L(T) (log scale)", id: "excess")
        if !plateaus.isEmpty { lower.bands(plateauName, plateauSpans, opacity: 0.09, numbered: true, legend: false) }
        lower.line(roundingName, [(lower.x.lo, rounding), (lower.x.hi, rounding)], style: roundingStyle)
        lower.line("L − L(T)", excess.map { ($0.0, $0.1 > rounding ? $0.1 : .nan) }, style: lossStyle)
        panels.append(lower.svg(legendPlace: .below))
        width = max(width, lower.rightEdge())
        var figure = Figure(width: width, height: lower.bottom(legendBelow: true), panels: panels)
        let atZero = changes.filter { $0.t <= 0 }.count
        figure.caption = "\(solution.events.count) events, \(plateaus.count) plateau(s); run to t = \(roundedTime(solution.finalTime))"
            + (atZero > 0 ? "; \(atZero) event\(atZero == 1 ? "" : "s") at t = 0 (not on the log time axis)" : "")
            + (reachesRounding ? "; L is left out below its rounding level ½(64 ε max|y_j|)² = \(Scale.shortNumber(lossRounding)), L − L(T) below the same level"
                                : "; L − L(T) is left out below its rounding level 64 ε L(T) = \(Scale.shortNumber(rounding))") + ", where it is rounding noise"
            + (plateaus.isEmpty ? "" : "; the shades of adjacent plateaus alternate")
        return figure.svg()
    }

    /// The pattern floors over their spans; drawn (with a legend entry) only when some part of a
    /// floor lies at least 3 pixels off the loss curve, where it would otherwise hide under it.
    /// Returns whether they were drawn.
    @discardableResult
    static func drawFloors(_ chart: inout Chart, _ spans: [(Double, Double, Double)], samples: [FlowSample], style: SeriesStyle,
                           legend: Bool = true) -> Bool {
        var points: [(Double, Double)] = []
        var visible = false
        for (a, b, floor) in spans {
            let from = max(a, chart.x.lo)
            guard from < b else { continue }
            points += [(from, floor), (b, floor), (.nan, .nan)]
            let inside = samples.filter { $0.t >= from && $0.t <= b }
            if inside.isEmpty || inside.contains(where: { abs(chart.y($0.loss) - chart.y(floor)) >= 3 }) { visible = true }
        }
        guard visible && !points.isEmpty else { return false }
        chart.line("pattern floor L*_P", points, style: style, legend: legend)
        return true
    }

    /// A time for titles and captions: 4 significant digits.
    static func roundedTime(_ t: Double) -> String {
        t >= 1e4 && t < 1e9 && t == t.rounded() ? String(format: "%.0f", t) : String(format: "%.4g", t)
    }

    // MARK: patterns.svg

    static func patterns(_ solution: FlowSolution) -> String {
        let n = min(solution.problem.model.hiddenUnitCount, maxNeurons), m = Double(solution.problem.data.count)
        let positive = solution.samples.map(\.t).filter { $0 > 0 }
        let tLeft = positive.min() ?? 1e-3, tRight = max(solution.finalTime, tLeft * 10)
        // Up to 12 lanes of 46 px carry 0, ½ and 1 on the right; up to 24 lanes of 27 px carry 0 and 1
        // (½ stays their grid line: three labels would not fit); past 24 the lanes share about 640 px
        // (10 px each for 64 neurons, so that the figure still fits a page set one column wide), too
        // narrow for labels of their own: the caption gives their scale, and every k-th lane is numbered.
        let narrow = n > 12, dense = n > 24
        let laneHeight = dense ? max(8, min(14, 640 / Double(n))) : (narrow ? 27.0 : 46.0), height = max(Double(n) * laneHeight, 120)
        let labelEvery = dense ? Int((18 / laneHeight).rounded(.up)) : 1
        // The lanes' 0/½/1 labels take `Chart.rightLabelsWidth` right of the frame.
        let frameWidth = panelWidth - Chart.rightLabelsWidth
        var chart = Chart(frame: (left, 44, frameWidth, height), x: Scale(.log, lo: tLeft, hi: tRight, pixels: (0, 1)),
                          y: Scale(.linear, lo: -0.5, hi: Double(n) - 0.5, pixels: (0, 1)),
                          title: "Activation patterns", xLabel: timeLabel,
                          yLabel: "neuron", id: "patterns")
        let activeStyle = SeriesStyle(colour: "#0072B2", dash: nil, width: 1.8)
        let slidingStyle = SeriesStyle(colour: "#D55E00", dash: nil, width: 2.6)
        // Lane i is shaded over [i − 0.45, i + 0.45]; its 0…1 scale runs over [i − 0.3, i + 0.3],
        // so a neuron at 0 or 1 sits inside its own shading, not on the gap to the next lane.
        let half = 0.3, shade = 0.45
        var slidingPoints: [(Double, Double)] = []
        // A sliding episode shorter than 4 pixels (on the log time axis) is widened to 4 pixels about
        // its geometric middle, so that it can be seen; the legend says so when it happens.
        let minimumDecades = 4 / frameWidth * log10(tRight / tLeft)
        var widened = false
        for i in 0..<n {
            // Neuron 0 at the top.
            let base = Double(n - 1 - i) - half
            var points: [(Double, Double)] = []
            for p in solution.patterns {
                let a = max(p.tStart, tLeft), b = max(p.tEnd, tLeft)
                let v = base + 2 * half * Double(p.activeCounts[i]) / m
                let s = base + 2 * half * Double(p.slidingCounts[i]) / m
                points += [(a, v), (b, v)]
                if p.slidingCounts[i] > 0 {
                    var (sa, sb) = (a, b)
                    if log10(sb / sa) < minimumDecades {
                        let middle = (sa * sb).squareRoot(), half = pow(10, minimumDecades / 2)
                        (sa, sb) = (middle / half, middle * half)
                        widened = true
                    }
                    slidingPoints += [(sa, s), (sb, s), (.nan, .nan)]
                }
            }
            chart.line("neuron \(i)", points, style: activeStyle, legend: false)
        }
        chart.yBands("lanes", (0..<n).map { (Double($0) - shade, Double($0) + shade) })
        chart.legendEntry("active points / m", style: activeStyle)
        if !slidingPoints.isEmpty {
            chart.line("sliding pairs / m", slidingPoints, style: slidingStyle)
        }
        let labels = stride(from: 0, to: n, by: labelEvery).map { (Double(n - 1 - $0), "\($0)") }
        // Every lane carries its own 0, ½, 1 on the right edge (not dense ones: see above).
        var scale: [(Double, String)] = []
        for k in 0..<n where !dense {
            let lane = Double(k)
            scale.append((lane - half, "0"))
            if !narrow { scale.append((lane, "½")) }
            scale.append((lane + half, "1"))
        }
        var figure = Figure(width: chart.rightEdge(rightTickLabels: true), height: chart.bottom(legendBelow: true),
                            panels: [chart.svg(legendPlace: .below, yTickLabels: labels, rightTickLabels: scale)])
        figure.caption = (dense ? "each shaded lane runs from 0 (no point active) at its bottom to 1 (all m points) at its top; "
                                + "every \(labelEvery == 2 ? "second" : "\(labelEvery)th") lane is numbered"
                                : "each shaded lane runs from 0 (no point active) to 1 (all m points), as marked on its right; its grid line is ½") + (widened ? "; sliding episodes shorter than 4 px are drawn 4 px wide" : "") + leftOut(shown: n, of: solution.problem.model.hiddenUnitCount)
            + (solution.problem.shallow == nil ? "; a deep network's hidden units are numbered layer by layer" : "")
        return figure.svg()
    }

    /// The note for neurons not drawn ("" when all are).
    static func leftOut(shown n: Int, of width: Int) -> String {
        width > n ? "; neurons \(n)–\(width - 1) of \(width) are left out (only the first \(n) are drawn)" : ""
    }

    /// A neuron's label at the end of its line, in its colour (legends repeat colours past 7).
    static let directLabelsAbove = 7

    // MARK: knots.svg (d = 1)

    static func knots(_ solution: FlowSolution) -> String {
        let network = solution.problem.network, data = solution.problem.data
        let n = min(network.width, maxNeurons)
        let samples = solution.samples.filter { $0.t > 0 }
        let xs = data.x, span = (xs.max()! - xs.min()!).magnitude
        let pad = 0.15 * max(span, 1e-3)
        // Past 16 neurons the panel grows so that the labels at the path ends keep 14 pixels each;
        // past 32 they take two sub-columns (7 pixels apart, 14 within each), so that 64 neurons
        // still fit a page at one column's width. Their column (`Chart.endLabels`) takes its width
        // from the frame's.
        let direct = n > directLabelsAbove, labelColumns = n > 32 ? 2 : 1
        let frameHeight = max(240, 14 / Double(labelColumns) * Double(n) + 10)
        let labelColumn = direct ? Chart.endLabelsWidth(maxChars: String(n - 1).count, columns: labelColumns) : 0
        var chart = Chart(frame: (left, 44, panelWidth - labelColumn, frameHeight), x: Scale(.log, covering: samples.map(\.t), pixels: (0, 1)),
                          y: Scale(.linear, lo: xs.min()! - pad, hi: xs.max()! + pad, pixels: (0, 1)),
                          title: "Knot paths k_i(t) = −b_i / w_i", xLabel: timeLabel, yLabel: "input x (knot position)", id: "knots")
        var ends: [(text: String, y: Double, colour: String)] = []
        var dataLines: [(Double, Double)] = []
        for x in Set(xs).sorted() { dataLines += [(chart.x.lo, x), (chart.x.hi, x), (.nan, .nan)] }
        chart.line("data points x_j", dataLines, style: SeriesStyle(colour: "#9a9a9a", dash: nil, width: 0.8))
        var outside: [Int] = []
        for i in 0..<n {
            let w = samples.map { $0.theta[network.wIndex(i, 0)] }
            let points = samples.indices.map { k in (samples[k].t, -samples[k].theta[network.bIndex(i)] / w[k]) }
            if !points.contains(where: { chart.y.contains($0.1) }) { outside.append(i) }
            // A knot through infinity (w_i changes sign) must not be joined across.
            chart.line("neuron \(i)", points, style: .nth(i), legend: !direct, breaks: { k in k > 0 && (w[k] > 0) != (w[k - 1] > 0) })
            if direct, let last = points.last, chart.y.contains(last.1) { ends.append(("\(i)", last.1, SeriesStyle.nth(i).colour)) }
        }
        if direct { chart.endLabels(ends, columns: labelColumns) }
        var figure = Figure(width: chart.rightEdge(), height: chart.bottom(legendBelow: true),
                            panels: [chart.svg(legendPlace: .below)])
        figure.caption = "a knot resting on a data line is sliding on that point's surface"
            + (direct ? "; each path labelled with its neuron at its end (right)" : "")
            + (outside.isEmpty ? "" : "; never inside the data range, so not visible: neuron " + outside.map(String.init).joined(separator: ", "))
            + leftOut(shown: n, of: network.width)
        return figure.svg()
    }

    // MARK: fit.svg (d = 1)

    static func fit(_ solution: FlowSolution) throws -> String {
        let network = solution.problem.network, data = solution.problem.data
        let theta = solution.finalTheta
        let reading = try KnotReading(network: network, data: data, theta: theta)
        let lo = data.x.min()!, hi = data.x.max()!, pad = 0.08 * max(hi - lo, 1e-3)
        // N is affine between knots: evaluate exactly at the ends and at every knot inside.
        var grid = [lo - pad, hi + pad] + reading.knots.map(\.k).filter { $0 > lo - pad && $0 < hi + pad }
        grid.sort()
        let curve = grid.map { ($0, network.output(theta, at: [$0][...])) }
        let lines = reading.intervals.compactMap { iv -> (Double, Double, Double, Double, Bool)? in
            guard let slope = iv.slope, let intercept = iv.intercept, !iv.points.isEmpty else { return nil }
            let a = max(iv.lo ?? (lo - pad), lo - pad), b = min(iv.hi ?? (hi + pad), hi + pad)
            return (a, b, slope, intercept, iv.generated)
        }
        let yValues = data.y + curve.map(\.1) + lines.flatMap { [$0.2 * $0.0 + $0.3, $0.2 * $0.1 + $0.3] }
        var chart = Chart(frame: (left, 44, panelWidth, 240), x: .linear, xValues: [lo - pad, hi + pad], y: .linear, yValues: yValues,
                          title: "Fit at t = \(roundedTime(solution.finalTime))",
                          xLabel: "input x", yLabel: "output", id: "fit", yPad: 0.06)
        var generated: [(Double, Double)] = [], other: [(Double, Double)] = []
        // An interval narrower than 16 pixels (two knots close together, around one point) gets a
        // segment of 16 pixels about its middle: drawn to its true width it would hide under the dot.
        let minimumWidth = 16 / chart.frame.width * (chart.x.hi - chart.x.lo)
        var widened = false
        for var l in lines {
            if l.1 - l.0 < minimumWidth {
                let middle = (l.0 + l.1) / 2
                (l.0, l.1) = (middle - minimumWidth / 2, middle + minimumWidth / 2)
                widened = true
            }
            let segment = [(l.0, l.2 * l.0 + l.3), (l.1, l.2 * l.1 + l.3), (Double.nan, Double.nan)]
            if l.4 { generated += segment } else { other += segment }
        }
        // The regression lines go over the network curve, dashed in a lighter colour, so that where
        // they coincide with it (at a stationary pattern, on generated intervals) both stay visible:
        // the dashes lie on the curve. Drawn under it they would vanish exactly when they matter.
        chart.line("network N(x)", curve, style: SeriesStyle(colour: "#0072B2", dash: nil, width: 3))
        chart.markers("data (x_j, y_j)", zip(data.x, data.y).map { ($0, $1) }, style: SeriesStyle(colour: "#000000", dash: nil, marker: .circle))
        if !generated.isEmpty {
            chart.line("interval regression line", generated, style: SeriesStyle(colour: "#E69F00", dash: "6 4", width: 1.6))
        }
        if !other.isEmpty {
            chart.line("line, interval not generated", other, style: SeriesStyle(colour: "#555555", dash: "1.5 3", width: 1.4))
        }
        let shown = reading.knots.filter { chart.x.contains($0.k) }, hidden = reading.knots.filter { !chart.x.contains($0.k) }
        chart.ticks("knot", at: shown.map(\.k), style: SeriesStyle(colour: "#009E73", dash: nil, width: 2))
        func deviation(_ generatedOnly: Bool) -> Double? {
            reading.intervals.filter { !generatedOnly || $0.generated }.compactMap(\.maxDeviation).max()
        }
        var caption = "the least-squares lines fitted to the data points of each interval between knots, drawn over the network "
            + "(dashed; dotted where the interval is not generated); "
            + "at a stationary pattern the network equals them on generated intervals"
        if let g = deviation(true) { caption += "; largest |N(x_j) − line| at the points of generated intervals: \(Scale.shortNumber(g))" }
        if let a = deviation(false), a != deviation(true) {
            caption += deviation(true) == nil ? "; largest |N(x_j) − line| at the points of the intervals: \(Scale.shortNumber(a))"
                                              : ", of all intervals: \(Scale.shortNumber(a))"
        }
        if widened { caption += "; intervals narrower than 16 px drawn 16 px wide" }
        if !hidden.isEmpty {
            caption += "; knots outside the x range, not drawn: " + hidden.sorted { $0.neuron < $1.neuron }
                .map { "neuron \($0.neuron) at \(Scale.shortNumber($0.k))" }.joined(separator: ", ")
        }
        return Figure(width: chart.rightEdge(), height: chart.bottom(legendBelow: true), panels: [chart.svg(legendPlace: .below)], caption: caption).svg()
    }

    // MARK: knot-lines.svg (d = 2)

    static func knotLines(_ solution: FlowSolution, times: [Double]?) -> String {
        let network = solution.problem.network, data = solution.problem.data
        let n = min(network.width, maxNeurons)
        let samples = solution.samples
        let wanted: [Double]
        if let times, !times.isEmpty {
            wanted = times
        } else {
            let positive = samples.map(\.t).filter { $0 > 0 }
            let middle = (positive.first.map { ($0 * solution.finalTime).squareRoot() }) ?? solution.finalTime / 2
            wanted = [0, middle, solution.finalTime]
        }
        let chosen = wanted.map { t in samples.min { abs($0.t - t) < abs($1.t - t) }! }
        let x0 = stride(from: 0, to: data.x.count, by: 2).map { data.x[$0] }
        let x1 = stride(from: 1, to: data.x.count, by: 2).map { data.x[$0] }
        let pad0 = 0.1 * max(x0.max()! - x0.min()!, 1e-3), pad1 = 0.1 * max(x1.max()! - x1.min()!, 1e-3)
        let box = (x0.min()! - pad0, x0.max()! + pad0, x1.min()! - pad1, x1.max()! + pad1)
        // Square panels in a grid of two columns sharing the y axis (labelled on the left column
        // only), or one panel as wide as the figure for a single time: a column-wide figure.
        let columns = chosen.count == 1 ? 1 : 2, gap = 18.0
        let side = columns == 1 ? panelWidth : (panelWidth - gap) / 2
        var panels: [String] = []
        var width = 0.0, height = 0.0
        let direct = n > directLabelsAbove
        var outside = [[Int]](repeating: [], count: chosen.count), unlabelled = outside
        for (p, sample) in chosen.enumerated() {
            let frame = (left + Double(p % columns) * (side + gap), 44 + Double(p / columns) * (side + 84), side, side)
            var chart = Chart(frame: frame, x: Scale(.linear, lo: box.0, hi: box.1, pixels: (0, 1)),
                              y: Scale(.linear, lo: box.2, hi: box.3, pixels: (0, 1)),
                              title: "t = \(roundedTime(sample.t))", xLabel: "x_0", yLabel: p % columns == 0 ? "x_1" : "", id: "lines\(p)")
            // Many points (a run with m = 1500) as small grey dots, so that they do not hide the lines.
            let many = x0.count > 100
            let dots = SeriesStyle(colour: many ? "#8c8c8c" : "#000000", dash: nil, marker: .circle,
                                   markerRadius: many ? max(1, 3 * (100 / Double(x0.count)).squareRoot()) : 3)
            chart.markers("data x_j", zip(x0, x1).map { ($0, $1) }, style: dots, legend: p == chosen.count - 1)
            var labels: [(String, (Double, Double), String)] = []
            var placed: [(Double, Double, Double, Double)] = []
            for i in 0..<n {
                let w0 = sample.theta[network.wIndex(i, 0)], w1 = sample.theta[network.wIndex(i, 1)], b = sample.theta[network.bIndex(i)]
                guard let s = clippedLine(w0, w1, b, box) else { outside[p].append(i); continue }
                var points = [s.0, s.1]
                // Active side: a short normal along (w0, w1), in data units, from a point of the
                // line's visible segment. Lines through the middle of the box (small biases) all
                // have their midpoints there, so the foot of each tick is spread along its
                // segment (between 30% and 70% of it, by neuron) instead of piling up.
                let f = 0.3 + 0.4 * (Double(i) * 0.6180339887498949).truncatingRemainder(dividingBy: 1)
                let foot = (s.0.0 + f * (s.1.0 - s.0.0), s.0.1 + f * (s.1.1 - s.0.1))
                let norm = (w0 * w0 + w1 * w1).squareRoot()
                let len = 0.09 * (box.1 - box.0)   // long enough to read at 300 px (0.05 was hard to see)
                points += [(Double.nan, Double.nan), foot, (foot.0 + len * w0 / norm, foot.1 + len * w1 / norm)]
                // The neuron's number on its segment: the first of these places (near the ends
                // first, alternating by neuron) whose label box is clear of the labels placed so far.
                if direct {
                    let order = i % 2 == 0 ? [0.93, 0.07, 0.8, 0.2, 0.67, 0.33, 0.5, 0.86, 0.14, 0.74, 0.26, 0.6, 0.4]
                                           : [0.07, 0.93, 0.2, 0.8, 0.33, 0.67, 0.5, 0.14, 0.86, 0.26, 0.74, 0.4, 0.6]
                    let text = "\(i)", boxWidth = Typography.charWidth * Double(text.count) + 3
                    let free = order.lazy.map { g in (s.0.0 + g * (s.1.0 - s.0.0), s.0.1 + g * (s.1.1 - s.0.1)) }.first { at in
                        let px = chart.x(at.0), py = chart.y(at.1)
                        let r = (px - boxWidth / 2, py - 11, boxWidth, 14.0)
                        guard r.0 >= frame.0, r.0 + r.2 <= frame.0 + side, r.1 >= frame.1, r.1 + r.3 <= frame.1 + side else { return false }
                        return !placed.contains { q in r.0 < q.0 + q.2 && q.0 < r.0 + r.2 && r.1 < q.1 + q.3 && q.1 < r.1 + r.3 }
                    }
                    if let at = free {
                        let px = chart.x(at.0), py = chart.y(at.1)
                        placed.append((px - boxWidth / 2, py - 11, boxWidth, 14))
                        labels.append((text, at, SeriesStyle.nth(i).colour))
                    } else {
                        unlabelled[p].append(i)
                    }
                }
                chart.line("neuron \(i)", points, style: .nth(i), legend: !direct && p == chosen.count - 1)
            }
            if direct { for (text, at, colour) in labels { chart.label(text, at: at, anchor: "middle", colour: colour, halo: true) } }
            panels.append(chart.svg(legendPlace: .below, yTickText: p % columns == 0))
            width = max(width, chart.rightEdge())
            height = max(height, chart.bottom(legendBelow: true))
        }
        var caption = "knot lines w_i·x + b_i = 0; the short tick points to the side where neuron i is active"
            + (direct ? "; each line is labelled with its neuron where there is room" : "")
        for (p, sample) in chosen.enumerated() {
            if !outside[p].isEmpty { caption += "; outside the plotted box at t = \(roundedTime(sample.t)): " + neuronList(outside[p]) }
            if !unlabelled[p].isEmpty { caption += "; no room for the label at t = \(roundedTime(sample.t)): " + neuronList(unlabelled[p]) }
        }
        return Figure(width: width, height: height, panels: panels, caption: caption + leftOut(shown: n, of: network.width)).svg()
    }

    /// "neuron 3" or "neurons 3, 5–7, 9": indices in runs.
    static func neuronList(_ indices: [Int]) -> String {
        let sorted = indices.sorted()
        var runs: [String] = []
        var k = 0
        while k < sorted.count {
            var j = k
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            runs.append(j > k + 1 ? "\(sorted[k])–\(sorted[j])" : (j == k + 1 ? "\(sorted[k]), \(sorted[j])" : "\(sorted[k])"))
            k = j + 1
        }
        return (sorted.count == 1 ? "neuron " : "neurons ") + runs.joined(separator: ", ")
    }

    /// The part of the line w0·x + w1·y + b = 0 inside the box, or nil.
    static func clippedLine(_ w0: Double, _ w1: Double, _ b: Double, _ box: (Double, Double, Double, Double)) -> ((Double, Double), (Double, Double))? {
        var hits: [(Double, Double)] = []
        if w1 != 0 {
            for x in [box.0, box.1] {
                let y = -(b + w0 * x) / w1
                if y >= box.2 && y <= box.3 { hits.append((x, y)) }
            }
        }
        if w0 != 0 {
            for y in [box.2, box.3] {
                let x = -(b + w1 * y) / w0
                if x >= box.0 && x <= box.1 { hits.append((x, y)) }
            }
        }
        guard let a = hits.first, let c = hits.max(by: { hypot($0.0 - a.0, $0.1 - a.1) < hypot($1.0 - a.0, $1.1 - a.1) }),
              hypot(c.0 - a.0, c.1 - a.1) > 0 else { return nil }
        return (a, c)
    }
}
