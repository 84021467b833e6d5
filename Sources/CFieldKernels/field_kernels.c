#include "field_kernels.h"
#include "cpu.h"

// No fused multiply-add, whatever the flags (-march=native would allow it): the kernels must
// round like the Swift loops.
#pragma STDC FP_CONTRACT OFF

// Four doubles, unaligned: GCC/Clang vector extension, lane-wise arithmetic.
typedef double v4d __attribute__((vector_size(32), aligned(8)));
#define AVX2 __attribute__((target("avx2")))

typedef unsigned char v4u8 __attribute__((vector_size(4)));

// The slopes s_ig of four groups (bytes 0 or 1) as doubles, exactly 0.0 or 1.0.
AVX2 static inline __attribute__((always_inline)) v4d slopes(const unsigned char *s) {
    v4u8 bytes;
    __builtin_memcpy(&bytes, s, 4);
    return __builtin_convertvector(bytes, v4d);
}


int rf_field_kernels_available(void) {
    static int state = -1;
    if (state < 0) {
        state = rf_cpu_has_avx2();
    }
    return state;
}

// One body per d, so that the coordinate loop unrolls with constant trip count. The order of the
// additions is the Swift loops': z = ((b + w0 x0) + w1 x1) + …
#define OUTPUTS(D)                                                          \
    for (long g = 0; g < G4; g += 4) {                                      \
        v4d z = (v4d){b, b, b, b};                                          \
        for (int k = 0; k < (D); k++) z = z + w[k] * *(const v4d *)(xgT + k * G + g); \
        v4d hv = slopes(s + g) * z;                                 \
        *(v4d *)(N + g) = *(const v4d *)(N + g) + c * hv;                   \
    }

AVX2 static void outputs1(long G4, long G, const double *xgT, const double *w, double b, double c, const unsigned char *s, double *N) { OUTPUTS(1) }
AVX2 static void outputs2(long G4, long G, const double *xgT, const double *w, double b, double c, const unsigned char *s, double *N) { OUTPUTS(2) }
AVX2 static void outputs3(long G4, long G, const double *xgT, const double *w, double b, double c, const unsigned char *s, double *N) { OUTPUTS(3) }
AVX2 static void outputs4(long G4, long G, const double *xgT, const double *w, double b, double c, const unsigned char *s, double *N) { OUTPUTS(4) }

AVX2 static void outputsN(int d, long G4, long G, const double *xgT, const double *w, double b, double c, const unsigned char *s, double *N) { OUTPUTS(d) }

void rf_field_outputs(int d, long G4, long G, const double *xgT, const double *w, double b, double c,
                      const unsigned char *s, double *N) {
    switch (d) {
    case 1: outputs1(G4, G, xgT, w, b, c, s, N); break;
    case 2: outputs2(G4, G, xgT, w, b, c, s, N); break;
    case 3: outputs3(G4, G, xgT, w, b, c, s, N); break;
    case 4: outputs4(G4, G, xgT, w, b, c, s, N); break;
    default: outputsN(d, G4, G, xgT, w, b, c, s, N); break;
    }
}

// out[g] = b + Σ_k w_k x_k[g] for every g < G: lanes of four, then the tail one by one, the sum in
// the order of the Swift loop (ModeField.affineRow).
#define AFFINE(D)                                                           \
    long g = 0;                                                             \
    for (; g + 4 <= G; g += 4) {                                            \
        v4d v = (v4d){b, b, b, b};                                          \
        for (int k = 0; k < (D); k++) v = v + w[k] * *(const v4d *)(xgT + k * G + g); \
        *(v4d *)(out + g) = v;                                              \
    }                                                                       \
    for (; g < G; g++) {                                                    \
        double v = b;                                                       \
        for (int k = 0; k < (D); k++) v = v + w[k] * xgT[k * G + g];        \
        out[g] = v;                                                         \
    }

AVX2 static void affine1(long G, const double *xgT, const double *w, double b, double *out) { AFFINE(1) }
AVX2 static void affine2(long G, const double *xgT, const double *w, double b, double *out) { AFFINE(2) }
AVX2 static void affine3(long G, const double *xgT, const double *w, double b, double *out) { AFFINE(3) }
AVX2 static void affine4(long G, const double *xgT, const double *w, double b, double *out) { AFFINE(4) }

AVX2 static void affineN(int d, long G, const double *xgT, const double *w, double b, double *out) { AFFINE(d) }

