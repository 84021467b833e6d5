#include "deep_kernels.h"
#include "cpu.h"
#include <stdlib.h>
#include <string.h>

// No fused multiply-add, whatever the flags: the AVX2 and the portable builds of the passes (the
// same source) round identically, so results do not depend on the CPU.
#pragma STDC FP_CONTRACT OFF

#include "lanes.h"

// The last r = G mod 4 (1 … 3) groups of a row as one lane vector (the other lanes 0) and back: the
// elementwise passes then treat the tail as one more lane block instead of r scalar passes over the
// layer below. Every element still sees the same operations in the same order (lanes do not mix),
// so the results are bitwise those of the scalar tail; no element past the row is read or written.
INLINE v4d LDP(const double *p, long r) {
    v4d v = SPLAT(0.0);
    v[0] = p[0];
    if (r > 1) v[1] = p[1];
    if (r > 2) v[2] = p[2];
    return v;
}
INLINE void STP(double *p, v4d v, long r) {
    p[0] = v[0];
    if (r > 1) p[1] = v[1];
    if (r > 2) p[2] = v[2];
}

#define W(l, i, k) (theta[lay->woff[(l) - 1] + (i) * lay->widths[(l) - 1] + (k)])
#define WINDEX(l, i, k) (lay->woff[(l) - 1] + (i) * lay->widths[(l) - 1] + (k))

// Input h_{l−1} of layer l (row k at + k·G).
INLINE const double *input(const rf_deep_layout *lay, const double *H, int l) {
    return l == 1 ? lay->xT : H + lay->uoff[l - 1] * lay->G;
}

// Σ_g over lanes g mod 4, then ((l0 + l1) + (l2 + l3)), then the tail g ≥ G4 in order.
#define lanes(a) (((a)[0] + (a)[1]) + ((a)[2] + (a)[3]))

INLINE double dot(const double *a, const double *b, long G) {
    const long G4 = G & ~3L;
    v4d acc = SPLAT(0.0);
    for (long g = 0; g < G4; g += 4) acc += LD(a + g) * LD(b + g);
    double s = lanes(acc);
    for (long g = G4; g < G; g++) s += a[g] * b[g];
    return s;
}

INLINE double sum(const double *a, long G) {
    const long G4 = G & ~3L;
    v4d acc = SPLAT(0.0);
    for (long g = 0; g < G4; g += 4) acc += LD(a + g);
    double s = lanes(acc);
    for (long g = G4; g < G; g++) s += a[g];
    return s;
}

// z = b + Σ_k w_k x_k (k in order, zero weights skipped), h = f ∘ z, for one unit; w: its row.
INLINE void forward_row(long G, long below, const double *w, double b, const double *in, const double *f,
                        double *z, double *h) {
    const long G4 = G & ~3L;
    long g = 0;
    for (; g + 8 <= G4; g += 8) {
        v4d a0 = SPLAT(b), a1 = SPLAT(b);
        for (long k = 0; k < below; k++) {
            if (w[k] == 0) continue;
            const v4d wk = SPLAT(w[k]);
            a0 += wk * LD(in + k * G + g);
            a1 += wk * LD(in + k * G + g + 4);
        }
        ST(z + g, a0); ST(z + g + 4, a1);
        ST(h + g, LD(f + g) * a0); ST(h + g + 4, LD(f + g + 4) * a1);
    }
    for (; g < G4; g += 4) {
        v4d a0 = SPLAT(b);
        for (long k = 0; k < below; k++) {
            if (w[k] == 0) continue;
            a0 += SPLAT(w[k]) * LD(in + k * G + g);
        }
        ST(z + g, a0);
        ST(h + g, LD(f + g) * a0);
    }
    if (g < G) {
        const long r = G - g;
        v4d a0 = SPLAT(b);
        for (long k = 0; k < below; k++) {
            if (w[k] == 0) continue;
            a0 += SPLAT(w[k]) * LDP(in + k * G + g, r);
        }
        STP(z + g, a0, r);
        STP(h + g, LDP(f + g, r) * a0, r);
    }
}

INLINE void forward_body(const rf_deep_layout *lay, const double *theta, const double *F, double *Z, double *H,
                         double *N, double *R) {
    const long G = lay->G;
    const int L = lay->L;
    for (int l = 1; l < L; l++) {
        const long nl = lay->widths[l], below = lay->widths[l - 1];
        const double *in = input(lay, H, l);
        for (long i = 0; i < nl; i++) {
            const long row = (lay->uoff[l] + i) * G;
            const double b = lay->boff[l - 1] >= 0 ? theta[lay->boff[l - 1] + i] : 0;
            forward_row(G, below, theta + WINDEX(l, i, 0), b, in, F + row, Z + row, H + row);
        }
    }
    // Output: N = c_0 + Σ_k w_k h_k (k in order), R = μ N − Y.
    const double c0 = lay->c0 >= 0 ? theta[lay->c0] : 0;
    const double *in = input(lay, H, L);
    const long below = lay->widths[L - 1];
    const double *w = theta + WINDEX(L, 0, 0);
    const long G4 = G & ~3L;
    long g = 0;
    for (; g < G4; g += 4) {
        v4d s = SPLAT(c0);
        for (long k = 0; k < below; k++) s += SPLAT(w[k]) * LD(in + k * G + g);
        ST(N + g, s);
        ST(R + g, LD(lay->mult + g) * s - LD(lay->ysum + g));
    }
    if (g < G) {
        const long r = G - g;
        v4d s = SPLAT(c0);
        for (long k = 0; k < below; k++) s += SPLAT(w[k]) * LDP(in + k * G + g, r);
        STP(N + g, s, r);
        STP(R + g, LDP(lay->mult + g, r) * s - LDP(lay->ysum + g, r), r);
    }
}

// Dl_{l−1}[k] = S[k] ∘ Σ_i c_ik D_i (i in order) for one k; c: column k of W_l (stride `below`),
// D: the rows of Dl of layer l (stride G). With u (not NULL): Σ_i (u_ik D_i + w_ik Dd_i) instead.
INLINE void down_row(long G, long nl, long below, const double *wcol, const double *D, const double *ucol,
                     const double *Dd, const double *S, double *out) {
    const long G4 = G & ~3L;
    long g = 0;
    for (; g < G4; g += 4) {
        v4d a = SPLAT(0.0);
        if (ucol) {
            for (long i = 0; i < nl; i++) a += SPLAT(ucol[i * below]) * LD(D + i * G + g) + SPLAT(wcol[i * below]) * LD(Dd + i * G + g);
        } else {
            for (long i = 0; i < nl; i++) a += SPLAT(wcol[i * below]) * LD(D + i * G + g);
        }
        ST(out + g, LD(S + g) * a);
    }
    if (g < G) {
        const long r = G - g;
        v4d a = SPLAT(0.0);
        if (ucol) {
            for (long i = 0; i < nl; i++)
                a += SPLAT(ucol[i * below]) * LDP(D + i * G + g, r) + SPLAT(wcol[i * below]) * LDP(Dd + i * G + g, r);
        } else {
            for (long i = 0; i < nl; i++) a += SPLAT(wcol[i * below]) * LDP(D + i * G + g, r);
        }
        STP(out + g, LDP(S + g, r) * a, r);
    }
}

