#include "field_kernels.h"

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
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx2") ? 1 : 0;
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

void rf_field_outputs(int d, long G4, long G, const double *xgT, const double *w, double b, double c,
                      const unsigned char *s, double *N) {
    switch (d) {
    case 1: outputs1(G4, G, xgT, w, b, c, s, N); break;
    case 2: outputs2(G4, G, xgT, w, b, c, s, N); break;
    case 3: outputs3(G4, G, xgT, w, b, c, s, N); break;
    case 4: outputs4(G4, G, xgT, w, b, c, s, N); break;
    default: break;
    }
}

#define GRADIENTS(D)                                                        \
    v4d aB = {0, 0, 0, 0};                                                  \
    v4d aW[(D)];                                                            \
    for (int k = 0; k < (D); k++) aW[k] = (v4d){0, 0, 0, 0};                \
    for (long g = 0; g < G4; g += 4) {                                      \
        v4d sr = slopes(s + g) * *(const v4d *)(R + g);                     \
        aB = aB + sr;                                                       \
        for (int k = 0; k < (D); k++) aW[k] = aW[k] + sr * *(const v4d *)(xgT + k * G + g); \
    }                                                                       \
    *(v4d *)accB = aB;                                                      \
    for (int k = 0; k < (D); k++) *(v4d *)(accW + 4 * k) = aW[k];

AVX2 static void gradients1(long G4, long G, const double *xgT, const double *R, const unsigned char *s, double *accB, double *accW) { GRADIENTS(1) }
AVX2 static void gradients2(long G4, long G, const double *xgT, const double *R, const unsigned char *s, double *accB, double *accW) { GRADIENTS(2) }
AVX2 static void gradients3(long G4, long G, const double *xgT, const double *R, const unsigned char *s, double *accB, double *accW) { GRADIENTS(3) }
AVX2 static void gradients4(long G4, long G, const double *xgT, const double *R, const unsigned char *s, double *accB, double *accW) { GRADIENTS(4) }

void rf_field_gradients(int d, long G4, long G, const double *xgT, const double *R, const unsigned char *s,
                        double *accB, double *accW) {
    switch (d) {
    case 1: gradients1(G4, G, xgT, R, s, accB, accW); break;
    case 2: gradients2(G4, G, xgT, R, s, accB, accW); break;
    case 3: gradients3(G4, G, xgT, R, s, accB, accW); break;
    case 4: gradients4(G4, G, xgT, R, s, accB, accW); break;
    default: break;
    }
}
