import Foundation
import XCTest
@testable import ReluFlow

/// curvature.json says how its numbers were made on both paths (issue 18 new-user trial, item 6):
/// `eigensolver` (dsyevd, dsyevr, gsl for a full spectrum, `lanczos` for Lanczos), the rounding
/// level `negativeThreshold` P·ε·max|λ|, and the seconds of the set-up of the Hessian and of the
/// eigenvalues, both measured (the Lanczos path wrote no eigensolver and no threshold, and
/// hessianSeconds 0).
final class CurvatureReportFieldsTests: XCTestCase {
    func testBothSpectrumPathsReportTheirMethodThresholdAndTimes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("small.json")
        try Data(#"{"data": {"target": {"function": "sin(pi*x)", "m": 8, "range": [-1, 1]}}, "network": {"layers": [1, 3, 3, 1], "bias": true}}"#.utf8).write(to: config)
        var keys: [String: Set<String>] = [:]
        for (spectrum, solver) in [("full", "dsyevd"), ("full", "dsyevr"), ("full", "gsl"), ("lanczos", "lanczos")] {
            var arguments = ["curvature", "--config", config.path, "--spectrum", spectrum, "--out", "c-\(solver)"]
            if spectrum == "full" { arguments += ["--eigensolver", solver] }
            let run = try runReluflow(arguments, in: dir)
            XCTAssertEqual(run.status, 0, run.stderr)
            let data = try Data(contentsOf: dir.appendingPathComponent("c-\(solver)/curvature.json"))
            let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            XCTAssertEqual(json["spectrum"] as? String, spectrum)
            XCTAssertEqual(json["eigensolver"] as? String, solver, "which method made the eigenvalues")
            let lambdaMax = try XCTUnwrap(json["lambdaMax"] as? Double), lambdaMin = try XCTUnwrap(json["lambdaMin"] as? Double)
            // The threshold is P·ε·max|λ| of the reported ends (to one rounding).
            let threshold = try XCTUnwrap(json["negativeThreshold"] as? Double, "negativeThreshold")
            let P = try XCTUnwrap(json["parameters"] as? Int)
            XCTAssertEqual(P, 21)
            let expected = Double(P) * Double.ulpOfOne * max(abs(lambdaMin), abs(lambdaMax))
            XCTAssertEqual(threshold, expected, accuracy: 1e-15 * expected)
            for key in ["hessianSeconds", "eigenSeconds"] {
                let seconds = try XCTUnwrap(json[key] as? Double, key)
                XCTAssertGreaterThan(seconds, 0, "\(solver): \(key) measured")
                XCTAssertLessThan(seconds, 60, "\(solver): \(key) in seconds")
            }
            keys[spectrum, default: []].formUnion(json.keys)
        }
        // The same fields on both paths, apart from what only one of them knows (the full spectrum
        // and its negative share; Lanczos's iterations, Ritz values and the notes saying why the
        // others are null).
        let onlyLanczos: Set = ["lanczos", "ritzValues", "hessianEigenvaluesNote", "negativeFractionNote"]
        XCTAssertEqual(keys["full"], keys["lanczos"]!.subtracting(onlyLanczos), "\(keys)")
    }
}
