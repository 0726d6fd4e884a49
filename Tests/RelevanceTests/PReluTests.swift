import Foundation
import XCTest
@testable import Relevance

/// PRelu with distinct per-channel slopes (`Op.prelu`, `PReluChannels`): the forward plan and
/// the `gradient` lowering against the formula (y = x or slope[c]·x; f′ = 1 or slope[c]),
/// evaluated here independently per element, and the refusal of slopes that are not one per
/// channel under ONNX broadcasting. (The torch export with onnxruntime and autograd references
/// is `prelu_distinct_channels` in OpFixtureTests.)
final class PReluTests: XCTestCase {
  let slopes: [Float] = [0.25, -0.5, 1.5]

  func graph(slopeShape: [Int]) -> Graph {
    var b = GraphBuilder(seed: 5)
    let x = b.conv(b.input, in: 2, out: 3)
    let y = b.add(.prelu, [x, b.floats(slopeShape.reduce(1, *) == 3 ? slopes : [Float](repeating: 0.1, count: slopeShape.reduce(1, *)), shape: slopeShape)], name: "prelu")
    return b.graph([1, 2, 4, 4], outputs: [y, x])  // x as an output: the forward plan keeps it
  }

  func testForwardAndGradientFollowTheFormula() throws {
    for shape in [[3, 1, 1], [1, 3, 1, 1]] {
      var g = graph(slopeShape: shape)
      try Canonicalizer.bindInput(&g, [1, 2, 4, 4])
      _ = try InferShapes().run(on: &g)
      let node = try XCTUnwrap(g.nodes.first { $0.op == .prelu })
      var rng = SeededRandom(seed: 3)
      let input = rng.tensor([1, 2, 4, 4])
      let values = try ForwardPlan(graph: g).run(input)
      let x = try XCTUnwrap(values[node.inputs[0]]), y = try XCTUnwrap(values[node.outputs[0]])
      XCTAssertTrue(x.data.contains { $0 < 0 } && x.data.contains { $0 > 0 })
      for i in x.data.indices {
        let s = slopes[i / 16], v = x.data[i]
        XCTAssertEqual(y.data[i], v > 0 ? v : s * v, accuracy: 1e-6, "\(shape) element \(i)")
      }
      let step = try RelevancePlan.lower(node, rule: .gradient, graph: g)
      guard case .preluGradient(let stepSlopes) = step else { return XCTFail("\(step)") }
      XCTAssertEqual(stepSlopes, slopes)
      let derivative = PReluChannels.derivative(x, slopes: slopes)
      for i in x.data.indices { XCTAssertEqual(derivative.data[i], x.data[i] > 0 ? 1 : slopes[i / 16]) }
      guard case .pass = try RelevancePlan.lower(node, rule: .pass, graph: g) else { return XCTFail("pass") }
      XCTAssertFalse(g.nonNegativeValues().contains(node.outputs[0]), "PRelu's output is signed")
    }
  }

  /// A slope of shape [3] against NCHW broadcasts along W (numpy alignment), not the channels.
  func testSlopesNotOnePerChannelAreRefusedByNode() throws {
    for shape in [[3], [1, 3, 4, 4], [1, 1, 3, 1, 1]] {
      var g = graph(slopeShape: shape)
      try Canonicalizer.bindInput(&g, [1, 2, 4, 4])
      XCTAssertThrowsError(try InferShapes().run(on: &g), "\(shape)") { error in
        let e = error as? ModelError
        XCTAssertEqual(e?.nodeName, "prelu", "\(shape)")
        XCTAssertTrue(e?.message.contains("slope") ?? false, "\(error)")
      }
    }
  }
}
