import Dispatch
import Foundation

/// The result of propagating K relevance signals back to the input of one image.
public struct RelevanceResult: Sendable {
  /// Relevance at the graph input, shape [K] + the input's per-image shape.
  public var input: Tensor
  /// The forward values: graph outputs and the value the signals started at, batch 1.
  public var forward: [ValueName: Tensor]
  /// Per node in backward order: relevance sums per signal at its output and over its inputs
  /// (empty when not requested).
  public var layers: [LayerRelevance]
}

/// Where relevance went at one node: the sum arriving at its output and the sum it passed to
/// its inputs, per signal. A conserving rule keeps them equal.
public struct LayerRelevance: Sendable {
  public var node: String
  public var op: String
  public var rule: String
  public var outputSums: [Float]
  public var inputSums: [Float]
  /// Output positions whose denominator was exactly 0 while relevance arrived there (that share
  /// is lost: all of it for single-denominator rules, one side of it for alpha-beta).
  public var zeroDenominators: Int
  /// Per signal, the relevance that arrived at those positions: what a single-denominator rule
  /// loses there (its numerators vanish with the denominator), so a node's leak can be checked
  /// against it exactly.
  public var zeroDenominatorRelevance: [Float]
}

/// Where a backward step met denominators that are exactly 0 (before stabilization) while
/// relevance arrived: how many such output positions, and the relevance arriving there per signal.
struct ZeroDenominators {
  var count = 0
  var arriving: [Double]

  init(signals: Int) { arriving = [Double](repeating: 0, count: signals) }

  /// Records position `i` of an image of `per` values in `r` ([K, ...]) if relevance arrives there.
  mutating func record(_ r: Tensor, position i: Int, per: Int) {
    var carried = false
    for (k, j) in stride(from: i, to: r.count, by: per).enumerated() where r.data[j] != 0 {
      arriving[k] += Double(r.data[j])
      carried = true
    }
    if carried { count += 1 }
  }
}

extension RelevancePlan {
  /// Explains `classes` of the graph's first output: each signal is the one-hot of the class
  /// times its logit (the pre-softmax score is the relevance to distribute).
  ///
  /// `layerSums`: whether to record the relevance sums per node (`RelevanceResult.layers`).
  public func explain(_ input: Tensor, classes: [Int], layerSums: Bool = true) throws -> RelevanceResult {
    try explain(forward.run(input, keep: kept), classes: classes, layerSums: layerSums)
  }

  /// Explains the `count` highest-scoring classes (highest first), with one forward pass.
  public func explainTopClasses(_ input: Tensor, count: Int, layerSums: Bool = true) throws -> (classes: [Int], result: RelevanceResult) {
    let forwardValues = try forward.run(input, keep: kept)
    let logits = forwardValues[graph.outputs[0]]!.data
    guard (1...logits.count).contains(count) else {
      throw ModelError(file: graph.source, "cannot explain the top \(count) of \(logits.count) classes")
    }
    let classes = Array(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(count))
    return (classes, try explain(forwardValues, classes: classes, layerSums: layerSums))
  }

  private func explain(_ forwardValues: [ValueName: Tensor], classes: [Int], layerSums: Bool) throws -> RelevanceResult {
    let output = graph.outputs[0]
    let logits = forwardValues[output]!
    let count = logits.count
    var signals = [Float](repeating: 0, count: classes.count * count)
    for (k, c) in classes.enumerated() {
      guard (0..<count).contains(c) else {
        throw ModelError(file: graph.source, "class \(c) is out of range: the model has \(count) outputs (0 to \(count - 1))")
      }
      signals[k * count + c] = logits.data[c]
    }
    return try propagate(forwardValues, signals: Tensor(shape: [classes.count] + logits.shape.dropFirst(), data: signals),
                         at: output, layerSums: layerSums)
  }

