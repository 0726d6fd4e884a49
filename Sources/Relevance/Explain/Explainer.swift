import Dispatch
import Foundation

/// One explanation map: a method applied to a target.
public struct ExplanationMap: Sendable {
  public var method: ExplanationMethod
  public var target: ExplanationTarget
  /// Relevance at the input, in the input's per-image shape (batch axis dropped).
  public var relevance: Tensor
  /// The explained score: the target's logit (summed over a class set), or the neuron's
  /// activation (summed over a channel).
  public var score: Double
  /// Σ of the start signals propagated (weighted as combined) and Σ of the input relevance
  /// they gave, before clipping.
  public var signalSum: Double
  public var inputSum: Double
  /// inputSum / signalSum for the LRP family (1 for a conserving rule set); nil for the
  /// gradient family and where the signal sums to 0 (the difference signals of CLRP).
  public var conservation: Double?
  /// Backward signals the map took (1 with the difference trick, 2 without).
  public var signals: Int
  /// This map's share of the backward passes it ran in.
  public var seconds: Double
}

/// The explanations of one input.
public struct Explanation: Sendable {
  /// The model's first output for the input (logits).
  public var logits: [Float]
  /// softmax(logits), in double precision.
  public var probabilities: [Double]
  public var maps: [ExplanationMap]
  public var forwardSeconds: Double
  public var backwardSeconds: Double

  /// The `count` most probable classes, most probable first.
  public func top(_ count: Int) -> [(index: Int, probability: Double)] {
    Array(probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(count)).map { ($0, probabilities[$0]) }
  }
}

/// Explains a model's decisions: build one for a model, rules and preprocessing, then call
/// `explain`. Canonical graphs and compiled plans are cached per input shape and rule set, so
/// explaining many images pays for compilation once.
///
///     let explainer = try Explainer(modelPath: "model.onnx", preprocessing: .imagenet)
///     let result = try explainer.explain(image, methods: [.lrp, .clrp2], targets: .top(2))
///     // result.maps[i].relevance: [3, H, W]
public final class Explainer: @unchecked Sendable {
  public let model: Model
  /// The rule preset or YAML file for every method; nil: each method's `defaultRules`.
  public let rules: String?
  /// Gives the z^B bounds of the first layer (and, for images, how pixels become inputs).
  public let preprocessing: Preprocessing?
  public var options: ContrastOptions

  private let lock = NSLock()
  private var graphs: [[Int]: Graph] = [:]
  private var ruleSets: [String: RuleSet] = [:]
  private var plans: [PlanKey: RelevancePlan] = [:]

  private struct PlanKey: Hashable {
    var rules: String
    var shape: [Int]
    var keep: Set<ValueName>
  }

  public init(model: Model, rules: String? = nil, preprocessing: Preprocessing? = nil, options: ContrastOptions = .init()) {
    self.model = model
    self.rules = rules
    self.preprocessing = preprocessing
    self.options = options
  }

  public convenience init(modelPath: String, rules: String? = nil, preprocessing: Preprocessing? = nil,
                          options: ContrastOptions = .init()) throws {
    self.init(model: try Model(path: modelPath), rules: rules, preprocessing: preprocessing, options: options)
  }

  /// The model's input shape for one image.
  public func inputShape() throws -> [Int] { try model.inputShape(batch: 1) }

  /// The canonical graph for inputs of `shape` (batch 1), cached.
  public func graph(inputShape shape: [Int]) throws -> Graph {
    if let g = lock.withLock({ graphs[shape] }) { return g }
    let g = try model.canonical(inputShape: shape)
    lock.withLock { graphs[shape] = g }
    return g
  }

  /// The compiled plan for `method` (its rules) on inputs of `shape`, keeping `keep`.
  public func plan(for method: ExplanationMethod, inputShape shape: [Int], keep: Set<ValueName> = []) throws -> RelevancePlan {
    let name = rules ?? method.defaultRules
    let key = PlanKey(rules: name, shape: shape, keep: keep)
    if let p = lock.withLock({ plans[key] }) { return p }
    let graph = try self.graph(inputShape: shape)
    let ruleSet = try lock.withLock({ ruleSets[name] }) ?? RuleSet.load(nameOrPath: name)
    lock.withLock { ruleSets[name] = ruleSet }
    let assignment = try ruleSet.assign(to: graph, preprocessing: preprocessing)
    try Explainer.check(method, serves: assignment.rules, graph: graph, rulesName: name)
    let plan = try RelevancePlan(graph: graph, rules: assignment.rules, keep: keep)
    lock.withLock { plans[key] = plan }
    return plan
  }

