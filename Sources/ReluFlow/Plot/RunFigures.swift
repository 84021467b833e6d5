import Foundation

/// The figures of a run folder (`reluflow plot DIR`), as self-contained SVG files:
///
/// - `loss.svg`: loss against time, log–log, plateaus (SPEC §6) shaded with their pattern floors,
///   events ticked at the bottom;
/// - `patterns.svg`: per neuron, the fraction of data points that activate it (and that slide on
///   it) against time, one lane per neuron;
/// - d = 1: `knots.svg`, the knot paths `k_i(t) = −b_i/w_i` over horizontal lines at the data
///   points (a knot resting on a line is sliding), and `fit.svg`, the network against the data
///   with each interval's least-squares line (SPEC §5);
/// - d = 2: `knot-lines.svg`, the lines `w_i·x + b_i = 0` over the data at chosen times, with a
///   tick on each line's active side.
public enum RunFigures {
    /// Neurons drawn in per-neuron figures (lanes, knot paths); more would not be legible.
    public static let maxNeurons = 40

    /// The figures of the run in `folder` (its plateaus computed with `criteria`).
    public static func files(folder: String, criteria: PlateauCriteria = PlateauCriteria(), times: [Double]? = nil) throws -> [(String, Data)] {
        let config = try RunConfig.loadRecorded(path: (folder as NSString).appendingPathComponent("config.json"))
        let (problem, _) = try config.resolve()
        let (_, run) = try RunContinuation.read(folder, problem: problem, field: "DIR")
        return files(for: run, plateaus: PlateauReport.plateaus(run, criteria: criteria), times: times)
    }

    /// - Parameters: `times` for the d = 2 knot lines (default: start, geometric middle, end).
    public static func files(for solution: FlowSolution, plateaus: [Plateau], times: [Double]? = nil) -> [(String, Data)] {
        guard !solution.samples.isEmpty else { return [] }
        var out = [("loss.svg", loss(solution, plateaus: plateaus)), ("patterns.svg", patterns(solution))]
        switch solution.problem.data.dimension {
        case 1:
            out.append(("knots.svg", knots(solution)))
            out.append(("fit.svg", fit(solution)))
        case 2:
            out.append(("knot-lines.svg", knotLines(solution, times: times)))
        default:
            break
        }
        return out.map { ($0.0, Data($0.1.utf8)) }
    }

    static let timeLabel = "time t (flow time units, log scale)"

    // MARK: loss.svg

    static func loss(_ solution: FlowSolution, plateaus: [Plateau]) -> String {
        let samples = solution.samples.filter { $0.t > 0 && $0.loss > 0 }
        let floors = plateaus.map(\.patternFloor).filter { $0 > 0 }
        var chart = Chart(frame: (90, 44, 640, 340), x: .log, xValues: samples.map(\.t), y: .log,
                          yValues: samples.map(\.loss) + floors, title: "Loss L(t) = (1/2m) Σ r_j²",
                          xLabel: timeLabel, yLabel: "loss L (log scale)", id: "loss")
        if !plateaus.isEmpty {
            chart.bands("plateau (SPEC §6)", plateaus.map { ($0.tStart, $0.tEnd) })
            var floorPoints: [(Double, Double)] = []
            for p in plateaus where p.patternFloor > 0 {
                floorPoints += [(max(p.tStart, chart.x.lo), p.patternFloor), (p.tEnd, p.patternFloor), (.nan, .nan)]
            }
            if !floorPoints.isEmpty {
                chart.line("pattern floor L*_P", floorPoints, style: SeriesStyle(colour: "#D55E00", dash: "6 3", width: 1.4))
            }
        }
        chart.line("loss", samples.map { ($0.t, $0.loss) }, style: SeriesStyle(colour: "#0072B2", dash: nil, width: 2))
        let changes = Set(solution.events.filter { $0.kind != .graze }.map(\.t)).sorted()
        chart.ticks("event (pattern change)", at: changes, style: SeriesStyle(colour: "#000000", dash: nil, width: 0.8))
        // Second panel: the excess L(t) − L(T) over the final loss, which spreads late plateaus that
        // differ little in L itself over decades (rows where it is ≤ 0 are not drawn).
        let final = solution.finalLoss
        let excess = samples.map { ($0.t, $0.loss - final) }.filter { $0.1 > 0 }
        var lower = Chart(frame: (90, 44 + 340 + 90, 640, 260), x: chart.x, y: Scale(.log, covering: excess.map(\.1), pixels: (0, 1)),
                          title: "Excess over the final loss, L(t) − L(T)", xLabel: timeLabel,
                          yLabel: "L − L(T) (log scale)", id: "excess")
        if !plateaus.isEmpty { lower.bands("plateau (SPEC §6)", plateaus.map { ($0.tStart, $0.tEnd) }) }
        lower.line("L − L(T)", excess, style: SeriesStyle(colour: "#0072B2", dash: nil, width: 2))
        var figure = Figure(width: chart.widthWithRightLegend(), height: 44 + 340 + 90 + 260 + 70,
                            panels: [chart.svg(legendPlace: .right), lower.svg(legendPlace: .right)])
        figure.caption = "\(solution.events.count) events, \(plateaus.count) plateau(s); run to t = \(String(format: "%g", solution.finalTime))"
        return figure.svg()
    }

