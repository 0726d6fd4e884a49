extension Kernels {
  /// 2-D average pooling (ONNX `AveragePool`, NCHW, explicit pads, dilations, ceil mode):
  /// `y[n, c, oh, ow] = (Σ x[n, c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW]) / divisor`, the sum
  /// over the window taps inside the input.
  ///
  /// The divisor follows onnxruntime (checked against onnxruntime 1.32, opsets 11, 19 and 22, on
  /// ceil-mode windows with asymmetric pads and dilations), per axis and multiplied over both axes:
  /// - `countIncludePad == false`: the number of taps that fall inside the input `[0, size)`.
  /// - `countIncludePad == true`: the number of taps that fall inside the padded input
  ///   `[-padBegin, size + padEnd)`; pad taps count, but the taps of a ceil-mode window that
  ///   run past the end padding do not (e.g. size 5, kernel 3, stride 2, pads 1/0, ceil mode:
  ///   the last window covers rows 3, 4 and one row beyond, divisor 2 per row axis).
  /// A window with no tap inside the input yields 0.
  public static func avgPool2d(_ x: Tensor, window: Window2D, countIncludePad: Bool) -> Tensor {
    let (planes, h, w) = poolPlanes(x.shape, "avgPool2d")
    let (oH, oW) = window.outputSize(height: h, width: w)
    let kH = window.kernelH, kW = window.kernelW, sH = window.strideH, sW = window.strideW
    let dH = window.dilationH, dW = window.dilationW
    let outPlane = oH * oW, total = planes * outPlane
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: total) { y in
        parallelChunks(planes, work: total * kH * kW) { range in
          for p in range {
            let src = xb.base + p * h * w
            var dst = y + p * outPlane
            for oh in 0..<oH {
              let hs = oh * sH - window.padTop
              let (iLo, iHi) = validTaps(start: hs, kernel: kH, dilation: dH, limit: h)
              let countH = countIncludePad
                ? validTaps(start: hs, kernel: kH, dilation: dH, limit: h + window.padBottom).1 : iHi - iLo
              for ow in 0..<oW {
                let ws = ow * sW - window.padLeft
                let (jLo, jHi) = validTaps(start: ws, kernel: kW, dilation: dW, limit: w)
                let countW = countIncludePad
                  ? validTaps(start: ws, kernel: kW, dilation: dW, limit: w + window.padRight).1 : jHi - jLo
                var sum: Float = 0
                for i in iLo..<iHi {
                  let row = src + (hs + i * dH) * w + ws
                  for j in jLo..<jHi { sum += row[j * dW] }
                }
                let divisor = countH * countW
                dst.pointee = divisor == 0 ? 0 : sum / Float(divisor)
                dst += 1
              }
            }
          }
        }
      }
    }
    return Tensor(shape: [x.shape[0], x.shape[1], oH, oW], data: data)
  }

  /// Global average pooling (ONNX `GlobalAveragePool`): `y[n, c] = mean` of `x[n, c, ...]` over all
  /// spatial axes, accumulated in double precision.
  ///
  /// - Parameter x: `[N, C, D1, ..., Dk]` with `k >= 0`.
  /// - Returns: `[N, C, 1, ..., 1]` (same rank as `x`).
  public static func globalAvgPool(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 2, "globalAvgPool expects [N, C, ...], got \(x.shape)")
    let planes = x.shape[0] * x.shape[1]
    let size = x.shape.dropFirst(2).reduce(1, *)
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: planes) { y in
        for p in 0..<planes {
          let src = xb.base + p * size
          var sum: Double = 0
          for k in 0..<size { sum += Double(src[k]) }
          y[p] = size == 0 ? 0 : Float(sum / Double(size))
        }
      }
    }
    return Tensor(shape: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2), data: data)
  }
}
