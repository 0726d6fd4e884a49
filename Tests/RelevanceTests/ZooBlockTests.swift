import Foundation
import XCTest
@testable import Relevance

/// The zoo's block fixtures (`Tests/Fixtures/zoo`, made by `Graphs/zoo_blocks.py`): for each block
/// and each exporter (legacy TorchScript, dynamo), the forward logits against onnxruntime's and the
/// input relevance of the `epsilon`, `zplus` and `paper` presets and of the gradient against float64
/// references (Zennit with its canonizers where its semantics are clrp's, otherwise clrp's
/// documented rule semantics written as torch autograd functions; the manifest says which).
///
/// Tolerances: logits max|Δ| ≤ 1e-4 · max|logit|; maps cosine ≥ 0.9999 and max|Δ| ≤ 1e-4 · max|R|.
///
/// A block whose model names an operator clrp's importer does not have yet is skipped with
/// "needs op X" (only for that refusal: the importer's ModelError "operator 'X' is not supported");
/// every other error fails the test.
final class ZooBlockTests: XCTestCase {
  struct Manifest: Decodable {
    let preprocessing: String
    let blocks: [String: Block]
  }

  struct Block: Decodable {
    let input: String
    let exports: [String: Export]
    let maps: [String: MapEntry]
    let target_class: Int
    let score: Double
  }

  struct Export: Decodable {
    let onnx: String
    let logits: String
  }

  struct MapEntry: Decodable {
    let file: String
    let method: String
    let rules: String
    let reference: String
  }

  static func manifest() throws -> Manifest {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("zoo/manifest.json")))
    return try JSONDecoder().decode(Manifest.self, from: data)
  }

  /// The operator an import refusal names, when the refusal is "operator 'X' is not supported";
  /// nil for every other error.
  static func unsupportedOperator(_ error: Error) -> String? {
    guard let error = error as? ModelError, let opType = error.opType,
          error.message.hasPrefix("operator '\(opType)' is not supported") else { return nil }
    return opType
  }

  func testSqueezeExcitationBlock() throws { try check("se_block") }
  func testMobileNetV3InvertedResidualBlock() throws { try check("mbv3_block") }
  func testEfficientNetMBConvBlock() throws { try check("mbconv_block") }
  func testDenseNetDenseBlock() throws { try check("dense_block") }
  func testSqueezeNetFireBlock() throws { try check("fire_block") }
  func testConvNeXtBlock() throws { try check("convnext_block") }
  func testResNetBottleneckBlock() throws { try check("bottleneck_block") }
  /// Legacy: chunk as Slice of activations with Shape-computed ends; dynamo: Split; both: the
  /// channel shuffle through a 5-D Reshape and Transpose.
  func testShuffleNetV2Units() throws { try check("shuffle_block") }

  func testManifestListsEveryBlockAndBothExporters() throws {
    let manifest = try Self.manifest()
    XCTAssertEqual(Set(manifest.blocks.keys), ["se_block", "mbv3_block", "mbconv_block", "dense_block", "fire_block",
                                               "convnext_block", "bottleneck_block", "shuffle_block"])
    for (name, block) in manifest.blocks {
      XCTAssertEqual(Set(block.exports.keys), ["legacy", "dynamo"], name)
      XCTAssertEqual(Set(block.maps.keys), ["epsilon", "zplus", "paper", "gradient"], name)
    }
  }

  func testUnsupportedOperatorIsRecognizedOnlyFromTheImportersRefusal() {
    let refusal = ModelError(file: "m.onnx", node: "n", opType: "Erf", "operator 'Erf' is not supported; supported: Add")
    XCTAssertEqual(Self.unsupportedOperator(refusal), "Erf")
    XCTAssertNil(Self.unsupportedOperator(ModelError(file: "m.onnx", node: "n", opType: "Pad", "pad mode 'reflect' is not supported (only 'constant')")))
    XCTAssertNil(Self.unsupportedOperator(ModelError(file: "m.onnx", "operator 'Erf' is not supported")))
    XCTAssertNil(Self.unsupportedOperator(CocoaError(.fileNoSuchFile)))
  }

  /// Checks both exports of one block; throws XCTSkip naming the missing operators after checking
  /// whatever export could be imported.
  func check(_ name: String) throws {
    let manifest = try Self.manifest()
    let block = try XCTUnwrap(manifest.blocks[name], "\(name) not in the manifest")
    let preprocessing = try XCTUnwrap(Preprocessing.builtIn[manifest.preprocessing], manifest.preprocessing)
    let input = try NPY.read(path: Fixtures.path(block.input))
    var missing: [String] = []
    for (exporter, export) in block.exports.sorted(by: { $0.key < $1.key }) {
      let what = "\(name) \(exporter)"
      let model: Model
      do {
        model = try Model(path: Fixtures.path(export.onnx))
      } catch {
        guard let opType = Self.unsupportedOperator(error) else { throw error }
        missing.append("\(opType) (\(exporter))")
        continue
      }
      let plan = try model.forwardPlan(inputShape: input.shape)
      let logits = try XCTUnwrap(try plan.run(input)[plan.graph.outputs[0]], what)
      let expected = try NPY.read(path: Fixtures.path(export.logits))
      XCTAssertEqual(logits.count, expected.count, what)
      XCTAssertLessThanOrEqual(relativeError(logits.data, expected.data), 1e-4, "\(what): logits")

      for (preset, entry) in block.maps.sorted(by: { $0.key < $1.key }) {
        let method = try XCTUnwrap(ExplanationMethod(rawValue: entry.method), entry.method)
        let explainer = Explainer(model: model, rules: entry.rules, preprocessing: preprocessing)
        let map = try explainer.explain(input, method: method, targets: .targets([.class(block.target_class)])).maps[0]
        if method == .lrp {
          XCTAssertEqual(map.score, block.score, accuracy: 1e-4 * max(1, abs(block.score)), "\(what) \(preset): score")
        }
        let reference = try NPY.read(path: Fixtures.path(entry.file))
        XCTAssertEqual([1] + map.relevance.shape, reference.shape, "\(what) \(preset): maps are [C, H, W], references [1, C, H, W]")
        let cosine = cosineSimilarity(map.relevance.data, reference.data)
        let error = relativeError(map.relevance.data, reference.data)
        XCTAssertGreaterThanOrEqual(cosine, 0.9999, "\(what) \(preset) vs \(entry.reference): cosine \(cosine)")
        XCTAssertLessThanOrEqual(error, 1e-4, "\(what) \(preset) vs \(entry.reference): max|Δ| / max|R| = \(error)")
      }
    }
    if !missing.isEmpty {
      throw XCTSkip("\(name): needs op \(missing.joined(separator: ", "))")
    }
  }
}
