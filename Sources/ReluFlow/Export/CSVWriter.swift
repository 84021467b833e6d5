import Foundation

/// CSV bytes with a header row, `.` decimals and numbers that round-trip a Double (INTERFACE.md).
/// Fields are appended one at a time into one byte buffer (no per-row arrays of strings).
struct CSVWriter {
    private(set) var bytes: [UInt8] = []
    private var fieldsInRow = 0

    init(header: [String]) {
        bytes.reserveCapacity(1 << 16)
        for name in header { text(name) }
        endRow()
    }

    /// Shortest text that reads back to the same Double (Swift's description; at most 17 digits).
    static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return v.description
    }

    private mutating func separate() {
        if fieldsInRow > 0 { bytes.append(UInt8(ascii: ",")) }
        fieldsInRow += 1
    }

    mutating func number(_ v: Double) {
        separate()
        var s = CSVWriter.number(v)
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func numbers<C: Collection<Double>>(_ values: C) {
        for v in values { number(v) }
    }

    mutating func integer(_ v: Int) {
        separate()
        var s = String(v)
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A field taken as is (the caller guarantees no comma, quote or newline).
    mutating func text(_ s: String) {
        separate()
        var copy = s
        copy.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        fieldsInRow = 0
    }

    var data: Data { Data(bytes) }

    var byteCount: Int { bytes.count }

    /// The bytes written so far, leaving the writer empty (for appending to a file in parts).
    mutating func take() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }
}
