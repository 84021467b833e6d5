import Foundation

/// A command a sweep can run (`simulate`, `train`, `curvature`): how a run's config is checked and
/// resolved into the text that is hashed, and how a worker process is started on it. A new
/// command plugs in by adding a conformer to `SweepCommands.all`.
public protocol SweepCommand: Sendable {
    /// The `reluflow` subcommand.
    var name: String { get }
    /// Whether `reluflow NAME --resume DIR` continues an interrupted run of this command; when not,
    /// an interrupted run is started again (its folder, a complete ReluFlow output, is replaced).
    var resumable: Bool { get }
    /// Checks that `path` (an axis, dot-separated) names a field of this command's config; throws
    /// `InputError` naming `field` otherwise.
    func checkPath(_ path: [String], field: String) throws
    /// The config as the worker receives it (e.g. `train` gets an empty `train` section if none).
    func prepared(_ config: JSONValue) -> JSONValue
    /// The canonical text of the resolved config of a run (every default filled in, the data and
    /// parameters explicit), without what only records provenance (`data.origin`, and the
    /// `flow.segments` of a resumed run): a run is the same run exactly when this text is the same.
    /// Throws `InputError` naming the field for a config the command would refuse.
    func resolvedText(_ config: JSONValue, source: String) throws -> String
    /// The same text from the `config.json` a run of this command wrote; nil when the command's
    /// resolution is not known here (the folder is then taken as the manifest's run).
    func recordedText(_ configJSON: JSONValue) -> String?
    /// The worker's arguments (after the executable) for a fresh run, and for resuming one.
    func arguments(config: String, out: String) -> [String]
    func resumeArguments(folder: String) -> [String]
    /// The file of a finished run whose scalars `collect` tabulates (`summary.json`, or
    /// `curvature.json` for `curvature`); a run is complete when it is there with the marker.
    var summaryFile: String { get }
    /// Whether the complete output in `runFolder` of a run started with `resumeArguments`
    /// continued earlier work rather than repeating the run from its start.
    func continuedEarlierWork(in runFolder: String) -> Bool
}

extension SweepCommand {
    public var summaryFile: String { "summary.json" }
    public func continuedEarlierWork(in runFolder: String) -> Bool { resumable }
}

/// Fields of a resolved config that record where a run came from, not what it is.
let provenanceFields: [[String]] = [["data", "origin"], ["flow", "segments"]]

func withoutProvenance(_ value: JSONValue) -> JSONValue {
    provenanceFields.reduce(value) { $0.removing($1) }
}

/// `simulate`, `train` and `curvature`: a `RunConfig` (INTERFACE.md "Config file"), resolved by
/// `RunConfig.resolve` with the size limits the worker applies.
public struct RunConfigSweepCommand: SweepCommand {
    public let name: String
    public var resumable: Bool { name == "simulate" }
    /// The size limits of the worker (`reluflow simulate` without `--allow-large`).
    let limits: ResourceLimits?

    public init(name: String, limits: ResourceLimits? = .standard()) {
        self.name = name
        self.limits = limits
    }

    public func checkPath(_ path: [String], field: String) throws {
        var shape = KeyCheck.runConfig
        for (k, component) in path.enumerated() {
            switch shape {
            case .object(let keys):
                guard let next = keys[component] else {
                    let prefix = path[..<k].joined(separator: ".")
                    throw InputError(field, "is not a config path: \(prefix.isEmpty ? "the config" : prefix) has no key '\(component)' "
                                     + "(known: \(keys.keys.sorted().joined(separator: ", ")))")
                }
                shape = next
            case .list:
                guard Int(component) == nil else { throw InputError(field, "list elements cannot be swept one by one; sweep the whole list") }
                throw InputError(field, "is not a config path: '\(path[..<k].joined(separator: "."))' is a list")
            case .any, .integer:
                // A value of any shape (e.g. data.x): only the whole of it can be swept.
                throw InputError(field, "is not a config path: '\(path[..<k].joined(separator: "."))' holds a value, not an object")
            }
        }
        if path.first == "train", name != "train" {
            throw InputError(field, "the train section belongs to `train` sweeps, not `\(name)`")
        }
    }

    public func prepared(_ config: JSONValue) -> JSONValue {
        guard name == "train", config["train"] == nil else { return config }
        return (try? config.setting(["train"], to: .object([]), field: "train")) ?? config
    }

    public func resolvedText(_ config: JSONValue, source: String) throws -> String {
        let decoded = try RunConfig.decode(Data(config.text.utf8), source: source)
        if name != "train", decoded.train != nil {
            throw InputError("base.train", "a \(name) sweep's config has no train section (sweep `train` for training runs)")
        }
        if name == "simulate", decoded.network.layers != nil, let reason = FlowCapability.unsupported(.gradient, for: decoded) {
            throw InputError("base.network.layers", "\(reason); sweep `compare`, `train` or `curvature` on deep networks")
        }
        // `curvature` writes nothing but curvature.json: no run-folder estimate (its command checks
        // the full spectrum's memory itself), and its config.json is the resolved config.
        let (_, resolved) = try decoded.resolve(limits: name == "curvature" ? nil : limits)
        let value = try JSONValue.parse(try resolved.encoded(), source: source)
        return withoutProvenance(value).canonical
    }

