import Foundation

/// A map from data values to pixels along one axis, linear or logarithmic, with tick marks.
struct Scale: Sendable {
    enum Kind: Sendable { case linear, log }

    let kind: Kind
    /// Data interval (positive for log).
    let lo: Double, hi: Double
    /// Pixel interval (hi may be below lo: y axes grow upwards).
    let from: Double, to: Double

    /// A scale whose domain covers `values` (non-finite values, and non-positive ones on a log
    /// scale, are ignored), padded by `pad` of its span on a linear scale; a degenerate domain
    /// is widened so the axis still shows ticks.
    init(_ kind: Kind, covering values: [Double], pixels: (Double, Double), pad: Double = 0.04) {
        let usable = values.filter { $0.isFinite && (kind == .linear || $0 > 0) }
        var a = usable.min() ?? (kind == .log ? 1 : 0), b = usable.max() ?? (kind == .log ? 10 : 1)
        switch kind {
        case .linear:
            // Values equal to a few ulps would give a tick step below the ulp of the values.
            if b - a <= 1e-9 * max(abs(a), abs(b), 1e-300) { a -= max(abs(a), 1) * 0.5; b += max(abs(b), 1) * 0.5 }
            let span = b - a
            a -= pad * span
            b += pad * span
        case .log:
            if b / a < 1.0001 { a /= 2; b *= 2 }
            // The same relative margin in log space, so that the extreme values (a pattern floor
            // below the final loss, say) do not sit on the frame.
            let margin = pow(b / a, pad)
            a /= margin
            b *= margin
        }
        self.init(kind, lo: a, hi: b, pixels: pixels)
    }

    init(_ kind: Kind, lo: Double, hi: Double, pixels: (Double, Double)) {
        self.kind = kind
        self.lo = lo
        self.hi = hi
        from = pixels.0
        to = pixels.1
    }

    func contains(_ v: Double) -> Bool { v.isFinite && v >= lo && v <= hi && (kind == .linear || v > 0) }

    /// Pixel of v (NaN when v cannot be drawn on this scale).
    func callAsFunction(_ v: Double) -> Double {
        switch kind {
        case .linear: return from + (v - lo) / (hi - lo) * (to - from)
        case .log:
            guard v > 0 else { return .nan }
            return from + (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) * (to - from)
        }
    }

    /// Major ticks with their labels: 1-2-5 steps on a linear scale (about `target` of them);
    /// decades on a log scale (every k-th decade when there are more than `target + 3`; 2 and 5 added
    /// within two decades, every multiple within about one).
    func ticks(target: Int = 6) -> [(value: Double, label: String)] {
        switch kind {
        case .linear:
            let raw = (hi - lo) / Double(max(target, 2))
            let magnitude = pow(10, floor(log10(raw)))
            let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
            var v = ceil(lo / step) * step
            var out: [(Double, String)] = []
            while v <= hi + 1e-9 * step && out.count < 100 {
                let value = abs(v) < 1e-9 * step ? 0 : v
                out.append((value, Self.linearLabel(value, step)))
                v += step
            }
            return out
        case .log:
            let a = Int(floor(log10(lo) + 1e-9)), b = Int(ceil(log10(hi) - 1e-9))
            let decades = b - a
            let every = max(1, Int((Double(decades) / Double(target + 3)).rounded(.up)))
            var out: [(Double, String)] = []
            for e in stride(from: a, through: b, by: 1) where e % every == 0 {
                let v = pow(10, Double(e))
                if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { out.append((v, Self.power(e))) }
                // Spans under about a decade get every multiple, up to two decades 2 and 5.
                let multiples: [Double] = log10(hi / lo) < 1.2 ? [2, 3, 4, 5, 6, 7, 8, 9] : (decades <= 2 ? [2, 5] : [])
                do {
                    for f in multiples where f * v >= lo && f * v <= hi {
                        out.append((f * v, "\(Int(f))·" + Self.power(e)))
                    }
                }
            }
            return out.sorted { $0.0 < $1.0 }
        }
    }

    /// Ticks whose labels keep apart on the axis: `extent(label)` is the room a label takes along
    /// the axis in pixels (its width on an x axis, its line height on a y axis), and two neighbours'
    /// half extents plus `gap` must fit between their ticks. The ticks of `ticks(target:)` when
    /// there are three or more and they fit. Else the first of these with three or more ticks
    /// that fit (else with two): on a log scale the sets of at most `target` + 1 ticks from every
    /// multiple 1…9 of a decade through 1-2-5, 1-3 and the decades to every k-th decade; then the
    /// plain ticks; then 1-2-5 steps, at most `target` + 1 of them (decimal steps: on a log scale
    /// spanning less than a factor 3 they are the only ones with three ticks). So a span of less than a
    /// decade on a log axis is still labelled, and no two labels overlap.
    func ticks(target: Int, extent: (String) -> Double, gap: Double) -> [(value: Double, label: String)] {
        let plain = ticks(target: target)
        func fitting(_ t: [(value: Double, label: String)]) -> Bool { t.count >= 2 && fits(t, extent: extent, gap: gap) }
        if plain.count >= 3 && fitting(plain) { return plain }
        var candidates: [[(value: Double, label: String)]] = []
        if kind == .log {
            let a = Int(floor(log10(lo) + 1e-9)), b = Int(ceil(log10(hi) - 1e-9))
            for mantissas in [[1.0, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 5], [1, 3]] {
                candidates.append(logTicks(mantissas: mantissas, every: 1, decades: a...b))
            }
            for every in [1, 2, 3, 5, 10, 20, 50] where every <= max(1, b - a) {
                candidates.append(logTicks(mantissas: [1], every: every, decades: a...b))
            }
            candidates = candidates.filter { $0.count <= target + 1 }
        }
        if fitting(plain) { candidates.append(plain) }
        // Decimal steps, from twice the target down (a short axis over a narrow span has room for
        // finer steps than its target says), at most `target` + 1 of them.
        for steps in stride(from: 2 * target, through: 2, by: -1) {
            let t = linearTicks(target: steps)
            if t.count <= target + 1 { candidates.append(t) }
        }
        // Three labels or more where they fit (two decades' ticks on a short span read worse than
        // decimal steps), else two.
        if let good = candidates.first(where: { $0.count >= 3 && fitting($0) }) ?? candidates.first(where: fitting) { return good }
        // Not even two labels fit (a very short axis): the single tick nearest the middle.
        let all = candidates.flatMap { $0 } + plain
        let middle = (self(lo) + self(hi)) / 2
        return all.min { abs(self($0.value) - middle) < abs(self($1.value) - middle) }.map { [$0] } ?? []
    }