INLINE void backward_body(const rf_deep_layout *lay, const double *theta, const double *H, const double *S,
                          const double *dOut, long seed_unit, long seed_group, double *Dl, double *grad) {
    const long G = lay->G;
    const int L = lay->L;
    memset(grad, 0, sizeof(double) * lay->P);
    int start = L;
    if (seed_unit >= 0) {
        memset(Dl, 0, sizeof(double) * lay->n * G);
        start = 1;
        while (start + 1 < L && lay->uoff[start + 1] <= seed_unit) start++;
        Dl[seed_unit * G + seed_group] = 1;
    } else {
        const double *in = input(lay, H, L);
        const long below = lay->widths[L - 1];
        for (long k = 0; k < below; k++) grad[WINDEX(L, 0, k)] = dot(dOut, in + k * G, G);
        if (lay->c0 >= 0) grad[lay->c0] = sum(dOut, G);
        for (long k = 0; k < below; k++) {
            const double wk = W(L, 0, k);
            const long row = (lay->uoff[L - 1] + k) * G;
            for (long g = 0; g < G; g++) Dl[row + g] = S[row + g] * wk * dOut[g];
        }
        start = L - 1;
    }
    for (int l = start; l >= 1; l--) {
        const long nl = lay->widths[l], below = lay->widths[l - 1];
        const double *in = input(lay, H, l);
        const double *Dlayer = Dl + lay->uoff[l] * G;
        for (long i = 0; i < nl; i++) {
            const double *D = Dlayer + i * G;
            for (long k = 0; k < below; k++) grad[WINDEX(l, i, k)] = dot(D, in + k * G, G);
            if (lay->boff[l - 1] >= 0) grad[lay->boff[l - 1] + i] = sum(D, G);
        }
        if (l > 1) {
            for (long k = 0; k < below; k++) {
                const long rowK = (lay->uoff[l - 1] + k) * G;
                down_row(G, nl, below, theta + WINDEX(l, 0, k), Dlayer, NULL, NULL, S + rowK, Dl + rowK);
            }
        }
    }
}

// ż of one unit: u_b + Σ_k (u_ik x_k + (w_ik f_k) ż_k) (k in order; the second term from layer 2 on).
INLINE void tangent_row(long G, long below, const double *urow, const double *wrow, double bdot, const double *in,
                        const double *Fb, const double *Zb, double *zd) {
    const long G4 = G & ~3L;
    long g = 0;
    for (; g < G4; g += 4) {
        v4d a = SPLAT(bdot);
        if (Fb) {
            for (long k = 0; k < below; k++) {
                v4d v = SPLAT(urow[k]) * LD(in + k * G + g);
                v += SPLAT(wrow[k]) * LD(Fb + k * G + g) * LD(Zb + k * G + g);
                a += v;
            }
        } else {
            for (long k = 0; k < below; k++) a += SPLAT(urow[k]) * LD(in + k * G + g);
        }
        ST(zd + g, a);
    }
    if (g < G) {
        const long r = G - g;
        v4d a = SPLAT(bdot);
        if (Fb) {
            for (long k = 0; k < below; k++) {
                v4d v = SPLAT(urow[k]) * LDP(in + k * G + g, r);
                v += SPLAT(wrow[k]) * LDP(Fb + k * G + g, r) * LDP(Zb + k * G + g, r);
                a += v;
            }
        } else {
            for (long k = 0; k < below; k++) a += SPLAT(urow[k]) * LDP(in + k * G + g, r);
        }
        STP(zd + g, a, r);
    }
}

INLINE void tangent_body(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                         const double *H, double *zdot, double *ndot) {
    const long G = lay->G;
    const int L = lay->L;
    for (int l = 1; l < L; l++) {
        const long nl = lay->widths[l], below = lay->widths[l - 1];
        const double *in = input(lay, H, l);
        const double *Fb = l > 1 ? F + lay->uoff[l - 1] * G : NULL;
        const double *Zb = l > 1 ? zdot + lay->uoff[l - 1] * G : NULL;
        for (long i = 0; i < nl; i++) {
            const double bdot = lay->boff[l - 1] >= 0 ? u[lay->boff[l - 1] + i] : 0;
            tangent_row(G, below, u + WINDEX(l, i, 0), theta + WINDEX(l, i, 0), bdot, in, Fb, Zb,
                        zdot + (lay->uoff[l] + i) * G);
        }
    }
    if (ndot) {
        const double c0dot = lay->c0 >= 0 ? u[lay->c0] : 0;
        const long below = lay->widths[L - 1];
        tangent_row(G, below, u + WINDEX(L, 0, 0), theta + WINDEX(L, 0, 0), c0dot, input(lay, H, L),
                    F + lay->uoff[L - 1] * G, zdot + lay->uoff[L - 1] * G, ndot);
    }
}

// Σ_g (Dd x + D (f ż)) in lanes; without f (inputs): Σ_g Dd x.
INLINE double hv_entry(long G, const double *Dd, const double *x, const double *D, const double *f, const double *zb) {
    const long G4 = G & ~3L;
    v4d acc = SPLAT(0.0);
    double s;
    if (f) {
        for (long g = 0; g < G4; g += 4) acc += LD(Dd + g) * LD(x + g) + LD(D + g) * (LD(f + g) * LD(zb + g));
        s = lanes(acc);
        for (long g = G4; g < G; g++) s += Dd[g] * x[g] + D[g] * (f[g] * zb[g]);
    } else {
        for (long g = 0; g < G4; g += 4) acc += LD(Dd + g) * LD(x + g);
        s = lanes(acc);
        for (long g = G4; g < G; g++) s += Dd[g] * x[g];
    }
    return s;
}

