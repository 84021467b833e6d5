#ifndef RELUFLOW_RK87_H
#define RELUFLOW_RK87_H

/// The Runge–Kutta 8(7) pair of Prince and Dormand (RK8(7)13M: 13 stages, the 8th-order solution
/// propagated, the 7th-order one for the error estimate; P. J. Prince, J. R. Dormand, "High order
/// embedded Runge–Kutta formulae", J. Comput. Appl. Math. 7 (1981) 67–75), the method GSL's
/// `rk8pd` implements, as a stepper of GSL's `odeiv2` (a `gsl_odeiv2_step_type`, so that GSL's
/// evolve, control and driver run it). Its stage sums run over the state in lanes of four (AVX2
/// where the CPU has it) with, per element, the operations of GSL's rk8pd in their order, and no
/// fused multiply-add: every result (y, yerr, dydt_out, the status and y after a failed
/// evaluation) is bitwise that of gsl_odeiv2_step_rk8pd (Rk87Tests).
///
/// Pointers are untyped here (GSL's types belong to the CGSL module): the type is a
/// `const gsl_odeiv2_step_type *`, a step a `gsl_odeiv2_step *`.

/// The stepper type ReluFlow runs for rk8pd: this one, or GSL's own rk8pd where chosen
/// (`rf_rk87_choose(0)`, or the environment variable RF_RK8PD=gsl at the first call).
const void *rf_rk8pd_type(void);

/// This stepper's type (whatever was chosen).
const void *rf_rk87_type(void);

/// Which stepper `rf_rk8pd_type` returns: 1 this one, 0 GSL's rk8pd, -1 decided at the next call
/// (this one unless RF_RK8PD=gsl).
void rf_rk87_choose(int ours);

/// Which build computes the stage sums: 1 AVX2 (when the CPU has it), 0 the portable one (the same
/// results), -1 chosen at the next step (AVX2 when the CPU has it).
void rf_rk87_lanes(int avx2);

/// Stage j (0 … 12) of the last step a step of this type took (k_{j+1} = f(t + c_{j+1} h, Y_{j+1}),
/// the derivative at the stage, not multiplied by h), or null for another stepper type. Valid
/// until the next step; stages after a failed evaluation are not meaningful.
const double *rf_rk87_stage(const void *step, int j);

#endif
