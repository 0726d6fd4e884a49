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
  /// The runtime's entry points (`ForwardPlan.run`, the relevance runs) call this. The chunks of
  /// every `ThreadPool` job (`parallelChunks`, the blocks of a GEMM, which OpenBLAS computes
  /// single-threaded) run under the calling thread's mode on whichever thread runs them, and
  /// the pool creates its threads in IEEE mode (a new thread copies its creator's
  /// floating-point state on Linux).
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

  /// A thread's whole floating-point control word (rounding, exception masks, subnormal mode),
  /// to run work on another thread under the same mode.
  struct FloatEnvironment {
    let word: clrp_float_environment

    static var current: FloatEnvironment { FloatEnvironment(word: clrp_get_float_environment()) }

    /// `body` with the calling thread set to this mode, then back to its own.
    @inline(__always)
    func whileSet<T>(_ body: () throws -> T) rethrows -> T {
      let saved = clrp_get_float_environment()
      clrp_restore_float_environment(word)
      defer { clrp_restore_float_environment(saved) }
      return try body()
    }
  }

  /// Whether the calling thread flushes subnormals now.
  public static var subnormalsFlushed: Bool { clrp_subnormals_flushed() != 0 }
}