INLINE void hessian_vector_body(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                                const double *H, const double *S, const double *dOut, const double *Dl, double invM,
                                double *work, double *out) {
    const long G = lay->G, nG = lay->n * G;
    const int L = lay->L;
    double *zdot = work, *Ddot = work + nG, *ndot = work + 2 * nG, *doutDot = ndot + G;
    tangent_body(lay, theta, u, F, H, zdot, ndot);
    memset(out, 0, sizeof(double) * lay->P);
    for (long g = 0; g < G; g++) doutDot[g] = lay->mult[g] * ndot[g] * invM;
    // Output layer: ġ_{W_L} = Ḋ_L h_{L−1}ᵀ + D_L ḣ_{L−1}ᵀ (ḣ = F ∘ ż).
    {
        const double *in = input(lay, H, L);
        const long rowB = lay->uoff[L - 1] * G;
        for (long k = 0; k < lay->widths[L - 1]; k++)
            out[WINDEX(L, 0, k)] = hv_entry(G, doutDot, in + k * G, dOut, F + rowB + k * G, zdot + rowB + k * G);
    }
    if (lay->c0 >= 0) out[lay->c0] = sum(doutDot, G);
    for (long k = 0; k < lay->widths[L - 1]; k++) {
        const long row = (lay->uoff[L - 1] + k) * G;
        const double wk = W(L, 0, k), uk = u[WINDEX(L, 0, k)];
        for (long g = 0; g < G; g++) Ddot[row + g] = S[row + g] * (uk * dOut[g] + wk * doutDot[g]);
    }
    for (int l = L - 1; l >= 1; l--) {
        const long nl = lay->widths[l], below = lay->widths[l - 1];
        const double *in = input(lay, H, l);
        const long rowB = l > 1 ? lay->uoff[l - 1] * G : 0;
        for (long i = 0; i < nl; i++) {
            const long row = (lay->uoff[l] + i) * G;
            const double *Dd = Ddot + row, *D = Dl + row;
            for (long k = 0; k < below; k++) {
                out[WINDEX(l, i, k)] = l > 1 ? hv_entry(G, Dd, in + k * G, D, F + rowB + k * G, zdot + rowB + k * G)
                                             : hv_entry(G, Dd, in + k * G, D, NULL, NULL);
            }
            if (lay->boff[l - 1] >= 0) out[lay->boff[l - 1] + i] = sum(Dd, G);
        }
        if (l > 1) {
            const double *Dlayer = Dl + lay->uoff[l] * G, *Ddlayer = Ddot + lay->uoff[l] * G;
            for (long k = 0; k < below; k++) {
                const long rowK = (lay->uoff[l - 1] + k) * G;
                down_row(G, nl, below, theta + WINDEX(l, 0, k), Dlayer, u + WINDEX(l, 0, k), Ddlayer, S + rowK, Ddot + rowK);
            }
        }
    }
}

// The entry points: the AVX2 build where the CPU has it, else the portable one (same results).
static int portable_only = 0;

void rf_deep_kernels_portable(int on) { __atomic_store_n(&portable_only, on, __ATOMIC_RELAXED); }

static int has_avx2(void) {
    // Atomic: several runs of one process (sweep --in-process) evaluate at once.
    static int state = -1;
    int known = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (known < 0) {
        known = rf_cpu_has_avx2();
        __atomic_store_n(&state, known, __ATOMIC_RELAXED);
    }
    return known && !__atomic_load_n(&portable_only, __ATOMIC_RELAXED);
}

AVX2 static void forward_avx2(const rf_deep_layout *lay, const double *theta, const double *F, double *Z, double *H,
                              double *N, double *R) { forward_body(lay, theta, F, Z, H, N, R); }
static void forward_portable(const rf_deep_layout *lay, const double *theta, const double *F, double *Z, double *H,
                             double *N, double *R) { forward_body(lay, theta, F, Z, H, N, R); }

void rf_deep_forward(const rf_deep_layout *lay, const double *theta, const double *F, double *Z, double *H,
                     double *N, double *R) {
    if (has_avx2()) forward_avx2(lay, theta, F, Z, H, N, R); else forward_portable(lay, theta, F, Z, H, N, R);
}

AVX2 static void backward_avx2(const rf_deep_layout *lay, const double *theta, const double *H, const double *S,
                               const double *dOut, long su, long sg, double *Dl, double *grad) {
    backward_body(lay, theta, H, S, dOut, su, sg, Dl, grad);
}
static void backward_portable(const rf_deep_layout *lay, const double *theta, const double *H, const double *S,
                              const double *dOut, long su, long sg, double *Dl, double *grad) {
    backward_body(lay, theta, H, S, dOut, su, sg, Dl, grad);
}

void rf_deep_backward(const rf_deep_layout *lay, const double *theta, const double *H, const double *S,
                      const double *dOut, long seed_unit, long seed_group, double *Dl, double *grad) {
    if (has_avx2()) backward_avx2(lay, theta, H, S, dOut, seed_unit, seed_group, Dl, grad);
    else backward_portable(lay, theta, H, S, dOut, seed_unit, seed_group, Dl, grad);
}

AVX2 static void tangent_avx2(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                              const double *H, double *zdot, double *ndot) { tangent_body(lay, theta, u, F, H, zdot, ndot); }
static void tangent_portable(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                             const double *H, double *zdot, double *ndot) { tangent_body(lay, theta, u, F, H, zdot, ndot); }

void rf_deep_tangent(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                     const double *H, double *zdot, double *ndot) {
    if (has_avx2()) tangent_avx2(lay, theta, u, F, H, zdot, ndot); else tangent_portable(lay, theta, u, F, H, zdot, ndot);
}

AVX2 static void hv_avx2(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                         const double *H, const double *S, const double *dOut, const double *Dl, double invM,
                         double *work, double *out) { hessian_vector_body(lay, theta, u, F, H, S, dOut, Dl, invM, work, out); }
static void hv_portable(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                        const double *H, const double *S, const double *dOut, const double *Dl, double invM,
                        double *work, double *out) { hessian_vector_body(lay, theta, u, F, H, S, dOut, Dl, invM, work, out); }

void rf_deep_hessian_vector(const rf_deep_layout *lay, const double *theta, const double *u, const double *F,
                            const double *H, const double *S, const double *dOut, const double *Dl, double invM,
                            double *work, double *out) {
    if (has_avx2()) hv_avx2(lay, theta, u, F, H, S, dOut, Dl, invM, work, out);
    else hv_portable(lay, theta, u, F, H, S, dOut, Dl, invM, work, out);
}

// MARK: The fused field (rf_deep_fused_field)
//
// The workspace keeps every row padded to Gp = G rounded up to whole lanes (4): the elementwise
// passes then run on whole vectors (a padding lane computes from zeros and never reaches a real
// lane: lanes do not mix), and a sum over groups reads only the real groups: the full lane blocks
// g < G4 into four lane sums, then the tail's products one group at a time, as `dot`.

// One entry of the gradient: Σ_g a[g] b[g] (b = ones: Σ_g a[g], bitwise `sum`, as x·1 = x) into
// f[out] as −Σ (f = −∇L).
typedef struct {
    const double *a, *b;
    long out;
} rf_fused_entry;

// Four consecutive entries of one layer (the missing ones of a short last batch read the zero row),
// and whether their outputs are four consecutive θ entries (then one vector store).
typedef struct {
    const double *a[4], *b[4];
    long out[4];
    long count, contiguous;
} rf_fused_batch;

