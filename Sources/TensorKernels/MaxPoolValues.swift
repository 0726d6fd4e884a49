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
            if sH == 1 && sW == 1 && oW == w {
              parallelChunks(g.planes, work: total * window.kernelH * window.kernelW) { range in
                let v = UnsafeMutablePointer<Float>.allocate(capacity: max(1, oH * w))
                defer { v.deallocate() }
                for p in range {
                  maxPoolPlaneUnitStride(xb.base + p * h * w, g: g, window: window, jLos: jLos, jHis: jHis,
                                         v: v, y: y + p * outPlane)
                }
              }
              return
            }
            parallelChunks(g.planes, work: total * window.kernelH * window.kernelW) { range in
              // Room past `w` for the whole-vector loads of the interior loops below.
              let row = UnsafeMutablePointer<Float>.allocate(capacity: w + 32)
              defer { row.deallocate() }
              row.initialize(repeating: 0, count: w + 32)
              let full = g.columns.full
              let kW = window.kernelW
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
                    maxInPlace(row, src + (hs + i * dH) * w, count: w)
                  }
                  // Edge columns (some taps in the padding) one by one; interior ones by vectors.
                  for ow in 0..<oW where !full.contains(ow) {
                    let jLo = jLos[ow], jHi = jHis[ow]
                    guard jLo < jHi else { dst[ow] = -Float.greatestFiniteMagnitude; continue }
                    let ws = ow * sW - window.padLeft
                    var best = row[ws + jLo * dW]
                    for j in (jLo + 1)..<max(jLo + 1, jHi) { best = max(best, row[ws + j * dW]) }
                    dst[ow] = best
                  }
                  var ow = full.lowerBound
                  if sW == 1 {
                    while ow + 8 <= full.upperBound {
                      let at = row + (ow - window.padLeft)
                      var best = UnsafeRawPointer(at).loadUnaligned(as: SIMD8<Float>.self)
                      for j in 1..<max(1, kW) {
                        let v = UnsafeRawPointer(at + j * dW).loadUnaligned(as: SIMD8<Float>.self)
                        best.replace(with: v, where: v .>= best)
                      }
                      UnsafeMutableRawPointer(dst + ow).storeBytes(of: best, as: SIMD8<Float>.self)
                      ow += 8
                    }
                  } else if sW == 2 {
                    while ow + 8 <= full.upperBound {
                      let at = row + (2 * ow - window.padLeft)
                      var best = UnsafeRawPointer(at).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                      for j in 1..<max(1, kW) {
                        let v = UnsafeRawPointer(at + j * dW).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                        best.replace(with: v, where: v .>= best)
                      }
                      UnsafeMutableRawPointer(dst + ow).storeBytes(of: best, as: SIMD8<Float>.self)
                      ow += 8
                    }
                  }
                  while ow < full.upperBound {
                    let at = row + (ow * sW - window.padLeft)
                    var best = at[0]
                    for j in 1..<max(1, kW) { best = max(best, at[j * dW]) }
                    dst[ow] = best
                    ow += 1
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

extension Kernels {
  /// `row[c] = max(row[c], line[c])` for `c` in `0..<count`, with `Swift.max`'s choice on ties and NaN.
  @inline(__always)
  static func maxInPlace(_ row: UnsafeMutablePointer<Float>, _ line: UnsafePointer<Float>, count: Int) {
    var c = 0
    while c + 16 <= count {
      let a = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD16<Float>.self)
      let b = UnsafeRawPointer(line + c).loadUnaligned(as: SIMD16<Float>.self)
      UnsafeMutableRawPointer(row + c).storeBytes(of: a.replacing(with: b, where: b .>= a), as: SIMD16<Float>.self)
      c += 16
    }
    while c < count { row[c] = max(row[c], line[c]); c += 1 }
  }
}

extension Kernels {
  /// One plane of `maxPool2dValues` for unit strides and an output as wide as the input, on the
  /// flattened plane: the vertical maxima of all interior output rows form one contiguous run, and
  /// so do the horizontal maxima of the whole plane; output columns with taps in the padding (whose
  /// flattened windows would wrap into the neighbouring rows) are then redone one by one. The
  /// comparisons are those of the row-by-row loop, in the same order. `v` holds `oH · w` floats.
  static func maxPoolPlaneUnitStride(_ src: UnsafePointer<Float>, g: PoolGeometry, window: Window2D,
                                     jLos: UnsafeBufferPointer<Int>, jHis: UnsafeBufferPointer<Int>,
                                     v: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let (w, oH, oW) = (g.w, g.oH, g.oW)
    let kH = window.kernelH, kW = window.kernelW, dH = window.dilationH, dW = window.dilationW
    let pT = window.padTop, pL = window.padLeft
    // Vertical maxima, v[oh, c] = max over the valid rows of window oh.
    let fullRows = g.rows.full
    for oh in 0..<oH where !fullRows.contains(oh) {
      let row = v + oh * w
      let iLo = g.rows.lo[oh], iHi = g.rows.hi[oh]
      guard iLo < iHi else { row.update(repeating: -Float.greatestFiniteMagnitude, count: w); continue }
      row.update(from: src + (oh - pT + iLo * dH) * w, count: w)
      for i in (iLo + 1)..<iHi { maxInPlace(row, src + (oh - pT + i * dH) * w, count: w) }
    }
    if !fullRows.isEmpty {
      let lo = fullRows.lowerBound * w, count = fullRows.count * w
      (v + lo).update(from: src + lo - pT * w, count: count)
      for i in 1..<max(1, kH) { maxInPlace(v + lo, src + lo + (i * dH - pT) * w, count: count) }
    }
    // Horizontal maxima over the flattened plane, wherever every tap lies inside it.
    let total = oH * w
    let tLo = max(0, pL), tHi = min(total, total - (kW - 1) * dW + pL)
    if tLo < tHi {
      (y + tLo).update(from: v + tLo - pL, count: tHi - tLo)
      for j in 1..<max(1, kW) { maxInPlace(y + tLo, v + tLo - pL + j * dW, count: tHi - tLo) }
    }
    let fullColumns = g.columns.full
    for oh in 0..<oH {
      let row = v + oh * w, dst = y + oh * oW
      for ow in 0..<oW where !fullColumns.contains(ow) {
        let jLo = jLos[ow], jHi = jHis[ow]
        guard jLo < jHi else { dst[ow] = -Float.greatestFiniteMagnitude; continue }
        let ws = ow - pL
        var best = row[ws + jLo * dW]
        for j in (jLo + 1)..<max(jLo + 1, jHi) { best = max(best, row[ws + j * dW]) }
        dst[ow] = best
      }
    }
  }
}
