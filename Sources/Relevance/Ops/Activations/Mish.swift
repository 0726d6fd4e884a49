import Foundation

/// ONNX `Mish` (opset 18): f(x) = x·tanh(softplus(x));
/// f′ = tanh(sp) + x·(1 − tanh²(sp))·σ(x), sp = softplus(x). Minimum ≈ −0.3088.
struct Mish: ActivationFunction {
  static let opName = "Mish"
  static let onnxNames = ["Mish"]
  static func importing(_ node: ONNXNodeContext) throws -> Mish { Mish() }

  var parameters: [Float] { [] }
  private func softplus(_ x: Float) -> Float { max(x, 0) + log1pf(expf(-abs(x))) }
  func value(_ x: Float) -> Float { x * tanhf(softplus(x)) }
  func derivative(_ x: Float) -> Float {
    let t = tanhf(softplus(x))
    return t + x * (1 - t * t) / (1 + expf(-x))
  }
  var outputBounds: ClosedRange<Float> { -0.3089...Float.infinity }
}
