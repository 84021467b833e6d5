import Foundation

/// A sweep's GRID.json (INTERFACE.md "A sweep folder"): a command, a base config, axes over config
/// paths, and how the axes combine (`product`: every combination, the last axis varying fastest;
/// `zip`: the k-th values of all axes together).
public struct SweepGrid: Sendable {
    public enum Mode: String, Sendable { case product, zip }

    public let command: any SweepCommand
    /// The base config (with a built-in example's config under it when `base.example` names one
    /// and `base.data` is absent; relative CSV paths taken from the grid file's folder).
    public let base: JSONValue
    /// The axes in the order of the grid file: path (dot-separated) and values.
    public let axes: [(path: String, values: [JSONValue])]
    public let mode: Mode
    /// The folder relative CSV paths are taken from.
    let folder: String

    /// Number of runs.
    public var count: Int {
        if axes.isEmpty { return 1 }
        switch mode {
        case .product: return axes.reduce(1) { $0 * $1.values.count }
        case .zip: return axes[0].values.count
        }
    }

    public var axisPaths: [String] { axes.map(\.path) }

    /// Reads and checks a grid file; every problem is an `InputError` naming the grid's field.
    public static func load(path: String) throws -> SweepGrid {
        let bytes = try RunFolder.readFile(path)
        let folder = (RunFolder.absoluteOutputPath(path) as NSString).deletingLastPathComponent
        return try parse(bytes, source: path, folder: folder)
    }

    public static func parse(_ bytes: Data, source: String, folder: String) throws -> SweepGrid {
        let root = try JSONValue.parse(bytes, source: source)
        guard case .object(let members) = root else { throw InputError(source, "must be a JSON object with command, base and axes") }
        for (key, _) in members where !["command", "base", "axes", "mode"].contains(key) {
            throw InputError(key, "unknown key in \(source) (known: command, base, axes, mode)")
        }
        guard case .string(let name)? = root["command"] else { throw InputError("command", "is required: simulate, train, curvature or compare") }
        let command = try SweepCommands.named(name)
        guard case .object? = root["base"] else { throw InputError("base", "is required: a config object (INTERFACE.md \"Config file\")") }
        var base = root["base"]!
        if case .string(let example)? = base["example"], base["data"] == nil, let known = Example.all.first(where: { $0.name == example }) {
            base = try JSONValue.parse(try known.config.encoded(), source: "example \(example)").merged(with: base)
        }
        var mode = Mode.product
        if let given = root["mode"] {
            guard case .string(let text) = given, let m = Mode(rawValue: text) else { throw InputError("mode", "must be \"product\" or \"zip\"") }
            mode = m
        }
        var axes: [(String, [JSONValue])] = []
        if let given = root["axes"] {
            guard case .object(let list) = given else { throw InputError("axes", "must be an object: config path → list of values") }
            for (path, values) in list {
                let field = "axes.\(path)"
                guard case .array(let items) = values else { throw InputError(field, "must be a list of values") }
                guard !items.isEmpty else { throw InputError(field, "is empty: an axis needs at least one value") }
                let components = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard !components.contains(where: \.isEmpty) else { throw InputError(field, "is not a config path") }
                try command.checkPath(components, field: field)
                var seen = Set<String>()
                for (k, item) in items.enumerated() {
                    guard seen.insert(item.canonical).inserted else { throw InputError("\(field)[\(k)]", "repeats the value \(item.text)") }
                }
                axes.append((path, items))
            }
        }
        for (k, a) in axes.enumerated() {
            for b in axes[..<k] where a.0.hasPrefix(b.0 + ".") || b.0.hasPrefix(a.0 + ".") {
                throw InputError("axes.\(a.0)", "overlaps the axis \(b.0): one config path cannot be set twice")
            }
        }
        if mode == .zip, let first = axes.first {
            for (path, values) in axes where values.count != first.1.count {
                throw InputError("axes.\(path)", "has \(values.count) values but axes.\(first.0) has \(first.1.count): zip mode needs axes of one length")
            }
        }
        return SweepGrid(command: command, base: base, axes: axes, mode: mode, folder: folder)
    }