void rf_affine_row(int d, long G, const double *xgT, const double *w, double b, double *out) {
    switch (d) {
    case 1: affine1(G, xgT, w, b, out); break;
    case 2: affine2(G, xgT, w, b, out); break;
    case 3: affine3(G, xgT, w, b, out); break;
    case 4: affine4(G, xgT, w, b, out); break;
    default: affineN(d, G, xgT, w, b, out); break;
    }
}

typedef long long v4i __attribute__((vector_size(32), aligned(8)));

// The event scan's screen (EventDetector.scan): with s = ±1 the on/off sign, e1 = s z1,
// d0 = s ż0, d1 = s ż1, a lane passes when min(e1, max(d0, −d1)) ≥ 0, with the Swift code's
// selects: max takes −d1 only where −d1 > d0, min takes the rate only where it is < e1. A NaN in
// z1 fails the lane; a NaN rate with e1 ≥ 0 passes, as in the Swift loop.
AVX2 static long screen(long G4, const unsigned char *s, const double *z1, const double *zdot0, const double *zdot1, long *hits) {
    long count = 0;
    const v4d one = {1, 1, 1, 1}, zero = {0, 0, 0, 0};
    for (long g = 0; g < G4; g += 4) {
        v4d sign = 2 * slopes(s + g) - one;
        v4d e1 = sign * *(const v4d *)(z1 + g);
        v4d d0 = sign * *(const v4d *)(zdot0 + g);
        v4d nd1 = -(sign * *(const v4d *)(zdot1 + g));
        v4i takeD1 = nd1 > d0;
        v4d rate = (v4d)(((v4i)nd1 & takeD1) | ((v4i)d0 & ~takeD1));
        v4i takeRate = rate < e1;
        v4d low = (v4d)(((v4i)rate & takeRate) | ((v4i)e1 & ~takeRate));
        v4i pass = low >= zero;
        if (!(pass[0] && pass[1] && pass[2] && pass[3])) hits[count++] = g;
    }
    return count;
}

long rf_scan_screen(long G4, const unsigned char *s, const double *z1, const double *zdot0, const double *zdot1, long *hits) {
    return screen(G4, s, z1, zdot0, zdot1, hits);
}

// All rows of z and ż and the screen, one body per d (the switch on d once per call, not per
// row), fused per lane: z1 and ż1 of four groups (AFFINE's sums, in its order), stored, and the
// lane screened from the same values in registers (screen's operations), so that a row is read and
// written once. The tail g ≥ G & ~3 is AFFINE's scalar loop (never screened).
AVX2 static inline __attribute__((always_inline)) int lane_fails(v4d sign, v4d z1, v4d zdot0, v4d zdot1) {
    const v4d zero = {0, 0, 0, 0};
    v4d e1 = sign * z1;
    v4d d0 = sign * zdot0;
    v4d nd1 = -(sign * zdot1);
    v4i takeD1 = nd1 > d0;
    v4d rate = (v4d)(((v4i)nd1 & takeD1) | ((v4i)d0 & ~takeD1));
    v4i takeRate = rate < e1;
    v4d low = (v4d)(((v4i)rate & takeRate) | ((v4i)e1 & ~takeRate));
    v4i pass = low >= zero;
    return !(pass[0] && pass[1] && pass[2] && pass[3]);
}

#define SCAN_ROWS(D)                                                                           \
    const long bOff = n * d;                                                                   \
    const v4d one = {1, 1, 1, 1};                                                              \
    long total = 0;                                                                            \
    for (long i = 0; i < n; i++) {                                                             \
        const long row = i * G;                                                                \
        const double *wy = y + i * d, *wf = f + i * d;                                         \
        const double by = y[bOff + i], bf = f[bOff + i];                                       \
        const int screened = !sliding || !sliding[i];                                          \
        long count = 0, g = 0;                                                                 \
        for (; g + 4 <= G; g += 4) {                                                           \
            v4d vz = (v4d){by, by, by, by}, vd = (v4d){bf, bf, bf, bf};                        \
            for (int k = 0; k < (D); k++) vz = vz + wy[k] * *(const v4d *)(xgT + k * G + g);  \
            for (int k = 0; k < (D); k++) vd = vd + wf[k] * *(const v4d *)(xgT + k * G + g);  \
            *(v4d *)(z1 + row + g) = vz;                                                       \
            *(v4d *)(zdot1 + row + g) = vd;                                                    \
            if (screened && lane_fails(2 * slopes(s + row + g) - one, vz, *(const v4d *)(zdot0 + row + g), vd)) \
                hits[total + count++] = g;                                                     \
        }                                                                                      \
        for (; g < G; g++) {                                                                   \
            double vz = by, vd = bf;                                                           \
            for (int k = 0; k < (D); k++) vz = vz + wy[k] * xgT[k * G + g];                    \
            for (int k = 0; k < (D); k++) vd = vd + wf[k] * xgT[k * G + g];                    \
            z1[row + g] = vz;                                                                  \
            zdot1[row + g] = vd;                                                               \
        }                                                                                      \
        counts[i] = count;                                                                     \
        total += count;                                                                        \
    }                                                                                          \
    return total;

