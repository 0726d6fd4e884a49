// The transposed depthwise convolution kernel of depthwise_transposed.c, compiled once per variant
// by instantiate_variants.h.

/// `x[k·stride] += tap · g[k]` for 0 <= k < count: one kernel tap scattering an output row into
/// an input row. Stride 1 goes LANES at a time; stride 2 interleaves LANES products with zeros
/// and adds them to 2·LANES consecutive inputs (the zeros leave the odd positions unchanged, and
/// the last vector is partial so nothing past x[(count − 1)·2] is written); other strides go one
/// by one.
INLINE void NAME(scatter_row)(float *x, const float *g, size_t count, size_t stride, float tap) {
  const VF taps = NAME(splat)(tap);
  size_t k = 0;
  if (stride == 1) {
    for (; k + LANES <= count; k += LANES) NAME(store)(x + k, NAME(load)(x + k) + taps * NAME(load)(g + k));
    if (k < count) {
      size_t n = count - k;
      NAME(store_first)(x + k, NAME(load_first)(x + k, n) + taps * NAME(load_first)(g + k, n), n);
    }
    return;
  }
  if (stride == 2) {
    const VF zero = NAME(splat)(0.0f);
    for (; k < count; k += LANES) {
      size_t n = count - k < LANES ? count - k : LANES;
      VF products = taps * (n == LANES ? NAME(load)(g + k) : NAME(load_first)(g + k, n));
#if LANES == 16
      VF low = __builtin_shufflevector(products, zero, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
      VF high = __builtin_shufflevector(products, zero, 8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);
#else
      VF low = __builtin_shufflevector(products, zero, 0, 8, 1, 8, 2, 8, 3, 8);
      VF high = __builtin_shufflevector(products, zero, 4, 8, 5, 8, 6, 8, 7, 8);
#endif
      // The 2n − 1 inputs x[2k ... 2(k + n − 1)], the first LANES in `low`, the rest in `high`.
      float *at = x + 2 * k;
      size_t span = 2 * n - 1;
      if (span >= LANES) {
        NAME(store)(at, NAME(load)(at) + low);
        if (span > LANES) NAME(store_first)(at + LANES, NAME(load_first)(at + LANES, span - LANES) + high, span - LANES);
      } else {
        NAME(store_first)(at, NAME(load_first)(at, span) + low, span);
      }
    }
    return;
  }
  for (; k < count; k++) x[k * stride] += tap * g[k];
}

static void NAME(depthwise_transposed_plane)(const clrp_depthwise_transposed_geometry *t, const float *grad,
                                             const float *weight, float *x) {
  const size_t kh = t->kernel_h, kw = t->kernel_w, sh = t->stride_h, sw = t->stride_w;
  const size_t dh = t->dilation_h, dw = t->dilation_w, in_h = t->in_h, in_w = t->in_w;
  memset(x, 0, in_h * in_w * sizeof(float));
  for (size_t oh = 0; oh < t->out_h; oh++) {
    const float *source = grad + oh * t->out_w;
    for (size_t i = 0; i < kh; i++) {
      ptrdiff_t ih = (ptrdiff_t)(oh * sh + i * dh) - (ptrdiff_t)t->pad_top;
      if (ih < 0 || ih >= (ptrdiff_t)in_h) continue;
      float *line = x + (size_t)ih * in_w;
      for (size_t j = 0; j < kw; j++) {
        // Outputs ow whose tap j lands inside the row: 0 <= ow·sw + offset < in_w.
        ptrdiff_t offset = (ptrdiff_t)(j * dw) - (ptrdiff_t)t->pad_left;
        ptrdiff_t lo = offset >= 0 ? 0 : (-offset + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw;
        ptrdiff_t last = (ptrdiff_t)in_w - 1 - offset;
        if (last < 0) continue;
        ptrdiff_t hi = last / (ptrdiff_t)sw + 1;
        if (hi > (ptrdiff_t)t->out_w) hi = (ptrdiff_t)t->out_w;
        if (lo >= hi) continue;
        NAME(scatter_row)(line + lo * (ptrdiff_t)sw + offset, source + lo, (size_t)(hi - lo), sw, weight[i * kw + j]);
      }
    }
  }
}
