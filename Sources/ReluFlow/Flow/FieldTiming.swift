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
    /// The same evaluation with the portable build of the field instead of the AVX2 one (bitwise the
    /// same field), nil where the AVX2 build does not run (no AVX2): their
    /// gain, measured.
    public let secondsPerPortableEvaluation: Double?
    public let secondsPerMatVec: Double
    /// The same product with OpenBLAS (single-threaded), nil when it is not installed.
    public let secondsPerOptimizedMatVec: Double?
    public var ratio: Double { secondsPerEvaluation / secondsPerMatVec }
    public var optimizedRatio: Double? { secondsPerOptimizedMatVec.map { secondsPerEvaluation / $0 } }
    /// The same field written as BLAS calls on OpenBLAS (`blasField`), nil without OpenBLAS: the
    /// answer to "would BLAS pay for the evaluation?".
    public let secondsPerBLASEvaluation: Double?
    /// Largest relative difference between that formulation and `ModeField.evaluate` (a check
    /// that the two compute the same field).
    public let blasFieldDifference: Double?

    /// Times both at θ(0) with the pattern of θ(0) (pairs on where z > 0): the best of five
    /// batches, each repeated until it lasts `batchSeconds`.
    public static func measure(_ problem: FlowProblem, batchSeconds: Double = 0.05) -> FieldTiming {
        let field = ModeField(network: problem.network, data: problem.data)
        var states = [PairState](repeating: .off, count: field.n * field.G)
        var y = problem.theta0 + [0], f = [Double](repeating: 0, count: field.dimension)
        for i in 0..<field.n { for g in 0..<field.G where field.preactivation(&y, i, g) > 0 { states[i * field.G + g] = .on } }
        field.setMode(states)
        let evaluation = best { field.evaluate(&y, &f) }
        var portable: Double? = nil
        if field.useVectorKernels {
            field.useVectorKernels = false
            portable = best { field.evaluate(&y, &f) }
            field.useVectorKernels = true
        }
        let n = problem.network.width, m = problem.data.count
        var A = [Double](repeating: 0, count: n * m), x = [Double](repeating: 0, count: m), out = [Double](repeating: 0, count: n)
        for k in A.indices { A[k] = Double(k % 7) - 3 }
        for k in x.indices { x[k] = Double(k % 5) - 2 }
        let product = best {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(m), 1, A, Int32(m), x, 1, 0, &out, 1)
        }
        var optimized: Double? = nil, blas: Double? = nil, difference: Double? = nil
        if let openBLAS = OpenBLAS.shared {
            openBLAS.setThreads(1)
            optimized = best {
                openBLAS.dgemv(CblasRowMajor.rawValue, CblasNoTrans.rawValue, Int32(n), Int32(m), 1, A, Int32(m), x, 1, 0, &out, 1)
            }
            if !problem.network.outputBias {
                var g = [Double](repeating: 0, count: field.dimension)
                let buffers = BLASFieldBuffers(field)
                blasField(field, openBLAS, y, &g, buffers)
                field.evaluate(&y, &f)
                let scale = max((0..<field.P).map { abs(f[$0]) }.max() ?? 0, 1e-300)
                difference = (0..<field.P).map { abs(g[$0] - f[$0]) }.max()! / scale
                blas = best { blasField(field, openBLAS, y, &g, buffers) }
            }
        }
        return FieldTiming(secondsPerEvaluation: evaluation, secondsPerPortableEvaluation: portable, secondsPerMatVec: product,
                           secondsPerOptimizedMatVec: optimized,
                           secondsPerBLASEvaluation: blas, blasFieldDifference: difference)

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

/// Work arrays of `blasField`: Z (then H), M (n×G), and G- and n-vectors.
private final class BLASFieldBuffers {
    var H: [Double], M: [Double], N: [Double], R: [Double], ones: [Double], gradW: [Double], gradB: [Double], gradC: [Double]
    init(_ field: ModeField) {
        let n = field.n, G = field.G
        H = [Double](repeating: 0, count: n * G)
        M = H
        N = [Double](repeating: 0, count: G)
        R = N
        ones = [Double](repeating: 1, count: G)
        gradW = [Double](repeating: 0, count: n * field.d)
        gradB = [Double](repeating: 0, count: n)
        gradC = gradB
    }
}

