import Foundation
import XCTest
@testable import Relevance

/// The op names of rule files (`op:`): every op that reaches a relevance plan can be named,
/// Slice (and so a Split's pieces) included; an unknown name is refused in one line that
/// suggests the closest names and says where the full list is, instead of listing it.
final class RuleOpNameTests: XCTestCase {
  func entryError(_ entry: String) -> String {
    message { _ = try RuleSet(yaml: "rules:\n  - \(entry)\n", source: "r.yaml") }
  }

  /// Relu → Split (attribute sizes [2, 3], opset 11) → Concat: two Slice nodes.
  func splitGraph() throws -> Graph {
    try Canonicalizer.canonicalize(ONNXImporter.load(path: Fixtures.path("split/sizes_attribute_opset11.onnx")), inputShape: [1, 5, 2, 3])
  }

  func testSliceIsNamedInRulesAndAssigned() throws {
    let graph = try splitGraph()
    let slices = graph.nodes.indices.filter { graph.nodes[$0].op == .slice }
    XCTAssertEqual(slices.map { graph.nodes[$0].name }, ["split[0]", "split[1]"])

    let rules = try RuleSet(yaml: "rules:\n  - {op: slice, rule: gradient}\n", source: "slice.yaml")
    XCTAssertEqual(rules.entries[0].ops, ["Slice"], "case-insensitive, canonical spelling")
    let assignment = try rules.assign(to: graph, preprocessing: nil)
    for i in graph.nodes.indices {
      if slices.contains(i) {
        XCTAssertEqual(assignment.rules[i], .gradient, graph.nodes[i].name)
        XCTAssertEqual(assignment.reasons[i], "entry 1 (op: slice)", graph.nodes[i].name)
      } else {
        XCTAssertEqual(assignment.rules[i], .pass, graph.nodes[i].name)
        XCTAssertEqual(assignment.reasons[i], "default: pass", graph.nodes[i].name)
      }
    }
    // The plan compiles with it: the pieces' relevance goes back to the channels they came
    // from (the Concat reverses them), which conserves.
    let plan = try RelevancePlan(graph: graph, rules: assignment.rules.map { $0! })
    var rng = SeededRandom(seed: 7)
    let result = try plan.explain(rng.tensor([1, 5, 2, 3]), signals: rng.tensor([1, 5, 2, 3]), at: "y")
    for name in ["split[0]", "split[1]"] {
      let layer = try XCTUnwrap(result.layers.first { $0.node == name })
      XCTAssertEqual(layer.inputSums[0], layer.outputSums[0], accuracy: 1e-5)
      XCTAssertNotEqual(layer.outputSums[0], 0)
    }

    // Slice is in the `other` family, like the reshapes: pass and gradient, no other rule.
    XCTAssertNoThrow(try RuleSet(yaml: "rules:\n  - {op: [Slice, Reshape], rule: pass}\n", source: "r.yaml"))
    XCTAssertTrue(entryError("{op: Slice, rule: zplus}").contains("rule zplus cannot serve Slice; it applies to Conv, ConvTranspose, Dense"))
    XCTAssertTrue(entryError("{op: Slice, rule: winner-take-all}").contains("rule winner-take-all cannot serve Slice"))
    XCTAssertTrue(entryError("{op: Slice, rule: guided-backprop}").contains("rule guided-backprop serves Relu only"))
  }

