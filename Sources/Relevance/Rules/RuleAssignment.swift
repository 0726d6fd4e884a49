/// The rule of every node of a canonical graph, and why.
public struct RuleAssignment: Equatable, Sendable {
  /// One per graph node index. Every Conv, Dense, MaxPool, AveragePool and GlobalAveragePool
  /// has a rule; other nodes have `.pass` unless an entry gave them `pass` or `gradient`
  /// (nil is reserved for nodes that need no rule at all; `assign` gives every node one).
  public var rules: [Rule?]
  /// One per node: the entry that matched (`entry 1 (op: Conv, position: first)`) or
  /// `default: pass`.
  public var reasons: [String]
  /// One per node: the index into `RuleSet.entries` of the entry that matched, nil for defaults.
  public var entryIndices: [Int?]
  /// Things worth knowing that are not errors: entries with a `name`, `position` or `index`
  /// matcher that matched no node.
  public var notes: [String]

  public init(rules: [Rule?], reasons: [String], entryIndices: [Int?], notes: [String] = []) {
    self.rules = rules
    self.reasons = reasons
    self.entryIndices = entryIndices
    self.notes = notes
  }
}

extension RuleSet {
  /// Gives every node of `graph` (a canonical graph, shapes inferred) its rule: the first
  /// entry that matches wins. Conv, Dense, MaxPool, AveragePool and GlobalAveragePool nodes must
  /// match an entry; other nodes default to `RuleTarget.defaultRule` (`pass`; `proportional`
  /// on an Add of two activations, `signal` on a Mul of two activations, `centering` on
  /// LayerNormalization). z^B bounds not given in the entry come from
  /// `preprocessing` (per channel of the layer's input).
  public func assign(to graph: Graph, preprocessing: Preprocessing?) throws -> RuleAssignment {
    var linearIndex: [Int: Int] = [:]
    let targets = graph.nodes.map { RuleTarget($0, in: graph) }
    for (i, target) in targets.enumerated() where target == .linear {
      linearIndex[i] = linearIndex.count
    }
    let linearCount = linearIndex.count
    var rules: [Rule?] = []
    var reasons: [String] = []
    var entryIndices: [Int?] = []
    var used = Set<Int>()
    for (i, node) in graph.nodes.enumerated() {
      let target = targets[i]
      if let e = entries.firstIndex(where: { $0.matches(node, target: target, linearIndex: linearIndex[i], linearCount: linearCount) }) {
        let entry = entries[e]
        rules.append(try resolve(entry, node: node, target: target, graph: graph, preprocessing: preprocessing))
        reasons.append(entry.label)
        entryIndices.append(e)
        used.insert(e)
      } else if let rule = target.defaultRule {
        rules.append(rule)
        reasons.append("default: \(rule)")
        entryIndices.append(nil)
      } else {
        throw graph.error(node, "no entry of \(source) matches this \(node.op.name) node; every Conv, Dense, MaxPool, AveragePool and GlobalAveragePool needs a rule (add e.g. `- {op: \(node.op.name), rule: \(RuleSet.suggestion(target))}`)")
      }
    }
    // Op-only entries that match nothing are normal (a preset for models with and without
    // average pooling); a name, position or index that selects nothing is likely a mistake.
    let specific = entries.indices.filter {
      entries[$0].names != nil || entries[$0].position != nil || entries[$0].index != nil
    }
    let notes = specific.filter { !used.contains($0) }.map {
      "\(source): \(entries[$0].fullLabel) matches no node of \(graph.name.isEmpty ? graph.source : graph.name)"
    }
    return RuleAssignment(rules: rules, reasons: reasons, entryIndices: entryIndices, notes: notes)
  }

  static func suggestion(_ target: RuleTarget) -> String {
    switch target {
    case .linear: return "zplus"
    case .maxPool: return "winner-take-all"
    case .avgPool, .globalAvgPool: return "proportional"
    case .sum: return "proportional"
    case .product: return "signal"
    case .layerNorm: return "centering"
    case .other: return "pass"
    }
  }

