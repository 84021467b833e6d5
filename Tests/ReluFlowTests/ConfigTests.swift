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
        let (_, earlier) = try RunContinuation.read(folder, problem: problem)
        XCTAssertEqual(earlier.samples.count, solution.samples.count)
        XCTAssertNoThrow(try RunAnalysis.analyze(folder: folder))
        // Every figure finite: no nonFinite key.
        let clean = try JSONSerialization.jsonObject(with: try RunSummary(solve(problem)).jsonData()) as? [String: Any]
        XCTAssertNil(clean?["nonFinite"])
    }
}
