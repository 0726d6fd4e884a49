// Helpers over VF/VI vectors of LANES lanes, included once per variant by instantiate_variants.h.

/// `v` in every lane (a shuffle, not `0 + v`, which the compiler may not fold: 0 + −0 is +0).
INLINE VF NAME(splat)(float v) {
  VF first = {v};
#if LANES == 16
  return __builtin_shufflevector(first, first, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
#else
  return __builtin_shufflevector(first, first, 0, 0, 0, 0, 0, 0, 0, 0);
#endif
}
INLINE VI NAME(bits)(VF v) { return (VI)v; }
/// Lanes of `a` where `mask` is all ones, of `b` elsewhere.
INLINE VF NAME(select)(VI mask, VF a, VF b) { return (VF)((mask & NAME(bits)(a)) | (~mask & NAME(bits)(b))); }
INLINE VF NAME(load)(const float *p) { VF v; memcpy(&v, p, sizeof v); return v; }
INLINE void NAME(store)(float *p, VF v) { memcpy(p, &v, sizeof v); }

/// The first `n` lanes (0 < n <= LANES) from `p`, the others 0; reads only `p[0..<n]`.
INLINE VF NAME(load_first)(const float *p, size_t n) {
#ifdef VARIANT_AVX512
  return (VF)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
#else
  float lanes[LANES] = {0};
  memcpy(lanes, p, n * sizeof(float));
  return NAME(load)(lanes);
#endif
}

/// Writes the first `n` lanes (0 < n <= LANES) of `v` to `p[0..<n]`.
INLINE void NAME(store_first)(float *p, VF v, size_t n) {
#ifdef VARIANT_AVX512
  _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
#else
  float lanes[LANES];
  NAME(store)(lanes, v);
  memcpy(p, lanes, n * sizeof(float));
#endif
}

/// 1 / d for d in [1, 2] (the denominators of the logistic kernels), correctly rounded by a
/// division, or on AVX-512 by `vrcp14ps` (relative error below 2^−14) refined by one
/// Newton–Raphson step r + r·(1 − d·r), which squares the error (below 2^−28) before the last
/// roundings: a division costs more than the rest of a logistic on 16 lanes.
INLINE VF NAME(reciprocal_1_2)(VF d) {
#ifdef VARIANT_AVX512
  VF r = (VF)_mm512_rcp14_ps((__m512)d);
  return r + r * (1.0f - d * r);
#else
  return 1.0f / d;
#endif
}

/// min(max(v, lower), upper), `max` first with NaN becoming `lower` (as `Clamp` in TensorKernels).
INLINE VF NAME(clamp_vector)(VF v, VF lower, VF upper) {
  v = NAME(select)(~(v > lower), lower, v);
  return NAME(select)(v > upper, upper, v);
}
