extension Kernels {
  /// ONNX `Pad` in `constant` mode: `pads = [b_0, ..., b_{r-1}, e_0, ..., e_{r-1}]` adds `b_k`
  /// elements before and `e_k` after axis `k`; negative amounts crop instead. The result has
  /// `y.shape[k] = x.shape[k] + b_k + e_k` and `y[i] = x[i − b]` where that index is inside `x`,
  /// else `value`.
  public static func pad(_ x: Tensor, pads: [Int], value: Float) -> Tensor {
    let rank = x.rank
    precondition(pads.count == 2 * rank, "pad: need \(2 * rank) pads for shape \(x.shape), got \(pads)")
    let outShape = (0..<rank).map { x.shape[$0] + pads[$0] + pads[rank + $0] }
    precondition(outShape.allSatisfy { $0 >= 0 }, "pad: \(pads) crops more than \(x.shape) holds")
    let count = outShape.reduce(1, *)
    if rank == 0 { return x }
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: count) { y in
        let width = outShape[rank - 1], inWidth = x.shape[rank - 1], before = pads[rank - 1]
        let lo = min(width, max(0, before)), hi = max(lo, min(width, before + inWidth))
        var inStrides = [Int](repeating: 1, count: rank)
        for k in stride(from: rank - 2, through: 0, by: -1) { inStrides[k] = inStrides[k + 1] * x.shape[k + 1] }
        var index = [Int](repeating: 0, count: rank)
        var dst = y
        for _ in 0..<(width == 0 ? 0 : count / width) {
          var src = 0, inside = true
          for k in 0..<(rank - 1) {
            let i = index[k] - pads[k]
            if i < 0 || i >= x.shape[k] { inside = false; break }
            src += i * inStrides[k]
          }
          if inside && lo < hi {
            if lo > 0 { dst.update(repeating: value, count: lo) }
            (dst + lo).update(from: xb.base + src + (lo - before), count: hi - lo)
            if hi < width { (dst + hi).update(repeating: value, count: width - hi) }
          } else {
            dst.update(repeating: value, count: width)
          }
          dst += width
          var axis = rank - 2
          while axis >= 0 {
            index[axis] += 1
            if index[axis] < outShape[axis] { break }
            index[axis] = 0
            axis -= 1
          }
        }
      }
    }
    return Tensor(shape: outShape, data: data)
  }
}
