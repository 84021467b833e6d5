import Foundation
import XCTest
@testable import ReluFlow

final class ConfigTests: XCTestCase {
    /// config.json must repeat a run exactly: every number survives encoding and decoding bit for bit.
    func testResolvedConfigRoundTripsExactly() throws {
        for name in ["sine", "two-d", "small-init"] {
            let (problem, resolved) = try Example.named(name).config.resolve()
            let again = try RunConfig.decode(try resolved.encoded()).resolve().problem
            XCTAssertEqual(again.theta0.map(\.bitPattern), problem.theta0.map(\.bitPattern), name)
            XCTAssertEqual(again.data.x.map(\.bitPattern), problem.data.x.map(\.bitPattern), name)
            XCTAssertEqual(again.data.y.map(\.bitPattern), problem.data.y.map(\.bitPattern), name)
        }
    }

    func testTargetExpressions() throws {
        let cases: [(String, [Double], Double)] = [
            ("sin(pi*x)", [0.5], 1), ("abs(x)", [-2], 2), ("x0^2 + 2*x1", [3, 1], 11), ("-x^2", [3], -9),
            ("2**3**2", [], 512), ("max(x0, x1) - min(1, 2)", [4, 7], 6), ("exp(0) + e - e", [], 1), ("1e-3*1e3", [], 1),
        ]
        for (text, x, expected) in cases {
            XCTAssertEqual(try TargetExpression(text).evaluate(x), expected, accuracy: 1e-12, text)
        }
        for bad in ["sin(", "foo(x)", "x y", "", "2*", "min(1)"] {
            XCTAssertThrowsError(try TargetExpression(bad), bad) { error in
                XCTAssertEqual((error as? InputError)?.field, "data.target.function")
            }
        }
    }

    /// Generated data: a k^d grid, seeded random points, and a CSV file.
    func testDataSources() throws {
        let grid = try RunConfig(data: DataConfig(target: TargetConfig(function: "x0 + x1", m: 9, range: [0, 2], dim: 2))).resolve().problem
        XCTAssertEqual(grid.data.count, 9)
        XCTAssertEqual(grid.data.point(4), [1, 1])
        XCTAssertEqual(grid.data.y[8], 4)
        XCTAssertThrowsError(try RunConfig(data: DataConfig(target: TargetConfig(function: "x", m: 10, range: [0, 1], dim: 2))).resolve())
        let random = { try RunConfig(data: DataConfig(target: TargetConfig(function: "x", m: 5, range: [2, 3], points: "random", seed: 7))).resolve().problem }
        XCTAssertEqual(try random().data.x, try random().data.x, "seeded")
        XCTAssertTrue(try random().data.x.allSatisfy { $0 >= 2 && $0 <= 3 })
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "x0,x1,y\n0.5,1,2\n-1,0.25,3\n".write(to: dir.appendingPathComponent("p.csv"), atomically: true, encoding: .utf8)
        try #"{"data": {"csv": "p.csv"}, "network": {"width": 2}}"#.write(to: dir.appendingPathComponent("c.json"), atomically: true, encoding: .utf8)
        let csv = try RunConfig.load(path: dir.appendingPathComponent("c.json").path).resolve().problem
        XCTAssertEqual(csv.data.dimension, 2)
        XCTAssertEqual(csv.data.x, [0.5, 1, -1, 0.25])
        XCTAssertEqual(csv.data.y, [2, 3])
    }

