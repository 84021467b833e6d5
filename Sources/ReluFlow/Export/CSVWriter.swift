import Foundation

/// CSV text with a header row, `.` decimals and numbers that round-trip a Double (INTERFACE.md).
struct CSVWriter {
    private(set) var text = ""

    init(header: [String]) {
        text.reserveCapacity(1 << 16)
        text += header.joined(separator: ",") + "\n"
    }

    /// Shortest text that reads back to the same Double (Swift's description; at most 17 digits).
    static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return "\(v)"
    }

    mutating func row(_ fields: [String]) {
        text += fields.joined(separator: ",")
        text += "\n"
    }

    var data: Data { Data(text.utf8) }
}
