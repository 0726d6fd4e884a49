import CThreadPool
import Dispatch
import Foundation
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
    // 200 chunks of 200 µs: a spinning or woken worker takes some of them.
    XCTAssertEqual(runCounting(200, pause: 200).threads.count, 2)
  }

  /// Thousands of tiny jobs back to back, each with its own counters: a worker that arrives
  /// late at one job must never run a chunk of the next with the old job's task or context.
  func testManyShortJobsBackToBackRunEachChunkOnceForItsOwnJob() {
    for threads in [2, 3] {
      Kernels.threadCount = threads
      let jobs = 20_000
      var counts = [Int](repeating: 0, count: jobs * 9)
      counts.withUnsafeMutableBufferPointer { c in
        for job in 0..<jobs {
          let chunks = 1 + job % 9
          ThreadPool.run(chunks) { i in c[job * 9 + i] += 1 }
        }
      }
      let expected = (0..<(jobs * 9)).map { $0 % 9 < 1 + ($0 / 9) % 9 ? 1 : 0 }
      XCTAssertEqual(counts, expected, "\(threads) threads")
    }
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

  /// A forked child has none of the parent's workers: its jobs run on itself instead of waiting
  /// forever for workers that do not exist there. (The child calls only C and writes into
  /// memory allocated before the fork; it exits 0 when every chunk ran once, and an alarm kills
  /// it if it hangs.)
  func testForkedChildRunsJobsWithoutTheParentsWorkers() {
    XCTAssertEqual(runCounting(64, pause: 10).counts, [Int](repeating: 1, count: 64), "the parent's pool has workers")
    let chunks = 100
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
    defer { counts.deallocate() }
    counts.initialize(repeating: 0, count: chunks)
    let child = fork()
    if child == 0 {
      alarm(10)
      clrp_pool_run(chunks, { context, chunk in context!.assumingMemoryBound(to: Int.self)[chunk] += 1 }, counts)
      var allOnce = true
      for i in 0..<chunks where counts[i] != 1 { allOnce = false }
      _exit(allOnce ? 0 : 1)
    }
    XCTAssertGreaterThan(child, 0, "fork failed")
    var status: Int32 = 0
    XCTAssertEqual(waitpid(child, &status, 0), child)
    XCTAssertEqual(status, 0, "child exit status (0: every chunk ran once; signal 14: it hung)")
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
          let a = rng.floats(m * k)
          let b = rng.floats(k * n)
          let ldc = n + 3
          var c = rng.floats(m * ldc)
          let before = c
          let lda = transA ? m : k, ldb = transB ? k : n
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
              worst = max(worst, abs(Double(c[i * ldc + j]) - (0.5 * sum + Double(before[i * ldc + j]))))
            }
            for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], before[i * ldc + j], "padding left alone") }
          }
          XCTAssertLessThan(worst, 1e-4, "\(m)x\(n)x\(k) transA \(transA) transB \(transB)")
        }
      }
    }
  }

  func testSplitSGEMVMatchesNaiveProduct() {
    var rng = SplitMix64(seed: 11)
    for (rows, cols) in [(1000, 300), (300, 1000), (7, 5)] {
      let a = rng.floats(rows * cols)
      for transA in [false, true] {
        let (outputs, inputs) = transA ? (cols, rows) : (rows, cols)
        let x = rng.floats(inputs)
        var y = rng.floats(outputs)
        let before = y
        a.withUnsafeBufferPointer { ap in
          x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
              sgemv(transA: transA, rows: rows, cols: cols, alpha: 2, a: ap.baseAddress!, lda: cols,
                    x: xp.baseAddress!, beta: 1, y: yp.baseAddress!)
            }
          }
        }
        for o in 0..<outputs {
          var sum = 0.0
          for i in 0..<inputs { sum += Double(transA ? a[i * cols + o] : a[o * cols + i]) * Double(x[i]) }
          XCTAssertEqual(Double(y[o]), 2 * sum + Double(before[o]), accuracy: 1e-4, "\(rows)x\(cols) transA \(transA) output \(o)")
        }
      }
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
