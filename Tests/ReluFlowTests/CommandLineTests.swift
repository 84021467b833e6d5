import Foundation
import XCTest
import ReluFlow

/// The `reluflow` executable as a user runs it: exit statuses, messages naming the field, and
/// run folders that appear complete or not at all (INTERFACE.md).
final class CommandLineTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The default example runs with no config and writes every file of the run folder.
    func testSimulateDefaultExampleWritesRunFolder() throws {
        let result = try runReluflow(["simulate", "--T", "5", "--quiet"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("runs/sine"), result.stdout)
        let folder = dir.appendingPathComponent("runs/sine")
        for file in ["config.json", "summary.json", "trajectory.csv", "events.csv", "patterns.csv", "trajectory.npy",
                     "events.npy", "patterns.npy", "pattern_matrices.npy", "data.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), file)
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("summary.json"))) as! [String: Any]
        for key in ["finalTime", "finalLoss", "theta", "theta0", "steps", "rhsEvaluations", "jacobianEvaluations", "events",
                    "wallSeconds", "stepper", "invariantDrift", "dissipationDefect", "status"] {
            XCTAssertNotNil(summary[key], key)
        }
        XCTAssertEqual(summary["status"] as? String, "completed")
        let header = try String(contentsOf: folder.appendingPathComponent("trajectory.csv"), encoding: .utf8).split(separator: "\n")[0]
        XCTAssertTrue(header.hasPrefix("t,loss,gradNorm,patternId,W[0][0],"), String(header))
        // The resolved config repeats the run exactly.
        let again = try runReluflow(["simulate", "--config", folder.appendingPathComponent("config.json").path, "--out", "again", "--quiet"], in: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        let first = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: folder.appendingPathComponent("summary.json")))
        let second = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("again/summary.json")))
        XCTAssertEqual(first.theta.map(\.bitPattern), second.theta.map(\.bitPattern))
        // No staging folders are left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("runs").path).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
    }

    /// An adaptive flow (SPEC §7, the rmsprop-shallow reference case, rtol 1e-12): the balance is
    /// not an invariant of it, so simulate prints no invariant drift and says why, summary.json has
    /// `invariantDrift` null with `invariantNote`, and analyze's engine line says the same; the
    /// dissipation defect is the adaptive flow's identity L(0) − L(T) = ∫ −g·θ' dt, checked from
    /// the summary's own figures to 1e-11 of L(0) (AdaptiveFlowIntegrationTests' tolerance at
    /// these tolerances). The same config as a gradient flow keeps its drift, within 1e-9 (rtol
    /// 1e-12 over T = 20; the README's examples measure 1e-13 to 1e-11), and no note.
    func testAdaptiveFlowReportsNoBalanceInvariant() throws {
        let config = DeepFlowTests.cases.appendingPathComponent("rmsprop-shallow.json")
        let run = try runReluflow(["simulate", "--config", config.path, "--out", "rms", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("no invariant drift (the balance is not an invariant of the rmsprop flow)"), run.stdout)
        XCTAssertTrue(run.stdout.contains("L(0) − L(T) = ∫ −g·θ' dt"), run.stdout)
        let data = try Data(contentsOf: dir.appendingPathComponent("rms/summary.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertTrue(json["invariantDrift"] is NSNull, "\(json["invariantDrift"] ?? "absent")")
        XCTAssertTrue((json["invariantNote"] as? String)?.contains("not an invariant of the rmsprop flow") == true)
        XCTAssertNil(json["nonFinite"], "a null drift is not a non-finite figure")
        XCTAssertEqual((json["flow"] as? [String: Any])?["kind"] as? String, "rmsprop")
        let summary = try JSONDecoder().decode(RunSummary.self, from: data)
        XCTAssertNil(summary.invariantDrift)
        XCTAssertLessThan(summary.dissipationDefect, 1e-11)
        XCTAssertEqual(summary.initialLoss - summary.finalLoss, summary.dissipated, accuracy: 1e-11 * summary.initialLoss)
        XCTAssertGreaterThan(summary.initialLoss - summary.finalLoss, 1e-3 * summary.initialLoss, "the loss moves: the identity is not 0 = 0")
        let analyze = try runReluflow(["analyze", "rms"], in: dir)
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        XCTAssertTrue(analyze.stdout.contains("the balance q_i (SPEC §4) is not an invariant of the rmsprop flow (θ' ≠ −g): no invariant drift"), analyze.stdout)
        XCTAssertFalse(analyze.stdout.contains("invariant drift 0") || analyze.stdout.contains("invariant drift 1"), analyze.stdout)

        var gradient = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        var flow = gradient["flow"] as! [String: Any]
        flow["kind"] = "gradient"
        flow.removeValue(forKey: "tau")
        flow.removeValue(forKey: "epsilon")
        gradient["flow"] = flow
        let gradientPath = try write("gradient.json", String(decoding: try JSONSerialization.data(withJSONObject: gradient), as: UTF8.self))
        let plain = try runReluflow(["simulate", "--config", gradientPath, "--out", "gf", "--quiet"], in: dir)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains("invariant drift ") && !plain.stdout.contains("no invariant drift"), plain.stdout)
        let gf = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("gf/summary.json")))
        XCTAssertLessThan(gf.invariantDrift ?? .nan, 1e-9)
        XCTAssertNil(gf.invariantNote)
        XCTAssertEqual(gf.flow?.kind, "gradient")
    }

    /// Bad input: exit status 2, a message naming the field, and no output folder.
    func testBadInputExitsTwoNamingTheField() throws {
        let good = #"{"data": {"x": [[-1], [0], [1]], "y": [1, 0, 1]}, "network": {"W": [[1], [-1]], "b": [0.1, 0.2], "c": [0.5, 0.5]}, "flow": {"T": 1}}"#
        let cases: [(String, [String], String)] = [
            ("malformed JSON", ["--config", try write("a.json", "{\"data\": ")], "not valid JSON"),
            ("malformed JSON on line 3", ["--config", try write("a3.json", "{\"data\": {\"x\": [[1]],\n \"y\": [1]\n \"z\": 1}}")], "line 3, column 2"),
            ("wrong W shape", ["--config", try write("b.json", good.replacingOccurrences(of: #"[[1], [-1]]"#, with: #"[[1, 2], [-1]]"#))], "network.W[0]"),
            ("b length", ["--config", try write("c.json", good.replacingOccurrences(of: "[0.1, 0.2]", with: "[0.1]"))], "network.b"),
            ("y length", ["--config", try write("d.json", good.replacingOccurrences(of: "[1, 0, 1]", with: "[1, 0]"))], "data.y"),
            ("string in x", ["--config", try write("e.json", good.replacingOccurrences(of: "[[-1], [0], [1]]", with: #"[[-1], ["nan"], [1]]"#))], "data.x[1][0]"),
            ("NaN in CSV", ["--config", try write("f.json", #"{"data": {"csv": "p.csv"}, "network": {"width": 2}}"#)], "data.csv"),
            ("empty data", ["--config", try write("g.json", #"{"data": {"x": [], "y": []}, "network": {"width": 2}}"#)], "data.x"),
            ("width 0", ["--config", try write("h.json", #"{"data": {"x": [[0]], "y": [1]}, "network": {"width": 0}}"#)], "network.width"),
            ("width 0 option", ["--width", "0"], "network.width"),
            ("T zero", ["--T", "0"], "flow.T"),
            ("T negative in config", ["--config", try write("i.json", good.replacingOccurrences(of: #""T": 1"#, with: #""T": -3"#))], "flow.T"),
            ("T not a number", ["--T", "abc"], "--T"),
            ("unknown stepper", ["--stepper", "euler"], "flow.stepper"),
            ("unknown example", ["--example", "nope"], "--example"),
            ("unknown key", ["--config", try write("j.json", good.replacingOccurrences(of: "\"flow\"", with: "\"flwo\""))], "flwo"),
            ("bad target", ["--config", try write("k.json", #"{"data": {"target": {"function": "sin(pi*", "m": 5, "range": [-1, 1]}}, "network": {"width": 2}}"#)], "data.target.function"),
            ("resume of no run folder", ["--resume", dir.path], "--resume"),
            ("fractional count", ["--config", try write("l.json", good.replacingOccurrences(of: #""T": 1"#, with: #""T": 1, "samples": {"count": 1.5}"#))], "flow.samples.count"),
            ("negative seed", ["--config", try write("m.json", #"{"data": {"x": [[0], [1]], "y": [0, 1]}, "network": {"width": 2, "init": {"seed": -1}}}"#)], "network.init.seed"),
            // Issue 15: negative numbers on the command line reach validation (item 9).
            ("negative T option", ["--T", "-5"], "flow.T"),
            ("negative rtol option", ["--rtol", "-1e-8"], "flow.rtol"),
            ("negative seed option", ["--seed", "-1"], "network.init.seed"),
            ("negative width option", ["--width", "-2"], "network.width"),
            // Sizes beyond the limits (item 5).
            ("huge target", ["--config", try write("n.json", #"{"data": {"target": {"function": "sin(pi*x)", "m": 1000000000, "range": [-1, 1]}}}"#)], "data.target.m"),
            ("huge sample grid", ["--samples", "1e7"], "flow.samples.count"),
            // CSV by column names, one data source, duplicate keys, nulls (items 4, 11).
            ("CSV without header", ["--config", try write("o.json", #"{"data": {"csv": "nohead.csv"}}"#)], "data.csv"),
            ("two data sources", ["--config", try write("q.json", #"{"data": {"x": [[0]], "y": [1], "target": {"function": "x", "m": 3, "range": [-1, 1]}}}"#)], "data.target"),
            ("duplicate key", ["--config", try write("r.json", good.replacingOccurrences(of: #""T": 1"#, with: #""T": 1, "T": 2"#))], "flow.T"),
            ("null T", ["--config", try write("s.json", good.replacingOccurrences(of: #""T": 1"#, with: #""T": null"#))], "flow.T"),
            // An unknown initialisation scheme: its field and the known values (a new user saw Swift's
            // "Cannot initialize InitScheme from invalid String value").
            ("unknown scheme", ["--config", try write("u.json", #"{"data": {"x": [[0], [1]], "y": [0, 1]}, "network": {"width": 2, "init": {"scheme": "hee"}}}"#)],
             "network.init.scheme: unknown scheme 'hee' (known: he, xavier, uniform)"),
            ("unknown deep scheme", ["--config", try write("v.json", #"{"data": {"x": [[0], [1]], "y": [0, 1]}, "network": {"layers": [1, 3, 1], "init": {"scheme": "uniform"}}}"#)],
             "network.init.scheme: unknown scheme 'uniform' for a deep network (known: he, xavier, normal)"),
        ]
        // A file that cannot be read: exit 3 with the path and the system's reason.
        for (arguments, reason) in [(["--config", dir.appendingPathComponent("none.json").path], "No such file or directory"),
                                    (["--config", dir.path], "Is a directory"),
                                    (["--config", try write("t.json", #"{"data": {"csv": "nowhere.csv"}}"#)], "No such file or directory")] {
            let result = try runReluflow(["simulate"] + arguments + ["--quiet"], in: dir)
            XCTAssertEqual(result.status, 3, result.stderr)
            XCTAssertTrue(result.stderr.contains(reason), result.stderr)
        }
        _ = try write("nohead.csv", "0.5,1\n0.7,2\n")
        _ = try write("p.csv", "x0,y\n0.5,1\n0.7,nan\n")
        for (name, arguments, field) in cases {
            let out = "out-\(name.replacingOccurrences(of: " ", with: "-"))"
            let result = try runReluflow(["simulate"] + arguments + ["--out", out, "--quiet"], in: dir)
            XCTAssertEqual(result.status, 2, "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(field), "\(name): message should name \(field): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(out).path), "\(name) left a folder")
        }
    }

    /// A numerical failure (here the event limit) exits 1, says why, and writes the run up to the
    /// last good state with status "failed".
    func testNumericalFailureExitsOneAndKeepsLastGoodState() throws {
        let result = try runReluflow(["simulate", "--T", "100", "--max-events", "3", "--out", "failed", "--quiet"], in: dir)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("maxEvents"), result.stderr)
        // (JSONDecoder: Foundation's JSONSerialization on Linux can misread the last digit.)
        let decoded = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("failed/summary.json")))
        XCTAssertEqual(decoded.status, .failed)
        XCTAssertNotNil(decoded.message)
        let finalTime = decoded.finalTime
        XCTAssertLessThan(finalTime, 100)
        // The written final state is the last good one: the last trajectory row, at finalTime,
        // and no later row.
        let rows = try String(contentsOf: dir.appendingPathComponent("failed/trajectory.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(rows.last?[0], finalTime)
        XCTAssertEqual(Array(rows.last![4..<(4 + 30)]), decoded.theta)
        XCTAssertEqual(rows.filter { $0[0] == finalTime }.count, rows.filter { $0[0] >= finalTime }.count)
    }

    /// INTERFACE.md's own config example (a partial `init`) is accepted.
    func testInterfaceExampleConfigRuns() throws {
        let path = try write("interface.json", #"{"data": {"target": {"function": "sin(pi*x)", "m": 20, "range": [-1, 1]}}, "network": {"width": 10, "init": {"scheme": "he", "seed": 0, "biasScale": 0.1}}, "flow": {"T": 10, "rtol": 1e-10, "atol": 1e-12, "stepper": "auto", "samples": {"spacing": "log", "count": 40}}}"#)
        let result = try runReluflow(["simulate", "--config", path, "--out", "interface", "--quiet"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    /// An existing folder that is not a run folder is never overwritten.
    func testRefusesToOverwriteForeignFolder() throws {
        let foreign = dir.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
        try "keep".write(to: foreign.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let result = try runReluflow(["simulate", "--T", "1", "--out", "mine", "--quiet"], in: dir)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("--out"))
        XCTAssertEqual(try String(contentsOf: foreign.appendingPathComponent("notes.txt"), encoding: .utf8), "keep")
    }

    /// Every command that takes --out, pointed at a folder it did not write (a user's, or a
    /// ReluFlow output of another kind), refuses with exit 2 naming --out and leaves that folder
    /// and its parent exactly as they were: no lock, marker or staging folder (a new-user trial
    /// found `sweep` leaving `.sweep.lock` in the refused folder, which then made a run folder
    /// refuse its own replacement). The folder listings include hidden entries.
    func testRefusedOutputFolderIsLeftAsItWas() throws {
        let fm = FileManager.default
        let mine = dir.appendingPathComponent("mine")
        try fm.createDirectory(at: mine, withIntermediateDirectories: true)
        try "keep".write(to: mine.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        var r = try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "arun", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let sine = try write("sine.json", try runReluflow(["examples", "--json", "sine"], in: dir).stdout)
        let grid = try write("grid.json", #"{"command": "train", "base": {"example": "sine", "network": {"width": 3}, "train": {"iterations": 5}}, "axes": {"network.init.seed": [0, 1]}}"#)
        func listing(_ url: URL) throws -> [String] { try fm.contentsOfDirectory(atPath: url.path).sorted() }
        let commands: [[String]] = [
            ["simulate", "--example", "sine", "--T", "1", "--quiet"],
            ["train", "--example", "sine", "--iterations", "5", "--quiet"],
            ["curvature", "--config", sine],
            ["curvature", "--depths", "2", "--widths", "3", "--seeds", "1"],
            ["compare", "--example", "sine", "--T", "1", "--methods", "flow,gd", "--iterations", "5", "--quiet"],
            ["analyze", "arun"],
            ["plot", "arun"],
            ["sweep", grid, "--quiet"],
        ]
        for command in commands {
            for target in ["mine", "arun"] where target == "mine" || command[0] == "sweep" {
                let folder = dir.appendingPathComponent(target)
                let before = try listing(folder), parentBefore = try listing(dir)
                r = try runReluflow(command + ["--out", target], in: dir)
                let name = (command.prefix(2) + [target]).joined(separator: " ")
                XCTAssertEqual(r.status, 2, "\(name): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("--out:"), "\(name): \(r.stderr)")
                XCTAssertEqual(try listing(folder), before, "\(name) wrote into the folder it refused")
                XCTAssertEqual(try listing(dir), parentBefore, "\(name) left something beside the folder it refused")
            }
        }
        XCTAssertEqual(try String(contentsOf: mine.appendingPathComponent("notes.txt"), encoding: .utf8), "keep")
        // The run folder the sweep refused is still replaceable by a run.
        r = try runReluflow(["simulate", "--example", "sine", "--T", "2", "--out", "arun", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testExamplesListsBuiltIns() throws {
        let result = try runReluflow(["examples"], in: dir)
        XCTAssertEqual(result.status, 0)
        for name in ["sine", "abs", "two-d"] { XCTAssertTrue(result.stdout.contains(name)) }
    }

    /// `examples --json` is one JSON document; `examples --json NAME` is that example's config,
    /// which `simulate --config` runs (issue 15, item 11d).
    func testExamplesJSONIsValidAndRunnable() throws {
        let all = try runReluflow(["examples", "--json"], in: dir)
        XCTAssertEqual(all.status, 0, all.stderr)
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [[String: Any]], all.stdout)
        XCTAssertEqual(list.compactMap { $0["name"] as? String }, Example.all.map(\.name))
        XCTAssertTrue(list.allSatisfy { $0["summary"] is String && $0["config"] is [String: Any] })
        XCTAssertEqual(list.filter { $0["default"] as? Bool == true }.compactMap { $0["name"] as? String }, [Example.defaultName])
        let one = try runReluflow(["examples", "--json", "abs"], in: dir)
        XCTAssertEqual(one.status, 0, one.stderr)
        let path = try write("abs.json", one.stdout)
        let run = try runReluflow(["simulate", "--config", path, "--T", "1", "--out", "abs", "--quiet", "--allow-large"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let unknown = try runReluflow(["examples", "--json", "nope"], in: dir)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("nope"), unknown.stderr)
    }

    /// The NPY exports load in numpy with the CSV's column names (skipped without python3/numpy).
    func testNPYLoadsInNumpy() throws {
        let run = try runReluflow(["simulate", "--example", "two-d", "--T", "2", "--out", "npy", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let script = """
            import numpy as np, csv, sys
            d = sys.argv[1]
            t = np.load(d + '/trajectory.npy')
            rows = list(csv.DictReader(open(d + '/trajectory.csv')))
            assert len(t) == len(rows), (len(t), len(rows))
            assert list(t.dtype.names) == list(rows[0].keys()), t.dtype.names
            assert all(float(r['W[3][1]']) == v for r, v in zip(rows, t['W[3][1]']))
            e = np.load(d + '/events.npy'); assert len(e) == sum(1 for _ in open(d + '/events.csv')) - 1
            m = np.load(d + '/pattern_matrices.npy'); p = np.load(d + '/patterns.npy')
            assert m.shape == (len(p), 12, 25), m.shape
            print('ok')
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir.appendingPathComponent("npy").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { throw XCTSkip("python3 not available") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if output.contains("No module named 'numpy'") { throw XCTSkip("numpy not installed") }
        XCTAssertEqual(process.terminationStatus, 0, output)
    }
}

/// Ctrl-C writes the run so far (exit 130, status "interrupted"); `--resume` continues it.
final class InterruptResumeTests: XCTestCase {
    /// Ctrl-C during a comparison keeps the methods that finished (INTERFACE: an interrupted run's
    /// folder is written, resumable): exit 130, compare.json `interrupted` with the finished and the
    /// remaining methods, the interrupted method's folder with its status; `--resume` runs the rest
    /// and leaves the finished method's folder byte for byte as it was. Before, nothing was written.
    func testCompareInterruptKeepsFinishedMethodsThenResumes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // gd (20 iterations) finishes at once; the flow with rk8pd to T = 3e4 takes seconds (the
        // signal is sent once gd's line is printed, so it always falls inside the flow). The data
        // are a CSV file named relative to the config, which changes before the resume.
        var csv = "x0,x1,y\n"
        for i in 0..<5 { for j in 0..<5 {
            let x0 = -1 + 0.5 * Double(i), x1 = -1 + 0.5 * Double(j) + 0.01 * Double(i)
            csv += "\(x0),\(x1),\(sin(Double.pi * x0) * cos(Double.pi * x1 / 2))\n"
        } }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
        try csv.write(to: dir.appendingPathComponent("data/points.csv"), atomically: true, encoding: .utf8)
        let config = """
        {"data": {"csv": "points.csv"},
         "network": {"width": 12, "init": {"scheme": "he", "seed": 0, "biasScale": 0.1}},
         "flow": {"T": 3e4, "stepper": "rk8pd"}}
        """
        try config.write(to: dir.appendingPathComponent("data/c.json"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = ["compare", "--config", "data/c.json", "--methods", "gd,flow,adam", "--iterations", "20",
                             "--max-rhs-evaluations", "50000000", "--out", "cmp", "--quiet"]
        process.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var printed = ""
        // Until gd's whole line is out.
        while !printed.split(separator: "\n", omittingEmptySubsequences: false).dropLast().contains(where: { $0.hasPrefix("gd") }) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 130, printed + message)
        XCTAssertTrue(message.contains("reluflow compare --resume cmp"), message)
        let folder = dir.appendingPathComponent("cmp")
        func json(_ path: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(path))) as! [String: Any]
        }
        let stopped = try json("compare.json")
        XCTAssertEqual(stopped["status"] as? String, "interrupted")
        XCTAssertEqual(stopped["methods"] as? [String], ["gd"])
        XCTAssertEqual(stopped["interruptedMethod"] as? String, "flow")
        XCTAssertEqual(stopped["remainingMethods"] as? [String], ["flow", "adam"])
        XCTAssertEqual(try json("flow/summary.json")["status"] as? String, "interrupted")
        let gdTrajectory = try Data(contentsOf: folder.appendingPathComponent("gd/trajectory.csv"))

        let refused = try runReluflow(["compare", "--resume", "cmp", "--methods", "gd"], in: dir)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--resume"), refused.stderr)

        // The comparison continues from another folder after the CSV changed: every method still
        // sees the data the comparison started with (read once, recorded explicitly).
        try "x0,x1,y\n0,0,5\n".write(to: dir.appendingPathComponent("data/points.csv"), atomically: true, encoding: .utf8)
        let elsewhere = dir.appendingPathComponent("data")
        let resumed = try runReluflow(["compare", "--resume", "../cmp", "--quiet"], in: elsewhere)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let gdData = try Data(contentsOf: folder.appendingPathComponent("gd/data.csv"))
        for method in ["flow", "adam"] {
            XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("\(method)/data.csv")), gdData, method)
            let origin = ((try json("\(method)/config.json")["data"] as? [String: Any])?["origin"] as? [String: Any])?["csv"] as? String
            XCTAssertEqual(origin, "data/points.csv", method)
        }
        let done = try json("compare.json")
        XCTAssertEqual(done["status"] as? String, "completed")
        XCTAssertEqual(done["methods"] as? [String], ["gd", "flow", "adam"])
        XCTAssertEqual((done["flow"] as? [String: Any])?["finalTime"] as? Double, 3e4)
        // The flows' work budget given on the command line is kept in resume.json for the resumed flow.
        XCTAssertEqual((done["flow"] as? [String: Any])?["maxRhsEvaluations"] as? Int, 50_000_000)
        XCTAssertEqual(try RunConfig.load(path: folder.appendingPathComponent("flow/config.json").path).flow.maxRhsEvaluations, 50_000_000)
        XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("gd/trajectory.csv")), gdTrajectory)
        var before = stopped["gd"] as! [String: Any], after = done["gd"] as! [String: Any]
        before["wallSeconds"] = nil
        after["wallSeconds"] = nil
        XCTAssertEqual(NSDictionary(dictionary: before), NSDictionary(dictionary: after))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("resume.json").path))
        for name in ["comparison.csv", "comparison.svg", "wall_times.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path), name)
        }
        let again = try runReluflow(["compare", "--resume", "cmp"], in: dir)
        XCTAssertEqual(again.status, 2, again.stderr)
        XCTAssertTrue(again.stderr.contains("completed comparison"), again.stderr)
    }

    func testInterruptThenResume() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = ["simulate", "--example", "two-d", "--stepper", "rk8pd", "--T", "1e7", "--out", "long", "--quiet"]
        process.currentDirectoryURL = dir
        process.standardOutput = Pipe()
        let err = Pipe()
        process.standardError = err
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 130, message)
        XCTAssertTrue(message.contains("--resume"), message)
        let folder = dir.appendingPathComponent("long")
        // Summaries are read with JSONDecoder: Foundation's JSONSerialization on Linux can misread the
        // last digit of a number, which made this test flaky.
        func summary() throws -> RunSummary {
            try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: folder.appendingPathComponent("summary.json")))
        }
        let before = try summary()
        XCTAssertEqual(before.status, .interrupted)
        let stopped = before.finalTime
        XCTAssertGreaterThanOrEqual(stopped, 0)
        let target = stopped + 20

        let resumed = try runReluflow(["simulate", "--resume", "long", "--T", "\(target)", "--quiet"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let after = try summary()
        // The line gives this part's wall time and the whole run's, labelled (it gave the total
        // alone, which read as this part's): the total is summary.json's wallSeconds, this part's
        // the total less the interrupted part's (both to the printed 3 digits, 5e-3 relative, and
        // 2e-3 s for the part: the two summaries' times are rounded separately).
        let numbers = try XCTUnwrap(resumed.stdout.firstMatch(of: /, ([0-9.e+-]+) s this part, ([0-9.e+-]+) s in all 2 parts\n/), resumed.stdout)
        let part = try XCTUnwrap(Double(numbers.1)), total = try XCTUnwrap(Double(numbers.2))
        XCTAssertEqual(total, after.wallSeconds, accuracy: 5e-3 * after.wallSeconds)
        XCTAssertEqual(part, after.wallSeconds - before.wallSeconds, accuracy: 5e-3 * after.wallSeconds + 2e-3)
        XCTAssertLessThan(part, total)
        XCTAssertEqual(after.status, .completed)
        XCTAssertEqual(after.finalTime, target)
        XCTAssertGreaterThanOrEqual(after.events, before.events)
        XCTAssertLessThan(after.invariantDrift ?? .nan, 1e-9)
        XCTAssertLessThan(after.dissipationDefect, 1e-8)
        // Times in the merged trajectory increase.
        let rows = try String(contentsOf: folder.appendingPathComponent("trajectory.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        let times = rows.map { Double($0.split(separator: ",")[0])! }
        XCTAssertEqual(times, times.sorted())
        // Resuming a finished run without a larger T is bad input.
        let again = try runReluflow(["simulate", "--resume", "long", "--quiet"], in: dir)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("--T"), again.stderr)
    }
}
