import Foundation
import ReluFlow

/// `reluflow-bench --training`: full-batch GD and Adam iterations per second of `train` (library,
/// no files) against the NumPy and JAX peers (`Benchmarks/peers/training_peers.py`, run in the same
/// session), at (m, n) = (20, 10), (1 000, 64), (10 000, 256), d = 1, the same θ(0); the iterates
/// after 100 iterations compared; one GD iteration against two n×m matrix–vector products
/// (GSL's cblas_dgemv, FieldTiming).
struct TrainingSpeed {
    let peers: PeerRunner
    let seconds: Double

    func run() throws {
        print("case        method  ours it/s   numpy it/s  jax it/s   ours/numpy  ours/jax   |Δθ|₁₀₀/|θ| numpy, jax   GD it / 2 matvec")
        for (m, n) in [(20, 10), (1000, 64), (10_000, 256)] {
            let base = #"{"data": {"target": {"function": "sin(3*x)", "m": \#(m), "range": [-1, 1], "dim": 1, "points": "random"}}, "network": {"width": \#(n)}}"#
            let (problem0, resolved) = try RunConfig.decode(Data(base.utf8)).resolve()
            let timing = FieldTiming.measure(problem0)
            for method in [TrainingMethod.gd, .adam] {
                var options = TrainingOptions()
                options.method = method
                options.lr = method == .gd ? 0.01 : 1e-3
                options.sampleCount = 2
                var problem = problem0
                problem.training = options
                // Agreement after 100 iterations.
                options.iterations = 100
                let short = train(problem, options: options)
                let agree = try peers.training(resolved, method: method.rawValue, lr: options.lr, iterations: 100)
                func gap(_ peer: String) -> String {
                    guard let theta = agree?[peer]?.theta else { return "—" }
                    let scale = short.finalTheta.map(abs).max()!
                    return String(format: "%.1e", zip(theta, short.finalTheta).map { abs($0 - $1) }.max()! / scale)
                }
                // Speed: about `seconds` of ours.
                let perIteration = max(short.diagnostics.wallSeconds / 100, 1e-7)
                options.iterations = max(100, min(2_000_000, Int(seconds / perIteration)))
                let long = train(problem, options: options)
                let ours = Double(options.iterations) / long.diagnostics.wallSeconds
                let speed = try peers.training(resolved, method: method.rawValue, lr: options.lr, iterations: options.iterations)
                func rate(_ peer: String) -> Double? { speed?[peer]?.iterationsPerSecond }
                func fmt(_ v: Double?) -> String { v.map { String(format: "%.3g", $0) } ?? "—" }
                let roofline = method == .gd ? String(format: "%.2f", (1 / ours) / (2 * timing.secondsPerMatVec)) : ""
                print("\(m)×\(n)".padding(toLength: 12, withPad: " ", startingAt: 0), method.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0),
                      fmt(ours).padding(toLength: 11, withPad: " ", startingAt: 0), fmt(rate("numpy")).padding(toLength: 12, withPad: " ", startingAt: 0),
                      fmt(rate("jax")).padding(toLength: 10, withPad: " ", startingAt: 0),
                      fmt(rate("numpy").map { ours / $0 }).padding(toLength: 11, withPad: " ", startingAt: 0),
                      fmt(rate("jax").map { ours / $0 }).padding(toLength: 10, withPad: " ", startingAt: 0),
                      "\(gap("numpy")), \(gap("jax"))".padding(toLength: 25, withPad: " ", startingAt: 0), roofline)
                if let errors = speed?.compactMapValues(\.error), !errors.isEmpty { print("  peers: \(errors)") }
            }
        }
    }
}
