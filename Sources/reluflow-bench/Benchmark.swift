import ArgumentParser
@preconcurrency import Foundation
import ReluFlow

/// `swift run -c release reluflow-bench` (or `bash Benchmarks/run` for the whole suite): the
/// built-in examples at several horizons with the `auto` stepper against rk8pd alone (the
/// baseline, run in the same process), optionally the Python peers of `Benchmarks/peers` on the
/// same resolved configs in the same session (`--peers`), or the scaling series (`--scaling`).
/// Timings are wall-clock medians of `--repeat` runs of the integration alone (no file output).
@main
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reluflow-bench",
        abstract: "Time the flow on the built-in examples: auto against rk8pd, optionally against the SciPy peer.")

    @Option(help: "Examples, comma-separated.")
    var examples = "sine,abs,two-d,small-init"

    @Option(help: "Horizons T, comma-separated.")
    var horizons = "1e4,1e6"

    @Option(help: "Runs per case (the median is reported).")
    var `repeat` = 3

    @Option(help: "Skip the rk8pd baseline for horizons above this (it needs ~1 step per time unit late in the flow).")
    var baselineLimit = 1e6

    @Flag(help: "Also run the Python peers (Benchmarks/peers: SciPy flow, NumPy gradient descent) on each case, once.")
    var peers = false

    @Option(help: "Python with numpy and scipy (and JAX, diffrax, optax) for the peers (default: Benchmarks/.venv, which Benchmarks/setup makes, where it exists, else python3).")
    var python: String?

    @Option(help: "solve_ivp methods of the SciPy peer, comma-separated (DOP853, LSODA, Radau, BDF).")
    var peerMethods = "DOP853,LSODA"

    @Option(help: "Run the peers only for horizons up to this T (the SciPy flow needs ~500 s for sine at 1e6).")
    var peerLimit = 1e5

    @Option(help: "Wall seconds for the NumPy gradient-descent peer per case (0: skip it).")
    var descentBudget = 30.0

    @Flag(help: "Run the scaling series (m, n, d) = (20, 10, 1) … (10 000, 256, 2) instead of the examples.")
    var scaling = false

    @Option(help: "Horizon T of the scaling series.")
    var scalingT = 1.0

    @Flag(help: "In the scaling series, also run each case with crossing batches always on and always off (FlowOptions.crossingBatches; the default uses them from n·m = 20 000) and print the ratios and the agreement.")
    var batchBaseline = false

    @Flag(help: "With --batch-baseline, also run without batches at 100x tighter tolerances and print how far both runs are from it.")
    var batchReference = false

    @Option(help: "Largest n·m of the scaling series to run.")
    var maxPairs = 2_560_000

    @Option(help: "Only the field's roofline (no run) for these shapes, m:n:d comma-separated (for example 2500:128:8).")
    var roofline: String?

    @Flag(help: "Training speed: full-batch GD and Adam against NumPy and JAX (Benchmarks/peers/training_peers.py) at three sizes.")
    var training = false

    @Flag(help: "Deep-network gradient flow (issue 18): ReluFlow against SciPy DOP853/Radau and diffrax Dopri8/Kvaerno5 (Benchmarks/peers/deep_flow_peers.py) on the deep_flow_cases and a He [1,16,16,1] network: wall times, ratios, |Δθ| against a tight run of ours, and whether each peer reached T.")
    var deepFlow = false

    @Option(help: "With --deep-flow: wall seconds per peer run before it counts as not getting through.")
    var peerTimeout: Double = 60

    @Option(help: "With --deep-flow: diffrax's max_steps (SciPy: 13× this many field evaluations).")
    var peerMaxSteps: Int = 200_000

    @Option(help: "With --deep-flow: only the cases whose label contains one of these words, comma-separated.")
    var deepCases: String?

    @Flag(help: "With --deep-flow: ours only (no peers), with the run's steps by stepper, evaluations and Jacobians.")
    var noPeers = false

    @Option(help: "With --deep-flow: only one solve of each selected case at this rtol (atol = rtol/100), untimed, printing its status, steps, evaluations and θ(T) bit patterns (for callgrind and for comparing builds bit for bit).")
    var deepOnce: Double?

    @Option(help: "With --deep-once: solve each case this many times and print the last (under callgrind, the second solve's count less the first's is a warm solve's, without the process's first-use costs).")
    var deepOnceRuns = 1

    @Flag(help: "Small runs: the whole `reluflow simulate --example sine` command, the same run in-process through the library (folder included) and the integration alone, at --horizons (default here 1,100,1e4,1e5,1e6), medians of --repeat.")
    var smallRuns = false

    @Option(help: "With --small-runs: also this many runs of sine (seeds 0…N−1, T = --batch-t) through the library in one process, each writing its folder (Benchmarks/sweep-scale runs the same grid through `reluflow sweep`).")
    var batch = 0

    @Option(help: "With --batch: the horizon of the batch's runs.")
    var batchT = 1e3

    @Flag(help: "Curvature: the exact Hessian and its full spectrum at about 100, 1 000 and 4 000 parameters, ours (each eigensolver: dsyevd, dsyevr, GSL) against JAX (jax.hessian + eigvalsh, Benchmarks/peers/curvature_peers.py).")
    var curvature = false

    @Flag(help: "With --curvature: skip GSL's eigensolver at 4 000 parameters (minutes).")
    var skipSlowGSL = false

    @Option(help: "With --curvature: only dsyevd against dsyevr, interleaved this many rounds per case.")
    var eigensolverRounds: Int?

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)   // rows appear as they finish, also when piped
        if deepFlow, let rtol = deepOnce {
            return try DeepFlowSpeed(peers: PeerRunner(python: python), repeats: 1, timeout: peerTimeout, maxSteps: peerMaxSteps,
                                     only: deepCases?.split(separator: ",").map(String.init), withPeers: false).once(rtol: rtol, runs: deepOnceRuns)
        }
        if deepFlow {
            return try DeepFlowSpeed(peers: PeerRunner(python: python), repeats: max(`repeat`, 1), timeout: peerTimeout,
                                     maxSteps: peerMaxSteps, only: deepCases?.split(separator: ",").map(String.init),
                                     withPeers: !noPeers).run()
        }
        if smallRuns {
            let given = CommandLine.arguments.contains("--horizons")
            let runs = SmallRuns(repeats: max(`repeat`, 1), horizons: given ? horizons.split(separator: ",").compactMap { Double($0) } : [1, 100, 1e4, 1e5, 1e6])
            if batch > 0 {
                try runs.batch(count: batch, T: batchT)
                if !given { return }
            }
            return try runs.run()
        }
        if curvature, let rounds = eigensolverRounds {
            return try CurvatureSpeed(peers: PeerRunner(python: python), repeats: `repeat`, skipSlowGSL: skipSlowGSL).interleaved(rounds: rounds)
        }
        if curvature { return try CurvatureSpeed(peers: PeerRunner(python: python), repeats: `repeat`, skipSlowGSL: skipSlowGSL).run() }
        if training { return try TrainingSpeed(peers: PeerRunner(python: python), seconds: 1).run() }
        if let roofline { return try runRoofline(roofline) }
        if scaling { return try runScaling() }
        print("case                    auto s     steps  events  rk8pd s    ratio   |Δθ| vs rk8pd  drift     defect")
        for name in examples.split(separator: ",").map(String.init) {
            for T in horizons.split(separator: ",").compactMap({ Double($0) }) {
                try benchmark(name, T)
            }
        }
    }

    /// FieldTiming alone for given shapes (data as in the scaling series; d up to 10).
    func runRoofline(_ shapes: String) throws {
        let cases = try shapes.split(separator: ",").map { shape -> ScalingCase in
            let v = shape.split(separator: ":").compactMap { Int($0) }
            guard v.count == 3, v.allSatisfy({ $0 > 0 }) else {
                // Bad input: exit status 2 naming the option, as `reluflow` does.
                FileHandle.standardError.write(Data("reluflow-bench: --roofline: give m:n:d with positive integers, got '\(shape)'\n".utf8))
                throw ExitCode(2)
            }
            return ScalingCase(m: v[0], n: v[1], d: v[2])
        }
        print("shape                    µs/RHS  µs/RHS-SIMD4  µs/matvec  µs/OpenBLAS-matvec  µs/BLAS-field  (BLAS field − ours)/ours")
        for c in cases {
            let t = FieldTiming.measure(try c.problem(T: 1))
            func us(_ s: Double?) -> String { s.map { String(format: "%.1f", $0 * 1e6) } ?? "—" }
            print(c.label.padding(toLength: 22, withPad: " ", startingAt: 0), us(t.secondsPerEvaluation), us(t.secondsPerPortableEvaluation), us(t.secondsPerMatVec),
                  us(t.secondsPerOptimizedMatVec), us(t.secondsPerBLASEvaluation),
                  t.blasFieldDifference.map { String(format: "%.1e", $0) } ?? "—")
        }
    }

    func runScaling() throws {
        print(ScalingRow.header)
        var rows: [ScalingRow] = []
        for c in ScalingCase.series where c.n * c.m <= maxPairs {
            let problem = try c.problem(T: scalingT)
            let start = DispatchTime.now().uptimeNanoseconds
            let solution = solve(problem)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let row = ScalingRow(scalingCase: c, T: scalingT, seconds: seconds, solution: solution, timing: FieldTiming.measure(problem))
            print(row.line)
            rows.append(row)
            if batchBaseline {
                // Batches on every case against every crossing located on its own, run back to back.
                func timed(_ policy: CrossingBatchPolicy) -> (FlowSolution, Double) {
                    var p = problem
                    p.options.crossingBatches = policy
                    let start = DispatchTime.now().uptimeNanoseconds
                    let out = solve(p)
                    return (out, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                }
                let (single, singleSeconds) = timed(.never)
                let (batched, batchedSeconds) = timed(.always)
                var comparison = BatchComparison(batched: batched, batchedSeconds: batchedSeconds, single: single, singleSeconds: singleSeconds)
                if batchReference {
                    var tight = problem
                    tight.options.crossingBatches = .never
                    tight.options.rtol /= 100
                    tight.options.atol /= 100
                    comparison.reference = solve(tight)
                }
                print(comparison.line)
            }
        }
        if let e = ScalingRow.exponents(rows) {
            print(String(format: "fitted: wall time per unit t ∝ (n·m)^%.2f; events per unit t ∝ (n·m)^%.2f", e.cost, e.events))
        }
    }

    func problem(_ name: String, _ T: Double, _ stepper: Stepper) throws -> (FlowProblem, RunConfig) {
        var config = try Example.named(name).config
        config.flow.T = T
        config.flow.stepper = stepper.rawValue
        let (p, resolved) = try config.resolve()
        return (p, resolved)
    }

    func timed(_ p: FlowProblem) -> (Double, FlowSolution) {
        var times: [Double] = []
        var last: FlowSolution? = nil
        for _ in 0..<max(`repeat`, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            last = solve(p)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (times.sorted()[times.count / 2], last!)
    }

    func benchmark(_ name: String, _ T: Double) throws {
        let (autoProblem, resolved) = try problem(name, T, .auto)
        let (autoTime, auto) = timed(autoProblem)
        var baseline = "—", ratio = "—", dTheta = "—"
        if T <= baselineLimit {
            let (refTime, ref) = timed(try problem(name, T, .rk8pd).0)
            baseline = String(format: "%.4f", refTime)
            ratio = String(format: "%.1f×", refTime / autoTime)
            dTheta = String(format: "%.1e", zip(auto.finalTheta, ref.finalTheta).map { abs($0 - $1) }.max() ?? 0)
        }
        let label = "\(name) T=\(String(format: "%.0e", T))"
        print(String(format: "%@ %8.4f %9d %7d %8@ %8@ %14@ %9.1e %9.1e",
                     label.padding(toLength: 20, withPad: " ", startingAt: 0), autoTime, auto.diagnostics.steps, auto.events.count,
                     baseline, ratio, dTheta, auto.diagnostics.invariantDrift, auto.diagnostics.dissipationDefect))
        if auto.status != .completed { print("    status \(auto.status.rawValue): \(auto.message ?? "")") }
        guard peers, T <= peerLimit else { return }
        let runner = PeerRunner(python: python)
        for method in peerMethods.split(separator: ",").map(String.init) {
            guard let peer = try runner.flow(resolved, T: T, method: method) else { continue }
            // At an interpolating minimum both losses are rounding noise (1e-30 against 1e-22, say):
            // a relative difference of those says nothing, so it is reported as zero.
            let dLoss = max(abs(peer.loss), abs(auto.finalLoss)) < 1e-20 ? 0 : abs(peer.loss - auto.finalLoss) / max(abs(auto.finalLoss), 1e-300)
            let dPeer = zip(auto.finalTheta, peer.theta).map { abs($0 - $1) }.max() ?? .nan
            print(String(format: "    scipy %-7@ %9.2f s  %7.0f× slower  RHS %9d  Jac %6d  events %5d (%@)  |Δθ| %.1e  Δloss/loss %.1e%@",
                         method, peer.wallSeconds, peer.wallSeconds / autoTime, peer.rhsEvaluations, peer.jacobianEvaluations,
                         peer.events.count, peer.sameEvents(as: auto) ? "same sequence" : "sequence differs", dPeer, dLoss,
                         peer.status == "completed" ? "" : "  [\(peer.status): \(peer.message ?? "")]"))
        }
        if descentBudget > 0, let gd = try runner.descent(resolved, T: T, target: auto.finalTheta, budget: descentBudget) {
            let measured = gd.runs.map { String(format: "η=%.3g: %.1e in %.1f s", $0.eta, $0.error ?? .nan, $0.wallSeconds) }.joined(separator: "; ")
            print("    numpy GD      \(measured)")
            if let fit = gd.fit, let eta = fit.etaForAccuracy, let seconds = fit.projectedSeconds {
                print(String(format: "    numpy GD      error ≈ %.2g·η^%.2f → |Δθ| = 1e-6 needs η = %.2g, about %.3g s: %.0f× slower (projected)",
                             fit.C, fit.p, eta, seconds, seconds / autoTime))
            }
        }
    }
}
