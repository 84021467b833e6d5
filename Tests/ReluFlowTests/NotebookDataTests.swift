import Foundation
import XCTest
@testable import ReluFlow

/// The committed reference exports in notebooks-data/ are what the current code produces:
/// each folder's config.json is re-run and compared with its trajectory, events, patterns and
/// plateaus. Regenerate with `bash notebooks-data/regenerate` when a change alters results.
///
/// Tolerances: the integration is deterministic (no threads, reference BLAS), so a re-run on the
/// same code reproduces the files to the last digit; 1e-9 (relative to max(1, |value|)) on times,
/// θ and losses only absorbs differences between compilers or build modes, and is far below what
/// any change to the engine or the analysis moves (the engine's own accuracy is 1e-8 on events).
final class NotebookDataTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("notebooks-data")

    func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        a == b || abs(a - b) <= tolerance * max(1, abs(a), abs(b))
    }

    func testCommittedExportsAreCurrent() throws {
        let examples = ["sine", "abs", "two-d", "small-init", "plateaus", "transient-plateau"]
        for name in examples {
            let dir = Self.folder.appendingPathComponent(name).path
            let config = try RunConfig.load(path: (dir as NSString).appendingPathComponent("config.json"))
            XCTAssertEqual(config.example, name)
            let (problem, _) = try config.resolve()
            let (_, committed) = try RunFolderReader(dir, field: "DIR").run(for: problem)
            let fresh = solve(problem)
            let hint = "notebooks-data/\(name) is stale: run `bash notebooks-data/regenerate`"
            XCTAssertEqual(fresh.status, committed.status, hint)
            XCTAssertEqual(fresh.events.count, committed.events.count, hint)
            for (a, b) in zip(fresh.events, committed.events) {
                XCTAssertTrue(a.kind == b.kind && a.neuron == b.neuron && a.point == b.point && close(a.t, b.t),
                              "\(hint): event \(a) vs \(b)")
            }
            XCTAssertEqual(fresh.patterns.map(\.changes), committed.patterns.map(\.changes), hint)
            XCTAssertEqual(fresh.patterns.map(\.patternId), committed.patterns.map(\.patternId), hint)
            XCTAssertEqual(fresh.samples.count, committed.samples.count, hint)
            var worst = 0.0
            for (a, b) in zip(fresh.samples, committed.samples) {
                XCTAssertTrue(close(a.t, b.t) && close(a.loss, b.loss), "\(hint): sample at t = \(b.t)")
                for (u, v) in zip(a.theta, b.theta) { worst = max(worst, abs(u - v) / max(1, abs(v))) }
            }
            XCTAssertLessThanOrEqual(worst, 1e-9, hint)
            // The analysis written next to it: plateaus of the committed run equal those of the fresh one.
            let data = try Data(contentsOf: Self.folder.appendingPathComponent("\(name)/analysis.json"))
            let analysis = try JSONDecoder().decode(RunAnalysis.self, from: data)
            let plateaus = try PlateauReport.plateaus(fresh)
            XCTAssertEqual(plateaus.count, analysis.plateaus.count, hint)
            for (a, b) in zip(plateaus, analysis.plateaus) {
                XCTAssertTrue(close(a.tStart, b.tStart) && close(a.tEnd, b.tEnd) && close(a.patternFloor, b.patternFloor)
                              && a.patternId == b.patternId && a.terminal == b.terminal, "\(hint): plateau \(a.tStart)…\(a.tEnd)")
            }
            for figure in ["loss.svg", "patterns.svg"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(figure)), "\(hint): \(figure) missing")
            }
        }
    }
}
