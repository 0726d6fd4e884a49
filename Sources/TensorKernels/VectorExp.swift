/// e^x for eight floats at once, for x <= 0 (the logistic kernels only need e^−|x|).
///
/// Range reduction as in Cody and Waite (1980, "Software Manual for the Elementary Functions"):
/// x = n·ln 2 + r with n = round(x / ln 2), |r| <= ln 2 / 2, ln 2 split into a high part exact in
/// float and a low correction (n found by the round-to-nearest of adding 1.5·2^23); e^r by its Taylor polynomial of degree 7 (truncation error
/// below (ln 2 / 2)^8 / 8! ≈ 5e−9, under float rounding); 2^n written into the exponent bits.
/// For x < −87, where e^x (< 1.65e−38) nears the subnormal range (below 1.18e−38), the result is
/// 0: subnormal activations would make every later multiplication ~100 times slower on x86 (a
/// squeeze-and-excitation gate of 1e−35 times a signal of 1e−3 is subnormal, and the next 1×1
/// conv's GEMM crawls), and an absolute error below 1.7e−38 is negligible beside 1 in the
/// logistic functions. Relative error below 1e−7 for −87 <= x <= 0 (measured on a 1e−4 grid). A NaN lane gives an
/// unspecified number; callers put NaN back where the input was NaN.
@inline(__always)
func negativeExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
  let clamped = x.replacing(with: -87, where: .!(x .>= -87))
  // Adding 1.5·2^23 rounds x / ln 2 to the nearest integer n and leaves n in the low mantissa bits.
  let shifted = clamped * 1.442_695_04 + 12_582_912
  let n = shifted - 12_582_912
  let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4  // ln 2 = 0.693359375 − 2.1219444e−4
  var p = SIMD8<Float>(repeating: 1.0 / 5040)
  p = p * r + 1.0 / 720
  p = p * r + 1.0 / 120
  p = p * r + 1.0 / 24
  p = p * r + 1.0 / 6
  p = p * r + 0.5
  p = p * r + 1
  p = p * r + 1
  let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000  // n
  let y = p * unsafeBitCast((integer &+ 127) &* 0x80_0000, to: SIMD8<Float>.self)  // p · 2^n
  return y.replacing(with: 0, where: x .< -87)
}

/// The logistic function σ(x) = 1 / (1 + e^−x) of eight floats, computed from e = e^−|x| as
/// 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, so that e^x never overflows. NaN stays NaN.
@inline(__always)
func logistic(_ x: SIMD8<Float>) -> SIMD8<Float> {
  let negative = x .< 0
  let e = negativeExp(x.replacing(with: -x, where: .!negative))
  let s = SIMD8<Float>(repeating: 1) / (1 + e)
  return (s * e).replacing(with: s, where: .!negative).replacing(with: x, where: x .!= x)
}
