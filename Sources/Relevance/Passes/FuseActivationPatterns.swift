/// Exporters' decompositions of activations, fused into one activation node so that LRP passes
/// relevance through them and the gradient is the activation's exact derivative:
///
///   SiLU:  Mul(x, Sigmoid(x))                                   (either operand order)
///   GELU:  Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)            (torch before opset 20)
///          Mul(Mul(x, 0.5), Add(Erf(Div(x, √2)), 1))            (the other Mul order)
///          Mul(x, Mul(0.5, Add(Erf(Div(x, √2)), 1)))            (torch's dynamo exporter)
///   GELU (tanh): the same three forms with Add(Erf(Div(x, √2)), 1) replaced by
///          Add(Tanh(Mul(√(2/π), Add(x, Mul(0.044715, x³)))), 1)   (torch's approximate='tanh'
///          before opset 20), x³ written Pow(x, 3) (dynamo) or Mul(x, Mul(x, x)) (legacy).
///   HardSigmoid(1/6, 1/2):  Mul(Clip(Add(x, 3), 0, 6), 1/6)      (Keras' hard_sigmoid, `relu6(x + 3) / 6`,
///                                                          as tf2onnx writes it; MobileNetV3's gates)
///   HardSwish:  Mul(x, HardSigmoid(1/6, 1/2)(x))                (Keras' hard_swish, `x · hard_sigmoid(x)`)
///
/// Operand orders of Mul and Add are free; Div(x, √2) may be Mul(x, 1/√2). Nodes of the
/// pattern that nothing else reads are removed.
public struct FuseActivationPatterns: GraphPass {
  public init() {}
  public var name: String { "fuse-activation-patterns" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    let producers = graph.producers()
    func producer(_ value: ValueName) -> Node? { producers[value].map { graph.nodes[$0] } }
    for i in graph.nodes.indices {
      let node = graph.nodes[i]
      guard node.op == .elementwise(.mul), node.inputs.count == 2 else { continue }
      if let x = siluInput(node, graph: graph, producer: producer) {
        graph.nodes[i].op = .silu
        graph.nodes[i].inputs = [x]
        changed = true
      } else if let x = kerasHardSigmoidInput(node, graph: graph, producer: producer) {
        graph.nodes[i].op = .activation(Activation(HardSigmoid(alpha: 1 / 6, beta: 0.5)))
        graph.nodes[i].inputs = [x]
        changed = true
      } else if let x = hardSwishInput(node, producer: producer) {
        graph.nodes[i].op = .activation(Activation(HardSwish()))
        graph.nodes[i].inputs = [x]
        changed = true
      } else if let (x, tanh) = geluInput(node, graph: graph, producer: producer) {
        graph.nodes[i].op = .activation(Activation(GELU(tanhApproximation: tanh)))
        graph.nodes[i].inputs = [x]
        changed = true
      }
    }
    if changed { removeDeadNodes(&graph) }
    return changed
  }

  /// x when `node` is Mul(x, Sigmoid(x)).
  func siluInput(_ node: Node, graph: Graph, producer: (ValueName) -> Node?) -> ValueName? {
    for (a, b) in [(0, 1), (1, 0)] {
      if let s = producer(node.inputs[b]), s.op == .sigmoid, s.inputs[0] == node.inputs[a] { return node.inputs[a] }
    }
    return nil
  }

  /// x when `node` is Mul(Clip(Add(x, 3), 0, 6), 1/6), operands of Mul and Add in either order.
  func kerasHardSigmoidInput(_ node: Node, graph: Graph, producer: (ValueName) -> Node?) -> ValueName? {
    func isScalar(_ value: ValueName, _ expected: Float) -> Bool {
      guard let c = graph.constants[value], c.count == 1 else { return false }
      return abs(c.floats[0] - expected) <= 1e-6 * max(1, abs(expected))
    }
    for (a, b) in [(0, 1), (1, 0)] where isScalar(node.inputs[b], 1 / 6) {
      guard let clip = producer(node.inputs[a]), clip.op == .clip(min: 0, max: 6),
            let add = producer(clip.inputs[0]), add.op == .elementwise(.add), add.inputs.count == 2 else { continue }
      for (c, d) in [(0, 1), (1, 0)] where isScalar(add.inputs[d], 3) && !graph.isConstant(add.inputs[c]) {
        return add.inputs[c]
      }
    }
    return nil
  }

  /// x when `node` is Mul(x, HardSigmoid(1/6, 1/2)(x)), in either operand order.
  func hardSwishInput(_ node: Node, producer: (ValueName) -> Node?) -> ValueName? {
    let gate = Op.activation(Activation(HardSigmoid(alpha: 1 / 6, beta: 0.5)))
    for (a, b) in [(0, 1), (1, 0)] {
      if let s = producer(node.inputs[b]), s.op == gate, s.inputs[0] == node.inputs[a] { return node.inputs[a] }
    }
    return nil
  }

