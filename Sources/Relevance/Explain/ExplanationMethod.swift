import Foundation

/// The explanation methods of Gu, Yang, Tresp (2018) and its baselines. Each starts relevance
/// (or a gradient) at the explained score and runs the compiled backward plan of its rules.
///
/// Notation: z the logits, t the target, C the number of classes, R(s) the input relevance
/// of the start signal s, e_t the one-hot of t.
public enum ExplanationMethod: String, CaseIterable, Sendable, CustomStringConvertible {
  /// LRP (Bach et al. 2015): R(e_t · z_t), signed.
  case lrp
  /// CLRP1: max(0, R(e_t · z_t) − R(s*)) with the dual s*_j = z_t / (C − 1) on every other
  /// class (the paper's text: the target's score shared out equally over the other classes).
  case clrp1
  /// CLRP2: max(0, R − R*), R* from the same start z_t through the last linear layer with the
  /// target's incoming weights (and bias) negated; every layer below is unchanged.
  case clrp2
  /// SGLRP (Iwana et al. 2019): R(s) with s_j = ∂ softmax(z)_t / ∂ z_j = y_t (δ_tj − y_j), signed.
  case sglrp
  /// The gradient ∂z_t/∂x (Simonyan et al. 2014).
  case gradient
  /// The input times the gradient, x ⊙ ∂z_t/∂x (Shrikumar et al. 2016).
  case gradientInput = "gradient-input"
  /// Guided backpropagation (Springenberg et al. 2015).
  case guidedBackprop = "guided-backprop"
  /// The deconvnet (Zeiler & Fergus 2014).
  case deconvnet

  public var description: String { rawValue }

  /// The rule preset the method uses unless the caller gives rules.
  public var defaultRules: String {
    switch self {
    case .lrp, .clrp1, .clrp2, .sglrp: return "paper"
    case .gradient, .gradientInput: return "gradient"
    case .guidedBackprop: return "guided-backprop"
    case .deconvnet: return "deconvnet"
    }
  }

  /// LRP-family methods start from the score itself (relevance); the gradient family from 1.
  public var startsFromScore: Bool {
    switch self {
    case .lrp, .clrp1, .clrp2, .sglrp: return true
    default: return false
    }
  }

  /// Contrastive maps are clipped at 0: max(0, R − R*).
  public var isContrastive: Bool { self == .clrp1 || self == .clrp2 }

  /// The rule ReLUs must have for the method to be what it says (gradient family), nil when
  /// any rule will do.
  var requiredReLURule: Rule? {
    switch self {
    case .gradient, .gradientInput: return .gradient
    case .guidedBackprop: return .guidedBackprop
    case .deconvnet: return .deconvnet
    default: return nil
    }
  }

  /// Parses a comma-separated list such as `lrp,clrp1,clrp2`.
  public static func parseList(_ text: String) throws -> [ExplanationMethod] {
    let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    guard !names.isEmpty else { throw ModelError("no method given (methods: \(allNames))") }
    return try names.map { name in
      guard let method = ExplanationMethod(rawValue: name) else {
        throw ModelError("unknown method '\(name)' (methods: \(allNames))")
      }
      return method
    }
  }

  static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The paper-code variants of the contrastive maps; the defaults follow the paper's text.
public struct ContrastOptions: Equatable, Sendable {
  /// CLRP1's dual start signal.
  public enum Dual: String, CaseIterable, Sendable {
    /// z_t / (C − 1) on every other class (the paper's text).
    case uniform
    /// |z_j| on every other class j (the published code).
    case absLogits = "abs-logits"
  }
  /// How the target and dual maps are scaled before subtracting.
  public enum Normalize: String, CaseIterable, Sendable {
    /// Not at all: max(0, R − R*) (the paper's text).
    case none
    /// Each map divided by its own sum: max(0, R / ΣR − R* / ΣR*) (the published code).
    case sum
  }

  public var dual: Dual
  public var normalize: Normalize

  public init(dual: Dual = .uniform, normalize: Normalize = .none) {
    self.dual = dual
    self.normalize = normalize
  }
}
