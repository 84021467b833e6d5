import Foundation
import ReluFlow

/// The Python peers in `Benchmarks/peers`, run on the resolved config of a case in the same
/// session: the event-driven SciPy flow (DOP853, or LSODA / Radau with the exact Jacobian) and
/// plain NumPy gradient descent. Each writes JSON; their own wall time (integration only, no
/// interpreter start) is what the ratios use.
struct PeerRunner {
    let python: String
    let root: URL

    /// `python` nil: the package's `Benchmarks/.venv` (made by `Benchmarks/setup`, with JAX, diffrax
    /// and optax) where it exists, else `python3` (without JAX the JAX peers fail, each saying so).
    init(python: String?) {
        root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = root.appendingPathComponent("Benchmarks/.venv/bin/python").path
        self.python = python ?? (FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3")
    }

    struct FlowResult: Decodable {
        struct Event: Decodable { let t: Double; let neuron: Int; let point: Int; let kind: String }
        let method: String
        let status: String
        let message: String?
        let events: [Event]
        let theta: [Double]
        let loss: Double
        let wallSeconds: Double
        let rhsEvaluations: Int
        let jacobianEvaluations: Int
    }

    struct DescentResult: Decodable {
        struct Run: Decodable { let eta: Double; let steps: Int; let wallSeconds: Double; let error: Double? }
        struct Fit: Decodable { let p: Double; let C: Double; let etaForAccuracy: Double?; let projectedSeconds: Double? }
        let runs: [Run]
        let fit: Fit?
    }

    struct TrainingResult: Decodable {
        let wallSeconds: Double?
        let iterationsPerSecond: Double?
        let theta: [Double]?
        let error: String?
    }

    /// Full-batch GD or Adam in NumPy and JAX (`training_peers.py`): K iterations each.
    func training(_ config: RunConfig, method: String, lr: Double, iterations: Int) throws -> [String: TrainingResult]? {
        try run("training_peers.py", config, ["--method", method, "--lr", "\(lr)", "--iterations", "\(iterations)"]) {
            try JSONDecoder().decode([String: TrainingResult].self, from: $0)
        }
    }

    struct CurvatureResult: Decodable {
        let parameters: Int?
        let hessianSeconds: Double?
        let eigenSeconds: Double?
        let totalSeconds: Double?
        let eigenvalues: [Double]?
        let version: String?
        let error: String?
    }

    /// The Hessian and its spectrum in JAX (`curvature_peers.py`): median seconds of `repeat` runs.
    func curvature(_ config: RunConfig, repeats: Int) throws -> [String: CurvatureResult]? {
        try run("curvature_peers.py", config, ["--repeat", "\(repeats)"]) { try JSONDecoder().decode([String: CurvatureResult].self, from: $0) }
    }

    func flow(_ config: RunConfig, T: Double, method: String) throws -> FlowResult? {
        try run("scipy_flow.py", config, ["--T", "\(T)", "--method", method]) { try JSONDecoder().decode(FlowResult.self, from: $0) }
    }

    func descent(_ config: RunConfig, T: Double, target: [Double], budget: Double) throws -> DescentResult? {
        let targetURL = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-bench-target-\(getpid()).json")
        try JSONSerialization.data(withJSONObject: ["theta": target]).write(to: targetURL)
        defer { try? FileManager.default.removeItem(at: targetURL) }
        return try run("numpy_gd.py", config, ["--T", "\(T)", "--target", targetURL.path, "--budget", "\(budget)"]) {
            try JSONDecoder().decode(DescentResult.self, from: $0)
        }
    }

    /// `run`, for peers defined in other files.
    func runScript<R>(_ script: String, _ config: RunConfig, _ arguments: [String], decode: (Data) throws -> R) throws -> R? {
        try run(script, config, arguments, decode: decode)
    }

    /// Runs a peer script on `config`; nil (with the reason on stderr) when it fails.
    private func run<R>(_ script: String, _ config: RunConfig, _ arguments: [String], decode: (Data) throws -> R) throws -> R? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let configURL = dir.appendingPathComponent("config.json"), out = dir.appendingPathComponent("peer.json")
        try config.encoded().write(to: configURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, root.appendingPathComponent("Benchmarks/peers/\(script)").path, configURL.path] + arguments + ["--out", out.path]
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let data = FileManager.default.contents(atPath: out.path) else {
            FileHandle.standardError.write("peer \(script) \(arguments.joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self).suffix(400))\n".data(using: .utf8)!)
            return nil
        }
        return try decode(data)
    }
}

extension PeerRunner.FlowResult {
    /// Whether the event sequence (kind and neuron, in time order) is ReluFlow's. Events within
    /// 1e-8·max(1, t) of each other count as simultaneous and are compared as a set.
    func sameEvents(as solution: FlowSolution) -> Bool {
        // The peer reports one row per surface group, ReluFlow one per data point: compare the
        // (time, neuron, kind) rows.
        var ours: [(t: Double, key: String)] = []
        for e in solution.events where !ours.contains(where: { $0.t == e.t && $0.key == "\(e.kind.rawValue) \(e.neuron)" }) {
            ours.append((e.t, "\(e.kind.rawValue) \(e.neuron)"))
        }
        let theirs = events.map { (t: $0.t, key: "\($0.kind) \($0.neuron)") }
        guard ours.count == theirs.count else { return false }
        var k = 0
        while k < ours.count {
            var end = k + 1
            while end < ours.count && ours[end].t - ours[k].t <= 1e-8 * max(1, ours[k].t) { end += 1 }
            if ours[k..<end].map(\.key).sorted() != theirs[k..<end].map(\.key).sorted() { return false }
            k = end
        }
        return true
    }
}
