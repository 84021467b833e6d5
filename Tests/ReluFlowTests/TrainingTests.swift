import Foundation
import XCTest
@testable import ReluFlow

/// The discrete training methods of SPEC §7 (issue 16).
final class TrainingTests: XCTestCase {
    func options(_ method: TrainingMethod, lr: Double, iterations: Int, batch: Int? = nil) -> TrainingOptions {
        var o = TrainingOptions()
        o.method = method
        o.lr = lr
        o.iterations = iterations
        o.batch = batch
        o.sampleSpacing = .linear
        o.sampleCount = 11
        return o
    }

    /// The plain gradient (σ'(0) = 0) against central differences away from the kinks, and at a
    /// kink: a point with z = 0 exactly contributes nothing.
    func testGradientAgainstFiniteDifferences() throws {
        let config = try Example.named("two-d").config
        let (problem, _) = try config.resolve()
        let (_, g) = problem.network.lossAndGradient(problem.theta0, data: problem.data)
        for p in 0..<problem.network.parameterCount {
            var plus = problem.theta0, minus = problem.theta0
            let h = 1e-6
            plus[p] += h
            minus[p] -= h
            let fd = (problem.network.loss(plus, data: problem.data) - problem.network.loss(minus, data: problem.data)) / (2 * h)
            XCTAssertEqual(g[p], fd, accuracy: 1e-7 * max(1, abs(fd)), "θ[\(p)]")
        }
        // Zero biases and a point at x = 0: z = 0 there, so b's gradient excludes it.
        let network = ShallowNetwork(width: 1, inputDimension: 1)
        let data = try Dataset(x: [[-1], [0], [1]], y: [0, 1, 0])
        let theta = [2.0, 0.0, 1.5]   // w, b, c
        let (_, grad) = network.lossAndGradient(theta, data: data)
        // Only x = 1 is active (z = 2): r = 3 − 0 = 3; ∂L/∂b = c r / m = 1.5.
        XCTAssertEqual(grad[1], 1.5 * 3 / 3, accuracy: 1e-15)
        XCTAssertEqual(grad[0], 1.5 * 3 * 1 / 3, accuracy: 1e-15)
        XCTAssertEqual(grad[2], 3 * 2 / 3, accuracy: 1e-15)
    }

    /// GD is the Euler discretisation of the flow: on `sine` to t = 10, ‖θ_GD(k = t/η) − θ(t)‖
    /// falls like η (fitted order within [0.8, 1.2] for η, η/2, η/4), and GD's pattern changes
    /// approach the flow's events.
    func testGradientDescentConvergesToTheFlowAtFirstOrder() throws {
        let flow = solve(try exampleProblem("sine", T: 10, stepper: .rk8pd, rtol: 1e-12, atol: 1e-14))
        let problem = try exampleProblem("sine", T: 10)
        var errors: [Double] = []
        var firstEventTimes: [Double] = []
        for K in [1000, 2000, 4000] {
            let run = train(problem, options: options(.gd, lr: 10 / Double(K), iterations: K))
            XCTAssertEqual(run.last?.iteration, K)
            XCTAssertEqual(run.finalTime, 10, accuracy: 1e-9)
            errors.append(zip(run.finalTheta, flow.finalTheta).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot())
            firstEventTimes.append(run.events.first!.t)
        }
        let orders = [log2(errors[0] / errors[1]), log2(errors[1] / errors[2])]
        for order in orders { XCTAssertTrue((0.8...1.2).contains(order), "orders \(orders), errors \(errors)") }
        let flowFirst = flow.events.first!.t
        let gaps = firstEventTimes.map { abs($0 - flowFirst) }
        XCTAssertLessThan(gaps[2], gaps[0], "first pattern change \(firstEventTimes) against the flow's \(flowFirst)")
        XCTAssertLessThan(gaps[2], 4 * 10 / 4000.0)
    }

