// GSL's reference CBLAS (libgslcblas) for the shapes GSL's steppers and ModeField call, with the
// same floating-point operations in the same order, so every result is bitwise that of libgslcblas
// (issue 22: GSL's msbdf LU decompositions and solves through libgslcblas's stride-generic loops
// were ~50 M of the 239 M instructions of `simulate --example sine --T 1e5`).
//
// Defined in the executable, these cblas_* interpose on libgslcblas's for libgsl's calls (the
// executable comes first in the dynamic linker's lookup). Only the shapes below are computed here:
// row-major, unit stride where the reference loops over a contiguous row. Every other call goes on
// to libgslcblas's own function (dlsym on the loaded library), unchanged.
//
// Why the order is the reference's (each element is a chain of separately rounded products and
// sums, and only independent chains are interleaved or put in vector lanes):
//  - dtrsv, lower unit (forward): x_i ← (((x_i − A_i0 x_0) − A_i1 x_1) − …) − A_i,i−1 x_i−1 (rows
//    in pairs: the second row's chain runs beside the first's and takes its last term after it);
//    upper non-unit (back): x_i ← ((((x_i − A_i,i+1 x_i+1) − …) − A_i,n−1 x_n−1) / A_ii, from the
//    last row up. The products of a row are formed in lanes; the differences stay one chain.
//  - dger: A_ij ← A_ij + y_j (α x_i); independent elements, lanes over j.
//  - dgemm (no transposes): C ← β C (0 when β = 0), then for k = 0, 1, …, for each i with
//    t = α A_ik ≠ 0 (the reference skips t = 0, which matters for signed zeros and infinities):
//    C_ij ← C_ij + t B_kj; lanes over j, k ascending for every element.
//  - dtrsm (left, lower, no transpose): B ← α B when α ≠ 1; for i = 0, 1, …: row i divided by
//    A_ii (non-unit), then B_kj ← B_kj − A_ki B_ij for k > i; lanes over j.
//  - dsyrk (upper, transposed): C ← β C on the upper triangle, then
//    C_ij ← C_ij + α (((0 + A_0i A_0j) + A_1i A_1j) + …), j ≥ i; lanes over j.
//  - dcopy: y_i ← x_i in index order.
// ReferenceBLASTests checks each against libgslcblas bit for bit, NaN, infinities and signed zeros
// included, on both builds.

#include "cpu.h"
#include "reference_blas.h"

#include <dlfcn.h>
#include <gsl/gsl_cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>

// No fused multiply-add, whatever the flags: the reference rounds every product.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#pragma clang diagnostic ignored "-Wpsabi"

#include "lanes.h"

// The last r < 4 elements of a row in one masked AVX2 operation (the AVX2 build; lanes r..3 are
// neither read nor written): c_j ← c_j + y_j t, or c_j ← c_j − a y_j. The same elementwise
// operations as the scalar tails of the portable build.
static const long long tail_masks[4][4] = {{0, 0, 0, 0}, {-1, 0, 0, 0}, {-1, -1, 0, 0}, {-1, -1, -1, 0}};

AVX2 static inline void tail_add_scaled(double *c, const double *y, double t, long r) {
    const __m256i m = _mm256_loadu_si256((const __m256i *)tail_masks[r]);
    const __m256d v = _mm256_add_pd(_mm256_maskload_pd(c, m), _mm256_mul_pd(_mm256_maskload_pd(y, m), _mm256_set1_pd(t)));
    _mm256_maskstore_pd(c, m, v);
}

AVX2 static inline void tail_sub_scaled(double *c, const double *y, double a, long r) {
    const __m256i m = _mm256_loadu_si256((const __m256i *)tail_masks[r]);
    const __m256d v = _mm256_sub_pd(_mm256_maskload_pd(c, m), _mm256_mul_pd(_mm256_set1_pd(a), _mm256_maskload_pd(y, m)));
    _mm256_maskstore_pd(c, m, v);
}

// MARK: the kernels (bodies inlined into an AVX2 and a portable build; `masked` only in the AVX2 one)

