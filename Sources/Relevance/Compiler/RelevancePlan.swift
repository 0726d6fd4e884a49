/// A canonical graph with one rule per node, compiled into a forward plan that keeps what the
/// backward pass reads and one backward step per node, modified weights built once.
public struct RelevancePlan: Sendable {
  /// How one node maps the relevance of its output onto its (non-constant) inputs.
  enum Backward: Sendable {
    case linear(LinearStep)
    /// Relevance unchanged (activations, LRN, affine, constant elementwise).
    case pass
    /// The same values under the input's shape.
    case reshape
    case transpose(inverse: [Int])
    case concat(axis: Int)
    /// The adjoint of `Kernels.pad` with `pads` (Pad: crop the border away; Slice, whose
    /// forward is a pad with non-positive amounts: put each element back where it was copied
    /// from, zeros elsewhere). Conserving as long as the forward pad added only constants.
    case crop(pads: [Int])
    /// Each window's relevance to its arg-max input; the switches come from the forward pass.
    case winnerTakeAll
    case proportional(Window2D)
    /// R_j / divisor_j to every in-bounds position of window j, divisor as the forward pass
    /// averaged (padded positions count with count_include_pad): the average-pool gradient.
    /// `inverseDivisors` holds 1 / divisor_j for one image, built at compile time.
    case uniform(Window2D, inverseDivisors: Tensor)
    /// Relevance times the activation's derivative at its input.
    case activationGradient(Activation)
    /// Relevance times PRelu's derivative at its input (1, or the channel's slope).
    case preluGradient(slopes: [Float])
    /// ReLU in guided backpropagation: g · [x > 0] · [g > 0].
    case guidedReLU
    /// ReLU in the deconvnet: max(0, g).
    case deconvReLU
    /// The gradient of an elementwise product with constant factors (affine scale, Mul, Div):
    /// relevance times the factor, broadcast to one image.
    case scale([Float])
    /// Resampling's adjoint: each output's relevance back to the input positions it read, in
    /// proportion to their interpolation weights (which sum to 1: conserving); also its gradient.
    case resizeAdjoint(rows: [Kernels.InterpolationTaps], columns: [Kernels.InterpolationTaps])
    /// LayerNormalization's LN-rule (Ali et al. 2022, see `layerNormCentering`).
    case layerNormCentering(axis: Int, epsilon: Float)
    /// The input-gradient of LayerNormalization (see `layerNormGradient`).
    case layerNormGradient(axis: Int, epsilon: Float, scale: [Float])
    /// The gradient of LRN (see `lrnGradient`).
    case lrnGradient(LRNParameters)
    /// Two activations added: R_a = a / stab(a + b) · R and likewise for b.
    case residualSplit
    /// Two activations added: R_a = |a| / (|a| + |b|) · R and likewise for b.
    case residualAbsSplit
    /// Two activations added: R/2 each.
    case residualEqual
    /// Two activations added, gradient: both receive R unchanged.
    case sumGradient
    /// A signal (input `signal`, of the output's shape) times a gate (the other input):
    /// `share` · R to the signal, (1 − share) · R to the gate, summed over its broadcast axes.
    case gate(signal: Int, share: Float)
    /// A step a registered op defines itself (see `OperatorDefinition.backward`).
    case registered(OperatorBackward)
    /// Two activations multiplied, gradient: g_a = R · b, g_b = R · a, each summed over the
    /// axes its operand was broadcast along.
    case productGradient

    /// Whether the step maps relevance linearly onto its inputs (given the forward pass).
    var isLinearInRelevance: Bool {
      switch self {
      case .guidedReLU, .deconvReLU: return false
      case .registered(let step): return step.isLinearInRelevance
      default: return true
      }
    }
  }

  /// Whether every step maps relevance linearly onto its inputs, given the forward pass: then
  /// propagating s − s* gives R(s) − R(s*), and a contrastive map costs one signal.
  public var isLinearInRelevance: Bool { steps.allSatisfy(\.isLinearInRelevance) }

