/// How the rule configuration sees a node: the family of rules that can serve it.
enum RuleTarget: CaseIterable, Hashable, Sendable {
  case linear, maxPool, avgPool, globalAvgPool
  /// Add of two activations (a residual connection).
  case sum
  /// Mul of two activations (a squeeze-and-excitation gate).
  case product
  /// LayerNormalization.
  case layerNorm
  /// Every other op (activations, LRN, affine, concat, reshapes, constant arithmetic, ...).
  case other

  init(_ node: Node, in graph: Graph) {
    switch node.op {
    case .conv, .convTranspose, .dense: self = .linear
    case .maxPool: self = .maxPool
    case .avgPool: self = .avgPool
    case .globalAvgPool: self = .globalAvgPool
    case .elementwise(let op) where node.inputs.count == 2 && !node.inputs.contains(where: graph.isConstant):
      self = op == .add ? .sum : (op == .mul ? .product : .other)
    case .registered(let r): self = r.ruleTarget
    default: self = .other
    }
  }

  /// The families a canonical op name (`op:` in a rule file) may belong to: Add and Mul are
  /// `sum` and `product` between two activations, `other` with a constant.
  static func targets(opName: String) -> Set<RuleTarget> {
    switch opName {
    case "Conv", "ConvTranspose", "Dense": return [.linear]
    case "MaxPool": return [.maxPool]
    case "AveragePool": return [.avgPool]
    case "GlobalAveragePool": return [.globalAvgPool]
    case "Add": return [.sum, .other]
    case "Mul": return [.product, .other]
    default: return [OperatorRegistry.type(opName: opName)?.ruleTarget ?? .other]
    }
  }

  /// Whether the configuration must give this node a rule (else it gets `defaultRule`).
  var needsRule: Bool { defaultRule == nil }

  /// The rule a node gets when no entry matches it; nil when an entry must.
  var defaultRule: Rule? {
    switch self {
    case .linear, .maxPool, .avgPool, .globalAvgPool: return nil
    case .sum: return .proportional
    case .product: return .signal
    case .layerNorm: return .centering
    case .other: return .pass
    }
  }

  /// The nodes of the family, for messages and the docs.
  var text: String {
    switch self {
    case .linear: return "Conv, ConvTranspose, Dense"
    case .maxPool: return "MaxPool"
    case .avgPool: return "AveragePool"
    case .globalAvgPool: return "GlobalAveragePool"
    case .sum: return "Add of two activations"
    case .product: return "Mul of two activations (gate)"
    case .layerNorm: return "LayerNormalization"
    case .other: return "ops that need no rule (activations, LRN, Affine, Concat, reshapes, ...)"
    }
  }
}

/// One relevance rule as the whole program knows it: its YAML name and parameters, the node
/// families it serves, whether it conserves relevance, whether it is linear in the relevance,
/// its formula and reference, and how an entry of a rule file becomes a `RuleSpec`.
///
/// The YAML vocabulary (`RuleSet.ruleNames`, `ruleParameters`, `servesText`), the load-time
/// and compile-time checks that a rule serves a node, `clrp verify`'s expectations and the
/// rules table of Docs/RULES.md (`RuleCatalog.markdownTable`) are derived from `RuleCatalog.all`.
/// How each rule lowers to backward steps is `RelevancePlan.lower` (structural ops) and
/// `Activation.lower` (activations).
struct RuleDefinition: Sendable {
  enum Conservation: Sendable {
    /// Σ R_in = Σ R_out at every node it serves (up to zero denominators when
    /// `losesOnlyAtZeroDenominators`).
    case always
    /// Conserves when the bias is bypassed (the rule's default for it).
    case withoutBias
    /// Absorbs or creates relevance by design (epsilon, gradients).
    case never
  }

  let name: String
  /// Parameter keys and their ranges/defaults, as the docs show them.
  let parameters: [(key: String, text: String)]
  let serves: Set<RuleTarget>
  /// Ops within `serves` the rule is restricted to (guided backprop: Relu), nil for none.
  let onlyOps: [String]?
  let conservation: Conservation
  /// A single denominator per output unit: where it is exactly 0, the relevance arriving there
  /// is lost by definition (verify warns instead of failing).
  let losesOnlyAtZeroDenominators: Bool
  let linearInRelevance: Bool
  /// R_i = ..., one line.
  let formula: String
  let reference: String
  let parse: @Sendable (ConfigMapping, _ bias: Bool?) throws -> RuleSpec

