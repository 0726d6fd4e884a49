extension Kernels {
  /// One output position of a separable resampling: the input positions it reads and their weights.
  public typealias InterpolationTaps = [(index: Int, weight: Float)]

  /// Separable 2-D resampling of an NCHW tensor: `y[n, c, i, j] = Σ_a Σ_b r_a c_b x[n, c, row_a, col_b]`
  /// over the taps `rows[i]` = [(row_a, r_a)] and `columns[j]` = [(col_b, c_b)] (nearest: one
  /// tap of weight 1; linear: two). The output has `rows.count` × `columns.count` planes.
  public static func resize2d(_ x: Tensor, rows: [InterpolationTaps], columns: [InterpolationTaps]) -> Tensor {
    precondition(x.rank == 4, "resize2d expects NCHW, got \(x.shape)")
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (rows.count, columns.count)
    var y = [Float](repeating: 0, count: planes * oh * ow)
    for p in 0..<planes {
      let src = p * h * w, dst = p * oh * ow
      for i in 0..<oh {
        for j in 0..<ow {
          var sum: Float = 0
          for (r, rw) in rows[i] { for (c, cw) in columns[j] { sum += rw * cw * x.data[src + r * w + c] } }
          y[dst + i * ow + j] = sum
        }
      }
    }
    return Tensor(shape: [x.shape[0], x.shape[1], oh, ow], data: y)
  }

  /// The adjoint of `resize2d`: `r` ([N, C, oh, ow]) spread back onto `inputShape` ([N, C, h, w])
  /// with the same taps, `x[row_a, col_b] += r_a c_b y[i, j]`.
  public static func resize2dTransposed(_ r: Tensor, rows: [InterpolationTaps], columns: [InterpolationTaps], inputShape: [Int]) -> Tensor {
    let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
    let (oh, ow) = (rows.count, columns.count)
    precondition(r.shape == [inputShape[0], inputShape[1], oh, ow], "resize2dTransposed: \(r.shape) does not match the taps")
    var x = [Float](repeating: 0, count: planes * h * w)
    for p in 0..<planes {
      let src = p * oh * ow, dst = p * h * w
      for i in 0..<oh {
        for j in 0..<ow {
          let g = r.data[src + i * ow + j]
          for (row, rw) in rows[i] { for (c, cw) in columns[j] { x[dst + row * w + c] += rw * cw * g } }
        }
      }
    }
    return Tensor(shape: inputShape, data: x)
  }
}
