/// LayerNormalization's LRP rule after Ali et al. 2022 ("XAI for Transformers: better
/// explanations through conservative propagation", the LN-rule), for output relevance r
/// ([K] + x's shape without its batch axis) at input x ([1, ...]).
///
/// σ is held constant, so the normalization is the linear centering x ↦ x̂ = (x − μ)/σ, whose
/// Jacobian is J = (I − 11ᵀ/N)/σ (symmetric); the affine γ·x̂ + β passes the relevance to x̂
/// (bias bypassed); the epsilon rule through the centering gives, per slice of N values,
///   s_i = R_i / stab(x̂_i),   R_x_j = x_j · (Jᵀ s)_j = x_j / σ · (s_j − mean_i s_i),
/// stab(z) = z + ε·sign(z), sign(0) = +1, ε = `stabilizer`. Since Σ_j x_j (s_j − mean s) =
/// Σ_j (x_j − μ)(s_j − mean s) = σ Σ_j x̂_j s_j, it conserves up to ε: Σ_j R_x_j = Σ_i s_i x̂_i.
/// Where x̂_i = 0 exactly, R_i is lost; `zeros` records those positions that carried relevance.
func layerNormCentering(_ r: Tensor, input x: Tensor, axis: Int, epsilon: Float, stabilizer: Float = 1e-6,
                        zeros: inout ZeroDenominators) -> Tensor {
  let statistics = LayerNormStatistics(x, axis: axis, epsilon: epsilon)
  let inner = statistics.inner, per = x.count
  var out = [Float](repeating: 0, count: r.count)
  var s = [Double](repeating: 0, count: inner)
  for k in 0..<(r.count / per) {
    for o in 0..<statistics.slices {
      let base = o * inner, signalBase = k * per + base
      var meanS: Double = 0
      for i in 0..<inner {
        let normalized = Double(statistics.normalized[base + i])
        let rel = Double(r.data[signalBase + i])
        s[i] = rel / (normalized >= 0 ? normalized + Double(stabilizer) : normalized - Double(stabilizer))
        meanS += s[i]
      }
      meanS /= Double(inner)
      let inverseSigma = Double(statistics.inverseSigma[o])
      for i in 0..<inner {
        out[signalBase + i] = Float(Double(x.data[base + i]) * inverseSigma * (s[i] - meanS))
      }
    }
  }
  for (i, v) in statistics.normalized.enumerated() where v == 0 { zeros.record(r, position: i, per: per) }
  return Tensor(shape: r.shape, data: out)
}
