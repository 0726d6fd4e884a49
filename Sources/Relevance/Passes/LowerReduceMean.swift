/// ReduceMean over the spatial axes (2, 3) of an NCHW tensor, as the current torch exporter
/// writes adaptive average pooling to 1×1, as GlobalAveragePool, followed by a Flatten when
/// the reduced axes are dropped (keepdims = 0); ReduceMax likewise as GlobalMaxPool (which
/// shape inference turns into a MaxPool over the whole plane). Other ReduceMax/ReduceMin
/// reductions stay `ReduceExtremum` nodes.
///
/// Over axes (1, 2) of a rank-4 tensor, the plane of NHWC (tf2onnx's Keras global pooling and
/// squeeze-and-excitation pools where its transpose optimizer left the layout), the same pooling
/// runs between transposes: Transpose[0,3,1,2] → pool → Transpose[0,2,3,1] (keepdims) or Flatten
/// ([N, C, 1, 1] flattens to [N, C], the order ReduceMean's [N, C] has).
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
      guard let shape = graph.shapes[node.inputs[0]], shape.count == 4 else { index += 1; continue }
      let axes = try NodeShapes(graph: graph, node: node).reducedAxes(rank: 4)
      guard axes == [2, 3] || axes == [1, 2] else { index += 1; continue }
      var lowered: [Node] = []
      var input = node.inputs[0]
      if axes == [1, 2] {
        let nchw = graph.unusedName(node.output + "::nchw")
        lowered.append(Node(name: node.name + "::to_nchw", op: .transpose(perm: [0, 3, 1, 2]), inputs: [input], outputs: [nchw],
                            sourceOpType: node.sourceOpType))
        input = nchw
      }
      let finish: Op? = keepDims ? (axes == [1, 2] ? .transpose(perm: [0, 2, 3, 1]) : nil) : .flatten(axis: 1)
      let pooled = finish == nil ? node.output : graph.unusedName(node.output + "::pooled")
      lowered.append(Node(name: node.name, op: pooling, inputs: [input], outputs: [pooled], sourceOpType: node.sourceOpType))
      if let finish {
        let suffix = finish == .flatten(axis: 1) ? "::flatten" : "::to_nhwc"
        lowered.append(Node(name: node.name + suffix, op: finish, inputs: [pooled], outputs: node.outputs,
                            sourceOpType: node.sourceOpType))
      }
      graph.nodes.replaceSubrange(index...index, with: lowered)
      changed = true
      index += lowered.count
    }
    return changed
  }
}
