import Foundation

/// The run configuration of INTERFACE.md ("Config file"), as read from JSON and as written,
/// fully resolved, to `config.json` in every run folder.
public struct RunConfig: Codable, Sendable, Equatable {
    /// Name of the built-in example the config came from, if any.
    public var example: String?
    public var data: DataConfig
    public var network: NetworkConfig
    public var flow: FlowConfig
    /// A training run's method and options (SPEC §7; `reluflow train`); nil for the flow.
    public var train: TrainConfig?

    public init(example: String? = nil, data: DataConfig, network: NetworkConfig = NetworkConfig(), flow: FlowConfig = FlowConfig(),
                train: TrainConfig? = nil) {
        self.example = example
        self.data = data
        self.network = network
        self.flow = flow
        self.train = train
    }

    enum CodingKeys: String, CodingKey { case example, data, network, flow, train }

    /// `data` is required; `network` and `flow` may be left out (every field has a default).
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        example = try container.decodeIfPresent(String.self, forKey: .example)
        data = try container.decode(DataConfig.self, forKey: .data)
        network = try container.decodeIfPresent(NetworkConfig.self, forKey: .network) ?? NetworkConfig()
        flow = try container.decodeIfPresent(FlowConfig.self, forKey: .flow) ?? FlowConfig()
        train = try container.decodeIfPresent(TrainConfig.self, forKey: .train)
    }
}

/// Data: explicit `x`/`y`, a CSV file, or a generated `target`; the first present wins in that order.
public struct DataConfig: Codable, Sendable, Equatable {
    public var x: [[Double]]?
    public var y: [Double]?
    /// CSV with a header row and columns `x0 … x{d-1}, y`; a relative path is taken from the config file's folder.
    public var csv: String?
    public var target: TargetConfig?

    public init(x: [[Double]]? = nil, y: [Double]? = nil, csv: String? = nil, target: TargetConfig? = nil) {
        self.x = x
        self.y = y
        self.csv = csv
        self.target = target
    }
}

/// A target function sampled on `[range[0], range[1]]^dim`.
public struct TargetConfig: Codable, Sendable, Equatable {
    /// Expression in x (or x0, x1, …), see `TargetExpression`.
    public var function: String
    /// Number of points. With `points: "uniform"` and dim > 1 it must be k^dim (a k×…×k grid).
    public var m: Int
    public var range: [Double]
    /// Input dimension d (default 1).
    public var dim: Int?
    /// `uniform` (evenly spaced, endpoints included; a grid in d > 1) or `random` (seeded uniform draws).
    public var points: String?
    /// Seed for `points: "random"`.
    public var seed: UInt64?

    public init(function: String, m: Int, range: [Double] = [-1, 1], dim: Int? = 1, points: String? = "uniform", seed: UInt64? = nil) {
        self.function = function
        self.m = m
        self.range = range
        self.dim = dim
        self.points = points
        self.seed = seed
    }
}

public struct NetworkConfig: Codable, Sendable, Equatable {
    public var width: Int?
    public var outputBias: Bool?
    public var initialization: InitSpec?
    public var W: [[Double]]?
    public var b: [Double]?
    public var c: [Double]?
    public var c0: Double?

    enum CodingKeys: String, CodingKey {
        case width, outputBias, initialization = "init", W, b, c, c0
    }

    public init(width: Int? = nil, outputBias: Bool? = nil, initialization: InitSpec? = nil,
                W: [[Double]]? = nil, b: [Double]? = nil, c: [Double]? = nil, c0: Double? = nil) {
        self.width = width
        self.outputBias = outputBias
        self.initialization = initialization
        self.W = W
        self.b = b
        self.c = c
        self.c0 = c0
    }
}

/// Integration options (units: flow time t of SPEC §9).
public struct FlowConfig: Codable, Sendable, Equatable {
    public var T: Double?
    public var rtol: Double?
    public var atol: Double?
    public var stepper: String?
    public var samples: SampleConfig?
    /// The run fails (exit 1) after this many events: a guard against chattering.
    public var maxEvents: Int?
    /// The earlier parts of a resumed run, in order: each ran with its own options up to the time
    /// it reached, and the next continued from there; the options above are the last part's. A
    /// config with segments runs them all, so the config of a resumed run repeats it exactly.
    public var segments: [FlowSegment]?

    public init(T: Double? = nil, rtol: Double? = nil, atol: Double? = nil, stepper: String? = nil,
                samples: SampleConfig? = nil, maxEvents: Int? = nil, segments: [FlowSegment]? = nil) {
        self.T = T
        self.rtol = rtol
        self.atol = atol
        self.stepper = stepper
        self.samples = samples
        self.maxEvents = maxEvents
        self.segments = segments
    }
}

/// One part of a resumed run (`flow.segments`): the flow options it ran with (its sample grid is
/// that of its T) and the time `until` it reached (T, or where it was interrupted).
public struct FlowSegment: Codable, Sendable, Equatable {
    public var until: Double
    public var T: Double?
    public var rtol: Double?
    public var atol: Double?
    public var stepper: String?
    public var samples: SampleConfig?
    public var maxEvents: Int?

    public init(_ flow: FlowConfig, until: Double) {
        self.until = until
        T = flow.T
        rtol = flow.rtol
        atol = flow.atol
        stepper = flow.stepper
        samples = flow.samples
        maxEvents = flow.maxEvents
    }

    /// The part's options as a flow config (without segments).
    public var flow: FlowConfig {
        FlowConfig(T: T, rtol: rtol, atol: atol, stepper: stepper, samples: samples, maxEvents: maxEvents)
    }
}

