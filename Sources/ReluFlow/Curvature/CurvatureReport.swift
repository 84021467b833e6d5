import Foundation

/// How the Hessian's spectrum is computed.
public enum SpectrumMode: String, Sendable, CaseIterable, Codable {
    /// Full spectrum up to `CurvatureOptions.fullSpectrumLimit` parameters, Lanczos beyond.
    case auto
    /// Every eigenvalue (refused when the P × P matrix would not fit the memory limit).
    case full
    /// λ_max and λ_min by Lanczos on exact Hessian–vector products.
    case lanczos
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Options of a curvature computation (`reluflow curvature`).
public struct CurvatureOptions: Sendable, Equatable {
    public var spectrum: SpectrumMode = .auto
    /// Largest P for which `auto` forms the Hessian and computes every eigenvalue (the issue asks
    /// for at least 4 000; the matrix then takes 128 MB and dsyevd 6–14 s on this loaded machine, single-threaded).
    public var fullSpectrumLimit = 4000
    public var eigensolver: SymmetricEigensolver = .standard
    public var lanczosTolerance = 1e-10
    public var lanczosMaxIterations = 400
    public var seed: UInt64 = 0
    /// Memory the full spectrum may take (bytes), nil: no limit.
    public var memoryLimit: Double? = ResourceLimits.standard().memory
    public init() {}
}

/// `curvature.json` (INTERFACE.md): the gradient and Hessian of a network's loss at θ (SPEC §8),
/// inside θ's mode (σ'(0) = 0), computed exactly.
public struct CurvatureReport: Codable, Sendable, Equatable {
    public var parameters: Int
    public var loss: Double
    public var gradNorm: Double
    /// |∇L| per layer, W_l and b_l together (c_0 with the output layer), l = 1 … L.
    public var layerGradNorms: [Double]
    /// Ascending; every eigenvalue when computed in full, null with Lanczos (written as null, with
    /// `hessianEigenvaluesNote` saying why; what Lanczos knows is in `ritzValues`).
    public var hessianEigenvalues: [Double]?
    /// Why `hessianEigenvalues` is null; absent when it holds the full spectrum.
    public var hessianEigenvaluesNote: String? = nil
    /// Lanczos only: the extreme Ritz values whose residual bound met the tolerance (ascending), each
    /// within `residualBound` of an eigenvalue of H (for a symmetric H and a unit Ritz vector x,
    /// |Hx − θx| ≤ r puts an eigenvalue in [θ − r, θ + r]); every Ritz value lies in [λ_min, λ_max],
    /// so the Ritz λ_min bounds the true λ_min from above and the Ritz λ_max bounds λ_max from below.
    /// Absent with the full spectrum.
    public var ritzValues: [RitzValue]? = nil
    public var lambdaMax: Double
    public var lambdaMin: Double
    /// Exact: the sum of the diagonal (Σ_j |∂N_j/∂θ|²/m, see `DeepHessian.trace`).
    public var trace: Double
    /// Share of eigenvalues below −`negativeThreshold` (full spectrum only; null with Lanczos, with
    /// `negativeFractionNote` saying why).
    public var negativeFraction: Double?
    /// Why `negativeFraction` is null; absent when it is computed.
    public var negativeFractionNote: String? = nil
    /// The rounding level of the computed eigenvalues, P·ε·max|λ| (Weyl's bound for a backward
    /// stable solver, up to a modest constant): eigenvalues within it of 0 are zero to rounding
    /// and not counted as negative. With Lanczos the same level of its two ends: a λ_min below
    /// −negativeThreshold is a negative eigenvalue, not rounding.
    public var negativeThreshold: Double?
    /// `full` or `lanczos`.
    public var spectrum: String
    /// What produced the eigenvalues: the symmetric eigensolver of a full spectrum (dsyevd,
    /// dsyevr, gsl), or `lanczos` (Lanczos on exact Hessian–vector products, the two ends only).
    public var eigensolver: String?
    /// Lanczos's iterations and residual bounds (each end lies within its bound of an eigenvalue).
    public var lanczos: LanczosExtremes?
    public var traceMethod = "exact (diagonal: Σ_j |∂N_j/∂θ|² / m)"
    /// Whether N is the same on every data point ("dead" network).
    public var outputConstant: Bool
    public var layers: [Int]
    public var activation: String
    public var hiddenBias: Bool
    public var outputBias: Bool
    /// Seconds to set up the Hessian at θ (the forward and backward passes, gradient, exact trace)
    /// and, for a full spectrum, to form the P × P matrix; Lanczos forms no matrix, so there it is
    /// the set-up alone, and the products are in `eigenSeconds`.
    public var hessianSeconds: Double
    /// Seconds of the eigensolver (full spectrum) or of Lanczos with its Hessian–vector products.
    public var eigenSeconds: Double

