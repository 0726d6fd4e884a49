#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Kernels {
  /// Local response normalization across channels (ONNX `LRN`):
  ///
  ///     square_sum[n, c, ...] = Σ_{c' = max(0, c − ⌊(size−1)/2⌋)}^{min(C−1, c + ⌈(size−1)/2⌉)} x[n, c', ...]²
  ///     y[n, c, ...] = x[n, c, ...] / (bias + alpha / size · square_sum[n, c, ...])^beta
  ///
  /// - Parameter x: `[N, C, D1, ..., Dk]`.
  /// - Returns: a tensor shaped like `x`.
  public static func lrn(_ x: Tensor, size: Int, alpha: Float, beta: Float, bias: Float) -> Tensor {
    precondition(x.rank >= 2, "lrn expects [N, C, ...], got \(x.shape)")
    precondition(size >= 1, "lrn: size must be positive")
    let n = x.shape[0], c = x.shape[1]
    let plane = x.shape.dropFirst(2).reduce(1, *)
    let before = (size - 1) / 2, after = size / 2
    let scale = alpha / Float(size)
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: x.count) { y in
        parallelChunks(n * c, work: x.count * (size + 8)) { range in
          let sums = UnsafeMutablePointer<Float>.allocate(capacity: max(1, plane))
          defer { sums.deallocate() }
          for p in range {
            let image = p / c, channel = p % c
            sums.update(repeating: 0, count: plane)
            for other in max(0, channel - before)...min(c - 1, channel + after) {
              let src = xb.base + (image * c + other) * plane
              for k in 0..<plane { sums[k] += src[k] * src[k] }
            }
            let src = xb.base + p * plane, dst = y + p * plane
            if beta == 0.75 {
              for k in 0..<plane {
                let t = bias + scale * sums[k]
                let r = t.squareRoot()
                dst[k] = src[k] / (r * r.squareRoot())
              }
            } else {
              for k in 0..<plane { dst[k] = src[k] / powf(bias + scale * sums[k], beta) }
            }
          }
        }
      }
    }
    return Tensor(shape: x.shape, data: data)
  }
}
