import Foundation

/// SiLU (Swish): f(x) = x · σ(x); f′ = σ(x)(1 + x(1 − σ(x))). ONNX has no such operator
/// before opset 22; exporters write `Mul(x, Sigmoid(x))`, which `FuseActivationPatterns`
/// turns into this activation.
struct SiLU: ActivationFunction {
  static let opName = "SiLU"
  static let onnxNames: [String] = []
  static func importing(_ node: ONNXNodeContext) throws -> SiLU { SiLU() }

  var parameters: [Float] { [] }
  func value(_ x: Float) -> Float { x / (1 + expf(-x)) }
  func derivative(_ x: Float) -> Float {
    let s = 1 / (1 + expf(-x))
    return s * (1 + x * (1 - s))
  }
  var outputBounds: ClosedRange<Float> { -0.2785...Float.infinity }
  func forward(_ x: Tensor) -> Tensor { Kernels.silu(x) }
}
