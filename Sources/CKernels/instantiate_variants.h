// Compiles the kernels of the file named by KERNELS three times: for baseline x86-64 (SSE2),
// for AVX2+FMA and for AVX-512F, each copy's functions named by NAME(x) (x_baseline, x_avx2,
// x_avx512). The includer dispatches on clrp_cpu_level() (cpu_level.c), so one binary runs on
// any x86-64 and no file is compiled with -march.
//
// A kernels file sees, per variant: VF, a vector of LANES floats (8 for SSE2 and AVX2, 16 for
// AVX-512), VI the integer vector of the same shape, and the helpers of vector_ops.h. Vectors
// are GCC/Clang vector extensions; a variant's helpers are only called (inlined) from the same
// variant, so vectors never cross an instruction-set boundary.
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef float f16 __attribute__((vector_size(64)));
typedef int32_t i16 __attribute__((vector_size(64)));
typedef double d8 __attribute__((vector_size(64)));
#define INLINE static inline __attribute__((always_inline))
// Wide vectors without AVX: passed between inlined helpers only, never across an ABI boundary.
#pragma clang diagnostic ignored "-Wpsabi"

#define VF f8
#define VI i8
#define LANES 8
#define NAME(x) x##_baseline
#include "vector_ops.h"
#include KERNELS
#undef NAME

#if defined(__x86_64__) || defined(__i386__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define NAME(x) x##_avx2
#include "vector_ops.h"
#include KERNELS
#undef NAME
#pragma clang attribute pop
#undef VF
#undef VI
#undef LANES

#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#define VF f16
#define VI i16
#define LANES 16
#define VARIANT_AVX512 1
#define NAME(x) x##_avx512
#include "vector_ops.h"
#include KERNELS
#undef NAME
#undef VARIANT_AVX512
#pragma clang attribute pop
#endif
#undef VF
#undef VI
#undef LANES

/// Runs the variant of `kernel` for instruction-set `level` (a CLRP_LEVEL_*), lowered to the
/// CPU's level (clrp_cpu_level()) so that no variant runs on a CPU without its instructions.
#if defined(__x86_64__) || defined(__i386__)
#define CALL_AT_LEVEL(level, kernel, ...)                                     \
  do {                                                                        \
    int capped_ = (level) < clrp_cpu_level() ? (level) : clrp_cpu_level();    \
    if (capped_ >= CLRP_LEVEL_AVX512) kernel##_avx512(__VA_ARGS__);           \
    else if (capped_ == CLRP_LEVEL_AVX2) kernel##_avx2(__VA_ARGS__);          \
    else kernel##_baseline(__VA_ARGS__);                                      \
  } while (0)
#else
#define CALL_AT_LEVEL(level, kernel, ...) kernel##_baseline(__VA_ARGS__)
#endif
