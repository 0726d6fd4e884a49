extension Kernels {
  /// Fully connected layer (ONNX `Gemm` with `transB = 1`): `y[n, m] = Σ_k x[n, k] · W[m, k] + b[m]`.
  ///
  /// - Parameters:
  ///   - x: input `[N, K]`.
  ///   - weight: `[M, K]` (output features × input features).
  ///   - bias: `M` values added to every row, or `nil`.
  /// - Returns: `[N, M]`, computed with a single `cblas_sgemm` (`cblas_sgemv` when `N == 1`, which
  ///   OpenBLAS runs about twice as fast for this memory-bound case).
  public static func dense(_ x: Tensor, weight: Tensor, bias: [Float]?) -> Tensor {
    precondition(x.rank == 2 && weight.rank == 2, "dense expects x [N,K] and weight [M,K]")
    let n = x.shape[0], k = x.shape[1], m = weight.shape[0]
    precondition(weight.shape[1] == k, "dense: x \(x.shape) and weight \(weight.shape) disagree on K")
    precondition(bias == nil || bias!.count == m, "dense: bias must have \(m) values")
    let data = x.data.withUnsafeBufferPointer { xp in
      weight.data.withUnsafeBufferPointer { wp in
        makeArray(count: n * m) { y in
          if let bias {
            bias.withUnsafeBufferPointer { bp in
              for row in 0..<n { (y + row * m).update(from: bp.base, count: m) }
            }
          }
          if n == 1 {
            sgemv(rows: m, cols: k, a: wp.base, lda: k, x: xp.base, beta: bias == nil ? 0 : 1, y: y)
          } else {
            sgemm(transB: true, m: n, n: m, k: k, a: xp.base, lda: k,
                  b: wp.base, ldb: k, beta: bias == nil ? 0 : 1, c: y, ldc: m)
          }
        }
      }
    }
    return Tensor(shape: [n, m], data: data)
  }

  /// The input-gradient of `dense`: `x̂[n, k] = Σ_m g[n, m] · W[m, k]`, i.e. `g · W`.
  ///
  /// - Parameters:
  ///   - g: `[N, M]`, shaped like the output of `dense`.
  ///   - weight: `[M, K]`, the weight given to `dense`.
  /// - Returns: `[N, K]`, from one `cblas_sgemm` (`cblas_sgemv` when `N == 1`).
  public static func denseTransposed(_ g: Tensor, weight: Tensor) -> Tensor {
    precondition(g.rank == 2 && weight.rank == 2, "denseTransposed expects g [N,M] and weight [M,K]")
    let n = g.shape[0], m = g.shape[1], k = weight.shape[1]
    precondition(weight.shape[0] == m, "denseTransposed: g \(g.shape) and weight \(weight.shape) disagree on M")
    let data = g.data.withUnsafeBufferPointer { gp in
      weight.data.withUnsafeBufferPointer { wp in
        makeArray(count: n * k) { y in
          if n == 1 {
            sgemv(transA: true, rows: m, cols: k, a: wp.base, lda: k, x: gp.base, beta: 0, y: y)
          } else {
            sgemm(m: n, n: k, k: m, a: gp.base, lda: m, b: wp.base, ldb: k, beta: 0, c: y, ldc: k)
          }
        }
      }
    }
    return Tensor(shape: [n, k], data: data)
  }
}
