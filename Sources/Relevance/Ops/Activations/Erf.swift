import Foundation

/// ONNX `Erf`: f(x) = erf x = 2/√π ∫₀ˣ e^(−t²) dt; f′ = 2/√π e^(−x²). Output in (−1, 1).
/// Exporters write it inside GELU's decomposition, which `FuseActivationPatterns` fuses.
struct Erf: ActivationFunction {
  static let opName = "Erf"
  static let onnxNames = ["Erf"]
  static func importing(_ node: ONNXNodeContext) throws -> Erf { Erf() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { erff(x) }
  func derivative(_ x: Float) -> Float { 2 / Float.pi.squareRoot() * expf(-x * x) }
  var outputBounds: ClosedRange<Float> { -1...1 }
}
