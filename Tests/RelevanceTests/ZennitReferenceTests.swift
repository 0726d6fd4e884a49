import Foundation
import XCTest
@testable import Relevance

/// Input relevance of the small torchvision fixtures against Zennit's (float64 golden maps from
/// `Graphs/zennit_reference.py`), for the `paper` and `epsilon` rule choices.
final class ZennitReferenceTests: XCTestCase {
  struct Manifest: Decodable {
    struct Preset: Decodable {
      let relevance: String
      let zbox_low: [Float]?
      let zbox_high: [Float]?
    }
    struct Entry: Decodable {
      let onnx: String
      let input: String
      let target_class: Int
      let presets: [String: Preset]
    }
    let models: [String: Entry]
  }

  static func manifest() throws -> Manifest {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("relevance/manifest.json")))
    return try JSONDecoder().decode(Manifest.self, from: data)
  }

  /// The rules of a preset written out by hand (independently of the YAML configs).
  static func rules(_ preset: String, _ graph: Graph, _ p: Manifest.Preset) -> [Rule?] {
    let firstLinear = graph.nodes.firstIndex { if case .conv = $0.op { return true }; return $0.op == .dense }
    return graph.nodes.enumerated().map { index, node -> Rule? in
      switch node.op {
      case .conv, .dense:
        if preset == "epsilon" { return .linear(LinearRule(.epsilon(1e-6))) }
        if index == firstLinear { return .linear(LinearRule(.zBox(low: p.zbox_low!, high: p.zbox_high!))) }
        return .linear(LinearRule(.zPlus))
      case .maxPool: return .winnerTakeAll
      case .avgPool, .globalAvgPool: return .proportional
      default: return .pass
      }
    }
  }

  func testPaperAndEpsilonMatchZennit() throws {
    let manifest = try Self.manifest()
    XCTAssertGreaterThanOrEqual(manifest.models.count, 4)
    for (name, entry) in manifest.models.sorted(by: { $0.key < $1.key }) {
      let model = try Model(path: Fixtures.path(entry.onnx))
      let input = try NPY.read(path: Fixtures.path(entry.input))
      let graph = try model.canonical(inputShape: input.shape)
      for (preset, p) in entry.presets.sorted(by: { $0.key < $1.key }) {
        // The preset file must choose the same rules as the ones written out here.
        let fromPreset = try RuleSet.load(nameOrPath: preset).assign(to: graph, preprocessing: .imagenet).rules
        XCTAssertEqual(fromPreset.map { ($0 ?? .pass).description }, Self.rules(preset, graph, p).map { ($0 ?? .pass).description }, "\(name) \(preset)")
        let plan = try RelevancePlan(graph: graph, rules: fromPreset)
        let result = try plan.explain(input, classes: [entry.target_class])
        let expected = try NPY.read(path: Fixtures.path(p.relevance))
        XCTAssertEqual(result.input.shape, expected.shape)
        let cosine = cosineSimilarity(result.input.data, expected.data)
        let error = relativeError(result.input.data, expected.data)
        // GoogLeNet's epsilon map is the gradient x input; in float32 it is sensitive to
        // near-ties (Zennit in float32 differs from the float64 golden by 1.5 % of max|R|).
        let tolerance: Float = name.hasPrefix("googlenet") && preset == "epsilon" ? 3e-2 : 1e-4
        XCTAssertGreaterThanOrEqual(cosine, 0.9999, "\(name) \(preset): cosine \(cosine)")
        XCTAssertLessThanOrEqual(error, tolerance, "\(name) \(preset): max abs error / max|R| = \(error)")
        print("\(name) \(preset): cosine \(cosine), error \(error)")
      }
    }
  }
}

func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Float {
  var dot: Double = 0, na: Double = 0, nb: Double = 0
  for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
  return Float(dot / max((na * nb).squareRoot(), 1e-30))
}