  init(_ name: String, parameters: [(key: String, text: String)] = [], serves: Set<RuleTarget>, onlyOps: [String]? = nil,
       conservation: Conservation, losesOnlyAtZeroDenominators: Bool = false, linearInRelevance: Bool = true,
       formula: String, reference: String, parse: @escaping @Sendable (ConfigMapping, Bool?) throws -> RuleSpec) {
    self.name = name
    self.parameters = parameters
    self.serves = serves
    self.onlyOps = onlyOps
    self.conservation = conservation
    self.losesOnlyAtZeroDenominators = losesOnlyAtZeroDenominators
    self.linearInRelevance = linearInRelevance
    self.formula = formula
    self.reference = reference
    self.parse = parse
  }

  /// Whether `rule` (of this definition) should conserve relevance exactly.
  func conserves(_ rule: Rule) -> Bool {
    switch conservation {
    case .always: return true
    case .never: return false
    case .withoutBias:
      if case .linear(let linear) = rule { return !linear.bias }
      return true
    }
  }

  /// What the rule applies to, for messages and the docs.
  var servesText: String {
    if let onlyOps { return onlyOps.joined(separator: ", ") }
    if serves == Set(RuleTarget.allCases) { return "every op" }
    if serves == [.other] { return "ops that need no rule (Relu, LRN, Affine, Concat, reshapes, ...), not Conv, Dense or pooling" }
    return RuleTarget.allCases.filter(serves.contains).map(\.text).joined(separator: ", ")
  }
}

enum RuleCatalog {
  static let biasParameter = (key: "bias", text: "`bias`: true/false")

