import CKernels

extension Kernels {
  /// Number of floats of the im2col scratch matrix: convolutions unfold and multiply slabs of whole
  /// output rows with about this many values, but at least four columns per filter of a group (so
  /// that packing the weights is amortised) and at least one row.
  static let columnBudget = 1 << 21

  /// Whether `window` is a 1×1, stride-1, unpadded window, whose im2col matrix is the input itself.
  static func isPointwise(_ window: Window2D) -> Bool {
    window.kernelH == 1 && window.kernelW == 1 && window.strideH == 1 && window.strideW == 1
      && window.padTop == 0 && window.padLeft == 0 && window.padBottom == 0 && window.padRight == 0
  }

  /// Validated sizes of a grouped 2-D convolution.
  struct ConvShape {
    var n, c, h, w, m, oH, oW, group: Int
    var cg: Int { c / group }
    var mg: Int { m / group }
    var kSize: Int
    var rowsPerSlab: Int

    init(input: [Int], weight: [Int], window: Window2D, group: Int) {
      precondition(input.count == 4, "conv2d expects an NCHW input, got \(input)")
      precondition(weight.count == 4, "conv2d expects weight [M, C/group, kH, kW], got \(weight)")
      precondition(group >= 1 && input[1] % group == 0 && weight[0] % group == 0,
                   "conv2d: channels \(input[1]) and filters \(weight[0]) must divide into \(group) groups")
      precondition(weight[1] == input[1] / group, "conv2d: weight \(weight) does not match \(input[1]) channels in \(group) groups")
      precondition(weight[2] == window.kernelH && weight[3] == window.kernelW,
                   "conv2d: weight \(weight) does not match a \(window.kernelH)x\(window.kernelW) window")
      (n, c, h, w, m, self.group) = (input[0], input[1], input[2], input[3], weight[0], group)
      (oH, oW) = window.outputSize(height: h, width: w)
      kSize = weight[1] * weight[2] * weight[3]
      let slabColumns = max(columnBudget / max(1, kSize), 4 * weight[0] / group)
      rowsPerSlab = max(1, min(oH, (slabColumns + oW - 1) / max(1, oW)))
    }
  }

  /// 2-D convolution (ONNX `Conv`, NCHW, explicit pads):
  ///
  ///     y[n, m, oh, ow] = b[m] + Σ_{c, i, j} x[n, g·C/G + c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW] · W[m, c, i, j]
  ///
  /// with `g = m / (M/G)` the group of filter `m`, `c` over the `C/G` channels of that group and
  /// taps outside the input reading 0.
  ///
  /// - Parameters:
  ///   - x: `[N, C, H, W]`.
  ///   - weight: `[M, C/group, kH, kW]`, `kH`/`kW` equal to the window's kernel size.
  ///   - bias: `M` values, or `nil`.
  ///   - window: kernel, strides, dilations and (possibly asymmetric) pads; `ceilMode` is honoured.
  ///   - group: number of groups `G`, dividing both `C` and `M`.
  /// - Returns: `[N, M, oH, oW]` with `(oH, oW) = window.outputSize(height: H, width: W)`.
  ///
  ///   - clamp: an activation applied to each slab of output while it is still in cache, instead
  ///     of in a separate pass (`Clamp.relu`, or a `Clip` such as ReLU6).
  ///   - addend: a tensor shaped like the output added to it before the clamp (a residual
  ///     connection, `clamp(conv(x) + bias + addend)`): the im2col and pointwise paths start
  ///     the output as `addend + bias` and let the GEMM add to it, the others add it in the
  ///     clamp's pass.
  ///
  /// Computed per image and group as `W_g · im2col(x_g)` with `cblas_sgemm`; the im2col matrix is
  /// built in slabs of output rows (about `columnBudget` values each), and a 1×1 stride-1 unpadded
  /// window multiplies the input directly. 3×3 stride-1 undilated convolutions with at least 16
  /// channels and filters per group and 128 output tiles take the Winograd F(2×2, 3×3) path
  /// (`conv2dWinograd`), which needs 4/9 of the multiplications; results agree with the direct
  /// formula to float rounding (within 1e-5 of `Σ |x · W|` per output in the tests). Depthwise
  /// convolutions (one filter per channel) run as direct loops (`conv2dDepthwise`).
  public static func conv2d(_ x: Tensor, weight: Tensor, bias: [Float]?, window: Window2D, group: Int,
                            clamp: Clamp? = nil, addend: Tensor? = nil) -> Tensor {
    let s = ConvShape(input: x.shape, weight: weight.shape, window: window, group: group)
    precondition(bias == nil || bias!.count == s.m, "conv2d: bias must have \(s.m) values")
    precondition(addend == nil || addend!.shape == [s.n, s.m, s.oH, s.oW],
                 "conv2d: addend \(addend!.shape) must have the output's shape \([s.n, s.m, s.oH, s.oW])")
    if let addend, isDepthwise(s) || usesWinograd(s, window) {
      let y = conv2d(x, weight: weight, bias: bias, window: window, group: group)
      return addAndClamp(y, addend, clamp: clamp)
    }
    let data = x.data.withUnsafeBufferPointer { xb in
      weight.data.withUnsafeBufferPointer { wb in
        (addend?.data ?? []).withUnsafeBufferPointer { ab in
          let addendBase = addend == nil ? nil : ab.base
          return makeArray(count: s.n * s.m * s.oH * s.oW) { y in
            if isDepthwise(s) {
              conv2dDepthwise(xb.base, weight: wb.base, bias: bias, shape: s, window: window, clamp: clamp, y: y)
            } else if usesWinograd(s, window) {
              conv2dWinograd(xb.base, weight: wb.base, bias: bias, shape: s, window: window, clamp: clamp, y: y)
            } else if isPointwise(window) {
              conv2dSlabs(xb.base, weight: wb.base, bias: bias, shape: s, window: window, clamp: clamp, y: y, columns: nil,
                          addend: addendBase)
            } else {
              ScratchPool.shared.with(s.kSize * s.rowsPerSlab * s.oW) { columns in
                conv2dSlabs(xb.base, weight: wb.base, bias: bias, shape: s, window: window, clamp: clamp, y: y,
                            columns: columns, addend: addendBase)
              }
            }
          }
        }
      }
    }
    return Tensor(shape: [s.n, s.m, s.oH, s.oW], data: data)
  }