    /// SGD: each epoch visits every point once; the same seed gives the same iterates, another
    /// seed other ones.
    func testMinibatchOrder() throws {
        var order = BatchOrder(points: 10, size: 4, seed: 7)
        for _ in 0..<3 {
            let epoch = order.next() + order.next() + order.next()
            XCTAssertEqual(epoch.sorted(), Array(0..<10))
        }
        let problem = try exampleProblem("sine", T: 1)
        var o = options(.sgd, lr: 0.05, iterations: 200, batch: 4)
        let a = train(problem, options: o), b = train(problem, options: o)
        XCTAssertEqual(a.finalTheta.map(\.bitPattern), b.finalTheta.map(\.bitPattern))
        o.seed = 1
        let c = train(problem, options: o)
        XCTAssertNotEqual(a.finalTheta, c.finalTheta)
    }

    /// ANLS (SPEC §7): the loss never increases; on data of a ReLU network whose knots lie
    /// between data points, from a start in the right pattern, it recovers the network: in a few
    /// sweeps where the neurons' active sets are disjoint (one neuron's fit does not move the
    /// other's target); linearly where they overlap (neuron-by-neuron least squares is a block
    /// Gauss–Seidel iteration: measured 0.47 per sweep on the case below).
    func testANLSRecoversATeacherNetwork() throws {
        let xs = (0..<21).map { -1 + 0.1 * Double($0) }
        // Knots at −0.35 (active to the left) and 0.45 (to the right): disjoint active sets.
        let disjoint: (Double) -> Double = { 1.5 * max(-2 * $0 - 0.7, 0) - 0.8 * max($0 - 0.45, 0) }
        // Knots at −0.35 (right) and 0.45 (left): both active on [−0.3, 0.4].
        let overlapping: (Double) -> Double = { 1.5 * max(2 * $0 + 0.7, 0) - 0.8 * max(-1 * $0 + 0.45, 0) }
        for (teacher, W, b, sweeps, floor) in [(disjoint, [[-2.2], [0.9]], [-0.8, -0.4], 3, 1e-28),
                                               (overlapping, [[2.2], [-0.9]], [0.8, 0.4], 60, 1e-22)] {
            let config = RunConfig(data: DataConfig(x: xs.map { [$0] }, y: xs.map(teacher)),
                                   network: NetworkConfig(W: W, b: b, c: [1.0, -1.0]))
            let (problem, _) = try config.resolve()
            var o = options(.anls, lr: 1, iterations: sweeps)
            o.anlsTolerance = 0
            o.sampleCount = sweeps + 1
            let run = train(problem, options: o)
            XCTAssertEqual(run.status, .completed, run.message ?? "")
            XCTAssertLessThan(run.finalLoss, floor, "\(sweeps) sweeps")
            let losses = run.samples.map(\.loss)
            XCTAssertLessThanOrEqual(losses.count, sweeps + 1)
            for (a, b) in zip(losses, losses.dropFirst()) { XCTAssertLessThanOrEqual(b, a) }
            // The function is recovered on the data to 1e-10.
            for x in xs { XCTAssertEqual(problem.network.output(run.finalTheta, at: [x][...]), teacher(x), accuracy: 1e-10) }
            XCTAssertEqual(run.eventCount, 0, "the pattern was right from the start")
        }
    }

