/// A Transpose followed, through elementwise activations only, by the inverse Transpose is
/// removed together with it; the activations then run on the untransposed values (they act on
/// each element alone, so the order of elements does not matter to them):
///
///   Transpose(p) → f₁ → … → fₖ → Transpose(p⁻¹)   ⇒   f₁ → … → fₖ      (k ≥ 1)
///
/// Every value of the chain but the last must have one reader and must not be a graph output.
/// ConvNeXt's Linear layers, lowered to 1×1 convs between transposes (`LowerLastAxisMatMul`),
/// leave such a pair around their GELU.
///
/// Adjacent inverse pairs (k = 0) are left: removing them would let `FoldAffineIntoLinear`
/// fold ConvNeXt's layer scale (1e-6 at initialization) into the second Linear, whose z-rule
/// denominators would then be of the order of the rules' absolute stabilizer (1e-6) and lose
/// relevance; kept apart, the scale is an affine node that passes relevance unchanged.
public struct CancelTransposes: GraphPass {
  public init() {}
  public var name: String { "cancel-transposes" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    while cancelOnePair(&graph) { changed = true }
    return changed
  }

  /// Removes the first such pair; false when there is none.
  func cancelOnePair(_ graph: inout Graph) -> Bool {
    let consumers = graph.consumers()
    func onlyReader(of value: ValueName) -> Int? {
      guard !graph.outputs.contains(value), let readers = consumers[value], readers.count == 1 else { return nil }
      return readers[0]
    }
    for node in graph.nodes {
      guard case .transpose(let perm) = node.op else { continue }
      var chain: [Int] = []
      var value = node.output
      while let next = onlyReader(of: value) {
        let reader = graph.nodes[next]
        if case .transpose(let back) = reader.op {
          guard back.count == perm.count, back.indices.allSatisfy({ perm[back[$0]] == $0 }) else { break }
          // Activations read the untransposed input; the last one (or the input itself) stands
          // for the second transpose's output.
          var rewritten = graph
          var input = node.inputs[0]
          for index in chain {
            rewritten.nodes[index].inputs = [input]
            input = rewritten.nodes[index].output
          }
          guard let last = chain.last else { break }
          rewritten.nodes[last].outputs = [reader.output]
          rewritten.nodes.removeAll { $0.name == node.name && $0.output == node.output || $0.name == reader.name && $0.output == reader.output }
          for index in chain { rewritten.shapes[graph.nodes[index].output] = nil }
          graph = rewritten
          return true
        }
        guard case .activation = reader.op else { break }
        chain.append(next)
        value = reader.output
      }
    }
    return false
  }
}
