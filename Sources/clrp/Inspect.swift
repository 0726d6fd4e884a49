import ArgumentParser
import Foundation
import Relevance

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the canonical graph clrp builds from an ONNX model.",
    discussion: """
      One row per node of the canonical graph (after constant folding, BatchNorm folding,
      Identity/Dropout removal, dense-layer recognition and trailing-Softmax removal): the op,
      the ONNX op it came from, input and output shapes for one image, parameters and
      multiply-accumulates (conv and dense layers). Totals at the bottom, then one row per op
      type: how many nodes, their parameters and MACs (JSON: "op_counts").

      With --rules, two more columns: the relevance rule of each node and the
      entry of the rule set that chose it (a preset or a YAML file; see
      Docs/RULES.md). The z^B bounds of the paper preset need --preprocess.

      Examples:
        clrp inspect Graphs/build/vgg16.onnx
        clrp inspect model.onnx --input-shape 1,3,299,299 --json
        clrp inspect model.onnx --rules paper --preprocess imagenet
      """)

  @Argument(help: "The ONNX model.") var model: String
  @Option(help: "Input shape (comma separated) when the model's non-batch sizes are symbolic.")
  var inputShape: String?
  @Flag(help: "Print JSON instead of a table.") var json = false
  @Option(help: "Show the rule of every node: a preset (\(RuleSet.presetNames.joined(separator: ", "))) or a rules YAML file.")
  var rules: String?
  @Option(help: "Input preprocessing for z^B bounds with --rules: imagenet, unit, or a YAML file.")
  var preprocess: String?

  func run() throws {
    try reportingErrors {
      let model = try loadModel(model)
      let shape: [Int]
      if let inputShape {
        shape = try inputShape.split(separator: ",").map {
          guard let n = Int($0.trimmingCharacters(in: .whitespaces)), n > 0 else {
            throw ModelError("--input-shape '\(inputShape)' is not a list of positive integers")
          }
          return n
        }
      } else {
        shape = try model.inputShape(batch: 1)
      }
      let graph = try model.canonical(inputShape: shape)
      printNotes(graph.notes)
      var ruleSet: RuleSet?
      var preprocessing: Preprocessing?
      var assignment: RuleAssignment?
      if let rules {
        ruleSet = try RuleSet.load(nameOrPath: rules)
        preprocessing = try preprocess.map { try Preprocessing.load(nameOrPath: $0) }
        let assigned = try ruleSet!.assign(to: graph, preprocessing: preprocessing)
        for note in assigned.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        assignment = assigned
      } else if preprocess != nil {
        throw ModelError("--preprocess only matters with --rules")
      }
      let rows = graph.nodes.enumerated().map { i, node -> [String: Any] in
        var row: [String: Any] = [
          "name": node.name, "op": node.op.name, "source_op": node.sourceOpType,
          "inputs": node.inputs.filter { !graph.isConstant($0) }.map { graph.shape(of: $0) ?? [] },
          "output": graph.shapes[node.output] ?? [],
          "params": graph.parameterCount(node), "macs": graph.multiplyAccumulates(node),
        ]
        if let assignment {
          row["rule"] = assignment.rules[i]?.description ?? "-"
          row["why"] = assignment.reasons[i]
        }
        return row
      }
      let totalParams = graph.nodes.reduce(0) { $0 + graph.parameterCount($1) }
      let totalMACs = graph.nodes.reduce(0) { $0 + graph.multiplyAccumulates($1) }
      let perOp = OpCount.summary(of: graph)
      if json {
        var object: [String: Any] = [
          "model": self.model, "producer": graph.producer, "opset": graph.opsetVersion,
          "input": ["name": graph.input, "shape": shape], "outputs": graph.outputs.map { ["name": $0, "shape": graph.shape(of: $0) ?? []] },
          "nodes": rows, "total_params": totalParams, "total_macs": totalMACs, "notes": graph.notes,
          "op_counts": perOp.map { ["op": $0.op, "count": $0.count, "params": $0.params, "macs": $0.macs] as [String: Any] },
        ]
        if let ruleSet, let assignment {
          object["rules"] = ["name": ruleSet.name ?? "", "source": ruleSet.source, "notes": assignment.notes]
          object["preprocess"] = preprocessing?.name ?? NSNull()
        }
        try printJSON(object)
        return
      }
      print("\(self.model)  (producer: \(graph.producer.isEmpty ? "unknown" : graph.producer), opset \(graph.opsetVersion))")
      print("input '\(graph.input)' \(shape)\n")
      if let ruleSet {
        let prep = preprocessing.map { ", preprocessing \($0.name)" } ?? ""
        print("rules \(ruleSet.name ?? ruleSet.source) (\(ruleSet.source)\(prep))\n")
      }
      let ruleColumns = assignment == nil ? [] : ["rule", "why"]
      let table = TextTable(columns: ["#", "node", "op", "from", "input", "output", "params", "MACs"] + ruleColumns,
                            rightAligned: [0, 6, 7])
      for (i, row) in rows.enumerated() {
        let op = row["op"] as! String, source = row["source_op"] as! String
        table.add([String(i), row["name"] as! String, op, source == op ? "" : source,
                   (row["inputs"] as! [[Int]]).map(formatShape).joined(separator: " "),
                   formatShape(row["output"] as! [Int]), formatCount(row["params"] as! Int), formatCount(row["macs"] as! Int)]
                  + (assignment == nil ? [] : [ruleCell(assignment!.rules[i]), row["why"] as! String]))
      }
      table.add(["", "total", "", "", "", graph.outputs.map { formatShape(graph.shape(of: $0) ?? []) }.joined(separator: " "),
                 formatCount(totalParams), formatCount(totalMACs)] + ruleColumns.map { _ in "" })
      print(table.render(separatorBeforeLast: true))
      print("\n\(graph.nodes.count) nodes, \(formatCount(totalParams)) parameters (\(totalParams)), \(formatCount(totalMACs)) MACs (\(totalMACs)) per image")
      let opTable = TextTable(columns: ["op", "nodes", "params", "MACs"], rightAligned: [1, 2, 3])
      for row in perOp { opTable.add([row.op, String(row.count), formatCount(row.params), formatCount(row.macs)]) }
      print("\nper op type:\n" + opTable.render())
    }
  }
}

