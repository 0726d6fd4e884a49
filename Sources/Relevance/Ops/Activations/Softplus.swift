import Foundation

/// ONNX `Softplus`: f(x) = ln(1 + eˣ) (computed as max(x, 0) + ln(1 + e^−|x|)); f′ = σ(x). Output > 0.
struct Softplus: ActivationFunction {
  static let opName = "Softplus"
  static let onnxNames = ["Softplus"]
  static func importing(_ node: ONNXNodeContext) throws -> Softplus { Softplus() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { max(x, 0) + log1pf(expf(-abs(x))) }
  func derivative(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
  var outputBounds: ClosedRange<Float> { 0...Float.infinity }
}