/// The mode-locked field of SPEC §3 (no sliding pairs, no output bias) as BLAS calls, for the
/// benchmark's comparison only: Z = W Xᵀ (dgemm), H = S ⊙ (Z + b 1ᵀ), N = Hᵀ c (dgemv),
/// R = μ ⊙ N − Y, M = S ⊙ (1 Rᵀ), ∇_W = M X (dgemm), ∇_b = M 1 and ∇_c = H R (dgemv).
/// It stores two n×G arrays, which the fused loops of `ModeField.evaluate` avoid.
private func blasField(_ field: ModeField, _ blas: OpenBLAS, _ y: [Double], _ f: inout [Double], _ b: BLASFieldBuffers) {
    let n = field.n, G = field.G, d = field.d
    let row = CblasRowMajor.rawValue, no = CblasNoTrans.rawValue, tr = CblasTrans.rawValue
    y.withUnsafeBufferPointer { yp in
        let W = yp.baseAddress!, bias = W + n * d, c = W + n * d + n
        blas.dgemm(row, no, tr, Int32(n), Int32(G), Int32(d), 1, W, Int32(d), field.xg, Int32(d), 0, &b.H, Int32(G))
        b.H.withUnsafeMutableBufferPointer { H in
            for i in 0..<n {
                let s = field.slope + i * G, h = H.baseAddress! + i * G, bi = bias[i]
                for g in 0..<G { h[g] = s[g] * (h[g] + bi) }
            }
        }
        blas.dgemv(row, tr, Int32(n), Int32(G), 1, b.H, Int32(G), c, 1, 0, &b.N, 1)
        for g in 0..<G { b.R[g] = field.mult[g] * b.N[g] - field.ysum[g] }
        b.M.withUnsafeMutableBufferPointer { M in
            for i in 0..<n {
                let s = field.slope + i * G, mrow = M.baseAddress! + i * G
                for g in 0..<G { mrow[g] = s[g] * b.R[g] }
            }
        }
        blas.dgemm(row, no, no, Int32(n), Int32(d), Int32(G), 1, b.M, Int32(G), field.xg, Int32(d), 0, &b.gradW, Int32(d))
        blas.dgemv(row, no, Int32(n), Int32(G), 1, b.M, Int32(G), b.ones, 1, 0, &b.gradB, 1)
        blas.dgemv(row, no, Int32(n), Int32(G), 1, b.H, Int32(G), b.R, 1, 0, &b.gradC, 1)
        for i in 0..<n {
            let scale = -c[i] * field.invM
            for k in 0..<d { f[i * d + k] = scale * b.gradW[i * d + k] }
            f[n * d + i] = scale * b.gradB[i]
            f[n * d + n + i] = -b.gradC[i] * field.invM
        }
    }
}

/// OpenBLAS's `cblas_dgemv` and `cblas_dgemm`, loaded at run time (for the benchmark only).
private struct OpenBLAS: @unchecked Sendable {
    typealias DGEMV = @convention(c) (UInt32, UInt32, Int32, Int32, Double, UnsafePointer<Double>, Int32,
                                      UnsafePointer<Double>, Int32, Double, UnsafeMutablePointer<Double>, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void
    typealias DGEMM = @convention(c) (UInt32, UInt32, UInt32, Int32, Int32, Int32, Double, UnsafePointer<Double>, Int32,
                                      UnsafePointer<Double>, Int32, Double, UnsafeMutablePointer<Double>, Int32) -> Void
    let dgemv: DGEMV
    let dgemm: DGEMM
    let setThreads: SetThreads

    static let shared: OpenBLAS? = {
        for name in ["libopenblas.so.0", "libopenblas.so"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let g = dlsym(handle, "cblas_dgemv"), let mm = dlsym(handle, "cblas_dgemm"),
                  let t = dlsym(handle, "openblas_set_num_threads") else { continue }
            return OpenBLAS(dgemv: unsafeBitCast(g, to: DGEMV.self), dgemm: unsafeBitCast(mm, to: DGEMM.self),
                            setThreads: unsafeBitCast(t, to: SetThreads.self))
        }
        return nil
    }()
}
