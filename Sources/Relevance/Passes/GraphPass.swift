/// A graph rewrite that keeps the function the graph computes.
public protocol GraphPass {
  /// A short name for logs and `clrp inspect --passes`.
  var name: String { get }
  /// Rewrites `graph` in place; returns whether anything changed.
  func run(on graph: inout Graph) throws -> Bool
}

/// The canonicalization pipeline: bind the input shape, infer shapes and fold constants,
/// then rewrite exporter idioms into canonical layers until nothing changes.
public enum Canonicalizer {
  /// The rewrites run after shape inference, in order, repeated to a fixed point.
  public static let passes: [GraphPass] = [
    CheckDecomposedLRN(),
    RemoveIdentities(),
    HoistInputTranspose(),
    FuseActivationPatterns(),
    LowerGatherAsReshape(),
    StripTrailingSoftmax(),
    LowerBatchNorm(),
    FoldPadIntoWindow(),
    LowerReduceMean(),
    LowerConstantScaleShift(),
    LowerLastAxisMatMul(),
    CancelTransposes(),
    LowerDense(),
    MergeAffines(),
    FoldAffineIntoLinear(),
  ]

  /// The input shape for `batch` images from the declared input shape (a fixed batch size
  /// stays as declared); nil when a non-batch dimension is symbolic.
  public static func inputShape(of graph: Graph, batch: Int) -> [Int]? {
    var shape: [Int] = []
    for (axis, dim) in graph.declaredInputShape.enumerated() {
      switch dim {
      case .fixed(let n): shape.append(n)
      case .symbolic: if axis == 0 { shape.append(batch) } else { return nil }
      }
    }
    return shape
  }

  /// The canonical graph for inputs of shape `inputShape` (batch axis first); constant
  /// folding, every inferred value and a forward pass (all values at once) must fit `budget`.
  public static func canonicalize(_ graph: Graph, inputShape: [Int], budget: MemoryBudget = .current) throws -> Graph {
    var g = graph
    try bindInput(&g, inputShape, budget: budget)
    _ = try InferShapes(budget: budget).run(on: &g)
    var changed = true
    var rounds = 0
    while changed {
      changed = false
      for pass in passes where try pass.run(on: &g) {
        changed = true
        _ = try InferShapes(budget: budget).run(on: &g)
      }
      rounds += 1
      precondition(rounds < 100, "canonicalization does not converge")
    }
    g.removeUnusedConstants()
    try checkExecutable(g)
    // Refused here already, before callers (relevance plans, rule bounds) allocate per value.
    let needs = ForwardPlan.estimatedBytes(g)
    guard budget.allows(needs) else {
      throw ModelError(file: g.source, budget.refusal("a forward pass with input shape \(inputShape)", needs: needs)
                       + "; use a smaller batch or input")
    }
    return g
  }

  static func bindInput(_ graph: inout Graph, _ shape: [Int], budget: MemoryBudget = .current) throws {
    let declared = graph.declaredInputShape
    let declaredText = "[" + declared.map(\.description).joined(separator: ", ") + "]"
    guard shape.count == declared.count else {
      throw ModelError(file: graph.source, "input '\(graph.input)' has shape \(declaredText); got rank \(shape.count) data \(shape)")
    }
    for (dim, n) in zip(declared, shape) {
      if case .fixed(let expected) = dim, expected != n {
        throw ModelError(file: graph.source, "input '\(graph.input)' has shape \(declaredText); got \(shape)")
      }
    }
    guard shape.allSatisfy({ $0 > 0 }) else {
      throw ModelError(file: graph.source, "input '\(graph.input)' of shape \(shape) is empty: every dimension must be positive")
    }
    guard budget.allows(Estimate.bytes(shape, 4)) else {
      throw ModelError(file: graph.source, budget.refusal("the input '\(graph.input)' of shape \(shape)", needs: Estimate.bytes(shape, 4)))
    }
    graph.shapes = [graph.input: shape]
  }

  /// Every op left must be one the runtime executes.
  static func checkExecutable(_ graph: Graph) throws {
    for node in graph.nodes {
      switch node.op {
      case .batchNorm:
        throw graph.error(node, "BatchNormalization parameters must be constants")
      case .conv where node.inputs.dropFirst().contains { !$0.isEmpty && !graph.isConstant($0) }:
        throw graph.error(node, "the weight and bias must be constants")
      case .gemm, .matMul:
        throw graph.error(node, "a dense layer needs a constant weight operand (and for Gemm transA=0)")
      case .reduceMean:
        throw graph.error(node, "\(node.op.name) is supported over the spatial axes of an NCHW tensor only (as global pooling)")
      case .shape, .gather, .cast, .constantOfShape:
        throw graph.error(node, "needs constant inputs; computing it on image data is not supported")
      default:
        continue
      }
    }
  }
}
