import CFieldKernels
import CGSL
import XCTest

/// reference_blas.c computes the BLAS calls of GSL's steppers (the msbdf LU: dtrsv, dger, dgemm,
/// dtrsm, dcopy) and of ModeField.jacobian (dsyrk) in the reference CBLAS's order of operations
/// (issue 22). Run folders are reproducible to the last digit only if every result is bitwise
/// libgslcblas's: each kernel, in both builds, against libgslcblas's own function on random
/// arguments (wide magnitudes, ±0, ±∞, NaN, small integers that make exact cancellations; the
/// shapes GSL calls at n = 10 and others, strides and leading dimensions beyond the width).
/// Tolerance: none, every bit, except that where both results are NaN their payloads are not
/// compared (which of two NaNs an operation returns depends on the compiler's operand order, and
/// a NaN in a step fails the run either way).
final class ReferenceBLASTests: XCTestCase {
    typealias Trsv = @convention(c) (CBLAS_ORDER, CBLAS_UPLO, CBLAS_TRANSPOSE, CBLAS_DIAG, Int32,
                                     UnsafePointer<Double>?, Int32, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias Ger = @convention(c) (CBLAS_ORDER, Int32, Int32, Double, UnsafePointer<Double>?, Int32,
                                    UnsafePointer<Double>?, Int32, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias Gemm = @convention(c) (CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Double,
                                     UnsafePointer<Double>?, Int32, UnsafePointer<Double>?, Int32, Double,
                                     UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias Trsm = @convention(c) (CBLAS_ORDER, CBLAS_SIDE, CBLAS_UPLO, CBLAS_TRANSPOSE, CBLAS_DIAG, Int32, Int32, Double,
                                     UnsafePointer<Double>?, Int32, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias Syrk = @convention(c) (CBLAS_ORDER, CBLAS_UPLO, CBLAS_TRANSPOSE, Int32, Int32, Double, UnsafePointer<Double>?,
                                     Int32, Double, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias Copy = @convention(c) (Int32, UnsafePointer<Double>?, Int32, UnsafeMutablePointer<Double>?, Int32) -> Void

    private func original<F>(_ name: String, as type: F.Type) throws -> F {
        let pointer = try XCTUnwrap(rf_reference_blas_original(name), name)
        return unsafeBitCast(pointer, to: type)
    }

    /// xorshift64: the same arguments in every run.
    private struct Source {
        var s: UInt64 = 88_172_645_463_325_252
        mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func value() -> Double {
            switch below(1000) {
            case 0..<5: return 0
            case 5..<10: return -0.0
            case 10..<12: return .infinity
            case 12..<14: return -.infinity
            case 14: return .nan
            case 15..<40: return Double(below(5) - 2)
            default:
                let unit = Double(next() >> 11) / 9_007_199_254_740_992 - 0.5
                return unit * pow(10, Double(below(20) - 10))
            }
        }
    }

    private func sameBits(_ a: [Double], _ b: [Double]) -> Int? {
        for k in a.indices where a[k].bitPattern != b[k].bitPattern && !(a[k].isNaN && b[k].isNaN) { return k }
        return nil
    }

    func testKernelsAreBitwiseTheReferenceCBLAS() throws {
        let trsv = try original("cblas_dtrsv", as: Trsv.self), ger = try original("cblas_dger", as: Ger.self)
        let gemm = try original("cblas_dgemm", as: Gemm.self), trsm = try original("cblas_dtrsm", as: Trsm.self)
        let syrk = try original("cblas_dsyrk", as: Syrk.self), copy = try original("cblas_dcopy", as: Copy.self)
        defer { rf_reference_blas_choose(-1) }
        let size = 42 * 42 + 100   // n, m, k ≤ 40 with leading dimensions ≤ n + 2; dger reads B from 100 on
        for build in [1, 0] {
            rf_reference_blas_choose(Int32(build))
            var r = Source()
            var calls = 0
            for _ in 0..<2500 {
                var A = (0..<size).map { _ in r.value() }
                let B = (0..<size).map { _ in r.value() }
                let X = (0..<size).map { _ in r.value() }
                var mine = X, theirs = X
                let n = 1 + r.below(40), m = 1 + r.below(40), k = 1 + r.below(40)
                let alpha = r.below(3) == 0 ? r.value() : (r.below(2) == 0 ? 1.0 : -1.0)
                let beta = r.below(3) == 0 ? r.value() : (r.below(2) == 0 ? 0.0 : 1.0)
                let kind = r.below(6)
                switch kind {
                case 0:   // dtrsv, the two shapes of GSL's LU solves (n = 31 among them) and others forwarded
                    let lda = n + r.below(3), inc = r.below(4) == 0 ? 2 : 1
                    if r.below(2) == 0 { for i in 0..<n { A[i * lda + i] = 1 + Double(i) } }
                    let lower = r.below(2) == 0
                    let uplo = lower ? CblasLower : CblasUpper
                    let diag = r.below(4) == 0 ? (lower ? CblasNonUnit : CblasUnit) : (lower ? CblasUnit : CblasNonUnit)
                    let trans = r.below(5) == 0 ? CblasTrans : CblasNoTrans
                    cblas_dtrsv(CblasRowMajor, uplo, trans, diag, Int32(n), A, Int32(lda), &mine, Int32(inc))
                    trsv(CblasRowMajor, uplo, trans, diag, Int32(n), A, Int32(lda), &theirs, Int32(inc))
                case 1:   // dger: GSL's LU updates have incX = lda, incY = 1, α = −1
                    let lda = n + r.below(3), incX = [1, 2, 31][r.below(3)]
                    cblas_dger(CblasRowMajor, Int32(m), Int32(n), alpha, B, Int32(incX), Array(B[100...]), 1, &mine, Int32(lda))
                    ger(CblasRowMajor, Int32(m), Int32(n), alpha, B, Int32(incX), Array(B[100...]), 1, &theirs, Int32(lda))
                case 2:   // dgemm, no transposes (GSL's LU: 15 × 15 × 16, α = −1, β = 1)
                    let (mm, nn, kk) = (m % 20 + 1, n % 20 + 1, k % 20 + 1)
                    let lda = kk + r.below(2), ldb = nn + r.below(2), ldc = nn + r.below(2)
                    let ta = r.below(6) == 0 ? CblasTrans : CblasNoTrans
                    let lda2 = ta == CblasTrans ? max(mm, lda) : lda
                    cblas_dgemm(CblasRowMajor, ta, CblasNoTrans, Int32(mm), Int32(nn), Int32(kk), alpha, A, Int32(lda2), B, Int32(ldb), beta, &mine, Int32(ldc))
                    gemm(CblasRowMajor, ta, CblasNoTrans, Int32(mm), Int32(nn), Int32(kk), alpha, A, Int32(lda2), B, Int32(ldb), beta, &theirs, Int32(ldc))
                case 3:   // dtrsm, left lower (GSL's LU: unit, 16 × 15, α = 1)
                    let (mm, nn) = (m % 32 + 1, n % 32 + 1)
                    let lda = mm + r.below(2), ldb = nn + r.below(2)
                    if r.below(2) == 0 { for i in 0..<mm { A[i * lda + i] = 1 + Double(i) } }
                    let diag = r.below(2) == 0 ? CblasUnit : CblasNonUnit
                    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, diag, Int32(mm), Int32(nn), alpha, A, Int32(lda), &mine, Int32(ldb))
                    trsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, diag, Int32(mm), Int32(nn), alpha, A, Int32(lda), &theirs, Int32(ldb))
                case 4:   // dsyrk, upper, transposed (ModeField.jacobian: P × P from G × P, α = 1, β = 0)
                    let (nn, kk) = (n % 32 + 1, k % 32 + 1)
                    let lda = nn + r.below(2), ldc = nn + r.below(2)
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(nn), Int32(kk), alpha, A, Int32(lda), beta, &mine, Int32(ldc))
                    syrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(nn), Int32(kk), alpha, A, Int32(lda), beta, &theirs, Int32(ldc))
                default:  // dcopy
                    let inc = r.below(4) == 0 ? 2 : 1
                    cblas_dcopy(Int32(n), B, Int32(inc), &mine, Int32(inc))
                    copy(Int32(n), B, Int32(inc), &theirs, Int32(inc))
                }
                calls += 1
                if let at = sameBits(mine, theirs) {
                    XCTFail("build \(build == 1 ? "AVX2" : "portable"), kernel \(kind), n \(n) m \(m) k \(k): element \(at) \(mine[at]) against the reference's \(theirs[at])")
                    return
                }
            }
            XCTAssertEqual(calls, 2500)
        }
    }

    /// dcopy with every stride sign and size the reference accepts (GSL's eigensolvers copy
    /// strided rows and columns): reference_blas.c copies them all itself, as the reference's loop
    /// (a negative stride starts at the far end), so no call loads libgslcblas (issue 22). Every
    /// element of the destination, written or not, bit for bit the reference's; NaN payloads too,
    /// since a copy has no arithmetic.
    func testDcopyWithAnyStridesIsTheReferences() throws {
        let copy = try original("cblas_dcopy", as: Copy.self)
        var r = Source()
        var calls = 0
        for n in 0...9 {
            for incX in [-3, -2, -1, 1, 2, 3] {
                for incY in [-3, -1, 1, 2, 4] {
                    let x = (0..<40).map { _ in r.value() } + [Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)]
                    let y = (0..<40).map { _ in r.value() }
                    var mine = y, theirs = y
                    cblas_dcopy(Int32(n), x, Int32(incX), &mine, Int32(incY))
                    copy(Int32(n), x, Int32(incX), &theirs, Int32(incY))
                    XCTAssertEqual(mine.map(\.bitPattern), theirs.map(\.bitPattern), "n \(n) incX \(incX) incY \(incY)")
                    calls += 1
                }
            }
        }
        XCTAssertEqual(calls, 300)
    }
}