  /// Propagates `signals` ([K] + per-image shape of `value`) from `value` back to the input.
  public func explain(_ input: Tensor, signals: Tensor, at value: ValueName, layerSums: Bool = true) throws -> RelevanceResult {
    let forwardValues = try forward.run(input, keep: kept.union([value]))
    guard let start = forwardValues[value] else {
      throw ModelError(file: graph.source, "value '\(value)' is not computed by the graph, or not kept by this plan (a conv or dense output that runs fused with its ReLU: start at the ReLU's output)")
    }
    guard Array(signals.shape.dropFirst()) == Array(start.shape.dropFirst()) else {
      throw ModelError(file: graph.source, "signals of shape \(signals.shape) do not match '\(value)' of shape \(start.shape) (expected [K] + \(Array(start.shape.dropFirst())))")
    }
    return try propagate(forwardValues, signals: signals, at: value, layerSums: layerSums)
  }

  /// Propagates `signals` from `start` back to the input with subnormals flushed to zero
  /// (`Kernels.withSubnormalsFlushed`).
  func propagate(_ values: [ValueName: Tensor], signals: Tensor, at start: ValueName, layerSums: Bool) throws -> RelevanceResult {
    try Kernels.withSubnormalsFlushed { try propagateSteps(values, signals: signals, at: start, layerSums: layerSums) }
  }

  private func propagateSteps(_ values: [ValueName: Tensor], signals: Tensor, at start: ValueName, layerSums: Bool) throws -> RelevanceResult {
    let k = signals.shape[0]
    var relevance: [ValueName: Tensor] = [start: signals]
    var layers: [LayerRelevance] = []
    for index in graph.nodes.indices.reversed() {
      let node = graph.nodes[index]
      guard let r = relevance.removeValue(forKey: node.output) else { continue }
      var zeros = ZeroDenominators(signals: k)
      let started = Profile.shared == nil ? 0 : DispatchTime.now().uptimeNanoseconds
      let contributions = backward(steps[index], node: node, r, values, k, zeros: &zeros)
      Profile.shared?.record("relevance " + node.op.name, DispatchTime.now().uptimeNanoseconds - started)
      var inputSums = [Float](repeating: 0, count: k)
      for (name, tensor) in contributions where !graph.isConstant(name) {
        if layerSums {
          let sums = tensor.signalSums(k)
          for s in 0..<k { inputSums[s] += sums[s] }
        }
        if let existing = relevance[name] {
          relevance[name] = Kernels.broadcast(existing, tensor, .add)
        } else {
          relevance[name] = tensor
        }
      }
      if layerSums {
        layers.append(LayerRelevance(node: node.name, op: node.op.name, rule: (rules[index] ?? .pass).description,
                                     outputSums: r.signalSums(k), inputSums: inputSums, zeroDenominators: zeros.count,
                                     zeroDenominatorRelevance: zeros.arriving.map { Float($0) }))
      }
    }
    let inputShape = [k] + graph.shapes[graph.input]!.dropFirst()
    let atInput = relevance[graph.input] ?? Tensor(zeros: inputShape)
    var forwardOut: [ValueName: Tensor] = [:]
    for name in graph.outputs + [start] { forwardOut[name] = values[name] }
    return RelevanceResult(input: atInput, forward: forwardOut, layers: layers)
  }

