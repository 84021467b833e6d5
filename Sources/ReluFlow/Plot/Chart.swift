import Foundation

/// How a series is drawn. Colours are the Okabe–Ito palette (safe for colour-blind readers); each
/// series also gets its own dash pattern and marker, so the figures read in greyscale too.
struct SeriesStyle: Sendable {
    var colour: String
    var dash: String?
    var width: Double = 1.6
    var marker: Marker = .none
    var opacity: Double = 1
    /// Radius of a circle marker, in pixels (the other shapes are scaled to about the same area).
    var markerRadius: Double = 3
    /// Markers drawn as outlines (white inside) instead of filled: the runs of a method that
    /// failed, beside its completed ones (`EscapeExperiment`).
    var hollow = false

    /// Marker shapes: eight, so that up to eight series each get their own (with their own colour).
    /// `cross` (×) marks where a run stopped (`Comparison`); as a polygon it can be hollow too.
    enum Marker: Sendable, CaseIterable { case none, circle, square, triangle, triangleDown, diamond, star, plus, cross }

    static let colours = ["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
    static let dashes: [String?] = [nil, "7 3", "2 2", "9 3 2 3", "4 4", "1 3", "12 4"]

    /// The k-th style of a family: colour and dash cycle at different periods, so neighbours
    /// differ in both.
    static func nth(_ k: Int, width: Double = 1.6) -> SeriesStyle {
        SeriesStyle(colour: colours[k % colours.count], dash: dashes[(k / colours.count + k) % dashes.count], width: width)
    }
}

/// Text sizes of the figures, in SVG pixels, and the width they are laid out for. Every figure is
/// at most `maximumWidth` pixels wide, so that set at the width of one column of a two-column
/// journal page (3.5 in, 252 pt) its smallest text (12 px) is at least 8 pt; at the full page width
/// (7 in) it is then at least 16 pt. `FigureRenderTests` checks it on every figure the toolkit draws.
/// (Subscripts are set at 75% of their text, as in print.)
enum Typography {
    /// Tick labels, legends, captions, labels on lines, band numbers.
    static let text = 12.0
    /// Axis labels.
    static let axis = 13.0
    /// Panel titles (bold).
    static let title = 14.0
    /// Width of a character of `text` in DejaVu Sans, about (for layout estimates).
    static let charWidth = 7.2
    /// The print width the figures are made for, in points: one column (3.5 in).
    static let printWidth = 252.0
    /// The smallest text size allowed there, in points.
    static let minimumPoints = 8.0
    /// The widest figure that keeps `text` at `minimumPoints` when set `printWidth` wide (378 px).
    static let maximumWidth = text * printWidth / minimumPoints
    /// The width the figures are laid out for, a little under `maximumWidth` (about 8.2 pt text at 3.5 in).
    static let figureWidth = 370.0
    /// Height of a line of `text` as librsvg lays it out (DejaVu Sans: ascent 0.93 em + descent
    /// 0.24 em): the room a tick label takes along a y axis.
    static let lineHeight = 14.0

    /// The width of `s` set at `size` in DejaVu Sans, from its advance widths (units of the em:
    /// digits 0.636, the point and the middle dot 0.318, the minus sign 0.838, superscript digits
    /// and minus about 0.40, space 0.318, other characters 0.62 on average, capitals and wide
    /// letters more): an estimate for layout, which `PlotTests` holds to within a few per cent
    /// (and above) librsvg's own measure on tick labels.
    static func width(_ s: String, size: Double = text) -> Double {
        var em = 0.0
        for c in s {
            switch c {
            case "0"..."9": em += 0.636
            case ".", "·", ",", " ", ":", ";": em += 0.318
            case "−", "+", "=", "×": em += 0.838
            case "-": em += 0.361
            case "⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹", "⁻": em += 0.401
            case "[", "]", "(", ")": em += 0.39
            case "i", "l", "j", "I", "'", "|": em += 0.28
            case "m", "w", "M", "W": em += 0.95
            case "A"..."Z": em += 0.72
            default: em += 0.62
            }
        }
        return em * size
    }
}

/// One plot area: axes with ticks and labels, clipped drawing, legend. Every series is a
/// `<g class="series" data-name="…">` so that programs (and the tests) can find them.
struct Chart {
    let frame: (x: Double, y: Double, width: Double, height: Double)
    let x: Scale, y: Scale
    var title: String
    var xLabel: String, yLabel: String
    private var body: [String] = []
    private var legend: [(name: String, style: SeriesStyle, kind: LegendKind)] = []
    private let clipId: String
    /// Height of a strip at the bottom of the frame that holds `ticks` (event times) apart from the
    /// data, which the y scale keeps above it; 0: no strip.
    let strip: Double
    /// Text drawn after the frame, not clipped (labels in the margin).
    private var overlay: [String] = []
    /// Width of a column of direct labels right of the frame (moves a right legend over).
    private var labelColumn = 0.0
    /// Number of series drawn.
    private(set) var seriesCount = 0
    /// A categorical x axis's labels, laid out to fit (`CategoryLabels`); nil: the scale's ticks.
    var categories: CategoryLabels?
    /// How far the x tick labels reach below the usual single row (vertical category labels).
    private var extraDepth: Double { categories.map { max(0, $0.depth - 22) } ?? 0 }

    enum LegendKind { case line, marker, band, tick }

