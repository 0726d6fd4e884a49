/// A dense float32 tensor in row-major (C) order; images are NCHW.
///
/// Storage is a Swift array, so copies are copy-on-write and a `Tensor` is a value.
public struct Tensor: Equatable, Sendable {
  public var shape: [Int]
  public var data: [Float]

  /// Creates a tensor; `data.count` must equal the product of `shape`.
  public init(shape: [Int], data: [Float]) {
    precondition(shape.reduce(1, *) == data.count, "tensor shape \(shape) does not hold \(data.count) values")
    self.shape = shape
    self.data = data
  }

  public init(zeros shape: [Int]) {
    self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
  }

  public init(scalar: Float) { self.init(shape: [], data: [scalar]) }

  public var count: Int { data.count }
  public var rank: Int { shape.count }

  /// The same values under another shape with the same element count.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    Tensor(shape: newShape, data: data)
  }
}

extension Array where Element == Int {
  /// Product of the dimensions (1 for a scalar shape).
  public var elementCount: Int { reduce(1, *) }
}
