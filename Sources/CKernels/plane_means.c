// Means of consecutive planes (see CKernels.h for the contract), one variant per instruction set
// (instantiate_variants.h).
#include "CKernels.h"

#define KERNELS "plane_mean_kernels.h"
#include "instantiate_variants.h"

void clrp_plane_means_at_level(int level, const float *x, size_t planes, size_t size, float *y) {
  CALL_AT_LEVEL(level, plane_means, x, planes, size, y);
}
void clrp_plane_means(const float *x, size_t planes, size_t size, float *y) {
  clrp_plane_means_at_level(CLRP_LEVEL_AVX512, x, planes, size, y);
}
