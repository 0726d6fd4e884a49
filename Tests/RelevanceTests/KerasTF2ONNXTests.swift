import Foundation
import XCTest
@testable import Relevance

/// Real tf2onnx exports of small Keras models (`Tests/Fixtures/keras`, made by
/// `Graphs/keras_blocks.py` with TensorFlow 2.15 and tf2onnx 1.16.1, opsets 13 and 17): the forms
/// the full-size Keras applications take (Docs/ZOO.md, "Keras applications through tf2onnx").
///
/// - logits against onnxruntime's (max|Δ| ≤ 1e-4 · max|logit|); for the softmax head against
///   onnxruntime's logits of the same net without the softmax;
/// - `ZeroPadding2D` (Pad nodes) becomes the padding of the Conv/MaxPool that reads it, so the
///   `mobilenet` preset conserves through it (before, zplus-flat sent relevance to the Pad's zeros
///   and the Pad's crop dropped it: 1.5 % of the score here);
/// - Keras' Rescaling + Normalization on the NHWC input, before tf2onnx's Transpose, gives the
///   first conv the z^B bounds Keras' own layers compute from pixels 0 and 255 (before, z^B
///   refused the conv: it found no per-channel normalization on axis 1);
/// - Keras' MobileNetV3 pieces: hard_swish and hard_sigmoid (Add 3, Clip 0..6, Mul 1/6, Mul) fused
///   into HardSwish and HardSigmoid, squeeze-and-excitation's ReduceMean over the NHWC plane as
///   global pooling (before, refused), the stride-2 ZeroPadding2D on the NHWC side of its Transpose
///   folded into the depthwise conv (before, it lost relevance under zplus-flat).
final class KerasTF2ONNXTests: XCTestCase {
  struct Manifest: Decodable { let fixtures: [String: Fixture] }
  struct Fixture: Decodable {
    let input: String
    let exports: [String: Export]
    let zbox_low: [Float]?
    let zbox_high: [Float]?
  }
  struct Export: Decodable {
    let onnx: String
    let compare_with: String
  }

