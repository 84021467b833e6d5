import CFieldKernels

/// A network of the toolkit as the training methods see it (SPEC §7): the loss
/// `L = 1/(2|B|) Σ_{j∈B} (N(x_j; θ) − y_j)²` over a set of points B, its *plain* gradient, with
/// σ'(0) = 0 as in common frameworks (the Filippov treatment belongs to the flow), and the
/// activation pattern of the hidden units. It is independent of the flow's mode-locked field.
///
/// The shallow network of SPEC §1 and the deep networks of SPEC §8 (`DeepNetwork`) conform, so
/// that the training code, the run writer and the analyses take any of them.
public protocol NetworkModel: Sendable {
    /// Length of θ.
    var parameterCount: Int { get }
    var inputDimension: Int { get }
    /// Hidden units whose activation pattern is recorded (the pattern is units × points).
    var hiddenUnitCount: Int { get }
    /// Column names of θ in exports.
    var parameterNames: [String] { get }
    /// An evaluator on `data` (it owns the buffers one evaluation needs).
    func evaluator(for data: Dataset) -> any ModelEvaluator
    /// The balance quantities of the hidden units (SPEC §4; conserved by the gradient flow by the
    /// positive homogeneity of σ), one per unit: a training run reports their drift.
    func balance(_ theta: [Double]) -> [Double]
}

/// Evaluates one network on one data set, reusing its buffers.
public protocol ModelEvaluator: AnyObject {
    /// The loss over `points` (all points when nil) at θ; its plain gradient into `gradient` when
    /// given; and when `pattern` is given, the activation pattern of *every* point (units × m,
    /// unit-major, 1 where the pre-activation is > 0, else 0).
    func evaluate(_ theta: UnsafePointer<Double>, points: [Int]?, gradient: UnsafeMutablePointer<Double>?,
                  pattern: UnsafeMutablePointer<UInt8>?) -> Double
}

extension NetworkModel {
    /// Loss and plain gradient at θ over all points (convenience for tests and small uses).
    public func lossAndGradient(_ theta: [Double], data: Dataset) -> (loss: Double, gradient: [Double]) {
        let evaluator = evaluator(for: data)
        var g = [Double](repeating: 0, count: parameterCount)
        let loss = theta.withUnsafeBufferPointer { t in
            g.withUnsafeMutableBufferPointer { evaluator.evaluate(t.baseAddress!, points: nil, gradient: $0.baseAddress!, pattern: nil) }
        }
        return (loss, g)
    }
}

extension ShallowNetwork: NetworkModel {
    public var hiddenUnitCount: Int { width }

    public func evaluator(for data: Dataset) -> any ModelEvaluator { ShallowEvaluator(network: self, data: data) }
}

/// The shallow network's loss, plain gradient and pattern: z_ij = w_i·x_j + b_i,
/// r_j = Σ_i c_i σ(z_ij) (+ c_0) − y_j, and with s_ij = [z_ij > 0] and F_i = Σ_j s_ij r_j (x_j, 1),
/// ∂L/∂(w_i, b_i) = (c_i/|B|) F_i, ∂L/∂c_i = (1/|B|) Σ_j r_j σ(z_ij) = (w_i, b_i)·F_i / |B|,
/// ∂L/∂c_0 = (1/|B|) Σ_j r_j.
///
/// All points: two passes over the neurons, each over contiguous rows of the points (the inputs
/// stored transposed, d × m): outputs and the pattern (s_ij as bytes), then F_i from the pattern
/// (`rf_shallow_evaluate`, one C call).
/// A minibatch: point by point over its points.
final class ShallowEvaluator: ModelEvaluator {
    let network: ShallowNetwork
    let data: Dataset
    private let n: Int, d: Int, m: Int
    private let z: UnsafeMutablePointer<Double>      // n: pre-activations of one point (minibatch path)
    private let x: UnsafeMutablePointer<Double>      // m×d
    private let xT: UnsafeMutablePointer<Double>     // d×m
    private let y: UnsafeMutablePointer<Double>      // m
    private let out: UnsafeMutablePointer<Double>    // m: outputs, then residuals
    private let mask: UnsafeMutablePointer<UInt8>    // n×m: s_ij
    private let F: UnsafeMutablePointer<Double>      // d+1

    init(network: ShallowNetwork, data: Dataset) {
        self.network = network
        self.data = data
        n = network.width
        d = network.inputDimension
        m = data.count
        z = .allocate(capacity: max(n, 1))
        x = .allocate(capacity: max(m * d, 1))
        x.initialize(from: data.x, count: m * d)
        xT = .allocate(capacity: max(m * d, 1))
        for j in 0..<m { for k in 0..<d { xT[k * m + j] = data.x[j * d + k] } }
        y = .allocate(capacity: max(m, 1))
        y.initialize(from: data.y, count: m)
        out = .allocate(capacity: max(m, 1))
        mask = .allocate(capacity: max(n * m, 1))
        F = .allocate(capacity: d + 1)
    }

    deinit {
        z.deallocate()
        x.deallocate()
        xT.deallocate()
        y.deallocate()
        out.deallocate()
        mask.deallocate()
        F.deallocate()
    }

    func evaluate(_ theta: UnsafePointer<Double>, points: [Int]?, gradient: UnsafeMutablePointer<Double>?,
                  pattern: UnsafeMutablePointer<UInt8>?) -> Double {
        if let points { return evaluateBatch(theta, points: points, gradient: gradient, pattern: pattern) }
        // Pass 1 (outputs N_j and the pattern, CFieldKernels: lanes of four, AVX2 when present),
        // the residuals, and pass 2 (F_i = Σ_j s_ij r_j (x_j, 1)) with the gradient, in one C call.
        return rf_shallow_evaluate(Int32(d), n, m, xT, y, theta, network.outputBias ? 1 : 0, out, pattern ?? mask, F, gradient)
    }

    /// A minibatch, point by point; the pattern (all points) by the full pass when asked for.
    private func evaluateBatch(_ theta: UnsafePointer<Double>, points: [Int], gradient: UnsafeMutablePointer<Double>?,
                               pattern: UnsafeMutablePointer<UInt8>?) -> Double {
        if let pattern { _ = evaluate(theta, points: nil, gradient: nil, pattern: pattern) }
        let W = theta, b = theta + n * d, c = theta + n * d + n
        let c0 = network.outputBias ? theta[n * d + 2 * n] : 0
        if let gradient { gradient.initialize(repeating: 0, count: network.parameterCount) }
        var sum = 0.0, sumR = 0.0
        for j in points {
            let xj = x + j * d
            var output = c0
            for i in 0..<n {
                var zi = b[i]
                for k in 0..<d { zi += W[i * d + k] * xj[k] }
                z[i] = zi
                if zi > 0 { output += c[i] * zi }
            }
            let r = output - data.y[j]
            sum += r * r
            guard let gradient else { continue }
            sumR += r
            for i in 0..<n where z[i] > 0 {
                let cr = c[i] * r
                for k in 0..<d { gradient[i * d + k] += cr * xj[k] }
                gradient[n * d + i] += cr
                gradient[n * d + n + i] += r * z[i]
            }
        }
        let scale = 1 / Double(points.count)
        if let gradient {
            for p in 0..<network.parameterCount { gradient[p] *= scale }
            if network.outputBias { gradient[n * d + 2 * n] = sumR * scale }
        }
        return sum * scale / 2
    }
}
