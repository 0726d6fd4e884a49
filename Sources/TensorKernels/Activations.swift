extension Kernels {
  /// `f` applied to every element of `x` into a new tensor, in parallel chunks when `x` is large.
  @inline(__always)
  static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let count = x.count
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: count) { y in
        let src = xb.base
        parallelChunks(count, work: count) { range in
          for i in range { y[i] = f(src[i]) }
        }
      }
    }
    return Tensor(shape: x.shape, data: data)
  }

  /// ONNX `Relu`: `y = max(x, 0)`, elementwise.
  public static func relu(_ x: Tensor) -> Tensor {
    map(x) { $0 > 0 ? $0 : 0 }
  }

  /// ONNX `LeakyRelu`: `y = x` for `x >= 0`, else `alpha · x`, elementwise.
  public static func leakyRelu(_ x: Tensor, alpha: Float) -> Tensor {
    map(x) { $0 < 0 ? alpha * $0 : $0 }
  }

  /// ONNX `Clip`: `y = min(max(x, min), max)` elementwise; a `nil` bound is absent (unbounded).
  public static func clip(_ x: Tensor, min lower: Float?, max upper: Float?) -> Tensor {
    let lo = lower ?? -Float.infinity, hi = upper ?? Float.infinity
    return map(x) { v in
      let a = v < lo ? lo : v
      return a > hi ? hi : a
    }
  }

  /// Per-channel affine map on axis 1 (an inference-time `BatchNormalization` folded to
  /// `scale = γ / √(σ² + ε)`, `shift = β − μ · scale`): `y[n, c, ...] = x[n, c, ...] · scale[c] + shift[c]`.
  ///
  /// - Parameter x: `[N, C, ...]`, rank at least 2; `scale` and `shift` have `C` values.
  /// - Returns: a tensor shaped like `x`.
  public static func channelAffine(_ x: Tensor, scale: [Float], shift: [Float]) -> Tensor {
    precondition(x.rank >= 2, "channelAffine expects [N, C, ...], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
    precondition(scale.count == c && shift.count == c, "channelAffine: need \(c) scales and shifts")
    let data = x.data.withUnsafeBufferPointer { xb in
      scale.withUnsafeBufferPointer { sb in
        shift.withUnsafeBufferPointer { hb in
          makeArray(count: x.count) { y in
            parallelChunks(n * c, work: x.count) { range in
              for plane in range {
                let a = sb[plane % c], s = hb[plane % c]
                let src = xb.base + plane * inner, dst = y + plane * inner
                for k in 0..<inner { dst[k] = src[k] * a + s }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: x.shape, data: data)
  }
}
