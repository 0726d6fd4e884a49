import Foundation

/// Where a backward signal starts and what it is: the relevance (LRP family) or gradient
/// (gradient family) placed on a value before the backward plan runs.
struct StartSignal {
  var value: ValueName
  /// [1] + the value's per-image shape.
  var signal: Tensor
}

/// How one requested map is built from the relevance of its start signals: R = Σ_i w_i R_i
/// (each R_i divided by its own sum first when `normalizeParts`), clipped at 0 for
/// contrastive maps, times the input for gradient × input.
struct MapRecipe {
  var method: ExplanationMethod
  var target: ExplanationTarget
  var score: Double
  var parts: [(signal: StartSignal, weight: Float)]
  var normalizeParts: Bool
}

/// The start signals of every method, given the forward values (Gu et al. 2018, Sec. 3).
struct StartSignals {
  let plan: RelevancePlan
  let values: [ValueName: Tensor]
  let options: ContrastOptions

  var graph: Graph { plan.graph }
  var logitsName: ValueName { graph.outputs[0] }
  var logits: Tensor { values[logitsName]! }

  /// The recipe for `method` on `target`; `neuronValue` is the value a neuron target names.
  func recipe(_ method: ExplanationMethod, _ target: ExplanationTarget, neuronValue: ValueName?) throws -> MapRecipe {
    let (value, base, score) = try baseSignal(method, target, neuronValue: neuronValue)
    let linear = plan.isLinearInRelevance && options.normalize == .none
    let explained = target
    // R − R* = R(s − s*) when every rule is linear in the relevance: one signal, not two.
    func contrast(_ at: ValueName, _ s: Tensor, _ dual: Tensor) -> MapRecipe {
      if linear {
        let difference = Tensor(shape: s.shape, data: zip(s.data, dual.data).map { $0 - $1 })
        return MapRecipe(method: method, target: explained, score: score, parts: [(StartSignal(value: at, signal: difference), 1)],
                         normalizeParts: false)
      }
      return MapRecipe(method: method, target: explained, score: score,
                       parts: [(StartSignal(value: at, signal: s), 1), (StartSignal(value: at, signal: dual), -1)],
                       normalizeParts: options.normalize == .sum)
    }
    switch method {
    case .lrp, .gradient, .gradientInput, .guidedBackprop, .deconvnet:
      return MapRecipe(method: method, target: target, score: score, parts: [(StartSignal(value: value, signal: base), 1)],
                       normalizeParts: false)
    case .clrp1:
      guard case .classes(let classes) = target else {
        throw ModelError(file: graph.source, "clrp1 explains output classes (its dual is every other class); for a neuron use lrp or clrp2")
      }
      return contrast(value, base, try clrp1Dual(classes))
    case .clrp2:
      let (head, signal) = try plan.contrastiveHead(below: value, signal: base, values: values)
      let (target, dual) = try plan.contrastiveHeadRelevance(head: head, signal: signal, values: values)
      let at = graph.nodes[head].inputs[0]
      return contrast(at, target.reshaped([1] + target.shape.dropFirst()), dual.reshaped([1] + dual.shape.dropFirst()))
    case .sglrp:
      guard case .classes(let classes) = target, classes.count == 1 else {
        throw ModelError(file: graph.source, "sglrp explains one output class (its start is the softmax gradient of that class); for neurons use lrp, clrp2 or a gradient method")
      }
      return MapRecipe(method: method, target: target, score: score,
                       parts: [(StartSignal(value: logitsName, signal: sglrpSignal(classes[0])), 1)], normalizeParts: false)
    }
  }

