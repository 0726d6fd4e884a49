/// Makes a graph that ends in Softmax output the logits: LRP explains pre-softmax scores.
public struct StripTrailingSoftmax: GraphPass {
  public init() {}
  public var name: String { "strip-trailing-softmax" }

  public func run(on graph: inout Graph) throws -> Bool {
    let consumers = graph.consumers()
    var changed = false
    for (position, output) in graph.outputs.enumerated() {
      guard let index = graph.nodes.firstIndex(where: { $0.outputs.contains(output) }),
            case .softmax = graph.nodes[index].op, consumers[output] == nil else { continue }
      let node = graph.nodes.remove(at: index)
      graph.outputs[position] = node.inputs[0]
      graph.notes.append("removed the trailing Softmax '\(node.name)': outputs are logits")
      changed = true
    }
    return changed
  }
}
