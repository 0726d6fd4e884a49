import Dispatch

/// A canonical graph compiled for execution: one step per node with its kernel chosen and
/// its constant operands converted once; each intermediate value is freed after its last read.
public struct ForwardPlan: Sendable {
  /// Where a step reads an operand from.
  enum Operand: Sendable {
    case value(Int)
    case constant(Tensor)
  }

  struct Step: Sendable {
    let node: Int
    let operands: [Operand]
    /// Slots of the values the kernel returns, in order.
    let outputs: [Int]
    /// What `CLRP_PROFILE` calls the step when it is not just its node's op (a fused conv + Add).
    var label: String? = nil
    let kernel: @Sendable ([Tensor]) -> [Tensor]
  }

  public let graph: Graph
  let steps: [Step]
  /// Slot of each value name.
  let slots: [ValueName: Int]
  /// For each slot, the index of the last step that reads it (-1 when only an output).
  let lastRead: [Int]

  /// The name under which a max-pool node's switches (see `maxPoolSwitches`) are kept.
  public static func switchesName(of node: Node) -> ValueName { node.output + "#switches" }

  /// Compiles a canonical graph (see `Canonicalizer`); ops left uncanonical are errors.
  /// An activation whose input comes from a conv or dense layer that nothing else
  /// reads runs in place on that layer's output, unless the layer's output is in `keep`; a
  /// residual Add of such a conv output (and the clamp after it) runs inside the conv
  /// (`residualConvolutions`).
  /// The max-pool nodes whose indices are in `switches` also produce their arg-max switches,
  /// as a value named `switchesName(of:)` (flat in-plane indices stored as floats).
  ///
  /// Refuses a graph whose values (every input and intermediate value at the bound batch size,
  /// and the constants converted for the kernels) would not fit `budget`, before allocating.
  public init(graph: Graph, keep: Set<ValueName> = [], switches: Set<Int> = [], budget: MemoryBudget = .current) throws {
    let needs = ForwardPlan.estimatedBytes(graph, switches: switches)
    guard budget.allows(needs) else {
      throw ModelError(file: graph.source, budget.refusal(
        "a forward pass with input shape \(graph.shapes[graph.input] ?? [])", needs: needs) + "; use a smaller batch or input")
    }
    self.graph = graph
    var slots: [ValueName: Int] = [graph.input: 0]
    for node in graph.nodes { for output in node.outputs where slots[output] == nil { slots[output] = slots.count } }
    for index in switches { slots[ForwardPlan.switchesName(of: graph.nodes[index])] = slots.count }
    let consumers = graph.consumers(), producers = graph.producers()
    var fused: [Int: Node] = [:]  // producer index → activation node applied to its output
    for node in graph.nodes {
      switch node.op {
      case .activation:
        let x = node.inputs[0]
        guard let p = producers[x], consumers[x]?.count == 1, !keep.contains(x), !graph.outputs.contains(x) else { continue }
        switch graph.nodes[p].op {
        case .conv, .dense: fused[p] = node
        default: continue
        }
      default: continue
      }
    }
    let residuals = ForwardPlan.residualConvolutions(graph, keep: keep, consumers: consumers, producers: producers)
    let fusedActivations = Set(fused.values.map(\.name)).union(residuals.values.compactMap { $0.activation?.name })
    let convolutionsRunByTheirAdd = Set(residuals.values.map(\.conv))
    var steps: [Step] = []
    var lastRead = [Int](repeating: -1, count: slots.count)
    for (index, node) in graph.nodes.enumerated()
    where !fusedActivations.contains(node.name) && !convolutionsRunByTheirAdd.contains(index) {
      if let residual = residuals[index], case .conv(let conv) = graph.nodes[residual.conv].op {
        // conv(x) + bias + other, then the clamp, as one step where the Add was.
        let convNode = graph.nodes[residual.conv]
        let weight = graph.constant(convNode, 1)!.tensor, bias = graph.constant(convNode, 2)?.floats
        let clamp = residual.activation.flatMap { if case .activation(let a) = $0.op { a.clamp } else { nil } }
        let operands: [Operand] = [.value(slots[convNode.inputs[0]]!), .value(slots[residual.other]!)]
        for case .value(let slot) in operands { lastRead[slot] = steps.count }
        let output = slots[residual.activation?.output ?? node.output]!
        let label = "Conv \(conv.window.kernelH)x\(conv.window.kernelW)/\(conv.window.strideH) + Add"
        steps.append(Step(node: index, operands: operands, outputs: [output], label: label) {
          [Kernels.conv2d($0[0], weight: weight, bias: bias, window: conv.window, group: conv.group, clamp: clamp, addend: $0[1])]
        })
        continue
      }
      let operands: [Operand] = node.inputs.compactMap { name in
        if name.isEmpty { return nil }
        if let c = graph.constants[name] { return .constant(c.tensor) }
        return .value(slots[name]!)
      }
      for case .value(let slot) in operands { lastRead[slot] = steps.count }
      var kernel = try ForwardPlan.kernel(for: node, in: graph)
      var output = slots[node.output]!
      if let activation = fused[index] {
        if case .conv(let conv) = node.op, case .activation(let a) = activation.op, let clamp = a.clamp {
          let weight = graph.constant(node, 1)!.tensor, bias = graph.constant(node, 2)?.floats
          kernel = { Kernels.conv2d($0[0], weight: weight, bias: bias, window: conv.window, group: conv.group, clamp: clamp) }
        } else {
          let layer = kernel, apply = try ForwardPlan.kernel(for: activation, in: graph)
          kernel = { apply([layer($0)]) }
        }
        output = slots[activation.output]!
      }
      if switches.contains(index), case .maxPool(let pool) = node.op {
        steps.append(Step(node: index, operands: operands, outputs: [output, slots[ForwardPlan.switchesName(of: node)]!]) {
          let (y, argmax) = Kernels.maxPool2d($0[0], window: pool.window)
          return [y, Tensor(shape: y.shape, data: argmax.map { Float($0) })]
        })
        continue
      }
      let single = kernel
      steps.append(Step(node: index, operands: operands, outputs: [output]) { [single($0)] })
    }
    self.steps = steps
    self.slots = slots
    self.lastRead = lastRead
  }

