import Foundation

/// The byte layout of the record files of a run folder (INTERFACE.md): trajectory, events and
/// patterns, each as a CSV and a `.npy` of records. One record is encoded at a time, so the same
/// code serves the export of a solution held in memory (`RunExport`) and the files streamed to
/// disk during a run (`RunStream`); the two give identical bytes.
struct RecordFormat {
    /// One `.npy` field.
    enum Field {
        case float64(String)
        case int64(String)
        /// Fixed-width unicode (numpy `<U{width}`).
        case text(String, width: Int)

        var name: String {
            switch self {
            case .float64(let n), .int64(let n), .text(let n, _): return n
            }
        }
        var descr: String {
            switch self {
            case .float64: return "<f8"
            case .int64: return "<i8"
            case .text(_, let w): return "<U\(w)"
            }
        }
        var size: Int {
            switch self {
            case .float64, .int64: return 8
            case .text(_, let w): return 4 * w
            }
        }
    }

    /// One value of a record, in field order.
    enum Value {
        case real(Double)
        case integer(Int)
        case text(String)
    }

    /// A `.npy` file whose rows are appended one at a time: a 1-D array of records (structured
    /// dtype, so that `np.load(f)["loss"]` and `pandas.DataFrame(np.load(f))` work with the CSV's
    /// column names), or, when that header would pass numpy's default limit (thousands of
    /// columns), a rows × columns float64 matrix (integers converted, text as NaN). The header has
    /// room for any row count, so a streamed file gets its count written at the end.
    struct NPYLayout {
        let fields: [Field]
        let asMatrix: Bool
        /// Bytes per row (stored: it is read for every sample).
        let rowSize: Int

        /// numpy refuses headers longer than this unless told otherwise (`max_header_size`).
        static let numpyHeaderLimit = 10_000

        /// The header dictionary's text before and after its row count (made once: the headers are
        /// written at a run's start and end, and building the field list each time cost ~0.3 M
        /// instructions a time for `sine`'s trajectory; issue 22).
        private let dictionaryParts: (before: String, after: String)

        init(_ fields: [Field]) {
            self.fields = fields
            let records = NPYLayout.dictionaryParts(fields, matrix: false)
            asMatrix = (records.before + String(Int.max) + records.after).utf8.count > NPYLayout.numpyHeaderLimit - 100
            dictionaryParts = asMatrix ? NPYLayout.dictionaryParts(fields, matrix: true) : records
            rowSize = asMatrix ? 8 * fields.count : fields.reduce(0) { $0 + $1.size }
        }

        /// The dictionary of the header is `before + rows + after`.
        private static func dictionaryParts(_ fields: [Field], matrix: Bool) -> (before: String, after: String) {
            if matrix { return ("{'descr': '<f8', 'fortran_order': False, 'shape': (", ", \(fields.count)), }") }
            // A plain loop: the generic `joined(separator:)` cost ~0.1 M instructions at its first use.
            var list = ""
            for (k, field) in fields.enumerated() {
                if k > 0 { list += ", " }
                list += "('" + pythonQuoted(field.name) + "', '" + field.descr + "')"
            }
            return ("{'descr': [" + list + "], 'fortran_order': False, 'shape': (", ",), }")
        }

        /// `name` with every ' escaped as \' (inside a Python string literal), scalar by scalar: the
        /// same text as Foundation's `replacingOccurrences(of: "'", with: "\\'")`, without its
        /// NSString bridging (about 2 M instructions over a run's headers, issue 22).
        private static func pythonQuoted(_ name: String) -> String {
            guard name.unicodeScalars.contains("'") else { return name }
            var quoted = String.UnicodeScalarView()
            for scalar in name.unicodeScalars {
                if scalar == "'" { quoted.append("\\") }
                quoted.append(scalar)
            }
            return String(quoted)
        }

        /// The header for `rows` rows, always of the length of the header for Int.max rows.
        func header(rows: Int) -> [UInt8] {
            fixedLengthHeader(before: dictionaryParts.before, rows: rows, after: dictionaryParts.after)
        }