    /// ANLS's neuron step is the least squares of c_i (w·x_j + b) against ρ_j on its set: with one
    /// neuron and no enlargement, one sweep puts c·(w, b) on the least-squares line of the active
    /// points (solved here independently by the normal equations; the data are off any line).
    func testANLSSubproblemMatchesNormalEquations() throws {
        let xs = [-1.0, -0.5, 0.1, 0.3, 0.8, 1.0]
        let noise = [0.0, 0.0, 0.01, -0.02, 0.015, -0.005]
        let y = xs.indices.map { 0.7 * max(1.3 * xs[$0] + 0.2, 0) + noise[$0] }
        let config = RunConfig(data: DataConfig(x: xs.map { [$0] }, y: y), network: NetworkConfig(W: [[1.0]], b: [0.05], c: [0.7]))
        let (problem, _) = try config.resolve()
        var o = options(.anls, lr: 1, iterations: 1)
        o.anlsEnlarge = 0
        o.anlsRidge = 0
        let run = train(problem, options: o)
        let active = xs.indices.filter { xs[$0] > -0.05 }
        var sxx = 0.0, sx = 0.0, s1 = 0.0, sxy = 0.0, sy = 0.0
        for j in active { sxx += xs[j] * xs[j]; sx += xs[j]; s1 += 1; sxy += xs[j] * y[j]; sy += y[j] }
        let det = sxx * s1 - sx * sx
        let slope = (sxy * s1 - sx * sy) / det, intercept = (sxx * sy - sx * sxy) / det
        let c = run.finalTheta[2]
        XCTAssertEqual(c * run.finalTheta[0], slope, accuracy: 1e-13)
        XCTAssertEqual(c * run.finalTheta[1], intercept, accuracy: 1e-13)
    }

    /// ANLS never increases the loss on the built-in examples either.
    func testANLSLossNeverIncreases() throws {
        for name in ["sine", "plateaus", "small-init", "two-d"] {
            let problem = try exampleProblem(name, T: 1)
            var o = options(.anls, lr: 1, iterations: 30)
            o.sampleCount = 31
            let run = train(problem, options: o)
            let losses = run.samples.map(\.loss)
            for (a, b) in zip(losses, losses.dropFirst()) { XCTAssertLessThanOrEqual(b, a, name) }
            XCTAssertLessThan(run.finalLoss, run.diagnostics.initialLoss, name)
        }
    }

    /// Divergence: status failed, the iteration named, the last good state kept.
    func testDivergenceStopsWithTheLastGoodState() throws {
        let problem = try exampleProblem("sine", T: 1)
        let run = train(problem, options: options(.gd, lr: 50, iterations: 1000))
        XCTAssertEqual(run.status, .failed)
        XCTAssertTrue(run.message?.contains("diverged at iteration") ?? false, run.message ?? "")
        XCTAssertTrue(run.message?.contains("lower the learning rate") ?? false)
        XCTAssertTrue(run.finalLoss.isFinite)
        XCTAssertLessThan(run.finalLoss, 1e6 * run.diagnostics.initialLoss)
    }
}