    // MARK: patterns.svg

    static func patterns(_ solution: FlowSolution) -> String {
        let n = min(solution.problem.network.width, maxNeurons), m = Double(solution.problem.data.count)
        let positive = solution.samples.map(\.t).filter { $0 > 0 }
        let tLeft = positive.min() ?? 1e-3, tRight = max(solution.finalTime, tLeft * 10)
        let laneHeight = 30.0, height = max(Double(n) * laneHeight, 120)
        var chart = Chart(frame: (90, 44, 600, height), x: Scale(.log, lo: tLeft, hi: tRight, pixels: (0, 1)),
                          y: Scale(.linear, lo: -0.5, hi: Double(n) - 0.5, pixels: (0, 1)),
                          title: "Activation pattern: per neuron, the fraction of points that activate it", xLabel: timeLabel,
                          yLabel: "neuron", id: "patterns")
        let activeStyle = SeriesStyle(colour: "#0072B2", dash: nil, width: 1.8)
        let slidingStyle = SeriesStyle(colour: "#D55E00", dash: "3 2", width: 1.4)
        var slidingPoints: [(Double, Double)] = []
        for i in 0..<n {
            // Lane i spans [i − 0.4, i + 0.4]; neuron 0 at the top.
            let base = Double(n - 1 - i) - 0.4
            var points: [(Double, Double)] = []
            for p in solution.patterns {
                let a = max(p.tStart, tLeft), b = max(p.tEnd, tLeft)
                let v = base + 0.8 * Double(p.activeCounts[i]) / m
                let s = base + 0.8 * Double(p.slidingCounts[i]) / m
                points += [(a, v), (b, v)]
                if p.slidingCounts[i] > 0 { slidingPoints += [(a, s), (b, s), (.nan, .nan)] }
            }
            chart.line("neuron \(i)", points, style: activeStyle, legend: false)
        }
        // Each lane shaded, so that its 0 (bottom) and 1 (top) can be seen; the grid line through
        // its middle (at the neuron's label) is ½; the right edge carries the scale of every lane.
        chart.yBands("lanes", (0..<n).map { (Double($0) - 0.4, Double($0) + 0.4) })
        chart.legendEntry("active points / m", style: activeStyle)
        if !slidingPoints.isEmpty { chart.line("sliding pairs / m", slidingPoints, style: slidingStyle) }
        let labels = (0..<n).map { (Double(n - 1 - $0), "\($0)") }
        // The top lane's scale is labelled; the others have the ticks.
        let top = Double(n - 1)
        let scale = [(top - 0.4, "0"), (top, "½"), (top + 0.4, "1")]
            + (0..<(n - 1)).flatMap { k in [(Double(k) - 0.4, ""), (Double(k) + 0.4, "")] }
        var figure = Figure(width: chart.widthWithRightLegend() + Chart.rightLabelsWidth, height: height + 110,
                            panels: [chart.svg(legendPlace: .right, yTickLabels: labels, rightTickLabels: scale)])
        figure.caption = "each shaded lane runs from 0 (no point active) at its bottom to 1 (all m points) at its top; "
            + "its grid line is ½" + (solution.problem.network.width > n ? "; first \(n) of \(solution.problem.network.width) neurons shown" : "")
        return figure.svg()
    }

    // MARK: knots.svg (d = 1)

    static func knots(_ solution: FlowSolution) -> String {
        let network = solution.problem.network, data = solution.problem.data
        let n = min(network.width, maxNeurons)
        let samples = solution.samples.filter { $0.t > 0 }
        let xs = data.x, span = (xs.max()! - xs.min()!).magnitude
        let pad = 0.15 * max(span, 1e-3)
        var chart = Chart(frame: (90, 44, 600, 360), x: Scale(.log, covering: samples.map(\.t), pixels: (0, 1)),
                          y: Scale(.linear, lo: xs.min()! - pad, hi: xs.max()! + pad, pixels: (0, 1)),
                          title: "Knot paths k_i(t) = −b_i / w_i", xLabel: timeLabel, yLabel: "input x (knot position)", id: "knots")
        var dataLines: [(Double, Double)] = []
        for x in Set(xs).sorted() { dataLines += [(chart.x.lo, x), (chart.x.hi, x), (.nan, .nan)] }
        chart.line("data points x_j", dataLines, style: SeriesStyle(colour: "#9a9a9a", dash: nil, width: 0.8))
        var outside: [Int] = []
        for i in 0..<n {
            let w = samples.map { $0.theta[network.wIndex(i, 0)] }
            let points = samples.indices.map { k in (samples[k].t, -samples[k].theta[network.bIndex(i)] / w[k]) }
            if !points.contains(where: { chart.y.contains($0.1) }) { outside.append(i) }
            // A knot through infinity (w_i changes sign) must not be joined across.
            chart.line("neuron \(i)", points, style: .nth(i), breaks: { k in k > 0 && (w[k] > 0) != (w[k - 1] > 0) })
        }
        let legendColumns = n > 14 ? 2 : 1
        var figure = Figure(width: chart.widthWithRightLegend(columns: legendColumns), height: 470,
                            panels: [chart.svg(legendColumns: legendColumns, legendPlace: .right)])
        figure.caption = "a knot resting on a data line is sliding on that point's surface (SPEC §4)"
            + (outside.isEmpty ? "" : "; never inside the data range, so not visible: neuron " + outside.map(String.init).joined(separator: ", "))
            + (network.width > n ? "; first \(n) of \(network.width) neurons shown" : "")
        return figure.svg()
    }

