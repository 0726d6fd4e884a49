extension Kernels {
  /// Whether a convolution is depthwise with multiplier 1 (one filter per input channel, as in
  /// MobileNet): im2col + GEMM would run one 1-row GEMM per channel, so direct loops win.
  static func isDepthwise(_ s: ConvShape) -> Bool {
    s.group == s.c && s.m == s.c && s.cg == 1
  }

  /// Depthwise `conv2d` by direct loops over each plane:
  /// y[n, c, oh, ow] = b[c] + Σ_{i,j} x[n, c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW] · W[c, 0, i, j]
  /// over the taps inside the input. Each tap (i, j) adds w·x to a whole output row at once
  /// (the outputs whose tap column lies inside the input), which vectorizes.
  static func conv2dDepthwise(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                              shape s: ConvShape, window: Window2D, fuseRelu: Bool, y: UnsafeMutablePointer<Float>) {
    let rows = PoolAxis(outputs: s.oH, size: s.h, kernel: window.kernelH, stride: window.strideH,
                        dilation: window.dilationH, padBegin: window.padTop, padEnd: window.padBottom)
    let (kH, kW, dH, dW, sW) = (window.kernelH, window.kernelW, window.dilationH, window.dilationW, window.strideW)
    // For tap column j: the outputs ow with 0 <= ow·sW − padLeft + j·dW < W.
    let spans = (0..<kW).map { j -> Range<Int> in
      let offset = j * dW - window.padLeft
      let lo = offset >= 0 ? 0 : (-offset + sW - 1) / sW
      let hi = s.w - offset <= 0 ? 0 : min(s.oW, (s.w - 1 - offset) / sW + 1)
      return lo..<max(lo, hi)
    }
    let planes = s.n * s.c, inPlane = s.h * s.w, outPlane = s.oH * s.oW
    parallelChunks(planes, work: planes * outPlane * kH * kW) { range in
      for p in range {
        let channel = p % s.c
        let src = x + p * inPlane, w = weight + channel * kH * kW
        let b = bias?[channel] ?? 0
        for oh in 0..<s.oH {
          let out = y + p * outPlane + oh * s.oW
          out.update(repeating: b, count: s.oW)
          let hs = oh * window.strideH - window.padTop
          for i in rows.lo[oh]..<rows.hi[oh] {
            let line = src + (hs + i * dH) * s.w
            for j in 0..<kW {
              let tap = w[i * kW + j], span = spans[j]
              let start = line + j * dW - window.padLeft
              if sW == 1 {
                for ow in span { out[ow] += tap * start[ow] }
              } else {
                for ow in span { out[ow] += tap * start[ow * sW] }
              }
            }
          }
          if fuseRelu { for ow in 0..<s.oW { out[ow] = max(out[ow], 0) } }
        }
      }
    }
  }
}
