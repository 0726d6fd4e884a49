/// ONNX `PRelu` with one slope per channel (axis 1): y = x for x > 0, else slope[c]·x, with
/// f′ = 1 for x > 0, else slope[c] (torch's one-sided choice at 0). A PRelu whose slope is one
/// number is imported as `LeakyRelu` instead; this op holds distinct per-channel slopes, which
/// an `ActivationFunction` (scalar parameters, no channel index) cannot. Output signed.
/// Relevance: `pass` (unchanged) or `gradient` (times f′ at the input). Inputs `[x, slopes]`,
/// slopes a constant of shape [C] (or [C, 1, 1], ...).
struct PReluChannels: OperatorDefinition {
  static let opNames = ["PRelu"]
  static let onnxNames = ["PRelu"]
  var opName: String { "PRelu" }
  var description: String { "PRelu" }

  /// y = x for x > 0, slope · x otherwise: a LeakyRelu when the constant slope is one number
  /// (a scalar, or a per-channel slope whose channels agree), else this op with one slope per
  /// channel (activations carry scalar parameters and see no channel).
  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode {
    guard node.inputs.count == 2 else { throw node.fail("expects inputs (X, slope), has \(node.inputs.count)") }
    guard let slope = node.constantInput(1) else {
      throw node.fail("the slope '\(node.inputs[1])' is not a constant; clrp needs a constant slope")
    }
    let slopes = slope.floats
    guard !slopes.isEmpty, !slopes.contains(where: \.isNaN) else { throw node.fail("the slope is empty or NaN") }
    if slopes.allSatisfy({ $0 == slopes[0] }) {
      return ImportedNode(op: .leakyRelu(alpha: slopes[0]), inputs: [node.inputs[0]])
    }
    return ImportedNode(op: .registered(PReluChannels()), inputs: node.inputs)  // shape inference checks one slope per channel
  }

  func outputShape(_ node: NodeShapes) throws -> [Int] {
    let x = try node.shape(0)
    if let problem = PReluChannels.shapeProblem(slope: try node.shape(1), x: x) { throw node.fail(problem) }
    return x
  }

  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    guard let slopes = graph.constant(node, 1)?.floats else { throw graph.error(node, "the slope must be a constant") }
    return { PReluChannels.forward($0[0], slopes: slopes) }
  }

  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward? {
    switch rule {
    case .pass: return .pass
    case .gradient: return .preluGradient(slopes: graph.constant(node, 1)!.floats)
    default: return nil
    }
  }

  /// Why a slope of shape `slope` cannot be one per channel of an input of shape `x` under
  /// ONNX's (numpy, right-aligned) broadcasting, or nil: every axis but 1 must be 1.
  static func shapeProblem(slope: [Int], x: [Int]) -> String? {
    guard x.count >= 2, slope.count <= x.count else { return "the slope's rank \(slope.count) exceeds the input's \(x.count)" }
    let aligned = [Int](repeating: 1, count: x.count - slope.count) + slope
    for (axis, size) in aligned.enumerated() where size != (axis == 1 ? x[1] : 1) {
      return "slope of shape \(slope) against input \(x) is not one slope per channel (axis 1); clrp supports a PRelu with one slope, or one per channel ([C, 1, 1] for NCHW)"
    }
    return nil
  }

  /// f over x ([N, C, …]) with `slopes.count == C`.
  static func forward(_ x: Tensor, slopes: [Float]) -> Tensor {
    perChannel(x, slopes) { v, s in v > 0 ? v : s * v }
  }

  /// f′ at every element of x.
  static func derivative(_ x: Tensor, slopes: [Float]) -> Tensor {
    perChannel(x, slopes) { v, s in v > 0 ? 1 : s }
  }

  private static func perChannel(_ x: Tensor, _ slopes: [Float], _ f: (Float, Float) -> Float) -> Tensor {
    let channels = slopes.count
    let plane = x.shape.count > 2 ? x.shape[2...].reduce(1, *) : 1
    var out = x.data
    for i in out.indices { out[i] = f(out[i], slopes[(i / plane) % channels]) }
    return Tensor(shape: x.shape, data: out)
  }
}

extension Op {
  /// PRelu with one slope per channel (input 1), for code that builds graphs.
  public static var prelu: Op { .registered(PReluChannels()) }
}
