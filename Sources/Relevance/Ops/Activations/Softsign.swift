/// ONNX `Softsign`: f(x) = x / (1 + |x|); f′ = 1 / (1 + |x|)². Output in (−1, 1).
struct Softsign: ActivationFunction {
  static let opName = "Softsign"
  static let onnxNames = ["Softsign"]
  static func importing(_ node: ONNXNodeContext) throws -> Softsign { Softsign() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { x / (1 + abs(x)) }
  func derivative(_ x: Float) -> Float {
    let d = 1 + abs(x)
    return 1 / (d * d)
  }
  var outputBounds: ClosedRange<Float> { -1...1 }
}