struct rf_deep_fused {
    int L;
    long G, Gp, full, tail, n, P, c0;
    long *widths, *woff, *boff, *uoff;
    double *xT, *mult, *ysum, *ones, *zero;   // inputs (d × Gp), μ, Y, 1, 0 (Gp)
    double *F, *Z, *H, *D;                    // n × Gp
    double *N, *R, *dOut;                     // Gp
    rf_fused_entry *plan;                     // the gradient's entries, layer by layer
    long *planStart;                          // entries of layer L − j: planStart[j] ..< planStart[j + 1]
    rf_fused_batch *batches;                  // the same in fours
    long *batchStart;                         // batches of layer L − j: batchStart[j] ..< batchStart[j + 1]
    long *fwdCode, *gradCode, *downCode;      // per layer l: which compiled copy runs it (fused_codes)
    long outCode;
    int covers;                               // every θ entry has a plan entry
    void *block;
};

#define FW(w, l, i, k) (theta[(w)->woff[(l) - 1] + (i) * (w)->widths[(l) - 1] + (k)])

INLINE const double *fused_input(const rf_deep_fused *w, int l, long Gp) {
    return l == 1 ? w->xT : w->H + w->uoff[l - 1] * Gp;
}

// Which compiled copy of each layer's passes runs it, fixed by the layout (fused_body's switches;
// chosen once here instead of by tests of the widths and offsets at every evaluation). Forward:
// the widths (below, n_l) as constants where the layer reads one input or is as wide as the one
// below, with at most four units (shape 1 … 11, 0: both at run time), times 2, + 1 with biases.
// Gradient entries straight from the rows (fused_hidden_grad, fused_output_grad) where the widths
// are small and the biases follow the weights in θ (else 0: the plan's batches). Down: n_l ≤ 4 a
// constant, below too where equal.
static long fused_shape(long below, long nl) {
    if (below == 1) return nl <= 4 ? nl : 5;
    if (below <= 4) return 2 * below + 2 + (nl == below ? 0 : 1);
    return 0;
}

static void fused_codes(rf_deep_fused *w) {
    const int L = w->L;
    for (int l = 1; l < L; l++) {
        const long nl = w->widths[l], below = w->widths[l - 1], wo = w->woff[l - 1], bo = w->boff[l - 1];
        w->fwdCode[l] = 2 * fused_shape(below, nl) + (bo >= 0);
        long g = 0;
        if (nl <= 4 && (nl == below || below == 1) && (bo < 0 || bo == wo + nl * below))
            g = (nl == below ? 2 * nl : 8 + 2 * nl) + (bo >= 0);
        w->gradCode[l] = g;
        w->downCode[l] = nl <= 4 ? 2 * nl + (below == nl ? 0 : 1) : 0;
    }
    const long below = w->widths[L - 1], wo = w->woff[L - 1], bo = w->c0;
    w->outCode = below <= 4 && (bo < 0 || bo == wo + below) && w->boff[L - 1] < 0 ? 2 * below + (bo >= 0) : 0;
}

rf_deep_fused *rf_deep_fused_new(const rf_deep_layout *lay) {
    rf_deep_fused *w = calloc(1, sizeof(rf_deep_fused));
    if (!w) return NULL;
    const int L = lay->L;
    const long G = lay->G, Gp = (G + 3) & ~3L, n = lay->n, d = lay->widths[0];
    w->L = L; w->G = G; w->Gp = Gp; w->full = G / 4; w->tail = G % 4; w->n = n; w->P = lay->P; w->c0 = lay->c0;
    long entries = 0;
    for (int l = 1; l <= L; l++) entries += lay->widths[l] * lay->widths[l - 1] + (lay->boff[l - 1] >= 0 ? lay->widths[l] : 0);
    if (lay->c0 >= 0) entries += 1;
    const long doubles = d * Gp + 5 * Gp + 4 * n * Gp + 3 * Gp;
    const size_t bytes = sizeof(double) * (size_t)(doubles + 8) + sizeof(long) * (size_t)(4 * (L + 1) + L + 2)
                         + sizeof(rf_fused_entry) * (size_t)(entries + 1)
                         + sizeof(long) * (size_t)(L + 2 + 3 * (L + 1)) + sizeof(rf_fused_batch) * (size_t)(entries + L + 1);
    char *block = NULL;
    if (posix_memalign((void **)&block, 64, bytes) != 0) { free(w); return NULL; }
    memset(block, 0, bytes);
    w->block = block;
    double *q = (double *)block;
    w->xT = q; q += d * Gp;
    w->mult = q; q += Gp;
    w->ysum = q; q += Gp;
    w->ones = q; q += Gp;
    w->zero = q; q += Gp;
    w->N = q; q += Gp;
    w->R = q; q += Gp;
    w->dOut = q; q += Gp;
    w->F = q; q += n * Gp;
    w->Z = q; q += n * Gp;
    w->H = q; q += n * Gp;
    w->D = q; q += n * Gp;
    long *li = (long *)(q + 8);
    w->widths = li; li += L + 1;
    w->woff = li; li += L + 1;
    w->boff = li; li += L + 1;
    w->uoff = li; li += L + 1;
    w->planStart = li; li += L + 2;
    w->batchStart = li; li += L + 2;
    w->fwdCode = li; li += L + 1;
    w->gradCode = li; li += L + 1;
    w->downCode = li; li += L + 1;
    w->plan = (rf_fused_entry *)li;
    w->batches = (rf_fused_batch *)(w->plan + entries + 1);
    for (int l = 0; l <= L; l++) w->widths[l] = lay->widths[l];
    for (int l = 0; l < L; l++) { w->woff[l] = lay->woff[l]; w->boff[l] = lay->boff[l]; }
    for (int l = 1; l < L; l++) w->uoff[l] = lay->uoff[l];
    for (long k = 0; k < d; k++) for (long g = 0; g < G; g++) w->xT[k * Gp + g] = lay->xT[k * G + g];
    for (long g = 0; g < G; g++) { w->mult[g] = lay->mult[g]; w->ysum[g] = lay->ysum[g]; }
    for (long g = 0; g < Gp; g++) w->ones[g] = 1;
    // The plan: layer L (a = dOut), then L − 1, …, 1 (a = the rows of D), in the order the
    // backward pass makes them available; within a layer W_l row by row, then b_l.
    long e = 0, covered = 0;
    for (int l = L; l >= 1; l--) {
        w->planStart[L - l] = e;
        const long nl = lay->widths[l], below = lay->widths[l - 1];
        const double *in = fused_input(w, l, Gp);
        for (long i = 0; i < nl; i++) {
            const double *a = l == L ? w->dOut : w->D + (lay->uoff[l] + i) * Gp;
            for (long k = 0; k < below; k++)
                w->plan[e++] = (rf_fused_entry){a, in + k * Gp, lay->woff[l - 1] + i * below + k};
        }
        if (lay->boff[l - 1] >= 0) {
            for (long i = 0; i < nl; i++) {
                const double *a = l == L ? w->dOut : w->D + (lay->uoff[l] + i) * Gp;
                w->plan[e++] = (rf_fused_entry){a, w->ones, lay->boff[l - 1] + i};
            }
        }
        if (l == L && lay->c0 >= 0) w->plan[e++] = (rf_fused_entry){w->dOut, w->ones, lay->c0};
        covered = e;
    }
    w->planStart[L] = e;
    w->covers = covered == lay->P;
    long nb = 0;
    for (int j = 0; j < L; j++) {
        w->batchStart[j] = nb;
        for (long q = w->planStart[j]; q < w->planStart[j + 1]; q += 4) {
            rf_fused_batch *bt = &w->batches[nb++];
            const long end = w->planStart[j + 1];
            bt->count = end - q < 4 ? end - q : 4;
            bt->contiguous = bt->count == 4;
            for (long t = 0; t < 4; t++) {
                const int real = t < bt->count;
                bt->a[t] = real ? w->plan[q + t].a : w->zero;
                bt->b[t] = real ? w->plan[q + t].b : w->zero;
                bt->out[t] = real ? w->plan[q + t].out : -1;
                if (real && w->plan[q + t].out != w->plan[q].out + t) bt->contiguous = 0;
            }
        }
    }
    w->batchStart[L] = nb;
    fused_codes(w);
    return w;
}

