#include "field_kernels.h"

// The plain loss and gradient of the shallow network for the training methods (ShallowEvaluator),
// over one neuron's row of points. Lanes of four with the same order of operations in the AVX2
// and the portable version, so both give the same bits; no fused multiply-add.
#pragma STDC FP_CONTRACT OFF

typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef long long v4i __attribute__((vector_size(32), aligned(8)));
typedef unsigned char v4u8 __attribute__((vector_size(4)));
#define AVX2 __attribute__((target("avx2")))

// The four bytes (0 or 1) of a 4-bit mask, byte l = bit l, as one little-endian word.
static const unsigned int spreadBits[16] = {
    0x00000000, 0x00000001, 0x00000100, 0x00000101, 0x00010000, 0x00010001, 0x00010100, 0x00010101,
    0x01000000, 0x01000001, 0x01000100, 0x01000101, 0x01010000, 0x01010001, 0x01010100, 0x01010101};

// σ(z) lane-wise without branches: z where z > 0, else +0.0; and the four bytes s = [z > 0]:
// AVX2 gathers the comparison lanes into four bits (vmovmskpd) and spreads them by the table
// (fewer instructions than narrowing the lanes); the portable version converts the lanes.
#define RELU_LANES_AVX2(z, zpos, bytes)                                                  \
    v4i positive = (z) > (v4d){0, 0, 0, 0};                                              \
    v4d zpos = (v4d)((v4i)(z) & positive);                                               \
    unsigned int bytes = spreadBits[__builtin_ia32_movmskpd256((v4d)positive)];
#define RELU_LANES_PORTABLE(z, zpos, bytes)                                              \
    v4i positive = (z) > (v4d){0, 0, 0, 0};                                              \
    v4d zpos = (v4d)((v4i)(z) & positive);                                               \
    v4u8 bytes = __builtin_convertvector(-positive, v4u8);

#define RELU_ROW(D, LANES)                                                                    \
    long m4 = m & ~3L;                                                                   \
    for (long j = 0; j < m4; j += 4) {                                                   \
        v4d z = (v4d){b, b, b, b};                                                       \
        for (int k = 0; k < (D); k++) z = z + w[k] * *(const v4d *)(xT + k * m + j);     \
        LANES(z, zpos, bytes)                                                            \
        __builtin_memcpy(s + j, &bytes, 4);                                              \
        *(v4d *)(out + j) = *(const v4d *)(out + j) + c * zpos;                          \
    }                                                                                    \
    for (long j = m4; j < m; j++) {                                                      \
        double z = b;                                                                    \
        for (int k = 0; k < (D); k++) z = z + w[k] * xT[k * m + j];                      \
        int on = z > 0;                                                                  \
        s[j] = (unsigned char)on;                                                        \
        out[j] += c * (on ? z : 0.0);                                                    \
    }

AVX2 static void reluRow1(long m, const double *xT, const double *w, double b, double c, unsigned char *s, double *out) { RELU_ROW(1, RELU_LANES_AVX2) }
AVX2 static void reluRow2(long m, const double *xT, const double *w, double b, double c, unsigned char *s, double *out) { RELU_ROW(2, RELU_LANES_AVX2) }
AVX2 static void reluRowN(int d, long m, const double *xT, const double *w, double b, double c, unsigned char *s, double *out) { RELU_ROW(d, RELU_LANES_AVX2) }
static void reluRowPortable(int d, long m, const double *xT, const double *w, double b, double c, unsigned char *s, double *out) { RELU_ROW(d, RELU_LANES_PORTABLE) }

void rf_relu_row(int d, long m, const double *xT, const double *w, double b, double c, unsigned char *s, double *out) {
    if (!rf_field_kernels_available()) { reluRowPortable(d, m, xT, w, b, c, s, out); return; }
    switch (d) {
    case 1: reluRow1(m, xT, w, b, c, s, out); break;
    case 2: reluRow2(m, xT, w, b, c, s, out); break;
    default: reluRowN(d, m, xT, w, b, c, s, out); break;
    }
}

// F[k] = Σ_j s_j r_j x_k[j], F[d] = Σ_j s_j r_j: four lane sums, added lane 0 + 1 + 2 + 3, then the tail.
#define MASKED_SUMS(D)                                                                   \
    long m4 = m & ~3L;                                                                   \
    v4d accB = {0, 0, 0, 0};                                                             \
    v4d accW[(D) > 0 ? (D) : 1];                                                         \
    for (int k = 0; k < (D); k++) accW[k] = (v4d){0, 0, 0, 0};                           \
    for (long j = 0; j < m4; j += 4) {                                                   \
        v4u8 bytes;                                                                      \
        __builtin_memcpy(&bytes, s + j, 4);                                              \
        v4d sr = __builtin_convertvector(bytes, v4d) * *(const v4d *)(r + j);           \
        accB = accB + sr;                                                                \
        for (int k = 0; k < (D); k++) accW[k] = accW[k] + sr * *(const v4d *)(xT + k * m + j); \
    }                                                                                    \
    F[(D)] = ((accB[0] + accB[1]) + accB[2]) + accB[3];                                  \
    for (int k = 0; k < (D); k++) F[k] = ((accW[k][0] + accW[k][1]) + accW[k][2]) + accW[k][3]; \
    for (long j = m4; j < m; j++) {                                                      \
        double sr = (double)s[j] * r[j];                                                 \
        F[(D)] += sr;                                                                    \
        for (int k = 0; k < (D); k++) F[k] += sr * xT[k * m + j];                        \
    }

