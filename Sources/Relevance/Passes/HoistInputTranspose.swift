/// Moves a layout Transpose above the constant elementwise ops between it and the graph input,
/// so that input normalization runs in the layout the first layer reads:
///
///   Transpose(p)(x ∘ c)  =  Transpose(p)(x) ∘ Transpose(p)(c)     (∘ one of + − × ÷, c constant)
///
/// with c first given x's rank by leading 1s (ONNX broadcasting). Keras models take NHWC images
/// and normalize them there (`Rescaling`, `Normalization`: Mul/Add/Sub/Div by [3] or [1, 1, 1, 3]
/// constants), and tf2onnx then writes one Transpose to NCHW in front of the first conv. After
/// the hoist the normalization is per channel on axis 1, where z^B finds it to map the
/// preprocessing's bounds (`RuleAssignment.inputMap`), and the first conv reads it as it would
/// in a torch export.
///
/// Only on the input-normalization prefix: each elementwise op must read the graph input (or
/// the previous op of the chain) and a constant, and have the next op as its only reader;
/// nothing else reads the values in between. The same function is computed.
public struct HoistInputTranspose: GraphPass {
  public init() {}
  public var name: String { "hoist-input-transpose" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    while hoistOnce(&graph) { changed = true }
    return changed
  }

  /// Swaps one Transpose with the constant elementwise op it reads; false when there is none.
  func hoistOnce(_ graph: inout Graph) -> Bool {
    let producers = graph.producers()
    let consumers = graph.consumers()
    for (t, transpose) in graph.nodes.enumerated() {
      guard case .transpose(let perm) = transpose.op, let e = producers[transpose.inputs[0]] else { continue }
      let op = graph.nodes[e]
      guard case .elementwise = op.op, op.inputs.count == 2, consumers[op.output]?.count == 1,
            !graph.outputs.contains(op.output) else { continue }
      let constantIndex = graph.isConstant(op.inputs[1]) ? 1 : (graph.isConstant(op.inputs[0]) ? 0 : -1)
      guard constantIndex >= 0 else { continue }
      let x = op.inputs[1 - constantIndex]
      guard !graph.isConstant(x), x == graph.input || isNormalizationStep(x, graph, producers),
            let shape = graph.shapes[x], shape.count == perm.count,
            let c = graph.constants[op.inputs[constantIndex]], c.isFloat, c.shape.count <= perm.count else { continue }
      let padded = [Int](repeating: 1, count: perm.count - c.shape.count) + c.shape
      let moved = Kernels.transpose(Tensor(shape: padded, data: c.floats), perm: perm)
      let constant = graph.addConstant("\(op.name).\(name)", Constant(moved))
      let transposedInput = graph.unusedName(x + "::transposed")
      // The transpose now reads x; the elementwise op reads its output and stands for the old
      // transpose output.
      var newTranspose = transpose
      newTranspose.inputs = [x]
      newTranspose.outputs = [transposedInput]
      var newOp = op
      newOp.inputs[1 - constantIndex] = transposedInput
      newOp.inputs[constantIndex] = constant
      newOp.outputs = transpose.outputs
      graph.shapes[op.output] = nil
      graph.shapes[transpose.output] = nil
      let first = min(e, t)
      graph.nodes.remove(at: max(e, t))
      graph.nodes.remove(at: first)
      graph.nodes.insert(contentsOf: [newTranspose, newOp], at: first)
      return true
    }
    return false
  }

  /// Whether `value` is computed from the graph input by constant elementwise ops only.
  func isNormalizationStep(_ value: ValueName, _ graph: Graph, _ producers: [ValueName: Int]) -> Bool {
    var value = value
    while value != graph.input {
      guard let p = producers[value] else { return false }
      let node = graph.nodes[p]
      guard case .elementwise = node.op, node.inputs.count == 2,
            let live = node.inputs.first(where: { !graph.isConstant($0) }),
            node.inputs.contains(where: { graph.isConstant($0) }) else { return false }
      value = live
    }
    return true
  }
}
