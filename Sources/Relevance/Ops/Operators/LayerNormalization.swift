/// ONNX LayerNormalization (opset 17): over the axes from `axis` (default −1) to the last,
/// y = (x − mean) / √(var + epsilon) · scale + bias, epsilon default 1e-5; `[x, scale, bias?]`,
/// scale and bias constants of the normalized shape (or one number). The training-only outputs
/// Mean and InvStdDev are refused. `axis` is normalized to a non-negative axis by shape inference.
///
/// Its own rule family (`layerNorm`): `centering` (Ali et al. 2022's LN-rule, the default,
/// `layerNormCentering`), `pass` (unchanged) and `gradient` (`layerNormGradient`).
struct LayerNormalization: OperatorDefinition {
  var axis: Int
  var epsilon: Float

  static let opNames = ["LayerNormalization"]
  static let onnxNames = ["LayerNormalization"]
  static var ruleTarget: RuleTarget { .layerNorm }
  var opName: String { "LayerNormalization" }
  var description: String { "LayerNormalization(axis \(axis), epsilon \(epsilon))" }

  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode {
    guard node.inputs.count >= 2 else { throw node.fail("expects inputs (X, Scale, B?), has \(node.inputs.count)") }
    guard node.outputs.dropFirst().allSatisfy(\.isEmpty) else {
      throw node.fail("the Mean and InvStdDev outputs are not supported (training only)")
    }
    let op = LayerNormalization(axis: try node.attributes.int("axis", -1), epsilon: try node.attributes.float("epsilon", 1e-5))
    return ImportedNode(op: .registered(op), inputs: node.inputs)
  }

  func resolved(_ node: NodeShapes) throws -> LayerNormalization {
    LayerNormalization(axis: try node.axis(axis, rank: try node.shape(0).count), epsilon: epsilon)
  }

  func outputShape(_ node: NodeShapes) throws -> [Int] {
    let x = try node.shape(0)
    let first = try node.axis(axis, rank: x.count)
    let inner = x[first...].reduce(1, *)
    for i in 1..<node.node.inputs.count where !node.node.inputs[i].isEmpty {
      guard let c = node.constant(i) else { throw node.fail("scale and bias must be constants") }
      guard c.count == inner || c.count == 1 else {
        throw node.fail("parameter '\(node.node.inputs[i])' of shape \(c.shape) does not match the normalized shape \(Array(x[first...]))")
      }
    }
    return x
  }

  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    let scale = graph.constant(node, 1)!.floats, bias = graph.constant(node, 2)?.floats
    let (axis, epsilon) = (axis, epsilon)
    return { Kernels.layerNorm($0[0], axis: axis, epsilon: epsilon, scale: scale, bias: bias) }
  }

  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward? {
    switch rule {
    case .pass: return .pass
    case .centering: return .layerNormCentering(axis: axis, epsilon: epsilon)
    case .gradient: return .layerNormGradient(axis: axis, epsilon: epsilon, scale: graph.constant(node, 1)!.floats)
    default: return nil
    }
  }
}

extension Op {
  /// LayerNormalization as an op, for code that builds graphs.
  public static func layerNorm(axis: Int, epsilon: Float) -> Op { .registered(LayerNormalization(axis: axis, epsilon: epsilon)) }
}
