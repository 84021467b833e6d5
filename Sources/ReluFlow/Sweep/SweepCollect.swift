import Foundation

/// `reluflow collect DIR`: one table of a sweep's runs.
///
/// - `sweep.csv`: one row per run of the manifest, in its order: `id`, one column per axis (the
///   value's JSON text), `status` (`SweepFolder.RunState`), then every figure of the runs'
///   `summary.json` that is a number, a string or a boolean (nested objects flattened with `.`,
///   lists left out but `segments`, counted: 2 or more for a resumed run), and with analysis the verdict's figures of `analysis.json` as `analysis.…`;
///   figure columns sorted by name, so the order is the same for every sweep with the same figures.
/// - `groups.csv`: per group of runs with equal values of the `by` axes (completed runs only):
///   the axes, `runs`, and per numeric figure its median and quartiles (`.median`, `.q1`, `.q3`;
///   linear interpolation between order statistics, numpy's default).
/// - `sweep_plateaus.csv` when runs were analysed: one row per plateau of every analysed run
///   (`analysis.json`'s `plateaus`: bounds, floor, rates, the exit predicted by k* and by the
///   kinematic forecast, the exit observed, whether each held), after `id` and the axes: the
///   corpus of plateau exits.
///
/// A partial sweep is collected as it stands; `missing` names what is not complete.
public struct SweepCollection: Sendable {
    public var files: [(String, Data)] = []
    /// Runs per state.
    public var counts: [SweepFolder.RunState: Int] = [:]
    /// Ids (with their state) of the runs not completed, in manifest order.
    public var incomplete: [(id: String, state: SweepFolder.RunState)] = []
    public var rows = 0

