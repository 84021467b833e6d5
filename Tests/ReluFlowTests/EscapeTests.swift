import Foundation
import XCTest
@testable import ReluFlow

/// The escape from the initial plateau (SPEC §7) and the first plateau beside it (SPEC §6), in
/// every run's summary.
final class EscapeTests: XCTestCase {
    func problem(_ json: String) throws -> FlowProblem {
        try RunConfig.decode(Data(json.utf8), source: "test").resolve().problem
    }

    /// The flow's escape time against a closed form: one neuron active on x_0 = 1 alone (x_1 = −0.5
    /// off, y_1 = 0), so that L = (p − y_0)²/(2m) with p = c z_0 moving as
    /// ṗ = −(1/m)(p − y_0) S(p) (OneNeuronAnalyticTests); L ≤ 0.9 L(0) when
    /// y_0 − p = √0.9 (y_0 − p_0), at t* = t(p*), before x_1's surface is reached. Tolerance 1e-9
    /// relative: the crossing is refined on the step's dense output to atol + rtol·level with
    /// rtol 1e-12 (FlowSolver.checkEscape), and the closed form's bisection is exact to 1e-15.
    func testFlowEscapeTimeMatchesTheClosedForm() throws {
        let x0 = 1.0, y0 = 3.0, m = 2.0, w = 1.0, b = 0.45, c = 0.5
        let a = x0 * x0 + 1, z0 = w * x0 + b
        let reduced = OneNeuronAnalyticTests.Reduced(a: a, K: a * c * c - z0 * z0, y0: y0, m: m)
        let p0 = c * z0, pStar = y0 - 0.9.squareRoot() * (y0 - p0)
        let expected = reduced.time(from: p0, to: pStar)
        XCTAssertGreaterThan(expected, 0.01)
        // x_1's surface: z_1 = z_1(0) + (x̃_0·x̃_1/a)(z_0 − z_0(0)) reaches 0 (OneNeuronAnalyticTests.firstPhase).
        let z1 = w * -0.5 + b, dot = x0 * -0.5 + 1
        let tHit = reduced.time(from: p0, to: reduced.p(forZ: z0 - z1 * a / dot))
        XCTAssertLessThan(expected, tHit, "the escape comes before the first event")
        var run = solve(try makeProblem(x: [[x0], [-0.5]], y: [y0, 0], W: [[w]], b: [b], c: [c], T: 1, rtol: 1e-12, atol: 1e-14))
        XCTAssertEqual(run.status, .completed)
        let t = try XCTUnwrap(run.diagnostics.escapeTime)
        XCTAssertEqual(t, expected, accuracy: 1e-9 * expected)
        // δ = 0.5: y_0 − p = √0.5 (y_0 − p_0).
        var half = try makeProblem(x: [[x0], [-0.5]], y: [y0, 0], W: [[w]], b: [b], c: [c], T: 1, rtol: 1e-12, atol: 1e-14)
        half.options.escapeDelta = 0.5
        run = solve(half)
        let expectedHalf = reduced.time(from: p0, to: y0 - 0.5.squareRoot() * (y0 - p0))
        if expectedHalf < tHit {
            XCTAssertEqual(try XCTUnwrap(run.diagnostics.escapeTime), expectedHalf, accuracy: 1e-9 * expectedHalf)
        }
        // Never reached: null, not absent.
        let short = solve(try makeProblem(x: [[x0], [-0.5]], y: [y0, 0], W: [[w]], b: [b], c: [c], T: expected / 2))
        XCTAssertNil(short.diagnostics.escapeTime)
        let summary = try JSONSerialization.jsonObject(with: try RunSummary(short).jsonData()) as! [String: Any]
        XCTAssertTrue(summary["escapeTime"] is NSNull, "\(summary["escapeTime"] as Any)")
        XCTAssertTrue(summary["firstPlateau"] is NSNull || summary["firstPlateau"] is [String: Any])
    }

    /// The flow's escape time lies between the last sample above (1 − δ) L(0) and the first at or
    /// below (exact bracket, dense linear samples on `sine` and `small-init`).
    func testFlowEscapeTimeIsBracketedByTheSamples() throws {
        for (name, T) in [("sine", 2.0), ("small-init", 60.0)] {
            var config = try Example.named(name).config
            config.flow.T = T
            config.flow.samples = SampleConfig(spacing: "linear", count: 2000)
            let run = solve(try config.resolve().problem)
            let level = 0.9 * run.diagnostics.initialLoss
            let t = try XCTUnwrap(run.diagnostics.escapeTime, name)
            let first = try XCTUnwrap(run.samples.firstIndex { $0.loss <= level }, name)
            XCTAssertGreaterThan(first, 0)
            XCTAssertLessThanOrEqual(t, run.samples[first].t, name)
            XCTAssertGreaterThanOrEqual(t, run.samples[first - 1].t, name)
        }
    }

