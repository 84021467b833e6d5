import Foundation

/// `manifest.json` of a sweep folder: the command, the axes, and every run's id, axis values and
/// the hash of its resolved config (`SweepCommand.resolvedText`), in expansion order. Written
/// before any run starts; a rerun compares its own expansion with it.
public struct SweepManifest: Equatable, Sendable {
    public struct Run: Equatable, Sendable {
        public let id: String
        /// One value per axis, in the manifest's axis order.
        public let values: [JSONValue]
        public let hash: String
    }

    public static let fileName = "manifest.json"
    public static let formatVersion = 1

    public let command: String
    public let mode: String
    public let axes: [String]
    public let runs: [Run]

    /// The text of the file: one run per line (a manifest of 10⁵ runs stays readable and diffable).
    public func encoded() -> Data {
        var out = "{\"format\":\"reluflow-sweep-manifest\",\"formatVersion\":\(Self.formatVersion),"
        out += "\"command\":\(JSONValue.string(command).text),\"mode\":\(JSONValue.string(mode).text),"
        out += "\"axes\":\(JSONValue.array(axes.map { .string($0) }).text),\n\"runs\":[\n"
        for (k, run) in runs.enumerated() {
            let values = JSONValue.object(zip(axes, run.values).map { ($0, $1) })
            out += "{\"id\":\"\(run.id)\",\"hash\":\"\(run.hash)\",\"values\":\(values.text)}"
            out += k + 1 < runs.count ? ",\n" : "\n"
        }
        out += "]}\n"
        return Data(out.utf8)
    }

    public static func decode(_ data: Data, source: String) throws -> SweepManifest {
        let root = try JSONValue.parse(data, source: source)
        guard case .string("reluflow-sweep-manifest")? = root["format"], case .number(let version)? = root["formatVersion"],
              case .string(let command)? = root["command"], case .string(let mode)? = root["mode"],
              case .array(let axisList)? = root["axes"], case .array(let list)? = root["runs"] else {
            throw InputError(source, "is not a ReluFlow sweep manifest")
        }
        guard Int(version) <= formatVersion else { throw InputError(source, "has format version \(Int(version)), newer than this ReluFlow's") }
        let axes = axisList.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        var runs: [Run] = []
        runs.reserveCapacity(list.count)
        for item in list {
            guard case .string(let id)? = item["id"], case .string(let hash)? = item["hash"], case .object? = item["values"] else {
                throw InputError(source, "has a damaged run entry")
            }
            runs.append(Run(id: id, values: axes.map { item["values"]?[$0] ?? .null }, hash: hash))
        }
        return SweepManifest(command: command, mode: mode, axes: axes, runs: runs)
    }

    /// How a new expansion relates to this (earlier) manifest.
    public enum Relation: Equatable {
        case same
        /// Every earlier run is in the new expansion, unchanged, and `added` more runs.
        case extends(added: Int)
        /// Runs changed or gone: the description names the first ones.
        case differs(String)
    }

    public func relation(to new: SweepManifest) -> Relation {
        guard command == new.command else { return .differs("the command is \(new.command), the sweep's is \(command)") }
        guard axes == new.axes else {
            return .differs("the axes are \(new.axes.joined(separator: ", ")), the sweep's are \(axes.joined(separator: ", "))")
        }
        let newHashes = Dictionary(new.runs.map { ($0.id, $0.hash) }, uniquingKeysWith: { a, _ in a })
        var problems: [String] = []
        for run in runs {
            let label = "run \(run.id) (\(zip(axes, run.values).map { "\($0) = \($1.text)" }.joined(separator: ", ")))"
            guard let hash = newHashes[run.id] else { problems.append("\(label) is no longer in the grid"); continue }
            if hash != run.hash { problems.append("\(label) has a different resolved config") }
            if problems.count >= 3 { break }
        }
        if !problems.isEmpty { return .differs(problems.joined(separator: "; ")) }
        if new.runs.count == runs.count { return .same }
        return .extends(added: new.runs.count - runs.count)
    }
}