    /// Whether labels of `extent` pixels, centred on their ticks, keep `gap` pixels apart.
    func fits(_ ticks: [(value: Double, label: String)], extent: (String) -> Double, gap: Double) -> Bool {
        let placed = ticks.map { (p: self($0.value), e: extent($0.label)) }.sorted { $0.p < $1.p }
        return zip(placed, placed.dropFirst()).allSatisfy { $1.p - $0.p >= ($0.e + $1.e) / 2 + gap }
    }

    /// Log ticks m·10^e for the mantissas m, on every `every`-th decade e, inside the domain.
    func logTicks(mantissas: [Double], every: Int, decades: ClosedRange<Int>) -> [(value: Double, label: String)] {
        var out: [(value: Double, label: String)] = []
        for e in decades where e % every == 0 {
            for m in mantissas {
                let v = m * pow(10, Double(e))
                if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { out.append((v, m == 1 ? Self.power(e) : "\(Int(m))·" + Self.power(e))) }
            }
        }
        return out
    }

    /// 1-2-5 steps over the domain, about `target` of them (on a log scale too: a span of less
    /// than a factor 2 has no two of its 1-2-5 multiples, but has decimal steps).
    func linearTicks(target: Int) -> [(value: Double, label: String)] {
        let raw = (hi - lo) / Double(max(target, 2))
        guard raw > 0, raw.isFinite else { return [] }
        let magnitude = pow(10, floor(log10(raw) + 1e-12))
        // (0.9 − 0.3) / 3 is 0.2000…04: a step equal to `raw` up to rounding is that step.
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw * (1 - 1e-9) } ?? 10 * magnitude
        var out: [(value: Double, label: String)] = []
        var k = ceil(lo / step - 1e-9)
        while k * step <= hi + 1e-9 * step && out.count < 100 {
            let value = abs(k * step) < 1e-9 * step ? 0 : k * step
            if kind == .linear || value > 0 {
                out.append((value, kind == .log && (value < 1e-3 || value >= 1e5) ? Self.scientificLabel(value, step) : Self.linearLabel(value, step)))
            }
            k += 1
        }
        return out
    }

    /// A positive tick of a fine step far from 1: mantissa with the digits the step needs, times a
    /// power of ten ("3.25·10⁻⁵").
    static func scientificLabel(_ v: Double, _ step: Double) -> String {
        let e = Int(floor(log10(v) + 1e-12))
        let decimals = max(0, e - Int(floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", v / pow(10, Double(e))) + "·" + power(e)
    }

    /// The label of a linear tick, with a true minus sign (U+2212).
    static func linearLabel(_ v: Double, _ step: Double) -> String {
        if v == 0 { return "0" }
        let text: String
        if abs(v) >= 1e5 || abs(v) < 1e-3 {
            text = String(format: "%.3g", v)
        } else {
            let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
            text = String(format: "%.\(decimals)f", v)
        }
        return text.replacingOccurrences(of: "-", with: "−")
    }

    /// The same scale with its lower end moved down to the largest tick at or below `value` (so
    /// that the lowest data value sits above a labelled tick, not below the last one).
    /// `target`: the number of ticks the axis will label (`Chart.tickTarget` of its length).
    func extendedDown(toTickBelow value: Double, target: Int = 6) -> Scale {
        guard value.isFinite, kind == .linear || value > 0 else { return self }
        if ticks(target: target).contains(where: { $0.value <= value }) { return self }
        var candidate = self
        for _ in 0..<8 {
            let lower: Double
            switch kind {
            case .linear: lower = candidate.lo - (candidate.hi - candidate.lo) * 0.25
            case .log: lower = pow(10, floor(log10(candidate.lo) - 1e-9))
            }
            let wider = Scale(kind, lo: lower, hi: hi, pixels: (from, to))
            if let tick = wider.ticks(target: target).last(where: { $0.value <= value }) {
                return Scale(kind, lo: min(tick.value, lo), hi: hi, pixels: (from, to))
            }
            candidate = wider
        }
        return self
    }

    /// A number in 3 significant digits with a superscript power of ten ("1.7·10⁻¹⁷").
    static func shortNumber(_ v: Double) -> String {
        guard v.isFinite, v != 0 else { return String(format: "%g", v) }
        let e = Int(floor(log10(abs(v))))
        if (-3...4).contains(e) { return String(format: "%.3g", v).replacingOccurrences(of: "-", with: "−") }
        let mantissa = v / pow(10, Double(e))
        return String(format: "%.2g", mantissa).replacingOccurrences(of: "-", with: "−") + "·" + power(e)
    }

    /// "10⁻³" with Unicode superscripts (no font features needed).
    static func power(_ e: Int) -> String {
        let digits: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
        return "10" + String(String(e).map { digits[$0] ?? $0 })
    }
}
