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
      Exits with status 1 when a rule that should conserve relevance (zplus, alphabeta, zbox,
      wsquare, flat without bias; pooling rules; pass-through) loses more than --tolerance.

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
      let model = try loadModel(model)
      let preprocessing = try preprocess.map { try Preprocessing.load(nameOrPath: $0) }
      let shape = try model.inputShape(batch: 1)
      let image = try input.map { try loadImageTensor($0, shape: shape) } ?? randomImage(shape, preprocessing)
      let graph = try model.canonical(inputShape: shape)
      printNotes(graph.notes)
      let assignment = try RuleSet.load(nameOrPath: rules).assign(to: graph, preprocessing: preprocessing)
      let plan = try RelevancePlan(graph: graph, rules: assignment.rules)
      let (classes, result) = try target.map { ([$0], try plan.explain(image, classes: [$0])) }
        ?? plan.explainTopClasses(image, count: 1)
      let cls = classes[0]
      let initial = result.layers.first?.outputSums[0] ?? 0
      var failures: [String] = []
      var rows: [[String: Any]] = []
      let byName = Dictionary(uniqueKeysWithValues: graph.nodes.enumerated().map { ($1.name, $0) })
      for layer in result.layers {
        let index = byName[layer.node]!
        let rule = assignment.rules[index] ?? .pass
        let out = layer.outputSums[0], inSum = layer.inputSums[0]
        let loss = abs(out) > 0 ? (out - inSum) / abs(out) : (inSum == 0 ? 0 : -1)
        let conserving = Self.shouldConserve(rule)
        var why: [String] = []
        if case .linear(let linear) = rule {
          if linear.bias, graph.constant(graph.nodes[index], 2) != nil { why.append("bias absorption") }
          if case .epsilon = linear.kind { why.append("stabilizer") }
          if case .gamma = linear.kind { why.append("stabilizer") }
        }
        if layer.zeroDenominators > 0 { why.append("\(layer.zeroDenominators) zero denominators") }
        let failed = conserving && abs(loss) > tolerance
        if failed { failures.append("\(layer.node) (\(layer.op), \(rule)): relative loss \(loss)") }
        rows.append(["node": layer.node, "op": layer.op, "rule": rule.description, "relevance_out": Double(out),
                     "relevance_in": Double(inSum), "ratio": abs(out) > 0 ? Double(inSum / out) : 1,
                     "ratio_to_score": initial != 0 ? Double(inSum / initial) : 0, "conserving": conserving,
                     "leak": why.joined(separator: ", "), "failed": failed])
      }
      let total = result.input.signalSums(1)[0]
      if json {
        let object: [String: Any] = ["model": self.model, "rules": rules, "class": cls, "score": Double(initial),
                                     "input_relevance": Double(total), "layers": rows, "failures": failures]
        try printJSON(object)
      } else {
        print("\(self.model): class \(cls), score \(initial), rules \(rules)\n")
        let table = TextTable(columns: ["node", "op", "rule", "R out", "R in", "in/out", "in/score", "leak"], rightAligned: [3, 4, 5, 6])
        for row in rows {
          table.add([row["node"] as! String, row["op"] as! String, row["rule"] as! String,
                     String(format: "%.6g", row["relevance_out"] as! Double), String(format: "%.6g", row["relevance_in"] as! Double),
                     String(format: "%.6f", row["ratio"] as! Double), String(format: "%.6f", row["ratio_to_score"] as! Double),
                     (row["failed"] as! Bool ? "NOT CONSERVED " : "") + (row["leak"] as! String)])
        }
        print(table.render())
        print(String(format: "\nrelevance at the input: %.6g = %.6f of the score", total, initial != 0 ? total / initial : 0))
        if failures.isEmpty {
          print("every conserving rule conserved within \(tolerance)")
        } else {
          print("\(failures.count) node(s) with conserving rules lost more than \(tolerance):")
          for f in failures { print("  " + f) }
        }
      }
      if !failures.isEmpty { throw ExitCode(1) }
    }
  }

  /// Rules that conserve relevance exactly (up to zero denominators).
  static func shouldConserve(_ rule: Rule) -> Bool {
    switch rule {
    case .linear(let linear):
      guard !linear.bias else { return false }
      switch linear.kind {
      case .zPlus, .alphaBeta, .zBox, .wSquare, .flat: return true
      default: return false
      }
    case .winnerTakeAll, .proportional, .uniform, .pass: return true
    case .gradient, .guidedBackprop, .deconvnet: return false
    }
  }
}
