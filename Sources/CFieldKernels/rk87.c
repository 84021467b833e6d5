#include "rk87.h"
#include "cpu.h"
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <stdlib.h>
#include <string.h>

// No fused multiply-add, whatever the flags: each stage sum is a chain of roundings that must be
// GSL's (libgsl is compiled for the x86-64 baseline, without FMA).
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
// The lane helpers are always inlined: no v4d crosses a call boundary of another ABI.
#pragma clang diagnostic ignored "-Wpsabi"

#include "lanes.h"

// The RK8(7)13M tableau (Prince & Dormand 1981, Table 2; also Hairer, Nørsett & Wanner, Solving
// ODEs I, 2nd ed., §II.5): nodes c_j, the stage coefficients a_jl (only the non-zero ones enter a
// sum), the 8th-order weights b_j (propagated) and the 7th-order weights bh_j (error estimate).
// Each coefficient is the double nearest its rational (a quotient of two exact integers).
#define C2 (1.0 / 18)
#define C3 (1.0 / 12)
#define C4 (1.0 / 8)
#define C5 (5.0 / 16)
#define C6 (3.0 / 8)
#define C7 (59.0 / 400)
#define C8 (93.0 / 200)
#define C9 (5490023248.0 / 9719169821.0)
#define C10 (13.0 / 20)
#define C11 (1201146811.0 / 1299019798.0)

#define A21 (1.0 / 18)
#define A31 (1.0 / 48)
#define A32 (1.0 / 16)
#define A41 (1.0 / 32)
#define A43 (3.0 / 32)
#define A51 (5.0 / 16)
#define A53 (-75.0 / 64)
#define A54 (75.0 / 64)
#define A61 (3.0 / 80)
#define A64 (3.0 / 16)
#define A65 (3.0 / 20)
#define A71 (29443841.0 / 614563906)
#define A74 (77736538.0 / 692538347)
#define A75 (-28693883.0 / 1125000000)
#define A76 (23124283.0 / 1800000000)
#define A81 (16016141.0 / 946692911)
#define A84 (61564180.0 / 158732637)
#define A85 (22789713.0 / 633445777)
#define A86 (545815736.0 / 2771057229.0)
#define A87 (-180193667.0 / 1043307555)
#define A91 (39632708.0 / 573591083)
#define A94 (-433636366.0 / 683701615)
#define A95 (-421739975.0 / 2616292301.0)
#define A96 (100302831.0 / 723423059)
#define A97 (790204164.0 / 839813087)
#define A98 (800635310.0 / 3783071287.0)
#define A101 (246121993.0 / 1340847787)
#define A104 (-37695042795.0 / 15268766246.0)
#define A105 (-309121744.0 / 1061227803)
#define A106 (-12992083.0 / 490766935)
#define A107 (6005943493.0 / 2108947869)
#define A108 (393006217.0 / 1396673457)
#define A109 (123872331.0 / 1001029789)
#define A111 (-1028468189.0 / 846180014)
#define A114 (8478235783.0 / 508512852)
#define A115 (1311729495.0 / 1432422823)
#define A116 (-10304129995.0 / 1701304382)
#define A117 (-48777925059.0 / 3047939560.0)
#define A118 (15336726248.0 / 1032824649)
#define A119 (-45442868181.0 / 3398467696.0)
#define A1110 (3065993473.0 / 597172653)
#define A121 (185892177.0 / 718116043)
#define A124 (-3185094517.0 / 667107341)
#define A125 (-477755414.0 / 1098053517)
#define A126 (-703635378.0 / 230739211)
#define A127 (5731566787.0 / 1027545527)
#define A128 (5232866602.0 / 850066563)
#define A129 (-4093664535.0 / 808688257)
#define A1210 (3962137247.0 / 1805957418)
#define A1211 (65686358.0 / 487910083)
#define A131 (403863854.0 / 491063109)
#define A134 (-5068492393.0 / 434740067)
#define A135 (-411421997.0 / 543043805)
#define A136 (652783627.0 / 914296604)
#define A137 (11173962825.0 / 925320556)
#define A138 (-13158990841.0 / 6184727034.0)
#define A139 (3936647629.0 / 1978049680)
#define A1310 (-160528059.0 / 685178525)
#define A1311 (248638103.0 / 1413531060)