    /// The number of labelled ticks to aim for along `pixels` of an axis: about one per 48 pixels,
    /// so that labels such as "2·10⁻³" keep apart on a column-wide figure. (`Scale.extendedDown`
    /// needs the same number to land on a tick the axis labels.)
    static func tickTarget(_ pixels: Double) -> Int { max(3, Int(pixels / 48)) }

    /// - Parameters: `frame` the plot area (without tick labels), in pixels of the figure.
    init(frame: (x: Double, y: Double, width: Double, height: Double), x: Scale.Kind, xValues: [Double],
         y: Scale.Kind, yValues: [Double], title: String, xLabel: String, yLabel: String, id: String, yPad: Double = 0.04, strip: Double = 0) {
        self.frame = frame
        self.strip = strip
        self.x = Scale(x, covering: xValues, pixels: (frame.x, frame.x + frame.width), pad: 0)
        self.y = Scale(y, covering: yValues, pixels: (frame.y + frame.height - strip, frame.y), pad: yPad)
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        clipId = "clip-\(id)"
    }

    init(frame: (x: Double, y: Double, width: Double, height: Double), x: Scale, y: Scale,
         title: String, xLabel: String, yLabel: String, id: String, strip: Double = 0) {
        self.frame = frame
        self.strip = strip
        self.x = Scale(x.kind, lo: x.lo, hi: x.hi, pixels: (frame.x, frame.x + frame.width))
        self.y = Scale(y.kind, lo: y.lo, hi: y.hi, pixels: (frame.y + frame.height - strip, frame.y))
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        clipId = "clip-\(id)"
    }

    /// A polyline through the points; it breaks where a point cannot be drawn (non-finite, or
    /// not positive on a log axis) and wherever `breaks` says so (before point k when breaks(k)).
    /// `endMarker`: a marker (radius 4.5, in the line's colour) on the last point drawn, shown in
    /// the legend entry too: where a run stopped (`Comparison`'s failed runs).
    mutating func line(_ name: String, _ points: [(Double, Double)], style: SeriesStyle, legend: Bool = true,
                       breaks: ((Int) -> Bool)? = nil, endMarker: SeriesStyle.Marker = .none) {
        var paths: [String] = [], current: [String] = []
        var last: (Double, Double)? = nil
        func flush() { if current.count > 1 { paths.append("M" + current.joined(separator: "L")) }; current = []; last = nil }
        for (k, p) in points.enumerated() {
            let px = x(p.0), py = y(p.1)
            if breaks?(k) == true { flush() }
            guard px.isFinite, py.isFinite else { flush(); continue }
            // A vertex within a quarter pixel of the previous one draws nothing new: the file stays
            // bounded by the figure's pixels, not by the number of samples.
            if let (lx, ly) = last, abs(px - lx) < 0.25, abs(py - ly) < 0.25 { continue }
            last = (px, py)
            current.append("\(svgNum(px)),\(svgNum(py))")
        }
        flush()
        var attributes = "fill=\"none\" stroke=\"\(style.colour)\" stroke-width=\"\(style.width)\" stroke-linejoin=\"round\""
        if let dash = style.dash { attributes += " stroke-dasharray=\"\(dash)\"" }
        if style.opacity < 1 { attributes += " stroke-opacity=\"\(style.opacity)\"" }
        var group = paths.map { "<path d=\"\($0)\" \(attributes)/>" }
        if style.marker != .none {
            group += points.compactMap { p in
                let px = x(p.0), py = y(p.1)
                return px.isFinite && py.isFinite ? marker(style.marker, px, py, style.colour, r: style.markerRadius, hollow: style.hollow, opacity: style.opacity) : nil
            }
        }
        var entry = style
        if endMarker != .none, let end = points.last(where: { x($0.0).isFinite && y($0.1).isFinite }) {
            group.append(marker(endMarker, x(end.0), y(end.1), style.colour, r: 4.5))
            entry.marker = endMarker
            entry.markerRadius = 4
        }
        add(name, group)
        if legend { self.legend.append((name, entry, .line)) }
    }

    /// Markers only (no line).
    mutating func markers(_ name: String, _ points: [(Double, Double)], style: SeriesStyle, legend: Bool = true) {
        let group = points.compactMap { p -> String? in
            let px = x(p.0), py = y(p.1)
            return px.isFinite && py.isFinite ? marker(style.marker, px, py, style.colour, r: style.markerRadius, hollow: style.hollow, opacity: style.opacity) : nil
        }
        add(name, group)
        if legend { self.legend.append((name, style, .marker)) }
    }

    /// A shaded area between two curves over the same x (for example quartile bands), drawn
    /// under the lines; no legend entry. Points that cannot be drawn are dropped.
    mutating func area(_ name: String, lower: [(Double, Double)], upper: [(Double, Double)], colour: String, opacity: Double = 0.15) {
        let pairs = zip(lower, upper).filter { x($0.0.0).isFinite && y($0.0.1).isFinite && y($0.1.1).isFinite }
        guard pairs.count > 1 else { return }
        let top = pairs.map { "\(svgNum(x($0.1.0))),\(svgNum(y($0.1.1)))" }
        let bottom = pairs.reversed().map { "\(svgNum(x($0.0.0))),\(svgNum(y($0.0.1)))" }
        let polygon = "<polygon points=\"\((top + bottom).joined(separator: " "))\" fill=\"\(colour)\" fill-opacity=\"\(String(format: "%.3f", opacity))\" stroke=\"none\"/>"
        body.insert("<g class=\"series\" data-name=\"\(plainName(name))\">" + polygon + "</g>", at: 0)
        seriesCount += 1
    }

