/// ONNX `HardSwish` (opset 14): f(x) = x · max(0, min(1, x/6 + 1/2));
/// f′(x) = 0 for x <= −3, x/3 + 1/2 for −3 < x < 3, 1 for x >= 3. Signed output.
struct HardSwish: ActivationFunction {
  static let opName = "HardSwish"
  static let onnxNames = ["HardSwish"]
  static func importing(_ node: ONNXNodeContext) throws -> HardSwish { HardSwish() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { x * max(0, min(1, x / 6 + 0.5)) }
  func derivative(_ x: Float) -> Float { x <= -3 ? 0 : (x >= 3 ? 1 : x / 3 + 0.5) }
  var outputBounds: ClosedRange<Float> { -0.375...Float.infinity }
  func forward(_ x: Tensor) -> Tensor { Kernels.hardSwish(x) }
}
