/// The one-dimensional reading of a state (SPEC §5, d = 1): the knots `k_i = −b_i/w_i` cut the
/// line into intervals on which the network is affine; at a stationary pattern the network
/// coincides on each interval's data points with their ordinary least-squares line, and adjacent
/// lines meet at `k*` between the two data points that separate the intervals. A `k*` outside
/// that gap makes the pattern transient: the knot there will cross the nearest data point in the
/// direction of `k*` (the plateau exit prediction). Meeting points are read only between intervals
/// with at least two distinct data points and across knots that do not rest on a data point.
public struct KnotReading: Codable, Sendable {
    public struct Knot: Codable, Sendable {
        public var neuron: Int
        public var k: Double
        /// The side on which the neuron is active: "right" (w_i > 0) or "left".
        public var activeSide: String
    }

    public struct Interval: Codable, Sendable {
        /// Bounds (nil: unbounded).
        public var lo: Double?
        public var hi: Double?
        /// Data points strictly inside (indices), in increasing x.
        public var points: [Int]
        /// Minimum-norm least-squares line y ≈ slope·x + intercept through those points (nil without points).
        public var slope: Double?
        public var intercept: Double?
        /// max_j |N(x_j) − (slope·x_j + intercept)| over the points.
        public var maxDeviation: Double?
        /// Whether the interval's affine functions (1_I and x·1_I on the data) lie in the span of the
        /// active sets' affine functions (neurons with c_i ≠ 0, and the constant if c_0 is a
        /// parameter). Only then does stationarity imply that the network equals the interval's
        /// regression line at its points (SPEC §5, "when the active sets generate the interval
        /// indicators"); meeting points and exit predictions use generated intervals only.
        public var generated: Bool = false

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(lo, forKey: .lo)
            try c.encode(hi, forKey: .hi)
            try c.encode(points, forKey: .points)
            try c.encode(slope, forKey: .slope)
            try c.encode(intercept, forKey: .intercept)
            try c.encode(maxDeviation, forKey: .maxDeviation)
            try c.encode(generated, forKey: .generated)
        }
    }

    public struct MeetingPoint: Codable, Sendable {
        /// The data points that separate the two intervals (left interval's last, right interval's first).
        public var between: [Int]
        /// Indices of the two intervals.
        public var intervals: [Int]
        /// Where the two regression lines meet (nil when they are parallel).
        public var k: Double?
        /// Whether k lies between the two separating points (identical lines count as feasible).
        public var feasible: Bool

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(between, forKey: .between)
            try c.encode(intervals, forKey: .intervals)
            try c.encode(k, forKey: .k)
            try c.encode(feasible, forKey: .feasible)
        }
    }

    public struct ExitPrediction: Codable, Sendable {
        /// The neuron whose knot separates the intervals of the infeasible meeting point.
        public var neuron: Int
        /// The data point it will cross.
        public var point: Int
        /// "left" or "right": the knot's direction of motion.
        public var direction: String
    }

    public var knots: [Knot]
    public var intervals: [Interval]
    public var meetingPoints: [MeetingPoint]
    public var exitPrediction: ExitPrediction?

    public init(knots: [Knot], intervals: [Interval], meetingPoints: [MeetingPoint], exitPrediction: ExitPrediction?) {
        self.knots = knots
        self.intervals = intervals
        self.meetingPoints = meetingPoints
        self.exitPrediction = exitPrediction
    }

    /// The reading of θ; `data` must be one-dimensional. Points within 1e-12 (relative) of a knot
    /// belong to no interval (they sit on the knot).
    /// - Throws: `NumericalError` when a least-squares solve fails.
    public init(network: ShallowNetwork, data: Dataset, theta: [Double]) throws {
        precondition(data.dimension == 1)
        let n = network.width, m = data.count
        knots = (0..<n).compactMap { i in
            let w = theta[network.wIndex(i, 0)], b = theta[network.bIndex(i)]
            guard w != 0 else { return nil }
            return Knot(neuron: i, k: -b / w, activeSide: w > 0 ? "right" : "left")
        }.sorted { $0.k < $1.k }
        func same(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(a), abs(b)) }
        var bounds: [Double] = []
        for knot in knots where bounds.last.map({ !same($0, knot.k) }) ?? true { bounds.append(knot.k) }
        let order = (0..<m).sorted { data.x[$0] < data.x[$1] }
        var intervals: [Interval] = []
        for a in 0...bounds.count {
            let lo: Double? = a == 0 ? nil : bounds[a - 1]
            let hi: Double? = a == bounds.count ? nil : bounds[a]
            let inside = order.filter { j in
                let x = data.x[j]
                if let lo, x <= lo || same(x, lo) { return false }
                if let hi, x >= hi || same(x, hi) { return false }
                return true
            }
            var interval = Interval(lo: lo, hi: hi, points: inside)
            if !inside.isEmpty {
                var X: [Double] = []
                for j in inside { X += [data.x[j], 1] }
                let fit = try LeastSquares.minimumNorm(X, rows: inside.count, cols: 2, inside.map { data.y[$0] })
                let slope = fit.coefficients[0], intercept = fit.coefficients[1]
                interval.slope = slope
                interval.intercept = intercept
                interval.maxDeviation = inside.map { j in
                    abs(network.output(theta, at: data.x[j...j]) - (slope * data.x[j] + intercept))
                }.max()
            }
            intervals.append(interval)
        }
        // Span of the active sets' affine functions on the data: columns 1_{S_i}, x·1_{S_i}. A point
        // is active when z = w x + b exceeds its rounding level 64 ε (|w x| + |b|), the level at
        // which the engine takes a pair to be on its surface (`ModeField.preactivationNoise`). A
        // point within it sits on the knot: a sliding pair, held at z = 0 by the flow and projected
        // there in every sample, whose computed z has either sign by rounding alone. It counts as
        // inactive, as σ'(0) = 0 and as the intervals above, which leave points on a knot out.
        var spanColumns: [[Double]] = []
        for i in 0..<n where theta[network.cIndex(i)] != 0 {
            let w = theta[network.wIndex(i, 0)], b = theta[network.bIndex(i)]
            let active = (0..<m).map { j in
                w * data.x[j] + b > 64 * Double.ulpOfOne * (abs(w * data.x[j]) + abs(b))
            }
            guard active.contains(true) else { continue }
            spanColumns.append(active.map { $0 ? 1 : 0 })
            spanColumns.append((0..<m).map { active[$0] ? data.x[$0] : 0 })
        }
        if network.outputBias { spanColumns.append([Double](repeating: 1, count: m)) }
        var span = [Double](repeating: 0, count: m * spanColumns.count)
        for j in 0..<m { for (c, column) in spanColumns.enumerated() { span[j * spanColumns.count + c] = column[j] } }
        func inSpan(_ v: [Double]) throws -> Bool {
            let norm2 = v.reduce(0) { $0 + $1 * $1 }
            guard norm2 > 0 else { return true }
            guard !spanColumns.isEmpty else { return false }
            let fit = try LeastSquares.minimumNorm(span, rows: m, cols: spanColumns.count, v, rcond: 1e-10)
            return fit.residualSumOfSquares <= 1e-16 * norm2
        }
        for a in intervals.indices where !intervals[a].points.isEmpty {
            let members = Set(intervals[a].points)
            intervals[a].generated = try inSpan((0..<m).map { members.contains($0) ? 1 : 0 })
                && inSpan((0..<m).map { members.contains($0) ? data.x[$0] : 0 })
        }
        self.intervals = intervals
        var meetings: [MeetingPoint] = []
        var worst: (violation: Double, prediction: ExitPrediction)? = nil
        // Meeting points need a unique regression line on both sides (two distinct x at least: the
        // minimum-norm line through one point depends on where x = 0 is), and a boundary that is
        // not resting on a data point (such a knot slides there; its exit is α reaching 0 or 1,
        // which the lines of the points beside it do not decide).
        func determined(_ interval: Interval) -> Bool { Set(interval.points.map { data.x[$0] }).count >= 2 }
        for a in 0..<max(intervals.count - 1, 0) {
            let left = intervals[a], right = intervals[a + 1]
            guard left.generated, right.generated, determined(left), determined(right),
                  let s1 = left.slope, let b1 = left.intercept, let s2 = right.slope, let b2 = right.intercept,
                  let jL = left.points.last, let jR = right.points.first else { continue }
            if let boundary = left.hi, (0..<m).contains(where: { same(data.x[$0], boundary) }) { continue }
            let xL = data.x[jL], xR = data.x[jR]
            var k: Double? = nil
            var feasible: Bool
            if s1 != s2 {
                let meet = (b2 - b1) / (s1 - s2)
                k = meet
                let slack = 1e-12 * max(1, abs(xL), abs(xR))
                feasible = meet >= xL - slack && meet <= xR + slack
            } else {
                feasible = b1 == b2
            }
            meetings.append(MeetingPoint(between: [jL, jR], intervals: [a, a + 1], k: k, feasible: feasible))
            // Coincident knots (duplicate neurons) are one knot: name the lowest neuron, whatever
            // rounding does to their order.
            guard !feasible, let boundary = left.hi,
                  let knot = knots.filter({ same($0.k, boundary) }).min(by: { $0.neuron < $1.neuron }) else { continue }
            // Distance of k* outside the gap, in units of the gap; parallel distinct lines: infinitely far.
            let gap = max(xR - xL, .leastNormalMagnitude)
            let violation = k.map { max(xL - $0, $0 - xR) / gap } ?? .infinity
            let towardLeft = k.map { $0 < xL } ?? (b2 - b1 < 0)
            let prediction = ExitPrediction(neuron: knot.neuron, point: towardLeft ? jL : jR, direction: towardLeft ? "left" : "right")
            if worst == nil || violation > worst!.violation { worst = (violation, prediction) }
        }
        meetingPoints = meetings
        exitPrediction = worst?.prediction
    }
}
