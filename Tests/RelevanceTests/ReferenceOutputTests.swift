import Foundation
import XCTest
@testable import Relevance

/// Forward logits of every committed fixture model against onnxruntime's, computed by
/// `Graphs/reference_outputs.py` on the same inputs (batch of 2).
final class ReferenceOutputTests: XCTestCase {
  func testEveryFixtureMatchesOnnxRuntime() throws {
    let models = Fixtures.models()
    let inputs = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("reference"))
      .filter { $0.hasSuffix(".input.npy") }.sorted()
    XCTAssertGreaterThanOrEqual(inputs.count, 7, "reference inputs missing")
    for file in inputs {
      let name = String(file.dropLast(".input.npy".count))
      let modelPath = try XCTUnwrap(models[name], "no model for reference \(name)")
      let stripped = Fixtures.path("reference/\(name).presoftmax.npy")
      let expectedPath = FileManager.default.fileExists(atPath: stripped) ? stripped : Fixtures.path("reference/\(name).logits.npy")
      let input = try NPY.read(path: Fixtures.path("reference/" + file))
      let expected = try NPY.read(path: expectedPath)

      let model = try Model(path: modelPath)
      let plan = try model.forwardPlan(inputShape: input.shape)
      let output = try XCTUnwrap(try plan.run(input)[plan.graph.outputs[0]])
      XCTAssertEqual(output.count, expected.count, name)
      let error = relativeError(output.data, expected.data)
      XCTAssertLessThan(error, 1e-4, "\(name): relative error \(error)")
    }
  }

  func testCanonicalGraphsHoldOnlyLayers() throws {
    for (name, path) in Fixtures.models() {
      let model = try Model(path: path)
      let graph = try model.canonical(inputShape: model.inputShape(batch: 1))
      for node in graph.nodes {
        switch node.op {
        case .batchNorm, .identity, .dropout, .gemm, .matMul, .shape, .gather, .slice, .cast, .softmax:
          XCTFail("\(name): \(node.name) is still \(node.op.name) after canonicalization")
        default: continue
        }
      }
      XCTAssertTrue(graph.nodes.contains { if case .conv = $0.op { return true } else { return false } }, name)
    }
  }
}