    /// A training run's escape iteration is the first iterate at or below (1 − δ) L(0): with a
    /// sample at every iteration, exactly the first such sample (shallow and deep networks, every
    /// gradient method, δ = 0.1 and 0.5), and t = k·η.
    func testTrainingEscapeIsTheFirstIterateBelowTheLevel() throws {
        let shallow = #"{"data": {"target": {"function": "sin(pi*x)", "m": 20, "range": [-1, 1]}}, "#
            + #""network": {"width": 10, "init": {"scheme": "he", "seed": 0, "scale": 0.001, "balanced": true}}}"#
        let deep = #"{"data": {"target": {"function": "sin(pi*x)", "m": 16, "range": [-1, 1]}}, "#
            + #""network": {"layers": [1, 6, 6, 6, 1], "init": {"scheme": "he", "seed": 3}}}"#
        for (label, config) in [("shallow", shallow), ("deep", deep)] {
            for method in [TrainingMethod.gd, .sgd, .adam, .rmsprop] {
                for delta in [0.1, 0.5] {
                    var problem = try problem(config)
                    var o = TrainingOptions()
                    o.method = method
                    o.lr = method == .gd || method == .sgd ? 0.05 : 0.01
                    o.iterations = 3000
                    o.batch = method == .sgd ? 4 : nil
                    o.sampleSpacing = .linear
                    o.sampleCount = 3001
                    o.escapeDelta = delta
                    problem.training = o
                    let run = train(problem, options: o)
                    let what = "\(label) \(method) δ = \(delta)"
                    XCTAssertEqual(run.samples.count, 3001, what)
                    let level = (1 - delta) * run.diagnostics.initialLoss
                    let expected = run.samples.first { $0.loss <= level }
                    XCTAssertEqual(run.training?.escapeIteration, expected?.iteration, what)
                    XCTAssertEqual(run.training?.escapeTime, expected?.t, what)
                    if let k = expected?.iteration { XCTAssertEqual(run.training!.escapeTime!, Double(k) * o.lr, accuracy: 1e-12 * Double(k), what) }
                }
            }
        }
    }

    /// The first plateau found while a run is recorded is the first of `PlateauReport.plateaus`
    /// (the analysis), exactly: same samples, same test, the same ρ_H (to 1e-12 relative: the same
    /// computation on the same θ and pattern).
    func testFirstPlateauIsTheAnalysisFirstPlateau() throws {
        var runs: [(String, FlowSolution)] = []
        for (name, T) in [("small-init", 200.0), ("plateaus", 1000.0), ("transient-plateau", 200.0), ("abs", 50.0), ("sine", 100.0)] {
            runs.append((name, solve(try exampleProblem(name, T: T))))
        }
        var gd = try exampleProblem("small-init", T: 1)
        var o = TrainingOptions()
        o.method = .gd
        o.lr = 0.05
        o.iterations = 4000
        gd.training = o
        runs.append(("small-init gd", train(gd, options: o)))
        o.method = .adam
        o.lr = 1e-3
        gd.training = o
        runs.append(("small-init adam", train(gd, options: o)))
        var deep = try problem(#"{"data": {"target": {"function": "sin(pi*x)", "m": 16, "range": [-1, 1]}}, "#
            + #""network": {"layers": [1, 4, 4, 4, 4, 4, 1], "init": {"scheme": "xavier", "seed": 1}}}"#)
        o.method = .gd
        o.lr = 0.05
        o.iterations = 20000
        deep.training = o
        runs.append(("deep gd", train(deep, options: o)))
        var withPlateau = 0
        for (name, run) in runs {
            let expected = try PlateauReport.plateaus(run).first
            let found = try FirstPlateauFinder.of(run)
            XCTAssertEqual(found == nil, expected == nil, "\(name): \(String(describing: found)) against \(String(describing: expected))")
            guard let found, let expected else { continue }
            withPlateau += 1
            XCTAssertEqual(found.tStart, expected.tStart, name)
            XCTAssertEqual(found.tEnd, expected.tEnd, name)
            XCTAssertEqual(found.terminal, expected.terminal, name)
            XCTAssertEqual(found.loss, expected.loss, name)
            XCTAssertEqual(found.spectralRadius, expected.spectralRadius, accuracy: 1e-12 * max(expected.spectralRadius, 1e-300), name)
            if run.training != nil {
                XCTAssertEqual(found.iterationEnd, run.samples.first { $0.t == found.tEnd }?.iteration, name)
            }
        }
        XCTAssertGreaterThanOrEqual(withPlateau, 4, "the cases must exercise plateaus")
    }

    /// A resumed run reports the first plateau of the whole run: resumed inside it (T = 5: the
    /// flat span from t = 0 is not yet κ/ρ_H ≈ 6.6 long, so the first part has none, and the
    /// finder reads the earlier records back) and after it (T = 30: the earlier summary's ended
    /// plateau is kept). Against `reluflow analyze` of the same resumed folder (its first plateau,
    /// on the same samples): the same bounds and ρ_H to 1e-12 relative; against the uninterrupted
    /// run to T = 100 within 1% (the bounds are resolved to each run's sample grid, and the grids
    /// differ: measured 16.11 against 16.16).
    func testResumedRunsReportTheWholeRunsFirstPlateau() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func first(_ folder: String) throws -> [String: Any]? {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("\(folder)/summary.json"))) as! [String: Any]
            XCTAssertNotNil(json["firstPlateau"], "firstPlateau is written (null or an object)")
            return json["firstPlateau"] as? [String: Any]
        }
        XCTAssertEqual(try runReluflow(["simulate", "--example", "small-init", "--T", "100", "--out", "whole", "--quiet"], in: dir).status, 0)
        let whole = try XCTUnwrap(try first("whole"))
        for T in ["5", "30"] {
            XCTAssertEqual(try runReluflow(["simulate", "--example", "small-init", "--T", T, "--out", "part\(T)", "--quiet"], in: dir).status, 0)
            if T == "5" { XCTAssertNil(try first("part5")) }
            let resumed = try runReluflow(["simulate", "--resume", "part\(T)", "--T", "100", "--quiet"], in: dir)
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            let got = try XCTUnwrap(try first("part\(T)"), T)
            XCTAssertEqual(try runReluflow(["analyze", "part\(T)"], in: dir).status, 0)
            let analysis = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("part\(T)/analysis.json"))) as! [String: Any]
            let plateau = try XCTUnwrap((analysis["plateaus"] as? [[String: Any]])?.first)
            for key in ["tStart", "tEnd", "spectralRadius"] {
                let a = got[key] as! Double, b = plateau[key] as! Double, c = whole[key] as! Double
                XCTAssertEqual(a, b, accuracy: 1e-12 * max(abs(b), 1e-300), "\(key) resumed from T = \(T) against analyze")
                XCTAssertEqual(a, c, accuracy: 1e-2 * max(abs(c), 1e-300), "\(key) resumed from T = \(T) against the whole run")
            }
            XCTAssertEqual(got["terminal"] as? Bool, false)
        }
    }
}

