import Foundation
import XCTest
@testable import ReluFlow

/// The pattern floor L*_P (SPEC §5) against `numpy.linalg.lstsq` on rank-deficient designs of
/// realistic patterns: He-uniform weights, activity s_ij = [w_i·x_j + b_i > 0], complementary and
/// duplicated neurons, m up to 10⁴ and up to 760 columns (`Tests/Reference/pattern_floors.py`
/// builds the same designs from the same formula, in exact dyadic arithmetic, and wrote
/// `pattern_floors.json`).
///
/// Tolerance 1e-9 relative: both sides are backward-stable SVD least-squares solvers with the same
/// rank threshold (eps·max(M, N)·s_max, and the script checks that no singular value lies within
/// a factor 100 of it, so the two ranks are the same); the floors are ~1e-2 on targets of size
/// ~1, so rounding moves them by far less (measured ≤ 3.1e-14 relative, ranks equal). GSL's Jacobi
/// SVD, which the floor used before, stopped unconverged on these designs and kept every column
/// (rank 112 of 112 where numpy finds 80): floors 18 % (d2-m400-n32) to 20× (d2-m2000-n96-bias) too
/// large, 10⁸× on the wide case; only d1-m20-n4 (full rank) agreed.
final class PatternFloorReferenceTests: XCTestCase {
    struct Reference: Decodable {
        let numpy: String
        let cases: [Case]
    }

    struct Case: Decodable {
        let name: String
        let m: Int, n: Int, d: Int
        let seed: UInt64
        let outputBias: Bool
        let cols: Int
        let rank: Int
        let floor: Double
    }

    static let tolerance = 1e-9

    static var referenceDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference")
    }

    /// The design formula of `pattern_floors.py` (its docstring): every value is a dyadic rational
    /// with few bits, so the data, weights and pre-activations are exact and equal in both languages.
    static func pattern(_ c: Case) throws -> (ShallowNetwork, Dataset, [Bool]) {
        var rng = SplitMix(state: c.seed)
        func draw(_ bits: Int) -> Double { Double(Int64(rng.next() >> UInt64(64 - bits)) - (Int64(1) << (bits - 1))) }
        let m = c.m, n = c.n, d = c.d
        var x = [[Double]](repeating: [Double](repeating: 0, count: d), count: m)
        for j in 0..<m { for k in 0..<d { x[j][k] = draw(20) / 524_288 } }
        var y = [Double](repeating: 0, count: m)
        for j in 0..<m { y[j] = x[j][0] * x[j][0] - x[j][d - 1] / 2 + draw(20) / 2_097_152 }
        let B = d == 1 ? 5.0 / 2 : 7.0 / 4
        var w = [Double](repeating: 0, count: n * d), b = [Double](repeating: 0, count: n)
        for i in 0..<n {
            for k in 0..<d { w[i * d + k] = draw(10) * B / 512 }
            b[i] = draw(10) / 512
            if i % 8 == 3 {
                for k in 0..<d { w[i * d + k] = -w[(i - 1) * d + k] }
                b[i] = -b[i - 1]
            } else if i % 8 == 7 {
                for k in 0..<d { w[i * d + k] = 2 * w[(i - 7) * d + k] }
                b[i] = 2 * b[i - 7]
            }
        }
        let data = try Dataset(x: x, y: y)
        var active = [Bool](repeating: false, count: n * m)
        active.withUnsafeMutableBufferPointer { s in
            data.x.withUnsafeBufferPointer { xs in
                for i in 0..<n { for j in 0..<m {
                    var z = b[i]
                    for k in 0..<d { z += w[i * d + k] * xs[j * d + k] }   // exact (≤ 34 significant bits)
                    s[i * m + j] = z > 0
                } }
            }
        }
        return (ShallowNetwork(width: n, inputDimension: d, outputBias: c.outputBias), data, active)
    }

    static func loadReference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: referenceDirectory.appendingPathComponent("pattern_floors.json")))
    }

    typealias Ours = [String: (floor: Double, cols: Int, rank: Int)]
    /// ReluFlow's results, computed once for both tests (the largest case dominates their time).
    nonisolated(unsafe) static var computed: Ours?

    /// Floors, columns and ranks of ReluFlow on every case.
    static func ours(_ cases: [Case]) throws -> Ours {
        if let computed, cases.allSatisfy({ computed[$0.name] != nil }) { return computed }
        var out: Ours = [:]
        for c in cases {
            let (network, data, active) = try pattern(c)
            let solution = try PatternFloor.solution(network: network, data: data, active: active)
            let floor = solution.residualSumOfSquares / (2 * Double(c.m))
            if c.m <= 400 { XCTAssertEqual(try PatternFloor.value(network: network, data: data, active: active), floor, c.name) }
            let neurons = (0..<c.n).filter { i in active[(i * c.m)..<((i + 1) * c.m)].contains(true) }.count
            out[c.name] = (floor, neurons * (c.d + 1) + (c.outputBias ? 1 : 0), solution.rank)
        }
        computed = out
        return out
    }

    func testFloorsAgreeWithCommittedNumpyReference() throws {
        let reference = try Self.loadReference()
        XCTAssertEqual(reference.cases.count, 7)
        let ours = try Self.ours(reference.cases)
        for c in reference.cases {
            let mine = ours[c.name]!
            XCTAssertEqual(mine.cols, c.cols, "\(c.name): the designs differ")
            XCTAssertEqual(mine.rank, c.rank, c.name)
            let relative = abs(mine.floor - c.floor) / c.floor
            XCTAssertLessThanOrEqual(relative, Self.tolerance, "\(c.name): floor \(mine.floor), numpy \(c.floor)")
        }
    }

    /// The same against numpy run now, when python3 has numpy (the committed file could be stale).
    func testFloorsAgreeWithLiveNumpy() throws {
        try requirePython("numpy")
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        script.arguments = ["python3", Self.referenceDirectory.appendingPathComponent("pattern_floors.py").path]
        // One BLAS thread: numpy's lstsq of the 10⁴ × 760 case took 0.6 s so, 2.0–2.4 s with two
        // threads on two cores busy with this test and other builds.
        script.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 }
        let out = Pipe(), err = Pipe()
        script.standardOutput = out
        script.standardError = err
        try script.run()
        // Ours while numpy works (two cores).
        let committed = try Self.loadReference()
        let ours = try Self.ours(committed.cases)
        let text = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        XCTAssertEqual(script.terminationStatus, 0, errors)
        let live = try JSONDecoder().decode(Reference.self, from: text)
        XCTAssertEqual(live.cases.map(\.name), committed.cases.map(\.name))
        for (c, old) in zip(live.cases, committed.cases) {
            // numpy's own floors must not have moved since the file was written (another numpy or LAPACK).
            XCTAssertEqual(c.rank, old.rank, "\(c.name): numpy \(live.numpy) vs the file's \(committed.numpy)")
            XCTAssertLessThanOrEqual(abs(c.floor - old.floor) / old.floor, Self.tolerance, "\(c.name): numpy \(live.numpy) vs the file's \(committed.numpy)")
            let mine = ours[c.name]!
            XCTAssertEqual(mine.rank, c.rank, c.name)
            XCTAssertLessThanOrEqual(abs(mine.floor - c.floor) / c.floor, Self.tolerance, "\(c.name): floor \(mine.floor), numpy \(c.floor)")
        }
    }
}