    /// Shaded vertical bands [a, b] (for example plateaus), drawn under everything else. Adjacent
    /// bands alternate between `opacity` and twice it, and with `numbered` each carries its number
    /// (1, 2, …) at the top, so that bands which touch can be told apart.
    /// `legend`: false for a panel whose bands the legend of another panel of the figure names.
    mutating func bands(_ name: String, _ spans: [(Double, Double)], fill: String = "#000000", opacity: Double = 0.12,
                        numbered: Bool = false, legend: Bool = true) {
        var group: [String] = []
        var lastNumberEnd = -Double.infinity
        for (k, s) in spans.enumerated() {
            let a = x(max(s.0, x.lo)), b = x(min(s.1, x.hi))
            guard a.isFinite, b.isFinite, b > a else { continue }
            let shade = k % 2 == 0 ? opacity : 1.9 * opacity
            group.append("<rect x=\"\(svgNum(a))\" y=\"\(svgNum(frame.y))\" width=\"\(svgNum(b - a))\" height=\"\(svgNum(frame.height - strip))\" fill=\"\(fill)\" fill-opacity=\"\(String(format: "%.3f", shade))\"/>")
            // A band's number where it fits in the band and clears the previous number.
            let half = Typography.charWidth * Double(String(k + 1).count) / 2 + 1
            if numbered && b - a >= 2 * half && (a + b) / 2 - half > lastNumberEnd {
                group.append("<text x=\"\(svgNum((a + b) / 2))\" y=\"\(svgNum(frame.y + 13))\" font-size=\"\(svgNum(Typography.text))\" text-anchor=\"middle\" fill=\"#333\" stroke=\"#ffffff\" stroke-width=\"2.5\" stroke-opacity=\"0.85\" paint-order=\"stroke\">\(k + 1)</text>")
                lastNumberEnd = (a + b) / 2 + half
            }
        }
        body.insert("<g class=\"series\" data-name=\"\(plainName(name))\">" + group.joined() + "</g>", at: 0)
        seriesCount += 1
        if legend { self.legend.append((name, SeriesStyle(colour: fill, dash: nil, opacity: opacity), .band)) }
    }

    /// Shaded horizontal bands [a, b] in y (for example the lanes of a lane chart), drawn under
    /// everything else; no legend entry.
    mutating func yBands(_ name: String, _ spans: [(Double, Double)], fill: String = "#000000", opacity: Double = 0.06) {
        let group = spans.compactMap { s -> String? in
            let a = y(min(max(s.0, y.lo), y.hi)), b = y(min(max(s.1, y.lo), y.hi))
            guard a.isFinite, b.isFinite, a != b else { return nil }
            return "<rect x=\"\(svgNum(frame.x))\" y=\"\(svgNum(min(a, b)))\" width=\"\(svgNum(frame.width))\" height=\"\(svgNum(abs(b - a)))\" fill=\"\(fill)\" fill-opacity=\"\(opacity)\"/>"
        }
        body.insert("<g class=\"series\" data-name=\"\(plainName(name))\">" + group.joined() + "</g>", at: 0)
        seriesCount += 1
    }

    /// Short vertical ticks at the bottom of the plot (for example event times); in the strip when
    /// the chart has one (so that no curve covers them).
    mutating func ticks(_ name: String, at values: [Double], style: SeriesStyle, length: Double = 9) {
        let bottom = frame.y + frame.height - (strip > 0 ? 2 : 0), top = strip > 0 ? frame.y + frame.height - strip + 2 : bottom - length
        var seen = Set<Int>()
        let group = values.compactMap { v -> String? in
            let px = x(v)
            // One tick per quarter pixel at most.
            guard px.isFinite, x.contains(v), seen.insert(Int((px * 4).rounded())).inserted else { return nil }
            return "<line x1=\"\(svgNum(px))\" y1=\"\(svgNum(bottom))\" x2=\"\(svgNum(px))\" y2=\"\(svgNum(top))\" stroke=\"\(style.colour)\" stroke-width=\"\(style.width)\"/>"
        }
        add(name, group)
        legend.append((name, style, .tick))
    }

    /// Free text at data coordinates (`_x` / `_{…}` set as subscripts), clipped to the frame; with
    /// `halo` a white outline keeps it readable over lines.
    mutating func label(_ text: String, at p: (Double, Double), size: Double = Typography.text, anchor: String = "start",
                        colour: String = "#000000", halo: Bool = false) {
        let px = x(p.0), py = y(p.1)
        guard px.isFinite, py.isFinite else { return }
        let outline = halo ? " stroke=\"#ffffff\" stroke-width=\"2.5\" stroke-opacity=\"0.85\" paint-order=\"stroke\"" : ""
        body.append("<text x=\"\(svgNum(px))\" y=\"\(svgNum(py))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" fill=\"\(colour)\"\(outline)>\(svgText(text))</text>")
    }