  /// A gradient-family method is what it says only with its own rules on every Conv, Dense and
  /// ReLU node.
  static func check(_ method: ExplanationMethod, serves rules: [Rule?], graph: Graph, rulesName: String) throws {
    guard let relu = method.requiredReLURule else { return }
    for (node, rule) in zip(graph.nodes, rules) {
      let needed: String?
      switch node.op {
      case .conv, .convTranspose, .dense:
        if case .linear(let r)? = rule, r.kind == .gradient { needed = nil } else { needed = "gradient" }
      case .relu: needed = rule == relu ? nil : relu.description
      default: needed = nil
      }
      if let needed {
        throw graph.error(node, "\(method) needs rule '\(needed)' on \(node.op.name) nodes, but rules '\(rulesName)' give '\((rule ?? .pass).description)' (use the preset '\(method.defaultRules)', or leave out --rules)")
      }
    }
  }

  /// Explains `input` (batch 1, the model's layout) with every method for every target.
  /// One forward pass per rule set; the maps of one rule set share batched backward passes.
  public func explain(_ input: Tensor, methods: [ExplanationMethod], targets selection: TargetSelection) throws -> Explanation {
    let shape = input.shape
    guard shape.first == 1 else {
      throw ModelError(file: model.path, "explain takes one image (batch 1); the input has shape \(shape)")
    }
    guard !methods.isEmpty else { throw ModelError("no method given (methods: \(ExplanationMethod.allNames))") }
    let nonFinite = input.data.lazy.filter { !$0.isFinite }.count
    guard nonFinite == 0 else {
      throw ModelError(file: model.path, "the input holds \(nonFinite) non-finite values (NaN or infinity); relevance of such an input means nothing")
    }
    let graph = try self.graph(inputShape: shape)
    // The values neuron targets name, kept by the forward pass.
    var neuronNodes: [String] = []
    switch selection {
    case .topNeurons(let node, _): neuronNodes = [node]
    case .targets(let targets): for case .neuron(let n) in targets { neuronNodes.append(n.node) }
    default: break
    }
    var neuronValues: [String: ValueName] = [:]
    for node in neuronNodes where neuronValues[node] == nil { neuronValues[node] = try Explainer.value(named: node, in: graph) }
    let keep = Set(neuronValues.values)

    // Methods grouped by the rule set they run with, in the order given.
    var groups: [(rules: String, methods: [ExplanationMethod])] = []
    for method in methods {
      let name = rules ?? method.defaultRules
      if let i = groups.firstIndex(where: { $0.rules == name }) { groups[i].methods.append(method) } else { groups.append((name, [method])) }
    }

    var logits: [Float] = []
    var targets: [ExplanationTarget] = []
    var maps: [(order: Int, map: ExplanationMap)] = []
    var forwardSeconds = 0.0, backwardSeconds = 0.0
    for group in groups {
      let plan = try self.plan(for: group.methods[0], inputShape: shape, keep: keep)
      for method in group.methods.dropFirst() {
        try Explainer.check(method, serves: plan.rules, graph: graph, rulesName: group.rules)
      }
      var clock = DispatchTime.now().uptimeNanoseconds
      let values = try plan.forward.run(input, keep: plan.kept)
      forwardSeconds += Explainer.seconds(since: &clock)
      if logits.isEmpty {
        logits = values[graph.outputs[0]]!.data
        targets = try resolve(selection, logits: logits, values: values, neuronValues: neuronValues)
      }
      let signals = StartSignals(plan: plan, values: values, options: options)
      var recipes: [(order: Int, recipe: MapRecipe)] = []
      for method in group.methods {
        for target in targets {
          let neuronValue: ValueName? = { if case .neuron(let n) = target { return neuronValues[n.node] } else { return nil } }()
          let order = methods.firstIndex(of: method)! * targets.count + targets.firstIndex(of: target)!
          recipes.append((order, try signals.recipe(method, target, neuronValue: neuronValue)))
        }
      }
      backwardSeconds += Explainer.seconds(since: &clock)
      let built = try run(recipes.map(\.recipe), plan: plan, values: values, input: input)
      backwardSeconds += Explainer.seconds(since: &clock)
      maps += zip(recipes.map(\.order), built).map { ($0, $1) }
    }
    return Explanation(logits: logits, probabilities: softmaxDouble(logits), maps: maps.sorted { $0.order < $1.order }.map(\.map),
                       forwardSeconds: forwardSeconds, backwardSeconds: backwardSeconds)
  }

  /// Explains `input` with one method.
  public func explain(_ input: Tensor, method: ExplanationMethod, targets: TargetSelection) throws -> Explanation {
    try explain(input, methods: [method], targets: targets)
  }

