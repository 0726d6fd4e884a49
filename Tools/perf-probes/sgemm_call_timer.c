// LD_PRELOAD probe: times every cblas_sgemm call a process makes and prints its shape, strides,
// alignment and GFLOP/s to stderr (how the subnormal slowdown of Docs/PERFORMANCE.md,
// "Subnormals (session 13)", was found).
//   cc -O2 -shared -fPIC sgemm_call_timer.c -o /tmp/sgemm_call_timer.so -ldl
//   LD_PRELOAD=/tmp/sgemm_call_timer.so .build/release/clrp bench MODEL --forward --runs 3 --threads 1 2>&1 | grep SGEMM
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
  static sgemm_fn real;
  if (!real) real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
  double t = now();
  real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  t = now() - t;
  fprintf(stderr, "SGEMM ta=%d tb=%d M=%d N=%d K=%d lda=%d ldb=%d ldc=%d A%%64=%lu B%%64=%lu C%%64=%lu %.3f ms %.1f GF\n",
          ta, tb, m, n, k, lda, ldb, ldc, (unsigned long)((uintptr_t)a % 64), (unsigned long)((uintptr_t)b % 64),
          (unsigned long)((uintptr_t)c % 64), t * 1e3, 2.0 * m * n * k / t / 1e9);
}
