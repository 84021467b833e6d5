#ifndef RELUFLOW_CLAPACK_H
#define RELUFLOW_CLAPACK_H
#include <stddef.h>
/* The LAPACK routines (and dgemm) ReluFlow calls, from OpenBLAS (Debian: libopenblas0, installed with
   libopenblas-dev), declared here because Debian ships no LAPACK header with it. Fortran conventions:
   every argument by reference, matrices column-major, 32-bit integers (the LP64 build); a CHARACTER
   argument carries its length as a trailing hidden argument (gfortran).

   OpenBLAS is loaded with dlopen the first time one of them is called (rf_lapack), not linked:
   linked, it cost every command at start about 8 M instructions of symbol relocation (12 000 of the
   process's 21 000 symbol bindings) and the start of its thread pool (issue 22), while only the
   analysis, the curvature and deep networks use it. RTLD_LOCAL: its cblas_* symbols stay invisible
   to the rest of the process, so GSL's own BLAS calls keep binding to the reference libgslcblas
   (BLASLinkageTests). Each function below is an inline call through the pointer that dlsym found for
   the symbol of the same name. */

/* Sets OPENBLAS_CORETYPE to Haswell where the CPU has AVX2 and FMA and the user set no core type,
   and OPENBLAS_NUM_THREADS to 1 where the user set no thread count (lapack.c says why: the same
   bits on every such machine, whatever its number of cores); the loader calls it first. */
void rf_lapack_choose_kernels(void);

/* Minimum-norm solution of min |A x - b| by divide-and-conquer SVD; singular values at or below
   rcond * s_max count as zero. info < 0: argument -info was illegal; info > 0: the SVD did not
   converge (info off-diagonal elements of an intermediate bidiagonal form). */
typedef void (*rf_dgelsd_t)(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                            const int *ldb, double *s, const double *rcond, int *rank, double *work,
                            const int *lwork, int *iwork, int *info);

/* SVD A = U S Vᵀ by divide and conquer; jobz 'O': U overwrites A (m >= n). info > 0: the
   bidiagonal divide and conquer did not converge. */
typedef void (*rf_dgesdd_t)(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
                            double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
                            int *iwork, int *info, size_t jobz_len);

/* Deep networks and curvature (SPEC §8). dgemm: C = alpha op(A) op(B) + beta C (column-major;
   a row-major product is the column-major product of the transposes). OpenBLAS's: GSL's
   cblas_dgemm binds to the reference libgslcblas. */
typedef void (*rf_dgemm_t)(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                           const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
                           const double *beta, double *c, const int *ldc, size_t transa_len, size_t transb_len);

/* Eigenvalues (jobz 'N') or eigenpairs ('V') of a symmetric matrix by divide and conquer; uplo
   'L' or 'U' names the triangle read. info > 0: the algorithm failed to converge. */
typedef void (*rf_dsyevd_t)(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                            double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                            size_t jobz_len, size_t uplo_len);

/* Eigenvalues of a symmetric matrix by the MRRR algorithm (range 'A': all; abstol 0: the
   default); info > 0: an internal error. */
typedef void (*rf_dsyevr_t)(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
                            const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
                            const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
                            double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                            size_t jobz_len, size_t range_len, size_t uplo_len);

/* Eigenpairs of a symmetric tridiagonal matrix (diagonal d, off-diagonal e; jobz 'V': vectors
   into z); Lanczos's small problem. info > 0: no convergence. */
typedef void (*rf_dstev_t)(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                           double *work, int *info, size_t jobz_len);

typedef struct {
    rf_dgelsd_t dgelsd_;
    rf_dgesdd_t dgesdd_;
    rf_dgemm_t dgemm_;
    rf_dsyevd_t dsyevd_;
    rf_dsyevr_t dsyevr_;
    rf_dstev_t dstev_;
} rf_lapack_api;

/* Loads OpenBLAS once (thread-safe). Returns NULL when it cannot be loaded, with the reason
   (dlerror's message, or the missing symbol) in `reason`. */
const rf_lapack_api *rf_lapack_load(char *reason, size_t size);

/* The loaded functions; when OpenBLAS cannot be loaded, prints the reason and exits with status 3
   (a file could not be read), as a missing shared library stopped the program at start when it
   was linked. */
const rf_lapack_api *rf_lapack(void);

/* The file OpenBLAS was loaded from (dladdr of its dgelsd_), loading it if needed; NULL when it
   cannot be loaded. */
const char *rf_lapack_path(void);

static inline void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                           const int *ldb, double *s, const double *rcond, int *rank, double *work,
                           const int *lwork, int *iwork, int *info) {
    rf_lapack()->dgelsd_(m, n, nrhs, a, lda, b, ldb, s, rcond, rank, work, lwork, iwork, info);
}

static inline void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
                           double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
                           int *iwork, int *info, size_t jobz_len) {
    rf_lapack()->dgesdd_(jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork, info, jobz_len);
}

static inline void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                          const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
                          const double *beta, double *c, const int *ldc, size_t transa_len, size_t transb_len) {
    rf_lapack()->dgemm_(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, transa_len, transb_len);
}

static inline void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                           double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                           size_t jobz_len, size_t uplo_len) {
    rf_lapack()->dsyevd_(jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork, info, jobz_len, uplo_len);
}

static inline void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
                           const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
                           const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
                           double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                           size_t jobz_len, size_t range_len, size_t uplo_len) {
    rf_lapack()->dsyevr_(jobz, range, uplo, n, a, lda, vl, vu, il, iu, abstol, m, w, z, ldz, isuppz, work, lwork,
                         iwork, liwork, info, jobz_len, range_len, uplo_len);
}

static inline void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                          double *work, int *info, size_t jobz_len) {
    rf_lapack()->dstev_(jobz, n, d, e, z, ldz, work, info, jobz_len);
}
#endif
