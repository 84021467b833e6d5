import Foundation
import ReluFlow

/// `reluflow-bench --small-runs`: what a researcher running thousands of small problems pays per
/// run. For `sine` at several horizons: the whole `reluflow simulate --example sine --quiet`
/// command (process start to last file, the `reluflow` next to this benchmark), the same run
/// in-process through the library (`simulate(_:to:)`, folder included), and the integration
/// alone (`wallSeconds`), with steps, RHS evaluations and events; medians of `repeats`.
struct SmallRuns {
    let repeats: Int
    let horizons: [Double]

    func run() throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("reluflow")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            FileHandle.standardError.write(Data("reluflow-bench: --small-runs needs the reluflow executable at \(executable.path) (swift build -c release)\n".utf8))
            throw ExitCodeError(status: 1)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-small-runs-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        print("T        command ms  in-process ms  integration ms  steps   RHS evals  events")
        for T in horizons {
            var config = try Example.named("sine").config
            config.flow.T = T
            let out = dir.appendingPathComponent("run").path
            var command: [Double] = [], library: [Double] = [], integration: [Double] = []
            var last: FlowSolution?
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                let process = Process()
                process.executableURL = executable
                process.arguments = ["simulate", "--example", "sine", "--T", "\(T)", "--quiet", "--out", out]
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                process.waitUntilExit()
                command.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                guard process.terminationStatus == 0 else { throw ExitCodeError(status: process.terminationStatus) }

                let begin = DispatchTime.now().uptimeNanoseconds
                let solution = try simulate(config, to: out)
                library.append(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
                integration.append(solution.diagnostics.wallSeconds * 1e3)
                last = solution
            }
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            let d = last!.diagnostics
            print(String(format: "%-8g %-11.2f %-14.2f %-15.2f %-7d %-10d %d", T, median(command), median(library), median(integration),
                         d.steps, d.rhsEvaluations, last!.eventCount))
        }
    }
}

struct ExitCodeError: Error { let status: Int32 }
