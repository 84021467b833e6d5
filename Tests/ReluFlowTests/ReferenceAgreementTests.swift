import Foundation
import XCTest
@testable import ReluFlow

/// Agreement with the independent implementation in `Tests/Reference/filippov_reference.py`
/// (NumPy/SciPy, event-driven DOP853, written from SPEC.md alone). Skipped where python3 with
/// numpy and scipy is missing.
final class ReferenceAgreementTests: XCTestCase {
    /// Hand-made cases: sliding with a duplicate point, a repelling start, d = 2 with two-surface
    /// corners, an output bias; plus the sine example. Both sides run at rtol 1e-12 so that the
    /// comparison measures the methods, not the tolerances.
    static let cases: [(String, String)] = [
        ("slide+duplicate", #"{"data": {"x": [[-1.0], [-0.6], [-0.2], [0.2], [0.6], [1.0], [0.2]], "y": [-1.153, -0.706, -0.313, 0.658, 0.828, 0.465, 0.658]}, "network": {"W": [[-0.11], [-0.446]], "b": [0.388, 0.097], "c": [-1.631, -1.195]}, "flow": {"T": 50}}"#),
        ("repelling start", #"{"data": {"x": [[-1.0], [0.0], [1.0]], "y": [0.5, 2.0, 0.0]}, "network": {"W": [[1.0], [-1.0]], "b": [0.0, 0.2], "c": [1.0, 0.5]}, "flow": {"T": 50}}"#),
        ("two-d", #"{"data": {"x": [[-0.47, 0.07], [0.5, 0.79], [-0.75, -0.63], [0.6, 0.29], [0.44, 0.99], [0.88, 0.69], [0.55, -0.21]], "y": [-0.806, 0.592, -0.806, 0.893, 0.423, 0.757, 0.872]}, "network": {"W": [[0.215, -0.252], [-0.204, 0.054]], "b": [0.454, 0.167], "c": [-0.058, -0.579]}, "flow": {"T": 60}}"#),
        ("output bias", #"{"data": {"x": [[-1.0], [-0.6], [-0.2], [0.2], [0.6], [1.0], [0.2]], "y": [-1.153, -0.706, -0.313, 0.658, 0.828, 0.465, 0.658]}, "network": {"W": [[-0.11], [-0.446]], "b": [0.388, 0.097], "c": [-1.631, -1.195], "outputBias": true, "c0": 0.1}, "flow": {"T": 50}}"#),
    ]

    func referenceScript() -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/filippov_reference.py")
    }

    func pythonHasScipy() -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy, scipy"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// The benchmark's implicit SciPy peers get the exact Jacobian (`Benchmarks/peers/scipy_flow.py`);
    /// it must agree with central differences of the reference field, sliding modes included, to
    /// 1e-7 relative (measured 5e-11 on `sine`, 2e-10 on `two-d`; dropping the sliding projection
    /// gives 0.15). A wrong Jacobian would make the peers' timings meaningless.
    func testBenchmarkPeerJacobianIsExact() throws {
        guard pythonHasScipy() else { throw XCTSkip("python3 with numpy and scipy not available") }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let peer = referenceScript().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Benchmarks/peers/scipy_flow.py")
        for (name, text) in Self.cases {
            let (_, resolved) = try RunConfig.decode(Data(text.utf8)).resolve()
            let configURL = dir.appendingPathComponent("\(name).json")
            try resolved.encoded().write(to: configURL)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", peer.path, configURL.path, "--check-jacobian"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "\(name): \(text)")
        }
    }

    func testAgreesWithIndependentImplementation() throws {
        guard pythonHasScipy() else { throw XCTSkip("python3 with numpy and scipy not available") }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var all = Self.cases
        var sine = try Example.named("sine").config
        sine.flow.T = 30
        all.append(("sine", String(decoding: try sine.resolve().resolved.encoded(), as: UTF8.self)))
        for (name, text) in all {
            var config = try RunConfig.decode(Data(text.utf8))
            config.flow.rtol = 1e-12
            config.flow.atol = 1e-14
            let (problem, resolved) = try config.resolve()
            let solution = solve(problem)
            let configURL = dir.appendingPathComponent("\(name).json"), out = dir.appendingPathComponent("\(name)-ref.json")
            try resolved.encoded().write(to: configURL)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", referenceScript().path, configURL.path, "--rtol", "1e-12", "--atol", "1e-14", "--out", out.path]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
            let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
            let refEvents = reference["events"] as! [[String: Any]]
            // ReluFlow lists an event at a duplicate point once per point; the reference once.
            var ours: [(Double, Int, String)] = []
            for e in solution.events where !ours.contains(where: { $0.0 == e.t && $0.1 == e.neuron && $0.2 == e.kind.rawValue }) {
                ours.append((e.t, e.neuron, e.kind.rawValue))
            }
            // Simultaneous events (for example two neurons sliding at one point with the same active
            // set exit together) have no order: compare within groups closer than 1e-7 in time.
            var theirs = refEvents.map { ($0["t"] as! Double, $0["neuron"] as! Int, $0["kind"] as! String) }
            func canonical(_ list: inout [(Double, Int, String)]) {
                var k = 0
                while k < list.count {
                    var end = k + 1
                    while end < list.count && list[end].0 - list[k].0 < 1e-7 { end += 1 }
                    list[k..<end].sort { ($0.1, $0.2) < ($1.1, $1.2) }
                    k = end
                }
            }
            canonical(&ours)
            canonical(&theirs)
            XCTAssertEqual(ours.map { "\($0.1):\($0.2)" }, theirs.map { "\($0.1):\($0.2)" }, name)
            // Event times: at rtol 1e-12 both sides locate crossings to ~1e-12 (measured); slide
            // exits are ill-conditioned (δα/|α'|, SPEC §4), so 1e-6 for all keeps room for those.
            for (a, b) in zip(ours, theirs) { XCTAssertEqual(a.0, b.0, accuracy: 1e-6, "\(name) \(a.2)") }
            // Final θ: measured ≤ 1e-11 apart.
            let theta = reference["theta"] as! [Double]
            for (a, b) in zip(solution.finalTheta, theta) { XCTAssertEqual(a, b, accuracy: 1e-8, name) }
        }
    }
}
