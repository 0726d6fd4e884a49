#ifndef CLRP_CACTIVATIONS_H
#define CLRP_CACTIVATIONS_H

#include <stddef.h>

/// Smooth activations over a float buffer, `y[i] = f(x[i])` for 0 <= i < count. `x` and `y`
/// may be the same buffer but must not otherwise overlap.
///
/// Each is compiled twice, for baseline x86-64 (SSE2) and for AVX2 with FMA, and the first call
/// picks the variant the CPU supports (`__builtin_cpu_supports`), so one binary runs on any
/// x86-64 (no ifunc: plain dispatch, so a static or dynamic glibc makes no difference). σ from
/// e = e^−|x| (never overflowing), e^−|x| by Cody–Waite range reduction and a degree-7 Taylor
/// polynomial, flushed to 0 below e^−87 (activation_kernels.h). Relative error measured against
/// double precision on a 8.7e−5 grid over [−87, 87]: σ below 1.9e−7, SiLU below 2.2e−7, in both
/// variants (FMA changes roundings, not the bound); SmoothActivationTests asserts 5e−7. NaN
/// stays NaN.

/// σ(x) = 1 / (1 + e^−x).
void clrp_sigmoid(const float *x, float *y, size_t count);
/// SiLU: x · σ(x).
void clrp_silu(const float *x, float *y, size_t count);
/// The baseline (SSE2) variants, whatever the CPU: for tests comparing both variants.
void clrp_sigmoid_baseline(const float *x, float *y, size_t count);
void clrp_silu_baseline(const float *x, float *y, size_t count);
/// Whether the AVX2+FMA variant is the one in use (for benchmarks and reports).
int clrp_activations_use_avx2(void);

#endif