void rf_deep_fused_free(rf_deep_fused *w) {
    if (!w) return;
    free(w->block);
    free(w);
}

// The masks are multiplied in even where all are 1 (h = 1·z = z, D = 1·a = a: the same bits), which
// costs no more than testing for it.
void rf_deep_fused_masks(rf_deep_fused *w, const double *F) {
    for (long u = 0; u < w->n; u++)
        for (long g = 0; g < w->G; g++) w->F[u * w->Gp + g] = F[u * w->G + g];
}

#define SH(a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)

// The sums of four entries (lane k: entry k) from their lane sums c over the full blocks, added as
// ((l0 + l1) + (l2 + l3)) by shuffles, and the products q of the tail block (its first r groups),
// added group by group: exactly as `dot` adds them.
INLINE v4d fused_sums(v4d c0, v4d c1, v4d c2, v4d c3, v4d q0, v4d q1, v4d q2, v4d q3, const long r) {
    const v4d t1 = SH(c0, c1, 0, 4, 2, 6) + SH(c0, c1, 1, 5, 3, 7);   // l0 + l1, l2 + l3 of c0, c1
    const v4d t2 = SH(c2, c3, 0, 4, 2, 6) + SH(c2, c3, 1, 5, 3, 7);
    v4d s = SH(t1, t2, 0, 1, 4, 5) + SH(t1, t2, 2, 3, 6, 7);
    if (r) {
        const v4d e01 = SH(q0, q1, 0, 4, 2, 6), e23 = SH(q2, q3, 0, 4, 2, 6);   // groups 0, 2
        s += SH(e01, e23, 0, 1, 4, 5);
        if (r > 1) {
            const v4d o01 = SH(q0, q1, 1, 5, 3, 7), o23 = SH(q2, q3, 1, 5, 3, 7);   // groups 1, 3
            s += SH(o01, o23, 0, 1, 4, 5);
        }
        if (r > 2) s += SH(e01, e23, 2, 3, 6, 7);
    }
    return s;
}

// Four entries at once (a batch; a short one's missing entries read the zero row and are not
// stored): each entry's lane sums over the full blocks and the tail's products, added by
// `fused_sums`; stored as −Σ (f = −∇L).
INLINE void fused_batch(const rf_fused_batch *bt, const long full, const long r, double *f) {
    const double *a0 = bt->a[0], *a1 = bt->a[1], *a2 = bt->a[2], *a3 = bt->a[3];
    const double *b0 = bt->b[0], *b1 = bt->b[1], *b2 = bt->b[2], *b3 = bt->b[3];
    v4d c0 = SPLAT(0.0), c1 = SPLAT(0.0), c2 = SPLAT(0.0), c3 = SPLAT(0.0);
    for (long j = 0; j < full; j++) {
        const long o = 4 * j;
        c0 += LD(a0 + o) * LD(b0 + o);
        c1 += LD(a1 + o) * LD(b1 + o);
        c2 += LD(a2 + o) * LD(b2 + o);
        c3 += LD(a3 + o) * LD(b3 + o);
    }
    v4d p0 = SPLAT(0.0), p1 = SPLAT(0.0), p2 = SPLAT(0.0), p3 = SPLAT(0.0);
    if (r) {
        const long o = 4 * full;
        p0 = LD(a0 + o) * LD(b0 + o), p1 = LD(a1 + o) * LD(b1 + o);
        p2 = LD(a2 + o) * LD(b2 + o), p3 = LD(a3 + o) * LD(b3 + o);
    }
    const v4d s = -fused_sums(c0, c1, c2, c3, p0, p1, p2, p3, r);
    if (bt->contiguous) {
        ST(f + bt->out[0], s);
        return;
    }
    const long count = bt->count;
    f[bt->out[0]] = s[0];
    if (count > 1) f[bt->out[1]] = s[1];
    if (count > 2) f[bt->out[2]] = s[2];
    if (count > 3) f[bt->out[3]] = s[3];
}

INLINE void fused_layer_entries(const rf_deep_fused *w, int l, const long full, const long r, double *f) {
    const long start = w->batchStart[w->L - l], end = w->batchStart[w->L - l + 1];
    for (long q = start; q < end; q++) fused_batch(w->batches + q, full, r, f);
}

// A layer's width as a compile-time constant for the small ones (1 … 4: the loops over it unroll).
#define WIDTH_CASES(n, call)                                                                                 \
    switch (n) {                                                                                             \
    case 1: call(1); break; case 2: call(2); break; case 3: call(3); break; case 4: call(4); break;          \
    default: call(n); break;                                                                                 \
    }

