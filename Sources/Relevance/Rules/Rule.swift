/// A local relevance rule: how one node redistributes the relevance of its output onto its
/// inputs. Notation: a_i inputs, w_ij weights, b_j bias, z_j = Σ_i a_i w_ij + b_j, R_j the
/// output relevance; x⁺ = max(0, x), x⁻ = min(0, x); stab(z) = z + ε·sign(z), sign(0) = +1.
///
/// References: Bach et al. 2015 (LRP, epsilon, alpha-beta); Montavon et al. 2017 (z⁺, z^B,
/// "Deep Taylor decomposition"); Montavon et al. 2019 (gamma, "LRP: an overview"); Gu, Yang,
/// Tresp 2018 (CLRP; z^B first layer, z⁺ elsewhere, winner-take-all max pooling).
public enum Rule: Equatable, Sendable, CustomStringConvertible {
  /// Conv and dense layers; see `LinearRule`.
  case linear(LinearRule)
  /// Max pooling: each window's relevance goes to its arg-max input (summed over overlaps).
  case winnerTakeAll
  /// Pooling: R_i = Σ_j a_i / stab(Σ_{i' ∈ window j} a_i') · R_j (the z-rule of a unit-weight window).
  case proportional
  /// Average pooling: R_j split evenly over the window positions the forward pass averaged.
  case uniform
  /// Add of two activations: R_a = |a| / (|a| + |b|) · R, likewise for b.
  case absProportional
  /// Add or Mul of two activations: each operand gets R/2 (summed over broadcast axes).
  case equal
  /// Mul of a signal by a gate: all of R to the signal (Arras et al. 2017).
  case signal
  /// Activations, LRN, standalone affine, reshapes: relevance passes unchanged.
  case pass
  /// LayerNormalization after Ali et al. 2022 (the LN-rule): σ held constant, the epsilon rule
  /// through the centering x ↦ (x − μ)/σ, the affine γ·x̂ + β passing relevance (bias bypassed).
  /// Per normalized slice of N values, s_i = R_i / stab(x̂_i): R_x_j = x_j / σ · (s_j − mean_i s_i).
  case centering
  /// The plain gradient for non-linear nodes (ReLU mask, max-pool switch), used by the
  /// gradient presets and baselines.
  case gradient
  /// ReLU in guided backpropagation (Springenberg et al. 2015): the gradient passes where it
  /// is positive and the forward input was positive, g_in = g · [x > 0] · [g > 0].
  case guidedBackprop
  /// ReLU in the deconvnet (Zeiler & Fergus 2014): the positive part of the gradient passes
  /// whatever the forward input was, g_in = max(0, g).
  case deconvnet

  /// Whether the rule maps relevance linearly onto the inputs, given the forward pass: then the
  /// relevance of a difference of signals is the difference of their relevances.
  public var isLinearInRelevance: Bool { RuleCatalog.definition(of: self).linearInRelevance }

  public var description: String {
    switch self {
    case .linear(let rule): return rule.description
    case .winnerTakeAll: return "winner-take-all"
    case .proportional: return "proportional"
    case .uniform: return "uniform"
    case .absProportional: return "abs-proportional"
    case .equal: return "equal"
    case .signal: return "signal"
    case .pass: return "pass"
    case .centering: return "centering"
    case .gradient: return "gradient"
    case .guidedBackprop: return "guided-backprop"
    case .deconvnet: return "deconvnet"
    }
  }
}

/// A rule for a linear layer as the parts that differ between rules.
public struct LinearRule: Equatable, Sendable, CustomStringConvertible {
  public enum Kind: Equatable, Sendable {
    /// R_i = Σ_j a_i w_ij / stab(z_j) · R_j; `epsilon` 0 is the z-rule.
    case epsilon(Float)
    /// R_i = Σ_j (a_i⁺ w_ij⁺ + a_i⁻ w_ij⁻) / stab(Σ_i' a_i'⁺ w_i'j⁺ + a_i'⁻ w_i'j⁻) · R_j.
    case zPlus
    /// z⁺ with a flat term of weight η in every numerator, so that no denominator is empty:
    /// R_i = Σ_j (a_i⁺ w_ij⁺ + a_i⁻ w_ij⁻ + η) / (Σ_{i' ∈ N_j} (a_i'⁺ w_i'j⁺ + a_i'⁻ w_i'j⁻) + η·|N_j|) · R_j,
    /// N_j the inputs connected to output j (its receptive field inside the image). z⁺ up to a
    /// relative η·|N_j|/z⁺_j where z⁺_j > 0, `flat` where z⁺_j = 0; η > 0. The denominator is
    /// ≥ η·|N_j| > 0, so the rule needs no stabilizer and conserves at every unit.
    case zPlusFlat(eta: Float)
    /// R_i = Σ_j (α (a_i w_ij)⁺ / stab(Σ (a w)⁺) − β (a_i w_ij)⁻ / stab(Σ (a w)⁻)) · R_j, α − β = 1.
    case alphaBeta(alpha: Float, beta: Float)
    /// R_i = Σ_j (a_i w_ij − l_i w_ij⁺ − h_i w_ij⁻) / stab(Σ_i' …) · R_j for inputs in [l, h].
    case zBox(low: [Float], high: [Float])
    /// R_i = Σ_j w_ij² / Σ_i' w_i'j² · R_j.
    case wSquare
    /// `wSquare` with every w = 1.
    case flat
    /// The epsilon rule with w + γ·w⁺ in place of w.
    case gamma(Float)
    /// The plain gradient: R_i = Σ_j w_ij R_j (no input factor, no normalization).
    case gradient
  }

  public var kind: Kind
  /// Whether the bias takes part in the denominator (absorbing relevance).
  public var bias: Bool
  /// Stabilizer of the denominator.
  public var epsilon: Float

  public init(_ kind: Kind, bias: Bool? = nil, epsilon: Float = 1e-6) {
    self.kind = kind
    if case .epsilon(let e) = kind {
      self.epsilon = e == 0 ? 1e-12 : e  // the z-rule, stabilized only against 0
    } else if case .zPlusFlat = kind {
      self.epsilon = 0  // the denominator is >= η·|N_j| > 0; a stabilizer would only leak relevance
    } else {
      self.epsilon = epsilon
    }
    switch kind {
    case .wSquare, .flat, .gradient: self.bias = false  // these rules never see a bias
    default: self.bias = bias ?? LinearRule.defaultBias(kind)
    }
  }

  /// Biases take part in epsilon and gamma, and are bypassed by z⁺, alpha-beta and z^B (the
  /// paper's choice); w², flat and the gradient never see them.
  public static func defaultBias(_ kind: Kind) -> Bool {
    switch kind {
    case .epsilon, .gamma: return true
    default: return false
    }
  }

  public var description: String {
    let core: String
    switch kind {
    case .epsilon(let e): core = e == 0 ? "zero" : "epsilon(\(e))"
    case .zPlus: core = "zplus"
    case .zPlusFlat(let eta): core = "zplus-flat(\(eta))"
    case .alphaBeta(let a, let b): core = "alphabeta(\(a), \(b))"
    case .zBox(let l, let h): core = "zbox(low: \(l.count == 1 ? "\(l[0])" : "\(l)"), high: \(h.count == 1 ? "\(h[0])" : "\(h)"))"
    case .wSquare: core = "wsquare"
    case .flat: core = "flat"
    case .gamma(let g): core = "gamma(\(g))"
    case .gradient: core = "gradient"
    }
    return core + (bias == LinearRule.defaultBias(kind) ? "" : (bias ? " +bias" : " -bias"))
  }
}
