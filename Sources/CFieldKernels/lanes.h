// Four doubles in lanes, shared by the kernels' sources (private to CFieldKernels): unaligned
// GCC/Clang vector extension (two SSE2 halves without AVX2), the AVX2 function attribute, and
// always-inlined helpers, so that no v4d crosses a call boundary of another ABI.
#ifndef RELUFLOW_LANES_H
#define RELUFLOW_LANES_H

typedef double v4d __attribute__((vector_size(32), aligned(8)));
#define AVX2 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))
#define LD(p) (*(const v4d *)(p))
#define ST(p, v) (*(v4d *)(p) = (v))
#define SPLAT(x) ((v4d){(x), (x), (x), (x)})

#endif
