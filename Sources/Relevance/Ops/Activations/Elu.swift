import Foundation

/// ONNX `Elu` (alpha 1 by default): f(x) = x for x > 0, else alpha·(eˣ − 1);
/// f′ = 1 for x > 0, else alpha·eˣ.
struct Elu: ActivationFunction {
  static let opName = "Elu"
  static let onnxNames = ["Elu"]
  static func importing(_ node: ONNXNodeContext) throws -> Elu { Elu(alpha: try node.attributes.float("alpha", 1)) }

  var alpha: Float
  var parameters: [Float] { [alpha] }
  func value(_ x: Float) -> Float { x > 0 ? x : alpha * (expf(x) - 1) }
  func derivative(_ x: Float) -> Float { x > 0 ? 1 : alpha * expf(x) }
  var outputBounds: ClosedRange<Float> { alpha >= 0 ? -alpha...Float.infinity : -Float.infinity...Float.infinity }
}
