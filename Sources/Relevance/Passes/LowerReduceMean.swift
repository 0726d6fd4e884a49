/// ReduceMean over the spatial axes (2, 3) of an NCHW tensor, as the current torch exporter
/// writes adaptive average pooling to 1×1, as GlobalAveragePool, followed by a Flatten when
/// the reduced axes are dropped (keepdims = 0); ReduceMax likewise as GlobalMaxPool (which
/// shape inference turns into a MaxPool over the whole plane). Other ReduceMax/ReduceMin
/// reductions stay `ReduceExtremum` nodes.
public struct LowerReduceMean: GraphPass {
  public init() {}
  public var name: String { "lower-reduce-mean" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    var index = 0
    while index < graph.nodes.count {
      let node = graph.nodes[index]
      let pooling: Op, keepDims: Bool
      switch node.op {
      case .reduceMean(_, let keep, _): (pooling, keepDims) = (.globalAvgPool, keep)
      case .registered(let r):
        guard let reduce = r.definition as? ReduceExtremum, reduce.kind == .max else { index += 1; continue }
        (pooling, keepDims) = (.globalMaxPool, reduce.keepDims)
      default: index += 1; continue
      }
      guard let shape = graph.shapes[node.inputs[0]], shape.count == 4,
            try NodeShapes(graph: graph, node: node).reducedAxes(rank: 4) == [2, 3] else { index += 1; continue }
      if keepDims {
        graph.nodes[index] = Node(name: node.name, op: pooling, inputs: [node.inputs[0]], outputs: node.outputs,
                                  sourceOpType: node.sourceOpType)
      } else {
        let pooled = graph.unusedName(node.output + "::pooled")
        graph.nodes[index] = Node(name: node.name, op: pooling, inputs: [node.inputs[0]], outputs: [pooled],
                                  sourceOpType: node.sourceOpType)
        graph.nodes.insert(Node(name: node.name + "::flatten", op: .flatten(axis: 1), inputs: [pooled], outputs: node.outputs,
                                sourceOpType: node.sourceOpType), at: index + 1)
        index += 1
      }
      changed = true
      index += 1
    }
    return changed
  }
}
