private let laneOffsets = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)

extension Kernels {
  /// 2-D max pooling (ONNX `MaxPool`, NCHW, explicit pads, dilations, ceil mode):
  /// `y[n, c, oh, ow] = max x[n, c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW]` over the
  /// window taps that fall inside the input; padding never takes part.
  ///
  /// - Returns: `output` of shape `[N, C, oH, oW]` and, per output element, `argmax` = `h·W + w` of
  ///   the winning input within its own `(n, c)` plane. Ties go to the first tap in row-major window
  ///   order. A window with no tap inside the input (possible only with dilation or pads at
  ///   least as large as the kernel) yields `-Float.greatestFiniteMagnitude` and argmax `-1`, as
  ///   onnxruntime does.
  public static func maxPool2d(_ x: Tensor, window: Window2D) -> (output: Tensor, argmax: [Int32]) {
    let g = PoolGeometry(x.shape, window, "maxPool2d")
    let (h, w, oH, oW) = (g.h, g.w, g.oH, g.oW)
    let kH = window.kernelH, kW = window.kernelW, sH = window.strideH, sW = window.strideW
    let dH = window.dilationH, dW = window.dilationW, padLeft = window.padLeft
    let outPlane = oH * oW, total = g.planes * outPlane
    let full = g.columns.full
    var argmax: [Int32] = []
    let data = x.data.withUnsafeBufferPointer { xb in
      g.columns.lo.withUnsafeBufferPointer { jLos in
        g.columns.hi.withUnsafeBufferPointer { jHis in
          makeArray(count: total) { y in
            argmax = [Int32](unsafeUninitializedCapacity: total) { ib, initialized in
              let idx = ib.baseAddress!
              parallelChunks(g.planes, work: total * kH * kW) { range in
                for p in range {
                  let src = xb.base + p * h * w
                  for oh in 0..<oH {
                    let dst = y + p * outPlane + oh * oW, arg = idx + p * outPlane + oh * oW
                    let hs = oh * sH - window.padTop
                    let iLo = g.rows.lo[oh], iHi = g.rows.hi[oh]
                    for ow in 0..<oW where !full.contains(ow) || iLo == iHi {
                      let ws = ow * sW - padLeft
                      let jLo = jLos[ow], jHi = jHis[ow]
                      var best = -Float.greatestFiniteMagnitude
                      var bestIndex = -1
                      if iLo < iHi && jLo < jHi {
                        bestIndex = (hs + iLo * dH) * w + ws + jLo * dW
                        best = src[bestIndex]
                        for i in iLo..<iHi {
                          let rowIndex = (hs + i * dH) * w + ws
                          for j in jLo..<jHi {
                            let k = rowIndex + j * dW
                            let v = src[k]
                            let better = v > best
                            best = better ? v : best
                            bestIndex = better ? k : bestIndex
                          }
                        }
                      }
                      dst[ow] = best
                      arg[ow] = Int32(truncatingIfNeeded: bestIndex)
                    }
                    if iLo == iHi || full.isEmpty { continue }
                    var ow = full.lowerBound
                    while ow + 8 <= full.upperBound {
                      var best = SIMD8<Float>(repeating: 0), bestIndex = SIMD8<Int32>(repeating: 0)
                      for i in iLo..<iHi {
                        let rowIndex = (hs + i * dH) * w + ow * sW - padLeft
                        for j in 0..<kW {
                          let k = rowIndex + j * dW
                          let v = SIMD8<Float>(src[k], src[k + sW], src[k + 2 * sW], src[k + 3 * sW],
                                               src[k + 4 * sW], src[k + 5 * sW], src[k + 6 * sW], src[k + 7 * sW])
                          let index = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: k)) &+ laneOffsets &* Int32(truncatingIfNeeded: sW)
                          if i == iLo && j == 0 {
                            best = v; bestIndex = index
                          } else {
                            let better = v .> best
                            best.replace(with: v, where: better)
                            bestIndex.replace(with: index, where: better)
                          }
                        }
                      }
                      UnsafeMutableRawPointer(dst + ow).storeBytes(of: best, as: SIMD8<Float>.self)
                      UnsafeMutableRawPointer(arg + ow).storeBytes(of: bestIndex, as: SIMD8<Int32>.self)
                      ow += 8
                    }
                    while ow < full.upperBound {
                      var bestIndex = (hs + iLo * dH) * w + ow * sW - padLeft
                      var best = src[bestIndex]
                      for i in iLo..<iHi {
                        let rowIndex = (hs + i * dH) * w + ow * sW - padLeft
                        for j in 0..<kW {
                          let k = rowIndex + j * dW
                          if src[k] > best { best = src[k]; bestIndex = k }
                        }
                      }
                      dst[ow] = best
                      arg[ow] = Int32(truncatingIfNeeded: bestIndex)
                      ow += 1
                    }
                  }
                }
              }
              initialized = total
            }
          }
        }
      }
    }
    return (Tensor(shape: [x.shape[0], x.shape[1], oH, oW], data: data), argmax)
  }

  /// The relevance/gradient routing of `maxPool2d`: a zero tensor of `inputShape` to which every
  /// `r[n, c, oh, ow]` is added at the position `argmax` names in plane `(n, c)`; overlapping
  /// windows that share a winner sum, and entries with argmax `-1` are dropped.
  ///
  /// - Parameters:
  ///   - r: `[N, C, oH, oW]`, shaped like the `maxPool2d` output.
  ///   - argmax: the indices returned by `maxPool2d`, one per element of `r`.
  ///   - inputShape: `[N, C, H, W]`, the shape of the pooled input.
  public static func maxPoolScatter(_ r: Tensor, argmax: [Int32], inputShape: [Int]) -> Tensor {
    precondition(inputShape.count == 4, "maxPoolScatter expects an NCHW input shape, got \(inputShape)")
    let planes = inputShape[0] * inputShape[1], inPlane = inputShape[2] * inputShape[3]
    precondition(r.rank == 4 && r.shape[0] * r.shape[1] == planes && r.count == argmax.count,
                 "maxPoolScatter: r \(r.shape) with \(argmax.count) indices does not match input \(inputShape)")
    let outPlane = r.shape[2] * r.shape[3]
    let data = r.data.withUnsafeBufferPointer { rb in
      argmax.withUnsafeBufferPointer { ab in
        makeArray(count: planes * inPlane) { x in
          parallelChunks(planes, work: planes * (inPlane + outPlane)) { range in
            for p in range {
              let dst = x + p * inPlane, src = rb.base + p * outPlane
              dst.update(repeating: 0, count: inPlane)
              for o in 0..<outPlane {
                let k = Int(ab[p * outPlane + o])
                if k >= 0 { dst[k] += src[o] }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: inputShape, data: data)
  }
}
