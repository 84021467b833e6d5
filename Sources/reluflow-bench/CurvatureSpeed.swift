import Foundation
import ReluFlow

/// `reluflow-bench --curvature`: the exact Hessian (forward-over-reverse products, `DeepHessian`)
/// and its full spectrum by each symmetric eigensolver (LAPACK dsyevd and dsyevr through OpenBLAS,
/// GSL's gsl_eigen_symm), against JAX (`jax.hessian` + `jnp.linalg.eigvalsh`, jit, CPU, float64)
/// on the same network, θ and data, at about 100, 1 000 and 4 000 parameters (ReLU, He, m = 64
/// points of sin(πx)). Medians of `repeats` runs; JAX's after a warm-up call (compilation not counted).
struct CurvatureSpeed {
    let peers: PeerRunner
    let repeats: Int
    let skipSlowGSL: Bool

    static let cases: [[Int]] = [[1, 9, 9, 1], [1, 22, 22, 22, 1], [1, 36, 36, 36, 36, 1]]

    func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }

    /// dsyevd against dsyevr on the Hessian of each case, interleaved (d, r, d, r, …) `rounds`
    /// times in one process, so that a change of the machine's load hits both alike: medians and minima.
    func interleaved(rounds: Int) throws {
        print("P      dsyevd median  dsyevr median  dsyevd min  dsyevr min  (\(rounds) interleaved rounds)")
        for layers in Self.cases {
            let text = #"{"data": {"target": {"function": "sin(pi*x)", "m": 64, "range": [-1, 1]}}, "network": {"layers": \#(layers), "init": {"scheme": "he", "seed": 1}}}"#
            let problem = try RunConfig.decode(Data(text.utf8)).resolve().problem
            let net = problem.model as! DeepNetwork, P = net.parameterCount
            let H = DeepHessian(network: net, data: problem.data, theta: problem.theta0).matrix()
            var times: [SymmetricEigensolver: [Double]] = [:]
            for _ in 0..<rounds {
                for solver in [SymmetricEigensolver.dsyevd, .dsyevr] {
                    var copy = H
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = try solver.eigenvalues(&copy, n: P)
                    times[solver, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
            }
            let d = times[.dsyevd]!, r = times[.dsyevr]!
            print(String(format: "%-6d %-14.4g %-14.4g %-11.4g %-11.4g", P, median(d), median(r), d.min()!, r.min()!))
        }
    }

    func run() throws {
        print("P      layers                 ours H s   dsyevd s  dsyevr s  gsl s      jax H s    jax eig s  ours/jax (H+eig, \(SymmetricEigensolver.standard.rawValue))  max|Δλ|/max|λ|")
        for layers in Self.cases {
            let text = #"{"data": {"target": {"function": "sin(pi*x)", "m": 64, "range": [-1, 1]}}, "network": {"layers": \#(layers), "init": {"scheme": "he", "seed": 1}}}"#
            let (problem, resolved) = try RunConfig.decode(Data(text.utf8)).resolve()
            let net = problem.model as! DeepNetwork, P = net.parameterCount
            var hessianTimes: [Double] = [], H: [Double] = []
            for _ in 0..<max(repeats, 1) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                H = DeepHessian(network: net, data: problem.data, theta: problem.theta0).matrix()
                hessianTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            var eigen: [SymmetricEigensolver: Double] = [:], ours: [Double] = []
            for solver in SymmetricEigensolver.allCases {
                if solver == .gsl && skipSlowGSL && P > 2000 { continue }
                var times: [Double] = []
                for _ in 0..<(solver == .gsl && P > 2000 ? 1 : max(repeats, 1)) {
                    var copy = H
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let values = try solver.eigenvalues(&copy, n: P)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                    if solver == .standard { ours = values }
                }
                eigen[solver] = median(times)
            }
            let peer = try peers.curvature(resolved, repeats: max(repeats, 1))?["jax"]
            func f(_ v: Double?) -> String { (v.map { String(format: "%.4g", $0) } ?? "—").padding(toLength: 10, withPad: " ", startingAt: 0) }
            let ourTotal = median(hessianTimes) + eigen[.standard]!
            var ratio = "—", difference = "—"
            if let total = peer?.totalSeconds { ratio = String(format: "%.3g (H %.3g, eig %.3g)", ourTotal / total,
                                                               median(hessianTimes) / (peer?.hessianSeconds ?? .nan),
                                                               eigen[.standard]! / (peer?.eigenSeconds ?? .nan)) }
            if let theirs = peer?.eigenvalues, theirs.count == ours.count {
                let scale = ours.map(abs).max()!
                difference = String(format: "%.1e", zip(ours, theirs).map { abs($0 - $1) }.max()! / scale)
            }
            print(String(P).padding(toLength: 7, withPad: " ", startingAt: 0) + "\(layers)".padding(toLength: 23, withPad: " ", startingAt: 0)
                  + f(median(hessianTimes)) + f(eigen[.dsyevd]) + f(eigen[.dsyevr]) + f(eigen[.gsl]) + " " + f(peer?.hessianSeconds) + " "
                  + f(peer?.eigenSeconds) + " " + ratio.padding(toLength: 26, withPad: " ", startingAt: 0) + difference)
            if let error = peer?.error { print("  jax: \(error)") }
        }
    }
}
