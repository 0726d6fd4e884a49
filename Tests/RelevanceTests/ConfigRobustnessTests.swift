import Foundation
import XCTest
@testable import Relevance

/// Hostile or out-of-range configuration files (rule sets, preprocessing) fail with one clear
/// message naming the file, the line or entry and the reason, instead of crashing or spinning.
final class ConfigRobustnessTests: XCTestCase {
  func assertRefused(_ yaml: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
    let rules = message({ _ = try RuleSet(yaml: yaml, source: "deep.yaml") }, file: file, line: line)
    let prep = message({ _ = try Preprocessing(yaml: yaml, source: "deep.yaml") }, file: file, line: line)
    for text in [rules, prep] {
      XCTAssertTrue(text.hasPrefix("deep.yaml: "), text, file: file, line: line)
      for part in parts { XCTAssertTrue(text.contains(part), text, file: file, line: line) }
      XCTAssertLessThan(text.count, 300, file: file, line: line)
    }
  }

  // MARK: Case 2: nesting depth

  func testDeepFlowNestingIsRefusedBeforeParsing() {
    let deep = "rules: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
    assertRefused(deep, contains: ["line 1", "more than 64 levels"])
    let braces = "mean: " + String(repeating: "{a: ", count: 5000) + "1" + String(repeating: "}", count: 5000)
    assertRefused(braces, contains: ["line 1", "more than 64 levels"])
  }

  func testDeepBlockNestingIsRefusedBeforeParsing() {
    var mappings = "rules:\n"
    for i in 0..<3000 { mappings += String(repeating: "  ", count: i + 1) + "k\(i):\n" }
    assertRefused(mappings, contains: ["line 65", "more than 64 levels"])
    let dashes = "rules:\n  " + String(repeating: "- ", count: 3000) + "x\n"
    assertRefused(dashes, contains: ["line 2", "more than 64 levels"])
  }

  func testNestingScanIgnoresQuotesCommentsAndBlockScalars() throws {
    let brackets = String(repeating: "[", count: 200)
    let yaml = """
      name: 'odd \(brackets)'
      description: "also \(brackets) and \\" \(brackets)"   # and \(brackets)
      # \(brackets)
      rules:
        - {op: linear, rule: zplus, name: "conv[1]"}
        - {op: pooling, rule: proportional}

      """
    XCTAssertNoThrow(try ConfigYAML.checkNesting(yaml, source: "ok.yaml"))
    XCTAssertEqual(try RuleSet(yaml: yaml, source: "ok.yaml").entries.count, 2)
    var indented = "description: |\n"
    for i in 0..<200 { indented += String(repeating: " ", count: i + 2) + "text\n" }
    indented += "rules:\n  - {op: linear, rule: zplus}\n"
    XCTAssertNoThrow(try ConfigYAML.checkNesting(indented, source: "ok.yaml"))
    let sixty = "rules: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
    XCTAssertNoThrow(try ConfigYAML.checkNesting(sixty, source: "ok.yaml"))
  }

  // MARK: Case 6: alias bombs and long entries

  /// One entry whose `name` defines `levels` anchors, each a list of `fanOut` aliases of the
  /// one before: fanOut^levels values once expanded, from a few hundred bytes.
  func aliasBomb(levels: Int, fanOut: Int, rule: String) -> String {
    var anchors = ["&a0 [" + Array(repeating: "x", count: fanOut).joined(separator: ", ") + "]"]
    for i in 1..<levels {
      anchors.append("&a\(i) [" + Array(repeating: "*a\(i - 1)", count: fanOut).joined(separator: ", ") + "]")
    }
    return "rules:\n  - {op: linear, rule: \(rule), name: [" + anchors.joined(separator: ", ") + "]}\n"
  }

  func testAliasBombIsRefusedQuickly() {
    let bomb = aliasBomb(levels: 10, fanOut: 10, rule: "zplus")
    XCTAssertLessThan(bomb.utf8.count, 1000)
    let started = Date()
    let text = message { _ = try RuleSet(yaml: bomb, source: "bomb.yaml") }
    XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    XCTAssertTrue(text.hasPrefix("bomb.yaml: has more than 100000 values once its aliases"), text)
    let prep = message { _ = try Preprocessing(yaml: bomb.replacingOccurrences(of: "rules:\n  -", with: "std: 1\nmean:"), source: "bomb.yaml") }
    XCTAssertTrue(prep.contains("more than 100000 values"), prep)
  }

  func testAliasesThatNestTooDeepAreRefused() {
    // Each anchor is 40 levels deep inside the one before: 3 × 40 levels once expanded.
    let open = String(repeating: "[", count: 39), close = String(repeating: "]", count: 39)
    let yaml = "a: &a \(open)x\(close)\nb: &b \(open)*a\(close)\nc: &c \(open)*b\(close)\nrules: [*c]\n"
    let text = message { _ = try RuleSet(yaml: yaml, source: "nest.yaml") }
    XCTAssertTrue(text.contains("nested more than 64 levels deep once its aliases are expanded"), text)
  }

