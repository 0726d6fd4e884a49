/// ONNX `Relu`: f(x) = max(x, 0); f′(x) = [x > 0]. The one activation guided backprop and the
/// deconvnet are defined on.
struct Relu: ActivationFunction {
  static let opName = "Relu"
  static let onnxNames = ["Relu"]
  static let servesGuidedRules = true
  static func importing(_ node: ONNXNodeContext) throws -> Relu { Relu() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { x > 0 ? x : 0 }
  func derivative(_ x: Float) -> Float { x > 0 ? 1 : 0 }
  var outputBounds: ClosedRange<Float> { 0...Float.infinity }
  func forward(_ x: Tensor) -> Tensor { Kernels.relu(x) }
  var clamp: Clamp? { .relu }
}
