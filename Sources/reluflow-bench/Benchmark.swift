import ArgumentParser
import Foundation
import ReluFlow

/// `swift run -c release reluflow-bench`: the built-in examples at several horizons with the
/// `auto` stepper against rk8pd alone (the baseline, run in the same process), and optionally the
/// independent SciPy peer (`Tests/Reference/filippov_reference.py`) in the same session.
/// Timings are wall-clock medians of `--repeat` runs of the integration alone (no file output).
@main
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reluflow-bench",
        abstract: "Time the flow on the built-in examples: auto against rk8pd, optionally against the SciPy peer.")

    @Option(help: "Examples, comma-separated.")
    var examples = "sine,abs,two-d,small-init"

    @Option(help: "Horizons T, comma-separated.")
    var horizons = "1e4,1e6"

    @Option(help: "Runs per case (the median is reported).")
    var `repeat` = 3

    @Option(help: "Skip the rk8pd baseline for horizons above this (it needs ~1 step per time unit late in the flow).")
    var baselineLimit = 1e6

    @Flag(help: "Also run the SciPy peer (python3 with numpy and scipy) on each case, once.")
    var peers = false

    @Flag(help: "Run the scaling series (m, n, d) = (20, 10, 1) … (10 000, 256, 2) instead of the examples.")
    var scaling = false

    @Option(help: "Horizon T of the scaling series.")
    var scalingT = 1.0

    @Option(help: "Largest n·m of the scaling series to run.")
    var maxPairs = 2_560_000

    func run() throws {
        if scaling { return try runScaling() }
        print("case                    auto s     steps  events  rk8pd s    ratio   |Δθ| vs rk8pd  drift     defect    peer s   peer ratio")
        for name in examples.split(separator: ",").map(String.init) {
            for T in horizons.split(separator: ",").compactMap({ Double($0) }) {
                try benchmark(name, T)
            }
        }
    }

    func runScaling() throws {
        print(ScalingRow.header)
        var rows: [ScalingRow] = []
        for c in ScalingCase.series where c.n * c.m <= maxPairs {
            let problem = try c.problem(T: scalingT)
            let start = DispatchTime.now().uptimeNanoseconds
            let solution = solve(problem)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let row = ScalingRow(scalingCase: c, T: scalingT, seconds: seconds, solution: solution, timing: FieldTiming.measure(problem))
            print(row.line)
            rows.append(row)
        }
        if let e = ScalingRow.exponents(rows) {
            print(String(format: "fitted: wall time per unit t ∝ (n·m)^%.2f; events per unit t ∝ (n·m)^%.2f", e.cost, e.events))
        }
    }

    func problem(_ name: String, _ T: Double, _ stepper: Stepper) throws -> (FlowProblem, RunConfig) {
        var config = try Example.named(name).config
        config.flow.T = T
        config.flow.stepper = stepper.rawValue
        let (p, resolved) = try config.resolve()
        return (p, resolved)
    }

    func timed(_ p: FlowProblem) -> (Double, FlowSolution) {
        var times: [Double] = []
        var last: FlowSolution? = nil
        for _ in 0..<max(`repeat`, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            last = solve(p)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (times.sorted()[times.count / 2], last!)
    }

    func benchmark(_ name: String, _ T: Double) throws {
        let (autoProblem, resolved) = try problem(name, T, .auto)
        let (autoTime, auto) = timed(autoProblem)
        var baseline = "—", ratio = "—", dTheta = "—"
        if T <= baselineLimit {
            let (refTime, ref) = timed(try problem(name, T, .rk8pd).0)
            baseline = String(format: "%.4f", refTime)
            ratio = String(format: "%.1f×", refTime / autoTime)
            dTheta = String(format: "%.1e", zip(auto.finalTheta, ref.finalTheta).map { abs($0 - $1) }.max() ?? 0)
        }
        var peer = "—", peerRatio = "—"
        if peers, let seconds = try runPeer(resolved, T) {
            peer = String(format: "%.2f", seconds)
            peerRatio = String(format: "%.0f×", seconds / autoTime)
        }
        let label = "\(name) T=\(String(format: "%.0e", T))"
        print(String(format: "%@ %8.4f %9d %7d %8@ %8@ %14@ %9.1e %9.1e %8@ %10@",
                     label.padding(toLength: 20, withPad: " ", startingAt: 0), autoTime, auto.diagnostics.steps, auto.events.count,
                     baseline, ratio, dTheta, auto.diagnostics.invariantDrift, auto.diagnostics.dissipationDefect, peer, peerRatio))
        if auto.status != .completed { print("    status \(auto.status.rawValue): \(auto.message ?? "")") }
    }

    /// Runs the SciPy peer on the resolved config; its own wall time (integration only).
    func runPeer(_ config: RunConfig, _ T: Double) throws -> Double? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let configURL = dir.appendingPathComponent("config.json"), out = dir.appendingPathComponent("peer.json")
        try config.encoded().write(to: configURL)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Reference/filippov_reference.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, configURL.path, "--T", "\(T)", "--out", out.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let data = FileManager.default.contents(atPath: out.path),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return json["wallSeconds"] as? Double
    }
}