  func testMessagesQuoteAShortExcerptOfTheEntry() {
    // Within the budget (10^4 values) but far too long to print.
    let yaml = aliasBomb(levels: 4, fanOut: 10, rule: "nonsense")
    let text = message { _ = try RuleSet(yaml: yaml, source: "long.yaml") }
    XCTAssertTrue(text.hasPrefix("long.yaml: entry 1 (line 2: {op: linear, rule: nonsense, name: [[x, x"), text)
    XCTAssertTrue(text.contains("…)"), text)
    XCTAssertTrue(text.contains("unknown rule `nonsense`"), text)
    XCTAssertLessThan(text.count, 400, text)
    let longName = String(repeating: "n", count: 100_000)
    let unknown = message { _ = try RuleSet(yaml: "rules:\n  - {op: \(longName), rule: zplus}\n", source: "long.yaml") }
    XCTAssertLessThan(unknown.count, 800, String(unknown.prefix(800)))
  }

  // MARK: Case 12: numbers that do not fit 32-bit floats

  func ruleMessage(_ entry: String) -> String {
    message { _ = try RuleSet(yaml: "rules:\n  - \(entry)\n", source: "r.yaml") }
  }

  func testRuleNumbersMustFitFloat() throws {
    let big = ruleMessage("{op: linear, rule: epsilon, epsilon: 1e300}")
    XCTAssertEqual(big, "r.yaml: entry 1 (line 2: {op: linear, rule: epsilon, epsilon: 1e300}): `epsilon` 1e+300 is too large for 32-bit floats (largest 3.4028235e+38), which rules compute with")
    XCTAssertTrue(ruleMessage("{op: linear, rule: epsilon, epsilon: 1e-50}").contains("`epsilon` 1e-50 is too small for 32-bit floats (it would be 0, the zero rule)"))
    XCTAssertTrue(ruleMessage("{op: linear, rule: epsilon, epsilon: 1e-40}").contains("too small for 32-bit floats (it would be a subnormal"))
    XCTAssertTrue(ruleMessage("{op: linear, rule: gamma, gamma: 1e300}").contains("`gamma` 1e+300 is too large"))
    XCTAssertTrue(ruleMessage("{op: linear, rule: alphabeta, alpha: 1e39}").contains("alpha - beta = 1")
                  || ruleMessage("{op: linear, rule: alphabeta, alpha: 1e39}").contains("too large"))
    XCTAssertTrue(ruleMessage("{op: Conv, rule: zbox, low: -1e300, high: 1}").contains("`low` -1e+300 is too large"))
    XCTAssertTrue(ruleMessage("{op: Conv, rule: zbox, low: 0, high: [1, 1e40, 1]}").contains("`high` 1e+40 is too large"))
    // The edges that fit.
    let ok = try RuleSet(yaml: """
      rules:
        - {op: Conv, rule: epsilon, epsilon: 0}
        - {op: Dense, rule: epsilon, epsilon: 1.2e-38}
        - {op: Dense, rule: gamma, gamma: 3e38}
      """, source: "r.yaml")
    XCTAssertEqual(ok.entries.map(\.rule), [.linear(LinearRule(.epsilon(0))), .linear(LinearRule(.epsilon(1.2e-38))),
                                            .linear(LinearRule(.gamma(3e38)))])
  }

  func testPreprocessingNumbersMustFitFloat() throws {
    func prep(_ yaml: String) -> String { message { _ = try Preprocessing(yaml: yaml, source: "p.yaml") } }
    XCTAssertEqual(prep("mean: 0\nstd: 1e-45\n"),
                   "p.yaml: `std` 1e-45 is too small: the normalized pixel range [0.0, 1.0000000000000001e+45] does not fit 32-bit floats")
    XCTAssertTrue(prep("mean: [0, 0, 0]\nstd: [1, 1e-40, 1]\n").contains("(channel 1) is too small"))
    XCTAssertTrue(prep("mean: 1e300\nstd: 1\n").contains("`mean` 1e+300 is too large for 32-bit floats"))
    XCTAssertTrue(prep("mean: 0\nstd: 1\nrange: [0, 1e39]\n").contains("`range` 1e+39 is too large"))
    let ok = try Preprocessing(yaml: "mean: 0.5\nstd: 1e-3\n", source: "p.yaml")
    let bounds = try ok.zBoxBounds(channels: 1)
    XCTAssertEqual(bounds.low[0], -500, accuracy: 1e-3)
    XCTAssertEqual(bounds.high[0], 500, accuracy: 1e-3)
  }
}
