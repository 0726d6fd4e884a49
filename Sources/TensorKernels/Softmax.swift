#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Kernels {
  /// ONNX `Softmax` (opset 13): along `axis` (negative counts from the end),
  /// `y = exp(x − max) / Σ exp(x − max)`, the max and sum taken over that axis alone; sums are
  /// accumulated in double precision. (Opsets before 13 coerce the input to 2-D at `axis`; reshape to
  /// `[prod(dims[..<axis]), prod(dims[axis...])]` and use axis 1 for those.)
  public static func softmax(_ x: Tensor, axis: Int) -> Tensor {
    let a = axis < 0 ? axis + x.rank : axis
    precondition(a >= 0 && a < x.rank, "softmax: axis \(axis) out of range for \(x.shape)")
    let length = x.shape[a]
    let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: x.count) { y in
        for o in 0..<outer {
          for i in 0..<inner {
            let src = xb.base + o * length * inner + i, dst = y + o * length * inner + i
            var m = -Float.infinity
            for k in 0..<length where src[k * inner] > m { m = src[k * inner] }
            var sum: Double = 0
            for k in 0..<length {
              let e = expf(src[k * inner] - m)
              dst[k * inner] = e
              sum += Double(e)
            }
            let inv = Float(1 / sum)
            for k in 0..<length { dst[k * inner] *= inv }
          }
        }
      }
    }
    return Tensor(shape: x.shape, data: data)
  }
}
