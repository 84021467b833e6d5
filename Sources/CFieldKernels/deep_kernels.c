#include "deep_kernels.h"
#include <string.h>

// No fused multiply-add, whatever the flags: the AVX2 and the portable builds of the passes (the
// same source) round identically, so results do not depend on the CPU.
#pragma STDC FP_CONTRACT OFF

// Four doubles, unaligned (GCC/Clang vector extension; two SSE2 halves without AVX2).
typedef double v4d __attribute__((vector_size(32), aligned(8)));
#define AVX2 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))

#define LD(p) (*(const v4d *)(p))
#define ST(p, v) (*(v4d *)(p) = (v))
#define SPLAT(x) ((v4d){(x), (x), (x), (x)})

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

void rf_deep_kernels_portable(int on) { portable_only = on; }

static int has_avx2(void) {
    static int state = -1;
    if (state < 0) {
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return state && !portable_only;
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