  /// A residual connection that runs as one convolution step: `Add(conv(x), other)` where the
  /// conv's output is read by nothing else, then optionally a clamp activation (ReLU, ReLU6)
  /// that is the Add's only reader. `Kernels.conv2d(addend:)` starts the conv's output as
  /// `other + bias` and adds the product to it, so the Add and the activation take no pass of
  /// their own. Not when the conv's output is in `keep` (the relevance pass reads the Add's
  /// operands) or a graph output; the activation stays separate when the Add's output is.
  struct ResidualConvolution {
    /// Index of the conv node.
    var conv: Int
    /// The Add's other operand.
    var other: ValueName
    /// The clamp activation applied to the sum, if fused.
    var activation: Node?
  }

  /// The residual convolutions of `graph`, keyed by the index of their Add node.
  static func residualConvolutions(_ graph: Graph, keep: Set<ValueName>, consumers: [ValueName: [Int]],
                                   producers: [ValueName: Int]) -> [Int: ResidualConvolution] {
    func isPrivate(_ value: ValueName) -> Bool {
      consumers[value]?.count == 1 && !keep.contains(value) && !graph.outputs.contains(value)
    }
    var found: [Int: ResidualConvolution] = [:]
    for (index, node) in graph.nodes.enumerated() {
      guard case .elementwise(.add) = node.op, node.inputs.count == 2,
            let shape = graph.shapes[node.output] else { continue }
      for side in 0..<2 {
        let summand = node.inputs[side], other = node.inputs[1 - side]
        guard let p = producers[summand], case .conv = graph.nodes[p].op, isPrivate(summand),
              graph.constants[other] == nil, graph.shapes[summand] == shape, graph.shapes[other] == shape else { continue }
        var activation: Node?
        if isPrivate(node.output), let reader = consumers[node.output]?.first,
           case .activation(let a) = graph.nodes[reader].op, a.clamp != nil {
          activation = graph.nodes[reader]
        }
        found[index] = ResidualConvolution(conv: p, other: other, activation: activation)
        break
      }
    }
    return found
  }

  /// Bytes of every value a run of `graph` may hold at once (input, every node output, the
  /// max-pool switches asked for, and the float32 copies of the constants): an upper bound,
  /// since values are freed after their last read; nil when it overflows.
  public static func estimatedBytes(_ graph: Graph, switches: Set<Int> = []) -> Int? {
    var total: Int? = Estimate.bytes(graph.shapes[graph.input] ?? [], 4)
    var seen: Set<ValueName> = [graph.input]
    for (index, node) in graph.nodes.enumerated() {
      for output in node.outputs where seen.insert(output).inserted {
        guard let shape = graph.shapes[output] else { continue }
        total = Estimate.sum(total, Estimate.bytes(shape, 4))
        if switches.contains(index) { total = Estimate.sum(total, Estimate.bytes(shape, 4)) }
      }
    }
    for constant in graph.constants.values {
      total = Estimate.sum(total, Estimate.bytes(constant.shape, 4))
    }
    return total
  }

