#ifndef CLRP_CFLOATENVIRONMENT_H
#define CLRP_CFLOATENVIRONMENT_H

/// The calling thread's floating-point control word (MXCSR on x86-64, FPCR on AArch64), as
/// `clrp_set_subnormal_flush` and `clrp_get_float_environment` return it and
/// `clrp_restore_float_environment` takes it.
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

/// Sets the calling thread's control word (one `clrp_set_subnormal_flush` or
/// `clrp_get_float_environment` returned, on this thread or another).
void clrp_restore_float_environment(clrp_float_environment saved);

/// The calling thread's control word.
clrp_float_environment clrp_get_float_environment(void);

/// Whether the calling thread flushes subnormals now (for tests).
int clrp_subnormals_flushed(void);

#endif
