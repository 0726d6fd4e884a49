extension Kernels {
  /// Whether a convolution is depthwise with multiplier 1 (one filter per input channel, as in
  /// MobileNet): im2col + GEMM would run one 1-row GEMM per channel, so direct loops win.
  static func isDepthwise(_ s: ConvShape) -> Bool {
    s.group == s.c && s.m == s.c && s.cg == 1
  }

  /// Depthwise `conv2d` by direct loops over each plane:
  ///
  ///     y[n, c, oh, ow] = b[c] + Σ_{i,j} x[n, c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW] · W[c, 0, i, j]
  ///
  /// over the taps inside the input. Each plane is first copied into a zero-bordered scratch
  /// plane (`DepthwisePadding`), so that every tap of every output is a plain load; then 8
  /// outputs of a row at a time (4 on narrow rows) accumulate all `kH·kW` taps in SIMD registers
  /// and are stored once (bias first, clamp last). Stride 2 along the width loads twice as many
  /// consecutive inputs and keeps the even ones. Planes `(n, c)` are split over the cores.
  static func conv2dDepthwise(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                              shape s: ConvShape, window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>) {
    let planes = s.n * s.c, outPlane = s.oH * s.oW
    if outPlane == 0 { return }
    let padding = DepthwisePadding(shape: s, window: window)
    let taps = window.kernelH * window.kernelW
    parallelChunks(planes, work: planes * outPlane * taps) { range in
      ScratchPool.shared.with(padding.count) { scratch in
        scratch.update(repeating: 0, count: padding.count)
        for p in range {
          let channel = p % s.c
          padding.copyInterior(of: x + p * s.h * s.w, into: scratch)
          depthwisePlane(scratch, rowStride: padding.rowStride, weight: weight + channel * taps,
                         bias: bias?[channel] ?? 0, shape: s, window: window, clamp: clamp, y: y + p * outPlane)
        }
      }
    }
  }

  /// One output plane of `conv2dDepthwise` from a padded input plane (`rowStride` floats a row,
  /// the input's top-left value at row `padTop`, column `padLeft`; every tap inside, plus
  /// `DepthwisePadding.slack` readable floats after each row). Rows of at least 8 outputs go 8
  /// at a time, rows of 4 to 7 outputs 4 at a time; a row's last vector ends at the row's end
  /// (overlapping the previous one), so there is no scalar remainder.
  @inline(__always)
  static func depthwisePlane(_ padded: UnsafePointer<Float>, rowStride: Int, weight: UnsafePointer<Float>, bias: Float,
                             shape s: ConvShape, window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>) {
    let (kH, kW, sW, dW) = (window.kernelH, window.kernelW, window.strideW, window.dilationW)
    /// Rows with vectors of type `V`; the common MobileNet/EfficientNet windows get loops with
    /// constant bounds and strides, which the compiler unrolls.
    @inline(__always) func rows<V: SIMD>(_ lanes: V.Type, _ clampVector: (V) -> V) where V.Scalar == Float {
      @inline(__always) func run(_ kH: Int, _ kW: Int, _ sW: Int, _ dW: Int) {
        depthwiseRows(lanes, padded, rowStride: rowStride, weight: weight, bias: bias, shape: s, window: window,
                      kernelH: kH, kernelW: kW, strideW: sW, dilationW: dW, clampVector: clampVector, y: y)
      }
      switch (kH, kW, sW, dW) {
      case (3, 3, 1, 1): run(3, 3, 1, 1)
      case (3, 3, 2, 1): run(3, 3, 2, 1)
      case (5, 5, 1, 1): run(5, 5, 1, 1)
      case (5, 5, 2, 1): run(5, 5, 2, 1)
      default: run(kH, kW, sW, dW)
      }
    }
    if s.oW >= SIMD8<Float>.scalarCount {
      rows(SIMD8<Float>.self) { clamp?($0) ?? $0 }
    } else if s.oW >= SIMD4<Float>.scalarCount {
      rows(SIMD4<Float>.self) { clamp?($0) ?? $0 }
    } else {
      let (sH, dH) = (window.strideH, window.dilationH)
      for oh in 0..<s.oH {
        for ow in 0..<s.oW {
          var acc = bias
          for i in 0..<kH {
            let line = padded + (oh * sH + i * dH) * rowStride + ow * sW
            for j in 0..<kW { acc += weight[i * kW + j] * line[j * dW] }
          }
          y[oh * s.oW + ow] = clamp.map { $0(acc) } ?? acc
        }
      }
    }
  }

  /// `depthwisePlane` with vectors of `V.scalarCount` outputs; needs `s.oW >= V.scalarCount`.
  /// `kernelH`, `kernelW`, `strideW` and `dilationW` are the window's, passed apart so that
  /// callers can make them constants.
  @inline(__always)
  static func depthwiseRows<V: SIMD>(_: V.Type, _ padded: UnsafePointer<Float>, rowStride: Int, weight w: UnsafePointer<Float>,
                                     bias: Float, shape s: ConvShape, window: Window2D,
                                     kernelH kH: Int, kernelW kW: Int, strideW sW: Int, dilationW dW: Int,
                                     clampVector: (V) -> V, y: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    let (sH, dH) = (window.strideH, window.dilationH)
    let lanes = V.scalarCount
    for oh in 0..<s.oH {
      let top = padded + oh * sH * rowStride
      let out = y + oh * s.oW
      /// The outputs of this row from column `ow` on.
      @inline(__always) func vector(_ ow: Int) -> V {
        // Two partial sums (even and odd kernel rows) halve the chain of dependent additions.
        var acc = V(repeating: bias), odd = V()
        for i in 0..<kH {
          let line = top + i * dH * rowStride + ow * sW
          for j in 0..<kW {
            let at = line + j * dW
            var inputs = V()
            if sW == 1 {
              inputs = UnsafeRawPointer(at).loadUnaligned(as: V.self)
            } else if sW == 2 && V.self == SIMD8<Float>.self {
              inputs = unsafeBitCast(UnsafeRawPointer(at).loadUnaligned(as: SIMD16<Float>.self).evenHalf, to: V.self)
            } else if sW == 2 && V.self == SIMD4<Float>.self {
              inputs = unsafeBitCast(UnsafeRawPointer(at).loadUnaligned(as: SIMD8<Float>.self).evenHalf, to: V.self)
            } else {
              for l in 0..<lanes { inputs[l] = at[l * sW] }
            }
            if i % 2 == 0 { acc += V(repeating: w[i * kW + j]) * inputs } else { odd += V(repeating: w[i * kW + j]) * inputs }
          }
        }
        return clampVector(acc + odd)
      }
      var ow = 0
      while ow + lanes <= s.oW {
        UnsafeMutableRawPointer(out + ow).storeBytes(of: vector(ow), as: V.self)
        ow += lanes
      }
      if ow < s.oW {
        UnsafeMutableRawPointer(out + s.oW - lanes).storeBytes(of: vector(s.oW - lanes), as: V.self)
      }
    }
  }
}

