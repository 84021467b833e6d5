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
    /// Ascending; every eigenvalue when computed in full, nil with Lanczos.
    public var hessianEigenvalues: [Double]?
    public var lambdaMax: Double
    public var lambdaMin: Double
    /// Exact: the sum of the diagonal (Σ_j |∂N_j/∂θ|²/m, see `DeepHessian.trace`).
    public var trace: Double
    /// Share of eigenvalues below −`negativeThreshold` (full spectrum only; nil with Lanczos).
    public var negativeFraction: Double?
    /// The rounding level of the computed eigenvalues, P·ε·max|λ| (Weyl's bound for a backward
    /// stable solver, up to a modest constant): eigenvalues within it of 0 are zero to rounding
    /// and not counted as negative.
    public var negativeThreshold: Double?
    /// `full` or `lanczos`.
    public var spectrum: String
    /// The symmetric eigensolver of a full spectrum (dsyevd, dsyevr, gsl).
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
    public var hessianSeconds: Double
    public var eigenSeconds: Double

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
        var report = CurvatureReport(
            parameters: P, loss: hessian.loss, gradNorm: gradNorm, layerGradNorms: hessian.layerGradientNorms,
            hessianEigenvalues: nil, lambdaMax: .nan, lambdaMin: .nan, trace: hessian.trace, negativeFraction: nil,
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
            let lanczos = try LanczosExtremes.run(dimension: P, seed: options.seed, tolerance: options.lanczosTolerance,
                                                  maxIterations: options.lanczosMaxIterations, product: hessian.product)
            report.hessianSeconds = 0
            report.eigenSeconds = seconds(since: started)
            report.lanczos = lanczos
            report.lambdaMax = lanczos.lambdaMax
            report.lambdaMin = lanczos.lambdaMin
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
