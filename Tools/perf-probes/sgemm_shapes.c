// OpenBLAS sgemm alone on the pointwise-conv shapes of EfficientNet-B0 and the conv shapes of
// ResNet-50 (C = A·B, row-major, random data in [0, 1), no subnormals): median and best GFLOP/s
// of 30 calls per shape, on THREADS OpenBLAS threads. The reference points of Docs/PERFORMANCE.md
// "Subnormals" (60–140 GFLOP/s) and "Where the figures stand" (scaling on two threads).
//   cc -O2 sgemm_shapes.c -o /tmp/sgemm_shapes -lopenblas -I/usr/include/x86_64-linux-gnu/openblas-pthread
//   OPENBLAS_CORETYPE=SkylakeX /tmp/sgemm_shapes 1; OPENBLAS_CORETYPE=SkylakeX /tmp/sgemm_shapes 2
#include <cblas.h>
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

int main(int argc, char **argv) {
  openblas_set_num_threads(argc > 1 ? atoi(argv[1]) : 1);
  static const int shapes[][3] = {  // M, K, N
    {96, 16, 12544}, {144, 24, 3136}, {24, 144, 3136}, {240, 40, 784}, {672, 112, 196}, {112, 672, 196},
    {1152, 192, 49}, {1280, 320, 49},                                     // EfficientNet-B0 pointwise
    {64, 64, 3136}, {256, 64, 3136}, {64, 576, 3136}, {128, 1152, 784}, {512, 128, 784},
    {256, 2304, 196}, {1024, 256, 196}, {512, 4608, 49}, {2048, 512, 49},  // ResNet-50
  };
  enum { calls = 30 };
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
    for (int i = 0; i < m * k; i++) a[i] = rand() / (float)RAND_MAX;
    for (int i = 0; i < k * n; i++) b[i] = rand() / (float)RAND_MAX;
    double seconds[calls];
    for (int r = 0; r < calls; r++) {
      double t = now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
      seconds[r] = now() - t;
    }
    qsort(seconds, calls, sizeof seconds[0], by_value);
    double flop = 2.0 * m * n * k;
    printf("M=%5d K=%5d N=%6d  median %.3f ms %6.1f GFLOP/s   best %6.1f GFLOP/s\n", m, k, n, seconds[calls / 2] * 1e3,
           flop / seconds[calls / 2] / 1e9, flop / seconds[0] / 1e9);
    free(a); free(b); free(c);
  }
  return 0;
}
