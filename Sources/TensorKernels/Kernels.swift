import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Forward numeric kernels on `Tensor` values, following ONNX operator semantics.
///
/// Every kernel returns a new tensor (or reuses the storage of a consumed argument) and never
/// mutates its inputs.
public enum Kernels {}

extension Kernels {
  /// Minimum number of scalar operations before a kernel splits its work across threads.
  static let parallelWorkThreshold = 1 << 16

  /// Runs `body(i)` for every `i` in `0..<count`, spread over the available cores when the total
  /// `work` (in scalar operations) is large enough to amortise the dispatch.
  @inline(__always)
  static func parallelFor(_ count: Int, work: Int, _ body: (Int) -> Void) {
    if count <= 1 || work < parallelWorkThreshold {
      for i in 0..<count { body(i) }
    } else {
      DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
  }

  /// Runs `body(range)` over contiguous chunks that cover `0..<count`, one chunk per core when
  /// the total `work` is large enough, else a single call covering everything.
  @inline(__always)
  static func parallelChunks(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
    let chunks = (count <= 1 || work < parallelWorkThreshold) ? 1 : min(count, activeProcessorCount)
    if chunks <= 1 {
      if count > 0 { body(0..<count) }
      return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { t in
      body((t * count / chunks)..<((t + 1) * count / chunks))
    }
  }

  static let activeProcessorCount: Int = {
    #if canImport(Glibc)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
    #endif
  }()

  /// An array of `count` floats whose every element is written by `initialize`.
  @inline(__always)
  static func makeArray(count: Int, _ initialize: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    if count == 0 { return [] }
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      initialize(buffer.baseAddress!)
      initialized = count
    }
  }
}

/// Stand-in address for the buffers of empty arrays, which may have no base address.
let emptyFloatStorage = UnsafeMutablePointer<Float>.allocate(capacity: 1)

extension UnsafeBufferPointer where Element == Float {
  /// `baseAddress`, or a valid dummy address for an empty buffer.
  @inline(__always) var base: UnsafePointer<Float> { baseAddress ?? UnsafePointer(emptyFloatStorage) }
}

extension UnsafeMutableBufferPointer where Element == Float {
  /// `baseAddress`, or a valid dummy address for an empty buffer.
  @inline(__always) var base: UnsafeMutablePointer<Float> { baseAddress ?? emptyFloatStorage }
}
