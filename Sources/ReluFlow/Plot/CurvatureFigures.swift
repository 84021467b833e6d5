import Foundation

/// The figures of a curvature grid (`reluflow curvature --depths …`), as SVG:
///
/// - `curvature-gradient.svg`: the median |∇L| at initialisation against depth, one line per width,
///   log–log, with the quartile band;
/// - `curvature-lambda.svg`: the median λ_max likewise;
/// - `curvature-dead.svg`: the share of dead networks (output constant on the data) against depth;
/// - `curvature-histograms.svg`: the Hessian's eigenvalues of chosen cells, all seeds pooled.
public enum CurvatureFigures {
    static func files(_ grid: CurvatureGrid, histogramCells: [(Int, Int)]?) -> [(String, Data)] {
        var out: [(String, String)] = [
            ("curvature-gradient.svg", againstDepth(grid, title: "Median |∇L| at initialisation",
                                                   yLabel: "|∇L| (log scale)", log: true) { $0.gradNorm }),
            ("curvature-lambda.svg", againstDepth(grid, title: "Median λ_max of the Hessian at θ(0)",
                                                 yLabel: "λ_max (log scale)", log: true) { $0.lambdaMax }),
            ("curvature-dead.svg", dead(grid)),
        ]
        if let histograms = histograms(grid, cells: histogramCells) { out.append(("curvature-histograms.svg", histograms)) }
        return out.map { ($0.0, Data($0.1.utf8)) }
    }

    static func caption(_ grid: CurvatureGrid) -> String {
        let s = grid.spec
        return "\(s.activation == .relu ? "ReLU" : "linear") networks, \(s.scheme.rawValue) initialisation, "
            + "\(s.hiddenBias ? "hidden biases (zero at start)" : "no biases"), \(s.seeds) seed(s) per cell, m = \(s.data.count) points; "
            + "depth L = number of weight matrices; exact derivatives at θ(0) (σ'(0) = 0)"
    }