/// The escape location's shortcut (`FlowIntegration.locateEscape`): a Newton step whose error bound
/// ½|D''|δ² lies below a tenth of the tolerance is not re-taken to check it. The re-step it saves
/// would have found its residual within the tolerance and stopped at the same τ, so the escape time,
/// θ(T), the events and every sample are bit for bit those of the location that re-takes every
/// iterate; only the evaluation count is lower (by one re-step and its field, 13 evaluations).
final class EscapeShortcutTests: XCTestCase {
    override func tearDown() {
        EscapeLocation.checksEveryNewtonStep = false
        super.tearDown()
    }

    func testShortcutKeepsTheEscapeTimeBitForBit() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        for (name, T) in [("linear-bias", 10.0), ("relu-depth4", 3.5), ("relu-bias-slide", 20.0)] {
            for rtol in [1e-8, 1e-10] {
                var config = try RunConfig.load(path: root.appendingPathComponent("Reference/deep_flow_cases/\(name).json").path)
                config.flow.T = T
                config.flow.rtol = rtol
                config.flow.atol = rtol / 100
                config.flow.stepper = "auto"
                let problem = try config.resolve().problem
                EscapeLocation.checksEveryNewtonStep = true
                let checked = solve(problem)
                EscapeLocation.checksEveryNewtonStep = false
                let fast = solve(problem)
                let what = "\(name) rtol \(rtol)"
                XCTAssertEqual(fast.status, .completed, what)
                let tc = try XCTUnwrap(checked.diagnostics.escapeTime, what), tf = try XCTUnwrap(fast.diagnostics.escapeTime, what)
                XCTAssertEqual(tf.bitPattern, tc.bitPattern, what)
                XCTAssertEqual(fast.finalTheta.map(\.bitPattern), checked.finalTheta.map(\.bitPattern), what)
                XCTAssertEqual(fast.events.map(\.t.bitPattern), checked.events.map(\.t.bitPattern), what)
                XCTAssertEqual(fast.samples.map(\.loss.bitPattern), checked.samples.map(\.loss.bitPattern), what)
                // Measured (rtol 1e-8): the step's second Newton iterate is within the bound on these cases.
                if rtol == 1e-8 {
                    XCTAssertEqual(checked.diagnostics.rhsEvaluations - fast.diagnostics.rhsEvaluations, 13, what)
                }
            }
        }
    }
}
