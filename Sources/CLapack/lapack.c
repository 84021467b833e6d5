#define _GNU_SOURCE
#include "lapack.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#ifdef CPU_FEATURE_ACTIVE /* glibc 2.33 on (2.32's header has CPU_FEATURE_USABLE) */
#define RF_GLIBC_CPU_FEATURES 1
#endif
#endif
#endif

static rf_lapack_api api;
static const rf_lapack_api *loaded = NULL;
static char failure[512];
static char path[4096];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* OpenBLAS (Debian's build has DYNAMIC_ARCH) picks its kernels by the CPU it finds when it is
   loaded, and the kernels of different CPUs round differently: a pattern floor's least-squares
   solve (dgelsd) moved by a few ulp between the Haswell and SkylakeX kernels on one AVX-512
   machine, enough to change a printed rounding-level gap. Unless the user chose a core type,
   ReluFlow asks for the Haswell kernels (AVX2 and FMA; Zen's kernels give the same bits) wherever
   the CPU has them, so that a run's analysis and curvature are the same bits on every such x86-64
   machine. The command calls this at its start, once it holds its arguments and before it starts
   any work (setenv is not safe beside a concurrent getenv); the loader calls it again for library
   users. Not a constructor: in the release build (static Swift runtime) CommandLine.arguments,
   read after a setenv that moved environ, came out empty. */
void rf_lapack_choose_kernels(void) {
    /* One OpenBLAS thread unless the user chose a number (OpenBLAS reads OPENBLAS_NUM_THREADS, then
       GOTO_NUM_THREADS, then OMP_NUM_THREADS when it is loaded): a LAPACK routine's bits depend on how
       its blocked operations are split among threads, so with the default (one thread per core)
       a run's results depended on the machine's core count. ANLS's least squares at m = 400, width 40
       took other events after 20 iterations with two threads than with one. One thread is also what
       a sweep's runs get (they are the parallelism) and what the curvature benchmarks measure. */
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("GOTO_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
        setenv("OPENBLAS_NUM_THREADS", "1", 0);
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE")) return;
#ifdef RF_GLIBC_CPU_FEATURES
    /* What glibc's loader found at start, without CPUID (__builtin_cpu_supports links libgcc's
       CPU probe, a constructor of ~10 CPUIDs at every start, ~5 µs each in a virtual machine;
       issue 22): usable AVX2 and FMA, as __builtin_cpu_supports reports them. */
    int haswell = CPU_FEATURE_ACTIVE(AVX2) && CPU_FEATURE_ACTIVE(FMA);
#else
    __builtin_cpu_init();
    int haswell = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    if (haswell) setenv("OPENBLAS_CORETYPE", "Haswell", 0);
#endif
}

/* Debian's libopenblas0 provides the soname through its alternatives (pthread, openmp or serial
   variant); the unversioned name is the -dev package's link. */
static void load(void) {
    rf_lapack_choose_kernels();
    const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *handle = NULL;
    const char *why = NULL;
    for (int k = 0; k < 2 && !handle; k++) {
        handle = dlopen(names[k], RTLD_NOW | RTLD_LOCAL);
        if (!handle) why = dlerror();
    }
    if (!handle) {
        snprintf(failure, sizeof failure, "cannot load OpenBLAS for LAPACK (libopenblas.so.0; Debian: libopenblas0): %s",
                 why ? why : "unknown reason");
        return;
    }
#define SYMBOL(name)                                                                             \
    do {                                                                                         \
        *(void **)(&api.name) = dlsym(handle, #name);                                            \
        if (!api.name) {                                                                         \
            snprintf(failure, sizeof failure, "OpenBLAS (libopenblas.so.0) has no function %s", #name); \
            return;                                                                              \
        }                                                                                        \
    } while (0)
    SYMBOL(dgelsd_);
    SYMBOL(dgesdd_);
    SYMBOL(dgemm_);
    SYMBOL(dsyevd_);
    SYMBOL(dsyevr_);
    SYMBOL(dstev_);
#undef SYMBOL
    Dl_info info;
    if (dladdr(*(void **)(&api.dgelsd_), &info) && info.dli_fname) snprintf(path, sizeof path, "%s", info.dli_fname);
    loaded = &api;
}

const rf_lapack_api *rf_lapack_load(char *reason, size_t size) {
    pthread_once(&once, load);
    if (!loaded && reason && size > 0) snprintf(reason, size, "%s", failure);
    return loaded;
}

const rf_lapack_api *rf_lapack(void) {
    pthread_once(&once, load);
    if (!loaded) {
        fprintf(stderr, "reluflow: %s\n", failure);
        exit(3);
    }
    return loaded;
}

const char *rf_lapack_path(void) {
    pthread_once(&once, load);
    return loaded ? path : NULL;
}
