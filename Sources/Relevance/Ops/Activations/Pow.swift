import Foundation

/// ONNX `Pow` with a constant whole exponent p ∈ 1…16 (input 1, a scalar): f(x) = xᵖ,
/// f′(x) = p·xᵖ⁻¹. Exporters write cubes this way (torch's dynamo exporter in the GELU tanh
/// formula, fused by `FuseActivationPatterns`). Other exponents are refused: a fractional one
/// is NaN on negative inputs, and a tensor exponent is not elementwise in x alone.
/// Output non-negative for even p.
struct Pow: ActivationFunction {
  static let opName = "Pow"
  static let onnxNames = ["Pow"]
  static let exponents: ClosedRange<Float> = 1...16
  static func importing(_ node: ONNXNodeContext) throws -> Pow {
    guard let exponent = try node.scalarInput(1) else { throw node.fail("needs an exponent (input 1)") }
    guard exponent.rounded() == exponent, Pow.exponents.contains(exponent) else {
      throw node.fail("exponent \(exponent) is not supported; clrp supports Pow with a constant whole exponent from 1 to 16")
    }
    return Pow(exponent: Int(exponent))
  }

  var exponent: Int
  var parameters: [Float] { [Float(exponent)] }
  func value(_ x: Float) -> Float { power(x, exponent) }
  func derivative(_ x: Float) -> Float { Float(exponent) * power(x, exponent - 1) }
  var outputBounds: ClosedRange<Float> {
    exponent % 2 == 0 ? 0...Float.infinity : -Float.infinity...Float.infinity
  }

  /// xⁿ by repeated multiplication (exact for the small n allowed; x⁰ = 1).
  private func power(_ x: Float, _ n: Int) -> Float {
    var result: Float = 1
    for _ in 0..<n { result *= x }
    return result
  }
}
