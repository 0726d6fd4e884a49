// Transposed depthwise convolution of one plane (see CKernels.h for the contract), one variant
// per instruction set (instantiate_variants.h).
#include "CKernels.h"

#include <stddef.h>

#define KERNELS "depthwise_transposed_kernels.h"
#include "instantiate_variants.h"

void clrp_depthwise_transposed_plane_at_level(int level, const clrp_depthwise_transposed_geometry *geometry,
                                              const float *grad, const float *weight, float *x) {
  CALL_AT_LEVEL(level, depthwise_transposed_plane, geometry, grad, weight, x);
}
void clrp_depthwise_transposed_plane(const clrp_depthwise_transposed_geometry *geometry, const float *grad,
                                     const float *weight, float *x) {
  clrp_depthwise_transposed_plane_at_level(CLRP_LEVEL_AVX512, geometry, grad, weight, x);
}
