import Foundation

/// The continuous-time methods of SPEC §7 that `reluflow compare` runs beside the discrete ones:
/// the gradient flow and the two adaptive flows (`flow.kind`).
public enum FlowMethod: String, CaseIterable, Sendable {
    case gradient = "flow"
    case rmsprop = "rmsprop-flow"
    case adam = "adam-flow"

    /// The config's `flow.kind` (INTERFACE.md) of this flow.
    public var kind: String {
        switch self {
        case .gradient: return "gradient"
        case .rmsprop: return "rmsprop"
        case .adam: return "adam"
        }
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Which flows `reluflow simulate` integrates on which network, asked by every command that
/// would run one (`compare`, a `simulate` sweep, `simulate` itself), so that a flow joins them
/// all where this says it is available.
///
/// The adaptive flows are probed, not listed: their config (`flow.kind` set) is decoded and
/// resolved as `simulate` would, and the resolver's refusal is the reason (a build without them
/// refuses the key `flow.kind`). The gradient flow of a deep network needs no new config key, so
/// its availability is the one constant below.
public enum FlowCapability {
    /// Whether `simulate` integrates the gradient flow of a deep network (SPEC §8). The one line
    /// to change when it does.
    public static let deepGradientFlow = true

    /// nil when `simulate` integrates `method` on the network of `config`; else why not (a
    /// sentence naming the field).
    public static func unsupported(_ method: FlowMethod, for config: RunConfig) -> String? {
        if config.network.layers != nil && !deepGradientFlow {
            let what = method == .gradient ? "the gradient flow" : "the \(method.kind) flow (flow.kind = \(method.kind))"
            return "\(what) of a deep network (network.layers) is not available yet in this build (issue 18; SPEC §8)"
        }
        guard method != .gradient else { return nil }
        do {
            _ = try self.config(method, from: config).resolve(limits: nil)
            return nil
        } catch let error as InputError {
            return "flow.kind = \(method.kind): \(error.field) \(error.problem)"
        } catch {
            return "flow.kind = \(method.kind): \(error)"
        }
    }

    /// The config of a run of `method` on `base`'s problem: `flow.kind` set to the method's. The
    /// constants of `base`'s own kind (`flow.tau`, `epsilon`, `a`, `b`) go to that flow only; the
    /// other flows run with their defaults, and the gradient flow is the gradient flow whatever
    /// `base`'s kind (a compare's `flow` is the baseline the adaptive flows are set against).
    public static func config(_ method: FlowMethod, from base: RunConfig) throws -> RunConfig {
        guard (base.flow.kind ?? "gradient") != method.kind else { return base }
        var config = base
        config.flow.kind = method == .gradient ? nil : method.kind
        (config.flow.tau, config.flow.epsilon, config.flow.a, config.flow.b) = (nil, nil, nil, nil)
        return config
    }
}
