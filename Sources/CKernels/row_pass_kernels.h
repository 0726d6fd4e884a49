// The row passes of row_passes.c, compiled once per variant by instantiate_variants.h.

static void NAME(fill_rows)(float *p, size_t rows, size_t count, size_t stride, const float *values) {
  for (size_t r = 0; r < rows; r++) {
    float *row = p + r * stride;
    const VF v = NAME(splat)(values[r]);
    size_t k = 0;
    for (; k + LANES <= count; k += LANES) NAME(store)(row + k, v);
    if (k < count) NAME(store_first)(row + k, v, count - k);
  }
}

static void NAME(clamp)(float *p, size_t count, float lower, float upper) {
  const VF lo = NAME(splat)(lower), hi = NAME(splat)(upper);
  size_t k = 0;
  for (; k + LANES <= count; k += LANES) NAME(store)(p + k, NAME(clamp_vector)(NAME(load)(p + k), lo, hi));
  if (k < count) NAME(store_first)(p + k, NAME(clamp_vector)(NAME(load_first)(p + k, count - k), lo, hi), count - k);
}