/// Nodes of one op type in a canonical graph, with their parameters and multiply-accumulates.
struct OpCount {
  var op: String
  var count = 0, params = 0, macs = 0

  /// One entry per op type of `graph`, most nodes first (ties by name).
  static func summary(of graph: Graph) -> [OpCount] {
    var byOp: [String: OpCount] = [:]
    for node in graph.nodes {
      let name = node.op.name
      byOp[name, default: OpCount(op: name)].count += 1
      byOp[name]!.params += graph.parameterCount(node)
      byOp[name]!.macs += graph.multiplyAccumulates(node)
    }
    return byOp.values.sorted { ($0.count, $1.op) > ($1.count, $0.op) }
  }
}

/// A rule for the table: z^B bounds to 3 decimals (JSON keeps the full `Rule.description`).
func ruleCell(_ rule: Rule?) -> String {
  guard let rule else { return "-" }
  if case .linear(let linear) = rule, case .zBox(let low, let high) = linear.kind {
    func list(_ v: [Float]) -> String {
      let items = v.map { String(format: "%.3f", $0) }
      return items.count == 1 ? items[0] : "[" + items.joined(separator: ",") + "]"
    }
    let bias = linear.bias == LinearRule.defaultBias(linear.kind) ? "" : (linear.bias ? " +bias" : " -bias")
    return "zbox(\(list(low)), \(list(high)))" + bias
  }
  return rule.description
}

func formatShape(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

/// 15_470_264_320 → "15.47 G".
func formatCount(_ n: Int) -> String {
  if n == 0 { return "-" }
  let units: [(Double, String)] = [(1e9, " G"), (1e6, " M"), (1e3, " k")]
  for (scale, suffix) in units where Double(n) >= scale { return String(format: "%.2f", Double(n) / scale) + suffix }
  return String(n)
}

/// A plain-text table with padded columns.
final class TextTable {
  let columns: [String]
  let rightAligned: Set<Int>
  var rows: [[String]] = []

  init(columns: [String], rightAligned: Set<Int>) {
    self.columns = columns
    self.rightAligned = rightAligned
  }

  func add(_ row: [String]) { rows.append(row) }

  func render(separatorBeforeLast: Bool = false) -> String {
    let all = [columns] + rows
    let widths = columns.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
    func line(_ row: [String]) -> String {
      row.enumerated().map { c, cell in
        let pad = String(repeating: " ", count: widths[c] - cell.count)
        return rightAligned.contains(c) ? pad + cell : cell + pad
      }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
    let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
    var lines = [line(columns), rule] + rows.map(line)
    if separatorBeforeLast, rows.count > 0 { lines.insert(rule, at: lines.count - 1) }
    return lines.joined(separator: "\n")
  }
}