  struct LinearStep: Sendable {
    var lowering: LinearRuleLowering
    var conv: Conv2D?
    var weights: [LinearRuleLowering.Weight: Tensor]
    var biases: [LinearRuleLowering.Bias: [Float]]
    /// For stride-1 convolutions: the transposed convolution as a plain one (see
    /// `TransposedConvolution`), with its weights per variant; nil otherwise.
    var transposedAsConv: TransposedConvolution?
    var transposedWeights: [LinearRuleLowering.Weight: Tensor] = [:]
    /// For large dense layers: the plain weight (shared with the forward plan), whose variants
    /// are built `rows` at a time during the relevance pass instead of being stored.
    var denseBlocks: (weight: Tensor, rows: Int)?
    /// A ConvTranspose: the layer computes `conv`'s adjoint (forward and transposed swap);
    /// `transposedOutputShape` is its output shape ([1, ...]).
    var transposedConvolution = false
    var transposedOutputShape: [Int]? = nil
    /// Per denominator: its image-independent part (terms on bounds or ones, and the bias),
    /// for one image; nil where the step builds weights per block.
    var imageIndependentZ: [[Float]]?
  }

  /// Dense weights above this many values get their variants built block by block (a stored
  /// w⁺ of VGG16's first dense layer would be 411 MB).
  public static let defaultDenseBlockThreshold = 1 << 22

  public let forward: ForwardPlan
  public let rules: [Rule?]
  let steps: [Backward]
  /// Values the backward steps read from the forward pass, and those asked to be kept.
  let kept: Set<ValueName>
  /// Values that cannot be negative (see `Graph.nonNegativeValues`).
  let nonNegative: Set<ValueName>

  public var graph: Graph { forward.graph }

  /// Compiles `graph` (canonical, batch 1) with `rules[i]` for node i. Dense weights with more
  /// than `denseBlockThreshold` values keep no modified copies (see `LinearStep.denseBlocks`).
  /// The values in `keep` are kept by the forward pass too (relevance can start there), even
  /// a conv output the forward pass would otherwise fuse with its ReLU.
  public init(graph: Graph, rules: [Rule?], keep: Set<ValueName> = [],
              denseBlockThreshold: Int = RelevancePlan.defaultDenseBlockThreshold) throws {
    precondition(rules.count == graph.nodes.count)
    guard graph.shapes[graph.input]?.first == 1 else {
      throw ModelError(file: graph.source, "relevance plans explain one image at a time; compile for batch 1")
    }
    self.rules = rules
    var steps: [Backward] = []
    var kept = keep
    var switches: Set<Int> = []
    let nonNegative = graph.nonNegativeValues()
    for (index, node) in graph.nodes.enumerated() {
      let step = try RelevancePlan.lower(node, rule: rules[index] ?? RuleTarget(node, in: graph).defaultRule ?? .pass, graph: graph,
                                         nonNegativeInput: nonNegative.contains(node.inputs[0]),
                                         denseBlockThreshold: denseBlockThreshold)
      switch step {
      case .pass, .reshape, .transpose, .concat, .crop, .uniform: break
      case .residualSplit, .residualAbsSplit, .productGradient: kept.formUnion(node.inputs)
      case .sumGradient, .deconvReLU, .residualEqual, .gate: break
      case .registered(let registered): kept.formUnion(registered.reads)
      case .winnerTakeAll:
        switches.insert(index)
        kept.insert(ForwardPlan.switchesName(of: node))
      case .linear(let linear) where linear.lowering.denominatorIsForwardOutput:
        kept.formUnion([node.inputs[0], node.output])
      default: kept.insert(node.inputs[0])
      }
      steps.append(step)
    }
    self.steps = steps
    self.kept = kept
    self.nonNegative = nonNegative
    forward = try ForwardPlan(graph: graph, keep: kept, switches: switches)
  }

