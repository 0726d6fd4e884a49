/// A structural op with everything clrp knows about it in one type: the ONNX op types it is
/// imported from (attributes with their ONNX defaults, refusals naming the node and reason),
/// its output shape, folding on constants, its forward kernel, whether its output is
/// non-negative, the rule family that serves it and its backward step per rule.
///
/// Adding an op that no graph pass rewrites: one file in `Ops/Operators/` with a type
/// conforming to this protocol, one line in `OperatorRegistry.all`, and its tests. It appears
/// in the IR as `Op.registered(RegisteredOp)`; the importer, `InferShapes`, `ForwardPlan`,
/// `RelevancePlan.lower`, `Graph.nonNegativeValues`, `RuleTarget` and `RuleSet.opNames` read it
/// from here (Docs/DESIGN.md, "One place per op").
protocol OperatorDefinition: Sendable, Equatable, CustomStringConvertible {
  /// The names tables print and rule files match (`op: ReduceMax`), one per variant (Max, Min);
  /// unique among ops.
  static var opNames: [String] { get }
  /// This node's name, one of `opNames`.
  var opName: String { get }
  /// ONNX op types (default domain) imported as this op.
  static var onnxNames: [String] { get }
  /// The IR node for one ONNX node: usually `.registered(Self(...))` with the inputs it reads,
  /// but an importer may choose a simpler op (Max of a constant scalar is a Clip).
  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode
  /// The rule family serving nodes of this op (`.other`: `pass` and `gradient`).
  static var ruleTarget: RuleTarget { get }

  /// The op with attributes that depend on the input shapes resolved (a negative axis
  /// normalized); shape inference writes it into the node before `outputShape`. Default: self.
  func resolved(_ node: NodeShapes) throws -> Self
  /// The output shape from the input shapes and constants `node` sees; errors via `node.fail`.
  func outputShape(_ node: NodeShapes) throws -> [Int]
  /// The output when every input is constant (nil: not folded). Reserve memory with
  /// `node.reserveFold` before building it.
  func fold(_ node: inout NodeShapes) throws -> Constant?
  /// The kernel computing the output from the node's operands (constants included, in order).
  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor
  /// Whether the output is >= 0 given which inputs are (constants: all values >= 0).
  func outputIsNonNegative(inputs: [Bool]) -> Bool
  /// The backward step of `rule` (already checked to serve `ruleTarget`), nil when this op has
  /// none for it. Reusable steps (`.pass`, `.lrnGradient`, ...) or `.registered(OperatorBackward)`.
  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward?
}

extension OperatorDefinition {
  static var ruleTarget: RuleTarget { .other }
  func resolved(_ node: NodeShapes) throws -> Self { self }
  func fold(_ node: inout NodeShapes) throws -> Constant? { nil }
  func outputIsNonNegative(inputs: [Bool]) -> Bool { false }

  fileprivate func isEqual(to other: any OperatorDefinition) -> Bool {
    (other as? Self).map { $0 == self } ?? false
  }
}

/// What an importer makes of one ONNX node: the IR op and the inputs it keeps.
struct ImportedNode {
  var op: Op
  var inputs: [ValueName]
  /// Constants the import made (an attribute turned into an input), named by
  /// `ONNXNodeContext.unusedConstantName`.
  var constants: [ValueName: Constant] = [:]
}

/// A backward step an op defines itself: the forward values it reads (kept by the forward
/// pass) and the map from output relevance `r` ([K] + output shape) to its inputs' relevance.
struct OperatorBackward: Sendable {
  /// Forward values (node inputs or output) the step reads from `values`.
  var reads: [ValueName]
  var isLinearInRelevance = true
  /// (r, forward values, K) → relevance per input (constants may be listed; they are dropped).
  var apply: @Sendable (_ r: Tensor, _ values: [ValueName: Tensor], _ k: Int) -> [(ValueName, Tensor)]
}

/// A registered op as an `Op` payload: equal when the same op with the same attributes.
public struct RegisteredOp: Equatable, Sendable, CustomStringConvertible {
  let definition: any OperatorDefinition

  init(_ definition: any OperatorDefinition) { self.definition = definition }

  public var name: String { definition.opName }
  public var description: String { definition.description }
  var ruleTarget: RuleTarget { type(of: definition).ruleTarget }

  public static func == (a: RegisteredOp, b: RegisteredOp) -> Bool { a.definition.isEqual(to: b.definition) }
}

/// Every structural op defined by an `OperatorDefinition`, listed once.
enum OperatorRegistry {
  static let all: [any OperatorDefinition.Type] = [
    LocalResponseNormalization.self, LayerNormalization.self, PReluChannels.self, Resize2D.self, ElementwiseExtremum.self,
    ReduceExtremum.self,
  ]

  /// The op imported from ONNX op type `onnxName`, nil when none is.
  static func type(onnx onnxName: String) -> (any OperatorDefinition.Type)? {
    all.first { $0.onnxNames.contains(onnxName) }
  }

  static func type(opName: String) -> (any OperatorDefinition.Type)? {
    all.first { $0.opNames.contains(opName) }
  }

  static var opNames: [String] { all.flatMap { $0.opNames } }
  static var onnxNames: [String] { all.flatMap { $0.onnxNames } }
}

extension Op {
  /// A registered op as an `Op`.
  static func registered(_ definition: any OperatorDefinition) -> Op { .registered(RegisteredOp(definition)) }

  /// The registered op's definition, when this is one of type `T`.
  func definition<T: OperatorDefinition>(as type: T.Type) -> T? {
    if case .registered(let r) = self { return r.definition as? T }
    return nil
  }
}