// The gradient's entries of one layer straight from its rows, in θ order, four at a time:
// out[e] = −Σ_g a_e[g] b_e[g] for e < E = nl·below + nbias, where entry e < nl·below pairs row
// i = e / below of A (the layer's rows of D, or dOut) with input row k = e mod below of X (W_l row
// by row), and entry nl·below + i sums row i of A (b_l or c_0: Σ_g a[g], bitwise `sum`, as
// `dot` with b = 1 would give: a·1 = a). Each entry's sum is `dot`'s: four lane sums over the full
// blocks of four (g mod 4), added as ((l0 + l1) + (l2 + l3)), then the tail's products group by
// group (four entries side by side in lanes, which do not mix) — except that a lane sum starts
// from its first product instead of 0 + it and the sum gets + 0 at the end instead: adding +0 only
// turns −0 into +0, and (x + 0) + y = (x + y) + 0 for every x, y (round to nearest: a sum is −0
// only where both terms are), so the bits are `dot`'s with three adds fewer per four entries.
// Called with the widths compile-time constants (and G in the specialised copies): the loops unroll
// and every row is read at a fixed offset.
INLINE void fused_entries(const double *restrict A, const double *restrict X, const long Gp, const long nl,
                          const long below, const long nbias, const long full, const long r, double *restrict out) {
    const long NW = nl * below, E = NW + nbias;
    for (long e0 = 0; e0 < E; e0 += 4) {
        v4d c[4], q[4];
        for (long t = 0; t < 4; t++) {
            const long e = e0 + t;
            c[t] = SPLAT(0.0);
            q[t] = SPLAT(0.0);
            if (e >= E) continue;
            if (e < NW) {
                const double *a = A + (e / below) * Gp, *b = X + (e % below) * Gp;
                if (full) {
                    c[t] = LD(a) * LD(b);
                    for (long j = 1; j < full; j++) c[t] += LD(a + 4 * j) * LD(b + 4 * j);
                }
                if (r) q[t] = LD(a + 4 * full) * LD(b + 4 * full);
            } else {
                const double *a = A + (e - NW) * Gp;
                if (full) {
                    c[t] = LD(a);
                    for (long j = 1; j < full; j++) c[t] += LD(a + 4 * j);
                }
                if (r) q[t] = LD(a + 4 * full);
            }
        }
        const v4d s = -(fused_sums(c[0], c[1], c[2], c[3], q[0], q[1], q[2], q[3], r) + SPLAT(0.0));
        const long count = E - e0;
        if (count >= 4) {
            ST(out + e0, s);
        } else {
            out[e0] = s[0];
            if (count > 1) out[e0 + 1] = s[1];
            if (count > 2) out[e0 + 2] = s[2];
        }
    }
}

// The entries of the output layer (W_L, then c_0 where it follows W_L in θ, SPEC §8's order: one
// run) and of hidden layer l (W_l, then b_l where it follows) straight from the rows where the
// widths are compile-time constants (the output's inputs, a layer as wide as the one below or on
// one input, up to four units); the plan's batches otherwise (wider layers, other layouts), where
// the table of rows costs less than the loops over runtime widths.
INLINE void fused_output_grad(const rf_deep_fused *w, const long Gp, const long full, const long r, double *f) {
    const int L = w->L;
    const long wo = w->woff[L - 1];
    const double *A = w->dOut, *X = fused_input(w, L, Gp);
#define ENTRIES_OUTPUT(n)                                                                           \
    case 2 * (n): fused_entries(A, X, Gp, 1, (n), 0, full, r, f + wo); break;                      \
    case 2 * (n) + 1: fused_entries(A, X, Gp, 1, (n), 1, full, r, f + wo); break;
    switch (w->outCode) {
    ENTRIES_OUTPUT(1) ENTRIES_OUTPUT(2) ENTRIES_OUTPUT(3) ENTRIES_OUTPUT(4)
    default: fused_layer_entries(w, L, full, r, f); break;
    }
#undef ENTRIES_OUTPUT
}

INLINE void fused_hidden_grad(const rf_deep_fused *w, int l, const long Gp, const long full, const long r, double *f) {
    const long wo = w->woff[l - 1];
    const double *A = w->D + w->uoff[l] * Gp, *X = fused_input(w, l, Gp);
#define ENTRIES_SQUARE(n)                                                                           \
    case 2 * (n): fused_entries(A, X, Gp, (n), (n), 0, full, r, f + wo); break;                    \
    case 2 * (n) + 1: fused_entries(A, X, Gp, (n), (n), (n), full, r, f + wo); break;
#define ENTRIES_ONE_INPUT(n)                                                                        \
    case 8 + 2 * (n): fused_entries(A, X, Gp, (n), 1, 0, full, r, f + wo); break;                  \
    case 9 + 2 * (n): fused_entries(A, X, Gp, (n), 1, (n), full, r, f + wo); break;
    switch (w->gradCode[l]) {
    ENTRIES_SQUARE(1) ENTRIES_SQUARE(2) ENTRIES_SQUARE(3) ENTRIES_SQUARE(4)
    ENTRIES_ONE_INPUT(2) ENTRIES_ONE_INPUT(3) ENTRIES_ONE_INPUT(4)
    default: fused_layer_entries(w, l, full, r, f); break;
    }
#undef ENTRIES_SQUARE
#undef ENTRIES_ONE_INPUT
}

// |f|² (p in order, as DeepModeField's loop) and the copies for the caller's memos in one pass
// over f: four squares in lanes, added one at a time in p order (the same products and sums).
INLINE void fused_norm_copy(double *norm2, const double *f, const double *theta, double *theta_copy,
                            double *y_copy, double *f_copy, const long p) {
    const double fp = f[p], tp = theta[p];
    *norm2 += fp * fp;
    theta_copy[p] = tp;
    y_copy[p] = tp;
    f_copy[p] = fp;
}

INLINE void fused_norm_copies(const rf_deep_fused *w, const double *theta, double *f, double *theta_copy,
                              double *y_copy, double *f_copy) {
    const long P = w->P, P4 = P & ~3L;
    double norm2 = 0;
    for (long p = 0; p < P4; p += 4) {
        const v4d fv = LD(f + p), t = LD(theta + p);
        const v4d sq = fv * fv;
        norm2 += sq[0];
        norm2 += sq[1];
        norm2 += sq[2];
        norm2 += sq[3];
        ST(theta_copy + p, t);
        ST(y_copy + p, t);
        ST(f_copy + p, fv);
    }
    // The last P mod 4 entries one by one (no loop: at most three).
    if (P4 < P) {
        fused_norm_copy(&norm2, f, theta, theta_copy, y_copy, f_copy, P4);
        if (P4 + 1 < P) fused_norm_copy(&norm2, f, theta, theta_copy, y_copy, f_copy, P4 + 1);
        if (P4 + 2 < P) fused_norm_copy(&norm2, f, theta, theta_copy, y_copy, f_copy, P4 + 2);
    }
    f[P] = norm2;
    y_copy[P] = theta[P];
    f_copy[P] = norm2;
}

// G is a compile-time constant in the specialised copies (one function per group count, chosen from
// the entry point's table): the loops over lane blocks then unroll and their accumulators (up to four
// blocks at a time: CH) stay in registers.
// BLOCK_CHUNKS: the lane blocks of a row, CH at a time (j0, nb); one chunk of exactly B blocks where
// B ≤ CH, so that nb is a compile-time constant there and the accumulators a[j] are registers.
#define CH 4
#define BLOCK_CHUNKS(B, ...)                                                                        \
    if ((B) <= CH) {                                                                                \
        const long j0 = 0, nb = (B);                                                                \
        __VA_ARGS__                                                                                 \
    } else {                                                                                        \
        long j0 = 0;                                                                                \
        for (; j0 + CH <= (B); j0 += CH) {                                                          \
            const long nb = CH;                                                                     \
            __VA_ARGS__                                                                             \
        }                                                                                           \
        if (j0 < (B)) {                                                                             \
            const long nb = (B) - j0;                                                               \
            __VA_ARGS__                                                                             \
        }                                                                                           \
    }

