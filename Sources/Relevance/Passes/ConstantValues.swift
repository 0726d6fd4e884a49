/// Index arithmetic shared by shape inference and constant folding, written once for
/// integer and float constants alike.
extension Constant.Values {
  /// The values at `indices`, in order.
  func picking(_ indices: [Int]) -> Constant.Values {
    switch self {
    case .float(let v): return .float(indices.map { v[$0] })
    case .int(let v): return .int(indices.map { v[$0] })
    }
  }
}

extension Constant {
  init(shape: [Int], values: Values) {
    switch values {
    case .float(let v): self.init(shape: shape, floats: v)
    case .int(let v): self.init(shape: shape, ints: v)
    }
  }
}

/// Row-major strides of a shape.
func strides(of shape: [Int]) -> [Int] {
  var result = [Int](repeating: 1, count: shape.count)
  var step = 1
  for axis in shape.indices.reversed() {
    result[axis] = step
    step *= shape[axis]
  }
  return result
}

/// Every multi-index of `shape` in row-major order, mapped through `body` to a flat source index.
func mapIndices(_ shape: [Int], _ body: ([Int]) -> Int) -> [Int] {
  let total = shape.elementCount
  var result: [Int] = []
  result.reserveCapacity(total)
  if total == 0 { return result }
  var index = [Int](repeating: 0, count: shape.count)
  for _ in 0..<total {
    result.append(body(index))
    var axis = shape.count - 1
    while axis >= 0 {
      index[axis] += 1
      if index[axis] < shape[axis] { break }
      index[axis] = 0
      axis -= 1
    }
  }
  return result
}

/// Normalizes a possibly negative axis against `rank`; nil when out of range.
func normalizedAxis(_ axis: Int, rank: Int) -> Int? {
  let a = axis < 0 ? axis + rank : axis
  return (0..<rank).contains(a) ? a : nil
}

/// Largest number of elements clrp accepts in one tensor (2^31, 8 GiB of float32); larger
/// shapes come from corrupted files and would only exhaust memory.
let maxTensorElements = 1 << 31

/// The number of elements of `shape`; nil when a dimension is negative or the count exceeds
/// `maxTensorElements` (computed without overflow).
func plausibleElementCount(_ shape: [Int]) -> Int? {
  guard shape.allSatisfy({ $0 >= 0 }) else { return nil }
  if shape.contains(0) { return 0 }
  var total = 1
  for d in shape {
    let (product, overflow) = total.multipliedReportingOverflow(by: d)
    guard !overflow, product <= maxTensorElements else { return nil }
    total = product
  }
  return total
}