  static let all: [RuleDefinition] = [
    RuleDefinition("epsilon", parameters: [("epsilon", "`epsilon` ≥ 0 (default 1e-6)"), biasParameter], serves: [.linear],
                   conservation: .never,
                   formula: "Σ_j a_i w_ij / stab(z_j) · R_j; bias included by default (absorbs relevance)",
                   reference: "Bach et al. 2015") { m, bias in
      let e = try m.number("epsilon") ?? 1e-6
      guard e >= 0 else { throw ConfigProblem("`epsilon` must be >= 0, not \(e)") }
      let epsilon = try DecodedEntry.float("epsilon", e)
      guard e == 0 || epsilon >= Float.leastNormalMagnitude else {
        throw ConfigProblem("`epsilon` \(e) is too small for 32-bit floats (it would be \(epsilon == 0 ? "0, the zero rule" : "a subnormal \(epsilon)")); give at least \(Float.leastNormalMagnitude), or 0 (rule: zero) for the z-rule")
      }
      return .linear(LinearRule(.epsilon(epsilon), bias: bias))
    },
    RuleDefinition("zero", parameters: [biasParameter], serves: [.linear], conservation: .never,
                   formula: "`epsilon` with ε = 0 (the z-rule; stabilized by 1e-12 only against 0/0)",
                   reference: "Bach et al. 2015") { _, bias in .linear(LinearRule(.epsilon(0), bias: bias)) },
    RuleDefinition("zplus", parameters: [biasParameter], serves: [.linear], conservation: .withoutBias,
                   losesOnlyAtZeroDenominators: true,
                   formula: "Σ_j (a_i⁺ w_ij⁺ + a_i⁻ w_ij⁻) / stab(Σ_i' a_i'⁺ w_i'j⁺ + a_i'⁻ w_i'j⁻) · R_j; bias bypassed",
                   reference: "Montavon et al. 2017") { _, bias in .linear(LinearRule(.zPlus, bias: bias)) },
    RuleDefinition("zplus-flat", parameters: [("eta", "`eta` > 0 (default 1e-6)"), biasParameter], serves: [.linear],
                   conservation: .withoutBias,
                   formula: "Σ_j (a_i⁺ w_ij⁺ + a_i⁻ w_ij⁻ + η) / (Σ_{i' ∈ N_j} (a_i'⁺ w_i'j⁺ + a_i'⁻ w_i'j⁻) + η·n_j) · R_j, N_j the receptive field inside the image (padding excluded), n_j its size: z⁺ where z⁺'s denominator is non-zero (up to η), `flat` where it is empty (depthwise convs after ReLU); no zero denominators, no stabilizer; bias bypassed",
                   reference: "z⁺ (Montavon et al. 2017) + flat (Lapuschkin et al. 2019); Docs/RULE-STUDY.md") { m, bias in
      let eta = try m.number("eta") ?? 1e-6
      guard eta > 0, eta.isFinite else { throw ConfigProblem("`eta` must be > 0 (the flat term's weight), not \(eta)") }
      let value = try DecodedEntry.float("eta", eta)
      guard value >= Float.leastNormalMagnitude else {
        throw ConfigProblem("`eta` \(eta) is too small for 32-bit floats; give at least \(Float.leastNormalMagnitude)")
      }
      return .linear(LinearRule(.zPlusFlat(eta: value), bias: bias))
    },
    RuleDefinition("alphabeta", parameters: [("alpha", "`alpha` ≥ 0"), ("beta", "`beta` ≥ 0, α − β = 1"), biasParameter],
                   serves: [.linear], conservation: .withoutBias,
                   formula: "Σ_j (α (a_i w_ij)⁺ / stab(Σ_i' (a_i' w_i'j)⁺) − β (a_i w_ij)⁻ / stab(Σ_i' (a_i' w_i'j)⁻)) · R_j; bias bypassed",
                   reference: "Bach et al. 2015; Montavon et al. 2019") { m, bias in
      var alpha = try m.number("alpha"), beta = try m.number("beta")
      switch (alpha, beta) {
      case (nil, nil): throw ConfigProblem("alphabeta needs `alpha` and `beta` (alpha - beta = 1, e.g. alpha: 2, beta: 1)")
      case (let a?, nil): beta = a - 1
      case (nil, let b?): alpha = b + 1
      default: break
      }
      guard let a = alpha, let b = beta, a >= 0, b >= 0 else {
        throw ConfigProblem("alphabeta needs alpha >= 0 and beta >= 0; got alpha \(alpha ?? 0), beta \(beta ?? 0)")
      }
      guard abs(a - b - 1) <= 1e-6 else {
        throw ConfigProblem("alphabeta needs alpha - beta = 1 (conservation); got alpha \(a), beta \(b)")
      }
      return .linear(LinearRule(.alphaBeta(alpha: try DecodedEntry.float("alpha", a), beta: try DecodedEntry.float("beta", b)), bias: bias))
    },
    RuleDefinition("zbox", parameters: [("low", "`low`, `high`: a number or one per input channel, low ≤ high; or neither (from --preprocess)"),
                                        ("high", ""), biasParameter],
                   serves: [.linear], conservation: .withoutBias, losesOnlyAtZeroDenominators: true,
                   formula: "Σ_j (a_i w_ij − l_i w_ij⁺ − h_i w_ij⁻) / stab(Σ_i' a_i' w_i'j − l_i' w_i'j⁺ − h_i' w_i'j⁻) · R_j, inputs in [l, h]; bias bypassed",
                   reference: "Montavon et al. 2017") { m, bias in
      let low = try m.numbers("low"), high = try m.numbers("high")
      switch (low, high) {
      case (nil, nil):
        return .zBoxFromPreprocessing(bias: bias)
      case (let l?, let h?):
        if l.count > 1 && h.count > 1 && l.count != h.count {
          throw ConfigProblem("`low` has \(l.count) values and `high` \(h.count); give one per channel or a single number")
        }
        for c in 0..<max(l.count, h.count) {
          let lc = l[l.count == 1 ? 0 : c], hc = h[h.count == 1 ? 0 : c]
          guard lc <= hc else {
            throw ConfigProblem("zbox needs low <= high" + (max(l.count, h.count) > 1 ? " in every channel; channel \(c) has" : "; got") + " low \(lc), high \(hc)")
          }
        }
        return .linear(LinearRule(.zBox(low: try l.map { try DecodedEntry.float("low", $0) },
                                        high: try h.map { try DecodedEntry.float("high", $0) }), bias: bias))
      default:
        throw ConfigProblem("zbox needs both `low` and `high`, or neither (then they come from the preprocessing)")
      }
    },
    RuleDefinition("wsquare", parameters: [biasParameter], serves: [.linear], conservation: .withoutBias,
                   losesOnlyAtZeroDenominators: true, formula: "Σ_j w_ij² / Σ_i' w_i'j² · R_j",
                   reference: "Montavon et al. 2017") { _, bias in .linear(LinearRule(.wSquare, bias: bias)) },
    RuleDefinition("flat", parameters: [biasParameter], serves: [.linear], conservation: .withoutBias,
                   losesOnlyAtZeroDenominators: true,
                   formula: "`wsquare` with every w = 1: R_j spread evenly over the receptive field",
                   reference: "Lapuschkin et al. 2019") { _, bias in .linear(LinearRule(.flat, bias: bias)) },
    RuleDefinition("gamma", parameters: [("gamma", "`gamma` ≥ 0 (default 0.25)"), biasParameter], serves: [.linear],
                   conservation: .never, formula: "`epsilon` with w + γ·w⁺ in place of w; bias included by default",
                   reference: "Montavon et al. 2019") { m, bias in
      let g = try m.number("gamma") ?? 0.25
      guard g >= 0 else { throw ConfigProblem("`gamma` must be >= 0, not \(g)") }
      return .linear(LinearRule(.gamma(try DecodedEntry.float("gamma", g)), bias: bias))
    },
    RuleDefinition("gradient", parameters: [biasParameter], serves: Set(RuleTarget.allCases), conservation: .never,
                   formula: "the plain gradient: Σ_j w_ij R_j on Conv/Dense; the max-pool switch, the average-pool spread, each activation's f′(x), the LRN and affine gradients; Add: R to both inputs; Mul of two activations: the product rule, summed over broadcast axes",
                   reference: "Simonyan et al. 2014") { _, bias in .gradient(bias: bias) },
    RuleDefinition("winner-take-all", serves: [.maxPool], conservation: .always,
                   formula: "Σ_j [i is the arg-max of window j] · R_j (the max-pool gradient)",
                   reference: "Gu et al. 2018; Montavon et al. 2019") { _, _ in .node(.winnerTakeAll) },
    RuleDefinition("proportional", serves: [.maxPool, .avgPool, .globalAvgPool, .sum], conservation: .always,
                   losesOnlyAtZeroDenominators: true,
                   formula: "Σ_{j ∋ i} a_i / stab(Σ_{i' ∈ window j} a_i') · R_j (a window with unit weights); Add: R_a = a / stab(a + b) · R (the default on Add)",
                   reference: "Montavon et al. 2019; Zennit's `Norm`") { _, _ in .node(.proportional) },
    RuleDefinition("abs-proportional", serves: [.sum], conservation: .always, losesOnlyAtZeroDenominators: true,
                   formula: "R_a = abs(a) / (abs(a) + abs(b)) · R: conserves and never flips the sign of R (signed residual branches)",
                   reference: "—") { _, _ in .node(.absProportional) },
    RuleDefinition("equal", serves: [.sum, .product], conservation: .always,
                   formula: "each operand gets R/2 (a gate's half summed over its broadcast axes)",
                   reference: "Arras et al. 2017 (gates)") { _, _ in .node(.equal) },
    RuleDefinition("signal", serves: [.product], conservation: .always,
                   formula: "all of R to the gated signal, none to the gate (the default on a gate)",
                   reference: "Arras et al. 2017") { _, _ in .node(.signal) },
    RuleDefinition("uniform", serves: [.avgPool, .globalAvgPool], conservation: .always,
                   formula: "Σ_{j ∋ i} R_j / n_j, n_j the count the forward pass divided by (the average-pool gradient)",
                   reference: "—") { _, _ in .node(.uniform) },
    RuleDefinition("pass", serves: [.other, .sum, .layerNorm], conservation: .always,
                   formula: "relevance passes unchanged (moved by reshapes, transposes, pads, concats; through LayerNorm and activations elementwise; back through Resize by interpolation weight); the default on nodes that need no rule; on Add, the proportional split",
                   reference: "Ali et al. 2022 (GELU detached)") { _, _ in .node(.pass) },
    RuleDefinition("centering", serves: [.layerNorm], conservation: .always, losesOnlyAtZeroDenominators: true,
                   formula: "per normalized slice, σ held constant and the affine γ·x̂ + β passing R (bias bypassed): x_i / σ · (s_i − mean_j s_j), s_j = R_j / stab(x̂_j), x̂ = (x − μ)/σ (the epsilon rule through the centering; conserves up to ε, Σ R_x = Σ_j s_j x̂_j); the default on LayerNormalization",
                   reference: "Ali et al. 2022 (LN-rule)") { _, _ in .node(.centering) },
    RuleDefinition("guided-backprop", serves: [.other], onlyOps: ["Relu"], conservation: .never, linearInRelevance: false,
                   formula: "g · [x > 0] · [g > 0]", reference: "Springenberg et al. 2015") { _, _ in .node(.guidedBackprop) },
    RuleDefinition("deconvnet", serves: [.other], onlyOps: ["Relu"], conservation: .never, linearInRelevance: false,
                   formula: "max(0, g)", reference: "Zeiler & Fergus 2014") { _, _ in .node(.deconvnet) },
  ]