  /// Propagates the signals of all recipes, one batched backward pass per start value, and
  /// combines them into maps.
  private func run(_ recipes: [MapRecipe], plan: RelevancePlan, values: [ValueName: Tensor], input: Tensor) throws -> [ExplanationMap] {
    var starts: [ValueName] = []
    var batches: [ValueName: [Tensor]] = [:]
    var places: [[(value: ValueName, index: Int)]] = []
    for recipe in recipes {
      places.append(recipe.parts.map { part in
        let v = part.signal.value
        if batches[v] == nil { starts.append(v) }
        batches[v, default: []].append(part.signal.signal)
        return (v, batches[v]!.count - 1)
      })
    }
    var results: [ValueName: Tensor] = [:]
    var time: [ValueName: Double] = [:]
    for v in starts {
      let signals = batches[v]!
      var clock = DispatchTime.now().uptimeNanoseconds
      let stacked = Tensor(shape: [signals.count] + signals[0].shape.dropFirst(), data: Array(signals.map(\.data).joined()))
      results[v] = try plan.propagate(values, signals: stacked, at: v, layerSums: false).input
      time[v] = Explainer.seconds(since: &clock) / Double(signals.count)
    }
    let per = input.count
    return zip(recipes, places).map { recipe, places in
      var combined = [Double](repeating: 0, count: per)
      var signalSum = 0.0, seconds = 0.0
      for (part, place) in zip(recipe.parts, places) {
        let r = results[place.value]!.data[(place.index * per)..<((place.index + 1) * per)]
        var scale = Double(part.weight)
        if recipe.normalizeParts {
          let total = r.reduce(0.0) { $0 + Double($1) }
          scale = total == 0 ? 0 : scale / total
        }
        for (i, v) in r.enumerated() { combined[i] += scale * Double(v) }
        signalSum += Double(part.weight) * part.signal.signal.data.reduce(0.0) { $0 + Double($1) }
        seconds += time[place.value]!
      }
      if recipe.method == .gradientInput { for i in combined.indices { combined[i] *= Double(input.data[i]) } }
      let inputSum = combined.reduce(0, +)
      if recipe.method.isContrastive { for i in combined.indices { combined[i] = max(0, combined[i]) } }
      let conserving = recipe.method.startsFromScore && !recipe.normalizeParts
        && abs(signalSum) > 1e-6 * max(abs(recipe.score), Double(Float.leastNormalMagnitude))
      return ExplanationMap(method: recipe.method, target: recipe.target,
                            relevance: Tensor(shape: Array(input.shape.dropFirst()), data: combined.map { Float($0) }),
                            score: recipe.score, signalSum: signalSum, inputSum: inputSum,
                            conservation: conserving ? inputSum / signalSum : nil, signals: recipe.parts.count, seconds: seconds)
    }
  }

  /// Turns a selection into targets, given the logits and the forward values.
  private func resolve(_ selection: TargetSelection, logits: [Float], values: [ValueName: Tensor],
                       neuronValues: [String: ValueName]) throws -> [ExplanationTarget] {
    let ranked = logits.indices.sorted { logits[$0] > logits[$1] }
    switch selection {
    case .targets(let targets):
      guard !targets.isEmpty else { throw ModelError("no target given") }
      return targets
    case .top(let k):
      guard (1...logits.count).contains(k) else {
        throw ModelError(file: model.path, "cannot explain the top \(k) of \(logits.count) classes")
      }
      return ranked.prefix(k).map { .classes([$0]) }
    case .randomClasses(let count, let fromTop, let seed):
      guard fromTop <= logits.count, (1...fromTop).contains(count) else {
        throw ModelError(file: model.path, "cannot draw \(count) classes from the top \(fromTop) of \(logits.count)")
      }
      var generator = SplitMix64(seed: seed)
      var pool = Array(ranked.prefix(fromTop))
      var chosen: [Int] = []
      for _ in 0..<count { chosen.append(pool.remove(at: Int(generator.next() % UInt64(pool.count)))) }
      return [.classes(chosen.sorted())]
    case .topNeurons(let node, let count):
      let a = values[neuronValues[node]!]!
      let per = Array(a.shape.dropFirst())
      let units = per[0], spatial = a.count / max(units, 1)
      guard (1...units).contains(count) else {
        throw ModelError(file: model.path, "cannot explain the top \(count) of the \(units) units or channels of '\(node)'")
      }
      let scores = (0..<units).map { u in (0..<spatial).reduce(0.0) { $0 + Double(a.data[u * spatial + $1]) } }
      return scores.indices.sorted { scores[$0] > scores[$1] }.prefix(count).map { .neuron(Neuron(node: node, selection: .index($0))) }
    }
  }

  /// The value a user's name refers to: a node (its output) or a value of the canonical graph.
  static func value(named name: String, in graph: Graph) throws -> ValueName {
    if let node = graph.nodes.first(where: { $0.name == name }) { return node.output }
    if graph.nodes.contains(where: { $0.outputs.contains(name) }) { return name }
    let lower = name.lowercased()
    let similar = graph.nodes.map(\.name).filter { $0.lowercased().contains(lower) || lower.contains($0.lowercased()) }.prefix(5)
    throw ModelError(file: graph.source, "no node or value named '\(name)' in the canonical graph (`clrp inspect` lists them)"
      + (similar.isEmpty ? "" : "; similar: \(similar.joined(separator: ", "))"))
  }

  private static func seconds(since clock: inout UInt64) -> Double {
    let now = DispatchTime.now().uptimeNanoseconds
    defer { clock = now }
    return Double(now - clock) / 1e9
  }
}
