#ifndef RELUFLOW_CLAPACK_SHIM_H
#define RELUFLOW_CLAPACK_SHIM_H
#include <stddef.h>
/* The two LAPACK routines ReluFlow calls, from OpenBLAS's LAPACK (Debian: libopenblas-dev),
   declared here because Debian ships no LAPACK header with it. Fortran conventions: every
   argument by reference, matrices column-major, 32-bit integers (the LP64 build); a CHARACTER
   argument carries its length as a trailing hidden argument (gfortran). */

/* Minimum-norm solution of min |A x - b| by divide-and-conquer SVD; singular values at or below
   rcond * s_max count as zero. info < 0: argument -info was illegal; info > 0: the SVD did not
   converge (info off-diagonal elements of an intermediate bidiagonal form). */
void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
             const int *ldb, double *s, const double *rcond, int *rank, double *work,
             const int *lwork, int *iwork, int *info);

/* SVD A = U S Vᵀ by divide and conquer; jobz 'O': U overwrites A (m >= n). info > 0: the
   bidiagonal divide and conquer did not converge. */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
             double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
             int *iwork, int *info, size_t jobz_len);
/* Deep networks and curvature (SPEC §8). dgemm: C = alpha op(A) op(B) + beta C (column-major;
   a row-major product is the column-major product of the transposes). Bound to OpenBLAS: GSL's
   cblas_dgemm binds to the reference libgslcblas (see Package.swift). */
void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc, size_t transa_len, size_t transb_len);

/* Eigenvalues (jobz 'N') or eigenpairs ('V') of a symmetric matrix by divide and conquer; uplo
   'L' or 'U' names the triangle read. info > 0: the algorithm failed to converge. */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);

/* Eigenvalues of a symmetric matrix by the MRRR algorithm (range 'A': all; abstol 0: the
   default); info > 0: an internal error. */
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t range_len, size_t uplo_len);

/* Eigenpairs of a symmetric tridiagonal matrix (diagonal d, off-diagonal e; jobz 'V': vectors
   into z); Lanczos's small problem. info > 0: no convergence. */
void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
            double *work, int *info, size_t jobz_len);
#endif