    /// Labels in a column right of the frame, one per series, each at the pixel height where its
    /// series ends (`at`, data y), moved apart to `spacing` pixels where they would overlap, with a
    /// thin leader from the frame's edge when moved. Unclipped; a right legend moves over.
    ///
    /// With `columns` = 2 the labels, in their order down the frame, alternate between two
    /// sub-columns, so that consecutive labels need only `spacing / 2` pixels between them while
    /// those in one sub-column keep `spacing` (many paths in a short panel); a label of the outer
    /// sub-column has its leader run level through the inner one, midway between two of its labels.
    mutating func endLabels(_ items: [(text: String, y: Double, colour: String)], spacing: Double = 14, size: Double = Typography.text,
                            columns: Int = 1) {
        let lo = frame.y + 4, hi = frame.y + frame.height - 1
        let placed = items.map { (text: $0.text, want: min(max(y($0.y), lo), hi), colour: $0.colour) }
            .filter { $0.want.isFinite }.sorted { $0.want < $1.want }
        guard !placed.isEmpty else { return }
        let step = spacing / Double(max(1, columns))
        var ys = placed.map(\.want)
        // Push down from the top, then back up from the bottom, then centre the clusters: the usual
        // one-dimensional label placement (exact when the labels fit in the height).
        for k in ys.indices.dropFirst() { ys[k] = max(ys[k], ys[k - 1] + step) }
        if let last = ys.last, last > hi {
            ys[ys.count - 1] = hi
            for k in stride(from: ys.count - 2, through: 0, by: -1) { ys[k] = min(ys[k], ys[k + 1] - step) }
        }
        let x0 = frame.x + frame.width
        let maxChars = items.map { $0.text.count }.max() ?? 0
        let columnWidth = Chart.endLabelColumnWidth(maxChars: maxChars)
        var out: [String] = []
        for k in placed.indices {
            let (text, want, colour) = placed[k]
            let c = Double(columns > 1 ? k % columns : 0)
            let end = x0 + 8 + c * columnWidth
            if c > 0 {
                out.append("<path d=\"M\(svgNum(x0)),\(svgNum(want))L\(svgNum(x0 + 8)),\(svgNum(ys[k]))L\(svgNum(end)),\(svgNum(ys[k]))\" stroke=\"\(colour)\" stroke-width=\"0.7\" fill=\"none\"/>")
            } else if abs(ys[k] - want) > 1.5 {
                out.append("<path d=\"M\(svgNum(x0)),\(svgNum(want))L\(svgNum(x0 + 8)),\(svgNum(ys[k]))\" stroke=\"\(colour)\" stroke-width=\"0.7\" fill=\"none\"/>")
            } else {
                out.append("<path d=\"M\(svgNum(x0)),\(svgNum(want))L\(svgNum(x0 + 8)),\(svgNum(want))\" stroke=\"\(colour)\" stroke-width=\"0.7\" fill=\"none\"/>")
            }
            out.append("<text x=\"\(svgNum(end + 2))\" y=\"\(svgNum(ys[k] + size * 0.35))\" font-size=\"\(svgNum(size))\" fill=\"\(colour)\">\(svgText(text))</text>")
        }
        overlay.append("<g class=\"end-labels\">" + out.joined() + "</g>")
        labelColumn = max(labelColumn, Chart.endLabelsWidth(maxChars: maxChars, columns: columns))
    }

    /// Width of one sub-column of `endLabels` (a label of `maxChars` and the gap to the next).
    static func endLabelColumnWidth(maxChars: Int) -> Double { 10 + 1.1 * Typography.charWidth * Double(maxChars) }

    /// Width right of the frame that `endLabels` takes.
    static func endLabelsWidth(maxChars: Int, columns: Int = 1) -> Double {
        16 + Typography.charWidth * Double(maxChars) + Double(max(1, columns) - 1) * endLabelColumnWidth(maxChars: maxChars)
    }

    private mutating func add(_ name: String, _ group: [String]) {
        body.append("<g class=\"series\" data-name=\"\(plainName(name))\">" + group.joined() + "</g>")
        seriesCount += 1
    }

    private func marker(_ kind: SeriesStyle.Marker, _ px: Double, _ py: Double, _ colour: String, r: Double = 3, hollow: Bool = false,
                        opacity: Double = 1) -> String {
        // Hollow: white inside, outlined in the colour; filled: in the colour, translucent with
        // `opacity` < 1 so that markers on top of each other stay visible.
        var paint = hollow ? "fill=\"#ffffff\" stroke=\"\(colour)\" stroke-width=\"1.3\"" : "fill=\"\(colour)\""
        if opacity < 1 { paint += " fill-opacity=\"\(String(format: "%.2f", opacity))\"" }
        guard let vertices = Chart.markerPolygon(kind) else {
            return "<circle cx=\"\(svgNum(px))\" cy=\"\(svgNum(py))\" r=\"\(svgNum(r))\" \(paint)/>"
        }
        let points = vertices.map { "\(svgNum(px + r * $0.0)),\(svgNum(py + r * $0.1))" }
        return "<path d=\"M" + points.joined(separator: "L") + "Z\" \(paint)/>"
    }

