import Foundation
import ReluFlow

/// `reluflow-bench --small-runs`: what a researcher running thousands of small problems pays per
/// run. For `sine` at several horizons: the whole `reluflow simulate --example sine --quiet`
/// command (process start to last file, the `reluflow` next to this benchmark), the same run
/// in-process through the library (`simulate(_:to:)`, folder included: replacing the command's
/// folder, as the command does at every repeat, and into a new folder, the earlier one removed
/// outside the timing), and the integration alone (`wallSeconds`), with steps, RHS evaluations
/// and events; medians of `repeats`.
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
        print("T        command ms  in-process ms  new folder ms  integration ms  steps   RHS evals  events")
        for T in horizons {
            var config = try Example.named("sine").config
            config.flow.T = T
            let out = dir.appendingPathComponent("run").path
            var command: [Double] = [], library: [Double] = [], fresh: [Double] = [], integration: [Double] = []
            let freshOut = dir.appendingPathComponent("new").path
            var last: FlowSolution?
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                // posix_spawn and waitpid: Foundation's Process.waitUntilExit polls its run loop
                // and adds tens of milliseconds to a short command.
                let arguments = [executable.path, "simulate", "--example", "sine", "--T", "\(T)", "--quiet", "--out", out]
                var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
                var argv = arguments.map { strdup($0) } + [nil]
                var pid: pid_t = 0
                let spawned = posix_spawn(&pid, executable.path, &actions, nil, &argv, environ)
                posix_spawn_file_actions_destroy(&actions)
                for p in argv { free(p) }
                guard spawned == 0 else { throw ExitCodeError(status: spawned) }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                command.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                guard status == 0 else { throw ExitCodeError(status: status) }

                let begin = DispatchTime.now().uptimeNanoseconds
                let solution = try simulate(config, to: out)
                library.append(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
                integration.append(solution.diagnostics.wallSeconds * 1e3)
                last = solution

                try? FileManager.default.removeItem(atPath: freshOut)
                let started = DispatchTime.now().uptimeNanoseconds
                _ = try simulate(config, to: freshOut)
                fresh.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
            }
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            let d = last!.diagnostics
            print(String(format: "%-8g %-11.2f %-14.2f %-14.2f %-15.2f %-7d %-10d %d", T, median(command), median(library), median(fresh), median(integration),
                         d.steps, d.rhsEvaluations, last!.eventCount))
        }
    }
}

extension SmallRuns {
    /// `count` small problems through the library in one process: `sine` with seeds 0…count−1 to
    /// T, each resolved, solved and written to its own run folder by `simulate(_:to:)`, as a
    /// notebook's loop over seeds would. Prints the total, the median and the slowest run.
    func batch(count: Int, T: Double) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-batch-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var base = try Example.named("sine").config
        base.flow.T = T
        var times: [Double] = []
        var events = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for seed in 0..<count {
            var config = base
            var spec = config.network.initialization ?? InitSpec()
            spec.seed = UInt64(seed)
            config.network.initialization = spec
            let begin = DispatchTime.now().uptimeNanoseconds
            let solution = try simulate(config, to: dir.appendingPathComponent("run\(seed)").path)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
            events += solution.eventCount
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let sorted = times.sorted()
        print(String(format: "batch: %d runs of sine (seeds 0-%d, T = %g) through the library in one process: %.2f s, %.1f runs/s; "
                     + "per run median %.2f ms, slowest %.2f ms; %d events in all", count, count - 1, T, total, Double(count) / total,
                     sorted[sorted.count / 2], sorted.last ?? 0, events))
    }
}

struct ExitCodeError: Error { let status: Int32 }
