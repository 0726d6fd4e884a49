/// CLRP2's dual (Gu et al. 2018, Sec. 3.3): the explained neuron with its incoming weights
/// negated. The head is the conv or dense layer that computes the explained value (reached
/// through nodes that pass relevance unchanged: ReLU under `pass`, reshapes). Only the head
/// changes, so the target map R and the dual map R* differ only in the relevance the head
/// hands down: R_in through the head's weights W and R*_in through −W (bias negated too),
/// both from the same start signal. Every layer below maps them with the same rules.
extension RelevancePlan {
  /// The head below `value` and `signal` ([K] + per-image shape of `value`) carried down to
  /// the head's output.
  func contrastiveHead(below value: ValueName, signal: Tensor, values: [ValueName: Tensor]) throws -> (node: Int, signal: Tensor) {
    let producers = graph.producers()
    var current = value, r = signal
    while let index = producers[current] {
      let node = graph.nodes[index]
      switch steps[index] {
      case .linear:
        return (index, r)
      case .pass, .reshape:
        var zeros = ZeroDenominators(signals: r.shape[0])
        guard let (input, carried) = backward(steps[index], node: node, r, values, r.shape[0], zeros: &zeros).first else { break }
        current = input
        r = carried
        continue
      default:
        break
      }
      throw graph.error(node, "clrp2 negates the weights of the Conv or Dense layer that computes '\(value)', reached through ReLUs and reshapes; \(node.op.name) is in the way (explain the value below it, or use lrp or clrp1)")
    }
    throw ModelError(file: graph.source, "clrp2 needs a Conv or Dense layer that computes '\(value)'; none is below it")
  }

  /// R_in and R*_in at the input of linear node `head` for `signal` ([1] + its output shape):
  /// the head's rule applied to the output channels where the signal is non-zero, once with
  /// their weights and bias and once with both negated.
  func contrastiveHeadRelevance(head: Int, signal r: Tensor, values: [ValueName: Tensor]) throws -> (target: Tensor, dual: Tensor) {
    let node = graph.nodes[head]
    guard case .linear = steps[head], case .linear(let rule)? = rules[head] else {
      throw graph.error(node, "clrp2 needs a linear rule on the layer whose weights it negates")
    }
    if case .convTranspose = node.op {
      throw graph.error(node, "clrp2 negates the weights of a Conv or Dense head; a ConvTranspose head is not supported (use lrp or clrp1)")
    }
    let conv: Conv2D? = { if case .conv(let c) = node.op { return c } else { return nil } }()
    let weight = graph.constant(node, 1)!.tensor
    let bias = graph.constant(node, 2)?.floats ?? [Float](repeating: 0, count: weight.shape[0])
    let outputs = weight.shape[0], perRow = weight.count / outputs
    let spatial = r.count / outputs
    let active = (0..<outputs).filter { m in (0..<spatial).contains { r.data[m * spatial + $0] != 0 } }
    let inputShape = graph.shapes[node.inputs[0]]!
    guard !active.isEmpty else { return (Tensor(zeros: inputShape), Tensor(zeros: inputShape)) }

    // A dense or ungrouped conv layer is cut down to the active output channels; a grouped
    // conv keeps its shape (its groups tie output channels to input channels).
    let rows = (conv?.group ?? 1) == 1 ? active : Array(0..<outputs)
    let negated = Set(active)
    var w = [Float](), b = [Float](), wNeg = [Float](), bNeg = [Float](), s = [Float]()
    w.reserveCapacity(rows.count * perRow)
    for m in rows {
      let row = weight.data[(m * perRow)..<((m + 1) * perRow)]
      w += row
      b.append(bias[m])
      wNeg += negated.contains(m) ? row.map { -$0 } : Array(row)
      bNeg.append(negated.contains(m) ? -bias[m] : bias[m])
      s += r.data[(m * spatial)..<((m + 1) * spatial)]
    }
    var shape = weight.shape
    shape[0] = rows.count
    var signalShape = r.shape
    signalShape[1] = rows.count
    let cut = Tensor(shape: signalShape, data: s)
    let nonNegativeInput = nonNegative.contains(node.inputs[0])
    let a = values[node.inputs[0]]!
    func relevance(_ weights: [Float], _ biases: [Float]) -> Tensor {
      let step = RelevancePlan.linearStep(weight: Tensor(shape: shape, data: weights), bias: biases, rule: rule, conv: conv,
                                          inputShape: inputShape, nonNegativeInput: nonNegativeInput)
      var zeros = ZeroDenominators(signals: cut.shape[0])
      return step.relevance(cut, activation: a, inputShape: inputShape, zeros: &zeros)
    }
    return (relevance(w, b), relevance(wNeg, bNeg))
  }
}
