import Foundation

/// ONNX `Gelu` (opset 20; `approximate` "none" or "tanh"):
///   none: f(x) = x Φ(x) = x/2 (1 + erf(x/√2)),            f′ = Φ(x) + x φ(x)
///   tanh: f(x) = x/2 (1 + tanh u), u = √(2/π)(x + 0.044715 x³),
///         f′ = (1 + tanh u)/2 + x/2 (1 − tanh² u) √(2/π)(1 + 3·0.044715 x²)
/// torch's decomposition for older opsets (x · (erf(x/√2) + 1) · 0.5) is fused into it by
/// `FuseActivationPatterns`. Signed output (minimum ≈ −0.17).
struct GELU: ActivationFunction {
  static let opName = "Gelu"
  static let onnxNames = ["Gelu"]
  static func importing(_ node: ONNXNodeContext) throws -> GELU {
    let approximate = try node.attributes.string("approximate", "none")
    switch approximate {
    case "none": return GELU(tanhApproximation: false)
    case "tanh": return GELU(tanhApproximation: true)
    default: throw node.fail("approximate must be 'none' or 'tanh', not '\(approximate)'")
    }
  }

  var tanhApproximation: Bool
  var parameters: [Float] { [tanhApproximation ? 1 : 0] }

  private static let c = Float((2 / Double.pi).squareRoot())

  func value(_ x: Float) -> Float {
    if tanhApproximation { return 0.5 * x * (1 + tanhf(GELU.c * (x + 0.044715 * x * x * x))) }
    return 0.5 * x * (1 + erff(x / Float(2).squareRoot()))
  }

  func derivative(_ x: Float) -> Float {
    if tanhApproximation {
      let t = tanhf(GELU.c * (x + 0.044715 * x * x * x))
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU.c * (1 + 3 * 0.044715 * x * x)
    }
    let cdf = 0.5 * (1 + erff(x / Float(2).squareRoot()))
    let pdf = expf(-0.5 * x * x) / Float(2 * Double.pi).squareRoot()
    return cdf + x * pdf
  }
  var outputBounds: ClosedRange<Float> { -0.1701...Float.infinity }
}