  /// x, and whether it is the tanh form, when `node` is one of the GELU decompositions above.
  func geluInput(_ node: Node, graph: Graph, producer: (ValueName) -> Node?) -> (ValueName, tanh: Bool)? {
    func isScalar(_ value: ValueName, _ expected: Float, tolerance: Float = 1e-6) -> Bool {
      guard let c = graph.constants[value], c.count == 1 else { return false }
      return abs(c.floats[0] - expected) <= tolerance * max(1, abs(expected))
    }
    /// The other operand of a binary `node` whose operand `operand` satisfies `test`.
    func other(_ node: Node, _ test: (ValueName) -> Bool) -> ValueName? {
      guard node.inputs.count == 2 else { return nil }
      if test(node.inputs[0]) { return node.inputs[1] }
      if test(node.inputs[1]) { return node.inputs[0] }
      return nil
    }
    func isActivation(_ node: Node, _ name: String) -> Bool {
      if case .activation(let a) = node.op { return a.name == name } else { return false }
    }
    /// x when `value` is x / √2 or x · (1/√2).
    func erfArgument(_ value: ValueName) -> ValueName? {
      guard let scaled = producer(value), scaled.inputs.count == 2 else { return nil }
      if scaled.op == .elementwise(.div), isScalar(scaled.inputs[1], Float(2).squareRoot(), tolerance: 1e-4) {
        return scaled.inputs[0]
      }
      if scaled.op == .elementwise(.mul) { return other(scaled) { isScalar($0, 1 / Float(2).squareRoot(), tolerance: 1e-4) } }
      return nil
    }
    /// x when `value` is x³: Pow(x, 3), or Mul(x, Mul(x, x)) in either order.
    func cubed(_ value: ValueName) -> ValueName? {
      guard let node = producer(value) else { return nil }
      if case .activation(let a) = node.op, a.name == Pow.opName, a.parameters == [3] { return node.inputs[0] }
      guard node.op == .elementwise(.mul), node.inputs.count == 2 else { return nil }
      for (a, b) in [(0, 1), (1, 0)] {
        if let square = producer(node.inputs[b]), square.op == .elementwise(.mul),
           square.inputs == [node.inputs[a], node.inputs[a]] { return node.inputs[a] }
      }
      return nil
    }
    /// x when `value` is √(2/π) · (x + 0.044715 · x³).
    func tanhArgument(_ value: ValueName) -> ValueName? {
      guard let scaled = producer(value), scaled.op == .elementwise(.mul),
            let sum = other(scaled, { isScalar($0, Float((2 / Double.pi).squareRoot()), tolerance: 1e-4) }).flatMap(producer),
            sum.op == .elementwise(.add), sum.inputs.count == 2 else { return nil }
      for (a, b) in [(0, 1), (1, 0)] {
        if let cubic = producer(sum.inputs[b]), cubic.op == .elementwise(.mul),
           let cube = other(cubic, { isScalar($0, 0.044715, tolerance: 1e-4) }), cubed(cube) == sum.inputs[a] {
          return sum.inputs[a]
        }
      }
      return nil
    }
    /// x and the form when `value` is Add(Erf(x / √2), 1) or Add(Tanh(tanhArgument(x)), 1).
    func onePlusPart(_ value: ValueName) -> (ValueName, tanh: Bool)? {
      guard let add = producer(value), add.op == .elementwise(.add),
            let e = other(add, { isScalar($0, 1) }), let f = producer(e) else { return nil }
      if isActivation(f, Erf.opName), let x = erfArgument(f.inputs[0]) { return (x, false) }
      if isActivation(f, Tanh.opName), let x = tanhArgument(f.inputs[0]) { return (x, true) }
      return nil
    }
    // Mul(Mul(x, onePlusPart(x)), 0.5)
    if let inner = other(node, { isScalar($0, 0.5) }).flatMap(producer), inner.op == .elementwise(.mul) {
      for (a, b) in [(0, 1), (1, 0)] {
        if let (x, tanh) = onePlusPart(inner.inputs[b]), x == inner.inputs[a] { return (x, tanh) }
      }
    }
    for (a, b) in [(0, 1), (1, 0)] {
      guard let half = producer(node.inputs[a]), half.op == .elementwise(.mul),
            let halved = other(half, { isScalar($0, 0.5) }) else { continue }
      // Mul(Mul(x, 0.5), onePlusPart(x))
      if let (x, tanh) = onePlusPart(node.inputs[b]), x == halved { return (x, tanh) }
      // Mul(x, Mul(0.5, onePlusPart(x)))
      if let (x, tanh) = onePlusPart(halved), x == node.inputs[b] { return (x, tanh) }
    }
    return nil
  }

  /// Drops nodes whose outputs nothing reads and that are not graph outputs.
  func removeDeadNodes(_ graph: inout Graph) {
    while true {
      let read = Set(graph.nodes.flatMap(\.inputs)).union(graph.outputs)
      let live = graph.nodes.filter { node in node.outputs.contains(where: read.contains) }
      if live.count == graph.nodes.count { return }
      graph.nodes = live
    }
  }
}