    /// One Ritz value of Lanczos and its residual bound.
    public struct RitzValue: Codable, Sendable, Equatable {
        public var value: Double
        public var residualBound: Double
    }

    enum CodingKeys: String, CodingKey {
        case parameters, loss, gradNorm, layerGradNorms, hessianEigenvalues, hessianEigenvaluesNote, ritzValues, lambdaMax,
             lambdaMin, trace, negativeFraction, negativeFractionNote, negativeThreshold, spectrum, eigensolver, lanczos,
             traceMethod, outputConstant, layers, activation, hiddenBias, outputBias, hessianSeconds, eigenSeconds
    }

    /// As the synthesized encoding, except that `hessianEigenvalues` and `negativeFraction` are
    /// always written (null when not computed, beside the note saying why), not left out.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(loss, forKey: .loss)
        try c.encode(gradNorm, forKey: .gradNorm)
        try c.encode(layerGradNorms, forKey: .layerGradNorms)
        try c.encode(hessianEigenvalues, forKey: .hessianEigenvalues)
        try c.encodeIfPresent(hessianEigenvaluesNote, forKey: .hessianEigenvaluesNote)
        try c.encodeIfPresent(ritzValues, forKey: .ritzValues)
        try c.encode(lambdaMax, forKey: .lambdaMax)
        try c.encode(lambdaMin, forKey: .lambdaMin)
        try c.encode(trace, forKey: .trace)
        try c.encode(negativeFraction, forKey: .negativeFraction)
        try c.encodeIfPresent(negativeFractionNote, forKey: .negativeFractionNote)
        try c.encodeIfPresent(negativeThreshold, forKey: .negativeThreshold)
        try c.encode(spectrum, forKey: .spectrum)
        try c.encodeIfPresent(eigensolver, forKey: .eigensolver)
        try c.encodeIfPresent(lanczos, forKey: .lanczos)
        try c.encode(traceMethod, forKey: .traceMethod)
        try c.encode(outputConstant, forKey: .outputConstant)
        try c.encode(layers, forKey: .layers)
        try c.encode(activation, forKey: .activation)
        try c.encode(hiddenBias, forKey: .hiddenBias)
        try c.encode(outputBias, forKey: .outputBias)
        try c.encode(hessianSeconds, forKey: .hessianSeconds)
        try c.encode(eigenSeconds, forKey: .eigenSeconds)
    }

    /// curvature.json's bytes (sorted keys; non-finite numbers as null).
    public func jsonData() throws -> Data { try JSONOutput.encode(self).data }

    /// The memory the full spectrum takes: the P × P matrix (8P² bytes) and dsyevd's workspace (≈ 2P).
    public static func fullSpectrumBytes(parameters P: Int) -> Double { 8 * Double(P) * Double(P) + 64 * Double(P) }

