/// Exporters' decompositions of activations, fused into one activation node so that LRP passes
/// relevance through them and the gradient is the activation's exact derivative:
///
///   SiLU:  Mul(x, Sigmoid(x))                                   (either operand order)
///   GELU:  Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)            (torch before opset 20)
///          Mul(Mul(x, 0.5), Add(Erf(Div(x, √2)), 1))            (the other Mul order)
///          Mul(x, Mul(0.5, Add(Erf(Div(x, √2)), 1)))            (torch's dynamo exporter)
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
      } else if let x = geluInput(node, graph: graph, producer: producer) {
        graph.nodes[i].op = .activation(Activation(GELU(tanhApproximation: false)))
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

  /// x when `node` is one of the GELU decompositions above.
  func geluInput(_ node: Node, graph: Graph, producer: (ValueName) -> Node?) -> ValueName? {
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
    /// x when `value` is Add(Erf(x / √2), 1).
    func erfPart(_ value: ValueName) -> ValueName? {
      guard let add = producer(value), add.op == .elementwise(.add),
            let e = other(add, { isScalar($0, 1) }), let erf = producer(e),
            case .activation(let a) = erf.op, a.name == Erf.opName,
            let scaled = producer(erf.inputs[0]), scaled.inputs.count == 2 else { return nil }
      if scaled.op == .elementwise(.div), isScalar(scaled.inputs[1], Float(2).squareRoot(), tolerance: 1e-4) {
        return scaled.inputs[0]
      }
      if scaled.op == .elementwise(.mul) { return other(scaled) { isScalar($0, 1 / Float(2).squareRoot(), tolerance: 1e-4) } }
      return nil
    }
    // Mul(Mul(x, erfPart(x)), 0.5)
    if let inner = other(node, { isScalar($0, 0.5) }).flatMap(producer), inner.op == .elementwise(.mul) {
      for (a, b) in [(0, 1), (1, 0)] where erfPart(inner.inputs[b]) == inner.inputs[a] { return inner.inputs[a] }
    }
    for (a, b) in [(0, 1), (1, 0)] {
      guard let half = producer(node.inputs[a]), half.op == .elementwise(.mul),
            let halved = other(half, { isScalar($0, 0.5) }) else { continue }
      // Mul(Mul(x, 0.5), erfPart(x))
      if erfPart(node.inputs[b]) == halved { return halved }
      // Mul(x, Mul(0.5, erfPart(x)))
      if erfPart(halved) == node.inputs[b] { return node.inputs[b] }
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
