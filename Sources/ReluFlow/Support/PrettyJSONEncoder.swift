import CNumberText
import Foundation

/// The bytes `JSONEncoder` writes with `outputFormatting = [.prettyPrinted, .sortedKeys]` (and, when
/// `nonFinite` is given, `nonConformingFloatEncodingStrategy = .convertToString(...)` with those
/// strings), for the small JSON files of every run folder (config, summary, checkpoint, marker).
///
/// The same layout, rule by rule, as swift-foundation's `JSONWriter`: two spaces per level,
/// `"key" : value`, `,\n` between elements, an empty array `[\n\n]` and an empty object
/// `{\n\n}` (their closing bracket indented), keys sorted by their UTF-8 bytes, `"`, `\`, `/` and
/// control characters escaped (`\b \f \n \r \t`, else `\u00XX`), other characters as they are; a
/// Double as its shortest round-trip text (`description`, by `rf_shortest_double` where it can)
/// with a trailing `.0` dropped, integers in decimal; `Data` as base64 and `URL` as its absolute
/// string, as `JSONEncoder` special-cases them. A key encoded twice keeps its last value; a value
/// that encodes nothing is `{}` inside a container and an error at the top. PrettyJSONEncoderTests
/// compares the bytes with `JSONEncoder`'s on every file of run folders and on those cases.
///
/// Why not `JSONEncoder` itself: in a fresh process its first files cost ~3 M instructions of the
/// ~24 M of a small `simulate` (its type-erased value tree, option locks and run-time casts, and the
/// runtime's first-use lookups of its generic types; issue 22). Reading JSON stays with `JSONDecoder`.
struct PrettyJSONEncoder {
    /// The texts for +∞, −∞ and NaN, written as JSON strings; nil: a non-finite number is an
    /// `EncodingError.invalidValue`, as with `JSONEncoder`'s default strategy.
    var nonFinite: (positiveInfinity: String, negativeInfinity: String, nan: String)?

    init(nonFinite: (positiveInfinity: String, negativeInfinity: String, nan: String)? = nil) {
        self.nonFinite = nonFinite
    }

    func encode<T: Encodable>(_ value: T) throws -> Data {
        let root: JSONNode
        if let scalar = try JSONTreeEncoder.scalarNode(for: value, options: self, parent: nil, key: nil) {
            root = scalar
        } else {
            let encoder = JSONTreeEncoder(options: self, parent: nil, key: nil)
            try value.encode(to: encoder)
            guard let result = encoder.result else {
                throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
            }
            root = result
        }
        var writer = JSONTextWriter()
        writer.bytes.reserveCapacity(4096)
        writer.write(root)
        return Data(writer.bytes)
    }
}

/// One value of the tree the encoder builds (the keys of an object are sorted when it is written).
enum JSONNode {
    /// Written as is: a number, `true`, `false` or `null`.
    case literal([UInt8])
    /// Written quoted and escaped.
    case string(String)
    case array(JSONArrayBox)
    case object(JSONObjectBox)
    /// What an encoder given out by `superEncoder` encoded, read when the tree is written.
    case deferred(JSONTreeEncoder)
}

final class JSONArrayBox {
    var items: [JSONNode] = []
}

final class JSONObjectBox {
    var keys: [String] = []
    var values: [JSONNode] = []

    /// Sets `key` (a key set again keeps its place in `keys` and takes the new value).
    func set(_ key: String, _ value: JSONNode) {
        if let k = keys.firstIndex(of: key) { values[k] = value; return }
        keys.append(key)
        values.append(value)
    }
}

/// The `Encoder` of `PrettyJSONEncoder`: one per encoded value that is not a number, string or
/// Boolean; its `result` is the value's node.
final class JSONTreeEncoder: Encoder {
    let options: PrettyJSONEncoder
    let parent: JSONTreeEncoder?
    let key: CodingKey?
    var result: JSONNode?

    init(options: PrettyJSONEncoder, parent: JSONTreeEncoder?, key: CodingKey?) {
        self.options = options
        self.parent = parent
        self.key = key
    }

