#define _GNU_SOURCE
#include "lapack.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

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
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE")) return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) setenv("OPENBLAS_CORETYPE", "Haswell", 0);
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
