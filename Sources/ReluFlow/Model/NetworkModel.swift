/// A network of the toolkit as the training methods see it (SPEC §7): the loss
/// `L = 1/(2|B|) Σ_{j∈B} (N(x_j; θ) − y_j)²` over a set of points B, its *plain* gradient, with
/// σ'(0) = 0 as in common frameworks (the Filippov treatment belongs to the flow), and the
/// activation pattern of the hidden units. It is independent of the flow's mode-locked field.
///
/// The shallow network of SPEC §1 conforms; the deep networks of SPEC §8 conform the same way, so
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

/// The shallow network's loss, plain gradient and pattern, point by point:
/// z_ij = w_i·x_j + b_i, r_j = Σ_i c_i σ(z_ij) (+ c_0) − y_j, and with s_ij = [z_ij > 0],
/// ∂L/∂w_i = (1/|B|) Σ_j r_j c_i s_ij x_j, ∂L/∂b_i = (1/|B|) Σ_j r_j c_i s_ij,
/// ∂L/∂c_i = (1/|B|) Σ_j r_j σ(z_ij), ∂L/∂c_0 = (1/|B|) Σ_j r_j.
final class ShallowEvaluator: ModelEvaluator {
    let network: ShallowNetwork
    let data: Dataset
    private let n: Int, d: Int, m: Int
    private let z: UnsafeMutablePointer<Double>      // n: pre-activations of one point
    private let x: UnsafeMutablePointer<Double>      // m×d

    init(network: ShallowNetwork, data: Dataset) {
        self.network = network
        self.data = data
        n = network.width
        d = network.inputDimension
        m = data.count
        z = .allocate(capacity: max(n, 1))
        x = .allocate(capacity: max(m * d, 1))
        x.initialize(from: data.x, count: m * d)
    }

    deinit {
        z.deallocate()
        x.deallocate()
    }

    func evaluate(_ theta: UnsafePointer<Double>, points: [Int]?, gradient: UnsafeMutablePointer<Double>?,
                  pattern: UnsafeMutablePointer<UInt8>?) -> Double {
        let W = theta, b = theta + n * d, c = theta + n * d + n
        let c0 = network.outputBias ? theta[n * d + 2 * n] : 0
        if let gradient { gradient.initialize(repeating: 0, count: network.parameterCount) }
        let gW = gradient, gb = gradient.map { $0 + n * d }, gc = gradient.map { $0 + n * d + n }
        var sum = 0.0, sumR = 0.0
        let inBatch: [Bool]? = points.map { list in
            var mask = [Bool](repeating: false, count: m)
            for j in list { mask[j] = true }
            return mask
        }
        // With a pattern asked for, every point is visited (its z is needed); the loss and the
        // gradient still count only the batch's points.
        let visit: [Int] = pattern != nil || points == nil ? Array(0..<m) : points!
        for j in visit {
            let xj = x + j * d
            var out = c0
            for i in 0..<n {
                var zi = b[i]
                for k in 0..<d { zi += W[i * d + k] * xj[k] }
                z[i] = zi
                if zi > 0 { out += c[i] * zi }
                pattern?[i * m + j] = zi > 0 ? 1 : 0
            }
            if let inBatch, !inBatch[j] { continue }
            let r = out - data.y[j]
            sum += r * r
            guard let gW, let gb, let gc else { continue }
            sumR += r
            for i in 0..<n where z[i] > 0 {
                let cr = c[i] * r
                for k in 0..<d { gW[i * d + k] += cr * xj[k] }
                gb[i] += cr
                gc[i] += r * z[i]
            }
        }
        let count = Double(points?.count ?? m)
        if let gradient {
            let scale = 1 / count
            for p in 0..<network.parameterCount { gradient[p] *= scale }
            if network.outputBias { gradient[n * d + 2 * n] = sumR * scale }
        }
        return sum / (2 * count)
    }
}
