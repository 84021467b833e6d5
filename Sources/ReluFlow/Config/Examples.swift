/// Built-in examples (`reluflow examples`), SPEC §10 and the engine issue.
public struct Example: Sendable {
    public let name: String
    public let summary: String
    public let config: RunConfig

    /// The default example.
    public static let defaultName = "sine"

    public static let all: [Example] = [
        Example(
            name: "sine",
            summary: "m = 20 points uniform on [-1, 1], y = sin(πx), width 10, He init, bias scale 0.1, seed 0: "
                + "a steady decrease through many pattern changes, sliding episodes and a long terminal approach",
            config: RunConfig(
                example: "sine",
                data: DataConfig(target: TargetConfig(function: "sin(pi*x)", m: 20, range: [-1, 1])),
                network: NetworkConfig(width: 10, initialization: InitSpec(scheme: .he, seed: 0, scale: 1, biasScale: 0.1)),
                flow: FlowConfig(T: 1e4))),
        Example(
            name: "abs",
            summary: "m = 21 points uniform on [-1, 1] (x = 0 is a data point), y = |x|, width 10, He init with zero biases: "
                + "every neuron starts on a switching surface",
            config: RunConfig(
                example: "abs",
                data: DataConfig(target: TargetConfig(function: "abs(x)", m: 21, range: [-1, 1])),
                network: NetworkConfig(width: 10, initialization: InitSpec(scheme: .he, seed: 0, scale: 1, biasScale: 0)),
                flow: FlowConfig(T: 1e4))),
        Example(
            name: "two-d",
            summary: "d = 2, a 5×5 grid on [-1, 1]², y = sin(πx0)·cos(πx1/2), width 12, He init, bias scale 0.1: "
                + "knot lines crossing a planar data grid",
            config: RunConfig(
                example: "two-d",
                data: DataConfig(target: TargetConfig(function: "sin(pi*x0)*cos(pi*x1/2)", m: 25, range: [-1, 1], dim: 2)),
                network: NetworkConfig(width: 12, initialization: InitSpec(scheme: .he, seed: 0, scale: 1, biasScale: 0.1)),
                flow: FlowConfig(T: 1e3))),
        Example(
            name: "small-init",
            summary: "m = 20, y = sin(πx), width 10, balanced small start |(w_i, b_i)| = |c_i| = 1e-3 (SPEC §10): "
                + "distinct plateaus, an alignment phase, then constant-pattern plateaus",
            config: RunConfig(
                example: "small-init",
                data: DataConfig(target: TargetConfig(function: "sin(pi*x)", m: 20, range: [-1, 1])),
                network: NetworkConfig(width: 10, initialization: InitSpec(scheme: .he, seed: 0, scale: 1e-3, biasScale: 1, balanced: true)),
                flow: FlowConfig(T: 1e4))),
        Example(
            name: "plateaus",
            summary: "plateau paper, findings 1 and 3: y = exp(x) on 20 points, width 3 with output bias, balanced He start "
                + "(bias scale 0.5, seed 7): four plateaus, each inside one constant pattern, two left where the "
                + "least-squares exit prediction says, and a stationary end on its local regression lines",
            config: RunConfig(
                example: "plateaus",
                data: DataConfig(target: TargetConfig(function: "exp(x)", m: 20, range: [-1, 1])),
                network: NetworkConfig(width: 3, outputBias: true,
                                       initialization: InitSpec(scheme: .he, seed: 7, scale: 1, biasScale: 0.5, balanced: true)),
                flow: FlowConfig(T: 1e5))),
        Example(
            name: "transient-plateau",
            summary: "plateau paper, exit prediction: y = cos(πx) on 20 points, width 10, balanced Xavier start at scale 0.24 "
                + "with zero biases (seed 15): a short plateau in one pattern whose meeting point k* lies outside its gap; "
                + "the knot then crosses the predicted point in the predicted direction",
            config: RunConfig(
                example: "transient-plateau",
                data: DataConfig(target: TargetConfig(function: "cos(pi*x)", m: 20, range: [-1, 1])),
                network: NetworkConfig(width: 10, initialization: InitSpec(scheme: .xavier, seed: 15, scale: 0.24, biasScale: 0, balanced: true)),
                flow: FlowConfig(T: 1e5))),
    ]

    public static func named(_ name: String) throws -> Example {
        guard let example = all.first(where: { $0.name == name }) else {
            throw InputError("--example", "unknown example '\(name)' (known: \(all.map(\.name).joined(separator: ", ")))")
        }
        return example
    }
}