  /// The start value, the method's base signal there, and the explained score: for classes
  /// e_S · z_S (LRP family) or e_S (gradient family) on the logits, score Σ_{c∈S} z_c; for a
  /// neuron its activations (LRP family) or ones (gradient family) on the selected unit,
  /// channel or position, score their summed activation.
  func baseSignal(_ method: ExplanationMethod, _ target: ExplanationTarget, neuronValue: ValueName?) throws -> (ValueName, Tensor, Double) {
    switch target {
    case .classes(let classes):
      let z = logits
      var s = [Float](repeating: 0, count: z.count)
      var score = 0.0
      for c in classes {
        guard (0..<z.count).contains(c) else {
          throw ModelError(file: graph.source, "class \(c) is out of range: the model has \(z.count) outputs (0 to \(z.count - 1))")
        }
        s[c] += method.startsFromScore ? z.data[c] : 1
        score += Double(z.data[c])
      }
      return (logitsName, Tensor(shape: [1] + z.shape.dropFirst(), data: s), score)
    case .neuron(let neuron):
      let name = neuronValue!
      let a = values[name]!
      let mask = try neuronMask(neuron, shape: a.shape)
      var s = [Float](repeating: 0, count: a.count)
      var score = 0.0
      for i in mask {
        s[i] = method.startsFromScore ? a.data[i] : 1
        score += Double(a.data[i])
      }
      return (name, Tensor(shape: a.shape, data: s), score)
    }
  }

  /// Flat indices of the neuron's unit, channel or position in a value of `shape` ([1, ...]).
  func neuronMask(_ neuron: Neuron, shape: [Int]) throws -> [Int] {
    let per = Array(shape.dropFirst())
    switch neuron.selection {
    case .index(let i):
      if per.count == 1 || per.dropFirst().allSatisfy({ $0 == 1 }) {
        guard i < per[0] else { throw outOfRange(neuron, "unit \(i)", per) }
        return [i]
      }
      guard per.count == 3, i < per[0] else { throw outOfRange(neuron, "channel \(i)", per) }
      let spatial = per[1] * per[2]
      return Array((i * spatial)..<((i + 1) * spatial))
    case .position(let c, let y, let x):
      guard per.count == 3 else {
        throw ModelError(file: graph.source, "neuron \(neuron): C,Y,X names a position of a [C, H, W] value; '\(neuron.node)' has shape \(per)")
      }
      guard c < per[0], y < per[1], x < per[2] else { throw outOfRange(neuron, "position (\(c), \(y), \(x))", per) }
      return [(c * per[1] + y) * per[2] + x]
    }
  }

  private func outOfRange(_ neuron: Neuron, _ what: String, _ shape: [Int]) -> ModelError {
    ModelError(file: graph.source, "neuron \(neuron): \(what) is out of range for '\(neuron.node)' of shape \(shape)")
  }

  /// CLRP1's dual: every class outside S gets Σ_{c∈S} z_c / (C − |S|) (the paper's text) or
  /// |z_j| (`--dual abs-logits`, the published code); the classes in S get 0.
  func clrp1Dual(_ classes: [Int]) throws -> Tensor {
    let z = logits
    let inSet = Set(classes)
    guard z.count > inSet.count else {
      throw ModelError(file: graph.source, "clrp1 needs a class outside the explained ones for its dual; the model has \(z.count) outputs")
    }
    let share = classes.reduce(0.0) { $0 + Double(z.data[$1]) } / Double(z.count - inSet.count)
    var s = [Float](repeating: 0, count: z.count)
    for j in 0..<z.count where !inSet.contains(j) {
      s[j] = options.dual == .uniform ? Float(share) : abs(z.data[j])
    }
    return Tensor(shape: [1] + z.shape.dropFirst(), data: s)
  }

  /// SGLRP's start, the gradient of softmax y_t with respect to the logits:
  /// s_t = y_t (1 − y_t), s_j = −y_t y_j. Built in double precision with 1 − y_t as Σ_{j≠t} y_j:
  /// for a confident prediction y_t is within 1e-8 of 1 and 1 − y_t would cancel to 0.
  func sglrpSignal(_ t: Int) -> Tensor {
    let y = softmaxDouble(logits.data)
    let rest = y.indices.reduce(0.0) { $1 == t ? $0 : $0 + y[$1] }
    let s = y.indices.map { j in Float(j == t ? y[t] * rest : -y[t] * y[j]) }
    return Tensor(shape: [1] + logits.shape.dropFirst(), data: s)
  }
}

/// softmax(z) in double precision, shifted by max z.
func softmaxDouble(_ z: [Float]) -> [Double] {
  let m = Double(z.max() ?? 0)
  let e = z.map { Foundation.exp(Double($0) - m) }
  let sum = e.reduce(0, +)
  return e.map { $0 / sum }
}
