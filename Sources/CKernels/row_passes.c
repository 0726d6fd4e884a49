// Fill and clamp passes over float rows (see CKernels.h for the contract), one variant per
// instruction set (instantiate_variants.h).
#include "CKernels.h"

#define KERNELS "row_pass_kernels.h"
#include "instantiate_variants.h"

void clrp_fill_rows_at_level(int level, float *p, size_t rows, size_t count, size_t stride, const float *values) {
  CALL_AT_LEVEL(level, fill_rows, p, rows, count, stride, values);
}
void clrp_fill_rows(float *p, size_t rows, size_t count, size_t stride, const float *values) {
  clrp_fill_rows_at_level(CLRP_LEVEL_AVX512, p, rows, count, stride, values);
}
void clrp_clamp_at_level(int level, float *p, size_t count, float lower, float upper) {
  CALL_AT_LEVEL(level, clamp, p, count, lower, upper);
}
void clrp_clamp(float *p, size_t count, float lower, float upper) {
  clrp_clamp_at_level(CLRP_LEVEL_AVX512, p, count, lower, upper);
}
