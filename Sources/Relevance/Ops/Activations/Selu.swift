import Foundation

/// ONNX `Selu` (alpha 1.67326319, gamma 1.05070102 by default): f(x) = gamma·x for x > 0, else
/// gamma·alpha·(eˣ − 1); f′ = gamma for x > 0, else gamma·alpha·eˣ.
struct Selu: ActivationFunction {
  static let opName = "Selu"
  static let onnxNames = ["Selu"]
  static func importing(_ node: ONNXNodeContext) throws -> Selu {
    Selu(alpha: try node.attributes.float("alpha", 1.67326319217681884765625),
         gamma: try node.attributes.float("gamma", 1.05070102214813232421875))
  }

  var alpha: Float
  var gamma: Float
  var parameters: [Float] { [alpha, gamma] }
  func value(_ x: Float) -> Float { x > 0 ? gamma * x : gamma * alpha * (expf(x) - 1) }
  func derivative(_ x: Float) -> Float { x > 0 ? gamma : gamma * alpha * expf(x) }
  var outputBounds: ClosedRange<Float> { -Float.infinity...Float.infinity }
}