    // MARK: fit.svg (d = 1)

    static func fit(_ solution: FlowSolution) -> String {
        let network = solution.problem.network, data = solution.problem.data
        let theta = solution.finalTheta
        let reading = KnotReading(network: network, data: data, theta: theta)
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
        var chart = Chart(frame: (90, 44, 600, 360), x: .linear, xValues: [lo - pad, hi + pad], y: .linear, yValues: yValues,
                          title: "Fit at t = \(String(format: "%g", solution.finalTime)) and local least-squares lines",
                          xLabel: "input x", yLabel: "output", id: "fit", yPad: 0.06)
        var generated: [(Double, Double)] = [], other: [(Double, Double)] = []
        for l in lines {
            let segment = [(l.0, l.2 * l.0 + l.3), (l.1, l.2 * l.1 + l.3), (Double.nan, Double.nan)]
            if l.4 { generated += segment } else { other += segment }
        }
        chart.line("network N(x)", curve, style: SeriesStyle(colour: "#0072B2", dash: nil, width: 2.4))
        if !generated.isEmpty {
            chart.line("interval regression line", generated, style: SeriesStyle(colour: "#D55E00", dash: "7 3", width: 1.6))
        }
        if !other.isEmpty {
            chart.line("regression line (interval not generated)", other, style: SeriesStyle(colour: "#9a9a9a", dash: "2 3", width: 1.2))
        }
        chart.markers("data (x_j, y_j)", zip(data.x, data.y).map { ($0, $1) }, style: SeriesStyle(colour: "#000000", dash: nil, marker: .circle))
        chart.ticks("knot", at: reading.knots.map(\.k), style: SeriesStyle(colour: "#009E73", dash: nil, width: 2))
        return Figure(width: chart.widthWithRightLegend(), height: 470, panels: [chart.svg(legendPlace: .right)],
                      caption: "lines fitted to the data points of each interval between knots; at a stationary pattern the network equals them on generated intervals (SPEC §5)").svg()
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
        let side = 300.0
        var panels: [String] = []
        var width = 0.0
        for (p, sample) in chosen.enumerated() {
            let frame = (90 + Double(p) * (side + 70), 44.0, side, side)
            var chart = Chart(frame: frame, x: Scale(.linear, lo: box.0, hi: box.1, pixels: (0, 1)),
                              y: Scale(.linear, lo: box.2, hi: box.3, pixels: (0, 1)),
                              title: "t = \(String(format: "%g", sample.t))", xLabel: "x₀", yLabel: p == 0 ? "x₁" : "", id: "lines\(p)")
            chart.markers("data x_j", zip(x0, x1).map { ($0, $1) }, style: SeriesStyle(colour: "#000000", dash: nil, marker: .circle), legend: p == chosen.count - 1)
            for i in 0..<n {
                let w0 = sample.theta[network.wIndex(i, 0)], w1 = sample.theta[network.wIndex(i, 1)], b = sample.theta[network.bIndex(i)]
                let segment = clippedLine(w0, w1, b, box)
                var points = segment.map { [$0.0, $0.1] } ?? []
                if let s = segment {
                    // Active side: a short normal from the midpoint along (w0, w1), in data units.
                    let mid = ((s.0.0 + s.1.0) / 2, (s.0.1 + s.1.1) / 2)
                    let norm = (w0 * w0 + w1 * w1).squareRoot()
                    let len = 0.09 * (box.1 - box.0)   // long enough to read at 300 px (0.05 was hard to see)
                    points += [(Double.nan, Double.nan), mid, (mid.0 + len * w0 / norm, mid.1 + len * w1 / norm)]
                }
                chart.line("neuron \(i)", points, style: .nth(i), legend: p == chosen.count - 1)
            }
            panels.append(chart.svg(legendColumns: n > 14 ? 2 : 1, legendPlace: .right))
            width = chart.widthWithRightLegend(columns: n > 14 ? 2 : 1)
        }
        return Figure(width: width, height: side + 120, panels: panels,
                      caption: "knot lines w_i·x + b_i = 0; the short tick points to the side where neuron i is active").svg()
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
