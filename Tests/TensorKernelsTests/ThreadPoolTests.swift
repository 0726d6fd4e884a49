import CThreadPool
import Dispatch
import Foundation
import Synchronization
import XCTest
@testable import TensorKernels

/// The `ThreadPool` (every chunk once, on more than one thread, nested and concurrent callers
/// served without deadlock, resizing) and the GEMM and GEMV split over it (`gemmBlocks`), against
/// naive double-precision loops.
final class ThreadPoolTests: XCTestCase {
  private var savedThreads = 0

  override func setUp() {
    savedThreads = Kernels.threadCount
    Kernels.threadCount = 2
  }

  override func tearDown() { Kernels.threadCount = savedThreads }

  /// Runs `chunks` chunks and returns how often each ran and the distinct threads that ran them.
  private func runCounting(_ chunks: Int, pause: useconds_t = 0) -> (counts: [Int], threads: Set<UInt>) {
    var counts = [Int](repeating: 0, count: chunks)
    var threads = [UInt](repeating: 0, count: chunks)
    counts.withUnsafeMutableBufferPointer { c in
      threads.withUnsafeMutableBufferPointer { t in
        ThreadPool.run(chunks) { i in
          c[i] += 1
          t[i] = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: UInt(pthread_self()))))
          if pause > 0 { usleep(pause) }
        }
      }
    }
    return (counts, Set(threads))
  }

  func testEveryChunkRunsExactlyOnceOnSeveralThreads() {
    for chunks in [1, 2, 3, 17, 1000] {
      XCTAssertEqual(runCounting(chunks).counts, [Int](repeating: 1, count: chunks), "\(chunks) chunks")
    }
    // 200 chunks of 200 µs: a spinning or woken worker takes some of them. (Setting the thread
    // count ends a serial period a preempted worker may have started above.)
    Kernels.threadCount = 2
    XCTAssertEqual(runCounting(200, pause: 200).threads.count, 2)
  }

  /// Thousands of tiny jobs back to back through the C entry point, each with a context of its
  /// own (its number and chunk count): a worker that arrives late at one job must never run a
  /// chunk of the next with the old job's context, nor a chunk number past the job's count.
  /// (That interleaving needs a worker preempted between reading a job and claiming a chunk;
  /// the test checks every interleaving that occurs, it cannot force one.)
  func testManyShortJobsBackToBackRunEachChunkOnceForItsOwnJob() {
    struct Job { var number: Int; var chunks: Int; var counts: UnsafeMutablePointer<Int> }
    for threads in [2, 3] {
      Kernels.threadCount = threads
      let jobs = 20_000
      let counts = UnsafeMutablePointer<Int>.allocate(capacity: jobs * 10)
      counts.initialize(repeating: 0, count: jobs * 10)
      let contexts = UnsafeMutablePointer<Job>.allocate(capacity: jobs)
      defer { counts.deallocate(); contexts.deallocate() }
      for job in 0..<jobs {
        (contexts + job).initialize(to: Job(number: job, chunks: 2 + job % 8, counts: counts))
        clrp_pool_run(contexts[job].chunks, { context, chunk in
          let job = context!.assumingMemoryBound(to: Job.self).pointee
          // Slot 9 of a job counts chunk numbers past its count.
          job.counts[job.number * 10 + (chunk < job.chunks ? chunk : 9)] += 1
        }, contexts + job)
      }
      let expected = (0..<(jobs * 10)).map { $0 % 10 < 2 + ($0 / 10) % 8 ? 1 : 0 }
      XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: jobs * 10)), expected, "\(threads) threads")
    }
  }

  /// Whether a job of `threads` chunks, each waiting (up to 2 s) until all have started, ran
  /// them on `threads` distinct threads: it needs every worker, woken if asleep.
  private func barrierJobUsesEveryThread(_ threads: Int) -> Bool {
    let entered = Atomic<Int>(0)
    var ids = [UInt](repeating: 0, count: threads)
    ids.withUnsafeMutableBufferPointer { slots in
      ThreadPool.run(threads) { i in
        slots[i] = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: UInt(pthread_self()))))
        entered.add(1, ordering: .sequentiallyConsistent)
        let deadline = Date().addingTimeInterval(2)
        while entered.load(ordering: .sequentiallyConsistent) < threads && Date() < deadline { usleep(100) }
      }
    }
    return Set(ids).count == threads && entered.load(ordering: .sequentiallyConsistent) == threads
  }

  /// Workers asleep after a pause (longer than their spin) are woken for the next job, after
  /// every resize, including the resize that stops sleeping workers.
  func testSleepingWorkersWakeForEveryJobAndResize() {
    for threads in [2, 3, 1, 4, 2] {
      usleep(20_000)
      Kernels.threadCount = threads
      XCTAssertEqual(Int(clrp_pool_threads()), threads)
      for _ in 0..<3 {
        usleep(20_000)
        XCTAssertTrue(barrierJobUsesEveryThread(threads), "\(threads) threads")
      }
    }
  }

  /// A worker that keeps the caller waiting far longer than the caller's own share (as when it
  /// loses its core mid-chunk) makes the next jobs run on the caller alone, until the thread
  /// count is set again.
  func testLongWaitForAWorkerMakesTheNextJobsSerial() {
    let caller = pthread_self()
    let entered = Atomic<Int>(0)
    ThreadPool.run(2) { _ in
      entered.add(1, ordering: .sequentiallyConsistent)
      let deadline = Date().addingTimeInterval(2)
      while entered.load(ordering: .sequentiallyConsistent) < 2 && Date() < deadline { usleep(50) }
      if pthread_equal(pthread_self(), caller) == 0 { usleep(20_000) }
    }
    XCTAssertEqual(entered.load(ordering: .sequentiallyConsistent), 2)
    XCTAssertEqual(runCounting(40, pause: 200).threads.count, 1, "serial after the long wait")
    Kernels.threadCount = 2
    XCTAssertTrue(barrierJobUsesEveryThread(2), "parallel again once the thread count is set")
  }

  func testOneThreadRunsEverythingOnTheCaller() {
    Kernels.threadCount = 1
    let run = runCounting(50, pause: 50)
    XCTAssertEqual(run.counts, [Int](repeating: 1, count: 50))
    XCTAssertEqual(run.threads, [UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: UInt(pthread_self()))))])
  }

  func testResizingKeepsEveryChunk() {
    for threads in [3, 1, 4, 2] {
      Kernels.threadCount = threads
      XCTAssertEqual(runCounting(64, pause: 20).counts, [Int](repeating: 1, count: 64), "\(threads) threads")
    }
  }

  func testNestedJobsRunSeriallyInsideAChunk() {
    var inner = [Int](repeating: 0, count: 8 * 16)
    var insideFlags = [Bool](repeating: false, count: 8)
    inner.withUnsafeMutableBufferPointer { counts in
      insideFlags.withUnsafeMutableBufferPointer { flags in
        ThreadPool.run(8) { outer in
          flags[outer] = ThreadPool.isInsideJob
          ThreadPool.run(16) { i in counts[outer * 16 + i] += 1 }
        }
      }
    }
    XCTAssertEqual(inner, [Int](repeating: 1, count: 8 * 16))
    XCTAssertEqual(insideFlags, [Bool](repeating: true, count: 8))
    XCTAssertFalse(ThreadPool.isInsideJob, "the caller is outside any job again")
  }

  /// Four threads submit at once: one holds the pool, the others run their chunks themselves.
  func testConcurrentCallersAllComplete() {
    let callers = 4, chunks = 300
    var counts = [Int](repeating: 0, count: callers * chunks)
    counts.withUnsafeMutableBufferPointer { c in
      let base = c.baseAddress!
      DispatchQueue.concurrentPerform(iterations: callers) { caller in
        for _ in 0..<5 {
          ThreadPool.run(chunks) { i in base[caller * chunks + i] += 1 }
        }
      }
    }
    XCTAssertEqual(counts, [Int](repeating: 5, count: callers * chunks))
  }

  /// A forked child has none of the parent's workers: it runs jobs on itself, and it can start
  /// workers of its own. The parent's workers are asleep at the fork (a pause longer than their
  /// spin), so the child inherits the pool's state as it stands between jobs. The child calls
  /// only C and atomics and exits 0 when it ran a first job, then a job that needed two threads;
  /// an alarm kills it if it hangs.
  func testForkedChildStartsItsOwnPool() {
    XCTAssertTrue(barrierJobUsesEveryThread(2), "the parent's pool has a worker")
    usleep(20_000)
    final class Entered: @unchecked Sendable {
      let count = Atomic<Int>(0)
      let ids = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
      deinit { ids.deallocate() }
    }
    let entered = Entered()
    let context = Unmanaged.passUnretained(entered).toOpaque()
    let child = fork()
    if child == 0 {
      alarm(10)
      clrp_pool_run(100, { context, _ in
        Unmanaged<Entered>.fromOpaque(context!).takeUnretainedValue().count.add(1, ordering: .sequentiallyConsistent)
      }, context)
      guard entered.count.load(ordering: .sequentiallyConsistent) == 100 else { _exit(1) }
      entered.count.store(0, ordering: .sequentiallyConsistent)
      clrp_pool_set_threads(2)
      clrp_pool_run(2, { context, chunk in
        let entered = Unmanaged<Entered>.fromOpaque(context!).takeUnretainedValue()
        entered.ids[chunk] = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: UInt(pthread_self()))))
        entered.count.add(1, ordering: .sequentiallyConsistent)
        while entered.count.load(ordering: .sequentiallyConsistent) < 2 { usleep(100) }
      }, context)
      _exit(entered.ids[0] != entered.ids[1] ? 0 : 2)
    }
    XCTAssertGreaterThan(child, 0, "fork failed")
    var status: Int32 = 0
    XCTAssertEqual(waitpid(child, &status, 0), child)
    XCTAssertEqual(status, 0, "child exit status (0: both jobs ran; 256: the first job missed chunks; 512: one thread; signal 14: it hung)")
  }

  /// `gemmBlocks` covers C exactly once with blocks of rows or of columns on 16-aligned edges.
  func testGEMMBlocksTileTheProduct() {
    for threads in [2, 3] {
      Kernels.threadCount = threads
      for (m, n) in [(37, 300), (300, 37), (16, 16), (1, 5000), (2048, 49)] {
        var cover = [Int](repeating: 0, count: m * n)
        var blocks: [(Range<Int>, Range<Int>)] = []
        let lock = NSLock()
        cover.withUnsafeMutableBufferPointer { c in
          gemmBlocks(m: m, n: n, k: 1 << 16) { rows, columns in
            lock.withLock { blocks.append((rows, columns)) }
            for i in rows { for j in columns { c[i * n + j] += 1 } }
          }
        }
        XCTAssertEqual(cover, [Int](repeating: 1, count: m * n), "\(m)x\(n), \(threads) threads")
        XCTAssertLessThanOrEqual(blocks.count, threads)
        let edges = blocks.flatMap { m > n ? [$0.0.lowerBound] : [$0.1.lowerBound] }
        XCTAssertTrue(edges.allSatisfy { $0 % 16 == 0 }, "block edges \(edges)")
        if max(m, n) > 16 { XCTAssertGreaterThan(blocks.count, 1, "\(m)x\(n) is split") }
      }
    }
  }

  /// `sgemm` split over the pool equals a double-precision loop, for every transposition, a C
  /// with a wider leading dimension than its width, and beta 1 (C's old values kept).
  func testSplitSGEMMMatchesNaiveProduct() {
    var rng = SplitMix64(seed: 7)
    for (m, n, k) in [(37, 300, 50), (300, 37, 50), (130, 129, 17), (5, 3, 2)] {
      for transA in [false, true] {
        for transB in [false, true] {
          // Leading dimensions wider than the matrices, the padding NaN: an offset that used a
          // width instead of a leading dimension would read it.
          let lda = (transA ? m : k) + 5, ldb = (transB ? k : n) + 7, ldc = n + 3
          var a = rng.floats((transA ? k : m) * lda), b = rng.floats((transB ? n : k) * ldb)
          for i in a.indices where i % lda >= (transA ? m : k) { a[i] = .nan }
          for i in b.indices where i % ldb >= (transB ? k : n) { b[i] = .nan }
          var c = rng.floats(m * ldc)
          let before = c
          a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
              c.withUnsafeMutableBufferPointer { cp in
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                      b: bp.baseAddress!, ldb: ldb, beta: 1, c: cp.baseAddress!, ldc: ldc)
              }
            }
          }
          var worst = 0.0
          for i in 0..<m {
            for j in 0..<n {
              var sum = 0.0
              for p in 0..<k {
                let x = Double(transA ? a[p * lda + i] : a[i * lda + p])
                let y = Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                sum += x * y
              }
              let error = abs(Double(c[i * ldc + j]) - (0.5 * sum + Double(before[i * ldc + j])))
              worst = max(worst, error.isNaN ? .infinity : error)
            }
            for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], before[i * ldc + j], "padding left alone") }
          }
          XCTAssertLessThan(worst, 1e-4, "\(m)x\(n)x\(k) transA \(transA) transB \(transB)")
        }
      }
    }
  }

  /// Convolutions whose GEMM splits by filters and by columns on three threads, with bias,
  /// residual addend and clamp done per block, equal clamp(direct convolution + bias + addend).
  func testSplitConvolutionBlocksMatchDirectConvolution() {
    Kernels.threadCount = 3
    var rng = SplitMix64(seed: 41)
    let cases: [(input: [Int], filters: Int, window: Window2D)] = [
      ([1, 32, 7, 7], 128, Window2D(kernelH: 1, kernelW: 1)),  // pointwise, split by filters
      ([1, 64, 32, 32], 16, Window2D(kernelH: 1, kernelW: 1)),  // pointwise, split by columns
      ([2, 16, 15, 15], 96, Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
      ([1, 8, 40, 40], 16, Window2D(kernelH: 5, kernelW: 5, strideH: 2, strideW: 2)),
    ]
    for c in cases {
      let x = rng.tensor(c.input), w = rng.tensor([c.filters, c.input[1], c.window.kernelH, c.window.kernelW])
      let bias = rng.floats(c.filters)
      let reference = referenceConv(x, w, bias: bias, window: c.window, group: 1)
      let addend = rng.tensor(reference.shape)
      let upper = 0.5 * (reference.values.map(abs).max() ?? 1)
      let expected = Reference(shape: reference.shape,
                               values: zip(reference.values, addend.data).map { min(max($0 + Double($1), 0), upper) },
                               magnitude: zip(reference.magnitude, addend.data).map { $0 + abs(Double($1)) })
      let y = Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: 1,
                             clamp: Clamp(lower: 0, upper: Float(upper)), addend: addend)
      assertClose(y, expected, "\(c.input) -> \(c.filters) filters \(c.window.kernelH)x\(c.window.kernelW)")
    }
  }

  func testSplitSGEMVMatchesNaiveProduct() {
    var rng = SplitMix64(seed: 11)
    for (rows, cols) in [(1000, 300), (300, 1000), (7, 5)] {
      // Rows of A padded to a leading dimension of cols + 3, the padding NaN.
      let lda = cols + 3
      var a = rng.floats(rows * lda)
      for i in a.indices where i % lda >= cols { a[i] = .nan }
      for transA in [false, true] {
        let (outputs, inputs) = transA ? (cols, rows) : (rows, cols)
        let x = rng.floats(inputs)
        var y = rng.floats(outputs)
        let before = y
        a.withUnsafeBufferPointer { ap in
          x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
              sgemv(transA: transA, rows: rows, cols: cols, alpha: 2, a: ap.baseAddress!, lda: lda,
                    x: xp.baseAddress!, beta: 1, y: yp.baseAddress!)
            }
          }
        }
        for o in 0..<outputs {
          var sum = 0.0
          for i in 0..<inputs { sum += Double(transA ? a[i * lda + o] : a[o * lda + i]) * Double(x[i]) }
          XCTAssertEqual(Double(y[o]), 2 * sum + Double(before[o]), accuracy: 1e-4, "\(rows)x\(cols) transA \(transA) output \(o)")
        }
      }
    }
  }

  /// Both blocks of a split product, held until both have started (so on two threads), run
  /// under the caller's subnormal mode.
  func testGEMMBlocksOnTwoThreadsFollowTheCallersFloatMode() {
    for flushed in [false, true] {
      let entered = Atomic<Int>(0)
      var modes: [Bool] = [], ids = Set<UInt>()
      let lock = NSLock()
      let run = {
        gemmBlocks(m: 64, n: 2048, k: 1 << 10) { _, _ in
          entered.add(1, ordering: .sequentiallyConsistent)
          let deadline = Date().addingTimeInterval(2)
          while entered.load(ordering: .sequentiallyConsistent) < 2 && Date() < deadline { usleep(100) }
          lock.withLock {
            modes.append(Kernels.subnormalsFlushed)
            ids.insert(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: UInt(pthread_self())))))
          }
        }
      }
      if flushed { Kernels.withSubnormalsFlushed { run() } } else { run() }
      XCTAssertEqual(modes, [flushed, flushed], "flushed: \(flushed)")
      XCTAssertEqual(ids.count, 2, "two threads ran the blocks")
    }
  }

  /// Every block of a split GEMM runs under the caller's subnormal mode: a subnormal operand
  /// reads as 0 in all of C when the caller flushes, in none of it when it does not.
  func testSplitSGEMMBlocksFollowTheCallersFloatMode() {
    let (m, n, k) = (64, 2048, 4)
    let tiny = Float.leastNormalMagnitude * [0.25][0]
    let a = [Float](repeating: tiny, count: m * k), b = [Float](repeating: 1_048_576, count: k * n)
    for flushed in [false, true] {
      var c = [Float](repeating: 0, count: m * n)
      let run = {
        a.withUnsafeBufferPointer { ap in
          b.withUnsafeBufferPointer { bp in
            c.withUnsafeMutableBufferPointer { cp in
              sgemm(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, beta: 0,
                    c: cp.baseAddress!, ldc: n)
            }
          }
        }
      }
      if flushed { Kernels.withSubnormalsFlushed { run() } } else { run() }
      let zeros = c.filter { $0 == 0 }.count
      XCTAssertEqual(zeros, flushed ? m * n : 0, "flushed: \(flushed)")
    }
  }
}