    public func recordedText(_ configJSON: JSONValue) -> String? {
        withoutProvenance(configJSON).canonical
    }

    public func arguments(config: String, out: String) -> [String] {
        [name, "--config", config, "--out", out, "--quiet"]
    }

    public var summaryFile: String { name == "curvature" ? "curvature.json" : "summary.json" }

    public func resumeArguments(folder: String) -> [String] {
        [name, "--resume", folder, "--quiet"]
    }

    /// A continued simulation lists its parts in the summary's `segments`: two or more. A
    /// checkpoint that made no progress is not a part (`RunContinuation.uncounted`): its run
    /// repeats the uninterrupted one and has one segment.
    public func continuedEarlierWork(in runFolder: String) -> Bool {
        guard resumable,
              let data = try? RunFolder.readFile((runFolder as NSString).appendingPathComponent(summaryFile)),
              let summary = try? JSONValue.parse(data, source: summaryFile),
              case .array(let parts)? = summary["segments"] else { return false }
        return parts.count > 1
    }
}

/// A command whose config this library does not resolve itself: the config is hashed as given
/// (canonical text) and checked by the worker. When its resolution is in the library, give it a
/// conformer like `RunConfigSweepCommand` (as `curvature` has).
public struct OpaqueSweepCommand: SweepCommand {
    public let name: String
    public var resumable: Bool { false }

    public init(name: String) { self.name = name }

    public func checkPath(_ path: [String], field: String) throws {
        guard !path.contains(where: \.isEmpty) else { throw InputError(field, "is not a config path (an empty component)") }
    }

    public func prepared(_ config: JSONValue) -> JSONValue { config }

    public func resolvedText(_ config: JSONValue, source: String) throws -> String { withoutProvenance(config).canonical }

    public func recordedText(_ configJSON: JSONValue) -> String? { nil }

    public func arguments(config: String, out: String) -> [String] { [name, "--config", config, "--out", out, "--quiet"] }

    /// `curvature.json` (it has no `status`: its presence with the marker means complete).
    public var summaryFile: String { name == "curvature" ? "curvature.json" : "summary.json" }

    public func resumeArguments(folder: String) -> [String] { [] }
}

/// `compare`: the flows and training methods on each run's problem (`reluflow compare` with its
/// default methods for the network, the train section's options for every discrete method, and
/// `flow.T`). Its run folder is a compare folder; `compare.json` is what `collect` tabulates (per
/// method `METHOD.escapeTime`, `METHOD.escapeIteration`, … and λ_max at θ(0)).
public struct CompareSweepCommand: SweepCommand {
    public var name: String { "compare" }
    /// An interrupted comparison keeps its finished methods (`reluflow compare --resume`).
    public var resumable: Bool { true }
    let limits: ResourceLimits?

    public init(limits: ResourceLimits? = .standard()) { self.limits = limits }

    public func checkPath(_ path: [String], field: String) throws {
        try RunConfigSweepCommand(name: "train").checkPath(path, field: field)
    }

    public func prepared(_ config: JSONValue) -> JSONValue { config }

    /// The resolved config of the problem (every default filled in) with the train section as
    /// given (each discrete method resolves it for itself).
    public func resolvedText(_ config: JSONValue, source: String) throws -> String {
        var decoded = try RunConfig.decode(Data(config.text.utf8), source: source)
        // The train section's options are checked as a discrete method would resolve them
        // (rmsprop takes every option but ANLS's), so that a bad one is refused before any run.
        if var section = decoded.train, section.anls == nil {
            section.method = TrainingMethod.rmsprop.rawValue
            var check = decoded
            check.train = section
            _ = try check.resolve(limits: nil)
        }
        decoded.train = nil
        let (_, resolved) = try decoded.resolve(limits: limits)
        var value = try JSONValue.parse(try resolved.encoded(), source: source)
        if let train = config["train"] { value = try value.setting(["train"], to: train, field: "base.train") }
        return withoutProvenance(value).canonical
    }

    /// A compare folder has no config.json of its own (each method's folder has one).
    public func recordedText(_ configJSON: JSONValue) -> String? { nil }

    public func arguments(config: String, out: String) -> [String] { ["compare", "--config", config, "--out", out, "--quiet"] }

    public func resumeArguments(folder: String) -> [String] { ["compare", "--resume", folder, "--quiet"] }

    public var summaryFile: String { "compare.json" }
}

/// The commands a grid's `command` may name.
public enum SweepCommands {
    public static func named(_ name: String, field: String = "command") throws -> any SweepCommand {
        switch name {
        case "simulate", "train", "curvature": return RunConfigSweepCommand(name: name)
        case "compare": return CompareSweepCommand()
        default: throw InputError(field, "unknown command '\(name)' (a sweep runs simulate, train, curvature or compare)")
        }
    }
}
