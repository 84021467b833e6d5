@preconcurrency import CGSL

/// Random initialisation schemes for the shallow network (SPEC §8 variances, fan-in d for W,
/// fan-in n for c).
public enum InitScheme: String, Codable, Sendable, CaseIterable {
    /// `w ~ N(0, 2/d)`, `c ~ N(0, 2/n)`.
    case he
    /// `w ~ N(0, 2/(d+n))`, `c ~ N(0, 2/(n+1))`.
    case xavier
    /// `w ~ U(±1/√d)`, `c ~ U(±1/√n)`, biases `U(±biasScale)`.
    case uniform
}

/// How the initial parameters are drawn. Reproducible: GSL's MT19937 generator seeded with
/// `seed`, values drawn in the order W (row-major), b, c; the output bias starts at 0.
/// (GSL maps seed 0 to MT19937's default seed 4357, so seeds 0 and 4357 draw the same θ.)
public struct InitSpec: Codable, Sendable, Equatable {
    public var scheme: InitScheme
    public var seed: UInt64
    /// Every drawn weight and bias is multiplied by this (lazy regime: large; small-init regime: small).
    public var scale: Double
    /// Biases are `biasScale · N(0, 1)` (uniform scheme: `U(±biasScale)`); 0 gives zero biases.
    public var biasScale: Double
    /// Rescale every neuron so that `|(w_i, b_i)| = |c_i| = scale` (balanced start, q_i = 0).
    public var balanced: Bool

    public init(scheme: InitScheme = .he, seed: UInt64 = 0, scale: Double = 1, biasScale: Double = 0.1, balanced: Bool = false) {
        self.scheme = scheme
        self.seed = seed
        self.scale = scale
        self.biasScale = biasScale
        self.balanced = balanced
    }

    enum CodingKeys: String, CodingKey { case scheme, seed, scale, biasScale, balanced }

    /// Every key is optional; missing ones take the defaults above.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = InitSpec()
        // An unknown scheme names the known ones (as DeepInitSpec's decoder does).
        let name = try c.decodeIfPresent(String.self, forKey: .scheme) ?? defaults.scheme.rawValue
        guard let parsed = InitScheme(rawValue: name) else {
            throw InputError("network.init.scheme", "unknown scheme '\(name)' (known: \(InitScheme.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        scheme = parsed
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        scale = try c.decodeIfPresent(Double.self, forKey: .scale) ?? defaults.scale
        biasScale = try c.decodeIfPresent(Double.self, forKey: .biasScale) ?? defaults.biasScale
        balanced = try c.decodeIfPresent(Bool.self, forKey: .balanced) ?? defaults.balanced
    }

    /// Draws θ for `network`.
    public func draw(for network: ShallowNetwork) -> [Double] {
        GSLRuntime.prepare()
        let n = network.width, d = network.inputDimension
        guard let rng = gsl_rng_alloc(gsl_rng_mt19937) else { fatalError("gsl_rng_alloc failed") }
        defer { gsl_rng_free(rng) }
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
        var theta = [Double](repeating: 0, count: network.parameterCount)
        func normal(_ variance: Double) -> Double { gsl_ran_gaussian(rng, variance.squareRoot()) }
        func uniform(_ bound: Double) -> Double { gsl_ran_flat(rng, -bound, bound) }
        for i in 0..<n {
            for k in 0..<d {
                switch scheme {
                case .he: theta[network.wIndex(i, k)] = normal(2 / Double(d))
                case .xavier: theta[network.wIndex(i, k)] = normal(2 / Double(d + n))
                case .uniform: theta[network.wIndex(i, k)] = uniform(1 / Double(d).squareRoot())
                }
            }
        }
        for i in 0..<n {
            theta[network.bIndex(i)] = scheme == .uniform ? uniform(biasScale) : biasScale * gsl_ran_ugaussian(rng)
        }
        for i in 0..<n {
            switch scheme {
            case .he: theta[network.cIndex(i)] = normal(2 / Double(n))
            case .xavier: theta[network.cIndex(i)] = normal(2 / Double(n + 1))
            case .uniform: theta[network.cIndex(i)] = uniform(1 / Double(n).squareRoot())
            }
        }
        if balanced {
            for i in 0..<n {
                var norm2 = theta[network.bIndex(i)] * theta[network.bIndex(i)]
                for k in 0..<d { norm2 += theta[network.wIndex(i, k)] * theta[network.wIndex(i, k)] }
                let inner = norm2 > 0 ? scale / norm2.squareRoot() : 0
                for k in 0..<d { theta[network.wIndex(i, k)] *= inner }
                theta[network.bIndex(i)] *= inner
                let c = theta[network.cIndex(i)]
                theta[network.cIndex(i)] = c < 0 ? -scale : scale
            }
        } else if scale != 1 {
            for p in 0..<(n * (d + 2)) { theta[p] *= scale }
        }
        return theta
    }
}