// Whether any of the n weights from wl is ±0 (NaN is not).
INLINE int fused_any_zero(const double *wl, const long n) {
    typedef __typeof__(SPLAT(0.0) == SPLAT(0.0)) v4m;
    v4m m = {0, 0, 0, 0};
    long k = 0;
    for (; k + 4 <= n; k += 4) m |= LD(wl + k) == SPLAT(0.0);
    int z = ((m[0] | m[1]) | (m[2] | m[3])) != 0;
    for (; k < n; k++) z |= wl[k] == 0;
    return z;
}

// Hidden layer l's rows: z = b + Σ_k w_k x_k (k in order, zero weights skipped), h = f z.
// (The layer's rows with and without biases: `bias` a compile-time constant, no test per unit.)
// A zero weight's term is skipped, not added (w x = ±0 would turn a −0 sum into +0, and 0·∞ is
// NaN), and testing every weight costs more than the rest of its work: the copies with constant
// widths (skip = 0) test the layer's weights once, and where one is zero the layer runs in the
// general copy (fused_forward_exact, skip = 1), which tests each weight.
static void fused_forward_exact_avx2(rf_deep_fused *w, const double *theta, int l, long Gp, long B);
static void fused_forward_exact_portable(rf_deep_fused *w, const double *theta, int l, long Gp, long B);

INLINE void fused_forward_rows(rf_deep_fused *w, const double *theta, int l, const long Gp, const long B,
                                      const long below, const long nl, const int bias, const int skip) {
    const double *wl = theta + w->woff[l - 1];
    if (!skip && fused_any_zero(wl, nl * below)) {
        // (A rare path: the build chosen by the CPU as the entry point chooses it; both give the same bits.)
        (has_avx2() ? fused_forward_exact_avx2 : fused_forward_exact_portable)(w, theta, l, Gp, B);
        return;
    }
    const double *bl = bias ? theta + w->boff[l - 1] : theta;
    const double *in = fused_input(w, l, Gp);
    double *const Z = w->Z + w->uoff[l] * Gp, *const H = w->H + w->uoff[l] * Gp;
    const double *const F = w->F + w->uoff[l] * Gp;
    // Fully unrolled where nl is a compile-time constant; in the copies where it is not, clang
    // cannot, and says so once per copy: that warning is expected (silenced here only).
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpass-failed"
#pragma clang loop unroll(full)
    for (long i = 0; i < nl; i++) {
        const double *wr = wl + i * below;
        const double bi = bias ? bl[i] : 0.0;   // one scalar, then its lanes
        const v4d b = SPLAT(bi);
        const long row = i * Gp;
        BLOCK_CHUNKS(B, {
            v4d a[CH];
            for (long j = 0; j < nb; j++) a[j] = b;
            for (long k = 0; k < below; k++) {
                if (skip && wr[k] == 0) continue;
                const v4d wk = SPLAT(wr[k]);
                const double *x = in + k * Gp + 4 * j0;
                for (long j = 0; j < nb; j++) a[j] += wk * LD(x + 4 * j);
            }
            for (long j = 0; j < nb; j++) {
                const long o = row + 4 * (j0 + j);
                ST(Z + o, a[j]);
                ST(H + o, LD(F + o) * a[j]);
            }
        })
    }
#pragma clang diagnostic pop
}

#define FORWARD_EXACT(name, attr)                                                                   \
    attr static __attribute__((noinline)) void name(rf_deep_fused *w, const double *theta, int l, long Gp, long B) { \
        if (w->boff[l - 1] >= 0) fused_forward_rows(w, theta, l, Gp, B, w->widths[l - 1], w->widths[l], 1, 1); \
        else fused_forward_rows(w, theta, l, Gp, B, w->widths[l - 1], w->widths[l], 0, 1);                    \
    }
FORWARD_EXACT(fused_forward_exact_avx2, AVX2)
FORWARD_EXACT(fused_forward_exact_portable, )
#undef FORWARD_EXACT

// The output: N = c_0 + Σ_k w_k h_k (k in order), R = μ N − Y, dOut = R/m; then the start of the
// backward pass (backward_body's operations with S = F), D_{L−1} = F (w_k dOut), here where `below`
// is a constant.
INLINE void fused_output(rf_deep_fused *w, const double *theta, double invM, const long Gp, const long B,
                                const long below) {
    const double c0s = w->c0 >= 0 ? theta[w->c0] : 0.0;
    const v4d c0 = SPLAT(c0s);
    const double *in = fused_input(w, w->L, Gp);
    const double *wr = theta + w->woff[w->L - 1];
    double *const N = w->N, *const R = w->R, *const dOut = w->dOut;   // (read once: the stores may alias w)
    const double *const mult = w->mult, *const ysum = w->ysum;
    BLOCK_CHUNKS(B, {
        v4d a[CH];
        for (long j = 0; j < nb; j++) a[j] = c0;
        for (long k = 0; k < below; k++) {
            const v4d wk = SPLAT(wr[k]);
            const double *x = in + k * Gp + 4 * j0;
            for (long j = 0; j < nb; j++) a[j] += wk * LD(x + 4 * j);
        }
        for (long j = 0; j < nb; j++) {
            const long o = 4 * (j0 + j);
            ST(N + o, a[j]);
            const v4d r = LD(mult + o) * a[j] - LD(ysum + o);
            ST(R + o, r);
            ST(dOut + o, r * SPLAT(invM));
        }
    })
    if (w->L > 1) {
        const long rows = w->uoff[w->L - 1] * Gp;
        double *const Dp = w->D;
        const double *const Fp = w->F, *const dO = dOut;
        for (long k = 0; k < below; k++) {
            const v4d wk = SPLAT(wr[k]);
            const long row = rows + k * Gp;
            for (long j = 0; j < B; j++) {
                const long o = 4 * j;
                ST(Dp + row + o, LD(Fp + row + o) * wk * LD(dO + o));
            }
        }
    }
}

// D_{l−1} = F ∘ Σ_i w_ik D_i (i in order) for every unit k of layer l − 1.
INLINE void fused_down(rf_deep_fused *w, const double *theta, int l, const long Gp, const long B,
                              const long nl, const long below) {
    const double *Dlayer = w->D + w->uoff[l] * Gp;
    const double *wl = theta + w->woff[l - 1];
    const long rows = w->uoff[l - 1] * Gp;
    double *const Dp = w->D;
    const double *const Fp = w->F;
    for (long k = 0; k < below; k++) {
        const long rowK = rows + k * Gp;
        BLOCK_CHUNKS(B, {
            v4d a[CH];
            for (long j = 0; j < nb; j++) a[j] = SPLAT(0.0);
            for (long i = 0; i < nl; i++) {
                const v4d wik = SPLAT(wl[i * below + k]);
                const double *D = Dlayer + i * Gp + 4 * j0;
                for (long j = 0; j < nb; j++) a[j] += wik * LD(D + 4 * j);
            }
            for (long j = 0; j < nb; j++) {
                const long o = rowK + 4 * (j0 + j);
                ST(Dp + o, LD(Fp + o) * a[j]);
            }
        })
    }
}

