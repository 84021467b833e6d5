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

    /// Runs every cell; `progress(done, total, fractionOfWork)` after each network. When
    /// `shouldStop` answers true (checked before each network) the grid stops and returns nil.
    public static func run(_ spec: CurvatureGridSpec, progress: ((Int, Int, Double) -> Void)? = nil,
                           shouldStop: (() -> Bool)? = nil) throws -> CurvatureGrid? {
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
            if shouldStop?() ?? false { return nil }
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

extension CurvatureGrid {
    /// A grid folder read back (`reluflow plot DIR`): curvature-grid.json (the grid and its data),
    /// curvature.csv (the rows) and the spectra files. Unreadable files are exit 3, malformed ones
    /// exit 2 naming the file.
    public static func read(folder: String) throws -> (grid: CurvatureGrid, histogramCells: [(Int, Int)]?) {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let recordBytes = try RunFolder.readFile(path("curvature-grid.json"))
        guard let record = try? JSONSerialization.jsonObject(with: recordBytes) as? [String: Any],
              let depths = record["depths"] as? [Int], let widths = record["widths"] as? [Int], let seeds = record["seeds"] as? Int,
              let dataRecord = record["data"] as? [String: Any], let x = dataRecord["x"] as? [[Double]], let y = dataRecord["y"] as? [Double],
              let scheme = (record["init"] as? String).flatMap(DeepInitSpec.Scheme.init(rawValue:)),
              let activation = (record["activation"] as? String).flatMap(HiddenActivation.init(rawValue:)) else {
            throw InputError("DIR", "\(path("curvature-grid.json")) is not a curvature grid record")
        }
        var spec = CurvatureGridSpec(depths: depths, widths: widths, seeds: seeds, data: try Dataset(x: x, y: y))
        spec.scheme = scheme
        spec.activation = activation
        spec.hiddenBias = record["bias"] as? Bool ?? false
        let text = String(decoding: try RunFolder.readFile(path("curvature.csv")), as: UTF8.self)
        var lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { throw InputError("DIR", "\(path("curvature.csv")) is empty") }
        lines.removeFirst()
        let column = Dictionary(uniqueKeysWithValues: header.enumerated().map { ($1, $0) })
        var rows: [CurvatureGridRow] = []
        for (k, fields) in lines.enumerated() {
            func field(_ name: String) throws -> String {
                guard let c = column[name], c < fields.count else { throw InputError("DIR", "\(path("curvature.csv")) line \(k + 2) has no \(name)") }
                return fields[c]
            }
            func number(_ name: String) throws -> Double {
                let s = try field(name)
                if s == "nan" { return .nan }
                guard let v = Double(s) else { throw InputError("DIR", "\(path("curvature.csv")) line \(k + 2): \(name) '\(s)' is not a number") }
                return v
            }
            guard let L = Int(try field("depth")), let n = Int(try field("width")), let s = Int(try field("seed")),
                  let P = Int(try field("parameters")) else { throw InputError("DIR", "\(path("curvature.csv")) line \(k + 2) is malformed") }
            let net = spec.network(depth: L, width: n)
            let negative = try number("negativeFraction")
            let report = CurvatureReport(
                parameters: P, loss: try number("loss"), gradNorm: try number("gradNorm"),
                layerGradNorms: try field("layerGradNorms").split(separator: ";").map { Double($0) ?? .nan },
                hessianEigenvalues: nil, lambdaMax: try number("lambdaMax"), lambdaMin: try number("lambdaMin"), trace: try number("trace"),
                negativeFraction: negative.isNaN ? nil : negative, negativeThreshold: nil, spectrum: try field("spectrum"), eigensolver: nil,
                lanczos: nil, outputConstant: try field("dead") == "true", layers: net.layers, activation: activation.rawValue,
                hiddenBias: spec.hiddenBias, outputBias: false, hessianSeconds: 0, eigenSeconds: 0)
            rows.append(CurvatureGridRow(depth: L, width: n, seed: s, report: report))
        }
        // Spectra: seeds × P float64 after the .npy header.
        for (L, n) in spec.depths.flatMap({ L in spec.widths.map { (L, $0) } }) {
            let file = path("spectrum_L\(L)_n\(n).npy")
            guard FileManager.default.fileExists(atPath: file) else { continue }
            let bytes = [UInt8](try RunFolder.readFile(file))
            guard bytes.count > 10 else { continue }
            let headerLength = bytes[6] == 1 ? 10 + Int(bytes[8]) + 256 * Int(bytes[9])
                : 12 + Int(bytes[8]) + 256 * Int(bytes[9]) + 65536 * Int(bytes[10]) + 16_777_216 * Int(bytes[11])
            let indices = rows.indices.filter { rows[$0].depth == L && rows[$0].width == n }
            guard let P = indices.first.map({ rows[$0].report.parameters }), bytes.count == headerLength + 8 * P * indices.count else {
                throw InputError("DIR", "\(file) does not match curvature.csv")
            }
            for (r, index) in indices.enumerated() {
                rows[index].report.hessianEigenvalues = (0..<P).map { p in
                    var bits: UInt64 = 0
                    for b in 0..<8 { bits |= UInt64(bytes[headerLength + 8 * (r * P + p) + b]) << (8 * b) }
                    return Double(bitPattern: bits)
                }
            }
        }
        let cells = (record["histograms"] as? [[Int]])?.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
        return (CurvatureGrid(spec: spec, rows: rows), cells)
    }

    /// The figures alone (`reluflow plot`).
    public func figureFiles(histogramCells: [(Int, Int)]?) -> [(String, Data)] { CurvatureFigures.files(self, histogramCells: histogramCells) }
}
