import ArgumentParser
import Foundation
import Relevance

struct Verify: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check that relevance adds up, layer by layer.",
    discussion: """
      Explains one class (default: the top class) with the given rules and prints, for every
      node from the output back to the input, the relevance arriving at its output, the
      relevance it passes on, their ratio, the running ratio to the initial score, and why
      relevance leaked where it did (bias absorption, stabilizer, zero denominators).
      Exits with status 1 when a rule that should conserve relevance (zplus, zplus-flat, alphabeta, zbox,
      wsquare, flat without bias; pooling, residual and gate rules; pass-through; centering on
      LayerNormalization, up to its stabilizer: the
      "conserves" column of Docs/RULES.md) loses more than --tolerance,
      and when the input, the score or the relevance is not finite. A single-denominator rule
      (zplus, zbox, wsquare, flat, proportional, centering) that loses relevance at a node with zero
      denominators only gets a warning: where all inputs of a unit are 0 the relevance arriving
      there is lost by the rule's definition (Docs/RULES.md, "Checking conservation").

      Examples:
        clrp verify Tests/Fixtures/models/vgg16_small.onnx --rules paper --preprocess imagenet
        clrp verify model.onnx --rules epsilon --input x.npy --class 3 --json
      """)

  @Argument(help: "The ONNX model.") var model: String
  @Option(help: "Rule preset name (paper, epsilon, zplus, alpha2beta1, epsilon-plus-flat, gradient) or a YAML file.")
  var rules = "paper"
  @Option(help: "Input tensor (.npy, per-image shape, batch axis optional); default: a seeded random image.")
  var input: String?
  @Option(help: "Preprocessing for zbox bounds and the random input: imagenet, unit or a YAML file.")
  var preprocess: String?
  @Option(name: .customLong("class"), help: "Class to explain (default: the top class).") var target: Int?
  @Option(help: "Largest relative loss a conserving rule may show at one node.") var tolerance: Float = 1e-4
  @Flag(help: "Print JSON.") var json = false

  func run() throws {
    try reportingErrors {
      let report = try self.report(for: loadModel(model), input: nil)
      if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
      } else {
        print(report.text)
      }
      if !report.zeroDenominatorLosses.isEmpty {
        FileHandle.standardError.write(Data("warning: \(report.zeroDenominatorLosses.count) node(s) lost relevance only where denominators are exactly 0, which z⁺ cannot conserve by definition (not a bug; see Docs/RULES.md)\n".utf8))
      }
      if !report.failures.isEmpty { throw ExitCode(1) }
    }
  }

  /// Explains the class (default: the top class) of `image` (batch 1; nil: `--input`, else a
  /// seeded random image) and checks conservation node by node. Notes go to stderr.
  func report(for model: Model, input image: Tensor?) throws -> VerifyReport {
    guard tolerance.isFinite, tolerance >= 0 else {
      throw ModelError("--tolerance must be a finite number >= 0 (the largest relative loss, e.g. 1e-4), not \(tolerance)")
    }
    let preprocessing = try preprocess.map { try Preprocessing.load(nameOrPath: $0) }
    let shape = try model.inputShape(batch: 1)
    // Canonicalization checks the memory a forward pass needs before any input is made.
    let graph = try model.canonical(inputShape: shape)
    let image = try image ?? input.map { try loadImageTensor($0, shape: shape) } ?? randomImage(shape, preprocessing)
    printNotes(graph.notes)
    guard !graph.nodes.isEmpty else {
      throw ModelError(file: self.model, "the graph has no nodes (its output is its input '\(graph.input)'): there is no decision to explain")
    }
    let assignment = try RuleSet.load(nameOrPath: rules).assign(to: graph, preprocessing: preprocessing)
    printNotes(assignment.notes)
    let plan = try RelevancePlan(graph: graph, rules: assignment.rules)
    let (classes, result) = try target.map { ([$0], try plan.explain(image, classes: [$0])) }
      ?? plan.explainTopClasses(image, count: 1)
    return try makeReport(graph: graph, assignment: assignment, cls: classes[0], result: result)
  }

  /// The report of one explanation; every relevance sum must be finite.
  func makeReport(graph: Graph, assignment: RuleAssignment, cls: Int, result: RelevanceResult) throws -> VerifyReport {
    let score = result.layers.first?.outputSums[0] ?? 0
    guard score.isFinite else {
      throw ModelError(file: self.model, "the score of class \(cls) is \(score); relevance can only be checked for a finite score")
    }
    let byName = Dictionary(uniqueKeysWithValues: graph.nodes.enumerated().map { ($1.name, $0) })
    var layers: [VerifyReport.Layer] = []
    var failures: [String] = [], zeroLosses: [String] = []
    for layer in result.layers {
      let index = byName[layer.node]!
      let rule = assignment.rules[index] ?? .pass
      let out = layer.outputSums[0], inSum = layer.inputSums[0]
      guard out.isFinite, inSum.isFinite else {
        let bad = out.isNaN || inSum.isNaN ? "NaN" : "infinite"
        throw ModelError(file: self.model, node: layer.node, opType: layer.op,
                         "relevance became \(bad) under rule \(rule) (arriving \(out), passed on \(inSum)); conservation cannot be checked")
      }
      let loss = abs(out) > 0 ? (out - inSum) / abs(out) : (inSum == 0 ? 0 : -1)
      let conserving = rule.shouldConserve  // from RuleCatalog
      var why: [String] = []
      if case .linear(let linear) = rule {
        if linear.bias, graph.constant(graph.nodes[index], 2) != nil { why.append("bias absorption") }
        if case .epsilon = linear.kind { why.append("stabilizer") }
        if case .gamma = linear.kind { why.append("stabilizer") }
      }
      if rule == .centering { why.append("stabilizer") }
      if layer.zeroDenominators > 0 { why.append("\(layer.zeroDenominators) zero denominators") }
      var status = VerifyReport.Status.ok
      if conserving && abs(loss) > tolerance {
        let described = "\(layer.node) (\(layer.op), \(rule)): relative loss \(loss)"
        // What arrived at the zero denominators is what such a rule drops there; whatever else
        // is missing (or gained) is a leak. Signed relevance can make that drop negative.
        let arriving = layer.zeroDenominatorRelevance[0]
        let unexplained = abs(out) > 0 ? (out - inSum - arriving) / abs(out) : 0
        if layer.zeroDenominators > 0, rule.losesOnlyAtZeroDenominators, abs(unexplained) <= tolerance {
          status = .zeroDenominators
          zeroLosses.append(described + " at \(layer.zeroDenominators) zero denominators, where \(arriving) arrived")
        } else {
          status = .notConserved
          failures.append(described)
        }
      }
      layers.append(.init(node: layer.node, op: layer.op, rule: rule.description, relevanceOut: Double(out),
                          relevanceIn: Double(inSum), ratio: out != 0 ? Double(inSum) / Double(out) : nil,
                          ratioToScore: score != 0 ? Double(inSum) / Double(score) : nil, conserving: conserving,
                          leak: why.joined(separator: ", "), zeroDenominators: layer.zeroDenominators,
                          zeroDenominatorRelevance: Double(layer.zeroDenominatorRelevance[0]), status: status))
    }
    let total = result.input.signalSums(1)[0]
    guard total.isFinite else {
      throw ModelError(file: self.model, "relevance at the input is \(total); conservation cannot be checked")
    }
    return VerifyReport(model: self.model, rules: rules, classIndex: cls, score: Double(score),
                        inputRelevance: Double(total), inputRatio: score != 0 ? Double(total) / Double(score) : nil,
                        tolerance: Double(tolerance.description) ?? Double(tolerance), layers: layers, failures: failures, zeroDenominatorLosses: zeroLosses)
  }
}

