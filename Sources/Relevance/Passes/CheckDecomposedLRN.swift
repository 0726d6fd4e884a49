/// Finishes the recognition of torch's decomposed LocalResponseNorm
/// (`Import/DecomposedLocalResponseNorm.swift`) once shapes are bound: an LRN node with the
/// extra inputs `[x, target5D, pads, target4D?]` is checked and reduced to `LRN(x)`.
///
/// For x of shape [N, C, H, W] and size s the decomposition is ONNX LRN exactly when
/// - target5D (Reshape semantics: 0 copies x's dimension, −1 is inferred) is [N, 1, C, H, W],
///   so that the [s, 1, 1] pooling window slides along the channels;
/// - pads (ONNX Pad, begins then ends over the 5 axes) are zero but on axis 2, which gets
///   ⌊s/2⌋ before and ⌊(s−1)/2⌋ after (s odd: the ONNX LRN window);
/// - target4D, when present (the legacy exporter reshapes back), is [N, C, H, W].
/// The legacy exporter's If tests Shape(pool output)[1] == 1, which the first condition makes
/// true, so its then-branch (the Squeeze the importer kept) is the one taken.
/// Anything else is refused naming the node: the graph would compute something else.
public struct CheckDecomposedLRN: GraphPass {
  public init() {}
  public var name: String { "check-decomposed-lrn" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    for index in graph.nodes.indices {
      let node = graph.nodes[index]
      guard let lrn = node.op.definition(as: LocalResponseNormalization.self), node.inputs.count > 1 else { continue }
      func fail(_ reason: String) -> ModelError {
        graph.error(node, "looks like torch's decomposed LocalResponseNorm but \(reason)")
      }
      guard let x = graph.shape(of: node.inputs[0]) else { throw fail("the shape of '\(node.inputs[0])' is unknown") }
      guard x.count == 4 else { throw fail("its input has shape \(x); clrp recognises it on [N, C, H, W] inputs") }
      func target(_ index: Int) throws -> [Int] {
        guard let c = graph.constants[node.inputs[index]] else {
          throw fail("the reshape target '\(node.inputs[index])' is not computable from shapes")
        }
        let dims = c.ints.enumerated().map { i, d in d == 0 && i < x.count ? x[i] : d }
        guard dims.filter({ $0 == -1 }).count <= 1 else { throw fail("the reshape target \(c.ints) is invalid") }
        let known = dims.filter { $0 != -1 }.reduce(1, *)
        return dims.map { $0 == -1 && known > 0 ? x.elementCount / known : $0 }
      }
      let expected5D = [x[0], 1, x[1], x[2], x[3]]
      let reshaped = try target(1)
      guard reshaped == expected5D else { throw fail("it reshapes x of shape \(x) to \(reshaped), not \(expected5D)") }
      let size = lrn.parameters.size
      guard let pads = graph.constants[node.inputs[2]]?.ints else { throw fail("its pads '\(node.inputs[2])' are not computable from shapes") }
      let expectedPads = [0, 0, size / 2, 0, 0, 0, 0, (size - 1) / 2, 0, 0]
      guard pads == expectedPads else { throw fail("it pads \(pads), not \(expectedPads) (a window of \(size) channels)") }
      if node.inputs.count > 3 {
        let back = try target(3)
        guard back == x else { throw fail("it reshapes the normalizer to \(back), not to the input's shape \(x)") }
      }
      graph.nodes[index].inputs = [node.inputs[0]]
      changed = true
    }
    return changed
  }
}