    /// Computes the report for `network` at θ on `data`.
    public static func compute(network: DeepNetwork, data: Dataset, theta: [Double], options: CurvatureOptions = CurvatureOptions(),
                               field: String = "--spectrum") throws -> CurvatureReport {
        let P = network.parameterCount
        let full: Bool
        switch options.spectrum {
        case .auto: full = P <= options.fullSpectrumLimit
        case .lanczos: full = false
        case .full: full = true
        }
        if full, let limit = options.memoryLimit {
            let need = fullSpectrumBytes(parameters: P)
            if need > limit {
                throw InputError(field, "a full spectrum of P = \(P) parameters needs about \(ResourceEstimate.text(need)) for the Hessian, "
                                 + "more than the limit of \(ResourceEstimate.text(limit)); use --spectrum lanczos (λ_max, λ_min and the exact trace) or --allow-large")
            }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
        let hessian = DeepHessian(network: network, data: data, theta: theta)
        let gradNorm = hessian.gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let trace = hessian.trace
        let setUp = seconds(since: started)
        var report = CurvatureReport(
            parameters: P, loss: hessian.loss, gradNorm: gradNorm, layerGradNorms: hessian.layerGradientNorms,
            hessianEigenvalues: nil, lambdaMax: .nan, lambdaMin: .nan, trace: trace, negativeFraction: nil,
            negativeThreshold: nil, spectrum: full ? "full" : "lanczos", eigensolver: nil, lanczos: nil,
            outputConstant: hessian.outputIsConstant, layers: network.layers, activation: network.activation.rawValue,
            hiddenBias: network.hiddenBias, outputBias: network.outputBias, hessianSeconds: 0, eigenSeconds: 0)
        if full {
            var H = hessian.matrix()
            report.hessianSeconds = seconds(since: started)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let values = try options.eigensolver.eigenvalues(&H, n: P)
            report.eigenSeconds = seconds(since: t1)
            report.eigensolver = options.eigensolver.rawValue
            report.hessianEigenvalues = values
            report.lambdaMin = values.first ?? 0
            report.lambdaMax = values.last ?? 0
            let scale = max(abs(report.lambdaMin), abs(report.lambdaMax))
            let threshold = Double(P) * Double.ulpOfOne * scale
            report.negativeThreshold = threshold
            report.negativeFraction = Double(values.filter { $0 < -threshold }.count) / Double(P)
        } else {
            let t1 = DispatchTime.now().uptimeNanoseconds
            let lanczos = try LanczosExtremes.run(dimension: P, seed: options.seed, tolerance: options.lanczosTolerance,
                                                  maxIterations: options.lanczosMaxIterations, product: hessian.product)
            report.hessianSeconds = setUp
            report.eigenSeconds = seconds(since: t1)
            report.eigensolver = "lanczos"
            report.lanczos = lanczos
            report.lambdaMax = lanczos.lambdaMax
            report.lambdaMin = lanczos.lambdaMin
            // The rounding level of the ends, as for the full spectrum (P·ε·max|λ|).
            report.negativeThreshold = Double(P) * Double.ulpOfOne * max(abs(lanczos.lambdaMin), abs(lanczos.lambdaMax))
            // What Lanczos knows: the ends whose residual bound met the tolerance (LanczosExtremes'
            // test, relative to the larger end), one value when the two coincide (P = 1).
            let scale = max(abs(lanczos.lambdaMin), abs(lanczos.lambdaMax), .leastNormalMagnitude)
            var ritz: [RitzValue] = []
            if lanczos.lambdaMinResidual <= options.lanczosTolerance * scale || lanczos.converged {
                ritz.append(RitzValue(value: lanczos.lambdaMin, residualBound: lanczos.lambdaMinResidual))
            }
            if (lanczos.lambdaMaxResidual <= options.lanczosTolerance * scale || lanczos.converged) && !(P == 1 && !ritz.isEmpty) {
                ritz.append(RitzValue(value: lanczos.lambdaMax, residualBound: lanczos.lambdaMaxResidual))
            }
            report.ritzValues = ritz
            let why = options.spectrum == .lanczos ? "--spectrum lanczos" : "P = \(P) > \(options.fullSpectrumLimit)"
            report.hessianEigenvaluesNote = "not computed: Lanczos (\(why)) finds the "
                + "extreme eigenvalues only (ritzValues, with residual bounds); --spectrum full computes them all"
            report.negativeFractionNote = "not computed: the share of negative eigenvalues needs the full spectrum (--spectrum full); "
                + "Lanczos bounds λ_min from above only"
        }
        return report
    }

    /// The deep network of a problem: a deep one as it is, the shallow one as L = 2 with biases
    /// (the same θ).
    public static func deepNetwork(of model: any NetworkModel) -> DeepNetwork {
        if let deep = model as? DeepNetwork { return deep }
        if let shallow = model as? ShallowNetwork { return DeepNetwork(shallow: shallow) }
        preconditionFailure("unknown network model \(type(of: model))")
    }

    /// The spectral radius ρ_H of the Hessian at θ (Lanczos; exact when P is small): gd's default
    /// η and the plateau test of SPEC §6 for deep networks.
    public static func spectralRadius(network: DeepNetwork, data: Dataset, theta: [Double]) throws -> Double {
        let hessian = DeepHessian(network: network, data: data, theta: theta)
        let extremes = try LanczosExtremes.run(dimension: network.parameterCount, tolerance: 1e-8, maxIterations: 200, product: hessian.product)
        return max(abs(extremes.lambdaMax), abs(extremes.lambdaMin))
    }
}
