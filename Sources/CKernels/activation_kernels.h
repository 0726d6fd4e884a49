// The activation kernels of activations.c, compiled once per variant by instantiate_variants.h.

/// e^x for LANES floats at once, for x <= 0 (the logistic kernels only need e^−|x|).
///
/// Range reduction as in Cody and Waite (1980, "Software Manual for the Elementary Functions"):
/// x = n·ln 2 + r with n = round(x / ln 2), |r| <= ln 2 / 2, ln 2 split into a high part exact in
/// float and a low correction (0.693359375 − 2.1219444e−4; n found by the round-to-nearest of
/// adding 1.5·2^23); e^r by its Taylor polynomial of degree 7 (truncation error below
/// (ln 2 / 2)^8 / 8! ≈ 5e−9, under float rounding); then scaled by 2^n, written into the exponent
/// bits (or by `vscalefps` on AVX-512).
/// For x < −87, where e^x (< 1.65e−38) nears the subnormal range (below 1.18e−38), the result is
/// 0: subnormal activations would make every later multiplication ~100 times slower on x86 (a
/// squeeze-and-excitation gate of 1e−35 times a signal of 1e−3 is subnormal, and the next 1×1
/// conv's GEMM crawls), and an absolute error below 1.7e−38 is negligible beside 1 in the
/// logistic functions. NaN gives NaN (the clamp and the flush keep a NaN lane as it is). With FMA
/// (the AVX2 and AVX-512 variants) `p * r + c` contracts to one rounding.
INLINE VF NAME(negative_exp)(VF x) {
  VI tiny = x < NAME(splat)(-87.0f);  // false for NaN
  VF clamped = NAME(select)(tiny, NAME(splat)(-87.0f), x);
  VF shifted = clamped * 1.44269504f + 12582912.0f;
  VF n = shifted - 12582912.0f;
  VF r = clamped - n * 0.693359375f + n * 2.1219444e-4f;
  VF p = NAME(splat)(1.0f / 5040);
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
#ifdef VARIANT_AVX512
  VF y = (VF)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
  VI exponent = (NAME(bits)(shifted) - 0x4B400000 + 127) << 23;  // 2^n
  VF y = p * (VF)exponent;
#endif
  return NAME(select)(tiny, NAME(splat)(0.0f), y);
}

/// σ(x) from e = e^−|x|: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0; NaN stays NaN.
INLINE VF NAME(logistic)(VF x) {
  VI negative = x < NAME(splat)(0.0f);
  VF minus_abs = (VF)(NAME(bits)(x) | (VI)NAME(bits)(NAME(splat)(-0.0f)));  // −|x|: the sign bit set
  VF e = NAME(negative_exp)(minus_abs);
  VF s = NAME(reciprocal_1_2)(1.0f + e);
  return NAME(select)(negative, s * e, s);
}

INLINE VF NAME(silu)(VF x) { return x * NAME(logistic)(x); }

/// Applies `f` to whole vectors, then to the tail (the other lanes zero).
#define MAP_BODY(f)                                                        \
  size_t i = 0;                                                            \
  for (; i + LANES <= count; i += LANES) NAME(store)(y + i, f(NAME(load)(x + i))); \
  if (i < count) NAME(store_first)(y + i, f(NAME(load_first)(x + i, count - i)), count - i);

/// min(1, max(0, v)), NaN staying NaN.
INLINE VF NAME(unit_clamp)(VF v) {
  v = NAME(select)(v < NAME(splat)(0.0f), NAME(splat)(0.0f), v);
  return NAME(select)(v > NAME(splat)(1.0f), NAME(splat)(1.0f), v);
}

/// x · min(1, max(0, x / 6 + 1/2)) with the gate as (x + 3) · (1/6): near x = −3, where the gate
/// nears 0, x + 3 is exact, whereas x · (1/6) + 0.5 (one FMA) would carry the error of the
/// constant 1/6 amplified some thirty times.
INLINE VF NAME(hard_swish)(VF x) { return x * NAME(unit_clamp)((x + 3.0f) * (1.0f / 6)); }

static void NAME(sigmoid)(const float *x, float *y, size_t count) { MAP_BODY(NAME(logistic)) }
static void NAME(silu_map)(const float *x, float *y, size_t count) { MAP_BODY(NAME(silu)) }
static void NAME(hard_swish_map)(const float *x, float *y, size_t count) { MAP_BODY(NAME(hard_swish)) }
static void NAME(hard_sigmoid_map)(const float *x, float *y, size_t count, float alpha, float beta) {
#define HARD_SIGMOID(v) NAME(unit_clamp)((v) * alpha + beta)
  MAP_BODY(HARD_SIGMOID)
#undef HARD_SIGMOID
}
#undef MAP_BODY
