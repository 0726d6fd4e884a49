// The instruction-set level every kernel of this target dispatches on (see CKernels.h).
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

static int detected_level(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  int level = CLRP_LEVEL_BASELINE;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = CLRP_LEVEL_AVX2;
  if (level == CLRP_LEVEL_AVX2 && __builtin_cpu_supports("avx512f")) level = CLRP_LEVEL_AVX512;
  return level;
#else
  return CLRP_LEVEL_BASELINE;
#endif
}

int clrp_cpu_level(void) {
  static int cached = -1;  // racing first calls all compute and store the same answer
  int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (known >= 0) return known;
  {
    int level = detected_level();
    // CLRP_KERNEL_LEVEL=baseline|avx2 caps the level (benchmarks of the variants; never raises it).
    const char *cap = getenv("CLRP_KERNEL_LEVEL");
    if (cap && strcmp(cap, "baseline") == 0) level = CLRP_LEVEL_BASELINE;
    if (cap && strcmp(cap, "avx2") == 0 && level > CLRP_LEVEL_AVX2) level = CLRP_LEVEL_AVX2;
    __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    return level;
  }
}