  static func lower(_ node: Node, rule: Rule, graph: Graph, nonNegativeInput: Bool = false,
                    denseBlockThreshold: Int = defaultDenseBlockThreshold) throws -> Backward {
    func unsupported() -> ModelError {
      graph.error(node, "rule '\(rule)' cannot serve a \(node.op.name) node")
    }
    let target = RuleTarget(node, in: graph)
    guard RuleCatalog.definition(of: rule).serves.contains(target) else { throw unsupported() }
    switch node.op {
    case .conv(let conv):
      guard case .linear(let linear) = rule else { throw unsupported() }
      return .linear(linearStep(node, linear, conv: conv, graph: graph, nonNegativeInput: nonNegativeInput))
    case .convTranspose(let t):
      guard case .linear(let linear) = rule else { throw unsupported() }
      var step = linearStep(node, linear, conv: t.adjointConv, graph: graph, nonNegativeInput: nonNegativeInput,
                            transposedOutputShape: graph.shapes[node.output]!)
      step.transposedConvolution = true
      return .linear(step)
    case .dense:
      guard case .linear(let linear) = rule else { throw unsupported() }
      return .linear(linearStep(node, linear, conv: nil, graph: graph, nonNegativeInput: nonNegativeInput,
                                denseBlockThreshold: denseBlockThreshold))
    case .maxPool(let pool), .avgPool(let pool):
      let isMax: Bool = { if case .maxPool = node.op { return true } else { return false } }()
      switch rule {
      case .winnerTakeAll where isMax, .gradient where isMax: return .winnerTakeAll
      case .proportional: return .proportional(pool.window)
      case .uniform where !isMax, .gradient where !isMax:
        return .uniform(pool.window, inverseDivisors: inverseDivisors(pool.window, countIncludePad: pool.countIncludePad,
                                                                      inputShape: graph.shapes[node.inputs[0]]!))
      default: throw unsupported()
      }
    case .globalAvgPool:
      let shape = graph.shapes[node.inputs[0]]!
      guard shape.count == 4 else { throw graph.error(node, "relevance through GlobalAveragePool needs a 4-D input, got \(shape)") }
      let window = Window2D(kernelH: shape[2], kernelW: shape[3])
      switch rule {
      case .proportional: return .proportional(window)
      case .uniform, .gradient:
        return .uniform(window, inverseDivisors: inverseDivisors(window, countIncludePad: false, inputShape: shape))
      default: throw unsupported()
      }
    case .activation(let activation):
      switch rule {
      case .pass: return .pass
      case .gradient: return .activationGradient(activation)
      case .guidedBackprop where activation.servesGuidedRules: return .guidedReLU
      case .deconvnet where activation.servesGuidedRules: return .deconvReLU
      default: throw unsupported()
      }
    case .registered(let r):
      guard let step = try r.definition.backward(rule, node: node, graph: graph) else { throw unsupported() }
      return step
    case .affine:
      switch rule {
      case .pass: return .pass
      case .gradient:
        let shape = graph.shapes[node.inputs[0]]!
        let scale = graph.constant(node, 1)!.floats
        let spatial = shape.elementCount / max(shape[1], 1)
        return .scale(scale.flatMap { [Float](repeating: $0, count: spatial) })
      default: throw unsupported()
      }
    case .elementwise(let op):
      let live = node.inputs.filter { !graph.isConstant($0) }
      if live.count == 1, graph.shapes[live[0]] != graph.shapes[node.output] {
        throw graph.error(node, "relevance through \(op.onnxName) that broadcasts its input \(graph.shapes[live[0]] ?? []) to \(graph.shapes[node.output] ?? []) is not supported")
      }
      if live.count == 1 {
        guard rule == .gradient else {
          guard rule == .pass else { throw unsupported() }
          return .pass
        }
        let liveIndex = graph.isConstant(node.inputs[0]) ? 1 : 0
        let c = graph.constant(node, 1 - liveIndex)!
        let shape = graph.shapes[node.output]!
        let factors = broadcastIndices(from: c.shape, to: shape).map { c.floats[$0] }
        switch (op, liveIndex) {
        case (.add, _), (.sub, 0): return .pass
        case (.sub, _): return .scale([Float](repeating: -1, count: shape.elementCount))
        case (.mul, _): return .scale(factors)
        case (.div, 0): return .scale(factors.map { 1 / $0 })
        case (.div, _): throw graph.error(node, "the gradient of c / x is not supported")
        }
      }
      switch (target, rule) {
      case (.sum, _) where graph.shapes[node.inputs[0]] != graph.shapes[node.inputs[1]]:
        throw graph.error(node, "relevance through an Add of two activations of different shapes \(graph.shapes[node.inputs[0]] ?? []) and \(graph.shapes[node.inputs[1]] ?? []) is not supported")
      case (.sum, .gradient): return .sumGradient
      case (.sum, .proportional), (.sum, .pass): return .residualSplit
      case (.sum, .absProportional): return .residualAbsSplit
      case (.sum, .equal): return .residualEqual
      case (.product, .gradient): return .productGradient
      case (.product, .signal): return .gate(signal: try gateOperands(node, graph: graph).signal, share: 1)
      case (.product, .equal): return .gate(signal: try gateOperands(node, graph: graph).signal, share: 0.5)
      case (.sum, _), (.product, _): throw unsupported()
      default:
        throw graph.error(node, "relevance through \(op.onnxName) of two activations is not supported (only Add and Mul)")
      }
    case .concat(let axis):
      let rank = graph.shapes[node.output]!.count
      return .concat(axis: axis < 0 ? axis + rank : axis)
    case .pad:
      return .crop(pads: graph.constant(node, 1)!.ints)
    case .slice:
      // A slice of an activation is a crop (negative pads): each output element's relevance
      // goes back to the element it was copied from, zero to the elements cut away. That is
      // the gradient as well, so every rule of the `other` family gets it, as for Pad.
      // (Relevance plans are compiled for batch 1, so the batch axis is never cut.)
      return .crop(pads: try NodeShapes(graph: graph, node: node).sliceCrop(graph.shape(of: node.inputs[0]) ?? []).pads)
    case .transpose(let perm):
      guard perm.first == 0 else { throw graph.error(node, "relevance through a transpose that moves the batch axis is not supported") }
      var inverse = perm
      for (i, p) in perm.enumerated() { inverse[p] = i }
      return .transpose(inverse: inverse)
    case .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout:
      guard graph.shapes[node.inputs[0]]?.first == 1, graph.shapes[node.output]?.first == 1 else {
        throw graph.error(node, "relevance through a reshape that mixes the batch axis is not supported")
      }
      return .reshape
    case .softmax:
      throw graph.error(node, "no relevance rule for a Softmax inside the network")
    case .batchNorm, .gemm, .matMul, .shape, .gather, .cast, .constantOfShape, .reduceMean, .globalMaxPool:
      throw graph.error(node, "is not canonical; canonicalize the graph first")
    }
  }