/// Sample grid of `trajectory.csv`; event times are always added.
public struct SampleConfig: Codable, Sendable, Equatable {
    /// `log` or `linear`.
    public var spacing: String?
    /// Number of grid times (t = 0 and t = T included).
    public var count: Int?
    /// First positive time of a log grid (default min(1e-3, T/100)).
    public var tMin: Double?

    public init(spacing: String? = nil, count: Int? = nil, tMin: Double? = nil) {
        self.spacing = spacing
        self.count = count
        self.tMin = tMin
    }
}

// MARK: - Reading

extension RunConfig {
    /// Reads a config from JSON text. Unknown keys are errors (a misspelt key would otherwise be ignored).
    public static func decode(_ bytes: Data, source: String = "config") throws -> RunConfig {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: bytes, options: [])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw InputError(source, "is not valid JSON (\(reason))")
        }
        try KeyCheck.check(object, against: KeyCheck.runConfig, path: "")
        do {
            return try JSONDecoder().decode(RunConfig.self, from: bytes)
        } catch let error as DecodingError {
            throw InputError.from(error)
        }
    }

    /// Reads a config file.
    public static func load(path: String) throws -> RunConfig {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw InputError("--config", "cannot read \(path)")
        }
        var config = try decode(bytes, source: path)
        if let csv = config.data.csv, !csv.hasPrefix("/") {
            let folder = (path as NSString).deletingLastPathComponent
            config.data.csv = folder.isEmpty ? csv : (folder as NSString).appendingPathComponent(csv)
        }
        return config
    }

    /// JSON text of the config, keys sorted, numbers round-tripping exactly.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

extension InputError {
    static func from(_ error: DecodingError) -> InputError {
        func path(_ keys: [CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "config" : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return InputError(path(context.codingPath), "expected \(typeName(type))")
        case .valueNotFound(let type, let context):
            return InputError(path(context.codingPath), "expected \(typeName(type)), found null")
        case .keyNotFound(let key, let context):
            return InputError(path(context.codingPath + [key]), "is required")
        case .dataCorrupted(let context):
            return InputError(path(context.codingPath), context.debugDescription)
        @unknown default:
            return InputError("config", "\(error)")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type: return "a number"
        case is Int.Type, is UInt64.Type: return "a whole number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            return "an object"
        }
    }
}

/// The allowed keys of every object in a config, for the unknown-key check.
enum KeyCheck {
    indirect enum Shape: Sendable {
        case object([String: Shape])
        case any
        /// A whole number ≥ the bound (checked here because Foundation's decoder reports a
        /// non-integral or negative number for an integer field without its path).
        case integer(min: Int)
        /// A list whose every element has the shape.
        case list(Shape)
    }

    static let runConfig: Shape = .object([
        "example": .any,
        "data": .object([
            "x": .any, "y": .any, "csv": .any,
            "target": .object(["function": .any, "m": .integer(min: Int.min), "range": .any, "dim": .integer(min: Int.min),
                               "points": .any, "seed": .integer(min: 0)]),
        ]),
        "network": .object([
            "width": .integer(min: Int.min), "outputBias": .any, "W": .any, "b": .any, "c": .any, "c0": .any,
            "init": .object(["scheme": .any, "seed": .integer(min: 0), "scale": .any, "biasScale": .any, "balanced": .any]),
        ]),
        "train": .object([
            "method": .any, "lr": .any, "iterations": .integer(min: Int.min), "batch": .integer(min: Int.min),
            "seed": .integer(min: 0), "beta1": .any, "beta2": .any, "epsilon": .any, "alpha": .any, "escapeDelta": .any,
            "samples": .object(["spacing": .any, "count": .integer(min: Int.min)]),
            "anls": .object(["ridge": .any, "enlarge": .integer(min: Int.min), "tolerance": .any]),
        ]),
        "flow": .object(flowKeys.merging(["segments": .list(.object(flowKeys.merging(["until": .any]) { a, _ in a }))]) { a, _ in a }),
    ])

    static let flowKeys: [String: Shape] = [
        "T": .any, "rtol": .any, "atol": .any, "stepper": .any, "maxEvents": .integer(min: Int.min),
        "samples": .object(["spacing": .any, "count": .integer(min: Int.min), "tMin": .any]),
    ]

    static func check(_ value: Any, against shape: Shape, path: String) throws {
        if case .list(let element) = shape {
            guard let items = value as? [Any] else { throw InputError(path, "expected a list") }
            for (k, item) in items.enumerated() { try check(item, against: element, path: "\(path)[\(k)]") }
            return
        }
        if case .integer(let bound) = shape {
            guard let number = value as? NSNumber,
                  let d = Double(exactly: number.doubleValue), d.rounded() == d, abs(d) < 9e15 else {
                throw InputError(path, "must be a whole number")
            }
            guard Int(d) >= bound else { throw InputError(path, "must be at least \(bound)") }
            return
        }
        guard case .object(let keys) = shape else { return }
        guard let dict = value as? [String: Any] else {
            throw InputError(path.isEmpty ? "config" : path, "expected an object")
        }
        for (key, child) in dict {
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            guard let childShape = keys[key] else {
                let known = keys.keys.sorted().joined(separator: ", ")
                throw InputError(childPath, "unknown key (known here: \(known))")
            }
            if child is NSNull { continue }
            try check(child, against: childShape, path: childPath)
        }
    }
}
