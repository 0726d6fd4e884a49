import Foundation

/// ONNX `Sigmoid`: σ(x) = 1 / (1 + e^−x); σ′ = σ(1 − σ). Output in (0, 1).
struct Sigmoid: ActivationFunction {
  static let opName = "Sigmoid"
  static let onnxNames = ["Sigmoid"]
  static func importing(_ node: ONNXNodeContext) throws -> Sigmoid { Sigmoid() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
  func derivative(_ x: Float) -> Float {
    let s = value(x)
    return s * (1 - s)
  }
  var outputBounds: ClosedRange<Float> { 0...1 }
  func forward(_ x: Tensor) -> Tensor { Kernels.sigmoid(x) }
}
