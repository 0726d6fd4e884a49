extension Kernels {
  /// ONNX `Concat`: joins tensors along `axis` (negative counts from the end). All inputs have the
  /// same rank and agree on every other axis; the result's `axis` extent is the sum of theirs.
  public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
    precondition(!xs.isEmpty, "concat needs at least one tensor")
    let rank = xs[0].rank
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "concat: axis \(axis) out of range for rank \(rank)")
    var shape = xs[0].shape
    shape[a] = 0
    for t in xs {
      precondition(t.rank == rank && t.shape.indices.allSatisfy { $0 == a || t.shape[$0] == xs[0].shape[$0] },
                   "concat: shape \(t.shape) does not match \(xs[0].shape) outside axis \(a)")
      shape[a] += t.shape[a]
    }
    let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
    let row = shape[a] * inner
    let data = makeArray(count: outer * row) { y in
      var offset = 0
      for t in xs {
        let block = t.shape[a] * inner
        t.data.withUnsafeBufferPointer { tb in
          for o in 0..<outer { (y + o * row + offset).update(from: tb.base + o * block, count: block) }
        }
        offset += block
      }
    }
    return Tensor(shape: shape, data: data)
  }
}
