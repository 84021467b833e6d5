import Foundation

/// JSON files written by ReluFlow (`summary.json`, `checkpoint.json`, `analysis.json`,
/// `stationarity.json`): keys sorted, pretty-printed, numbers that round-trip, and every
/// non-finite number (NaN, ±∞) written as `null`, which every JSON reader accepts (the strings
/// "nan" and "inf" it replaces were valid JSON but not numbers). The paths of those numbers are
/// returned, so that a file can say which of its figures were not finite (`RunSummary.nonFinite`).
enum JSONOutput {
    /// Placeholders the encoder writes for non-finite numbers, replaced by `null` afterwards.
    private static let prefix = "reluflow:non-finite:"
    private static let placeholders = [prefix + "inf", prefix + "-inf", prefix + "nan"]

    /// Whether `pattern` occurs in `data`, byte for byte, searched directly: `Data.range(of:)` goes
    /// through NSData's search (about 0.5 M instructions at a run's first JSON file, issue 22).
    static func contains(_ data: Data, _ pattern: [UInt8]) -> Bool {
        guard let first = pattern.first else { return true }
        return data.withUnsafeBytes { (text: UnsafeRawBufferPointer) -> Bool in
            guard text.count >= pattern.count else { return false }
            var i = 0
            while i <= text.count - pattern.count {
                if text[i] == first, pattern.indices.allSatisfy({ text[i + $0] == pattern[$0] }) { return true }
                i += 1
            }
            return false
        }
    }

    /// The bytes of `value`, and the paths of its non-finite numbers in document order (an element
    /// of an array of numbers is reported as the array, once: `theta`, not `theta[3]`).
    static func encode<T: Encodable>(_ value: T) throws -> (data: Data, nonFinite: [String]) {
        // JSONEncoder's bytes with [.prettyPrinted, .sortedKeys] and these placeholders (PrettyJSONEncoder).
        let encoder = PrettyJSONEncoder(nonFinite: (placeholders[0], placeholders[1], placeholders[2]))
        var data = try encoder.encode(value)
        guard contains(data, Array(prefix.utf8)) else { return (data, []) }
        var paths: [String] = []
        for (text, path) in JSONScan.strings(withPrefix: prefix, in: data) where placeholders.contains(text) {
            var path = path
            if case .index = path.last { path.removeLast() }
            let name = JSONScan.text(path)
            if !paths.contains(name) { paths.append(name) }
        }
        // One pass: every string that starts with the prefix is a placeholder (JSONScan found them
        // all as values; keys and other strings never start with it).
        let bytes = [UInt8](data), marker = Array("\"\(prefix)".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\""), i + marker.count <= bytes.count, bytes[i..<(i + marker.count)].elementsEqual(marker),
               let close = bytes[(i + 1)...].firstIndex(of: UInt8(ascii: "\"")) {
                out.append(contentsOf: Array("null".utf8))
                i = close + 1
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        data = Data(out)
        return (data, paths)
    }
}
