// Sigmoid, SiLU, HardSwish and HardSigmoid over float buffers (see CKernels.h for the contract), one variant per
// instruction set (instantiate_variants.h).
#include "CKernels.h"

#define KERNELS "activation_kernels.h"
#include "instantiate_variants.h"

void clrp_sigmoid_at_level(int level, const float *x, float *y, size_t count) {
  CALL_AT_LEVEL(level, sigmoid, x, y, count);
}
void clrp_silu_at_level(int level, const float *x, float *y, size_t count) {
  CALL_AT_LEVEL(level, silu_map, x, y, count);
}
void clrp_sigmoid(const float *x, float *y, size_t count) { clrp_sigmoid_at_level(CLRP_LEVEL_AVX512, x, y, count); }
void clrp_silu(const float *x, float *y, size_t count) { clrp_silu_at_level(CLRP_LEVEL_AVX512, x, y, count); }
void clrp_hard_swish_at_level(int level, const float *x, float *y, size_t count) {
  CALL_AT_LEVEL(level, hard_swish_map, x, y, count);
}
void clrp_hard_sigmoid_at_level(int level, const float *x, float *y, size_t count, float alpha, float beta) {
  CALL_AT_LEVEL(level, hard_sigmoid_map, x, y, count, alpha, beta);
}
void clrp_hard_swish(const float *x, float *y, size_t count) { clrp_hard_swish_at_level(CLRP_LEVEL_AVX512, x, y, count); }
void clrp_hard_sigmoid(const float *x, float *y, size_t count, float alpha, float beta) {
  clrp_hard_sigmoid_at_level(CLRP_LEVEL_AVX512, x, y, count, alpha, beta);
}
