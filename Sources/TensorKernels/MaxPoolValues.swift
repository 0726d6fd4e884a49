extension Kernels {
  /// The values of `maxPool2d` without the arg-max switches (the forward pass needs no more):
  /// separable, a vertical max over each window's valid rows into one row buffer, then a
  /// horizontal max over its valid columns, so a k×k window costs 2k comparisons, not k².
  /// Windows with no tap inside the input give `-Float.greatestFiniteMagnitude`, as `maxPool2d`.
  public static func maxPool2dValues(_ x: Tensor, window: Window2D) -> Tensor {
    let g = PoolGeometry(x.shape, window, "maxPool2dValues")
    let (h, w, oH, oW) = (g.h, g.w, g.oH, g.oW)
    let sH = window.strideH, sW = window.strideW, dH = window.dilationH, dW = window.dilationW
    let outPlane = oH * oW, total = g.planes * outPlane
    let data = x.data.withUnsafeBufferPointer { xb in
      g.columns.lo.withUnsafeBufferPointer { jLos in
        g.columns.hi.withUnsafeBufferPointer { jHis in
          makeArray(count: total) { y in
            parallelChunks(g.planes, work: total * window.kernelH * window.kernelW) { range in
              let row = UnsafeMutablePointer<Float>.allocate(capacity: max(w, 1))
              defer { row.deallocate() }
              for p in range {
                let src = xb.base + p * h * w
                for oh in 0..<oH {
                  let dst = y + p * outPlane + oh * oW
                  let hs = oh * sH - window.padTop
                  let iLo = g.rows.lo[oh], iHi = g.rows.hi[oh]
                  guard iLo < iHi else {
                    dst.update(repeating: -Float.greatestFiniteMagnitude, count: oW)
                    continue
                  }
                  row.update(from: src + (hs + iLo * dH) * w, count: w)
                  for i in (iLo + 1)..<max(iLo + 1, iHi) {
                    let line = src + (hs + i * dH) * w
                    for c in 0..<w { row[c] = max(row[c], line[c]) }
                  }
                  for ow in 0..<oW {
                    let jLo = jLos[ow], jHi = jHis[ow]
                    guard jLo < jHi else { dst[ow] = -Float.greatestFiniteMagnitude; continue }
                    let ws = ow * sW - window.padLeft
                    var best = row[ws + jLo * dW]
                    for j in (jLo + 1)..<max(jLo + 1, jHi) { best = max(best, row[ws + j * dW]) }
                    dst[ow] = best
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
}
