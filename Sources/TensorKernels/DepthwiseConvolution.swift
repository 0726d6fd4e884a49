import CKernels

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
  /// plane (`DepthwisePadding`), so that every tap of every output is a plain load; then
  /// `clrp_depthwise_plane` (C, AVX-512 / AVX2 / SSE2 chosen at run time) accumulates all
  /// `kH·kW` taps of a row's outputs in vector registers and stores them once (bias first, clamp
  /// last). Planes `(n, c)` are split over the cores.
  static func conv2dDepthwise(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                              shape s: ConvShape, window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>) {
    let planes = s.n * s.c, outPlane = s.oH * s.oW
    if outPlane == 0 { return }
    let padding = DepthwisePadding(shape: s, window: window)
    let taps = window.kernelH * window.kernelW
    let geometry = clrp_depthwise_geometry(
      out_h: s.oH, out_w: s.oW, kernel_h: window.kernelH, kernel_w: window.kernelW,
      stride_h: window.strideH, stride_w: window.strideW, dilation_h: window.dilationH, dilation_w: window.dilationW,
      row_stride: padding.rowStride, clamps: clamp == nil ? 0 : 1,
      lower: clamp?.lower ?? -.infinity, upper: clamp?.upper ?? .infinity)
    parallelChunks(planes, work: planes * outPlane * taps) { range in
      ScratchPool.shared.with(padding.count) { scratch in
        scratch.update(repeating: 0, count: padding.count)
        withUnsafePointer(to: geometry) { geometry in
          for p in range {
            let channel = p % s.c
            padding.copyInterior(of: x + p * s.h * s.w, into: scratch)
            clrp_depthwise_plane(geometry, scratch, weight + channel * taps, bias?[channel] ?? 0, y + p * outPlane)
          }
        }
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
  /// Floats readable after the last tap of a row: a stride-2 vector load reads 32 inputs for 16
  /// outputs (`clrp_depthwise_plane`).
  static let slack = 32
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
