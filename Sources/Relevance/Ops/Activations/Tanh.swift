import Foundation

/// ONNX `Tanh`: f(x) = tanh x; f′ = 1 − tanh² x. Output in (−1, 1).
struct Tanh: ActivationFunction {
  static let opName = "Tanh"
  static let onnxNames = ["Tanh"]
  static func importing(_ node: ONNXNodeContext) throws -> Tanh { Tanh() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { tanhf(x) }
  func derivative(_ x: Float) -> Float {
    let t = tanhf(x)
    return 1 - t * t
  }
  var outputBounds: ClosedRange<Float> { -1...1 }
}
