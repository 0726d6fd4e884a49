#include <cblas.h>

// OpenBLAS's pthreads build starts its worker threads when it loads; clrp runs it single-threaded
// on its own pool (Sources/CThreadPool), so it stops them. `blas_thread_shutdown_` is what
// OpenBLAS's own fork handler calls; weak, so that builds without it (serial or OpenMP
// OpenBLAS) link and skip the call.
extern int blas_thread_shutdown_(void) __attribute__((weak));

static inline void clrp_openblas_stop_threads(void) {
  if (blas_thread_shutdown_) blas_thread_shutdown_();
}
