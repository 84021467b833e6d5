import Foundation
import XCTest
@testable import ReluFlow

/// Samples by dense output inside accepted steps (`SampleOutput.dense`): the grid does not steer
/// the stepper, and the samples are within the tolerance of the trajectory.
final class DenseOutputTests: XCTestCase {
    func problem(_ name: String, T: Double, samples: Int, spacing: String = "log", output: SampleOutput = .dense,
                 rtol: Double = 1e-10, atol: Double = 1e-12) throws -> FlowProblem {
        var config = try Example.named(name).config
        config.flow.T = T
        config.flow.rtol = rtol
        config.flow.atol = atol
        config.flow.samples = SampleConfig(spacing: spacing, count: samples, output: output.rawValue)
        return try config.resolve().problem
    }

    /// θ(T), the events and the step sequence do not depend on the sample grid: the same steps are
    /// taken whatever the grid, so θ(T) and every event agree bit for bit (only the evaluations
    /// spent on samples differ).
    func testGridDoesNotSteerTheStepper() throws {
        for (name, T) in [("sine", 300.0), ("two-d", 20.0)] {
            let runs = try [20, 400, 2000].map { solve(try problem(name, T: T, samples: $0)) }
            for run in runs { XCTAssertEqual(run.status, .completed, run.message ?? "") }
            let first = runs[0]
            for run in runs.dropFirst() {
                XCTAssertEqual(run.diagnostics.steps, first.diagnostics.steps, name)
                XCTAssertEqual(run.diagnostics.rejectedSteps, first.diagnostics.rejectedSteps, name)
                XCTAssertEqual(run.finalTheta, first.finalTheta, name)
                XCTAssertEqual(run.events.map(\.t), first.events.map(\.t), name)
                XCTAssertEqual(run.events.map { "\($0.neuron):\($0.point):\($0.kind.rawValue)" },
                               first.events.map { "\($0.neuron):\($0.point):\($0.kind.rawValue)" }, name)
                XCTAssertGreaterThan(run.diagnostics.interpolatedSamples + run.diagnostics.resteppedSamples, 0, name)
            }
            // With step ends at the sample times the grid changes the step sequence.
            let steered = try [20, 400].map { solve(try problem(name, T: T, samples: $0, output: .stepEnds)).diagnostics.steps }
            XCTAssertNotEqual(steered[0], steered[1], name)
        }
    }

    /// The samples against a reference trajectory (step ends at the grid, rtol 1e-13, atol 1e-15)
    /// (measured 1.7e-12 with the quintic interpolant; 2.6e-11 with the cubic one before):
    /// the dense samples at rtol 1e-10 lie within 1e-8 of it (relative to max(1, |θ_p|); the
    /// engine's stated accuracy at the default tolerances, SPEC §4), and no further than 10× the
    /// distance of the step-end samples at the same tolerances plus 1e-10 (interpolation adds at most
    /// about the tolerance to the global error). Both paths (Hermite and re-step) are exercised.
    func testSamplesAgreeWithATighterReference() throws {
        let T = 30.0, count = 300
        let reference = solve(try problem("sine", T: T, samples: count, spacing: "linear", output: .stepEnds, rtol: 1e-13, atol: 1e-15))
        let dense = solve(try problem("sine", T: T, samples: count, spacing: "linear"))
        let ends = solve(try problem("sine", T: T, samples: count, spacing: "linear", output: .stepEnds))
        XCTAssertGreaterThan(dense.diagnostics.interpolatedSamples, 0)
        func gridSamples(_ s: FlowSolution) -> [Double: FlowSample] {
            let grid = Set(s.problem.options.sampleTimes)
            return Dictionary(s.samples.filter { grid.contains($0.t) }.map { ($0.t, $0) }, uniquingKeysWith: { a, _ in a })
        }
        let r = gridSamples(reference), d = gridSamples(dense), e = gridSamples(ends)
        var worstDense = 0.0, worstEnds = 0.0, compared = 0
        for (t, ref) in r {
            guard let a = d[t], let b = e[t] else { continue }
            compared += 1
            for p in ref.theta.indices {
                let scale = max(1, abs(ref.theta[p]))
                worstDense = max(worstDense, abs(a.theta[p] - ref.theta[p]) / scale)
                worstEnds = max(worstEnds, abs(b.theta[p] - ref.theta[p]) / scale)
            }
            XCTAssertEqual(a.loss, ref.loss, accuracy: 1e-8 * max(1, ref.loss), "t = \(t)")
        }
        XCTAssertGreaterThan(compared, count / 2)
        XCTAssertLessThanOrEqual(worstDense, 1e-8)
        XCTAssertLessThanOrEqual(worstDense, 10 * worstEnds + 1e-10, "dense \(worstDense), step ends \(worstEnds)")
        // The slope history (with nodes inside the step where needed) serves every sample of
        // these rk8pd steps (298 of 298; the quintic interpolant alone passed in 100, the cubic
        // one before it in 20); below 250 that path or its estimate is broken.
        XCTAssertGreaterThanOrEqual(dense.diagnostics.interpolatedSamples, 250)
    }

