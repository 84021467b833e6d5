import Foundation

extension NetworkConfig {
    /// The deep network the section describes (SPEC §8), validated before any data exist (errors
    /// name the field); nil for the shallow network (no `layers`). The first width is checked
    /// against the data's d in `resolveDeep`.
    func deepNetwork() throws -> DeepNetwork? {
        guard let layers else { return nil }
        guard layers.count >= 3 else {
            throw InputError("network.layers", "needs at least three entries (d, one or more hidden widths, 1); got \(layers)")
        }
        for (k, n) in layers.enumerated() where n < 1 {
            throw InputError("network.layers[\(k)]", "must be at least 1 (got \(n)); a zero width disconnects the network")
        }
        guard layers.last == 1 else {
            throw InputError("network.layers[\(layers.count - 1)]", "must be 1, the scalar output (got \(layers.last!))")
        }
        let name = activation ?? HiddenActivation.relu.rawValue
        guard let act = HiddenActivation(rawValue: name) else {
            throw InputError("network.activation", "unknown activation '\(name)' (known: \(HiddenActivation.names))")
        }
        // θ's size, in Double to keep a huge product from overflowing.
        var count = 0.0
        for l in 1..<layers.count { count += Double(layers[l]) * Double(layers[l - 1] + ((bias ?? false) && l < layers.count - 1 ? 1 : 0)) }
        guard count <= 50_000_000 else {
            throw InputError("network.layers", "gives \(Int(count)) parameters; at most 50 000 000 are supported")
        }
        let spec = deepInitialization ?? DeepInitSpec()
        if spec.scheme == .normal {
            guard let std = spec.std else { throw InputError("network.init.std", "is required by the normal scheme") }
            guard std.isFinite, std > 0 else { throw InputError("network.init.std", "must be a finite number > 0 (got \(std))") }
        } else if spec.std != nil {
            throw InputError("network.init.std", "applies to the normal scheme only (the scheme is \(spec.scheme.rawValue))")
        }
        return DeepNetwork(layers: layers, activation: act, hiddenBias: bias ?? false, outputBias: outputBias ?? false)
    }

    /// θ(0) of a deep network on data of dimension `d` (drawn, then the explicit weights, biases
    /// and c_0 written over it) and the section with every default and parameter written.
    func resolveDeep(_ network: DeepNetwork, dimension d: Int) throws -> (theta: [Double], resolved: NetworkConfig) {
        let layers = network.layers, L = network.depth
        guard layers[0] == d else {
            throw InputError("network.layers[0]", "is \(layers[0]) but the data have d = \(d) inputs; the first entry is the input dimension")
        }
        let spec = deepInitialization ?? DeepInitSpec()
        var theta = spec.draw(for: network)
        if let weights {
            guard weights.count == L else {
                throw InputError("network.weights", "has \(weights.count) matrices, expected one per layer: L = \(L) for layers \(layers)")
            }
            for (a, matrix) in weights.enumerated() {
                let l = a + 1
                guard matrix.count == layers[l] else {
                    throw InputError("network.weights[\(a)]", "has \(matrix.count) rows, expected n_\(l) = \(layers[l]) (W_\(l) is \(layers[l]) × \(layers[l - 1]))")
                }
                for (i, row) in matrix.enumerated() {
                    guard row.count == layers[l - 1] else {
                        throw InputError("network.weights[\(a)][\(i)]", "has \(row.count) entries, expected n_\(l - 1) = \(layers[l - 1]) (W_\(l) is \(layers[l]) × \(layers[l - 1]))")
                    }
                    for (k, v) in row.enumerated() {
                        guard v.isFinite else { throw InputError("network.weights[\(a)][\(i)][\(k)]", "is not a finite number") }
                        theta[network.wIndex(l, i, k)] = v
                    }
                }
            }
        }
        if let biases {
            guard network.hiddenBias else { throw InputError("network.biases", "is given but network.bias is false (no hidden biases)") }
            guard biases.count == L - 1 else {
                throw InputError("network.biases", "has \(biases.count) vectors, expected one per hidden layer: \(L - 1)")
            }
            for (a, vector) in biases.enumerated() {
                let l = a + 1
                guard vector.count == layers[l] else {
                    throw InputError("network.biases[\(a)]", "has \(vector.count) entries, expected n_\(l) = \(layers[l])")
                }
                for (i, v) in vector.enumerated() {
                    guard v.isFinite else { throw InputError("network.biases[\(a)][\(i)]", "is not a finite number") }
                    theta[network.bIndex(l, i)!] = v
                }
            }
        }
        if let c0 {
            guard network.outputBias else { throw InputError("network.c0", "is given but network.outputBias is false") }
            guard c0.isFinite else { throw InputError("network.c0", "is not a finite number") }
            theta[network.c0Index!] = c0
        }
        var out = NetworkConfig(layers: layers, activation: network.activation.rawValue, bias: network.hiddenBias,
                                outputBias: network.outputBias, initialization: spec)
        out.weights = (1...L).map { l in (0..<layers[l]).map { i in (0..<layers[l - 1]).map { theta[network.wIndex(l, i, $0)] } } }
        if network.hiddenBias { out.biases = (1..<L).map { l in (0..<layers[l]).map { theta[network.bIndex(l, $0)!] } } }
        out.c0 = network.c0Index.map { theta[$0] }
        return (theta, out)
    }
}