  /// The relevance each (non-constant) input of `node` receives from `r` ([K] + output shape).
  func backward(_ step: Backward, node: Node, _ r: Tensor, _ values: [ValueName: Tensor], _ k: Int,
                zeros: inout ZeroDenominators) -> [(ValueName, Tensor)] {
    let x = node.inputs[0]
    guard node.inputs.contains(where: { !$0.isEmpty && !graph.isConstant($0) }) else { return [] }
    let inputShape = [k] + (graph.shape(of: x).map { Array($0.dropFirst()) } ?? [])
    switch step {
    case .pass:
      let live = node.inputs.first { !graph.isConstant($0) }!
      return [(live, r)]
    case .reshape:
      return [(x, r.reshaped(inputShape))]
    case .transpose(let inverse):
      return [(x, Kernels.transpose(r, perm: inverse))]
    case .crop(let pads):
      return [(x, Kernels.pad(r, pads: pads.map { -$0 }, value: 0))]
    case .concat(let axis):
      var offset = 0
      return node.inputs.map { name in
        let size = graph.shape(of: name)![axis]
        defer { offset += size }
        return (name, r.slice(axis: axis, range: offset..<(offset + size)))
      }
    case .winnerTakeAll:
      let argmax = values[ForwardPlan.switchesName(of: node)]!.data.map { Int32($0) }
      let tiled = Array([[Int32]](repeating: argmax, count: k).joined())
      return [(x, Kernels.maxPoolScatter(r, argmax: tiled, inputShape: inputShape))]
    case .proportional(let window):
      let a = values[x]!
      let s = r.dividedStabilized(by: WindowSums.sum(a, window), epsilon: 1e-6, zeros: &zeros)
      return [(x, WindowSums.scatter(s, window, inputShape: inputShape).multiplied(byImage: a))]
    case .uniform(let window, let inverseDivisors):
      let s = r.multiplied(byImage: inverseDivisors)
      return [(x, WindowSums.scatter(s, window, inputShape: inputShape))]
    case .preluGradient(let slopes):
      return [(x, r.multiplied(byImage: PReluChannels.derivative(values[x]!, slopes: slopes)))]
    case .activationGradient(let activation):
      let a = values[x]!
      let function = activation.function
      return [(x, r.multiplied(byImage: Kernels.elementwise(a) { function.derivative($0) }))]
    case .guidedReLU:
      let a = values[x]!
      var out = r.data
      let per = a.count
      for i in out.indices where !(out[i] > 0 && a.data[i % per] > 0) { out[i] = 0 }
      return [(x, Tensor(shape: r.shape, data: out))]
    case .deconvReLU:
      return [(x, Tensor(shape: r.shape, data: r.data.map { max($0, 0) }))]
    case .sumGradient:
      return [(node.inputs[0], r), (node.inputs[1], r)]
    case .scale(let factors):
      let live = node.inputs.first { !graph.isConstant($0) }!
      return [(live, r.multiplied(byImage: Tensor(shape: [factors.count], data: factors)))]
    case .resizeAdjoint(let rows, let columns):
      return [(x, Kernels.resize2dTransposed(r, rows: rows, columns: columns, inputShape: inputShape))]
    case .layerNormCentering(let axis, let epsilon):
      return [(x, layerNormCentering(r, input: values[x]!, axis: axis, epsilon: epsilon, zeros: &zeros))]
    case .layerNormGradient(let axis, let epsilon, let scale):
      return [(x, layerNormGradient(r, input: values[x]!, axis: axis, epsilon: epsilon, scale: scale))]
    case .registered(let step):
      return step.apply(r, values, k)
    case .lrnGradient(let p):
      return [(x, lrnGradient(r, input: values[x]!, p))]
    case .residualSplit:
      let a = values[node.inputs[0]]!, b = values[node.inputs[1]]!
      let s = r.dividedStabilized(by: Kernels.broadcast(a, b, .add), epsilon: 1e-6, zeros: &zeros)
      return [(node.inputs[0], s.multiplied(byImage: a)), (node.inputs[1], s.multiplied(byImage: b))]
    case .residualAbsSplit:
      let a = values[node.inputs[0]]!, b = values[node.inputs[1]]!
      let absA = Kernels.elementwise(a) { abs($0) }, absB = Kernels.elementwise(b) { abs($0) }
      let s = r.dividedStabilized(by: Kernels.broadcast(absA, absB, .add), epsilon: 0, zeros: &zeros)
      return [(node.inputs[0], s.multiplied(byImage: absA)), (node.inputs[1], s.multiplied(byImage: absB))]
    case .residualEqual:
      let half = Kernels.elementwise(r) { $0 / 2 }
      return [(node.inputs[0], half), (node.inputs[1], half)]
    case .gate(let signal, let share):
      let toSignal = share == 1 ? r : Kernels.elementwise(r) { $0 * share }
      guard share < 1 else { return [(node.inputs[signal], toSignal)] }
      let gate = node.inputs[1 - signal]
      let toGate = Kernels.elementwise(r) { $0 * (1 - share) }
      return [(node.inputs[signal], toSignal), (gate, toGate.summed(toImageShape: graph.shape(of: gate)!))]
    case .productGradient:
      let outputShape = graph.shapes[node.output]!
      return (0..<2).map { i in
        let other = values[node.inputs[1 - i]]!
        let factors = broadcastIndices(from: other.shape, to: outputShape).map { other.data[$0] }
        let g = r.multiplied(byImage: Tensor(shape: outputShape, data: factors))
        return (node.inputs[i], g.summed(toImageShape: graph.shape(of: node.inputs[i])!))
      }
    case .linear(let linear):
      let z = linear.lowering.denominatorIsForwardOutput ? values[node.output] : nil
      return [(x, linear.relevance(r, activation: values[x]!, forwardOutput: z, inputShape: inputShape, zeros: &zeros))]
    }
  }
}

