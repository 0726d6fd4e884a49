/// Every linear rule as one mechanism: modified inputs times modified weights, grouped into
/// denominators. For a layer with forward operator F (conv or dense) and its transpose Fᵀ:
///
///   z_d = Σ_{t ∈ d} c_t · F(in_t(a), W_t) + bias_d
///   R_in = Σ_d λ_d Σ_{t ∈ d} c_t · in_t(a) ⊙ W_tᵀ(R / stab(z_d))      (normalized rules)
///   R_in = Wᵀ R                                                      (the gradient)
///
/// A rule only chooses the terms (in_t, W_t, c_t), the bias and the weights λ_d.
struct LinearRuleLowering: Sendable {
  enum Input: Hashable, Sendable {
    case activation, positive, negative, low, high, ones

    /// Bounds and ones do not depend on the image: their terms of z are built at compile time.
    var isImageIndependent: Bool { self == .low || self == .high || self == .ones }
  }
  enum Weight: Hashable, Sendable { case plain, positive, negative, squared, ones, gamma(Float) }
  enum Bias: Hashable, Sendable { case plain, positive, negative, gamma(Float) }

  struct Term: Sendable {
    var input: Input
    var weight: Weight
    var coefficient: Float
  }

  struct Denominator: Sendable {
    var terms: [Term]
    var bias: Bias?
    /// λ_d: alpha and −beta for alpha-beta, 1 otherwise.
    var weight: Float
  }

  var denominators: [Denominator]
  /// False for the gradient: relevance is not divided by z and not multiplied by inputs.
  var normalized: Bool
  var epsilon: Float
  var low: [Float] = []
  var high: [Float] = []

  init(_ rule: LinearRule) {
    epsilon = rule.epsilon
    normalized = true
    let t = { (i: Input, w: Weight, c: Float) in Term(input: i, weight: w, coefficient: c) }
    switch rule.kind {
    case .epsilon:
      denominators = [Denominator(terms: [t(.activation, .plain, 1)], bias: rule.bias ? .plain : nil, weight: 1)]
    case .gamma(let g):
      denominators = [Denominator(terms: [t(.activation, .gamma(g), 1)], bias: rule.bias ? .gamma(g) : nil, weight: 1)]
    case .zPlus:
      denominators = [Denominator(terms: [t(.positive, .positive, 1), t(.negative, .negative, 1)],
                                  bias: rule.bias ? .positive : nil, weight: 1)]
    case .zPlusFlat(let eta):
      // z⁺'s terms plus flat's (ones, ones) weighted η: the denominator is ≥ η·|N_j|, padding
      // taps excluded because the ones tensor is zero-padded like the image.
      denominators = [Denominator(terms: [t(.positive, .positive, 1), t(.negative, .negative, 1), t(.ones, .ones, eta)],
                                  bias: rule.bias ? .positive : nil, weight: 1)]
    case .alphaBeta(let alpha, let beta):
      denominators = [Denominator(terms: [t(.positive, .positive, 1), t(.negative, .negative, 1)],
                                  bias: rule.bias ? .positive : nil, weight: alpha)]
      if beta != 0 {
        denominators.append(Denominator(terms: [t(.positive, .negative, 1), t(.negative, .positive, 1)],
                                        bias: rule.bias ? .negative : nil, weight: -beta))
      }
    case .zBox(let l, let h):
      low = l
      high = h
      denominators = [Denominator(terms: [t(.activation, .plain, 1), t(.low, .positive, -1), t(.high, .negative, -1)],
                                  bias: rule.bias ? .plain : nil, weight: 1)]
    case .wSquare:
      denominators = [Denominator(terms: [t(.ones, .squared, 1)], bias: nil, weight: 1)]
    case .flat:
      denominators = [Denominator(terms: [t(.ones, .ones, 1)], bias: nil, weight: 1)]
    case .gradient:
      normalized = false
      denominators = [Denominator(terms: [t(.ones, .plain, 1)], bias: nil, weight: 1)]
    }
  }

