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
  /// match an entry; other nodes default to `.pass`. z^B bounds not given in the entry come from
  /// `preprocessing` (per channel of the layer's input).
  public func assign(to graph: Graph, preprocessing: Preprocessing?) throws -> RuleAssignment {
    var linearIndex: [Int: Int] = [:]
    for (i, node) in graph.nodes.enumerated() where RuleTarget(node.op) == .linear {
      linearIndex[i] = linearIndex.count
    }
    let linearCount = linearIndex.count
    var rules: [Rule?] = []
    var reasons: [String] = []
    var entryIndices: [Int?] = []
    var used = Set<Int>()
    for (i, node) in graph.nodes.enumerated() {
      let target = RuleTarget(node.op)
      if let e = entries.firstIndex(where: { $0.matches(node, linearIndex: linearIndex[i], linearCount: linearCount) }) {
        let entry = entries[e]
        rules.append(try resolve(entry, node: node, target: target, graph: graph, preprocessing: preprocessing))
        reasons.append(entry.label)
        entryIndices.append(e)
        used.insert(e)
      } else if target.needsRule {
        throw graph.error(node, "no entry of \(source) matches this \(node.op.name) node; every Conv, Dense, MaxPool, AveragePool and GlobalAveragePool needs a rule (add e.g. `- {op: \(node.op.name), rule: \(RuleSet.suggestion(target))}`)")
      } else {
        rules.append(.pass)
        reasons.append("default: pass")
        entryIndices.append(nil)
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
      guard readsModelInput(node, graph) else {
        throw fail("zbox takes its bounds from the preprocessing only on a layer that reads the model input; give `low` and `high` for this one")
      }
      let channels = try inputChannels(node, graph, fail)
      do {
        let bounds = try preprocessing.zBoxBounds(channels: channels)
        return .linear(LinearRule(.zBox(low: bounds.low, high: bounds.high), bias: bias))
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

  /// Whether the node's data input is the model input, possibly through data-movement ops
  /// (transpose, reshapes, pad) that keep the values.
  func readsModelInput(_ node: Node, _ graph: Graph) -> Bool {
    let producers = graph.producers()
    var value = node.inputs[0]
    while value != graph.input {
      guard let p = producers[value] else { return false }
      switch graph.nodes[p].op {
      case .transpose, .pad, .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout:
        value = graph.nodes[p].inputs[0]
      default:
        return false
      }
    }
    return true
  }
}
