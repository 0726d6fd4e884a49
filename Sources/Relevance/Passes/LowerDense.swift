/// Gemm and MatMul with a constant weight as dense layers y = x·Wᵀ + b, W stored [out, in].
///
/// Gemm: W = alpha · (transB ? B : Bᵀ), b = beta · C (C must not vary across rows).
/// MatMul: W = Bᵀ for x of rank 2. A following Add of a bias is merged by the affine passes.
public struct LowerDense: GraphPass {
  public init() {}
  public var name: String { "lower-dense" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    for i in graph.nodes.indices {
      let node = graph.nodes[i]
      let alpha: Float, beta: Float, transB: Bool
      switch node.op {
      case .gemm(let p) where !p.transA: (alpha, beta, transB) = (p.alpha, p.beta, p.transB)
      case .matMul: (alpha, beta, transB) = (1, 0, false)
      default: continue
      }
      guard let b = graph.constant(node, 1), b.shape.count == 2, graph.shapes[node.inputs[0]]?.count == 2,
            !graph.isConstant(node.inputs[0]) else { continue }
      let (rows, cols) = (b.shape[0], b.shape[1])
      let values = b.floats
      let (out, inp) = transB ? (rows, cols) : (cols, rows)
      var inputs = [node.inputs[0]]
      if transB && alpha == 1 && b.isFloat {
        inputs.append(node.inputs[1])  // already [out, in]: no copy of what may be the largest weight
      } else {
        var weight = [Float](repeating: 0, count: out * inp)
        for o in 0..<out {
          for k in 0..<inp { weight[o * inp + k] = alpha * (transB ? values[o * cols + k] : values[k * cols + o]) }
        }
        inputs.append(graph.addConstant("\(node.name).weight", Constant(shape: [out, inp], floats: weight)))
      }
      if node.inputs.count > 2, !node.inputs[2].isEmpty, beta != 0 {
        guard let c = graph.constant(node, 2) else { throw graph.error(node, "the bias C must be a constant") }
        let padded = [Int](repeating: 1, count: max(0, 2 - c.shape.count)) + c.shape
        guard padded.count == 2, padded[0] == 1, padded[1] == 1 || padded[1] == out else {
          throw graph.error(node, "bias C of shape \(c.shape) varies across rows; only a per-output bias is supported")
        }
        let cv = c.floats
        let bias = (0..<out).map { beta * (cv.count == 1 ? cv[0] : cv[$0]) }
        inputs.append(graph.addConstant("\(node.name).bias", Constant(shape: [out], floats: bias)))
      }
      graph.nodes[i].op = .dense
      graph.nodes[i].inputs = inputs
      changed = true
    }
    return changed
  }
}
