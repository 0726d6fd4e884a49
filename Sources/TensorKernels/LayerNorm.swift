extension Kernels {
  /// ONNX `LayerNormalization` (opset 17): each slice over the axes from `axis` to the last is
  /// normalized to mean 0 and variance 1, then scaled and shifted:
  /// `y = (x − μ) / √(σ² + epsilon) · scale + bias`, μ and σ² (population variance) per slice.
  ///
  /// - Parameters:
  ///   - axis: first normalized axis, in `0..<rank`.
  ///   - scale, bias: one value per element of a slice (`x.shape[axis...]` flattened), or one value.
  public static func layerNorm(_ x: Tensor, axis: Int, epsilon: Float, scale: [Float], bias: [Float]?) -> Tensor {
    precondition((0..<x.rank).contains(axis), "layerNorm: axis \(axis) out of range for \(x.shape)")
    let inner = x.shape[axis...].reduce(1, *), outer = x.count / max(inner, 1)
    precondition(scale.count == inner || scale.count == 1, "layerNorm: \(scale.count) scales for slices of \(inner)")
    precondition(bias.map { $0.count == inner || $0.count == 1 } ?? true, "layerNorm: bias count")
    let statistics = LayerNormStatistics(x, axis: axis, epsilon: epsilon)
    var y = statistics.normalized
    for o in 0..<outer {
      for i in 0..<inner {
        let s = scale.count == 1 ? scale[0] : scale[i]
        let b = bias.map { $0.count == 1 ? $0[0] : $0[i] } ?? 0
        y[o * inner + i] = y[o * inner + i] * s + b
      }
    }
    return Tensor(shape: x.shape, data: y)
  }
}

/// The per-slice statistics of LayerNormalization's input x (any leading axes) over the axes from
/// `axis` to the last: x̂ = (x − μ)/σ with σ = √(var + ε) (biased variance), μ and var summed
/// in double precision.
public struct LayerNormStatistics: Sendable {
  /// Values per slice, and slices per image.
  public let inner: Int, slices: Int
  /// x̂, x's layout.
  public let normalized: [Float]
  /// 1/σ per slice.
  public let inverseSigma: [Float]

  public init(_ x: Tensor, axis: Int, epsilon: Float) {
    inner = x.shape[axis...].reduce(1, *)
    slices = inner > 0 ? x.count / inner : 0
    var normalized = [Float](repeating: 0, count: x.count), inverseSigma = [Float](repeating: 0, count: slices)
    for o in 0..<slices {
      let base = o * inner
      var mean: Double = 0
      for i in 0..<inner { mean += Double(x.data[base + i]) }
      mean /= Double(inner)
      var variance: Double = 0
      for i in 0..<inner { let d = Double(x.data[base + i]) - mean; variance += d * d }
      variance /= Double(inner)
      inverseSigma[o] = Float(1 / (variance + Double(epsilon)).squareRoot())
      for i in 0..<inner { normalized[base + i] = (x.data[base + i] - Float(mean)) * inverseSigma[o] }
    }
    self.normalized = normalized
    self.inverseSigma = inverseSigma
  }
}
