@preconcurrency import CGSL
import Foundation

/// The cost of one evaluation of the mode-locked field (SPEC §3) next to a plain
/// matrix–vector product of the same n×m size (`cblas_dgemv`, y ← A x with A n×m): the
/// roofline of the right-hand side. One evaluation makes two passes over the n×m
/// pre-activations (outputs, then gradients), so about 2× the product is the floor.
///
/// The product is timed with the CBLAS ReluFlow links (GSL's reference CBLAS) and, when
/// OpenBLAS's shared library can be loaded (Debian's `libopenblas0`, which `Benchmarks/setup`
/// installs), with OpenBLAS's `cblas_dgemv` too: an optimised roofline. ReluFlow itself does not
/// link OpenBLAS: it did not pay on the runs measured (README, Performance), and the reference
/// CBLAS keeps runs reproducible to the last digit across machines.
public struct FieldTiming: Sendable {
    public let secondsPerEvaluation: Double
    public let secondsPerMatVec: Double
    /// The same product with OpenBLAS (single-threaded), nil when it is not installed.
    public let secondsPerOptimizedMatVec: Double?
    public var ratio: Double { secondsPerEvaluation / secondsPerMatVec }
    public var optimizedRatio: Double? { secondsPerOptimizedMatVec.map { secondsPerEvaluation / $0 } }

    /// Times both at θ(0) with the pattern of θ(0) (pairs on where z > 0): the best of five
    /// batches, each repeated until it lasts `batchSeconds`.
    public static func measure(_ problem: FlowProblem, batchSeconds: Double = 0.05) -> FieldTiming {
        let field = ModeField(network: problem.network, data: problem.data)
        var states = [PairState](repeating: .off, count: field.n * field.G)
        var y = problem.theta0 + [0], f = [Double](repeating: 0, count: field.dimension)
        for i in 0..<field.n { for g in 0..<field.G where field.preactivation(&y, i, g) > 0 { states[i * field.G + g] = .on } }
        field.setMode(states)
        let evaluation = best { field.evaluate(&y, &f) }
        let n = problem.network.width, m = problem.data.count
        var A = [Double](repeating: 0, count: n * m), x = [Double](repeating: 0, count: m), out = [Double](repeating: 0, count: n)
        for k in A.indices { A[k] = Double(k % 7) - 3 }
        for k in x.indices { x[k] = Double(k % 5) - 2 }
        let product = best {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(m), 1, A, Int32(m), x, 1, 0, &out, 1)
        }
        var optimized: Double? = nil
        if let openBLAS = OpenBLAS.shared {
            openBLAS.setThreads(1)
            optimized = best {
                openBLAS.dgemv(CblasRowMajor.rawValue, CblasNoTrans.rawValue, Int32(n), Int32(m), 1, A, Int32(m), x, 1, 0, &out, 1)
            }
        }
        return FieldTiming(secondsPerEvaluation: evaluation, secondsPerMatVec: product, secondsPerOptimizedMatVec: optimized)

        func best(_ body: () -> Void) -> Double {
            var fastest = Double.infinity
            for _ in 0..<5 {
                var count = 0
                let start = DispatchTime.now().uptimeNanoseconds
                var elapsed = 0.0
                repeat {
                    body()
                    count += 1
                    elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                } while elapsed < batchSeconds
                fastest = min(fastest, elapsed / Double(count))
            }
            return fastest
        }
    }
}

/// OpenBLAS's `cblas_dgemv`, loaded at run time (for the roofline only).
private struct OpenBLAS: @unchecked Sendable {
    typealias DGEMV = @convention(c) (UInt32, UInt32, Int32, Int32, Double, UnsafePointer<Double>, Int32,
                                      UnsafePointer<Double>, Int32, Double, UnsafeMutablePointer<Double>, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void
    let dgemv: DGEMV
    let setThreads: SetThreads

    static let shared: OpenBLAS? = {
        for name in ["libopenblas.so.0", "libopenblas.so"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let g = dlsym(handle, "cblas_dgemv"), let t = dlsym(handle, "openblas_set_num_threads") else { continue }
            return OpenBLAS(dgemv: unsafeBitCast(g, to: DGEMV.self), setThreads: unsafeBitCast(t, to: SetThreads.self))
        }
        return nil
    }()
}
