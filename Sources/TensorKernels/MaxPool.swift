extension Kernels {
  /// The taps `[lo, hi)` of a window starting at `start` whose positions `start + t·dilation` lie in `[0, limit)`.
  @inline(__always)
  static func validTaps(start: Int, kernel: Int, dilation: Int, limit: Int) -> (Int, Int) {
    let lo = start >= 0 ? 0 : min(kernel, (-start + dilation - 1) / dilation)
    let hi = limit - start <= 0 ? 0 : min(kernel, (limit - start + dilation - 1) / dilation)
    return (lo, max(lo, hi))
  }

  static func poolPlanes(_ shape: [Int], _ name: String) -> (planes: Int, h: Int, w: Int) {
    precondition(shape.count == 4, "\(name) expects an NCHW input, got \(shape)")
    return (shape[0] * shape[1], shape[2], shape[3])
  }

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
    let (planes, h, w) = poolPlanes(x.shape, "maxPool2d")
    let (oH, oW) = window.outputSize(height: h, width: w)
    let kH = window.kernelH, kW = window.kernelW, sH = window.strideH, sW = window.strideW
    let dH = window.dilationH, dW = window.dilationW
    let outPlane = oH * oW, total = planes * outPlane
    var argmax: [Int32] = []
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: total) { y in
        argmax = [Int32](unsafeUninitializedCapacity: total) { ib, initialized in
          let idx = ib.baseAddress!
          parallelChunks(planes, work: total * kH * kW) { range in
            for p in range {
              let src = xb.base + p * h * w
              var dst = y + p * outPlane, arg = idx + p * outPlane
              for oh in 0..<oH {
                let hs = oh * sH - window.padTop
                let (iLo, iHi) = validTaps(start: hs, kernel: kH, dilation: dH, limit: h)
                for ow in 0..<oW {
                  let ws = ow * sW - window.padLeft
                  let (jLo, jHi) = validTaps(start: ws, kernel: kW, dilation: dW, limit: w)
                  var best = -Float.greatestFiniteMagnitude
                  var bestIndex = -1
                  for i in iLo..<iHi {
                    let rowIndex = (hs + i * dH) * w
                    for j in jLo..<jHi {
                      let k = rowIndex + ws + j * dW
                      let v = src[k]
                      if v > best || bestIndex < 0 { best = v; bestIndex = k }
                    }
                  }
                  dst.pointee = best
                  arg.pointee = Int32(truncatingIfNeeded: bestIndex)
                  dst += 1; arg += 1
                }
              }
            }
          }
          initialized = total
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
    let (planes, h, w) = poolPlanes(inputShape, "maxPoolScatter")
    precondition(r.rank == 4 && r.shape[0] * r.shape[1] == planes && r.count == argmax.count,
                 "maxPoolScatter: r \(r.shape) with \(argmax.count) indices does not match input \(inputShape)")
    let inPlane = h * w, outPlane = r.shape[2] * r.shape[3]
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