  /// Which input of a Mul of two activations is the gated signal and which the gate: the gate
  /// is the operand broadcast to the other's shape (squeeze-and-excitation: [1, C, 1, 1] times
  /// [1, C, H, W]), or, for equal shapes, the one produced by an activation with values in
  /// [0, 1] (Sigmoid, HardSigmoid). Anything else is ambiguous and refused.
  static func gateOperands(_ node: Node, graph: Graph) throws -> (signal: Int, gate: Int) {
    let output = graph.shapes[node.output] ?? []
    let full = node.inputs.map { graph.shapes[$0] == output }
    if full[0] != full[1] { return full[0] ? (0, 1) : (1, 0) }
    guard full[0] else {
      throw graph.error(node, "both operands of this Mul (\(graph.shapes[node.inputs[0]] ?? []) and \(graph.shapes[node.inputs[1]] ?? [])) are broadcast to \(output); the gate rules need a signal of the output's shape (use rule gradient)")
    }
    let producers = graph.producers()
    let bounded = node.inputs.map { value -> Bool in
      guard let p = producers[value], case .activation(let a) = graph.nodes[p].op else { return false }
      return a.isUnitInterval
    }
    if bounded[0] != bounded[1] { return bounded[0] ? (1, 0) : (0, 1) }
    throw graph.error(node, "cannot tell the gate from the signal in this Mul of two activations of shape \(output): \(bounded[0] ? "both operands come" : "neither operand comes") from an activation with values in [0, 1] (Sigmoid, HardSigmoid); give it rule gradient, or restructure the model")
  }

  /// 1 / divisor of every window of an average pooling over one image of `inputShape`:
  /// avgPool(1) = taps inside the input / divisor, so 1 / divisor = avgPool(1) / taps inside.
  static func inverseDivisors(_ window: Window2D, countIncludePad: Bool, inputShape: [Int]) -> Tensor {
    let ones = Tensor(shape: inputShape, data: [Float](repeating: 1, count: inputShape.elementCount))
    let inBounds = WindowSums.sum(ones, window)
    let average = Kernels.avgPool2d(ones, window: window, countIncludePad: countIncludePad)
    return Tensor(shape: average.shape, data: zip(average.data, inBounds.data).map { $1 > 0 ? $0 / $1 : 0 })
  }