#define B1 (14005451.0 / 335480064)
#define B6 (-59238493.0 / 1068277825)
#define B7 (181606767.0 / 758867731)
#define B8 (561292985.0 / 797845732)
#define B9 (-1041891430.0 / 1371343529)
#define B10 (760417239.0 / 1151165299)
#define B11 (118820643.0 / 751138087)
#define B12 (-528747749.0 / 2220607170.0)
#define B13 (1.0 / 4)

#define BH1 (13451932.0 / 455176623)
#define BH6 (-808719846.0 / 976000145)
#define BH7 (1757004468.0 / 5645159321.0)
#define BH8 (656045339.0 / 265891186)
#define BH9 (-3867574721.0 / 1518517206)
#define BH10 (465885868.0 / 322736535)
#define BH11 (53011238.0 / 667516719)
#define BH12 (2.0 / 45)

/// The stages k_1 … k_13, the stage state Y_j and the step's start, each padded to whole lanes of
/// four. The padding is zero from the allocation on (evaluations and copies write the first dim
/// entries only), so the lanes past dim compute zeros, which nothing reads.
typedef struct {
    size_t dim;
    size_t padded;
    double *k[13];
    double *ytmp;
    double *y0;
    double *block;
} rk87_state;

static void *rk87_alloc(size_t dim) {
    rk87_state *s = malloc(sizeof *s);
    if (!s) { GSL_ERROR_NULL("failed to allocate space for rk87_state", GSL_ENOMEM); }
    s->dim = dim;
    s->padded = (dim + 3) & ~(size_t)3;
    s->block = calloc(15 * s->padded, sizeof(double));
    if (!s->block) { free(s); GSL_ERROR_NULL("failed to allocate space for the stages", GSL_ENOMEM); }
    for (int j = 0; j < 13; j++) s->k[j] = s->block + (size_t)j * s->padded;
    s->ytmp = s->block + 13 * s->padded;
    s->y0 = s->block + 14 * s->padded;
    return s;
}

static void rk87_free(void *vstate) {
    rk87_state *s = vstate;
    free(s->block);
    free(s);
}

/// Nothing to forget: a step reads no state of the step before (the driver resets after every event).
static int rk87_reset(void *vstate, size_t dim) {
    (void)vstate;
    (void)dim;
    return GSL_SUCCESS;
}

static unsigned int rk87_order(void *vstate) {
    (void)vstate;
    return 8;
}

static int rk87_set_driver(void *vstate, const gsl_odeiv2_driver *d) {
    (void)vstate;
    (void)d;
    return GSL_SUCCESS;
}