    /// Initialisation: reproducible, variances of the schemes, balanced rescaling.
    func testInitialisation() throws {
        let net = ShallowNetwork(width: 2000, inputDimension: 2)
        let he = InitSpec(scheme: .he, seed: 1, biasScale: 0).draw(for: net)
        XCTAssertEqual(he, InitSpec(scheme: .he, seed: 1, biasScale: 0).draw(for: net))
        let w = (0..<2000).flatMap { i in [he[net.wIndex(i, 0)], he[net.wIndex(i, 1)]] }
        let variance = w.reduce(0) { $0 + $1 * $1 } / Double(w.count)
        // He: Var = 2/d = 1; 4000 draws, so the sample variance is within ~0.1 at 4 sigma.
        XCTAssertEqual(variance, 1, accuracy: 0.1)
        XCTAssertTrue((0..<2000).allSatisfy { he[net.bIndex($0)] == 0 })
        let small = InitSpec(scheme: .he, seed: 1, scale: 1e-3, biasScale: 1, balanced: true).draw(for: net)
        for i in 0..<5 {
            let inner = (small[net.wIndex(i, 0)] * small[net.wIndex(i, 0)] + small[net.wIndex(i, 1)] * small[net.wIndex(i, 1)]
                         + small[net.bIndex(i)] * small[net.bIndex(i)]).squareRoot()
            XCTAssertEqual(inner, 1e-3, accuracy: 1e-15)
            XCTAssertEqual(abs(small[net.cIndex(i)]), 1e-3, accuracy: 1e-18)
        }
    }

    // MARK: Issue 15, input handling

    /// Resolves `{"data": {"csv": FILE, ...extra}}` for a CSV with `text`.
    private func csvConfig(_ text: String, extra: String = "", in dir: URL) throws -> RunConfig {
        try text.write(to: dir.appendingPathComponent("d.csv"), atomically: true, encoding: .utf8)
        let json = #"{"data": {"csv": "d.csv""# + extra + #"}, "network": {"width": 2}}"#
        try json.write(to: dir.appendingPathComponent("c.json"), atomically: true, encoding: .utf8)
        return try RunConfig.load(path: dir.appendingPathComponent("c.json").path)
    }

