import Foundation

/// A JSON document as a value, objects keeping their key order: what a sweep needs to read a grid
/// (the axes in the order given), set a config path to an axis value, and write the canonical text
/// that run ids and config hashes are computed from.
///
/// The canonical text (`canonical`) is the same on every machine and every Foundation version:
/// object keys sorted (byte order), no spaces, integral numbers below 2^53 as integers, other
/// numbers as Swift's shortest round-trip form (`Double.description`), strings escaped minimally.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value of `key` in an object (nil: absent or not an object).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    // MARK: Parsing

    /// Parses JSON text; a syntax error is an `InputError` naming `source`.
    public static func parse(_ data: Data, source: String) throws -> JSONValue {
        var parser = Parser(bytes: [UInt8](data), source: source)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        let source: String
        var position = 0

        init(bytes: [UInt8], source: String) {
            self.bytes = bytes
            self.source = source
        }

        func error(_ what: String) -> InputError {
            var line = 1
            for b in bytes[..<min(position, bytes.count)] where b == UInt8(ascii: "\n") { line += 1 }
            return InputError(source, "is not valid JSON (\(what), line \(line))")
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 512 else { throw error("nested too deeply") }
            guard position < bytes.count else { throw error("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(String, JSONValue)] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    let key = try string()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    position += 1
                    skipWhitespace()
                    let v = try value(depth: depth + 1)
                    if members.contains(where: { $0.0 == key }) { throw InputError(source, "has the key \"\(key)\" twice in one object") }
                    members.append((key, v))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [JSONValue] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                while true {
                    skipWhitespace()
                    items.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default:
                return try number()
            }
        }

        mutating func literal(_ word: String, _ value: JSONValue) throws -> JSONValue {
            let w = Array(word.utf8)
            guard position + w.count <= bytes.count, Array(bytes[position..<(position + w.count)]) == w else { throw error("unexpected character") }
            position += w.count
            return value
        }

        mutating func number() throws -> JSONValue {
            let start = position
            while position < bytes.count, let c = Optional(bytes[position]),
                  (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                position += 1
            }
            guard position > start, let text = String(bytes: bytes[start..<position], encoding: .ascii),
                  let d = Double(text), d.isFinite else {
                throw error("unexpected character")
            }
            return .number(d)
        }

        mutating func string() throws -> String {
            position += 1  // the opening quote
            var out: [UInt8] = []
            while position < bytes.count {
                let c = bytes[position]
                if c == UInt8(ascii: "\"") { position += 1; return String(decoding: out, as: UTF8.self) }
                if c == UInt8(ascii: "\\") {
                    position += 1
                    guard position < bytes.count else { break }
                    let e = bytes[position]
                    position += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar), position + 1 < bytes.count,
                           bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                            position += 2
                            let low = try hex4()
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: out.append(e)
                    }
                } else {
                    out.append(c)
                    position += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard position + 4 <= bytes.count, let text = String(bytes: bytes[position..<(position + 4)], encoding: .ascii),
                  let v = UInt32(text, radix: 16) else { throw error("bad \\u escape") }
            position += 4
            return v
        }
    }

    // MARK: Writing

    /// The canonical text (see the type's comment): the input of run ids and config hashes.
    /// Where `b` differs from `a`, as `path: a's value → b's value` (`absent` for a missing key),
    /// paths dot-separated (list items as `[k]`), keys in sorted order; numbers compare by value.
    public static func differences(_ a: JSONValue, _ b: JSONValue, at path: String = "") -> [String] {
        func shown(_ v: JSONValue?) -> String {
            guard let v else { return "absent" }
            let t = v.canonical
            return t.count > 40 ? String(t.prefix(37)) + "…" : t
        }
        switch (a, b) {
        case let (.object(x), .object(y)):
            let keys = Set(x.map(\.0)).union(y.map(\.0)).sorted()
            return keys.flatMap { key -> [String] in
                let p = path.isEmpty ? key : "\(path).\(key)"
                switch (a[key], b[key]) {
                case let (u?, v?): return differences(u, v, at: p)
                case let (u, v): return ["\(p): \(shown(u)) → \(shown(v))"]
                }
            }
        case let (.array(x), .array(y)) where x.count == y.count:
            return zip(x, y).enumerated().flatMap { differences($1.0, $1.1, at: "\(path)[\($0)]") }
        default:
            return a == b ? [] : ["\(path.isEmpty ? "the grid" : path): \(shown(a)) → \(shown(b))"]
        }
    }

    public var canonical: String {
        var out = ""
        write(to: &out, sorted: true)
        return out
    }

    /// Compact text with object keys in their order.
    public var text: String {
        var out = ""
        write(to: &out, sorted: false)
        return out
    }

    func write(to out: inout String, sorted: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += Self.numberText(d)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (k, item) in items.enumerated() {
                if k > 0 { out += "," }
                item.write(to: &out, sorted: sorted)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let ordered = sorted ? members.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) } : members
            for (k, (key, value)) in ordered.enumerated() {
                if k > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                value.write(to: &out, sorted: sorted)
            }
            out += "}"
        }
    }

    /// Integral numbers below 2^53 as integers (`5`, not `5.0`), others in the shortest form
    /// that reads back to the same Double; −0 keeps its sign (a data value such as sin(−π·0)
    /// reads back as the number it was).
    public static func numberText(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 9_007_199_254_740_992 { return d == 0 ? (d.sign == .minus ? "-0" : "0") : String(Int64(d)) }
        return d.description
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        out += "\""
    }

    // MARK: Paths

    /// The value with `path` (keys joined by dots, e.g. `network.init.seed`) set to `value`;
    /// missing objects on the way are created. Setting inside a non-object is an `InputError`
    /// naming `field`.
    public func setting(_ path: [String], to value: JSONValue, field: String) throws -> JSONValue {
        guard let first = path.first else { return value }
        guard case .object(var members) = self else {
            throw InputError(field, "cannot set \(path.joined(separator: ".")): the config holds \(self.text.prefix(40)) there, not an object")
        }
        if let k = members.firstIndex(where: { $0.0 == first }) {
            members[k].1 = try members[k].1.setting(Array(path.dropFirst()), to: value, field: field)
        } else {
            members.append((first, try JSONValue.object([]).setting(Array(path.dropFirst()), to: value, field: field)))
        }
        return .object(members)
    }

    /// `overlay`'s members written over this object's, objects merged key by key.
    public func merged(with overlay: JSONValue) -> JSONValue {
        guard case .object(var members) = self, case .object(let others) = overlay else { return overlay }
        for (key, value) in others {
            if let k = members.firstIndex(where: { $0.0 == key }) {
                members[k].1 = members[k].1.merged(with: value)
            } else {
                members.append((key, value))
            }
        }
        return .object(members)
    }

    /// The value without the member at `path` (unchanged when absent).
    public func removing(_ path: [String]) -> JSONValue {
        guard let first = path.first, case .object(var members) = self, let k = members.firstIndex(where: { $0.0 == first }) else { return self }
        if path.count == 1 { members.remove(at: k) } else { members[k].1 = members[k].1.removing(Array(path.dropFirst())) }
        return .object(members)
    }
}

/// A 64-bit hash of text, as 16 hex digits: run ids and config hashes. FNV-1a over the UTF-8
/// bytes, then SplitMix64's finaliser (so that texts differing in their last byte get unlike
/// ids). Fixed by its definition (not Swift's per-process seeded `Hasher`), so the same on every
/// machine; Tests/ReluFlowTests/SweepTests.swift checks it against a Python transcription.
public func stableHash(_ text: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        h ^= UInt64(byte)
        h = h &* 0x0000_0100_0000_01B3
    }
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    h ^= h >> 31
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