/// One step from (t, y) of size h, y overwritten with the 8th-order solution, yerr with h times
/// the difference of the 7th- and 8th-order weighted stage sums. Per element: Y_2 = y + (a21 h) k_1,
/// Y_j = y + h (a_j1 k_1 + … ) with the sum from the left over the non-zero a_jl, then
/// s8 = Σ b_j k_j, s7 = Σ bh_j k_j (from the left), y + h s8 and h (s7 − s8). A failed
/// evaluation returns its status with y as it was.
INLINE int apply_body(rk87_state *s, size_t dim, double t, double h, double *y, double *yerr, const double *dydt_in,
                      double *dydt_out, const gsl_odeiv2_system *sys) {
    const size_t n = s->padded;
    double *const k1 = s->k[0], *const k2 = s->k[1], *const k3 = s->k[2], *const k4 = s->k[3], *const k5 = s->k[4],
           *const k6 = s->k[5], *const k7 = s->k[6], *const k8 = s->k[7], *const k9 = s->k[8], *const k10 = s->k[9],
           *const k11 = s->k[10], *const k12 = s->k[11], *const k13 = s->k[12];
    double *const yt = s->ytmp;
    // The step's start, padded: the stage sums read it in whole lanes.
    double *const y0 = s->y0;
    const v4d hv = SPLAT(h);
    int status;

    memcpy(y0, y, dim * sizeof(double));
    if (dydt_in != NULL) {
        memcpy(k1, dydt_in, dim * sizeof(double));
    } else {
        status = GSL_ODEIV_FN_EVAL(sys, t, y, k1);
        if (status != GSL_SUCCESS) return status;
    }

#define K(j) LD(k##j + i)
#define STAGE(node, kout, SUM)                                                     \
    for (size_t i = 0; i < n; i += 4) ST(yt + i, LD(y0 + i) + hv * (SUM)); \
    status = GSL_ODEIV_FN_EVAL(sys, t + (node) * h, yt, kout);                     \
    if (status != GSL_SUCCESS) return status;

    {
        const v4d a21h = SPLAT(A21 * h);
        for (size_t i = 0; i < n; i += 4) ST(yt + i, LD(y0 + i) + a21h * K(1));
        status = GSL_ODEIV_FN_EVAL(sys, t + C2 * h, yt, k2);
        if (status != GSL_SUCCESS) return status;
    }
    STAGE(C3, k3, SPLAT(A31) * K(1) + SPLAT(A32) * K(2))
    STAGE(C4, k4, SPLAT(A41) * K(1) + SPLAT(A43) * K(3))
    STAGE(C5, k5, SPLAT(A51) * K(1) + SPLAT(A53) * K(3) + SPLAT(A54) * K(4))
    STAGE(C6, k6, SPLAT(A61) * K(1) + SPLAT(A64) * K(4) + SPLAT(A65) * K(5))
    STAGE(C7, k7, SPLAT(A71) * K(1) + SPLAT(A74) * K(4) + SPLAT(A75) * K(5) + SPLAT(A76) * K(6))
    STAGE(C8, k8, SPLAT(A81) * K(1) + SPLAT(A84) * K(4) + SPLAT(A85) * K(5) + SPLAT(A86) * K(6) + SPLAT(A87) * K(7))
    STAGE(C9, k9, SPLAT(A91) * K(1) + SPLAT(A94) * K(4) + SPLAT(A95) * K(5) + SPLAT(A96) * K(6) + SPLAT(A97) * K(7)
                  + SPLAT(A98) * K(8))
    STAGE(C10, k10, SPLAT(A101) * K(1) + SPLAT(A104) * K(4) + SPLAT(A105) * K(5) + SPLAT(A106) * K(6)
                    + SPLAT(A107) * K(7) + SPLAT(A108) * K(8) + SPLAT(A109) * K(9))
    STAGE(C11, k11, SPLAT(A111) * K(1) + SPLAT(A114) * K(4) + SPLAT(A115) * K(5) + SPLAT(A116) * K(6)
                    + SPLAT(A117) * K(7) + SPLAT(A118) * K(8) + SPLAT(A119) * K(9) + SPLAT(A1110) * K(10))
    STAGE(1.0, k12, SPLAT(A121) * K(1) + SPLAT(A124) * K(4) + SPLAT(A125) * K(5) + SPLAT(A126) * K(6)
                    + SPLAT(A127) * K(7) + SPLAT(A128) * K(8) + SPLAT(A129) * K(9) + SPLAT(A1210) * K(10)
                    + SPLAT(A1211) * K(11))
    STAGE(1.0, k13, SPLAT(A131) * K(1) + SPLAT(A134) * K(4) + SPLAT(A135) * K(5) + SPLAT(A136) * K(6)
                    + SPLAT(A137) * K(7) + SPLAT(A138) * K(8) + SPLAT(A139) * K(9) + SPLAT(A1310) * K(10)
                    + SPLAT(A1311) * K(11))

    for (size_t i = 0; i < n; i += 4) {
        const v4d s8 = SPLAT(B1) * K(1) + SPLAT(B6) * K(6) + SPLAT(B7) * K(7) + SPLAT(B8) * K(8) + SPLAT(B9) * K(9)
                       + SPLAT(B10) * K(10) + SPLAT(B11) * K(11) + SPLAT(B12) * K(12) + SPLAT(B13) * K(13);
        const v4d s7 = SPLAT(BH1) * K(1) + SPLAT(BH6) * K(6) + SPLAT(BH7) * K(7) + SPLAT(BH8) * K(8) + SPLAT(BH9) * K(9)
                       + SPLAT(BH10) * K(10) + SPLAT(BH11) * K(11) + SPLAT(BH12) * K(12);
        const v4d yn = LD(y0 + i) + hv * s8;
        const v4d e = hv * (s7 - s8);
        if (i + 4 <= dim) {
            ST(y + i, yn);
            ST(yerr + i, e);
        } else {
            for (size_t j = 0; i + j < dim; j++) {
                y[i + j] = yn[j];
                yerr[i + j] = e[j];
            }
        }
    }
#undef STAGE
#undef K

    if (dydt_out != NULL) {
        status = GSL_ODEIV_FN_EVAL(sys, t + h, y, dydt_out);
        if (status != GSL_SUCCESS) {
            memcpy(y, y0, dim * sizeof(double));
            return status;
        }
    }
    return GSL_SUCCESS;
}