    /// Built from the chain of parents only when asked (an error's context).
    var codingPath: [CodingKey] {
        var path: [CodingKey] = []
        var e: JSONTreeEncoder? = self
        while let current = e {
            if let key = current.key { path.append(key) }
            e = current.parent
        }
        return path.reversed()
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: JSONObjectBox
        if case .object(let existing)? = result { box = existing } else { box = JSONObjectBox(); result = .object(box) }
        return KeyedEncodingContainer(JSONKeyedContainer<Key>(encoder: self, box: box))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let box: JSONArrayBox
        if case .array(let existing)? = result { box = existing } else { box = JSONArrayBox(); result = .array(box) }
        return JSONUnkeyedContainer(encoder: self, box: box)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { JSONSingleValueContainer(encoder: self) }

    // MARK: Values to nodes

    static func number(_ v: Double, options: PrettyJSONEncoder, parent: JSONTreeEncoder?, key: CodingKey?) throws -> JSONNode {
        guard v.isFinite else {
            guard let texts = options.nonFinite else {
                let name = v.isNaN ? "Double.nan" : v > 0 ? "Double.infinity" : "-Double.infinity"
                var path = parent?.codingPath ?? []
                if let key { path.append(key) }
                throw EncodingError.invalidValue(v, EncodingError.Context(codingPath: path, debugDescription:
                    "Unable to encode \(name) directly in JSON. Use JSONEncoder.NonConformingFloatEncodingStrategy.convertToString to specify how the value should be encoded."))
            }
            return .string(v.isNaN ? texts.nan : v > 0 ? texts.positiveInfinity : texts.negativeInfinity)
        }
        var bytes: [UInt8] = []
        CSVWriter.appendText(v, to: &bytes)
        // JSONEncoder drops the ".0" of a whole number's description ("100.0" → "100", "-0.0" → "-0").
        if bytes.count >= 2, bytes[bytes.count - 1] == UInt8(ascii: "0"), bytes[bytes.count - 2] == UInt8(ascii: ".") {
            bytes.removeLast(2)
        }
        return .literal(bytes)
    }

    static func integer<I: FixedWidthInteger>(_ v: I) -> JSONNode { .literal(Array(String(v).utf8)) }

    static func boolean(_ v: Bool) -> JSONNode { .literal(Array((v ? "true" : "false").utf8)) }

    static var null: JSONNode { .literal(Array("null".utf8)) }

    /// A Float as `JSONEncoder` writes it: its description without a trailing ".0".
    static func number(_ v: Float, options: PrettyJSONEncoder, parent: JSONTreeEncoder?, key: CodingKey?) throws -> JSONNode {
        guard v.isFinite else { return try number(Double(v), options: options, parent: parent, key: key) }
        var text = v.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .literal(Array(text.utf8))
    }

    /// `value` as a `U` when `T` is exactly `U` (no run-time cast, which may look up conformances).
    @inline(__always)
    private static func exactly<T, U>(_ value: T, _ type: U.Type) -> U? {
        T.self == U.self ? unsafeBitCast(value, to: U.self) : nil
    }

    /// The node of a number, string, Boolean, `Data` or `URL` (nil for any other type).
    static func scalarNode<T: Encodable>(for value: T, options: PrettyJSONEncoder, parent: JSONTreeEncoder?, key: CodingKey?) throws -> JSONNode? {
        if let v = exactly(value, Double.self) { return try number(v, options: options, parent: parent, key: key) }
        if let v = exactly(value, String.self) { return .string(v) }
        if let v = exactly(value, Int.self) { return integer(v) }
        if let v = exactly(value, Bool.self) { return boolean(v) }
        if let v = exactly(value, Data.self) { return .string(v.base64EncodedString()) }
        if let v = exactly(value, URL.self) { return .string(v.absoluteString) }
        return nil
    }

    /// The node of any value: numbers, strings and Booleans directly, `Data` and `URL` as
    /// `JSONEncoder` writes them, anything else through its `encode(to:)` into an encoder of its own.
    static func node<T: Encodable>(for value: T, options: PrettyJSONEncoder, parent: JSONTreeEncoder?, key: CodingKey?) throws -> JSONNode {
        if let scalar = try scalarNode(for: value, options: options, parent: parent, key: key) { return scalar }
        let encoder = JSONTreeEncoder(options: options, parent: parent, key: key)
        try value.encode(to: encoder)
        return encoder.result ?? .object(JSONObjectBox())
    }
}

struct JSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: JSONTreeEncoder
    let box: JSONObjectBox