  static func linearStep(_ node: Node, _ rule: LinearRule, conv: Conv2D?, graph: Graph, nonNegativeInput: Bool,
                         denseBlockThreshold: Int = defaultDenseBlockThreshold, transposedOutputShape: [Int]? = nil) -> LinearStep {
    let weight = graph.constant(node, 1)!.tensor
    let bias = graph.constant(node, 2)?.floats
    return linearStep(weight: weight, bias: bias, rule: rule, conv: conv, inputShape: graph.shapes[node.inputs[0]],
                      nonNegativeInput: nonNegativeInput, denseBlockThreshold: denseBlockThreshold,
                      transposedOutputShape: transposedOutputShape)
  }

  /// The backward step of a conv (`conv` given) or dense layer with `weight` ([M, ...]) and
  /// `bias` ([M], nil for none) under `rule`, built from the weights alone, without a graph
  /// node: CLRP2's dual layer (negated weights) is built so. `inputShape` ([1, ...]) lets
  /// the image-independent part of the denominators be built now.
  static func linearStep(weight: Tensor, bias: [Float]?, rule: LinearRule, conv: Conv2D?, inputShape: [Int]?,
                         nonNegativeInput: Bool, denseBlockThreshold: Int = defaultDenseBlockThreshold,
                         transposedOutputShape: [Int]? = nil) -> LinearStep {
    let lowering = LinearRuleLowering(rule).specialized(nonNegativeInput: nonNegativeInput)
    let plain = weight.data
    var weights: [LinearRuleLowering.Weight: Tensor] = [:]
    let blocked = conv == nil && weight.count > denseBlockThreshold && lowering.weightVariants != [.plain]
    if !blocked {
      for variant in lowering.weightVariants {
        weights[variant] = Tensor(shape: weight.shape, data: LinearRuleLowering.modify(plain, variant))
      }
    }
    var biases: [LinearRuleLowering.Bias: [Float]] = [:]
    let b = bias ?? [Float](repeating: 0, count: transposedOutputShape.map { $0[1] } ?? weight.shape[0])
    for d in lowering.denominators { if let variant = d.bias { biases[variant] = LinearRuleLowering.modify(bias: b, variant) } }
    var step = LinearStep(lowering: lowering, conv: conv, weights: weights, biases: biases)
    step.transposedConvolution = transposedOutputShape != nil
    step.transposedOutputShape = transposedOutputShape
    if blocked {
      step.denseBlocks = (weight, max(1, min(denseBlockThreshold, 1 << 18) / weight.shape[1]))
    } else if lowering.normalized, let inputShape {
      step.imageIndependentZ = step.imageIndependentDenominators(inputShape: inputShape)
    }
    if let conv, transposedOutputShape == nil, let transposed = TransposedConvolution(conv, weightShape: weight.shape) {
      step.transposedAsConv = transposed
      for (variant, w) in weights { step.transposedWeights[variant] = transposed.weight(from: w) }
    }
    return step
  }
}

extension Graph {
  /// Values that cannot be negative: outputs of activations with f >= 0 (ReLU, Clip at >= 0,
  /// Sigmoid, ...), what pooling, concatenation, padding with >= 0 and reshapes make of them,
  /// and the outputs registered ops declare so (`OperatorDefinition.outputIsNonNegative`).
  func nonNegativeValues() -> Set<ValueName> {
    var result: Set<ValueName> = []
    for node in nodes {
      let inputsNonNegative = node.inputs.allSatisfy { result.contains($0) || (constants[$0].map { $0.floats.allSatisfy { $0 >= 0 } } ?? false) }
      switch node.op {
      case .activation(let a) where a.outputIsNonNegative: result.insert(node.output)
      case .registered(let r):
        let inputs = node.inputs.map { result.contains($0) || (constants[$0].map { $0.floats.allSatisfy { $0 >= 0 } } ?? false) }
        if r.definition.outputIsNonNegative(inputs: inputs) { result.insert(node.output) }
      case .maxPool, .avgPool, .globalAvgPool, .concat, .transpose, .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout, .pad:
        if inputsNonNegative { result.insert(node.output) }
      case .slice:
        if result.contains(node.inputs[0]) { result.insert(node.output) }
      default: continue
      }
    }
    return result
  }
}
