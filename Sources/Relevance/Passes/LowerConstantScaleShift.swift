/// Mul/Add/Sub/Div of an activation by a per-channel constant (how Keras BatchNormalization
/// and separate bias additions are exported) as an affine node.
///
/// Constants that vary along other axes than the channel axis stay elementwise, and so do the
/// operations on the input-normalization prefix (the chain of constant elementwise ops and
/// transposes from the graph input), which is kept explicit for relevance bounds.
public struct LowerConstantScaleShift: GraphPass {
  public init() {}
  public var name: String { "lower-constant-scale-shift" }

  public func run(on graph: inout Graph) throws -> Bool {
    let prefix = inputNormalizationPrefix(graph)
    var changed = false
    for i in graph.nodes.indices {
      guard case .elementwise(let binary) = graph.nodes[i].op else { continue }
      let node = graph.nodes[i]
      let constantIndex = graph.isConstant(node.inputs[1]) ? 1 : (graph.isConstant(node.inputs[0]) ? 0 : -1)
      guard constantIndex >= 0, !graph.isConstant(node.inputs[1 - constantIndex]) else { continue }
      // x - c and x / c only: c - x and c / x are not affine in that form.
      guard constantIndex == 1 || binary == .add || binary == .mul else { continue }
      let x = node.inputs[1 - constantIndex]
      guard !prefix.contains(x), let shape = graph.shapes[x], shape.count >= 2,
            let c = graph.constants[node.inputs[constantIndex]],
            let perChannel = perChannelValues(c, activationShape: shape) else { continue }
      let channels = shape[1]
      var scale = [Float](repeating: 1, count: channels), shift = [Float](repeating: 0, count: channels)
      switch binary {
      case .mul: scale = perChannel
      case .div: scale = perChannel.map { 1 / $0 }
      case .add: shift = perChannel
      case .sub: shift = perChannel.map { -$0 }
      }
      graph.nodes[i].op = .affine
      graph.nodes[i].inputs = [x, graph.addConstant("\(node.name).scale", Constant(shape: [channels], floats: scale)),
                               graph.addConstant("\(node.name).shift", Constant(shape: [channels], floats: shift))]
      changed = true
    }
    return changed
  }

  /// The constant's value per channel (axis 1) when it broadcasts to the activation and
  /// varies along no other axis; nil otherwise.
  func perChannelValues(_ c: Constant, activationShape shape: [Int]) -> [Float]? {
    guard c.shape.count <= shape.count, Kernels.broadcastShape(shape, c.shape) == shape else { return nil }
    let padded = [Int](repeating: 1, count: shape.count - c.shape.count) + c.shape
    guard padded.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
    let values = c.floats
    return padded[1] == 1 ? [Float](repeating: values[0], count: shape[1]) : values
  }
}

/// Values computed from the graph input through constant elementwise ops and transposes only.
func inputNormalizationPrefix(_ graph: Graph) -> Set<ValueName> {
  var prefix: Set<ValueName> = [graph.input]
  for node in graph.nodes {
    let live = node.inputs.filter { !graph.isConstant($0) && !$0.isEmpty }
    guard live.count == 1, prefix.contains(live[0]) else { continue }
    switch node.op {
    case .elementwise, .transpose: prefix.insert(node.output)
    default: continue
    }
  }
  return prefix
}
