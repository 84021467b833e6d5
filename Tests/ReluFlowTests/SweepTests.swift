import Foundation
import XCTest
@testable import ReluFlow

/// `reluflow sweep` and `collect` (issue 19): expansion, ids and hashes, bad input, the local
/// executor interrupted and resumed, shards, locks, collect.
final class SweepTests: XCTestCase {
    // MARK: Helpers

    /// A sweep grid file in `dir`.
    func writeGrid(_ text: String, in dir: URL, name: String = "grid.json") throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func parse(_ text: String, folder: String = "/tmp") throws -> SweepGrid {
        try SweepGrid.parse(Data(text.utf8), source: "grid.json", folder: folder)
    }

    func table(_ path: URL) throws -> [[String: String]] { try sweepTable(path) }
    func isTiming(_ column: String) -> Bool { isTimingColumn(column) }
    func assertSameTable(_ a: [[String: String]], _ b: [[String: String]], file: StaticString = #filePath, line: UInt = #line) {
        assertSameSweepTable(a, b, file: file, line: line)
    }

    // MARK: Ids and hashes

    /// The id hash is fixed by its definition: values from a Python transcription (FNV-1a 64 over
    /// the UTF-8 bytes, SplitMix64's finaliser) of `stableHash`, and of `json.dumps(sort_keys=True,
    /// separators=(',', ':'), ensure_ascii=False)` for the canonical text.
    func testStableHashAndRunIDAgreeWithPythonTranscription() throws {
        XCTAssertEqual(stableHash(""), "f52a15e9a9b5e89b")
        XCTAssertEqual(stableHash("hello"), "16fe05a1c75bcd0f")
        XCTAssertEqual(SweepGrid.runID(paths: ["train.method", "network.init.seed"], values: [.string("gd"), .number(0)]), "fc568881b060a3b8")
        XCTAssertEqual(SweepGrid.runID(paths: ["flow.T", "data.target.function"], values: [.number(1e3), .string("sin(pi*x) ü")]), "2437f41185539e6c")
        // Canonical numbers: 1000, 1e3 and 1000.0 are one value; 0.1 its shortest form.
        let a = try JSONValue.parse(Data("{\"b\":[1000.0,1e-1],\"a\":{\"y\":true,\"x\":null}}".utf8), source: "t")
        XCTAssertEqual(a.canonical, "{\"a\":{\"x\":null,\"y\":true},\"b\":[1000,0.1]}")
        // −0 (a data value such as sin(π·0)·(−1)) reads back with its sign.
        let z = try JSONValue.parse(Data("[-0, 0, -0.0]".utf8), source: "t")
        XCTAssertEqual(z.canonical, "[-0,0,-0]")
        guard case .array(let zs) = try JSONValue.parse(Data(z.canonical.utf8), source: "t") else { return XCTFail("not an array") }
        XCTAssertEqual(zs.map { (v: JSONValue) -> FloatingPointSign? in if case .number(let d) = v { return d.sign } else { return nil } }, [.minus, .plus, .minus])
    }

    func testProductAndZipCountsAndStableIDs() throws {
        let product = try parse("""
            {"command": "train", "base": {"example": "sine", "train": {"iterations": 5}},
             "axes": {"network.init.seed": [0, 1, 2], "train.method": ["gd", "adam"], "network.width": [3, 4]}}
            """)
        XCTAssertEqual(product.count, 12)
        let m1 = try product.expand()
        XCTAssertEqual(m1.runs.count, 12)
        XCTAssertEqual(Set(m1.runs.map(\.id)).count, 12)
        // Last axis fastest (itertools.product order).
        XCTAssertEqual(m1.runs[1].values, [.number(0), .string("gd"), .number(4)])
        XCTAssertEqual(m1.runs[2].values, [.number(0), .string("adam"), .number(3)])
        // Again, from the same text: the same manifest, bytes and all.
        XCTAssertEqual(try product.expand().encoded(), m1.encoded())
        // Axes in another order, values in another order, more values: the same runs keep their ids and hashes.
        let reordered = try parse("""
            {"command": "train", "base": {"example": "sine", "train": {"iterations": 5}},
             "axes": {"train.method": ["adam", "gd"], "network.width": [4, 3], "network.init.seed": [2, 1, 0, 7]}}
            """).expand()
        XCTAssertEqual(reordered.runs.count, 16)
        let byID = Dictionary(uniqueKeysWithValues: reordered.runs.map { ($0.id, $0.hash) })
        for run in m1.runs { XCTAssertEqual(byID[run.id], run.hash, "run \(run.id)") }

        let zipped = try parse("""
            {"command": "simulate", "base": {"example": "sine", "flow": {"T": 10}}, "mode": "zip",
             "axes": {"network.init.seed": [0, 1, 2], "network.width": [3, 4, 5]}}
            """)
        XCTAssertEqual(zipped.count, 3)
        XCTAssertEqual(try zipped.expand().runs.map(\.values), [[.number(0), .number(3)], [.number(1), .number(4)], [.number(2), .number(5)]])
        // No axes: one run, the base.
        XCTAssertEqual(try parse("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}}").expand().runs.count, 1)
    }

    /// The hash is that of the resolved config: equal exactly when the run is the same run.
    func testHashChangesExactlyWhenResolvedConfigChanges() throws {
        func hash(_ base: String, _ axes: String = "{}", command: String = "simulate") throws -> String {
            try parse("{\"command\": \"\(command)\", \"base\": \(base), \"axes\": \(axes)}").expand().runs[0].hash
        }
        let plain = try hash("{\"example\": \"sine\", \"flow\": {\"T\": 100}}")
        // Defaults written out, the same value set by an axis, or given as 1e2: the same run.
        XCTAssertEqual(try hash("{\"example\": \"sine\", \"flow\": {\"T\": 1e2, \"rtol\": 1e-10, \"stepper\": \"auto\"}}"), plain)
        XCTAssertEqual(try hash("{\"example\": \"sine\"}", "{\"flow.T\": [100]}"), plain)
        // The same points given explicitly instead of by the target (data.origin is provenance only).
        let (_, resolved) = try Example.named("sine").config.resolve()
        let xs = resolved.data.x!.map { "[\(JSONValue.numberText($0[0]))]" }.joined(separator: ",")
        let ys = resolved.data.y!.map { JSONValue.numberText($0) }.joined(separator: ",")
        XCTAssertEqual(try hash("{\"example\": \"sine\", \"data\": {\"x\": [\(xs)], \"y\": [\(ys)]}, \"flow\": {\"T\": 100}}"), plain)
        // Anything that changes the run changes the hash.
        for change in ["{\"example\": \"sine\", \"flow\": {\"T\": 101}}",
                       "{\"example\": \"sine\", \"flow\": {\"T\": 100, \"rtol\": 1e-9}}",
                       "{\"example\": \"sine\", \"flow\": {\"T\": 100, \"samples\": {\"count\": 401}}}",
                       "{\"example\": \"sine\", \"network\": {\"init\": {\"seed\": 1}}, \"flow\": {\"T\": 100}}",
                       "{\"example\": \"sine\", \"data\": {\"target\": {\"function\": \"sin(pi*x)\", \"m\": 21, \"range\": [-1, 1]}}, \"flow\": {\"T\": 100}}"] {
            XCTAssertNotEqual(try hash(change), plain, change)
        }
        // A train run: the default learning rate is resolved (1/ρ_H), so writing it out is the same run.
        let gd = try hash("{\"example\": \"sine\", \"train\": {\"iterations\": 10}}", command: "train")
        let (_, trained) = try RunConfig.decode(Data("{\"data\": {\"target\": {\"function\": \"sin(pi*x)\", \"m\": 20, \"range\": [-1, 1]}}, \"network\": {\"width\": 10, \"init\": {\"scheme\": \"he\", \"seed\": 0, \"scale\": 1, \"biasScale\": 0.1}}, \"train\": {\"iterations\": 10}}".utf8)).resolve()
        XCTAssertEqual(try hash("{\"example\": \"sine\", \"train\": {\"iterations\": 10, \"lr\": \(trained.train!.lr!)}}", command: "train"), gd)
        XCTAssertNotEqual(try hash("{\"example\": \"sine\", \"train\": {\"iterations\": 10, \"lr\": 0.01}}", command: "train"), gd)
    }