    /// Samples inside explicit steps from `SlopeHistory` (values and slopes at the stretch's step
    /// ends, nodes inside the step from re-taken steps where its estimate fails, and the cut end of
    /// a step that ends at an event) against a reference with step ends at the grid at rtol 1e-13,
    /// atol 1e-15 (1 000 times tighter than the run's, so its own error is negligible). Each
    /// component of each sample lies within the run's tolerance atol + rtol|θ_p| of the
    /// reference, beyond the global error that the step ends of the same run at the run's
    /// tolerance carry at that time (the step-end run's distance to the reference): that is what
    /// the estimate checks (the interpolant's error within the step control's tolerance). Measured
    /// (max over samples of the excess in units of that tolerance): sine T = 1 0.68, sine T = 30
    /// 0.26, two-d T = 20 0.22; with the check removed (the cubic Hermite interpolant of each step
    /// taken) 4–5 · 10⁵. The steps, events and θ(T) are those of the run with step ends at the
    /// grid's dense output before (the grid does not steer: `testGridDoesNotSteerTheStepper`), and
    /// almost no sample needs a re-taken step of its own.
    func testSlopeHistorySamplesAreWithinTheTolerance() throws {
        for (name, T, spacing) in [("sine", 1.0, "log"), ("sine", 30.0, "linear"), ("two-d", 20.0, "log")] {
            let reference = solve(try problem(name, T: T, samples: 400, spacing: spacing, output: .stepEnds, rtol: 1e-13, atol: 1e-15))
            let dense = solve(try problem(name, T: T, samples: 400, spacing: spacing))
            let ends = solve(try problem(name, T: T, samples: 400, spacing: spacing, output: .stepEnds))
            for run in [reference, dense, ends] { XCTAssertEqual(run.status, .completed, run.message ?? "") }
            let grid = Set(dense.problem.options.sampleTimes)
            func byTime(_ s: FlowSolution) -> [Double: FlowSample] {
                Dictionary(s.samples.filter { grid.contains($0.t) }.map { ($0.t, $0) }, uniquingKeysWith: { a, _ in a })
            }
            let r = byTime(reference), e = byTime(ends)
            var worst = 0.0, compared = 0
            for sample in dense.samples where grid.contains(sample.t) {
                guard let ref = r[sample.t], let end = e[sample.t] else { continue }
                compared += 1
                for p in ref.theta.indices {
                    let tolerance = 1e-12 + 1e-10 * abs(ref.theta[p])
                    let excess = (abs(sample.theta[p] - ref.theta[p]) - abs(end.theta[p] - ref.theta[p])) / tolerance
                    worst = max(worst, excess)
                }
            }
            XCTAssertGreaterThan(compared, 390, name)
            XCTAssertLessThanOrEqual(worst, 1, "\(name) T = \(T): a sample beyond the tolerance")
            XCTAssertGreaterThanOrEqual(dense.diagnostics.interpolatedSamples, 390, name)
            XCTAssertLessThanOrEqual(dense.diagnostics.resteppedSamples, 7, name)
        }
    }