    static func againstDepth(_ grid: CurvatureGrid, title: String, yLabel: String, log: Bool,
                             value: (CurvatureReport) -> Double) -> String {
        var medians: [[(Double, Double)]] = [], q1: [[(Double, Double)]] = [], q3: [[(Double, Double)]] = []
        var all: [Double] = []
        for n in grid.spec.widths {
            var m: [(Double, Double)] = [], a: [(Double, Double)] = [], b: [(Double, Double)] = []
            for L in grid.spec.depths {
                let v = grid.rows(depth: L, width: n).map { value($0.report) }
                guard !v.isEmpty else { continue }
                m.append((Double(L), CurvatureGrid.quantile(v, 0.5)))
                a.append((Double(L), CurvatureGrid.quantile(v, 0.25)))
                b.append((Double(L), CurvatureGrid.quantile(v, 0.75)))
            }
            all += (m + a + b).map(\.1)
            medians.append(m)
            q1.append(a)
            q3.append(b)
        }
        let depths = grid.spec.depths.map(Double.init)
        let usable = all.filter { $0.isFinite && (!log || $0 > 0) }
        var chart = Chart(frame: (RunFigures.left, 44, RunFigures.panelWidth, 220), x: depths.count > 1 ? .log : .linear, xValues: depths,
                          y: log ? .log : .linear, yValues: usable.isEmpty ? [1] : usable, title: title,
                          xLabel: "depth L (log scale)", yLabel: yLabel, id: "depth")
        for (k, n) in grid.spec.widths.enumerated() {
            let style = SeriesStyle.nth(k, width: 1.8)
            chart.area("width \(n) quartiles", lower: q1[k], upper: q3[k], colour: style.colour)
            var marked = style
            marked.marker = .circle
            chart.line("width \(n)", medians[k], style: marked)
        }
        var figure = Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true),
                            panels: [chart.svg(legendPlace: .below, xTickLabels: depthLabels(grid))])
        let zeros = all.filter { log && $0 <= 0 }.count
        figure.caption = "lines: medians over the seeds, bands: quartiles; " + caption(grid) + (zeros > 0 ? "; values ≤ 0 (\(zeros) medians or quartiles, dead networks) are not drawn on the log scale" : "")
        return figure.svg()
    }

    /// The grid's depths as the x ticks.
    static func depthLabels(_ grid: CurvatureGrid) -> [(Double, String)] { grid.spec.depths.map { (Double($0), "\($0)") } }

    static func dead(_ grid: CurvatureGrid) -> String {
        let depths = grid.spec.depths.map(Double.init)
        var chart = Chart(frame: (RunFigures.left, 44, RunFigures.panelWidth, 200), x: depths.count > 1 ? .log : .linear, xValues: depths, y: .linear, yValues: [0, 1],
                          title: "Dead networks", xLabel: "depth L (log scale)",
                          yLabel: "share of seeds", id: "dead")
        for (k, n) in grid.spec.widths.enumerated() {
            var style = SeriesStyle.nth(k, width: 1.8)
            style.marker = .square
            chart.line("width \(n)", grid.spec.depths.map { L in
                let group = grid.rows(depth: L, width: n)
                return (Double(L), group.isEmpty ? .nan : Double(group.filter(\.report.outputConstant).count) / Double(group.count))
            }, style: style)
        }
        var figure = Figure(width: Typography.figureWidth, height: chart.bottom(legendBelow: true),
                            panels: [chart.svg(legendPlace: .below, xTickLabels: depthLabels(grid))])
        figure.caption = "dead: the network's output is constant on the data; " + caption(grid)
        return figure.svg()
    }

    /// Histograms (40 bins over each cell's range, counts on a log scale) of the pooled
    /// eigenvalues of up to four cells with full spectra: by default the corners of the grid.
    static func histograms(_ grid: CurvatureGrid, cells requested: [(Int, Int)]?) -> String? {
        let full = grid.cells.filter { c in
            let g = grid.rows(depth: c.depth, width: c.width)
            return !g.isEmpty && g.allSatisfy { $0.report.hessianEigenvalues != nil }
        }
        var chosen: [(Int, Int)] = []
        if let requested {
            chosen = requested.filter { r in full.contains { $0.depth == r.0 && $0.width == r.1 } }
        } else {
            let s = grid.spec
            for c in [(s.depths.first, s.widths.first), (s.depths.first, s.widths.last), (s.depths.last, s.widths.first), (s.depths.last, s.widths.last)] {
                guard let L = c.0, let n = c.1, full.contains(where: { $0.depth == L && $0.width == n }),
                      !chosen.contains(where: { $0 == (L, n) }) else { continue }
                chosen.append((L, n))
            }
        }
        guard !chosen.isEmpty else { return nil }
        var panels: [String] = []
        let panelHeight = 150.0
        for (k, (L, n)) in chosen.enumerated() {
            let values = grid.rows(depth: L, width: n).flatMap { $0.report.hessianEigenvalues ?? [] }
            var lo = values.min() ?? -1, hi = values.max() ?? 1
            // One value only (a dead cell: every eigenvalue 0): a unit range centred on it.
            if hi <= lo { (lo, hi) = (lo - 0.5, hi + 0.5) }
            let bins = 40, width = (hi - lo) / Double(bins)
            var counts = [Double](repeating: 0, count: bins)
            for v in values { counts[min(bins - 1, max(0, Int((v - lo) / width)))] += 1 }
            var steps: [(Double, Double)] = []
            for b in 0..<bins where counts[b] > 0 {
                let a = lo + Double(b) * width
                steps += [(a, counts[b]), (a + width, counts[b]), (.nan, .nan)]
            }
            let top = 44 + Double(k) * (panelHeight + 84)   // the x label sits 40 px below a panel, the next title 10 px above it
            let seeds = grid.rows(depth: L, width: n).count
            var chart = Chart(frame: (RunFigures.left, top, RunFigures.panelWidth, panelHeight), x: .linear, xValues: [lo, hi], y: .log, yValues: [1, max(counts.max() ?? 1, 2)],
                              title: "L = \(L), width \(n), \(seeds) seed\(seeds == 1 ? "" : "s")",
                              xLabel: "Hessian eigenvalue λ", yLabel: "count (log scale)", id: "hist\(k)")
            chart.line("count per bin", steps, style: SeriesStyle(colour: "#0072B2", dash: nil, width: 2.5))
            panels.append(chart.svg())
        }
        var figure = Figure(width: Typography.figureWidth, height: Double(chosen.count) * (panelHeight + 84) + 20, panels: panels)
        figure.caption = "Hessian eigenvalues at θ(0), all seeds of a cell pooled, 40 bins over each cell's range; " + caption(grid)
        return figure.svg()
    }
}
