// The kernels of activations.c, included once per instruction set: the includer defines
// NAME(x) (a per-variant name) and, for the AVX2 copy, makes every function here target AVX2+FMA.
// Eight lanes of GCC/Clang vector extensions; a variant's helpers are only called (inlined) from
// the same variant, so 32-byte vectors never cross an instruction-set boundary.

INLINE f8 NAME(splat)(float v) { return (f8){v, v, v, v, v, v, v, v}; }
INLINE i8 NAME(bits)(f8 v) { return (i8)v; }
/// Lanes of `a` where `mask` is all ones, of `b` elsewhere.
INLINE f8 NAME(select)(i8 mask, f8 a, f8 b) { return (f8)((mask & NAME(bits)(a)) | (~mask & NAME(bits)(b))); }

/// e^x for eight floats at once, for x <= 0 (the logistic kernels only need e^−|x|).
///
/// Range reduction as in Cody and Waite (1980, "Software Manual for the Elementary Functions"):
/// x = n·ln 2 + r with n = round(x / ln 2), |r| <= ln 2 / 2, ln 2 split into a high part exact in
/// float and a low correction (0.693359375 − 2.1219444e−4; n found by the round-to-nearest of
/// adding 1.5·2^23); e^r by its Taylor polynomial of degree 7 (truncation error below
/// (ln 2 / 2)^8 / 8! ≈ 5e−9, under float rounding); 2^n written into the exponent bits.
/// For x < −87, where e^x (< 1.65e−38) nears the subnormal range (below 1.18e−38), the result is
/// 0: subnormal activations would make every later multiplication ~100 times slower on x86 (a
/// squeeze-and-excitation gate of 1e−35 times a signal of 1e−3 is subnormal, and the next 1×1
/// conv's GEMM crawls), and an absolute error below 1.7e−38 is negligible beside 1 in the
/// logistic functions. A NaN lane gives an unspecified number; callers put NaN back where the
/// input was NaN. With FMA (the AVX2 variant) `p * r + c` contracts to one rounding.
INLINE f8 NAME(negative_exp)(f8 x) {
  i8 tiny = ~(x >= NAME(splat)(-87.0f));  // x < −87 or NaN
  f8 clamped = NAME(select)(tiny, NAME(splat)(-87.0f), x);
  f8 shifted = clamped * 1.44269504f + 12582912.0f;
  f8 n = shifted - 12582912.0f;
  f8 r = clamped - n * 0.693359375f + n * 2.1219444e-4f;
  f8 p = NAME(splat)(1.0f / 5040);
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  i8 exponent = (NAME(bits)(shifted) - 0x4B400000 + 127) << 23;  // 2^n
  f8 y = p * (f8)exponent;
  return NAME(select)(x < NAME(splat)(-87.0f), NAME(splat)(0.0f), y);
}

/// σ(x) from e = e^−|x|: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0; NaN stays NaN.
INLINE f8 NAME(logistic)(f8 x) {
  i8 negative = x < NAME(splat)(0.0f);
  f8 e = NAME(negative_exp)(NAME(select)(negative, x, -x));
  f8 s = NAME(splat)(1.0f) / (1.0f + e);
  f8 y = NAME(select)(negative, s * e, s);
  return NAME(select)(x != x, x, y);
}

INLINE f8 NAME(silu)(f8 x) { return x * NAME(logistic)(x); }

INLINE f8 NAME(load)(const float *p) { f8 v; memcpy(&v, p, sizeof v); return v; }
INLINE void NAME(store)(float *p, f8 v) { memcpy(p, &v, sizeof v); }

/// Applies `f` to whole blocks of eight, then to the tail padded with zeros.
#define MAP_BODY(f)                                              \
  size_t i = 0;                                                  \
  for (; i + 8 <= count; i += 8) NAME(store)(y + i, f(NAME(load)(x + i)));   \
  if (i < count) {                                               \
    float tail[8] = {0};                                         \
    memcpy(tail, x + i, (count - i) * sizeof(float));            \
    NAME(store)(tail, f(NAME(load)(tail)));                                  \
    memcpy(y + i, tail, (count - i) * sizeof(float));            \
  }


static void NAME(sigmoid)(const float *x, float *y, size_t count) { MAP_BODY(NAME(logistic)) }
static void NAME(silu_map)(const float *x, float *y, size_t count) { MAP_BODY(NAME(silu)) }
#undef MAP_BODY