  /// The kernel computing `node`'s output from its operands (constants included, in order).
  static func kernel(for node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    let outputShape = graph.shapes[node.output] ?? []
    switch node.op {
    case .conv(let conv):
      let weight = graph.constant(node, 1)!.tensor
      let bias = graph.constant(node, 2)?.floats
      return { Kernels.conv2d($0[0], weight: weight, bias: bias, window: conv.window, group: conv.group) }
    case .convTranspose(let t):
      let weight = graph.constant(node, 1)!.tensor
      let bias = graph.constant(node, 2)?.floats
      return { x in
        let y = Kernels.conv2dTransposedInput(x[0], weight: weight, window: t.window, group: t.group,
                                              inputShape: [x[0].shape[0]] + outputShape.dropFirst())
        guard let bias else { return y }
        return Kernels.channelAffine(y, scale: [Float](repeating: 1, count: bias.count), shift: bias)
      }
    case .dense:
      let weight = graph.constant(node, 1)!.tensor
      let bias = graph.constant(node, 2)?.floats
      return { Kernels.dense($0[0], weight: weight, bias: bias) }
    case .affine:
      let scale = graph.constant(node, 1)!.floats, shift = graph.constant(node, 2)!.floats
      return { Kernels.channelAffine($0[0], scale: scale, shift: shift) }
    case .activation(let a):
      let function = a.function
      return { function.forward($0[0]) }
    case .maxPool(let pool): return { Kernels.maxPool2dValues($0[0], window: pool.window) }
    case .avgPool(let pool):
      return { Kernels.avgPool2d($0[0], window: pool.window, countIncludePad: pool.countIncludePad) }
    case .globalAvgPool: return { Kernels.globalAvgPool($0[0]).reshaped(outputShape) }
    case .registered(let r): return try r.definition.forwardKernel(node, in: graph)
    case .concat(let axis):
      let a = axis < 0 ? axis + outputShape.count : axis
      return { Kernels.concat($0, axis: a) }
    case .elementwise(let op): return { Kernels.broadcast($0[0], $0[1], op) }
    case .pad:
      let pads = graph.constant(node, 1)!.ints
      let value = graph.constant(node, 2)?.floats.first ?? 0
      return { Kernels.pad($0[0], pads: pads, value: value) }
    case .softmax(let axis):
      let a = axis < 0 ? axis + outputShape.count : axis
      return { Kernels.softmax($0[0], axis: a) }
    case .transpose(let perm): return { Kernels.transpose($0[0], perm: perm) }
    case .slice:
      // A Slice left by shape inference runs on activations with steps of 1: a crop.
      let pads = try NodeShapes(graph: graph, node: node).sliceCrop(graph.shape(of: node.inputs[0]) ?? []).pads
      return { Kernels.pad($0[0], pads: pads, value: 0) }
    case .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout:
      return { $0[0].reshaped(outputShape) }
    case .batchNorm, .gemm, .matMul, .shape, .gather, .cast, .constantOfShape, .reduceMean, .globalMaxPool:
      throw graph.error(node, "is not executable; canonicalize the graph first")
    }
  }

  /// Runs the plan on `input` (shape as bound at canonicalization). Returns the graph outputs
  /// and the values named in `keep`. Subnormal values are flushed to zero while it runs
  /// (`Kernels.withSubnormalsFlushed`).
  public func run(_ input: Tensor, keep: Set<ValueName> = []) throws -> [ValueName: Tensor] {
    try Kernels.withSubnormalsFlushed { try runSteps(input, keep: keep) }
  }

  private func runSteps(_ input: Tensor, keep: Set<ValueName>) throws -> [ValueName: Tensor] {
    guard input.shape == graph.shapes[graph.input] else {
      throw ModelError(file: graph.source, "input has shape \(input.shape); the plan was compiled for \(graph.shapes[graph.input] ?? [])")
    }
    let wanted = Set(graph.outputs).union(keep)
    var values = [Tensor?](repeating: nil, count: slots.count)
    values[0] = input
    let keptSlots = Set(wanted.compactMap { slots[$0] })
    for (index, step) in steps.enumerated() {
      let operands = step.operands.map { operand -> Tensor in
        switch operand {
        case .value(let slot): return values[slot]!
        case .constant(let tensor): return tensor
        }
      }
      for case .value(let slot) in step.operands where lastRead[slot] == index && !keptSlots.contains(slot) {
        values[slot] = nil
      }
      if let profile = Profile.shared {
        let start = DispatchTime.now().uptimeNanoseconds
        for (slot, value) in zip(step.outputs, step.kernel(operands)) { values[slot] = value }
        let node = graph.nodes[step.node]
        var key = step.label ?? node.op.name
        if case .conv(let conv) = node.op { key += " \(conv.window.kernelH)x\(conv.window.kernelW)/\(conv.window.strideH)" }
        if case .maxPool = node.op { key += " \(graph.shapes[node.inputs[0]] ?? [])" }
        profile.record(key, DispatchTime.now().uptimeNanoseconds - start)
      } else {
        for (slot, value) in zip(step.outputs, step.kernel(operands)) { values[slot] = value }
      }
    }
    var result: [ValueName: Tensor] = [:]
    for name in wanted {
      if let slot = slots[name], let value = values[slot] { result[name] = value }
      else if let c = graph.constants[name] { result[name] = c.tensor }
    }
    return result
  }
}
