import Foundation

/// A minimal JSON tokenizer over the bytes of a document that `JSONSerialization` has already
/// accepted, for what Foundation's readers do not report: a key given twice in one object (both
/// `JSONSerialization` and `JSONDecoder` keep one of them silently), and where in the document a
/// string value sits (`JSONOutput` finds its non-finite placeholders with it).
///
/// Paths are written as a user would name the field: `flow.T`, `data.x[3][0]`.
struct JSONScan {
    enum Component {
        case key(String)
        case index(Int)
    }

    /// A key that appears twice in one object.
    struct DuplicateKey: Error {
        let path: String
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private var path: [Component] = []
    /// Called for string values (not keys) whose text starts with `stringPrefix`, with the path.
    private let stringPrefix: [UInt8]?
    private let onString: ((String, [Component]) -> Void)?

    private init(_ bytes: UnsafeBufferPointer<UInt8>, stringPrefix: [UInt8]?, onString: ((String, [Component]) -> Void)?) {
        self.bytes = bytes
        self.stringPrefix = stringPrefix
        self.onString = onString
    }

    /// The path of the first key given twice in one object, or nil. `data` must be valid JSON.
    static func firstDuplicateKey(in data: Data) -> String? {
        data.withUnsafeBytes { raw -> String? in
            var scan = JSONScan(raw.bindMemory(to: UInt8.self), stringPrefix: nil, onString: nil)
            do {
                try scan.value()
                return nil
            } catch let error as DuplicateKey {
                return error.path
            } catch {
                return nil
            }
        }
    }

    /// The string values starting with `prefix`, each with its text and path, in document order.
    static func strings(withPrefix prefix: String, in data: Data) -> [(text: String, path: [Component])] {
        var found: [(String, [Component])] = []
        data.withUnsafeBytes { raw in
            var scan = JSONScan(raw.bindMemory(to: UInt8.self), stringPrefix: Array(prefix.utf8)) { found.append(($0, $1)) }
            try? scan.value()
        }
        return found
    }

    /// A path as text: keys joined by `.`, indices in brackets.
    static func text(_ path: [Component]) -> String {
        var text = ""
        for component in path {
            switch component {
            case .key(let key): text += (text.isEmpty ? "" : ".") + key
            case .index(let index): text += "[\(index)]"
            }
        }
        return text.isEmpty ? "config" : text
    }

    // MARK: Grammar (the input is known to be valid JSON, so errors only end the scan)

    private struct Malformed: Error {}

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func value() throws {
        skipWhitespace()
        guard position < bytes.count else { throw Malformed() }
        switch bytes[position] {
        case UInt8(ascii: "{"): try object()
        case UInt8(ascii: "["): try array()
        case UInt8(ascii: "\""):
            if let prefix = stringPrefix, hasPrefix(prefix, at: position + 1) {
                let text = try string()
                onString?(text, path)
            } else {
                try skipString()
            }
        default:
            // A number, true, false or null: up to the next structural character or space.
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D: return
                default: position += 1
                }
            }
        }
    }

    private func hasPrefix(_ prefix: [UInt8], at start: Int) -> Bool {
        guard start + prefix.count <= bytes.count else { return false }
        for k in prefix.indices where bytes[start + k] != prefix[k] { return false }
        return true
    }

    private mutating func object() throws {
        position += 1   // {
        var keys = Set<String>()
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Malformed() }
            let key = try string()
            path.append(.key(key))
            guard keys.insert(key).inserted else { throw DuplicateKey(path: JSONScan.text(path)) }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Malformed() }
            position += 1
            try value()
            path.removeLast()
            skipWhitespace()
            guard position < bytes.count else { throw Malformed() }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            guard bytes[position] == UInt8(ascii: "}") else { throw Malformed() }
            position += 1
            return
        }
    }

    private mutating func array() throws {
        position += 1   // [
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return }
        var index = 0
        while true {
            path.append(.index(index))
            try value()
            path.removeLast()
            index += 1
            skipWhitespace()
            guard position < bytes.count else { throw Malformed() }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            guard bytes[position] == UInt8(ascii: "]") else { throw Malformed() }
            position += 1
            return
        }
    }

    private mutating func skipString() throws {
        position += 1   // opening quote
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: "\""): position += 1; return
            case UInt8(ascii: "\\"): position += 2
            default: position += 1
            }
        }
        throw Malformed()
    }

    /// The decoded text of the string at `position` (escapes resolved, so that `"T"` and
    /// `"\u0054"` are the same key).
    private mutating func string() throws -> String {
        position += 1   // opening quote
        var scalars = String.UnicodeScalarView()
        var run = position   // start of the current stretch without escapes
        func flush(_ end: Int) {
            if end > run { scalars.append(contentsOf: String(decoding: UnsafeBufferPointer(rebasing: bytes[run..<end]), as: UTF8.self).unicodeScalars) }
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                flush(position)
                position += 1
                return String(scalars)
            }
            guard byte == UInt8(ascii: "\\") else { position += 1; continue }
            flush(position)
            guard position + 1 < bytes.count else { throw Malformed() }
            let escaped = bytes[position + 1]
            position += 2
            switch escaped {
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), position + 1 < bytes.count,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    position += 2
                    let low = try hex4()
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: scalars.append(Unicode.Scalar(escaped))   // \" \\ \/
            }
            run = position
        }
        throw Malformed()
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw Malformed() }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw Malformed()
            }
            code = code * 16 + digit
            position += 1
        }
        return code
    }
}
