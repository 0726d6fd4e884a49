/// A Gather on run-time data whose constant indices pick every element in order is a
/// reshape: Gather(data [n], indices, axis 0) with indices.flat = 0, 1, ..., n−1 is
/// Reshape(data, indices.shape). torch's dynamo exporter writes adaptive average pooling's
/// `as_strided` so: ReduceMean → Reshape([-1]) → Gather(indices [1, C, 1, 1]).
///
/// When the data is itself a reshape (Flatten, Reshape, Squeeze, Unsqueeze) of a value, the new
/// Reshape reads that value directly, so no intermediate shape mixes the batch axis into others
/// (relevance cannot pass such a reshape); the old one is removed when nothing else reads it.
public struct LowerGatherAsReshape: GraphPass {
  public init() {}
  public var name: String { "lower-gather-as-reshape" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    let producers = graph.producers()
    for i in graph.nodes.indices {
      let node = graph.nodes[i]
      guard case .gather(let axis) = node.op, node.inputs.count == 2, !graph.isConstant(node.inputs[0]),
            let data = graph.shapes[node.inputs[0]], data.count == 1, axis == 0 || axis == -1,
            let indices = graph.constant(node, 1), !indices.isFloat,
            indices.ints.elementsEqual(0..<data[0]) else { continue }
      var source = node.inputs[0]
      if let p = producers[source] {
        switch graph.nodes[p].op {
        case .flatten, .reshape, .squeeze, .unsqueeze: source = graph.nodes[p].inputs[0]
        default: break
        }
      }
      let target = graph.addConstant("\(node.name)::shape", Constant(shape: [indices.shape.count], ints: indices.shape))
      graph.nodes[i] = Node(name: node.name, op: .reshape(allowZero: false), inputs: [source, target],
                            outputs: node.outputs, sourceOpType: node.sourceOpType)
      changed = true
    }
    if changed { FuseActivationPatterns().removeDeadNodes(&graph) }
    return changed
  }
}