    /// The outline of a marker shape in units of the marker radius (y down), nil for a circle;
    /// each shape's area is close to the unit circle's (π), so that no method's markers look bigger.
    static func markerPolygon(_ kind: SeriesStyle.Marker) -> [(Double, Double)]? {
        func regular(_ n: Int, radius: Double, start: Double) -> [(Double, Double)] {
            (0..<n).map { k in let a = start + 2 * Double.pi * Double(k) / Double(n); return (radius * cos(a), radius * sin(a)) }
        }
        switch kind {
        case .none, .circle: return nil
        case .square: return [(-0.89, -0.89), (0.89, -0.89), (0.89, 0.89), (-0.89, 0.89)]
        case .diamond: return regular(4, radius: 1.25, start: -Double.pi / 2)
        case .triangle: return regular(3, radius: 1.55, start: -Double.pi / 2).map { ($0.0, $0.1 + 0.25) }
        case .triangleDown: return regular(3, radius: 1.55, start: Double.pi / 2).map { ($0.0, $0.1 - 0.25) }
        case .star:
            return (0..<10).map { k in
                let a = -Double.pi / 2 + Double.pi * Double(k) / 5, radius = k % 2 == 0 ? 1.75 : 0.72
                return (radius * cos(a), radius * sin(a))
            }
        case .plus, .cross:
            // A plus of arms 0.45 wide reaching 1.4; the cross is the plus turned by 45°.
            let w = 0.45, l = 1.4
            let plus = [(-w, -l), (w, -l), (w, -w), (l, -w), (l, w), (w, w), (w, l), (-w, l), (-w, w), (-l, w), (-l, -w), (-w, -w)]
            guard kind == .cross else { return plus }
            let c = 0.5.squareRoot()
            return plus.map { (c * ($0.0 - $0.1), c * ($0.0 + $0.1)) }
        }
    }

    /// A legend entry without a series of its own (for series drawn with `legend: false`).
    mutating func legendEntry(_ name: String, style: SeriesStyle, kind: LegendKind = .line) {
        legend.append((name, style, kind))
    }

    enum LegendPlace { case insideTopRight, right, below }

    /// Width of one legend column.
    private var legendColumnWidth: Double { 36 + Typography.charWidth * Double(legend.map { plainName($0.name).count }.max() ?? 0) }

    /// Width of one legend entry laid out in a row below the panel.
    private func entryWidth(_ k: Int) -> Double { 36 + Typography.charWidth * Double(plainName(legend[k].name).count) + 12 }

    /// Position (left, baseline offset from the first row) of each entry of a legend laid out in
    /// rows below the panel, wrapped at the frame's width; and the number of rows.
    private func belowLayout() -> (positions: [(Double, Int)], rows: Int) {
        var positions: [(Double, Int)] = [], x = 0.0, row = 0
        for k in legend.indices {
            let w = entryWidth(k)
            if x > 0 && x + w > frame.width + 10 { x = 0; row += 1 }
            positions.append((x, row))
            x += w
        }
        return (positions, legend.isEmpty ? 0 : row + 1)
    }

    /// The bottom of the panel's drawing: below its x label, and below its legend when the legend
    /// is laid out below (`legendPlace: .below`).
    func bottom(legendBelow: Bool) -> Double {
        let axes = frame.y + frame.height + 46 + extraDepth
        guard legendBelow, !legend.isEmpty else { return axes }
        return axes + 18 * Double(belowLayout().rows) + 10
    }

    /// The right edge of the panel's drawing (frame, right tick labels, end labels), without a right legend.
    func rightEdge(rightTickLabels: Bool = false) -> Double {
        frame.x + frame.width + labelColumn + (rightTickLabels ? Chart.rightLabelsWidth : 0) + 14
    }

    /// Width of the legend box.
    func legendWidth(columns: Int = 1) -> Double { legend.isEmpty ? 0 : legendColumnWidth * Double(columns) + 8 }

    /// The figure width that holds the panel and a legend placed to its right.
    func widthWithRightLegend(columns: Int = 1) -> Double { frame.x + frame.width + labelColumn + 12 + legendWidth(columns: columns) + 16 }

    /// The panel's SVG: clip path, grid, series, frame, ticks, labels, legend (top right inside
    /// the frame, or to the right of it).
    /// The x axis's labelled ticks: about one per 48 pixels, and never two labels closer than
    /// 6 pixels (estimated widths, `Typography.width`).
    var xTicks: [(value: Double, label: String)] {
        x.ticks(target: Chart.tickTarget(frame.width), extent: { Typography.width($0) }, gap: 6)
    }

    /// The y axis's labelled ticks: about one per 48 pixels, and never two labels' lines overlapping.
    var yTicks: [(value: Double, label: String)] {
        y.ticks(target: Chart.tickTarget(frame.height - strip), extent: { _ in Typography.lineHeight }, gap: 1)
    }

    /// The x of the y title's baseline (the text is rotated −90°): 17 px plus the widest tick label
    /// left of the frame (8 px tick gap, 6 px clear, 3 px descent), and at least 18 px from the
    /// page's left edge (10 px ascent, 8 px margin). `PlotTests` checks both on every chart.
    static func yTitleBaseline(frameX: Double, widestTickLabel: Double) -> Double {
        max(18, frameX - 17 - widestTickLabel)
    }

    /// Width taken by `rightTickLabels` between the frame and a right legend.
    static let rightLabelsWidth = 22.0

