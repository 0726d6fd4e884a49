#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Forward numeric kernels on `Tensor` values, following ONNX operator semantics.
///
/// Every kernel returns a new tensor and never mutates its inputs. Large loops run over the
/// available cores on the `ThreadPool`; matrix products go to OpenBLAS, split over the same threads.
public enum Kernels {}

extension Kernels {
  /// Minimum number of scalar operations before a kernel splits its work across threads.
  static let parallelWorkThreshold = 1 << 14

  /// Runs `body(range)` over contiguous chunks that cover `0..<count`, one chunk per core when
  /// the total `work` is large enough, else a single call covering everything. Chunks run on the
  /// `ThreadPool`, under the calling thread's floating-point mode.
  @inline(__always)
  public static func parallelChunks(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
    let chunks = (count <= 1 || work < parallelWorkThreshold) ? 1 : min(count, threadCount)
    if chunks <= 1 {
      if count > 0 { body(0..<count) }
      return
    }
    ThreadPool.run(chunks) { t in body((t * count / chunks)..<((t + 1) * count / chunks)) }
  }

  /// Threads a kernel or a GEMM splits its work over: the size of the `ThreadPool`. It starts
  /// as `DefaultThreadCount` (`CLRP_THREADS`, `OPENBLAS_NUM_THREADS`, else the CPUs the process
  /// may use); `clrp bench --threads` sets it to compare with other libraries on as many
  /// threads. Set it before running kernels, not while they run.
  nonisolated(unsafe) public static var threadCount = DefaultThreadCount.current {
    didSet {
      if threadCount < 1 { threadCount = 1 }
      ThreadPool.configure(threads: threadCount)
    }
  }

  /// An array of `count` floats whose every element is written by `initialize`.
  @inline(__always)
  static func makeArray(count: Int, _ initialize: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    if count == 0 { return [] }
    _ = HeapReuse.configured
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

/// Reusable scratch buffers for the kernels' temporary matrices, so that repeated calls do not
/// pay for fresh pages each time. Buffers are taken under a lock and returned after use; at most
/// `capacity` idle buffers are kept (the largest ones).
final class ScratchPool: @unchecked Sendable {
  static let shared = ScratchPool()
  private let capacity = 4
  private var idle: [(pointer: UnsafeMutablePointer<Float>, count: Int)] = []
  private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
    let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(m, nil)
    return m
  }()

  private func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    if let i = idle.indices.filter({ idle[$0].count >= count }).min(by: { idle[$0].count < idle[$1].count }) {
      return idle.remove(at: i)
    }
    return (UnsafeMutablePointer<Float>.allocate(capacity: count), count)
  }

  private func give(_ buffer: (UnsafeMutablePointer<Float>, Int)) {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    idle.append(buffer)
    if idle.count > capacity {
      let smallest = idle.indices.min { idle[$0].count < idle[$1].count }!
      idle.remove(at: smallest).pointer.deallocate()
    }
  }

  /// Calls `body` with an uninitialised buffer of at least `count` floats, valid only inside `body`.
  func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let buffer = take(max(1, count))
    defer { give(buffer) }
    return body(buffer.0)
  }
}

/// Keeps freed tensor memory in the process for the next tensor.
///
/// A forward pass allocates and frees one tensor per layer, most of them between 128 kB and a few
/// MB. glibc serves blocks above `M_MMAP_THRESHOLD` (128 kB at start) with fresh `mmap`s and
/// returns them on free, and trims the heap top above `M_TRIM_THRESHOLD`, so every layer's output
/// page-faults (the kernel zeroes each page) before the first write: MobileNetV2's forward pass
/// took 2–3× longer for it on a loaded machine. Raising both thresholds (the mmap one to its
/// maximum, 32 MB on 64-bit) lets freed blocks serve later tensors; larger ones (VGG's dense
/// weights) still get their own mapping. Applied once, on the first tensor a kernel makes.
enum HeapReuse {
  static let configured: Bool = {
    #if canImport(Glibc)
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(nil, "mallopt") else { return false }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD (malloc.h)
    return mallopt(mmapThreshold, 32 << 20) == 1 && mallopt(trimThreshold, 1 << 30) == 1
    #else
    return false
    #endif
  }()
}
