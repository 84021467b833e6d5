import CNumberText
import Foundation
import XCTest
@testable import ReluFlow

/// `rf_shortest_double` (CNumberText/shortest.c: Ryu's digits in Swift's layout) writes the sample
/// rows' numbers (issue 22). Wherever it answers, its text must be exactly `Double.description`
/// (run folders stay byte for byte what they were); it may decline (-1), and then CSVWriter takes
/// Swift's own. Checked on the cases where shortest-digit algorithms go wrong: powers of ten and of
/// two with their neighbours (interval bounds, the asymmetric interval at a power of two),
/// subnormals down to the least one, ±0, the layout's switches (1e-4 / 1e-5, 2^53 / 2^53 + 2,
/// 2^54), integers and decimal fractions, random bit patterns and values of a run's sizes.
final class ShortestTextTests: XCTestCase {
    private func text(_ v: Double) -> String? {
        var buffer = [CChar](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBufferPointer { rf_shortest_double(v, $0.baseAddress!) }
        if n < 0 { return nil }
        return String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func testShortestTextIsDoubleDescriptionWhereverItAnswers() {
        var values: [Double] = [0, -0.0, 1, -1, 0.5, 0.1, 0.2, 0.3, 1.0 / 3, 100, 1e-4, 1e-5, 0.0001.nextDown, 0.001, 1e15, 1e16,
                                9007199254740992, 9007199254740992.0.nextDown, 9007199254740992.0.nextUp, 18014398509481984,
                                Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, Double.leastNormalMagnitude,
                                Double.leastNormalMagnitude.nextDown, Double.greatestFiniteMagnitude, Double.ulpOfOne,
                                .nan, .infinity, -.infinity]
        for e in -325...308 {
            guard let v = Double("1e\(e)") else { continue }
            values += [v, v.nextUp, v.nextDown, -v]
        }
        for e in -1074...1023 {
            let v = Double(sign: .plus, exponent: e, significand: 1)
            values += [v, v.nextUp, v.nextDown, v.nextUp.nextUp, v.nextDown.nextDown]
        }
        for i in 0..<20_000 { values += [Double(i), Double(i) / 1000, Double(i) / 7, -Double(i) * 1e-6] }
        var rng = SplitMix(state: 2022)
        for _ in 0..<200_000 {
            values.append(Double(bitPattern: rng.next()))
            values.append(Double(bitPattern: rng.next() & ((1 << 52) - 1)))   // subnormals
            values.append(Double.random(in: -1...1, using: &rng) * pow(10, Double(Int.random(in: -20...20, using: &rng))))
        }
        var answered = 0, runSized = 0, runSizedAnswered = 0
        for (k, v) in values.enumerated() {
            let small = k >= values.count - 600_000 && k % 3 == 2
            if small { runSized += 1 }
            guard let t = text(v) else { continue }
            answered += 1
            if small { runSizedAnswered += 1 }
            XCTAssertEqual(t, v.description, "bit pattern \(String(v.bitPattern, radix: 16))")
        }
        // Non-finite values are always Swift's.
        XCTAssertNil(text(.nan))
        XCTAssertNil(text(.infinity))
        // It answers for almost every value of a run's sizes (otherwise it would not be worth having).
        XCTAssertGreaterThan(Double(runSizedAnswered), 0.99 * Double(runSized))
        XCTAssertGreaterThan(answered, values.count / 2)
    }
}
