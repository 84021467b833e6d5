import Foundation
import XCTest
@testable import ReluFlow

/// What `reluflow analyze` prints about rates and floors (issue 18 new-user trial, item 5): SPEC §6's
/// predicted rate 2λ⁺ is the gradient flow's, so it is labelled as such for GD and SGD and not given
/// as a prediction for the adaptive flows and methods; a deep network's plateaus say that the
/// pattern floor and gap are not available instead of printing "floor nan, gap nan".
final class AnalysisTextTests: XCTestCase {
    func testRatePredictionIsTheGradientFlows() throws {
        var problem = try exampleProblem("small-init", T: 1000)
        problem.options.sampleCount = 200
        let run = solve(problem)
        XCTAssertEqual(run.status, .completed)
        let plateaus = try PlateauReport.plateaus(run)
        XCTAssertEqual(plateaus.count, 3)
        XCTAssertNotNil(plateaus.last?.predictedRate)
        let report = try Stationarity.report(network: problem.shallow!, data: problem.data, theta: run.finalTheta, t: run.finalTime,
                                             gradientTolerance: 1e-6)
        let diagnostics = RunAnalysis.Diagnostics(status: .completed, finalTime: run.finalTime, invariantDrift: 0, dissipationDefect: 0,
                                                  events: 0, patternIntervals: run.patterns.count)
        func plateauLines(_ dynamics: RunAnalysis.Dynamics, deep: Bool = false) -> [String] {
            RunAnalysis.verdict(report, plateaus, diagnostics, deep: deep, dynamics: dynamics).lines.filter { $0.hasPrefix("  plateau ") }
        }
        let predicted = String(format: "%.3e", plateaus.last!.predictedRate!)
        // The gradient flow: as before (README's transcript).
        XCTAssertTrue(plateauLines(.gradientFlow).last!.hasSuffix("(predicted \(predicted))"), plateauLines(.gradientFlow).last!)
        // GD and SGD: the gradient flow's prediction, named, in t = k·η.
        let gd = plateauLines(RunAnalysis.Dynamics(training: .gd, flow: .gradient)).last!
        XCTAssertTrue(gd.contains("in t = k·η (gradient-flow prediction 2λ⁺ \(predicted))"), gd)
        // The adaptive flows and methods: no prediction, and why.
        for (dynamics, name) in [(RunAnalysis.Dynamics(training: nil, flow: .adam(AdamFlow())), "the Adam flow"),
                                 (RunAnalysis.Dynamics(training: nil, flow: .rmsprop(RMSPropFlow())), "the RMSProp flow"),
                                 (RunAnalysis.Dynamics(training: .adam, flow: .gradient), "adam")] {
            XCTAssertFalse(dynamics.gradientRateApplies)
            for line in plateauLines(dynamics) {
                XCTAssertFalse(line.contains("predicted") || line.contains(predicted), line)
                XCTAssertTrue(line.hasSuffix("(no prediction: SPEC §6's 2λ⁺ is the gradient flow's rate, not \(name)'s)"), line)
            }
        }
        // A deep network: no NaN floors, one line saying why.
        let deep = RunAnalysis.verdict(report, plateaus, diagnostics, deep: true, dynamics: .gradientFlow).lines
        XCTAssertTrue(deep.contains { $0.contains("pattern floor, gap and rates: not available for deep networks") }, deep.joined(separator: "\n"))
        XCTAssertFalse(deep.contains { $0.hasPrefix("  plateau ") && ($0.contains("floor") || $0.contains("rate")) }, deep.joined(separator: "\n"))
    }

    /// End to end: `analyze` on an RMSProp flow of a network given by its layers (a deep-network
    /// config), whose run has a plateau: no "nan" anywhere, the floor said to be not available, and
    /// analysis.json's plateaus carry no predicted rate (λ⁺ may stay).
    func testAnalyzeOnAnAdaptiveDeepRun() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = DeepFlowTests.cases.appendingPathComponent("rmsprop-shallow.json")
        let run = try runReluflow(["simulate", "--config", config.path, "--out", "rms", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let analyze = try runReluflow(["analyze", "rms"], in: dir)
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        XCTAssertTrue(analyze.stdout.contains("  plateau 0:"), analyze.stdout)
        XCTAssertFalse(analyze.stdout.lowercased().contains("nan"), analyze.stdout)
        XCTAssertTrue(analyze.stdout.contains("not available for deep networks"), analyze.stdout)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("rms/analysis.json"))) as! [String: Any]
        for plateau in json["plateaus"] as! [[String: Any]] {
            XCTAssertTrue(plateau["predictedRate"] == nil || plateau["predictedRate"] is NSNull, "\(plateau)")
        }
    }
}