  static func definition(named name: String) -> RuleDefinition? { all.first { $0.name == name } }

  /// The definition of a rule as assigned to a node.
  static func definition(of rule: Rule) -> RuleDefinition { definition(named: rule.catalogName)! }

  /// The rules table of Docs/RULES.md (between its `rules-table` markers).
  static func markdownTable() -> String {
    var lines = ["| rule | parameters | serves | conserves | R_i = | reference |", "|---|---|---|---|---|---|"]
    for d in all {
      let parameters = d.parameters.map(\.text).filter { !$0.isEmpty }.joined(separator: "; ")
      let conserves: String
      switch d.conservation {
      case .always: conserves = d.losesOnlyAtZeroDenominators ? "yes (not at zero denominators)" : "yes"
      case .withoutBias: conserves = d.losesOnlyAtZeroDenominators ? "without bias (not at zero denominators)" : "without bias"
      case .never: conserves = "no"
      }
      let linear = d.linearInRelevance ? "" : " Not linear in R."
      lines.append("| `\(d.name)` | \(parameters.isEmpty ? "—" : parameters) | \(d.servesText) | \(conserves) | \(d.formula).\(linear) | \(d.reference) |")
    }
    return lines.joined(separator: "\n")
  }
}

extension Rule {
  /// The name of the rule's `RuleCatalog` entry (its YAML name).
  var catalogName: String {
    switch self {
    case .linear(let linear):
      switch linear.kind {
      case .epsilon(let e): return e == 0 ? "zero" : "epsilon"
      case .zPlus: return "zplus"
      case .zPlusFlat: return "zplus-flat"
      case .alphaBeta: return "alphabeta"
      case .zBox: return "zbox"
      case .wSquare: return "wsquare"
      case .flat: return "flat"
      case .gamma: return "gamma"
      case .gradient: return "gradient"
      }
    default: return description
    }
  }
}

extension RuleSpec {
  /// The name of the spec's `RuleCatalog` entry.
  var catalogName: String {
    switch self {
    case .linear(let rule): return Rule.linear(rule).catalogName
    case .zBoxFromPreprocessing: return "zbox"
    case .gradient: return "gradient"
    case .node(let rule): return rule.catalogName
    }
  }
}

extension Rule {
  /// Whether the rule conserves relevance exactly at every node it serves (up to zero
  /// denominators, see `losesOnlyAtZeroDenominators`): `RuleCatalog`'s word, which `clrp verify` checks.
  public var shouldConserve: Bool { RuleCatalog.definition(of: self).conserves(self) }

  /// A conserving rule with a single denominator per output unit: where it is exactly 0, the
  /// relevance arriving there has nowhere to go and is lost by the rule's definition.
  public var losesOnlyAtZeroDenominators: Bool { RuleCatalog.definition(of: self).losesOnlyAtZeroDenominators }
}
