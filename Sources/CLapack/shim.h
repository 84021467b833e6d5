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
#endif