        func append(_ values: [Value], to bytes: inout [UInt8]) {
            precondition(values.count == fields.count)
            for (field, value) in zip(fields, values) {
                switch (value, asMatrix) {
                case (.real(let v), _): appendLittleEndian(v.bitPattern, &bytes)
                case (.integer(let v), false): appendLittleEndian(UInt64(bitPattern: Int64(v)), &bytes)
                case (.integer(let v), true): appendLittleEndian(Double(v).bitPattern, &bytes)
                case (.text, true): appendLittleEndian(Double.nan.bitPattern, &bytes)
                case (.text(let s), false):
                    guard case .text(_, let width) = field else { preconditionFailure("text value in a numeric field") }
                    var k = 0
                    for scalar in s.unicodeScalars.prefix(width) {
                        appendLittleEndian(scalar.value, &bytes)
                        k += 1
                    }
                    bytes.append(contentsOf: repeatElement(0, count: 4 * (width - k)))
                }
            }
        }
    }

    let parameterNames: [String]
    /// A training run's files start the trajectory and event rows with an `iteration` column.
    let iterations: Bool

    /// An adaptive flow's auxiliary columns (after `dissipated`; empty otherwise).
    let auxiliaryNames: [String]

    init(network: any NetworkModel, iterations: Bool = false, kind: FlowKind = .gradient) {
        parameterNames = network.parameterNames
        self.iterations = iterations
        auxiliaryNames = kind.law?.auxiliaryNames(parameterNames: network.parameterNames) ?? []
    }

    // MARK: trajectory

    var trajectoryHeader: [String] { (iterations ? ["iteration"] : []) + ["t", "loss", "gradNorm", "patternId"] + parameterNames + ["dissipated"] + auxiliaryNames }

    var trajectoryNPY: NPYLayout {
        NPYLayout((iterations ? [.int64("iteration")] : []) + [.float64("t"), .float64("loss"), .float64("gradNorm"), .int64("patternId")]
                  + parameterNames.map { .float64($0) } + [.float64("dissipated")] + auxiliaryNames.map { .float64($0) })
    }

    /// The sample's trajectory.csv row, written at once (`CSVWriter.row`).
    /// `memo`: the θ columns' last texts (`ColumnTexts`, one column per parameter), reused for
    /// parameters that did not move since the last row; the same bytes with or without it.
    func csv(_ s: FlowSample, _ csv: inout CSVWriter, memo: ColumnTexts? = nil) {
        let auxiliary = auxiliaryNames.isEmpty ? 0 : s.auxiliary.count
        csv.row(fields: (iterations ? 1 : 0) + 5 + s.theta.count + auxiliary) { row in
            if iterations { row.integer(s.iteration ?? 0) }
            row.number(s.t)
            row.number(s.loss)
            row.number(s.gradNorm)
            row.integer(s.patternId)
            if let memo, memo.columns == s.theta.count {
                s.theta.withUnsafeBufferPointer { theta in
                    for k in 0..<theta.count { row.number(theta[k], column: k, memo: memo) }
                }
            } else {
                for v in s.theta { row.number(v) }
            }
            row.number(s.dissipated)
            if auxiliary > 0 { for v in s.auxiliary { row.number(v) } }
        }
        csv.endRow()
    }

    /// The same row field by field (`CSVWriter.number`, `integer`): what `csv(_:_:)` must equal (CSVNumberTests).
    func csvByField(_ s: FlowSample, _ csv: inout CSVWriter) {
        if iterations { csv.integer(s.iteration ?? 0) }
        csv.numbers([s.t, s.loss, s.gradNorm])
        csv.integer(s.patternId)
        csv.numbers(s.theta)
        csv.number(s.dissipated)
        if !auxiliaryNames.isEmpty { csv.numbers(s.auxiliary) }
        csv.endRow()
    }

    func values(_ s: FlowSample) -> [Value] {
        (iterations ? [.integer(s.iteration ?? 0)] : []) + [.real(s.t), .real(s.loss), .real(s.gradNorm), .integer(s.patternId)] + s.theta.map { .real($0) } + [.real(s.dissipated)]
            + s.auxiliary.map { .real($0) }
    }