    /// The index of each axis's value in run `k` (expansion order).
    public func valueIndices(of k: Int) -> [Int] {
        switch mode {
        case .zip: return axes.map { _ in k }
        case .product:
            var rest = k, out = [Int](repeating: 0, count: axes.count)
            for a in axes.indices.reversed() {
                out[a] = rest % axes[a].values.count
                rest /= axes[a].values.count
            }
            return out
        }
    }

    public func values(of k: Int) -> [JSONValue] {
        zip(axes, valueIndices(of: k)).map { $0.0.values[$0.1] }
    }

    /// The config of run `k`: the base with every axis set, prepared for the command, with a
    /// relative `data.csv` made absolute from the grid file's folder.
    public func config(of k: Int) throws -> JSONValue {
        var config = base
        for (axis, value) in zip(axes, values(of: k)) {
            config = try config.setting(axis.path.split(separator: ".").map(String.init), to: value, field: "axes.\(axis.path)")
        }
        if case .string(let csv)? = config["data"]?["csv"], !csv.hasPrefix("/") {
            config = try config.setting(["data", "csv"], to: .string((folder as NSString).appendingPathComponent(csv)), field: "data.csv")
        }
        return command.prepared(config)
    }

    /// The stable id of a run: a hash of its axis values by path (paths sorted, canonical values),
    /// so the same on every machine and independent of the axes' order and of the other runs.
    public static func runID(paths: [String], values: [JSONValue]) -> String {
        let members = zip(paths, values).map { ($0, $1) }
        return stableHash(JSONValue.object(members).canonical)
    }

    /// Expands the grid: every run's id, values and the hash of its resolved config (each config
    /// resolved as its worker will; a config the command would refuse is an `InputError` naming the
    /// run and the field). Runs are resolved on all cores.
    public func expand() throws -> SweepManifest {
        let n = count, paths = axisPaths
        var runs = [SweepManifest.Run?](repeating: nil, count: n)
        final class FirstFailure: @unchecked Sendable {
            let lock = NSLock()
            var value: (Int, Error)? = nil
            func record(_ k: Int, _ error: Error) {
                lock.lock()
                if value == nil || value!.0 > k { value = (k, error) }
                lock.unlock()
            }
        }
        let failure = FirstFailure()
        let chunk = max(1, n / (8 * max(1, ProcessInfo.processInfo.activeProcessorCount)))
        runs.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            DispatchQueue.concurrentPerform(iterations: (n + chunk - 1) / chunk) { c in
                for k in (c * chunk)..<min(n, (c + 1) * chunk) {
                    do {
                        let values = self.values(of: k)
                        let id = Self.runID(paths: paths, values: values)
                        let text = try command.resolvedText(try config(of: k), source: "run \(id)")
                        out[k] = SweepManifest.Run(id: id, values: values, hash: stableHash(text))
                    } catch {
                        failure.record(k, error)
                        return
                    }
                }
            }
        }
        if let (k, error) = failure.value {
            let where_ = zip(paths, values(of: k)).map { "\($0) = \($1.text)" }.joined(separator: ", ")
            if let input = error as? InputError {
                throw InputError(input.field, "\(input.problem) (in the run with \(where_.isEmpty ? "the base config" : where_))")
            }
            throw error
        }
        let manifest = SweepManifest(command: command.name, mode: mode.rawValue, axes: paths, runs: runs.map { $0! })
        var seen: [String: Int] = [:]
        for (k, run) in manifest.runs.enumerated() {
            if let j = seen[run.id] {
                throw InputError("axes", "runs \(j) and \(k) have the same axis values (\(run.values.map(\.text).joined(separator: ", ")))")
            }
            seen[run.id] = k
        }
        return manifest
    }
}
