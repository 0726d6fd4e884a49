import COpenBLAS
import CThreadPool

/// The one pool of threads every parallel kernel and every GEMM runs on (`CThreadPool`): the
/// caller plus `Kernels.threadCount − 1` workers that spin between jobs for a while before they
/// sleep, so they are there for the few hundred short parallel steps of a pass, and a caller
/// that never waits for a worker that has not started. OpenBLAS runs single-threaded inside it: `sgemm` splits a large product into one
/// block per thread itself. Two pools (GCD's and OpenBLAS's) each keeping the cores busy, or
/// asleep, was what kept two threads at 1.05–1.45× one thread (Docs/PERFORMANCE.md).
enum ThreadPool {
  /// Starts the pool with `Kernels.threadCount` threads (once; later changes go through
  /// `configure`).
  static let started: Void = configure(threads: Kernels.threadCount)

  /// Sets the pool to `threads` threads and OpenBLAS to one. Threads are created in IEEE
  /// floating-point mode whatever the caller's (they copy their creator's).
  static func configure(threads: Int) {
    Kernels.withSubnormals(flushed: false) { clrp_pool_set_threads(Int32(max(1, threads))) }
    _ = openBLASSingleThreaded
  }

  /// OpenBLAS set to one thread, and the threads it started when it loaded stopped: idle, one
  /// of them would spin in `sched_yield` beside the pool in some processes.
  static let openBLASSingleThreaded: Void = {
    openblas_set_num_threads(1)
    clrp_openblas_stop_threads()
  }()

  /// Whether the calling thread runs a chunk of a job now (a job started here would run serially).
  static var isInsideJob: Bool { clrp_pool_inside_job() != 0 }

  /// `body(i)` for every `i` in `0..<chunks`, on the pool's threads and the caller, each under the
  /// caller's floating-point mode (`FloatEnvironment`, subnormal flushing included); returns
  /// when all have run. Nested calls (from inside a chunk) and calls while another thread's job runs
  /// run serially on the caller.
  static func run(_ chunks: Int, _ body: (Int) -> Void) {
    _ = started
    let caller = Kernels.FloatEnvironment.current
    withoutActuallyEscaping(body) { body in
      var task: (Int) -> Void = { chunk in caller.whileSet { body(chunk) } }
      withUnsafeMutablePointer(to: &task) { task in
        clrp_pool_run(chunks, { context, chunk in
          context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
        }, task)
      }
    }
  }
}
