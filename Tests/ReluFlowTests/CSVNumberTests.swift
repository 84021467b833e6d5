import Foundation
import XCTest
@testable import ReluFlow

/// `CSVWriter.number(_:)` writes Double's shortest round-trip text straight into its byte buffer
/// (issue 22). The bytes must be exactly those of `CSVWriter.number(v)` (Swift's `description`:
/// the files stay byte for byte what they were) and read back to the same Double, bit for bit.
final class CSVNumberTests: XCTestCase {
    func testNumbersAreTheShortestRoundTripTextAndReadBackExactly() throws {
        var values: [Double] = [0, -0.0, 1, -1, 0.1, 1.0 / 3, 100, 1e15, 1e16, 1e17, 1e-4, 1e-5, 0.001, 123456789012345680,
                                Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, Double.leastNormalMagnitude,
                                Double.leastNormalMagnitude.nextDown, Double.greatestFiniteMagnitude, -Double.greatestFiniteMagnitude,
                                Double.ulpOfOne, 1 + Double.ulpOfOne, 1.0.nextDown, 2.0.nextUp, 5e-324, 9007199254740993,
                                .nan, .infinity, -.infinity]
        var rng = SplitMix(state: 22)
        for _ in 0..<100_000 {
            // Random bit patterns (every exponent, subnormals, NaN payloads) and values of the size a run writes.
            values.append(Double(bitPattern: rng.next()))
            values.append(Double.random(in: -1...1, using: &rng) * pow(10, Double(Int.random(in: -20...20, using: &rng))))
        }
        var writer = CSVWriter(header: ["v"])
        for v in values {
            writer.number(v)
            writer.endRow()
        }
        let lines = String(decoding: writer.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, values.count + 2)   // header, one row each, and the empty tail after the last newline
        for (k, v) in values.enumerated() {
            let text = String(lines[k + 1])
            XCTAssertEqual(text, CSVWriter.number(v), "bit pattern \(String(v.bitPattern, radix: 16))")
            if v.isNaN {
                XCTAssertEqual(text, "nan")
                continue
            }
            let back = try XCTUnwrap(Double(text), text)
            XCTAssertEqual(back.bitPattern, v.bitPattern, "\(text) reads back as \(back)")
            XCTAssertLessThanOrEqual(text.count, 24, text)
        }
    }

    /// `NumberText.printf` (snprintf in a C shim) gives `String(format:)`'s text, which it replaces in
    /// the command's report and the resource messages (issue 22): every conversion and precision
    /// used, over special values and random bit patterns.
    func testPrintfIsStringFormat() {
        var values: [Double] = [0, -0.0, 1, -1, 0.5, 0.05, 0.0005, 9.995, 99.95, 999.5, 1e6, 812e6, 1.6e12, 2e9, 123456.5,
                                Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, -Double.greatestFiniteMagnitude,
                                .nan, .infinity, -.infinity]
        var rng = SplitMix(state: 7)
        for _ in 0..<2_000 {
            values.append(Double(bitPattern: rng.next()))
            values.append(Double.random(in: -1...1, using: &rng) * pow(10, Double(Int.random(in: -12...15, using: &rng))))
        }
        for v in values {
            for conversion in ["e", "f", "g"] {
                for precision in [0, 2, 3, 6, 17] {
                    XCTAssertEqual(NumberText.printf(v, Character(conversion), precision: precision),
                                   String(format: "%.\(precision)\(conversion)", v),
                                   "%.\(precision)\(conversion) of bit pattern \(String(v.bitPattern, radix: 16))")
                }
            }
        }
    }

