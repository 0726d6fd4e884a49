/// Two affine nodes in a row as one: (x·s₁ + t₁)·s₂ + t₂ = x·(s₁s₂) + (t₁s₂ + t₂).
public struct MergeAffines: GraphPass {
  public init() {}
  public var name: String { "merge-affines" }

  public func run(on graph: inout Graph) throws -> Bool {
    let producers = graph.producers(), consumers = graph.consumers()
    for (i, second) in graph.nodes.enumerated() where second.op == .affine {
      guard let p = producers[second.inputs[0]], graph.nodes[p].op == .affine,
            consumers[second.inputs[0]]?.count == 1, !graph.outputs.contains(second.inputs[0]) else { continue }
      let first = graph.nodes[p]
      let s1 = graph.constant(first, 1)!.floats, t1 = graph.constant(first, 2)!.floats
      let s2 = graph.constant(second, 1)!.floats, t2 = graph.constant(second, 2)!.floats
      let scale = zip(s1, s2).map(*)
      let shift = (0..<s1.count).map { t1[$0] * s2[$0] + t2[$0] }
      graph.nodes[i].inputs = [first.inputs[0],
                               graph.addConstant("\(second.name).scale", Constant(shape: [scale.count], floats: scale)),
                               graph.addConstant("\(second.name).shift", Constant(shape: [shift.count], floats: shift))]
      graph.nodes.remove(at: p)
      return true
    }
    return false
  }
}
