import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow curvature`: the gradient and the Hessian's spectrum of one network at its θ
/// (`curvature.json`), or the same statistics over a grid of random networks (`curvature.csv`,
/// `summary.csv`, spectra, figures). SPEC §8.
struct CurvatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curvature",
        abstract: "Gradient norms per layer and the exact Hessian spectrum of a network at θ, or over a depth × width grid (SPEC §8).",
        discussion: """
            With --config: the config's network (deep, or shallow as L = 2 with biases) at its θ(0) on its data → \
            curvature.json (loss, |∇L| in total and per layer, every Hessian eigenvalue, λ_max, λ_min, the exact \
            trace, the share of negative eigenvalues). With --depths/--widths/--seeds: random networks of every \
            depth L (weight matrices) and hidden width, one per seed, on the data of --config or of --target \
            (default sin(pi*x), m = 64 points on [-1, 1]) → curvature.csv, summary.csv, spectrum_L*_n*.npy, figures. \
            Derivatives are exact inside θ's mode (σ'(0) = 0): back-propagation, forward-over-reverse Hessian \
            products; the full spectrum by LAPACK dsyevd (OpenBLAS) up to --full-spectrum-limit parameters, \
            beyond it λ_max and λ_min by Lanczos on exact products (the trace stays exact). Exit status: 0 \
            success, 1 an eigensolver failed, 2 bad input, 3 a file could not be written.
            """)

    @Option(help: "Config file (JSON, see INTERFACE.md): the network and data (with --depths: the data only).")
    var config: String?

    @Option(help: "Output folder (default runs/<config name>-curvature or runs/curvature-grid).")
    var out: String?

    @Option(help: "Spectrum: \(SpectrumMode.names) (auto: full up to --full-spectrum-limit parameters, Lanczos beyond).")
    var spectrum: String = "auto"

    @Option(parsing: .unconditional, help: "Largest parameter count whose full spectrum `auto` computes (default 4000).")
    var fullSpectrumLimit: WholeNumber?

    @Option(help: "Symmetric eigensolver of the full spectrum: \(SymmetricEigensolver.names) (default \(SymmetricEigensolver.standard.rawValue)).")
    var eigensolver: String?

    @Option(help: "Grid: depths L (number of weight matrices, ≥ 2), comma-separated, e.g. 2,4,8,16,32.")
    var depths: String?

    @Option(help: "Grid: hidden widths, comma-separated, e.g. 1,2,4,8,16,32,64.")
    var widths: String?

    @Option(parsing: .unconditional, help: "Grid: random networks (seeds 0 … K−1) per depth and width.")
    var seeds: WholeNumber?

    @Option(help: "Grid: initialisation he | xavier (default he).")
    var initScheme: String = "he"

    @Option(help: "Grid: hidden activation relu | linear (default relu).")
    var activation: String = "relu"

    @Flag(help: "Grid: hidden-layer biases (zero at initialisation).")
    var bias = false

    @Option(help: "Grid: target function of the default data (default sin(pi*x)).")
    var target: String?

    @Option(parsing: .unconditional, help: "Grid: number of points of the target (default 64).")
    var points: WholeNumber?

    @Option(help: "Grid: cells (L:n, comma-separated) whose spectra are drawn as histograms (default: up to four corners).")
    var histograms: String?

    @Flag(help: "Allow a full spectrum beyond half of the physical memory.")
    var allowLarge = false

    @Flag(help: "No progress bar.")
    var quiet = false

    func options() throws -> CurvatureOptions {
        var o = CurvatureOptions()
        guard let mode = SpectrumMode(rawValue: spectrum) else {
            throw InputError("--spectrum", "unknown mode '\(spectrum)' (known: \(SpectrumMode.names))")
        }
        o.spectrum = mode
        if let fullSpectrumLimit {
            guard fullSpectrumLimit.value >= 1 else { throw InputError("--full-spectrum-limit", "must be at least 1 (got \(fullSpectrumLimit.value))") }
            o.fullSpectrumLimit = fullSpectrumLimit.value
        }
        if let eigensolver {
            guard let solver = SymmetricEigensolver(rawValue: eigensolver) else {
                throw InputError("--eigensolver", "unknown eigensolver '\(eigensolver)' (known: \(SymmetricEigensolver.names))")
            }
            o.eigensolver = solver
        }
        if allowLarge { o.memoryLimit = nil }
        return o
    }

    func run() throws {
        let options = try options()
        if depths != nil || widths != nil || seeds != nil {
            throw InputError("--depths", "the grid is not built yet")
        }
        guard let config else {
            throw InputError("--config", "give a config (one network) or --depths, --widths and --seeds (a grid)")
        }
        let runConfig = try RunConfig.load(path: config)
        let (problem, resolved) = try runConfig.resolve(limits: allowLarge ? nil : .standard())
        let network = CurvatureReport.deepNetwork(of: problem.model)
        let name = ((config as NSString).lastPathComponent as NSString).deletingPathExtension
        let outPath = out ?? "runs/\(name)-curvature"
        try RunFolder.checkOutputPath(outPath)
        try RunFolder.checkDestination(outPath)
        let report = try CurvatureReport.compute(network: network, data: problem.data, theta: problem.theta0, options: options)
        var written = resolved
        written.train = nil
        try RunFolder.writeOutput([("curvature.json", try report.jsonData()), ("config.json", try written.encoded())],
                                  to: outPath, kind: "curvature")
        func e(_ v: Double) -> String { String(format: "%.6g", v) }
        var line = "\(outPath): P = \(report.parameters), loss \(e(report.loss)), |∇L| \(e(report.gradNorm)) "
            + "(per layer \(report.layerGradNorms.map(e).joined(separator: ", "))), λ_max \(e(report.lambdaMax)), λ_min \(e(report.lambdaMin)), "
            + "trace \(e(report.trace))"
        if let f = report.negativeFraction { line += ", negative fraction \(e(f))" }
        line += report.spectrum == "full" ? " (full spectrum, \(report.eigensolver ?? ""))"
            : " (Lanczos, \(report.lanczos?.iterations ?? 0) iterations, residuals ≤ \(e(max(report.lanczos?.lambdaMaxResidual ?? .nan, report.lanczos?.lambdaMinResidual ?? .nan))))"
        print(line)
    }
}
