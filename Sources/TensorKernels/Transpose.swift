extension Kernels {
  /// ONNX `Transpose`: `y.shape[i] = x.shape[perm[i]]` and
  /// `y[i_0, ..., i_{r-1}] = x[j]` with `j[perm[k]] = i_k`.
  ///
  /// - Parameter perm: a permutation of `0..<x.rank` (ONNX's default is the reversed axes).
  public static func transpose(_ x: Tensor, perm: [Int]) -> Tensor {
    precondition(perm.count == x.rank && perm.sorted() == Array(0..<x.rank),
                 "transpose: \(perm) is not a permutation of the \(x.rank) axes")
    let outShape = perm.map { x.shape[$0] }
    var inStrides = [Int](repeating: 1, count: x.rank)
    for k in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[k] = inStrides[k + 1] * x.shape[k + 1] }
    // Output axes with their input strides, dropping unit axes and merging runs that stay contiguous.
    var dims: [Int] = [], strides: [Int] = []
    for k in 0..<x.rank where outShape[k] != 1 {
      let s = inStrides[perm[k]]
      if let last = dims.last, strides.last! == s * outShape[k] {
        dims[dims.count - 1] = last * outShape[k]
        strides[strides.count - 1] = s
      } else {
        dims.append(outShape[k]); strides.append(s)
      }
    }
    if dims.count <= 1 { return Tensor(shape: outShape, data: x.data) }
    let count = x.count
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: count) { y in
        let rank = dims.count
        let innerCount = dims[rank - 1], innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var src = 0
        var dst = y
        let rows = count / innerCount
        for _ in 0..<rows {
          let s = xb.base + src
          for k in 0..<innerCount { dst[k] = s[k * innerStride] }
          dst += innerCount
          var axis = rank - 2
          while axis >= 0 {
            index[axis] += 1
            src += strides[axis]
            if index[axis] < dims[axis] { break }
            src -= strides[axis] * dims[axis]
            index[axis] = 0
            axis -= 1
          }
        }
      }
    }
    return Tensor(shape: outShape, data: data)
  }
}
