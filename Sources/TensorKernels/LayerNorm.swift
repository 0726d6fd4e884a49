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
    var y = [Float](repeating: 0, count: x.count)
    for o in 0..<outer {
      let base = o * inner
      var mean: Double = 0
      for i in 0..<inner { mean += Double(x.data[base + i]) }
      mean /= Double(inner)
      var variance: Double = 0
      for i in 0..<inner { let d = Double(x.data[base + i]) - mean; variance += d * d }
      variance /= Double(inner)
      let inverse = Float(1 / (variance + Double(epsilon)).squareRoot())
      for i in 0..<inner {
        let normalized = (x.data[base + i] - Float(mean)) * inverse
        let s = scale.count == 1 ? scale[0] : scale[i]
        let b = bias.map { $0.count == 1 ? $0[0] : $0[i] } ?? 0
        y[base + i] = normalized * s + b
      }
    }
    return Tensor(shape: x.shape, data: y)
  }
}