    /// Appends the sample's row of `layout` (`trajectoryNPY`): the bytes `layout.append(values(s),
    /// to: &bytes)` writes, without the array of `Value`s between, stored into a stack buffer and
    /// appended at once (issue 22: one append per value cost ~130 instructions, 1.8 M of a small
    /// run's 400 samples).
    func appendNPY(_ s: FlowSample, layout: NPYLayout, to bytes: inout [UInt8]) {
        let size = layout.rowSize
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { row in
            var offset = 0
            func word(_ w: UInt64) {
                precondition(offset + 8 <= size, "a sample's row does not match the trajectory's layout")
                row.storeBytes(of: w.littleEndian, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            func real(_ v: Double) { word(v.bitPattern) }
            func integer(_ v: Int) {
                if layout.asMatrix { real(Double(v)) } else { word(UInt64(bitPattern: Int64(v))) }
            }
            if iterations { integer(s.iteration ?? 0) }
            real(s.t)
            real(s.loss)
            real(s.gradNorm)
            integer(s.patternId)
            for v in s.theta { real(v) }
            real(s.dissipated)
            for v in s.auxiliary { real(v) }
            precondition(offset == size, "a sample's row does not match the trajectory's layout")
            bytes.append(contentsOf: UnsafeBufferPointer(start: row.baseAddress!.assumingMemoryBound(to: UInt8.self), count: size))
        }
    }

    // MARK: events

    var eventHeader: [String] { (iterations ? ["iteration"] : []) + ["t", "neuron", "point", "kind", "loss", "state"] }
    var eventNPY: NPYLayout {
        NPYLayout((iterations ? [.int64("iteration")] : []) + [.float64("t"), .int64("neuron"), .int64("point"), .text("kind", width: 8),
                                                               .float64("loss"), .text("state", width: 7)])
    }

    func csv(_ e: FlowEvent, _ csv: inout CSVWriter) {
        if iterations { csv.integer(e.iteration ?? 0) }
        csv.number(e.t)
        csv.integer(e.neuron)
        csv.integer(e.point)
        csv.text(e.kind.rawValue)
        csv.number(e.loss)
        csv.text(e.state.name)
        csv.endRow()
    }

    func values(_ e: FlowEvent) -> [Value] {
        (iterations ? [.integer(e.iteration ?? 0)] : []) + [.real(e.t), .integer(e.neuron), .integer(e.point), .text(e.kind.rawValue), .real(e.loss), .text(e.state.name)]
    }

    // MARK: patterns

    static let patternHeader = ["patternId", "tStart", "tEnd", "activeCounts", "slidingCounts", "changes"]
    static let patternNPY = NPYLayout([.int64("patternId"), .float64("tStart"), .float64("tEnd")])

    static func csv(_ p: PatternInterval, _ csv: inout CSVWriter) {
        csv.integer(p.patternId)
        csv.numbers([p.tStart, p.tEnd])
        csv.text(semicolonList(p.activeCounts.map(String.init)))
        csv.text(semicolonList(p.slidingCounts.map(String.init)))
        csv.text(semicolonList(p.changes.map(\.text)))
        csv.endRow()
    }

    /// `parts.joined(separator: ";")` in a plain loop (the generic `joined` cost ~0.1 M
    /// instructions at its first use in a process; issue 22).
    static func semicolonList(_ parts: [String]) -> String {
        var text = ""
        for (k, part) in parts.enumerated() {
            if k > 0 { text += ";" }
            text += part
        }
        return text
    }

    static func values(_ p: PatternInterval) -> [Value] {
        [.integer(p.patternId), .real(p.tStart), .real(p.tEnd)]
    }

    /// A `patterns.csv` row read back (its fields, split at commas), or nil when malformed.
    static func interval<S: StringProtocol>(fromCSV row: [S], width n: Int, points m: Int) -> PatternInterval? {
        func counts(_ text: S) -> [Int]? {
            let values = text.split(separator: ";").compactMap { Int($0) }
            return values.count == n ? values : nil
        }
        guard row.count == 6, let id = Int(row[0]), let t0 = Double(row[1]), let t1 = Double(row[2]),
              let active = counts(row[3]), let sliding = counts(row[4]) else { return nil }
        var changes: [PatternChange] = []
        for text in row[5].split(separator: ";") {
            guard let change = PatternChange(text: Substring(text), width: n, points: m) else { return nil }
            changes.append(change)
        }
        return PatternInterval(patternId: id, tStart: t0, tEnd: t1, changes: changes, activeCounts: active,
                               slidingCounts: sliding, width: n, pointCount: m)
    }

    // MARK: pattern matrices

    /// `pattern_matrices.npy`, intervals × n × m int8 (1 on, 0 off, 2 sliding), with room for any count.
    static func patternMatrixHeader(intervals: Int, width n: Int, points m: Int) -> [UInt8] {
        fixedLengthHeader(before: "{'descr': '|i1', 'fortran_order': False, 'shape': (", rows: intervals, after: ", \(n), \(m)), }")
    }
}

/// The `.npy` header of the dictionary `before + String(rows) + after`, padded to the length it has
/// for Int.max rows, so that a file written with a provisional count can have its final count
/// written over it. Built as bytes (as Strings, the two dictionaries, the padding and the preamble
/// cost ~27 000 instructions a header, eight headers a run; issue 22).
func fixedLengthHeader(before: String, rows: Int, after: String) -> [UInt8] {
    let count = String(rows), widest = String(Int.max).utf8.count
    var text: [UInt8] = []
    text.reserveCapacity(before.utf8.count + widest + after.utf8.count)
    text.append(contentsOf: before.utf8)
    text.append(contentsOf: count.utf8)
    text.append(contentsOf: after.utf8)
    text.append(contentsOf: repeatElement(UInt8(ascii: " "), count: widest - count.utf8.count))
    return npyPreamble(text)
}

/// Magic, version, header length, and the header padded with spaces to a multiple of 64 ending
/// in a newline (NumPy format 1.0; 2.0, with a 4-byte length, for headers over 65 535 bytes).
func npyPreamble(_ header: String) -> [UInt8] { npyPreamble(Array(header.utf8)) }

/// `npyPreamble` of the header's UTF-8 bytes.
func npyPreamble(_ header: [UInt8]) -> [UInt8] {
    let large = header.count + 12 + 64 > 65535
    let prefix = large ? 12 : 10
    let unpadded = prefix + header.count + 1
    let padding = (64 - unpadded % 64) % 64
    let length = header.count + padding + 1
    var bytes: [UInt8] = [0x93, UInt8(ascii: "N"), UInt8(ascii: "U"), UInt8(ascii: "M"), UInt8(ascii: "P"), UInt8(ascii: "Y"),
                          large ? 2 : 1, 0]
    bytes.reserveCapacity(prefix + length)
    for k in 0..<(large ? 4 : 2) { bytes.append(UInt8((length >> (8 * k)) & 0xff)) }
    bytes.append(contentsOf: header)
    bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
    bytes.append(UInt8(ascii: "\n"))
    return bytes
}

@inline(__always)
func appendLittleEndian<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}

/// The record files of a run folder as growing byte buffers: `trajectory`, `events` and
/// `patterns` (.csv and .npy) and `pattern_matrices.npy` (while intervals × n × m stays within
/// `RunExport.patternMatrixLimit`). `RunExport` fills them from a solution in memory, `RunStream`
/// while the run goes on, draining them to disk; the bytes are the same.
struct RecordFiles {
    static let names = ["trajectory.csv", "trajectory.npy", "events.csv", "events.npy", "patterns.csv", "patterns.npy",
                        "pattern_matrices.npy"]