    /// - rightTickLabels: small ticks and labels on the right edge (a secondary y scale), which
    ///   move a right legend over by `rightLabelsWidth`.
    /// - yTickText: false draws the y ticks and grid without their labels (a panel sharing the y
    ///   axis of the panel to its left).
    func svg(legendColumns: Int = 1, legendPlace: LegendPlace = .insideTopRight, yTickLabels: [(Double, String)]? = nil,
             rightTickLabels: [(Double, String)] = [], xTickLabels: [(Double, String)]? = nil, yTickText: Bool = true) -> String {
        var out: [String] = []
        let (fx, fy, fw, fh) = frame
        out.append("<defs><clipPath id=\"\(clipId)\"><rect x=\"\(svgNum(fx))\" y=\"\(svgNum(fy))\" width=\"\(svgNum(fw))\" height=\"\(svgNum(fh))\"/></clipPath></defs>")
        out.append("<rect x=\"\(svgNum(fx))\" y=\"\(svgNum(fy))\" width=\"\(svgNum(fw))\" height=\"\(svgNum(fh))\" fill=\"#ffffff\"/>")
        // Grid and ticks.
        var axes: [String] = []
        for (v, text) in xTickLabels ?? categories?.shown ?? xTicks {
            let px = x(v)
            axes.append("<line x1=\"\(svgNum(px))\" y1=\"\(svgNum(fy))\" x2=\"\(svgNum(px))\" y2=\"\(svgNum(fy + fh))\" stroke=\"#d9d9d9\" stroke-width=\"0.7\"/>")
            axes.append("<line x1=\"\(svgNum(px))\" y1=\"\(svgNum(fy + fh))\" x2=\"\(svgNum(px))\" y2=\"\(svgNum(fy + fh + 5))\" stroke=\"#000\"/>")
            if xTickLabels == nil, categories?.orientation == .vertical {
                // Read upwards, its end under the tick; the glyphs' middle (4 px right of the
                // rotated baseline) on the tick.
                let top = fy + fh + 8
                axes.append("<text x=\"\(svgNum(px + 4))\" y=\"\(svgNum(top))\" font-size=\"\(svgNum(Typography.text))\" text-anchor=\"end\" "
                            + "transform=\"rotate(-90 \(svgNum(px + 4)) \(svgNum(top)))\">\(svgEscape(text))</text>")
            } else {
                axes.append("<text x=\"\(svgNum(px))\" y=\"\(svgNum(fy + fh + 19))\" font-size=\"\(svgNum(Typography.text))\" text-anchor=\"middle\">\(svgEscape(text))</text>")
            }
        }
        for (v, text) in yTickLabels ?? yTicks {
            let py = y(v)
            guard py.isFinite, py >= fy - 0.5, py <= fy + fh - strip + 0.5 else { continue }
            axes.append("<line x1=\"\(svgNum(fx))\" y1=\"\(svgNum(py))\" x2=\"\(svgNum(fx + fw))\" y2=\"\(svgNum(py))\" stroke=\"#d9d9d9\" stroke-width=\"0.7\"/>")
            axes.append("<line x1=\"\(svgNum(fx - 5))\" y1=\"\(svgNum(py))\" x2=\"\(svgNum(fx))\" y2=\"\(svgNum(py))\" stroke=\"#000\"/>")
            if yTickText {
                // A tick at the top of the events strip has its label sit on the tick, clear of
                // the strip's "events" label below it (centred on the tick, the two overlapped).
                let baseline = strip > 0 && py > fy + fh - strip - 8 ? py - 1 : py + 4
                axes.append("<text x=\"\(svgNum(fx - 8))\" y=\"\(svgNum(baseline))\" font-size=\"\(svgNum(Typography.text))\" text-anchor=\"end\">\(svgEscape(text))</text>")
            }
        }
        for (v, text) in rightTickLabels {
            let py = y(v)
            guard py.isFinite, py >= fy - 0.5, py <= fy + fh + 0.5 else { continue }
            axes.append("<line x1=\"\(svgNum(fx + fw))\" y1=\"\(svgNum(py))\" x2=\"\(svgNum(fx + fw + 4))\" y2=\"\(svgNum(py))\" stroke=\"#000\"/>")
            axes.append("<text x=\"\(svgNum(fx + fw + 6))\" y=\"\(svgNum(py + 4))\" font-size=\"\(svgNum(Typography.text))\">\(svgEscape(text))</text>")
        }
        out.append("<g class=\"axes\">" + axes.joined() + "</g>")
        if strip > 0 {
            let sy = fy + fh - strip
            out.append("<rect x=\"\(svgNum(fx))\" y=\"\(svgNum(sy))\" width=\"\(svgNum(fw))\" height=\"\(svgNum(strip))\" fill=\"#f2f2f2\"/>")
            out.append("<line x1=\"\(svgNum(fx))\" y1=\"\(svgNum(sy))\" x2=\"\(svgNum(fx + fw))\" y2=\"\(svgNum(sy))\" stroke=\"#000\" stroke-width=\"0.6\"/>")
            out.append("<text x=\"\(svgNum(fx - 8))\" y=\"\(svgNum(sy + strip / 2 + 3))\" font-size=\"\(svgNum(Typography.text))\" text-anchor=\"end\" fill=\"#444\">events</text>")
        }
        out.append("<g clip-path=\"url(#\(clipId))\">" + body.joined() + "</g>")
        out.append("<rect x=\"\(svgNum(fx))\" y=\"\(svgNum(fy))\" width=\"\(svgNum(fw))\" height=\"\(svgNum(fh))\" fill=\"none\" stroke=\"#000\" stroke-width=\"1\"/>")
        out.append("<text x=\"\(svgNum(fx + fw / 2))\" y=\"\(svgNum(fy - 10))\" font-size=\"\(svgNum(Typography.title))\" font-weight=\"bold\" text-anchor=\"middle\">\(svgText(title))</text>")
        out.append("<text x=\"\(svgNum(fx + fw / 2))\" y=\"\(svgNum(fy + fh + 40 + extraDepth))\" font-size=\"\(svgNum(Typography.axis))\" text-anchor=\"middle\">\(svgText(xLabel))</text>")
        // The y title (rotated: its glyphs run from about 10 px left of its baseline to 3 px right
        // of it at 13 px) clears the widest tick label by 6 px and keeps 8 px from the page's edge.
        let widestY = yTickText ? (yTickLabels ?? yTicks).map { Typography.width($0.1) }.max() ?? 0 : 0
        let ly = fy + fh / 2, lx = Chart.yTitleBaseline(frameX: fx, widestTickLabel: widestY)
        out.append("<text x=\"\(svgNum(lx))\" y=\"\(svgNum(ly))\" font-size=\"\(svgNum(Typography.axis))\" text-anchor=\"middle\" transform=\"rotate(-90 \(svgNum(lx)) \(svgNum(ly)))\">\(svgText(yLabel))</text>")
        if !legend.isEmpty {
            let rows = (legend.count + legendColumns - 1) / legendColumns
            let columnWidth = legendColumnWidth
            let below = legendPlace == .below ? belowLayout() : nil
            let boxWidth = below.map { b in zip(b.positions, legend.indices).map { $0.0.0 + entryWidth($0.1) }.max() ?? 0 }
                ?? legendWidth(columns: legendColumns)
            let boxHeight = below.map { 18 * Double($0.rows) + 6 } ?? 18 * Double(rows) + 8
            let shift = (rightTickLabels.isEmpty ? 0 : Chart.rightLabelsWidth) + labelColumn
            let bx: Double, by: Double
            switch legendPlace {
            case .right: (bx, by) = (fx + fw + 12 + shift, fy)
            case .insideTopRight: (bx, by) = (fx + fw - boxWidth - 6, fy + 6)
            case .below: (bx, by) = (fx - 6, fy + fh + 50 + extraDepth)
            }
            var items = ["<rect x=\"\(svgNum(bx))\" y=\"\(svgNum(by))\" width=\"\(svgNum(boxWidth))\" height=\"\(svgNum(boxHeight))\" fill=\"#ffffff\" fill-opacity=\"0.88\" stroke=\"#888\" stroke-width=\"0.6\"/>"]
            for (k, entry) in legend.enumerated() {
                let cx: Double, cy: Double
                if let below {
                    (cx, cy) = (bx + 6 + below.positions[k].0, by + 15 + 18 * Double(below.positions[k].1))
                } else {
                    (cx, cy) = (bx + 6 + columnWidth * Double(k / rows), by + 15 + 18 * Double(k % rows))
                }
                switch entry.kind {
                case .line:
                    var a = "stroke=\"\(entry.style.colour)\" stroke-width=\"\(entry.style.width)\""
                    if let dash = entry.style.dash { a += " stroke-dasharray=\"\(dash)\"" }
                    items.append("<line x1=\"\(svgNum(cx))\" y1=\"\(svgNum(cy - 4))\" x2=\"\(svgNum(cx + 24))\" y2=\"\(svgNum(cy - 4))\" \(a)/>")
                    if entry.style.marker != .none {
                        items.append(marker(entry.style.marker, cx + 12, cy - 4, entry.style.colour, r: max(entry.style.markerRadius, 3), hollow: entry.style.hollow))
                    }
                case .marker:
                    items.append(marker(entry.style.marker, cx + 12, cy - 4, entry.style.colour, r: max(entry.style.markerRadius, 3), hollow: entry.style.hollow))
                case .band:
                    items.append("<rect x=\"\(svgNum(cx))\" y=\"\(svgNum(cy - 10))\" width=\"24\" height=\"11\" fill=\"\(entry.style.colour)\" fill-opacity=\"\(entry.style.opacity)\"/>")
                case .tick:
                    items.append("<line x1=\"\(svgNum(cx + 12))\" y1=\"\(svgNum(cy))\" x2=\"\(svgNum(cx + 12))\" y2=\"\(svgNum(cy - 9))\" stroke=\"\(entry.style.colour)\" stroke-width=\"\(entry.style.width)\"/>")
                }
                items.append("<text x=\"\(svgNum(cx + 30))\" y=\"\(svgNum(cy))\" font-size=\"\(svgNum(Typography.text))\">\(svgText(entry.name))</text>")
            }
            out.append("<g class=\"legend\">" + items.joined() + "</g>")
        }
        out += overlay
        return out.joined(separator: "\n")
    }
}

/// The labels of a categorical x axis (a sweep axis of lists or strings, `SweepPlot`), laid out to
/// fit: every label, horizontal, when neighbours keep 6 px apart (widths `Typography.width`) and
/// the end ones stay on the page; else every label turned to read upwards (each then needs only a
/// line's height along the axis); every k-th of them only when not even that fits. (The issue 18
/// trial: five `network.layers` lists were thinned to two by a rule that only knew horizontal labels.)
struct CategoryLabels {
    enum Orientation { case horizontal, vertical }
    var orientation: Orientation
    /// Every k-th label shown (1: all of them).
    var every: Int
    /// The labels drawn, at their category's position (0, 1, …).
    var shown: [(Double, String)]
    /// Pixels from the frame's bottom to below the lowest label.
    var depth: Double

