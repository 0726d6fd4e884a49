/// ONNX `ThresholdedRelu` (alpha 1 by default): f(x) = x for x > alpha, else 0; f′ = [x > alpha].
struct ThresholdedRelu: ActivationFunction {
  static let opName = "ThresholdedRelu"
  static let onnxNames = ["ThresholdedRelu"]
  static func importing(_ node: ONNXNodeContext) throws -> ThresholdedRelu {
    let alpha = try node.attributes.float("alpha", 1)
    guard !alpha.isNaN else { throw node.fail("alpha is NaN") }
    return ThresholdedRelu(alpha: alpha)
  }

  var alpha: Float
  var parameters: [Float] { [alpha] }
  func value(_ x: Float) -> Float { x > alpha ? x : 0 }
  func derivative(_ x: Float) -> Float { x > alpha ? 1 : 0 }
  var outputBounds: ClosedRange<Float> { min(0, alpha)...Float.infinity }
}
