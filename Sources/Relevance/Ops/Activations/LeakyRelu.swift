/// ONNX `LeakyRelu` (alpha, default 0.01): f(x) = x for x >= 0, else alpha·x.
struct LeakyRelu: ActivationFunction {
  static let opName = "LeakyRelu"
  static let onnxNames = ["LeakyRelu"]
  static func importing(_ node: ONNXNodeContext) throws -> LeakyRelu {
    LeakyRelu(alpha: try node.attributes.float("alpha", 0.01))
  }

  var alpha: Float
  var parameters: [Float] { [alpha] }
  func value(_ x: Float) -> Float { x < 0 ? alpha * x : x }
  func derivative(_ x: Float) -> Float { x > 0 ? 1 : alpha }
  var outputBounds: ClosedRange<Float> { -Float.infinity...Float.infinity }
  func forward(_ x: Tensor) -> Tensor { Kernels.leakyRelu(x, alpha: alpha) }
}
