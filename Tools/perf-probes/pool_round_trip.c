// The cost of one job of clrp's thread pool (Sources/CThreadPool) against one
// dispatch_apply of GCD (what Kernels.parallelChunks used before session 14), each with one
// empty chunk per thread, back to back and with a gap of G µs between jobs (a pass's serial
// work). Median and best of 2000 jobs, µs. Docs/PERFORMANCE.md, "Two threads: one thread pool".
//   clang -O2 -fblocks -I Sources/CThreadPool/include -I /opt/swift/usr/lib/swift \
//     Tools/perf-probes/pool_round_trip.c Sources/CThreadPool/thread_pool.c -o /tmp/pool_round_trip \
//     -L/opt/swift/usr/lib/swift/linux -Wl,-rpath,/opt/swift/usr/lib/swift/linux \
//     -lpthread -ldispatch -lBlocksRuntime      # GCD from the Swift toolchain (here in /opt/swift)
//   /tmp/pool_round_trip
#include <CThreadPool.h>
#include <dispatch/dispatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void nothing(void *context, long chunk) { (void)context, (void)chunk; }

static void busy_wait(double seconds) {
  const double end = now() + seconds;
  while (now() < end) {}
}

enum { JOBS = 2000 };

static void report(const char *what, double gap, double *times) {
  qsort(times, JOBS, sizeof(double), by_value);
  printf("%-6s gap %4.0f µs: median %6.2f µs, best %6.2f µs\n", what, gap * 1e6, times[JOBS / 2] * 1e6, times[0] * 1e6);
}

int main(void) {
  clrp_pool_set_threads(2);
  dispatch_queue_t queue = dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0);
  static double times[JOBS];
  const double gaps[] = {0, 20e-6, 200e-6};
  for (int g = 0; g < 3; g++) {
    for (int i = 0; i < JOBS; i++) {
      busy_wait(gaps[g]);
      const double start = now();
      clrp_pool_run(2, nothing, NULL);
      times[i] = now() - start;
    }
    report("pool", gaps[g], times);
    for (int i = 0; i < JOBS; i++) {
      busy_wait(gaps[g]);
      const double start = now();
      dispatch_apply(2, queue, ^(size_t chunk) { (void)chunk; });
      times[i] = now() - start;
    }
    report("GCD", gaps[g], times);
  }
  return 0;
}
