/// Folds a per-channel affine into the linear layer it touches, so that LRP sees one layer.
///
/// Backward, into a conv or dense layer whose only reader it is:
///   W'[m, ...] = s[m] · W[m, ...],  b'[m] = s[m] · b[m] + t[m].
/// Else forward, into a dense layer reading it directly or through a Flatten (exact, unlike a
/// following conv, whose zero padding would see the shift):
///   W'[m, k] = W[m, k] · s[c(k)],  b'[m] = b[m] + Σ_k W[m, k] · t[c(k)],
/// c(k) the channel of flattened feature k. Anything else stays a standalone affine node.
public struct FoldAffineIntoLinear: GraphPass {
  public init() {}
  public var name: String { "fold-affine-into-linear" }

  public func run(on graph: inout Graph) throws -> Bool {
    let producers = graph.producers(), consumers = graph.consumers()
    for (i, affine) in graph.nodes.enumerated() where affine.op == .affine {
      let x = affine.inputs[0]
      let scale = graph.constant(affine, 1)!.floats, shift = graph.constant(affine, 2)!.floats
      if let p = producers[x], consumers[x]?.count == 1, !graph.outputs.contains(x), isLinear(graph.nodes[p].op) {
        foldBackward(&graph, linear: p, scale: scale, shift: shift)
        graph.nodes[p].sourceOpType += "+" + affine.sourceOpType
        graph.replaceUses(of: affine.output, with: x)
        graph.nodes.remove(at: i)
        return true
      }
      if let (dense, flatten) = denseReading(graph, affine.output, consumers), let shape = graph.shapes[x] {
        let spatial = shape.dropFirst(2).reduce(1, *)
        try foldForward(&graph, dense: dense, scale: scale, shift: shift, spatial: spatial)
        graph.nodes[dense].sourceOpType = affine.sourceOpType + "+" + graph.nodes[dense].sourceOpType
        graph.nodes[flatten ?? dense].inputs[0] = x
        graph.nodes.remove(at: i)
        return true
      }
    }
    return false
  }

  private func isLinear(_ op: Op) -> Bool {
    switch op {
    case .conv, .dense: return true
    default: return false
    }
  }

  /// The dense layer reading `value` directly or through one Flatten from axis 1 (nil if none).
  private func denseReading(_ graph: Graph, _ value: ValueName, _ consumers: [ValueName: [Int]]) -> (Int, Int?)? {
    guard !graph.outputs.contains(value), let readers = consumers[value], readers.count == 1 else { return nil }
    let reader = graph.nodes[readers[0]]
    if reader.op == .dense, reader.inputs[0] == value { return (readers[0], nil) }
    guard reader.op == .flatten(axis: 1), !graph.outputs.contains(reader.output),
          let next = consumers[reader.output], next.count == 1, graph.nodes[next[0]].op == .dense else { return nil }
    return (next[0], readers[0])
  }

  private func foldBackward(_ graph: inout Graph, linear p: Int, scale: [Float], shift: [Float]) {
    let node = graph.nodes[p]
    let weight = graph.constant(node, 1)!
    let perOutput = weight.count / weight.shape[0]
    var w = weight.floats
    for m in 0..<weight.shape[0] { for k in 0..<perOutput { w[m * perOutput + k] *= scale[m] } }
    let b = graph.constant(node, 2)?.floats ?? [Float](repeating: 0, count: weight.shape[0])
    let bias = (0..<b.count).map { scale[$0] * b[$0] + shift[$0] }
    graph.nodes[p].inputs = [node.inputs[0],
                             graph.addConstant("\(node.name).weight", Constant(shape: weight.shape, floats: w)),
                             graph.addConstant("\(node.name).bias", Constant(shape: [bias.count], floats: bias))]
  }

  private func foldForward(_ graph: inout Graph, dense d: Int, scale: [Float], shift: [Float], spatial: Int) throws {
    let node = graph.nodes[d]
    let weight = graph.constant(node, 1)!
    let (out, inp) = (weight.shape[0], weight.shape[1])
    guard inp == scale.count * spatial else { throw graph.error(node, "affine of \(scale.count) channels does not match \(inp) inputs") }
    var w = weight.floats
    var bias = graph.constant(node, 2)?.floats ?? [Float](repeating: 0, count: out)
    for m in 0..<out {
      var extra: Float = 0
      for k in 0..<inp {
        let c = k / spatial
        extra += w[m * inp + k] * shift[c]
        w[m * inp + k] *= scale[c]
      }
      bias[m] += extra
    }
    graph.nodes[d].inputs = [node.inputs[0],
                             graph.addConstant("\(node.name).weight", Constant(shape: weight.shape, floats: w)),
                             graph.addConstant("\(node.name).bias", Constant(shape: [out], floats: bias))]
  }
}