  /// The im2col path of `conv2d`, slab by slab of output rows: the bias (plus the addend, if
  /// any) written into the slab, `W_g · columns` added to it, then the clamp, each thread doing
  /// all three on its own block of the slab (`gemmBlocks`). Without `columns` (a pointwise
  /// window) the input rows themselves are the right-hand matrix.
  static func conv2dSlabs(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?, shape s: ConvShape,
                          window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>,
                          columns: UnsafeMutablePointer<Float>?, addend: UnsafePointer<Float>? = nil) {
    let plane = s.oH * s.oW, inPlane = s.h * s.w
    for img in 0..<s.n {
      for g in 0..<s.group {
        let image = x + (img * s.c + g * s.cg) * inPlane
        let out = y + (img * s.m + g * s.mg) * plane
        for r0 in stride(from: 0, to: s.oH, by: s.rowsPerSlab) {
          let rows = r0..<min(s.oH, r0 + s.rowsPerSlab)
          let cols = rows.count * s.oW
          let b: UnsafePointer<Float>, ldb: Int
          if let columns {
            parallelChunks(s.cg, work: s.kSize * cols) { channels in
              im2colRows(image, height: s.h, width: s.w, window: window, outWidth: s.oW,
                         rows: rows, channels: channels, columns: columns, ld: cols)
            }
            (b, ldb) = (UnsafePointer(columns), cols)
          } else {
            (b, ldb) = (image + r0 * s.oW, inPlane)
          }
          // Each thread starts its block of the slab as the bias (plus the addend) and lets the
          // GEMM add to it (beta 1; OpenBLAS would otherwise zero it first and the bias take one
          // more pass), then clamps the block while it is still in its cache.
          let slab = out + r0 * s.oW
          gemmBlocks(m: s.mg, n: cols, k: s.kSize) { filters, columns in
            let block = slab + filters.lowerBound * plane + columns.lowerBound
            if let addend {
              let from = addend + (img * s.m + g * s.mg + filters.lowerBound) * plane + r0 * s.oW + columns.lowerBound
              for f in 0..<filters.count {
                let b = bias?[g * s.mg + filters.lowerBound + f] ?? 0
                for i in 0..<columns.count { block[f * plane + i] = from[f * plane + i] + b }
              }
            } else if let bias {
              bias.withUnsafeBufferPointer {
                clrp_fill_rows(block, filters.count, columns.count, plane, $0.base + g * s.mg + filters.lowerBound)
              }
            }
            sgemm(m: filters.count, n: columns.count, k: s.kSize, a: weight + (g * s.mg + filters.lowerBound) * s.kSize,
                  lda: s.kSize, b: b + columns.lowerBound, ldb: ldb, beta: bias == nil && addend == nil ? 0 : 1,
                  c: block, ldc: plane)
            if let clamp {
              for f in 0..<filters.count { clrp_clamp(block + f * plane, columns.count, clamp.lower, clamp.upper) }
            }
          }
        }
      }
    }
  }

