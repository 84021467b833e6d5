import Foundation

/// NumPy `.npy` (format 1.0) files: a 1-D array of records (structured dtype), so that
/// `np.load(f)["loss"]` and `pandas.DataFrame(np.load(f))` work with the CSV's column names.
struct NPYWriter {
    enum Column {
        case float64(String, [Double])
        case int64(String, [Int])
        /// Fixed-width unicode (numpy `<U{width}`).
        case text(String, [String], width: Int)

        var name: String {
            switch self {
            case .float64(let n, _), .int64(let n, _), .text(let n, _, _): return n
            }
        }
        var count: Int {
            switch self {
            case .float64(_, let v): return v.count
            case .int64(_, let v): return v.count
            case .text(_, let v, _): return v.count
            }
        }
        var descr: String {
            switch self {
            case .float64: return "<f8"
            case .int64: return "<i8"
            case .text(_, _, let w): return "<U\(w)"
            }
        }
        var itemSize: Int {
            switch self {
            case .float64, .int64: return 8
            case .text(_, _, let w): return 4 * w
            }
        }
    }

    /// numpy refuses headers longer than this unless told otherwise (`max_header_size`).
    static let numpyHeaderLimit = 10_000

    /// A structured array when its header fits numpy's default limit; otherwise (thousands of
    /// columns) a plain 2-D float64 array with the columns in the given order.
    static func records(_ columns: [Column]) -> Data {
        let rows = columns.first?.count ?? 0
        precondition(columns.allSatisfy { $0.count == rows })
        let fields = columns.map { "('\($0.name.replacingOccurrences(of: "'", with: "\\'"))', '\($0.descr)')" }.joined(separator: ", ")
        let header = "{'descr': [\(fields)], 'fortran_order': False, 'shape': (\(rows),), }"
        if header.utf8.count > numpyHeaderLimit - 100 { return matrix(columns) }
        var data = preamble(header)
        let rowSize = columns.reduce(0) { $0 + $1.itemSize }
        var body = [UInt8](repeating: 0, count: rowSize * rows)
        var offset = 0
        for column in columns {
            for r in 0..<rows {
                let at = r * rowSize + offset
                switch column {
                case .float64(_, let v): put(v[r].bitPattern.littleEndian, &body, at)
                case .int64(_, let v): put(UInt64(bitPattern: Int64(v[r])).littleEndian, &body, at)
                case .text(_, let v, let w):
                    for (k, scalar) in v[r].unicodeScalars.prefix(w).enumerated() { put(scalar.value.littleEndian, &body, at + 4 * k) }
                }
            }
            offset += column.itemSize
        }
        data.append(contentsOf: body)
        return data
    }

    /// rows × columns float64 (C order); integer columns converted, text columns as NaN.
    static func matrix(_ columns: [Column]) -> Data {
        let rows = columns.first?.count ?? 0
        var data = preamble("{'descr': '<f8', 'fortran_order': False, 'shape': (\(rows), \(columns.count)), }")
        var body = [UInt8](repeating: 0, count: 8 * rows * columns.count)
        for (c, column) in columns.enumerated() {
            for r in 0..<rows {
                let v: Double
                switch column {
                case .float64(_, let values): v = values[r]
                case .int64(_, let values): v = Double(values[r])
                case .text: v = .nan
                }
                put(v.bitPattern.littleEndian, &body, 8 * (r * columns.count + c))
            }
        }
        data.append(contentsOf: body)
        return data
    }

    /// A plain n-dimensional array of int8 (C order).
    static func int8(_ values: [Int8], shape: [Int]) -> Data {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var data = preamble("{'descr': '|i1', 'fortran_order': False, 'shape': (\(dims)), }")
        data.append(contentsOf: values.map { UInt8(bitPattern: $0) })
        return data
    }

    private static func preamble(_ header: String) -> Data {
        // Magic, version, header length, header padded with spaces to a multiple of 64 ending in \n.
        // Format 1.0 has a 2-byte length; headers longer than 65535 bytes (many columns) need 2.0 (4 bytes).
        let large = header.utf8.count + 12 + 64 > 65535
        let prefix = large ? 12 : 10
        var h = header
        let unpadded = prefix + h.utf8.count + 1
        h += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [large ? 2 : 1, 0])
        let length = h.utf8.count
        let lengthBytes = large ? 4 : 2
        for k in 0..<lengthBytes { data.append(UInt8((length >> (8 * k)) & 0xff)) }
        data.append(contentsOf: Array(h.utf8))
        return data
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8], _ at: Int) {
        withUnsafeBytes(of: value) { raw in for (k, b) in raw.enumerated() { bytes[at + k] = b } }
    }
}