    /// - Parameters: `spacing`, pixels between neighbouring categories; `leftRoom`, `rightRoom`,
    ///   pixels a label may reach beyond the first and last category's half spacing.
    static func layout(_ labels: [String], spacing: Double, leftRoom: Double, rightRoom: Double) -> CategoryLabels {
        let widths = labels.map { Typography.width($0) }
        let neighbours = zip(widths, widths.dropFirst()).allSatisfy { spacing >= ($0 + $1) / 2 + 6 }
        let ends = widths.first.map { $0 / 2 <= spacing / 2 + leftRoom } ?? true && widths.last.map { $0 / 2 <= spacing / 2 + rightRoom } ?? true
        let all = labels.enumerated().map { (Double($0.offset), $0.element) }
        if neighbours && ends { return CategoryLabels(orientation: .horizontal, every: 1, shown: all, depth: 22) }
        let every = max(1, Int(((Typography.lineHeight + 2) / spacing).rounded(.up)))
        let shown = all.filter { Int($0.0) % every == 0 }
        let longest = shown.map { Typography.width($0.1) }.max() ?? 0
        return CategoryLabels(orientation: .vertical, every: every, shown: shown, depth: 8 + longest + 4)
    }
}

/// A whole SVG file: a white page, its panels, and an optional caption below them.
struct Figure {
    var width: Double
    /// The bottom of the panels; the caption's lines go below it.
    var height: Double
    var panels: [String] = []
    var caption: String?