// t − Σ a_k x_k over j ≤ k < end, one difference at a time in ascending j (the reference's chain;
// the products of four k formed in lanes).
INLINE double minus_dot(double t, const double *a, const double *x, long j, long end) {
    for (; j + 4 <= end; j += 4) {
        const v4d p = LD(a + j) * LD(x + j);
        t = t - p[0];
        t = t - p[1];
        t = t - p[2];
        t = t - p[3];
    }
    for (; j < end; j++) t = t - a[j] * x[j];
    return t;
}

INLINE void trsv_lower_unit(long n, const double *A, long lda, double *x) {
    // Rows in pairs: row i+1's chain over j < i runs beside row i's (the same x_j), then takes
    // its last term −A_i+1,i x_i once x_i is final; each row's differences in the reference's order.
    long i = 1;
    for (; i + 1 < n; i += 2) {
        const double *a0 = A + i * lda, *a1 = a0 + lda;
        double t0 = x[i], t1 = x[i + 1];
        long j = 0;
        for (; j + 4 <= i; j += 4) {
            const v4d xv = LD(x + j);
            const v4d p0 = LD(a0 + j) * xv, p1 = LD(a1 + j) * xv;
            t0 = t0 - p0[0];
            t1 = t1 - p1[0];
            t0 = t0 - p0[1];
            t1 = t1 - p1[1];
            t0 = t0 - p0[2];
            t1 = t1 - p1[2];
            t0 = t0 - p0[3];
            t1 = t1 - p1[3];
        }
        for (; j < i; j++) {
            t0 = t0 - a0[j] * x[j];
            t1 = t1 - a1[j] * x[j];
        }
        x[i] = t0;
        x[i + 1] = t1 - a1[i] * t0;
    }
    for (; i < n; i++) {
        x[i] = minus_dot(x[i], A + i * lda, x, 0, i);
    }
}

INLINE void trsv_upper_nonunit(long n, const double *A, long lda, double *x) {
    x[n - 1] = x[n - 1] / A[lda * (n - 1) + (n - 1)];
    for (long i = n - 2; i >= 0; i--) {
        const double *a = A + i * lda;
        x[i] = minus_dot(x[i], a, x, i + 1, n) / a[i];
    }
}

INLINE void ger_row(const int masked, long m, long n, double alpha, const double *x, long incX, const double *y, double *A, long lda) {
    for (long i = 0; i < m; i++) {
        const double t = alpha * x[i * incX];
        double *a = A + i * lda;
        const v4d tv = SPLAT(t);
        long j = 0;
        for (; j + 4 <= n; j += 4) ST(a + j, LD(a + j) + LD(y + j) * tv);
        if (masked) {
            if (j < n) tail_add_scaled(a + j, y + j, t, n - j);
        } else {
            for (; j < n; j++) a[j] = a[j] + y[j] * t;
        }
    }
}

// C (m × n) += t · B row k, for the rows i with t = α A_ik ≠ 0, k ascending.
INLINE void gemm_nn(const int masked, long m, long n, long K, double alpha, const double *A, long lda, const double *B, long ldb,
                    double beta, double *C, long ldc) {
    if (beta == 0.0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) C[ldc * i + j] = 0.0;
    } else if (beta != 1.0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) C[ldc * i + j] = C[ldc * i + j] * beta;
    }
    if (alpha == 0.0) return;
    for (long k = 0; k < K; k++) {
        const double *b = B + ldb * k;
        for (long i = 0; i < m; i++) {
            const double t = alpha * A[lda * i + k];
            if (t != 0.0) {
                double *c = C + ldc * i;
                const v4d tv = SPLAT(t);
                long j = 0;
                for (; j + 4 <= n; j += 4) ST(c + j, LD(c + j) + tv * LD(b + j));
                if (masked) {
                    if (j < n) tail_add_scaled(c + j, b + j, t, n - j);
                } else {
                    for (; j < n; j++) c[j] = c[j] + t * b[j];
                }
            }
        }
    }
}

