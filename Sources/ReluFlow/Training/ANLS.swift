import Foundation

/// Active Neuron Least Squares (SPEC §7), the plateau paper's method for leaving plateaus: each
/// iteration adjusts the activation pattern explicitly through least squares on the neurons'
/// active sets. The paper gives only the idea; this is the toolkit's reading of it:
///
/// 1. Outer layer: c ← argmin ‖Φc − y‖² + λ‖c‖², Φ_ji = σ(z_ij) (and a column of ones for c_0),
///    as the least squares of [Φ; √λ I] against [y; 0] (LAPACK `dgelsd`). Kept only if the loss
///    does not increase (λ > 0 can raise it by O(λ|c|²)).
/// 2. For each neuron i in turn: the residual without it, ρ_j = y_j − Σ_{l≠i} c_l σ(z_lj) − c_0;
///    its active set {j : z_ij > 0} enlarged by the `anlsEnlarge` inactive points nearest its
///    surface (distance |z_ij| / |(w_i, b_i)|; in d = 1 with the default 1, the nearest point on
///    the inactive side of the knot, so that the knot may move across it);
///    (w*, b*) = argmin Σ_{j ∈ set} (c_i (w·x_j + b) − ρ_j)² (minimum norm); then
///    (w_i, b_i) ← (w_i, b_i) + η ((w*, b*) − (w_i, b_i)) with η = min(lr, 1) halved (up to 40
///    times) until the loss does not increase. This for the enlarged set and for the active set
///    alone, and the move with the lower loss is taken (our addition: the enlarged fit lets the
///    knot cross its nearest points, but its inactive points pull the line off the active ones, so
///    inside the right pattern the active fit alone converges where the enlarged one stalls); no
///    move if neither decreases the loss. Neurons with c_i = 0 stay.
/// 3. Stop when an iteration decreases the loss by less than `anlsTolerance` relative, or after
///    `iterations` iterations.
///
/// So the loss never increases. Iteration k is at t = k.
final class ANLS: TrainingRecorder {
    func run() -> FlowSolution {
        let network = problem.network, data = problem.data
        let d = network.inputDimension
        let evaluator = network.evaluator(for: data)
        var theta = problem.theta0
        var gradient = [Double](repeating: 0, count: P)
        func evaluate(_ th: [Double], withGradient: Bool = false, withPattern: Bool = false) -> Double {
            evaluations += 1
            let pattern = self.pattern
            return th.withUnsafeBufferPointer { t in
                gradient.withUnsafeMutableBufferPointer { g in
                    evaluator.evaluate(t.baseAddress!, points: nil, gradient: withGradient ? g.baseAddress! : nil,
                                       pattern: withPattern ? pattern : nil)
                }
            }
        }
        func gradNorm() -> Double {
            _ = evaluate(theta, withGradient: true)
            return gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
        }
        var loss = evaluate(theta, withPattern: true)
        begin(theta: theta, loss: loss, gradNorm: gradNorm())
        let c0Index = network.c0Index
        for k in 1...max(options.iterations, 1) where options.iterations >= 1 {
            let before = loss
            do {
                // 1. Outer layer.
                let cols = n + (c0Index == nil ? 0 : 1), rootLambda = options.anlsRidge.squareRoot()
                var X = [Double](repeating: 0, count: (m + cols) * cols), rhs = [Double](repeating: 0, count: m + cols)
                for j in 0..<m {
                    for i in 0..<n { X[j * cols + i] = max(network.preactivation(theta, neuron: i, point: data.x[(j * d)..<((j + 1) * d)]), 0) }
                    if c0Index != nil { X[j * cols + n] = 1 }
                    rhs[j] = data.y[j]
                }
                for q in 0..<cols { X[(m + q) * cols + q] = rootLambda }
                let outer = try LeastSquares.minimumNorm(X, rows: m + cols, cols: cols, rhs)
                var trial = theta
                for i in 0..<n { trial[network.cIndex(i)] = outer.coefficients[i] }
                if let c0 = c0Index { trial[c0] = outer.coefficients[n] }
                let outerLoss = evaluate(trial)
                if outerLoss <= loss {
                    theta = trial
                    loss = outerLoss
                }
                // 2. Neuron by neuron.
                for i in 0..<n {
                    let ci = theta[network.cIndex(i)]
                    guard ci != 0 else { continue }
                    var z = [Double](repeating: 0, count: m), rho = [Double](repeating: 0, count: m)
                    for j in 0..<m {
                        let x = data.x[(j * d)..<((j + 1) * d)]
                        z[j] = network.preactivation(theta, neuron: i, point: x)
                        rho[j] = data.y[j] - network.output(theta, at: x) + ci * max(z[j], 0)
                    }
                    var size = theta[network.bIndex(i)] * theta[network.bIndex(i)]
                    for q in 0..<d { size += theta[network.wIndex(i, q)] * theta[network.wIndex(i, q)] }
                    size = size.squareRoot()
                    let active = (0..<m).filter { z[$0] > 0 }
                    let inactive = (0..<m).filter { z[$0] <= 0 }.sorted { abs(z[$0]) < abs(z[$1]) }
                    let enlarged = active + inactive.prefix(size > 0 ? options.anlsEnlarge : 0)
                    // Both fits, each with its own line search; the lower loss wins.
                    var best: (theta: [Double], loss: Double)? = nil
                    for set in enlarged.count > active.count ? [enlarged, active] : [active] where !set.isEmpty {
                        var A = [Double](repeating: 0, count: set.count * (d + 1)), b = [Double](repeating: 0, count: set.count)
                        for (r, j) in set.enumerated() {
                            for q in 0..<d { A[r * (d + 1) + q] = ci * data.x[j * d + q] }
                            A[r * (d + 1) + d] = ci
                            b[r] = rho[j]
                        }
                        let fit = try LeastSquares.minimumNorm(A, rows: set.count, cols: d + 1, b)
                        var eta = min(options.lr, 1)
                        for _ in 0..<40 {
                            var trial = theta
                            for q in 0..<d {
                                let w = network.wIndex(i, q)
                                trial[w] += eta * (fit.coefficients[q] - theta[w])
                            }
                            let bi = network.bIndex(i)
                            trial[bi] += eta * (fit.coefficients[d] - theta[bi])
                            let trialLoss = evaluate(trial)
                            if trialLoss <= loss {
                                if trialLoss < best?.loss ?? .infinity { best = (trial, trialLoss) }
                                break
                            }
                            eta /= 2
                        }
                    }
                    if let best {
                        theta = best.theta
                        loss = best.loss
                    }
                }
            } catch {
                solution.status = .failed
                solution.message = "ANLS's least squares failed at iteration \(k): \(error)"
                break
            }
            dissipated += before - loss
            loss = evaluate(theta, withPattern: true)
            guard (theta.withUnsafeBufferPointer { after(k: k, theta: $0.baseAddress!, loss: loss, gradNorm: gradNorm) }) else { break }
            if before - loss <= options.anlsTolerance * before {
                if solution.last?.iteration != k { record(k: k, theta: theta, loss: loss, gradNorm: gradNorm()) }
                solution.message = "stopped at iteration \(k): the loss decreased by less than \(options.anlsTolerance) relative"
                break
            }
        }
        return finish()
    }
}