    var codingPath: [CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.boolean(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { box.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        box.set(key.stringValue, try JSONTreeEncoder.number(value, options: encoder.options, parent: encoder, key: key))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        box.set(key.stringValue, try JSONTreeEncoder.number(value, options: encoder.options, parent: encoder, key: key))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { box.set(key.stringValue, JSONTreeEncoder.integer(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.set(key.stringValue, try JSONTreeEncoder.node(for: value, options: encoder.options, parent: encoder, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONObjectBox()
        box.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(JSONKeyedContainer<NestedKey>(encoder: JSONTreeEncoder(options: encoder.options, parent: encoder, key: key), box: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let nested = JSONArrayBox()
        box.set(key.stringValue, .array(nested))
        return JSONUnkeyedContainer(encoder: JSONTreeEncoder(options: encoder.options, parent: encoder, key: key), box: nested)
    }

    mutating func superEncoder() -> Encoder { superEncoder(named: JSONIndexKey(stringValue: "super")) }

    mutating func superEncoder(forKey key: Key) -> Encoder { superEncoder(named: key) }

    private func superEncoder(named key: CodingKey) -> Encoder {
        let sub = JSONTreeEncoder(options: encoder.options, parent: encoder, key: key)
        box.set(key.stringValue, .deferred(sub))
        return sub
    }
}

struct JSONUnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: JSONTreeEncoder
    let box: JSONArrayBox

    var codingPath: [CodingKey] { encoder.codingPath }
    var count: Int { box.items.count }
    private var nextKey: CodingKey { JSONIndexKey(intValue: box.items.count) }

    mutating func encodeNil() throws { box.items.append(JSONTreeEncoder.null) }
    mutating func encode(_ value: Bool) throws { box.items.append(JSONTreeEncoder.boolean(value)) }
    mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws {
        box.items.append(try JSONTreeEncoder.number(value, options: encoder.options, parent: encoder, key: nextKey))
    }
    mutating func encode(_ value: Float) throws {
        box.items.append(try JSONTreeEncoder.number(value, options: encoder.options, parent: encoder, key: nextKey))
    }
    mutating func encode(_ value: Int) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int8) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int16) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int32) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int64) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt8) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt16) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt32) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt64) throws { box.items.append(JSONTreeEncoder.integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try JSONTreeEncoder.node(for: value, options: encoder.options, parent: encoder, key: nextKey))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONObjectBox()
        let sub = JSONTreeEncoder(options: encoder.options, parent: encoder, key: nextKey)
        box.items.append(.object(nested))
        return KeyedEncodingContainer(JSONKeyedContainer<NestedKey>(encoder: sub, box: nested))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let nested = JSONArrayBox()
        let sub = JSONTreeEncoder(options: encoder.options, parent: encoder, key: nextKey)
        box.items.append(.array(nested))
        return JSONUnkeyedContainer(encoder: sub, box: nested)
    }

    mutating func superEncoder() -> Encoder {
        let sub = JSONTreeEncoder(options: encoder.options, parent: encoder, key: nextKey)
        box.items.append(.deferred(sub))
        return sub
    }
}

struct JSONSingleValueContainer: SingleValueEncodingContainer {
    let encoder: JSONTreeEncoder

    var codingPath: [CodingKey] { encoder.codingPath }

    private func set(_ node: JSONNode) {
        precondition(encoder.result == nil, "Attempt to encode value through single value container when previously value already encoded.")
        encoder.result = node
    }