extension Kernels {
  /// The input-gradient (transposed convolution) of a depthwise `conv2d` (see `isDepthwise`), by
  /// direct scatter, plane by plane:
  ///
  ///     x̂[n, c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW] += gradOut[n, c, oh, ow] · W[c, 0, i, j]
  ///
  /// over the taps inside the input; each tap adds `W[c, 0, i, j]` times an output row to an input
  /// row at once. Writes all of `x` (`[N, C, H, W]`); input positions no window reads are 0.
  static func conv2dDepthwiseTransposed(_ gradOut: UnsafePointer<Float>, weight: UnsafePointer<Float>, shape s: ConvShape,
                                        window: Window2D, x: UnsafeMutablePointer<Float>) {
    let rows = PoolAxis(outputs: s.oH, size: s.h, kernel: window.kernelH, stride: window.strideH,
                        dilation: window.dilationH, padBegin: window.padTop, padEnd: window.padBottom)
    let (kH, kW, dH, dW, sW) = (window.kernelH, window.kernelW, window.dilationH, window.dilationW, window.strideW)
    let spans = (0..<kW).map { j in
      validOutputRange(offset: j * dW - window.padLeft, stride: sW, size: s.w, outputs: s.oW)
    }
    let planes = s.n * s.c, inPlane = s.h * s.w, outPlane = s.oH * s.oW
    parallelChunks(planes, work: planes * (inPlane + outPlane * kH * kW)) { range in
      for p in range {
        let w = weight + (p % s.c) * kH * kW, grad = gradOut + p * outPlane, plane = x + p * inPlane
        plane.update(repeating: 0, count: inPlane)
        for oh in 0..<s.oH {
          let source = grad + oh * s.oW
          for i in rows.lo[oh]..<rows.hi[oh] {
            let line = plane + (oh * window.strideH - window.padTop + i * dH) * s.w
            for j in 0..<kW {
              let tap = w[i * kW + j], (lo, hi) = spans[j]
              let start = line + j * dW - window.padLeft
              if sW == 1 {
                for ow in lo..<hi { start[ow] += tap * source[ow] }
              } else {
                for ow in lo..<hi { start[ow * sW] += tap * source[ow] }
              }
            }
          }
        }
      }
    }
  }
}

/// The zero-bordered copy of one input plane that `conv2dDepthwise` reads: the plane at row
/// `padTop`, column `padLeft`, with zeros around it as far as any window of the output reaches
/// (ceil-mode windows may reach past `padBottom`/`padRight`), and `slack` more zero floats after
/// each row for the vector loads of the last outputs.
struct DepthwisePadding {
  /// Floats readable after the last tap of a row: a stride-2 vector load reads 16 inputs for 8 outputs.
  static let slack = 16
  let height, width, top, left, rows, rowStride: Int
  var count: Int { rows * rowStride + Self.slack }

  init(shape s: Kernels.ConvShape, window: Window2D) {
    (height, width, top, left) = (s.h, s.w, window.padTop, window.padLeft)
    let reachH = (s.oH - 1) * window.strideH + (window.kernelH - 1) * window.dilationH + 1
    let reachW = (s.oW - 1) * window.strideW + (window.kernelW - 1) * window.dilationW + 1
    rows = max(top + height, reachH)
    rowStride = max(left + width, reachW) + Self.slack
  }

  /// Writes `plane` (`height × width`) into the interior of `scratch`, whose border is zero and stays so.
  @inline(__always)
  func copyInterior(of plane: UnsafePointer<Float>, into scratch: UnsafeMutablePointer<Float>) {
    for r in 0..<height {
      (scratch + (top + r) * rowStride + left).update(from: plane + r * width, count: width)
    }
  }
}