INLINE void trsm_left_lower(const int masked, int nonunit, long m, long n, double alpha, const double *A, long lda, double *B, long ldb) {
    if (alpha != 1.0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) B[ldb * i + j] = B[ldb * i + j] * alpha;
    }
    for (long i = 0; i < m; i++) {
        double *bi = B + ldb * i;
        if (nonunit) {
            const double aii = A[lda * i + i];
            for (long j = 0; j < n; j++) bi[j] = bi[j] / aii;
        }
        for (long k = i + 1; k < m; k++) {
            const double aki = A[k * lda + i];
            double *bk = B + ldb * k;
            const v4d av = SPLAT(aki);
            long j = 0;
            for (; j + 4 <= n; j += 4) ST(bk + j, LD(bk + j) - av * LD(bi + j));
            if (masked) {
                if (j < n) tail_sub_scaled(bk + j, bi + j, aki, n - j);
            } else {
                for (; j < n; j++) bk[j] = bk[j] - aki * bi[j];
            }
        }
    }
}

INLINE void syrk_upper_trans(long n, long K, double alpha, const double *A, long lda, double beta, double *C, long ldc) {
    if (beta == 0.0) {
        for (long i = 0; i < n; i++)
            for (long j = i; j < n; j++) C[ldc * i + j] = 0.0;
    } else if (beta != 1.0) {
        for (long i = 0; i < n; i++)
            for (long j = i; j < n; j++) C[ldc * i + j] = C[ldc * i + j] * beta;
    }
    if (alpha == 0.0) return;
    for (long i = 0; i < n; i++) {
        double *c = C + ldc * i;
        long j = i;
        for (; j + 4 <= n; j += 4) {
            v4d t = SPLAT(0.0);
            for (long k = 0; k < K; k++) t = t + SPLAT(A[k * lda + i]) * LD(A + k * lda + j);
            ST(c + j, LD(c + j) + SPLAT(alpha) * t);
        }
        for (; j < n; j++) {
            double t = 0.0;
            for (long k = 0; k < K; k++) t = t + A[k * lda + i] * A[k * lda + j];
            c[j] = c[j] + alpha * t;
        }
    }
}

// MARK: two builds and the choice between them

#define BUILDS(suffix, attr, masked)                                                                                            \
    attr static void trsv_lower_unit_##suffix(long n, const double *A, long lda, double *x) {                         \
        trsv_lower_unit(n, A, lda, x);                                                                                  \
    }                                                                                                                   \
    attr static void trsv_upper_nonunit_##suffix(long n, const double *A, long lda, double *x) {                      \
        trsv_upper_nonunit(n, A, lda, x);                                                                               \
    }                                                                                                                   \
    attr static void ger_row_##suffix(long m, long n, double alpha, const double *x, long incX, const double *y,      \
                                      double *A, long lda) {                                                            \
        ger_row(masked, m, n, alpha, x, incX, y, A, lda);                                                                    \
    }                                                                                                                   \
    attr static void gemm_nn_##suffix(long m, long n, long K, double alpha, const double *A, long lda,                \
                                      const double *B, long ldb, double beta, double *C, long ldc) {                  \
        gemm_nn(masked, m, n, K, alpha, A, lda, B, ldb, beta, C, ldc);                                                       \
    }                                                                                                                   \
    attr static void trsm_left_lower_##suffix(int nonunit, long m, long n, double alpha, const double *A, long lda,   \
                                              double *B, long ldb) {                                                    \
        trsm_left_lower(masked, nonunit, m, n, alpha, A, lda, B, ldb);                                                       \
    }                                                                                                                   \
    attr static void syrk_upper_trans_##suffix(long n, long K, double alpha, const double *A, long lda, double beta,  \
                                               double *C, long ldc) {                                                   \
        syrk_upper_trans(n, K, alpha, A, lda, beta, C, ldc);                                                            \
    }

BUILDS(avx2, AVX2, 1)
BUILDS(portable, , 0)

// 1: the AVX2 build; 0: the portable one; RF_REFERENCE_BLAS_PORTABLE=1 forces the portable build.
// Chosen once (or by rf_reference_blas_choose).
static int state = -1;

void rf_reference_blas_choose(int avx2) {
    __atomic_store_n(&state, avx2 < 0 ? -1 : (avx2 && rf_cpu_has_avx2() ? 1 : 0), __ATOMIC_RELAXED);
}