  static func manifest() throws -> Manifest {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("keras/manifest.json")))
    return try JSONDecoder().decode(Manifest.self, from: data)
  }

  /// What the fixtures' pixel input means: pixels [0, 255] straight in, NHWC.
  static let pixels = Preprocessing(name: "pixels", mean: [0], std: [1], range: 0...255, layout: .nhwc, fit: .stretch)

  func fixture(_ name: String) throws -> (Fixture, Tensor) {
    let fixture = try XCTUnwrap(try Self.manifest().fixtures[name], name)
    return (fixture, try NPY.read(path: Fixtures.path(fixture.input)))
  }

  func testLogitsMatchOnnxruntime() throws {
    let manifest = try Self.manifest()
    XCTAssertEqual(Set(manifest.fixtures.keys), ["pads_and_normalization", "mobilenet_v3_block", "softmax_head"])
    for (name, fixture) in manifest.fixtures.sorted(by: { $0.key < $1.key }) {
      XCTAssertEqual(Set(fixture.exports.keys), ["opset13", "opset17"], name)
      let input = try NPY.read(path: Fixtures.path(fixture.input))
      for (opset, export) in fixture.exports.sorted(by: { $0.key < $1.key }) {
        let model = try Model(path: Fixtures.path(export.onnx))
        let plan = try model.forwardPlan(inputShape: input.shape)
        let logits = try XCTUnwrap(try plan.run(input)[plan.graph.outputs[0]])
        let expected = try NPY.read(path: Fixtures.path(export.compare_with))
        XCTAssertEqual(logits.shape, expected.shape, "\(name) \(opset)")
        XCTAssertLessThanOrEqual(relativeError(logits.data, expected.data), 1e-4, "\(name) \(opset): logits")
      }
    }
  }

  func testSoftmaxHeadIsStrippedToLogits() throws {
    let (fixture, input) = try fixture("softmax_head")
    for export in fixture.exports.values {
      let graph = try Model(path: Fixtures.path(export.onnx)).canonical(inputShape: input.shape)
      XCTAssertFalse(graph.nodes.contains { if case .softmax = $0.op { return true } else { return false } }, export.onnx)
      XCTAssertTrue(graph.notes.contains { $0.contains("removed the trailing Softmax") }, "\(graph.notes)")
    }
  }

  func testZeroPaddingBecomesWindowPadding() throws {
    let (fixture, input) = try fixture("pads_and_normalization")
    for export in fixture.exports.values {
      let original = try Model(path: Fixtures.path(export.onnx))
      XCTAssertEqual(original.imported.nodes.filter { $0.op == .pad }.count, 2, "tf2onnx writes two of the ZeroPadding2D layers as Pad")
      let graph = try original.canonical(inputShape: input.shape)
      XCTAssertEqual(graph.nodes.filter { $0.op == .pad }.count, 0, "\(export.onnx): every Pad folded")
      let depthwise = try XCTUnwrap(graph.nodes.first { $0.name.contains("depthwise") })
      guard case .conv(let conv) = depthwise.op else { return XCTFail("\(depthwise.op)") }
      XCTAssertEqual([conv.window.padTop, conv.window.padLeft, conv.window.padBottom, conv.window.padRight], [1, 1, 1, 1])
      XCTAssertEqual(conv.group, 8, "depth_multiplier 2: 8 groups, 16 outputs")
      let pool = try XCTUnwrap(graph.nodes.first { if case .maxPool = $0.op { return true } else { return false } })
      guard case .maxPool(let p) = pool.op else { return XCTFail() }
      XCTAssertEqual([p.window.padTop, p.window.padLeft, p.window.padBottom, p.window.padRight], [1, 1, 1, 1])
    }
  }

  func testNormalizationBeforeTheInputTransposeGivesZBoxItsBounds() throws {
    let (fixture, input) = try fixture("pads_and_normalization")
    let low = try XCTUnwrap(fixture.zbox_low), high = try XCTUnwrap(fixture.zbox_high)
    for export in fixture.exports.values {
      let graph = try Model(path: Fixtures.path(export.onnx)).canonical(inputShape: input.shape)
      let assignment = try RuleSet.load(nameOrPath: "mobilenet").assign(to: graph, preprocessing: Self.pixels)
      let first = try XCTUnwrap(graph.nodes.firstIndex { if case .conv = $0.op { return true } else { return false } })
      guard case .linear(let rule)?? = assignment.rules[first], case .zBox(let l, let h) = rule.kind else {
        return XCTFail("\(export.onnx): first conv has \(String(describing: assignment.rules[first]))")
      }
      for c in 0..<3 {
        XCTAssertEqual(l[c], low[c], accuracy: 1e-5, "\(export.onnx) channel \(c): low")
        XCTAssertEqual(h[c], high[c], accuracy: 1e-5, "\(export.onnx) channel \(c): high")
      }
    }
  }

  func testMobileNetV3FormsAreCanonical() throws {
    let (fixture, input) = try fixture("mobilenet_v3_block")
    for export in fixture.exports.values {
      let original = try Model(path: Fixtures.path(export.onnx))
      XCTAssertEqual(original.imported.nodes.filter { $0.op == .pad }.count, 1, export.onnx)
      XCTAssertEqual(original.imported.nodes.filter { if case .reduceMean = $0.op { return true } else { return false } }.count, 3)
      let graph = try original.canonical(inputShape: input.shape)
      func count(_ name: String) -> Int {
        graph.nodes.filter { if case .activation(let a) = $0.op { return a.name == name } else { return false } }.count
      }
      XCTAssertEqual(count("HardSwish"), 5, "\(export.onnx): stem, and expansion and depthwise of both blocks")
      XCTAssertEqual(count("HardSigmoid"), 2, "\(export.onnx): the two squeeze-and-excitation gates")
      XCTAssertEqual(count("Clip"), 0, "\(export.onnx): every relu6 was part of a hard_sigmoid")
      XCTAssertEqual(graph.nodes.filter { $0.op == .pad }.count, 0, "\(export.onnx): the Pad folded")
      XCTAssertEqual(graph.nodes.filter { $0.op == .globalAvgPool }.count, 3, "\(export.onnx): two SE pools and the head")
    }
  }

  func testMobileNetV3BlockConserves() throws {
    let (fixture, input) = try fixture("mobilenet_v3_block")
    let normal = Preprocessing(name: "normal", mean: [0], std: [1], range: -5...5, layout: .nhwc, fit: .stretch)
    XCTAssertLessThan(input.data.map(abs).max()!, 5, "the z^B box holds the input")
    for export in fixture.exports.values {
      let graph = try Model(path: Fixtures.path(export.onnx)).canonical(inputShape: input.shape)
      let assignment = try RuleSet.load(nameOrPath: "mobilenet").assign(to: graph, preprocessing: normal)
      let plan = try RelevancePlan(graph: graph, rules: assignment.rules)
      let (_, result) = try plan.explainTopClasses(input, count: 1)
      assertConservingLayersConserve(result, graph: graph, rules: assignment, context: export.onnx)
      let score = try XCTUnwrap(result.layers.first?.outputSums[0])
      XCTAssertEqual(result.input.data.reduce(0, +) / score, 1, accuracy: 1e-4, "\(export.onnx): relevance at the input over the score")
    }
  }

  func testMobileNetPresetConservesThroughTheFoldedPads() throws {
    let (fixture, input) = try fixture("pads_and_normalization")
    for export in fixture.exports.values {
      let graph = try Model(path: Fixtures.path(export.onnx)).canonical(inputShape: input.shape)
      let assignment = try RuleSet.load(nameOrPath: "mobilenet").assign(to: graph, preprocessing: Self.pixels)
      let plan = try RelevancePlan(graph: graph, rules: assignment.rules)
      let (_, result) = try plan.explainTopClasses(input, count: 1)
      let checked = assertConservingLayersConserve(result, graph: graph, rules: assignment, context: export.onnx)
      XCTAssertGreaterThanOrEqual(checked.filter { $0 == "Conv" }.count, 3, "\(checked)")
      let score = try XCTUnwrap(result.layers.first?.outputSums[0])
      let atInput = result.input.data.reduce(0, +)
      XCTAssertEqual(atInput / score, 1, accuracy: 1e-4, "\(export.onnx): relevance at the input over the score")
    }
  }
}