/// The input-gradient of ONNX LRN for output gradients g ([K, C, ...]) at input x ([1, C, ...]):
/// with d_c = bias + α/n Σ_{c' ∈ N(c)} x_c'², y_c = x_c d_c^-β,
///   ∂L/∂x_k = g_k d_k^-β − (2αβ/n) x_k Σ_{c : k ∈ N(c)} g_c x_c d_c^(-β-1),
/// N(c) = [c − ⌊(n−1)/2⌋, c + ⌈(n−1)/2⌉].
func lrnGradient(_ g: Tensor, input x: Tensor, _ p: LRNParameters) -> Tensor {
  let channels = x.shape[1], spatial = x.count / channels
  let before = (p.size - 1) / 2, after = p.size - 1 - before
  var d = [Float](repeating: p.bias, count: x.count)
  for c in 0..<channels {
    for c2 in max(0, c - before)...min(channels - 1, c + after) {
      for i in 0..<spatial { d[c * spatial + i] += p.alpha / Float(p.size) * x.data[c2 * spatial + i] * x.data[c2 * spatial + i] }
    }
  }
  var out = [Float](repeating: 0, count: g.count)
  let per = x.count
  for k in 0..<(g.count / per) {
    let base = k * per
    var t = [Float](repeating: 0, count: per)
    for i in 0..<per { t[i] = g.data[base + i] * x.data[i] * powf(d[i], -p.beta - 1) }
    for c in 0..<channels {
      for i in 0..<spatial {
        let idx = c * spatial + i
        var sum: Float = 0
        // c' with c ∈ N(c'): c' − before ≤ c ≤ c' + after.
        for c2 in max(0, c - after)...min(channels - 1, c + before) { sum += t[c2 * spatial + i] }
        out[base + idx] = g.data[base + idx] * powf(d[idx], -p.beta) - 2 * p.alpha * p.beta / Float(p.size) * x.data[idx] * sum
      }
    }
  }
  return Tensor(shape: g.shape, data: out)
}

extension RelevancePlan.LinearStep {
  /// R_in for output relevance `r` ([K, M, ...]) and the layer's forward input `a` ([1, ...]);
  /// `forwardOutput`, when given, is the layer's output, the denominator of the epsilon rule.
  func relevance(_ r: Tensor, activation a: Tensor, forwardOutput: Tensor? = nil, inputShape: [Int], zeros: inout ZeroDenominators) -> Tensor {
    var inputs: [LinearRuleLowering.Input: Tensor] = [:]
    for variant in lowering.inputVariants { inputs[variant] = lowering.modify(input: a, variant) }
    var result: [Float]?
    if let blocks = denseBlocks {
      // Rows of a dense layer are independent: z_j, s_j and their share of R_in need only row j.
      // Each block's modified weights are written into buffers reused across blocks.
      let (rows, columns) = (blocks.weight.shape[0], blocks.weight.shape[1])
      let k = r.shape[0]
      let variants = Array(lowering.weightVariants)
      var buffers = variants.map { _ in [Float](repeating: 0, count: blocks.rows * columns) }
      for start in stride(from: 0, to: rows, by: blocks.rows) {
        let count = min(blocks.rows, rows - start)
        var weights: [LinearRuleLowering.Weight: Tensor] = [:]
        for (v, variant) in variants.enumerated() {
          if count < blocks.rows { buffers[v] = [Float](repeating: 0, count: count * columns) }
          buffers[v].withUnsafeMutableBufferPointer { out in
            blocks.weight.data.withUnsafeBufferPointer { w in
              LinearRuleLowering.modify(UnsafeBufferPointer(rebasing: w[(start * columns)..<((start + count) * columns)]), variant, into: out.baseAddress!)
            }
          }
          weights[variant] = Tensor(shape: [count, columns], data: buffers[v])
        }
        var biases: [LinearRuleLowering.Bias: [Float]] = [:]
        for (variant, b) in self.biases { biases[variant] = Array(b[start..<(start + count)]) }
        var rBlock = [Float](repeating: 0, count: k * count)
        for s in 0..<k { for j in 0..<count { rBlock[s * count + j] = r.data[s * rows + start + j] } }
        accumulate(Tensor(shape: [k, count], data: rBlock), inputs, weights: weights, biases: biases,
                   inputShape: inputShape, into: &result, zeros: &zeros)
      }
    } else {
      accumulate(r, inputs, weights: weights, biases: biases, forwardOutput: forwardOutput, precomputed: imageIndependentZ,
                 inputShape: inputShape, into: &result, zeros: &zeros)
    }
    return Tensor(shape: inputShape, data: result ?? [Float](repeating: 0, count: inputShape.elementCount))
  }

