#ifndef CLRP_CFLOATENVIRONMENT_H
#define CLRP_CFLOATENVIRONMENT_H

/// The calling thread's floating-point control word (MXCSR on x86-64, FPCR on AArch64), saved
/// by `clrp_flush_subnormals` and given back to `clrp_restore_float_environment`.
typedef unsigned long clrp_float_environment;

/// With `flush` nonzero, makes the calling thread treat subnormal float inputs as zero and flush
/// subnormal results to zero (x86-64: MXCSR DAZ and FTZ; AArch64: FPCR.FZ); with `flush` zero,
/// gives subnormals their IEEE meaning again. Returns the previous control word. Arithmetic on
/// subnormals takes a microcode assist of about a hundred cycles per operation on x86-64; a GEMM
/// over an input with many of them ran 10x slower. Values below 2^-126 become 0; nothing else
/// changes. Elsewhere a no-op returning 0.
///
/// A thread created while its creator flushes starts flushing too (Linux copies the floating-point
/// state into new threads).
clrp_float_environment clrp_set_subnormal_flush(int flush);

/// Puts back a control word `clrp_flush_subnormals` returned on this thread.
void clrp_restore_float_environment(clrp_float_environment saved);

/// Whether the calling thread flushes subnormals now (for tests).
int clrp_subnormals_flushed(void);

#endif
