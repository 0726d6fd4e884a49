import Foundation
import XCTest
@testable import Relevance

/// The rule catalog is the one place rules are described; what is derived from it agrees.
final class RuleCatalogTests: XCTestCase {
  static let rulesDoc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Docs/RULES.md").path

  /// Docs/RULES.md's rules table is the catalog's rendering (CLRP_UPDATE_DOCS=1 rewrites it).
  func testDocsTableIsTheCatalogsRendering() throws {
    let text = try String(contentsOfFile: Self.rulesDoc, encoding: .utf8)
    let begin = "<!-- rules-table:begin -->\n", end = "<!-- rules-table:end -->"
    let start = try XCTUnwrap(text.range(of: begin)), stop = try XCTUnwrap(text.range(of: end))
    let expected = RuleCatalog.markdownTable() + "\n"
    if ProcessInfo.processInfo.environment["CLRP_UPDATE_DOCS"] == "1" {
      try (text[..<start.upperBound] + expected + text[stop.lowerBound...]).write(toFile: Self.rulesDoc, atomically: true, encoding: .utf8)
      return
    }
    XCTAssertEqual(String(text[start.upperBound..<stop.lowerBound]), expected)
  }

  func testVocabularyIsDerivedFromTheCatalog() throws {
    XCTAssertEqual(RuleSet.ruleNames, RuleCatalog.all.map(\.name))
    XCTAssertEqual(Set(RuleSet.ruleNames).count, RuleSet.ruleNames.count, "rule names must be unique")
    for d in RuleCatalog.all {
      XCTAssertEqual(RuleSet.ruleParameters[d.name], d.parameters.map(\.key), d.name)
    }
    // Every rule parses from a minimal entry and gives a spec that serves what the catalog says.
    let minimal = ["alphabeta": ", alpha: 2", "zbox": ", low: 0, high: 1"]
    for d in RuleCatalog.all {
      let op = d.onlyOps?.first ?? [RuleTarget.linear: "Conv", .maxPool: "MaxPool", .avgPool: "AveragePool",
                                     .globalAvgPool: "GlobalAveragePool", .sum: "Add", .product: "Mul", .layerNorm: "LayerNormalization",
                                     .other: "Relu"][RuleTarget.allCases.first(where: d.serves.contains)!]!
      let set = try RuleSet(yaml: "rules:\n  - {op: \(op), rule: \(d.name)\(minimal[d.name] ?? "")}", source: "test")
      XCTAssertEqual(set.entries[0].rule.catalogName, d.name)
      XCTAssertEqual(set.entries[0].rule.targets, d.serves, d.name)
    }
  }

  /// Rules that conserve per the catalog; the gradient and epsilon do not.
  func testConservationComesFromTheCatalog() {
    XCTAssertTrue(Rule.linear(LinearRule(.zPlus)).shouldConserve)
    XCTAssertFalse(Rule.linear(LinearRule(.zPlus, bias: true)).shouldConserve)
    XCTAssertFalse(Rule.linear(LinearRule(.epsilon(1e-6))).shouldConserve)
    XCTAssertTrue(Rule.signal.shouldConserve)
    XCTAssertTrue(Rule.absProportional.shouldConserve)
    XCTAssertFalse(Rule.gradient.shouldConserve)
    XCTAssertFalse(Rule.guidedBackprop.isLinearInRelevance)
    XCTAssertTrue(Rule.equal.isLinearInRelevance)
  }
}