    let format: RecordFormat
    let trajectoryLayout: RecordFormat.NPYLayout
    let eventLayout: RecordFormat.NPYLayout
    let width: Int, points: Int
    private(set) var counts = (samples: 0, events: 0, intervals: 0)
    /// Pending bytes per file (the .npy ones without their header).
    private var csv: [CSVWriter]
    private var npy: [[UInt8]] = [[], [], []]
    private var matrices: [UInt8] = []
    /// The pattern after the last interval's changes (1 on, 0 off, 2 sliding), for the matrices.
    private var current: [UInt8]
    /// The θ columns' last texts in trajectory.csv (a memo shared by copies, which is harmless:
    /// a kept text is that of its bits whoever wrote it).
    private let thetaTexts: ColumnTexts
    /// Whether the matrices passed the size limit (then `pattern_matrices.npy` is not written).
    private(set) var matricesDropped = false

    init(network: any NetworkModel, points m: Int, iterations: Bool = false, kind: FlowKind = .gradient) {
        format = RecordFormat(network: network, iterations: iterations, kind: kind)
        trajectoryLayout = format.trajectoryNPY
        eventLayout = format.eventNPY
        width = network.hiddenUnitCount
        points = m
        csv = [CSVWriter(header: format.trajectoryHeader), CSVWriter(header: format.eventHeader),
               CSVWriter(header: RecordFormat.patternHeader)]
        current = [UInt8](repeating: 0, count: network.hiddenUnitCount * m)
        thetaTexts = ColumnTexts(columns: network.parameterCount)
    }

