import COpenBLAS

/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of
/// shape `[m, k]`, `op(B)` of shape `[k, n]` and `C` of shape `[m, n]`.
///
/// Degenerate sizes are handled here instead of in BLAS: with `k == 0` the product is empty and
/// `C` becomes `beta * C` (zero when `beta == 0`, whatever `C` held). Large products run as one
/// single-threaded OpenBLAS call per block of C (`gemmBlocks`) on the `ThreadPool`.
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
  gemmBlocks(m: m, n: n, k: k) { rows, columns in
    let a = a + rows.lowerBound * (transA ? 1 : lda), b = b + columns.lowerBound * (transB ? ldb : 1)
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(rows.count), blasint(columns.count), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta, c + rows.lowerBound * ldc + columns.lowerBound, blasint(ldc))
  }
}

/// Splits an `m`×`n` product with inner size `k` into one block of C per thread of the
/// `ThreadPool` and runs `body(rows, columns)` for each block on its own thread: blocks of rows
/// when C is taller than wide, else blocks of columns (`tileBlocks`: edges on multiples of 16). One block, on the caller, below `gemmParallelWork` multiply-adds or
/// inside a chunk of another job. A kernel that prepares or finishes C (a bias, an activation)
/// does so inside `body`, on the block its thread has in cache.
func gemmBlocks(m: Int, n: Int, k: Int, _ body: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void) {
  let blocks = m * n * k < gemmParallelWork || ThreadPool.isInsideJob ? 1 : Kernels.threadCount
  if blocks <= 1 {
    body(0..<m, 0..<n)
    return
  }
  let splitRows = m > n
  let parts = tileBlocks(splitRows ? m : n, blocks: blocks)
  ThreadPool.run(parts.count) { block in
    body(splitRows ? parts[block] : 0..<m, splitRows ? 0..<n : parts[block])
  }
}

/// `0..<length` cut into at most `blocks` non-empty ranges of whole 16-element tiles (OpenBLAS's
/// widest register tile), as even as tiles allow; the last range ends at `length`.
func tileBlocks(_ length: Int, blocks: Int) -> [Range<Int>] {
  let tiles = (length + 15) / 16, count = max(1, min(blocks, tiles))
  return (0..<count).map { b in
    min(length, b * tiles / count * 16)..<min(length, (b + 1) * tiles / count * 16)
  }
}

/// Multiply-adds from which `sgemm` splits a product over the `ThreadPool`'s threads.
let gemmParallelWork = 1 << 16

/// Row-major single-precision GEMV: `y = alpha * op(A) * x + beta * y` with `A` stored as `[rows, cols]`
/// and `op(A)` = `A` (`x` has `cols` entries) or `Aᵀ` (`x` has `rows` entries). From
/// `gemmParallelWork` entries of `A` on, one call per block of outputs runs on the `ThreadPool`.
@inline(__always)
func sgemv(transA: Bool = false, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
  let outputs = transA ? cols : rows, inputs = transA ? rows : cols
  if outputs == 0 { return }
  if inputs == 0 || alpha == 0 {
    if beta == 0 { y.update(repeating: 0, count: outputs) } else { for i in 0..<outputs { y[i] *= beta } }
    return
  }
  // One block of outputs per thread: rows of A, or (transposed) columns.
  let parts = tileBlocks(outputs, blocks: rows * cols < gemmParallelWork ? 1 : Kernels.threadCount)
  ThreadPool.run(parts.count) { block in
    let start = parts[block].lowerBound, count = parts[block].count
    cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, blasint(transA ? rows : count),
                blasint(transA ? count : cols), alpha, a + (transA ? start : start * lda), blasint(lda),
                x, 1, beta, y + start, 1)
  }
}
