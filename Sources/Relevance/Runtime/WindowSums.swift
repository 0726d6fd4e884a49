/// Window sums and their adjoint for pooling relevance rules (NCHW, a `Window2D` with explicit
/// pads; padded and ceil-mode positions outside the input take no part).
enum WindowSums {
  /// y[p, oh, ow] = Σ x[p, h, w] over the in-bounds taps (h, w) of window (oh, ow).
  static func sum(_ x: Tensor, _ window: Window2D) -> Tensor {
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (oH, oW) = window.outputSize(height: h, width: w)
    var y = [Float](repeating: 0, count: planes * oH * oW)
    x.data.withUnsafeBufferPointer { xb in
      y.withUnsafeMutableBufferPointer { yb in
        for p in 0..<planes {
          forEachTap(window, h, w, oH, oW) { o, i in yb[p * oH * oW + o] += xb[p * h * w + i] }
        }
      }
    }
    return Tensor(shape: [x.shape[0], x.shape[1], oH, oW], data: y)
  }

  /// The adjoint of `sum`: x̂[p, h, w] = Σ s[p, oh, ow] over the windows containing (h, w).
  static func scatter(_ s: Tensor, _ window: Window2D, inputShape: [Int]) -> Tensor {
    let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
    let (oH, oW) = (s.shape[2], s.shape[3])
    var x = [Float](repeating: 0, count: planes * h * w)
    s.data.withUnsafeBufferPointer { sb in
      x.withUnsafeMutableBufferPointer { xb in
        for p in 0..<planes {
          forEachTap(window, h, w, oH, oW) { o, i in xb[p * h * w + i] += sb[p * oH * oW + o] }
        }
      }
    }
    return Tensor(shape: inputShape, data: x)
  }

  /// Calls body(output offset, input offset) for every in-bounds tap of every window.
  @inline(__always)
  private static func forEachTap(_ window: Window2D, _ h: Int, _ w: Int, _ oH: Int, _ oW: Int,
                                 _ body: (Int, Int) -> Void) {
    for oh in 0..<oH {
      for ow in 0..<oW {
        for i in 0..<window.kernelH {
          let ih = oh * window.strideH - window.padTop + i * window.dilationH
          guard ih >= 0, ih < h else { continue }
          for j in 0..<window.kernelW {
            let iw = ow * window.strideW - window.padLeft + j * window.dilationW
            guard iw >= 0, iw < w else { continue }
            body(oh * oW + ow, ih * w + iw)
          }
        }
      }
    }
  }
}