    mutating func add(_ s: FlowSample) {
        format.csv(s, &csv[0], memo: thetaTexts)
        format.appendNPY(s, layout: trajectoryLayout, to: &npy[0])
        counts.samples += 1
    }

    mutating func add(_ e: FlowEvent) {
        format.csv(e, &csv[1])
        eventLayout.append(format.values(e), to: &npy[1])
        counts.events += 1
    }

    mutating func add(_ p: PatternInterval) {
        RecordFormat.csv(p, &csv[2])
        RecordFormat.patternNPY.append(RecordFormat.values(p), to: &npy[2])
        counts.intervals += 1
        for c in p.changes { current[c.neuron * points + c.point] = UInt8(c.state.rawValue) }
        if counts.intervals * width * points > RunExport.patternMatrixLimit { matricesDropped = true }
        if !matricesDropped { matrices.append(contentsOf: current) }
        else { matrices.removeAll() }
    }

    /// Continues after records that are already in the files (a resumed run's earlier part):
    /// their counts, and the pattern after the last interval among them.
    mutating func continuing(samples: Int, events: Int, intervals: Int, pattern: [UInt8], matrices: Bool) {
        counts = (samples, events, intervals)
        current = pattern
        matricesDropped = !matrices || intervals * width * points > RunExport.patternMatrixLimit
    }

    /// A pattern given as changes from all off, as changes from the pattern of the last interval
    /// added, in (neuron, point) order.
    func changes(fromAllOff changes: [PatternChange]) -> [PatternChange] {
        var full = [UInt8](repeating: 0, count: current.count)
        for c in changes { full[c.neuron * points + c.point] = c.state.rawValue }
        return full.indices.filter { full[$0] != current[$0] }
            .map { PatternChange(neuron: $0 / points, point: $0 % points, state: PairState(rawValue: full[$0])!) }
    }

    /// The header of each file for the current counts, in `names` order (nil: none or dropped).
    func headers() -> [[UInt8]] {
        [[], trajectoryLayout.header(rows: counts.samples), [], eventLayout.header(rows: counts.events), [],
         RecordFormat.patternNPY.header(rows: counts.intervals),
         RecordFormat.patternMatrixHeader(intervals: counts.intervals, width: width, points: points)]
    }

    /// The bytes added since the last call, per file in `names` order (CSV headers included the first time).
    mutating func take() -> [[UInt8]] {
        let parts = [csv[0].take(), npy[0], csv[1].take(), npy[1], csv[2].take(), npy[2], matrices]
        npy = [[], [], []]
        matrices.removeAll(keepingCapacity: true)
        return parts
    }

    /// Hands the bytes added since the last call to `write` as `take` returns them (file `k` in
    /// `names` order; empty parts skipped), then empties the buffers keeping their capacity: a
    /// stream's parts reuse the same buffers instead of taking new ones (each new one of ~64 KB is
    /// fresh heap pages to fault in, and the .npy buffers grew again by doubling; issue 22).
    mutating func drain(_ write: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        for k in RecordFiles.names.indices {
            switch k {
            case 0, 2, 4:
                if csv[k / 2].byteCount > 0 { try csv[k / 2].drain { try write(k, $0) } }
            case 1, 3, 5:
                if !npy[k / 2].isEmpty {
                    try npy[k / 2].withUnsafeBytes { try write(k, $0) }
                    npy[k / 2].removeAll(keepingCapacity: true)
                }
            default:
                if !matrices.isEmpty {
                    try matrices.withUnsafeBytes { try write(k, $0) }
                    matrices.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    /// Pending bytes, to decide when to write them out.
    var pendingBytes: Int { npy.reduce(0) { $0 + $1.count } + matrices.count + csv.reduce(0) { $0 + $1.byteCount } }
}