  func testUnknownOpSuggestsAndPointsToTheList() {
    let typo = entryError("{op: Slise, rule: pass}")
    XCTAssertTrue(typo.hasPrefix("r.yaml: entry 1 (line 2: {op: Slise, rule: pass}): unknown op `Slise` (did you mean Slice?); "), typo)
    for part in ["`op:` takes canonical op names such as Conv, Dense, MaxPool, Relu", "the groups linear, pooling, activation",
                 "Docs/RULES.md", "`clrp inspect MODEL`"] {
      XCTAssertTrue(typo.contains(part), "\(typo) should say \(part)")
    }
    XCTAssertFalse(typo.contains("\n"), "one line")
    XCTAssertLessThan(typo.count, 320, typo)
    XCTAssertFalse(typo.contains("ThresholdedRelu"), "not the whole list: \(typo)")

    XCTAssertTrue(entryError("{op: sigmod, rule: pass}").contains("unknown op `sigmod` (did you mean Sigmoid?)"))
    XCTAssertTrue(entryError("{op: activations, rule: pass}").contains("unknown op `activations` (did you mean activation?)"), "groups too")
    XCTAssertTrue(entryError("{op: Split, rule: pass}").contains("unknown op `Split` (canonical graphs call it Slice, one per piece)"))
    XCTAssertTrue(entryError("{op: Gemm, rule: zplus}").contains("unknown op `Gemm` (canonical graphs call it Dense)"))
    let far = entryError("{op: Hardmax, rule: pass}")
    XCTAssertTrue(far.contains("unknown op `Hardmax`; `op:` takes"), far)

    XCTAssertEqual(closestNames(to: "relu6", among: RuleSet.opNames), ["Relu"])
    XCTAssertEqual(closestNames(to: "mix", among: ["MaxPool", "Min", "Max"]), ["Min", "Max"], "equally close: in order; MaxPool is 5 away")
    XCTAssertEqual(closestNames(to: "maxpooling", among: ["Max", "MaxPool", "AveragePool"]), ["MaxPool"], "within a third of the length")
    XCTAssertEqual(closestNames(to: String(repeating: "x", count: 65), among: ["x"]), [], "no suggestion for a long name")
    XCTAssertEqual(editDistance(Array("kitten"), Array("sitting")), 3)
    XCTAssertEqual(editDistance(Array(""), Array("abc")), 3)
    XCTAssertEqual(editDistance(Array("abc"), Array("")), 3)
  }

  /// Every op left in the canonical graphs of the committed models (the fixture models, the
  /// torch op fixtures, the zoo blocks, the Split cases) can be named in a rule file.
  func testEveryCanonicalOpOfTheFixturesCanBeNamed() throws {
    var paths: [String] = []
    for directory in ["models", "ops", "zoo", "split"] {
      let files = FileManager.default.enumerator(atPath: Fixtures.path(directory))?.compactMap { $0 as? String } ?? []
      paths += files.filter { $0.hasSuffix(".onnx") }.map { Fixtures.path("\(directory)/\($0)") }
    }
    var seen: Set<String> = [], canonicalized = 0, refused: [String] = []
    for path in paths.sorted() {
      guard let model = try? ONNXImporter.load(path: path), let shape = Canonicalizer.inputShape(of: model, batch: 1),
            let graph = try? Canonicalizer.canonicalize(model, inputShape: shape) else { refused.append(path); continue }
      canonicalized += 1
      seen.formUnion(graph.nodes.map(\.op.name))
    }
    // All but the invalid Split cases (15) load; the check below would otherwise see too little.
    XCTAssertGreaterThanOrEqual(canonicalized, 60, "refused: \(refused)")
    XCTAssertTrue(refused.allSatisfy { $0.contains("/split/") }, "\(refused)")
    XCTAssertTrue(seen.contains("Slice"), "the Split cases reach the rules")
    XCTAssertEqual(seen.subtracting(RuleSet.opNames), [], "ops a rule file cannot name")
  }

  /// Docs/RULES.md's list of op names ("Op names are ...") holds every name of `RuleSet.opNames`.
  func testRulesDocListsEveryOpName() throws {
    let doc = try String(contentsOfFile: Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Docs/RULES.md").path, encoding: .utf8)
    let start = try XCTUnwrap(doc.range(of: "- **Op names**"))
    let end = try XCTUnwrap(doc.range(of: "- **Globs**", range: start.upperBound..<doc.endIndex))
    let paragraph = doc[start.lowerBound..<end.lowerBound]
    for name in RuleSet.opNames {
      XCTAssertTrue(paragraph.contains("`\(name)`"), "Docs/RULES.md's op names lack `\(name)`")
    }
  }
}
