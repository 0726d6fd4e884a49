import XCTest
@testable import Relevance

/// Asserts that every layer of `result` that `include` selects passes on, per signal, the
/// relevance it received (within 1e-4 of it). Returns the op names of the layers it checked,
/// for callers that count them.
@discardableResult
func assertLayersConserve(_ result: RelevanceResult, context: String, file: StaticString = #filePath, line: UInt = #line,
                          where include: (LayerRelevance) -> Bool = { _ in true }) -> [String] {
  var checked: [String] = []
  for layer in result.layers where include(layer) {
    for s in layer.outputSums.indices {
      XCTAssertEqual(layer.inputSums[s], layer.outputSums[s], accuracy: 1e-4 * max(abs(layer.outputSums[s]), 1e-6),
                     "\(context): \(layer.node) (\(layer.op), \(layer.rule))", file: file, line: line)
    }
    checked.append(layer.op)
  }
  return checked
}

/// `assertLayersConserve` on the layers whose rule should conserve (`Rule.shouldConserve`) and
/// that met no zero denominator.
@discardableResult
func assertConservingLayersConserve(_ result: RelevanceResult, graph: Graph, rules: RuleAssignment, context: String,
                                    file: StaticString = #filePath, line: UInt = #line) -> [String] {
  let ruleOf = Dictionary(uniqueKeysWithValues: zip(graph.nodes.map(\.name), rules.rules))
  return assertLayersConserve(result, context: context, file: file, line: line) {
    ruleOf[$0.node]!!.shouldConserve && $0.zeroDenominators == 0
  }
}
