import Foundation

/// A depth × width grid of random deep networks (SPEC §8, `reluflow curvature --depths …`):
/// for every depth L (weight matrices), hidden width n and seed, the network (d, n, …, n, 1)
/// drawn by the scheme, and its `CurvatureReport` at θ(0) on the grid's data.
public struct CurvatureGridSpec: Sendable {
    public var depths: [Int]
    public var widths: [Int]
    public var seeds: Int
    public var scheme: DeepInitSpec.Scheme = .he
    public var activation: HiddenActivation = .relu
    public var hiddenBias = false
    public var data: Dataset
    public var options = CurvatureOptions()

    public init(depths: [Int], widths: [Int], seeds: Int, data: Dataset) {
        self.depths = depths
        self.widths = widths
        self.seeds = seeds
        self.data = data
    }

    /// The network of one cell.
    public func network(depth: Int, width: Int) -> DeepNetwork {
        DeepNetwork(layers: [data.dimension] + [Int](repeating: width, count: depth - 1) + [1], activation: activation,
                    hiddenBias: hiddenBias, outputBias: false)
    }
}

/// One row of `curvature.csv`.
public struct CurvatureGridRow: Sendable, Equatable {
    public var depth: Int, width: Int, seed: Int
    public var report: CurvatureReport
}

/// The grid's results: rows, the full spectra per cell, and the files.
public struct CurvatureGrid: Sendable {
    public var spec: CurvatureGridSpec
    public var rows: [CurvatureGridRow]

    /// Runs every cell; `progress(done, total, fractionOfWork)` after each network.
    public static func run(_ spec: CurvatureGridSpec, progress: ((Int, Int, Double) -> Void)? = nil) throws -> CurvatureGrid {
        var jobs: [(Int, Int, Int)] = []
        for L in spec.depths { for n in spec.widths { for s in 0..<spec.seeds { jobs.append((L, n, s)) } } }
        // Work per network, for the ETA: P² m for a full spectrum (the Hessian's products and the
        // eigensolver, O(P³) at most), ~200 products of O(P m) for Lanczos.
        func work(_ job: (Int, Int, Int)) -> Double {
            let P = Double(spec.network(depth: job.0, width: job.1).parameterCount), m = Double(spec.data.count)
            return P <= Double(spec.options.fullSpectrumLimit) ? P * P * (m + P / 8) : 200 * P * m
        }
        let total = jobs.reduce(0) { $0 + work($1) }
        var done = 0.0
        var rows: [CurvatureGridRow] = []
        for (k, job) in jobs.enumerated() {
            let (L, n, s) = job
            let net = spec.network(depth: L, width: n)
            let theta = DeepInitSpec(scheme: spec.scheme, seed: UInt64(s)).draw(for: net)
            var options = spec.options
            options.seed = UInt64(s)
            let report = try CurvatureReport.compute(network: net, data: spec.data, theta: theta, options: options)
            rows.append(CurvatureGridRow(depth: L, width: n, seed: s, report: report))
            done += work(job)
            progress?(k + 1, jobs.count, total > 0 ? done / total : 1)
        }
        return CurvatureGrid(spec: spec, rows: rows)
    }

    /// Cells in grid order (depth, then width).
    public var cells: [(depth: Int, width: Int)] { spec.depths.flatMap { L in spec.widths.map { (L, $0) } } }

    public func rows(depth: Int, width: Int) -> [CurvatureGridRow] { rows.filter { $0.depth == depth && $0.width == width } }

    /// Median and quartiles: linear interpolation between order statistics (NumPy's default
    /// `percentile`, "type 7"): q(p) = v[⌊h⌋] + (h − ⌊h⌋)(v[⌊h⌋+1] − v[⌊h⌋]), h = (k − 1)p.
    public static func quantile(_ values: [Double], _ p: Double) -> Double {
        let v = values.filter { !$0.isNaN }.sorted()
        guard !v.isEmpty else { return .nan }
        let h = Double(v.count - 1) * p, lo = Int(h.rounded(.down))
        return lo + 1 < v.count ? v[lo] + (h - Double(lo)) * (v[lo + 1] - v[lo]) : v[lo]
    }

