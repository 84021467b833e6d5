import CNumberText

/// Numbers to text without Foundation's formatting.
///
/// `printf` gives C's conversions of one Double (`%.3g`, `%.2e`, `%.0f`): the same text as
/// `String(format:)`, through `snprintf` in a C shim, because `String(format:)` boxes its arguments as
/// `CVarArg` and the Swift runtime then looks up their conformances to the variadic-argument
/// protocols, each first lookup a scan of every conformance record of the binary (~0.25 M
/// instructions; issue 22).
public enum NumberText {
    /// `String(format: "%.<precision><conversion>", value)` for conversion e, f or g.
    public static func printf(_ value: Double, _ conversion: Character, precision: Int) -> String {
        precondition("efg".contains(conversion) && (0...40).contains(precision), "NumberText.printf: %\(conversion) with precision \(precision)")
        var buffer = [CChar](repeating: 0, count: 64)
        var length = Int(rf_print_double(&buffer, buffer.count, CChar(conversion.asciiValue!), Int32(precision), value))
        if length >= buffer.count {   // %f of a large number: up to 309 digits and the precision
            buffer = [CChar](repeating: 0, count: length + 1)
            length = Int(rf_print_double(&buffer, buffer.count, CChar(conversion.asciiValue!), Int32(precision), value))
        }
        return buffer.withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0).prefix(length), as: UTF8.self) }
    }
}
