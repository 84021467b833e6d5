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

    static func records(_ columns: [Column]) -> Data {
        let rows = columns.first?.count ?? 0
        precondition(columns.allSatisfy { $0.count == rows })
        let fields = columns.map { "('\($0.name.replacingOccurrences(of: "'", with: "\\'"))', '\($0.descr)')" }.joined(separator: ", ")
        let header = "{'descr': [\(fields)], 'fortran_order': False, 'shape': (\(rows),), }"
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

    /// A plain n-dimensional array of int8 (C order).
    static func int8(_ values: [Int8], shape: [Int]) -> Data {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var data = preamble("{'descr': '|i1', 'fortran_order': False, 'shape': (\(dims)), }")
        data.append(contentsOf: values.map { UInt8(bitPattern: $0) })
        return data
    }

    private static func preamble(_ header: String) -> Data {
        // Magic, version 1.0, header length; the header is padded with spaces to a multiple of 64 and ends in \n.
        var h = header
        let unpadded = 10 + h.utf8.count + 1
        h += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(h.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(h.utf8))
        return data
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8], _ at: Int) {
        withUnsafeBytes(of: value) { raw in for (k, b) in raw.enumerated() { bytes[at + k] = b } }
    }
}