/// `reluflow train` as a user runs it: the run folder, bad input (exit 2, field named),
/// divergence (exit 1, the iteration and the hint, the last good state written).
final class TrainCommandTests: XCTestCase {
    func testTrainWritesARunFolderThatAnalyzeAndPlotRead() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for method in TrainingMethod.allCases {
            let result = try runReluflow(["train", "--example", "sine", "--method", method.rawValue, "--iterations", "300", "--quiet"], in: dir)
            XCTAssertEqual(result.status, 0, result.stderr)
            let folder = dir.appendingPathComponent("runs/sine-\(method.rawValue)")
            let header = try String(contentsOf: folder.appendingPathComponent("trajectory.csv"), encoding: .utf8).prefix(while: { $0 != "\n" })
            XCTAssertTrue(header.hasPrefix("iteration,t,loss,gradNorm,patternId,W[0][0]"), String(header))
            let events = try String(contentsOf: folder.appendingPathComponent("events.csv"), encoding: .utf8)
            XCTAssertTrue(events.hasPrefix("iteration,t,neuron,point,kind,loss,state\n"))
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("summary.json"))) as! [String: Any]
            XCTAssertEqual(summary["method"] as? String, method.rawValue)
            for key in ["iterations", "lr", "finalLoss", "theta", "theta0", "wallSeconds", "status", "escapeIteration", "escapeTime"] {
                XCTAssertTrue(summary.keys.contains(key), "\(method): \(key)")
            }
            let config = try RunConfig.load(path: folder.appendingPathComponent("config.json").path)
            XCTAssertEqual(config.train?.method, method.rawValue)
            XCTAssertNotNil(config.train?.lr)
            XCTAssertEqual(try runReluflow(["analyze", "runs/sine-\(method.rawValue)"], in: dir).status, 0, method.rawValue)
            XCTAssertEqual(try runReluflow(["plot", "runs/sine-\(method.rawValue)"], in: dir).status, 0, method.rawValue)
            // The resolved config repeats the run.
            let again = try runReluflow(["train", "--config", "runs/sine-\(method.rawValue)/config.json", "--out", "again-\(method.rawValue)", "--quiet"], in: dir)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("trajectory.csv")),
                           try Data(contentsOf: dir.appendingPathComponent("again-\(method.rawValue)/trajectory.csv")), method.rawValue)
        }
    }

    func testBadTrainingInputIsNamed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([String], String)] = [
            (["--lr", "0"], "train.lr"), (["--lr", "-1"], "train.lr"), (["--lr", "inf"], "train.lr"),
            (["--iterations", "0"], "train.iterations"), (["--batch", "0"], "train.batch"), (["--batch", "21"], "train.batch"),
            (["--method", "lbfgs"], "train.method"), (["--method", "anls", "--lr", "2"], "train.lr"),
            (["--method", "anls", "--batch", "4"], "train.batch"), (["--batch-seed", "-1"], "--batch-seed"),
            (["--method", "gd", "--batch", "5"], "train.batch"),
        ]
        for (arguments, field) in cases {
            let result = try runReluflow(["train", "--example", "sine", "--quiet"] + arguments, in: dir)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(field), "\(arguments): \(result.stderr)")
        }
        let good = #"{"data": {"x": [[-1], [0], [1]], "y": [1, 0, 1]}, "network": {"width": 2}, "train": {"method": "anls", "anls": {"#
        for (anls, field) in [(#""ridge": -1}}}"#, "train.anls.ridge"), (#""enlarge": 4}}}"#, "train.anls.enlarge"),
                              (#""tolerance": 1}}}"#, "train.anls.tolerance")] {
            try (good + anls).write(to: dir.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
            let result = try runReluflow(["train", "--config", "a.json", "--quiet"], in: dir)
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.contains(field), result.stderr)
        }
        try (#"{"data": {"x": [[-1], [0], [1]], "y": [1, 0, 1]}, "network": {"width": 2}, "train": {"method": "adam", "epsilon": 0}}"#)
            .write(to: dir.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        let epsilon = try runReluflow(["train", "--config", "a.json", "--quiet"], in: dir)
        XCTAssertEqual(epsilon.status, 2, epsilon.stderr)
        XCTAssertTrue(epsilon.stderr.contains("train.epsilon"), epsilon.stderr)
        // A constant the method does not read is named (it would change nothing); the defaults a
        // resolved config writes for every method, and a constant the method reads, are not.
        for (train, note) in [(#""method": "gd", "beta1": 0.5, "alpha": 0.9"#, ["train.beta1 = 0.5 (read by adam)", "train.alpha = 0.9 (read by rmsprop)"]),
                              (#""method": "sgd", "epsilon": 0.001"#, ["train.epsilon = 0.001 (read by adam and rmsprop)"]),
                              (#""method": "gd", "beta1": 0.9, "epsilon": 1e-8"#, []), (#""method": "rmsprop", "alpha": 0.5"#, []),
                              (#""method": "adam", "alpha": 0.5"#, ["train.alpha = 0.5 (read by rmsprop)"])] {
            try (#"{"data": {"x": [[-1], [0], [1]], "y": [1, 0, 1]}, "network": {"width": 2}, "train": {"iterations": 5, "#
                 + train + "}}").write(to: dir.appendingPathComponent("u.json"), atomically: true, encoding: .utf8)
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("u"))
            let result = try runReluflow(["train", "--config", "u.json", "--out", "u", "--quiet"], in: dir)
            XCTAssertEqual(result.status, 0, result.stderr)
            let notes = result.stderr.split(separator: "\n").filter { $0.hasPrefix("note: train.") }
            XCTAssertEqual(notes.count, note.count, "\(train): \(result.stderr)")
            for n in note { XCTAssertTrue(result.stderr.contains(n), "\(train): \(result.stderr)") }
            let again = try runReluflow(["train", "--config", "u/config.json", "--out", "u2", "--quiet"], in: dir)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(again.stderr.split(separator: "\n").filter { $0.hasPrefix("note: train.") }.count, note.count, again.stderr)
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("u2"))
        }
        for name in ["u", "u.json"] { try FileManager.default.removeItem(at: dir.appendingPathComponent(name)) }
        // The size check counts the rows a run can have: at most one per iteration.
        let small = try runReluflow(["train", "--example", "sine", "--samples", "1e7", "--iterations", "100", "--out", "small", "--quiet"], in: dir)
        XCTAssertEqual(small.status, 0, small.stderr)
        // A training run is not resumed as a flow.
        let resume = try runReluflow(["simulate", "--resume", "small", "--quiet"], in: dir)
        XCTAssertEqual(resume.status, 2, resume.stderr)
        XCTAssertTrue(resume.stderr.contains("training run"), resume.stderr)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("small"))
        // A train section is not a flow.
        try (good + #""ridge": 0}}}"#).write(to: dir.appendingPathComponent("b.json"), atomically: true, encoding: .utf8)
        let simulate = try runReluflow(["simulate", "--config", "b.json", "--quiet"], in: dir)
        XCTAssertEqual(simulate.status, 2)
        XCTAssertTrue(simulate.stderr.contains("train"), simulate.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["a.json", "b.json"], "nothing written")
    }

    func testDivergenceExitsOneWithTheLastGoodState() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try runReluflow(["train", "--example", "sine", "--lr", "50", "--iterations", "1000", "--out", "run", "--quiet"], in: dir)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("diverged at iteration"), result.stderr)
        XCTAssertTrue(result.stderr.contains("--lr"), result.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("run/summary.json")))
        XCTAssertEqual(summary.status, .failed)
        XCTAssertTrue(summary.finalLoss.isFinite)
        XCTAssertTrue(summary.theta.allSatisfy(\.isFinite))
    }
}

/// GD, SGD, Adam and RMSProp against the independent NumPy reference (Tests/Reference/
/// training_reference.py, cases in training_cases/): θ_K within 1e-10 of ‖θ_K‖∞ per component and
/// the loss at the listed iterations within 1e-10 relative. Both sides sum in different orders;
/// the reference measured how far a 1e-15 relative change of θ_0 moves θ_K on these cases (at most
/// 9.1e-13, Tests/Reference/README.md), so 1e-10 leaves a factor 100 for rounding while any
/// formula slip (σ'(0) = 1, a missing bias correction, ε inside the root) moves θ_K by 1e-7 or more.
final class TrainingReferenceTests: XCTestCase {
    struct Case: Decodable {
        let x: [[Double]], y: [Double], W: [[Double]], b: [Double], c: [Double], c0: Double?
        let method: String, lr: Double, iterations: Int
        let beta1: Double?, beta2: Double?, epsilon: Double?, alpha: Double?
        let batches: [[Int]]?
        struct Expected: Decodable { let theta: [Double]; let loss: [String: Double] }
        let expected: Expected
    }

    func testIteratesAgreeWithTheNumPyReference() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/training_cases")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(files.count, 12)
        for file in files {
            let item = try JSONDecoder().decode(Case.self, from: Data(contentsOf: folder.appendingPathComponent(file)))
            let config = RunConfig(data: DataConfig(x: item.x, y: item.y),
                                   network: NetworkConfig(outputBias: item.c0 != nil, W: item.W, b: item.b, c: item.c, c0: item.c0))
            let (problem, _) = try config.resolve()
            var o = TrainingOptions()
            o.method = try XCTUnwrap(TrainingMethod(rawValue: item.method))
            o.lr = item.lr
            o.iterations = item.iterations
            if let v = item.beta1 { o.beta1 = v }
            if let v = item.beta2 { o.beta2 = v }
            if let v = item.epsilon { o.epsilon = v }
            if let v = item.alpha { o.alpha = v }
            o.batchSchedule = item.batches
            o.sampleSpacing = .linear
            o.sampleCount = item.iterations + 1
            let run = train(problem, options: o)
            XCTAssertEqual(run.status, .completed, file)
            let scale = item.expected.theta.map(abs).max()!
            let gap = zip(run.finalTheta, item.expected.theta).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(gap, 1e-10 * scale, file)
            for (k, loss) in item.expected.loss {
                let sample = try XCTUnwrap(run.samples.first { $0.iteration == Int(k) }, "\(file): iteration \(k)")
                XCTAssertEqual(sample.loss, loss, accuracy: 1e-10 * loss, "\(file): iteration \(k)")
            }
        }
    }
}

