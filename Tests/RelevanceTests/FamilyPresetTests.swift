import Foundation
import XCTest
@testable import Relevance

/// The family presets (`Rules/mobilenet.yaml`, `Rules/resnet.yaml`) on the zoo's block fixtures
/// (`Tests/Fixtures/zoo`, both exporters): the LRP map sums to the score, and where `paper` loses
/// relevance at empty z⁺ denominators (depthwise convs after ReLU/HardSwish, a dense block's
/// 1×1 convs) the family preset does not.
final class FamilyPresetTests: XCTestCase {
  static let family = ["se_block": "mobilenet", "mbv3_block": "mobilenet", "mbconv_block": "mobilenet",
                       "dense_block": "resnet", "fire_block": "paper", "convnext_block": "resnet", "bottleneck_block": "resnet"]

  /// Σ R_in / score − 1 for `rules` on one export of a block.
  func leak(_ name: String, _ exporter: String, rules: String) throws -> Double {
    let manifest = try ZooBlockTests.manifest()
    let block = try XCTUnwrap(manifest.blocks[name])
    let preprocessing = try XCTUnwrap(Preprocessing.builtIn[manifest.preprocessing])
    let input = try NPY.read(path: Fixtures.path(block.input))
    let model = try Model(path: Fixtures.path(try XCTUnwrap(block.exports[exporter]).onnx))
    let explainer = Explainer(model: model, rules: rules, preprocessing: preprocessing)
    let map = try explainer.explain(input, method: .lrp, targets: .targets([.class(block.target_class)])).maps[0]
    let total = map.relevance.data.reduce(0.0) { $0 + Double($1) }
    return total / Double(map.score) - 1
  }

  func testFamilyPresetsConserveOnEveryBlock() throws {
    for (name, preset) in Self.family.sorted(by: { $0.key < $1.key }) {
      for exporter in ["legacy", "dynamo"] {
        let leak = try leak(name, exporter, rules: preset)
        XCTAssertLessThan(abs(leak), 1e-5, "\(name) \(exporter) \(preset): Σ R_in / score − 1 = \(leak)")
      }
    }
  }

  func testPaperLosesWhereTheFamilyPresetsDoNot() throws {
    for name in ["mbv3_block", "mbconv_block", "dense_block"] {
      let paper = try leak(name, "legacy", rules: "paper")
      XCTAssertLessThan(paper, -1e-4, "\(name): paper should lose relevance at empty z⁺ denominators")
      XCTAssertLessThan(abs(try leak(name, "legacy", rules: Self.family[name]!)), 1e-5, name)
    }
  }
}