static int use_avx2(void) {
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s < 0) {
        const char *force = getenv("RF_REFERENCE_BLAS_PORTABLE");
        s = (force && force[0] == '1') ? 0 : rf_cpu_has_avx2();
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s;
}

// No result is possible without the reference library: say which call needed what, then stop.
static void unavailable(const char *name) {
    const char *reason = dlerror();
    fprintf(stderr, "reluflow: %s of the reference CBLAS is in libgslcblas.so.0, which could not be loaded (%s); "
                    "install it (Debian: libgslcblas0)\n", name, reason ? reason : "unknown reason");
    abort();
}

// libgslcblas's own function (the calls this file does not compute).
static void *reference(const char *name) {
    static void *library;
    void *lib = __atomic_load_n(&library, __ATOMIC_ACQUIRE);
    if (!lib) {
        lib = dlopen("libgslcblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!lib) unavailable(name);
        __atomic_store_n(&library, lib, __ATOMIC_RELEASE);
    }
    void *f = dlsym(lib, name);
    if (!f) unavailable(name);
    return f;
}

void *rf_reference_blas_original(const char *name) { return reference(name); }

// The pointer is cached with relaxed atomics (threads may race to store the same value).
#define FORWARD(type, name)                                                      \
    static type name##_cache;                                                    \
    type name##_ref = __atomic_load_n(&name##_cache, __ATOMIC_RELAXED);          \
    if (!name##_ref) {                                                           \
        name##_ref = (type)reference(#name);                                     \
        __atomic_store_n(&name##_cache, name##_ref, __ATOMIC_RELAXED);           \
    }

// MARK: the interposed entry points

typedef void (*dtrsv_f)(const enum CBLAS_ORDER, const enum CBLAS_UPLO, const enum CBLAS_TRANSPOSE, const enum CBLAS_DIAG,
                        const int, const double *, const int, double *, const int);
void cblas_dtrsv(const enum CBLAS_ORDER order, const enum CBLAS_UPLO Uplo, const enum CBLAS_TRANSPOSE TransA,
                 const enum CBLAS_DIAG Diag, const int N, const double *A, const int lda, double *X, const int incX) {
    if (order == CblasRowMajor && TransA == CblasNoTrans && incX == 1 && N > 0 && lda >= N) {
        if (Uplo == CblasLower && Diag == CblasUnit) {
            if (use_avx2()) trsv_lower_unit_avx2(N, A, lda, X); else trsv_lower_unit_portable(N, A, lda, X);
            return;
        }
        if (Uplo == CblasUpper && Diag == CblasNonUnit) {
            if (use_avx2()) trsv_upper_nonunit_avx2(N, A, lda, X); else trsv_upper_nonunit_portable(N, A, lda, X);
            return;
        }
    }
    FORWARD(dtrsv_f, cblas_dtrsv);
    cblas_dtrsv_ref(order, Uplo, TransA, Diag, N, A, lda, X, incX);
}

typedef void (*dger_f)(const enum CBLAS_ORDER, const int, const int, const double, const double *, const int,
                       const double *, const int, double *, const int);
void cblas_dger(const enum CBLAS_ORDER order, const int M, const int N, const double alpha, const double *X,
                const int incX, const double *Y, const int incY, double *A, const int lda) {
    if (order == CblasRowMajor && incX > 0 && incY == 1 && M >= 0 && N >= 0 && lda >= (N > 1 ? N : 1)) {
        if (use_avx2()) ger_row_avx2(M, N, alpha, X, incX, Y, A, lda); else ger_row_portable(M, N, alpha, X, incX, Y, A, lda);
        return;
    }
    FORWARD(dger_f, cblas_dger);
    cblas_dger_ref(order, M, N, alpha, X, incX, Y, incY, A, lda);
}

typedef void (*dgemm_f)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE, const int,
                        const int, const int, const double, const double *, const int, const double *, const int,
                        const double, double *, const int);
void cblas_dgemm(const enum CBLAS_ORDER Order, const enum CBLAS_TRANSPOSE TransA, const enum CBLAS_TRANSPOSE TransB,
                 const int M, const int N, const int K, const double alpha, const double *A, const int lda,
                 const double *B, const int ldb, const double beta, double *C, const int ldc) {
    if (Order == CblasRowMajor && TransA == CblasNoTrans && TransB == CblasNoTrans && M >= 0 && N >= 0 && K >= 0
        && lda >= (K > 1 ? K : 1) && ldb >= (N > 1 ? N : 1) && ldc >= (N > 1 ? N : 1)) {
        if (alpha == 0.0 && beta == 1.0) return;
        if (use_avx2()) gemm_nn_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        else gemm_nn_portable(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    FORWARD(dgemm_f, cblas_dgemm);
    cblas_dgemm_ref(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef void (*dtrsm_f)(const enum CBLAS_ORDER, const enum CBLAS_SIDE, const enum CBLAS_UPLO, const enum CBLAS_TRANSPOSE,
                        const enum CBLAS_DIAG, const int, const int, const double, const double *, const int, double *,
                        const int);
void cblas_dtrsm(const enum CBLAS_ORDER Order, const enum CBLAS_SIDE Side, const enum CBLAS_UPLO Uplo,
                 const enum CBLAS_TRANSPOSE TransA, const enum CBLAS_DIAG Diag, const int M, const int N,
                 const double alpha, const double *A, const int lda, double *B, const int ldb) {
    if (Order == CblasRowMajor && Side == CblasLeft && Uplo == CblasLower && TransA == CblasNoTrans
        && (Diag == CblasUnit || Diag == CblasNonUnit) && M >= 0 && N >= 0 && lda >= (M > 1 ? M : 1)
        && ldb >= (N > 1 ? N : 1)) {
        const int nonunit = Diag == CblasNonUnit;
        if (use_avx2()) trsm_left_lower_avx2(nonunit, M, N, alpha, A, lda, B, ldb);
        else trsm_left_lower_portable(nonunit, M, N, alpha, A, lda, B, ldb);
        return;
    }
    FORWARD(dtrsm_f, cblas_dtrsm);
    cblas_dtrsm_ref(Order, Side, Uplo, TransA, Diag, M, N, alpha, A, lda, B, ldb);
}

typedef void (*dsyrk_f)(const enum CBLAS_ORDER, const enum CBLAS_UPLO, const enum CBLAS_TRANSPOSE, const int, const int,
                        const double, const double *, const int, const double, double *, const int);
void cblas_dsyrk(const enum CBLAS_ORDER Order, const enum CBLAS_UPLO Uplo, const enum CBLAS_TRANSPOSE Trans, const int N,
                 const int K, const double alpha, const double *A, const int lda, const double beta, double *C,
                 const int ldc) {
    if (Order == CblasRowMajor && Uplo == CblasUpper && Trans == CblasTrans && N >= 0 && K >= 0
        && lda >= (N > 1 ? N : 1) && ldc >= (N > 1 ? N : 1)) {
        if (alpha == 0.0 && beta == 1.0) return;
        if (use_avx2()) syrk_upper_trans_avx2(N, K, alpha, A, lda, beta, C, ldc);
        else syrk_upper_trans_portable(N, K, alpha, A, lda, beta, C, ldc);
        return;
    }
    FORWARD(dsyrk_f, cblas_dsyrk);
    cblas_dsyrk_ref(Order, Uplo, Trans, N, K, alpha, A, lda, beta, C, ldc);
}

// Every stride here, as the reference's loop (source_copy_r.h: a negative stride starts at the
// vector's far end, OFFSET): a copy has no arithmetic, so nothing is left to forward, and a
// strided copy (GSL's eigensolvers copy rows and columns) no longer loads libgslcblas.so.0 at run
// time (issue 22: its dlopen was ~12 system calls and ~10 page faults of every `simulate`).
void cblas_dcopy(const int N, const double *X, const int incX, double *Y, const int incY) {
    if (incX == 1 && incY == 1) {
        for (int i = 0; i < N; i++) Y[i] = X[i];
        return;
    }
    int ix = incX > 0 ? 0 : (N - 1) * (-incX);
    int iy = incY > 0 ? 0 : (N - 1) * (-incY);
    for (int i = 0; i < N; i++) {
        Y[iy] = X[ix];
        ix += incX;
        iy += incY;
    }
}
