/// ONNX `ReduceMax` and `ReduceMin` over any axes: y_g = max (min) of x over the elements j of
/// group g, the elements that agree with g on every axis not reduced. Axes: the `axes`
/// attribute (opsets before 18) or the constant `axes` input (18); none given reduces every
/// axis, or nothing with `noop_with_empty_axes` = 1; negative axes count from the end.
/// `keepdims` (default 1) keeps the reduced axes with size 1.
///
/// ReduceMax over the plane of an NCHW tensor is rewritten to a MaxPool over the whole plane
/// by `LowerReduceMean` (the pooling rules then serve it); every other reduction stays this op.
///
/// Relevance (rule family `other`): `pass` is winner-take-all, as max-pooling's switch: R_g goes
/// to the elements of group g attaining y_g, split equally among ties,
///   R_j = R_g(j) · [x_j = y_g(j)] / #{j' ∈ g(j) : x_j' = y_g(j)},
/// which conserves; `gradient` is the same map (∂y_g/∂x_j, ties split equally as torch's amax).
/// Output ≥ 0 where the input is.
struct ReduceExtremum: OperatorDefinition {
  enum Kind: String, Sendable { case max = "ReduceMax", min = "ReduceMin" }
  var kind: Kind
  /// From the attribute (opsets before 18); nil: from the input, or none.
  var axes: [Int]?
  var keepDims: Bool
  var noopWithEmptyAxes: Bool

  static let opNames = ["ReduceMax", "ReduceMin"]
  static let onnxNames = ["ReduceMax", "ReduceMin"]
  var opName: String { kind.rawValue }
  var description: String { "\(kind.rawValue)(axes \(axes.map { "\($0)" } ?? "input"), keepdims \(keepDims ? 1 : 0))" }

  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode {
    guard let kind = Kind(rawValue: node.opType) else { throw node.fail("is not ReduceMax or ReduceMin") }
    guard !node.inputs.isEmpty, !node.inputs[0].isEmpty else { throw node.fail("has no input") }
    let op = ReduceExtremum(kind: kind, axes: try node.attributes.ints("axes"),
                            keepDims: try node.attributes.int("keepdims", 1) != 0,
                            noopWithEmptyAxes: try node.attributes.int("noop_with_empty_axes", 0) != 0)
    return ImportedNode(op: .registered(op), inputs: node.inputs)
  }

  func reducedAxes(_ node: NodeShapes, rank: Int) throws -> Set<Int> {
    try node.reducedAxes(rank: rank, attributeAxes: axes, noopWithEmptyAxes: noopWithEmptyAxes)
  }

  func outputShape(_ node: NodeShapes) throws -> [Int] {
    let x = try node.shape(0)
    let reduced = try reducedAxes(node, rank: x.count)
    return keepDims ? x.indices.map { reduced.contains($0) ? 1 : x[$0] } : x.indices.filter { !reduced.contains($0) }.map { x[$0] }
  }

  func fold(_ node: inout NodeShapes) throws -> Constant? {
    guard let x = node.constant(0), x.isFloat else { return nil }
    let outShape = try outputShape(node)
    try node.reserveFold(x.shape, bytesPerElement: 16)
    let groups = ReduceExtremum.groups(x.shape, reduced: try reducedAxes(node, rank: x.shape.count))
    return Constant(shape: outShape, floats: extremum(x.floats, groups: groups, count: outShape.elementCount))
  }

  /// For each element of a tensor of `shape`, the row-major index of its group among the
  /// groups (the elements that agree on every axis not in `reduced`).
  static func groups(_ shape: [Int], reduced: Set<Int>) -> [Int] {
    let kept = shape.indices.map { reduced.contains($0) ? 1 : shape[$0] }
    let keptStrides = strides(of: kept)
    return mapIndices(shape) { idx in idx.indices.reduce(0) { $0 + (reduced.contains($1) ? 0 : idx[$1] * keptStrides[$1]) } }
  }

  /// y_g over the elements of each group, NaN propagating.
  func extremum(_ x: [Float], groups: [Int], count: Int) -> [Float] {
    var out = [Float](repeating: kind == .max ? -.infinity : .infinity, count: count)
    for (j, g) in groups.enumerated() {
      let v = x[j]
      if v.isNaN || (kind == .max ? v > out[g] : v < out[g]) { out[g] = v }
    }
    return out
  }

  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    let xShape = graph.shapes[node.inputs[0]]!, outShape = graph.shapes[node.output]!
    let groups = ReduceExtremum.groups(xShape, reduced: try reducedAxes(NodeShapes(graph: graph, node: node), rank: xShape.count))
    return { Tensor(shape: outShape, data: self.extremum($0[0].data, groups: groups, count: outShape.elementCount)) }
  }

  func outputIsNonNegative(inputs: [Bool]) -> Bool { inputs.first ?? false }

  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward? {
    guard rule == .pass || rule == .gradient else { return nil }
    let x = node.inputs[0]
    let xShape = graph.shapes[x]!, count = graph.shapes[node.output]!.elementCount
    let reduced = try reducedAxes(NodeShapes(graph: graph, node: node), rank: xShape.count)
    if reduced.contains(0), !keepDims {
      throw graph.error(node, "relevance through a \(opName) that removes the batch axis is not supported")
    }
    let groups = ReduceExtremum.groups(xShape, reduced: reduced)
    return .registered(OperatorBackward(reads: [x]) { r, values, k in
      let a = values[x]!.data
      let y = self.extremum(a, groups: groups, count: count)
      var ties = [Float](repeating: 0, count: count)
      for (j, g) in groups.enumerated() where a[j] == y[g] { ties[g] += 1 }
      let size = a.count
      var out = [Float](repeating: 0, count: k * size)
      for (j, g) in groups.enumerated() where a[j] == y[g] {
        for s in 0..<k { out[s * size + j] = r.data[s * count + g] / ties[g] }
      }
      return [(x, Tensor(shape: [k] + xShape.dropFirst(), data: out))]
    })
  }
}

extension Op {
  /// ReduceMax as an op, for code that builds graphs: over `axes` (nil: the second input, or all).
  public static func reduceMax(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool) -> Op {
    .registered(ReduceExtremum(kind: .max, axes: axes, keepDims: keepDims, noopWithEmptyAxes: noopWithEmptyAxes))
  }
  public static func reduceMin(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool) -> Op {
    .registered(ReduceExtremum(kind: .min, axes: axes, keepDims: keepDims, noopWithEmptyAxes: noopWithEmptyAxes))
  }
}