INLINE void fused_body(rf_deep_fused *w, const double *theta, double invM, double *f, double *theta_copy,
                              double *y_copy, double *f_copy, const long G) {
    const long Gp = (G + 3) & ~3L, B = Gp / 4, full = G / 4, tail = G % 4;
    const int L = w->L;
    // Forward (forward_body's operations), then the output and dOut.
    for (int l = 1; l < L; l++) {
// Both widths are constants where the layer is as wide as the one below (the usual equal hidden
// widths) or reads one input (a first layer on scalar inputs) and has at most four units
// (fused_codes: 2 × shape + bias).
        const long below = w->widths[l - 1], nl = w->widths[l];
#define FORWARD(code, b, n)                                                                         \
    case 2 * (code): fused_forward_rows(w, theta, l, Gp, B, (b), (n), 0, 0); break;      \
    case 2 * (code) + 1: fused_forward_rows(w, theta, l, Gp, B, (b), (n), 1, 0); break;
        switch (w->fwdCode[l]) {
        FORWARD(0, below, nl)
        FORWARD(1, 1, 1) FORWARD(2, 1, 2) FORWARD(3, 1, 3) FORWARD(4, 1, 4) FORWARD(5, 1, nl)
        FORWARD(6, 2, 2) FORWARD(7, 2, nl) FORWARD(8, 3, 3) FORWARD(9, 3, nl) FORWARD(10, 4, 4) FORWARD(11, 4, nl)
        }
#undef FORWARD
    }
#define OUTPUT(n) fused_output(w, theta, invM, Gp, B, (n))
    WIDTH_CASES(w->widths[L - 1], OUTPUT)
#undef OUTPUT
    // Backward (backward_body's operations with S = F; D_{L−1} made by fused_output): the entries of
    // W_L (and c_0), then layer by layer the entries of W_l, b_l and D_{l−1} = F ∘ Σ_i w_ik D_i.
    if (!w->covers) for (long p = 0; p < w->P; p++) f[p] = -0.0;
    fused_output_grad(w, Gp, full, tail, f);
    for (int l = L - 1; l >= 1; l--) {
        fused_hidden_grad(w, l, Gp, full, tail, f);
        if (l == 1) break;
        const long nl = w->widths[l], below = w->widths[l - 1];
#define DOWN(n)                                                                                     \
    case 2 * (n): fused_down(w, theta, l, Gp, B, (n), (n)); break;                       \
    case 2 * (n) + 1: fused_down(w, theta, l, Gp, B, (n), below); break;
        switch (w->downCode[l]) {
        DOWN(1) DOWN(2) DOWN(3) DOWN(4)
        default: fused_down(w, theta, l, Gp, B, nl, below); break;
        }
#undef DOWN
    }
    fused_norm_copies(w, theta, f, theta_copy, y_copy, f_copy);
}

// Copies specialised for G = 1 … 16 groups (the small problems where loop overhead dominates),
// the general one (index 0) beyond: separate functions (each its own registers and frame, instead
// of one function holding every copy), chosen by G from a table.
typedef void rf_fused_copy(rf_deep_fused *w, const double *theta, double invM, double *f, double *theta_copy,
                           double *y_copy, double *f_copy);
#define FUSED_COPY(g)                                                                                       \
    AVX2 static __attribute__((noinline)) void fused_avx2_##g(rf_deep_fused *w, const double *theta, double invM, \
            double *f, double *theta_copy, double *y_copy, double *f_copy) {                                 \
        fused_body(w, theta, invM, f, theta_copy, y_copy, f_copy, (g) ? (g) : w->G);                         \
    }                                                                                                        \
    static __attribute__((noinline)) void fused_portable_##g(rf_deep_fused *w, const double *theta, double invM, \
            double *f, double *theta_copy, double *y_copy, double *f_copy) {                                 \
        fused_body(w, theta, invM, f, theta_copy, y_copy, f_copy, (g) ? (g) : w->G);                         \
    }
FUSED_COPY(0) FUSED_COPY(1) FUSED_COPY(2) FUSED_COPY(3) FUSED_COPY(4) FUSED_COPY(5) FUSED_COPY(6) FUSED_COPY(7)
FUSED_COPY(8) FUSED_COPY(9) FUSED_COPY(10) FUSED_COPY(11) FUSED_COPY(12) FUSED_COPY(13) FUSED_COPY(14)
FUSED_COPY(15) FUSED_COPY(16)
#undef FUSED_COPY
#define FUSED_TABLE(b) {b##_0, b##_1, b##_2, b##_3, b##_4, b##_5, b##_6, b##_7, b##_8, b##_9, b##_10, b##_11, b##_12, b##_13, b##_14, b##_15, b##_16}
static rf_fused_copy *const fused_avx2_copies[17] = FUSED_TABLE(fused_avx2);
static rf_fused_copy *const fused_portable_copies[17] = FUSED_TABLE(fused_portable);
#undef FUSED_TABLE

void rf_deep_fused_field(rf_deep_fused *w, const double *theta, double invM, double *f, double *theta_copy,
                         double *y_copy, double *f_copy) {
    const long c = w->G <= 16 ? w->G : 0;
    (has_avx2() ? fused_avx2_copies : fused_portable_copies)[c](w, theta, invM, f, theta_copy, y_copy, f_copy);
}

const double *rf_deep_fused_residuals(const rf_deep_fused *w) { return w->R; }

// A row of G doubles: a fixed-size copy (a few moves) for up to 16 groups, where a memcpy call
// costs more than its copy.
INLINE void copy_row(double *dst, const double *src, long G) {
    switch (G) {
#define ROW(k) case k: __builtin_memcpy(dst, src, (k) * sizeof(double)); return;
    ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11) ROW(12) ROW(13) ROW(14) ROW(15) ROW(16)
#undef ROW
    default: memcpy(dst, src, sizeof(double) * (size_t)G);
    }
}

void rf_deep_fused_export(const rf_deep_fused *w, double *Z, double *H, double *N, double *R, double *dOut) {
    const long G = w->G, Gp = w->Gp;
    for (long u = 0; u < w->n; u++) {
        copy_row(Z + u * G, w->Z + u * Gp, G);
        copy_row(H + u * G, w->H + u * Gp, G);
    }
    copy_row(N, w->N, G);
    copy_row(R, w->R, G);
    copy_row(dOut, w->dOut, G);
}
