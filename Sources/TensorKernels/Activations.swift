extension Kernels {
  /// Applies `f` to every element of `x` in place, in parallel chunks when `x` is large.
  @inline(__always)
  static func mapInPlace(_ x: inout Tensor, _ f: (Float) -> Float) {
    let count = x.count
    x.data.withUnsafeMutableBufferPointer { b in
      let p = b.base
      parallelChunks(count, work: count) { range in
        for i in range { p[i] = f(p[i]) }
      }
    }
  }

  /// ONNX `Relu`: `y = max(x, 0)`, elementwise. The storage of a uniquely referenced argument
  /// (e.g. `relu(consume t)`) is reused.
  public static func relu(_ x: consuming Tensor) -> Tensor {
    var y = x
    mapInPlace(&y) { $0 > 0 ? $0 : 0 }
    return y
  }

  /// ONNX `LeakyRelu`: `y = x` for `x >= 0`, else `alpha · x`, elementwise. Reuses the storage of
  /// a uniquely referenced argument.
  public static func leakyRelu(_ x: consuming Tensor, alpha: Float) -> Tensor {
    var y = x
    mapInPlace(&y) { $0 < 0 ? alpha * $0 : $0 }
    return y
  }

  /// ONNX `Clip`: `y = min(max(x, min), max)` elementwise; a `nil` bound is absent (unbounded).
  /// Reuses the storage of a uniquely referenced argument.
  public static func clip(_ x: consuming Tensor, min lower: Float?, max upper: Float?) -> Tensor {
    var y = x
    let lo = lower ?? -Float.infinity, hi = upper ?? Float.infinity
    mapInPlace(&y) { v in
      let a = v < lo ? lo : v
      return a > hi ? hi : a
    }
    return y
  }

  /// Per-channel affine map on axis 1 (an inference-time `BatchNormalization` folded to
  /// `scale = γ / √(σ² + ε)`, `shift = β − μ · scale`): `y[n, c, ...] = x[n, c, ...] · scale[c] + shift[c]`.
  ///
  /// - Parameter x: `[N, C, ...]`, rank at least 2; `scale` and `shift` have `C` values.
  /// - Returns: a tensor shaped like `x`, reusing the storage of a uniquely referenced argument.
  public static func channelAffine(_ x: consuming Tensor, scale: [Float], shift: [Float]) -> Tensor {
    var y = x
    precondition(y.rank >= 2, "channelAffine expects [N, C, ...], got \(y.shape)")
    let n = y.shape[0], c = y.shape[1], inner = y.shape.dropFirst(2).reduce(1, *)
    precondition(scale.count == c && shift.count == c, "channelAffine: need \(c) scales and shifts")
    let count = y.count
    scale.withUnsafeBufferPointer { sb in
      shift.withUnsafeBufferPointer { hb in
        y.data.withUnsafeMutableBufferPointer { b in
          let p = b.base
          parallelChunks(n * c, work: count) { range in
            for plane in range {
              let a = sb[plane % c], s = hb[plane % c]
              let row = p + plane * inner
              for k in 0..<inner { row[k] = row[k] * a + s }
            }
          }
        }
      }
    }
    return y
  }
}
