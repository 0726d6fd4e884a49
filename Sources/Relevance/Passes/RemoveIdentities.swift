/// Removes Identity, Dropout (inference mode: identity) and Cast-to-float of activations
/// (activations are float already), rewiring their readers.
public struct RemoveIdentities: GraphPass {
  public init() {}
  public var name: String { "remove-identities" }

  public func run(on graph: inout Graph) throws -> Bool {
    guard let index = graph.nodes.firstIndex(where: {
      $0.op == .identity || $0.op == .dropout || ($0.op == .cast(toFloat: true) && !graph.isConstant($0.inputs[0]))
    }) else { return false }
    let node = graph.nodes[index]
    let readers = Set(graph.nodes.flatMap(\.inputs)).union(graph.outputs)
    if let mask = node.outputs.dropFirst().first(where: { !$0.isEmpty && readers.contains($0) }) {
      throw graph.error(node, "its mask output '\(mask)' is read; clrp runs inference graphs, where Dropout has no mask")
    }
    graph.nodes.remove(at: index)
    graph.replaceUses(of: node.output, with: node.inputs[0])
    _ = try run(on: &graph)
    return true
  }
}
