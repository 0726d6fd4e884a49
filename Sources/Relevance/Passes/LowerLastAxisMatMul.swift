/// A MatMul whose weight is a constant [K, M] matrix applied to the last axis of a rank-4
/// activation [N, H, W, K] (ConvNeXt's Linear layers on NHWC, after a Transpose) as a 1×1
/// convolution between transposes:
///
///   MatMul(x, B)  →  Transpose[0,2,3,1](Conv1x1(Transpose[0,3,1,2](x), W = Bᵀ as [M, K, 1, 1]))
///
/// so that the linear LRP rules serve it as a conv. A following Add of a constant bias along
/// the last axis ([M], or [1, ..., M]) that nothing else needs becomes the conv's bias.
/// The conv keeps the MatMul's node name (rule files and messages see it).
public struct LowerLastAxisMatMul: GraphPass {
  public init() {}
  public var name: String { "lower-last-axis-matmul" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    var i = 0
    while i < graph.nodes.count {
      let node = graph.nodes[i]
      guard node.op == .matMul, node.inputs.count == 2, !graph.isConstant(node.inputs[0]),
            let b = graph.constant(node, 1), b.shape.count == 2,
            let x = graph.shapes[node.inputs[0]], x.count == 4, x[3] == b.shape[0] else { i += 1; continue }
      let (k, m) = (b.shape[0], b.shape[1])
      let values = b.floats
      var weight = [Float](repeating: 0, count: m * k)
      for o in 0..<m { for j in 0..<k { weight[o * k + j] = values[j * m + o] } }
      var inputs = [graph.unusedName(node.output + "/nchw"), graph.addConstant("\(node.name).weight", Constant(shape: [m, k, 1, 1], floats: weight))]
      var output = node.output
      // Fold a following bias Add.
      let consumers = graph.consumers()[node.output] ?? []
      if consumers.count == 1, !graph.outputs.contains(node.output) {
        let add = graph.nodes[consumers[0]]
        if add.op == .elementwise(.add), let biasName = add.inputs.first(where: { $0 != node.output }),
           let bias = graph.constants[biasName], bias.count == m, bias.shape.last == m {
          inputs.append(graph.addConstant("\(node.name).bias", Constant(shape: [m], floats: bias.floats)))
          output = add.output
          graph.nodes.remove(at: consumers[0])
        }
      }
      let toNCHW = Node(name: node.name + "/to_nchw", op: .transpose(perm: [0, 3, 1, 2]), inputs: [node.inputs[0]],
                        outputs: [inputs[0]], sourceOpType: node.sourceOpType)
      let conv = Node(name: node.name, op: .conv(Conv2D(window: Window2D(kernelH: 1, kernelW: 1), group: 1, autoPad: .explicit)),
                      inputs: inputs, outputs: [graph.unusedName(node.output + "/conv")], sourceOpType: node.sourceOpType)
      let toNHWC = Node(name: node.name + "/to_nhwc", op: .transpose(perm: [0, 2, 3, 1]), inputs: [conv.output],
                        outputs: [output], sourceOpType: node.sourceOpType)
      graph.nodes.replaceSubrange(i...i, with: [toNCHW, conv, toNHWC])
      graph.shapes[node.output] = nil
      changed = true
      i += 3
    }
    return changed
  }
}