  /// Adds Σ_d λ_d Σ_t c_t in_t ⊙ W_tᵀ(r / stab(z_d)) to `result` (nil: not yet allocated).
  /// z_d for one image: Σ_t c_t F(in_t, W_t) + bias_d over the terms `include` selects.
  private func denominator(_ d: LinearRuleLowering.Denominator, _ inputs: [LinearRuleLowering.Input: Tensor],
                           weights: [LinearRuleLowering.Weight: Tensor], bias: [Float]?, outputCount: Int,
                           including include: (LinearRuleLowering.Term) -> Bool) -> [Float] {
    var sum: [Float]?
    for t in d.terms where include(t) {
      let t0 = Profile.shared == nil ? 0 : DispatchTime.now().uptimeNanoseconds
      let part = forward(inputs[t.input]!, weights[t.weight]!)
      Profile.shared?.record("  z forward", DispatchTime.now().uptimeNanoseconds - t0)
      if sum == nil && t.coefficient == 1 {
        sum = part.data  // 0 + 1·part, exactly
        continue
      }
      if sum == nil { sum = [Float](repeating: 0, count: outputCount) }
      sum!.withUnsafeMutableBufferPointer { zb in
        part.data.withUnsafeBufferPointer { pb in
          Kernels.parallelChunks(zb.count, work: zb.count) { range in
            for i in range { zb[i] += t.coefficient * pb[i] }
          }
        }
      }
    }
    var z = sum ?? [Float](repeating: 0, count: outputCount)
    if let bias {
      let spatial = outputCount / bias.count
      z.withUnsafeMutableBufferPointer { zb in
        Kernels.parallelChunks(bias.count, work: outputCount) { filters in
          for m in filters { for i in 0..<spatial { zb[m * spatial + i] += bias[m] } }
        }
      }
    }
    return z
  }

  /// The image-independent part of every denominator (terms on bounds or ones, and the bias),
  /// for an input of `inputShape` ([1, ...]), built once when the plan is compiled.
  func imageIndependentDenominators(inputShape: [Int]) -> [[Float]] {
    let a = Tensor(zeros: inputShape)
    var inputs: [LinearRuleLowering.Input: Tensor] = [:]
    for variant in lowering.inputVariants where variant.isImageIndependent { inputs[variant] = lowering.modify(input: a, variant) }
    let outputCount = forward(a, weights.values.first!).count
    return lowering.denominators.map { d in
      denominator(d, inputs, weights: weights, bias: d.bias.map { biases[$0]! }, outputCount: outputCount) { $0.input.isImageIndependent }
    }
  }

