/// ONNX `Clip`: f(x) = min(max(x, low), high); absent bounds are ±infinity. Bounds are the
/// `min`/`max` attributes before opset 11, constant scalar inputs 1 and 2 since. ReLU6 is
/// Clip(0, 6). f′(x) = [low < x < high].
struct Clip: ActivationFunction {
  static let opName = "Clip"
  static let onnxNames = ["Clip"]
  static func importing(_ node: ONNXNodeContext) throws -> Clip {
    let clip = node.opset < 11
      ? Clip(low: try node.attributes.float("min", -.infinity), high: try node.attributes.float("max", .infinity))
      : Clip(low: try node.scalarInput(1) ?? -.infinity, high: try node.scalarInput(2) ?? .infinity)
    guard !clip.low.isNaN, !clip.high.isNaN else { throw node.fail("a bound is NaN") }
    return clip
  }

  var low: Float
  var high: Float
  var parameters: [Float] { [low, high] }
  func value(_ x: Float) -> Float { min(max(x, low), high) }
  func derivative(_ x: Float) -> Float { x > low && x < high ? 1 : 0 }
  var outputBounds: ClosedRange<Float> { low...max(low, high) }
  var clamp: Clamp? { Clamp(lower: low, upper: high) }
  func forward(_ x: Tensor) -> Tensor {
    Kernels.clip(x, min: low.isFinite ? low : nil, max: high.isFinite ? high : nil)
  }
}
