#ifndef CLRP_CKERNELS_H
#define CLRP_CKERNELS_H

#include <stddef.h>

/// Float kernels in C, each compiled for baseline x86-64 (SSE2), for AVX2+FMA and for AVX-512F
/// (instantiate_variants.h); a call runs the variant of the CPU's level (`clrp_cpu_level`), so
/// one binary runs on any x86-64 (no ifunc, no -march: plain dispatch, so a static or dynamic
/// glibc makes no difference). They live in C because Swift compiles for baseline x86-64 only
/// and has no per-function target attributes. The `_at_level` forms run a given variant (lowered
/// to what the CPU has), for tests comparing the variants and for benchmarks.

/// Instruction-set levels, in increasing order.
enum { CLRP_LEVEL_BASELINE = 0, CLRP_LEVEL_AVX2 = 1, CLRP_LEVEL_AVX512 = 2 };

/// The highest level this CPU supports (AVX2 needs AVX2 and FMA; AVX-512 needs those and
/// AVX-512F), lowered by the environment variable CLRP_KERNEL_LEVEL=baseline|avx2 if set; read once.
int clrp_cpu_level(void);

// MARK: Activations

/// Smooth activations over a float buffer, `y[i] = f(x[i])` for 0 <= i < count. `x` and `y`
/// may be the same buffer but must not otherwise overlap.
///
/// σ from e = e^−|x| (never overflowing), e^−|x| by Cody–Waite range reduction and a degree-7
/// Taylor polynomial, flushed to 0 below e^−87 (activation_kernels.h); 1 / (1 + e) by a
/// division, or on AVX-512 by a reciprocal estimate and one Newton step (vector_ops.h).
/// Relative error measured against double precision on a 8.7e−5 grid over [−87, 87], every
/// variant: σ below 1.9e−7, SiLU below 2.3e−7; SmoothActivationTests asserts 5e−7 for every
/// variant. NaN stays NaN.

/// σ(x) = 1 / (1 + e^−x).
void clrp_sigmoid(const float *x, float *y, size_t count);
/// SiLU: x · σ(x).
void clrp_silu(const float *x, float *y, size_t count);
void clrp_sigmoid_at_level(int level, const float *x, float *y, size_t count);
void clrp_silu_at_level(int level, const float *x, float *y, size_t count);
/// HardSwish: x · min(1, max(0, x / 6 + 1/2)); NaN stays NaN.
void clrp_hard_swish(const float *x, float *y, size_t count);
void clrp_hard_swish_at_level(int level, const float *x, float *y, size_t count);
/// HardSigmoid: min(1, max(0, alpha · x + beta)); NaN stays NaN.
void clrp_hard_sigmoid(const float *x, float *y, size_t count, float alpha, float beta);
void clrp_hard_sigmoid_at_level(int level, const float *x, float *y, size_t count, float alpha, float beta);

// MARK: Depthwise convolution

/// The window of one depthwise convolution plane and its zero-padded copy (all counts >= 1
/// except the pads).
typedef struct {
  /// The input plane, `in_h × in_w`, row-major without gaps.
  size_t in_h, in_w;
  /// The output plane, `out_h × out_w`, written row-major without gaps.
  size_t out_h, out_w;
  size_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  /// Where the input's top-left value goes in the padded plane, and the floats from one padded
  /// row to the next.
  size_t pad_top, pad_left, row_stride;
  /// Whether outputs are clamped to [lower, upper] (`max` first, NaN becoming `lower`, then `min`).
  int clamps;
  float lower, upper;
} clrp_depthwise_geometry;

/// One plane of a depthwise convolution: copies the input plane `x` into the interior of
/// `padded` (rows `pad_top ..< pad_top + in_h`, columns `pad_left ..< pad_left + in_w`; nothing
/// else of `padded` is written, so a zero border written once serves every plane), then
///
///     y[oh, ow] = bias + Σ_{i,j} padded[(oh·stride_h + i·dilation_h)·row_stride + ow·stride_w + j·dilation_w] · weight[i·kernel_w + j]
///
/// clamped if `clamps`. Every tap must lie inside `padded`, and 32 more floats must be readable
/// after each row's last tap (vector loads read past it; those lanes are discarded).
/// Outputs go LANES at a time along a row (8 on SSE2 and AVX2, 16 on AVX-512), the row's last
/// vector partial; 3×3 and 5×5 windows of stride 1 or 2 get loops with constant bounds, windows
/// of up to 25 taps keep them in registers.
void clrp_depthwise_plane(const clrp_depthwise_geometry *geometry, const float *x, float *padded,
                          const float *weight, float bias, float *y);
void clrp_depthwise_plane_at_level(int level, const clrp_depthwise_geometry *geometry, const float *x,
                                   float *padded, const float *weight, float bias, float *y);

/// The window of one transposed depthwise convolution plane (all counts >= 1 except the pads).
typedef struct {
  /// The input plane `in_h × in_w` (written) and the output-gradient plane `out_h × out_w` (read).
  size_t in_h, in_w, out_h, out_w;
  size_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
} clrp_depthwise_transposed_geometry;

/// The input-gradient of one depthwise convolution plane (the adjoint of `clrp_depthwise_plane`
/// without bias and clamp): zeroes `x`, then
///
///     x[oh·stride_h − pad_top + i·dilation_h, ow·stride_w − pad_left + j·dilation_w] += grad[oh, ow] · weight[i·kernel_w + j]
///
/// over the taps inside the plane, one tap and output row at a time (stride 1 and 2 along the row
/// in vectors). Writes exactly `x[0 ..< in_h·in_w]`.
void clrp_depthwise_transposed_plane(const clrp_depthwise_transposed_geometry *geometry, const float *grad,
                                     const float *weight, float *x);
void clrp_depthwise_transposed_plane_at_level(int level, const clrp_depthwise_transposed_geometry *geometry,
                                              const float *grad, const float *weight, float *x);

// MARK: Row passes

/// `p[r·stride + k] = values[r]` for 0 <= r < rows, 0 <= k < count (a GEMM output's rows set to
/// their bias before the GEMM adds to them).
void clrp_fill_rows(float *p, size_t rows, size_t count, size_t stride, const float *values);
void clrp_fill_rows_at_level(int level, float *p, size_t rows, size_t count, size_t stride, const float *values);
/// `p[k] = min(max(p[k], lower), upper)` for 0 <= k < count, `max` first with NaN becoming
/// `lower` (as `Clamp` in TensorKernels).
void clrp_clamp(float *p, size_t count, float lower, float upper);
void clrp_clamp_at_level(int level, float *p, size_t count, float lower, float upper);

// MARK: Plane means

/// `y[p] = (Σ_k x[p·size + k]) / size` for 0 <= p < planes (0 when size is 0), summed in double
/// precision (ONNX GlobalAveragePool over `planes = N·C` planes of `size` values).
void clrp_plane_means(const float *x, size_t planes, size_t size, float *y);
void clrp_plane_means_at_level(int level, const float *x, size_t planes, size_t size, float *y);

#endif