    /// `flow.samples.output` is validated and written back resolved.
    func testOutputOptionIsValidated() throws {
        var config = try Example.named("sine").config
        config.flow.samples = SampleConfig(output: "exact")
        XCTAssertThrowsError(try config.resolve()) { error in
            XCTAssertEqual((error as? InputError)?.field, "flow.samples.output")
        }
        config.flow.samples = SampleConfig(output: "stepEnds")
        let (problem, resolved) = try config.resolve()
        XCTAssertEqual(problem.options.sampleOutput, .stepEnds)
        XCTAssertEqual(resolved.flow.samples?.output, "stepEnds")
        config.flow.samples = nil
        XCTAssertEqual(try config.resolve().1.flow.samples?.output, "dense")
    }

    /// `Benchmarks/stress/dense-stationary-msbdf-d1.json` (a plateau-exit sweep run): one msbdf step
    /// of 9 749 time units from t = 2516.7 over a state stationary to rounding (|f| ~ 1e-17). The
    /// interpolant's check rejects its samples, msbdf's companion rk4imp fails at every size
    /// (GSL_FAILURE: its Newton correction lies below an ulp, θ = 1) and the rk8pd single step over
    /// the sample's offset is not finite (GSL_EBADFUNC): the run failed with "dense output inside the
    /// step from t = 2516.706266172129 failed: failure". `SampleReintegrator` integrated to those
    /// samples adaptively; since issue 22 the polynomial through the stretch's step ends
    /// (`StepHistory`) takes them first (a state constant to rounding passes its estimate), the
    /// reintegrator remaining the last resort. Checked against step ends at the same grid: θ agrees within 1e-8 ·
    /// max(1, |θ_p|) at every grid time (the engine's stated accuracy at rtol 1e-10, as in
    /// `testSamplesAgreeWithATighterReference`), the dissipated loss too.
    func testStationaryMsbdfStepSamplesByAdaptiveReintegration() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/stress/dense-stationary-msbdf-d1.json").path
        let config = try RunConfig.load(path: path)
        let dense = solve(try config.resolve().problem)
        XCTAssertEqual(dense.status, .completed, dense.message ?? "")
        XCTAssertGreaterThan(dense.diagnostics.historySamples + dense.diagnostics.reintegratedSamples, 0)
        let (compared, worst) = try agreementWithStepEnds(dense, config: config)
        XCTAssertGreaterThan(compared, 150)
        XCTAssertLessThan(worst, 1e-8)
    }

    /// The dense run's samples against the same config's step-end samples (steps ending at the grid
    /// times): how many grid times both have, and the worst difference, relative in θ (to max(1, |θ|))
    /// and absolute in D.
    func agreementWithStepEnds(_ dense: FlowSolution, config: RunConfig) throws -> (compared: Int, worst: Double) {
        var endsConfig = config
        endsConfig.flow.samples?.output = SampleOutput.stepEnds.rawValue
        let ends = solve(try endsConfig.resolve().problem)
        XCTAssertEqual(ends.status, .completed, ends.message ?? "")
        let grid = Set(dense.problem.options.sampleTimes)
        let e = Dictionary(ends.samples.filter { grid.contains($0.t) }.map { ($0.t, $0) }, uniquingKeysWith: { a, _ in a })
        var compared = 0, worst = 0.0
        for sample in dense.samples where grid.contains(sample.t) {
            guard let other = e[sample.t] else { continue }
            for p in sample.theta.indices {
                worst = max(worst, abs(sample.theta[p] - other.theta[p]) / max(1, abs(other.theta[p])))
            }
            worst = max(worst, abs(sample.dissipated - other.dissipated))
            compared += 1
        }
        return (compared, worst)
    }

    /// The last resort of dense output (`SampleReintegrator`), reached: the stationary msbdf
    /// fixture with the step-end history switched off (`FlowOptions.historySampling`), so the
    /// samples inside its long msbdf steps over a state stationary to rounding are refused by the
    /// quintic Hermite check, then by both re-steps (msbdf's rk4imp and the rk8pd stand-in, see
    /// `SampleReintegrator`), and integrated by rk8pd from the step start. The counters say the
    /// path was taken (reintegrated samples > 0, none from the history, every one counted among
    /// the re-stepped); the samples agree with the same run's step-end samples (steps ending at the
    /// grid times, no dense output) within 1e-8 relative in θ and absolute in D: both are within
    /// the run's global error at rtol 1e-10 over T = 1e5.
    /// The stepper is msbdf by name: under `auto` whether some sample meets the refused path
    /// depends on where its few msbdf steps fall (reached with main's step sequence, 4 samples;
    /// not with the BDF start step of `StepperPolicy.stiffStartStep`, nor at rtol 1.01e-10), msbdf
    /// alone takes the long stationary steps throughout (measured: 10 samples reintegrated, 1.3e-9
    /// worst on 200 samples; under auto on main 4 and 2.8e-11).
    func testSampleReintegratorServesRefusedSamples() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/stress/dense-stationary-msbdf-d1.json").path
        var config = try RunConfig.load(path: path)
        config.flow.stepper = Stepper.msbdf.rawValue
        var problem = try config.resolve().problem
        problem.options.historySampling = false
        let dense = solve(problem)
        XCTAssertEqual(dense.status, .completed, dense.message ?? "")
        XCTAssertGreaterThan(dense.diagnostics.reintegratedSamples, 0, "the re-integration path is no longer reached")
        XCTAssertEqual(dense.diagnostics.historySamples, 0)
        XCTAssertGreaterThanOrEqual(dense.diagnostics.resteppedSamples, dense.diagnostics.reintegratedSamples)
        let (compared, worst) = try agreementWithStepEnds(dense, config: config)
        print("reintegrator: \(dense.diagnostics.reintegratedSamples) reintegrated, \(dense.diagnostics.resteppedSamples) re-stepped, \(dense.diagnostics.interpolatedSamples) interpolated; \(compared) compared, worst \(worst)")
        XCTAssertGreaterThan(compared, 150)
        XCTAssertLessThan(worst, 1e-8)
    }

    /// `StepHistory` on closed forms: y = (e^{−t}, sin t, 1) at step ends 0, 0.04, 0.07, 0.11, 0.13,
    /// 0.18, 0.20 (uneven steps). Inside the last step the polynomial through them lies within the
    /// tolerance of the exact values (the estimate passes at rtol 1e-6; measured error below
    /// 1e-6 relative), a constant component comes back bit for bit, and at rtol 1e-12 the estimate
    /// refuses (p₅'s error over steps of 0.02–0.05 is about 1e-11). A kink between the nodes
    /// (|t − 0.15|: not one smooth stretch) is refused at rtol 1e-6.
    func testStepHistoryInterpolatesSmoothStretchesOnly() {
        let nodes = [0.0, 0.04, 0.07, 0.11, 0.13, 0.18, 0.20]
        func exact(_ t: Double) -> [Double] { [exp(-t), sin(t), 1] }
        func history(rtol: Double, _ f: (Double) -> [Double]) -> StepHistory {
            let h = StepHistory(dim: 3, rtol: rtol, atol: rtol * 1e-2)
            for k in 1..<nodes.count {
                let a = f(nodes[k - 1]), b = f(nodes[k])
                h.noteStep(t0: nodes[k - 1], y0: a, t1: nodes[k], y1: b, mode: 1)
            }
            return h
        }
        var out = [Double](repeating: .nan, count: 3)
        let loose = history(rtol: 1e-6, exact)
        for t in [0.182, 0.19, 0.199] {
            XCTAssertTrue(loose.interpolate(at: t, stepStart: 0.18, stepEnd: 0.20, into: &out), "t = \(t)")
            let e = exact(t)
            for p in 0..<2 { XCTAssertEqual(out[p], e[p], accuracy: 1e-6 * abs(e[p]) + 1e-8, "t = \(t), p = \(p)") }
            XCTAssertEqual(out[2], 1, "a component that does not move is returned exactly")
        }
        // Outside the last step noted, or another step, nothing is interpolated.
        XCTAssertFalse(loose.interpolate(at: 0.15, stepStart: 0.13, stepEnd: 0.18, into: &out))
        XCTAssertFalse(history(rtol: 1e-12, exact).interpolate(at: 0.19, stepStart: 0.18, stepEnd: 0.20, into: &out))
        let kinked = history(rtol: 1e-6) { [abs($0 - 0.15), $0, 1] }
        XCTAssertFalse(kinked.interpolate(at: 0.19, stepStart: 0.18, stepEnd: 0.20, into: &out))
        // A step that does not start at the last node (an event between) restarts the history:
        // two nodes are not enough.
        let restarted = history(rtol: 1e-6, exact)
        restarted.noteStep(t0: 0.21, y0: exact(0.21), t1: 0.23, y1: exact(0.23), mode: 1)
        XCTAssertFalse(restarted.interpolate(at: 0.22, stepStart: 0.21, stepEnd: 0.23, into: &out))
        // So does a mode change at the same state.
        let modeChanged = history(rtol: 1e-6, exact)
        modeChanged.noteStep(t0: 0.20, y0: exact(0.20), t1: 0.22, y1: exact(0.22), mode: 2)
        XCTAssertFalse(modeChanged.interpolate(at: 0.21, stepStart: 0.20, stepEnd: 0.22, into: &out))
    }

    /// Samples inside msbdf steps from the step-end history (`StepHistory`, issue 22): `sine` to
    /// T = 1e5 takes some of its late samples that way (where the quintic Hermite check fails:
    /// 11 of the 200 here, each an adaptive rk4imp integration before), and every grid sample after t = 1000 lies
    /// within 1e-8 · max(1, |θ_p|) of a reference whose samples are step ends at rtol 1e-12,
    /// atol 1e-14 (the engine's stated accuracy at rtol 1e-10, as in
    /// `testSamplesAgreeWithATighterReference`; measured 5.9e-11), the loss within 1e-8 relative.
    func testSamplesInsideBDFStepsFromTheStepHistory() throws {
        let T = 1e5, count = 200
        let dense = solve(try problem("sine", T: T, samples: count))
        XCTAssertEqual(dense.status, .completed, dense.message ?? "")
        XCTAssertGreaterThan(dense.diagnostics.historySamples, 0)
        XCTAssertGreaterThan(dense.diagnostics.stepperSteps["msbdf"] ?? 0, 0)
        let reference = solve(try problem("sine", T: T, samples: count, output: .stepEnds, rtol: 1e-12, atol: 1e-14))
        XCTAssertEqual(reference.status, .completed, reference.message ?? "")
        let grid = Set(dense.problem.options.sampleTimes)
        let r = Dictionary(reference.samples.filter { grid.contains($0.t) }.map { ($0.t, $0) }, uniquingKeysWith: { a, _ in a })
        var worst = 0.0, compared = 0
        for sample in dense.samples where grid.contains(sample.t) && sample.t > 1000 {
            guard let ref = r[sample.t] else { continue }
            for p in sample.theta.indices {
                worst = max(worst, abs(sample.theta[p] - ref.theta[p]) / max(1, abs(ref.theta[p])))
            }
            XCTAssertEqual(sample.loss, ref.loss, accuracy: 1e-8 * ref.loss, "t = \(sample.t)")
            compared += 1
        }
        XCTAssertGreaterThan(compared, 40)
        XCTAssertLessThanOrEqual(worst, 1e-8)
        print("history samples \(dense.diagnostics.historySamples), worst |Δθ| \(worst) over \(compared) samples")
    }
}
