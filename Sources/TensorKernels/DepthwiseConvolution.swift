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
  /// over the taps inside the input. `clrp_depthwise_plane` (C, AVX-512 / AVX2 / SSE2 chosen at
  /// run time) copies each plane into a zero-bordered scratch plane (`DepthwisePadding`, zeroed
  /// once per thread), so that every tap of every output is a plain load, then accumulates all
  /// `kH·kW` taps of a row's outputs in vector registers and stores them once (bias first, clamp
  /// last). Planes `(n, c)` are split over the cores.
  static func conv2dDepthwise(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                              shape s: ConvShape, window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>) {
    let planes = s.n * s.c, outPlane = s.oH * s.oW
    if outPlane == 0 { return }
    let padding = DepthwisePadding(shape: s, window: window)
    let taps = window.kernelH * window.kernelW
    let geometry = clrp_depthwise_geometry(
      in_h: s.h, in_w: s.w, out_h: s.oH, out_w: s.oW, kernel_h: window.kernelH, kernel_w: window.kernelW,
      stride_h: window.strideH, stride_w: window.strideW, dilation_h: window.dilationH, dilation_w: window.dilationW,
      pad_top: padding.top, pad_left: padding.left, row_stride: padding.rowStride, clamps: clamp == nil ? 0 : 1,
      lower: clamp?.lower ?? -.infinity, upper: clamp?.upper ?? .infinity)
    parallelChunks(planes, work: planes * outPlane * taps) { range in
      ScratchPool.shared.with(padding.count) { scratch in
        scratch.update(repeating: 0, count: padding.count)
        withUnsafePointer(to: geometry) { geometry in
          for p in range {
            let channel = p % s.c
            clrp_depthwise_plane(geometry, x + p * s.h * s.w, scratch, weight + channel * taps, bias?[channel] ?? 0,
                                 y + p * outPlane)
          }
        }
      }
    }
  }
}

extension Kernels {
  /// The input-gradient (transposed convolution) of a depthwise `conv2d` (see `isDepthwise`), by
  /// direct scatter, plane by plane (`clrp_depthwise_transposed_plane`, C, AVX-512 / AVX2 / SSE2
  /// chosen at run time):
  ///
  ///     x̂[n, c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW] += gradOut[n, c, oh, ow] · W[c, 0, i, j]
  ///
  /// over the taps inside the input; each tap adds `W[c, 0, i, j]` times an output row to an input
  /// row at once. Writes all of `x` (`[N, C, H, W]`); input positions no window reads are 0.
  static func conv2dDepthwiseTransposed(_ gradOut: UnsafePointer<Float>, weight: UnsafePointer<Float>, shape s: ConvShape,
                                        window: Window2D, x: UnsafeMutablePointer<Float>) {
    let (kH, kW) = (window.kernelH, window.kernelW)
    let planes = s.n * s.c, inPlane = s.h * s.w, outPlane = s.oH * s.oW
    if inPlane == 0 { return }
    let geometry = clrp_depthwise_transposed_geometry(
      in_h: s.h, in_w: s.w, out_h: s.oH, out_w: s.oW, kernel_h: kH, kernel_w: kW,
      stride_h: window.strideH, stride_w: window.strideW, dilation_h: window.dilationH, dilation_w: window.dilationW,
      pad_top: window.padTop, pad_left: window.padLeft)
    parallelChunks(planes, work: planes * (inPlane + outPlane * kH * kW)) { range in
      withUnsafePointer(to: geometry) { geometry in
        for p in range {
          clrp_depthwise_transposed_plane(geometry, gradOut + p * outPlane, weight + (p % s.c) * kH * kW, x + p * inPlane)
        }
      }
    }
  }
}

/// The zero-bordered copy of one input plane that `clrp_depthwise_plane` writes and reads: the plane at row
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
}
