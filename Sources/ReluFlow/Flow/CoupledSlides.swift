/// Sliding surfaces of a deep network that are *coupled* (two of them have member pairs on one data
/// group in different layers), and the second moment of the gradient under Filippov's product
/// measure, for an adaptive flow whose v' is affine in g² (the RMSProp flow, SPEC §7 on the deep
/// networks of §8; `AdaptiveField`).
///
/// The gradient with σ'(0) := α_k on the pairs of surface k is multi-affine in the α's: the
/// backward pass of group g multiplies the derivative weights S of that group along a path, one
/// unit per layer (SPEC §8), so ∂²g/∂S_a∂S_b = 0 unless pairs a and b lie on one group in
/// different layers, and a surface's members (one unit, several groups) never multiply each other:
/// g is affine in each α_k alone, and a mixed derivative ∂_S g = ∂^|S| g / Π_{k∈S} ∂α_k can be
/// non-zero only for sets S with one member pair of each surface on one common group, in distinct
/// layers (`interactions`, |S| ≥ 2; every singleton besides).
///
/// Filippov's mean under independent sides (surface k on with probability α_k, ξ_k ~ Bernoulli(α_k)):
/// a multi-affine g is its own Taylor expansion at α in the centred variables,
///
///     g(ξ) = Σ_S ∂_S g(α) Π_{k∈S} (ξ_k − α_k),
///
/// and the centred products of independent variables are orthogonal with
/// E[(ξ_k − α_k)²] = α_k(1 − α_k), so, componentwise,
///
///     E[g] = g(α),   E[g²] = g(α)² + Σ_{S ≠ ∅} (∂_S g(α))² Π_{k∈S} α_k(1 − α_k),
///
/// an identity of polynomials in α, so it holds (as the corners' signed mean Σ_c w_c g_c², the
/// weights w_c = Π α_k or 1 − α_k) for α outside the box too, where a surface is about to leave;
/// with ∂_S g(α) = Σ_{T⊆S} (−1)^{|S∖T|} g(α; α_k = 1 for k ∈ T, 0 for k ∈ S∖T) exactly (a
/// multi-affine function's mixed derivative is its mixed difference over the unit box), which
/// is also one backward pass with the derivative weights of S's layers replaced by the indicator
/// of S's member pairs (`DeepModeField.gradientDerivative`: a path meets each surface of S once,
/// and ∂/∂α_k of a product linear in α_k keeps the paths through k with weight 1). Where no
/// two surfaces are coupled only the singletons remain, ∂_k g = Δ_k, and this is the affine rule
/// g(α)² + Σ_k α_k(1 − α_k) Δ_k² of `AdaptiveField`'s several-surface doc; at K = 1 the convex
/// combination (1 − α) g⁻² + α g⁺².
///
/// Cost: one backward pass per surface and one per interaction (`variance`), only while coupled
/// surfaces slide. The independent Python reference sums over all 2^K corners
/// instead (`deep_flow_reference.py`, `corner_second_moment`).
struct CoupledSlides {
    /// The surfaces' member pairs (pair index u·G + g).
    let surfaces: [[Int]]
    /// The sets S (|S| ≥ 2, surface indices ascending) whose mixed derivative can be non-zero.
    let interactions: [[Int]]

    /// `layer(pair)`: the hidden layer of a pair's unit; G the number of data groups.
    init(surfaces: [[Int]], G: Int, layer: (Int) -> Int) {
        self.surfaces = surfaces
        // Per group, the surfaces with a member on it, by layer.
        var byGroup: [Int: [Int: Set<Int>]] = [:]
        for (k, members) in surfaces.enumerated() {
            for q in members { byGroup[q % G, default: [:]][layer(q), default: []].insert(k) }
        }
        var found = Set<[Int]>()
        for layers in byGroup.values where layers.count >= 2 {
            // Every choice of at most one surface per layer, two or more in all.
            var sets: [[Int]] = [[]]
            for layer in layers.keys.sorted() {
                let choices = layers[layer]!.sorted()
                sets += sets.flatMap { s in choices.map { s + [$0] } }
            }
            for s in sets where s.count >= 2 { found.insert(s.sorted()) }
        }
        interactions = found.sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
    }

    /// Whether two of the surfaces are coupled (the gradient is then not affine in their α's).
    var isCoupled: Bool { !interactions.isEmpty }

    /// Σ_{S ≠ ∅} (∂_S g(α))² Π_{k∈S} α_k(1 − α_k) into `variance` (P entries, componentwise), with
    /// `derivative(S, into:)` the mixed derivative ∂_S g(α) (`DeepModeField.gradientDerivative`:
    /// one backward pass per set, exact, where the mixed difference over the 2^|S| corners would
    /// take 2^|S| gradients and cancel). `singleton(k, ∂_k g)` is shown every surface's
    /// Δ_k = ∂_k g(α) = g(α; α_k = 1) − g(α; α_k = 0) (the caller's slide exits), every surface,
    /// whether or not α_k(1 − α_k) vanishes.
    func variance(P: Int, alphas a: [Double], derivative: ([Int], UnsafeMutablePointer<Double>) -> Void,
                  singleton: (Int, UnsafePointer<Double>) -> Void,
                  into variance: UnsafeMutablePointer<Double>) {
        let d = UnsafeMutablePointer<Double>.allocate(capacity: P)
        defer { d.deallocate() }
        variance.initialize(repeating: 0, count: P)
        for k in surfaces.indices {
            derivative([k], d)
            singleton(k, d)
            let w = a[k] * (1 - a[k])
            guard w != 0 else { continue }
            for p in 0..<P { variance[p] += w * d[p] * d[p] }
        }
        for s in interactions {
            let w = s.reduce(1.0) { $0 * a[$1] * (1 - a[$1]) }
            guard w != 0 else { continue }
            derivative(s, d)
            for p in 0..<P { variance[p] += w * d[p] * d[p] }
        }
    }
}
