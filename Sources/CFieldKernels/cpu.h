// Whether this process may use AVX2 (the CPU has it and the system saves its registers), private to
// CFieldKernels. Read from what glibc's dynamic loader found at the process's start
// (<sys/platform/x86.h>, glibc 2.33 on), without executing CPUID: __builtin_cpu_supports links
// libgcc's CPU probe, a constructor that executes about ten CPUID instructions at every start, and
// in a virtual machine each exits to the hypervisor (~5 µs apiece here, ~50 µs of every command;
// issue 22). Other C libraries keep __builtin_cpu_supports.
#ifndef RELUFLOW_CPU_H
#define RELUFLOW_CPU_H

#include <stdlib.h>
#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#ifdef CPU_FEATURE_ACTIVE /* glibc 2.33 on (2.32's header has CPU_FEATURE_USABLE) */
#define RF_GLIBC_CPU_FEATURES 1
#endif
#endif
#endif

static inline int rf_cpu_has_avx2(void) {
#ifdef RF_GLIBC_CPU_FEATURES
    return CPU_FEATURE_ACTIVE(AVX2) ? 1 : 0;
#else
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
}

#endif