  /// The same rule for an input known to be non-negative (a ReLU output, say): a⁻ = 0 drops
  /// every term on the negative part and a⁺ = a needs no copy. z⁺ then costs one product.
  func specialized(nonNegativeInput: Bool) -> LinearRuleLowering {
    guard nonNegativeInput else { return self }
    var copy = self
    for d in copy.denominators.indices {
      copy.denominators[d].terms = copy.denominators[d].terms.compactMap { term in
        switch term.input {
        case .negative: return nil
        case .positive: return Term(input: .activation, weight: term.weight, coefficient: term.coefficient)
        default: return term
        }
      }
    }
    copy.denominators.removeAll { $0.terms.isEmpty && $0.bias == nil }
    return copy
  }

  /// Whether the single denominator is the layer's own pre-activation z = a·W + b (the epsilon
  /// and zero rules with bias): then the forward pass has computed it already.
  var denominatorIsForwardOutput: Bool {
    guard normalized, denominators.count == 1, let d = denominators.first, d.terms.count == 1 else { return false }
    let t = d.terms[0]
    return t.input == .activation && t.weight == .plain && t.coefficient == 1 && d.bias == .plain
  }

  /// The weight variants the rule reads, to be built once per compiled plan.
  var weightVariants: Set<Weight> { Set(denominators.flatMap { $0.terms.map(\.weight) }) }

  static func modify(_ w: [Float], _ variant: Weight) -> [Float] {
    switch variant {
    case .plain: return w
    case .positive: return w.map { max($0, 0) }
    case .negative: return w.map { min($0, 0) }
    case .squared: return w.map { $0 * $0 }
    case .ones: return [Float](repeating: 1, count: w.count)
    case .gamma(let g): return w.map { $0 + g * max($0, 0) }
    }
  }

  /// `modify` written into `out` (same count), for weights built block by block.
  static func modify(_ w: UnsafeBufferPointer<Float>, _ variant: Weight, into out: UnsafeMutablePointer<Float>) {
    switch variant {
    case .plain: for i in w.indices { out[i] = w[i] }
    case .positive: for i in w.indices { out[i] = max(w[i], 0) }
    case .negative: for i in w.indices { out[i] = min(w[i], 0) }
    case .squared: for i in w.indices { out[i] = w[i] * w[i] }
    case .ones: for i in w.indices { out[i] = 1 }
    case .gamma(let g): for i in w.indices { out[i] = w[i] + g * max(w[i], 0) }
    }
  }

  static func modify(bias b: [Float], _ variant: Bias) -> [Float] {
    switch variant {
    case .plain: return b
    case .positive: return b.map { max($0, 0) }
    case .negative: return b.map { min($0, 0) }
    case .gamma(let g): return b.map { $0 + g * max($0, 0) }
    }
  }

  /// The modified inputs every term reads, each computed once.
  var inputVariants: Set<Input> { Set(denominators.flatMap { $0.terms.map(\.input) }) }

  /// in_t(a) for an activation of shape [1, C, ...].
  func modify(input a: Tensor, _ variant: Input) -> Tensor {
    switch variant {
    case .activation: return a
    case .positive: return Kernels.elementwise(a) { $0 < 0 ? 0 : $0 }
    case .negative: return Kernels.elementwise(a) { $0 > 0 ? 0 : $0 }
    case .ones: return Tensor(shape: a.shape, data: [Float](repeating: 1, count: a.count))
    case .low, .high:
      let bound = variant == .low ? low : high
      let channels = a.shape.count > 1 ? a.shape[1] : 1
      let spatial = a.count / max(channels, 1)
      var data = [Float](repeating: 0, count: a.count)
      for c in 0..<channels {
        let v = bound.count == 1 ? bound[0] : bound[c]
        for i in 0..<spatial { data[c * spatial + i] = v }
      }
      return Tensor(shape: a.shape, data: data)
    }
  }
}