AVX2 static void maskedSums1(long m, const double *xT, const double *r, const unsigned char *s, double *F) { MASKED_SUMS(1) }
AVX2 static void maskedSums2(long m, const double *xT, const double *r, const unsigned char *s, double *F) { MASKED_SUMS(2) }
AVX2 static void maskedSumsN(int d, long m, const double *xT, const double *r, const unsigned char *s, double *F) { MASKED_SUMS(d) }
static void maskedSumsPortable(int d, long m, const double *xT, const double *r, const unsigned char *s, double *F) { MASKED_SUMS(d) }

void rf_masked_sums(int d, long m, const double *xT, const double *r, const unsigned char *s, double *F) {
    if (!rf_field_kernels_available()) { maskedSumsPortable(d, m, xT, r, s, F); return; }
    switch (d) {
    case 1: maskedSums1(m, xT, r, s, F); break;
    case 2: maskedSums2(m, xT, r, s, F); break;
    default: maskedSumsN(d, m, xT, r, s, F); break;
    }
}

// The whole full-batch evaluation in one call (rf_shallow_evaluate): the row and sum bodies above
// for every neuron, the residuals and the gradient, in the order of operations of the
// neuron-by-neuron calls (so the same bits). One call instead of 2n + 1: at n·m = 200 the calls,
// their dispatch and the Swift loops between them cost more than the arithmetic.
#define SHALLOW_EVALUATE(NAME, ATTR, LANES) \
ATTR static inline __attribute__((always_inline)) double NAME( \
    int D, long n, long m, const double *xT, const double *y, const double *theta, int outputBias, \
    double *out, unsigned char *pattern, double *F, double *gradient) { \
    const double *W = theta, *B = theta + n * D, *C = theta + n * D + n; \
    double c0 = outputBias ? theta[n * D + 2 * n] : 0; \
    for (long j = 0; j < m; j++) out[j] = c0; \
    for (long i = 0; i < n; i++) { \
        const double *w = W + i * D; \
        double b = B[i], c = C[i]; \
        unsigned char *s = pattern + i * m; \
        RELU_ROW(D, LANES) \
    } \
    double sum = 0, sumR = 0; \
    for (long j = 0; j < m; j++) { \
        double r = out[j] - y[j]; \
        out[j] = r; \
        sum = sum + r * r; \
        sumR = sumR + r; \
    } \
    double scale = 1 / (double)m; \
    if (gradient) { \
        const double *r = out; \
        for (long i = 0; i < n; i++) { \
            const unsigned char *s = pattern + i * m; \
            { MASKED_SUMS(D) } \
            double fb = F[D], ci = C[i], gc = B[i] * fb; \
            for (int k = 0; k < D; k++) { \
                gradient[i * D + k] = ci * F[k] * scale; \
                gc = gc + W[i * D + k] * F[k]; \
            } \
            gradient[n * D + i] = ci * fb * scale; \
            gradient[n * D + n + i] = gc * scale; \
        } \
        if (outputBias) gradient[n * D + 2 * n] = sumR * scale; \
    } \
    return sum * scale / 2; \
}
SHALLOW_EVALUATE(shallowEvaluateAVX2, AVX2, RELU_LANES_AVX2)
SHALLOW_EVALUATE(shallowEvaluatePortableBody, , RELU_LANES_PORTABLE)

AVX2 static double shallowEvaluate1(long n, long m, const double *xT, const double *y, const double *theta, int bias,
                                    double *out, unsigned char *s, double *F, double *g) {
    return shallowEvaluateAVX2(1, n, m, xT, y, theta, bias, out, s, F, g);
}
AVX2 static double shallowEvaluate2(long n, long m, const double *xT, const double *y, const double *theta, int bias,
                                    double *out, unsigned char *s, double *F, double *g) {
    return shallowEvaluateAVX2(2, n, m, xT, y, theta, bias, out, s, F, g);
}
AVX2 static double shallowEvaluateN(int d, long n, long m, const double *xT, const double *y, const double *theta, int bias,
                                    double *out, unsigned char *s, double *F, double *g) {
    return shallowEvaluateAVX2(d, n, m, xT, y, theta, bias, out, s, F, g);
}
static double shallowEvaluatePortable(int d, long n, long m, const double *xT, const double *y, const double *theta, int bias,
                                      double *out, unsigned char *s, double *F, double *g) {
    return shallowEvaluatePortableBody(d, n, m, xT, y, theta, bias, out, s, F, g);
}

double rf_shallow_evaluate(int d, long n, long m, const double *xT, const double *y, const double *theta, int outputBias,
                           double *out, unsigned char *pattern, double *F, double *gradient) {
    if (!rf_field_kernels_available()) return shallowEvaluatePortable(d, n, m, xT, y, theta, outputBias, out, pattern, F, gradient);
    switch (d) {
    case 1: return shallowEvaluate1(n, m, xT, y, theta, outputBias, out, pattern, F, gradient);
    case 2: return shallowEvaluate2(n, m, xT, y, theta, outputBias, out, pattern, F, gradient);
    default: return shallowEvaluateN(d, n, m, xT, y, theta, outputBias, out, pattern, F, gradient);
    }
}
