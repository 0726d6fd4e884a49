import CKernels
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
    let g = PoolGeometry(x.shape, window, "avgPool2d")
    let (h, w, oH, oW) = (g.h, g.w, g.oH, g.oW)
    let kH = window.kernelH, kW = window.kernelW, sH = window.strideH, sW = window.strideW
    let dH = window.dilationH, dW = window.dilationW, padLeft = window.padLeft
    let outPlane = oH * oW, total = g.planes * outPlane
    let full = g.columns.full
    let rowCounts = countIncludePad ? g.rows.padded : zip(g.rows.hi, g.rows.lo).map { $0 - $1 }
    let colCounts = countIncludePad ? g.columns.padded : zip(g.columns.hi, g.columns.lo).map { $0 - $1 }
    let data = x.data.withUnsafeBufferPointer { xb in
      g.columns.lo.withUnsafeBufferPointer { jLos in
        g.columns.hi.withUnsafeBufferPointer { jHis in
          colCounts.withUnsafeBufferPointer { jCounts in
            makeArray(count: total) { y in
              parallelChunks(g.planes, work: total * kH * kW) { range in
                for p in range {
                  let src = xb.base + p * h * w
                  for oh in 0..<oH {
                    let dst = y + p * outPlane + oh * oW
                    let hs = oh * sH - window.padTop
                    let iLo = g.rows.lo[oh], iHi = g.rows.hi[oh], countH = rowCounts[oh]
                    if iLo == iHi {
                      dst.update(repeating: 0, count: oW)
                      continue
                    }
                    for ow in 0..<oW where !full.contains(ow) {
                      let ws = ow * sW - padLeft
                      var sum: Float = 0
                      for i in iLo..<iHi {
                        let row = src + (hs + i * dH) * w + ws
                        for j in jLos[ow]..<jHis[ow] { sum += row[j * dW] }
                      }
                      let divisor = countH * jCounts[ow]
                      dst[ow] = divisor == 0 ? 0 : sum / Float(divisor)
                    }
                    if full.isEmpty { continue }
                    for i in iLo..<iHi {
                      let row = src + (hs + i * dH) * w
                      for j in 0..<kW {
                        let offset = j * dW - padLeft
                        if i == iLo && j == 0 {
                          for ow in full { dst[ow] = row[ow * sW + offset] }
                        } else {
                          for ow in full { dst[ow] += row[ow * sW + offset] }
                        }
                      }
                    }
                    let divisor = Float(countH * kW)
                    for ow in full { dst[ow] /= divisor }
                  }
                }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: [x.shape[0], x.shape[1], oH, oW], data: data)
  }

  /// Global average pooling (ONNX `GlobalAveragePool`): `y[n, c] = mean` of `x[n, c, ...]` over all
  /// spatial axes, accumulated in double precision (`clrp_plane_means`, vectorized in C).
  ///
  /// - Parameter x: `[N, C, D1, ..., Dk]` with `k >= 0`.
  /// - Returns: `[N, C, 1, ..., 1]` (same rank as `x`).
  public static func globalAvgPool(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 2, "globalAvgPool expects [N, C, ...], got \(x.shape)")
    let planes = x.shape[0] * x.shape[1]
    let size = x.shape.dropFirst(2).reduce(1, *)
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: planes) { y in clrp_plane_means(xb.base, planes, size, y) }
    }
    return Tensor(shape: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2), data: data)
  }
}