    mutating func encodeNil() throws { set(JSONTreeEncoder.null) }
    mutating func encode(_ value: Bool) throws { set(JSONTreeEncoder.boolean(value)) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws {
        set(try JSONTreeEncoder.number(value, options: encoder.options, parent: encoder.parent, key: encoder.key))
    }
    mutating func encode(_ value: Float) throws {
        set(try JSONTreeEncoder.number(value, options: encoder.options, parent: encoder.parent, key: encoder.key))
    }
    mutating func encode(_ value: Int) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int8) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int16) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int32) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int64) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt8) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt16) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt32) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt64) throws { set(JSONTreeEncoder.integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        set(try JSONTreeEncoder.node(for: value, options: encoder.options, parent: encoder.parent, key: encoder.key))
    }
}

/// An array index or `super` as a coding key (error paths and `superEncoder`).
struct JSONIndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { stringValue = "Index \(intValue)"; self.intValue = intValue }
}

/// Writes a node tree in `JSONWriter`'s pretty layout.
struct JSONTextWriter {
    var bytes: [UInt8] = []
    private var indent = 0

    mutating func write(_ node: JSONNode) {
        switch node {
        case .literal(let text): bytes.append(contentsOf: text)
        case .string(let s): string(s)
        case .deferred(let encoder): write(encoder.result ?? .object(JSONObjectBox()))
        case .array(let box):
            bytes.append(UInt8(ascii: "["))
            bytes.append(UInt8(ascii: "\n"))
            indent += 1
            for (k, item) in box.items.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")); bytes.append(UInt8(ascii: "\n")) }
                writeIndent()
                write(item)
            }
            bytes.append(UInt8(ascii: "\n"))
            indent -= 1
            writeIndent()
            bytes.append(UInt8(ascii: "]"))
        case .object(let box):
            bytes.append(UInt8(ascii: "{"))
            bytes.append(UInt8(ascii: "\n"))
            indent += 1
            let order = box.keys.indices.sorted { box.keys[$0].utf8.lexicographicallyPrecedes(box.keys[$1].utf8) }
            for (k, index) in order.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")); bytes.append(UInt8(ascii: "\n")) }
                writeIndent()
                string(box.keys[index])
                bytes.append(UInt8(ascii: " "))
                bytes.append(UInt8(ascii: ":"))
                bytes.append(UInt8(ascii: " "))
                write(box.values[index])
            }
            bytes.append(UInt8(ascii: "\n"))
            indent -= 1
            writeIndent()
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private mutating func writeIndent() {
        for _ in 0..<indent { bytes.append(UInt8(ascii: " ")); bytes.append(UInt8(ascii: " ")) }
    }

    /// `s` quoted, with JSONWriter's escapes (slashes escaped too).
    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var copy = s
        copy.withUTF8 { utf8 in
            var mark = 0
            for (i, c) in utf8.enumerated() {
                let escape: (UInt8, UInt8)?
                switch c {
                case UInt8(ascii: "\""): escape = (UInt8(ascii: "\\"), UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): escape = (UInt8(ascii: "\\"), UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): escape = (UInt8(ascii: "\\"), UInt8(ascii: "/"))
                case 0x08: escape = (UInt8(ascii: "\\"), UInt8(ascii: "b"))
                case 0x0c: escape = (UInt8(ascii: "\\"), UInt8(ascii: "f"))
                case 0x0a: escape = (UInt8(ascii: "\\"), UInt8(ascii: "n"))
                case 0x0d: escape = (UInt8(ascii: "\\"), UInt8(ascii: "r"))
                case 0x09: escape = (UInt8(ascii: "\\"), UInt8(ascii: "t"))
                case 0x00...0x1f: escape = nil
                default: continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[mark..<i]))
                if let (a, b) = escape {
                    bytes.append(a)
                    bytes.append(b)
                } else {
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: Array("\\u00".utf8))
                    bytes.append(hex[Int(c >> 4)])
                    bytes.append(hex[Int(c & 15)])
                }
                mark = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[mark...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