    func testShardsPartitionAndEnvironment() throws {
        for n in 1...7 {
            var seen = [Int](repeating: 0, count: 50)
            for i in 0..<n {
                let shard = try SweepShard(parsing: "\(i)/\(n)")
                for k in 0..<50 where shard.contains(k) { seen[k] += 1 }
            }
            XCTAssertEqual(seen, [Int](repeating: 1, count: 50), "N = \(n)")
        }
        XCTAssertEqual(try SweepShard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "5"]), SweepShard(index: 2, count: 5))
        XCTAssertEqual(try SweepShard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13"]),
                       SweepShard(index: 2, count: 4))
        XCTAssertEqual(try SweepShard.fromEnvironment(["SGE_TASK_ID": "3", "SGE_TASK_FIRST": "1", "SGE_TASK_LAST": "4", "SGE_TASK_STEPSIZE": "1"]),
                       SweepShard(index: 2, count: 4))
        XCTAssertNil(try SweepShard.fromEnvironment(["PATH": "/bin"]))
        XCTAssertThrowsError(try SweepShard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "5"])) {
            XCTAssertEqual(($0 as? InputError)?.field, "SLURM_ARRAY_TASK_ID")
        }
        // PBS (Pro: PBS_ARRAY_INDEX, Torque: PBS_ARRAYID) gives the index only: with --shards N, the
        // tasks of any N consecutive indices (0-9, 1-10, 5-14) run each shard exactly once.
        for variable in ["PBS_ARRAY_INDEX", "PBS_ARRAYID"] {
            for first in [0, 1, 5] {
                let n = 4
                let shards = try (first..<(first + n)).map { try XCTUnwrap(SweepShard.fromEnvironment([variable: "\($0)"], pbsCount: n)) }
                XCTAssertEqual(shards.map(\.count), [n, n, n, n])
                XCTAssertEqual(Set(shards.map(\.index)), Set(0..<n), "\(variable) from \(first)")
            }
            XCTAssertThrowsError(try SweepShard.fromEnvironment([variable: "3"])) {
                XCTAssertEqual(($0 as? InputError)?.field, "--shards")
                XCTAssertTrue("\($0)".contains(variable), "\($0)")
            }
            XCTAssertThrowsError(try SweepShard.fromEnvironment([variable: "x"], pbsCount: 2)) { XCTAssertEqual(($0 as? InputError)?.field, variable) }
        }
        // Slurm's variables win over PBS's when both are set (a Slurm job with PBS compatibility).
        XCTAssertEqual(try SweepShard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3", "PBS_ARRAYID": "0"], pbsCount: 5),
                       SweepShard(index: 1, count: 3))
        for bad in ["3/3", "-1/3", "0/0", "1", "a/b"] {
            XCTAssertThrowsError(try SweepShard(parsing: bad)) { XCTAssertEqual(($0 as? InputError)?.field, "--shard", bad) }
        }
    }

    /// numpy.quantile(xs, p) (linear): [1, 2, 4, 8] → q1 1.75, median 3, q3 5.
    func testQuantilesAreNumpyLinear() {
        XCTAssertEqual(SweepCollection.quantile([1, 2, 4, 8], 0.25), 1.75)
        XCTAssertEqual(SweepCollection.quantile([1, 2, 4, 8], 0.5), 3)
        XCTAssertEqual(SweepCollection.quantile([1, 2, 4, 8], 0.75), 5)
        XCTAssertEqual(SweepCollection.quantile([7], 0.25), 7)
    }

    /// Shards of one sweep run side by side (a Slurm array's tasks) and share its work folder. A
    /// shard that has finished must leave it: another shard between two of its runs has it empty for
    /// a moment, and removing it then made that shard's next config write fail ("cannot write
    /// …/.work/ID.json: No such file or directory", seen once in SlurmTests on a loaded machine). The
    /// whole sweep, run after the shard, removes it.
    func testAShardLeavesTheSharedWorkFolder() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("{\"command\": \"train\", \"base\": {\"example\": \"sine\", \"network\": {\"width\": 3}, \"train\": {\"iterations\": 5}}, \"axes\": {\"network.init.seed\": [0, 1]}}", in: dir)
        let work = dir.appendingPathComponent("s/.work").path
        var r = try runReluflow(["sweep", grid, "--out", "s", "--shard", "0/2", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work), "a shard removed the work folder other shards share")
        r = try runReluflow(["sweep", grid, "--out", "s", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work), "the whole sweep left its work folder")
    }

    // MARK: Bad input (exit 2, the field named)

    func testBadInputNamesTheField() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            ("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}, \"axes\": {\"network.widht\": [3, 4]}}", "axes.network.widht"),
            ("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}, \"mode\": \"zip\", \"axes\": {\"network.width\": [3, 4], \"network.init.seed\": [0, 1, 2]}}", "axes.network.init.seed"),
            ("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}, \"axes\": {\"network.width\": []}}", "axes.network.width"),
            ("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}, \"axes\": {\"network.width\": [3, 3]}}", "axes.network.width[1]"),
            ("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}, \"axes\": {\"network.width\": [0]}}", "network.width"),
            ("{\"command\": \"fly\", \"base\": {}}", "command"),
            ("{\"command\": \"simulate\", \"base\": {\"example\": \"sine\"}, \"axis\": {}}", "axis"),
        ]
        for (k, (grid, field)) in cases.enumerated() {
            let path = try writeGrid(grid, in: dir, name: "bad\(k).json")
            let r = try runReluflow(["sweep", path, "--out", "s\(k)"], in: dir)
            XCTAssertEqual(r.status, 2, grid)
            XCTAssertTrue(r.stderr.contains("error: \(field):"), "\(field) not named: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("s\(k)").path), "nothing written for a bad grid")
        }
        let good = try writeGrid("{\"command\": \"train\", \"base\": {\"example\": \"sine\", \"network\": {\"width\": 3}, \"train\": {\"iterations\": 5}}, \"axes\": {\"network.init.seed\": [0, 1]}}", in: dir)
        var r = try runReluflow(["sweep", good, "--out", "s", "--shard", "3/3"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--shard: shard 3 is out of range"), r.stderr)
        // A folder that is not a sweep is refused, whatever it holds.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("mine"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("mine/notes.txt"))
        r = try runReluflow(["sweep", good, "--out", "mine"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--out:") && r.stderr.contains("notes.txt"), r.stderr)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("mine/notes.txt"), encoding: .utf8), "x")
        // --slurm without sbatch on PATH: a clear message, and the scripts written.
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = ["sweep", good, "--out", "sl", "--slurm"]
        process.currentDirectoryURL = dir
        process.environment = ["PATH": "/nonexistent", "HOME": dir.path]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 2)
        XCTAssertTrue(message.contains("--slurm: sbatch is not on PATH"), message)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sl/sweep.sbatch").path))
        let script = try String(contentsOf: dir.appendingPathComponent("sl/sweep.sbatch"), encoding: .utf8)
        XCTAssertTrue(script.contains("#SBATCH --array=0-1\n") && script.contains(" sweep \(good) --out ") && script.contains("--jobs \"${SLURM_CPUS_PER_TASK:-1}\""), script)
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("sl/collect.sbatch"), encoding: .utf8).contains(" collect "))
        // A run folder is not a sweep folder, and a sweep folder is not replaced by a run.
        r = try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "arun", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try runReluflow(["sweep", good, "--out", "arun"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--out:") && r.stderr.contains("not a sweep"), r.stderr)
        r = try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "sl", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sl/manifest.json").path))
        // The refusal says what the folder is; it does not call the sweep's own entries (its locks,
        // runs/) foreign.
        XCTAssertTrue(r.stderr.contains("--out:") && r.stderr.contains("is a ReluFlow sweep folder"), r.stderr)
        XCTAssertFalse(r.stderr.contains("did not write") || r.stderr.contains("not written by"), r.stderr)
        r = try runReluflow(["collect", "arun"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("not a sweep folder"), r.stderr)
        // A user's own folder (no marker) is bad input too, as for analyze and plot, not exit 3.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("own"), withIntermediateDirectories: true)
        try Data("mine\n".utf8).write(to: dir.appendingPathComponent("own/notes.txt"))
        r = try runReluflow(["collect", "own"], in: dir)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("DIR:") && r.stderr.contains("not a ReluFlow sweep folder"), r.stderr)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("own/notes.txt"), encoding: .utf8), "mine\n")
        // A changed grid is refused; one that adds runs needs --extend, then runs only the new ones.
        r = try runReluflow(["sweep", good, "--out", "s", "--jobs", "2", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let changed = try writeGrid("{\"command\": \"train\", \"base\": {\"example\": \"sine\", \"network\": {\"width\": 3}, \"train\": {\"iterations\": 6}}, \"axes\": {\"network.init.seed\": [0, 1]}}", in: dir, name: "changed.json")
        r = try runReluflow(["sweep", changed, "--out", "s", "--extend"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("GRID: is not the grid of the sweep") && r.stderr.contains("different resolved config"), r.stderr)
        // … and says where the grid file differs from the sweep's grid.json.
        XCTAssertTrue(r.stderr.contains("differs from the sweep's grid.json at base.train.iterations: 5 → 6"), r.stderr)
        let more = try writeGrid("{\"command\": \"train\", \"base\": {\"example\": \"sine\", \"network\": {\"width\": 3}, \"train\": {\"iterations\": 5}}, \"axes\": {\"network.init.seed\": [0, 1, 2]}}", in: dir, name: "more.json")
        r = try runReluflow(["sweep", more, "--out", "s"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("adds 1 run(s)") && r.stderr.contains("--extend"), r.stderr)
        // The sweep's figure and tables of the two runs, then --extend: they no longer describe the
        // sweep, so they are removed (with a note), and collect and plot write them again for three runs.
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        r = try runReluflow(["plot", "s", "--figure", "finalLoss", "--against", "network.init.seed"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("s/sweep.svg"), encoding: .utf8).contains("(2 runs)"))
        r = try runReluflow(["sweep", more, "--out", "s", "--extend", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("3 runs: 1 ran, 2 already complete"), r.stdout)
        XCTAssertTrue(r.stderr.contains("removed sweep.csv, groups.csv, sweep.svg of the sweep before --extend"), r.stderr)
        for name in ["sweep.svg", "sweep.csv", "groups.csv"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("s/\(name)").path), name)
        }
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        XCTAssertEqual(try table(dir.appendingPathComponent("s/sweep.csv")).count, 3)
        r = try runReluflow(["plot", "s", "--figure", "finalLoss", "--against", "network.init.seed"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("s/sweep.svg"), encoding: .utf8).contains("(3 runs)"))
        // A figure the user changed is theirs: an extension leaves it (and a later plot refuses to replace it).
        let edited = dir.appendingPathComponent("s/sweep.svg")
        try Data("<svg/>".utf8).write(to: edited)
        let evenMore = try writeGrid("{\"command\": \"train\", \"base\": {\"example\": \"sine\", \"network\": {\"width\": 3}, \"train\": {\"iterations\": 5}}, \"axes\": {\"network.init.seed\": [0, 1, 2, 3]}}", in: dir, name: "evenmore.json")
        r = try runReluflow(["sweep", evenMore, "--out", "s", "--extend", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try String(contentsOf: edited, encoding: .utf8), "<svg/>")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("s/sweep.csv").path))

        // In a PBS array job (PBS_ARRAYID, Torque; PBS_ARRAY_INDEX, PBS Pro) the shard is the task's
        // index mod --shards; without --shards the sweep is refused naming it.
        func pbs(_ arguments: [String], index: String) throws -> (Int32, String, String) {
            let process = Process()
            process.executableURL = reluflowExecutable()
            process.arguments = arguments
            process.currentDirectoryURL = dir
            process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": dir.path, "PBS_ARRAYID": index]
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, o, e)
        }
        var (status, out, errors) = try pbs(["sweep", good, "--out", "p", "--quiet"], index: "2")
        XCTAssertEqual(status, 2)
        XCTAssertTrue(errors.contains("--shards:") && errors.contains("PBS_ARRAYID = 2"), errors)
        // Refused before the sweep folder is made (a refused command leaves nothing behind).
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("p").path))
        r = try runReluflow(["sweep", good, "--out", "z", "--slurm", "--dry-run", "--shards", "0"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--shards: must be at least 1"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("z").path))
        (status, out, errors) = try pbs(["sweep", good, "--out", "p", "--quiet", "--shards", "2"], index: "2")
        XCTAssertEqual(status, 0, errors)
        XCTAssertTrue(out.contains("(shard 0/2): 1 runs: 1 ran"), out)
        (status, out, errors) = try pbs(["sweep", good, "--out", "p", "--quiet", "--shards", "2"], index: "1")
        XCTAssertEqual(status, 0, errors)
        XCTAssertTrue(out.contains("(shard 1/2): 1 runs: 1 ran, 0 already complete"), out)
        r = try runReluflow(["sweep", good, "--out", "p", "--shards", "2"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--shards: belongs to --slurm, or to a PBS array job"), r.stderr)
    }

    /// summary.json records the flow a run integrated (`flow.kind`), and a deep adaptive flow's
    /// balance drift is null with a note (the balance is an invariant of the gradient flow only,
    /// SPEC §7; a new-user trial read `balance.maxDrift` 7.27 of an RMSProp-flow run as an error).
    /// A sweep over `flow.kind` on the deep reference case rmsprop-deep (T = 5): one `flow.kind`
    /// column (the axis; the figure of the same name is not repeated), `balance.maxDrift` empty
    /// with `balance.note` for the RMSProp flow, below 1e-10 for the gradient flow (rtol 1e-12 over
    /// 30 steps or so; DeepFlowTests bounds it by steps × 64 ε × max|q|); a training run's summary
    /// has no `flow`.
    func testFlowKindRecordedAndAdaptiveBalanceDriftNull() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var base = try JSONSerialization.jsonObject(with: Data(contentsOf: DeepFlowTests.cases.appendingPathComponent("rmsprop-deep.json"))) as! [String: Any]
        base["flow"] = ["T": 5, "rtol": 1e-12, "atol": 1e-14]
        let grid: [String: Any] = ["command": "simulate", "base": base, "axes": ["flow.kind": ["gradient", "rmsprop"]]]
        try JSONSerialization.data(withJSONObject: grid).write(to: dir.appendingPathComponent("grid.json"))
        var r = try runReluflow(["sweep", "grid.json", "--out", "sw", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try runReluflow(["collect", "sw"], in: dir).status, 0)
        let table = try sweepTable(dir.appendingPathComponent("sw/sweep.csv"))
        let header = try String(contentsOf: dir.appendingPathComponent("sw/sweep.csv"), encoding: .utf8).split(separator: "\n")[0]
        XCTAssertEqual(header.split(separator: ",").filter { $0 == "flow.kind" }.count, 1, String(header))
        XCTAssertEqual(table.map { $0["flow.kind"] }, ["gradient", "rmsprop"])
        XCTAssertLessThan(try XCTUnwrap(Double(table[0]["balance.maxDrift"] ?? "")), 1e-10)
        XCTAssertEqual(table[0]["balance.note"], "")
        XCTAssertEqual(table[1]["balance.maxDrift"], "")
        XCTAssertTrue(table[1]["balance.note"]?.contains("not an invariant of the rmsprop flow") == true, "\(table[1])")
        for row in table {
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("sw/runs/\(row["id"]!)/summary.json"))) as! [String: Any]
            XCTAssertEqual((summary["flow"] as? [String: Any])?["kind"] as? String, row["flow.kind"])
            let balance = try XCTUnwrap(summary["balance"] as? [String: Any])
            XCTAssertEqual(balance["maxDrift"] is NSNull, row["flow.kind"] == "rmsprop", "\(balance)")
            XCTAssertEqual((balance["initial"] as? [Double])?.count, (balance["final"] as? [Double])?.count)
            let decoded = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("sw/runs/\(row["id"]!)/summary.json")))
            XCTAssertEqual(decoded.flow?.kind, row["flow.kind"])
            XCTAssertEqual(decoded.balance?.maxDrift == nil, row["flow.kind"] == "rmsprop")
        }
        r = try runReluflow(["train", "--example", "sine", "--iterations", "5", "--out", "t", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let trained = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("t/summary.json"))) as! [String: Any]
        XCTAssertNil(trained["flow"])
    }

    /// The sweep's closing line counts the runs it continued from their checkpoints (a new-user
    /// trial saw "1 ran" and could not tell a resumed run from a fresh one): one long run (two-d,
    /// rk8pd, T = 30 000: about 10 s in the debug build under load, 4 s idle; T = 1000 took 7 s
    /// before the field became one C call, 0.6 s after, and finished before the signal) stopped by
    /// SIGINT after 1.5 s is written as interrupted; the rerun continues it and says so, and its
    /// table has 2 segments.
    func testClosingLineCountsContinuedRuns() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid(#"{"command": "simulate", "base": {"example": "two-d", "flow": {"T": 30000, "stepper": "rk8pd"}}, "axes": {"network.init.seed": [0]}}"#, in: dir)
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = ["sweep", grid, "--out", "sw", "--jobs", "1", "--quiet"]
        process.currentDirectoryURL = dir
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        let r = try runReluflow(["sweep", grid, "--out", "sw", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("1 runs: 1 ran (1 of them continued from their checkpoints), 0 already complete"), r.stdout)
        XCTAssertEqual(try runReluflow(["collect", "sw"], in: dir).status, 0)
        XCTAssertEqual(try table(dir.appendingPathComponent("sw/sweep.csv")).map { $0["segments"] }, ["2"])
    }

    // MARK: Executor

    /// A failed run is recorded, the sweep goes on, exits 1 with a summary; a rerun does not run
    /// it again unless --retry-failed.
    func testFailuresRecordedAndRetriedOnlyWhenAsked() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // maxEvents 1: the sine run fails at its second event (exit 1, its folder written as failed).
        let grid = try writeGrid("""
            {"command": "simulate", "base": {"example": "sine", "network": {"width": 3}, "flow": {"T": 20, "samples": {"count": 20}}},
             "axes": {"flow.maxEvents": [1, 1000000]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "s", "--jobs", "2", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("2 runs: 1 ran, 0 already complete, 1 failed"), r.stdout)
        XCTAssertTrue(r.stdout.contains("failed ") && r.stdout.contains("flow.maxEvents = 1"), r.stdout)
        r = try runReluflow(["sweep", grid, "--out", "s", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("0 ran, 1 already complete, 1 failed") && r.stdout.contains("--retry-failed"), r.stdout)
        r = try runReluflow(["sweep", grid, "--out", "s", "--quiet", "--retry-failed"], in: dir)
        XCTAssertEqual(r.status, 1)
        // The closing line says the failed run was run again (a new user read "0 ran" as "not retried").
        XCTAssertTrue(r.stdout.contains("0 ran, 1 already complete, 1 failed (1 retried and failed again)"), r.stdout)
        r = try runReluflow(["collect", "s"], in: dir)
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("partial: 1 of 2 runs not complete") && r.stderr.contains("(failed)"), r.stderr)
        let rows = try table(dir.appendingPathComponent("s/sweep.csv"))
        XCTAssertEqual(rows.map { $0["status"] }, ["failed", "completed"])
    }

    /// A run that failed for a reason since removed (here a foreign file where its folder goes,
    /// which the worker refuses to replace: exit 2, the file kept) completes with --retry-failed,
    /// and the closing line says it was retried; without the flag it is reported, not rerun.
    func testRetryFailedCompletesARunWhoseCauseIsGone() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("""
            {"command": "simulate", "base": {"example": "sine", "network": {"width": 3}, "flow": {"T": 5, "samples": {"count": 20}}},
             "axes": {"network.init.seed": [0, 1]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "s", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let runs = dir.appendingPathComponent("s/runs")
        let id = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { !$0.hasPrefix(".") }.sorted().first)
        let blocked = runs.appendingPathComponent(id)
        try FileManager.default.removeItem(at: blocked)
        try Data("a user's file\n".utf8).write(to: blocked)
        r = try runReluflow(["sweep", grid, "--out", "s", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("0 ran, 1 already complete, 1 failed") && r.stdout.contains("refusing to replace"), r.stdout)
        XCTAssertEqual(try String(contentsOf: blocked, encoding: .utf8), "a user's file\n")
        let record = dir.appendingPathComponent("s/failures/\(id).txt").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: record))
        try FileManager.default.removeItem(at: blocked)
        r = try runReluflow(["sweep", grid, "--out", "s", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("failed earlier") && r.stdout.contains("--retry-failed"), r.stdout)
        r = try runReluflow(["sweep", grid, "--out", "s", "--quiet", "--retry-failed"], in: dir)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("2 runs: 1 ran (1 retried after an earlier failure), 1 already complete, 0 failed"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: record))
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        XCTAssertEqual(try table(dir.appendingPathComponent("s/sweep.csv")).map { $0["status"] }, ["completed", "completed"])
    }

    /// Shards 0/3, 1/3, 2/3 run separately into one folder collect to the unsharded sweep's table;
    /// two executors of the whole sweep at once on one folder run each run once between them (the locks).
    func testShardsUnionEqualsUnshardedAndLocksShareWork() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("""
            {"command": "train", "base": {"example": "sine", "network": {"width": 4}, "train": {"iterations": 200}},
             "axes": {"network.init.seed": [0, 1, 2], "train.method": ["gd", "adam"]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "whole", "--jobs", "2", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try runReluflow(["collect", "whole", "--by", "train.method"], in: dir).status, 0)
        for i in 0..<3 {
            r = try runReluflow(["sweep", grid, "--out", "sharded", "--shard", "\(i)/3", "--jobs", "1", "--quiet"], in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("(shard \(i)/3): 2 runs: 2 ran"), r.stdout)
            if i == 0 {
                r = try runReluflow(["collect", "sharded"], in: dir)
                XCTAssertTrue(r.stderr.contains("4 of 6 runs not complete"), r.stderr)
            }
        }
        XCTAssertEqual(try runReluflow(["collect", "sharded", "--by", "train.method"], in: dir).status, 0)
        assertSameTable(try table(dir.appendingPathComponent("whole/sweep.csv")), try table(dir.appendingPathComponent("sharded/sweep.csv")))
        let groups = try table(dir.appendingPathComponent("whole/groups.csv"))
        XCTAssertEqual(groups.map { $0["train.method"] }, ["gd", "adam"])
        XCTAssertEqual(groups.map { $0["runs"] }, ["3", "3"])

        // Two executors at once.
        func start(_ out: String) throws -> (Process, Pipe) {
            let p = Process()
            p.executableURL = reluflowExecutable()
            p.arguments = ["sweep", grid, "--out", out, "--jobs", "1", "--quiet"]
            p.currentDirectoryURL = dir
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = Pipe()
            try p.run()
            return (p, pipe)
        }
        let (a, ao) = try start("twice"), (b, bo) = try start("twice")
        let texts = [ao, bo].map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        a.waitUntilExit()
        b.waitUntilExit()
        XCTAssertEqual([a.terminationStatus, b.terminationStatus], [0, 0], texts.joined())
        let ran = texts.map { text -> Int in
            guard let range = text.range(of: #"(\d+) ran"#, options: .regularExpression) else { return -100 }
            return Int(text[range].split(separator: " ")[0]) ?? -100
        }
        XCTAssertEqual(ran.reduce(0, +), 6, "each run once between the two executors: \(texts)")
        XCTAssertEqual(try runReluflow(["collect", "twice"], in: dir).status, 0)
        assertSameTable(try table(dir.appendingPathComponent("whole/sweep.csv")), try table(dir.appendingPathComponent("twice/sweep.csv")))
    }

    /// --analyze: every run analysed; collect adds the verdict's figures and one row per plateau
    /// (the `plateaus` example: 4 plateaus, the same as the run's own plateaus.csv); plot draws a
    /// figure against an axis.
    func testAnalyzeCollectPlateausAndPlot() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("""
            {"command": "simulate", "base": {"example": "plateaus", "flow": {"T": 1e4, "samples": {"count": 100}}},
             "axes": {"network.init.seed": [7], "network.init.scale": [1, 0.5]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "s", "--analyze", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try runReluflow(["collect", "s", "--by", "network.init.scale"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("sweep_plateaus.csv"), r.stdout)
        let rows = try table(dir.appendingPathComponent("s/sweep.csv"))
        XCTAssertEqual(rows.first?["analysis.plateaus"], "4")
        let plateaus = try table(dir.appendingPathComponent("s/sweep_plateaus.csv")).filter { $0["id"] == rows.first?["id"] }
        XCTAssertEqual(plateaus.map { $0["plateau"] }, ["0", "1", "2", "3"])
        XCTAssertEqual(plateaus.map { $0["terminal"] }, ["false", "false", "false", "true"])
        XCTAssertEqual(plateaus.first?["exitForecastHeld"], "true")
        // The same numbers as the run's own analysis.
        let own = try table(dir.appendingPathComponent("s/runs/\(rows[0]["id"]!)/plateaus.csv"))
        XCTAssertEqual(plateaus.map { $0["tStart"] }, own.map { $0["tStart"] })
        XCTAssertEqual(plateaus.map { $0["patternFloor"] }, own.map { $0["patternFloor"] })
        XCTAssertEqual(try table(dir.appendingPathComponent("s/groups.csv")).map { $0["network.init.scale"] }, ["1", "0.5"])
        r = try runReluflow(["plot", "s", "--figure", "finalLoss", "--against", "network.init.scale"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let svg = try String(contentsOf: dir.appendingPathComponent("s/sweep.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("data-name=\"median\"") && svg.contains("data-name=\"run\""))
        r = try runReluflow(["plot", "s", "--figure", "nothing", "--against", "network.init.scale"], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--figure: no completed run has the figure 'nothing'"), r.stderr)
    }

    /// A `curvature` sweep: its runs count as complete by their `curvature.json` (which has no
    /// status), are skipped on a rerun, and `collect` tabulates curvature.json's figures, equal to
    /// each run's own file.
    func testCurvatureSweepCollectsCurvatureFigures() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("""
            {"command": "curvature",
             "base": {"data": {"target": {"function": "sin(pi*x)", "m": 16, "range": [-1, 1]}},
                      "network": {"layers": [1, 4, 4, 1], "activation": "relu", "bias": false, "init": {"scheme": "he", "seed": 0}}},
             "axes": {"network.init.scheme": ["he", "xavier"], "network.init.seed": [0, 1]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "s", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try runReluflow(["sweep", grid, "--out", "s"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("0 ran, 4 already complete"), r.stdout + r.stderr)
        r = try runReluflow(["collect", "s"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try table(dir.appendingPathComponent("s/sweep.csv"))
        XCTAssertEqual(rows.map { $0["status"] }, Array(repeating: "completed", count: 4))
        for row in rows {
            let own = try JSONValue.parse(Data(contentsOf: dir.appendingPathComponent("s/runs/\(row["id"]!)/curvature.json")), source: "curvature.json")
            guard case .number(let lambda)? = own["lambdaMax"] else { return XCTFail("no lambdaMax in \(row["id"]!)") }
            XCTAssertEqual(Double(row["lambdaMax"] ?? ""), lambda)
            XCTAssertEqual(row["parameters"], "24")
        }
        // A figure against an axis whose values are not numbers: the values as categories, in the
        // grid's order, each labelled; the medians at two distinct positions.
        r = try runReluflow(["plot", "s", "--figure", "lambdaMax", "--against", "network.init.scheme"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let svg = try String(contentsOf: dir.appendingPathComponent("s/sweep.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("as categories"), "caption")
        let he = svg.range(of: "he&quot;<") ?? svg.range(of: "\"he\"<"), xavier = svg.range(of: "xavier")
        XCTAssertNotNil(he, "the category he is labelled")
        XCTAssertNotNil(xavier, "the category xavier is labelled")
        if let he, let xavier { XCTAssertLessThan(he.lowerBound, xavier.lowerBound, "in the grid's order") }
        // Its configs are resolved before anything runs: a bad axis or value is exit 2 naming it.
        for (axes, field) in [(#"{"network.activaton": ["relu"]}"#, "network.activaton"), (#"{"network.layers": [[1, 0, 1]]}"#, "network.layers[1]")] {
            let bad = try writeGrid(#"{"command": "curvature", "base": {"data": {"target": {"function": "x", "m": 4, "range": [-1, 1]}}, "network": {"layers": [1, 2, 1]}}, "axes": "# + axes + "}", in: dir, name: "bad.json")
            r = try runReluflow(["sweep", bad, "--out", "bad", "--quiet"], in: dir)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains(field), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad/runs").path))
        }
    }

    /// A sweep of `curvature` runs computes exactly what the grid mode (`curvature --depths …
    /// --widths … --seeds K`) computes for the same networks: every figure equal as a Double
    /// (bitwise), including a network beyond 4 000 parameters whose λ_max and λ_min come from
    /// Lanczos (its start vector drawn from the init seed in both). The README's curvature tables
    /// come from the sweep (Benchmarks/vanishing-curvature), so this is what makes them the grid's.
    func testCurvatureSweepEqualsGridMode() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let layers = [[1, 1, 1], [1, 3, 1], [1, 3, 3, 1], [1, 64, 64, 1]]
        let grid = try writeGrid("""
            {"command": "curvature",
             "base": {"data": {"target": {"function": "sin(pi*x)", "m": 16, "range": [-1, 1]}},
                      "network": {"layers": [1, 2, 1], "activation": "relu", "bias": false, "init": {"scheme": "xavier", "seed": 0}}},
             "axes": {"network.layers": \(layers), "network.init.seed": [0, 1]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "s", "--quiet", "--jobs", "2"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try runReluflow(["collect", "s", "--by", "network.layers"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        // The grid mode with one OpenBLAS thread, as the sweep's workers have (SweepExecutor.spawn):
        // OpenBLAS's eigenvalues change in their last bits with its thread count (measured: λ_max
        // of the [1, 3, 1] network 0.7852511391890626 with the default threads, …619 with one).
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["OPENBLAS_NUM_THREADS=1", reluflowExecutable().path, "curvature", "--depths", "2,3", "--widths", "1,3,64",
                       "--seeds", "2", "--init", "xavier", "--activation", "relu", "--points", "16", "--out", "g", "--quiet"]
        p.currentDirectoryURL = dir
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let swept = try table(dir.appendingPathComponent("s/sweep.csv"))
        let gridRows = try table(dir.appendingPathComponent("g/curvature.csv"))
        var compared = 0, lanczos = 0
        for g in gridRows {
            let L = Int(g["depth"]!)!, n = Int(g["width"]!)!
            let key = "[" + ([1] + Array(repeating: n, count: L - 1) + [1]).map(String.init).joined(separator: ",") + "]"
            guard let row = swept.first(where: { $0["network.layers"] == key && $0["network.init.seed"] == g["seed"] }) else {
                if layers.contains([1] + Array(repeating: n, count: L - 1) + [1]) { XCTFail("\(key) seed \(g["seed"]!) not in the sweep") }
                continue
            }
            compared += 1
            if g["spectrum"] == "lanczos" { lanczos += 1 }
            XCTAssertEqual(row["spectrum"], g["spectrum"], key)
            XCTAssertEqual(row["outputConstant"], g["dead"], key)
            for k in ["parameters", "loss", "gradNorm", "lambdaMax", "lambdaMin", "trace"] {
                XCTAssertEqual(Double(row[k] ?? "x"), Double(g[k]!), "\(key) seed \(g["seed"]!): \(k)")
            }
            // Known with the full spectrum only: null in curvature.json (an empty cell), nan in curvature.csv.
            if g["spectrum"] == "full" {
                XCTAssertEqual(Double(row["negativeFraction"] ?? "x"), Double(g["negativeFraction"]!), "\(key): negativeFraction")
            } else {
                XCTAssertEqual([row["negativeFraction"], g["negativeFraction"]], ["", "nan"], key)
            }
        }
        XCTAssertEqual(compared, 8)
        XCTAssertEqual(lanczos, 2, "the [1, 64, 64, 1] networks (4 224 parameters) by Lanczos")
        // groups.csv: per layers, the median of the seeds (numpy's linear quantile), the grid's summary.csv median.
        let groups = try table(dir.appendingPathComponent("s/groups.csv"))
        let summary = try table(dir.appendingPathComponent("g/summary.csv"))
        for s in summary {
            let L = Int(s["depth"]!)!, n = Int(s["width"]!)!
            let key = "[" + ([1] + Array(repeating: n, count: L - 1) + [1]).map(String.init).joined(separator: ",") + "]"
            guard let group = groups.first(where: { $0["network.layers"] == key }) else { continue }
            for k in ["gradNorm", "lambdaMax", "trace"] {
                XCTAssertEqual(Double(group["\(k).median"]!), Double(s["\(k)_median"]!), "\(key): \(k) median")
            }
        }
    }

    /// `--extend` removes the escape experiment's tables and figures (`plot --escape`) with the
    /// sweep's other derived files: they describe the runs before it (a tester found escape.csv
    /// still listing the two old runs after an extension to three).
    func testExtendRemovesTheEscapeFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = #"{"data": {"target": {"function": "sin(pi*x)", "m": 8, "range": [-1, 1]}}, "#
            + #""network": {"layers": [1, 3, 3, 1], "init": {"scheme": "xavier", "seed": 2}}, "train": {"iterations": 50}, "flow": {"T": 5}}"#
        let two = try writeGrid(#"{"command": "compare", "base": "# + config + #", "axes": {"network.init.seed": [0, 1]}}"#, in: dir)
        var r = try runReluflow(["sweep", two, "--out", "s", "--jobs", "2", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        r = try runReluflow(["plot", "s", "--escape"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let escapeFiles = ["escape.csv", "escape_fits.csv", "escape_curvature.svg", "escape_depth.svg"]
        for name in escapeFiles {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("s/\(name)").path), name)
        }
        let three = try writeGrid(#"{"command": "compare", "base": "# + config + #", "axes": {"network.init.seed": [0, 1, 2]}}"#,
                                  in: dir, name: "three.json")
        r = try runReluflow(["sweep", three, "--out", "s", "--extend", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in escapeFiles {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("s/\(name)").path), name)
            XCTAssertTrue(r.stderr.contains(name), "the note names \(name): \(r.stderr)")
        }
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        XCTAssertEqual(try runReluflow(["plot", "s", "--escape"], in: dir).status, 0)
        let ids = Set(try table(dir.appendingPathComponent("s/escape.csv")).compactMap { $0["id"] })
        XCTAssertEqual(ids.count, 3)
    }

    /// A run interrupted before it made progress (its checkpoint at its start: a sweep killed while
    /// its worker was starting) and continued by the next sweep repeats the uninterrupted run: one
    /// segment in its summary (`RunContinuation.uncounted`), the uninterrupted sweep's row bitwise,
    /// and the sweep does not count it as continued from its checkpoint (CI of 2026-12-03 saw
    /// "3 ran (1 of them continued from their checkpoints)" with every collected row at one segment).
    /// The interruption at t = 0 is made deterministic by the worker's parent watch: a
    /// `RELUFLOW_SWEEP_PARENT` that is not its parent stops it as SIGTERM would, before its first step.
    func testRunInterruptedAtItsStartIsNotCountedAsContinued() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("""
            {"command": "simulate", "base": {"example": "sine", "flow": {"T": 1000, "samples": {"count": 50}}},
             "axes": {"network.init.seed": [0, 1]}}
            """, in: dir)
        var r = try runReluflow(["sweep", grid, "--out", "s", "--jobs", "1", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        let reference = try table(dir.appendingPathComponent("s/sweep.csv"))
        let id = try XCTUnwrap(reference.first?["id"])
        let run = dir.appendingPathComponent("s/runs/\(id)")
        // The run again, stopped at its start, in place of its complete folder.
        try FileManager.default.copyItem(at: run.appendingPathComponent("config.json"), to: dir.appendingPathComponent("c.json"))
        try FileManager.default.removeItem(at: run)
        r = try runReluflow(["simulate", "--config", "c.json", "--out", "s/runs/\(id)", "--quiet"], in: dir,
                            environment: ["RELUFLOW_SWEEP_PARENT": "-1"])
        XCTAssertEqual(r.status, 143, r.stderr)
        let stopped = try JSONValue.parse(try Data(contentsOf: run.appendingPathComponent("summary.json")), source: "summary.json")
        XCTAssertEqual(stopped["status"], .string("interrupted"))
        XCTAssertEqual(stopped["finalTime"], .number(0), "the precondition: stopped before its first step")

        r = try runReluflow(["sweep", grid, "--out", "s", "--jobs", "1", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("2 runs: 1 ran, 1 already complete, 0 failed"), r.stdout)
        XCTAssertFalse(r.stdout.contains("continued"), r.stdout)
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        let rows = try table(dir.appendingPathComponent("s/sweep.csv"))
        XCTAssertEqual(rows.map { $0["segments"] }, ["1", "1"])
        assertSameTable(reference, rows)
    }

    /// A local sweep killed at a random moment (SIGINT, SIGTERM, SIGKILL) and run again: every run
    /// completes, none completed before is run again, and the collected table equals an
    /// uninterrupted sweep's. With `--restart-interrupted` bitwise in every column but the wall
    /// times (as text: every number is written in its shortest round-trip form): an interrupted run
    /// is run again from its start, which writes the bytes of an uninterrupted run. By default a run
    /// continues from its checkpoint instead (`segments` 2 or more); the part after the restart takes its own
    /// steps, so its state is compared to the integration's error: relative 1e-9 (rtol 1e-10 over a
    /// run whose dissipation defect is ~1e-11), its counts within 10% (decisions at ill-conditioned
    /// near-ties may fall the other way: measured on this grid, 55 against 57 pattern intervals
    /// with the same events and θ within 1e-12). A run stopped before it made progress is not a
    /// segment and must equal the uninterrupted run in every column (`RunContinuation.uncounted`).
    func testKilledSweepRerunCompletesEveryRunOnceAndEqualsUninterrupted() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = try writeGrid("""
            {"command": "simulate", "base": {"example": "sine", "flow": {"T": 1000, "samples": {"count": 50}}},
             "axes": {"network.init.seed": [0, 1, 2, 3, 4, 5]}}
            """, in: dir)
        let start = Date()
        var r = try runReluflow(["sweep", grid, "--out", "reference", "--jobs", "2", "--quiet"], in: dir)
        let duration = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try runReluflow(["collect", "reference"], in: dir).status, 0)
        let reference = try table(dir.appendingPathComponent("reference/sweep.csv"))

        var rng = SplitMix(state: UInt64(Date().timeIntervalSince1970))
        let seed = rng.state
        for (signal, expected, resume) in [(SIGINT, Int32(130), false), (SIGKILL, -1, false), (SIGTERM, 143, true), (SIGKILL, -1, true)] {
            let out = "killed-\(signal)" + (resume ? "-resumed" : "")
            let options = ["--jobs", "2", "--quiet"] + (resume ? [] : ["--restart-interrupted"])
            let p = Process()
            p.executableURL = reluflowExecutable()
            p.arguments = ["sweep", grid, "--out", out] + options
            p.currentDirectoryURL = dir
            p.standardOutput = Pipe()
            p.standardError = Pipe()
            try p.run()
            let delay = Double.random(in: 0.2...(0.8 * duration), using: &rng)
            usleep(UInt32(delay * 1e6))
            kill(p.processIdentifier, signal)
            p.waitUntilExit()
            let context = "signal \(signal) after \(delay) s\(resume ? "" : " (--restart-interrupted)") (generator seed \(seed))"
            if expected > 0 {
                // Stopped cleanly, unless every run had already finished.
                XCTAssertTrue([expected, 0].contains(p.terminationStatus), "\(context): status \(p.terminationStatus)")
            }
            // Workers of a SIGKILLed executor notice within a quarter second and stop: wait for
            // their locks, then take the runs complete at this point, and their files' times.
            if let sweep = try? SweepFolder.open(dir.appendingPathComponent(out).path) {
                for _ in 0..<100 where sweep.manifest.runs.contains(where: { RunLock.isHeld(sweep: sweep.path, id: $0.id) }) { usleep(100_000) }
            }
            let runs = dir.appendingPathComponent("\(out)/runs")
            var completed: [String: Date] = [:]
            for id in (try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? [] where !id.hasPrefix(".") {
                let summary = runs.appendingPathComponent("\(id)/summary.json")
                if let text = try? String(contentsOf: summary, encoding: .utf8), text.contains("\"status\" : \"completed\"") {
                    completed[id] = try FileManager.default.attributesOfItem(atPath: summary.path)[.modificationDate] as? Date
                }
            }
            r = try runReluflow(["sweep", grid, "--out", out] + options, in: dir)
            XCTAssertEqual(r.status, 0, "\(context): \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("6 runs: \(6 - completed.count) ran"), "\(context): \(r.stdout)")
            XCTAssertTrue(r.stdout.contains(", \(completed.count) already complete, 0 failed"), "\(context): \(r.stdout)")
            for (id, time) in completed {
                let now = try FileManager.default.attributesOfItem(atPath: runs.appendingPathComponent("\(id)/summary.json").path)[.modificationDate] as? Date
                XCTAssertEqual(now, time, "\(context): run \(id) was complete and must not run again")
            }
            XCTAssertEqual(try runReluflow(["collect", out], in: dir).status, 0)
            let rows = try table(dir.appendingPathComponent("\(out)/sweep.csv"))
            let continued = rows.filter { $0["segments"] != "1" }.count
            print("\(context): \(completed.count) complete after the kill, \(continued) resumed")
            // The closing line counts the runs continued from their checkpoints.
            XCTAssertEqual(r.stdout.contains("ran (\(continued) of them continued from their checkpoints)"), continued > 0, "\(context): \(r.stdout)")
            XCTAssertEqual(r.stdout.contains("continued"), continued > 0, "\(context): \(r.stdout)")
            XCTAssertEqual(rows.map { $0["status"] }, [String?](repeating: "completed", count: 6), context)
            guard resume else {
                // Run again from the start: the uninterrupted sweep's table, bitwise.
                XCTAssertEqual(rows.map { $0["segments"] }, [String?](repeating: "1", count: 6), context)
                assertSameTable(reference, rows)
                continue
            }
            for (x, y) in zip(reference, rows) {
                XCTAssertEqual(x["id"], y["id"])
                if y["segments"] == "1" {
                    for (k, v) in x where !isTiming(k) { XCTAssertEqual(v, y[k], "\(context): run \(x["id"]!), column \(k)") }
                } else {
                    // Continued: the same end time and status; the state to the integration's error.
                    for k in ["finalTime", "initialLoss", "status"] {
                        XCTAssertEqual(x[k], y[k], "\(context): resumed run \(x["id"]!), column \(k)")
                    }
                    for k in ["events", "patternIntervals", "distinctPatterns"] {
                        let a = Double(x[k]!)!, b = Double(y[k]!)!
                        XCTAssertLessThanOrEqual(abs(a - b), 0.1 * a, "\(context): resumed run \(x["id"]!), column \(k)")
                    }
                    for k in ["finalLoss", "dissipated", "finalGradNorm"] {
                        let a = Double(x[k]!)!, b = Double(y[k]!)!
                        XCTAssertLessThanOrEqual(abs(a - b), 1e-9 * abs(a), "\(context): resumed run \(x["id"]!), column \(k)")
                    }
                }
            }
        }
    }
}

/// A CSV table as rows of fields, keyed by column (RFC 4180: quoted fields, doubled quotes; no
/// line breaks inside fields in these tables).
func sweepTable(_ path: URL) throws -> [[String: String]] {
    func fields(_ line: Substring) -> [String] {
        var out: [String] = [], field = "", quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    // A doubled quote is a quote; a single one ends the quoted part.
                    var copy = chars
                    if copy.next() == "\"" { field.append("\""); chars = copy } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { out.append(field); field = "" } else { field.append(c) }
        }
        out.append(field)
        return out
    }
    let lines = try String(contentsOf: path, encoding: .utf8).split(separator: "\n").map(fields)
    guard let header = lines.first else { return [] }
    return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
}

/// Columns that measure the machine, not the run.
func isTimingColumn(_ column: String) -> Bool {
    ["wallSeconds", "hessianSeconds", "eigenSeconds"].contains(column) || column.hasPrefix("stepperSeconds.")
}

/// Asserts two collected tables are equal, timing columns aside, bitwise (as text: every
/// number is written in its shortest round-trip form).
func assertSameSweepTable(_ a: [[String: String]], _ b: [[String: String]], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "rows", file: file, line: line)
    for (x, y) in zip(a, b) {
        XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
        for (k, v) in x where !isTimingColumn(k) {
            XCTAssertEqual(v, y[k], "run \(x["id"] ?? "?"), column \(k)", file: file, line: line)
        }
    }
}

