#ifndef RELUFLOW_SHALLOW_FIELD_H
#define RELUFLOW_SHALLOW_FIELD_H

/// The mode-locked field of a shallow network (ModeField.evaluate, SPEC §3) in one call, for any
/// n, d and G: the outputs N_g = c0 + Σ_i c_i s_ig z_ig, the residuals R_g = μ_g N_g − Y_g, and per
/// neuron F_i = Σ_g s_ig R_g x̃_g, written as f_(w_i) = −(c_i/m) F_w, f_(b_i) = −(c_i/m) F_b and
/// f_(c_i) = −(w_i, b_i)·F_i / m (and f_(c0) = −Σ_g R_g / m with an output bias). Sliding
/// neurons' velocities are not projected here (the caller does, from f). Issue 22: at small n·G the
/// Swift loops this replaces cost ~5 000 instructions per evaluation, mostly overhead.
///
/// The order of every operation is that of the Swift SIMD4 loops it replaces (and of the AVX2
/// pass rf_field_outputs and its former gradient pass): lanes of four groups over g < G4 = G & ~3, each
/// lane summing in g order, the lane sums added lane 0 to 3 (SIMD4.sum), then the tail groups one
/// by one; z = ((b + w_0 x_0) + w_1 x_1) + …; no fused multiply-add. The AVX2 build (chosen at
/// run time when `vector` is non-zero and the CPU has AVX2) and the portable build are the same
/// source and give bitwise the same results.
///
/// y = θ in SPEC §1 order (W n×d, b, c, c0 when outputBias); xgT: d×G points transposed; s: n×G
/// slopes, exactly 1.0 on, 0.0 off or sliding (doubles: converting bytes cost ~14% of an
/// evaluation at n = 10, G = 20, issue 22); N, R: G outputs; work: G doubles (d ≥ 5); f: the
/// first P entries of the field. Returns Σ_g R_g (summed in g order).
double rf_shallow_field(int d, long n, long G, const double *xgT, const double *mult, const double *ysum,
                        const double *y, int outputBias, double invM, const double *s,
                        double *N, double *R, double *work, double *f, int vector);

#endif
