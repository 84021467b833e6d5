#ifndef RELUFLOW_REFERENCE_BLAS_H
#define RELUFLOW_REFERENCE_BLAS_H

/// reference_blas.c defines cblas_dtrsv, cblas_dger, cblas_dgemm, cblas_dtrsm, cblas_dsyrk and
/// cblas_dcopy for the executable: the shapes GSL's steppers and ModeField call computed with the
/// operations of GSL's reference CBLAS (libgslcblas) in its order, so bitwise its results; every
/// other call goes on to libgslcblas (issue 22). Their declarations are GSL's (gsl_cblas.h).
///
/// Which build computes them: 1 the AVX2 build (when the CPU has AVX2), 0 the portable one,
/// -1 chosen at the first call (AVX2 when the CPU has it, unless the environment variable
/// RF_REFERENCE_BLAS_PORTABLE is 1). For ReferenceBLASTests, which checks both against libgslcblas.
void rf_reference_blas_choose(int avx2);

/// libgslcblas's own function `name` (for the tests' comparisons), or null.
void *rf_reference_blas_original(const char *name);

#endif
