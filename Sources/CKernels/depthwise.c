// Depthwise convolution of one padded plane (see CKernels.h for the contract), one variant per
// instruction set (instantiate_variants.h).
#include "CKernels.h"

#define KERNELS "depthwise_kernels.h"
#include "instantiate_variants.h"

void clrp_depthwise_plane_at_level(int level, const clrp_depthwise_geometry *geometry, const float *x, float *padded,
                                   const float *weight, float bias, float *y) {
  CALL_AT_LEVEL(level, depthwise_plane, geometry, x, padded, weight, bias, y);
}
void clrp_depthwise_plane(const clrp_depthwise_geometry *geometry, const float *x, float *padded, const float *weight,
                          float bias, float *y) {
  clrp_depthwise_plane_at_level(CLRP_LEVEL_AVX512, geometry, x, padded, weight, bias, y);
}