  private func accumulate(_ r: Tensor, _ inputs: [LinearRuleLowering.Input: Tensor],
                          weights: [LinearRuleLowering.Weight: Tensor], biases: [LinearRuleLowering.Bias: [Float]],
                          forwardOutput: Tensor? = nil, precomputed: [[Float]]? = nil,
                          inputShape: [Int], into result: inout [Float]?, zeros: inout ZeroDenominators) {
    let outputCount = r.count / r.shape[0]
    for (index, d) in lowering.denominators.enumerated() {
      let s: Tensor
      if let z = forwardOutput {
        s = r.dividedStabilized(by: z, epsilon: lowering.epsilon, zeros: &zeros)
      } else if lowering.normalized {
        var z: [Float]
        if let base = precomputed?[index] {
          z = denominator(d, inputs, weights: weights, bias: nil, outputCount: outputCount) { !$0.input.isImageIndependent }
          z.withUnsafeMutableBufferPointer { zb in
            base.withUnsafeBufferPointer { bb in
              Kernels.parallelChunks(zb.count, work: zb.count) { range in for i in range { zb[i] += bb[i] } }
            }
          }
        } else {
          z = denominator(d, inputs, weights: weights, bias: d.bias.map { biases[$0]! }, outputCount: outputCount) { _ in true }
        }
        s = r.dividedStabilized(by: Tensor(shape: [1] + r.shape.dropFirst(), data: z), epsilon: lowering.epsilon, zeros: &zeros)
      } else {
        s = r
      }
      for t in d.terms {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var c = transposed(s, t.weight, weights, inputShape: inputShape)
        Profile.shared?.record("  transposed", DispatchTime.now().uptimeNanoseconds - t0)
        let factor = d.weight * t.coefficient
        let m = lowering.normalized && t.input != .ones ? inputs[t.input]! : nil
        let per = c.count / inputShape[0]
        if result == nil {
          // The first term scales its own fresh buffer, which becomes the result.
          c.data.withUnsafeMutableBufferPointer { cb in
            if let m {
              m.data.withUnsafeBufferPointer { mb in
                forEachImageRun(count: cb.count, per: per) { run, offset in
                  for i in run { cb[i] *= factor * mb[i - offset] }
                }
              }
            } else if factor != 1 {
              Kernels.parallelChunks(cb.count, work: cb.count) { range in for i in range { cb[i] *= factor } }
            }
          }
          result = c.data
          continue
        }
        result!.withUnsafeMutableBufferPointer { rb in
          c.data.withUnsafeBufferPointer { cb in
            if let m {
              m.data.withUnsafeBufferPointer { mb in
                forEachImageRun(count: rb.count, per: per) { run, offset in
                  for i in run { rb[i] += factor * mb[i - offset] * cb[i] }
                }
              }
            } else {
              Kernels.parallelChunks(rb.count, work: rb.count) { range in for i in range { rb[i] += factor * cb[i] } }
            }
          }
        }
      }
    }
  }

  func forward(_ x: Tensor, _ w: Tensor) -> Tensor {
    if transposedConvolution, let conv, let shape = transposedOutputShape {
      return Kernels.conv2dTransposedInput(x, weight: w, window: conv.window, group: conv.group, inputShape: [x.shape[0]] + shape.dropFirst())
    }
    if let conv { return Kernels.conv2d(x, weight: w, bias: nil, window: conv.window, group: conv.group) }
    return Kernels.dense(x, weight: w, bias: nil)
  }

  /// Wᵀ s for the weight variant, [K] + input shape.
  private func transposed(_ s: Tensor, _ variant: LinearRuleLowering.Weight,
                          _ weights: [LinearRuleLowering.Weight: Tensor], inputShape: [Int]) -> Tensor {
    if let t = transposedAsConv {
      return Kernels.conv2d(s, weight: transposedWeights[variant]!, bias: nil, window: t.window, group: t.group)
    }
    let w = weights[variant]!
    if transposedConvolution, let conv { return Kernels.conv2d(s, weight: w, bias: nil, window: conv.window, group: conv.group) }
    if let conv { return Kernels.conv2dTransposedInput(s, weight: w, window: conv.window, group: conv.group, inputShape: inputShape) }
    return Kernels.denseTransposed(s, weight: w)
  }
}

