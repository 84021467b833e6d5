#ifndef RELUFLOW_FIELD_KERNELS_H
#define RELUFLOW_FIELD_KERNELS_H

/// Pass 1 of ReluFlow's field (ModeField.accumulateOutputs, SPEC §3; the whole field is
/// shallow_field.h) for one neuron
/// and any input dimension d (unrolled for d = 1…4), over the groups [0, G4) in lanes of four, compiled for AVX2
/// (256-bit lanes) and called only when the CPU has it. Every lane does the operations of the
/// Swift SIMD4 loops in the same order and without fused multiply-add, so the results are
/// bitwise those of the Swift loops: only the instruction width differs.

/// Whether this CPU runs the AVX2 kernels (checked once).
int rf_field_kernels_available(void);

/// `s` holds the slopes s_ig of the neuron as bytes (1 on, 0 off or sliding): a quarter of the
/// memory traffic of doubles, which is what bounds the passes at large n·G.

/// Pass 1: N[g] += c · (s[g] · (b + Σ_k w_k x_k[g])), g < G4; x_k = xgT + k·G.
void rf_field_outputs(int d, long G4, long G, const double *xgT, const double *w, double b, double c,
                      const unsigned char *s, double *N);

/// out[g] = b + Σ_k w_k x_k[g] for every g < G (lanes, then the tail), d = 1…4: the pre-activations
/// or their rates of one neuron (ModeField.affineRow, bitwise), any d.
void rf_affine_row(int d, long G, const double *xgT, const double *w, double b, double *out);

/// The event scan's screen over the lanes g < G4 of one neuron without sliding pairs: writes the
/// first group of every lane of four in which some pair may have an event (a sign change against
/// its on/off state s, or a rate reversal towards it) to `hits`; returns their number.
long rf_scan_screen(long G4, const unsigned char *s, const double *z1, const double *zdot0, const double *zdot1, long *hits);

/// rf_affine_row for every neuron i < n: z (n×G) from θ = y (weights at y + i·d, bias y[n·d + i]),
/// and ż from f likewise when f and zdot are not NULL (ModeField.surfaceValues).
void rf_affine_rows(int d, long n, long G, const double *xgT, const double *y, const double *f, double *z, double *zdot);

/// The end of a step's rows and the scan's screen in one call (EventDetector.scan, issue 22: two
/// calls and the Swift loop's bookkeeping per row were ~100 instructions a row): for every neuron
/// i < n, z1 and ż1 of its row (rf_affine_row of θ's and f's (w_i, b_i): weights at y + i·d, bias
/// y[n·d + i]), then, where sliding is NULL or sliding[i] is 0, rf_scan_screen of its lanes
/// g < G & ~3 with hits appended to `hits` (capacity n·(G/4)); counts[i] their number in row i
/// (0 for a row not screened). Returns the total. (EventDetector.scan passes sliding = NULL: it
/// screens every row and tests a sliding row's sliding lanes itself.)
long rf_scan_rows(int d, long n, long G, const double *xgT, const double *y, const double *f,
                  const unsigned char *s, const unsigned char *sliding, double *z1, const double *zdot0,
                  double *zdot1, long *hits, long *counts);

/// The training methods' plain evaluation (ShallowEvaluator, training_kernels.c), one neuron over
/// all m points (x_k = xT + k·m): z = b + Σ_k w_k x_k[j]; s[j] = z > 0; out[j] += c·z where s[j].
void rf_relu_row(int d, long m, const double *xT, const double *w, double b, double c, unsigned char *s, double *out);

/// F[k] = Σ_j s[j] r[j] x_k[j] (k < d), F[d] = Σ_j s[j] r[j].
void rf_masked_sums(int d, long m, const double *xT, const double *r, const unsigned char *s, double *F);

/// The full-batch loss L = Σ_j r_j² / (2m) of the shallow network at θ = [W (n×d), b, c, (c0)],
/// with r_j = Σ_i c_i σ(z_ij) (+ c0) − y_j: rf_relu_row for every neuron into `out` (then the
/// residuals r) and `pattern` (n×m), and when `gradient` is not NULL the plain gradient from
/// rf_masked_sums per neuron (F: d + 1 doubles of work), in the order of operations of
/// ShallowEvaluator's neuron-by-neuron loop; one call per evaluation.
double rf_shallow_evaluate(int d, long n, long m, const double *xT, const double *y, const double *theta, int outputBias,
                           double *out, unsigned char *pattern, double *F, double *gradient);

#endif
