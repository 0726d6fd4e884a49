/// An activation a convolution applies to its output while it is still in cache:
///
///     clamp(y) = min(max(y, lower), upper)
///
/// ReLU is `Clamp.relu` (`lower` 0, no upper bound); ONNX `Clip(min, max)`, e.g. MobileNet's
/// ReLU6, is `Clamp(lower: min, upper: max)`. A NaN becomes `lower`, as in `Kernels.relu`.
public struct Clamp: Equatable, Sendable {
  public var lower: Float
  public var upper: Float

  /// With `lower > upper` every value becomes `upper`, as in `Kernels.clip` (the upper bound is
  /// applied last).
  public init(lower: Float = -.infinity, upper: Float = .infinity) {
    self.lower = lower
    self.upper = upper
  }

  public static let relu = Clamp(lower: 0)

  @inline(__always)
  public func callAsFunction(_ v: Float) -> Float {
    let a = v > lower ? v : lower
    return a < upper ? a : upper
  }

  @inline(__always)
  public func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
    let a = v.replacing(with: lower, where: .!(v .> lower))
    return a.replacing(with: upper, where: a .> upper)
  }

  @inline(__always)
  public func callAsFunction(_ v: SIMD4<Float>) -> SIMD4<Float> {
    let a = v.replacing(with: lower, where: .!(v .> lower))
    return a.replacing(with: upper, where: a .> upper)
  }
}
