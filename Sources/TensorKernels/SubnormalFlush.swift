import CFloatEnvironment

extension Kernels {
  /// Runs `body` with the calling thread flushing subnormal floats to zero (treating subnormal
  /// inputs as 0 and writing 0 instead of a subnormal result), then restores the thread's
  /// previous mode, so a caller's own arithmetic is never affected.
  ///
  /// Why: on x86-64 every arithmetic operation on a subnormal (|x| < 2^−126 ≈ 1.2e−38) takes a
  /// microcode assist of about a hundred cycles. Exact sigmoids reach e^−87, and a
  /// squeeze-and-excitation gate times a small activation lands below 2^−126: OpenBLAS's sgemm
  /// over such an input ran at 10 GFLOP/s instead of 100 (EfficientNet-B0's projection convs),
  /// the whole forward pass 1.4x slower. Flushing changes no value by more than 2^−126.
  ///
  /// The runtime's entry points (`ForwardPlan.run`, the relevance runs) call this. The worker
  /// threads of `parallelChunks` take the calling thread's mode for each chunk, either way (a
  /// worker thread created during a flushed run starts out flushing: Linux copies the
  /// floating-point state into new threads; such a thread keeps that mode outside clrp's chunks).
  /// OpenBLAS's own threads keep their mode, but then see no subnormal inputs (the kernels that
  /// produce them flush).
  @inline(__always)
  public static func withSubnormalsFlushed<T>(_ body: () throws -> T) rethrows -> T {
    try withSubnormals(flushed: true, body)
  }

  /// Runs `body` with the calling thread flushing subnormals (`flushed`) or not, then restores
  /// the thread's previous mode.
  @inline(__always)
  public static func withSubnormals<T>(flushed: Bool, _ body: () throws -> T) rethrows -> T {
    let saved = clrp_set_subnormal_flush(flushed ? 1 : 0)
    defer { clrp_restore_float_environment(saved) }
    return try body()
  }

  /// Whether the calling thread flushes subnormals now.
  public static var subnormalsFlushed: Bool { clrp_subnormals_flushed() != 0 }
}
