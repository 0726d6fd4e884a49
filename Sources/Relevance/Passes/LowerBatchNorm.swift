/// BatchNormalization (inference) as a per-channel affine map:
/// scale = γ / sqrt(var + ε), shift = β − mean · scale.
public struct LowerBatchNorm: GraphPass {
  public init() {}
  public var name: String { "lower-batchnorm" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    for i in graph.nodes.indices {
      guard case .batchNorm(let epsilon) = graph.nodes[i].op else { continue }
      let node = graph.nodes[i]
      guard let gamma = graph.constant(node, 1)?.floats, let beta = graph.constant(node, 2)?.floats,
            let mean = graph.constant(node, 3)?.floats, let variance = graph.constant(node, 4)?.floats else { continue }
      let scale = (0..<gamma.count).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
      let shift = (0..<gamma.count).map { beta[$0] - mean[$0] * scale[$0] }
      graph.nodes[i].op = .affine
      graph.nodes[i].inputs = [node.inputs[0],
                               graph.addConstant("\(node.name).scale", Constant(shape: [scale.count], floats: scale)),
                               graph.addConstant("\(node.name).shift", Constant(shape: [shift.count], floats: shift))]
      changed = true
    }
    return changed
  }
}