    /// The caption broken into lines that fit the width.
    var captionLines: [String] {
        guard let caption else { return [] }
        let perLine = max(30, Int((width - 20) / Typography.charWidth))
        var lines: [String] = [], current = ""
        for whole in caption.split(separator: " ", omittingEmptySubsequences: false) {
            // A word longer than a line (a path) is cut into pieces that fit.
            var word = Substring(whole)
            while word.count > perLine {
                if !current.isEmpty { lines.append(current); current = "" }
                lines.append(String(word.prefix(perLine)))
                word = word.dropFirst(perLine)
            }
            if !current.isEmpty && current.count + 1 + word.count > perLine { lines.append(current); current = "" }
            current += (current.isEmpty ? "" : " ") + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    func svg() -> String {
        let lines = captionLines
        let lineHeight = Typography.text + 4
        let total = height + lineHeight * Double(lines.count) + 8
        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(svgNum(width))\" height=\"\(svgNum(total))\" viewBox=\"0 0 \(svgNum(width)) \(svgNum(total))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"]
        out += panels
        for (k, line) in lines.enumerated() {
            out.append("<text x=\"10\" y=\"\(svgNum(height + lineHeight * Double(k + 1) - 2))\" font-size=\"\(svgNum(Typography.text))\" fill=\"#444\">\(svgText(line))</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}

/// Pixels with two decimals (plenty for screens and print).
@inline(__always) func svgNum(_ v: Double) -> String { String(format: "%.2f", v) }

func svgEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// Text for an SVG text element: escaped, with `_x` (one letter, digit or *, not followed by a
/// letter or digit) and `_{…}` set as real subscripts.
func svgText(_ s: String) -> String {
    var out = svgEscape(s)
    let sub = "<tspan baseline-shift=\"sub\" font-size=\"75%\">$1</tspan>"
    out = out.replacingOccurrences(of: #"_\{([^}]*)\}"#, with: sub, options: .regularExpression)
    out = out.replacingOccurrences(of: #"_([A-Za-z0-9*])(?![A-Za-z0-9])"#, with: sub, options: .regularExpression)
    return out
}

/// A name for attributes (data-name): the subscripts of `svgText` as Unicode subscripts where
/// they exist, else left as written ("L*_P"); escaped.
func plainName(_ s: String) -> String {
    let subscripts: [Character: Character] = ["0": "₀", "1": "₁", "2": "₂", "3": "₃", "4": "₄", "5": "₅", "6": "₆", "7": "₇", "8": "₈", "9": "₉",
                                              "a": "ₐ", "e": "ₑ", "h": "ₕ", "i": "ᵢ", "j": "ⱼ", "k": "ₖ", "l": "ₗ", "m": "ₘ", "n": "ₙ", "o": "ₒ",
                                              "p": "ₚ", "r": "ᵣ", "s": "ₛ", "t": "ₜ", "u": "ᵤ", "v": "ᵥ", "x": "ₓ"]
    func convert(_ t: Substring) -> String {
        let chars = Array(t)
        return chars.allSatisfy { subscripts[$0] != nil } ? String(chars.map { subscripts[$0]! }) : "_" + (t.count == 1 ? String(t) : "{\(t)}")
    }
    var out = ""
    var rest = Substring(s)
    while let r = rest.firstIndex(of: "_") {
        out += rest[..<r]
        let after = rest[rest.index(after: r)...]
        if after.first == "{", let close = after.firstIndex(of: "}") {
            out += convert(after[after.index(after: after.startIndex)..<close])
            rest = after[after.index(after: close)...]
        } else if let c = after.first, c.isLetter || c.isNumber || c == "*",
                  after.dropFirst().first.map({ !($0.isLetter || $0.isNumber) }) ?? true {
            out += convert(after.prefix(1))
            rest = after.dropFirst()
        } else {
            out += "_"
            rest = after
        }
    }
    return svgEscape(out + rest)
}
