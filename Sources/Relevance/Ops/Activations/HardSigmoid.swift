/// ONNX `HardSigmoid` (alpha 0.2, beta 0.5 by default): f(x) = max(0, min(1, alpha·x + beta));
/// f′(x) = alpha where 0 < alpha·x + beta < 1, else 0. Output in [0, 1].
struct HardSigmoid: ActivationFunction {
  static let opName = "HardSigmoid"
  static let onnxNames = ["HardSigmoid"]
  static func importing(_ node: ONNXNodeContext) throws -> HardSigmoid {
    HardSigmoid(alpha: try node.attributes.float("alpha", 0.2), beta: try node.attributes.float("beta", 0.5))
  }

  var alpha: Float
  var beta: Float
  var parameters: [Float] { [alpha, beta] }
  func value(_ x: Float) -> Float { max(0, min(1, alpha * x + beta)) }
  func derivative(_ x: Float) -> Float {
    let y = alpha * x + beta
    return y > 0 && y < 1 ? alpha : 0
  }
  var outputBounds: ClosedRange<Float> { 0...1 }
  func forward(_ x: Tensor) -> Tensor { Kernels.hardSigmoid(x, alpha: alpha, beta: beta) }
}