  /// `clamp(y + addend)` elementwise (same shapes), in one pass.
  static func addAndClamp(_ y: Tensor, _ addend: Tensor, clamp: Clamp?) -> Tensor {
    let count = y.count
    let data = y.data.withUnsafeBufferPointer { yb in
      addend.data.withUnsafeBufferPointer { ab in
        makeArray(count: count) { out in
          parallelChunks(count, work: count) { range in
            if let clamp {
              for i in range { out[i] = clamp(yb[i] + ab[i]) }
            } else {
              for i in range { out[i] = yb[i] + ab[i] }
            }
          }
        }
      }
    }
    return Tensor(shape: y.shape, data: data)
  }

  /// The input-gradient (transposed convolution) of `conv2d` without bias: for every image and group,
  /// `col2im(W_gᵀ · gradOut_g)`, i.e.
  ///
  ///     x̂[n, g·C/G + c, h, w] = Σ_{m in g, i, j, oh, ow : oh·sH − padTop + i·dH = h, ow·sW − padLeft + j·dW = w} gradOut[n, m, oh, ow] · W[m, c, i, j]
  ///
  /// so that `⟨conv2d(x, W), gradOut⟩ = ⟨x, conv2dTransposedInput(gradOut, W)⟩`. Depthwise
  /// convolutions scatter directly (`conv2dDepthwiseTransposed`) instead of one GEMM per channel.
  ///
  /// - Parameters:
  ///   - gradOut: `[N, M, oH, oW]`, shaped like the output of `conv2d`.
  ///   - weight: `[M, C/group, kH, kW]`, the weight given to `conv2d`.
  ///   - window: the window given to `conv2d`.
  ///   - group: the group count given to `conv2d`.
  ///   - inputShape: `[N, C, H, W]`, the shape of the `conv2d` input (not recoverable from `oH`, `oW`).
  /// - Returns: a tensor of `inputShape`; input positions no window reads are 0.
  public static func conv2dTransposedInput(_ gradOut: Tensor, weight: Tensor, window: Window2D, group: Int,
                                           inputShape: [Int]) -> Tensor {
    let s = ConvShape(input: inputShape, weight: weight.shape, window: window, group: group)
    precondition(gradOut.shape == [s.n, s.m, s.oH, s.oW],
                 "conv2dTransposedInput: gradOut \(gradOut.shape) is not the conv2d output shape \([s.n, s.m, s.oH, s.oW])")
    let plane = s.oH * s.oW, inPlane = s.h * s.w
    let pointwise = isPointwise(window)
    let data = gradOut.data.withUnsafeBufferPointer { gb in
      weight.data.withUnsafeBufferPointer { wb in
        makeArray(count: s.n * s.c * inPlane) { x in
          if isDepthwise(s) {
            conv2dDepthwiseTransposed(gb.base, weight: wb.base, shape: s, window: window, x: x)
            return
          }
          if pointwise {
            for img in 0..<s.n {
              for g in 0..<s.group {
                sgemm(transA: true, m: s.cg, n: plane, k: s.mg, a: wb.base + g * s.mg * s.kSize, lda: s.kSize,
                      b: gb.base + (img * s.m + g * s.mg) * plane, ldb: plane,
                      beta: 0, c: x + (img * s.c + g * s.cg) * inPlane, ldc: inPlane)
              }
            }
            return
          }
          x.update(repeating: 0, count: s.n * s.c * inPlane)
          if plane == 0 { return }
          ScratchPool.shared.with(s.kSize * s.rowsPerSlab * s.oW) { columns in
            for img in 0..<s.n {
              for g in 0..<s.group {
                let image = x + (img * s.c + g * s.cg) * inPlane
                let grad = gb.base + (img * s.m + g * s.mg) * plane
                for r0 in stride(from: 0, to: s.oH, by: s.rowsPerSlab) {
                  let rows = r0..<min(s.oH, r0 + s.rowsPerSlab)
                  let cols = rows.count * s.oW
                  sgemm(transA: true, m: s.kSize, n: cols, k: s.mg, a: wb.base + g * s.mg * s.kSize, lda: s.kSize,
                        b: grad + r0 * s.oW, ldb: plane, beta: 0, c: columns, ldc: cols)
                  parallelChunks(s.cg, work: s.kSize * cols) { channels in
                    col2imRows(columns, height: s.h, width: s.w, window: window, outWidth: s.oW,
                               rows: rows, channels: channels, image: image, ld: cols)
                  }
                }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: inputShape, data: data)
  }
}