/// What `clrp verify` reports, the same values for the text and the JSON output.
struct VerifyReport: Encodable {
  enum Status: String, Encodable {
    /// Conserved within the tolerance, or a rule that need not conserve.
    case ok
    /// A conserving rule lost (or created) more than the tolerance: exit status 1.
    case notConserved = "not-conserved"
    /// A single-denominator rule lost relevance where denominators are exactly 0 (a warning).
    case zeroDenominators = "zero-denominators"
  }

  struct Layer: Encodable {
    var node: String
    var op: String
    var rule: String
    var relevanceOut: Double
    var relevanceIn: Double
    /// R in / R out; nil (null) when nothing arrived.
    var ratio: Double?
    /// R in / score; nil (null) when the score is 0.
    var ratioToScore: Double?
    var conserving: Bool
    var leak: String
    var zeroDenominators: Int
    /// The relevance that arrived at those zero denominators.
    var zeroDenominatorRelevance: Double
    var status: Status

    var failed: Bool { status == .notConserved }

    enum CodingKeys: String, CodingKey {
      case node, op, rule, relevanceOut = "relevance_out", relevanceIn = "relevance_in", ratio
      case ratioToScore = "ratio_to_score", conserving, leak, zeroDenominators = "zero_denominators"
      case zeroDenominatorRelevance = "zero_denominator_relevance", status, failed
    }