AVX2 static int apply_avx2(rk87_state *s, size_t dim, double t, double h, double *y, double *yerr,
                           const double *dydt_in, double *dydt_out, const gsl_odeiv2_system *sys) {
    return apply_body(s, dim, t, h, y, yerr, dydt_in, dydt_out, sys);
}

static int apply_portable(rk87_state *s, size_t dim, double t, double h, double *y, double *yerr,
                          const double *dydt_in, double *dydt_out, const gsl_odeiv2_system *sys) {
    return apply_body(s, dim, t, h, y, yerr, dydt_in, dydt_out, sys);
}

// 1: the AVX2 build; 0: the portable one; -1: not chosen yet. Atomic: several runs of one process
// (sweep --in-process) step at once; every thread stores the same choice.
static int lanes_choice = -1;

/// 1 asks for the AVX2 build (granted only when the CPU has AVX2), 0 the portable one, −1 the default.
void rf_rk87_lanes(int avx2) {
    __atomic_store_n(&lanes_choice, avx2 < 0 ? -1 : (avx2 && rf_cpu_has_avx2() ? 1 : 0), __ATOMIC_RELAXED);
}

static int rk87_apply(void *vstate, size_t dim, double t, double h, double y[], double yerr[], const double dydt_in[],
                      double dydt_out[], const gsl_odeiv2_system *sys) {
    int lanes = __atomic_load_n(&lanes_choice, __ATOMIC_RELAXED);
    if (lanes < 0) {
        lanes = rf_cpu_has_avx2();
        __atomic_store_n(&lanes_choice, lanes, __ATOMIC_RELAXED);
    }
    if (lanes == 1) return apply_avx2(vstate, dim, t, h, y, yerr, dydt_in, dydt_out, sys);
    return apply_portable(vstate, dim, t, h, y, yerr, dydt_in, dydt_out, sys);
}

/// As GSL's rk8pd: it takes dydt_in (the first stage) and gives the exact derivative at the end.
static const gsl_odeiv2_step_type rk87_type = {
    "rf-rk8pd", 1, 1, rk87_alloc, rk87_apply, rk87_set_driver, rk87_reset, rk87_order, rk87_free,
};

const void *rf_rk87_type(void) { return &rk87_type; }

static int ours_choice = -1;

void rf_rk87_choose(int ours) { __atomic_store_n(&ours_choice, ours, __ATOMIC_RELAXED); }

const void *rf_rk8pd_type(void) {
    int ours = __atomic_load_n(&ours_choice, __ATOMIC_RELAXED);
    if (ours < 0) {
        const char *v = getenv("RF_RK8PD");
        ours = v != NULL && strcmp(v, "gsl") == 0 ? 0 : 1;
        __atomic_store_n(&ours_choice, ours, __ATOMIC_RELAXED);
    }
    return ours ? (const void *)&rk87_type : (const void *)gsl_odeiv2_step_rk8pd;
}

const double *rf_rk87_stage(const void *step, int j) {
    const gsl_odeiv2_step *s = step;
    if (s == NULL || s->type != &rk87_type || j < 0 || j > 12) return NULL;
    return ((const rk87_state *)s->state)->k[j];
}