    /// The figures of a run read from its folder: summary scalars, then the analysis verdict's.
    static func figuresWithStatus(of runFolder: String, summaryFile: String) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        func add(_ value: JSONValue, prefix: String, depth: Int) {
            guard case .object(let members) = value else { return }
            for (key, v) in members {
                let name = prefix + key
                switch v {
                case .number, .string, .bool: out[name] = v
                case .object where depth == 0: add(v, prefix: name + ".", depth: 1)
                // A flow run's parts: more than one when it was resumed (its step counts then differ
                // from an uninterrupted run's; its state agrees to the integration's error).
                case .array(let parts) where name == "segments": out[name] = .number(Double(parts.count))
                default: break
                }
            }
        }
        if let summary = try? JSONValue.parse(try RunFolder.readFile((runFolder as NSString).appendingPathComponent(summaryFile)), source: summaryFile) {
            add(summary, prefix: "", depth: 0)
        }
        if let analysis = try? JSONValue.parse(try RunFolder.readFile((runFolder as NSString).appendingPathComponent("analysis.json")), source: "analysis.json"),
           let verdict = analysis["verdict"] {
            add(verdict, prefix: "analysis.", depth: 1)
        }
        return out
    }

    /// The run's figures (`figuresWithStatus`) without its summary's `status`, which the table's
    /// `status` column gives.
    static func figures(of runFolder: String, summaryFile: String = "summary.json") -> [String: JSONValue] {
        var out = figuresWithStatus(of: runFolder, summaryFile: summaryFile)
        out["status"] = nil
        return out
    }

    /// Collects the sweep in `folder`; `by` are axis paths (nil: every axis whose last component
    /// is not `seed`, the replicates). An unknown axis in `by` is an `InputError` naming `--by`.
    public static func collect(_ folder: SweepFolder, command: any SweepCommand, by: [String]? = nil) throws -> SweepCollection {
        let manifest = folder.manifest
        let groupAxes = by ?? manifest.axes.filter { !$0.hasSuffix("seed") && $0 != "seed" }
        for axis in groupAxes where !manifest.axes.contains(axis) {
            throw InputError("--by", "'\(axis)' is not an axis of the sweep (its axes: \(manifest.axes.joined(separator: ", ")))")
        }
        var result = SweepCollection()
        var states: [SweepFolder.RunState] = []
        var stoppedRuns: [Bool] = []
        // Figures per run as (name index, value): names interned, so that 10⁵ runs of ~50 figures
        // take ~150 MB, not the ~500 MB of a dictionary per run.
        var figureRows: [[(Int, JSONValue)]] = []
        var nameIndex: [String: Int] = [:], names: [String] = []
        states.reserveCapacity(manifest.runs.count)
        figureRows.reserveCapacity(manifest.runs.count)
        let staged = folder.stagedRuns()
        for run in manifest.runs {
            let state = folder.state(of: run, command: command, staged: staged)
            states.append(state)
            result.counts[state, default: 0] += 1
            if state != .completed { result.incomplete.append((run.id, state)) }
            var f: [String: JSONValue] = [.completed, .unanalysed, .failed, .interrupted, .stale].contains(state) ? figuresWithStatus(of: folder.runPath(run.id), summaryFile: command.summaryFile) : [:]
            stoppedRuns.append(f.removeValue(forKey: "status") == .string(FlowStatus.stopped.rawValue))
            figureRows.append(f.map { name, value in
                if let i = nameIndex[name] { return (i, value) }
                nameIndex[name] = names.count
                names.append(name)
                return (names.count - 1, value)
            })
        }
        // A figure named like an axis (`flow.kind` swept and recorded in summary.json) is that
        // axis's value: one column, the axis's.
        let columns = names.sorted().filter { !manifest.axes.contains($0) }
        var position = [Int](repeating: 0, count: names.count)
        var isColumn = [Bool](repeating: false, count: names.count)
        for (p, name) in columns.enumerated() { position[nameIndex[name]!] = p; isColumn[nameIndex[name]!] = true }
        var sweep = CSVText(header: ["id"] + manifest.axes + ["status"] + columns)
        for (k, run) in manifest.runs.enumerated() {
            var cells = [String](repeating: "", count: columns.count)
            for (i, value) in figureRows[k] where isColumn[i] { cells[position[i]] = cell(value) }
            // A run stopped by its work budget is complete (SweepFolder.state); its cell says which.
            sweep.row([run.id] + run.values.map(cell) + [states[k] == .completed && stoppedRuns[k] ? FlowStatus.stopped.rawValue : states[k].rawValue] + cells)
        }
        result.rows = manifest.runs.count
        result.files.append(("sweep.csv", sweep.data))

        // Groups: numeric figures of completed runs (not of runs stopped by their work budget: their
        // figures are where they stopped, not at T).
        func number(_ v: JSONValue) -> Double? {
            switch v {
            case .number(let d): return d
            case .bool(let b): return b ? 1 : 0
            default: return nil
            }
        }
        var isNumeric = [Bool](repeating: false, count: names.count)
        for row in figureRows { for (i, v) in row where number(v) != nil { isNumeric[i] = true } }
        let numeric = columns.filter { isNumeric[nameIndex[$0]!] }
        var numericPosition = [Int?](repeating: nil, count: names.count)
        for (p, name) in numeric.enumerated() { numericPosition[nameIndex[name]!] = p }
        let axisIndex = groupAxes.map { manifest.axes.firstIndex(of: $0)! }
        var groupOrder: [String] = [], groups: [String: (values: [JSONValue], members: [Int])] = [:]
        for (k, run) in manifest.runs.enumerated() where (states[k] == .completed || states[k] == .unanalysed) && !stoppedRuns[k] {
            let values = axisIndex.map { run.values[$0] }
            let key = JSONValue.array(values).canonical
            if groups[key] == nil { groupOrder.append(key); groups[key] = (values, []) }
            groups[key]!.members.append(k)
        }
        var header = groupAxes + ["runs"]
        for name in numeric { header += ["\(name).median", "\(name).q1", "\(name).q3"] }
        var table = CSVText(header: header)
        for key in groupOrder {
            let (values, members) = groups[key]!
            var samples = [[Double]](repeating: [], count: numeric.count)
            for k in members {
                for (i, v) in figureRows[k] { if let p = numericPosition[i], let d = number(v) { samples[p].append(d) } }
            }
            var row = values.map(cell) + [String(members.count)]
            for xs in samples {
                let sorted = xs.sorted()
                row += sorted.isEmpty ? ["", "", ""] : [0.5, 0.25, 0.75].map { JSONValue.numberText(quantile(sorted, $0)) }
            }
            table.row(row)
        }
        result.files.append(("groups.csv", table.data))

        // The plateaus of analysed runs (analysis.json's `plateaus`: the exits, predicted and observed).
        var plateauRows: [(run: Int, fields: [String: JSONValue])] = []
        var plateauNames = Set<String>()
        var analysed = false
        for (k, run) in manifest.runs.enumerated() where states[k] == .completed {
            guard let bytes = try? RunFolder.readFile((folder.runPath(run.id) as NSString).appendingPathComponent("analysis.json")),
                  let analysis = try? JSONValue.parse(bytes, source: "analysis.json"), case .array(let list)? = analysis["plateaus"] else { continue }
            analysed = true
            for (p, plateau) in list.enumerated() {
                var fields = flattened(plateau)
                fields["plateau"] = .number(Double(p))
                plateauNames.formUnion(fields.keys)
                plateauRows.append((k, fields))
            }
        }
        if analysed {
            let names = ["plateau"] + plateauNames.subtracting(["plateau"]).sorted()
            var plateaus = CSVText(header: ["id"] + manifest.axes + names)
            for (k, fields) in plateauRows {
                let run = manifest.runs[k]
                plateaus.row([run.id] + run.values.map(cell) + names.map { fields[$0].map(cell) ?? "" })
            }
            result.files.append(("sweep_plateaus.csv", plateaus.data))
        }
        return result
    }

    /// The numbers, strings and booleans of an object, nested objects flattened one level with
    /// `.` (lists of numbers joined by `;`), null as an empty cell.
    static func flattened(_ value: JSONValue) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        guard case .object(let members) = value else { return out }
        for (key, v) in members {
            switch v {
            case .number, .string, .bool: out[key] = v
            case .array(let items) where items.allSatisfy({ if case .number = $0 { return true }; return false }):
                out[key] = .string(items.map(cell).joined(separator: ";"))
            case .object(let inner):
                for (k2, v2) in inner {
                    switch v2 {
                    case .number, .string, .bool: out["\(key).\(k2)"] = v2
                    default: break
                    }
                }
            default: break
            }
        }
        return out
    }

    /// A value as a CSV cell: numbers round-tripping (integral ones as integers, others as
    /// `CSVWriter.number`), strings as they are,
    /// anything else as its JSON text.
    static func cell(_ value: JSONValue) -> String {
        switch value {
        case .number(let d): return JSONValue.numberText(d)
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        default: return value.text
        }
    }

    /// The p-quantile of sorted values, linear between order statistics (numpy's default).
    public static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        let h = Double(sorted.count - 1) * p
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}

/// CSV text with RFC 4180 quoting where a field needs it (a comma, a quote or a line break).
struct CSVText {
    private var text = ""

    init(header: [String]?) {
        if let header { row(header) }
    }

    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    mutating func row(_ fields: [String]) {
        text += fields.map(Self.quoted).joined(separator: ",")
        text += "\n"
    }

    mutating func raw(_ line: some StringProtocol) {
        text += line
        text += "\n"
    }

    var data: Data { Data(text.utf8) }
}
