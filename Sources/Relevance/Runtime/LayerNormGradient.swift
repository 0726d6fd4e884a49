/// The input-gradient of LayerNormalization for output gradients g ([K] + x's shape without
/// its batch axis) at input x ([1, ...]). Per normalized slice of n values, with
/// x̂ = (x − μ)/σ, σ = √(var + ε) and h = g ⊙ scale:
///   ∂L/∂x = (h − mean(h) − x̂ · mean(h ⊙ x̂)) / σ
/// (the bias only shifts the output; μ and σ depend on every x of the slice).
func layerNormGradient(_ g: Tensor, input x: Tensor, axis: Int, epsilon: Float, scale: [Float]) -> Tensor {
  let statistics = LayerNormStatistics(x, axis: axis, epsilon: epsilon)
  let inner = statistics.inner, per = x.count, slices = statistics.slices
  let normalized = statistics.normalized, inverseSigma = statistics.inverseSigma
  var out = [Float](repeating: 0, count: g.count)
  for k in 0..<(g.count / per) {
    for o in 0..<slices {
      let base = k * per + o * inner
      var meanH: Double = 0, meanHX: Double = 0
      for i in 0..<inner {
        let h = Double(g.data[base + i] * (scale.count == 1 ? scale[0] : scale[i]))
        meanH += h
        meanHX += h * Double(normalized[o * inner + i])
      }
      meanH /= Double(inner)
      meanHX /= Double(inner)
      for i in 0..<inner {
        let h = g.data[base + i] * (scale.count == 1 ? scale[0] : scale[i])
        out[base + i] = (h - Float(meanH) - normalized[o * inner + i] * Float(meanHX)) * inverseSigma[o]
      }
    }
  }
  return Tensor(shape: g.shape, data: out)
}

/// The per-slice statistics of LayerNormalization's input x ([1, ...]) over the axes from
/// `axis` to the last: x̂ = (x − μ)/σ with σ = √(var + ε) (biased variance), μ and var summed
/// in double precision.
struct LayerNormStatistics {
  /// Values per slice, and slices per image.
  let inner: Int, slices: Int
  /// x̂, x's layout.
  let normalized: [Float]
  /// 1/σ per slice.
  let inverseSigma: [Float]

  init(_ x: Tensor, axis: Int, epsilon: Float) {
    inner = x.shape[axis...].reduce(1, *)
    slices = x.count / inner
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
