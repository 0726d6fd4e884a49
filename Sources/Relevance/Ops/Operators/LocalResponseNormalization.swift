/// ONNX LRN across channels: y_c = x_c / (bias + alpha/size · Σ_{c' ∈ N(c)} x_c'²)^beta,
/// N(c) = [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉] (AlexNet, GoogLeNet). Attributes `size`
/// (required), `alpha` 1e-4, `beta` 0.75, `bias` 1. Output ≥ 0 where the input is.
/// Relevance: `pass` (unchanged, as Zennit and the LRP toolbox treat it) or `gradient`
/// (`lrnGradient`). torch's `nn.LocalResponseNorm` (odd sizes) arrives here too, recognised in
/// its exported decomposition by `Import/DecomposedLocalResponseNorm.swift`.
struct LocalResponseNormalization: OperatorDefinition {
  var parameters: LRNParameters

  static let opNames = ["LRN"]
  static let onnxNames = ["LRN"]
  var opName: String { "LRN" }
  var description: String { "LRN(size \(parameters.size), alpha \(parameters.alpha), beta \(parameters.beta), bias \(parameters.bias))" }

  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode {
    let size = try node.attributes.int("size", 0)
    guard size > 0, size <= 1 << 20 else { throw node.fail("attribute 'size' must be a positive integer (below 2^20), it is \(size)") }
    let p = LRNParameters(size: size, alpha: try node.attributes.float("alpha", 1e-4),
                          beta: try node.attributes.float("beta", 0.75), bias: try node.attributes.float("bias", 1))
    // torch's decomposition (Import/DecomposedLocalResponseNorm.swift) carries the values that
    // Passes/CheckDecomposedLRN.swift checks and then drops: [x, target5D, pads, target4D?].
    let expectedInputs = node.attributes.has(DecomposedLocalResponseNorm.markerAttribute) ? 3...4 : 1...1
    guard expectedInputs.contains(node.inputs.count), !node.inputs[0].isEmpty else {
      throw node.fail("expects one input, has \(node.inputs.count)")
    }
    return ImportedNode(op: .registered(LocalResponseNormalization(parameters: p)), inputs: node.inputs)
  }

  func outputShape(_ node: NodeShapes) throws -> [Int] {
    let x = try node.shape(0)
    guard x.count >= 3 else { throw node.fail("expects an input of rank >= 3, got \(x)") }
    return x
  }

  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    let p = parameters
    return { Kernels.lrn($0[0], size: p.size, alpha: p.alpha, beta: p.beta, bias: p.bias) }
  }

  func outputIsNonNegative(inputs: [Bool]) -> Bool { inputs.allSatisfy { $0 } }

  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward? {
    switch rule {
    case .pass: return .pass
    case .gradient: return .lrnGradient(parameters)
    default: return nil
    }
  }
}

extension Op {
  /// LRN as an op, for code that builds graphs.
  public static func lrn(_ parameters: LRNParameters) -> Op { .registered(LocalResponseNormalization(parameters: parameters)) }
}
