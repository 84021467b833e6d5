#include "shallow_field.h"
#include "cpu.h"

// No fused multiply-add, whatever the flags: the results must be bitwise those of the Swift loops
// (and of the AVX2 passes in field_kernels.c), whichever build runs.
#pragma STDC FP_CONTRACT OFF
// The lane helpers are always inlined: no v4d crosses a call boundary of another ABI.
#pragma clang diagnostic ignored "-Wpsabi"

#include "lanes.h"

// SIMD4<Double>.sum(): (((−0 + v0) + v1) + v2) + v3; −0 + v0 is v0 bit for bit.
INLINE double lane_sum(v4d v) { return ((v[0] + v[1]) + v[2]) + v[3]; }

// The whole field for D input coordinates (a constant where the body is inlined, so the coordinate
// loops unroll). The order of operations is spelled out in shallow_field.h.
INLINE double field_body(const int D, long n, long G, const double *xgT, const double *mult, const double *ysum,
                         const double *y, int outputBias, double invM, const double *s,
                         double *N, double *R, double *work, double *f) {
    const long G4 = G & ~3L;
    const long bOff = n * D, cOff = n * D + n;
    const double c0 = outputBias ? y[2 * n + n * D] : 0;
    for (long g = 0; g < G; g++) N[g] = c0;
    // Pass 1: N_g += c_i (s_ig z_ig).
    for (long i = 0; i < n; i++) {
        const double *w = y + i * D;
        const double b = y[bOff + i], c = y[cOff + i];
        const double *si = s + i * G;
        long g = 0;
        for (; g < G4; g += 4) {
            v4d z = SPLAT(b);
            for (int k = 0; k < D; k++) z = z + w[k] * LD(xgT + k * G + g);
            ST(N + g, LD(N + g) + c * (LD(si + g) * z));
        }
        for (; g < G; g++) {
            double z = b;
            for (int k = 0; k < D; k++) z = z + w[k] * xgT[k * G + g];
            N[g] = N[g] + c * (si[g] * z);
        }
    }
    double sumR = 0;
    for (long g = 0; g < G; g++) {
        R[g] = mult[g] * N[g] - ysum[g];
        sumR = sumR + R[g];
    }
    // Pass 2: F_i = Σ_g s_ig R_g x̃_g, lane sums first.
    for (long i = 0; i < n; i++) {
        const double *w = y + i * D;
        const double b = y[bOff + i];
        const double *si = s + i * G;
        double F[D > 0 ? D + 1 : 1];
        v4d aB = SPLAT(0.0);
        long g = 0;
        if (D <= 4) {
            v4d aW[D > 0 ? D : 1];
            for (int k = 0; k < D; k++) aW[k] = SPLAT(0.0);
            for (; g < G4; g += 4) {
                v4d sr = LD(si + g) * LD(R + g);
                aB = aB + sr;
                for (int k = 0; k < D; k++) aW[k] = aW[k] + sr * LD(xgT + k * G + g);
            }
            for (int k = 0; k < D; k++) F[k] = lane_sum(aW[k]);
        } else {
            // s·R kept in work, then the w sums four coordinates at a time (each lane in g order,
            // as one coordinate at a time).
            for (; g < G4; g += 4) {
                v4d sr = LD(si + g) * LD(R + g);
                aB = aB + sr;
                ST(work + g, sr);
            }
            int k = 0;
            for (; k + 4 <= D; k += 4) {
                const double *xa = xgT + k * G, *xb = xa + G, *xc = xb + G, *xd = xc + G;
                v4d a0 = SPLAT(0.0), a1 = a0, a2 = a0, a3 = a0;
                for (long q = 0; q < G4; q += 4) {
                    v4d sr = LD(work + q);
                    a0 = a0 + sr * LD(xa + q);
                    a1 = a1 + sr * LD(xb + q);
                    a2 = a2 + sr * LD(xc + q);
                    a3 = a3 + sr * LD(xd + q);
                }
                F[k] = lane_sum(a0);
                F[k + 1] = lane_sum(a1);
                F[k + 2] = lane_sum(a2);
                F[k + 3] = lane_sum(a3);
            }
            for (; k < D; k++) {
                const double *xa = xgT + k * G;
                v4d a0 = SPLAT(0.0);
                for (long q = 0; q < G4; q += 4) a0 = a0 + LD(work + q) * LD(xa + q);
                F[k] = lane_sum(a0);
            }
        }
        double accB = lane_sum(aB);
        for (; g < G; g++) {
            const double sr = si[g] * R[g];
            for (int k = 0; k < D; k++) F[k] = F[k] + sr * xgT[k * G + g];
            accB = accB + sr;
        }
        // ∂L/∂c_i ∝ (w_i, b_i)·F_i (z_ig = x̃_g·(w_i, b_i)).
        double accC = b * accB;
        for (int k = 0; k < D; k++) accC = accC + w[k] * F[k];
        F[D] = accB;
        const double scale = -y[cOff + i] * invM;
        for (int q = 0; q <= D; q++) F[q] = F[q] * scale;
        for (int k = 0; k < D; k++) f[i * D + k] = F[k];
        f[bOff + i] = F[D];
        f[cOff + i] = -accC * invM;
    }
    if (outputBias) f[2 * n + n * D] = -sumR * invM;
    return sumR;
}

#define ARGS long n, long G, const double *xgT, const double *mult, const double *ysum, const double *y, \
             int outputBias, double invM, const double *s, double *N, double *R, double *work, double *f
#define PASS n, G, xgT, mult, ysum, y, outputBias, invM, s, N, R, work, f

static double field_portable(int d, ARGS) {
    switch (d) {
    case 1: return field_body(1, PASS);
    case 2: return field_body(2, PASS);
    case 3: return field_body(3, PASS);
    case 4: return field_body(4, PASS);
    default: return field_body(d, PASS);
    }
}

AVX2 static double field_avx2(int d, ARGS) {
    switch (d) {
    case 1: return field_body(1, PASS);
    case 2: return field_body(2, PASS);
    case 3: return field_body(3, PASS);
    case 4: return field_body(4, PASS);
    default: return field_body(d, PASS);
    }
}

static int has_avx2(void) {
    // Atomic: several runs of one process (sweep --in-process) evaluate at once.
    static int state = -1;
    int known = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (known < 0) {
        known = rf_cpu_has_avx2();
        __atomic_store_n(&state, known, __ATOMIC_RELAXED);
    }
    return known;
}

double rf_shallow_field(int d, ARGS, int vector) {
    if (vector && has_avx2()) return field_avx2(d, PASS);
    return field_portable(d, PASS);
}
