/// Removes Identity and Dropout (inference mode: identity) nodes, rewiring their readers.
public struct RemoveIdentities: GraphPass {
  public init() {}
  public var name: String { "remove-identities" }

  public func run(on graph: inout Graph) throws -> Bool {
    guard let index = graph.nodes.firstIndex(where: { $0.op == .identity || $0.op == .dropout }) else { return false }
    let node = graph.nodes.remove(at: index)
    graph.replaceUses(of: node.output, with: node.inputs[0])
    _ = try run(on: &graph)
    return true
  }
}
