// LD_PRELOAD probe: sets MXCSR's FTZ and DAZ bits on the main thread at load, to see what a
// process gains when subnormals are flushed (before clrp did it itself; Docs/PERFORMANCE.md,
// "Subnormals (session 13)").
//   cc -O2 -shared -fPIC flush_subnormals_preload.c -o /tmp/flush_subnormals.so
//   LD_PRELOAD=/tmp/flush_subnormals.so .build/release/clrp bench MODEL --convs --runs 10 --threads 1
#include <pmmintrin.h>
#include <xmmintrin.h>

__attribute__((constructor)) static void flush_subnormals(void) {
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}
