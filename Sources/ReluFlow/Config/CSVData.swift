import Foundation

/// `data.csv`: a CSV file with a header row naming its columns. The columns are read by name,
/// never by position: without `data.columns` the header must consist of exactly `x0 … x{d-1}` and
/// `y`, in any order (d is the number of x-columns, which must run from x0 without gaps); with
/// `data.columns` the named columns are read (inputs in the order given) and the others left
/// alone. Fields may carry surrounding whitespace and quotes (`"x0"`, `'1.5'`); a double-quoted
/// field may hold commas. Blank lines are skipped. Every error names `data.csv`, the file, the line
/// and the column.
enum CSVData {
    /// Rows and columns of the file as far as the size check needs them, without parsing numbers:
    /// the number of data lines (non-blank lines after the first) and the number of inputs d.
    static func shape(_ bytes: Data, columns: CSVColumns?) -> (rows: Int, inputs: Int) {
        var lines = 0, blank = true, headerFields = 1, inHeader = true
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                if !blank { lines += 1; inHeader = false }
                blank = true
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                break
            default:
                blank = false
                if inHeader && byte == UInt8(ascii: ",") { headerFields += 1 }
            }
        }
        if !blank { lines += 1 }
        return (max(lines - 1, 0), columns?.x.count ?? max(headerFields - 1, 1))
    }

    /// The data set of the CSV `bytes` read from `path`.
    static func read(_ bytes: Data, path: String, columns: CSVColumns?) throws -> Dataset {
        func fail(_ problem: String) -> InputError { InputError("data.csv", "\(path) \(problem)") }
        guard var text = String(data: bytes, encoding: .utf8) else { throw fail("is not UTF-8 text") }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let headerIndex = lines.firstIndex(where: { !$0.allSatisfy(\.isWhitespace) }) else { throw fail("is empty") }
        let headerLine = headerIndex + 1
        guard let header = fields(of: lines[headerIndex]) else {
            throw fail("line \(headerLine): a quoted field is not closed")
        }
        if header.allSatisfy({ Double($0) != nil }) {
            throw fail("line \(headerLine): there is no header row (the first line holds only numbers); the first line must name "
                       + "the columns: x0 … x{d-1} and y, or those data.columns names")
        }
        let (xColumns, yColumn) = try selection(header, columns: columns, line: headerLine, fail: fail)
        func describe(_ k: Int) -> String { "column \(k + 1) ('\(header[k])')" }

        var x: [[Double]] = [], y: [Double] = []
        for index in (headerIndex + 1)..<lines.count where !lines[index].allSatisfy(\.isWhitespace) {
            let line = index + 1
            guard let values = fields(of: lines[index]) else { throw fail("line \(line): a quoted field is not closed") }
            if values.count > header.count {
                throw fail("line \(line), column \(header.count + 1): the line has \(values.count) fields, the header \(header.count)")
            }
            if values.count < header.count {
                throw fail("line \(line), \(describe(values.count)): missing (the line has \(values.count) field\(values.count == 1 ? "" : "s"), the header \(header.count))")
            }
            func number(_ k: Int) throws -> Double {
                guard let v = Double(values[k]), v.isFinite else {
                    throw fail("line \(line), \(describe(k)): '\(values[k])' is not a finite number")
                }
                return v
            }
            x.append(try xColumns.map(number))
            y.append(try number(yColumn))
        }
        guard !x.isEmpty else { throw fail("has a header (line \(headerLine)) but no data rows") }
        return try Dataset(x: x, y: y, field: "data.csv")
    }

    /// The positions of the input columns (in order) and of the target column in `header`.
    private static func selection(_ header: [String], columns: CSVColumns?, line: Int,
                                  fail: (String) -> InputError) throws -> ([Int], Int) {
        var position: [String: Int] = [:]
        for (k, name) in header.enumerated() {
            if let first = position[name] {
                // A repeated name matters only when it is one of the columns read.
                if columns == nil || columns!.x.contains(name) || columns!.y == name {
                    throw fail("line \(line), column \(k + 1): a second column named '\(name)' (the first is column \(first + 1))")
                }
                continue
            }
            position[name] = k
        }
        let listed = header.map { "'\($0)'" }.joined(separator: ", ")
        if let columns {
            guard !columns.x.isEmpty else { throw InputError("data.columns.x", "must name at least one input column") }
            for (a, name) in columns.x.enumerated() where columns.x[..<a].contains(name) || name == columns.y {
                throw InputError("data.columns", "names the column '\(name)' twice")
            }
            func find(_ name: String, _ field: String) throws -> Int {
                guard let k = position[name] else {
                    throw fail("line \(line): no column named '\(name)' (\(field)); the header has \(listed)")
                }
                return k
            }
            return (try columns.x.enumerated().map { try find($1, "data.columns.x[\($0)]") }, try find(columns.y, "data.columns.y"))
        }
        var inputs: [Int: Int] = [:]   // i → column of x_i
        var target: Int?
        for (k, name) in header.enumerated() {
            if name == "y" { target = k; continue }
            if name.hasPrefix("x"), let i = Int(name.dropFirst()), i >= 0, String(i) == name.dropFirst() {
                inputs[i] = k
                continue
            }
            throw fail("line \(line), column \(k + 1): '\(name)' is not one of x0 … x{d-1}, y; to read a file with other "
                       + "columns, name its inputs and target in data.columns, e.g. {\"x\": [\"x0\"], \"y\": \"y\"}")
        }
        guard let target else { throw fail("line \(line): no column named 'y' (the header has \(listed))") }
        guard !inputs.isEmpty else { throw fail("line \(line): no input column x0 (the header has \(listed))") }
        let d = inputs.keys.max()! + 1
        if let gap = (0..<d).first(where: { inputs[$0] == nil }) {
            throw fail("line \(line): no column x\(gap) but a column x\(d - 1); the inputs must be x0 … x{d-1} without gaps")
        }
        return ((0..<d).map { inputs[$0]! }, target)
    }

    /// The fields of one line, trimmed of surrounding whitespace and of one pair of surrounding
    /// quotes; nil when a double quote is left open.
    static func fields(of line: Substring) -> [String]? {
        var raw: [Substring] = []
        if !line.contains("\"") {
            raw = line.split(separator: ",", omittingEmptySubsequences: false)
        } else {
            var start = line.startIndex, quoted = false, index = line.startIndex
            while index < line.endIndex {
                let c = line[index]
                if c == "\"" { quoted.toggle() } else if c == ",", !quoted {
                    raw.append(line[start..<index])
                    start = line.index(after: index)
                }
                index = line.index(after: index)
            }
            if quoted { return nil }
            raw.append(line[start..<line.endIndex])
        }
        return raw.map { field in
            var text = field.trimmingCharacters(in: .whitespaces)
            if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
                text = String(text.dropFirst().dropLast())
                if first == "\"" { text = text.replacingOccurrences(of: "\"\"", with: "\"") }
                text = text.trimmingCharacters(in: .whitespaces)
            }
            return text
        }
    }
}
