import CNumberText
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

    /// The same text as `CSVWriter.number(v)`, written into the buffer without a String between.
    mutating func number(_ v: Double) {
        separate()
        CSVWriter.appendText(v, to: &bytes)
    }

    /// Appends the bytes of `CSVWriter.number(v)` to `bytes`. Most doubles take
    /// `rf_shortest_double` (CNumberText/shortest.c: Ryu's digits, Swift's layout, the same bytes;
    /// ShortestTextTests); the few it leaves (|v| ≥ 2^54, bounds that can be exact, inf and nan)
    /// take Double's `TextOutputStreamable`, which formats into a stack buffer and hands over its
    /// ASCII bytes (issue 22: the 400 samples' 13 000 numbers of every small run).
    static func appendText(_ v: Double, to bytes: inout [UInt8]) {
        var text: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let done: Bool = withUnsafeMutableBytes(of: &text) { raw in
            let length = rf_shortest_double(v, raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            guard length > 0 else { return false }
            // A typed buffer: Array copies it with memcpy (a raw one goes byte by byte, ~200
            // instructions a number).
            bytes.append(contentsOf: UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: Int(length)))
            return true
        }
        if done { return }
        if v.isFinite {
            var sink = ByteSink(bytes: bytes)
            bytes = []
            v.write(to: &sink)
            bytes = sink.bytes
        } else {
            var s = CSVWriter.number(v)
            s.withUTF8 { bytes.append(contentsOf: $0) }
        }
    }

    /// One row's fields written by `body` into a stack buffer (`CSVRow`, room for `fields` numbers
    /// or integers) and appended to the buffer at once, without the per-field appends of
    /// `number(_:)` (issue 22: ~160 instructions a number beside its digits, 2 M of a small run's
    /// 400 samples). The same bytes as the same calls of `number(_:)` and `integer(_:)`
    /// (CSVNumberTests); the caller ends the row.
    mutating func row(fields: Int, _ body: (inout CSVRow) -> Void) {
        let capacity = fields * CSVRow.fieldBytes
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var row = CSVRow(base: buffer.baseAddress!, capacity: capacity, fields: fieldsInRow)
            body(&row)
            bytes.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: row.count))
            fieldsInRow = row.fields
        }
    }

    mutating func numbers<C: Collection<Double>>(_ values: C) {
        for v in values { number(v) }
    }

    mutating func integer(_ v: Int) {
        if (0..<10).contains(v) {
            separate()
            bytes.append(UInt8(ascii: "0") + UInt8(v))
            return
        }
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

    /// Hands the bytes written so far to `body`, then empties the writer keeping its buffer (for
    /// appending to a file in parts without a new buffer for each part, as `take` needs).
    mutating func drain(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes(body)
        bytes.removeAll(keepingCapacity: true)
    }
}

/// The fields of one CSV row written into a buffer of `capacity` bytes (`CSVWriter.row`): the text
/// of `CSVWriter.number` and `CSVWriter.integer`, each after a comma but the row's first.
struct CSVRow {
    /// Room for one field: its comma and a number (`rf_shortest_double` writes up to 32 bytes;
    /// Swift's longest Double text is 24, an Int's 20).
    static let fieldBytes = 33
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    private(set) var count = 0
    /// Fields in the row so far (those written before the buffer included).
    private(set) var fields: Int

    init(base: UnsafeMutablePointer<UInt8>, capacity: Int, fields: Int) {
        self.base = base
        self.capacity = capacity
        self.fields = fields
    }

    private mutating func separate() {
        precondition(count + CSVRow.fieldBytes <= capacity, "CSVRow: more fields than the row has room for")
        if fields > 0 { base[count] = UInt8(ascii: ","); count += 1 }
        fields += 1
    }

    private mutating func copy(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            precondition(utf8.count < CSVRow.fieldBytes)
            (base + count).update(from: utf8.baseAddress!, count: utf8.count)
            count += utf8.count
        }
    }

    mutating func number(_ v: Double) {
        separate()
        let length = rf_shortest_double(v, UnsafeMutableRawPointer(base + count).assumingMemoryBound(to: CChar.self))
        if length > 0 { count += Int(length) } else { copy(CSVWriter.number(v)) }
    }

    /// `number(v)` through `memo`'s `column` (< memo.columns): `rf_shortest_double_kept`, the same
    /// bytes as `number(v)`.
    @inline(__always)
    mutating func number(_ v: Double, column: Int, memo: ColumnTexts) {
        separate()
        // separate() left 32 bytes from here (fieldBytes less the comma).
        let length = rf_shortest_double_kept(v, UnsafeMutableRawPointer(base + count).assumingMemoryBound(to: CChar.self),
                                             memo.slots + column)
        if length > 0 { count += Int(length) } else { copy(CSVWriter.number(v)) }
    }

    mutating func integer(_ v: Int) {
        separate()
        if (0..<10).contains(v) {
            base[count] = UInt8(ascii: "0") + UInt8(v)
            count += 1
        } else {
            copy(String(v))
        }
    }
}

/// The text last written for each of a row's columns (a memo: a number's text is a function of
/// its bits), one `rf_text_slot` each (CNumberText). Parameters that stay put repeat from row to row
/// (dead neurons: a fifth of the numbers of a small `sine` run): their text is copied instead of
/// formatted again (issue 22).
final class ColumnTexts {
    let columns: Int
    let slots: UnsafeMutablePointer<rf_text_slot>

    init(columns: Int) {
        self.columns = columns
        slots = .allocate(capacity: max(columns, 1))
        slots.initialize(repeating: rf_text_slot(), count: max(columns, 1))   // length 0: nothing kept
    }

    deinit { slots.deallocate() }
}

/// A `TextOutputStream` into a byte array. `_writeASCII` is the stream requirement through which
/// the standard library's number formatting hands over its ASCII bytes (its default builds a String).
private struct ByteSink: TextOutputStream {
    var bytes: [UInt8]
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }
    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: buffer)
    }
}
