import COpenBLAS

/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of
/// shape `[m, k]`, `op(B)` of shape `[k, n]` and `C` of shape `[m, n]`.
///
/// Degenerate sizes are handled here instead of in BLAS: with `k == 0` the product is empty and
/// `C` becomes `beta * C` (zero when `beta == 0`, whatever `C` held).
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
  if m == 0 || n == 0 { return }
  if k == 0 || alpha == 0 {
    for i in 0..<m {
      let row = c + i * ldc
      if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
    }
    return
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
              beta, c, blasint(ldc))
}

/// Row-major single-precision GEMV: `y = alpha * op(A) * x + beta * y` with `A` stored as `[rows, cols]`
/// and `op(A)` = `A` (`x` has `cols` entries) or `Aᵀ` (`x` has `rows` entries).
@inline(__always)
func sgemv(transA: Bool = false, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
  let outputs = transA ? cols : rows, inputs = transA ? rows : cols
  if outputs == 0 { return }
  if inputs == 0 || alpha == 0 {
    if beta == 0 { y.update(repeating: 0, count: outputs) } else { for i in 0..<outputs { y[i] *= beta } }
    return
  }
  cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, blasint(rows), blasint(cols), alpha, a, blasint(lda),
              x, 1, beta, y, 1)
}

/// OpenBLAS's own thread pool: how many threads one GEMM may use. Work that runs several
/// independent small problems at once (one image per core) is faster with 1.
public enum BLASThreads {
  public static var count: Int { Int(openblas_get_num_threads()) }
  public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}
