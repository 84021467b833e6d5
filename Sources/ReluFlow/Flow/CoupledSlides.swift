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
/// layers (|S| ≥ 2; every singleton besides).
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
/// Cost: Var[g] = E[g²] − g(α)² by a second-moment back-propagation
/// (`DeepModeField.gradientVariance`: the covariance of the back-propagated signal, layer by
/// layer, per class of data groups with the same derivative weights), whose cost does not grow
/// with the number of sets S: the sum above has one term per choice of at most one surface per
/// layer on a common group, which grows like the product of the surfaces per layer (4^7 where
/// twenty surfaces slide on a [1, 4×7, 1] network). The singletons ∂_k g
/// remain one backward pass each (`DeepModeField.gradientDerivative`): Newton's Jacobian and the
/// slide exits read them (`AdaptiveField.computeCoupled`). The independent Python reference sums
/// over all 2^K corners instead (`deep_flow_reference.py`, `corner_second_moment`).
struct CoupledSlides {
    /// The surfaces' member pairs (pair index u·G + g).
    let surfaces: [[Int]]
    /// Whether two of the surfaces are coupled: members on one data group in different layers
    /// (the gradient is then not affine in their α's).
    let isCoupled: Bool

    /// `layer(pair)`: the hidden layer of a pair's unit; G the number of data groups.
    init(surfaces: [[Int]], G: Int, layer: (Int) -> Int) {
        self.surfaces = surfaces
        // Per group, the first layer seen with a member on it; a second layer couples.
        var layerOnGroup = [Int](repeating: -1, count: G)
        var coupled = false
        search: for members in surfaces {
            for q in members {
                let l = layer(q), g = q % G
                if layerOnGroup[g] < 0 { layerOnGroup[g] = l } else if layerOnGroup[g] != l { coupled = true; break search }
            }
        }
        isCoupled = coupled
    }
}