    func testSmallIntegersAreWrittenAsDigits() {
        var writer = CSVWriter(header: ["k"])
        for k in [-12, -1, 0, 1, 9, 10, 11, 12345] { writer.integer(k); writer.endRow() }
        XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self), "k\n-12\n-1\n0\n1\n9\n10\n11\n12345\n")
    }
    /// A sample's trajectory.csv row is written at once into a stack buffer (`CSVWriter.row`,
    /// issue 22); its bytes must be those of the same fields written one by one, for the flow, a
    /// training run (iteration column), the adaptive flows (auxiliary columns), a wide network,
    /// and numbers that take every path (shortest digits, Swift's own text, nan and ±inf, large
    /// and negative integers).
    func testSampleRowIsTheRowFieldByField() {
        let cases: [(width: Int, iterations: Bool, kind: FlowKind)] = [
            (3, false, .gradient), (3, true, .gradient), (4, false, .adam(AdamFlow())), (5, false, .rmsprop(RMSPropFlow())), (400, false, .gradient),
        ]
        let special: [Double] = [.nan, .infinity, -.infinity, 0.5, 3, 1e300, -0.0, 2e22, Double.greatestFiniteMagnitude]
        var rng = SplitMix(state: 9)
        for c in cases {
            let network = ShallowNetwork(width: c.width, inputDimension: 1)
            let format = RecordFormat(network: network, iterations: c.iterations, kind: c.kind)
            let auxiliaryCount = c.kind.law?.auxiliaryNames(parameterNames: network.parameterNames).count ?? 0
            var direct = CSVWriter(header: format.trajectoryHeader), byField = CSVWriter(header: format.trajectoryHeader)
            for k in 0..<20 {
                func value() -> Double {
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: return special[Int.random(in: 0..<special.count, using: &rng)]
                    case 1: return Double(bitPattern: rng.next())
                    default: return Double.random(in: -1...1, using: &rng) * pow(10, Double(Int.random(in: -12...12, using: &rng)))
                    }
                }
                let sample = FlowSample(t: value(), loss: value(), gradNorm: value(), patternId: [0, 7, 10, -3, Int.max, Int.min][k % 6],
                                        theta: (0..<network.parameterCount).map { _ in value() }, dissipated: value(),
                                        iteration: c.iterations ? [0, 9, 12345678901][k % 3] : nil,
                                        auxiliary: (0..<auxiliaryCount).map { _ in value() })
                format.csv(sample, &direct)
                format.csvByField(sample, &byField)
            }
            XCTAssertEqual(String(decoding: direct.bytes, as: UTF8.self), String(decoding: byField.bytes, as: UTF8.self),
                           "width \(c.width), iterations \(c.iterations), \(c.kind)")
        }
    }

    /// The θ columns' memo (`ColumnTexts`, issue 22: parameters that stay put are copied, not
    /// formatted again) writes the bytes of the rows without it: rows whose parameters repeat,
    /// change, flip between 0 and −0 (different bits, different text), take Swift's own text (0.5,
    /// 3, 1e300) or are nan and ±inf, across several rows of each.
    func testThetaColumnMemoWritesTheSameRows() {
        let network = ShallowNetwork(width: 6, inputDimension: 2, outputBias: true)
        let format = RecordFormat(network: network, iterations: false, kind: .gradient)
        let P = network.parameterCount
        let memo = ColumnTexts(columns: P)
        var with = CSVWriter(header: format.trajectoryHeader), without = CSVWriter(header: format.trajectoryHeader)
        let special: [Double] = [0, -0.0, .nan, .infinity, -.infinity, 0.5, 3, 1e300, 0.1, -2.2250738585072014e-308]
        var rng = SplitMix(state: 2212)
        var theta = (0..<P).map { _ in Double.random(in: -2...2, using: &rng) }
        for k in 0..<300 {
            for p in 0..<P {
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: theta[p] = special[Int.random(in: 0..<special.count, using: &rng)]
                case 1: theta[p] = Double(bitPattern: rng.next())
                case 2: theta[p] = Double.random(in: -2...2, using: &rng)
                default: break   // stays
                }
            }
            let sample = FlowSample(t: Double(k) * 1e-3, loss: 0.25, gradNorm: 1, patternId: k % 3, theta: theta, dissipated: 1e-3)
            format.csv(sample, &with, memo: memo)
            format.csv(sample, &without)
        }
        XCTAssertEqual(String(decoding: with.bytes, as: UTF8.self), String(decoding: without.bytes, as: UTF8.self))
        XCTAssertGreaterThan(with.bytes.count, 300 * P * 3)
    }
}