    func encode(to encoder: Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(node, forKey: .node)
      try c.encode(op, forKey: .op)
      try c.encode(rule, forKey: .rule)
      try c.encode(relevanceOut, forKey: .relevanceOut)
      try c.encode(relevanceIn, forKey: .relevanceIn)
      try c.encode(ratio, forKey: .ratio)  // null when undefined
      try c.encode(ratioToScore, forKey: .ratioToScore)
      try c.encode(conserving, forKey: .conserving)
      try c.encode(leak, forKey: .leak)
      try c.encode(zeroDenominators, forKey: .zeroDenominators)
      try c.encode(zeroDenominatorRelevance, forKey: .zeroDenominatorRelevance)
      try c.encode(status, forKey: .status)
      try c.encode(failed, forKey: .failed)
    }
  }

  static let zeroDenominatorReason = "z⁺ and the other single-denominator rules cannot conserve where all inputs of a unit are 0: the relevance arriving there is lost by the rule's definition, not a bug"

  var model: String
  var rules: String
  var classIndex: Int
  var score: Double
  var inputRelevance: Double
  /// Input relevance / score; nil (null) when the score is 0.
  var inputRatio: Double?
  var tolerance: Double
  var layers: [Layer]
  /// Conserving nodes that lost more than the tolerance (exit status 1).
  var failures: [String]
  /// Nodes whose loss happened where denominators are 0 (a warning, exit status 0).
  var zeroDenominatorLosses: [String]

  var conserved: Bool { failures.isEmpty }

  enum CodingKeys: String, CodingKey {
    case model, rules, classIndex = "class", score, inputRelevance = "input_relevance", inputRatio = "input_ratio"
    case tolerance, layers, failures, zeroDenominatorLosses = "zero_denominator_losses", conserved
  }

  func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(model, forKey: .model)
    try c.encode(rules, forKey: .rules)
    try c.encode(classIndex, forKey: .classIndex)
    try c.encode(score, forKey: .score)
    try c.encode(inputRelevance, forKey: .inputRelevance)
    try c.encode(inputRatio, forKey: .inputRatio)
    try c.encode(tolerance, forKey: .tolerance)
    try c.encode(layers, forKey: .layers)
    try c.encode(failures, forKey: .failures)
    try c.encode(zeroDenominatorLosses, forKey: .zeroDenominatorLosses)
    try c.encode(conserved, forKey: .conserved)
  }

  /// The plain-text report.
  var text: String {
    func ratio(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "-" }
    var lines = ["\(model): class \(classIndex), score \(Float(score)), rules \(rules)", ""]
    let table = TextTable(columns: ["node", "op", "rule", "R out", "R in", "in/out", "in/score", "leak"], rightAligned: [3, 4, 5, 6])
    for layer in layers {
      let mark = layer.status == .notConserved ? "NOT CONSERVED " : layer.status == .zeroDenominators ? "LOST AT ZERO DENOMINATORS " : ""
      table.add([layer.node, layer.op, layer.rule, String(format: "%.6g", layer.relevanceOut), String(format: "%.6g", layer.relevanceIn),
                 ratio(layer.ratio), ratio(layer.ratioToScore), mark + layer.leak])
    }
    lines.append(table.render())
    lines.append("")
    if let inputRatio {
      lines.append(String(format: "relevance at the input: %.6g = %.6f of the score", inputRelevance, inputRatio))
    } else {
      lines.append(String(format: "relevance at the input: %.6g; the score is 0, so there is no relevance to conserve", inputRelevance))
    }
    let tol = Float(tolerance)
    if failures.isEmpty && zeroDenominatorLosses.isEmpty {
      lines.append("every conserving rule conserved within \(tol)")
    }
    if !zeroDenominatorLosses.isEmpty {
      lines.append("\(zeroDenominatorLosses.count) node(s) lost more than \(tol) only where denominators are exactly 0 (\(Self.zeroDenominatorReason)):")
      lines += zeroDenominatorLosses.map { "  " + $0 }
      if failures.isEmpty { lines.append("every other conserving rule conserved within \(tol)") }
    }
    if !failures.isEmpty {
      lines.append("\(failures.count) node(s) with conserving rules lost more than \(tol):")
      lines += failures.map { "  " + $0 }
    }
    return lines.joined(separator: "\n")
  }
}
