import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow curvature`: the gradient and the Hessian's spectrum of one network at its θ
/// (`curvature.json`), or the same statistics over a grid of random networks (`curvature.csv`,
/// `summary.csv`, spectra, figures). SPEC §8.
struct CurvatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curvature",
        _superCommandName: ReluflowCommand.name,   // parsed as a root of its own: ReluflowCommand.parseSubcommandDirectly
        abstract: "Gradient norms per layer and the exact Hessian spectrum of a network at θ, or over a depth × width grid (SPEC §8).",
        discussion: """
            With --config (or --example, a built-in one): the config's network (deep, or shallow as L = 2 with biases) at its θ(0) on its data → \
            curvature.json (loss, |∇L| in total and per layer, every Hessian eigenvalue, λ_max, λ_min, the exact \
            trace, the share of negative eigenvalues). With --depths/--widths/--seeds: random networks of every \
            depth L (weight matrices) and hidden width, one per seed, on the data of --config (or --example) or of --target \
            (default sin(pi*x), m = 64 points on [-1, 1]) → curvature.csv, summary.csv, spectrum_L*_n*.npy, figures. \
            Derivatives are exact inside θ's mode (σ'(0) = 0): back-propagation, forward-over-reverse Hessian \
            products; the full spectrum by LAPACK dsyevd (OpenBLAS) up to --full-spectrum-limit parameters, \
            beyond it λ_max and λ_min by Lanczos on exact products (the trace stays exact). Exit status: 0 \
            success, 1 an eigensolver failed, 2 bad input, 3 a file could not be written.
            """)

    @Option(help: "Config file (JSON, see INTERFACE.md): the network and data (with --depths: the data only).")
    var config: String?

    @Option(help: "Built-in example (see `reluflow examples`) instead of --config: its network at θ(0) and its data (with --depths: the data only).")
    var example: String?

    @Option(help: "Output folder (default runs/<config or example name>-curvature or runs/curvature-grid).")
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

    @Option(name: [.customLong("init"), .customLong("init-scheme")], help: "Grid: initialisation he | xavier (default he; --init-scheme as for simulate).")
    var initScheme: String?

    @Option(help: "Grid: hidden activation relu | linear (default relu).")
    var activation: String?

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
        var options = try options()
        if depths != nil || widths != nil || seeds != nil { return try runGrid(options) }
        guard config != nil || example != nil else {
            throw InputError("--config", "give a config or --example (one network), or --depths, --widths and --seeds (a grid)")
        }
        // The grid's options describe the random networks and data of a grid; with one network
        // the config says all of that, so they would be ignored: refuse them instead.
        for (given, option) in [(bias, "--bias"), (target != nil, "--target"), (points != nil, "--points"), (histograms != nil, "--histograms"),
                                (initScheme != nil, "--init"), (activation != nil, "--activation")] where given {
            throw InputError(option, "is an option of a grid (with --depths, --widths and --seeds); for one network set it in the config (`reluflow examples --json NAME` prints an example's)")
        }
        let (runConfig, name) = try loadProblem(config: config, example: example)
        // Lanczos starts from a random vector drawn from the network's init seed, as the grid mode
        // does for its seed-s networks: a sweep of `curvature` runs then computes exactly the grid's
        // numbers (Benchmarks/vanishing_table.py --compare).
        options.seed = runConfig.network.deepInitialization?.seed ?? runConfig.network.initialization?.seed ?? 0
        // No run-folder estimate (nothing but curvature.json is written); the full spectrum's memory
        // is checked by CurvatureReport against the same limit.
        let (problem, resolved) = try runConfig.resolve()
        let network = CurvatureReport.deepNetwork(of: problem.model)
        let outPath = out ?? "runs/\(name)-curvature"
        try RunFolder.checkOutputPath(outPath)
        try RunFolder.checkDestination(outPath, kind: "curvature")
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

    /// A comma-separated list of whole numbers ≥ `minimum`.
    func list(_ text: String?, _ option: String, minimum: Int) throws -> [Int] {
        guard let text else { throw InputError(option, "is required for a grid (with --depths, --widths and --seeds)") }
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var seen = Set<String>()
        for item in values where !seen.insert(item).inserted {
            throw InputError(option, "\(item) is given twice (each value once)")
        }
        return try values.map { item in
            guard let v = Int(item) else { throw InputError(option, "'\(item)' is not a whole number (give a comma-separated list, e.g. 2,4,8)") }
            guard v >= minimum else { throw InputError(option, "\(v) is below \(minimum)") }
            guard v <= 4096 else { throw InputError(option, "\(v) is too large (at most 4096)") }
            return v
        }
    }

    func runGrid(_ options: CurvatureOptions) throws {
        let depthList = try list(depths, "--depths", minimum: 2), widthList = try list(widths, "--widths", minimum: 1)
        guard let seeds else { throw InputError("--seeds", "is required for a grid (with --depths, --widths and --seeds)") }
        guard seeds.value >= 1, seeds.value <= 10_000 else { throw InputError("--seeds", "must lie in 1…10000 (got \(seeds.value))") }
        let initScheme = self.initScheme ?? "he", activation = self.activation ?? "relu"
        guard let scheme = DeepInitSpec.Scheme(rawValue: initScheme), scheme != .normal else {
            throw InputError("--init", "must be he or xavier (got '\(initScheme)')")
        }
        guard let act = HiddenActivation(rawValue: activation) else {
            throw InputError("--activation", "unknown activation '\(activation)' (known: \(HiddenActivation.names))")
        }
        if (config != nil || example != nil) && (target != nil || points != nil) {
            throw InputError("--target", "give the data either by --config (or --example) or by --target/--points, not both")
        }
        let data: Dataset
        var origin = ""
        if config != nil || example != nil {
            let (runConfig, name) = try loadProblem(config: config, example: example)
            let (problem, _) = try runConfig.resolve()
            data = problem.data
            origin = config.map { "the data of \($0)" } ?? "the data of the example \(name)"
        } else {
            let m = points?.value ?? 64
            guard m >= 1, m <= 1_000_000 else { throw InputError("--points", "must lie in 1…1000000 (got \(m))") }
            let function = target ?? "sin(pi*x)"
            let resolved = try RunConfig(data: DataConfig(target: TargetConfig(function: function, m: m))).resolve()
            data = resolved.problem.data
            origin = "\(function) at \(m) points on [-1, 1]"
        }
        var spec = CurvatureGridSpec(depths: depthList, widths: widthList, seeds: seeds.value, data: data)
        spec.scheme = scheme
        spec.activation = act
        spec.hiddenBias = bias
        spec.options = options
        // The full spectrum of the largest cell must fit (unless Lanczos is asked for or automatic there).
        var cells: [(Int, Int)] = []
        if let histograms {
            for item in histograms.split(separator: ",") {
                let parts = item.split(separator: ":").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 2, depthList.contains(parts[0]), widthList.contains(parts[1]) else {
                    throw InputError("--histograms", "'\(item)' is not a cell L:n of the grid (depths \(depths ?? ""), widths \(widths ?? ""))")
                }
                cells.append((parts[0], parts[1]))
            }
        }
        let outPath = out ?? "runs/curvature-grid"
        try RunFolder.checkOutputPath(outPath)
        try RunFolder.checkDestination(outPath, kind: "curvature")
        let bar = GridProgress(enabled: !quiet && isatty(STDERR_FILENO) != 0)
        let finished = try CurvatureGrid.run(spec, progress: { done, total, fraction in bar.show(done: done, total: total, fraction: fraction) },
                                             shouldStop: { Interrupt.requested })
        bar.clear()
        guard let grid = finished else {
            throw RunFailure(message: "interrupted by \(Interrupt.signalName); nothing was written (a grid run here is not resumable: "
                             + "`reluflow sweep` with command curvature resumes where it stopped)", status: Interrupt.exitStatus)
        }
        var record: [String: Any] = ["depths": depthList, "widths": widthList, "seeds": seeds.value, "init": scheme.rawValue,
                                     "activation": act.rawValue, "bias": bias, "spectrum": options.spectrum.rawValue,
                                     "fullSpectrumLimit": options.fullSpectrumLimit, "eigensolver": options.eigensolver.rawValue,
                                     "data": ["x": data.rows, "y": data.y, "origin": origin]]
        if !cells.isEmpty { record["histograms"] = cells.map { [$0.0, $0.1] } }
        let gridJSON = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
        let files = grid.files(histogramCells: cells.isEmpty ? nil : cells) + [("curvature-grid.json", gridJSON)]
        try RunFolder.writeOutput(files, to: outPath, kind: "curvature")
        let lanczos = grid.rows.filter { $0.report.spectrum == "lanczos" }.count
        print("\(outPath): \(grid.rows.count) networks (\(depthList.count) depths × \(widthList.count) widths × \(seeds.value) seeds) on \(origin); "
              + "curvature.csv, summary.csv, \(grid.spectraFiles().count) spectrum file(s), figures"
              + (lanczos > 0 ? "; \(lanczos) network(s) beyond \(options.fullSpectrumLimit) parameters by Lanczos (spectrum column)" : ""))
    }
}

/// A progress bar with ETA on stderr (work-weighted: a network's share is its estimated cost).
final class GridProgress {
    let enabled: Bool
    let start = DispatchTime.now().uptimeNanoseconds
    init(enabled: Bool) { self.enabled = enabled }

    func show(done: Int, total: Int, fraction: Double) {
        guard enabled else { return }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let width = 30, filled = Int((fraction * Double(width)).rounded(.down))
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : .nan
        let bar = String(repeating: "#", count: min(filled, width)) + String(repeating: ".", count: max(width - filled, 0))
        let text = String(format: "\r  [%@] %d/%d networks  %.0f s elapsed  ETA %@ ", bar, done, total, elapsed,
                          eta.isFinite ? String(format: "%.0f s", eta) : "?")
        FileHandle.standardError.write(Data(text.utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
