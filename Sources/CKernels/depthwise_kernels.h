// The depthwise convolution kernel of depthwise.c, compiled once per variant by
// instantiate_variants.h.

/// LANES inputs for the LANES consecutive outputs whose first tap is at `at`, `stride` inputs
/// apart: one load for stride 1, two loads and their even lanes for stride 2 (the padded plane
/// has 2·LANES readable floats after each row's last tap), one load per lane otherwise (only the
/// first `n` lanes, the others 0).
INLINE VF NAME(depthwise_inputs)(const float *at, size_t stride, size_t n) {
  if (stride == 1) return NAME(load)(at);
  if (stride == 2) {
    VF a = NAME(load)(at), b = NAME(load)(at + LANES);
#if LANES == 16
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
#else
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
#endif
  }
  float lanes[LANES] = {0};
  for (size_t l = 0; l < n; l++) lanes[l] = at[l * stride];
  return NAME(load)(lanes);
}

/// `depthwise_plane` with the window's `kernel_h`, `kernel_w`, `stride_w` and `dilation_w` passed
/// apart, so that callers can make them constants and the tap loops unroll.
INLINE void NAME(depthwise_rows)(const clrp_depthwise_geometry *g, const float *padded, const float *w, float bias,
                                 float *y, size_t kh, size_t kw, size_t sw, size_t dw) {
  const size_t sh = g->stride_h, dh = g->dilation_h, row_stride = g->row_stride, ow_count = g->out_w;
  const VF lower = NAME(splat)(g->lower), upper = NAME(splat)(g->upper);
  // Windows of up to 5×5 keep their taps in vector registers (AVX-512 has 32) across the plane,
  // so that each multiply-add loads only its inputs.
  enum { MAX_HELD_TAPS = 25 };
  const int held = kh * kw <= MAX_HELD_TAPS;
  VF taps[MAX_HELD_TAPS];
  if (held) for (size_t t = 0; t < kh * kw; t++) taps[t] = NAME(splat)(w[t]);
  for (size_t oh = 0; oh < g->out_h; oh++) {
    const float *top = padded + oh * sh * row_stride;
    float *out = y + oh * ow_count;
    for (size_t ow = 0; ow < ow_count; ow += LANES) {
      size_t n = ow_count - ow < LANES ? ow_count - ow : LANES;
      // Two partial sums (even and odd kernel rows) halve the chain of dependent additions.
      VF even = NAME(splat)(bias), odd = NAME(splat)(0.0f);
      for (size_t i = 0; i < kh; i++) {
        const float *line = top + i * dh * row_stride + ow * sw;
        for (size_t j = 0; j < kw; j++) {
          // One expression each, so that the multiply-add contracts to an FMA where there is one.
          VF inputs = NAME(depthwise_inputs)(line + j * dw, sw, n);
          VF tap = held ? taps[i * kw + j] : NAME(splat)(w[i * kw + j]);
          if (i % 2 == 0) even = even + tap * inputs; else odd = odd + tap * inputs;
        }
      }
      VF sum = even + odd;
      if (g->clamps) sum = NAME(clamp_vector)(sum, lower, upper);
      if (n == LANES) NAME(store)(out + ow, sum); else NAME(store_first)(out + ow, sum, n);
    }
  }
}

/// Copies the `in_h × in_w` input plane into the interior of the padded scratch plane, LANES
/// floats at a time, the last vector of a row partial so that the zero border stays zero.
INLINE void NAME(copy_interior)(const clrp_depthwise_geometry *g, const float *x, float *padded) {
  const size_t w = g->in_w;
  for (size_t r = 0; r < g->in_h; r++) {
    const float *from = x + r * w;
    float *to = padded + (g->pad_top + r) * g->row_stride + g->pad_left;
    size_t k = 0;
    for (; k + LANES <= w; k += LANES) NAME(store)(to + k, NAME(load)(from + k));
    if (k < w) NAME(store_first)(to + k, NAME(load_first)(from + k, w - k), w - k);
  }
}

static void NAME(depthwise_plane)(const clrp_depthwise_geometry *g, const float *x, float *padded,
                                  const float *weight, float bias, float *y) {
  NAME(copy_interior)(g, x, padded);
  size_t kh = g->kernel_h, kw = g->kernel_w, sw = g->stride_w, dw = g->dilation_w;
#define CASE(KH, KW, SW)                                                        \
  if (kh == KH && kw == KW && sw == SW && dw == 1) {                            \
    NAME(depthwise_rows)(g, padded, weight, bias, y, KH, KW, SW, 1);            \
    return;                                                                     \
  }
  CASE(3, 3, 1) CASE(3, 3, 2) CASE(5, 5, 1) CASE(5, 5, 2)
#undef CASE
  NAME(depthwise_rows)(g, padded, weight, bias, y, kh, kw, sw, dw);
}