extension Tensor {
  /// Sum over each of the `k` leading slices.
  public func signalSums(_ k: Int) -> [Float] {
    let per = count / k
    return (0..<k).map { s in
      var total: Double = 0
      for i in (s * per)..<((s + 1) * per) { total += Double(data[i]) }
      return Float(total)
    }
  }

  /// self ([K, ...]) divided elementwise by stab(z) ([1, ...] broadcast over K):
  /// stab(z) = z + ε·sign(z), sign(0) = +1; a zero denominator with ε = 0 gives 0.
  /// `zeros` records the denominators that are exactly 0 before stabilization while relevance
  /// arrives there (that relevance is dropped where the numerators vanish too).
  func dividedStabilized(by z: Tensor, epsilon: Float, zeros: inout ZeroDenominators) -> Tensor {
    let per = z.count
    z.data.withUnsafeBufferPointer { zb in
      for i in 0..<per where zb[i] == 0 { zeros.record(self, position: i, per: per) }
    }
    let inverse = [Float](unsafeUninitializedCapacity: per) { inv, initialized in
      z.data.withUnsafeBufferPointer { zb in
        Kernels.parallelChunks(per, work: per) { range in
          for i in range {
            let v = zb[i]
            let stabilized = v >= 0 ? v + epsilon : v - epsilon
            inv[i] = stabilized == 0 ? 0 : 1 / stabilized
          }
        }
      }
      initialized = per
    }
    return scaledPerImage(by: inverse)
  }

  /// self ([K, ...]) times m ([1, ...]) broadcast over K.
  func multiplied(byImage m: Tensor) -> Tensor { scaledPerImage(by: m.data) }

  /// self ([K, ...]) times `factors` (one image's worth of values) in every signal slice
  /// (`Kernels.broadcast` of [K, per] by [1, per]).
  private func scaledPerImage(by factors: [Float]) -> Tensor {
    let per = factors.count
    precondition(per > 0 && count % per == 0, "scaledPerImage: \(count) values are not whole images of \(per)")
    let product = Kernels.broadcast(Tensor(shape: [count / per, per], data: data), Tensor(shape: [1, per], data: factors), .mul)
    return Tensor(shape: shape, data: product.data)
  }

  /// self ([K] + one image's output shape) summed over the axes along which an operand of
  /// `imageShape` ([1, ...], numpy broadcasting) was broadcast: [K] + imageShape's tail.
  func summed(toImageShape imageShape: [Int]) -> Tensor {
    let k = shape[0]
    let outputShape = [1] + Array(shape.dropFirst())
    guard imageShape != outputShape else { return self }
    let targets = broadcastIndices(from: imageShape, to: outputShape)
    let per = targets.count, inputCount = imageShape.elementCount
    var out = [Float](repeating: 0, count: k * inputCount)
    for s in 0..<k {
      for (i, t) in targets.enumerated() { out[s * inputCount + t] += data[s * per + i] }
    }
    return Tensor(shape: [k] + imageShape.dropFirst(), data: out)
  }

  /// The sub-tensor with `axis` restricted to `range`.
  func slice(axis: Int, range: Range<Int>) -> Tensor {
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    var out: [Float] = []
    out.reserveCapacity(outer * range.count * inner)
    for o in 0..<outer {
      let base = o * shape[axis] * inner
      out += data[(base + range.lowerBound * inner)..<(base + range.upperBound * inner)]
    }
    var newShape = shape
    newShape[axis] = range.count
    return Tensor(shape: newShape, data: out)
  }
}

/// Runs `body(run, offset)` over `0..<count` split into chunks on the thread pool
/// (`Kernels.parallelChunks`), each chunk cut at the boundaries of images of `per` values:
/// every `run` lies inside one image, which starts at `offset` (so `i - offset` indexes a
/// per-image operand).
func forEachImageRun(count: Int, per: Int, _ body: (_ run: Range<Int>, _ offset: Int) -> Void) {
  Kernels.parallelChunks(count, work: count) { range in
    var i = range.lowerBound
    while i < range.upperBound {
      let offset = i / per * per, end = min(range.upperBound, offset + per)
      body(i..<end, offset)
      i = end
    }
  }
}
