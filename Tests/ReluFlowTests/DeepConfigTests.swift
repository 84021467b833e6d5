import Foundation
import XCTest
@testable import ReluFlow

/// Deep-network configs (INTERFACE.md): resolution, the resolved config repeating θ exactly, and
/// every bad input refused with its field named (issue 17 item 7); the CLI's exits.
final class DeepConfigTests: XCTestCase {
    let data = #""data": {"x": [[0.0], [0.5], [1.0]], "y": [0.0, 1.0, 0.0]}"#

    func resolve(_ network: String, extra: String = "") throws -> (FlowProblem, RunConfig) {
        let text = "{\(data), \"network\": \(network)\(extra)}"
        return try RunConfig.decode(Data(text.utf8)).resolve()
    }

    func assertRefused(_ network: String, field: String, containing words: String? = nil, extra: String = "",
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try resolve(network, extra: extra), file: file, line: line) { error in
            guard let input = error as? InputError else { return XCTFail("not an InputError: \(error)", file: file, line: line) }
            XCTAssertEqual(input.field, field, "\(input)", file: file, line: line)
            if let words { XCTAssertTrue(input.problem.contains(words), "\(input)", file: file, line: line) }
        }
    }

    func testResolvedConfigRepeatsTheNetwork() throws {
        let (problem, resolved) = try resolve(#"{"layers": [1, 4, 3, 1], "bias": true, "outputBias": true, "init": {"scheme": "xavier", "seed": 5}}"#)
        let net = try XCTUnwrap(problem.model as? DeepNetwork)
        XCTAssertEqual(net.layers, [1, 4, 3, 1])
        XCTAssertEqual(net.parameterCount, 4 + 4 + 12 + 3 + 3 + 1)
        XCTAssertNil(problem.shallow)
        // Biases and c0 start at zero; the resolved config holds every parameter explicitly.
        XCTAssertEqual(resolved.network.biases, [[0, 0, 0, 0], [0, 0, 0]])
        let again = try RunConfig.decode(try resolved.encoded()).resolve()
        XCTAssertEqual(again.problem.theta0, problem.theta0)
        XCTAssertEqual(again.resolved, resolved)
        // Xavier variance 2/(fan_in + fan_out): W_2 (3×4) entries have σ² = 2/7; W_1 differs from W_2's law.
        XCTAssertEqual(net.parameterNames.first, "W1[0][0]")
        XCTAssertEqual(net.parameterNames.last, "c0")
        XCTAssertTrue(net.parameterNames.contains("b2[2]"))
    }

    func testExplicitWeightsAreUsedExactly() throws {
        let (problem, _) = try resolve(#"{"layers": [1, 2, 1], "activation": "linear", "weights": [[[0.5], [-2.0]], [[1.5, 0.25]]]}"#)
        XCTAssertEqual(problem.theta0, [0.5, -2.0, 1.5, 0.25])
        // N(x) = 1.5·0.5x + 0.25·(−2x) = 0.25x.
        let net = problem.model as! DeepNetwork
        XCTAssertEqual(net.output(problem.theta0, at: [2.0][...]), 0.5, accuracy: 1e-15)
    }

    func testBadInputNamesTheField() {
        assertRefused(#"{"layers": [1, 1]}"#, field: "network.layers", containing: "at least three")
        assertRefused(#"{"layers": [1, 0, 1]}"#, field: "network.layers[1]", containing: "at least 1")
        assertRefused(#"{"layers": [1, 3, 2]}"#, field: "network.layers[2]", containing: "must be 1")
        assertRefused(#"{"layers": [2, 3, 1]}"#, field: "network.layers[0]", containing: "d = 1")
        assertRefused(#"{"layers": [1, 3, 1], "activation": "tanh"}"#, field: "network.activation", containing: "relu, linear")
        assertRefused(#"{"layers": [1, 3, 1], "init": {"scheme": "lecun"}}"#, field: "network.init.scheme", containing: "he, xavier, normal")
        assertRefused(#"{"layers": [1, 3, 1], "init": {"scheme": "normal"}}"#, field: "network.init.std", containing: "required")
        assertRefused(#"{"layers": [1, 3, 1], "init": {"scheme": "he", "std": 0.1}}"#, field: "network.init.std")
        assertRefused(#"{"layers": [1, 3, 1], "init": {"biasScale": 0.1}}"#, field: "network.init.biasScale")
        assertRefused(#"{"layers": [1, 3, 1], "width": 3}"#, field: "network.width")
        assertRefused(#"{"width": 3, "activation": "relu"}"#, field: "network.activation", containing: "network.layers")
        assertRefused(#"{"layers": [1, 3, 1], "weights": [[[1.0], [1.0], [1.0]]]}"#, field: "network.weights", containing: "L = 2")
        assertRefused(#"{"layers": [1, 3, 1], "weights": [[[1.0], [1.0]], [[1.0, 1.0, 1.0]]]}"#, field: "network.weights[0]", containing: "3 × 1")
        assertRefused(#"{"layers": [1, 3, 1], "weights": [[[1.0], [1.0], [1.0, 2.0]], [[1.0, 1.0, 1.0]]]}"#, field: "network.weights[0][2]", containing: "expected n_0 = 1")
        assertRefused(#"{"layers": [1, 3, 1], "weights": [[[1.0], [1.0], [1.0]], [[1.0, 1.0]]]}"#, field: "network.weights[1][0]", containing: "1 × 3")
        assertRefused(#"{"layers": [1, 3, 1], "biases": [[0, 0, 0]]}"#, field: "network.biases", containing: "network.bias is false")
        assertRefused(#"{"layers": [1, 3, 1], "bias": true, "biases": [[0, 0]]}"#, field: "network.biases[0]", containing: "expected n_1 = 3")
        assertRefused(#"{"layers": [1, 3, 1], "c0": 0.5}"#, field: "network.c0", containing: "outputBias")
        assertRefused(#"{"layers": [1, 3, 1]}"#, field: "train.method", containing: "shallow network only", extra: #", "train": {"method": "anls"}"#)
    }

    /// curvature.json with Lanczos: `hessianEigenvalues` and `negativeFraction` written as null
    /// beside notes saying why, and what Lanczos knows in `ritzValues` (the converged extreme Ritz
    /// values, ascending, with residual bounds). Through the CLI on the auto path (a [1, 70, 60, 1]
    /// network, P = 4 460 > 4 000); on a [1, 3, 3, 1] network (P = 22) `--spectrum lanczos` against
    /// the full spectrum: each Ritz value within its residual bound plus the full solver's rounding
    /// P·ε·max|λ| (its `negativeThreshold`) of an eigenvalue, and the two ends within 1e-8·max|λ|
    /// of the full λ_min and λ_max (Ritz values converge as the square of the residual; the
    /// tolerance is 1e-10 relative).
    func testLanczosCurvatureWritesWhatItKnows() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("big.json")
        try Data(#"{"data": {"target": {"function": "sin(pi*x)", "m": 8, "range": [-1, 1]}}, "network": {"layers": [1, 70, 60, 1], "bias": true}}"#.utf8).write(to: big)
        let run = try runReluflow(["curvature", "--config", big.path, "--out", "lz"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("lz/curvature.json"))) as! [String: Any]
        XCTAssertEqual(json["parameters"] as? Int, 4460)
        XCTAssertEqual(json["spectrum"] as? String, "lanczos")
        for key in ["hessianEigenvalues", "negativeFraction"] {
            XCTAssertTrue(json[key] is NSNull, "\(key): \(json[key] ?? "absent")")
            XCTAssertTrue((json[key + "Note"] as? String)?.hasPrefix("not computed") == true, key)
        }
        XCTAssertTrue((json["hessianEigenvaluesNote"] as! String).contains("P = 4460 > 4000"))
        let ritz = json["ritzValues"] as! [[String: Double]]
        XCTAssertEqual(ritz.count, 2)
        XCTAssertEqual(ritz.first?["value"], json["lambdaMin"] as? Double)
        XCTAssertEqual(ritz.last?["value"], json["lambdaMax"] as? Double)
        let scale = max(abs(json["lambdaMin"] as! Double), abs(json["lambdaMax"] as! Double))
        for r in ritz { XCTAssertLessThanOrEqual(r["residualBound"]!, 1e-10 * scale) }

        let small = try RunConfig.load(path: { () -> String in
            let url = dir.appendingPathComponent("small.json")
            try? Data(#"{"data": {"target": {"function": "sin(pi*x)", "m": 8, "range": [-1, 1]}}, "network": {"layers": [1, 3, 3, 1], "bias": true}}"#.utf8).write(to: url)
            return url.path
        }()).resolve().problem
        let network = CurvatureReport.deepNetwork(of: small.model)
        var options = CurvatureOptions()
        let full = try CurvatureReport.compute(network: network, data: small.data, theta: small.theta0, options: options)
        options.spectrum = .lanczos
        let lanczos = try CurvatureReport.compute(network: network, data: small.data, theta: small.theta0, options: options)
        XCTAssertNil(full.hessianEigenvaluesNote)
        XCTAssertNil(full.ritzValues)
        XCTAssertNotNil(full.negativeFraction)
        XCTAssertNil(lanczos.hessianEigenvalues)
        XCTAssertTrue(lanczos.hessianEigenvaluesNote?.contains("--spectrum lanczos") == true)
        let eigenvalues = full.hessianEigenvalues!, rounding = full.negativeThreshold!
        let values = try XCTUnwrap(lanczos.ritzValues)
        XCTAssertEqual(values.count, 2)
        for r in values {
            let nearest = eigenvalues.map { abs($0 - r.value) }.min()!
            XCTAssertLessThanOrEqual(nearest, r.residualBound + rounding, "Ritz value \(r.value)")
        }
        let top = max(abs(full.lambdaMin), abs(full.lambdaMax))
        XCTAssertEqual(values[0].value, full.lambdaMin, accuracy: 1e-8 * top)
        XCTAssertEqual(values[1].value, full.lambdaMax, accuracy: 1e-8 * top)
    }

    /// The CLI: simulate on a deep config integrates the deep gradient flow (a run folder with the
    /// balance per hidden unit; analyze and plot read it), a `flow.kind` constant out of range exits 2
    /// naming it, train with anls exits 2 naming train.method, a full spectrum beyond the memory
    /// limit exits 2 with the estimate, and a curvature folder is written with its marker.
    func testCommandLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("deep.json")
        try Data(#"{"data": {"target": {"function": "sin(pi*x)", "m": 8, "range": [-1, 1]}}, "network": {"layers": [1, 3, 3, 1], "bias": true}}"#.utf8).write(to: config)
        let simulate = try runReluflow(["simulate", "--config", config.path, "--T", "5", "--out", "sim", "--quiet"], in: dir)
        XCTAssertEqual(simulate.status, 0, simulate.stderr)
        for file in ["summary.json", "trajectory.csv", "events.csv", "patterns.csv", "checkpoint.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sim/\(file)").path), file)
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("sim/summary.json"))) as! [String: Any]
        let balance = summary["balance"] as! [String: Any]
        XCTAssertEqual((balance["initial"] as! [Double]).count, 6)
        XCTAssertEqual(balance["layer"] as! [Int], [1, 1, 1, 2, 2, 2])
        XCTAssertLessThan(summary["dissipationDefect"] as! Double, 1e-10)
        XCTAssertEqual(try runReluflow(["analyze", "sim"], in: dir).status, 0)
        XCTAssertEqual(try runReluflow(["plot", "sim"], in: dir).status, 0)
        let adamFlow = dir.appendingPathComponent("adamflow.json")
        try Data(#"{"data": {"target": {"function": "x", "m": 4, "range": [-1, 1]}}, "network": {"layers": [1, 3, 3, 1]}, "flow": {"kind": "adam", "a": 0}}"#.utf8).write(to: adamFlow)
        // The adaptive flows run on deep networks (AdaptiveFlowIntegrationTests); a constant out of
        // range is bad input naming it.
        let kind = try runReluflow(["simulate", "--config", adamFlow.path, "--out", "af", "--quiet"], in: dir)
        XCTAssertEqual(kind.status, 2)
        XCTAssertTrue(kind.stderr.contains("flow.a"), kind.stderr)
        let anls = try runReluflow(["train", "--config", config.path, "--method", "anls", "--out", "t", "--quiet"], in: dir)
        XCTAssertEqual(anls.status, 2)
        XCTAssertTrue(anls.stderr.contains("train.method"), anls.stderr)
        let gd = try runReluflow(["train", "--config", config.path, "--method", "adam", "--iterations", "50", "--out", "adam", "--quiet"], in: dir)
        XCTAssertEqual(gd.status, 0, gd.stderr)
        let header = try String(contentsOf: dir.appendingPathComponent("adam/trajectory.csv"), encoding: .utf8).prefix(80)
        XCTAssertTrue(header.hasPrefix("iteration,t,loss,gradNorm,patternId,W1[0][0],W1[1][0]"), String(header))
        let analyze = try runReluflow(["analyze", "adam"], in: dir)
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        XCTAssertTrue(analyze.stdout.contains("deep network"), analyze.stdout)
        XCTAssertEqual(try runReluflow(["plot", "adam"], in: dir).status, 0)

        let curvature = try runReluflow(["curvature", "--config", config.path, "--out", "curv"], in: dir)
        XCTAssertEqual(curvature.status, 0, curvature.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("curv/curvature.json"))) as! [String: Any]
        for key in ["parameters", "loss", "gradNorm", "layerGradNorms", "hessianEigenvalues", "lambdaMax", "lambdaMin", "trace", "negativeFraction"] {
            XCTAssertNotNil(json[key], key)
        }
        XCTAssertEqual((json["hessianEigenvalues"] as! [Double]).count, json["parameters"] as! Int)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("curv/reluflow-output.json").path))

        let big = dir.appendingPathComponent("big.json")
        try Data(#"{"data": {"target": {"function": "x", "m": 4, "range": [-1, 1]}}, "network": {"layers": [1, 2000, 2000, 1]}}"#.utf8).write(to: big)
        let refused = try runReluflow(["curvature", "--config", big.path, "--spectrum", "full", "--out", "big"], in: dir)
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("--spectrum") && refused.stderr.contains("needs about"), refused.stderr)
        let unknown = try runReluflow(["curvature", "--config", config.path, "--eigensolver", "jacobi", "--out", "x"], in: dir)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("--eigensolver"), unknown.stderr)
    }
}

/// The grid of `reluflow curvature --depths …` (issue 17 item 4): summary.csv equals the
/// statistics recomputed from curvature.csv by NumPy (np.percentile, whose default linear
/// interpolation the summary documents) to 1e-12 relative; the spectra files agree with the rows
/// (λ_max, λ_min to 1e-12, the sum of the eigenvalues with the exact trace to 1e-10 of Σ|λ|); cells
/// beyond --full-spectrum-limit say lanczos and have no spectrum file. Skipped without numpy.
final class CurvatureGridTests: XCTestCase {
    func testSummaryRecomputedFromRows() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try runReluflow(["curvature", "--depths", "2,3,5", "--widths", "1,3", "--seeds", "5", "--bias", "--points", "12",
                                   "--full-spectrum-limit", "20", "--quiet", "--out", "grid"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let grid = dir.appendingPathComponent("grid")
        let names = try FileManager.default.contentsOfDirectory(atPath: grid.path)
        for name in ["curvature.csv", "summary.csv", "curvature-gradient.svg", "curvature-lambda.svg", "curvature-dead.svg", "reluflow-output.json"] {
            XCTAssertTrue(names.contains(name), name)
        }
        // Width 3: P = 3·1 + 3 (L = 2: + 3) … depth 5 has 3+3 + 3·(9+3) + 3 = 45 > 20 → Lanczos.
        XCTAssertFalse(names.contains("spectrum_L5_n3.npy"))
        XCTAssertTrue(names.contains("spectrum_L2_n1.npy"))
        // plot redraws the same figures from curvature.csv and the spectra.
        let before = try Data(contentsOf: grid.appendingPathComponent("curvature-gradient.svg"))
        let histograms = try Data(contentsOf: grid.appendingPathComponent("curvature-histograms.svg"))
        let plot = try runReluflow(["plot", "grid"], in: dir)
        XCTAssertEqual(plot.status, 0, plot.stderr)
        XCTAssertEqual(try Data(contentsOf: grid.appendingPathComponent("curvature-gradient.svg")), before)
        XCTAssertEqual(try Data(contentsOf: grid.appendingPathComponent("curvature-histograms.svg")), histograms)
        let script = """
        import csv, sys, numpy as np
        d = sys.argv[1]
        rows = list(csv.DictReader(open(d + '/curvature.csv')))
        summary = list(csv.DictReader(open(d + '/summary.csv')))
        assert len(summary) == 6, len(summary)
        worst = 0.0
        for s in summary:
            group = [r for r in rows if r['depth'] == s['depth'] and r['width'] == s['width']]
            assert len(group) == int(s['seeds']) == 5
            assert s['spectrum'] == '+'.join(sorted({r['spectrum'] for r in group}))
            dead = np.mean([r['dead'] == 'true' for r in group])
            assert abs(dead - float(s['deadFraction'])) < 1e-15
            for q in ['gradNorm', 'lambdaMax', 'lambdaMin', 'trace', 'negativeFraction', 'loss']:
                v = np.array([float(r[q]) for r in group])
                v = v[~np.isnan(v)]
                for name, p in [('median', 50), ('q1', 25), ('q3', 75)]:
                    got = float(s[q + '_' + name])
                    if len(v) == 0:
                        assert np.isnan(got), (q, name)
                        continue
                    want = np.percentile(v, p)
                    worst = max(worst, abs(got - want) / max(abs(want), 1e-300))
            if s['spectrum'] == 'full':
                spectra = np.load(d + f"/spectrum_L{s['depth']}_n{s['width']}.npy")
                assert spectra.shape == (5, int(s['parameters'])), spectra.shape
                for r, e in zip(group, spectra):
                    assert np.all(np.diff(e) >= 0)
                    scale = max(abs(e).max(), 1e-300)
                    assert abs(e[-1] - float(r['lambdaMax'])) <= 1e-12 * scale
                    assert abs(e[0] - float(r['lambdaMin'])) <= 1e-12 * scale
                    assert abs(e.sum() - float(r['trace'])) <= 1e-10 * max(abs(e).sum(), 1e-300), (e.sum(), r['trace'])
            else:
                assert all(int(r['lanczosIterations']) > 0 for r in group)
        assert worst <= 1e-12, worst
        print('ok', worst)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, grid.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw XCTSkip("python3 not available") }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if errors.contains("No module named 'numpy'") { throw XCTSkip("python3 without numpy") }
        XCTAssertEqual(process.terminationStatus, 0, errors)
        XCTAssertTrue(text.hasPrefix("ok"), text + errors)
    }

    func testBadGridOptions() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (arguments, option) in [(["--depths", "1,2", "--widths", "2", "--seeds", "1"], "--depths"),
                                    (["--depths", "2", "--widths", "0", "--seeds", "1"], "--widths"),
                                    (["--depths", "2", "--widths", "2"], "--seeds"),
                                    (["--depths", "2,x", "--widths", "2", "--seeds", "1"], "--depths"),
                                    (["--depths", "2", "--widths", "2", "--seeds", "1", "--init", "lecun"], "--init"),
                                    (["--depths", "2", "--widths", "2", "--seeds", "1", "--activation", "tanh"], "--activation"),
                                    (["--depths", "2", "--widths", "2", "--seeds", "1", "--histograms", "3:2"], "--histograms"),
                                    (["--depths", "2", "--widths", "2", "--seeds", "1", "--spectrum", "some"], "--spectrum"),
                                    (["--depths", "2,2", "--widths", "2", "--seeds", "1"], "--depths")] {
            let run = try runReluflow(["curvature"] + arguments + ["--out", "g"], in: dir)
            XCTAssertEqual(run.status, 2, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(option), "\(arguments): \(run.stderr)")
        }
    }

    /// A grid folder is the toolkit's own output, spectra included: the same grid runs again into
    /// it (and is replaced), `plot --format png` renders its figures, and a grid's options given
    /// with one network's config are refused rather than ignored.
    func testGridFolderIsReplaceableAndPlottedInEveryFormat() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = ["curvature", "--depths", "2,3", "--widths", "2", "--seeds", "2", "--points", "8", "--quiet", "--out", "g"]
        for k in 0..<2 {
            let run = try runReluflow(grid, in: dir)
            XCTAssertEqual(run.status, 0, "run \(k): \(run.stderr)")
        }
        let marker = try JSONDecoder().decode(OutputMarker.self, from: Data(contentsOf: dir.appendingPathComponent("g/reluflow-output.json")))
        XCTAssertTrue(marker.files.keys.contains("spectrum_L2_n2.npy"), "\(marker.files.keys.sorted())")
        let plot = try runReluflow(["plot", "g", "--format", "svg,png"], in: dir)
        XCTAssertEqual(plot.status, 0, plot.stderr)
        for name in ["curvature-gradient.png", "curvature-lambda.png", "curvature-gradient.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("g/\(name)").path), name)
        }
        XCTAssertEqual(try runReluflow(grid, in: dir).status, 0, "the grid with its figures rendered is still replaceable")
        let analyze = try runReluflow(["analyze", "g"], in: dir)
        XCTAssertEqual(analyze.status, 2, analyze.stderr)
        XCTAssertTrue(analyze.stderr.contains("is a curvature output"), analyze.stderr)
        let config = dir.appendingPathComponent("net.json")
        try Data(#"{"data": {"target": {"function": "x", "m": 4, "range": [-1, 1]}}, "network": {"layers": [1, 2, 1]}}"#.utf8).write(to: config)
        for option in [["--bias"], ["--target", "x"], ["--init", "xavier"], ["--activation", "linear"], ["--histograms", "2:2"], ["--points", "4"]] {
            let run = try runReluflow(["curvature", "--config", "net.json", "--out", "one"] + option, in: dir)
            XCTAssertEqual(run.status, 2, "\(option): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(option[0]), "\(option): \(run.stderr)")
        }
    }

    /// `--example NAME` is `--config` with the example's config (a new user looked for it, as
    /// simulate, train and compare have it): the same curvature.json (timings aside), the default
    /// folder named after the example, the grid on its data; with --config as well: exit 2.
    func testExampleIsItsConfig() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = try runReluflow(["examples", "--json", "plateaus"], in: dir)
        XCTAssertEqual(json.status, 0, json.stderr)
        try Data(json.stdout.utf8).write(to: dir.appendingPathComponent("plateaus.json"))
        for (options, out) in [(["--example", "plateaus"], "runs/plateaus-curvature"), (["--config", "plateaus.json"], "byconfig")] {
            let run = try runReluflow(["curvature"] + options + (out == "byconfig" ? ["--out", out] : []), in: dir)
            XCTAssertEqual(run.status, 0, "\(options): \(run.stderr)")
        }
        // Every field but the timings (…Seconds).
        func fields(_ path: String) throws -> NSDictionary {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(path))) as! [String: Any]
            return object.filter { !$0.key.hasSuffix("Seconds") } as NSDictionary
        }
        let a = try fields("runs/plateaus-curvature/curvature.json"), b = try fields("byconfig/curvature.json")
        XCTAssertGreaterThan(a.count, 10)
        XCTAssertEqual(a, b)
        let grid = ["curvature", "--depths", "2,3", "--widths", "2", "--seeds", "2", "--quiet"]
        XCTAssertEqual(try runReluflow(grid + ["--example", "plateaus", "--out", "g1"], in: dir).status, 0)
        XCTAssertEqual(try runReluflow(grid + ["--config", "plateaus.json", "--out", "g2"], in: dir).status, 0)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("g1/curvature.csv")),
                       try Data(contentsOf: dir.appendingPathComponent("g2/curvature.csv")))
        for bad in [["--example", "plateaus", "--config", "plateaus.json"], ["--example", "nosuch"]] {
            let run = try runReluflow(["curvature"] + bad + ["--out", "x"], in: dir)
            XCTAssertEqual(run.status, 2, "\(bad): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(bad.count == 4 ? "--config" : "--example"), "\(bad): \(run.stderr)")
        }
    }

    /// SIGINT or SIGTERM stops a grid between networks with the signal's exit status and nothing
    /// written.
    func testGridStopsOnSignal() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let process = Process()
            process.executableURL = reluflowExecutable()
            process.arguments = ["curvature", "--depths", "8,16", "--widths", "16", "--seeds", "200", "--quiet", "--out", "g"]
            process.currentDirectoryURL = dir
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: 1.5)
            kill(process.processIdentifier, signal)
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, status, errors)
            XCTAssertTrue(errors.contains("interrupted"), errors)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("g").path))
        }
    }
}
