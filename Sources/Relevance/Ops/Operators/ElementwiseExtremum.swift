/// ONNX `Max` and `Min` (opsets 6–13+): the elementwise maximum (minimum) of one or more inputs
/// under numpy broadcasting, y_e = max_i x_i[b_i(e)] with b_i(e) the element of input i that
/// broadcasting reads for output element e; a NaN input gives NaN (as numpy's `maximum`).
///
/// Two inputs of which one is a constant scalar c are imported as `Clip(c, ∞)` / `Clip(−∞, c)`
/// instead (ReLU6 written as `Min(Max(x, 0), 6)`), an activation the conv kernels fuse.
///
/// Relevance (rule family `other`): `pass` is winner-take-all, as max-pooling's switch: all of
/// R_e goes to the inputs attaining y_e, split equally among ties,
///   R_i[j] = Σ_{e : b_i(e) = j, x_i[j] = y_e} R_e / #{i' : x_i'[b_i'(e)] = y_e},
/// summed over the axes input i was broadcast along; it conserves, except the shares of
/// constant inputs (a constant that wins absorbs its share, as a bias does). `gradient` is the
/// same map: ∂y_e/∂x_i is 1 at the winner and 0 elsewhere, ties split equally (torch).
/// Output ≥ 0 when any input is (Max) or every input is (Min).
struct ElementwiseExtremum: OperatorDefinition {
  enum Kind: String, Sendable { case max = "Max", min = "Min" }
  var kind: Kind

  static let opNames = ["Max", "Min"]
  static let onnxNames = ["Max", "Min"]
  var opName: String { kind.rawValue }
  var description: String { kind.rawValue }

  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode {
    guard let kind = Kind(rawValue: node.opType) else { throw node.fail("is not Max or Min") }
    guard !node.inputs.isEmpty, !node.inputs.contains(where: \.isEmpty) else {
      throw node.fail("needs one or more inputs, none of them empty")
    }
    let constantIndex = node.inputs.indices.filter { node.constantInput($0) != nil }
    // Against a scalar of rank 0 or 1 it is a Clip of the other input; a constant of higher rank
    // could raise the output's rank under broadcasting (a [1, 1, 1, 1] bound on a [N, C] input),
    // so it stays the general op.
    if node.inputs.count == 2, constantIndex.count == 1, let c = node.constantInput(constantIndex[0]), c.count == 1,
       c.shape.count <= 1 {
      let bound = c.floats[0]
      guard !bound.isNaN else { throw node.fail("the bound is NaN") }
      let clip = kind == .max ? Clip(low: bound, high: .infinity) : Clip(low: -.infinity, high: bound)
      return ImportedNode(op: .activation(Activation(clip)), inputs: [node.inputs[1 - constantIndex[0]]])
    }
    return ImportedNode(op: .registered(ElementwiseExtremum(kind: kind)), inputs: node.inputs)
  }

  func outputShape(_ node: NodeShapes) throws -> [Int] {
    let shapes = try node.node.inputs.indices.map { try node.shape($0) }
    guard var out = shapes.first else { throw node.fail("has no inputs") }
    for s in shapes.dropFirst() {
      guard let b = Kernels.broadcastShape(out, s) else { throw node.fail("input shapes \(shapes) do not broadcast") }
      out = b
    }
    return out
  }

  func fold(_ node: inout NodeShapes) throws -> Constant? {
    let outShape = try outputShape(node)
    try node.reserveFold(outShape, bytesPerElement: 24)
    let operands = node.node.inputs.map { node.graph.constants[$0]! }
    let indices = operands.map { broadcastIndices(from: $0.shape, to: outShape) }
    if operands.allSatisfy({ !$0.isFloat }) {
      let values = operands.map(\.ints)
      return Constant(shape: outShape, ints: (0..<outShape.elementCount).map { e in
        let candidates = values.indices.map { values[$0][indices[$0][e]] }
        return kind == .max ? candidates.max()! : candidates.min()!
      })
    }
    return Constant(shape: outShape, floats: extremum(operands.map(\.floats), indices, count: outShape.elementCount))
  }

  /// y_e over `values[i][indices[i][e]]`, NaN propagating.
  func extremum(_ values: [[Float]], _ indices: [[Int]], count: Int) -> [Float] {
    var out = indices[0].map { values[0][$0] }
    for i in values.indices.dropFirst() {
      let v = values[i], idx = indices[i]
      for e in 0..<count {
        let candidate = v[idx[e]]
        if candidate.isNaN || (kind == .max ? candidate > out[e] : candidate < out[e]) { out[e] = candidate }
      }
    }
    return out
  }

  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    let outShape = graph.shapes[node.output]!
    let shapes = node.inputs.map { graph.shape(of: $0)! }
    let indices = shapes.map { broadcastIndices(from: $0, to: outShape) }
    return { operands in
      Tensor(shape: outShape, data: self.extremum(operands.map(\.data), indices, count: outShape.elementCount))
    }
  }

  func outputIsNonNegative(inputs: [Bool]) -> Bool {
    kind == .max ? inputs.contains(true) : inputs.allSatisfy { $0 }
  }

  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward? {
    guard rule == .pass || rule == .gradient else { return nil }
    let outShape = graph.shapes[node.output]!
    let live = node.inputs.filter { !graph.isConstant($0) }
    for name in live where graph.shapes[name]?.count != outShape.count {
      throw graph.error(node, "relevance through \(opName) of an activation of shape \(graph.shapes[name] ?? []) broadcast to rank \(outShape.count) is not supported")
    }
    let inputs = node.inputs
    let shapes = inputs.map { graph.shape(of: $0)! }
    let indices = shapes.map { broadcastIndices(from: $0, to: outShape) }
    let constants = inputs.map { graph.constants[$0]?.floats }
    let count = outShape.elementCount
    return .registered(OperatorBackward(reads: live) { r, values, k in
      let operands = inputs.indices.map { constants[$0] ?? values[inputs[$0]]!.data }
      let y = self.extremum(operands, indices, count: count)
      var ties = [Float](repeating: 0, count: count)
      for i in inputs.indices { for e in 0..<count where operands[i][indices[i][e]] == y[e] { ties[e] += 1 } }
      return inputs.indices.filter { constants[$0] == nil }.map { i in
        let size = shapes[i].elementCount
        var g = [Float](repeating: 0, count: k * size)
        for e in 0..<count where operands[i][indices[i][e]] == y[e] {
          for s in 0..<k { g[s * size + indices[i][e]] += r.data[s * count + e] / ties[e] }
        }
        return (inputs[i], Tensor(shape: [k] + shapes[i].dropFirst(), data: g))
      }
    })
  }
}
