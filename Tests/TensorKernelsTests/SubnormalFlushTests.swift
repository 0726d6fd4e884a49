import XCTest
@testable import TensorKernels

/// `Kernels.withSubnormalsFlushed`: subnormal results become 0 inside, the thread's mode comes
/// back after, and the worker threads of `parallelChunks` follow the calling thread.
final class SubnormalFlushTests: XCTestCase {
  /// Half the smallest normal float, computed at run time (never constant-folded).
  private func halfSmallestNormal(_ factor: [Float] = [0.5]) -> Float { Float.leastNormalMagnitude * factor[0] }

  func testSubnormalResultsAreZeroInsideAndRestoredAfter() {
    XCTAssertFalse(Kernels.subnormalsFlushed, "the test thread starts in the default mode")
    XCTAssertGreaterThan(halfSmallestNormal(), 0, "without flushing, half the smallest normal is a subnormal")
    let inside = Kernels.withSubnormalsFlushed { () -> (Float, Bool) in (halfSmallestNormal(), Kernels.subnormalsFlushed) }
    XCTAssertEqual(inside.0, 0)
    XCTAssertTrue(inside.1)
    XCTAssertFalse(Kernels.subnormalsFlushed, "the previous mode is restored")
    XCTAssertGreaterThan(halfSmallestNormal(), 0)
  }

  /// A thread that flushes (say a worker created by a flushing thread, which inherits the mode)
  /// gets IEEE subnormals back for a non-flushing caller's chunk, and its mode afterwards.
  func testNotFlushingClearsAnInheritedFlushMode() {
    // Compared outside: with inputs treated as zero, the comparisons themselves would see 0.
    let (inner, innerFlushed, outer, outerFlushed) = Kernels.withSubnormalsFlushed { () -> (Float, Bool, Float, Bool) in
      let inside = Kernels.withSubnormals(flushed: false) { () -> (Float, Bool) in
        (halfSmallestNormal(), Kernels.subnormalsFlushed)
      }
      return (inside.0, inside.1, halfSmallestNormal(), Kernels.subnormalsFlushed)
    }
    XCTAssertGreaterThan(inner, 0)
    XCTAssertFalse(innerFlushed)
    XCTAssertEqual(outer, 0)
    XCTAssertTrue(outerFlushed)
  }

  func testModeIsRestoredWhenTheBodyThrows() {
    struct Failure: Error {}
    XCTAssertThrowsError(try Kernels.withSubnormalsFlushed { throw Failure() })
    XCTAssertFalse(Kernels.subnormalsFlushed)
  }

  func testParallelChunksWorkersFollowTheCallingThread() {
    let saved = Kernels.threadCount
    defer { Kernels.threadCount = saved }
    Kernels.threadCount = 2
    let count = 4
    for flushed in [false, true] {
      var modes = [Bool](repeating: !flushed, count: count)
      var products = [Float](repeating: -1, count: count)
      let run = {
        modes.withUnsafeMutableBufferPointer { m in
          products.withUnsafeMutableBufferPointer { p in
            Kernels.parallelChunks(count, work: Kernels.parallelWorkThreshold) { range in
              for i in range { m[i] = Kernels.subnormalsFlushed; p[i] = self.halfSmallestNormal() }
            }
          }
        }
      }
      if flushed { Kernels.withSubnormalsFlushed(run) } else { run() }
      XCTAssertEqual(modes, [Bool](repeating: flushed, count: count), "flushed: \(flushed)")
      XCTAssertEqual(products.map { $0 == 0 }, [Bool](repeating: flushed, count: count), "flushed: \(flushed)")
    }
  }
}
