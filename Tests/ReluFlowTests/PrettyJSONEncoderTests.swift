import Foundation
import XCTest
@testable import ReluFlow

/// `PrettyJSONEncoder` writes the small JSON files of a run folder instead of `JSONEncoder` (issue
/// 22); its bytes must be exactly `JSONEncoder`'s with `[.prettyPrinted, .sortedKeys]` (and the
/// non-finite placeholders of `JSONOutput`): on every such file of runs of the examples, and on
/// values that exercise each rule (escapes, key order, empty containers, numbers of every kind,
/// nil, nested and keyed-by-Int containers).
final class PrettyJSONEncoderTests: XCTestCase {
    private func reference<T: Encodable>(_ value: T, nonFinite: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if nonFinite {
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan!")
        }
        return try encoder.encode(value)
    }

    private func assertSame<T: Encodable>(_ value: T, nonFinite: Bool = false, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try reference(value, nonFinite: nonFinite)
        let encoder = nonFinite ? PrettyJSONEncoder(nonFinite: ("+inf", "-inf", "nan!")) : PrettyJSONEncoder()
        let got = try encoder.encode(value)
        XCTAssertEqual(String(decoding: got, as: UTF8.self), String(decoding: expected, as: UTF8.self), label, file: file, line: line)
        XCTAssertEqual(got, expected, label, file: file, line: line)
    }