/// `reluflow compare`: one run folder per method, comparison.csv and comparison.svg; plot redraws
/// it; the folder is a ReluFlow output as a whole (its runs included).
final class CompareCommandTests: XCTestCase {
    func testCompareWritesRunsAndTables() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try runReluflow(["compare", "--example", "plateaus", "--T", "1000", "--methods", "flow,gd,adam,rmsprop,anls",
                                      "--iterations", "3000", "--out", "cmp", "--quiet"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        let folder = dir.appendingPathComponent("cmp")
        for method in ["flow", "gd", "adam", "rmsprop", "anls"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(method)/summary.json").path), method)
            XCTAssertEqual(try runReluflow(["analyze", "cmp/\(method)"], in: dir).status, 0, method)
        }
        let rows = try String(contentsOf: folder.appendingPathComponent("comparison.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(rows[0].hasPrefix("method,iterations,t,wallSeconds,finalLoss,escapeTime,plateaus,plateauTime,t_10pct,"), String(rows[0]))
        XCTAssertEqual(rows.count, 6)
        XCTAssertEqual(rows.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false)[0]) },
                       ["flow", "gd", "adam", "rmsprop", "anls"])
        // GD runs T/η iterations unless told; here 3000 each.
        let gd = rows[2].split(separator: ",", omittingEmptySubsequences: false)
        XCTAssertEqual(gd[1], "3000")
        let svg = try String(contentsOf: folder.appendingPathComponent("comparison.svg"), encoding: .utf8)
        for label in ["gradient flow (exact)", "gradient descent, η =", "Adam, η =", "RMSProp, η =", "ANLS"] {
            XCTAssertTrue(svg.contains(label), label)
        }
        // plot redraws it; a second compare replaces the whole folder; a user's file in a run stops that.
        try FileManager.default.removeItem(at: folder.appendingPathComponent("comparison.svg"))
        let plot = try runReluflow(["plot", "cmp"], in: dir)
        XCTAssertEqual(plot.status, 0, plot.stderr)
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("comparison.svg"), encoding: .utf8), svg)
        XCTAssertEqual(try runReluflow(["compare", "--example", "plateaus", "--T", "10", "--methods", "flow,gd", "--out", "cmp", "--quiet"], in: dir).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("adam").path), "the earlier runs are replaced")
        try "mine".write(to: folder.appendingPathComponent("gd/notes.txt"), atomically: true, encoding: .utf8)
        let refused = try runReluflow(["compare", "--example", "plateaus", "--T", "10", "--methods", "flow,gd", "--out", "cmp", "--quiet"], in: dir)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("notes.txt"), refused.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("gd/notes.txt").path))
        let bad = try runReluflow(["compare", "--example", "plateaus", "--methods", "flow,lbfgs", "--out", "x", "--quiet"], in: dir)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--methods"), bad.stderr)
    }
}
