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
