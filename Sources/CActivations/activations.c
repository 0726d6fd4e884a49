// Sigmoid and SiLU over float buffers, eight lanes at a time with GCC/Clang vector extensions,
// compiled once for baseline x86-64 and once for AVX2+FMA (see CActivations.h for the contract).
#include "CActivations.h"

#include <stdint.h>
#include <string.h>

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
#define INLINE static inline __attribute__((always_inline))
// 32-byte vectors without AVX: passed between inlined helpers only, never across an ABI boundary.
#pragma clang diagnostic ignored "-Wpsabi"

#define NAME(x) x##_baseline
#include "activation_kernels.h"
#undef NAME

#if defined(__x86_64__) || defined(__i386__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define NAME(x) x##_avx2
#include "activation_kernels.h"
#undef NAME
#pragma clang attribute pop
#endif

int clrp_activations_use_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
  static int cached = -1;  // racing first calls all compute the same answer
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return cached;
#else
  return 0;
#endif
}

void clrp_sigmoid(const float *x, float *y, size_t count) {
#if defined(__x86_64__) || defined(__i386__)
  if (clrp_activations_use_avx2()) { sigmoid_avx2(x, y, count); return; }
#endif
  sigmoid_baseline(x, y, count);
}

void clrp_silu(const float *x, float *y, size_t count) {
#if defined(__x86_64__) || defined(__i386__)
  if (clrp_activations_use_avx2()) { silu_map_avx2(x, y, count); return; }
#endif
  silu_map_baseline(x, y, count);
}

void clrp_sigmoid_baseline(const float *x, float *y, size_t count) { sigmoid_baseline(x, y, count); }
void clrp_silu_baseline(const float *x, float *y, size_t count) { silu_map_baseline(x, y, count); }
