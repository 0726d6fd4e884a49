import XCTest
@testable import Relevance

/// The `gradient` preset is the plain gradient.
final class GradientPresetTests: XCTestCase {
  func gradientPlan(_ name: String) throws -> (RelevancePlan, [Int]) {
    let model = try Model(path: Fixtures.path("models/\(name).onnx"))
    let shape = try model.inputShape(batch: 1)
    let graph = try model.canonical(inputShape: shape)
    let assignment = try RuleSet.load(nameOrPath: "gradient").assign(to: graph, preprocessing: nil)
    return (try RelevancePlan(graph: graph, rules: assignment.rules), shape)
  }

  /// Gradient × input equals the epsilon-LRP map (bias included, ε → 0) of ReLU networks:
  /// compared with Zennit's epsilon maps.
  func testGradientTimesInputMatchesZennitEpsilon() throws {
    for name in ["alexnet_small", "vgg16_small", "vgg16_bn_small"] {
      let (plan, _) = try gradientPlan(name)
      let input = try NPY.read(path: Fixtures.path("relevance/\(name).input.npy"))
      let expected = try NPY.read(path: Fixtures.path("relevance/\(name).epsilon.relevance.npy"))
      let logits = try plan.forward.run(input)[plan.graph.outputs[0]]!
      let target = logits.data.indices.max { logits.data[$0] < logits.data[$1] }!
      // Initial relevance is logit · one-hot, so the result is logit · ∂logit/∂x.
      let gradientTimesInput = zip(try plan.explain(input, classes: [target]).input.data, input.data).map { $0 * $1 }
      XCTAssertGreaterThan(cosineSimilarity(gradientTimesInput, expected.data), 0.9999, name)
    }
  }

  /// Central finite differences along sparse random directions, on graphs with LRN,
  /// standalone affine maps, an NHWC transpose and a residual sum (whose gradient passes to both
  /// inputs unchanged). Float32 and ReLU kinks make this a coarse
  /// check (3 % of the largest possible directional derivative); leaving out the LRN or affine
  /// gradient is off by a factor of 2 and more.
  func testGradientMatchesFiniteDifferences() throws {
    for name in ["caffe_small", "keras_tf2onnx_small", "vgg16_small", "residual_dynamo"] {
      let (plan, shape) = try gradientPlan(name)
      var state: UInt64 = 5
      func random() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float((state >> 40) % 2001) / 1000 - 1
      }
      let x = Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in random() })
      let output = plan.graph.outputs[0]
      let logits = try plan.forward.run(x)[output]!
      let target = logits.data.indices.max { logits.data[$0] < logits.data[$1] }!
      let gradient = try plan.explain(x, classes: [target]).input.data.map { $0 / logits.data[target] }
      for _ in 0..<4 {
        var v = [Float](repeating: 0, count: shape.elementCount)
        for _ in 0..<8 { v[Int(state >> 33) % v.count] = random(); _ = random() }
        let h: Float = 1e-2
        let plus = try plan.forward.run(Tensor(shape: shape, data: zip(x.data, v).map { $0 + h * $1 }))[output]!
        let minus = try plan.forward.run(Tensor(shape: shape, data: zip(x.data, v).map { $0 - h * $1 }))[output]!
        let numeric = (plus.data[target] - minus.data[target]) / (2 * h)
        let analytic = zip(gradient, v).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        // Scale: the largest directional derivative these pixels allow, |∇f restricted to v|·|v|.
        let scale = zip(gradient, v).reduce(Float(0)) { $0 + ($1.1 == 0 ? 0 : $1.0 * $1.0) }.squareRoot()
          * v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        XCTAssertEqual(analytic, numeric, accuracy: 3e-2 * scale, "\(name)")
      }
    }
  }
}