    /// `curvature.csv`: one row per network.
    public func curvatureCSV() -> Data {
        var csv = CSVWriter(header: ["depth", "width", "seed", "parameters", "loss", "gradNorm", "lambdaMax", "lambdaMin", "trace",
                                     "negativeFraction", "dead", "spectrum", "lanczosIterations", "lanczosResidual", "layerGradNorms"])
        for row in rows {
            let r = row.report
            csv.integer(row.depth)
            csv.integer(row.width)
            csv.integer(row.seed)
            csv.integer(r.parameters)
            csv.numbers([r.loss, r.gradNorm, r.lambdaMax, r.lambdaMin, r.trace, r.negativeFraction ?? .nan])
            csv.text(r.outputConstant ? "true" : "false")
            csv.text(r.spectrum)
            csv.integer(r.lanczos?.iterations ?? 0)
            csv.number(r.lanczos.map { max($0.lambdaMaxResidual, $0.lambdaMinResidual) } ?? .nan)
            csv.text(r.layerGradNorms.map(CSVWriter.number).joined(separator: ";"))
            csv.endRow()
        }
        return csv.data
    }

    /// The statistics summarised per cell, by name.
    public static let summaryQuantities: [(String, @Sendable (CurvatureReport) -> Double)] = [
        ("gradNorm", { $0.gradNorm }), ("lambdaMax", { $0.lambdaMax }), ("lambdaMin", { $0.lambdaMin }), ("trace", { $0.trace }),
        ("negativeFraction", { $0.negativeFraction ?? .nan }), ("loss", { $0.loss }),
    ]

    /// `summary.csv`: per depth and width the median and quartiles (`quantile`) of each quantity
    /// over the seeds, the share of dead networks and how the spectrum was computed.
    public func summaryCSV() -> Data {
        var header = ["depth", "width", "parameters", "seeds", "spectrum", "deadFraction"]
        for (name, _) in Self.summaryQuantities { header += ["\(name)_median", "\(name)_q1", "\(name)_q3"] }
        var csv = CSVWriter(header: header)
        for (L, n) in cells {
            let group = rows(depth: L, width: n)
            guard let first = group.first else { continue }
            csv.integer(L)
            csv.integer(n)
            csv.integer(first.report.parameters)
            csv.integer(group.count)
            csv.text(Set(group.map(\.report.spectrum)).sorted().joined(separator: "+"))
            csv.number(Double(group.filter(\.report.outputConstant).count) / Double(group.count))
            for (_, value) in Self.summaryQuantities {
                let v = group.map { value($0.report) }
                csv.numbers([Self.quantile(v, 0.5), Self.quantile(v, 0.25), Self.quantile(v, 0.75)])
            }
            csv.endRow()
        }
        return csv.data
    }

    /// `spectrum_L{depth}_n{width}.npy`: seeds × P, every eigenvalue (ascending) of each seed's
    /// Hessian; cells computed by Lanczos have none.
    public func spectraFiles() -> [(String, Data)] {
        cells.compactMap { L, n in
            let group = rows(depth: L, width: n)
            guard let P = group.first?.report.parameters, group.allSatisfy({ $0.report.hessianEigenvalues?.count == P }) else { return nil }
            var bytes = npyPreamble("{'descr': '<f8', 'fortran_order': False, 'shape': (\(group.count), \(P)), }")
            for row in group {
                for v in row.report.hessianEigenvalues! { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            }
            return ("spectrum_L\(L)_n\(n).npy", Data(bytes))
        }
    }

    /// Every file of the grid folder (figures included).
    public func files(histogramCells: [(Int, Int)]? = nil) -> [(String, Data)] {
        [("curvature.csv", curvatureCSV()), ("summary.csv", summaryCSV())] + spectraFiles()
            + CurvatureFigures.files(self, histogramCells: histogramCells)
    }
}
