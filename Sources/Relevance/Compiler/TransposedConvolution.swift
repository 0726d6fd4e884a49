/// The input-gradient of a stride-1, undilated convolution written as a convolution, so that
/// the relevance pass runs on the fast forward kernels (Winograd for 3×3) instead of GEMM + col2im.
///
/// For y = conv(x, W) with W of shape [M, C/G, k_h, k_w] and pads (t, l, b, r), the adjoint is
///   x̂ = conv(ŷ, W̃) with pads (k_h−1−t, k_w−1−l, k_h−1−b, k_w−1−r),
///   W̃[g·C/G + c, m, i, j] = W[g·M/G + m, c, k_h−1−i, k_w−1−j]   (shape [C, M/G, k_h, k_w]),
/// which needs every pad at most k−1 (then the output has the input's size exactly).
struct TransposedConvolution: Sendable {
  let window: Window2D
  let group: Int

  /// Nil unless the convolution is stride 1, undilated, pads at most k−1, and either depthwise
  /// or wide enough (16 channels each way per group) for the fast kernels to beat GEMM + col2im.
  init?(_ conv: Conv2D, weightShape: [Int]) {
    let w = conv.window
    let depthwise = weightShape[0] == conv.group && weightShape[1] == 1
    guard depthwise || (weightShape[0] / conv.group >= 16 && weightShape[1] >= 16),
          w.strideH == 1, w.strideW == 1, w.dilationH == 1, w.dilationW == 1,
          [w.padTop, w.padBottom].allSatisfy({ $0 <= w.kernelH - 1 }),
          [w.padLeft, w.padRight].allSatisfy({ $0 <= w.kernelW - 1 }) else { return nil }
    window = Window2D(kernelH: w.kernelH, kernelW: w.kernelW,
                      padTop: w.kernelH - 1 - w.padTop, padLeft: w.kernelW - 1 - w.padLeft,
                      padBottom: w.kernelH - 1 - w.padBottom, padRight: w.kernelW - 1 - w.padRight)
    group = conv.group
  }

  /// W̃ from W (any weight variant).
  func weight(from w: Tensor) -> Tensor {
    let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let mg = m / group, c = cg * group
    let taps = kh * kw
    guard w.count > 0 else { return Tensor(shape: [c, mg, kh, kw], data: []) }
    let out = [Float](unsafeUninitializedCapacity: w.count) { out, initialized in
      w.data.withUnsafeBufferPointer { src in
        for g in 0..<group {
          for mm in 0..<mg {
            for cc in 0..<cg {
              // One filter's taps, reversed: tap t of W[g·mg + mm, cc] is tap taps − 1 − t of W̃.
              let from = src.baseAddress! + ((g * mg + mm) * cg + cc) * taps
              let to = out.baseAddress! + ((g * cg + cc) * mg + mm) * taps
              for t in 0..<taps { to[t] = from[taps - 1 - t] }
            }
          }
        }
      }
      initialized = w.count
    }
    return Tensor(shape: [c, mg, kh, kw], data: out)
  }
}
