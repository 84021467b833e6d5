#ifndef RELUFLOW_DEEP_KERNELS_H
#define RELUFLOW_DEEP_KERNELS_H

/// The masked passes of the deep network's mode-locked field (DeepModeField, SPEC §8) in C: the
/// forward pass, back-propagation, the forward tangent and the Hessian–vector product. Every array
/// over hidden units and point groups is unit-major (n × G, hidden layers one after the other: the
/// row of unit i of hidden layer l is uoff[l] + i), θ in the SPEC §8 order. The passes run over
/// the groups in lanes of four (and in registers over the layer below), compiled twice from one
/// source: for AVX2 (chosen at run time when the CPU has it) and portable; without fused
/// multiply-add, so both builds give bitwise the same results. Every element is computed with the
/// operations and in the order of DeepModeField's former Swift loops, except the sums over groups
/// (a gradient entry Σ_g D[g] h[g]), which run in four lane sums (g mod 4) added at the end, and
/// Ṅ, which adds each unit's two terms before adding them to the sum: rounding-level differences.

typedef struct {
    int L;                /// number of weight matrices
    long G;               /// point groups
    long n;               /// hidden units
    long P;               /// parameters
    const long *widths;   /// n_0 = d, n_1, …, n_L = 1 (L + 1)
    const long *woff;     /// offset of W_l in θ (index l − 1)
    const long *boff;     /// offset of b_l in θ (index l − 1), −1: no bias
    const long *uoff;     /// first hidden unit of layer l (index l, l = 1 … L − 1)
    long c0;              /// index of c_0 in θ, −1: none
    const double *xT;     /// inputs, d × G
    const double *mult;   /// μ_g (G)
    const double *ysum;   /// Y_g = Σ_{j∈g} y_j (G)
} rf_deep_layout;

/// Z = W h + b per hidden layer, H = F ∘ Z, N = W_L h_{L−1} + c_0, R = μ N − Y.
void rf_deep_forward(const rf_deep_layout *lay, const double *theta, const double *F, double *Z, double *H,
                     double *N, double *R);

/// Back-propagation of dOut (∂/∂N_g) with derivative weights S (n × G): the gradient into grad (P,
/// zeroed first), ∂/∂Z into Dl (n × G). seed_unit ≥ 0: instead of dOut, ∂/∂Z of that unit on
/// seed_group is 1 (the gradient of one pre-activation).
void rf_deep_backward(const rf_deep_layout *lay, const double *theta, const double *H, const double *S,
                      const double *dOut, long seed_unit, long seed_group, double *Dl, double *grad);

/// Forward tangent along u: ż of every pair into zdot (n × G), and Ṅ into ndot when not NULL.
void rf_deep_tangent(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                     const double *H, double *zdot, double *ndot);

/// ∇²L_M u with derivative weights S, given the forward pass (H, masks F), dOut = R/m and the
/// back-propagated Dl of the same S: the tangent of the backward pass into out (P). work: 2 n G + 2 G
/// doubles.
void rf_deep_hessian_vector(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                            const double *H, const double *S, const double *dOut, const double *Dl, double invM,
                            double *work, double *out);

/// The field's evaluation in one call (DeepModeField.computeField where no surface slides: the
/// derivative weights are the masks F): the forward pass, dOut = R/m, back-propagation and
/// f = −∇L_M, f[P] = |f|² (Σ_p in order). The same operations in the same order as
/// rf_deep_forward, then dOut, then rf_deep_backward with S = F, so bitwise the same results; built
/// for small networks, where those passes' cost is loop overhead over short rows: the rows live in
/// a workspace padded to whole lanes of four (elementwise passes without scalar tails; a row's
/// padding is never read into a sum), and the gradient's sums over groups run four entries at a
/// time (their lane sums added as ((l0 + l1) + (l2 + l3)) by shuffles, the tail groups' products
/// added one group at a time, as `dot` does). Created from a layout (copied: the layout's arrays may
/// go away), masks set with rf_deep_fused_masks whenever the mode changes.
typedef struct rf_deep_fused rf_deep_fused;

rf_deep_fused *rf_deep_fused_new(const rf_deep_layout *lay);
void rf_deep_fused_free(rf_deep_fused *w);

/// The masks F (n × G, unit-major as everywhere above).
void rf_deep_fused_masks(rf_deep_fused *w, const double *F);

/// θ (P) → f (P + 1); the forward pass (Z, H, N, R) and dOut stay in the workspace. Copies for the
/// caller's memos: θ into theta_copy (P), the state θ, D (P + 1, theta[P] read) into y_copy and f into
/// f_copy (P + 1).
void rf_deep_fused_field(rf_deep_fused *w, const double *theta, double invM, double *f, double *theta_copy,
                         double *y_copy, double *f_copy);

/// The last rf_deep_fused_field's residuals R = μ N − Y (G entries), read in place.
const double *rf_deep_fused_residuals(const rf_deep_fused *w);

/// The last rf_deep_fused_field's forward pass and dOut, unpadded: Z, H (n × G), N, R, dOut (G), as
/// rf_deep_forward writes them.
void rf_deep_fused_export(const rf_deep_fused *w, double *Z, double *H, double *N, double *R, double *dOut);

/// Use the portable build even where the CPU has AVX2 (tests compare the two; 0: back to automatic).
void rf_deep_kernels_portable(int on);

#endif