#define SCAN_ROWS_ARGS int d, long n, long G, const double *xgT, const double *y, const double *f, \
    const unsigned char *s, const unsigned char *sliding, double *z1, const double *zdot0, double *zdot1, long *hits, long *counts
#define AFFINE_N(G, X, W, B, OUT) affineN(d, G, X, W, B, OUT)

AVX2 static long scan_rows1(SCAN_ROWS_ARGS) { SCAN_ROWS(1) }
AVX2 static long scan_rows2(SCAN_ROWS_ARGS) { SCAN_ROWS(2) }
AVX2 static long scan_rows3(SCAN_ROWS_ARGS) { SCAN_ROWS(3) }
AVX2 static long scan_rows4(SCAN_ROWS_ARGS) { SCAN_ROWS(4) }
AVX2 static long scan_rowsN(SCAN_ROWS_ARGS) { SCAN_ROWS(d) }

#define AFFINE_ROWS(AFFINE)                                                                    \
    const long bOff = n * d;                                                                   \
    for (long i = 0; i < n; i++) {                                                             \
        AFFINE(G, xgT, y + i * d, y[bOff + i], z + i * G);                                     \
        if (f && zdot) AFFINE(G, xgT, f + i * d, f[bOff + i], zdot + i * G);                    \
    }

#define AFFINE_ROWS_ARGS int d, long n, long G, const double *xgT, const double *y, const double *f, double *z, double *zdot

AVX2 static void affine_rows1(AFFINE_ROWS_ARGS) { AFFINE_ROWS(affine1) }
AVX2 static void affine_rows2(AFFINE_ROWS_ARGS) { AFFINE_ROWS(affine2) }
AVX2 static void affine_rows3(AFFINE_ROWS_ARGS) { AFFINE_ROWS(affine3) }
AVX2 static void affine_rows4(AFFINE_ROWS_ARGS) { AFFINE_ROWS(affine4) }
AVX2 static void affine_rowsN(AFFINE_ROWS_ARGS) { AFFINE_ROWS(AFFINE_N) }

void rf_affine_rows(int d, long n, long G, const double *xgT, const double *y, const double *f, double *z, double *zdot) {
    switch (d) {
    case 1: affine_rows1(d, n, G, xgT, y, f, z, zdot); break;
    case 2: affine_rows2(d, n, G, xgT, y, f, z, zdot); break;
    case 3: affine_rows3(d, n, G, xgT, y, f, z, zdot); break;
    case 4: affine_rows4(d, n, G, xgT, y, f, z, zdot); break;
    default: affine_rowsN(d, n, G, xgT, y, f, z, zdot); break;
    }
}

long rf_scan_rows(int d, long n, long G, const double *xgT, const double *y, const double *f,
                  const unsigned char *s, const unsigned char *sliding, double *z1, const double *zdot0,
                  double *zdot1, long *hits, long *counts) {
    switch (d) {
    case 1: return scan_rows1(d, n, G, xgT, y, f, s, sliding, z1, zdot0, zdot1, hits, counts);
    case 2: return scan_rows2(d, n, G, xgT, y, f, s, sliding, z1, zdot0, zdot1, hits, counts);
    case 3: return scan_rows3(d, n, G, xgT, y, f, s, sliding, z1, zdot0, zdot1, hits, counts);
    case 4: return scan_rows4(d, n, G, xgT, y, f, s, sliding, z1, zdot0, zdot1, hits, counts);
    default: return scan_rowsN(d, n, G, xgT, y, f, s, sliding, z1, zdot0, zdot1, hits, counts);
    }
}