    /// Item 4: CSV columns are read by their header names, in any order; other columns only through
    /// data.columns; a missing header, a missing y, a gap in x0 … x{d-1} and extra columns are errors
    /// that name data.csv, the file, the line and the column.
    func testCSVColumnsAreReadByName() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // y first: still the target.
        let swapped = try csvConfig("y,x0\n1,0\n2,5\n", in: dir).resolve().problem.data
        XCTAssertEqual(swapped.x, [0, 5])
        XCTAssertEqual(swapped.y, [1, 2])
        // Any order, surrounding whitespace and quotes, blank lines and CRLF.
        let shuffled = try csvConfig(" \"x1\" , x0 ,'y'\r\n\r\n1, 2 ,3\r\n4,5,\"6\"\r\n", in: dir).resolve().problem.data
        XCTAssertEqual(shuffled.dimension, 2)
        XCTAssertEqual(shuffled.x, [2, 1, 5, 4])
        XCTAssertEqual(shuffled.y, [3, 6])
        // data.columns: the named columns in the given order, the others left alone (even non-numeric).
        let named = try csvConfig("age,height,id,weight\n30,1.8,a,80\n40,1.7,b,70\n",
                                  extra: #", "columns": {"x": ["height", "age"], "y": "weight"}"#, in: dir).resolve()
        XCTAssertEqual(named.problem.data.x, [1.8, 30, 1.7, 40])
        XCTAssertEqual(named.problem.data.y, [80, 70])
        XCTAssertEqual(named.resolved.data.origin?.columns, CSVColumns(x: ["height", "age"], y: "weight"))

        let cases: [(String, String, [String])] = [
            ("x0,y,extra\n1,0,5\n", "", ["line 1", "column 3", "'extra'", "data.columns"]),
            ("x0,x1\n1,0\n", "", ["line 1", "no column named 'y'"]),
            ("1,0\n2,1\n", "", ["line 1", "no header row"]),
            ("\n0.5,1\n", "", ["line 2", "no header row"]),
            ("x0,x2,y\n1,0,5\n", "", ["line 1", "x1"]),
            ("x0,y,x0\n1,2,3\n", "", ["line 1", "column 3", "second column named 'x0'"]),
            ("y\n1\n", "", ["line 1", "x0"]),
            ("x0,y\n1,2\n3\n", "", ["line 3", "column 2 ('y')", "missing"]),
            ("x0,y\n1,2,3\n", "", ["line 2", "column 3"]),
            ("x0,y\n1,2\n\n3,abc\n", "", ["line 4", "column 2 ('y')", "'abc'"]),
            ("x0,y\n1,nan\n", "", ["line 2", "column 2 ('y')", "'nan'"]),
            ("x0,y\n", "", ["no data rows"]),
            ("a,b\n1,2\n", #", "columns": {"x": ["a"], "y": "c"}"#, ["line 1", "'c'", "data.columns.y"]),
        ]
        for (text, extra, phrases) in cases {
            XCTAssertThrowsError(try csvConfig(text, extra: extra, in: dir).resolve(), text) { error in
                guard let error = error as? InputError else { return XCTFail("\(text): \(error)") }
                XCTAssertEqual(error.field, "data.csv", text)
                XCTAssertTrue(error.problem.contains(dir.appendingPathComponent("d.csv").path), "\(text): \(error)")
                for phrase in phrases { XCTAssertTrue(error.problem.contains(phrase), "\(text): \(error) should say \(phrase)") }
            }
        }
    }

    /// Item 11 (b, c): a key given twice anywhere, and an explicit null, are errors naming the key path.
    func testDuplicateKeysAndNullsAreErrors() throws {
        let cases: [(String, String)] = [
            (#"{"data": {"x": [[0]], "y": [1]}, "flow": {"T": 1, "T": 2}}"#, "flow.T"),
            (#"{"data": {"x": [[0]], "y": [1]}, "flow": {"T": 1, "\u0054": 2}}"#, "flow.T"),
            (#"{"data": {"x": [[0]], "y": [1]}, "network": {"init": {"seed": 1, "scale": 2, "seed": 3}}}"#, "network.init.seed"),
            (#"{"data": {"x": [[0]], "y": [1], "x": [[2]]}}"#, "data.x"),
            (#"{"data": {"x": [[0]], "y": [1]}, "data": {"x": [[0]], "y": [1]}}"#, "data"),
            (#"{"data": {"x": [[0]], "y": [1]}, "flow": {"T": null}}"#, "flow.T"),
            (#"{"data": {"x": [[0]], "y": [1]}, "network": {"W": null}}"#, "network.W"),
            (#"{"data": {"x": [[0]], "y": [1]}, "flow": {"samples": {"count": null}}}"#, "flow.samples.count"),
        ]
        for (json, field) in cases {
            XCTAssertThrowsError(try RunConfig.decode(Data(json.utf8)), json) { error in
                XCTAssertEqual((error as? InputError)?.field, field, "\(json): \(error)")
            }
        }
        // Strings holding braces, quotes and escapes do not confuse the scan.
        let tricky = #"{"data": {"x": [[0]], "y": [1]}, "example": "a \"}{\" b \\", "flow": {"stepper": "rk8pd"}}"#
        XCTAssertEqual(try RunConfig.decode(Data(tricky.utf8)).flow.stepper, "rk8pd")
    }

    /// Finite data whose loss at θ(0) overflows is bad input (exit 2 naming the field), for the
    /// shallow and the deep network and for every command that resolves a config: before, a shallow
    /// `simulate` crashed (a trap in FilippovResolver, exit 132) and `train` failed numerically (exit 1).
    func testLossThatOverflowsAtTheStartIsBadInput() throws {
        let cases: [(String, String)] = [
            (#"{"data": {"x": [[1e308], [1e308]], "y": [1, 2]}, "network": {"width": 3}}"#, "data"),
            (#"{"data": {"x": [[1e308], [-1e308]], "y": [1, 2]}, "network": {"layers": [1, 3, 3, 1]}}"#, "data"),
            (#"{"data": {"x": [[1], [2]], "y": [1, 2]}, "network": {"W": [[1e308]], "b": [1e308], "c": [1e308]}}"#, "network"),
        ]
        for (json, field) in cases {
            XCTAssertThrowsError(try RunConfig.decode(Data(json.utf8)).resolve(), json) { error in
                XCTAssertEqual((error as? InputError)?.field, field, "\(json): \(error)")
                XCTAssertTrue("\(error)".contains("overflows"), "\(error)")
            }
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(cases[0].0.utf8).write(to: dir.appendingPathComponent("c.json"))
        for arguments in [["simulate"], ["train", "--method", "gd"], ["compare"]] {
            let r = try runReluflow(arguments + ["--config", "c.json", "--out", "o", "--quiet"], in: dir)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("data: the loss at θ(0) overflows"), "\(arguments): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("o").path))
    }

    /// Item 11 (a): two data sources are an error naming both; the resolved config records the
    /// source in data.origin (ignored on input) and repeats the run; an older run folder's
    /// config.json (source beside x and y) is migrated when read from the folder.
    func testConflictingDataSourcesAndOrigin() throws {
        let target = #"{"function": "x", "m": 3, "range": [-1, 1]}"#
        let cases: [(String, [String])] = [
            (#"{"data": {"x": [[0]], "y": [1], "target": "# + target + "}}", ["data.x", "data.target"]),
            (#"{"data": {"y": [1], "csv": "p.csv"}}"#, ["data.y", "data.csv"]),
            (#"{"data": {"csv": "p.csv", "target": "# + target + "}}", ["data.csv", "data.target"]),
        ]
        for (json, fields) in cases {
            XCTAssertThrowsError(try RunConfig.decode(Data(json.utf8)).resolve(), json) { error in
                guard let error = error as? InputError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.field, fields[0], json)
                XCTAssertTrue(error.problem.contains(fields[1]), "\(json): \(error)")
            }
        }
        let (problem, resolved) = try Example.named("sine").config.resolve()
        XCTAssertNil(resolved.data.target)
        XCTAssertNil(resolved.data.csv)
        XCTAssertEqual(resolved.data.origin?.target?.function, "sin(pi*x)")
        let again = try RunConfig.decode(try resolved.encoded()).resolve()
        XCTAssertEqual(again.problem.theta0.map(\.bitPattern), problem.theta0.map(\.bitPattern))
        XCTAssertEqual(again.resolved, resolved)
        // A config.json of an earlier version: the source beside x and y.
        var legacy = resolved
        legacy.data.target = legacy.data.origin?.target
        legacy.data.origin = nil
        XCTAssertThrowsError(try RunConfig.decode(try legacy.encoded()).resolve())
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        try legacy.encoded().write(to: URL(fileURLWithPath: path))
        let migrated = try RunConfig.loadRecorded(path: path).resolve()
        XCTAssertEqual(migrated.problem.data.x, problem.data.x)
        XCTAssertEqual(migrated.resolved, resolved)
    }

    /// Item 5: sizes are checked from the config before anything is allocated; the message names
    /// the field, the estimate and the limit.
    func testSizeLimits() throws {
        let limits = ResourceLimits.standard()
        func refusal(_ config: RunConfig) -> InputError? {
            do { _ = try config.resolve(limits: limits); return nil } catch { return error as? InputError }
        }
        // 10⁹ target points: refused at once, before the points are generated.
        let started = Date()
        let huge = refusal(RunConfig(data: DataConfig(target: TargetConfig(function: "sin(pi*x)", m: 1_000_000_000, range: [-1, 1]))))
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
        XCTAssertEqual(huge?.field, "data.target.m")
        for phrase in ["1000000000 points", "of memory", "limit", "physical memory", "--allow-large"] {
            XCTAssertTrue(huge?.problem.contains(phrase) ?? false, "\(String(describing: huge)) should say \(phrase)")
        }
        // 10⁷ samples of the default width: about 10 GB of trajectory.
        var many = try Example.named("sine").config
        many.flow.samples = SampleConfig(count: 10_000_000)
        let samples = refusal(many)
        XCTAssertEqual(samples?.field, "flow.samples.count")
        XCTAssertTrue(samples?.problem.contains("GB of disk") ?? false, "\(String(describing: samples))")
        XCTAssertTrue(samples?.problem.contains("limit 2 GB") ?? false, "\(String(describing: samples))")
        // A wide network under an implicit stepper: the P×P matrices; rk8pd does not need them.
        var wide = try Example.named("sine").config
        wide.network.width = 20_000
        wide.flow.stepper = "msbdf"
        let matrices = refusal(wide)
        XCTAssertEqual(matrices?.field, "network.width")
        XCTAssertTrue(matrices?.problem.contains("P×P") ?? false, "\(String(describing: matrices))")
        wide.flow.stepper = "rk8pd"
        XCTAssertNil(refusal(wide))
        // The estimate itself: m = 10⁶, width 20, d = 1 measured 2.0 GB peak; the estimate is above, within 1.5×.
        let measured = ResourceEstimate(points: 1_000_000, dimension: 1, width: 20, samples: 2, stepper: .rk8pd, dataField: "data.target.m")
        XCTAssertGreaterThan(measured.memory, 2.0e9)
        XCTAssertLessThan(measured.memory, 3.0e9)
        // Without limits nothing is checked; a CSV is checked from its line count before it is parsed.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = try csvConfig("x0,y\n" + String(repeating: "1,2\n", count: 1000), in: dir)
        XCTAssertNoThrow(try csv.resolve())
        XCTAssertThrowsError(try csv.resolve(limits: ResourceLimits(memory: 1e12, output: 1e6))) { error in
            XCTAssertEqual((error as? InputError)?.field, "data.csv")
        }
    }

    /// Item 11 (e): non-finite figures are written as null (valid JSON numbers' stand-in), named in
    /// the summary's `nonFinite`, and read back as NaN by the run-folder readers.
    func testNonFiniteNumbersAreWrittenAsNull() throws {
        let problem = try exampleProblem("sine", T: 0.01)
        var solution = solve(problem)
        solution.last?.gradNorm = .nan
        solution.diagnostics.finalLoss = .infinity
        solution.diagnostics.dissipationDefect = -.infinity
        let files = try RunExport.files(for: solution, config: try Example.named("sine").config.resolve().resolved)
        let bytes = try XCTUnwrap(files.first { $0.0 == "summary.json" }?.1)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertFalse(text.contains("\"nan\"") || text.contains("inf\""), text)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
        XCTAssertTrue(object["finalGradNorm"] is NSNull)
        XCTAssertTrue(object["finalLoss"] is NSNull)
        XCTAssertEqual(object["nonFinite"] as? [String], ["dissipationDefect", "finalGradNorm", "finalLoss"])
        let summary = try JSONDecoder().decode(RunSummary.self, from: bytes)
        XCTAssertTrue(summary.finalGradNorm.isNaN && summary.finalLoss.isNaN && summary.dissipationDefect.isNaN)
        XCTAssertEqual(summary.finalTime, solution.finalTime)
        // The readers of a run folder accept it.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("run").path
        try RunFolder.write(files, to: folder)
        let (_, earlier) = try RunFolderReader(folder, field: "DIR").run(for: problem)
        XCTAssertEqual(earlier.samples.count, solution.samples.count)
        XCTAssertNoThrow(try RunAnalysis.analyze(folder: folder))
        // Every figure finite: no nonFinite key.
        let clean = try JSONSerialization.jsonObject(with: try RunSummary(solve(problem)).jsonData()) as? [String: Any]
        XCTAssertNil(clean?["nonFinite"])
    }
}
