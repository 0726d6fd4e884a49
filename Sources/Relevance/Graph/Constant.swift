/// A constant value in a graph: float data (weights, biases, normalization constants) or
/// integer data (shapes, indices, axes) as exporters emit them for shape arithmetic.
///
/// Integers are kept as `Int` so that INT64 sentinels such as `INT64_MAX` in Slice ends survive.
public struct Constant: Equatable, Sendable {
  public enum Values: Equatable, Sendable {
    case float([Float])
    case int([Int])
  }

  public var shape: [Int]
  public var values: Values

  public init(shape: [Int], floats: [Float]) {
    precondition(shape.elementCount == floats.count)
    self.shape = shape
    self.values = .float(floats)
  }

  public init(shape: [Int], ints: [Int]) {
    precondition(shape.elementCount == ints.count)
    self.shape = shape
    self.values = .int(ints)
  }

  public init(_ tensor: Tensor) { self.init(shape: tensor.shape, floats: tensor.data) }

  public var count: Int { shape.elementCount }
  public var isFloat: Bool { if case .float = values { return true } else { return false } }

  /// The values as floats (integers converted).
  public var floats: [Float] {
    switch values {
    case .float(let f): return f
    case .int(let i): return i.map { Float($0) }
    }
  }

  /// The values as integers (floats truncated toward zero), as ONNX Cast to an integer type does.
  public var ints: [Int] {
    switch values {
    case .int(let i): return i
    case .float(let f): return f.map { Int(exactly: $0.rounded(.towardZero)) ?? ($0 > 0 ? Int.max : Int.min) }
    }
  }

  public var tensor: Tensor { Tensor(shape: shape, data: floats) }

  /// The same values under another shape with the same element count.
  public func reshaped(_ newShape: [Int]) -> Constant {
    var copy = self
    copy.shape = newShape
    return copy
  }
}