  /// The entry's rule completed for `node`.
  func resolve(_ entry: RuleEntry, node: Node, target: RuleTarget, graph: Graph,
               preprocessing: Preprocessing?) throws -> Rule {
    func fail(_ message: String) -> ModelError {
      graph.error(node, "\(source) \(entry.fullLabel): \(message)")
    }
    switch entry.rule {
    case .linear(let rule):
      if case .zBox(let low, let high) = rule.kind {
        let channels = try inputChannels(node, graph, fail)
        for (key, values) in [("low", low), ("high", high)] where values.count != 1 && values.count != channels {
          throw fail("zbox `\(key)` has \(values.count) values; the layer's input has \(channels) channels")
        }
      }
      return .linear(rule)
    case .zBoxFromPreprocessing(let bias):
      guard let preprocessing else {
        throw fail("zbox needs the input's value range: give `low` and `high` in the entry, or the preprocessing (--preprocess imagenet|unit|FILE)")
      }
      let channels = try inputChannels(node, graph, fail)
      guard let map = inputMap(node, graph, channels: channels) else {
        throw fail("zbox takes its bounds from the preprocessing only on a layer that reads the model input (through data movement and per-channel constant normalization); give `low` and `high` for this one")
      }
      do {
        let bounds = try preprocessing.zBoxBounds(channels: channels)
        // The model's own normalization x·scale + shift maps the bounds (a negative scale swaps them).
        let ends = (0..<channels).map { c -> (Float, Float) in
          let l = bounds.low.count == 1 ? bounds.low[0] : bounds.low[c]
          let h = bounds.high.count == 1 ? bounds.high[0] : bounds.high[c]
          let a = l * map.scale[c] + map.shift[c], b = h * map.scale[c] + map.shift[c]
          return (min(a, b), max(a, b))
        }
        return .linear(LinearRule(.zBox(low: ends.map(\.0), high: ends.map(\.1)), bias: bias))
      } catch let error as ModelError {
        throw fail(error.message)
      }
    case .gradient(let bias):
      return target == .linear ? .linear(LinearRule(.gradient, bias: bias)) : .gradient
    case .node(let rule):
      return rule
    }
  }

  /// Channels of a layer's data input (axis 1: NCHW for Conv, features for Dense).
  func inputChannels(_ node: Node, _ graph: Graph, _ fail: (String) -> ModelError) throws -> Int {
    guard let shape = graph.shape(of: node.inputs[0]), shape.count >= 2 else {
      throw fail("the shape of the layer's input is unknown")
    }
    return shape[1]
  }

  /// How the node's data input depends on the model input, when it is the model input moved
  /// by data-movement ops (transpose, reshapes, pad) and changed by constant per-channel
  /// Add/Sub/Mul/Div (input normalization kept in the graph): layer input = x·scale[c] + shift[c].
  /// Nil when the input is computed otherwise. Channels are those of the layer's input (axis 1).
  func inputMap(_ node: Node, _ graph: Graph, channels: Int) -> (scale: [Float], shift: [Float])? {
    let producers = graph.producers()
    var chain: [Node] = []
    var value = node.inputs[0]
    while value != graph.input {
      guard let p = producers[value] else { return nil }
      let n = graph.nodes[p]
      switch n.op {
      case .transpose, .pad, .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout:
        value = n.inputs[0]
      case .elementwise:
        guard let live = n.inputs.first(where: { !graph.isConstant($0) }), n.inputs.count == 2 else { return nil }
        chain.append(n)
        value = live
      default:
        return nil
      }
    }
    var scale = [Float](repeating: 1, count: channels), shift = [Float](repeating: 0, count: channels)
    for n in chain.reversed() {
      guard case .elementwise(let op) = n.op, let outShape = graph.shapes[n.output],
            outShape.count >= 2, outShape[1] == channels else { return nil }
      let constantIndex = graph.isConstant(n.inputs[0]) ? 0 : 1
      let c = graph.constants[n.inputs[constantIndex]]!
      let padded = [Int](repeating: 1, count: max(0, outShape.count - c.shape.count)) + c.shape
      guard padded.count == outShape.count, padded.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
      let v = padded[1] == 1 ? [Float](repeating: c.floats[0], count: channels) : c.floats
      guard v.count == channels else { return nil }
      for k in 0..<channels {
        switch (op, constantIndex) {
        case (.add, _): shift[k] += v[k]
        case (.sub, 1): shift[k] -= v[k]
        case (.sub, _): scale[k] = -scale[k]; shift[k] = v[k] - shift[k]
        case (.mul, _): scale[k] *= v[k]; shift[k] *= v[k]
        case (.div, 1): scale[k] /= v[k]; shift[k] /= v[k]
        case (.div, _): return nil
        }
      }
    }
    return (scale, shift)
  }
}
