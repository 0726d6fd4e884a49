// The plane-mean kernel of plane_means.c, compiled once per variant by instantiate_variants.h.

/// Σ p[0..<size] in double precision: eight float lanes at a time widened to doubles into two
/// independent accumulators (so the additions pipeline instead of waiting on each other), then
/// the remainder one by one.
INLINE double NAME(plane_sum)(const float *p, size_t size) {
  d8 a = {0}, b = {0};
  size_t k = 0;
  for (; k + 16 <= size; k += 16) {
    f8 u, v;
    memcpy(&u, p + k, sizeof u);
    memcpy(&v, p + k + 8, sizeof v);
    a += __builtin_convertvector(u, d8);
    b += __builtin_convertvector(v, d8);
  }
  a += b;
  double sum = 0;
  for (int l = 0; l < 8; l++) sum += a[l];
  for (; k < size; k++) sum += p[k];
  return sum;
}

static void NAME(plane_means)(const float *x, size_t planes, size_t size, float *y) {
  for (size_t p = 0; p < planes; p++) y[p] = size == 0 ? 0 : (float)(NAME(plane_sum)(x + p * size, size) / (double)size);
}