    /// config.json, summary.json, checkpoint.json and the marker of runs of every example (short
    /// horizons), through the functions that write them, against `JSONEncoder`.
    func testRunFolderFilesAreJSONEncodersBytes() throws {
        for example in Example.all {
            var config = example.config
            config.flow.T = min(config.flow.T ?? 1, 2)
            let (problem, resolved) = try config.resolve()
            let solution = solve(problem)
            try assertSame(resolved, "\(example.name) config.json")
            XCTAssertEqual(try resolved.encoded(), try reference(resolved), example.name)
            let summary = RunSummary(solution, firstPlateau: try? FirstPlateauFinder.of(solution))
            try assertSame(summary, nonFinite: true, "\(example.name) summary.json")
            let placeholders = JSONEncoder()
            placeholders.outputFormatting = [.prettyPrinted, .sortedKeys]
            placeholders.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "reluflow:non-finite:inf", negativeInfinity: "reluflow:non-finite:-inf", nan: "reluflow:non-finite:nan")
            XCTAssertEqual(try JSONOutput.encode(summary).data, try placeholders.encode(summary), example.name)
            try assertSame(solution.checkpoint, nonFinite: true, "\(example.name) checkpoint.json")
        }
        let marker = OutputMarker(kind: "run", files: ["trajectory.csv": .init(size: 12, modified: 1_700_000_000_123_456_789, hash: "9e3779b97f4a7c15"),
                                                       "a b.json": .init(size: 0, modified: -1, hash: "")], folders: ["runs/1", "b"])
        try assertSame(marker, "marker")
        XCTAssertEqual(try marker.encoded(), try reference(marker))
        try assertSame(OutputMarker(kind: "figures", files: [:]), "empty marker")
        // OutputMarker.encoded builds its tree without Codable: the same bytes, escapes, key order,
        // an empty inventory, no folders and an empty list of them included.
        let odd = OutputMarker(kind: "compare", files: ["q\"uote\\/\u{1}\tname.csv": .init(size: Int.max, modified: Int64.min, hash: "0"),
                                                    "é.npy": .init(size: 1, modified: 0, hash: "ff"), "B.json": .init(size: 2, modified: 3, hash: "a")],
                               folders: [])
        for m in [odd, OutputMarker(kind: "figures", files: [:]), OutputMarker(kind: "run", files: marker.files)] {
            XCTAssertEqual(String(decoding: try m.encoded(), as: UTF8.self), String(decoding: try reference(m), as: UTF8.self))
        }
    }

    /// A summary with non-finite figures: the placeholders, then `null` and `nonFinite`.
    func testNonFiniteFiguresAreThoseOfJSONEncoder() throws {
        var config = try Example.named("sine").config
        config.flow.T = 0.01
        let (problem, _) = try config.resolve()
        var summary = RunSummary(solve(problem))
        summary.finalGradNorm = .nan
        summary.theta[2] = .infinity
        summary.theta0[0] = -.infinity
        summary.stepperSeconds["rk8pd"] = .nan
        try assertSame(summary, nonFinite: true, "summary with non-finite figures")
        let data = try summary.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"finalGradNorm\" : null"), text)
        XCTAssertTrue(text.contains("\"nonFinite\" : ["), text)
        // Without a strategy a non-finite number is an error, as with JSONEncoder.
        XCTAssertThrowsError(try PrettyJSONEncoder().encode([1, Double.nan]))
        XCTAssertThrowsError(try reference([1, Double.nan]))
    }

    private struct Nested: Encodable {
        var name: String
        var values: [Double]
        var counts: [String: Int]
        var byIndex: [Int: String]
        var optional: Double?
        var missing: Int?
        var flags: [Bool]
        var empty: [Int]
        var emptyMap: [String: Double]
        var inner: [Nested]
        var float: Float
        var small: Int8
        var big: UInt64
        var negative: Int64
        var deep: [[String?]]

        enum CodingKeys: String, CodingKey {
            case name, values, counts, byIndex, optional, missing, flags, empty, emptyMap, inner, float, small, big, negative, deep
            case zebra = "Zebra", under = "_under", accent = "é", digits = "10", digit = "9"
        }

        init(depth: Int, values: [Double]) {
            name = "a \"quoted\" \\ back/slash\n\t\u{1}\u{1f}\u{7f} é 😀 \u{8}\u{c}\r"
            self.values = values
            counts = ["b": 2, "a": 1, "B": 3, "_": 4, "é": 5, "10": 6, "9": 7, "": 8, "aa": 9, "a b": 10]
            byIndex = [3: "three", -1: "minus one", 10: "ten"]
            optional = depth == 0 ? nil : 0.5
            missing = nil
            flags = [true, false]
            empty = []
            emptyMap = [:]
            inner = depth > 0 ? [Nested(depth: depth - 1, values: Array(values.prefix(3)))] : []
            float = 0.1
            small = -128
            big = .max
            negative = .min
            deep = [[], [nil, "x"], [""]]
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(values, forKey: .values)
            try c.encode(counts, forKey: .counts)
            try c.encode(byIndex, forKey: .byIndex)
            try c.encode(optional, forKey: .optional)
            try c.encodeIfPresent(missing, forKey: .missing)
            try c.encode(flags, forKey: .flags)
            try c.encode(empty, forKey: .empty)
            try c.encode(emptyMap, forKey: .emptyMap)
            try c.encode(inner, forKey: .inner)
            try c.encode(float, forKey: .float)
            try c.encode(small, forKey: .small)
            try c.encode(big, forKey: .big)
            try c.encode(negative, forKey: .negative)
            try c.encode(deep, forKey: .deep)
            try c.encodeNil(forKey: .zebra)
            try c.encode(1, forKey: .under)
            try c.encode("first", forKey: .accent)
            try c.encode("again", forKey: .accent)   // a key set twice keeps the last value
            var nested = c.nestedContainer(keyedBy: CodingKeys.self, forKey: .digits)
            try nested.encode(2.5, forKey: .name)
            var list = c.nestedUnkeyedContainer(forKey: .digit)
            try list.encode(1.0)
            try list.encodeNil()
            var pair = list.nestedUnkeyedContainer()
            try pair.encode("x")
            _ = list.nestedContainer(keyedBy: CodingKeys.self)
        }
    }

    private struct Nothing: Encodable {
        func encode(to encoder: Encoder) throws {}
    }

    /// Each rule on its own: strings, key order, empty containers, nil, integers of every width,
    /// Float, top-level values, and doubles of every kind (random bit patterns, whole numbers,
    /// powers of ten, subnormals, the limits).
    func testEveryRuleIsJSONEncoders() throws {
        var values: [Double] = [0, -0.0, 1, -1, 100, 1e15, 1e16, 1e17, 1e22, 1e-4, 1e-5, 0.1, 1.0 / 3, 123456789012345680,
                                Double.leastNonzeroMagnitude, Double.leastNormalMagnitude, Double.greatestFiniteMagnitude,
                                -Double.greatestFiniteMagnitude, 9007199254740993, 0.5, 3, 2e-308]
        var rng = SplitMix(state: 11)
        for _ in 0..<3_000 {
            let v = Double(bitPattern: rng.next())
            if v.isFinite { values.append(v) }
            values.append(Double.random(in: -1...1, using: &rng) * pow(10, Double(Int.random(in: -20...20, using: &rng))))
            values.append(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)))
        }
        try assertSame(Nested(depth: 2, values: values), "nested")
        try assertSame(values, "top-level array")
        for v in values.prefix(200) { try assertSame(v, "top-level \(v)") }
        try assertSame([Double.nan, .infinity, -.infinity, 1], nonFinite: true, "non-finite array")
        try assertSame(["k": Double.nan], nonFinite: true, "non-finite value")
        try assertSame("text/with\"escapes\"", "top-level string")
        try assertSame(42, "top-level integer")
        try assertSame(true, "top-level Boolean")
        try assertSame([String](), "empty array")
        try assertSame([String: Int](), "empty object")
        try assertSame([[Int]](), "empty nested array")
        try assertSame([[Int]()], "array of an empty array")
        try assertSame(["a": [String: Int]()], "object of an empty object")
        XCTAssertThrowsError(try PrettyJSONEncoder().encode(Nothing()), "a top-level value that encodes nothing")
        XCTAssertThrowsError(try reference(Nothing()))
        try assertSame([Nothing()], "an array of values that encode nothing")
        try assertSame([Float(1), 0.1, -2.5e-8, 3e38], "floats")
        try assertSame(Data([0, 1, 2, 250, 255]), "Data")
        try assertSame(URL(fileURLWithPath: "/tmp/a b"), "URL")
        try assertSame([FlowStatus.completed, .failed], "raw-value enums")
    }
}
