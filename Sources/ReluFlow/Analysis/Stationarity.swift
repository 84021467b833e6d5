/// Stationarity report of SPEC §5 for one state θ (INTERFACE.md `stationarity.json`).
public struct StationarityReport: Codable, Sendable {
    public struct Neuron: Codable, Sendable {
        public var c: Double
        /// Points with z_ij > 0.
        public var activeCount: Int
        /// Points held on the neuron's surfaces (z_ij = 0 within rounding).
        public var slidingCount: Int
        /// Σ_{j on} r_j (x_j, 1): zero at a stationary point when c_i ≠ 0.
        public var momentOn: [Double]
        /// Σ_j r_j σ(z_ij): zero at a stationary point.
        public var momentOut: Double
    }

    public var t: Double
    public var loss: Double
    /// |∇L|, the Filippov (minimum-norm, sliding pairs projected) gradient of SPEC §4.
    public var gradNorm: Double
    /// L*_P of the state's pattern (SPEC §5).
    public var patternFloor: Double
    /// loss − patternFloor.
    public var gap: Double
    /// gradNorm ≤ `gradientTolerance` and every sliding α in [0, 1].
    public var stationary: Bool
    public var gradientTolerance: Double
    public var neurons: [Neuron]
    /// The 1-D reading (d = 1 only).
    public var oneDimensional: KnotReading?

    enum CodingKeys: String, CodingKey {
        case t, loss, gradNorm, patternFloor, gap, stationary, gradientTolerance, neurons
        case knots, intervals, meetingPoints, exitPrediction
    }

    public init(t: Double, loss: Double, gradNorm: Double, patternFloor: Double, stationary: Bool, gradientTolerance: Double,
                neurons: [Neuron], oneDimensional: KnotReading?) {
        self.t = t
        self.loss = loss
        self.gradNorm = gradNorm
        self.patternFloor = patternFloor
        gap = loss - patternFloor
        self.stationary = stationary
        self.gradientTolerance = gradientTolerance
        self.neurons = neurons
        self.oneDimensional = oneDimensional
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        t = try c.decode(Double.self, forKey: .t)
        loss = try c.decode(Double.self, forKey: .loss)
        gradNorm = try c.decode(Double.self, forKey: .gradNorm)
        patternFloor = try c.decode(Double.self, forKey: .patternFloor)
        gap = try c.decode(Double.self, forKey: .gap)
        stationary = try c.decode(Bool.self, forKey: .stationary)
        gradientTolerance = try c.decode(Double.self, forKey: .gradientTolerance)
        neurons = try c.decode([Neuron].self, forKey: .neurons)
        if let knots = try c.decodeIfPresent([KnotReading.Knot].self, forKey: .knots) {
            oneDimensional = KnotReading(
                knots: knots, intervals: try c.decode([KnotReading.Interval].self, forKey: .intervals),
                meetingPoints: try c.decode([KnotReading.MeetingPoint].self, forKey: .meetingPoints),
                exitPrediction: try c.decodeIfPresent(KnotReading.ExitPrediction.self, forKey: .exitPrediction))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(t, forKey: .t)
        try c.encode(loss, forKey: .loss)
        try c.encode(gradNorm, forKey: .gradNorm)
        try c.encode(patternFloor, forKey: .patternFloor)
        try c.encode(gap, forKey: .gap)
        try c.encode(stationary, forKey: .stationary)
        try c.encode(gradientTolerance, forKey: .gradientTolerance)
        try c.encode(neurons, forKey: .neurons)
        if let reading = oneDimensional {
            try c.encode(reading.knots, forKey: .knots)
            try c.encode(reading.intervals, forKey: .intervals)
            try c.encode(reading.meetingPoints, forKey: .meetingPoints)
            if let exit = reading.exitPrediction { try c.encode(exit, forKey: .exitPrediction) } else { try c.encodeNil(forKey: .exitPrediction) }
        }
    }
}

public enum Stationarity {
    /// The report for state θ at time t. The pattern is read off θ: a pair is sliding when
    /// |z_ij| is within 64 ulps of its scale |b_i| + Σ_k |w_ik x_jk| (the flow keeps sliding pairs
    /// there), on when z_ij is above that, off below.
    /// - Throws: `NumericalError` when the floor or a regression line cannot be computed.
    public static func report(network: ShallowNetwork, data: Dataset, theta: [Double], t: Double,
                              gradientTolerance: Double = 1e-6) throws -> StationarityReport {
        let n = network.width, m = data.count, d = data.dimension
        precondition(theta.count == network.parameterCount)
        let r = network.residuals(theta, data: data)
        let loss = r.reduce(0) { $0 + $1 * $1 } / (2 * Double(m))
        var states = [PairState](repeating: .off, count: n * m)
        var z = [Double](repeating: 0, count: n * m)
        for i in 0..<n {
            for j in 0..<m {
                let x = data.x[(j * d)..<((j + 1) * d)]
                let zij = network.preactivation(theta, neuron: i, point: x)
                z[i * m + j] = zij
                var scale = abs(theta[network.bIndex(i)])
                for (k, xk) in x.enumerated() { scale += abs(theta[network.wIndex(i, k)] * xk) }
                states[i * m + j] = abs(zij) <= 64 * Double.ulpOfOne * scale ? .sliding : (zij > 0 ? .on : .off)
            }
        }
        // Filippov gradient: the mode-locked field with sliding pairs projected (SPEC §4).
        let field = ModeField(network: network, data: data)
        let groupStates = data.perGroup(states, width: n)
        field.setMode(groupStates)
        var y = theta + [0]
        var f = [Double](repeating: 0, count: theta.count + 1)
        let evaluation = field.evaluation(at: &y, into: &f)
        let gradNorm = f[theta.count].squareRoot()
        var alphasAdmissible = true
        for k in 0..<(n * data.groupCount) where groupStates[k] == .sliding {
            let a = evaluation.alpha(k)
            if a.isFinite && (a < -1e-9 || a > 1 + 1e-9) { alphasAdmissible = false }
        }
        if let failure = field.numericalFailure { throw failure }
        var neurons: [StationarityReport.Neuron] = []
        for i in 0..<n {
            var momentOn = [Double](repeating: 0, count: d + 1)
            var momentOut = 0.0, active = 0, sliding = 0
            for j in 0..<m {
                switch states[i * m + j] {
                case .on:
                    active += 1
                    for k in 0..<d { momentOn[k] += r[j] * data.x[j * d + k] }
                    momentOn[d] += r[j]
                    momentOut += r[j] * z[i * m + j]
                case .sliding: sliding += 1
                case .off: break
                }
            }
            neurons.append(.init(c: theta[network.cIndex(i)], activeCount: active, slidingCount: sliding,
                                 momentOn: momentOn, momentOut: momentOut))
        }
        let floor = try PatternFloor.value(network: network, data: data, active: states.map { $0 == .on })
        var reading = d == 1 ? try KnotReading(network: network, data: data, theta: theta) : nil
        let stationary = gradNorm <= gradientTolerance && alphasAdmissible
        // A stationary state does not move: no exit to predict, whatever its meeting points say.
        if stationary { reading?.exitPrediction = nil }
        return StationarityReport(t: t, loss: loss, gradNorm: gradNorm, patternFloor: floor,
                                  stationary: stationary,
                                  gradientTolerance: gradientTolerance, neurons: neurons, oneDimensional: reading)
    }
}
